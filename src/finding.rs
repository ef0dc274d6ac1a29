//! The one vocabulary every stage speaks: [`Finding`]s and the [`Report`] they end up in.
//!
//! `archive`, `analyze` and `sandbox` produce findings; `report` renders them. Field
//! names are a public contract (`../shared/docs/report-format.md`): add, never rename.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ExitCode;
use crate::nomad::NomadVersion;

/// Bumped whenever a field is renamed, removed or changes meaning
/// (`docs/report-format.md`, "Changes").
pub const SCHEMA_VERSION: u32 = 2;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// What kind of problem a finding describes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Kind {
    /// Something the task needs is not in the task's root.
    Missing,
    /// The archive holds an entry that Nomad refuses or that we refuse to write.
    UnsafeEntry,
    /// What Nomad's artifact unpacker does differently from `tar xzf`.
    Artifact,
    /// The path exists but the task may not use it (mode, owner, noexec mount).
    Permission,
    /// The kernel will refuse to execute it (`exec format error`).
    ExecFormat,
    /// A library is found but lacks a symbol version the program needs.
    Version,
    /// Runtime environment a program is likely to need (passwd, DNS, CA, locale…).
    Environment,
    /// The task's own behaviour when run (exit status, signal, timeout).
    Run,
    /// A fact worth knowing that changes nothing (e.g. what was not emulated).
    Note,
}

/// Why: a finer label within a [`Kind`]. Serialised in kebab-case, e.g. `flattened-link`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Cause {
    // kind = missing
    Command,
    Interpreter,
    Library,
    Shebang,
    Symlink,
    StoreReference,
    Runtime,
    // kind = unsafe-entry
    PathTraversal,
    LinkEscape,
    Device,
    Setuid,
    Limit,
    Corrupt,
    Format,
    // kind = artifact
    FlattenedLink,
    ChrootEnvCollision,
    ExtensionMismatch,
    FileCountLimit,
    SizeLimit,
    EmptyArchive,
    /// go-getter's unpacker fails on the archive's own layout (a file where a directory
    /// must be, an entry naming a directory).
    UnpackFailure,
    /// Absolute member names, re-rooted under the destination.
    AbsoluteName,
    // kind = permission / exec-format / version
    NotExecutable,
    NotReadable,
    NotSearchable,
    Noexec,
    WrongArchitecture,
    EmptyFile,
    NoShebang,
    ShebangTooLong,
    SymbolVersion,
    HostDivergence,
    /// A file the loader opens is not a loadable ELF (`invalid ELF header`, wrong type).
    InvalidElf,
    // kind = environment
    User,
    Dns,
    Certificates,
    Nsswitch,
    Locale,
    Path,
    /// Files the task uses come from this host through `chroot_env`: the verdict holds
    /// only on clients that have the same files (`Report::host_dependencies`).
    HostDependency,
    /// A `chroot_env` source that does not exist on this host (Nomad skips it).
    ChrootEnvSource,
    // kind = run
    ExitCode,
    Signal,
    Timeout,
    Oom,
    StartFailure,
    /// The task's main process exited and left processes behind, which Nomad kills.
    OrphanedProcess,
    /// Checked alone, the task waited for a Connect upstream nothing served (`job`).
    Upstream,
    // kind = note
    NotEmulated,
    /// A value a real cluster would supply (ports, upstreams) replaced by a documented
    /// stand-in (`job`).
    Emulated,
    /// A `${…}` reference nothing could resolve, kept as written (`job`).
    Unresolved,
    // kind = artifact (job)
    /// go-getter's `checksum` option did not match the file.
    ChecksumMismatch,
}

