//! The test spec: a TOML file of `[[check]]` tables with optional `[defaults]`, parsed
//! with line numbers and validated completely before anything is unpacked or run.
//!
//! Every key is documented in the README's "Test specs" section. Unknown keys are errors
//! (`deny_unknown_fields`), reported with the line toml's spans point at.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::config::parse_duration;
use crate::nomad::NomadVersion;

/// A spec that cannot be used, with the line to look at.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SpecError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// A loaded, validated spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The spec file as given on the command line (for annotations).
    pub path: PathBuf,
    /// The directory relative paths in the spec are resolved against.
    pub dir: PathBuf,
    pub checks: Vec<Check>,
}

/// What a check expects of the bundle's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Verdict `pass`.
    Pass,
    /// Verdict `fail` or `reject`: the bundle is broken, which is what the check states.
    Fail,
    /// Verdict `reject`: Nomad refuses the artifact.
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtractKey {
    Nomad,
    Tar,
}

/// A regex for a run's output; the empty string means "must be empty".
#[derive(Debug, Clone)]
pub struct Matcher {
    pub source: String,
    regex: Option<Regex>,
}

impl Matcher {
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        let regex = if source.is_empty() {
            None
        } else {
            Some(Regex::new(source)?)
        };
        Ok(Matcher {
            source: source.to_owned(),
            regex,
        })
    }

    pub fn is_match(&self, text: &str) -> bool {
        match &self.regex {
            Some(r) => r.is_match(text),
            None => text.is_empty(),
        }
    }
}

/// A path the client provides at run time, and why the spec allows it to be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowMissing {
    pub path: String,
    pub reason: String,
}

impl AllowMissing {
    /// The path itself or anything below it.
    pub fn covers(&self, path: &str) -> bool {
        let base = self.path.trim_end_matches('/');
        path == self.path
            || path == base
            || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
    }
}

/// What is checked.
#[derive(Debug, Clone)]
pub enum Target {
    /// A bundle file, unpacked as an artifact with this destination.
    Bundle {
        path: PathBuf,
        /// As written in the spec (for reports).
        display: String,
        destination: Option<String>,
        archive: Option<String>,
    },
    /// A task of a Nomad jobspec; `artifacts` maps artifact sources to local files.
    Job {
        file: PathBuf,
        task: Option<String>,
        artifacts: Vec<(String, PathBuf)>,
    },
}

/// Which of the four kinds of check.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// No command: the static check of every executable in the bundle.
    Static,
    /// Run the command (or only resolve it statically with `no_run`).
    Command {
        command: String,
        args: Vec<String>,
        exit_code: Option<i32>,
        stdout: Option<Matcher>,
        stderr: Option<Matcher>,
        /// `service = true`: how long it must stay up.
        healthy_after: Option<Duration>,
    },
    /// A file inside the task.
    File {
        path: String,
        exists: bool,
        mode: Option<u32>,
        content: Option<Matcher>,
    },
}

/// Settings that shape the emulated client and task (CLI flags of the same names).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub nomad_version: Option<String>,
    pub chroot_env: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub timeout: Option<String>,
    pub healthy_after: Option<String>,
    pub extract: Option<ExtractKey>,
    pub no_run: bool,
    pub client_config: Vec<PathBuf>,
    /// `deny = ["warnings", "missing/store-reference"]`: as `--deny`.
    pub deny: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    /// Line of the check's `[[check]]` header.
    pub line: usize,
    pub target: Target,
    pub kind: CheckKind,
    pub expect: Expect,
    pub allow_missing: Vec<AllowMissing>,
    pub settings: Settings,
    /// `ignore = "why"`: listed, not run unless `--ignored`/`--include-ignored`.
    pub ignore: Option<String>,
}

