//! What the kernel and the dynamic loader read from an ELF file: class, machine,
//! `PT_INTERP`, the dynamic section (`DT_NEEDED`, `DT_RPATH`, `DT_RUNPATH`, `DT_SONAME`,
//! `DF_1_NODEFLIB`) and GNU symbol versions. Parsed with `object`, reading only the
//! ranges it needs (`ReadCache`), so a 100 MB library costs a few reads.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use object::elf;

pub use crate::elf::{ElfError, ElfInfo, LoaderStrings, VerNeed, machine_name, parse};

/// The first bytes of a file, as `execve` and `ld.so` judge them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    Empty,
    Elf,
    Script,
    Other,
}

pub fn sniff(head: &[u8]) -> Sniff {
    if head.is_empty() {
        Sniff::Empty
    } else if head.starts_with(b"\x7fELF") {
        Sniff::Elf
    } else if head.starts_with(b"#!") {
        Sniff::Script
    } else {
        Sniff::Other
    }
}

/// Read up to `n` bytes from the start of a file.
pub fn head(path: &Path, n: usize) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match f.read(&mut buf[got..])? {
            0 => break,
            k => got += k,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The machines this kernel executes natively (`elf_check_arch`, plus the compat
/// 32-bit ABI where the kernel has one).
pub fn host_machines() -> &'static [u16] {
    match std::env::consts::ARCH {
        "x86_64" => &[elf::EM_X86_64, elf::EM_386],
        "aarch64" => &[elf::EM_AARCH64, elf::EM_ARM],
        "x86" => &[elf::EM_386],
        "riscv64" => &[elf::EM_RISCV],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_dynamic_binary() {
        let info = parse(Path::new("/bin/bash")).unwrap();
        assert!(info.class64);
        assert_eq!(info.interp.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
        assert!(info.needed.iter().any(|n| n == "libc.so.6"));
        let libc = info.verneed.iter().find(|v| v.file == "libc.so.6").unwrap();
        assert!(libc.versions.iter().any(|(v, _)| v.starts_with("GLIBC_2.")));
        let libc = parse(Path::new("/lib/x86_64-linux-gnu/libc.so.6")).unwrap();
        assert_eq!(libc.soname.as_deref(), Some("libc.so.6"));
        assert!(libc.verdef.unwrap().iter().any(|v| v == "GLIBC_2.34"));
    }

    #[test]
    fn static_busybox_has_no_interp() {
        let info = parse(Path::new("/bin/busybox")).unwrap();
        assert!(info.interp.is_none());
        assert!(info.needed.is_empty());
    }

    #[test]
    fn short_and_foreign_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(parse(&p).unwrap_err(), ElfError::TooShort);
        std::fs::write(&p, b"\x7fELF\x02\x01\x01").unwrap();
        assert_eq!(parse(&p).unwrap_err(), ElfError::TooShort);
        std::fs::write(&p, b"#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(parse(&p).unwrap_err(), ElfError::NotElf);
        assert_eq!(sniff(b"#!/bin/sh"), Sniff::Script);
        assert_eq!(sniff(b""), Sniff::Empty);
    }
}
