//! `brickwire serve`: runs the service (REST API, connect page, OAuth callback) over the
//! embedded store in a data directory, or over a PostgreSQL database shared by several
//! replicas, until Ctrl-C or SIGTERM. The data directory is shared with `brickwire accounts`
//! (same flag, same `BRICKWIRE_DATA_DIR`, same default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use brickwire_api::SecretString;
use brickwire_service::{ServeOptions, Service, StartupEnv};
use clap::Args;
use url::Url;

/// `brickwire serve [--listen ADDR] [--data-dir DIR] [--database-url URL] [--public-url URL]
/// [--rate-limit N]`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The data directory: the SQLite database `brickwire.db` and, unless BRICKWIRE_MASTER_KEY
    /// is set, the master key file `master.key` (mode 0600). Created if missing.
    #[arg(
        long,
        value_name = "DIR",
        env = crate::accounts_cmd::DATA_DIR_ENV,
        default_value = crate::accounts_cmd::DEFAULT_DATA_DIR
    )]
    pub data_dir: PathBuf,
    /// A PostgreSQL database to keep everything in instead of SQLite in the data directory
    /// (`postgres://user:password@host:5432/db`); replicas on one database share the work.
    /// Replicas must share the master key too: set BRICKWIRE_MASTER_KEY.
    #[arg(long, value_name = "URL", env = brickwire_service::store::DATABASE_URL_ENV, hide_env_values = true)]
    pub database_url: Option<String>,
    /// The URL end users and Databricks reach this service at; connect links and the OAuth
    /// callback (`<URL>/oauth/callback`) use it. Default: `http://<listen address>`.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<Url>,
    /// Requests per second to each workspace, shared by all the accounts linked to it (as the
    /// Databricks SDKs limit one client; 0 turns the limit off).
    #[arg(long, value_name = "N", default_value_t = 15.0, value_parser = parse_rate_limit)]
    pub rate_limit: f64,
}

fn parse_rate_limit(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err("must be a number of requests per second, 0 or more".to_owned()),
    }
}

/// Runs the service until Ctrl-C. The operator API key comes from BRICKWIRE_API_KEY, or is
/// generated at the first start and printed once.
pub async fn run(args: ServeArgs) -> ExitCode {
    let mut options = ServeOptions::new(&args.data_dir);
    options.listen = args.listen;
    options.public_url = args.public_url;
    options.client_options.rate_limit = (args.rate_limit > 0.0).then_some(args.rate_limit);
    options.env = StartupEnv::from_process();
    options.database_url = args.database_url.map(SecretString::new);
    let service = match Service::start(options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start brickwire serve: {e}");
            return ExitCode::from(1);
        }
    };
    println!("brickwire serve listening at {}", service.url());
    if service.public_url() != service.url() {
        println!("public URL: {}", service.public_url());
    }
    println!(
        "REST API: {}api/v1 (OpenAPI document at {}api/v1/openapi.json)",
        service.public_url(),
        service.public_url()
    );
    println!(
        "OAuth redirect URL to register in the Databricks app connection: {}oauth/callback",
        service.public_url()
    );
    match service.store().backend() {
        "postgres" => println!("database: PostgreSQL (shared by every replica on it)"),
        _ => println!("data directory: {}", args.data_dir.display()),
    }
    if let Some(key) = service.generated_api_key() {
        println!();
        println!("Operator API key (shown only this once; store it now):");
        println!("    {}", key.expose_secret());
        println!(
            "Send it as `Authorization: Bearer <key>`. Set BRICKWIRE_API_KEY to choose your own."
        );
    }
    println!("Ctrl-C or SIGTERM stops the service.");
    stop_signal().await;
    service.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM (what orchestrators send before they kill a replica).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::parse_rate_limit;

    #[test]
    fn rate_limit_is_a_non_negative_number() {
        assert_eq!(parse_rate_limit("15"), Ok(15.0));
        assert_eq!(parse_rate_limit("0"), Ok(0.0));
        for bad in ["-1", "x", "NaN", "inf"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }
}
