//! The per-entry decisions shared by the tar and zip readers: go-getter's rules
//! (`hashicorp/go-getter:decompress_tar.go` `untar`, `decompress_zip.go`), the kernel's
//! limits on the paths a Nomad client would use, our own caps, and the findings. What
//! is decided is carried out by a [`Sink`]; nothing here touches the disk.
//!
//! go-getter unpacks an entry with a handful of calls on `filepath.Join(dst, name)`,
//! and the first that fails fails the download with its `*PathError`: `MkdirAll(path)`
//! for a directory; for anything else `os.Stat` of the parent and `MkdirAll` of it when
//! it is missing (zip: `MkdirAll` of the parent always), then `OpenFile(path,
//! O_RDWR|O_CREATE|O_TRUNC)`, the copy, `Chmod` and `Chtimes`. Which call fails, on
//! which path and with which errno is mirrored in [`calls`]; links, flattened or made,
//! are in [`links`].

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

use super::dest::MTime;
use super::sink::Sink;
use super::space::Space;
use super::storeref::{self, StoreRefScanner};
use super::{ArchiveError, ExtractMode, ExtractRequest, ExtractSummary, GETTER_SRC};
use crate::finding::{Cause, Finding, Kind};
use crate::taskdir::{Layer, LayerOrigin};

mod calls;
mod links;

use links::FLATTEN_HINT;

/// Why the pass stopped early.
pub enum Halt {
    /// A rejection finding has been recorded; nothing more is written.
    Rejected,
    Fatal(ArchiveError),
}

pub type Step<T = ()> = Result<T, Halt>;

/// What an entry is, once the format's header has been read.
pub enum Body {
    Dir,
    File,
    Symlink(Vec<u8>),
    HardLink(Vec<u8>),
    CharDev,
    BlockDev,
    Fifo,
}

pub struct Entry {
    /// The member name as stored.
    pub name: Vec<u8>,
    pub body: Body,
    /// Permission bits and setuid/setgid/sticky (Go's `FileMode` bits that `Chmod`
    /// passes on; type bits removed).
    pub mode: u32,
    /// The mtime when it is after the epoch (go-getter ignores the others).
    pub mtime: Option<MTime>,
    /// `FileInfo().Size()`: what go-getter adds to its running size total (the
    /// expanded size of a sparse file; whatever a header-only type's field says).
    pub size: i64,
    /// The bytes this entry will write at most, for the free-space check.
    pub data: u64,
}

/// A piece of an entry's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// This many bytes at the start of the buffer.
    Data(usize),
    /// This many zero bytes (a sparse file's hole), not in the buffer.
    Hole(u64),
    End,
}

/// An entry's data, with Go's error texts.
pub trait Data {
    fn chunk(&mut self, buf: &mut [u8]) -> io::Result<Chunk>;
}

/// Any reader as entry data.
pub struct Plain<R> {
    r: R,
    /// An error that came after some bytes: returned on the next call.
    pending: Option<io::Error>,
}

impl<R> Plain<R> {
    pub fn new(r: R) -> Plain<R> {
        Plain { r, pending: None }
    }
}

impl<R: Read> Data for Plain<R> {
    fn chunk(&mut self, buf: &mut [u8]) -> io::Result<Chunk> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut n = 0;
        while n < buf.len() {
            match self.r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if n > 0 => {
                    self.pending = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(if n == 0 { Chunk::End } else { Chunk::Data(n) })
    }
}

/// Bytes consumed so far, for error messages: of the bundle file, and of the
/// decompressed stream.
#[derive(Clone, Default)]
pub struct Position {
    pub raw: Arc<AtomicU64>,
    pub unpacked: Arc<AtomicU64>,
}

/// What a progress display shows while a bundle unpacks: entries so far (over every
/// extraction of the process) and the bytes of the current bundle read. Two relaxed
/// atomic writes per entry; nothing reads them unless a display is on.
pub struct Progress {
    pub entries: AtomicU64,
    pub read: AtomicU64,
}

pub static PROGRESS: Progress = Progress {
    entries: AtomicU64::new(0),
    read: AtomicU64::new(0),
};

/// Which go-getter decompressor is unpacking: their rules differ in places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Tar,
    Zip,
}

