//! Writing inside the destination through directory handles only.
//!
//! Every path is walked one component at a time with `openat(O_DIRECTORY|O_NOFOLLOW)`
//! from a handle on the destination, so no name, link or concurrent rename can make a
//! write land outside it: a symlink in the way fails the walk (`ELOOP`/`ENOTDIR`)
//! instead of being followed. Files are created with `O_NOFOLLOW`, links with
//! `symlinkat`/`linkat` without `AT_SYMLINK_FOLLOW`. No device node, FIFO or setuid file
//! is ever created here: callers pass permission bits only.
//!
//! Open directory handles are kept as a stack along the current path, since archives
//! list a directory's entries together; only the deepest few stay open.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fchmod, fstatat, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{UnlinkatFlags, linkat, symlinkat, unlinkat};

/// Why a walk to a directory stopped, and at which component (index into the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkError {
    /// The component is a symlink: we never follow one.
    Symlink(usize),
    /// The component exists and is not a directory.
    NotDir(usize),
    Io(usize, Errno),
}

pub struct Dest {
    root: OwnedFd,
    /// The directories along the current path; only the deepest [`HANDLES`] keep an
    /// open handle, so a path thousands of levels deep costs a bounded number of
    /// descriptors (the others are reopened from the nearest open one when needed).
    stack: Vec<(Vec<u8>, Option<OwnedFd>)>,
}

/// Open directory handles kept along the current path.
const HANDLES: usize = 48;

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

pub fn os(name: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(name)
}

impl Dest {
    /// Open the destination itself (a directory we created).
    pub fn open(path: &Path) -> Result<Dest, Errno> {
        let root = openat(
            nix::fcntl::AT_FDCWD,
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dest {
            root,
            stack: Vec::new(),
        })
    }

    /// The handle of stack level `i`, reopening it (and nothing else) from the nearest
    /// open level above when it was closed.
    fn level(&mut self, i: usize) -> Result<(), WalkError> {
        if self.stack[i].1.is_some() {
            return Ok(());
        }
        let from = self.stack[..i].iter().rposition(|(_, fd)| fd.is_some());
        let mut cur: Option<OwnedFd> = None;
        for j in from.map_or(0, |f| f + 1)..=i {
            let parent = match (&cur, from) {
                (Some(fd), _) => fd.as_fd(),
                (None, Some(f)) => self.stack[f].1.as_ref().expect("open").as_fd(),
                (None, None) => self.root.as_fd(),
            };
            let comp = &self.stack[j].0;
            let fd = openat(parent, os(comp), dir_flags(), Mode::empty())
                .map_err(|e| classify(parent, comp, j, e))?;
            cur = Some(fd);
        }
        self.stack[i].1 = cur;
        Ok(())
    }

