//! Unified configuration, resolved the way the official Databricks SDKs and CLI do it.
//!
//! A [`Config`] holds the explicit settings (all optional). [`Config::resolve`] fills the gaps,
//! in this order, never overwriting a value an earlier source set:
//! 1. explicit settings (the fields of [`Config`]);
//! 2. `DATABRICKS_*` environment variables ([`ENV_VARS`]);
//! 3. one profile of the INI file `~/.databrickscfg` (or `config_file` /
//!    `DATABRICKS_CONFIG_FILE`). The file is read only if a profile is named (`profile`,
//!    `DATABRICKS_CONFIG_PROFILE`) or if neither a host nor any auth attribute came from 1 and
//!    2. Without a named profile, `[__settings__] default_profile` picks one, else `DEFAULT`.
//!
//! The result, a [`ResolvedConfig`], has a normalised host, checked numbers, and the auth type
//! to use; [`ResolvedConfig::client`] builds a [`Client`]. [`Config::client`] does both steps.
//!
//! `auth_type = databricks-cli` (what `brickwire auth login` writes in a profile) takes the
//! tokens of the login from the Databricks CLI's token cache and writes refreshed ones back:
//! see [`ResolvedConfig::databricks_cli_credentials`].
//!
//! ```no_run
//! use brickwire_client::Config;
//! # fn main() -> brickwire_client::Result<()> {
//! let client = Config { profile: Some("dev".into()), ..Config::default() }.client()?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use brickwire_api::SecretString;
use url::{Host, Url};

use crate::credentials::{
    BasicCredentials, CLI_TOKEN_CACHE_PATH, CliTokenCache, CredentialsProvider,
    DatabricksCliCredentials, OAuthM2mCredentials, OAuthRefreshCredentials, OAuthTokenSet,
    PatCredentials, TokenEndpoint, host_cache_key,
};
use crate::{Client, ClientOptions, Error, Result};

/// Explicit settings of a [`crate::Client`]; see the module docs for how they are resolved.
///
/// Field names follow the SDK's attribute names, which are also the profile keys; the two
/// timeouts are `http_timeout_seconds` and `retry_timeout_seconds` in a profile.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Workspace URL, e.g. `https://dbc-1234.cloud.databricks.com` (`DATABRICKS_HOST`).
    pub host: Option<String>,
    /// Personal access token, auth type `pat` (`DATABRICKS_TOKEN`).
    pub token: Option<SecretString>,
    /// OAuth client id: `oauth-m2m`, or U2M with a custom app (`DATABRICKS_CLIENT_ID`).
    pub client_id: Option<String>,
    /// OAuth client secret, `oauth-m2m` (`DATABRICKS_CLIENT_SECRET`).
    pub client_secret: Option<SecretString>,
    /// User name for legacy `basic` auth (`DATABRICKS_USERNAME`).
    pub username: Option<String>,
    /// Password for legacy `basic` auth (`DATABRICKS_PASSWORD`).
    pub password: Option<SecretString>,
    /// Databricks account id (`DATABRICKS_ACCOUNT_ID`).
    pub account_id: Option<String>,
    /// Workspace id (`DATABRICKS_WORKSPACE_ID`).
    pub workspace_id: Option<String>,
    /// Forces one auth method, see [`AuthType`] (`DATABRICKS_AUTH_TYPE`).
    pub auth_type: Option<String>,
    /// Profile of the config file to read (`DATABRICKS_CONFIG_PROFILE`).
    pub profile: Option<String>,
    /// Config file instead of `~/.databrickscfg` (`DATABRICKS_CONFIG_FILE`); `~/` is expanded.
    pub config_file: Option<PathBuf>,
    /// Default cluster (`DATABRICKS_CLUSTER_ID`).
    pub cluster_id: Option<String>,
    /// Default SQL warehouse (`DATABRICKS_WAREHOUSE_ID`).
    pub warehouse_id: Option<String>,
    /// OIDC discovery document to use instead of discovering it (`DATABRICKS_DISCOVERY_URL`).
    pub discovery_url: Option<String>,
    /// Client-side request rate cap per second, default 15 (`DATABRICKS_RATE_LIMIT`).
    pub rate_limit: Option<f64>,
    /// Per-attempt HTTP timeout, default 60 s (profile key `http_timeout_seconds`).
    pub http_timeout: Option<Duration>,
    /// Overall retry deadline, default 300 s (profile key `retry_timeout_seconds`).
    pub retry_timeout: Option<Duration>,
    /// OAuth scopes, default `all-apis` (profile key `scopes`, comma or space separated).
    pub scopes: Option<Vec<String>>,
    /// Accept any TLS certificate for OAuth requests; never in production (profile only).
    pub skip_verify: Option<bool>,
}

