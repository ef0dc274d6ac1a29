//! `__sandbox-child`: the freshly exec'd, single-threaded process that builds the
//! sandbox. It has two parts:
//!
//! - the **monitor** (this process): enters the user/PID/IPC/network namespaces, forks
//!   the task's init, traces it, enforces the lifecycle (timeout, service health,
//!   kill_signal then SIGKILL) and reports a [`ChildReport`] on the result pipe;
//! - the **init** (its child, PID 1 of the new PID namespace, born in a mount namespace
//!   of its own): enters the task's cgroup, waits for its part of the plan, builds the
//!   root, pivots into it, becomes the task user and execs the task, as runc's init
//!   does.
//!
//! Keeping the monitor out of the task's mount namespace lets it see the host (to read
//! `/proc`, remove the work dir and cgroups) while nothing the init mounts is visible
//! to anyone else.

use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, getppid};
use serde::{Deserialize, Serialize};

use super::caps;
use super::mount;
use super::plan::{Identity, InitPlan, Lifecycle, NetMode, Setup};
use super::trace::{self, Miss, Orphan, Step, Tracer};
use crate::sys;

/// What the child tells the parent, once, at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChildReport {
    /// The machine cannot build the sandbox; the text names the cause and the fix.
    Unavailable(String),
    /// Our own setup failed (not something Nomad would do).
    SetupFailed(String),
    /// What runc reports as `error during container init: …` before the task starts.
    StartFailed(String),
    Ran(Ran),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ran {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub still_running: bool,
    pub duration_ms: u64,
    pub misses: Vec<Miss>,
    pub trace_truncated: bool,
    /// The task's processes still running when its main process exited on its own
    /// (traced runs only): Nomad kills them with the task.
    #[serde(default)]
    pub orphans: Vec<Orphan>,
    /// Optional steps that were skipped, e.g. `/dev/mqueue: skipped: …`.
    pub notes: Vec<String>,
    /// Why the task is not in its cgroup, if it is not.
    pub cgroup_failed: Option<String>,
    /// The init's pid as the checker sees it.
    pub init_pid: i32,
}

/// What a [`Lifecycle::Supervised`] child tells the parent while the task runs, one
/// JSON line each on the result pipe, before the [`ChildReport`] (which ends without a
/// newline).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Progress {
    /// The task exec'd (Nomad's `Started` event); the init's pid as the checker sees it.
    Started { init_pid: i32 },
}

/// From the init to the monitor, one JSON line each, on the sync pipe.
#[derive(Debug, Serialize, Deserialize)]
enum InitMsg {
    Note(String),
    /// The init could not enter the task's cgroup: it runs without the limits.
    CgroupFailed(String),
    Start(String),
    Setup(String),
}

