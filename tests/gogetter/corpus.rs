//! The corpus of archive shapes replayed against recorded go-getter outputs.
//!
//! Deterministic: the same list of the same bytes on every machine (the expected data
//! records each case's SHA-256, so a change here shows up as "re-record"). Each case is
//! one artifact as Nomad would download it: a file name (whose suffix picks go-getter's
//! decompressor), its bytes, and the client's two decompression limits.

use super::shapes::*;

pub const DEFAULT_FILES: u64 = 4096;
pub const DEFAULT_SIZE: u64 = 100_000_000_000;

pub struct Case {
    /// Stable, unique: `<group>/<shape>`.
    pub id: String,
    /// The artifact's file name; go-getter picks the decompressor by its suffix.
    pub name: String,
    pub bytes: Vec<u8>,
    /// `decompression_file_count_limit` (0: unlimited).
    pub files_limit: u64,
    /// `decompression_size_limit` in bytes (0: unlimited).
    pub size_limit: u64,
}

/// go-getter's decompressor keys (`decompress.go` `LimitedDecompressors`, v1.7.0–1.8.6),
/// longest first, so the first suffix that matches is the one `client.go` picks.
pub const KEYS: [&str; 14] = [
    "tar.bz2", "tar.zst", "tar.gz", "tar.xz", "tbz2", "tzst", "tar", "tgz", "txz", "zip", "bz2",
    "zst", "gz", "xz",
];

pub fn key_of(name: &str) -> &'static str {
    KEYS.iter()
        .find(|k| name.ends_with(&format!(".{k}")))
        .copied()
        .expect("every corpus name has a decompressor suffix")
}

struct Corpus(Vec<Case>);

impl Corpus {
    fn add(&mut self, id: &str, suffix: &str, bytes: Vec<u8>) {
        self.limits(id, suffix, bytes, DEFAULT_FILES, DEFAULT_SIZE);
    }

    fn limits(&mut self, id: &str, suffix: &str, bytes: Vec<u8>, files: u64, size: u64) {
        assert!(
            !self.0.iter().any(|c| c.id == id),
            "duplicate corpus id {id}"
        );
        self.0.push(Case {
            id: id.to_owned(),
            name: format!("bundle.{suffix}"),
            bytes,
            files_limit: files,
            size_limit: size,
        });
    }
}

/// A small tree with every kind of entry Nix bundles have.
fn sample_tar() -> Vec<u8> {
    Tar::new()
        .dir("app/", 0o755)
        .dir("app/bin/", 0o755)
        .file("app/bin/run", 0o755, b"#!/bin/sh\necho run\n")
        .link(b'2', "app/bin/sh", "run")
        .link(b'1', "app/bin/run2", "app/bin/run")
        .file("app/etc/conf", 0o644, &content(1, 1500))
        .dir("app/etc/", 0o750)
        .file(
            "/nix/store/0c8r9ihpqy4mkvdgb8rwmhi5dnrb2v2l-hello/bin/hello",
            0o555,
            b"\x7fELF",
        )
        .end()
}

fn sample_zip() -> Vec<u8> {
    zip(
        &[
            Ze::dir("app/", 0o755),
            Ze::file("app/bin/run", 0o755, b"#!/bin/sh\necho run\n"),
            Ze::symlink("app/bin/sh", "run"),
            Ze::file("app/etc/conf", 0o644, &content(1, 1500)),
            Ze::file("other/deep/file", 0o600, b"no dir entries above me"),
        ],
        &ZipOpts::default(),
    )
}

/// A regular file after the entry under test, so that an archive whose only entry is
/// refused or skipped is not merely "empty".
fn tail(t: Tar) -> Vec<u8> {
    t.file("after", 0o644, b"after\n").end()
}

type Compress = fn(&[u8]) -> Vec<u8>;

const COMPRESSORS: [(&str, Compress); 4] = [("gz", gz), ("bz2", bz2), ("xz", xz), ("zst", zst)];

pub fn corpus() -> Vec<Case> {
    let mut c = Corpus(Vec::new());
    formats(&mut c);
    mislabelled(&mut c);
    empty(&mut c);
    typeflags(&mut c);
    modes_and_times(&mut c);
    names(&mut c);
    duplicates(&mut c);
    pax(&mut c);
    sparse(&mut c);
    fields(&mut c);
    truncation(&mut c);
    limits(&mut c);
    zips(&mut c);
    contents(&mut c);
    c.0
}