/// Each attribute that has an environment variable, with its variable.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("host", "DATABRICKS_HOST"),
    ("token", "DATABRICKS_TOKEN"),
    ("client_id", "DATABRICKS_CLIENT_ID"),
    ("client_secret", "DATABRICKS_CLIENT_SECRET"),
    ("username", "DATABRICKS_USERNAME"),
    ("password", "DATABRICKS_PASSWORD"),
    ("account_id", "DATABRICKS_ACCOUNT_ID"),
    ("workspace_id", "DATABRICKS_WORKSPACE_ID"),
    ("auth_type", "DATABRICKS_AUTH_TYPE"),
    ("profile", "DATABRICKS_CONFIG_PROFILE"),
    ("config_file", "DATABRICKS_CONFIG_FILE"),
    ("cluster_id", "DATABRICKS_CLUSTER_ID"),
    ("warehouse_id", "DATABRICKS_WAREHOUSE_ID"),
    ("discovery_url", "DATABRICKS_DISCOVERY_URL"),
    ("rate_limit", "DATABRICKS_RATE_LIMIT"),
];

/// The `[__settings__]` section of the config file; never a profile.
const SETTINGS_SECTION: &str = "__settings__";

/// The SDK's built-in public OAuth client, used for U2M when no `client_id` is configured.
pub const DEFAULT_U2M_CLIENT_ID: &str = "databricks-cli";

/// An authentication method brickwire implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// Personal access token (`pat`).
    Pat,
    /// Legacy username and password (`basic`).
    Basic,
    /// Service principal client credentials (`oauth-m2m`).
    OAuthM2m,
    /// A stored user login refreshed with its refresh token (`external-browser`, alias
    /// `oauth-u2m`); see [`ResolvedConfig::oauth_refresh_credentials`].
    ExternalBrowser,
    /// The tokens of a `brickwire auth login` / `databricks auth login`, kept in the Databricks
    /// CLI's token cache (`databricks-cli`); see [`ResolvedConfig::databricks_cli_credentials`].
    DatabricksCli,
}

impl AuthType {
    /// Every supported value of `auth_type`.
    pub const SUPPORTED: &'static [&'static str] = &[
        "pat",
        "basic",
        "oauth-m2m",
        "external-browser",
        "oauth-u2m",
        "databricks-cli",
    ];

    /// The SDK's name of this auth type.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Pat => "pat",
            AuthType::Basic => "basic",
            AuthType::OAuthM2m => "oauth-m2m",
            AuthType::ExternalBrowser => "external-browser",
            AuthType::DatabricksCli => "databricks-cli",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pat" => Ok(AuthType::Pat),
            "basic" => Ok(AuthType::Basic),
            "oauth-m2m" => Ok(AuthType::OAuthM2m),
            "external-browser" | "oauth-u2m" => Ok(AuthType::ExternalBrowser),
            "databricks-cli" => Ok(AuthType::DatabricksCli),
            _ => Err(Error::Config(format!(
                "auth_type: unknown auth type `{s}`; supported: {}",
                AuthType::SUPPORTED.join(", ")
            ))),
        }
    }
}

/// Where a resolved attribute came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Set on the [`Config`] by the caller.
    Explicit,
    /// An environment variable.
    Env(&'static str),
    /// A profile of a config file.
    Profile {
        /// The profile (INI section) name.
        profile: String,
        /// The file it was read from.
        file: PathBuf,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Explicit => f.write_str("explicit setting"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Profile { profile, file } => {
                write!(f, "profile {profile} of {}", file.display())
            }
        }
    }
}

