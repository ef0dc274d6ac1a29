//! The `nix/` expressions, exercised with a real Nix.
//!
//! nixpkgs cannot be downloaded here, so the bundle and check functions get a tiny
//! pkgs-like set (`nix/tests/pkgs.nix`): a static busybox, and the host's GNU tar and
//! gzip, each added to the store with `nix-store --add`. The host tar and gzip (and the
//! tool under test) are dynamically linked against the host's glibc, so every Nix command
//! here runs with `sandbox = false`; with no substituters, nothing touches the network.
//!
//! Trials that need Nix, busybox or GNU tar are reported ignored, with the reason, on a
//! machine without them. The trials that run the tool on a bundle are ignored, with the
//! reason, while its unpacker is still a stub.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const TOOL: &str = env!("CARGO_BIN_EXE_nomad-chroot-check");

type TestResult = Result<(), Failed>;

/// What the Nix trials share: the store paths of the tools, added once.
struct Env {
    busybox: String,
    gnutar: String,
    gzip: String,
    tool: String,
    nix_config: String,
}

enum Setup {
    /// This machine lacks something the trial needs: ignore, with this reason.
    Missing(String),
    /// Setting up failed although everything is installed: a failure.
    Broken(String),
}

#[derive(Default)]
struct Shared {
    env: OnceLock<Result<Env, Setup>>,
    tool_probe: OnceLock<Result<Option<String>, String>>,
}

fn main() {
    let args = Arguments::from_args();
    let shared = Arc::new(Shared::default());
    let mut trials = Vec::new();
    let mut add = |name: &str, needs_tool: bool, f: fn(&Env) -> TestResult| {
        let shared = Arc::clone(&shared);
        trials.push(Trial::ignorable_test(name, move || {
            run_trial(&shared, needs_tool, f)
        }));
    };
    add("parse_every_nix_file", false, parse_every_nix_file);
    add("eval_default_nix_with_stub_pkgs", false, eval_default_nix);
    add("eval_shell_nix_with_stub_pkgs", false, eval_shell_nix);
    add("eval_sources_pin", false, eval_sources_pin);
    add(
        "eval_rejects_bad_arguments",
        false,
        eval_rejects_bad_arguments,
    );
    add("bundle_layout_for_nomad", false, bundle_layout_for_nomad);
    add(
        "bundle_exclude_leaves_out_a_store_path",
        false,
        bundle_exclude,
    );
    add("bundle_is_deterministic", false, bundle_is_deterministic);
    add(
        "bundle_at_file_count_limit_fails_build",
        false,
        bundle_at_limit_fails,
    );
    add(
        "bundle_file_count_limit_raised_or_disabled",
        false,
        bundle_limit_raised,
    );
    add(
        "check_passes_complete_bundle",
        true,
        check_passes_complete_bundle,
    );
    add(
        "check_fails_naming_missing_store_path",
        true,
        check_fails_naming_missing,
    );
    add(
        "check_reports_when_not_failing",
        true,
        check_reports_when_not_failing,
    );
    add("check_deny_warnings_fails_them", true, check_deny_warnings);
    add(
        "check_builds_in_the_sandbox",
        true,
        check_builds_in_the_sandbox,
    );
    add(
        "check_default_chroot_env_lends_no_host_libraries",
        true,
        check_default_chroot_env,
    );
    let conclusion = libtest_mimic::run(&args, trials);
    conclusion.exit();
}

fn run_trial(
    shared: &Shared,
    needs_tool: bool,
    f: fn(&Env) -> TestResult,
) -> Result<Completion, Failed> {
    let env = match shared.env.get_or_init(setup) {
        Ok(env) => env,
        Err(Setup::Missing(why)) => return Ok(Completion::ignored_with(why)),
        Err(Setup::Broken(why)) => return Err(why.clone().into()),
    };
    if needs_tool {
        match shared.tool_probe.get_or_init(|| probe_tool(env)) {
            Ok(None) => {}
            Ok(Some(why)) => return Ok(Completion::ignored_with(why)),
            Err(e) => return Err(e.clone().into()),
        }
    }
    f(env).map(|()| Completion::Completed)
}

