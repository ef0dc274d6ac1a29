//! What the kernel and the dynamic loader read from an ELF file: class, machine,
//! `PT_INTERP`, the dynamic section (`DT_NEEDED`, `DT_RPATH`, `DT_RUNPATH`, `DT_SONAME`,
//! `DF_1_NODEFLIB`) and GNU symbol versions, parsed with `object` over any [`ReadRef`]:
//! a file on disk (only the ranges it needs are read, `ReadCache`), or the ranges of an
//! unpacked file that were kept while it streamed past ([`capture`]). Also the two
//! strings a glibc loader is configured by ([`loader_strings`]).
//!
//! A leaf module: the archive layer captures with it, the analysis reads with it.

pub mod capture;
mod sparse;

use std::fs::File;
use std::path::Path;

use object::elf;
use object::read::ReadRef;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, ReadCache};

pub use sparse::Sparse;

/// `e_ident[EI_CLASS]`.
const EI_CLASS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerNeed {
    /// The library file name the versions are expected from (`libc.so.6`).
    pub file: String,
    /// (version, weak).
    pub versions: Vec<(String, bool)>,
}

#[derive(Debug, Clone, Default)]
pub struct ElfInfo {
    pub class64: bool,
    pub machine: u16,
    pub e_type: u16,
    pub interp: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Option<String>,
    pub runpath: Option<String>,
    pub soname: Option<String>,
    pub nodeflib: bool,
    /// `DF_1_PIE`: a position-independent executable, which ld.so refuses to load.
    pub pie: bool,
    pub verneed: Vec<VerNeed>,
    /// Versions defined (`None` when the object has no `SHT_GNU_verdef`).
    pub verdef: Option<Vec<String>>,
}

impl ElfInfo {
    /// glibc ignores `DT_RPATH` when `DT_RUNPATH` is present (`get-dynamic-info.h`).
    pub fn effective_rpath(&self) -> Option<&str> {
        if self.runpath.is_some() {
            None
        } else {
            self.rpath.as_deref()
        }
    }

    pub fn class_name(&self) -> &'static str {
        if self.class64 {
            "ELFCLASS64"
        } else {
            "ELFCLASS32"
        }
    }

    pub fn machine_name(&self) -> String {
        machine_name(self.machine)
    }
}

pub fn machine_name(m: u16) -> String {
    match m {
        elf::EM_X86_64 => "x86-64".into(),
        elf::EM_386 => "i386".into(),
        elf::EM_AARCH64 => "aarch64".into(),
        elf::EM_ARM => "arm".into(),
        elf::EM_RISCV => "riscv".into(),
        elf::EM_PPC64 => "ppc64".into(),
        elf::EM_S390 => "s390".into(),
        other => format!("machine {other}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// Fewer bytes than an ELF header (`ld.so`: "file too short").
    TooShort,
    /// No ELF magic (`ld.so`: "invalid ELF header").
    NotElf,
    Malformed(String),
    Io(String),
}

impl std::fmt::Display for ElfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElfError::TooShort => f.write_str("file too short"),
            ElfError::NotElf => f.write_str("invalid ELF header"),
            ElfError::Malformed(m) => write!(f, "malformed ELF: {m}"),
            ElfError::Io(m) => write!(f, "cannot read: {m}"),
        }
    }
}

pub fn parse(path: &Path) -> Result<ElfInfo, ElfError> {
    let file = File::open(path).map_err(|e| ElfError::Io(e.to_string()))?;
    let cache = ReadCache::new(file);
    parse_ref(&cache)
}

/// [`parse`] over any data: it reads the same ranges whatever holds them.
pub fn parse_ref<'data, R: ReadRef<'data>>(data: R) -> Result<ElfInfo, ElfError> {
    let ident = data.read_bytes_at(0, 16).map_err(|_| ElfError::TooShort)?;
    if !ident.starts_with(b"\x7fELF") {
        return Err(ElfError::NotElf);
    }
    let hdr_len = if ident[EI_CLASS] == elf::ELFCLASS64 {
        64
    } else {
        52
    };
    if data.read_bytes_at(0, hdr_len).is_err() {
        return Err(ElfError::TooShort);
    }
    match ident[EI_CLASS] {
        elf::ELFCLASS64 => parse_as::<elf::FileHeader64<Endianness>, _>(data),
        elf::ELFCLASS32 => parse_as::<elf::FileHeader32<Endianness>, _>(data),
        c => Err(ElfError::Malformed(format!("unknown ELF class {c}"))),
    }
}

