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

/// Unpack `bytes` named `name` into a fresh `dest` (the temp dir is returned to keep it).
fn extract_bytes(
    name: &str,
    bytes: &[u8],
    mode: nomad_chroot_check::archive::ExtractMode,
) -> (
    tempfile::TempDir,
    Result<nomad_chroot_check::archive::ExtractSummary, nomad_chroot_check::archive::ArchiveError>,
) {
    use nomad_chroot_check::archive::{self, ExtractRequest};
    use nomad_chroot_check::config::{ArtifactLimits, SafetyLimits};
    use nomad_chroot_check::nomad::NomadVersion;
    use nomad_chroot_check::taskdir::ChrootEnv;
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join(name);
    fs::write(&bundle, bytes).unwrap();
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let version = NomadVersion::NEWEST;
    let r = archive::extract(&ExtractRequest {
        bundle: &bundle,
        source_name: name,
        archive: None,
        dest: &dest,
        dest_in_task: "/local",
        mode,
        version,
        limits: ArtifactLimits::nomad_default(version),
        safety: SafetyLimits::default(),
        chroot_env: &ChrootEnv::none(),
    });
    (tmp, r)
}

/// A tar of header-only entries (name, typeflag, link name) with raw names.
fn raw_tar(entries: &[(&str, u8, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// Found by reading what the `extract` fuzz target asserts (`extract` fails only when
/// the work dir cannot be written): in `--extract tar` mode a hard link whose target is
/// a directory entry made `linkat(2)` fail with `EPERM`, reported as "cannot write the
/// work dir" (exit 2) instead of a finding on the bundle.
#[test]
fn tar_mode_hard_link_to_a_directory_is_a_finding() {
    use nomad_chroot_check::archive::ExtractMode;
    let bytes = raw_tar(&[("a/", b'5', ""), ("h", b'1', "a")]);
    let (_tmp, r) = extract_bytes("b.tar", &bytes, ExtractMode::Tar);
    let s = r.expect("a bundle problem is a finding, not a work-dir error");
    assert!(s.rejected, "{:#?}", s.findings);
    assert!(
        s.findings.iter().any(|f| f.path == "h"
            && f.message
                .as_deref()
                .is_some_and(|m| m.contains("is a directory"))),
        "{:#?}",
        s.findings
    );
}
