//! Environment lints (§11.7): what a program commonly needs at run time besides its
//! closure. Warnings, except the ≤ 1.11.0 passwd lookup, which stops the start.

use super::Ctx;
use super::closure::{Walker, dlopen_finds};
use super::lookup::DRIVER_PREFIX;
use crate::finding::{Cause, Finding, Kind, Severity};
use crate::rootfs::FileKind;

const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Libraries whose presence means the program speaks TLS and needs a CA bundle.
const TLS_LIBS: &[&str] = &[
    "libssl.so",
    "libgnutls.so",
    "libcurl.so",
    "libnss3.so",
    "libmbedtls.so",
    "libwolfssl.so",
];

fn read(ctx: &Ctx<'_>, path: &str) -> Option<String> {
    let r = ctx.fs.resolve(path).ok()?;
    String::from_utf8(ctx.fs.read(&r)?).ok()
}

pub fn lint(ctx: &Ctx<'_>, w: &Walker<'_, '_>) -> Vec<Finding> {
    let mut out = Vec::new();
    passwd(ctx, &mut out);
    resolv(ctx, &mut out);
    if w.loaded_names
        .iter()
        .any(|n| TLS_LIBS.iter().any(|t| n.starts_with(t)))
    {
        ca_bundle(ctx, &mut out);
    }
    if let Some((cfg, p)) = &w.primary {
        nsswitch(ctx, cfg, p, &mut out);
        locale(ctx, cfg, &mut out);
    }
    path_entries(ctx, &mut out);
    chroot_env_sources(ctx, &mut out);
    out
}

/// `chroot_env` entries whose source this host lacks: Nomad skips them silently
/// (`task_dir.go` `embedDirs`), so the task would not have what the entry promises. The
/// Nomad default map is meant to be partly absent (`/lib32` on a 64-bit host), so only
/// entries of a configured map are reported.
fn chroot_env_sources(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let env = &ctx.input.taskdir.chroot_env;
    let default = crate::nomad::default_chroot_env(ctx.input.version);
    for (src, dst) in &env.entries {
        if default.iter().any(|(s, d)| s == src && d == dst) {
            continue;
        }
        if std::fs::symlink_metadata(src).is_ok() {
            continue;
        }
        out.push(
            Finding::warning(Kind::Environment, Cause::ChrootEnvSource, dst.clone())
                .message(format!(
                    "chroot_env entry `{src}` = `{dst}`: `{src}` does not exist on this host; Nomad skips such an entry without a word, so the task has no {dst} from it"
                ))
                .hint(format!(
                    "fix the entry's source path, or create {src} on the clients (and here, to check with it)"
                )),
        );
    }
}

/// ≤ 1.11.0: runc resolves the user name in the chroot's `/etc/passwd` and fails the
/// start without it (`moby/sys/user` `GetExecUser`); ≥ 1.11.1: Nomad resolves it on the
/// host, but `getpwuid` inside the task still reads the chroot's file.
fn passwd(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let user = ctx.input.task.user.as_str();
    let legacy = ctx.input.version.resolves_user_in_chroot();
    let numeric = user.parse::<u32>().is_ok();
    let text = read(ctx, "/etc/passwd");
    let has = text.as_deref().is_some_and(|t| {
        t.lines().any(|l| {
            let mut f = l.split(':');
            let name = f.next().unwrap_or("");
            let uid = f.nth(1).unwrap_or("");
            if legacy {
                name == user
            } else {
                uid == ctx.creds.uid.to_string()
            }
        })
    });
    if has || (legacy && numeric) {
        return;
    }
    let why = if text.is_none() {
        "the task's root has no /etc/passwd".to_owned()
    } else if legacy {
        format!("/etc/passwd in the task's root has no entry for `{user}`")
    } else {
        format!(
            "/etc/passwd in the task's root has no entry for uid {}",
            ctx.creds.uid
        )
    };
    let f = if legacy {
        Finding::error(Kind::Environment, Cause::User, "/etc/passwd")
            .message(format!(
                "{why}: Nomad {} (runc ≤ 1.2) looks the task user up inside the chroot",
                ctx.input.version
            ))
            .nomad_error(format!(
                "{DRIVER_PREFIX}unable to start container process: error during container init: unable to find user {user}: no matching entries in passwd file"
            ))
    } else {
        Finding::warning(Kind::Environment, Cause::User, "/etc/passwd").message(format!(
            "{why}: the task starts, but getpwuid() in the task (whoami, ssh, many runtimes) finds no user"
        ))
    };
    out.push(f.hint(format!(
        "ship an /etc/passwd with a `{user}` line (e.g. `nobody:x:65534:65534::/nonexistent:/bin/false`) or keep /etc in chroot_env"
    )));
}

