//! `brickwire demo`: the README's first command. Starts the Databricks emulator and the
//! brickwire service in this process on free ports, sets them up the way a product team and its
//! end users would, tours the workspace through the service's REST API on two linked accounts
//! (one linked by API key, one by OAuth), prints a summary and exits.
//!
//! Everything goes over HTTP, as it would against a real workspace: the app connection is
//! registered with the emulator's account API, the app settings and connect sessions through the
//! service's operator API, the API-key account through the connect page's form, the OAuth
//! account through the connect page, the emulator's consent page (Allow) and the service's
//! callback (choosing a workspace user added through SCIM), and every tour step is
//! `POST /api/v1/linked-accounts/{id}/actions/{action}`. Last, an Incremental Sync subscription
//! on finished job runs is polled and read through the pull API ([`sync_tour`]), and a flow
//! records each finished job run in a table ([`flow_tour`]). Nothing reaches into either
//! server's state.
//!
//! Start at [`run`]; [`tour`] is the list of steps run on each account; [`Summary`] records each
//! step's outcome and time and turns a failure into an error that names the step.

mod flow_tour;
mod html;

use std::future::Future;
use std::time::{Duration, Instant};

use brickwire_api::SecretString;
use brickwire_emulator::{Emulator, EmulatorOptions};
use brickwire_service::server::{RunningService, ServeOptions, Service};
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

type DemoResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How long a tour step may wait for a warehouse, statement or job run.
const WAIT_SECONDS: u64 = 60;

/// Rows of the large result: more than one chunk of the emulator's, all fetched by the action.
const LARGE_RESULT_ROWS: u64 = 250_000;

/// The workspace user the OAuth account signs in as on the consent page (the API-key account
/// uses the workspace admin's token).
const OAUTH_USER: &str = "data.engineer@example.com";

/// Runs the whole demo and prints the summary; an error names the step that failed.
pub async fn run() -> DemoResult<()> {
    let mut summary = Summary::default();
    summary.section("Setup");
    let emulator = summary
        .step("start the Databricks emulator", async {
            let emulator = Emulator::start(EmulatorOptions::default()).await?;
            let url = emulator.base_url().to_owned();
            Ok((emulator, url))
        })
        .await?;
    let data_dir = tempfile::Builder::new()
        .prefix("brickwire-demo-")
        .tempdir()?;
    let service = summary
        .step("start the brickwire service", async {
            let service = Service::start(ServeOptions::new(data_dir.path())).await?;
            let outcome = format!(
                "{} (temporary data directory, operator API key generated)",
                service.url()
            );
            Ok((service, outcome))
        })
        .await?;
    let result = with_servers(&mut summary, &emulator, &service).await;
    service.shutdown().await;
    emulator.stop().await;
    result?;
    summary.print();
    Ok(())
}

