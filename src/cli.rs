//! The command line: clap's derive types, and their conversion into the validated
//! settings of `config` (ripgrep's low-level args → high-level config). Nothing below
//! this module knows about the command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::archive::{ArchiveKind, ExtractMode};
use crate::clientconfig::ClientConfig;
use crate::config::{
    AgentEnv, Artifact, ArtifactLimits, CheckOptions, JobType, Network, RunOptions, SafetyLimits,
    TaskSpec, parse_duration, parse_pair,
};
use crate::error::{Error, Result};
use crate::nomad::NomadVersion;
pub use crate::report::Format;
use crate::taskdir::ChrootEnv;

/// Prove that a deployment bundle runs under HashiCorp Nomad's `exec` driver.
///
/// Unpacks BUNDLE exactly as Nomad's `artifact` block would, builds the exec driver's
/// task directory, resolves everything the entrypoint needs inside it and, given a
/// TASK_COMMAND after `--`, runs it the way the exec driver does. The other MODEs
/// check a jobspec, run a spec of checks, record one, or open a shell in the task.
///
/// Exit codes: 0 pass, 1 fail (something is missing or the run failed), 2 input rejected
/// (hostile/corrupt archive, an archive Nomad refuses, bad arguments), 3 could not check
/// (no namespaces or privileges here, internal error).
#[derive(Debug, Parser)]
#[command(
    name = "nomad-chroot-check",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "MODE",
    subcommand_help_heading = "Modes"
)]
#[command(after_help = "Examples:\n  \
    nomad-chroot-check bundle.tar.gz\n  \
    nomad-chroot-check bundle.tar.gz --destination / -- /bin/sh -c 'app --version'\n  \
    nomad-chroot-check job app.nomad.hcl --artifact http://127.0.0.1:8080/=dist/\n  \
    nomad-chroot-check test checks.toml --junit junit.xml\n  \
    nomad-chroot-check record bundle.tar.gz -o checks.toml -- /bin/app --version\n  \
    nomad-chroot-check shell bundle.tar.gz --destination /\n  \
    nomad-chroot-check alloc 8f2c1d --artifact https://releases.example/=dist/")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub check: CheckArgs,

    /// More log output on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every exec task of a Nomad jobspec (HCL2 or JSON) as it will be deployed.
    Job(JobArgs),
    /// Run the checks of a spec file (TOML) as a test suite (libtest CLI: filters, --list…).
    Test(TestArgs),
    /// Run a bundle and write a spec of what it did, as a baseline for `test`.
    Record(RecordArgs),
    /// Open an interactive shell inside the emulated task, for debugging.
    Shell(ShellArgs),
    /// Debug a failed allocation: reproduce it from Nomad's API (or `alloc status -json`
    /// output), or explain it from its directory on the client node.
    Alloc(AllocArgs),
    /// Internal: the freshly exec'd process that builds the sandbox.
    #[command(name = "__sandbox-child", hide = true)]
    SandboxChild(SandboxChildArgs),
}

