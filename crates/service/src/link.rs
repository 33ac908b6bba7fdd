//! Linking a workspace by API key: the workspace URL rules, the check that a personal access
//! token works, and storing it. The REST route, the connect page and `brickwire accounts add`
//! all call [`check_workspace_url`], then [`VerifiedApiKey::verify`], then
//! [`VerifiedApiKey::store`]: a token can only be stored once the workspace has accepted it.
//!
//! Verification is one `GET /api/2.0/preview/scim/v2/Me` with the token, with a short timeout
//! and no redirects; its outcome is classified into [`LinkError`] so the end user is told
//! whether the token is wrong, the URL is not a Databricks workspace, or it cannot be reached.
//! No message ever contains the token.

use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_connector::{ActionError, ErrorCode};
use url::Url;

use crate::store::{ConnectSessionKey, Credential, LinkedAccount, NewLinkedAccount, Store};

/// How long verifying a token may take, connecting included.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The path used to verify a token: the caller's own SCIM user, readable by every user.
pub const VERIFY_PATH: &str = "/api/2.0/preview/scim/v2/Me";

/// Why a workspace could not be linked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The workspace URL breaks the rules (not https, a path, no host, ...).
    #[error("invalid workspace_url: {0}")]
    InvalidUrl(String),
    /// The token is empty or malformed.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The workspace refused the token (401 or 403).
    #[error(
        "the workspace at {host} refused the token (HTTP {status}): check that it was copied \
         whole, has not expired or been revoked, and belongs to this workspace"
    )]
    TokenRejected {
        /// The workspace.
        host: String,
        /// 401 or 403.
        status: u16,
    },
    /// Something answered, but not as a Databricks workspace does.
    #[error(
        "{host} does not look like a Databricks workspace ({detail}); check workspace_url \
         (e.g. https://dbc-1234abcd-5678.cloud.databricks.com)"
    )]
    NotAWorkspace {
        /// The URL.
        host: String,
        /// What was seen instead.
        detail: String,
    },
    /// The workspace could not be reached (DNS, connection refused, TLS, timeout).
    #[error("cannot reach {host}: {detail}; check workspace_url and that the workspace is up")]
    Unreachable {
        /// The URL.
        host: String,
        /// What failed.
        detail: String,
    },
}

impl LinkError {
    /// The error in the action error shape, with the HTTP status the REST API answers:
    /// 400 for a bad URL or token format, 422 when the workspace refused the token or is not a
    /// workspace, 502 when it is unreachable.
    pub fn to_action_error(&self) -> (u16, ActionError) {
        let message = self.to_string();
        match self {
            LinkError::InvalidUrl(problem) => {
                (400, ActionError::invalid_input("workspace_url", problem))
            }
            LinkError::InvalidToken(problem) => (400, ActionError::invalid_input("token", problem)),
            LinkError::TokenRejected { .. } => {
                (422, ActionError::new(ErrorCode::Unauthenticated, message))
            }
            LinkError::NotAWorkspace { .. } => (
                422,
                ActionError::new(
                    ErrorCode::InvalidInput,
                    format!("invalid input at `workspace_url`: {message}"),
                ),
            ),
            LinkError::Unreachable { .. } => {
                (502, ActionError::new(ErrorCode::NetworkError, message))
            }
        }
    }
}

/// Normalises a workspace URL: `https://` is assumed when no scheme is given, plain `http` is
/// accepted only for loopback hosts, and a path is refused. Returns e.g.
/// `https://dbc-1.cloud.databricks.com/`.
///
/// ```
/// use brickwire_service::link::check_workspace_url;
/// assert_eq!(check_workspace_url("dbc-1.cloud.databricks.com").unwrap().as_str(),
///            "https://dbc-1.cloud.databricks.com/");
/// assert!(check_workspace_url("http://dbc-1.cloud.databricks.com").is_err());
/// assert!(check_workspace_url("http://127.0.0.1:8080").is_ok());
/// ```
pub fn check_workspace_url(raw: &str) -> Result<Url, LinkError> {
    let normalized = brickwire_client::config::normalize_host(raw)
        .map_err(|e| LinkError::InvalidUrl(e.strip_prefix("host: ").unwrap_or(&e).to_owned()))?;
    Url::parse(&normalized).map_err(|e| LinkError::InvalidUrl(format!("`{raw}`: {e}")))
}

/// Checks the shape of a personal access token before it is sent anywhere.
pub fn check_token(token: &SecretString) -> Result<(), LinkError> {
    let text = token.expose_secret();
    if text.trim().is_empty() {
        return Err(LinkError::InvalidToken("the token is empty".into()));
    }
    if text.len() > 4096 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(LinkError::InvalidToken(
            "a token is one word of at most 4096 characters, without spaces".into(),
        ));
    }
    Ok(())
}

/// An HTTP client for verification and OAuth discovery: short timeouts, no redirects (a
/// redirect to a login page is a sign of "not an API", and following it could leak the token).
pub fn verification_http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(brickwire_client::client::user_agent())
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client with timeouts builds")
}

