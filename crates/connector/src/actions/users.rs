//! Users: SCIM users of the workspace (`/api/2.0/preview/scim/v2/Users`).
//!
//! Inputs use SCIM's own (camelCase) attribute names: `userName`, `displayName`,
//! `externalId`, `Operations`.

use brickwire_api::scim::{ListRequest, PatchRequest};
use brickwire_client::services::scim::{Users, request};

use super::prelude::*;
use crate::error::ActionError;

/// SCIM sort order.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// A SCIM PatchOp operation kind.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PatchOp {
    Add,
    Remove,
    Replace,
}

/// One SCIM PatchOp operation.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct PatchOperation {
    /// `add`, `remove` or `replace`.
    pub op: PatchOp,
    /// The attribute path, e.g. `displayName`, `entitlements`, `members[value eq "123"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value to add or replace with (omitted for `remove`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// How Update User / Update Group changes the resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpdateMode {
    // PATCH with `Operations`: only what the operations name changes
    #[default]
    Patch,
    // PUT with the given attributes: the whole resource is replaced
    Replace,
}

/// The list filters of SCIM lists.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ScimListInput {
    /// SCIM filter, e.g. `userName eq "a@example.com"` or `displayName co "eng"`
    /// (operators `eq`, `ne`, `co`, `sw`, combined with `and` / `or`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Comma-separated attributes to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<String>,
    /// Comma-separated attributes to leave out.
    #[serde(
        default,
        rename = "excludedAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub excluded_attributes: Option<String>,
    /// Attribute to sort by, e.g. `userName`, `displayName`.
    #[serde(default, rename = "sortBy", skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// `ascending` or `descending`.
    #[serde(default, rename = "sortOrder", skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<SortOrder>,
    #[serde(flatten)]
    pub paging: Paging,
}

impl ScimListInput {
    /// The SCIM list request for a page of `count` entries.
    pub(crate) fn request(&self, count: u32) -> Result<ListRequest, RunError> {
        let mut value = body_without(self, &["limit", "page_token", "single_page"]);
        value["count"] = json!(count);
        Ok(to_model(value)?)
    }
}

/// A SCIM user's attributes. Attributes not listed are passed as they are.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UserFields {
    /// The user's email address (cannot change after creation).
    #[serde(default, rename = "userName", skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The name shown in the workspace.
    #[serde(
        default,
        rename = "displayName",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// `{"givenName": ..., "familyName": ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Value>,
    /// Whether the user is active (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Emails: `[{"value": ..., "type": "work", "primary": true}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<Value>>,
    /// Entitlements: `[{"value": "workspace-access"}]`, `databricks-sql-access`,
    /// `allow-cluster-create`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlements: Option<Vec<Value>>,
    /// Groups: `[{"value": "<group id>"}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Value>>,
    /// Roles: `[{"value": "<instance profile ARN>"}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<Value>>,
    /// The id in the identity provider.
    #[serde(
        default,
        rename = "externalId",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Input of Create User.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateUserInput {
    /// The user's email address.
    #[serde(rename = "userName")]
    pub user_name: String,
    #[serde(flatten)]
    pub fields: UserFields,
}

/// Input naming one user.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UserIdInput {
    /// The user's SCIM id (`id` of List Users' items).
    pub id: String,
}

/// Input of Update User.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UpdateUserInput {
    /// The user's SCIM id.
    pub id: String,
    /// `patch` (default): apply `Operations`. `replace`: the other attributes given replace
    /// the whole user (`userName` and `emails` cannot change).
    #[serde(default)]
    pub mode: UpdateMode,
    /// The PatchOp operations (`patch` mode).
    #[serde(
        default,
        rename = "Operations",
        skip_serializing_if = "Option::is_none"
    )]
    pub operations: Option<Vec<PatchOperation>>,
    #[serde(flatten)]
    pub fields: UserFields,
}

/// The schema URN of a SCIM user.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The PATCH or PUT request of an update; shared with groups.
pub(crate) fn update_request(
    resource: &str,
    id: &str,
    mode: UpdateMode,
    operations: &Option<Vec<PatchOperation>>,
    fields: Value,
    schema: &str,
) -> Result<brickwire_client::ApiRequest, RunError> {
    let has_fields = fields.as_object().is_some_and(|m| !m.is_empty());
    match mode {
        UpdateMode::Patch => {
            let Some(ops) = operations.as_ref().filter(|o| !o.is_empty()) else {
                return Err(ActionError::invalid_input(
                    "Operations",
                    "required with `mode: patch`: a non-empty array of {op, path, value}",
                )
                .into());
            };
            if has_fields {
                return Err(ActionError::invalid_input(
                    "mode",
                    "attributes outside `Operations` are only used with `mode: replace`",
                )
                .into());
            }
            let body = PatchRequest::new(to_model(json!(ops))?);
            Ok(request::patch(resource, id, &body))
        }
        UpdateMode::Replace => {
            if operations.is_some() {
                return Err(ActionError::invalid_input(
                    "Operations",
                    "only used with `mode: patch`",
                )
                .into());
            }
            let mut body = fields;
            body["schemas"] = json!([schema]);
            Ok(request::replace(resource, id, &body))
        }
    }
}

/// The Users actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Users;
    vec![
        Action::define(
            g,
            "List Users",
            "Get details for all users, optionally filtered and sorted.",
            true,
            json!({"filter": "userName sw \"a\"", "limit": 50}),
            |client: Client, input: ScimListInput| async move {
                list(&input.paging, "Resources", CursorStyle::ScimIndex, |n| {
                    match input.request(n) {
                        Ok(req) => client.users().list(&req),
                        // the filters are plain strings, so this cannot fail; fall back to
                        // an unfiltered page rather than panic
                        Err(_) => client.users().list(&ListRequest::default()),
                    }
                })
                .await
            },
        ).read_only(),
        Action::define(
            g,
            "Create User",
            "Create a new user.",
            false,
            json!({"userName": "ada@example.com", "displayName": "Ada Lovelace",
                   "entitlements": [{"value": "workspace-access"}]}),
            |client: Client, input: CreateUserInput| async move {
                let mut body = body_without(&input, &[]);
                body["schemas"] = json!([USER_SCHEMA]);
                Ok(client.call(request::create(Users::RESOURCE, &body)).await?)
            },
        ),
        Action::define(
            g,
            "Get User",
            "Get user details by ID.",
            true,
            json!({"id": "1234567890"}),
            |client: Client, input: UserIdInput| async move {
                Ok(client
                    .call(request::get(Users::RESOURCE, &input.id))
                    .await?)
            },
        ).read_only(),
        Action::define(
            g,
            "Update User",
            "Update an existing user: PATCH `Operations` (`mode: patch`) or replace all attributes (`mode: replace`).",
            false,
            json!({"id": "1234567890", "mode": "patch", "Operations": [
                {"op": "add", "path": "entitlements", "value": [{"value": "databricks-sql-access"}]}]}),
            |client: Client, input: UpdateUserInput| async move {
                let req = update_request(
                    Users::RESOURCE,
                    &input.id,
                    input.mode,
                    &input.operations,
                    body_without(&input.fields, &[]),
                    USER_SCHEMA,
                )?;
                Ok(client.call(req).await?)
            },
        ).destructive(),
        Action::define(
            g,
            "Delete User",
            "Delete a user.",
            true,
            json!({"id": "1234567890"}),
            |client: Client, input: UserIdInput| async move {
                Ok(client
                    .call(request::delete(Users::RESOURCE, &input.id))
                    .await?)
            },
        ).destructive(),
    ]
}
