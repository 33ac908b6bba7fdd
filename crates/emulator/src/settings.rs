//! The emulator's settings: one section per service, read and changed through the admin API.
//!
//! The sections are the services listed in [`crate::services`], plus fault injection.

use serde::{Deserialize, Serialize};

use crate::services::{EmulatedService, with_services};

macro_rules! settings {
    ($($(#[$doc:meta])* $name:ident: $service:ty,)*) => {
        /// Every setting of the emulator. `GET /_emulator/settings` returns it; `PATCH` merges
        /// a partial document into it.
        #[derive(Debug, Clone, Default, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Settings {
            $(
                $(#[$doc])*
                pub $name: <$service as EmulatedService>::Settings,
            )*
            /// Fault injection: rate limits, 503/500, dropped connections, latency.
            pub faults: crate::faults::Settings,
        }
    };
}
with_services!(settings);
