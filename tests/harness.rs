//! `nomad-chroot-check test` and `record`, end to end: the binary runs the spec files in
//! `fixtures/specs/` against bundles built here (real tar.gz archives holding the static
//! busybox from Debian's busybox-static, and Debian's `hello` rewritten with patchelf to
//! need a glibc the bundle lacks).
//!
//! A libtest-mimic harness, so trials whose pipeline stage is missing from this build
//! (unpacking, static analysis, the sandbox) are reported *ignored with the reason*,
//! decided by probing the binary once at startup.

mod contract;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use flate2::Compression;
use flate2::write::GzEncoder;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nomad-chroot-check");
const BUSYBOX: &str = "/bin/busybox";
const HELLO: &str = "/usr/bin/hello";
const GLIBC: &str = "/nix/store/0c5kg0lhv0l0dqgfbj6kp6jhy1ykg0lh-glibc-2.40-66";
const HELLO_STORE: &str = "nix/store/1y5pwpgvmndyd3hw7sjzg7kwmz52wmvp-hello-2.12.1";

/// A directory with a copy of one fixture spec and the bundles it names.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new(spec: &str) -> Work {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/specs");
        fs::copy(src.join(spec), dir.path().join(spec)).unwrap();
        fs::copy(src.join("app.nomad.hcl"), dir.path().join("app.nomad.hcl")).unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        fs::create_dir_all(dir.path().join("bundles")).unwrap();
        fs::copy(&bundles().app, dir.path().join("bundles/app.tar.gz")).unwrap();
        fs::copy(&bundles().broken, dir.path().join("bundles/broken.tar.gz")).unwrap();
        Work { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `nomad-chroot-check <args>` in this directory, with a private TMPDIR.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let tmp = self.path("tmp");
        fs::create_dir_all(&tmp).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("TMPDIR", &tmp)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("CI")
            .env("RUST_BACKTRACE", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

struct Bundles {
    dir: tempfile::TempDir,
    app: PathBuf,
    broken: PathBuf,
}

static BUNDLES: OnceLock<Bundles> = OnceLock::new();

fn bundles() -> &'static Bundles {
    BUNDLES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let busybox = fs::read(BUSYBOX).expect("busybox-static is installed");
        let app = dir.path().join("app.tar.gz");
        write_tar_gz(
            &app,
            &[
                Entry::Dir("bin"),
                // Regular copies, not links: Nomad's unpacker turns links into empty files.
                Entry::File("bin/sh", &busybox, 0o755),
                Entry::File("bin/sleep", &busybox, 0o755),
                Entry::Dir("etc"),
                Entry::File("etc/app.conf", b"# app\nport = 8080\n", 0o640),
            ],
        );
        let hello = dir.path().join("hello");
        fs::copy(HELLO, &hello).expect("Debian's hello is installed");
        let st = Command::new("patchelf")
            .arg("--set-interpreter")
            .arg(format!("{GLIBC}/lib/ld-linux-x86-64.so.2"))
            .arg("--set-rpath")
            .arg(format!("{GLIBC}/lib"))
            .arg(&hello)
            .status()
            .expect("patchelf is installed");
        assert!(st.success());
        let hello = fs::read(&hello).unwrap();
        let broken = dir.path().join("broken.tar.gz");
        let bin = format!("{HELLO_STORE}/bin");
        let exe = format!("{HELLO_STORE}/bin/hello");
        write_tar_gz(
            &broken,
            &[
                Entry::Dir("nix"),
                Entry::Dir("nix/store"),
                Entry::Dir(HELLO_STORE),
                Entry::Dir(&bin),
                Entry::File(&exe, &hello, 0o555),
            ],
        );
        Bundles { dir, app, broken }
    })
}

enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
}

