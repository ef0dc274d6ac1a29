//! The decompressors of go-getter's tar decompressors, failing where and as Go's
//! readers do (`hashicorp/go-getter:decompress_tgz.go`, `decompress_tbz2.go`,
//! `decompress_txz.go`, `decompress_tzst.go`): the work is done by zlib-rs, libbz2,
//! liblzma and libzstd; what is Go's here is when a problem shows and its text.
//!
//! - gzip (`compress/gzip`): the header is read when the reader is made, so a bad one
//!   fails as `Error opening a gzip reader for <src>: gzip: invalid header`; members
//!   follow each other; a trailer whose CRC-32 or size is wrong is
//!   `gzip: invalid checksum`, found only by a reader that reads past the last byte;
//! - xz (`ulikunitz/xz`): the 12-byte stream header is checked when the reader is made;
//! - bzip2 (`compress/bzip2`) and zstd (`klauspost/compress/zstd`) read nothing until
//!   the first read, whose errors are `bzip2 data invalid: bad magic value` and
//!   `invalid input: magic number mismatch`; an empty zstd stream is simply empty;
//! - a stream that ends early is `unexpected EOF` in every format.
//!
//! Every error comes out as an `io::Error` whose text is Go's.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ArchiveKind;

const READ_BUF: usize = 1 << 20;
/// The most memory the xz decoder may use; more is reported as a corrupt archive.
const XZ_MEMORY_LIMIT: u64 = 256 << 20;

pub const UNEXPECTED_EOF: &str = "unexpected EOF";

/// An error carrying Go's text.
pub fn go(kind: io::ErrorKind, text: impl Into<String>) -> io::Error {
    io::Error::new(kind, text.into())
}

fn eof() -> io::Error {
    go(io::ErrorKind::UnexpectedEof, UNEXPECTED_EOF)
}

fn data(text: impl Into<String>) -> io::Error {
    go(io::ErrorKind::InvalidData, text)
}

/// Why a decompressor could not be made.
#[derive(Debug)]
pub struct OpenError {
    /// go-getter's wording around the reader's error, `{src}` standing for its copy of
    /// the download (`Error opening a gzip reader for {src}: `), or empty.
    pub prefix: &'static str,
    pub error: String,
}

/// Counts the bytes that pass, for offsets in error messages.
pub struct Counted<R> {
    pub inner: R,
    pub n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Source = BufReader<Counted<File>>;

/// The tar stream inside `file`, as go-getter's decompressor for `kind` reads it.
pub fn open(
    kind: ArchiveKind,
    file: File,
    raw: Arc<AtomicU64>,
) -> Result<Box<dyn Read + Send>, OpenError> {
    let src: Source = BufReader::with_capacity(
        READ_BUF,
        Counted {
            inner: file,
            n: raw,
        },
    );
    let opening = |prefix: &'static str| {
        move |e: io::Error| OpenError {
            prefix,
            error: e.to_string(),
        }
    };
    Ok(match kind {
        ArchiveKind::Tar => Box::new(src),
        ArchiveKind::TarGz => {
            Box::new(Gzip::new(src).map_err(opening("Error opening a gzip reader for {src}: "))?)
        }
        ArchiveKind::TarBz2 => Box::new(Lazy::Bzip2(Some(src))),
        ArchiveKind::TarXz => {
            Box::new(xz(src).map_err(opening("Error opening an xz reader for {src}: "))?)
        }
        ArchiveKind::TarZst => Box::new(Lazy::Zstd(Some(src))),
        ArchiveKind::Zip => unreachable!("zip is read by gozip"),
    })
}

