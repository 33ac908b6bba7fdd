//! Time as the transport sees it: a monotonic "now", the wall clock (for `Retry-After` dates)
//! and sleeping. [`TokioClock`] is the real one (it also follows tokio's paused test time);
//! [`ManualClock`] jumps instead of sleeping and records every sleep, so tests assert exact
//! delays and deadlines without waiting.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio::time::Instant;

/// A source of time for retries, deadlines and the rate limiter.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic now, used for deadlines and the rate limiter.
    fn now(&self) -> Instant;
    /// Wall-clock now, used to turn a `Retry-After` HTTP date into a delay.
    fn system_time(&self) -> SystemTime;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock: `tokio::time` (so `#[tokio::test(start_paused = true)]` controls it) and
/// [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock for tests: `sleep` returns at once after moving the clock forward, and every
/// sleep is recorded in order. Clones share the same time.
///
/// ```
/// # use std::time::Duration;
/// # use brickwire_client::http::{Clock, ManualClock};
/// # tokio_test_block_on(async {
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.sleep(Duration::from_millis(1500)).await;
/// assert_eq!(clock.now() - start, Duration::from_millis(1500));
/// assert_eq!(clock.sleeps(), vec![Duration::from_millis(1500)]);
/// # });
/// # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    start: Instant,
    wall_start: SystemTime,
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock whose wall time starts at a whole second (2027-01-15 08:00:00 UTC), so HTTP
    /// dates (second resolution) convert to exact delays.
    pub fn new() -> Self {
        Self::with_wall_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
    }

    /// A clock whose wall time starts at `wall_start`.
    pub fn with_wall_time(wall_start: SystemTime) -> Self {
        Self {
            state: Arc::new(Mutex::new(ManualState {
                start: Instant::now(),
                wall_start,
                elapsed: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    /// Moves the clock forward without recording a sleep.
    pub fn advance(&self, duration: Duration) {
        self.lock().elapsed += duration;
    }

    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Time moved since the clock was created.
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let state = self.lock();
        state.start + state.elapsed
    }

    fn system_time(&self) -> SystemTime {
        let state = self.lock();
        state.wall_start + state.elapsed
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let mut state = self.lock();
        state.elapsed += duration;
        state.sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }
}