fn write_tar_gz(path: &Path, entries: &[Entry<'_>]) {
    let gz = GzEncoder::new(fs::File::create(path).unwrap(), Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        match e {
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(1_700_000_000);
                tar.append_data(&mut h, format!("{p}/"), std::io::empty())
                    .unwrap();
            }
            Entry::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                h.set_mtime(1_700_000_000);
                tar.append_data(&mut h, p, *data).unwrap();
            }
        }
    }
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

/// Pipeline stages a trial needs beyond the harness itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Unpack,
    Analyze,
    Sandbox,
    /// `job = …` checks planned by the `job` mode.
    Job,
}

/// Why a stage cannot be used in this build or on this machine (`None`: it works).
fn stage_missing(stage: Stage) -> Option<String> {
    static PROBES: OnceLock<[Option<String>; 4]> = OnceLock::new();
    let probes = PROBES.get_or_init(|| {
        let w = Work::new("passing.toml");
        let one = |bundle: &str, cmd: &[&str]| {
            let mut args = vec![
                bundle,
                "--destination",
                "/",
                "--chroot-env",
                "none",
                "--format",
                "json",
            ];
            if cmd.is_empty() {
                args.push("--no-run");
            } else {
                args.push("--");
                args.extend(cmd);
            }
            let out = w.run(&args, &[]);
            let json: Option<Value> = serde_json::from_slice(&out.stdout).ok();
            let why = || {
                let err = String::from_utf8_lossy(&out.stderr);
                let first = err
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                format!("exit {:?}: {first}", out.status.code())
            };
            (json, why())
        };
        let unpack = match one("bundles/app.tar.gz", &[]) {
            (Some(j), _) if j["bundle"]["entries"].as_u64() > Some(0) => None,
            (_, why) => Some(format!(
                "unpacking (archive::extract) does not work here: {why}"
            )),
        };
        let analyze = match one("bundles/broken.tar.gz", &[]) {
            (Some(j), _)
                if j["findings"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["kind"] == "missing")) =>
            {
                None
            }
            (Some(_), _) => Some(
                "static analysis (analyze) does not report the missing glibc: not merged yet"
                    .into(),
            ),
            (None, why) => Some(format!("static analysis cannot be probed: {why}")),
        };
        let sandbox = match one("bundles/app.tar.gz", &["/bin/sh", "-c", "echo probe"]) {
            (Some(j), _) if j["run"]["stdout_tail"].as_str() == Some("probe\n") => None,
            (Some(j), _) => Some(format!(
                "the sandbox cannot run a task here: {}",
                j["findings"]
            )),
            (None, why) => Some(format!("the sandbox cannot be probed: {why}")),
        };
        let jw = Work::new("job.toml");
        let out = jw.run(
            &[
                "test",
                "job.toml",
                "--exact",
                "job-hello",
                "--format",
                "json",
            ],
            &[],
        );
        let job = match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(v) if v["checks"][0]["outcome"] == "could-not-run" => Some(format!(
                "job checks are not wired in this build: {}",
                v["checks"][0]["reason"].as_str().unwrap_or("")
            )),
            Ok(_) => None,
            Err(e) => Some(format!(
                "job checks cannot be probed ({e}): {}",
                describe(&out)
            )),
        };
        [unpack, analyze, sandbox, job]
    });
    probes[stage as usize].clone()
}

fn trial(name: &'static str, needs: &'static [Stage], f: fn() -> Result<(), Failed>) -> Trial {
    // Probing runs the binary; only do it when some trial needs a stage.
    let missing: Vec<String> = if needs.is_empty() {
        Vec::new()
    } else {
        needs.iter().filter_map(|s| stage_missing(*s)).collect()
    };
    if missing.is_empty() {
        Trial::test(name, f)
    } else {
        let reason = missing.join("; ");
        Trial::ignorable_test(name, move || {
            Ok(libtest_mimic::Completion::ignored_with(reason))
        })
    }
}