/// Read as much of `buf` as the stream has: `Ok(n < len)` only at its end.
pub fn fill(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------- raw decoders

/// One call into a decompression library: input bytes taken, output bytes made, and
/// whether its stream has ended (or its error, in Go's words).
struct Step {
    used: usize,
    made: usize,
    end: io::Result<bool>,
}

trait Engine {
    fn step(&mut self, input: &[u8], out: &mut [u8], eof: bool) -> Step;
}

/// A library's stream over a `BufRead`, stopping exactly at the end of the stream (what
/// follows is the caller's), and giving out the data it made before an error first, as
/// Go's readers do: the error comes with the next read, which a tar reader that has
/// reached its end-of-archive blocks never makes. An input that ends before the stream
/// does is `unexpected EOF`.
struct Raw<R, E> {
    r: R,
    e: E,
    done: bool,
    pending: Option<io::Error>,
}

impl<R: BufRead, E: Engine> Raw<R, E> {
    fn new(r: R, e: E) -> Raw<R, E> {
        Raw {
            r,
            e,
            done: false,
            pending: None,
        }
    }
}

impl<R: BufRead, E: Engine> Read for Raw<R, E> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        if self.done || out.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.r.fill_buf()?;
            let eof = input.is_empty();
            let Step { used, made, end } = self.e.step(input, out, eof);
            self.r.consume(used);
            match end {
                Ok(true) => {
                    self.done = true;
                    return Ok(made);
                }
                Ok(false) if made > 0 => return Ok(made),
                Ok(false) if eof => return Err(eof_error()),
                // Neither input taken nor output made: the library cannot go on.
                Ok(false) if used == 0 => return Err(data("corrupt input")),
                Ok(false) => {}
                Err(e) if made > 0 => {
                    self.pending = Some(e);
                    return Ok(made);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn eof_error() -> io::Error {
    eof()
}

// ---------------------------------------------------------------- deflate

struct Flate(flate2::Decompress);

impl Engine for Flate {
    fn step(&mut self, input: &[u8], out: &mut [u8], _eof: bool) -> Step {
        let (i, o) = (self.0.total_in(), self.0.total_out());
        let r = self.0.decompress(input, out, flate2::FlushDecompress::None);
        Step {
            used: (self.0.total_in() - i) as usize,
            made: (self.0.total_out() - o) as usize,
            // Go's `CorruptInputError(f.roffset)`: zlib stops after the same byte.
            end: r.map(|s| s == flate2::Status::StreamEnd).map_err(|_| {
                data(format!(
                    "flate: corrupt input before offset {}",
                    self.0.total_in()
                ))
            }),
        }
    }
}

/// Raw deflate (Go's `compress/flate`).
pub struct Inflate<R>(Raw<R, Flate>);

impl<R: BufRead> Inflate<R> {
    pub fn new(r: R) -> Inflate<R> {
        Inflate(Raw::new(r, Flate(flate2::Decompress::new(false))))
    }

    pub fn finished(&self) -> bool {
        self.0.done
    }

    fn reset(&mut self) {
        self.0.e.0.reset(false);
        self.0.done = false;
    }
}

impl<R: BufRead> Read for Inflate<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

// ---------------------------------------------------------------- gzip

/// Go's `gzip.Reader`, multistream.
pub struct Gzip<R> {
    inflate: Inflate<R>,
    crc: flate2::Crc,
    /// No more members.
    end: bool,
}

/// Go's `gzip.Reader.readHeader`.
fn gzip_header(r: &mut impl BufRead) -> io::Result<bool> {
    let mut h = [0u8; 10];
    match fill(r, &mut h)? {
        0 => return Ok(false),
        10 => {}
        _ => return Err(eof()),
    }
    let bad = || data("gzip: invalid header");
    if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
        return Err(bad());
    }
    let flags = h[3];
    let mut crc = flate2::Crc::new();
    crc.update(&h);
    let mut full = |r: &mut dyn BufRead, buf: &mut [u8]| -> io::Result<()> {
        if fill(r, buf)? < buf.len() {
            return Err(eof());
        }
        crc.update(buf);
        Ok(())
    };
    if flags & 0x04 != 0 {
        let mut len = [0u8; 2];
        full(r, &mut len)?;
        let mut extra = vec![0u8; u16::from_le_bytes(len) as usize];
        full(r, &mut extra)?;
    }
    // FNAME, then FCOMMENT: NUL-terminated, under 512 bytes (Go's `readString`).
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            let mut n = 0;
            loop {
                let mut b = [0u8; 1];
                full(r, &mut b)?;
                n += 1;
                if b[0] == 0 {
                    break;
                }
                if n >= 512 {
                    return Err(bad());
                }
            }
        }
    }
    if flags & 0x02 != 0 {
        let want = crc.sum() as u16;
        let mut b = [0u8; 2];
        if fill(r, &mut b)? < 2 {
            return Err(eof());
        }
        if u16::from_le_bytes(b) != want {
            return Err(bad());
        }
    }
    Ok(true)
}

