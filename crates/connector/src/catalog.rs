//! The catalog: [`Action`] (one Databricks operation as data), [`Group`], [`Catalog`] and the
//! entry point [`run_action`].
//!
//! An action is built once by [`Action::define`] from a typed input struct and an async
//! function; the struct's derived JSON Schema is compiled into a validator, and
//! [`Action::run`] validates the raw JSON input against it before the function (and so any
//! request) runs.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use brickwire_client::Client;
use futures::future::BoxFuture;
use jsonschema::error::ValidationErrorKind;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ActionError, ErrorCode};

/// The group an action belongs to (the seed's sections), serialized as its title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Group {
    /// Unity Catalog catalogs.
    Catalogs,
    /// All-purpose and job clusters.
    Clusters,
    /// SCIM groups.
    Groups,
    /// Jobs and job runs.
    Jobs,
    /// Unity Catalog schemas.
    Schemas,
    /// SQL statement execution.
    #[serde(rename = "SQL")]
    Sql,
    /// Unity Catalog tables.
    Tables,
    /// SCIM users.
    Users,
    /// Unity Catalog volumes.
    Volumes,
    /// SQL warehouses.
    Warehouses,
    /// Workspace objects (notebooks, files, directories).
    Workspace,
    /// Any documented REST API of the linked workspace.
    #[serde(rename = "HTTP")]
    Http,
}

