//! What is kept of one file's content while it streams past, in bounded memory.

use std::ops::Range;
use std::sync::Arc;

use crate::elf::capture::{Captured, ElfCapture};
use crate::elf::{ElfError, ElfInfo, LoaderStrings};

/// The first bytes of every file: what `execve` reads to choose a binary format
/// (`BINPRM_BUF_SIZE`), which holds a `#!` line.
pub const HEAD: usize = 256;
/// A small text file the analysis may read is kept whole up to this size…
const SMALL: usize = 1 << 20;
/// …and all of them together up to this much.
pub const SMALL_TOTAL: usize = 16 << 20;

/// What the analysis knows of a file's ELF headers.
#[derive(Debug, Clone)]
pub enum ElfState {
    /// No ELF magic: a parse of it reads only its first bytes.
    NoMagic,
    /// What a parse of the whole file gives, and a possible loader's strings (kept
    /// when the file was kept whole, see `elf::capture`).
    Parsed(Arc<Result<ElfInfo, ElfError>>, Option<LoaderStrings>),
    /// The tables lie outside what was kept: read it back keeping these ranges.
    Incomplete(Vec<Range<u64>>),
}

/// An ELF parse and, for a file that could be a loader, its strings.
pub type ElfParse = (Arc<Result<ElfInfo, ElfError>>, Option<LoaderStrings>);

/// Where a file's bytes can be read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The `ordinal`-th file made by the `source`-th artifact unpacked.
    Entry { source: usize, ordinal: u32 },
    /// A host file placed as is.
    Host(std::path::PathBuf),
}

#[derive(Debug, Clone)]
pub struct FileData {
    pub size: u64,
    /// The first [`HEAD`] bytes (fewer when the file is shorter).
    pub head: Vec<u8>,
    pub elf: ElfState,
    /// The whole content, for the small text files the lints read.
    pub content: Option<Arc<[u8]>>,
    pub origin: Origin,
}

impl FileData {
    pub fn empty() -> FileData {
        FileData {
            size: 0,
            head: Vec::new(),
            elf: ElfState::NoMagic,
            content: Some(Arc::from(&[][..])),
            origin: Origin::Host(std::path::PathBuf::new()),
        }
    }
}

/// What a read-back keeps of its file.
#[derive(Debug, Clone)]
pub enum Want {
    Whole,
    /// An ELF parse, with the ranges the first pass missed.
    Elf(Vec<Range<u64>>),
}

#[derive(Debug)]
pub enum ReadBack {
    Whole(Vec<u8>),
    Elf(Captured),
}

/// Small files by name that the analysis reads whole: the user and NSS databases, the
/// loader's cache and musl's path file, other configuration.
pub fn wanted_whole(task_path: &str) -> bool {
    let base = task_path.rsplit('/').next().unwrap_or(task_path);
    matches!(
        base,
        "passwd" | "group" | "nsswitch.conf" | "ld.so.cache" | "hosts" | "resolv.conf"
    ) || base.ends_with(".path")
        || base.ends_with(".conf")
}

/// The capture of the file being written.
pub struct FileCapture {
    head: Vec<u8>,
    elf: Option<ElfCapture>,
    /// Kept whole so far (dropped once past its limit).
    whole: Option<Vec<u8>>,
    limit: usize,
    /// Keep an ELF capture even before the magic is seen (a read-back of one).
    elf_extra: Option<Vec<Range<u64>>>,
    end: u64,
}

impl FileCapture {
    /// `whole`: keep all of it, up to `limit` bytes.
    pub fn new(whole: bool, limit: usize, elf_extra: Option<Vec<Range<u64>>>) -> FileCapture {
        FileCapture {
            head: Vec::new(),
            elf: None,
            whole: whole.then(Vec::new),
            limit,
            elf_extra,
            end: 0,
        }
    }

    pub fn data(&mut self, off: u64, bytes: &[u8]) {
        if off < HEAD as u64 {
            if self.head.len() < off as usize {
                self.head.resize(off as usize, 0);
            }
            if self.head.len() == off as usize {
                let take = bytes.len().min(HEAD - off as usize);
                self.head.extend_from_slice(&bytes[..take]);
            }
        }
        if self.elf.is_none() && off == 0 && bytes.starts_with(b"\x7fELF") {
            self.elf = Some(ElfCapture::new(self.elf_extra.take().unwrap_or_default()));
        }
        if let Some(e) = &mut self.elf {
            e.data(off, bytes);
        }
        if let Some(w) = &mut self.whole {
            let end = off as usize + bytes.len();
            if end > self.limit {
                self.whole = None;
            } else {
                w.resize(off as usize, 0);
                w.extend_from_slice(bytes);
            }
        }
        self.end = self.end.max(off + bytes.len() as u64);
    }

    /// The file is `len` bytes long (what was not written is zeros).
    pub fn finish(mut self, len: u64) -> (Vec<u8>, ElfState, Option<Vec<u8>>) {
        let head_len = (len as usize).min(HEAD);
        if self.head.len() < head_len {
            self.head.resize(head_len, 0);
        }
        self.head.truncate(head_len);
        let elf = match self.elf.take() {
            None => ElfState::NoMagic,
            Some(c) => match c.finish(len) {
                Captured::Parsed(r, l) => ElfState::Parsed(Arc::new(r), l),
                Captured::Incomplete(m) => ElfState::Incomplete(m),
            },
        };
        let whole = self
            .whole
            .take()
            .filter(|_| len as usize <= self.limit)
            .map(|mut w| {
                w.resize(len as usize, 0);
                w
            });
        (self.head, elf, whole)
    }

    /// As [`FileCapture::finish`], for a read-back.
    pub fn finish_read_back(self, len: u64, want: &Want) -> ReadBack {
        let (_, elf, whole) = self.finish(len);
        match want {
            Want::Whole => ReadBack::Whole(whole.unwrap_or_default()),
            Want::Elf(_) => ReadBack::Elf(match elf {
                ElfState::Parsed(r, l) => {
                    Captured::Parsed(Arc::try_unwrap(r).unwrap_or_else(|a| (*a).clone()), l)
                }
                ElfState::Incomplete(m) => Captured::Incomplete(m),
                ElfState::NoMagic => Captured::Parsed(Err(ElfError::NotElf), None),
            }),
        }
    }
}

/// The small-file limit for a file by its path, given what is kept already.
pub fn whole_limit(task_path: &str, kept: usize) -> Option<usize> {
    (wanted_whole(task_path) && kept < SMALL_TOTAL).then(|| SMALL.min(SMALL_TOTAL - kept))
}