/// Every (kind, cause) pair a finding may have: the contract's vocabulary
/// (`docs/report-format.md` lists the same table; a test compares them). A cause may
/// serve several kinds (`setuid` is an `artifact` note under Nomad's unpacker and an
/// `unsafe-entry` under `--extract tar`).
pub const VOCABULARY: &[(Kind, &[Cause])] = &[
    (
        Kind::Missing,
        &[
            Cause::Command,
            Cause::Interpreter,
            Cause::Library,
            Cause::Shebang,
            Cause::Symlink,
            Cause::StoreReference,
            Cause::Runtime,
            Cause::HostDivergence,
        ],
    ),
    (
        Kind::UnsafeEntry,
        &[
            Cause::PathTraversal,
            Cause::LinkEscape,
            Cause::Device,
            Cause::Setuid,
            Cause::Limit,
            Cause::Corrupt,
            Cause::Format,
            Cause::UnpackFailure,
        ],
    ),
    (
        Kind::Artifact,
        &[
            Cause::FlattenedLink,
            Cause::ChrootEnvCollision,
            Cause::ExtensionMismatch,
            Cause::FileCountLimit,
            Cause::SizeLimit,
            Cause::EmptyArchive,
            Cause::UnpackFailure,
            Cause::AbsoluteName,
            Cause::Setuid,
            Cause::Device,
            Cause::ChecksumMismatch,
        ],
    ),
    (
        Kind::Permission,
        &[
            Cause::NotExecutable,
            Cause::NotReadable,
            Cause::NotSearchable,
            Cause::Noexec,
            Cause::Runtime,
        ],
    ),
    (
        Kind::ExecFormat,
        &[
            Cause::WrongArchitecture,
            Cause::EmptyFile,
            Cause::NoShebang,
            Cause::ShebangTooLong,
            Cause::Shebang,
            Cause::InvalidElf,
        ],
    ),
    (Kind::Version, &[Cause::SymbolVersion]),
    (
        Kind::Environment,
        &[
            Cause::User,
            Cause::Dns,
            Cause::Certificates,
            Cause::Nsswitch,
            Cause::Locale,
            Cause::Path,
            Cause::HostDependency,
            Cause::ChrootEnvSource,
            Cause::Unresolved,
        ],
    ),
    (
        Kind::Run,
        &[
            Cause::ExitCode,
            Cause::Signal,
            Cause::Timeout,
            Cause::Oom,
            Cause::StartFailure,
            Cause::OrphanedProcess,
            Cause::Upstream,
        ],
    ),
    (Kind::Note, &[Cause::NotEmulated, Cause::Emulated]),
];

impl Kind {
    /// The contract's name (`exec-format`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The causes a finding of this kind may have.
    pub fn causes(self) -> &'static [Cause] {
        VOCABULARY
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, c)| *c)
            .unwrap_or(&[])
    }
}

impl Cause {
    /// The contract's name (`store-reference`).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl Severity {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// One fact about the bundle, found by any stage. Every field is always serialised
/// (`null` or `[]` when it does not apply), so a reader can rely on the keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: Kind,
    pub cause: Cause,
    /// For `missing`: the path as the task sees it. For `unsafe-entry`: the archive
    /// member name as stored (lossy UTF-8). `docs/report-format.md` says it per kind.
    pub path: String,
    /// Shortest chain from the entrypoint to the thing that needs `path` (entrypoint
    /// first, never `path` itself).
    pub needed_by: Vec<String>,
    /// What Nomad prints when this happens, for the chosen `--nomad-version`; `null`
    /// when Nomad itself reports nothing (the task starts and fails its own way).
    pub nomad_error: Option<String>,
    /// The task's exit code Nomad reports when this happens.
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    /// A concrete fix.
    pub hint: Option<String>,
    /// For runtime and missing findings: whether the host has this path (the
    /// "works on my machine" diagnosis).
    pub on_host: Option<bool>,
    /// The `--deny` rule that made this finding an error (`warnings`, `KIND/CAUSE`).
    pub denied_by: Option<String>,
    /// The [`RootCause::id`] that explains this finding, when one does.
    pub root_cause: Option<&'static str>,
}

impl Finding {
    pub fn new(severity: Severity, kind: Kind, cause: Cause, path: impl Into<String>) -> Self {
        // Drift between the code and the documented vocabulary fails every test that
        // reaches the new pair (`docs/report-format.md`, "Kinds and causes").
        debug_assert!(
            kind.causes().contains(&cause),
            "{}/{} is not in finding::VOCABULARY (and docs/report-format.md)",
            kind.name(),
            cause.name()
        );
        Finding {
            severity,
            kind,
            cause,
            path: path.into(),
            needed_by: Vec::new(),
            nomad_error: None,
            exit_code: None,
            message: None,
            hint: None,
            on_host: None,
            denied_by: None,
            root_cause: None,
        }
    }

    pub fn error(kind: Kind, cause: Cause, path: impl Into<String>) -> Self {
        Finding::new(Severity::Error, kind, cause, path)
    }

    pub fn warning(kind: Kind, cause: Cause, path: impl Into<String>) -> Self {
        Finding::new(Severity::Warning, kind, cause, path)
    }