/// Entry point of the hidden `__sandbox-child` subcommand.
///
/// The plan fd carries two frames, each a little-endian u64 length and that many bytes
/// of JSON: the [`Setup`], which this process reads, then the [`InitPlan`], which the
/// init reads. The result fd gets the [`ChildReport`] as JSON, then end of file.
pub fn child_main(plan_fd: i32, result_fd: i32) -> i32 {
    let (plan_file, result) = match (sys::adopt_fd(plan_fd), sys::adopt_fd(result_fd)) {
        (Ok(p), Ok(r)) => (p, r),
        _ => return 3,
    };
    let _ = fcntl(&result, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    let _ = fcntl(&plan_file, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    let mut plan_file = fs::File::from(plan_file);
    let mut mnt_ns = None;
    let mut out = fs::File::from(result);
    let report = match read_frame::<Setup>(&mut plan_file) {
        // End of file first: the checker dropped us unused, or died.
        Err(None) => return 0,
        Err(Some(e)) => ChildReport::SetupFailed(format!("cannot read the sandbox setup: {e}")),
        Ok(setup) => monitor(&setup, plan_file, &mut mnt_ns, &out),
    };
    // One write: the checker wakes up once, with the whole report.
    if let Ok(text) = serde_json::to_vec(&report) {
        let _ = out.write_all(&text);
    }
    // The report is complete at end of file: close the pipe first, then let go of the
    // task's mount namespace, whose teardown (an expedited RCU grace period, up to
    // 20 ms here) then runs while the checker goes on, as bwrap's init tears down after bwrap
    // has returned. Nothing can observe it: the namespace has no process left.
    drop(out);
    drop(mnt_ns);
    0
}

/// One frame of the plan pipe: a little-endian u64 length and that much JSON.
/// `Err(None)` is end of file before the frame began.
fn read_frame<T: serde::de::DeserializeOwned>(from: &mut fs::File) -> Result<T, Option<String>> {
    let mut len = [0u8; 8];
    loop {
        match from.read(&mut len[..1]) {
            Ok(0) => return Err(None),
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(e.to_string())),
        }
    }
    from.read_exact(&mut len[1..])
        .map_err(|e| Some(e.to_string()))?;
    let len = u64::from_le_bytes(len);
    if len > 64 << 20 {
        return Err(Some(format!("a frame of {len} bytes")));
    }
    let mut text = vec![0u8; len as usize];
    from.read_exact(&mut text)
        .map_err(|e| Some(e.to_string()))?;
    serde_json::from_slice(&text).map_err(|e| Some(e.to_string()))
}

/// The monitor's steps, in order. `mnt_ns` receives the task's mount namespace, which
/// the caller releases after reporting.
fn monitor(
    setup: &Setup,
    plan_file: fs::File,
    mnt_ns: &mut Option<OwnedFd>,
    progress: &fs::File,
) -> ChildReport {
    // 1. Watch the checker before anything else: if it dies (SIGKILL, Ctrl-C) from
    //    here on, we kill the task and remove what it left, since it no longer can.
    let parent = match sys::pidfd_open(Pid::from_raw(setup.parent_pid)) {
        Ok(fd) if getppid().as_raw() == setup.parent_pid => fd,
        _ => {
            orphan_cleanup(setup, None);
            return ChildReport::SetupFailed("the checker exited during setup".into());
        }
    };

    // 2. A session of our own: the terminal's Ctrl-C goes to the checker, which stops
    //    the task as Nomad would, instead of reaching the task directly.
    if setup.new_session {
        let _ = nix::unistd::setsid();
    }

    // 3. Rootless: a user namespace first, because it is what grants the capabilities
    //    every later step needs. The map is a single id, so we may write it ourselves;
    //    setgroups must be denied before an unprivileged gid_map write.
    if let Some(map) = setup.userns {
        if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER) {
            return ChildReport::Unavailable(userns_unavailable(e));
        }
        let writes = [
            ("/proc/self/setgroups", "deny".to_owned()),
            (
                "/proc/self/uid_map",
                format!("{} {} 1", map.inside_uid, map.outside_uid),
            ),
            (
                "/proc/self/gid_map",
                format!("{} {} 1", map.inside_gid, map.outside_gid),
            ),
        ];
        for (path, text) in writes {
            if let Err(e) = fs::write(path, &text) {
                return ChildReport::SetupFailed(format!("cannot write {text:?} to `{path}`: {e}"));
            }
        }
    }

    // 4. PID, IPC and network namespaces (hashicorp/nomad executor_linux.go
    //    configureNamespaces). The mount namespace is the init's own (step 9), so
    //    that this monitor keeps the host's view. A task of a bridge-mode allocation
    //    joins the allocation's namespace, as the executor joins the one Nomad's
    //    network hook made (`NetworkIsolation.Path`).
    if let NetMode::Join(path) = &setup.net {
        let joined = fs::File::open(path)
            .map_err(|e| e.to_string())
            .and_then(|ns| {
                nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())
            });
        if let Err(e) = joined {
            return ChildReport::SetupFailed(format!(
                "cannot join the allocation's network namespace `{}`: {e}",
                path.display()
            ));
        }
    }
    let mut flags = CloneFlags::empty();
    if setup.pid_ns {
        flags |= CloneFlags::CLONE_NEWPID;
    }
    if setup.ipc_ns {
        flags |= CloneFlags::CLONE_NEWIPC;
    }
    if matches!(setup.net, NetMode::None | NetMode::Bridge) {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if let Err(e) = unshare(flags) {
        return ChildReport::SetupFailed(format!("unshare({flags:?}): {e}"));
    }

    // 5. Bridge mode: the group's network namespace has loopback up.
    if setup.net == NetMode::Bridge {
        if let Err(e) = sys::loopback_up() {
            return ChildReport::SetupFailed(e.to_string());
        }
    }

    // 6. SIGCHLD through a descriptor, so one poll waits for the task, the checker's
    //    death, the init's messages and the deadlines; SIGTERM too when supervised:
    //    it is the checker's request to stop the task.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    if setup.lifecycle == Lifecycle::Supervised {
        mask.add(Signal::SIGTERM);
    }
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None) {
        return ChildReport::SetupFailed(format!("sigprocmask(SIG_BLOCK, SIGCHLD): {e}"));
    }
    let sigfd = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
        Ok(fd) => fd,
        Err(e) => return ChildReport::SetupFailed(format!("signalfd(SIGCHLD): {e}")),
    };

    // 7. The sync pipe: the init reports start failures on it; it closes on execve.
    let (sync_r, sync_w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return ChildReport::SetupFailed(format!("pipe2(O_CLOEXEC): {e}")),
    };

    // 8. The trace's gate: the init installs the seccomp filter that stops it for the
    //    tracer only once it is traced (step I8), else its filtered calls would fail.
    let gate = match setup.trace {
        false => None,
        true => match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
            Ok(p) => Some(p),
            Err(e) => return ChildReport::SetupFailed(format!("pipe2(O_CLOEXEC): {e}")),
        },
    };

    // 9. Fork the init, the first child in the new PID namespace and so its PID 1, in
    //    a mount namespace of its own from birth: this monitor keeps the host's view.
    //    On cgroup v2 it is born in the task's cgroup (CLONE_INTO_CGROUP), which costs
    //    nothing; elsewhere it moves itself in (step I2).
    let monitor = nix::unistd::getpid();
    let v2_group = match setup.cgroups.as_slice() {
        [dir] if sys::is_cgroup2(dir) => fs::File::open(dir).map(OwnedFd::from).ok(),
        _ => None,
    };
    let init = match sys::fork_with(
        CloneFlags::CLONE_NEWNS,
        v2_group.as_ref().map(|fd| fd.as_fd()),
    ) {
        Ok((ForkResult::Child, placed)) => {
            drop(sync_r);
            init_main(
                setup,
                plan_file,
                sync_w,
                gate.map(|(r, _)| r),
                monitor,
                placed,
            )
        }
        Ok((ForkResult::Parent { child }, _)) => child,
        Err(e) => return ChildReport::SetupFailed(e.to_string()),
    };
    // The rest of the plan is the init's to read.
    drop(plan_file);
    drop(sync_w);

    // 10. Hold the task's mount namespace, so that it outlives the task: when the last
    //     process of a mount namespace exits, its exit waits for the namespace's
    //     teardown (an RCU grace period, up to 20 ms), and so would we. Held here, the
    //     teardown comes after the report (see child_main).
    *mnt_ns = fs::File::open(format!("/proc/{init}/ns/mnt"))
        .ok()
        .map(OwnedFd::from);

    // 11. Trace the init: seized now, with its options, so that no stop and no round
    //     trip is needed (each costs a context switch both ways), then let it go on.
    if let Some((gate_r, gate_w)) = gate {
        drop(gate_r);
        if let Err(e) = sys::ptrace_int(libc::PTRACE_SEIZE, init, trace::PTRACE_OPTIONS as usize) {
            let _ = kill(init, Signal::SIGKILL);
            let _ = waitpid(init, None);
            return ChildReport::SetupFailed(format!("ptrace(PTRACE_SEIZE, {init}): {e}"));
        }
        let _ = nix::unistd::write(&gate_w, b"1");
    }
    supervise(setup, init, parent, sigfd, sync_r, progress)
}