/// Everything after both servers are up: the setup over HTTP, then the tour on each account.
async fn with_servers(
    summary: &mut Summary,
    emulator: &Emulator,
    service: &RunningService,
) -> DemoResult<()> {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(120))
        .build()?;
    let operator = Operator {
        http: http.clone(),
        base: service.url(),
        key: service
            .generated_api_key()
            .cloned()
            .ok_or("the service generated no operator API key")?,
    };
    let workspace = Workspace {
        http: http.clone(),
        base: emulator.base_url().parse()?,
        token: SecretString::new(emulator.token()),
    };

    let client_id = summary
        .step("register an OAuth app connection in the workspace", async {
            let settings = operator
                .call(Method::GET, "/api/v1/app-settings", None)
                .await?;
            let callback = text(&settings, "/callback_url")?;
            let config = workspace
                .call(Method::GET, "/.well-known/databricks-config", None)
                .await?;
            let account_id = text(&config, "/account_id")?;
            let app = workspace
                .call(
                    Method::POST,
                    &format!("/api/2.0/accounts/{account_id}/oauth2/custom-app-integrations"),
                    Some(json!({
                        "name": "brickwire demo",
                        "redirect_urls": [callback],
                        "scopes": ["all-apis", "offline_access"],
                        "confidential": false,
                    })),
                )
                .await?;
            let client_id = text(&app, "/client_id")?;
            let outcome = format!("public client {client_id}, redirect URL {callback}");
            Ok((client_id, outcome))
        })
        .await?;

    summary
        .step("store the service's app settings", async {
            operator
                .call(
                    Method::PUT,
                    "/api/v1/app-settings",
                    Some(json!({
                        "oauth_client_id": client_id,
                        "workspace_url": workspace.base.as_str().trim_end_matches('/'),
                        "scopes": {"additional": ["all-apis"], "custom": []},
                    })),
                )
                .await?;
            let settings = operator
                .call(Method::GET, "/api/v1/app-settings", None)
                .await?;
            Ok((
                (),
                format!("requests scopes: {}", requested_scopes(&settings)),
            ))
        })
        .await?;

    let oauth_user_id = summary
        .step("add a workspace user to sign in as", async {
            let user = workspace
                .call(
                    Method::POST,
                    "/api/2.0/preview/scim/v2/Users",
                    Some(json!({"userName": OAUTH_USER, "displayName": "Data Engineer"})),
                )
                .await?;
            let id = text(&user, "/id")?;
            Ok((id.clone(), format!("{OAUTH_USER} (id {id})")))
        })
        .await?;

    let browser = Browser { http };
    let api_key_account = summary
        .step("link an account by API key (connect page form)", async {
            let id = link_by_api_key(&operator, &browser, &workspace).await?;
            let account = Linked {
                operator: &operator,
                id,
            };
            let outcome = format!("{} acts as {}", account.id, account.user_name().await?);
            Ok((account, outcome))
        })
        .await?;
    let oauth_account = summary
        .step("link an account by OAuth (consent page: Allow)", async {
            let id = link_by_oauth(&operator, &browser, &workspace, &oauth_user_id).await?;
            let account = Linked {
                operator: &operator,
                id,
            };
            let outcome = format!("{} acts as {}", account.id, account.user_name().await?);
            Ok((account, outcome))
        })
        .await?;

    let sync_account = api_key_account.id.clone();
    for account in [
        Account {
            label: "API key",
            slug: "api_key",
            linked: api_key_account,
        },
        Account {
            label: "OAuth",
            slug: "oauth",
            linked: oauth_account,
        },
    ] {
        summary.section(&format!("{} account {}", account.label, account.linked.id));
        tour(summary, &account).await?;
    }
    summary.section(&format!("Incremental Sync on account {sync_account}"));
    let events = sync_tour(summary, &operator, &sync_account).await?;
    summary.section(&format!("A flow on account {sync_account}"));
    flow_tour::flow_tour(summary, &operator, &sync_account, events).await
}

