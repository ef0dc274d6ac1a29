//! The run's report from the runner's end state: the verdict, each task's report with
//! its runtime findings, and the finding that pins an unhealthy allocation on a task.

use std::net::IpAddr;

use super::connect::Published;
use super::lifecycle::TaskState;
use super::netns::{self, Bridge};
use super::placement::NetworkMode;
use super::report::{AllocReport, CheckReport, JobRunReport, NetworkInfo, TaskReport};
use super::runner::{AllocRt, Outcome, Runner};
use crate::finding::{Cause, Finding, Kind, Verdict};
use crate::job::PlanContext;

pub(super) fn build_report(
    r: &Runner,
    ctx: &PlanContext,
    bridge: Option<&Bridge>,
    host_ip: IpAddr,
    outcome: Outcome,
    mut findings: Vec<Finding>,
) -> JobRunReport {
    let (verdict, result, message) = match &outcome {
        Outcome::Healthy => (
            Verdict::Pass,
            "healthy",
            "the job became healthy".to_owned(),
        ),
        Outcome::Complete => (
            Verdict::Pass,
            "complete",
            "every task completed successfully".into(),
        ),
        Outcome::Unhealthy(m) => (Verdict::Fail, "unhealthy", m.clone()),
        Outcome::Failed(m) => (Verdict::Fail, "failed", m.clone()),
        Outcome::Deadline(m) => (Verdict::Fail, "deadline", m.clone()),
        Outcome::Interrupted => (
            Verdict::Fail,
            "interrupted",
            "interrupted before the job became healthy".into(),
        ),
        Outcome::Error(m) => (Verdict::Error, "error", m.clone()),
    };
    let healthy_seen = r.events.iter().any(|e| e.kind == "Deployment");
    let (verdict, result, message) = match (&outcome, healthy_seen) {
        // --keep-running: healthy, then stopped by Ctrl-C.
        (Outcome::Interrupted, true) => (
            Verdict::Pass,
            "healthy",
            "the job became healthy; stopped by Ctrl-C".to_owned(),
        ),
        _ => (verdict, result, message),
    };
    if verdict != Verdict::Pass {
        findings.push(
            Finding::error(Kind::Run, Cause::Timeout, r.job_name.clone())
                .message(format!("the job did not succeed: {message}")),
        );
    }
    let mut allocations = Vec::new();
    for a in &r.allocs {
        let mut culprits: Vec<(usize, String)> = Vec::new();
        for (ti, why) in &a.blame {
            let f = blame_finding(r, a, *ti, why);
            if f.cause == Cause::Runtime {
                culprits.push((*ti, f.path.rsplit('/').next().unwrap_or("").to_owned()));
            }
            findings.push(f);
        }
        let tasks = a
            .tasks
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let mut rep = t.stat.static_report.clone();
                rep.findings.extend(t.findings.iter().cloned().map(|mut f| {
                    let name = f.path.rsplit('/').next().unwrap_or("");
                    if f.cause == Cause::Runtime
                        && culprits.iter().any(|(b, n)| *b == ti && n == name)
                    {
                        f.severity = crate::finding::Severity::Error;
                    }
                    f
                }));
                rep.run = t.last_run.clone();
                rep.settle_verdict();
                if t.failed && rep.verdict == Verdict::Pass {
                    rep.verdict = Verdict::Fail;
                }
                let events = r
                    .events
                    .iter()
                    .filter(|e| {
                        e.alloc == a.p.name && e.task.as_deref() == Some(t.stat.name.as_str())
                    })
                    .cloned()
                    .collect();
                TaskReport {
                    name: t.stat.name.clone(),
                    lifecycle: t.stat.stage,
                    leader: t.stat.leader,
                    state: t.state,
                    failed: t.failed,
                    restarts: t.restart.count(),
                    restart_policy: t.restart.policy,
                    exit_code: t.exit_code,
                    events,
                    report: rep,
                }
            })
            .collect();
        let status = if a.tasks.iter().any(|t| t.failed) {
            "failed"
        } else if a.tasks.iter().all(|t| t.state == TaskState::Dead) {
            "complete"
        } else {
            "running"
        };
        allocations.push(AllocReport {
            id: a.p.id.clone(),
            name: a.p.name.clone(),
            group: a.group_name.clone(),
            index: a.p.index,
            network_mode: match a.p.mode {
                NetworkMode::Bridge => "bridge",
                NetworkMode::Host => "host",
                NetworkMode::None => "none",
            }
            .into(),
            ip: a.p.ip.map(|i| i.to_string()),
            netns: a.ns.as_ref().map(|n| format!("net:[{}]", n.inode())),
            ports: a.p.ports.clone(),
            status: status.into(),
            health: a
                .health
                .map(|h| if h { "healthy" } else { "unhealthy" }.into()),
            health_message: a.health_msg.clone(),
            tasks,
            checks: a
                .checks
                .iter()
                .map(|c| CheckReport {
                    service: c.service.clone(),
                    name: c.name.clone(),
                    kind: c.kind.clone(),
                    status: c.status,
                    output: c.output.clone(),
                    target: c.target.clone(),
                    runs: c.runs,
                })
                .collect(),
            forwarders: a.forwarders.iter().map(Published::report).collect(),
        });
    }
    let mut events = r.events.clone();
    events.sort_by_key(|e| e.at_ms);
    JobRunReport {
        schema_version: crate::finding::SCHEMA_VERSION,
        tool: crate::finding::Tool::default(),
        mode: "run-job",
        nomad_version: ctx.version,
        job: r.job_name.clone(),
        job_type: r.job_type.clone(),
        verdict,
        result: result.into(),
        result_message: message,
        duration_ms: r.t0.elapsed().as_millis() as u64,
        started_unix_ms: r.unix0,
        network: bridge.map(|b| NetworkInfo {
            bridge: netns::BRIDGE_NAME.into(),
            subnet: b.subnet.to_string(),
            gateway: b.gateway.to_string(),
            host_ip: host_ip.to_string(),
            namespace: format!("the run's own network namespace (net:[{}])", b.node.inode()),
            netns: format!("net:[{}]", b.node.inode()),
        }),
        allocations,
        events,
        findings,
    }
}

