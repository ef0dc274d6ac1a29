//! Zip bundles, as `hashicorp/go-getter:decompress_zip.go` unpacks them, over Go's
//! reader ([`gozip`]): the whole central directory is known up front, so an empty
//! archive and the file-count check (`len(files) > N`) come before anything is
//! written; then per entry the same `..` check and running size total as tar, then
//! `MkdirAll` of its directory, `File.Open` (method, local header), and the copy.
//! Directory modes are not applied and mtimes are not kept (go-getter does neither
//! for zip). Entries are read from the file at their offsets; their data streams.

use std::fs::File;
use std::io::Read;

use super::ExtractMode;
use super::gozip::{self, ERR_FORMAT};
use super::sink::Sink;
use super::unpack::{Body, Entry, Plain, Step, Unpacker, lossy};
use crate::finding::{Cause, Finding, Kind};

fn zip_error<S: Sink>(u: &mut Unpacker<'_, S>, e: &gozip::Error) -> super::unpack::Halt {
    u.corrupt(e, e.0 == "unexpected EOF" || e.0 == "EOF")
}

pub fn run<S: Sink>(u: &mut Unpacker<'_, S>, file: File) -> Step {
    let zip = match gozip::open(file) {
        Ok(z) => z,
        Err(e) => {
            let halt = zip_error(u, &e);
            if e.0 == ERR_FORMAT {
                if let Some(f) = u.summary.findings.last_mut() {
                    f.message = Some(format!(
                        "not a zip archive Go can read (`{ERR_FORMAT}`): no end of central directory record, or one that points outside the file"
                    ));
                }
            }
            return Err(halt);
        }
    };
    let n = zip.entries.len() as u64;
    if n == 0 {
        return Err(u.empty());
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
    let total = zip
        .entries
        .iter()
        .fold(0u64, |t, e| t.saturating_add(e.size().max(0) as u64));
    // Past Nomad's size limit Nomad refuses the zip at the entry that crosses it.
    if u.req.limits.size.is_none_or(|l| total <= l) {
        u.expect(total, "the sizes in the zip's central directory")?;
    }
    for e in &zip.entries {
        let name = e.name.clone();
        u.current = Some(lossy(&name));
        let mode = e.mode();
        let body = if mode.dir {
            Body::Dir
        } else if mode.symlink {
            // The stored body of a symlink is its target.
            let cap = u.req.safety.max_name_len as u64;
            let mut target = Vec::new();
            if let Ok(r) = zip.open_entry(e) {
                let _ = r.take(cap + 1).read_to_end(&mut target);
            }
            if u.req.mode == ExtractMode::Tar && target.len() as u64 > cap {
                return Err(u.reject(
                    Finding::error(Kind::UnsafeEntry, Cause::Limit, lossy(&name)).message(format!(
                        "symlink target is over the cap of {cap} bytes (--max-name-len)"
                    )),
                ));
            }
            Body::Symlink(target)
        } else {
            Body::File
        };
        let entry = Entry {
            name,
            body,
            mode: mode.bits,
            mtime: None,
            size: e.size(),
            data: e.size().max(0) as u64,
        };
        let Some(pending) = u.begin(entry)? else {
            continue;
        };
        let mut r = match zip.open_entry(e) {
            Ok(r) => r,
            Err(err) => return Err(zip_error(u, &err)),
        };
        u.write(pending, &mut Plain::new(&mut r))?;
    }
    u.current = None;
    Ok(())
}
