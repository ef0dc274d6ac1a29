//! The test spec: a TOML file of `[[check]]` tables with optional `[defaults]`, parsed
//! with line numbers and validated completely before anything is unpacked or run.
//!
//! Every key is documented in the README's "Test specs" section. Unknown keys are errors
//! (`deny_unknown_fields`), reported with the line toml's spans point at.
//!
//! `check` turns one `[[check]]` table, over `[defaults]`, into a [`Check`]; `values`
//! reads the typed values of its keys (files, regexes, modes, …).

mod check;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

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

/// The spec being read: its text (lines, `# reason` comments), its path (errors) and
/// its directory (the files it names); `check` and `values` add its other methods.
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
}

/// serde's "unknown key `x`, expected one of `a`, `b`": the key and the keys it knows.
fn unknown_key(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown key `")?;
    let (key, rest) = rest.split_once('`')?;
    let known = rest.split('`').skip(1).step_by(2).collect::<Vec<_>>();
    Some((key, known))
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
