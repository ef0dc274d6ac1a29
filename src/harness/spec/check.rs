//! One `[[check]]` table over `[defaults]`: which of the two a key comes from, which
//! keys contradict each other, and the [`Check`] they make.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::{Check, CheckKind, Expect, Parser, RawCheck, Settings, SpecError, Target};
use crate::nomad::NomadVersion;

impl Parser<'_> {
    pub(super) fn check(
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
}

/// The first key that is set.
fn first_set<'a>(keys: &[(&'a str, bool)]) -> Option<&'a str> {
    keys.iter().find(|(_, set)| *set).map(|(k, _)| *k)
}