/// A configuration with every source applied and checked; build clients from it.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// Normalised workspace URL (`https://host[:port]`, no trailing slash), if configured.
    pub host: Option<String>,
    /// Personal access token.
    pub token: Option<SecretString>,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// OAuth client secret.
    pub client_secret: Option<SecretString>,
    /// Basic auth user name.
    pub username: Option<String>,
    /// Basic auth password.
    pub password: Option<SecretString>,
    /// Databricks account id.
    pub account_id: Option<String>,
    /// Workspace id.
    pub workspace_id: Option<String>,
    /// The auth method to use: the configured `auth_type`, else the one the attributes imply;
    /// `None` if nothing is configured.
    pub auth_type: Option<AuthType>,
    /// The profile that was loaded by name (`None` when none was, or `DEFAULT` as fallback).
    pub profile: Option<String>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Default cluster.
    pub cluster_id: Option<String>,
    /// Default SQL warehouse.
    pub warehouse_id: Option<String>,
    /// OIDC discovery document override.
    pub discovery_url: Option<Url>,
    /// Client-side request rate cap per second.
    pub rate_limit: Option<f64>,
    /// Per-attempt HTTP timeout.
    pub http_timeout: Duration,
    /// Overall retry deadline.
    pub retry_timeout: Duration,
    /// OAuth scopes, sorted and deduplicated; `["all-apis"]` by default.
    pub scopes: Vec<String>,
    /// Whether OAuth requests accept any TLS certificate.
    pub skip_verify: bool,
    /// The Databricks CLI's token cache (`~/.databricks/token-cache.json`) that `databricks-cli`
    /// auth reads and writes; `None` without a home directory.
    pub token_cache_file: Option<PathBuf>,
    sources: BTreeMap<&'static str, Source>,
}

impl Config {
    /// Resolves with the process environment and the user's home directory.
    pub fn resolve(&self) -> Result<ResolvedConfig> {
        let env = |name: &str| std::env::var(name).ok();
        self.resolve_with(&env, std::env::home_dir().as_deref())
    }

    /// Resolves with an injected environment and home directory (`None`: no home, so no
    /// default config file). Tests use this; see the module docs for the rules.
    pub fn resolve_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<ResolvedConfig> {
        let mut layered = Layered {
            config: self.clone(),
            sources: BTreeMap::new(),
        };
        layered.record_explicit();
        for (attr, var) in ENV_VARS {
            if let Some(value) = env(var).filter(|v| !v.trim().is_empty()) {
                layered.apply(attr, &value, Source::Env(var))?;
            }
        }
        let config_file = layered.load_profile(home)?;
        let token_cache_file = home.map(|h| h.join(CLI_TOKEN_CACHE_PATH));
        layered.finish(config_file, token_cache_file)
    }

    /// Resolves (process environment, home directory) and builds a client; see
    /// [`ResolvedConfig::client`].
    pub fn client(&self) -> Result<Client> {
        self.resolve()?.client()
    }
}

/// The resolution in progress: values so far and where each came from.
struct Layered {
    config: Config,
    sources: BTreeMap<&'static str, Source>,
}

fn parse_positive(field: &str, raw: &str, source: &Source) -> Result<f64> {
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(Error::Config(format!(
            "{field}: `{raw}` (from {source}) is not a positive number"
        ))),
    }
}

fn parse_bool(field: &str, raw: &str, source: &Source) -> Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::Config(format!(
            "{field}: `{raw}` (from {source}) is not true or false"
        ))),
    }
}

