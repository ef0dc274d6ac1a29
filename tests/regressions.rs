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

/// Found by reading the jobspec fuzz target's reach (`file()` reads host paths): a
/// jobspec with `file("/dev/zero")` made the reader allocate until the machine ran out
/// of memory (`st_size` is 0, so the size check passed), and `file("/dev/stdin")` or a
/// FIFO blocked forever. `file()` now reads regular files only, at most the cap.
#[test]
fn hcl_file_function_refuses_devices_and_fifos() {
    use nomad_chroot_check::job::{self, hcl::VarInputs};
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (source, why) in [
        ("/dev/zero".to_owned(), "is not a regular file"),
        (fifo.display().to_string(), "is not a regular file"),
        ("/dev/null".to_owned(), "is not a regular file"),
    ] {
        let jobfile = tmp.path().join("job.nomad.hcl");
        fs::write(
            &jobfile,
            format!(
                "job \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"exec\"\n      config {{ command = \"/bin/sh\" }}\n      template {{\n        data = file(\"{source}\")\n        destination = \"local/x\"\n      }}\n    }}\n  }}\n}}\n"
            ),
        )
        .unwrap();
        // A thread, so a regression fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(
                job::load(&jobfile, &VarInputs::default())
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("file(\"{source}\") still blocks"));
        let err = r.expect_err(&source);
        assert!(err.contains(why) && err.contains(&source), "{err}");
    }
    // A regular file is still read.
    fs::write(tmp.path().join("cmd.txt"), "/local/hello-from-file").unwrap();
    let jobfile = tmp.path().join("ok.nomad.hcl");
    fs::write(
        &jobfile,
        "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config { command = file(\"cmd.txt\") }\n    }\n  }\n}\n",
    )
    .unwrap();
    let spec = job::load(&jobfile, &VarInputs::default()).unwrap();
    assert!(format!("{spec:?}").contains("/local/hello-from-file"));
}
