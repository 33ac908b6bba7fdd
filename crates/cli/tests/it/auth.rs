//! `brickwire auth login` end to end: the binary against the in-process emulator, with a fake
//! browser (a script in `BROWSER`) or the printed URL, the emulator's consent page answered over
//! HTTP as a browser would (cookie, consent token, Allow or Deny), then the profile, the token
//! cache (0600), `brickwire run|api --profile` with it, and refresh with rotation written back
//! to the cache. Negative paths: state mismatch, denied consent, timeout, busy port.
//!
//! Each test runs the binary with an empty environment and its own `HOME`, so nothing of the
//! machine's Databricks configuration is read or written, and no real browser is started.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use brickwire_emulator::oauth::drive::{
    AppConnection, Decision, answer_consent, register_app_connection,
};
use brickwire_emulator::{Emulator, EmulatorOptions};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_brickwire");
/// Generous: only reached when something is broken.
const WAIT: Duration = Duration::from_secs(60);

struct Env {
    emulator: Emulator,
    http: reqwest::Client,
    home: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Env {
            emulator,
            http,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn base(&self) -> &str {
        self.emulator.base_url()
    }

    /// Creates a public app connection (single-use refresh tokens) that redirects to
    /// `redirect`, the way a user does it with a PAT; returns its client id.
    async fn create_app(&self, redirect: &str) -> String {
        let app = AppConnection {
            name: "brickwire cli test",
            redirect_urls: &[redirect],
            scopes: &["all-apis", "offline_access"],
            single_use_refresh_tokens: true,
        };
        register_app_connection(&self.http, self.base(), self.emulator.token(), &app)
            .await
            .unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs the binary to the end (off the runtime's threads).
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    fn config_file(&self) -> PathBuf {
        self.home.path().join(".databrickscfg")
    }

    fn cache_file(&self) -> PathBuf {
        self.home.path().join(".databricks/token-cache.json")
    }

    fn cache(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.cache_file()).unwrap()).unwrap()
    }

    /// Opens the consent page at `url` and submits `decision` for the first user; returns
    /// where the emulator redirects the browser.
    async fn consent(&self, url: &Url, decision: Decision) -> Url {
        let back = answer_consent(&self.http, url.as_str(), None, decision)
            .await
            .unwrap();
        Url::parse(&back).unwrap()
    }
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A login in progress: the child and its stderr lines.
struct Login {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Login {
    fn spawn(mut command: Command) -> Login {
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Login {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The authorization URL the login printed.
    fn printed_url(&mut self) -> Url {
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no URL printed; stderr so far: {:?}", self.seen));
            self.seen.push(line.clone());
            if line.contains("/oidc/v1/authorize?") {
                return Url::parse(line.trim()).unwrap();
            }
        }
    }

    /// Waits for the exit; returns success and the whole stderr.
    async fn finish(mut self) -> (bool, String) {
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            let mut seen = self.seen;
            while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                seen.push(line);
            }
            (status.success(), seen.join("\n"))
        });
        status.await.unwrap()
    }
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The happy path, with the fake browser: logs in as profile `emu` and returns the client id.
async fn log_in(env: &Env) -> String {
    let port = free_port();
    let redirect = format!("http://localhost:{port}");
    let client_id = env.create_app(&redirect).await;
    // The fake browser records the URL it was asked to open.
    let opened = env.home.path().join("opened-url");
    let script = env.home.path().join("fake-browser");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port_text = port.to_string();
    let mut command = env.command(&[
        "auth",
        "login",
        "--host",
        env.base(),
        "--client-id",
        &client_id,
        "--profile",
        "emu",
        "--redirect-port",
        &port_text,
        "--timeout",
        "120",
    ]);
    command.env("BROWSER", &script);
    let mut login = Login::spawn(command);
    let url = login.printed_url();
    assert_eq!(
        param(&url, "client_id").as_deref(),
        Some(client_id.as_str())
    );
    assert_eq!(
        param(&url, "redirect_uri").as_deref(),
        Some(redirect.as_str())
    );
    assert_eq!(
        param(&url, "scope").as_deref(),
        Some("all-apis offline_access")
    );
    assert_eq!(
        param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(param(&url, "response_type").as_deref(), Some("code"));
    assert!(param(&url, "state").is_some_and(|s| s.len() >= 16));
    // the browser was asked to open the same URL
    let deadline = std::time::Instant::now() + WAIT;
    while !opened.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), url.as_str());

    let back = env.consent(&url, Decision::Allow).await;
    assert_eq!(
        back.as_str().split('?').next(),
        Some(format!("{redirect}/").as_str())
    );
    let page = env.http.get(back).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Logged in"));
    let (ok, stderr) = login.finish().await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("Logged in to"), "{stderr}");
    client_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_writes_the_profile_and_token_cache_and_run_uses_them() {
    let env = Env::start().await;
    let client_id = log_in(&env).await;

    let config = std::fs::read_to_string(env.config_file()).unwrap();
    assert_eq!(
        config,
        format!(
            "[emu]\nhost = {}\nauth_type = databricks-cli\nclient_id = {client_id}\n",
            env.base()
        )
    );
    assert_eq!(mode(&env.cache_file()), 0o600);
    let cache = env.cache();
    assert_eq!(cache["version"], 1);
    let entry = &cache["tokens"]["emu"];
    assert_eq!(
        &cache["tokens"][env.base()],
        entry,
        "also under the host key"
    );
    assert_eq!(entry["token_type"], "Bearer");
    assert!(
        entry["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(
        entry["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(entry["expiry"].as_str().is_some_and(|t| t.ends_with('Z')));

    // `run` with the profile: the cached access token works as it is.
    let out = env.run(&["run", "list-users", "--profile", "emu"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(users.to_string().contains("userName"), "{users}");
    assert_eq!(
        env.cache()["tokens"]["emu"],
        *entry,
        "no refresh was needed"
    );

    // `sql` with the profile too
    let seeded: Value = env
        .http
        .post(format!("{}/_emulator/seed", env.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let warehouse = seeded["warehouse_id"].as_str().unwrap();
    let out = env
        .run(&[
            "sql",
            "SELECT 41 + 1 AS x",
            "--warehouse",
            warehouse,
            "--profile",
            "emu",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\n42\n");

    // The emulator's clock moves past the access token's lifetime: the workspace refuses the
    // cached token, the client refreshes, and the rotated tokens land in the cache.
    env.emulator
        .state()
        .oauth
        .lock()
        .unwrap()
        .advance_clock(Duration::from_secs(2 * 3600));
    let out = env
        .run(&[
            "api",
            "GET",
            "/api/2.0/preview/scim/v2/Me",
            "--profile",
            "emu",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(me["userName"].is_string(), "{me}");
    let rotated = env.cache()["tokens"]["emu"].clone();
    assert_ne!(rotated["access_token"], entry["access_token"]);
    assert_ne!(rotated["refresh_token"], entry["refresh_token"]);
    assert_eq!(env.cache()["tokens"][env.base()], rotated);
    assert_eq!(mode(&env.cache_file()), 0o600);

    // The old refresh token is spent (single use): only the stored one can refresh now. Mark
    // the cached access token expired, so the next command refreshes before its first call.
    let mut cache = env.cache();
    cache["tokens"]["emu"]["expiry"] = "2001-01-01T00:00:00Z".into();
    std::fs::write(env.cache_file(), cache.to_string()).unwrap();
    let out = env.run(&["run", "list-users", "--profile", "emu"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = env.cache()["tokens"]["emu"].clone();
    assert_ne!(again["refresh_token"], rotated["refresh_token"]);

    // `auth token` prints the cached token while it is fresh, and a new one on demand.
    let out = env.run(&["auth", "token", "--profile", "emu"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["access_token"], again["access_token"]);
    assert_eq!(printed["token_type"], "Bearer");
    assert_eq!(printed["expiry"], again["expiry"]);
    let out = env
        .run(&["auth", "token", "--profile", "emu", "--force-refresh"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let forced: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(forced["access_token"], again["access_token"]);
    assert_eq!(
        env.cache()["tokens"]["emu"]["access_token"],
        forced["access_token"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_login_replaces_the_profiles_auth_and_keeps_other_keys() {
    let env = Env::start().await;
    std::fs::write(
        env.config_file(),
        "[DEFAULT]\nhost = https://other.example.com\ntoken = dapi-keep\n\n[emu]\nhost = https://old.example.com\ntoken = dapi-old\nwarehouse_id = w-1\n",
    )
    .unwrap();
    let client_id = log_in(&env).await;
    let config = std::fs::read_to_string(env.config_file()).unwrap();
    assert_eq!(
        config,
        format!(
            "[DEFAULT]\nhost = https://other.example.com\ntoken = dapi-keep\n\n[emu]\nhost = {}\nauth_type = databricks-cli\nclient_id = {client_id}\nwarehouse_id = w-1\n",
            env.base()
        )
    );
    let out = env
        .run(&[
            "api",
            "GET",
            "/api/2.0/preview/scim/v2/Me",
            "--profile",
            "emu",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a login that prints its URL (no browser) on a fresh port with a fresh app.
async fn start_login(env: &Env, timeout: &str) -> (Login, String) {
    start_login_with(env, timeout, &[]).await
}

async fn start_login_with(env: &Env, timeout: &str, extra: &[&str]) -> (Login, String) {
    let port = free_port();
    let redirect = format!("http://localhost:{port}");
    let client_id = env.create_app(&redirect).await;
    let port_text = port.to_string();
    let mut args = vec![
        "auth",
        "login",
        "--host",
        env.base(),
        "--client-id",
        &client_id,
        "--profile",
        "emu",
        "--redirect-port",
        &port_text,
        "--timeout",
        timeout,
        "--no-browser",
    ];
    args.extend_from_slice(extra);
    let login = Login::spawn(env.command(&args));
    (login, redirect)
}

fn nothing_saved(env: &Env) {
    assert!(!env.config_file().exists());
    assert!(!env.cache_file().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_with_another_state_is_refused_and_nothing_is_saved() {
    let env = Env::start().await;
    let (mut login, redirect) = start_login(&env, "120").await;
    let url = login.printed_url();
    // a genuine code, delivered with a forged state
    let back = env.consent(&url, Decision::Allow).await;
    let code = param(&back, "code").unwrap();
    let forged =
        Url::parse_with_params(&redirect, &[("code", code.as_str()), ("state", "forged")]).unwrap();
    let page = env.http.get(forged).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("state does not match"));
    let (ok, stderr) = login.finish().await;
    assert!(!ok);
    assert!(stderr.contains("state does not match"), "{stderr}");
    assert!(
        !stderr.contains(&code),
        "the code is never printed: {stderr}"
    );
    nothing_saved(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_consent_fails_the_login() {
    let env = Env::start().await;
    let (mut login, _) = start_login(&env, "120").await;
    let url = login.printed_url();
    let back = env.consent(&url, Decision::Deny).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    let page = env.http.get(back).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let (ok, stderr) = login.finish().await;
    assert!(!ok);
    assert!(
        stderr.contains("access_denied") && stderr.contains("denied"),
        "{stderr}"
    );
    nothing_saved(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_nobody_finishes_times_out() {
    let env = Env::start().await;
    let (mut login, _) = start_login(&env, "1").await;
    login.printed_url();
    let (ok, stderr) = login.finish().await;
    assert!(!ok);
    assert!(stderr.contains("timed out after 1s"), "{stderr}");
    assert!(stderr.contains("--timeout"), "{stderr}");
    nothing_saved(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_port_is_a_clear_usage_error() {
    let env = Env::start().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = env
        .run(&[
            "auth",
            "login",
            "--host",
            env.base(),
            "--redirect-port",
            &port,
            "--no-browser",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--redirect-port"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    nothing_saved(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_without_a_login_says_how_to_log_in() {
    let env = Env::start().await;
    std::fs::write(
        env.config_file(),
        format!("[emu]\nhost = {}\nauth_type = databricks-cli\n", env.base()),
    )
    .unwrap();
    let out = env.run(&["run", "list-users", "--profile", "emu"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "brickwire auth login --host {} --profile emu",
            env.base()
        )),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_the_app_does_not_allow_fails_with_a_hint() {
    let env = Env::start().await;
    let (mut login, _) = start_login_with(&env, "120", &["--scopes", "sql"]).await;
    let url = login.printed_url();
    assert_eq!(param(&url, "scope").as_deref(), Some("sql offline_access"));
    // the workspace sends the browser straight back with the error
    let response = env.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let back = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_scope"));
    env.http.get(back).send().await.unwrap();
    let (ok, stderr) = login.finish().await;
    assert!(!ok);
    assert!(stderr.contains("invalid_scope"), "{stderr}");
    assert!(stderr.contains("'sql' is not allowed"), "{stderr}");
    assert!(stderr.contains("--scopes"), "{stderr}");
    nothing_saved(&env);
}

/// `$BRICKWIRE_PYTHON` or `<repo>/.venv/bin/python`, as the wire-fidelity test finds it.
fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BRICKWIRE_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    venv.exists().then_some(venv)
}

/// The official Python SDK with `auth_type="databricks-cli"` runs `brickwire auth token
/// --host ...` as its Databricks CLI and calls the workspace with the token it prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_uses_brickwire_as_its_databricks_cli() {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Python SDK: set BRICKWIRE_PYTHON or create .venv (scripts/test.sh)"
        );
        eprintln!("skipped: no Python SDK (set BRICKWIRE_PYTHON or create .venv)");
        return;
    };
    let env = Env::start().await;
    log_in(&env).await;
    let script = "import sys\n\
        from databricks.sdk import WorkspaceClient\n\
        w = WorkspaceClient(host=sys.argv[1], auth_type='databricks-cli')\n\
        print(w.current_user.me().user_name)\n";
    let mut command = Command::new(python);
    command
        .args(["-c", script, env.base()])
        .env_clear()
        .env("HOME", env.home.path())
        .env("DATABRICKS_CLI_PATH", BIN);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.trim().contains('@'), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_id_the_databricks_cli_client_is_used() {
    let env = Env::start().await;
    let port = free_port().to_string();
    let mut login = Login::spawn(env.command(&[
        "auth",
        "login",
        "--host",
        env.base(),
        "--redirect-port",
        &port,
        "--timeout",
        "1",
        "--no-browser",
    ]));
    let url = login.printed_url();
    assert_eq!(param(&url, "client_id").as_deref(), Some("databricks-cli"));
    let (ok, stderr) = login.finish().await;
    assert!(!ok, "{stderr}");
}

/// `auth login --profile NAME` without `--host` logs in again with the profile's host and
/// client id (e.g. after the refresh token expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_again_by_profile_reuses_its_host_and_client_id() {
    let env = Env::start().await;
    let client_id = log_in(&env).await;
    let redirect = format!("http://localhost:{}", free_port());
    // the app connection must know the new port too
    let second_app = env.create_app(&redirect).await;
    assert_ne!(second_app, client_id);
    std::fs::remove_file(env.cache_file()).unwrap();
    let port = redirect.rsplit(':').next().unwrap().to_owned();
    let mut login = Login::spawn(env.command(&[
        "auth",
        "login",
        "--profile",
        "emu",
        "--client-id",
        &second_app,
        "--redirect-port",
        &port,
        "--no-browser",
    ]));
    let url = login.printed_url();
    assert!(url.as_str().starts_with(env.base()), "{url}");
    let back = env.consent(&url, Decision::Allow).await;
    env.http.get(back).send().await.unwrap();
    let (ok, stderr) = login.finish().await;
    assert!(ok, "{stderr}");
    assert!(env.cache()["tokens"]["emu"]["access_token"].is_string());
    let config = std::fs::read_to_string(env.config_file()).unwrap();
    assert!(
        config.contains(&format!("client_id = {second_app}")),
        "{config}"
    );

    // without --client-id, the profile's client id is the one used
    let out_port = free_port().to_string();
    let mut login = Login::spawn(env.command(&[
        "auth",
        "login",
        "--profile",
        "emu",
        "--redirect-port",
        &out_port,
        "--timeout",
        "1",
        "--no-browser",
    ]));
    let url = login.printed_url();
    assert_eq!(
        param(&url, "client_id").as_deref(),
        Some(second_app.as_str())
    );
    login.finish().await;

    // a profile that does not exist is a usage error
    let out = env
        .run(&["auth", "login", "--profile", "nope", "--no-browser"])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no profile `nope`"));
}

/// With the emulator's `oauth.access_token_lifetime_seconds` at 1, the login's cached expiry
/// is that short, and a later command refreshes (and stores the rotation) before it can call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_access_tokens_are_refreshed_by_later_commands() {
    let env = Env::start().await;
    let patched = env
        .http
        .patch(format!("{}/_emulator/settings", env.base()))
        .json(&json!({"oauth": {"access_token_lifetime_seconds": 1}}))
        .send()
        .await
        .unwrap();
    assert!(patched.status().is_success());
    log_in(&env).await;
    let entry = env.cache()["tokens"]["emu"].clone();
    // the expiry came from `expires_in: 1`: well within a minute of now
    let expiry = entry["expiry"].as_str().unwrap();
    // both are UTC RFC 3339, so they compare as text (to the second)
    let limit = brickwire_client::credentials::format_rfc3339(
        std::time::SystemTime::now() + Duration::from_secs(60),
    );
    assert!(
        expiry[..19] <= limit[..19],
        "{expiry} is not a 1-second token ({limit})"
    );
    // the workspace's clock moves on, so the token is expired for both sides
    env.emulator
        .state()
        .oauth
        .lock()
        .unwrap()
        .advance_clock(Duration::from_secs(10));
    let out = env
        .run(&[
            "api",
            "GET",
            "/api/2.0/preview/scim/v2/Me",
            "--profile",
            "emu",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated = env.cache()["tokens"]["emu"].clone();
    assert_ne!(rotated["refresh_token"], entry["refresh_token"]);
    assert_ne!(rotated["access_token"], entry["access_token"]);
}
