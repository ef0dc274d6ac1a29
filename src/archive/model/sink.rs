//! [`Memory`]: the decisions of [`crate::archive::unpack`] carried out in a [`Tree`],
//! with the answers the disk would give (the same [`WalkError`]s and errnos as
//! [`crate::archive::dest`] gets from the kernel), so that both sinks lead the decision
//! layer the same way. Permission checks are those of root, as on a Nomad client.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use nix::errno::Errno;

use super::file::{FileCapture, ReadBack, Want, whole_limit};
use super::{ElfState, FileData, Kind, Node, NodeId, Origin, Tree};
use crate::archive::dest::{Existing, MTime, WalkError};
use crate::archive::sink::{MakeError, Sink};

/// `NAME_MAX`: the kernel refuses a longer component.
const NAME_MAX: usize = 255;
/// The buffers the decision layer fills, as the disk's writer pool hands out.
const BLOCK: usize = 1 << 20;

pub struct Memory<'t> {
    tree: &'t mut Tree,
    /// The directory unpacked into.
    base: NodeId,
    source: usize,
    /// Files made so far by this artifact.
    made: u32,
    /// The file being written: its node and capture.
    open: Option<(NodeId, FileCapture)>,
    spare: Vec<Vec<u8>>,
    /// A read-back: the file to keep, how, and what was kept of it.
    target: Option<(u32, Want)>,
    pub got: Option<ReadBack>,
}

/// An open file of [`Memory`]: its node.
pub struct MemFile(NodeId);

