//! Data-driven fixture tests: one libtest-mimic trial per `fixtures/cases/<case>/`, named
//! `fixture::<case>`.
//!
//! Each trial runs the built binary on the case's bundle (built by `fixtures/build.sh`
//! from Debian packages) with the options of its `case.toml`, plus `--format json
//! --no-run`, and compares the report with `expected.json`: the exit code, and the exact
//! set of findings of the kinds the case lists (`missing` always). The file format and
//! the rules behind the expectations are in `fixtures/README.md`.
//!
//! `fixture::<case>::disk_agrees` runs the case again in memory and on disk
//! (`--workdir disk`), and `fixture_paths::*` compare `--tree`, the command lookup and a
//! `test` harness check across the two: the static check must not depend on where the
//! tree was.

mod contract;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde::Deserialize;
use serde_json::{Map, Value};

const BIN: &str = env!("CARGO_BIN_EXE_nomad-chroot-check");
/// A check of a few MB must not take long; a hang is a failure, not a stuck CI job.
const TIMEOUT: Duration = Duration::from_secs(120);
/// `fixtures/build.sh` exits with this when a tool it needs is not installed.
const BUILD_MISSING_TOOL: i32 = 4;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    /// Another case whose bundle this one reuses (same archive, other options).
    bundle: Option<String>,
    destination: String,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    chroot_env: ChrootEnvSpec,
    nomad_version: String,
    extract: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ChrootEnvSpec {
    /// `none` or `nomad-default`.
    Named(String),
    /// `SRC=DST` entries.
    Entries(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    exit_code: i32,
    kinds: Vec<String>,
    findings: Vec<Map<String, Value>>,
    /// Substrings some line of the report's `summary` must contain…
    #[serde(default)]
    summary_contains: Vec<String>,
    /// …and substrings no line may contain.
    #[serde(default)]
    summary_excludes: Vec<String>,
    reasoning: String,
    verified: String,
}

/// Keys an expected finding may carry. `kind` and `cause` are always compared; the others
/// only when present (JSON `null` means the report must not have the field).
const COMPARED: &[&str] = &["path", "nomad_error", "message", "exit_code", "needed_by"];
const ALLOWED: &[&str] = &[
    "kind",
    "cause",
    "path",
    "nomad_error",
    "message",
    "exit_code",
    "needed_by",
    "text_contains",
];

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cases_dir = root.join("fixtures/cases");
    let mut names: Vec<String> = match std::fs::read_dir(&cases_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("case.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", cases_dir.display());
            std::process::exit(101);
        }
    };
    names.sort();

    // Listing must stay fast and side-effect free: build only when trials will run.
    let build = if args.list {
        BuildState::Ready
    } else {
        build_fixtures(&root)
    };

    let trials = names
        .clone()
        .into_iter()
        .map(|name| {
            let root = root.clone();
            let build = build.clone();
            Trial::ignorable_test(format!("fixture::{name}"), move || {
                match build {
                    BuildState::Ready => {}
                    BuildState::Unavailable(why) => return Ok(Completion::ignored_with(why)),
                    BuildState::Failed(why) => return Err(why.into()),
                }
                run_case(&root, &name)
            })
        })
        .chain(paths_agree_trials(&root, &names, &build))
        .chain(cross_trials(&root, &build))
        .chain(self_checks())
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

#[derive(Debug, Clone)]
enum BuildState {
    Ready,
    Unavailable(String),
    Failed(String),
}

/// `check`, once the fixtures are built (ignored when they cannot be here).
fn when_built(
    build: BuildState,
    check: impl FnOnce() -> Result<Completion, Failed>,
) -> Result<Completion, Failed> {
    match build {
        BuildState::Ready => check(),
        BuildState::Unavailable(why) => Ok(Completion::ignored_with(why)),
        BuildState::Failed(why) => Err(why.into()),
    }
}

