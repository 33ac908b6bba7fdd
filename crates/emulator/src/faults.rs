//! Fault injection for `/api/` and `/oidc/` requests: rate limits, 503s, 500s, dropped
//! connections and added latency, so clients can prove their retries work.
//!
//! What to inject is data in [`Settings`] (the `faults` section of the emulator settings, set
//! with `PATCH /_emulator/settings`); the random choices come from one seeded generator, so the
//! same settings and the same sequence of requests give the same faults. [`Injector::decide`]
//! holds the logic with no HTTP; [`inject`] is the axum middleware that acts on its decision.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The `faults` section of the settings.
///
/// ```json
/// {"seed": 7,
///  "global": {"unavailable_probability": 0.1},
///  "endpoints": {"/api/2.1/clusters/get": {"rate_limit": {"requests_per_second": 2, "burst": 2}}}}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Seed of the random source behind every probability.
    pub seed: u64,
    /// A rule for every `/api/` and `/oidc/` request.
    pub global: Rule,
    /// Rules by path prefix (e.g. `/api/2.1/clusters/`). The longest prefix that matches a
    /// request applies after the global rule.
    pub endpoints: BTreeMap<String, Rule>,
}

/// What to do to the requests a rule covers. Every probability is between 0 and 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rule {
    /// A token bucket; requests that find it empty get 429 `REQUEST_LIMIT_EXCEEDED`.
    pub rate_limit: Option<RateLimit>,
    /// Chance of 503 `TEMPORARILY_UNAVAILABLE`.
    pub unavailable_probability: f64,
    /// Chance of 500 `INTERNAL_ERROR`.
    pub internal_error_probability: f64,
    /// Chance that the connection closes without an HTTP response.
    pub connection_reset_probability: f64,
    /// Latency added before the request is handled, in milliseconds.
    pub latency_ms: u64,
    /// Chance that `latency_ms` is added (1 = every request).
    pub latency_probability: f64,
    /// `Retry-After` sent with injected 503s; none when absent.
    pub retry_after_seconds: Option<u64>,
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            rate_limit: None,
            unavailable_probability: 0.0,
            internal_error_probability: 0.0,
            connection_reset_probability: 0.0,
            latency_ms: 0,
            latency_probability: 1.0,
            retry_after_seconds: None,
        }
    }
}

/// A token bucket: `burst` requests at once, refilled at `requests_per_second`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimit {
    /// Sustained rate.
    pub requests_per_second: f64,
    /// Bucket size; 0 means `max(1, ceil(requests_per_second))`.
    pub burst: u32,
    /// `Retry-After` to send; when absent, the seconds until a token is back (at least 1).
    pub retry_after_seconds: Option<u64>,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            requests_per_second: 10.0,
            burst: 0,
            retry_after_seconds: None,
        }
    }
}

impl RateLimit {
    fn capacity(&self) -> f64 {
        if self.burst > 0 {
            f64::from(self.burst)
        } else {
            self.requests_per_second.ceil().max(1.0)
        }
    }
}

/// What happens to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Handle it normally.
    Pass,
    /// 429 with this `Retry-After`.
    RateLimited {
        /// Seconds.
        retry_after: u64,
    },
    /// 503, with an optional `Retry-After`.
    Unavailable {
        /// Seconds.
        retry_after: Option<u64>,
    },
    /// 500.
    InternalError,
    /// Close the connection without an answer.
    ConnectionReset,
}

/// The decision for one request: wait `delay`, then `outcome`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Latency to add first.
    pub delay: Duration,
    /// What to answer.
    pub outcome: Outcome,
}

/// How many faults were injected, by kind (part of `GET /_emulator/counters`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// 429s.
    pub rate_limited: u64,
    /// 503s.
    pub unavailable: u64,
    /// 500s.
    pub internal_error: u64,
    /// Dropped connections.
    pub connection_reset: u64,
    /// Requests delayed.
    pub delayed: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
struct Inner {
    /// The settings the generator and buckets were built for.
    applied: Option<Settings>,
    rng: StdRng,
    buckets: HashMap<String, Bucket>,
    counts: FaultCounts,
}

