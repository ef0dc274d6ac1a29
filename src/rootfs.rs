//! In-root path resolution with chroot semantics: the one place that turns a path as
//! the task sees it into a host path to read.
//!
//! The task's `/` is a union: the task dir on disk (artifacts are unpacked over the
//! built chroot, so it wins), then the `chroot_env` layers (read-only host paths that
//! Nomad copies or hardlinks into the task dir, §2.3), with the shared alloc dir
//! bind-mounted at `/alloc` above both. Ancestors of a layer's destination exist as
//! directories (Nomad's `createDir` makes them).
//!
//! Resolution walks component by component with `lstat`, like the kernel's path walk
//! under `chroot(2)` (or libpathrs' `Root`): absolute symlink targets restart at the task
//! root, `..` stops at the root, and more than 40 links is `ELOOP` (`MAXSYMLINKS`,
//! `include/linux/namei.h`). The host's `canonicalize` is never used: Nix closures are
//! full of absolute `/nix/store` links that would resolve on the host (lddtree-rs's bug).
//!
//! [`RootFs::host_stat`] is the exception on purpose: it models Nomad's host-side
//! `os.Stat` in `lookupTaskBin`, where absolute links *do* resolve on the host (§5.1).
//!
//! The task dir and the shared alloc dir are read from disk, or, for a static check,
//! from the in-memory model of the unpacked tree ([`crate::archive::model`]); file
//! contents are read through [`RootFs::head`], [`RootFs::elf`] and [`RootFs::read`],
//! which serve both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::model::{self, FileData, Tree};
use crate::elf::LoaderStrings;
use crate::taskdir::{Layer, LayerOrigin, TaskDir};

/// The kernel's limit on symlinks followed in one lookup (`MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    File,
    Symlink,
    Other,
}

/// The parts of `stat(2)` the analysis needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: FileKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

impl Stat {
    fn from_meta(m: &fs::Metadata) -> Stat {
        let ft = m.file_type();
        Stat {
            kind: if ft.is_dir() {
                FileKind::Dir
            } else if ft.is_file() {
                FileKind::File
            } else if ft.is_symlink() {
                FileKind::Symlink
            } else {
                FileKind::Other
            },
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }

    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }
}

/// Where a path the task sees comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The task dir itself: artifacts, templates, Nomad's own dirs.
    TaskDir,
    /// A `chroot_env` entry; `src` is the host path it mirrors.
    ChrootEnv { src: PathBuf },
    /// The shared alloc dir, bind-mounted at `/alloc`.
    Alloc,
    /// A directory Nomad creates as the parent of a `chroot_env` destination.
    Implied,
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::TaskDir => "the task dir".into(),
            Origin::ChrootEnv { src } => format!("chroot_env (host `{}`)", src.display()),
            Origin::Alloc => "the shared alloc dir".into(),
            Origin::Implied => "a directory Nomad creates for chroot_env".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    stat: Stat,
    /// The host path holding this node (`None` for implied directories and the model's
    /// nodes).
    host: Option<PathBuf>,
    origin: Origin,
    /// The model's node, for a tree in memory.
    model: Option<model::NodeId>,
}

/// One symlink followed during a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStep {
    /// The link, as a task path.
    pub link: String,
    /// Its target as stored.
    pub target: String,
}

/// A path that exists inside the task's root.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The final path, every link followed (`/nix/store/…/bin/bash`).
    pub task_path: String,
    /// Where to read it on the host (`None` for an implied directory, or a file of the
    /// in-memory model: read those through [`RootFs`]).
    pub host: Option<PathBuf>,
    /// A file of the in-memory model.
    pub model: Option<Arc<FileData>>,
    pub stat: Stat,
    pub origin: Origin,
    /// The links followed, in order.
    pub links: Vec<LinkStep>,
    /// Every directory searched on the way, as task paths with their stat (`/` first).
    pub dirs: Vec<(String, Stat)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveErrorKind {
    /// `ENOENT`.
    NotFound,
    /// `ENOTDIR`: a component that must be a directory is not one.
    NotDir,
    /// `ELOOP`: more than [`MAX_SYMLINKS`] links.
    Loop,
}

