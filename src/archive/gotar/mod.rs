//! A tar reader that sees an archive exactly as Go's `archive/tar` does, because
//! go-getter's `untar` (`hashicorp/go-getter:decompress_tar.go`) is a loop over Go's
//! `tar.Reader.Next()`: which entries exist, what their names, types, sizes, modes and
//! mtimes are, which data is theirs, and which bytes are an error (and with which text)
//! all follow from Go's reader, not from the tar format in general. GNU tar and the tar
//! crate disagree with it on purpose-built archives (a link header with a size field,
//! PAX sparse files, a zero block followed by more headers, …); Nomad goes with Go.
//!
//! The rules mirrored, each as Go applies them:
//! - a header is valid if its checksum (unsigned or signed byte sum) matches; the magic
//!   picks V7, USTAR/PAX, STAR or GNU; numeric fields are octal (spaces and NULs
//!   trimmed) or base-256; any unparsable field fails the archive;
//! - two zero blocks end the archive, so does the end of the stream at a header
//!   boundary or inside padding; a zero block followed by anything else is an error;
//! - PAX `x` records (path, linkpath, size, mtime, …) apply to the next entry, `g`
//!   headers are entries of their own, GNU `L`/`K` give long names; a special file
//!   over 1 MiB is refused;
//! - header-only types (hard link, symlink, devices, directory, FIFO) own no data
//!   whatever their size field says: what follows is the next header;
//! - old GNU sparse (`S`) and PAX sparse 0.0, 0.1 and 1.0 files read back expanded.
//!
//! Holes of sparse files are returned as [`Chunk::Hole`], never as zeros, so that a
//! terabyte of holes costs nothing to pass on.

use std::collections::HashMap;
use std::io::{self, Read};

mod sparse;

/// Go's `maxSpecialFileSize`: the most a PAX header or GNU long name may hold.
const MAX_SPECIAL: usize = 1 << 20;
const BLOCK: usize = 512;

/// What Go's reader returns instead of an entry. The texts are Go's.
#[derive(Debug)]
pub enum Error {
    /// `archive/tar: invalid tar header`
    Header,
    /// `archive/tar: header field too long`
    FieldTooLong,
    /// `archive/tar: sparse file references non-existent data`
    MissData,
    /// `archive/tar: sparse file contains unreferenced data`
    UnrefData,
    /// `unexpected EOF`
    UnexpectedEof,
    /// The stream below failed (its text is go-getter's, see `decode`).
    Stream(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Header => f.write_str("archive/tar: invalid tar header"),
            Error::FieldTooLong => f.write_str("archive/tar: header field too long"),
            Error::MissData => f.write_str("archive/tar: sparse file references non-existent data"),
            Error::UnrefData => f.write_str("archive/tar: sparse file contains unreferenced data"),
            Error::UnexpectedEof => f.write_str("unexpected EOF"),
            Error::Stream(e) => write!(f, "{e}"),
        }
    }
}

impl Error {
    /// The archive ended early (as opposed to holding wrong bytes).
    pub fn is_truncation(&self) -> bool {
        match self {
            Error::UnexpectedEof => true,
            Error::Stream(e) => e.kind() == io::ErrorKind::UnexpectedEof,
            _ => false,
        }
    }
}

type Result<T> = std::result::Result<T, Error>;

/// A timestamp as Go's `time.Unix(sec, nsec)` normalises it (`0 <= nsec < 1e9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

impl Time {
    fn unix(sec: i64, nsec: i64) -> Time {
        let sec = sec.wrapping_add(nsec.div_euclid(1_000_000_000));
        Time {
            sec,
            nsec: nsec.rem_euclid(1_000_000_000) as u32,
        }
    }
}

/// One entry as `Next()` returns it.
#[derive(Debug, Clone)]
pub struct Header {
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub typeflag: u8,
    /// The mode field as parsed (type bits included; Go keeps all 64 bits).
    pub mode: i64,
    /// For sparse files, the expanded size.
    pub size: i64,
    pub mtime: Time,
}

