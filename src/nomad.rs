//! Facts about Nomad that several stages need, keyed by Nomad version.
//!
//! Every behaviour that changed between releases is a method on [`NomadVersion`], so a
//! stage asks "does this version do X" instead of comparing numbers itself. The sources
//! are in `../shared/docs/nomad-exec.md`; each method cites the Nomad change it mirrors.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A Nomad release, as given to `--nomad-version` (`2.0`, `1.11.1`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NomadVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl NomadVersion {
    /// The newest release we model; the default of `--nomad-version`.
    pub const NEWEST: NomadVersion = NomadVersion::new(2, 0, 0);

    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        NomadVersion {
            major,
            minor,
            patch,
        }
    }

    fn at_least(self, major: u32, minor: u32, patch: u32) -> bool {
        self >= NomadVersion::new(major, minor, patch)
    }

    /// `decompression_file_count_limit` / `decompression_size_limit` exist (1.5.0, #16151).
    pub fn has_decompression_limits(self) -> bool {
        self.at_least(1, 5, 0)
    }

    /// go-getter 1.5.0 (Nomad 1.0) had no `tar`, `tar.zst`, `tzst` decompressors.
    pub fn getter_knows_plain_tar_and_zstd(self) -> bool {
        self.at_least(1, 4, 0)
    }

    /// The `private/` tmpfs task dir (1.6.0, commit 6f04b91912).
    pub fn has_private_dir(self) -> bool {
        self.at_least(1, 6, 0)
    }

    /// Exit code when runc's init cannot execve the task: runc ≥ 1.2 (Nomad ≥ 1.10)
    /// prints the error and exits 255; Nomad's shim around runc 1.1 exits 1
    /// (`hashicorp/nomad:drivers/shared/executor/libcontainer_nsenter_linux.go`).
    pub fn exec_failure_exit_code(self) -> i32 {
        if self.at_least(1, 10, 0) { 255 } else { 1 }
    }

    /// ≤ 1.11.0 passes the user name to runc, which resolves it in the chroot's
    /// `/etc/passwd`; ≥ 1.11.1 resolves it on the host and runs with gid 0 (PR #27092).
    pub fn resolves_user_in_chroot(self) -> bool {
        !self.at_least(1, 11, 1)
    }

    /// Capabilities reach the ambient set for non-root users (1.5.6, #16643).
    pub fn sets_ambient_caps(self) -> bool {
        self.at_least(1, 5, 6)
    }

    /// `/alloc/logs` is bind-mounted read-only (2.0.1, CVE-2026-6959).
    pub fn alloc_logs_read_only(self) -> bool {
        self.at_least(2, 0, 1)
    }

    /// `/run/systemd/resolve` is in the default chroot_env (1.0.0, #8982).
    pub fn default_chroot_has_systemd_resolve(self) -> bool {
        self.at_least(1, 0, 0)
    }

    /// Private PID and IPC namespaces (1.0.3, CVE-2021-3283).
    pub fn private_pid_ipc(self) -> bool {
        self.at_least(1, 0, 3)
    }
}

impl Default for NomadVersion {
    fn default() -> Self {
        NomadVersion::NEWEST
    }
}

impl fmt::Display for NomadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

impl Serialize for NomadVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for NomadVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim().trim_start_matches('v');
        let mut parts = trimmed.split('.');
        let mut next = |name: &str, required: bool| -> Result<u32, String> {
            match parts.next() {
                Some(p) => p.parse::<u32>().map_err(|_| {
                    format!("`{s}` is not a Nomad version: the {name} part `{p}` is not a number (expected e.g. 2.0 or 1.11.1)")
                }),
                None if required => Err(format!(
                    "`{s}` is not a Nomad version: expected MAJOR.MINOR[.PATCH], e.g. 2.0 or 1.11.1"
                )),
                None => Ok(0),
            }
        };
        let major = next("major", true)?;
        let minor = next("minor", true)?;
        let patch = next("patch", false)?;
        if parts.next().is_some() {
            return Err(format!("`{s}` is not a Nomad version: too many parts"));
        }
        let v = NomadVersion::new(major, minor, patch);
        if v < NomadVersion::new(1, 0, 0) || v > NomadVersion::new(2, 99, 99) {
            return Err(format!(
                "Nomad {v} is not modelled: versions 1.0 to 2.x are supported"
            ));
        }
        Ok(v)
    }
}

/// Nomad's default `chroot_env`, `hashicorp/nomad:client/config/config.go` `DefaultChrootEnv`.
/// Pairs are (host source, task destination).
pub fn default_chroot_env(version: NomadVersion) -> Vec<(&'static str, &'static str)> {
    let mut map = vec![
        ("/bin", "/bin"),
        ("/etc", "/etc"),
        ("/lib", "/lib"),
        ("/lib32", "/lib32"),
        ("/lib64", "/lib64"),
        ("/run/resolvconf", "/run/resolvconf"),
        ("/sbin", "/sbin"),
        ("/usr", "/usr"),
    ];
    if version.default_chroot_has_systemd_resolve() {
        map.push(("/run/systemd/resolve", "/run/systemd/resolve"));
    }
    map.sort();
    map
}

