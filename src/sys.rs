//! The only module with `unsafe`: thin wrappers over raw syscalls, each with a
//! `// SAFETY:` note. Errors name the call, its arguments and the errno.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, Pid};

/// A syscall that failed: the call as written, and the errno.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {errno}")]
pub struct SysError {
    pub call: String,
    pub errno: Errno,
}

impl SysError {
    pub fn new(call: impl Into<String>, errno: Errno) -> Self {
        SysError {
            call: call.into(),
            errno,
        }
    }
}

/// How many threads this process has (from `/proc/self/status`).
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Where a spawned process's stdin, stdout or stderr comes from.
pub enum Stdio<'a> {
    Inherit,
    Null,
    Fd(BorrowedFd<'a>),
}

/// Start `exe` with `args` (after argv[0], which is `exe`) and exactly `env`, by
/// `posix_spawn`: glibc's is a `clone(CLONE_VM|CLONE_VFORK)`, so this multithreaded
/// process's page tables are not copied, and its other threads take no copy-on-write
/// faults afterwards (a fork costs both, while the bundle is being unpacked). `keep`
/// are inherited at their own numbers: a dup2 of a descriptor onto itself clears its
/// close-on-exec flag in the child only (POSIX.1-2024; glibc ≥ 2.29), so they reach no
/// other process that threads spawn meanwhile.
pub fn spawn(
    exe: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdio: [Stdio<'_>; 3],
    keep: &[RawFd],
) -> Result<Pid, SysError> {
    use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
    use nix::sys::signal::SigSet;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let call = || format!("posix_spawn({exe:?})");
    let fail = |e| SysError::new(call(), e);
    let cstr = |b: &[u8]| CString::new(b).map_err(|_| fail(Errno::EINVAL));
    let path = cstr(exe.as_os_str().as_bytes())?;
    let mut argv = vec![path.clone()];
    for a in args {
        argv.push(cstr(a.as_bytes())?);
    }
    let envp = env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut actions = PosixSpawnFileActions::init().map_err(fail)?;
    for (target, source) in stdio.iter().enumerate() {
        let target = target as RawFd;
        match source {
            Stdio::Inherit => {}
            Stdio::Null => {
                let flags = if target == 0 {
                    OFlag::O_RDONLY
                } else {
                    OFlag::O_WRONLY
                };
                actions
                    .add_open(target, "/dev/null", flags, Mode::empty())
                    .map_err(fail)?;
            }
            Stdio::Fd(fd) => actions.add_dup2(fd.as_raw_fd(), target).map_err(fail)?,
        }
    }
    for &fd in keep {
        actions.add_dup2(fd, fd).map_err(fail)?;
    }
    // No signal blocked: a mask outlives execve, down to the task. (Dispositions are
    // the init's to reset, see `default_signal_dispositions`: glibc's posix_spawn
    // ignores its internal signals in the child whatever it is asked.)
    let mut attr = PosixSpawnAttr::init().map_err(fail)?;
    attr.set_flags(PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK)
        .map_err(fail)?;
    attr.set_sigmask(&SigSet::empty()).map_err(fail)?;
    posix_spawn(path.as_c_str(), &actions, &attr, &argv, &envp).map_err(fail)
}

/// `pidfd_open(pid, 0)`: a descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, SysError> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if r < 0 {
        return Err(SysError::new(format!("pidfd_open({pid})"), Errno::last()));
    }
    // SAFETY: r is a freshly created descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Set close-on-exec on every descriptor from `first` up (`close_range(2)`).
pub fn cloexec_from(first: u32) -> Result<(), SysError> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(SysError::new(
            format!("close_range({first}, ~0, CLOSE_RANGE_CLOEXEC)"),
            Errno::last(),
        ));
    }
    Ok(())
}

/// Bring the loopback interface of the current network namespace up.
pub fn loopback_up() -> Result<(), SysError> {
    // SAFETY: socket takes integers and returns a new descriptor or -1.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(SysError::new("socket(AF_INET, SOCK_DGRAM)", Errno::last()));
    }
    // SAFETY: raw is a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads into the ifreq we own; the socket is valid.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(SysError::new("ioctl(SIOCGIFFLAGS, lo)", Errno::last()));
    }
    // SAFETY: ifru_flags is the member SIOCGIFFLAGS filled in.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own; the socket is valid.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(SysError::new(
            "ioctl(SIOCSIFFLAGS, lo, IFF_UP)",
            Errno::last(),
        ));
    }
    Ok(())
}

/// One classic BPF instruction (`struct sock_filter`).
pub type SockFilter = libc::sock_filter;

/// Install a seccomp filter on the calling thread (`seccomp(SECCOMP_SET_MODE_FILTER)`).
pub fn seccomp_install(filter: &[SockFilter]) -> Result<(), SysError> {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut SockFilter,
    };
    // SAFETY: prog points at `filter`, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(SysError::new(
            format!(
                "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {} insns)",
                filter.len()
            ),
            Errno::last(),
        ));
    }
    Ok(())
}

