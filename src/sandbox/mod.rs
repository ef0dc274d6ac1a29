//! Run the entrypoint as the exec driver does.
//!
//! The parent (this multithreaded process) never changes namespaces: it builds the
//! plan (pure data, see [`plan`]), creates the cgroup, and spawns a fresh copy of our
//! own binary as `__sandbox-child` (see [`child`]) with the plan on a pipe. The child
//! builds the sandbox, runs the task, and sends back a [`child::ChildReport`] on a
//! second pipe, from which we make the [`RunOutcome`] and the findings.
//!
//! A check that will run its task starts all of that early ([`Prelaunch`]): while the
//! bundle is unpacked, the child starts with the task's log files as its stdout and
//! stderr, the cgroup is made, and (as root) the child gets its [`plan::Setup`], builds
//! its namespaces and forks the init, which then waits for its [`plan::InitPlan`]. On
//! a 2-core machine this work competes with unpacking, so it is kept small: the child
//! is started with `posix_spawn`, not a fork of this process.
//!
//! Nothing is left behind: the task's mounts live only in its own mount namespace; its
//! processes die with its PID 1, which dies with the child (`PR_SET_PDEATHSIG`), which
//! kills it and removes the work dir and the cgroup if the checker dies first; the
//! parent removes the cgroup after a normal end (on a thread, beside the work dir's
//! removal; see [`crate::cleanup::in_background`]), and [`cgroup::sweep`] removes the
//! groups of checkers that died together with their child.

pub mod caps;
pub mod cgroup;
pub mod child;
pub mod misses;
pub mod mount;
pub mod plan;
pub mod trace;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
pub use nix::unistd::Pid;

use child::ChildReport;
pub use child::child_main;
use plan::{IdMap, Identity, InitInput, InitPlan, Setup, SetupInput};

use crate::clientconfig::ClientConfig;
use crate::config::{JobType, RunOptions, TaskSpec};
use crate::error::ExitCode;
use crate::finding::{Cause, Finding, Kind, RunOutcome, Severity};
use crate::nomad::NomadVersion;
use crate::sys;
use crate::taskdir::TaskDir;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// This machine cannot build the sandbox (exit 3), with the fix.
    #[error("{0}")]
    Unavailable(String),
    /// Building the sandbox failed in a way Nomad would not (our bug or the host's).
    #[error("cannot build the sandbox: {0}")]
    Setup(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl SandboxError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Error
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

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

/// The prefix of every start failure Nomad reports as a Driver Failure event.
const DRIVER_FAILURE: &str =
    "failed to launch command with executor: rpc error: code = Unknown desc = ";
const RUNC_INIT: &str = "unable to start container process: error during container init: ";

/// Where the task's stdio goes.
enum Stdio3 {
    /// `alloc/logs/<task>.std{out,err}.0`, as Nomad's logmon writes them.
    Logs,
    /// The checker's terminal (`shell`).
    Terminal,
}

/// Run the task; `launch` is a child started ahead (see [`Prelaunch`]), if any.
pub fn run(req: &RunRequest<'_>, launch: Option<Launch>) -> Result<RunResult, SandboxError> {
    run_with(req, Stdio3::Logs, Vec::new(), Vec::new(), launch, None)
}

/// How `job --run-job` runs a task among others: in the allocation's network
/// namespace, told when it starts, stopped when the run says so.
pub struct Supervision<'a> {
    /// Run until stopped: SIGTERM to the pid given to `on_spawn` stops the task as
    /// Nomad stops it (kill_signal, then SIGKILL after kill_timeout). Otherwise the
    /// run options' lifecycle applies (a script check: batch with a timeout).
    pub until_stopped: bool,
    /// The allocation's network namespace to join (`/proc/<pid>/fd/<n>`).
    pub netns: Option<PathBuf>,
    /// What the sandbox child removes if the checker dies (the run's work dir).
    pub remove_on_orphan: Option<PathBuf>,
    /// stdout and stderr files instead of the task's `alloc/logs` files.
    pub logs: Option<[PathBuf; 2]>,
    /// The sandbox child's pid, once it exists.
    pub on_spawn: &'a mut dyn FnMut(Pid),
    /// The task exec'd.
    pub on_start: &'a mut dyn FnMut(),
}

/// Run the task as `sup` says; returns when it has ended.
pub fn run_supervised(
    req: &RunRequest<'_>,
    sup: Supervision<'_>,
) -> Result<RunResult, SandboxError> {
    run_with(req, Stdio3::Logs, Vec::new(), Vec::new(), None, Some(sup))
}