/// `test --format`: libtest's own formats plus the report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TestFormat {
    /// One line per check (libtest's default).
    #[default]
    #[value(alias = "text")]
    Pretty,
    /// One character per check; with --list, `name: test` lines.
    Terse,
    /// A JSON array on stdout: one entry (with the check's report) per check.
    Json,
    /// JUnit XML on stdout.
    Junit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExtractModeArg {
    /// As Nomad's artifact block: links become empty files, limits apply.
    #[default]
    Nomad,
    /// As GNU `tar xzf`: links kept (for bundles delivered another way).
    Tar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum NetworkArg {
    /// The host's network, as Nomad without bridge mode.
    #[default]
    Host,
    /// An empty network namespace (no interfaces but loopback down).
    None,
    /// An own network namespace with loopback up, as `network { mode = "bridge" }`.
    Bridge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum AgentEnvArg {
    /// A systemd service's environment: PATH only, no LANG.
    #[default]
    Default,
    /// This process's environment minus Nomad's denylist.
    Inherit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum JobTypeArg {
    /// Passes when the task exits 0.
    #[default]
    Batch,
    /// Passes when the task is still running after --healthy-after.
    Service,
}

/// `--healthy-after`'s default.
pub const DEFAULT_HEALTHY_AFTER: &str = "3s";
/// `--timeout`'s default.
pub const DEFAULT_TIMEOUT: &str = "60s";
/// `--kill-timeout`'s default.
pub const DEFAULT_KILL_TIMEOUT: &str = "5s";

impl RunArgs {
    /// The flags given that only matter to a task that runs on its own (a batch job or
    /// a service): an interactive shell has no deadline, no kill sequence and no trace.
    pub fn lifecycle_flags(&self) -> Vec<&'static str> {
        [
            (self.job_type != JobTypeArg::Batch, "--type"),
            (
                self.healthy_after != DEFAULT_HEALTHY_AFTER,
                "--healthy-after",
            ),
            (self.timeout != DEFAULT_TIMEOUT, "--timeout"),
            (
                self.kill_signal != crate::nomad::DEFAULT_KILL_SIGNAL,
                "--kill-signal",
            ),
            (self.kill_timeout != DEFAULT_KILL_TIMEOUT, "--kill-timeout"),
            (self.no_trace, "--no-trace"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }
}

/// Options shared by every mode that checks a task.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub client: ClientArgs,

    /// Only the static check: do not run anything.
    #[arg(long)]
    pub no_run: bool,

    /// Keep the task directory and print where it is.
    #[arg(long)]
    pub keep: bool,

    /// Where to unpack: `auto` models the tree in memory for a static check and puts a
    /// run's task dir on a tmpfs when the bundle fits the budget (else on disk);
    /// `tmpfs` or `disk` to choose.
    #[arg(long, value_enum, default_value_t = WorkdirArg::Auto)]
    pub workdir: WorkdirArg,

    /// The most a tmpfs task dir may hold (e.g. `512M`, `2G`; default: half the
    /// memory available).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub tmpfs_budget: Option<u64>,

    /// Make findings errors, as clippy's -D: `warnings` (every warning), a kind
    /// (`missing`) or KIND/CAUSE (`missing/store-reference`), with the JSON report's
    /// names (repeatable).
    #[arg(long, value_name = "warnings|KIND[/CAUSE]")]
    pub deny: Vec<String>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkdirArg {
    Auto,
    Tmpfs,
    Disk,
}

/// `512M`, `2G`, `1048576`: bytes, with an optional K, M, G or T (powers of 1024).
fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("`{s}`: unknown unit `{c}` (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("`{s}` is not a size (e.g. 512M, 2G)"))
}

/// What the emulated Nomad client is: its version, chroot_env, config and unpacking.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Nomad release to emulate (2.0, 1.11.1, 1.11.0, 1.10, 1.5, 1.0, …).
    #[arg(long, value_name = "VERSION", default_value = "2.0")]
    pub nomad_version: String,

    /// The client's chroot_env: `nomad-default`, `none`, or SRC=DST entries that replace
    /// the default map as a client config does (repeatable).
    #[arg(long, value_name = "nomad-default|none|SRC=DST")]
    pub chroot_env: Vec<String>,

    /// A Nomad agent config file (HCL): chroot_env, artifact limits, exec plugin options
    /// (repeatable; merged as the agent merges them).
    #[arg(long, value_name = "FILE")]
    pub client_config: Vec<PathBuf>,

    /// How to unpack the bundle.
    #[arg(long, value_enum, default_value_t = ExtractModeArg::Nomad)]
    pub extract: ExtractModeArg,

    /// Unpacking caps of our own, beyond Nomad's limits: total bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 40)]
    pub max_unpacked_bytes: u64,

    /// Unpacking caps of our own: number of entries.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub max_entries: u64,

    /// Unpacking caps of our own: entry name length in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_name_len: usize,

    /// Unpacking caps of our own: directory depth.
    #[arg(long, value_name = "N", default_value_t = 2048)]
    pub max_depth: usize,

    /// Override the client's `decompression_file_count_limit` (0 = unlimited).
    #[arg(long, value_name = "N")]
    pub file_count_limit: Option<u64>,

    /// Override the client's `decompression_size_limit` in bytes (0 = unlimited).
    #[arg(long, value_name = "BYTES")]
    pub size_limit: Option<u64>,
}

/// How the task is run (ignored with --no-run).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The task's user (Nomad's default: nobody).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// The job's env block entry (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// The Nomad agent's own environment, which tasks inherit.
    #[arg(long, value_enum, default_value_t = AgentEnvArg::Default)]
    pub agent_env: AgentEnvArg,

    /// Network namespace.
    #[arg(long, value_enum, default_value_t = NetworkArg::Host)]
    pub network: NetworkArg,

    /// Capability to add (repeatable), validated against the exec plugin's allow_caps.
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// Capability to drop (repeatable; `all` drops every one).
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// Beyond Nomad: set no_new_privs and drop every capability.
    #[arg(long)]
    pub harden: bool,

    /// resources.memory in MB (the hard limit unless --memory-max is set).
    #[arg(long, value_name = "MB", default_value_t = crate::nomad::DEFAULT_MEMORY_MB)]
    pub memory: u64,

    /// resources.memory_max in MB.
    #[arg(long, value_name = "MB")]
    pub memory_max: Option<u64>,

    /// resources.cpu in MHz (cpu shares).
    #[arg(long, value_name = "MHZ", default_value_t = crate::nomad::DEFAULT_CPU_MHZ)]
    pub cpu: u64,

    /// Beyond Nomad: maximum number of processes in the task.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub pids_limit: u64,

    /// Beyond Nomad: wall-clock limit for a batch task, e.g. 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_TIMEOUT)]
    pub timeout: String,

    /// Batch (exit 0 passes) or service (still running after --healthy-after passes).
    #[arg(long = "type", value_enum, default_value_t = JobTypeArg::Batch)]
    pub job_type: JobTypeArg,

    /// How long a service must stay up.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_HEALTHY_AFTER)]
    pub healthy_after: String,

    /// Signal that stops the task.
    #[arg(long, value_name = "SIGNAL", default_value = crate::nomad::DEFAULT_KILL_SIGNAL)]
    pub kill_signal: String,

    /// Time between the kill signal and SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_KILL_TIMEOUT)]
    pub kill_timeout: String,

    /// The task's work_dir (absolute, inside the task).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<String>,

    /// Do not trace the files the task fails to find.
    #[arg(long)]
    pub no_trace: bool,

    /// The task's name (for logs and NOMAD_TASK_NAME).
    #[arg(long, value_name = "NAME", default_value = crate::config::DEFAULT_TASK_NAME)]
    pub task: String,
}

/// `nomad-chroot-check [OPTIONS] BUNDLE [-- COMMAND [ARGS...]]`
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The bundle (.tar.gz, .tgz, .tar.xz, .tar.zst, .tar.bz2, .tar, .zip).
    #[arg(value_name = "BUNDLE")]
    pub bundle: Option<PathBuf>,

    /// The task's command and args, as `config { command args }`.
    #[arg(last = true, value_name = "TASK_COMMAND")]
    pub command: Vec<String>,

    /// Where the artifact unpacks, relative to the task dir (`artifact.destination`).
    #[arg(long, value_name = "PATH", default_value = "local/")]
    pub destination: String,

    /// Decompressor, like the artifact's `archive=` option (tar.gz, tgz, tar.xz, zip, …).
    #[arg(long, value_name = "KIND")]
    pub archive: Option<String>,

    /// Print only the verdict line (text format; the exit code says the same).
    #[arg(long, short)]
    pub quiet: bool,

    /// Show the resolved dependency tree of the command (lddtree-style), each file
    /// marked bundle, host (chroot_env) or missing.
    #[arg(long)]
    pub tree: bool,

    /// Internal (ci/bench): unpack only, no analysis and no run, to time extraction alone.
    #[arg(long, hide = true)]
    pub only_extract: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// The jobspec (HCL2, or JSON as `nomad job run -output` prints it).
    #[arg(value_name = "JOBFILE")]
    pub jobfile: PathBuf,

    /// Only this task (repeatable).
    #[arg(long = "task-name", value_name = "NAME")]
    pub tasks: Vec<String>,

    /// Map an artifact source (or a prefix of it) to a local file or directory (repeatable).
    #[arg(long, value_name = "SOURCE=FILE")]
    pub artifact: Vec<String>,

    /// An input variable (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub var: Vec<String>,

    /// A file of input variables (repeatable).
    #[arg(long, value_name = "FILE")]
    pub var_file: Vec<PathBuf>,

    /// Node attributes and meta for ${node.*}, ${attr.*}, ${meta.*} (JSON or HCL).
    #[arg(long, value_name = "FILE")]
    pub node: Option<PathBuf>,

    /// Download http(s) artifacts that are not mapped.
    #[arg(long)]
    pub fetch: bool,

    /// Run the whole job as Nomad would place it (root): every allocation of every
    /// group, lifecycle order, bridge networks, Connect upstreams and gateways,
    /// service checks; exit 0 once healthy (service) or complete (batch).
    #[arg(long)]
    pub run_job: bool,

    /// --run-job: at most N allocations per group (default: the group's count).
    #[arg(long, value_name = "N", requires = "run_job")]
    pub count_max: Option<u64>,

    /// --run-job: once healthy, keep the job running until Ctrl-C.
    #[arg(long, requires = "run_job")]
    pub keep_running: bool,

    /// --run-job: give up after this long (default: the update block's
    /// healthy_deadline, 5m as in Nomad; batch jobs: --timeout).
    #[arg(long, value_name = "DURATION", requires = "run_job")]
    pub deadline: Option<String>,

    /// --run-job: the host address ports are published on (NOMAD_IP_*), as
    /// `nomad agent -dev` advertises loopback.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub host_ip: String,

    /// --run-job: the bridge's subnet (default: the client config's
    /// bridge_network_subnet, else 172.26.64.0/20).
    #[arg(long, value_name = "CIDR", requires = "run_job")]
    pub bridge_subnet: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// The spec (TOML).
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,

    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Output format: libtest's pretty/terse lines, or every check's report as a JSON
    /// array / JUnit XML on stdout (libtest's lines then go to stderr).
    #[arg(long, value_enum, default_value_t = TestFormat::Pretty)]
    pub format: TestFormat,

    /// libtest arguments: FILTER, --exact, --skip, --list, --ignored, --test-threads…
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "LIBTEST_ARGS"
    )]
    pub libtest: Vec<String>,
}

