//! SCIM users and groups with no HTTP: storage, rendering to SCIM JSON, list queries (filter,
//! sort, paging, attribute projection), PATCH operations, PUT and delete.
//!
//! Group membership is stored once, on the group (`members`); a user's `groups` and a group's
//! `groups` are derived when rendering, and a PATCH or PUT that changes them is turned back
//! into membership changes. Start at [`State::create_user`] and [`State::patch`].

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::filter::{Filter, get_ci, resolve};
use crate::error::{ApiError, ScimType};

/// SCIM schema URN of a user.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// SCIM schema URN of a group.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// SCIM schema URN of a list response.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// SCIM schema URN of a PATCH request.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Id of the emulator's admin user, the owner of the emulator's personal access tokens.
pub const ADMIN_USER_ID: &str = "1000000000000001";
/// `userName` of the emulator's admin user.
pub const ADMIN_USER_NAME: &str = crate::state::EMULATOR_USER;

/// Settings of SCIM, changeable through the admin API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Page size used when a list request gives no `count`.
    pub default_count: Option<usize>,
}

/// A multi-valued attribute entry (`emails`, `members`, `entitlements`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplexValue {
    /// The value: an id, an email, an entitlement name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Whether this is the primary entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Kind of entry, e.g. `work` for emails.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Relative URI of the referenced resource.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A user's name parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

/// A stored user (group membership lives on the groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Numeric string id.
    pub id: String,
    /// Login name, usually an email; unique, case-insensitively.
    pub user_name: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the user may sign in.
    pub active: bool,
    /// Name parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Email addresses.
    #[serde(default)]
    pub emails: Vec<ComplexValue>,
    /// Entitlements such as `workspace-access`.
    #[serde(default)]
    pub entitlements: Vec<ComplexValue>,
    /// Roles (instance profiles).
    #[serde(default)]
    pub roles: Vec<ComplexValue>,
    /// Id in the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// A stored group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Numeric string id.
    pub id: String,
    /// Name; unique, case-insensitively.
    pub display_name: String,
    /// Members: ids of users or groups.
    #[serde(default)]
    pub members: Vec<ComplexValue>,
    /// Entitlements.
    #[serde(default)]
    pub entitlements: Vec<ComplexValue>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<ComplexValue>,
    /// Id in the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The fields a client may send for a user (create, PUT, or the result of a PATCH).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserInput {
    user_name: Option<String>,
    display_name: Option<String>,
    active: Option<bool>,
    name: Option<Name>,
    emails: Option<Vec<ComplexValue>>,
    entitlements: Option<Vec<ComplexValue>>,
    roles: Option<Vec<ComplexValue>>,
    groups: Option<Vec<ComplexValue>>,
    external_id: Option<String>,
}

/// The fields a client may send for a group.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupInput {
    display_name: Option<String>,
    members: Option<Vec<ComplexValue>>,
    entitlements: Option<Vec<ComplexValue>>,
    roles: Option<Vec<ComplexValue>>,
    groups: Option<Vec<ComplexValue>>,
    external_id: Option<String>,
}

/// Which kind of resource a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/Users`.
    User,
    /// `/Groups`.
    Group,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    /// The attributes a client may write, in their canonical spelling.
    fn attributes(self) -> &'static [&'static str] {
        match self {
            Kind::User => &[
                "userName",
                "displayName",
                "active",
                "name",
                "emails",
                "entitlements",
                "roles",
                "groups",
                "externalId",
            ],
            Kind::Group => &[
                "displayName",
                "members",
                "entitlements",
                "roles",
                "groups",
                "externalId",
            ],
        }
    }
}

/// Parameters of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// SCIM filter expression.
    pub filter: Option<String>,
    /// 1-based index of the first result.
    pub start_index: Option<usize>,
    /// Page size.
    pub count: Option<usize>,
    /// Attribute path to sort by.
    pub sort_by: Option<String>,
    /// `ascending` (default) or `descending`.
    pub sort_order: Option<String>,
    /// Comma-separated attributes to return.
    pub attributes: Option<String>,
    /// Comma-separated attributes to leave out.
    pub excluded_attributes: Option<String>,
}