fn run_with(
    req: &RunRequest<'_>,
    stdio: Stdio3,
    extra_binds: Vec<(PathBuf, String)>,
    args_override: Vec<String>,
    mut launch: Option<Launch>,
    mut sup: Option<Supervision<'_>>,
) -> Result<RunResult, SandboxError> {
    let interactive = matches!(stdio, Stdio3::Terminal);
    let rootless = !nix::unistd::geteuid().is_root();
    let mut enforced: BTreeMap<String, String> = BTreeMap::new();
    let mut findings = Vec::new();
    let start_failure = |msg: String, nomad: String| Finding {
        ..Finding::error(Kind::Run, Cause::StartFailure, req.argv0.clone())
            .message(msg)
            .nomad_error(nomad)
    };

    // Capabilities are validated by the driver before anything runs
    // (hashicorp/nomad:drivers/exec/driver.go StartTask).
    let allow: Vec<String> = match &req.client.allow_caps {
        Some(a) => a.clone(),
        None => crate::nomad::DEFAULT_ALLOW_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let caps = match plan::calculate_caps(&allow, &req.task.cap_add, &req.task.cap_drop) {
        Ok(c) => c,
        Err(msg) => {
            findings.push(start_failure(msg.clone(), msg).hint(
                "remove the capability from cap_add, or add it to the exec plugin's allow_caps",
            ));
            return Ok(RunResult {
                outcome: RunOutcome::default(),
                findings,
            });
        }
    };

    let user = req.task.user.clone();
    let host_user = crate::taskenv::HostUser::lookup(&user);
    let identity = if req.version.resolves_user_in_chroot() {
        Identity::InChroot { user: user.clone() }
    } else {
        match &host_user {
            // runc 1.4 setupUser: setgroups([]), setgid(0), setuid(uid) (PR #27092).
            Some(u) => Identity::Host { uid: u.uid, gid: 0 },
            None => {
                let msg = format!("failed to identify user {user:?}: user: unknown user {user}");
                findings.push(
                    start_failure(msg.clone(), format!("{DRIVER_FAILURE}{msg}")).hint(
                        "Nomad ≥ 1.11.1 resolves the task user on the client host: create it there",
                    ),
                );
                return Ok(RunResult {
                    outcome: RunOutcome::default(),
                    findings,
                });
            }
        }
    };
    enforced.insert(
        "user".into(),
        match &identity {
            Identity::Host { uid, .. } => format!("applied: {user} = host uid {uid}, gid 0"),
            Identity::InChroot { .. } => {
                format!("applied: {user} resolved in the chroot's /etc/passwd")
            }
        },
    );

    let idmap = if rootless {
        let (inside_uid, inside_gid) = match &identity {
            Identity::Host { uid, gid } => (*uid, *gid),
            Identity::InChroot { user } => chroot_passwd(req.taskdir)
                .and_then(|p| plan::passwd_lookup(&p, user))
                .unwrap_or((65534, 65534)),
        };
        enforced.insert(
            "userns".into(),
            format!(
                "applied: rootless, uid {inside_uid} → {}, gid {inside_gid} → {}; supplementary groups skipped",
                nix::unistd::geteuid(),
                nix::unistd::getegid()
            ),
        );
        Some(IdMap {
            inside_uid,
            outside_uid: nix::unistd::geteuid().as_raw(),
            inside_gid,
            outside_gid: nix::unistd::getegid().as_raw(),
        })
    } else {
        None
    };

    let log_paths = sup
        .as_mut()
        .and_then(|s| s.logs.take())
        .unwrap_or_else(|| plan::log_paths(req.taskdir));
    // The cgroup, made by the prelaunch (ahead) or now, before the init is forked: the
    // init enters it before it execs (see the cgroup module), so every process of the
    // task is born inside.
    let TaskCgroup {
        cgroup,
        enforced: cg_enforced,
    } = launch
        .as_mut()
        .and_then(|l| l.cgroup.take())
        .unwrap_or_else(|| task_cgroup(req.task, req.run.pids_limit));
    enforced.extend(cg_enforced);
    // Removes the cgroup on every way out of this function.
    struct CgGuard(Option<cgroup::Cgroup>);
    impl Drop for CgGuard {
        fn drop(&mut self) {
            if let Some(cg) = &self.0 {
                cg.destroy();
            }
        }
    }
    let mut cg_guard = CgGuard(cgroup);

    let mut setup = Setup::build(SetupInput {
        alloc_dir: req.taskdir.removable(),
        task: req.task,
        run: req.run,
        version: req.version,
        client: req.client,
        rootless: idmap,
        cgroups: cg_guard
            .0
            .as_ref()
            .map(|c| c.dirs.clone())
            .unwrap_or_default(),
        interactive,
    });
    if let Some(s) = &sup {
        if s.until_stopped {
            setup.lifecycle = plan::Lifecycle::Supervised;
        }
        if let Some(ns) = &s.netns {
            setup.net = plan::NetMode::Join(ns.clone());
        }
        if let Some(dir) = &s.remove_on_orphan {
            setup.remove_on_orphan = Some(dir.clone());
        }
    }
    // A child started ahead with this same setup has its namespaces and init ready;
    // one with another (which `check::run` never makes) is dropped unused.
    let prelaunched = launch.is_some();
    let mut launch = match launch {
        Some(l) if l.setup.as_ref().is_none_or(|s| *s == setup) => l,
        _ => Launch::spawn((!interactive).then_some(&log_paths))?,
    };
    let env: Vec<String> = req.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut task = req.task.clone();
    if !args_override.is_empty() {
        task.args = args_override;
    }
    let init = InitPlan::build(
        InitInput {
            taskdir: req.taskdir,
            task: &task,
            run: req.run,
            version: req.version,
            env,
            argv0: req.argv0.clone(),
            identity,
            caps: caps.clone(),
            extra_binds,
        },
        &setup,
    );
    record_plan(&setup, &init, req, &caps, &mut enforced);

    let [out_path, err_path] = log_paths;
    let sent = match launch.setup.is_some() {
        true => Ok(()),
        false => launch.send(&setup),
    }
    .and_then(|()| launch.send(&init));
    let (child, plan_w, result_r) = launch.into_parts();
    tracing::debug!(%child, ahead = prelaunched, "plan sent to the sandbox child");
    drop(plan_w);
    if let Some(s) = sup.as_mut() {
        (s.on_spawn)(child);
    }
    // From here the child removes the cgroup if we are interrupted (it holds the plan);
    // our signal handler must not race it, nor kill the task behind its back.
    for d in cg_guard.0.iter().flat_map(|c| &c.dirs) {
        crate::cleanup::unregister_undo(d);
    }
    // The child enforces the task's deadlines; this one only guards against the child
    // itself hanging.
    let guard = setup
        .lifecycle
        .limit()
        .map(|l| l + Duration::from_millis(setup.kill_timeout_ms) + Duration::from_secs(30));
    let mut on_line = |line: &[u8]| {
        if let (Some(s), Ok(child::Progress::Started { .. })) = (
            sup.as_mut(),
            serde_json::from_slice::<child::Progress>(line),
        ) {
            (s.on_start)();
        }
    };
    let reply = read_reply(result_r, guard, &mut on_line);
    if reply.is_none() {
        let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        reap(child);
    }
    let reply = reply.unwrap_or_default();
    tracing::debug!(bytes = reply.len(), "the sandbox child reported");
    let oom = cg_guard.0.as_ref().is_some_and(|c| c.oom_killed());
    // The task is gone, so its group is empty. Removing it (three rmdirs on v1) runs
    // beside the rest of the check, the work dir's removal and the report; the process
    // waits for it before exiting (cleanup::finish), and an interruption removes it
    // meanwhile. So does reaping the child, whose exit is the teardown of the task's
    // mount namespace (see child::child_main): that one nobody waits for.
    let cgroup = cg_guard.0.take();
    for d in cgroup.iter().flat_map(|c| &c.dirs) {
        crate::cleanup::register_undo(d, cgroup::remove_dir);
    }
    crate::cleanup::in_background(move || {
        if let Some(cg) = cgroup {
            cg.destroy();
        }
        if let Ok(WaitStatus::StillAlive) = waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            std::thread::spawn(move || reap(child));
        }
    });
    // A child that failed early (e.g. no user namespace) reports why and stops reading
    // the plan: its report explains a failed send.
    let report: ChildReport = match serde_json::from_slice(&reply) {
        Ok(r) => r,
        Err(e) => {
            sent.map_err(io_err("cannot send the plan to the sandbox child"))?;
            return Err(SandboxError::Setup(format!(
                "the sandbox child sent no report ({e}); see `{}`",
                err_path.display()
            )));
        }
    };
    let mut outcome = RunOutcome {
        enforced,
        ..RunOutcome::default()
    };
    let ran = match report {
        ChildReport::Unavailable(m) => return Err(SandboxError::Unavailable(m)),
        ChildReport::SetupFailed(m) => return Err(SandboxError::Setup(m)),
        ChildReport::StartFailed(m) => {
            outcome.stderr_tail = tail(&err_path);
            findings.push(start_failure(
                m.clone(),
                format!("{DRIVER_FAILURE}{RUNC_INIT}{m}"),
            ));
            return Ok(RunResult { outcome, findings });
        }
        ChildReport::Ran(r) => r,
    };
    if let Some(e) = &ran.cgroup_failed {
        for k in ["cgroup.memory", "cgroup.cpu", "cgroup.pids"] {
            outcome.enforced.insert(k.into(), format!("skipped: {e}"));
        }
    }
    for n in &ran.notes {
        if let Some((what, why)) = n.split_once(": ") {
            outcome
                .enforced
                .insert(format!("mount{what}"), why.to_owned());
        }
    }
    outcome.exit_code = ran.exit_code;
    outcome.signal = ran
        .signal
        .and_then(|s| Signal::try_from(s).ok())
        .map(|s| s.as_str().to_owned());
    outcome.timed_out = ran.timed_out;
    outcome.still_running = ran.still_running;
    // Nomad reports the cgroup's OOM event, whichever of the task's processes it hit
    // (libcontainer NotifyOOM → ExitResult.OOMKilled).
    outcome.oom_killed = oom;
    outcome.duration_ms = ran.duration_ms;
    outcome.stdout_tail = tail(&out_path);
    outcome.stderr_tail = tail(&err_path);
    if ran.trace_truncated {
        outcome.enforced.insert(
            "trace".into(),
            "applied, truncated after 100000 misses".into(),
        );
    }
    findings.extend(outcome_findings(req, &outcome, &ran));
    let failed = findings.iter().any(|f| f.severity == Severity::Error);
    findings.extend(misses::findings(&ran.misses, &outcome, failed, &req.argv0));
    Ok(RunResult { outcome, findings })
}

