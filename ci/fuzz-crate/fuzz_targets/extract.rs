//! The archive reader and extractor: the input, as each archive kind go-getter knows
//! (chosen by name, raw or compressed here first), is unpacked in both modes into a
//! scratch dir inside a fresh temp dir. After every input: nothing beside the scratch
//! dir changed, and nothing inside it is a device, FIFO, socket, setuid/setgid file,
//! a hard link to a file outside, or (in Nomad mode) a link at all.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::archive::{self, ArchiveKind, ExtractMode, ExtractRequest};
use nomad_chroot_check::config::{ArtifactLimits, SafetyLimits};
use nomad_chroot_check::nomad::NomadVersion;
use nomad_chroot_check::taskdir::ChrootEnv;

/// Names pick go-getter's decompressor; the last one has no known suffix (sniffed).
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

fn compress(name: &str, tar: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if name.ends_with(".gz") || name.ends_with(".tgz") {
        let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        e.write_all(tar).unwrap();
        e.finish().unwrap();
    } else if name.ends_with(".bz2") {
        let mut e = bzip2::write::BzEncoder::new(&mut out, bzip2::Compression::fast());
        e.write_all(tar).unwrap();
        e.finish().unwrap();
    } else if name.ends_with(".xz") {
        let mut e = liblzma::write::XzEncoder::new(&mut out, 0);
        e.write_all(tar).unwrap();
        e.finish().unwrap();
    } else if name.ends_with(".zst") {
        out = zstd::encode_all(tar, 1).unwrap();
    } else {
        out = tar.to_vec();
    }
    out
}

#[derive(Debug, PartialEq)]
struct Snap {
    mode: u32,
    ino: u64,
    size: u64,
    content: Vec<u8>,
}

/// Every entry under `dir`, links not followed, with its content or link target.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Snap> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let content = if m.file_type().is_symlink() {
            fs::read_link(&p)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else if m.is_file() {
            fs::read(&p).unwrap()
        } else {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            Vec::new()
        };
        out.insert(
            p,
            Snap {
                mode: m.mode(),
                ino: m.ino(),
                size: m.size(),
                content,
            },
        );
    }
    out
}

fn check_inside(dest: &Path, mode: ExtractMode) {
    let mut links_seen: HashMap<u64, (u64, PathBuf)> = HashMap::new();
    let mut stack = vec![dest.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        assert!(
            !(ft.is_block_device() || ft.is_char_device() || ft.is_fifo() || ft.is_socket()),
            "special file made: {}",
            p.display()
        );
        assert_eq!(
            m.mode() & 0o6000,
            0,
            "setuid/setgid file made: {}",
            p.display()
        );
        if ft.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if ft.is_symlink() {
            assert_eq!(
                mode,
                ExtractMode::Tar,
                "link kept in Nomad mode: {}",
                p.display()
            );
        } else {
            assert!(ft.is_file());
            assert!(m.nlink() >= 1);
            links_seen.entry(m.ino()).or_insert((m.nlink(), p.clone()));
            let e = links_seen.get_mut(&m.ino()).unwrap();
            e.0 -= 1;
        }
    }
    for (_, (left, p)) in links_seen {
        assert_eq!(
            left,
            0,
            "{} is hard-linked to a file outside the scratch dir",
            p.display()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let name = NAMES[(sel & 7) as usize];
    let we_compress = sel & 8 != 0;
    let by_option = sel & 16 != 0;
    let at_root = sel & 32 != 0;
    let version = if sel & 64 != 0 {
        NomadVersion::new(1, 4, 0)
    } else {
        NomadVersion::NEWEST
    };
    let bytes = if we_compress {
        compress(name, payload)
    } else {
        payload.to_vec()
    };
    let archive = if by_option {
        name.strip_prefix("b.")
            .and_then(|k| k.parse::<ArchiveKind>().ok())
    } else {
        None
    };

    let tmp = tempfile::Builder::new()
        .prefix("ncc-fuzz-")
        .tempdir()
        .unwrap();
    let bundle = tmp.path().join(name);
    fs::write(&bundle, &bytes).unwrap();
    let sentinel = tmp.path().join("sentinel");
    fs::create_dir(&sentinel).unwrap();
    fs::write(sentinel.join("secret"), b"do not touch").unwrap();
    fs::create_dir(sentinel.join("d")).unwrap();
    std::os::unix::fs::symlink("../sentinel/secret", sentinel.join("d/l")).unwrap();
    let before = snapshot(&sentinel);

    let chroot = if at_root {
        ChrootEnv::nomad_default(version)
    } else {
        ChrootEnv::none()
    };
    let safety = SafetyLimits {
        max_unpacked_bytes: 16 << 20,
        max_entries: 4096,
        ..SafetyLimits::default()
    };
    for (dir, mode) in [("nomad", ExtractMode::Nomad), ("tar", ExtractMode::Tar)] {
        let dest = tmp.path().join(dir);
        fs::create_dir(&dest).unwrap();
        let r = archive::extract(&ExtractRequest {
            bundle: &bundle,
            source_name: name,
            archive,
            dest: &dest,
            dest_in_task: if at_root { "/" } else { "/local" },
            nomad_dest: "/opt/nomad/data/alloc/00000000-0000-0000-0000-000000000000/task/local",
            mode,
            version,
            limits: ArtifactLimits::nomad_default(version),
            safety,
            chroot_env: &chroot,
        });
        if let Err(e) = r {
            panic!("extract failed instead of reporting a finding: {e}");
        }
        check_inside(&dest, mode);
    }
    assert_eq!(snapshot(&sentinel), before, "the sentinel changed");
    let mut top: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    let mut want = vec![
        name.to_owned(),
        "nomad".into(),
        "sentinel".into(),
        "tar".into(),
    ];
    want.sort();
    assert_eq!(top, want, "something was made beside the scratch dirs");
    // Read-only dirs from the archive must not stop the temp dir's removal.
    nomad_chroot_check::taskdir::make_writable(tmp.path());
});
