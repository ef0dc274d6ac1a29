//! The sandbox as data: everything the child does, decided in the parent from the task
//! dir, the task spec and the Nomad version, then sent to `__sandbox-child` as JSON in
//! two parts: the monitor's [`Setup`], as early as it is known, and the init's
//! [`InitPlan`] once the bundle is unpacked and analysed.
//!
//! Building a plan reads the task dir (to split chroot_env binds where the artifact
//! already has files) but changes nothing.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clientconfig::ClientConfig;
use crate::config::{JobType, Network, RunOptions, TaskSpec};
use crate::nomad::NomadVersion;
use crate::taskdir::{Layer, LayerOrigin, TaskDir};

/// Mount flags as raw `MS_*` bits, so the plan stays plain data.
pub type Flags = u64;

const NOSUID: Flags = libc::MS_NOSUID;
const NODEV: Flags = libc::MS_NODEV;
const NOEXEC: Flags = libc::MS_NOEXEC;
/// runc's `defaultMountFlags`.
const DEFAULT: Flags = NOEXEC | NOSUID | NODEV;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountOp {
    /// Bind the task dir onto itself: pivot_root needs the new root to be a mount.
    BindRoot,
    /// A writable overlay mounted over `lower` itself (a host path: the alloc dir Nomad
    /// built), its changes in `upper`: first of all, so that nothing after it can write
    /// to the real directory, and it fails the setup if the kernel refuses it.
    WritableOverlay {
        lower: PathBuf,
        upper: PathBuf,
        work: PathBuf,
    },
    /// Bind a host path at a task path (created as a file or dir to match).
    Bind {
        src: PathBuf,
        dest: String,
        read_only: bool,
        recursive: bool,
    },
    /// A read-only overlay of the artifact's directory over the host's, where both
    /// have files: the artifact's files win, directories merge, nothing is copied.
    /// `fallback` (per-entry binds) is used if the kernel refuses the overlay.
    Overlay {
        dest: String,
        /// Host paths, top first: the artifact's directory, then the host's.
        lowers: Vec<PathBuf>,
        fallback: Vec<MountOp>,
    },
    /// Mount a pseudo filesystem.
    Fs {
        fstype: String,
        dest: String,
        flags: Flags,
        data: String,
        /// Failing is noted, not fatal (e.g. mqueue without an own IPC namespace).
        optional: bool,
    },
    /// A device node: `mknod` as root, a bind of the host's node when rootless.
    Device {
        dest: String,
        major: u64,
        minor: u64,
    },
    Symlink {
        target: String,
        dest: String,
    },
    /// An empty file (e.g. the `.nomad-mount` marker of the secrets tmpfs).
    File {
        dest: String,
        mode: u32,
    },
    /// runc's MaskPaths: `/dev/null` over a file, a read-only tmpfs over a directory.
    Mask {
        dest: String,
    },
    /// runc's ReadonlyPaths: bind onto itself, then remount read-only.
    ReadOnly {
        dest: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Identity {
    /// Nomad ≤ 1.11.0: runc resolves the name in the chroot's `/etc/passwd`.
    InChroot { user: String },
    /// Nomad ≥ 1.11.1: the host's uid, gid 0, no supplementary groups.
    Host { uid: u32, gid: u32 },
}

/// The rootless user namespace: one id each, written by the child itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub inside_uid: u32,
    pub outside_uid: u32,
    pub inside_gid: u32,
    pub outside_gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetMode {
    Host,
    /// Own namespace, loopback down.
    None,
    /// Own namespace, loopback up.
    Bridge,
    /// The allocation's namespace, which `job --run-job` made and configured (veth on
    /// its bridge): the path opens it (`/proc/<checker>/fd/<n>`).
    Join(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapPlan {
    /// `CAP_*` names the task keeps.
    pub keep: Vec<String>,
    /// Nomad ≥ 1.5.6 sets permitted, inheritable and ambient for a non-root user.
    pub ambient: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    /// Passes on exit 0; stopped after `timeout_ms`.
    Batch { timeout_ms: u64 },
    /// Passes when still running after `healthy_ms`; then stopped.
    Service { healthy_ms: u64 },
    /// `shell`: waits for the task with the terminal attached.
    Interactive,
    /// `job --run-job`: runs until the checker stops it (SIGTERM to the sandbox
    /// child), which then stops it as Nomad does (kill_signal, kill_timeout, SIGKILL).
    Supervised,
}

impl Lifecycle {
    /// How long the task runs before it is stopped (timed out, or healthy); `None`
    /// for `shell`.
    pub fn limit(self) -> Option<std::time::Duration> {
        match self {
            Lifecycle::Batch { timeout_ms: ms } | Lifecycle::Service { healthy_ms: ms } => {
                Some(std::time::Duration::from_millis(ms))
            }
            Lifecycle::Interactive | Lifecycle::Supervised => None,
        }
    }
}

/// What the monitor needs: namespaces, cgroups and the lifecycle. All of it is known
/// before the bundle is unpacked (except a rootless id map read from the chroot's
/// `/etc/passwd`), so a child started ahead builds its namespaces and forks the init
/// while the checker unpacks, and only the [`InitPlan`] is left for after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The checker's pid: the child cleans up when it disappears.
    pub parent_pid: i32,
    /// Removed by the child if the checker dies without removing it.
    pub remove_on_orphan: Option<PathBuf>,
    /// cgroup directories: the init enters them; the child removes them if the checker
    /// dies.
    pub cgroups: Vec<PathBuf>,
    pub userns: Option<IdMap>,
    pub pid_ns: bool,
    pub ipc_ns: bool,
    pub net: NetMode,
    pub lifecycle: Lifecycle,
    pub kill_signal: i32,
    pub kill_timeout_ms: u64,
    pub trace: bool,
    /// Detach from the checker's terminal session (not for `shell`).
    pub new_session: bool,
}

/// What the init needs: the root and the command. It depends on the unpacked task dir
/// (binds split where the artifact has files) and on the analysis (argv0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitPlan {
    /// The host task dir, the new root.
    pub root: PathBuf,
    /// In order.
    pub mounts: Vec<MountOp>,
    pub identity: Identity,
    pub caps: CapPlan,
    pub no_new_privs: bool,
    pub seccomp: bool,
    pub cwd: Option<String>,
    pub argv0: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub exec_failure_exit_code: i32,
}

/// `alloc/logs/<task>.stdout.0` and `.stderr.0` on the host, as Nomad's logmon names
/// them (the first of the rotation). They are the sandbox child's stdout and stderr
/// (see `Launch::spawn`), which the init and the task inherit.
pub fn log_paths(td: &TaskDir) -> [PathBuf; 2] {
    // Over a real alloc dir they go to our work dir (Nomad's own logs stay untouched,
    // and the task sees those through the overlay).
    let logs = match &td.view {
        Some(v) => v.scratch.join("logs"),
        None => td.shared_alloc().join("logs"),
    };
    ["stdout", "stderr"].map(|s| logs.join(format!("{}.{s}.0", td.task_name)))
}

/// Inputs of [`Setup::build`].
pub struct SetupInput<'a> {
    /// The task dir's alloc dir (see `TaskDir`), the child's to remove if we die.
    pub alloc_dir: &'a Path,
    pub task: &'a TaskSpec,
    pub run: &'a RunOptions,
    pub version: NomadVersion,
    pub client: &'a ClientConfig,
    pub rootless: Option<IdMap>,
    pub cgroups: Vec<PathBuf>,
    pub interactive: bool,
}

impl Setup {
    pub fn build(i: SetupInput<'_>) -> Setup {
        let lifecycle = if i.interactive {
            Lifecycle::Interactive
        } else {
            match i.run.job_type {
                JobType::Batch => Lifecycle::Batch {
                    timeout_ms: i.run.timeout.as_millis() as u64,
                },
                JobType::Service => Lifecycle::Service {
                    healthy_ms: i.run.healthy_after.as_millis() as u64,
                },
            }
        };
        let pid_host = i.task.pid_mode_host || i.client.default_pid_mode.as_deref() == Some("host");
        let ipc_host = i.task.ipc_mode_host || i.client.default_ipc_mode.as_deref() == Some("host");
        Setup {
            parent_pid: std::process::id() as i32,
            remove_on_orphan: Some(i.alloc_dir.to_owned()),
            cgroups: i.cgroups,
            userns: i.rootless,
            pid_ns: i.version.private_pid_ipc() && !pid_host,
            ipc_ns: i.version.private_pid_ipc() && !ipc_host,
            net: match i.task.network {
                Network::Host => NetMode::Host,
                Network::None => NetMode::None,
                Network::Bridge => NetMode::Bridge,
            },
            lifecycle,
            kill_signal: parse_signal(&i.run.kill_signal).unwrap_or(libc::SIGINT),
            kill_timeout_ms: i.run.kill_timeout.as_millis() as u64,
            trace: i.run.trace && !i.interactive && cfg!(target_arch = "x86_64"),
            new_session: !i.interactive,
        }
    }
}

/// `SIGINT`, `INT` or `2`.
fn parse_signal(s: &str) -> Option<i32> {
    use nix::sys::signal::Signal;
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).ok().map(|s| s as i32);
    }
    let up = t.to_ascii_uppercase();
    Signal::from_str(&up)
        .or_else(|_| Signal::from_str(&format!("SIG{up}")))
        .ok()
        .map(|s| s as i32)
}

