//! The tar formats: decompress, read headers, hand each entry to the [`Unpacker`].
//!
//! Mirrors the loop of `hashicorp/go-getter:decompress_tar.go` `untar` (v1.7.0–1.8.6,
//! the releases Nomad 1.5–2.0 vendor): the file counter is incremented and checked
//! *before* every `Next()`, the final one that returns EOF included, so an archive of
//! N ≥ `decompression_file_count_limit` entries fails with `N_limit+1 > N_limit`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ArchiveKind;
use super::unpack::{Body, Entry, Halt, Step, Unpacker, lossy};
use crate::finding::{Cause, Finding, Kind};

const READ_BUF: usize = 1 << 20;

/// Counts the bytes that pass, for offsets in error messages.
struct Counted<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The most memory the xz decoder may use; more is reported as a corrupt archive.
const XZ_MEMORY_LIMIT: u64 = 256 << 20;

fn decoder(file: File, kind: ArchiveKind, raw: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    let buffered = BufReader::with_capacity(
        READ_BUF,
        Counted {
            inner: file,
            n: raw,
        },
    );
    // Go's readers accept concatenated streams (gzip.Reader is multistream by default).
    Ok(match kind {
        ArchiveKind::Tar => Box::new(buffered),
        ArchiveKind::TarGz => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        ArchiveKind::TarBz2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buffered)),
        ArchiveKind::TarXz => {
            // An xz header may ask for a dictionary of up to 1.5 GiB, which the decoder
            // would allocate: cap it. `xz -9` needs 65 MiB, so real bundles pass; zstd's
            // own default window limit (128 MiB) does the same for zstd.
            let stream = liblzma::stream::Stream::new_stream_decoder(
                XZ_MEMORY_LIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(buffered, stream))
        }
        ArchiveKind::TarZst => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        ArchiveKind::Zip => unreachable!("zip is read by unzip"),
    })
}

pub fn run(u: &mut Unpacker<'_>, file: File, kind: ArchiveKind) -> Step {
    let stream: Box<dyn Read> = match decoder(file, kind, u.pos.raw.clone()) {
        Ok(d) if kind != ArchiveKind::Tar => match super::pipe::Pipelined::new(d) {
            Ok(p) => Box::new(p),
            Err(e) => return Err(u.corrupt(&e)),
        },
        Ok(d) => d,
        Err(e) => return Err(u.corrupt(&e)),
    };
    let mut archive = tar::Archive::new(Counted {
        inner: stream,
        n: u.pos.unpacked.clone(),
    });
    let mut entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => return Err(u.corrupt(&e)),
    };
    let file_limit = u.req.limits.file_count;
    let mut count: u64 = 0;
    loop {
        if let Some(limit) = file_limit {
            count += 1;
            if count > limit {
                let msg = format!("tar archive contains too many files: {count} > {limit}");
                return Err(u.reject(
                    Finding::error(
                        Kind::Artifact,
                        Cause::FileCountLimit,
                        u.req.source_name.to_owned(),
                    )
                        .message(format!(
                            "{msg}: go-getter counts every entry (directories too) and fails once an archive has {limit} or more (client `artifact {{ decompression_file_count_limit = {limit} }}`)"
                        ))
                        .nomad_error(msg)
                        .hint("raise `decompression_file_count_limit` in the client's `artifact` block, or ship fewer entries (e.g. a squashfs or a nested archive)"),
                ));
            }
        }
        let Some(next) = entries.next() else { break };
        let mut entry = match next {
            Ok(e) => e,
            Err(e) => {
                u.current = None;
                return Err(u.corrupt(&e));
            }
        };
        let header = entry.header();
        let raw_type = header.as_bytes()[156];
        let etype = header.entry_type();
        // `if hdr.Typeflag == tar.TypeXGlobalHeader || hdr.Typeflag == tar.TypeXHeader`.
        if etype.is_pax_global_extensions() || etype.is_pax_local_extensions() {
            continue;
        }
        let name = entry.path_bytes().into_owned();
        let mode_raw = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().ok().filter(|t| *t > 0).map(|t| t as i64);
        let size = header.size().unwrap_or(0);
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        // Go's `archive/tar`: a '\0' type with a trailing slash is a directory, and
        // `FileInfo().Mode()` also takes the type bits of the mode field.
        let mode_dir = mode_raw & 0o170000 == 0o040000;
        let body = match etype {
            tar::EntryType::Directory => Body::Dir,
            _ if raw_type == 0 && name.ends_with(b"/") => Body::Dir,
            _ if mode_dir => Body::Dir,
            tar::EntryType::Symlink => Body::Symlink(link.unwrap_or_default()),
            tar::EntryType::Link => Body::HardLink(link.unwrap_or_default()),
            tar::EntryType::Char => Body::CharDev,
            tar::EntryType::Block => Body::BlockDev,
            tar::EntryType::Fifo => Body::Fifo,
            _ => Body::File,
        };
        // Go's `archive/tar` reads no data for header-only types (`isHeaderOnlyType`)
        // whatever the size field says; tar-rs and GNU tar skip `size` bytes. The two
        // would then see different entries, so such an archive is refused.
        let header_only = matches!(
            etype,
            tar::EntryType::Link
                | tar::EntryType::Symlink
                | tar::EntryType::Char
                | tar::EntryType::Block
                | tar::EntryType::Directory
                | tar::EntryType::Fifo
        );
        if header_only && size > 0 {
            let shown = lossy(&name);
            return Err(u.reject(
                Finding::error(Kind::UnsafeEntry, Cause::Format, shown).message(format!(
                    "a {etype:?} entry declares {size} bytes of data: Go's archive/tar (Nomad) reads them as the next headers while GNU tar skips them, so the archive means different things to each"
                )),
            ));
        }
        if let Body::Symlink(t) | Body::HardLink(t) = &body {
            if t.len() > u.req.safety.max_name_len {
                let shown = lossy(&name);
                return Err(u.reject(
                    Finding::error(Kind::UnsafeEntry, Cause::Limit, shown).message(format!(
                        "link target is {} bytes long, over the cap of {} (--max-name-len)",
                        t.len(),
                        u.req.safety.max_name_len
                    )),
                ));
            }
        }
        u.entry(
            Entry {
                name,
                body,
                mode: mode_raw & 0o7777,
                mtime,
                size,
            },
            &mut entry,
        )?;
    }
    u.current = None;
    if !u.wrote_non_dir {
        return Err(empty(u));
    }
    Ok(())
}

/// `empty archive: <src>`: no entry but directories (go-getter's `done` never set).
pub fn empty(u: &mut Unpacker<'_>) -> Halt {
    let msg = format!("empty archive: {}", u.req.source_name);
    u.reject(
        Finding::error(
            Kind::Artifact,
            Cause::EmptyArchive,
            u.req.source_name.to_owned(),
        )
        .message(format!(
            "{msg}: the archive holds no file, so Nomad fails the download"
        ))
        .nomad_error(msg),
    )
}