/// The monitor's loop: wait for the task, trace it, stop it when the lifecycle says so.
fn supervise(
    setup: &Setup,
    init: Pid,
    parent: OwnedFd,
    sigfd: SignalFd,
    sync_r: OwnedFd,
    progress: &fs::File,
) -> ChildReport {
    // The task starts when the sync pipe closes (on execve, or the init's death): the
    // deadlines count from then, not from a start-up ahead of the plan.
    let mut start: Option<Instant> = None;
    let mut tracer = setup.trace.then(|| Tracer::new(init));
    let mut ran = Ran {
        init_pid: init.as_raw(),
        ..Ran::default()
    };
    let mut start_failure: Option<String> = None;
    let mut setup_failure: Option<String> = None;
    let mut sync = Some(fs::File::from(sync_r));
    let mut buf = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut kill_at: Option<Instant> = None;
    let kill_signal = Signal::try_from(setup.kill_signal).unwrap_or(Signal::SIGINT);
    let status = 'outer: loop {
        let now = Instant::now();
        let next = [deadline, kill_at].into_iter().flatten().min();
        let timeout = match next {
            Some(t) => PollTimeout::try_from(
                t.saturating_duration_since(now).as_millis().min(60_000) as i32 + 1,
            )
            .unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        let mut fds = vec![
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(parent.as_fd(), PollFlags::POLLIN),
        ];
        if let Some(s) = &sync {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                setup_failure = Some(format!("poll: {e}"));
            }
        }
        let ready = |i: usize, fds: &[PollFd]| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, parent_gone, sync_ready) = (ready(0, &fds), ready(1, &fds), ready(2, &fds));
        drop(fds);
        if parent_gone {
            let _ = kill(init, Signal::SIGKILL);
            orphan_cleanup(setup, Some(init));
            std::process::exit(3);
        }
        if sync_ready {
            if let Some(s) = sync.as_mut() {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => {
                        sync = None;
                        let now = Instant::now();
                        start = Some(now);
                        deadline = setup.lifecycle.limit().map(|l| now + l);
                        if setup.lifecycle == Lifecycle::Supervised {
                            send_progress(
                                progress,
                                &Progress::Started {
                                    init_pid: init.as_raw(),
                                },
                            );
                        }
                    }
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        }
        if sig_ready {
            let mut stop = false;
            while let Ok(Some(info)) = sigfd.read_signal() {
                stop |= info.ssi_signo == Signal::SIGTERM as u32;
            }
            if stop && kill_at.is_none() {
                // Nomad's stop (see below), on the checker's request.
                let _ = kill(init, kill_signal);
                kill_at = Some(Instant::now() + Duration::from_millis(setup.kill_timeout_ms));
            }
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(st) => match tracer.as_mut() {
                        Some(t) => {
                            if let Step::InitEnded(st) = t.handle(st) {
                                break 'outer st;
                            }
                        }
                        None => {
                            if st.pid() == Some(init)
                                && matches!(st, WaitStatus::Exited(..) | WaitStatus::Signaled(..))
                            {
                                break 'outer st;
                            }
                        }
                    },
                }
            }
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            deadline = None;
            match setup.lifecycle {
                Lifecycle::Batch { .. } => ran.timed_out = true,
                Lifecycle::Service { .. } => ran.still_running = true,
                Lifecycle::Interactive | Lifecycle::Supervised => {}
            }
            // Nomad's stop: kill_signal to the task, SIGKILL after kill_timeout
            // (hashicorp/nomad:drivers/shared/executor executor_linux.go Shutdown).
            let _ = kill(init, kill_signal);
            kill_at = Some(now + Duration::from_millis(setup.kill_timeout_ms));
        }
        if kill_at.is_some_and(|k| now >= k) {
            kill_at = None;
            // PID 1 dying takes every process of its namespace with it.
            let _ = kill(init, Signal::SIGKILL);
        }
    };
    ran.duration_ms = start.map_or(0, |s| s.elapsed().as_millis() as u64);
    if let Some(mut s) = sync.take() {
        let _ = s.read_to_end(&mut buf);
    }
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<InitMsg>(line) {
            Ok(InitMsg::Note(n)) => ran.notes.push(n),
            Ok(InitMsg::CgroupFailed(m)) => ran.cgroup_failed = Some(m),
            Ok(InitMsg::Start(m)) => start_failure = Some(m),
            Ok(InitMsg::Setup(m)) => setup_failure = Some(m),
            Err(_) => {}
        }
    }
    if let Some(m) = setup_failure {
        return ChildReport::SetupFailed(m);
    }
    if let Some(m) = start_failure {
        return ChildReport::StartFailed(m);
    }
    match status {
        WaitStatus::Exited(_, code) => ran.exit_code = Some(code),
        WaitStatus::Signaled(_, sig, _) => {
            ran.signal = Some(sig as i32);
            // Nomad reports an exit by signal as 128 + signal.
            ran.exit_code = Some(128 + sig as i32);
        }
        _ => {}
    }
    if let Some(t) = tracer {
        if !ran.timed_out && !ran.still_running {
            ran.orphans = t.orphans().map(<[Orphan]>::to_vec).unwrap_or_default();
        }
        let (misses, truncated) = t.finish();
        ran.misses = misses;
        ran.trace_truncated = truncated;
    }
    ChildReport::Ran(ran)
}