fn main() {
    use Stage::*;
    let args = Arguments::from_args();
    let trials = vec![
        trial("list_terse_prints_name_test_lines", &[], list_terse),
        trial("list_obeys_filters_exact_skip_ignored", &[], list_filters),
        trial("unknown_key_exits_2_with_its_line", &[], unknown_key),
        trial("missing_bundle_exits_2_with_its_line", &[], missing_bundle),
        trial("json_stdout_is_one_document", &[], json_document),
        trial("junit_loads_in_a_real_parser", &[], junit_structure),
        trial("no_work_dirs_left_behind", &[], no_leftovers),
        trial("file_checks_pass_and_fail", &[Unpack], file_checks),
        trial("passing_spec_exits_0", &[Unpack], passing_exits_0),
        trial("shared_bundle_is_unpacked_once", &[Unpack], unpacked_once),
        trial("junit_carries_failures", &[Unpack], junit_failures),
        trial("github_annotations", &[Unpack], annotations),
        trial(
            "static_checks_pass_and_fail",
            &[Unpack, Analyze],
            static_checks,
        ),
        trial(
            "command_checks_pass_and_fail",
            &[Unpack, Analyze, Sandbox],
            command_checks,
        ),
        trial(
            "service_checks_pass_and_fail",
            &[Unpack, Analyze, Sandbox],
            service_checks,
        ),
        trial(
            "job_checks_run_the_jobs_task",
            &[Unpack, Analyze, Sandbox, Job],
            job_checks,
        ),
        trial(
            "record_then_test_passes",
            &[Unpack, Analyze, Sandbox],
            record_then_test,
        ),
        trial(
            "record_output_file_names_paths_relative_to_it",
            &[Unpack, Analyze, Sandbox],
            record_output_file,
        ),
        trial(
            "reports_do_not_depend_on_neighbours",
            &[Unpack, Analyze, Sandbox],
            neighbours,
        ),
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    // Statics are never dropped: remove the bundles' directory ourselves.
    if let Some(b) = BUNDLES.get() {
        let _ = fs::remove_dir_all(b.dir.path());
    }
    conclusion.exit();
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

const FOUR_KINDS: [&str; 12] = [
    "static-pass",
    "static-expect-fail",
    "static-fail",
    "run-pass",
    "run-wrong-exit",
    "run-wrong-stdout",
    "service-pass",
    "service-exits",
    "file-pass",
    "file-missing",
    "file-absent",
    "skipped",
];

fn list_terse() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let out = w.run(
        &["test", "four-kinds.toml", "--list", "--format", "terse"],
        &[],
    );
    ensure!(out.status.code() == Some(0), "{}", describe(&out));
    let want: Vec<String> = FOUR_KINDS.iter().map(|n| format!("{n}: test")).collect();
    let got: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    ensure!(got == want, "--list --format terse printed:\n{got:#?}");
    // libtest's own spelling, after the spec, works the same.
    let out = w.run(
        &["test", "four-kinds.toml", "--format=terse", "--list"],
        &[],
    );
    ensure!(
        text(&out.stdout).lines().count() == 12,
        "{}",
        describe(&out)
    );
    Ok(())
}

fn listed(w: &Work, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["test", "four-kinds.toml", "--list", "--format", "terse"];
    args.extend(extra);
    let out = w.run(&args, &[]);
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test").map(str::to_owned))
        .collect()
}

fn list_filters() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let got = listed(&w, &["file-"]);
    ensure!(
        got == ["file-pass", "file-missing", "file-absent"],
        "substring filter: {got:?}"
    );
    let got = listed(&w, &["--exact", "static-pass"]);
    ensure!(got == ["static-pass"], "--exact: {got:?}");
    let got = listed(&w, &["static", "--skip", "fail"]);
    ensure!(got == ["static-pass"], "--skip: {got:?}");
    let got = listed(&w, &["--ignored"]);
    ensure!(got == ["skipped"], "--ignored: {got:?}");
    Ok(())
}

