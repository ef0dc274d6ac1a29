//! Checking one planned task: the report of [`check::run`] with the job's own findings,
//! and what a task that only waited for a Connect upstream really needs.

use crate::check;
use crate::error::ExitCode;
use crate::finding::{Cause, Finding, Kind, Report, Severity, Verdict};

use super::PlannedTask;
use super::taskvars::clean;

/// Check one planned task: the report of `check::run` plus the job's findings.
pub fn check_task(t: &PlannedTask) -> Report {
    let opts = &t.opts;
    let mut report = if t.blocked {
        // The artifact hook fails before the task starts: nothing to unpack or run.
        let mut r = Report::new(opts.nomad_version);
        r.task = check::task_info(opts, &t.env);
        r
    } else {
        match check::run(opts) {
            Ok(r) => r,
            Err(e) => {
                let mut r = Report::new(opts.nomad_version);
                r.task = check::task_info(opts, &t.env);
                r.findings.push(
                    Finding::error(Kind::Run, Cause::StartFailure, opts.task.name.clone())
                        .message(format!("could not check this task: {e}")),
                );
                r.verdict = match e.exit_code() {
                    ExitCode::Reject => Verdict::Reject,
                    _ => Verdict::Error,
                };
                r.findings.extend(t.findings.iter().cloned());
                return r;
            }
        }
    };
    report.findings.extend(t.findings.iter().cloned());
    crate::finding::apply_deny(&mut report.findings, &opts.deny);
    waits_for_upstream(t, &mut report);
    report.settle_verdict();
    report
}

/// A task that timed out while it refers to a Connect upstream was waiting for it:
/// checked alone, nothing listens on the upstream's local port. Say so, and that the
/// fix is to run the whole job, rather than a timeout and a `--type service` hint
/// `job` mode cannot take (the type comes from the jobspec).
fn waits_for_upstream(t: &PlannedTask, report: &mut Report) {
    if t.upstreams.is_empty() {
        return;
    }
    let Some(i) = report
        .findings
        .iter()
        .position(|f| f.kind == Kind::Run && f.cause == Cause::Timeout)
    else {
        return;
    };
    let names = t
        .upstreams
        .iter()
        .map(|u| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let addrs: Vec<String> = t
        .upstreams
        .iter()
        .filter_map(|u| {
            t.env
                .get(&format!("NOMAD_UPSTREAM_ADDR_{}", clean(u)))
                .cloned()
        })
        .collect();
    let old = report.findings.remove(i);
    // The run's misses were errors because of the timeout; waiting is not a failure.
    if !report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error && f.cause != Cause::Runtime)
    {
        for f in report
            .findings
            .iter_mut()
            .filter(|f| f.cause == Cause::Runtime)
        {
            f.severity = Severity::Warning;
        }
    }
    report.findings.push(
        Finding::warning(Kind::Run, Cause::Upstream, old.path.clone()).message(format!(
            "waits for upstream {names}: run the whole job. Checked alone, nothing serves {} in the task's network namespace, so the {}task ran until the --timeout and was stopped; under Nomad it ends once the upstream answers",
            if addrs.is_empty() { "the upstream".to_owned() } else { addrs.join(", ") },
            if t.prestart { "prestart " } else { "" }
        ))
        .hint("run the whole job: nomad-chroot-check job JOBFILE --run-job (with the same --artifact and --client-config options)"),
    );
}
