//! From the run's trace to findings: which failed lookups matter.
//!
//! A task's run is full of failed lookups that mean nothing: busybox probes
//! `/etc/busybox.conf`, the loader falls back to `/etc/ld.so.cache`, Python stats dozens
//! of landmarks, glibc looks for locale and gconv data it can do without. Reporting them
//! as errors points the user at the wrong cause. So each miss gets a role:
//!
//! - **optional**: a known probe whose absence programs survive → `info`;
//! - **needed**: the program could not go on without it: an `execve` that failed, a
//!   library the loader (or `dlopen`) did not find, a file the program names in its own
//!   stderr. When the run failed, the needed miss closest before the end is the one
//!   `error`, and it comes first; other needed misses are warnings;
//! - anything else → `warning` (it may matter on another code path).

use std::fs;

use super::trace::Miss;
use crate::finding::{Cause, Finding, Kind, RunOutcome, Severity};

/// One runtime miss as reported: a path, or a library or command name with every place
/// searched.
#[derive(Debug, PartialEq, Eq)]
pub struct FoldedMiss {
    pub path: String,
    pub syscall: String,
    pub errno: String,
    pub count: u32,
    pub places: Vec<String>,
    /// The path as the program passed it (first place).
    pub raw: String,
    /// Position of the latest occurrence (see [`Miss::last`]).
    pub last: u32,
}

/// A dynamic loader looks for a missing library in every RPATH/RUNPATH, cache and default
/// directory and their `glibc-hwcaps/*` and `tls/*` subdirectories, and a shell looks for
/// a command in every `$PATH` directory: dozens of failed lookups for one missing name.
/// Report one miss per library or command name (listing the places), and drop a
/// directory probe when a lookup below it is reported anyway.
pub fn fold(misses: &[Miss]) -> Vec<FoldedMiss> {
    let below = |dir: &str| {
        misses.iter().any(|q| {
            q.path.len() > dir.len()
                && q.path.starts_with(dir)
                && q.path.as_bytes()[dir.len()] == b'/'
        })
    };
    let mut out: Vec<FoldedMiss> = Vec::new();
    for m in misses.iter().filter(|m| !below(&m.path)) {
        let name = basename(&m.path);
        let searched = is_library(name) || is_exec(&m.syscall);
        let same = out.iter_mut().find(|f| {
            searched
                && basename(&f.path) == name
                && f.errno == m.errno
                && is_exec(&f.syscall) == is_exec(&m.syscall)
        });
        match same {
            Some(f) => {
                f.count += m.count;
                f.places.push(m.path.clone());
                f.last = f.last.max(m.last);
            }
            None => out.push(FoldedMiss {
                path: m.path.clone(),
                syscall: m.syscall.clone(),
                errno: m.errno.clone(),
                count: m.count,
                places: vec![m.path.clone()],
                raw: m.raw.clone(),
                last: m.last,
            }),
        }
    }
    out
}

/// What a miss meant to the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A probe programs survive, and why.
    Optional(&'static str),
    /// The program could not go on without it, and how we know.
    Needed(&'static str),
    Other,
}

/// How the run ended, as far as ranking misses is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exit 0, or a service still up: every miss was survived.
    Passed,
    /// The task's own failure (exit code, signal): a needed miss may be its cause.
    Failed,
    /// Stopped from outside (OOM, our timeout): the cause is the run finding itself.
    Stopped,
}

impl Ending {
    pub fn of(o: &RunOutcome, failed: bool) -> Ending {
        if o.oom_killed || o.timed_out {
            Ending::Stopped
        } else if failed {
            Ending::Failed
        } else {
            Ending::Passed
        }
    }
}

/// The role of a miss; `stderr` is the task's stderr tail.
pub fn role(m: &FoldedMiss, stderr: &str) -> Role {
    let named = named_in(stderr, m);
    if let Some(why) = optional_probe(&m.path) {
        if !named {
            return Role::Optional(why);
        }
    }
    if named {
        Role::Needed("the program names it in its stderr")
    } else if is_exec(&m.syscall) {
        Role::Needed("the program tried to execute it")
    } else if is_library(basename(&m.path)) {
        Role::Needed("the loader did not find this library anywhere it searched")
    } else {
        Role::Other
    }
}

