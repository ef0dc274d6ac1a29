//! The ELF reader (`PT_INTERP`, the dynamic section, `DT_NEEDED`/`DT_RPATH`/
//! `DT_RUNPATH`, verneed/verdef, with and without section headers), the loader's
//! configuration read from a loader's bytes, and the `ld.so.cache` parser. `elf::parse`
//! reads a path, so the input is written to a file first.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::analyze::elf;
use nomad_chroot_check::analyze::loader::{LoaderConfig, parse_ld_cache};

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    tempfile::Builder::new()
        .prefix("ncc-fuzz-")
        .tempdir()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let path = DIR.path().join("obj");
    std::fs::write(&path, data).unwrap();
    match elf::parse(&path) {
        Ok(info) => {
            let _ = info.effective_rpath();
            let _ = info.machine_name();
            let interp = info
                .interp
                .clone()
                .unwrap_or_else(|| "/lib64/ld-linux-x86-64.so.2".into());
            let _ = LoaderConfig::new(&interp, &interp, &info, data);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = elf::sniff(data);
    let _ = parse_ld_cache(data);
});
