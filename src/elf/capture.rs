//! Keeping, while an ELF file streams past once, what [`super::parse_ref`] will read of
//! it, in bounded memory: its first [`PREFIX`] bytes (headers, `.interp`, `.dynsym`,
//! `.dynstr`, the version tables: where linkers put them), then the ranges its headers
//! point at further on (the program headers, `PT_INTERP`, `PT_DYNAMIC`, the section
//! header table, which often sits at the very end).
//!
//! A file whose tables lie outside all that (a library with megabytes of dynamic
//! strings) is not guessed at: the parse notes what it missed and the caller reads the
//! file again, keeping those ranges too ([`Captured::Incomplete`]).

use std::ops::Range;

use super::{ElfError, ElfInfo, LoaderStrings, Sparse, parse_ref};

/// Bytes kept from the start of each ELF file.
pub const PREFIX: u64 = 16 << 20;
/// A table the headers point at beyond the prefix is kept up to this size.
const TABLE_MAX: u64 = 4 << 20;
/// A missed read is widened to its section, up to this size.
const SECTION_MAX: u64 = 64 << 20;

/// What the stream gave.
#[derive(Debug)]
pub enum Captured {
    /// What a parse of the whole file gives; and for a file that could be a program
    /// interpreter (no `PT_INTERP` of its own) kept whole, its loader strings.
    Parsed(Result<ElfInfo, ElfError>, Option<LoaderStrings>),
    /// The parse needed bytes that were not kept: read the file again keeping these.
    Incomplete(Vec<Range<u64>>),
}

#[derive(Debug)]
pub struct ElfCapture {
    cap: u64,
    prefix: Vec<u8>,
    /// Ranges to keep beyond the prefix, and what of each has passed so far.
    wanted: Vec<(Range<u64>, Vec<u8>)>,
    /// 0: nothing read yet; 1: the ELF header; 2: the program headers.
    planned: u8,
    class64: bool,
    le: bool,
    phdrs: Range<u64>,
    /// Where the data seen so far ends: a range wanted later whose bytes went by
    /// before it was wanted is not kept (a read-back keeps it), not taken for a hole.
    seen: u64,
}

fn num(b: &[u8], at: usize, n: usize, le: bool) -> Option<u64> {
    let s = b.get(at..at + n)?;
    let mut v = 0u64;
    for i in 0..n {
        let byte = if le { s[n - 1 - i] } else { s[i] };
        v = (v << 8) | u64::from(byte);
    }
    Some(v)
}

impl ElfCapture {
    /// `extra`: ranges a previous pass missed.
    pub fn new(extra: Vec<Range<u64>>) -> ElfCapture {
        ElfCapture::with_prefix(PREFIX, extra)
    }

    pub fn with_prefix(cap: u64, extra: Vec<Range<u64>>) -> ElfCapture {
        let mut c = ElfCapture {
            cap,
            prefix: Vec::new(),
            wanted: Vec::new(),
            planned: 0,
            class64: true,
            le: true,
            phdrs: 0..0,
            seen: 0,
        };
        for r in extra {
            c.want(r, u64::MAX);
        }
        c
    }

    fn want(&mut self, r: Range<u64>, max: u64) {
        if r.start >= r.end || r.end <= self.cap || r.end - r.start > max {
            return;
        }
        if !self
            .wanted
            .iter()
            .any(|(w, _)| w.start <= r.start && r.end <= w.end)
        {
            self.wanted.push((r, Vec::new()));
        }
    }

    /// `bytes` at `off` (offsets only grow; a gap is a hole of zeros).
    pub fn data(&mut self, off: u64, bytes: &[u8]) {
        if off < self.cap {
            let have = self.prefix.len() as u64;
            if off > have {
                self.prefix.resize(off as usize, 0);
            }
            if off >= have {
                let take = bytes.len().min((self.cap - off) as usize);
                self.prefix.extend_from_slice(&bytes[..take]);
            }
        }
        let end = off + bytes.len() as u64;
        let seen = self.seen;
        for (r, got) in &mut self.wanted {
            let (s, e) = (r.start.max(off), r.end.min(end));
            if s >= e {
                continue;
            }
            let at = (s - r.start) as usize;
            if got.len() < at {
                // Only a hole (no data between the last call and this one) reads as
                // zeros; bytes that streamed past before the range was planned are
                // unknown, and the range stays short (a miss, read back later).
                if r.start + (got.len() as u64) < seen {
                    continue;
                }
                got.resize(at, 0);
            }
            if got.len() == at {
                got.extend_from_slice(&bytes[(s - off) as usize..(e - off) as usize]);
            }
        }
        self.seen = self.seen.max(end);
        self.plan();
    }

