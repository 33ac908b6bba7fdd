//! The OpenAPI 3.1 document of the operator API, built from [`super::routes::all_endpoints`] with
//! body schemas derived by schemars (JSON Schema 2020-12, which OpenAPI 3.1 uses as is).

use axum::Json;
use axum::extract::State;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::AppState;
use super::routes::all_endpoints;

/// The document, with `servers` set to the public URL.
pub fn document(server_url: &str) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut paths: Map<String, Value> = Map::new();
    for endpoint in all_endpoints() {
        let mut operation = Map::new();
        operation.insert("operationId".into(), json!(endpoint.operation_id));
        operation.insert("summary".into(), json!(endpoint.summary));
        operation.insert("tags".into(), json!([endpoint.tag]));
        let mut parameters: Vec<Value> = path_params(endpoint.path)
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        parameters.extend(endpoint.query.iter().map(|(name, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "description": description, "schema": {"type": "string"}})
        }));
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(request) = endpoint.request {
            let schema = request(&mut generator);
            operation.insert(
                "requestBody".into(),
                json!({"required": !endpoint.request_optional,
                       "content": {"application/json": {"schema": schema}}}),
            );
        }
        let success = match endpoint.response {
            Some(response) => json!({
                "description": "Success",
                "content": {"application/json": {"schema": response(&mut generator)}}
            }),
            None => json!({"description": "Success, no body"}),
        };
        let mut responses = Map::new();
        responses.insert(endpoint.success.as_u16().to_string(), success);
        responses.insert(
            "default".into(),
            json!({"description": "An error (4xx for bad input, 401 for a missing or wrong key)",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}),
        );
        operation.insert("responses".into(), Value::Object(responses));
        let item = paths
            .entry(endpoint.full_path())
            .or_insert_with(|| Value::Object(Map::new()));
        item[endpoint.method.as_str().to_ascii_lowercase()] = Value::Object(operation);
    }
    paths.extend(crate::flows::api::hook_openapi_paths());
    let mut schemas = generator.take_definitions(true);
    schemas.insert("ErrorBody".into(), error_body_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "brickwire serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Link end users' Databricks workspaces (API key or OAuth) and run \
                            catalog actions on them. Every route needs `Authorization: Bearer \
                            <operator API key>`. Errors are `{\"error\": {code, message, ...}}`."
        },
        "servers": [{"url": server_url.trim_end_matches('/')}],
        "security": [{"operatorKey": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"operatorKey": {"type": "http", "scheme": "bearer"}}
        }
    })
}

fn error_body_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "retryable"],
            "properties": {
                "code": {"type": "string", "examples": ["INVALID_INPUT", "NOT_FOUND", "UNAUTHENTICATED"]},
                "message": {"type": "string"},
                "error_code": {"type": "string"},
                "status": {"type": "integer"},
                "request_id": {"type": "string"},
                "retryable": {"type": "boolean"}
            }
        }}
    })
}

/// The `{name}` placeholders of a path.
pub fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `GET /api/v1/openapi.json`.
pub async fn serve(State(state): State<AppState>) -> Json<Value> {
    Json(document(state.public_url().as_str()))
}
