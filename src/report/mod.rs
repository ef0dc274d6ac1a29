//! Render a [`Report`] for people (text), CI (JSON) and test viewers (JUnit).
//! Pure functions of the report: no I/O besides the writer, and [`emit`], the one place
//! a document meets stdout.

mod json;
mod junit;
mod sarif;
mod text;

use std::io::{self, Write};

use crate::error::Error;
use crate::finding::Report;

/// The report's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// For people: the verdict and root causes first, findings grouped by cause.
    #[default]
    Text,
    /// A versioned document for CI (`docs/report-format.md`).
    Json,
    /// JUnit XML, one testcase per check.
    Junit,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
}

pub fn render(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => text::render(report, out),
        Format::Json => json::write(report, out),
        Format::Junit => junit::render(std::slice::from_ref(report), "nomad-chroot-check", out),
        Format::Sarif => sarif::render(std::slice::from_ref(report), out),
    }
}

/// Several reports (a job's tasks, a harness's checks).
pub fn render_many(
    reports: &[Report],
    suite: &str,
    format: Format,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => reports.iter().try_for_each(|r| text::render(r, out)),
        Format::Json => json::write(reports, out),
        Format::Junit => junit::render(reports, suite, out),
        Format::Sarif => sarif::render(reports, out),
    }
}

pub use json::write as write_json;
pub use junit::testcase_for;
pub use text::finding_line;

/// The shape of the document printed when a mode stops with an error before it has a
/// report (`docs/report-format.md`, "When there is no report").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// The one-bundle report, with `error` set.
    Report,
    /// `job --format json`: no tasks.
    Job,
    /// `test --format json`: no checks.
    Test,
    /// SARIF with a failed invocation.
    Sarif,
}

/// The document for an error that left no report: verdict `reject` (exit 2) or `error`
/// (exit 3), and the message the tool printed on stderr.
/// `not_applicable`: the input holds nothing this tool checks (job mode: no exec task),
/// verdict `not-applicable`, still exit 2.
pub fn error_document(
    shape: ErrorFormat,
    exit: crate::error::ExitCode,
    message: &str,
    not_applicable: bool,
) -> String {
    use crate::finding::{SCHEMA_VERSION, Tool, Verdict};
    use crate::nomad::NomadVersion;
    let verdict = match exit {
        crate::error::ExitCode::Error => Verdict::Error,
        _ => Verdict::Reject,
    };
    let doc = match shape {
        ErrorFormat::Report => {
            let mut r = Report::new(NomadVersion::NEWEST);
            r.verdict = verdict;
            r.error = Some(message.to_owned());
            serde_json::to_value(&r).unwrap_or_default()
        }
        ErrorFormat::Job => serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "tool": Tool::default(),
            "verdict": if not_applicable {
                serde_json::json!("not-applicable")
            } else {
                serde_json::json!(verdict)
            },
            "error": message,
            "job": null,
            "tasks": [],
            "skipped": [],
        }),
        ErrorFormat::Test => serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "tool": Tool::default(),
            "verdict": verdict,
            "error": message,
            "spec": null,
            "checks": [],
        }),
        ErrorFormat::Sarif => sarif::error_document(verdict, message),
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Write a document to stdout: buffered (stdout is line-buffered, and a report has
/// hundreds of lines); a closed pipe (`| head`) is not an error.
pub fn emit(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Error> {
    let mut out = io::BufWriter::with_capacity(64 << 10, io::stdout().lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| Error::io("cannot write the report", e)),
    }
}

/// `--quiet`: the verdict line alone.
pub fn render_verdict_line(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", text::verdict_line(report))
}

pub use sarif::document as sarif_document;
