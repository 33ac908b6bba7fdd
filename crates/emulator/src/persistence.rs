//! `--state-dir`: the emulated workspace survives a restart.
//!
//! The whole workspace is one JSON document, `state.json` in the state directory: settings,
//! personal access tokens, and every service's state (clusters, warehouses, jobs and runs, Unity
//! Catalog with table rows, workspace objects, SCIM, OAuth app connections and token hashes),
//! each under its [`EmulatedService::NAME`] as its [`EmulatedService::snapshot`] gives it.
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

use crate::services::{EmulatedService, with_services};
use crate::settings::Settings;
use crate::state::Workspace;

/// How often the flusher writes a dirty workspace.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

const FILE_NAME: &str = "state.json";
const FORMAT_VERSION: u32 = 1;

macro_rules! snapshot {
    ($($(#[$doc:meta])* $name:ident: $service:ty,)*) => {
        /// The document in `state.json`: one entry per service of
        /// `with_services!` in [`crate::services`] whose state survives a restart.
        /// Service states are kept as JSON values so that each is taken under its own lock, one
        /// at a time.
        #[derive(Serialize, Deserialize)]
        struct Snapshot {
            format_version: u32,
            settings: Settings,
            tokens: Vec<String>,
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                $name: Option<Value>,
            )*
        }

        impl Snapshot {
            /// Each service's state, taken under its lock in turn.
            fn take(ws: &Workspace) -> io::Result<Self> {
                Ok(Self {
                    format_version: FORMAT_VERSION,
                    settings: ws.settings(),
                    tokens: ws
                        .tokens
                        .read()
                        .expect("tokens lock")
                        .iter()
                        .cloned()
                        .collect(),
                    $(
                        $name: <$service as EmulatedService>::snapshot(
                            &ws.$name.lock().expect(concat!(stringify!($name), " lock")),
                        )
                        .transpose()
                        .map_err(io::Error::other)?,
                    )*
                })
            }

            /// Replaces `ws`'s state with the saved one once every service's state decoded. A
            /// service missing from the document keeps its fresh state.
            fn restore(self, ws: &Workspace, path: &Path) -> io::Result<()> {
                $(
                    let $name = match self.$name {
                        Some(saved) => Some(
                            <$service as EmulatedService>::restore(saved)
                                .map_err(|e| invalid(path, e))?,
                        ),
                        None => None,
                    };
                )*
                $(
                    if let Some(state) = $name {
                        *ws.$name.lock().expect(concat!(stringify!($name), " lock")) = state;
                    }
                )*
                ws.tokens
                    .write()
                    .expect("tokens lock")
                    .extend(self.tokens);
                crate::admin::apply_settings(ws, self.settings);
                Ok(())
            }
        }
    };
}
with_services!(snapshot);

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
        snapshot.restore(ws, &self.path)?;
        Ok(true)
    }

    /// Writes the workspace now (temporary file, sync, rename).
    pub fn save(&self, ws: &Workspace) -> io::Result<()> {
        let snapshot = Snapshot::take(ws)?;
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

fn invalid(path: &Path, e: serde_json::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} is not a saved emulator state: {e}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document keeps the keys, and their order, it had before the services were
    /// registered through one list, so files written by older emulators still load.
    #[test]
    fn the_document_has_one_entry_per_kept_service_in_the_old_order() {
        let dir = tempfile::tempdir().unwrap();
        let persistence = Persistence::open(dir.path()).unwrap();
        let ws = Workspace::new("http://127.0.0.1:1", "t");
        persistence.save(&ws).unwrap();
        let saved: Value =
            serde_json::from_slice(&fs::read(dir.path().join(FILE_NAME)).unwrap()).unwrap();
        let keys: Vec<&str> = saved
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "format_version",
                "settings",
                "tokens",
                "clusters",
                "warehouses",
                "jobs",
                "unity_catalog",
                "workspace_objects",
                "scim",
                "oauth",
            ]
        );
        let again = Workspace::new("http://127.0.0.1:1", "u");
        assert!(persistence.load(&again).unwrap());
        assert!(again.tokens.read().unwrap().contains("t"));
    }
}
