//! The runtime trace: which files the task looked for and did not find.
//!
//! A seccomp filter (installed in the sandbox's init before it switches user, while it
//! still may) returns `SECCOMP_RET_TRACE` for path lookups only, so the tracer stops
//! the task at those syscalls alone and lets every other syscall run at full speed. At
//! each such stop the tracer reads the path with `process_vm_readv`, asks for the
//! syscall-exit stop, and records the path with its result.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IoSliceMut;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::sys::{self, SockFilter};

/// x86_64 syscalls that look a path up: (number, index of the path argument, name).
/// `mkdir`, `mkdirat` and `creat` are traced too: a path the task creates itself after
/// looking for it (`[ -d $PGDATA ] || initdb`) was never missing.
#[cfg(target_arch = "x86_64")]
const TRACED: &[(u32, usize, &str)] = &[
    (2, 0, "open"),
    (4, 0, "stat"),
    (6, 0, "lstat"),
    (21, 0, "access"),
    (59, 0, "execve"),
    (83, 0, "mkdir"),
    (85, 0, "creat"),
    (89, 0, "readlink"),
    (257, 1, "openat"),
    (258, 1, "mkdirat"),
    (262, 1, "newfstatat"),
    (267, 1, "readlinkat"),
    (269, 1, "faccessat"),
    (322, 1, "execveat"),
    (332, 1, "statx"),
    (437, 1, "openat2"),
    (439, 1, "faccessat2"),
];
#[cfg(not(target_arch = "x86_64"))]
const TRACED: &[(u32, usize, &str)] = &[];

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

fn stmt(code: u32, k: u32) -> SockFilter {
    SockFilter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// `nrs` → `action`, everything else allowed; other architectures are allowed.
fn filter(nrs: &[u32], action: u32) -> Vec<SockFilter> {
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut f = vec![
        stmt(ld, 4), // seccomp_data.arch
        jeq(AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, SECCOMP_RET_ALLOW),
        stmt(ld, 0), // seccomp_data.nr
    ];
    let n = nrs.len();
    for (i, nr) in nrs.iter().enumerate() {
        f.push(jeq(*nr, (n - i) as u8, 0));
    }
    f.push(stmt(ret, SECCOMP_RET_ALLOW));
    f.push(stmt(ret, action));
    f
}

/// The filter that hands path lookups to the tracer.
pub fn trace_filter() -> Vec<SockFilter> {
    let nrs: Vec<u32> = TRACED.iter().map(|t| t.0).collect();
    filter(&nrs, SECCOMP_RET_TRACE)
}

/// `--harden`: refuse what a task has no business doing (beyond Nomad, which installs
/// no seccomp filter for exec tasks).
#[cfg(target_arch = "x86_64")]
pub fn harden_filter() -> Vec<SockFilter> {
    // kexec_load, init_module, finit_module, delete_module, bpf, perf_event_open,
    // userfaultfd, open_by_handle_at, add_key, request_key, keyctl, mount, umount2,
    // pivot_root, unshare, setns, swapon, swapoff, reboot.
    let nrs = [
        246, 175, 313, 176, 321, 298, 323, 304, 248, 249, 250, 165, 166, 155, 272, 308, 167, 168,
        169,
    ];
    filter(&nrs, SECCOMP_RET_ERRNO | libc::EPERM as u32)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn harden_filter() -> Vec<SockFilter> {
    Vec::new()
}

/// One failed lookup as the task saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Miss {
    pub path: String,
    pub syscall: String,
    /// `ENOENT` or `EACCES`.
    pub errno: String,
    pub count: u32,
    /// The path as the program passed it (relative paths are made absolute in `path`),
    /// which is how it names it in its own error messages.
    #[serde(default)]
    pub raw: String,
    /// Position of its last occurrence among all failed lookups: the higher, the closer
    /// to the task's end.
    #[serde(default)]
    pub last: u32,
}

/// A process of the task still running when the task's main process exited: Nomad
/// kills it with the task (PID 1 of the namespace, or the cgroup for `pid_mode =
/// "host"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    pub pid: i32,
    /// Its command line, shortened (`/proc/<pid>/cmdline`, else `comm`).
    pub command: String,
}