/// Decides which faults to inject; one per emulator.
#[derive(Debug)]
pub struct Injector {
    inner: Mutex<Inner>,
}

impl Default for Injector {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                applied: None,
                rng: StdRng::seed_from_u64(0),
                buckets: HashMap::new(),
                counts: FaultCounts::default(),
            }),
        }
    }
}

/// Whether a path is subject to faults.
pub fn applies_to(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/oidc/")
}

impl Injector {
    /// Starts over: reseeds the generator and refills every bucket on the next request.
    /// The admin API calls this whenever the `faults` settings are written.
    pub fn restart(&self) {
        self.lock().applied = None;
    }

    /// Faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        self.lock().counts.clone()
    }

    /// Sets the fault counts back to zero.
    pub fn reset_counts(&self) {
        self.lock().counts = FaultCounts::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fault injector lock")
    }

    /// Decides what happens to a request for `path` at `now` under `settings`.
    pub fn decide(&self, settings: &Settings, path: &str, now: Instant) -> Decision {
        let mut inner = self.lock();
        if inner.applied.as_ref() != Some(settings) {
            inner.applied = Some(settings.clone());
            inner.rng = StdRng::seed_from_u64(settings.seed);
            inner.buckets.clear();
        }
        let endpoint = settings
            .endpoints
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len());
        let rules = std::iter::once((String::new(), &settings.global))
            .chain(endpoint.map(|(prefix, rule)| (prefix.clone(), rule)));
        let mut delay = Duration::ZERO;
        for (key, rule) in rules {
            if let Some(limit) = &rule.rate_limit
                && let Some(retry_after) = inner.take_token(&key, limit, now)
            {
                inner.counts.rate_limited += 1;
                return Decision {
                    delay,
                    outcome: Outcome::RateLimited { retry_after },
                };
            }
            if rule.latency_ms > 0 && inner.chance(rule.latency_probability) {
                inner.counts.delayed += 1;
                delay += Duration::from_millis(rule.latency_ms);
            }
            if inner.chance(rule.connection_reset_probability) {
                inner.counts.connection_reset += 1;
                return Decision {
                    delay,
                    outcome: Outcome::ConnectionReset,
                };
            }
            if inner.chance(rule.unavailable_probability) {
                inner.counts.unavailable += 1;
                return Decision {
                    delay,
                    outcome: Outcome::Unavailable {
                        retry_after: rule.retry_after_seconds,
                    },
                };
            }
            if inner.chance(rule.internal_error_probability) {
                inner.counts.internal_error += 1;
                return Decision {
                    delay,
                    outcome: Outcome::InternalError,
                };
            }
        }
        Decision {
            delay,
            outcome: Outcome::Pass,
        }
    }
}

impl Inner {
    /// Draws only for a real probability, so a rule that injects nothing leaves the sequence
    /// of the others unchanged.
    fn chance(&mut self, probability: f64) -> bool {
        if probability <= 0.0 {
            return false;
        }
        if probability >= 1.0 {
            return true;
        }
        self.rng.random::<f64>() < probability
    }

    /// Takes a token; `Some(retry_after)` when the bucket is empty.
    fn take_token(&mut self, key: &str, limit: &RateLimit, now: Instant) -> Option<u64> {
        let capacity = limit.capacity();
        let bucket = self.buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.requests_per_second).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return None;
        }
        let computed = if limit.requests_per_second > 0.0 {
            ((1.0 - bucket.tokens) / limit.requests_per_second).ceil() as u64
        } else {
            60
        };
        Some(limit.retry_after_seconds.unwrap_or(computed).max(1))
    }
}

/// What the middleware needs: the workspace (for its settings) and the injector.
#[derive(Clone)]
pub struct FaultState {
    /// The workspace.
    pub app: AppState,
    /// The injector.
    pub injector: Arc<Injector>,
}