fn formats(c: &mut Corpus) {
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
fn mislabelled(c: &mut Corpus) {
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

fn empty(c: &mut Corpus) {
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

fn typeflags(c: &mut Corpus) {
    let one = |flag: u8, name: &str, data: &[u8]| {
        tail(Tar::new().entry(Hdr::new(name.as_bytes(), flag, data.len() as u64), data))
    };
    c.add("type/reg-0", "tar", one(b'0', "x", b"zero\n"));
    c.add("type/reg-nul", "tar", one(0, "x", b"nul\n"));
    c.add("type/reg-nul-trailing-slash", "tar", one(0, "x/", b""));
    c.add("type/reg-0-trailing-slash", "tar", one(b'0', "x/", b""));
    c.add(
        "type/reg-0-trailing-slash-data",
        "tar",
        one(b'0', "x/", b"data\n"),
    );
    c.add(
        "type/hardlink",
        "tar",
        tail(
            Tar::new()
                .file("t", 0o600, b"target\n")
                .link(b'1', "x", "t"),
        ),
    );
    c.add(
        "type/hardlink-to-later",
        "tar",
        tail(
            Tar::new()
                .link(b'1', "x", "t")
                .file("t", 0o600, b"target\n"),
        ),
    );
    c.add(
        "type/hardlink-dangling",
        "tar",
        tail(Tar::new().link(b'1', "x", "nowhere")),
    );
    c.add(
        "type/symlink",
        "tar",
        tail(Tar::new().link(b'2', "x", "/etc/passwd")),
    );
    c.add("type/chardev", "tar", one(b'3', "x", b""));
    c.add("type/blockdev", "tar", one(b'4', "x", b""));
    c.add("type/dir", "tar", one(b'5', "x", b""));
    c.add("type/fifo", "tar", one(b'6', "x", b""));
    c.add("type/contiguous", "tar", one(b'7', "x", b"contiguous\n"));
    c.add("type/gnu-dumpdir", "tar", one(b'D', "x/", b"Ya\0Yb\0\0"));
    c.add("type/gnu-volume", "tar", one(b'V', "volume-label", b""));
    c.add(
        "type/gnu-multivolume",
        "tar",
        one(b'M', "x", b"continued\n"),
    );
    c.add("type/gnu-oldlongname", "tar", one(b'N', "x", b"names\n"));
    c.add("type/solaris-xattr", "tar", one(b'X', "x", b"attrs\n"));
    c.add("type/unknown-Z", "tar", one(b'Z', "x", b"zed\n"));
    c.add("type/unknown-8", "tar", one(b'8', "x", b"eight\n"));
    c.add("type/unknown-A-empty", "tar", one(b'A', "x", b""));
    // A socket has no typeflag; the mode field says it.
    c.add(
        "type/reg-with-socket-mode",
        "tar",
        tail(Tar::new().entry(Hdr::new(b"x", b'0', 2).mode(0o140755), b"s\n")),
    );

    // Header-only types read no data whatever their size field says (Go's
    // `isHeaderOnlyType`): with no data following, the archive is fine.
    for (flag, what) in [
        (b'1', "hardlink"),
        (b'2', "symlink"),
        (b'3', "chardev"),
        (b'4', "blockdev"),
        (b'5', "dir"),
        (b'6', "fifo"),
    ] {
        let mut h = Hdr::new(b"x", flag, 100);
        if flag == b'1' || flag == b'2' {
            h = h.link(b"after");
        }
        c.add(
            &format!("header-only/{what}-size-no-data"),
            "tar",
            tail(Tar::new().entry(h, b"")),
        );
    }
    // ... and data following it is read as the next header.
    let text = content(7, 700);
    let printable: Vec<u8> = text.iter().map(|b| b'a' + b % 26).collect();
    c.add(
        "header-only/hardlink-with-data",
        "tar",
        tail(
            Tar::new()
                .file("t", 0o644, b"t\n")
                .entry(Hdr::new(b"x", b'1', 700).link(b"t"), &printable),
        ),
    );
    c.add(
        "header-only/dir-with-data",
        "tar.gz",
        gz(&tail(
            Tar::new().entry(Hdr::new(b"d/", b'5', 700), &printable),
        )),
    );
    let smuggled = Hdr::new(b"smuggled", b'0', 0).block();
    c.add(
        "header-only/symlink-whose-data-is-a-header",
        "tar",
        tail(Tar::new().entry(Hdr::new(b"x", b'2', 512).link(b"t"), &smuggled)),
    );
    c.add(
        "header-only/fifo-size-in-limit",
        "tar",
        tail(Tar::new().entry(Hdr::new(b"x", b'6', 1 << 40), b"")),
    );
}

fn modes_and_times(c: &mut Corpus) {
    for m in [
        0o000, 0o400, 0o777, 0o4755, 0o2755, 0o1755, 0o7777, 0o100644, 0o40755, 0o120777, 0o20644,
        0o7770644,
    ] {
        c.add(
            &format!("mode/file-{m:o}"),
            "tar",
            tail(Tar::new().entry(Hdr::new(b"x", b'0', 2).mode(m), b"x\n")),
        );
    }
    c.add(
        "mode/file-base256",
        "tar",
        tail(Tar::new().entry(
            Hdr {
                mode: Num::B256(0o640),
                ..Hdr::new(b"x", b'0', 2)
            },
            b"x\n",
        )),
    );
    c.add(
        "mode/file-spaces",
        "tar",
        tail(Tar::new().entry(
            Hdr {
                mode: Num::Raw(b"  640 \0".to_vec()),
                ..Hdr::new(b"x", b'0', 2)
            },
            b"x\n",
        )),
    );
    c.add(
        "mode/file-not-octal",
        "tar",
        tail(Tar::new().entry(
            Hdr {
                mode: Num::Raw(b"0000968\0".to_vec()),
                ..Hdr::new(b"x", b'0', 2)
            },
            b"x\n",
        )),
    );
    for m in [0o555, 0o700, 0o000, 0o1777, 0o2755, 0o4700] {
        c.add(
            &format!("mode/dir-{m:o}"),
            "tar",
            Tar::new()
                .dir("d/", m)
                .file("d/f", 0o644, b"f\n")
                .dir("d/e/", 0o755)
                .file("d/e/g", 0o600, b"g\n")
                .end(),
        );
    }
    c.add(
        "mode/dir-after-children",
        "tar",
        Tar::new().file("d/f", 0o644, b"f\n").dir("d/", 0o500).end(),
    );
    c.add(
        "mode/dir-twice",
        "tar",
        Tar::new()
            .dir("d/", 0o700)
            .file("d/f", 0o644, b"f\n")
            .dir("d/", 0o751)
            .end(),
    );

    for (id, n) in [
        ("zero", Num::Oct(0)),
        ("one", Num::Oct(1)),
        ("negative", Num::B256(-100)),
        ("base256", Num::B256(1_600_000_000)),
        ("not-octal", Num::Raw(b"1234567890x".to_vec())),
    ] {
        c.add(
            &format!("mtime/{id}"),
            "tar",
            tail(Tar::new().entry(Hdr::new(b"x", b'0', 2).mtime(n.clone()), b"x\n")),
        );
        c.add(
            &format!("mtime/dir-{id}"),
            "tar",
            tail(Tar::new().entry(Hdr::new(b"d/", b'5', 0).mtime(n), b"")),
        );
    }
    for (id, v) in [
        ("fraction", &b"1600000000.5"[..]),
        ("whole", b"1500000000"),
        ("negative", b"-5"),
        ("zero-fraction", b"0.75"),
        ("invalid", b"12x"),
        ("empty", b""),
    ] {
        c.add(
            &format!("mtime/pax-{id}"),
            "tar",
            tail(
                Tar::new()
                    .pax(b'x', &[("mtime", v)])
                    .file("x", 0o644, b"x\n"),
            ),
        );
    }
    c.add(
        "mtime/pax-dir",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("mtime", b"1234567890.25")])
                .dir("d/", 0o755),
        ),
    );
    c.add(
        "mtime/gnu-atime",
        "tar",
        tail(
            Tar::new().entry(
                Hdr::new(b"x", b'0', 2)
                    .fmt(Fmt::Gnu)
                    .patch(345, b"12345670123\0")
                    .patch(357, b"12345670123\0"),
                b"x\n",
            ),
        ),
    );
}

