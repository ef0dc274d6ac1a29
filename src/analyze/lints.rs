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
    std::fs::read_to_string(r.host?).ok()
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
    out
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

/// NSS modules named in `/etc/nsswitch.conf` that the program's glibc cannot
/// `dlopen`. `files` and `dns` are built into libc since glibc 2.34.
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
    let mut modules: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((_, srcs)) = line.split_once(':') else {
            continue;
        };
        for w in srcs.split_whitespace() {
            if w.starts_with('[') || w.ends_with(']') || w.contains('=') {
                continue;
            }
            if builtin_files_dns && (w == "files" || w == "dns") {
                continue;
            }
            if !modules.iter().any(|m| m == w) {
                modules.push(w.to_owned());
            }
        }
    }
    let missing: Vec<String> = modules
        .into_iter()
        .filter(|m| !dlopen_finds(ctx, cfg, p, &format!("libnss_{m}.so.2")))
        .collect();
    if missing.is_empty() {
        return;
    }
    out.push(
        Finding::warning(Kind::Environment, Cause::Nsswitch, "/etc/nsswitch.conf")
            .message(format!(
                "/etc/nsswitch.conf names NSS module{} {} that {}'s glibc cannot load ({}): lookups through them are skipped",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                cfg.interp,
                missing.iter().map(|m| format!("libnss_{m}.so.2")).collect::<Vec<_>>().join(", ")
            ))
            .hint("ship an nsswitch.conf that uses only `files`/`dns`, or ship the modules in the program's glibc lib dir"),
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

fn path_entries(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(path) = ctx.input.env.get("PATH") else {
        return;
    };
    let missing: Vec<&str> = path
        .split(':')
        .filter(|d| !d.is_empty())
        .filter(|d| !ctx.fs.resolve(d).is_ok_and(|r| r.stat.is_dir()))
        .collect();
    if missing.is_empty() {
        return;
    }
    out.push(
        Finding::warning(Kind::Environment, Cause::Path, missing.join(":"))
            .message(format!(
                "PATH={path} (inherited from the agent) has entries that do not exist in the task's root: {}",
                missing.join(", ")
            ))
            .hint("set PATH in the job's env to the bundle's bin directories"),
    );
}