/// Middleware: applies the configured faults to `/api/` and `/oidc/` requests.
pub async fn inject(State(state): State<FaultState>, request: Request, next: Next) -> Response {
    if !applies_to(request.uri().path()) {
        return next.run(request).await;
    }
    let settings = state.app.settings().faults;
    let decision = state
        .injector
        .decide(&settings, request.uri().path(), Instant::now());
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.outcome {
        Outcome::Pass => next.run(request).await,
        Outcome::RateLimited { retry_after } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RequestLimitExceeded,
            "Your request was rejected due to a rate limit. Please try again later.",
        )
        .with_retry_after(retry_after)
        .into_response(),
        Outcome::Unavailable { retry_after } => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "The service is temporarily unavailable. Please try again later.",
            );
            e.retry_after = retry_after;
            e.into_response()
        }
        Outcome::InternalError => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "An internal error occurred (injected by the emulator).",
        )
        .into_response(),
        Outcome::ConnectionReset => connection_reset(),
    }
}

/// A response whose body fails before its first byte: hyper then drops the connection
/// without writing the status line, which the client sees as a reset.
fn connection_reset() -> Response {
    let failing = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset injected by the emulator",
        ))
    });
    let mut response = Response::new(Body::from_stream(failing));
    response.extensions_mut().insert(ConnectionResetMarker);
    response
}

/// Marks a response that will never reach the client (see [`inject`]).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionResetMarker;

#[cfg(test)]
mod tests {
    use super::*;

    fn with_global(rule: Rule) -> Settings {
        Settings {
            global: rule,
            ..Settings::default()
        }
    }

    #[test]
    fn the_bucket_empties_then_refills_with_time() {
        let injector = Injector::default();
        let settings = with_global(Rule {
            rate_limit: Some(RateLimit {
                requests_per_second: 2.0,
                burst: 2,
                retry_after_seconds: None,
            }),
            ..Rule::default()
        });
        let t0 = Instant::now();
        let path = "/api/2.1/clusters/list";
        assert_eq!(injector.decide(&settings, path, t0).outcome, Outcome::Pass);
        assert_eq!(injector.decide(&settings, path, t0).outcome, Outcome::Pass);
        assert_eq!(
            injector.decide(&settings, path, t0).outcome,
            Outcome::RateLimited { retry_after: 1 }
        );
        let later = t0 + Duration::from_millis(500);
        assert_eq!(
            injector.decide(&settings, path, later).outcome,
            Outcome::Pass
        );
        assert_eq!(injector.counts().rate_limited, 1);
    }

    #[test]
    fn the_longest_endpoint_prefix_applies() {
        let injector = Injector::default();
        let mut settings = Settings::default();
        settings.endpoints.insert(
            "/api/2.1/clusters/".into(),
            Rule {
                internal_error_probability: 1.0,
                ..Rule::default()
            },
        );
        settings.endpoints.insert(
            "/api/2.1/clusters/get".into(),
            Rule {
                unavailable_probability: 1.0,
                retry_after_seconds: Some(3),
                ..Rule::default()
            },
        );
        let now = Instant::now();
        let d = |p: &str| injector.decide(&settings, p, now).outcome;
        assert_eq!(
            d("/api/2.1/clusters/get"),
            Outcome::Unavailable {
                retry_after: Some(3)
            }
        );
        assert_eq!(d("/api/2.1/clusters/list"), Outcome::InternalError);
        assert_eq!(d("/api/2.0/sql/warehouses"), Outcome::Pass);
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let settings = Settings {
            seed: 42,
            global: Rule {
                unavailable_probability: 0.3,
                connection_reset_probability: 0.2,
                latency_ms: 5,
                latency_probability: 0.5,
                ..Rule::default()
            },
            ..Settings::default()
        };
        let run = |injector: &Injector| -> Vec<Decision> {
            (0..50)
                .map(|_| injector.decide(&settings, "/api/x", Instant::now()))
                .collect()
        };
        let injector = Injector::default();
        let first = run(&injector);
        injector.restart();
        assert_eq!(run(&injector), first);
        assert_eq!(run(&Injector::default()), first);
        let passes = first.iter().filter(|d| d.outcome == Outcome::Pass).count();
        assert!(passes > 0 && passes < 50, "{passes}");
        let other = Settings {
            seed: 43,
            ..settings.clone()
        };
        let injector = Injector::default();
        let different: Vec<Decision> = (0..50)
            .map(|_| injector.decide(&other, "/api/x", Instant::now()))
            .collect();
        assert_ne!(different, first);
    }
}
