//! Unpack a bundle exactly as Nomad's `artifact` block would (go-getter v1's `untar` and
//! `Decompress` for zip), into a directory we own, in one streaming pass.
//!
//! The stages, each in its own module:
//! - [`sniff`]: the decompressor go-getter picks by name, and what the bytes are;
//! - [`decode`], [`gotar`], [`gozip`]: the bytes as Go's readers see them (entries,
//!   names, sizes, modes, sparse files, and which bytes are an error, with Go's text);
//! - [`untar`], [`unzip`]: go-getter's loops over them (file count, skipped headers);
//! - [`unpack`]: the decision for each entry (`..`, the size limit, go-getter's
//!   `MkdirAll`/`Stat`/`OpenFile` and where the kernel refuses them on a client, our
//!   caps, the findings);
//! - [`sink`]: carrying the decisions out on disk ([`dest`] for paths, [`writer`] for
//!   sparse writes on a pool of threads), with the free space watched by [`space`];
//!   or in memory ([`model`]: the tree's metadata and bounded captures of its files,
//!   what a static check reads, with nothing written).
//!
//! While each file streams to disk its bytes are scanned for Nix store references
//! ([`storeref`]). `tests/gogetter.rs` replays a corpus of archives against what the real
//! go-getter did with them.
//!
//! # Security
//! Stricter than Nomad: nothing is written outside `req.dest`. Every write goes through
//! directory handles opened without following links ([`dest`]), so neither names,
//! links (from the archive or already present) nor a concurrent rename can redirect it.
//! No device node, FIFO or setuid file is ever created, and our own caps
//! ([`SafetyLimits`]) hold even when Nomad's limits are off. The destination is a fresh
//! directory in a work dir we created, so no other process is expected to race us; the
//! handles make a race harmless anyway. Runs of zeros cost no disk, and an archive that
//! will not fit stops before it fills the work dir's filesystem.

mod decode;
mod dest;
mod gotar;
mod gozip;
pub mod model;
mod pipe;
mod sink;
pub mod sniff;
mod space;
pub mod storeref;
mod unpack;
mod untar;
mod unzip;
mod writer;

pub use space::{NoSpace, human as human_size};
pub use unpack::{PROGRESS, Progress};

/// go-getter's copy of the download, which its messages name (`$TMPDIR/getterNNN/archive`,
/// and Nomad sets TMPDIR to the task's `tmp/`), as the task would see it.
pub const GETTER_SRC: &str = "/tmp/getter*/archive";

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use crate::config::{ArtifactLimits, SafetyLimits};
use crate::error::ExitCode;
use crate::finding::{Cause, Finding, Kind};
use crate::nomad::NomadVersion;
use crate::taskdir::ChrootEnv;

/// The decompressors go-getter knows (`hashicorp/go-getter:decompress.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    Tar,
    TarGz,
    TarBz2,
    TarXz,
    TarZst,
    Zip,
}

