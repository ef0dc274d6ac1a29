//! Where a check unpacks: nowhere (the static check's model in memory), a tmpfs, or the
//! disk, and why (`--workdir auto|tmpfs|disk`).
//!
//! - A static check needs no tree on disk: the analysis reads the model
//!   ([`crate::archive::model`]), and nothing is written.
//! - A run needs a real tree for the task. `auto` puts it on a tmpfs when the unpacked
//!   size the archive declares (gzip ISIZE, the xz index, zstd frame sizes, a zip's
//!   central directory, a plain tar's length) fits the budget (half the memory
//!   available, `--tmpfs-budget`), and on disk otherwise. Without a declared size the
//!   tar headers are watched as they stream past: once they outgrow the budget, the
//!   check starts again on disk.
//! - As root the tmpfs is the checker's own, mounted on its work dir in a mount
//!   namespace made at start-up, before any thread ([`enter_private_mounts`]): the
//!   sandbox child, spawned later, inherits it, and it vanishes with the process (no
//!   leftover even after SIGKILL). Rootless, the work dir goes under `/dev/shm`.
//! - `--keep` keeps the tree for the user to look at: on disk, always.
//!
//! What the task sees is the same either way: the same paths, modes and mount points.
//! Only the filesystem under its `/` differs (`tmpfs` in `/proc/mounts`, and under
//! `/dev/shm` that mount's `nosuid,nodev`, which change nothing for a task that Nomad
//! gives no setuid file and no device node).

use std::sync::OnceLock;

use crate::archive::{self, ArchiveKind};
use crate::config::CheckOptions;
use crate::error::{Error, Result};
use crate::finding::WorkDir;

/// `--workdir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Workdir {
    #[default]
    Auto,
    Tmpfs,
    Disk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkdirOptions {
    pub choice: Workdir,
    /// `--tmpfs-budget`: the most a tmpfs work dir may hold.
    pub budget: Option<u64>,
}

/// Where the task dir goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Memory,
    /// A tmpfs: our own (root) or `/dev/shm` (rootless), of at most `budget` bytes.
    Tmpfs {
        own: bool,
        budget: u64,
    },
    Disk,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub placement: Placement,
    pub why: String,
    /// `auto` chose the tmpfs: start again on disk if the streamed headers outgrow it.
    pub may_fall_back: bool,
}

impl Decision {
    pub fn disk(why: impl Into<String>) -> Decision {
        Decision {
            placement: Placement::Disk,
            why: why.into(),
            may_fall_back: false,
        }
    }

    /// As the report says it.
    pub fn report(&self, path: Option<String>) -> WorkDir {
        WorkDir {
            placement: match self.placement {
                Placement::Memory => "memory",
                Placement::Tmpfs { .. } => "tmpfs",
                Placement::Disk => "disk",
            },
            path,
            why: self.why.clone(),
        }
    }
}

/// Whether this process has its own mount namespace (root only; see the module doc).
static PRIVATE_MOUNTS: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Make this process's own mount namespace, its mounts slaves of the host's (nothing
/// we mount shows outside; what the host mounts later shows inside). Call before any
/// thread starts: a mount namespace belongs to a thread, and only threads and children
/// made after this share it. Root only; a no-op otherwise.
pub fn enter_private_mounts() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    let r = unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))
        .and_then(|()| {
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_SLAVE,
                None::<&str>,
            )
            .map_err(|e| format!("mount(\"/\", MS_REC|MS_SLAVE): {e}"))
        });
    let _ = PRIVATE_MOUNTS.set(r);
}

/// What this process's memory cgroup still allows, when it has a limit.
fn cgroup_memory_headroom() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |p: String| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
        let (limit, usage) = if ctrl.is_empty() {
            let d = format!("/sys/fs/cgroup{path}");
            (
                read(format!("{d}/memory.max")),
                read(format!("{d}/memory.current")),
            )
        } else if ctrl.split(',').any(|c| c == "memory") {
            let d = format!("/sys/fs/cgroup/memory{path}");
            (
                read(format!("{d}/memory.limit_in_bytes")),
                read(format!("{d}/memory.usage_in_bytes")),
            )
        } else {
            continue;
        };
        if let (Some(l), Some(u)) = (limit, usage) {
            return Some(l.saturating_sub(u));
        }
    }
    None
}

fn private_mounts() -> std::result::Result<(), String> {
    PRIVATE_MOUNTS
        .get()
        .cloned()
        .unwrap_or_else(|| Err("no mount namespace of its own was made at start-up".into()))
}

