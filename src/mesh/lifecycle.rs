//! The task runner's rules, as Nomad's client applies them: which tasks of an
//! allocation may start when (`hashicorp/nomad:client/allocrunner/tasklifecycle/coordinator.go`),
//! and whether a task that ended is restarted
//! (`client/allocrunner/taskrunner/restarts/restarts.go`), with the job type's default
//! policy (`nomad/structs/structs.go` `DefaultServiceJobRestartPolicy`,
//! `DefaultBatchJobRestartPolicy`).

use std::time::{Duration, Instant};

use crate::job::services::RestartSpec;

/// A task's lifecycle stage (`taskLifecycleStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    PrestartEphemeral,
    PrestartSidecar,
    Main,
    PoststartEphemeral,
    PoststartSidecar,
    Poststop,
}

impl Stage {
    pub fn of(lifecycle: Option<&(String, bool)>) -> Stage {
        match lifecycle {
            Some((h, true)) if h == "prestart" => Stage::PrestartSidecar,
            Some((h, false)) if h == "prestart" => Stage::PrestartEphemeral,
            Some((h, true)) if h == "poststart" => Stage::PoststartSidecar,
            Some((h, false)) if h == "poststart" => Stage::PoststartEphemeral,
            Some((h, _)) if h == "poststop" => Stage::Poststop,
            _ => Stage::Main,
        }
    }

    pub fn is_sidecar(self) -> bool {
        matches!(self, Stage::PrestartSidecar | Stage::PoststartSidecar)
    }
}

/// A task's state (`structs.TaskState.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Pending,
    Running,
    Dead,
}

/// What the coordinator knows of one task.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub stage: Stage,
    pub state: TaskState,
    /// Dead, and exited 0 (`TaskState.Successful`).
    pub successful: bool,
}

/// The coordinator's state (`coordinatorState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Prestart,
    Main,
    Poststart,
    WaitAlloc,
    Poststop,
}

impl Phase {
    /// Which stages may run in this phase (`Coordinator.enterStateLocked`).
    pub fn allows(self, s: Stage) -> bool {
        use Stage::*;
        match self {
            Phase::Prestart => matches!(s, PrestartEphemeral | PrestartSidecar),
            Phase::Main => matches!(s, PrestartSidecar | Main),
            Phase::Poststart | Phase::WaitAlloc => {
                matches!(
                    s,
                    PrestartSidecar | Main | PoststartEphemeral | PoststartSidecar
                )
            }
            Phase::Poststop => s == Poststop,
        }
    }
}

/// The next phase from the tasks' states (`nextStateLocked`, applied until it settles).
pub fn next_phase(mut phase: Phase, tasks: &[Snapshot]) -> Phase {
    fn of<'a>(
        tasks: &'a [Snapshot],
        pred: impl Fn(Stage) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Snapshot> + 'a {
        tasks.iter().filter(move |t| pred(t.stage))
    }
    let of = |pred: fn(Stage) -> bool| of(tasks, pred);
    loop {
        let alloc_done = of(|s| s != Stage::Poststop).all(|t| t.state == TaskState::Dead);
        let next = if alloc_done {
            Phase::Poststop
        } else {
            match phase {
                Phase::Prestart => {
                    let done = of(|s| s == Stage::PrestartEphemeral).all(|t| t.successful)
                        && of(|s| s == Stage::PrestartSidecar)
                            .all(|t| t.state == TaskState::Running);
                    if done { Phase::Main } else { phase }
                }
                Phase::Main => {
                    if of(|s| s == Stage::Main).all(|t| t.state != TaskState::Pending) {
                        Phase::Poststart
                    } else {
                        phase
                    }
                }
                Phase::Poststart => {
                    if of(|s| s == Stage::PoststartEphemeral).all(|t| t.state == TaskState::Dead) {
                        Phase::WaitAlloc
                    } else {
                        phase
                    }
                }
                p => p,
            }
        };
        if next == phase {
            return phase;
        }
        phase = next;
    }
}

/// A restart policy with Nomad's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RestartPolicy {
    pub attempts: u64,
    #[serde(serialize_with = "ser_secs")]
    pub delay: Duration,
    #[serde(serialize_with = "ser_secs")]
    pub interval: Duration,
    /// `fail` or `delay`.
    pub mode: &'static str,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::mesh::report::go_duration(*d))
}

impl RestartPolicy {
    /// The job type's default, overridden by the group's block, then the task's.
    pub fn resolve(
        job_type: &str,
        group: Option<&RestartSpec>,
        task: Option<&RestartSpec>,
    ) -> Self {
        let mut p = match job_type {
            "batch" | "sysbatch" => RestartPolicy {
                attempts: 3,
                delay: Duration::from_secs(15),
                interval: Duration::from_secs(24 * 3600),
                mode: "fail",
            },
            _ => RestartPolicy {
                attempts: 2,
                delay: Duration::from_secs(15),
                interval: Duration::from_secs(30 * 60),
                mode: "fail",
            },
        };
        for r in [group, task].into_iter().flatten() {
            if let Some(a) = r.attempts {
                p.attempts = a;
            }
            if let Some(d) = r.delay {
                p.delay = d;
            }
            if let Some(i) = r.interval {
                p.interval = i;
            }
            if let Some(m) = &r.mode {
                p.mode = if m == "delay" { "delay" } else { "fail" };
            }
        }
        p
    }
}

/// What happens to a task that ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// `Restarting`: start it again after the delay.
    Restart { delay: Duration, reason: String },
    /// `Not Restarting`: the task failed for good.
    NotRestarting { reason: String },
    /// Ended as it should (exit 0 of a batch task or ephemeral hook).
    Terminated,
}

