//! Carry out the plan's mount operations under the new root, and pivot into it.
//! Runs only in the sandbox's init, inside its own mount namespace.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::sys::statvfs::{FsFlags, statvfs};

use super::plan::MountOp;
use crate::sys::SysError;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("`{0}` crosses a symlink inside the task dir; refusing to mount through it")]
    Symlink(String),
    #[error("cannot create mount point `{path}`: {source}")]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn sys(call: String) -> impl FnOnce(nix::errno::Errno) -> SysError {
    move |e| SysError::new(call, e)
}

/// The host path of a task path, refusing any symlink along it: the artifact controls
/// the task dir, and a link there must not redirect a mount or a write. Also what is
/// there now, if anything (the walk stops at the first missing component).
fn target(root: &Path, dest: &str) -> Result<(PathBuf, Option<fs::FileType>), MountError> {
    let mut p = root.to_path_buf();
    let mut found = None;
    let mut missing = false;
    for c in Path::new(dest).components() {
        if let Component::Normal(n) = c {
            p.push(n);
            if missing {
                continue;
            }
            match fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(MountError::Symlink(dest.to_owned()));
                }
                Ok(m) => found = Some(m.file_type()),
                // Nothing can be below a missing component; after any other error
                // (EACCES), keep checking what comes below, as the kernel will walk it.
                Err(e) => {
                    missing = e.kind() == std::io::ErrorKind::NotFound;
                    found = None;
                }
            }
        }
    }
    if p == root {
        found = fs::symlink_metadata(root).ok().map(|m| m.file_type());
    }
    Ok((p, found))
}

/// Create what `path` lacks to be a mount point: a dir, or an empty file.
fn make_mount_point(path: &Path, exists: bool, dir: bool) -> Result<(), MountError> {
    let err = |source| MountError::MountPoint {
        path: path.to_owned(),
        source,
    };
    if exists {
        return Ok(());
    }
    if dir {
        fs::create_dir_all(path).map_err(err)?;
    } else {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(err)?;
        }
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(err)?;
    }
    Ok(())
}

/// Flags a read-only remount must keep: in a user namespace the kernel refuses to
/// clear nosuid/nodev/noexec/atime flags that the source mount has (they are locked).
fn locked_flags(path: &Path) -> MsFlags {
    let mut f = MsFlags::empty();
    if let Ok(st) = statvfs(path) {
        let fl = st.flags();
        for (a, b) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if fl.contains(a) {
                f |= b;
            }
        }
    }
    f
}

fn bind(src: &Path, dst: &Path, read_only: bool, recursive: bool) -> Result<(), MountError> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), dst, None::<&str>, flags, None::<&str>).map_err(sys(format!(
        "mount({src:?}, {dst:?}, MS_BIND{})",
        if recursive { "|MS_REC" } else { "" }
    )))?;
    if read_only {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked_flags(dst);
        mount(None::<&str>, dst, None::<&str>, flags, None::<&str>)
            .map_err(sys(format!("mount({dst:?}, MS_BIND|MS_REMOUNT|MS_RDONLY)")))?;
    }
    Ok(())
}

/// Carry out one operation; `Ok(Some(note))` when an optional step was skipped.
/// A path in overlayfs's mount options, where `:` and `,` separate values.
fn escape_option(p: &Path) -> String {
    p.to_string_lossy()
        .replace('\\', "\\\\")
        .replace(':', "\\:")
        .replace(',', "\\,")
}