    /// A handle on the directory `comps` below the destination, creating missing
    /// components 0755 (go-getter's `os.MkdirAll(path, 0755 &^ umask)`) when `create`.
    pub fn dir(&mut self, comps: &[&[u8]], create: bool) -> Result<BorrowedFd<'_>, WalkError> {
        let keep = self
            .stack
            .iter()
            .zip(comps)
            .take_while(|((have, _), want)| have.as_slice() == **want)
            .count();
        self.stack.truncate(keep);
        if keep > 0 {
            self.level(keep - 1)?;
        }
        for (i, comp) in comps.iter().enumerate().skip(keep) {
            let parent = match self.stack.last() {
                Some((_, fd)) => fd.as_ref().expect("the deepest level is open").as_fd(),
                None => self.root.as_fd(),
            };
            let fd = match openat(parent, os(comp), dir_flags(), Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create => {
                    match mkdirat(parent, os(comp), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(WalkError::Io(i, e)),
                    }
                    openat(parent, os(comp), dir_flags(), Mode::empty())
                        .map_err(|e| classify(parent, comp, i, e))?
                }
                Err(e) => return Err(classify(parent, comp, i, e)),
            };
            self.stack.push((comp.to_vec(), Some(fd)));
            if self.stack.len() > HANDLES {
                let old = self.stack.len() - HANDLES - 1;
                self.stack[old].1 = None;
            }
        }
        Ok(match self.stack.last() {
            Some((_, fd)) => fd.as_ref().expect("the deepest level is open").as_fd(),
            None => self.root.as_fd(),
        })
    }

    /// What `comps` is, without creating or following anything: `Ok(None)` when it
    /// does not exist, `Ok(Some(is_dir))` when it does. A directory on the current path
    /// is answered from the handles already open (and stays the current path).
    pub fn probe(&mut self, comps: &[&[u8]]) -> Result<Option<bool>, WalkError> {
        match self.dir(comps, false) {
            Ok(_) => Ok(Some(true)),
            Err(WalkError::NotDir(i)) if i + 1 == comps.len() => Ok(Some(false)),
            Err(WalkError::Io(_, Errno::ENOENT)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Forget cached handles (after something may have replaced a directory).
    pub fn forget(&mut self) {
        self.stack.clear();
    }
}

/// `O_DIRECTORY|O_NOFOLLOW` on a symlink fails with `ENOTDIR` (not `ELOOP`), like a
/// regular file: look at the entry itself to tell them apart.
fn classify(parent: BorrowedFd<'_>, comp: &[u8], i: usize, e: Errno) -> WalkError {
    match e {
        Errno::ELOOP => WalkError::Symlink(i),
        Errno::ENOTDIR => match fstatat(parent, os(comp), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => WalkError::Symlink(i),
            _ => WalkError::NotDir(i),
        },
        e => WalkError::Io(i, e),
    }
}

/// How to treat an existing entry at the path of a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Fail with `EEXIST` (the caller then settles pending writes and retries).
    Fail,
    /// go-getter: `O_TRUNC` the existing file (we refuse to follow a symlink there).
    Truncate,
    /// GNU tar: unlink it first so a hard link elsewhere is not written through.
    Replace,
}

/// Create (or reuse, per `existing`) a regular file `name` in `dir`, never following a
/// symlink. `mode` carries permission bits only.
pub fn create_file(
    dir: BorrowedFd<'_>,
    name: &[u8],
    mode: u32,
    existing: Existing,
) -> Result<File, Errno> {
    let base = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let m = Mode::from_bits_truncate(mode & 0o1777);
    let flags = match existing {
        Existing::Truncate => base | OFlag::O_TRUNC,
        Existing::Replace | Existing::Fail => base | OFlag::O_EXCL,
    };
    match openat(dir, os(name), flags, m) {
        Ok(fd) => Ok(File::from(fd)),
        Err(Errno::EEXIST) if existing == Existing::Replace => {
            unlinkat(dir, os(name), UnlinkatFlags::NoRemoveDir)?;
            openat(dir, os(name), flags, m).map(File::from)
        }
        Err(e) => Err(e),
    }
}

/// A modification time from the archive: seconds and nanoseconds.
pub type MTime = (i64, u32);

/// Permission bits (go-getter chmods explicitly after writing, so the process umask
/// does not apply) and the mtime when the header has one (`> 0`, as go-getter checks).
pub fn finish_file(fd: BorrowedFd<'_>, mode: u32, mtime: Option<MTime>) -> Result<(), Errno> {
    fchmod(fd, Mode::from_bits_truncate(mode & 0o1777))?;
    if let Some((s, ns)) = mtime {
        futimens(fd, &TimeSpec::UTIME_OMIT, &TimeSpec::new(s, ns as _))?;
    }
    Ok(())
}

/// A symlink `name` → `target` in `dir` (GNU tar replaces what is there).
pub fn symlink(dir: BorrowedFd<'_>, name: &[u8], target: &[u8]) -> Result<(), Errno> {
    match symlinkat(os(target), dir, os(name)) {
        Err(Errno::EEXIST) => {
            unlinkat(dir, os(name), UnlinkatFlags::NoRemoveDir)?;
            symlinkat(os(target), dir, os(name))
        }
        r => r,
    }
}

/// A hard link `name` in `dir` to `target_name` in `target_dir`, not following a
/// symlink at the target (the link is to the symlink itself, inside the destination).
pub fn hard_link(
    target_dir: BorrowedFd<'_>,
    target_name: &[u8],
    dir: BorrowedFd<'_>,
    name: &[u8],
) -> Result<(), Errno> {
    let link = || linkat(target_dir, os(target_name), dir, os(name), AtFlags::empty());
    match link() {
        Err(Errno::EEXIST) => {
            unlinkat(dir, os(name), UnlinkatFlags::NoRemoveDir)?;
            link()
        }
        r => r,
    }
}

/// Apply a directory's header mode and mtime (go-getter's final pass).
pub fn finish_dir(fd: BorrowedFd<'_>, mode: u32, mtime: Option<MTime>) -> Result<(), Errno> {
    finish_file(fd, mode, mtime)
}