/// `record BUNDLE [-o FILE] [-- TASK_COMMAND…]`
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// The bundle to record.
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,

    /// A command to run and record as a check (exit code, first lines of output, files
    /// it looked for); without one, only the static check is recorded.
    #[arg(last = true, value_name = "TASK_COMMAND")]
    pub command: Vec<String>,

    /// Where the artifact unpacks, relative to the task dir (`artifact.destination`).
    #[arg(long, value_name = "PATH", default_value = "local/")]
    pub destination: String,

    /// Write the spec to FILE (paths in it relative to FILE's directory) instead of
    /// stdout (paths relative to the current directory).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub client: ClientArgs,

    /// Record the static check of the command only: do not run it.
    #[arg(long)]
    pub no_run: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

/// `shell BUNDLE`
#[derive(Debug, Clone, Args)]
pub struct ShellArgs {
    /// The bundle to unpack into the task.
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,

    /// Where the artifact unpacks, relative to the task dir (`artifact.destination`).
    #[arg(long, value_name = "PATH", default_value = "local/")]
    pub destination: String,

    #[command(flatten)]
    pub client: ClientArgs,

    #[command(flatten)]
    pub run: RunArgs,
}

/// `nomad-chroot-check alloc [ALLOC_ID] [--from-file FILE] [--alloc-dir DIR] [-- COMMAND]`
#[derive(Debug, Clone, Args)]
pub struct AllocArgs {
    /// The allocation's ID, or a prefix of it (2 characters or more), read from Nomad's
    /// HTTP API as the `nomad` CLI reads it (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE,
    /// NOMAD_REGION, NOMAD_CACERT, NOMAD_CAPATH, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY,
    /// NOMAD_TLS_SERVER_NAME, NOMAD_SKIP_VERIFY, NOMAD_HTTP_AUTH).
    #[arg(value_name = "ALLOC_ID", conflicts_with = "from_file")]
    pub alloc_id: Option<String>,

