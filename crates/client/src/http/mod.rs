//! Shared HTTP machinery of the [`crate::Client`]: what happens between "send this
//! [`crate::ApiRequest`]" and "here is the answer".
//!
//! Start with [`retry`] (which failures are retried, how long to wait, when to give up), then
//! [`backoff`] (delays, `Retry-After`, jitter), [`rate_limit`] (the client-side token bucket) and
//! [`clock`] (time, injectable so tests assert exact delays without sleeping).

pub mod backoff;
pub mod clock;
pub mod rate_limit;
pub mod retry;

pub use backoff::{FixedJitter, Jitter, UniformJitter};
pub use clock::{Clock, ManualClock, TokioClock};
pub use rate_limit::RateLimiter;
pub use retry::RetryPolicy;
