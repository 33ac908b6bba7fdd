//! The other side of the emulator's OAuth over HTTP, for tests and the demo: what a workspace
//! admin does to register an app connection, and what a person does on the consent page.
//!
//! Both go through the emulator's public endpoints like any client would (nothing reaches into
//! its state), so they work against an emulator in another process too.

use serde_json::{Value, json};

/// A failure to drive the emulator, with what was expected and what came back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DriveError(String);

/// An app connection (custom app integration) to register.
#[derive(Debug, Clone)]
pub struct AppConnection<'a> {
    /// Its display name.
    pub name: &'a str,
    /// The redirect URLs it allows.
    pub redirect_urls: &'a [&'a str],
    /// The scopes it allows.
    pub scopes: &'a [&'a str],
    /// Whether each refresh rotates the refresh token.
    pub single_use_refresh_tokens: bool,
}

/// Registers `app` as a public client (no secret) the way a workspace admin would, through the
/// account API at `base_url` with the admin's `token`; returns its client id.
pub async fn register_app_connection(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    app: &AppConnection<'_>,
) -> Result<String, DriveError> {
    let base = base_url.trim_end_matches('/');
    let settings: Value = json_of(http.get(format!("{base}/_emulator/settings"))).await?;
    let account_id = settings["oauth"]["account_id"]
        .as_str()
        .ok_or_else(|| DriveError("the emulator's settings have no oauth.account_id".into()))?;
    let created: Value = json_of(
        http.post(format!(
            "{base}/api/2.0/accounts/{account_id}/oauth2/custom-app-integrations"
        ))
        .bearer_auth(token)
        .json(&json!({
            "name": app.name,
            "redirect_urls": app.redirect_urls,
            "scopes": app.scopes,
            "confidential": false,
            "token_access_policy": {
                "enable_single_use_refresh_tokens": app.single_use_refresh_tokens
            },
        })),
    )
    .await?;
    created["client_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| DriveError(format!("no client_id in {created}")))
}

/// What the person on the consent page does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Presses Allow.
    Allow,
    /// Presses Deny.
    Deny,
}

/// Opens the consent page at `authorize_url`, signs in as `user_id` (the first user offered
/// when `None`) and presses the `decision` button; returns where the emulator sends the browser
/// (the client's redirect URL with `code` and `state`, or with `error`).
///
/// An authorization request the emulator refuses before showing the page (e.g. a scope the app
/// connection does not allow) redirects at once; that location is returned too. `http` must
/// not follow redirects.
pub async fn answer_consent(
    http: &reqwest::Client,
    authorize_url: &str,
    user_id: Option<&str>,
    decision: Decision,
) -> Result<String, DriveError> {
    let page = http
        .get(authorize_url)
        .send()
        .await
        .map_err(|e| DriveError(format!("GET {authorize_url}: {e}")))?;
    if page.status().is_redirection() {
        return location(&page);
    }
    if !page.status().is_success() {
        return Err(DriveError(format!(
            "the consent page answered HTTP {}",
            page.status()
        )));
    }
    let cookie = page
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| DriveError("the consent page set no cookie".into()))?;
    let submit = page
        .url()
        .join("/oidc/v1/authorize")
        .map_err(|e| DriveError(e.to_string()))?;
    let html = page
        .text()
        .await
        .map_err(|e| DriveError(format!("reading the consent page: {e}")))?;
    let consent_token = input_value(&html, "consent_token")
        .ok_or_else(|| DriveError("the consent page has no consent_token".into()))?;
    let user = match user_id {
        Some(user) => user.to_owned(),
        None => input_value(&html, "user_id")
            .ok_or_else(|| DriveError("the consent page offers no user".into()))?,
    };
    let answer = http
        .post(submit)
        .header(reqwest::header::COOKIE, cookie)
        .form(&[
            ("consent_token", consent_token.as_str()),
            ("user_id", user.as_str()),
            (
                "decision",
                match decision {
                    Decision::Allow => "allow",
                    Decision::Deny => "deny",
                },
            ),
        ])
        .send()
        .await
        .map_err(|e| DriveError(format!("POST the consent form: {e}")))?;
    location(&answer)
}

/// The `value` of the first input named `name` (the emulator writes `name` before `value`).
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..][..html[start..].find('"')?].to_owned())
}

fn location(response: &reqwest::Response) -> Result<String, DriveError> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            DriveError(format!(
                "expected a redirect, got HTTP {} without Location",
                response.status()
            ))
        })
}

async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, DriveError> {
    let response = request
        .send()
        .await
        .map_err(|e| DriveError(e.to_string()))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| DriveError(e.to_string()))?;
    if !status.is_success() {
        return Err(DriveError(format!("HTTP {status}: {body}")));
    }
    serde_json::from_str(&body).map_err(|e| DriveError(format!("not JSON ({e}): {body}")))
}
