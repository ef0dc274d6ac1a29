//! The real failure next to the emulation's, and the verdict: **reproduced** (the same
//! error, with its root cause), **differs** (both fail, differently: what and why),
//! **passes here** (the cause is outside the bundle), or **no failure** recorded.
//!
//! The real failure is the newest event that ends a run of the task
//! (`hashicorp/nomad:api/tasks.go` event types): `Driver Failure` (`DriverError`),
//! `Terminated` (exit code, signal, `oom_killed`), `Failed Artifact Download`,
//! `Setup Failure`, `Failed Validation`, or a kill whose reason is a template, Vault or
//! Consul. Errors are compared as Nomad prints them (§5.4 of nomad-exec.md): the Driver
//! Failure prefix and the host task dir after "not found under path" are left out, and
//! a runtime failure is matched on its exit code and the error on the task's stderr.

use serde::Serialize;

use super::model::{TaskEvent, TaskState};
use crate::finding::{Cause, Finding, Kind, Report, Severity, Verdict};

/// The prefix of every start failure (`drivers/shared/executor` through go-plugin).
const DRIVER_PREFIX: &str =
    "failed to launch command with executor: rpc error: code = Unknown desc = ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocVerdict {
    Reproduced,
    Differs,
    PassesHere,
    NoFailure,
}

/// One task event as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventView {
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix nanoseconds.
    pub time: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
}

impl EventView {
    pub fn from_event(e: &TaskEvent) -> EventView {
        let terminated = e.r#type == "Terminated";
        EventView {
            kind: e.r#type.clone(),
            time: e.time,
            message: e.text(),
            exit_code: terminated.then_some(e.exit_code),
            signal: (terminated && e.signal != 0).then_some(e.signal),
            oom_killed: e.oom_killed(),
        }
    }
}

/// What Nomad recorded for the task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RealSide {
    /// `pending`, `running` or `dead` (empty when unknown, e.g. from an alloc dir alone).
    pub state: String,
    pub failed: bool,
    pub restarts: u64,
    /// The event that ended the last run, if it was a failure.
    pub failure: Option<EventView>,
    /// Every event Nomad kept (the latest 10), oldest first.
    pub events: Vec<EventView>,
    pub stderr_tail: Option<String>,
    pub stdout_tail: Option<String>,
    /// Where the logs came from, or why they were not read.
    pub logs: String,
}

impl RealSide {
    pub fn from_state(state: &TaskState) -> RealSide {
        let events: Vec<EventView> = state.events.iter().map(EventView::from_event).collect();
        RealSide {
            state: state.state.clone(),
            failed: state.failed,
            restarts: state.restarts,
            failure: decisive(&state.events).map(EventView::from_event),
            events,
            ..RealSide::default()
        }
    }
}

/// The newest event that ended a run of the task in failure.
fn decisive(events: &[TaskEvent]) -> Option<&TaskEvent> {
    for e in events.iter().rev() {
        match e.r#type.as_str() {
            "Driver Failure"
            | "Failed Artifact Download"
            | "Setup Failure"
            | "Failed Validation"
            | "Sibling Task Failed"
            | "Template" => return Some(e),
            "Terminated" => {
                return (e.exit_code != 0 || e.signal != 0 || e.oom_killed()).then_some(e);
            }
            "Killing" | "Killed" if points_outside(e).is_some() => return Some(e),
            // A successful start after the failure: that run's end is what counts.
            "Started" => {}
            _ => {}
        }
    }
    None
}