/// Incremental Sync through the service: a pull subscription on finished job runs of the
/// workspace, polled now. The tours' runs arrive as one event each, and polling again delivers
/// nothing twice. Returns how many events (finished job runs) there were.
async fn sync_tour(
    summary: &mut Summary,
    operator: &Operator,
    account_id: &str,
) -> DemoResult<usize> {
    let subscription = summary
        .step(
            "subscribe to finished job runs (pull API, backfill)",
            async {
                let created = operator
                    .call(
                        Method::POST,
                        "/api/v1/subscriptions",
                        Some(json!({
                            "linked_account_id": account_id,
                            "source": {"type": "job_runs"},
                            "start_from": "beginning",
                        })),
                    )
                    .await?;
                let id = text(&created, "/id")?;
                let outcome = format!("{id}, delivered by the pull API");
                Ok((id, outcome))
            },
        )
        .await?;
    let events_path = format!("/api/v1/subscriptions/{subscription}/events");
    let (next_after, events) = summary
        .step("poll now and pull the new events", async {
            operator
                .call(
                    Method::POST,
                    &format!("/api/v1/subscriptions/{subscription}/poll"),
                    None,
                )
                .await?;
            let page = operator
                .call(Method::GET, &format!("{events_path}?after=0"), None)
                .await?;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                return Err("no event for the finished job runs".into());
            }
            let runs: Vec<String> = events
                .iter()
                .map(|e| {
                    format!(
                        "run {} {}",
                        e["data"]["run_id"],
                        e["data"]["state"]["result_state"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let outcome = format!("{} events: {}", events.len(), runs.join(", "));
            Ok((
                (page["next_after"].as_i64().unwrap_or(0), events.len()),
                outcome,
            ))
        })
        .await?;
    summary
        .step("poll again: nothing is delivered twice", async {
            operator
                .call(
                    Method::POST,
                    &format!("/api/v1/subscriptions/{subscription}/poll"),
                    None,
                )
                .await?;
            let page = operator
                .call(
                    Method::GET,
                    &format!("{events_path}?after={next_after}"),
                    None,
                )
                .await?;
            match page["events"].as_array().map_or(0, Vec::len) {
                0 => Ok(((), "0 new events".to_owned())),
                n => Err(format!("{n} events delivered again").into()),
            }
        })
        .await?;
    Ok(events)
}

/// The scopes the app settings request, as the service reports them.
fn requested_scopes(settings: &Value) -> String {
    let scopes = &settings["scopes"];
    let mut all: Vec<&str> = Vec::new();
    for list in ["mandatory", "additional", "custom"] {
        for s in scopes[list].as_array().into_iter().flatten() {
            if let Some(s) = s.as_str().filter(|s| !all.contains(s)) {
                all.push(s);
            }
        }
    }
    all.join(" ")
}

/// The service's operator REST API, called with the operator API key.
struct Operator {
    http: reqwest::Client,
    base: Url,
    key: SecretString,
}

impl Operator {
    /// Sends one JSON request; a non-2xx answer is an error with the service's message.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> DemoResult<Value> {
        let mut request = self
            .http
            .request(method.clone(), self.base.join(path)?)
            .bearer_auth(self.key.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_answer(&method, path, request.send().await?).await
    }
}

/// The workspace's own REST API, called with its admin's personal access token.
struct Workspace {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
}

impl Workspace {
    /// Sends one JSON request; a non-2xx answer is an error with Databricks' message.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> DemoResult<Value> {
        let mut request = self
            .http
            .request(method.clone(), self.base.join(path)?)
            .bearer_auth(self.token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_answer(&method, path, request.send().await?).await
    }
}

/// The JSON body of a 2xx answer; otherwise an error with the status and the server's message.
async fn json_answer(
    method: &Method,
    path: &str,
    response: reqwest::Response,
) -> DemoResult<Value> {
    let status = response.status();
    let bytes = response.bytes().await?;
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(short(&String::from_utf8_lossy(&bytes))))
    };
    if status.is_success() {
        return Ok(body);
    }
    let message = body
        .pointer("/error/message")
        .or_else(|| body.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| body.to_string());
    Err(format!("{method} {path} answered {status}: {message}").into())
}

/// A linked account of the service: actions run through
/// `POST /api/v1/linked-accounts/{id}/actions/{action}`.
struct Linked<'a> {
    operator: &'a Operator,
    id: String,
}

impl Linked<'_> {
    /// The workspace user this account acts as (SCIM `Me` through the HTTP Request action).
    async fn user_name(&self) -> DemoResult<String> {
        let me = self
            .run(
                "http-request",
                json!({"method": "GET", "path": "/api/2.0/preview/scim/v2/Me"}),
            )
            .await?;
        text(&me, "/body/userName")
    }
}