impl Group {
    /// Every group, in catalog order.
    pub const ALL: &'static [Group] = &[
        Group::Catalogs,
        Group::Clusters,
        Group::Groups,
        Group::Jobs,
        Group::Schemas,
        Group::Sql,
        Group::Tables,
        Group::Users,
        Group::Volumes,
        Group::Warehouses,
        Group::Workspace,
        Group::Http,
    ];

    /// The display name, e.g. `Clusters`, `SQL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Catalogs => "Catalogs",
            Group::Clusters => "Clusters",
            Group::Groups => "Groups",
            Group::Jobs => "Jobs",
            Group::Schemas => "Schemas",
            Group::Sql => "SQL",
            Group::Tables => "Tables",
            Group::Users => "Users",
            Group::Volumes => "Volumes",
            Group::Warehouses => "Warehouses",
            Group::Workspace => "Workspace",
            Group::Http => "HTTP",
        }
    }

    /// Parses a group name, case-insensitively (`sql`, `Clusters`).
    pub fn parse(name: &str) -> Option<Group> {
        Group::ALL
            .iter()
            .copied()
            .find(|g| g.as_str().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

type Runner =
    Arc<dyn Fn(Client, Value) -> BoxFuture<'static, Result<Value, RunError>> + Send + Sync>;

/// What an action's body returns on failure: its own [`ActionError`] (bad input it found
/// itself, a refused HTTP path), or a client error that [`Action::run`] maps with the action's
/// retry safety. Both convert with `?`.
#[derive(Debug)]
pub enum RunError {
    /// Already in the action error shape.
    Action(ActionError),
    /// A client failure, mapped by [`ActionError::from_client`].
    Client(brickwire_client::Error),
}

impl From<ActionError> for RunError {
    fn from(value: ActionError) -> Self {
        RunError::Action(value)
    }
}

impl From<brickwire_client::Error> for RunError {
    fn from(value: brickwire_client::Error) -> Self {
        RunError::Client(value)
    }
}

/// One action: what it is, what it takes, and how it runs.
#[derive(Clone)]
pub struct Action {
    id: String,
    title: &'static str,
    group: Group,
    description: &'static str,
    retry_safe: bool,
    read_only: bool,
    destructive: bool,
    input_schema: Value,
    example: Value,
    validator: Arc<jsonschema::Validator>,
    runner: Runner,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Action")
            .field("id", &self.id)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// The kebab-case of a title: `Retrieve Statement Result Chunk` → `retrieve-statement-result-chunk`.
pub fn kebab_case(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The JSON Schema of an input type: draft 2020-12, every subschema inlined so that each
/// action's schema stands alone, and unknown fields refused unless the type keeps them.
pub fn input_schema_for<I: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<I>().to_value();
    if let Some(map) = schema.as_object_mut() {
        map.entry("additionalProperties")
            .or_insert(Value::Bool(false));
    }
    schema
}

impl Action {
    /// Defines an action whose input is `I` and which runs `run`. The id is the kebab-case of
    /// `title`; `example` must be a valid input (a test checks it).
    pub fn define<I, F, Fut>(
        group: Group,
        title: &'static str,
        description: &'static str,
        retry_safe: bool,
        example: Value,
        run: F,
    ) -> Action
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(Client, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, RunError>> + Send + 'static,
    {
        let mut input_schema = input_schema_for::<I>();
        // the derived title is a Rust type name; the action's title means more to a reader
        input_schema["title"] = Value::String(format!("{title} input"));
        let validator = jsonschema::validator_for(&input_schema)
            .unwrap_or_else(|e| panic!("the input schema of `{title}` does not compile: {e}"));
        let run = Arc::new(run);
        let runner: Runner = Arc::new(move |client, raw| {
            let run = Arc::clone(&run);
            Box::pin(async move {
                let input: I = decode_input(raw).map_err(RunError::Action)?;
                run(client, input).await
            })
        });
        Action {
            id: kebab_case(title),
            title,
            group,
            description,
            retry_safe,
            read_only: false,
            destructive: false,
            input_schema,
            example,
            validator: Arc::new(validator),
            runner,
        }
    }

    /// Marks the action as changing nothing in the workspace (a query, a listing, a read).
    /// Such an action is also safe to retry.
    pub fn read_only(mut self) -> Action {
        self.read_only = true;
        self.retry_safe = true;
        self
    }

    /// Marks the action as destructive: it deletes something, discards work in progress
    /// (terminate, restart, cancel), or may replace a whole resource or run arbitrary changes
    /// (`execute-statement`, `http-request`, a `replace`-mode update, an overwriting import).
    /// An action that is neither read-only nor destructive only adds or changes the fields it
    /// is given.
    pub fn destructive(mut self) -> Action {
        self.destructive = true;
        self
    }

    /// Whether the action changes nothing (see [`Action::read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the action may destroy something (see [`Action::destructive`]).
    pub fn is_destructive(&self) -> bool {
        self.destructive
    }

    /// The id, the kebab-case of the title (`query-catalogs`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The title, as in the seed list (`Query Catalogs`).
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// The group.
    pub fn group(&self) -> Group {
        self.group
    }

    /// One line saying what the action does.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// Whether running the action twice has the effect of running it once.
    pub fn retry_safe(&self) -> bool {
        self.retry_safe
    }

    /// The JSON Schema (draft 2020-12) of the input.
    pub fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    /// An example input, valid against [`input_schema`](Self::input_schema).
    pub fn example(&self) -> &Value {
        &self.example
    }

    /// Checks an input against the schema without running anything. The error names the
    /// first offending field and what was expected.
    pub fn validate(&self, input: &Value) -> Result<(), ActionError> {
        let Some(error) = self.validator.iter_errors(input).next() else {
            return Ok(());
        };
        let path = error.instance_path().as_str().trim_start_matches('/');
        let at = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{}.{name}", path.replace('/', "."))
            }
        };
        let field = path.replace('/', ".");
        // the validator's own wording elides long enum lists and puts the field name in the
        // message; name the field and list every allowed value instead
        Err(match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                ActionError::invalid_input(&at(name), "required field is missing")
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => ActionError::invalid_input(
                &at(unexpected.first().map(String::as_str).unwrap_or_default()),
                "unknown field (see the action's input schema)",
            ),
            ValidationErrorKind::Enum { options } => {
                let allowed: Vec<String> = options
                    .as_array()
                    .map(|o| {
                        o.iter()
                            .filter(|v| !v.is_null())
                            .map(Value::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                ActionError::invalid_input(
                    &field,
                    format!("{} is not one of {}", error.instance(), allowed.join(", ")),
                )
            }
            _ => ActionError::invalid_input(&field, error),
        })
    }

    /// Validates `input`, then runs the action. Client errors are mapped with this action's
    /// retry safety.
    pub async fn run(&self, client: &Client, input: Value) -> Result<Value, ActionError> {
        let input = if input.is_null() {
            Value::Object(Default::default())
        } else {
            input
        };
        self.validate(&input)?;
        (self.runner)(client.clone(), input)
            .await
            .map_err(|e| match e {
                RunError::Action(e) => e,
                RunError::Client(e) => ActionError::from_client(&e, self.retry_safe),
            })
    }

    /// A JSON description of the action: id, title, group, description, retry safety, whether
    /// it is read-only or destructive, input schema and example input.
    pub fn describe(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "title": self.title,
            "group": self.group,
            "description": self.description,
            "retry_safe": self.retry_safe,
            "read_only": self.read_only,
            "destructive": self.destructive,
            "input_schema": self.input_schema,
            "example_input": self.example,
        })
    }
}

/// Deserializes a validated input, naming the JSON path on the (rare) error the schema let
/// through.
fn decode_input<I: DeserializeOwned>(raw: Value) -> Result<I, ActionError> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        ActionError::invalid_input(&field, e.into_inner())
    })
}

