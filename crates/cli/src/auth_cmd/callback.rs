//! The loopback listener of `brickwire auth login`: where the browser is sent back to
//! ([`Redirect`]), and the one handler ([`on_callback`]) that checks the callback's `state`,
//! answers the browser with a small page and hands the code (or why the login failed) to the
//! waiting login.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use brickwire_api::SecretString;
use brickwire_api::html::escape_html;
use tokio::sync::mpsc;
use url::Url;

use super::LoginArgs;
use crate::failure::Failure;

/// Where the browser is sent back to and where we listen for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Redirect {
    /// The address to bind (port 0: any free port).
    pub(super) bind: SocketAddr,
    /// The callback path (`/` by default).
    pub(super) path: String,
    /// The URL before binding; its port is replaced when port 0 was asked for.
    pub(super) url: Url,
}

impl Redirect {
    pub(super) fn from_args(args: &LoginArgs) -> Result<Self, Failure> {
        let Some(raw) = &args.redirect_url else {
            let port = args.redirect_port;
            return Ok(Redirect {
                bind: SocketAddr::from(([127, 0, 0, 1], port)),
                path: "/".into(),
                url: Url::parse(&format!("http://localhost:{port}")).expect("valid URL"),
            });
        };
        let bad = |why: &str| Failure::Usage(format!("--redirect-url `{raw}`: {why}"));
        let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" {
            return Err(bad(
                "must use http (the listener is local and has no certificate)",
            ));
        }
        let ip: std::net::IpAddr = match url.host() {
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                [127, 0, 0, 1].into()
            }
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.into(),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => ip.into(),
            _ => return Err(bad("the host must be localhost, 127.0.0.1 or [::1]")),
        };
        let port = url
            .port()
            .ok_or_else(|| bad("give an explicit port, e.g. http://localhost:8020"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        Ok(Redirect {
            bind: SocketAddr::new(ip, port),
            path: url.path().to_owned(),
            url,
        })
    }

    /// The redirect URI as sent to the authorize and token endpoints. `Url` adds a `/` path
    /// to `http://localhost:8020`; the Databricks CLI's registered URL has none, and the
    /// server compares them exactly.
    pub(super) fn uri(&self) -> String {
        let text = self.url.to_string();
        match text.strip_suffix('/') {
            Some(bare) if self.url.path() == "/" => bare.to_owned(),
            _ => text,
        }
    }
}

/// What the browser brought back to the listener.
#[derive(Debug, Clone, Default)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl Callback {
    /// Reads the query string; the first value of each parameter counts.
    fn parse(query: &str) -> Self {
        let mut callback = Callback::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "code" => &mut callback.code,
                "state" => &mut callback.state,
                "error" => &mut callback.error,
                "error_description" => &mut callback.error_description,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        callback
    }
}

/// The outcome of one callback: the code, or why the login failed.
pub(super) type CallbackOutcome = Result<SecretString, String>;

#[derive(Clone)]
pub(super) struct ListenerState {
    pub(super) path: Arc<str>,
    pub(super) state: Arc<SecretString>,
    pub(super) host: Arc<str>,
    pub(super) done: mpsc::Sender<CallbackOutcome>,
}

/// Checks one callback against the expected state.
fn check_callback(callback: &Callback, expected_state: &SecretString) -> CallbackOutcome {
    if let Some(error) = &callback.error {
        let description = callback.error_description.as_deref().unwrap_or("");
        let mut message = format!("the workspace refused the login: {error}");
        if !description.is_empty() {
            let _ = write!(message, ": {description}");
        }
        match error.as_str() {
            "access_denied" => message.push_str(" (consent was denied in the browser)"),
            "invalid_scope" => message.push_str(
                " (check that the scopes asked for with --scopes are allowed by the app \
                 connection)",
            ),
            "invalid_request" | "unauthorized_client" => message.push_str(
                " (check --client-id and that the app connection lists the redirect URL)",
            ),
            _ => {}
        }
        return Err(message);
    }
    let state_ok = callback
        .state
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), expected_state.expose_secret().as_bytes()));
    if !state_ok {
        return Err(
            "the callback's state does not match this login (a stale browser tab, or a request \
             that did not come from this login): nothing was saved; run the login again"
                .into(),
        );
    }
    match callback.code.as_deref().filter(|c| !c.is_empty()) {
        Some(code) => Ok(SecretString::new(code)),
        None => Err("the callback has no authorization code".into()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) async fn on_callback(State(listener): State<ListenerState>, uri: Uri) -> Response {
    if uri.path() != &*listener.path {
        return (StatusCode::NOT_FOUND, "not the login callback").into_response();
    }
    let callback = Callback::parse(uri.query().unwrap_or(""));
    let outcome = check_callback(&callback, &listener.state);
    let page = match &outcome {
        Ok(_) => (
            StatusCode::OK,
            page(
                "Logged in",
                &format!(
                    "brickwire received the login for {}. You can close this tab and return \
                     to the terminal.",
                    listener.host
                ),
            ),
        ),
        Err(message) => (StatusCode::BAD_REQUEST, page("Login failed", message)),
    };
    // Only the first callback counts; the receiver is gone after it.
    let _ = listener.done.try_send(outcome);
    page.into_response()
}

fn page(title: &str, message: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>brickwire: {t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape_html(title),
        m = escape_html(message)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_checked_for_errors_state_and_code() {
        let state = SecretString::new("st");
        let cb = |code: Option<&str>, st: Option<&str>, error: Option<&str>| Callback {
            code: code.map(str::to_owned),
            state: st.map(str::to_owned),
            error: error.map(str::to_owned),
            error_description: error.map(|_| "nope <b>".to_owned()),
        };
        let ok = check_callback(&cb(Some("c0de"), Some("st"), None), &state).unwrap();
        assert_eq!(ok.expose_secret(), "c0de");
        let e = check_callback(&cb(Some("c"), Some("other"), None), &state).unwrap_err();
        assert!(e.contains("state does not match"), "{e}");
        let e = check_callback(&cb(Some("c"), None, None), &state).unwrap_err();
        assert!(e.contains("state does not match"), "{e}");
        let e = check_callback(&cb(None, Some("st"), Some("access_denied")), &state).unwrap_err();
        assert!(e.contains("access_denied") && e.contains("denied"), "{e}");
        let e = check_callback(&cb(None, Some("st"), Some("invalid_scope")), &state).unwrap_err();
        assert!(e.contains("--scopes"), "{e}");
        let e = check_callback(&cb(None, Some("st"), None), &state).unwrap_err();
        assert!(e.contains("no authorization code"), "{e}");
        assert_eq!(escape_html("nope <b>&\""), "nope &lt;b&gt;&amp;&quot;");
    }
}