fn unknown_key() -> Result<(), Failed> {
    let w = Work::new("unknown-key.toml");
    let out = w.run(&["test", "unknown-key.toml"], &[]);
    let err = text(&out.stderr);
    ensure!(out.status.code() == Some(2), "{}", describe(&out));
    ensure!(
        err.contains("unknown-key.toml:4: unknown key `expected`"),
        "{err}"
    );
    Ok(())
}

fn missing_bundle() -> Result<(), Failed> {
    let w = Work::new("missing-bundle.toml");
    let out = w.run(&["test", "missing-bundle.toml", "--list"], &[]);
    let err = text(&out.stderr);
    ensure!(out.status.code() == Some(2), "{}", describe(&out));
    ensure!(
        err.contains("missing-bundle.toml:6: check `no-such-bundle`: bundle `bundles/does-not-exist.tar.gz` does not exist"),
        "{err}"
    );
    Ok(())
}

/// The checks of the JSON document `--format json` prints.
fn json_outcomes(w: &Work, filter: &[&str]) -> Result<(Output, Vec<Value>), Failed> {
    let mut args = vec!["test", "four-kinds.toml", "--format", "json"];
    args.extend(filter);
    let out = w.run(&args, &[]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("stdout is not one JSON document ({e}):\n{}", describe(&out)))?;
    contract::test_document(&v, out.status.code())
        .map_err(|e| format!("the test document breaks docs/report-format.md: {e}"))?;
    let entries = v["checks"].as_array().cloned().ok_or("no `checks` array")?;
    Ok((out, entries))
}

fn outcome_of<'a>(entries: &'a [Value], name: &str) -> Result<&'a Value, Failed> {
    entries
        .iter()
        .find(|e| e["check"] == name)
        .ok_or_else(|| format!("no entry for `{name}` in {entries:#?}").into())
}

fn json_document() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let (out, entries) = json_outcomes(&w, &["--skip", "run-", "--skip", "service-"])?;
    let names: Vec<&str> = entries.iter().filter_map(|e| e["check"].as_str()).collect();
    ensure!(
        names
            == [
                "static-pass",
                "static-expect-fail",
                "static-fail",
                "file-pass",
                "file-missing",
                "file-absent",
                "skipped"
            ],
        "{names:?}"
    );
    let skipped = outcome_of(&entries, "skipped")?;
    ensure!(skipped["outcome"] == "ignored", "{skipped}");
    ensure!(skipped["line"] == 75, "the [[check]] line: {skipped}");
    for e in &entries {
        let o = e["outcome"].as_str().unwrap_or("");
        ensure!(
            ["passed", "failed", "could-not-run", "ignored"].contains(&o),
            "{e}"
        );
        // Every key on every entry, passing or not.
        for key in ["failures", "reason", "report", "duration_ms", "line"] {
            ensure!(e.get(key).is_some(), "`{key}` missing: {e}");
        }
    }
    let pass = outcome_of(&entries, "static-pass")?;
    ensure!(pass["failures"] == serde_json::json!([]), "{pass}");
    ensure!(pass["reason"].is_null(), "{pass}");
    // libtest's lines went to stderr.
    ensure!(
        text(&out.stderr).contains("test result:"),
        "{}",
        describe(&out)
    );
    Ok(())
}

fn parse_junit(xml: &[u8]) -> Result<junit_parser::TestSuites, Failed> {
    junit_parser::from_reader(std::io::Cursor::new(xml))
        .map_err(|e| format!("JUnit does not parse: {e}\n{}", text(xml)).into())
}

