//! `nomad-chroot-check job`: read a Nomad jobspec (HCL2 or JSON) and check every exec
//! task as the client would run it.
//!
//! ```text
//! jobspec ──▶ hcl (jobspec2's evaluation) ──▶ model (JobSpec) ──▶ plan (per exec task:
//!   task env, ${…} interpolation, caps, artifacts → CheckOptions) ──▶ check::run ──▶ reports
//! ```
//!
//! [`plan`] has no side effects beyond reading the inputs (and `--fetch` downloads), so
//! parsing, interpolation and artifact mapping can be tested without unpacking anything.
//!
//! Values only a running cluster knows are emulated, deterministically, and every one a
//! task refers to is reported (`note`/`emulated`):
//! - ports: a `static` port as written; dynamic host ports numbered from
//!   [`taskvars::FIRST_DYNAMIC_PORT`] (Nomad's default `min_dynamic_port`) in the order the group
//!   declares them; `NOMAD_PORT_<label>` is `to` in bridge mode when set, else the host port;
//! - every `NOMAD_IP_*`/`NOMAD_HOST_IP_*` is [`taskvars::EMULATED_IP`];
//! - Connect upstreams: `NOMAD_UPSTREAM_IP_<name>=127.0.0.1`,
//!   `NOMAD_UPSTREAM_PORT_<name>=<local_bind_port>` (what Envoy really binds);
//! - the allocation identity comes from `taskenv` (a fixed alloc ID, index 0, dc1);
//! - `${node.*}`/`${attr.*}`/`${meta.*}` from the client config (`datacenter`, `name`,
//!   `region`, `client { node_class meta }`) and `--node`; otherwise left as written and
//!   reported (`environment`/`unresolved`).

pub mod artifact;
mod check;
pub mod funcs;
pub mod hcl;
pub mod interp;
pub mod model;
mod node;
mod plan;
mod render;
pub mod services;
pub mod taskvars;

use std::io;
use std::path::{Path, PathBuf};

use crate::cli::JobArgs;
use crate::error::{Error, ExitCode};
use crate::finding::Report;

pub use self::check::check_task;
use self::model::JobSpec;
pub use self::plan::{
    AllocContext, JobPlan, PlanContext, PlannedTask, Skipped, plan, plan_api_task, plan_task,
    unmapped_error,
};
pub use self::render::{job_verdict, render};
pub use self::taskvars::clean;

/// Why a jobspec could not be used. All are input errors (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{}", syntax_message(.file, *.line, *.column, .text, .message))]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        text: String,
        message: String,
    },
    #[error("{}: {message}", .file.display())]
    Eval { file: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Usage(String),
    #[error("cannot read `{}`: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn syntax_message(file: &Path, line: usize, column: usize, text: &str, message: &str) -> String {
    let n = line.to_string();
    let pad = " ".repeat(n.len());
    format!(
        "{}:{line}:{column}: {message}\n {pad} |\n {n} | {text}\n {pad} | {caret:>column$}",
        file.display(),
        caret = '^',
    )
}

impl From<JobError> for Error {
    fn from(e: JobError) -> Error {
        match e {
            JobError::Read { path, source } => Error::ReadInput { path, source },
            other => Error::Usage(other.to_string()),
        }
    }
}

/// Read a jobspec: JSON (`.json`, or text starting with `{`) or HCL2.
pub fn load(path: &Path, inputs: &hcl::VarInputs) -> Result<JobSpec, JobError> {
    let text = crate::config::read_input_file(path).map_err(|source| JobError::Read {
        path: path.to_owned(),
        source,
    })?;
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    if is_json {
        if !inputs.vars.is_empty() || !inputs.files.is_empty() {
            // The JSON form is already evaluated: `nomad job run -output` applied the vars.
            return Err(JobError::Usage(format!(
                "{}: --var and --var-file apply to HCL jobspecs only; a JSON job has its variables already applied",
                path.display()
            )));
        }
        hcl::check_nesting(path, &text)?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| JobError::Syntax {
            file: path.to_owned(),
            line: e.line(),
            column: e.column(),
            text: text
                .lines()
                .nth(e.line().saturating_sub(1))
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
            message: e.to_string(),
        })?;
        return JobSpec::from_json(&v);
    }
    let node = hcl::parse_job(path, &text, inputs)?;
    JobSpec::from_node(path, &text, &node)
}

pub fn main(args: JobArgs) -> Result<ExitCode, Error> {
    if args.run_job {
        return crate::mesh::main(args);
    }
    // A spec refused or without an exec task is an error: main prints its document
    // (`verdict` reject, or not-applicable) for --format json.
    let plan = plan(&args)?;
    let n = plan.tasks.len();
    let reports: Vec<Report> = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let name = match &t.opts.task.group {
                Some(g) => format!("{g}/{}", t.opts.task.name),
                None => t.opts.task.name.clone(),
            };
            crate::progress::task_line(i, n, &name);
            check_task(t)
        })
        .collect();
    crate::report::emit(|out| render(&plan, &reports, args.common.format, out))?;
    Ok(job_verdict(&reports).exit_code())
}
