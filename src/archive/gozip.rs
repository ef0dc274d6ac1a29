//! A zip reader that sees an archive exactly as Go's `archive/zip` does
//! (`zip.OpenReader`, `File.Open`), which is what go-getter's zip decompressor
//! (`hashicorp/go-getter:decompress_zip.go`) unpacks with.
//!
//! What that means, in Go's terms:
//! - the end record is searched in the last 1 KiB, then the last 65 KiB; a zip64
//!   locator before it is followed; entries come from the central directory (not the
//!   local headers), read until one does not parse, and their count must match the end
//!   record's modulo 2^16, else the last read error is the result;
//! - an archive with bytes before it (a self-extracting stub) is read with offsets
//!   relative to the central directory's real place, retried from 0 if that fails;
//! - only stored (0) and deflated (8) entries can be read; the local header's
//!   signature is checked when an entry is opened; the data must be exactly the
//!   central directory's uncompressed size and match its CRC-32 (a CRC of 0 is not
//!   checked unless there is a data descriptor, whose CRC must match too);
//! - modes come from the external attributes: Unix modes for Unix and macOS creators,
//!   MS-DOS attributes for FAT, NTFS and VFAT, nothing for other creators; a name
//!   ending in `/` is a directory.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// `zip: not a valid zip file`
pub const ERR_FORMAT: &str = "zip: not a valid zip file";
pub const ERR_ALGORITHM: &str = "zip: unsupported compression algorithm";
pub const ERR_CHECKSUM: &str = "zip: checksum error";

const END_LEN: usize = 22;
const DIR_HEADER_LEN: usize = 46;
const LOCAL_HEADER_LEN: usize = 30;

/// An error with Go's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(s: &str) -> Error {
    Error(s.to_owned())
}

/// Go's `io.EOF` and `io.ErrUnexpectedEOF` texts.
const EOF: &str = "EOF";
const UNEXPECTED_EOF: &str = "unexpected EOF";

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Vec<u8>,
    creator: u16,
    flags: u16,
    method: u16,
    crc32: u32,
    csize: u64,
    usize: u64,
    usize32: u32,
    external: u32,
    header_offset: i64,
}

/// A mode as Go's `FileHeader.Mode()` gives it: permission bits plus setuid, setgid,
/// sticky, and whether it is a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// `0o7777` bits.
    pub bits: u32,
    pub dir: bool,
    /// A Unix symlink (the stored body is its target).
    pub symlink: bool,
}

impl Entry {
    pub fn mode(&self) -> Mode {
        let mut m = match self.creator >> 8 {
            // creatorUnix, creatorMacOSX
            3 | 19 => {
                let u = self.external >> 16;
                Mode {
                    bits: u & 0o7777,
                    dir: u & 0o170000 == 0o040000,
                    symlink: u & 0o170000 == 0o120000,
                }
            }
            // creatorNTFS, creatorVFAT, creatorFAT
            11 | 14 | 0 => {
                let dir = self.external & 0x10 != 0;
                let mut bits = if dir { 0o777 } else { 0o666 };
                if self.external & 0x01 != 0 {
                    bits &= !0o222;
                }
                Mode {
                    bits,
                    dir,
                    symlink: false,
                }
            }
            _ => Mode {
                bits: 0,
                dir: false,
                symlink: false,
            },
        };
        if self.name.ends_with(b"/") {
            m.dir = true;
        }
        m
    }

    /// `FileInfo().Size()`, what go-getter adds to its running total.
    pub fn size(&self) -> i64 {
        if self.usize > 0 {
            self.usize as i64
        } else {
            self.usize32 as i64
        }
    }
}

pub struct Archive {
    file: File,
    size: u64,
    pub entries: Vec<Entry>,
}