    pub fn info(kind: Kind, cause: Cause, path: impl Into<String>) -> Self {
        Finding::new(Severity::Info, kind, cause, path)
    }

    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }

    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }

    pub fn nomad_error(mut self, e: impl Into<String>) -> Self {
        self.nomad_error = Some(e.into());
        self
    }

    pub fn exit_code(mut self, code: i32) -> Self {
        self.exit_code = Some(code);
        self
    }

    pub fn needed_by(mut self, chain: Vec<String>) -> Self {
        self.needed_by = chain;
        self
    }

    pub fn on_host(mut self, present: bool) -> Self {
        self.on_host = Some(present);
        self
    }

    /// Whether this finding means Nomad refuses the artifact outright (exit 2). A finding
    /// made an error by `--deny` is a failure (exit 1), never a rejection.
    pub fn is_rejection(&self) -> bool {
        self.severity == Severity::Error
            && self.denied_by.is_none()
            && (self.kind == Kind::UnsafeEntry
                || matches!(
                    self.cause,
                    Cause::FileCountLimit
                        | Cause::SizeLimit
                        | Cause::EmptyArchive
                        | Cause::ExtensionMismatch
                        | Cause::ChecksumMismatch
                        | Cause::UnpackFailure
                ))
    }
}

/// A `--deny` rule (clippy's `-D`): the findings it matches become errors, so CI can
/// gate on what the tool only warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyRule {
    /// Every warning.
    Warnings,
    /// Every finding of a kind (`missing`), whatever its severity.
    Kind(Kind),
    /// Every finding of a kind and cause (`missing/store-reference`).
    KindCause(Kind, Cause),
}

impl std::str::FromStr for DenyRule {
    type Err = String;

    /// `warnings`, `KIND` or `KIND/CAUSE`, in the report's own names.
    fn from_str(s: &str) -> Result<DenyRule, String> {
        fn name<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
            serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
        }
        let bad = |what: &str| {
            format!(
                "--deny `{s}`: {what}; write `warnings`, a finding kind such as `missing`, or KIND/CAUSE such as `missing/store-reference` (the `kind` and `cause` names of the JSON report)"
            )
        };
        if s == "warnings" {
            return Ok(DenyRule::Warnings);
        }
        match s.split_once('/') {
            None => name(s)
                .map(DenyRule::Kind)
                .ok_or_else(|| bad(&format!("`{s}` is not a finding kind"))),
            Some((k, c)) => {
                let kind = name(k).ok_or_else(|| bad(&format!("`{k}` is not a finding kind")))?;
                let cause = name(c).ok_or_else(|| bad(&format!("`{c}` is not a cause")))?;
                Ok(DenyRule::KindCause(kind, cause))
            }
        }
    }
}

impl std::fmt::Display for DenyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |v: serde_json::Result<serde_json::Value>| {
            v.ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        match self {
            DenyRule::Warnings => f.write_str("warnings"),
            DenyRule::Kind(k) => f.write_str(&name(serde_json::to_value(k))),
            DenyRule::KindCause(k, c) => write!(
                f,
                "{}/{}",
                name(serde_json::to_value(k)),
                name(serde_json::to_value(c))
            ),
        }
    }
}

impl DenyRule {
    pub fn matches(&self, f: &Finding) -> bool {
        match self {
            DenyRule::Warnings => f.severity == Severity::Warning,
            DenyRule::Kind(k) => f.kind == *k,
            DenyRule::KindCause(k, c) => f.kind == *k && f.cause == *c,
        }
    }
}

