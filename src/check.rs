//! One check, end to end: task dir → unpack → analyse → run → report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::analyze::{self, AnalyzeInput};
use crate::archive::LinkEntry;
use crate::archive::{self, ExtractRequest, ExtractSummary};
use crate::config::CheckOptions;
use crate::error::{Error, Result};
use crate::finding::{
    BundleInfo, Cause, Finding, Kind, Report, Severity, StartInfo, TaskInfo, Verdict,
};
use crate::sandbox::{self, RunRequest};
use crate::taskdir::{SecretsMode, TaskDir};
use crate::taskenv::{self, HostUser};
use crate::workdir::{self, Decision, Placement};

/// Run one check and build its report. `Err` only when the check itself could not be
/// carried out; everything about the bundle is in the report.
pub fn run(opts: &CheckOptions) -> Result<Report> {
    let _span = tracing::debug_span!("check", task = %opts.task.name).entered();
    // A run needs a sandbox child: start it as soon as the task dir exists, so that its
    // start-up overlaps the unpacking instead of following it.
    let mut launch = None;
    let (mut prepared, decision) = prepare_placed(opts, |taskdir| {
        launch = opts.run.as_ref().map(|r| {
            sandbox::Prelaunch::start(taskdir, &opts.task, r, &opts.client, opts.nomad_version)
        });
    })?;
    let mut report = finish_with(&prepared, opts, launch, Owner::Check)?;
    conclude(&mut report, &mut prepared, opts, &decision);
    Ok(report)
}

/// [`run`], with the command's dependency tree in the report (`--tree`).
pub fn run_with_tree(opts: &CheckOptions) -> Result<Report> {
    let (mut prepared, decision) = prepare_placed(opts, |_| {})?;
    let mut report = finish(&prepared, opts)?;
    if !prepared.extract.rejected {
        report.tree = Some(tree_of(&prepared, opts));
    }
    conclude(&mut report, &mut prepared, opts, &decision);
    Ok(report)
}

/// Unpack into the task dir and report what unpacking found, without the analysis or the
/// run: `--only-extract`, which ci/bench uses to time extraction alone.
pub fn run_extract_only(opts: &CheckOptions) -> Result<Report> {
    let (mut prepared, decision) = prepare_placed(opts, |_| {})?;
    let mut report = prepared.report.clone();
    conclude(&mut report, &mut prepared, opts, &decision);
    report.settle_verdict();
    Ok(report)
}

/// Where it was unpacked, and the kept work dir.
fn conclude(report: &mut Report, prepared: &mut Prepared, opts: &CheckOptions, d: &Decision) {
    if opts.keep {
        report.kept_work_dir = Some(prepared.taskdir.keep().display().to_string());
    }
    let path = (d.placement != Placement::Memory)
        .then(|| prepared.taskdir.alloc_dir.display().to_string());
    report.work_dir = Some(d.report(path));
}

/// Decide where to unpack ([`workdir::decide`]), build the task dir there (`started`
/// sees it before anything is unpacked) and unpack. A tmpfs whose budget the streamed
/// headers outgrow is given up for the disk, and everything starts again there.
fn prepare_placed(
    opts: &CheckOptions,
    mut started: impl FnMut(&TaskDir),
) -> Result<(Prepared, Decision)> {
    let mut decision = workdir::decide(opts)?;
    loop {
        tracing::debug!(placement = ?decision.placement, why = %decision.why, "work dir");
        let taskdir = build_taskdir(opts, &decision)?;
        started(&taskdir);
        match prepare_in(opts, taskdir) {
            Err(Error::Archive(archive::ArchiveError::NoSpace(n))) if decision.may_fall_back => {
                decision = Decision::disk(format!(
                    "{}; the tar headers outgrew it ({} needed): unpacked again on disk",
                    decision.why,
                    archive::human_size(n.needed)
                ));
            }
            r => return Ok((r?, decision)),
        }
    }
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

/// Build the task dir on disk and unpack every artifact into it (a task dir several
/// checks share, some of which run).
pub fn prepare(opts: &CheckOptions) -> Result<Prepared> {
    let taskdir = build_taskdir(opts, &Decision::disk("shared by several checks"))?;
    prepare_in(opts, taskdir)
}

fn build_taskdir(opts: &CheckOptions, decision: &Decision) -> Result<TaskDir> {
    let _span = tracing::debug_span!("taskdir").entered();
    let (name, v, env) = (&opts.task.name, opts.nomad_version, opts.chroot_env.clone());
    let taskdir = match decision.placement {
        Placement::Memory => TaskDir::in_memory(name, v, env)?,
        Placement::Disk => TaskDir::build(name, v, env)?,
        Placement::Tmpfs { own, budget } => TaskDir::build_on_tmpfs(name, v, env, own, budget)?,
    };
    tracing::debug!(root = %taskdir.root.display(), chroot_env = taskdir.chroot_env.entries.len(), "task dir built");
    Ok(taskdir)
}

/// [`prepare`] in a task dir made by the caller (a task of a `--run-job` allocation).
pub fn prepare_in(opts: &CheckOptions, mut taskdir: TaskDir) -> Result<Prepared> {
    let mut report = Report::new(opts.nomad_version);
    let extract = unpack_all(opts, &mut taskdir, &mut report)?;
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
    finish_with(prepared, opts, None, Owner::Shared)
}

/// Whose task dir a check runs in: its own, which it may change as Nomad's executor
/// changes the task dir, or one shared with other checks, which it must leave as it
/// found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Check,
    Shared,
}

