//! `brickwire serve`: runs the service (REST API, connect page, OAuth callback) over the
//! embedded store in a data directory until Ctrl-C.
//!
//! Wiring (one line in main.rs): `Serve(serve_cmd::ServeArgs)` in the subcommand enum,
//! dispatched with `serve_cmd::run(args).await`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use brickwire_service::{ServeOptions, Service, StartupEnv};
use clap::Args;
use url::Url;

/// `brickwire serve [--listen ADDR] [--data-dir DIR] [--public-url URL]`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The data directory: the SQLite database `brickwire.db` and, unless BRICKWIRE_MASTER_KEY
    /// is set, the master key file `master.key` (mode 0600). Created if missing.
    #[arg(long, value_name = "DIR", default_value = "./brickwire-data")]
    pub data_dir: PathBuf,
    /// The URL end users and Databricks reach this service at; connect links and the OAuth
    /// callback (`<URL>/oauth/callback`) use it. Default: `http://<listen address>`.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<Url>,
}

/// Runs the service until Ctrl-C. The operator API key comes from BRICKWIRE_API_KEY, or is
/// generated at the first start and printed once.
pub async fn run(args: ServeArgs) -> ExitCode {
    let mut options = ServeOptions::new(&args.data_dir);
    options.listen = args.listen;
    options.public_url = args.public_url;
    options.env = StartupEnv::from_process();
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
    println!("data directory: {}", args.data_dir.display());
    if let Some(key) = service.generated_api_key() {
        println!();
        println!("Operator API key (shown only this once; store it now):");
        println!("    {}", key.expose_secret());
        println!(
            "Send it as `Authorization: Bearer <key>`. Set BRICKWIRE_API_KEY to choose your own."
        );
    }
    println!("Ctrl-C stops the service.");
    let _ = tokio::signal::ctrl_c().await;
    service.shutdown().await;
    ExitCode::SUCCESS
}