/// Make every finding a rule matches an error, noting which rule did.
pub fn apply_deny(findings: &mut [Finding], rules: &[DenyRule]) {
    for f in findings
        .iter_mut()
        .filter(|f| f.severity != Severity::Error)
    {
        if let Some(rule) = rules.iter().find(|r| r.matches(f)) {
            f.severity = Severity::Error;
            f.denied_by = Some(rule.to_string());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Reject,
    Error,
}

impl Verdict {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Pass => ExitCode::Pass,
            Verdict::Fail => ExitCode::Fail,
            Verdict::Reject => ExitCode::Reject,
            Verdict::Error => ExitCode::Error,
        }
    }

    /// The worse of two verdicts (reject and error outrank fail).
    pub fn worst(self, other: Verdict) -> Verdict {
        fn rank(v: Verdict) -> u8 {
            match v {
                Verdict::Pass => 0,
                Verdict::Fail => 1,
                Verdict::Reject => 2,
                Verdict::Error => 3,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BundleInfo {
    pub path: String,
    /// e.g. `tar+gzip`: the format Nomad would choose (by name), see `detected_format`.
    pub format: String,
    /// The format the content really has, when it differs from `format`.
    pub detected_format: Option<String>,
    pub entries: u64,
    pub unpacked_bytes: u64,
    /// How it was unpacked: `nomad` (go-getter's rules) or `tar` (links kept).
    pub extract: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskInfo {
    pub name: String,
    pub group: Option<String>,
    pub destination: String,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub resolved_command: Option<String>,
    pub user: String,
    /// host source → task destination, as Nomad builds it.
    pub chroot_env: BTreeMap<String, String>,
    /// The task's environment after Nomad's assembly (§4), when known.
    pub env: BTreeMap<String, String>,
    /// How `secrets/` and `private/` were made (tmpfs noexec, or a plain directory).
    pub secrets_dir: Option<String>,
}

/// What the run enforced, feature by feature (`applied`, or `skipped: <why>`).
pub type Enforcement = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RunOutcome {
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub timed_out: bool,
    pub still_running: bool,
    pub oom_killed: bool,
    pub duration_ms: u64,
    pub stdout_tail: String,
    pub stderr_tail: String,
    pub enforced: BTreeMap<String, String>,
}

/// Whether the task's process starts under Nomad, as the static check sees it.
///
/// A task *cannot start* when Nomad fails before the task's program runs: the command
/// is not found on the client, runc's init cannot execute it, or `execve` fails (a
/// missing ELF interpreter or `#!` interpreter, an empty or foreign file, a missing
/// execute bit). Nomad then reports a driver failure or `exec <argv0>: <error>` (exit
/// 255 on Nomad ≥ 1.10), and nothing is run here either. A task whose program starts and
/// then fails, such as the loader exiting 127 on a missing library, *starts*: it is run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StartInfo {
    pub can_start: bool,
    /// When it cannot start: the error Nomad reports, and the exit code.
    pub nomad_error: Option<String>,
    pub exit_code: Option<i32>,
    /// When it starts but the static check predicts how it fails: Nomad's error text…
    pub predicted: Option<String>,
    /// …and the exit code.
    pub exit_code_predicted: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub nomad_version: NomadVersion,
    pub verdict: Verdict,
    pub bundle: BundleInfo,
    pub task: TaskInfo,
    pub findings: Vec<Finding>,
    /// Whether the task starts under Nomad (absent without a command).
    pub start: Option<StartInfo>,
    pub run: Option<RunOutcome>,
    /// One-line root causes, worst first ("glibc-2.40 is not in the bundle: 14 binaries need it").
    pub summary: Vec<String>,
    /// Where the task directory was kept (`--keep`).
    pub kept_work_dir: Option<String>,
    /// What explains several findings at once (a store unpacked under the wrong
    /// destination), each finding naming it in `root_cause`.
    pub root_causes: Vec<RootCause>,
    /// Files the task uses that come from this host through `chroot_env`.
    pub host_dependencies: Vec<HostDependency>,
    /// Why the check could not be carried out (verdict `reject` or `error` without a
    /// bundle report): the message the tool prints on stderr.
    pub error: Option<String>,
    /// `--tree`: the dependency tree of each entrypoint; `null` without `--tree`.
    pub tree: Option<Vec<TreeNode>>,
    /// Where the bundle was unpacked (`--workdir`), and why there.
    pub work_dir: Option<WorkDir>,
}

/// Where a check unpacked the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkDir {
    /// `memory` (a model of the tree, nothing written), `tmpfs` or `disk`.
    pub placement: &'static str,
    /// The task dir's allocation dir (`null` in memory).
    pub path: Option<String>,
    pub why: String,
}

/// `--tree`: one file of the command's dependency tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeNode {
    /// As it is named by what needs it (a `DT_NEEDED` name, a `#!` path, argv0).
    pub name: String,
    /// The file as the task sees it, every link followed; `null` when missing.
    pub path: Option<String>,
    /// `program`, `script-interpreter`, `interpreter` or `library`.
    pub role: &'static str,
    /// `bundle` (the task dir), `host` (chroot_env), `alloc`, or `missing`.
    pub source: &'static str,
    /// `host`: the host file behind it; `missing`: where this host has one, if it does.
    pub host_path: Option<String>,
    pub children: Vec<TreeNode>,
}

/// One cause behind several findings, said once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootCause {
    /// Stable name, e.g. `destination`; findings refer to it in `root_cause`.
    pub id: &'static str,
    pub message: String,
    pub hint: String,
    /// How many findings it explains.
    pub findings: usize,
}

/// A file the task uses that this host provides through `chroot_env`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct HostDependency {
    /// The path as the task sees it (`/lib/x86_64-linux-gnu/libc.so.6`).
    pub path: String,
    /// The host file behind it.
    pub host_path: String,
    /// `program`, `interpreter` (ELF `PT_INTERP`), `script-interpreter` (`#!`) or
    /// `library`.
    pub role: &'static str,
    /// Chain from the entrypoint to what needs it (entrypoint first).
    pub needed_by: Vec<String>,
}

