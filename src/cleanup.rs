//! Remove what we created when the process is interrupted (Ctrl-C, SIGTERM, SIGHUP).
//!
//! Normal exits clean up through `Drop`. Signals would skip destructors, so a thread
//! waits for them, removes the registered work dirs, kills registered child process
//! groups and exits with 128 + signal. SIGKILL cannot be caught: the sandbox is built so
//! that its processes and mounts die with it (see `sandbox`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static CHILDREN: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
static CGROUPS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
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

/// A task's cgroup directory, removed on interruption until the sandbox child has the
/// plan naming it (then the child removes it if we die): the prelaunch makes it while
/// the bundle is unpacked.
pub fn register_cgroup(dir: &Path, on: bool) {
    let mut set = CGROUPS.lock().unwrap_or_else(|e| e.into_inner());
    if on {
        set.insert(dir.to_owned());
    } else {
        set.remove(dir);
    }
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
        loop {
            crate::taskdir::make_writable(&d);
            match std::fs::remove_dir_all(&d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound && Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break,
            }
        }
    }
    let cgroups: Vec<PathBuf> = CGROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    for d in cgroups {
        crate::sandbox::cgroup::remove_dir(&d);
    }
}
