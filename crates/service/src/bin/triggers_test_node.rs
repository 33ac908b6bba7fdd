//! `brickwire serve` reduced to what the crash tests in `tests/triggers_crash.rs` need: it
//! starts [`Service`] on `BRICKWIRE_DATA_DIR` (master key from `BRICKWIRE_MASTER_KEY`) with a
//! fast trigger tick and short retry backoff, prints `ready <url>` and serves until killed.

use std::path::PathBuf;
use std::time::Duration;

use brickwire_service::triggers::{EngineOptions, RetryBackoff};
use brickwire_service::{ServeOptions, Service, StartupEnv};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::var_os("BRICKWIRE_DATA_DIR").ok_or("BRICKWIRE_DATA_DIR is not set")?,
    );
    let mut options = ServeOptions::new(dir);
    options.env = StartupEnv::from_process();
    options.triggers = EngineOptions {
        tick: Duration::from_millis(20),
        retry_backoff: RetryBackoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.5,
        },
        ..EngineOptions::default()
    };
    let service = Service::start(options).await?;
    println!("ready {}", service.url());
    tokio::signal::ctrl_c().await?;
    service.shutdown().await;
    Ok(())
}
