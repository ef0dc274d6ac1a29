//! `nomad-chroot-check alloc`: debug a failed allocation.
//!
//! ```text
//! Nomad's record ─┬─ API (api: prefix → /v1/allocation/:id, /v1/node/:id, log tails)
//!                 ├─ `nomad alloc status -json` output (--from-file)
//!                 └─ none (an alloc dir alone)
//! the emulation ──┬─ the job's task planned by `job` (node's version and attributes,
//!                 │   artifacts mapped or fetched) and checked as a bundle
//!                 └─ the alloc dir as the client left it (allocdir, --alloc-dir)
//! compare ──▶ reproduced / differs / passes here ──▶ text, JSON or JUnit
//! ```
//!
//! The exit code is the emulation's (0 pass, 1 fail, 2 rejected or bad input, 3 could
//! not check); the verdict is in the report.

pub mod allocdir;
pub mod api;
pub mod compare;
pub mod model;

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::{AllocArgs, Format, JobArgs};
use crate::config::CheckOptions;
use crate::error::{Error, ExitCode};
use crate::finding::{Report, SCHEMA_VERSION, Tool};
use crate::job::{self, interp::NodeAttrs};
use crate::report;

use self::api::{ApiConfig, ApiError, Client};
use self::compare::{AllocVerdict, Assumptions, Comparison, RealSide};
use self::model::{Allocation, Node};

/// Where Nomad's record of the allocation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Api,
    File,
    AllocDir,
}

/// The allocation as the report names it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AllocInfo {
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub job: String,
    pub task_group: String,
    pub node_id: String,
    pub node_name: String,
    pub client_status: String,
    pub client_description: String,
}

/// The node as far as it matters to the check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeInfo {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nomad_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// `Drivers["exec"]`: detected and healthy, with Nomad's description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_driver: Option<String>,
}

/// The `alloc` document (`--format json`).
#[derive(Debug, Serialize)]
pub struct AllocReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation: Option<AllocInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alloc_dir: Option<String>,
    pub task: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeInfo>,
    /// What the emulation assumed where the cluster could not tell.
    pub assumed: Vec<String>,
    /// What Nomad recorded.
    pub real: RealSide,
    /// The emulation: its predicted errors and the whole check report.
    pub emulated: Emulated,
    pub verdict: AllocVerdict,
    pub explanation: Vec<String>,
    pub root_cause: Option<compare::RootCause>,
    /// Events that point outside the bundle (node, network, template, Vault, Consul).
    pub outside_bundle: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Emulated {
    pub predicted: Vec<compare::Predicted>,
    pub report: Report,
}

/// Nomad's record: the allocation, its node, and where its logs come from.
struct Record {
    source: Source,
    alloc: Option<Allocation>,
    node: Option<(Node, serde_json::Value)>,
    client: Option<Client>,
    notes: Vec<String>,
}

pub fn main(args: AllocArgs) -> Result<ExitCode, Error> {
    let doc = run(&args)?;
    let code = doc.emulated.report.exit_code();
    report::emit(|out| render(&doc, args.common.format, out))?;
    Ok(code)
}