/// The task's cgroup with Nomad's limits (none when rootless or without a cgroup
/// filesystem), and what the report's `run.enforced` says about it.
struct TaskCgroup {
    cgroup: Option<cgroup::Cgroup>,
    enforced: BTreeMap<String, String>,
}

/// Make the task's cgroup, sweeping those of dead checkers first.
fn task_cgroup(task: &TaskSpec, pids_limit: u64) -> TaskCgroup {
    let mut enforced = BTreeMap::new();
    let skipped = |enforced: &mut BTreeMap<String, String>, why: &str| {
        for k in ["cgroup.memory", "cgroup.cpu", "cgroup.pids"] {
            enforced.insert(k.to_owned(), format!("skipped: {why}"));
        }
    };
    if !nix::unistd::geteuid().is_root() {
        skipped(&mut enforced, "rootless, no cgroup delegation");
        return TaskCgroup {
            cgroup: None,
            enforced,
        };
    }
    let Some(version) = cgroup::detect() else {
        skipped(&mut enforced, "no cgroup filesystem");
        return TaskCgroup {
            cgroup: None,
            enforced,
        };
    };
    cgroup::sweep();
    let mb = 1024 * 1024;
    let (memory_max, memory_low) = match task.memory_max_mb {
        Some(max) if max > task.memory_mb => (max * mb, Some(task.memory_mb * mb)),
        _ => (task.memory_mb * mb, None),
    };
    let limits = cgroup::Limits {
        memory_max,
        memory_low,
        cpu_shares: task.cpu_mhz.max(2),
        pids_max: pids_limit,
    };
    let cgroup = match cgroup::Cgroup::create(version, &limits, &mut enforced) {
        Ok(cg) => Some(cg),
        Err(e) => {
            skipped(&mut enforced, &format!("cannot create a cgroup: {e}"));
            None
        }
    };
    if let Some(p) = enforced.get_mut("cgroup.pids") {
        if p == "applied" {
            *p = format!("applied: pids.max = {pids_limit} (beyond Nomad)");
        }
    }
    TaskCgroup { cgroup, enforced }
}

