//! File contents are written by a small pool of threads, so the page-cache copies and
//! block allocation of one file overlap with reading and creating the next (`tar xzf`
//! gets the same overlap from gzip running beside tar).
//!
//! The reading thread still creates every file (through [`super::dest`]) and decides
//! everything; writers only `pwrite` into descriptors they are given, then apply the
//! mode and mtime when told the file is complete. All chunks of one file go to the same
//! writer, in order. Memory is bounded by a fixed pool of blocks that writers hand
//! back. [`Writers::flush`] waits until every queued write is done; dropping the pool
//! joins its threads.
//!
//! Files are written sparse, as `cp --sparse` and GNU tar's `--sparse` do: a page of
//! zeros is never written but seeked over, and the final length is set when the file
//! is complete, so a file that is mostly zeros (a decompression bomb, a disk image)
//! costs no disk for them. The bytes read back are the same.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::dest::MTime;

pub const BLOCK: usize = 1 << 20;
const BLOCKS: usize = 12;
const THREADS: usize = 2;

enum Job {
    Chunk {
        file: Arc<File>,
        off: u64,
        buf: Vec<u8>,
        len: usize,
        path: Arc<str>,
    },
    Finish {
        file: Arc<File>,
        len: u64,
        mode: u32,
        mtime: Option<MTime>,
        path: Arc<str>,
    },
    Flush(SyncSender<()>),
}

/// The first write error, with the task path it happened on.
pub type Failure = Arc<Mutex<Option<(String, io::Error)>>>;

pub struct Writers {
    jobs: Vec<SyncSender<Job>>,
    free: Receiver<Vec<u8>>,
    giveback: SyncSender<Vec<u8>>,
    failure: Failure,
    threads: Vec<JoinHandle<()>>,
    next: usize,
}

