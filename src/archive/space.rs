//! Room for the unpacked tree on the work dir's filesystem.
//!
//! Before unpacking, what the archive says it will need is compared with what is free:
//! the uncompressed size an xz index or zstd frame headers record (both structures
//! checked whole first), the size of a plain tar or the sum of a zip's entries. While
//! unpacking, every header adds what its entry will take (its declared size rounded up
//! to whole blocks, and an inode). When the need passes the free space the pass stops
//! with a clear error before the disk fills up, not with `ENOSPC` half way, and says how
//! to point the work dir elsewhere.
//!
//! A gzip trailer's size is not used: it is the last member's size modulo 4 GiB, and
//! the last four bytes of a truncated or corrupt download are no size at all, which
//! would turn Nomad's `unexpected EOF` into "not enough room" here. A big file's tar
//! header still comes before its data, so a gzip bomb stops before any of it is written.
//!
//! The need counts declared sizes: runs of zeros are written as holes (see
//! [`super::writer`]) and may end up costing nothing, but a Nomad client writes every
//! byte, so an archive that does not fit here would not fit there either.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::ArchiveKind;

/// Left free on top of the need, for the filesystem's own metadata and other programs:
/// 16 MiB, or a 32nd of the free space on a small filesystem.
fn reserve(free: u64) -> u64 {
    (16u64 << 20).min(free / 32)
}

/// Not enough room: what was needed, what is free, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSpace {
    pub needed: u64,
    pub free: u64,
    /// `true` when inodes (entries), not bytes, run out.
    pub inodes: bool,
    /// Where the figure comes from (`the xz index`, `the tar headers so far`, …).
    pub basis: &'static str,
    pub dir: PathBuf,
}

impl std::fmt::Display for NoSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, need, free) = if self.inodes {
            (
                "entries",
                format!("{} inodes", self.needed),
                format!("{} inodes", self.free),
            )
        } else {
            ("bytes", human(self.needed), human(self.free))
        };
        if self.needed == 0 {
            // No figure: the filesystem filled up anyway (something else took the room).
            return write!(
                f,
                "the filesystem under `{}` filled up while the bundle was unpacked ({free} free now). \
                 Point the work dir at a bigger filesystem with TMPDIR= (e.g. `TMPDIR=/var/tmp nomad-chroot-check …`)",
                self.dir.display()
            );
        }
        write!(
            f,
            "not enough room to unpack the bundle under `{}`: it needs {need} ({}), only {free} are free there. \
             Point the work dir at a bigger filesystem with TMPDIR= (e.g. `TMPDIR=/var/tmp nomad-chroot-check …`); \
             the check stopped before filling the disk (a Nomad client needs as many {what} for this artifact)",
            self.dir.display(),
            self.basis
        )
    }
}

/// `8.0 GiB (8589934592 bytes)`.
pub fn human(n: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {} ({n} bytes)", units[u])
    }
}

pub struct Space {
    dir: PathBuf,
    free: u64,
    free_inodes: u64,
    block: u64,
    need: u64,
    need_inodes: u64,
}

impl Space {
    /// The free space and inodes of the filesystem holding `dir`.
    pub fn of(dir: &Path) -> io::Result<Space> {
        let st = nix::sys::statvfs::statvfs(dir)?;
        let frag = st.fragment_size().max(1);
        let free = (st.blocks_available() as u64).saturating_mul(frag);
        // Filesystems without an inode count (btrfs, some FUSE) report 0 of 0.
        let free_inodes = if st.files() == 0 {
            u64::MAX
        } else {
            st.files_available() as u64
        };
        Ok(Space {
            dir: dir.to_owned(),
            free,
            free_inodes,
            block: (st.block_size() as u64).clamp(512, 1 << 20),
            need: 0,
            need_inodes: 0,
        })
    }

    pub fn free(&self) -> u64 {
        self.free
    }

    /// Use at most `bytes` of the free space.
    pub fn cap(&mut self, bytes: u64) {
        self.free = self.free.min(bytes);
    }