// ---------------------------------------------------------------------------------------
// Setup

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn setup() -> Result<Env, Setup> {
    for bin in ["nix-build", "nix-instantiate", "nix-store"] {
        if which(bin).is_none() {
            return Err(Setup::Missing(format!(
                "`{bin}` is not in PATH (install nix-bin)"
            )));
        }
    }
    let busybox = PathBuf::from("/bin/busybox");
    if !busybox.is_file() {
        return Err(Setup::Missing(
            "/bin/busybox is missing (install busybox-static)".into(),
        ));
    }
    let gnutar = which("tar").ok_or_else(|| Setup::Missing("no `tar` in PATH".into()))?;
    let version = Command::new(&gnutar)
        .arg("--version")
        .output()
        .map_err(|e| Setup::Broken(format!("cannot run `{}`: {e}", gnutar.display())))?;
    if !String::from_utf8_lossy(&version.stdout).contains("GNU tar") {
        return Err(Setup::Missing(format!(
            "`{}` is not GNU tar (bundle.nix needs --sort and --hard-dereference)",
            gnutar.display()
        )));
    }
    let gzip = which("gzip").ok_or_else(|| Setup::Missing("no `gzip` in PATH".into()))?;

    // Builds run as nixbld users when that group exists (Debian's nix-setup-systemd
    // creates it); without it, root single-user Nix must be told to build as root.
    let mut nix_config = std::env::var("NIX_CONFIG").unwrap_or_default();
    nix_config.push_str("\nsubstituters =\nsandbox = false\n");
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    if !group.lines().any(|l| l.starts_with("nixbld:")) {
        nix_config.push_str("build-users-group =\n");
    }

    let broken = |e: String| Setup::Broken(e);
    let staging = tempfile::Builder::new()
        .prefix("ncc-nix-tools-")
        .tempdir()
        .map_err(|e| broken(format!("cannot create a temp dir: {e}")))?;
    // busybox with one symlink per applet, so the builders can put it on PATH.
    let bb_bin = staging.path().join("busybox/bin");
    mkdirs(&bb_bin).map_err(broken)?;
    copy(&busybox, &bb_bin.join("busybox")).map_err(broken)?;
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .map_err(|e| broken(format!("cannot run `busybox --list`: {e}")))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", bb_bin.join(applet))
            .map_err(|e| broken(format!("cannot link busybox applet `{applet}`: {e}")))?;
    }
    let single = |dir: &str, src: &Path, name: &str| -> Result<PathBuf, String> {
        let bin = staging.path().join(dir).join("bin");
        mkdirs(&bin)?;
        copy(src, &bin.join(name))?;
        Ok(staging.path().join(dir))
    };
    let tar_dir = single("gnutar", &gnutar, "tar").map_err(broken)?;
    let gzip_dir = single("gzip", &gzip, "gzip").map_err(broken)?;
    let tool_dir =
        single("nomad-chroot-check", Path::new(TOOL), "nomad-chroot-check").map_err(broken)?;

    let mut env = Env {
        busybox: String::new(),
        gnutar: String::new(),
        gzip: String::new(),
        tool: String::new(),
        nix_config,
    };
    env.busybox = store_add(&env, &staging.path().join("busybox")).map_err(broken)?;
    env.gnutar = store_add(&env, &tar_dir).map_err(broken)?;
    env.gzip = store_add(&env, &gzip_dir).map_err(broken)?;
    env.tool = store_add(&env, &tool_dir).map_err(broken)?;
    staging
        .close()
        .map_err(|e| broken(format!("cannot remove the staging dir: {e}")))?;
    Ok(env)
}

fn mkdirs(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to).map(|_| ()).map_err(|e| {
        format!(
            "cannot copy `{}` to `{}`: {e}",
            from.display(),
            to.display()
        )
    })
}