/// [`finish`], with the sandbox child started ahead, if any.
fn finish_with(
    prepared: &Prepared,
    opts: &CheckOptions,
    launch: Option<sandbox::Prelaunch>,
    owner: Owner,
) -> Result<Report> {
    let taskdir = &prepared.taskdir;
    let extract = &prepared.extract;
    let mut report = prepared.report.clone();

    let (env, uid, gid) = task_context(opts);
    report.task = task_info(opts, &env);
    report.task.secrets_dir = Some(secrets_dir(opts, taskdir));

    if !extract.rejected {
        let analysis = {
            let _span = tracing::debug_span!("analyze", command = ?opts.task.command).entered();
            let a = analyze::analyze(&AnalyzeInput {
                taskdir,
                extract,
                task: &opts.task,
                env: &env,
                version: opts.nomad_version,
                uid,
                gid,
            });
            tracing::debug!(
                roots = a.roots.len(),
                findings = a.findings.len(),
                host_dependencies = a.host_dependencies.len(),
                "analysed"
            );
            a
        };
        report.task.resolved_command = analysis.resolved_command.clone();
        report.host_dependencies = analysis.host_dependencies.clone();
        report.root_causes = analysis.root_causes.clone();
        // Unpacking's note on absolute names says the same as a misplaced store.
        for cause in &mut report.root_causes {
            if cause.id != analyze::DESTINATION_ROOT_CAUSE {
                continue;
            }
            for f in report
                .findings
                .iter_mut()
                .filter(|f| f.cause == Cause::AbsoluteName)
            {
                f.root_cause = Some(cause.id);
                cause.findings += 1;
            }
        }
        if opts.extract == archive::ExtractMode::Nomad {
            let links = flattened_links_needed(&analysis.findings, extract);
            if !links.is_empty() {
                let absent = absent_link_targets(taskdir, &links, &analysis.findings);
                report
                    .summary
                    .push(links_verdict(&links, &absent, || tar_mode_passes(opts)));
                report.findings.extend(absent);
            }
        }
        report.findings.extend(analysis.findings);
        report.summary.extend(analysis.summary);
        if opts.task.command.is_some() {
            report.start = Some(start_info(analysis.start_blocked, &report.findings));
        }

        if let (Some(run), Some(argv0)) = (&opts.run, &analysis.resolved_command) {
            if !analysis.start_blocked {
                let _span = tracing::debug_span!("run", argv0 = %argv0).entered();
                // The executor's makeExecutable, on the work dir's copy, right before
                // the start (hashicorp/nomad:drivers/shared/executor/executor.go).
                let chmod = analysis
                    .make_executable
                    .as_ref()
                    .map(|(path, mode)| MadeExecutable::apply(path, *mode, owner))
                    .transpose()?;
                let ran = sandbox::run(
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
                );
                drop(chmod);
                match ran {
                    Ok(result) => {
                        let explained = explained_statically(&report.findings);
                        let predicted = report.start.as_ref().and_then(|s| s.exit_code_predicted);
                        // A path a static finding is already about (`/etc/passwd` of
                        // the user lint) is said once.
                        let said: std::collections::BTreeSet<String> =
                            report.findings.iter().map(|f| f.path.clone()).collect();
                        report
                            .findings
                            .extend(result.findings.into_iter().filter_map(|f| {
                                if f.cause == Cause::Runtime
                                    && (explained.contains(basename(&f.path))
                                        || said.contains(&f.path))
                                {
                                    return None;
                                }
                                Some(as_predicted(f, predicted))
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

    crate::finding::apply_deny(&mut report.findings, &opts.deny);
    // Worst first, and within a severity by kind: a missing path before the run's exit
    // code it explains (the order the text report groups them in).
    report
        .findings
        .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)));
    report.settle_verdict();
    Ok(report)
}

/// The task's environment as Nomad assembles it, and who it runs as: Nomad ≥ 1.11.1
/// runs as the host uid with gid 0; before, runc resolved the name in the chroot. For
/// permission checks the host ids are the best estimate.
fn task_context(opts: &CheckOptions) -> (BTreeMap<String, String>, u32, u32) {
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
    let (uid, gid) = match &host_user {
        Some(u) if opts.nomad_version.resolves_user_in_chroot() => (u.uid, u.gid),
        Some(u) => (u.uid, 0),
        None => (65534, 65534),
    };
    (env, uid, gid)
}

/// The dependency tree of the report's entrypoints (`--tree`).
fn tree_of(prepared: &Prepared, opts: &CheckOptions) -> Vec<crate::finding::TreeNode> {
    let (env, uid, gid) = task_context(opts);
    let input = AnalyzeInput {
        taskdir: &prepared.taskdir,
        extract: &prepared.extract,
        task: &opts.task,
        env: &env,
        version: opts.nomad_version,
        uid,
        gid,
    };
    let ctx = analyze::Ctx::new(&input);
    let roots = match opts.task.command.as_deref() {
        Some(cmd) => analyze::lookup::lookup(&ctx, cmd)
            .argv0
            .into_iter()
            .collect(),
        None => analyze::executable_roots(&ctx),
    };
    analyze::tree::build(&ctx, &roots)
}

/// Unpack every artifact in order, as the artifact hook does (§6.2), and merge what the
/// passes found.
fn unpack_all(
    opts: &CheckOptions,
    taskdir: &mut TaskDir,
    report: &mut Report,
) -> Result<ExtractSummary> {
    let mut merged = ExtractSummary::default();
    let mut infos: Vec<BundleInfo> = Vec::new();
    for art in &opts.artifacts {
        let (host_dest, task_dest) = taskdir.destination(&art.destination)?;
        let nomad_dest = taskdir.nomad_client_path(&task_dest);
        let room = taskdir.room;
        // In the model: the destination's components below the allocation dir.
        let model_dest: Vec<Vec<u8>> = host_dest
            .strip_prefix(&taskdir.alloc_dir)
            .map(|rel| {
                rel.components()
                    .map(|c| c.as_os_str().as_encoded_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        // Only the task dir holds the tree until it is unpacked (the analysis shares it
        // after): a shared one here is a bug, never a reason to write to disk instead.
        let mut model = match taskdir.model.as_mut() {
            Some(tree) => Some(std::sync::Arc::get_mut(tree).ok_or_else(|| {
                Error::Unsupported("internal: the in-memory tree is shared while unpacking".into())
            })?),
            None => None,
        };
        match &mut model {
            Some(tree) => tree.create_dir_all(&model_dest),
            None => std::fs::create_dir_all(&host_dest)
                .map_err(|e| Error::io(format!("cannot create `{}`", host_dest.display()), e))?,
        }
        if let Some(name) = &art.copy {
            let placed = match &mut model {
                Some(tree) => archive::place_as_is_model(&art.file, tree, &model_dest, name)?,
                None => archive::place_as_is(&art.file, &host_dest, name)?,
            };
            merged.entries += placed.0;
            merged.unpacked_bytes += placed.1;
            infos.push(BundleInfo {
                path: art.file.display().to_string(),
                format: if name.is_empty() { "tree" } else { "file" }.into(),
                entries: placed.0,
                unpacked_bytes: placed.1,
                ..BundleInfo::default()
            });
            continue;
        }
        let _span =
            tracing::debug_span!("extract", bundle = %art.file.display(), destination = %task_dest)
                .entered();
        let size = std::fs::metadata(&art.file).map(|m| m.len()).unwrap_or(0);
        let bar = crate::progress::UnpackBar::start(&art.source_name, size);
        let req = ExtractRequest {
            bundle: &art.file,
            source_name: &art.source_name,
            archive: art.archive,
            dest: &host_dest,
            dest_in_task: &task_dest,
            nomad_dest: &nomad_dest,
            mode: opts.extract,
            version: opts.nomad_version,
            limits: opts.limits,
            safety: opts.safety,
            chroot_env: &opts.chroot_env,
        };
        let summary = match &mut model {
            Some(tree) => archive::extract_model(&req, tree, &model_dest, None, &mut None)?,
            None => archive::extract_capped(&req, room)?,
        };
        drop(bar);
        tracing::debug!(
            entries = summary.entries,
            bytes = summary.unpacked_bytes,
            rejected = summary.rejected,
            "unpacked"
        );
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

/// The archive's links (by task path) that an error of the task runs into: Nomad's
/// unpacker made each an empty file.
fn flattened_links_needed<'e>(
    findings: &[Finding],
    extract: &'e ExtractSummary,
) -> BTreeMap<&'e str, &'e LinkEntry> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .flat_map(|f| std::iter::once(&f.path).chain(&f.needed_by))
        .filter_map(|p| extract.links.get_key_value(p.as_str()))
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

/// A flattened link whose target the bundle lacks breaks under any unpacker: report the
/// target as missing, needed by the link (and by whatever needed the link).
fn absent_link_targets(
    taskdir: &TaskDir,
    links: &BTreeMap<&str, &LinkEntry>,
    findings: &[Finding],
) -> Vec<Finding> {
    let fs = crate::rootfs::RootFs::new(taskdir);
    let mut out = Vec::new();
    // A hard link's target is an earlier member of the same archive: present, or the
    // archive is one that `tar xzf` refuses too. Symlinks are what can dangle.
    for (path, link) in links.iter().filter(|(_, l)| !l.hard) {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let target = if link.target.starts_with('/') {
            crate::taskdir::normalize_task_path(&link.target)
        } else {
            crate::taskdir::normalize_task_path(&format!("{dir}/{}", link.target))
        };
        if fs.resolve(&target).is_ok() {
            continue;
        }
        let mut chain = findings
            .iter()
            .find(|f| f.path == *path && !f.needed_by.is_empty())
            .map(|f| f.needed_by.clone())
            .unwrap_or_default();
        chain.push((*path).to_owned());
        let what = crate::analyze::store::store_path_of(&target)
            .map(|sp| format!("add {sp} to the bundle"))
            .unwrap_or_else(|| format!("add {target} to the bundle"));
        out.push(
            Finding::error(Kind::Missing, Cause::Symlink, target.clone())
                .message(format!(
                    "the target of the link {path} (-> {}) is not in the bundle: the link dangles in the archive itself, so the task breaks however it is unpacked",
                    link.target
                ))
                .needed_by(chain)
                .hint(format!(
                    "{what}, and build the bundle with `tar -h --hard-dereference` so links become the files they point at"
                )),
        );
    }
    out
}

/// The one line that says what the flattened links mean: whether the same bundle works
/// when unpacked with `tar xzf` (the tar-mode analysis of the same task), which is the
/// first thing its author needs to hear.
fn links_verdict(
    links: &BTreeMap<&str, &LinkEntry>,
    absent: &[Finding],
    tar_passes: impl FnOnce() -> Option<bool>,
) -> String {
    let first = links.keys().next().copied().unwrap_or_default();
    let what = match links.len() {
        1 => "1 link the task needs becomes an empty file".to_owned(),
        n => format!("{n} links the task needs become empty files"),
    };
    let fix = "build the bundle with `tar -h --hard-dereference`";
    if !absent.is_empty() {
        return format!(
            "breaks under Nomad and with `tar xzf` alike: {what} when Nomad unpacks the artifact (first: {first}), and {} missing from the bundle ({}); {fix} once the targets are in it",
            if absent.len() == 1 {
                "its target is"
            } else {
                "their targets are"
            },
            absent[0].path
        );
    }
    match tar_passes() {
        Some(true) => format!(
            "works with `tar xzf`, breaks under Nomad: {what} when Nomad unpacks the artifact (first: {first}); {fix}"
        ),
        _ => format!(
            "breaks under Nomad: {what} when Nomad unpacks the artifact (first: {first}), and the task has other errors that `tar xzf` would not fix; {fix}"
        ),
    }
}

/// Whether the same task passes the static check when the artifacts are unpacked as
/// GNU tar does (links kept). `None` when that check could not be made.
fn tar_mode_passes(opts: &CheckOptions) -> Option<bool> {
    let mut tar = opts.clone();
    tar.extract = archive::ExtractMode::Tar;
    tar.run = None;
    tar.keep = false;
    tar.workdir = workdir::WorkdirOptions::default();
    let (prepared, _) = prepare_placed(&tar, |_| {}).ok()?;
    let report = finish_with(&prepared, &tar, None, Owner::Check).ok()?;
    Some(report.verdict == Verdict::Pass)
}

/// The chmod the executor makes before it starts the task; in a shared task dir, undone
/// when dropped (after the run), so that the next check sees the bundle as unpacked.
struct MadeExecutable {
    path: PathBuf,
    restore: Option<u32>,
}

impl MadeExecutable {
    fn apply(path: &Path, mode: u32, owner: Owner) -> Result<MadeExecutable> {
        use std::os::unix::fs::PermissionsExt;
        let before = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("cannot stat `{}`", path.display()), e))?
            .permissions()
            .mode()
            & 0o7777;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            Error::io(
                format!(
                    "chmod {mode:04o} `{}` (Nomad's makeExecutable)",
                    path.display()
                ),
                e,
            )
        })?;
        Ok(MadeExecutable {
            path: path.to_owned(),
            restore: (owner == Owner::Shared).then_some(before),
        })
    }
}

impl Drop for MadeExecutable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if let Some(mode) = self.restore {
            let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(mode));
        }
    }
}

/// Whether the task starts under Nomad, from the static check: what stops it, or what
/// it is predicted to do once started.
fn start_info(blocked: bool, findings: &[Finding]) -> StartInfo {
    let errors = || findings.iter().filter(|f| f.severity == Severity::Error);
    if blocked {
        let why = errors().find(|f| f.nomad_error.is_some());
        return StartInfo {
            can_start: false,
            nomad_error: why.and_then(|f| f.nomad_error.clone()),
            exit_code: why.and_then(|f| f.exit_code),
            predicted: None,
            exit_code_predicted: None,
        };
    }
    // A task that starts and then fails the way the static check says: the loader's
    // `error while loading shared libraries` and exit 127, typically.
    let predicted = errors().find(|f| f.nomad_error.is_some() && f.exit_code.is_some());
    StartInfo {
        can_start: true,
        nomad_error: None,
        exit_code: None,
        predicted: predicted.and_then(|f| f.nomad_error.clone()),
        exit_code_predicted: predicted.and_then(|f| f.exit_code),
    }
}

/// A run finding of the exit the static check predicted is not a second cause: it
/// confirms the first.
fn as_predicted(f: Finding, predicted: Option<i32>) -> Finding {
    if f.kind == Kind::Run
        && f.cause == Cause::ExitCode
        && predicted.is_some()
        && f.exit_code == predicted
    {
        let message = format!(
            "{}, as the static check predicted",
            f.message.as_deref().unwrap_or("the task exited")
        );
        return Finding {
            severity: Severity::Info,
            ..f.message(message)
        };
    }
    f
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

    #[test]
    fn says_tar_works_only_when_the_tar_mode_check_passes() {
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
        let links = flattened_links_needed(std::slice::from_ref(&needed), &extract);
        assert_eq!(links.len(), 1);
        let works = links_verdict(&links, &[], || Some(true));
        assert!(
            works.starts_with("works with `tar xzf`, breaks under Nomad: 1 link"),
            "{works}"
        );
        let both = links_verdict(&links, &[], || Some(false));
        assert!(!both.contains("works with"), "{both}");
        // A target the bundle lacks: the tar-mode check is not even needed.
        let absent = [Finding::error(
            Kind::Missing,
            Cause::Symlink,
            "/bin/busybox",
        )];
        let dangling = links_verdict(&links, &absent, || panic!("not asked"));
        assert!(
            dangling.starts_with("breaks under Nomad and with `tar xzf` alike"),
            "{dangling}"
        );
        // A flattened link nothing needs, or a warning, changes nothing the task runs.
        let warning = Finding::warning(Kind::Artifact, Cause::FlattenedLink, "/bin/sh");
        assert!(flattened_links_needed(&[warning], &extract).is_empty());
        let other = Finding::error(Kind::Missing, Cause::Library, "/lib/libc.so.6");
        assert!(flattened_links_needed(&[other], &extract).is_empty());
    }

    #[test]
    fn an_exit_the_static_check_predicted_is_not_a_second_error() {
        let run = Finding::error(Kind::Run, Cause::ExitCode, "/local/app")
            .exit_code(127)
            .message("the task exited with code 127");
        let confirmed = as_predicted(run.clone(), Some(127));
        assert_eq!(confirmed.severity, Severity::Info);
        assert!(
            confirmed
                .message
                .unwrap()
                .ends_with("as the static check predicted")
        );
        assert_eq!(as_predicted(run.clone(), Some(1)).severity, Severity::Error);
        assert_eq!(as_predicted(run, None).severity, Severity::Error);
    }
}