fn parse_as<'data, Elf, R>(data: R) -> Result<ElfInfo, ElfError>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let bad = |e: object::read::Error| ElfError::Malformed(e.to_string());
    let header = Elf::parse(data).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let mut info = ElfInfo {
        class64: header.is_class_64(),
        machine: header.e_machine(endian),
        e_type: header.e_type(endian),
        ..ElfInfo::default()
    };
    let phdrs = header.program_headers(endian, data).map_err(bad)?;
    for ph in phdrs {
        if let Some(interp) = ph.interpreter(endian, data).map_err(bad)? {
            info.interp = Some(String::from_utf8_lossy(interp).into_owned());
        }
    }
    let sections = header.sections(endian, data).map_err(bad)?;
    let mut dyn_done = false;
    if let Some((dyns, link)) = sections.dynamic(endian, data).map_err(bad)? {
        let strings = sections.strings(endian, data, link).map_err(bad)?;
        for d in dyns {
            let Some(tag) = d.tag32(endian) else { continue };
            if tag == elf::DT_NULL {
                break;
            }
            let val: u64 = d.d_val(endian).into();
            let s = || -> Result<String, ElfError> {
                u32::try_from(val)
                    .ok()
                    .and_then(|o| strings.get(o).ok())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .ok_or_else(|| ElfError::Malformed("dynamic string out of range".into()))
            };
            apply_dyn(&mut info, tag, val, s)?;
        }
        dyn_done = true;
    }
    if !dyn_done {
        dynamic_from_segments::<Elf, R>(header, endian, data, &mut info)?;
    }
    if let Some((mut it, link)) = sections.gnu_verneed(endian, data).map_err(bad)? {
        let strings = sections.strings(endian, data, link).map_err(bad)?;
        while let Some((need, mut aux)) = it.next().map_err(bad)? {
            let file =
                String::from_utf8_lossy(need.file(endian, strings).map_err(bad)?).into_owned();
            let mut versions = Vec::new();
            while let Some(a) = aux.next().map_err(bad)? {
                let name =
                    String::from_utf8_lossy(a.name(endian, strings).map_err(bad)?).into_owned();
                let weak = a.vna_flags.get(endian) & elf::VER_FLG_WEAK != 0;
                versions.push((name, weak));
            }
            info.verneed.push(VerNeed { file, versions });
        }
    }
    if let Some((mut it, link)) = sections.gnu_verdef(endian, data).map_err(bad)? {
        let strings = sections.strings(endian, data, link).map_err(bad)?;
        let mut defs = Vec::new();
        while let Some((def, mut aux)) = it.next().map_err(bad)? {
            if def.vd_flags.get(endian) & elf::VER_FLG_BASE != 0 {
                continue;
            }
            if let Some(a) = aux.next().map_err(bad)? {
                defs.push(
                    String::from_utf8_lossy(a.name(endian, strings).map_err(bad)?).into_owned(),
                );
            }
        }
        info.verdef = Some(defs);
    }
    Ok(info)
}

fn apply_dyn(
    info: &mut ElfInfo,
    tag: u32,
    val: u64,
    s: impl Fn() -> Result<String, ElfError>,
) -> Result<(), ElfError> {
    match tag {
        elf::DT_NEEDED => info.needed.push(s()?),
        elf::DT_RPATH => info.rpath = Some(s()?),
        elf::DT_RUNPATH => info.runpath = Some(s()?),
        elf::DT_SONAME => info.soname = Some(s()?),
        elf::DT_FLAGS_1 => {
            info.nodeflib = val & u64::from(elf::DF_1_NODEFLIB) != 0;
            info.pie = val & u64::from(elf::DF_1_PIE) != 0;
        }
        _ => {}
    }
    Ok(())
}

