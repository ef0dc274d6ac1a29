//! Tar header types and fields: every typeflag, header-only types with sizes, modes,
//! mtimes, numeric encodings, checksums, magics, PAX records.

use super::*;

pub fn typeflags(c: &mut Corpus) {
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

pub fn modes_and_times(c: &mut Corpus) {
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

pub fn fields(c: &mut Corpus) {
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

pub fn pax(c: &mut Corpus) {
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
