//! Bombs and disk space: what unpacking costs the work dir's filesystem.
//!
//! - a gzip bomb (a tar of one huge file of zeros) is written sparse: the file reads back
//!   as its full size of zeros, with its mode, and takes (almost) no blocks; files with
//!   data between runs of zeros keep every byte (checked in-process, by `st_blocks`);
//! - an archive that needs more room than the work dir's filesystem has stops early,
//!   with exit 3 and a message saying how much is needed, how much is free and how to
//!   point `TMPDIR` elsewhere, rather than filling the disk: on a 16 MiB tmpfs mounted
//!   in a private mount namespace (`unshare -m`, root only; ignored with the reason
//!   otherwise).
//!
//! libtest-mimic, so a trial that cannot run here is reported ignored with its reason.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use nomad_chroot_check::archive::{self, ExtractMode, ExtractRequest};
use nomad_chroot_check::config::{ArtifactLimits, SafetyLimits};
use nomad_chroot_check::nomad::NomadVersion;
use nomad_chroot_check::taskdir::{ChrootEnv, make_writable};

const BIN: &str = env!("CARGO_BIN_EXE_nomad-chroot-check");
const MIB: u64 = 1 << 20;

fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(msg().into()) }
}

/// A ustar header for a regular file.
fn header(name: &str, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    h
}

/// What fills a file, MiB by MiB (`None`: zeros).
type Pattern<'a> = Option<&'a dyn Fn(u64) -> Vec<u8>>;

/// A `.tar.gz` of `files` streamed into the encoder: each is `(name, mode, size,
/// pattern)`.
fn tar_gz(path: &Path, files: &[(&str, u32, u64, Pattern<'_>)]) {
    let f = fs::File::create(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    let zeros = vec![0u8; MIB as usize];
    for (name, mode, size, pattern) in files {
        e.write_all(header(name, *mode, *size).as_bytes()).unwrap();
        let mut left = *size;
        let mut block = 0;
        while left > 0 {
            let n = left.min(MIB);
            match pattern {
                Some(p) => e.write_all(&p(block)[..n as usize]).unwrap(),
                None => e.write_all(&zeros[..n as usize]).unwrap(),
            }
            left -= n;
            block += 1;
        }
        let pad = (512 - size % 512) % 512;
        e.write_all(&vec![0; pad as usize]).unwrap();
    }
    e.write_all(&[0; 1024]).unwrap();
    e.finish().unwrap();
}

fn extract(bundle: &Path, dest: &Path) -> archive::ExtractSummary {
    let version = NomadVersion::NEWEST;
    archive::extract(&ExtractRequest {
        bundle,
        source_name: "bomb.tar.gz",
        archive: None,
        dest,
        dest_in_task: "/local",
        nomad_dest: "/opt/nomad/data/alloc/00000000-0000-0000-0000-000000000000/task/local",
        mode: ExtractMode::Nomad,
        version,
        limits: ArtifactLimits::nomad_default(version),
        safety: SafetyLimits::default(),
        chroot_env: &ChrootEnv::none(),
    })
    .unwrap()
}

/// Allocated bytes of a file.
fn allocated(p: &Path) -> u64 {
    fs::metadata(p).unwrap().blocks() * 512
}

/// 256 MiB of zeros in a 256 KB gzip: unpacked in full size, mode and mtime, without the
/// blocks; a file with data between runs of zeros keeps every byte and only the data's
/// blocks.
fn zeros_cost_no_blocks() -> Result<(), Failed> {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bomb.tar.gz");
    let size = 256 * MIB;
    let striped = |block: u64| {
        // Data in the odd MiBs, zeros in the even ones.
        let fill = if block % 2 == 1 {
            (block % 251) as u8 + 1
        } else {
            0
        };
        vec![fill; MIB as usize]
    };
    tar_gz(
        &bundle,
        &[
            ("zeros", 0o640, size, None),
            ("striped", 0o755, 8 * MIB + 100, Some(&striped)),
        ],
    );
    let packed = fs::metadata(&bundle).unwrap().len();
    ensure(packed < MIB, || format!("the bomb is {packed} bytes"))?;
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let s = extract(&bundle, &dest);
    ensure(!s.rejected && s.nomad_failure.is_none(), || {
        format!("{:#?}", s.findings)
    })?;
    let zeros = dest.join("zeros");
    let m = fs::metadata(&zeros).unwrap();
    ensure(
        m.len() == size && m.mode() & 0o7777 == 0o640 && m.mtime() == 1_700_000_000,
        || format!("size {} mode {:o} mtime {}", m.len(), m.mode(), m.mtime()),
    )?;
    ensure(allocated(&zeros) < MIB, || {
        format!("{} bytes allocated for a file of zeros", allocated(&zeros))
    })?;
    // Read back: zeros at the start, middle and end.
    let f = fs::File::open(&zeros).unwrap();
    for at in [0, size / 2 - 7, size - 4096] {
        let mut b = vec![1u8; 4096];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, at).unwrap();
        ensure(b.iter().all(|&c| c == 0), || format!("not zero at {at}"))?;
    }
    let striped_path = dest.join("striped");
    let got = fs::read(&striped_path).unwrap();
    let want: Vec<u8> = (0..9)
        .flat_map(striped)
        .take((8 * MIB + 100) as usize)
        .collect();
    ensure(got == want, || "striped file differs".into())?;
    let a = allocated(&striped_path);
    ensure((4 * MIB..6 * MIB).contains(&a), || {
        format!("{a} bytes allocated for 4 MiB of data and 4 MiB of zeros")
    })?;
    make_writable(tmp.path());
    Ok(())
}

/// Whether `unshare -m` and `mount -t tmpfs` work here.
fn mount_ignore() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root to mount a small tmpfs (unshare -m; mount -t tmpfs)".into());
    }
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs -o size=1m none /mnt"])
        .output();
    match probe {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "cannot mount a tmpfs in a private mount namespace here: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("no unshare(1) (util-linux): {e}")),
    }
}

