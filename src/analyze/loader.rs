//! The dynamic loader, emulated: which file each `DT_NEEDED` name becomes, in the
//! order and with the rules of glibc's `ld.so` (`elf/dl-load.c` `_dl_map_object`,
//! `elf/dl-deps.c` `_dl_map_object_deps`, `elf/dl-version.c`) or musl's
//! (`ldso/dynlink.c` `load_library`).
//!
//! The loader's own configuration is read from the loader binary rather than assumed:
//! its system search path (glibc's `SYSTEM_DIRS`, a NUL-separated list in `.rodata`) and
//! the path of its cache (`LD_SO_CACHE`). That settles the Nix question exactly: nixpkgs
//! patches glibc (`dont-use-system-ld-so-cache.patch`) so that the cache path is
//! `<glibc prefix>/etc/ld.so.cache`, which its builder deletes, and `SYSTEM_DIRS` is the
//! store path's own `lib/`. A Nix glibc therefore never reads the chroot's
//! `/etc/ld.so.cache` nor `/lib`, and a Debian `ld.so` copied into a store path (as the
//! tests do) still reads both, which is what it really does at run time.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use object::elf;

use super::Ctx;
use super::elf::{ElfError, ElfInfo, LoaderStrings};
use super::perms::{EXEC, READ};
use crate::rootfs::{self, Resolved};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderKind {
    Glibc,
    Musl,
}

/// What a program interpreter does when it searches for libraries.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub kind: LoaderKind,
    /// `PT_INTERP` as written (glibc's `l_name` for itself).
    pub interp: String,
    /// The loader's file, resolved.
    pub task_path: String,
    pub soname: Option<String>,
    pub class64: bool,
    pub machine: u16,
    /// glibc: system dirs (no trailing `/`); musl: the default path.
    pub system_dirs: Vec<String>,
    /// glibc: where it reads its cache (`None`: no cache compiled in).
    pub cache_path: Option<String>,
    /// musl: the path file it reads instead of `system_dirs` when present.
    pub musl_path_file: Option<String>,
    /// `$LIB` and `$PLATFORM` (`DL_DST_LIB`, `AT_PLATFORM`).
    pub dst_lib: String,
    pub dst_platform: String,
}

impl LoaderConfig {
    /// `task_path`: the loader's file as resolved in the root (or `interp` when it is
    /// not there); `strings`: what its content says (empty when unknown).
    pub fn new(
        interp: &str,
        task_path: &str,
        info: &ElfInfo,
        strings: &LoaderStrings,
    ) -> LoaderConfig {
        let file_name = task_path.rsplit('/').next().unwrap_or("");
        let kind = if file_name.starts_with("ld-musl-")
            || interp
                .rsplit('/')
                .next()
                .unwrap_or("")
                .starts_with("ld-musl-")
        {
            LoaderKind::Musl
        } else {
            LoaderKind::Glibc
        };
        let dst_platform = match info.machine {
            elf::EM_X86_64 => "x86_64",
            elf::EM_386 => "i686",
            elf::EM_AARCH64 => "aarch64",
            elf::EM_ARM => "v7l",
            _ => "",
        }
        .to_owned();
        match kind {
            LoaderKind::Musl => {
                // `ldso/dynlink.c`: the path file lives at `<prefix>/etc/ld-musl-ARCH.path`
                // where prefix is the loader's path minus its last two components.
                let arch = file_name
                    .strip_prefix("ld-musl-")
                    .and_then(|s| s.strip_suffix(".so.1"))
                    .unwrap_or("x86_64")
                    .to_owned();
                let prefix = rootfs::dirname(rootfs::dirname(interp));
                let prefix = if prefix == "/" { "" } else { prefix };
                LoaderConfig {
                    kind,
                    interp: interp.to_owned(),
                    task_path: task_path.to_owned(),
                    soname: info.soname.clone(),
                    class64: info.class64,
                    machine: info.machine,
                    system_dirs: vec!["/lib".into(), "/usr/local/lib".into(), "/usr/lib".into()],
                    cache_path: None,
                    musl_path_file: Some(format!("{prefix}/etc/ld-musl-{arch}.path")),
                    dst_lib: "lib".into(),
                    dst_platform,
                }
            }
            LoaderKind::Glibc => {
                let mut system_dirs = strings.system_dirs.clone();
                if system_dirs.is_empty() {
                    system_dirs = default_system_dirs(interp, info);
                }
                let dst_lib = system_dirs
                    .first()
                    .map(|d| dst_lib_of(d))
                    .unwrap_or_else(|| "lib".into());
                LoaderConfig {
                    kind,
                    interp: interp.to_owned(),
                    task_path: task_path.to_owned(),
                    soname: info.soname.clone(),
                    class64: info.class64,
                    machine: info.machine,
                    system_dirs,
                    cache_path: strings.cache_path.clone(),
                    musl_path_file: None,
                    dst_lib,
                    dst_platform,
                }
            }
        }
    }
}