    /// The kept bytes of `r`, when all of it is kept.
    fn have(&self, r: &Range<u64>) -> Option<&[u8]> {
        if r.end <= self.prefix.len() as u64 {
            return Some(&self.prefix[r.start as usize..r.end as usize]);
        }
        self.wanted.iter().find_map(|(w, got)| {
            let from = r.start.checked_sub(w.start)? as usize;
            let to = (r.end - w.start) as usize;
            (r.end <= w.end && got.len() >= to).then(|| &got[from..to])
        })
    }

    fn plan(&mut self) {
        if self.planned == 0 && self.prefix.len() >= 64 {
            let h = &self.prefix;
            if !h.starts_with(b"\x7fELF") {
                self.planned = 2;
                return;
            }
            self.class64 = h[4] == 2;
            self.le = h[5] != 2;
            let le = self.le;
            let (phoff, shoff, phent, phnum, shent, shnum) = if self.class64 {
                (
                    num(h, 0x20, 8, le),
                    num(h, 0x28, 8, le),
                    num(h, 0x36, 2, le),
                    num(h, 0x38, 2, le),
                    num(h, 0x3a, 2, le),
                    num(h, 0x3c, 2, le),
                )
            } else {
                (
                    num(h, 0x1c, 4, le),
                    num(h, 0x20, 4, le),
                    num(h, 0x2a, 2, le),
                    num(h, 0x2c, 2, le),
                    num(h, 0x2e, 2, le),
                    num(h, 0x30, 2, le),
                )
            };
            let table = |off: Option<u64>, ent: Option<u64>, n: Option<u64>| {
                let (off, ent, n) = (off.unwrap_or(0), ent.unwrap_or(0), n.unwrap_or(0));
                // A count of 0 with a table: the real count is in the first entry.
                let n = if n == 0 && off != 0 { 1 } else { n };
                off..off.saturating_add(ent.saturating_mul(n))
            };
            self.phdrs = table(phoff, phent, phnum);
            let shdrs = table(shoff, shent, shnum);
            self.want(self.phdrs.clone(), TABLE_MAX);
            self.want(shdrs, TABLE_MAX);
            self.planned = 1;
        }
        if self.planned == 1 {
            let Some(ph) = self.have(&self.phdrs.clone()).map(<[u8]>::to_vec) else {
                return;
            };
            self.planned = 2;
            let (le, ent) = (self.le, if self.class64 { 56 } else { 32 });
            for p in ph.chunks_exact(ent) {
                let kind = num(p, 0, 4, le).unwrap_or(0);
                let (off, size) = if self.class64 {
                    (num(p, 8, 8, le), num(p, 32, 8, le))
                } else {
                    (num(p, 4, 4, le), num(p, 16, 4, le))
                };
                let (off, size) = (off.unwrap_or(0), size.unwrap_or(0));
                // PT_DYNAMIC, PT_INTERP.
                if kind == 2 || kind == 3 {
                    self.want(off..off.saturating_add(size), TABLE_MAX);
                }
            }
        }
    }

    /// The file ended at `len`: parse what was kept.
    pub fn finish(mut self, len: u64) -> Captured {
        let whole = len.min(self.cap) as usize;
        if self.prefix.len() < whole {
            self.prefix.resize(whole, 0);
        }
        let complete = len <= self.prefix.len() as u64;
        let mut pieces = vec![(0, std::mem::take(&mut self.prefix))];
        pieces.extend(self.wanted.drain(..).map(|(r, got)| (r.start, got)));
        let sparse = Sparse::new(len, pieces);
        let parsed = parse_ref(&sparse);
        let misses = sparse.misses();
        if misses.is_empty() {
            let loader = match (&parsed, complete) {
                (Ok(info), true) if info.interp.is_none() => sparse_bytes(&sparse, len),
                _ => None,
            }
            .map(|b| LoaderStrings::of(&b));
            return Captured::Parsed(parsed, loader);
        }
        Captured::Incomplete(widen(&sparse, misses, self.class64, self.le))
    }
}

