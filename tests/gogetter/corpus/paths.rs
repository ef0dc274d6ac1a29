//! Names: absolute, `.`, `..` in every place, backslashes, prefixes and long-name
//! extensions, NAME_MAX and PATH_MAX, depth; the same path twice in different shapes.

use super::*;

pub fn names(c: &mut Corpus) {
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
    // A PAX `path` record over the header's own name.
    let pax_named = |path: &[u8], header: &[u8]| {
        tail(
            Tar::new()
                .pax(b'x', &[("path", path)])
                .entry(Hdr::new(header, b'0', 2), b"p\n"),
        )
    };
    c.add("name/pax-path", "tar", pax_named(long.as_bytes(), b"short"));
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
    c.add("name/pax-path-empty", "tar", pax_named(b"", b"from-header"));
    c.add(
        "name/pax-path-dotdot",
        "tar",
        pax_named(b"a/../../escape", b"innocent"),
    );
    c.add("name/pax-path-nul", "tar", pax_named(b"a\0b", b"innocent"));
    // NAME_MAX is 255 bytes a component.
    let c255 = "c".repeat(255);
    let c256 = "c".repeat(256);
    let pax_file = |name: &str| pax_named(name.as_bytes(), b"short");
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

pub fn duplicates(c: &mut Corpus) {
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
