//! Static self-containment analysis. OWNER: analysis helper (issue 3).

use std::collections::BTreeMap;

use crate::archive::ExtractSummary;
use crate::config::TaskSpec;
use crate::finding::Finding;
use crate::nomad::NomadVersion;
use crate::taskdir::TaskDir;

pub struct AnalyzeInput<'a> {
    pub taskdir: &'a TaskDir,
    /// What unpacking found (links flattened, store references), merged over artifacts.
    pub extract: &'a ExtractSummary,
    pub task: &'a TaskSpec,
    /// The task's environment (taskenv::build).
    pub env: &'a BTreeMap<String, String>,
    pub version: NomadVersion,
    /// Who the task runs as, for permission checks.
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Default)]
pub struct Analysis {
    /// argv[0] as Nomad passes it to runc (`/local/app`), when the lookup succeeds.
    pub resolved_command: Option<String>,
    pub findings: Vec<Finding>,
    /// Root causes, worst first, one line each.
    pub summary: Vec<String>,
    /// The static check proves the task cannot start (running adds nothing).
    pub start_blocked: bool,
}

pub fn analyze(input: &AnalyzeInput<'_>) -> Analysis {
    let _ = input;
    Analysis::default()
}
