//! Where a run's task dir goes (`--workdir auto|tmpfs|disk`, `--tmpfs-budget`), for
//! real: the tool's binary runs a real bundle's command, and the report and the task's
//! own `/proc/mounts` say where it was unpacked.
//!
//! - as root, a bundle that fits the budget runs from a tmpfs of the checker's own,
//!   mounted in its own mount namespace: the host never sees the mount, and nothing is
//!   left after the check;
//! - a bundle larger than the budget runs from disk, whether its archive declares the
//!   size (the gzip trailer) or only its streamed tar headers outgrow the tmpfs (then
//!   the check starts again on disk);
//! - rootless, the work dir goes under `/dev/shm` (as the unprivileged `ncc-test` user
//!   ci/test creates), and a small budget sends it to disk there too.
//!
//! libtest-mimic, so a trial that cannot run here is reported ignored with its reason.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nomad-chroot-check");
const MIB: usize = 1 << 20;
/// What the task prints: the mount under its `/`.
const SHOW_ROOT: &str = "grep ' / ' /proc/mounts";

fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(msg().into()) }
}

fn busybox_bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/build/static-busybox/bundle.tar.gz")
}

fn rootless_user() -> String {
    std::env::var("NCC_ROOTLESS_USER").unwrap_or_else(|_| "ncc-test".into())
}

/// One check of `bundle` running [`SHOW_ROOT`], as `user` (root when `None`), with
/// `TMPDIR=tmp`: its exit code, JSON report and stderr.
fn check(
    exe: &Path,
    bundle: &Path,
    tmp: &Path,
    user: Option<&str>,
    extra: &[&str],
) -> (i32, Value, String) {
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={u}"))
                .arg(format!("--regid={u}"))
                .arg("--clear-groups")
                .arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let out = cmd
        .env("TMPDIR", tmp)
        .arg(bundle)
        .args([
            "--destination",
            "/",
            "--chroot-env=none",
            "--format",
            "json",
        ])
        .args(extra)
        .args(["--", "/bin/busybox", "sh", "-c", SHOW_ROOT])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// After checking the run went well and left nothing: that it ran on `want`
/// (`tmpfs` or `disk`) for a reason with each of `words`. Returns the report's
/// `work_dir.path` and the filesystem type of the task's `/`.
fn placed(
    r: &(i32, Value, String),
    tmp: &Path,
    want: &str,
    words: &[&str],
) -> Result<(String, String), Failed> {
    let (code, report, err) = r;
    ensure(*code == 0, || format!("exit {code}: {err}\n{report}"))?;
    let w = &report["work_dir"];
    let run = &report["run"];
    ensure(run["exit_code"] == 0, || format!("the task failed: {run}"))?;
    let left: Vec<_> = fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    ensure(left.is_empty(), || format!("left in TMPDIR: {left:?}"))?;
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    ensure(!mounts.contains(&*tmp.to_string_lossy()), || {
        format!(
            "a mount under {} shows on the host:\n{mounts}",
            tmp.display()
        )
    })?;
    let why = w["why"].as_str().unwrap_or("");
    ensure(w["placement"] == want, || {
        format!("placed on {w}, want {want}")
    })?;
    for word in words {
        ensure(why.contains(word), || format!("`{word}` not in: {why}"))?;
    }
    let path = w["path"].as_str().unwrap_or("").to_owned();
    ensure(!path.is_empty(), || format!("no work_dir.path: {w}"))?;
    let stdout = run["stdout_tail"].as_str().unwrap_or("");
    let root_fs = stdout.split_whitespace().nth(2).unwrap_or("").to_owned();
    Ok((path, root_fs))
}

/// The filesystem type under `dir`, as `/proc/mounts` names it.
fn fs_type(dir: &Path) -> String {
    let mounts = fs::read_to_string("/proc/mounts").unwrap();
    let mut best = ("", "");
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 2 && dir.starts_with(f[1]) && f[1].len() >= best.0.len() {
            best = (f[1], f[2]);
        }
    }
    best.1.to_owned()
}

