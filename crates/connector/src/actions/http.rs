//! HTTP Request: any documented REST API of the linked workspace.
//!
//! The credentials must never leave the workspace, so only relative `/api/...` paths are
//! accepted: absolute URLs, `//host` paths, backslashes, `.`/`..` segments (plain or
//! percent-encoded) and fragments are refused before anything is sent, and so are headers
//! that carry or replace credentials (`Authorization`, `Cookie`, the Azure token headers,
//! ...) or framing (`Host`, `Content-Length`). With `paginate: true`, a GET follows the
//! paging styles Databricks uses (`next_page_token`, SCIM `startIndex`) and concatenates the
//! list field of every page.

use brickwire_client::{ApiRequest, RequestBody};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use super::prelude::*;
use crate::error::ActionError;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl HttpMethod {
    fn to_method(self) -> Method {
        match self {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
            HttpMethod::Head => Method::HEAD,
        }
    }
}

fn default_content_type() -> String {
    "text/plain; charset=utf-8".into()
}

fn default_limit() -> u32 {
    1000
}

/// Input of HTTP Request.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct HttpRequestInput {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `HEAD`.
    pub method: HttpMethod,
    /// Path on the linked workspace, starting with `/api/`, e.g. `/api/2.1/clusters/get`.
    /// Absolute URLs, `..` segments and query strings are refused (use `query`).
    #[schemars(regex(pattern = r"^/api/"))]
    pub path: String,
    /// Query parameters; arrays become repeated keys, nested objects are flattened with dots
    /// (`filter_by.is_pinned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<serde_json::Map<String, Value>>,
    /// A JSON body (sent as `application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// A raw text body, sent with `content_type` (use this or `json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Content type of `body` (default `text/plain; charset=utf-8`).
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// Extra request headers. Authentication headers cannot be set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// GET only: follow `next_page_token` / SCIM `startIndex` and concatenate the list field
    /// of every page into the first page's body (default false).
    #[serde(default)]
    pub paginate: bool,
    /// With `paginate`: stop once this many items were collected (default 1000).
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 100000))]
    pub limit: u32,
}

/// Headers an action may never set: credentials and framing.
const REFUSED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-databricks-azure-sp-management-token",
    "x-databricks-azure-workspace-resource-id",
    "x-databricks-gcp-sa-access-token",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// Checks that `path` stays on the workspace's REST API.
pub fn check_path(path: &str) -> Result<(), ActionError> {
    let refuse = |why: &str| Err(ActionError::invalid_input("path", why));
    if path.contains("://") || path.starts_with("//") {
        return refuse("must be a path on the linked workspace, not a URL");
    }
    if !path.starts_with("/api/") {
        return refuse("must start with /api/");
    }
    if path.contains('\\') || path.contains("//") {
        return refuse("must not contain backslashes or empty segments");
    }
    if path.contains('?') || path.contains('#') {
        return refuse("must not contain `?` or `#`: pass parameters in `query`");
    }
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return refuse("must not contain spaces or control characters");
    }
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return refuse("must not contain encoded dots, slashes or backslashes");
    }
    if path.split('/').any(|s| s == ".." || s == ".") {
        return refuse("must not contain `.` or `..` segments");
    }
    Ok(())
}

/// Checks one extra header.
fn check_header(name: &str, value: &str) -> Result<(), ActionError> {
    let field = format!("headers.{name}");
    let lower = name.to_ascii_lowercase();
    if REFUSED_HEADERS.contains(&lower.as_str()) {
        return Err(ActionError::invalid_input(
            &field,
            "this header cannot be set: the linked account's credentials and the connection own it",
        ));
    }
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ActionError::invalid_input(&field, "not a valid header name"))?;
    HeaderValue::from_str(value)
        .map_err(|_| ActionError::invalid_input(&field, "not a valid header value"))?;
    Ok(())
}

/// Builds the request, refusing anything that could leave the workspace or replace the
/// credentials.
pub fn build_request(input: &HttpRequestInput) -> Result<ApiRequest, ActionError> {
    check_path(&input.path)?;
    for (name, value) in &input.headers {
        check_header(name, value)?;
    }
    if input.json.is_some() && input.body.is_some() {
        return Err(ActionError::invalid_input(
            "body",
            "give either `json` or `body`, not both",
        ));
    }
    if input.paginate && input.method != HttpMethod::Get {
        return Err(ActionError::invalid_input(
            "paginate",
            "only GET requests can be paginated",
        ));
    }
    let mut request = ApiRequest::new(input.method.to_method(), input.path.clone());
    if let Some(query) = &input.query {
        request.query = brickwire_client::services::query::encode(query);
    }
    request.body = match (&input.json, &input.body) {
        (Some(json), _) => Some(RequestBody::Json(json.clone())),
        (None, Some(body)) => Some(RequestBody::Bytes {
            content_type: input.content_type.clone(),
            data: Bytes::from(body.clone()),
        }),
        (None, None) => None,
    };
    request.headers = input
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(request)
}

/// Where the next page of a JSON list body starts, in Databricks' paging styles.
enum Next {
    Token(String),
    ScimIndex(i64),
}

