//! SCIM users and groups (`/api/2.0/preview/scim/v2/{Users,Groups}`): list, create, get,
//! PATCH, PUT, delete. Keys are camelCase; lists page by 1-based `startIndex` and `count`.

use brickwire_api::scim::{Group, ListRequest, ListResponse, PatchRequest, User};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{ApiRequest, Client};
use crate::error::Result;
use crate::pagination::{Cursor, Page, Paginator};
use crate::services::{get_with, paginate, path_segment, query, send_empty, to_json};

/// The path prefix of workspace SCIM.
pub const BASE: &str = "/api/2.0/preview/scim/v2";

/// The page size the SDK asks for when the caller gives none.
pub const DEFAULT_COUNT: i64 = 10_000;

/// Pure request builders; `resource` is `Users` or `Groups`.
pub mod request {
    use super::*;

    fn at(resource: &str, id: &str) -> String {
        format!("{BASE}/{resource}/{}", path_segment(id))
    }

    /// `GET /{resource}` with `filter`, `attributes`, `excludedAttributes`, `startIndex`
    /// (default 1), `count` (default 10,000), `sortBy`, `sortOrder`.
    pub fn list(resource: &str, params: &ListRequest) -> ApiRequest {
        let mut p = params.clone();
        p.start_index.get_or_insert(1);
        p.count.get_or_insert(DEFAULT_COUNT);
        get_with(format!("{BASE}/{resource}"), &p)
    }

    /// `POST /{resource}`.
    pub fn create(resource: &str, body: &impl Serialize) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/{resource}")).json(to_json(body))
    }

    /// `GET /{resource}/{id}`.
    pub fn get(resource: &str, id: &str) -> ApiRequest {
        ApiRequest::get(at(resource, id))
    }

    /// `PATCH /{resource}/{id}` with PatchOp operations.
    pub fn patch(resource: &str, id: &str, body: &PatchRequest) -> ApiRequest {
        ApiRequest::patch(at(resource, id)).json(to_json(body))
    }

    /// `PUT /{resource}/{id}` with the full resource.
    pub fn replace(resource: &str, id: &str, body: &impl Serialize) -> ApiRequest {
        ApiRequest::put(at(resource, id)).json(to_json(body))
    }

    /// `DELETE /{resource}/{id}`.
    pub fn delete(resource: &str, id: &str) -> ApiRequest {
        ApiRequest::delete(at(resource, id))
    }
}

fn list<T: DeserializeOwned + Send + 'static>(
    client: &Client,
    resource: &str,
    params: &ListRequest,
) -> Paginator<T> {
    let base = request::list(resource, params);
    let start = params.start_index.unwrap_or(1);
    paginate(
        client,
        base,
        |r, c| {
            if let Some(i) = c.as_index() {
                query::set(r, "startIndex", i);
            }
        },
        |r: ListResponse<T>, c| {
            let at = c.and_then(Cursor::as_index).unwrap_or(1);
            Page::from_scim(r.resources, at)
        },
    )
    // an explicit start cursor lets each page know the index it was requested at
    .starting_at(Some(Cursor::Index(start)))
}

macro_rules! scim_service {
    ($name:ident, $model:ty, $resource:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            client: Client,
        }

        impl $name {
            /// The SCIM resource name in the path.
            pub const RESOURCE: &'static str = $resource;

            /// Wraps a client.
            pub fn new(client: Client) -> Self {
                Self { client }
            }

            /// Lists entries, advancing `startIndex` by each page's length until a page is
            /// empty.
            pub fn list(&self, params: &ListRequest) -> Paginator<$model> {
                list(&self.client, $resource, params)
            }

            /// Creates an entry (201) and returns it with its id.
            pub async fn create(&self, body: &$model) -> Result<$model> {
                self.client.call(request::create($resource, body)).await
            }

            /// Gets an entry by id.
            pub async fn get(&self, id: &str) -> Result<$model> {
                self.client.call(request::get($resource, id)).await
            }

            /// Applies PatchOp operations (the answer body is ignored, as by the SDK).
            pub async fn patch(&self, id: &str, body: &PatchRequest) -> Result<()> {
                send_empty(&self.client, request::patch($resource, id, body)).await
            }

            /// Replaces an entry (`PUT`; the answer body is ignored, as by the SDK).
            pub async fn replace(&self, id: &str, body: &$model) -> Result<()> {
                send_empty(&self.client, request::replace($resource, id, body)).await
            }

            /// Deletes an entry.
            pub async fn delete(&self, id: &str) -> Result<()> {
                send_empty(&self.client, request::delete($resource, id)).await
            }
        }
    };
}

scim_service!(Users, User, "Users", "SCIM users: `client.users()`.");
scim_service!(Groups, Group, "Groups", "SCIM groups: `client.groups()`.");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RequestBody;
    use brickwire_api::scim::{PatchOperation, SortOrder, USER_SCHEMA};
    use http::Method;
    use serde_json::json;

    #[test]
    fn list_uses_camel_case_and_sdk_defaults() {
        let r = request::list(
            "Users",
            &ListRequest {
                filter: Some("userName eq \"a@b.c\"".into()),
                excluded_attributes: Some("groups".into()),
                sort_order: Some(SortOrder::Descending),
                ..ListRequest::default()
            },
        );
        assert_eq!(
            (r.method, r.path.as_str()),
            (Method::GET, "/api/2.0/preview/scim/v2/Users")
        );
        let q: Vec<(&str, &str)> = r
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            q,
            vec![
                ("filter", "userName eq \"a@b.c\""),
                ("excludedAttributes", "groups"),
                ("startIndex", "1"),
                ("count", "10000"),
                ("sortOrder", "descending"),
            ]
        );
    }

    #[test]
    fn writes() {
        let user = User {
            user_name: Some("a@b.c".into()),
            schemas: vec![USER_SCHEMA.into()],
            ..User::default()
        };
        let c = request::create("Users", &user);
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::POST, "/api/2.0/preview/scim/v2/Users")
        );
        assert_eq!(
            c.body,
            Some(RequestBody::Json(
                json!({"userName": "a@b.c", "schemas": [USER_SCHEMA]})
            ))
        );
        let p = request::patch(
            "Groups",
            "12",
            &PatchRequest::new(vec![PatchOperation::remove_member("3")]),
        );
        assert_eq!(
            (p.method, p.path.as_str()),
            (Method::PATCH, "/api/2.0/preview/scim/v2/Groups/12")
        );
        let u = request::replace("Users", "1", &user);
        assert_eq!(
            (u.method, u.path.as_str()),
            (Method::PUT, "/api/2.0/preview/scim/v2/Users/1")
        );
        let d = request::delete("Groups", "12");
        assert_eq!(
            (d.method, d.path.as_str()),
            (Method::DELETE, "/api/2.0/preview/scim/v2/Groups/12")
        );
    }
}
