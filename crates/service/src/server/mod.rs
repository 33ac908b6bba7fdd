//! The HTTP side of `brickwire serve`: start it with [`Service::start`], or build the bare
//! [`router`] over an [`AppState`] for in-process tests.
//!
//! Layout: [`routes`] is the table of operator REST routes (the router and the OpenAPI
//! document are both built from it, so they cannot drift); `api_*` modules hold their
//! handlers; [`error`] is the one error shape and the JSON/query extractors; `auth` checks the
//! operator key; `connect` and `oauth` serve the end user's connect page and OAuth callback;
//! `html` renders pages.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use brickwire_api::SecretString;
use brickwire_client::ClientOptions;
use brickwire_client::credentials::{Clock, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use crate::accounts::{AccountClients, AccountClientsOptions};
use crate::api_key::OperatorApiKeys;
use crate::startup::StartupEnv;
use crate::store::{SharedStore, Store};

mod api_accounts;
mod api_actions;
mod api_sessions;
mod api_settings;
mod auth;
mod connect;
pub mod error;
pub(crate) mod health;
pub(crate) mod html;
mod oauth;
pub mod openapi;
pub mod routes;
pub mod time;

pub use error::ApiError;

/// The largest request body the service reads (1 MiB); bigger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The path of the OAuth redirect URI, relative to the public URL.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// How `brickwire serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen; port 0 picks a free port (see [`RunningService::url`]).
    pub listen: SocketAddr,
    /// The data directory (SQLite database, master key file).
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://...`) instead of SQLite in the data directory, for
    /// several replicas sharing one database.
    pub database_url: Option<SecretString>,
    /// The URL end users and Databricks reach the service at (connect links, OAuth callback).
    /// Defaults to `http://<bound address>/`. With a path (`https://example.com/bw/`), a proxy
    /// in front must strip it: the service serves its routes at the root.
    pub public_url: Option<Url>,
    /// `BRICKWIRE_MASTER_KEY` and `BRICKWIRE_API_KEY`, captured once.
    pub env: StartupEnv,
    /// The clock of the store (session expiry) and of OAuth token caches.
    pub clock: Arc<dyn Clock>,
    /// Transport settings of each linked account's client.
    pub client_options: ClientOptions,
    /// Timeout of verifying an API key and of OAuth discovery and code exchange.
    pub link_timeout: Duration,
    /// Scheduling and delivery settings of the trigger engine.
    pub triggers: crate::triggers::EngineOptions,
    /// Concurrency and timing of the flow engine.
    pub flows: crate::flows::FlowEngineOptions,
}

impl ServeOptions {
    /// Defaults: listen on `127.0.0.1:0`, the system clock, the environment captured empty
    /// (use [`StartupEnv::from_process`] for the real one).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            data_dir: data_dir.into(),
            database_url: None,
            public_url: None,
            env: StartupEnv::default(),
            clock: Arc::new(SystemClock),
            client_options: ClientOptions::default(),
            link_timeout: crate::link::DEFAULT_VERIFY_TIMEOUT,
            triggers: crate::triggers::EngineOptions::default(),
            flows: crate::flows::FlowEngineOptions::default(),
        }
    }
}

/// The shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
    triggers: Option<crate::triggers::TriggerEngine>,
    flows: Option<FlowsState>,
    mcp_tokens: Option<Arc<dyn crate::mcp::McpTokenStore>>,
    readiness: health::Readiness,
}

/// What the flow routes need: the flow store and the running engine.
#[derive(Clone)]
pub struct FlowsState {
    /// Flows, runs and step attempts.
    pub store: Arc<dyn crate::flows::FlowStore>,
    /// The engine executing runs in this process.
    pub engine: Arc<dyn crate::flows::FlowEngineHandle>,
}

struct StateInner {
    store: Arc<dyn Store>,
    api_keys: OperatorApiKeys,
    public_url: Url,
    accounts: AccountClients,
    http: reqwest::Client,
    /// When each account's `last_used_at` was last written by this process.
    touched: std::sync::Mutex<
        std::collections::HashMap<crate::store::LinkedAccountId, std::time::SystemTime>,
    >,
    /// The reconnect link handed out per account: (session id, link, expires at (RFC 3339),
    /// expiry), reused while its session is unused.
    reconnect_links:
        tokio::sync::Mutex<std::collections::HashMap<crate::store::LinkedAccountId, ReconnectLink>>,
    /// Signs the run-history pages' session cookies (random per process).
    ui_session_key: crate::flows::ui::SessionKey,
}

/// A reconnect link already handed out for an account.
#[derive(Clone)]
pub(crate) struct ReconnectLink {
    pub(crate) session: crate::store::ConnectSessionId,
    pub(crate) url: String,
    pub(crate) expires_at: String,
}