/// `ptrace(request, pid, 0, data)` for requests that take integers only
/// (SETOPTIONS, CONT, SYSCALL, DETACH).
pub fn ptrace_int(request: libc::c_uint, pid: Pid, data: usize) -> Result<(), Errno> {
    // SAFETY: these requests take no pointers; `data` is an integer (options or signal).
    let r = unsafe { libc::ptrace(request, pid.as_raw(), 0usize, data) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// Whether a ptrace stop is a group-stop (PTRACE_GETSIGINFO fails with EINVAL).
pub fn ptrace_is_group_stop(pid: Pid) -> bool {
    // SAFETY: siginfo_t is plain old data; zeroed is valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one siginfo_t into `info`, which we own.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            pid.as_raw(),
            0usize,
            &mut info as *mut libc::siginfo_t,
        )
    };
    r < 0 && Errno::last() == Errno::EINVAL
}

/// Registers of a stopped tracee at a syscall: number, six arguments, return value.
#[derive(Debug, Clone, Copy)]
pub struct SyscallRegs {
    pub nr: u64,
    pub args: [u64; 6],
    pub ret: i64,
}

/// Read the syscall registers of a stopped tracee.
#[cfg(target_arch = "x86_64")]
pub fn ptrace_syscall_regs(pid: Pid) -> Result<SyscallRegs, Errno> {
    // SAFETY: user_regs_struct is plain old data; zeroed is valid.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: PTRACE_GETREGS writes one user_regs_struct into `regs`, which we own.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            pid.as_raw(),
            0usize,
            &mut regs as *mut libc::user_regs_struct,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(SyscallRegs {
        nr: regs.orig_rax,
        args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
        ret: regs.rax as i64,
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub fn ptrace_syscall_regs(_pid: Pid) -> Result<SyscallRegs, Errno> {
    Err(Errno::ENOSYS)
}

/// Take ownership of a descriptor number handed to us on the command line.
pub fn adopt_fd(fd: RawFd) -> Result<OwnedFd, SysError> {
    nix::fcntl::fcntl(
        // SAFETY: borrowing for the duration of one fcntl call; fcntl fails with EBADF
        // when nothing is open at `fd`.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        nix::fcntl::FcntlArg::F_GETFD,
    )
    .map_err(|e| SysError::new(format!("fcntl({fd}, F_GETFD)"), e))?;
    // SAFETY: `fd` is open (checked above) and was passed to this process for it to own;
    // nothing else in this process refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Give the task every signal at its default disposition, as a task of Nomad's has (its
/// executor and runc's init are Go programs, which ignore none): execve resets caught
/// signals but keeps ignored ones, and here the Rust runtime ignores SIGPIPE and glibc's
/// posix_spawn leaves its internal signals 32 and 33 ignored. The raw syscall, because
/// glibc's sigaction refuses those two.
pub fn default_signal_dispositions() {
    // `struct sigaction` as the kernel reads it: handler (0 = SIG_DFL), flags, restorer
    // and mask, all zero.
    let dfl = [0u64; 4];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads `dfl` (large enough for the kernel's struct) and
        // writes nothing (old action null); SIG_DFL runs no code of ours.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
        }
    }
}

/// A fork that also creates namespaces (`flags`: `CLONE_NEW*` bits) and, on cgroup v2,
/// places the child in the group `cgroup` (`CLONE_INTO_CGROUP`) so that nobody has to
/// move it there (a move waits for an RCU grace period). Returns whether the child was
/// placed: not when `cgroup` is `None`, nor on kernels before 5.7 or with cgroup v1,
/// where clone3 refuses it and this falls back to a plain `clone(flags)`. Refused
/// unless this process has exactly one thread: the child of a multithreaded one could
/// inherit a lock held by a thread that does not exist in it.
///
/// The child must not rely on libc's cached thread id (`raise`, `pthread_kill`): a raw
/// clone does not update it. The sandbox's init uses neither.
pub fn fork_with(
    flags: nix::sched::CloneFlags,
    cgroup: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<(ForkResult, bool), SysError> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    // struct clone_args, CLONE_ARGS_SIZE_VER2 (linux/sched.h).
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let n = thread_count();
    if n != 1 {
        return Err(SysError::new(
            format!("clone() in a process with {n} threads"),
            Errno::EINVAL,
        ));
    }
    let done = |r: libc::c_long, placed: bool| match r {
        0 => Ok((ForkResult::Child, placed)),
        pid => Ok((
            ForkResult::Parent {
                child: Pid::from_raw(pid as i32),
            },
            placed,
        )),
    };
    if let Some(cg) = cgroup {
        let args = CloneArgs {
            flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: cg.as_raw_fd() as u64,
            ..CloneArgs::default()
        };
        // SAFETY: with no stack given, clone3 duplicates the calling thread like fork();
        // the process is single-threaded (checked above), so no lock can be held by a
        // thread missing from the child. `args` outlives the call and its size is passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if r >= 0 {
            return done(r, true);
        }
    }
    // SAFETY: as above: a null stack makes clone() duplicate the calling thread like
    // fork(), in a single-threaded process; the other arguments (parent/child tid
    // pointers, tls) are null and unused without the flags that name them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags.bits() as libc::c_long | libc::SIGCHLD as libc::c_long,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        return Err(SysError::new(format!("clone({flags:?})"), Errno::last()));
    }
    done(r, false)
}

/// Whether `dir` is on a cgroup v2 filesystem.
pub fn is_cgroup2(dir: &std::path::Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}