/// Inputs of [`InitPlan::build`] beyond the task dir and the [`Setup`].
pub struct InitInput<'a> {
    pub taskdir: &'a TaskDir,
    pub task: &'a TaskSpec,
    pub run: &'a RunOptions,
    pub version: NomadVersion,
    pub env: Vec<String>,
    pub argv0: String,
    pub identity: Identity,
    pub caps: Vec<String>,
    /// Extra read-only binds (the host busybox for `shell`).
    pub extra_binds: Vec<(PathBuf, String)>,
}

impl InitPlan {
    pub fn build(i: InitInput<'_>, setup: &Setup) -> InitPlan {
        let rootless = setup.userns.is_some();
        let mut mounts = task_dir_mounts(i.taskdir, rootless);
        for (src, dest) in &i.extra_binds {
            mounts.push(MountOp::Bind {
                src: src.clone(),
                dest: dest.clone(),
                read_only: true,
                recursive: false,
            });
        }
        mounts.extend(runc_mounts(
            rootless,
            setup.net != NetMode::Host,
            setup.ipc_ns,
        ));
        InitPlan {
            root: i.taskdir.root.clone(),
            mounts,
            identity: i.identity,
            caps: CapPlan {
                keep: i.caps,
                ambient: i.version.sets_ambient_caps(),
            },
            no_new_privs: i.run.harden,
            seccomp: i.run.harden,
            cwd: i.task.work_dir.clone(),
            argv0: i.argv0,
            args: i.task.args.clone(),
            env: i.env,
            exec_failure_exit_code: i.version.exec_failure_exit_code(),
        }
    }
}

