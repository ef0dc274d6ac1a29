//! The job run's report: every event timestamped, per allocation and task, the health
//! verdict and each task's findings. JSON is one document (`schema_version`, `mode =
//! "run-job"`); text is a timeline.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::checks::Status;
use super::lifecycle::{RestartPolicy, Stage, TaskState};
use super::placement::PortMapping;
use crate::finding::{Finding, Report, Severity, Tool, Verdict};
use crate::nomad::NomadVersion;

/// Go's `time.Duration.String()` for whole milliseconds (`15s`, `30m0s`, `1.5s`).
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let (h, m, s) = (ms / 3_600_000, (ms / 60_000) % 60, ms % 60_000);
    let secs = if s % 1000 == 0 {
        format!("{}s", s / 1000)
    } else {
        let t = format!("{}.{:03}", s / 1000, s % 1000);
        format!("{}s", t.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// One event of the timeline: Nomad's task events (`Received`, `Task Setup`,
/// `Started`, `Terminated`…) with their display messages, and the run's own
/// (`Check`, `Alloc Healthy`, `Deployment`…).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The allocation's name (`production.app[0]`); empty for the job's own events.
    pub alloc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
    /// The address host ports are published on (`NOMAD_IP_*`).
    pub host_ip: String,
    /// The bridge lives in a namespace of the run's own, not the host's.
    pub namespace: String,
    /// That namespace (`net:[<inode>]`), gone after the run.
    pub netns: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    pub name: String,
    pub lifecycle: Stage,
    pub leader: bool,
    pub state: TaskState,
    pub failed: bool,
    pub restarts: u64,
    pub restart_policy: RestartPolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub events: Vec<Event>,
    /// The task's own report, as `job` mode makes it: bundle, task, static and runtime
    /// findings, the last run (its `stdout_tail`/`stderr_tail`).
    pub report: Report,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub service: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: Status,
    pub output: String,
    /// Where it probes (`127.0.0.1:23456`), or the script's command.
    pub target: String,
    pub runs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForwarderReport {
    /// `host-port`, `upstream`, `ingress`.
    pub kind: String,
    pub listen: String,
    /// What it forwards to (`service "database" (127.0.0.1:5432 in its allocation)`).
    pub to: String,
    pub connections: u64,
    pub failures: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllocReport {
    pub id: String,
    pub name: String,
    pub group: String,
    pub index: u32,
    pub network_mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The allocation's network namespace (`net:[<inode>]`), gone after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    pub ports: Vec<PortMapping>,
    /// `running`, `complete`, `failed`.
    pub status: String,
    /// `healthy`, `unhealthy`, or `null` when not decided (batch jobs, stopped early).
    pub health: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_message: Option<String>,
    pub tasks: Vec<TaskReport>,
    pub checks: Vec<CheckReport>,
    pub forwarders: Vec<ForwarderReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobRunReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub mode: &'static str,
    pub nomad_version: NomadVersion,
    pub job: String,
    pub job_type: String,
    pub verdict: Verdict,
    /// `healthy` (service), `complete` (batch), `unhealthy`, `failed`, `interrupted`,
    /// `deadline`.
    pub result: String,
    pub result_message: String,
    pub duration_ms: u64,
    pub started_unix_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkInfo>,
    pub allocations: Vec<AllocReport>,
    /// Every event of every allocation, in order.
    pub events: Vec<Event>,
    /// The job's own findings (why it is not healthy, what was not emulated).
    pub findings: Vec<Finding>,
}

impl JobRunReport {
    pub fn render_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = String::new();
        let allocs = self.allocations.len();
        let _ = writeln!(
            s,
            "job \"{}\" ({}) run as Nomad {} would place it: {allocs} allocation{}",
            self.job,
            self.job_type,
            self.nomad_version,
            if allocs == 1 { "" } else { "s" }
        );
        if let Some(n) = &self.network {
            let _ = writeln!(
                s,
                "bridge \"{}\" {} (gateway {}) in {}; host ports on {}",
                n.bridge, n.subnet, n.gateway, n.namespace, n.host_ip
            );
        }
        for a in &self.allocations {
            let ports: Vec<String> = a
                .ports
                .iter()
                .map(|p| format!("{}={}:{}→{}", p.label, p.host_ip, p.value, p.alloc_port()))
                .collect();
            let _ = writeln!(
                s,
                "  {} {} ({}{}{})",
                &a.id[..8],
                a.name,
                a.network_mode,
                a.ip.as_deref().map(|i| format!(" {i}")).unwrap_or_default(),
                if ports.is_empty() {
                    String::new()
                } else {
                    format!(", ports {}", ports.join(" "))
                }
            );
        }
        let _ = writeln!(s, "\ntimeline:");
        let width = self
            .events
            .iter()
            .map(|e| short(&e.alloc).len() + e.task.as_ref().map_or(0, |t| t.len() + 1))
            .max()
            .unwrap_or(0);
        for e in &self.events {
            let who = match &e.task {
                Some(t) => format!("{}/{t}", short(&e.alloc)),
                None => short(&e.alloc).to_owned(),
            };
            let _ = writeln!(
                s,
                "  {:>8}  {who:<width$}  {:<22} {}",
                format!("+{:.2}s", e.at_ms as f64 / 1000.0),
                e.kind,
                e.message
            );
        }
        let mut problems: Vec<(String, &Finding)> = Vec::new();
        let mut more = 0;
        for a in &self.allocations {
            for t in &a.tasks {
                // Errors all; warnings up to 5 per task (every one is in the JSON).
                let mut warnings = 0;
                for f in &t.report.findings {
                    if f.severity == Severity::Warning {
                        warnings += 1;
                        if warnings > 5 {
                            more += 1;
                            continue;
                        }
                    }
                    if f.severity != Severity::Info {
                        problems.push((format!("{}/{}", short(&a.name), t.name), f));
                    }
                }
            }
        }
        for f in &self.findings {
            problems.push((String::new(), f));
        }
        if !problems.is_empty() {
            let _ = writeln!(s, "\nfindings:");
            for (who, f) in problems {
                let sev = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "info",
                };
                let _ = write!(s, "  {sev:<7} ");
                if !who.is_empty() {
                    let _ = write!(s, "{who}: ");
                }
                let _ = writeln!(
                    s,
                    "{} ({}/{})",
                    f.path,
                    serde_json::to_value(f.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    serde_json::to_value(f.cause)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                );
                for line in [&f.nomad_error, &f.message].into_iter().flatten() {
                    let _ = writeln!(s, "          {line}");
                }
                if !f.needed_by.is_empty() {
                    let _ = writeln!(s, "          needed by {}", f.needed_by.join(" → "));
                }
                if let Some(h) = &f.hint {
                    let _ = writeln!(s, "          fix: {h}");
                }
            }
        }
        if more > 0 {
            let _ = writeln!(
                s,
                "  … and {more} more warnings (--format json has them all)"
            );
        }
        // The logs of tasks that failed, as `nomad alloc logs` would show them.
        for a in &self.allocations {
            for t in &a.tasks {
                let Some(run) = &t.report.run else { continue };
                if !t.failed && t.exit_code.is_none_or(|c| c == 0) {
                    continue;
                }
                for (which, tail) in [("stderr", &run.stderr_tail), ("stdout", &run.stdout_tail)] {
                    let lines: Vec<&str> = tail.lines().collect();
                    if lines.is_empty() {
                        continue;
                    }
                    let _ = writeln!(s, "\n{}/{} {which} (last lines):", short(&a.name), t.name);
                    for l in &lines[lines.len().saturating_sub(8)..] {
                        let _ = writeln!(s, "  | {l}");
                    }
                }
            }
        }
        let word = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Reject => "REJECT",
            Verdict::Error => "ERROR",
        };
        let _ = writeln!(
            s,
            "\n{word}: {} ({:.1}s)",
            self.result_message,
            self.duration_ms as f64 / 1000.0
        );
        out.write_all(s.as_bytes())
    }
}

/// `production.app[0]` → `app[0]`.
fn short(alloc: &str) -> &str {
    match alloc.split_once('.') {
        Some((_, rest)) => rest,
        None => alloc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(15)), "15s");
        assert_eq!(go_duration(Duration::from_secs(1800)), "30m0s");
        assert_eq!(go_duration(Duration::from_secs(86400)), "24h0m0s");
        assert_eq!(go_duration(Duration::from_millis(16250)), "16.25s");
        assert_eq!(go_duration(Duration::from_millis(90_500)), "1m30.5s");
    }
}
