//! The unpacked tree in memory: what a static check needs of it, without writing it.
//!
//! Unpacking into a [`Tree`] makes the same decisions as unpacking to disk (the same
//! [`super::unpack`] layer, through another [`super::sink::Sink`]: [`sink::Memory`]),
//! and keeps per entry what the analysis reads: its type, mode, owner, size, mtime and
//! link target, and of a file's content only bounded captures taken while it streams
//! past ([`file`]): its first bytes (`#!` lines, magic numbers), what an ELF parse reads
//! (headers, the dynamic section and its strings, the version tables), a loader's
//! configuration strings, and the whole of the small text files the lints read
//! (`/etc/passwd`, `nsswitch.conf`, `ld.so.cache`, …). Memory grows with the number of
//! entries, not with their size.
//!
//! What was not kept and is asked for later is read back from the bundle
//! ([`Tree::read_back`]): the artifacts are unpacked again, in order, into a scratch
//! tree that keeps that one file whole. Rare (an ELF whose tables lie past the first
//! 16 MiB, a big text file a lint reads), and exact.
//!
//! The tree is the allocation directory: the shared `alloc/` and the task dir beside
//! it, laid out as [`crate::taskdir`] lays them out on disk (same modes), owned by this
//! process's user, with its umask applied where the disk would apply it.

pub mod file;
pub(crate) mod sink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use file::{ElfParse, ElfState, FileData, Origin};

use super::dest::MTime;

pub type NodeId = usize;

#[derive(Debug, Clone)]
pub enum Kind {
    Dir(BTreeMap<Box<[u8]>, NodeId>),
    File(Arc<FileData>),
    Symlink(Box<[u8]>),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    /// Permission bits and setuid/setgid/sticky.
    pub mode: u32,
    /// Set from the archive; `None` is the time it was made or last changed.
    pub mtime: Option<MTime>,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    /// `st_size`: a file's length, a link's target length, 4096 for a directory (as
    /// the filesystems under a work dir report one).
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::Dir(_) => 4096,
            Kind::File(f) => f.size,
            Kind::Symlink(t) => t.len() as u64,
        }
    }
}

/// How to unpack an artifact again, to read back a file of it.
#[derive(Debug, Clone)]
pub enum Source {
    Archive(super::OwnedRequest),
    /// Placed as is (not unpacked): see [`super::place_as_is_model`].
    Copy {
        src: PathBuf,
        dest: Vec<Vec<u8>>,
        name: String,
    },
}

#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Node>,
    pub uid: u32,
    pub gid: u32,
    /// Applied to the directories `MkdirAll` makes (the disk's `mkdir(0755)`).
    pub umask: u32,
    /// What was unpacked into it, in order, each with the directory it went into.
    pub(crate) sources: Vec<(Source, Vec<Vec<u8>>)>,
    /// Bytes of small files kept whole so far.
    pub(crate) kept: usize,
    /// The skeleton: task name and whether it has `private/`.
    layout: (String, bool),
}

/// This process's umask, read without changing it (`/proc/self/status`, Linux ≥ 4.7).
fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

impl Tree {
    /// An allocation directory as `AllocDir::build` and `task_dir` make it: the shared
    /// `alloc/{data,logs,tmp}` and the task dir `task/{local,secrets,tmp,alloc,private}`.
    pub fn alloc_dir(task: &str, private: bool) -> Tree {
        let mut t = Tree {
            nodes: vec![Node {
                kind: Kind::Dir(BTreeMap::new()),
                mode: 0o700,
                mtime: None,
            }],
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            umask: current_umask(),
            sources: Vec::new(),
            kept: 0,
            layout: (task.to_owned(), private),
        };
        for (p, mode) in [
            ("alloc", 0o777),
            ("alloc/data", 0o777),
            ("alloc/logs", 0o777),
            ("alloc/tmp", 0o777),
        ] {
            t.make_dir(p, mode);
        }
        let task_dirs = [
            ("", 0o777),
            ("/local", 0o777),
            ("/secrets", 0o777),
            ("/tmp", 0o1777),
            ("/alloc", 0o777),
        ];
        for (p, mode) in task_dirs {
            t.make_dir(&format!("{task}{p}"), mode);
        }
        if private {
            t.make_dir(&format!("{task}/private"), 0o777);
        }
        let secrets = t
            .lookup_path(&format!("{task}/secrets"))
            .expect("made above");
        let marker = t.add(Node {
            kind: Kind::File(Arc::new(FileData::empty())),
            mode: 0o644,
            mtime: None,
        });
        t.link(secrets, b".nomad-mount", marker);
        t
    }

