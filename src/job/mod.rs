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
//!   [`FIRST_DYNAMIC_PORT`] (Nomad's default `min_dynamic_port`) in the order the group
//!   declares them; `NOMAD_PORT_<label>` is `to` in bridge mode when set, else the host port;
//! - every `NOMAD_IP_*`/`NOMAD_HOST_IP_*` is [`EMULATED_IP`];
//! - Connect upstreams: `NOMAD_UPSTREAM_IP_<name>=127.0.0.1`,
//!   `NOMAD_UPSTREAM_PORT_<name>=<local_bind_port>` (what Envoy really binds);
//! - the allocation identity comes from `taskenv` (a fixed alloc ID, index 0, dc1);
//! - `${node.*}`/`${attr.*}`/`${meta.*}` from the client config (`datacenter`, `name`,
//!   `region`, `client { node_class meta }`) and `--node`; otherwise left as written and
//!   reported (`environment`/`unresolved`).

pub mod artifact;
pub mod funcs;
pub mod hcl;
pub mod interp;
pub mod model;
pub mod services;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::ArchiveKind;
use crate::check;
use crate::cli::{AgentEnvArg, Format, JobArgs};
use crate::config::{AgentEnv, Artifact, CheckOptions, JobType, Network, TaskSpec};
use crate::error::{Error, ExitCode};
use crate::finding::{Cause, Finding, Kind, Report, SCHEMA_VERSION, Severity, Verdict};
use crate::nomad;
use crate::report;
use crate::taskenv::{self, HostUser};

use self::artifact::{Checksum, Resolver};
use self::interp::NodeAttrs;
use self::model::{GroupSpec, JobSpec, PortSpec, TaskDef};

/// `--fetch` downloads larger than this are cut off (and then fail to unpack).
pub const MAX_DOWNLOAD_BYTES: u64 = 16 << 30;
/// The first dynamic port, Nomad's default `min_dynamic_port`
/// (`hashicorp/nomad:nomad/structs/network.go` `DefaultMinDynamicPort`).
pub const FIRST_DYNAMIC_PORT: u64 = 20000;
/// The address emulated ports and Connect upstreams get. Upstreams really are bound on
/// loopback inside the group's network namespace by the Envoy sidecar.
pub const EMULATED_IP: &str = "127.0.0.1";

/// The client's default `max_kill_timeout` (`hashicorp/nomad:client/config/config.go`).
pub const DEFAULT_MAX_KILL_TIMEOUT_SECS: u64 = 30;

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

/// A task that is not checked, and why (its driver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub task: String,
    pub group: String,
    pub driver: String,
    /// Why it is not checked, when that is not simply "not exec".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One exec task, ready for [`check::run`].
#[derive(Debug, Clone)]
pub struct PlannedTask {
    pub opts: CheckOptions,
    /// What the job adds to the check's own findings (not-emulated blocks, emulated and
    /// unresolved references, capability and checksum errors).
    pub findings: Vec<Finding>,
    /// Nomad would fail before starting anything (artifact checksum): no check runs.
    pub blocked: bool,
    /// The task env after Nomad's assembly and interpolation.
    pub env: BTreeMap<String, String>,
    /// The Connect upstreams the task refers to (`${NOMAD_UPSTREAM_ADDR_<name>}`…).
    pub upstreams: Vec<String>,
    /// A prestart hook (which must finish before the group's main tasks start).
    pub prestart: bool,
}