pub fn apply(root: &Path, op: &MountOp, rootless: bool) -> Result<Option<String>, MountError> {
    match op {
        MountOp::BindRoot => {
            bind(root, root, false, false)?;
        }
        MountOp::WritableOverlay { lower, upper, work } => {
            for d in [upper, work] {
                fs::create_dir_all(d).map_err(|source| MountError::MountPoint {
                    path: d.clone(),
                    source,
                })?;
            }
            // In a user namespace overlayfs keeps its metadata in user.* xattrs
            // (`userxattr`, Linux ≥ 5.11); the work dir's filesystem must have them.
            let data = format!(
                "lowerdir={},upperdir={},workdir={}{}",
                escape_option(lower),
                escape_option(upper),
                escape_option(work),
                if rootless { ",userxattr" } else { "" }
            );
            mount(
                Some("overlay"),
                lower.as_path(),
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(sys(format!(
                "mount(overlay, {lower:?}, overlay, 0, {data:?})"
            )))?;
        }
        MountOp::Bind {
            src,
            dest,
            read_only,
            recursive,
        } => {
            let (dst, found) = target(root, dest)?;
            let is_dir = fs::metadata(src).map(|m| m.is_dir()).unwrap_or(false);
            make_mount_point(&dst, found.is_some(), is_dir)?;
            bind(src, &dst, *read_only, *recursive)?;
        }
        MountOp::Overlay {
            dest,
            lowers,
            fallback,
        } => {
            let (dst, _) = target(root, dest)?;
            let data = format!(
                "lowerdir={}",
                lowers
                    .iter()
                    .map(|p| escape_option(p))
                    .collect::<Vec<_>>()
                    .join(":")
            );
            let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            if let Err(e) = mount(
                Some("overlay"),
                &dst,
                Some("overlay"),
                flags,
                Some(data.as_str()),
            ) {
                for op in fallback {
                    apply(root, op, rootless)?;
                }
                return Ok(Some(format!(
                    "{dest}: overlay refused ({e}), split into {} binds",
                    fallback.len()
                )));
            }
        }
        MountOp::Fs {
            fstype,
            dest,
            flags,
            data,
            optional,
        } => {
            let (dst, found) = target(root, dest)?;
            make_mount_point(&dst, found.is_some(), true)?;
            let r = mount(
                Some(fstype.as_str()),
                &dst,
                Some(fstype.as_str()),
                MsFlags::from_bits_truncate(*flags),
                (!data.is_empty()).then_some(data.as_str()),
            );
            match r {
                Ok(()) => {}
                Err(e) if *optional => {
                    return Ok(Some(format!("{dest}: skipped: mount {fstype}: {e}")));
                }
                Err(e) => {
                    return Err(SysError::new(
                        format!("mount({fstype}, {dst:?}, {fstype}, {flags:#x}, {data:?})"),
                        e,
                    )
                    .into());
                }
            }
        }
        MountOp::Device { dest, major, minor } => {
            let (dst, found) = target(root, dest)?;
            if rootless {
                // mknod is refused in a user namespace: bind the host's node, as runc
                // does for rootless containers.
                make_mount_point(&dst, found.is_some(), false)?;
                bind(Path::new(dest), &dst, false, false)?;
            } else {
                mknod(
                    &dst,
                    SFlag::S_IFCHR,
                    Mode::from_bits_truncate(0o666),
                    makedev(*major, *minor),
                )
                .map_err(sys(format!(
                    "mknod({dst:?}, S_IFCHR|0666, {major}:{minor})"
                )))?;
                // The umask trimmed the mode.
                fs::set_permissions(&dst, fs::Permissions::from_mode(0o666)).map_err(|e| {
                    MountError::MountPoint {
                        path: dst.clone(),
                        source: e,
                    }
                })?;
            }
        }
        MountOp::Symlink { target: t, dest } => {
            let (dst, found) = target(root, dest)?;
            if found.is_none() {
                let link = || std::os::unix::fs::symlink(t, &dst);
                let made = match link() {
                    // A missing parent (the usual ones are in /dev, which exists).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        fs::create_dir_all(dst.parent().unwrap_or(root)).and_then(|()| link())
                    }
                    r => r,
                };
                made.map_err(|source| MountError::MountPoint {
                    path: dst.clone(),
                    source,
                })?;
            }
        }
        MountOp::File { dest, mode } => {
            let (dst, _) = target(root, dest)?;
            fs::write(&dst, b"")
                .and_then(|()| fs::set_permissions(&dst, fs::Permissions::from_mode(*mode)))
                .map_err(|source| MountError::MountPoint { path: dst, source })?;
        }
        MountOp::Mask { dest } => {
            let (dst, found) = target(root, dest)?;
            match found {
                None => {}
                Some(t) if t.is_dir() => {
                    mount(
                        Some("tmpfs"),
                        &dst,
                        Some("tmpfs"),
                        MsFlags::MS_RDONLY,
                        None::<&str>,
                    )
                    .map_err(sys(format!("mount(tmpfs, {dst:?}, MS_RDONLY)")))?;
                }
                Some(_) => bind(&root.join("dev/null"), &dst, false, false)?,
            }
        }
        MountOp::ReadOnly { dest } => {
            let (dst, found) = target(root, dest)?;
            if found.is_some() {
                bind(&dst, &dst, true, true)?;
            }
        }
    }
    Ok(None)
}

/// Make every mount private so that nothing we mount propagates to the host.
pub fn make_private() -> Result<(), SysError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys("mount(none, \"/\", MS_REC|MS_PRIVATE)".into()))
}

/// `pivot_root(".", ".")` + `umount2(".", MNT_DETACH)` + `chdir("/")`, as runc
/// (`libcontainer/rootfs_linux.go` `pivotRoot`): stacking the old root under the new
/// one and detaching it needs no put_old directory inside the task dir.
pub fn pivot(root: &Path) -> Result<(), SysError> {
    nix::unistd::chdir(root).map_err(sys(format!("chdir({root:?})")))?;
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root(\".\", \".\")".into()))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("umount2(\".\", MNT_DETACH)".into()))?;
    nix::unistd::chdir("/").map_err(sys("chdir(\"/\")".into()))?;
    Ok(())
}
