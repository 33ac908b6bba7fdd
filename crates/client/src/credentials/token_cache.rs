//! [`TokenCache`]: one cached `Authorization` header per credential, refreshed early, with at
//! most one refresh in flight (modelled on object_store's `TokenCache`).
//!
//! Start at [`TokenCache::authorization`]. The cache knows nothing about OAuth: a provider hands
//! it a fetch closure, and the cache decides whether to run it. The [`Clock`] is injectable so
//! tests can move time exactly ([`ManualClock`]).

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;

use crate::{AuthError, Error, Result};

/// A source of wall-clock time for token expiry decisions.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The real clock ([`SystemTime::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to; for tests.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use brickwire_client::credentials::{Clock, ManualClock};
/// let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(5));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a fetch hands to the cache: the header to send and when it stops working.
#[derive(Clone)]
pub struct CachedToken {
    /// The full `Authorization` header value, e.g. `Bearer eyJ...`.
    pub header: SecretString,
    /// When the token expires; `None` means it is used until the server rejects it.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("header", &self.header)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Default upper bound of how long before expiry a token is refreshed.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Caches one token and refreshes it before it expires.
///
/// Rules:
/// - A token is refreshed once `now >= expires_at - margin`, where the margin is the configured
///   one (default [`DEFAULT_REFRESH_MARGIN`]) but at most half the token's lifetime as seen when
///   it was fetched, so short-lived tokens are not refreshed on every call.
/// - At most one fetch runs at a time. Callers that waited while a fetch ran take its result,
///   success or failure, instead of fetching again.
/// - `rejected`: a caller whose header the server refused forces a refresh only if the cached
///   header is still that one; if someone already replaced it, the caller gets the new one.
/// - If an early refresh fails while the cached token is still valid (and not rejected), the
///   cached token is returned and the failure is logged.
pub struct TokenCache {
    state: tokio::sync::Mutex<State>,
    /// Incremented (under the lock) after every fetch attempt; read before waiting for the lock.
    attempts: AtomicU64,
    clock: Arc<dyn Clock>,
    margin: Duration,
}

#[derive(Default)]
struct State {
    current: Option<Entry>,
    last_failure: Option<Error>,
}

struct Entry {
    token: CachedToken,
    refresh_at: Option<SystemTime>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expires_at = self
            .state
            .try_lock()
            .ok()
            .and_then(|s| s.current.as_ref().map(|e| e.token.expires_at));
        f.debug_struct("TokenCache")
            .field("expires_at", &expires_at)
            .field("margin", &self.margin)
            .field("clock", &self.clock)
            .finish()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock), DEFAULT_REFRESH_MARGIN)
    }
}

impl TokenCache {
    /// An empty cache with the given clock and refresh margin.
    pub fn new(clock: Arc<dyn Clock>, margin: Duration) -> Self {
        Self {
            state: tokio::sync::Mutex::new(State::default()),
            attempts: AtomicU64::new(0),
            clock,
            margin,
        }
    }

    /// Replaces the clock (builder style).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the refresh margin (builder style).
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The clock this cache reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Stores a token obtained elsewhere (e.g. a stored OAuth session), without fetching.
    pub fn seed(&mut self, token: CachedToken) {
        let entry = self.entry(token);
        self.state.get_mut().current = Some(entry);
    }

    fn entry(&self, token: CachedToken) -> Entry {
        let refresh_at = token.expires_at.map(|expires_at| {
            let lifetime = expires_at
                .duration_since(self.clock.now())
                .unwrap_or_default();
            expires_at - self.margin.min(lifetime / 2)
        });
        Entry { token, refresh_at }
    }

    /// The cached header, running `fetch` first when the rules above say so.
    pub async fn authorization<F, Fut>(
        &self,
        rejected: Option<&SecretString>,
        fetch: F,
    ) -> Result<SecretString>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken>>,
    {
        let seen = self.attempts.load(Ordering::Acquire);
        let mut state = self.state.lock().await;
        let now = self.clock.now();
        let usable = state.current.as_ref().filter(|entry| {
            rejected.is_none_or(|r| r != &entry.token.header)
                && entry.token.expires_at.is_none_or(|t| now < t)
        });
        if self.attempts.load(Ordering::Acquire) != seen {
            // A fetch finished while we waited: share its outcome rather than fetch again.
            if let Some(entry) = usable {
                return Ok(entry.token.header.clone());
            }
            if let Some(failure) = &state.last_failure {
                return Err(share(failure));
            }
        }
        if let Some(entry) = usable
            && entry.refresh_at.is_none_or(|t| now < t)
        {
            return Ok(entry.token.header.clone());
        }
        let fallback = usable.map(|entry| entry.token.header.clone());

        let outcome = fetch().await;
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match outcome {
            Ok(token) => {
                let header = token.header.clone();
                state.current = Some(self.entry(token));
                state.last_failure = None;
                Ok(header)
            }
            Err(error) => {
                state.last_failure = Some(share(&error));
                match fallback {
                    Some(header) => {
                        tracing::warn!(%error, "token refresh failed; using the cached token until it expires");
                        Ok(header)
                    }
                    None => Err(error),
                }
            }
        }
    }
}

/// A copy of a fetch failure for the callers that waited on it.
fn share(error: &Error) -> Error {
    if let Error::Auth(auth) = error {
        return Error::Auth(auth.clone());
    }
    if let Error::Transport {
        method,
        path,
        message,
        maybe_sent,
    } = error
    {
        return Error::Transport {
            method: method.clone(),
            path: path.clone(),
            message: message.clone(),
            maybe_sent: *maybe_sent,
        };
    }
    Error::Auth(AuthError::other(error.to_string()))
}
