//! Databricks' `range` table function: one `BIGINT` column named `id`.
//!
//! DataFusion's own `range` produces the same rows, lazily in batches, but names the column
//! `value`; this wraps it in a view that renames the column. Databricks' optional fourth
//! argument (number of partitions) is accepted and ignored.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::col;

/// `range(end)`, `range(start, end)`, `range(start, end, step[, partitions])`.
#[derive(Debug)]
pub struct DatabricksRange {
    /// DataFusion's `range`, which does the counting.
    pub inner: Arc<dyn TableFunctionImpl>,
}

impl TableFunctionImpl for DatabricksRange {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let exprs = if exprs.len() == 4 { &exprs[..3] } else { exprs };
        let inner = self
            .inner
            .call_with_args(TableFunctionArgs::new(exprs, args.session()))?;
        let plan = LogicalPlanBuilder::scan("range", provider_as_source(inner), None)?
            .project(vec![col("value").alias("id")])?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