/// `restarts.RestartTracker`.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    pub policy: RestartPolicy,
    on_success: bool,
    count: u64,
    start: Instant,
    /// Jitter source.
    seed: u64,
}

pub const REASON_WITHIN_POLICY: &str = "Restart within policy";

impl RestartTracker {
    pub fn new(policy: RestartPolicy, job_type: &str, stage: Stage) -> Self {
        let mut on_success = !matches!(job_type, "batch" | "sysbatch");
        match stage {
            Stage::PrestartEphemeral | Stage::PoststartEphemeral => on_success = false,
            Stage::PrestartSidecar | Stage::PoststartSidecar => on_success = true,
            Stage::Poststop => on_success = false,
            Stage::Main => {}
        }
        RestartTracker {
            policy,
            on_success,
            count: 0,
            start: Instant::now(),
            seed: std::process::id() as u64 | 1,
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The decision for a task that exited (`successful`: exit code 0) or failed to
    /// start (`recoverable`: whether the start error may go away).
    pub fn decide(&mut self, successful: bool, start_error: Option<bool>) -> Decision {
        let p = self.policy;
        if p.attempts == 0 {
            if !self.on_success && successful && start_error.is_none() {
                return Decision::Terminated;
            }
            return Decision::NotRestarting {
                reason: "Policy allows no restarts".into(),
            };
        }
        let now = Instant::now();
        if now > self.start + p.interval {
            self.count = 0;
            self.start = now;
        }
        self.count += 1;
        match start_error {
            Some(false) => {
                return Decision::NotRestarting {
                    reason: "Error was unrecoverable".into(),
                };
            }
            Some(true) => {}
            None if successful && !self.on_success => return Decision::Terminated,
            None => {}
        }
        if self.count > p.attempts {
            if p.mode == "fail" {
                return Decision::NotRestarting {
                    reason: format!(
                        "Exceeded allowed attempts {} in interval {} and mode is \"fail\"",
                        p.attempts,
                        crate::mesh::report::go_duration(p.interval)
                    ),
                };
            }
            return Decision::Restart {
                delay: (self.start + p.interval).saturating_duration_since(now),
                reason: "Exceeded allowed attempts, applying a delay".into(),
            };
        }
        Decision::Restart {
            delay: self.jitter(),
            reason: REASON_WITHIN_POLICY.into(),
        }
    }

    /// The delay plus up to 25% (`jitter`).
    fn jitter(&mut self) -> Duration {
        let d = self.policy.delay.as_nanos().max(1) as u64;
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let j = (self.seed % d) as f64 * 0.25;
        Duration::from_nanos(d + j as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(stage: Stage, state: TaskState, successful: bool) -> Snapshot {
        Snapshot {
            stage,
            state,
            successful,
        }
    }

    #[test]
    fn main_tasks_wait_for_prestart_hooks() {
        use Stage::*;
        use TaskState::*;
        let mut t = vec![
            snap(PrestartEphemeral, Running, false),
            snap(PrestartSidecar, Running, false),
            snap(Main, Pending, false),
            snap(PoststartEphemeral, Pending, false),
            snap(Poststop, Pending, false),
        ];
        assert_eq!(next_phase(Phase::Prestart, &t), Phase::Prestart);
        t[0] = snap(PrestartEphemeral, Dead, false);
        assert_eq!(
            next_phase(Phase::Prestart, &t),
            Phase::Prestart,
            "failed hook"
        );
        t[0] = snap(PrestartEphemeral, Dead, true);
        assert_eq!(next_phase(Phase::Prestart, &t), Phase::Main);
        assert!(!Phase::Main.allows(PrestartEphemeral) && Phase::Main.allows(PrestartSidecar));
        t[2] = snap(Main, Running, false);
        assert_eq!(next_phase(Phase::Main, &t), Phase::Poststart);
        t[3] = snap(PoststartEphemeral, Dead, true);
        assert_eq!(next_phase(Phase::Poststart, &t), Phase::WaitAlloc);
        t[1] = snap(PrestartSidecar, Dead, false);
        t[2] = snap(Main, Dead, true);
        assert_eq!(next_phase(Phase::WaitAlloc, &t), Phase::Poststop);
        assert!(Phase::Poststop.allows(Poststop));
    }

    #[test]
    fn restarts_follow_the_policy() {
        let p = RestartPolicy::resolve(
            "service",
            Some(&RestartSpec {
                attempts: Some(1),
                delay: Some(Duration::from_millis(100)),
                ..RestartSpec::default()
            }),
            None,
        );
        assert_eq!((p.attempts, p.mode), (1, "fail"));
        let mut t = RestartTracker::new(p, "service", Stage::Main);
        match t.decide(true, None) {
            Decision::Restart { delay, .. } => {
                assert!(delay >= Duration::from_millis(100) && delay <= Duration::from_millis(125))
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(
            t.decide(false, None),
            Decision::NotRestarting {
                reason: "Exceeded allowed attempts 1 in interval 30m0s and mode is \"fail\"".into()
            }
        );
        // A prestart hook that exits 0 is done; a batch task too.
        let mut h = RestartTracker::new(p, "service", Stage::PrestartEphemeral);
        assert_eq!(h.decide(true, None), Decision::Terminated);
        let b = RestartPolicy::resolve("batch", None, None);
        assert_eq!((b.attempts, b.interval), (3, Duration::from_secs(86400)));
        let mut bt = RestartTracker::new(b, "batch", Stage::Main);
        assert_eq!(bt.decide(true, None), Decision::Terminated);
        let mut z = RestartTracker::new(RestartPolicy { attempts: 0, ..b }, "batch", Stage::Main);
        assert_eq!(
            z.decide(false, None),
            Decision::NotRestarting {
                reason: "Policy allows no restarts".into()
            }
        );
    }
}
