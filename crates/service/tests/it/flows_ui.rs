//! The run-history pages of `brickwire serve` through a running service: sign-in with the
//! operator key, the flows and runs lists, a run's page with its steps, escaping of workspace
//! data, and the Replay and Cancel buttons with their same-origin check.

use crate::common;

use std::time::Duration;

use brickwire_flows::{StepError, StepKind, StepRecord, StepStatus};
use brickwire_service::flows::{Enqueued, NewRun, RunEnd};
use common::Svc;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

async fn wait_status(svc: &Svc, run: &str, want: &str) -> Value {
    for _ in 0..600 {
        let detail = svc
            .ok(Method::GET, &format!("/api/v1/flow-runs/{run}"), None)
            .await;
        if detail["status"] == json!(want) {
            return detail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} never became {want}");
}

/// A browser-like client signed in through the form (cookie kept).
async fn signed_in(svc: &Svc) -> reqwest::Client {
    let browser = common::http_client();
    let origin = svc.url("");
    let refused = browser
        .post(svc.url("/ui/sign-in"))
        .header(header::ORIGIN, &origin)
        .form(&[("key", "bwk_wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let ok = browser
        .post(svc.url("/ui/sign-in"))
        .header(header::ORIGIN, &origin)
        .form(&[("key", svc.key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let cookie = ok.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(svc.key.as_str()),
        "the cookie is a session, not the key: {cookie}"
    );
    browser
}

async fn text(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_show_runs_and_their_buttons_change_them() {
    let svc = Svc::start().await;

    // not signed in: pages send to the sign-in form, buttons are refused
    let anonymous = common::http_client();
    let resp = anonymous.get(svc.url("/ui/flows")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/ui/sign-in");
    let resp = anonymous
        .post(svc.url("/ui/flow-runs/run_x/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // a flow that fails on its event, and one that waits
    let failing = svc
        .ok(
            Method::POST,
            "/api/v1/flows",
            Some(json!({
                "name": "fails <b>loudly</b>",
                "trigger": {"type": "manual"},
                "steps": [
                    {"id": "pause", "wait": {"seconds": 0}},
                    {"id": "check", "if": "{% $event.ok %}",
                     "then": [{"id": "fine", "wait": {"seconds": 0}}],
                     "else": [{"id": "boom", "fail": {"message": "{% 'bad: ' & $event.note %}"}}]},
                ],
            })),
        )
        .await;
    let flow_id = failing["id"].as_str().unwrap().to_owned();
    let (status, run) = svc
        .api(
            Method::POST,
            &format!("/api/v1/flows/{flow_id}/runs"),
            Some(json!({"ok": false, "note": "<script>alert(1)</script>"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let run_id = run["id"].as_str().unwrap().to_owned();
    wait_status(&svc, &run_id, "failed").await;

    let browser = signed_in(&svc).await;
    let (status, flows) = text(browser.get(svc.url("/ui/flows")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(flows.contains("fails &lt;b&gt;loudly&lt;/b&gt;"), "{flows}");
    assert!(!flows.contains("<b>loudly"), "names are escaped");
    assert!(flows.contains(&run_id));

    let (status, runs) = text(
        browser
            .get(svc.url(&format!("/ui/flows/{flow_id}?status=failed")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        runs.contains(&format!("data-run-id=\"{run_id}\" data-status=\"failed\"")),
        "{runs}"
    );
    let (_, none) = text(
        browser
            .get(svc.url(&format!("/ui/flows/{flow_id}?status=succeeded")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(!none.contains(&run_id));

    let (status, page) = text(
        browser
            .get(svc.url(&format!("/ui/flow-runs/{run_id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"run\" data-status=\"failed\""), "{page}");
    for path in ["pause", "check", "boom"] {
        assert!(
            page.contains(&format!("data-path=\"{path}\"")),
            "{path}: {page}"
        );
    }
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "workspace data is never markup");
    assert!(page.contains("name=\"replay\""));
    assert!(
        !page.contains("name=\"cancel\""),
        "a failed run has nothing to cancel"
    );

    // a button pressed from another site is refused
    let forged = browser
        .post(svc.url(&format!("/ui/flow-runs/{run_id}/replay")))
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Replay: a new run, shown at once
    let replayed = browser
        .post(svc.url(&format!("/ui/flow-runs/{run_id}/replay")))
        .header(header::ORIGIN, svc.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    let location = replayed.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let new_id = location.rsplit('/').next().unwrap().to_owned();
    assert_ne!(new_id, run_id);
    let done = wait_status(&svc, &new_id, "failed").await;
    assert_eq!(done["replay_of"], json!(run_id));
    let original = svc
        .ok(Method::GET, &format!("/api/v1/flow-runs/{run_id}"), None)
        .await;
    let pause = |run: &Value| -> Vec<Value> {
        run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["path"] == json!("pause"))
            .map(|s| s["started_at"].clone())
            .collect()
    };
    assert_eq!(
        pause(&done),
        pause(&original),
        "the succeeded step is reused, not run again"
    );

    // Cancel a waiting run from its page; a second cancel shows why it is refused
    let waiting = svc
        .ok(
            Method::POST,
            "/api/v1/flows",
            Some(json!({"name": "waits", "trigger": {"type": "manual"},
                        "steps": [{"id": "long", "wait": {"seconds": 3600}}]})),
        )
        .await;
    let (_, run) = svc
        .api(
            Method::POST,
            &format!("/api/v1/flows/{}/runs", waiting["id"].as_str().unwrap()),
            Some(json!({})),
        )
        .await;
    let waiting_id = run["id"].as_str().unwrap().to_owned();
    wait_status(&svc, &waiting_id, "running").await;
    let (_, page) = text(
        browser
            .get(svc.url(&format!("/ui/flow-runs/{waiting_id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(page.contains("name=\"cancel\""), "{page}");
    let cancelled = browser
        .post(svc.url(&format!("/ui/flow-runs/{waiting_id}/cancel")))
        .header(header::ORIGIN, svc.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    wait_status(&svc, &waiting_id, "cancelled").await;
    let (status, again) = text(
        browser
            .post(svc.url(&format!("/ui/flow-runs/{waiting_id}/cancel")))
            .header(header::ORIGIN, svc.url(""))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(again.contains("id=\"notice\""), "{again}");
}

/// An interrupted run (its end written to the store as a crash would leave it) says
/// which step and why, offers Resume and Cancel, and a step output with markup is shown as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_names_its_step_and_outputs_are_text() {
    let svc = Svc::start().await;
    let flow = svc
        .ok(
            Method::POST,
            "/api/v1/flows",
            Some(json!({"name": "interrupted", "trigger": {"type": "manual"},
                        "steps": [{"id": "first", "wait": {"seconds": 0}},
                                  {"id": "second", "wait": {"seconds": 3600}}]})),
        )
        .await;
    let store = svc.service().store().clone();
    let flow_id = brickwire_service::flows::FlowId::new(flow["id"].as_str().unwrap());
    let Enqueued::Created(run) = store
        .enqueue_run(NewRun {
            flow_id,
            flow_version: None,
            trigger: "manual".into(),
            event: json!({}),
            dedupe_key: None,
            replay_of: None,
            seed_steps: vec![StepRecord {
                path: "first".into(),
                step_id: "first".into(),
                kind: StepKind::Wait,
                attempt: 1,
                status: StepStatus::Succeeded,
                action: None,
                account: None,
                input: None,
                output: Some(json!({"note": "<script>alert('x')</script>"})),
                error: None,
                started_at: std::time::SystemTime::now(),
                finished_at: Some(std::time::SystemTime::now()),
                resume_at: None,
            }],
        })
        .await
        .unwrap()
    else {
        panic!("a duplicate without a dedupe key");
    };
    // The engine reuses the seeded step and waits in `second`; the run then ends as a crash
    // inside a step that is not safe to repeat would leave it.
    for _ in 0..600 {
        let steps = store.run_steps(run.id.clone()).await.unwrap();
        if steps.iter().any(|s| s.path == "second") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store
        .finish_run(
            run.id.clone(),
            RunEnd::Interrupted(
                StepError::new(
                    "INTERRUPTED",
                    "step `second` was in flight when the service stopped",
                    false,
                )
                .at_step("second"),
            ),
            std::time::SystemTime::now(),
            None,
        )
        .await
        .unwrap();
    let browser = signed_in(&svc).await;
    let (status, page) = text(
        browser
            .get(svc.url(&format!("/ui/flow-runs/{}", run.id)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Interrupted at step <code>second</code>: step `second` was in flight"),
        "{page}"
    );
    assert!(page.contains("name=\"resume\"") && page.contains("name=\"cancel\""));
    assert!(!page.contains("name=\"replay\""));
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"));

    // Cancel from the page ends it at once (nothing executes an interrupted run).
    let cancelled = browser
        .post(svc.url(&format!("/ui/flow-runs/{}/cancel", run.id)))
        .header(header::ORIGIN, svc.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        store.run(run.id.clone()).await.unwrap().status,
        brickwire_service::flows::RunStatus::Cancelled
    );

    // Signing out ends the session for this browser.
    let out = browser
        .post(svc.url("/ui/sign-out"))
        .header(header::ORIGIN, svc.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = browser.get(svc.url("/ui/flows")).send().await.unwrap();
    assert_eq!(after.headers()[header::LOCATION], "/ui/sign-in");
}