    fn no_space(&self, needed: u64, inodes: bool, basis: &'static str) -> NoSpace {
        NoSpace {
            needed,
            free: if inodes { self.free_inodes } else { self.free },
            inodes,
            basis,
            dir: self.dir.clone(),
        }
    }

    /// The archive's own figure for its uncompressed size, before anything is written.
    pub fn expect(&self, bytes: u64, basis: &'static str) -> Result<(), NoSpace> {
        if bytes.saturating_add(reserve(self.free)) > self.free {
            return Err(self.no_space(bytes, false, basis));
        }
        Ok(())
    }

    /// One more entry of `bytes` (0 for a directory or link).
    pub fn add(&mut self, bytes: u64, basis: &'static str) -> Result<(), NoSpace> {
        let blocks = bytes.div_ceil(self.block).saturating_mul(self.block);
        self.need = self.need.saturating_add(blocks);
        self.need_inodes += 1;
        if self.need.saturating_add(reserve(self.free)) > self.free {
            return Err(self.no_space(self.need, false, basis));
        }
        if self.need_inodes > self.free_inodes {
            return Err(self.no_space(self.need_inodes, true, basis));
        }
        Ok(())
    }
}

/// What the compressed container says the tar stream's size is, when it says it:
/// `(bytes, where the figure comes from)`.
pub fn declared_size(kind: ArchiveKind, file: &File) -> Option<(u64, &'static str)> {
    let len = file.metadata().ok()?.len();
    match kind {
        ArchiveKind::Tar => Some((len, "the size of the tar file")),
        ArchiveKind::TarXz => xz_size(file, len).map(|n| (n, "the xz index")),
        ArchiveKind::TarZst => {
            let n = zstd_size(file, len);
            (&*file).seek(SeekFrom::Start(0)).ok()?;
            n.map(|n| (n, "the zstd frame headers"))
        }
        ArchiveKind::TarGz | ArchiveKind::TarBz2 | ArchiveKind::Zip => None,
    }
}

fn crc32(b: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(b);
    c.sum()
}

/// An xz multibyte integer at `b[*at..]`.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..9 {
        let c = *b.get(*at)?;
        *at += 1;
        v |= ((c & 0x7f) as u64) << (7 * i);
        if c & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The uncompressed size of the last xz stream, from its index (`xz -l` reads the same).
