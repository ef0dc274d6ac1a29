//! `alloc --alloc-dir DIR` on the client node: the task dir Nomad really built
//! (`<data_dir>/alloc/<id>/<task>`, laid out by `hashicorp/nomad:client/allocdir`), its
//! chroot_env copies and unpacked artifacts as they are, checked by the same analysis
//! as a bundle, with nothing extracted and nothing written there. A run (`--run`) sees
//! the directory through a writable overlay mounted in the task's own mount namespace
//! (see `sandbox::plan::MountOp::WritableOverlay`): every write lands in our work dir.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::archive::ExtractSummary;
use crate::check::{self, Prepared};
use crate::config::CheckOptions;
use crate::error::Error;
use crate::finding::{BundleInfo, Report};
use crate::taskdir::TaskDir;

/// The task dirs of an alloc dir: every directory but the shared `alloc/` and the
/// artifact inspection's temporary `artifact-*` (Nomad ≥ 1.11, `getter/util.go`).
pub fn task_dirs(dir: &Path) -> Result<Vec<String>, Error> {
    let meta =
        fs::metadata(dir).map_err(|e| Error::io(format!("cannot read `{}`", dir.display()), e))?;
    if !meta.is_dir() || !dir.join("alloc").is_dir() {
        return Err(Error::Usage(format!(
            "`{}` is not an allocation directory: it needs the shared `alloc/` Nomad makes (pass `<data_dir>/alloc/<alloc id>`)",
            dir.display()
        )));
    }
    let mut out: Vec<String> = fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list `{}`", dir.display()), e))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n != "alloc" && !n.starts_with("artifact-"))
        .collect();
    out.sort();
    Ok(out)
}

/// Analyse (and with `opts.run`, run) the task in the alloc dir as it is. `opts` says
/// who the task is; its artifacts and chroot_env are ignored: both are already inside.
pub fn check(dir: &Path, task: &str, opts: &CheckOptions) -> Result<Report, Error> {
    if opts.run.is_some() && !nix::unistd::geteuid().is_root() {
        // Tried: the overlay mounts (userxattr), but the first copy-up of a directory
        // owned by root fails with EOVERFLOW, and Nomad's dirs are all root's or nobody's.
        return Err(Error::Unsupported(
            "--run over an alloc dir needs root: in a user namespace overlayfs cannot copy up files owned by users outside it (an alloc dir's are root's and nobody's), so the task could not write to its task dir; run as root, or leave out --run for the static check".into(),
        ));
    }
    let taskdir = TaskDir::existing(dir, task, opts.nomad_version)?;
    if !taskdir.root.is_dir() {
        return Err(Error::Usage(format!(
            "`{}` has no task dir `{task}`",
            dir.display()
        )));
    }
    let mut opts = opts.clone();
    opts.artifacts.clear();
    opts.chroot_env = taskdir.chroot_env.clone();
    let mut report = Report::new(opts.nomad_version);
    report.bundle = BundleInfo {
        path: taskdir.root.display().to_string(),
        format: "alloc dir".into(),
        detected_format: None,
        entries: 0,
        unpacked_bytes: 0,
        extract: "as the client left it".into(),
    };
    let prepared = Prepared {
        taskdir,
        // Nothing was unpacked here: links are already empty files, and the store
        // references an unpacking records are not known.
        extract: ExtractSummary::default(),
        report,
    };
    let mut r = check::finish(&prepared, &opts)?;
    r.task.destination = String::new();
    Ok(r)
}

/// The last `max` bytes of the task's newest log file of `stream` in the alloc dir
/// (`alloc/logs/<task>.<stream>.<N>`, logmon's rotation), if any.
pub fn log_tail(dir: &Path, task: &str, stream: &str, max: u64) -> Option<String> {
    let logs = dir.join("alloc/logs");
    let prefix = format!("{task}.{stream}.");
    let newest: PathBuf = fs::read_dir(&logs)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let n: u64 = name.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n)?
        .1;
    let mut f = fs::File::open(newest).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_task_dirs_and_the_newest_log() {
        let d = tempfile::tempdir().unwrap();
        for p in ["alloc/logs", "web/local", "artifact-123", "sidecar/local"] {
            fs::create_dir_all(d.path().join(p)).unwrap();
        }
        assert_eq!(task_dirs(d.path()).unwrap(), ["sidecar", "web"]);
        fs::write(d.path().join("alloc/logs/web.stderr.0"), "old\n").unwrap();
        fs::write(
            d.path().join("alloc/logs/web.stderr.10"),
            "exec /local/app: exec format error\n",
        )
        .unwrap();
        fs::write(d.path().join("alloc/logs/web.stderr.9"), "nine\n").unwrap();
        assert_eq!(
            log_tail(d.path(), "web", "stderr", 4096).unwrap(),
            "exec /local/app: exec format error\n"
        );
        assert!(log_tail(d.path(), "web", "stdout", 4096).is_none());
        let not = tempfile::tempdir().unwrap();
        assert!(
            task_dirs(not.path())
                .unwrap_err()
                .to_string()
                .contains("not an allocation directory")
        );
    }
}
