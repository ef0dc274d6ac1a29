//! One check, end to end: task dir → unpack → analyse → run → report.

use std::collections::BTreeMap;

use crate::analyze::{self, AnalyzeInput};
use crate::archive::{self, ExtractRequest, ExtractSummary};
use crate::config::CheckOptions;
use crate::error::{Error, Result};
use crate::finding::{BundleInfo, Cause, Finding, Kind, Report, TaskInfo, Verdict};
use crate::sandbox::{self, RunRequest};
use crate::taskdir::{SecretsMode, TaskDir};
use crate::taskenv::{self, HostUser};

/// Run one check and build its report. `Err` only when the check itself could not be
/// carried out; everything about the bundle is in the report.
pub fn run(opts: &CheckOptions) -> Result<Report> {
    let taskdir = TaskDir::build(&opts.task.name, opts.nomad_version, opts.chroot_env.clone())?;
    // A run needs a sandbox child: start it now, so that its start-up overlaps the
    // unpacking instead of following it.
    let launch = opts.run.as_ref().map(|r| {
        sandbox::Prelaunch::start(&taskdir, &opts.task, r, &opts.client, opts.nomad_version)
    });
    let mut prepared = prepare_in(opts, taskdir)?;
    let mut report = finish_with(&prepared, opts, launch)?;
    if opts.keep {
        report.kept_work_dir = Some(prepared.taskdir.keep().display().to_string());
    }
    Ok(report)
}

/// Unpack into the task dir and report what unpacking found, without the analysis or the
/// run: `--only-extract`, which ci/bench uses to time extraction alone.
pub fn run_extract_only(opts: &CheckOptions) -> Result<Report> {
    let mut report = prepare(opts)?.report;
    report.settle_verdict();
    Ok(report)
}

/// A task dir with the artifacts unpacked, ready for [`finish`]. Several checks of the
/// same bundle (`nomad-chroot-check test`) share one: analysis only reads it, and a run
/// writes only the task's own files and `alloc/logs`.
#[derive(Debug)]
pub struct Prepared {
    pub taskdir: TaskDir,
    pub extract: ExtractSummary,
    /// The report so far: bundle info and what unpacking found.
    pub report: Report,
}

/// Build the task dir and unpack every artifact into it.
pub fn prepare(opts: &CheckOptions) -> Result<Prepared> {
    let taskdir = TaskDir::build(&opts.task.name, opts.nomad_version, opts.chroot_env.clone())?;
    prepare_in(opts, taskdir)
}

fn prepare_in(opts: &CheckOptions, taskdir: TaskDir) -> Result<Prepared> {
    let mut report = Report::new(opts.nomad_version);
    let extract = unpack_all(opts, &taskdir, &mut report)?;
    report.findings.extend(extract.findings.iter().cloned());
    Ok(Prepared {
        taskdir,
        extract,
        report,
    })
}

/// Analyse (and run, if asked) the task in a prepared task dir. `opts` must describe the
/// same artifacts, extract mode, Nomad version and chroot_env as the ones `prepared` was
/// built from; the task's command, env, user and run options may differ.
pub fn finish(prepared: &Prepared, opts: &CheckOptions) -> Result<Report> {
    finish_with(prepared, opts, None)
}

