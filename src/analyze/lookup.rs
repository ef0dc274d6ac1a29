//! `command` resolution exactly as Nomad does it: the host-side `lookupTaskBin`, then
//! `makeExecutable`, then runc's in-chroot `exec.LookPath` (§5.1–5.3).

use super::Ctx;
use super::perms::EXEC;
use crate::finding::{Cause, Finding, Kind};
use crate::nomad::LOOKUP_BIN_DIRS;
use crate::rootfs::{self, FileKind};

/// The driver's wrapping of a start error (`drivers/exec/driver.go` `StartTask`).
pub const DRIVER_PREFIX: &str =
    "failed to launch command with executor: rpc error: code = Unknown desc = ";

pub struct Lookup {
    /// argv[0] inside the chroot (`/local/app`), when Nomad finds the command.
    pub argv0: Option<String>,
    /// `makeExecutable` reached the file the task will run (it chmods the host path).
    pub made_executable: bool,
    /// The chmod `makeExecutable` does, when it changes a file of the work dir: the host
    /// path and its new mode. A run must apply it, as the executor does before it starts
    /// the task.
    pub chmod: Option<(std::path::PathBuf, u32)>,
    /// runc's `LookPath` fails: the task never starts.
    pub runc_failed: bool,
    pub findings: Vec<Finding>,
}

/// Go's `filepath.Join` + `Clean`, relative to the task dir (may start with `..`).
fn clean_rel(parts: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for p in parts {
        for c in p.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if matches!(out.last(), Some(l) if *l != "..") {
                        out.pop();
                    } else {
                        out.push("..");
                    }
                }
                c => out.push(c),
            }
        }
    }
    out.join("/")
}

