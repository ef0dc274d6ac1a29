//! What a real Nomad client does that the run and the report once got wrong (issue 15),
//! each replayed with a real bundle and the real binary: busybox, Debian's python3 and a
//! coreutils `ls` relocated into a fake store path (fixtures/build.sh).
//!
//! Each trial builds its bundle (or takes a fixture's), runs `nomad-chroot-check … --format
//! json` with its own TMPDIR, checks the report, and checks that the run left no process
//! behind. A trial whose sandbox cannot be built here (exit 3) is reported ignored.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nomad-chroot-check");
const BUSYBOX: &str = "/bin/busybox";
const PYTHON: &str = "/usr/bin/python3";

/// A file of a bundle built in the test: (path in the archive, mode, content).
type Entry = (&'static str, u32, Content);

#[derive(Clone)]
enum Content {
    Text(&'static str),
    HostFile(&'static str),
}

fn tarball(dir: &Path, entries: &[Entry]) -> Result<PathBuf, Failed> {
    let path = dir.join("bundle.tar.gz");
    let file = fs::File::create(&path).map_err(|e| e.to_string())?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, mode, content) in entries {
        let data = match content {
            Content::Text(t) => t.as_bytes().to_vec(),
            Content::HostFile(p) => fs::read(p).map_err(|e| format!("{p}: {e}"))?,
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data.as_slice())
            .map_err(|e| e.to_string())?;
    }
    b.into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| e.to_string())?;
    Ok(path)
}

struct Ran {
    code: Option<i32>,
    report: Value,
}

/// Run the checker with its own TMPDIR; `Ok(None)` when this machine cannot sandbox.
fn check(tmp: &Path, args: &[&str]) -> Result<Option<Ran>, Failed> {
    let work = tmp.join("work");
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let out = Command::new(BIN)
        .args(["--format", "json"])
        .args(args)
        .env("TMPDIR", &work)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Without root, the sandbox needs user namespaces this machine may not allow: that
    // is "could not check here" (exit 3). As root (CI), exit 3 is a failure.
    if out.status.code() == Some(3) && !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let report: Value = serde_json::from_str(&stdout).map_err(|e| {
        format!(
            "not a JSON report ({e}), exit {:?}\nstdout {stdout}\nstderr {stderr}",
            out.status
        )
    })?;
    let left: Vec<_> = fs::read_dir(&work)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    if !left.is_empty() {
        return Err(format!("work dirs left behind: {left:?}").into());
    }
    Ok(Some(Ran {
        code: out.status.code(),
        report,
    }))
}

fn findings<'a>(r: &'a Value, pred: impl Fn(&Value) -> bool + 'a) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| pred(f)).collect())
        .unwrap_or_default()
}

fn errors(r: &Value) -> Vec<&Value> {
    findings(r, |f| f["severity"] == "error")
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*).into());
        }
    };
}

fn tmp() -> Result<tempfile::TempDir, Failed> {
    tempfile::Builder::new()
        .prefix("ncc-run-fidelity.")
        .tempdir()
        .map_err(|e| e.to_string().into())
}

fn busybox_bundle(dir: &Path, sh_mode: u32, extra: &[Entry]) -> Result<PathBuf, Failed> {
    let mut entries: Vec<Entry> = vec![("bin/sh", sh_mode, Content::HostFile(BUSYBOX))];
    entries.extend_from_slice(extra);
    tarball(dir, &entries)
}

fn unavailable() -> Result<Completion, Failed> {
    Ok(Completion::ignored_with(
        "this machine cannot build the sandbox (exit 3)",
    ))
}

