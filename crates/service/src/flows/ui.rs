//! The run-history pages of the web UI (being written).