fn command_line(pid: i32) -> String {
    let args: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let mut line = if args.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim_end().to_owned())
            .unwrap_or_default()
    } else {
        args.join(" ")
    };
    if line.chars().count() > 80 {
        line = line.chars().take(79).chain(['…']).collect();
    }
    line
}

struct Pending {
    nr: u64,
    path: String,
    raw: String,
}

/// A failed lookup in the order it happened.
struct Event {
    path: String,
    raw: String,
    syscall: &'static str,
    errno: Errno,
}

pub struct Tracer {
    init: Pid,
    /// Tracees whose first (attach) stop has not been seen yet.
    seen: HashSet<Pid>,
    pending: HashMap<Pid, Pending>,
    /// The task's first execve has happened: lookups before it are runc's, not the
    /// task's.
    execd: bool,
    events: Vec<Event>,
    /// basename → index of the last successful lookup with that name.
    found: HashMap<String, usize>,
    /// Every directory above a path found (or created) → index of the last such lookup.
    found_below: HashMap<String, usize>,
    /// Full path → index of the last successful lookup of exactly that path.
    found_exact: HashMap<String, usize>,
    /// `dir/stem` (the name up to its first dot) → index of the last success: a later
    /// success with another suffix is an alternative the program went on with (Python's
    /// importer tries `__init__.cpython-311-x86_64-linux-gnu.so`, `.abi3.so`, `.so`,
    /// then finds `__init__.py`).
    found_stem: HashMap<String, usize>,
    truncated: bool,
    /// Tracees that have not begun to exit.
    live: HashSet<Pid>,
    /// Set when the init begins to exit: the task's other processes still running.
    orphans: Option<Vec<Orphan>>,
}

const MAX_EVENTS: usize = 100_000;

pub enum Step {
    Continue,
    /// The sandbox's init ended with this status.
    InitEnded(WaitStatus),
}

/// The options the monitor seizes the init with (`PTRACE_SEIZE`): the task's children
/// are traced too, and die with the tracer.
/// `TRACEEXIT` stops each process as it begins to exit, which is when the init's
/// remaining descendants can still be listed.
pub const PTRACE_OPTIONS: libc::c_int = libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEEXIT
    | libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_EXITKILL;

impl Tracer {
    /// A tracer of `init`, already seized with [`PTRACE_OPTIONS`] (no attach stop).
    pub fn new(init: Pid) -> Self {
        Tracer {
            init,
            seen: HashSet::from([init]),
            pending: HashMap::new(),
            execd: false,
            events: Vec::new(),
            found: HashMap::new(),
            found_below: HashMap::new(),
            found_exact: HashMap::new(),
            found_stem: HashMap::new(),
            truncated: false,
            live: HashSet::from([init]),
            orphans: None,
        }
    }