/// Item 1: the executor chmods the command `a+rx` before starting it
/// (hashicorp/nomad:drivers/shared/executor/executor.go `makeExecutable`), so a 0444
/// command runs; a program it runs without +x still fails with EACCES, as under Nomad.
fn make_executable_applies_to_the_command_only() -> Result<Completion, Failed> {
    let t = tmp()?;
    let bundle = busybox_bundle(
        t.path(),
        0o444,
        &[(
            "bin/tool",
            0o644,
            Content::Text("#!/local/bin/sh\necho tool\n"),
        )],
    )?;
    let b = bundle.to_str().unwrap();
    let Some(ok) = check(
        t.path(),
        &[b, "--chroot-env", "none", "--", "/bin/sh", "-c", "echo ok"],
    )?
    else {
        return unavailable();
    };
    ensure!(
        ok.code == Some(0),
        "0444 command: exit {:?}\n{:#}",
        ok.code,
        ok.report
    );
    ensure!(
        ok.report["run"]["stdout_tail"] == "ok\n",
        "{:#}",
        ok.report["run"]
    );

    let Some(nested) = check(
        t.path(),
        &[
            b,
            "--chroot-env",
            "none",
            "--",
            "/bin/sh",
            "-c",
            "/local/bin/tool",
        ],
    )?
    else {
        return unavailable();
    };
    ensure!(nested.code == Some(1), "nested: exit {:?}", nested.code);
    ensure!(
        nested.report["run"]["exit_code"] == 126,
        "{:#}",
        nested.report["run"]
    );
    let first = &nested.report["findings"][0];
    ensure!(
        first["path"] == "/local/bin/tool"
            && first["kind"] == "permission"
            && first["severity"] == "error",
        "the denied execve is not the first finding: {first:#}"
    );
    Ok(Completion::Completed)
}

/// Item 3: busybox probes `/etc/busybox.conf` on every start; when the run fails for
/// another reason, that probe is `info`, and the run's own finding is the one error.
fn busybox_probe_is_info_when_the_run_fails() -> Result<Completion, Failed> {
    let t = tmp()?;
    let bundle = busybox_bundle(t.path(), 0o755, &[])?;
    let Some(r) = check(
        t.path(),
        &[
            bundle.to_str().unwrap(),
            "--chroot-env",
            "none",
            "--",
            "/bin/sh",
            "-c",
            "exit 3",
        ],
    )?
    else {
        return unavailable();
    };
    let errs = errors(&r.report);
    ensure!(
        errs.len() == 1 && errs[0]["kind"] == "run" && errs[0]["cause"] == "exit-code",
        "errors: {errs:#?}"
    );
    let conf = findings(&r.report, |f| f["path"] == "/etc/busybox.conf");
    ensure!(
        conf.len() == 1 && conf[0]["severity"] == "info",
        "/etc/busybox.conf: {conf:#?}"
    );
    Ok(Completion::Completed)
}

/// Item 3: a path the task creates itself after looking for it (`[ -d $PGDATA ] ||
/// initdb`) was never missing; the file it could not open is the one error, first.
fn a_path_the_task_creates_is_not_missing() -> Result<Completion, Failed> {
    let t = tmp()?;
    let bundle = busybox_bundle(t.path(), 0o755, &[])?;
    let script =
        "[ -d /local/db ] || mkdir /local/db; echo x > /local/db/PG_VERSION; cat /local/app.conf";
    let Some(r) = check(
        t.path(),
        &[
            bundle.to_str().unwrap(),
            "--chroot-env",
            "none",
            "--",
            "/bin/sh",
            "-c",
            script,
        ],
    )?
    else {
        return unavailable();
    };
    let db = findings(&r.report, |f| {
        f["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/local/db"))
    });
    ensure!(db.is_empty(), "a created path reported: {db:#?}");
    let first = &r.report["findings"][0];
    ensure!(
        first["path"] == "/local/app.conf"
            && first["cause"] == "runtime"
            && first["severity"] == "error",
        "first finding: {first:#}"
    );
    let runtime_errors = findings(&r.report, |f| {
        f["cause"] == "runtime" && f["severity"] == "error"
    });
    ensure!(runtime_errors.len() == 1, "{runtime_errors:#?}");
    Ok(Completion::Completed)
}

