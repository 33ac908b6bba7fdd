//! How long to wait before the next attempt: `Retry-After` (seconds or HTTP date), linear
//! backoff, and the random jitter added to every delay so that many clients throttled at once
//! do not come back at once. The jitter source is injectable ([`FixedJitter`], or
//! [`UniformJitter::seeded`]) so tests assert exact delays.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A source of the jitter added to every retry delay.
pub trait Jitter: Send + Sync + fmt::Debug {
    /// The next jitter, in `[0, 1)` s for the default policy.
    fn next(&self) -> Duration;
}

/// Uniform jitter in `[0, 1)` s, like the official SDKs.
#[derive(Debug)]
pub struct UniformJitter {
    rng: Mutex<StdRng>,
}

impl UniformJitter {
    /// Jitter seeded from the operating system.
    pub fn new() -> Self {
        Self {
            rng: Mutex::new(StdRng::from_os_rng()),
        }
    }

    /// Reproducible jitter: the same seed gives the same sequence.
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }
}

impl Default for UniformJitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Jitter for UniformJitter {
    fn next(&self) -> Duration {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        Duration::from_secs_f64(rng.random::<f64>())
    }
}

/// The same jitter every time (tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub Duration);

impl Jitter for FixedJitter {
    fn next(&self) -> Duration {
        self.0
    }
}

/// Parses a `Retry-After` value: integer seconds, or an HTTP date turned into the time left
/// from `now` (a date in the past means "now"). Anything else is `None`.
///
/// ```
/// # use std::time::{Duration, SystemTime};
/// # use brickwire_client::http::backoff::parse_retry_after;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
/// let date = httpdate::fmt_http_date(now + Duration::from_secs(5));
/// assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(5)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Linear backoff: `min(attempt, cap) * step` (attempts count from 1).
pub fn linear(attempt: u32, step: Duration, cap: u32) -> Duration {
    step * attempt.clamp(1, cap.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_backoff_grows_then_caps() {
        let step = Duration::from_secs(1);
        let delays: Vec<u64> = (1..=12).map(|a| linear(a, step, 10).as_secs()).collect();
        assert_eq!(delays, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10]);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates_only() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
    }

    #[test]
    fn seeded_jitter_is_reproducible_and_below_one_second() {
        let a = UniformJitter::seeded(7);
        let b = UniformJitter::seeded(7);
        for _ in 0..100 {
            let (x, y) = (a.next(), b.next());
            assert_eq!(x, y);
            assert!(x < Duration::from_secs(1));
        }
    }
}
