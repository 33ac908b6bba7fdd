//! How a subcommand fails: [`Failure`] and its exit code (2 for usage, 1 for the operation), the
//! convention every `brickwire` command follows.

use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags or an environment that cannot work: fix the command (exit 2).
    Usage(String),
    /// The operation itself failed (exit 1).
    Failed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => f.write_str(m),
        }
    }
}

/// Prints a failure on stderr and turns an outcome into the process's exit code.
pub fn exit_code(outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(match failure {
                Failure::Usage(_) => 2,
                Failure::Failed(_) => 1,
            })
        }
    }
}
