//! The corpus of archive shapes replayed against recorded go-getter outputs.
//!
//! Deterministic: the same list of the same bytes on every machine (the expected data
//! records each case's SHA-256, so a change here shows up as "re-record"). Each case is
//! one artifact as Nomad would download it: a file name (whose suffix picks go-getter's
//! decompressor), its bytes, and the client's two decompression limits.

use super::shapes::*;

mod containers;
mod headers;
mod limits;
mod paths;
mod sparse;
mod zip;

use containers::*;
use headers::*;
use limits::*;
use paths::*;
use sparse::*;
use zip::*;

pub const DEFAULT_FILES: u64 = 4096;
pub const DEFAULT_SIZE: u64 = 100_000_000_000;

pub struct Case {
    /// Stable, unique: `<group>/<shape>`.
    pub id: String,
    /// The artifact's file name; go-getter picks the decompressor by its suffix.
    pub name: String,
    pub bytes: Vec<u8>,
    /// `decompression_file_count_limit` (0: unlimited).
    pub files_limit: u64,
    /// `decompression_size_limit` in bytes (0: unlimited).
    pub size_limit: u64,
}

/// go-getter's decompressor keys (`decompress.go` `LimitedDecompressors`, v1.7.0–1.8.6),
/// longest first, so the first suffix that matches is the one `client.go` picks.
pub const KEYS: [&str; 14] = [
    "tar.bz2", "tar.zst", "tar.gz", "tar.xz", "tbz2", "tzst", "tar", "tgz", "txz", "zip", "bz2",
    "zst", "gz", "xz",
];

pub fn key_of(name: &str) -> &'static str {
    KEYS.iter()
        .find(|k| name.ends_with(&format!(".{k}")))
        .copied()
        .expect("every corpus name has a decompressor suffix")
}

struct Corpus(Vec<Case>);

impl Corpus {
    fn add(&mut self, id: &str, suffix: &str, bytes: Vec<u8>) {
        self.limits(id, suffix, bytes, DEFAULT_FILES, DEFAULT_SIZE);
    }

    fn limits(&mut self, id: &str, suffix: &str, bytes: Vec<u8>, files: u64, size: u64) {
        assert!(
            !self.0.iter().any(|c| c.id == id),
            "duplicate corpus id {id}"
        );
        self.0.push(Case {
            id: id.to_owned(),
            name: format!("bundle.{suffix}"),
            bytes,
            files_limit: files,
            size_limit: size,
        });
    }
}

/// A small tree with every kind of entry Nix bundles have.
fn sample_tar() -> Vec<u8> {
    Tar::new()
        .dir("app/", 0o755)
        .dir("app/bin/", 0o755)
        .file("app/bin/run", 0o755, b"#!/bin/sh\necho run\n")
        .link(b'2', "app/bin/sh", "run")
        .link(b'1', "app/bin/run2", "app/bin/run")
        .file("app/etc/conf", 0o644, &content(1, 1500))
        .dir("app/etc/", 0o750)
        .file(
            "/nix/store/0c8r9ihpqy4mkvdgb8rwmhi5dnrb2v2l-hello/bin/hello",
            0o555,
            b"\x7fELF",
        )
        .end()
}

fn sample_zip() -> Vec<u8> {
    zip(
        &[
            Ze::dir("app/", 0o755),
            Ze::file("app/bin/run", 0o755, b"#!/bin/sh\necho run\n"),
            Ze::symlink("app/bin/sh", "run"),
            Ze::file("app/etc/conf", 0o644, &content(1, 1500)),
            Ze::file("other/deep/file", 0o600, b"no dir entries above me"),
        ],
        &ZipOpts::default(),
    )
}

/// A regular file after the entry under test, so that an archive whose only entry is
/// refused or skipped is not merely "empty".
fn tail(t: Tar) -> Vec<u8> {
    t.file("after", 0o644, b"after\n").end()
}

type Compress = fn(&[u8]) -> Vec<u8>;

const COMPRESSORS: [(&str, Compress); 4] = [("gz", gz), ("bz2", bz2), ("xz", xz), ("zst", zst)];

pub fn corpus() -> Vec<Case> {
    let mut c = Corpus(Vec::new());
    formats(&mut c);
    mislabelled(&mut c);
    empty(&mut c);
    typeflags(&mut c);
    modes_and_times(&mut c);
    names(&mut c);
    duplicates(&mut c);
    pax(&mut c);
    sparse(&mut c);
    fields(&mut c);
    truncation(&mut c);
    limits(&mut c);
    zips(&mut c);
    contents(&mut c);
    c.0
}