fn names(c: &mut Corpus) {
    let file = |name: &[u8]| tail(Tar::new().entry(Hdr::new(name, b'0', 2), b"n\n"));
    let dir = |name: &[u8]| tail(Tar::new().entry(Hdr::new(name, b'5', 0), b""));
    for (id, name) in [
        ("absolute", &b"/abs/f"[..]),
        ("dot-slash", b"./x"),
        ("double-slash", b"a//b"),
        ("dot-inside", b"a/./b"),
        ("backslash", b"a\\b"),
        ("backslash-dotdot", b"a\\..\\b"),
        ("dotdot-first", b"../x"),
        ("dotdot-middle", b"a/../b"),
        ("dotdot-last", b"a/.."),
        ("dotdot-only", b".."),
        ("three-dots", b"..."),
        ("dotdot-prefix", b"..a/b"),
        ("dotdot-infix", b"a..b"),
        ("non-utf8", b"caf\xe9"),
        ("space-newline", b"a b\nc"),
        ("dot", b"."),
        ("empty", b""),
        ("slash", b"/"),
        ("dot-slash-only", b"./"),
        ("utf8", "répertoire/fichier-日本".as_bytes()),
    ] {
        c.add(&format!("name/file-{id}"), "tar", file(name));
    }
    for (id, name) in [
        ("dot", &b"./"[..]),
        ("slash", b"/"),
        ("empty", b""),
        ("absolute", b"/abs/d/"),
        ("dotdot", b"d/../"),
    ] {
        c.add(&format!("name/dir-{id}"), "tar", dir(name));
    }
    c.add(
        "name/dir-dot-mode",
        "tar",
        tail(Tar::new().entry(Hdr::new(b"./", b'5', 0).mode(0o711), b"")),
    );
    let hundred = vec![b'n'; 100];
    c.add("name/exactly-100", "tar", file(&hundred));
    let mut h = Hdr::new(b"file", b'0', 2);
    h.prefix = b"pre/fix".to_vec();
    c.add(
        "name/ustar-prefix",
        "tar",
        tail(Tar::new().entry(h, b"p\n")),
    );
    let mut h = Hdr::new(b"", b'0', 2);
    h.prefix = b"only-prefix".to_vec();
    c.add(
        "name/ustar-prefix-only",
        "tar",
        tail(Tar::new().entry(h, b"p\n")),
    );
    let mut h = Hdr::new(b"file", b'0', 2).fmt(Fmt::Star);
    h.prefix = b"star/prefix".to_vec();
    c.add("name/star-prefix", "tar", tail(Tar::new().entry(h, b"s\n")));
    let mut h = Hdr::new(b"file", b'0', 2).fmt(Fmt::Gnu);
    h.prefix = b"gnu-ignores-prefix".to_vec();
    c.add(
        "name/gnu-with-prefix-bytes",
        "tar",
        tail(Tar::new().entry(h, b"g\n")),
    );

    let long = ["component"; 40].join("/") + "/file";
    c.add(
        "name/gnu-longname",
        "tar",
        tail(
            Tar::new()
                .gnu_long(b'L', long.as_bytes())
                .entry(Hdr::new(b"truncated", b'0', 2).fmt(Fmt::Gnu), b"l\n"),
        ),
    );
    c.add(
        "name/gnu-longlink",
        "tar",
        tail(
            Tar::new()
                .gnu_long(b'K', long.as_bytes())
                .entry(Hdr::new(b"link", b'2', 0).fmt(Fmt::Gnu), b""),
        ),
    );
    c.add(
        "name/pax-path",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("path", long.as_bytes())])
                .entry(Hdr::new(b"short", b'0', 2), b"p\n"),
        ),
    );
    c.add(
        "name/pax-path-and-longname",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("path", b"from-pax")])
                .gnu_long(b'L', b"from-gnu")
                .entry(Hdr::new(b"from-header", b'0', 2), b"p\n"),
        ),
    );
    c.add(
        "name/pax-path-empty",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("path", b"")])
                .entry(Hdr::new(b"from-header", b'0', 2), b"p\n"),
        ),
    );
    c.add(
        "name/pax-path-dotdot",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("path", b"a/../../escape")])
                .entry(Hdr::new(b"innocent", b'0', 2), b"p\n"),
        ),
    );
    c.add(
        "name/pax-path-nul",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("path", b"a\0b")])
                .entry(Hdr::new(b"innocent", b'0', 2), b"p\n"),
        ),
    );
    // NAME_MAX is 255 bytes a component.
    let c255 = "c".repeat(255);
    let c256 = "c".repeat(256);
    let pax_file = |name: &str| {
        tail(
            Tar::new()
                .pax(b'x', &[("path", name.as_bytes())])
                .entry(Hdr::new(b"short", b'0', 2), b"p\n"),
        )
    };
    let pax_dir = |name: &str| {
        tail(
            Tar::new()
                .pax(b'x', &[("path", name.as_bytes())])
                .entry(Hdr::new(b"short/", b'5', 0), b""),
        )
    };
    c.add("name/component-255", "tar", pax_file(&c255));
    c.add("name/component-256", "tar", pax_file(&c256));
    c.add(
        "name/component-256-in-parent",
        "tar",
        pax_file(&format!("{c256}/f")),
    );
    c.add(
        "name/component-256-under-dir",
        "tar",
        pax_file(&format!("d/{c256}")),
    );
    c.add(
        "name/dir-component-256",
        "tar",
        pax_dir(&format!("d/{c256}/e")),
    );
    // Deep paths: 200 levels is far below PATH_MAX, 1100 more levels than a process
    // usually has descriptors; 2100 levels is past PATH_MAX, so are 160 of 25 bytes.
    let deep = |n: usize| vec!["d"; n].join("/");
    c.add(
        "name/deep-200-file",
        "tar.gz",
        gz(&pax_file(&format!("{}/f", deep(200)))),
    );
    c.add("name/deep-200-dir", "tar.gz", gz(&pax_dir(&deep(200))));
    c.add(
        "name/deep-1100-file",
        "tar.gz",
        gz(&pax_file(&format!("{}/f", deep(1100)))),
    );
    c.add(
        "name/deep-2100-file",
        "tar.gz",
        gz(&pax_file(&format!("{}/f", deep(2100)))),
    );
    let d25 = vec!["d".repeat(25); 160].join("/");
    c.add("name/deep-dir-over-4096", "tar.gz", gz(&pax_dir(&d25)));
    // PATH_MAX reached by long components: 17 × 250 bytes.
    let wide = vec!["w".repeat(250); 17].join("/");
    c.add("name/path-over-4096-file", "tar", pax_file(&wide));
    c.add("name/path-over-4096-dir", "tar", pax_dir(&wide));
    let w15 = vec!["w".repeat(250); 15].join("/");
    c.add("name/path-3764-file", "tar", pax_file(&w15));
    // A name that cleans to something short.
    let dots = "./".repeat(3000) + "x";
    c.add("name/long-but-cleans-short", "tar", pax_file(&dots));
}

