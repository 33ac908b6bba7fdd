//! One HTTP attempt and the retry loop around it: [`Client::execute`] takes a permit from the
//! rate limit, asks the credentials, sends one attempt with its own timeout, classifies how it
//! failed ([`AttemptError`]) and asks [`crate::http::retry`] whether and when to try again,
//! inside the overall retry deadline. [`Label`] is what logs and errors call a request
//! (method and path, never the query string, which may hold a link's signature).

use std::fmt;
use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_api::error::{ApiError, ErrorResponse, parse_error};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use url::Url;

use super::Client;
use super::{ApiRequest, ApiResponse, ApiStream, RequestBody};
use crate::error::{AuthError, Error, Result};
use crate::http::backoff::parse_retry_after;
use crate::http::retry::{Decision, Failure};

/// Whether an attempt keeps the whole body or hands back a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Mode {
    Buffered,
    Streaming,
}

pub(super) enum Received {
    Buffered(ApiResponse),
    Streaming(reqwest::Response),
}

/// Where a request goes: the workspace (authenticated, rate limited) or a pre-signed link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Target {
    Workspace,
    External,
}

/// How one attempt failed.
enum AttemptError {
    /// The server answered with an error status.
    Api(ApiError),
    /// The request failed in transport; `sent` says whether it may have reached the server.
    Transport { message: String, sent: bool },
    /// Not worth retrying at all (an invalid request).
    Fatal(Error),
}

impl AttemptError {
    /// The failure as the retry policy sees it; `None` for failures never worth retrying.
    fn as_failure(&self) -> Option<Failure<'_>> {
        match self {
            AttemptError::Api(api) => Some(Failure::Api(api)),
            AttemptError::Transport { sent: false, .. } => Some(Failure::NotSent),
            AttemptError::Transport { sent: true, .. } => Some(Failure::MaybeSent),
            AttemptError::Fatal(_) => None,
        }
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Api(api) => api.fmt(f),
            AttemptError::Transport { message, .. } => f.write_str(message),
            AttemptError::Fatal(error) => error.fmt(f),
        }
    }
}

/// What the logs and errors call a request: method and path, never the query string.
pub(super) struct Label {
    method: Method,
    path: String,
}

