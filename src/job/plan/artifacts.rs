//! A task's `artifact` blocks as the client's artifact hook takes them: source,
//! options and destination interpolated, the source resolved to a local file or
//! checkout, and go-getter's `checksum`, `mode` and `archive` options applied.

use std::collections::BTreeMap;
use std::path::Path;

use super::{PlanContext, Unresolved};
use crate::archive::ArchiveKind;
use crate::config::Artifact;
use crate::error::Error;
use crate::finding::{Cause, Finding, Kind};
use crate::job::artifact::{self, Checksum};
use crate::job::interp;
use crate::job::model::TaskDef;

/// The artifacts of `task`, in the order written, and whether one fails its checksum
/// (then Nomad fails the task before starting it). A source no `--artifact` maps is
/// added to `unmapped`.
pub(super) fn plan(
    ctx: &PlanContext,
    task: &TaskDef,
    env: &BTreeMap<String, String>,
    unresolved: &mut Unresolved,
    unmapped: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) -> Result<(Vec<Artifact>, bool), Error> {
    let (version, node) = (ctx.version, &ctx.node);
    let resolver = ctx.resolver();
    let tname = &task.name;
    let mut artifacts = Vec::new();
    let mut blocked = false;
    if task.artifacts.len() > 1 {
        findings.push(
            Finding::info(Kind::Note, Cause::NotEmulated, format!("{} artifacts", task.artifacts.len()))
                .message("Nomad downloads up to 3 artifacts in parallel (artifact_hook.go); they are unpacked here one after another in the order written, so overlapping files may land differently"),
        );
    }
    for a in &task.artifacts {
        let (src, u) = interp::replace_env(&a.source, env, node);
        unresolved.add(u, "artifact.source", false);
        let (base, query) = artifact::split_query(&src);
        let mut options: BTreeMap<String, String> = query.into_iter().collect();
        for (k, v) in &a.options {
            let (v, u) = interp::replace_env(v, env, node);
            unresolved.add(u, &format!("artifact.options.{k}"), false);
            options.insert(k.clone(), v);
        }
        let file_mode = a.mode.as_deref() == Some("file");
        let dest = match &a.destination {
            Some(d) => {
                let (d, u) = interp::replace_env(d, env, node);
                unresolved.add(u, "artifact.destination", false);
                d
            }
            None if file_mode => format!(
                "local/{}",
                Path::new(&artifact::source_name(base))
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            None => "local/".into(),
        };
        let file = match resolver.resolve(tname, &src) {
            Ok(f) => f,
            Err(e) => {
                // Every unmapped source is named in one error, after all tasks.
                unmapped.push(e.to_string());
                continue;
            }
        };
        if artifact::is_git(&src) {
            // go-getter's git getter clones into the destination directory.
            if !file.is_dir() {
                return Err(Error::Usage(format!(
                    "artifact \"{src}\" of task \"{tname}\" maps to `{}`, which is not a directory: a git:: source maps to a local checkout (--artifact {src}=DIR)",
                    file.display()
                )));
            }
            findings.push(
                Finding::info(Kind::Note, Cause::NotEmulated, src.clone()).message(format!(
                    "git:: source placed from the local checkout `{}` into {dest}, as go-getter's `git clone` leaves it (with `.git`); the ref, depth and sshkey options are not applied",
                    file.display()
                )),
            );
            artifacts.push(Artifact {
                file,
                source_name: artifact::source_name(base),
                archive: None,
                destination: dest,
                copy: Some(String::new()),
            });
            continue;
        }
        if !file.is_file() {
            return Err(Error::Usage(format!(
                "artifact \"{src}\" of task \"{tname}\" maps to `{}`, which is not a readable file",
                file.display()
            )));
        }
        if let Some(c) = options.get("checksum") {
            let sum = Checksum::parse(c).map_err(|m| {
                Error::Usage(format!("artifact \"{src}\" of task \"{tname}\": {m}"))
            })?;
            let verdict = sum
                .verify(&file)
                .map_err(|e| Error::io(format!("cannot read `{}`", file.display()), e))?;
            if let Some(mismatch) = verdict {
                // hashicorp/nomad:client/allocrunner/taskrunner/artifact_hook.go wraps the
                // getter's error; ≥ 1.5 runs the getter as a subprocess (§6.2).
                let nomad_error = if version.has_decompression_limits() {
                    format!(
                        "failed to download artifact \"{src}\": getter subprocess failed: exit status 1: failed to download artifact: {mismatch}"
                    )
                } else {
                    format!("failed to download artifact \"{src}\": {mismatch}")
                };
                findings.push(
                    Finding::error(Kind::Artifact, Cause::ChecksumMismatch, src.clone())
                        .nomad_error(nomad_error)
                        .message(format!("`{}` does not match the artifact's checksum option", file.display()))
                        .hint("rebuild the bundle or update `options { checksum = \"sha256:…\" }` to the bundle you deploy"),
                );
                blocked = true;
            }
        }
        for (flag, what) in [(a.chown, "chown = true"), (a.headers, "headers")] {
            if flag {
                findings.push(
                    Finding::info(Kind::Note, Cause::NotEmulated, src.clone())
                        .message(format!("artifact option {what} is not emulated (files are owned by root here, as without chown)")),
                );
            }
        }
        let archive_opt = options.get("archive").map(String::as_str);
        let name = artifact::source_name(base);
        let basename = Path::new(&name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // go-getter saves the file as it is for `mode = "file"`, `archive = false`,
        // or a name without a decompressor's suffix (`client.go`: `GetFile` into
        // `dst/<base name>`). A name without a suffix over an archive's content is
        // left to the archive check, which explains the mismatch.
        let plain = archive_opt.is_none()
            && !artifact::has_archive_suffix(&name)
            && !looks_like_archive(&file);
        if archive_opt == Some("false") || file_mode || plain {
            let (dir, fname) = if file_mode {
                let p = Path::new(&dest);
                (
                    p.parent()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default(),
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or(basename),
                )
            } else {
                (dest.clone(), basename)
            };
            artifacts.push(Artifact {
                file,
                source_name: name,
                archive: None,
                destination: dir,
                copy: Some(fname),
            });
            continue;
        }
        let archive = match archive_opt {
            None | Some("") => None,
            Some(k) => Some(k.parse::<ArchiveKind>().map_err(|m| {
                Error::Usage(format!(
                    "artifact \"{src}\" of task \"{tname}\": archive option: {m}"
                ))
            })?),
        };
        artifacts.push(Artifact {
            file,
            source_name: name,
            archive,
            destination: dest,
            copy: None,
        });
    }
    Ok((artifacts, blocked))
}

/// Whether the first bytes of `file` are an archive's (then a suffix-less name is a
/// mistake the archive check reports, not a plain file).
fn looks_like_archive(file: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    matches!(
        crate::archive::sniff::detect(&head[..n]),
        crate::archive::sniff::Detected::Archive(_)
    )
}
