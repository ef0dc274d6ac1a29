//! `nomad-chroot-check record BUNDLE [-o checks.toml] [-- COMMAND…]`: check a bundle once
//! and write what it did as a spec, a baseline for `test`. Paths in the spec are
//! relative to the spec's own directory (`-o`'s, else the current one), as `test` reads
//! them.
//!
//! The spec states what was observed, not what is right: a bundle that fails today
//! records `expect = "fail"`. Paths the run looked for and did not find are recorded as
//! `allow_missing` with a comment asking the reader to confirm the client provides them.

use std::fmt::Write as _;
use std::path::Path;

use clap::Parser as _;

use crate::check;
use crate::cli::{CheckArgs, Cli, CommonArgs, ExtractModeArg, Format, JobTypeArg, RecordArgs};
use crate::config::CheckOptions;
use crate::error::{Error, ExitCode};
use crate::finding::{Cause, Kind, Report, Severity, Verdict};

use super::eval::{Outcome, decisive_findings, evaluate};
use super::spec::Spec;

pub fn record_main(args: RecordArgs) -> Result<ExitCode, Error> {
    // The spec's directory exists before its relative paths are checked.
    if let Some(dir) = args
        .output
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create `{}`", dir.display()), e))?;
    }
    let static_opts = options(&args, &[])?;
    let prepared = check::prepare(&static_opts)?;
    let static_report = check::finish(&prepared, &static_opts)?;
    let run_report = if args.command.is_empty() {
        None
    } else {
        Some(check::finish(&prepared, &options(&args, &args.command)?)?)
    };
    drop(prepared);
    for r in std::iter::once(&static_report).chain(run_report.as_ref()) {
        if r.verdict == Verdict::Error {
            return Err(Error::Unsupported(format!(
                "cannot record: the check could not be carried out here:\n{}",
                decisive_findings(r)
            )));
        }
    }
    let text = spec_text(&args, &static_report, run_report.as_ref())?;
    for problem in self_check(&text, &spec_dir(&args), &static_report, run_report.as_ref()) {
        eprintln!("nomad-chroot-check: warning: the recorded spec would not pass: {problem}");
    }
    match &args.output {
        Some(path) => {
            super::output::write_file(path, &text)?;
            eprintln!(
                "nomad-chroot-check: wrote {}; run `nomad-chroot-check test {}`",
                path.display(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::Pass)
}

/// The directory the spec's relative paths start from: `-o`'s, else the current one.
fn spec_dir(args: &RecordArgs) -> std::path::PathBuf {
    let dir = args
        .output
        .as_deref()
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// `path` as the spec must name it: relative to the spec's directory.
fn spec_path(args: &RecordArgs, path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    pathdiff::diff_paths(&abs, spec_dir(args))
        .unwrap_or(abs)
        .to_string_lossy()
        .into_owned()
}

fn options(args: &RecordArgs, command: &[String]) -> Result<CheckOptions, Error> {
    // Start from clap's defaults so flags added to the one-check mode keep theirs.
    let mut check: CheckArgs = Cli::try_parse_from(["nomad-chroot-check"])
        .map_err(|e| Error::Usage(e.to_string()))?
        .check;
    check.bundle = Some(args.bundle.clone());
    check.command = command.to_vec();
    check.destination = args.destination.clone();
    check.common = CommonArgs {
        format: Format::Text,
        client: args.client.clone(),
        no_run: args.no_run,
        keep: false,
        deny: Vec::new(),
        run: args.run.clone(),
        workdir: crate::cli::WorkdirArg::Auto,
        tmpfs_budget: None,
    };
    check.options()
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", v.join(", "))
}

fn expect_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Reject => "reject",
        Verdict::Fail | Verdict::Error => "fail",
    }
}

/// A regex for the first line of `text`, anchored at the start, as written.
pub fn first_line_regex(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    format!("^{}(\\n|$)", regex::escape(line))
}

/// The spec for what `static_report` and `run_report` show. The run check's `expect` is
/// the verdict after the spec's own allowances, so `test` passes on the same bundle.
pub fn spec_text(
    args: &RecordArgs,
    static_report: &Report,
    run_report: Option<&Report>,
) -> Result<String, Error> {
    let common = &args.client;
    let mut s = String::new();
    let bundle = spec_path(args, &args.bundle);
    let _ = writeln!(
        s,
        "# Baseline recorded by nomad-chroot-check {} from `{bundle}` (Nomad {}).",
        env!("CARGO_PKG_VERSION"),
        static_report.nomad_version
    );
    let _ = writeln!(
        s,
        "# It states what the bundle did, not what is right: review it, then run\n#   nomad-chroot-check test <this file>\n# Paths are relative to this file's directory.\n"
    );
    let _ = writeln!(s, "[defaults]");
    let _ = writeln!(s, "bundle = {}", toml_str(&bundle));
    let _ = writeln!(s, "destination = {}", toml_str(&args.destination));
    let _ = writeln!(
        s,
        "nomad_version = {}",
        toml_str(&static_report.nomad_version.to_string())
    );
    if !common.chroot_env.is_empty() {
        let _ = writeln!(s, "chroot_env = {}", toml_list(&common.chroot_env));
    }
    if common.extract == ExtractModeArg::Tar {
        let _ = writeln!(s, "extract = \"tar\"");
    }
    if !common.client_config.is_empty() {
        let paths: Vec<String> = common
            .client_config
            .iter()
            .map(|p| spec_path(args, p))
            .collect();
        let _ = writeln!(s, "client_config = {}", toml_list(&paths));
    }

    let _ = writeln!(s, "\n[[check]]");
    let _ = writeln!(s, "name = \"self-contained\"");
    let _ = writeln!(
        s,
        "# The static check of every executable: {} entries, {} error finding(s).",
        static_report.bundle.entries,
        static_report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    );
    let _ = writeln!(s, "expect = \"{}\"", expect_name(static_report.verdict));

    if let Some(run) = run_report {
        let body = |expect: &str| run_check_text(args, run, expect);
        // Parse what we would write and judge the report with it, so `expect` is what
        // `test` will compute (allow_missing and exit_code both change the verdict).
        let draft = format!("{s}{}", body("pass"));
        let spec = Spec::parse(&draft, Path::new("<recorded>"), &spec_dir(args)).map_err(|e| {
            Error::Usage(format!(
                "internal error: the recorded spec does not parse: {e}"
            ))
        })?;
        let check = &spec.checks[1];
        let mut judged = run.clone();
        super::eval::apply_allowances(check, &mut judged);
        s.push_str(&body(expect_name(judged.verdict)));
    }
    Ok(s)
}

fn run_check_text(args: &RecordArgs, report: &Report, expect: &str) -> String {
    let r = &args.run;
    let service = r.job_type == JobTypeArg::Service;
    let mut s = String::new();
    let _ = writeln!(s, "\n[[check]]");
    let _ = writeln!(s, "name = \"{}\"", if service { "service" } else { "run" });
    let _ = writeln!(s, "command = {}", toml_str(&args.command[0]));
    if args.command.len() > 1 {
        let _ = writeln!(s, "args = {}", toml_list(&args.command[1..]));
    }
    if let Some(u) = &r.user {
        let _ = writeln!(s, "user = {}", toml_str(u));
    }
    if !r.env.is_empty() {
        let pairs: Vec<String> = r
            .env
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(v)))
            .collect();
        let _ = writeln!(s, "env = {{ {} }}", pairs.join(", "));
    }
    if r.timeout != "60s" {
        let _ = writeln!(s, "timeout = {}", toml_str(&r.timeout));
    }
    if args.no_run {
        let _ = writeln!(s, "no_run = true");
    } else if service {
        let _ = writeln!(s, "service = true");
        let _ = writeln!(s, "healthy_after = {}", toml_str(&r.healthy_after));
    }
    match &report.run {
        None if !args.no_run => {
            let _ = writeln!(
                s,
                "# Not run: the static check found that the task cannot start."
            );
        }
        None => {}
        Some(run) => {
            if service {
                let _ = writeln!(
                    s,
                    "# {} after {} ms.",
                    if run.still_running {
                        "It was still running"
                    } else {
                        "It had stopped"
                    },
                    run.duration_ms
                );
            } else if let Some(code) = run.exit_code {
                let _ = writeln!(s, "exit_code = {code}");
            } else {
                let _ = writeln!(
                    s,
                    "# It exited without a code ({}).",
                    run.signal.as_deref().unwrap_or(if run.timed_out {
                        "timed out"
                    } else {
                        "did not start"
                    })
                );
            }
            for (key, tail) in [("stdout", &run.stdout_tail), ("stderr", &run.stderr_tail)] {
                if tail.is_empty() {
                    let _ = writeln!(s, "{key} = \"\"  # it printed nothing");
                } else {
                    let _ = writeln!(
                        s,
                        "{key} = {}  # the first line it printed",
                        toml_str(&first_line_regex(tail))
                    );
                }
            }
        }
    }
    let _ = writeln!(s, "expect = \"{expect}\"");
    let missing: Vec<_> = report
        .findings
        .iter()
        .filter(|f| {
            f.kind == Kind::Missing && f.cause == Cause::Runtime && f.severity != Severity::Info
        })
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(s, "allow_missing = [");
        for f in missing {
            let by = f
                .needed_by
                .last()
                .map(|n| format!(" by {n}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {}, # looked up{by} at run time and absent: confirm the client provides it",
                toml_str(&f.path)
            );
        }
        let _ = writeln!(s, "]");
    }
    s
}