impl Check {
    /// Whether running this check starts the task (and so needs the sandbox).
    pub fn runs(&self) -> bool {
        matches!(self.kind, CheckKind::Command { .. }) && !self.settings.no_run
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    defaults: Option<Spanned<RawCheck>>,
    #[serde(default)]
    check: Vec<Spanned<RawCheck>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: Option<Spanned<String>>,
    bundle: Option<Spanned<String>>,
    archive: Option<String>,
    destination: Option<String>,
    job: Option<Spanned<String>>,
    task: Option<String>,
    artifacts: Option<BTreeMap<String, Spanned<String>>>,
    command: Option<String>,
    args: Option<Vec<String>>,
    expect: Option<Expect>,
    exit_code: Option<i32>,
    stdout: Option<Spanned<String>>,
    stderr: Option<Spanned<String>>,
    service: Option<bool>,
    healthy_after: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    exists: Option<bool>,
    mode: Option<Spanned<toml::Value>>,
    content: Option<Spanned<String>>,
    allow_missing: Option<Vec<Spanned<toml::Value>>>,
    nomad_version: Option<Spanned<String>>,
    chroot_env: Option<Spanned<toml::Value>>,
    env: Option<BTreeMap<String, String>>,
    user: Option<String>,
    timeout: Option<Spanned<String>>,
    extract: Option<ExtractKey>,
    no_run: Option<bool>,
    client_config: Option<Vec<Spanned<String>>>,
    deny: Option<Spanned<Vec<String>>>,
    ignore: Option<String>,
}

impl Spec {
    /// Read and validate a spec file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = crate::config::read_input_file(path).map_err(|e| SpecError {
            path: path.to_owned(),
            line: None,
            message: format!("cannot read the spec: {e}"),
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        Spec::parse(&text, path, &dir)
    }

    /// Parse spec text; `dir` is what relative paths are relative to.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Spec, SpecError> {
        let p = Parser { text, path, dir };
        let raw: RawSpec = toml::from_str(text).map_err(|e| {
            let message = e
                .message()
                .trim()
                .replacen("unknown field", "unknown key", 1);
            let message = match unknown_key(&message) {
                Some((key, known)) => format!(
                    "unknown key `{key}`{}; a check takes {} (see the README's \"Test specs\" section)",
                    crate::suggest::did_you_mean(key, known.iter().copied()),
                    known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ),
                None => message,
            };
            p.err(e.span(), message)
        })?;
        let defaults = match raw.defaults {
            Some(d) => {
                if let Some(n) = &d.get_ref().name {
                    return Err(p.err(
                        Some(n.span()),
                        "`name` cannot be set in [defaults]: every check names itself".into(),
                    ));
                }
                d.into_inner()
            }
            None => RawCheck::default(),
        };
        if raw.check.is_empty() {
            return Err(p.err(
                None,
                "the spec has no [[check]] table: nothing to test".into(),
            ));
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut checks = Vec::with_capacity(raw.check.len());
        for (i, c) in raw.check.into_iter().enumerate() {
            let span = c.span();
            let check = p.check(i + 1, span.clone(), c.into_inner(), &defaults)?;
            if let Some(first) = seen.insert(check.name.clone(), check.line) {
                return Err(p.err(
                    Some(span),
                    format!(
                        "check name `{}` is already used at line {first}: names must be unique",
                        check.name
                    ),
                ));
            }
            checks.push(check);
        }
        Ok(Spec {
            path: path.to_owned(),
            dir: dir.to_owned(),
            checks,
        })
    }
}

struct Parser<'a> {
    text: &'a str,
    path: &'a Path,
    dir: &'a Path,
}

