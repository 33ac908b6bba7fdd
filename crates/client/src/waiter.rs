//! Waiters for long-running operations: "poll this, accept when, fail when, give up when".
//!
//! [`poll_until`] calls a getter, asks a judge for a [`Verdict`] on each answer, and sleeps
//! between polls: attempt `n` waits `clamp(n × min_delay, min_delay, max_delay)` plus
//! `U[0,1) × jitter` (defaults 1 s, 10 s and 1 s, i.e. the SDK's `min(n, 10)` s + `U[0,1)`). A
//! failure state becomes [`Error::OperationFailed`] with the state message; the deadline
//! (default 20 min) becomes [`Error::Timeout`].
//!
//! Time comes from `tokio::time`, so `tokio::time::pause()` makes tests exact; the jitter comes
//! from a seedable RNG ([`WaitOptions::seed`]). The judges of the SDK's waiters (cluster
//! running/terminated, warehouse running/stopped, run terminated-or-skipped, statement
//! terminal) are the pure functions at the bottom; the services wrap them as `wait_*` methods.

use std::future::Future;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use brickwire_api::clusters::{ClusterDetails, State as ClusterState};
use brickwire_api::jobs::{Run, RunLifeCycleState};
use brickwire_api::statements::{StatementResponse, StatementState};
use brickwire_api::warehouses::{State as WarehouseState, Warehouse};

use crate::error::{Error, Result};

/// How long and how often a waiter polls.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitOptions {
    /// Give up after this long (default 20 min).
    pub timeout: Duration,
    /// The delay after the first poll, and the step by which later delays grow (default 1 s).
    pub min_delay: Duration,
    /// The largest delay before jitter (default 10 s).
    pub max_delay: Duration,
    /// The upper bound of the uniform jitter added to each delay (default 1 s).
    pub jitter: Duration,
    /// Seed of the jitter RNG; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20 * 60),
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            jitter: Duration::from_secs(1),
            seed: None,
        }
    }
}

impl WaitOptions {
    /// Default options with another timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }

    /// The delay after poll number `attempt` (1-based), given a uniform sample in `[0, 1)`,
    /// in whole milliseconds.
    pub fn delay(&self, attempt: u32, unit_sample: f64) -> Duration {
        let base = self
            .min_delay
            .saturating_mul(attempt.max(1))
            .clamp(self.min_delay, self.max_delay.max(self.min_delay));
        let delay = base + self.jitter.mul_f64(unit_sample.clamp(0.0, 1.0));
        // whole milliseconds: tokio's timer resolution, so the schedule is exact under test
        Duration::from_millis(delay.as_millis().try_into().unwrap_or(u64::MAX))
    }
}

/// What a judge says about one polled value.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The target state is reached: return the value.
    Done,
    /// Not there yet; `state` describes where it is (for logs and the timeout message).
    Pending {
        /// The current state.
        state: String,
    },
    /// A failure state: stop with [`Error::OperationFailed`].
    Failed {
        /// The failure state.
        state: String,
        /// The state message.
        message: String,
    },
}

impl Verdict {
    fn pending(state: impl std::fmt::Display) -> Self {
        Verdict::Pending {
            state: state.to_string(),
        }
    }

    fn failed(state: impl std::fmt::Display, message: &str) -> Self {
        Verdict::Failed {
            state: state.to_string(),
            message: message.to_owned(),
        }
    }
}

/// Polls `poll` until `judge` says [`Verdict::Done`] (returning the value), a failure state
/// ([`Error::OperationFailed`]), or the deadline ([`Error::Timeout`]). Errors of `poll` end the
/// wait as they are. `operation` names what is awaited, e.g. `cluster 0123-456789-abc`.
pub async fn poll_until<T, F, Fut, J>(
    operation: &str,
    options: &WaitOptions,
    mut poll: F,
    judge: J,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
    J: Fn(&T) -> Verdict,
{
    let mut rng = match options.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    let started = tokio::time::Instant::now();
    let deadline = started + options.timeout;
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let value = poll().await?;
        let state = match judge(&value) {
            Verdict::Done => return Ok(value),
            Verdict::Failed { state, message } => {
                return Err(Error::OperationFailed {
                    operation: operation.to_owned(),
                    state,
                    message,
                });
            }
            Verdict::Pending { state } => state,
        };
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(Error::Timeout(format!(
                "{operation} did not reach its target state within {:?}; last state {state}",
                options.timeout
            )));
        }
        let delay = options
            .delay(attempt, rng.random::<f64>())
            .min(deadline - now);
        tracing::debug!(operation, %state, attempt, ?delay, "waiting");
        tokio::time::sleep(delay).await;
    }
}

fn state_or_unknown<S: std::fmt::Display>(state: Option<&S>) -> String {
    state.map_or_else(|| "UNKNOWN".to_owned(), ToString::to_string)
}

/// Cluster running: `RUNNING` is done; `ERROR` and `TERMINATED` fail.
pub fn cluster_running(cluster: &ClusterDetails) -> Verdict {
    let message = cluster.state_message.as_deref().unwrap_or_default();
    match &cluster.state {
        Some(ClusterState::Running) => Verdict::Done,
        Some(s @ (ClusterState::Error | ClusterState::Terminated)) => Verdict::failed(s, message),
        other => Verdict::pending(state_or_unknown(other.as_ref())),
    }
}