/// The checker is gone: kill the task, and remove its cgroups and work dir.
fn orphan_cleanup(setup: &Setup, init: Option<Pid>) {
    if let Some(init) = init {
        let _ = kill(init, Signal::SIGKILL);
        reap_all(Duration::from_secs(3));
    }
    for cg in &setup.cgroups {
        super::cgroup::remove_dir(cg);
    }
    if let Some(dir) = &setup.remove_on_orphan {
        // The task's mount namespace may outlive its last process by a moment.
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            crate::taskdir::make_writable(dir);
            match fs::remove_dir_all(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
    }
}

/// Reap every child (traced ones included) until none is left or `within` passes.
fn reap_all(within: Duration) {
    let until = Instant::now() + within;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Err(_) => return,
            Ok(WaitStatus::StillAlive) => {
                if Instant::now() > until {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // A traced process killed while it runs still stops at its exit
            // (PTRACE_EVENT_EXIT) or at a pending syscall stop: let it go on to die.
            Ok(
                WaitStatus::PtraceEvent(pid, ..)
                | WaitStatus::PtraceSyscall(pid)
                | WaitStatus::Stopped(pid, _),
            ) => {
                let _ = sys::ptrace_int(libc::PTRACE_CONT, pid, 0);
            }
            Ok(_) => {}
        }
    }
}

/// One line of [`Progress`] to the checker.
fn send_progress(to: &fs::File, msg: &Progress) {
    if let Ok(mut line) = serde_json::to_vec(msg) {
        line.push(b'\n');
        let _ = (&*to).write_all(&line);
    }
}

fn send(sync: &OwnedFd, msg: &InitMsg) {
    if let Ok(mut line) = serde_json::to_vec(msg) {
        line.push(b'\n');
        let _ = nix::unistd::write(sync, &line);
    }
}

fn setup_fail(sync: &OwnedFd, what: impl std::fmt::Display) -> ! {
    send(sync, &InitMsg::Setup(what.to_string()));
    std::process::exit(1)
}

fn start_fail(sync: &OwnedFd, what: impl std::fmt::Display) -> ! {
    send(sync, &InitMsg::Start(what.to_string()));
    std::process::exit(1)
}

/// The init's steps, in order (runc `libcontainer/standard_init_linux.go` `Init`).
/// `gate` is the trace's (monitor step 8); `placed`, whether the clone put us in the
/// task's cgroup already.
fn init_main(
    setup: &Setup,
    mut plan_file: fs::File,
    sync: OwnedFd,
    gate: Option<OwnedFd>,
    monitor: Pid,
    placed: bool,
) -> ! {
    // I1. Die with the monitor (runc's ParentDeathSignal 9), and check it did not die
    //     before that took effect. Unblock SIGCHLD, blocked for the monitor only.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        setup_fail(&sync, format!("prctl(PR_SET_PDEATHSIG, SIGKILL): {e}"));
    }
    if !setup.pid_ns && getppid() != monitor {
        std::process::exit(1);
    }
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);

    // I2. Into the task's cgroup before anything else, as runc's parent places its
    //     init before the init runs: what the init allocates from here on, and every
    //     process the task starts, is accounted there. If that fails the task runs
    //     without limits, and the report says so.
    if !placed && !setup.cgroups.is_empty() {
        if let Err(e) = super::cgroup::enter_self(&setup.cgroups) {
            send(&sync, &InitMsg::CgroupFailed(e.to_string()));
        }
    }

    // I3. Every mount of our own namespace (cloned with it) private: nothing below
    //     reaches the host, and everything below disappears with the namespace.
    if let Err(e) = mount::make_private() {
        setup_fail(&sync, e);
    }

    // I4. Wait for the rest of the plan, which the checker sends once the bundle is
    //     unpacked and analysed: a child started ahead has done all of the above while
    //     it was. End of file: the checker dropped us unused, or died.
    let plan: InitPlan = match read_frame(&mut plan_file) {
        Ok(p) => p,
        Err(None) => std::process::exit(0),
        Err(Some(e)) => setup_fail(&sync, format!("cannot read the init's plan: {e}")),
    };
    drop(plan_file);

    // I5. Build the root: the task dir bound onto itself, the chroot_env layers, /alloc,
    //     the secrets tmpfs, then runc's /dev, /proc, /sys, masks and read-only paths.
    //     /proc comes after the fork so that it shows the new PID namespace.
    let rootless = setup.userns.is_some();
    for op in &plan.mounts {
        match mount::apply(&plan.root, op, rootless) {
            Ok(Some(note)) => send(&sync, &InitMsg::Note(note)),
            Ok(None) => {}
            Err(e) => setup_fail(&sync, format!("{op:?}: {e}")),
        }
    }

    // I6. Enter the root with pivot_root, never chroot: a chroot can be escaped while
    //     capabilities remain (nsjail mnt.cc).
    if let Err(e) = mount::pivot(&plan.root) {
        setup_fail(&sync, e);
    }

    // I7. Resolve the user where the Nomad version does: ≤ 1.11.0 in the chroot's
    //     /etc/passwd after pivot_root (runc setupUser), ≥ 1.11.1 on the host.
    let (uid, gid, groups) = match &plan.identity {
        Identity::Host { uid, gid } => (*uid, *gid, Some(Vec::new())),
        Identity::InChroot { user } => {
            let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
            let Some((uid, gid)) = super::plan::passwd_lookup(&passwd, user) else {
                // moby/sys/user GetExecUser
                start_fail(
                    &sync,
                    format!("unable to find user {user}: no matching entries in passwd file"),
                );
            };
            let group = fs::read_to_string("/etc/group").unwrap_or_default();
            let mut groups = super::plan::group_lookup(&group, user);
            groups.retain(|g| *g != gid);
            (uid, gid, Some(groups))
        }
    };

    // I8. The trace's seccomp filter, once the monitor has seized us (a byte on the
    //     gate, or end of file if it died: then we die too), and while still
    //     privileged: installing it needs CAP_SYS_ADMIN, which the user switch drops.
    if let Some(gate) = gate {
        let mut byte = [0u8; 1];
        while let Err(Errno::EINTR) = nix::unistd::read(&gate, &mut byte) {}
        drop(gate);
        if let Err(e) = sys::seccomp_install(&trace::trace_filter()) {
            setup_fail(&sync, e);
        }
    }

    // I9. Become the task user with Nomad's capability sets.
    let switch = caps::Switch {
        uid,
        gid,
        // setgroups is denied in a rootless user namespace.
        groups: if rootless { None } else { groups },
        keep: &plan.caps.keep,
        ambient: plan.caps.ambient,
    };
    if let Err(e) = caps::switch(&switch) {
        setup_fail(&sync, e);
    }

    // I10. work_dir, as the task user (runc finalizeNamespace).
    if let Some(cwd) = &plan.cwd {
        if let Err(e) = nix::unistd::chdir(cwd.as_str()) {
            start_fail(
                &sync,
                format!(
                    "chdir to cwd ({cwd:?}) set in config.json failed: {}",
                    go_errno(e)
                ),
            );
        }
    }

    // I11. runc's exec.LookPath(argv0): a stat failure is a start failure, reported
    //      before the task counts as started.
    if let Err(msg) = look_path(&plan.argv0) {
        start_fail(&sync, msg);
    }

    // I12. --harden only (beyond Nomad): no_new_privs and a deny-list filter.
    if plan.no_new_privs {
        if let Err(e) = nix::sys::prctl::set_no_new_privs() {
            setup_fail(&sync, format!("prctl(PR_SET_NO_NEW_PRIVS): {e}"));
        }
    }
    if plan.seccomp {
        let f = trace::harden_filter();
        if !f.is_empty() {
            if let Err(e) = sys::seccomp_install(&f) {
                setup_fail(&sync, e);
            }
        }
    }

    // I13. Nothing of ours reaches the task: every descriptor above stderr closes on
    //      exec, including the sync pipe, whose closing tells the monitor we exec'd,
    //      and no signal stays ignored.
    if let Err(e) = sys::cloexec_from(3) {
        setup_fail(&sync, e);
    }
    sys::default_signal_dispositions();

    // I14. execve. Its failure is the task's, as runc ≥ 1.2 reports it: the message on
    //      the task's stderr and exit 255 (1 with Nomad ≤ 1.9's shim).
    let cstr = |s: &str| CString::new(s.as_bytes()).unwrap_or_default();
    let argv0 = cstr(&plan.argv0);
    let mut argv = vec![argv0.clone()];
    argv.extend(plan.args.iter().map(|a| cstr(a)));
    let env: Vec<CString> = plan.env.iter().map(|e| cstr(e)).collect();
    let err = match nix::unistd::execve(&argv0, &argv, &env) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    drop(sync);
    let msg = format!("exec {}: {}", plan.argv0, go_errno(err));
    let _ = writeln!(std::io::stderr(), "{msg}");
    if plan.exec_failure_exit_code == 1 {
        // Nomad ≤ 1.9's shim logs the error through hclog and exits 1
        // (hashicorp/nomad v1.9.0:drivers/shared/executor/libcontainer_nsenter_linux.go).
        let _ = writeln!(
            std::io::stderr(),
            "[ERROR] failed to initialize libcontainer-shim: error=\"{msg}\""
        );
    }
    std::process::exit(plan.exec_failure_exit_code);
}

