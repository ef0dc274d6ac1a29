//! The allocations' task runners and the run's one event loop: tasks start when their
//! lifecycle phase allows, restart as their policy says, and are stopped as Nomad's
//! alloc runner stops them (a failed task takes its siblings with it, so does a dead
//! leader, sidecars follow the main tasks); checks run on their intervals; each
//! allocation's health is judged as Nomad's health tracker judges it
//! (`hashicorp/nomad:client/allochealth/tracker.go`); the job ends healthy, failed, or
//! (with `--keep-running`) when interrupted.
//!
//! Every task runs on a thread of its own inside `sandbox::run_supervised`; threads
//! only send [`Msg`]s, and all state changes here, on the loop's thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};

use super::checks::{self, Probe, Status};
use super::connect::{Catalog, Published};
use super::lifecycle::{Decision, Phase, RestartTracker, Snapshot, Stage, TaskState};
use super::netns::NetNs;
use super::placement::Placement;
use super::report::{Event, go_duration};
use crate::check::Prepared;
use crate::clientconfig::ClientConfig;
use crate::config::JobType;
use crate::finding::{Cause, Finding, Kind, Report, RunOutcome};
use crate::job::PlannedTask;
use crate::nomad::NomadVersion;
use crate::sandbox::{self, Pid, RunRequest, RunResult, Supervision};

pub enum Msg {
    Spawned {
        a: usize,
        t: usize,
        pid: Pid,
    },
    Started {
        a: usize,
        t: usize,
    },
    Exited {
        a: usize,
        t: usize,
        result: Result<RunResult, String>,
    },
    Check {
        a: usize,
        c: usize,
        status: Status,
        output: String,
    },
    Interrupt,
}

/// What does not change while a task runs (shared with its runner thread).
pub struct TaskStatic {
    pub name: String,
    pub stage: Stage,
    pub leader: bool,
    pub planned: PlannedTask,
    pub prepared: Prepared,
    /// The static check's report (unpacking and analysis findings).
    pub static_report: Report,
    /// argv[0] as Nomad's lookup finds it; `None`: the command is not there.
    pub argv0: Option<String>,
    /// Why the task cannot start at all (event type, message), e.g. a refused artifact.
    pub blocked: Option<(&'static str, String)>,
    pub kill_timeout: Duration,
}

pub struct TaskRt {
    pub stat: Arc<TaskStatic>,
    pub state: TaskState,
    pub failed: bool,
    pub successful: bool,
    /// The sandbox child of the current attempt.
    pub monitor: Option<Pid>,
    /// A runner thread is live (from start until its `Exited`).
    pub busy: bool,
    pub restart: RestartTracker,
    pub restart_at: Option<Instant>,
    pub started_at: Option<Instant>,
    pub kill_sent: bool,
    pub exit_code: Option<i32>,
    /// Runtime findings of every attempt, without repeats.
    pub findings: Vec<Finding>,
    pub last_run: Option<RunOutcome>,
}

pub struct CheckRt {
    pub service: String,
    pub name: String,
    pub kind: String,
    pub probe: Probe,
    pub target: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub status: Status,
    pub output: String,
    pub next_at: Instant,
    pub in_flight: bool,
    pub runs: u64,
}

pub struct AllocRt {
    pub p: Placement,
    pub group_name: String,
    pub ns: Option<Arc<NetNs>>,
    pub tasks: Vec<TaskRt>,
    pub phase: Phase,
    pub checks: Vec<CheckRt>,
    pub created: Instant,
    pub min_healthy: Duration,
    pub deadline: Duration,
    /// `update { health_check = "checks" }` (the default) rather than `task_states`.
    pub use_checks: bool,
    pub health: Option<bool>,
    pub health_msg: Option<String>,
    pub checks_passing_since: Option<Instant>,
    /// A task-less gateway allocation: when its (emulated) Envoy task started.
    pub gateway_since: Option<Instant>,
    pub stopping: bool,
    pub forwarders: Vec<Published>,
    /// When judged unhealthy: the tasks that kept it from health, and how.
    pub blame: Vec<(usize, String)>,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Healthy,
    Complete,
    Unhealthy(String),
    Failed(String),
    Deadline(String),
    Interrupted,
    Error(String),
}

pub struct Runner {
    pub allocs: Vec<AllocRt>,
    pub events: Vec<Event>,
    pub t0: Instant,
    pub unix0: u64,
    pub tx: Sender<Msg>,
    pub rx: Receiver<Msg>,
    pub catalog: Catalog,
    pub job_name: String,
    pub job_type: String,
    pub run_dir: PathBuf,
    pub version: NomadVersion,
    pub client: ClientConfig,
    pub keep_running: bool,
    /// Batch jobs: stop after this long.
    pub batch_limit: Duration,
    /// Says where the job can be reached once healthy (`--keep-running`).
    pub on_healthy: Box<dyn FnMut(&Runner)>,
}

impl Runner {
    pub fn event(&mut self, a: Option<usize>, t: Option<usize>, kind: &str, message: String) {
        let at = self.t0.elapsed();
        let alloc = a.map(|a| self.allocs[a].p.name.clone()).unwrap_or_default();
        let task = t.and_then(|t| a.map(|a| self.allocs[a].tasks[t].stat.name.clone()));
        tracing::debug!(
            "+{:.2}s {alloc} {task:?} {kind}: {message}",
            at.as_secs_f64()
        );
        self.events.push(Event {
            at_ms: at.as_millis() as u64,
            unix_ms: self.unix0 + at.as_millis() as u64,
            alloc,
            task,
            kind: kind.to_owned(),
            message,
        });
    }

