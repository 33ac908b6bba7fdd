//! The retry policy, as data: which failures are retried, how long to wait, and which
//! failures must not be replayed.
//!
//! Rules (those of the official Databricks SDKs, see the reference section 3):
//! - HTTP 429 and 503 are always retried after `Retry-After` (seconds or HTTP date), or
//!   [`RetryPolicy::default_retry_after`] (1 s) without one;
//! - an answer whose message contains one of [`brickwire_api::error::TRANSIENT_MESSAGES`] is
//!   retried with linear backoff, `min(attempt, 10)` s;
//! - a connection that failed before the request was sent is retried with linear backoff;
//! - a request that may have reached the server (sent, then the connection failed or timed
//!   out) is retried only when it is idempotent; otherwise its outcome is unknown and the
//!   error says so;
//! - every other answer (400, 401, 403, 404, 409, 500, 501, 504, ...) is returned at once.
//!
//! Every delay gets a jitter (`U[0,1)` s) on top. The whole operation is bounded by the retry
//! deadline (`ClientOptions::retry_timeout`); the client gives up as soon as the next attempt
//! could only start after it. Credential rejections (401, 403 "Invalid access token.") are
//! handled before this policy: the client refreshes the credentials and retries once.

use std::time::Duration;

use brickwire_api::error::ApiError;

use super::backoff;

/// Documented retry settings; [`RetryPolicy::default`] matches the official SDKs.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay for 429/503 answers without a usable `Retry-After` (default 1 s).
    pub default_retry_after: Duration,
    /// Linear backoff step: attempt `n` waits `min(n, backoff_cap) * backoff_step` (1 s).
    pub backoff_step: Duration,
    /// The attempt number at which linear backoff stops growing (10).
    pub backoff_cap: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            default_retry_after: Duration::from_secs(1),
            backoff_step: Duration::from_secs(1),
            backoff_cap: 10,
        }
    }
}

/// How one attempt failed, as far as the retry decision is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Failure<'a> {
    /// The server answered with an error status.
    Api(&'a ApiError),
    /// The connection could not be established: the server never saw the request.
    NotSent,
    /// The request may have reached the server: the connection failed or timed out after
    /// it was sent.
    MaybeSent,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Wait `delay` (jitter included), then try again.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// Why, for the log.
        reason: String,
    },
    /// Return the failure as it is.
    GiveUp,
    /// The request may have been processed and replaying it is not safe: return an error
    /// saying the outcome is unknown.
    OutcomeUnknown,
}

impl RetryPolicy {
    /// Decides what to do after attempt number `attempt` (from 1) failed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use brickwire_client::http::retry::{Decision, Failure, RetryPolicy};
    /// let policy = RetryPolicy::default();
    /// let jitter = Duration::from_millis(250);
    /// assert_eq!(
    ///     policy.decide(Failure::NotSent, false, 3, jitter),
    ///     Decision::Retry { delay: Duration::from_millis(3250), reason: "connection failed before the request was sent".into() },
    /// );
    /// assert_eq!(policy.decide(Failure::MaybeSent, false, 1, jitter), Decision::OutcomeUnknown);
    /// ```
    pub fn decide(
        &self,
        failure: Failure<'_>,
        idempotent: bool,
        attempt: u32,
        jitter: Duration,
    ) -> Decision {
        let linear = || backoff::linear(attempt, self.backoff_step, self.backoff_cap) + jitter;
        match failure {
            Failure::Api(error) if matches!(error.status, 429 | 503) => Decision::Retry {
                delay: error.retry_after.unwrap_or(self.default_retry_after) + jitter,
                reason: format!("HTTP {}", error.status),
            },
            Failure::Api(error) => match error.transient_match() {
                Some(fragment) => Decision::Retry {
                    delay: linear(),
                    reason: format!("HTTP {} with transient message `{fragment}`", error.status),
                },
                None => Decision::GiveUp,
            },
            Failure::NotSent => Decision::Retry {
                delay: linear(),
                reason: "connection failed before the request was sent".to_owned(),
            },
            Failure::MaybeSent if idempotent => Decision::Retry {
                delay: linear(),
                reason: "connection failed or timed out after an idempotent request was sent"
                    .to_owned(),
            },
            Failure::MaybeSent => Decision::OutcomeUnknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use brickwire_api::error::{ErrorResponse, parse_error};

    use super::*;

    fn api(status: u16, body: &str, retry_after: Option<u64>) -> ApiError {
        parse_error(
            &ErrorResponse {
                status,
                request_id: None,
                retry_after: retry_after.map(Duration::from_secs),
            },
            body.as_bytes(),
        )
    }

    fn delay(decision: Decision) -> Option<Duration> {
        match decision {
            Decision::Retry { delay, .. } => Some(delay),
            _ => None,
        }
    }

    #[test]
    fn throttling_waits_retry_after_or_one_second_plus_jitter() {
        let policy = RetryPolicy::default();
        let j = Duration::from_millis(300);
        let with_header = api(429, "", Some(7));
        let without = api(503, "", None);
        for idempotent in [true, false] {
            assert_eq!(
                delay(policy.decide(Failure::Api(&with_header), idempotent, 5, j)),
                Some(Duration::from_millis(7300))
            );
            assert_eq!(
                delay(policy.decide(Failure::Api(&without), idempotent, 5, j)),
                Some(Duration::from_millis(1300))
            );
        }
    }

    #[test]
    fn transient_messages_back_off_linearly_and_other_errors_are_final() {
        let policy = RetryPolicy::default();
        let transient = api(
            400,
            r#"{"error_code":"INVALID_STATE","message":"ClusterNotReadyException: wait"}"#,
            None,
        );
        let delays: Vec<_> = [1, 2, 11]
            .into_iter()
            .map(|a| delay(policy.decide(Failure::Api(&transient), false, a, Duration::ZERO)))
            .collect();
        assert_eq!(
            delays,
            [1, 2, 10].map(|s| Some(Duration::from_secs(s))).to_vec()
        );
        for status in [400, 401, 403, 404, 409, 500, 501, 504] {
            let error = api(status, r#"{"message":"no"}"#, Some(1));
            assert_eq!(
                policy.decide(Failure::Api(&error), true, 1, Duration::ZERO),
                Decision::GiveUp,
                "{status}"
            );
        }
    }

    #[test]
    fn only_idempotent_requests_are_replayed_after_being_sent() {
        let policy = RetryPolicy::default();
        assert!(delay(policy.decide(Failure::NotSent, false, 1, Duration::ZERO)).is_some());
        assert!(delay(policy.decide(Failure::MaybeSent, true, 1, Duration::ZERO)).is_some());
        assert_eq!(
            policy.decide(Failure::MaybeSent, false, 1, Duration::ZERO),
            Decision::OutcomeUnknown
        );
    }
}