/// Item 3: a dynamically linked program missing a library is one error (the static
/// check's, with the loader's message), not four: no `/etc/ld.so.cache` "add it to the
/// bundle", no second error for the store path, and the exit 127 the static check
/// predicted is confirmed, not repeated (item 6: it starts, then fails as predicted).
fn missing_library_is_one_error(root: &Path) -> Result<Completion, Failed> {
    let bundle = root.join("fixtures/build/missing-direct-library/bundle.tar.gz");
    if !bundle.is_file() {
        return Err(format!("{} not built (bash fixtures/build.sh)", bundle.display()).into());
    }
    let t = tmp()?;
    let ls = "/nix/store/86kl92jph77nbjv124zyivfy3qq7a4xy-coreutils-9.1/bin/ls";
    let Some(r) = check(
        t.path(),
        &[
            bundle.to_str().unwrap(),
            "--destination",
            "/",
            "--chroot-env",
            "none",
            "--",
            ls,
            "/",
        ],
    )?
    else {
        return unavailable();
    };
    ensure!(r.report["run"]["exit_code"] == 127, "{:#}", r.report["run"]);
    let errs = errors(&r.report);
    ensure!(
        errs.len() == 1 && errs[0]["cause"] == "library",
        "one missing library, {} errors: {errs:#?}",
        errs.len()
    );
    let cache = findings(&r.report, |f| f["path"] == "/etc/ld.so.cache");
    ensure!(
        cache
            .iter()
            .all(|f| f["severity"] == "info" && f["hint"].is_null()),
        "{cache:#?}"
    );
    let start = &r.report["start"];
    ensure!(
        start["can_start"] == true && start["exit_code_predicted"] == 127,
        "start: {start:#}"
    );
    Ok(Completion::Completed)
}

/// Item 6: a missing ELF interpreter stops the start; nothing is run, and the report
/// says what Nomad says.
fn missing_interpreter_cannot_start(root: &Path) -> Result<Completion, Failed> {
    let dir = root.join("fixtures/cases/missing-interpreter");
    let case: toml::Value =
        toml::from_str(&fs::read_to_string(dir.join("case.toml")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let bundle = root.join("fixtures/build/missing-interpreter/bundle.tar.gz");
    let t = tmp()?;
    let mut args: Vec<String> = vec![
        bundle.display().to_string(),
        "--destination".into(),
        case["destination"].as_str().unwrap_or("local/").into(),
        "--chroot-env".into(),
        "none".into(),
        "--".into(),
        case["command"].as_str().ok_or("no command")?.into(),
    ];
    args.extend(
        case.get("args")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned)),
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(r) = check(t.path(), &argv)? else {
        return unavailable();
    };
    let start = &r.report["start"];
    ensure!(start["can_start"] == false, "start: {start:#}");
    ensure!(
        start["nomad_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("exec ") && e.ends_with("no such file or directory")),
        "start: {start:#}"
    );
    ensure!(
        r.report["run"].is_null(),
        "it was run: {:#}",
        r.report["run"]
    );
    Ok(Completion::Completed)
}

/// Item 3: Python's start-up probes are not findings to act on; the file a failing
/// script names in its traceback is the one runtime error, first.
fn python_probes_are_not_errors() -> Result<Completion, Failed> {
    if !Path::new(PYTHON).is_file() {
        return Ok(Completion::ignored_with(format!(
            "{PYTHON} is not installed"
        )));
    }
    let t = tmp()?;
    let bundle = tarball(
        t.path(),
        &[
            (
                "ok.py",
                0o644,
                Content::Text("import json, sqlite3\nprint('ok')\n"),
            ),
            (
                "bad.py",
                0o644,
                Content::Text("import json\nopen('/local/settings.toml').read()\n"),
            ),
        ],
    )?;
    let b = bundle.to_str().unwrap();
    let Some(ok) = check(t.path(), &[b, "--", PYTHON, "/local/ok.py"])? else {
        return unavailable();
    };
    ensure!(
        ok.code == Some(0),
        "ok.py: exit {:?}\n{:#}",
        ok.code,
        ok.report
    );
    let noisy = findings(&ok.report, |f| {
        f["cause"] == "runtime" && f["severity"] != "info"
    });
    ensure!(noisy.is_empty(), "python's probes reported: {noisy:#?}");

    let Some(bad) = check(t.path(), &[b, "--", PYTHON, "/local/bad.py"])? else {
        return unavailable();
    };
    let first = &bad.report["findings"][0];
    ensure!(
        first["path"] == "/local/settings.toml" && first["severity"] == "error",
        "first finding: {first:#}"
    );
    let runtime_errors = findings(&bad.report, |f| {
        f["cause"] == "runtime" && f["severity"] == "error"
    });
    ensure!(runtime_errors.len() == 1, "{runtime_errors:#?}");
    Ok(Completion::Completed)
}

/// Item 4: a batch task that leaves a daemon behind passes, with a warning: under Nomad
/// the daemon dies with the task. And it does die here too.
fn daemon_left_by_a_batch_task_is_reported() -> Result<Completion, Failed> {
    let t = tmp()?;
    let bundle = busybox_bundle(t.path(), 0o755, &[])?;
    // A duration no other process on this machine sleeps for.
    let nap = format!("{}.{}", 600 + std::process::id() % 100, std::process::id());
    let script = format!("(setsid sleep {nap} &); sleep 0.2; exit 0");
    let Some(r) = check(
        t.path(),
        &[
            bundle.to_str().unwrap(),
            "--chroot-env",
            "none",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ],
    )?
    else {
        return unavailable();
    };
    ensure!(r.code == Some(0), "exit {:?}\n{:#}", r.code, r.report);
    let w = findings(&r.report, |f| f["cause"] == "orphaned-process");
    ensure!(
        w.len() == 1
            && w[0]["severity"] == "warning"
            && w[0]["message"].as_str().is_some_and(|m| m
                .starts_with("1 descendant was still running")
                && m.contains(&nap)),
        "{w:#?}"
    );
    let alive: Vec<String> = fs::read_dir("/proc")
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&nap))
        .collect();
    ensure!(alive.is_empty(), "the daemon survived the task: {alive:?}");
    Ok(Completion::Completed)
}

