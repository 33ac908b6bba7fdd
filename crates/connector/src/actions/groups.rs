//! Groups: SCIM groups of the workspace (`/api/2.0/preview/scim/v2/Groups`).

use brickwire_api::scim::ListRequest;
use brickwire_client::services::scim::{Groups, request};

use super::prelude::*;
use super::users::{PatchOperation, ScimListInput, UpdateMode, update_request};

/// A SCIM group's attributes. Attributes not listed are passed as they are.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct GroupFields {
    /// Members: `[{"value": "<user, service principal or group id>"}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Value>>,
    /// Entitlements: `[{"value": "workspace-access"}]`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlements: Option<Vec<Value>>,
    /// Parent groups: `[{"value": "<group id>"}]`.
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

/// Input of Create Group.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateGroupInput {
    /// The group name, unique in the workspace.
    #[serde(rename = "displayName")]
    pub display_name: String,
    #[serde(flatten)]
    pub fields: GroupFields,
}

/// Input naming one group.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct GroupIdInput {
    /// The group's SCIM id (`id` of List Groups' items).
    pub id: String,
}

/// Input of Update Group.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UpdateGroupInput {
    /// The group's SCIM id.
    pub id: String,
    /// `patch` (default): apply `Operations`, e.g. add members with
    /// `{"op": "add", "path": "members", "value": [{"value": "<id>"}]}` or remove one with
    /// `{"op": "remove", "path": "members[value eq \"<id>\"]"}`. `replace`: the other
    /// attributes given replace the whole group.
    #[serde(default)]
    pub mode: UpdateMode,
    /// The PatchOp operations (`patch` mode).
    #[serde(
        default,
        rename = "Operations",
        skip_serializing_if = "Option::is_none"
    )]
    pub operations: Option<Vec<PatchOperation>>,
    /// The group name (`replace` mode).
    #[serde(
        default,
        rename = "displayName",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub fields: GroupFields,
}

/// The schema URN of a SCIM group.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The Groups actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Groups;
    vec![
        Action::define(
            g,
            "List Groups",
            "Get all group details, optionally filtered and sorted.",
            true,
            json!({"filter": "displayName co \"eng\""}),
            |client: Client, input: ScimListInput| async move {
                list(
                    &input.paging,
                    "Resources",
                    CursorStyle::ScimIndex,
                    |n| match input.request(n) {
                        Ok(req) => client.groups().list(&req),
                        Err(_) => client.groups().list(&ListRequest::default()),
                    },
                )
                .await
            },
        ).read_only(),
        Action::define(
            g,
            "Create Group",
            "Create a new group.",
            false,
            json!({"displayName": "data-engineers", "members": [{"value": "1234567890"}]}),
            |client: Client, input: CreateGroupInput| async move {
                let mut body = body_without(&input, &[]);
                body["schemas"] = json!([GROUP_SCHEMA]);
                Ok(client
                    .call(request::create(Groups::RESOURCE, &body))
                    .await?)
            },
        ),
        Action::define(
            g,
            "Update Group",
            "Update group details: PATCH `Operations` (`mode: patch`) or replace the whole group (`mode: replace`).",
            false,
            json!({"id": "987654321", "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "1234567890"}]}]}),
            |client: Client, input: UpdateGroupInput| async move {
                let fields = body_without(&input, &["id", "mode", "Operations"]);
                let req = update_request(
                    Groups::RESOURCE,
                    &input.id,
                    input.mode,
                    &input.operations,
                    fields,
                    GROUP_SCHEMA,
                )?;
                Ok(client.call(req).await?)
            },
        ).destructive(),
        Action::define(
            g,
            "Delete Group",
            "Delete a group.",
            true,
            json!({"id": "987654321"}),
            |client: Client, input: GroupIdInput| async move {
                Ok(client
                    .call(request::delete(Groups::RESOURCE, &input.id))
                    .await?)
            },
        ).destructive(),
    ]
}