impl Report {
    pub fn new(nomad_version: NomadVersion) -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            nomad_version,
            verdict: Verdict::Pass,
            bundle: BundleInfo::default(),
            task: TaskInfo::default(),
            findings: Vec::new(),
            start: None,
            run: None,
            summary: Vec::new(),
            kept_work_dir: None,
            root_causes: Vec::new(),
            host_dependencies: Vec::new(),
            error: None,
            tree: None,
            work_dir: None,
        }
    }

    /// Recompute the verdict from the findings: any rejection → reject, any error → fail.
    /// A verdict of `error` (set by the caller) is kept.
    pub fn settle_verdict(&mut self) {
        if self.verdict == Verdict::Error {
            return;
        }
        self.verdict = if self.findings.iter().any(Finding::is_rejection) {
            Verdict::Reject
        } else if self.findings.iter().any(|f| f.severity == Severity::Error) {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
    }

    pub fn exit_code(&self) -> ExitCode {
        self.verdict.exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_follows_findings() {
        let mut r = Report::new(NomadVersion::NEWEST);
        r.settle_verdict();
        assert_eq!(r.verdict, Verdict::Pass);
        r.findings
            .push(Finding::warning(Kind::Artifact, Cause::FlattenedLink, "/x"));
        r.settle_verdict();
        assert_eq!(r.verdict, Verdict::Pass);
        r.findings.push(Finding::error(
            Kind::Missing,
            Cause::Library,
            "/lib/libc.so.6",
        ));
        r.settle_verdict();
        assert_eq!(r.verdict, Verdict::Fail);
        r.findings.push(Finding::error(
            Kind::UnsafeEntry,
            Cause::PathTraversal,
            "../x",
        ));
        r.settle_verdict();
        assert_eq!(r.verdict, Verdict::Reject);
        assert_eq!(r.exit_code() as i32, 2);
    }

    #[test]
    fn deny_rules_make_errors_of_what_they_name() {
        let rule = |s: &str| s.parse::<DenyRule>().unwrap();
        assert_eq!(rule("warnings"), DenyRule::Warnings);
        assert_eq!(rule("missing"), DenyRule::Kind(Kind::Missing));
        assert_eq!(
            rule("missing/store-reference"),
            DenyRule::KindCause(Kind::Missing, Cause::StoreReference)
        );
        assert_eq!(
            rule("missing/store-reference").to_string(),
            "missing/store-reference"
        );
        for bad in ["warning", "missing/nope", "nope/library", ""] {
            let e = bad.parse::<DenyRule>().unwrap_err();
            assert!(e.contains("KIND/CAUSE"), "{e}");
        }

        let mut r = Report::new(NomadVersion::NEWEST);
        r.findings = vec![
            Finding::warning(Kind::Missing, Cause::StoreReference, "/nix/store/x"),
            Finding::warning(Kind::Environment, Cause::User, "/etc/passwd"),
            Finding::info(Kind::Artifact, Cause::FileCountLimit, "archive"),
        ];
        apply_deny(&mut r.findings, &[rule("missing/store-reference")]);
        assert_eq!(r.findings[0].severity, Severity::Error);
        assert_eq!(
            r.findings[0].denied_by.as_deref(),
            Some("missing/store-reference")
        );
        assert_eq!(r.findings[1].severity, Severity::Warning);
        r.settle_verdict();
        assert_eq!(r.verdict, Verdict::Fail);
        // A denied finding fails the check; it never turns it into a rejection.
        apply_deny(&mut r.findings, &[rule("artifact")]);
        assert_eq!(r.findings[2].severity, Severity::Error);
        r.settle_verdict();
        assert_eq!(r.verdict, Verdict::Fail);
        apply_deny(&mut r.findings, &[DenyRule::Warnings]);
        assert!(r.findings.iter().all(|f| f.severity == Severity::Error));
    }

    #[test]
    fn serialises_contract_names() {
        let f = Finding::error(Kind::UnsafeEntry, Cause::PathTraversal, "../../etc/passwd")
            .message("entry contains '..'");
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["kind"], "unsafe-entry");
        assert_eq!(v["cause"], "path-traversal");
        assert_eq!(v["severity"], "error");
        assert_eq!(v["needed_by"], serde_json::json!([]));
        assert_eq!(v["nomad_error"], serde_json::Value::Null);
    }
}