    /// Handle one wait status of a tracee and resume it.
    pub fn handle(&mut self, st: WaitStatus) -> Step {
        match st {
            WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _) => {
                self.pending.remove(&pid);
                self.live.remove(&pid);
                if pid == self.init {
                    return Step::InitEnded(st);
                }
            }
            WaitStatus::Stopped(pid, sig) => {
                if !self.seen.contains(&pid) && sig == Signal::SIGSTOP {
                    // The attach stop of a new tracee: let it run.
                    self.seen.insert(pid);
                    self.live.insert(pid);
                    let _ = sys::ptrace_int(libc::PTRACE_CONT, pid, 0);
                } else if sys::ptrace_is_group_stop(pid) {
                    let _ = sys::ptrace_int(libc::PTRACE_CONT, pid, 0);
                } else {
                    // A signal for the task: deliver it.
                    let _ = sys::ptrace_int(libc::PTRACE_CONT, pid, sig as usize);
                }
            }
            WaitStatus::PtraceEvent(pid, _, event) => {
                if self.seen.insert(pid) {
                    self.live.insert(pid);
                }
                match event {
                    libc::PTRACE_EVENT_SECCOMP if self.on_entry(pid) => {
                        let _ = sys::ptrace_int(libc::PTRACE_SYSCALL, pid, 0);
                        return Step::Continue;
                    }
                    libc::PTRACE_EVENT_EXEC => self.execd = true,
                    libc::PTRACE_EVENT_EXIT => {
                        self.live.remove(&pid);
                        if pid == self.init && self.orphans.is_none() {
                            self.orphans = Some(self.still_running());
                        }
                    }
                    _ => {}
                }
                let _ = sys::ptrace_int(libc::PTRACE_CONT, pid, 0);
            }
            WaitStatus::PtraceSyscall(pid) => {
                self.on_exit(pid);
                let _ = sys::ptrace_int(libc::PTRACE_CONT, pid, 0);
            }
            _ => {}
        }
        Step::Continue
    }

    /// At the seccomp stop (syscall entry): remember the path. `true` when the exit
    /// stop is wanted.
    fn on_entry(&mut self, pid: Pid) -> bool {
        let Ok(regs) = sys::ptrace_syscall_regs(pid) else {
            return false;
        };
        let Some(&(_, argi, _)) = TRACED.iter().find(|t| u64::from(t.0) == regs.nr) else {
            return false;
        };
        let Some(raw) = read_cstr(pid, regs.args[argi]) else {
            return false;
        };
        if raw.is_empty() {
            return false;
        }
        let path = if raw.starts_with('/') {
            raw.clone()
        } else {
            let base = if argi == 1 && regs.args[0] as i32 != libc::AT_FDCWD {
                std::fs::read_link(format!("/proc/{pid}/fd/{}", regs.args[0] as i32))
            } else {
                std::fs::read_link(format!("/proc/{pid}/cwd"))
            };
            match base {
                Ok(b) => format!("{}/{raw}", b.display()),
                Err(_) => raw.clone(),
            }
        };
        self.pending.insert(
            pid,
            Pending {
                nr: regs.nr,
                path: crate::taskdir::normalize_task_path(&path),
                raw,
            },
        );
        true
    }

    /// The task's processes other than the init that have not begun to exit, with
    /// their names, read while the init is stopped at its exit (before the kernel
    /// kills the rest of its PID namespace).
    fn still_running(&self) -> Vec<Orphan> {
        // Tracees are threads: count processes (thread groups), the init's own threads
        // aside.
        let tgid = |p: &Pid| -> Option<i32> {
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("Tgid:"))?
                .trim()
                .parse()
                .ok()
        };
        let groups: std::collections::BTreeSet<i32> = self
            .live
            .iter()
            .filter_map(tgid)
            .filter(|g| *g != self.init.as_raw())
            .collect();
        groups
            .into_iter()
            .filter_map(|g| {
                let stat = std::fs::read_to_string(format!("/proc/{g}/stat")).ok()?;
                // `pid (comm) S …`: the state follows the last `)`.
                let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
                (state != 'Z' && state != 'X').then(|| Orphan {
                    pid: g,
                    command: command_line(g),
                })
            })
            .collect()
    }

    fn on_exit(&mut self, pid: Pid) {
        let Some(p) = self.pending.remove(&pid) else {
            return;
        };
        if !self.execd {
            return;
        }
        let Ok(regs) = sys::ptrace_syscall_regs(pid) else {
            return;
        };
        let name = TRACED
            .iter()
            .find(|t| u64::from(t.0) == p.nr)
            .map(|t| t.2)
            .unwrap_or("?");
        let at = self.events.len();
        if regs.ret >= 0 {
            let base = p.path.rsplit('/').next().unwrap_or("").to_owned();
            self.found.insert(base, at);
            let mut cur = p.path.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                if parent.is_empty() || self.found_below.insert(parent.to_owned(), at) == Some(at) {
                    break;
                }
                cur = parent;
            }
            self.found_stem.insert(stem(&p.path).to_owned(), at);
            self.found_exact.insert(p.path, at);
            return;
        }
        let errno = Errno::from_raw(-regs.ret as i32);
        if !matches!(errno, Errno::ENOENT | Errno::EACCES) {
            return;
        }
        if self.events.len() >= MAX_EVENTS {
            self.truncated = true;
            return;
        }
        // A failed mkdir is about the directory it could not create in.
        let (path, raw) = if matches!(name, "mkdir" | "mkdirat") {
            let parent = |s: &str| match s.rsplit_once('/') {
                Some(("", _)) => "/".to_owned(),
                Some((d, _)) => d.to_owned(),
                None => ".".to_owned(),
            };
            (parent(&p.path), parent(&p.raw))
        } else {
            (p.path, p.raw)
        };
        self.events.push(Event {
            path,
            raw,
            syscall: name,
            errno,
        });
    }

    /// The task's processes still running when its init began to exit (`None` when
    /// the init's exit was not seen).
    pub fn orphans(&self) -> Option<&[Orphan]> {
        self.orphans.as_deref()
    }

    /// The misses that stayed misses. A lookup is dropped when a later lookup found the
    /// same basename (the loader probing its search path, `$PATH` search), the same
    /// path, or something below it (the task created it: `[ -d $PGDATA ] || initdb`).
    pub fn finish(self) -> (Vec<Miss>, bool) {
        let later =
            |m: &HashMap<String, usize>, key: &str, i: usize| m.get(key).is_some_and(|&j| j > i);
        let satisfied = |i: usize, path: &str| {
            let base = path.rsplit('/').next().unwrap_or("");
            later(&self.found, base, i)
                || later(&self.found_exact, path, i)
                || later(&self.found_below, path, i)
                || later(&self.found_stem, stem(path), i)
        };
        // The loader also stats each search directory it failed to open a library in
        // (`glibc-hwcaps/x86-64-v3`, `tls`, …): drop those along with the probes.
        let dropped_dirs: HashSet<&str> = self
            .events
            .iter()
            .enumerate()
            .filter(|(i, e)| satisfied(*i, &e.path))
            .flat_map(|(_, e)| {
                let mut dirs = Vec::new();
                let mut cur = e.path.as_str();
                while let Some((parent, _)) = cur.rsplit_once('/') {
                    if parent.is_empty() {
                        break;
                    }
                    dirs.push(parent);
                    cur = parent;
                }
                dirs
            })
            .collect();
        let mut out: BTreeMap<&str, Miss> = BTreeMap::new();
        for (i, e) in self.events.iter().enumerate() {
            if satisfied(i, &e.path) || dropped_dirs.contains(e.path.as_str()) {
                continue;
            }
            // glibc probes this on every start; its absence is normal.
            if e.path == "/etc/ld.so.preload" {
                continue;
            }
            out.entry(&e.path)
                .and_modify(|m| {
                    m.count += 1;
                    m.last = i as u32;
                })
                .or_insert(Miss {
                    path: e.path.clone(),
                    syscall: e.syscall.to_owned(),
                    errno: format!("{:?}", e.errno),
                    count: 1,
                    raw: e.raw.clone(),
                    last: i as u32,
                });
        }
        (out.into_values().collect(), self.truncated)
    }
}

