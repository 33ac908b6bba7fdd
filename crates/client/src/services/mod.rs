//! One module per Databricks service, each a thin typed layer over [`crate::Client`].
//!
//! Reach a service from a client: `client.clusters().get("0123-...")`, `client.jobs()`,
//! `client.warehouses()`, `client.statements()`, `client.catalogs()` / `schemas()` /
//! `tables()` / `volumes()` (Unity Catalog), `client.users()` / `groups()` (SCIM) and
//! `client.workspace()`. Every operation has a pure builder in its module's `request`
//! submodule returning the [`ApiRequest`] (method, path, query, body), so request shapes are
//! tested without a server; the service methods only send them. Lists return a
//! [`Paginator`]; long-running operations have `wait_*` methods
//! built on [`crate::waiter`].
//!
//! Query strings follow Databricks' conventions ([`query`]): booleans as `true`/`false`,
//! nested objects flattened with dots, arrays as repeated keys.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{ApiRequest, Client};
use crate::error::Result;
use crate::pagination::{Cursor, Page, Paginator};

pub mod clusters;
pub mod jobs;
pub mod scim;
pub mod statements;
pub mod unity_catalog;
pub mod warehouses;
pub mod workspace;

impl Client {
    /// Clusters (`/api/2.1/clusters`).
    pub fn clusters(&self) -> clusters::Clusters {
        clusters::Clusters::new(self.clone())
    }

    /// Jobs and runs (`/api/2.2/jobs`).
    pub fn jobs(&self) -> jobs::Jobs {
        jobs::Jobs::new(self.clone())
    }

    /// SQL warehouses (`/api/2.0/sql/warehouses`).
    pub fn warehouses(&self) -> warehouses::Warehouses {
        warehouses::Warehouses::new(self.clone())
    }

    /// SQL statement execution (`/api/2.0/sql/statements`).
    pub fn statements(&self) -> statements::Statements {
        statements::Statements::new(self.clone())
    }

    /// Unity Catalog catalogs.
    pub fn catalogs(&self) -> unity_catalog::Catalogs {
        unity_catalog::Catalogs::new(self.clone())
    }

    /// Unity Catalog schemas.
    pub fn schemas(&self) -> unity_catalog::Schemas {
        unity_catalog::Schemas::new(self.clone())
    }

    /// Unity Catalog tables.
    pub fn tables(&self) -> unity_catalog::Tables {
        unity_catalog::Tables::new(self.clone())
    }

    /// Unity Catalog volumes.
    pub fn volumes(&self) -> unity_catalog::Volumes {
        unity_catalog::Volumes::new(self.clone())
    }

    /// SCIM users of the workspace.
    pub fn users(&self) -> scim::Users {
        scim::Users::new(self.clone())
    }

    /// SCIM groups of the workspace.
    pub fn groups(&self) -> scim::Groups {
        scim::Groups::new(self.clone())
    }

    /// Workspace objects (`/api/2.0/workspace`).
    pub fn workspace(&self) -> workspace::Workspace {
        workspace::Workspace::new(self.clone())
    }
}

/// Databricks query-string encoding.
pub mod query {
    use super::*;