impl Linked<'_> {
    /// Runs one action of the catalog on this account and returns its output; an action error
    /// is this call's error.
    async fn run(&self, action: &str, input: Value) -> DemoResult<Value> {
        let path = format!("/api/v1/linked-accounts/{}/actions/{action}", self.id);
        let answer = self
            .operator
            .call(Method::POST, &path, Some(input))
            .await
            .map_err(|e| format!("{action}: {e}"))?;
        if let Some(error) = answer.get("error") {
            return Err(format!(
                "{action}: {} {}",
                error["code"].as_str().unwrap_or("ERROR"),
                error["message"].as_str().unwrap_or_default()
            )
            .into());
        }
        answer
            .get("output")
            .cloned()
            .ok_or_else(|| format!("{action}: the answer has no output").into())
    }
}

/// What a browser does, over plain HTTP: follows redirects, keeps cookies, submits forms.
struct Browser {
    http: reqwest::Client,
}

/// A page the browser landed on.
struct Page {
    url: Url,
    status: reqwest::StatusCode,
    html: String,
}

impl Browser {
    async fn open(&self, url: Url) -> DemoResult<Page> {
        Self::page(self.http.get(url).send().await?).await
    }

    /// Submits `form` of `page` (its action resolved against the page's URL).
    async fn submit(&self, page: &Page, form: &html::Form) -> DemoResult<Page> {
        let mut target = page.url.join(&form.action)?;
        let response = if form.method == "POST" {
            self.http.post(target).form(&form.fields).send().await?
        } else {
            target
                .query_pairs_mut()
                .clear()
                .extend_pairs(form.fields.iter());
            self.http.get(target).send().await?
        };
        Self::page(response).await
    }

    async fn page(response: reqwest::Response) -> DemoResult<Page> {
        Ok(Page {
            url: response.url().clone(),
            status: response.status(),
            html: response.text().await?,
        })
    }
}

impl Page {
    /// The form with this id, or an error saying which page lacked it and what it says.
    fn form(&self, id: &str) -> DemoResult<html::Form> {
        html::form(&self.html, id).ok_or_else(|| {
            format!(
                "expected a form #{id} at {} ({}); the page says: {}",
                self.url,
                self.status,
                short(&html::visible_text(&self.html))
            )
            .into()
        })
    }

    /// The linked account id of a result page that reports success; otherwise an error with
    /// what the page says.
    fn linked_account(&self) -> DemoResult<String> {
        let Some(attrs) = html::element_attributes(&self.html, "result") else {
            return Err(format!(
                "expected the result page at {} ({}); the page says: {}",
                self.url,
                self.status,
                short(&html::visible_text(&self.html))
            )
            .into());
        };
        let attr = |name: &str| {
            attrs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        match (attr("data-status"), attr("data-linked-account-id")) {
            ("success", id) if !id.is_empty() => Ok(id.to_owned()),
            _ => Err(format!(
                "the connect page reports an error: {}",
                short(&html::element_text(&self.html, "result").unwrap_or_default())
            )
            .into()),
        }
    }
}

/// An error with its chain of causes (`a: b: c`), each said once.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// At most 300 characters of a text for an error message.
fn short(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    }
}

/// Creates a connect session for an end user and opens its link in the browser.
async fn open_connect_link(
    operator: &Operator,
    browser: &Browser,
    end_user_ref: &str,
    display_name: &str,
) -> DemoResult<Page> {
    let session = operator
        .call(
            Method::POST,
            "/api/v1/connect-sessions",
            Some(json!({"end_user_ref": end_user_ref, "display_name": display_name})),
        )
        .await?;
    browser.open(text(&session, "/connect_url")?.parse()?).await
}

/// The end user pastes the workspace URL and a personal access token into the connect page.
async fn link_by_api_key(
    operator: &Operator,
    browser: &Browser,
    workspace: &Workspace,
) -> DemoResult<String> {
    let page = open_connect_link(operator, browser, "demo-user-1", "Demo (API key)").await?;
    let mut form = page.form("api-key-form")?;
    form.set(
        "workspace_url",
        workspace.base.as_str().trim_end_matches('/'),
    );
    form.set("token", workspace.token.expose_secret());
    browser.submit(&page, &form).await?.linked_account()
}

