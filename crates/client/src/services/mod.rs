//! One module per Databricks service, each a thin typed layer over [`crate::Client`].
