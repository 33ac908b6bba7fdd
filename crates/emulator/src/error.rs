//! Databricks error responses: `{"error_code", "message", "details"}` and the SCIM shape.
//!
//! Start with [`ApiError`], what every route answers on failure; [`ErrorCode`] is every
//! `error_code` the emulator sends, spelled once. [`wire_body`] reads a request body as a
//! `brickwire-api` type and answers a wrong or missing field the way Databricks does.

use std::fmt;

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

/// Defines [`ErrorCode`] from one table of `Variant = "WIRE_SPELLING"`: the enum, its
/// [`as_str`](ErrorCode::as_str) and [`ALL`](ErrorCode::ALL) come from the same list, so a
/// code cannot be added to one and forgotten in another.
macro_rules! error_codes {
    (
        $(#[$enum_attr:meta])*
        pub enum ErrorCode {
            $(
                $(#[doc = $doc:literal])*
                $variant:ident = $wire:literal,
            )+
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                $(#[doc = $doc])*
                $variant,
            )+
            /// A SCIM error, answered with the SCIM body and this `scimType` (none, for example, on
            /// a 404). Its [`as_str`](Self::as_str) is the `scimType`, or `""`.
            Scim(Option<ScimType>),
        }

        impl ErrorCode {
            /// Every code that goes on the wire as an `error_code` (all but [`ErrorCode::Scim`]),
            /// in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as it goes on the wire, e.g. `"INVALID_PARAMETER_VALUE"`.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Scim(scim_type) => scim_type.map_or("", ScimType::as_str),
                }
            }
        }
    };
}

