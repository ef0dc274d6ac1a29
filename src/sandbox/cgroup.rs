//! The task's cgroup: memory, cpu and pids limits through cgroup v2 or v1, whichever
//! this machine has (detected at run time), as Nomad's executor sets them
//! (`hashicorp/nomad:drivers/shared/executor/executor_linux.go` `configureCgroups`,
//! `configureCG1`, `configureCG2`; `executor/utils.go` `memoryLimits`).
//!
//! Each run gets `nomad-chroot-check-<checker pid>-<n>`, created by the parent before
//! the child exists. Only the task's init and its descendants are members, never the
//! sandbox child's monitor, so the group is empty as soon as the task is gone. How the
//! init gets in matters for speed: moving a process takes the global
//! cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period (10–25 ms
//! on this 2-core VM, longer than a whole bwrap run). Two ways in avoid it: on v2 the
//! monitor forks the init straight into the group (`CLONE_INTO_CGROUP`); on v1 the init
//! moves itself by writing `0` to each group's `tasks` file, the one write the kernel
//! serves without that lock (a thread moving only itself cannot race with fork or
//! exec; `cgroup_procs_write_start` in kernel/cgroup/cgroup.c). Either way this
//! happens before the init builds the root, as runc's parent places its init first.
//!
//! The parent removes the group once the task is gone. If the checker dies, the child
//! removes it; if both die, the next run's [`sweep`] removes groups whose checker pid is
//! dead.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

const ROOT: &str = "/sys/fs/cgroup";
const PREFIX: &str = "nomad-chroot-check-";
static SEQ: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

pub fn detect() -> Option<Version> {
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        Some(Version::V2)
    } else if Path::new(ROOT).join("memory").is_dir() {
        Some(Version::V1)
    } else {
        None
    }
}

/// What the limits are.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Hard limit in bytes.
    pub memory_max: u64,
    /// Reservation (soft limit) in bytes, with `memory_max`.
    pub memory_low: Option<u64>,
    pub cpu_shares: u64,
    pub pids_max: u64,
}

pub struct Cgroup {
    pub version: Version,
    /// One dir for v2; one per controller for v1.
    pub dirs: Vec<PathBuf>,
}

fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    fs::write(dir.join(file), value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot write {value:?} to `{}`: {e}",
                dir.join(file).display()
            ),
        )
    })
}

impl Cgroup {
    /// Create the group, apply the limits, and say per feature what was applied.
    pub fn create(
        version: Version,
        limits: &Limits,
        enforced: &mut BTreeMap<String, String>,
    ) -> io::Result<Cgroup> {
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut cg = Cgroup {
            version,
            dirs: Vec::new(),
        };
        let mut note = |k: &str, r: io::Result<()>| {
            enforced.insert(
                k.into(),
                match r {
                    Ok(()) => "applied".into(),
                    Err(e) => format!("skipped: {e}"),
                },
            );
        };
        match version {
            Version::V2 => {
                let root = Path::new(ROOT);
                // Controllers must be enabled in the parent's subtree_control.
                for c in ["+memory", "+cpu", "+pids"] {
                    let _ = write(root, "cgroup.subtree_control", c);
                }
                let dir = root.join(&name);
                fs::create_dir(&dir)?;
                cg.dirs.push(dir.clone());
                note(
                    "cgroup.memory",
                    (|| {
                        write(&dir, "memory.max", &limits.memory_max.to_string())?;
                        if let Some(low) = limits.memory_low {
                            write(&dir, "memory.low", &low.to_string())?;
                        }
                        // Nomad disables swap for the task where it can.
                        let _ = write(&dir, "memory.swap.max", "0");
                        Ok(())
                    })(),
                );
                // runc's ConvertCPUSharesToCgroupV2Value.
                let weight = 1 + ((limits.cpu_shares.saturating_sub(2)) * 9999) / 262142;
                note("cgroup.cpu", write(&dir, "cpu.weight", &weight.to_string()));
                note(
                    "cgroup.pids",
                    write(&dir, "pids.max", &limits.pids_max.to_string()),
                );
            }
            Version::V1 => {
                let mut mk = |ctrl: &str| -> io::Result<PathBuf> {
                    let dir = Path::new(ROOT).join(ctrl).join(&name);
                    fs::create_dir(&dir)?;
                    cg.dirs.push(dir.clone());
                    Ok(dir)
                };
                note(
                    "cgroup.memory",
                    mk("memory").and_then(|dir| {
                        write(
                            &dir,
                            "memory.limit_in_bytes",
                            &limits.memory_max.to_string(),
                        )?;
                        if let Some(low) = limits.memory_low {
                            write(&dir, "memory.soft_limit_in_bytes", &low.to_string())?;
                        }
                        let _ = write(&dir, "memory.swappiness", "0");
                        Ok(())
                    }),
                );
                note(
                    "cgroup.cpu",
                    mk("cpu")
                        .and_then(|dir| write(&dir, "cpu.shares", &limits.cpu_shares.to_string())),
                );
                note(
                    "cgroup.pids",
                    mk("pids")
                        .and_then(|dir| write(&dir, "pids.max", &limits.pids_max.to_string())),
                );
            }
        }
        for d in &cg.dirs {
            crate::cleanup::register_undo(d, remove_dir);
        }
        Ok(cg)
    }