/// Verifies `token` against the workspace at `host` (already checked with
/// [`check_workspace_url`]) with `GET /api/2.0/preview/scim/v2/Me`, and returns the token's
/// user name (its SCIM `userName`, else its id).
pub async fn verify_api_key(
    http: &reqwest::Client,
    host: &Url,
    token: &SecretString,
) -> Result<String, LinkError> {
    check_token(token)?;
    let shown = host.as_str().trim_end_matches('/').to_owned();
    let url = host
        .join(VERIFY_PATH)
        .map_err(|e| LinkError::InvalidUrl(e.to_string()))?;
    let response = http
        .get(url)
        .bearer_auth(token.expose_secret())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| LinkError::Unreachable {
            host: shown.clone(),
            detail: describe_transport(&e),
        })?;
    let status = response.status().as_u16();
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = response.bytes().await.map_err(|e| LinkError::Unreachable {
        host: shown.clone(),
        detail: describe_transport(&e),
    })?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    match status {
        200 => match json {
            Some(me) if me.get("userName").is_some() || me.get("id").is_some() => Ok(me
                .get("userName")
                .or_else(|| me.get("id"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown user")
                .to_owned()),
            _ => Err(LinkError::NotAWorkspace {
                host: shown,
                detail: "its answer to the SCIM Me request is not a SCIM user".into(),
            }),
        },
        // Databricks answers a bad token with JSON; an HTML 401/403 is some other server's
        // login wall.
        401 | 403 if is_json || json.is_some() => Err(LinkError::TokenRejected {
            host: shown,
            status,
        }),
        300..=399 => Err(LinkError::NotAWorkspace {
            host: shown,
            detail: format!("it redirects (HTTP {status}) instead of answering the API"),
        }),
        _ => Err(LinkError::NotAWorkspace {
            host: shown,
            detail: if json.is_some() {
                format!("HTTP {status} from the SCIM Me endpoint")
            } else {
                format!("HTTP {status} with a body that is not JSON")
            },
        }),
    }
}

/// The default display name of a linked account: its workspace host.
pub fn default_display_name(host: &Url) -> String {
    host.host_str().unwrap_or("workspace").to_owned()
}

/// Where [`VerifiedApiKey::store`] puts the account.
#[derive(Debug, Clone)]
pub enum LinkInto {
    /// A new linked account (the REST API, the CLI).
    NewAccount,
    /// The account of a connect session, which the link consumes: a new account, or the
    /// session's account to reconnect (same id).
    ConnectSession(ConnectSessionKey),
}

/// A personal access token the workspace accepted, with the workspace it belongs to. Only
/// [`VerifiedApiKey::verify`] makes one, so every path that stores a token has tried it first.
#[derive(Debug)]
pub struct VerifiedApiKey {
    host: Url,
    token: SecretString,
    user_name: String,
}

impl VerifiedApiKey {
    /// Verifies `token` against the workspace at `host` (already checked with
    /// [`check_workspace_url`]), as [`verify_api_key`] does.
    pub async fn verify(
        http: &reqwest::Client,
        host: Url,
        token: SecretString,
    ) -> Result<Self, LinkError> {
        let user_name = verify_api_key(http, &host, &token).await?;
        Ok(Self {
            host,
            token,
            user_name,
        })
    }

    /// The token's user name in the workspace (its SCIM `userName`, else its id).
    pub fn user_name(&self) -> &str {
        &self.user_name
    }

    /// Stores the account with the token as its credential (the store encrypts it).
    /// `display_name` defaults to [`default_display_name`].
    pub async fn store<S: Store + ?Sized>(
        self,
        store: &S,
        into: LinkInto,
        display_name: Option<String>,
        end_user_ref: Option<String>,
    ) -> crate::Result<LinkedAccount> {
        let account = NewLinkedAccount {
            display_name: display_name.unwrap_or_else(|| default_display_name(&self.host)),
            end_user_ref,
            workspace_host: self.host,
            credential: Credential::ApiKey { token: self.token },
        };
        match into {
            LinkInto::NewAccount => store.insert_linked_account(account).await,
            LinkInto::ConnectSession(key) => {
                store.link_account_with_connect_session(key, account).await
            }
        }
    }
}

fn describe_transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the request timed out".into()
    } else if e.is_connect() {
        "the connection failed (check the host name and port)".into()
    } else {
        // without_url: the URL holds no secret, but keep messages short and uniform.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_or_loopback_http_without_a_path() {
        for ok in [
            "https://dbc-1.cloud.databricks.com",
            "dbc-1.cloud.databricks.com/",
            "http://localhost:8080",
            "http://127.0.0.1:9",
            "http://[::1]:9",
        ] {
            check_workspace_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://dbc-1.cloud.databricks.com",
            "ftp://x.example.com",
            "https://x.example.com/api",
            "",
            "https://user:pw@x.example.com",
        ] {
            let err = check_workspace_url(bad).unwrap_err();
            let (status, action) = err.to_action_error();
            assert_eq!(status, 400, "{bad}");
            assert!(
                action.message.contains("workspace_url"),
                "{}",
                action.message
            );
        }
    }

    #[test]
    fn token_shape() {
        check_token(&SecretString::new("dapi0123")).unwrap();
        for bad in ["", " ", "two words", "a\nb"] {
            assert!(check_token(&SecretString::new(bad)).is_err(), "{bad:?}");
        }
    }
}