fn sparse_bytes(s: &Sparse, len: u64) -> Option<Vec<u8>> {
    use object::read::ReadRef;
    s.read_bytes_at(0, len).ok().map(<[u8]>::to_vec)
}

/// Each missed range widened to the section holding it, when the section headers were
/// kept: one more pass then reads the whole table, not one string of it.
fn widen(s: &Sparse, misses: Vec<Range<u64>>, class64: bool, le: bool) -> Vec<Range<u64>> {
    use object::read::ReadRef;
    let sections: Vec<Range<u64>> = (|| {
        let h = s.read_bytes_at(0, 64).ok()?;
        let (shoff, shent, shnum) = if class64 {
            (
                num(h, 0x28, 8, le)?,
                num(h, 0x3a, 2, le)?,
                num(h, 0x3c, 2, le)?,
            )
        } else {
            (
                num(h, 0x20, 4, le)?,
                num(h, 0x2e, 2, le)?,
                num(h, 0x30, 2, le)?,
            )
        };
        let table = s.read_bytes_at(shoff, shent.checked_mul(shnum)?).ok()?;
        Some(
            table
                .chunks_exact(usize::try_from(shent).ok()?.max(1))
                .filter_map(|e| {
                    let (off, size) = if class64 {
                        (num(e, 0x18, 8, le)?, num(e, 0x20, 8, le)?)
                    } else {
                        (num(e, 0x10, 4, le)?, num(e, 0x14, 4, le)?)
                    };
                    (size <= SECTION_MAX).then(|| off..off.saturating_add(size))
                })
                .collect(),
        )
    })()
    .unwrap_or_default();
    misses
        .into_iter()
        .map(|m| {
            sections
                .iter()
                .find(|r| r.start <= m.start && m.start < r.end)
                .map(|r| r.start.min(m.start)..r.end.max(m.end))
                .unwrap_or(m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(c: &mut ElfCapture, bytes: &[u8], piece: usize) {
        for (i, p) in bytes.chunks(piece).enumerate() {
            c.data((i * piece) as u64, p);
        }
    }

    #[test]
    fn a_stream_parses_as_the_file_does() {
        for path in ["/bin/bash", "/lib/x86_64-linux-gnu/libc.so.6"] {
            let bytes = std::fs::read(path).unwrap();
            let mut c = ElfCapture::new(Vec::new());
            stream(&mut c, &bytes, 1 << 20);
            let Captured::Parsed(Ok(info), _) = c.finish(bytes.len() as u64) else {
                panic!("{path}: not parsed");
            };
            let want = crate::elf::parse(std::path::Path::new(path)).unwrap();
            assert_eq!(format!("{info:?}"), format!("{want:?}"), "{path}");
        }
    }

    #[test]
    fn a_small_prefix_misses_then_a_second_pass_completes() {
        let bytes = std::fs::read("/bin/bash").unwrap();
        let want = crate::elf::parse(std::path::Path::new("/bin/bash")).unwrap();
        let mut extra = Vec::new();
        for pass in 0..8 {
            let mut c = ElfCapture::with_prefix(4096, extra.clone());
            stream(&mut c, &bytes, 65536);
            match c.finish(bytes.len() as u64) {
                Captured::Parsed(r, _) => {
                    assert_eq!(format!("{:?}", r.unwrap()), format!("{want:?}"));
                    assert!(pass > 0, "a 4 KiB prefix cannot hold bash's tables");
                    return;
                }
                Captured::Incomplete(m) => extra.extend(m),
            }
        }
        panic!("no complete parse in 8 passes");
    }

    #[test]
    fn the_loader_keeps_its_strings() {
        let path = "/lib64/ld-linux-x86-64.so.2";
        let bytes = std::fs::read(path).unwrap();
        let mut c = ElfCapture::new(Vec::new());
        stream(&mut c, &bytes, 4096);
        let Captured::Parsed(Ok(_), Some(s)) = c.finish(bytes.len() as u64) else {
            panic!("no loader strings");
        };
        assert_eq!(s, LoaderStrings::of(&bytes));
        assert_eq!(s.cache_path.as_deref(), Some("/etc/ld.so.cache"));
    }
}
