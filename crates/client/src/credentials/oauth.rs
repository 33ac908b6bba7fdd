//! The OAuth plumbing shared by the OAuth providers: endpoint discovery, the token request, and
//! the token set a refresh hands back.
//!
//! Start at [`discover_oidc_endpoints`] (how the token URL is found) and `request_token` (one
//! form POST to it). Everything uses a plain `reqwest::Client`; errors never carry a secret.

use std::fmt;
use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use super::token_cache::CachedToken;
use crate::{AuthError, AuthFailure, Error, Result};

/// The tokens an OAuth flow produced: what a U2M login stores and what a refresh returns.
#[derive(Clone, PartialEq)]
pub struct OAuthTokenSet {
    /// The access token sent as `Authorization: <token_type> <access_token>`.
    pub access_token: SecretString,
    /// The token type, normally `Bearer`.
    pub token_type: String,
    /// The refresh token, if the flow granted one (U2M with `offline_access`).
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (from `expires_in`).
    pub expires_at: Option<SystemTime>,
    /// The granted scopes, as the server listed them.
    pub scope: Option<String>,
}

impl fmt::Debug for OAuthTokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenSet")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

impl OAuthTokenSet {
    /// The `Authorization` header value for this access token.
    pub fn authorization(&self) -> SecretString {
        let kind = if self.token_type.is_empty() || self.token_type.eq_ignore_ascii_case("bearer") {
            "Bearer"
        } else {
            &self.token_type
        };
        SecretString::new(format!("{kind} {}", self.access_token.expose_secret()))
    }

    pub(crate) fn cached(&self) -> CachedToken {
        CachedToken {
            header: self.authorization(),
            expires_at: self.expires_at,
        }
    }
}

/// The endpoints of a Databricks OIDC server that brickwire uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcEndpoints {
    /// Where a browser is sent for U2M login (`.../oidc/v1/authorize`).
    pub authorization_endpoint: Option<Url>,
    /// Where tokens are requested (`.../oidc/v1/token`).
    pub token_endpoint: Url,
}

/// Where a provider's token endpoint comes from. Discovery runs on first use and its result is
/// kept; a failed discovery is retried on the next use.
#[derive(Debug)]
pub struct TokenEndpoint {
    source: EndpointSource,
    resolved: OnceCell<Url>,
}

#[derive(Debug, Clone)]
enum EndpointSource {
    Fixed(Url),
    Discover {
        host: Url,
        discovery_url: Option<Url>,
        account_id: Option<String>,
    },
}

impl TokenEndpoint {
    /// A token endpoint known in advance.
    pub fn fixed(token_endpoint: Url) -> Self {
        Self {
            source: EndpointSource::Fixed(token_endpoint),
            resolved: OnceCell::new(),
        }
    }

    /// Discover the endpoint of the workspace (or account host) at `host`; see
    /// [`discover_oidc_endpoints`]. A configured `discovery_url` wins over the host's metadata.
    pub fn discover(host: Url, discovery_url: Option<Url>, account_id: Option<String>) -> Self {
        Self {
            source: EndpointSource::Discover {
                host,
                discovery_url,
                account_id,
            },
            resolved: OnceCell::new(),
        }
    }

    /// The token endpoint, discovering it on first use.
    pub async fn get(&self, http: &reqwest::Client) -> Result<Url> {
        let url = self
            .resolved
            .get_or_try_init(|| async {
                let url = match &self.source {
                    EndpointSource::Fixed(url) => url.clone(),
                    EndpointSource::Discover {
                        host,
                        discovery_url,
                        account_id,
                    } => {
                        discover_oidc_endpoints(
                            http,
                            host,
                            discovery_url.as_ref(),
                            account_id.as_deref(),
                        )
                        .await?
                        .token_endpoint
                    }
                };
                check_endpoint(&url)?;
                Ok::<_, Error>(url)
            })
            .await?;
        Ok(url.clone())
    }
}

/// Secrets are only sent over https, or plain http to this machine (tests, the emulator).
fn check_endpoint(url: &Url) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if crate::config::is_loopback(url) => Ok(()),
        _ => Err(Error::Auth(AuthError::new(
            AuthFailure::InsecureTokenEndpoint,
            format!(
                "refusing to send credentials to `{url}`: the token endpoint must use https \
                 (plain http is allowed only for loopback hosts)"
            ),
        ))),
    }
}

#[derive(Deserialize)]
struct HostMetadata {
    oidc_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
}