/// [`finish`], with the sandbox child started ahead, if any.
fn finish_with(
    prepared: &Prepared,
    opts: &CheckOptions,
    launch: Option<sandbox::Prelaunch>,
) -> Result<Report> {
    let taskdir = &prepared.taskdir;
    let extract = &prepared.extract;
    let mut report = prepared.report.clone();

    let host_user = HostUser::lookup(&opts.task.user);
    let agent_env = opts
        .run
        .as_ref()
        .map(|r| r.agent_env)
        .unwrap_or(crate::config::AgentEnv::Default);
    let env = taskenv::build(
        &opts.task,
        opts.nomad_version,
        agent_env,
        host_user.as_ref(),
    );
    report.task = task_info(opts, &env);
    report.task.secrets_dir = Some(secrets_dir(opts, taskdir));

    if !extract.rejected {
        // Nomad ≥ 1.11.1 runs as the host uid with gid 0; before, runc resolved the name
        // in the chroot. For permission checks the host ids are the best estimate.
        let (uid, gid) = match &host_user {
            Some(u) if opts.nomad_version.resolves_user_in_chroot() => (u.uid, u.gid),
            Some(u) => (u.uid, 0),
            None => (65534, 65534),
        };
        let analysis = analyze::analyze(&AnalyzeInput {
            taskdir,
            extract,
            task: &opts.task,
            env: &env,
            version: opts.nomad_version,
            uid,
            gid,
        });
        report.task.resolved_command = analysis.resolved_command.clone();
        if let Some(line) = breaks_only_under_nomad(&analysis.findings, extract) {
            report.summary.push(line);
        }
        report.findings.extend(analysis.findings);
        report.summary.extend(analysis.summary);

        if let (Some(run), Some(argv0)) = (&opts.run, &analysis.resolved_command) {
            if !analysis.start_blocked {
                match sandbox::run(
                    &RunRequest {
                        taskdir,
                        task: &opts.task,
                        env: &env,
                        run,
                        version: opts.nomad_version,
                        client: &opts.client,
                        argv0: argv0.clone(),
                    },
                    launch.and_then(sandbox::Prelaunch::take),
                ) {
                    Ok(result) => {
                        let explained = explained_statically(&report.findings);
                        report
                            .findings
                            .extend(result.findings.into_iter().filter(|f| {
                                f.cause != Cause::Runtime || !explained.contains(basename(&f.path))
                            }));
                        report.run = Some(result.outcome);
                    }
                    Err(e) => {
                        report.findings.push(
                            Finding::error(Kind::Run, Cause::StartFailure, argv0.clone())
                                .message(format!("could not run the task here: {e}")),
                        );
                        report.verdict = Verdict::Error;
                    }
                }
            }
        }
    }

    report.settle_verdict();
    Ok(report)
}

