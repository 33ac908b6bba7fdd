//! SCIM users and groups (`/api/2.0/preview/scim/v2/*`). Keys are camelCase on the wire
//! (`userName`, `displayName`, `Resources`, `Operations`, `startIndex`, ...).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::Extra;

/// The schema URN of a user.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The schema URN of a group.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The schema URN of a PATCH request.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The schema URN of a list response.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A multi-valued attribute entry: emails, groups, members, entitlements, roles.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ComplexValue {
    /// The value (an id, an email, an entitlement name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A display string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Whether this is the primary entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// The entry type, e.g. `work`, `direct`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A reference URI.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl ComplexValue {
    /// An entry with just a value.
    pub fn value(value: impl Into<String>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::default()
        }
    }
}

/// A user's name parts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

/// A workspace user.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The id (a numeric string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The user name (an email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the user is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Name parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Emails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<ComplexValue>,
    /// Groups the user is in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ComplexValue>,
    /// Entitlements, e.g. `workspace-access`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<ComplexValue>,
    /// Roles (instance profiles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ComplexValue>,
    /// An external id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Schema URNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A workspace group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The id (a numeric string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Members (users, service principals, groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<ComplexValue>,
    /// Parent groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ComplexValue>,
    /// Entitlements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<ComplexValue>,
    /// Roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ComplexValue>,
    /// An external id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Metadata (`resourceType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Schema URNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One page of a SCIM list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// Total matches across all pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_results: Option<i64>,
    /// The 1-based index of this page's first entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<i64>,
    /// Entries on this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_page: Option<i64>,
    /// The entries (absent or empty past the end).
    #[serde(
        default = "Vec::new",
        rename = "Resources",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<T>,
    /// Schema URNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

crate::string_enum! {
    /// A PATCH operation.
    pub enum PatchOpKind { Add = "add", Remove = "remove", Replace = "replace" }
}

crate::string_enum! {
    /// Sort order of a SCIM list.
    pub enum SortOrder { Ascending = "ascending", Descending = "descending" }
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    /// `add`, `remove` or `replace`.
    pub op: PatchOpKind,
    /// The attribute path, e.g. `members` or `members[value eq "123"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value to add or replace with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOperation {
    /// `{"op": "add", "path": "members", "value": [{"value": id}, ...]}`.
    pub fn add_members<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        let members: Vec<Value> = ids
            .into_iter()
            .map(|id| serde_json::json!({ "value": id.into() }))
            .collect();
        Self {
            op: PatchOpKind::Add,
            path: Some("members".into()),
            value: Some(Value::Array(members)),
        }
    }

    /// `{"op": "remove", "path": "members[value eq \"id\"]"}`.
    pub fn remove_member(id: &str) -> Self {
        Self {
            op: PatchOpKind::Remove,
            path: Some(format!("members[value eq \"{id}\"]")),
            value: None,
        }
    }

    /// `{"op": "replace", "path": path, "value": value}`.
    pub fn replace(path: impl Into<String>, value: Value) -> Self {
        Self {
            op: PatchOpKind::Replace,
            path: Some(path.into()),
            value: Some(value),
        }
    }
}

/// The body of a SCIM PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchRequest {
    /// Always `[PATCH_OP_SCHEMA]`.
    pub schemas: Vec<String>,
    /// The operations, applied in order.
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchRequest {
    /// A PATCH with the PatchOp schema and these operations.
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        Self {
            schemas: vec![PATCH_OP_SCHEMA.to_owned()],
            operations,
        }
    }
}

/// The query of a SCIM list (sent with camelCase keys).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    /// A filter such as `userName eq "a@b.c"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Comma-separated attributes to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<String>,
    /// Comma-separated attributes to leave out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_attributes: Option<String>,
    /// The 1-based index to start at (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<i64>,
    /// Page size (the client defaults to 10,000 like the SDK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Sort attribute, e.g. `userName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// `ascending` or `descending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<SortOrder>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_uses_camel_case_and_keeps_unknown_fields() {
        let raw = serde_json::json!({
            "id": "123", "userName": "a@b.c", "displayName": "A",
            "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@b.c", "type": "work", "primary": true}],
            "groups": [{"value": "9", "display": "admins", "$ref": "Groups/9", "type": "direct"}],
            "schemas": [USER_SCHEMA],
            "urn:ietf:params:scim:schemas:extension:workspace:2.0:User": {"x": 1}
        });
        let u: User = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(u.user_name.as_deref(), Some("a@b.c"));
        assert_eq!(u.groups[0].reference.as_deref(), Some("Groups/9"));
        assert_eq!(serde_json::to_value(&u).unwrap(), raw);
    }

    #[test]
    fn list_response_reads_resources() {
        let l: ListResponse<Group> = serde_json::from_value(serde_json::json!({
            "totalResults": 1, "startIndex": 1, "itemsPerPage": 1,
            "Resources": [{"id": "1", "displayName": "g"}]
        }))
        .unwrap();
        assert_eq!(l.resources[0].display_name.as_deref(), Some("g"));
        let empty: ListResponse<Group> = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(empty.resources.is_empty());
    }

    #[test]
    fn patch_body_shape() {
        let body = PatchRequest::new(vec![
            PatchOperation::add_members(["1", "2"]),
            PatchOperation::remove_member("3"),
        ]);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "schemas": [PATCH_OP_SCHEMA],
                "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": "1"}, {"value": "2"}]},
                    {"op": "remove", "path": "members[value eq \"3\"]"}
                ]
            })
        );
    }
}
