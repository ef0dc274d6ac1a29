//! File checks: find a path as the task sees it (its task dir plus the read-only
//! chroot_env layers and `/alloc`) and compare it with what the spec states.
//!
//! Resolution follows chroot semantics and never the host's: `..` stops at the task's
//! root, absolute symlink targets restart at the task's root, and more than 40 links is
//! `ELOOP` (path_resolution(7)): this is `rootfs`, the resolver the analysis uses.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use crate::rootfs::{ResolveErrorKind, RootFs};
use crate::taskdir::{TaskDir, normalize_task_path};

use super::spec::Matcher;

/// At most this much of a file is read for a `content` regex.
const CONTENT_LIMIT: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The host file the task's path ends at (after following symlinks); `None` for a
    /// directory Nomad creates only as the parent of a chroot_env destination.
    Found(Option<PathBuf>),
    /// Nothing there; `at` is the task path that does not exist.
    Missing { at: String },
    /// Too many symlinks, or a path component that is not a directory.
    Broken { at: String, why: &'static str },
}

/// Resolve `path` (absolute, as the task sees it) with the one in-root resolver the
/// analysis uses (`rootfs`), so a file check and the static check never disagree.
pub fn resolve(taskdir: &TaskDir, path: &str) -> Resolved {
    match RootFs::new(taskdir).resolve(path) {
        Ok(r) => Resolved::Found(r.host),
        Err(e) => match e.kind {
            ResolveErrorKind::NotFound => Resolved::Missing { at: e.component },
            _ => Resolved::Broken {
                why: e.errno_text(),
                at: e.component,
            },
        },
    }
}

/// Compare the file at `path` with the spec; returns what does not hold.
pub fn check_file(
    taskdir: &TaskDir,
    path: &str,
    exists: bool,
    mode: Option<u32>,
    content: Option<&Matcher>,
) -> Vec<String> {
    let path = normalize_task_path(path);
    let mut failures = Vec::new();
    match (resolve(taskdir, &path), exists) {
        (Resolved::Found(None), true) => {
            if mode.is_some() || content.is_some() {
                failures.push(format!(
                    "`{path}` is only a directory Nomad creates for chroot_env; it has no mode or content to compare"
                ));
            }
        }
        (Resolved::Found(Some(host)), true) => {
            let meta = match fs::metadata(&host) {
                Ok(m) => m,
                Err(e) => {
                    return vec![format!("`{path}` exists but cannot be read here: {e}")];
                }
            };
            if let Some(want) = mode {
                let got = meta.permissions().mode() & 0o7777;
                if got != want {
                    failures.push(format!(
                        "`{path}` has mode {got:04o}, expected {want:04o} (owner uid {})",
                        meta.uid()
                    ));
                }
            }
            if let Some(m) = content {
                if !meta.is_file() {
                    failures.push(format!(
                        "`{path}` is not a regular file, so its content cannot match /{}/",
                        m.source
                    ));
                } else {
                    match read_prefix(&host) {
                        Ok(text) if m.is_match(&text) => {}
                        Ok(text) => failures.push(format!(
                            "content of `{path}` does not match /{}/; it is:\n{}",
                            m.source,
                            excerpt(&text)
                        )),
                        Err(e) => failures.push(format!("cannot read `{path}`: {e}")),
                    }
                }
            }
        }
        (Resolved::Found(host), false) => {
            let what = if host.as_ref().is_some_and(|h| h.starts_with(&taskdir.root)) {
                "the bundle provides it"
            } else {
                "the client provides it through chroot_env or /alloc"
            };
            failures.push(format!(
                "`{path}` exists in the task ({what}), expected it not to"
            ));
        }
        (Resolved::Missing { at }, true) => {
            let detail = if at == path {
                String::new()
            } else {
                format!(" (`{at}` does not exist)")
            };
            failures.push(format!(
                "`{path}` does not exist in the task{detail}: neither the bundle nor the client's chroot_env provides it"
            ));
        }
        (Resolved::Missing { .. }, false) => {}
        (Resolved::Broken { at, why }, _) => {
            failures.push(format!(
                "cannot look up `{path}` in the task: `{at}`: {why}"
            ));
        }
    }
    failures
}

