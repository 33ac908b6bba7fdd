//! `brickwire auth login|token`: a person's OAuth login at a terminal, kept the way the
//! Databricks CLI keeps it, so `--profile NAME` works for every command afterwards.
//!
//! Start at [`login`]. It is the authorization code flow with PKCE (S256): a listener on
//! `127.0.0.1` (redirect `http://localhost:8020` by default, like the Databricks CLI) waits for
//! the browser to come back, the `state` is checked, the code is exchanged, and then
//! - the tokens go to the token cache `~/.databricks/token-cache.json` (mode 0600) under the
//!   profile name and the host (see `brickwire_client::credentials::CliTokenCache`);
//! - the profile in `~/.databrickscfg` (or `DATABRICKS_CONFIG_FILE`) gets `host`,
//!   `auth_type = databricks-cli` and, for a custom app, `client_id`; other keys of the profile
//!   (a default cluster, ...) are kept, other profiles and comments are untouched.
//!
//! The authorization URL is always printed, since no browser may open (a remote shell).
//! `brickwire auth token` prints a fresh access token of a profile as JSON, refreshing it (and
//! storing the rotated tokens) when needed.
//!
//! The loopback listener is [`callback`], the `~/.databrickscfg` writer [`profile_file`].
//!
//! Exit codes: 0 logged in; 1 the login failed (denied, state mismatch, timeout, exchange
//! error); 2 usage errors (bad host, busy port, bad redirect URL).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use brickwire_api::SecretString;
use brickwire_client::config::{DEFAULT_U2M_CLIENT_ID, normalize_host};
use brickwire_client::credentials::{
    CliTokenCache, CredentialsProvider, OAuthTokenSet, discover_oidc_endpoints,
    exchange_authorization_code, format_rfc3339, host_cache_key, pkce_challenge,
};
use clap::{Args, Subcommand};
use tokio::sync::mpsc;
use url::Url;

use crate::failure::{Failure, exit_code};

mod callback;
mod profile_file;

use callback::{CallbackOutcome, ListenerState, Redirect, on_callback};
pub use profile_file::write_profile;
use profile_file::{default_profile_name, valid_profile_name};

/// The port of the Databricks CLI's redirect URL, `http://localhost:8020`.
pub const DEFAULT_REDIRECT_PORT: u16 = 8020;
/// The scopes a login asks for unless `--scopes` says otherwise.
pub const DEFAULT_SCOPES: &[&str] = &["all-apis", "offline_access"];

/// `brickwire auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Log in to a workspace in the browser (OAuth with PKCE) and keep the tokens in a profile
    /// of ~/.databrickscfg and the token cache ~/.databricks/token-cache.json.
    Login(LoginArgs),
    /// Print a fresh access token of a logged-in profile as JSON (refreshing it if needed).
    Token(TokenArgs),
}

/// `brickwire auth login --host URL --client-id ID [--scopes ...] [--profile NAME]`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Workspace URL, e.g. `https://dbc-1234.cloud.databricks.com` (default: the host of
    /// `--profile`, to log in again).
    #[arg(long, required_unless_present = "profile")]
    pub host: Option<String>,
    /// OAuth client id of the app connection (default: the profile's `client_id`, else the
    /// Databricks CLI's public client `databricks-cli`).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Scopes to request, space or comma separated (default `all-apis offline_access`;
    /// `offline_access` is always added, since keeping the login needs a refresh token).
    #[arg(long, num_args = 1..)]
    pub scopes: Vec<String>,
    /// Profile to write (default: derived from the host, e.g. `dbc-1234`).
    #[arg(long, short = 'p')]
    pub profile: Option<String>,
    /// Port of the local redirect listener; the app connection must list
    /// `http://localhost:PORT` as a redirect URL. 0 picks a free port.
    #[arg(long, default_value_t = DEFAULT_REDIRECT_PORT, conflicts_with = "redirect_url")]
    pub redirect_port: u16,
    /// Full redirect URL instead, e.g. `http://127.0.0.1:8765/callback` (http on a loopback
    /// host with an explicit port).
    #[arg(long)]
    pub redirect_url: Option<String>,
    /// Seconds to wait for the browser to come back.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Do not try to open a browser; only print the URL.
    #[arg(long)]
    pub no_browser: bool,
}