/// The task's `/` was on `tmp`'s filesystem (the disk's, not our tmpfs).
fn same_fs_as(root_fs: &str, tmp: &Path) -> Result<(), Failed> {
    let host = fs_type(tmp);
    ensure(root_fs == host, || {
        format!("the task's / is on {root_fs}, TMPDIR on {host}")
    })
}

fn tmp() -> tempfile::TempDir {
    let t = tempfile::Builder::new()
        .prefix("ncc-workdir.")
        .tempdir()
        .unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
    t
}

fn fits_on_own_tmpfs() -> Result<(), Failed> {
    let t = tmp();
    let r = check(Path::new(BIN), &busybox_bundle(), t.path(), None, &[]);
    let words = ["within the budget", "a tmpfs of its own"];
    let (path, root_fs) = placed(&r, t.path(), "tmpfs", &words)?;
    ensure(root_fs == "tmpfs", || {
        format!("the task's / is on {root_fs}")
    })?;
    ensure(path.starts_with(&*t.path().to_string_lossy()), || {
        path.clone()
    })
}

fn over_budget_runs_from_disk() -> Result<(), Failed> {
    let t = tmp();
    let small = ["--tmpfs-budget", "64K"];
    let r = check(Path::new(BIN), &busybox_bundle(), t.path(), None, &small);
    let words = ["over the tmpfs budget of 64.0 KiB"];
    let (_, root_fs) = placed(&r, t.path(), "disk", &words)?;
    same_fs_as(&root_fs, t.path())?;
    // `disk` says so whatever the size.
    let r = check(
        Path::new(BIN),
        &busybox_bundle(),
        t.path(),
        None,
        &["--workdir", "disk"],
    );
    placed(&r, t.path(), "disk", &["--workdir disk"]).map(drop)
}

/// The busybox bundle with a 10 MiB file beside it, in two gzip members: the trailer
/// (the last member's) declares 2 MiB, so only the tar headers, as they stream, show it
/// outgrows a 4 MiB tmpfs.
fn understated_bundle(dir: &Path) -> PathBuf {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(busybox_bundle()).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    // Drop the end-of-archive blocks, add the file, end again.
    let end = raw.len()
        - raw
            .rchunks(512)
            .take_while(|b| b.iter().all(|&x| x == 0))
            .count()
            * 512;
    raw.truncate(end);
    let mut b = tar::Builder::new(&mut raw);
    let body: Vec<u8> = (0..10 * MIB).map(|i| (i % 251) as u8).collect();
    let mut h = tar::Header::new_ustar();
    h.set_path("pad").unwrap();
    h.set_mode(0o644);
    h.set_size(body.len() as u64);
    h.set_cksum();
    b.append(&h, &body[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let split = raw.len() - 2 * MIB;
    let path = dir.join("understated.tar.gz");
    let mut f = fs::File::create(&path).unwrap();
    for part in [&raw[..split], &raw[split..]] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        f.write_all(&e.finish().unwrap()).unwrap();
    }
    path
}

fn headers_outgrow_the_tmpfs() -> Result<(), Failed> {
    let t = tmp();
    let src = tempfile::tempdir().unwrap();
    let bundle = understated_bundle(src.path());
    let r = check(
        Path::new(BIN),
        &bundle,
        t.path(),
        None,
        &["--tmpfs-budget", "4M"],
    );
    let words = ["within the budget of 4.0 MiB", "the tar headers outgrew it"];
    let (_, root_fs) = placed(&r, t.path(), "disk", &words)?;
    same_fs_as(&root_fs, t.path())?;
    // The same bundle, room enough: on the tmpfs, unpacked once.
    let r = check(
        Path::new(BIN),
        &bundle,
        t.path(),
        None,
        &["--tmpfs-budget", "64M"],
    );
    let why = r.1["work_dir"]["why"].as_str().unwrap_or("").to_owned();
    placed(&r, t.path(), "tmpfs", &["within the budget of 64.0 MiB"])?;
    ensure(!why.contains("outgrew"), || why.clone())
}

/// A copy of the binary the unprivileged user can run (the build tree may be under a
/// directory only root enters), in a 0755 dir.
fn rootless_exe() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("ncc-workdir-bin.")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("nomad-chroot-check");
    fs::copy(BIN, &exe).unwrap();
    let bundle = dir.path().join("bundle.tar.gz");
    fs::copy(busybox_bundle(), &bundle).unwrap();
    fs::set_permissions(&bundle, fs::Permissions::from_mode(0o644)).unwrap();
    (dir, exe)
}