/// Everything but the printing.
pub fn run(args: &AllocArgs) -> Result<AllocReport, Error> {
    if args.alloc_id.is_none() && args.from_file.is_none() && args.alloc_dir.is_none() {
        return Err(Error::Usage(
            "give an allocation ID (or prefix), --from-file ALLOC.json, or --alloc-dir DIR".into(),
        ));
    }
    if args.run && args.alloc_dir.is_none() {
        return Err(Error::Usage(
            "--run applies to --alloc-dir; with the API or --from-file the task runs unless --no-run".into(),
        ));
    }
    if !args.command.is_empty()
        && (args.alloc_dir.is_none() || args.alloc_id.is_some() || args.from_file.is_some())
    {
        return Err(Error::Usage(
            "a COMMAND after -- is for --alloc-dir without the job; otherwise the job's command is used".into(),
        ));
    }
    let mut rec = record(args)?;
    let task = pick_task(args, rec.alloc.as_ref())?;

    // The node's attributes, version and exec driver.
    let mut node_attrs = NodeAttrs::new();
    let mut node_info = None;
    let mut version_from_node = false;
    let mut common = args.common.clone();
    if let Some((node, raw)) = &rec.node {
        node_attrs = job::interp::node_attrs_from(raw).map_err(Error::Usage)?;
        let version = node.attributes.get("nomad.version").cloned();
        if let Some(v) = &version {
            let plain = v.split(['-', '+']).next().unwrap_or(v);
            match plain.parse::<crate::nomad::NomadVersion>() {
                Ok(_) => {
                    common.client.nomad_version = plain.to_owned();
                    version_from_node = true;
                }
                Err(e) => rec.notes.push(format!(
                    "the node's Nomad {v} is not one this tool emulates ({e}); emulating {}",
                    common.client.nomad_version
                )),
            }
        }
        let exec = node.drivers.get("exec").map(|d| {
            if !d.detected {
                "not detected".to_owned()
            } else if d.healthy {
                "healthy".to_owned()
            } else {
                format!("unhealthy: {}", d.health_description)
            }
        });
        node_info = Some(NodeInfo {
            id: node.id.clone(),
            name: node.name.clone(),
            nomad_version: version,
            kernel: node.attributes.get("kernel.version").map(|k| {
                format!(
                    "{} {k}",
                    node.attributes
                        .get("kernel.name")
                        .map_or("linux", String::as_str)
                )
            }),
            exec_driver: exec,
        });
    }
    let mut assumed = rec.notes.clone();
    if !version_from_node {
        assumed.push(format!(
            "Nomad {} emulated (--nomad-version): the node's version is not known",
            common.client.nomad_version
        ));
    }
    let chroot_env_assumed =
        common.client.chroot_env.is_empty() && common.client.client_config.is_empty();
    if chroot_env_assumed && args.alloc_dir.is_none() {
        assumed.push(format!(
            "chroot_env: Nomad {}'s default map; the API does not expose the client's chroot_env (pass --client-config with the client's config, or --chroot-env)",
            common.client.nomad_version
        ));
    }

    // What Nomad recorded.
    let mut real = match rec.alloc.as_ref().and_then(|a| a.task_states.get(&task)) {
        Some(state) => RealSide::from_state(state),
        None => RealSide::default(),
    };
    let outside: Vec<String> = rec
        .alloc
        .as_ref()
        .and_then(|a| a.task_states.get(&task))
        .map(|s| {
            s.events
                .iter()
                .filter_map(compare::points_outside)
                .collect()
        })
        .unwrap_or_default();
    let mut outside = outside;
    if let Some(n) = &node_info {
        if let Some(d) = n.exec_driver.as_deref().filter(|d| *d != "healthy") {
            outside.push(format!("the node's exec driver is {d}"));
        }
    }
    read_logs(args, &rec, &task, &mut real);

    // The emulation.
    let job_value = rec.alloc.as_ref().and_then(|a| a.job.clone());
    let group = rec
        .alloc
        .as_ref()
        .map(|a| a.task_group.clone())
        .unwrap_or_default();
    let static_only;
    let emulated = match &args.alloc_dir {
        Some(dir) => {
            let mut opts = match &job_value {
                Some(job) => {
                    // The task dir holds the artifacts already: plan without them.
                    let mut job = job.clone();
                    strip_artifacts(&mut job);
                    let plan = job::plan_api_task(
                        &job,
                        &group,
                        &task,
                        &node_attrs,
                        &job_args(args, common.clone()),
                    )?;
                    plan.tasks[0].opts.clone()
                }
                None => flag_options(args, &common, &task)?,
            };
            if !args.run {
                opts.run = None;
            }
            static_only = opts.run.is_none();
            allocdir::check(dir, &task, &opts)?
        }
        None => {
            let Some(job) = &job_value else {
                return Err(Error::Usage(
                    "the allocation carries no job to check".into(),
                ));
            };
            let plan = job::plan_api_task(
                job,
                &group,
                &task,
                &node_attrs,
                &job_args(args, common.clone()),
            )?;
            static_only = plan.tasks[0].opts.run.is_none();
            job::check_task(&plan.tasks[0])
        }
    };

    let assumptions = Assumptions {
        nomad_version: common.client.nomad_version.clone(),
        version_from_node,
        chroot_env_assumed: chroot_env_assumed && args.alloc_dir.is_none(),
        artifacts_mapped: !args.artifact.is_empty() && args.alloc_dir.is_none(),
        static_only,
    };
    let Comparison {
        verdict,
        explanation,
        root_cause,
        outside_bundle,
    } = compare::compare(&real, &outside, &emulated, &assumptions);
    Ok(AllocReport {
        schema_version: SCHEMA_VERSION,
        tool: Tool::default(),
        source: rec.source,
        allocation: rec.alloc.as_ref().map(|a| AllocInfo {
            id: a.id.clone(),
            name: a.name.clone(),
            namespace: a.namespace.clone(),
            job: a.job_id.clone(),
            task_group: a.task_group.clone(),
            node_id: a.node_id.clone(),
            node_name: a.node_name.clone(),
            client_status: a.client_status.clone(),
            client_description: a.client_description.clone(),
        }),
        alloc_dir: args.alloc_dir.as_ref().map(|d| d.display().to_string()),
        task,
        node: node_info,
        assumed,
        real,
        emulated: Emulated {
            predicted: compare::predicted(&emulated),
            report: emulated,
        },
        verdict,
        explanation,
        root_cause,
        outside_bundle,
    })
}