impl<R: BufRead> Gzip<R> {
    /// Reads the first member's header (`gzip.NewReader`): an empty input is `EOF`.
    pub fn new(mut r: R) -> io::Result<Gzip<R>> {
        if !gzip_header(&mut r)? {
            return Err(go(io::ErrorKind::UnexpectedEof, "EOF"));
        }
        Ok(Gzip {
            inflate: Inflate::new(r),
            crc: flate2::Crc::new(),
            end: false,
        })
    }
}

impl<R: BufRead> Read for Gzip<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while !self.end {
            let n = self.inflate.read(out)?;
            self.crc.update(&out[..n]);
            if n > 0 {
                return Ok(n);
            }
            if !self.inflate.finished() {
                continue;
            }
            // The trailer, then another member or the end.
            let mut t = [0u8; 8];
            let r = &mut self.inflate.0.r;
            if fill(r, &mut t)? < 8 {
                return Err(eof());
            }
            let crc = u32::from_le_bytes(t[..4].try_into().unwrap());
            let size = u32::from_le_bytes(t[4..].try_into().unwrap());
            if crc != self.crc.sum() || size != self.crc.amount() {
                return Err(data("gzip: invalid checksum"));
            }
            self.crc.reset();
            if !gzip_header(r)? {
                self.end = true;
            } else {
                self.inflate.reset();
            }
        }
        Ok(0)
    }
}

// ---------------------------------------------------------------- xz

/// `ulikunitz/xz`'s `newStreamReader` header checks: `Ok(None)` at the end of the input
/// (only allowed between streams), padding (4 zero bytes) skipped.
fn xz_header(r: &mut impl Read, first: bool) -> io::Result<Option<[u8; 12]>> {
    let mut h = [0u8; 12];
    loop {
        match fill(r, &mut h[..4])? {
            0 if !first => return Ok(None),
            4 => {}
            _ => return Err(eof()),
        }
        if h[..4] != [0, 0, 0, 0] {
            break;
        }
        if first {
            return Err(data("xz: padding (4 zero bytes) encountered"));
        }
    }
    if fill(r, &mut h[4..])? < 8 {
        return Err(eof());
    }
    if h[..6] != [0xfd, b'7', b'z', b'X', b'Z', 0] {
        return Err(data("xz: invalid header magic bytes"));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&h[6..8]);
    if u32::from_le_bytes(h[8..12].try_into().unwrap()) != crc.sum() {
        return Err(data("xz: invalid checksum for file header"));
    }
    if h[6] != 0 || !matches!(h[7], 0x01 | 0x04 | 0x0a) {
        return Err(data("xz: invalid flags"));
    }
    Ok(Some(h))
}

/// A reader that gives back some bytes it was given before its source's.
struct Pushback<R> {
    front: io::Cursor<Vec<u8>>,
    inner: R,
}

