//! A Databricks REST client that behaves like the official SDKs where it matters.
//!
//! Start with [`Config`] (unified auth: explicit settings, then `DATABRICKS_*` environment
//! variables, then a `~/.databrickscfg` profile) and [`Client`]. The client owns one connection
//! pool, a credentials provider with its token cache, the retry policy, and an optional
//! client-side rate limit. Each Databricks service is a module under [`services`]; shared HTTP
//! machinery (retry, backoff, rate limit) lives in `http`. Every failure is an [`Error`].

pub mod client;
pub mod config;
pub mod credentials;
pub mod error;
pub mod http;
pub mod pagination;
pub mod services;
pub mod waiter;

pub use brickwire_api::SecretString;
pub use client::{
    ApiRequest, ApiResponse, ApiStream, Client, ClientBuilder, ClientOptions, RequestBody,
    SharedTransport,
};
pub use config::Config;
pub use credentials::CredentialsProvider;
pub use error::{ApiError, AuthError, AuthFailure, Error, ErrorKind, Result};
