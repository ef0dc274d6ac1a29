//! Every format and name go-getter knows, mislabelled content, empty and zero-byte
//! archives, truncation and corruption of each compressor.

use super::*;

pub fn formats(c: &mut Corpus) {
    let t = sample_tar();
    c.add("format/tar", "tar", t.clone());
    for (id, suffix, f) in [
        ("tar.gz", "tar.gz", gz as fn(&[u8]) -> Vec<u8>),
        ("tgz", "tgz", gz),
        ("tar.bz2", "tar.bz2", bz2),
        ("tbz2", "tbz2", bz2),
        ("tar.xz", "tar.xz", xz),
        ("txz", "txz", xz),
        ("tar.zst", "tar.zst", zst),
        ("tzst", "tzst", zst),
    ] {
        c.add(&format!("format/{id}"), suffix, f(&t));
    }
    c.add("format/zip", "zip", sample_zip());
    // As GNU tar writes it: padded to a 10 KiB record.
    let gnu = Tar::new()
        .dir("d/", 0o755)
        .file("d/f", 0o644, b"f\n")
        .end_record();
    c.add("format/tar.gz-record-padded", "tar.gz", gz(&gnu));
    c.add("format/tar-record-padded", "tar", gnu);
}

/// Every content under every archive name it is not.
pub fn mislabelled(c: &mut Corpus) {
    let t = Tar::new().file("f", 0o644, b"content\n").end();
    let contents: Vec<(&str, Vec<u8>)> = vec![
        ("tar", t.clone()),
        ("gz", gz(&t)),
        ("bz2", bz2(&t)),
        ("xz", xz(&t)),
        ("zst", zst(&t)),
        (
            "zip",
            zip(&[Ze::file("f", 0o644, b"content\n")], &ZipOpts::default()),
        ),
        (
            "text",
            b"<html><body>404 Not Found</body></html>\n".to_vec(),
        ),
    ];
    let archive_names = [
        ("tar", "tar"),
        ("gz", "tar.gz"),
        ("bz2", "tar.bz2"),
        ("xz", "tar.xz"),
        ("zst", "tar.zst"),
        ("zip", "zip"),
    ];
    for (what, bytes) in &contents {
        for (matching, suffix) in archive_names {
            if *what != matching {
                c.add(
                    &format!("mislabelled/{what}-as-{suffix}"),
                    suffix,
                    bytes.clone(),
                );
            }
        }
    }
    // Single-file decompressors: with dir = true (mode "any") they refuse before reading.
    for (what, bytes) in &contents {
        if let Some(single) = ["gz", "bz2", "xz", "zst"].iter().find(|s| *s == what) {
            c.add(&format!("single/{single}-tarball"), single, bytes.clone());
        }
    }
    c.add("single/gz-text", "gz", b"plain text\n".to_vec());
    c.add("single/zst-of-a-file", "zst", zst(b"one file\n"));
    c.add("single/xz-of-a-file", "xz", xz(b"one file\n"));
    c.add("single/bz2-of-a-file", "bz2", bz2(b"one file\n"));
}

pub fn empty(c: &mut Corpus) {
    for k in KEYS {
        c.add(&format!("zero-bytes/{k}"), k, Vec::new());
    }
    let end = Tar::new().end();
    c.add("empty/tar-end-only", "tar", end.clone());
    for (s, f) in COMPRESSORS {
        c.add(
            &format!("empty/tar.{s}-end-only"),
            &format!("tar.{s}"),
            f(&end),
        );
    }
    c.add("empty/tar-one-zero-block", "tar", vec![0; 512]);
    c.add("empty/tar.gz-of-nothing", "tar.gz", gz(b""));
    c.add(
        "empty/tar.gz-only-dirs",
        "tar.gz",
        gz(&Tar::new().dir("a/", 0o755).dir("a/b/", 0o700).end()),
    );
    c.add(
        "empty/tar-only-global-header",
        "tar",
        Tar::new().pax(b'g', &[("comment", b"hi")]).end(),
    );
    c.add("empty/zip-no-entries", "zip", zip(&[], &ZipOpts::default()));
    c.add(
        "empty/zip-only-dirs",
        "zip",
        zip(
            &[Ze::dir("a/", 0o755), Ze::dir("a/b/", 0o700)],
            &ZipOpts::default(),
        ),
    );
}

