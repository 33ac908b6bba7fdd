//! The REST routes of flows under `/api/v1` and the inbound webhook route (being written).