impl Header {
    /// Go's `Header.FileInfo().IsDir()`: the type flag, or the mode's type bits being
    /// exactly a directory's (`fs.FileMode(mode) &^ 07777 == c_ISDIR`).
    pub fn is_dir(&self) -> bool {
        self.typeflag == b'5' || (self.mode as u32) & !0o7777 == 0o040000
    }
}

/// A piece of the current entry's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// This many bytes were put at the start of the buffer.
    Data(usize),
    /// This many bytes of zeros (a hole of a sparse file), not put anywhere.
    Hole(u64),
    End,
}

/// The data of the current entry: what is left of it in the stream, and for a sparse
/// file where its holes are.
enum Current {
    Plain {
        left: u64,
    },
    Sparse {
        left: u64,
        /// Holes, in order, the last one ending at the file's size (maybe empty).
        holes: Vec<(i64, i64)>,
        at: usize,
        pos: i64,
    },
}

impl Current {
    fn physical(&self) -> u64 {
        match self {
            Current::Plain { left } | Current::Sparse { left, .. } => *left,
        }
    }
}

pub struct Reader<R> {
    r: R,
    pad: u64,
    cur: Current,
    /// After an error Go's reader returns it again; we stop being usable.
    failed: bool,
}

/// `io.ReadFull` on the raw stream: how many bytes came (fewer only at the end).
fn fill(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    super::decode::fill(r, buf).map_err(Error::Stream)
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits, in range.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i128 = 0;
    for d in digits {
        v = v * 10 + (d - b'0') as i128;
        if v > i64::MAX as i128 + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// Go's `parser.parseString`: up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Go's `parser.parseNumeric`; `None` where Go's parser records `ErrHeader`.
fn numeric(b: &[u8]) -> Option<i64> {
    if let Some(&first) = b.first() {
        if first & 0x80 != 0 {
            let inv: u8 = if first & 0x40 != 0 { 0xff } else { 0 };
            let mut x: u64 = 0;
            for (i, &c) in b.iter().enumerate() {
                let mut c = c ^ inv;
                if i == 0 {
                    c &= 0x7f;
                }
                if x >> 56 > 0 {
                    return None;
                }
                x = x << 8 | c as u64;
            }
            if x >> 63 > 0 {
                return None;
            }
            return Some(if inv == 0xff { !(x as i64) } else { x as i64 });
        }
    }
    octal(b)
}

/// Go's `parser.parseOctal`: NULs and spaces trimmed at both ends, then up to the first
/// NUL, then octal digits.
fn octal(b: &[u8]) -> Option<i64> {
    let trim = |c: &u8| *c == b' ' || *c == 0;
    let start = b.iter().position(|c| !trim(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !trim(c)).map_or(start, |i| i + 1);
    let s = cstr(&b[start..end]);
    if s.is_empty() {
        return Some(0);
    }
    let mut x: u64 = 0;
    for &c in s {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        x = x.checked_mul(8)?.checked_add((c - b'0') as u64)?;
    }
    Some(x as i64)
}

/// Which header layout the magic says (Go's `block.getFormat`), or `None` when the
/// checksum is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V7,
    Ustar,
    Star,
    Gnu,
}

fn format(b: &[u8; BLOCK]) -> Option<Format> {
    let stored = octal(&b[148..156])?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in b.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += c as i64;
        signed += c as i8 as i64;
    }
    if stored != unsigned && stored != signed {
        return None;
    }
    let magic = &b[257..263];
    Some(if magic == b"ustar\0" && &b[508..512] == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && &b[263..265] == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    })
}

/// Go's `parsePAXTime`.
fn pax_time(s: &[u8]) -> Option<Time> {
    let (ss, sn) = match s.iter().position(|&c| c == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b""[..]),
    };
    let secs = parse_int(ss)?;
    if sn.is_empty() {
        return Some(Time::unix(secs, 0));
    }
    if !sn.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut digits = sn[..sn.len().min(9)].to_vec();
    digits.resize(9, b'0');
    let nsecs = parse_int(&digits)?;
    Some(if ss.first() == Some(&b'-') {
        Time::unix(secs, -nsecs)
    } else {
        Time::unix(secs, nsecs)
    })
}