fn next_page(body: &Value) -> Option<Next> {
    if body.get("has_more") == Some(&Value::Bool(false)) {
        return None;
    }
    if let Some(token) = body["next_page_token"].as_str().filter(|t| !t.is_empty()) {
        return Some(Next::Token(token.to_owned()));
    }
    let resources = body["Resources"].as_array()?;
    let start = body["startIndex"].as_i64()?;
    if resources.is_empty() {
        return None;
    }
    let next = start + resources.len() as i64;
    match body["totalResults"].as_i64() {
        Some(total) if next > total => None,
        _ => Some(Next::ScimIndex(next)),
    }
}

/// The list field of a page: `Resources`, or the only array-valued field.
fn list_field(body: &Value) -> Option<String> {
    let map = body.as_object()?;
    if map.get("Resources").is_some_and(Value::is_array) {
        return Some("Resources".into());
    }
    let mut arrays = map.iter().filter(|(_, v)| v.is_array()).map(|(k, _)| k);
    let first = arrays.next()?.clone();
    arrays.next().is_none().then_some(first)
}

fn decode_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

async fn run(client: Client, input: HttpRequestInput) -> Result<Value, RunError> {
    let request = build_request(&input)?;
    let response = client.send(request.clone()).await?;
    let headers: serde_json::Map<String, Value> = response
        .headers
        .keys()
        .map(|name| {
            let joined = response
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            (name.as_str().to_owned(), Value::String(joined))
        })
        .collect();
    let mut body = decode_body(&response.body);
    if input.paginate {
        paginate(&client, &request, &mut body, input.limit as usize).await?;
    }
    Ok(json!({
        "status": response.status.as_u16(),
        "headers": headers,
        "body": body,
    }))
}

/// Follows the pages of `first`, appending each page's list field to it.
async fn paginate(
    client: &Client,
    request: &ApiRequest,
    first: &mut Value,
    limit: usize,
) -> Result<(), RunError> {
    let Some(field) = list_field(first) else {
        return Ok(());
    };
    let mut items: Vec<Value> = first[&field].as_array().cloned().unwrap_or_default();
    let mut page = first.clone();
    let mut seen = std::collections::HashSet::new();
    while items.len() < limit {
        let Some(next) = next_page(&page) else { break };
        let mut req = request.clone();
        match &next {
            Next::Token(t) => {
                if !seen.insert(t.clone()) {
                    break;
                }
                brickwire_client::services::query::set(&mut req, "page_token", t);
            }
            Next::ScimIndex(i) => brickwire_client::services::query::set(&mut req, "startIndex", i),
        }
        page = decode_body(&client.send(req).await?.body);
        items.extend(page[&field].as_array().cloned().unwrap_or_default());
    }
    items.truncate(limit);
    first[&field] = Value::Array(items);
    if let Some(map) = first.as_object_mut() {
        match page
            .get("next_page_token")
            .filter(|t| t.as_str().is_some_and(|t| !t.is_empty()))
        {
            Some(t) => {
                map.insert("next_page_token".into(), t.clone());
            }
            None => {
                map.remove("next_page_token");
            }
        }
        if map.contains_key("has_more") {
            map.insert(
                "has_more".into(),
                page.get("has_more").cloned().unwrap_or(json!(false)),
            );
        }
    }
    Ok(())
}

/// The HTTP Request action.
pub fn actions() -> Vec<Action> {
    vec![Action::define(
        Group::Http,
        "HTTP Request",
        "Make an HTTP call to any documented Databricks REST API of the linked workspace; returns status, headers and body.",
        false,
        json!({"method": "GET", "path": "/api/2.1/clusters/list", "query": {"page_size": 10},
               "paginate": true}),
        run,
    ).destructive()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_on_the_workspace_api() {
        for ok in [
            "/api/2.1/clusters/list",
            "/api/2.1/unity-catalog/tables/a.b.c",
        ] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://evil.example.com/api/2.0/x",
            "//evil.example.com/api/2.0/x",
            "/api/2.0/../../x",
            "/api/2.0/%2e%2e/x",
            "/api/2.0/a%2Fb",
            "/api/./x",
            "/oidc/v1/token",
            "api/2.0/x",
            "/api/2.0\\x",
            "/api/2.0/x?token=1",
            "/api/2.0//x",
        ] {
            let e = check_path(bad).unwrap_err();
            assert!(e.message.contains("`path`"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn scim_and_token_pages_are_detected() {
        assert!(
            matches!(next_page(&json!({"x": [], "next_page_token": "t"})), Some(Next::Token(t)) if t == "t")
        );
        assert!(next_page(&json!({"x": [], "has_more": false, "next_page_token": "t"})).is_none());
        assert!(matches!(
            next_page(&json!({"Resources": [1, 2], "startIndex": 1, "totalResults": 5})),
            Some(Next::ScimIndex(3))
        ));
        assert!(
            next_page(&json!({"Resources": [1, 2], "startIndex": 4, "totalResults": 5})).is_none()
        );
        assert_eq!(
            list_field(&json!({"clusters": [], "next_page_token": "x"})).as_deref(),
            Some("clusters")
        );
    }
}
