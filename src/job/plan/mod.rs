//! Planning: the job (and the node, the artifact mappings and the client's settings,
//! read once into a [`PlanContext`]) turned into one [`PlannedTask`] per exec task,
//! without unpacking or running anything.

mod artifacts;
mod task;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::artifact::{self, Resolver};
use super::interp::NodeAttrs;
use super::model::{GroupSpec, JobSpec, TaskDef};
use crate::cli::JobArgs;
use crate::error::Error;
use crate::finding::{Cause, Finding, Kind};
use crate::nomad;

pub use self::task::{PlannedTask, plan_task};

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

#[derive(Debug)]
pub struct JobPlan {
    pub job: String,
    pub job_type: String,
    pub tasks: Vec<PlannedTask>,
    pub skipped: Vec<Skipped>,
    /// Holds `--fetch` downloads until the checks are done.
    pub downloads: Option<tempfile::TempDir>,
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
        let inputs = super::hcl::VarInputs {
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
        let job = super::load(&args.jobfile, &inputs)?;
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
        let node = super::node::attrs(&client, args.node.as_deref())?;
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

/// Turn the job into one [`CheckOptions`](crate::config::CheckOptions) per exec task (no extraction, no run).
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

const NO_EXEC_TASK: &str = "has no task with driver = \"exec\"";