#[derive(Debug)]
pub struct JobPlan {
    pub job: String,
    pub job_type: String,
    pub tasks: Vec<PlannedTask>,
    pub skipped: Vec<Skipped>,
    /// Holds `--fetch` downloads until the checks are done.
    pub downloads: Option<tempfile::TempDir>,
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

fn read_node_file(path: &Path) -> Result<NodeAttrs, JobError> {
    let text = crate::config::read_input_file(path).map_err(|source| JobError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "json")
        || text.trim_start().starts_with('{')
    {
        serde_json::from_str(&text)
            .map_err(|e| JobError::Usage(format!("--node {}: invalid JSON: {e}", path.display())))?
    } else {
        hcl::check_nesting(path, &text)?;
        ::hcl::from_str(&text)
            .map_err(|e| JobError::Usage(format!("--node {}: invalid HCL: {e}", path.display())))?
    };
    interp::node_attrs_from(&value)
        .map_err(|m| JobError::Usage(format!("--node {}: {m}", path.display())))
}

/// Nomad's environment-variable name cleaning for port and task labels
/// (`hashicorp/nomad:client/taskenv/env.go` `cleanEnvVar`): invalid characters → `_`.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Port variables for one port with its emulated host port.
pub fn port_vars(
    prefix: &str,
    p: &PortSpec,
    host_port: u64,
    bridge: bool,
) -> Vec<(String, String)> {
    let label = format!("{prefix}{}", clean(&p.label));
    // In a Nomad-owned netns the task listens on `to` (or the host port for `to = -1`
    // or no `to`); the host port is what the outside sees.
    let task_port = match p.to {
        Some(t) if t > 0 && bridge => t as u64,
        _ => host_port,
    };
    vec![
        (format!("NOMAD_IP_{label}"), EMULATED_IP.to_owned()),
        (format!("NOMAD_PORT_{label}"), task_port.to_string()),
        // hashicorp/nomad:client/taskenv/env.go addPorts: the host address and port.
        (
            format!("NOMAD_ADDR_{label}"),
            format!("{EMULATED_IP}:{host_port}"),
        ),
        (format!("NOMAD_HOST_IP_{label}"), EMULATED_IP.to_owned()),
        (format!("NOMAD_HOST_PORT_{label}"), host_port.to_string()),
        (
            format!("NOMAD_HOST_ADDR_{label}"),
            format!("{EMULATED_IP}:{host_port}"),
        ),
        (format!("NOMAD_ALLOC_PORT_{label}"), task_port.to_string()),
    ]
}

/// The network variables of `task` (step 4 of §4.1), with emulated values: static ports
/// as written, dynamic ports numbered from [`FIRST_DYNAMIC_PORT`] in order of appearance
/// in the group, every address [`EMULATED_IP`], upstreams `127.0.0.1:<local_bind_port>`.
fn network_env(group: &GroupSpec, task: &TaskDef) -> Vec<(String, String)> {
    let bridge =
        matches!(group.network_mode.as_deref(), Some(m) if m == "bridge" || m.starts_with("cni/"));
    let mut next = FIRST_DYNAMIC_PORT;
    let mut alloc = |p: &PortSpec| {
        p.static_port.unwrap_or_else(|| {
            let n = next;
            next += 1;
            n
        })
    };
    let mut out = Vec::new();
    for p in &group.ports {
        let hp = alloc(p);
        out.extend(port_vars("", p, hp, bridge));
    }
    for t in &group.tasks {
        for p in &t.ports {
            let hp = alloc(p);
            out.extend(port_vars(&format!("{}_", clean(&t.name)), p, hp, bridge));
            if t.name == task.name {
                out.extend(port_vars("", p, hp, bridge));
            }
        }
    }
    for (name, port) in &group.upstreams {
        let n = clean(name);
        out.push((format!("NOMAD_UPSTREAM_IP_{n}"), EMULATED_IP.to_owned()));
        out.push((format!("NOMAD_UPSTREAM_PORT_{n}"), port.to_string()));
        out.push((
            format!("NOMAD_UPSTREAM_ADDR_{n}"),
            format!("{EMULATED_IP}:{port}"),
        ));
    }
    out
}

/// `NOMAD_META_<key>` and `NOMAD_META_<KEY>`, job < group < task (step 6 of §4.1).
fn meta_env(job: &JobSpec, group: &GroupSpec, task: &TaskDef) -> Vec<(String, String)> {
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in job.meta.iter().chain(&group.meta).chain(&task.meta) {
        merged.insert(k.clone(), v.clone());
    }
    let mut out = Vec::new();
    for (k, v) in merged {
        let c = clean(&k);
        out.push((format!("NOMAD_META_{c}"), v.clone()));
        out.push((format!("NOMAD_META_{}", c.to_uppercase()), v));
    }
    out
}

fn norm_cap(c: &str) -> String {
    let l = c.trim().to_ascii_lowercase();
    l.strip_prefix("cap_").map(str::to_owned).unwrap_or(l)
}

/// `hashicorp/nomad:drivers/shared/capabilities/set.go` `Calculate`: every cap_add must
/// be in allow_caps (`all` there allows everything).
pub fn denied_caps(allow: &[String], add: &[String]) -> Vec<String> {
    let allow: BTreeSet<String> = allow.iter().map(|c| norm_cap(c)).collect();
    if allow.contains("all") {
        return Vec::new();
    }
    add.iter()
        .map(|c| norm_cap(c))
        .filter(|c| !allow.contains(c))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn config_str(task: &TaskDef, key: &str) -> Result<Option<String>, JobError> {
    match task.config.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(JobError::Usage(format!(
            "task \"{}\": config.{key} must be a string, got {other}",
            task.name
        ))),
    }
}

fn config_list(task: &TaskDef, key: &str) -> Result<Vec<String>, JobError> {
    match task.config.get(key) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s.clone()),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                serde_json::Value::Bool(b) => Ok(b.to_string()),
                other => Err(JobError::Usage(format!(
                    "task \"{}\": config.{key} must be a list of strings, got {other}",
                    task.name
                ))),
            })
            .collect(),
        Some(other) => Err(JobError::Usage(format!(
            "task \"{}\": config.{key} must be a list of strings, got {other}",
            task.name
        ))),
    }
}

/// Collects unresolved references without repeating one.
#[derive(Default)]
struct Unresolved {
    seen: BTreeSet<String>,
    findings: Vec<Finding>,
}

impl Unresolved {
    fn add(&mut self, refs: Vec<String>, place: &str, in_config: bool) {
        for r in refs {
            if !self.seen.insert(format!("{place}\0{r}")) {
                continue;
            }
            let consequence = if in_config {
                "Nomad evaluates the driver config with the task's variables and fails the task with `Unknown variable` for a name it does not know"
            } else {
                "Nomad leaves it as written, so the task sees the literal text"
            };
            let hint = if r.starts_with("${env") && !in_config {
                "`${env[\"NAME\"]}` is understood only in the driver config; in env, artifact and other blocks write `${NAME}`"
            } else if r.starts_with("${node.")
                || r.starts_with("${attr.")
                || r.starts_with("${meta.")
            {
                "give the node's attributes and meta with --node FILE (JSON or HCL; `nomad node status -json <id>` prints one)"
            } else {
                "set it in the task's env block, or check the spelling"
            };
            self.findings.push(
                Finding::warning(Kind::Environment, Cause::Unresolved, r.clone())
                    .message(format!(
                        "`{r}` in {place} has no value in the task environment; {consequence}"
                    ))
                    .hint(hint),
            );
        }
    }
}

