//! The top-level error and the documented exit codes (`../shared/docs/report-format.md`).
//!
//! Findings are not errors: a missing library is a [`crate::finding::Finding`]. An
//! [`Error`] means the check itself could not be carried out or the input was unusable.

use std::path::PathBuf;

/// Exit codes, a public contract with CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum ExitCode {
    /// The bundle is self-contained and, if run, behaved as expected.
    Pass = 0,
    /// Something the task needs is missing, or the run failed.
    Fail = 1,
    /// The input was rejected or is invalid (hostile or corrupt archive, bad arguments).
    Reject = 2,
    /// This machine cannot check (no namespaces, no privileges) or an internal error.
    Error = 3,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or an unreadable/invalid input file.
    #[error("{0}")]
    Usage(String),

    /// Nothing here for this tool to check (a jobspec without an exec task): exit 2,
    /// verdict `not-applicable`.
    #[error("{0}")]
    NotApplicable(String),

    #[error("cannot read `{path}`: {source}")]
    ReadInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),

    #[error(transparent)]
    TaskDir(#[from] crate::taskdir::TaskDirError),

    #[error(transparent)]
    Config(#[from] crate::clientconfig::ConfigError),

    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),

    /// This machine cannot do what was asked (exit 3), with what to do about it.
    #[error("{0}")]
    Unsupported(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_)
            | Error::NotApplicable(_)
            | Error::ReadInput { .. }
            | Error::Config(_) => ExitCode::Reject,
            Error::Archive(e) => e.exit_code(),
            Error::TaskDir(e) => e.exit_code(),
            Error::Sandbox(e) => e.exit_code(),
            Error::Unsupported(_) | Error::Io { .. } => ExitCode::Error,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