fn store_add(env: &Env, dir: &Path) -> Result<String, String> {
    let out = nix(env, "nix-store", [OsStr::new("--add"), dir.as_os_str()])?;
    if !out.status.success() {
        return Err(format!(
            "nix-store --add {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn nix<I, S>(env: &Env, program: &str, args: I) -> Result<Output, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .current_dir(REPO)
        .env("NIX_CONFIG", &env.nix_config)
        .output()
        .map_err(|e| format!("cannot run `{program}`: {e}"))
}

/// The tool can only check a bundle once its unpacker exists (issue 2). Until then, the
/// trials that need it are ignored with the panic message as the reason.
fn probe_tool(env: &Env) -> Result<Option<String>, String> {
    let bundle = build(env, "bundle").map_err(|e| e.to_string())?;
    let out = Command::new(TOOL)
        .args(["--no-run", "--destination", "/", "--chroot-env", "none"])
        .args(["--format", "json"])
        .arg(&bundle)
        .output()
        .map_err(|e| format!("cannot run {TOOL}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(101) && stderr.contains("not implemented:") {
        let line = stderr
            .lines()
            .find(|l| l.contains("not implemented:"))
            .unwrap_or_default();
        return Ok(Some(format!(
            "nomad-chroot-check cannot check bundles on this branch yet ({})",
            line.trim()
        )));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------
// Nix helpers

struct BuildFailure {
    attr: String,
    stderr: String,
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "nix-build -A {} failed:\n{}", self.attr, self.stderr)
    }
}

fn test_args(env: &Env, attr: &str) -> Vec<String> {
    let mut v: Vec<String> = vec!["nix/tests".into(), "-A".into(), attr.into()];
    for (k, val) in [
        ("busybox", &env.busybox),
        ("gnutar", &env.gnutar),
        ("gzip", &env.gzip),
        ("tool", &env.tool),
    ] {
        v.extend(["--argstr".into(), k.into(), val.clone()]);
    }
    v
}

/// `nix-build nix/tests -A attr`: the output path, or the failure with nix-build's stderr.
fn build(env: &Env, attr: &str) -> Result<PathBuf, BuildFailure> {
    build_with(env, attr, &[])
}

fn build_with(env: &Env, attr: &str, extra: &[&str]) -> Result<PathBuf, BuildFailure> {
    let mut args = test_args(env, attr);
    args.push("--no-out-link".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = nix(env, "nix-build", &args).map_err(|e| BuildFailure {
        attr: attr.into(),
        stderr: e,
    })?;
    if !out.status.success() {
        return Err(BuildFailure {
            attr: attr.into(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout.lines().last().unwrap_or_default().trim();
    if !path.starts_with("/nix/store/") {
        return Err(BuildFailure {
            attr: attr.into(),
            stderr: format!("no store path on stdout: {stdout:?}"),
        });
    }
    Ok(PathBuf::from(path))
}

fn built(env: &Env, attr: &str) -> Result<PathBuf, Failed> {
    build(env, attr).map_err(|e| e.to_string().into())
}

/// The full build log of `attr` (nix-build itself prints only the last lines).
fn build_log(env: &Env, attr: &str) -> Result<String, Failed> {
    let out = nix(env, "nix-instantiate", test_args(env, attr))?;
    if !out.status.success() {
        return Err(format!(
            "nix-instantiate -A {attr} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let drv = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let log = nix(env, "nix-store", ["--read-log", drv.as_str()])?;
    if !log.status.success() {
        return Err(format!(
            "nix-store --read-log {drv} failed: {}",
            String::from_utf8_lossy(&log.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&log.stdout).into_owned())
}

/// `nix-instantiate --eval --strict --json -E expr`, parsed.
fn eval_json(env: &Env, expr: &str, read_write: bool) -> Result<serde_json::Value, Failed> {
    let mut args = vec!["--eval", "--strict", "--json", "-E", expr];
    if read_write {
        args.push("--read-write-mode");
    }
    let out = nix(env, "nix-instantiate", &args)?;
    if !out.status.success() {
        return Err(format!(
            "nix-instantiate --eval failed for {expr}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("eval output is not JSON: {e}").into())
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> TestResult {
    if cond { Ok(()) } else { Err(msg().into()) }
}

// ---------------------------------------------------------------------------------------
// Reading a bundle

struct Member {
    name: String,
    kind: tar::EntryType,
    mode: u32,
    mtime: u64,
    uid: u64,
    gid: u64,
    data: Vec<u8>,
}

fn read_bundle(path: &Path) -> Result<(Vec<u8>, Vec<Member>), Failed> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut members = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let entries = archive
        .entries()
        .map_err(|e| format!("{}: not a tar.gz: {e}", path.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: bad entry: {e}", path.display()))?;
        let header = entry.header();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = header.entry_type();
        let mode = header.mode().map_err(|e| format!("{name}: mode: {e}"))?;
        let mtime = header.mtime().map_err(|e| format!("{name}: mtime: {e}"))?;
        let uid = header.uid().map_err(|e| format!("{name}: uid: {e}"))?;
        let gid = header.gid().map_err(|e| format!("{name}: gid: {e}"))?;
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| format!("{name}: read: {e}"))?;
        members.push(Member {
            name,
            kind,
            mode,
            mtime,
            uid,
            gid,
            data,
        });
    }
    Ok((bytes, members))
}

fn member<'a>(members: &'a [Member], name: &str) -> Result<&'a Member, Failed> {
    members
        .iter()
        .find(|m| m.name.trim_end_matches('/') == name)
        .ok_or_else(|| format!("bundle has no member `{name}`").into())
}

/// `/nix/store/<hash>-<name>` of every member under /nix/store.
fn store_paths(members: &[Member]) -> BTreeSet<String> {
    members
        .iter()
        .filter_map(|m| m.name.strip_prefix("/nix/store/"))
        .filter_map(|rest| rest.split('/').next())
        .filter(|s| !s.is_empty())
        .map(|s| format!("/nix/store/{s}"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Trials: evaluation

fn parse_every_nix_file(env: &Env) -> TestResult {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(REPO).join("nix")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension() == Some(OsStr::new("nix")) {
                files.push(path);
            }
        }
    }
    files.sort();
    let names: BTreeSet<String> = files
        .iter()
        .filter_map(|p| p.strip_prefix(REPO).ok())
        .map(|p| p.display().to_string())
        .collect();
    for required in [
        "nix/default.nix",
        "nix/package.nix",
        "nix/sources.nix",
        "nix/shell.nix",
        "nix/bundle.nix",
        "nix/check.nix",
    ] {
        ensure(names.contains(required), || {
            format!("{required} is missing")
        })?;
    }
    let mut failures = Vec::new();
    for file in &files {
        let out = nix(
            env,
            "nix-instantiate",
            [OsStr::new("--parse"), file.as_os_str()],
        )?;
        if !out.status.success() {
            failures.push(format!(
                "{}:\n{}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    ensure(failures.is_empty(), || failures.join("\n"))
}

fn eval_default_nix(env: &Env) -> TestResult {
    // --read-write-mode: the filtered source is really added to the store, so its
    // contents can be listed.
    let v = eval_json(
        env,
        r#"let r = import ./nix/default.nix { pkgs = import ./nix/tests/stub-pkgs.nix; };
           in {
             inherit (r) pname version doCheck;
             lockFile = toString r.cargoLock.lockFile;
             lockExists = builtins.pathExists r.cargoLock.lockFile;
             src = builtins.attrNames (builtins.readDir r.src);
             srcHasLib = builtins.pathExists "${r.src}/src/lib.rs";
             nativeBuildInputs = map (p: p.name) r.nativeBuildInputs;
             mainProgram = r.meta.mainProgram;
           }"#,
        true,
    )?;
    ensure(v["pname"] == "nomad-chroot-check", || format!("pname: {v}"))?;
    ensure(v["version"] == env!("CARGO_PKG_VERSION"), || {
        format!("version is not Cargo.toml's: {v}")
    })?;
    ensure(v["doCheck"] == false, || format!("doCheck: {v}"))?;
    ensure(v["lockExists"] == true, || format!("lock file: {v}"))?;
    ensure(
        v["lockFile"] == format!("{REPO}/Cargo.lock").as_str(),
        || format!("cargoLock.lockFile is not the repo's Cargo.lock: {v}"),
    )?;
    ensure(v["srcHasLib"] == true, || {
        format!("src/lib.rs not in src: {v}")
    })?;
    let src: BTreeSet<&str> = v["src"]
        .as_array()
        .ok_or("src is not a list")?
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    for needed in ["Cargo.toml", "Cargo.lock", "src"] {
        ensure(src.contains(needed), || {
            format!("{needed} not in src: {src:?}")
        })?;
    }
    for unwanted in ["target", "nix", ".git", "README.md"] {
        ensure(!src.contains(unwanted), || {
            format!("{unwanted} must be filtered out of src: {src:?}")
        })?;
    }
    ensure(
        v["nativeBuildInputs"] == serde_json::json!(["pkg-config", "cmake"]),
        || format!("nativeBuildInputs: {v}"),
    )?;
    ensure(v["mainProgram"] == "nomad-chroot-check", || format!("{v}"))
}

fn eval_shell_nix(env: &Env) -> TestResult {
    let v = eval_json(
        env,
        r#"let s = import ./nix/shell.nix { pkgs = import ./nix/tests/stub-pkgs.nix; };
           in map (p: p.name) s.packages"#,
        false,
    )?;
    let names: BTreeSet<&str> = v
        .as_array()
        .ok_or("packages is not a list")?
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    for needed in [
        "cargo", "rustc", "rustfmt", "clippy", "patchelf", "busybox", "gnutar",
    ] {
        ensure(names.contains(needed), || {
            format!("shell.nix lacks {needed}: {names:?}")
        })?;
    }
    Ok(())
}

fn eval_sources_pin(env: &Env) -> TestResult {
    // Without fetching: the pin's shape, and that sources.nix exposes it.
    let v = eval_json(
        env,
        r#"{ json = builtins.fromJSON (builtins.readFile ./nix/sources.json);
             names = builtins.attrNames (import ./nix/sources.nix); }"#,
        false,
    )?;
    ensure(v["names"] == serde_json::json!(["nixpkgs"]), || {
        format!("{v}")
    })?;
    let pin = &v["json"]["nixpkgs"];
    let rev = pin["rev"].as_str().ok_or("no rev")?;
    let sha = pin["sha256"].as_str().ok_or("no sha256")?;
    let url = pin["url"].as_str().ok_or("no url")?;
    ensure(
        rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()),
        || format!("rev is not a commit: {rev}"),
    )?;
    // Nix's base32 alphabet, 52 characters for sha256.
    ensure(
        sha.len() == 52
            && sha
                .bytes()
                .all(|b| b"0123456789abcdfghijklmnpqrsvwxyz".contains(&b)),
        || format!("sha256 is not a Nix base32 sha256: {sha}"),
    )?;
    ensure(url.contains(rev) && url.ends_with(".tar.gz"), || {
        format!("url does not name the rev: {url}")
    })
}

fn eval_rejects_bad_arguments(env: &Env) -> TestResult {
    for (attr, want) in [
        (
            "badWrapper",
            "binWrappers entry `../evil` is not a plain file name",
        ),
        ("runWithoutCommand", "run = true needs the task's command"),
    ] {
        let out = nix(env, "nix-instantiate", test_args(env, attr))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure(!out.status.success() && stderr.contains(want), || {
            format!("-A {attr}: want an evaluation error with `{want}`, got:\n{stderr}")
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Trials: bundle.nix

fn bundle_layout_for_nomad(env: &Env) -> TestResult {
    let bundle = built(env, "bundle")?;
    let a = built(env, "a")?.display().to_string();
    let b = built(env, "b")?.display().to_string();
    let runtime = built(env, "runtime")?.display().to_string();
    ensure(bundle.display().to_string().ends_with(".tar.gz"), || {
        format!(
            "go-getter picks the decompressor by suffix: {}",
            bundle.display()
        )
    })?;
    let (bytes, members) = read_bundle(&bundle)?;

    // gzip -n: no file name (FLG.FNAME) and no timestamp (MTIME = 0).
    ensure(
        bytes.len() > 10 && bytes[0] == 0x1f && bytes[1] == 0x8b,
        || "not gzip".into(),
    )?;
    ensure(bytes[3] & 0x08 == 0, || {
        "gzip header carries a file name".into()
    })?;
    ensure(bytes[4..8] == [0, 0, 0, 0], || {
        format!("gzip header carries a time: {:?}", &bytes[4..8])
    })?;

    // Nomad's unpacker turns links into empty files: none may be left.
    for m in &members {
        ensure(
            matches!(m.kind, tar::EntryType::Regular | tar::EntryType::Directory),
            || format!("{} is a {:?}, which Nomad would flatten", m.name, m.kind),
        )?;
        ensure(m.mtime == 1 && m.uid == 0 && m.gid == 0, || {
            format!("{}: mtime {} uid {} gid {}", m.name, m.mtime, m.uid, m.gid)
        })?;
        ensure(
            m.name.starts_with("/nix/store/")
                || m.name.starts_with("bin/")
                || m.name.starts_with("usr/"),
            || format!("unexpected member {}", m.name),
        )?;
    }

    // The closure of b and of the shell, nothing else.
    let expected: BTreeSet<String> = [a.clone(), b.clone(), runtime.clone()].into();
    ensure(store_paths(&members) == expected, || {
        format!("store paths {:?}, want {expected:?}", store_paths(&members))
    })?;

    // a's symlinks (relative, absolute, to a directory) and hard link hold the file.
    for link in [
        "share/greeting-link",
        "share/greeting-abs",
        "share/greeting-hard",
        "lib/share-dir/greeting",
    ] {
        let m = member(&members, &format!("{a}/{link}"))?;
        ensure(m.data == b"hello from a\n", || {
            format!("{}: {:?}", m.name, String::from_utf8_lossy(&m.data))
        })?;
    }
    // Links out of the store or to nowhere are left out, not copied from the builder.
    for outside in [
        "share/host-link",
        "share/dangling",
        "lib/share-dir/host-link",
        "lib/share-dir/dangling",
    ] {
        let name = format!("{a}/{outside}");
        ensure(!members.iter().any(|m| m.name == name), || {
            format!("{name} points outside the store but is in the bundle")
        })?;
    }
    // The shell's sh link became the busybox binary itself.
    let sh = member(&members, &format!("{runtime}/bin/sh"))?;
    let busybox = member(&members, &format!("{runtime}/bin/busybox"))?;
    ensure(
        sh.data == busybox.data && sh.data.starts_with(b"\x7fELF"),
        || "runtime/bin/sh is not a copy of busybox".into(),
    )?;
    let hello = member(&members, &format!("{b}/bin/hello"))?;
    ensure(hello.mode & 0o777 == 0o555, || {
        format!("mode {:o}", hello.mode)
    })?;

    // The example repo's wrappers.
    let wrapper = member(&members, "usr/local/bin/hello")?;
    ensure(
        wrapper.data == b"#!/bin/sh\nset -e\nexec hello \"$@\"\n" && wrapper.mode & 0o111 != 0,
        || {
            format!(
                "usr/local/bin/hello: {:?}",
                String::from_utf8_lossy(&wrapper.data)
            )
        },
    )?;
    let bin_sh = String::from_utf8_lossy(&member(&members, "bin/sh")?.data).into_owned();
    let want = format!("#!{runtime}/bin/sh\nexport PATH='{b}/bin'\nexec {runtime}/bin/sh \"$@\"\n");
    ensure(bin_sh == want, || {
        format!("bin/sh is\n{bin_sh}\nwant\n{want}")
    })?;

    // Sorted: each directory's members by name, so the store part is in path order.
    let store_names: Vec<Vec<&str>> = members
        .iter()
        .filter(|m| m.name.starts_with("/nix/store/"))
        .map(|m| m.name.trim_end_matches('/').split('/').collect())
        .collect();
    ensure(store_names.windows(2).all(|w| w[0] < w[1]), || {
        "store members are not sorted by name".into()
    })
}

fn bundle_exclude(env: &Env) -> TestResult {
    let broken = built(env, "broken")?;
    let a = built(env, "a")?.display().to_string();
    let b = built(env, "b")?.display().to_string();
    let (_, members) = read_bundle(&broken)?;
    let paths = store_paths(&members);
    ensure(!paths.contains(&a), || {
        format!("{a} was not excluded: {paths:?}")
    })?;
    ensure(paths.contains(&b), || format!("{b} is missing: {paths:?}"))?;
    // b still names a: the bundle is broken the way the check must catch.
    let hello = member(&members, &format!("{b}/bin/hello"))?;
    ensure(String::from_utf8_lossy(&hello.data).contains(&a), || {
        "b's script does not reference a".into()
    })
}

fn bundle_is_deterministic(env: &Env) -> TestResult {
    let first = built(env, "bundle")?;
    // --check rebuilds the derivation and fails if the output differs bit for bit.
    build_with(env, "bundle", &["--check"]).map_err(|e| e.to_string())?;
    let other = built(env, "bundleRenamed")?;
    ensure(first != other, || {
        "the renamed bundle is the same store path".into()
    })?;
    let (x, y) = (
        std::fs::read(&first).map_err(|e| e.to_string())?,
        std::fs::read(&other).map_err(|e| e.to_string())?,
    );
    ensure(x == y, || {
        format!(
            "{} and {} differ although their closures are equal",
            first.display(),
            other.display()
        )
    })
}

fn bundle_at_limit_fails(env: &Env) -> TestResult {
    // 4096 entries against the default limit of 4096: go-getter refuses it (≥, not >).
    match build(env, "bigDefault") {
        Ok(p) => Err(format!("a 4096-entry bundle built: {}", p.display()).into()),
        Err(e) => {
            let log = build_log(env, "bigDefault")?;
            let want = "error: bundle has 4096 entries, more than Nomad's \
                        decompression_file_count_limit of 4096";
            ensure(log.contains(want), || {
                format!("log lacks `{want}`:\n{log}\n{e}")
            })?;
            ensure(log.contains("fileCountLimit = 4097"), || {
                format!("log does not say which limit to pass:\n{log}")
            })
        }
    }
}

fn bundle_limit_raised(env: &Env) -> TestResult {
    for attr in ["bigRaised", "bigUnlimited"] {
        let path = built(env, attr)?;
        let (_, members) = read_bundle(&path)?;
        // Every header counts, the directory included: 4095 files + 1.
        ensure(members.len() == 4096, || {
            format!("{attr}: {} entries, want 4096", members.len())
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Trials: check.nix (need the tool's unpacker and analysis)

fn check_passes_complete_bundle(env: &Env) -> TestResult {
    let out = built(env, "check")?;
    let json = std::fs::read(out.join("report.json")).map_err(|e| e.to_string())?;
    let report: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("report.json: {e}"))?;
    ensure(report["verdict"] == "pass", || format!("verdict: {report}"))?;
    let junit = std::fs::read_to_string(out.join("junit.xml")).map_err(|e| e.to_string())?;
    ensure(junit.contains("<testsuite"), || {
        format!("junit.xml: {junit}")
    })?;
    let code = std::fs::read_to_string(out.join("exit-code")).map_err(|e| e.to_string())?;
    ensure(code.trim() == "0", || format!("exit-code: {code}"))
}

fn check_fails_naming_missing(env: &Env) -> TestResult {
    let a = built(env, "a")?.display().to_string();
    match build(env, "checkBroken") {
        Ok(p) => Err(format!("the check of a bundle without {a} passed: {}", p.display()).into()),
        Err(e) => {
            ensure(e.stderr.contains("error: nomad-chroot-check"), || {
                format!("nix-build output lacks the check's error line:\n{e}")
            })?;
            let log = build_log(env, "checkBroken")?;
            ensure(log.contains(&a), || {
                format!("the build log does not name the missing {a}:\n{log}")
            })
        }
    }
}

fn check_reports_when_not_failing(env: &Env) -> TestResult {
    let a = built(env, "a")?.display().to_string();
    let out = built(env, "checkBrokenReport")?;
    let code = std::fs::read_to_string(out.join("exit-code")).map_err(|e| e.to_string())?;
    ensure(code.trim() == "1", || format!("exit-code: {code}"))?;
    let json = std::fs::read(out.join("report.json")).map_err(|e| e.to_string())?;
    let report: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("report.json: {e}"))?;
    ensure(report["verdict"] == "fail", || format!("verdict: {report}"))?;
    let findings = report["findings"].as_array().ok_or("no findings list")?;
    ensure(
        findings.iter().any(|f| {
            f["kind"] == "missing" && f["path"].as_str().is_some_and(|p| p.starts_with(&a))
        }),
        || format!("no `missing` finding for {a}: {report}"),
    )?;
    let junit = std::fs::read_to_string(out.join("junit.xml")).map_err(|e| e.to_string())?;
    ensure(junit.contains(&a), || {
        format!("junit.xml does not name {a}:\n{junit}")
    })
}

/// `deny = [ "warnings" ]` (issue 15): the complete bundle, which passes with warnings,
/// fails, each warning an error that says which rule made it one.
fn check_deny_warnings(env: &Env) -> TestResult {
    let passing = built(env, "check")?;
    let json = std::fs::read(passing.join("report.json")).map_err(|e| e.to_string())?;
    let report: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("report.json: {e}"))?;
    let warnings = report["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["severity"] == "warning").count())
        .unwrap_or(0);
    ensure(warnings > 0, || {
        format!("the complete bundle has no warning to deny: {report}")
    })?;
    let out = built(env, "checkDenyWarnings")?;
    let code = std::fs::read_to_string(out.join("exit-code")).map_err(|e| e.to_string())?;
    ensure(code.trim() == "1", || format!("exit-code: {code}"))?;
    let json = std::fs::read(out.join("report.json")).map_err(|e| e.to_string())?;
    let report: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("report.json: {e}"))?;
    let denied = report["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["denied_by"] == "warnings").count())
        .unwrap_or(0);
    ensure(denied == warnings && report["verdict"] == "fail", || {
        format!("{warnings} warnings, {denied} denied: {report}")
    })
}

/// check.nix in a sandboxed build (`sandbox = true`): no network, no /etc or /tmp of the
/// host, only the inputs. The stand-in tools and the tool under test are dynamically
/// linked against this host's glibc, so the sandbox gets /usr/lib and /usr/lib64 (at
/// /lib and /lib64 too); nixpkgs' tools would need nothing.
fn check_builds_in_the_sandbox(env: &Env) -> TestResult {
    let paths = "/usr/lib /usr/lib64 /lib=/usr/lib /lib64=/usr/lib64";
    let out = match build_with(
        env,
        "checkSandboxed",
        &[
            "--option",
            "sandbox",
            "true",
            "--option",
            "extra-sandbox-paths",
            paths,
        ],
    ) {
        Ok(out) => out,
        // A kernel or Nix that cannot sandbox here says so; anything else fails.
        Err(e) if e.stderr.contains("sandbox") && e.stderr.contains("not supported") => {
            return Err(format!("this Nix cannot sandbox builds here:\n{e}").into());
        }
        Err(e) => return Err(e.to_string().into()),
    };
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).map_err(|e| e.to_string())?)
            .map_err(|e| format!("report.json: {e}"))?;
    ensure(report["verdict"] == "pass", || format!("verdict: {report}"))
}

/// Without `chrootEnv`, the check uses the example project's five /etc entries: the
/// verdict does not borrow this machine's /lib or /usr.
fn check_default_chroot_env(env: &Env) -> TestResult {
    let out = built(env, "checkDefaultChrootEnv")?;
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).map_err(|e| e.to_string())?)
            .map_err(|e| format!("report.json: {e}"))?;
    let chroot = report["task"]["chroot_env"]
        .as_object()
        .ok_or("no task.chroot_env")?;
    let sources: Vec<&String> = chroot.keys().collect();
    ensure(
        sources.len() == 5 && sources.iter().all(|s| s.starts_with("/etc/")),
        || format!("chroot_env: {chroot:?}"),
    )?;
    ensure(report["host_dependencies"] == serde_json::json!([]), || {
        format!("host dependencies: {}", report["host_dependencies"])
    })
}