/// The task dir's own mounts: chroot_env layers, `/alloc`, `secrets`, `private`.
fn task_dir_mounts(td: &TaskDir, rootless: bool) -> Vec<MountOp> {
    let mut ops = Vec::new();
    if let Some(v) = &td.view {
        ops.push(MountOp::WritableOverlay {
            lower: td.alloc_dir.clone(),
            upper: v.scratch.join("upper"),
            work: v.scratch.join("work"),
        });
    }
    ops.push(MountOp::BindRoot);
    let _ = rootless;
    for layer in td.layers() {
        match layer.origin {
            LayerOrigin::ChrootEnv => layer_binds(&td.root, &layer, &mut ops),
            // hashicorp/nomad:client/allocdir/fs_linux.go linkDir: a plain MS_BIND,
            // read-write; 2.0.1 adds a read-only bind of alloc/logs (CVE-2026-6959).
            LayerOrigin::AllocBind => {
                ops.push(MountOp::Bind {
                    src: layer.src.clone(),
                    dest: layer.dest.clone(),
                    read_only: false,
                    recursive: false,
                });
                if td.version.alloc_logs_read_only() {
                    ops.push(MountOp::Bind {
                        src: layer.src.join("logs"),
                        dest: format!("{}/logs", layer.dest),
                        read_only: true,
                        recursive: false,
                    });
                }
            }
        }
    }
    // hashicorp/nomad:client/allocdir/fs_linux.go createSecretDir: tmpfs, noexec, 1 MB.
    let mut tmpfs_dirs = vec!["/secrets"];
    if td.version.has_private_dir() {
        tmpfs_dirs.push("/private");
    }
    for d in tmpfs_dirs {
        ops.push(MountOp::Fs {
            fstype: "tmpfs".into(),
            dest: d.into(),
            flags: DEFAULT,
            data: "size=1m,mode=0777".into(),
            optional: false,
        });
    }
    ops.push(MountOp::File {
        dest: "/secrets/.nomad-mount".into(),
        mode: 0o644,
    });
    ops
}

