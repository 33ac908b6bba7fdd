//! Legacy username/password credentials (auth type `basic`).

use base64::Engine as _;
use brickwire_api::SecretString;
use futures::future::BoxFuture;

use super::CredentialsProvider;
use crate::Result;

/// Sends `Authorization: Basic base64(username:password)` with every request.
#[derive(Debug, Clone)]
pub struct BasicCredentials {
    header: SecretString,
}

impl BasicCredentials {
    /// A provider for this username and password.
    pub fn new(username: &str, password: &SecretString) -> Self {
        let pair = format!("{username}:{}", password.expose_secret());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Self {
            header: SecretString::new(format!("Basic {encoded}")),
        }
    }
}

impl CredentialsProvider for BasicCredentials {
    fn auth_type(&self) -> &'static str {
        "basic"
    }

    fn authorization<'a>(
        &'a self,
        _rejected: Option<&'a SecretString>,
    ) -> BoxFuture<'a, Result<SecretString>> {
        Box::pin(async move { Ok(self.header.clone()) })
    }
}
