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
        nomad_dest: "/opt/nomad/data/alloc/00000000-0000-0000-0000-000000000000/task/local",
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

/// Replay an input of the `extract` fuzz target: byte 0 picks the name (bits 0-2),
/// whether the rest is compressed first (bit 3), and the archive option (bit 4);
/// Nomad's newest rules, `/local`. Both modes; returns the summaries.
fn replay_extract(input: &[u8]) -> Vec<nomad_chroot_check::archive::ExtractSummary> {
    use nomad_chroot_check::archive::ExtractMode;
    use std::io::Write;
    const NAMES: [&str; 8] = [
        "b.tar",
        "b.tar.gz",
        "b.tgz",
        "b.tar.bz2",
        "b.tar.xz",
        "b.tar.zst",
        "b.zip",
        "bundle",
    ];
    let (sel, payload) = input.split_first().unwrap();
    let name = NAMES[(sel & 7) as usize];
    let bytes = if sel & 8 == 0 {
        payload.to_vec()
    } else if name.ends_with("gz") {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(payload).unwrap();
        e.finish().unwrap()
    } else if name.ends_with(".zst") {
        zstd::encode_all(payload, 1).unwrap()
    } else {
        panic!("add the compressor for {name}")
    };
    [ExtractMode::Nomad, ExtractMode::Tar]
        .into_iter()
        .map(|mode| {
            let (tmp, r) = extract_bytes(name, &bytes, mode);
            let s = r.unwrap_or_else(|e| {
                panic!("{mode:?}: a bundle problem became a work-dir error: {e}")
            });
            let mut top: Vec<_> = fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            top.sort();
            assert_eq!(top, [name, "dest"]);
            s
        })
        .collect()
}

/// Found by the `extract` fuzz target in its first minute (from a seed): a PAX name
/// with a 300-byte component made `mkdirat`/`openat` fail with `ENAMETOOLONG`, which
/// was reported as "cannot write the work dir" (exit 2). It is the bundle's fault, and
/// Nomad's download fails on it too: now a rejecting finding.
#[test]
fn extract_component_longer_than_name_max_is_a_finding() {
    let input = include_bytes!("regressions/extract-component-longer-than-name-max");
    for s in replay_extract(input) {
        assert!(s.rejected);
        let f = s
            .findings
            .iter()
            .find(|f| {
                f.nomad_error
                    .as_deref()
                    .is_some_and(|e| e.ends_with("file name too long"))
            })
            .unwrap_or_else(|| panic!("{:#?}", s.findings));
        assert!(f.path.starts_with("ppp"), "{f:?}");
    }
    // A directory component, and a link target over PATH_MAX (tar mode keeps links).
    let long = "d".repeat(256);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    b.append_data(&mut h, format!("{long}/f"), &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "l", "t".repeat(5000)).unwrap();
    let bytes = b.into_inner().unwrap();
    let mut input = vec![0u8];
    input.extend_from_slice(&bytes);
    for s in replay_extract(&input) {
        assert!(s.rejected, "{:#?}", s.findings);
    }
}

/// Found by the `extract` fuzz target (`ci/fuzz 600`): in `--extract tar` mode a symlink
/// with an empty target (`bin/sh -> ""`) made `symlinkat` fail with ENOENT, reported as
/// "cannot write … in the work dir" (exit 2). GNU tar reports the entry, skips it and
/// fails; so do we now, as a finding. Nomad mode flattens the link to an empty file.
#[test]
fn extract_symlink_with_empty_target_is_a_finding() {
    let input = include_bytes!("regressions/extract-symlink-empty-target");
    let [nomad, tar] = <[_; 2]>::try_from(replay_extract(input)).unwrap();
    assert!(!tar.rejected, "{:#?}", tar.findings);
    let f = tar
        .findings
        .iter()
        .find(|f| f.path.ends_with("bin/sh"))
        .unwrap_or_else(|| panic!("{:#?}", tar.findings));
    assert!(
        f.message
            .as_deref()
            .is_some_and(|m| m.contains("empty target")),
        "{f:?}"
    );
    assert!(
        nomad.findings.iter().any(|f| f.path.ends_with("bin/sh")
            && f.message
                .as_deref()
                .is_some_and(|m| m.contains("empty file"))),
        "{:#?}",
        nomad.findings
    );
}