fn junit_structure() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let out = w.run(
        &[
            "test",
            "four-kinds.toml",
            "--junit",
            "junit.xml",
            "--skip",
            "run-",
            "--skip",
            "service-",
            "--skip",
            "file-",
        ],
        &[],
    );
    let xml = fs::read(w.path("junit.xml")).map_err(|e| format!("{e}: {}", describe(&out)))?;
    let suites = parse_junit(&xml)?;
    ensure!(suites.suites.len() == 1, "{suites:?}");
    let suite = &suites.suites[0];
    ensure!(suite.name == "four-kinds.toml", "{}", suite.name);
    let names: Vec<&str> = suite
        .cases
        .iter()
        .map(|c| c.original_name.as_str())
        .collect();
    ensure!(
        names
            == [
                "static-pass",
                "static-expect-fail",
                "static-fail",
                "skipped"
            ],
        "{names:?}"
    );
    let skipped = &suite.cases[3];
    ensure!(
        matches!(&skipped.status, junit_parser::TestStatus::Skipped(s) if s.message.contains("ignored check")),
        "{skipped:?}"
    );
    ensure!(
        suite.cases[0].classname.as_deref() == Some("bundles/app.tar.gz"),
        "{:?}",
        suite.cases[0]
    );
    // `--format junit` puts the same document on stdout.
    let out = w.run(
        &["test", "four-kinds.toml", "--format", "junit", "skipped"],
        &[],
    );
    let suites = parse_junit(&out.stdout)?;
    ensure!(suites.suites[0].cases.len() == 1, "{}", describe(&out));
    Ok(())
}

fn no_leftovers() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let _ = w.run(&["test", "four-kinds.toml", "static-", "file-"], &[]);
    let left: Vec<_> = fs::read_dir(w.path("tmp"))?
        .flatten()
        .map(|e| e.path())
        .collect();
    ensure!(left.is_empty(), "left in TMPDIR: {left:?}");
    Ok(())
}

fn expect_outcomes(entries: &[Value], want: &[(&str, &str)]) -> Result<(), Failed> {
    for (name, outcome) in want {
        let e = outcome_of(entries, name)?;
        ensure!(
            e["outcome"] == *outcome,
            "`{name}` should be {outcome}: {e:#}"
        );
    }
    Ok(())
}

fn file_checks() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let (out, entries) = json_outcomes(&w, &["file-"])?;
    ensure!(out.status.code() == Some(101), "{}", describe(&out));
    expect_outcomes(
        &entries,
        &[
            ("file-pass", "passed"),
            ("file-missing", "failed"),
            ("file-absent", "passed"),
        ],
    )?;
    let f = outcome_of(&entries, "file-missing")?["failures"].to_string();
    ensure!(f.contains("`/etc/nope.conf` does not exist"), "{f}");
    Ok(())
}

fn passing_exits_0() -> Result<(), Failed> {
    let w = Work::new("passing.toml");
    let out = w.run(&["test", "passing.toml"], &[]);
    ensure!(out.status.code() == Some(0), "{}", describe(&out));
    ensure!(
        text(&out.stdout).contains("test result: ok. 2 passed"),
        "{}",
        describe(&out)
    );
    Ok(())
}

fn junit_failures() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let out = w.run(
        &["test", "four-kinds.toml", "--junit", "j.xml", "file-"],
        &[],
    );
    ensure!(out.status.code() == Some(101), "{}", describe(&out));
    let suites = parse_junit(&fs::read(w.path("j.xml"))?)?;
    let cases = &suites.suites[0].cases;
    let by = |n: &str| {
        cases
            .iter()
            .find(|c| c.original_name == n)
            .map(|c| &c.status)
    };
    ensure!(
        matches!(by("file-pass"), Some(junit_parser::TestStatus::Success)),
        "{cases:#?}"
    );
    match by("file-missing") {
        Some(junit_parser::TestStatus::Failure(f)) => {
            ensure!(f.message.contains("/etc/nope.conf"), "{f:?}")
        }
        other => return Err(format!("file-missing: {other:?}").into()),
    }
    Ok(())
}

fn annotations() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let out = w.run(
        &["test", "four-kinds.toml", "file-"],
        &[("GITHUB_ACTIONS", "true")],
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    ensure!(
        lines.len() == 1,
        "one failing check, one annotation:\n{stdout}"
    );
    ensure!(
        lines[0].starts_with("::error file=four-kinds.toml,line=65,title=file-missing::"),
        "{}",
        lines[0]
    );
    ensure!(lines[0].contains("/etc/nope.conf"), "{}", lines[0]);
    let plain = w.run(&["test", "four-kinds.toml", "file-"], &[]);
    ensure!(
        !text(&plain.stdout).contains("::error"),
        "annotations only under GITHUB_ACTIONS=true"
    );
    Ok(())
}