impl<R: BufRead> Read for Pushback<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(out.len());
            out[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Pushback<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if (self.front.position() as usize) < self.front.get_ref().len() {
            let at = self.front.position() as usize;
            return Ok(&self.front.get_ref()[at..]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        let at = self.front.position() as usize;
        let left = self.front.get_ref().len() - at;
        if left > 0 {
            self.front.set_position((at + n.min(left)) as u64);
            self.inner.consume(n.saturating_sub(left));
        } else {
            self.inner.consume(n);
        }
    }
}

struct Lzma(liblzma::stream::Stream);

impl Engine for Lzma {
    fn step(&mut self, input: &[u8], out: &mut [u8], eof: bool) -> Step {
        use liblzma::stream::{Action, Status};
        let (i, o) = (self.0.total_in(), self.0.total_out());
        let action = if eof { Action::Finish } else { Action::Run };
        let r = self.0.process(input, out, action);
        Step {
            used: (self.0.total_in() - i) as usize,
            made: (self.0.total_out() - o) as usize,
            end: r
                .map(|s| s == Status::StreamEnd)
                .map_err(|e| data(format!("xz: {e}"))),
        }
    }
}

type Stream<E> = Raw<Pushback<Source>, E>;

/// Streams one after the other, as Go's xz and bzip2 readers walk them: when one ends,
/// `next` reads what follows it (the next stream's header, padding, the end) and starts
/// the next one, or says there is none. What follows the last stream is only read, and
/// maybe refused, when more data is asked for.
struct Streams<E> {
    stream: Option<Stream<E>>,
    between: Option<Pushback<Source>>,
    next: fn(Pushback<Source>) -> io::Result<Option<Stream<E>>>,
}

impl<E: Engine> Read for Streams<E> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(d) = self.stream.as_mut() {
                let n = d.read(out)?;
                if n > 0 {
                    return Ok(n);
                }
                self.between = self.stream.take().map(|d| d.r);
            }
            let Some(src) = self.between.take() else {
                return Ok(0);
            };
            match (self.next)(src)? {
                None => return Ok(0),
                s => self.stream = s,
            }
        }
    }
}

/// `ulikunitz/xz.Reader`: streams with padding between, each decoded by liblzma.
fn xz_stream(header: [u8; 12], src: Source) -> io::Result<Stream<Lzma>> {
    let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, 0)
        .map_err(|e| data(format!("xz: {e}")))?;
    let r = Pushback {
        front: io::Cursor::new(header.to_vec()),
        inner: src,
    };
    Ok(Raw::new(r, Lzma(stream)))
}

fn xz_next(mut src: Pushback<Source>) -> io::Result<Option<Stream<Lzma>>> {
    // The previous stream consumed its own header: only the source is left.
    match xz_header(&mut src, false)? {
        None => Ok(None),
        Some(h) => xz_stream(h, src.inner).map(Some),
    }
}

/// `xz.NewReader`: the first stream's header is checked up front.
fn xz(mut r: Source) -> io::Result<Streams<Lzma>> {
    let h = xz_header(&mut r, true)?.ok_or_else(eof)?;
    Ok(Streams {
        stream: Some(xz_stream(h, r)?),
        between: None,
        next: xz_next,
    })
}

// ---------------------------------------------------------------- bzip2

struct Bz(bzip2::Decompress);

impl Engine for Bz {
    fn step(&mut self, input: &[u8], out: &mut [u8], _eof: bool) -> Step {
        let (i, o) = (self.0.total_in(), self.0.total_out());
        let r = self.0.decompress(input, out);
        Step {
            used: (self.0.total_in() - i) as usize,
            made: (self.0.total_out() - o) as usize,
            end: r
                .map(|s| s == bzip2::Status::StreamEnd)
                .map_err(|e| data(format!("bzip2 data invalid: {e}"))),
        }
    }
}

/// `compress/bzip2`'s `setup`: `BZh` and a level; `Ok(None)` at the end of the input
/// between streams.
fn bzip2_magic(r: &mut impl Read, first: bool) -> io::Result<Option<[u8; 4]>> {
    let mut m = [0u8; 4];
    let got = fill(r, &mut m)?;
    let invalid = |why: &str| data(format!("bzip2 data invalid: {why}"));
    if got == 0 && !first {
        return Ok(None);
    }
    if !first && got >= 2 && m[..2] != *b"BZ" {
        return Err(invalid("bad magic value in continuation file"));
    }
    if got < 4 {
        return Err(eof());
    }
    if m[..2] != *b"BZ" {
        return Err(invalid("bad magic value"));
    }
    if m[2] != b'h' {
        return Err(invalid("non-Huffman entropy encoding"));
    }
    if !(b'1'..=b'9').contains(&m[3]) {
        return Err(invalid("invalid compression level"));
    }
    Ok(Some(m))
}

/// Go's `bzip2.Reader`: streams one after the other, each decoded by libbz2.
fn bz_stream(magic: [u8; 4], src: Source) -> Stream<Bz> {
    let r = Pushback {
        front: io::Cursor::new(magic.to_vec()),
        inner: src,
    };
    Raw::new(r, Bz(bzip2::Decompress::new(false)))
}