    /// `nomad alloc status -json` output instead of the API (no cluster needed).
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,

    /// On the client node: the allocation's directory (`<data_dir>/alloc/<id>`),
    /// analysed as Nomad built it, without changing anything in it.
    #[arg(long, value_name = "DIR")]
    pub alloc_dir: Option<PathBuf>,

    /// The task to check (default: the one that failed, or the group's only task).
    #[arg(long = "task-name", value_name = "NAME")]
    pub task_name: Option<String>,

    /// Map an artifact source (or a prefix of it) to a local file or directory (repeatable).
    #[arg(long, value_name = "SOURCE=FILE")]
    pub artifact: Vec<String>,

    /// Download http(s) artifacts that are not mapped.
    #[arg(long)]
    pub fetch: bool,

    /// The node's JSON (`nomad node status -json ID`), when the API is not asked.
    #[arg(long, value_name = "FILE")]
    pub node: Option<PathBuf>,

    /// With --alloc-dir: also run the task, over a read-only view of the directory
    /// with a writable overlay (the directory itself is never written).
    #[arg(long)]
    pub run: bool,

    /// With --alloc-dir and no job (no ALLOC_ID or --from-file): the task's command.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxChildArgs {
    /// File descriptor carrying the serialised plan.
    #[arg(long)]
    pub plan_fd: i32,
    /// File descriptor for the serialised outcome.
    #[arg(long)]
    pub result_fd: i32,
}