fn static_checks() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let (out, entries) = json_outcomes(&w, &["static-"])?;
    ensure!(out.status.code() == Some(101), "{}", describe(&out));
    expect_outcomes(
        &entries,
        &[
            ("static-pass", "passed"),
            ("static-expect-fail", "passed"),
            ("static-fail", "failed"),
        ],
    )?;
    let f = outcome_of(&entries, "static-fail")?;
    ensure!(
        f["failures"].to_string().contains("ld-linux-x86-64.so.2"),
        "{f:#}"
    );
    ensure!(f["report"]["verdict"] == "fail", "{f:#}");
    Ok(())
}

fn command_checks() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let (out, entries) = json_outcomes(&w, &["run-"])?;
    ensure!(out.status.code() == Some(101), "{}", describe(&out));
    expect_outcomes(
        &entries,
        &[
            ("run-pass", "passed"),
            ("run-wrong-exit", "failed"),
            ("run-wrong-stdout", "failed"),
        ],
    )?;
    let exit = outcome_of(&entries, "run-wrong-exit")?["failures"].to_string();
    ensure!(
        exit.contains("expected exit code 0") && exit.contains("exited with 3"),
        "{exit}"
    );
    let stdout = outcome_of(&entries, "run-wrong-stdout")?["failures"].to_string();
    ensure!(
        stdout.contains("does not match /^hello/") && stdout.contains("goodbye"),
        "{stdout}"
    );
    Ok(())
}

fn service_checks() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let (out, entries) = json_outcomes(&w, &["service-"])?;
    ensure!(out.status.code() == Some(101), "{}", describe(&out));
    expect_outcomes(
        &entries,
        &[("service-pass", "passed"), ("service-exits", "failed")],
    )?;
    Ok(())
}

fn record_then_test() -> Result<(), Failed> {
    let w = Work::new("passing.toml");
    let out = w.run(
        &[
            "record",
            "bundles/app.tar.gz",
            "--destination",
            "/",
            "--chroot-env",
            "none",
            "--",
            "/bin/sh",
            "-c",
            "echo 'v1.0 (x)'; exit 4",
        ],
        &[],
    );
    ensure!(out.status.code() == Some(0), "{}", describe(&out));
    let spec = text(&out.stdout);
    ensure!(spec.contains("exit_code = 4"), "{spec}");
    ensure!(spec.contains(r"^v1\.0 \(x\)"), "{spec}");
    fs::write(w.path("recorded.toml"), &spec)?;
    let out = w.run(&["test", "recorded.toml"], &[]);
    ensure!(out.status.code() == Some(0), "{spec}\n{}", describe(&out));
    // The baseline catches a change: a different bundle fails it.
    let changed = spec.replace("bundles/app.tar.gz", "bundles/broken.tar.gz");
    fs::write(w.path("changed.toml"), changed)?;
    let out = w.run(&["test", "changed.toml"], &[]);
    ensure!(out.status.code() == Some(101), "{}", describe(&out));
    Ok(())
}

fn unpacked_once() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    let count = |filter: &str| {
        let out = w.run(
            &["test", "four-kinds.toml", filter],
            &[("RUST_LOG", "nomad_chroot_check=debug")],
        );
        let n = text(&out.stderr)
            .lines()
            .filter(|l| l.contains("unpacking the bundle for every check"))
            .count();
        (n, out)
    };
    // Three file checks of app.tar.gz: one task dir.
    let (n, out) = count("file-");
    ensure!(n == 1, "unpacked {n} times:\n{}", describe(&out));
    // static-pass uses app.tar.gz, the two others broken.tar.gz: two task dirs.
    let (n, out) = count("static-");
    ensure!(n == 2, "unpacked {n} times:\n{}", describe(&out));
    Ok(())
}

