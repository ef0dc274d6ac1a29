//! The per-entry policy shared by the tar and zip readers: go-getter's rules
//! (`hashicorp/go-getter:decompress_tar.go` `untar`, `decompress_zip.go`), our caps, and
//! the writes through [`super::dest`].

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

use super::dest::{self, Dest, Existing, WalkError};
use super::storeref::{self, StoreRefScanner};
use super::writer::{self, Writers};
use super::{ArchiveError, ArchiveKind, ExtractMode, ExtractRequest, ExtractSummary, LinkEntry};
use crate::finding::{Cause, Finding, Kind};
use crate::taskdir::{Layer, LayerOrigin};

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
    /// Header mode, permission bits and setuid/setgid/sticky (type bits removed).
    pub mode: u32,
    /// Header mtime when `> 0` (go-getter ignores the others).
    pub mtime: Option<i64>,
    /// Header size: what go-getter adds to its running size total.
    pub size: u64,
}

/// Bytes consumed so far, for error messages: of the bundle file, and of the
/// decompressed stream.
#[derive(Clone, Default)]
pub struct Position {
    pub raw: Arc<AtomicU64>,
    pub unpacked: Arc<AtomicU64>,
}

const FLATTEN_HINT: &str = "store links as files: build the bundle with `tar -h --hard-dereference` (the example repo writes `tar cvzhP --hard-dereference`)";

pub struct Unpacker<'r> {
    pub req: &'r ExtractRequest<'r>,
    pub summary: ExtractSummary,
    /// `tar` or `zip`: go-getter's messages name the container.
    pub container: &'static str,
    pub pos: Position,
    dest: Dest,
    scanner: StoreRefScanner,
    writers: Writers,
    /// Directory entries: path → (mode, mtime); applied after all entries.
    dirs: HashMap<Vec<Vec<u8>>, (u32, Option<i64>)>,
    absolute: u64,
    first_absolute: Option<String>,
    /// go-getter's `done`: a non-directory entry was unpacked.
    pub wrote_non_dir: bool,
    nomad_size: u64,
    written: u64,
    layers: Vec<Layer>,
    /// The entry being read, for error messages.
    pub current: Option<String>,
}

