//! Zip archives: methods, CRCs, data descriptors, sizes, modes per creator, offsets,
//! names; and contents with runs of zeros in both formats.

use super::*;

pub fn zips(c: &mut Corpus) {
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

pub fn contents(c: &mut Corpus) {
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
