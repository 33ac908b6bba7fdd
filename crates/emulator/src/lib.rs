//! A local emulator of a Databricks workspace, in the spirit of LocalStack, moto and Azurite.
//!
//! [`Emulator::start`] serves the workspace on a local port; [`router`] is the same thing as an
//! axum [`Router`] for in-process tests. Each Databricks service is a module with a `state`
//! part (the logic, no HTTP) and a `routes` part (parse, call, serialize), registered in the
//! one list of [`services`]. Start reading at [`state::Workspace`], which owns every service's
//! state and the emulator's settings.

pub mod admin;
pub mod auth;
pub mod clusters;
pub mod counters;
pub mod error;
pub mod faults;
pub mod jobs;
pub mod oauth;
pub mod persistence;
pub mod scim;
pub mod services;
pub mod settings;
pub mod sql;
pub mod state;
pub mod statements;
pub mod unity_catalog;
pub mod warehouses;
pub mod workspace_objects;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use error::{ApiError, ErrorCode};
pub use state::{AppState, Workspace};

/// The token the emulator accepts when none is configured.
pub const DEFAULT_TOKEN: &str = "dapi-emulator";

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The personal access token accepted from the start.
    pub token: String,
    /// Where to keep the workspace across restarts; `None` keeps it in memory only.
    pub state_dir: Option<PathBuf>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: DEFAULT_TOKEN.to_owned(),
            state_dir: None,
        }
    }
}

/// The whole emulated workspace as one router, with the admin API under `/_emulator`.
///
/// Middleware order, outermost first: request counters, fault injection (`/api/`, `/oidc/`),
/// token check. Admin routes have none of them.
pub fn router(state: AppState) -> Router {
    let admin = admin::AdminState::new(state.clone());
    services::routes()
        .fallback(no_such_endpoint)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            admin.fault_state(),
            faults::inject,
        ))
        .layer(axum::middleware::from_fn_with_state(
            admin.counters.clone(),
            counters::count,
        ))
        .with_state(state)
        .merge(admin::routes(admin))
}

/// What Databricks answers for a path it does not serve.
async fn no_such_endpoint(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        ErrorCode::EndpointNotFound,
        format!("No API found for '{method} {}'", uri.path()),
    )
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    base_url: String,
    token: String,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    persistence: Option<(Arc<persistence::Persistence>, tokio::task::JoinHandle<()>)>,
}

impl Emulator {
    /// Starts an emulator in the background of the current tokio runtime.
    pub async fn start(options: EmulatorOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let workspace = Arc::new(Workspace::new(&base_url, &options.token));
        let state = AppState::new(workspace.clone());
        let mut app = router(state.clone());
        let persistence = match &options.state_dir {
            None => None,
            Some(dir) => {
                let persistence = persistence::Persistence::open(dir)?;
                persistence.load(&workspace)?;
                app = app.layer(axum::middleware::from_fn_with_state(
                    persistence.clone(),
                    persistence::track_changes,
                ));
                let flusher = tokio::spawn(persistence.clone().run_flusher(workspace));
                Some((persistence, flusher))
            }
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        Ok(Self {
            base_url,
            token: options.token,
            state,
            shutdown: Some(tx),
            task: Some(task),
            persistence,
        })
    }

    /// The workspace URL, e.g. `http://127.0.0.1:8765`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A personal access token the emulator accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The emulator's state, for tests that look inside.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops the server, waits for it to finish, and saves the state (with `state_dir`).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.save_state();
    }

    /// Writes what changed since the last flush, if the emulator keeps state.
    fn save_state(&mut self) {
        if let Some((persistence, flusher)) = self.persistence.take() {
            flusher.abort();
            if let Err(e) = persistence.flush(&self.state) {
                tracing::error!(error = %e, "could not save the emulator state");
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.save_state();
    }
}
