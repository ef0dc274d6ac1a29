//! Find Nix store references (`/nix/store/<hash>-<name>`) in a byte stream, chunk by
//! chunk, while the bytes are being written to disk.
//!
//! The grammar is Nix's: a 32-character hash in Nix's base32 alphabet
//! (`NixOS/nix:src/libutil/hash.cc` `nix32Chars`, which omits `e o u t`), a dash, and a
//! name of `[A-Za-z0-9+._?=-]` (`NixOS/nix:src/libstore/path.cc` `checkName`), at most
//! 211 bytes long. The store path ends at the first byte that cannot be part of a name,
//! so `/nix/store/<hash>-bash-5.2/bin/sh` refers to `/nix/store/<hash>-bash-5.2`.
//!
//! Matches may straddle chunk boundaries. `memchr::memmem` skips everything that is not
//! `/nix/store/`, so a file of one repeated byte costs a vectorised scan, and a file made
//! only of `/nix/store/` prefixes costs O(1) per prefix.

use std::collections::BTreeSet;

use memchr::memmem;

const PREFIX: &[u8] = b"/nix/store/";
const HASH_LEN: usize = 32;
/// Nix refuses longer names (`path.cc`: "name … must be no longer than 211 characters").
pub const MAX_NAME_LEN: usize = 211;
/// Bytes needed to decide a candidate: prefix, hash, dash and the first name byte.
const HEAD: usize = PREFIX.len() + HASH_LEN + 2;

const fn table(chars: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < chars.len() {
        t[chars[i] as usize] = true;
        i += 1;
    }
    t
}

static HASH_CHARS: [bool; 256] = table(b"0123456789abcdfghijklmnpqrsvwxyz");
static NAME_CHARS: [bool; 256] =
    table(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-._?=");

fn name_run(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| !NAME_CHARS[b as usize])
        .unwrap_or(buf.len())
}

/// Streaming scanner for one file. Feed chunks in order, then call [`finish`].
///
/// [`finish`]: StoreRefScanner::finish
pub struct StoreRefScanner {
    finder: memmem::Finder<'static>,
    /// The tail of the previous chunk holding a candidate that could not be decided yet
    /// (at most `HEAD - 1` bytes).
    carry: Vec<u8>,
    /// Inside the name of a match that reached the end of the previous chunk.
    open: Option<OpenMatch>,
    scratch: Vec<u8>,
    found: BTreeSet<String>,
}

struct OpenMatch {
    path: Vec<u8>,
    name_len: usize,
}

impl Default for StoreRefScanner {
    fn default() -> Self {
        StoreRefScanner::new()
    }
}

impl StoreRefScanner {
    pub fn new() -> Self {
        StoreRefScanner {
            finder: memmem::Finder::new(PREFIX),
            carry: Vec::new(),
            open: None,
            scratch: Vec::new(),
            found: BTreeSet::new(),
        }
    }

    /// Forget any state (start of a new file), keeping the allocations.
    pub fn reset(&mut self) {
        self.carry.clear();
        self.open = None;
        self.found.clear();
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let mut chunk = chunk;
        if let Some(open) = &mut self.open {
            let run = name_run(chunk);
            open.name_len += run;
            if open.name_len <= MAX_NAME_LEN {
                open.path.extend_from_slice(&chunk[..run]);
            }
            if run == chunk.len() {
                return;
            }
            if let Some(open) = self.open.take() {
                self.record(&open.path, open.name_len);
            }
            chunk = &chunk[run..];
        }
        if self.carry.is_empty() {
            self.scan(chunk);
        } else {
            // Rare: a candidate straddles the boundary. Join it to this chunk once.
            let mut joined = std::mem::take(&mut self.scratch);
            joined.clear();
            joined.extend_from_slice(&self.carry);
            joined.extend_from_slice(chunk);
            self.carry.clear();
            self.scan(&joined);
            self.scratch = joined;
        }
    }

    /// End of the file: close a match that runs to the last byte, return what was found.
    pub fn finish(&mut self) -> BTreeSet<String> {
        if let Some(open) = self.open.take() {
            self.record(&open.path, open.name_len);
        }
        self.carry.clear();
        std::mem::take(&mut self.found)
    }

    fn record(&mut self, path: &[u8], name_len: usize) {
        if name_len <= MAX_NAME_LEN {
            // Every byte of a match is ASCII.
            if let Ok(s) = std::str::from_utf8(path) {
                if !self.found.contains(s) {
                    self.found.insert(s.to_owned());
                }
            }
        }
    }

    fn scan(&mut self, buf: &[u8]) {
        let mut pos = 0;
        while let Some(off) = self.finder.find(&buf[pos..]) {
            let c = pos + off;
            if buf.len() - c < HEAD {
                self.carry.extend_from_slice(&buf[c..]);
                return;
            }
            let hash = &buf[c + PREFIX.len()..c + PREFIX.len() + HASH_LEN];
            let dash = c + PREFIX.len() + HASH_LEN;
            if hash.iter().all(|&b| HASH_CHARS[b as usize])
                && buf[dash] == b'-'
                && NAME_CHARS[buf[dash + 1] as usize]
            {
                let name_start = dash + 1;
                let name_len = name_run(&buf[name_start..]);
                let end = name_start + name_len;
                if end == buf.len() {
                    let keep = name_start + name_len.min(MAX_NAME_LEN + 1);
                    self.open = Some(OpenMatch {
                        path: buf[c..keep].to_vec(),
                        name_len,
                    });
                    return;
                }
                self.record(&buf[c..end], name_len);
                pos = end;
            } else {
                // `/nix/store/nix/store/…`: the next candidate may start inside this one.
                pos = c + 1;
            }
        }
        // Keep a partial prefix at the very end (`…/nix/st`).
        let from = buf.len().saturating_sub(PREFIX.len() - 1).max(pos);
        if let Some(s) = (from..buf.len()).find(|&s| PREFIX.starts_with(&buf[s..])) {
            self.carry.extend_from_slice(&buf[s..]);
        }
    }
}