/// Found by the `shebang` fuzz target (the empty input): `#!` followed by NUL parses (as the kernel's `load_script` does) to the interpreter "", which the
/// kernel then fails to open with ENOENT. The resolver took "" for the cwd (a
/// directory); it now says ENOENT as `getname` does.
#[test]
fn shebang_with_empty_interpreter_is_enoent() {
    use nomad_chroot_check::analyze::shebang;
    let sb = shebang::parse(b"#!").unwrap();
    assert_eq!(sb.interp, "");
    let tmp = tempfile::tempdir().unwrap();
    let fs_ = RootFs::with_layers(tmp.path(), Vec::new());
    assert_eq!(
        fs_.resolve("").unwrap_err().kind,
        ResolveErrorKind::NotFound
    );
    assert_eq!(
        fs_.resolve_at("/", "").unwrap_err().kind,
        ResolveErrorKind::NotFound
    );
    assert!(fs_.resolve("/").is_ok());
}

/// The `storeref` fuzz target hung on this input: chunk sizes of 0 fed empty chunks
/// forever. A harness bug (the target now always moves on), kept so the input stays in
/// the corpus: the scanner itself must agree with the reference on it.
#[test]
fn storeref_zero_chunk_sizes() {
    use nomad_chroot_check::archive::storeref::{StoreRefScanner, scan_all};
    let input = include_bytes!("regressions/storeref-zero-chunk-sizes");
    let buf = &input[8..];
    let mut s = StoreRefScanner::new();
    for b in buf.chunks(1) {
        s.feed(&[]);
        s.feed(b);
    }
    let got = s.finish();
    assert_eq!(got, scan_all(buf));
    let re = regex::bytes::Regex::new(r"(?-u)/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+")
        .unwrap();
    let want: std::collections::BTreeSet<String> = re
        .find_iter(buf)
        .map(|m| String::from_utf8(m.as_bytes().to_vec()).unwrap())
        .collect();
    assert_eq!(got, want);
}

