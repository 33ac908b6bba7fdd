//! A string that must never be printed: tokens, refresh tokens, client secrets, PKCE verifiers.
//!
//! `Debug` and `Display` print `[redacted]`; the value is reachable only through
//! [`SecretString::expose_secret`], so every place that reveals a secret is easy to find.

use std::fmt;

/// A secret value whose `Debug` and `Display` print `[redacted]`.
///
/// ```
/// use brickwire_api::SecretString;
/// let token = SecretString::new("dapi123");
/// assert_eq!(format!("{token:?} {token}"), "[redacted] [redacted]");
/// assert_eq!(token.expose_secret(), "dapi123");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reveals the secret. Call it only where the value leaves the process on purpose
    /// (an `Authorization` header, a token request, encrypted storage).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let secret = SecretString::new("dapi-very-secret");
        let wrapped = Some(vec![secret.clone()]);
        assert!(!format!("{secret:?}{secret}{wrapped:?}").contains("very-secret"));
        assert_eq!(secret.expose_secret(), "dapi-very-secret");
    }

    #[test]
    fn deserializes_from_a_json_string() {
        let secret: SecretString = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(secret.expose_secret(), "abc");
        assert_eq!(format!("{secret:?}"), "[redacted]");
    }
}
