//! brickwire's action catalog as a Model Context Protocol server, built on the official Rust
//! SDK (`rmcp`): every catalog action is one tool, generated from the catalog (id, title,
//! description, input schema, and the annotations `readOnlyHint`, `destructiveHint` and
//! `idempotentHint` from the action's own facts), so a new action is a new tool with no MCP
//! code.
//!
//! [`CatalogServer`] is the `rmcp` handler; it is generic over a [`Backend`], which says which
//! tools a caller may use ([`ToolFilter`]: toolsets by group, read-only) and gives the
//! workspace client. The CLI's `brickwire mcp` serves it over stdio with one fixed workspace;
//! `brickwire serve` mounts it at `/mcp` over Streamable HTTP, with the caller's linked account
//! and scope taken from its MCP token.
//!
//! Results are bounded for a model's context (see [`render`]): a statement's rows come back as
//! a table of the first rows with the row count and how to fetch more, and any other output
//! larger than [`Bounds::max_output_bytes`] is cut at its largest list, saying so. Failures are
//! tool errors (`isError: true`) carrying the action error's JSON (`code`, `message`, ...),
//! which never holds a credential.

pub mod render;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use brickwire_client::Client;
use brickwire_connector::{Action, ActionError, Catalog, Group};
use futures::future::BoxFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Extensions,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

pub use render::Bounds;

/// Which tools a caller may see and call: the actions of some groups (all when `toolsets` is
/// `None`), and with `read_only` only the actions that change nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    /// The groups whose actions are tools; `None` for every group.
    pub toolsets: Option<BTreeSet<Group>>,
    /// Only actions that change nothing (queries, listings, reads).
    pub read_only: bool,
}

impl ToolFilter {
    /// Every tool.
    pub fn all() -> ToolFilter {
        ToolFilter::default()
    }

    /// A filter from toolset names (group names, case-insensitive: `sql`, `clusters`; an
    /// empty list means every group). The error names the unknown toolset and lists the
    /// known ones.
    pub fn new<S: AsRef<str>>(toolsets: &[S], read_only: bool) -> Result<ToolFilter, String> {
        let toolsets = if toolsets.is_empty() {
            None
        } else {
            let mut groups = BTreeSet::new();
            for name in toolsets {
                let name = name.as_ref().trim();
                let group = Group::parse(name).ok_or_else(|| {
                    format!(
                        "unknown toolset `{name}`; toolsets: {}",
                        toolset_names().join(", ")
                    )
                })?;
                groups.insert(group);
            }
            Some(groups)
        };
        Ok(ToolFilter {
            toolsets,
            read_only,
        })
    }

    /// Whether `action` is a tool under this filter.
    pub fn allows(&self, action: &Action) -> bool {
        (!self.read_only || action.is_read_only())
            && self
                .toolsets
                .as_ref()
                .is_none_or(|groups| groups.contains(&action.group()))
    }

    /// The toolset names, lower-case, for storing and showing (`None` for every group).
    pub fn toolset_names(&self) -> Option<Vec<String>> {
        self.toolsets
            .as_ref()
            .map(|g| g.iter().map(|g| g.as_str().to_ascii_lowercase()).collect())
    }
}

/// Every toolset name, lower-case, in catalog order.
pub fn toolset_names() -> Vec<String> {
    Group::ALL
        .iter()
        .map(|g| g.as_str().to_ascii_lowercase())
        .collect()
}

/// The MCP tool of a catalog action: its id as name, its title, its description, its input
/// schema (less `$schema` and `title`), and annotations from its facts.
pub fn tool_for(action: &Action) -> Tool {
    let mut schema = match action.input_schema() {
        Value::Object(map) => map.clone(),
        _ => Default::default(),
    };
    // every tools/list costs context: the dialect (MCP's default is 2020-12 already) and the
    // schema's title (the tool has its own) are dropped, nothing that constrains the input
    schema.remove("$schema");
    schema.remove("title");
    let annotations = ToolAnnotations::new()
        .read_only(action.is_read_only())
        .destructive(action.is_destructive())
        .idempotent(action.retry_safe())
        // every tool acts on one workspace, not on an open world of external entities; the
        // HTTP Request action reaches any API of that workspace, which is the same world
        .open_world(false);
    Tool::new(
        action.id().to_owned(),
        action.description(),
        Arc::new(schema),
    )
    .with_title(action.title())
    .annotate(annotations)
}