type Pax = HashMap<Vec<u8>, Vec<u8>>;

const SPARSE_MAP: &[u8] = b"GNU.sparse.map";

/// Go's `parsePAX`: `"<len> key=value\n"` records; GNU sparse 0.0's repeated
/// offset/numbytes records are folded into a 0.1 `GNU.sparse.map`.
fn parse_pax(buf: &[u8]) -> Result<Pax> {
    let mut recs = Pax::new();
    let mut sparse: Vec<Vec<u8>> = Vec::new();
    let mut s = buf;
    while !s.is_empty() {
        let sp = s.iter().position(|&c| c == b' ').ok_or(Error::Header)?;
        let n = parse_int(&s[..sp]).ok_or(Error::Header)?;
        if n < 5 || n as u128 > s.len() as u128 {
            return Err(Error::Header);
        }
        let n = n as usize;
        if n <= sp + 1 {
            return Err(Error::Header);
        }
        let rec = &s[sp + 1..n - 1];
        if s[n - 1] != b'\n' {
            return Err(Error::Header);
        }
        let eq = rec.iter().position(|&c| c == b'=').ok_or(Error::Header)?;
        let (k, v) = (&rec[..eq], &rec[eq + 1..]);
        let valid = match k {
            b"" => false,
            b"path" | b"linkpath" | b"uname" | b"gname" => !v.contains(&0),
            _ => !k.contains(&0),
        };
        if !valid {
            return Err(Error::Header);
        }
        match k {
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                let want_offset = sparse.len() % 2 == 0;
                if want_offset != (k == b"GNU.sparse.offset") || v.contains(&b',') {
                    return Err(Error::Header);
                }
                sparse.push(v.to_vec());
            }
            _ => {
                recs.insert(k.to_vec(), v.to_vec());
            }
        }
        s = &s[n..];
    }
    if !sparse.is_empty() {
        recs.insert(SPARSE_MAP.to_vec(), sparse.join(&b','));
    }
    Ok(recs)
}

/// Go's `mergePAX`: the records that change the header (empty values keep it).
fn merge_pax(h: &mut Header, pax: &Pax) -> Result<()> {
    for (k, v) in pax {
        if v.is_empty() {
            continue;
        }
        match k.as_slice() {
            b"path" => h.name = v.clone(),
            b"linkpath" => h.link = v.clone(),
            b"uid" | b"gid" => {
                parse_int(v).ok_or(Error::Header)?;
            }
            // Only parsed: go-getter sets the atime, which we neither set nor compare.
            b"atime" => {
                pax_time(v).ok_or(Error::Header)?;
            }
            b"mtime" => h.mtime = pax_time(v).ok_or(Error::Header)?,
            b"ctime" => {
                pax_time(v).ok_or(Error::Header)?;
            }
            b"size" => h.size = parse_int(v).ok_or(Error::Header)?,
            _ => {}
        }
    }
    Ok(())
}

/// Go's `isHeaderOnlyType`.
pub fn header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6')
}

impl<R: Read> Reader<R> {
    pub fn new(r: R) -> Reader<R> {
        Reader {
            r,
            pad: 0,
            cur: Current::Plain { left: 0 },
            failed: false,
        }
    }

    /// How many bytes of the current entry are in the archive (a sparse file's data,
    /// not its holes).
    pub fn data_len(&self) -> u64 {
        self.cur.physical()
    }

    /// The next entry, `None` at the end of the archive (Go's `io.EOF`).
    pub fn next(&mut self) -> Result<Option<Header>> {
        if self.failed {
            return Err(Error::Header);
        }
        let r = self.next_inner();
        self.failed = r.is_err();
        r
    }