    /// The loop. Returns when the job's outcome is known and every task has stopped.
    pub fn run(&mut self) -> Outcome {
        let mut outcome: Option<Outcome> = None;
        let mut announced = false;
        loop {
            let now = Instant::now();
            self.step(now);
            if outcome.is_none() {
                outcome = self.judge(now);
                if outcome == Some(Outcome::Healthy) && self.keep_running {
                    if !announced {
                        announced = true;
                        self.event(
                            None,
                            None,
                            "Deployment",
                            "every allocation is healthy; running until Ctrl-C".into(),
                        );
                        let mut f = std::mem::replace(&mut self.on_healthy, Box::new(|_| {}));
                        f(self);
                        self.on_healthy = f;
                    }
                    outcome = None;
                }
                if let Some(o) = &outcome {
                    let (kind, msg) = match o {
                        Outcome::Healthy => {
                            ("Deployment", "every allocation is healthy".to_owned())
                        }
                        Outcome::Complete => {
                            ("Job Complete", "every task completed successfully".into())
                        }
                        Outcome::Unhealthy(m)
                        | Outcome::Failed(m)
                        | Outcome::Deadline(m)
                        | Outcome::Error(m) => ("Job Failed", m.clone()),
                        Outcome::Interrupted => ("Interrupted", "stopping the job".into()),
                    };
                    self.event(None, None, kind, msg);
                    self.stop_all();
                }
            }
            if outcome.is_some() && self.all_stopped() {
                return outcome.unwrap_or(Outcome::Interrupted);
            }
            let wait = self
                .next_timer(now)
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(500))
                .clamp(Duration::from_millis(5), Duration::from_millis(500));
            match self.rx.recv_timeout(wait) {
                Ok(m) => {
                    if let Some(o) = self.handle(m) {
                        if outcome.is_none() {
                            outcome = Some(o);
                            self.event(None, None, "Interrupted", "stopping the job".into());
                            self.stop_all();
                        }
                    }
                    // Drain what else is there before stepping again.
                    while let Ok(m) = self.rx.try_recv() {
                        if let Some(o) = self.handle(m) {
                            if outcome.is_none() {
                                outcome = Some(o);
                                self.event(None, None, "Interrupted", "stopping the job".into());
                                self.stop_all();
                            }
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Outcome::Error("lost the runner channel".into());
                }
            }
        }
    }

    fn next_timer(&self, now: Instant) -> Option<Instant> {
        let mut t: Vec<Instant> = Vec::new();
        for a in &self.allocs {
            t.extend(a.tasks.iter().filter_map(|t| t.restart_at));
            t.extend(a.checks.iter().filter(|c| !c.in_flight).map(|c| c.next_at));
            if a.health.is_none() {
                t.push(a.created + a.deadline);
                t.push(now + Duration::from_millis(200));
            }
        }
        t.into_iter().min()
    }

    fn handle(&mut self, m: Msg) -> Option<Outcome> {
        match m {
            Msg::Spawned { a, t, pid } => {
                let tr = &mut self.allocs[a].tasks[t];
                tr.monitor = Some(pid);
                if tr.kill_sent {
                    let _ = kill(pid, Signal::SIGTERM);
                }
            }
            Msg::Started { a, t } => {
                let tr = &mut self.allocs[a].tasks[t];
                tr.state = TaskState::Running;
                tr.started_at = Some(Instant::now());
                self.event(Some(a), Some(t), "Started", "Task started by client".into());
            }
            Msg::Exited { a, t, result } => self.on_exit(a, t, result),
            Msg::Check {
                a,
                c,
                status,
                output,
            } => self.on_check(a, c, status, output),
            Msg::Interrupt => return Some(Outcome::Interrupted),
        }
        None
    }

    /// Start what may start, stop what must stop, run due checks.
    fn step(&mut self, now: Instant) {
        for a in 0..self.allocs.len() {
            self.siblings(a);
            let snaps: Vec<Snapshot> = self.allocs[a]
                .tasks
                .iter()
                .map(|t| Snapshot {
                    stage: t.stat.stage,
                    state: t.state,
                    successful: t.successful,
                })
                .collect();
            let phase = super::lifecycle::next_phase(self.allocs[a].phase, &snaps);
            self.allocs[a].phase = phase;
            for t in 0..self.allocs[a].tasks.len() {
                let tr = &self.allocs[a].tasks[t];
                let stopping = self.allocs[a].stopping && tr.stat.stage != Stage::Poststop;
                if tr.state == TaskState::Pending
                    && !tr.busy
                    && !stopping
                    && phase.allows(tr.stat.stage)
                    && tr.restart_at.is_none_or(|r| r <= now)
                {
                    self.start_task(a, t);
                }
            }
            for c in 0..self.allocs[a].checks.len() {
                let ch = &self.allocs[a].checks[c];
                if !self.allocs[a].stopping && !ch.in_flight && ch.next_at <= now {
                    self.run_check(a, c);
                }
            }
            self.health(a, now);
        }
    }

    /// `allocRunner.handleTaskStateUpdates`: a failed task or a dead leader stops the
    /// others; sidecars alone are stopped once the main tasks are gone.
    fn siblings(&mut self, a: usize) {
        let alloc = &self.allocs[a];
        let mut reason: Option<(&str, String)> = None;
        let mut live = Vec::new();
        for (i, t) in alloc.tasks.iter().enumerate() {
            if t.stat.stage == Stage::Poststop {
                continue;
            }
            if t.state != TaskState::Dead {
                live.push(i);
                continue;
            }
            if t.failed {
                if reason.is_none() {
                    reason = Some((
                        "Sibling Task Failed",
                        format!("Task's sibling \"{}\" failed", t.stat.name),
                    ));
                }
            } else if t.stat.leader {
                reason = Some(("Leader Task Dead", "Leader Task in Group dead".into()));
            }
        }
        let live: Vec<usize> = live
            .into_iter()
            .filter(|&i| !alloc.tasks[i].kill_sent)
            .collect();
        if live.is_empty() {
            return;
        }
        let has_sidecars = alloc.tasks.iter().any(|t| t.stat.stage.is_sidecar());
        if reason.is_none()
            && has_sidecars
            && live.iter().all(|&i| alloc.tasks[i].stat.stage.is_sidecar())
        {
            reason = Some(("Main Tasks Dead", "Main tasks in the group died".into()));
        }
        if let Some((kind, msg)) = reason {
            for i in live {
                self.event(Some(a), Some(i), kind, msg.clone());
                self.kill_task(a, i);
            }
        }
    }

    fn start_task(&mut self, a: usize, t: usize) {
        let stat = self.allocs[a].tasks[t].stat.clone();
        self.allocs[a].tasks[t].restart_at = None;
        if let Some((kind, msg)) = &stat.blocked {
            let tr = &mut self.allocs[a].tasks[t];
            tr.state = TaskState::Dead;
            tr.failed = true;
            let (kind, msg) = (*kind, msg.clone());
            self.event(Some(a), Some(t), kind, msg);
            self.event(
                Some(a),
                Some(t),
                "Not Restarting",
                "Error was unrecoverable".into(),
            );
            return;
        }
        let Some(argv0) = stat.argv0.clone() else {
            let msg = stat
                .static_report
                .findings
                .iter()
                .find(|f| f.cause == Cause::Command)
                .and_then(|f| f.nomad_error.clone().or(f.message.clone()))
                .unwrap_or_else(|| "the command is not in the task".into());
            self.allocs[a].tasks[t].busy = true;
            let _ = self.tx.send(Msg::Exited {
                a,
                t,
                result: Ok(RunResult {
                    outcome: RunOutcome::default(),
                    findings: vec![Finding::error(Kind::Run, Cause::StartFailure, argv0_or(&stat))
                        .nomad_error(format!(
                            "failed to launch command with executor: rpc error: code = Unknown desc = {msg}"
                        ))],
                }),
            });
            return;
        };
        self.allocs[a].tasks[t].busy = true;
        self.allocs[a].tasks[t].monitor = None;
        let tx = self.tx.clone();
        let ns = self.allocs[a].ns.as_ref().map(|n| n.path());
        let run_dir = self.run_dir.clone();
        let client = self.client.clone();
        let version = self.version;
        std::thread::spawn(move || {
            let Some(mut run) = stat.planned.opts.run.clone() else {
                let _ = tx.send(Msg::Exited {
                    a,
                    t,
                    result: Err("no run options".into()),
                });
                return;
            };
            // The run's own verdict comes from the events: the sandbox only reports
            // the exit, as it does for a batch task.
            run.job_type = JobType::Batch;
            let tx2 = tx.clone();
            let mut on_spawn = move |pid| {
                let _ = tx2.send(Msg::Spawned { a, t, pid });
            };
            let tx3 = tx.clone();
            let mut on_start = move || {
                let _ = tx3.send(Msg::Started { a, t });
            };
            let req = RunRequest {
                taskdir: &stat.prepared.taskdir,
                task: &stat.planned.opts.task,
                env: &stat.planned.env,
                run: &run,
                version,
                client: &client,
                argv0,
            };
            let result = sandbox::run_supervised(
                &req,
                Supervision {
                    until_stopped: true,
                    netns: ns,
                    remove_on_orphan: Some(run_dir),
                    logs: None,
                    on_spawn: &mut on_spawn,
                    on_start: &mut on_start,
                },
            )
            .map_err(|e| e.to_string());
            let _ = tx.send(Msg::Exited { a, t, result });
        });
    }

    /// Stop a task as Nomad does: `Killing`, kill_signal, SIGKILL after kill_timeout.
    fn kill_task(&mut self, a: usize, t: usize) {
        let tr = &mut self.allocs[a].tasks[t];
        if tr.kill_sent || tr.state == TaskState::Dead {
            return;
        }
        tr.kill_sent = true;
        if !tr.busy {
            // Not running (waiting to start or to restart): it just ends.
            tr.state = TaskState::Dead;
            tr.restart_at = None;
            return;
        }
        let timeout = tr.stat.kill_timeout;
        if let Some(pid) = tr.monitor {
            let _ = kill(pid, Signal::SIGTERM);
        }
        self.event(
            Some(a),
            Some(t),
            "Killing",
            format!(
                "Sent interrupt. Waiting {} before force killing",
                go_duration(timeout)
            ),
        );
    }

    fn on_exit(&mut self, a: usize, t: usize, result: Result<RunResult, String>) {
        let now = Instant::now();
        let tr = &mut self.allocs[a].tasks[t];
        tr.busy = false;
        tr.monitor = None;
        let started = tr.state == TaskState::Running;
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                tr.state = TaskState::Dead;
                tr.failed = true;
                self.event(Some(a), Some(t), "Setup Failure", e);
                return;
            }
        };
        let killed = tr.kill_sent;
        for mut f in r.findings {
            // The sandbox makes a failed run's misses errors; a task we stopped did not
            // fail (the allocation's verdict says what its misses mean).
            if killed && f.cause == Cause::Runtime {
                f.severity = crate::finding::Severity::Warning;
            }
            // A task we stopped exits by our signal: that is no finding.
            if killed && matches!(f.cause, Cause::ExitCode | Cause::Signal) {
                continue;
            }
            // What a task looks for in the dirs it writes itself (a database probing
            // its own files) says nothing about the bundle, unless the task failed.
            let own = [
                "/local/",
                "/alloc/",
                "/tmp/",
                "/secrets/",
                "/private/",
                "/dev/",
                "/proc/",
                "/sys/",
            ];
            if f.cause == Cause::Runtime
                && f.severity != crate::finding::Severity::Error
                && own.iter().any(|d| f.path.starts_with(d))
            {
                continue;
            }
            let seen = tr
                .findings
                .iter()
                .any(|g| g.kind == f.kind && g.cause == f.cause && g.path == f.path);
            if !seen {
                tr.findings.push(f);
            }
        }
        tr.exit_code = r.outcome.exit_code;
        let code = r.outcome.exit_code.unwrap_or(0);
        let signal = r.outcome.signal.clone();
        tr.last_run = Some(r.outcome);
        if started {
            let mut m = format!("Exit Code: {code}");
            if let Some(s) = signal.and_then(|s| s.parse::<Signal>().ok()) {
                m.push_str(&format!(", Signal: {}", s as i32));
            }
            self.event(Some(a), Some(t), "Terminated", m);
        } else {
            let msg = self.allocs[a].tasks[t]
                .findings
                .iter()
                .rev()
                .find(|f| f.cause == Cause::StartFailure)
                .and_then(|f| f.nomad_error.clone().or(f.message.clone()))
                .unwrap_or_else(|| "Failed to start task".into());
            self.event(Some(a), Some(t), "Driver Failure", msg);
        }
        let tr = &mut self.allocs[a].tasks[t];
        if killed {
            tr.state = TaskState::Dead;
            self.event(
                Some(a),
                Some(t),
                "Killed",
                "Task successfully killed".into(),
            );
            return;
        }
        let successful = started && code == 0;
        match tr.restart.decide(successful, (!started).then_some(true)) {
            Decision::Restart { delay, reason } => {
                tr.state = TaskState::Pending;
                tr.restart_at = Some(now + delay);
                let within = format!("Task restarting in {}", go_duration(delay));
                let m = if reason == super::lifecycle::REASON_WITHIN_POLICY {
                    within
                } else {
                    format!("{reason} - {within}")
                };
                self.event(Some(a), Some(t), "Restarting", m);
            }
            Decision::NotRestarting { reason } => {
                tr.state = TaskState::Dead;
                tr.failed = true;
                self.event(Some(a), Some(t), "Not Restarting", reason);
            }
            Decision::Terminated => {
                tr.state = TaskState::Dead;
                tr.successful = true;
            }
        }
    }

