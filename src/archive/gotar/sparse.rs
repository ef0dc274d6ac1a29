//! Sparse files as Go's reader expands them (`handleSparseFile`): old GNU `S` headers
//! (four map entries in the header, 21 in each extension block) and PAX sparse formats
//! 0.0 (repeated offset/numbytes records, folded into a map by `parse_pax`), 0.1 (a
//! `GNU.sparse.map` record) and 1.0 (the map in decimal lines at the start of the data).
//! The map is validated as Go validates it and turned into the list of holes that
//! [`Reader::read`] skips over.

use std::io::Read;

use super::{
    BLOCK, Current, Error, Format, Header, Pax, Reader, Result, fill, header_only, numeric,
    parse_int,
};

/// Go's `validateSparseEntries` then `invertSparseEntries`: the holes between the data
/// fragments, normalised.
fn holes(data: &[(i64, i64)], size: i64) -> Option<Vec<(i64, i64)>> {
    if size < 0 {
        return None;
    }
    let mut pre_end = 0i64;
    for &(off, len) in data {
        if off < 0 || len < 0 || off > i64::MAX - len || off + len > size || pre_end > off {
            return None;
        }
        pre_end = off + len;
    }
    let mut out = Vec::new();
    let mut pre = (0i64, 0i64);
    for &(off, len) in data {
        if len == 0 {
            continue;
        }
        pre.1 = off - pre.0;
        if pre.1 > 0 {
            out.push(pre);
        }
        pre.0 = off + len;
    }
    pre.1 = size - pre.0;
    out.push(pre);
    Some(out)
}

impl<R: Read> Reader<R> {
    /// `handleSparseFile`: old GNU sparse headers and PAX sparse records.
    pub(super) fn sparse(
        &mut self,
        h: &mut Header,
        block: &[u8; BLOCK],
        fmt: Format,
        pax: &Pax,
    ) -> Result<()> {
        let data = if h.typeflag == b'S' {
            Some(self.old_gnu_map(h, block, fmt)?)
        } else {
            self.pax_map(h, pax)?
        };
        let Some(data) = data else { return Ok(()) };
        if header_only(h.typeflag) {
            return Err(Error::Header);
        }
        let holes = holes(&data, h.size).ok_or(Error::Header)?;
        let left = self.cur.physical();
        self.cur = Current::Sparse {
            left,
            holes,
            at: 0,
            pos: 0,
        };
        Ok(())
    }

    /// `readOldGNUSparseMap`: four entries in the header, 21 in each extension block.
    pub(super) fn old_gnu_map(
        &mut self,
        h: &mut Header,
        block: &[u8; BLOCK],
        fmt: Format,
    ) -> Result<Vec<(i64, i64)>> {
        if fmt != Format::Gnu {
            return Err(Error::Header);
        }
        h.size = numeric(&block[483..495]).ok_or(Error::Header)?;
        let mut out = Vec::new();
        let mut area = block[386..483].to_vec();
        loop {
            let max = area.len() / 24;
            for i in 0..max {
                let e = &area[i * 24..i * 24 + 24];
                if e[0] == 0 {
                    break;
                }
                let off = numeric(&e[..12]).ok_or(Error::Header)?;
                let len = numeric(&e[12..]).ok_or(Error::Header)?;
                out.push((off, len));
            }
            if area[max * 24] == 0 {
                return Ok(out);
            }
            let mut ext = [0u8; BLOCK];
            if fill(&mut self.r, &mut ext)? < BLOCK {
                return Err(Error::UnexpectedEof);
            }
            area = ext.to_vec();
        }
    }

    /// `readGNUSparsePAXHeaders`: `None` when the entry is not a PAX sparse file.
    pub(super) fn pax_map(&mut self, h: &mut Header, pax: &Pax) -> Result<Option<Vec<(i64, i64)>>> {
        let get = |k: &str| pax.get(k.as_bytes()).map(Vec::as_slice).unwrap_or(b"");
        let (major, minor) = (get("GNU.sparse.major"), get("GNU.sparse.minor"));
        let v1 = match (major, minor) {
            (b"0", b"0" | b"1") => false,
            (b"1", b"0") => true,
            (b"", b"") if !get("GNU.sparse.map").is_empty() => false,
            _ => return Ok(None),
        };
        let name = get("GNU.sparse.name");
        if !name.is_empty() {
            h.name = name.to_vec();
        }
        let size = match get("GNU.sparse.size") {
            b"" => get("GNU.sparse.realsize"),
            s => s,
        };
        if !size.is_empty() {
            h.size = parse_int(size).ok_or(Error::Header)?;
        }
        if v1 {
            return self.map_1_0().map(Some);
        }
        let count = parse_int(get("GNU.sparse.numblocks")).ok_or(Error::Header)?;
        if count < 0 || count.checked_mul(2).is_none() {
            return Err(Error::Header);
        }
        let map = get("GNU.sparse.map");
        let fields: Vec<&[u8]> = if map.is_empty() {
            Vec::new()
        } else {
            map.split(|&c| c == b',').collect()
        };
        if fields.len() as i64 != 2 * count {
            return Err(Error::Header);
        }
        fields
            .chunks(2)
            .map(|p| Some((parse_int(p[0])?, parse_int(p[1])?)))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or(Error::Header)
    }

    /// `readGNUSparseMap1x0`: newline-separated decimal numbers at the start of the
    /// data, in whole blocks.
    pub(super) fn map_1_0(&mut self) -> Result<Vec<(i64, i64)>> {
        let mut buf: Vec<u8> = Vec::new();
        let mut at = 0;
        let mut newlines = 0i64;
        let feed =
            |me: &mut Self, buf: &mut Vec<u8>, newlines: &mut i64, want: i64| -> Result<()> {
                while *newlines < want {
                    let mut blk = [0u8; BLOCK];
                    me.read_plain_full(&mut blk)?;
                    buf.extend_from_slice(&blk);
                    *newlines += blk.iter().filter(|&&c| c == b'\n').count() as i64;
                }
                Ok(())
            };
        let token = |buf: &Vec<u8>, at: &mut usize, newlines: &mut i64| -> Vec<u8> {
            *newlines -= 1;
            let rest = &buf[*at..];
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            *at += (end + 1).min(rest.len());
            rest[..end].to_vec()
        };
        feed(self, &mut buf, &mut newlines, 1)?;
        let count = parse_int(&token(&buf, &mut at, &mut newlines)).ok_or(Error::Header)?;
        if count < 0 || count.checked_mul(2).is_none() {
            return Err(Error::Header);
        }
        feed(self, &mut buf, &mut newlines, 2 * count)?;
        let mut out = Vec::new();
        for _ in 0..count {
            let off = parse_int(&token(&buf, &mut at, &mut newlines));
            let len = parse_int(&token(&buf, &mut at, &mut newlines));
            match (off, len) {
                (Some(o), Some(l)) => out.push((o, l)),
                _ => return Err(Error::Header),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_the_gaps_between_fragments() {
        assert_eq!(
            holes(&[(0, 10), (20, 5)], 40),
            Some(vec![(10, 10), (25, 15)])
        );
        assert_eq!(holes(&[(0, 40)], 40), Some(vec![(40, 0)]));
        assert_eq!(holes(&[], 40), Some(vec![(0, 40)]));
        assert_eq!(holes(&[(0, 10), (5, 5)], 40), None);
        assert_eq!(holes(&[(35, 10)], 40), None);
    }
}
