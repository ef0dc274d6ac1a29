//! Zip bundles, as `hashicorp/go-getter:decompress_zip.go` unpacks them: the whole
//! central directory is known up front, so the file-count check is `len(files) > N`
//! before anything is written; then the same `..` check and running size total as tar.
//! Directory modes are not applied and mtimes are not kept (go-getter does neither
//! for zip). Random access to the file is used; entries still stream.

use std::fs::File;

use super::unpack::{Body, Entry, Step, Unpacker, lossy};
use crate::finding::{Cause, Finding, Kind};

pub fn run(u: &mut Unpacker<'_>, file: File) -> Step {
    let mut zip = match zip::ZipArchive::new(file) {
        Ok(z) => z,
        Err(e) => {
            let err = std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string());
            let halt = u.corrupt(&err);
            if let Some(f) = u.summary.findings.last_mut() {
                f.nomad_error = Some("zip: not a valid zip file".into());
            }
            return Err(halt);
        }
    };
    let n = zip.len() as u64;
    if n == 0 {
        return Err(super::untar::empty(u));
    }
    if let Some(limit) = u.req.limits.file_count {
        if n > limit {
            let msg = format!("zip archive contains too many files: {n} > {limit}");
            return Err(u.reject(
                Finding::error(
                    Kind::Artifact,
                    Cause::FileCountLimit,
                    u.req.source_name.to_owned(),
                )
                .message(format!(
                    "{msg} (client `artifact {{ decompression_file_count_limit = {limit} }}`)"
                ))
                .nomad_error(msg),
            ));
        }
    }
    for i in 0..zip.len() {
        let shown = zip.name_for_index(i).map(str::to_owned);
        let mut f = match zip.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                u.current = shown;
                let err = std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string());
                return Err(u.corrupt(&err));
            }
        };
        let name = f.name_raw().to_vec();
        u.current = Some(lossy(&name));
        // Go's `FileHeader.Mode()`: unix modes from the external attributes, else
        // 0666 (0444 read-only) for files and 0777 for directories.
        let unix = f.unix_mode();
        let is_dir = name.ends_with(b"/") || unix.is_some_and(|m| m & 0o170000 == 0o040000);
        let is_symlink = unix.is_some_and(|m| m & 0o170000 == 0o120000);
        let mode = match unix {
            Some(m) => m & 0o7777,
            None if is_dir => 0o777,
            None => 0o666,
        };
        let size = f.size();
        let body = if is_dir {
            Body::Dir
        } else if is_symlink {
            let cap = u.req.safety.max_name_len as u64;
            let mut target = Vec::new();
            if let Err(e) =
                std::io::Read::read_to_end(&mut std::io::Read::take(&mut f, cap + 1), &mut target)
            {
                return Err(u.corrupt(&e));
            }
            if target.len() as u64 > cap {
                let shown = lossy(&name);
                return Err(u.reject(
                    Finding::error(Kind::UnsafeEntry, Cause::Limit, shown).message(format!(
                        "symlink target is over the cap of {cap} bytes (--max-name-len)"
                    )),
                ));
            }
            Body::Symlink(target)
        } else {
            Body::File
        };
        let mut data: Box<dyn std::io::Read> = match &body {
            // The stored body of a symlink is its target; Nomad writes it as content.
            Body::Symlink(t) => Box::new(std::io::Cursor::new(t.clone())),
            _ => Box::new(&mut f),
        };
        u.entry(
            Entry {
                name,
                body,
                mode,
                mtime: None,
                size,
            },
            &mut data,
        )?;
    }
    u.current = None;
    Ok(())
}
