//! The tar formats: decompress, read headers, hand each entry to the [`Unpacker`].
//!
//! `--extract nomad` mirrors the loop of `hashicorp/go-getter:decompress_tar.go` `untar`
//! (v1.7.0–1.8.6, the releases Nomad 1.5–2.0 vendor) over Go's reader ([`gotar`]): the
//! file counter is incremented and checked *before* every `Next()`, the final one that
//! returns EOF included, so an archive of N ≥ `decompression_file_count_limit` entries
//! fails with `N_limit+1 > N_limit`; PAX headers are skipped, global ones after being
//! counted. `--extract tar` reads as GNU tar does, with the tar crate.

use std::fs::File;
use std::io::{self, Read};

use super::decode::{self, Counted};
use super::gotar;
use super::sink::Sink;
use super::unpack::{Body, Chunk, Data, Entry, Plain, Step, Unpacker, lossy};
use super::{ArchiveKind, ExtractMode, GETTER_SRC};
use crate::finding::{Cause, Finding, Kind};

pub fn run<S: Sink>(u: &mut Unpacker<'_, S>, file: File, kind: ArchiveKind) -> Step {
    let stream: Box<dyn Read> = match decode::open(kind, file, u.pos.raw.clone()) {
        Err(e) => {
            let text = format!("{}{}", e.prefix.replace("{src}", GETTER_SRC), e.error);
            let truncated = e.error == decode::UNEXPECTED_EOF || e.error == "EOF";
            return Err(u.corrupt(&text, truncated));
        }
        // Decompression on a thread of its own, beside the writing.
        Ok(d) if kind != ArchiveKind::Tar => match super::pipe::Pipelined::new(d) {
            Ok(p) => Box::new(p),
            Err(e) => return Err(u.stream_error(&e)),
        },
        Ok(d) => d,
    };
    let stream = Counted {
        inner: stream,
        n: u.pos.unpacked.clone(),
    };
    match u.req.mode {
        ExtractMode::Nomad => run_go(u, stream),
        ExtractMode::Tar => run_gnu(u, stream),
    }
}

fn too_many<S: Sink>(u: &mut Unpacker<'_, S>, count: u64, limit: u64) -> super::unpack::Halt {
    let msg = format!("tar archive contains too many files: {count} > {limit}");
    u.reject(
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
    )
}

/// The current entry of Go's reader as entry data, in whole buffers where it can.
struct GoData<'a, R> {
    tr: &'a mut gotar::Reader<R>,
    /// What came after data that filled part of a buffer: given next time.
    next: Option<io::Result<Chunk>>,
}

impl<R: Read> Data for GoData<'_, R> {
    fn chunk(&mut self, buf: &mut [u8]) -> io::Result<Chunk> {
        if let Some(c) = self.next.take() {
            return c;
        }
        let mut n = 0;
        while n < buf.len() {
            let c = match self.tr.read(&mut buf[n..]) {
                Ok(gotar::Chunk::Data(k)) => {
                    n += k;
                    continue;
                }
                Ok(gotar::Chunk::Hole(h)) => Ok(Chunk::Hole(h)),
                Ok(gotar::Chunk::End) => Ok(Chunk::End),
                Err(e) => Err(tar_error(e)),
            };
            if n == 0 {
                return c;
            }
            self.next = Some(c);
            break;
        }
        Ok(Chunk::Data(n))
    }
}

fn tar_error(e: gotar::Error) -> io::Error {
    let kind = if e.is_truncation() {
        io::ErrorKind::UnexpectedEof
    } else {
        io::ErrorKind::InvalidData
    };
    decode::go(kind, e.to_string())
}

