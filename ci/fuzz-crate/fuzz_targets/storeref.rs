//! The Nix store-reference scanner, fed in random chunk splits, agrees with one regex
//! over the whole buffer (leftmost-first, non-overlapping, names of at most 211 bytes).
#![no_main]

use std::collections::BTreeSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::archive::storeref::{self, MAX_NAME_LEN, StoreRefScanner};

static RE: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    regex::bytes::Regex::new(r"(?-u)/nix/store/[0-9a-df-np-sv-z]{32}-([A-Za-z0-9+._?=-]+)").unwrap()
});

fn reference(buf: &[u8]) -> BTreeSet<String> {
    RE.captures_iter(buf)
        .filter(|c| c[1].len() <= MAX_NAME_LEN)
        .map(|c| String::from_utf8(c[0].to_vec()).unwrap())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes give chunk lengths (1..=63, 0 adds an empty chunk; cycled); the rest is the stream.
    if data.len() < 8 {
        return;
    }
    let (sizes, buf) = data.split_at(8);
    let want = reference(buf);
    let mut s = StoreRefScanner::new();
    let mut rest = buf;
    let mut i = 0;
    while !rest.is_empty() {
        // A zero size feeds an empty chunk, then one byte (so the loop ends).
        let n = (sizes[i % 8] & 63) as usize;
        if n == 0 {
            s.feed(&[]);
        }
        let n = n.clamp(1, rest.len());
        s.feed(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    assert_eq!(s.finish(), want, "chunked scan differs from the reference");
    // reset() keeps nothing from the previous file.
    s.feed(b"/nix/store/");
    s.reset();
    s.feed(buf);
    assert_eq!(s.finish(), want, "scan after reset differs");
    assert_eq!(storeref::scan_all(buf), want, "scan_all differs");
});