/// Nomad's record, from the API, a file, or nothing (an alloc dir alone).
fn record(args: &AllocArgs) -> Result<Record, Error> {
    if let Some(id) = &args.alloc_id {
        let cfg = ApiConfig::from_env(|k| std::env::var(k).ok());
        let client = Client::new(&cfg)?;
        let alloc = resolve(&client, id)?;
        let mut notes = Vec::new();
        let node = if alloc.node_id.is_empty() {
            None
        } else {
            match client.node(&alloc.node_id) {
                Ok(n) => Some(n),
                Err(e @ (ApiError::Status { .. } | ApiError::Decode { .. })) => {
                    notes.push(format!(
                        "the node was not read ({e}): ${{node.*}}, ${{attr.*}} and ${{meta.*}} stay unresolved"
                    ));
                    None
                }
                Err(e) => return Err(e.into()),
            }
        };
        return Ok(Record {
            source: Source::Api,
            alloc: Some(alloc),
            node,
            client: Some(client),
            notes,
        });
    }
    let node = match &args.node {
        Some(p) => {
            let text = crate::config::read_input_file(p).map_err(|source| Error::ReadInput {
                path: p.clone(),
                source,
            })?;
            let raw: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::Usage(format!("--node {}: invalid JSON: {e}", p.display())))?;
            let node: Node = serde_json::from_value(raw.clone()).map_err(|e| {
                Error::Usage(format!("--node {}: not a Nomad node: {e}", p.display()))
            })?;
            Some((node, raw))
        }
        None => None,
    };
    if let Some(p) = &args.from_file {
        let text = crate::config::read_input_file(p).map_err(|source| Error::ReadInput {
            path: p.clone(),
            source,
        })?;
        let alloc: Allocation = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "{}: not `nomad alloc status -json` output: {e}",
                p.display()
            ))
        })?;
        if alloc.id.is_empty() && alloc.task_states.is_empty() {
            return Err(Error::Usage(format!(
                "{}: not `nomad alloc status -json` output (no ID, no TaskStates)",
                p.display()
            )));
        }
        return Ok(Record {
            source: Source::File,
            alloc: Some(alloc),
            node,
            client: None,
            notes: Vec::new(),
        });
    }
    Ok(Record {
        source: Source::AllocDir,
        alloc: None,
        node,
        client: None,
        notes: Vec::new(),
    })
}