/// go-getter's `untar` over Go's reader.
fn run_go<S: Sink>(u: &mut Unpacker<'_, S>, stream: impl Read) -> Step {
    let mut tr = gotar::Reader::new(stream);
    let mut count: u64 = 0;
    loop {
        if let Some(limit) = u.req.limits.file_count {
            count += 1;
            if count > limit {
                return Err(too_many(u, count, limit));
            }
        }
        let h = match tr.next() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                u.current = None;
                let truncated = e.is_truncation();
                return Err(u.corrupt(&e, truncated));
            }
        };
        // `if hdr.Typeflag == tar.TypeXGlobalHeader || hdr.Typeflag == tar.TypeXHeader`.
        if h.typeflag == b'g' || h.typeflag == b'x' {
            continue;
        }
        let body = if h.is_dir() {
            Body::Dir
        } else {
            match h.typeflag {
                b'2' => Body::Symlink(h.link.clone()),
                b'1' => Body::HardLink(h.link.clone()),
                b'3' => Body::CharDev,
                b'4' => Body::BlockDev,
                b'6' => Body::Fifo,
                _ => Body::File,
            }
        };
        let entry = Entry {
            name: h.name,
            body,
            // `hdr.FileInfo().Mode()`: permission, setuid, setgid and sticky bits.
            mode: h.mode as u32 & 0o7777,
            // `if hdr.ModTime.Unix() > 0`.
            mtime: (h.mtime.sec > 0).then_some((h.mtime.sec, h.mtime.nsec)),
            size: h.size,
            data: tr.data_len(),
        };
        if let Some(p) = u.begin(entry)? {
            u.write(
                p,
                &mut GoData {
                    tr: &mut tr,
                    next: None,
                },
            )?;
        }
    }
    u.current = None;
    if !u.wrote_non_dir {
        return Err(u.empty());
    }
    Ok(())
}

/// GNU tar's reading, with the tar crate: links are kept.
fn run_gnu<S: Sink>(u: &mut Unpacker<'_, S>, stream: impl Read) -> Step {
    let mut archive = tar::Archive::new(stream);
    let mut entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => return Err(u.stream_error(&e)),
    };
    let file_limit = u.req.limits.file_count;
    let mut count: u64 = 0;
    loop {
        if let Some(limit) = file_limit {
            count += 1;
            if count > limit {
                return Err(too_many(u, count, limit));
            }
        }
        let Some(next) = entries.next() else { break };
        let mut entry = match next {
            Ok(e) => e,
            Err(e) => {
                u.current = None;
                let truncated = e.kind() == io::ErrorKind::UnexpectedEof;
                let text = if truncated {
                    decode::UNEXPECTED_EOF.to_owned()
                } else if e.to_string().contains("checksum") {
                    gotar::Error::Header.to_string()
                } else {
                    e.to_string()
                };
                return Err(u.corrupt(&text, truncated));
            }
        };
        let header = entry.header();
        let raw_type = header.as_bytes()[156];
        let etype = header.entry_type();
        if etype.is_pax_global_extensions() || etype.is_pax_local_extensions() {
            continue;
        }
        let name = entry.path_bytes().into_owned();
        let mode_raw = header.mode().unwrap_or(0o644);
        let mtime = header
            .mtime()
            .ok()
            .filter(|t| *t > 0)
            .map(|t| (t as i64, 0));
        let size = header.size().unwrap_or(0);
        let link = entry.link_name_bytes().map(|l| l.into_owned());
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
        // Go's `archive/tar` (Nomad) reads no data for header-only types whatever the
        // size field says; tar-rs and GNU tar skip `size` bytes. The two then see
        // different entries: flagged, since the archive means different things to each.
        let header_only = gotar::header_only(raw_type);
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
        let e = Entry {
            name,
            body,
            mode: mode_raw & 0o7777,
            mtime,
            size: size as i64,
            data: size,
        };
        if let Some(p) = u.begin(e)? {
            u.write(p, &mut Plain::new(&mut entry))?;
        }
    }
    u.current = None;
    if !u.wrote_non_dir {
        return Err(u.empty());
    }
    Ok(())
}