    fn next_inner(&mut self) -> Result<Option<Header>> {
        let mut pax: Option<Pax> = None;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            // Discard what is left of the previous entry, then its padding; the end of
            // the stream inside the padding is a clean end (`tryReadFull`).
            self.skip(self.cur.physical())?;
            self.cur = Current::Plain { left: 0 };
            let mut pad = [0u8; BLOCK];
            let want = self.pad as usize;
            self.pad = 0;
            if fill(&mut self.r, &mut pad[..want])? < want {
                return Ok(None);
            }
            let Some((mut h, block, fmt)) = self.read_header()? else {
                return Ok(None);
            };
            self.set_plain(&h)?;
            match h.typeflag {
                b'x' | b'g' => {
                    let recs = parse_pax(&self.special()?)?;
                    if h.typeflag == b'g' {
                        let _ = merge_pax(&mut h, &recs);
                        return Ok(Some(h));
                    }
                    pax = Some(recs);
                }
                b'L' => long_name = Some(cstr(&self.special()?).to_vec()),
                b'K' => long_link = Some(cstr(&self.special()?).to_vec()),
                _ => {
                    let recs = pax.unwrap_or_default();
                    merge_pax(&mut h, &recs)?;
                    if let Some(n) = long_name.filter(|n| !n.is_empty()) {
                        h.name = n;
                    }
                    if let Some(l) = long_link.filter(|l| !l.is_empty()) {
                        h.link = l;
                    }
                    if h.typeflag == 0 {
                        h.typeflag = if h.name.ends_with(b"/") { b'5' } else { b'0' };
                    }
                    self.set_plain(&h)?;
                    self.sparse(&mut h, &block, fmt, &recs)?;
                    return Ok(Some(h));
                }
            }
        }
    }

    /// `handleRegularFile`: the entry's data is its size, none for header-only types.
    fn set_plain(&mut self, h: &Header) -> Result<()> {
        let nb = if header_only(h.typeflag) { 0 } else { h.size };
        if nb < 0 {
            return Err(Error::Header);
        }
        self.pad = (nb as u64).wrapping_neg() % BLOCK as u64;
        self.cur = Current::Plain { left: nb as u64 };
        Ok(())
    }

    /// `readHeader`: `None` at a clean end.
    fn read_header(&mut self) -> Result<Option<(Header, [u8; BLOCK], Format)>> {
        let mut b = [0u8; BLOCK];
        match fill(&mut self.r, &mut b)? {
            0 => return Ok(None),
            BLOCK => {}
            _ => return Err(Error::UnexpectedEof),
        }
        if b.iter().all(|&c| c == 0) {
            match fill(&mut self.r, &mut b)? {
                0 => return Ok(None),
                BLOCK => {}
                _ => return Err(Error::UnexpectedEof),
            }
            if b.iter().all(|&c| c == 0) {
                return Ok(None);
            }
            return Err(Error::Header);
        }
        let fmt = format(&b).ok_or(Error::Header)?;
        let num = |r: std::ops::Range<usize>| numeric(&b[r]).ok_or(Error::Header);
        let mut h = Header {
            name: cstr(&b[0..100]).to_vec(),
            link: cstr(&b[157..257]).to_vec(),
            typeflag: b[156],
            size: num(124..136)?,
            mode: num(100..108)?,
            mtime: Time::unix(num(136..148)?, 0),
        };
        num(108..116)?;
        num(116..124)?;
        if fmt != Format::V7 {
            num(329..337)?;
            num(337..345)?;
            let prefix: Vec<u8> = match fmt {
                Format::Ustar => cstr(&b[345..500]).to_vec(),
                Format::Star => {
                    num(476..488)?;
                    num(488..500)?;
                    cstr(&b[345..476]).to_vec()
                }
                _ => {
                    // GNU: atime and ctime when set; a pre-Go-1.8 writer put a USTAR
                    // prefix there instead, which Go falls back to when they do not
                    // parse.
                    let atime = (b[345] != 0).then(|| numeric(&b[345..357]));
                    let ctime = (b[357] != 0).then(|| numeric(&b[357..369]));
                    if atime == Some(None) || ctime == Some(None) {
                        let p = cstr(&b[345..500]);
                        if p.iter().all(|&c| c < 0x80 && c != 0) {
                            p.to_vec()
                        } else {
                            Vec::new()
                        }
                    } else {
                        Vec::new()
                    }
                }
            };
            if !prefix.is_empty() {
                let mut name = prefix;
                name.push(b'/');
                name.extend_from_slice(&h.name);
                h.name = name;
            }
        }
        Ok(Some((h, b, fmt)))
    }

    /// `readSpecialFile`: all of the current entry, at most 1 MiB.
    fn special(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match self.read_plain(&mut buf)? {
                0 => break,
                n => {
                    out.extend_from_slice(&buf[..n]);
                    if out.len() > MAX_SPECIAL {
                        return Err(Error::FieldTooLong);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Read the current plain data section (`regFileReader`): 0 at its end, an
    /// unexpected EOF if the stream ends first.
    fn read_plain(&mut self, buf: &mut [u8]) -> Result<usize> {
        let left = self.cur.physical();
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = loop {
            match self.r.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Stream(e)),
            }
        };
        if n == 0 {
            return Err(Error::UnexpectedEof);
        }
        match &mut self.cur {
            Current::Plain { left } | Current::Sparse { left, .. } => *left -= n as u64,
        }
        Ok(n)
    }

    /// `io.ReadFull` on the current data section (`mustReadFull`).
    fn read_plain_full(&mut self, buf: &mut [u8]) -> Result<()> {
        let mut n = 0;
        while n < buf.len() {
            match self.read_plain(&mut buf[n..])? {
                0 => return Err(Error::UnexpectedEof),
                k => n += k,
            }
        }
        Ok(())
    }

    /// `discard`.
    fn skip(&mut self, mut n: u64) -> Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            match fill(&mut self.r, &mut buf[..want])? {
                0 => return Err(Error::UnexpectedEof),
                k => n -= k as u64,
            }
        }
        Ok(())
    }

    /// The next piece of the current entry's data.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        if self.failed {
            return Err(Error::Header);
        }
        let r = self.read_inner(buf);
        self.failed = r.is_err();
        r
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let (hole, size, pos, left) = match &self.cur {
            Current::Plain { .. } => {
                return Ok(match self.read_plain(buf)? {
                    0 => Chunk::End,
                    n => Chunk::Data(n),
                });
            }
            Current::Sparse {
                holes,
                at,
                pos,
                left,
            } => {
                let (o, l) = holes[holes.len() - 1];
                (holes[*at], o + l, *pos, *left)
            }
        };
        if pos >= size {
            return if left > 0 {
                Err(Error::UnrefData)
            } else {
                Ok(Chunk::End)
            };
        }
        let (chunk, step) = if pos < hole.0 {
            let want = buf.len().min((hole.0 - pos) as usize);
            match self.read_plain(&mut buf[..want])? {
                0 => return Err(Error::MissData),
                n => (Chunk::Data(n), n as i64),
            }
        } else {
            let n = hole.0 + hole.1 - pos;
            (Chunk::Hole(n as u64), n)
        };
        if let Current::Sparse {
            holes,
            at,
            pos,
            left,
        } = &mut self.cur
        {
            *pos += step;
            if *pos >= holes[*at].0 + holes[*at].1 && *at + 1 < holes.len() {
                *at += 1;
            }
            if *pos >= size && *left > 0 {
                return Err(Error::UnrefData);
            }
        }
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_go_parses_them() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"  644 \0"), Some(0o644));
        assert_eq!(octal(b"\0\0\0"), Some(0));
        assert_eq!(octal(b"0009"), None);
        assert_eq!(numeric(&[0x80, 0, 0, 5]), Some(5));
        assert_eq!(numeric(&[0xff, 0xff, 0xff, 0xfb]), Some(-5));
        assert_eq!(parse_int(b"+12"), Some(12));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b""), None);
        assert_eq!(
            pax_time(b"-0.5"),
            Some(Time {
                sec: -1,
                nsec: 500_000_000
            })
        );
        assert_eq!(pax_time(b"12."), Some(Time { sec: 12, nsec: 0 }));
        assert_eq!(
            pax_time(b"1.1234567891"),
            Some(Time {
                sec: 1,
                nsec: 123_456_789
            })
        );
    }
}