impl Container {
    fn name(self) -> &'static str {
        match self {
            Container::Tar => "tar",
            Container::Zip => "zip",
        }
    }
}

/// A non-directory entry whose parent is ready and that is about to be written.
pub struct Pending {
    comps: Vec<Vec<u8>>,
    body: Body,
    mode: u32,
    mtime: Option<MTime>,
    task_path: String,
    shown: String,
}

pub struct Unpacker<'r, S: Sink> {
    pub req: &'r ExtractRequest<'r>,
    pub summary: ExtractSummary,
    pub container: Container,
    pub pos: Position,
    sink: S,
    /// The room on the work dir's filesystem (none for a tree in memory).
    space: Option<Space>,
    scanner: StoreRefScanner,
    /// Directory entries: path → (mode, mtime); applied after all entries.
    dirs: HashMap<Vec<Vec<u8>>, (u32, Option<MTime>)>,
    absolute: u64,
    first_absolute: Option<String>,
    /// go-getter's `done`: a non-directory entry was unpacked.
    pub wrote_non_dir: bool,
    /// go-getter's running `fileSize` (Go's int64 arithmetic).
    nomad_size: i64,
    written: u64,
    layers: Vec<Layer>,
    /// The entry being read, for error messages.
    pub current: Option<String>,
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// go-getter's `containsDotDot`: `..` as a component, with `/` or `\\` as separators.
pub fn contains_dot_dot(name: &[u8]) -> bool {
    name.split(|b| *b == b'/' || *b == b'\\')
        .any(|c| c == b"..")
}

