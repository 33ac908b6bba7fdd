//! `brickwire accounts list|add|remove` and `brickwire run --account` end to end: the binary
//! against the in-process emulator with a temporary data directory. Covers linking by token
//! (from an environment variable, standard input, or the discouraged flag), the three distinct
//! verification failures and the URL rule, no plaintext token on disk, name and id lookup,
//! accounts that need reconnecting, and an OAuth account whose rotated tokens are stored.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_client::credentials::{exchange_authorization_code, pkce_challenge};
use brickwire_emulator::oauth::drive::{
    AppConnection, Decision, answer_consent, register_app_connection,
};
use brickwire_emulator::{Emulator, EmulatorOptions};
use brickwire_service::store::{
    AccountStatus, Credential, LinkedAccountId, NewLinkedAccount, OAuthCredential,
};
use brickwire_service::{SharedStore, StartupEnv, open_data_dir};
use reqwest::{StatusCode, Url};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brickwire");

struct Env {
    emulator: Emulator,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        Env {
            emulator: Emulator::start(EmulatorOptions::default()).await.unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Runs the binary with an empty environment plus `envs`, `stdin` on standard input, and
    /// `--data-dir` appended.
    async fn run_with(&self, args: &[&str], envs: &[(&str, &str)], stdin: &str) -> Output {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .env_clear()
            .env("HOME", self.dir.path())
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let stdin = stdin.to_owned();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = command.spawn().unwrap();
            let mut pipe = child.stdin.take().unwrap();
            let _ = pipe.write_all(stdin.as_bytes());
            drop(pipe);
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[], "").await
    }

    async fn add_with_env_token(&self, name: &str) -> Value {
        self.add_with_env_token_and_stderr(name).await.0
    }

    async fn add_with_env_token_and_stderr(&self, name: &str) -> (Value, String) {
        let out = self
            .run_with(
                &[
                    "accounts",
                    "add",
                    "--host",
                    self.emulator.base_url(),
                    "--token-env",
                    "EMU_TOKEN",
                    "--name",
                    name,
                    "--end-user-ref",
                    "user-1",
                    "-o",
                    "json",
                ],
                &[("EMU_TOKEN", self.emulator.token())],
                "",
            )
            .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        (
            serde_json::from_slice(&out.stdout).unwrap(),
            text(&out.stderr),
        )
    }