/// A chroot_env entry. Nomad copies it into the task dir before unpacking artifacts,
/// so where the artifact already has a path, the artifact's version is what the task
/// sees. We bind the host path read-only instead of copying. Where the artifact has
/// files inside the destination, a read-only overlay (artifact on top) gives the same
/// view without thousands of binds (a bundle with its own `bin/` over the host's
/// `/bin`); if the kernel refuses it, the bind is split instead: that directory level
/// is kept and only the host children the artifact lacks are bound, recursing along
/// the artifact's paths only.
fn layer_binds(root: &Path, layer: &Layer, ops: &mut Vec<MountOp>) {
    let host_dest = root.join(layer.dest.trim_start_matches('/'));
    if needs_split(&layer.src, &host_dest) {
        let mut fallback = Vec::new();
        split_bind(&layer.src, &layer.dest, &host_dest, &mut fallback);
        let src = fs::canonicalize(&layer.src).unwrap_or_else(|_| layer.src.clone());
        ops.push(MountOp::Overlay {
            dest: layer.dest.clone(),
            lowers: vec![host_dest, src],
            fallback,
        });
    } else {
        split_bind(&layer.src, &layer.dest, &host_dest, ops);
    }
}

/// Whether the artifact has a non-empty directory where the layer has a directory.
fn needs_split(src: &Path, host_dest: &Path) -> bool {
    let dest_dir = fs::symlink_metadata(host_dest).is_ok_and(|m| m.is_dir());
    let src_dir = fs::metadata(src).is_ok_and(|m| m.is_dir());
    dest_dir && src_dir && fs::read_dir(host_dest).is_ok_and(|mut rd| rd.next().is_some())
}

fn split_bind(src: &Path, dest: &str, host_dest: &Path, ops: &mut Vec<MountOp>) {
    let Ok(dest_meta) = fs::symlink_metadata(host_dest) else {
        ops.push(MountOp::Bind {
            src: src.to_owned(),
            dest: dest.to_owned(),
            read_only: true,
            recursive: false,
        });
        return;
    };
    let src_is_dir = fs::metadata(src).map(|m| m.is_dir()).unwrap_or(false);
    if !dest_meta.is_dir() || !src_is_dir {
        // The artifact has a file (or the host a file where the artifact has a dir):
        // the artifact wins.
        return;
    }
    let present: BTreeSet<_> = match fs::read_dir(host_dest) {
        Ok(rd) => rd.flatten().map(|e| e.file_name()).collect(),
        Err(_) => return,
    };
    if present.is_empty() {
        ops.push(MountOp::Bind {
            src: src.to_owned(),
            dest: dest.to_owned(),
            read_only: true,
            recursive: false,
        });
        return;
    }
    let Ok(rd) = fs::read_dir(src) else { return };
    let mut children: Vec<_> = rd.flatten().collect();
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name();
        let child_dest = format!("{}/{}", dest.trim_end_matches('/'), name.to_string_lossy());
        let child_src = child.path();
        if present.contains(&name) {
            split_bind(&child_src, &child_dest, &host_dest.join(&name), ops);
            continue;
        }
        match fs::symlink_metadata(&child_src) {
            // A bind would follow the link; Nomad's copy keeps it as a link.
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = fs::read_link(&child_src) {
                    ops.push(MountOp::Symlink {
                        target: target.to_string_lossy().into_owned(),
                        dest: child_dest,
                    });
                }
            }
            Ok(m) if m.is_dir() || m.is_file() => ops.push(MountOp::Bind {
                src: child_src,
                dest: child_dest,
                read_only: true,
                recursive: false,
            }),
            // Sockets, fifos and devices are not copied by Nomad's embedDirs either.
            _ => {}
        }
    }
}

