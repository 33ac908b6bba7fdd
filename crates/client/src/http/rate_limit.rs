//! The client-side rate limit: a token bucket shared by all clones of a [`crate::Client`]
//! (default 15 requests per second, burst 1, like the Go SDK), applied to every attempt
//! including retries.
//!
//! Waiters queue on a fair (FIFO) async mutex, so requests go out in the order they asked.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::clock::Clock;

/// An async token bucket (implemented as GCRA: one "theoretical arrival time").
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst: u32,
    clock: Arc<dyn Clock>,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter that lets `per_second` requests through per second on average, and up to
    /// `burst` at once after a quiet period. Returns `None` when `per_second` is not a
    /// positive finite number (or so small that one interval overflows a `Duration`).
    pub fn new(per_second: f64, burst: u32, clock: Arc<dyn Clock>) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        Some(Self {
            interval: Duration::try_from_secs_f64(1.0 / per_second).ok()?,
            burst: burst.max(1),
            clock,
            next: Mutex::new(None),
        })
    }

    /// The spacing between two requests at the sustained rate.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits until one more request may go out.
    pub async fn acquire(&self) {
        // Holding the lock while sleeping keeps waiters in arrival order; the slot is only
        // taken once the wait is over, so a cancelled waiter does not waste it.
        let mut next = self.next.lock().await;
        let now = self.clock.now();
        let tat = next.map_or(now, |t| t.max(now));
        let allowed_at = tat
            .checked_sub(self.interval * (self.burst - 1))
            .unwrap_or(now);
        if allowed_at > now {
            self.clock.sleep(allowed_at - now).await;
        }
        *next = Some(tat + self.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::clock::{ManualClock, TokioClock};

    #[tokio::test]
    async fn spaces_requests_at_the_rate() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new(4.0, 1, Arc::new(clock.clone())).unwrap();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(clock.sleeps(), vec![Duration::from_millis(250); 4]);
    }

    #[tokio::test]
    async fn allows_a_burst_after_a_quiet_period() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new(10.0, 3, Arc::new(clock.clone())).unwrap();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(clock.sleeps().is_empty());
        limiter.acquire().await;
        assert_eq!(clock.sleeps(), vec![Duration::from_millis(100)]);
        clock.advance(Duration::from_secs(10));
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(clock.sleeps().len(), 1);
    }

    #[test]
    fn rejects_nonsense_rates() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            assert!(RateLimiter::new(rate, 1, Arc::new(TokioClock)).is_none());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_are_served_in_order_at_the_rate() {
        let limiter = Arc::new(RateLimiter::new(5.0, 1, Arc::new(TokioClock)).unwrap());
        let start = Instant::now();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..6u32 {
            let (limiter, order) = (limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                limiter.acquire().await;
                order.lock().unwrap().push((i, start.elapsed()));
            }));
            // Let task i queue on the limiter before task i + 1 starts.
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let expected: Vec<_> = (0..6u32)
            .map(|i| (i, Duration::from_millis(200) * i))
            .collect();
        assert_eq!(order, expected);
    }
}
