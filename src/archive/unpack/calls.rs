//! go-getter's calls on an entry's path, as they go on a Nomad client: `MkdirAll`,
//! `os.Stat` of the parent, `OpenFile(O_RDWR|O_CREATE|O_TRUNC)`. Which fails, on which
//! path and with which errno follows from what the tree holds so far (asked of the
//! sink) and from the path's length on the client: the kernel refuses a path of
//! PATH_MAX bytes and a component over NAME_MAX, and Go a path holding a NUL, before
//! any lookup.

use nix::errno::Errno;

use super::super::ExtractMode;
use super::super::dest::{Existing, WalkError};
use super::super::sink::{MakeError, Sink};
use super::{FLATTEN_HINT, Halt, Step, Unpacker, components};
use crate::finding::{Cause, Finding, Kind};

/// The kernel's limits on a path (`PATH_MAX`, counting its NUL) and a component
/// (`NAME_MAX`), as they apply to the paths go-getter passes on the client.
const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

/// Go's text for an errno (`syscall.Errno.Error()`).
fn errno_text(e: Errno) -> String {
    match e {
        Errno::ENOTDIR => "not a directory".into(),
        Errno::EISDIR => "is a directory".into(),
        Errno::ENAMETOOLONG => "file name too long".into(),
        Errno::EINVAL => "invalid argument".into(),
        Errno::EEXIST => "file exists".into(),
        Errno::EACCES => "permission denied".into(),
        Errno::ENOENT => "no such file or directory".into(),
        Errno::EROFS => "read-only file system".into(),
        Errno::ELOOP => "too many levels of symbolic links".into(),
        e => {
            let d = e.desc();
            let mut c = d.chars();
            c.next()
                .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

impl<S: Sink> Unpacker<'_, S> {
    /// Nomad's download fails at `comps` with `op`'s errno.
    pub(super) fn path_error(&mut self, op: &str, comps: &[&[u8]], e: Errno, shown: &str) -> Halt {
        let at = self.task_path(comps);
        let msg = format!("{op} {at}: {}", errno_text(e));
        let why = match (e, op) {
            (Errno::ENOTDIR, "mkdir") => format!(
                "`{at}` is a file (an earlier entry, perhaps a flattened link), so the directory `{}` cannot be made",
                self.task_path(&components(shown.as_bytes()))
            ),
            (Errno::ENOTDIR, _) => format!(
                "a directory on the way to `{at}` is a file (an earlier entry, perhaps a flattened link)"
            ),
            (Errno::EISDIR, _) => format!(
                "`{at}` is a directory (an earlier entry, or the destination itself) and this entry is not"
            ),
            (Errno::ENAMETOOLONG, _) => format!(
                "a name in `{shown}` is longer than Linux allows: 255 bytes a component, 4095 a path, and on a Nomad client the path starts with the destination's `{}`",
                self.req.nomad_dest
            ),
            (Errno::EINVAL, _) => {
                "the entry's name contains a NUL byte, which no path can hold".to_owned()
            }
            _ => format!("{op} fails with {}", errno_text(e)),
        };
        let mut f = Finding::error(Kind::Artifact, Cause::UnpackFailure, shown.to_owned())
            .message(format!("{why}: Nomad fails the download with `{msg}`"))
            .nomad_error(msg);
        if e == Errno::ENOTDIR {
            f = f.hint(FLATTEN_HINT);
        }
        self.reject(f)
    }

    pub(super) fn symlink_in_the_way(&mut self, comps: &[&[u8]], shown: &str) -> Halt {
        let at = self.task_path(comps);
        self.reject(
            Finding::error(Kind::UnsafeEntry, Cause::LinkEscape, shown.to_owned()).message(format!(
                "`{shown}` would be written through the symlink at `{at}`; links are never followed while unpacking"
            )),
        )
    }

    /// The length of `comps`' path on the Nomad client.
    pub(super) fn host_len(&self, comps: &[&[u8]]) -> usize {
        self.req.nomad_dest.trim_end_matches('/').len()
            + comps.iter().map(|c| 1 + c.len()).sum::<usize>()
    }

    /// The first prefix (its length) that no system call on the client can name, and
    /// why: a NUL (Go's `EINVAL`), PATH_MAX or NAME_MAX (`ENAMETOOLONG`).
    pub(super) fn unnameable(&self, comps: &[&[u8]]) -> Option<(usize, Errno)> {
        let nomad = self.req.mode == ExtractMode::Nomad;
        (1..=comps.len()).find_map(|m| {
            let c = comps[m - 1];
            if c.contains(&0) {
                Some((m, Errno::EINVAL))
            } else if nomad && (self.host_len(&comps[..m]) >= PATH_MAX || c.len() > NAME_MAX) {
                Some((m, Errno::ENAMETOOLONG))
            } else {
                None
            }
        })
    }

    /// `os.MkdirAll(dst/comps, 0755)`: the shallowest prefix that is not a directory
    /// or cannot be made decides.
    pub(super) fn mkdir_all(&mut self, comps: &[&[u8]], shown: &str) -> Step {
        let bad = self.unnameable(comps);
        let reach = bad.map_or(comps.len(), |(m, _)| m - 1);
        match self.sink.mkdir_all(&comps[..reach]) {
            Ok(()) => match bad {
                Some((m, e)) => Err(self.path_error("mkdir", &comps[..m], e, shown)),
                None => Ok(()),
            },
            Err(WalkError::NotDir(i)) => {
                Err(self.path_error("mkdir", &comps[..=i], Errno::ENOTDIR, shown))
            }
            Err(WalkError::Symlink(i)) => Err(self.symlink_in_the_way(&comps[..=i], shown)),
            Err(WalkError::Io(i, Errno::ENAMETOOLONG)) => {
                Err(self.path_error("mkdir", &comps[..=i], Errno::ENAMETOOLONG, shown))
            }
            Err(WalkError::Io(i, e)) => {
                let at = self.task_path(&comps[..=i]);
                Err(self.fatal(&at, e))
            }
        }
    }

    /// `decompress_tar.go`: `if _, err := os.Stat(dir); os.IsNotExist(err) { MkdirAll }`.
    /// Any other outcome of the `Stat` (a file on the way, a name too long) leaves the
    /// error to the `OpenFile` that follows.
    pub(super) fn tar_parent(&mut self, parents: &[&[u8]], shown: &str) -> Step {
        if self.req.mode == ExtractMode::Tar {
            return self.mkdir_all(parents, shown);
        }
        if self.unnameable(parents).is_some() {
            return Ok(());
        }
        match self.sink.probe(parents) {
            Ok(None) => self.mkdir_all(parents, shown),
            Ok(Some(_)) | Err(WalkError::NotDir(_)) => Ok(()),
            Err(WalkError::Symlink(i)) => Err(self.symlink_in_the_way(&parents[..=i], shown)),
            Err(WalkError::Io(..)) => Ok(()),
        }
    }

    /// `os.OpenFile(path, O_RDWR|O_CREATE|O_TRUNC, mode)`: Go's checks of the name,
    /// the kernel's of the path, then the walk (a file on the way, a directory there).
    pub(super) fn open(
        &mut self,
        comps: &[&[u8]],
        mode: u32,
        shown: &str,
        task_path: &str,
    ) -> Step<S::File> {
        let (last, parents) = comps.split_last().expect("a named entry");
        let fail = |this: &mut Self, e| Err(this.path_error("open", comps, e, shown));
        if comps.iter().any(|c| c.contains(&0)) {
            return fail(self, Errno::EINVAL);
        }
        if self.req.mode == ExtractMode::Nomad {
            if self.host_len(comps) >= PATH_MAX {
                return fail(self, Errno::ENAMETOOLONG);
            }
            if let Some(l) = comps.iter().position(|c| c.len() > NAME_MAX) {
                // The walk meets a file before the long name, or the long name.
                let e = match self.sink.probe(&comps[..l]) {
                    Ok(Some(false)) | Err(WalkError::NotDir(_)) => Errno::ENOTDIR,
                    _ => Errno::ENAMETOOLONG,
                };
                return fail(self, e);
            }
        }
        let existing = match self.req.mode {
            ExtractMode::Nomad => Existing::Truncate,
            ExtractMode::Tar => Existing::Replace,
        };
        self.sink
            .create(parents, last, mode, existing, task_path)
            .map_err(|e| self.make_failure(e, comps, shown))
    }

    /// A file or link could not be made at `comps`: as `OpenFile` would fail there.
    pub(super) fn make_failure(&mut self, e: MakeError, comps: &[&[u8]], shown: &str) -> Halt {
        match e {
            MakeError::Walk(WalkError::NotDir(_)) | MakeError::Target(WalkError::NotDir(_)) => {
                self.path_error("open", comps, Errno::ENOTDIR, shown)
            }
            MakeError::Walk(WalkError::Symlink(i)) | MakeError::Target(WalkError::Symlink(i)) => {
                self.symlink_in_the_way(&comps[..=i], shown)
            }
            MakeError::Walk(WalkError::Io(_, e))
            | MakeError::Target(WalkError::Io(_, e))
            | MakeError::At(e) => self.open_failure(e, comps, shown),
        }
    }

    pub(super) fn open_failure(&mut self, e: Errno, comps: &[&[u8]], shown: &str) -> Halt {
        match e {
            Errno::ELOOP => {
                let full = self.task_path(comps);
                self.reject(
                    Finding::error(Kind::UnsafeEntry, Cause::LinkEscape, shown.to_owned()).message(
                        format!(
                            "`{full}` is already a symlink: Nomad would write through it; we refuse to"
                        ),
                    ),
                )
            }
            Errno::EISDIR | Errno::ENOTEMPTY | Errno::EEXIST => {
                self.path_error("open", comps, Errno::EISDIR, shown)
            }
            Errno::ENAMETOOLONG | Errno::ENOTDIR => self.path_error("open", comps, e, shown),
            e => {
                let full = self.task_path(comps);
                self.fatal(&full, e)
            }
        }
    }
}