/// A `__sandbox-child` started ahead of its plan. Starting it (spawn, exec of our own
/// binary, the loader, the runtime) and, as root, its namespaces and init take a few
/// milliseconds that need nothing of the unpacked task: [`Prelaunch`] does it while the
/// bundle is unpacked and analysed.
pub struct Launch {
    child: Option<Pid>,
    plan_w: Option<fs::File>,
    result_r: Option<std::os::fd::OwnedFd>,
    /// The task's cgroup, when the prelaunch made it too.
    cgroup: Option<TaskCgroup>,
    /// The setup sent ahead, if any: the child has acted on it.
    setup: Option<Setup>,
}

impl Launch {
    /// Start the child. With `logs` (the task's `alloc/logs` files), its stdout and
    /// stderr are those files, which the init and the task inherit, as the executor
    /// gets logmon's; without (`shell`), it keeps our terminal. Its stdin is /dev/null
    /// unless interactive.
    pub fn spawn(logs: Option<&[PathBuf; 2]>) -> Result<Launch, SandboxError> {
        let (plan_r, plan_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|e| SandboxError::Setup(format!("pipe2(O_CLOEXEC): {e}")))?;
        let (result_r, result_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|e| SandboxError::Setup(format!("pipe2(O_CLOEXEC): {e}")))?;
        // Our own binary, unless NOMAD_CHROOT_CHECK_EXE names another copy of it (tests
        // whose own binary is a test harness).
        let exe = std::env::var_os("NOMAD_CHROOT_CHECK_EXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
        // Appended to, as logmon's rotator opens the newest file of the set.
        let open = |p: &PathBuf| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(io_err(format!("cannot open `{}`", p.display())))
        };
        let logs = match logs {
            Some([out, err]) => Some((open(out)?, open(err)?)),
            None => None,
        };
        let stdio = match &logs {
            Some((out, err)) => [
                sys::Stdio::Null,
                sys::Stdio::Fd(out.as_fd()),
                sys::Stdio::Fd(err.as_fd()),
            ],
            None => [
                sys::Stdio::Inherit,
                sys::Stdio::Inherit,
                sys::Stdio::Inherit,
            ],
        };
        let (plan_fd, result_fd) = (
            plan_r.as_raw_fd().to_string(),
            result_w.as_raw_fd().to_string(),
        );
        let parent = std::process::id().to_string();
        let child = sys::spawn(
            &exe,
            &[
                "__sandbox-child",
                "--plan-fd",
                &plan_fd,
                "--result-fd",
                &result_fd,
            ],
            // Names the checker this child belongs to (for `ps e` and leftover checks).
            &[("NOMAD_CHROOT_CHECK_PARENT", &parent)],
            stdio,
            &[plan_r.as_raw_fd(), result_w.as_raw_fd()],
        )
        .map_err(|e| {
            SandboxError::Setup(format!(
                "cannot start `{} __sandbox-child`: {e}",
                exe.display()
            ))
        })?;
        Ok(Launch {
            child: Some(child),
            plan_w: Some(fs::File::from(plan_w)),
            result_r: Some(result_r),
            cgroup: None,
            setup: None,
        })
    }