fn read_prefix(host: &std::path::Path) -> std::io::Result<String> {
    let mut buf = Vec::new();
    fs::File::open(host)?
        .take(CONTENT_LIMIT)
        .read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The start of an actual text for a failure message.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 2048;
    if text.is_empty() {
        return "(empty)".into();
    }
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} more bytes)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::nomad::NomadVersion;
    use crate::taskdir::ChrootEnv;

    fn taskdir(env: ChrootEnv) -> TaskDir {
        TaskDir::build("t", NomadVersion::NEWEST, env).unwrap()
    }

    #[test]
    fn follows_links_inside_the_root_only() {
        let td = taskdir(ChrootEnv::none());
        let r = &td.root;
        fs::create_dir_all(r.join("nix/store/aaa-app/bin")).unwrap();
        fs::write(r.join("nix/store/aaa-app/bin/app"), b"#!/bin/sh\n").unwrap();
        fs::create_dir_all(r.join("bin")).unwrap();
        symlink("/nix/store/aaa-app/bin/app", r.join("bin/app")).unwrap();
        symlink("../../../../../../etc", r.join("local/up")).unwrap();
        symlink("loop", r.join("local/loop")).unwrap();
        assert_eq!(
            resolve(&td, "/bin/app"),
            Resolved::Found(Some(r.join("nix/store/aaa-app/bin/app")))
        );
        // `..` stops at the task's root: this is the task's /etc, which does not exist,
        // not the host's.
        assert_eq!(
            resolve(&td, "/local/up/passwd"),
            Resolved::Missing { at: "/etc".into() }
        );
        assert!(matches!(
            resolve(&td, "/local/loop"),
            Resolved::Broken {
                why: "too many levels of symbolic links",
                ..
            }
        ));
        assert!(matches!(
            resolve(&td, "/bin/app/x"),
            Resolved::Broken {
                why: "not a directory",
                ..
            }
        ));
    }

    #[test]
    fn chroot_env_layers_fill_in_below_the_bundle() {
        let host = tempfile::tempdir().unwrap();
        fs::write(host.path().join("hosts"), b"127.0.0.1 localhost\n").unwrap();
        let src = host.path().to_string_lossy().into_owned();
        let td =
            taskdir(ChrootEnv::from_args(NomadVersion::NEWEST, &[format!("{src}=/etc")]).unwrap());
        assert_eq!(
            resolve(&td, "/etc/hosts"),
            Resolved::Found(Some(host.path().join("hosts")))
        );
        // The bundle's own file wins over the layer.
        fs::create_dir_all(td.root.join("etc")).unwrap();
        fs::write(td.root.join("etc/hosts"), b"mine\n").unwrap();
        assert_eq!(
            resolve(&td, "/etc/hosts"),
            Resolved::Found(Some(td.root.join("etc/hosts")))
        );
        assert!(
            check_file(&td, "/etc/hosts", false, None, None)[0].contains("the bundle provides it")
        );
    }

    #[test]
    fn alloc_is_the_shared_alloc_dir() {
        let td = taskdir(ChrootEnv::none());
        fs::write(td.shared_alloc().join("data/state"), b"x").unwrap();
        assert_eq!(
            resolve(&td, "/alloc/data/state"),
            Resolved::Found(Some(td.shared_alloc().join("data/state")))
        );
        // The task dir's own alloc/ is only the mount point.
        fs::write(td.root.join("alloc/hidden"), b"x").unwrap();
        assert!(matches!(
            resolve(&td, "/alloc/hidden"),
            Resolved::Missing { .. }
        ));
    }

    #[test]
    fn file_checks_compare_existence_mode_and_content() {
        let td = taskdir(ChrootEnv::none());
        let f = td.root.join("local/config.json");
        fs::write(&f, b"{\"port\": 8080}\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let re = |s: &str| Matcher::new(s).unwrap();
        assert!(
            check_file(
                &td,
                "/local/config.json",
                true,
                Some(0o640),
                Some(&re("port\": 80"))
            )
            .is_empty()
        );
        let f1 = check_file(
            &td,
            "/local/config.json",
            true,
            Some(0o644),
            Some(&re("9090")),
        );
        assert_eq!(f1.len(), 2, "{f1:?}");
        assert!(f1[0].contains("mode 0640, expected 0644"), "{f1:?}");
        assert!(
            f1[1].contains("does not match /9090/") && f1[1].contains("8080"),
            "{f1:?}"
        );
        assert!(check_file(&td, "/local/nope", false, None, None).is_empty());
        let f2 = check_file(&td, "/local/nope", true, None, None);
        assert!(f2[0].contains("`/local/nope` does not exist"), "{f2:?}");
        let f3 = check_file(&td, "/local/config.json", false, None, None);
        assert!(f3[0].contains("expected it not to"), "{f3:?}");
    }
}