/// What planning a task needs besides the task: the job, the node, the artifact
/// mappings and the client's settings, read once from the command line.
pub struct PlanContext {
    pub job: JobSpec,
    pub node: NodeAttrs,
    mappings: Vec<artifact::Mapping>,
    base_dir: PathBuf,
    fetch: bool,
    /// Holds `--fetch` downloads until the checks are done.
    pub downloads: Option<tempfile::TempDir>,
    pub version: nomad::NomadVersion,
    pub client: crate::clientconfig::ClientConfig,
    pub chroot_env: crate::taskdir::ChrootEnv,
    pub limits: crate::config::ArtifactLimits,
    pub safety: crate::config::SafetyLimits,
}

impl PlanContext {
    pub fn new(args: &JobArgs) -> Result<PlanContext, Error> {
        let inputs = hcl::VarInputs {
            vars: args
                .var
                .iter()
                .map(|v| crate::config::parse_pair(v, "--var"))
                .collect::<Result<_, _>>()?,
            files: args.var_file.clone(),
            env: std::env::vars()
                .filter_map(|(k, v)| k.strip_prefix("NOMAD_VAR_").map(|n| (n.to_owned(), v)))
                .collect(),
        };
        let job = load(&args.jobfile, &inputs)?;
        let base_dir = args
            .jobfile
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        PlanContext::for_job(job, args, base_dir)
    }

    /// A job already read (from a jobspec, or the API's `Job` object), planned with
    /// `args`'s options; relative artifact paths resolve against `base_dir`.
    pub fn for_job(job: JobSpec, args: &JobArgs, base_dir: PathBuf) -> Result<PlanContext, Error> {
        if !matches!(
            job.job_type.as_str(),
            "service" | "batch" | "system" | "sysbatch"
        ) {
            return Err(Error::Usage(format!(
                "job \"{}\": type \"{}\" is not one of service, batch, system, sysbatch",
                job.name, job.job_type
            )));
        }
        let mappings = artifact::parse_mappings(&args.artifact)?;
        let (version, client, chroot_env, limits, safety) = args.common.resolve()?;
        // The client config names the node; a --node file overrides it key by key.
        let mut node = NodeAttrs::new();
        for (key, v) in [
            ("node.datacenter", &client.datacenter),
            ("node.unique.name", &client.node_name),
            ("node.region", &client.region),
            ("node.class", &client.node_class),
        ] {
            if let Some(v) = v {
                node.insert(key.to_owned(), v.clone());
            }
        }
        for (k, v) in &client.node_meta {
            node.insert(format!("meta.{k}"), v.clone());
        }
        if let Some(p) = &args.node {
            node.extend(read_node_file(p)?);
        }
        let downloads = if args.fetch {
            Some(
                tempfile::tempdir()
                    .map_err(|e| Error::io("cannot create a download directory", e))?,
            )
        } else {
            None
        };
        Ok(PlanContext {
            job,
            node,
            mappings,
            base_dir,
            fetch: args.fetch,
            downloads,
            version,
            client,
            chroot_env,
            limits,
            safety,
        })
    }

    fn resolver(&self) -> Resolver<'_> {
        Resolver {
            mappings: &self.mappings,
            base_dir: &self.base_dir,
            fetch: self.fetch,
            download_dir: self
                .downloads
                .as_ref()
                .map(|d| d.path())
                .unwrap_or(Path::new("/nonexistent")),
        }
    }
}

/// The allocation a task is planned for (`--run-job`): its identity and the network
/// variables its scheduler placement gives (which replace the emulated ones).
pub struct AllocContext {
    pub identity: crate::config::AllocIdentity,
    pub net: Vec<(String, String)>,
}