fn job_checks() -> Result<(), Failed> {
    let w = Work::new("job.toml");
    let out = w.run(&["test", "job.toml", "--format", "json"], &[]);
    ensure!(out.status.code() == Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let hello = v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["check"] == "job-hello"))
        .ok_or("no job-hello entry")?;
    ensure!(
        hello["report"]["run"]["stdout_tail"] == "hi from the job\n",
        "{hello:#}"
    );
    ensure!(hello["report"]["task"]["name"] == "hello", "{hello:#}");
    Ok(())
}

/// `record -o dir/spec.toml` from another directory: the bundle is named relative to
/// the spec, so `test dir/spec.toml` finds it.
fn record_output_file() -> Result<(), Failed> {
    let w = Work::new("four-kinds.toml");
    fs::create_dir_all(w.path("specs/app"))?;
    let out = w.run(
        &[
            "record",
            "bundles/app.tar.gz",
            "--destination",
            "/",
            "--chroot-env",
            "none",
            "-o",
            "specs/app/checks.toml",
            "--",
            "/bin/sh",
            "-c",
            "echo recorded",
        ],
        &[],
    );
    ensure!(out.status.success(), "{}", describe(&out));
    ensure!(
        out.stdout.is_empty(),
        "the spec went to the file: {}",
        describe(&out)
    );
    let spec = fs::read_to_string(w.path("specs/app/checks.toml"))?;
    ensure!(
        spec.contains("bundle = \"../../bundles/app.tar.gz\""),
        "{spec}"
    );
    let out = w.run(&["test", "specs/app/checks.toml"], &[]);
    ensure!(out.status.code() == Some(0), "{}", describe(&out));
    Ok(())
}

/// What may differ between two runs of the same check: timings.
fn normalised(report: &Value) -> Value {
    let mut r = report.clone();
    if let Some(run) = r.get_mut("run").and_then(Value::as_object_mut) {
        run.remove("duration_ms");
    }
    r
}

/// Every check's report equals the report of the same check run alone, over 20 runs
/// of the whole spec: checks sharing a task dir must not see what the ones before them
/// left (mount points, files, logs).
fn neighbours() -> Result<(), Failed> {
    let w = Work::new("neighbours.toml");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/specs/neighbours.toml");
    fs::copy(src, w.path("neighbours.toml"))?;
    let reports = |filter: &[&str]| -> Result<Vec<(String, Value)>, Failed> {
        let mut args = vec!["test", "neighbours.toml", "--format", "json"];
        args.extend(filter);
        let out = w.run(&args, &[]);
        ensure!(out.status.code() == Some(0), "{}", describe(&out));
        let v: Value = serde_json::from_slice(&out.stdout)?;
        contract::test_document(&v, out.status.code())?;
        Ok(v["checks"]
            .as_array()
            .ok_or("no checks")?
            .iter()
            .map(|e| {
                (
                    e["check"].as_str().unwrap_or("").to_owned(),
                    normalised(&e["report"]),
                )
            })
            .collect())
    };
    let mut alone = std::collections::BTreeMap::new();
    for name in [
        "static",
        "reads-passwd",
        "writes-tmp",
        "sees-no-leftover",
        "passwd-file",
    ] {
        let r = reports(&["--exact", name])?;
        ensure!(r.len() == 1, "{r:?}");
        alone.insert(name.to_owned(), r[0].1.clone());
    }
    for round in 0..20 {
        // Two threads, so the order of the checks changes from round to round.
        for (name, report) in reports(&["--test-threads", "2"])? {
            let want = &alone[&name];
            ensure!(
                &report == want,
                "round {round}: `{name}` differs from its report when run alone:\n{report:#}\nalone:\n{want:#}"
            );
        }
    }
    Ok(())
}