impl FromStr for ArchiveKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "tar" => ArchiveKind::Tar,
            "tar.gz" | "tgz" => ArchiveKind::TarGz,
            "tar.bz2" | "tbz2" => ArchiveKind::TarBz2,
            "tar.xz" | "txz" => ArchiveKind::TarXz,
            "tar.zst" | "tzst" => ArchiveKind::TarZst,
            "zip" => ArchiveKind::Zip,
            other => {
                return Err(format!(
                    "unknown archive kind `{other}` (go-getter knows tar, tar.gz, tgz, tar.bz2, tbz2, tar.xz, txz, tar.zst, tzst, zip)"
                ));
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractMode {
    /// go-getter's rules: links and special files become empty regular files.
    Nomad,
    /// GNU tar's: links kept (never followed out of the destination).
    Tar,
}

/// One link entry of the archive (flattened by Nomad, kept by `--extract tar`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEntry {
    /// Path as the task sees it.
    pub task_path: String,
    /// The link's target as stored.
    pub target: String,
    pub hard: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ExtractSummary {
    pub format: String,
    pub detected_format: Option<String>,
    pub entries: u64,
    pub unpacked_bytes: u64,
    pub findings: Vec<Finding>,
    /// Nomad would refuse this artifact (the task never starts).
    pub rejected: bool,
    /// Link entries by task path.
    pub links: BTreeMap<String, LinkEntry>,
    /// `/nix/store/<hash>-<name>` → task paths of the files that mention it.
    pub store_refs: BTreeMap<String, BTreeSet<String>>,
    /// The error Nomad's download fails with (go-getter's text, paths as the task sees
    /// them); `None` when Nomad unpacks the artifact.
    pub nomad_failure: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct ExtractRequest<'a> {
    pub bundle: &'a Path,
    pub source_name: &'a str,
    pub archive: Option<ArchiveKind>,
    /// Host directory to unpack into (exists).
    pub dest: &'a Path,
    /// The same directory as the task sees it (`/local`, `/`).
    pub dest_in_task: &'a str,
    /// The same directory on a Nomad client (`<data_dir>/alloc/<id>/<task>/local`):
    /// go-getter joins every name to it, and the kernel refuses paths of PATH_MAX bytes.
    pub nomad_dest: &'a str,
    pub mode: ExtractMode,
    pub version: NomadVersion,
    pub limits: ArtifactLimits,
    pub safety: SafetyLimits,
    pub chroot_env: &'a ChrootEnv,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot open bundle `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write `{path}` in the work dir: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The work dir's filesystem cannot hold the unpacked tree.
    #[error("{0}")]
    NoSpace(NoSpace),
}

impl ArchiveError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ArchiveError::Open { .. } => ExitCode::Reject,
            ArchiveError::Write { .. } | ArchiveError::NoSpace(_) => ExitCode::Error,
        }
    }

    /// A write under `dest` that failed; running out of room says so and what to do.
    fn write(dest: &std::path::Path, path: String, source: std::io::Error) -> ArchiveError {
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => ArchiveError::NoSpace(NoSpace {
                needed: 0,
                free: space::Space::of(dest).map(|s| s.free()).unwrap_or(0),
                inodes: false,
                basis: "the disk filled up while writing",
                dir: dest.to_owned(),
            }),
            _ => ArchiveError::Write { path, source },
        }
    }
}

/// The decompressor go-getter would use for an artifact, or what its bytes are when
/// the name says none (as [`extract`] decides), for a size prediction.
pub fn kind_of(
    bundle: &Path,
    source_name: &str,
    archive: Option<ArchiveKind>,
    version: NomadVersion,
) -> Option<ArchiveKind> {
    use std::io::Read;
    if let sniff::Choice::Archive(k) = sniff::choose(source_name, archive, version) {
        return Some(k);
    }
    let mut head = Vec::new();
    std::fs::File::open(bundle)
        .ok()?
        .take(512)
        .read_to_end(&mut head)
        .ok()?;
    match sniff::detect(&head) {
        sniff::Detected::Archive(k) => Some(k),
        sniff::Detected::Unknown => None,
    }
}

/// What an archive says it unpacks to, for choosing where to unpack it: the figures
/// [`space`] trusts, and a gzip trailer's ISIZE (the last member's size modulo 4 GiB:
/// raised by 4 GiB steps to the least a deflate stream of this length can hold).
/// `None` when it does not say.
pub fn predicted_size(kind: ArchiveKind, bundle: &Path) -> Option<(u64, &'static str)> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(bundle).ok()?;
    match kind {
        ArchiveKind::TarGz => {
            let len = file.metadata().ok()?.len();
            let mut t = [0u8; 4];
            file.read_exact_at(&mut t, len.checked_sub(4)?).ok()?;
            let mut n = u64::from(u32::from_le_bytes(t));
            // Deflate stores incompressible data with 5 bytes a 64 KiB block.
            let least = len.saturating_sub(len / 10_000 + 64);
            while n < least {
                n += 1 << 32;
            }
            Some((n, "the gzip trailer"))
        }
        ArchiveKind::Zip => {
            let z = gozip::open(file).ok()?;
            let n = z
                .entries
                .iter()
                .fold(0u64, |t, e| t.saturating_add(e.size().max(0) as u64));
            Some((n, "the zip's central directory"))
        }
        _ => space::declared_size(kind, &file),
    }
}

/// Unpack one artifact into `req.dest`. Problems with the bundle are findings in the
/// summary (`rejected` when Nomad or we refuse it); `Err` only when we cannot read the
/// bundle or write the work dir.
pub fn extract(req: &ExtractRequest<'_>) -> Result<ExtractSummary, ArchiveError> {
    extract_capped(req, None)
}