/// Turn the job into one [`CheckOptions`] per exec task (no extraction, no run).
pub fn plan(args: &JobArgs) -> Result<JobPlan, Error> {
    // The jobspec says what these say on the command line; silently ignoring them would
    // check something other than what the user asked for.
    let r = &args.common.run;
    for (given, flag, block) in [
        (!r.env.is_empty(), "--env", "the task's env block"),
        (r.user.is_some(), "--user", "the task's user"),
        (!r.cap_add.is_empty(), "--cap-add", "config.cap_add"),
        (!r.cap_drop.is_empty(), "--cap-drop", "config.cap_drop"),
        (r.work_dir.is_some(), "--work-dir", "config.work_dir"),
        (
            r.memory_max.is_some(),
            "--memory-max",
            "resources.memory_max",
        ),
    ] {
        if given {
            return Err(Error::Usage(format!(
                "{flag} does not apply to `job`: {block} in the jobspec is used (edit the job, or use a --var)"
            )));
        }
    }
    let ctx = PlanContext::new(args)?;
    let job = &ctx.job;

    // --task-name: by task name or group/task.
    let all: Vec<(&GroupSpec, &TaskDef)> = job
        .groups
        .iter()
        .flat_map(|g| g.tasks.iter().map(move |t| (g, t)))
        .collect();
    for want in &args.tasks {
        if !all
            .iter()
            .any(|(g, t)| &t.name == want || format!("{}/{}", g.name, t.name) == *want)
        {
            let names: Vec<String> = all
                .iter()
                .map(|(g, t)| format!("{}/{}", g.name, t.name))
                .collect();
            return Err(Error::Usage(format!(
                "job \"{}\" has no task \"{want}\"; its tasks are: {}",
                job.name,
                if names.is_empty() {
                    "(none)".into()
                } else {
                    names.join(", ")
                }
            )));
        }
    }
    let selected: Vec<(&GroupSpec, &TaskDef)> = all
        .iter()
        .copied()
        .filter(|(g, t)| {
            args.tasks.is_empty()
                || args
                    .tasks
                    .iter()
                    .any(|w| w == &t.name || *w == format!("{}/{}", g.name, t.name))
        })
        .collect();

    let mut plan = JobPlan {
        job: job.name.clone(),
        job_type: job.job_type.clone(),
        tasks: Vec::new(),
        skipped: Vec::new(),
        downloads: None,
    };
    let mut unmapped = Vec::new();
    for (group, task) in &selected {
        if task.driver != "exec" {
            plan.skipped.push(Skipped {
                task: task.name.clone(),
                group: group.name.clone(),
                driver: if task.driver.is_empty() {
                    "(none)".into()
                } else {
                    task.driver.clone()
                },
                // `hashicorp/nomad:drivers/java`: the same executor, chroot and
                // isolation as exec, around a JVM the driver finds on the host.
                reason: (task.driver == "java").then(|| {
                    "java tasks run in the same chroot and isolation as exec, but the JVM is the client host's (`java` on its PATH, copied in through chroot_env) and the driver builds the command from jar_path/class/jvm_options: not emulated; check the jar's artifact with an exec task that runs it".to_owned()
                }),
            });
            continue;
        }
        plan.tasks
            .push(plan_task(&ctx, group, task, args, None, &mut unmapped)?);
    }
    unmapped_error(&unmapped)?;
    if plan.tasks.is_empty() {
        let found: Vec<String> = selected
            .iter()
            .map(|(g, t)| {
                format!(
                    "{}/{} ({})",
                    g.name,
                    t.name,
                    if t.driver.is_empty() {
                        "no driver"
                    } else {
                        &t.driver
                    }
                )
            })
            .collect();
        return Err(Error::NotApplicable(format!(
            "job \"{}\" {NO_EXEC_TASK}{}; nomad-chroot-check checks exec tasks only",
            job.name,
            if found.is_empty() {
                String::new()
            } else {
                format!(" (found: {})", found.join(", "))
            }
        )));
    }
    plan.downloads = ctx.downloads;
    Ok(plan)
}

/// One task of an API `Job` object (what `/v1/allocation/:id` carries), planned as
/// [`plan`] plans a jobspec's: the entry of `alloc`. `node` holds the node's attributes
/// and meta (`${node.*}`, `${attr.*}`, `${meta.*}`); `args` gives the artifact
/// mappings, `--fetch` and the common options (its `jobfile` is not read: relative
/// artifact paths resolve against the current directory). An error names the task
/// when it is missing or not an exec task.
pub fn plan_api_task(
    job: &serde_json::Value,
    group: &str,
    task: &str,
    node: &NodeAttrs,
    args: &JobArgs,
) -> Result<JobPlan, Error> {
    let spec = JobSpec::from_json(job)?;
    let (g, t) = spec
        .groups
        .iter()
        .filter(|g| g.name == group)
        .find_map(|g| g.tasks.iter().find(|t| t.name == task).map(|t| (g, t)))
        .ok_or_else(|| {
            Error::Usage(format!(
                "the allocation's job \"{}\" has no task \"{task}\" in group \"{group}\"",
                spec.name
            ))
        })?;
    if t.driver != "exec" {
        return Err(Error::Usage(format!(
            "task \"{task}\" uses driver = \"{}\"; nomad-chroot-check checks exec tasks only",
            t.driver
        )));
    }
    let mut ctx = PlanContext::for_job(spec.clone(), args, PathBuf::new())?;
    // The node's own attributes and meta, over what the client config names.
    ctx.node
        .extend(node.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut unmapped = Vec::new();
    let planned = plan_task(&ctx, g, t, args, None, &mut unmapped)?;
    unmapped_error(&unmapped)?;
    Ok(JobPlan {
        job: spec.name.clone(),
        job_type: spec.job_type.clone(),
        tasks: vec![planned],
        skipped: Vec::new(),
        downloads: ctx.downloads,
    })
}

/// Every artifact source no `--artifact` maps, named in one error.
pub fn unmapped_error(unmapped: &[String]) -> Result<(), Error> {
    if unmapped.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{} artifact source{} not mapped to local files:\n  - {}",
        unmapped.len(),
        if unmapped.len() == 1 { " is" } else { "s are" },
        unmapped.join("\n  - ")
    )))
}

