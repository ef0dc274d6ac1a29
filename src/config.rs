//! Validated, typed settings for one check. `cli` (or a jobspec, or a test spec) builds
//! them; this module knows nothing of the command line. No side effects beyond reading
//! the client config files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::archive::{ArchiveKind, ExtractMode};
use crate::clientconfig::ClientConfig;
use crate::error::{Error, Result};
use crate::nomad::{self, NomadVersion};
use crate::taskdir::ChrootEnv;

/// Nomad's artifact limits (`client { artifact { … } }`); `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactLimits {
    pub file_count: Option<u64>,
    pub size: Option<u64>,
}

impl ArtifactLimits {
    /// Nomad's defaults for a version: 1.0–1.4 had no limits.
    pub fn nomad_default(version: NomadVersion) -> Self {
        if version.has_decompression_limits() {
            ArtifactLimits {
                file_count: Some(nomad::DEFAULT_FILE_COUNT_LIMIT),
                size: Some(nomad::DEFAULT_SIZE_LIMIT),
            }
        } else {
            ArtifactLimits {
                file_count: None,
                size: None,
            }
        }
    }
}

/// Our own caps, stricter than Nomad, applied even when Nomad's limits are off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafetyLimits {
    pub max_unpacked_bytes: u64,
    pub max_entries: u64,
    pub max_name_len: usize,
    pub max_depth: usize,
}

impl Default for SafetyLimits {
    fn default() -> Self {
        // Beyond anything Nomad accepts with its defaults: the unpacked size past its
        // 100 GB `decompression_size_limit`, names as long as Go reads them (1 MiB),
        // depth as deep as a PATH_MAX path goes (`d/` a level). Disk use is bounded by
        // the free-space check instead, and zeros cost none.
        SafetyLimits {
            max_unpacked_bytes: 1 << 40,
            max_entries: 10_000_000,
            max_name_len: 1 << 20,
            max_depth: 2048,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Host,
    None,
    Bridge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    Batch,
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEnv {
    /// A systemd service's environment (PATH only).
    Default,
    /// This process's environment minus the denylist.
    Inherit,
}

/// One artifact to unpack into the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The local file holding the bundle.
    pub file: PathBuf,
    /// The name go-getter sees (its suffix chooses the decompressor).
    pub source_name: String,
    /// `archive=` option.
    pub archive: Option<ArchiveKind>,
    /// `destination`, relative to the task dir.
    pub destination: String,
    /// Not unpacked: go-getter saves it as it is. `Some(name)`: the file goes into the
    /// destination as `name` (`mode = "file"`, `archive = false`, or a name without an
    /// archive suffix); `Some("")`: `file` is a directory (a `git::` checkout) copied
    /// into the destination.
    pub copy: Option<String>,
}

/// The task's name when nothing names it (`--task`'s default).
pub const DEFAULT_TASK_NAME: &str = "task";

/// What the task is: as `task { config { … } env { … } user … }` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub name: String,
    pub group: Option<String>,
    pub job: Option<String>,
    /// `config.command`; `None` for the static check of every executable.
    pub command: Option<String>,
    pub args: Vec<String>,
    /// `user`; Nomad's default is `nobody`.
    pub user: String,
    /// The job's `env {}` (after interpolation).
    pub env: Vec<(String, String)>,
    pub work_dir: Option<String>,
    pub memory_mb: u64,
    pub memory_max_mb: Option<u64>,
    pub cpu_mhz: u64,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub network: Network,
    pub pid_mode_host: bool,
    pub ipc_mode_host: bool,
    /// The allocation the task belongs to (`job --run-job`); `None`: one fixed,
    /// recognisable allocation (see `taskenv::ALLOC_ID`).
    pub alloc: Option<AllocIdentity>,
}

/// Which allocation of its group a task runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocIdentity {
    pub id: String,
    pub index: u32,
}

impl TaskSpec {
    /// A task named `name` as Nomad defaults one: no command yet, user `nobody`,
    /// `resources` of 300 MB and 100 MHz, the host's network, PID and IPC namespaces
    /// of its own.
    pub fn new(name: impl Into<String>) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            group: None,
            job: None,
            command: None,
            args: Vec::new(),
            user: "nobody".into(),
            env: Vec::new(),
            work_dir: None,
            memory_mb: crate::nomad::DEFAULT_MEMORY_MB,
            memory_max_mb: None,
            cpu_mhz: crate::nomad::DEFAULT_CPU_MHZ,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            network: Network::Host,
            pid_mode_host: false,
            ipc_mode_host: false,
            alloc: None,
        }
    }
}

/// How to run the task (absent with `--no-run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    pub agent_env: AgentEnv,
    pub harden: bool,
    pub pids_limit: u64,
    pub timeout: Duration,
    pub job_type: JobType,
    pub healthy_after: Duration,
    pub kill_signal: String,
    pub kill_timeout: Duration,
    pub trace: bool,
}

/// Everything one check needs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub nomad_version: NomadVersion,
    pub artifacts: Vec<Artifact>,
    pub extract: ExtractMode,
    pub chroot_env: ChrootEnv,
    pub client: ClientConfig,
    pub limits: ArtifactLimits,
    pub safety: SafetyLimits,
    pub task: TaskSpec,
    pub run: Option<RunOptions>,
    pub keep: bool,
    /// `--deny`: findings to make errors.
    pub deny: Vec<crate::finding::DenyRule>,
    /// `--workdir`, `--tmpfs-budget`.
    pub workdir: crate::workdir::WorkdirOptions,
}

/// Parse `30s`, `2m`, `1500ms`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        Error::Usage(format!(
            "`{s}` is not a duration (expected e.g. 30s, 2m, 500ms)"
        ))
    })?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(Error::Usage(format!(
                "`{s}`: unknown duration unit `{unit}` (use ms, s, m or h)"
            )));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Split `KEY=VALUE`.
pub fn parse_pair(s: &str, what: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(Error::Usage(format!(
            "{what} `{s}` must have the form KEY=VALUE"
        ))),
    }
}

impl CheckOptions {
    /// The job's env as a map (later entries win).
    pub fn job_env(&self) -> BTreeMap<String, String> {
        self.task.env.iter().cloned().collect()
    }
}

/// The most a jobspec, var file, node file, client config or test spec may have: none
/// comes close, and Nomad's HTTP API caps request bodies too.
pub const MAX_INPUT_FILE_BYTES: u64 = 16 << 20;

/// Read a text file named on the command line, at most [`MAX_INPUT_FILE_BYTES`]
/// whatever its size claims: `/dev/zero` or an endless pipe must not exhaust memory,
/// while a pipe that ends (`job <(generate-job)`) still works.
pub fn read_input_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_INPUT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than {MAX_INPUT_FILE_BYTES} bytes: is it the right file?"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("3 parsecs").is_err());
    }

    #[test]
    fn pairs() {
        assert_eq!(
            parse_pair("A=b=c", "--env").unwrap(),
            ("A".into(), "b=c".into())
        );
        assert!(parse_pair("=x", "--env").is_err());
    }
}
