//! go-getter's decompression limits at and around their boundaries.

use super::*;

pub fn limits(c: &mut Corpus) {
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
