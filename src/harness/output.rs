//! What a test run leaves behind besides libtest's lines: JUnit XML, the JSON array of
//! reports, GitHub Actions annotations, and a progress bar on a terminal.
//!
//! All of them render the same per-check [`Record`]s, collected while the trials run.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use crate::finding::{Report, Severity};
use crate::report::{finding_line, testcase_for};

use super::eval::Outcome;
use super::spec::{Check, Spec, Target};

/// One check's result, as the outputs need it.
#[derive(Debug, Clone)]
pub struct Record {
    pub outcome: Outcome,
    pub report: Option<Report>,
    pub duration: Duration,
}

/// Where a check stands after the run: ran (with its record), ignored, or filtered out.
pub enum Status<'a> {
    Ran(&'a Record),
    Ignored(&'a str),
}

/// The message a failing check carries (libtest's failure text, JUnit, annotations).
pub fn failure_text(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Passed => None,
        Outcome::Failed(f) => Some(f.join("\n")),
        Outcome::CouldNotRun(why) => Some(format!(
            "could not run this check here (this says nothing about the bundle): {why}"
        )),
    }
}

fn bundle_label(check: &Check) -> String {
    match &check.target {
        Target::Bundle { display, .. } => display.clone(),
        Target::Job { file, task, .. } => match task {
            Some(t) => format!("{}#{t}", file.display()),
            None => file.display().to_string(),
        },
    }
}

/// JUnit XML, one testcase per check that ran or was ignored (filtered-out checks are
/// left out, as libtest leaves them out of its counts).
pub fn junit(spec: &Spec, results: &[(&Check, Status<'_>)]) -> io::Result<String> {
    let suite_name = spec
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checks".into());
    let mut suite = TestSuite::new(suite_name.clone());
    for (check, status) in results {
        let tc = match status {
            Status::Ignored(why) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(*why);
                let mut tc = TestCase::new(check.name.clone(), s);
                tc.set_classname(bundle_label(check));
                tc
            }
            Status::Ran(rec) => testcase(check, rec),
        };
        suite.add_test_case(tc);
    }
    let mut report = JReport::new(format!("nomad-chroot-check {suite_name}"));
    report.add_test_suite(suite);
    report.to_string().map_err(io::Error::other)
}

fn testcase(check: &Check, rec: &Record) -> TestCase {
    let mut tc = match &rec.report {
        Some(r) => testcase_for(r, &check.name),
        None => TestCase::new(check.name.clone(), TestCaseStatus::success()),
    };
    tc.set_classname(bundle_label(check));
    tc.set_time(rec.duration);
    tc.status = match &rec.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        outcome => {
            let kind = match outcome {
                Outcome::CouldNotRun(_) => NonSuccessKind::Error,
                _ => NonSuccessKind::Failure,
            };
            let text = failure_text(outcome).unwrap_or_default();
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(text.lines().next().unwrap_or_default().to_owned());
            s.set_type(match outcome {
                Outcome::CouldNotRun(_) => "could-not-run",
                _ => "check-failed",
            });
            let mut description = text;
            if let Some(r) = &rec.report {
                let findings: Vec<String> = r
                    .findings
                    .iter()
                    .filter(|f| f.severity != Severity::Info)
                    .map(|f| {
                        let mut l = format!("- {}", finding_line(f));
                        if let Some(h) = &f.hint {
                            l.push_str(&format!("\n  fix: {h}"));
                        }
                        l
                    })
                    .collect();
                if !findings.is_empty() {
                    description.push_str("\n\nfindings:\n");
                    description.push_str(&findings.join("\n"));
                }
            }
            s.set_description(description);
            s
        }
    };
    tc
}