/// Why an event points outside the bundle (node, network, template, Vault, Consul,
/// another task), if it does.
pub fn points_outside(e: &TaskEvent) -> Option<String> {
    let text = e.text();
    let t = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    let why = match e.r#type.as_str() {
        "Template" => "a template (consul-template) failed",
        "Sibling Task Failed" => "another task of the group failed",
        _ if has(&["template"]) => "a template (consul-template) failed",
        _ if has(&["vault"]) => "Vault (token or secret)",
        _ if has(&["consul", "service registration"]) => "Consul (service or token)",
        "Failed Artifact Download"
            if has(&[
                "bad response code",
                "dial tcp",
                "no such host",
                "i/o timeout",
                "connection refused",
                "x509",
                "certificate",
                "tls:",
                "permission denied",
            ]) =>
        {
            "the artifact's source (network, TLS or the getter's sandbox), not its content"
        }
        "Setup Failure" => "the client's setup of the task (node, network, volumes or secrets)",
        "Driver Failure"
            if !has(&[
                "not found under path",
                "container init",
                "capabilit",
                "exec:",
            ]) =>
        {
            "the node's exec driver or executor"
        }
        _ if has(&[
            "cni",
            "network namespace",
            "failed to setup alloc",
            "pre-run hook",
        ]) =>
        {
            "the allocation's network setup on the node"
        }
        _ => return None,
    };
    Some(format!("{} event \"{}\": {why}", e.r#type, text))
}

/// The error as Nomad prints it, without what varies between hosts.
fn normalize(s: &str) -> String {
    let s = s.trim();
    let s = s
        .find(DRIVER_PREFIX)
        .map_or(s, |i| &s[i + DRIVER_PREFIX.len()..]);
    let s = match s.find(" not found under path") {
        Some(i) => &s[..i + " not found under path".len()],
        None => s,
    };
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the emulation predicts Nomad shows: each error finding with a Nomad text (or a
/// run failure), with its exit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Predicted {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
}

pub fn predicted(r: &Report) -> Vec<Predicted> {
    let mut out: Vec<Predicted> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter_map(|f| {
            f.nomad_error.as_ref().map(|e| Predicted {
                error: e.clone(),
                exit_code: f.exit_code,
                oom_killed: false,
            })
        })
        .collect();
    if let Some(run) = &r.run {
        let stderr = run
            .stderr_tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_owned();
        if run.oom_killed || run.exit_code.is_some_and(|c| c != 0) {
            out.push(Predicted {
                error: stderr,
                exit_code: run.exit_code,
                oom_killed: run.oom_killed,
            });
        }
    }
    out
}

/// The root cause behind a reproduced failure: the finding that explains it.
#[derive(Debug, Clone, Serialize)]
pub struct RootCause {
    pub kind: Kind,
    pub cause: Cause,
    /// The missing (or broken) path, as the task sees it.
    pub path: String,
    /// What needs it, entrypoint first.
    pub needed_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nomad_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl RootCause {
    fn of(f: &Finding) -> RootCause {
        RootCause {
            kind: f.kind,
            cause: f.cause,
            path: f.path.clone(),
            needed_by: f.needed_by.clone(),
            nomad_error: f.nomad_error.clone(),
            message: f.message.clone(),
            fix: f.hint.clone(),
        }
    }
}

/// The comparison and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub verdict: AllocVerdict,
    /// One line each: why this verdict, what differs and what would explain it.
    pub explanation: Vec<String>,
    /// For `reproduced`: the finding behind the error.
    pub root_cause: Option<RootCause>,
    /// The events that point outside the bundle.
    pub outside_bundle: Vec<String>,
}

/// What the emulation assumed that the real client may have differently, for the
/// explanations of a `differs` or `passes here`.
#[derive(Debug, Clone, Default)]
pub struct Assumptions {
    /// The Nomad version emulated, and whether it is the node's.
    pub nomad_version: String,
    pub version_from_node: bool,
    /// The chroot_env was the default (not the client's config).
    pub chroot_env_assumed: bool,
    /// Artifacts came from local files (`--artifact`), not their sources.
    pub artifacts_mapped: bool,
    /// The task was only checked statically.
    pub static_only: bool,
}

pub fn compare(
    real: &RealSide,
    outside_events: &[String],
    emu: &Report,
    a: &Assumptions,
) -> Comparison {
    let mut c = Comparison {
        verdict: AllocVerdict::NoFailure,
        explanation: Vec::new(),
        root_cause: None,
        outside_bundle: outside_events.to_vec(),
    };
    let predicted = predicted(emu);
    let emu_fails = emu.verdict != Verdict::Pass;
    let failure = real.failure.as_ref();
    let stderr = real.stderr_tail.as_deref().unwrap_or("");
    if failure.is_none() && stderr.trim().is_empty() {
        c.explanation.push(if real.state.is_empty() {
            "Nomad's record of the task is not available and its stderr is empty: there is no real failure to compare".into()
        } else {
            format!(
                "Nomad recorded no failure for this task (state {}{})",
                real.state,
                if real.failed { ", failed" } else { "" }
            )
        });
        if emu_fails {
            c.explanation.push(
                "the emulation fails all the same: see its findings (the bundle or client may have changed since)".into(),
            );
        }
        return c;
    }

    // Reproduced: the same error text (or, for a run-time failure, the same exit code
    // with the emulated error on the real stderr).
    if let Some((p, finding)) = matching(failure, stderr, &predicted, emu) {
        c.verdict = AllocVerdict::Reproduced;
        c.explanation.push(format!(
            "the emulation fails the same way: {}{}",
            if p.oom_killed {
                "OOM-killed at the task's memory limit".to_owned()
            } else {
                p.error.clone()
            },
            p.exit_code
                .map(|e| format!(" (exit {e})"))
                .unwrap_or_default()
        ));
        if failure.is_some_and(|f| f.kind == "Terminated" && !f.oom_killed)
            && stderr.trim().is_empty()
        {
            c.explanation.push(
                "matched on the exit code alone: the task's stderr was not available to compare"
                    .into(),
            );
        }
        c.explanation.extend(emu.summary.iter().cloned());
        c.root_cause = finding.map(RootCause::of);
        return c;
    }

    let real_text = failure.map(|f| f.message.clone()).unwrap_or_default();
    if !emu_fails {
        c.verdict = AllocVerdict::PassesHere;
        c.explanation.push(format!(
            "the task {} here, so the cause is outside the bundle as checked",
            if a.static_only {
                "passes the static check"
            } else {
                "runs"
            }
        ));
        if outside_events.is_empty() {
            explain_differences(&mut c.explanation, failure, a);
        }
        if failure.is_some_and(|f| f.oom_killed) && a.static_only {
            c.explanation.push("an OOM kill happens at run time: run the task (without --no-run) to reproduce it under its memory limit".into());
        }
        return c;
    }

    c.verdict = AllocVerdict::Differs;
    let first = predicted
        .first()
        .map(|p| p.error.clone())
        .unwrap_or_else(|| emu.summary.first().cloned().unwrap_or_default());
    c.explanation.push(format!(
        "Nomad recorded `{}`{}; the emulation predicts `{first}`",
        if real_text.is_empty() {
            stderr.trim()
        } else {
            real_text.as_str()
        },
        failure
            .and_then(|f| f.exit_code)
            .map(|e| format!(" (exit {e})"))
            .unwrap_or_default()
    ));
    // Same message, another exit code: runc 1.1 (Nomad ≤ 1.9) exits 1 where ≥ 1.10 exits 255.
    if let (Some(real_code), true) = (failure.and_then(|f| f.exit_code), !stderr.is_empty()) {
        if predicted.iter().any(|p| {
            !p.error.is_empty()
                && stderr.contains(p.error.as_str())
                && p.exit_code != Some(real_code as i32)
        }) {
            c.explanation.push(format!(
                "the error is the same but the exit code is not: Nomad ≤ 1.9 exits 1 after an execve failure, ≥ 1.10 exits 255 (emulated: {}{})",
                a.nomad_version,
                if a.version_from_node { ", the node's" } else { "; pass --nomad-version with the node's" }
            ));
        }
    }
    if !outside_events.is_empty() {
        c.explanation.push("Nomad stopped at a cause outside the bundle first; the emulation's findings show what would fail once that is fixed".into());
    }
    explain_differences(&mut c.explanation, failure, a);
    c
}

/// A prediction that matches the real failure, with the finding behind it.
fn matching<'r>(
    failure: Option<&EventView>,
    stderr: &str,
    predicted: &[Predicted],
    emu: &'r Report,
) -> Option<(Predicted, Option<&'r Finding>)> {
    let finding_for = |p: &Predicted| -> Option<&'r Finding> {
        if p.oom_killed {
            return emu.findings.iter().find(|f| f.cause == Cause::Oom);
        }
        let errors = || {
            emu.findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
        };
        errors()
            .find(|f| f.nomad_error.as_deref().map(normalize) == Some(normalize(&p.error)))
            .or_else(|| {
                // A run failure: the static finding with the same text, else the
                // runtime lookup the task failed at.
                errors().find(|f| f.kind == Kind::Missing && f.cause == Cause::Runtime)
            })
            .or_else(|| errors().next())
    };
    for p in predicted {
        let pn = normalize(&p.error);
        let hit = match failure {
            Some(f) if f.kind == "Terminated" => {
                let code_ok = p.exit_code.is_some_and(|c| Some(c as i64) == f.exit_code);
                if f.oom_killed || p.oom_killed {
                    f.oom_killed && p.oom_killed
                } else if stderr.trim().is_empty() {
                    // No logs: the exit code alone (127 and 255 are the loader's and
                    // runc's; others say little).
                    code_ok && matches!(f.exit_code, Some(127) | Some(255))
                } else {
                    code_ok && !pn.is_empty() && normalize(stderr).contains(&pn)
                }
            }
            Some(f) => {
                let rn = normalize(&f.message);
                !pn.is_empty() && !rn.is_empty() && (rn.contains(&pn) || pn.contains(&rn))
            }
            // Only a stderr (an alloc dir without Nomad's record).
            None => !pn.is_empty() && normalize(stderr).contains(&pn),
        };
        if hit {
            return Some((p.clone(), finding_for(p)));
        }
    }
    None
}

