//! Extraction as Nomad's artifact block does it, on archives built here, many of them
//! hostile. Every test also checks that nothing appeared or changed outside the
//! destination: a sentinel directory beside it is snapshotted before and compared after.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use nomad_chroot_check::archive::{self, ArchiveKind, ExtractMode, ExtractRequest, ExtractSummary};
use nomad_chroot_check::config::{ArtifactLimits, SafetyLimits};
use nomad_chroot_check::finding::{Cause, Finding, Kind, Severity};
use nomad_chroot_check::nomad::NomadVersion;
use nomad_chroot_check::taskdir::{ChrootEnv, TaskDir, make_writable};

const HASH: &str = "0c8r9ihpqy4mkvdgb8rwmhi5dnrb2v2l";

// ---------------------------------------------------------------- harness

struct Case {
    version: NomadVersion,
    mode: ExtractMode,
    limits: ArtifactLimits,
    safety: SafetyLimits,
    chroot: ChrootEnv,
    archive: Option<ArchiveKind>,
    dest_in_task: String,
}

impl Default for Case {
    fn default() -> Self {
        let version = NomadVersion::NEWEST;
        Case {
            version,
            mode: ExtractMode::Nomad,
            limits: ArtifactLimits::nomad_default(version),
            safety: SafetyLimits::default(),
            chroot: ChrootEnv::none(),
            archive: None,
            dest_in_task: "/local".into(),
        }
    }
}

fn tar_mode() -> Case {
    Case {
        mode: ExtractMode::Tar,
        ..Case::default()
    }
}

fn version(v: &str) -> Case {
    let version: NomadVersion = v.parse().unwrap();
    Case {
        version,
        limits: ArtifactLimits::nomad_default(version),
        ..Case::default()
    }
}