/// The end user presses "Connect with Databricks", lands on the workspace's consent page,
/// picks the user to sign in as, presses Allow and comes back through the service's callback.
async fn link_by_oauth(
    operator: &Operator,
    browser: &Browser,
    workspace: &Workspace,
    user_id: &str,
) -> DemoResult<String> {
    let page = open_connect_link(operator, browser, "demo-user-2", "Demo (OAuth)").await?;
    let consent_page = browser.submit(&page, &page.form("oauth-form")?).await?;
    if consent_page.url.origin() != workspace.base.origin() {
        return Err(format!(
            "expected the workspace's consent page, landed on {}: {}",
            consent_page.url,
            short(&html::visible_text(&consent_page.html))
        )
        .into());
    }
    let mut consent = consent_page.form("consent")?;
    consent.set("user_id", user_id);
    consent.set("decision", "allow");
    browser
        .submit(&consent_page, &consent)
        .await?
        .linked_account()
}

/// One linked account the tour runs on.
struct Account<'a> {
    /// How it was linked, for the summary.
    label: &'static str,
    /// Makes the names of what the tour creates unique per account.
    slug: &'static str,
    linked: Linked<'a>,
}

/// The tour: a warehouse started, Unity Catalog objects made with SQL, a query, a large result
/// fetched chunk by chunk, a notebook imported and a job that runs it, the notebook exported
/// back, and the warehouse stopped. Names carry the account's slug, as both accounts share one
/// workspace.
async fn tour(summary: &mut Summary, account: &Account<'_>) -> DemoResult<()> {
    let actions = &account.linked;
    let slug = account.slug;

    let warehouse_id = summary
        .step(
            "start a SQL warehouse (create, wait until RUNNING)",
            async {
                let warehouse = actions
                    .run(
                        "create-warehouse",
                        json!({
                            "name": format!("brickwire-demo-{slug}"),
                            "cluster_size": "2X-Small",
                            "auto_stop_mins": 10,
                            "wait": true,
                            "timeout_seconds": WAIT_SECONDS,
                        }),
                    )
                    .await?;
                let id = text(&warehouse, "/id")?;
                let outcome = format!("{id} is {}", text(&warehouse, "/state")?);
                Ok((id, outcome))
            },
        )
        .await?;

    let catalog = format!("demo_{slug}");
    let table = format!("{catalog}.sales.orders");
    summary
        .step("create a catalog, a schema and a table with SQL", async {
            for sql in [
                format!("CREATE CATALOG {catalog} COMMENT 'created by brickwire demo'"),
                format!("CREATE SCHEMA {catalog}.sales"),
                format!("CREATE TABLE {table} (id INT, customer STRING, amount DOUBLE)"),
                format!(
                    "INSERT INTO {table} VALUES (1, 'acme', 120.5), (2, 'globex', 80.0), (3, 'acme', 42.25)"
                ),
            ] {
                sql_rows(actions, &warehouse_id, &sql).await?;
            }
            let found = actions
                .run("retrieve-table", json!({"full_name": table}))
                .await?;
            let columns: Vec<String> = found["columns"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            format!(
                                "{} {}",
                                c["name"].as_str().unwrap_or("?"),
                                c["type_name"].as_str().unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(((), format!("{table} ({})", columns.join(", "))))
        })
        .await?;

    summary
        .step("query it", async {
            let rows = sql_rows(
                actions,
                &warehouse_id,
                &format!(
                    "SELECT customer, sum(amount) AS total FROM {table} GROUP BY customer ORDER BY total DESC"
                ),
            )
            .await?;
            let rendered: Vec<String> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|v| v.as_str().unwrap_or("null"))
                        .collect::<Vec<_>>()
                        .join("=")
                })
                .collect();
            Ok(((), rendered.join(", ")))
        })
        .await?;

    summary
        .step("fetch a large result chunk by chunk", async {
            let response = statement(
                actions,
                json!({
                    "statement": format!("SELECT id, id * 2 AS double_id FROM range({LARGE_RESULT_ROWS})"),
                    "warehouse_id": warehouse_id,
                    "row_cap": LARGE_RESULT_ROWS,
                }),
            )
            .await?;
            let rows = response
                .pointer("/result/data_array")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let chunks = text(&response, "/manifest/total_chunk_count")?;
            Ok(((), format!("{rows} rows in {chunks} chunks")))
        })
        .await?;

    let folder = format!("/Shared/brickwire-demo-{slug}");
    let notebook = format!("{folder}/hello");
    let source = "# Databricks notebook source\nprint('hello from brickwire')\n";
    summary
        .step("import a notebook", async {
            actions
                .run("create-directory", json!({"path": folder}))
                .await?;
            actions
                .run(
                    "import-workspace",
                    json!({
                        "path": notebook,
                        "format": "SOURCE",
                        "language": "PYTHON",
                        "content": base64_encode(source.as_bytes()),
                    }),
                )
                .await?;
            Ok(((), format!("{notebook} ({} bytes)", source.len())))
        })
        .await?;

    summary
        .step("create a job that runs it, run it and wait", async {
            let job = actions
                .run(
                    "create-job",
                    json!({
                        "name": format!("brickwire demo job ({})", account.label),
                        "tasks": [{"task_key": "hello", "notebook_task": {"notebook_path": notebook}}],
                    }),
                )
                .await?;
            let job_id = job["job_id"]
                .as_i64()
                .ok_or("create-job returned no job_id")?;
            let run = actions
                .run(
                    "run-job",
                    json!({"job_id": job_id, "wait": true, "timeout_seconds": WAIT_SECONDS}),
                )
                .await?;
            let outcome = format!(
                "job {job_id} run {}: {} / {}",
                run["run_id"],
                text(&run, "/state/life_cycle_state")?,
                text(&run, "/state/result_state")?,
            );
            Ok(((), outcome))
        })
        .await?;

    summary
        .step("export the notebook", async {
            let exported = actions
                .run(
                    "export-workspace",
                    json!({"path": notebook, "format": "SOURCE"}),
                )
                .await?;
            let content = base64_decode(&text(&exported, "/content")?)?;
            let first_line = String::from_utf8_lossy(&content)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            Ok((
                (),
                format!("{} bytes, first line {first_line:?}", content.len()),
            ))
        })
        .await?;

    summary
        .step("stop the warehouse and wait until STOPPED", async {
            let warehouse = actions
                .run(
                    "stop-warehouse",
                    json!({"warehouse_id": warehouse_id, "wait": true, "timeout_seconds": WAIT_SECONDS}),
                )
                .await?;
            Ok(((), format!("{warehouse_id} is {}", text(&warehouse, "/state")?)))
        })
        .await
}