/// Run the tool with TMPDIR on a fresh 16 MiB tmpfs in a private mount namespace:
/// `(exit code, stderr, what is left in the tmpfs, its free bytes after)`.
fn on_small_fs(bundle: &Path, workdir: &str) -> (i32, String, String, u64) {
    let mnt = tempfile::tempdir().unwrap();
    let script = r#"mount -t tmpfs -o size=16m none "$1" || exit 99
TMPDIR="$1" "$2" "$3" --no-run --format json --workdir "$4" >/dev/null
code=$?
stat -f -c '%a %S' "$1"
ls -A "$1"
exit $code"#;
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(mnt.path())
        .arg(BIN)
        .arg(bundle)
        .arg(workdir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut lines = out.lines();
    let free = lines
        .next()
        .and_then(|l| {
            let mut it = l.split_whitespace().map(|n| n.parse::<u64>().unwrap_or(0));
            Some(it.next()? * it.next()?)
        })
        .unwrap_or(0);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        lines.collect::<Vec<_>>().join("\n"),
        free,
    )
}

/// Bundles that need more than a 16 MiB filesystem has, unpacked on it (`--workdir
/// disk`): stopped with exit 3 before the disk fills, whether the archive says its size
/// up front (an xz index) or only as its headers stream (gzip), and the work dir
/// removed; one that fits is checked. The static check in memory checks them all and
/// writes nothing.
fn small_filesystem_stops_early(tmp: PathBuf) -> Result<(), Failed> {
    let data = |block: u64| vec![(block % 200) as u8 + 1; MIB as usize];
    // Its gzip trailer says nothing useful (a last member of a few zero blocks), so
    // only its headers tell, as they stream.
    let big_gz = tmp.join("big.tar.gz");
    tar_gz(
        &big_gz,
        &[
            ("a", 0o644, 10 * MIB, Some(&data)),
            ("b", 0o644, 10 * MIB, Some(&data)),
        ],
    );
    let mut tail = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    tail.write_all(&[0; 1024]).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(&big_gz)
        .unwrap()
        .write_all(&tail.finish().unwrap())
        .unwrap();
    let mut raw = Vec::new();
    {
        let mut b = tar::Builder::new(&mut raw);
        let body = vec![7u8; 40 * MIB as usize];
        b.append(&header("big", 0o644, body.len() as u64), &body[..])
            .unwrap();
        b.finish().unwrap();
    }
    let big_xz = tmp.join("big.tar.xz");
    let mut e = liblzma::write::XzEncoder::new(fs::File::create(&big_xz).unwrap(), 1);
    e.write_all(&raw).unwrap();
    e.finish().unwrap();
    let small = tmp.join("small.tar.gz");
    tar_gz(&small, &[("a", 0o644, 2 * MIB, Some(&data))]);

    for (bundle, basis) in [
        (&big_gz, "the sizes the archive's headers declare so far"),
        (&big_xz, "the xz index"),
    ] {
        let (code, err, left, free) = on_small_fs(bundle, "disk");
        ensure(code != 99, || format!("mount failed: {err}"))?;
        ensure(code == 3, || {
            format!("exit {code} for {}: {err}", bundle.display())
        })?;
        for want in ["not enough room", "TMPDIR=", basis, "are free there"] {
            ensure(err.contains(want), || format!("`{want}` not in: {err}"))?;
        }
        ensure(left.is_empty(), || format!("left in the work fs: {left}"))?;
        ensure(free > 12 * MIB, || {
            format!("only {free} bytes left free: it filled up")
        })?;
    }
    let (code, err, left, _) = on_small_fs(&small, "disk");
    ensure(code == 0 || code == 1, || {
        format!("exit {code} for a bundle that fits: {err}")
    })?;
    ensure(left.is_empty(), || format!("left in the work fs: {left}"))?;
    // The static check's model in memory writes nothing: the big ones pass too, and
    // the filesystem stays as it was.
    for bundle in [&big_gz, &big_xz] {
        let (code, err, left, free) = on_small_fs(bundle, "auto");
        ensure(code == 0 || code == 1, || {
            format!("exit {code} for {} in memory: {err}", bundle.display())
        })?;
        ensure(left.is_empty(), || format!("left in the work fs: {left}"))?;
        ensure(free == 16 * MIB, || {
            format!("{free} bytes free of 16 MiB: it wrote")
        })?;
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![Trial::test("zeros_cost_no_blocks", zeros_cost_no_blocks)];
    trials.push(match mount_ignore() {
        Some(why) => Trial::ignorable_test("small_filesystem_stops_early", move || {
            Ok(Completion::ignored_with(why))
        }),
        None => Trial::ignorable_test("small_filesystem_stops_early", || {
            let tmp = tempfile::tempdir().unwrap();
            small_filesystem_stops_early(tmp.path().to_owned()).map(|()| Completion::Completed)
        }),
    });
    libtest_mimic::run(&args, trials).exit();
}