/// `brickwire auth token [--profile NAME] [--host URL]`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Profile of a previous `brickwire auth login` (else `DATABRICKS_CONFIG_PROFILE`).
    #[arg(long, short = 'p')]
    pub profile: Option<String>,
    /// Workspace URL, to find a login by host instead of by profile.
    #[arg(long)]
    pub host: Option<String>,
    /// Refresh even if the cached access token is still fresh.
    #[arg(long)]
    pub force_refresh: bool,
}

/// Runs an `auth` subcommand and returns the exit code.
pub async fn run(command: AuthCommand) -> ExitCode {
    let outcome = match command {
        AuthCommand::Login(args) => {
            let env = LoginEnv::from_process();
            login(&args, &env).await.map(|done| {
                eprintln!(
                    "Logged in to {} as profile `{}` (saved in {}; tokens in {}).",
                    done.host,
                    done.profile,
                    done.config_file.display(),
                    done.token_cache.display()
                );
                eprintln!(
                    "Try: brickwire api GET /api/2.0/preview/scim/v2/Me --profile {}",
                    done.profile
                );
            })
        }
        AuthCommand::Token(args) => token(&args).await,
    };
    exit_code(outcome)
}

/// Where a login writes: the home directory, the config file and how to open a browser.
#[derive(Debug, Clone)]
pub struct LoginEnv {
    /// The user's home directory (for `~/.databrickscfg` and the token cache).
    pub home: Option<PathBuf>,
    /// `DATABRICKS_CONFIG_FILE`.
    pub config_file: Option<PathBuf>,
    /// `BROWSER`: commands to open the URL with (`:`-separated, `%s` for the URL).
    pub browser: Option<String>,
}

impl LoginEnv {
    /// Reads `HOME`, `DATABRICKS_CONFIG_FILE` and `BROWSER`.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            home: std::env::home_dir(),
            config_file: var("DATABRICKS_CONFIG_FILE").map(PathBuf::from),
            browser: var("BROWSER"),
        }
    }

    fn config_file(&self) -> Result<PathBuf, Failure> {
        match (&self.config_file, &self.home) {
            (Some(file), home) => Ok(match (file.strip_prefix("~"), home) {
                (Ok(rest), Some(home)) => home.join(rest),
                _ => file.clone(),
            }),
            (None, Some(home)) => Ok(home.join(".databrickscfg")),
            (None, None) => Err(Failure::Usage(
                "there is no home directory for ~/.databrickscfg; set DATABRICKS_CONFIG_FILE"
                    .into(),
            )),
        }
    }
}

/// What a successful login wrote.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The normalised workspace URL.
    pub host: String,
    /// The profile written.
    pub profile: String,
    /// The config file the profile is in.
    pub config_file: PathBuf,
    /// The token cache the tokens are in.
    pub token_cache: PathBuf,
}