/// Why a lookup failed, with the component it failed at and the links followed.
#[derive(Debug, Clone)]
pub struct ResolveError {
    pub kind: ResolveErrorKind,
    /// The task path of the failing component (after the links followed so far).
    pub component: String,
    pub links: Vec<LinkStep>,
}

impl ResolveError {
    /// The errno text as Go and the C library print it.
    pub fn errno_text(&self) -> &'static str {
        match self.kind {
            ResolveErrorKind::NotFound => "no such file or directory",
            ResolveErrorKind::NotDir => "not a directory",
            ResolveErrorKind::Loop => "too many levels of symbolic links",
        }
    }

    /// The link chain as `a -> b, c -> d` for messages.
    pub fn describe_links(&self) -> String {
        describe_links(&self.links)
    }
}

pub fn describe_links(links: &[LinkStep]) -> String {
    links
        .iter()
        .map(|l| format!("{} -> {}", l.link, l.target))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What Nomad's host-side `os.Stat` sees for a path in the task dir.
#[derive(Debug, Clone)]
pub struct HostStat {
    pub stat: Stat,
    /// The task path it landed on, when every link stayed inside the task dir.
    pub in_task: Option<String>,
    /// The host path it landed on.
    pub host: PathBuf,
}

/// The task's root as the task sees it.
pub struct RootFs {
    root: PathBuf,
    /// AllocBind layers first (mounts win over the task dir), then chroot_env layers,
    /// longest destination first.
    layers: Vec<Layer>,
    cache: RefCell<HashMap<String, Option<Node>>>,
    /// The tree in memory (the allocation dir) and the task dir's name in it.
    model: Option<(Arc<Tree>, String)>,
}

impl RootFs {
    pub fn new(taskdir: &TaskDir) -> RootFs {
        let mut fs = RootFs::with_layers(&taskdir.root, taskdir.layers());
        fs.model = taskdir
            .model
            .clone()
            .map(|t| (t, taskdir.task_name.clone()));
        fs
    }

    pub fn with_layers(root: &Path, mut layers: Vec<Layer>) -> RootFs {
        layers.sort_by(|a, b| {
            let rank = |l: &Layer| u8::from(l.origin != LayerOrigin::AllocBind);
            rank(a).cmp(&rank(b)).then(b.dest.len().cmp(&a.dest.len()))
        });
        RootFs {
            root: root.to_owned(),
            layers,
            cache: RefCell::new(HashMap::new()),
            model: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolve `path` (absolute, or relative to `/`) following every link.
    pub fn resolve(&self, path: &str) -> Result<Resolved, ResolveError> {
        self.walk("/", path, true)
    }

    /// Resolve without following a final symlink (`lstat` semantics).
    pub fn resolve_nofollow(&self, path: &str) -> Result<Resolved, ResolveError> {
        self.walk("/", path, false)
    }

    /// Resolve `path` relative to the directory `cwd` (a task path) when it is relative.
    pub fn resolve_at(&self, cwd: &str, path: &str) -> Result<Resolved, ResolveError> {
        self.walk(cwd, path, true)
    }

    /// Read a symlink's target (the node must be a symlink).
    fn readlink(&self, node: &Node) -> Option<String> {
        if let (Some(id), Some((tree, _))) = (node.model, &self.model) {
            return match &tree.node(id).kind {
                model::Kind::Symlink(t) => Some(String::from_utf8_lossy(t).into_owned()),
                _ => None,
            };
        }
        let host = node.host.as_ref()?;
        fs::read_link(host)
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }

    /// `lstat` of a canonical (link-free ancestors) task path in the union.
    fn node(&self, parts: &[String]) -> Option<Node> {
        let key = format!("/{}", parts.join("/"));
        if let Some(n) = self.cache.borrow().get(&key) {
            return n.clone();
        }
        let n = self.node_uncached(&key, parts);
        self.cache.borrow_mut().insert(key, n.clone());
        n
    }

    /// The model's node at `comps` below the allocation dir.
    fn model_node(&self, comps: &[&str], origin: Origin) -> Option<Node> {
        let (tree, _) = self.model.as_ref()?;
        let c: Vec<&[u8]> = comps.iter().map(|s| s.as_bytes()).collect();
        let id = tree.lookup(&c)?;
        let n = tree.node(id);
        let (kind, host) = match &n.kind {
            model::Kind::Dir(_) => (FileKind::Dir, None),
            model::Kind::Symlink(_) => (FileKind::Symlink, None),
            model::Kind::File(f) => match &f.origin {
                // A host file placed as is: read where it is.
                model::Origin::Host(p) if !p.as_os_str().is_empty() => {
                    (FileKind::File, Some(p.clone()))
                }
                _ => (FileKind::File, None),
            },
        };
        Some(Node {
            stat: Stat {
                kind,
                mode: n.mode & 0o7777,
                uid: tree.uid,
                gid: tree.gid,
                size: n.size(),
            },
            host,
            origin,
            model: Some(id),
        })
    }

    fn node_uncached(&self, key: &str, parts: &[String]) -> Option<Node> {
        if let Some((_, task)) = &self.model {
            let task = task.clone();
            if let Some(layer) = self
                .layers
                .iter()
                .find(|l| l.origin == LayerOrigin::AllocBind)
            {
                if let Some(rest) = under(key, &layer.dest) {
                    let mut c = vec!["alloc"];
                    c.extend(rest.split('/').filter(|s| !s.is_empty()));
                    return self.model_node(&c, Origin::Alloc);
                }
            }
            let mut c = vec![task.as_str()];
            c.extend(parts.iter().map(String::as_str));
            if let Some(n) = self.model_node(&c, Origin::TaskDir) {
                return Some(n);
            }
            return self.layer_nodes(key);
        }
        if parts.is_empty() {
            let m = fs::metadata(&self.root).ok()?;
            return Some(Node {
                stat: Stat::from_meta(&m),
                host: Some(self.root.clone()),
                origin: Origin::TaskDir,
                model: None,
            });
        }
        for layer in self
            .layers
            .iter()
            .filter(|l| l.origin == LayerOrigin::AllocBind)
        {
            if let Some(rest) = under(key, &layer.dest) {
                return layer_node(layer, rest);
            }
        }
        let host = parts.iter().fold(self.root.clone(), |p, c| p.join(c));
        if let Ok(m) = fs::symlink_metadata(&host) {
            return Some(Node {
                stat: Stat::from_meta(&m),
                host: Some(host),
                origin: Origin::TaskDir,
                model: None,
            });
        }
        self.layer_nodes(key)
    }

    /// What the chroot_env layers hold at `key`, or the directory Nomad makes as the
    /// parent of one.
    fn layer_nodes(&self, key: &str) -> Option<Node> {
        for layer in self
            .layers
            .iter()
            .filter(|l| l.origin == LayerOrigin::ChrootEnv)
        {
            if let Some(rest) = under(key, &layer.dest) {
                if let Some(n) = layer_node(layer, rest) {
                    return Some(n);
                }
            }
        }
        if self
            .layers
            .iter()
            .any(|l| under(&l.dest, key).is_some_and(|r| !r.is_empty()))
        {
            // `createDir` gives each parent the mode and owner of the same-named host
            // directory, or 0777 when the host has none (`fs_unix.go`).
            let stat = fs::metadata(key)
                .ok()
                .filter(fs::Metadata::is_dir)
                .map(|m| Stat::from_meta(&m))
                .unwrap_or(Stat {
                    kind: FileKind::Dir,
                    mode: 0o777,
                    uid: 0,
                    gid: 0,
                    size: 0,
                });
            return Some(Node {
                stat,
                host: None,
                origin: Origin::Implied,
                model: None,
            });
        }
        None
    }

    fn walk(&self, cwd: &str, path: &str, follow_final: bool) -> Result<Resolved, ResolveError> {
        // The kernel refuses an empty path with ENOENT (`getname`), e.g. the interpreter
        // of `#!\0`; it is not the cwd.
        if path.is_empty() {
            return Err(ResolveError {
                kind: ResolveErrorKind::NotFound,
                component: String::new(),
                links: Vec::new(),
            });
        }
        let mut remaining: Vec<String> = Vec::new();
        push_components(&mut remaining, path);
        let mut cur: Vec<String> = if path.starts_with('/') {
            Vec::new()
        } else {
            split(cwd)
        };
        let mut links: Vec<LinkStep> = Vec::new();
        let root_stat = self.node(&[]).map(|n| n.stat).ok_or_else(|| ResolveError {
            kind: ResolveErrorKind::NotFound,
            component: "/".into(),
            links: Vec::new(),
        })?;
        let mut dirs: Vec<(String, Stat)> = vec![("/".into(), root_stat)];
        // `remaining` is a stack: the next component is at the end.
        remaining.reverse();
        while let Some(c) = remaining.pop() {
            if c == "." {
                continue;
            }
            if c == ".." {
                cur.pop();
                continue;
            }
            cur.push(c);
            let here = format!("/{}", cur.join("/"));
            let Some(node) = self.node(&cur) else {
                return Err(ResolveError {
                    kind: ResolveErrorKind::NotFound,
                    component: here,
                    links,
                });
            };
            let last = remaining.is_empty();
            if node.stat.kind == FileKind::Symlink && (!last || follow_final) {
                if links.len() >= MAX_SYMLINKS {
                    return Err(ResolveError {
                        kind: ResolveErrorKind::Loop,
                        component: here,
                        links,
                    });
                }
                let target = self.readlink(&node).unwrap_or_default();
                links.push(LinkStep {
                    link: here,
                    target: target.clone(),
                });
                cur.pop();
                if target.starts_with('/') {
                    cur.clear();
                }
                let mut t = Vec::new();
                push_components(&mut t, &target);
                remaining.extend(t.into_iter().rev());
                continue;
            }
            if last {
                return Ok(Resolved {
                    task_path: here,
                    model: self.file_of(&node),
                    host: node.host,
                    stat: node.stat,
                    origin: node.origin,
                    links,
                    dirs,
                });
            }
            if !node.stat.is_dir() {
                return Err(ResolveError {
                    kind: ResolveErrorKind::NotDir,
                    component: here,
                    links,
                });
            }
            dirs.push((here, node.stat));
        }
        let here = format!("/{}", cur.join("/"));
        let node = self.node(&cur).ok_or_else(|| ResolveError {
            kind: ResolveErrorKind::NotFound,
            component: here.clone(),
            links: links.clone(),
        })?;
        dirs.pop();
        Ok(Resolved {
            task_path: here,
            model: self.file_of(&node),
            host: node.host,
            stat: node.stat,
            origin: node.origin,
            links,
            dirs,
        })
    }

    fn file_of(&self, node: &Node) -> Option<Arc<FileData>> {
        let (tree, _) = self.model.as_ref()?;
        match &tree.node(node.model?).kind {
            model::Kind::File(f) if node.host.is_none() => Some(f.clone()),
            _ => None,
        }
    }

    /// The first `n` bytes (at most [`model::file::HEAD`]) of a resolved file.
    pub fn head(&self, r: &Resolved, n: usize) -> Option<Vec<u8>> {
        match (&r.model, &r.host) {
            (Some(f), _) => Some(f.head[..f.head.len().min(n)].to_vec()),
            (None, Some(h)) => crate::analyze::elf::head(h, n).ok(),
            (None, None) => None,
        }
    }

    /// What an ELF parse of a resolved file gives, and for a file kept whole that could
    /// be a loader, its strings (`None`: read them with [`RootFs::loader_strings`]).
    pub fn elf(&self, r: &Resolved) -> Option<model::ElfParse> {
        match (&r.model, &r.host, &self.model) {
            (Some(f), _, Some((tree, _))) => Some(match &f.elf {
                model::ElfState::NoMagic => {
                    // Only the first bytes are read before the parse gives up.
                    let s = crate::elf::Sparse::new(f.size, vec![(0, f.head.clone())]);
                    (Arc::new(crate::elf::parse_ref(&s)), None)
                }
                e => e.resolve(tree, &f.origin),
            }),
            (None, Some(h), _) => Some((Arc::new(crate::elf::parse(h)), None)),
            _ => None,
        }
    }

    /// A loader's configuration strings, from the whole of its file.
    pub fn loader_strings(&self, r: &Resolved) -> LoaderStrings {
        if let Some((_, Some(s))) = self.elf(r) {
            return s;
        }
        self.read(r)
            .map(|b| LoaderStrings::of(&b))
            .unwrap_or_default()
    }

    /// The whole content of a resolved file.
    pub fn read(&self, r: &Resolved) -> Option<Vec<u8>> {
        match (&r.model, &r.host, &self.model) {
            (Some(f), _, Some((tree, _))) => tree.content(f).ok().map(|c| c.to_vec()),
            (None, Some(h), _) => fs::read(h).ok(),
            _ => None,
        }
    }

    /// Every regular file of the task dir (but what is below its `alloc/` mount point)
    /// and of the shared alloc dir, as task paths with their permission bits: each
    /// directory's entries by name, depth first.
    pub fn files(&self, task_root: &Path, shared_alloc: &Path) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        match &self.model {
            Some((tree, task)) => {
                fn walk(t: &Tree, id: model::NodeId, prefix: &str, out: &mut Vec<(String, u32)>) {
                    for (name, c) in t.children(id) {
                        let p = format!("{prefix}/{}", String::from_utf8_lossy(name));
                        let n = t.node(c);
                        match n.kind {
                            model::Kind::Dir(_) => walk(t, c, &p, out),
                            model::Kind::File(_) => out.push((p, n.mode & 0o7777)),
                            model::Kind::Symlink(_) => {}
                        }
                    }
                }
                if let Some(id) = tree.lookup_path(task) {
                    walk(tree, id, "", &mut out);
                }
                out.retain(|(p, _)| !p.starts_with("/alloc/"));
                if let Some(id) = tree.lookup_path("alloc") {
                    walk(tree, id, "/alloc", &mut out);
                }
            }
            None => {
                walk_files(task_root, "", &mut |p, mode| {
                    if !p.starts_with("/alloc/") {
                        out.push((p.to_owned(), mode));
                    }
                });
                walk_files(shared_alloc, "/alloc", &mut |p, mode| {
                    out.push((p.to_owned(), mode))
                });
            }
        }
        out
    }

    /// What Go's `os.Stat(filepath.Join(taskDir, rel))` returns on the Nomad client:
    /// links inside the task dir (chroot_env copies included, Nomad put them there)
    /// are followed in the task dir, but an absolute target or a `..` above the task
    /// dir continues on the *host* (`hashicorp/nomad:drivers/shared/executor/
    /// executor_linux_cgo.go` `lookupTaskBin`, §5.1).
    pub fn host_stat(&self, rel: &str) -> Result<HostStat, ResolveErrorKind> {
        let mut remaining: Vec<String> = Vec::new();
        push_components(&mut remaining, rel);
        remaining.reverse();
        let mut cur: Vec<String> = Vec::new();
        let mut followed = 0usize;
        let on_host = |p: PathBuf| -> Result<HostStat, ResolveErrorKind> {
            match fs::metadata(&p) {
                Ok(m) => Ok(HostStat {
                    stat: Stat::from_meta(&m),
                    in_task: None,
                    host: p,
                }),
                Err(e) => Err(match e.raw_os_error() {
                    Some(libc::ENOTDIR) => ResolveErrorKind::NotDir,
                    Some(libc::ELOOP) => ResolveErrorKind::Loop,
                    _ => ResolveErrorKind::NotFound,
                }),
            }
        };
        while let Some(c) = remaining.pop() {
            if c == "." {
                continue;
            }
            if c == ".." {
                if cur.pop().is_none() {
                    let mut p = self.root.join("..");
                    for r in remaining.iter().rev() {
                        p.push(r);
                    }
                    return on_host(p);
                }
                continue;
            }
            cur.push(c);
            let Some(node) = self.node(&cur) else {
                return Err(ResolveErrorKind::NotFound);
            };
            if node.stat.kind == FileKind::Symlink {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(ResolveErrorKind::Loop);
                }
                let target = self.readlink(&node).unwrap_or_default();
                cur.pop();
                if target.starts_with('/') {
                    let mut p = PathBuf::from(&target);
                    for r in remaining.iter().rev() {
                        p.push(r);
                    }
                    return on_host(p);
                }
                let mut t = Vec::new();
                push_components(&mut t, &target);
                remaining.extend(t.into_iter().rev());
                continue;
            }
            if !remaining.is_empty() && !node.stat.is_dir() {
                return Err(ResolveErrorKind::NotDir);
            }
        }
        let node = self.node(&cur).ok_or(ResolveErrorKind::NotFound)?;
        Ok(HostStat {
            stat: node.stat,
            in_task: Some(format!("/{}", cur.join("/"))),
            host: node
                .host
                .unwrap_or_else(|| cur.iter().fold(self.root.clone(), |p, c| p.join(c))),
        })
    }
}

fn walk_files(dir: &Path, task_prefix: &str, f: &mut dyn FnMut(&str, u32)) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let task_path = format!("{task_prefix}/{name}");
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if m.is_dir() {
            walk_files(&e.path(), &task_path, f);
        } else if m.is_file() {
            f(&task_path, m.permissions().mode());
        }
    }
}

