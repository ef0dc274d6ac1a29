//! Byte-level builders for tar and zip archives and the compressors go-getter knows.
//!
//! Every field can be set to anything, valid or not (the point is to reach the corners
//! of Go's `archive/tar` and `archive/zip` readers), and the output depends only on the
//! arguments: no clock, no randomness, no host state.

use std::io::Write;

/// A numeric header field.
#[derive(Clone, Debug)]
pub enum Num {
    /// Octal digits, zero-padded, NUL-terminated (what GNU tar and Go write).
    Oct(u64),
    /// Base-256 (GNU's binary encoding): the top bit set, big-endian two's complement.
    B256(i64),
    /// Exactly these bytes, NUL-padded to the field.
    Raw(Vec<u8>),
}

/// Which magic the header carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    V7,
    Ustar,
    Gnu,
    Star,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chk {
    /// POSIX: the unsigned byte sum.
    Good,
    /// Sun tar's signed byte sum (Go accepts either).
    Signed,
    /// Off by one.
    Bad,
}

#[derive(Clone, Debug)]
pub struct Hdr {
    pub name: Vec<u8>,
    pub mode: Num,
    pub uid: Num,
    pub gid: Num,
    pub size: Num,
    pub mtime: Num,
    pub typeflag: u8,
    pub link: Vec<u8>,
    pub fmt: Fmt,
    /// The USTAR prefix (155 bytes) or the STAR prefix (131 bytes).
    pub prefix: Vec<u8>,
    pub chk: Chk,
    /// Raw bytes written at these offsets last, before the checksum.
    pub patches: Vec<(usize, Vec<u8>)>,
}

pub const MTIME: u64 = 1_700_000_000;

impl Hdr {
    pub fn new(name: &[u8], typeflag: u8, size: u64) -> Hdr {
        let mode = match typeflag {
            b'5' => 0o755,
            b'2' | b'1' => 0o777,
            _ => 0o644,
        };
        Hdr {
            name: name.to_vec(),
            mode: Num::Oct(mode),
            uid: Num::Oct(1000),
            gid: Num::Oct(1000),
            size: Num::Oct(size),
            mtime: Num::Oct(MTIME),
            typeflag,
            link: Vec::new(),
            fmt: Fmt::Ustar,
            prefix: Vec::new(),
            chk: Chk::Good,
            patches: Vec::new(),
        }
    }

    pub fn mode(mut self, m: u64) -> Hdr {
        self.mode = Num::Oct(m);
        self
    }

    pub fn fmt(mut self, f: Fmt) -> Hdr {
        self.fmt = f;
        self
    }

    pub fn link(mut self, l: &[u8]) -> Hdr {
        self.link = l.to_vec();
        self
    }

    pub fn mtime(mut self, n: Num) -> Hdr {
        self.mtime = n;
        self
    }

    pub fn size(mut self, n: Num) -> Hdr {
        self.size = n;
        self
    }

    pub fn patch(mut self, at: usize, bytes: &[u8]) -> Hdr {
        self.patches.push((at, bytes.to_vec()));
        self
    }