/// `ReadAt` with Go's `os.File` semantics: fewer bytes than asked is `EOF`.
fn read_at(f: &File, buf: &mut [u8], off: i64) -> Result<(), Error> {
    if off < 0 {
        return Err(err("negative offset"));
    }
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], off as u64 + n as u64) {
            Ok(0) => return Err(err(EOF)),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error(e.to_string())),
        }
    }
    Ok(())
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

struct End {
    records: u64,
    dir_size: u64,
    dir_offset: u64,
}

/// `findSignatureInBlock`: the last end record whose comment fits.
fn find_end(b: &[u8]) -> Option<usize> {
    (0..=b.len().checked_sub(END_LEN)?).rev().find(|&i| {
        b[i..i + 4] == *b"PK\x05\x06" && {
            let n = u16le(b, i + END_LEN - 2) as usize;
            n + END_LEN + i <= b.len()
        }
    })
}

/// `readDirectoryEnd`: the end record (zip64 if it says so) and the base offset.
fn directory_end(f: &File, size: u64) -> Result<(End, i64), Error> {
    let mut found = None;
    for (i, len) in [1024u64, 65 * 1024].into_iter().enumerate() {
        let len = len.min(size);
        let mut buf = vec![0u8; len as usize];
        read_at(f, &mut buf, (size - len) as i64)?;
        if let Some(p) = find_end(&buf) {
            found = Some((buf[p..].to_vec(), (size - len) as i64 + p as i64));
            break;
        }
        if i == 1 || len == size {
            return Err(err(ERR_FORMAT));
        }
    }
    let (buf, mut end_offset) = found.ok_or_else(|| err(ERR_FORMAT))?;
    let mut end = End {
        records: u16le(&buf, 10) as u64,
        dir_size: u32le(&buf, 12) as u64,
        dir_offset: u32le(&buf, 16) as u64,
    };
    if end.records == 0xffff || end.dir_size == 0xffff || end.dir_offset == 0xffff_ffff {
        if let Some(p) = zip64_locator(f, end_offset)? {
            end_offset = p;
            let mut b = [0u8; 56];
            read_at(f, &mut b, p)?;
            if u32le(&b, 0) != 0x0606_4b50 {
                return Err(err(ERR_FORMAT));
            }
            end.records = u64le(&b, 32);
            end.dir_size = u64le(&b, 40);
            end.dir_offset = u64le(&b, 48);
        }
    }
    let base = end_offset
        .wrapping_sub(end.dir_size as i64)
        .wrapping_sub(end.dir_offset as i64);
    let o = base.wrapping_add(end.dir_offset as i64);
    if o < 0 || o as u64 >= size {
        return Err(err(ERR_FORMAT));
    }
    Ok((end, base))
}

/// `findDirectory64End`.
fn zip64_locator(f: &File, end_offset: i64) -> Result<Option<i64>, Error> {
    let at = end_offset - 20;
    if at < 0 {
        return Ok(None);
    }
    let mut b = [0u8; 20];
    read_at(f, &mut b, at)?;
    if u32le(&b, 0) != 0x0706_4b50 || u32le(&b, 4) != 0 || u32le(&b, 16) != 1 {
        return Ok(None);
    }
    Ok(Some(u64le(&b, 8) as i64))
}

/// Reads the central directory sequentially from an offset, like Go's `bufio.Reader`
/// over a `SectionReader`: short reads at the end of the file are `EOF` or
/// `unexpected EOF` as `io.ReadFull` says.
struct Cursor<'a> {
    f: &'a File,
    at: u64,
}

impl Cursor<'_> {
    fn read_full(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        let mut n = 0;
        while n < buf.len() {
            match self.f.read_at(&mut buf[n..], self.at) {
                Ok(0) => return Err(err(if n == 0 { EOF } else { UNEXPECTED_EOF })),
                Ok(k) => {
                    n += k;
                    self.at += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error(e.to_string())),
            }
        }
        Ok(())
    }
}

