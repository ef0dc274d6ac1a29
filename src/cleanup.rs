//! Remove what we created when the process is interrupted (Ctrl-C, SIGTERM, SIGHUP), and
//! what checkers killed outright left behind.
//!
//! Normal exits clean up through `Drop`. Signals would skip destructors, so a thread
//! waits for them, removes the registered work dirs, kills registered child process
//! groups, runs the undo actions higher modules registered (the sandbox's cgroups) and
//! exits with 128 + signal. SIGKILL cannot be caught: the sandbox is built so that its
//! processes and mounts die with it (see `sandbox`), and work dirs are swept by the
//! next check ([`sweep_work_dirs`]).
//!
//! Work dirs are named `<prefix><pid>.<random>` and each is claimed (`flock`) by the
//! check using it for as long as it runs: a sweep removes only dirs whose checker is
//! dead by its pid *and* whose claim it can take, so a live check in another pid
//! namespace sharing the same `/tmp` is safe too. A kept dir (`--keep`) is renamed out
//! of the pattern and is never swept: it is the user's.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

static DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static CHILDREN: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
/// How to undo something a higher module made at a path.
type Undo = fn(&Path);

/// Paths and how to remove them, registered by higher modules (a lower module never
/// calls up: the caller passes the action).
static UNDO: Mutex<BTreeMap<PathBuf, Undo>> = Mutex::new(BTreeMap::new());
static PENDING: Mutex<Vec<std::thread::JoinHandle<()>>> = Mutex::new(Vec::new());
static STOPPING: AtomicBool = AtomicBool::new(false);
type Hook = Box<dyn Fn(i32) + Send>;
static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

/// While set, the first interruption calls `hook` (with the signal) instead of
/// removing everything and exiting: `job --run-job` then stops its tasks as Nomad
/// would and reports. A second interruption does the usual.
pub fn set_interrupt_hook(hook: Option<Hook>) {
    *HOOK.lock().unwrap_or_else(|e| e.into_inner()) = hook;
}

/// Call before creating anything in a work dir (each unpacked entry): once an
/// interruption is being handled, wait here for the process to exit, rather than go
/// on creating files while the handler removes the dir.
pub fn checkpoint() {
    while STOPPING.load(Ordering::Acquire) {
        std::thread::park();
    }
}

pub fn register(dir: &Path) {
    DIRS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.to_owned());
}

pub fn unregister(dir: &Path) {
    DIRS.lock().unwrap_or_else(|e| e.into_inner()).remove(dir);
}

/// Undo `path` with `undo` on interruption (e.g. the sandbox's cgroup directories,
/// until its child has the plan naming them and removes them itself if we die).
pub fn register_undo(path: &Path, undo: Undo) {
    UNDO.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_owned(), undo);
}

pub fn unregister_undo(path: &Path) {
    UNDO.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
}

/// A child whose whole process group is killed on interruption.
pub fn register_child(pid: i32) {
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pid);
}

pub fn unregister_child(pid: i32) {
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pid);
}

/// Run `work` (removing something we made) on a thread of its own, beside the rest of
/// the check; [`finish`] waits for it. What it removes must stay registered above
/// until it is gone, for an interruption to remove it instead.
pub fn in_background(work: impl FnOnce() + Send + 'static) {
    let handle = std::thread::spawn(work);
    PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(handle);
}

/// Wait for the work started with [`in_background`]. Call before the process exits.
///
/// Once an interruption is being handled, this waits for the handler to exit the
/// process with 128 + the signal: the handler's kills may end the run early, and the
/// main thread must not then report success with exit 0 first.
pub fn finish() {
    let pending = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    for h in pending {
        let _ = h.join();
    }
    checkpoint();
}

/// Start the signal thread. Call once, early in `main`.
pub fn install() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if let Some(hook) = HOOK.lock().unwrap_or_else(|e| e.into_inner()).take() {
                hook(sig);
                continue;
            }
            run_now();
            std::process::exit(128 + sig);
        }
    });
}

/// Kill registered children and remove registered dirs.
pub fn run_now() {
    STOPPING.store(true, Ordering::Release);
    let children: Vec<i32> = CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .collect();
    for pid in children {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    }
    let dirs: Vec<PathBuf> = DIRS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    // The unpacking thread may be creating one last entry (it stops at the next
    // checkpoint): go again until the dir is gone, for a moment.
    let until = Instant::now() + Duration::from_secs(2);
    for d in dirs {
        // A work dir may be a tmpfs of ours, mounted on it in our own mount namespace
        // (`crate::workdir`): detached first, or the dir is busy (EINVAL for any other).
        let _ = nix::mount::umount2(&d, nix::mount::MntFlags::MNT_DETACH);
        loop {
            make_writable(&d);
            match std::fs::remove_dir_all(&d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound && Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break,
            }
        }
    }
    let undo: Vec<(PathBuf, Undo)> = UNDO
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(p, f)| (p.clone(), *f))
        .collect();
    for (p, f) in undo {
        f(&p);
    }
}

/// Give the owner write permission on every directory below `path` (for removal).
pub fn make_writable(path: &Path) {
    fn walk(p: &Path) {
        let Ok(meta) = fs::symlink_metadata(p) else {
            return;
        };
        if !meta.is_dir() {
            return;
        }
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(mode | 0o700));
        }
        if let Ok(rd) = fs::read_dir(p) {
            for e in rd.flatten() {
                walk(&e.path());
            }
        }
    }
    walk(path);
}

/// Remove a tree we made, read-only directories (Nix store trees) included: one pass,
/// usually; if that is refused (not root), make them writable and go again (walking
/// the tree first every time would double the cost of removing it).
pub fn remove_tree(path: &Path) {
    if fs::remove_dir_all(path).is_err() {
        make_writable(path);
        let _ = fs::remove_dir_all(path);
    }
}

/// A work dir's claim: locked for as long as it is held (and while any process it was
/// handed to lives), released by the kernel however the holder dies.
#[derive(Debug)]
pub struct Claim(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

/// Claim `dir`; `None` when someone else holds it.
pub fn claim(dir: &Path) -> Option<Claim> {
    let f = fs::File::open(dir).ok()?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .ok()
        .map(Claim)
}

/// A work dir's name: `<prefix><pid>.<random>`, kept ones `<prefix minus its
/// dot>-kept.<pid>.<random>`.
pub fn kept_name(prefix: &str, name: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    Some(format!("{}-kept.{rest}", prefix.trim_end_matches('.')))
}

/// Remove work dirs under `parent` named `<prefix><pid>.<random>` that a dead checker
/// left: ours (same owner), their pid gone, their claim free, made over a minute ago
/// (a checker claims its dir right after making it). Kept dirs do not match.
pub fn sweep_work_dirs(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    let old = SystemTime::now() - Duration::from_secs(60);
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(meta) = e.metadata() else { continue };
        let ours = meta.is_dir() && meta.uid() == me;
        let settled = meta.modified().is_ok_and(|t| t < old);
        let dead = pid > 0
            && matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
        if !(ours && settled && dead) {
            continue;
        }
        let path = e.path();
        // Held while removing: a live checker elsewhere keeps its claim, and we skip.
        if let Some(_held) = claim(&path) {
            remove_tree(&path);
        }
    }
}