/// Run `fixtures/build.sh` (fast when the bundles are up to date).
fn build_fixtures(root: &Path) -> BuildState {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return BuildState::Unavailable(
            "the fixtures are x86_64 Linux binaries from Debian packages".into(),
        );
    }
    let out = Command::new("bash")
        .arg(root.join("fixtures/build.sh"))
        .stdin(Stdio::null())
        .output();
    match out {
        Err(e) => BuildState::Unavailable(format!("cannot run bash fixtures/build.sh: {e}")),
        Ok(o) if o.status.success() => BuildState::Ready,
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr).trim().to_owned();
            if o.status.code() == Some(BUILD_MISSING_TOOL) {
                BuildState::Unavailable(stderr)
            } else {
                BuildState::Failed(format!(
                    "fixtures/build.sh failed ({}):\n{stderr}",
                    o.status
                ))
            }
        }
    }
}

fn run_case(root: &Path, name: &str) -> Result<Completion, Failed> {
    let dir = root.join("fixtures/cases").join(name);
    let case: Case = toml::from_str(&read(&dir.join("case.toml"))?)
        .map_err(|e| format!("fixtures/cases/{name}/case.toml: {e}"))?;
    let expected: Expected = serde_json::from_str(&read(&dir.join("expected.json"))?)
        .map_err(|e| format!("fixtures/cases/{name}/expected.json: {e}"))?;
    validate(&expected).map_err(|e| format!("fixtures/cases/{name}/expected.json: {e}"))?;

    let build_dir = root
        .join("fixtures/build")
        .join(case.bundle.as_deref().unwrap_or(name));
    let unavailable = build_dir.join("UNAVAILABLE");
    if unavailable.exists() {
        return Ok(Completion::ignored_with(read(&unavailable)?.trim()));
    }
    let bundle = build_dir.join("bundle.tar.gz");
    if !bundle.is_file() {
        return Err(format!("{} was not built by fixtures/build.sh", bundle.display()).into());
    }

    let argv = tool_args(&case, &bundle);
    let run = run_tool(&argv)?;
    let shown = format!("command: {BIN} {}", shell_words(&argv));

    let report: Value = serde_json::from_str(&run.stdout).map_err(|e| {
        format!(
            "{shown}\nexit status {:?}; stdout is not a JSON report ({e})\n--- stdout\n{}\n--- stderr\n{}",
            run.code, run.stdout, run.stderr
        )
    })?;
    // Every fixture's report keeps the JSON contract (docs/report-format.md).
    contract::report(&report, run.code)
        .map_err(|e| format!("{shown}\nthe report breaks docs/report-format.md: {e}"))?;
    let actual: Vec<Map<String, Value>> = report
        .get("findings")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            format!(
                "{shown}\nthe report has no `findings` array:\n{}",
                run.stdout
            )
        })?
        .iter()
        .filter_map(|f| f.as_object().cloned())
        .collect();

    let kinds: BTreeSet<&str> = expected.kinds.iter().map(String::as_str).collect();
    let relevant: Vec<&Map<String, Value>> = actual
        .iter()
        .filter(|f| {
            f.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| kinds.contains(k))
        })
        .collect();

    let mut problems = Vec::new();
    if run.code != Some(expected.exit_code) {
        problems.push(format!(
            "exit code: expected {}, got {:?}",
            expected.exit_code, run.code
        ));
    }
    let summary: Vec<&str> = report
        .get("summary")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for want in &expected.summary_contains {
        if !summary.iter().any(|l| l.contains(want.as_str())) {
            problems.push(format!("no summary line contains {want:?}: {summary:?}"));
        }
    }
    for not in &expected.summary_excludes {
        if let Some(l) = summary.iter().find(|l| l.contains(not.as_str())) {
            problems.push(format!("a summary line contains {not:?}: {l:?}"));
        }
    }
    let (unmatched_expected, unexpected) = match_findings(&expected.findings, &relevant);
    for e in &unmatched_expected {
        problems.push(format!(
            "expected but not reported: {}",
            Value::Object((*e).clone())
        ));
    }
    for a in &unexpected {
        problems.push(format!(
            "reported but not expected: {}",
            Value::Object(project(a))
        ));
    }
    if problems.is_empty() {
        return Ok(Completion::Completed);
    }

    let pretty = |v: Vec<Value>| serde_json::to_string_pretty(&v).unwrap_or_default();
    Err(format!(
        "{}\n{shown}\n{}\n\nwhy these findings: {}\nverified: {}\n\nexpected findings (kinds {:?}):\n{}\n\nactual findings of those kinds:\n{}\n\nstderr:\n{}",
        case.description,
        problems.join("\n"),
        expected.reasoning,
        expected.verified,
        expected.kinds,
        pretty(
            expected
                .findings
                .iter()
                .map(|f| Value::Object(f.clone()))
                .collect()
        ),
        pretty(relevant.iter().map(|f| Value::Object(project(f))).collect()),
        run.stderr.trim(),
    )
    .into())
}

