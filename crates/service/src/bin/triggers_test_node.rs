//! A minimal trigger runner over a data directory, for the crash tests in
//! `tests/triggers_crash.rs`: it opens `BRICKWIRE_DATA_DIR` (master key from
//! `BRICKWIRE_MASTER_KEY`), runs the [`TriggerEngine`] on every stored subscription, prints
//! `ready` and runs until killed. `brickwire serve` runs the same engine with its REST API.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use brickwire_client::ClientOptions;
use brickwire_service::triggers::{
    EngineOptions, RetryBackoff, StoreClients, SyncPoller, TriggerEngine,
};
use brickwire_service::{StartupEnv, open_data_dir};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::var_os("BRICKWIRE_DATA_DIR").ok_or("BRICKWIRE_DATA_DIR is not set")?,
    );
    let started = open_data_dir(&dir, &StartupEnv::from_process()).await?;
    let store = Arc::new(started.store);
    let clients = Arc::new(StoreClients::new(store.clone(), ClientOptions::default()));
    let options = EngineOptions {
        tick: Duration::from_millis(20),
        retry_backoff: RetryBackoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.5,
        },
        ..EngineOptions::default()
    };
    let engine = TriggerEngine::new(store, clients, Arc::new(SyncPoller::default()), options);
    let _handle = engine.start().await?;
    println!("ready");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