pub fn truncation(c: &mut Corpus) {
    let t = Tar::new()
        .file("a", 0o644, &content(30, 3000))
        .file("b", 0o644, &content(31, 700));
    let full = t.clone().end();
    let raw = t.clone().bytes();
    c.add("truncated/no-end-marker", "tar", raw.clone());
    c.add(
        "truncated/one-zero-block",
        "tar",
        t.clone().raw(&[0; 512]).bytes(),
    );
    c.add(
        "truncated/zero-block-then-garbage",
        "tar",
        t.clone().raw(&[0; 512]).raw(&[b'g'; 512]).bytes(),
    );
    c.add(
        "truncated/zero-block-then-header",
        "tar",
        t.clone().raw(&[0; 512]).file("c", 0o644, b"c\n").end(),
    );
    c.add(
        "truncated/garbage-after-end",
        "tar",
        t.clone().raw(&[0; 1024]).raw(b"trailing garbage").bytes(),
    );
    // `a` is at 0 (header) + 512 (data, 3000 bytes → 3072 padded); `b` at 3584.
    c.add("truncated/in-header", "tar", full[..3584 + 300].to_vec());
    c.add("truncated/in-data", "tar", full[..512 + 1000].to_vec());
    c.add("truncated/in-padding", "tar", full[..512 + 3010].to_vec());
    c.add("truncated/after-data", "tar", full[..512 + 3000].to_vec());
    c.add(
        "truncated/in-end-marker",
        "tar",
        full[..full.len() - 300].to_vec(),
    );
    let pax = Tar::new()
        .pax(b'x', &[("path", b"p".repeat(600).as_slice())])
        .bytes();
    c.add("truncated/in-pax-data", "tar", pax[..512 + 300].to_vec());
    let gnu = Tar::new().gnu_long(b'L', &b"l".repeat(600)).bytes();
    c.add(
        "truncated/in-longname-data",
        "tar",
        gnu[..512 + 300].to_vec(),
    );
    let many: Vec<(u64, u64)> = (0..30).map(|i| (i * 8192, 100)).collect();
    let sp = gnu_sparse("s", &many, 300_000, 3000, Fmt::Gnu);
    c.add(
        "truncated/in-sparse-extension",
        "tar",
        sp[..512 + 100].to_vec(),
    );

    for (s, f) in COMPRESSORS {
        let z = f(&full);
        c.add(
            &format!("truncated/{s}-half"),
            &format!("tar.{s}"),
            z[..z.len() / 2].to_vec(),
        );
        c.add(
            &format!("truncated/{s}-last-bytes"),
            &format!("tar.{s}"),
            z[..z.len() - 4].to_vec(),
        );
        c.add(
            &format!("truncated/{s}-header-only"),
            &format!("tar.{s}"),
            z[..6.min(z.len())].to_vec(),
        );
        let mut garbage = z.clone();
        garbage.extend_from_slice(b"trailing garbage after the stream");
        c.add(
            &format!("trailing/{s}-garbage"),
            &format!("tar.{s}"),
            garbage,
        );
        let mut twice = f(&raw[..512 + 3072]);
        twice.extend(f(&raw[512 + 3072..]).into_iter().chain(f(&[0; 1024])));
        c.add(
            &format!("trailing/{s}-concatenated"),
            &format!("tar.{s}"),
            twice,
        );
    }
    let padded = Tar::new().file("a", 0o644, b"a\n").end_record();
    let mut bad_crc = gz(&padded);
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    c.add("trailing/gz-bad-crc-record-padded", "tar.gz", bad_crc);
    let mut bad_crc = gz(&full);
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    c.add("trailing/gz-bad-crc", "tar.gz", bad_crc);
    let mut bad_size = gz(&full);
    let n = bad_size.len();
    bad_size[n - 1] ^= 0x01;
    c.add("trailing/gz-bad-isize", "tar.gz", bad_size);
    let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
    skippable.extend(zst(&full));
    c.add("trailing/zst-skippable-frame-first", "tar.zst", skippable);
    // Header fields that compressors set: gzip's name, comment, extra field and header
    // CRC (Go reads a name or comment of at most 511 bytes), xz's other checks, zstd's
    // checksum and content size.
    let small = Tar::new().file("a", 0o644, b"a\n").end();
    for (id, bytes) in [
        (
            "name",
            gz_with(&small, None, Some(b"bundle.tar"), None, None),
        ),
        (
            "name-comment-extra",
            gz_with(
                &small,
                Some(b"AB\x02\0xy"),
                Some(b"b.tar"),
                Some(b"made here"),
                None,
            ),
        ),
        (
            "header-crc",
            gz_with(&small, None, Some(b"b.tar"), None, Some(true)),
        ),
        (
            "header-crc-bad",
            gz_with(&small, None, Some(b"b.tar"), None, Some(false)),
        ),
        (
            "name-511",
            gz_with(&small, None, Some(&[b'n'; 511]), None, None),
        ),
        (
            "name-512",
            gz_with(&small, None, Some(&[b'n'; 512]), None, None),
        ),
        (
            "comment-600",
            gz_with(&small, None, None, Some(&[b'c'; 600]), None),
        ),
    ] {
        c.add(&format!("header/gz-{id}"), "tar.gz", bytes);
    }
    for (id, check) in [
        ("crc32", liblzma::stream::Check::Crc32),
        ("sha256", liblzma::stream::Check::Sha256),
        ("none", liblzma::stream::Check::None),
    ] {
        c.add(
            &format!("header/xz-check-{id}"),
            "tar.xz",
            xz_check(&small, check),
        );
    }
    c.add("header/zst-checksum-and-size", "tar.zst", zst_cli(&full));
    let mut corrupt = gz(&full);
    corrupt[20] ^= 0xff;
    c.add("corrupt/gz-deflate-byte", "tar.gz", corrupt);
    // Bad deflate data further in: Go's `flate: corrupt input before offset N` counts
    // the bytes its decoder took, and data before the error still comes out first.
    let varied = Tar::new()
        .file("a", 0o644, &content(60, 20_000))
        .file("b", 0o644, &content(61, 20_000))
        .end();
    let z = gz(&varied);
    for (i, at) in [z.len() / 5, z.len() / 3, z.len() / 2, z.len() * 4 / 5]
        .into_iter()
        .enumerate()
    {
        let mut b = z.clone();
        b[at..at + 3].copy_from_slice(&[0xa5, 0x5a, 0xff]);
        c.add(&format!("corrupt/gz-deflate-{i}"), "tar.gz", b);
    }
    let mut hdr = gz(&full);
    hdr[3] = 0xe0; // reserved flag bits
    c.add("corrupt/gz-reserved-flags", "tar.gz", hdr);
}