/// Scan a whole buffer at once (convenience for small inputs such as symlink targets).
pub fn scan_all(buf: &[u8]) -> BTreeSet<String> {
    let mut s = StoreRefScanner::new();
    s.feed(buf);
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: one regex over the whole buffer, leftmost-first, non-overlapping.
    fn reference(buf: &[u8]) -> BTreeSet<String> {
        let re =
            regex::bytes::Regex::new(r"(?-u)/nix/store/[0-9a-df-np-sv-z]{32}-([A-Za-z0-9+._?=-]+)")
                .unwrap();
        re.captures_iter(buf)
            .filter(|c| c.get(1).unwrap().len() <= MAX_NAME_LEN)
            .map(|c| String::from_utf8(c.get(0).unwrap().as_bytes().to_vec()).unwrap())
            .collect()
    }

    fn chunked(buf: &[u8], sizes: &mut impl FnMut() -> usize) -> BTreeSet<String> {
        let mut s = StoreRefScanner::new();
        let mut i = 0;
        while i < buf.len() {
            let n = sizes().clamp(1, buf.len() - i);
            s.feed(&buf[i..i + n]);
            i += n;
        }
        s.finish()
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const HASH: &str = "0c8r9ihpqy4mkvdgb8rwmhi5dnrb2v2l";

    fn random_input(rng: &mut Rng) -> Vec<u8> {
        let pieces: [&[u8]; 12] = [
            b"/nix/store/",
            HASH.as_bytes(),
            &HASH.as_bytes()[..31],
            b"-",
            b"bash-5.2",
            b"/bin/sh",
            b"e",
            b"\0",
            b"/nix/store/nix/store/",
            b"glibc-2.40+x_y?=z",
            b" ",
            b"/nix/stor",
        ];
        let mut v = Vec::new();
        for _ in 0..rng.below(60) {
            match rng.below(14) {
                12 => v.push(rng.next() as u8),
                13 => v.extend(std::iter::repeat_n(b'a', rng.below(300))),
                k => v.extend_from_slice(pieces[k]),
            }
        }
        v
    }

    #[test]
    fn matches_the_regex_reference_on_random_input_and_any_chunking() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..4000 {
            let buf = random_input(&mut rng);
            let want = reference(&buf);
            let max = 1 + rng.below(80);
            let mut seed = Rng(rng.next() | 1);
            let got = chunked(&buf, &mut || 1 + seed.below(max));
            assert_eq!(got, want, "input {:?}", String::from_utf8_lossy(&buf));
            assert_eq!(scan_all(&buf), want);
        }
    }

    #[test]
    fn every_split_point_of_a_reference() {
        let text = format!("x /nix/store/{HASH}-hello-2.12/bin/hello\n/nix/store/{HASH}-a");
        let want = reference(text.as_bytes());
        assert_eq!(want.len(), 2);
        for split in 0..=text.len() {
            let mut s = StoreRefScanner::new();
            s.feed(&text.as_bytes()[..split]);
            s.feed(&text.as_bytes()[split..]);
            assert_eq!(s.finish(), want, "split at {split}");
        }
    }

    #[test]
    fn store_path_stops_before_subpath_and_long_names_are_dropped() {
        let t = format!("/nix/store/{HASH}-bash-5.2/bin/sh");
        assert_eq!(
            scan_all(t.as_bytes()).into_iter().collect::<Vec<_>>(),
            vec![format!("/nix/store/{HASH}-bash-5.2")]
        );
        let long = format!("/nix/store/{HASH}-{}", "n".repeat(MAX_NAME_LEN + 1));
        assert!(scan_all(long.as_bytes()).is_empty());
        assert_eq!(reference(long.as_bytes()), BTreeSet::new());
        let bad_alphabet = format!("/nix/store/{}-x", "e".repeat(32));
        assert!(scan_all(bad_alphabet.as_bytes()).is_empty());
    }

    #[test]
    fn adversarial_inputs_stay_linear() {
        let t = std::time::Instant::now();
        let same = vec![b'a'; 16 << 20];
        let mut s = StoreRefScanner::new();
        for c in same.chunks(1 << 16) {
            s.feed(c);
        }
        assert!(s.finish().is_empty());
        let prefixes = b"/nix/store/".repeat(1 << 20);
        let mut s = StoreRefScanner::new();
        for c in prefixes.chunks(4093) {
            s.feed(c);
        }
        assert!(s.finish().is_empty());
        let mut almost = Vec::new();
        for _ in 0..100_000 {
            almost.extend_from_slice(b"/nix/store/");
            almost.extend_from_slice(&HASH.as_bytes()[..31]);
        }
        assert_eq!(chunked(&almost, &mut || 7919), reference(&almost));
        // Debug build: ~60 MB through the scanner; quadratic behaviour would take minutes.
        assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    }
}
