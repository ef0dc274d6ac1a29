//! A task's life under the runner: started when its phase allows (or failed at once
//! when it cannot start), stopped as Nomad stops it, and its exit turned into events,
//! findings and a restart decision.

use std::time::Instant;

use nix::sys::signal::{Signal, kill};

use super::{Msg, Runner, TaskStatic};
use crate::config::JobType;
use crate::finding::{Cause, Finding, Kind, RunOutcome};
use crate::mesh::lifecycle::{self, Decision, Stage, TaskState};
use crate::mesh::report::go_duration;
use crate::sandbox::{self, RunRequest, RunResult, Supervision};

impl Runner {
    /// `allocRunner.handleTaskStateUpdates`: a failed task or a dead leader stops the
    /// others; sidecars alone are stopped once the main tasks are gone.
    pub(super) fn siblings(&mut self, a: usize) {
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

    pub(super) fn start_task(&mut self, a: usize, t: usize) {
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
    pub(super) fn kill_task(&mut self, a: usize, t: usize) {
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

    pub(super) fn on_exit(&mut self, a: usize, t: usize, result: Result<RunResult, String>) {
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
                let m = if reason == lifecycle::REASON_WITHIN_POLICY {
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
}

fn argv0_or(stat: &TaskStatic) -> String {
    stat.planned
        .opts
        .task
        .command
        .clone()
        .unwrap_or_else(|| stat.name.clone())
}
