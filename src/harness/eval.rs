//! Judge one check: compare a bundle's [`Report`] (or a file in its task dir) with what
//! the spec expects. Pure functions of their inputs.

use std::time::Duration;

use crate::error::ExitCode;
use crate::finding::{Cause, Kind, Report, RunOutcome, Severity, Verdict};
use crate::report::finding_line;

use super::file::excerpt;
use super::spec::{Check, CheckKind, Expect};

/// How a check came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// What the bundle did that the spec says it must not (one entry per mismatch).
    Failed(Vec<String>),
    /// The check could not be carried out on this machine (no namespaces, an internal
    /// error, a job check without the jobspec reader): neither a pass nor a verdict on
    /// the bundle.
    CouldNotRun(String),
}

/// Why `check::prepare`/`check::finish` returned no report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub message: String,
    pub exit: ExitCode,
}

impl From<crate::error::Error> for CheckError {
    fn from(e: crate::error::Error) -> Self {
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            let t = s.to_string();
            if !message.contains(&t) {
                message.push_str(": ");
                message.push_str(&t);
            }
            src = s.source();
        }
        CheckError {
            message,
            exit: e.exit_code(),
        }
    }
}

/// Downgrade what the spec allows to `info`, then settle the verdict again:
/// `allow_missing` paths, and the run's exit code when the spec expects that code.
pub fn apply_allowances(check: &Check, report: &mut Report) {
    for f in &mut report.findings {
        if f.kind != Kind::Missing || f.severity == Severity::Info {
            continue;
        }
        if let Some(a) = check.allow_missing.iter().find(|a| a.covers(&f.path)) {
            f.severity = Severity::Info;
            let note = format!("allowed by the spec: {}", a.reason);
            f.message = Some(match &f.message {
                Some(m) => format!("{m} ({note})"),
                None => note,
            });
        }
    }
    if let CheckKind::Command {
        exit_code: Some(want),
        healthy_after: None,
        ..
    } = &check.kind
    {
        let got = report.run.as_ref().and_then(|r| r.exit_code);
        if *want != 0 && got == Some(*want) {
            for f in &mut report.findings {
                if f.kind == Kind::Run && f.cause == Cause::ExitCode && f.severity != Severity::Info
                {
                    f.severity = Severity::Info;
                    f.message = Some(format!("exit code {want} is what the spec expects"));
                }
            }
        }
    }
    report.settle_verdict();
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Reject => "reject",
        Verdict::Error => "error",
    }
}

/// The findings that decided a verdict, one line each.
pub fn decisive_findings(report: &Report) -> String {
    let lines: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("  - {}", finding_line(f)))
        .collect();
    if lines.is_empty() {
        report.summary.join("\n")
    } else {
        lines.join("\n")
    }
}

fn run_status(run: &RunOutcome) -> String {
    if run.still_running {
        "it was still running".into()
    } else if run.timed_out {
        format!("it timed out after {} ms", run.duration_ms)
    } else if let Some(sig) = &run.signal {
        format!(
            "it was killed by {sig}{}",
            if run.oom_killed {
                " (out of memory)"
            } else {
                ""
            }
        )
    } else if let Some(code) = run.exit_code {
        format!("it exited with {code} after {} ms", run.duration_ms)
    } else {
        "it did not start".into()
    }
}

fn output_mismatch(stream: &str, source: &str, actual: &str) -> String {
    if source.is_empty() {
        format!("{stream} should be empty; it was:\n{}", excerpt(actual))
    } else {
        format!(
            "{stream} does not match /{source}/; it was:\n{}",
            excerpt(actual)
        )
    }
}