/// All SCIM users and groups of the workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, Group>,
    next_id: u64,
}

impl Default for State {
    /// A workspace with its admin user, member of the `admins` group.
    fn default() -> Self {
        let mut state = Self {
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            next_id: ADMIN_USER_ID.parse::<u64>().expect("numeric id"),
        };
        let admin = state
            .create_user(&json!({
                "userName": ADMIN_USER_NAME,
                "displayName": "Emulator Admin",
                "emails": [{"value": ADMIN_USER_NAME, "type": "work", "primary": true}],
                "entitlements": [
                    {"value": "workspace-access"},
                    {"value": "databricks-sql-access"},
                    {"value": "allow-cluster-create"}
                ],
            }))
            .expect("admin user");
        debug_assert_eq!(admin["id"], ADMIN_USER_ID);
        state
            .create_group(&json!({"displayName": "admins", "members": [{"value": ADMIN_USER_ID}]}))
            .expect("admins group");
        state
    }
}

fn bad_request(detail: impl Into<String>) -> ApiError {
    ApiError::scim(
        StatusCode::BAD_REQUEST,
        Some(ScimType::InvalidValue),
        detail,
    )
}

fn not_found(kind: Kind, id: &str) -> ApiError {
    ApiError::scim(
        StatusCode::NOT_FOUND,
        None,
        format!("{} {id} not found.", kind.noun()),
    )
}

fn conflict(detail: impl Into<String>) -> ApiError {
    ApiError::scim(StatusCode::CONFLICT, Some(ScimType::Uniqueness), detail)
}

fn values_of(items: &[ComplexValue]) -> impl Iterator<Item = &str> {
    items.iter().filter_map(|m| m.value.as_deref())
}

/// Removes entries without a value and duplicates, keeping the first occurrence.
fn dedup(items: Vec<ComplexValue>) -> Vec<ComplexValue> {
    let mut out: Vec<ComplexValue> = Vec::new();
    for item in items {
        if item.value.is_none() {
            continue;
        }
        if !out.iter().any(|o| o.value == item.value) {
            out.push(item);
        }
    }
    out
}

impl State {
    fn new_id(&mut self) -> String {
        let id = self.next_id;
        self.next_id += 1;
        id.to_string()
    }

