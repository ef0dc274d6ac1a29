//! One exec task planned as the client would start it: the driver config validated,
//! the task env assembled and interpolated, capabilities checked against the plugin's
//! `allow_caps`, artifacts planned, and the job type and lifecycle turned into run
//! semantics.

use std::collections::{BTreeMap, BTreeSet};

use super::{AllocContext, PlanContext, Unresolved, artifacts};
use crate::cli::{AgentEnvArg, JobArgs};
use crate::config::{AgentEnv, CheckOptions, JobType, Network, TaskSpec};
use crate::error::Error;
use crate::finding::{Cause, Finding, Kind};
use crate::job::JobError;
use crate::job::interp;
use crate::job::model::{self, GroupSpec, TaskDef};
use crate::job::taskvars::{clean, meta_env, network_env};
use crate::nomad;
use crate::taskenv::{self, HostUser};

/// The client's default `max_kill_timeout` (`hashicorp/nomad:client/config/config.go`).
const DEFAULT_MAX_KILL_TIMEOUT_SECS: u64 = 30;

/// One exec task, ready for [`check::run`](crate::check::run).
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

    let (artifacts, mismatch) =
        artifacts::plan(ctx, task, &env, &mut unresolved, unmapped, &mut findings)?;
    blocked |= mismatch;

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

fn norm_cap(c: &str) -> String {
    let l = c.trim().to_ascii_lowercase();
    l.strip_prefix("cap_").map(str::to_owned).unwrap_or(l)
}

/// `hashicorp/nomad:drivers/shared/capabilities/set.go` `Calculate`: every cap_add must
/// be in allow_caps (`all` there allows everything).
fn denied_caps(allow: &[String], add: &[String]) -> Vec<String> {
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
