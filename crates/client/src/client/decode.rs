//! Decoding of JSON response bodies into typed values; a failure names the JSON path that
//! broke and keeps a credential-free excerpt of the body.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Decodes a JSON body (empty means `{}`); errors name the JSON path that broke.
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let json: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| Error::decode(e.path().to_string(), e.inner().to_string(), body))?;
    deserializer
        .end()
        .map_err(|e| Error::decode(".".to_owned(), e.to_string(), body))?;
    Ok(value)
}