fn explain_differences(out: &mut Vec<String>, failure: Option<&EventView>, a: &Assumptions) {
    if a.chroot_env_assumed {
        out.push("the client's chroot_env is not known here (the API does not expose it): another chroot_env on that client would change what the task sees; pass --client-config with the client's config".into());
    }
    if !a.version_from_node {
        out.push(format!(
            "Nomad {} was emulated; the node may run another version (pass --nomad-version, or --node with the node's JSON)",
            a.nomad_version
        ));
    }
    if a.artifacts_mapped {
        out.push("the artifacts were taken from local files (--artifact): the one the client downloaded may have changed since (a checksum option pins it)".into());
    }
    if failure.is_some_and(|f| f.kind == "Terminated") && a.static_only {
        out.push("the task ran and exited on the client: a run here (without --no-run) compares its exit code and stderr".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nomad::NomadVersion;

    fn ev(kind: &str, msg: &str, code: i64) -> TaskEvent {
        TaskEvent {
            r#type: kind.into(),
            display_message: msg.into(),
            exit_code: code,
            ..TaskEvent::default()
        }
    }

    fn report_with(f: Finding) -> Report {
        let mut r = Report::new(NomadVersion::NEWEST);
        r.findings.push(f);
        r.settle_verdict();
        r
    }

    #[test]
    fn the_newest_failure_is_decisive() {
        let events = vec![
            ev("Received", "Task received by client", 0),
            ev("Started", "Task started by client", 0),
            ev("Terminated", "Exit Code: 255", 255),
            ev("Restarting", "Task restarting in 15s", 0),
            ev(
                "Not Restarting",
                "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"",
                0,
            ),
        ];
        assert_eq!(decisive(&events).unwrap().exit_code, 255);
        let ok = vec![ev("Started", "", 0), ev("Terminated", "Exit Code: 0", 0)];
        assert!(decisive(&ok).is_none());
    }

    #[test]
    fn driver_failures_match_without_the_host_task_dir() {
        let real = RealSide {
            state: "dead".into(),
            failed: true,
            failure: Some(EventView::from_event(&ev(
                "Driver Failure",
                "failed to launch command with executor: rpc error: code = Unknown desc = file /bin/app not found under path /var/nomad/alloc/5456bd7a-9fc0-c0dd-6131-cbee77f57577/web",
                0,
            ))),
            ..RealSide::default()
        };
        let emu = report_with(
            Finding::error(Kind::Missing, Cause::Command, "/bin/app")
                .nomad_error(format!(
                    "{DRIVER_PREFIX}file /bin/app not found under path /tmp/x/web"
                ))
                .hint("ship it"),
        );
        let c = compare(&real, &[], &emu, &Assumptions::default());
        assert_eq!(c.verdict, AllocVerdict::Reproduced, "{c:?}");
        assert_eq!(c.root_cause.unwrap().path, "/bin/app");
    }

    #[test]
    fn an_exit_code_from_another_version_differs_and_says_why() {
        let mut e = ev("Terminated", "Exit Code: 1", 1);
        e.details.insert("exit_code".into(), "1".into());
        let real = RealSide {
            failure: Some(EventView::from_event(&e)),
            stderr_tail: Some("exec /local/app: no such file or directory\n".into()),
            state: "dead".into(),
            ..RealSide::default()
        };
        let emu = report_with(
            Finding::error(
                Kind::Missing,
                Cause::Interpreter,
                "/lib64/ld-linux-x86-64.so.2",
            )
            .nomad_error("exec /local/app: no such file or directory")
            .exit_code(255),
        );
        let c = compare(
            &real,
            &[],
            &emu,
            &Assumptions {
                nomad_version: "2.0".into(),
                ..Default::default()
            },
        );
        assert_eq!(c.verdict, AllocVerdict::Differs);
        assert!(
            c.explanation.iter().any(|l| l.contains("≤ 1.9 exits 1")),
            "{c:?}"
        );
    }

    #[test]
    fn template_failures_point_outside() {
        let e = ev(
            "Killing",
            "Template failed: vault.read(secret/db): permission denied",
            0,
        );
        assert!(points_outside(&e).unwrap().contains("template"));
        let d = ev(
            "Driver Failure",
            "failed to create executor: plugin exited",
            0,
        );
        assert!(points_outside(&d).unwrap().contains("exec driver"));
        let lookup = ev(
            "Driver Failure",
            "failed to launch command with executor: rpc error: code = Unknown desc = file app not found under path",
            0,
        );
        assert!(points_outside(&lookup).is_none());
    }
}