fn parse_scopes(raw: &str) -> Vec<String> {
    let mut scopes: Vec<String> = raw
        .split([',', ' ', '\t'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

impl Layered {
    fn record_explicit(&mut self) {
        let c = &self.config;
        let set = [
            ("host", c.host.is_some()),
            ("token", c.token.is_some()),
            ("client_id", c.client_id.is_some()),
            ("client_secret", c.client_secret.is_some()),
            ("username", c.username.is_some()),
            ("password", c.password.is_some()),
            ("account_id", c.account_id.is_some()),
            ("workspace_id", c.workspace_id.is_some()),
            ("auth_type", c.auth_type.is_some()),
            ("profile", c.profile.is_some()),
            ("config_file", c.config_file.is_some()),
            ("cluster_id", c.cluster_id.is_some()),
            ("warehouse_id", c.warehouse_id.is_some()),
            ("discovery_url", c.discovery_url.is_some()),
            ("rate_limit", c.rate_limit.is_some()),
            ("http_timeout_seconds", c.http_timeout.is_some()),
            ("retry_timeout_seconds", c.retry_timeout.is_some()),
            ("scopes", c.scopes.is_some()),
            ("skip_verify", c.skip_verify.is_some()),
        ];
        for (attr, is_set) in set {
            if is_set {
                self.sources.insert(attr, Source::Explicit);
            }
        }
    }

    fn source(&self, attr: &str) -> Source {
        self.sources.get(attr).cloned().unwrap_or(Source::Explicit)
    }

    /// Sets `attr` from a textual source unless an earlier source set it. Unknown keys (other
    /// tools' profile keys) are ignored.
    fn apply(&mut self, attr: &str, raw: &str, source: Source) -> Result<()> {
        fn fill<T>(slot: &mut Option<T>, value: impl FnOnce() -> Result<T>) -> Result<bool> {
            if slot.is_some() {
                return Ok(false);
            }
            *slot = Some(value()?);
            Ok(true)
        }
        let c = &mut self.config;
        let text = || Ok(raw.trim().to_owned());
        let secret = || Ok(SecretString::new(raw.trim()));
        let (key, filled): (&'static str, bool) = match attr {
            "host" => ("host", fill(&mut c.host, text)?),
            "token" => ("token", fill(&mut c.token, secret)?),
            "client_id" => ("client_id", fill(&mut c.client_id, text)?),
            "client_secret" => ("client_secret", fill(&mut c.client_secret, secret)?),
            "username" => ("username", fill(&mut c.username, text)?),
            "password" => ("password", fill(&mut c.password, secret)?),
            "account_id" => ("account_id", fill(&mut c.account_id, text)?),
            "workspace_id" => ("workspace_id", fill(&mut c.workspace_id, text)?),
            "auth_type" => ("auth_type", fill(&mut c.auth_type, text)?),
            "cluster_id" => ("cluster_id", fill(&mut c.cluster_id, text)?),
            "warehouse_id" => ("warehouse_id", fill(&mut c.warehouse_id, text)?),
            "discovery_url" => ("discovery_url", fill(&mut c.discovery_url, text)?),
            // `profile` and `config_file` choose the file, so only explicit settings and the
            // environment can set them.
            "profile" if matches!(source, Source::Env(_)) => {
                ("profile", fill(&mut c.profile, text)?)
            }
            "config_file" if matches!(source, Source::Env(_)) => (
                "config_file",
                fill(&mut c.config_file, || Ok(PathBuf::from(raw.trim())))?,
            ),
            "rate_limit" => (
                "rate_limit",
                fill(&mut c.rate_limit, || parse_positive(attr, raw, &source))?,
            ),
            "http_timeout_seconds" => (
                "http_timeout_seconds",
                fill(&mut c.http_timeout, || {
                    parse_positive(attr, raw, &source).map(Duration::from_secs_f64)
                })?,
            ),
            "retry_timeout_seconds" => (
                "retry_timeout_seconds",
                fill(&mut c.retry_timeout, || {
                    parse_positive(attr, raw, &source).map(Duration::from_secs_f64)
                })?,
            ),
            "scopes" => ("scopes", fill(&mut c.scopes, || Ok(parse_scopes(raw)))?),
            "skip_verify" => (
                "skip_verify",
                fill(&mut c.skip_verify, || parse_bool(attr, raw, &source))?,
            ),
            _ => return Ok(()),
        };
        if filled {
            self.sources.insert(key, source);
        }
        Ok(())
    }

    fn any_auth(&self) -> bool {
        let c = &self.config;
        c.token.is_some()
            || c.username.is_some()
            || c.password.is_some()
            || c.client_id.is_some()
            || c.client_secret.is_some()
    }

    /// Applies a profile of the config file when the rules say so; returns the file read.
    fn load_profile(&mut self, home: Option<&Path>) -> Result<Option<PathBuf>> {
        let requested = self.config.profile.clone().filter(|p| !p.is_empty());
        if requested.is_none() && (self.config.host.is_some() || self.any_auth()) {
            return Ok(None);
        }
        let path = match (&self.config.config_file, home) {
            (Some(file), _) => expand_home(file, home),
            (None, Some(home)) => home.join(".databrickscfg"),
            (None, None) => {
                return match requested {
                    Some(p) => Err(Error::Config(format!(
                        "profile `{p}` was requested but there is no home directory to find \
                         ~/.databrickscfg in; set config_file or DATABRICKS_CONFIG_FILE"
                    ))),
                    None => Ok(None),
                };
            }
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return match requested {
                    Some(p) => Err(Error::Config(format!(
                        "profile `{p}` was requested but config file {} does not exist",
                        path.display()
                    ))),
                    None => Ok(None),
                };
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read config file {}: {e}",
                    path.display()
                )));
            }
        };
        let options = ini::ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: false,
            enabled_preserve_key_leading_whitespace: false,
        };
        let ini = ini::Ini::load_from_str_opt(&text, options).map_err(|e| {
            Error::Config(format!("cannot parse config file {}: {e}", path.display()))
        })?;
        let reserved = |name: &str| {
            Error::Config(format!(
                "{SETTINGS_SECTION} is a reserved section of {} and cannot be used as profile \
                 `{name}`",
                path.display()
            ))
        };
        let (profile, named) = match requested {
            Some(p) if p == SETTINGS_SECTION => return Err(reserved(&p)),
            Some(p) => (p, true),
            None => {
                let default = ini
                    .section(Some(SETTINGS_SECTION))
                    .and_then(|s| s.get("default_profile"))
                    .map(str::trim)
                    .filter(|s| !s.is_empty());
                match default {
                    Some(p) if p == SETTINGS_SECTION => return Err(reserved(p)),
                    Some(p) => (p.to_owned(), true),
                    None => ("DEFAULT".to_owned(), false),
                }
            }
        };
        let Some(section) = ini.section(Some(profile.as_str())) else {
            if !named {
                return Ok(Some(path));
            }
            let available: Vec<&str> = ini
                .sections()
                .flatten()
                .filter(|s| *s != SETTINGS_SECTION)
                .collect();
            return Err(Error::Config(format!(
                "config file {} has no profile `{profile}` (profiles there: {})",
                path.display(),
                if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                }
            )));
        };
        let source = Source::Profile {
            profile: profile.clone(),
            file: path.clone(),
        };
        for (key, value) in section.iter() {
            let key = key.trim().to_ascii_lowercase();
            if value.trim().is_empty() {
                continue;
            }
            self.apply(&key, value, source.clone())?;
        }
        if named {
            self.config.profile = Some(profile);
        }
        Ok(Some(path))
    }

    fn finish(
        self,
        config_file: Option<PathBuf>,
        token_cache_file: Option<PathBuf>,
    ) -> Result<ResolvedConfig> {
        let c = &self.config;
        let host = c
            .host
            .as_deref()
            .filter(|h| !h.trim().is_empty())
            .map(|h| {
                normalize_host(h)
                    .map_err(|e| Error::Config(format!("{e} (from {})", self.source("host"))))
            })
            .transpose()?;
        let check = |field: &'static str, value: Option<f64>| -> Result<()> {
            match value {
                Some(v) if !(v.is_finite() && v > 0.0) => Err(Error::Config(format!(
                    "{field}: {v} (from {}) is not a positive number",
                    self.source(field)
                ))),
                _ => Ok(()),
            }
        };
        check("rate_limit", c.rate_limit)?;
        check(
            "http_timeout_seconds",
            c.http_timeout.map(|d| d.as_secs_f64()),
        )?;
        check(
            "retry_timeout_seconds",
            c.retry_timeout.map(|d| d.as_secs_f64()),
        )?;
        let discovery_url = c
            .discovery_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(|u| {
                Url::parse(u.trim()).map_err(|e| {
                    Error::Config(format!(
                        "discovery_url: `{u}` (from {}) is not a URL: {e}",
                        self.source("discovery_url")
                    ))
                })
            })
            .transpose()?;
        let forced = c
            .auth_type
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .map(AuthType::from_str)
            .transpose()?;
        let auth_type = self.choose_auth(forced)?;
        let defaults = ClientOptions::default();
        let scopes = c
            .scopes
            .clone()
            .map(|s| parse_scopes(&s.join(" ")))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["all-apis".to_owned()]);
        Ok(ResolvedConfig {
            host,
            token: c.token.clone(),
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            account_id: c.account_id.clone(),
            workspace_id: c.workspace_id.clone(),
            auth_type,
            profile: c.profile.clone(),
            config_file,
            cluster_id: c.cluster_id.clone(),
            warehouse_id: c.warehouse_id.clone(),
            discovery_url,
            rate_limit: c.rate_limit.or(defaults.rate_limit),
            http_timeout: c.http_timeout.unwrap_or(defaults.http_timeout),
            retry_timeout: c.retry_timeout.unwrap_or(defaults.retry_timeout),
            scopes,
            skip_verify: c.skip_verify.unwrap_or(false),
            token_cache_file,
            sources: self.sources,
        })
    }

    /// The SDK's rule: one auth method unless `auth_type` picks one.
    fn choose_auth(&self, forced: Option<AuthType>) -> Result<Option<AuthType>> {
        let c = &self.config;
        let groups: [(&str, &[&'static str]); 3] = [
            ("basic", &["username", "password"]),
            ("oauth", &["client_id", "client_secret"]),
            ("pat", &["token"]),
        ];
        let used: Vec<(&str, Vec<&'static str>)> = groups
            .iter()
            .map(|(name, attrs)| {
                let set: Vec<&'static str> = attrs
                    .iter()
                    .copied()
                    .filter(|a| self.sources.contains_key(a))
                    .collect();
                (*name, set)
            })
            .filter(|(_, set)| !set.is_empty())
            .collect();
        if let Some(forced) = forced {
            let missing: Vec<&str> = match forced {
                AuthType::Pat => vec!["token"]
                    .into_iter()
                    .filter(|_| c.token.is_none())
                    .collect(),
                AuthType::Basic => [
                    ("username", c.username.is_none()),
                    ("password", c.password.is_none()),
                ]
                .into_iter()
                .filter_map(|(a, m)| m.then_some(a))
                .collect(),
                AuthType::OAuthM2m => [
                    ("client_id", c.client_id.is_none()),
                    ("client_secret", c.client_secret.is_none()),
                ]
                .into_iter()
                .filter_map(|(a, m)| m.then_some(a))
                .collect(),
                // Both need only a host (checked when the client is built) and stored tokens.
                AuthType::ExternalBrowser | AuthType::DatabricksCli => Vec::new(),
            };
            if !missing.is_empty() {
                return Err(Error::Config(format!(
                    "auth_type {forced} (from {}) needs {}, which is not set",
                    self.source("auth_type"),
                    missing.join(" and ")
                )));
            }
            return Ok(Some(forced));
        }
        if used.len() > 1 {
            let names: Vec<&str> = used.iter().map(|(n, _)| *n).collect();
            let origins: Vec<String> = used
                .iter()
                .flat_map(|(_, attrs)| attrs.iter())
                .map(|a| format!("{a} from {}", self.source(a)))
                .collect();
            return Err(Error::Config(format!(
                "more than one authorization method configured: {} ({}); set auth_type to pick one",
                names.join(" and "),
                origins.join(", ")
            )));
        }
        Ok(if c.token.is_some() {
            Some(AuthType::Pat)
        } else if c.username.is_some() && c.password.is_some() {
            Some(AuthType::Basic)
        } else if c.client_id.is_some() && c.client_secret.is_some() {
            Some(AuthType::OAuthM2m)
        } else {
            None
        })
    }
}

/// Whether `url` points at this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Normalises a workspace or account host the way the SDKs do: `https://` when no scheme is
/// given, no trailing `/`, no `:443`. Plain `http` is accepted only for loopback hosts. A
/// query or fragment (as in a URL copied from the browser, `?o=123#...`) is dropped; a path is
/// an error, because API paths are absolute.
///
/// ```
/// use brickwire_client::config::normalize_host;
/// assert_eq!(normalize_host("dbc-1.cloud.databricks.com:443/").unwrap(),
///            "https://dbc-1.cloud.databricks.com");
/// assert!(normalize_host("http://dbc-1.cloud.databricks.com").is_err());
/// ```
pub fn normalize_host(raw: &str) -> std::result::Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("host: empty".to_owned());
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| format!("host: `{trimmed}` is not a valid host or URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("host: the URL must not contain a user name or password".to_owned());
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "host: `{trimmed}` uses plain http, which is allowed only for loopback hosts \
                 (localhost, 127.0.0.0/8, ::1); use https"
            ));
        }
        other => {
            return Err(format!("host: `{trimmed}` has scheme `{other}`; use https"));
        }
    }
    let Some(name) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(format!("host: `{trimmed}` has no host name"));
    };
    if url.path().trim_matches('/').is_empty() {
        // `Url` already drops the scheme's default port (`:443` for https, `:80` for http);
        // any other port, including `http://...:443`, is kept as given.
        let mut out = format!("{}://{name}", url.scheme());
        if let Some(port) = url.port() {
            out.push_str(&format!(":{port}"));
        }
        Ok(out)
    } else {
        Err(format!(
            "host: `{trimmed}` has a path (`{}`); give only the workspace URL",
            url.path()
        ))
    }
}