impl Client {
    /// Runs attempts until one succeeds, the retry policy gives up, or the deadline passes.
    pub(super) async fn execute(
        &self,
        request: &ApiRequest,
        url: &Url,
        target: Target,
        mode: Mode,
    ) -> Result<Received> {
        let inner = &*self.inner;
        let label = Label::of(&request.method, url, target);
        let deadline = inner.clock.now() + inner.options.retry_timeout;
        let mut attempt: u32 = 1;
        let mut refreshed = false;
        let mut rejected: Option<SecretString> = None;
        let mut last: Option<String> = None;
        loop {
            let authorization = match target {
                Target::Workspace => {
                    if let Some(limiter) = inner.rate_limiter.as_ref().filter(|_| request.paced) {
                        limiter.acquire().await;
                    }
                    Some(
                        inner
                            .credentials
                            .authorization(rejected.take().as_ref())
                            .await?,
                    )
                }
                Target::External => None,
            };
            let remaining = deadline.saturating_duration_since(inner.clock.now());
            if remaining.is_zero() {
                return Err(label.deadline_error(
                    attempt - 1,
                    inner.options.retry_timeout,
                    last.as_deref(),
                ));
            }
            let timeout = inner.options.http_timeout.min(remaining);
            let failure = match self
                .attempt(request, url, target, authorization.as_ref(), timeout, mode)
                .await
            {
                Ok(received) => return Ok(received),
                Err(failure) => failure,
            };
            let decision = match &failure {
                AttemptError::Api(api)
                    if target == Target::Workspace
                        && !refreshed
                        && api.is_credentials_rejected() =>
                {
                    // The token may have expired or been revoked since it was cached: ask the
                    // provider for a fresh one, once, and retry at once.
                    refreshed = true;
                    rejected = authorization;
                    label.log_retry(
                        attempt,
                        "credentials rejected; refreshing them",
                        Duration::ZERO,
                    );
                    attempt += 1;
                    continue;
                }
                other => match other.as_failure() {
                    Some(kind) => {
                        inner
                            .policy
                            .decide(kind, request.idempotent, attempt, inner.jitter.next())
                    }
                    None => Decision::GiveUp,
                },
            };
            match decision {
                Decision::GiveUp => return Err(label.error(failure)),
                Decision::OutcomeUnknown => return Err(label.outcome_unknown(&failure)),
                Decision::Retry { delay, reason } => {
                    if inner.clock.now() + delay >= deadline {
                        return Err(label.deadline_error(
                            attempt,
                            inner.options.retry_timeout,
                            Some(&failure.to_string()),
                        ));
                    }
                    last = Some(failure.to_string());
                    label.log_retry(attempt, &reason, delay);
                    inner.clock.sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One HTTP attempt, bounded by `timeout`.
    async fn attempt(
        &self,
        request: &ApiRequest,
        url: &Url,
        target: Target,
        authorization: Option<&SecretString>,
        timeout: Duration,
        mode: Mode,
    ) -> Result<Received, AttemptError> {
        let builder = self.build_request(request, url, authorization)?;
        let exchange = async {
            let response = builder.send().await.map_err(transport_failure)?;
            let status = response.status();
            if !status.is_success() {
                let headers = response.headers().clone();
                // The status is what matters; a body cut short still parses as far as it got.
                let body = response.bytes().await.unwrap_or_default();
                return Err(AttemptError::Api(
                    self.api_error(target, status, &headers, &body),
                ));
            }
            match mode {
                Mode::Streaming => Ok(Received::Streaming(response)),
                Mode::Buffered => {
                    let headers = response.headers().clone();
                    let body = response.bytes().await.map_err(transport_failure)?;
                    Ok(Received::Buffered(ApiResponse {
                        status,
                        headers,
                        body,
                    }))
                }
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(AttemptError::Transport {
                message: format!("timed out: no complete response within {timeout:?}"),
                sent: true,
            }),
        }
    }

    fn build_request(
        &self,
        request: &ApiRequest,
        url: &Url,
        authorization: Option<&SecretString>,
    ) -> Result<reqwest::RequestBuilder, AttemptError> {
        let mut builder = self.inner.http.request(request.method.clone(), url.clone());
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(authorization) = authorization {
            let mut value = HeaderValue::from_str(authorization.expose_secret()).map_err(|_| {
                AttemptError::Fatal(Error::Auth(AuthError::other(
                    "the credentials provider returned a header value that is not valid in HTTP",
                )))
            })?;
            value.set_sensitive(true);
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("authorization") {
                continue;
            }
            builder = builder.header(name, value);
        }
        Ok(match &request.body {
            None => builder,
            Some(RequestBody::Json(v)) => builder.json(v),
            Some(RequestBody::Form(f)) => builder.form(f),
            Some(RequestBody::Bytes { content_type, data }) => builder
                .header(http::header::CONTENT_TYPE, content_type)
                .body(data.clone()),
        })
    }

    fn api_error(
        &self,
        target: Target,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ApiError {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let retry_after = header("retry-after")
            .and_then(|value| parse_retry_after(value, self.inner.clock.system_time()));
        let response = ErrorResponse {
            status: status.as_u16(),
            request_id: header("x-request-id"),
            retry_after,
        };
        match target {
            Target::Workspace => parse_error(&response, body),
            // Cloud storage answers in XML, and some of its errors echo the link's signature
            // (`<SignatureProvided>`): keep only `<Code>` and `<Message>`.
            Target::External => {
                let text = String::from_utf8_lossy(body);
                let mut error = parse_error(&response, b"");
                error.error_code = xml_element(&text, "Code").or(error.error_code);
                if let Some(message) = xml_element(&text, "Message") {
                    error.message = message;
                }
                error.kind = brickwire_api::error::classify(
                    error.status,
                    error.error_code.as_deref(),
                    &error.message,
                );
                error
            }
        }
    }
}

pub(super) fn into_stream(received: Received, label: Label) -> ApiStream {
    let response = match received {
        Received::Streaming(response) => response,
        Received::Buffered(_) => unreachable!("streaming mode returns the response"),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes_stream()
        .map(move |chunk| {
            chunk.map_err(|e| Error::Transport {
                method: label.method.to_string(),
                path: label.path.clone(),
                message: describe(e),
                maybe_sent: true,
            })
        })
        .boxed();
    ApiStream {
        status,
        headers,
        body,
    }
}

fn transport_failure(error: reqwest::Error) -> AttemptError {
    if error.is_builder() {
        return AttemptError::Fatal(Error::Config(format!(
            "invalid request: {}",
            describe(error)
        )));
    }
    // A connect error means no byte of the request left; anything later may have reached
    // the server.
    let sent = !error.is_connect();
    AttemptError::Transport {
        message: describe(error),
        sent,
    }
}

/// The error and its causes on one line, without the URL (it may hold secrets in its query).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The text of the first `<name>...</name>` element of an XML document.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].trim().to_owned())
}

impl Label {
    pub(super) fn of(method: &Method, url: &Url, target: Target) -> Self {
        let path = match target {
            Target::Workspace => url.path().to_owned(),
            // Name the host of an external link too, never its query (the signature).
            Target::External => format!("{}{}", url.origin().ascii_serialization(), url.path()),
        };
        Self {
            method: method.clone(),
            path,
        }
    }

    fn log_retry(&self, attempt: u32, reason: &str, delay: Duration) {
        tracing::debug!(
            method = %self.method,
            path = %self.path,
            attempt,
            reason,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "retrying Databricks request"
        );
    }

    fn error(&self, failure: AttemptError) -> Error {
        match failure {
            AttemptError::Api(api) => Error::Api(Box::new(api)),
            AttemptError::Fatal(error) => error,
            AttemptError::Transport { message, sent } => Error::Transport {
                method: self.method.to_string(),
                path: self.path.clone(),
                message,
                maybe_sent: sent,
            },
        }
    }

    fn outcome_unknown(&self, failure: &AttemptError) -> Error {
        Error::Transport {
            method: self.method.to_string(),
            path: self.path.clone(),
            message: format!(
                "{failure}; the request may have reached the server, so its outcome is unknown \
                 (not retried: the request is not idempotent)"
            ),
            maybe_sent: true,
        }
    }

    fn deadline_error(&self, attempts: u32, retry_timeout: Duration, last: Option<&str>) -> Error {
        let mut message = format!(
            "{} {}: retry deadline of {retry_timeout:?} reached after {attempts} attempt(s)",
            self.method, self.path
        );
        if let Some(last) = last {
            message.push_str(&format!("; last error: {last}"));
        }
        Error::Timeout(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_elements_are_found() {
        let body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message>\
                    <SignatureProvided>sig</SignatureProvided></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(
            xml_element(body, "Message").as_deref(),
            Some("Request has expired")
        );
        assert_eq!(xml_element(body, "Missing"), None);
    }
}