/// What a [`CatalogServer`] asks of where it runs: the caller's filter and workspace client.
/// `extensions` are those of the MCP request; over Streamable HTTP they hold the request's
/// `http::request::Parts` (and so whatever an authentication layer put in its extensions).
pub trait Backend: Send + Sync + 'static {
    /// The tools this caller may list and call. An error is a protocol error (the caller is
    /// not allowed at all).
    fn filter(&self, extensions: &Extensions) -> Result<ToolFilter, ErrorData>;

    /// The client of the caller's workspace.
    fn client<'a>(
        &'a self,
        extensions: &'a Extensions,
    ) -> BoxFuture<'a, Result<Client, ActionError>>;

    /// Called after every run with its outcome (to record an account's use, say).
    fn after_run<'a>(
        &'a self,
        _extensions: &'a Extensions,
        _result: &'a Result<Value, ActionError>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// A fixed workspace client and filter (the CLI's stdio server).
#[derive(Debug, Clone)]
pub struct FixedBackend {
    /// The workspace.
    pub client: Client,
    /// The tools.
    pub filter: ToolFilter,
}

impl Backend for FixedBackend {
    fn filter(&self, _extensions: &Extensions) -> Result<ToolFilter, ErrorData> {
        Ok(self.filter.clone())
    }

    fn client<'a>(
        &'a self,
        _extensions: &'a Extensions,
    ) -> BoxFuture<'a, Result<Client, ActionError>> {
        Box::pin(async { Ok(self.client.clone()) })
    }
}

/// The MCP server over the catalog. Cheap to clone (one per HTTP request in stateless mode).
pub struct CatalogServer<B> {
    backend: Arc<B>,
    bounds: Bounds,
    tools: Arc<HashMap<String, Tool>>,
}

impl<B> Clone for CatalogServer<B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            bounds: self.bounds,
            tools: Arc::clone(&self.tools),
        }
    }
}

impl<B> std::fmt::Debug for CatalogServer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogServer")
            .field("bounds", &self.bounds)
            .field("tools", &self.tools.len())
            .finish_non_exhaustive()
    }
}

/// What the server tells a client about itself when it connects.
const INSTRUCTIONS: &str = "Tools act on one Databricks workspace. Each tool is one action of \
the brickwire catalog and takes the JSON input its schema describes. Lists return one page and \
a next_page_token; SQL results show the first rows with the total row count and how to fetch \
more. Failures carry a code (INVALID_INPUT, NOT_FOUND, PERMISSION_DENIED, ...) and a message \
naming the field or Databricks' reason.";

impl<B: Backend> CatalogServer<B> {
    /// A server over the global catalog.
    pub fn new(backend: Arc<B>, bounds: Bounds) -> Self {
        let tools = Catalog::global()
            .actions()
            .iter()
            .map(|a| (a.id().to_owned(), tool_for(a)))
            .collect();
        Self {
            backend,
            bounds,
            tools: Arc::new(tools),
        }
    }

    /// The tools `filter` allows, in catalog order.
    pub fn tools(&self, filter: &ToolFilter) -> Vec<Tool> {
        Catalog::global()
            .actions()
            .iter()
            .filter(|a| filter.allows(a))
            .filter_map(|a| self.tools.get(a.id()).cloned())
            .collect()
    }

