//! Each allocation's health, judged as Nomad's health tracker judges it
//! (`hashicorp/nomad:client/allochealth/tracker.go`), and the job's outcome.

use std::time::Instant;

use super::{CheckRt, Outcome, Runner};
use crate::mesh::checks::Status;
use crate::mesh::lifecycle::{Stage, TaskState};
use crate::mesh::report::go_duration;

impl Runner {
    /// `allochealth.Tracker`: every task started (and not failed) and every check
    /// passing, both for `min_healthy_time`, before `healthy_deadline`.
    pub(super) fn health(&mut self, a: usize, now: Instant) {
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
    pub(super) fn judge(&self, now: Instant) -> Option<Outcome> {
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
}