/// The `--tree`, lookup and harness cross-checks of [`CROSS_CASE`].
fn cross_trials(root: &Path, build: &BuildState) -> impl Iterator<Item = Trial> {
    type Check = fn(&Path) -> Result<Completion, Failed>;
    let checks: [(&str, Check); 2] = [
        ("tree_and_lookup_agree", tree_and_lookup_agree),
        ("harness_agrees", harness_agrees),
    ];
    let (root, build) = (root.to_owned(), build.clone());
    checks.into_iter().map(move |(name, f)| {
        let (root, build) = (root.clone(), build.clone());
        Trial::ignorable_test(format!("fixture_paths::{name}"), move || {
            when_built(build, || f(&root))
        })
    })
}

/// One trial a case, `fixture::<case>::disk_agrees`: the static check of the case
/// (the in-memory model of the unpacked tree, `--workdir auto`) and the same check
/// unpacked to disk (`--workdir disk`) must say the same, byte for byte: the JSON
/// report but for `work_dir` (where the tree was, which is what differs), the text
/// report, and the exit code.
fn paths_agree_trials<'a>(
    root: &'a Path,
    names: &'a [String],
    build: &'a BuildState,
) -> impl Iterator<Item = Trial> + 'a {
    names.iter().map(move |name| {
        let (root, name, build) = (root.to_owned(), name.clone(), build.clone());
        Trial::ignorable_test(format!("fixture::{name}::disk_agrees"), move || {
            when_built(build, || paths_agree(&root, &name))
        })
    })
}

/// A case's definition and built bundle, or why it cannot be checked here.
fn load_case(root: &Path, name: &str) -> Result<Result<(Case, PathBuf), String>, Failed> {
    let dir = root.join("fixtures/cases").join(name);
    let case: Case = toml::from_str(&read(&dir.join("case.toml"))?)
        .map_err(|e| format!("fixtures/cases/{name}/case.toml: {e}"))?;
    let build_dir = root
        .join("fixtures/build")
        .join(case.bundle.as_deref().unwrap_or(name));
    let unavailable = build_dir.join("UNAVAILABLE");
    if unavailable.exists() {
        return Ok(Err(read(&unavailable)?.trim().to_owned()));
    }
    Ok(Ok((case, build_dir.join("bundle.tar.gz"))))
}

fn paths_agree(root: &Path, name: &str) -> Result<Completion, Failed> {
    let (case, bundle) = match load_case(root, name)? {
        Ok(c) => c,
        Err(why) => return Ok(Completion::ignored_with(why)),
    };
    let json = tool_args(&case, &bundle);
    let mut problems = both_paths(&json)?;
    problems.extend(both_paths(&as_text(&json))?);
    verdict(name, problems)
}

fn verdict(name: &str, problems: Vec<String>) -> Result<Completion, Failed> {
    if problems.is_empty() {
        return Ok(Completion::Completed);
    }
    Err(format!(
        "{name}: the static check in memory and on disk disagree\n{}",
        problems.join("\n")
    )
    .into())
}

/// `argv` (a `--format json` one) with `--format text`.
fn as_text(argv: &[String]) -> Vec<String> {
    let mut a = argv.to_vec();
    let i = a.iter().position(|x| x == "json").expect("--format json");
    a[i] = "text".into();
    a
}

/// A JSON report without `work_dir`, which says where the tree was (and is absent
/// from a harness check's report), and what `work_dir` was.
fn without_work_dir(argv: &[String], run: &ToolRun) -> Result<(String, Value), Failed> {
    let mut report: Value = serde_json::from_str(&run.stdout).map_err(|e| {
        format!(
            "command: {BIN} {}\nstdout is not a JSON report ({e}):\n{}\n--- stderr\n{}",
            shell_words(argv),
            run.stdout,
            run.stderr
        )
    })?;
    let work_dir = report
        .as_object_mut()
        .and_then(|o| o.remove("work_dir"))
        .unwrap_or(Value::Null);
    Ok((
        serde_json::to_string_pretty(&report).unwrap_or_default(),
        work_dir,
    ))
}