error_codes! {
    /// A Databricks `error_code`, as the emulator sends it.
    ///
    /// [`ErrorCode::as_str`] is the wire spelling; [`ErrorCode::Scim`] stands for a SCIM error,
    /// whose body has no `error_code` but a `scimType` (see [`ApiError::scim`]).
    ///
    /// ```
    /// use brickwire_emulator::error::ErrorCode;
    /// assert_eq!(ErrorCode::ResourceDoesNotExist.as_str(), "RESOURCE_DOES_NOT_EXIST");
    /// assert_eq!(ErrorCode::InvalidParameterValue, "INVALID_PARAMETER_VALUE");
    /// ```
    pub enum ErrorCode {
        /// `INVALID_PARAMETER_VALUE`: a request field is missing or wrong (and, for clusters, jobs
        /// and runs, an unknown id).
        InvalidParameterValue = "INVALID_PARAMETER_VALUE",
        /// `RESOURCE_DOES_NOT_EXIST`: the object asked for is not there.
        ResourceDoesNotExist = "RESOURCE_DOES_NOT_EXIST",
        /// `RESOURCE_ALREADY_EXISTS`: a workspace object is already at the path.
        ResourceAlreadyExists = "RESOURCE_ALREADY_EXISTS",
        /// `INVALID_STATE`: the object is in a state that does not allow the action.
        InvalidState = "INVALID_STATE",
        /// `MALFORMED_REQUEST`: the body is not the JSON the endpoint reads.
        MalformedRequest = "MALFORMED_REQUEST",
        /// `UNAUTHENTICATED`: no token, or one the workspace does not know.
        Unauthenticated = "UNAUTHENTICATED",
        /// `403`: the legacy answer to a bad token, `{"error_code":"403","message":"Invalid
        /// access token."}` (see the OAuth setting `legacy_invalid_token_403`).
        LegacyInvalidToken = "403",
        /// `ENDPOINT_NOT_FOUND`: no API at this method and path.
        EndpointNotFound = "ENDPOINT_NOT_FOUND",
        /// `REQUEST_LIMIT_EXCEEDED`: rate limited (429).
        RequestLimitExceeded = "REQUEST_LIMIT_EXCEEDED",
        /// `TEMPORARILY_UNAVAILABLE`: the service is unavailable (503).
        TemporarilyUnavailable = "TEMPORARILY_UNAVAILABLE",
        /// `INTERNAL_ERROR`: the server failed.
        InternalError = "INTERNAL_ERROR",
        /// `MAX_NOTEBOOK_SIZE_EXCEEDED`: an import is larger than the workspace accepts.
        MaxNotebookSizeExceeded = "MAX_NOTEBOOK_SIZE_EXCEEDED",
        /// `DIRECTORY_NOT_EMPTY`: a non-recursive delete of a folder that holds objects.
        DirectoryNotEmpty = "DIRECTORY_NOT_EMPTY",
        /// `CATALOG_DOES_NOT_EXIST` (Unity Catalog).
        CatalogDoesNotExist = "CATALOG_DOES_NOT_EXIST",
        /// `SCHEMA_DOES_NOT_EXIST` (Unity Catalog).
        SchemaDoesNotExist = "SCHEMA_DOES_NOT_EXIST",
        /// `TABLE_DOES_NOT_EXIST` (Unity Catalog).
        TableDoesNotExist = "TABLE_DOES_NOT_EXIST",
        /// `CATALOG_ALREADY_EXISTS` (Unity Catalog).
        CatalogAlreadyExists = "CATALOG_ALREADY_EXISTS",
        /// `SCHEMA_ALREADY_EXISTS` (Unity Catalog).
        SchemaAlreadyExists = "SCHEMA_ALREADY_EXISTS",
        /// `TABLE_ALREADY_EXISTS` (Unity Catalog).
        TableAlreadyExists = "TABLE_ALREADY_EXISTS",
        /// `VOLUME_ALREADY_EXISTS` (Unity Catalog).
        VolumeAlreadyExists = "VOLUME_ALREADY_EXISTS",
        /// `CATALOG_NOT_EMPTY` (Unity Catalog, delete without `force`).
        CatalogNotEmpty = "CATALOG_NOT_EMPTY",
        /// `SCHEMA_NOT_EMPTY` (Unity Catalog, delete without `force`).
        SchemaNotEmpty = "SCHEMA_NOT_EMPTY",
        /// `BAD_REQUEST`: a statement failed on its input (a `ServiceErrorCode`).
        BadRequest = "BAD_REQUEST",
        /// `NOT_FOUND`: a statement named something that does not exist (a `ServiceErrorCode`).
        NotFound = "NOT_FOUND",
        /// `ALREADY_EXISTS`: a statement created something that exists (a `ServiceErrorCode`).
        AlreadyExists = "ALREADY_EXISTS",
        /// `RESOURCE_EXHAUSTED`: a statement ran out of resources (a `ServiceErrorCode`).
        ResourceExhausted = "RESOURCE_EXHAUSTED",
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// A SCIM error's `scimType` (RFC 7644, section 3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScimType {
    /// `invalidValue`: an attribute has a wrong value or is missing.
    InvalidValue,
    /// `invalidSyntax`: the body is not a SCIM request.
    InvalidSyntax,
    /// `invalidFilter`: the filter does not parse.
    InvalidFilter,
    /// `invalidPath`: a PATCH path does not parse or names nothing.
    InvalidPath,
    /// `noTarget`: a PATCH path matches nothing.
    NoTarget,
    /// `uniqueness`: the name is taken.
    Uniqueness,
}

impl ScimType {
    /// The `scimType` as it goes on the wire, e.g. `"invalidValue"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidValue => "invalidValue",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidFilter => "invalidFilter",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::Uniqueness => "uniqueness",
        }
    }
}

/// An error answered the way Databricks answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Databricks `error_code`; [`ErrorCode::Scim`] answers with the SCIM error body instead.
    pub error_code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// `Retry-After` in seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A Databricks-shaped error.
    pub fn new(status: StatusCode, error_code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            error_code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A SCIM error body (`urn:ietf:params:scim:api:messages:2.0:Error`), with `scimType`
    /// when one is given.
    pub fn scim(
        status: StatusCode,
        scim_type: Option<ScimType>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(status, ErrorCode::Scim(scim_type), detail)
    }

    /// 400 `INVALID_PARAMETER_VALUE`.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameterValue,
            message,
        )
    }

    /// 400 `INVALID_PARAMETER_VALUE` "Missing required field: `field`", Databricks' words for
    /// an absent (or empty) required field.
    pub fn missing_field(field: impl fmt::Display) -> Self {
        Self::invalid_parameter(format!("Missing required field: {field}"))
    }

    /// 404 `RESOURCE_DOES_NOT_EXIST`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ResourceDoesNotExist,
            message,
        )
    }

    /// 401 for a missing or unknown token.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    }

    /// Sets `Retry-After`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// Parses a request body as a JSON object, answering a malformed one the way Databricks does