/// [`extract`], with at most `room` bytes of the destination's filesystem to fill (a
/// share of a tmpfs other programs use too).
pub fn extract_capped(
    req: &ExtractRequest<'_>,
    room: Option<u64>,
) -> Result<ExtractSummary, ArchiveError> {
    let dest_err = |e: std::io::Error| ArchiveError::Write {
        path: req.dest.display().to_string(),
        source: e,
    };
    let room_cap = room;
    let space = |bytes: Option<(u64, &'static str)>| -> Result<Option<space::Space>, ArchiveError> {
        let mut room = space::Space::of(req.dest).map_err(dest_err)?;
        if let Some(cap) = room_cap {
            room.cap(cap);
        }
        if let Some((bytes, basis)) = bytes {
            room.expect(bytes, basis).map_err(ArchiveError::NoSpace)?;
        }
        Ok(Some(room))
    };
    extract_with(
        req,
        space,
        |_| sink::Disk::open(req.dest).map_err(dest_err),
        |_| (),
    )
}

/// [`extract`] into the directory `dest` of an in-memory [`model::Tree`], as its next
/// artifact (nothing is written). `target`: a read-back ([`model::Tree::read_back`]),
/// whose result lands in `got`.
pub fn extract_model(
    req: &ExtractRequest<'_>,
    tree: &mut model::Tree,
    dest: &[Vec<u8>],
    target: Option<(u32, model::file::Want)>,
    got: &mut Option<model::file::ReadBack>,
) -> Result<ExtractSummary, ArchiveError> {
    let source = tree.sources.len();
    let reading_back = target.is_some();
    let summary = extract_with(
        req,
        |_| Ok(None),
        |_| {
            model::sink::Memory::new(tree, dest, source, target).map_err(|e| ArchiveError::Write {
                path: req.dest.display().to_string(),
                source: e,
            })
        },
        |m: model::sink::Memory<'_>| *got = m.got,
    )?;
    if !reading_back {
        tree.sources
            .push((model::Source::Archive(OwnedRequest::of(req)), dest.to_vec()));
    }
    Ok(summary)
}

/// An [`ExtractRequest`] that owns its parts, to unpack the same artifact again.
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    bundle: std::path::PathBuf,
    source_name: String,
    archive: Option<ArchiveKind>,
    dest: std::path::PathBuf,
    dest_in_task: String,
    nomad_dest: String,
    mode: ExtractMode,
    version: NomadVersion,
    limits: ArtifactLimits,
    safety: SafetyLimits,
    chroot_env: ChrootEnv,
}

impl OwnedRequest {
    fn of(r: &ExtractRequest<'_>) -> OwnedRequest {
        OwnedRequest {
            bundle: r.bundle.to_owned(),
            source_name: r.source_name.to_owned(),
            archive: r.archive,
            dest: r.dest.to_owned(),
            dest_in_task: r.dest_in_task.to_owned(),
            nomad_dest: r.nomad_dest.to_owned(),
            mode: r.mode,
            version: r.version,
            limits: r.limits,
            safety: r.safety,
            chroot_env: r.chroot_env.clone(),
        }
    }

    pub fn borrow(&self) -> ExtractRequest<'_> {
        ExtractRequest {
            bundle: &self.bundle,
            source_name: &self.source_name,
            archive: self.archive,
            dest: &self.dest,
            dest_in_task: &self.dest_in_task,
            nomad_dest: &self.nomad_dest,
            mode: self.mode,
            version: self.version,
            limits: self.limits,
            safety: self.safety,
            chroot_env: &self.chroot_env,
        }
    }
}