/// Plan one task of `group`; `alloc`, when given, is the allocation it runs in. An
/// artifact source no `--artifact` maps is added to `unmapped` (the caller names them
/// all in one error).
pub fn plan_task(
    ctx: &PlanContext,
    group: &GroupSpec,
    task: &TaskDef,
    args: &JobArgs,
    alloc: Option<&AllocContext>,
    unmapped: &mut Vec<String>,
) -> Result<PlannedTask, Error> {
    let PlanContext {
        job,
        node,
        version,
        client,
        chroot_env,
        limits,
        safety,
        ..
    } = ctx;
    let (version, limits, safety) = (*version, *limits, *safety);
    let resolver = ctx.resolver();
    let common = &args.common;
    let tname = &task.name;
    let mut findings: Vec<Finding> = Vec::new();
    let mut unresolved = Unresolved::default();

    for key in task.config.keys() {
        if !model::EXEC_CONFIG_KEYS.contains(&key.as_str()) {
            return Err(Error::Usage(format!(
                "task \"{tname}\": config.{key} is not an exec driver option{} (the exec driver takes {})",
                crate::suggest::did_you_mean(key, model::EXEC_CONFIG_KEYS.iter().copied()),
                model::EXEC_CONFIG_KEYS.join(", ")
            )));
        }
    }
    let Some(command) = config_str(task, "command")? else {
        return Err(Error::Usage(format!(
            "task \"{tname}\": the exec driver requires config.command"
        )));
    };
    let raw_args = config_list(task, "args")?;
    let cap_add = config_list(task, "cap_add")?;
    let cap_drop = config_list(task, "cap_drop")?;
    // `hashicorp/nomad:drivers/exec/driver.go`: task pid_mode/ipc_mode, else the
    // plugin's default_pid_mode/default_ipc_mode, else private.
    let mode = |key: &str, default: &Option<String>| -> Result<bool, Error> {
        let m = config_str(task, key)?
            .filter(|m| !m.is_empty())
            .or_else(|| default.clone())
            .unwrap_or_else(|| "private".into());
        match m.as_str() {
            "private" => Ok(false),
            "host" => Ok(true),
            other => Err(Error::Usage(format!(
                "task \"{tname}\": {key} must be \"private\" or \"host\", got \"{other}\""
            ))),
        }
    };
    let pid_mode_host = mode("pid_mode", &client.default_pid_mode)?;
    let ipc_mode_host = mode("ipc_mode", &client.default_ipc_mode)?;
    let network = match group.network_mode.as_deref() {
        Some("bridge") => Network::Bridge,
        Some(m) if m.starts_with("cni/") => Network::Bridge,
        Some("none") => Network::None,
        _ => Network::Host,
    };
    let user = task.user.clone().unwrap_or_else(|| "nobody".into());

    let mut spec = TaskSpec {
        group: Some(group.name.clone()),
        job: Some(job.name.clone()),
        user: user.clone(),
        memory_mb: task.memory.unwrap_or(nomad::DEFAULT_MEMORY_MB),
        memory_max_mb: task.memory_max.filter(|m| *m > 0),
        cpu_mhz: task.cpu.unwrap_or(nomad::DEFAULT_CPU_MHZ),
        cap_add: cap_add.clone(),
        cap_drop,
        network,
        pid_mode_host,
        ipc_mode_host,
        ..TaskSpec::new(tname.clone())
    };

    // Steps 1–7 of §4.1, then the job's env interpolated against them (step 8).
    spec.alloc = alloc.map(|a| a.identity.clone());
    let net = match alloc {
        Some(a) => a.net.clone(),
        None => network_env(group, task),
    };
    let mut pre = net.clone();
    pre.extend(meta_env(job, group, task));
    spec.env = pre.clone();
    let agent_env = match common.run.agent_env {
        AgentEnvArg::Default => AgentEnv::Default,
        AgentEnvArg::Inherit => AgentEnv::Inherit,
    };
    let host_user = HostUser::lookup(&user);
    let mut sofar = taskenv::build(&spec, version, agent_env, host_user.as_ref());
    let mut job_env = Vec::new();
    for (k, v) in &task.env {
        let (v2, u) = interp::replace_env(v, &sofar, node);
        unresolved.add(u, &format!("env {k}"), false);
        sofar.insert(k.clone(), v2.clone());
        job_env.push((k.clone(), v2));
    }
    spec.env = pre;
    spec.env.extend(job_env);
    let env = taskenv::build(&spec, version, agent_env, host_user.as_ref());

    let (cmd, u) = interp::interpolate_config(&command, &env, node);
    unresolved.add(u, "config.command", true);
    spec.command = Some(cmd);
    for (i, a) in raw_args.iter().enumerate() {
        let (a2, u) = interp::interpolate_config(a, &env, node);
        unresolved.add(u, &format!("config.args[{i}]"), true);
        spec.args.push(a2);
    }
    if let Some(wd) = config_str(task, "work_dir")? {
        let (wd, u) = interp::interpolate_config(&wd, &env, node);
        unresolved.add(u, "config.work_dir", true);
        if !wd.starts_with('/') {
            // hashicorp/nomad:drivers/exec/driver.go validates work_dir this way.
            return Err(Error::Usage(format!(
                "task \"{tname}\": work_dir must be absolute but got relative path {wd:?}"
            )));
        }
        spec.work_dir = Some(wd);
    }

    // Emulated values the task actually refers to.
    let texts: Vec<&str> = task
        .env
        .iter()
        .map(|(_, v)| v.as_str())
        .chain(std::iter::once(command.as_str()))
        .chain(raw_args.iter().map(String::as_str))
        .chain(task.artifacts.iter().map(|a| a.source.as_str()))
        .collect();
    let mut upstreams: Vec<String> = Vec::new();
    for (name, _) in &group.upstreams {
        let c = clean(name);
        let uses = ["ADDR", "IP", "PORT"].iter().any(|w| {
            texts
                .iter()
                .any(|t| t.contains(&format!("NOMAD_UPSTREAM_{w}_{c}")))
        });
        if uses && !upstreams.contains(name) {
            upstreams.push(name.clone());
        }
    }
    for (k, v) in &net {
        let r = format!("${{{k}}}");
        if texts.iter().any(|t| t.contains(&r)) {
            findings.push(
                Finding::info(Kind::Note, Cause::Emulated, k.clone()).message(format!(
                    "{k} = {v} is a stand-in: a real allocation gets its port and address from the scheduler{}",
                    if k.starts_with("NOMAD_UPSTREAM_") {
                        " (Connect upstreams do listen on 127.0.0.1:<local_bind_port> inside the group's network namespace)"
                    } else {
                        ""
                    }
                )),
            );
        }
    }

    // Blocks that cannot be emulated offline.
    for b in group
        .not_emulated
        .iter()
        .map(|b| (b, "group"))
        .chain(task.not_emulated.iter().map(|b| (b, "task")))
    {
        findings.push(
            Finding::info(Kind::Note, Cause::NotEmulated, b.0.clone()).message(format!(
                "{} block `{}` is not emulated: it needs a running Nomad/Consul/Vault; the check runs without it",
                b.1, b.0
            )),
        );
    }

    // Capabilities, as the driver validates them before starting the task.
    let allow: Vec<String> = client.allow_caps.clone().unwrap_or_else(|| {
        nomad::DEFAULT_ALLOW_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let denied = denied_caps(&allow, &cap_add);
    let caps_ok = denied.is_empty();
    if !caps_ok {
        let msg = format!(
            "driver does not allow the following capabilities: {}",
            denied.join(", ")
        );
        findings.push(
            Finding::error(Kind::Run, Cause::StartFailure, tname.clone())
                .nomad_error(msg)
                .message(format!(
                    "cap_add asks for {} beyond the exec plugin's allow_caps, so the task never starts",
                    denied.join(", ")
                ))
                .hint("remove them from cap_add, or add them to `plugin \"exec\" { config { allow_caps = [...] } }` on the client"),
        );
    }

    // Artifacts, in the order written.
    let mut artifacts = Vec::new();
    let mut blocked = false;

    // The client's validate hook runs before any hook: a denied user stops the task.
    if let Some(msg) = client.user_denied(&task.driver, task.user.as_deref().unwrap_or("")) {
        findings.push(
            Finding::error(Kind::Run, Cause::StartFailure, tname.clone())
                .nomad_error(format!("Task validation failed: {msg}"))
                .message(format!(
                    "the client refuses to run task \"{tname}\" as {:?}: it is in the client option user.denylist for the {} driver",
                    task.user.as_deref().unwrap_or(""),
                    task.driver
                ))
                .hint("drop `user` (exec runs tasks as nobody), or change `client { options { \"user.denylist\" = … } }` on the client and pass that config with --client-config"),
        );
        blocked = true;
    }
    if task.artifacts.len() > 1 {
        findings.push(
            Finding::info(Kind::Note, Cause::NotEmulated, format!("{} artifacts", task.artifacts.len()))
                .message("Nomad downloads up to 3 artifacts in parallel (artifact_hook.go); they are unpacked here one after another in the order written, so overlapping files may land differently"),
        );
    }
    for a in &task.artifacts {
        let (src, u) = interp::replace_env(&a.source, &env, node);
        unresolved.add(u, "artifact.source", false);
        let (base, query) = artifact::split_query(&src);
        let mut options: BTreeMap<String, String> = query.into_iter().collect();
        for (k, v) in &a.options {
            let (v, u) = interp::replace_env(v, &env, node);
            unresolved.add(u, &format!("artifact.options.{k}"), false);
            options.insert(k.clone(), v);
        }
        let file_mode = a.mode.as_deref() == Some("file");
        let dest = match &a.destination {
            Some(d) => {
                let (d, u) = interp::replace_env(d, &env, node);
                unresolved.add(u, "artifact.destination", false);
                d
            }
            None if file_mode => format!(
                "local/{}",
                Path::new(&artifact::source_name(base))
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            None => "local/".into(),
        };
        let file = match resolver.resolve(tname, &src) {
            Ok(f) => f,
            Err(e) => {
                // Every unmapped source is named in one error, after all tasks.
                unmapped.push(e.to_string());
                continue;
            }
        };
        if artifact::is_git(&src) {
            // go-getter's git getter clones into the destination directory.
            if !file.is_dir() {
                return Err(Error::Usage(format!(
                    "artifact \"{src}\" of task \"{tname}\" maps to `{}`, which is not a directory: a git:: source maps to a local checkout (--artifact {src}=DIR)",
                    file.display()
                )));
            }
            findings.push(
                Finding::info(Kind::Note, Cause::NotEmulated, src.clone()).message(format!(
                    "git:: source placed from the local checkout `{}` into {dest}, as go-getter's `git clone` leaves it (with `.git`); the ref, depth and sshkey options are not applied",
                    file.display()
                )),
            );
            artifacts.push(Artifact {
                file,
                source_name: artifact::source_name(base),
                archive: None,
                destination: dest,
                copy: Some(String::new()),
            });
            continue;
        }
        if !file.is_file() {
            return Err(Error::Usage(format!(
                "artifact \"{src}\" of task \"{tname}\" maps to `{}`, which is not a readable file",
                file.display()
            )));
        }
        if let Some(c) = options.get("checksum") {
            let sum = Checksum::parse(c).map_err(|m| {
                Error::Usage(format!("artifact \"{src}\" of task \"{tname}\": {m}"))
            })?;
            let verdict = sum
                .verify(&file)
                .map_err(|e| Error::io(format!("cannot read `{}`", file.display()), e))?;
            if let Some(mismatch) = verdict {
                // hashicorp/nomad:client/allocrunner/taskrunner/artifact_hook.go wraps the
                // getter's error; ≥ 1.5 runs the getter as a subprocess (§6.2).
                let nomad_error = if version.has_decompression_limits() {
                    format!(
                        "failed to download artifact \"{src}\": getter subprocess failed: exit status 1: failed to download artifact: {mismatch}"
                    )
                } else {
                    format!("failed to download artifact \"{src}\": {mismatch}")
                };
                findings.push(
                    Finding::error(Kind::Artifact, Cause::ChecksumMismatch, src.clone())
                        .nomad_error(nomad_error)
                        .message(format!("`{}` does not match the artifact's checksum option", file.display()))
                        .hint("rebuild the bundle or update `options { checksum = \"sha256:…\" }` to the bundle you deploy"),
                );
                blocked = true;
            }
        }
        for (flag, what) in [(a.chown, "chown = true"), (a.headers, "headers")] {
            if flag {
                findings.push(
                    Finding::info(Kind::Note, Cause::NotEmulated, src.clone())
                        .message(format!("artifact option {what} is not emulated (files are owned by root here, as without chown)")),
                );
            }
        }
        let archive_opt = options.get("archive").map(String::as_str);
        let name = artifact::source_name(base);
        let basename = Path::new(&name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // go-getter saves the file as it is for `mode = "file"`, `archive = false`,
        // or a name without a decompressor's suffix (`client.go`: `GetFile` into
        // `dst/<base name>`). A name without a suffix over an archive's content is
        // left to the archive check, which explains the mismatch.
        let plain = archive_opt.is_none()
            && !artifact::has_archive_suffix(&name)
            && !looks_like_archive(&file);
        if archive_opt == Some("false") || file_mode || plain {
            let (dir, fname) = if file_mode {
                let p = Path::new(&dest);
                (
                    p.parent()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default(),
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or(basename),
                )
            } else {
                (dest.clone(), basename)
            };
            artifacts.push(Artifact {
                file,
                source_name: name,
                archive: None,
                destination: dir,
                copy: Some(fname),
            });
            continue;
        }
        let archive = match archive_opt {
            None | Some("") => None,
            Some(k) => Some(k.parse::<ArchiveKind>().map_err(|m| {
                Error::Usage(format!(
                    "artifact \"{src}\" of task \"{tname}\": archive option: {m}"
                ))
            })?),
        };
        artifacts.push(Artifact {
            file,
            source_name: name,
            archive,
            destination: dest,
            copy: None,
        });
    }

    // Job type and lifecycle → run semantics (§7): service/system tasks and sidecars
    // must keep running; batch/sysbatch tasks and non-sidecar hooks must exit 0.
    let service = match &task.lifecycle {
        Some((hook, sidecar)) => {
            if !matches!(hook.as_str(), "prestart" | "poststart" | "poststop") {
                return Err(Error::Usage(format!(
                    "task \"{tname}\": lifecycle hook \"{hook}\" is not prestart, poststart or poststop"
                )));
            }
            *sidecar && hook != "poststop"
        }
        None => matches!(job.job_type.as_str(), "service" | "system"),
    };
    let mut run = if caps_ok { common.run_options()? } else { None };
    if let Some(r) = run.as_mut() {
        r.job_type = if service {
            JobType::Service
        } else {
            JobType::Batch
        };
        if let Some(s) = &task.kill_signal {
            r.kill_signal = s.clone();
        }
        if let Some(t) = task.kill_timeout {
            r.kill_timeout = t;
        }
        // `hashicorp/nomad:client/allocrunner/taskrunner/driver_handle.go`: the client's
        // max_kill_timeout (default 30s) caps the task's.
        let max = match &client.max_kill_timeout {
            Some(m) => crate::config::parse_duration(m).map_err(|_| {
                Error::Usage(format!(
                    "client config: max_kill_timeout `{m}` is not a duration"
                ))
            })?,
            None => std::time::Duration::from_secs(DEFAULT_MAX_KILL_TIMEOUT_SECS),
        };
        r.kill_timeout = r.kill_timeout.min(max);
    }
    findings.extend(unresolved.findings);
    Ok(PlannedTask {
        opts: CheckOptions {
            nomad_version: version,
            artifacts,
            extract: common.extract_mode(),
            chroot_env: chroot_env.clone(),
            client: client.clone(),
            limits,
            safety,
            task: spec,
            run,
            keep: common.keep,
            deny: common.deny_rules()?,
            workdir: common.workdir(),
        },
        findings,
        blocked,
        env,
        upstreams,
        prestart: matches!(&task.lifecycle, Some((h, _)) if h == "prestart"),
    })
}

/// Whether the first bytes of `file` are an archive's (then a suffix-less name is a
/// mistake the archive check reports, not a plain file).
fn looks_like_archive(file: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    matches!(
        crate::archive::sniff::detect(&head[..n]),
        crate::archive::sniff::Detected::Archive(_)
    )
}

/// Check one planned task: the report of `check::run` plus the job's findings.
pub fn check_task(t: &PlannedTask) -> Report {
    let opts = &t.opts;
    let mut report = if t.blocked {
        // The artifact hook fails before the task starts: nothing to unpack or run.
        let mut r = Report::new(opts.nomad_version);
        r.task = check::task_info(opts, &t.env);
        r
    } else {
        match check::run(opts) {
            Ok(r) => r,
            Err(e) => {
                let mut r = Report::new(opts.nomad_version);
                r.task.name = opts.task.name.clone();
                r.task.group = opts.task.group.clone();
                r.task.command = opts.task.command.clone();
                r.task.args = opts.task.args.clone();
                r.task.user = opts.task.user.clone();
                r.task.env = t.env.clone();
                r.findings.push(
                    Finding::error(Kind::Run, Cause::StartFailure, opts.task.name.clone())
                        .message(format!("could not check this task: {e}")),
                );
                r.verdict = match e.exit_code() {
                    ExitCode::Reject => Verdict::Reject,
                    _ => Verdict::Error,
                };
                r.findings.extend(t.findings.iter().cloned());
                return r;
            }
        }
    };
    report.findings.extend(t.findings.iter().cloned());
    crate::finding::apply_deny(&mut report.findings, &opts.deny);
    waits_for_upstream(t, &mut report);
    report.settle_verdict();
    report
}

/// A task that timed out while it refers to a Connect upstream was waiting for it:
/// checked alone, nothing listens on the upstream's local port. Say so, and that the
/// fix is to run the whole job, rather than a timeout and a `--type service` hint
/// `job` mode cannot take (the type comes from the jobspec).
fn waits_for_upstream(t: &PlannedTask, report: &mut Report) {
    if t.upstreams.is_empty() {
        return;
    }
    let Some(i) = report
        .findings
        .iter()
        .position(|f| f.kind == Kind::Run && f.cause == Cause::Timeout)
    else {
        return;
    };
    let names = t
        .upstreams
        .iter()
        .map(|u| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let addrs: Vec<String> = t
        .upstreams
        .iter()
        .filter_map(|u| {
            t.env
                .get(&format!("NOMAD_UPSTREAM_ADDR_{}", clean(u)))
                .cloned()
        })
        .collect();
    let old = report.findings.remove(i);
    // The run's misses were errors because of the timeout; waiting is not a failure.
    if !report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error && f.cause != Cause::Runtime)
    {
        for f in report
            .findings
            .iter_mut()
            .filter(|f| f.cause == Cause::Runtime)
        {
            f.severity = Severity::Warning;
        }
    }
    report.findings.push(
        Finding::warning(Kind::Run, Cause::Upstream, old.path.clone()).message(format!(
            "waits for upstream {names}: run the whole job. Checked alone, nothing serves {} in the task's network namespace, so the {}task ran until the --timeout and was stopped; under Nomad it ends once the upstream answers",
            if addrs.is_empty() { "the upstream".to_owned() } else { addrs.join(", ") },
            if t.prestart { "prestart " } else { "" }
        ))
        .hint("run the whole job: nomad-chroot-check job JOBFILE --run-job (with the same --artifact and --client-config options)"),
    );
}

#[derive(Serialize)]
struct JobReport<'a> {
    schema_version: u32,
    job: &'a str,
    verdict: Verdict,
    tasks: &'a [Report],
    skipped: &'a [Skipped],
}

/// The worst verdict of the tasks.
pub fn job_verdict(reports: &[Report]) -> Verdict {
    reports
        .iter()
        .fold(Verdict::Pass, |v, r| v.worst(r.verdict))
}

pub fn render(
    plan: &JobPlan,
    reports: &[Report],
    format: Format,
    out: &mut dyn Write,
) -> io::Result<()> {
    let verdict = job_verdict(reports);
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &JobReport {
                    schema_version: SCHEMA_VERSION,
                    job: &plan.job,
                    verdict,
                    tasks: reports,
                    skipped: &plan.skipped,
                },
            )?;
            writeln!(out)
        }
        Format::Junit | Format::Sarif => {
            report::render_many(reports, &format!("job {}", plan.job), format, out)
        }
        Format::Text => {
            for r in reports {
                report::render(r, Format::Text, out)?;
                writeln!(out)?;
            }
            write!(
                out,
                "{}",
                Summary {
                    plan,
                    reports,
                    verdict
                }
            )
        }
    }
}