    fn make_dir(&mut self, path: &str, mode: u32) {
        let comps: Vec<&[u8]> = path.split('/').map(str::as_bytes).collect();
        let (&last, parents) = comps.split_last().expect("a path");
        let parent = self.lookup(parents).expect("parents first");
        let id = self.add(Node {
            kind: Kind::Dir(BTreeMap::new()),
            mode,
            mtime: None,
        });
        self.link(parent, last, id);
    }

    /// `std::fs::create_dir_all` (mode 0777 less the umask), as the check makes an
    /// artifact's destination. Components that exist and are not directories stop it.
    pub fn create_dir_all(&mut self, comps: &[Vec<u8>]) {
        let mut cur = 0;
        for c in comps {
            cur = match self.child(cur, c) {
                Some(id) if self.nodes[id].is_dir() => id,
                Some(_) => return,
                None => {
                    let id = self.add(Node {
                        kind: Kind::Dir(BTreeMap::new()),
                        mode: 0o777 & !self.umask,
                        mtime: None,
                    });
                    self.link(cur, c, id);
                    id
                }
            };
        }
    }

    pub(crate) fn add(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    /// Put `id` in directory `dir` as `name` (replacing what was there); the directory
    /// changes, as its mtime on disk would.
    pub(crate) fn link(&mut self, dir: NodeId, name: &[u8], id: NodeId) {
        let d = &mut self.nodes[dir];
        d.mtime = None;
        if let Kind::Dir(m) = &mut d.kind {
            m.insert(name.into(), id);
        }
    }

    pub(crate) fn unlink(&mut self, dir: NodeId, name: &[u8]) {
        let d = &mut self.nodes[dir];
        d.mtime = None;
        if let Kind::Dir(m) = &mut d.kind {
            m.remove(name);
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id]
    }

    pub fn child(&self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        match &self.nodes[dir].kind {
            Kind::Dir(m) => m.get(name).copied(),
            _ => None,
        }
    }

    /// The entries of a directory, by name.
    pub fn children(&self, dir: NodeId) -> impl Iterator<Item = (&[u8], NodeId)> {
        let m = match &self.nodes[dir].kind {
            Kind::Dir(m) => Some(m),
            _ => None,
        };
        m.into_iter().flatten().map(|(k, v)| (&**k, *v))
    }

    /// `lstat` of `comps` below the allocation dir: every component but the last must
    /// be a directory (callers pass paths whose links are already followed).
    pub fn lookup(&self, comps: &[&[u8]]) -> Option<NodeId> {
        let mut cur = 0;
        for c in comps {
            if !self.nodes[cur].is_dir() {
                return None;
            }
            cur = self.child(cur, c)?;
        }
        Some(cur)
    }

    /// [`Tree::lookup`] of a `/`-separated path (empty components skipped).
    pub fn lookup_path(&self, path: &str) -> Option<NodeId> {
        let comps: Vec<&[u8]> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::as_bytes)
            .collect();
        self.lookup(&comps)
    }

    /// The whole content of a file, kept or read back from its artifact.
    pub fn content(&self, f: &FileData) -> std::io::Result<Arc<[u8]>> {
        if let Some(c) = &f.content {
            return Ok(c.clone());
        }
        match &f.origin {
            Origin::Host(p) => Ok(std::fs::read(p)?.into()),
            Origin::Entry { source, ordinal } => {
                match self.read_back(*source, *ordinal, file::Want::Whole)? {
                    file::ReadBack::Whole(b) => Ok(b.into()),
                    file::ReadBack::Elf(_) => unreachable!("asked for the whole file"),
                }
            }
        }
    }

    /// Unpack the artifacts again up to `source`, in a scratch tree, keeping what
    /// `want` says of its `ordinal`-th file.
    pub(crate) fn read_back(
        &self,
        source: usize,
        ordinal: u32,
        want: file::Want,
    ) -> std::io::Result<file::ReadBack> {
        tracing::debug!(
            source,
            ordinal,
            ?want,
            "reading a file back from its artifact"
        );
        let mut scratch = Tree::alloc_dir(&self.layout.0, self.layout.1);
        scratch.umask = self.umask;
        let lost = || std::io::Error::other("the bundle no longer unpacks as it did");
        for (i, (s, dest)) in self.sources.iter().enumerate().take(source + 1) {
            scratch.create_dir_all(dest);
            let target = (i == source).then(|| (ordinal, want.clone()));
            match s {
                Source::Archive(req) => {
                    let mut got = None;
                    super::extract_model(&req.borrow(), &mut scratch, dest, target, &mut got)
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    if i == source {
                        return got.ok_or_else(lost);
                    }
                }
                Source::Copy { src, dest, name } => {
                    super::place_as_is_model(src, &mut scratch, dest, name)
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                }
            }
        }
        Err(lost())
    }
}