    /// Send one frame of the plan (see `child::child_main`).
    fn send(&mut self, part: &impl serde::Serialize) -> std::io::Result<()> {
        let text = serde_json::to_vec(part)?;
        let w = self.plan_w.as_mut().ok_or(std::io::ErrorKind::BrokenPipe)?;
        let mut frame = (text.len() as u64).to_le_bytes().to_vec();
        frame.extend_from_slice(&text);
        w.write_all(&frame)
    }

    fn into_parts(mut self) -> (Pid, fs::File, std::os::fd::OwnedFd) {
        match (self.child.take(), self.plan_w.take(), self.result_r.take()) {
            (Some(c), Some(p), Some(r)) => (c, p, r),
            _ => unreachable!("a Launch is taken apart once, by into_parts"),
        }
    }
}

impl Drop for Launch {
    /// Unused: end of file on the plan pipe makes the child (and its init, if the setup
    /// was sent) exit at once.
    fn drop(&mut self) {
        drop(self.plan_w.take());
        if let Some(c) = self.child.take() {
            reap(c);
        }
        if let Some(TaskCgroup {
            cgroup: Some(cg), ..
        }) = self.cgroup.take()
        {
            cg.destroy();
        }
    }
}

/// A [`Launch`] being started on a thread of its own, for a check that will run its
/// task: the child starts, with the task's log files created (Nomad's logmon hook
/// creates them before the artifact hook runs), and the task's cgroup is made, while
/// the bundle is unpacked.
pub struct Prelaunch(Option<std::thread::JoinHandle<Result<Launch, SandboxError>>>);

impl Prelaunch {
    pub fn start(
        taskdir: &TaskDir,
        task: &TaskSpec,
        run: &RunOptions,
        client: &ClientConfig,
        version: NomadVersion,
    ) -> Prelaunch {
        let (alloc_dir, task, run, client) = (
            taskdir.removable().to_path_buf(),
            task.clone(),
            run.clone(),
            client.clone(),
        );
        let logs = plan::log_paths(taskdir);
        Prelaunch(Some(std::thread::spawn(move || {
            let cgroup = task_cgroup(&task, run.pids_limit);
            let mut l = Launch::spawn(Some(&logs))?;
            // As root the setup is known now; rootless, the user namespace's id map may
            // come from the chroot's /etc/passwd, so it waits for the plan.
            if nix::unistd::geteuid().is_root() {
                let setup = Setup::build(SetupInput {
                    alloc_dir: &alloc_dir,
                    task: &task,
                    run: &run,
                    version,
                    client: &client,
                    rootless: None,
                    cgroups: cgroup
                        .cgroup
                        .as_ref()
                        .map(|c| c.dirs.clone())
                        .unwrap_or_default(),
                    interactive: false,
                });
                if l.send(&setup).is_ok() {
                    l.setup = Some(setup);
                }
            }
            l.cgroup = Some(cgroup);
            Ok(l)
        })))
    }