/// Without section headers (`sstrip`), read `PT_DYNAMIC` and find `DT_STRTAB` through
/// the `PT_LOAD` segments, as the loader does.
fn dynamic_from_segments<'data, Elf, R>(
    header: &Elf,
    endian: Endianness,
    data: R,
    info: &mut ElfInfo,
) -> Result<(), ElfError>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let bad = |e: object::read::Error| ElfError::Malformed(e.to_string());
    let phdrs = header.program_headers(endian, data).map_err(bad)?;
    let Some(dyns) = phdrs
        .iter()
        .find_map(|ph| ph.dynamic(endian, data).ok().flatten())
    else {
        return Ok(());
    };
    let vaddr_to_off = |addr: u64| -> Option<u64> {
        phdrs.iter().find_map(|ph| {
            let va: u64 = ph.p_vaddr(endian).into();
            let sz: u64 = ph.p_filesz(endian).into();
            // Checked: the fields are the file's, and may be anything.
            let off: u64 = ph.p_offset(endian).into();
            (ph.p_type(endian) == elf::PT_LOAD && addr >= va && addr - va < sz)
                .then(|| (addr - va).checked_add(off))
                .flatten()
        })
    };
    let strtab = dyns
        .iter()
        .find(|d| d.tag32(endian) == Some(elf::DT_STRTAB))
        .and_then(|d| vaddr_to_off(d.d_val(endian).into()));
    let Some(strtab) = strtab else {
        return Ok(());
    };
    for d in dyns {
        let Some(tag) = d.tag32(endian) else { continue };
        if tag == elf::DT_NULL {
            break;
        }
        let off: u64 = d.d_val(endian).into();
        let s = || -> Result<String, ElfError> {
            strtab
                .checked_add(off)
                .and_then(|at| data.read_bytes_at_until(at..u64::MAX, 0).ok())
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .ok_or_else(|| ElfError::Malformed("dynamic string out of range".into()))
        };
        apply_dyn(info, tag, off, s)?;
    }
    Ok(())
}

/// How a glibc loader is configured, from its own bytes (see `analyze::loader`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoaderStrings {
    /// `SYSTEM_DIRS` (without trailing `/`); empty when not found.
    pub system_dirs: Vec<String>,
    /// `LD_SO_CACHE`.
    pub cache_path: Option<String>,
}

impl LoaderStrings {
    pub fn of(bytes: &[u8]) -> LoaderStrings {
        LoaderStrings {
            system_dirs: glibc_system_dirs(bytes),
            cache_path: glibc_cache_path(bytes),
        }
    }
}

/// The first run of NUL-separated absolute directories ending in `/` that names a lib
/// directory: glibc's `system_dirs` array (`elf/dl-load.c`).
pub fn glibc_system_dirs(bytes: &[u8]) -> Vec<String> {
    let is_dir = |s: &[u8]| {
        s.len() > 1
            && s[0] == b'/'
            && s[s.len() - 1] == b'/'
            && s.iter().all(|&c| c.is_ascii_graphic())
    };
    // Candidates are the `/`s at the start of a string; memchr finds them fast in the
    // whole of every library that could be a loader.
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'/', &bytes[i..]) {
        i += k;
        if i == 0 || bytes[i - 1] == 0 {
            let mut run: Vec<String> = Vec::new();
            let mut j = i;
            while j < bytes.len() && bytes[j] == b'/' {
                let end = match memchr::memchr(0, &bytes[j..]) {
                    Some(e) => j + e,
                    None => break,
                };
                let s = &bytes[j..end];
                if !is_dir(s) {
                    break;
                }
                run.push(String::from_utf8_lossy(&s[..s.len() - 1]).into_owned());
                j = end + 1;
            }
            if run.first().is_some_and(|d| d.contains("/lib")) {
                return run;
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
    }
    Vec::new()
}

/// The NUL-terminated string ending in `/ld.so.cache` (`LD_SO_CACHE`).
pub fn glibc_cache_path(bytes: &[u8]) -> Option<String> {
    let needle = b"/ld.so.cache\0";
    let pos = memchr::memmem::find(bytes, needle)?;
    let start = bytes[..pos]
        .iter()
        .rposition(|&c| c == 0)
        .map_or(0, |p| p + 1);
    let s = &bytes[start..pos + needle.len() - 1];
    (s.first() == Some(&b'/')).then(|| String::from_utf8_lossy(s).into_owned())
}
