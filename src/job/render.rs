//! A job's reports for people (each task's report and a summary), CI (one JSON
//! document) and test viewers (JUnit, SARIF).

use std::fmt;
use std::io::{self, Write};

use serde::Serialize;

use super::{JobPlan, Skipped};
use crate::cli::Format;
use crate::finding::{Report, SCHEMA_VERSION, Severity, Verdict};
use crate::report;

#[derive(Serialize)]
struct JobReport<'a> {
    schema_version: u32,
    tool: crate::finding::Tool,
    job: &'a str,
    verdict: Verdict,
    tasks: &'a [Report],
    skipped: &'a [Skipped],
}

/// The worst verdict of the tasks.
pub fn job_verdict(reports: &[Report]) -> Verdict {
    reports
        .iter()
        .fold(Verdict::Pass, |v, r| v.worst(r.verdict))
}

pub fn render(
    plan: &JobPlan,
    reports: &[Report],
    format: Format,
    out: &mut dyn Write,
) -> io::Result<()> {
    let verdict = job_verdict(reports);
    match format {
        Format::Json => {
            let doc = JobReport {
                schema_version: SCHEMA_VERSION,
                tool: crate::finding::Tool::default(),
                job: &plan.job,
                verdict,
                tasks: reports,
                skipped: &plan.skipped,
            };
            report::write_json(&doc, out)
        }
        Format::Junit | Format::Sarif => {
            report::render_many(reports, &format!("job {}", plan.job), format, out)
        }
        Format::Text => {
            for r in reports {
                report::render(r, Format::Text, out)?;
                writeln!(out)?;
            }
            write!(
                out,
                "{}",
                Summary {
                    plan,
                    reports,
                    verdict
                }
            )
        }
    }
}

struct Summary<'a> {
    plan: &'a JobPlan,
    reports: &'a [Report],
    verdict: Verdict,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = |v: Verdict| match v {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Reject => "REJECT",
            Verdict::Error => "ERROR",
        };
        writeln!(
            f,
            "job \"{}\" ({}): {} — {} exec task{} checked",
            self.plan.job,
            self.plan.job_type,
            word(self.verdict),
            self.reports.len(),
            if self.reports.len() == 1 { "" } else { "s" }
        )?;
        for r in self.reports {
            let errors = r
                .findings
                .iter()
                .filter(|x| x.severity == Severity::Error)
                .count();
            let warnings = r
                .findings
                .iter()
                .filter(|x| x.severity == Severity::Warning)
                .count();
            writeln!(
                f,
                "  {:<6} {}/{}  ({} error{}, {} warning{})",
                word(r.verdict),
                r.task.group.as_deref().unwrap_or("-"),
                r.task.name,
                errors,
                if errors == 1 { "" } else { "s" },
                warnings,
                if warnings == 1 { "" } else { "s" },
            )?;
        }
        for s in &self.plan.skipped {
            writeln!(
                f,
                "  skip   {}/{}  (driver = \"{}\")",
                s.group, s.task, s.driver
            )?;
        }
        Ok(())
    }
}