fn duplicates(c: &mut Corpus) {
    let cases: Vec<(&str, Tar)> = vec![
        (
            "file-twice",
            Tar::new()
                .file("a", 0o600, b"first, longer\n")
                .file("a", 0o644, b"second\n"),
        ),
        (
            "file-then-dir",
            Tar::new().file("a", 0o644, b"f\n").dir("a/", 0o755),
        ),
        (
            "dir-then-file",
            Tar::new().dir("a/", 0o755).file("a", 0o644, b"f\n"),
        ),
        (
            "file-then-file-below",
            Tar::new()
                .file("a", 0o644, b"f\n")
                .file("a/b", 0o644, b"b\n"),
        ),
        (
            "file-then-dir-below",
            Tar::new().file("a", 0o644, b"f\n").dir("a/b/", 0o755),
        ),
        (
            "file-then-deeper-file",
            Tar::new()
                .file("a", 0o644, b"f\n")
                .file("a/b/c", 0o644, b"c\n"),
        ),
        (
            "file-then-deeper-dir",
            Tar::new().file("a", 0o644, b"f\n").dir("a/b/c/", 0o755),
        ),
        (
            "symlink-then-file",
            Tar::new()
                .link(b'2', "a", "/etc/passwd")
                .file("a", 0o600, b"file\n"),
        ),
        (
            "file-then-symlink",
            Tar::new()
                .file("a", 0o600, b"file\n")
                .link(b'2', "a", "/etc/passwd"),
        ),
        (
            "file-then-hardlink-to-itself",
            Tar::new().file("a", 0o600, b"file\n").link(b'1', "a", "a"),
        ),
        (
            "symlink-dir-then-file-below",
            Tar::new()
                .link(b'2', "a", "/tmp")
                .file("a/b", 0o644, b"b\n"),
        ),
        (
            "dir-0555-then-children",
            Tar::new()
                .dir("ro/", 0o555)
                .file("ro/f", 0o644, b"f\n")
                .dir("ro/sub/", 0o555)
                .file("ro/sub/g", 0o444, b"g\n"),
        ),
        (
            "same-dir-different-spellings",
            Tar::new()
                .dir("a/", 0o700)
                .dir("./a", 0o750)
                .dir("/a/", 0o711)
                .file("a/f", 0o644, b"f\n"),
        ),
        (
            "file-then-dir-dot",
            Tar::new().file("x", 0o644, b"x\n").dir("x/.", 0o755),
        ),
    ];
    for (id, t) in cases {
        c.add(&format!("duplicate/{id}"), "tar", t.end());
    }
}

fn pax(c: &mut Corpus) {
    let entry = |t: Tar| tail(t.file("x", 0o644, b"0123456789"));
    c.add(
        "pax/size-smaller",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("size", b"4")])
                .entry(Hdr::new(b"x", b'0', 10), b"0123"),
        ),
    );
    c.add(
        "pax/size-larger-than-header",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("size", b"600")])
                .entry(Hdr::new(b"x", b'0', 10), &content(3, 600)),
        ),
    );
    c.add(
        "pax/size-invalid",
        "tar",
        entry(Tar::new().pax(b'x', &[("size", b"ten")])),
    );
    c.add(
        "pax/uid-invalid",
        "tar",
        entry(Tar::new().pax(b'x', &[("uid", b"-x")])),
    );
    c.add(
        "pax/xattr-and-comment",
        "tar",
        entry(Tar::new().pax(
            b'x',
            &[
                ("SCHILY.xattr.user.k", b"v"),
                ("comment", b"hello"),
                ("gname", b"g"),
            ],
        )),
    );
    c.add(
        "pax/record-length-wrong",
        "tar",
        entry(Tar::new().pax_raw(b'x', b"99 path=x\n")),
    );
    c.add(
        "pax/record-no-newline",
        "tar",
        entry(Tar::new().pax_raw(b'x', b"11 path=xy")),
    );
    c.add(
        "pax/record-no-equals",
        "tar",
        entry(Tar::new().pax_raw(b'x', b"9 pathx\n")),
    );
    c.add(
        "pax/record-empty-key",
        "tar",
        entry(Tar::new().pax_raw(b'x', b"6 =ab\n")),
    );
    c.add(
        "pax/record-trailing-garbage",
        "tar",
        entry(Tar::new().pax_raw(b'x', b"11 path=ab\nzz")),
    );
    c.add(
        "pax/two-headers",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("path", b"first"), ("mtime", b"1000")])
                .pax(b'x', &[("path", b"second")])
                .entry(Hdr::new(b"x", b'0', 2), b"2\n"),
        ),
    );
    c.add(
        "pax/header-then-end",
        "tar",
        Tar::new()
            .file("x", 0o644, b"x\n")
            .pax(b'x', &[("path", b"nothing-follows")])
            .end(),
    );
    c.add(
        "pax/global-path",
        "tar",
        tail(
            Tar::new()
                .pax(b'g', &[("path", b"global-name"), ("mtime", b"1000")])
                .file("x", 0o644, b"x\n"),
        ),
    );
    let big = vec![b'v'; (1 << 20) + 10];
    c.add(
        "pax/over-1mib",
        "tar.gz",
        gz(&entry(Tar::new().pax(b'x', &[("comment", &big)]))),
    );
    c.add(
        "pax/gnu-longname-over-1mib",
        "tar.gz",
        gz(&entry(Tar::new().gnu_long(b'L', &big))),
    );
    c.add(
        "pax/linkpath",
        "tar",
        tail(
            Tar::new()
                .pax(b'x', &[("linkpath", b"/very/long/target")])
                .link(b'2', "l", "short"),
        ),
    );
    c.add(
        "pax/header-with-dotdot-name",
        "tar",
        tail(Tar::new().entry(Hdr::new(b"../PaxHeaders/x", b'x', 0), b"")),
    );
}

/// A sparse file's logical contents from its data fragments.
fn sparse_data(map: &[(u64, u64)], seed: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, (_, len)) in map.iter().enumerate() {
        v.extend(content(seed + i as u64, *len as usize));
    }
    v
}