    fn run_check(&mut self, a: usize, c: usize) {
        let alloc = &mut self.allocs[a];
        let ch = &mut alloc.checks[c];
        ch.next_at = Instant::now() + ch.interval;
        let (probe, timeout) = (ch.probe.clone(), ch.timeout);
        let tx = self.tx.clone();
        match probe {
            Probe::Http {
                target,
                path,
                method,
                https,
                body,
            } => {
                ch.in_flight = true;
                std::thread::spawn(move || {
                    let (status, output) = if https {
                        (Status::Critical, "https checks are not emulated".into())
                    } else {
                        checks::http(&target, &method, &path, body.as_deref(), timeout)
                    };
                    let _ = tx.send(Msg::Check {
                        a,
                        c,
                        status,
                        output,
                    });
                });
            }
            Probe::Tcp { target } => {
                ch.in_flight = true;
                std::thread::spawn(move || {
                    let (status, output) = checks::tcp(&target, timeout);
                    let _ = tx.send(Msg::Check {
                        a,
                        c,
                        status,
                        output,
                    });
                });
            }
            Probe::Script {
                task,
                command,
                args,
            } => {
                // Script checks run in the task, once it runs (the driver's Exec).
                let tr = &alloc.tasks[task];
                if tr.state != TaskState::Running {
                    return;
                }
                ch.in_flight = true;
                let stat = tr.stat.clone();
                let ns = alloc.ns.as_ref().map(|n| n.path());
                let logs = [
                    self.run_dir.join(format!("{}-check{c}.stdout", alloc.p.id)),
                    self.run_dir.join(format!("{}-check{c}.stderr", alloc.p.id)),
                ];
                let (run_dir, client, version) =
                    (self.run_dir.clone(), self.client.clone(), self.version);
                std::thread::spawn(move || {
                    let (status, output) = script_check(
                        &stat, &command, &args, timeout, ns, run_dir, logs, &client, version,
                    );
                    let _ = tx.send(Msg::Check {
                        a,
                        c,
                        status,
                        output,
                    });
                });
            }
        }
    }

