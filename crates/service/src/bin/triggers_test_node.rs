//! `brickwire serve` reduced to what the crash tests in `tests/it/triggers_crash.rs` and the
//! replica tests in `tests/it/replicas.rs` need: it starts [`Service`] on `BRICKWIRE_DATA_DIR`
//! (master key from `BRICKWIRE_MASTER_KEY`; on the PostgreSQL database in
//! `BRICKWIRE_DATABASE_URL` when set) with a fast trigger tick, short retry backoff and, when
//! `BRICKWIRE_TEST_LEASE_MS` is set, leases of that length, prints `ready <url>` and serves
//! until killed.

use std::path::PathBuf;
use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_service::triggers::{EngineOptions, RetryBackoff};
use brickwire_service::{ServeOptions, Service, StartupEnv};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::var_os("BRICKWIRE_DATA_DIR").ok_or("BRICKWIRE_DATA_DIR is not set")?,
    );
    let mut options = ServeOptions::new(dir);
    options.env = StartupEnv::from_process();
    options.database_url = std::env::var(brickwire_service::store::DATABASE_URL_ENV)
        .ok()
        .map(SecretString::new);
    options.triggers = EngineOptions {
        tick: Duration::from_millis(20),
        retry_backoff: RetryBackoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.5,
        },
        ..EngineOptions::default()
    };
    if let Ok(ms) = std::env::var("BRICKWIRE_TEST_LEASE_MS") {
        let lease = Duration::from_millis(ms.parse()?);
        options.triggers.lease = lease;
        options.flows.run_lease = lease;
    }
    let service = Service::start(options).await?;
    println!("ready {}", service.url());
    tokio::signal::ctrl_c().await?;
    service.shutdown().await;
    Ok(())
}
