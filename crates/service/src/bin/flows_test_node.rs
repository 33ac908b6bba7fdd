//! `brickwire serve` for the crash tests in `tests/it/flows_crash.rs`: it starts [`Service`] on
//! `BRICKWIRE_DATA_DIR` (master key from `BRICKWIRE_MASTER_KEY`) with fast flow and trigger
//! ticks and short retry delays, prints `ready <url>` and serves until killed.

use std::path::PathBuf;
use std::time::Duration;

use brickwire_service::flows::FlowEngineOptions;
use brickwire_service::triggers::EngineOptions;
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
        ..EngineOptions::default()
    };
    options.flows = FlowEngineOptions {
        tick: Duration::from_millis(20),
        trigger_tick: Duration::from_millis(50),
        ..FlowEngineOptions::default()
    };
    let service = Service::start(options).await?;
    println!("ready {}", service.url());
    tokio::signal::ctrl_c().await?;
    service.shutdown().await;
    Ok(())
}
