//! Command-line types only (clap derive). Validation lives in `config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Prove that a deployment bundle runs under HashiCorp Nomad's `exec` driver.
///
/// Unpacks BUNDLE exactly as Nomad's `artifact` block would, builds the exec driver's
/// task directory, resolves everything the entrypoint needs inside it and, given a
/// COMMAND, runs it the way the exec driver does.
///
/// Exit codes: 0 pass, 1 fail (something is missing or the run failed), 2 input rejected
/// (hostile/corrupt archive, an archive Nomad refuses, bad arguments), 3 could not check
/// (no namespaces or privileges here, internal error).
#[derive(Debug, Parser)]
#[command(
    name = "nomad-chroot-check",
    version,
    args_conflicts_with_subcommands = true
)]
#[command(after_help = "Examples:\n  \
    nomad-chroot-check bundle.tar.gz\n  \
    nomad-chroot-check bundle.tar.gz --destination / -- /bin/sh -c 'app --version'\n  \
    nomad-chroot-check job app.nomad.hcl --artifact http://127.0.0.1:8080/=dist/\n  \
    nomad-chroot-check test checks.toml --junit junit.xml")]
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
    /// Internal: the freshly exec'd process that builds the sandbox.
    #[command(name = "__sandbox-child", hide = true)]
    SandboxChild(SandboxChildArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    Junit,
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

/// Options shared by every mode that checks a task.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

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

    /// Only the static check: do not run anything.
    #[arg(long)]
    pub no_run: bool,

    /// Keep the task directory and print where it is.
    #[arg(long)]
    pub keep: bool,

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

    #[command(flatten)]
    pub run: RunArgs,
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
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub timeout: String,

    /// Batch (exit 0 passes) or service (still running after --healthy-after passes).
    #[arg(long = "type", value_enum, default_value_t = JobTypeArg::Batch)]
    pub job_type: JobTypeArg,

    /// How long a service must stay up.
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub healthy_after: String,

    /// Signal that stops the task.
    #[arg(long, value_name = "SIGNAL", default_value = crate::nomad::DEFAULT_KILL_SIGNAL)]
    pub kill_signal: String,

    /// Time between the kill signal and SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub kill_timeout: String,

    /// The task's work_dir (absolute, inside the task).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<String>,

    /// Do not trace the files the task fails to find.
    #[arg(long)]
    pub no_trace: bool,

    /// The task's name (for logs and NOMAD_TASK_NAME).
    #[arg(long, value_name = "NAME", default_value = "task")]
    pub task: String,
}

/// `nomad-chroot-check [OPTIONS] BUNDLE [-- COMMAND [ARGS...]]`
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The bundle (.tar.gz, .tgz, .tar.xz, .tar.zst, .tar.bz2, .tar, .zip).
    #[arg(value_name = "BUNDLE")]
    pub bundle: Option<PathBuf>,

    /// The task's command and args, as `config { command args }`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    /// Where the artifact unpacks, relative to the task dir (`artifact.destination`).
    #[arg(long, value_name = "PATH", default_value = "local/")]
    pub destination: String,

    /// Decompressor, like the artifact's `archive=` option (tar.gz, tgz, tar.xz, zip, …).
    #[arg(long, value_name = "KIND")]
    pub archive: Option<String>,

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

#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,

    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    #[arg(long, value_name = "PATH", default_value = "local/")]
    pub destination: String,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ShellArgs {
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,

    #[arg(long, value_name = "PATH", default_value = "local/")]
    pub destination: String,

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
