//! `--state-dir`: the emulated workspace survives a restart.
//!
//! The whole workspace is one JSON document, `state.json` in the state directory: settings,
//! personal access tokens, and every service's state (clusters, warehouses, jobs and runs, Unity
//! Catalog with table rows, workspace objects, SCIM, OAuth app connections and token hashes).
//! SQL statements are not kept: their results are short-lived in Databricks too, and a restart
//! is as if they had been purged.
//!
//! Writes are coalesced: a mutating request marks the workspace dirty and a background flusher
//! writes at most every [`FLUSH_INTERVAL`]; stopping the emulator flushes once more. Each write
//! goes to a temporary file that is synced and then renamed over `state.json`, so a crash leaves
//! either the old or the new document, never half of one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::settings::Settings;
use crate::state::Workspace;

/// How often the flusher writes a dirty workspace.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

const FILE_NAME: &str = "state.json";
const FORMAT_VERSION: u32 = 1;

/// The document in `state.json`. Service states are kept as JSON values so that each is taken
/// under its own lock, one at a time.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    format_version: u32,
    settings: Settings,
    tokens: Vec<String>,
    clusters: Value,
    warehouses: Value,
    jobs: Value,
    unity_catalog: Value,
    workspace_objects: Value,
    scim: Value,
    oauth: Value,
}

/// Keeps one workspace in one state directory.
pub struct Persistence {
    path: PathBuf,
    dirty: AtomicBool,
}

impl Persistence {
    /// Uses `dir` (created if missing) for the workspace's state.
    pub fn open(dir: &Path) -> io::Result<Arc<Self>> {
        fs::create_dir_all(dir)?;
        Ok(Arc::new(Self {
            path: dir.join(FILE_NAME),
            dirty: AtomicBool::new(false),
        }))
    }

    /// Loads the saved state into `ws`, if there is any; returns whether there was.
    pub fn load(&self, ws: &Workspace) -> io::Result<bool> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let snapshot: Snapshot =
            serde_json::from_slice(&bytes).map_err(|e| invalid(&self.path, e))?;
        if snapshot.format_version != FORMAT_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} has format version {}, this emulator reads version {FORMAT_VERSION}",
                    self.path.display(),
                    snapshot.format_version
                ),
            ));
        }
        let path = &self.path;
        let clusters = serde_json::from_value(snapshot.clusters).map_err(|e| invalid(path, e))?;
        let warehouses =
            serde_json::from_value(snapshot.warehouses).map_err(|e| invalid(path, e))?;
        let jobs = serde_json::from_value(snapshot.jobs).map_err(|e| invalid(path, e))?;
        let unity_catalog =
            serde_json::from_value(snapshot.unity_catalog).map_err(|e| invalid(path, e))?;
        let workspace_objects =
            serde_json::from_value(snapshot.workspace_objects).map_err(|e| invalid(path, e))?;
        let scim = serde_json::from_value(snapshot.scim).map_err(|e| invalid(path, e))?;
        let oauth = serde_json::from_value(snapshot.oauth).map_err(|e| invalid(path, e))?;
        // Everything decoded: only now replace the fresh workspace's state.
        *ws.clusters.lock().expect("clusters lock") = clusters;
        *ws.warehouses.lock().expect("warehouses lock") = warehouses;
        *ws.jobs.lock().expect("jobs lock") = jobs;
        *ws.unity_catalog.lock().expect("unity catalog lock") = unity_catalog;
        *ws.workspace_objects.lock().expect("workspace objects lock") = workspace_objects;
        *ws.scim.lock().expect("scim lock") = scim;
        *ws.oauth.lock().expect("oauth lock") = oauth;
        ws.tokens
            .write()
            .expect("tokens lock")
            .extend(snapshot.tokens);
        crate::admin::apply_settings(ws, snapshot.settings);
        Ok(true)
    }

    /// Writes the workspace now (temporary file, sync, rename).
    pub fn save(&self, ws: &Workspace) -> io::Result<()> {
        let snapshot = Snapshot {
            format_version: FORMAT_VERSION,
            settings: ws.settings(),
            tokens: ws
                .tokens
                .read()
                .expect("tokens lock")
                .iter()
                .cloned()
                .collect(),
            clusters: to_value(&*ws.clusters.lock().expect("clusters lock"))?,
            warehouses: to_value(&*ws.warehouses.lock().expect("warehouses lock"))?,
            jobs: to_value(&*ws.jobs.lock().expect("jobs lock"))?,
            unity_catalog: to_value(&*ws.unity_catalog.lock().expect("unity catalog lock"))?,
            workspace_objects: to_value(
                &*ws.workspace_objects.lock().expect("workspace objects lock"),
            )?,
            scim: to_value(&*ws.scim.lock().expect("scim lock"))?,
            oauth: to_value(&*ws.oauth.lock().expect("oauth lock"))?,
        };
        let temporary = self.path.with_extension("json.tmp");
        let mut file = fs::File::create(&temporary)?;
        serde_json::to_writer(&mut file, &snapshot).map_err(io::Error::other)?;
        file.flush()?;
        file.sync_all()?;
        fs::rename(&temporary, &self.path)
    }

    /// Notes that the workspace changed and needs writing.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Writes the workspace if it changed since the last write.
    pub fn flush(&self, ws: &Workspace) -> io::Result<()> {
        if self.dirty.swap(false, Ordering::AcqRel)
            && let Err(e) = self.save(ws)
        {
            self.dirty.store(true, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    /// Flushes every [`FLUSH_INTERVAL`] until the task is aborted.
    pub async fn run_flusher(self: Arc<Self>, ws: Arc<Workspace>) {
        let mut ticks = tokio::time::interval(FLUSH_INTERVAL);
        loop {
            ticks.tick().await;
            let (this, ws) = (self.clone(), ws.clone());
            let result = tokio::task::spawn_blocking(move || this.flush(&ws)).await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "could not save the emulator state"),
                Err(e) => tracing::error!(error = %e, "the state flusher failed"),
            }
        }
    }
}

/// Marks the workspace dirty after every request that may have changed it.
pub async fn track_changes(
    State(persistence): State<Arc<Persistence>>,
    request: Request,
    next: Next,
) -> Response {
    let mutating = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let response = next.run(request).await;
    if mutating {
        persistence.mark_dirty();
    }
    response
}

fn to_value<T: Serialize>(state: &T) -> io::Result<Value> {
    serde_json::to_value(state).map_err(io::Error::other)
}

fn invalid(path: &Path, e: serde_json::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} is not a saved emulator state: {e}", path.display()),
    )
}