    /// Encodes a serializable value as query pairs: `null` is skipped, booleans become
    /// `true`/`false`, nested objects are flattened with dots, arrays become repeated keys.
    ///
    /// ```
    /// let q = brickwire_client::services::query::encode(&serde_json::json!({
    ///     "filter_by": {"cluster_states": ["RUNNING", "PENDING"], "is_pinned": true},
    ///     "page_size": 10, "page_token": null
    /// }));
    /// assert_eq!(q, vec![
    ///     ("filter_by.cluster_states".to_string(), "RUNNING".to_string()),
    ///     ("filter_by.cluster_states".into(), "PENDING".into()),
    ///     ("filter_by.is_pinned".into(), "true".into()),
    ///     ("page_size".into(), "10".into()),
    /// ]);
    /// ```
    pub fn encode(value: &impl Serialize) -> Vec<(String, String)> {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let mut out = Vec::new();
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    push(&mut out, &k, v);
                }
            }
            Value::Null => {}
            other => push(&mut out, "", other),
        }
        out
    }

    fn push(out: &mut Vec<(String, String)>, key: &str, value: Value) {
        match value {
            Value::Null => {}
            Value::Bool(b) => out.push((key.to_owned(), b.to_string())),
            Value::Number(n) => out.push((key.to_owned(), n.to_string())),
            Value::String(s) => out.push((key.to_owned(), s)),
            Value::Array(items) => {
                for item in items {
                    push(out, key, item);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let nested = if key.is_empty() {
                        k
                    } else {
                        format!("{key}.{k}")
                    };
                    push(out, &nested, v);
                }
            }
        }
    }

    /// Sets `key` to `value`, replacing any earlier values of `key`.
    pub fn set(request: &mut ApiRequest, key: &str, value: impl ToString) {
        request.query.retain(|(k, _)| k != key);
        request.query.push((key.to_owned(), value.to_string()));
    }
}

/// Percent-encodes one path segment (a catalog name, a statement id) so that `/`, `?`, `#`
/// and spaces inside it cannot change the path. Dots stay as they are (`cat.schema.table`).
pub fn path_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds a GET with the query of `params` (see [`query::encode`]).
pub(crate) fn get_with(path: impl Into<String>, params: &impl Serialize) -> ApiRequest {
    let mut request = ApiRequest::get(path);
    request.query = query::encode(params);
    request
}

/// Serializes a body; the models here always serialize, so a failure is a bug worth a panic
/// message rather than an error variant nobody can act on.
pub(crate) fn to_json(body: &impl Serialize) -> Value {
    serde_json::to_value(body).expect("wire models serialize to JSON")
}

/// A paginator that re-sends `base` with the cursor applied by `apply` and converts each
/// answer with `to_page` (which also sees the cursor the page was requested at).
pub(crate) fn paginate<R, T>(
    client: &Client,
    base: ApiRequest,
    apply: fn(&mut ApiRequest, &Cursor),
    to_page: fn(R, Option<&Cursor>) -> Page<T>,
) -> Paginator<T>
where
    R: DeserializeOwned + Send + 'static,
    T: Send + 'static,
{
    let client = client.clone();
    Paginator::new(move |cursor: Option<Cursor>| {
        let client = client.clone();
        let mut request = base.clone();
        if let Some(c) = &cursor {
            apply(&mut request, c);
        }
        async move {
            let response: R = client.call(request).await?;
            Ok(to_page(response, cursor.as_ref()))
        }
    })
}

/// The `apply` of token-paginated lists: sets `page_token`.
pub(crate) fn apply_page_token(request: &mut ApiRequest, cursor: &Cursor) {
    if let Some(token) = cursor.as_token() {
        query::set(request, "page_token", token);
    }
}

/// Sends a request whose answer carries nothing (`{}`, an empty body, or a body the SDK
/// ignores, like SCIM PUT/PATCH).
pub(crate) async fn send_empty(client: &Client, request: ApiRequest) -> Result<()> {
    client.send(request).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped_but_dots_kept() {
        assert_eq!(path_segment("main.sales.orders"), "main.sales.orders");
        assert_eq!(path_segment("a/b c?#"), "a%2Fb%20c%3F%23");
    }

    #[test]
    fn query_set_replaces() {
        let mut r = ApiRequest::get("/x").query("page_token", "a").query("k", 1);
        query::set(&mut r, "page_token", "b");
        assert_eq!(
            r.query,
            vec![("k".into(), "1".into()), ("page_token".into(), "b".into())]
        );
    }

    #[test]
    fn top_level_scalars_and_false() {
        let q =
            query::encode(&serde_json::json!({"a": false, "b": [1, 2], "c": {"d": {"e": "x"}}}));
        assert_eq!(
            q,
            vec![
                ("a".to_string(), "false".to_string()),
                ("b".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c.d.e".into(), "x".into()),
            ]
        );
    }
}