/// (400 `MALFORMED_REQUEST`). An empty body counts as `{}`.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            "Invalid JSON given in the body of the request - expected a map",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            format!("Could not parse request object: {e}"),
        )),
    }
}

/// Decodes a request body as `T`, a `brickwire-api` request type: the one way a route reads
/// a typed body, so every route words a bad field alike.
///
/// A body that is not a JSON object is `MALFORMED_REQUEST` (see [`json_object`]); a field of the
/// wrong type is `INVALID_PARAMETER_VALUE` "Invalid value for field `path`: ..." and a missing
/// one "Missing required field: `path`", the path being the JSON path to the field
/// (`columns[0].name`), as Databricks names it.
///
/// ```
/// use brickwire_api::unity_catalog::CreateVolume;
/// use brickwire_emulator::error::wire_body;
/// let err = wire_body::<CreateVolume>(br#"{"name": "v"}"#).unwrap_err();
/// assert_eq!(err.message, "Missing required field: catalog_name");
/// ```
pub fn wire_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = Value::Object(json_object(body)?);
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde says "missing field `x`" at the path of the object that lacks it.
        match inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(missing) if path == "." => ApiError::missing_field(missing),
            Some(missing) => ApiError::missing_field(format_args!("{path}.{missing}")),
            None => ApiError::invalid_parameter(format!("Invalid value for field {path}: {inner}")),
        }
    })
}

/// `value` unless empty: to Databricks an empty required string is as missing as an absent one,
/// which the type of a decoded body (a plain `String`) cannot say.
pub fn required(field: &str, value: String) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(ApiError::missing_field(field));
    }
    Ok(value)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = if let ErrorCode::Scim(scim_type) = self.error_code {
            let mut body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "detail": self.message,
                "status": self.status.as_u16().to_string(),
            });
            if let Some(scim_type) = scim_type {
                body["scimType"] = json!(scim_type.as_str());
            }
            let mut r = (self.status, Json(body)).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/scim+json"),
            );
            r
        } else {
            let body = json!({"error_code": self.error_code, "message": self.message});
            (self.status, Json(body)).into_response()
        };
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each variant's wire spelling is its name in SCREAMING_SNAKE_CASE, so a typo in
    /// [`ErrorCode::as_str`] fails here; the two exceptions are spelled out.
    #[test]
    fn codes_are_spelled_as_their_names() {
        use ErrorCode::*;
        for &code in ErrorCode::ALL {
            if code == LegacyInvalidToken {
                continue;
            }
            let mut screaming = String::new();
            for (i, c) in format!("{code:?}").chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    screaming.push('_');
                }
                screaming.push(c.to_ascii_uppercase());
            }
            assert_eq!(code.as_str(), screaming);
            assert_eq!(serde_json::to_value(code).unwrap(), json!(screaming));
        }
        assert_eq!(LegacyInvalidToken.as_str(), "403");
        let spellings: std::collections::HashSet<_> =
            ErrorCode::ALL.iter().map(ErrorCode::as_str).collect();
        assert_eq!(
            spellings.len(),
            ErrorCode::ALL.len(),
            "two codes share a spelling"
        );
        assert_eq!(ErrorCode::ALL.len(), 26);
        assert_eq!(Scim(None).as_str(), "");
        assert_eq!(Scim(Some(ScimType::Uniqueness)).as_str(), "uniqueness");
    }

    async fn body(e: ApiError) -> (String, Value) {
        let response = e.into_response();
        let content_type = response.headers()[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (content_type, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn each_error_has_its_body_shape() {
        let (content_type, v) = body(ApiError::not_found("gone")).await;
        assert_eq!(content_type, "application/json");
        assert_eq!(
            v,
            json!({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"})
        );
        let scim = "urn:ietf:params:scim:api:messages:2.0:Error";
        let (content_type, v) = body(ApiError::scim(
            StatusCode::NOT_FOUND,
            None,
            "User 1 not found.",
        ))
        .await;
        assert_eq!(content_type, "application/scim+json");
        assert_eq!(
            v,
            json!({"schemas": [scim], "detail": "User 1 not found.", "status": "404"})
        );
        let taken = ApiError::scim(StatusCode::CONFLICT, Some(ScimType::Uniqueness), "taken");
        let (_, v) = body(taken).await;
        assert_eq!(
            v,
            json!({"schemas": [scim], "detail": "taken", "status": "409", "scimType": "uniqueness"})
        );
    }
}