/// The node for `rest` (relative, may be empty) inside a layer.
fn layer_node(layer: &Layer, rest: &str) -> Option<Node> {
    let origin = match layer.origin {
        LayerOrigin::AllocBind => Origin::Alloc,
        LayerOrigin::ChrootEnv => Origin::ChrootEnv {
            src: layer.src.clone(),
        },
    };
    let host = if rest.is_empty() {
        layer.src.clone()
    } else {
        layer.src.join(rest)
    };
    let lm = fs::symlink_metadata(&host).ok()?;
    // A directory source is read with `os.ReadDir`, which follows a symlinked source
    // (`/bin -> usr/bin`); a file source that is a symlink is hardlinked as the link
    // itself (`os.Link` does not dereference, §2.3).
    let m = if rest.is_empty() && lm.file_type().is_symlink() {
        match fs::metadata(&host) {
            Ok(m) if m.is_dir() => m,
            _ => lm,
        }
    } else {
        lm
    };
    Some(Node {
        stat: Stat::from_meta(&m),
        host: Some(host),
        origin,
        model: None,
    })
}

/// `Some(rest)` when `path` is `base` or below it (component-wise).
fn under<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    if base == "/" {
        return Some(path.trim_start_matches('/'));
    }
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

fn split(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_owned()),
        }
    }
    out
}

