//! Which decompressor go-getter picks for a name, and what the bytes really are.
//!
//! go-getter chooses by the longest known suffix of the URL path
//! (`hashicorp/go-getter:client.go` `Get`, keys from `decompress.go`
//! `LimitedDecompressors`); the `archive=` option overrides it. The content is sniffed
//! by magic bytes so that a mislabelled bundle is still checked.

use super::ArchiveKind;
use crate::nomad::NomadVersion;

/// What go-getter does with a download, judged by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// An archive decompressor: the bundle is unpacked into the destination.
    Archive(ArchiveKind),
    /// A single-file decompressor (`gz`, `bz2`, `xz`, `zst`): the bundle is decompressed
    /// into one file, not unpacked.
    SingleFile(&'static str),
    /// No decompressor: the bundle is saved as one file.
    None,
}

/// The content as its magic bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Archive(ArchiveKind),
    Unknown,
}

/// go-getter's decompressor keys for a Nomad version (`decompress.go`; go-getter 1.5.0,
/// vendored by Nomad 1.0–1.3, lacked `tar`, `tar.zst`, `tzst` and `zst`).
fn keys(version: NomadVersion) -> Vec<(&'static str, Choice)> {
    use ArchiveKind::*;
    let mut k = vec![
        ("tar.gz", Choice::Archive(TarGz)),
        ("tgz", Choice::Archive(TarGz)),
        ("tar.bz2", Choice::Archive(TarBz2)),
        ("tbz2", Choice::Archive(TarBz2)),
        ("tar.xz", Choice::Archive(TarXz)),
        ("txz", Choice::Archive(TarXz)),
        ("zip", Choice::Archive(Zip)),
        ("gz", Choice::SingleFile("gz")),
        ("bz2", Choice::SingleFile("bz2")),
        ("xz", Choice::SingleFile("xz")),
    ];
    if version.getter_knows_plain_tar_and_zstd() {
        k.extend([
            ("tar", Choice::Archive(Tar)),
            ("tar.zst", Choice::Archive(TarZst)),
            ("tzst", Choice::Archive(TarZst)),
            ("zst", Choice::SingleFile("zst")),
        ]);
    }
    k
}

/// The key go-getter would use for `kind` (`archive=` values).
pub fn key_of(kind: ArchiveKind) -> &'static str {
    match kind {
        ArchiveKind::Tar => "tar",
        ArchiveKind::TarGz => "tar.gz",
        ArchiveKind::TarBz2 => "tar.bz2",
        ArchiveKind::TarXz => "tar.xz",
        ArchiveKind::TarZst => "tar.zst",
        ArchiveKind::Zip => "zip",
    }
}

/// The decompressor go-getter runs. An `archive=` value it does not know falls back to
/// the suffix, as `client.go` does (`if decompressor == nil { … suffix … }`). The match
/// is case-sensitive and needs the dot (`strings.HasSuffix(u.Path, "."+k)`).
pub fn choose(name: &str, archive: Option<ArchiveKind>, version: NomadVersion) -> Choice {
    let keys = keys(version);
    if let Some(kind) = archive {
        if let Some((_, c)) = keys.iter().find(|(k, _)| *k == key_of(kind)) {
            return *c;
        }
    }
    keys.iter()
        .filter(|(k, _)| name.ends_with(&format!(".{k}")))
        .max_by_key(|(k, _)| k.len())
        .map(|(_, c)| *c)
        .unwrap_or(Choice::None)
}

/// Magic bytes of the first block of the file.
pub fn detect(head: &[u8]) -> Detected {
    use ArchiveKind::*;
    let kind = if head.starts_with(&[0x1f, 0x8b]) {
        TarGz
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        TarXz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        TarZst
    } else if head.starts_with(b"BZh") {
        TarBz2
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Zip
    } else if looks_like_tar(head) {
        Tar
    } else {
        return Detected::Unknown;
    };
    Detected::Archive(kind)
}

/// A ustar/GNU magic, or a v7 header whose checksum adds up.
fn looks_like_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    let field = &head[148..156];
    let digits: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .skip_while(|c| *c == ' ')
        .collect();
    let Ok(stored) = u32::from_str_radix(digits.trim(), 8) else {
        return false;
    };
    let sum: u32 = head[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    stored == sum && head[0] != 0
}

/// Human name of a format, as the report's `bundle.format` shows it.
pub fn format_name(kind: ArchiveKind) -> &'static str {
    match kind {
        ArchiveKind::Tar => "tar",
        ArchiveKind::TarGz => "tar+gzip",
        ArchiveKind::TarBz2 => "tar+bzip2",
        ArchiveKind::TarXz => "tar+xz",
        ArchiveKind::TarZst => "tar+zstd",
        ArchiveKind::Zip => "zip",
    }
}

/// The format a single-file decompressor key names in go-getter's messages
/// (`gzip-compressed files can only …`).
pub fn single_file_format(key: &str) -> &'static str {
    match key {
        "gz" => "gzip",
        "bz2" => "bzip2",
        "xz" => "xz",
        _ => "zstd",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_suffix_wins_and_archive_option_overrides() {
        let v = NomadVersion::NEWEST;
        assert_eq!(
            choose("app.tar.gz", None, v),
            Choice::Archive(ArchiveKind::TarGz)
        );
        assert_eq!(
            choose("app.tgz", None, v),
            Choice::Archive(ArchiveKind::TarGz)
        );
        assert_eq!(
            choose("app.tar.zst", None, v),
            Choice::Archive(ArchiveKind::TarZst)
        );
        assert_eq!(choose("app.gz", None, v), Choice::SingleFile("gz"));
        assert_eq!(choose("app.TAR.GZ", None, v), Choice::None);
        assert_eq!(choose("tar", None, v), Choice::None);
        assert_eq!(
            choose("app.bin", Some(ArchiveKind::TarXz), v),
            Choice::Archive(ArchiveKind::TarXz)
        );
    }

    #[test]
    fn go_getter_1_5_lacks_tar_and_zstd() {
        let v: NomadVersion = "1.0".parse().unwrap();
        assert_eq!(choose("app.tar", None, v), Choice::None);
        assert_eq!(choose("app.tar.zst", None, v), Choice::None);
        assert_eq!(
            choose("app.tar.xz", None, v),
            Choice::Archive(ArchiveKind::TarXz)
        );
        // An unknown `archive=` value falls back to the suffix.
        assert_eq!(
            choose("app.tgz", Some(ArchiveKind::Tar), v),
            Choice::Archive(ArchiveKind::TarGz)
        );
    }

    #[test]
    fn magic_bytes() {
        assert_eq!(
            detect(&[0x1f, 0x8b, 8, 0]),
            Detected::Archive(ArchiveKind::TarGz)
        );
        assert_eq!(detect(b"BZh91AY"), Detected::Archive(ArchiveKind::TarBz2));
        assert_eq!(detect(b"hello"), Detected::Unknown);
        let mut h = tar::Header::new_gnu();
        h.set_path("a").unwrap();
        h.set_size(0);
        h.set_cksum();
        assert_eq!(detect(h.as_bytes()), Detected::Archive(ArchiveKind::Tar));
        let mut v7 = tar::Header::new_old();
        v7.set_path("a").unwrap();
        v7.set_cksum();
        assert_eq!(detect(v7.as_bytes()), Detected::Archive(ArchiveKind::Tar));
    }
}