/// Read until `buf` is full or the entry ends.
fn fill(data: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match data.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn with<'a>(parents: &[&'a [u8]], last: &'a [u8]) -> Vec<&'a [u8]> {
    let mut all = parents.to_vec();
    all.push(last);
    all
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

impl<'r> Unpacker<'r> {
    pub fn new(
        req: &'r ExtractRequest<'r>,
        mut summary: ExtractSummary,
        kind: ArchiveKind,
    ) -> Result<Self, ArchiveError> {
        if summary.format.is_empty() {
            summary.format = super::sniff::format_name(kind).to_owned();
        }
        let dest = Dest::open(req.dest).map_err(|e| ArchiveError::Write {
            path: req.dest.display().to_string(),
            source: e.into(),
        })?;
        let layers = req
            .chroot_env
            .layers()
            .into_iter()
            .filter(|l| l.origin == LayerOrigin::ChrootEnv)
            .collect();
        Ok(Unpacker {
            req,
            summary,
            container: if kind == ArchiveKind::Zip {
                "zip"
            } else {
                "tar"
            },
            pos: Position::default(),
            dest,
            scanner: StoreRefScanner::new(),
            writers: Writers::new().map_err(|e| ArchiveError::Write {
                path: req.dest.display().to_string(),
                source: e,
            })?,
            dirs: HashMap::new(),
            absolute: 0,
            first_absolute: None,
            wrote_non_dir: false,
            nomad_size: 0,
            written: 0,
            layers,
            current: None,
        })
    }

    /// Record a rejection: the archive is refused and the pass stops.
    pub fn reject(&mut self, f: Finding) -> Halt {
        if self.summary.nomad_failure.is_none() {
            self.summary.nomad_failure = f.nomad_error.clone();
        }
        self.summary.findings.push(f);
        self.summary.rejected = true;
        Halt::Rejected
    }

    /// A read error of the archive stream: corrupt or truncated input.
    pub fn corrupt(&mut self, err: &std::io::Error) -> Halt {
        let raw = self.pos.raw.load(Ordering::Relaxed);
        let unpacked = self.pos.unpacked.load(Ordering::Relaxed);
        let (path, within) = match &self.current {
            Some(n) => (n.clone(), format!(" in entry `{n}`")),
            None => (
                self.req.source_name.to_owned(),
                " between entries".to_owned(),
            ),
        };
        let truncated = err.kind() == std::io::ErrorKind::UnexpectedEof;
        let what = if truncated {
            "truncated archive"
        } else {
            "corrupt archive"
        };
        let mut f = Finding::error(Kind::UnsafeEntry, Cause::Corrupt, path).message(format!(
            "{what}: {err}, having read {raw} bytes of `{}` and unpacked {unpacked} bytes of its {} stream{within}",
            self.req.source_name, self.container
        ));
        // What Go's readers return for the same input (io.ErrUnexpectedEOF, tar.ErrHeader).
        if truncated {
            f = f.nomad_error("unexpected EOF");
        } else if err.to_string().contains("checksum") && self.container == "tar" {
            f = f.nomad_error("archive/tar: invalid tar header");
        }
        self.reject(f)
    }

    fn fatal(&self, path: &str, e: impl Into<std::io::Error>) -> Halt {
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

    /// One entry, in go-getter's order: `..`, size limit, then unpack.
    pub fn entry(&mut self, e: Entry, data: &mut dyn Read) -> Step {
        crate::cleanup::checkpoint();
        let shown = lossy(&e.name);
        self.current = Some(shown.clone());
        let mode_name = |m: ExtractMode| match m {
            ExtractMode::Nomad => "Nomad",
            ExtractMode::Tar => "tar mode",
        };
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
        let safety = self.req.safety;
        if e.name.len() > safety.max_name_len {
            return Err(self.reject(
                Finding::error(Kind::UnsafeEntry, Cause::Limit, shown.clone()).message(format!(
                    "entry name is {} bytes long, over the cap of {} (--max-name-len)",
                    e.name.len(),
                    safety.max_name_len
                )),
            ));
        }
        let comps = components(&e.name);
        if comps.len() > safety.max_depth {
            return Err(self.reject(
                Finding::error(Kind::UnsafeEntry, Cause::Limit, shown.clone()).message(format!(
                    "entry is {} directories deep, over the cap of {} (--max-depth)",
                    comps.len(),
                    safety.max_depth
                )),
            ));
        }
        self.summary.entries += 1;
        if self.summary.entries > safety.max_entries {
            return Err(self.reject(
                Finding::error(Kind::UnsafeEntry, Cause::Limit, shown.clone()).message(format!(
                    "entry #{} is over the cap of {} entries (--max-entries)",
                    self.summary.entries, safety.max_entries
                )),
            ));
        }
        // `fileSize += fileInfo.Size(); if fileSizeLimit > 0 && fileSize > fileSizeLimit`.
        if let Some(limit) = self.req.limits.size {
            self.nomad_size = self.nomad_size.saturating_add(e.size);
            if self.nomad_size > limit {
                let msg = format!("{} archive larger than limit: {limit}", self.container);
                return Err(self.reject(
                    Finding::error(Kind::Artifact, Cause::SizeLimit, shown)
                        .message(format!(
                            "{msg} (the declared sizes reach {} bytes at this entry; client `artifact {{ decompression_size_limit }}`)",
                            self.nomad_size
                        ))
                        .nomad_error(msg),
                ));
            }
        }
        if self.written.saturating_add(e.size) > safety.max_unpacked_bytes {
            return Err(self.size_cap(&shown, self.written.saturating_add(e.size)));
        }
        // Only zip names (tar names end at a NUL) and link targets can hold a NUL byte;
        // Go's `os.OpenFile`/`MkdirAll` refuse such a path with EINVAL.
        let link_nul = match &e.body {
            Body::Symlink(t) | Body::HardLink(t) => {
                self.req.mode == ExtractMode::Tar && t.contains(&0)
            }
            _ => false,
        };
        if e.name.contains(&0) || link_nul {
            let what = if link_nul { "link target" } else { "name" };
            let msg = format!("open {}: invalid argument", self.req.dest_in_task);
            return Err(self.reject(
                Finding::error(Kind::Artifact, Cause::UnpackFailure, shown.clone())
                    .message(format!(
                        "the entry's {what} contains a NUL byte, which no path can hold: Nomad fails the download (`{msg}`)"
                    ))
                    .nomad_error(msg),
            ));
        }
        if e.name.first() == Some(&b'/') {
            self.absolute += 1;
            self.first_absolute.get_or_insert_with(|| shown.clone());
        }
        let task_path = self.task_path(&comps);

        if let Body::Dir = e.body {
            self.mkdir_all(&comps, &shown)?;
            self.dirs.insert(
                comps.iter().map(|c| c.to_vec()).collect(),
                (e.mode & 0o1777, e.mtime),
            );
            return Ok(());
        }
        self.wrote_non_dir = true;
        let Some((&last, parents)) = comps.split_last() else {
            let msg = format!("open {}: is a directory", self.req.dest_in_task);
            return Err(self.reject(
                Finding::error(Kind::Artifact, Cause::UnpackFailure, shown)
                    .message(format!(
                        "a non-directory entry names the destination itself; Nomad fails with `{msg}`"
                    ))
                    .nomad_error(msg),
            ));
        };
        self.collision(&task_path);
        if e.mode & 0o6000 != 0 {
            // client/allocrunner/taskrunner/getter/params.go: Umask = setuid|setgid.
            let (kind, who) = match self.req.mode {
                ExtractMode::Nomad => (Kind::Artifact, "Nomad strips"),
                ExtractMode::Tar => (Kind::UnsafeEntry, "we never create setuid files; stripped"),
            };
            self.summary.findings.push(
                Finding::warning(kind, Cause::Setuid, task_path.clone()).message(format!(
                    "mode {:04o}: {who} the setuid/setgid bits, the file is unpacked {:04o}",
                    e.mode,
                    e.mode & 0o1777
                )),
            );
        }
        let mode = e.mode & 0o1777;
        let hard_link = matches!(e.body, Body::HardLink(_));
        match (e.body, self.req.mode) {
            (Body::File, _) => {
                self.write_file(parents, last, mode, e.mtime, data, &task_path, &shown)
            }
            (Body::Symlink(target), ExtractMode::Nomad) if self.container == "zip" => {
                // decompress_zip.go copies the stored body, which is the target text.
                self.flattened(&task_path, &target, false, true);
                self.write_file(parents, last, mode, e.mtime, data, &task_path, &shown)
            }
            // decompress_tar.go copies a link header's empty body: an empty regular file.
            (Body::Symlink(target), ExtractMode::Nomad)
            | (Body::HardLink(target), ExtractMode::Nomad) => {
                self.flattened(&task_path, &target, hard_link, false);
                self.write_file(
                    parents,
                    last,
                    mode,
                    e.mtime,
                    &mut std::io::empty(),
                    &task_path,
                    &shown,
                )
            }
            (Body::Symlink(target), ExtractMode::Tar) => {
                self.record_link(&task_path, &target, false);
                for r in storeref::scan_all(&target) {
                    self.summary
                        .store_refs
                        .entry(r)
                        .or_default()
                        .insert(task_path.clone());
                }
                self.symlink(parents, last, &target, &shown)
            }
            (Body::HardLink(target), ExtractMode::Tar) => {
                self.record_link(&task_path, &target, true);
                self.hard_link(parents, last, &target, &shown)
            }
            (special @ (Body::CharDev | Body::BlockDev | Body::Fifo), m) => {
                let what = match special {
                    Body::CharDev => "character device",
                    Body::BlockDev => "block device",
                    _ => "FIFO",
                };
                let f = match m {
                    ExtractMode::Nomad => Finding::warning(Kind::Artifact, Cause::Device, task_path.clone())
                        .message(format!("{what} becomes an empty file when Nomad extracts the artifact")),
                    ExtractMode::Tar => Finding::warning(Kind::UnsafeEntry, Cause::Device, task_path.clone())
                        .message(format!("{what} not created ({} never creates device nodes or FIFOs): unpacked as an empty file", mode_name(m))),
                };
                self.summary.findings.push(f);
                self.write_file(
                    parents,
                    last,
                    mode,
                    e.mtime,
                    &mut std::io::empty(),
                    &task_path,
                    &shown,
                )
            }
            (Body::Dir, _) => Ok(()),
        }
    }

    fn size_cap(&mut self, shown: &str, total: u64) -> Halt {
        let cap = self.req.safety.max_unpacked_bytes;
        self.reject(
            Finding::error(Kind::UnsafeEntry, Cause::Limit, shown.to_owned()).message(format!(
                "unpacking `{shown}` would bring the unpacked size to {total} bytes, over the cap of {cap} (--max-unpacked-bytes)"
            )),
        )
    }

    fn record_link(&mut self, task_path: &str, target: &[u8], hard: bool) {
        self.summary.links.insert(
            task_path.to_owned(),
            LinkEntry {
                task_path: task_path.to_owned(),
                target: lossy(target),
                hard,
            },
        );
    }

    fn flattened(&mut self, task_path: &str, target: &[u8], hard: bool, zip: bool) {
        self.record_link(task_path, target, hard);
        let t = lossy(target);
        let msg = match (hard, zip) {
            (true, _) => {
                format!("hard link to `{t}` becomes an empty file when Nomad extracts the artifact")
            }
            (false, false) => {
                format!("symlink to `{t}` becomes an empty file when Nomad extracts the artifact")
            }
            (false, true) => format!(
                "symlink to `{t}` becomes a regular file containing the text `{t}` when Nomad extracts the artifact"
            ),
        };
        self.summary.findings.push(
            Finding::warning(Kind::Artifact, Cause::FlattenedLink, task_path.to_owned())
                .message(msg)
                .hint(FLATTEN_HINT),
        );
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

    fn walk_failure(&mut self, err: WalkError, comps: &[&[u8]], shown: &str) -> Halt {
        match err {
            WalkError::Symlink(i) => {
                let at = self.task_path(&comps[..=i]);
                self.reject(
                    Finding::error(Kind::UnsafeEntry, Cause::LinkEscape, shown.to_owned()).message(format!(
                        "`{shown}` would be written through the symlink at `{at}`; links are never followed while unpacking"
                    )),
                )
            }
            WalkError::NotDir(i) => {
                let at = self.task_path(&comps[..=i]);
                let full = self.task_path(comps);
                let msg = format!("open {full}: not a directory");
                self.reject(
                    Finding::error(Kind::Artifact, Cause::UnpackFailure, shown.to_owned())
                        .message(format!(
                            "`{at}` is a file (an earlier entry, perhaps a flattened link), so `{full}` cannot be created: Nomad fails the download with `{msg}`"
                        ))
                        .nomad_error(msg)
                        .hint(FLATTEN_HINT),
                )
            }
            WalkError::Io(i, Errno::ENAMETOOLONG) => {
                let at = self.task_path(&comps[..=i]);
                self.name_too_long(&at, shown, "mkdir")
            }
            WalkError::Io(i, e) => {
                let at = self.task_path(&comps[..=i]);
                self.fatal(&at, e)
            }
        }
    }

    fn mkdir_all(&mut self, comps: &[&[u8]], shown: &str) -> Step {
        match self.dest.dir(comps, true) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.walk_failure(e, comps, shown)),
        }
    }

    fn parent(
        &mut self,
        parents: &[&[u8]],
        last: &[u8],
        shown: &str,
    ) -> Step<std::os::fd::OwnedFd> {
        match self.dest.dir(parents, true) {
            Ok(fd) => fd.try_clone_to_owned().map_err(|e| self.fatal(shown, e)),
            Err(e) => Err(self.walk_failure(e, &with(parents, last), shown)),
        }
    }

    fn create_failure(&mut self, e: Errno, parents: &[&[u8]], last: &[u8], shown: &str) -> Halt {
        let mut all = parents.to_vec();
        all.push(last);
        let full = self.task_path(&all);
        match e {
            Errno::ELOOP => self.reject(
                Finding::error(Kind::UnsafeEntry, Cause::LinkEscape, shown.to_owned()).message(
                    format!(
                        "`{full}` is already a symlink: Nomad would write through it; we refuse to"
                    ),
                ),
            ),
            Errno::EISDIR | Errno::ENOTEMPTY | Errno::EEXIST => {
                let msg = format!("open {full}: is a directory");
                self.reject(
                    Finding::error(Kind::Artifact, Cause::UnpackFailure, shown.to_owned())
                        .message(format!(
                            "`{full}` is a directory (an earlier entry) and this entry is not: Nomad fails the download with `{msg}`"
                        ))
                        .nomad_error(msg),
                )
            }
            Errno::ENAMETOOLONG => self.name_too_long(&full, shown, "open"),
            e => self.fatal(&full, e),
        }
    }

    /// A component over `NAME_MAX` (255 bytes), or a link target over `PATH_MAX`: the
    /// bundle's fault, and Nomad's download fails the same way.
    fn name_too_long(&mut self, at: &str, shown: &str, call: &str) -> Halt {
        let msg = format!("{call} {at}: file name too long");
        self.reject(
            Finding::error(Kind::Artifact, Cause::UnpackFailure, shown.to_owned())
                .message(format!(
                    "a name in `{shown}` is longer than Linux allows (255 bytes a component, 4095 a link target): Nomad fails the download with `{msg}`"
                ))
                .nomad_error(msg),
        )
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the entry split into parts, so `self` stays borrowable while `data` is read"
    )]
    fn write_file(
        &mut self,
        parents: &[&[u8]],
        last: &[u8],
        mode: u32,
        mtime: Option<i64>,
        data: &mut dyn Read,
        task_path: &str,
        shown: &str,
    ) -> Step {
        let existing = match self.req.mode {
            ExtractMode::Nomad => Existing::Truncate,
            ExtractMode::Tar => Existing::Replace,
        };
        let writers = &mut self.writers;
        let created = self.dest.dir(parents, true).map(|dir| {
            match dest::create_file(dir, last, mode, Existing::Fail) {
                // The path was unpacked before: let its queued writes land first.
                Err(Errno::EEXIST) => {
                    writers.flush();
                    dest::create_file(dir, last, mode, existing)
                }
                r => r,
            }
        });
        let file = match created {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return Err(self.create_failure(e, parents, last, shown)),
            Err(e) => return Err(self.walk_failure(e, &with(parents, last), shown)),
        };
        let file = Arc::new(file);
        let path: Arc<str> = Arc::from(task_path);
        let slot = self.writers.slot();
        self.scanner.reset();
        let cap = self.req.safety.max_unpacked_bytes;
        let mut off = 0u64;
        let outcome: Step = loop {
            let mut buf = self.writers.block();
            let n = match fill(data, &mut buf) {
                Ok(0) => {
                    self.writers.give_back(buf);
                    break Ok(());
                }
                Ok(n) => n,
                Err(e) => {
                    self.writers.give_back(buf);
                    break Err(self.corrupt(&e));
                }
            };
            self.written += n as u64;
            if self.written > cap {
                self.writers.give_back(buf);
                break Err(self.size_cap(shown, self.written));
            }
            self.scanner.feed(&buf[..n]);
            self.writers.write(slot, &file, off, buf, n, &path);
            off += n as u64;
            if n < writer::BLOCK {
                break Ok(());
            }
        };
        self.writers.finish(slot, file, mode, mtime, path);
        outcome?;
        if let Some((p, e)) = self.writers.failure() {
            return Err(self.fatal(&p, e));
        }
        self.summary.unpacked_bytes = self.written;
        for r in self.scanner.finish() {
            self.summary
                .store_refs
                .entry(r)
                .or_default()
                .insert(task_path.to_owned());
        }
        Ok(())
    }

    fn symlink(&mut self, parents: &[&[u8]], last: &[u8], target: &[u8], shown: &str) -> Step {
        if target.is_empty() {
            // symlink(2) refuses an empty target with ENOENT; GNU tar reports it, skips
            // the entry and exits 2 at the end.
            let full = self.task_path(&with(parents, last));
            self.summary.findings.push(
                Finding::error(Kind::Artifact, Cause::UnpackFailure, shown.to_owned())
                    .message(format!(
                        "the symlink `{full}` has an empty target: `tar xf` cannot create it \
                         (symlink: No such file or directory), skips it and fails"
                    ))
                    .hint("give the link a target, or leave it out of the archive"),
            );
            return Ok(());
        }
        let made = self
            .dest
            .dir(parents, true)
            .map(|dir| dest::symlink(dir, last, target));
        match made {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.create_failure(e, parents, last, shown)),
            Err(e) => Err(self.walk_failure(e, &with(parents, last), shown)),
        }
    }

    /// GNU tar: a hard link names an earlier member; its target is resolved inside the
    /// destination only, never through a symlink.
    fn hard_link(&mut self, parents: &[&[u8]], last: &[u8], target: &[u8], shown: &str) -> Step {
        let t = lossy(target);
        let tcomps = components(target);
        let escape = |why: String| {
            Finding::error(Kind::UnsafeEntry, Cause::LinkEscape, shown.to_owned()).message(why)
        };
        if contains_dot_dot(target) {
            return Err(self.reject(escape(format!(
                "hard link target `{t}` contains `..`: it could point outside the destination"
            ))));
        }
        let Some((&tlast, tparents)) = tcomps.split_last() else {
            return Err(self.reject(escape(format!("hard link target `{t}` is not a file"))));
        };
        let tdir = match self.dest.dir(tparents, false) {
            Ok(fd) => fd.try_clone_to_owned().map_err(|e| self.fatal(shown, e))?,
            Err(WalkError::Symlink(i)) => {
                let at = self.task_path(&tcomps[..=i]);
                return Err(self.reject(escape(format!(
                    "hard link target `{t}` lies behind the symlink `{at}`; links are never followed while unpacking"
                ))));
            }
            Err(_) => {
                return Err(self.reject(escape(format!(
                    "hard link target `{t}` is not an earlier entry of the archive"
                ))));
            }
        };
        let dir = self.parent(parents, last, shown)?;
        match dest::hard_link(tdir.as_fd(), tlast, dir.as_fd(), last) {
            Ok(()) => Ok(()),
            Err(Errno::ENOENT) => Err(self.reject(escape(format!(
                "hard link target `{t}` is not an earlier entry of the archive"
            )))),
            // linkat(2) on a directory (GNU tar: "Cannot hard link to `a`: Operation
            // not permitted"): the bundle's fault, not the work dir's.
            Err(Errno::EPERM) => Err(self.reject(
                Finding::error(Kind::UnsafeEntry, Cause::UnpackFailure, shown.to_owned()).message(
                    format!(
                        "hard link target `{t}` is a directory; a hard link cannot name a directory"
                    ),
                ),
            )),
            Err(e) => Err(self.create_failure(e, parents, last, shown)),
        }
    }

    /// go-getter's final pass over directory entries (modes, then times), the
    /// absolute-name note, and the result.
    pub fn finish(mut self, outcome: Step) -> Result<ExtractSummary, ArchiveError> {
        self.current = None;
        self.writers.flush();
        if let Some((path, source)) = self.writers.failure() {
            return Err(ArchiveError::Write { path, source });
        }
        match outcome {
            Err(Halt::Fatal(e)) => return Err(e),
            Err(Halt::Rejected) => {}
            Ok(()) => {
                let mut dirs: Vec<_> = std::mem::take(&mut self.dirs).into_iter().collect();
                // Deepest first, so every directory is opened before its own (maybe
                // read-only) mode is applied and children stay reachable.
                dirs.sort_by(|a, b| b.0.cmp(&a.0));
                self.dest.forget();
                for (path, (mode, mtime)) in dirs {
                    let comps: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
                    let shown = self.task_path(&comps);
                    let Ok(fd) = self.dest.dir(&comps, false) else {
                        // Replaced by a link or file later in the archive (tar mode).
                        continue;
                    };
                    if let Err(e) = dest::finish_dir(fd, mode, mtime) {
                        return Err(ArchiveError::Write {
                            path: shown,
                            source: e.into(),
                        });
                    }
                }
            }
        }
        if self.absolute > 0 {
            let first = self.first_absolute.take().unwrap_or_default();
            let dest = self.req.dest_in_task;
            let mut f = Finding::info(Kind::Artifact, Cause::AbsoluteName, first.clone()).message(format!(
                "{} entr{} with an absolute name (first: `{first}`): Nomad re-roots them under the destination `{dest}` (go-getter joins every name to it)",
                self.absolute,
                if self.absolute == 1 { "y" } else { "ies" }
            ));
            if dest != "/" {
                f = f.hint(format!(
                    "they land under `{dest}`, not at their absolute paths; use `destination = \"/\"` for a /nix/store closure"
                ));
            }
            self.summary.findings.push(f);
        }
        self.summary.unpacked_bytes = self.written;
        Ok(self.summary)
    }
}
