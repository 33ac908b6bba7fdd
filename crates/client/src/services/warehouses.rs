//! SQL warehouses (`/api/2.0/sql/warehouses`): list, create, get, edit, start, stop, delete,
//! and the running/stopped waiters.

use brickwire_api::Empty;
use brickwire_api::warehouses::{
    CreateWarehouseResponse, ListWarehousesRequest, ListWarehousesResponse, Warehouse,
    WarehouseSpec,
};

use crate::client::{ApiRequest, Client};
use crate::error::Result;
use crate::pagination::{Page, Paginator};
use crate::services::{apply_page_token, get_with, paginate, path_segment, to_json};
use crate::waiter::{self, WaitOptions};

/// The path prefix of the Warehouses API.
pub const BASE: &str = "/api/2.0/sql/warehouses";

/// Pure request builders, one per operation.
pub mod request {
    use super::*;

    fn at(id: &str) -> String {
        format!("{BASE}/{}", path_segment(id))
    }

    /// `GET /api/2.0/sql/warehouses` with `page_size`, `page_token`.
    pub fn list(params: &ListWarehousesRequest) -> ApiRequest {
        get_with(BASE, params)
    }

    /// `POST /api/2.0/sql/warehouses` with the spec.
    pub fn create(spec: &WarehouseSpec) -> ApiRequest {
        ApiRequest::post(BASE).json(to_json(spec))
    }

    /// `GET /{id}`.
    pub fn get(id: &str) -> ApiRequest {
        ApiRequest::get(at(id))
    }

    /// `POST /{id}/edit` with the spec; replaying it is harmless.
    pub fn edit(id: &str, spec: &WarehouseSpec) -> ApiRequest {
        ApiRequest::post(format!("{}/edit", at(id)))
            .json(to_json(spec))
            .idempotent(true)
    }

    /// `POST /{id}/start`.
    pub fn start(id: &str) -> ApiRequest {
        ApiRequest::post(format!("{}/start", at(id))).idempotent(true)
    }

    /// `POST /{id}/stop`.
    pub fn stop(id: &str) -> ApiRequest {
        ApiRequest::post(format!("{}/stop", at(id))).idempotent(true)
    }

    /// `DELETE /{id}`.
    pub fn delete(id: &str) -> ApiRequest {
        ApiRequest::delete(at(id))
    }
}

/// The Warehouses API of one client: `client.warehouses()`.
#[derive(Debug, Clone)]
pub struct Warehouses {
    client: Client,
}

impl Warehouses {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists warehouses.
    pub fn list(&self, params: &ListWarehousesRequest) -> Paginator<Warehouse> {
        paginate(
            &self.client,
            request::list(params),
            apply_page_token,
            |r: ListWarehousesResponse, _| Page::from_token(r.warehouses, r.next_page_token),
        )
    }

    /// Creates a warehouse. See [`wait_running`](Self::wait_running).
    pub async fn create(&self, spec: &WarehouseSpec) -> Result<CreateWarehouseResponse> {
        self.client.call(request::create(spec)).await
    }

    /// Describes a warehouse.
    pub async fn get(&self, id: &str) -> Result<Warehouse> {
        self.client.call(request::get(id)).await
    }

    /// Changes a warehouse's settings.
    pub async fn edit(&self, id: &str, spec: &WarehouseSpec) -> Result<()> {
        self.client
            .call::<Empty>(request::edit(id, spec))
            .await
            .map(drop)
    }

    /// Starts a warehouse.
    pub async fn start(&self, id: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::start(id))
            .await
            .map(drop)
    }

    /// Stops a warehouse.
    pub async fn stop(&self, id: &str) -> Result<()> {
        self.client.call::<Empty>(request::stop(id)).await.map(drop)
    }

    /// Deletes a warehouse.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::delete(id))
            .await
            .map(drop)
    }

    /// Waits until the warehouse is `RUNNING`; fails on `STOPPED` or `DELETED`.
    pub async fn wait_running(&self, id: &str, options: &WaitOptions) -> Result<Warehouse> {
        waiter::poll_until(
            &format!("warehouse {id}"),
            options,
            || self.get(id),
            waiter::warehouse_running,
        )
        .await
    }

    /// Waits until the warehouse is `STOPPED`.
    pub async fn wait_stopped(&self, id: &str, options: &WaitOptions) -> Result<Warehouse> {
        waiter::poll_until(
            &format!("warehouse {id}"),
            options,
            || self.get(id),
            waiter::warehouse_stopped,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RequestBody;
    use http::Method;
    use serde_json::json;

    #[test]
    fn paths_methods_and_bodies() {
        let spec = WarehouseSpec {
            name: Some("w".into()),
            cluster_size: Some("2X-Small".into()),
            enable_photon: Some(false),
            ..WarehouseSpec::default()
        };
        let body = json!({"name": "w", "cluster_size": "2X-Small", "enable_photon": false});
        let cases = [
            (
                request::create(&spec),
                Method::POST,
                "/api/2.0/sql/warehouses",
                Some(body.clone()),
            ),
            (
                request::get("ab12"),
                Method::GET,
                "/api/2.0/sql/warehouses/ab12",
                None,
            ),
            (
                request::edit("ab12", &spec),
                Method::POST,
                "/api/2.0/sql/warehouses/ab12/edit",
                Some(body),
            ),
            (
                request::start("ab12"),
                Method::POST,
                "/api/2.0/sql/warehouses/ab12/start",
                Some(json!({})),
            ),
            (
                request::stop("ab12"),
                Method::POST,
                "/api/2.0/sql/warehouses/ab12/stop",
                Some(json!({})),
            ),
            (
                request::delete("ab12"),
                Method::DELETE,
                "/api/2.0/sql/warehouses/ab12",
                None,
            ),
        ];
        for (r, method, path, body) in cases {
            assert_eq!((&r.method, r.path.as_str()), (&method, path));
            assert_eq!(r.body, body.map(RequestBody::Json), "{path}");
        }
        let l = request::list(&ListWarehousesRequest {
            page_size: Some(5),
            page_token: None,
        });
        assert_eq!(l.query, vec![("page_size".into(), "5".into())]);
    }
}