/// Finds the OIDC endpoints of a Databricks host.
///
/// 1. If `discovery_url` is set, only that document is fetched.
/// 2. Otherwise `GET {host}/.well-known/databricks-config`; its `oidc_endpoint` (with
///    `{account_id}` filled in) gives `{oidc_endpoint}/.well-known/oauth-authorization-server`.
/// 3. If step 2 fails in any way, `GET {host}/oidc/.well-known/oauth-authorization-server`
///    (on an accounts console host with `account_id`:
///    `{host}/oidc/accounts/{account_id}/.well-known/oauth-authorization-server`).
///
/// Give `http` a timeout: token providers hold their refresh lock while this runs.
pub async fn discover_oidc_endpoints(
    http: &reqwest::Client,
    host: &Url,
    discovery_url: Option<&Url>,
    account_id: Option<&str>,
) -> Result<OidcEndpoints> {
    if let Some(url) = discovery_url {
        return fetch_discovery_document(http, url.clone())
            .await
            .map_err(|e| discovery_error(format!("cannot read discovery_url: {e}")));
    }
    let from_metadata = async {
        let metadata_url = join(host, "/.well-known/databricks-config")?;
        let metadata: HostMetadata = get_json(http, &metadata_url).await?;
        let Some(oidc) = metadata.oidc_endpoint.filter(|s| !s.is_empty()) else {
            return Err(format!("{metadata_url} has no oidc_endpoint"));
        };
        let oidc = match (oidc.contains("{account_id}"), account_id) {
            (false, _) => oidc,
            (true, Some(id)) => oidc.replace("{account_id}", id),
            (true, None) => {
                return Err(format!(
                    "{metadata_url} names an account-level oidc_endpoint but account_id is not set"
                ));
            }
        };
        let url = format!(
            "{}/.well-known/oauth-authorization-server",
            oidc.trim_end_matches('/')
        );
        let url = Url::parse(&url).map_err(|e| format!("bad oidc_endpoint `{oidc}`: {e}"))?;
        fetch_discovery_document(http, url).await
    };
    let first_error = match from_metadata.await {
        Ok(endpoints) => return Ok(endpoints),
        Err(e) => e,
    };
    tracing::debug!(error = %first_error, "host metadata discovery failed; trying /oidc");
    let fallback =
        join(host, &fallback_discovery_path(host, account_id)).map_err(discovery_error)?;
    fetch_discovery_document(http, fallback).await.map_err(|e| {
        discovery_error(format!(
            "cannot discover the OAuth endpoints of {host}: {first_error}; then {e} \
             (set discovery_url to the OIDC discovery document)",
            host = host.as_str().trim_end_matches('/'),
        ))
    })
}

fn discovery_error(message: String) -> Error {
    Error::Auth(AuthError::new(AuthFailure::Discovery, message))
}

/// The Go SDK's fixed discovery path: per account on an accounts console host, else the
/// workspace's.
fn fallback_discovery_path(host: &Url, account_id: Option<&str>) -> String {
    let accounts = host
        .host_str()
        .is_some_and(|h| h.starts_with("accounts.") || h.starts_with("accounts-dod."));
    match account_id {
        Some(id) if accounts => {
            format!("/oidc/accounts/{id}/.well-known/oauth-authorization-server")
        }
        _ => "/oidc/.well-known/oauth-authorization-server".to_owned(),
    }
}

fn join(host: &Url, path: &str) -> std::result::Result<Url, String> {
    host.join(path)
        .map_err(|e| format!("cannot join `{path}` to {host}: {e}"))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> std::result::Result<T, String> {
    let response = http
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url} failed: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {url} answered HTTP {}", status.as_u16()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET {url} failed: {}", e.without_url()))?;
    serde_json::from_slice(&body).map_err(|e| format!("GET {url} returned invalid JSON: {e}"))
}

async fn fetch_discovery_document(
    http: &reqwest::Client,
    url: Url,
) -> std::result::Result<OidcEndpoints, String> {
    let document: DiscoveryDocument = get_json(http, &url).await?;
    let parse = |field: &str, value: Option<String>| {
        value
            .filter(|v| !v.is_empty())
            .map(|v| Url::parse(&v).map_err(|e| format!("{url} has an invalid {field} `{v}`: {e}")))
            .transpose()
    };
    let token_endpoint = parse("token_endpoint", document.token_endpoint)?
        .ok_or_else(|| format!("{url} has no token_endpoint"))?;
    Ok(OidcEndpoints {
        authorization_endpoint: parse("authorization_endpoint", document.authorization_endpoint)?,
        token_endpoint,
    })
}

/// How the client authenticates itself to the token endpoint.
pub(crate) enum ClientAuth<'a> {
    /// `Authorization: Basic base64(id:secret)` (M2M, as the SDK does).
    Basic {
        client_id: &'a str,
        client_secret: &'a SecretString,
    },
    /// `client_id` (and `client_secret` when set) as form fields (U2M refresh).
    Form {
        client_id: &'a str,
        client_secret: Option<&'a SecretString>,
    },
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    #[serde(rename = "errorSummary")]
    error_summary: Option<String>,
}

