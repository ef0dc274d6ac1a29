//! The parts of a file that were kept, as `object` reads files: a [`ReadRef`] that
//! answers exactly as `ReadCache` over the whole file would wherever it has the bytes,
//! and notes every read that fell where it has none (a miss), so that a parse that
//! missed something is known not to be the file's.

use std::cell::RefCell;
use std::ops::Range;

use object::read::ReadRef;

/// `ReadCache::read_bytes_at_until` looks this far for the delimiter.
const UNTIL_MAX: u64 = 4096;

#[derive(Debug, Default)]
pub struct Sparse {
    /// The file's length.
    len: u64,
    /// Kept bytes by offset: sorted, not overlapping, not touching.
    pieces: Vec<(u64, Vec<u8>)>,
    missed: RefCell<Vec<Range<u64>>>,
}

impl Sparse {
    /// `pieces` in any order; overlapping or adjacent ones are merged.
    pub fn new(len: u64, mut pieces: Vec<(u64, Vec<u8>)>) -> Sparse {
        pieces.retain(|(_, b)| !b.is_empty());
        pieces.sort_by_key(|(o, _)| *o);
        let mut merged: Vec<(u64, Vec<u8>)> = Vec::with_capacity(pieces.len());
        for (off, bytes) in pieces {
            if let Some((lo, have)) = merged.last_mut() {
                let end = *lo + have.len() as u64;
                if off <= end {
                    let skip = (end - off) as usize;
                    if skip < bytes.len() {
                        have.extend_from_slice(&bytes[skip..]);
                    }
                    continue;
                }
            }
            merged.push((off, bytes));
        }
        Sparse {
            len,
            pieces: merged,
            missed: RefCell::new(Vec::new()),
        }
    }

    /// The reads that fell outside what was kept.
    pub fn misses(&self) -> Vec<Range<u64>> {
        self.missed.borrow().clone()
    }

    /// The kept bytes from `off` on (up to the end of their piece).
    fn from(&self, off: u64) -> Option<&[u8]> {
        let i = self
            .pieces
            .partition_point(|(o, _)| *o <= off)
            .checked_sub(1)?;
        let (lo, b) = &self.pieces[i];
        let at = usize::try_from(off - lo).ok()?;
        b.get(at..).filter(|s| !s.is_empty())
    }

    fn miss(&self, r: Range<u64>) {
        self.missed.borrow_mut().push(r);
    }
}

impl<'a> ReadRef<'a> for &'a Sparse {
    fn len(self) -> Result<u64, ()> {
        Ok(self.len)
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        if size == 0 {
            return Ok(&[]);
        }
        let end = offset.saturating_add(size);
        if end > self.len {
            return Err(());
        }
        match self.from(offset) {
            Some(b) if b.len() as u64 >= size => Ok(&b[..size as usize]),
            _ => {
                self.miss(offset..end);
                Err(())
            }
        }
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'a [u8], ()> {
        if range.start > range.end || range.end > self.len {
            return Err(());
        }
        let window = (range.end - range.start).min(UNTIL_MAX);
        let have = self.from(range.start).unwrap_or(&[]);
        let look = &have[..have.len().min(window as usize)];
        if let Some(n) = memchr::memchr(delimiter, look) {
            return Ok(&look[..n]);
        }
        if (look.len() as u64) < window {
            self.miss(range.start..range.start + window);
        }
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_like_the_whole_file_and_notes_misses() {
        let file: Vec<u8> = (0..200u8).collect();
        let s = Sparse::new(
            200,
            vec![
                (10, file[10..50].to_vec()),
                (40, file[40..60].to_vec()),
                (100, file[100..110].to_vec()),
            ],
        );
        assert_eq!((&s).read_bytes_at(12, 48).unwrap(), &file[12..60]);
        assert!((&s).read_bytes_at(190, 20).is_err(), "past the end");
        assert!(s.misses().is_empty(), "past the end is no miss");
        assert!((&s).read_bytes_at(55, 10).is_err());
        assert_eq!(s.misses(), vec![55..65]);
        // Until a delimiter: found within what is kept, or a miss.
        let z = Sparse::new(8, vec![(0, b"ab\0cd\0ef".to_vec())]);
        assert_eq!((&z).read_bytes_at_until(3..8, 0).unwrap(), b"cd");
        assert!((&z).read_bytes_at_until(6..8, 0).is_err());
        assert!(
            z.misses().is_empty(),
            "no NUL in the whole window: the file's own error"
        );
        let p = Sparse::new(100, vec![(0, b"abc".to_vec())]);
        assert!((&p).read_bytes_at_until(0..100, 0).is_err());
        assert_eq!(p.misses(), vec![0..100]);
    }
}