/// An old GNU sparse (`S`) header: up to 4 map entries in the header, the rest in
/// extension blocks of 21.
fn gnu_sparse(name: &str, map: &[(u64, u64)], real: u64, stored: u64, magic: Fmt) -> Vec<u8> {
    let mut h = Hdr::new(name.as_bytes(), b'S', stored).fmt(magic);
    let field = |v: u64| format!("{v:011o}\0").into_bytes();
    for (i, (off, len)) in map.iter().take(4).enumerate() {
        h = h
            .patch(386 + i * 24, &field(*off))
            .patch(386 + i * 24 + 12, &field(*len));
    }
    if map.len() > 4 {
        h = h.patch(482, &[1]);
    }
    h = h.patch(483, &field(real));
    let mut out = h.block().to_vec();
    let rest: Vec<_> = map.iter().skip(4).collect();
    let chunks: Vec<_> = rest.chunks(21).collect();
    for (ci, chunk) in chunks.iter().enumerate() {
        let mut b = [0u8; 512];
        for (i, (off, len)) in chunk.iter().enumerate() {
            b[i * 24..i * 24 + 12].copy_from_slice(&field(*off));
            b[i * 24 + 12..i * 24 + 24].copy_from_slice(&field(*len));
        }
        if ci + 1 < chunks.len() {
            b[504] = 1;
        }
        out.extend_from_slice(&b);
    }
    out
}

fn sparse(c: &mut Corpus) {
    let map = [(0u64, 1000u64), (5000, 512), (70000, 3000)];
    let data = sparse_data(&map, 10);
    let stored = data.len() as u64;
    let with_data = |hdr: Vec<u8>, data: &[u8]| {
        let mut v = hdr;
        v.extend_from_slice(data);
        tail(Tar(v).raw(&[]).pad())
    };
    c.add(
        "sparse/gnu-old",
        "tar",
        with_data(gnu_sparse("s", &map, 100_000, stored, Fmt::Gnu), &data),
    );
    c.add(
        "sparse/gnu-old-ends-in-data",
        "tar",
        with_data(gnu_sparse("s", &map, 73000, stored, Fmt::Gnu), &data),
    );
    let many: Vec<(u64, u64)> = (0..30).map(|i| (i * 8192, 100)).collect();
    let many_data = sparse_data(&many, 20);
    c.add(
        "sparse/gnu-old-extended",
        "tar.gz",
        gz(&with_data(
            gnu_sparse("s", &many, 300_000, many_data.len() as u64, Fmt::Gnu),
            &many_data,
        )),
    );
    c.add(
        "sparse/gnu-old-ustar-magic",
        "tar",
        with_data(gnu_sparse("s", &map, 100_000, stored, Fmt::Ustar), &data),
    );
    c.add(
        "sparse/gnu-old-overlap",
        "tar",
        with_data(
            gnu_sparse("s", &[(0, 1000), (500, 512)], 100_000, 1512, Fmt::Gnu),
            &content(1, 1512),
        ),
    );
    c.add(
        "sparse/gnu-old-beyond-size",
        "tar",
        with_data(
            gnu_sparse("s", &[(0, 1000), (99_800, 512)], 100_000, 1512, Fmt::Gnu),
            &content(1, 1512),
        ),
    );
    c.add(
        "sparse/gnu-old-missing-data",
        "tar",
        with_data(
            gnu_sparse("s", &map, 100_000, stored - 100, Fmt::Gnu),
            &data[..data.len() - 100],
        ),
    );
    c.add(
        "sparse/gnu-old-extra-data",
        "tar",
        with_data(
            gnu_sparse("s", &map, 100_000, stored + 100, Fmt::Gnu),
            &content(5, data.len() + 100),
        ),
    );
    c.add(
        "sparse/gnu-old-no-map",
        "tar",
        with_data(gnu_sparse("s", &[], 4096, 0, Fmt::Gnu), b""),
    );

    let pax_map: String = map
        .iter()
        .map(|(o, l)| format!("{o},{l}"))
        .collect::<Vec<_>>()
        .join(",");
    let pax_sparse = |records: Vec<(&str, Vec<u8>)>, name: &str, body: &[u8]| {
        let recs: Vec<(&str, &[u8])> = records.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        tail(
            Tar::new()
                .pax(b'x', &recs)
                .entry(Hdr::new(name.as_bytes(), b'0', body.len() as u64), body),
        )
    };
    let mut v00 = vec![
        ("GNU.sparse.size", b"100000".to_vec()),
        ("GNU.sparse.numblocks", b"3".to_vec()),
    ];
    for (o, l) in map {
        v00.push(("GNU.sparse.offset", o.to_string().into_bytes()));
        v00.push(("GNU.sparse.numbytes", l.to_string().into_bytes()));
    }
    c.add(
        "sparse/pax-0.0",
        "tar",
        pax_sparse(v00.clone(), "GNUSparseFile.0/s", &data),
    );
    let mut bad_order = v00.clone();
    bad_order.swap(2, 3);
    c.add(
        "sparse/pax-0.0-bad-order",
        "tar",
        pax_sparse(bad_order, "GNUSparseFile.0/s", &data),
    );
    let v01 = vec![
        ("GNU.sparse.major", b"0".to_vec()),
        ("GNU.sparse.minor", b"1".to_vec()),
        ("GNU.sparse.name", b"sparse-01".to_vec()),
        ("GNU.sparse.size", b"100000".to_vec()),
        ("GNU.sparse.numblocks", b"3".to_vec()),
        ("GNU.sparse.map", pax_map.clone().into_bytes()),
    ];
    c.add(
        "sparse/pax-0.1",
        "tar",
        pax_sparse(v01.clone(), "GNUSparseFile.0/s", &data),
    );
    let mut miscount = v01.clone();
    miscount[4].1 = b"4".to_vec();
    c.add(
        "sparse/pax-0.1-count-mismatch",
        "tar",
        pax_sparse(miscount, "GNUSparseFile.0/s", &data),
    );
    c.add(
        "sparse/pax-0.1-all-hole",
        "tar",
        pax_sparse(
            vec![
                ("GNU.sparse.size", b"1048576".to_vec()),
                ("GNU.sparse.numblocks", b"0".to_vec()),
                ("GNU.sparse.map", b"".to_vec()),
            ],
            "holes",
            b"",
        ),
    );
    let mut body10 = format!("3\n{}\n", pax_map.replace(',', "\n")).into_bytes();
    let rem = body10.len() % 512;
    body10.resize(body10.len() + 512 - rem, 0);
    let map_len = body10.len();
    body10.extend_from_slice(&data);
    let v10 = vec![
        ("GNU.sparse.major", b"1".to_vec()),
        ("GNU.sparse.minor", b"0".to_vec()),
        ("GNU.sparse.name", b"dir/sparse-10".to_vec()),
        ("GNU.sparse.realsize", b"100000".to_vec()),
    ];
    c.add(
        "sparse/pax-1.0",
        "tar",
        pax_sparse(v10.clone(), "GNUSparseFile.0/s", &body10),
    );
    let mut bad10 = b"3\nzero\n".to_vec();
    bad10.resize(map_len, 0);
    bad10.extend_from_slice(&data);
    c.add(
        "sparse/pax-1.0-bad-map",
        "tar",
        pax_sparse(v10.clone(), "GNUSparseFile.0/s", &bad10),
    );
    c.add(
        "sparse/pax-1.0-map-cut",
        "tar",
        pax_sparse(v10.clone(), "GNUSparseFile.0/s", b"3\n0\n1000\n"),
    );
    let mut v2 = v10.clone();
    v2[0].1 = b"2".to_vec();
    c.add(
        "sparse/pax-unknown-version",
        "tar",
        pax_sparse(v2, "GNUSparseFile.0/s", &body10),
    );
    let mut dir_sparse = v01.clone();
    dir_sparse[2].1 = b"sparse-dir/".to_vec();
    c.add(
        "sparse/pax-0.1-on-a-dir",
        "tar",
        tail(
            Tar::new()
                .pax(
                    b'x',
                    &dir_sparse
                        .iter()
                        .map(|(k, v)| (*k, v.as_slice()))
                        .collect::<Vec<_>>(),
                )
                .entry(Hdr::new(b"d/", b'5', 0), b""),
        ),
    );
}