/// POSTs a form to the token endpoint and reads the token set it returns.
///
/// Failures become [`Error::Auth`] ([`AuthFailure::TokenEndpoint`] with the status and the
/// OAuth `error`, message `... failed with HTTP 400: invalid_grant: ...`) or
/// [`Error::Transport`]; messages and fields are scrubbed of every secret that was sent.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    token_url: &Url,
    auth: ClientAuth<'_>,
    mut form: Vec<(&str, &str)>,
    now: SystemTime,
) -> Result<OAuthTokenSet> {
    let mut secrets: Vec<&str> = form
        .iter()
        .filter(|(k, _)| matches!(*k, "refresh_token" | "code" | "code_verifier"))
        .map(|(_, v)| *v)
        .collect();
    let mut request = http
        .post(token_url.clone())
        .header(http::header::ACCEPT, "application/json");
    match auth {
        ClientAuth::Basic {
            client_id,
            client_secret,
        } => {
            secrets.push(client_secret.expose_secret());
            request = request.basic_auth(client_id, Some(client_secret.expose_secret()));
        }
        ClientAuth::Form {
            client_id,
            client_secret,
        } => {
            form.push(("client_id", client_id));
            if let Some(secret) = client_secret {
                secrets.push(secret.expose_secret());
                form.push(("client_secret", secret.expose_secret()));
            }
        }
    }
    let scrub = |text: &str| {
        secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_owned(), |t, s| t.replace(s, "[redacted]"))
    };
    let transport = |e: reqwest::Error| Error::Transport {
        method: "POST".to_owned(),
        path: token_url.path().to_owned(),
        maybe_sent: !e.is_connect(),
        message: scrub(&e.without_url().to_string()),
    };
    let response = request.form(&form).send().await.map_err(transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport)?;
    if !status.is_success() {
        let (detail, error, description) = match serde_json::from_slice::<TokenErrorBody>(&body) {
            Ok(err) if err.error.is_some() || err.error_code.is_some() => {
                let code = err.error_code.or(err.error).unwrap_or_default();
                let description = err.error_summary.or(err.error_description);
                let detail = match &description {
                    Some(description) => format!("{code}: {}", description.replace("\r\n", " ")),
                    None => code.clone(),
                };
                (
                    detail,
                    Some(scrub(&code)),
                    description.as_deref().map(scrub),
                )
            }
            _ => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                let detail = if text.trim().is_empty() {
                    "no details".to_owned()
                } else {
                    text
                };
                (detail, None, None)
            }
        };
        let status = status.as_u16();
        return Err(Error::Auth(AuthError::new(
            AuthFailure::TokenEndpoint {
                status,
                error,
                description,
            },
            format!(
                "token request to {token_url} failed with HTTP {status}: {}",
                scrub(&detail)
            ),
        )));
    }
    // The success body is full of secrets: never quote it.
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
        Error::Auth(AuthError::new(
            AuthFailure::InvalidTokenResponse,
            format!(
                "token endpoint {token_url} returned a body that is not a token response (line {}, column {})",
                e.line(),
                e.column()
            ),
        ))
    })?;
    let access_token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::Auth(AuthError::new(
                AuthFailure::InvalidTokenResponse,
                format!("token endpoint {token_url} returned no access_token"),
            ))
        })?;
    let expires_in = match parsed.expires_in {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let expires_at = expires_in
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| now + Duration::from_secs_f64(s));
    Ok(OAuthTokenSet {
        access_token: SecretString::new(access_token),
        token_type: parsed.token_type.unwrap_or_else(|| "Bearer".to_owned()),
        refresh_token: parsed
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(SecretString::new),
        expires_at,
        scope: parsed.scope,
    })
}

/// A PKCE `code_challenge` for `code_verifier` (method `S256`): base64url of its SHA-256,
/// without padding.
pub fn pkce_challenge(code_verifier: &SecretString) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(code_verifier.expose_secret().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Exchanges a U2M authorization code for tokens (`grant_type=authorization_code` with
/// `code`, `redirect_uri`, `code_verifier`, `client_id`, and `client_secret` when set).
/// Store the result and build an [`super::OAuthRefreshCredentials`] from it.
pub async fn exchange_authorization_code(
    http: &reqwest::Client,
    token_endpoint: &Url,
    client_id: &str,
    client_secret: Option<&SecretString>,
    code: &SecretString,
    redirect_uri: &str,
    code_verifier: &SecretString,
) -> Result<OAuthTokenSet> {
    check_endpoint(token_endpoint)?;
    request_token(
        http,
        token_endpoint,
        ClientAuth::Form {
            client_id,
            client_secret,
        },
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier.expose_secret()),
        ],
        SystemTime::now(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_discovery_is_per_account_on_account_hosts() {
        let account = Url::parse("https://accounts.cloud.databricks.com").unwrap();
        let workspace = Url::parse("https://dbc-1.cloud.databricks.com").unwrap();
        assert_eq!(
            fallback_discovery_path(&account, Some("acc-1")),
            "/oidc/accounts/acc-1/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            fallback_discovery_path(&account, None),
            "/oidc/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            fallback_discovery_path(&workspace, Some("acc-1")),
            "/oidc/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn token_endpoints_must_be_https_or_loopback() {
        for ok in [
            "https://h.example.com/t",
            "http://127.0.0.1:1/t",
            "http://localhost/t",
        ] {
            assert!(check_endpoint(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in ["http://h.example.com/t", "ftp://h.example.com/t"] {
            assert!(check_endpoint(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn pkce_challenge_is_unpadded_base64url_sha256() {
        // Expected value computed with Python's hashlib and base64.urlsafe_b64encode.
        let verifier = SecretString::new("dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&verifier),
            "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"
        );
    }
}
