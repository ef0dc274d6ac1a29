//! The ELF reader (`PT_INTERP`, the dynamic section, `DT_NEEDED`/`DT_RPATH`/
//! `DT_RUNPATH`, verneed/verdef, with and without section headers), the loader's
//! configuration read from a loader's bytes, and the `ld.so.cache` parser. `elf::parse`
//! reads a path, so the input is written to a file first.
//!
//! Differentially: what the static check keeps of a file as it streams past
//! (`elf::capture`, in chunks of any size, with a small prefix so that the ranges
//! beyond it are exercised), read again with the ranges it missed as the model's
//! read-back does, must parse as the whole file does.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::analyze::elf;
use nomad_chroot_check::analyze::loader::{LoaderConfig, parse_ld_cache};
use nomad_chroot_check::elf::LoaderStrings;
use nomad_chroot_check::elf::capture::{Captured, ElfCapture};

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    tempfile::Builder::new()
        .prefix("ncc-fuzz-")
        .tempdir()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let path = DIR.path().join("obj");
    std::fs::write(&path, data).unwrap();
    let on_disk = elf::parse(&path);
    streamed_parse_agrees(data, &on_disk);
    match on_disk {
        Ok(info) => {
            let _ = info.effective_rpath();
            let _ = info.machine_name();
            let interp = info
                .interp
                .clone()
                .unwrap_or_else(|| "/lib64/ld-linux-x86-64.so.2".into());
            let _ = LoaderConfig::new(&interp, &interp, &info, &LoaderStrings::of(data));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = elf::sniff(data);
    let _ = parse_ld_cache(data);
});

/// The capture, fed in chunks whose size the first byte picks, then read back with
/// the missed ranges (at most eight times, as `model::ElfState::resolve`), parses as
/// the file on disk does.
fn streamed_parse_agrees(data: &[u8], whole: &Result<elf::ElfInfo, elf::ElfError>) {
    let step = 1 + usize::from(data.first().copied().unwrap_or(0)) * 13;
    let cap = [64u64, 4096, 1 << 20][data.len() % 3];
    let mut extra = Vec::new();
    for _ in 0..9 {
        let mut c = ElfCapture::with_prefix(cap, extra.clone());
        let mut off = 0u64;
        for chunk in data.chunks(step) {
            c.data(off, chunk);
            off += chunk.len() as u64;
        }
        match c.finish(data.len() as u64) {
            Captured::Parsed(r, _) => {
                assert_eq!(format!("{r:?}"), format!("{whole:?}"), "streamed parse differs");
                return;
            }
            Captured::Incomplete(missed) => {
                assert!(
                    !missed.iter().all(|r| extra.contains(r)),
                    "the read-back asks for nothing new: {missed:?}"
                );
                extra.extend(missed);
            }
        }
    }
    panic!("still incomplete after eight read-backs: {extra:?}");
}