/// Judge the reports a spec was recorded from with that spec; what would not pass.
pub fn self_check(
    text: &str,
    dir: &Path,
    static_report: &Report,
    run_report: Option<&Report>,
) -> Vec<String> {
    let spec = match Spec::parse(text, Path::new("<recorded>"), dir) {
        Ok(s) => s,
        Err(e) => return vec![e.to_string()],
    };
    let reports = std::iter::once(static_report).chain(run_report);
    spec.checks
        .iter()
        .zip(reports)
        .filter_map(|(c, r)| match evaluate(c, Ok(r.clone())).0 {
            Outcome::Passed => None,
            Outcome::Failed(f) => Some(format!("check `{}`: {}", c.name, f.join("; "))),
            Outcome::CouldNotRun(w) => Some(format!("check `{}`: {w}", c.name)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::finding::{Finding, RunOutcome};
    use crate::nomad::NomadVersion;

    fn args(extra: &[&str], bundle: &Path) -> RecordArgs {
        let mut argv = vec!["nomad-chroot-check", "record", bundle.to_str().unwrap()];
        argv.extend(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Record(a)) => a,
            c => panic!("{c:?}"),
        }
    }

    fn report(findings: Vec<Finding>, run: Option<RunOutcome>) -> Report {
        let mut r = Report::new(NomadVersion::NEWEST);
        r.findings = findings;
        r.run = run;
        r.settle_verdict();
        r
    }

    #[test]
    fn first_lines_become_anchored_literal_regexes() {
        let re = regex::Regex::new(&first_line_regex("v1.0 (x) [y]\nmore\n")).unwrap();
        assert!(re.is_match("v1.0 (x) [y]\nmore\n"));
        assert!(re.is_match("v1.0 (x) [y]"));
        assert!(!re.is_match("v1x0 (x) [y]\n"));
        assert!(!re.is_match("> v1.0 (x) [y]\n"));
    }

    #[test]
    fn a_recorded_spec_passes_on_what_it_recorded() {
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("app.tar.gz");
        std::fs::write(&bundle, b"").unwrap();
        let a = args(
            &[
                "--destination",
                "/",
                "--",
                "/bin/sh",
                "-c",
                "echo 'v1.0 (x)'; exit 4",
            ],
            &bundle,
        );
        let static_report = report(vec![], None);
        let run = RunOutcome {
            exit_code: Some(4),
            stdout_tail: "v1.0 (x)\n".into(),
            stderr_tail: "".into(),
            ..Default::default()
        };
        let run_report = report(
            vec![
                Finding::error(Kind::Run, Cause::ExitCode, "/bin/sh").exit_code(4),
                Finding::error(Kind::Missing, Cause::Runtime, "/etc/hosts")
                    .needed_by(vec!["/bin/sh".into()]),
            ],
            Some(run),
        );
        let text = spec_text(&a, &static_report, Some(&run_report)).unwrap();
        assert!(text.contains("exit_code = 4"), "{text}");
        assert!(text.contains(r"^v1\.0 \(x\)(\n|$)"), "{text}");
        assert!(text.contains("stderr = \"\""), "{text}");
        assert!(
            text.contains("\"/etc/hosts\", # looked up by /bin/sh at run time"),
            "{text}"
        );
        assert!(text.contains("expect = \"pass\""), "{text}");
        assert_eq!(
            self_check(&text, &spec_dir(&a), &static_report, Some(&run_report)),
            Vec::<String>::new()
        );

        // A different run does not pass the baseline.
        let mut other = run_report.clone();
        other.run.as_mut().unwrap().stdout_tail = "v2.0\n".into();
        let problems = self_check(&text, &spec_dir(&a), &static_report, Some(&other));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("stdout does not match"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_broken_bundle_records_expect_fail() {
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("app.tar.gz");
        std::fs::write(&bundle, b"").unwrap();
        let a = args(&["--", "/local/app"], &bundle);
        let broken = report(
            vec![Finding::error(
                Kind::Missing,
                Cause::Interpreter,
                "/lib64/ld-linux-x86-64.so.2",
            )],
            None,
        );
        let text = spec_text(&a, &broken, Some(&broken)).unwrap();
        assert_eq!(text.matches("expect = \"fail\"").count(), 2, "{text}");
        assert!(text.contains("# Not run: the static check found"), "{text}");
        assert!(self_check(&text, &spec_dir(&a), &broken, Some(&broken)).is_empty());
    }
}
