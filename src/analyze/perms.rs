//! Unix permission checks as the task's credentials see them, and the task's noexec
//! mounts.
//!
//! The exec driver's capabilities never help here: for a non-root user they sit in the
//! ambient set, which only becomes effective *after* `execve`; during the exec itself
//! (and runc's `LookPath`) the effective set is empty (§3.2 [I]).

use crate::nomad::NomadVersion;
use crate::rootfs::Stat;

pub const READ: u32 = 4;
pub const EXEC: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
}

impl Creds {
    /// Whether these credentials may `want` (READ/EXEC; EXEC on a directory = search).
    /// No supplementary groups: Nomad ≥ 1.11.1 calls `setgroups([])`, and ≤ 1.11.0's
    /// runc only adds those listed in the chroot's `/etc/group` (rarely `nobody`).
    pub fn may(&self, st: &Stat, want: u32) -> bool {
        if self.uid == 0 {
            // Root bypasses read/search checks, but exec still needs one x bit.
            return want & EXEC == 0 || st.is_dir() || st.mode & 0o111 != 0;
        }
        let bits = if st.uid == self.uid {
            (st.mode >> 6) & 7
        } else if st.gid == self.gid {
            (st.mode >> 3) & 7
        } else {
            st.mode & 7
        };
        bits & want == want
    }

    pub fn describe(&self) -> String {
        format!("uid {} gid {}", self.uid, self.gid)
    }
}

/// The noexec mount a task path sits on, if any: `secrets/` and `private/` are tmpfs
/// noexec (`hashicorp/nomad:client/allocdir/fs_linux.go` `createSecretDir`), and runc
/// mounts `/dev/shm`, `/dev/mqueue`, `/proc` and `/sys` noexec (§1.4).
pub fn noexec_mount(task_path: &str, version: NomadVersion) -> Option<&'static str> {
    let mut mounts: Vec<&'static str> = vec![
        "/secrets",
        "/dev/shm",
        "/dev/mqueue",
        "/dev/pts",
        "/proc",
        "/sys",
    ];
    if version.has_private_dir() {
        mounts.push("/private");
    }
    mounts.into_iter().find(|m| {
        task_path == *m
            || task_path
                .strip_prefix(m)
                .is_some_and(|r| r.starts_with('/'))
    })
}

/// Render a mode like `ls`: `0750`.
pub fn mode_str(st: &Stat) -> String {
    format!("{:04o}", st.mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::FileKind;

    fn st(mode: u32, uid: u32, gid: u32, kind: FileKind) -> Stat {
        Stat {
            kind,
            mode,
            uid,
            gid,
            size: 0,
        }
    }

    #[test]
    fn owner_group_other() {
        let nobody = Creds {
            uid: 65534,
            gid: 65534,
        };
        assert!(!nobody.may(&st(0o750, 0, 0, FileKind::Dir), EXEC));
        assert!(nobody.may(&st(0o755, 0, 0, FileKind::Dir), EXEC));
        assert!(nobody.may(&st(0o700, 65534, 0, FileKind::File), READ));
        assert!(!nobody.may(&st(0o644, 0, 0, FileKind::File), EXEC));
        // Modern Nomad runs with gid 0: group bits of root-owned files apply.
        let modern = Creds { uid: 65534, gid: 0 };
        assert!(modern.may(&st(0o750, 0, 0, FileKind::Dir), EXEC));
        let root = Creds { uid: 0, gid: 0 };
        assert!(!root.may(&st(0o644, 0, 0, FileKind::File), EXEC));
        assert!(root.may(&st(0o000, 5, 5, FileKind::File), READ));
    }

    #[test]
    fn noexec_paths() {
        let v = NomadVersion::NEWEST;
        assert_eq!(noexec_mount("/secrets/app", v), Some("/secrets"));
        assert_eq!(noexec_mount("/secretsx/app", v), None);
        assert_eq!(noexec_mount("/private/x", v), Some("/private"));
        assert_eq!(noexec_mount("/private/x", "1.5".parse().unwrap()), None);
        assert_eq!(noexec_mount("/local/app", v), None);
    }
}