/// Unpack every artifact in order, as the artifact hook does (§6.2), and merge what the
/// passes found.
fn unpack_all(
    opts: &CheckOptions,
    taskdir: &TaskDir,
    report: &mut Report,
) -> Result<ExtractSummary> {
    let mut merged = ExtractSummary::default();
    let mut infos: Vec<BundleInfo> = Vec::new();
    for art in &opts.artifacts {
        let (host_dest, task_dest) = taskdir.destination(&art.destination)?;
        std::fs::create_dir_all(&host_dest)
            .map_err(|e| Error::io(format!("cannot create `{}`", host_dest.display()), e))?;
        let summary = archive::extract(&ExtractRequest {
            bundle: &art.file,
            source_name: &art.source_name,
            archive: art.archive,
            dest: &host_dest,
            dest_in_task: &task_dest,
            nomad_dest: &taskdir.nomad_client_path(&task_dest),
            mode: opts.extract,
            version: opts.nomad_version,
            limits: opts.limits,
            safety: opts.safety,
            chroot_env: &opts.chroot_env,
        })?;
        infos.push(BundleInfo {
            path: art.file.display().to_string(),
            format: summary.format.clone(),
            detected_format: summary.detected_format.clone(),
            entries: summary.entries,
            unpacked_bytes: summary.unpacked_bytes,
            extract: match opts.extract {
                archive::ExtractMode::Nomad => "nomad".into(),
                archive::ExtractMode::Tar => "tar".into(),
            },
        });
        merged.entries += summary.entries;
        merged.unpacked_bytes += summary.unpacked_bytes;
        merged.rejected |= summary.rejected;
        merged.findings.extend(summary.findings);
        merged.links.extend(summary.links);
        for (k, v) in summary.store_refs {
            merged.store_refs.entry(k).or_default().extend(v);
        }
        if merged.rejected {
            // A failed artifact download stops the task before anything else (§6.2).
            break;
        }
    }
    report.bundle = match infos.len() {
        1 => infos.pop().unwrap_or_default(),
        _ => BundleInfo {
            path: infos
                .iter()
                .map(|i| i.path.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            format: infos
                .iter()
                .map(|i| i.format.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            detected_format: None,
            entries: merged.entries,
            unpacked_bytes: merged.unpacked_bytes,
            extract: infos.first().map(|i| i.extract.clone()).unwrap_or_default(),
        },
    };
    Ok(merged)
}

/// Nomad's unpacker turns links into empty files, `tar xzf` keeps them: when a link the
/// task needs is behind an error, the bundle works when unpacked by hand and breaks
/// under Nomad, which is the first thing its author needs to hear.
fn breaks_only_under_nomad(findings: &[Finding], extract: &ExtractSummary) -> Option<String> {
    let needed: std::collections::BTreeSet<&str> = findings
        .iter()
        .filter(|f| f.severity == crate::finding::Severity::Error)
        .flat_map(|f| {
            std::iter::once(f.path.as_str()).chain(f.needed_by.iter().map(String::as_str))
        })
        .filter(|p| extract.links.contains_key(*p))
        .collect();
    let first = needed.iter().next()?;
    let what = match needed.len() {
        1 => "1 link the task needs becomes an empty file".to_owned(),
        n => format!("{n} links the task needs become empty files"),
    };
    Some(format!(
        "works with `tar xzf`, breaks under Nomad: {what} when Nomad unpacks the artifact (first: {first}); build the bundle with `tar -h --hard-dereference`"
    ))
}

/// Names the static check already reports missing: the run's failed lookups of the
/// same names (the loader searching for a library we know is absent) add nothing.
fn explained_statically(findings: &[Finding]) -> std::collections::BTreeSet<String> {
    findings
        .iter()
        .filter(|f| f.kind == Kind::Missing && f.cause != Cause::Runtime)
        .map(|f| basename(&f.path).to_owned())
        .collect()
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The task as the report shows it, before the command is resolved.
pub fn task_info(opts: &CheckOptions, env: &BTreeMap<String, String>) -> TaskInfo {
    TaskInfo {
        name: opts.task.name.clone(),
        group: opts.task.group.clone(),
        destination: opts
            .artifacts
            .first()
            .map(|a| a.destination.clone())
            .unwrap_or_default(),
        command: opts.task.command.clone(),
        args: opts.task.args.clone(),
        resolved_command: None,
        user: opts.task.user.clone(),
        chroot_env: opts.chroot_env.entries.clone(),
        env: env.clone(),
        secrets_dir: None,
    }
}

fn secrets_dir(opts: &CheckOptions, taskdir: &TaskDir) -> String {
    match taskdir.secrets {
        SecretsMode::PlainDir if opts.run.is_some() => "tmpfs noexec inside the sandbox".into(),
        SecretsMode::PlainDir => "plain directory (noexec modelled by the analysis)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::LinkEntry;

    #[test]
    fn says_when_only_nomads_unpacking_breaks_the_task() {
        let mut extract = ExtractSummary::default();
        extract.links.insert(
            "/bin/sh".into(),
            LinkEntry {
                task_path: "/bin/sh".into(),
                target: "busybox".into(),
                hard: false,
            },
        );
        let needed = Finding::error(Kind::ExecFormat, Cause::EmptyFile, "/bin/sh");
        let line = breaks_only_under_nomad(std::slice::from_ref(&needed), &extract).unwrap();
        assert!(
            line.starts_with("works with `tar xzf`, breaks under Nomad: 1 link"),
            "{line}"
        );
        // A flattened link nothing needs, or a warning, changes nothing the task runs.
        let warning = Finding::warning(Kind::Artifact, Cause::FlattenedLink, "/bin/sh");
        assert_eq!(breaks_only_under_nomad(&[warning], &extract), None);
        let other = Finding::error(Kind::Missing, Cause::Library, "/lib/libc.so.6");
        assert_eq!(breaks_only_under_nomad(&[other], &extract), None);
    }
}