    /// Runs one tool call; the outcome is always a tool result except for a name the caller
    /// may not call (a protocol error, as MCP asks for unknown tools).
    pub async fn call(
        &self,
        extensions: &Extensions,
        name: &str,
        arguments: Option<serde_json::Map<String, Value>>,
    ) -> Result<CallToolResult, ErrorData> {
        let filter = self.backend.filter(extensions)?;
        let action = Catalog::global()
            .get(name)
            .filter(|a| filter.allows(a))
            .ok_or_else(|| unknown_tool(name, &filter))?;
        let mut input = Value::Object(arguments.unwrap_or_default());
        // validate before anything else, so a bad input is named even when the workspace is
        // unreachable
        if let Err(e) = action.validate(&input) {
            return Ok(tool_error(&e));
        }
        render::prepare_input(action.id(), &mut input, &self.bounds);
        let client = match self.backend.client(extensions).await {
            Ok(c) => c,
            Err(e) => return Ok(tool_error(&e)),
        };
        let result = action.run(&client, input).await;
        self.backend.after_run(extensions, &result).await;
        Ok(match result {
            Ok(output) => CallToolResult::success(vec![ContentBlock::text(render::output(
                action.id(),
                &output,
                &self.bounds,
            ))]),
            Err(e) => tool_error(&e),
        })
    }
}

fn unknown_tool(name: &str, filter: &ToolFilter) -> ErrorData {
    let why = match Catalog::global().get(name) {
        Some(a) if filter.read_only && !a.is_read_only() => {
            " (this server is read-only and the action changes the workspace)"
        }
        Some(_) => " (its group is not in this server's toolsets)",
        None => "",
    };
    ErrorData::invalid_params(
        format!("unknown tool `{name}`{why}; tools/list lists the tools"),
        None,
    )
}

/// A tool error carrying the action error's JSON shape.
pub fn tool_error(error: &ActionError) -> CallToolResult {
    let text = serde_json::to_string(error).unwrap_or_else(|_| error.to_string());
    CallToolResult::error(vec![ContentBlock::text(text)])
}

impl<B: Backend> ServerHandler for CatalogServer<B> {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("brickwire", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(INSTRUCTIONS.to_owned());
        info
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.get(name).cloned()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let filter = self.backend.filter(&context.extensions)?;
        Ok(ListToolsResult::with_all_items(self.tools(&filter)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(&context.extensions, &request.name, request.arguments)
            .await
            .map(CallToolResponse::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_a_tool_with_its_facts() {
        let catalog = Catalog::global();
        for action in catalog.actions() {
            let tool = tool_for(action);
            assert_eq!(tool.name, action.id());
            assert_eq!(tool.title.as_deref(), Some(action.title()));
            let a = tool.annotations.expect("annotations");
            assert_eq!(a.read_only_hint, Some(action.is_read_only()));
            assert_eq!(a.destructive_hint, Some(action.is_destructive()));
            assert_eq!(a.idempotent_hint, Some(action.retry_safe()));
            let mut schema = action.input_schema().clone();
            let map = schema.as_object_mut().unwrap();
            map.remove("$schema");
            map.remove("title");
            assert_eq!(Value::Object((*tool.input_schema).clone()), schema);
        }
    }

    #[test]
    fn filters_select_groups_and_read_only_actions() {
        let catalog = Catalog::global();
        let sql = ToolFilter::new(&["SQL", "warehouses"], false).unwrap();
        let ids: Vec<_> = catalog
            .actions()
            .iter()
            .filter(|a| sql.allows(a))
            .map(|a| a.group())
            .collect();
        assert!(!ids.is_empty());
        assert!(
            ids.iter()
                .all(|g| matches!(g, Group::Sql | Group::Warehouses))
        );
        let read_only = ToolFilter::new::<&str>(&[], true).unwrap();
        let allowed: Vec<_> = catalog
            .actions()
            .iter()
            .filter(|a| read_only.allows(a))
            .collect();
        assert!(!allowed.is_empty() && allowed.len() < catalog.actions().len());
        assert!(allowed.iter().all(|a| a.is_read_only()));
        assert!(!allowed.iter().any(|a| a.id() == "http-request"));
        let err = ToolFilter::new(&["sql", "nope"], false).unwrap_err();
        assert!(
            err.contains("`nope`") && err.contains("warehouses"),
            "{err}"
        );
        assert_eq!(
            sql.toolset_names(),
            Some(vec!["sql".to_owned(), "warehouses".to_owned()])
        );
    }
}
