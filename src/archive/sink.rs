//! Where unpacked entries go. Every decision about an entry (go-getter's rules, our
//! caps, the findings) is made in [`super::unpack`]; a sink only carries it out and
//! says what is already there. [`Disk`] is the real tree, written through directory
//! handles ([`super::dest`]) by a pool of writer threads ([`super::writer`]); a model
//! of the tree in memory can stand in for it.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;

use super::dest::{self, Dest, Existing, MTime, WalkError};
use super::writer::Writers;

/// Why a file, link or directory could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MakeError {
    /// On the way to its directory.
    Walk(WalkError),
    /// At the entry itself.
    At(Errno),
    /// On the way to a hard link's target.
    Target(WalkError),
}

pub trait Sink {
    /// An open file being written.
    type File;

    /// What is at `comps`: `None` when nothing, `Some(is_dir)` when something.
    fn probe(&mut self, comps: &[&[u8]]) -> Result<Option<bool>, WalkError>;

    /// Make the directories `comps` that are missing (mode 0755).
    fn mkdir_all(&mut self, comps: &[&[u8]]) -> Result<(), WalkError>;

    /// Create `last` in the existing directory `parents` (or reuse it, per `existing`)
    /// with permission bits `mode`. `path` names it in write errors.
    fn create(
        &mut self,
        parents: &[&[u8]],
        last: &[u8],
        mode: u32,
        existing: Existing,
        path: &str,
    ) -> Result<Self::File, MakeError>;

    /// A buffer to fill with the next piece of a file.
    fn buffer(&mut self) -> Vec<u8>;

    /// Hand back a buffer that was not written.
    fn recycle(&mut self, buf: Vec<u8>);

    /// `buf[..len]` belongs at `off` in `file`.
    fn write(&mut self, file: &Self::File, off: u64, buf: Vec<u8>, len: usize);

    /// The file is complete: `len` bytes long (what was not written is zeros), then
    /// its mode and mtime.
    fn close(&mut self, file: Self::File, len: u64, mode: u32, mtime: Option<MTime>);

    /// A symlink (`--extract tar` only).
    fn symlink(&mut self, parents: &[&[u8]], last: &[u8], target: &[u8]) -> Result<(), MakeError>;

    /// A hard link to the earlier entry `target` (`--extract tar` only).
    fn hard_link(
        &mut self,
        target: &[&[u8]],
        parents: &[&[u8]],
        last: &[u8],
    ) -> Result<(), MakeError>;

    /// Apply a directory entry's mode and mtime; `Ok(false)` when it is no longer a
    /// directory.
    fn finish_dir(
        &mut self,
        comps: &[&[u8]],
        mode: u32,
        mtime: Option<MTime>,
    ) -> Result<bool, Errno>;

    /// Wait for every write so far; the first that failed, with its path.
    fn settle(&mut self) -> Option<(String, io::Error)>;

    /// A write that has failed so far, without waiting for the others.
    fn failed(&mut self) -> Option<(String, io::Error)>;
}

/// The tree on disk.
pub struct Disk {
    dest: Dest,
    writers: Writers,
}

/// An open file of [`Disk`]: which writer thread has it, and its path for errors.
pub struct DiskFile {
    file: Arc<File>,
    slot: usize,
    path: Arc<str>,
}

impl Disk {
    pub fn open(root: &Path) -> io::Result<Disk> {
        Ok(Disk {
            dest: Dest::open(root)?,
            writers: Writers::new()?,
        })
    }
}

impl Sink for Disk {
    type File = DiskFile;

    fn probe(&mut self, comps: &[&[u8]]) -> Result<Option<bool>, WalkError> {
        self.dest.probe(comps)
    }

    fn mkdir_all(&mut self, comps: &[&[u8]]) -> Result<(), WalkError> {
        self.dest.dir(comps, true).map(|_| ())
    }

    fn create(
        &mut self,
        parents: &[&[u8]],
        last: &[u8],
        mode: u32,
        existing: Existing,
        path: &str,
    ) -> Result<DiskFile, MakeError> {
        let writers = &mut self.writers;
        let dir = self.dest.dir(parents, false).map_err(MakeError::Walk)?;
        let file = match dest::create_file(dir, last, mode, Existing::Fail) {
            // The path was unpacked before: let its queued writes land first.
            Err(Errno::EEXIST) => {
                writers.flush();
                dest::create_file(dir, last, mode, existing)
            }
            r => r,
        }
        .map_err(MakeError::At)?;
        Ok(DiskFile {
            file: Arc::new(file),
            slot: self.writers.slot(),
            path: Arc::from(path),
        })
    }

    fn buffer(&mut self) -> Vec<u8> {
        self.writers.block()
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        self.writers.give_back(buf);
    }

    fn write(&mut self, f: &DiskFile, off: u64, buf: Vec<u8>, len: usize) {
        self.writers.write(f.slot, &f.file, off, buf, len, &f.path);
    }

    fn close(&mut self, f: DiskFile, len: u64, mode: u32, mtime: Option<MTime>) {
        self.writers
            .finish(f.slot, f.file, len, mode, mtime, f.path);
    }

    fn symlink(&mut self, parents: &[&[u8]], last: &[u8], target: &[u8]) -> Result<(), MakeError> {
        let dir = self.dest.dir(parents, true).map_err(MakeError::Walk)?;
        dest::symlink(dir, last, target).map_err(MakeError::At)
    }

    fn hard_link(
        &mut self,
        target: &[&[u8]],
        parents: &[&[u8]],
        last: &[u8],
    ) -> Result<(), MakeError> {
        let Some((&tlast, tparents)) = target.split_last() else {
            return Err(MakeError::At(Errno::EPERM));
        };
        let tdir = self
            .dest
            .dir(tparents, false)
            .map_err(MakeError::Target)?
            .try_clone_to_owned()
            .map_err(|e| MakeError::At(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
        let dir = self.dest.dir(parents, true).map_err(MakeError::Walk)?;
        dest::hard_link(tdir.as_fd(), tlast, dir, last).map_err(MakeError::At)
    }

    fn finish_dir(
        &mut self,
        comps: &[&[u8]],
        mode: u32,
        mtime: Option<MTime>,
    ) -> Result<bool, Errno> {
        match self.dest.dir(comps, false) {
            Ok(fd) => dest::finish_dir(fd, mode, mtime).map(|()| true),
            // Replaced by a link or file later in the archive (tar mode).
            Err(_) => Ok(false),
        }
    }

    fn failed(&mut self) -> Option<(String, io::Error)> {
        self.writers.failure()
    }

    fn settle(&mut self) -> Option<(String, io::Error)> {
        self.writers.flush();
        // Directories may have been replaced since their handles were cached.
        self.dest.forget();
        self.writers.failure()
    }
}