    fn on_check(&mut self, a: usize, c: usize, status: Status, output: String) {
        let now = Instant::now();
        let ch = &mut self.allocs[a].checks[c];
        ch.in_flight = false;
        ch.runs += 1;
        let changed = ch.status != status || ch.runs == 1;
        ch.status = status;
        ch.output = output.clone();
        let (service, name) = (ch.service.clone(), ch.name.clone());
        if changed {
            let short: String = output.chars().take(240).collect();
            self.event(
                Some(a),
                None,
                "Check",
                format!("{name} is {status}: {short}"),
            );
        }
        let alloc = &mut self.allocs[a];
        let passing = alloc
            .checks
            .iter()
            .filter(|c| c.service == service)
            .all(|c| c.status == Status::Passing);
        self.catalog.set_passing(a, &service, passing);
        let all = alloc.checks.iter().all(|c| c.status == Status::Passing);
        match (all, alloc.checks_passing_since) {
            (true, None) => alloc.checks_passing_since = Some(now),
            (false, Some(_)) => alloc.checks_passing_since = None,
            _ => {}
        }
    }

    /// `allochealth.Tracker`: every task started (and not failed) and every check
    /// passing, both for `min_healthy_time`, before `healthy_deadline`.
    fn health(&mut self, a: usize, now: Instant) {
        if matches!(self.job_type.as_str(), "batch" | "sysbatch") {
            return;
        }
        let alloc = &self.allocs[a];
        if alloc.health.is_some() || alloc.stopping {
            return;
        }
        let mut latest: Option<Instant> = alloc.gateway_since;
        let mut pending = false;
        for t in &alloc.tasks {
            match t.stat.stage {
                Stage::Poststop => continue,
                Stage::PoststartEphemeral if t.successful => continue,
                _ => {}
            }
            let ended =
                t.state == TaskState::Dead && !matches!(t.stat.stage, Stage::PrestartEphemeral);
            if t.failed || ended {
                let m = format!(
                    "task \"{}\" {}",
                    t.stat.name,
                    if t.failed { "failed" } else { "is dead" }
                );
                let i = alloc
                    .tasks
                    .iter()
                    .position(|x| x.stat.name == t.stat.name)
                    .unwrap_or(0);
                self.allocs[a].blame = vec![(
                    i,
                    format!(
                        "{} (exit code {})",
                        if t.failed { "failed" } else { "ended" },
                        t.exit_code.map_or("-".into(), |c| c.to_string())
                    ),
                )];
                self.set_health(a, false, m);
                return;
            }
            if t.state == TaskState::Pending {
                pending = true;
            } else {
                latest = latest.max(t.started_at);
            }
        }
        let alloc = &self.allocs[a];
        let checks_since = if alloc.use_checks && !alloc.checks.is_empty() {
            alloc.checks_passing_since
        } else {
            latest
        };
        if let (false, Some(t), Some(c)) = (pending, latest, checks_since) {
            if now >= t.max(c) + alloc.min_healthy {
                let m = format!(
                    "every task running{} for min_healthy_time {}",
                    if alloc.use_checks && !alloc.checks.is_empty() {
                        " and every check passing"
                    } else {
                        ""
                    },
                    go_duration(alloc.min_healthy)
                );
                self.set_health(a, true, m);
                return;
            }
        }
        if now >= alloc.created + alloc.deadline {
            let mut why = Vec::new();
            let mut blame = Vec::new();
            let failing: Vec<&CheckRt> = alloc
                .checks
                .iter()
                .filter(|c| c.status != Status::Passing)
                .collect();
            for (i, t) in alloc.tasks.iter().enumerate() {
                if t.state == TaskState::Pending && t.stat.stage != Stage::Poststop {
                    why.push(format!("task \"{}\" never started", t.stat.name));
                } else if t.stat.stage == Stage::PrestartEphemeral && t.state == TaskState::Running
                {
                    why.push(format!(
                        "prestart task \"{}\" is still running, so the main tasks never started",
                        t.stat.name
                    ));
                    blame.push((i, "was still running at the healthy_deadline (a prestart task must exit 0 before the main tasks start)".to_owned()));
                } else if t.stat.stage == Stage::Main
                    && t.state == TaskState::Running
                    && !failing.is_empty()
                {
                    let c = failing[0];
                    blame.push((
                        i,
                        format!(
                            "was running while {} stayed {} ({})",
                            c.name,
                            c.status,
                            c.output.chars().take(300).collect::<String>()
                        ),
                    ));
                }
            }
            for c in &failing {
                why.push(format!("check \"{}\" is {}", c.name, c.status));
            }
            self.allocs[a].blame = blame;
            let alloc = &self.allocs[a];
            let m = format!(
                "not healthy within healthy_deadline {}{}{}",
                go_duration(alloc.deadline),
                if why.is_empty() { "" } else { ": " },
                why.join("; ")
            );
            self.set_health(a, false, m);
        }
    }