impl<'t> Memory<'t> {
    /// Unpack into the directory `dest` of `tree` (which exists), as its `source`-th
    /// artifact; with `target`, keep that file as it says.
    pub fn new(
        tree: &'t mut Tree,
        dest: &[Vec<u8>],
        source: usize,
        target: Option<(u32, Want)>,
    ) -> io::Result<Memory<'t>> {
        let comps: Vec<&[u8]> = dest.iter().map(Vec::as_slice).collect();
        let base = tree
            .lookup(&comps)
            .filter(|&id| tree.node(id).is_dir())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Memory {
            tree,
            base,
            source,
            made: 0,
            open: None,
            spare: Vec::new(),
            target,
            got: None,
        })
    }

    fn dir_node(&self, uid_mode: u32) -> Node {
        Node {
            kind: Kind::Dir(BTreeMap::new()),
            mode: uid_mode,
            mtime: None,
        }
    }

    /// `Dest::dir`: walk `comps` from the destination, never through a link, making
    /// missing directories 0755 (less the umask) when `create`.
    fn walk(&mut self, comps: &[&[u8]], create: bool) -> Result<NodeId, WalkError> {
        let mut cur = self.base;
        for (i, c) in comps.iter().enumerate() {
            if c.len() > NAME_MAX {
                return Err(WalkError::Io(i, Errno::ENAMETOOLONG));
            }
            cur = match self.tree.child(cur, c) {
                Some(id) => match self.tree.node(id).kind {
                    Kind::Dir(_) => id,
                    Kind::Symlink(_) => return Err(WalkError::Symlink(i)),
                    Kind::File(_) => return Err(WalkError::NotDir(i)),
                },
                None if create => {
                    let d = self.dir_node(0o755 & !self.tree.umask);
                    let id = self.tree.add(d);
                    self.tree.link(cur, c, id);
                    id
                }
                None => return Err(WalkError::Io(i, Errno::ENOENT)),
            };
        }
        Ok(cur)
    }

    /// What the kernel does with a name that exists in `dir` when a file or link
    /// replaces it (`unlinkat` without `AT_REMOVEDIR`).
    fn remove_for_replace(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        match self.tree.child(dir, name) {
            Some(id) if self.tree.node(id).is_dir() => Err(Errno::EISDIR),
            Some(_) => {
                self.tree.unlink(dir, name);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Sink for Memory<'_> {
    type File = MemFile;

    fn probe(&mut self, comps: &[&[u8]]) -> Result<Option<bool>, WalkError> {
        match self.walk(comps, false) {
            Ok(_) => Ok(Some(true)),
            Err(WalkError::NotDir(i)) if i + 1 == comps.len() => Ok(Some(false)),
            Err(WalkError::Io(_, Errno::ENOENT)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn mkdir_all(&mut self, comps: &[&[u8]]) -> Result<(), WalkError> {
        self.walk(comps, true).map(|_| ())
    }

    fn create(
        &mut self,
        parents: &[&[u8]],
        last: &[u8],
        mode: u32,
        existing: Existing,
        path: &str,
    ) -> Result<MemFile, MakeError> {
        let ordinal = self.made;
        self.made += 1;
        let dir = self.walk(parents, false).map_err(MakeError::Walk)?;
        if last.len() > NAME_MAX {
            return Err(MakeError::At(Errno::ENAMETOOLONG));
        }
        let reuse = match (self.tree.child(dir, last), existing) {
            (None, _) => None,
            (Some(id), Existing::Truncate) => match self.tree.node(id).kind {
                // O_TRUNC of the file that is there: the same inode, emptied.
                Kind::File(_) => Some(id),
                Kind::Dir(_) => return Err(MakeError::At(Errno::EISDIR)),
                // O_NOFOLLOW on a link.
                Kind::Symlink(_) => return Err(MakeError::At(Errno::ELOOP)),
            },
            (Some(_), Existing::Fail) => return Err(MakeError::At(Errno::EEXIST)),
            (Some(_), Existing::Replace) => {
                self.remove_for_replace(dir, last).map_err(MakeError::At)?;
                None
            }
        };
        let origin = Origin::Entry {
            source: self.source,
            ordinal,
        };
        let placeholder = FileData {
            origin,
            ..FileData::empty()
        };
        let id = match reuse {
            Some(id) => {
                let n = self.tree.node_mut(id);
                n.kind = Kind::File(Arc::new(placeholder));
                n.mtime = None;
                id
            }
            None => {
                let id = self.tree.add(Node {
                    kind: Kind::File(Arc::new(placeholder)),
                    mode: mode & 0o1777 & !self.tree.umask,
                    mtime: None,
                });
                self.tree.link(dir, last, id);
                id
            }
        };
        let cap = match &self.target {
            Some((o, want)) if *o == ordinal => match want {
                Want::Whole => FileCapture::new(true, usize::MAX, None),
                Want::Elf(extra) => FileCapture::new(false, 0, Some(extra.clone())),
            },
            _ => match whole_limit(path, self.tree.kept) {
                Some(limit) => FileCapture::new(true, limit, None),
                None => FileCapture::new(false, 0, None),
            },
        };
        self.open = Some((id, cap));
        Ok(MemFile(id))
    }

    fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_else(|| vec![0; BLOCK])
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        self.spare.push(buf);
    }

    fn write(&mut self, f: &MemFile, off: u64, buf: Vec<u8>, len: usize) {
        if let Some((id, cap)) = &mut self.open {
            if *id == f.0 {
                cap.data(off, &buf[..len]);
            }
        }
        self.spare.push(buf);
    }

    fn close(&mut self, f: MemFile, len: u64, mode: u32, mtime: Option<MTime>) {
        let Some((id, cap)) = self.open.take().filter(|(id, _)| *id == f.0) else {
            return;
        };
        let origin = match &self.tree.node(id).kind {
            Kind::File(d) => d.origin.clone(),
            _ => return,
        };
        let data = match (&self.target, &origin) {
            (Some((o, want)), Origin::Entry { ordinal, .. }) if o == ordinal => {
                self.got = Some(cap.finish_read_back(len, want));
                FileData {
                    size: len,
                    origin,
                    ..FileData::empty()
                }
            }
            _ => {
                let (head, elf, whole) = cap.finish(len);
                if let Some(w) = &whole {
                    self.tree.kept += w.len();
                }
                FileData {
                    size: len,
                    head,
                    elf,
                    content: whole.map(Arc::from),
                    origin,
                }
            }
        };
        let n = self.tree.node_mut(id);
        n.kind = Kind::File(Arc::new(data));
        n.mode = mode & 0o1777;
        if mtime.is_some() {
            n.mtime = mtime;
        }
    }

    fn symlink(&mut self, parents: &[&[u8]], last: &[u8], target: &[u8]) -> Result<(), MakeError> {
        let dir = self.walk(parents, true).map_err(MakeError::Walk)?;
        if last.len() > NAME_MAX {
            return Err(MakeError::At(Errno::ENAMETOOLONG));
        }
        self.remove_for_replace(dir, last).map_err(MakeError::At)?;
        let id = self.tree.add(Node {
            kind: Kind::Symlink(target.into()),
            mode: 0o777,
            mtime: None,
        });
        self.tree.link(dir, last, id);
        Ok(())
    }

    fn hard_link(
        &mut self,
        target: &[&[u8]],
        parents: &[&[u8]],
        last: &[u8],
    ) -> Result<(), MakeError> {
        let Some((&tlast, tparents)) = target.split_last() else {
            return Err(MakeError::At(Errno::EPERM));
        };
        let tdir = self.walk(tparents, false).map_err(MakeError::Target)?;
        let dir = self.walk(parents, true).map_err(MakeError::Walk)?;
        if last.len() > NAME_MAX || tlast.len() > NAME_MAX {
            return Err(MakeError::At(Errno::ENAMETOOLONG));
        }
        let find = |t: &Tree| t.child(tdir, tlast);
        match find(self.tree) {
            None => return Err(MakeError::At(Errno::ENOENT)),
            Some(id) if self.tree.node(id).is_dir() => return Err(MakeError::At(Errno::EPERM)),
            Some(_) => {}
        }
        if self.tree.child(dir, last).is_some() {
            // linkat: EEXIST; GNU tar unlinks and links again (the target may be gone).
            self.remove_for_replace(dir, last).map_err(MakeError::At)?;
        }
        let id = find(self.tree).ok_or(MakeError::At(Errno::ENOENT))?;
        self.tree.link(dir, last, id);
        Ok(())
    }

    fn finish_dir(
        &mut self,
        comps: &[&[u8]],
        mode: u32,
        mtime: Option<MTime>,
    ) -> Result<bool, Errno> {
        match self.walk(comps, false) {
            Ok(id) => {
                let n = self.tree.node_mut(id);
                n.mode = mode & 0o1777;
                if mtime.is_some() {
                    n.mtime = mtime;
                }
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    fn settle(&mut self) -> Option<(String, io::Error)> {
        None
    }

    fn failed(&mut self) -> Option<(String, io::Error)> {
        None
    }
}

impl ElfState {
    /// The parse, reading the file back when what was kept did not hold its tables.
    pub fn resolve(&self, tree: &Tree, origin: &Origin) -> super::ElfParse {
        use crate::elf::ElfError;
        use crate::elf::capture::Captured;
        match (self, origin) {
            (ElfState::Parsed(r, l), _) => (r.clone(), l.clone()),
            (ElfState::NoMagic, _) => (Arc::new(Err(ElfError::NotElf)), None),
            (ElfState::Incomplete(_), Origin::Host(_)) => {
                (Arc::new(Err(ElfError::Io("not kept".into()))), None)
            }
            (ElfState::Incomplete(first), Origin::Entry { source, ordinal }) => {
                let mut extra = first.clone();
                for _ in 0..8 {
                    match tree.read_back(*source, *ordinal, Want::Elf(extra.clone())) {
                        Ok(ReadBack::Elf(Captured::Parsed(r, l))) => return (Arc::new(r), l),
                        Ok(ReadBack::Elf(Captured::Incomplete(m))) => {
                            if m.iter().all(|r| extra.contains(r)) {
                                break;
                            }
                            extra.extend(m);
                        }
                        Ok(ReadBack::Whole(_)) | Err(_) => break,
                    }
                }
                (
                    Arc::new(Err(ElfError::Io(
                        "its ELF tables could not be read back from the bundle".into(),
                    ))),
                    None,
                )
            }
        }
    }
}