    async fn list(&self) -> Vec<Value> {
        let out = self.run(&["accounts", "list", "-o", "json"]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    async fn store(&self) -> SharedStore {
        open_data_dir(&self.data_dir(), &StartupEnv::default())
            .await
            .unwrap()
            .store
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether any file under `dir` contains `needle`.
fn any_file_contains(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            return any_file_contains(&path, needle);
        }
        let bytes = std::fs::read(&path).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_list_run_and_remove_by_token() {
    let env = Env::start().await;
    let (first, stderr) = env.add_with_env_token_and_stderr("emu").await;
    // the first add creates the data directory, whose operator key is shown this once
    assert!(stderr.contains("operator API key"), "{stderr}");
    assert!(stderr.contains("bwk_"), "{stderr}");
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("la_"), "{first}");
    assert_eq!(first["display_name"], "emu");
    assert_eq!(first["auth_type"], "api_key");
    assert_eq!(first["status"], "active");
    assert_eq!(first["end_user_ref"], "user-1");
    assert_eq!(first["workspace_host"], env.emulator.base_url());

    // from standard input, named after the workspace user by default
    let out = env
        .run_with(
            &["accounts", "add", "--host", env.emulator.base_url()],
            &[],
            &format!("{}\n", env.emulator.token()),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Linked account la_"));
    assert!(!text(&out.stderr).contains("operator API key"));

    let accounts = env.list().await;
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["id"], id.as_str());
    let default_name = accounts[1]["display_name"].as_str().unwrap();
    assert!(default_name.contains('@'), "the user name: {default_name}");
    assert!(accounts[0]["last_used_at"].is_null());
    let table = env.run(&["accounts", "list"]).await;
    let table = text(&table.stdout);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains(&id) && table.contains("api_key"), "{table}");

    // the token is encrypted at rest: no file of the data directory holds it
    assert!(!any_file_contains(
        &env.data_dir(),
        env.emulator.token().as_bytes()
    ));

    // run by name and by id
    for reference in ["emu", id.as_str()] {
        let out = env
            .run(&["run", "list-users", "--account", reference])
            .await;
        assert!(out.status.success(), "{reference}: {}", text(&out.stderr));
        let users: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(users.to_string().contains("userName"), "{users}");
    }
    // `api` too
    let out = env
        .run(&[
            "api",
            "GET",
            "/api/2.0/preview/scim/v2/Me",
            "--account",
            "emu",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(me["userName"].is_string(), "{me}");
    // --account and --profile exclude each other
    let out = env
        .run(&["run", "list-users", "--account", "emu", "--profile", "p"])
        .await;
    assert_eq!(out.status.code(), Some(2));
    let accounts = env.list().await;
    assert!(accounts[0]["last_used_at"].is_string(), "{}", accounts[0]);

    let out = env.run(&["accounts", "remove", &id]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(env.list().await.len(), 1);
    let out = env.run(&["accounts", "remove", &id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("no linked account `{id}`")));
    let out = env.run(&["run", "list-users", "--account", "emu"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no linked account with id or name `emu`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_hosts_and_urls_are_refused_before_anything_is_stored() {
    let env = Env::start().await;
    let add = |host: String, token: &'static str| {
        let env = &env;
        async move {
            env.run_with(
                &["accounts", "add", "--host", &host, "--token-env", "T"],
                &[("T", token)],
                "",
            )
            .await
        }
    };

    let wrong = add(env.emulator.base_url().to_owned(), "dapi-wrong-token-123").await;
    assert_eq!(wrong.status.code(), Some(1));
    let message = text(&wrong.stderr);
    assert!(message.contains("refused the token"), "{message}");
    assert!(!message.contains("dapi-wrong-token-123"), "{message}");

    // something that answers HTTP, but is not Databricks
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            [("content-type", "text/html")],
            "<html>nothing here</html>",
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let not_databricks = add(other, "dapi-x").await;
    assert_eq!(not_databricks.status.code(), Some(1));
    let message = text(&not_databricks.stderr);
    assert!(
        message.contains("does not look like a Databricks workspace"),
        "{message}"
    );
    assert!(message.contains("HTTP 404"), "{message}");

    // nothing listens there
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = add(unreachable, "dapi-x").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach"),
        "{}",
        text(&out.stderr)
    );

    // plain http is for loopback only, and URLs are checked before any request
    let out = add("http://dbc-1.cloud.databricks.com".into(), "dapi-x").await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("plain http"),
        "{}",
        text(&out.stderr)
    );
    let out = add("https://h.example.com/some/path".into(), "dapi-x").await;
    assert_eq!(out.status.code(), Some(2));

    // no token at all
    let out = env
        .run(&["accounts", "add", "--host", env.emulator.base_url()])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no token given"));

    assert!(
        !env.data_dir().exists(),
        "failed links create no data directory"
    );
    let out = env.run(&["accounts", "list"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no brickwire data"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_flag_works_but_warns() {
    let env = Env::start().await;
    let out = env
        .run(&[
            "accounts",
            "add",
            "--host",
            env.emulator.base_url(),
            "--token",
            env.emulator.token(),
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: --token"));
    assert_eq!(env.list().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_names_and_accounts_needing_reconnect_are_refused() {
    let env = Env::start().await;
    let a = env.add_with_env_token("twin").await;
    let b = env.add_with_env_token("twin").await;
    let out = env.run(&["run", "list-users", "--account", "twin"]).await;
    assert_eq!(out.status.code(), Some(2));
    let message = text(&out.stderr);
    assert!(
        message.contains("2 linked accounts are named `twin`"),
        "{message}"
    );
    assert!(message.contains(a["id"].as_str().unwrap()), "{message}");

    let store = env.store().await;
    let b_id = LinkedAccountId::new(b["id"].as_str().unwrap());
    store
        .set_linked_account_status(b_id.clone(), AccountStatus::NeedsReconnect)
        .await
        .unwrap();
    let out = env
        .run(&["run", "list-users", "--account", b_id.as_str()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["code"], "UNAUTHENTICATED", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("reconnect"),
        "{error}"
    );
}

/// Tokens from a real consent on the emulator: (client id, token set).
async fn oauth_tokens(env: &Env) -> (String, brickwire_client::credentials::OAuthTokenSet) {
    let base = env.emulator.base_url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = "http://localhost:9/callback";
    let app = AppConnection {
        name: "svc",
        redirect_urls: &[redirect],
        scopes: &["all-apis", "offline_access"],
        single_use_refresh_tokens: true,
    };
    let client_id = register_app_connection(&http, base, env.emulator.token(), &app)
        .await
        .unwrap();
    let verifier = SecretString::new("a-verifier-that-is-long-enough-0123456789-abcdefgh");
    let url = Url::parse_with_params(
        &format!("{base}/oidc/v1/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect),
            ("scope", "all-apis offline_access"),
            ("state", "s"),
            ("code_challenge", pkce_challenge(&verifier).as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let back = answer_consent(&http, url.as_str(), None, Decision::Allow)
        .await
        .unwrap();
    let location = Url::parse(&back).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens = exchange_authorization_code(
        &reqwest::Client::new(),
        &Url::parse(&format!("{base}/oidc/v1/token")).unwrap(),
        &client_id,
        None,
        &SecretString::new(code),
        redirect,
        &verifier,
    )
    .await
    .unwrap();
    (client_id, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_account_refreshes_and_its_rotated_tokens_are_stored() {
    let env = Env::start().await;
    let (client_id, tokens) = oauth_tokens(&env).await;
    let store = env.store().await;
    let account = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "oauth-user".into(),
            end_user_ref: None,
            workspace_host: Url::parse(env.emulator.base_url()).unwrap(),
            credential: Credential::OAuth(OAuthCredential::from_token_set(&client_id, &tokens)),
        })
        .await
        .unwrap();
    let before = store
        .linked_account_credential(account.id.clone())
        .await
        .unwrap();

    // fresh tokens: used as they are
    let out = env
        .run(&["run", "list-users", "--account", "oauth-user"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let unchanged = store
        .linked_account_credential(account.id.clone())
        .await
        .unwrap();
    assert_eq!(unchanged.version, before.version);

    // the workspace's clock passes the access token's lifetime: refresh, rotate, store
    env.emulator
        .state()
        .oauth
        .lock()
        .unwrap()
        .advance_clock(Duration::from_secs(2 * 3600));
    let out = env
        .run(&["run", "list-users", "--account", "oauth-user"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = store
        .linked_account_credential(account.id.clone())
        .await
        .unwrap();
    assert!(after.version > before.version);
    let (Credential::OAuth(old), Credential::OAuth(new)) = (&before.credential, &after.credential)
    else {
        panic!("oauth credentials");
    };
    assert_ne!(new.refresh_token, old.refresh_token);
    assert_ne!(new.access_token, old.access_token);
    assert_eq!(new.client_id, client_id);

    // the spent refresh token cannot be used again, but the stored one is: a second expiry
    // refreshes from the store's token
    env.emulator
        .state()
        .oauth
        .lock()
        .unwrap()
        .advance_clock(Duration::from_secs(2 * 3600));
    let out = env
        .run(&["run", "list-users", "--account", "oauth-user"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let third = store
        .linked_account_credential(account.id.clone())
        .await
        .unwrap();
    assert!(third.version > after.version);
    assert!(!any_file_contains(
        &env.data_dir(),
        tokens.access_token.expose_secret().as_bytes()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_marks_the_account_for_reconnection() {
    let env = Env::start().await;
    let (client_id, mut tokens) = oauth_tokens(&env).await;
    tokens.refresh_token = Some(SecretString::new("not-a-refresh-token"));
    tokens.expires_at = Some(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1));
    let store = env.store().await;
    let account = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "doomed".into(),
            end_user_ref: None,
            workspace_host: Url::parse(env.emulator.base_url()).unwrap(),
            credential: Credential::OAuth(OAuthCredential::from_token_set(&client_id, &tokens)),
        })
        .await
        .unwrap();
    let out = env.run(&["run", "list-users", "--account", "doomed"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid_grant"),
        "{}",
        text(&out.stderr)
    );
    let now = store.linked_account(account.id.clone()).await.unwrap();
    assert_eq!(now.status, AccountStatus::NeedsReconnect);
    let out = env.run(&["run", "list-users", "--account", "doomed"]).await;
    assert!(
        text(&out.stderr).contains("needs to reconnect"),
        "{}",
        text(&out.stderr)
    );
}