fn resolv(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    match ctx.fs.resolve("/etc/resolv.conf") {
        Ok(r) if r.stat.kind == FileKind::File => {}
        Ok(_) => {}
        Err(e) => {
            let dangling = !e.links.is_empty();
            let sev = if dangling {
                Severity::Warning
            } else {
                Severity::Info
            };
            out.push(
                Finding::new(sev, Kind::Environment, Cause::Dns, "/etc/resolv.conf")
                    .message(if dangling {
                        format!(
                            "/etc/resolv.conf dangles inside the chroot ({}; {} is missing): name resolution falls back to 127.0.0.1",
                            e.describe_links(),
                            e.component
                        )
                    } else {
                        "the task's root has no /etc/resolv.conf: name resolution falls back to 127.0.0.1".into()
                    })
                    .hint("add /run/systemd/resolve (or /run/resolvconf) to chroot_env, or set a network { dns {} } block so Nomad mounts its own resolv.conf"),
            );
        }
    }
}

fn ca_bundle(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for var in ["SSL_CERT_FILE", "NIX_SSL_CERT_FILE"] {
        if let Some(p) = ctx.input.env.get(var) {
            if ctx
                .fs
                .resolve(p)
                .is_ok_and(|r| r.stat.is_file() && r.stat.size > 0)
            {
                return;
            }
            out.push(
                Finding::warning(Kind::Environment, Cause::Certificates, p.clone())
                    .message(format!(
                        "{var}={p} does not resolve to a CA bundle inside the task's root"
                    ))
                    .hint("ship the CA bundle (e.g. nixpkgs' cacert) and point the variable at it"),
            );
            return;
        }
    }
    if CA_BUNDLES.iter().any(|p| {
        ctx.fs
            .resolve(p)
            .is_ok_and(|r| r.stat.is_file() && r.stat.size > 0)
    }) {
        return;
    }
    out.push(
        Finding::warning(Kind::Environment, Cause::Certificates, CA_BUNDLES[0])
            .message("the program uses TLS but no CA bundle resolves in the task's root (checked SSL_CERT_FILE and the usual paths)")
            .hint("ship cacert and set SSL_CERT_FILE in the job's env, or keep /etc/ssl in chroot_env"),
    );
}

/// The databases a program commonly looks up; `netgroup`, `automount` and the like
/// stay out (Debian's default `netgroup: nis` would warn on every check).
const NSS_DATABASES: &[&str] = &[
    "passwd",
    "group",
    "shadow",
    "hosts",
    "services",
    "protocols",
];