/// glibc's defaults when the loader's `SYSTEM_DIRS` cannot be found in it: the store
/// prefix's `lib` for a Nix glibc, `lib64` dirs for 64-bit upstream builds.
fn default_system_dirs(interp: &str, info: &ElfInfo) -> Vec<String> {
    if let Some(prefix) = super::store::store_path_of(interp) {
        return vec![format!("{prefix}/lib")];
    }
    if info.class64 {
        vec!["/lib64".into(), "/usr/lib64".into()]
    } else {
        vec!["/lib".into(), "/usr/lib".into()]
    }
}

/// `$LIB`: the tail of the first system dir from its `lib…` component
/// (`/lib/x86_64-linux-gnu` → `lib/x86_64-linux-gnu`, `/nix/store/…/lib` → `lib`).
fn dst_lib_of(dir: &str) -> String {
    let parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    match parts.iter().rposition(|c| c.starts_with("lib")) {
        Some(i) => parts[i..].join("/"),
        None => "lib".into(),
    }
}

/// One entry of glibc's `ld.so.cache` (new format).
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub flags: i32,
    pub key: String,
    pub value: String,
    pub hwcap: u64,
}

/// Parse `glibc-ld.so.cache1.1` (`sysdeps/generic/dl-cache.h` `cache_file_new`),
/// alone or after the old `ld.so-1.7.0` table.
pub fn parse_ld_cache(bytes: &[u8]) -> Vec<CacheEntry> {
    const NEW: &[u8] = b"glibc-ld.so.cache1.1";
    const OLD: &[u8] = b"ld.so-1.7.0";
    let u32_at = |b: &[u8], o: usize| -> Option<u32> {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let mut base = 0usize;
    if bytes.starts_with(OLD) {
        let Some(n) = u32_at(bytes, 12) else {
            return Vec::new();
        };
        base = 16 + n as usize * 12;
        base = (base + 7) & !7;
    }
    let Some(new) = bytes.get(base..) else {
        return Vec::new();
    };
    if !new.starts_with(NEW) {
        return Vec::new();
    }
    let Some(nlibs) = u32_at(new, 20) else {
        return Vec::new();
    };
    let cstr = |off: u32| -> Option<String> {
        let s = new.get(off as usize..)?;
        let end = s.iter().position(|&c| c == 0)?;
        Some(String::from_utf8_lossy(&s[..end]).into_owned())
    };
    let mut out = Vec::new();
    for k in 0..nlibs as usize {
        let o = 48 + k * 24;
        let (Some(flags), Some(key), Some(value)) =
            (u32_at(new, o), u32_at(new, o + 4), u32_at(new, o + 8))
        else {
            break;
        };
        let hwcap = new
            .get(o + 16..o + 24)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
            .unwrap_or(0);
        if let (Some(key), Some(value)) = (cstr(key), cstr(value)) {
            out.push(CacheEntry {
                flags: flags as i32,
                key,
                value,
                hwcap,
            });
        }
    }
    out
}

/// `_dl_cache_check_flags` per architecture (`sysdeps/…/dl-cache.h`).
fn cache_flags_ok(flags: i32, cfg: &LoaderConfig) -> bool {
    const LIBC6: i32 = 0x0003;
    match (cfg.machine, cfg.class64) {
        (elf::EM_X86_64, true) => flags == LIBC6 | 0x0300,
        (elf::EM_X86_64, false) => flags == LIBC6 | 0x0800,
        (elf::EM_AARCH64, _) => flags == LIBC6 | 0x0a00,
        (elf::EM_386, _) => flags == LIBC6 || flags == 1,
        _ => flags & 0xff == LIBC6,
    }
}

/// An object in the emulated process.
#[derive(Debug, Clone)]
pub struct Obj {
    /// `l_name`: the path it was opened by (`""` for the program).
    pub l_name: String,
    pub task_path: String,
    pub info: Rc<ElfInfo>,
    /// `$ORIGIN`.
    pub origin: String,
    /// The object whose `DT_NEEDED` loaded it (`l_loader`).
    pub loader: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum Problem {
    /// Not found anywhere in the search path.
    NotFound {
        name: String,
        needer: usize,
        /// The path the loader would have used, when a search dir that names a store
        /// path is absent from the root (`/nix/store/…-ncurses/lib/libtinfo.so.6`).
        would_be: Option<String>,
        /// An existing candidate the task may not read (`EACCES`).
        unreadable: Option<String>,
        /// Every path tried, in the loader's order.
        searched: Vec<String>,
    },
    /// A candidate that makes the loader give up (`file too short`, `invalid ELF
    /// header`, `failed to map segment from shared object`).
    Fatal {
        name: String,
        needer: usize,
        path: String,
        errstring: String,
        noexec: bool,
    },
    /// A needed symbol version the library does not define.
    Version {
        lib: usize,
        needer: usize,
        version: String,
    },
}

pub struct Process {
    pub objs: Vec<Obj>,
    pub problems: Vec<Problem>,
    /// Index of the loader itself in `objs`.
    pub rtld: usize,
}

impl Process {
    /// The chain of `l_name`s from the program (exclusive) to `idx` (inclusive).
    pub fn chain(&self, idx: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Some(idx);
        while let Some(i) = cur {
            if i == 0 {
                break;
            }
            out.push(self.objs[i].l_name.clone());
            cur = self.objs[i].loader;
        }
        out.reverse();
        out
    }
}

/// A library found: its `l_name`, the file, its ELF facts.
type Found = (String, Resolved, Rc<ElfInfo>);

enum Try {
    Found(Resolved, Rc<ElfInfo>),
    Skip,
    Unreadable(String),
    Fatal(String, String, bool),
}

struct Search<'c, 'a> {
    ctx: &'c Ctx<'a>,
    cfg: &'c LoaderConfig,
    env_path: Vec<String>,
}

/// Load the program's closure breadth-first, as `_dl_map_object_deps` does, so each
/// problem is found through the shortest chain.
pub fn load(
    ctx: &Ctx<'_>,
    cfg: &LoaderConfig,
    main_path: &str,
    main: Rc<ElfInfo>,
    rtld_info: Rc<ElfInfo>,
) -> Process {
    let s = Search::new(ctx, cfg);
    let mut p = Process {
        objs: vec![
            Obj {
                l_name: String::new(),
                task_path: main_path.to_owned(),
                info: main,
                origin: rootfs::dirname(main_path).to_owned(),
                loader: None,
            },
            Obj {
                l_name: cfg.interp.clone(),
                task_path: cfg.task_path.clone(),
                info: rtld_info,
                origin: rootfs::dirname(&cfg.interp).to_owned(),
                loader: None,
            },
        ],
        problems: Vec::new(),
        rtld: 1,
    };
    // Names already satisfied: `_dl_name_match_p` matches `l_name`, the names an
    // object was requested as, and its `DT_SONAME`. `None` marks a failed name.
    let mut by_name: HashMap<String, Option<usize>> = HashMap::new();
    by_name.insert(cfg.interp.clone(), Some(1));
    for so in [&cfg.soname, &p.objs[1].info.soname].into_iter().flatten() {
        by_name.insert(so.clone(), Some(1));
    }
    let mut by_file: HashMap<String, usize> = HashMap::new();
    by_file.insert(cfg.task_path.clone(), 1);
    let mut queue: VecDeque<usize> = VecDeque::from([0]);
    while let Some(i) = queue.pop_front() {
        let needed = p.objs[i].info.needed.clone();
        for name in needed {
            if by_name.contains_key(&name) {
                continue;
            }
            if cfg.kind == LoaderKind::Musl && musl_reserved(&name) {
                by_name.insert(name, Some(1));
                continue;
            }
            match s.find(&p, i, &name) {
                Ok((l_name, r, info)) => {
                    if let Some(&j) = by_file.get(&r.task_path) {
                        by_name.insert(name, Some(j));
                        continue;
                    }
                    let j = p.objs.len();
                    p.objs.push(Obj {
                        origin: rootfs::dirname(&l_name).to_owned(),
                        l_name: l_name.clone(),
                        task_path: r.task_path.clone(),
                        info: info.clone(),
                        loader: Some(i),
                    });
                    by_file.insert(r.task_path, j);
                    by_name.insert(name, Some(j));
                    by_name.insert(l_name, Some(j));
                    if let Some(so) = &info.soname {
                        by_name.entry(so.clone()).or_insert(Some(j));
                    }
                    queue.push_back(j);
                }
                Err(problem) => {
                    by_name.insert(name, None);
                    p.problems.push(problem);
                }
            }
        }
    }
    if cfg.kind == LoaderKind::Glibc {
        check_versions(&mut p, &by_name);
    }
    p
}

/// `elf/dl-version.c` `_dl_check_map_versions`: every non-weak `vna_name` must be
/// defined by the library it names, when that library has version definitions at all.
fn check_versions(p: &mut Process, by_name: &HashMap<String, Option<usize>>) {
    let mut found = Vec::new();
    for (i, obj) in p.objs.iter().enumerate() {
        for need in &obj.info.verneed {
            let Some(Some(lib)) = by_name.get(&need.file) else {
                continue;
            };
            let Some(defs) = &p.objs[*lib].info.verdef else {
                continue;
            };
            for (v, weak) in &need.versions {
                if !weak && !defs.iter().any(|d| d == v) {
                    found.push(Problem::Version {
                        lib: *lib,
                        needer: i,
                        version: v.clone(),
                    });
                }
            }
        }
    }
    p.problems.extend(found);
}

/// musl returns itself for `libc.*`, `libpthread.*`, … (`load_library`'s `reserved`).
fn musl_reserved(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("lib") else {
        return false;
    };
    ["c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."]
        .iter()
        .any(|r| rest.starts_with(r))
}

/// Whether `name` would be found for object `needer` of an already loaded process
/// (used for libraries the C library `dlopen`s, e.g. NSS modules).
pub fn find_extra(
    ctx: &Ctx<'_>,
    cfg: &LoaderConfig,
    p: &Process,
    needer: usize,
    name: &str,
) -> bool {
    Search::new(ctx, cfg).find(p, needer, name).is_ok()
}

impl<'c, 'a> Search<'c, 'a> {
    fn new(ctx: &'c Ctx<'a>, cfg: &'c LoaderConfig) -> Self {
        // `LD_LIBRARY_PATH` splits on `:` and `;`; an empty entry is the cwd.
        let env_path: Vec<String> = ctx
            .input
            .env
            .get("LD_LIBRARY_PATH")
            .map(|v| {
                v.split([':', ';'])
                    .map(|s| {
                        if s.is_empty() {
                            ".".into()
                        } else {
                            s.to_owned()
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Search { ctx, cfg, env_path }
    }
}

impl Search<'_, '_> {
    fn expand(&self, path: &str, origin: &str) -> Vec<String> {
        path.split(':')
            .map(|d| {
                let mut d = d.to_owned();
                for (k, v) in [
                    ("${ORIGIN}", origin),
                    ("$ORIGIN", origin),
                    ("${LIB}", self.cfg.dst_lib.as_str()),
                    ("$LIB", self.cfg.dst_lib.as_str()),
                    ("${PLATFORM}", self.cfg.dst_platform.as_str()),
                    ("$PLATFORM", self.cfg.dst_platform.as_str()),
                ] {
                    if self.cfg.kind == LoaderKind::Musl && !k.contains("ORIGIN") {
                        continue;
                    }
                    d = d.replace(k, v);
                }
                if d.is_empty() { ".".into() } else { d }
            })
            .collect()
    }

    /// Find `name` for object `i`: `Ok((l_name, file, info))` or the problem.
    fn find(&self, p: &Process, i: usize, name: &str) -> Result<Found, Problem> {
        let needer = &p.objs[i];
        let mut dirs: Vec<String> = Vec::new();
        if name.contains('/') {
            let cand = name.to_owned();
            return match self.try_candidate(&cand) {
                Try::Found(r, info) => Ok((cand, r, info)),
                Try::Fatal(path, errstring, noexec) => Err(Problem::Fatal {
                    name: name.into(),
                    needer: i,
                    path,
                    errstring,
                    noexec,
                }),
                Try::Unreadable(u) => Err(Problem::NotFound {
                    name: name.into(),
                    needer: i,
                    would_be: None,
                    unreadable: Some(u),
                    searched: vec![cand],
                }),
                Try::Skip => Err(Problem::NotFound {
                    name: name.into(),
                    needer: i,
                    would_be: None,
                    unreadable: None,
                    searched: vec![cand],
                }),
            };
        }
        match self.cfg.kind {
            LoaderKind::Glibc => {
                if needer.info.runpath.is_none() {
                    let mut did_main = false;
                    let mut l = Some(i);
                    while let Some(j) = l {
                        if let Some(rp) = p.objs[j].info.effective_rpath() {
                            dirs.extend(self.expand(rp, &p.objs[j].origin));
                        }
                        did_main |= j == 0;
                        l = p.objs[j].loader;
                    }
                    if !did_main {
                        if let Some(rp) = p.objs[0].info.effective_rpath() {
                            dirs.extend(self.expand(rp, &p.objs[0].origin));
                        }
                    }
                }
                dirs.extend(self.env_path.iter().cloned());
                if let Some(rp) = &needer.info.runpath {
                    dirs.extend(self.expand(rp, &needer.origin));
                }
            }
            LoaderKind::Musl => {
                dirs.extend(self.env_path.iter().cloned());
                let mut l = Some(i);
                while let Some(j) = l {
                    let info = &p.objs[j].info;
                    if let Some(rp) = info.runpath.as_deref().or(info.rpath.as_deref()) {
                        dirs.extend(self.expand(rp, &p.objs[j].origin));
                    }
                    l = p.objs[j].loader;
                }
            }
        }
        let mut unreadable: Option<String> = None;
        let mut tried: Vec<String> = Vec::new();
        let mut attempt = |dir: &str, tried: &mut Vec<String>| -> Option<Result<Found, Problem>> {
            let cand = rootfs::join(dir, name);
            if tried.contains(&cand) {
                return None;
            }
            tried.push(cand.clone());
            match self.try_candidate(&cand) {
                Try::Found(r, info) => Some(Ok((cand, r, info))),
                Try::Skip => None,
                Try::Unreadable(u) => {
                    unreadable.get_or_insert(u);
                    None
                }
                Try::Fatal(path, errstring, noexec) => Some(Err(Problem::Fatal {
                    name: name.into(),
                    needer: i,
                    path,
                    errstring,
                    noexec,
                })),
            }
        };
        for d in &dirs {
            if let Some(r) = attempt(d, &mut tried) {
                return r;
            }
        }
        let nodeflib = self.cfg.kind == LoaderKind::Glibc && needer.info.nodeflib;
        if !nodeflib {
            if self.cfg.kind == LoaderKind::Glibc {
                // A cache hit that does not open falls through to the system dirs
                // (`_dl_map_object`: `fd = open_verify (cached, …)`, then `open_path`).
                if let Some(path) = self.cache_lookup(name) {
                    match self.try_candidate(&path) {
                        Try::Found(r, info) => return Ok((path, r, info)),
                        Try::Fatal(path, errstring, noexec) => {
                            return Err(Problem::Fatal {
                                name: name.into(),
                                needer: i,
                                path,
                                errstring,
                                noexec,
                            });
                        }
                        Try::Skip | Try::Unreadable(_) => {}
                    }
                }
            }
            for d in self.system_dirs() {
                if let Some(r) = attempt(&d, &mut tried) {
                    return r;
                }
            }
        }
        // Where it would be: the first RPATH/RUNPATH directory inside a store path the
        // task lacks (`fixtures/README.md`); `None` when no such directory is searched.
        let would_be = dirs
            .iter()
            .filter(|d| !self.env_path.contains(d))
            .find(|d| {
                super::store::store_path_of(d).is_some_and(|sp| self.ctx.fs.resolve(&sp).is_err())
            })
            .map(|d| rootfs::join(d, name));
        Err(Problem::NotFound {
            name: name.into(),
            needer: i,
            would_be,
            unreadable,
            searched: tried,
        })
    }

    fn system_dirs(&self) -> Vec<String> {
        if self.cfg.kind == LoaderKind::Musl {
            if let Some(pf) = &self.cfg.musl_path_file {
                if let Ok(r) = self.ctx.fs.resolve(pf) {
                    if let Some(text) = self.ctx.fs.read(&r).and_then(|b| String::from_utf8(b).ok())
                    {
                        return text
                            .split(['\n', ':'])
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect();
                    }
                }
            }
        }
        self.cfg.system_dirs.clone()
    }

    fn cache_lookup(&self, name: &str) -> Option<String> {
        let path = self.cfg.cache_path.as_ref()?;
        let entries = self.ctx.ld_cache(path)?;
        let ok = entries
            .iter()
            .filter(|e| e.key == name && cache_flags_ok(e.flags, self.cfg));
        let mut first: Option<&CacheEntry> = None;
        for e in ok {
            if e.hwcap == 0 {
                return Some(e.value.clone());
            }
            first.get_or_insert(e);
        }
        first.map(|e| e.value.clone())
    }

    /// `open_verify`: what the loader does with one candidate path.
    fn try_candidate(&self, cand: &str) -> Try {
        let fs = &self.ctx.fs;
        let Ok(r) = fs.resolve_at(&self.ctx.cwd, cand) else {
            return Try::Skip;
        };
        if r.stat.is_dir() {
            return Try::Skip;
        }
        let creds = self.ctx.creds;
        if r.dirs.iter().any(|(_, st)| !creds.may(st, EXEC)) || !creds.may(&r.stat, READ) {
            return Try::Unreadable(r.task_path);
        }
        if r.host.is_none() && r.model.is_none() {
            return Try::Skip;
        }
        let info = match self.ctx.elf(&r).as_ref() {
            Ok(i) => Rc::new(i.clone()),
            Err(ElfError::TooShort) => {
                return Try::Fatal(cand.into(), "file too short".into(), false);
            }
            Err(ElfError::NotElf) => {
                return Try::Fatal(cand.into(), "invalid ELF header".into(), false);
            }
            Err(ElfError::Malformed(m)) => return Try::Fatal(cand.into(), m.clone(), false),
            Err(ElfError::Io(_)) => return Try::Skip,
        };
        // A library of the other class or machine is skipped and the search goes on
        // (glibc: "This is not a fatal error"); musl fails on it.
        if info.class64 != self.cfg.class64 || info.machine != self.cfg.machine {
            if self.cfg.kind == LoaderKind::Musl {
                return Try::Fatal(cand.into(), "Exec format error".into(), false);
            }
            return Try::Skip;
        }
        // `_dl_map_object_from_fd` names the requested name, not the path, here.
        let base = cand.rsplit('/').next().unwrap_or(cand);
        if info.e_type != elf::ET_DYN {
            return Try::Fatal(
                base.into(),
                "cannot dynamically load executable".into(),
                false,
            );
        }
        if info.pie {
            return Try::Fatal(
                base.into(),
                "cannot dynamically load position-independent executable".into(),
                false,
            );
        }
        if super::perms::noexec_mount(&r.task_path, self.ctx.input.version).is_some() {
            return Try::Fatal(
                cand.into(),
                "failed to map segment from shared object".into(),
                true,
            );
        }
        Try::Found(r, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_debians_ld_so_config() {
        let bytes = std::fs::read("/lib64/ld-linux-x86-64.so.2").unwrap();
        assert_eq!(
            crate::elf::glibc_system_dirs(&bytes),
            [
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/lib",
                "/usr/lib"
            ]
        );
        assert_eq!(
            crate::elf::glibc_cache_path(&bytes).as_deref(),
            Some("/etc/ld.so.cache")
        );
        assert_eq!(dst_lib_of("/lib/x86_64-linux-gnu"), "lib/x86_64-linux-gnu");
        assert_eq!(dst_lib_of("/nix/store/aaa-glibc-2.40/lib"), "lib");
    }

    #[test]
    fn parses_the_host_ld_so_cache() {
        let bytes = std::fs::read("/etc/ld.so.cache").unwrap();
        let entries = parse_ld_cache(&bytes);
        let libc = entries.iter().find(|e| e.key == "libc.so.6").unwrap();
        assert_eq!(libc.value, "/lib/x86_64-linux-gnu/libc.so.6");
        assert_eq!(libc.flags, 0x0303);
        assert!(parse_ld_cache(b"garbage").is_empty());
    }

    proptest::proptest! {
        // Seeds of past failures live beside this file, not at the top level.
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
            )),
            ..proptest::test_runner::Config::default()
        })]
        #[test]
        fn cache_parser_survives_garbage(mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            // With and without a valid header in front of the garbage.
            let _ = parse_ld_cache(&bytes);
            let mut framed = b"glibc-ld.so.cache1.1".to_vec();
            framed.append(&mut bytes);
            let _ = parse_ld_cache(&framed);
            let _ = crate::elf::glibc_system_dirs(&framed);
            let _ = crate::elf::glibc_cache_path(&framed);
        }
    }

    #[test]
    fn musl_reserved_names() {
        assert!(musl_reserved("libc.so"));
        assert!(musl_reserved("libpthread.so.0"));
        assert!(!musl_reserved("libcrypto.so.3"));
    }
}