/// Run `argv` with `--workdir auto` (the model: a static check) and `--workdir disk`;
/// what differs besides `work_dir`, if anything.
fn both_paths(argv: &[String]) -> Result<Vec<String>, Failed> {
    let json = argv.iter().any(|a| a == "json");
    let mut outs = Vec::new();
    let mut problems = Vec::new();
    for (placement, workdir) in [("memory", "auto"), ("disk", "disk")] {
        let mut a = argv.to_vec();
        a.insert(1, format!("--workdir={workdir}"));
        let run = run_tool(&a)?;
        let out = if json {
            let (report, work_dir) = without_work_dir(&a, &run)?;
            if work_dir.get("placement").and_then(Value::as_str) != Some(placement) {
                problems.push(format!(
                    "--workdir={workdir}: work_dir should say {placement:?}: {work_dir}"
                ));
            }
            report
        } else {
            run.stdout
        };
        outs.push((run.code, out));
    }
    let shown = format!("command: {BIN} {}", shell_words(argv));
    let ((mc, m), (dc, d)) = (&outs[0], &outs[1]);
    if mc != dc {
        problems.push(format!(
            "{shown}\n  exit codes differ: memory {mc:?}, disk {dc:?}"
        ));
    }
    if m != d {
        problems.push(format!(
            "{shown}\n  the reports differ:\n{}",
            line_diff(m, d)
        ));
    }
    Ok(problems)
}

/// The fixture the cross-checks below use: a command with a dependency tree (ls →
/// libselinux → a missing libpcre2).
const CROSS_CASE: &str = "missing-transitive-library";

/// `--tree` (text and JSON), and commands the lookup does not find (an absolute path
/// and a bare name: Nomad's text names the task dir), in memory and on disk.
fn tree_and_lookup_agree(root: &Path) -> Result<Completion, Failed> {
    let (case, bundle) = match load_case(root, CROSS_CASE)? {
        Ok(c) => c,
        Err(why) => return Ok(Completion::ignored_with(why)),
    };
    let mut problems = Vec::new();
    let mut tree = tool_args(&case, &bundle);
    tree.insert(1, "--tree".into());
    problems.extend(both_paths(&tree)?);
    problems.extend(both_paths(&as_text(&tree))?);
    for cmd in ["/bin/nothere", "nothere"] {
        let c = Case {
            command: Some(cmd.into()),
            args: Vec::new(),
            ..toml::from_str(&read(
                &root
                    .join("fixtures/cases")
                    .join(CROSS_CASE)
                    .join("case.toml"),
            )?)
            .map_err(|e| e.to_string())?
        };
        problems.extend(both_paths(&tool_args(&c, &bundle))?);
    }
    verdict(CROSS_CASE, problems)
}