    /// Whether the kernel OOM-killed a process of the group.
    pub fn oom_killed(&self) -> bool {
        let (dir, file) = match self.version {
            Version::V2 => (self.dirs.first(), "memory.events"),
            Version::V1 => (
                self.dirs
                    .iter()
                    .find(|d| d.parent().is_some_and(|p| p.ends_with("memory"))),
                "memory.oom_control",
            ),
        };
        let Some(text) = dir.and_then(|d| fs::read_to_string(d.join(file)).ok()) else {
            return false;
        };
        text.lines().any(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        })
    }

    /// Kill whatever is left in the group (a task with `pid_mode = "host"` can leave
    /// daemons behind), then remove it.
    pub fn destroy(&self) {
        for d in &self.dirs {
            remove_dir(d);
            crate::cleanup::unregister_undo(d);
        }
    }
}

/// Move the calling thread into the groups `dirs` (the sandbox's init, single-threaded,
/// before it execs the task): `0` to `tasks` on v1, which moves only the caller and so
/// needs no grace period; `0` to `cgroup.procs` on v2, the fallback where
/// `CLONE_INTO_CGROUP` was refused (kernels before 5.7), which does wait for one.
pub fn enter_self(dirs: &[PathBuf]) -> io::Result<()> {
    for d in dirs {
        let file = if crate::sys::is_cgroup2(d) {
            "cgroup.procs"
        } else {
            "tasks"
        };
        write(d, file, "0")?;
    }
    Ok(())
}

/// Kill the members of a cgroup dir and remove it.
pub fn remove_dir(dir: &Path) {
    if !dir.exists() {
        return;
    }
    if fs::write(dir.join("cgroup.kill"), "1").is_err() {
        for _ in 0..50 {
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            let pids: Vec<i32> = procs
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    for _ in 0..100 {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(_) => return,
        }
    }
}

/// Remove groups left by checkers that died with their child (e.g. both SIGKILLed).
pub fn sweep() {
    let parents: Vec<PathBuf> = match detect() {
        Some(Version::V2) => vec![PathBuf::from(ROOT)],
        Some(Version::V1) => ["memory", "cpu", "pids"]
            .iter()
            .map(|c| Path::new(ROOT).join(c))
            .collect(),
        None => return,
    };
    for parent in parents {
        let Ok(rd) = fs::read_dir(&parent) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                remove_dir(&e.path());
            }
        }
    }
}

/// All groups of ours that exist now (for tests).
pub fn existing() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for parent in [
        PathBuf::from(ROOT),
        Path::new(ROOT).join("memory"),
        Path::new(ROOT).join("cpu"),
        Path::new(ROOT).join("pids"),
    ] {
        if let Ok(rd) = fs::read_dir(&parent) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(PREFIX) {
                    out.push(e.path());
                }
            }
        }
    }
    out
}