/// The one pass, into whichever sink: `space` watches the room the sink has (given
/// what the archive declares, before any entry), `done` gets the sink back.
fn extract_with<S: sink::Sink>(
    req: &ExtractRequest<'_>,
    space: impl FnOnce(Option<(u64, &'static str)>) -> Result<Option<space::Space>, ArchiveError>,
    make_sink: impl FnOnce(()) -> Result<S, ArchiveError>,
    done: impl FnOnce(S),
) -> Result<ExtractSummary, ArchiveError> {
    use std::os::unix::fs::FileExt;

    let open_err = |source| ArchiveError::Open {
        path: req.bundle.display().to_string(),
        source,
    };
    let file = std::fs::File::open(req.bundle).map_err(open_err)?;
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match file.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(open_err(e)),
        }
    }
    let choice = sniff::choose(req.source_name, req.archive, req.version);
    let detected = sniff::detect(&head[..got]);
    let mut summary = ExtractSummary::default();
    let Some(kind) = decide(req, choice, detected, &mut summary)? else {
        summary.rejected = true;
        return Ok(summary);
    };
    // What the archive says it holds, against the room we have, before any of it. Past
    // Nomad's own size limit Nomad refuses it, which its headers show first.
    let over_limit = |bytes: u64| req.limits.size.is_some_and(|l| bytes > l);
    let declared = space::declared_size(kind, &file).filter(|(b, _)| !over_limit(*b));
    let room = space(declared)?;
    let sink = make_sink(())?;
    let container = match kind {
        ArchiveKind::Zip => unpack::Container::Zip,
        _ => unpack::Container::Tar,
    };
    let mut u = unpack::Unpacker::new(req, summary, container, sink, room);
    let outcome = match kind {
        ArchiveKind::Zip => unzip::run(&mut u, file),
        _ => untar::run(&mut u, file, kind),
    };
    let (summary, sink) = u.finish(outcome)?;
    done(sink);
    Ok(summary)
}

/// What go-getter's decompressor for `kind` says when it opens the bundle and reads its
/// first entry: `None` when it can (then it unpacks it, whatever the bytes looked like).
fn nomad_open_failure(
    req: &ExtractRequest<'_>,
    kind: ArchiveKind,
) -> Result<Option<String>, ArchiveError> {
    let file = std::fs::File::open(req.bundle).map_err(|source| ArchiveError::Open {
        path: req.bundle.display().to_string(),
        source,
    })?;
    Ok(match kind {
        ArchiveKind::Zip => gozip::open(file).err().map(|e| e.0),
        _ => match decode::open(kind, file, Default::default()) {
            Err(e) => Some(format!(
                "{}{}",
                e.prefix.replace("{src}", GETTER_SRC),
                e.error
            )),
            Ok(r) => gotar::Reader::new(r).next().err().map(|e| e.to_string()),
        },
    })
}

/// Compare what go-getter would do (by name) with what the bytes are; record the
/// difference and return the format to unpack with, or `None` when there is nothing we
/// can unpack.
fn decide(
    req: &ExtractRequest<'_>,
    choice: sniff::Choice,
    detected: sniff::Detected,
    summary: &mut ExtractSummary,
) -> Result<Option<ArchiveKind>, ArchiveError> {
    use sniff::{Choice, Detected};
    let name = req.source_name;
    let base = name.rsplit('/').next().unwrap_or(name);
    summary.format = match choice {
        Choice::Archive(k) => sniff::format_name(k).to_owned(),
        Choice::SingleFile(ext) => format!("{ext} (single file, not unpacked)"),
        Choice::None => "file (not unpacked)".to_owned(),
    };
    let rename_hint = |d: ArchiveKind| {
        format!(
            "name the bundle `*.{}` or set `options {{ archive = \"{}\" }}` in the artifact block",
            sniff::key_of(d),
            sniff::key_of(d)
        )
    };
    let nomad = req.mode == ExtractMode::Nomad;
    let fails = |summary: &mut ExtractSummary, text: &str| {
        if nomad && summary.nomad_failure.is_none() {
            summary.nomad_failure = Some(text.to_owned());
        }
    };
    if let Choice::Archive(k) = choice {
        if detected == Detected::Archive(k) {
            return Ok(Some(k));
        }
        let Some(text) = nomad_open_failure(req, k)? else {
            // go-getter's reader takes the bytes: Nomad unpacks them that way.
            return Ok(Some(k));
        };
        fails(summary, &text);
        return Ok(match detected {
            Detected::Archive(d) => {
                summary.detected_format = Some(sniff::format_name(d).to_owned());
                summary.findings.push(
                    Finding::error(Kind::Artifact, Cause::ExtensionMismatch, base)
                        .message(format!(
                            "go-getter picks its `{}` decompressor for `{base}` but the content is {}: Nomad fails the download with `{text}`; checked as {} anyway",
                            sniff::key_of(k),
                            sniff::format_name(d),
                            sniff::format_name(d)
                        ))
                        .nomad_error(text)
                        .hint(rename_hint(d)),
                );
                Some(d)
            }
            Detected::Unknown => {
                let content = Content::of(req);
                summary.detected_format = Some(content.name().to_owned());
                let what = format!(
                    "`{base}` is not a gzip, bzip2, xz, zstd, zip or tar archive: {}",
                    content.describe()
                );
                summary.findings.push(
                    Finding::error(Kind::UnsafeEntry, Cause::Format, base)
                        .message(format!("{what}: Nomad fails the download with `{text}`"))
                        .nomad_error(text),
                );
                None
            }
        });
    }
    let what = match choice {
        Choice::SingleFile(ext) => {
            // decompress_gzip.go & co: `if dir { return fmt.Errorf("gzip-compressed files
            // can only unarchive to a single file") }`, and an artifact's default mode
            // `any` unpacks into a directory.
            let text = format!(
                "{}-compressed files can only unarchive to a single file",
                sniff::single_file_format(ext)
            );
            fails(summary, &text);
            format!(
                "go-getter's `{ext}` decompressor cannot unpack `{base}` into the destination directory: with the artifact's default `mode = \"any\"` Nomad fails the download with `{text}` (`mode = \"file\"` would decompress it to one file)"
            )
        }
        _ => format!(
            "`{base}` has no suffix go-getter knows for Nomad {} (tar.gz, tgz, tar.bz2, tbz2, tar.xz, txz, zip{}), so Nomad saves it as one file and does not unpack it",
            req.version,
            if req.version.getter_knows_plain_tar_and_zstd() {
                ", tar, tar.zst, tzst"
            } else {
                ""
            }
        ),
    };
    let failure = summary.nomad_failure.clone();
    Ok(match detected {
        Detected::Archive(d) => {
            summary.detected_format = Some(sniff::format_name(d).to_owned());
            let mut f = Finding::error(Kind::Artifact, Cause::ExtensionMismatch, base)
                .message(format!(
                    "{what}; the content is {}, checked as such",
                    sniff::format_name(d)
                ))
                .hint(rename_hint(d));
            if let Some(t) = failure {
                f = f.nomad_error(t);
            }
            summary.findings.push(f);
            Some(d)
        }
        Detected::Unknown => {
            let content = Content::of(req);
            summary.detected_format = Some(content.name().to_owned());
            let mut f = Finding::error(Kind::UnsafeEntry, Cause::Format, base).message(format!(
                "{what}; its content is not an archive either: {}",
                content.describe()
            ));
            if let Some(t) = failure {
                f = f.nomad_error(t);
            }
            summary.findings.push(f);
            None
        }
    })
}

