//! The emulated Databricks services, registered in one list.
//!
//! Each service folder (`clusters`, `jobs`, ...) implements [`EmulatedService`]: its name, its
//! routes, its state and settings types, how it resets, and how its state is saved in
//! `state.json`. `with_services!` is the one list of them; the workspace
//! ([`crate::state::Workspace`]), the settings document ([`crate::settings::Settings`]), the
//! router, the admin reset and the persisted snapshot are all generated over it. A new service
//! adds its folder and one line to that list.

use axum::Router;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::settings::Settings;
use crate::state::{AppState, Workspace};

/// One emulated Databricks service, as the rest of the emulator sees it.
///
/// Each service folder has a unit struct `Service` implementing it in its `mod.rs`:
/// [`crate::warehouses::Service`] is one that keeps a copy of its settings,
/// [`crate::statements::Service`] one whose state a restart drops.
pub trait EmulatedService {
    /// The service's key: its field of the workspace, its section of the settings document
    /// (`GET /_emulator/settings`) and its entry of `state.json`. It must be the name the
    /// service has in `with_services!` (a test checks).
    const NAME: &'static str;
    /// The service's state, with no HTTP; [`Default`] is the empty service.
    type State: Default + Send + 'static;
    /// The service's section of the settings document.
    type Settings: Clone + Default + std::fmt::Debug + Serialize + DeserializeOwned;

    /// The service's HTTP routes.
    fn routes() -> Router<AppState>;

    /// Puts the service back to its empty state (`POST /_emulator/reset`).
    fn reset(state: &mut Self::State) {
        *state = Self::State::default();
    }

    /// Pushes new settings to a service that keeps a copy in its state (so it reads them
    /// without the settings lock). Called after every settings change, reset and load.
    fn apply_settings(_state: &mut Self::State, _settings: &Self::Settings) {}

    /// The state as saved in `state.json`, or `None` for a service whose state a restart drops.
    fn snapshot(state: &Self::State) -> Option<serde_json::Result<Value>>;

    /// The state from what [`snapshot`](Self::snapshot) saved.
    fn restore(saved: Value) -> serde_json::Result<Self::State>;
}

/// Calls the macro `$then` with the list of every emulated service, one
/// `field: type` line each (`clusters: crate::clusters::Service,`), in the order their
/// routes merge, their settings serialize and their state is saved.
///
/// This is the one place a new service is registered.
macro_rules! with_services {
    ($then:ident) => {
        $then! {
            /// Clusters: lifecycle delays.
            clusters: crate::clusters::Service,
            /// SQL warehouses: lifecycle delays.
            warehouses: crate::warehouses::Service,
            /// Jobs and runs: run durations.
            jobs: crate::jobs::Service,
            /// Unity Catalog.
            unity_catalog: crate::unity_catalog::Service,
            /// SQL statements: chunk size, link lifetime.
            statements: crate::statements::Service,
            /// Workspace objects.
            workspace_objects: crate::workspace_objects::Service,
            /// SCIM users and groups.
            scim: crate::scim::Service,
            /// OAuth app connections, codes and tokens: token lifetimes.
            oauth: crate::oauth::Service,
        }
    };
}
pub(crate) use with_services;

/// Implements [`EmulatedService`] as `Service` for a service folder whose whole `State` is
/// saved in `state.json` as JSON, with the folder's `State`, `Settings` and `routes::routes`;
/// `copies_settings` for a state that keeps its own copy of its settings (a field `settings`,
/// read without the settings lock).
macro_rules! saved_service {
    ($name:literal) => {
        $crate::services::saved_service!(@impl $name, {});
    };
    ($name:literal, copies_settings) => {
        $crate::services::saved_service!(@impl $name, {
            fn apply_settings(state: &mut State, settings: &Settings) {
                state.settings = settings.clone();
            }
        });
    };
    (@impl $name:literal, { $($apply_settings:tt)* }) => {
        /// The service as the emulator registers it (see [`crate::services`]).
        pub struct Service;

        impl $crate::services::EmulatedService for Service {
            const NAME: &'static str = $name;
            type State = State;
            type Settings = Settings;

            fn routes() -> axum::Router<$crate::state::AppState> {
                routes::routes()
            }

            $($apply_settings)*

            fn snapshot(state: &State) -> Option<serde_json::Result<serde_json::Value>> {
                Some(serde_json::to_value(state))
            }

            fn restore(saved: serde_json::Value) -> serde_json::Result<State> {
                serde_json::from_value(saved)
            }
        }
    };
}
pub(crate) use saved_service;

macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident: $service:ty,)*) => {
        /// Every service's routes, merged.
        pub fn routes() -> Router<AppState> {
            Router::new()
                $(.merge(<$service as EmulatedService>::routes()))*
        }

        /// Puts every service back to its empty state, keeping settings and tokens.
        pub fn reset(ws: &Workspace) {
            $(<$service as EmulatedService>::reset(
                &mut ws.$name.lock().expect(concat!(stringify!($name), " lock")),
            );)*
        }

        /// Pushes each service's section of `settings` to the services that keep a copy.
        pub fn apply_settings(ws: &Workspace, settings: &Settings) {
            $(<$service as EmulatedService>::apply_settings(
                &mut ws.$name.lock().expect(concat!(stringify!($name), " lock")),
                &settings.$name,
            );)*
        }

        /// The names of every service, in the list's order.
        pub const NAMES: &[&str] = &[$(<$service as EmulatedService>::NAME),*];

        #[cfg(test)]
        const LIST_NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}
with_services!(operations);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_named_as_in_the_list() {
        assert_eq!(NAMES, LIST_NAMES);
    }
}