/// Runs one statement to completion through Execute Statement and returns its rows; a failed
/// statement is an error with Databricks' message.
async fn sql_rows(
    actions: &Linked<'_>,
    warehouse_id: &str,
    sql: &str,
) -> DemoResult<Vec<Vec<Value>>> {
    let response = statement(
        actions,
        json!({"statement": sql, "warehouse_id": warehouse_id}),
    )
    .await?;
    let rows = response
        .pointer("/result/data_array")
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .map(|r| r.as_array().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    Ok(rows)
}

/// Runs Execute Statement with `input` (plus the demo's waits) and returns the statement
/// response; a statement that did not succeed is an error with Databricks' message.
async fn statement(actions: &Linked<'_>, mut input: Value) -> DemoResult<Value> {
    input["wait_timeout"] = json!("30s");
    input["timeout_seconds"] = json!(WAIT_SECONDS);
    let response = actions.run("execute-statement", input.clone()).await?;
    let state = text(&response, "/status/state")?;
    if state != "SUCCEEDED" {
        let message = response
            .pointer("/status/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(format!("`{}` ended {state}: {message}", input["statement"]).into());
    }
    Ok(response)
}

/// The string at a JSON pointer of an action's output, or an error naming the pointer.
fn text(value: &Value, pointer: &str) -> DemoResult<String> {
    match value.pointer(pointer) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(format!("the answer has no {pointer}").into()),
        Some(other) => Ok(other.to_string()),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> DemoResult<Vec<u8>> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
}

/// The steps run so far, grouped in sections (setup, then one per account).
#[derive(Default)]
struct Summary {
    sections: Vec<(String, Vec<Step>)>,
}

/// One line of the summary: what was done, what came back, and how long it took.
struct Step {
    title: String,
    outcome: String,
    elapsed: Duration,
}

impl Summary {
    /// Starts a new section; the following steps belong to it.
    fn section(&mut self, name: &str) {
        println!("\n{name}");
        self.sections.push((name.to_owned(), Vec::new()));
    }

    /// Runs one step: `work` returns a value for the next steps and the outcome to show. A
    /// failure is printed and returned as an error that names the section and the step.
    async fn step<T>(
        &mut self,
        title: &str,
        work: impl Future<Output = DemoResult<(T, String)>>,
    ) -> DemoResult<T> {
        let started = Instant::now();
        let section = self
            .sections
            .last()
            .map(|(name, _)| name.clone())
            .unwrap_or_default();
        match work.await {
            Ok((value, outcome)) => {
                println!("  ✓ {title}: {outcome}");
                if self.sections.is_empty() {
                    self.sections.push((String::new(), Vec::new()));
                }
                if let Some((_, steps)) = self.sections.last_mut() {
                    steps.push(Step {
                        title: title.to_owned(),
                        outcome,
                        elapsed: started.elapsed(),
                    });
                }
                Ok(value)
            }
            Err(e) => {
                let cause = causes(e.as_ref());
                println!("  ✗ {title}: {cause}");
                Err(format!("step \"{title}\" ({section}) failed: {cause}").into())
            }
        }
    }

    /// The summary table, one block per section.
    fn render(&self) -> String {
        let mut out = String::from("Summary\n");
        for (name, steps) in &self.sections {
            out.push_str(&format!("  {name}\n"));
            for s in steps {
                out.push_str(&format!(
                    "    ✓ {:<54} {:>6} ms  {}\n",
                    s.title,
                    s.elapsed.as_millis(),
                    s.outcome
                ));
            }
        }
        out
    }

    fn print(&self) {
        println!("\n{}", self.render());
        println!(
            "Both accounts were linked through the connect page and every step ran through the \
             service's REST API.\nNext: `brickwire serve` keeps a service running; \
             `brickwire emulator` a workspace to link."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_step_names_itself_and_its_section() {
        let mut summary = Summary::default();
        summary.section("OAuth account");
        let ok: u32 = summary
            .step("first", async { Ok((7, "fine".to_owned())) })
            .await
            .unwrap();
        assert_eq!(ok, 7);
        let err = summary
            .step("query it", async {
                Err::<((), String), _>("warehouse is gone".into())
            })
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "step \"query it\" (OAuth account) failed: warehouse is gone"
        );
        let rendered = summary.render();
        assert!(rendered.contains("OAuth account"));
        assert!(rendered.contains("✓ first"));
        assert!(!rendered.contains("query it"), "{rendered}");
    }

    #[test]
    fn causes_follow_the_source_chain_without_repeating_themselves() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let wrapped = Wrapper(std::io::Error::other("tcp connect error"));
        assert_eq!(causes(&wrapped), "error sending request: tcp connect error");
        // A cause the message already says is not said again.
        let said = Wrapper(std::io::Error::other("error sending request"));
        assert_eq!(causes(&said), "error sending request");
    }

    #[test]
    fn text_reads_strings_and_numbers_and_names_what_is_missing() {
        let value = json!({"a": {"b": "x", "n": 3}});
        assert_eq!(text(&value, "/a/b").unwrap(), "x");
        assert_eq!(text(&value, "/a/n").unwrap(), "3");
        assert_eq!(
            text(&value, "/a/c").unwrap_err().to_string(),
            "the answer has no /a/c"
        );
    }
}