/// `readDirectoryHeader`.
fn directory_header(c: &mut Cursor<'_>) -> Result<Entry, Error> {
    let mut b = [0u8; DIR_HEADER_LEN];
    c.read_full(&mut b)?;
    if u32le(&b, 0) != 0x0201_4b50 {
        return Err(err(ERR_FORMAT));
    }
    let csize32 = u32le(&b, 20);
    let usize32 = u32le(&b, 24);
    let (name_len, extra_len, comment_len) = (
        u16le(&b, 28) as usize,
        u16le(&b, 30) as usize,
        u16le(&b, 32) as usize,
    );
    let mut e = Entry {
        name: Vec::new(),
        creator: u16le(&b, 4),
        flags: u16le(&b, 8),
        method: u16le(&b, 10),
        crc32: u32le(&b, 16),
        csize: csize32 as u64,
        usize: usize32 as u64,
        usize32,
        external: u32le(&b, 38),
        header_offset: u32le(&b, 42) as i64,
    };
    let mut d = vec![0u8; name_len + extra_len + comment_len];
    c.read_full(&mut d)?;
    e.name = d[..name_len].to_vec();
    let mut extra = &d[name_len..name_len + extra_len];
    let (mut need_u, mut need_c, mut need_off) = (
        usize32 == u32::MAX,
        csize32 == u32::MAX,
        e.header_offset == u32::MAX as i64,
    );
    while extra.len() >= 4 {
        let tag = u16le(extra, 0);
        let size = u16le(extra, 2) as usize;
        extra = &extra[4..];
        if extra.len() < size {
            break;
        }
        let mut field = &extra[..size];
        extra = &extra[size..];
        if tag != 0x0001 {
            continue;
        }
        let mut take = |need: &mut bool| -> Result<Option<u64>, Error> {
            if !*need {
                return Ok(None);
            }
            *need = false;
            if field.len() < 8 {
                return Err(err(ERR_FORMAT));
            }
            let v = u64le(field, 0);
            field = &field[8..];
            Ok(Some(v))
        };
        if let Some(v) = take(&mut need_u)? {
            e.usize = v;
        }
        if let Some(v) = take(&mut need_c)? {
            e.csize = v;
        }
        if let Some(v) = take(&mut need_off)? {
            e.header_offset = v as i64;
        }
    }
    if need_c || need_off {
        return Err(err(ERR_FORMAT));
    }
    Ok(e)
}

/// Go's `zip.OpenReader`.
pub fn open(file: File) -> Result<Archive, Error> {
    let size = file.metadata().map_err(|e| Error(e.to_string()))?.len();
    let (end, mut base) = directory_end(&file, size)?;
    let mut entries = Vec::new();
    let mut c = Cursor {
        f: &file,
        at: base.wrapping_add(end.dir_offset as i64) as u64,
    };
    let last = loop {
        match directory_header(&mut c) {
            Err(e) if e.0 == ERR_FORMAT && base != 0 && entries.is_empty() => {
                base = 0;
                c.at = end.dir_offset;
            }
            Err(e) if e.0 == ERR_FORMAT || e.0 == UNEXPECTED_EOF => break Some(e),
            Err(e) => return Err(e),
            Ok(mut e) => {
                e.header_offset = e.header_offset.wrapping_add(base);
                entries.push(e);
            }
        }
    };
    if entries.len() as u16 != end.records as u16 {
        return Err(last.unwrap_or_else(|| err(ERR_FORMAT)));
    }
    Ok(Archive {
        file,
        size,
        entries,
    })
}