/// `test --format json` (`docs/report-format.md`, "test --format json").
#[derive(Serialize)]
struct JsonDoc<'a> {
    schema_version: u32,
    tool: crate::finding::Tool,
    spec: String,
    /// `pass` when every check that ran passed, else `fail` (libtest's exit 101).
    verdict: crate::finding::Verdict,
    error: Option<&'a str>,
    checks: Vec<JsonEntry<'a>>,
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    check: &'a str,
    line: usize,
    outcome: &'static str,
    failures: Vec<String>,
    reason: Option<&'a str>,
    duration_ms: u64,
    report: Option<&'a Report>,
}

/// The JSON document: one entry per check that ran or was ignored, in spec order.
pub fn json(spec: &Spec, results: &[(&Check, Status<'_>)], out: &mut dyn Write) -> io::Result<()> {
    let entries: Vec<JsonEntry<'_>> = results
        .iter()
        .map(|(check, status)| match status {
            Status::Ignored(why) => JsonEntry {
                check: &check.name,
                line: check.line,
                outcome: "ignored",
                failures: Vec::new(),
                reason: Some(why),
                duration_ms: 0,
                report: None,
            },
            Status::Ran(rec) => {
                let (outcome, failures, reason) = match &rec.outcome {
                    Outcome::Passed => ("passed", Vec::new(), None),
                    Outcome::Failed(f) => ("failed", f.clone(), None),
                    Outcome::CouldNotRun(why) => ("could-not-run", Vec::new(), Some(why.as_str())),
                };
                JsonEntry {
                    check: &check.name,
                    line: check.line,
                    outcome,
                    failures,
                    reason,
                    duration_ms: rec.duration.as_millis() as u64,
                    report: rec.report.as_ref(),
                }
            }
        })
        .collect();
    let failed = entries
        .iter()
        .any(|e| e.outcome == "failed" || e.outcome == "could-not-run");
    let doc = JsonDoc {
        schema_version: crate::finding::SCHEMA_VERSION,
        tool: crate::finding::Tool::default(),
        spec: spec.path.display().to_string(),
        verdict: if failed {
            crate::finding::Verdict::Fail
        } else {
            crate::finding::Verdict::Pass
        },
        error: None,
        checks: entries,
    };
    crate::report::write_json(&doc, out)
}

/// GitHub Actions workflow commands (`::error file=…,line=…,title=…::message`), one per
/// failing check, pointing at the check's `[[check]]` line.
pub fn annotations(spec: &Spec, results: &[(&Check, Status<'_>)]) -> String {
    let mut out = String::new();
    for (check, status) in results {
        let Status::Ran(rec) = status else { continue };
        let Some(text) = failure_text(&rec.outcome) else {
            continue;
        };
        let title = match rec.outcome {
            Outcome::CouldNotRun(_) => format!("{}: could not run here", check.name),
            _ => check.name.clone(),
        };
        out.push_str(&format!(
            "::error file={},line={},title={}::{}\n",
            escape_property(&spec.path.display().to_string()),
            check.line,
            escape_property(&title),
            escape_data(&text)
        ));
    }
    out
}

/// `@actions/core`'s `escapeData` (toolkit `packages/core/src/command.ts`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `@actions/core`'s `escapeProperty`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Whether we run under GitHub Actions.
pub fn in_github_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// A progress bar for people at a terminal: stderr is a tty and this is not CI.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(enabled: bool, checks: u64) -> Self {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty()) || in_github_actions();
        if !enabled || ci || !io::stderr().is_terminal() || checks == 0 {
            return Progress(None);
        }
        let bar = ProgressBar::with_draw_target(Some(checks), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(Some(bar))
    }

    pub fn message(&self, m: String) {
        if let Some(b) = &self.0 {
            b.set_message(m);
        }
    }

    pub fn done_one(&self) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Write a file, naming it in the error.
pub fn write_file(path: &Path, text: &str) -> Result<(), crate::error::Error> {
    std::fs::write(path, text)
        .map_err(|e| crate::error::Error::io(format!("cannot write `{}`", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(escape_data("a\nb%c\r"), "a%0Ab%25c%0D");
        assert_eq!(escape_property("x: y, z"), "x%3A y%2C z");
    }
}
