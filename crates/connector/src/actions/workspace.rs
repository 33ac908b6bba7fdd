//! Workspace: notebooks, files and directories (`/api/2.0/workspace`).

use brickwire_api::workspace::{DeleteRequest, ExportFormat, ImportRequest, ObjectInfo};
use brickwire_client::services::workspace::request;

use super::prelude::*;
use crate::error::ActionError;

/// An import or export format (case-sensitive).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Format {
    Source,
    Html,
    Jupyter,
    RMarkdown,
    Dbc,
    Auto,
    Raw,
}

/// A notebook language.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Language {
    Python,
    Scala,
    Sql,
    R,
}

/// A workspace object type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObjectType {
    Notebook,
    Directory,
    File,
    Library,
    Repo,
    Dashboard,
}

/// Input of Import Workspace.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ImportInput {
    /// Absolute workspace path of the object to create, e.g. `/Users/me@example.com/etl`.
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    /// The content, base64-encoded (at most 10 MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `SOURCE`, `HTML`, `JUPYTER`, `R_MARKDOWN`, `DBC` (directories), `AUTO` or `RAW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Notebook language; required to import a single `SOURCE` notebook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Replace an existing object (default false; not supported for `DBC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
}

/// Input of Export Workspace.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ExportInput {
    /// Absolute workspace path of the object or directory.
    pub path: String,
    /// `SOURCE` (default), `HTML`, `JUPYTER`, `R_MARKDOWN`, `DBC`, `AUTO` or `RAW`.
    /// Directories export only as `DBC`, `SOURCE` or `AUTO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
}

/// Input naming one workspace path.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct PathInput {
    /// Absolute workspace path, e.g. `/Users/me@example.com`.
    pub path: String,
}

/// Input of Delete Workspace.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct DeleteInput {
    /// Absolute workspace path of the object or directory.
    pub path: String,
    /// Delete a non-empty directory and everything in it (default false; not atomic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<bool>,
}

/// Input of List Workspace.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ListInput {
    /// Absolute workspace path of the directory.
    pub path: String,
    /// Only notebooks modified after this time (epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notebooks_modified_after: Option<i64>,
    /// The most objects to return (default 100, at most 10000). The API is not paginated:
    /// no `next_page_token` is returned.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: u32,
}

/// Input of Query Directories.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QueryDirectoriesInput {
    /// Absolute workspace path of a directory (its contents are listed) or of an object
    /// (the object itself is returned).
    pub path: String,
    /// Also list the contents of subdirectories, depth first (default false).
    #[serde(default)]
    pub recursive: bool,
    /// Only objects of these types (all when omitted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_types: Vec<ObjectType>,
    /// The most objects to return (default 100, at most 10000). No `next_page_token` is
    /// returned.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: u32,
}

fn default_limit() -> u32 {
    crate::paging::DEFAULT_LIMIT
}

fn format(f: &Option<Format>) -> Result<Option<ExportFormat>, RunError> {
    Ok(f.as_ref().map(|f| to_model(json!(f))).transpose()?)
}

/// Lists `path` and, when `recursive`, its subdirectories, up to `limit` matching objects.
async fn walk(client: &Client, input: &QueryDirectoriesInput) -> Result<Vec<Value>, RunError> {
    let mut out = Vec::new();
    let mut pending = vec![input.path.clone()];
    let wanted = |o: &Value| {
        input.object_types.is_empty()
            || input
                .object_types
                .iter()
                .any(|t| json!(t) == o["object_type"])
    };
    while let Some(dir) = pending.pop() {
        let objects: Vec<ObjectInfo> = client.workspace().list(&dir, None).collect().await?;
        let mut subdirs = Vec::new();
        for object in objects {
            let value = to_output(&object)?;
            let is_subdir = value["object_type"] == "DIRECTORY" && value["path"] != json!(dir);
            if let Some(p) = value["path"]
                .as_str()
                .filter(|_| input.recursive && is_subdir)
            {
                subdirs.push(p.to_owned());
            }
            if wanted(&value) {
                out.push(value);
                if out.len() >= input.limit as usize {
                    return Ok(out);
                }
            }
        }
        // reversed so that the stack pops subdirectories in listing order
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// The Workspace actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Workspace;
    vec![
        Action::define(
            g,
            "Import Workspace",
            "Import a workspace object (notebook or file) or the contents of an entire directory (base64 `content`).",
            false,
            json!({"path": "/Users/me@example.com/hello", "format": "SOURCE", "language": "PYTHON",
                   "content": "cHJpbnQoImhlbGxvIik=", "overwrite": true}),
            |client: Client, input: ImportInput| async move {
                if input.content.is_none() {
                    return Err(ActionError::invalid_input(
                        "content",
                        "required: the object's content, base64-encoded",
                    )
                    .into());
                }
                let body: ImportRequest = to_model(body_without(&input, &[]))?;
                Ok(client.call(request::import(&body)).await?)
            },
        ).destructive(),
        Action::define(
            g,
            "Export Workspace",
            "Export a workspace object or the contents of an entire directory; returns base64 `content` and `file_type`.",
            true,
            json!({"path": "/Users/me@example.com/hello", "format": "SOURCE"}),
            |client: Client, input: ExportInput| async move {
                let req = request::export(&input.path, format(&input.format)?.as_ref(), false);
                Ok(client.call(req).await?)
            },
        ).read_only(),
        Action::define(
            g,
            "List Workspace",
            "List the contents of a directory.",
            true,
            json!({"path": "/Users/me@example.com"}),
            |client: Client, input: ListInput| async move {
                let paging = Paging {
                    limit: input.limit,
                    ..Paging::default()
                };
                list(&paging, "objects", CursorStyle::None, |_| {
                    client
                        .workspace()
                        .list(&input.path, input.notebooks_modified_after)
                })
                .await
            },
        ).read_only(),
        Action::define(
            g,
            "Retrieve Object Status",
            "Gets the status of an object or directory.",
            true,
            json!({"path": "/Users/me@example.com/hello"}),
            |client: Client, input: PathInput| async move {
                Ok(client.call(request::get_status(&input.path)).await?)
            },
        ).read_only(),
        Action::define(
            g,
            "Delete Workspace",
            "Deletes an object or a directory (`recursive: true` for a non-empty directory).",
            true,
            json!({"path": "/Users/me@example.com/old", "recursive": true}),
            |client: Client, input: DeleteInput| async move {
                let body = DeleteRequest {
                    path: input.path.clone(),
                    recursive: input.recursive,
                };
                Ok(client.call(request::delete(&body)).await?)
            },
        ).destructive(),
        Action::define(
            g,
            "Query Directories",
            "Lists the contents of a directory (optionally recursively, filtered by type), or the object if it is not a directory.",
            true,
            json!({"path": "/Users/me@example.com", "recursive": true, "object_types": ["NOTEBOOK"]}),
            |client: Client, input: QueryDirectoriesInput| async move {
                let objects = walk(&client, &input).await?;
                Ok(json!({ "objects": objects }))
            },
        ).read_only(),
        Action::define(
            g,
            "Create Directory",
            "Creates the specified directory and any necessary parent directories (succeeds if it exists).",
            true,
            json!({"path": "/Users/me@example.com/projects/etl"}),
            |client: Client, input: PathInput| async move {
                Ok(client.call(request::mkdirs(&input.path)).await?)
            },
        ),
    ]
}