/// Save an artifact as go-getter does when it does not unpack it: a file into `dest`
/// as `name` (mode 0644), or, for an empty `name`, the tree of the directory `src` (a
/// git checkout: files, directories and symlinks as they are, `.git` included, as the
/// git getter's `git clone` leaves it). Returns (entries, bytes).
pub fn place_as_is(src: &Path, dest: &Path, name: &str) -> Result<(u64, u64), ArchiveError> {
    use std::os::unix::fs::PermissionsExt as _;
    let write = |p: &Path, e: std::io::Error| ArchiveError::Write {
        path: p.display().to_string(),
        source: e,
    };
    if !name.is_empty() {
        let to = dest.join(name);
        let n = std::fs::copy(src, &to).map_err(|e| write(&to, e))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| write(&to, e))?;
        return Ok((1, n));
    }
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut stack = vec![(src.to_owned(), dest.to_owned())];
    while let Some((from, to)) = stack.pop() {
        let rd = std::fs::read_dir(&from).map_err(|e| ArchiveError::Open {
            path: from.display().to_string(),
            source: e,
        })?;
        for e in rd {
            let e = e.map_err(|e| write(&from, e))?;
            let (f, t) = (e.path(), to.join(e.file_name()));
            let meta = std::fs::symlink_metadata(&f).map_err(|e| write(&f, e))?;
            entries += 1;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&f).map_err(|e| write(&f, e))?;
                std::os::unix::fs::symlink(target, &t).map_err(|e| write(&t, e))?;
            } else if meta.is_dir() {
                std::fs::create_dir_all(&t).map_err(|e| write(&t, e))?;
                stack.push((f, t));
            } else if meta.is_file() {
                bytes += std::fs::copy(&f, &t).map_err(|e| write(&t, e))?;
            }
        }
    }
    Ok((entries, bytes))
}