/// Go's text for an errno (`syscall.Errno.Error`): glibc's, lower-cased.
pub fn go_errno(e: Errno) -> String {
    let d = e.desc();
    let mut c = d.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Go's `exec.LookPath` for a path with a slash: stat it, refuse directories and files
/// without any x bit. Errors as `exec.Error` prints them.
fn look_path(p: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(p) {
        Err(e) => {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT));
            Err(format!("exec: {p:?}: stat {p}: {}", go_errno(errno)))
        }
        Ok(m) if m.is_dir() => Err(format!("exec: {p:?}: is a directory")),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Err(format!("exec: {p:?}: permission denied"))
        }
        Ok(_) => Ok(()),
    }
}

/// The message for an unavailable user namespace, naming the cause and the fix.
fn userns_unavailable(e: Errno) -> String {
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    let base = format!("cannot create a user namespace (unshare(CLONE_NEWUSER): {e})");
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return format!(
            "{base}: AppArmor restricts unprivileged user namespaces \
             (kernel.apparmor_restrict_unprivileged_userns=1); run the check as root (sudo), \
             or allow them with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, \
             or use --no-run for the static check only"
        );
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") || e == Errno::ENOSPC {
        return format!(
            "{base}: user namespaces are disabled or exhausted (user.max_user_namespaces); \
             run the check as root (sudo), or `sudo sysctl -w user.max_user_namespaces=15000`, \
             or use --no-run for the static check only"
        );
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return format!(
            "{base}: unprivileged user namespaces are disabled \
             (kernel.unprivileged_userns_clone=0); run the check as root (sudo), or \
             `sudo sysctl -w kernel.unprivileged_userns_clone=1`, or use --no-run"
        );
    }
    format!(
        "{base}: user namespaces are not available to this user (inside a container or a \
         seccomp profile that forbids them?); run the check as root (sudo), or use --no-run"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_errno_text() {
        assert_eq!(go_errno(Errno::ENOENT), "no such file or directory");
        assert_eq!(go_errno(Errno::ENOEXEC), "exec format error");
        assert_eq!(go_errno(Errno::EACCES), "permission denied");
    }

    #[test]
    fn userns_unavailable_names_a_fix() {
        let m = userns_unavailable(Errno::ENOSPC);
        assert!(m.contains("unshare(CLONE_NEWUSER)"), "{m}");
        assert!(m.contains("user.max_user_namespaces"), "{m}");
        assert!(m.contains("sudo"), "{m}");
        let m = userns_unavailable(Errno::EPERM);
        assert!(m.contains("sudo") && m.contains("--no-run"), "{m}");
    }

    #[test]
    fn look_path_messages() {
        assert_eq!(
            look_path("/nonexistent-x").unwrap_err(),
            "exec: \"/nonexistent-x\": stat /nonexistent-x: no such file or directory"
        );
        assert!(look_path("/bin/sh").is_ok());
    }
}