    /// The stored user with this id.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    fn group_ids_of(&self, member_id: &str) -> Vec<String> {
        self.groups
            .values()
            .filter(|g| values_of(&g.members).any(|v| v == member_id))
            .map(|g| g.id.clone())
            .collect()
    }

    fn groups_attribute(&self, member_id: &str) -> Vec<Value> {
        self.group_ids_of(member_id)
            .iter()
            .map(|gid| {
                json!({
                    "value": gid,
                    "display": self.groups[gid].display_name,
                    "$ref": format!("Groups/{gid}"),
                    "type": "direct",
                })
            })
            .collect()
    }

    /// A user as SCIM JSON, with its derived `groups`, `schemas` and `meta`.
    pub fn render_user(&self, user: &User) -> Value {
        let mut v = serde_json::to_value(user).expect("user serializes");
        let obj = v.as_object_mut().expect("object");
        obj.insert(
            "groups".into(),
            Value::Array(self.groups_attribute(&user.id)),
        );
        obj.insert("schemas".into(), json!([USER_SCHEMA]));
        obj.insert("meta".into(), json!({"resourceType": "User"}));
        v
    }

    /// A group as SCIM JSON, with member names, its derived `groups`, `schemas` and `meta`.
    pub fn render_group(&self, group: &Group) -> Value {
        let mut v = serde_json::to_value(group).expect("group serializes");
        let members: Vec<Value> = group
            .members
            .iter()
            .filter_map(|m| m.value.as_deref())
            .map(|id| {
                if let Some(u) = self.users.get(id) {
                    json!({"value": id, "display": u.display_name.as_deref().unwrap_or(&u.user_name), "$ref": format!("Users/{id}")})
                } else if let Some(g) = self.groups.get(id) {
                    json!({"value": id, "display": g.display_name, "$ref": format!("Groups/{id}")})
                } else {
                    json!({"value": id})
                }
            })
            .collect();
        let obj = v.as_object_mut().expect("object");
        obj.insert("members".into(), Value::Array(members));
        obj.insert(
            "groups".into(),
            Value::Array(self.groups_attribute(&group.id)),
        );
        obj.insert("schemas".into(), json!([GROUP_SCHEMA]));
        obj.insert("meta".into(), json!({"resourceType": "Group"}));
        v
    }

    /// Renders a resource by id.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Value, ApiError> {
        match kind {
            Kind::User => self
                .users
                .get(id)
                .map(|u| self.render_user(u))
                .ok_or_else(|| not_found(kind, id)),
            Kind::Group => self
                .groups
                .get(id)
                .map(|g| self.render_group(g))
                .ok_or_else(|| not_found(kind, id)),
        }
    }

    fn check_user_name_free(&self, user_name: &str, except: Option<&str>) -> Result<(), ApiError> {
        let taken = self
            .users
            .values()
            .any(|u| u.user_name.eq_ignore_ascii_case(user_name) && Some(u.id.as_str()) != except);
        if taken {
            return Err(conflict(format!(
                "User with username {user_name} already exists."
            )));
        }
        Ok(())
    }

    fn check_group_name_free(&self, name: &str, except: Option<&str>) -> Result<(), ApiError> {
        let taken = self
            .groups
            .values()
            .any(|g| g.display_name.eq_ignore_ascii_case(name) && Some(g.id.as_str()) != except);
        if taken {
            return Err(conflict(format!("Group with name {name} already exists.")));
        }
        Ok(())
    }

    fn check_members_exist(
        &self,
        group_id: &str,
        members: &[ComplexValue],
    ) -> Result<(), ApiError> {
        for id in values_of(members) {
            if id == group_id {
                return Err(bad_request("A group cannot be a member of itself."));
            }
            if !self.users.contains_key(id) && !self.groups.contains_key(id) {
                return Err(ApiError::scim(
                    StatusCode::NOT_FOUND,
                    None,
                    format!("Member {id} not found."),
                ));
            }
        }
        Ok(())
    }

    fn check_groups_exist(&self, groups: &[ComplexValue]) -> Result<(), ApiError> {
        for id in values_of(groups) {
            if !self.groups.contains_key(id) {
                return Err(not_found(Kind::Group, id));
            }
        }
        Ok(())
    }

    /// Makes `member_id` a member of exactly the groups listed in `wanted`.
    fn set_group_memberships(&mut self, member_id: &str, wanted: &[ComplexValue]) {
        let wanted: Vec<&str> = values_of(wanted).collect();
        for group in self.groups.values_mut() {
            let is_member = values_of(&group.members).any(|v| v == member_id);
            let should = wanted.contains(&group.id.as_str());
            if should && !is_member {
                group.members.push(ComplexValue {
                    value: Some(member_id.to_owned()),
                    ..Default::default()
                });
            } else if !should && is_member {
                group
                    .members
                    .retain(|m| m.value.as_deref() != Some(member_id));
            }
        }
    }

    fn parse_input<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
        serde_json::from_value(body.clone()).map_err(|e| {
            ApiError::scim(
                StatusCode::BAD_REQUEST,
                Some(ScimType::InvalidSyntax),
                e.to_string(),
            )
        })
    }

    /// Creates a user from a SCIM body; returns it rendered.
    pub fn create_user(&mut self, body: &Value) -> Result<Value, ApiError> {
        let input: UserInput = Self::parse_input(body)?;
        let user_name = input
            .user_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| bad_request("Request is missing required field: userName"))?;
        self.check_user_name_free(&user_name, None)?;
        let groups = input.groups.unwrap_or_default();
        self.check_groups_exist(&groups)?;
        let id = self.new_id();
        let emails = match input.emails {
            Some(e) if !e.is_empty() => e,
            // Databricks records the userName as the primary email when none is given.
            _ if user_name.contains('@') => vec![ComplexValue {
                value: Some(user_name.clone()),
                kind: Some("work".into()),
                primary: Some(true),
                ..Default::default()
            }],
            _ => Vec::new(),
        };
        let user = User {
            id: id.clone(),
            display_name: input.display_name.or_else(|| Some(user_name.clone())),
            user_name,
            active: input.active.unwrap_or(true),
            name: input.name,
            emails,
            entitlements: dedup(input.entitlements.unwrap_or_default()),
            roles: dedup(input.roles.unwrap_or_default()),
            external_id: input.external_id,
        };
        self.users.insert(id.clone(), user);
        self.set_group_memberships(&id, &groups);
        self.get(Kind::User, &id)
    }

    /// Creates a group from a SCIM body; returns it rendered.
    pub fn create_group(&mut self, body: &Value) -> Result<Value, ApiError> {
        let input: GroupInput = Self::parse_input(body)?;
        let name = input
            .display_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| bad_request("Request is missing required field: displayName"))?;
        self.check_group_name_free(&name, None)?;
        let members = dedup(input.members.unwrap_or_default());
        self.check_members_exist("", &members)?;
        let parents = input.groups.unwrap_or_default();
        self.check_groups_exist(&parents)?;
        let id = self.new_id();
        let group = Group {
            id: id.clone(),
            display_name: name,
            members,
            entitlements: dedup(input.entitlements.unwrap_or_default()),
            roles: dedup(input.roles.unwrap_or_default()),
            external_id: input.external_id,
        };
        self.groups.insert(id.clone(), group);
        self.set_group_memberships(&id, &parents);
        self.get(Kind::Group, &id)
    }

    /// Lists resources as a SCIM `ListResponse`.
    pub fn list(&self, kind: Kind, query: &ListQuery) -> Result<Value, ApiError> {
        let filter = match query.filter.as_deref().map(str::trim) {
            Some(f) if !f.is_empty() => Some(Filter::parse(f).map_err(|e| {
                ApiError::scim(
                    StatusCode::BAD_REQUEST,
                    Some(ScimType::InvalidFilter),
                    format!("Invalid filter: {e}"),
                )
            })?),
            _ => None,
        };
        let all: Vec<Value> = match kind {
            Kind::User => self.users.values().map(|u| self.render_user(u)).collect(),
            Kind::Group => self.groups.values().map(|g| self.render_group(g)).collect(),
        };
        let mut matched: Vec<Value> = all
            .into_iter()
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect();
        if let Some(sort_by) = query.sort_by.as_deref().filter(|s| !s.is_empty()) {
            let key = |r: &Value| -> Option<String> {
                resolve(r, sort_by).first().map(|v| match v {
                    Value::String(s) => s.to_lowercase(),
                    other => other.to_string(),
                })
            };
            // Resources without the attribute sort last in either order.
            matched.sort_by(|a, b| match (key(a), key(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
            let descending = query
                .sort_order
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case("descending"));
            if descending {
                let (mut with, without): (Vec<_>, Vec<_>) =
                    matched.into_iter().partition(|r| key(r).is_some());
                with.reverse();
                matched = with.into_iter().chain(without).collect();
            }
        }
        let total = matched.len();
        let start_index = query.start_index.unwrap_or(1).max(1);
        let count = query.count.unwrap_or(usize::MAX);
        let page: Vec<Value> = matched
            .into_iter()
            .skip(start_index - 1)
            .take(count)
            .map(|r| {
                project(
                    r,
                    query.attributes.as_deref(),
                    query.excluded_attributes.as_deref(),
                )
            })
            .collect();
        Ok(json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        }))
    }

    /// Applies a SCIM `PatchOp` body to a resource.
    pub fn patch(&mut self, kind: Kind, id: &str, body: &Value) -> Result<Value, ApiError> {
        let mut resource = self.get(kind, id)?;
        let operations = get_ci(body, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ApiError::scim(
                    StatusCode::BAD_REQUEST,
                    Some(ScimType::InvalidSyntax),
                    "Request is missing Operations.",
                )
            })?;
        for operation in operations {
            apply_operation(kind, &mut resource, operation)?;
        }
        match kind {
            Kind::User => self.write_user(id, &resource, true),
            Kind::Group => self.write_group(id, &resource),
        }?;
        self.get(kind, id)
    }

    /// Replaces a resource (PUT). A user's `userName` and `emails` never change this way.
    pub fn replace(&mut self, kind: Kind, id: &str, body: &Value) -> Result<Value, ApiError> {
        self.get(kind, id)?;
        match kind {
            Kind::User => self.write_user(id, body, false),
            Kind::Group => self.write_group(id, body),
        }?;
        self.get(kind, id)
    }

    /// Stores `value` as the new state of user `id`. A PATCH keeps the emails it changed; a
    /// PUT keeps the old ones. Both keep `userName`.
    fn write_user(&mut self, id: &str, value: &Value, keep_emails: bool) -> Result<(), ApiError> {
        let input: UserInput = Self::parse_input(value)?;
        let old = self.users[id].clone();
        let groups = input.groups.unwrap_or_default();
        self.check_groups_exist(&groups)?;
        let user = User {
            id: id.to_owned(),
            user_name: old.user_name.clone(),
            display_name: input.display_name,
            active: input.active.unwrap_or(true),
            name: input.name,
            emails: if keep_emails {
                input.emails.unwrap_or_default()
            } else {
                old.emails.clone()
            },
            entitlements: dedup(input.entitlements.unwrap_or_default()),
            roles: dedup(input.roles.unwrap_or_default()),
            external_id: input.external_id,
        };
        self.users.insert(id.to_owned(), user);
        self.set_group_memberships(id, &groups);
        Ok(())
    }

    fn write_group(&mut self, id: &str, value: &Value) -> Result<(), ApiError> {
        let input: GroupInput = Self::parse_input(value)?;
        let name = input
            .display_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| bad_request("Request is missing required field: displayName"))?;
        self.check_group_name_free(&name, Some(id))?;
        let members = dedup(input.members.unwrap_or_default());
        self.check_members_exist(id, &members)?;
        let parents = input.groups.unwrap_or_default();
        self.check_groups_exist(&parents)?;
        if values_of(&parents).any(|p| p == id) {
            return Err(bad_request("A group cannot be a member of itself."));
        }
        let group = Group {
            id: id.to_owned(),
            display_name: name,
            members,
            entitlements: dedup(input.entitlements.unwrap_or_default()),
            roles: dedup(input.roles.unwrap_or_default()),
            external_id: input.external_id,
        };
        self.groups.insert(id.to_owned(), group);
        self.set_group_memberships(id, &parents);
        Ok(())
    }

    /// Deletes a resource and every membership that names it.
    pub fn delete(&mut self, kind: Kind, id: &str) -> Result<(), ApiError> {
        let removed = match kind {
            Kind::User => self.users.remove(id).is_some(),
            Kind::Group => self.groups.remove(id).is_some(),
        };
        if !removed {
            return Err(not_found(kind, id));
        }
        for group in self.groups.values_mut() {
            group.members.retain(|m| m.value.as_deref() != Some(id));
        }
        Ok(())
    }
}