/// Findings for the run's misses, the one that explains a failure first.
pub fn findings(misses: &[Miss], outcome: &RunOutcome, failed: bool, argv0: &str) -> Vec<Finding> {
    let ending = Ending::of(outcome, failed);
    let folded = fold(misses);
    let roles: Vec<Role> = folded
        .iter()
        .map(|m| role(m, &outcome.stderr_tail))
        .collect();
    // The cause of a failure: the needed miss closest before the end.
    let cause = (ending == Ending::Failed)
        .then(|| {
            folded
                .iter()
                .zip(&roles)
                .enumerate()
                .filter(|(_, (_, r))| matches!(r, Role::Needed(_)))
                .max_by_key(|(_, (m, _))| m.last)
                .map(|(i, _)| i)
        })
        .flatten();
    let mut out: Vec<(Severity, u32, Finding)> = folded
        .iter()
        .zip(&roles)
        .enumerate()
        .map(|(i, (m, role))| {
            let severity = match role {
                _ if Some(i) == cause => Severity::Error,
                Role::Optional(_) => Severity::Info,
                Role::Needed(_) | Role::Other => Severity::Warning,
            };
            (severity, m.last, finding(m, *role, severity, argv0))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    out.into_iter().map(|(_, _, f)| f).collect()
}

fn finding(m: &FoldedMiss, role: Role, severity: Severity, argv0: &str) -> Finding {
    let mut message = format!(
        "{}: {} failed with {}{}",
        if m.errno == "EACCES" {
            "the task was denied it at run time"
        } else {
            "the task looked for it at run time and did not find it"
        },
        m.syscall,
        m.errno,
        if m.count > 1 {
            format!(" ({} times)", m.count)
        } else {
            String::new()
        }
    );
    if m.places.len() > 1 {
        message.push_str(&format!(
            "; searched {} places: {}",
            m.places.len(),
            m.places.join(", ")
        ));
    }
    match role {
        Role::Optional(why) => message.push_str(&format!("; an optional probe ({why})")),
        Role::Needed(why) if severity == Severity::Error => message.push_str(&format!(
            "; the last lookup the task needed before it failed ({why})"
        )),
        Role::Needed(why) => message.push_str(&format!("; {why}")),
        Role::Other => {}
    }
    let kind = if m.errno == "EACCES" {
        Kind::Permission
    } else {
        Kind::Missing
    };
    let on_host = fs::symlink_metadata(&m.path).is_ok();
    let mut f = Finding::new(severity, kind, Cause::Runtime, m.path.clone())
        .message(message)
        .needed_by(vec![argv0.to_owned()])
        .on_host(on_host);
    let hint = match (role, kind) {
        (Role::Optional(_), _) => None,
        (_, Kind::Permission) => {
            Some("make it readable (or executable) by the task's user, as the bundle ships it")
        }
        (_, _) if on_host => Some(
            "the host has this path but the task does not: add it to the bundle (or to chroot_env)",
        ),
        _ => None,
    };
    if let Some(h) = hint {
        f = f.hint(h);
    }
    f
}

/// Whether the program's stderr names the path (as it was looked up, or as the program
/// passed it): the program reports what it could not open.
fn named_in(stderr: &str, m: &FoldedMiss) -> bool {
    if stderr.is_empty() {
        return false;
    }
    if stderr.contains(&m.path) {
        return true;
    }
    // A relative name (`config.yml`) only when it is specific enough not to match by
    // chance; a command searched along $PATH by its name (`sh: pg_isready: not found`).
    let raw = m.raw.trim_start_matches("./");
    if raw.len() >= 4 && stderr.contains(raw) {
        return true;
    }
    is_exec(&m.syscall) && {
        let name = basename(&m.path);
        name.len() >= 2
            && stderr.lines().any(|l| {
                l.split(|c: char| c == ':' || c.is_whitespace())
                    .any(|w| w == name)
            })
    }
}

/// Probes that programs make on every start and survive: (test, why).
fn optional_probe(path: &str) -> Option<&'static str> {
    let name = basename(path);
    let ext = |e: &str| name.ends_with(e);
    let under = |d: &str| path.contains(d);
    Some(match () {
        _ if path == "/etc/busybox.conf" => "busybox reads its applet rules from it when present",
        _ if path == "/etc/ld.so.cache" => {
            "the loader's cache, consulted only after the program's own search path: not something to add (a host cache would point at libraries the task lacks)"
        }
        _ if path == "/etc/ld.so.preload" => "glibc looks for it on every start",
        _ if path == "/etc/nsswitch.conf" => "glibc uses its built-in defaults without it",
        _ if name.starts_with("libnss_") => {
            "an NSS module: glibc goes on with the next source in nsswitch.conf"
        }
        _ if under("/locale/")
            || name == "locale-archive"
            || name.starts_with("LC_")
            || ext(".mo") =>
        {
            "locale data: the program falls back to the C locale"
        }
        _ if under("/gconv/") || name.starts_with("gconv-modules") => {
            "iconv conversion modules, loaded only when a conversion needs them"
        }
        _ if path == "/etc/localtime" || under("/zoneinfo/") || name == "zoneinfo" => {
            "time zone data: UTC without it"
        }
        _ if matches!(
            name,
            "pyvenv.cfg"
                | "pybuilddir.txt"
                | "Setup.local"
                | "sitecustomize.py"
                | "usercustomize.py"
                | "__init__.py"
                | "__init__.pyc"
        ) || under("/__pycache__")
            || under("/.local/lib/python")
            || ext(".pth")
            || ext("._pth")
            || ext(".pyc")
            || (name.starts_with("python3") && ext(".zip")) =>
        {
            "Python's start-up and import machinery probes it"
        }
        _ if under("/terminfo")
            || matches!(
                name,
                ".inputrc" | "inputrc" | ".bashrc" | ".profile" | ".bash_profile" | ".ashrc"
            ) =>
        {
            "shell and terminal start-up files, read when present"
        }
        _ if name == "openssl.cnf" => "OpenSSL's configuration, optional",
        _ if matches!(name, "gai.conf" | "host.conf") => {
            "resolver tuning: glibc's defaults without it"
        }
        _ if path.starts_with("/proc/") || path.starts_with("/sys/") => {
            "a kernel interface that differs between hosts and sandboxes"
        }
        _ => return None,
    })
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_library(name: &str) -> bool {
    name.contains(".so")
}

fn is_exec(syscall: &str) -> bool {
    matches!(syscall, "execve" | "execveat")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miss(p: &str, sys: &str, last: u32) -> Miss {
        Miss {
            path: p.into(),
            syscall: sys.into(),
            errno: "ENOENT".into(),
            count: 1,
            raw: p.into(),
            last,
        }
    }

    #[test]
    fn loader_probes_fold_into_one_miss_per_library() {
        let folded = fold(&[
            miss("/lib/glibc-hwcaps/x86-64-v3", "newfstatat", 0),
            miss("/lib/glibc-hwcaps/x86-64-v3/libtinfo.so.6", "openat", 1),
            miss("/lib/tls", "newfstatat", 2),
            miss("/lib/tls/libtinfo.so.6", "openat", 3),
            miss("/lib/libtinfo.so.6", "openat", 4),
            miss("/etc/app/x.conf", "openat", 5),
        ]);
        assert_eq!(folded.len(), 2, "{folded:?}");
        assert_eq!(folded[0].path, "/lib/glibc-hwcaps/x86-64-v3/libtinfo.so.6");
        assert_eq!(folded[0].places.len(), 3);
        assert_eq!(folded[0].count, 3);
        assert_eq!(folded[0].last, 4);
        assert_eq!(folded[1].path, "/etc/app/x.conf");
    }

    #[test]
    fn path_search_folds_into_one_miss_per_command() {
        let folded = fold(&[
            miss("/usr/local/bin/pg_isready", "execve", 3),
            miss("/usr/bin/pg_isready", "execve", 4),
            miss("/bin/pg_isready", "execve", 5),
        ]);
        assert_eq!(folded.len(), 1, "{folded:?}");
        assert_eq!(folded[0].places.len(), 3);
    }

    fn outcome(code: i32, stderr: &str) -> RunOutcome {
        RunOutcome {
            exit_code: Some(code),
            stderr_tail: stderr.into(),
            ..RunOutcome::default()
        }
    }

    #[test]
    fn the_needed_miss_closest_to_the_failure_is_the_one_error() {
        let misses = [
            miss("/etc/busybox.conf", "open", 0),
            miss("/local/app.conf", "openat", 1),
            miss("/etc/ld.so.cache", "openat", 2),
            miss("/local/data.json", "openat", 3),
            miss("/etc/other", "openat", 4),
        ];
        let f = findings(
            &misses,
            &outcome(
                1,
                "cannot open /local/app.conf\nread /local/data.json: no such file\n",
            ),
            true,
            "/bin/sh",
        );
        let by_path = |p: &str| f.iter().find(|x| x.path == p).unwrap();
        assert_eq!(f[0].path, "/local/data.json", "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(by_path("/local/app.conf").severity, Severity::Warning);
        assert_eq!(by_path("/etc/other").severity, Severity::Warning);
        assert_eq!(by_path("/etc/busybox.conf").severity, Severity::Info);
        let cache = by_path("/etc/ld.so.cache");
        assert_eq!(cache.severity, Severity::Info);
        assert!(cache.hint.is_none(), "{cache:?}");
        assert_eq!(
            f.iter().filter(|x| x.severity == Severity::Error).count(),
            1
        );
    }

    #[test]
    fn no_runtime_error_when_the_run_passed_or_was_stopped() {
        let misses = [
            miss("/bin/nope", "execve", 0),
            miss("/etc/busybox.conf", "open", 1),
        ];
        for o in [
            outcome(0, ""),
            RunOutcome {
                oom_killed: true,
                ..outcome(137, "")
            },
            RunOutcome {
                timed_out: true,
                ..outcome(130, "")
            },
        ] {
            let failed = o.exit_code != Some(0);
            let f = findings(&misses, &o, failed, "/bin/sh");
            assert!(f.iter().all(|x| x.severity != Severity::Error), "{f:#?}");
        }
    }

    #[test]
    fn a_command_not_found_is_named_by_the_shell() {
        let misses = [
            miss("/usr/bin/pg_isready", "execve", 0),
            miss("/bin/pg_isready", "execve", 1),
        ];
        let f = findings(
            &misses,
            &outcome(127, "sh: pg_isready: not found\n"),
            true,
            "/bin/sh",
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].message
                .as_deref()
                .unwrap()
                .contains("searched 2 places")
        );
    }

    #[test]
    fn an_optional_probe_named_in_stderr_is_needed() {
        let m = fold(&[miss("/etc/nsswitch.conf", "openat", 0)]);
        assert!(matches!(role(&m[0], ""), Role::Optional(_)));
        assert!(matches!(
            role(&m[0], "fatal: cannot read /etc/nsswitch.conf"),
            Role::Needed(_)
        ));
    }

    #[test]
    fn permission_denied_is_a_permission_finding() {
        let mut m = miss("/local/bin/tool", "execve", 0);
        m.errno = "EACCES".into();
        let f = findings(
            &[m],
            &outcome(126, "sh: /local/bin/tool: Permission denied"),
            true,
            "/bin/sh",
        );
        assert_eq!(f[0].kind, Kind::Permission);
        assert_eq!(f[0].severity, Severity::Error);
    }
}
