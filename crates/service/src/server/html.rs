//! Server-rendered HTML of the end-user pages: the layout and the result page.
//!
//! Every value put in a page goes through [`escape_html`]. Pages are sent with `no-store` (they may
//! carry a session token in their links), `no-referrer` (so the token in the connect URL never
//! reaches the workspace through a `Referer` header), and a CSP that allows no script and no
//! framing.
//!
//! Stable ids for browser tests: the result page has `#result` with `data-status="success"` or
//! `"error"` and, on success, `data-linked-account-id`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use brickwire_api::html::escape_html;

use crate::store::LinkedAccount;

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}\
main{max-width:960px;margin:2rem auto;padding:0 1rem}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:0}\
.choices{display:flex;flex-wrap:wrap;gap:1rem}\
.card{background:#fff;border:1px solid #d8dde3;border-radius:8px;padding:1.25rem;flex:1 1 380px}\
.split{display:flex;flex-wrap:wrap;gap:1rem}.split>*{flex:1 1 170px}\
label{display:block;font-weight:600;margin:.6rem 0 .2rem}\
input[type=text],input[type=url],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #b8c0c8;border-radius:4px}\
button{margin-top:1rem;padding:.55rem 1.1rem;border:0;border-radius:4px;background:#ff3621;color:#fff;font-weight:600;cursor:pointer}\
button[disabled]{background:#9aa3ad;cursor:not-allowed}\
ol{padding-left:1.2rem}li{margin:.25rem 0}.muted{color:#5b6670;font-size:.9rem}\
#result{background:#fff;border-radius:8px;padding:1.25rem;border:1px solid #d8dde3}\
#result[data-status=success]{border-left:6px solid #1e8e3e}#result[data-status=error]{border-left:6px solid #c5221f}\
code{background:#eef1f4;padding:0 .25rem;border-radius:3px}";

/// A whole page around `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        title = escape_html(title),
    )
}

/// An HTML response with the page headers described in the module docs.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The success page after an account was linked (or re-linked).
pub fn success(account: &LinkedAccount, reconnected: bool) -> Response {
    let what = if reconnected {
        "reconnected"
    } else {
        "connected"
    };
    let body = format!(
        "<h1>Workspace {what}</h1>\
         <div id=\"result\" data-status=\"success\" data-linked-account-id=\"{id}\">\
         <p><strong>{name}</strong> ({host}) is {what} with {auth}.</p>\
         <p class=\"muted\">Account id <code>{id}</code>. You can close this page.</p></div>",
        id = escape_html(account.id.as_str()),
        name = escape_html(&account.display_name),
        host = escape_html(account.workspace_host.as_str().trim_end_matches('/')),
        auth = match account.auth_type {
            crate::store::AuthType::ApiKey => "a personal access token",
            crate::store::AuthType::OAuth => "Databricks OAuth",
        },
    );
    respond(StatusCode::OK, page("Workspace connected", &body))
}

/// An error result page. `message` is plain text (escaped here); `hints` are plain-text
/// items of what to check; `retry` is a link back to the connect page, if it can be used again.
pub fn error(
    status: StatusCode,
    title: &str,
    message: &str,
    hints: &[String],
    retry: Option<&str>,
) -> Response {
    let hints = if hints.is_empty() {
        String::new()
    } else {
        format!(
            "<p>What to check:</p><ul id=\"hints\">{}</ul>",
            hints
                .iter()
                .map(|h| format!("<li>{}</li>", escape_html(h)))
                .collect::<String>()
        )
    };
    let retry = retry
        .map(|href| {
            format!(
                "<p><a id=\"retry\" href=\"{}\">Try again</a></p>",
                escape_html(href)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1><div id=\"result\" data-status=\"error\">\
         <p id=\"message\">{message}</p>{hints}{retry}</div>",
        title = escape_html(title),
        message = escape_html(message),
    );
    respond(status, page(title, &body))
}
