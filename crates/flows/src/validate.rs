//! Validation of a [`FlowDefinition`] against the action catalog, producing a
//! [`CompiledFlow`] or every problem with its path: exactly one kind per step, unique step ids,
//! known action ids, static inputs that fail the action's schema, expressions that do not
//! parse, references to steps that do not exist or do not come earlier (a cycle), bad cron
//! expressions and time zones, bounds of retries, timeouts and concurrency.

use brickwire_connector::Catalog;

use crate::definition::FlowDefinition;
use crate::error::ValidationError;

/// A validated flow, ready for an [`crate::Executor`].
#[derive(Debug, Clone)]
pub struct CompiledFlow {
    /// The definition as validated.
    pub definition: FlowDefinition,
}

/// Validates `definition` against `catalog`.
pub fn validate(
    definition: FlowDefinition,
    catalog: &Catalog,
) -> Result<CompiledFlow, Vec<ValidationError>> {
    let _ = catalog;
    todo!("validation of {}", definition.name)
}