fn ours_in_dev_shm() -> Vec<String> {
    fs::read_dir("/dev/shm")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("nomad-chroot-check"))
                .collect()
        })
        .unwrap_or_default()
}

fn rootless_uses_dev_shm() -> Result<(), Failed> {
    let user = rootless_user();
    let (dir, exe) = rootless_exe();
    let bundle = dir.path().join("bundle.tar.gz");
    let t = tmp();
    let before = ours_in_dev_shm();
    let r = check(&exe, &bundle, t.path(), Some(&user), &[]);
    let (path, root_fs) = placed(&r, t.path(), "tmpfs", &["/dev/shm"])?;
    ensure(path.starts_with("/dev/shm/nomad-chroot-check."), || {
        path.clone()
    })?;
    ensure(root_fs == "tmpfs", || {
        format!("the task's / is on {root_fs}")
    })?;
    let after = ours_in_dev_shm();
    ensure(after == before, || {
        format!("left in /dev/shm: {after:?} (before: {before:?})")
    })?;
    let r = check(
        &exe,
        &bundle,
        t.path(),
        Some(&user),
        &["--tmpfs-budget", "64K"],
    );
    placed(&r, t.path(), "disk", &["over the tmpfs budget"]).map(drop)
}

fn keep_is_on_disk() -> Result<(), Failed> {
    let t = tmp();
    let (code, report, err) = check(
        Path::new(BIN),
        &busybox_bundle(),
        t.path(),
        None,
        &["--keep", "--workdir", "tmpfs"],
    );
    ensure(
        code == 2 && err.contains("--keep keeps the task dir on disk"),
        || format!("exit {code}: {err}"),
    )?;
    ensure(report.is_null() || report["work_dir"].is_null(), || {
        format!("{report}")
    })?;
    let (code, report, err) = check(
        Path::new(BIN),
        &busybox_bundle(),
        t.path(),
        None,
        &["--keep"],
    );
    ensure(code == 0, || format!("exit {code}: {err}"))?;
    ensure(report["work_dir"]["placement"] == "disk", || {
        format!("{}", report["work_dir"])
    })?;
    let kept = report["kept_work_dir"].as_str().unwrap_or("");
    ensure(Path::new(kept).join("task/bin/busybox").is_file(), || {
        kept.to_owned()
    })?;
    nomad_chroot_check::taskdir::make_writable(t.path());
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let root = nix::unistd::geteuid().is_root();
    let built = busybox_bundle().exists();
    let why_not = |rootless: bool| -> Option<String> {
        if !built {
            return Some(format!(
                "{} is not built: run `bash fixtures/build.sh`",
                busybox_bundle().display()
            ));
        }
        if !root {
            return Some(if rootless {
                "needs root to switch to the unprivileged user".into()
            } else {
                "needs root (a tmpfs of the checker's own)".into()
            });
        }
        if rootless
            && nix::unistd::User::from_name(&rootless_user())
                .ok()
                .flatten()
                .is_none()
        {
            return Some(format!(
                "no unprivileged user `{}` (ci/test creates it; or set NCC_ROOTLESS_USER)",
                rootless_user()
            ));
        }
        None
    };
    type Body = fn() -> Result<(), Failed>;
    let cases: [(&str, Body, bool); 5] = [
        ("fits_on_own_tmpfs", fits_on_own_tmpfs, false),
        (
            "over_budget_runs_from_disk",
            over_budget_runs_from_disk,
            false,
        ),
        (
            "headers_outgrow_the_tmpfs",
            headers_outgrow_the_tmpfs,
            false,
        ),
        ("rootless_uses_dev_shm", rootless_uses_dev_shm, true),
        ("keep_is_on_disk", keep_is_on_disk, false),
    ];
    let trials = cases
        .into_iter()
        .map(|(name, body, rootless)| match why_not(rootless) {
            Some(why) => Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))),
            None => Trial::ignorable_test(name, move || body().map(|()| Completion::Completed)),
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