/// Cluster terminated: `TERMINATED` is done; `ERROR` fails.
pub fn cluster_terminated(cluster: &ClusterDetails) -> Verdict {
    let message = cluster.state_message.as_deref().unwrap_or_default();
    match &cluster.state {
        Some(ClusterState::Terminated) => Verdict::Done,
        Some(s @ ClusterState::Error) => Verdict::failed(s, message),
        other => Verdict::pending(state_or_unknown(other.as_ref())),
    }
}

/// Warehouse running: `RUNNING` is done; `STOPPED` and `DELETED` fail.
pub fn warehouse_running(warehouse: &Warehouse) -> Verdict {
    match &warehouse.state {
        Some(WarehouseState::Running) => Verdict::Done,
        Some(s @ (WarehouseState::Stopped | WarehouseState::Deleted)) => {
            Verdict::failed(s, warehouse.state_message())
        }
        other => Verdict::pending(state_or_unknown(other.as_ref())),
    }
}

/// Warehouse stopped: `STOPPED` is done; nothing fails (like the SDK).
pub fn warehouse_stopped(warehouse: &Warehouse) -> Verdict {
    match &warehouse.state {
        Some(WarehouseState::Stopped) => Verdict::Done,
        other => Verdict::pending(state_or_unknown(other.as_ref())),
    }
}

/// Run terminated or skipped: `TERMINATED` and `SKIPPED` are done (check `result_state`: a
/// failed run is still done); `INTERNAL_ERROR` fails.
pub fn run_terminated_or_skipped(run: &Run) -> Verdict {
    match run.life_cycle_state() {
        Some(RunLifeCycleState::Terminated | RunLifeCycleState::Skipped) => Verdict::Done,
        Some(s @ RunLifeCycleState::InternalError) => Verdict::failed(s, run.state_message()),
        other => Verdict::pending(state_or_unknown(other)),
    }
}

/// Statement terminal: any of `SUCCEEDED`, `FAILED`, `CANCELED`, `CLOSED` is done (a SQL error
/// is data: check [`StatementResponse::state`]).
pub fn statement_terminal(statement: &StatementResponse) -> Verdict {
    match statement.state() {
        Some(s) if s.is_terminal() => Verdict::Done,
        other => Verdict::pending(state_or_unknown(other)),
    }
}

/// Statement succeeded: `SUCCEEDED` is done; `FAILED`, `CANCELED` and `CLOSED` fail with the
/// statement's error message.
pub fn statement_succeeded(statement: &StatementResponse) -> Verdict {
    match statement.state() {
        Some(StatementState::Succeeded) => Verdict::Done,
        Some(s) if s.is_terminal() => Verdict::failed(s, statement.error_message()),
        other => Verdict::pending(state_or_unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delays_grow_linearly_to_the_cap_plus_jitter() {
        let o = WaitOptions::default();
        assert_eq!(o.delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(o.delay(3, 0.5), Duration::from_millis(3500));
        assert_eq!(o.delay(25, 0.0), Duration::from_secs(10));
        let custom = WaitOptions {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            jitter: Duration::ZERO,
            ..WaitOptions::default()
        };
        assert_eq!(custom.delay(2, 0.9), Duration::from_millis(200));
        assert_eq!(custom.delay(9, 0.9), Duration::from_millis(250));
    }

    #[test]
    fn judges_follow_the_sdk() {
        let c = |s: &str| -> ClusterDetails {
            serde_json::from_value(json!({"state": s, "state_message": "m"})).unwrap()
        };
        assert_eq!(cluster_running(&c("RUNNING")), Verdict::Done);
        assert_eq!(
            cluster_running(&c("TERMINATED")),
            Verdict::failed("TERMINATED", "m")
        );
        assert_eq!(cluster_running(&c("PENDING")), Verdict::pending("PENDING"));
        assert_eq!(
            cluster_terminated(&c("ERROR")),
            Verdict::failed("ERROR", "m")
        );
        assert_eq!(
            cluster_terminated(&c("TERMINATING")),
            Verdict::pending("TERMINATING")
        );

        let w = |s: &str| -> Warehouse { serde_json::from_value(json!({"state": s})).unwrap() };
        assert_eq!(
            warehouse_running(&w("DELETED")),
            Verdict::failed("DELETED", "")
        );
        assert_eq!(
            warehouse_running(&w("STARTING")),
            Verdict::pending("STARTING")
        );
        assert_eq!(warehouse_stopped(&w("STOPPED")), Verdict::Done);

        let r = |s: &str| -> Run {
            serde_json::from_value(json!({"state": {"life_cycle_state": s, "state_message": "x"}}))
                .unwrap()
        };
        assert_eq!(run_terminated_or_skipped(&r("SKIPPED")), Verdict::Done);
        assert_eq!(
            run_terminated_or_skipped(&r("INTERNAL_ERROR")),
            Verdict::failed("INTERNAL_ERROR", "x")
        );
        assert_eq!(
            run_terminated_or_skipped(&Run::default()),
            Verdict::pending("UNKNOWN")
        );

        let s = |st: &str| -> StatementResponse {
            serde_json::from_value(json!({"status": {"state": st, "error": {"message": "bad"}}}))
                .unwrap()
        };
        assert_eq!(statement_terminal(&s("FAILED")), Verdict::Done);
        assert_eq!(
            statement_succeeded(&s("FAILED")),
            Verdict::failed("FAILED", "bad")
        );
        assert_eq!(
            statement_succeeded(&s("RUNNING")),
            Verdict::pending("RUNNING")
        );
    }
}