    /// The started child; `None` if starting it failed (the run then starts one
    /// itself, and reports why that fails).
    pub fn take(mut self) -> Option<Launch> {
        self.0.take()?.join().ok()?.ok()
    }
}

impl Drop for Prelaunch {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// The run's own findings: exit code, signal, OOM, timeout, service health.
fn outcome_findings(req: &RunRequest<'_>, o: &RunOutcome, ran: &child::Ran) -> Vec<Finding> {
    let argv0 = req.argv0.clone();
    let last_lines = |s: &str| {
        let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join("\n")
    };
    let stderr = last_lines(&o.stderr_tail);
    let with_stderr = |m: String| {
        if stderr.is_empty() {
            m
        } else {
            format!("{m}; stderr: {stderr}")
        }
    };
    let mut out = Vec::new();
    if o.oom_killed {
        let limit = req.task.memory_max_mb.unwrap_or(req.task.memory_mb);
        out.push(
            Finding::error(Kind::Run, Cause::Oom, argv0)
                .exit_code(o.exit_code.unwrap_or(137))
                .message(format!("the task was OOM-killed at its memory limit of {limit} MB (Nomad: oom_killed=true)"))
                .hint("raise resources.memory (or set memory_max), or make the task use less"),
        );
        return out;
    }
    if o.timed_out {
        out.push(
            Finding::error(Kind::Run, Cause::Timeout, argv0)
                .message(format!(
                    "still running after --timeout {}s; stopped with {} (the timeout is ours: Nomad gives batch tasks no deadline)",
                    req.run.timeout.as_secs_f64(),
                    req.run.kill_signal
                ))
                .hint("raise --timeout, or use --type service for a long-running task"),
        );
        return out;
    }
    if o.still_running {
        return out;
    }
    if !ran.orphans.is_empty() {
        // Nomad's task ends with its main process: PID 1 of the task's namespace takes
        // the rest with it (with `pid_mode = "host"`, the executor kills the cgroup).
        let n = ran.orphans.len();
        let names: Vec<String> = ran
            .orphans
            .iter()
            .map(|o| format!("`{}` (pid {})", o.command, o.pid))
            .collect();
        let what = if n == 1 {
            "1 descendant was still running when the main process exited and was killed with the task".to_owned()
        } else {
            format!(
                "{n} descendants were still running when the main process exited and were killed with the task"
            )
        };
        out.push(
            Finding::warning(Kind::Run, Cause::OrphanedProcess, argv0.clone())
                .message(format!("{what}: {}", names.join(", ")))
                .hint(match req.run.job_type {
                    JobType::Batch => "under Nomad a task ends with its main process: wait for the background work (`wait`), or run the daemon in the foreground as its own task (a `service` job or a poststart sidecar)",
                    JobType::Service => "run the daemon in the foreground (no fork, no setsid) so Nomad supervises it",
                }),
        );
    }
    let code = o.exit_code.unwrap_or(0);
    let cause = if ran.signal.is_some() {
        Cause::Signal
    } else {
        Cause::ExitCode
    };
    match req.run.job_type {
        JobType::Batch if code != 0 => out.push(
            Finding::error(Kind::Run, cause, argv0)
                .exit_code(code)
                .message(with_stderr(match &o.signal {
                    Some(s) => format!("the task was killed by {s} (exit code {code})"),
                    None => format!("the task exited with code {code}"),
                })),
        ),
        JobType::Service => out.push(
            Finding::error(Kind::Run, cause, argv0)
                .exit_code(code)
                .message(with_stderr(format!(
                    "the service exited with code {code} after {} ms, before --healthy-after {}s (Nomad restarts it)",
                    o.duration_ms,
                    req.run.healthy_after.as_secs_f64()
                ))),
        ),
        _ => {}
    }
    out
}

fn record_plan(
    setup: &Setup,
    init: &InitPlan,
    req: &RunRequest<'_>,
    caps: &[String],
    e: &mut BTreeMap<String, String>,
) {
    let ns = |on: bool, why: &str| {
        if on {
            "applied".to_owned()
        } else {
            format!("skipped: {why}")
        }
    };
    e.insert("mount-ns".into(), "applied".into());
    e.insert("pivot_root".into(), "applied".into());
    e.insert(
        "pid-ns".into(),
        ns(setup.pid_ns, "pid_mode = \"host\" (or Nomad < 1.0.3)"),
    );
    e.insert(
        "ipc-ns".into(),
        ns(setup.ipc_ns, "ipc_mode = \"host\" (or Nomad < 1.0.3)"),
    );
    e.insert(
        "net-ns".into(),
        match setup.net {
            plan::NetMode::Host => "skipped: host network, as Nomad without bridge mode".into(),
            plan::NetMode::None => "applied: own namespace, loopback down".into(),
            plan::NetMode::Bridge => {
                "applied: own namespace, loopback up (no veth, no outside access)".into()
            }
            plan::NetMode::Join(_) => {
                "applied: the allocation's namespace (veth on the run's bridge)".into()
            }
        },
    );
    e.insert(
        "caps".into(),
        if init.caps.ambient {
            format!("applied: {}", caps.join(","))
        } else {
            format!(
                "applied: bounding set only (Nomad {} < 1.5.6): {}",
                req.version,
                caps.join(",")
            )
        },
    );
    e.insert(
        "no_new_privs".into(),
        ns(init.no_new_privs, "as Nomad (use --harden)"),
    );
    e.insert(
        "seccomp".into(),
        ns(init.seccomp, "as Nomad (use --harden)"),
    );
    e.insert(
        "timeout".into(),
        match setup.lifecycle {
            plan::Lifecycle::Batch { timeout_ms } => {
                format!("applied: {timeout_ms} ms (beyond Nomad)")
            }
            plan::Lifecycle::Service { healthy_ms } => {
                format!("applied: healthy after {healthy_ms} ms")
            }
            plan::Lifecycle::Interactive => "skipped: interactive".into(),
            plan::Lifecycle::Supervised => "skipped: runs until the job run stops it".into(),
        },
    );
    e.insert(
        "trace".into(),
        if setup.trace {
            "applied".into()
        } else if !req.run.trace {
            "skipped: --no-trace".into()
        } else {
            "skipped: not supported on this architecture".into()
        },
    );
}

/// The chroot's `/etc/passwd` as the task will see it: the artifact's, else the
/// chroot_env layer's.
fn chroot_passwd(td: &TaskDir) -> Option<String> {
    let own = td.root.join("etc/passwd");
    if own.exists() {
        return fs::read_to_string(own).ok();
    }
    for l in td.layers() {
        if let Ok(rest) = Path::new("/etc/passwd").strip_prefix(&l.dest) {
            let p = if rest.as_os_str().is_empty() {
                l.src.clone()
            } else {
                l.src.join(rest)
            };
            if let Ok(t) = fs::read_to_string(p) {
                return Some(t);
            }
        }
    }
    None
}

/// Wait for the sandbox child to exit.
fn reap(child: Pid) {
    while let Err(nix::errno::Errno::EINTR) = waitpid(child, None) {}
}

/// Read the child's report until EOF; `None` if `within` passes first. Lines before
/// it (a supervised child's [`child::Progress`]) go to `on_line` as they arrive; the
/// report is what follows the last newline.
fn read_reply(
    fd: std::os::fd::OwnedFd,
    within: Option<Duration>,
    on_line: &mut dyn FnMut(&[u8]),
) -> Option<Vec<u8>> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let until = within.map(|d| std::time::Instant::now() + d);
    let mut file = fs::File::from(fd);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let timeout = match until {
            Some(u) => {
                let left = u.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return None;
                }
                PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return Some(out),
        }
        match file.read(&mut buf) {
            Ok(0) => return Some(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                while let Some(end) = out.iter().position(|b| *b == b'\n') {
                    on_line(&out[..end]);
                    out.drain(..=end);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Some(out),
        }
    }
}

/// The last 4 KiB of a log file.
fn tail(path: &Path) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// `nomad-chroot-check shell BUNDLE`.
pub fn shell_main(
    args: crate::cli::ShellArgs,
) -> Result<crate::error::ExitCode, crate::error::Error> {
    use crate::error::Error;
    let c = &args.client;
    // A shell is neither a batch job nor a service: flags that choose between them
    // would be accepted and silently ignored.
    let ignored = args.run.lifecycle_flags();
    if !ignored.is_empty() {
        return Err(Error::Usage(format!(
            "{} do{} not apply to `shell`: an interactive shell runs until you leave it",
            ignored.join(", "),
            if ignored.len() == 1 { "es" } else { "" }
        )));
    }
    let (version, client, chroot_env, limits, safety) = c.resolve()?;
    let task = args.run.task_spec(&[])?;
    let mut run = args
        .run
        .run_options(false)?
        .unwrap_or_else(default_run_options);
    run.trace = false;
    let taskdir = TaskDir::build(&task.name, version, chroot_env.clone())?;
    let (host_dest, task_dest) = taskdir.destination(&args.destination)?;
    fs::create_dir_all(&host_dest)
        .map_err(|e| Error::io(format!("cannot create `{}`", host_dest.display()), e))?;
    let summary = crate::archive::extract(&crate::archive::ExtractRequest {
        bundle: &args.bundle,
        source_name: &args.bundle.to_string_lossy(),
        archive: None,
        dest: &host_dest,
        dest_in_task: &task_dest,
        nomad_dest: &taskdir.nomad_client_path(&task_dest),
        mode: c.extract_mode(),
        version,
        limits,
        safety,
        chroot_env: &chroot_env,
    })?;
    if summary.rejected {
        return Err(Error::Usage(format!(
            "Nomad would refuse `{}`; run `nomad-chroot-check {}` for the findings",
            args.bundle.display(),
            args.bundle.display()
        )));
    }
    let host_user = crate::taskenv::HostUser::lookup(&task.user);
    let env = crate::taskenv::build(&task, version, run.agent_env, host_user.as_ref());
    eprintln!(
        "nomad-chroot-check: shell in the task `{}` (task dir `{}`), as user {}; exit to leave",
        task.name,
        taskdir.root.display(),
        task.user
    );
    let result = open_shell(&taskdir, &task, &run, version, &client, env)?;
    for f in &result.findings {
        if f.severity == Severity::Error {
            eprintln!(
                "nomad-chroot-check: {}",
                f.nomad_error
                    .as_deref()
                    .or(f.message.as_deref())
                    .unwrap_or("")
            );
        }
    }
    Ok(match result.outcome.exit_code {
        Some(0) => crate::error::ExitCode::Pass,
        _ => crate::error::ExitCode::Fail,
    })
}

/// Run an interactive shell in the emulated task with this process's terminal (or
/// whatever stdin/stdout/stderr are): the bundle's `/bin/sh` when the task sees one,
/// else the host's static busybox bind-mounted in.
pub fn open_shell(
    taskdir: &TaskDir,
    task: &TaskSpec,
    run: &RunOptions,
    version: NomadVersion,
    client: &ClientConfig,
    mut env: BTreeMap<String, String>,
) -> Result<RunResult, crate::error::Error> {
    use crate::error::Error;
    if let Ok(term) = std::env::var("TERM") {
        env.entry("TERM".into()).or_insert(term);
    }
    let has_sh = fs::symlink_metadata(taskdir.root.join("bin/sh")).is_ok()
        || taskdir.layers().iter().any(|l| {
            Path::new("/bin/sh")
                .strip_prefix(&l.dest)
                .is_ok_and(|rest| l.src.join(rest).exists())
        });
    let (argv0, extra, sh_args) = if has_sh {
        ("/bin/sh".to_owned(), Vec::new(), Vec::new())
    } else {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| {
                Error::Unsupported(
                    "the bundle has no /bin/sh and this host has no static busybox (apt-get install busybox-static)".into(),
                )
            })?;
        (
            SHELL_BUSYBOX.to_owned(),
            vec![(PathBuf::from(busybox), SHELL_BUSYBOX.to_owned())],
            vec!["sh".to_owned()],
        )
    };
    let req = RunRequest {
        taskdir,
        task,
        env: &env,
        run,
        version,
        client,
        argv0,
    };
    Ok(run_with(
        &req,
        Stdio3::Terminal,
        extra,
        sh_args,
        None,
        None,
    )?)
}

/// Where `shell` puts the host's busybox when the bundle has no shell.
pub const SHELL_BUSYBOX: &str = "/.nomad-chroot-check/busybox";

fn default_run_options() -> RunOptions {
    RunOptions {
        agent_env: crate::config::AgentEnv::Default,
        harden: false,
        pids_limit: 4096,
        timeout: Duration::from_secs(60),
        job_type: JobType::Batch,
        healthy_after: Duration::from_secs(3),
        kill_signal: crate::nomad::DEFAULT_KILL_SIGNAL.into(),
        kill_timeout: Duration::from_millis(crate::nomad::DEFAULT_KILL_TIMEOUT_MS),
        trace: false,
    }
}