/// The memory a tmpfs may take by default: half of what is available, less under a
/// cgroup memory limit (tmpfs pages are charged to it).
pub fn default_budget() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let available = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let cgroup = cgroup_memory_headroom().unwrap_or(u64::MAX);
    available.min(cgroup) / 2
}

/// The unpacked size the artifacts declare, when all of them do.
fn predicted(opts: &CheckOptions) -> Option<(u64, String)> {
    let mut total = 0u64;
    let mut bases = Vec::new();
    for a in &opts.artifacts {
        if a.copy.is_some() {
            let n = std::fs::metadata(&a.file).map(|m| m.len()).ok()?;
            total = total.saturating_add(n);
            continue;
        }
        let kind: ArchiveKind =
            archive::kind_of(&a.file, &a.source_name, a.archive, opts.nomad_version)?;
        let (n, basis) = archive::predicted_size(kind, &a.file)?;
        total = total.saturating_add(n);
        bases.push(basis);
    }
    bases.dedup();
    Some((total, bases.join(", ")))
}

/// Why `/dev/shm` cannot hold a rootless work dir, if it cannot.
fn dev_shm_unusable() -> Option<String> {
    let shm = std::path::Path::new("/dev/shm");
    let st = match nix::sys::statvfs::statvfs(shm) {
        Ok(st) => st,
        Err(e) => return Some(format!("/dev/shm: {e}")),
    };
    if st.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC) {
        return Some("/dev/shm is mounted noexec, and the task must run from it".into());
    }
    if nix::unistd::access(shm, nix::unistd::AccessFlags::W_OK).is_err() {
        return Some("/dev/shm is not writable".into());
    }
    None
}

/// Where the free room of `/dev/shm` ends.
fn dev_shm_free() -> u64 {
    nix::sys::statvfs::statvfs("/dev/shm")
        .map(|st| {
            st.blocks_available()
                .saturating_mul(st.fragment_size().max(1))
        })
        .unwrap_or(0)
}

fn human(n: u64) -> String {
    archive::human_size(n)
}

/// Decide where `opts`' task dir goes.
pub fn decide(opts: &CheckOptions) -> Result<Decision> {
    let w = opts.workdir;
    if opts.keep {
        if w.choice == Workdir::Tmpfs {
            return Err(Error::Usage(
                "--keep keeps the task dir on disk for you to look at: leave out --workdir tmpfs"
                    .into(),
            ));
        }
        return Ok(Decision::disk(
            "--keep: the task dir is kept on disk for you",
        ));
    }
    match (w.choice, opts.run.is_some()) {
        (Workdir::Disk, _) => return Ok(Decision::disk("--workdir disk")),
        (Workdir::Auto, false) => {
            return Ok(Decision {
                placement: Placement::Memory,
                why: "a static check: the unpacked tree is a model in memory, nothing is written"
                    .into(),
                may_fall_back: false,
            });
        }
        _ => {}
    }
    let explicit = w.choice == Workdir::Tmpfs;
    let root = nix::unistd::geteuid().is_root();
    let unusable = if root {
        private_mounts().err()
    } else {
        dev_shm_unusable()
    };
    if let Some(why) = unusable {
        if explicit {
            return Err(Error::Unsupported(format!("--workdir tmpfs: {why}")));
        }
        return Ok(Decision::disk(format!("no tmpfs here ({why})")));
    }
    let mut budget = w.budget.unwrap_or_else(default_budget);
    if !root {
        budget = budget.min(dev_shm_free());
    }
    let (what, own) = if root {
        ("a tmpfs of its own", true)
    } else {
        ("/dev/shm", false)
    };
    let placement = Placement::Tmpfs { own, budget };
    let on_tmpfs = |why: String, may_fall_back: bool| Decision {
        placement: placement.clone(),
        why,
        may_fall_back,
    };
    Ok(match predicted(opts) {
        // Room for the entries' own blocks beside the bytes.
        Some((n, basis)) if n.saturating_add(n / 16) > budget && !explicit => {
            Decision::disk(format!(
                "the bundle unpacks to {} ({basis}), over the tmpfs budget of {}",
                human(n),
                human(budget)
            ))
        }
        // A declared size can be wrong (a gzip's trailer holds only its last member's
        // size, modulo 4 GiB): the streamed headers are watched all the same.
        Some((n, basis)) => on_tmpfs(
            format!(
                "the bundle unpacks to {} ({basis}), within the budget of {}: unpacked on {what}",
                human(n),
                human(budget)
            ),
            !explicit,
        ),
        None => on_tmpfs(
            format!(
                "the archive does not declare its unpacked size: unpacked on {what} (budget {}), watching the tar headers, and on disk if they outgrow it",
                human(budget)
            ),
            !explicit,
        ),
    })
}
