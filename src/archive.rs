//! Unpack a bundle exactly as Nomad's `artifact` block would (go-getter v1's `untar`),
//! into a directory we own, in one streaming pass.
//!
//! OWNER: extraction helper. See issue 2. The interface below is what `check` uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use crate::config::{ArtifactLimits, SafetyLimits};
use crate::error::ExitCode;
use crate::finding::Finding;
use crate::nomad::NomadVersion;
use crate::taskdir::ChrootEnv;

/// The decompressors go-getter knows (`hashicorp/go-getter:decompress.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    Tar,
    TarGz,
    TarBz2,
    TarXz,
    TarZst,
    Zip,
}

impl FromStr for ArchiveKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "tar" => ArchiveKind::Tar,
            "tar.gz" | "tgz" => ArchiveKind::TarGz,
            "tar.bz2" | "tbz2" => ArchiveKind::TarBz2,
            "tar.xz" | "txz" => ArchiveKind::TarXz,
            "tar.zst" | "tzst" => ArchiveKind::TarZst,
            "zip" => ArchiveKind::Zip,
            other => {
                return Err(format!(
                    "unknown archive kind `{other}` (go-getter knows tar, tar.gz, tgz, tar.bz2, tbz2, tar.xz, txz, tar.zst, tzst, zip)"
                ));
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractMode {
    /// go-getter's rules: links and special files become empty regular files.
    Nomad,
    /// GNU tar's: links kept (never followed out of the destination).
    Tar,
}

/// One link entry of the archive (flattened by Nomad, kept by `--extract tar`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEntry {
    /// Path as the task sees it.
    pub task_path: String,
    /// The link's target as stored.
    pub target: String,
    pub hard: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ExtractSummary {
    pub format: String,
    pub detected_format: Option<String>,
    pub entries: u64,
    pub unpacked_bytes: u64,
    pub findings: Vec<Finding>,
    /// Nomad would refuse this artifact (the task never starts).
    pub rejected: bool,
    /// Link entries by task path.
    pub links: BTreeMap<String, LinkEntry>,
    /// `/nix/store/<hash>-<name>` → task paths of the files that mention it.
    pub store_refs: BTreeMap<String, BTreeSet<String>>,
}

pub struct ExtractRequest<'a> {
    pub bundle: &'a Path,
    pub source_name: &'a str,
    pub archive: Option<ArchiveKind>,
    /// Host directory to unpack into (exists).
    pub dest: &'a Path,
    /// The same directory as the task sees it (`/local`, `/`).
    pub dest_in_task: &'a str,
    pub mode: ExtractMode,
    pub version: NomadVersion,
    pub limits: ArtifactLimits,
    pub safety: SafetyLimits,
    pub chroot_env: &'a ChrootEnv,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot open bundle `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write `{path}` in the work dir: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ArchiveError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ArchiveError::Open { .. } => ExitCode::Reject,
            ArchiveError::Write { .. } => ExitCode::Error,
        }
    }
}

pub fn extract(req: &ExtractRequest<'_>) -> Result<ExtractSummary, ArchiveError> {
    let _ = req;
    unimplemented!("archive::extract is being written")
}
