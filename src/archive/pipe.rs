//! Decompression on its own thread, so inflating the next block overlaps with writing
//! the previous one (what `tar xzf` gets from running gzip as a separate process).
//!
//! Blocks go through a bounded channel and come back empty for reuse, so memory is
//! `DEPTH` blocks whatever the bundle's size. Dropping the reader stops and joins the
//! thread: no thread outlives the extraction.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

const BLOCK: usize = 1 << 20;
const DEPTH: usize = 4;

pub struct Pipelined {
    full: Option<Receiver<io::Result<Vec<u8>>>>,
    empty: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    done: bool,
    worker: Option<JoinHandle<()>>,
}

impl Pipelined {
    pub fn new(mut inner: Box<dyn Read + Send>) -> io::Result<Pipelined> {
        let (full_tx, full_rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
        let worker = std::thread::Builder::new()
            .name("unpack-decompress".into())
            .spawn(move || {
                loop {
                    let mut buf = empty_rx.try_recv().unwrap_or_default();
                    buf.resize(BLOCK, 0);
                    let mut filled = 0;
                    let result = loop {
                        match inner.read(&mut buf[filled..]) {
                            Ok(0) => break Ok(()),
                            Ok(n) => {
                                filled += n;
                                if filled == buf.len() {
                                    break Ok(());
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => break Err(e),
                        }
                    };
                    buf.truncate(filled);
                    let eof = filled < BLOCK;
                    if filled > 0 && full_tx.send(Ok(buf)).is_err() {
                        return;
                    }
                    if let Err(e) = result {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                    if eof {
                        return;
                    }
                }
            })?;
        Ok(Pipelined {
            full: Some(full_rx),
            empty: empty_tx,
            current: Vec::new(),
            at: 0,
            done: false,
            worker: Some(worker),
        })
    }
}

impl Read for Pipelined {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            if self.done {
                return Ok(0);
            }
            let next = self.full.as_ref().and_then(|rx| rx.recv().ok());
            match next {
                None => {
                    self.done = true;
                    return Ok(0);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Some(Ok(block)) => {
                    let old = std::mem::replace(&mut self.current, block);
                    let _ = self.empty.try_send(old);
                    self.at = 0;
                }
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Drop for Pipelined {
    fn drop(&mut self) {
        // Closing the channel makes the worker's next send fail, and it returns.
        self.full = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_bytes_and_errors_through_in_order() {
        let data: Vec<u8> = (0..5 * BLOCK + 123).map(|i| (i % 251) as u8).collect();
        let mut p = Pipelined::new(Box::new(io::Cursor::new(data.clone()))).unwrap();
        let mut got = Vec::new();
        p.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);

        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut"));
                }
                let n = b.len().min(self.0);
                b[..n].fill(7);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut p = Pipelined::new(Box::new(Failing(BLOCK + 10))).unwrap();
        let mut got = Vec::new();
        let err = p.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(got.len(), BLOCK + 10);
    }

    #[test]
    fn dropping_early_stops_the_worker() {
        let p = Pipelined::new(Box::new(io::repeat(1))).unwrap();
        drop(p);
    }
}