/// Judge a bundle check (static or command) from its report.
pub fn evaluate(check: &Check, result: Result<Report, CheckError>) -> (Outcome, Option<Report>) {
    let mut report = match result {
        Ok(r) => r,
        Err(e) if e.exit == ExitCode::Reject => {
            let outcome = if check.expect == Expect::Pass {
                Outcome::Failed(vec![format!("the bundle is rejected: {}", e.message)])
            } else {
                Outcome::Passed
            };
            return (outcome, None);
        }
        Err(e) => return (Outcome::CouldNotRun(e.message), None),
    };
    apply_allowances(check, &mut report);
    if report.verdict == Verdict::Error {
        let why = decisive_findings(&report);
        return (Outcome::CouldNotRun(why), Some(report));
    }

    let v = report.verdict;
    let mut run_failures = Vec::new();
    if let CheckKind::Command {
        exit_code,
        stdout,
        stderr,
        healthy_after,
        ..
    } = &check.kind
    {
        if !check.settings.no_run {
            let expected_exit = exit_code
                .or((check.expect == Expect::Pass && healthy_after.is_none()).then_some(0));
            let asserts = expected_exit.is_some()
                || stdout.is_some()
                || stderr.is_some()
                || healthy_after.is_some();
            match &report.run {
                None if asserts && v == Verdict::Pass => run_failures.push(
                    "the task was not run: the static check found that it cannot start".into(),
                ),
                None => {}
                Some(run) => {
                    if let Some(h) = healthy_after {
                        if !run.still_running {
                            run_failures.push(format!(
                                "the service did not stay up for {}: {}",
                                human_duration(*h),
                                run_status(run)
                            ));
                        }
                    } else if let Some(want) = expected_exit {
                        if run.exit_code != Some(want) || run.signal.is_some() || run.timed_out {
                            run_failures.push(format!(
                                "expected exit code {want}, but {}",
                                run_status(run)
                            ));
                        }
                    }
                    if let Some(m) = stdout {
                        if !m.is_match(&run.stdout_tail) {
                            run_failures.push(output_mismatch(
                                "stdout",
                                &m.source,
                                &run.stdout_tail,
                            ));
                        }
                    }
                    if let Some(m) = stderr {
                        if !m.is_match(&run.stderr_tail) {
                            run_failures.push(output_mismatch(
                                "stderr",
                                &m.source,
                                &run.stderr_tail,
                            ));
                        }
                    }
                }
            }
        }
    }

    // The run's own findings (exit code, signal, early exit of a service) are what the
    // run assertions report, with the expected value; do not say it twice.
    let run_explains = !run_failures.is_empty()
        && report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .all(|f| f.kind == Kind::Run);
    let mut failures = Vec::new();
    match check.expect {
        Expect::Pass if v != Verdict::Pass && !run_explains => failures.push(format!(
            "expected verdict pass, got {}:\n{}",
            verdict_name(v),
            decisive_findings(&report)
        )),
        Expect::Fail if v == Verdict::Pass => failures.push(
            "expected the bundle to fail this check (expect = \"fail\"), but it passed".into(),
        ),
        Expect::Reject if v != Verdict::Reject => failures.push(format!(
            "expected Nomad to reject the bundle (expect = \"reject\"), got verdict {}",
            verdict_name(v)
        )),
        _ => {}
    }
    failures.extend(run_failures);

    let outcome = if failures.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(failures)
    };
    (outcome, Some(report))
}

/// Judge a file check from the unpacked task dir: `report` is what unpacking found,
/// `failures` what [`super::file::check_file`] found.
pub fn evaluate_file(
    check: &Check,
    result: Result<(Report, Vec<String>), CheckError>,
) -> (Outcome, Option<Report>) {
    let (mut report, mut failures) = match result {
        Ok((r, f)) => (Some(r), f),
        Err(e) if e.exit == ExitCode::Reject => {
            (None, vec![format!("the bundle is rejected: {}", e.message)])
        }
        Err(e) => return (Outcome::CouldNotRun(e.message), None),
    };
    if let Some(r) = &mut report {
        apply_allowances(check, r);
        if r.verdict == Verdict::Reject {
            failures.insert(
                0,
                format!(
                    "Nomad would refuse the bundle, so no file reaches the task:\n{}",
                    decisive_findings(r)
                ),
            );
        }
    }
    let outcome = match (check.expect, failures.is_empty()) {
        (Expect::Pass, true) | (Expect::Fail | Expect::Reject, false) => Outcome::Passed,
        (Expect::Pass, false) => Outcome::Failed(failures),
        (Expect::Fail | Expect::Reject, true) => Outcome::Failed(vec![
            "expected this file check to fail (expect = \"fail\"), but the file is as described"
                .into(),
        ]),
    };
    (outcome, report)
}

pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::finding::{Finding, RunOutcome};
    use crate::harness::spec::Spec;
    use crate::nomad::NomadVersion;

    fn check(body: &str) -> Check {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.tgz"), b"").unwrap();
        let text = format!("[[check]]\nname = \"c\"\nbundle = \"a.tgz\"\n{body}");
        Spec::parse(&text, Path::new("s.toml"), d.path())
            .unwrap()
            .checks
            .remove(0)
    }

    fn report(findings: Vec<Finding>, run: Option<RunOutcome>) -> Report {
        let mut r = Report::new(NomadVersion::NEWEST);
        r.findings = findings;
        r.run = run;
        r.settle_verdict();
        r
    }

    fn exited(code: i32, stdout: &str, stderr: &str) -> RunOutcome {
        RunOutcome {
            exit_code: Some(code),
            stdout_tail: stdout.into(),
            stderr_tail: stderr.into(),
            duration_ms: 5,
            ..Default::default()
        }
    }

    fn failures(o: Outcome) -> Vec<String> {
        match o {
            Outcome::Failed(f) => f,
            o => panic!("expected a failure, got {o:?}"),
        }
    }

    #[test]
    fn allow_missing_turns_a_missing_path_into_info() {
        let missing = || {
            Finding::error(Kind::Missing, Cause::Runtime, "/etc/hosts")
                .nomad_error("open /etc/hosts: no such file or directory")
        };
        let strict = check("");
        let (o, r) = evaluate(&strict, Ok(report(vec![missing()], None)));
        let f = failures(o);
        assert!(f[0].contains("expected verdict pass, got fail"), "{f:?}");
        assert!(f[0].contains("Nomad: open /etc/hosts"), "{f:?}");
        assert_eq!(r.unwrap().verdict, Verdict::Fail);

        let lenient = check("allow_missing = [\"/etc/hosts\"] # chroot_env\n");
        let (o, r) = evaluate(&lenient, Ok(report(vec![missing()], None)));
        assert_eq!(o, Outcome::Passed);
        let r = r.unwrap();
        assert_eq!(r.verdict, Verdict::Pass);
        assert_eq!(r.findings[0].severity, Severity::Info);
        assert!(
            r.findings[0]
                .message
                .as_deref()
                .unwrap()
                .contains("chroot_env")
        );
        // A library the bundle lacks is not covered by an unrelated allowance.
        let lib = Finding::error(Kind::Missing, Cause::Library, "/lib/libc.so.6");
        let (o, _) = evaluate(&lenient, Ok(report(vec![lib], None)));
        assert!(matches!(o, Outcome::Failed(_)));
    }

    #[test]
    fn expect_fail_and_reject() {
        let broken = || {
            report(
                vec![Finding::error(Kind::Missing, Cause::Interpreter, "/x")],
                None,
            )
        };
        let fail = check("expect = \"fail\"\n");
        assert_eq!(evaluate(&fail, Ok(broken())).0, Outcome::Passed);
        let f = failures(evaluate(&fail, Ok(report(vec![], None))).0);
        assert!(f[0].contains("but it passed"), "{f:?}");
        let reject = check("expect = \"reject\"\n");
        let f = failures(evaluate(&reject, Ok(broken())).0);
        assert!(f[0].contains("got verdict fail"), "{f:?}");
        let rejected = report(
            vec![Finding::error(
                Kind::UnsafeEntry,
                Cause::PathTraversal,
                "../x",
            )],
            None,
        );
        assert_eq!(evaluate(&reject, Ok(rejected)).0, Outcome::Passed);
        let refused = CheckError {
            message: "gzip: invalid header".into(),
            exit: ExitCode::Reject,
        };
        assert_eq!(evaluate(&fail, Err(refused.clone())).0, Outcome::Passed);
        assert!(matches!(
            evaluate(&check(""), Err(refused)).0,
            Outcome::Failed(_)
        ));
    }

    #[test]
    fn could_not_run_is_neither_pass_nor_fail() {
        let c = check("command = \"/bin/sh\"\n");
        let mut r = report(vec![], None);
        r.findings.push(
            Finding::error(Kind::Run, Cause::StartFailure, "/bin/sh")
                .message("could not run the task here: user namespaces are disabled"),
        );
        r.verdict = Verdict::Error;
        match evaluate(&c, Ok(r)).0 {
            Outcome::CouldNotRun(why) => assert!(why.contains("user namespaces"), "{why}"),
            o => panic!("{o:?}"),
        }
        let e = CheckError {
            message: "cannot create the work dir".into(),
            exit: ExitCode::Error,
        };
        assert!(matches!(evaluate(&c, Err(e)).0, Outcome::CouldNotRun(_)));
    }

    #[test]
    fn exit_code_and_output_are_compared() {
        let c = check(
            "command = \"/bin/sh\"\nexit_code = 3\nstdout = '^hello 1\\.2\\n'\nstderr = \"\"\n",
        );
        let code3 = || {
            Finding::error(Kind::Run, Cause::ExitCode, "/bin/sh")
                .exit_code(3)
                .message("exited with 3")
        };
        let (o, r) = evaluate(
            &c,
            Ok(report(vec![code3()], Some(exited(3, "hello 1.2\n", "")))),
        );
        assert_eq!(o, Outcome::Passed, "{r:?}");
        assert_eq!(r.unwrap().verdict, Verdict::Pass);

        let f = failures(
            evaluate(
                &c,
                Ok(report(
                    vec![],
                    Some(exited(0, "hello 2.0\n", "warning: x\n")),
                )),
            )
            .0,
        );
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0].contains("expected exit code 3") && f[0].contains("exited with 0"));
        assert!(f[1].contains("does not match /^hello 1\\.2\\n/") && f[1].contains("hello 2.0"));
        assert!(f[2].contains("stderr should be empty") && f[2].contains("warning: x"));

        // Without exit_code, a passing check expects 0.
        let plain = check("command = \"/bin/sh\"\n");
        let f = failures(evaluate(&plain, Ok(report(vec![code3()], Some(exited(3, "", ""))))).0);
        assert!(
            f.iter().any(|l| l.contains("expected exit code 0")),
            "{f:?}"
        );
        // Not run at all (the static check blocked it).
        let f = failures(evaluate(&plain, Ok(report(vec![], None))).0);
        assert!(f[0].contains("was not run"), "{f:?}");
    }

    #[test]
    fn services_must_still_be_running() {
        let c = check("command = \"/srv\"\nservice = true\nhealthy_after = \"2s\"\n");
        let up = RunOutcome {
            still_running: true,
            ..Default::default()
        };
        assert_eq!(
            evaluate(&c, Ok(report(vec![], Some(up)))).0,
            Outcome::Passed
        );
        let f = failures(evaluate(&c, Ok(report(vec![], Some(exited(0, "", ""))))).0);
        assert!(
            f[0].contains("did not stay up for 2s") && f[0].contains("exited with 0"),
            "{f:?}"
        );
    }

    #[test]
    fn file_checks_follow_expect() {
        let c = check("file = \"/etc/x\"\n");
        let ok = report(vec![], None);
        assert_eq!(
            evaluate_file(&c, Ok((ok.clone(), vec![]))).0,
            Outcome::Passed
        );
        let f =
            failures(evaluate_file(&c, Ok((ok.clone(), vec!["`/etc/x` does not exist".into()]))).0);
        assert_eq!(f, ["`/etc/x` does not exist"]);
        let inverted = check("file = \"/etc/x\"\nexpect = \"fail\"\n");
        assert_eq!(
            evaluate_file(&inverted, Ok((ok.clone(), vec!["missing".into()]))).0,
            Outcome::Passed
        );
        let rejected = report(
            vec![Finding::error(
                Kind::UnsafeEntry,
                Cause::PathTraversal,
                "../x",
            )],
            None,
        );
        let f = failures(evaluate_file(&c, Ok((rejected, vec![]))).0);
        assert!(f[0].contains("Nomad would refuse the bundle"), "{f:?}");
    }
}
