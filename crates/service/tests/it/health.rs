//! `GET /healthz` and `GET /readyz` of a started service on each backend: alive and ready on a
//! current database, and on PostgreSQL not ready (503, no URL or password in the answer) once
//! the database is gone or its schema is behind this build, while `/healthz` stays 200.

use crate::backends;

use brickwire_api::SecretString;
use brickwire_service::{RunningService, ServeOptions, Service, StartupEnv};
use reqwest::StatusCode;
use serde_json::Value;

async fn start(dir: &tempfile::TempDir, database_url: Option<SecretString>) -> RunningService {
    let mut options = ServeOptions::new(dir.path());
    options.database_url = database_url;
    options.env = StartupEnv::default();
    Service::start(options).await.unwrap()
}

async fn get(service: &RunningService, path: &str) -> (StatusCode, Value, String) {
    let response = reqwest::get(service.url().join(path).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, text)
}

#[tokio::test]
async fn sqlite_service_is_alive_and_ready() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(&dir, None).await;
    let (status, body, _) = get(&service, "/healthz").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body, _) = get(&service, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "sqlite");
    service.shutdown().await;
}

#[tokio::test]
async fn postgres_readiness_follows_the_database_and_its_schema() {
    let Some(url) = backends::fresh_postgres_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let service = start(&dir, Some(url.clone())).await;
    let (status, body, _) = get(&service, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["database"], "postgres");

    // A schema behind this build (an older migration set) is not ready.
    let client = backends::pg_client(&url).await;
    let latest: i64 = client
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "DELETE FROM schema_migrations WHERE version = $1",
            &[&latest],
        )
        .await
        .unwrap();
    let (status, body, _) = get(&service, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready", "{body}");
    drop(client);

    // A database that is gone is not ready either, and the answer names no URL or password.
    let database = url::Url::parse(url.expose_secret()).unwrap().path()[1..].to_owned();
    let admin = backends::pg_client(&SecretString::new(
        std::env::var(backends::TEST_DATABASE_URL_ENV).unwrap(),
    ))
    .await;
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await
        .unwrap();
    let (status, _, text) = get(&service, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(!text.contains("postgres://"), "{text}");
    if let Some(password) = url::Url::parse(url.expose_secret()).unwrap().password() {
        assert!(!text.contains(password), "{text}");
    }
    // Alive all along: the process still serves.
    let (status, _, _) = get(&service, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    service.shutdown().await;
}