/// The path without its name's suffixes: `/a/__init__.cpython-311.so` → `/a/__init__`.
/// A name that starts with a dot keeps it (`/a/.profile`).
fn stem(path: &str) -> &str {
    let name_at = path.rfind('/').map_or(0, |i| i + 1);
    match path.get(name_at + 1..).and_then(|rest| rest.find('.')) {
        Some(dot) => &path[..name_at + 1 + dot],
        None => path,
    }
}

/// Read a NUL-terminated string (up to PATH_MAX) from the tracee's memory.
fn read_cstr(pid: Pid, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut at = addr as usize;
    while out.len() < 4096 {
        // Stay within one page per read: the string may end just before an unmapped one.
        let chunk = 4096 - (at % 4096);
        let mut buf = vec![0u8; chunk];
        let n = process_vm_readv(
            pid,
            &mut [IoSliceMut::new(&mut buf)],
            &[RemoteIoVec {
                base: at,
                len: chunk,
            }],
        )
        .ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..end]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..n]);
        at += n;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(stem("/a/__init__.cpython-311.so"), "/a/__init__");
        assert_eq!(stem("/a/__init__.py"), "/a/__init__");
        assert_eq!(stem("/a/.profile"), "/a/.profile");
        assert_eq!(stem("/a/.x.y"), "/a/.x");
        assert_eq!(stem("/a/b"), "/a/b");
        assert_eq!(stem("/"), "/");
    }

    #[test]
    fn filter_jumps_land_on_the_trace_return() {
        let f = filter(&[2, 4, 6], SECCOMP_RET_TRACE);
        // 4 header + 3 jeq + allow + trace
        assert_eq!(f.len(), 9);
        for (i, insn) in f[4..7].iter().enumerate() {
            let target = 4 + i + 1 + insn.jt as usize;
            assert_eq!(f[target].k, SECCOMP_RET_TRACE);
        }
        assert_eq!(f[7].k, SECCOMP_RET_ALLOW);
    }
}