    fn set_health(&mut self, a: usize, healthy: bool, msg: String) {
        self.allocs[a].health = Some(healthy);
        self.allocs[a].health_msg = Some(msg.clone());
        self.event(
            Some(a),
            None,
            if healthy {
                "Alloc Healthy"
            } else {
                "Alloc Unhealthy"
            },
            msg,
        );
    }

    /// The job's outcome, once known.
    fn judge(&self, now: Instant) -> Option<Outcome> {
        if matches!(self.job_type.as_str(), "batch" | "sysbatch") {
            let done = self.allocs.iter().all(|a| {
                a.tasks
                    .iter()
                    .all(|t| t.state == TaskState::Dead && !t.busy)
            });
            if done {
                let failed: Vec<String> = self
                    .allocs
                    .iter()
                    .flat_map(|a| {
                        a.tasks
                            .iter()
                            .filter(|t| t.failed)
                            .map(move |t| format!("{}/{}", a.p.name, t.stat.name))
                    })
                    .collect();
                return Some(if failed.is_empty() {
                    Outcome::Complete
                } else {
                    Outcome::Failed(format!("failed tasks: {}", failed.join(", ")))
                });
            }
            if now >= self.t0 + self.batch_limit {
                return Some(Outcome::Deadline(format!(
                    "still running after --timeout {}",
                    go_duration(self.batch_limit)
                )));
            }
            return None;
        }
        if let Some(a) = self.allocs.iter().find(|a| a.health == Some(false)) {
            return Some(Outcome::Unhealthy(format!(
                "allocation {} is unhealthy: {}",
                a.p.name,
                a.health_msg.clone().unwrap_or_default()
            )));
        }
        if self.allocs.iter().all(|a| a.health == Some(true)) {
            return Some(Outcome::Healthy);
        }
        None
    }

