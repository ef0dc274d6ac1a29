//! The typed values of a spec's keys, checked where they are written: files relative to
//! the spec, regexes, durations, octal modes, chroot_env maps and allow_missing entries
//! with their reasons.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::{AllowMissing, Matcher, Parser, SpecError};
use crate::config::parse_duration;
use crate::nomad::NomadVersion;

impl Parser<'_> {
    /// A file the spec names, relative to the spec's directory; it must exist.
    pub(super) fn existing_file(
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

    pub(super) fn regex(&self, key: &str, value: &Spanned<String>) -> Result<Matcher, SpecError> {
        Matcher::new(value.get_ref()).map_err(|e| {
            self.err(
                Some(value.span()),
                format!("`{key}` is not a valid regex: {e}"),
            )
        })
    }

    pub(super) fn duration(
        &self,
        key: &str,
        value: &Spanned<String>,
    ) -> Result<Duration, SpecError> {
        parse_duration(value.get_ref())
            .map_err(|e| self.err(Some(value.span()), format!("`{key}`: {e}")))
    }

    /// `mode = "0755"`, `mode = "755"` or `mode = 0o755`.
    pub(super) fn mode(&self, value: &Spanned<toml::Value>) -> Result<u32, SpecError> {
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
    pub(super) fn chroot_env(
        &self,
        value: &Spanned<toml::Value>,
    ) -> Result<Vec<String>, SpecError> {
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
    pub(super) fn allow_missing(
        &self,
        entry: &Spanned<toml::Value>,
    ) -> Result<AllowMissing, SpecError> {
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