impl Parser<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: Option<Range<usize>>, message: String) -> SpecError {
        SpecError {
            path: self.path.to_owned(),
            line: span.map(|s| self.line_of(s.start)),
            message,
        }
    }

    /// A file the spec names, relative to the spec's directory; it must exist.
    fn existing_file(
        &self,
        what: &str,
        value: &Spanned<String>,
        check: &str,
    ) -> Result<PathBuf, SpecError> {
        let rel = value.get_ref();
        let full = self.dir.join(rel);
        if !full.is_file() {
            let why = if full.exists() {
                "is not a regular file"
            } else {
                "does not exist"
            };
            return Err(self.err(
                Some(value.span()),
                format!(
                    "check `{check}`: {what} `{rel}` {why} (looked for `{}`; paths in a spec are relative to the spec file)",
                    full.display()
                ),
            ));
        }
        Ok(full)
    }

    fn regex(&self, key: &str, value: &Spanned<String>) -> Result<Matcher, SpecError> {
        Matcher::new(value.get_ref()).map_err(|e| {
            self.err(
                Some(value.span()),
                format!("`{key}` is not a valid regex: {e}"),
            )
        })
    }

    fn duration(&self, key: &str, value: &Spanned<String>) -> Result<Duration, SpecError> {
        parse_duration(value.get_ref())
            .map_err(|e| self.err(Some(value.span()), format!("`{key}`: {e}")))
    }

    fn check(
        &self,
        index: usize,
        span: Range<usize>,
        own: RawCheck,
        defaults: &RawCheck,
    ) -> Result<Check, SpecError> {
        let line = self.line_of(span.start);
        let err = |s: Option<Range<usize>>, m: String| self.err(s.or(Some(span.clone())), m);
        let Some(name) = own.name.as_ref() else {
            return Err(err(None, format!("check #{index} has no `name`")));
        };
        let name_span = name.span();
        let name = name.get_ref().clone();
        // nextest's custom-harness rules: `--list --format terse` prints `<name>: test`
        // and `--exact <name>` must select exactly that check.
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(
                Some(name_span),
                format!(
                    "check name {name:?} must be non-empty and contain no spaces or control characters (it is the test's name)"
                ),
            ));
        }
        let n = name.as_str();

        // The check's own `bundle`/`job` and `file`/`command` replace the other one
        // inherited from [defaults].
        let (bundle, job) = match (&own.bundle, &own.job) {
            (Some(_), Some(j)) => {
                return Err(err(
                    Some(j.span()),
                    format!("check `{n}` sets both `bundle` and `job`: choose one"),
                ));
            }
            (Some(b), None) => (Some(b), None),
            (None, Some(j)) => (None, Some(j)),
            (None, None) => (defaults.bundle.as_ref(), defaults.job.as_ref()),
        };
        let target = match (bundle, job) {
            (Some(b), None) => Target::Bundle {
                path: self.existing_file("bundle", b, n)?,
                display: b.get_ref().clone(),
                destination: own.destination.clone().or(defaults.destination.clone()),
                archive: own.archive.clone().or(defaults.archive.clone()),
            },
            (None, Some(j)) => {
                let file = self.existing_file("job file", j, n)?;
                let mut artifacts = Vec::new();
                for (src, local) in own
                    .artifacts
                    .as_ref()
                    .or(defaults.artifacts.as_ref())
                    .into_iter()
                    .flatten()
                {
                    artifacts.push((src.clone(), self.existing_file("artifact", local, n)?));
                }
                Target::Job {
                    file,
                    task: own.task.clone().or(defaults.task.clone()),
                    artifacts,
                }
            }
            (Some(_), Some(j)) => {
                return Err(err(
                    Some(j.span()),
                    "[defaults] sets both `bundle` and `job`: choose one".into(),
                ));
            }
            (None, None) => {
                return Err(err(
                    None,
                    format!(
                        "check `{n}` has neither `bundle` nor `job`: say what to check (bundle = \"dist/app.tar.gz\")"
                    ),
                ));
            }
        };
        if own.task.is_some() && job.is_none() {
            return Err(err(
                None,
                format!("check `{n}`: `task` selects a task of a `job` file"),
            ));
        }

        let (file, command) = match (&own.file, &own.command) {
            (Some(f), Some(_)) => {
                return Err(err(
                    Some(f.span()),
                    format!(
                        "check `{n}` sets both `file` and `command`: a file check does not run anything; split it in two"
                    ),
                ));
            }
            (Some(f), None) => (Some(f), None),
            (None, Some(c)) => (None, Some(c)),
            (None, None) => (defaults.file.as_ref(), defaults.command.as_ref()),
        };
        let pick = |o: &Option<Spanned<String>>, d: &Option<Spanned<String>>| {
            o.clone().or_else(|| d.clone())
        };
        let exit_code = own.exit_code.or(defaults.exit_code);
        let stdout = pick(&own.stdout, &defaults.stdout);
        let stderr = pick(&own.stderr, &defaults.stderr);
        let service = own.service.or(defaults.service).unwrap_or(false);
        let healthy_after = pick(&own.healthy_after, &defaults.healthy_after);
        let no_run = own.no_run.or(defaults.no_run).unwrap_or(false);
        let args = own.args.clone().or(defaults.args.clone());

        // Keys that only mean something when a command runs.
        let run_keys = [
            ("args", own.args.is_some()),
            ("exit_code", own.exit_code.is_some()),
            ("stdout", own.stdout.is_some()),
            ("stderr", own.stderr.is_some()),
            ("service", own.service.is_some()),
            ("healthy_after", own.healthy_after.is_some()),
        ];
        let kind = if let Some(f) = file {
            let path = f.get_ref().clone();
            if !path.starts_with('/') {
                return Err(err(
                    Some(f.span()),
                    format!(
                        "check `{n}`: `file` must be an absolute path inside the task, e.g. /local/app/config.json"
                    ),
                ));
            }
            if let Some(key) = first_set(&run_keys) {
                return Err(err(
                    None,
                    format!("check `{n}`: `{key}` needs a `command`; a file check runs nothing"),
                ));
            }
            let exists = own.exists.or(defaults.exists).unwrap_or(true);
            let mode = match own.mode.as_ref().or(defaults.mode.as_ref()) {
                Some(m) => Some(self.mode(m)?),
                None => None,
            };
            let content = match pick(&own.content, &defaults.content) {
                Some(c) => Some(self.regex("content", &c)?),
                None => None,
            };
            if !exists && (mode.is_some() || content.is_some()) {
                return Err(err(
                    None,
                    format!(
                        "check `{n}`: `mode` and `content` describe a file that exists, but `exists = false`"
                    ),
                ));
            }
            CheckKind::File {
                path,
                exists,
                mode,
                content,
            }
        } else {
            if let Some(key) = first_set(&[
                ("exists", own.exists.is_some()),
                ("mode", own.mode.is_some()),
                ("content", own.content.is_some()),
            ]) {
                return Err(err(
                    None,
                    format!("check `{n}`: `{key}` needs `file` (the path inside the task)"),
                ));
            }
            match command {
                None => {
                    if let Some(key) = first_set(&run_keys) {
                        return Err(err(
                            None,
                            format!("check `{n}`: `{key}` needs a `command` to run"),
                        ));
                    }
                    CheckKind::Static
                }
                Some(command) => {
                    if service && exit_code.is_some() {
                        return Err(err(
                            None,
                            format!(
                                "check `{n}`: a service keeps running, so `exit_code` does not apply"
                            ),
                        ));
                    }
                    if own.healthy_after.is_some() && !service {
                        return Err(err(
                            own.healthy_after.as_ref().map(Spanned::span),
                            format!("check `{n}`: `healthy_after` needs `service = true`"),
                        ));
                    }
                    if no_run
                        && (exit_code.is_some() || stdout.is_some() || stderr.is_some() || service)
                    {
                        return Err(err(
                            None,
                            format!(
                                "check `{n}`: `no_run = true` runs nothing, so exit_code, stdout, stderr and service cannot be checked"
                            ),
                        ));
                    }
                    let healthy_after = if service {
                        Some(match &healthy_after {
                            Some(h) => self.duration("healthy_after", h)?,
                            None => Duration::from_secs(3),
                        })
                    } else {
                        None
                    };
                    CheckKind::Command {
                        command: command.clone(),
                        args: args.unwrap_or_default(),
                        exit_code,
                        stdout: stdout.map(|s| self.regex("stdout", &s)).transpose()?,
                        stderr: stderr.map(|s| self.regex("stderr", &s)).transpose()?,
                        healthy_after,
                    }
                }
            }
        };

        let mut allow_missing = Vec::new();
        for entry in defaults
            .allow_missing
            .iter()
            .flatten()
            .chain(own.allow_missing.iter().flatten())
        {
            allow_missing.push(self.allow_missing(entry)?);
        }

        let nomad_version = pick(&own.nomad_version, &defaults.nomad_version);
        if let Some(v) = &nomad_version {
            v.get_ref()
                .parse::<NomadVersion>()
                .map_err(|e| self.err(Some(v.span()), format!("`nomad_version`: {e}")))?;
        }
        let chroot_env = match own.chroot_env.as_ref().or(defaults.chroot_env.as_ref()) {
            Some(v) => self.chroot_env(v)?,
            None => Vec::new(),
        };
        let timeout = pick(&own.timeout, &defaults.timeout);
        if let Some(t) = &timeout {
            self.duration("timeout", t)?;
        }
        let mut env = defaults.env.clone().unwrap_or_default();
        env.extend(own.env.clone().unwrap_or_default());
        let mut client_config = Vec::new();
        for c in own
            .client_config
            .as_ref()
            .or(defaults.client_config.as_ref())
            .into_iter()
            .flatten()
        {
            client_config.push(self.existing_file("client_config", c, n)?);
        }
        let deny = match own.deny.as_ref().or(defaults.deny.as_ref()) {
            Some(d) => {
                for rule in d.get_ref() {
                    rule.parse::<crate::finding::DenyRule>()
                        .map_err(|e| self.err(Some(d.span()), format!("`deny`: {e}")))?;
                }
                d.get_ref().clone()
            }
            None => Vec::new(),
        };
        let ignore = own.ignore.clone().or(defaults.ignore.clone());
        if ignore.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(err(
                None,
                format!("check `{n}`: `ignore` takes the reason the check is skipped"),
            ));
        }

        Ok(Check {
            name,
            line,
            target,
            kind,
            expect: own.expect.or(defaults.expect).unwrap_or(Expect::Pass),
            allow_missing,
            settings: Settings {
                nomad_version: nomad_version.map(Spanned::into_inner),
                chroot_env,
                env,
                user: own.user.clone().or(defaults.user.clone()),
                timeout: timeout.map(Spanned::into_inner),
                healthy_after: healthy_after.map(Spanned::into_inner),
                extract: own.extract.or(defaults.extract),
                no_run,
                client_config,
                deny,
            },
            ignore,
        })
    }

    /// `mode = "0755"`, `mode = "755"` or `mode = 0o755`.
    fn mode(&self, value: &Spanned<toml::Value>) -> Result<u32, SpecError> {
        let bad = |why: &str| {
            self.err(
                Some(value.span()),
                format!("`mode` {why}: write it in octal, e.g. mode = \"0755\" or mode = 0o755"),
            )
        };
        let mode = match value.get_ref() {
            toml::Value::String(s) => {
                let digits = s.trim_start_matches("0o");
                u32::from_str_radix(digits, 8).map_err(|_| bad("is not an octal number"))?
            }
            toml::Value::Integer(i) => {
                // A decimal literal (`mode = 644`) is almost always meant as octal.
                if !self.text[value.span()].trim().starts_with("0o") {
                    return Err(bad("is a decimal number"));
                }
                u32::try_from(*i).map_err(|_| bad("is out of range"))?
            }
            _ => return Err(bad("must be a string or an integer")),
        };
        if mode > 0o7777 {
            return Err(bad("is larger than 0o7777 (a decimal number?)"));
        }
        Ok(mode)
    }

    /// `"nomad-default"`, `"none"`, or a list of `SRC=DST` (which may start with either).
    fn chroot_env(&self, value: &Spanned<toml::Value>) -> Result<Vec<String>, SpecError> {
        let bad = || {
            self.err(
                Some(value.span()),
                "`chroot_env` is \"nomad-default\", \"none\", or a list of \"SRC=DST\" strings"
                    .into(),
            )
        };
        let items: Vec<String> = match value.get_ref() {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        };
        crate::taskdir::ChrootEnv::from_args(NomadVersion::NEWEST, &items)
            .map_err(|e| self.err(Some(value.span()), format!("`chroot_env`: {e}")))?;
        if items.is_empty() {
            // An empty list is an empty map, which a client treats as "use the default".
            return Ok(vec!["nomad-default".into()]);
        }
        Ok(items)
    }

    /// A string entry needs a `# reason` comment after it on the same line; a table
    /// entry carries `reason` itself.
    fn allow_missing(&self, entry: &Spanned<toml::Value>) -> Result<AllowMissing, SpecError> {
        let span = entry.span();
        let err = |m: String| self.err(Some(span.clone()), m);
        let (path, reason) = match entry.get_ref() {
            toml::Value::String(path) => {
                let line_end = self.text[span.end..]
                    .find('\n')
                    .map_or(self.text.len(), |i| span.end + i);
                let rest = self.text[span.end..line_end]
                    .trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == ']');
                let reason = rest.strip_prefix('#').map(str::trim).unwrap_or("");
                if reason.is_empty() {
                    return Err(err(format!(
                        "allow_missing `{path}` has no reason: end its line with `# why the client provides it`, or write {{ path = \"{path}\", reason = \"…\" }}"
                    )));
                }
                (path.clone(), reason.to_owned())
            }
            toml::Value::Table(t) => {
                if let Some(k) = t.keys().find(|k| *k != "path" && *k != "reason") {
                    return Err(err(format!(
                        "unknown key `{k}` in an allow_missing entry (expected `path` and `reason`)"
                    )));
                }
                let path = t.get("path").and_then(toml::Value::as_str);
                let reason = t.get("reason").and_then(toml::Value::as_str);
                match (path, reason) {
                    (Some(p), Some(r)) if !r.trim().is_empty() => (p.to_owned(), r.to_owned()),
                    (None, _) => {
                        return Err(err("an allow_missing entry needs `path` (a string)".into()));
                    }
                    (Some(p), _) => {
                        return Err(err(format!(
                            "allow_missing `{p}` needs a non-empty `reason`"
                        )));
                    }
                }
            }
            _ => {
                return Err(err(
                    "allow_missing entries are paths (\"/etc/hosts\", # reason) or { path, reason } tables".into(),
                ));
            }
        };
        if !path.starts_with('/') {
            return Err(err(format!(
                "allow_missing `{path}` must be an absolute path as the task sees it"
            )));
        }
        Ok(AllowMissing { path, reason })
    }
}