fn bz_next(mut src: Pushback<Source>) -> io::Result<Option<Stream<Bz>>> {
    Ok(bzip2_magic(&mut src, false)?.map(|m| bz_stream(m, src.inner)))
}

/// Gives a decoder's errors Go's texts: an early end is `unexpected EOF`.
struct Mapped<R> {
    inner: R,
    what: &'static str,
}

impl<R: Read> Read for Mapped<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.inner.read(out).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => eof(),
            io::ErrorKind::Interrupted => e,
            _ => data(format!("{}: {e}", self.what)),
        })
    }
}

// ---------------------------------------------------------------- bzip2 and zstd

/// A decompressor Go makes without reading: the first read checks the magic.
enum Lazy {
    Bzip2(Option<Source>),
    Zstd(Option<Source>),
    Started(Box<dyn Read + Send>),
    Empty,
}

impl Lazy {
    fn start(&mut self) -> io::Result<()> {
        let next: Lazy = match self {
            Lazy::Bzip2(src) => {
                let mut r = src.take().expect("started once");
                let m = bzip2_magic(&mut r, true)?.ok_or_else(eof)?;
                Lazy::Started(Box::new(Streams {
                    stream: Some(bz_stream(m, r)),
                    between: None,
                    next: bz_next,
                }))
            }
            Lazy::Zstd(src) => {
                let mut r = src.take().expect("started once");
                let mut m = [0u8; 4];
                match fill(&mut r, &mut m)? {
                    0 => Lazy::Empty,
                    1..=3 => return Err(eof()),
                    _ => {
                        let zstd = m == [0x28, 0xb5, 0x2f, 0xfd];
                        let skippable = m[1..] == [0x2a, 0x4d, 0x18] && m[0] & 0xf0 == 0x50;
                        if !zstd && !skippable {
                            return Err(data("invalid input: magic number mismatch"));
                        }
                        let inner = BufReader::new(io::Cursor::new(m).chain(r));
                        // Frame checksums are checked: a frame whose content does not
                        // match is refused even where Go's decoder, which reports it only
                        // to a reader that reads past the data, would let a tar through.
                        Lazy::Started(Box::new(Mapped {
                            inner: zstd::stream::read::Decoder::with_buffer(inner)?,
                            what: "zstd",
                        }))
                    }
                }
            }
            _ => return Ok(()),
        };
        *self = next;
        Ok(())
    }
}

impl Read for Lazy {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.start()?;
        match self {
            Lazy::Started(r) => r.read(out),
            _ => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn read_all(r: impl Read) -> Result<Vec<u8>, String> {
        let mut r = r;
        let mut v = Vec::new();
        r.read_to_end(&mut v).map(|_| v).map_err(|e| e.to_string())
    }

    #[test]
    fn gzip_members_trailers_and_truncation() {
        let mut two = gz(b"hello ");
        two.extend(gz(b"world"));
        let r = Gzip::new(io::Cursor::new(two)).unwrap();
        assert_eq!(read_all(r).unwrap(), b"hello world");

        let mut bad = gz(b"hello");
        let n = bad.len();
        bad[n - 8] ^= 1;
        let r = Gzip::new(io::Cursor::new(bad)).unwrap();
        assert_eq!(read_all(r).unwrap_err(), "gzip: invalid checksum");

        let cut = gz(&vec![7u8; 100_000]);
        let r = Gzip::new(io::Cursor::new(cut[..cut.len() / 2].to_vec())).unwrap();
        assert_eq!(read_all(r).unwrap_err(), "unexpected EOF");

        assert_eq!(
            Gzip::new(io::Cursor::new(Vec::new()))
                .err()
                .unwrap()
                .to_string(),
            "EOF"
        );
        assert_eq!(
            Gzip::new(io::Cursor::new(b"PK\x03\x04 not gzip".to_vec()))
                .err()
                .unwrap()
                .to_string(),
            "gzip: invalid header"
        );
        let mut garbage = gz(b"x");
        garbage.extend_from_slice(b"junk after the member");
        let r = Gzip::new(io::Cursor::new(garbage)).unwrap();
        assert_eq!(read_all(r).unwrap_err(), "gzip: invalid header");
    }
}