/// Databases of `/etc/nsswitch.conf` where none of the listed sources can be used by
/// the program's glibc: glibc skips a module it cannot `dlopen` and goes on to the
/// next source, so `services: db files` works without `libnss_db`, while
/// `hosts: resolve` alone finds nothing. `files` and `dns` are built into libc since
/// glibc 2.34.
fn nsswitch(
    ctx: &Ctx<'_>,
    cfg: &super::loader::LoaderConfig,
    p: &super::loader::Process,
    out: &mut Vec<Finding>,
) {
    let Some(text) = read(ctx, "/etc/nsswitch.conf") else {
        return;
    };
    let builtin_files_dns = p.objs.iter().any(|o| {
        o.l_name.ends_with("libc.so.6")
            && o.info
                .verdef
                .as_ref()
                .is_some_and(|d| d.iter().any(|v| v == "GLIBC_2.34"))
    });
    let usable = |m: &str| {
        (builtin_files_dns && (m == "files" || m == "dns"))
            || dlopen_finds(ctx, cfg, p, &format!("libnss_{m}.so.2"))
    };
    let mut dead: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((db, srcs)) = line.split_once(':') else {
            continue;
        };
        let db = db.trim();
        if !NSS_DATABASES.contains(&db) {
            continue;
        }
        let modules: Vec<String> = srcs
            .split_whitespace()
            .filter(|w| !(w.starts_with('[') || w.ends_with(']') || w.contains('=')))
            .map(str::to_owned)
            .collect();
        if !modules.is_empty() && !modules.iter().any(|m| usable(m)) {
            dead.push((db.to_owned(), modules));
        }
    }
    if dead.is_empty() {
        return;
    }
    let what: Vec<String> = dead
        .iter()
        .map(|(db, ms)| format!("{db} ({})", ms.join(" ")))
        .collect();
    out.push(
        Finding::warning(Kind::Environment, Cause::Nsswitch, "/etc/nsswitch.conf")
            .message(format!(
                "/etc/nsswitch.conf lists for {} only sources that {}'s glibc cannot load: every lookup there fails",
                what.join(", "),
                cfg.interp,
            ))
            .hint("list `files` (and `dns` for hosts) for these databases, or ship the NSS modules in the program's glibc lib dir"),
    );
}

/// `LANG`/`LC_*` naming a locale the program's glibc cannot find.
fn locale(ctx: &Ctx<'_>, cfg: &super::loader::LoaderConfig, out: &mut Vec<Finding>) {
    let env = ctx.input.env;
    let vars: Vec<(&String, &String)> = env
        .iter()
        .filter(|(k, v)| (k.as_str() == "LANG" || k.starts_with("LC_")) && !v.is_empty())
        .collect();
    let needs = |v: &str| !matches!(v, "C" | "POSIX" | "C.UTF-8" | "C.utf8");
    let Some((var, val)) = vars.iter().find(|(_, v)| needs(v)) else {
        return;
    };
    if env.get("LC_ALL").is_some_and(|v| !needs(v)) {
        return;
    }
    let mut archives: Vec<String> = Vec::new();
    if let Some(a) = env.get("LOCALE_ARCHIVE") {
        archives.push(a.clone());
    }
    if let Some(sp) = super::store::store_path_of(&cfg.interp) {
        archives.push(format!("{sp}/lib/locale/locale-archive"));
    }
    archives.push("/usr/lib/locale/locale-archive".into());
    archives.push(format!("/usr/lib/locale/{val}"));
    if archives.iter().any(|a| ctx.fs.resolve(a).is_ok()) {
        return;
    }
    out.push(
        Finding::warning(Kind::Environment, Cause::Locale, (*var).clone())
            .message(format!(
                "{var}={val} but no locale archive resolves in the task's root (checked {}): setlocale() fails and programs warn or fall back to C",
                archives.join(", ")
            ))
            .hint("set LC_ALL = \"C\" (or C.UTF-8) in the job's env, or ship glibcLocales and set LOCALE_ARCHIVE"),
    );
}

/// PATH (the agent's, unless the job sets one) with no directory in the task's root:
/// every lookup by name (`sh -c app`, `#!/usr/bin/env app`) fails. Entries missing
/// beside existing ones are normal (the agent's default PATH names `/usr/local/sbin`)
/// and not reported.
fn path_entries(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(path) = ctx.input.env.get("PATH") else {
        return;
    };
    let entries: Vec<&str> = path.split(':').filter(|d| !d.is_empty()).collect();
    let Some(first) = entries.first() else { return };
    if entries
        .iter()
        .any(|d| ctx.fs.resolve(d).is_ok_and(|r| r.stat.is_dir()))
    {
        return;
    }
    out.push(
        Finding::warning(Kind::Environment, Cause::Path, (*first).to_owned())
            .message(format!(
                "none of the directories of PATH={path} exists in the task's root: commands run by name are not found"
            ))
            .hint("set PATH in the job's env to the bundle's bin directories"),
    );
}