impl ResolvedConfig {
    /// Where attribute `attr` (an SDK attribute name, e.g. `host`, `http_timeout_seconds`)
    /// came from, if it was set.
    pub fn source(&self, attr: &str) -> Option<&Source> {
        self.sources.get(attr)
    }

    /// The host as a URL, or an error saying how to configure it.
    pub fn host_url(&self) -> Result<Url> {
        let host = self.host.as_deref().ok_or_else(|| {
            Error::Config(
                "host is not configured: set host, DATABRICKS_HOST, or a profile with a host"
                    .to_owned(),
            )
        })?;
        Url::parse(host).map_err(|e| Error::Config(format!("host: `{host}`: {e}")))
    }

    /// The transport settings for [`Client::with_credentials`].
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            http_timeout: self.http_timeout,
            retry_timeout: self.retry_timeout,
            rate_limit: self.rate_limit,
        }
    }

    /// The HTTP client the OAuth providers use for discovery and token requests.
    pub fn oauth_http_client(&self) -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .user_agent(concat!("brickwire/", env!("CARGO_PKG_VERSION")))
            .timeout(self.http_timeout)
            .danger_accept_invalid_certs(self.skip_verify)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
    }

    /// How OAuth providers find the token endpoint: `discovery_url` if set, else discovery
    /// from the host.
    pub fn token_endpoint(&self) -> Result<TokenEndpoint> {
        Ok(TokenEndpoint::discover(
            self.host_url()?,
            self.discovery_url.clone(),
            self.account_id.clone(),
        ))
    }

    /// The credentials provider for [`Self::auth_type`].
    ///
    /// `external-browser` needs a stored token set, so it is built with
    /// [`Self::oauth_refresh_credentials`] instead and passed to
    /// [`Self::client_with_credentials`].
    pub fn credentials(&self) -> Result<Arc<dyn CredentialsProvider>> {
        let missing = |what: &str| Error::Config(format!("{what} is not set"));
        match self.auth_type {
            Some(AuthType::Pat) => {
                let token = self.token.as_ref().ok_or_else(|| missing("token"))?;
                Ok(Arc::new(PatCredentials::new(token)))
            }
            Some(AuthType::Basic) => {
                let username = self
                    .username
                    .as_deref()
                    .ok_or_else(|| missing("username"))?;
                let password = self.password.as_ref().ok_or_else(|| missing("password"))?;
                Ok(Arc::new(BasicCredentials::new(username, password)))
            }
            Some(AuthType::OAuthM2m) => {
                let client_id = self.client_id.clone().ok_or_else(|| missing("client_id"))?;
                let secret = self
                    .client_secret
                    .clone()
                    .ok_or_else(|| missing("client_secret"))?;
                Ok(Arc::new(
                    OAuthM2mCredentials::new(
                        client_id,
                        secret,
                        self.token_endpoint()?,
                        self.oauth_http_client()?,
                    )
                    .with_scopes(&self.scopes),
                ))
            }
            Some(AuthType::ExternalBrowser) => Err(Error::Config(
                "auth_type external-browser needs the tokens of a stored login: build the \
                 provider with ResolvedConfig::oauth_refresh_credentials and pass it to \
                 client_with_credentials"
                    .to_owned(),
            )),
            Some(AuthType::DatabricksCli) => Ok(Arc::new(self.databricks_cli_credentials()?)),
            None => Err(Error::Config(self.no_auth_message())),
        }
    }

    /// The keys this configuration's login is cached under in the Databricks CLI's token
    /// cache, in lookup order: the profile name (if a profile was loaded by name), then the
    /// host key ([`host_cache_key`]).
    pub fn token_cache_keys(&self) -> Result<Vec<String>> {
        let host = self.host_url()?;
        let mut keys = Vec::new();
        if let Some(profile) = self.profile.as_deref().filter(|p| !p.is_empty()) {
            keys.push(profile.to_owned());
        }
        keys.push(host_cache_key(
            host.as_str().trim_end_matches('/'),
            self.account_id.as_deref(),
        ));
        Ok(keys)
    }

    /// `databricks-cli` auth: the tokens of a `brickwire auth login` (or `databricks auth
    /// login`) from the token cache, refreshed with their refresh token as `client_id`
    /// (default [`DEFAULT_U2M_CLIENT_ID`]) when they expire. Every refreshed token set is
    /// written back to the cache at once (under the profile and host keys), so a rotated
    /// refresh token is never lost; a refresh that fails because another process rotated the
    /// tokens first continues from that process's tokens (see [`DatabricksCliCredentials`]).
    pub fn databricks_cli_credentials(&self) -> Result<DatabricksCliCredentials> {
        let keys = self.token_cache_keys()?;
        let login_hint = {
            let host = self.host.as_deref().unwrap_or("<workspace URL>");
            let client = match self.client_id.as_deref() {
                Some(id) if id != DEFAULT_U2M_CLIENT_ID => format!(" --client-id {id}"),
                _ => String::new(),
            };
            let profile = match self.profile.as_deref() {
                Some(p) => format!(" --profile {p}"),
                None => String::new(),
            };
            format!("brickwire auth login --host {host}{client}{profile}")
        };
        let path = self.token_cache_file.clone().ok_or_else(|| {
            Error::Config(
                "auth_type databricks-cli needs the token cache ~/.databricks/token-cache.json, \
                 but there is no home directory"
                    .to_owned(),
            )
        })?;
        let cache = CliTokenCache::new(path);
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let Some((found, tokens)) = cache.load(&key_refs)? else {
            return Err(Error::Config(format!(
                "no cached login for {} in {}: run `{login_hint}`",
                keys.join(" or "),
                cache.path().display()
            )));
        };
        // Store under the key it was found at and the host key, so tools that look up either
        // one see the rotated tokens.
        let mut write_keys = vec![found];
        if let Some(host_key) = keys.last()
            && !write_keys.contains(host_key)
        {
            write_keys.push(host_key.clone());
        }
        let config = self.clone();
        DatabricksCliCredentials::new(
            cache,
            keys,
            write_keys,
            tokens,
            Box::new(move |tokens| config.oauth_refresh_credentials(tokens)),
            login_hint,
        )
    }

    fn no_auth_message(&self) -> String {
        let hint = match (
            self.client_id.is_some(),
            self.client_secret.is_some(),
            self.username.is_some(),
            self.password.is_some(),
        ) {
            (true, false, _, _) => {
                "client_id is set but client_secret is not (oauth-m2m needs both; \
                                    for a user login set auth_type external-browser)"
            }
            (false, true, _, _) => "client_secret is set but client_id is not",
            (_, _, true, false) => "username is set but password is not",
            (_, _, false, true) => "password is set but username is not",
            _ => {
                "set token (pat), client_id and client_secret (oauth-m2m), or username and \
                  password (basic), directly, in DATABRICKS_* variables, or in a profile"
            }
        };
        format!("no authentication configured: {hint}")
    }

    /// A U2M provider that starts from a stored token set and refreshes it as `client_id`
    /// (default [`DEFAULT_U2M_CLIENT_ID`]) with `client_secret` if set, at the configured or
    /// discovered token endpoint. Register the rotation callback with
    /// [`OAuthRefreshCredentials::on_refresh`].
    pub fn oauth_refresh_credentials(
        &self,
        tokens: OAuthTokenSet,
    ) -> Result<OAuthRefreshCredentials> {
        let client_id = self
            .client_id
            .clone()
            .unwrap_or_else(|| DEFAULT_U2M_CLIENT_ID.to_owned());
        let mut provider = OAuthRefreshCredentials::new(
            tokens,
            client_id,
            self.token_endpoint()?,
            self.oauth_http_client()?,
        );
        if let Some(secret) = &self.client_secret {
            provider = provider.with_client_secret(secret.clone());
        }
        Ok(provider)
    }

    /// A client for this host with these settings and the given provider.
    pub fn client_with_credentials(
        &self,
        credentials: Arc<dyn CredentialsProvider>,
    ) -> Result<Client> {
        Client::with_credentials(self.host_url()?, credentials, self.client_options())
    }

    /// A client with the provider [`Self::credentials`] picks.
    pub fn client(&self) -> Result<Client> {
        self.host_url()?;
        self.client_with_credentials(self.credentials()?)
    }
}