impl Tar {
    fn pad(mut self) -> Tar {
        let rem = self.0.len() % 512;
        if rem != 0 {
            self.0.resize(self.0.len() + 512 - rem, 0);
        }
        self
    }
}

fn fields(c: &mut Corpus) {
    let with = |h: Hdr, data: &[u8]| tail(Tar::new().entry(h, data));
    c.add(
        "field/size-base256",
        "tar",
        with(Hdr::new(b"x", b'0', 0).size(Num::B256(5)), b"12345"),
    );
    c.add(
        "field/size-base256-negative",
        "tar",
        with(Hdr::new(b"x", b'0', 0).size(Num::B256(-5)), b""),
    );
    c.add(
        "field/size-not-octal",
        "tar",
        with(
            Hdr::new(b"x", b'0', 0).size(Num::Raw(b"0000000001x\0".to_vec())),
            b"1",
        ),
    );
    c.add(
        "field/size-spaces",
        "tar",
        with(
            Hdr::new(b"x", b'0', 0).size(Num::Raw(b"   5       ".to_vec())),
            b"12345",
        ),
    );
    c.add(
        "field/size-base256-overflow",
        "tar",
        with(
            Hdr::new(b"x", b'0', 0).size(Num::Raw(vec![
                0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ])),
            b"",
        ),
    );
    c.add(
        "field/uid-base256-huge",
        "tar",
        with(
            Hdr {
                uid: Num::B256(1 << 40),
                ..Hdr::new(b"x", b'0', 2)
            },
            b"u\n",
        ),
    );
    c.add(
        "field/checksum-signed",
        "tar",
        with(
            Hdr {
                chk: Chk::Signed,
                ..Hdr::new(b"h\xe9\xff", b'0', 2)
            },
            b"s\n",
        ),
    );
    c.add(
        "field/checksum-bad",
        "tar",
        Tar::new()
            .file("first", 0o644, b"1\n")
            .entry(
                Hdr {
                    chk: Chk::Bad,
                    ..Hdr::new(b"x", b'0', 2)
                },
                b"b\n",
            )
            .end(),
    );
    c.add(
        "field/checksum-not-octal",
        "tar",
        with(Hdr::new(b"x", b'0', 2).patch(148, b"12x"), b"c\n"),
    );
    c.add(
        "field/v7",
        "tar",
        Tar::new()
            .entry(Hdr::new(b"v7dir/", 0, 0).fmt(Fmt::V7).mode(0o700), b"")
            .entry(Hdr::new(b"v7dir/file", 0, 3).fmt(Fmt::V7), b"v7\n")
            .entry(
                Hdr::new(b"v7link", b'1', 0)
                    .fmt(Fmt::V7)
                    .link(b"v7dir/file"),
                b"",
            )
            .end(),
    );
    c.add(
        "field/gnu-format",
        "tar",
        Tar::new()
            .entry(Hdr::new(b"g/", b'5', 0).fmt(Fmt::Gnu), b"")
            .entry(Hdr::new(b"g/f", b'0', 2).fmt(Fmt::Gnu), b"g\n")
            .end(),
    );
    c.add(
        "field/ustar-numeric-not-nul-terminated",
        "tar",
        with(
            Hdr {
                mode: Num::Raw(b"00000644".to_vec()),
                ..Hdr::new(b"x", b'0', 2)
            },
            b"n\n",
        ),
    );
    c.add(
        "field/magic-garbage",
        "tar",
        with(Hdr::new(b"x", b'0', 2).patch(257, b"garbag"), b"m\n"),
    );
    c.add(
        "field/all-spaces-numbers",
        "tar",
        with(
            Hdr {
                mode: Num::Raw(b"       ".to_vec()),
                mtime: Num::Raw(b"           ".to_vec()),
                ..Hdr::new(b"x", b'0', 2)
            },
            b"s\n",
        ),
    );
}