/// Item 5: a config file naming a store path the bundle lacks is a warning when the
/// command does not read it; `--deny missing/store-reference` (and a test spec's `deny`)
/// makes CI fail on it.
fn deny_makes_a_warning_fail_the_check() -> Result<Completion, Failed> {
    let t = tmp()?;
    let bundle = busybox_bundle(
        t.path(),
        0o755,
        &[(
            "etc/app.conf",
            0o644,
            Content::Text(
                "ca_file = /nix/store/3jx0bnibqxj6kl2y6hh8nhmjk5zvnwq9-nss-cacert-3.98/etc/ssl/certs/ca-bundle.crt\n",
            ),
        )],
    )?;
    let b = bundle.to_str().unwrap();
    let base = [b, "--chroot-env", "none", "--no-run", "--", "/bin/sh"];
    let Some(warned) = check(t.path(), &base)? else {
        return unavailable();
    };
    let refs = findings(&warned.report, |f| f["cause"] == "store-reference");
    ensure!(
        warned.code == Some(0) && refs.len() == 1 && refs[0]["severity"] == "warning",
        "without --deny: exit {:?}, {refs:#?}",
        warned.code
    );
    let mut denied_args = base.to_vec();
    denied_args.splice(1..1, ["--deny", "missing/store-reference"]);
    let Some(denied) = check(t.path(), &denied_args)? else {
        return unavailable();
    };
    let refs = findings(&denied.report, |f| f["cause"] == "store-reference");
    ensure!(
        denied.code == Some(1)
            && refs[0]["severity"] == "error"
            && refs[0]["denied_by"] == "missing/store-reference",
        "with --deny: exit {:?}, {refs:#?}",
        denied.code
    );
    let bad = Command::new(BIN)
        .args(["--deny", "missing/nope", b])
        .output()
        .map_err(|e| e.to_string())?;
    ensure!(
        bad.status.code() == Some(2)
            && String::from_utf8_lossy(&bad.stderr).contains("`nope` is not a cause"),
        "a bad rule: {bad:?}"
    );

    // The same gate in a test spec.
    let spec = t.path().join("checks.toml");
    fs::write(
        &spec,
        "[defaults]\nbundle = \"bundle.tar.gz\"\nchroot_env = \"none\"\n\n[[check]]\nname = \"gated\"\ndeny = [\"missing/store-reference\"]\n\n[[check]]\nname = \"ungated\"\n",
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new(BIN)
        .args(["test", spec.to_str().unwrap(), "--format", "json"])
        .env("TMPDIR", t.path())
        .output()
        .map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "test --format json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let outcome = |name: &str| {
        doc["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["check"] == name))
            .map(|c| c["outcome"].clone())
            .unwrap_or_default()
    };
    ensure!(
        outcome("gated") == "failed" && outcome("ungated") == "passed",
        "spec outcomes: {doc:#}"
    );
    Ok(Completion::Completed)
}

/// Item 7: `ci/fuzz` installs cargo-fuzz when it is missing (`cargo install --locked
/// cargo-fuzz`, into `$CARGO_HOME/bin`) and then uses it, instead of stopping. `cargo`
/// is a stand-in that records what it is asked (a real install takes minutes); `rustc`
/// is the real one.
fn ci_fuzz_installs_cargo_fuzz(root: &Path) -> Result<Completion, Failed> {
    let rustc = std::env::var_os("RUSTC")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("rustc"))
                .find(|p| p.is_file())
        })
        .ok_or("no rustc on PATH")?;
    let t = tmp()?;
    let stubs = t.path().join("stubs");
    let cargo_home = t.path().join("cargo-home");
    fs::create_dir_all(cargo_home.join("bin")).map_err(|e| e.to_string())?;
    fs::create_dir_all(&stubs).map_err(|e| e.to_string())?;
    let log = t.path().join("cargo.log");
    fs::write(
        stubs.join("cargo"),
        r#"#!/bin/sh
echo "cargo $*" >> "$STUB_LOG"
if [ "$1" = install ]; then
    printf '#!/bin/sh\necho "cargo-fuzz $*" >> "$STUB_LOG"\n' > "$CARGO_HOME/bin/cargo-fuzz"
    chmod +x "$CARGO_HOME/bin/cargo-fuzz"
fi
exit 0
"#,
    )
    .map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(&rustc, stubs.join("rustc")).map_err(|e| e.to_string())?;
    let run = || {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(stubs.join("cargo"), fs::Permissions::from_mode(0o755))?;
        Command::new("bash")
            .arg(root.join("ci/fuzz"))
            .arg("1")
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", stubs.display()),
            )
            .env("CARGO_HOME", &cargo_home)
            .env("STUB_LOG", &log)
            .env("FUZZ_TARGETS", "shebang")
            .stdin(Stdio::null())
            .output()
    };
    let first = run().map_err(|e| e.to_string())?;
    let calls = fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = calls.lines().collect();
    let install = lines
        .iter()
        .position(|l| *l == "cargo install --locked cargo-fuzz");
    let build = lines.iter().position(|l| l.starts_with("cargo fuzz build"));
    ensure!(
        install.is_some() && build.is_some() && install < build,
        "ci/fuzz did not install cargo-fuzz before using it; cargo was asked:\n{calls}\nstderr:\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // Installed once: the next run finds it.
    fs::write(&log, "").map_err(|e| e.to_string())?;
    run().map_err(|e| e.to_string())?;
    let again = fs::read_to_string(&log).unwrap_or_default();
    ensure!(
        !again.contains("cargo install"),
        "installed twice:\n{again}"
    );
    Ok(Completion::Completed)
}

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let needs_busybox = |f: fn() -> Result<Completion, Failed>| {
        move || {
            if !Path::new(BUSYBOX).is_file() {
                return Ok(Completion::ignored_with(format!(
                    "{BUSYBOX} is missing (apt-get install busybox-static)"
                )));
            }
            f()
        }
    };
    let r1 = root.clone();
    let r2 = root.clone();
    let r3 = root.clone();
    let trials = vec![
        Trial::ignorable_test(
            "make_executable_applies_to_the_command_only",
            needs_busybox(make_executable_applies_to_the_command_only),
        ),
        Trial::ignorable_test(
            "busybox_probe_is_info_when_the_run_fails",
            needs_busybox(busybox_probe_is_info_when_the_run_fails),
        ),
        Trial::ignorable_test(
            "a_path_the_task_creates_is_not_missing",
            needs_busybox(a_path_the_task_creates_is_not_missing),
        ),
        Trial::ignorable_test(
            "daemon_left_by_a_batch_task_is_reported",
            needs_busybox(daemon_left_by_a_batch_task_is_reported),
        ),
        Trial::ignorable_test("python_probes_are_not_errors", python_probes_are_not_errors),
        Trial::ignorable_test(
            "deny_makes_a_warning_fail_the_check",
            needs_busybox(deny_makes_a_warning_fail_the_check),
        ),
        Trial::ignorable_test("missing_library_is_one_error", move || {
            missing_library_is_one_error(&r1)
        }),
        Trial::ignorable_test("missing_interpreter_cannot_start", move || {
            missing_interpreter_cannot_start(&r2)
        }),
        Trial::ignorable_test("ci_fuzz_installs_cargo_fuzz", move || {
            ci_fuzz_installs_cargo_fuzz(&r3)
        }),
    ];
    libtest_mimic::run(&args, trials).exit();
}
