//! Render a [`Report`] for people (text), CI (JSON) and test viewers (JUnit).
//! Pure functions of the report: no I/O besides the writer.

mod json;
mod junit;
mod text;

use std::io::{self, Write};

pub use crate::cli::Format;
use crate::finding::Report;

pub fn render(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => text::render(report, out),
        Format::Json => json::render(report, out),
        Format::Junit => junit::render(std::slice::from_ref(report), "nomad-chroot-check", out),
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
        Format::Json => json::render_many(reports, out),
        Format::Junit => junit::render(reports, suite, out),
    }
}

pub use junit::testcase_for;
pub use text::finding_line;