/// [`place_as_is`] into an in-memory tree: the nodes stand for the host files, which
/// are read where they are.
pub fn place_as_is_model(
    src: &Path,
    tree: &mut model::Tree,
    dest: &[Vec<u8>],
    name: &str,
) -> Result<(u64, u64), ArchiveError> {
    use model::{FileData, Kind, Node, Origin};
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::MetadataExt as _;
    let read = |p: &Path, e: std::io::Error| ArchiveError::Open {
        path: p.display().to_string(),
        source: e,
    };
    let comps: Vec<&[u8]> = dest.iter().map(Vec::as_slice).collect();
    let Some(base) = tree.lookup(&comps) else {
        return Err(read(src, std::io::ErrorKind::NotFound.into()));
    };
    let host_file = |p: &Path, size: u64, mode: u32| Node {
        kind: Kind::File(std::sync::Arc::new(FileData {
            size,
            head: Vec::new(),
            elf: model::ElfState::NoMagic,
            content: None,
            origin: Origin::Host(p.to_owned()),
        })),
        mode,
        mtime: None,
    };
    if !name.is_empty() {
        let size = std::fs::metadata(src).map_err(|e| read(src, e))?.len();
        let id = tree.add(host_file(src, size, 0o644));
        tree.link(base, name.as_bytes(), id);
        tree.sources.push((
            model::Source::Copy {
                src: src.to_owned(),
                dest: dest.to_vec(),
                name: name.to_owned(),
            },
            dest.to_vec(),
        ));
        return Ok((1, size));
    }
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut stack = vec![(src.to_owned(), base)];
    while let Some((from, to)) = stack.pop() {
        let rd = std::fs::read_dir(&from).map_err(|e| read(&from, e))?;
        for e in rd {
            let e = e.map_err(|e| read(&from, e))?;
            let f = e.path();
            let meta = std::fs::symlink_metadata(&f).map_err(|e| read(&f, e))?;
            entries += 1;
            let node = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&f).map_err(|e| read(&f, e))?;
                Node {
                    kind: Kind::Symlink(target.as_os_str().as_bytes().into()),
                    mode: 0o777,
                    mtime: None,
                }
            } else if meta.is_dir() {
                Node {
                    kind: Kind::Dir(Default::default()),
                    mode: 0o777 & !tree.umask,
                    mtime: None,
                }
            } else if meta.is_file() {
                bytes += meta.len();
                host_file(&f, meta.len(), meta.mode() & 0o7777)
            } else {
                continue;
            };
            let is_dir = node.is_dir();
            let id = tree.add(node);
            tree.link(to, e.file_name().as_bytes(), id);
            if is_dir {
                stack.push((f, id));
            }
        }
    }
    tree.sources.push((
        model::Source::Copy {
            src: src.to_owned(),
            dest: dest.to_vec(),
            name: String::new(),
        },
        dest.to_vec(),
    ));
    Ok((entries, bytes))
}

/// What a file that is no archive holds, as a person would say it.
enum Content {
    Empty,
    Text(String),
    Data(Vec<u8>),
}

impl Content {
    fn of(req: &ExtractRequest<'_>) -> Content {
        use std::io::Read;
        let mut v = Vec::new();
        if let Ok(f) = std::fs::File::open(req.bundle) {
            let _ = f.take(512).read_to_end(&mut v);
        }
        if v.is_empty() {
            return Content::Empty;
        }
        match std::str::from_utf8(&v) {
            Ok(t) if !t.contains('\0') => {
                Content::Text(t.lines().next().unwrap_or("").chars().take(60).collect())
            }
            _ => Content::Data(v.into_iter().take(8).collect()),
        }
    }

    /// `bundle.detected_format`.
    fn name(&self) -> &'static str {
        match self {
            Content::Empty => "empty",
            Content::Text(_) => "text",
            Content::Data(_) => "data",
        }
    }

    fn describe(&self) -> String {
        match self {
            Content::Empty => "the file is empty (0 bytes)".into(),
            Content::Text(first) => format!("it is text, starting {first:?}"),
            Content::Data(b) => format!("unknown data (first bytes {b:02x?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_no_space_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let e = ArchiveError::write(
            dir.path(),
            "/local/a".into(),
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert_eq!(e.exit_code(), ExitCode::Error);
        let msg = e.to_string();
        assert!(
            msg.contains("filled up while the bundle was unpacked") && msg.contains("TMPDIR="),
            "{msg}"
        );
        let e = ArchiveError::write(
            dir.path(),
            "/local/a".into(),
            std::io::Error::from_raw_os_error(libc::EIO),
        );
        assert!(matches!(e, ArchiveError::Write { .. }));
    }
}
