//! Webhook signatures: HMAC-SHA256 over `"<unix seconds>." + body`, sent as
//! `Brickwire-Signature: t=<unix seconds>,v1=<hex>`. [`sign`] makes the header;
//! [`verify_signature`] is what a receiver runs (constant-time, with a timestamp tolerance
//! against replays).
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use brickwire_api::SecretString;
//! use brickwire_service::triggers::signature::{sign, verify_signature};
//!
//! let secret = SecretString::new("whsec_0123456789abcdef");
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let header = sign(&secret, now, b"{\"events\":[]}");
//! assert!(verify_signature(&secret, &header, b"{\"events\":[]}", now, Duration::from_secs(300)).is_ok());
//! assert!(verify_signature(&secret, &header, b"{\"events\":[1]}", now, Duration::from_secs(300)).is_err());
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brickwire_api::SecretString;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Brickwire-Signature";

/// Why a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The header is not `t=<unix>,v1=<hex>`.
    #[error("the signature header is malformed: expected t=<unix seconds>,v1=<hex>")]
    Malformed,
    /// The timestamp is further from now than the tolerance.
    #[error("the signature timestamp is outside the tolerance")]
    Expired,
    /// No `v1` signature matches the body.
    #[error("the signature does not match the body")]
    Mismatch,
}

fn mac(secret: &SecretString, timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The header value signing `body` at time `now`.
pub fn sign(secret: &SecretString, now: SystemTime, body: &[u8]) -> String {
    let t = unix_seconds(now);
    let digest = mac(secret, t, body).finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("t={t},v1={hex}")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a `Brickwire-Signature` header against `body` with the subscription's secret.
/// Accepts several `v1=` entries (during a secret rotation) and rejects timestamps more than
/// `tolerance` away from `now`.
pub fn verify_signature(
    secret: &SecretString,
    header: &str,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(decode_hex(value).ok_or(SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if unix_seconds(now).abs_diff(t) > tolerance.as_secs() {
        return Err(SignatureError::Expired);
    }
    let expected = mac(secret, t, body);
    if signatures
        .iter()
        .any(|sig| expected.clone().verify_slice(sig).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Independent expectation: RFC 4231-style HMAC-SHA256 computed over "10.x" with key "k".
        let header = sign(&SecretString::new("k"), at(10), b"x");
        let mut m = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        m.update(b"10.x");
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(header, format!("t=10,v1={hex}"));
    }

    #[test]
    fn tampering_with_body_timestamp_or_secret_fails() {
        let secret = SecretString::new("whsec_0123456789abcdef");
        let header = sign(&secret, at(1000), b"body");
        let tol = Duration::from_secs(300);
        assert_eq!(
            verify_signature(&secret, &header, b"body", at(1000), tol),
            Ok(())
        );
        assert_eq!(
            verify_signature(&secret, &header, b"bodY", at(1000), tol),
            Err(SignatureError::Mismatch)
        );
        let moved = header.replace("t=1000", "t=1001");
        assert_eq!(
            verify_signature(&secret, &moved, b"body", at(1000), tol),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&SecretString::new("other"), &header, b"body", at(1000), tol),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&secret, &header, b"body", at(1301), tol),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature(&secret, "v1=00", b"body", at(1000), tol),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(&secret, "t=1000,v1=zz", b"body", at(1000), tol),
            Err(SignatureError::Malformed)
        );
    }
}