/// The components of `p`, keeping `.` and turning a trailing `/` into `.`: the kernel
/// requires the component before either to be a directory (`a/.` and `a/` are
/// `ENOTDIR` when `a` is a file), so the walks skip a `.` only after that check.
fn push_components(out: &mut Vec<String>, p: &str) {
    let start = out.len();
    out.extend(p.split('/').filter(|c| !c.is_empty()).map(str::to_owned));
    if p.ends_with('/') && out.len() > start && out.last().is_some_and(|c| c != "." && c != "..") {
        out.push(".".to_owned());
    }
}

/// Lexically join a directory and a path the way ld.so and the kernel see a relative
/// path: `dir/name`, without resolving anything.
pub fn join(dir: &str, name: &str) -> String {
    if name.starts_with('/') {
        return name.to_owned();
    }
    let d = dir.trim_end_matches('/');
    format!("{d}/{name}")
}

/// The directory part of a task path (`/a/b` → `/a`, `/a` → `/`).
pub fn dirname(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &p[..i],
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    struct Tree {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        host: PathBuf,
    }

    fn tree() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let host = tmp.path().join("host");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&host).unwrap();
        Tree {
            _tmp: tmp,
            root,
            host,
        }
    }

    fn file(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"x").unwrap();
    }

    fn link(target: &str, at: &Path) {
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        symlink(target, at).unwrap();
    }

    fn layer(dest: &str, src: &Path) -> Layer {
        Layer {
            dest: dest.into(),
            src: src.to_owned(),
            origin: LayerOrigin::ChrootEnv,
        }
    }

    #[test]
    fn absolute_links_are_rerooted_and_dotdot_clamped() {
        let t = tree();
        file(&t.root.join("nix/store/aaa-bash/bin/bash"));
        link("/nix/store/aaa-bash/bin/bash", &t.root.join("bin/sh"));
        link(
            "../../../../../../nix/store/aaa-bash/bin/bash",
            &t.root.join("usr/bin/bash"),
        );
        link("bash", &t.root.join("nix/store/aaa-bash/bin/rbash"));
        let fsys = RootFs::with_layers(&t.root, vec![]);
        let r = fsys.resolve("/bin/sh").unwrap();
        assert_eq!(r.task_path, "/nix/store/aaa-bash/bin/bash");
        assert_eq!(r.origin, Origin::TaskDir);
        assert_eq!(r.links.len(), 1);
        assert_eq!(
            fsys.resolve("/usr/bin/bash").unwrap().task_path,
            "/nix/store/aaa-bash/bin/bash"
        );
        assert_eq!(
            fsys.resolve("/nix/store/aaa-bash/bin/rbash")
                .unwrap()
                .task_path,
            "/nix/store/aaa-bash/bin/bash"
        );
        assert_eq!(
            fsys.resolve("/../../nix/./store/aaa-bash/bin/../bin/bash")
                .unwrap()
                .task_path,
            "/nix/store/aaa-bash/bin/bash"
        );
        let nf = fsys.resolve_nofollow("/bin/sh").unwrap();
        assert_eq!(nf.stat.kind, FileKind::Symlink);
        assert_eq!(
            fsys.resolve("/nix/store/aaa-bash/bin").unwrap().stat.kind,
            FileKind::Dir
        );
    }

    #[test]
    fn never_follows_a_link_on_the_host() {
        let t = tree();
        // A host path that exists: an absolute link to it must not resolve.
        let host_file = t.host.join("real");
        file(&host_file);
        link(host_file.to_str().unwrap(), &t.root.join("bin/app"));
        let fsys = RootFs::with_layers(&t.root, vec![]);
        let e = fsys.resolve("/bin/app").unwrap_err();
        assert_eq!(e.kind, ResolveErrorKind::NotFound);
        assert_eq!(e.links.len(), 1);
        let first = t.host.to_str().unwrap().split('/').nth(1).unwrap();
        assert_eq!(e.component, format!("/{first}"));
        // …but Nomad's host-side os.Stat does follow it.
        let hs = fsys.host_stat("bin/app").unwrap();
        assert_eq!(hs.host, host_file);
        assert!(hs.in_task.is_none());
    }

    #[test]
    fn loops_dangling_and_notdir() {
        let t = tree();
        link("b", &t.root.join("a"));
        link("a", &t.root.join("b"));
        link("/nix/store/zzz-gone/bin/x", &t.root.join("dangling"));
        file(&t.root.join("f"));
        let fsys = RootFs::with_layers(&t.root, vec![]);
        let e = fsys.resolve("/a").unwrap_err();
        assert_eq!(e.kind, ResolveErrorKind::Loop);
        assert_eq!(e.links.len(), MAX_SYMLINKS);
        assert_eq!(e.errno_text(), "too many levels of symbolic links");
        let e = fsys.resolve("/dangling").unwrap_err();
        assert_eq!(e.kind, ResolveErrorKind::NotFound);
        assert_eq!(e.component, "/nix");
        assert_eq!(e.describe_links(), "/dangling -> /nix/store/zzz-gone/bin/x");
        let e = fsys.resolve("/f/x").unwrap_err();
        assert_eq!(e.kind, ResolveErrorKind::NotDir);
        assert_eq!(e.component, "/f");
        // A chain of 40 links is fine, 41 is ELOOP (MAXSYMLINKS).
        file(&t.root.join("end"));
        link("/end", &t.root.join("l0"));
        for i in 1..=40 {
            link(&format!("l{}", i - 1), &t.root.join(format!("l{i}")));
        }
        assert!(fsys.resolve("/l39").is_ok());
        assert_eq!(
            fsys.resolve("/l40").unwrap_err().kind,
            ResolveErrorKind::Loop
        );
    }

    #[test]
    fn layers_union_and_artifact_wins() {
        let t = tree();
        let usr = t.host.join("usr");
        file(&usr.join("bin/tool"));
        file(&usr.join("lib/libx.so.1"));
        link("../lib/libx.so.1", &usr.join("bin/libx"));
        link("/usr/lib/libx.so.1", &usr.join("bin/abs"));
        let resolv = t.host.join("resolv.conf");
        link("/run/systemd/resolve/stub-resolv.conf", &resolv);
        let binlink = t.host.join("binlink");
        link(usr.join("bin").to_str().unwrap(), &binlink);
        // The artifact brings its own /usr/bin/tool.
        fs::create_dir_all(t.root.join("usr/bin")).unwrap();
        fs::write(t.root.join("usr/bin/tool"), b"artifact").unwrap();
        let fsys = RootFs::with_layers(
            &t.root,
            vec![
                layer("/usr", &usr),
                layer("/etc/resolv.conf", &resolv),
                layer("/bin", &binlink),
            ],
        );
        let r = fsys.resolve("/usr/bin/tool").unwrap();
        assert_eq!(r.origin, Origin::TaskDir);
        let r = fsys.resolve("/usr/lib/libx.so.1").unwrap();
        assert_eq!(r.origin, Origin::ChrootEnv { src: usr.clone() });
        assert_eq!(r.host.unwrap(), usr.join("lib/libx.so.1"));
        assert_eq!(
            fsys.resolve("/usr/bin/libx").unwrap().task_path,
            "/usr/lib/libx.so.1"
        );
        assert_eq!(
            fsys.resolve("/usr/bin/abs").unwrap().task_path,
            "/usr/lib/libx.so.1"
        );
        // /etc is implied by the file entry; the link inside dangles in the chroot.
        assert_eq!(fsys.resolve("/etc").unwrap().origin, Origin::Implied);
        let e = fsys.resolve("/etc/resolv.conf").unwrap_err();
        assert_eq!(e.component, "/run");
        // A symlinked directory source is read through (os.ReadDir follows it).
        assert_eq!(fsys.resolve("/bin/tool").unwrap().task_path, "/bin/tool");
        assert!(fsys.resolve("/nothing").is_err());
    }

    #[test]
    fn alloc_bind_wins_and_dirs_are_recorded() {
        let t = tree();
        let alloc = t.host.join("alloc");
        file(&alloc.join("data/app"));
        fs::create_dir_all(t.root.join("alloc")).unwrap();
        fs::create_dir_all(t.root.join("local/sub")).unwrap();
        fs::set_permissions(t.root.join("local/sub"), fs::Permissions::from_mode(0o700)).unwrap();
        file(&t.root.join("local/sub/app"));
        let fsys = RootFs::with_layers(
            &t.root,
            vec![Layer {
                dest: "/alloc".into(),
                src: alloc.clone(),
                origin: LayerOrigin::AllocBind,
            }],
        );
        let r = fsys.resolve("/alloc/data/app").unwrap();
        assert_eq!(r.origin, Origin::Alloc);
        let r = fsys.resolve("/local/sub/app").unwrap();
        let names: Vec<&str> = r.dirs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["/", "/local", "/local/sub"]);
        assert_eq!(r.dirs[2].1.mode, 0o700);
    }

    #[test]
    fn joins_and_dirnames() {
        assert_eq!(join("/a/", "b"), "/a/b");
        assert_eq!(join("/a", "/b"), "/b");
        assert_eq!(dirname("/a/b"), "/a");
        assert_eq!(dirname("/a"), "/");
    }
}
