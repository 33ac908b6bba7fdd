//! Triggers inside `brickwire serve` (`Service::start`): the routes sit behind the operator key,
//! appear in the OpenAPI document, use the service's error shape, and the service's own engine
//! polls and delivers webhooks; subscriptions and cursors survive a restart.

use crate::common;
use crate::triggers_support;

use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_service::store::{Credential, NewLinkedAccount};
use common::Svc;
use reqwest::{Method, StatusCode};
use serde_json::json;
use triggers_support::{Receiver, SECRET, create_job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_serves_triggers_behind_the_operator_key_and_delivers() {
    let emulator = brickwire_emulator::Emulator::start(Default::default())
        .await
        .unwrap();
    let mut svc = Svc::start().await;
    let account = svc
        .service()
        .store()
        .insert_linked_account(NewLinkedAccount {
            display_name: "emulator".into(),
            end_user_ref: None,
            workspace_host: emulator.base_url().parse().unwrap(),
            credential: Credential::ApiKey {
                token: SecretString::new(emulator.token()),
            },
        })
        .await
        .unwrap();
    create_job(&emulator, "a").await;
    create_job(&emulator, "b").await;
    let receiver = Receiver::start(200).await;

    let body = json!({
        "linked_account_id": account.id,
        "source": {"type": "jobs"},
        "start_from": "beginning",
        "poll_interval_ms": 100,
        "webhook": {"url": receiver.url.as_str(), "secret": SECRET},
    });
    let unauthenticated = svc
        .http
        .post(svc.url("/api/v1/subscriptions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let (status, created) = svc
        .api(Method::POST, "/api/v1/subscriptions", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, bad) = svc
        .api(
            Method::POST,
            "/api/v1/subscriptions",
            Some(json!({"linked_account_id": account.id, "source": {"type": "jobs"}, "start_from": "later"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["code"], json!("INVALID_INPUT"));
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("start_from")
    );

    // The service's engine polls and delivers on its own.
    triggers_support::eventually("both jobs delivered", || receiver.event_ids().len() >= 2).await;
    let events = svc
        .ok(
            Method::GET,
            &format!("/api/v1/subscriptions/{id}/events?after=0"),
            None,
        )
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2);

    let doc = svc.ok(Method::GET, "/api/v1/openapi.json", None).await;
    for path in [
        "/api/v1/subscriptions",
        "/api/v1/subscriptions/{id}/events",
        "/api/v1/subscriptions/{id}/dead-letters/{delivery_id}/redeliver",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }

    // Subscriptions and cursors survive a restart; the new engine does not deliver again.
    let cursor = svc
        .ok(
            Method::GET,
            &format!("/api/v1/subscriptions/{id}/cursor"),
            None,
        )
        .await;
    svc.restart().await;
    let after = svc
        .ok(
            Method::GET,
            &format!("/api/v1/subscriptions/{id}/cursor"),
            None,
        )
        .await;
    assert_eq!(after["cursor"]["watermark"], cursor["cursor"]["watermark"]);
    let polled = svc
        .ok(
            Method::POST,
            &format!("/api/v1/subscriptions/{id}/poll"),
            None,
        )
        .await;
    assert_eq!(polled["new_events"], json!(0));
    create_job(&emulator, "c").await;
    triggers_support::eventually("the new job delivered", || receiver.event_ids().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.event_ids().len(), 3, "each job once");
}