/// A `no_run` check of `nomad-chroot-check test` (which unpacks to disk) reports what
/// the CLI's static check (in memory) does.
fn harness_agrees(root: &Path) -> Result<Completion, Failed> {
    let (case, bundle) = match load_case(root, CROSS_CASE)? {
        Ok(c) => c,
        Err(why) => return Ok(Completion::ignored_with(why)),
    };
    let (ChrootEnvSpec::Named(chroot_env), Some(command)) = (&case.chroot_env, &case.command)
    else {
        return Err(format!("{CROSS_CASE}: expected a named chroot_env and a command").into());
    };
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let spec = tmp.path().join("spec.toml");
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let args: Vec<String> = case.args.iter().map(|a| q(a)).collect();
    std::fs::write(
        &spec,
        format!(
            "[[check]]\nname = \"static\"\nbundle = {}\ndestination = {}\nchroot_env = {}\nnomad_version = {}\nextract = {}\ncommand = {}\nargs = [{}]\nno_run = true\nexpect = \"fail\"\n",
            q(&bundle.display().to_string()),
            q(&case.destination),
            q(chroot_env),
            q(&case.nomad_version),
            q(&case.extract),
            q(command),
            args.join(", ")
        ),
    )
    .map_err(|e| e.to_string())?;
    let argv: Vec<String> = vec![
        "test".into(),
        spec.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    let run = run_tool(&argv)?;
    let shown = format!("command: {BIN} {}", shell_words(&argv));
    let out: Value = serde_json::from_str(&run.stdout)
        .map_err(|e| format!("{shown}\nnot JSON ({e}):\n{}\n{}", run.stdout, run.stderr))?;
    let check = out
        .get("checks")
        .and_then(|c| c.get(0))
        .ok_or_else(|| format!("{shown}\nno check in the output:\n{}", run.stdout))?;
    if check.get("outcome").and_then(Value::as_str) != Some("passed") {
        return Err(format!("{shown}\nthe check did not pass: {check}").into());
    }
    let harness = ToolRun {
        code: None,
        stdout: check
            .get("report")
            .map(Value::to_string)
            .unwrap_or_default(),
        stderr: String::new(),
    };
    let (harness, _) = without_work_dir(&argv, &harness)?;
    let cli_argv = tool_args(&case, &bundle);
    let (cli, work_dir) = without_work_dir(&cli_argv, &run_tool(&cli_argv)?)?;
    let mut problems = Vec::new();
    if work_dir.get("placement").and_then(Value::as_str) != Some("memory") {
        problems.push(format!(
            "the CLI's static check should be in memory: {work_dir}"
        ));
    }
    if harness != cli {
        problems.push(format!(
            "{shown}\nvs {BIN} {}\n  the reports differ (memory: the CLI, disk: the harness):\n{}",
            shell_words(&cli_argv),
            line_diff(&cli, &harness)
        ));
    }
    verdict(CROSS_CASE, problems)
}

/// The lines of `a` and `b` that differ, position by position (enough to see where).
fn line_diff(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = Vec::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        if x != y {
            out.push(format!(
                "  line {}:\n    memory: {}\n    disk:   {}",
                i + 1,
                x.unwrap_or("<none>"),
                y.unwrap_or("<none>")
            ));
        }
        if out.len() == 20 {
            out.push("  …".into());
            break;
        }
    }
    out.join("\n")
}

/// The comparison rules themselves, so that a lenient matcher cannot pass every case.
fn self_checks() -> impl Iterator<Item = Trial> {
    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }
    fn check(ok: bool, what: &str) -> Result<(), Failed> {
        if ok { Ok(()) } else { Err(what.into()) }
    }
    let lib = || {
        obj(serde_json::json!({
            "kind": "missing", "cause": "library", "path": "libc.so.6",
            "nomad_error": "/x: error while loading shared libraries: libc.so.6: cannot open shared object file: No such file or directory",
            "exit_code": 127, "needed_by": ["/x"]
        }))
    };
    [
        Trial::test("fixture_harness::compares_listed_fields", move || {
            let a = lib();
            check(matches(&obj(serde_json::json!({"kind": "missing", "cause": "library", "path": "libc.so.6"})), &a), "same path must match")?;
            check(!matches(&obj(serde_json::json!({"kind": "missing", "cause": "library", "path": "libm.so.6"})), &a), "other path must not match")?;
            check(!matches(&obj(serde_json::json!({"kind": "missing", "cause": "interpreter", "path": "libc.so.6"})), &a), "other cause must not match")?;
            check(!matches(&obj(serde_json::json!({"kind": "missing", "cause": "library", "exit_code": 255})), &a), "other exit code must not match")
        }),
        Trial::test("fixture_harness::null_means_absent", move || {
            let a = lib();
            check(!matches(&obj(serde_json::json!({"kind": "missing", "cause": "library", "message": "x"})), &a), "absent message is not `x`")?;
            check(matches(&obj(serde_json::json!({"kind": "missing", "cause": "library", "message": null})), &a), "null matches an absent field")?;
            check(!matches(&obj(serde_json::json!({"kind": "missing", "cause": "library", "nomad_error": null})), &a), "null does not match a present field")
        }),
        Trial::test("fixture_harness::text_contains", move || {
            let a = lib();
            check(matches(&obj(serde_json::json!({"kind": "missing", "cause": "library", "text_contains": "libc.so.6: cannot open"})), &a), "substring of nomad_error")?;
            check(!matches(&obj(serde_json::json!({"kind": "missing", "cause": "library", "text_contains": "too many files"})), &a), "absent substring")
        }),
        Trial::test("fixture_harness::one_to_one", move || {
            let a = lib();
            let b = lib();
            let e = vec![obj(serde_json::json!({"kind": "missing", "cause": "library", "path": "libc.so.6"}))];
            let (unmatched, extra) = match_findings(&e, &[&a, &b]);
            check(unmatched.is_empty() && extra.len() == 1, "a duplicate report is an unexpected finding")?;
            let (unmatched, extra) = match_findings(&e, &[]);
            check(unmatched.len() == 1 && extra.is_empty(), "an unreported finding is a failure")
        }),
    ]
    .into_iter()
}