fn xz_size(file: &File, len: u64) -> Option<u64> {
    let mut footer = [0u8; 12];
    file.read_exact_at(&mut footer, len.checked_sub(12)?).ok()?;
    if footer[10..] != *b"YZ"
        || crc32(&footer[4..10]) != u32::from_le_bytes(footer[..4].try_into().ok()?)
    {
        return None;
    }
    let backward = (u32::from_le_bytes(footer[4..8].try_into().ok()?) as u64 + 1) * 4;
    if backward > 1 << 30 {
        return None;
    }
    let mut index = vec![0u8; backward as usize];
    file.read_exact_at(&mut index, len.checked_sub(12 + backward)?)
        .ok()?;
    // The index ends with its own CRC-32.
    let (body, crc) = index.split_at(index.len().checked_sub(4)?);
    if index.first() != Some(&0) || crc32(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut at = 1;
    let records = varint(&index, &mut at)?;
    let mut total = 0u64;
    for _ in 0..records.min(1 << 24) {
        let _unpadded = varint(&index, &mut at)?;
        total = total.checked_add(varint(&index, &mut at)?)?;
    }
    Some(total)
}

/// The summed `Frame_Content_Size` of every zstd frame, if each has one.
fn zstd_size(file: &File, len: u64) -> Option<u64> {
    let mut f = file;
    f.seek(SeekFrom::Start(0)).ok()?;
    let mut r = io::BufReader::new(f);
    let mut at = 0u64;
    let mut total = 0u64;
    let mut frames = 0;
    while at < len {
        let mut magic = [0u8; 4];
        r.read_exact(&mut magic).ok()?;
        let m = u32::from_le_bytes(magic);
        if m & 0xffff_fff0 == 0x184d_2a50 {
            let mut n = [0u8; 4];
            r.read_exact(&mut n).ok()?;
            let n = u32::from_le_bytes(n) as u64;
            r.seek_relative(n as i64).ok()?;
            at += 8 + n;
            continue;
        }
        if m != 0xfd2f_b528 {
            return None;
        }
        let mut d = [0u8; 1];
        r.read_exact(&mut d).ok()?;
        let d = d[0];
        let single = d & 0x20 != 0;
        let fcs_len = match d >> 6 {
            0 if single => 1,
            0 => return None,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let did_len = [0, 1, 2, 4][(d & 3) as usize];
        let skip = (!single) as i64 + did_len;
        r.seek_relative(skip).ok()?;
        let mut fcs = [0u8; 8];
        r.read_exact(&mut fcs[..fcs_len]).ok()?;
        let mut size = u64::from_le_bytes(fcs);
        if fcs_len == 2 {
            size += 256;
        }
        total = total.checked_add(size)?;
        at += 5 + skip as u64 + fcs_len as u64;
        // Hop over the blocks: 3-byte headers say each one's size.
        loop {
            let mut bh = [0u8; 3];
            r.read_exact(&mut bh).ok()?;
            let h = u32::from_le_bytes([bh[0], bh[1], bh[2], 0]);
            let last = h & 1 != 0;
            let size = match (h >> 1) & 3 {
                1 => 1,
                3 => return None,
                _ => (h >> 3) as u64,
            };
            r.seek_relative(size as i64).ok()?;
            at += 3 + size;
            if last {
                break;
            }
        }
        if d & 0x04 != 0 {
            r.seek_relative(4).ok()?;
            at += 4;
        }
        frames += 1;
    }
    (frames > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn sizes_from_the_containers() {
        let data = vec![7u8; 3_000_000];
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(&data).unwrap();
        let xz = e.finish().unwrap();
        assert_eq!(
            declared_size(ArchiveKind::TarXz, &file(&xz)).map(|d| d.0),
            Some(3_000_000)
        );
        // As the zstd tool writes a file: with its size in the frame header.
        let mut zst = zstd::bulk::compress(&data[..1_000_000], 3).unwrap();
        zst.extend(zstd::bulk::compress(&data[..2_000_000], 3).unwrap());
        assert_eq!(
            declared_size(ArchiveKind::TarZst, &file(&zst)).map(|d| d.0),
            Some(3_000_000)
        );
        // A cut xz has no index to trust, a cut zstd no last frame.
        assert_eq!(
            declared_size(ArchiveKind::TarXz, &file(&xz[..xz.len() - 1])),
            None
        );
        assert_eq!(
            declared_size(ArchiveKind::TarZst, &file(&zst[..zst.len() - 3])),
            None
        );
        assert_eq!(declared_size(ArchiveKind::TarXz, &file(b"not xz")), None);
    }

    #[test]
    fn the_need_grows_by_whole_blocks_and_stops_at_the_free_space() {
        let mut s = Space {
            dir: "/x".into(),
            free: (16 << 20) + 10_000,
            free_inodes: 3,
            block: 4096,
            need: 0,
            need_inodes: 0,
        };
        s.add(1, "h").unwrap();
        s.add(4096, "h").unwrap();
        let e = s.add(16 << 20, "h").unwrap_err();
        assert_eq!((e.needed, e.inodes), (8192 + (16 << 20), false));
        // The failed entry counted; one more inode is one too many.
        s.need = 0;
        let msg = e.to_string();
        assert!(
            msg.contains("TMPDIR=") && msg.contains("16.0 MiB (16785408 bytes)"),
            "{msg}"
        );
        let e = s.add(1, "h").unwrap_err();
        assert_eq!((e.needed, e.inodes), (4, true));
    }
}