/// serde's "unknown key `x`, expected one of `a`, `b`": the key and the keys it knows.
fn unknown_key(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown key `")?;
    let (key, rest) = rest.split_once('`')?;
    let known = rest.split('`').skip(1).step_by(2).collect::<Vec<_>>();
    Some((key, known))
}

/// The first key that is set.
fn first_set<'a>(keys: &[(&'a str, bool)]) -> Option<&'a str> {
    keys.iter().find(|(_, set)| *set).map(|(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        d
    }

    fn parse(text: &str, d: &tempfile::TempDir) -> Result<Spec, SpecError> {
        Spec::parse(text, Path::new("checks.toml"), d.path())
    }

    #[test]
    fn the_issue_example_parses() {
        let d = dir_with(&["dist/app.tar.gz"]);
        let spec = parse(
            r#"
[defaults]                   # optional; any check key can be set here
nomad_version = "2.0"
chroot_env = ["/etc/passwd=/etc/passwd", "/etc/ssl/certs=/etc/ssl/certs"]

[[check]]
name = "app-self-contained"
bundle = "dist/app.tar.gz"   # relative to the spec file
destination = "/"
expect = "pass"

[[check]]
name = "app-version"
bundle = "dist/app.tar.gz"
destination = "/"
command = "/bin/sh"
args = ["-c", "app --version"]
exit_code = 0
stdout = "^app 1\\."
stderr = ""

[[check]]
name = "server-stays-up"
bundle = "dist/app.tar.gz"
destination = "/"
command = "/usr/local/bin/server"
service = true
healthy_after = "3s"

[[check]]
name = "ca-bundle"
bundle = "dist/app.tar.gz"
destination = "/"
file = "/etc/ssl/certs/ca-bundle.crt"
exists = true
allow_missing = ["/etc/hosts"]  # the client's chroot_env provides it
"#,
            &d,
        )
        .unwrap();
        assert_eq!(spec.checks.len(), 4);
        let names: Vec<_> = spec.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "app-self-contained",
                "app-version",
                "server-stays-up",
                "ca-bundle"
            ]
        );
        assert_eq!(spec.checks[0].line, 6);
        assert!(matches!(spec.checks[0].kind, CheckKind::Static));
        match &spec.checks[1].kind {
            CheckKind::Command {
                command,
                args,
                exit_code,
                stdout,
                stderr,
                healthy_after,
            } => {
                assert_eq!(command, "/bin/sh");
                assert_eq!(args, &["-c", "app --version"]);
                assert_eq!(*exit_code, Some(0));
                let out = stdout.as_ref().unwrap();
                assert!(out.is_match("app 1.2.3\n") && !out.is_match("xapp 1.2"));
                let err = stderr.as_ref().unwrap();
                assert!(err.is_match("") && !err.is_match("warning"));
                assert!(healthy_after.is_none());
            }
            k => panic!("{k:?}"),
        }
        match &spec.checks[2].kind {
            CheckKind::Command { healthy_after, .. } => {
                assert_eq!(*healthy_after, Some(Duration::from_secs(3)))
            }
            k => panic!("{k:?}"),
        }
        match &spec.checks[3].kind {
            CheckKind::File { path, exists, .. } => {
                assert_eq!(path, "/etc/ssl/certs/ca-bundle.crt");
                assert!(*exists);
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(
            spec.checks[3].allow_missing,
            [AllowMissing {
                path: "/etc/hosts".into(),
                reason: "the client's chroot_env provides it".into()
            }]
        );
        assert_eq!(spec.checks[3].settings.chroot_env.len(), 2);
        assert_eq!(
            spec.checks[0].settings.nomad_version.as_deref(),
            Some("2.0")
        );
        match &spec.checks[0].target {
            Target::Bundle { path, .. } => assert_eq!(path, &d.path().join("dist/app.tar.gz")),
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let d = dir_with(&["a.tgz"]);
        let e = parse(
            "[[check]]\nname = \"x\"\nbundle = \"a.tgz\"\nexpected = \"pass\"\n",
            &d,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4));
        let s = e.to_string();
        assert!(
            s.starts_with("checks.toml:4: unknown key `expected`"),
            "{s}"
        );
        let e = parse("[default]\n", &d).unwrap_err();
        assert!(e.to_string().contains("unknown key `default`"), "{e}");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn missing_bundles_are_reported_with_their_line() {
        let d = dir_with(&[]);
        let e = parse(
            "[[check]]\nname = \"x\"\nbundle = \"dist/nope.tar.gz\"\n",
            &d,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(
            e.message
                .contains("bundle `dist/nope.tar.gz` does not exist"),
            "{e}"
        );
    }

    #[test]
    fn allow_missing_needs_a_reason() {
        let d = dir_with(&["a.tgz"]);
        let base = "[[check]]\nname = \"x\"\nbundle = \"a.tgz\"\n";
        let e = parse(&format!("{base}allow_missing = [\"/etc/hosts\"]\n"), &d).unwrap_err();
        assert!(e.message.contains("has no reason"), "{e}");
        assert_eq!(e.line, Some(4));
        let e = parse(
            &format!("{base}allow_missing = [\"/a\", \"/b\"] # only covers /b\n"),
            &d,
        )
        .unwrap_err();
        assert!(e.message.contains("`/a` has no reason"), "{e}");
        let ok = parse(
            &format!(
                "{base}allow_missing = [\n  \"/etc/hosts\", # chroot_env\n  {{ path = \"/etc/resolv.conf\", reason = \"DNS\" }},\n]\n"
            ),
            &d,
        )
        .unwrap();
        let am = &ok.checks[0].allow_missing;
        assert_eq!(am.len(), 2);
        assert_eq!(am[0].reason, "chroot_env");
        assert_eq!(am[1].path, "/etc/resolv.conf");
        assert!(am[0].covers("/etc/hosts"));
        assert!(!am[0].covers("/etc/hostsx"));
        let dir = AllowMissing {
            path: "/etc/ssl/".into(),
            reason: "r".into(),
        };
        assert!(dir.covers("/etc/ssl/certs/ca.pem") && dir.covers("/etc/ssl"));
        let e = parse(
            &format!("{base}allow_missing = [{{ path = \"/x\", why = \"y\" }}]\n"),
            &d,
        )
        .unwrap_err();
        assert!(e.message.contains("unknown key `why`"), "{e}");
    }

    #[test]
    fn defaults_apply_and_checks_override() {
        let d = dir_with(&["a.tgz", "b.tgz"]);
        let spec = parse(
            r#"
[defaults]
bundle = "a.tgz"
destination = "/"
env = { A = "1", B = "2" }
allow_missing = [{ path = "/etc/hosts", reason = "client" }]
timeout = "10s"

[[check]]
name = "one"

[[check]]
name = "two"
bundle = "b.tgz"
env = { B = "3" }
allow_missing = ["/etc/resolv.conf"] # DNS
"#,
            &d,
        )
        .unwrap();
        let two = &spec.checks[1];
        match &two.target {
            Target::Bundle {
                display,
                destination,
                ..
            } => {
                assert_eq!(display, "b.tgz");
                assert_eq!(destination.as_deref(), Some("/"));
            }
            t => panic!("{t:?}"),
        }
        assert_eq!(two.settings.env["A"], "1");
        assert_eq!(two.settings.env["B"], "3");
        assert_eq!(two.allow_missing.len(), 2);
        assert_eq!(spec.checks[0].settings.timeout.as_deref(), Some("10s"));
    }

    #[test]
    fn inconsistent_checks_are_refused() {
        let d = dir_with(&["a.tgz"]);
        let base = "[[check]]\nname = \"x\"\nbundle = \"a.tgz\"\n";
        for (extra, needle) in [
            ("stdout = \"x\"\n", "`stdout` needs a `command`"),
            (
                "file = \"/b\"\nhealthy_after = \"3s\"\n",
                "`healthy_after` needs a `command`",
            ),
            (
                "command = \"/a\"\nfile = \"/b\"\n",
                "both `file` and `command`",
            ),
            ("file = \"b\"\n", "absolute path"),
            ("exists = true\n", "`exists` needs `file`"),
            (
                "command = \"/a\"\nservice = true\nexit_code = 0\n",
                "exit_code` does not apply",
            ),
            (
                "command = \"/a\"\nhealthy_after = \"3s\"\n",
                "needs `service = true`",
            ),
            (
                "command = \"/a\"\nno_run = true\nexit_code = 1\n",
                "runs nothing",
            ),
            ("command = \"/a\"\nstdout = \"(\"\n", "not a valid regex"),
            ("file = \"/b\"\nmode = \"999\"\n", "octal"),
            ("file = \"/b\"\nmode = 644\n", "decimal"),
            ("file = \"/b\"\nmode = \"77777\"\n", "0o7777"),
            ("nomad_version = \"0.9\"\n", "not modelled"),
            ("chroot_env = \"etc\"\n", "chroot_env"),
            ("expect = \"maybe\"\n", "unknown variant `maybe`"),
            ("task = \"web\"\n", "`task` selects a task of a `job`"),
            (
                "command = \"/a\"\nservice = true\nhealthy_after = \"3 parsecs\"\n",
                "healthy_after",
            ),
        ] {
            let e = parse(&format!("{base}{extra}"), &d).unwrap_err();
            assert!(e.message.contains(needle), "{extra:?}: {e}");
            assert!(e.line.is_some(), "{extra:?}: {e}");
        }
        let e = parse(
            "[[check]]\nname = \"x\"\nbundle = \"a.tgz\"\n[[check]]\nname = \"x\"\nbundle = \"a.tgz\"\n",
            &d,
        )
        .unwrap_err();
        assert!(e.message.contains("already used at line 1"), "{e}");
        assert_eq!(e.line, Some(4));
        let e = parse("[[check]]\nname = \"a b\"\nbundle = \"a.tgz\"\n", &d).unwrap_err();
        assert!(e.message.contains("no spaces"), "{e}");
        let e = parse("[[check]]\nbundle = \"a.tgz\"\n", &d).unwrap_err();
        assert!(e.message.contains("has no `name`"), "{e}");
        let e = parse("[[check]]\nname = \"a\"\n", &d).unwrap_err();
        assert!(e.message.contains("neither `bundle` nor `job`"), "{e}");
        let e = parse("", &d).unwrap_err();
        assert!(e.message.contains("no [[check]]"), "{e}");
    }

    #[test]
    fn file_modes_parse_as_octal() {
        let d = dir_with(&["a.tgz"]);
        for (m, want) in [("\"0755\"", 0o755), ("\"644\"", 0o644), ("0o4755", 0o4755)] {
            let s = parse(
                &format!(
                    "[[check]]\nname = \"x\"\nbundle = \"a.tgz\"\nfile = \"/f\"\nmode = {m}\n"
                ),
                &d,
            )
            .unwrap();
            match &s.checks[0].kind {
                CheckKind::File { mode, .. } => assert_eq!(*mode, Some(want)),
                k => panic!("{k:?}"),
            }
        }
    }
}
