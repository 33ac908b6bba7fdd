//! A recording reverse proxy for the wire-fidelity test: it sits in front of an in-process
//! emulator, records every request a client sends (method, path, sorted query pairs, JSON
//! body) under the case the client announced last, and forwards it so the client gets a real
//! answer and can carry on.
//!
//! A client announces a case with `POST /__case/<name>`; the proxy answers `{}` itself and
//! never forwards it. Response bodies are kept too, so that ids the emulator generated at
//! random can be replaced by placeholders numbered in order of appearance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use brickwire_emulator::{Emulator, EmulatorOptions};
use serde_json::Value;

/// One request as the proxy saw it, with the emulator's answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    /// Decoded query pairs, sorted.
    pub query: Vec<(String, String)>,
    /// The body as JSON (`Null` when empty, a string when not JSON).
    pub body: Value,
    /// The request's `Content-Type` (media type only), when it had a body.
    pub content_type: Option<String>,
    /// The emulator's answer as JSON (`Null` when empty or not JSON).
    pub response: Value,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    current: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<(String, Exchange)>>>,
}

/// A running proxy and the emulator behind it.
pub struct Recorder {
    pub url: String,
    pub token: String,
    shared: Shared,
    _emulator: Emulator,
}

impl Recorder {
    /// Starts a fresh emulator and a proxy in front of it, both on ephemeral ports.
    pub async fn start() -> Recorder {
        let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
        let shared = Shared {
            upstream: emulator.base_url().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            current: Arc::new(Mutex::new("_start".to_owned())),
            seen: Arc::default(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder {
            url,
            token: emulator.token().to_owned(),
            shared,
            _emulator: emulator,
        }
    }

    /// Marks the start of a case for requests sent from now on (what `POST /__case/x` does).
    pub fn begin(&self, case: &str) {
        *self.shared.current.lock().unwrap() = case.to_owned();
    }

    /// Every exchange, grouped by case, cases in the order first announced.
    pub fn by_case(&self) -> Vec<(String, Vec<Exchange>)> {
        let mut out: Vec<(String, Vec<Exchange>)> = Vec::new();
        for (case, ex) in self.shared.seen.lock().unwrap().iter() {
            match out.iter_mut().find(|(c, _)| c == case) {
                Some((_, list)) => list.push(ex.clone()),
                None => out.push((case.clone(), vec![ex.clone()])),
            }
        }
        out
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(case) = uri.path().strip_prefix("/__case/") {
        *shared.current.lock().unwrap() = case.to_owned();
        return ([("content-type", "application/json")], "{}").into_response();
    }
    let mut query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    query.sort();
    let body_value = json_or_string(&body);
    let request_type = (!body.is_empty())
        .then(|| headers.get("content-type").and_then(|v| v.to_str().ok()))
        .flatten()
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());

    let target = format!(
        "{}{}",
        shared.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut forward = shared.http.request(method.clone(), target).body(body);
    for name in ["authorization", "content-type"] {
        if let Some(v) = headers.get(name) {
            forward = forward.header(name, v);
        }
    }
    let (status, content_type, answer) = match forward.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            (status, ct, r.bytes().await.unwrap_or_default())
        }
        Err(e) => (502, "text/plain".to_owned(), Bytes::from(e.to_string())),
    };
    let response = match json_or_string(&answer) {
        Value::String(_) => Value::Null,
        v => v,
    };
    let case = shared.current.lock().unwrap().clone();
    shared.seen.lock().unwrap().push((
        case,
        Exchange {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query,
            body: body_value,
            content_type: request_type,
            response,
        },
    ));
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", content_type)],
        answer,
    )
        .into_response()
}

fn json_or_string(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Replaces every id the emulator generated by `<idN>` in paths, query values and request
/// bodies. An id is a string of 6+ characters under a key `id` or `*_id` in a response that a
/// later request sends back (a value the client sent first, such as `node_type_id`, is input,
/// not a generated id). Ids are numbered in the order requests first send them, so when both
/// clients make the same requests the same resource gets the same placeholder on both sides.
pub fn placeholders(cases: &mut [(String, Vec<Exchange>)]) {
    let mut known: BTreeMap<String, ()> = BTreeMap::new();
    let mut sent_first: BTreeMap<String, ()> = BTreeMap::new();
    let mut numbered: Vec<(String, String)> = Vec::new();
    let mut order = 0usize;
    for (_, list) in cases.iter_mut() {
        for ex in list.iter_mut() {
            let text = format!("{} {:?} {}", ex.path, ex.query, ex.body);
            let mut candidates: Vec<&String> = known.keys().collect();
            candidates.sort_by_key(|id| text.find(id.as_str()).unwrap_or(usize::MAX));
            for id in candidates {
                if text.contains(id.as_str()) && !numbered.iter().any(|(n, _)| n == id) {
                    order += 1;
                    numbered.push((id.clone(), format!("<id{order}>")));
                }
            }
            let mut strings = Vec::new();
            collect_strings(&ex.body, &mut strings);
            strings.push(ex.path.clone());
            strings.extend(ex.query.iter().map(|(_, v)| v.clone()));
            for s in strings {
                sent_first.insert(s, ());
            }
            let mut found = BTreeMap::new();
            let mut n = 0;
            collect_ids(&ex.response, &mut found, &mut n);
            for id in found.into_keys() {
                if !sent_first.contains_key(&id) {
                    known.insert(id, ());
                }
            }
        }
    }
    numbered.sort_by_key(|(id, _)| std::cmp::Reverse(id.len()));
    let swap = |s: &str| {
        let mut s = s.to_owned();
        for (id, ph) in &numbered {
            s = s.replace(id.as_str(), ph);
        }
        s
    };
    for (_, list) in cases.iter_mut() {
        for ex in list.iter_mut() {
            ex.path = swap(&ex.path);
            for (_, v) in ex.query.iter_mut() {
                *v = swap(v);
            }
            map_strings(&mut ex.body, &swap);
        }
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn collect_ids(v: &Value, ids: &mut BTreeMap<String, String>, order: &mut usize) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if let Value::String(s) = v
                    && (k == "id" || k.ends_with("_id"))
                    && s.len() >= 6
                    && !ids.contains_key(s)
                {
                    *order += 1;
                    ids.insert(s.clone(), format!("<id{order}>"));
                }
                collect_ids(v, ids, order);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_ids(v, ids, order)),
        _ => {}
    }
}

fn map_strings(v: &mut Value, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Object(map) => map.values_mut().for_each(|v| map_strings(v, f)),
        Value::Array(a) => a.iter_mut().for_each(|v| map_strings(v, f)),
        _ => {}
    }
}