fn truncation(c: &mut Corpus) {
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

fn limits(c: &mut Corpus) {
    let files = |n: usize| {
        let mut t = Tar::new();
        for i in 0..n {
            t = t.file(&format!("f{i}"), 0o644, b"x");
        }
        t.end()
    };
    for n in [2, 3, 4] {
        c.limits(
            &format!("limit/tar-{n}-files-limit-3"),
            "tar",
            files(n),
            3,
            DEFAULT_SIZE,
        );
    }
    c.limits(
        "limit/tar-4-files-unlimited",
        "tar",
        files(4),
        0,
        DEFAULT_SIZE,
    );
    c.limits(
        "limit/tar-dirs-count",
        "tar",
        Tar::new()
            .dir("a/", 0o755)
            .dir("b/", 0o755)
            .file("f", 0o644, b"f")
            .end(),
        3,
        DEFAULT_SIZE,
    );
    c.limits(
        "limit/tar-global-header-counts",
        "tar",
        Tar::new()
            .pax(b'g', &[("comment", b"x")])
            .file("f", 0o644, b"f")
            .file("g", 0o644, b"g")
            .end(),
        3,
        DEFAULT_SIZE,
    );
    c.limits(
        "limit/tar-pax-headers-do-not-count",
        "tar",
        Tar::new()
            .pax(b'x', &[("comment", b"x")])
            .file("f", 0o644, b"f")
            .pax(b'x', &[("comment", b"y")])
            .file("g", 0o644, b"g")
            .end(),
        3,
        DEFAULT_SIZE,
    );
    c.limits(
        "limit/tar-default-4095",
        "tar.gz",
        gz(&files(4095)),
        DEFAULT_FILES,
        DEFAULT_SIZE,
    );
    c.limits(
        "limit/tar-default-4096",
        "tar.gz",
        gz(&files(4096)),
        DEFAULT_FILES,
        DEFAULT_SIZE,
    );
    let sized = Tar::new()
        .file("a", 0o644, &[b'a'; 60])
        .file("b", 0o644, &[b'b'; 40])
        .end();
    c.limits("limit/size-exact", "tar", sized.clone(), DEFAULT_FILES, 100);
    c.limits("limit/size-over-by-one", "tar", sized, DEFAULT_FILES, 99);
    c.limits(
        "limit/size-counts-link-size-field",
        "tar",
        tail(
            Tar::new()
                .file("t", 0o644, b"t")
                .entry(Hdr::new(b"l", b'1', 200).link(b"t"), b""),
        ),
        DEFAULT_FILES,
        100,
    );
    c.limits(
        "limit/size-counts-dir-size-field",
        "tar",
        tail(Tar::new().entry(Hdr::new(b"d/", b'5', 200), b"")),
        DEFAULT_FILES,
        100,
    );
    let map = [(0u64, 10u64)];
    let mut v = gnu_sparse("s", &map, 5000, 10, Fmt::Gnu);
    v.extend_from_slice(&content(1, 10));
    c.limits(
        "limit/size-counts-sparse-real-size",
        "tar",
        tail(Tar(v).pad()),
        DEFAULT_FILES,
        1000,
    );
    let z = |n: usize| {
        let e: Vec<Ze> = (0..n)
            .map(|i| Ze::file(&format!("f{i}"), 0o644, b"z"))
            .collect();
        zip(&e, &ZipOpts::default())
    };
    c.limits("limit/zip-3-files-limit-3", "zip", z(3), 3, DEFAULT_SIZE);
    c.limits("limit/zip-4-files-limit-3", "zip", z(4), 3, DEFAULT_SIZE);
    c.limits(
        "limit/zip-size-over",
        "zip",
        zip(
            &[
                Ze::file("a", 0o644, &[b'a'; 60]),
                Ze::file("b", 0o644, &[b'b'; 41]),
            ],
            &ZipOpts::default(),
        ),
        DEFAULT_FILES,
        100,
    );
    c.limits(
        "limit/zip-size-counts-declared",
        "zip",
        zip(
            &[Ze {
                usize: Some(500),
                ..Ze::file("a", 0o644, b"small")
            }],
            &ZipOpts::default(),
        ),
        DEFAULT_FILES,
        100,
    );
}

fn zips(c: &mut Corpus) {
    let one = |e: Ze| {
        zip(
            &[e, Ze::file("after", 0o644, b"after\n")],
            &ZipOpts::default(),
        )
    };
    let data = content(40, 5000);
    let f = || Ze::file("x", 0o640, &data);
    c.add("zip/stored", "zip", one(f().method(0)));
    c.add("zip/deflate", "zip", one(f()));
    for (m, what) in [
        (12, "bzip2"),
        (14, "lzma"),
        (93, "zstd"),
        (98, "ppmd"),
        (99, "aes"),
    ] {
        c.add(&format!("zip/method-{what}"), "zip", one(f().method(m)));
    }
    c.add(
        "zip/crc-bad",
        "zip",
        one(Ze {
            crc: Crc::Bad,
            ..f()
        }),
    );
    c.add(
        "zip/crc-bad-stored",
        "zip",
        one(Ze {
            crc: Crc::Bad,
            ..f().method(0)
        }),
    );
    c.add(
        "zip/crc-zero",
        "zip",
        one(Ze {
            crc: Crc::Zero,
            ..f()
        }),
    );
    c.add(
        "zip/descriptor",
        "zip",
        one(Ze {
            descriptor: Some((true, Crc::Good)),
            ..f()
        }),
    );
    c.add(
        "zip/descriptor-no-signature",
        "zip",
        one(Ze {
            descriptor: Some((false, Crc::Good)),
            ..f()
        }),
    );
    c.add(
        "zip/descriptor-crc-bad",
        "zip",
        one(Ze {
            descriptor: Some((true, Crc::Bad)),
            ..f()
        }),
    );
    c.add(
        "zip/usize-smaller",
        "zip",
        one(Ze {
            usize: Some(100),
            ..f()
        }),
    );
    c.add(
        "zip/usize-larger",
        "zip",
        one(Ze {
            usize: Some(9000),
            ..f()
        }),
    );
    c.add(
        "zip/csize-smaller",
        "zip",
        one(Ze {
            csize: Some(100),
            ..f()
        }),
    );
    c.add(
        "zip/stored-csize-smaller",
        "zip",
        one(Ze {
            csize: Some(100),
            ..f().method(0)
        }),
    );
    c.add("zip/dir-0700", "zip", one(Ze::dir("d/", 0o700)));
    c.add(
        "zip/dir-0700-with-child",
        "zip",
        zip(
            &[Ze::dir("d/", 0o700), Ze::file("d/f", 0o644, b"f\n")],
            &ZipOpts::default(),
        ),
    );
    c.add(
        "zip/dir-by-mode-no-slash",
        "zip",
        one(Ze {
            name: b"d".to_vec(),
            ..Ze::dir("d/", 0o755)
        }),
    );
    c.add(
        "zip/slash-name-file-mode",
        "zip",
        one(Ze::file("d/", 0o644, b"")),
    );
    c.add(
        "zip/msdos-readonly",
        "zip",
        one(Ze {
            creator: 0,
            attrs: 0x01,
            ..f()
        }),
    );
    c.add(
        "zip/msdos-dir-attr",
        "zip",
        one(Ze {
            creator: 0,
            attrs: 0x10,
            ..Ze::file("d", 0, b"")
        }),
    );
    c.add(
        "zip/ntfs-archive-attr",
        "zip",
        one(Ze {
            creator: 11,
            attrs: 0x20,
            ..f()
        }),
    );
    c.add("zip/creator-unknown", "zip", one(Ze { creator: 10, ..f() }));
    c.add("zip/creator-osx", "zip", one(Ze { creator: 19, ..f() }));
    c.add(
        "zip/unix-mode-zero-attrs",
        "zip",
        one(Ze { attrs: 0, ..f() }),
    );
    c.add("zip/setuid", "zip", one(Ze::file("x", 0o6755, b"s\n")));
    c.add("zip/sticky", "zip", one(Ze::file("x", 0o1755, b"s\n")));
    c.add("zip/symlink", "zip", one(Ze::symlink("x", "/etc/passwd")));
    c.add(
        "zip/fifo-mode",
        "zip",
        one(Ze {
            attrs: 0o010644 << 16,
            ..Ze::file("x", 0, b"")
        }),
    );
    c.add(
        "zip/comment",
        "zip",
        zip(
            &[Ze::file("x", 0o644, b"x\n")],
            &ZipOpts {
                comment: b"a comment".to_vec(),
                ..ZipOpts::default()
            },
        ),
    );
    c.add(
        "zip/prefixed-absolute-offsets",
        "zip",
        zip(
            &[Ze::file("x", 0o644, b"x\n")],
            &ZipOpts {
                prefix: b"#!/bin/sh\nexit 0\n".to_vec(),
                ..ZipOpts::default()
            },
        ),
    );
    c.add(
        "zip/prefixed-relative-offsets",
        "zip",
        zip(
            &[Ze::file("x", 0o644, b"x\n")],
            &ZipOpts {
                prefix: b"#!/bin/sh\nexit 0\n".to_vec(),
                relative: true,
                ..ZipOpts::default()
            },
        ),
    );
    c.add(
        "zip/bad-local-signature",
        "zip",
        one(Ze {
            bad_local_sig: true,
            ..f()
        }),
    );
    c.add(
        "zip/count-too-high",
        "zip",
        zip(
            &[Ze::file("x", 0o644, b"x\n")],
            &ZipOpts {
                count: Some(2),
                ..ZipOpts::default()
            },
        ),
    );
    c.add(
        "zip/count-too-low",
        "zip",
        zip(
            &[Ze::file("x", 0o644, b"x\n"), Ze::file("y", 0o644, b"y\n")],
            &ZipOpts {
                count: Some(1),
                ..ZipOpts::default()
            },
        ),
    );
    let full = one(f());
    c.add(
        "zip/truncated-end-record",
        "zip",
        full[..full.len() - 10].to_vec(),
    );
    c.add("zip/truncated-half", "zip", full[..full.len() / 2].to_vec());
    c.add(
        "zip/duplicate-names",
        "zip",
        zip(
            &[
                Ze::file("x", 0o600, b"first\n"),
                Ze::file("x", 0o644, b"2\n"),
            ],
            &ZipOpts::default(),
        ),
    );
    for (id, name) in [
        ("dotdot", "a/../../x"),
        ("absolute", "/abs/x"),
        ("backslash-dotdot", "a\\..\\x"),
        ("nul", "a\0b"),
        ("dot-slash", "./x"),
        ("empty", ""),
    ] {
        c.add(
            &format!("zip/name-{id}"),
            "zip",
            one(Ze::file(name, 0o644, b"n\n")),
        );
    }
    c.add(
        "zip/file-then-dir",
        "zip",
        zip(
            &[Ze::file("a", 0o644, b"f\n"), Ze::dir("a/", 0o755)],
            &ZipOpts::default(),
        ),
    );
    c.add(
        "zip/dir-then-file",
        "zip",
        zip(
            &[Ze::dir("a/", 0o755), Ze::file("a", 0o644, b"f\n")],
            &ZipOpts::default(),
        ),
    );
    c.add(
        "zip/file-then-below",
        "zip",
        zip(
            &[Ze::file("a", 0o644, b"f\n"), Ze::file("a/b", 0o644, b"b\n")],
            &ZipOpts::default(),
        ),
    );
    c.add(
        "zip/encrypted-flag",
        "zip",
        one(Ze {
            flags: 1,
            ..f().method(0)
        }),
    );
    c.add(
        "zip/utf8-flag",
        "zip",
        one(Ze {
            flags: 0x800,
            ..Ze::file("répertoire/日本", 0o644, b"u\n")
        }),
    );
    let mut zip64 = vec![0x01, 0x00, 16, 0];
    zip64.extend_from_slice(&5000u64.to_le_bytes());
    zip64.extend_from_slice(&5000u64.to_le_bytes());
    c.add(
        "zip/zip64-extra-sizes",
        "zip",
        one(Ze {
            extra: zip64,
            usize: Some(u32::MAX),
            csize: Some(u32::MAX),
            ..f().method(0)
        }),
    );
    c.add(
        "zip/zip64-extra-missing",
        "zip",
        one(Ze {
            csize: Some(u32::MAX),
            ..f().method(0)
        }),
    );
    let zipped = one(f());
    let body = zipped.len() / 4;
    for (i, at) in [body, body * 2].into_iter().enumerate() {
        let mut b = zipped.clone();
        b[at..at + 3].copy_from_slice(&[0xa5, 0x5a, 0xff]);
        c.add(&format!("zip/deflate-corrupt-{i}"), "zip", b);
    }
    c.add(
        "zip/dir-with-data",
        "zip",
        one(Ze {
            data: b"directory data".to_vec(),
            ..Ze::dir("d/", 0o755)
        }),
    );
}

fn contents(c: &mut Corpus) {
    let mut mixed = content(50, 3 << 20);
    mixed[1 << 20..(2 << 20) + 4096].fill(0);
    let t = Tar::new()
        .file("big", 0o644, &mixed)
        .file("zeros", 0o600, &vec![0; (2 << 20) + 100])
        .file("ends-in-zeros", 0o644, &{
            let mut v = content(51, 5000);
            v.resize(300_000, 0);
            v
        })
        .file("empty", 0o644, b"")
        .end();
    c.add("content/blocks-and-holes", "tar.gz", gz(&t));
    c.add(
        "content/zip-blocks-and-holes",
        "zip",
        zip(
            &[
                Ze::file("big", 0o644, &mixed),
                Ze::file("zeros", 0o600, &vec![0; (2 << 20) + 100]),
            ],
            &ZipOpts::default(),
        ),
    );
}