/// `hashicorp/nomad:drivers/shared/executor/executor_linux_cgo.go` `lookupTaskBin`:
/// `local/<cmd>` first (absolute commands too), then `<cmd>` in the task dir, then, for
/// bare names only, the fixed `usr/local/bin`, `usr/bin`, `bin`. Each candidate must
/// pass `os.Stat` on the host and be a regular file. Volume mounts are not modelled.
pub fn lookup(ctx: &Ctx<'_>, cmd: &str) -> Lookup {
    // Nomad names the task dir on the client; ours is a temp dir (or, for a static
    // check, only a model): name the client's, as go-getter's errors do.
    let td = ctx.input.taskdir.nomad_client_path("/");
    let mut candidates: Vec<String> = vec![clean_rel(&["local", cmd]), clean_rel(&[cmd])];
    let bare = !cmd.contains('/');
    if bare {
        candidates.extend(LOOKUP_BIN_DIRS.iter().map(|d| clean_rel(&[d, cmd])));
    }
    let mut out = Lookup {
        argv0: None,
        made_executable: false,
        chmod: None,
        runc_failed: false,
        findings: Vec::new(),
    };
    let hit = candidates.iter().find_map(|rel| {
        let hs = ctx.fs.host_stat(rel).ok()?;
        (hs.stat.kind == FileKind::File).then(|| (rel.clone(), hs))
    });
    let Some((rel, hs)) = hit else {
        let nomad = if bare {
            format!("{DRIVER_PREFIX}file {cmd} not found under path")
        } else {
            format!("{DRIVER_PREFIX}file {cmd} not found under path {td}")
        };
        let tried: Vec<String> = candidates.iter().map(|c| format!("/{c}")).collect();
        out.findings.push(
            Finding::error(Kind::Missing, Cause::Command, cmd.to_owned())
                .message(format!(
                    "Nomad looks for the command on the host in {} and finds no regular file",
                    tried.join(", ")
                ))
                .hint(if bare {
                    format!("ship {cmd} under local/, usr/local/bin, usr/bin or bin of the task dir, or give its path")
                } else {
                    format!("ship {cmd} at /local{cmd} or {cmd} in the task dir")
                })
                .nomad_error(nomad),
        );
        // The same candidates seen from inside the chroot: a hit there means the host
        // check is what fails (an absolute link resolved on the host, §5.1 [I]).
        for c in &candidates {
            let task = format!("/{c}");
            if let Ok(r) = ctx.fs.resolve(&task) {
                if r.stat.is_file() && !r.links.is_empty() {
                    out.findings.push(
                        Finding::warning(Kind::Missing, Cause::HostDivergence, task.clone())
                            .message(format!(
                                "{task} resolves to {} inside the chroot, but Nomad's check follows the link on the host ({}), where it does not exist",
                                r.task_path,
                                rootfs::describe_links(&r.links)
                            ))
                            .hint(format!(
                                "make the link relative, or set command to the real file {}",
                                r.task_path
                            ))
                            .on_host(false),
                    );
                    break;
                }
            }
        }
        return out;
    };
    let argv0 = format!("/{rel}");
    out.argv0 = Some(argv0.clone());
    let start = |errno: &str| {
        format!(
            "{DRIVER_PREFIX}unable to start container process: error during container init: exec: \"{argv0}\": {errno}"
        )
    };
    // runc's init `exec.LookPath(argv0)`: stat inside the chroot, as the task user
    // (`findExecutable` + `unix.Eaccess(X_OK)`).
    let r = match ctx.fs.resolve(&argv0) {
        Ok(r) => r,
        Err(e) => {
            out.runc_failed = true;
            out.findings.push(
                Finding::error(Kind::Missing, Cause::Command, argv0.clone())
                    .message(format!(
                        "Nomad finds {argv0} on the host ({}), but inside the chroot it does not resolve: {} is missing{}",
                        hs.host.display(),
                        e.component,
                        if e.links.is_empty() { String::new() } else { format!(" (links: {})", e.describe_links()) }
                    ))
                    .hint("make the link relative or point it at a path inside the bundle")
                    .nomad_error(start(&format!("stat {argv0}: {}", e.errno_text()))),
            );
            out.findings.push(
                Finding::warning(Kind::Missing, Cause::HostDivergence, argv0.clone())
                    .message(format!(
                        "the host-side check passed on {} (a host path), so Nomad launches the task and runc fails inside the chroot",
                        hs.host.display()
                    ))
                    .on_host(true),
            );
            return out;
        }
    };
    out.made_executable = hs.in_task.as_deref() == Some(r.task_path.as_str());
    // hashicorp/nomad:drivers/shared/executor/executor.go makeExecutable: `perm |
    // 0555` when any of those bits is missing (Go's `Perm()`: the special bits go).
    // Only a file of the work dir: a chroot_env file resolves to this host's own copy.
    let perm = hs.stat.mode & 0o777;
    if perm & 0o555 != 0o555 && ctx.input.taskdir.owns(&hs.host) {
        out.chmod = Some((hs.host.clone(), perm | 0o555));
    }
    if hs.in_task.is_none() {
        out.findings.push(
            Finding::warning(Kind::Missing, Cause::HostDivergence, argv0.clone())
                .message(format!(
                    "Nomad checks (and makes executable) the host's {}, but the task runs the chroot's {}",
                    hs.host.display(),
                    r.task_path
                ))
                .hint("make the link relative so both resolve to the same file")
                .on_host(true),
        );
    }
    let searchable = r.dirs.iter().all(|(_, st)| ctx.creds.may(st, EXEC));
    if !searchable {
        out.runc_failed = true;
        out.findings.push(
            Finding::error(Kind::Permission, Cause::NotSearchable, argv0.clone())
                .message(format!(
                    "a directory on the way to {argv0} is not searchable by the task's {}",
                    ctx.creds.describe()
                ))
                .hint("make the directories world-searchable (chmod a+x)")
                .nomad_error(start(&format!("stat {argv0}: permission denied"))),
        );
        return out;
    }
    let mut st = r.stat;
    if out.made_executable {
        st.mode |= 0o555;
    }
    if !st.is_file() || st.mode & 0o111 == 0 || !ctx.creds.may(&st, EXEC) {
        out.runc_failed = true;
        out.findings.push(
            Finding::error(Kind::Permission, Cause::NotExecutable, argv0.clone())
                .message(format!(
                    "{} is not executable by the task's {} (mode {:04o})",
                    r.task_path,
                    ctx.creds.describe(),
                    r.stat.mode
                ))
                .hint(format!("chmod 0555 {}", r.task_path))
                .nomad_error(start("permission denied")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        assert_eq!(clean_rel(&["local", "/bin/sh"]), "local/bin/sh");
        assert_eq!(clean_rel(&["/bin/sh"]), "bin/sh");
        assert_eq!(clean_rel(&["local", "../../x"]), "../x");
        assert_eq!(clean_rel(&["usr/bin", "app"]), "usr/bin/app");
    }
}