/// Why an allocation was not healthy, pinned on a task: what it was doing (the event)
/// and the paths it looked for at run time and did not find, the likeliest first
/// (libraries, then names searched in several places, then the most repeated).
fn blame_finding(r: &Runner, a: &AllocRt, ti: usize, why: &str) -> Finding {
    let t = &a.tasks[ti];
    // Not a byte-code cache a read-only store cannot hold, nor an interpreter probing
    // for a package's extension-module forms.
    let probe = |f: &Finding| {
        let b = f.path.rsplit('/').next().unwrap_or("");
        f.path.contains("/__pycache__/") || b.starts_with("__init__.")
    };
    let mut misses: Vec<&Finding> = t
        .findings
        .iter()
        .filter(|f| f.kind == Kind::Missing && f.cause == Cause::Runtime && !probe(f))
        .collect();
    let count = |f: &Finding| {
        f.message
            .as_deref()
            .and_then(|m| m.split(" (").nth(1))
            .and_then(|c| c.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(1)
    };
    let base = |f: &Finding| f.path.rsplit('/').next().unwrap_or("").to_owned();
    let places = |f: &Finding| misses_named(&t.findings, &base(f));
    // A library the loader searched for (`libpq.so.5`), not an interpreter's probe
    // (`__init__.abi3.so`).
    let soname = |f: &Finding| {
        let b = base(f);
        b.starts_with("lib") && b.contains(".so")
    };
    misses.sort_by_key(|f| {
        (
            !soname(f),
            std::cmp::Reverse(places(f)),
            std::cmp::Reverse(count(f)),
        )
    });
    let last = r
        .events
        .iter()
        .rev()
        .find(|e| {
            e.alloc == a.p.name
                && e.task.as_deref() == Some(t.stat.name.as_str())
                && e.kind != "Killing"
                && e.kind != "Killed"
                && e.kind != "Terminated"
        })
        .map(|e| format!("{} at +{:.1}s", e.kind, e.at_ms as f64 / 1000.0))
        .unwrap_or_else(|| "no event".into());
    let who = format!("{}/{}", a.p.name, t.stat.name);
    match misses.first() {
        Some(m) => {
            let also: Vec<&str> = misses[1..]
                .iter()
                .filter(|f| base(f) == base(m))
                .map(|f| f.path.as_str())
                .collect();
            Finding::error(Kind::Missing, Cause::Runtime, m.path.clone())
                .needed_by(vec![who.clone()])
                .message(format!(
                    "task \"{}\" of {} {why} (last event: {last}): it looked for {} at run time and did not find it{}",
                    t.stat.name,
                    a.p.name,
                    m.path,
                    if also.is_empty() { String::new() } else { format!(" (nor at {})", also.join(", ")) }
                ))
                .hint(format!(
                    "add `{}` to the bundle of task \"{}\" (its store path, or a wrapper on the bundle's PATH)",
                    base(m),
                    t.stat.name
                ))
        }
        None => Finding::error(Kind::Run, Cause::Timeout, who).message(format!(
            "task \"{}\" of {} {why} (last event: {last})",
            t.stat.name, a.p.name
        )),
    }
}

/// How many runtime misses share a basename (a command searched along PATH).
fn misses_named(findings: &[Finding], name: &str) -> usize {
    findings
        .iter()
        .filter(|f| f.cause == Cause::Runtime && f.path.rsplit('/').next() == Some(name))
        .count()
}
