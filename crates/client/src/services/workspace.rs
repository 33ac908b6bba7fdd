//! Workspace objects (`/api/2.0/workspace/*`): import, export, list, get-status, delete, mkdirs.

use base64::Engine as _;
use brickwire_api::Empty;
use brickwire_api::workspace::{
    DeleteRequest, ExportFormat, ExportResponse, ImportRequest, ListObjectsResponse, MkdirsRequest,
    ObjectInfo,
};
use bytes::Bytes;

use crate::client::{ApiRequest, Client};
use crate::error::Result;
use crate::pagination::{Page, Paginator};
use crate::services::{paginate, to_json};

/// The path prefix of the Workspace API.
pub const BASE: &str = "/api/2.0/workspace";

/// Pure request builders, one per operation.
pub mod request {
    use super::*;

    /// `POST /import` (JSON, base64 content).
    pub fn import(body: &ImportRequest) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/import"))
            .json(to_json(body))
            .idempotent(body.overwrite == Some(true))
    }

    /// `GET /export?path=&format=&direct_download=`.
    pub fn export(path: &str, format: Option<&ExportFormat>, direct_download: bool) -> ApiRequest {
        ApiRequest::get(format!("{BASE}/export"))
            .query("path", path)
            .query_opt("format", format)
            .query_opt("direct_download", direct_download.then_some(true))
    }

    /// `GET /list?path=&notebooks_modified_after=`.
    pub fn list(path: &str, notebooks_modified_after: Option<i64>) -> ApiRequest {
        ApiRequest::get(format!("{BASE}/list"))
            .query("path", path)
            .query_opt("notebooks_modified_after", notebooks_modified_after)
    }

    /// `GET /get-status?path=`.
    pub fn get_status(path: &str) -> ApiRequest {
        ApiRequest::get(format!("{BASE}/get-status")).query("path", path)
    }

    /// `POST /delete`.
    pub fn delete(body: &DeleteRequest) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/delete"))
            .json(to_json(body))
            .idempotent(true)
    }

    /// `POST /mkdirs` (succeeds when the directory exists, so it may be retried).
    pub fn mkdirs(path: &str) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/mkdirs"))
            .json(to_json(&MkdirsRequest {
                path: path.to_owned(),
            }))
            .idempotent(true)
    }
}

/// The Workspace API of one client: `client.workspace()`.
#[derive(Debug, Clone)]
pub struct Workspace {
    client: Client,
}

impl Workspace {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Imports an object whose `content` is already base64.
    pub async fn import(&self, body: &ImportRequest) -> Result<()> {
        self.client
            .call::<Empty>(request::import(body))
            .await
            .map(drop)
    }

    /// Imports raw bytes (base64-encoded here) at `path`.
    pub async fn import_bytes(
        &self,
        path: &str,
        data: &[u8],
        format: Option<ExportFormat>,
        overwrite: bool,
    ) -> Result<()> {
        self.import(&ImportRequest {
            path: path.to_owned(),
            content: Some(base64::engine::general_purpose::STANDARD.encode(data)),
            format,
            language: None,
            overwrite: Some(overwrite),
        })
        .await
    }

    /// Exports an object; `content` is base64.
    pub async fn export(&self, path: &str, format: Option<ExportFormat>) -> Result<ExportResponse> {
        self.client
            .call(request::export(path, format.as_ref(), false))
            .await
    }

    /// Exports an object as its raw bytes (`direct_download=true`).
    pub async fn export_raw(&self, path: &str, format: Option<ExportFormat>) -> Result<Bytes> {
        let response = self
            .client
            .send(request::export(path, format.as_ref(), true))
            .await?;
        Ok(response.body)
    }

    /// Lists a directory (one unpaginated answer; the key is absent when it is empty).
    pub fn list(&self, path: &str, notebooks_modified_after: Option<i64>) -> Paginator<ObjectInfo> {
        paginate(
            &self.client,
            request::list(path, notebooks_modified_after),
            |_, _| {},
            |r: ListObjectsResponse, _| Page::single(r.objects),
        )
    }

    /// Describes one object.
    pub async fn get_status(&self, path: &str) -> Result<ObjectInfo> {
        self.client.call(request::get_status(path)).await
    }

    /// Deletes an object; `recursive` is needed for a non-empty directory.
    pub async fn delete(&self, path: &str, recursive: bool) -> Result<()> {
        self.client
            .call::<Empty>(request::delete(&DeleteRequest {
                path: path.to_owned(),
                recursive: recursive.then_some(true),
            }))
            .await
            .map(drop)
    }

    /// Creates a directory and its parents.
    pub async fn mkdirs(&self, path: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::mkdirs(path))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RequestBody;
    use brickwire_api::workspace::Language;
    use http::Method;
    use serde_json::json;

    #[test]
    fn requests() {
        let i = request::import(&ImportRequest {
            path: "/Users/a/nb".into(),
            content: Some("cHJpbnQoMSk=".into()),
            format: Some(ExportFormat::Source),
            language: Some(Language::Python),
            overwrite: Some(true),
        });
        assert_eq!(
            (i.method.clone(), i.path.as_str()),
            (Method::POST, "/api/2.0/workspace/import")
        );
        assert!(i.idempotent);
        assert_eq!(
            i.body,
            Some(RequestBody::Json(json!({
                "path": "/Users/a/nb", "content": "cHJpbnQoMSk=", "format": "SOURCE", "language": "PYTHON", "overwrite": true
            })))
        );
        let e = request::export("/x", Some(&ExportFormat::Jupyter), true);
        assert_eq!(
            e.query,
            vec![
                ("path".into(), "/x".into()),
                ("format".into(), "JUPYTER".into()),
                ("direct_download".into(), "true".into())
            ]
        );
        let l = request::list("/d", Some(5));
        assert_eq!(l.path, "/api/2.0/workspace/list");
        assert_eq!(l.query[1], ("notebooks_modified_after".into(), "5".into()));
        assert_eq!(
            request::get_status("/d").path,
            "/api/2.0/workspace/get-status"
        );
        let d = request::delete(&DeleteRequest {
            path: "/d".into(),
            recursive: Some(true),
        });
        assert_eq!(
            d.body,
            Some(RequestBody::Json(json!({"path": "/d", "recursive": true})))
        );
        let m = request::mkdirs("/d/e");
        assert_eq!(
            (m.method, m.path.as_str()),
            (Method::POST, "/api/2.0/workspace/mkdirs")
        );
        assert_eq!(m.body, Some(RequestBody::Json(json!({"path": "/d/e"}))));
    }
}
