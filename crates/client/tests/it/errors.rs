//! Error tests through a real HTTP exchange: every error body shape reaches the caller as a
//! classified [`Error`], decode errors name the JSON path that broke, and no error's `Display`
//! or `Debug` ever contains a credential.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use brickwire_client::credentials::PatCredentials;
use brickwire_client::http::{FixedJitter, ManualClock};
use brickwire_client::{
    ApiRequest, AuthError, Client, ClientOptions, Error, ErrorKind, SecretString,
};
use serde::Deserialize;
use tokio::net::TcpListener;
use url::Url;

const TOKEN: &str = "dapi-do-not-print-me";

type Canned = (u16, Vec<(&'static str, &'static str)>, String);

/// The canned answers and how many were used.
type Answers = Arc<Mutex<(Vec<Canned>, usize)>>;

/// Serves one canned answer per request, in order; 418 once they run out.
async fn serve(answers: Vec<Canned>) -> (Url, Arc<Mutex<usize>>) {
    let state = Arc::new(Mutex::new((answers, 0usize)));
    let count = Arc::new(Mutex::new(0usize));
    let seen = count.clone();
    let app = axum::Router::new()
        .fallback(move |State(state): State<Answers>, _req: Request| {
            let seen = seen.clone();
            async move {
                *seen.lock().unwrap() += 1;
                let mut state = state.lock().unwrap();
                let index = state.1;
                state.1 += 1;
                let Some((status, headers, body)) = state.0.get(index).cloned() else {
                    return (StatusCode::IM_A_TEAPOT, "unexpected request").into_response();
                };
                let mut response: Response =
                    (StatusCode::from_u16(status).unwrap(), body).into_response();
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        })
        .with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

fn client(url: &Url, clock: &ManualClock) -> Client {
    Client::builder(
        url.clone(),
        Arc::new(PatCredentials::new(&SecretString::new(TOKEN))),
    )
    .options(ClientOptions {
        rate_limit: None,
        ..ClientOptions::default()
    })
    .clock(Arc::new(clock.clone()))
    .jitter(Arc::new(FixedJitter(Duration::ZERO)))
    .build()
    .unwrap()
}

fn assert_no_secret(error: &Error, secrets: &[&str]) {
    let shown = format!("{error} {error:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

#[tokio::test]
async fn every_body_shape_is_parsed_and_classified() {
    struct Case {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: &'static str,
        path: &'static str,
        kind: ErrorKind,
        code: Option<&'static str>,
        message: &'static str,
    }
    let case = |status, body, path, kind, code, message| Case {
        status,
        headers: Vec::new(),
        body,
        path,
        kind,
        code,
        message,
    };
    let cases = vec![
        Case {
            headers: vec![("x-request-id", "req-123")],
            ..case(
                404,
                r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Path (/x) doesn't exist."}"#,
                "/api/2.0/workspace/get-status",
                ErrorKind::NotFound,
                Some("RESOURCE_DOES_NOT_EXIST"),
                "Path (/x) doesn't exist.",
            )
        },
        case(
            400,
            r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Cluster 0123-x does not exist"}"#,
            "/api/2.1/clusters/get",
            ErrorKind::NotFound,
            Some("INVALID_PARAMETER_VALUE"),
            "Cluster 0123-x does not exist",
        ),
        case(
            400,
            r#"{"error_code":"SCHEMA_ALREADY_EXISTS","message":"Schema 'x' already exists"}"#,
            "/api/2.1/unity-catalog/schemas",
            ErrorKind::AlreadyExists,
            Some("SCHEMA_ALREADY_EXISTS"),
            "Schema 'x' already exists",
        ),
        case(
            404,
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"User 9 not found","status":"404"}"#,
            "/api/2.0/preview/scim/v2/Users/9",
            ErrorKind::NotFound,
            Some("SCIM_404"),
            "User 9 not found",
        ),
        case(
            500,
            r#"{"error":"legacy failure"}"#,
            "/api/1.2/commands/status",
            ErrorKind::Internal,
            None,
            "legacy failure",
        ),
        case(
            400,
            "INVALID_STATE: job is running",
            "/api/2.2/jobs/reset",
            ErrorKind::InvalidInput,
            Some("INVALID_STATE"),
            "job is running",
        ),
        case(
            502,
            "<html><body><pre>proxy gave up</pre></body></html>",
            "/api/2.0/sql/warehouses",
            ErrorKind::Internal,
            Some("BAD_GATEWAY"),
            "proxy gave up",
        ),
        Case {
            headers: vec![("retry-after", "30")],
            ..case(
                409,
                "",
                "/api/2.2/jobs/update",
                ErrorKind::Conflict,
                None,
                "Conflict",
            )
        },
        case(
            403,
            r#"{"error_code":"PERMISSION_DENIED","message":"no access","details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"req-from-body","serving_data":""}]}"#,
            "/api/2.1/unity-catalog/catalogs",
            ErrorKind::PermissionDenied,
            Some("PERMISSION_DENIED"),
            "no access",
        ),
    ];
    let answers = cases
        .iter()
        .map(|c| (c.status, c.headers.clone(), c.body.to_owned()))
        .collect();
    let (url, count) = serve(answers).await;
    let clock = ManualClock::new();
    let client = client(&url, &clock);
    for c in &cases {
        let err = client.send(ApiRequest::get(c.path)).await.unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(err.kind(), c.kind, "{}", c.body);
        assert_eq!(api.status, c.status);
        assert_eq!(api.error_code.as_deref(), c.code, "{}", c.body);
        assert_eq!(api.message, c.message);
        assert!(!err.is_retryable(), "{}", c.body);
        assert_no_secret(&err, &[TOKEN]);
    }
    assert_eq!(*count.lock().unwrap(), cases.len());
    assert!(clock.sleeps().is_empty());

    // Spot checks on what the loop cannot express generically.
    let (url, _) = serve(vec![
        (404, vec![("x-request-id", "req-123")], "{}".into()),
        (409, vec![("retry-after", "30")], String::new()),
        (
            403,
            vec![],
            r#"{"error_code":"PERMISSION_DENIED","message":"m","details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"req-from-body"}]}"#.into(),
        ),
    ])
    .await;
    let client = self::client(&url, &clock);
    let err = client.send(ApiRequest::get("/a")).await.unwrap_err();
    assert_eq!(err.request_id(), Some("req-123"));
    assert!(err.is_not_found());
    assert!(err.to_string().ends_with("[request id req-123]"), "{err}");
    let err = client.send(ApiRequest::get("/b")).await.unwrap_err();
    assert_eq!(
        err.api().unwrap().retry_after,
        Some(Duration::from_secs(30))
    );
    let err = client.send(ApiRequest::get("/c")).await.unwrap_err();
    assert_eq!(err.request_id(), Some("req-from-body"));
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct ClusterList {
    clusters: Vec<Cluster>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Cluster {
    cluster_id: String,
    state: String,
}

#[tokio::test]
async fn decode_errors_name_the_json_path_and_keep_an_excerpt() {
    let body =
        r#"{"clusters":[{"cluster_id":"a","state":"RUNNING"},{"cluster_id":"b","state":7}]}"#;
    let (url, _) = serve(vec![(200, vec![], body.into()), (200, vec![], "{}".into())]).await;
    let client = client(&url, &ManualClock::new());
    let err = client
        .call::<ClusterList>(ApiRequest::get("/api/2.1/clusters/list"))
        .await
        .unwrap_err();
    let Error::Decode {
        path,
        message,
        body_excerpt,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(path, "clusters[1].state");
    assert!(message.contains("invalid type"), "{message}");
    assert!(
        body_excerpt.contains(r#""cluster_id":"b""#),
        "{body_excerpt}"
    );
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("`clusters[1].state`"), "{err}");

    // A page that is not JSON at all (e.g. a login page): the root, with an excerpt.
    let (url, _) = serve(vec![(200, vec![], "<html>Sign in</html>".into())]).await;
    let err = self::client(&url, &ManualClock::new())
        .call::<ClusterList>(ApiRequest::get("/api/2.1/clusters/list"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { path, body_excerpt, .. } if path == "." && body_excerpt == "<html>Sign in</html>"),
        "{err:?}"
    );

    // An empty object lacks the field: the path is the root.
    let err = client
        .call::<ClusterList>(ApiRequest::get("/api/2.1/clusters/list"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { path, message, .. } if path == "." && message.contains("missing field `clusters`")),
        "{err:?}"
    );
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct NumericToken {
    access_token: u64,
}

#[tokio::test]
async fn no_error_shows_a_credential() {
    let (url, _) = serve(vec![
        (401, vec![], r#"{"error_code":"UNAUTHENTICATED","message":"bad token"}"#.into()),
        (401, vec![], r#"{"error_code":"UNAUTHENTICATED","message":"bad token"}"#.into()),
        (
            200,
            vec![],
            r#"{"access_token":"eyJ-access-secret","refresh_token":"refresh-secret","expires_in":"soon"}"#.into(),
        ),
        (200, vec![], r#"{"access_token":"eyJ-access-secret","expires_in":1}"#.into()),
    ])
    .await;
    let client = client(&url, &ManualClock::new());
    let secrets = [TOKEN, "eyJ-access-secret", "refresh-secret", "query-secret"];

    let err = client
        .send(ApiRequest::get("/api/2.0/token/list").query("token", "query-secret"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert_no_secret(&err, &secrets);

    // A decode error elsewhere in a token response keeps an excerpt, with credentials withheld.
    let err = client
        .call::<TokenResponse>(ApiRequest::post("/oidc/v1/token"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { path, .. } if path == "expires_in"),
        "{err:?}"
    );
    assert_no_secret(&err, &secrets);
    // Failing on the credential itself: serde would quote the value, so the message is withheld.
    let err = client
        .call::<NumericToken>(ApiRequest::post("/oidc/v1/token"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { path, .. } if path == "access_token"),
        "{err:?}"
    );
    assert_no_secret(&err, &secrets);

    // A transport error names the path, never the query.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::builder(
        format!("http://127.0.0.1:{closed}").parse().unwrap(),
        Arc::new(PatCredentials::new(&SecretString::new(TOKEN))),
    )
    .options(ClientOptions {
        rate_limit: None,
        retry_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    })
    .clock(Arc::new(ManualClock::new()))
    .jitter(Arc::new(FixedJitter(Duration::ZERO)))
    .build()
    .unwrap();
    let err = client
        .send(ApiRequest::get("/api/2.0/token/list?token=query-secret"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.to_string().contains("GET /api/2.0/token/list"), "{err}");
    assert_no_secret(&err, &secrets);
    assert_no_secret(
        &Error::Auth(AuthError::other("could not refresh")),
        &secrets,
    );
}