/// runc's mounts, devices, symlinks, masked and read-only paths, in its order
/// (`hashicorp/nomad:drivers/shared/executor/executor_linux.go` `configureIsolation`,
/// runc `libcontainer/rootfs_linux.go`, `specconv.AllowedDevices`).
fn runc_mounts(rootless: bool, own_netns: bool, own_ipcns: bool) -> Vec<MountOp> {
    let fs = |fstype: &str, dest: &str, flags: Flags, data: &str, optional: bool| MountOp::Fs {
        fstype: fstype.into(),
        dest: dest.into(),
        flags,
        data: data.into(),
        optional,
    };
    let mut ops = vec![
        fs(
            "tmpfs",
            "/dev",
            NOSUID | libc::MS_STRICTATIME,
            "mode=755",
            false,
        ),
        fs("proc", "/proc", DEFAULT, "", false),
        fs(
            "devpts",
            "/dev/pts",
            NOSUID | NOEXEC,
            // gid 5 (tty) is not mapped in a rootless user namespace.
            if rootless {
                "newinstance,ptmxmode=0666,mode=0620"
            } else {
                "newinstance,ptmxmode=0666,mode=0620,gid=5"
            },
            false,
        ),
        fs("tmpfs", "/dev/shm", DEFAULT, "mode=1777,size=65536k", false),
        // Needs an IPC namespace owned by our user namespace when rootless.
        fs("mqueue", "/dev/mqueue", DEFAULT, "", rootless && !own_ipcns),
    ];
    if rootless && !own_netns {
        // sysfs can only be mounted by the owner of the network namespace; a rootless
        // task on the host network gets the host's /sys, read-only, as rootless podman.
        ops.push(MountOp::Bind {
            src: "/sys".into(),
            dest: "/sys".into(),
            read_only: true,
            recursive: true,
        });
    } else {
        ops.push(fs("sysfs", "/sys", DEFAULT | libc::MS_RDONLY, "", false));
    }
    for (name, major, minor) in [
        ("null", 1, 3),
        ("random", 1, 8),
        ("full", 1, 7),
        ("tty", 5, 0),
        ("zero", 1, 5),
        ("urandom", 1, 9),
    ] {
        ops.push(MountOp::Device {
            dest: format!("/dev/{name}"),
            major,
            minor,
        });
    }
    for (target, dest) in [
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("/proc/kcore", "/dev/core"),
        ("pts/ptmx", "/dev/ptmx"),
    ] {
        ops.push(MountOp::Symlink {
            target: target.into(),
            dest: dest.into(),
        });
    }
    for p in ["/proc/kcore", "/sys/firmware"] {
        ops.push(MountOp::Mask { dest: p.into() });
    }
    for p in ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"] {
        ops.push(MountOp::ReadOnly { dest: p.into() });
    }
    ops
}

/// Nomad's capability calculation, `hashicorp/nomad:drivers/shared/capabilities/set.go`
/// `Calculate`: `(NomadDefaults ∩ allow_caps) − cap_drop ∪ cap_add`, where `cap_add`
/// beyond `allow_caps` is an error. Names are normalised as Nomad does (`CAP_` prefix
/// and case ignored; `all` means every capability).
pub fn calculate_caps(
    allow: &[String],
    cap_add: &[String],
    cap_drop: &[String],
) -> Result<Vec<String>, String> {
    fn norm(c: &str) -> String {
        let lower = c.trim().to_ascii_lowercase();
        lower.strip_prefix("cap_").unwrap_or(&lower).to_owned()
    }
    let all: BTreeSet<String> = caps::all().iter().map(|c| norm(&c.to_string())).collect();
    let expand = |list: &[String]| -> BTreeSet<String> {
        let set: BTreeSet<String> = list.iter().map(|c| norm(c)).collect();
        if set.contains("all") {
            all.clone()
        } else {
            set
        }
    };
    let allow = expand(allow);
    let adds = expand(cap_add);
    let missing: Vec<String> = adds.difference(&allow).cloned().collect();
    if !missing.is_empty() {
        return Err(format!(
            "driver does not allow the following capabilities: {}",
            missing.join(", ")
        ));
    }
    let defaults: BTreeSet<String> = crate::nomad::DEFAULT_ALLOW_CAPS
        .iter()
        .map(|c| norm(c))
        .collect();
    let mut caps: BTreeSet<String> = defaults.intersection(&allow).cloned().collect();
    let drops = expand(cap_drop);
    caps.retain(|c| !drops.contains(c));
    caps.extend(adds);
    Ok(caps
        .into_iter()
        .map(|c| format!("CAP_{}", c.to_ascii_uppercase()))
        .collect())
}