    /// Stop every allocation (`allocRunner.killTasks`: the leader first, then the
    /// others; poststop tasks run after).
    pub fn stop_all(&mut self) {
        for a in 0..self.allocs.len() {
            if self.allocs[a].stopping {
                continue;
            }
            self.allocs[a].stopping = true;
            self.catalog.deregister(a);
            let mut order: Vec<usize> = (0..self.allocs[a].tasks.len())
                .filter(|&t| self.allocs[a].tasks[t].stat.stage != Stage::Poststop)
                .collect();
            order.sort_by_key(|&t| {
                let s = &self.allocs[a].tasks[t].stat;
                (!s.leader, s.stage.is_sidecar())
            });
            for t in order {
                self.kill_task(a, t);
            }
        }
    }

    fn all_stopped(&self) -> bool {
        self.allocs.iter().all(|a| {
            a.tasks.iter().all(|t| {
                !t.busy
                    && (t.state == TaskState::Dead
                        || (t.stat.stage == Stage::Poststop
                            && t.state == TaskState::Pending
                            && a.phase != Phase::Poststop))
            }) && a.checks.iter().all(|c| !c.in_flight || c.kind != "script")
        })
    }
}

fn argv0_or(stat: &TaskStatic) -> String {
    stat.planned
        .opts
        .task
        .command
        .clone()
        .unwrap_or_else(|| stat.name.clone())
}

