//! JUnit XML through quick-junit: one testcase per check (per task), failures carry the
//! findings and Nomad's error text.

use std::io::{self, Write};

use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};

use super::text::finding_line;
use crate::finding::{Report, Severity, Verdict};

pub fn testcase_for(report: &Report, name: &str) -> TestCase {
    let status = match report.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        v => {
            let kind = if v == Verdict::Error {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let mut s = TestCaseStatus::non_success(kind);
            let errors: Vec<String> = report
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(finding_line)
                .collect();
            let first = report
                .summary
                .first()
                .cloned()
                .or_else(|| errors.first().cloned());
            s.set_message(first.unwrap_or_else(|| format!("verdict: {v:?}")));
            s.set_type(format!("{v:?}").to_lowercase());
            s.set_description(errors.join("\n"));
            s
        }
    };
    let mut tc = TestCase::new(name.to_owned(), status);
    tc.set_classname(report.bundle.path.clone());
    if let Some(run) = &report.run {
        tc.set_time(std::time::Duration::from_millis(run.duration_ms));
        if !run.stdout_tail.is_empty() {
            tc.set_system_out(run.stdout_tail.clone());
        }
        if !run.stderr_tail.is_empty() {
            tc.set_system_err(run.stderr_tail.clone());
        }
    }
    tc
}

pub fn render(reports: &[Report], suite: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut jr = JReport::new(suite.to_owned());
    let mut ts = TestSuite::new(suite.to_owned());
    for r in reports {
        let name = match &r.task.group {
            Some(g) => format!("{g}.{}", r.task.name),
            None => r.task.name.clone(),
        };
        ts.add_test_case(testcase_for(r, &name));
    }
    jr.add_test_suite(ts);
    let xml = jr.to_string().map_err(io::Error::other)?;
    out.write_all(xml.as_bytes())
}