/// A full ID or a prefix, as `nomad alloc status` resolves it (`command/alloc_status.go`).
fn resolve(client: &Client, id: &str) -> Result<Allocation, Error> {
    if id.len() < 2 {
        return Err(Error::Usage(
            "Identifier must contain at least two characters.".into(),
        ));
    }
    let prefix = api::sanitize_prefix(id);
    let stubs = client.alloc_prefix(prefix)?;
    match stubs.as_slice() {
        [] => Err(Error::Usage(format!(
            "No allocation(s) with prefix or id \"{prefix}\" found at {} (wrong ID or namespace — set NOMAD_NAMESPACE, `*` for all — or the allocation was garbage-collected; on the client node try --alloc-dir)",
            client.base()
        ))),
        [one] => Ok(client.allocation(&one.id, &one.namespace)?),
        many => {
            let mut rows = vec!["ID|Node ID|Task Group|Version|Desired|Status".to_owned()];
            for s in many {
                rows.push(format!(
                    "{}|{}|{}|{}|{}|{}",
                    short(&s.id),
                    short(&s.node_id),
                    s.task_group,
                    s.job_version,
                    s.desired_status,
                    s.client_status
                ));
            }
            Err(Error::Usage(format!(
                "Prefix matched multiple allocations\n\n{}\n\ngive more of the ID",
                columns(&rows)
            )))
        }
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// `|`-separated rows as aligned columns, as the CLI's `formatList` prints them.
fn columns(rows: &[String]) -> String {
    let cells: Vec<Vec<&str>> = rows.iter().map(|r| r.split('|').collect()).collect();
    let n = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            cells
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    cells
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--task-name`, else the task Nomad marked failed, else the group's only task.
fn pick_task(args: &AllocArgs, alloc: Option<&Allocation>) -> Result<String, Error> {
    let mut known: Vec<String> = alloc
        .map(|a| a.task_states.keys().cloned().collect())
        .unwrap_or_default();
    if known.is_empty() {
        if let Some(dir) = &args.alloc_dir {
            known = allocdir::task_dirs(dir)?;
        }
    }
    if let Some(t) = &args.task_name {
        if !known.is_empty() && !known.contains(t) {
            return Err(Error::Usage(format!(
                "the allocation has no task \"{t}\"; its tasks are: {}",
                known.join(", ")
            )));
        }
        return Ok(t.clone());
    }
    let failed: Vec<&String> = alloc
        .map(|a| {
            a.task_states
                .iter()
                .filter(|(_, s)| s.failed)
                .map(|(n, _)| n)
                .collect()
        })
        .unwrap_or_default();
    match (failed.as_slice(), known.as_slice()) {
        ([one], _) => Ok((*one).clone()),
        (_, [only]) => Ok(only.clone()),
        (_, []) => Err(Error::Usage(
            "the allocation has no task state to check; pass --task-name".into(),
        )),
        _ => Err(Error::Usage(format!(
            "the allocation has several tasks ({}); pick one with --task-name",
            known.join(", ")
        ))),
    }
}

/// The job arguments `job::plan_api_task` reads.
fn job_args(args: &AllocArgs, common: crate::cli::CommonArgs) -> JobArgs {
    JobArgs {
        jobfile: PathBuf::new(),
        tasks: Vec::new(),
        artifact: args.artifact.clone(),
        var: Vec::new(),
        var_file: Vec::new(),
        node: None,
        fetch: args.fetch,
        run_job: false,
        count_max: None,
        keep_running: false,
        deadline: None,
        host_ip: "127.0.0.1".into(),
        bridge_subnet: None,
        common,
    }
}

/// An alloc dir without the job: the task as the flags describe it.
fn flag_options(
    args: &AllocArgs,
    common: &crate::cli::CommonArgs,
    task: &str,
) -> Result<CheckOptions, Error> {
    let (nomad_version, client, chroot_env, limits, safety) = common.resolve()?;
    let (mut spec, run) = common.task_and_run(&args.command)?;
    spec.name = task.to_owned();
    Ok(CheckOptions {
        nomad_version,
        artifacts: Vec::new(),
        extract: common.extract_mode(),
        chroot_env,
        client,
        limits,
        safety,
        task: spec,
        run,
        keep: false,
        deny: common.deny_rules()?,
        workdir: common.workdir(),
    })
}

fn strip_artifacts(job: &mut serde_json::Value) {
    let job = match job.get_mut("Job") {
        Some(_) => job.get_mut("Job"),
        None => Some(job),
    };
    let groups = job
        .and_then(|j| j.get_mut("TaskGroups"))
        .and_then(|g| g.as_array_mut());
    for g in groups.into_iter().flatten() {
        for t in g
            .get_mut("Tasks")
            .and_then(|t| t.as_array_mut())
            .into_iter()
            .flatten()
        {
            if let Some(o) = t.as_object_mut() {
                o.remove("Artifacts");
            }
        }
    }
}

/// The task's log tails: from the alloc dir when given, else from the client node
/// (directly, then through the server), else nowhere, saying why.
fn read_logs(args: &AllocArgs, rec: &Record, task: &str, real: &mut RealSide) {
    if let Some(dir) = &args.alloc_dir {
        real.stderr_tail = allocdir::log_tail(dir, task, "stderr", api::LOG_TAIL_BYTES);
        real.stdout_tail = allocdir::log_tail(dir, task, "stdout", api::LOG_TAIL_BYTES);
        real.logs = format!("read from {}/alloc/logs", dir.display());
        return;
    }
    let (Some(client), Some(alloc)) = (&rec.client, &rec.alloc) else {
        real.logs = "not available: --from-file carries no logs (the task's stderr is in `nomad alloc logs -stderr`)".into();
        return;
    };
    let mut why_direct = String::new();
    let direct = match &rec.node {
        Some((n, _)) if n.status == "down" => {
            why_direct = "the node is down".into();
            None
        }
        Some((n, _)) if n.http_addr.is_empty() => None,
        Some((n, _)) => match client.for_node(n) {
            Ok(c) => Some(c),
            Err(e) => {
                why_direct = e.to_string();
                None
            }
        },
        None => None,
    };
    let fetch = |c: &Client| -> Result<(String, String), ApiError> {
        Ok((
            c.log_tail(alloc, task, "stderr")?,
            c.log_tail(alloc, task, "stdout")?,
        ))
    };
    let mut attempt = direct.as_ref().map(|c| (c.base().to_owned(), fetch(c)));
    // A network error talking to the node: through the server, as `queryClientNode`.
    if let Some((addr, Err(e @ (ApiError::Unreachable { .. } | ApiError::Tls { .. })))) = &attempt {
        why_direct = format!("{addr}: {e}");
        attempt = None;
    }
    let (via, result) = match attempt {
        Some((addr, r)) => (format!("the client node at {addr}"), r),
        None => (format!("the server at {}", client.base()), fetch(client)),
    };
    match result {
        Ok((err, out)) => {
            real.stderr_tail = Some(err);
            real.stdout_tail = Some(out);
            real.logs = format!("read from {via}");
        }
        Err(e) => {
            real.logs = format!(
                "skipped: {e}{}",
                if why_direct.is_empty() {
                    String::new()
                } else {
                    format!(" (the client node directly: {why_direct})")
                }
            );
        }
    }
}

pub fn render(doc: &AllocReport, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => report::write_json(doc, out),
        Format::Junit | Format::Sarif => report::render(&doc.emulated.report, format, out),
        Format::Text => render_text(doc, out),
    }
}

fn render_text(d: &AllocReport, out: &mut dyn Write) -> io::Result<()> {
    let word = match d.verdict {
        AllocVerdict::Reproduced => "REPRODUCED",
        AllocVerdict::Differs => "DIFFERS",
        AllocVerdict::PassesHere => "PASSES HERE",
        AllocVerdict::NoFailure => "NO FAILURE RECORDED",
    };
    match &d.allocation {
        Some(a) => writeln!(
            out,
            "{word}: allocation {} ({}), task {}, node {}",
            short(&a.id),
            a.name,
            d.task,
            if a.node_name.is_empty() {
                short(&a.node_id)
            } else {
                &a.node_name
            }
        )?,
        None => writeln!(
            out,
            "{word}: task {} in {}",
            d.task,
            d.alloc_dir.as_deref().unwrap_or("")
        )?,
    }
    for l in &d.explanation {
        writeln!(out, "  {l}")?;
    }
    writeln!(out)?;
    writeln!(out, "Nomad recorded:")?;
    match &d.real.failure {
        Some(f) => {
            let code = match f.exit_code {
                Some(c) if !f.message.contains("Exit Code") => format!(" (exit {c})"),
                _ => String::new(),
            } + if f.oom_killed { " (OOM killed)" } else { "" };
            writeln!(out, "  {}: {}{code}", f.kind, f.message)?;
        }
        None => writeln!(
            out,
            "  no failure event{}",
            if d.real.state.is_empty() {
                String::new()
            } else {
                format!(" (state {})", d.real.state)
            }
        )?,
    }
    if let Some(e) = d
        .real
        .stderr_tail
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        writeln!(out, "  stderr:")?;
        for l in e
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            writeln!(out, "    | {l}")?;
        }
    }
    writeln!(out, "  logs: {}", d.real.logs)?;
    writeln!(out, "The emulation predicts:")?;
    if d.emulated.predicted.is_empty() {
        writeln!(out, "  no failure")?;
    }
    for p in &d.emulated.predicted {
        let code = p
            .exit_code
            .map(|c| format!(" (exit {c})"))
            .unwrap_or_default();
        let what = if p.oom_killed {
            "OOM killed"
        } else {
            p.error.as_str()
        };
        writeln!(out, "  {what}{code}")?;
    }
    if let Some(rc) = &d.root_cause {
        writeln!(out, "Root cause: {}", rc.path)?;
        if let Some(m) = &rc.message {
            writeln!(out, "  {m}")?;
        }
        if !rc.needed_by.is_empty() {
            writeln!(out, "  needed by: {}", rc.needed_by.join(" → "))?;
        }
        if let Some(f) = &rc.fix {
            writeln!(out, "  fix: {f}")?;
        }
    }
    if !d.outside_bundle.is_empty() {
        writeln!(out, "Outside the bundle:")?;
        for o in &d.outside_bundle {
            writeln!(out, "  {o}")?;
        }
    }
    if !d.assumed.is_empty() {
        writeln!(out, "Assumed:")?;
        for a in &d.assumed {
            writeln!(out, "  {a}")?;
        }
    }
    writeln!(out)?;
    report::render(&d.emulated.report, Format::Text, out)
}