/// Found by the `extract` fuzz target: a zip whose central directory names an entry
/// `\0\0\0\0` (zip names may hold NUL bytes, tar names end at one). Opening the path
/// failed with EINVAL, reported as "cannot write the work dir" (exit 2); Go's
/// `os.OpenFile` fails the same way, so it is now a rejecting finding. A symlink target
/// with a NUL in `--extract tar` mode is refused the same way.
#[test]
fn extract_zip_name_with_nul_is_a_finding() {
    let input = include_bytes!("regressions/extract-zip-name-with-nul");
    for s in replay_extract(input) {
        assert!(s.rejected);
        assert!(
            s.findings
                .iter()
                .any(|f| f.message.as_deref().is_some_and(|m| m.contains("NUL byte"))),
            "{:#?}",
            s.findings
        );
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_path("l").unwrap();
    h.set_cksum();
    // A PAX `linkpath` may hold a NUL where the ustar field cannot; Go's reader refuses
    // the record (`validPAXRecord`), so Nomad fails the download.
    let mut pax = tar::Header::new_ustar();
    let record = b"16 linkpath=a\0b\n";
    pax.set_entry_type(tar::EntryType::XHeader);
    pax.set_size(record.len() as u64);
    pax.set_path("PaxHeader/l").unwrap();
    pax.set_cksum();
    b.append(&pax, &record[..]).unwrap();
    b.append(&h, &[][..]).unwrap();
    let mut input = vec![0u8];
    input.extend_from_slice(&b.into_inner().unwrap());
    let [nomad, tar] = &replay_extract(&input)[..] else {
        unreachable!()
    };
    assert_eq!(
        nomad.nomad_failure.as_deref(),
        Some("archive/tar: invalid tar header"),
        "{:#?}",
        nomad.findings
    );
    assert!(
        tar.rejected
            && tar.findings.iter().any(|f| f
                .message
                .as_deref()
                .is_some_and(|m| m.contains("link target contains a NUL byte"))),
        "{:#?}",
        tar.findings
    );
}

/// Found by reading `dynamic_from_segments` while the `elf` fuzz target ran (the inputs
/// are hand-made, 234 bytes each): an ELF without section headers whose `PT_LOAD`
/// `p_vaddr + p_filesz`, or whose `DT_STRTAB` offset plus a `DT_NEEDED` value, passes
/// `u64::MAX` panicked with "attempt to add with overflow" (debug builds; release
/// builds wrapped to a wrong offset). Now the string is "out of range".
#[test]
fn elf_segment_address_overflow_is_malformed() {
    use nomad_chroot_check::analyze::elf::{self, ElfError};
    for (f, bytes) in [
        ("va", &include_bytes!("regressions/elf-vaddr-overflow")[..]),
        (
            "off",
            &include_bytes!("regressions/elf-strtab-offset-overflow")[..],
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join(f);
        fs::write(&p, bytes).unwrap();
        match elf::parse(&p) {
            // No string table reachable: nothing read, no panic.
            Ok(info) => assert!(info.needed.is_empty(), "{f}: {info:?}"),
            Err(e) => assert_eq!(
                e,
                ElfError::Malformed("dynamic string out of range".into()),
                "{f}"
            ),
        }
    }
}

/// Found by the elf fuzz target's differential check (ci/fuzz): what the static check
/// keeps of a file as it streams past (`elf::capture`, read back with what it missed)
/// must parse as the file on disk does. Program headers at an offset that is not a
/// multiple of 8 were refused in memory ("program header size or alignment": a slice
/// into the kept bytes) and read on disk (`ReadCache` copies each read into an aligned
/// buffer); the kernel reads them wherever they are, and now both paths do. And a
/// range planned from headers read in the same chunk that held part of it (here
/// `PT_INTERP`) had its passed bytes taken for a hole of zeros: the interpreter read
/// as "" in memory; now the range is a miss, read back whole.
#[test]
fn streamed_elf_parse_agrees_with_the_file() {
    use nomad_chroot_check::elf::capture::{Captured, ElfCapture};
    for (f, bytes) in [
        (
            "phoff",
            &include_bytes!("regressions/elf-unaligned-phoff")[..],
        ),
        (
            "dynamic",
            &include_bytes!("regressions/elf-dynamic-past-the-end")[..],
        ),
        (
            "interp",
            &include_bytes!("regressions/elf-interp-planned-late")[..],
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join(f);
        fs::write(&p, bytes).unwrap();
        let on_disk = format!("{:?}", nomad_chroot_check::elf::parse(&p));
        for (cap, step) in [(64, 1), (64, 1652), (4096, 1652), (1 << 20, 7)] {
            let mut extra = Vec::new();
            let streamed = loop {
                let mut c = ElfCapture::with_prefix(cap, extra.clone());
                for (i, chunk) in bytes.chunks(step).enumerate() {
                    c.data((i * step) as u64, chunk);
                }
                match c.finish(bytes.len() as u64) {
                    Captured::Parsed(r, _) => break format!("{r:?}"),
                    Captured::Incomplete(m) => {
                        assert!(extra.len() < 64, "{f}: no end to the read-backs");
                        extra.extend(m);
                    }
                }
            };
            assert_eq!(streamed, on_disk, "{f}: prefix {cap}, chunks of {step}");
        }
    }
}

/// Found by reading the extract target's reach: an xz block header may ask for a
/// dictionary of up to 1.5 GiB (here 2 GiB), which the decoder allocated before
/// reading a byte of data. The decoder now has a memory limit; past it the archive is
/// reported corrupt, naming why, instead of taking the memory.
#[test]
fn xz_dictionary_past_the_memory_limit_is_a_finding() {
    use std::io::Write;

    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "app", &b"hello"[..]).unwrap();
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
    enc.write_all(&tar.into_inner().unwrap()).unwrap();
    let mut xz = enc.finish().unwrap();
    // Stream header (12 bytes), then the block header: size byte, flags, filter flags
    // (LZMA2 = 0x21, one property byte: the dictionary size), padding, CRC32.
    let start = 12;
    let len = (xz[start] as usize + 1) * 4;
    let filter = xz[start..start + len]
        .windows(2)
        .position(|w| w == [0x21, 0x01])
        .unwrap();
    xz[start + filter + 2] = 38; // (2 | 0) << (38 / 2 + 11) = 2 GiB
    let crc = {
        let mut c = flate2::Crc::new();
        c.update(&xz[start..start + len - 4]);
        c.sum()
    };
    xz[start + len - 4..start + len].copy_from_slice(&crc.to_le_bytes());

    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("big-dict.tar.xz");
    fs::write(&bundle, &xz).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nomad-chroot-check"))
        .arg(&bundle)
        .args(["--no-run", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let corrupt = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cause"] == "corrupt")
        .expect("a corrupt finding");
    let message = corrupt["message"].as_str().unwrap().to_lowercase();
    assert!(message.contains("memory"), "{message}");
}

/// Found while reviewing the fuzz targets' reach (issue 8): the files named on the
/// command line (jobspec, `--var-file`, `--client-config`, test spec) were read whole,
/// so `/dev/zero` took memory until the machine ran out. They are now read up to 16 MiB
/// whatever their size claims, and refused beyond it with an error naming the file.
#[test]
fn command_line_input_files_are_read_up_to_a_cap() {
    use nomad_chroot_check::{clientconfig::ClientConfig, harness::spec::Spec, job};
    let zero = std::path::Path::new("/dev/zero");
    let inputs = job::hcl::VarInputs::default();
    let errors = [
        job::load(zero, &inputs).err().map(|e| e.to_string()),
        ClientConfig::load(&[zero.to_owned()])
            .err()
            .map(|e| e.to_string()),
        Spec::load(zero).err().map(|e| e.to_string()),
    ];
    for e in errors {
        let e = e.expect("/dev/zero was accepted");
        assert!(
            e.contains("/dev/zero") && e.contains("larger than 16777216 bytes"),
            "{e}"
        );
    }
}

/// Found by the `clientconfig` fuzz target (`ci/fuzz 600`, after 3 million inputs): a
/// client config of a thousand nested `(` overflowed the stack in hcl-rs's recursive
/// parser (the jobspec reader refused such nesting already; the client-config reader
/// did not). Now the same depth check runs first and names the line.
#[test]
fn client_config_deep_nesting_is_a_syntax_error() {
    use nomad_chroot_check::clientconfig::ClientConfig;
    let input = include_bytes!("regressions/clientconfig-deep-nesting");
    // The fuzz target's first byte picks HCL (even) or JSON (odd).
    assert_eq!(input[0] & 1, 0);
    let text = std::str::from_utf8(&input[1..]).unwrap();
    let e = ClientConfig::parse(std::path::Path::new("client.hcl"), text).unwrap_err();
    assert!(e.to_string().contains("nesting deeper than"), "{e}");
}

/// Found by the `clientconfig` fuzz target (`ci/fuzz 600`): 500 bytes of `[` left
/// unclosed after splats (`tr[ue[*][…`) took hcl-rs's parser 0.1 s here and over 3 s
/// under the fuzzer, and each further `[*][` doubles it (13 s at 48 levels): a jobspec or
/// client config could hang the checker. More than 12 open `[`/`(` are now refused
/// before parsing, with the line; legitimate files never come close.
#[test]
fn unclosed_brackets_after_splats_are_refused_before_parsing() {
    use nomad_chroot_check::{clientconfig::ClientConfig, job};
    let input = include_bytes!("regressions/clientconfig-unclosed-brackets");
    assert_eq!(input[0] & 1, 0);
    let text = std::str::from_utf8(&input[1..]).unwrap();
    let e = ClientConfig::parse(std::path::Path::new("client.hcl"), text).unwrap_err();
    assert!(e.to_string().contains("open `[`/`(`"), "{e}");
    // The jobspec reader shares the check, in expressions and in `${…}` alike.
    let tmp = tempfile::tempdir().unwrap();
    for body in [
        format!("x = {}", "a[*][".repeat(13)),
        format!("x = \"${{{}}}\"", "a[*][".repeat(13)),
    ] {
        let path = tmp.path().join("job.nomad.hcl");
        fs::write(&path, format!("job \"j\" {{\n  {body}\n}}\n")).unwrap();
        let t = std::time::Instant::now();
        let e = job::load(&path, &job::hcl::VarInputs::default()).unwrap_err();
        assert!(e.to_string().contains("open `[`/`(`"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_millis(100));
    }
}

/// Found by hand while measuring issue 4: Ctrl-C while a big bundle was being unpacked
/// left the work dir behind (exit 130, but `nomad-chroot-check.<pid>.*` stayed). The
/// signal handler removed the dir while the unpacking thread went on creating entries
/// in it, so the removal failed with ENOTEMPTY. Now the unpacker stops at the next entry
/// once an interruption is being handled, and the handler goes again until the dir is
/// gone. Checked with and without a run (whose child, started ahead, is then waiting
/// for its plan).
#[test]
fn ctrl_c_while_unpacking_leaves_nothing() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    // Enough small files that unpacking them takes seconds on any disk.
    let bundle = tmp.path().join("many.tar");
    let mut b = tar::Builder::new(fs::File::create(&bundle).unwrap());
    for i in 0..40_000 {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("d{}/f{i}", i / 1000), &b"x"[..])
            .unwrap();
    }
    b.into_inner().unwrap();
    for run in [false, true] {
        let work = tmp.path().join(format!("work-{run}"));
        fs::create_dir(&work).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nomad-chroot-check"));
        cmd.arg(&bundle)
            .args([
                "--file-count-limit",
                "0",
                "--chroot-env=none",
                "--format",
                "json",
            ])
            .env("TMPDIR", &work)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if run {
            cmd.args(["--", "/local/d0/f0"]);
        } else {
            // On disk: the static check's model in memory has nothing to leave.
            cmd.args(["--no-run", "--workdir=disk"]);
        }
        let mut child = cmd.spawn().unwrap();
        // Interrupt once unpacking is under way: seen through the checker's own root,
        // for a run's task dir is on a tmpfs only its mount namespace has.
        let until = Instant::now() + Duration::from_secs(30);
        let seen = std::path::PathBuf::from(format!("/proc/{}/root", child.id()))
            .join(work.strip_prefix("/").unwrap());
        let unpacking = || {
            fs::read_dir(&seen)
                .into_iter()
                .flatten()
                .flatten()
                .any(|d| d.path().join("task/local/d1").exists())
        };
        while !unpacking() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(unpacking(), "unpacking never started (run: {run})");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "run: {run}");
        // The run's child, if any, exits once it sees the checker gone.
        let until = Instant::now() + Duration::from_secs(5);
        let left = || fs::read_dir(&work).unwrap().count();
        while left() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let names: Vec<_> = fs::read_dir(&work)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(names.is_empty(), "left behind (run: {run}): {names:?}");
    }
}