/// Every action, in seed order, grouped.
#[derive(Debug)]
pub struct Catalog {
    actions: Vec<Action>,
}

impl Catalog {
    /// Builds the catalog from each group's file. Panics on a duplicate id (a bug caught by
    /// every test).
    pub fn new() -> Catalog {
        use crate::actions::*;
        let actions: Vec<Action> = [
            catalogs::actions(),
            clusters::actions(),
            groups::actions(),
            jobs::actions(),
            schemas::actions(),
            sql::actions(),
            tables::actions(),
            users::actions(),
            volumes::actions(),
            warehouses::actions(),
            workspace::actions(),
            http::actions(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut seen = HashSet::new();
        for a in &actions {
            assert!(seen.insert(a.id.clone()), "duplicate action id {}", a.id);
        }
        Catalog { actions }
    }

    /// The process-wide catalog, built on first use.
    pub fn global() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(Catalog::new)
    }

    /// Every action.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// The actions of one group.
    pub fn in_group(&self, group: Group) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(move |a| a.group == group)
    }

    /// The action with this id.
    pub fn get(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }

    /// Runs the action `id`; an unknown id is `UNKNOWN_ACTION`.
    pub async fn run(&self, client: &Client, id: &str, input: Value) -> Result<Value, ActionError> {
        match self.get(id) {
            Some(action) => action.run(client, input).await,
            None => Err(ActionError::new(
                ErrorCode::UnknownAction,
                format!("no action `{id}` in the catalog"),
            )),
        }
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::new()
    }
}

/// Runs action `id` of the global catalog with a raw JSON input: validate, send, return
/// Databricks' JSON.
///
/// ```no_run
/// # async fn demo(client: brickwire_client::Client) {
/// let out = brickwire_connector::run_action(
///     &client, "retrieve-catalog", serde_json::json!({"name": "main"})).await;
/// # }
/// ```
pub async fn run_action(client: &Client, id: &str, input: Value) -> Result<Value, ActionError> {
    Catalog::global().run(client, id, input).await
}

/// Helpers the group files share.
pub(crate) mod support {
    use super::*;

    /// Serializes a typed response back to JSON; the wire models keep unknown fields, so
    /// nothing Databricks sent is lost.
    pub fn to_output(value: &impl Serialize) -> Result<Value, ActionError> {
        serde_json::to_value(value).map_err(|e| {
            ActionError::new(
                ErrorCode::UpstreamError,
                format!("cannot encode output: {e}"),
            )
        })
    }

    /// Converts part of an input into a wire model (which keeps fields it does not model).
    pub fn to_model<T: DeserializeOwned>(value: Value) -> Result<T, ActionError> {
        decode_input(value)
    }

    /// The input as a JSON object without the connector's own fields (`wait`,
    /// `timeout_seconds`, ...), i.e. the request body Databricks expects.
    pub fn body_without(input: &impl Serialize, own: &[&str]) -> Value {
        let mut value = serde_json::to_value(input).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            for key in own {
                map.remove(*key);
            }
        }
        value
    }
}