/// The compressed bytes of one entry (`io.SectionReader`).
struct Section<'a> {
    f: &'a File,
    at: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.at) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.f.read_at(&mut buf[..want], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

enum Body<'a> {
    Stored(Section<'a>),
    Deflated(Box<super::decode::Inflate<io::BufReader<Section<'a>>>>),
}

/// An opened entry: its uncompressed bytes, checked as Go's `checksumReader` does.
pub struct EntryReader<'a> {
    body: Body<'a>,
    entry: &'a Entry,
    crc: flate2::Crc,
    read: u64,
    descriptor: Option<Section<'a>>,
    done: bool,
}

impl Archive {
    /// `File.Open`: the local header's signature, the method, the data.
    pub fn open_entry<'a>(&'a self, e: &'a Entry) -> Result<EntryReader<'a>, Error> {
        let mut h = [0u8; LOCAL_HEADER_LEN];
        read_at(&self.file, &mut h, e.header_offset)?;
        if u32le(&h, 0) != 0x0403_4b50 {
            return Err(err(ERR_FORMAT));
        }
        let body_off = LOCAL_HEADER_LEN as i64 + u16le(&h, 26) as i64 + u16le(&h, 28) as i64;
        let start = e.header_offset.wrapping_add(body_off) as u64;
        let end = start.saturating_add(e.csize).min(self.size.max(start));
        let section = Section {
            f: &self.file,
            at: start,
            end,
        };
        let body = match e.method {
            0 => Body::Stored(section),
            8 => Body::Deflated(Box::new(super::decode::Inflate::new(io::BufReader::new(
                section,
            )))),
            _ => return Err(err(ERR_ALGORITHM)),
        };
        let descriptor = (e.flags & 0x8 != 0).then(|| {
            let at = start.saturating_add(e.csize);
            Section {
                f: &self.file,
                at,
                end: at.saturating_add(16).min(self.size.max(at)),
            }
        });
        Ok(EntryReader {
            body,
            entry: e,
            crc: flate2::Crc::new(),
            read: 0,
            descriptor,
            done: false,
        })
    }
}

fn io_err(s: &str) -> io::Error {
    let kind = if s == UNEXPECTED_EOF {
        io::ErrorKind::UnexpectedEof
    } else {
        io::ErrorKind::InvalidData
    };
    io::Error::new(kind, s.to_owned())
}

impl EntryReader<'_> {
    /// `readDataDescriptor`: its CRC-32 must be the central directory's.
    fn descriptor_ok(&mut self) -> Result<(), &'static str> {
        let Some(d) = self.descriptor.as_mut() else {
            return Ok(());
        };
        let mut b = [0u8; 12];
        let mut full = |buf: &mut [u8]| -> Result<(), &'static str> {
            let mut n = 0;
            while n < buf.len() {
                match d.read(&mut buf[n..]) {
                    Ok(0) => return Err(UNEXPECTED_EOF),
                    Ok(k) => n += k,
                    Err(_) => return Err(UNEXPECTED_EOF),
                }
            }
            Ok(())
        };
        full(&mut b[..4])?;
        let off = if u32le(&b, 0) == 0x0807_4b50 { 0 } else { 4 };
        full(&mut b[off..12])?;
        // With its signature or without, the CRC-32 ends up first.
        if u32le(&b, 0) != self.entry.crc32 {
            return Err(ERR_CHECKSUM);
        }
        Ok(())
    }
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = match &mut self.body {
            Body::Stored(s) => s.read(buf)?,
            Body::Deflated(d) => d.read(buf)?,
        };
        self.crc.update(&buf[..n]);
        self.read += n as u64;
        if self.read > self.entry.usize {
            return Err(io_err(ERR_FORMAT));
        }
        if n > 0 {
            return Ok(n);
        }
        self.done = true;
        if self.read != self.entry.usize {
            return Err(io_err(UNEXPECTED_EOF));
        }
        if self.descriptor.is_some() {
            self.descriptor_ok().map_err(io_err)?;
            if self.crc.sum() != self.entry.crc32 {
                return Err(io_err(ERR_CHECKSUM));
            }
        } else if self.entry.crc32 != 0 && self.crc.sum() != self.entry.crc32 {
            return Err(io_err(ERR_CHECKSUM));
        }
        Ok(0)
    }
}
