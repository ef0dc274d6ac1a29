//! One test per bug the fuzzers and property tests found (issue 8), each replaying the
//! input that found it. `ci/fuzz` finds them; these keep them fixed in `cargo test`.

use std::fs;

use nomad_chroot_check::rootfs::{ResolveErrorKind, RootFs};

/// Found by `tests/properties.rs` `resolver_agrees_with_a_real_chroot`: `/t/a/.` with
/// `a` a file resolved to `/t/a`, where the kernel says `ENOTDIR` (the component before
/// `.`, `..` or a trailing `/` must be a directory). The resolver dropped `.` and a
/// trailing slash before walking.
#[test]
fn resolver_dot_or_trailing_slash_after_a_file_is_enotdir() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("t/d")).unwrap();
    fs::write(root.join("t/a"), b"a file").unwrap();
    std::os::unix::fs::symlink("a/.", root.join("t/l")).unwrap();
    std::os::unix::fs::symlink("d", root.join("t/ld")).unwrap();
    let fs_ = RootFs::with_layers(root, Vec::new());
    for q in ["/t/a/.", "/t/a/", "/t/a/..", "/t/a/./x", "/t/l", "/t/l/"] {
        let e = fs_.resolve(q).map(|r| r.task_path).unwrap_err();
        assert_eq!(e.kind, ResolveErrorKind::NotDir, "{q}");
        // Checked against the kernel itself.
        let host = format!("{}{q}", root.display());
        assert_eq!(
            fs::metadata(&host).unwrap_err().raw_os_error(),
            Some(libc::ENOTDIR),
            "{host}"
        );
    }
    // Directories still resolve, through `.`, `..` and a trailing slash.
    for (q, want) in [
        ("/t/d/.", "/t/d"),
        ("/t/d/", "/t/d"),
        ("/t/d/../a", "/t/a"),
        ("/t/ld/", "/t/d"),
        ("/./t/./a", "/t/a"),
        ("/t/..", "/"),
    ] {
        assert_eq!(fs_.resolve(q).unwrap().task_path, want, "{q}");
    }
    // lstat semantics keep a final link unless a trailing slash forces it.
    assert_eq!(fs_.resolve_nofollow("/t/ld").unwrap().task_path, "/t/ld");
    assert_eq!(fs_.resolve_nofollow("/t/ld/").unwrap().task_path, "/t/d");
}