/// What the emulated client is, validated: Nomad version, merged client config,
/// chroot_env, Nomad's artifact limits, our own unpacking caps.
pub type ClientSettings = (
    NomadVersion,
    ClientConfig,
    ChrootEnv,
    ArtifactLimits,
    SafetyLimits,
);

impl ClientArgs {
    /// Settings shared by every mode, with the client config files merged in.
    pub fn resolve(&self) -> Result<ClientSettings> {
        let version: NomadVersion = self.nomad_version.parse().map_err(Error::Usage)?;
        let client = ClientConfig::load(&self.client_config)?;
        let chroot_env = if self.chroot_env.is_empty() {
            ChrootEnv::from_client(version, &client)
        } else {
            ChrootEnv::from_args(version, &self.chroot_env).map_err(Error::Usage)?
        };
        let mut limits = ArtifactLimits::nomad_default(version);
        if version.has_decompression_limits() {
            if let Some(n) = client.file_count_limit {
                limits.file_count = (n > 0).then_some(n);
            }
            if let Some(n) = client.size_limit {
                limits.size = (n > 0).then_some(n);
            }
        }
        if let Some(n) = self.file_count_limit {
            limits.file_count = (n > 0).then_some(n);
        }
        if let Some(n) = self.size_limit {
            limits.size = (n > 0).then_some(n);
        }
        let safety = SafetyLimits {
            max_unpacked_bytes: self.max_unpacked_bytes,
            max_entries: self.max_entries,
            max_name_len: self.max_name_len,
            max_depth: self.max_depth,
        };
        Ok((version, client, chroot_env, limits, safety))
    }

    pub fn extract_mode(&self) -> ExtractMode {
        match self.extract {
            ExtractModeArg::Nomad => ExtractMode::Nomad,
            ExtractModeArg::Tar => ExtractMode::Tar,
        }
    }
}

impl RunArgs {
    /// The task as the command line describes it.
    pub fn task_spec(&self, command: &[String]) -> Result<TaskSpec> {
        let r = self;
        let env = r
            .env
            .iter()
            .map(|e| parse_pair(e, "--env"))
            .collect::<Result<Vec<_>>>()?;
        if let Some(wd) = &r.work_dir {
            if !wd.starts_with('/') {
                // hashicorp/nomad:drivers/exec/driver.go validates work_dir this way.
                return Err(Error::Usage(format!(
                    "work_dir must be absolute but got relative path {wd:?}"
                )));
            }
        }
        Ok(TaskSpec {
            name: r.task.clone(),
            group: None,
            job: None,
            command: command.first().cloned(),
            args: command.iter().skip(1).cloned().collect(),
            user: r.user.clone().unwrap_or_else(|| "nobody".to_owned()),
            env,
            work_dir: r.work_dir.clone(),
            memory_mb: r.memory,
            memory_max_mb: r.memory_max,
            cpu_mhz: r.cpu,
            cap_add: r.cap_add.clone(),
            cap_drop: r.cap_drop.clone(),
            network: match r.network {
                NetworkArg::Host => Network::Host,
                NetworkArg::None => Network::None,
                NetworkArg::Bridge => Network::Bridge,
            },
            pid_mode_host: false,
            ipc_mode_host: false,
            alloc: None,
        })
    }