/// How often an account's `last_used_at` is written at most (each write is a durable commit).
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("public_url", &self.inner.public_url.as_str())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store`, accepting `api_keys`, announcing `public_url`.
    pub fn new(
        store: Arc<dyn Store>,
        api_keys: OperatorApiKeys,
        public_url: Url,
        accounts: AccountClients,
        link_timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(StateInner {
                store,
                api_keys,
                public_url,
                accounts,
                http: crate::link::verification_http_client(link_timeout),
                touched: Default::default(),
                reconnect_links: Default::default(),
                ui_session_key: crate::flows::ui::SessionKey::generate(),
            }),
            triggers: None,
            flows: None,
            mcp_tokens: None,
            readiness: health::Readiness::default(),
        }
    }

    /// The same state with the whole service store, which `/readyz` checks (database reachable,
    /// migrations current).
    pub fn with_service_store(mut self, store: crate::store::SharedStore) -> Self {
        self.readiness.store = Some(store);
        self
    }

    pub(crate) fn readiness(&self) -> &health::Readiness {
        &self.readiness
    }

    /// The same state with MCP tokens: the router then serves `/mcp` and the token routes.
    pub fn with_mcp_tokens(mut self, store: Arc<dyn crate::mcp::McpTokenStore>) -> Self {
        self.mcp_tokens = Some(store);
        self
    }

    /// The MCP token store, if the service serves MCP.
    pub fn mcp_tokens(&self) -> Option<&Arc<dyn crate::mcp::McpTokenStore>> {
        self.mcp_tokens.as_ref()
    }

    /// The same state with flows: the router then serves the flow routes and pages.
    pub fn with_flows(mut self, flows: FlowsState) -> Self {
        self.flows = Some(flows);
        self
    }

    /// The flow store and engine, if the service runs flows.
    pub fn flows(&self) -> Option<&FlowsState> {
        self.flows.as_ref()
    }

    /// The same state with a trigger engine: the router then serves `/api/v1/subscriptions`.
    pub fn with_triggers(mut self, engine: crate::triggers::TriggerEngine) -> Self {
        self.triggers = Some(engine);
        self
    }

    /// The trigger engine, if the service runs one.
    pub fn triggers(&self) -> Option<&crate::triggers::TriggerEngine> {
        self.triggers.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The linked-account runtime.
    pub fn accounts(&self) -> &AccountClients {
        &self.inner.accounts
    }

    /// The public URL (always ends with `/`).
    pub fn public_url(&self) -> &Url {
        &self.inner.public_url
    }

    /// The OAuth redirect URI to register in the Databricks app connection.
    pub fn callback_url(&self) -> String {
        self.public_link(CALLBACK_PATH)
    }

    /// `public_url` joined with an absolute `path`.
    pub fn public_link(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.inner.public_url.as_str().trim_end_matches('/'),
            path
        )
    }

    /// Records that an account was used: writes `last_used_at` at most every [`TOUCH_EVERY`]
    /// per account, so a burst of actions does not become a burst of disk syncs.
    pub(crate) async fn touch(&self, id: &crate::store::LinkedAccountId) {
        let now = self.accounts().clock().now();
        {
            let mut touched = self.inner.touched.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(last) = touched.get(id)
                && now.duration_since(*last).unwrap_or_default() < TOUCH_EVERY
            {
                return;
            }
            touched.insert(id.clone(), now);
        }
        if let Err(e) = self.store().touch_linked_account(id.clone()).await {
            tracing::warn!(account = %id, error = %e, "cannot record the account's last use");
        }
    }

    pub(crate) fn reconnect_links(
        &self,
    ) -> &tokio::sync::Mutex<std::collections::HashMap<crate::store::LinkedAccountId, ReconnectLink>>
    {
        &self.inner.reconnect_links
    }

    pub(crate) fn api_keys(&self) -> &OperatorApiKeys {
        &self.inner.api_keys
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn ui_session_key(&self) -> &crate::flows::ui::SessionKey {
        &self.inner.ui_session_key
    }
}

/// The whole service as one router: `/api/v1/...` (operator key required), `/connect/...`
/// and `/oauth/callback` (single-use session tokens), with MCP tokens `/mcp`, with flows the webhook route and the
/// run-history pages under `/ui`, with the body size limit.
pub fn router(state: AppState) -> Router {
    let api = routes::api_router(state.clone());
    let mut pages = Router::new()
        .merge(health::routes())
        .merge(connect::routes())
        .merge(oauth::routes());
    if state.flows().is_some() {
        pages = pages
            .merge(crate::flows::api::hook_routes())
            .merge(crate::flows::ui::routes(state.clone()));
    }
    let mcp = match state.mcp_tokens() {
        Some(_) => crate::mcp::http::routes(state.clone()),
        None => Router::new(),
    };
    pages
        .with_state(state)
        .merge(api)
        .merge(mcp)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Starts services; see [`Service::start`].
#[derive(Debug)]
pub struct Service;

impl Service {
    /// Opens the data directory (master key, store, operator key), binds `opts.listen` and
    /// serves until [`RunningService::shutdown`].
    pub async fn start(opts: ServeOptions) -> Result<RunningService, StartError> {
        if let Some(url) = &opts.public_url
            && (!matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || url.query().is_some())
        {
            return Err(StartError::PublicUrl(format!(
                "`{url}` must be an http(s) URL with a host and no query"
            )));
        }
        let started = crate::startup::open_store(
            &opts.data_dir,
            opts.database_url.as_ref(),
            &opts.env,
            opts.clock.clone(),
        )
        .await
        .map_err(StartError::Store)?;
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| StartError::Bind {
                listen: opts.listen,
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| StartError::Bind {
            listen: opts.listen,
            source,
        })?;
        let url = bound_url(bound);
        let public_url = opts.public_url.clone().unwrap_or_else(|| url.clone());
        let store: Arc<dyn Store> = started.store.clone();
        let accounts = AccountClients::new(
            store.clone(),
            AccountClientsOptions {
                client: opts.client_options.clone(),
                clock: opts.clock.clone(),
                ..AccountClientsOptions::default()
            },
        );
        let triggers = crate::triggers::TriggerEngine::new(
            started.store.clone(),
            Arc::new(accounts.clone()),
            Arc::new(crate::triggers::SyncPoller::default()),
            opts.triggers.clone(),
        );
        let triggers_task = triggers.start().await.map_err(StartError::Triggers)?;
        let flow_store: Arc<dyn crate::flows::FlowStore> = started.store.clone();
        let flows = crate::flows::FlowEngine::new(
            flow_store.clone(),
            started.store.clone(),
            accounts.clone(),
            opts.flows.clone(),
        )
        .with_trigger_engine(triggers.clone());
        let flows_task = match flows.start().await {
            Ok(task) => task,
            Err(e) => {
                triggers_task.stop();
                return Err(StartError::Flows(e));
            }
        };
        let state = AppState::new(
            store,
            started.api_keys.clone(),
            public_url.clone(),
            accounts.clone(),
            opts.link_timeout,
        )
        .with_triggers(triggers)
        .with_flows(FlowsState {
            store: flow_store,
            engine: Arc::new(flows),
        })
        .with_mcp_tokens(started.store.clone())
        .with_service_store(started.store.clone());
        let app = router(state.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        });
        let pruner = tokio::spawn(prune_sessions(started.store.clone(), opts.clock.clone()));
        tracing::info!(%url, public_url = %public_url, "brickwire serve listening");
        Ok(RunningService {
            url,
            public_url,
            generated_api_key: started.generated_api_key,
            store: started.store,
            state,
            stop: Some(stop_tx),
            task: Some(task),
            triggers: Some(triggers_task),
            flows: Some(flows_task),
            pruner,
        })
    }
}

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory could not be opened.
    #[error("{0}")]
    Store(#[source] crate::Error),
    /// The trigger engine could not load its subscriptions.
    #[error("triggers: {0}")]
    Triggers(#[source] crate::triggers::EngineError),
    /// The flow engine could not recover the runs of the previous process.
    #[error("flows: {0}")]
    Flows(#[source] crate::Error),
    /// The public URL is not usable for links.
    #[error("invalid public URL: {0}")]
    PublicUrl(String),
    /// The address could not be bound.
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        /// The address asked for.
        listen: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// How often expired connect sessions are deleted, and how long after expiry they are kept
/// (so `GET /api/v1/connect-sessions/{id}` can still say `expired` for a while).
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);
const KEEP_EXPIRED: Duration = Duration::from_secs(24 * 3600);

async fn prune_sessions(store: SharedStore, clock: Arc<dyn Clock>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let before = clock.now() - KEEP_EXPIRED;
        match store.prune_connect_sessions(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned expired connect sessions"),
            Err(e) => tracing::warn!(error = %e, "cannot prune connect sessions"),
        }
    }
}

fn bound_url(addr: SocketAddr) -> Url {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Url::parse(&format!("http://{}/", SocketAddr::new(ip, addr.port())))
        .expect("a socket address makes a URL")
}

/// A running service.
#[derive(Debug)]
pub struct RunningService {
    url: Url,
    public_url: Url,
    generated_api_key: Option<SecretString>,
    store: SharedStore,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    triggers: Option<crate::triggers::EngineHandle>,
    flows: Option<crate::flows::FlowEngineTask>,
    pruner: JoinHandle<()>,
}

impl RunningService {
    /// Where it listens, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// The public URL (connect links and the OAuth callback use it).
    pub fn public_url(&self) -> Url {
        self.public_url.clone()
    }

    /// The operator API key generated by this start (first start without
    /// `BRICKWIRE_API_KEY`); show it once.
    pub fn generated_api_key(&self) -> Option<&SecretString> {
        self.generated_api_key.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The linked-account runtime (one shared client per account).
    pub fn accounts(&self) -> &AccountClients {
        self.state.accounts()
    }

    /// The handlers' state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting connections, waits for open requests, and returns.
    pub async fn shutdown(mut self) {
        self.state
            .readiness()
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(flows) = self.flows.take() {
            flows.shutdown().await;
        }
        if let Some(triggers) = self.triggers.take() {
            triggers.stop();
            if let Some(engine) = self.state.triggers() {
                engine.release_leases().await;
            }
        }
        self.pruner.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if let Some(flows) = self.flows.take() {
            flows.stop();
        }
        if let Some(triggers) = self.triggers.take() {
            triggers.stop();
        }
        self.pruner.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
