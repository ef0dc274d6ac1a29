//! The allocations' task runners and the run's one event loop: tasks start when their
//! lifecycle phase allows, restart as their policy says, and are stopped as Nomad's
//! alloc runner stops them (a failed task takes its siblings with it, so does a dead
//! leader, sidecars follow the main tasks); checks run on their intervals; each
//! allocation's health is judged as Nomad's health tracker judges it
//! (`hashicorp/nomad:client/allochealth/tracker.go`); the job ends healthy, failed, or
//! (with `--keep-running`) when interrupted.
//!
//! Every task runs on a thread of its own inside `sandbox::run_supervised`; threads
//! only send [`Msg`]s, and all state changes on the loop's thread: here (the loop),
//! in `tasks` (starting, stopping, exits), `probes` (checks) and `health`.

mod health;
mod probes;
mod tasks;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};

use super::checks::{Probe, Status};
use super::connect::{Catalog, Published};
use super::lifecycle::{Phase, RestartTracker, Snapshot, Stage, TaskState};
use super::netns::NetNs;
use super::placement::Placement;
use super::report::Event;
use crate::check::Prepared;
use crate::clientconfig::ClientConfig;
use crate::finding::{Finding, Report, RunOutcome};
use crate::job::PlannedTask;
use crate::nomad::NomadVersion;
use crate::sandbox::{Pid, RunResult};

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
                    self.receive(m, &mut outcome);
                    // Drain what else is there before stepping again.
                    while let Ok(m) = self.rx.try_recv() {
                        self.receive(m, &mut outcome);
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

    /// Handle `m`; an interrupt stops the job unless its outcome is already known.
    fn receive(&mut self, m: Msg, outcome: &mut Option<Outcome>) {
        if let Some(o) = self.handle(m) {
            if outcome.is_none() {
                *outcome = Some(o);
                self.event(None, None, "Interrupted", "stopping the job".into());
                self.stop_all();
            }
        }
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