/// The exec plugin's default `allow_caps`,
/// `hashicorp/nomad:drivers/shared/capabilities/defaults.go` `NomadDefaults`.
pub const DEFAULT_ALLOW_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Variables of the agent's environment that never reach a task,
/// `hashicorp/nomad:command/agent/host/host.go` `DefaultEnvDenyList`.
pub const ENV_DENYLIST: &[&str] = &[
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_HTTP_TOKEN_FILE",
    "NOMAD_TOKEN",
    "VAULT_TOKEN",
    "CONSUL_LICENSE",
    "NOMAD_LICENSE",
    "VAULT_LICENSE",
    "*_LICENSE_PATH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_METADATA_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
];

/// Whether `name` matches the denylist (entries may end or start with `*`).
pub fn env_denied(name: &str) -> bool {
    ENV_DENYLIST.iter().any(|pat| {
        if let Some(suffix) = pat.strip_prefix('*') {
            name.ends_with(suffix)
        } else if let Some(prefix) = pat.strip_suffix('*') {
            name.starts_with(prefix)
        } else {
            name == *pat
        }
    })
}

/// Default task resources, `hashicorp/nomad:nomad/structs/structs.go` `DefaultResources`.
pub const DEFAULT_MEMORY_MB: u64 = 300;
pub const DEFAULT_CPU_MHZ: u64 = 100;

/// `decompression_file_count_limit` and `decompression_size_limit` defaults,
/// `hashicorp/nomad:nomad/structs/config/artifact.go` `DefaultArtifactConfig`.
pub const DEFAULT_FILE_COUNT_LIMIT: u64 = 4096;
pub const DEFAULT_SIZE_LIMIT: u64 = 100 * 1000 * 1000 * 1000;

/// Where a client keeps allocations when we are not told: the `data_dir` of HashiCorp's
/// packaged `/etc/nomad.d/nomad.hcl`. Only its length matters to us (go-getter's full
/// paths reach the kernel's PATH_MAX sooner under a longer one).
pub const CLIENT_DATA_DIR: &str = "/opt/nomad/data";
/// An allocation ID's shape (a UUID), for the same reason.
pub const ALLOC_ID_SHAPE: &str = "00000000-0000-0000-0000-000000000000";

/// Default kill signal and timeout (`DefaultKillTimeout`; the executor substitutes SIGINT).
pub const DEFAULT_KILL_SIGNAL: &str = "SIGINT";
pub const DEFAULT_KILL_TIMEOUT_MS: u64 = 5_000;

/// The PATH a systemd service gets when its unit sets none; the agent's PATH, which the
/// task inherits (§4.2), is this on a typical `nomad.service` host.
pub const SYSTEMD_DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The restricted PATH of the host-side command lookup for bare names,
/// `hashicorp/nomad:drivers/shared/executor/executor_linux.go` `lookupTaskBin`.
pub const LOOKUP_BIN_DIRS: &[&str] = &["usr/local/bin", "usr/bin", "bin"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_and_orders_them() {
        let v: NomadVersion = "1.11.1".parse().unwrap();
        assert_eq!(v, NomadVersion::new(1, 11, 1));
        assert!(!v.resolves_user_in_chroot());
        assert!(
            "1.11.0"
                .parse::<NomadVersion>()
                .unwrap()
                .resolves_user_in_chroot()
        );
        assert_eq!("2.0".parse::<NomadVersion>().unwrap().to_string(), "2.0");
        assert!("1.10".parse::<NomadVersion>().unwrap() > "1.9.9".parse().unwrap());
        assert_eq!(
            "1.9"
                .parse::<NomadVersion>()
                .unwrap()
                .exec_failure_exit_code(),
            1
        );
        assert_eq!(
            "1.10"
                .parse::<NomadVersion>()
                .unwrap()
                .exec_failure_exit_code(),
            255
        );
        assert!("0.9".parse::<NomadVersion>().is_err());
        assert!(
            "two"
                .parse::<NomadVersion>()
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn denylist_matches_patterns() {
        assert!(env_denied("VAULT_TOKEN"));
        assert!(env_denied("ACME_LICENSE_PATH"));
        assert!(!env_denied("PATH"));
    }

    #[test]
    fn default_chroot_env_follows_version() {
        let v1 = default_chroot_env("1.0".parse().unwrap());
        assert!(v1.contains(&("/run/systemd/resolve", "/run/systemd/resolve")));
        assert_eq!(v1.len(), 9);
    }
}