struct Summary<'a> {
    plan: &'a JobPlan,
    reports: &'a [Report],
    verdict: Verdict,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = |v: Verdict| match v {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Reject => "REJECT",
            Verdict::Error => "ERROR",
        };
        writeln!(
            f,
            "job \"{}\" ({}): {} — {} exec task{} checked",
            self.plan.job,
            self.plan.job_type,
            word(self.verdict),
            self.reports.len(),
            if self.reports.len() == 1 { "" } else { "s" }
        )?;
        for r in self.reports {
            let errors = r
                .findings
                .iter()
                .filter(|x| x.severity == Severity::Error)
                .count();
            let warnings = r
                .findings
                .iter()
                .filter(|x| x.severity == Severity::Warning)
                .count();
            writeln!(
                f,
                "  {:<6} {}/{}  ({} error{}, {} warning{})",
                word(r.verdict),
                r.task.group.as_deref().unwrap_or("-"),
                r.task.name,
                errors,
                if errors == 1 { "" } else { "s" },
                warnings,
                if warnings == 1 { "" } else { "s" },
            )?;
        }
        for s in &self.plan.skipped {
            writeln!(
                f,
                "  skip   {}/{}  (driver = \"{}\")",
                s.group, s.task, s.driver
            )?;
        }
        Ok(())
    }
}

const NO_EXEC_TASK: &str = "has no task with driver = \"exec\"";

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
    let stdout = io::stdout();
    let mut lock = stdout.lock();
    match render(&plan, &reports, args.common.format, &mut lock).and_then(|()| lock.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(Error::io("cannot write the report", e));
        }
        _ => {}
    }
    Ok(job_verdict(&reports).exit_code())
}
