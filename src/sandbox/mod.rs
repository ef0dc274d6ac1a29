//! Run the entrypoint as the exec driver does. OWNER: sandbox helper (issue 4).

use crate::error::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// This machine cannot build the sandbox (exit 3), with the fix.
    #[error("{0}")]
    Unavailable(String),
}

impl SandboxError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Error
    }
}

use std::collections::BTreeMap;

use crate::clientconfig::ClientConfig;
use crate::config::{RunOptions, TaskSpec};
use crate::finding::{Finding, RunOutcome};
use crate::nomad::NomadVersion;
use crate::taskdir::TaskDir;

pub struct RunRequest<'a> {
    pub taskdir: &'a TaskDir,
    pub task: &'a TaskSpec,
    pub env: &'a BTreeMap<String, String>,
    pub run: &'a RunOptions,
    pub version: NomadVersion,
    pub client: &'a ClientConfig,
    /// argv[0] inside the chroot, as Nomad's lookup produced it.
    pub argv0: String,
}

pub struct RunResult {
    pub outcome: RunOutcome,
    /// Runtime findings (files the task failed to find, start failures…).
    pub findings: Vec<Finding>,
}

pub fn run(req: &RunRequest<'_>) -> Result<RunResult, SandboxError> {
    let _ = req;
    Err(SandboxError::Unavailable("running is not built yet".into()))
}

/// Entry point of the hidden `__sandbox-child` subcommand.
pub fn child_main(plan_fd: i32, result_fd: i32) -> i32 {
    let _ = (plan_fd, result_fd);
    3
}

/// `nomad-chroot-check shell BUNDLE`.
pub fn shell_main(
    args: crate::cli::ShellArgs,
) -> Result<crate::error::ExitCode, crate::error::Error> {
    let _ = args;
    Err(crate::error::Error::Usage(
        "`shell` is not available yet".into(),
    ))
}