/// Keeps or drops top-level attributes as `attributes` / `excludedAttributes` ask; `id` and
/// `schemas` always stay.
fn project(resource: Value, attributes: Option<&str>, excluded: Option<&str>) -> Value {
    let names = |list: Option<&str>| -> Vec<String> {
        list.unwrap_or_default()
            .split(',')
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .map(|a| a.split('.').next().unwrap_or(a).to_ascii_lowercase())
            .collect()
    };
    let keep = names(attributes);
    let drop = names(excluded);
    let Value::Object(map) = resource else {
        return resource;
    };
    let always = |k: &str| k == "id" || k == "schemas";
    Value::Object(
        map.into_iter()
            .filter(|(k, _)| {
                let lk = k.to_ascii_lowercase();
                always(k) || ((keep.is_empty() || keep.contains(&lk)) && !drop.contains(&lk))
            })
            .collect(),
    )
}

/// A PATCH path: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub` (RFC 7644 3.5.2).
struct PatchPath {
    attribute: String,
    /// The sub-attribute: of the attribute itself, or of each entry the filter matches.
    sub: Option<String>,
    filter: Option<Filter>,
}

fn parse_path(kind: Kind, path: &str) -> Result<PatchPath, ApiError> {
    let invalid_path = |detail: String| {
        ApiError::scim(StatusCode::BAD_REQUEST, Some(ScimType::InvalidPath), detail)
    };
    let (head, filter, filtered_sub) = match path.find('[') {
        Some(open) => {
            let close = path
                .rfind(']')
                .filter(|c| *c > open)
                .ok_or_else(|| invalid_path(format!("Invalid path '{path}'.")))?;
            // `attr[filter]` or `attr[filter].sub`.
            let rest = &path[close + 1..];
            let filtered_sub = match rest.strip_prefix('.') {
                Some(sub) if !sub.is_empty() && !sub.contains(['.', '[', ']']) => {
                    Some(sub.to_owned())
                }
                _ if rest.is_empty() => None,
                _ => return Err(invalid_path(format!("Invalid path '{path}'."))),
            };
            let filter = Filter::parse(&path[open + 1..close]).map_err(|e| {
                ApiError::scim(
                    StatusCode::BAD_REQUEST,
                    Some(ScimType::InvalidFilter),
                    e.to_string(),
                )
            })?;
            (&path[..open], Some(filter), filtered_sub)
        }
        None => (path, None, None),
    };
    // Clients may prefix the schema URN: `urn:...:User:displayName`.
    let head = head.rsplit(':').next().unwrap_or(head);
    let (attr, sub) = match head.split_once('.') {
        Some(_) if filter.is_some() => return Err(invalid_path(format!("Invalid path '{path}'."))),
        Some((a, s)) => (a, Some(s.to_owned())),
        None => (head, filtered_sub),
    };
    let attribute = kind
        .attributes()
        .iter()
        .find(|a| a.eq_ignore_ascii_case(attr))
        .ok_or_else(|| invalid_path(format!("Attribute '{attr}' cannot be modified.")))?;
    Ok(PatchPath {
        attribute: (*attribute).to_owned(),
        sub,
        filter,
    })
}