/// `filepath.Join(dst, name)`'s cleaning, minus `..` (rejected before): the components.
fn components(name: &[u8]) -> Vec<&[u8]> {
    name.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

fn refs(comps: &[Vec<u8>]) -> Vec<&[u8]> {
    comps.iter().map(Vec::as_slice).collect()
}

impl<'r, S: Sink> Unpacker<'r, S> {
    pub fn new(
        req: &'r ExtractRequest<'r>,
        mut summary: ExtractSummary,
        container: Container,
        sink: S,
        space: Option<Space>,
    ) -> Self {
        if summary.format.is_empty() {
            summary.format = container.name().to_owned();
        }
        let layers = req
            .chroot_env
            .layers()
            .into_iter()
            .filter(|l| l.origin == LayerOrigin::ChrootEnv)
            .collect();
        Unpacker {
            req,
            summary,
            container,
            pos: Position::default(),
            sink,
            space,
            scanner: StoreRefScanner::new(),
            dirs: HashMap::new(),
            absolute: 0,
            first_absolute: None,
            wrote_non_dir: false,
            nomad_size: 0,
            written: 0,
            layers,
            current: None,
        }
    }

    /// Record a rejection: the archive is refused and the pass stops. A finding that
    /// carries go-getter's error is what Nomad's download fails with.
    pub fn reject(&mut self, f: Finding) -> Halt {
        if self.summary.nomad_failure.is_none() && self.req.mode == ExtractMode::Nomad {
            self.summary.nomad_failure = f.nomad_error.clone();
        }
        self.summary.findings.push(f);
        self.summary.rejected = true;
        Halt::Rejected
    }

    /// The archive's own figure for the room it needs, before any entry.
    pub fn expect(&mut self, bytes: u64, basis: &'static str) -> Step {
        match &self.space {
            Some(s) => s
                .expect(bytes, basis)
                .map_err(|n| Halt::Fatal(ArchiveError::NoSpace(n))),
            None => Ok(()),
        }
    }

    /// The archive's bytes are wrong or end early; `err`'s text is go-getter's.
    pub fn corrupt(&mut self, err: &dyn std::fmt::Display, truncated: bool) -> Halt {
        let raw = self.pos.raw.load(Ordering::Relaxed);
        let unpacked = self.pos.unpacked.load(Ordering::Relaxed);
        let (path, within) = match &self.current {
            Some(n) => (n.clone(), format!(" in entry `{n}`")),
            None => (
                self.req.source_name.to_owned(),
                " between entries".to_owned(),
            ),
        };
        let what = if truncated {
            "truncated archive"
        } else {
            "corrupt archive"
        };
        // How far unpacking got, for the report: a truncated stream may end inside the
        // first file, before any of its bytes were written.
        self.written = self.written.max(unpacked);
        self.summary.unpacked_bytes = self.written;
        let f = Finding::error(Kind::UnsafeEntry, Cause::Corrupt, path)
            .message(format!(
                "{what}: {err}, having read {raw} bytes of `{}` and unpacked {unpacked} bytes of its {} stream{within}",
                self.req.source_name,
                self.container.name()
            ))
            .nomad_error(err.to_string());
        self.reject(f)
    }

    /// The stream's error for the current entry (an `io::Error` with Go's text).
    pub fn stream_error(&mut self, e: &io::Error) -> Halt {
        self.corrupt(e, e.kind() == io::ErrorKind::UnexpectedEof)
    }

    fn fatal(&self, path: &str, e: impl Into<io::Error>) -> Halt {
        Halt::Fatal(ArchiveError::Write {
            path: format!("{}/{}", self.req.dest.display(), path),
            source: e.into(),
        })
    }

    fn task_path(&self, comps: &[&[u8]]) -> String {
        let mut p = self.req.dest_in_task.trim_end_matches('/').to_owned();
        for c in comps {
            p.push('/');
            p.push_str(&String::from_utf8_lossy(c));
        }
        if p.is_empty() { "/".to_owned() } else { p }
    }

    /// One entry, in go-getter's order: `..`, the size limit, then the directories it
    /// needs. Directories are done; anything else comes back to be written with
    /// [`Unpacker::write`] (zip opens the entry in between).
    pub fn begin(&mut self, e: Entry) -> Step<Option<Pending>> {
        crate::cleanup::checkpoint();
        let shown = lossy(&e.name);
        self.current = Some(shown.clone());
        // decompress_tar.go / decompress_zip.go: "Disallow parent traversal".
        if contains_dot_dot(&e.name) {
            let msg = format!("entry contains '..': {shown}");
            return Err(self.reject(
                Finding::error(Kind::UnsafeEntry, Cause::PathTraversal, shown)
                    .message(msg.clone())
                    .nomad_error(msg)
                    .hint("build the archive from inside the tree (`tar -C DIR …`) so no member name climbs out"),
            ));
        }
        // `fileSize += fileInfo.Size(); if fileSizeLimit > 0 && fileSize > fileSizeLimit`.
        self.nomad_size = self.nomad_size.wrapping_add(e.size);
        if let Some(limit) = self.req.limits.size {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            if self.nomad_size > limit {
                let msg = format!(
                    "{} archive larger than limit: {limit}",
                    self.container.name()
                );
                return Err(self.reject(
                    Finding::error(Kind::Artifact, Cause::SizeLimit, shown)
                        .message(format!(
                            "{msg} (the sizes declared so far reach {} bytes at this entry, directories and links included; client `artifact {{ decompression_size_limit }}`)",
                            self.nomad_size
                        ))
                        .nomad_error(msg),
                ));
            }
        }
        let comps = components(&e.name);
        self.caps(&e, &comps, &shown)?;
        if let Some(Err(no)) = self
            .space
            .as_mut()
            .map(|s| s.add(e.data, "the sizes the archive's headers declare so far"))
        {
            return Err(Halt::Fatal(ArchiveError::NoSpace(no)));
        }
        if e.name.first() == Some(&b'/') {
            self.absolute += 1;
            self.first_absolute.get_or_insert_with(|| shown.clone());
        }
        if let Body::Dir = e.body {
            self.mkdir_all(&comps, &shown)?;
            // go-getter never chmods a zip's directories: they stay as MkdirAll made them.
            if self.container == Container::Tar {
                self.dirs.insert(
                    comps.iter().map(|c| c.to_vec()).collect(),
                    (e.mode & 0o1777, e.mtime),
                );
            }
            return Ok(None);
        }
        self.wrote_non_dir = true;
        let task_path = self.task_path(&comps);
        if let Some((_, parents)) = comps.split_last() {
            match self.container {
                Container::Tar => self.tar_parent(parents, &shown)?,
                // decompress_zip.go: `os.MkdirAll(filepath.Dir(path), …)`, always.
                Container::Zip => self.mkdir_all(parents, &shown)?,
            }
        }
        Ok(Some(Pending {
            comps: comps.iter().map(|c| c.to_vec()).collect(),
            body: e.body,
            mode: e.mode,
            mtime: e.mtime,
            task_path,
            shown,
        }))
    }

    /// Our own caps, beyond go-getter's: each says what Nomad would do.
    fn caps(&mut self, e: &Entry, comps: &[&[u8]], shown: &str) -> Step {
        let safety = self.req.safety;
        let nomad = "Nomad itself would go on";
        let over = |this: &mut Self, msg: String| {
            Err(this.reject(
                Finding::error(Kind::UnsafeEntry, Cause::Limit, shown.to_owned()).message(msg),
            ))
        };
        if e.name.len() > safety.max_name_len {
            return over(
                self,
                format!(
                    "entry name is {} bytes long, over our cap of {} (--max-name-len); {nomad} (Go reads names up to 1 MiB)",
                    e.name.len(),
                    safety.max_name_len
                ),
            );
        }
        // Deeper than PATH_MAX allows is Nomad's own failure, reported as such later.
        if comps.len() > safety.max_depth && self.unnameable(comps).is_none() {
            return over(
                self,
                format!(
                    "entry is {} directories deep, over our cap of {} (--max-depth); {nomad}",
                    comps.len(),
                    safety.max_depth
                ),
            );
        }
        self.summary.entries += 1;
        PROGRESS.entries.fetch_add(1, Ordering::Relaxed);
        PROGRESS
            .read
            .store(self.pos.raw.load(Ordering::Relaxed), Ordering::Relaxed);
        if self.summary.entries > safety.max_entries {
            return over(
                self,
                format!(
                    "entry #{} is over our cap of {} entries (--max-entries); {nomad} up to its decompression_file_count_limit ({})",
                    self.summary.entries,
                    safety.max_entries,
                    self.req
                        .limits
                        .file_count
                        .map_or("off".to_owned(), |n| n.to_string())
                ),
            );
        }
        let total = self.written.saturating_add(e.data);
        if total > safety.max_unpacked_bytes {
            return Err(self.size_cap(shown, total));
        }
        Ok(())
    }

    fn size_cap(&mut self, shown: &str, total: u64) -> Halt {
        let cap = self.req.safety.max_unpacked_bytes;
        self.reject(
            Finding::error(Kind::UnsafeEntry, Cause::Limit, shown.to_owned()).message(format!(
                "unpacking `{shown}` would bring the unpacked size to {total} bytes, over our cap of {cap} (--max-unpacked-bytes); Nomad itself would go on up to its decompression_size_limit ({})",
                self.req.limits.size.map_or("off".to_owned(), |n| n.to_string())
            )),
        )
    }

    /// Write a non-directory entry: `copyReader`'s `OpenFile`, the copy, the mode and
    /// mtime; or, with `--extract tar`, the link.
    pub fn write(&mut self, p: Pending, data: &mut dyn Data) -> Step {
        let comps = refs(&p.comps);
        let Some((&last, parents)) = comps.split_last() else {
            return Err(self.path_error("open", &[], Errno::EISDIR, &p.shown));
        };
        self.collision(&p.task_path);
        if p.mode & 0o6000 != 0 {
            // client/allocrunner/taskrunner/getter/params.go: Umask = setuid|setgid.
            let (kind, who) = match self.req.mode {
                ExtractMode::Nomad => (Kind::Artifact, "Nomad strips"),
                ExtractMode::Tar => (Kind::UnsafeEntry, "we never create setuid files; stripped"),
            };
            self.summary.findings.push(
                Finding::warning(kind, Cause::Setuid, p.task_path.clone()).message(format!(
                    "mode {:04o}: {who} the setuid/setgid bits, the file is unpacked {:04o}",
                    p.mode,
                    p.mode & 0o1777
                )),
            );
        }
        let mode = p.mode & 0o1777;
        if let (Body::Symlink(t) | Body::HardLink(t), ExtractMode::Tar) = (&p.body, self.req.mode) {
            if t.contains(&0) {
                return Err(self.reject(
                    Finding::error(Kind::Artifact, Cause::UnpackFailure, p.shown.clone()).message(
                        "the entry's link target contains a NUL byte, which no path can hold",
                    ),
                ));
            }
        }
        match (&p.body, self.req.mode) {
            (Body::Symlink(target), ExtractMode::Tar) => {
                self.record_link(&p.task_path, target, false);
                for r in storeref::scan_all(target) {
                    self.summary
                        .store_refs
                        .entry(r)
                        .or_default()
                        .insert(p.task_path.clone());
                }
                return self.symlink(parents, last, target, &p.shown);
            }
            (Body::HardLink(target), ExtractMode::Tar) => {
                self.record_link(&p.task_path, target, true);
                return self.hard_link(parents, last, target, &p.shown);
            }
            (Body::Symlink(target), ExtractMode::Nomad) => {
                // decompress_zip.go copies the stored body (the target text);
                // decompress_tar.go a link header's empty body.
                let zip = self.container == Container::Zip;
                self.flattened(&p.task_path, target, false, zip);
            }
            (Body::HardLink(target), ExtractMode::Nomad) => {
                self.flattened(&p.task_path, target, true, false);
            }
            (special @ (Body::CharDev | Body::BlockDev | Body::Fifo), m) => {
                let what = match special {
                    Body::CharDev => "character device",
                    Body::BlockDev => "block device",
                    _ => "FIFO",
                };
                let f = match m {
                    ExtractMode::Nomad => Finding::warning(Kind::Artifact, Cause::Device, p.task_path.clone())
                        .message(format!("{what} becomes an empty file when Nomad extracts the artifact")),
                    ExtractMode::Tar => Finding::warning(Kind::UnsafeEntry, Cause::Device, p.task_path.clone())
                        .message(format!("{what} not created (tar mode never creates device nodes or FIFOs): unpacked as an empty file")),
                };
                self.summary.findings.push(f);
            }
            _ => {}
        }
        let file = self.open(&comps, mode, &p.shown, &p.task_path)?;
        let mut len = 0;
        let outcome = self.copy(&file, data, &p.shown, &mut len);
        // What was copied stays, as after go-getter's failed copy (v1.7; v1.8 removes
        // the file: either way the download has failed).
        self.sink.close(file, len, mode, p.mtime);
        outcome?;
        // A full disk (or another write error) stops the pass at once.
        if let Some((path, source)) = self.sink.failed() {
            return Err(Halt::Fatal(ArchiveError::write(
                self.req.dest,
                path,
                source,
            )));
        }
        for r in self.scanner.finish() {
            self.summary
                .store_refs
                .entry(r)
                .or_default()
                .insert(p.task_path.clone());
        }
        Ok(())
    }

    /// `io.Copy` into the file; `off` ends as its length.
    fn copy(&mut self, file: &S::File, data: &mut dyn Data, shown: &str, off: &mut u64) -> Step {
        self.scanner.reset();
        let cap = self.req.safety.max_unpacked_bytes;
        loop {
            let mut buf = self.sink.buffer();
            let chunk = match data.chunk(&mut buf) {
                Ok(c) => c,
                Err(e) => {
                    self.sink.recycle(buf);
                    return Err(self.stream_error(&e));
                }
            };
            let n = match chunk {
                Chunk::End => {
                    self.sink.recycle(buf);
                    return Ok(());
                }
                Chunk::Hole(n) => {
                    self.sink.recycle(buf);
                    // Zeros end any store path being read.
                    self.scanner.feed(&[0]);
                    n
                }
                Chunk::Data(n) => {
                    self.scanner.feed(&buf[..n]);
                    self.sink.write(file, *off, buf, n);
                    n as u64
                }
            };
            *off += n;
            self.written += n;
            self.summary.unpacked_bytes = self.written;
            if self.written > cap {
                return Err(self.size_cap(shown, self.written));
            }
        }
    }

    /// §6.5: Nomad unpacks over the built chroot, whose `chroot_env` files are hard links
    /// to (or copies of) host files; `O_TRUNC` on such a path rewrites the host's file.
    fn collision(&mut self, task_path: &str) {
        let hit = self.layers.iter().find_map(|l| {
            let rest = if l.dest == "/" {
                task_path.strip_prefix('/')
            } else {
                task_path.strip_prefix(l.dest.as_str()).and_then(|r| {
                    if r.is_empty() {
                        Some("")
                    } else {
                        r.strip_prefix('/')
                    }
                })
            }?;
            let host = if rest.is_empty() {
                l.src.clone()
            } else {
                l.src.join(rest)
            };
            let meta = std::fs::symlink_metadata(&host).ok()?;
            (!meta.is_dir()).then(|| (l.clone(), host))
        });
        if let Some((layer, host)) = hit {
            self.summary.findings.push(
                Finding::warning(Kind::Artifact, Cause::ChrootEnvCollision, task_path.to_owned())
                    .message(format!(
                        "`{task_path}` is also put in the task by chroot_env (`{}` → `{}`): Nomad unpacks artifacts over the built chroot and opens this path with O_TRUNC, writing through the chroot's hard link (or symlink) into the host's `{}`, or failing with `permission denied` / `read-only file system`",
                        layer.src.display(),
                        layer.dest,
                        host.display()
                    ))
                    .hint("unpack the bundle somewhere chroot_env does not cover (e.g. `destination = \"local/\"`), or remove the path from the client's chroot_env"),
            );
        }
    }

    /// `empty archive: <src>`: no entry but directories (go-getter's `done` never set).
    pub fn empty(&mut self) -> Halt {
        let msg = format!("empty archive: {GETTER_SRC}");
        let f = Finding::error(
            Kind::Artifact,
            Cause::EmptyArchive,
            self.req.source_name.to_owned(),
        )
        .message(format!(
            "`{}` holds no file (`{msg}`): Nomad fails the download",
            self.req.source_name
        ))
        .nomad_error(msg);
        self.reject(f)
    }

    /// go-getter's final pass over directory entries (modes, then times), the
    /// absolute-name note, and the result.
    pub fn finish(mut self, outcome: Step) -> Result<(ExtractSummary, S), ArchiveError> {
        self.current = None;
        if let Some((path, source)) = self.sink.settle() {
            return Err(ArchiveError::write(self.req.dest, path, source));
        }
        match outcome {
            Err(Halt::Fatal(e)) => return Err(e),
            Err(Halt::Rejected) => {}
            Ok(()) => {
                let mut dirs: Vec<_> = std::mem::take(&mut self.dirs).into_iter().collect();
                // Deepest first, so every directory is opened before its own (maybe
                // read-only) mode is applied and children stay reachable.
                dirs.sort_by(|a, b| b.0.cmp(&a.0));
                for (path, (mode, mtime)) in dirs {
                    let comps = refs(&path);
                    if let Err(e) = self.sink.finish_dir(&comps, mode, mtime) {
                        return Err(ArchiveError::Write {
                            path: self.task_path(&comps),
                            source: e.into(),
                        });
                    }
                }
            }
        }
        // With `destination = "/"` re-rooting changes nothing: no note.
        if self.absolute > 0 && self.req.dest_in_task != "/" {
            let first = self.first_absolute.take().unwrap_or_default();
            let dest = self.req.dest_in_task;
            let f = Finding::info(Kind::Artifact, Cause::AbsoluteName, first.clone()).message(format!(
                "{} entr{} with an absolute name (first: `{first}`): Nomad re-roots them under the destination `{dest}` (go-getter joins every name to it)",
                self.absolute,
                if self.absolute == 1 { "y" } else { "ies" }
            )).hint(format!(
                "they land under `{dest}`, not at their absolute paths; use `destination = \"/\"` for a /nix/store closure"
            ));
            self.summary.findings.push(f);
        }
        self.summary.unpacked_bytes = self.written;
        Ok((self.summary, self.sink))
    }
}