    /// How to run the task; `None` with `--no-run`.
    pub fn run_options(&self, no_run: bool) -> Result<Option<RunOptions>> {
        if no_run {
            return Ok(None);
        }
        let r = self;
        Ok(Some(RunOptions {
            agent_env: match r.agent_env {
                AgentEnvArg::Default => AgentEnv::Default,
                AgentEnvArg::Inherit => AgentEnv::Inherit,
            },
            harden: r.harden,
            pids_limit: r.pids_limit,
            timeout: parse_duration(&r.timeout)?,
            job_type: match r.job_type {
                JobTypeArg::Batch => JobType::Batch,
                JobTypeArg::Service => JobType::Service,
            },
            healthy_after: parse_duration(&r.healthy_after)?,
            kill_signal: r.kill_signal.clone(),
            kill_timeout: parse_duration(&r.kill_timeout)?,
            trace: !r.no_trace,
        }))
    }
}

impl CommonArgs {
    pub fn resolve(&self) -> Result<ClientSettings> {
        self.client.resolve()
    }

    pub fn extract_mode(&self) -> ExtractMode {
        self.client.extract_mode()
    }

    pub fn task_spec(&self, command: &[String]) -> Result<TaskSpec> {
        self.run.task_spec(command)
    }

    pub fn run_options(&self) -> Result<Option<RunOptions>> {
        self.run.run_options(self.no_run)
    }

    /// `--workdir`, `--tmpfs-budget`.
    pub fn workdir(&self) -> crate::workdir::WorkdirOptions {
        use crate::workdir::Workdir;
        crate::workdir::WorkdirOptions {
            choice: match self.workdir {
                WorkdirArg::Auto => Workdir::Auto,
                WorkdirArg::Tmpfs => Workdir::Tmpfs,
                WorkdirArg::Disk => Workdir::Disk,
            },
            budget: self.tmpfs_budget,
        }
    }

    /// The task `command` describes, and how to run it: not at all without a command
    /// (there is nothing to run; the static check covers every executable of the bundle).
    pub fn task_and_run(&self, command: &[String]) -> Result<(TaskSpec, Option<RunOptions>)> {
        let task = self.task_spec(command)?;
        let run = if task.command.is_some() {
            self.run_options()?
        } else {
            None
        };
        Ok((task, run))
    }

    /// The `--deny` rules, validated.
    pub fn deny_rules(&self) -> Result<Vec<crate::finding::DenyRule>> {
        self.deny
            .iter()
            .map(|d| d.parse().map_err(Error::Usage))
            .collect()
    }
}

impl CheckArgs {
    /// The validated options of the one-check mode.
    pub fn options(&self) -> Result<CheckOptions> {
        let args = self;
        let c = &args.common;
        let Some(bundle) = &args.bundle else {
            return Err(Error::Usage(
                "no bundle given: try `nomad-chroot-check --help`".into(),
            ));
        };
        let (nomad_version, client, chroot_env, limits, safety) = c.resolve()?;
        let archive = args
            .archive
            .as_deref()
            .map(|a| a.parse::<ArchiveKind>().map_err(Error::Usage))
            .transpose()?;
        let (task, run) = c.task_and_run(&args.command)?;
        Ok(CheckOptions {
            nomad_version,
            artifacts: vec![Artifact {
                file: bundle.clone(),
                source_name: bundle.to_string_lossy().into_owned(),
                archive,
                destination: args.destination.clone(),
                copy: None,
            }],
            extract: c.extract_mode(),
            chroot_env,
            client,
            limits,
            safety,
            task,
            run,
            keep: c.keep,
            deny: c.deny_rules()?,
            workdir: c.workdir(),
        })
    }
}