fn apply_operation(kind: Kind, resource: &mut Value, operation: &Value) -> Result<(), ApiError> {
    let op = get_ci(operation, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| bad_request("Operation is missing 'op'."))?;
    if !matches!(op.as_str(), "add" | "remove" | "replace") {
        return Err(bad_request(format!("Unsupported operation '{op}'.")));
    }
    let value = get_ci(operation, "value").cloned();
    match get_ci(operation, "path").and_then(Value::as_str) {
        Some(path) => {
            let path = parse_path(kind, path)?;
            apply_at(kind, resource, &op, &path, value)
        }
        None => {
            if op == "remove" {
                return Err(ApiError::scim(
                    StatusCode::BAD_REQUEST,
                    Some(ScimType::NoTarget),
                    "A remove operation needs a path.",
                ));
            }
            let Some(Value::Object(fields)) = value else {
                return Err(bad_request(
                    "An operation without a path needs an object value.",
                ));
            };
            for (key, v) in fields {
                // Attributes that cannot be written (id, meta, schemas) are ignored.
                let Ok(path) = parse_path(kind, &key) else {
                    continue;
                };
                apply_at(kind, resource, &op, &path, Some(v))?;
            }
            Ok(())
        }
    }
}

fn apply_at(
    kind: Kind,
    resource: &mut Value,
    op: &str,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), ApiError> {
    // userName never changes after creation.
    if kind == Kind::User && path.attribute == "userName" {
        return Ok(());
    }
    let obj = resource.as_object_mut().expect("resources are objects");
    if let Some(sub) = &path.sub {
        // A sub-attribute's new value; a remove has none.
        let value = match op {
            "remove" => None,
            _ => Some(value.ok_or_else(|| bad_request("Operation is missing 'value'."))?),
        };
        match &path.filter {
            // `attr[filter].sub`: the sub-attribute of the matching entries only.
            Some(filter) => {
                let mut matched = false;
                if let Some(Value::Array(items)) = obj.get_mut(&path.attribute) {
                    for item in items.iter_mut().filter(|item| filter.matches(item)) {
                        matched = true;
                        if let Value::Object(entry) = item {
                            set_sub_attribute(entry, sub, value.as_ref());
                        }
                    }
                }
                if !matched && op == "replace" {
                    return Err(ApiError::scim(
                        StatusCode::BAD_REQUEST,
                        Some(ScimType::NoTarget),
                        format!("No {} entry matches the path's filter.", path.attribute),
                    ));
                }
            }
            // `attr.sub`: the attribute is an object.
            None => {
                let parent = obj
                    .entry(path.attribute.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !parent.is_object() {
                    *parent = Value::Object(Map::new());
                }
                let parent = parent.as_object_mut().expect("object");
                set_sub_attribute(parent, sub, value.as_ref());
            }
        }
        return Ok(());
    }
    let value = value.map(|v| normalize_single_valued(&path.attribute, v));
    let current = obj.get(&path.attribute).cloned().unwrap_or(Value::Null);
    let multi = current.is_array() || value.as_ref().is_some_and(Value::is_array);
    let as_items = |v: Value| -> Vec<Value> {
        match v {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        }
    };
    let new_value = match (op, &path.filter) {
        ("remove", Some(filter)) => {
            let kept: Vec<Value> = as_items(current)
                .into_iter()
                .filter(|item| !filter.matches(item))
                .collect();
            Value::Array(kept)
        }
        ("remove", None) if multi && value.is_some() => {
            // Azure AD style: remove the listed entries.
            let doomed: Vec<Value> = as_items(value.unwrap_or(Value::Null))
                .into_iter()
                .filter_map(|v| get_ci(&v, "value").cloned())
                .collect();
            let kept: Vec<Value> = as_items(current)
                .into_iter()
                .filter(|item| get_ci(item, "value").is_none_or(|v| !doomed.contains(v)))
                .collect();
            Value::Array(kept)
        }
        ("remove", None) => {
            if current.is_array() {
                Value::Array(Vec::new())
            } else {
                Value::Null
            }
        }
        (_, Some(filter)) => {
            // add/replace on `attr[filter]`: the matching entries are replaced by the value.
            let value = value.ok_or_else(|| bad_request("Operation is missing 'value'."))?;
            let mut items: Vec<Value> = as_items(current)
                .into_iter()
                .filter(|item| !filter.matches(item))
                .collect();
            items.extend(as_items(value));
            Value::Array(items)
        }
        ("add", None) if multi => {
            let value = value.ok_or_else(|| bad_request("Operation is missing 'value'."))?;
            let mut items = as_items(current);
            for item in as_items(value) {
                let existing = get_ci(&item, "value")
                    .and_then(|v| items.iter().position(|i| get_ci(i, "value") == Some(v)));
                match existing {
                    Some(pos) => items[pos] = item,
                    None => items.push(item),
                }
            }
            Value::Array(items)
        }
        _ => {
            let value = value.ok_or_else(|| bad_request("Operation is missing 'value'."))?;
            if current.is_array() && !value.is_array() {
                Value::Array(vec![value])
            } else {
                value
            }
        }
    };
    if new_value.is_null() {
        obj.remove(&path.attribute);
    } else {
        obj.insert(path.attribute.clone(), new_value);
    }
    Ok(())
}

/// Sets (or, with no value, removes) sub-attribute `sub` of `entry`, whatever its case there.
fn set_sub_attribute(entry: &mut Map<String, Value>, sub: &str, value: Option<&Value>) {
    entry.retain(|k, _| !k.eq_ignore_ascii_case(sub));
    if let Some(value) = value {
        entry.insert(sub.to_owned(), value.clone());
    }
}

/// Databricks documents single-valued PATCHes in the multi-valued shape
/// (`"value": [{"value": "false"}]`, because the SDK drops a plain `false`); unwrap that and
/// read `active` given as a string.
fn normalize_single_valued(attribute: &str, value: Value) -> Value {
    if !matches!(
        attribute,
        "active" | "displayName" | "externalId" | "userName"
    ) {
        return value;
    }
    let value = match value {
        Value::Array(mut items) if items.len() == 1 => {
            let item = items.remove(0);
            get_ci(&item, "value").cloned().unwrap_or(item)
        }
        other => other,
    };
    match (attribute, &value) {
        ("active", Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        ("active", Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_users() -> (State, String, String) {
        let mut s = State::default();
        let a = s.create_user(&json!({"userName": "a@x.com"})).unwrap();
        let b = s.create_user(&json!({"userName": "b@x.com"})).unwrap();
        (
            s,
            a["id"].as_str().unwrap().into(),
            b["id"].as_str().unwrap().into(),
        )
    }

    #[test]
    fn admin_exists_at_start() {
        let s = State::default();
        let admin = s.get(Kind::User, ADMIN_USER_ID).unwrap();
        assert_eq!(admin["userName"], ADMIN_USER_NAME);
        assert_eq!(admin["groups"][0]["display"], "admins");
    }

    #[test]
    fn patch_members_add_remove_and_reflects_on_user() {
        let (mut s, a, b) = state_with_users();
        let g = s.create_group(&json!({"displayName": "eng"})).unwrap();
        let gid = g["id"].as_str().unwrap().to_owned();
        s.patch(
            Kind::Group,
            &gid,
            &json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}]}),
        )
        .unwrap();
        assert_eq!(s.get(Kind::User, &a).unwrap()["groups"][0]["value"], gid);
        let g = s
            .patch(
                Kind::Group,
                &gid,
                &json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]}),
            )
            .unwrap();
        assert_eq!(g["members"].as_array().unwrap().len(), 1);
        assert_eq!(g["members"][0]["value"], b);
        assert_eq!(s.get(Kind::User, &a).unwrap()["groups"], json!([]));
    }

    #[test]
    fn patch_user_groups_changes_membership() {
        let (mut s, a, _) = state_with_users();
        let gid = s.create_group(&json!({"displayName": "eng"})).unwrap()["id"].clone();
        s.patch(
            Kind::User,
            &a,
            &json!({"Operations": [{"op": "add", "path": "groups", "value": [{"value": gid}]}]}),
        )
        .unwrap();
        let g = s.get(Kind::Group, gid.as_str().unwrap()).unwrap();
        assert_eq!(g["members"][0]["value"], a);
    }

    #[test]
    fn patch_paths_accept_a_schema_prefix_and_any_case() {
        let (mut s, a, _) = state_with_users();
        let user = s
            .patch(
                Kind::User,
                &a,
                &json!({"Operations": [
                    {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "value": "X"},
                    {"op": "REPLACE", "path": "EXTERNALID", "value": "e"},
                ]}),
            )
            .unwrap();
        assert_eq!(user["displayName"], "X");
        assert_eq!(user["externalId"], "e");
    }

    #[test]
    fn a_filtered_path_with_a_sub_attribute_changes_only_the_matching_entries() {
        let mut s = State::default();
        let id = s
            .create_user(&json!({"userName": "a@x.com", "emails": [
                {"value": "a@x.com", "type": "work", "primary": true},
                {"value": "a@home.com", "type": "home"},
            ]}))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let user = s
            .patch(
                Kind::User,
                &id,
                &json!({"Operations": [
                    {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x.com"},
                    {"op": "remove", "path": "emails[type eq \"home\"].primary"},
                ]}),
            )
            .unwrap();
        assert_eq!(user["emails"][0]["value"], "new@x.com");
        assert_eq!(user["emails"][1]["value"], "a@home.com");
        let missing = s.patch(
            Kind::User,
            &id,
            &json!({"Operations": [{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x"}]}),
        );
        assert!(
            missing.is_err(),
            "replace with no matching entry is noTarget"
        );
        for bad in [
            "emails[type eq \"work\"]x",
            "emails[type eq \"work\"].",
            "name.a.b[x eq 1]",
        ] {
            assert!(
                s.patch(
                    Kind::User,
                    &id,
                    &json!({"Operations": [{"op": "remove", "path": bad}]})
                )
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn delete_user_leaves_groups() {
        let (mut s, a, _) = state_with_users();
        let gid = s
            .create_group(&json!({"displayName": "eng", "members": [{"value": a}]}))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        s.delete(Kind::User, &a).unwrap();
        assert_eq!(s.get(Kind::Group, &gid).unwrap()["members"], json!([]));
        assert!(s.delete(Kind::User, &a).is_err());
    }
}