/// The uid and gid a name has in a passwd file (numeric names need no entry).
pub fn passwd_lookup(passwd: &str, user: &str) -> Option<(u32, u32)> {
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == user {
            return Some((f[2].parse().ok()?, f[3].parse().ok()?));
        }
    }
    let uid: u32 = user.parse().ok()?;
    let gid = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[2].parse() == Ok(uid))
        .and_then(|f| f[3].parse().ok())
        .unwrap_or(uid);
    Some((uid, gid))
}

/// Supplementary groups of `user` in a group file.
pub fn group_lookup(group: &str, user: &str) -> Vec<u32> {
    group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[3].split(',').any(|m| m == user))
                .then(|| f[2].parse().ok())
                .flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taskdir::ChrootEnv;

    #[test]
    fn caps_follow_nomads_calculation() {
        let allow: Vec<String> = crate::nomad::DEFAULT_ALLOW_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let caps = calculate_caps(&allow, &[], &["chown".into()]).unwrap();
        assert!(caps.contains(&"CAP_KILL".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(caps.len(), 12);
        let err = calculate_caps(&allow, &["NET_RAW".into(), "sys_admin".into()], &[]).unwrap_err();
        assert_eq!(
            err,
            "driver does not allow the following capabilities: net_raw, sys_admin"
        );
        let caps =
            calculate_caps(&["all".into()], &["CAP_NET_RAW".into()], &["all".into()]).unwrap();
        assert_eq!(caps, vec!["CAP_NET_RAW".to_string()]);
    }

    #[test]
    fn passwd_and_group_lookups() {
        let pw = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n";
        assert_eq!(passwd_lookup(pw, "nobody"), Some((65534, 65534)));
        assert_eq!(passwd_lookup(pw, "app"), None);
        assert_eq!(passwd_lookup("", "1000"), Some((1000, 1000)));
        let gr = "tty:x:5:\nstaff:x:50:app,other\n";
        assert_eq!(group_lookup(gr, "app"), vec![50]);
    }

    #[test]
    fn artifact_wins_inside_a_layer() {
        let host = tempfile::tempdir().unwrap();
        fs::create_dir_all(host.path().join("etc/ssl")).unwrap();
        fs::write(host.path().join("etc/passwd"), "host").unwrap();
        fs::write(host.path().join("etc/ssl/cert.pem"), "c").unwrap();
        fs::write(host.path().join("etc/hosts"), "h").unwrap();
        std::os::unix::fs::symlink("hosts", host.path().join("etc/hosts.link")).unwrap();
        let mut env = ChrootEnv::none();
        env.entries
            .insert(host.path().join("etc").display().to_string(), "/etc".into());
        let td = TaskDir::build("t", NomadVersion::NEWEST, env).unwrap();
        fs::create_dir_all(td.root.join("etc/ssl")).unwrap();
        fs::write(td.root.join("etc/passwd"), "artifact").unwrap();
        fs::write(td.root.join("etc/ssl/own.pem"), "artifact").unwrap();
        let ops = task_dir_mounts(&td, false);
        let overlay = ops
            .iter()
            .find_map(|o| match o {
                MountOp::Overlay {
                    dest,
                    lowers,
                    fallback,
                } => Some((dest.clone(), lowers.clone(), fallback.clone())),
                _ => None,
            })
            .expect("an overlay for /etc");
        assert_eq!(overlay.0, "/etc");
        assert_eq!(overlay.1[0], td.root.join("etc"));
        let binds: Vec<String> = overlay
            .2
            .iter()
            .filter_map(|o| match o {
                MountOp::Bind { dest, .. } => Some(dest.clone()),
                MountOp::Symlink { dest, .. } => Some(format!("link {dest}")),
                _ => None,
            })
            .collect();
        assert_eq!(
            binds,
            vec!["/etc/hosts", "link /etc/hosts.link", "/etc/ssl/cert.pem"],
            "{ops:?}"
        );
    }

    #[test]
    fn runc_order_starts_with_dev_then_proc() {
        let ops = runc_mounts(false, false, true);
        let dests: Vec<&str> = ops
            .iter()
            .filter_map(|o| match o {
                MountOp::Fs { dest, .. } => Some(dest.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            dests,
            [
                "/dev",
                "/proc",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys"
            ]
        );
    }
}