/// The scopes to request: `--scopes` (space or comma separated, repeatable) or the default,
/// always with `offline_access`, deduplicated in order.
fn requested_scopes(raw: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    let given = raw
        .iter()
        .flat_map(|s| s.split([',', ' ', '\t']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let mut given: Vec<String> = given.collect();
    if given.is_empty() {
        given = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    }
    given.push("offline_access".into());
    for scope in given {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(buf.as_mut_slice());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Tries `BROWSER` (its `:`-separated commands; `none` disables), then `xdg-open` or `open`.
/// Returns the command that started, if any. A started command may still fail to show a page,
/// which is why the URL is always printed too.
fn open_browser(url: &str, browser: Option<&str>) -> Option<String> {
    let mut candidates: Vec<Vec<String>> = Vec::new();
    match browser {
        Some(b) if b.trim().eq_ignore_ascii_case("none") => return None,
        Some(b) => {
            for command in b.split(':').filter(|c| !c.trim().is_empty()) {
                let mut parts: Vec<String> =
                    command.split_whitespace().map(str::to_owned).collect();
                if parts.iter().any(|p| p.contains("%s")) {
                    parts = parts.into_iter().map(|p| p.replace("%s", url)).collect();
                } else {
                    parts.push(url.to_owned());
                }
                candidates.push(parts);
            }
        }
        None => {}
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    candidates.push(vec![opener.to_owned(), url.to_owned()]);
    for parts in candidates {
        let Some((program, rest)) = parts.split_first() else {
            continue;
        };
        let spawned = std::process::Command::new(program)
            .args(rest)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(mut child) = spawned {
            // reap it in the background so it does not linger as a zombie
            std::thread::spawn(move || child.wait());
            return Some(program.clone());
        }
    }
    None
}

/// Runs the whole login; see the module docs.
pub async fn login(args: &LoginArgs, env: &LoginEnv) -> Result<LoggedIn, Failure> {
    let config_file = env.config_file()?;
    let (raw_host, profile_client_id) = match (&args.host, &args.profile) {
        (Some(host), _) => (host.clone(), None),
        (None, Some(profile)) => {
            // Log in again to an existing profile: its host and client id.
            let resolved = brickwire_client::Config {
                profile: Some(profile.clone()),
                config_file: Some(config_file.clone()),
                ..Default::default()
            }
            .resolve_with(&|_| None, env.home.as_deref())
            .map_err(|e| Failure::Usage(format!("{e}; or give --host")))?;
            let host = resolved.host.clone().ok_or_else(|| {
                Failure::Usage(format!("profile `{profile}` has no host: give --host"))
            })?;
            (host, resolved.client_id.clone())
        }
        (None, None) => return Err(Failure::Usage("give --host or --profile".into())),
    };
    let host = normalize_host(&raw_host).map_err(Failure::Usage)?;
    let host_url = Url::parse(&host).map_err(|e| Failure::Usage(format!("host: {e}")))?;
    let client_id = args
        .client_id
        .clone()
        .or(profile_client_id)
        .unwrap_or_else(|| DEFAULT_U2M_CLIENT_ID.to_owned())
        .trim()
        .to_owned();
    if client_id.is_empty() {
        return Err(Failure::Usage("--client-id is empty".into()));
    }
    let profile = match &args.profile {
        Some(p) if valid_profile_name(p) => p.clone(),
        Some(p) => {
            return Err(Failure::Usage(format!(
                "--profile `{p}`: use letters, digits, `-`, `_` and `.` only"
            )));
        }
        None => default_profile_name(&host_url),
    };
    let token_cache = CliTokenCache::in_home(env.home.as_deref().ok_or_else(|| {
        Failure::Usage("there is no home directory for ~/.databricks/token-cache.json".into())
    })?);
    let scopes = requested_scopes(&args.scopes);
    let mut redirect = Redirect::from_args(args)?;

    // Bind before anything else, so a busy port fails fast and before a browser opens.
    let listener = tokio::net::TcpListener::bind(redirect.bind)
        .await
        .map_err(|e| {
            let busy = e.kind() == std::io::ErrorKind::AddrInUse;
            Failure::Usage(format!(
                "cannot listen on {} for the login callback: {e}{}",
                redirect.bind,
                if busy {
                    ". Another login may be running; close it, or choose another port with \
                     --redirect-port N (the app connection must list http://localhost:N as a \
                     redirect URL; N = 0 picks a free port)"
                } else {
                    ""
                }
            ))
        })?;
    if redirect.bind.port() == 0 {
        let port = listener
            .local_addr()
            .map_err(|e| Failure::Failed(format!("listener address: {e}")))?
            .port();
        redirect.bind.set_port(port);
        let _ = redirect.url.set_port(Some(port));
    }
    let redirect_uri = redirect.uri();

    let http = reqwest::Client::builder()
        .user_agent(concat!("brickwire/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Failure::Failed(format!("cannot build the HTTP client: {e}")))?;
    let endpoints = discover_oidc_endpoints(&http, &host_url, None, None)
        .await
        .map_err(|e| Failure::Failed(format!("{host} does not look like a workspace: {e}")))?;
    let authorize = endpoints.authorization_endpoint.ok_or_else(|| {
        Failure::Failed(format!(
            "{host}'s OAuth discovery document has no authorization_endpoint"
        ))
    })?;

    let verifier = SecretString::new(random_token(32));
    let state = SecretString::new(random_token(16));
    let mut url = authorize.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", state.expose_secret())
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");

    let (done_tx, mut done_rx) = mpsc::channel::<CallbackOutcome>(1);
    let listener_state = ListenerState {
        path: redirect.path.clone().into(),
        state: Arc::new(state),
        host: host.clone().into(),
        done: done_tx,
    };
    let app = axum::Router::new()
        .fallback(on_callback)
        .with_state(listener_state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
    });

    {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "Open this URL in a browser to log in to {host} (waiting up to {}s for {redirect_uri}):\n\n{url}\n",
            args.timeout
        );
    }
    if !args.no_browser {
        match open_browser(url.as_str(), env.browser.as_deref()) {
            Some(program) => eprintln!("(asked `{program}` to open it)"),
            None => eprintln!("(no browser could be started: open the URL yourself)"),
        }
    }

    let waited = tokio::time::timeout(Duration::from_secs(args.timeout), done_rx.recv()).await;
    // Let the listener finish sending the result page, then stop it.
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    let code = match waited {
        Ok(Some(Ok(code))) => code,
        Ok(Some(Err(message))) => return Err(Failure::Failed(message)),
        Ok(None) => return Err(Failure::Failed("the callback listener stopped".into())),
        Err(_) => {
            return Err(Failure::Failed(format!(
                "timed out after {}s waiting for the browser to come back to {redirect_uri}; \
                 nothing was saved. Open the printed URL and finish the login sooner, or raise \
                 --timeout",
                args.timeout
            )));
        }
    };

    let tokens = exchange_authorization_code(
        &http,
        &endpoints.token_endpoint,
        &client_id,
        None,
        &code,
        &redirect_uri,
        &verifier,
    )
    .await
    .map_err(|e| Failure::Failed(format!("exchanging the authorization code failed: {e}")))?;
    if tokens.refresh_token.is_none() {
        eprintln!(
            "warning: the workspace granted no refresh token, so this login ends when the \
             access token expires"
        );
    }

    let host_key = host_cache_key(&host, None);
    token_cache
        .store(&[profile.as_str(), host_key.as_str()], &tokens)
        .map_err(|e| Failure::Failed(format!("cannot save the tokens: {e}")))?;
    let mut entries: Vec<(&str, String)> = vec![
        ("host", host.clone()),
        ("auth_type", "databricks-cli".into()),
    ];
    if client_id != DEFAULT_U2M_CLIENT_ID {
        entries.push(("client_id", client_id.clone()));
    }
    write_profile(&config_file, &profile, &entries)
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", config_file.display())))?;
    Ok(LoggedIn {
        host,
        profile,
        config_file,
        token_cache: token_cache.path().to_owned(),
    })
}

/// `brickwire auth token`: loads the login, refreshes it if it is about to expire (or when
/// `--force-refresh`), and prints `{"access_token", "token_type", "expiry"}` as the
/// Databricks CLI does.
async fn token(args: &TokenArgs) -> Result<(), Failure> {
    let config = brickwire_client::Config {
        host: args.host.clone().filter(|h| !h.trim().is_empty()),
        profile: args.profile.clone(),
        auth_type: Some("databricks-cli".into()),
        ..Default::default()
    }
    .resolve()
    .map_err(|e| Failure::Usage(e.to_string()))?;
    let provider = config
        .databricks_cli_credentials()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let cache = CliTokenCache::new(
        config
            .token_cache_file
            .clone()
            .ok_or_else(|| Failure::Usage("no home directory".into()))?,
    );
    let keys = config
        .token_cache_keys()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let current = cache
        .load(&key_refs)
        .map_err(|e| Failure::Failed(e.to_string()))?
        .map(|(_, t)| t.authorization());
    let rejected = if args.force_refresh {
        current.as_ref()
    } else {
        None
    };
    let header = provider
        .authorization(rejected)
        .await
        .map_err(|e| Failure::Failed(format!("cannot get a fresh token: {e}; log in again")))?;
    // A refresh has written the new tokens to the cache before `authorization` returned.
    let tokens = cache
        .load(&key_refs)
        .map_err(|e| Failure::Failed(e.to_string()))?
        .map(|(_, t)| t)
        .filter(|t: &OAuthTokenSet| t.authorization() == header)
        .ok_or_else(|| {
            Failure::Failed(format!(
                "the refreshed token could not be read back from {}",
                cache.path().display()
            ))
        })?;
    let mut out = serde_json::json!({
        "access_token": tokens.access_token.expose_secret(),
        "token_type": if tokens.token_type.is_empty() { "Bearer" } else { &tokens.token_type },
    });
    if let Some(expiry) = tokens.expires_at {
        out["expiry"] = format_rfc3339(expiry).into();
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login_args(extra: &[&str]) -> Result<LoginArgs, clap::Error> {
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            command: AuthCommand,
        }
        use clap::Parser as _;
        let argv = ["brickwire", "login", "--host", "https://h.example.com"]
            .into_iter()
            .chain(extra.iter().copied());
        match Cli::try_parse_from(argv)?.command {
            AuthCommand::Login(args) => Ok(args),
            AuthCommand::Token(_) => unreachable!(),
        }
    }

    #[test]
    fn defaults_match_the_databricks_cli() {
        let args = login_args(&[]).unwrap();
        assert_eq!(args.client_id, None);
        let redirect = Redirect::from_args(&args).unwrap();
        assert_eq!(redirect.uri(), "http://localhost:8020");
        assert_eq!(redirect.bind, "127.0.0.1:8020".parse().unwrap());
        assert_eq!(redirect.path, "/");
        assert_eq!(
            requested_scopes(&args.scopes),
            vec!["all-apis", "offline_access"]
        );
    }

    #[test]
    fn scopes_are_split_deduplicated_and_keep_offline_access() {
        let args = login_args(&["--scopes", "sql,all-apis", "sql"]).unwrap();
        assert_eq!(
            requested_scopes(&args.scopes),
            vec!["sql", "all-apis", "offline_access"]
        );
        let args = login_args(&["--scopes", "offline_access all-apis"]).unwrap();
        assert_eq!(
            requested_scopes(&args.scopes),
            vec!["offline_access", "all-apis"]
        );
    }

    #[test]
    fn redirect_urls_must_be_loopback_http_with_a_port() {
        let r = Redirect::from_args(
            &login_args(&["--redirect-url", "http://127.0.0.1:9999/callback"]).unwrap(),
        )
        .unwrap();
        assert_eq!(r.bind, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(r.path, "/callback");
        assert_eq!(r.uri(), "http://127.0.0.1:9999/callback");
        let r = Redirect::from_args(&login_args(&["--redirect-port", "9000"]).unwrap()).unwrap();
        assert_eq!(r.uri(), "http://localhost:9000");
        for bad in [
            "https://localhost:9999/",
            "http://example.com:9999/",
            "http://localhost/",
            "http://localhost:9999/?a=b",
            "not a url",
        ] {
            let args = login_args(&["--redirect-url", bad]).unwrap();
            assert!(
                matches!(Redirect::from_args(&args), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
        // one or the other
        assert!(
            login_args(&[
                "--redirect-url",
                "http://localhost:1/",
                "--redirect-port",
                "2"
            ])
            .is_err()
        );
    }
}
