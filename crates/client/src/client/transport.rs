//! The connection pool and client-side rate limit a [`super::Client`] sends through, and the
//! checks on [`ClientOptions`] that building them makes; [`SharedTransport`] lets several
//! clients of one workspace share both.

use std::sync::Arc;

use super::{ClientOptions, user_agent};
use crate::error::{Error, Result};
use crate::http::{Clock, RateLimiter, TokioClock};

/// A rate limit and a connection pool that several clients share, e.g. every client of one
/// workspace whatever its credentials: the workspace's limits count all of their requests.
/// Cheap to clone (the clones share both).
#[derive(Debug, Clone)]
pub struct SharedTransport {
    pub(super) rate_limiter: Option<Arc<RateLimiter>>,
    pub(super) http: reqwest::Client,
}

impl SharedTransport {
    /// A transport with the rate limit and timeouts of `options`.
    pub fn new(options: &ClientOptions) -> Result<Self> {
        Ok(Self {
            rate_limiter: rate_limiter(options, Arc::new(TokioClock))?.map(Arc::new),
            http: http_client(options)?,
        })
    }
}

pub(super) fn rate_limiter(
    options: &ClientOptions,
    clock: Arc<dyn Clock>,
) -> Result<Option<RateLimiter>> {
    match options.rate_limit {
        None => Ok(None),
        Some(rate) => RateLimiter::new(rate, 1, clock).map(Some).ok_or_else(|| {
            Error::Config(format!(
                "rate_limit must be a positive number of requests per second, not {rate}"
            ))
        }),
    }
}

pub(super) fn check_timeouts(options: &ClientOptions) -> Result<()> {
    if options.http_timeout.is_zero() || options.retry_timeout.is_zero() {
        return Err(Error::Config(
            "http_timeout and retry_timeout must be longer than zero".to_owned(),
        ));
    }
    Ok(())
}

pub(super) fn http_client(options: &ClientOptions) -> Result<reqwest::Client> {
    check_timeouts(options)?;
    reqwest::Client::builder()
        .user_agent(user_agent())
        .connect_timeout(options.http_timeout)
        .read_timeout(options.http_timeout)
        .build()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
}