impl Writers {
    pub fn new() -> io::Result<Writers> {
        let (giveback, free) = sync_channel::<Vec<u8>>(BLOCKS);
        for _ in 0..BLOCKS {
            let _ = giveback.try_send(vec![0; BLOCK]);
        }
        let failure: Failure = Arc::default();
        let mut jobs = Vec::new();
        let mut threads = Vec::new();
        for i in 0..THREADS {
            let (tx, rx) = sync_channel::<Job>(BLOCKS);
            let back = giveback.clone();
            let fail = failure.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("unpack-write-{i}"))
                    .spawn(move || work(rx, back, fail))?,
            );
            jobs.push(tx);
        }
        Ok(Writers {
            jobs,
            free,
            giveback,
            failure,
            threads,
            next: 0,
        })
    }

    /// A free block (waits for a writer to hand one back).
    pub fn block(&mut self) -> Vec<u8> {
        self.free.recv().unwrap_or_else(|_| vec![0; BLOCK])
    }

    pub fn give_back(&mut self, buf: Vec<u8>) {
        let _ = self.giveback.try_send(buf);
    }

    /// The writer for the next file.
    pub fn slot(&mut self) -> usize {
        self.next = (self.next + 1) % self.jobs.len();
        self.next
    }

    pub fn write(
        &mut self,
        slot: usize,
        file: &Arc<File>,
        off: u64,
        buf: Vec<u8>,
        len: usize,
        path: &Arc<str>,
    ) {
        let _ = self.jobs[slot].send(Job::Chunk {
            file: file.clone(),
            off,
            buf,
            len,
            path: path.clone(),
        });
    }

    /// The file is `len` bytes long: set its length (the holes at its end), mode and
    /// mtime once its writes are done.
    pub fn finish(
        &mut self,
        slot: usize,
        file: Arc<File>,
        len: u64,
        mode: u32,
        mtime: Option<MTime>,
        path: Arc<str>,
    ) {
        let _ = self.jobs[slot].send(Job::Finish {
            file,
            len,
            mode,
            mtime,
            path,
        });
    }

    /// Wait until every job queued so far is done.
    pub fn flush(&mut self) {
        let acks: Vec<_> = self
            .jobs
            .iter()
            .filter_map(|tx| {
                let (ack_tx, ack_rx) = sync_channel(1);
                tx.send(Job::Flush(ack_tx)).ok().map(|()| ack_rx)
            })
            .collect();
        for a in acks {
            let _ = a.recv();
        }
    }

    /// The first write error so far, if any.
    pub fn failure(&self) -> Option<(String, io::Error)> {
        self.failure.lock().ok()?.take()
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.jobs.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn work(rx: Receiver<Job>, back: SyncSender<Vec<u8>>, failure: Failure) {
    let fail = |path: &str, e: io::Error| {
        if let Ok(mut f) = failure.lock() {
            f.get_or_insert((path.to_owned(), e));
        }
    };
    // How far each open file has been written (by its `Arc`'s address): a file whose
    // last page held data needs no `ftruncate` at the end.
    let mut ends: HashMap<usize, u64> = HashMap::new();
    for job in rx {
        match job {
            Job::Chunk {
                file,
                off,
                buf,
                len,
                path,
            } => {
                match write_sparse(&file, &buf[..len], off) {
                    Ok(Some(end)) => {
                        let e = ends.entry(Arc::as_ptr(&file) as usize).or_default();
                        *e = (*e).max(end);
                    }
                    Ok(None) => {}
                    Err(e) => fail(&path, e),
                }
                let _ = back.try_send(buf);
            }
            Job::Finish {
                file,
                len,
                mode,
                mtime,
                path,
            } => {
                let written = ends.remove(&(Arc::as_ptr(&file) as usize)).unwrap_or(0);
                let done = if written == len {
                    Ok(())
                } else {
                    file.set_len(len)
                }
                .and_then(|()| Ok(super::dest::finish_file(file.as_fd(), mode, mtime)?));
                if let Err(e) = done {
                    fail(&path, e);
                }
            }
            Job::Flush(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

/// The unit of sparseness: a page (and the block size of common filesystems).
const PAGE: usize = 4096;

fn zeros(b: &[u8]) -> bool {
    // Most pages of real files are not zeros, and their first bytes say so at once;
    // the fold over a whole page vectorises.
    b[..b.len().min(16)].iter().all(|&c| c == 0) && b.iter().fold(0u8, |a, &c| a | c) == 0
}

/// Write `buf` at `off`, leaving out every page-aligned page of zeros (the file's length
/// is set at the end, so a trailing hole needs no write either). Returns where the
/// last write ended, if anything was written.
fn write_sparse(file: &File, buf: &[u8], off: u64) -> io::Result<Option<u64>> {
    let mut written = None;
    let mut i = 0;
    while i < buf.len() {
        // Pages are aligned to the file, not the buffer.
        let page_end = ((off as usize + i) / PAGE + 1) * PAGE - off as usize;
        let end = page_end.min(buf.len());
        if zeros(&buf[i..end]) {
            i = end;
            continue;
        }
        // A run of pages with data, written at once.
        let mut j = end;
        while j < buf.len() {
            let next = (j + PAGE).min(buf.len());
            if zeros(&buf[j..next]) {
                break;
            }
            j = next;
        }
        file.write_all_at(&buf[i..j], off + i as u64)?;
        written = Some(off + j as u64);
        i = j;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn zero_pages_become_holes_and_read_back_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let mut data = vec![0u8; 8 << 20];
        data[100] = 1;
        data[(4 << 20) + 5000] = 2;
        // Written in odd-sized pieces, at offsets that are not page-aligned.
        let mut off = 0;
        for piece in data.chunks(1_000_003) {
            write_sparse(&file, piece, off).unwrap();
            off += piece.len() as u64;
        }
        file.set_len(data.len() as u64 + (16 << 20)).unwrap();
        drop(file);
        let mut want = data.clone();
        want.resize(data.len() + (16 << 20), 0);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        let m = std::fs::metadata(&path).unwrap();
        // Two pages of data (plus what the filesystem allocates around them).
        assert!(
            m.blocks() * 512 <= 256 << 10,
            "{} bytes allocated for 2 pages of data",
            m.blocks() * 512
        );
    }
}