/// A script check: the command in a copy of the task's sandbox (its root, user,
/// environment and network namespace; its own PID namespace), batch, with the
/// check's timeout.
#[allow(clippy::too_many_arguments)]
fn script_check(
    stat: &TaskStatic,
    command: &str,
    args: &[String],
    timeout: Duration,
    ns: Option<PathBuf>,
    run_dir: PathBuf,
    logs: [PathBuf; 2],
    client: &ClientConfig,
    version: NomadVersion,
) -> (Status, String) {
    let Some(argv0) = lookup_in_task(stat, command) else {
        return (
            Status::Critical,
            format!("exec: \"{command}\": executable file not found in $PATH"),
        );
    };
    let mut run = match stat.planned.opts.run.clone() {
        Some(r) => r,
        None => return (Status::Critical, "no run options".into()),
    };
    run.job_type = JobType::Batch;
    run.timeout = timeout;
    run.trace = false;
    let mut task = stat.planned.opts.task.clone();
    task.command = Some(command.to_owned());
    task.args = args.to_vec();
    let req = RunRequest {
        taskdir: &stat.prepared.taskdir,
        task: &task,
        env: &stat.planned.env,
        run: &run,
        version,
        client,
        argv0,
    };
    let r = sandbox::run_supervised(
        &req,
        Supervision {
            until_stopped: false,
            netns: ns,
            remove_on_orphan: Some(run_dir),
            logs: Some(logs.clone()),
            on_spawn: &mut |_| {},
            on_start: &mut || {},
        },
    );
    let out = std::fs::read_to_string(&logs[0]).unwrap_or_default()
        + &std::fs::read_to_string(&logs[1]).unwrap_or_default();
    for l in &logs {
        let _ = std::fs::remove_file(l);
    }
    match r {
        Ok(r) => {
            let status = checks::script_status(r.outcome.exit_code, r.outcome.timed_out);
            let out: String = out.chars().take(4096).collect();
            if r.outcome.timed_out {
                (
                    status,
                    format!("Timed out ({}) running check", go_duration(timeout)),
                )
            } else {
                (status, out)
            }
        }
        Err(e) => (Status::Critical, e.to_string()),
    }
}

/// A command as the task's exec would find it: as written with a `/`, else on the
/// task's PATH, inside the task's root or its chroot_env layers.
fn lookup_in_task(stat: &TaskStatic, command: &str) -> Option<String> {
    let td = &stat.prepared.taskdir;
    let exists = |p: &str| -> bool {
        let rel = p.trim_start_matches('/');
        if td.root.join(rel).exists() {
            return true;
        }
        td.layers().iter().any(|l| {
            std::path::Path::new(p)
                .strip_prefix(&l.dest)
                .is_ok_and(|rest| l.src.join(rest).exists())
        })
    };
    if command.contains('/') {
        return Some(command.to_owned());
    }
    let path = stat.planned.env.get("PATH").cloned().unwrap_or_default();
    crate::taskenv::split_path_list(&path)
        .into_iter()
        .map(|d| format!("{}/{command}", d.trim_end_matches('/')))
        .find(|p| exists(p))
}