type Snapshot = BTreeMap<PathBuf, (u32, Vec<u8>)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, p: &Path, out: &mut Snapshot) {
        let meta = fs::symlink_metadata(p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let content = if meta.file_type().is_symlink() {
            fs::read_link(p).unwrap().as_os_str().as_bytes().to_vec()
        } else if meta.is_file() {
            fs::read(p).unwrap()
        } else {
            Vec::new()
        };
        out.insert(rel, (meta.mode(), content));
        if meta.is_dir() {
            for e in fs::read_dir(p).unwrap() {
                walk(root, &e.unwrap().path(), out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// `<tmp>/dest` (the destination), `<tmp>/sentinel` (must never change) and
/// `<tmp>/bundles` (the archives).
struct Work {
    tmp: tempfile::TempDir,
    dest: PathBuf,
    sentinel: PathBuf,
    before: Snapshot,
}

impl Work {
    fn new() -> Work {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let sentinel = tmp.path().join("sentinel");
        fs::create_dir_all(&dest).unwrap();
        fs::create_dir_all(sentinel.join("sub")).unwrap();
        fs::create_dir_all(tmp.path().join("bundles")).unwrap();
        fs::write(sentinel.join("passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(sentinel.join("sub/keep"), b"keep").unwrap();
        let before = snapshot(tmp.path().join("sentinel").as_path());
        Work {
            tmp,
            dest,
            sentinel,
            before,
        }
    }

    fn bundle(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.tmp.path().join("bundles").join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    fn extract(&self, name: &str, bytes: &[u8], case: &Case) -> ExtractSummary {
        let path = self.bundle(name, bytes);
        self.extract_file(&path, name, case)
    }

    fn extract_file(&self, path: &Path, name: &str, case: &Case) -> ExtractSummary {
        let s = archive::extract(&ExtractRequest {
            bundle: path,
            source_name: name,
            archive: case.archive,
            dest: &self.dest,
            dest_in_task: &case.dest_in_task,
            nomad_dest: &format!(
                "/opt/nomad/data/alloc/00000000-0000-0000-0000-000000000000/task{}",
                case.dest_in_task
            ),
            mode: case.mode,
            version: case.version,
            limits: case.limits,
            safety: case.safety,
            chroot_env: &case.chroot,
        })
        .expect("extract returns a summary");
        self.assert_nothing_outside();
        s
    }

    /// The sentinel is byte-for-byte unchanged and the work dir holds nothing else.
    fn assert_nothing_outside(&self) {
        assert_eq!(
            snapshot(&self.sentinel),
            self.before,
            "the sentinel changed"
        );
        let mut top: Vec<_> = fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(top, ["bundles", "dest", "sentinel"]);
    }

    fn d(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        make_writable(self.tmp.path());
    }
}

fn find(s: &ExtractSummary, cause: Cause) -> Vec<&Finding> {
    s.findings.iter().filter(|f| f.cause == cause).collect()
}

fn one(s: &ExtractSummary, cause: Cause) -> Finding {
    let f = find(s, cause);
    assert_eq!(
        f.len(),
        1,
        "want one {cause:?} finding in {:#?}",
        s.findings
    );
    f[0].clone()
}

// ---------------------------------------------------------------- archive builders

/// A raw ustar header: any name bytes (`..`, absolute, non-UTF-8), any type.
fn raw_header(name: &[u8], kind: u8, mode: u32, link: &[u8], size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    {
        let b = h.as_mut_bytes();
        b[..name.len()].copy_from_slice(name);
        b[157..157 + link.len()].copy_from_slice(link);
    }
    h.set_mode(mode);
    h.set_size(size);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_mtime(1_700_000_000);
    h.set_uid(1234);
    h.set_gid(1234);
    h.set_cksum();
    h
}

struct T(tar::Builder<Vec<u8>>);

impl T {
    fn new() -> T {
        T(tar::Builder::new(Vec::new()))
    }
    fn file(mut self, name: &[u8], mode: u32, data: &[u8]) -> T {
        let h = raw_header(name, b'0', mode, b"", data.len() as u64);
        self.0.append(&h, data).unwrap();
        self
    }
    fn dir(mut self, name: &[u8], mode: u32) -> T {
        let h = raw_header(name, b'5', mode, b"", 0);
        self.0.append(&h, &[][..]).unwrap();
        self
    }
    fn link(mut self, kind: u8, name: &[u8], target: &[u8]) -> T {
        let h = raw_header(name, kind, 0o777, target, 0);
        self.0.append(&h, &[][..]).unwrap();
        self
    }
    fn special(mut self, kind: u8, name: &[u8]) -> T {
        let h = raw_header(name, kind, 0o644, b"", 0);
        self.0.append(&h, &[][..]).unwrap();
        self
    }
    fn tar(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
    fn gz(self) -> Vec<u8> {
        gz(&self.tar())
    }
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn xz(b: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn bz2(b: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zst(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 1).unwrap()
}

/// A zip; `(name, unix mode, body)`; a mode with S_IFLNK stores a symlink whose
/// body is the target, as Info-ZIP does.
fn zip_of(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, mode, body) in entries {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode & 0o7777);
        if mode & 0o170000 == 0o120000 {
            w.add_symlink(*name, std::str::from_utf8(body).unwrap(), opts)
                .unwrap();
        } else if name.ends_with('/') {
            w.add_directory(*name, opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(body).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn sample_tree() -> T {
    T::new()
        .dir(b"bin/", 0o755)
        .file(b"bin/bash", 0o755, b"#!bash\n")
        .link(b'2', b"bin/sh", b"bash")
        .file(
            b"etc/conf",
            0o644,
            format!("lib=/nix/store/{HASH}-glibc-2.40/lib\n").as_bytes(),
        )
}

// ---------------------------------------------------------------- go-getter's rules

/// hashicorp/go-getter:decompress_tar.go `untar`: `if containsDotDot(hdr.Name) { return
/// fmt.Errorf("entry contains '..': %s", hdr.Name) }`; the whole download fails.
#[test]
fn dotdot_entry_rejects_the_whole_archive_and_stops() {
    let w = Work::new();
    let t = T::new()
        .file(b"first", 0o644, b"1")
        .file(b"../sentinel/passwd", 0o644, b"pwned")
        .file(b"after", 0o644, b"2")
        .gz();
    let s = w.extract("evil.tar.gz", &t, &Case::default());
    assert!(s.rejected);
    let f = one(&s, Cause::PathTraversal);
    assert_eq!(f.kind, Kind::UnsafeEntry);
    assert_eq!(f.path, "../sentinel/passwd");
    assert_eq!(
        f.message.as_deref(),
        Some("entry contains '..': ../sentinel/passwd")
    );
    assert!(w.d("first").exists());
    assert!(
        !w.d("after").exists(),
        "nothing is written after the rejection"
    );
    // containsDotDot also splits on backslashes.
    let w = Work::new();
    let s = w.extract(
        "bs.tar",
        &T::new().file(b"a\\..\\b", 0o644, b"x").tar(),
        &tar_mode(),
    );
    assert!(s.rejected);
    assert_eq!(
        one(&s, Cause::PathTraversal).message.as_deref(),
        Some("entry contains '..': a\\..\\b")
    );
}

/// decompress_tar.go: `path = filepath.Join(dst, hdr.Name)` re-roots absolute names.
#[test]
fn absolute_names_are_rerooted_under_the_destination() {
    let w = Work::new();
    let abs = format!("{}/passwd", w.sentinel.display());
    let t = T::new()
        .file(abs.as_bytes(), 0o644, b"pwned")
        .file(b"/nix/store/x", 0o644, b"x")
        .gz();
    let s = w.extract("abs.tar.gz", &t, &Case::default());
    assert!(!s.rejected, "{:#?}", s.findings);
    let f = one(&s, Cause::AbsoluteName);
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message.as_deref().unwrap().starts_with("2 entries"),
        "{f:?}"
    );
    assert_eq!(
        fs::read(w.d(abs.trim_start_matches('/'))).unwrap(),
        b"pwned"
    );
    assert_eq!(fs::read(w.d("nix/store/x")).unwrap(), b"x");
}

/// A symlink entry followed by a file "through" it. go-getter flattens the link to an
/// empty file, so the second entry fails with `not a directory`; in tar mode the link
/// is kept, and we refuse to write through it. Relative and absolute targets.
#[test]
fn symlink_then_file_through_it_never_escapes() {
    for mode in [ExtractMode::Nomad, ExtractMode::Tar] {
        for target in ["../sentinel".to_owned(), String::new()] {
            let w = Work::new();
            let target = if target.is_empty() {
                w.sentinel.display().to_string()
            } else {
                target
            };
            let t = T::new()
                .link(b'2', b"evil", target.as_bytes())
                .file(b"evil/passwd", 0o644, b"pwned")
                .gz();
            let case = Case {
                mode,
                ..Case::default()
            };
            let s = w.extract("link.tar.gz", &t, &case);
            assert!(s.rejected, "{mode:?} {target}: {:#?}", s.findings);
            match mode {
                ExtractMode::Nomad => {
                    let f = one(&s, Cause::UnpackFailure);
                    assert_eq!(
                        f.nomad_error.as_deref(),
                        Some("open /local/evil/passwd: not a directory")
                    );
                    let meta = fs::symlink_metadata(w.d("evil")).unwrap();
                    assert!(meta.is_file() && meta.len() == 0);
                }
                ExtractMode::Tar => {
                    let f = one(&s, Cause::LinkEscape);
                    assert_eq!(f.kind, Kind::UnsafeEntry);
                    assert_eq!(f.path, "evil/passwd");
                    assert_eq!(fs::read_link(w.d("evil")).unwrap().to_str(), Some(&*target));
                }
            }
        }
    }
}

/// A link already present in the destination (e.g. left by an earlier artifact) is
/// never followed, in either mode.
#[test]
fn links_already_in_the_destination_are_not_followed() {
    for mode in [ExtractMode::Nomad, ExtractMode::Tar] {
        let w = Work::new();
        std::os::unix::fs::symlink("../sentinel", w.d("pre")).unwrap();
        std::os::unix::fs::symlink("../sentinel/passwd", w.d("file")).unwrap();
        let t = T::new().file(b"pre/passwd", 0o644, b"pwned").gz();
        let case = Case {
            mode,
            ..Case::default()
        };
        let s = w.extract("pre.tar.gz", &t, &case);
        assert!(s.rejected);
        assert_eq!(one(&s, Cause::LinkEscape).path, "pre/passwd");
        let s = w.extract(
            "pre2.tar.gz",
            &T::new().file(b"file", 0o644, b"pwned").gz(),
            &case,
        );
        match mode {
            // go-getter's O_TRUNC would follow it; we refuse.
            ExtractMode::Nomad => assert!(s.rejected && !find(&s, Cause::LinkEscape).is_empty()),
            // GNU tar replaces the link.
            ExtractMode::Tar => {
                assert!(!s.rejected);
                assert!(fs::symlink_metadata(w.d("file")).unwrap().is_file());
            }
        }
    }
}

/// Hard links: go-getter writes an empty file (no special case for TypeLink); tar mode
/// links only to earlier members inside the destination.
#[test]
fn hard_link_to_a_host_file() {
    let w = Work::new();
    let host = format!("{}/passwd", w.sentinel.display());
    let t = T::new().link(b'1', b"x", host.as_bytes()).gz();
    let s = w.extract("hl.tar.gz", &t, &Case::default());
    assert!(!s.rejected);
    let f = one(&s, Cause::FlattenedLink);
    assert_eq!(
        f.message.as_deref(),
        Some(&*format!(
            "hard link to `{host}` becomes an empty file when Nomad extracts the artifact"
        ))
    );
    let m = fs::symlink_metadata(w.d("x")).unwrap();
    assert!(m.is_file() && m.len() == 0 && m.nlink() == 1);
    assert!(s.links["/local/x"].hard);

    for target in [host.as_str(), "../sentinel/passwd"] {
        let w = Work::new();
        let t = T::new().link(b'1', b"x", target.as_bytes()).gz();
        let s = w.extract("hl.tar.gz", &t, &tar_mode());
        assert!(s.rejected, "{target}");
        assert_eq!(one(&s, Cause::LinkEscape).path, "x");
        assert!(!w.d("x").exists());
    }
    // An earlier member is fine.
    let w = Work::new();
    let t = T::new()
        .file(b"a", 0o644, b"data")
        .link(b'1', b"b", b"a")
        .gz();
    let s = w.extract("ok.tar.gz", &t, &tar_mode());
    assert!(!s.rejected, "{:#?}", s.findings);
    assert_eq!(
        fs::metadata(w.d("b")).unwrap().ino(),
        fs::metadata(w.d("a")).unwrap().ino()
    );
}

/// Char/block devices and FIFOs go through go-getter's `copyReader` like any file: empty
/// regular files. We never create a device node or FIFO, in either mode.
#[test]
fn devices_and_fifos_become_empty_regular_files() {
    for mode in [ExtractMode::Nomad, ExtractMode::Tar] {
        let w = Work::new();
        let t = T::new()
            .special(b'3', b"null")
            .special(b'4', b"sda")
            .special(b'6', b"fifo")
            .gz();
        let case = Case {
            mode,
            ..Case::default()
        };
        let s = w.extract("dev.tar.gz", &t, &case);
        assert!(!s.rejected, "{:#?}", s.findings);
        assert_eq!(find(&s, Cause::Device).len(), 3);
        for n in ["null", "sda", "fifo"] {
            let ft = fs::symlink_metadata(w.d(n)).unwrap().file_type();
            assert!(ft.is_file() && !ft.is_char_device() && !ft.is_fifo(), "{n}");
        }
    }
}

/// Nomad passes `Umask = setuid|setgid` (getter/params.go): the bits are stripped.
#[test]
fn setuid_and_setgid_are_stripped() {
    for mode in [ExtractMode::Nomad, ExtractMode::Tar] {
        let w = Work::new();
        let t = T::new().file(b"su", 0o6755, b"x").gz();
        let case = Case {
            mode,
            ..Case::default()
        };
        let s = w.extract("su.tar.gz", &t, &case);
        assert_eq!(one(&s, Cause::Setuid).severity, Severity::Warning);
        assert_eq!(fs::metadata(w.d("su")).unwrap().mode() & 0o7777, 0o755);
    }
}

/// decompress_tar.go: directories are created 0755 and get their header mode in a
/// final pass; files keep mtimes (`> 0`, so Nix's 1 is kept); owners are ignored.
#[test]
fn directory_modes_last_mtimes_kept_owners_ignored() {
    let w = Work::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = raw_header(b"ro/", b'5', 0o555, b"", 0);
    h.set_mtime(1);
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    let mut h = raw_header(b"ro/f", b'0', 0o444, b"", 2);
    h.set_mtime(1);
    h.set_cksum();
    b.append(&h, &b"hi"[..]).unwrap();
    let s = w.extract("ro.tar.gz", &gz(&b.into_inner().unwrap()), &Case::default());
    assert!(!s.rejected, "{:#?}", s.findings);
    let d = fs::metadata(w.d("ro")).unwrap();
    assert_eq!(d.mode() & 0o7777, 0o555);
    assert_eq!(d.mtime(), 1);
    let f = fs::metadata(w.d("ro/f")).unwrap();
    assert_eq!(f.mode() & 0o7777, 0o444);
    assert_eq!(f.mtime(), 1);
    assert_eq!(
        f.uid(),
        nix::unistd::getuid().as_raw(),
        "header uid 1234 is ignored"
    );
}

/// decompress_tar.go: `if !done { return fmt.Errorf("empty archive: %s", src) }`:
/// directories alone do not count.
#[test]
fn archive_of_only_directories_is_empty() {
    let w = Work::new();
    let s = w.extract(
        "e.tar.gz",
        &T::new().dir(b"a/", 0o755).gz(),
        &Case::default(),
    );
    assert!(s.rejected);
    // go-getter names its copy of the download, `$TMPDIR/getterNNN/archive`.
    assert_eq!(
        one(&s, Cause::EmptyArchive).nomad_error.as_deref(),
        Some("empty archive: /tmp/getter*/archive")
    );
    let s = w.extract("e.zip", &zip_of(&[]), &Case::default());
    assert_eq!(
        one(&s, Cause::EmptyArchive).nomad_error.as_deref(),
        Some("empty archive: /tmp/getter*/archive")
    );
}

fn n_files(n: usize) -> Vec<u8> {
    let mut t = T::new();
    for i in 0..n {
        t = t.file(format!("f{i}").as_bytes(), 0o644, b"");
    }
    t.gz()
}

/// hashicorp/go-getter:decompress_tar.go (v1.7.0–1.8.6): `filesCount++; if filesCount >
/// filesLimit` runs before every `Next()`, the final EOF call included. With the
/// default 4096: 4095 entries pass (the EOF call is the 4096th), 4096 entries fail
/// with `4097 > 4096`.
#[test]
fn file_count_limit_boundary_is_go_getters() {
    let w = Work::new();
    let s = w.extract("ok.tar.gz", &n_files(4095), &Case::default());
    assert!(!s.rejected, "{:#?}", s.findings);
    assert_eq!(s.entries, 4095);
    let w = Work::new();
    let s = w.extract("over.tar.gz", &n_files(4096), &Case::default());
    assert!(s.rejected);
    let f = one(&s, Cause::FileCountLimit);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("tar archive contains too many files: 4097 > 4096")
    );
    // A small limit: 2 entries pass a limit of 3, 3 fail with `4 > 3`. A directory
    // counts; a GNU long-name header folds into its entry (Go's archive/tar).
    let limit3 = Case {
        limits: ArtifactLimits {
            file_count: Some(3),
            size: None,
        },
        ..Case::default()
    };
    let long = format!("d/{}", "n".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "d/", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    b.append_data(&mut h, &long, &b"x"[..]).unwrap();
    let w = Work::new();
    let s = w.extract("two.tar.gz", &gz(&b.into_inner().unwrap()), &limit3);
    assert!(!s.rejected, "{:#?}", s.findings);
    assert!(w.d(&long).exists());
    let w = Work::new();
    let three = T::new()
        .dir(b"d/", 0o755)
        .file(b"d/a", 0o644, b"")
        .file(b"d/b", 0o644, b"")
        .gz();
    let s = w.extract("three.tar.gz", &three, &limit3);
    assert_eq!(
        one(&s, Cause::FileCountLimit).nomad_error.as_deref(),
        Some("tar archive contains too many files: 4 > 3")
    );
}

/// 100k entries: Nomad ≥ 1.5 stops at its limit; Nomad 1.0 had none, and our own
/// entry cap still fires, naming the entry.
#[test]
fn hundred_thousand_entries() {
    let big = n_files(100_000);
    let w = Work::new();
    let t0 = Instant::now();
    let s = w.extract("many.tar.gz", &big, &Case::default());
    assert_eq!(
        one(&s, Cause::FileCountLimit).nomad_error.as_deref(),
        Some("tar archive contains too many files: 4097 > 4096")
    );
    assert!(t0.elapsed().as_secs() < 30);
    let w = Work::new();
    let case = Case {
        safety: SafetyLimits {
            max_entries: 5_000,
            ..SafetyLimits::default()
        },
        ..version("1.0")
    };
    let s = w.extract("many.tar.gz", &big, &case);
    assert!(s.rejected);
    let f = one(&s, Cause::Limit);
    assert_eq!(f.path, "f5000");
    assert!(
        f.message.as_deref().unwrap().contains("5000 entries"),
        "{f:?}"
    );
}

/// decompress_tar.go: `fileSize += fileInfo.Size(); if fileSizeLimit > 0 && fileSize >
/// fileSizeLimit { return fmt.Errorf("tar archive larger than limit: %d", fileSizeLimit) }`,
/// and our own unpacked-bytes cap with Nomad's limits off. The bomb: 3 GiB of zeros
/// streamed into the gzip encoder (a few MB on disk).
#[test]
fn gzip_bomb_hits_the_size_caps_fast() {
    let w = Work::new();
    let size: u64 = 3 << 30;
    let path = w.tmp.path().join("bundles/bomb.tar.gz");
    {
        let f = fs::File::create(&path).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(raw_header(b"zeros", b'0', 0o644, b"", size).as_bytes())
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(size >> 20) {
            e.write_all(&zeros).unwrap();
        }
        e.finish().unwrap();
    }
    assert!(fs::metadata(&path).unwrap().len() < 64 << 20);
    let t0 = Instant::now();
    let case = Case {
        limits: ArtifactLimits {
            file_count: Some(4096),
            size: Some(1 << 30),
        },
        ..Case::default()
    };
    let s = w.extract_file(&path, "bomb.tar.gz", &case);
    assert_eq!(
        one(&s, Cause::SizeLimit).nomad_error.as_deref(),
        Some("tar archive larger than limit: 1073741824")
    );
    let case = Case {
        safety: SafetyLimits {
            max_unpacked_bytes: 1 << 30,
            ..SafetyLimits::default()
        },
        ..version("1.0")
    };
    let s = w.extract_file(&path, "bomb.tar.gz", &case);
    let f = one(&s, Cause::Limit);
    assert_eq!(f.path, "zeros");
    assert!(s.unpacked_bytes == 0 && !w.d("zeros").exists());
    assert!(
        t0.elapsed().as_secs() < 2,
        "caps fired after {:?}",
        t0.elapsed()
    );
}

#[test]
fn truncated_gzip_is_a_corrupt_rejection_naming_the_offset() {
    let w = Work::new();
    let data: Vec<u8> = (0..2_000_000u64).map(|i| (i * 7919 % 251) as u8).collect();
    let full = T::new().file(b"big", 0o644, &data).gz();
    let cut = &full[..full.len() / 2];
    let s = w.extract("cut.tar.gz", cut, &Case::default());
    assert!(s.rejected);
    let f = one(&s, Cause::Corrupt);
    assert_eq!(f.path, "big");
    let m = f.message.as_deref().unwrap();
    assert!(
        m.starts_with("truncated archive") && m.contains("bytes of `cut.tar.gz`"),
        "{m}"
    );
    assert_eq!(f.nomad_error.as_deref(), Some("unexpected EOF"));
}

#[test]
fn corrupt_header_checksum_is_rejected_with_its_offset() {
    let w = Work::new();
    let mut t = T::new()
        .file(b"a", 0o644, b"x")
        .file(b"b", 0o644, b"y")
        .tar();
    t[512 + 512 + 10] ^= 0x55; // second header, inside the name field
    let s = w.extract("bad.tar", &t, &Case::default());
    assert!(s.rejected);
    let f = one(&s, Cause::Corrupt);
    let m = f.message.as_deref().unwrap();
    assert!(
        m.contains("archive/tar: invalid tar header")
            && m.contains("unpacked 1536 bytes of its tar stream"),
        "{m}"
    );
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("archive/tar: invalid tar header")
    );
    assert!(w.d("a").exists() && !w.d("b").exists());
}

#[test]
fn non_utf8_names_keep_their_bytes() {
    let w = Work::new();
    let s = w.extract(
        "n.tar.gz",
        &T::new().file(b"caf\xe9", 0o644, b"x").gz(),
        &Case::default(),
    );
    assert!(!s.rejected);
    let names: Vec<Vec<u8>> = fs::read_dir(&w.dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    assert_eq!(names, vec![b"caf\xe9".to_vec()]);
    let s = w.extract(
        "m.tar.gz",
        &T::new().file(b"\xff/../x", 0o644, b"x").gz(),
        &Case::default(),
    );
    assert_eq!(one(&s, Cause::PathTraversal).path, "\u{fffd}/../x");
}

/// What Nomad refuses for its length is refused with Nomad's error: a path of 4096
/// bytes or more on the client (its destination's path, plus the name). What Nomad
/// accepts passes our caps by default, and a cap set lower says Nomad would go on.
#[test]
fn long_names_and_deep_paths_as_nomad_takes_them() {
    let w = Work::new();
    let long = vec!["a".repeat(200); 30].join("/");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    b.append_data(&mut h, &long, &b"x"[..]).unwrap();
    let s = w.extract(
        "long.tar.gz",
        &gz(&b.into_inner().unwrap()),
        &Case::default(),
    );
    assert!(s.rejected);
    let f = one(&s, Cause::UnpackFailure);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some(format!("open /local/{long}: file name too long").as_str())
    );
    assert_eq!(s.nomad_failure, f.nomad_error);

    let deep = vec!["d"; 200].join("/") + "/f";
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    b.append_data(&mut h, &deep, &b"x"[..]).unwrap();
    let bundle = gz(&b.into_inner().unwrap());
    let s = w.extract("deep.tar.gz", &bundle, &Case::default());
    assert!(!s.rejected, "{:#?}", s.findings);
    assert_eq!(fs::read(w.d(&deep)).unwrap(), b"x");

    let w = Work::new();
    let capped = Case {
        safety: SafetyLimits {
            max_depth: 100,
            ..SafetyLimits::default()
        },
        ..Case::default()
    };
    let s = w.extract("deep.tar.gz", &bundle, &capped);
    let f = one(&s, Cause::Limit);
    let m = f.message.as_deref().unwrap();
    assert!(
        m.contains("201 directories deep") && m.contains("Nomad itself would go on"),
        "{m}"
    );
    assert_eq!(s.nomad_failure, None, "Nomad would unpack it");
}

// ---------------------------------------------------------------- formats

fn check_sample(w: &Work, s: &ExtractSummary) {
    assert!(!s.rejected, "{:#?}", s.findings);
    assert_eq!(fs::read(w.d("bin/bash")).unwrap(), b"#!bash\n");
    let sh = fs::symlink_metadata(w.d("bin/sh")).unwrap();
    assert!(sh.is_file(), "Nomad flattens the symlink");
    assert_eq!(
        one(s, Cause::FlattenedLink).message.as_deref(),
        Some(if s.format == "zip" {
            "symlink to `bash` becomes a regular file containing the text `bash` when Nomad extracts the artifact"
        } else {
            "symlink to `bash` becomes an empty file when Nomad extracts the artifact"
        })
    );
    let store = format!("/nix/store/{HASH}-glibc-2.40");
    assert_eq!(
        s.store_refs[&store].iter().collect::<Vec<_>>(),
        vec!["/local/etc/conf"]
    );
}

/// Every decompressor go-getter knows (decompress.go `LimitedDecompressors`).
#[test]
fn all_formats_unpack_alike() {
    let tar = sample_tree().tar();
    for (name, bytes, format) in [
        ("s.tar", tar.clone(), "tar"),
        ("s.tar.gz", gz(&tar), "tar+gzip"),
        ("s.tgz", gz(&tar), "tar+gzip"),
        ("s.tar.xz", xz(&tar), "tar+xz"),
        ("s.tar.zst", zst(&tar), "tar+zstd"),
        ("s.tar.bz2", bz2(&tar), "tar+bzip2"),
    ] {
        let w = Work::new();
        let s = w.extract(name, &bytes, &Case::default());
        assert_eq!(s.format, format);
        check_sample(&w, &s);
        assert_eq!(fs::symlink_metadata(w.d("bin/sh")).unwrap().len(), 0);
    }
    let w = Work::new();
    let conf = format!("lib=/nix/store/{HASH}-glibc-2.40/lib\n");
    let z = zip_of(&[
        ("bin/", 0o040755, b""),
        ("bin/bash", 0o100755, b"#!bash\n"),
        ("bin/sh", 0o120777, b"bash"),
        ("etc/conf", 0o100644, conf.as_bytes()),
    ]);
    let s = w.extract("s.zip", &z, &Case::default());
    assert_eq!(s.format, "zip");
    check_sample(&w, &s);
    assert_eq!(fs::read(w.d("bin/sh")).unwrap(), b"bash");
    // tar mode keeps the link.
    let w = Work::new();
    let s = w.extract("s.zip", &z, &tar_mode());
    assert_eq!(fs::read_link(w.d("bin/sh")).unwrap().to_str(), Some("bash"));
    assert!(find(&s, Cause::FlattenedLink).is_empty());
}

/// decompress_zip.go: the same `..` check; `len(zipR.File) > d.FilesLimit`.
#[test]
fn zip_rules() {
    let w = Work::new();
    let z = zip_of(&[
        ("ok", 0o100644, b"1"),
        ("../sentinel/passwd", 0o100644, b"pwned"),
    ]);
    let s = w.extract("evil.zip", &z, &Case::default());
    assert_eq!(
        one(&s, Cause::PathTraversal).message.as_deref(),
        Some("entry contains '..': ../sentinel/passwd")
    );
    let files: Vec<(String, u32, &[u8])> = (0..4)
        .map(|i| (format!("f{i}"), 0o100644, &b""[..]))
        .collect();
    let refs: Vec<(&str, u32, &[u8])> =
        files.iter().map(|(n, m, b)| (n.as_str(), *m, *b)).collect();
    let limit = |n| Case {
        limits: ArtifactLimits {
            file_count: Some(n),
            size: None,
        },
        ..Case::default()
    };
    let w = Work::new();
    assert!(!w.extract("four.zip", &zip_of(&refs), &limit(4)).rejected);
    let w = Work::new();
    let s = w.extract("four.zip", &zip_of(&refs), &limit(3));
    assert_eq!(
        one(&s, Cause::FileCountLimit).nomad_error.as_deref(),
        Some("zip archive contains too many files: 4 > 3")
    );
    assert!(!w.d("f0").exists(), "checked before anything is written");
}

/// go-getter picks the decompressor by name; a `.tar.gz` holding xz fails in Go's gzip
/// reader. We report it and still check the content.
#[test]
fn name_and_content_disagree() {
    let w = Work::new();
    let s = w.extract("app.tar.gz", &xz(&sample_tree().tar()), &Case::default());
    let f = one(&s, Cause::ExtensionMismatch);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("Error opening a gzip reader for /tmp/getter*/archive: gzip: invalid header")
    );
    assert_eq!(s.nomad_failure, f.nomad_error);
    assert!(f.is_rejection());
    assert_eq!(s.detected_format.as_deref(), Some("tar+xz"));
    assert!(w.d("bin/bash").exists(), "still unpacked by content");

    let w = Work::new();
    let s = w.extract("app.bin", &gz(&sample_tree().tar()), &Case::default());
    let f = one(&s, Cause::ExtensionMismatch);
    assert!(
        f.message.as_deref().unwrap().contains("does not unpack it"),
        "{f:?}"
    );
    assert!(w.d("bin/bash").exists());

    // Nomad 1.0's go-getter 1.5.0 has no tar.zst.
    let w = Work::new();
    let s = w.extract("app.tar.zst", &zst(&sample_tree().tar()), &version("1.0"));
    assert_eq!(s.format, "file (not unpacked)");
    assert_eq!(one(&s, Cause::ExtensionMismatch).severity, Severity::Error);
    // archive= overrides the name.
    let w = Work::new();
    let case = Case {
        archive: Some(ArchiveKind::TarZst),
        ..Case::default()
    };
    let s = w.extract("download", &zst(&sample_tree().tar()), &case);
    assert!(find(&s, Cause::ExtensionMismatch).is_empty());
    assert_eq!(s.format, "tar+zstd");
    // Not an archive at all.
    let w = Work::new();
    let s = w.extract("junk.tar.gz", b"hello world", &Case::default());
    assert!(s.rejected);
    assert_eq!(
        one(&s, Cause::Format).nomad_error.as_deref(),
        Some("Error opening a gzip reader for /tmp/getter*/archive: gzip: invalid header")
    );
}

/// §6.5: artifact files landing on a chroot_env path that exists on the host are
/// written through the chroot's hard links by Nomad. We warn, and write nothing there.
#[test]
fn chroot_env_collision() {
    let w = Work::new();
    let case = Case {
        chroot: ChrootEnv::from_args(
            NomadVersion::NEWEST,
            &[format!("{}=/etc", w.sentinel.display())],
        )
        .unwrap(),
        dest_in_task: "/".into(),
        ..Case::default()
    };
    let t = T::new()
        .file(b"etc/passwd", 0o644, b"pwned")
        .file(b"etc/new", 0o644, b"ok")
        .gz();
    let s = w.extract("c.tar.gz", &t, &case);
    let f = one(&s, Cause::ChrootEnvCollision);
    assert_eq!(f.path, "/etc/passwd");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(fs::read(w.d("etc/passwd")).unwrap(), b"pwned");
}

/// Store references are found while bytes stream, across read-buffer boundaries, and in
/// symlink targets in tar mode.
#[test]
fn store_refs_across_buffer_boundaries_and_in_link_targets() {
    let w = Work::new();
    let mut data = vec![b'x'; 3 << 20];
    let r = format!("/nix/store/{HASH}-openssl-3.0");
    let at = (1 << 20) - 20;
    data[at..at + r.len()].copy_from_slice(r.as_bytes());
    data[at + r.len()] = b'/';
    let t = T::new()
        .file(b"blob", 0o644, &data)
        .link(
            b'2',
            b"ssl",
            format!("/nix/store/{HASH}-cacert/etc").as_bytes(),
        )
        .gz();
    let s = w.extract("r.tar.gz", &t, &tar_mode());
    assert_eq!(
        s.store_refs[&r].iter().collect::<Vec<_>>(),
        vec!["/local/blob"]
    );
    assert_eq!(
        s.store_refs[&format!("/nix/store/{HASH}-cacert")]
            .iter()
            .collect::<Vec<_>>(),
        vec!["/local/ssl"]
    );
    assert_eq!(s.unpacked_bytes, 3 << 20);
}

/// The example repo (datakurre/nomad-with-nix) ships `tar cvzhP --hard-dereference`
/// bundles: absolute /nix/store members, `bin/sh`, `usr/local/bin/*`, unpacked with
/// `destination = "/"`.
#[test]
fn example_repo_layout_at_the_task_root() {
    let version = NomadVersion::NEWEST;
    let td = TaskDir::build("app", version, ChrootEnv::nomad_default(version)).unwrap();
    let (host, task) = td.destination("/").unwrap();
    assert_eq!(task, "/");
    let store = format!("/nix/store/{HASH}-app-1.0");
    let t = T::new()
        .dir(format!("{store}/").as_bytes(), 0o555)
        .dir(format!("{store}/bin/").as_bytes(), 0o555)
        .file(format!("{store}/bin/app").as_bytes(), 0o555, b"\x7fELF")
        .file(b"bin/sh", 0o555, format!("#!{store}/bin/app\n").as_bytes())
        .file(
            b"usr/local/bin/app",
            0o555,
            format!("#!/bin/sh\nexec {store}/bin/app\n").as_bytes(),
        )
        .gz();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("app-1.0.tar.gz");
    fs::write(&bundle, t).unwrap();
    let chroot = ChrootEnv::nomad_default(version);
    let s = archive::extract(&ExtractRequest {
        bundle: &bundle,
        source_name: "app-1.0.tar.gz",
        archive: None,
        dest: &host,
        dest_in_task: &task,
        nomad_dest: &td.nomad_client_path(&task),
        mode: ExtractMode::Nomad,
        version,
        limits: ArtifactLimits::nomad_default(version),
        safety: SafetyLimits::default(),
        chroot_env: &chroot,
    })
    .unwrap();
    assert!(!s.rejected, "{:#?}", s.findings);
    assert!(td.root.join(format!("{}/bin/app", &store[1..])).is_file());
    assert_eq!(
        fs::metadata(td.root.join(&store[1..])).unwrap().mode() & 0o777,
        0o555
    );
    assert!(td.root.join("usr/local/bin/app").is_file());
    // At the task root, re-rooting absolute names changes nothing: no note.
    assert!(
        find(&s, Cause::AbsoluteName).is_empty(),
        "{:#?}",
        s.findings
    );
    assert!(s.store_refs.contains_key(&store));
    if Path::new("/bin/sh").exists() {
        assert_eq!(one(&s, Cause::ChrootEnvCollision).path, "/bin/sh");
    }
}

// ---------------------------------------------------------------- the binary

fn run_bin(args: &[&str]) -> (i32, serde_json::Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nomad-chroot-check"))
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn binary_reports_json_and_exit_codes() {
    let w = Work::new();
    let ok = w.bundle("ok.tar.gz", &sample_tree().gz());
    let (code, json) = run_bin(&[ok.to_str().unwrap(), "--format", "json", "--no-run"]);
    assert_eq!(json["bundle"]["format"], "tar+gzip", "{json}");
    assert_eq!(json["bundle"]["entries"], 4);
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["cause"] == "flattened-link")
    );
    assert!(code == 0 || code == 1, "{code}");
    let evil = w.bundle("evil.tar.gz", &T::new().file(b"../x", 0o644, b"x").gz());
    let (code, json) = run_bin(&[evil.to_str().unwrap(), "--format", "json", "--no-run"]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["verdict"], "reject");
    w.assert_nothing_outside();
}

/// Go's archive/tar reads no body for header-only types (`isHeaderOnlyType`): a symlink
/// that declares a body hides an entry in it, which Nomad reads as the next header and
/// GNU tar skips. Nomad mode sees what Nomad sees (here an entry with `..`); tar mode
/// refuses an archive that means different things to each.
#[test]
fn header_only_entry_with_a_body() {
    let w = Work::new();
    let mut b = tar::Builder::new(Vec::new());
    let hidden = raw_header(b"../sentinel/passwd", b'0', 0o644, b"", 0);
    let h = raw_header(b"s", b'2', 0o777, b"x", 512);
    b.append(&h, hidden.as_bytes().as_slice()).unwrap();
    let bytes = b.into_inner().unwrap();
    let s = w.extract("hide.tar", &bytes, &Case::default());
    assert_eq!(
        s.nomad_failure.as_deref(),
        Some("entry contains '..': ../sentinel/passwd")
    );
    assert_eq!(one(&s, Cause::PathTraversal).path, "../sentinel/passwd");
    let s = w.extract("hide.tar", &bytes, &tar_mode());
    assert!(s.rejected);
    assert_eq!(one(&s, Cause::Format).path, "s");
}

/// A path listed twice (CVE-2024-7625 was about repeated headers): the later entry
/// wins, whole, in both modes; earlier queued writes never land on top of it.
#[test]
fn repeated_path_keeps_the_last_entry() {
    for mode in [ExtractMode::Nomad, ExtractMode::Tar] {
        let w = Work::new();
        let big = vec![b'a'; 5 << 20];
        let t = T::new()
            .file(b"f", 0o644, &big)
            .file(b"f", 0o600, b"second")
            .gz();
        let case = Case {
            mode,
            ..Case::default()
        };
        let s = w.extract("dup.tar.gz", &t, &case);
        assert!(!s.rejected, "{:#?}", s.findings);
        assert_eq!(fs::read(w.d("f")).unwrap(), b"second", "{mode:?}");
        assert_eq!(fs::metadata(w.d("f")).unwrap().mode() & 0o777, 0o600);
    }
}

/// `--keep`: the kept work dir is the user's. The next check (which sweeps work dirs
/// of dead checkers) leaves it alone, even when it looks old; it sweeps a dead
/// checker's dir, and never one a live check holds, whatever its pid says (a check in
/// another pid namespace sharing `/tmp`).
#[test]
fn kept_dir_survives_the_next_check() {
    use std::os::unix::fs::PermissionsExt;
    let w = Work::new();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = w.bundle("ok.tar.gz", &sample_tree().gz());
    let check = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nomad-chroot-check"))
            .env("TMPDIR", tmp.path())
            .arg(&bundle)
            .args(["--no-run", "--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let json = check(&["--keep"]);
    let kept = PathBuf::from(json["kept_work_dir"].as_str().expect("a kept dir"));
    let name = kept.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("nomad-chroot-check-kept."), "{name}");
    let sh = kept.join("task/local/bin/sh");
    assert!(sh.is_file(), "{}", sh.display());

    // A pid that no longer runs, and dirs as checkers leave them, all made long ago.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = tmp.path().join(format!("nomad-chroot-check.{dead}.abc123"));
    let held = tmp.path().join(format!("nomad-chroot-check.{dead}.def456"));
    for d in [&stale, &held] {
        fs::create_dir_all(d.join("task/local/ro")).unwrap();
        fs::set_permissions(d.join("task/local/ro"), fs::Permissions::from_mode(0o555)).unwrap();
    }
    let long_ago = nix::sys::time::TimeSpec::new(1_600_000_000, 0);
    for d in [&stale, &held, &kept] {
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            d.as_path(),
            &long_ago,
            &long_ago,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
    // A live check elsewhere holds its dir.
    let lock = nix::fcntl::Flock::lock(
        fs::File::open(&held).unwrap(),
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .unwrap();

    // A check with a work dir on disk sweeps (the static check in memory touches no
    // disk at all).
    let json = check(&["--workdir", "disk"]);
    assert_eq!(json["kept_work_dir"], serde_json::Value::Null);
    assert!(sh.is_file(), "the kept dir is gone after the next check");
    assert!(!stale.exists(), "a dead checker's dir was not swept");
    assert!(held.exists(), "a held dir was swept");
    drop(lock);
    crate::make_writable(tmp.path());
}
