//! Links: recorded and flattened as Nomad does (an empty file, or for zip a file
//! holding the target), or made as GNU tar makes them with `--extract tar`, never
//! followed out of the destination.

use nix::errno::Errno;

use super::super::LinkEntry;
use super::super::dest::WalkError;
use super::super::sink::{MakeError, Sink};
use super::{Step, Unpacker, components, contains_dot_dot, lossy};
use crate::finding::{Cause, Finding, Kind};

pub(super) const FLATTEN_HINT: &str = "store links as files: build the bundle with `tar -h --hard-dereference` (the example repo writes `tar cvzhP --hard-dereference`)";

impl<S: Sink> Unpacker<'_, S> {
    pub(super) fn symlink(
        &mut self,
        parents: &[&[u8]],
        last: &[u8],
        target: &[u8],
        shown: &str,
    ) -> Step {
        if target.is_empty() {
            // symlink(2) refuses an empty target with ENOENT; GNU tar reports it, skips
            // the entry and exits 2 at the end.
            let mut all = parents.to_vec();
            all.push(last);
            let full = self.task_path(&all);
            self.summary.findings.push(
                Finding::error(Kind::Artifact, Cause::UnpackFailure, shown.to_owned())
                    .message(format!(
                        "the symlink `{full}` has an empty target: `tar xf` cannot create it \
                         (symlink: No such file or directory), skips it and fails"
                    ))
                    .hint("give the link a target, or leave it out of the archive"),
            );
            return Ok(());
        }
        let mut all = parents.to_vec();
        all.push(last);
        self.sink
            .symlink(parents, last, target)
            .map_err(|e| self.make_failure(e, &all, shown))
    }

    /// GNU tar: a hard link names an earlier member; its target is resolved inside the
    /// destination only, never through a symlink.
    pub(super) fn hard_link(
        &mut self,
        parents: &[&[u8]],
        last: &[u8],
        target: &[u8],
        shown: &str,
    ) -> Step {
        let t = lossy(target);
        let tcomps = components(target);
        let escape = |why: String| {
            Finding::error(Kind::UnsafeEntry, Cause::LinkEscape, shown.to_owned()).message(why)
        };
        if contains_dot_dot(target) {
            return Err(self.reject(escape(format!(
                "hard link target `{t}` contains `..`: it could point outside the destination"
            ))));
        }
        if tcomps.is_empty() {
            return Err(self.reject(escape(format!("hard link target `{t}` is not a file"))));
        }
        let mut all = parents.to_vec();
        all.push(last);
        match self.sink.hard_link(&tcomps, parents, last) {
            Ok(()) => Ok(()),
            Err(MakeError::Target(WalkError::Symlink(i))) => {
                let at = self.task_path(&tcomps[..=i]);
                Err(self.reject(escape(format!(
                    "hard link target `{t}` lies behind the symlink `{at}`; links are never followed while unpacking"
                ))))
            }
            Err(MakeError::Target(_)) | Err(MakeError::At(Errno::ENOENT)) => {
                Err(self.reject(escape(format!(
                    "hard link target `{t}` is not an earlier entry of the archive"
                ))))
            }
            // linkat(2) on a directory (GNU tar: "Cannot hard link to `a`: Operation
            // not permitted"): the bundle's fault, not the work dir's.
            Err(MakeError::At(Errno::EPERM)) => Err(self.reject(
                Finding::error(Kind::UnsafeEntry, Cause::UnpackFailure, shown.to_owned()).message(
                    format!(
                        "hard link target `{t}` is a directory; a hard link cannot name a directory"
                    ),
                ),
            )),
            Err(e) => Err(self.make_failure(e, &all, shown)),
        }
    }

    pub(super) fn record_link(&mut self, task_path: &str, target: &[u8], hard: bool) {
        self.summary.links.insert(
            task_path.to_owned(),
            LinkEntry {
                task_path: task_path.to_owned(),
                target: lossy(target),
                hard,
            },
        );
    }

    pub(super) fn flattened(&mut self, task_path: &str, target: &[u8], hard: bool, zip: bool) {
        self.record_link(task_path, target, hard);
        let t = lossy(target);
        let msg = match (hard, zip) {
            (true, _) => {
                format!("hard link to `{t}` becomes an empty file when Nomad extracts the artifact")
            }
            (false, false) => {
                format!("symlink to `{t}` becomes an empty file when Nomad extracts the artifact")
            }
            (false, true) => format!(
                "symlink to `{t}` becomes a regular file containing the text `{t}` when Nomad extracts the artifact"
            ),
        };
        self.summary.findings.push(
            Finding::warning(Kind::Artifact, Cause::FlattenedLink, task_path.to_owned())
                .message(msg)
                .hint(FLATTEN_HINT),
        );
    }
}