    pub fn block(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        put(&mut b[0..100], &self.name);
        num(&mut b[100..108], &self.mode);
        num(&mut b[108..116], &self.uid);
        num(&mut b[116..124], &self.gid);
        num(&mut b[124..136], &self.size);
        num(&mut b[136..148], &self.mtime);
        b[156] = self.typeflag;
        put(&mut b[157..257], &self.link);
        match self.fmt {
            Fmt::V7 => {}
            Fmt::Ustar | Fmt::Star => {
                b[257..263].copy_from_slice(b"ustar\0");
                b[263..265].copy_from_slice(b"00");
            }
            Fmt::Gnu => {
                b[257..263].copy_from_slice(b"ustar ");
                b[263..265].copy_from_slice(b" \0");
            }
        }
        if self.fmt != Fmt::V7 {
            put(&mut b[265..297], b"user");
            put(&mut b[297..329], b"group");
            if self.fmt != Fmt::Gnu {
                num(&mut b[329..337], &Num::Oct(0));
                num(&mut b[337..345], &Num::Oct(0));
            }
        }
        match self.fmt {
            Fmt::Ustar => put(&mut b[345..500], &self.prefix),
            Fmt::Star => {
                put(&mut b[345..476], &self.prefix);
                b[508..512].copy_from_slice(b"tar\0");
            }
            _ => {}
        }
        let (sum_field, rest): (Vec<_>, Vec<_>) = self
            .patches
            .iter()
            .partition(|(at, _)| (148..156).contains(at));
        for (at, bytes) in rest {
            b[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
        let (unsigned, signed) = sums(&b);
        let sum = match self.chk {
            Chk::Good => unsigned,
            Chk::Signed => signed,
            Chk::Bad => unsigned + 1,
        };
        let s = format!("{:06o}\0 ", sum as u64 & 0o777777);
        b[148..156].copy_from_slice(s.as_bytes());
        // A patch of the checksum field itself replaces it.
        for (at, bytes) in sum_field {
            b[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
        b
    }
}

fn sums(b: &[u8; 512]) -> (i64, i64) {
    let (mut u, mut s) = (0i64, 0i64);
    for (i, &c) in b.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        u += c as i64;
        s += c as i8 as i64;
    }
    (u, s)
}

fn put(field: &mut [u8], v: &[u8]) {
    let n = v.len().min(field.len());
    field[..n].copy_from_slice(&v[..n]);
}

fn num(field: &mut [u8], n: &Num) {
    field.fill(0);
    match n {
        Num::Oct(v) => {
            let w = field.len() - 1;
            let s = format!("{v:0w$o}");
            put(field, s.as_bytes());
        }
        Num::B256(v) => {
            let bytes = v.to_be_bytes();
            let len = field.len();
            let fill = if *v < 0 { 0xff } else { 0 };
            field.fill(fill);
            let n = bytes.len().min(len);
            field[len - n..].copy_from_slice(&bytes[8 - n..]);
            field[0] |= 0x80;
        }
        Num::Raw(r) => put(field, r),
    }
}

/// A PAX record, `"<len> key=value\n"` with the length counting itself.
pub fn pax_record(k: &str, v: &[u8]) -> Vec<u8> {
    let body = k.len() + v.len() + 3;
    let mut n = body + body.to_string().len();
    if n.to_string().len() != body.to_string().len() {
        n = body + n.to_string().len();
    }
    let mut r = format!("{n} {k}=").into_bytes();
    r.extend_from_slice(v);
    r.push(b'\n');
    r
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// A tar stream under construction.
#[derive(Clone, Default)]
pub struct Tar(pub Vec<u8>);

impl Tar {
    pub fn new() -> Tar {
        Tar(Vec::new())
    }

    /// A header followed by `data` and its padding.
    pub fn entry(mut self, h: Hdr, data: &[u8]) -> Tar {
        self.0.extend_from_slice(&h.block());
        self.0.extend_from_slice(data);
        pad(&mut self.0);
        self
    }

    pub fn file(self, name: &str, mode: u64, data: &[u8]) -> Tar {
        self.entry(
            Hdr::new(name.as_bytes(), b'0', data.len() as u64).mode(mode),
            data,
        )
    }

    pub fn dir(self, name: &str, mode: u64) -> Tar {
        self.entry(Hdr::new(name.as_bytes(), b'5', 0).mode(mode), b"")
    }

    pub fn link(self, flag: u8, name: &str, target: &str) -> Tar {
        self.entry(
            Hdr::new(name.as_bytes(), flag, 0).link(target.as_bytes()),
            b"",
        )
    }

    /// A PAX header (`x` or `g`) holding these records.
    pub fn pax(self, flag: u8, records: &[(&str, &[u8])]) -> Tar {
        let body: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        self.pax_raw(flag, &body)
    }

    pub fn pax_raw(self, flag: u8, body: &[u8]) -> Tar {
        let h = Hdr::new(b"PaxHeaders.0/x", flag, body.len() as u64);
        self.entry(h, body)
    }

    /// A GNU long name (`L`) or long link (`K`) header.
    pub fn gnu_long(self, flag: u8, name: &[u8]) -> Tar {
        let mut body = name.to_vec();
        body.push(0);
        let h = Hdr::new(b"././@LongLink", flag, body.len() as u64).fmt(Fmt::Gnu);
        self.entry(h, &body)
    }

    /// Zeros up to the next block.
    pub fn pad(mut self) -> Tar {
        pad(&mut self.0);
        self
    }

    pub fn raw(mut self, bytes: &[u8]) -> Tar {
        self.0.extend_from_slice(bytes);
        self
    }

    /// The two zero blocks that end an archive.
    pub fn end(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }

    /// As GNU tar writes it: the end blocks, then zeros up to a 10 KiB record.
    pub fn end_record(self) -> Vec<u8> {
        let mut v = self.end();
        let rem = v.len() % 10240;
        if rem != 0 {
            v.resize(v.len() + 10240 - rem, 0);
        }
        v
    }

    pub fn bytes(self) -> Vec<u8> {
        self.0
    }
}

/// Deterministic filler: a byte pattern from a seed (xorshift).
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ------------------------------------------------------------------ compressors

pub fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn bz2(b: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(9));
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn xz(b: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn zst(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 3).unwrap()
}

/// A gzip member with the optional header fields: `(flags, extra, name, comment,
/// header CRC right or wrong)`, as `gzip -N` and others write them.
pub fn gz_with(
    b: &[u8],
    extra: Option<&[u8]>,
    name: Option<&[u8]>,
    comment: Option<&[u8]>,
    hcrc: Option<bool>,
) -> Vec<u8> {
    let mut flags = 0u8;
    let mut tail = Vec::new();
    if let Some(x) = extra {
        flags |= 0x04;
        tail.extend_from_slice(&(x.len() as u16).to_le_bytes());
        tail.extend_from_slice(x);
    }
    for (bit, v) in [(0x08, name), (0x10, comment)] {
        if let Some(v) = v {
            flags |= bit;
            tail.extend_from_slice(v);
            tail.push(0);
        }
    }
    if hcrc.is_some() {
        flags |= 0x02;
    }
    let mut out = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3];
    out.extend_from_slice(&tail);
    if let Some(right) = hcrc {
        let c = crc32(&out) as u16;
        out.extend_from_slice(&(if right { c } else { c ^ 1 }).to_le_bytes());
    }
    out.extend(deflate_raw(b));
    out.extend_from_slice(&crc32(b).to_le_bytes());
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out
}

/// xz with another integrity check than the default CRC-64.
pub fn xz_check(b: &[u8], check: liblzma::stream::Check) -> Vec<u8> {
    let s = liblzma::stream::Stream::new_easy_encoder(6, check).unwrap();
    let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), s);
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// zstd as the `zstd` tool writes a file: the content size and a checksum in the frame.
pub fn zst_cli(b: &[u8]) -> Vec<u8> {
    let mut e = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    e.set_pledged_src_size(Some(b.len() as u64)).unwrap();
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn deflate_raw(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn crc32(b: &[u8]) -> u32 {
    let mut h = flate2::Crc::new();
    h.update(b);
    h.sum()
}

// ------------------------------------------------------------------ zip

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crc {
    Good,
    Zero,
    Bad,
}

#[derive(Clone, Debug)]
pub struct Ze {
    pub name: Vec<u8>,
    /// Uncompressed contents.
    pub data: Vec<u8>,
    /// 0 stored, 8 deflate; anything else is stored with that method number.
    pub method: u16,
    /// Host OS of the creator (`version made by` >> 8): 3 unix, 0 FAT, 11 NTFS, 19 OS X.
    pub creator: u8,
    /// The external attributes (unix mode << 16 | MS-DOS attributes).
    pub attrs: u32,
    pub flags: u16,
    pub crc: Crc,
    /// A data descriptor after the data (flag bit 3 is set): with its signature or not,
    /// and its CRC right or wrong.
    pub descriptor: Option<(bool, Crc)>,
    /// Sizes recorded in the central directory instead of the real ones.
    pub usize: Option<u32>,
    pub csize: Option<u32>,
    pub extra: Vec<u8>,
    pub bad_local_sig: bool,
}

impl Ze {
    pub fn file(name: &str, mode: u32, data: &[u8]) -> Ze {
        Ze {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            method: 8,
            creator: 3,
            attrs: (0o100000 | mode) << 16,
            flags: 0,
            crc: Crc::Good,
            descriptor: None,
            usize: None,
            csize: None,
            extra: Vec::new(),
            bad_local_sig: false,
        }
    }

    pub fn dir(name: &str, mode: u32) -> Ze {
        Ze {
            method: 0,
            attrs: (0o040000 | mode) << 16 | 0x10,
            ..Ze::file(name, 0, b"")
        }
    }

    pub fn symlink(name: &str, target: &str) -> Ze {
        Ze {
            method: 0,
            attrs: (0o120777) << 16,
            ..Ze::file(name, 0, target.as_bytes())
        }
    }

    pub fn method(mut self, m: u16) -> Ze {
        self.method = m;
        self
    }
}

#[derive(Clone, Debug, Default)]
pub struct ZipOpts {
    /// Bytes before the first local header (a self-extracting stub).
    pub prefix: Vec<u8>,
    pub comment: Vec<u8>,
    /// The entry count the end record claims, instead of the real one.
    pub count: Option<u16>,
    /// Offsets counted from the end of `prefix` (`cat stub a.zip`), not from the file's
    /// start (`zip -A`).
    pub relative: bool,
}

fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

pub fn zip(entries: &[Ze], o: &ZipOpts) -> Vec<u8> {
    let mut out = o.prefix.clone();
    let mut central = Vec::new();
    for e in entries {
        let stored = match e.method {
            8 => deflate_raw(&e.data),
            _ => e.data.clone(),
        };
        let real = crc32(&e.data);
        let crc = |c: Crc| match c {
            Crc::Good => real,
            Crc::Zero => 0,
            Crc::Bad => real ^ 0x5a5a_5a5a,
        };
        let flags = e.flags | if e.descriptor.is_some() { 8 } else { 0 };
        let csize = e.csize.unwrap_or(stored.len() as u32);
        let usize = e.usize.unwrap_or(e.data.len() as u32);
        let base = if o.relative { o.prefix.len() } else { 0 };
        let offset = (out.len() - base) as u32;
        // Local header.
        le32(
            &mut out,
            if e.bad_local_sig {
                0x0403_4b51
            } else {
                0x0403_4b50
            },
        );
        le16(&mut out, 20);
        le16(&mut out, flags);
        le16(&mut out, e.method);
        le16(&mut out, 0x6000); // 12:00
        le16(&mut out, 0x5721); // 2023-09-01
        if e.descriptor.is_some() {
            le32(&mut out, 0);
            le32(&mut out, 0);
            le32(&mut out, 0);
        } else {
            le32(&mut out, crc(e.crc));
            le32(&mut out, csize);
            le32(&mut out, usize);
        }
        le16(&mut out, e.name.len() as u16);
        le16(&mut out, e.extra.len() as u16);
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.extra);
        out.extend_from_slice(&stored);
        if let Some((sig, c)) = e.descriptor {
            if sig {
                le32(&mut out, 0x0807_4b50);
            }
            le32(&mut out, crc(c));
            le32(&mut out, csize);
            le32(&mut out, usize);
        }
        // Central directory entry.
        le32(&mut central, 0x0201_4b50);
        le16(&mut central, (e.creator as u16) << 8 | 20);
        le16(&mut central, 20);
        le16(&mut central, flags);
        le16(&mut central, e.method);
        le16(&mut central, 0x6000);
        le16(&mut central, 0x5721);
        le32(
            &mut central,
            crc(e.descriptor.map(|_| Crc::Good).unwrap_or(e.crc)),
        );
        le32(&mut central, csize);
        le32(&mut central, usize);
        le16(&mut central, e.name.len() as u16);
        le16(&mut central, e.extra.len() as u16);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le32(&mut central, e.attrs);
        le32(&mut central, offset);
        central.extend_from_slice(&e.name);
        central.extend_from_slice(&e.extra);
    }
    let cd_offset = (out.len() - if o.relative { o.prefix.len() } else { 0 }) as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    let n = o.count.unwrap_or(entries.len() as u16);
    le32(&mut out, 0x0605_4b50);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, n);
    le16(&mut out, n);
    le32(&mut out, cd_size);
    le32(&mut out, cd_offset);
    le16(&mut out, o.comment.len() as u16);
    out.extend_from_slice(&o.comment);
    out
}