fn validate(expected: &Expected) -> Result<(), String> {
    if !expected.kinds.iter().any(|k| k == "missing") {
        return Err("`kinds` must include \"missing\"".into());
    }
    for f in &expected.findings {
        for key in f.keys() {
            if !ALLOWED.contains(&key.as_str()) {
                return Err(format!(
                    "unknown key `{key}` in a finding (allowed: {ALLOWED:?})"
                ));
            }
        }
        for key in ["kind", "cause"] {
            if !f.get(key).is_some_and(Value::is_string) {
                return Err(format!("every finding needs a string `{key}`"));
            }
        }
        let kind = f["kind"].as_str().unwrap_or_default();
        if !expected.kinds.iter().any(|k| k == kind) {
            return Err(format!(
                "a finding of kind `{kind}`, which `kinds` does not list"
            ));
        }
    }
    Ok(())
}

/// Findings as JSON objects.
type Findings<'a> = Vec<&'a Map<String, Value>>;

/// Pair expected and actual findings one to one. Returns the expected ones nothing
/// matched and the actual ones left over.
fn match_findings<'a, 'b>(
    expected: &'a [Map<String, Value>],
    actual: &[&'b Map<String, Value>],
) -> (Findings<'a>, Findings<'b>) {
    let mut used = vec![false; actual.len()];
    let mut unmatched = Vec::new();
    for e in expected {
        match (0..actual.len()).find(|&i| !used[i] && matches(e, actual[i])) {
            Some(i) => used[i] = true,
            None => unmatched.push(e),
        }
    }
    let left = actual
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(a, _)| *a)
        .collect();
    (unmatched, left)
}

fn matches(expected: &Map<String, Value>, actual: &Map<String, Value>) -> bool {
    for key in ["kind", "cause"] {
        if expected.get(key) != actual.get(key) {
            return false;
        }
    }
    for key in COMPARED {
        if let Some(want) = expected.get(*key) {
            let got = actual.get(*key).unwrap_or(&Value::Null);
            if want != got {
                return false;
            }
        }
    }
    if let Some(needle) = expected.get("text_contains").and_then(Value::as_str) {
        let found = ["nomad_error", "message"].iter().any(|k| {
            actual
                .get(*k)
                .and_then(Value::as_str)
                .is_some_and(|t| t.contains(needle))
        });
        if !found {
            return false;
        }
    }
    true
}

/// The fields a case can compare, for readable mismatch output.
fn project(f: &Map<String, Value>) -> Map<String, Value> {
    ["kind", "cause"]
        .iter()
        .chain(COMPARED)
        .filter_map(|k| f.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

fn tool_args(case: &Case, bundle: &Path) -> Vec<String> {
    let mut a = vec![
        bundle.display().to_string(),
        "--format".into(),
        "json".into(),
        "--no-run".into(),
        "--destination".into(),
        case.destination.clone(),
        "--nomad-version".into(),
        case.nomad_version.clone(),
        "--extract".into(),
        case.extract.clone(),
    ];
    match &case.chroot_env {
        ChrootEnvSpec::Named(n) => a.push(format!("--chroot-env={n}")),
        ChrootEnvSpec::Entries(es) => a.extend(es.iter().map(|e| format!("--chroot-env={e}"))),
    }
    if let Some(cmd) = &case.command {
        a.push("--".into());
        a.push(cmd.clone());
        a.extend(case.args.iter().cloned());
    }
    a
}

struct ToolRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_tool(argv: &[String]) -> Result<ToolRun, Failed> {
    let mut child = Command::new(BIN)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {BIN}: {e}"))?;
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{BIN} did not finish within {TIMEOUT:?}").into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for {BIN}: {e}").into()),
        }
    };
    Ok(ToolRun {
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

fn read(p: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()).into())
}

fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-=:+,".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
