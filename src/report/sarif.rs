//! SARIF 2.1.0 for code-scanning UIs (GitHub code scanning, GitLab, VS Code's viewer):
//! one run of one tool, one rule per kind/cause pair, one result per finding, located at
//! the bundle file with the task path in the message and a logical location.
//!
//! The shape follows the OASIS SARIF 2.1.0 standard (`sarif-schema-2.1.0.json`): what
//! GitHub requires is `version`, `runs[].tool.driver.name`, and per result `ruleId`,
//! `message.text` and a physical location with an artifact URI.

use std::collections::BTreeSet;
use std::io::{self, Write};

use serde_json::{Value, json};

use crate::finding::{Finding, Report, Severity};

pub const SARIF_VERSION: &str = "2.1.0";
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn rule_id(f: &Finding) -> String {
    format!("{}/{}", f.kind.name(), f.cause.name())
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn result(r: &Report, f: &Finding, rules: &[String]) -> Value {
    let id = rule_id(f);
    let mut text = format!("{}: {}", f.path, f.message.as_deref().unwrap_or(""));
    if !f.needed_by.is_empty() {
        text.push_str(&format!(" (needed by {})", f.needed_by.join(" → ")));
    }
    if let Some(e) = &f.nomad_error {
        text.push_str(&format!(" Nomad: {e}"));
    }
    if let Some(h) = &f.hint {
        text.push_str(&format!(" Fix: {h}"));
    }
    json!({
        "ruleId": id,
        "ruleIndex": rules.iter().position(|r| *r == id).unwrap_or(0),
        "level": level(f.severity),
        "message": { "text": text },
        "locations": [{
            "physicalLocation": { "artifactLocation": { "uri": r.bundle.path } },
            "logicalLocations": [{
                "name": f.path,
                "fullyQualifiedName": format!("{}:{}", r.task.name, f.path),
                "kind": "resource"
            }]
        }],
        "partialFingerprints": { "taskPath/v1": format!("{}|{}|{}", id, r.task.name, f.path) },
        "properties": {
            "kind": f.kind.name(),
            "cause": f.cause.name(),
            "nomadError": f.nomad_error,
            "neededBy": f.needed_by,
            "task": r.task.name,
        }
    })
}

fn driver(rules: Vec<Value>) -> Value {
    json!({ "driver": {
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "informationUri": "https://example.invalid/nomad-chroot-check",
        "rules": rules,
    }})
}

/// The SARIF log of one or more reports (a job's tasks are one run).
pub fn document(reports: &[Report]) -> Value {
    let rules: Vec<String> = reports
        .iter()
        .flat_map(|r| r.findings.iter().map(rule_id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rule_objs: Vec<Value> = rules
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "name": id.replace(['/', '-'], "_"),
                "shortDescription": { "text": format!("nomad-chroot-check {id}") },
                "helpUri": "https://example.invalid/nomad-chroot-check/docs/report-format.md#kinds-and-causes"
            })
        })
        .collect();
    let results: Vec<Value> = reports
        .iter()
        .flat_map(|r| r.findings.iter().map(|f| result(r, f, &rules)))
        .collect();
    let worst = reports.iter().map(|r| r.verdict).fold(
        crate::finding::Verdict::Pass,
        crate::finding::Verdict::worst,
    );
    json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": driver(rule_objs),
            "results": results,
            "invocations": [{
                "executionSuccessful": worst != crate::finding::Verdict::Error,
                "exitCode": worst.exit_code().code(),
            }],
            "properties": { "verdict": worst, "schemaVersion": crate::finding::SCHEMA_VERSION }
        }]
    })
}

pub fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    super::json::write(&document(reports), out)
}

/// A SARIF log for a run that stopped before it had findings.
pub fn error_document(verdict: crate::finding::Verdict, message: &str) -> Value {
    json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": driver(Vec::new()),
            "results": [],
            "invocations": [{
                "executionSuccessful": false,
                "exitCode": verdict.exit_code().code(),
                "toolExecutionNotifications": [{
                    "level": "error",
                    "message": { "text": message },
                }],
            }],
            "properties": { "verdict": verdict, "schemaVersion": crate::finding::SCHEMA_VERSION }
        }]
    })
}
