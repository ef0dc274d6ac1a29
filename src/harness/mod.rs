//! `nomad-chroot-check test SPEC [LIBTEST ARGS]`: the checks of a TOML spec as
//! libtest-mimic trials, and `record`, which writes such a spec from a bundle's observed
//! behaviour.
//!
//! Trial names are the checks' names, unchanged (they are validated to be unique and free
//! of whitespace), so `--list --format terse` prints `<name>: test` lines and
//! `--exact <name>` selects one check, as nextest's rules for custom test harnesses ask.
//!
//! A bundle shared by several checks is unpacked once ([`check::prepare`]) on first use
//! and analysed or run per check ([`check::finish`]); checks of one bundle take turns on
//! its task dir, and the dir is removed when the last of them is done. Non-goals: the
//! per-check analysis itself (`check`), rendering a report (`report`).

mod eval;
mod file;
mod output;
mod record;
pub mod spec;

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use clap::Parser as _;
use libtest_mimic::{Arguments, Failed, Trial};

pub use self::eval::{CheckError, Outcome, apply_allowances, evaluate, evaluate_file};
pub use self::file::{Resolved, check_file, resolve};
use self::output::{Progress, Record, Status};
pub use self::output::{escape_data, escape_property};
pub use self::record::record_main;
use self::spec::{Check, CheckKind, Spec, Target};
use crate::check::{self, Prepared};
use crate::cli::{Cli, TestArgs, TestFormat};
use crate::config::CheckOptions;
use crate::error::{Error, ExitCode};

/// libtest's exit code when a test failed (`Conclusion::exit_code`).
const TESTS_FAILED: i32 = 101;

/// How a check gets its [`CheckOptions`].
enum Plan {
    Ready(Box<CheckOptions>),
    /// A task of a jobspec, planned by the `job` mode.
    Job {
        planned: Box<crate::job::PlannedTask>,
        /// Artifacts the planner downloaded; they live as long as the run.
        _downloads: Option<tempfile::TempDir>,
    },
}

/// A task dir shared by the checks of one bundle, and the paths it had once unpacked.
struct SharedDir {
    prepared: Prepared,
    unpacked: BTreeSet<PathBuf>,
}

type Shared = Arc<OnceLock<Result<Mutex<SharedDir>, CheckError>>>;

struct Ctx {
    spec: Spec,
    plans: Vec<Plan>,
    /// Which prepared task dir each check uses.
    keys: Vec<Option<String>>,
    cache: Mutex<HashMap<String, Shared>>,
    /// Checks still to run per key; the task dir goes when it reaches zero.
    pending: Mutex<HashMap<String, usize>>,
    results: Mutex<Vec<Option<Record>>>,
    progress: Progress,
}

pub fn test_main(args: TestArgs) -> Result<ExitCode, Error> {
    let (format, junit, libtest) = own_flags(&args)?;
    let spec = Spec::load(&args.spec).map_err(|e| Error::Usage(e.to_string()))?;

    let mut largv: Vec<OsString> = vec!["nomad-chroot-check test".into()];
    if format == TestFormat::Terse {
        largv.push("--format=terse".into());
    }
    largv.extend(libtest.iter().map(OsString::from));
    let mut largs = match Arguments::try_parse_from(&largv) {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Ok(ExitCode::Pass);
        }
        Err(e) => return Err(Error::Usage(format!("libtest arguments: {}", e.render()))),
    };
    if matches!(format, TestFormat::Json | TestFormat::Junit) && largs.logfile.is_none() {
        // stdout carries the JSON/XML document; libtest's lines go to stderr instead.
        largs.logfile = Some(stderr_path());
    }

    let mut plans = Vec::with_capacity(spec.checks.len());
    let mut keys = Vec::with_capacity(spec.checks.len());
    for c in &spec.checks {
        let plan = plan(c).map_err(|m| {
            Error::Usage(format!(
                "{}:{}: check `{}`: {m}",
                spec.path.display(),
                c.line,
                c.name
            ))
        })?;
        keys.push(match &plan {
            Plan::Ready(o) => Some(cache_key(o)),
            Plan::Job { planned, .. } => Some(cache_key(&planned.opts)),
        });
        plans.push(plan);
    }

    let probes: Vec<Trial> = spec.checks.iter().map(probe).collect();
    let will_run: Vec<bool> = probes
        .iter()
        .map(|t| !largs.is_filtered_out(t) && !largs.is_ignored(t))
        .collect();
    let mut pending: HashMap<String, usize> = HashMap::new();
    for (k, run) in keys.iter().zip(&will_run) {
        if let (Some(k), true) = (k, run) {
            *pending.entry(k.clone()).or_default() += 1;
        }
    }
    let show_progress = !largs.list && matches!(format, TestFormat::Pretty | TestFormat::Terse);
    let n_run = will_run.iter().filter(|r| **r).count() as u64;
    let ctx = Arc::new(Ctx {
        plans,
        keys,
        cache: Mutex::new(HashMap::new()),
        pending: Mutex::new(pending),
        results: Mutex::new(vec![None; spec.checks.len()]),
        progress: Progress::new(show_progress, n_run),
        spec,
    });

    let trials: Vec<Trial> = (0..ctx.spec.checks.len())
        .map(|i| {
            let c = &ctx.spec.checks[i];
            let ctx = Arc::clone(&ctx);
            Trial::test(c.name.clone(), move || ctx.run_trial(i))
                .with_ignored_flag(c.ignore.is_some())
        })
        .collect();
    let conclusion = libtest_mimic::run(&largs, trials);
    ctx.progress.finish();
    if largs.list {
        return Ok(ExitCode::Pass);
    }

    let records = lock(&ctx.results).clone();
    let statuses: Vec<(&Check, Status<'_>)> = ctx
        .spec
        .checks
        .iter()
        .zip(&records)
        .zip(&probes)
        .filter_map(|((c, rec), probe)| match rec {
            Some(r) => Some((c, Status::Ran(r))),
            None if !largs.is_filtered_out(probe) => {
                c.ignore.as_deref().map(|why| (c, Status::Ignored(why)))
            }
            None => None,
        })
        .collect();

    if let Some(path) = &junit {
        let xml = output::junit(&ctx.spec, &statuses)
            .map_err(|e| Error::io("cannot render JUnit XML", e))?;
        output::write_file(path, &xml)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = match format {
        TestFormat::Json => output::json(&ctx.spec, &statuses, &mut out),
        TestFormat::Junit => output::junit(&ctx.spec, &statuses)
            .and_then(|xml| std::io::Write::write_all(&mut out, xml.as_bytes())),
        TestFormat::Pretty | TestFormat::Terse => Ok(()),
    };
    if output::in_github_actions() {
        let a = output::annotations(&ctx.spec, &statuses);
        // The runner reads workflow commands from stdout and stderr; keep stdout a
        // clean JSON/XML document in those formats.
        if matches!(format, TestFormat::Json | TestFormat::Junit) {
            eprint!("{a}");
        } else {
            let _ = std::io::Write::write_all(&mut out, a.as_bytes());
        }
    }
    match written.and_then(|()| std::io::Write::flush(&mut out)) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(Error::io("cannot write the results", e));
        }
        _ => {}
    }
    drop(out);
    drop(statuses);
    drop(records);
    // Every trial closure is gone by now, so this drops the cache and removes the
    // remaining task dirs before the process exits.
    drop(ctx);
    if conclusion.has_failed() {
        // libtest's code, which the crate's ExitCode does not have.
        crate::cleanup::finish();
        std::process::exit(TESTS_FAILED);
    }
    Ok(ExitCode::Pass)
}

/// The `--format` a `test` command line asks for (its default when the flags are bad).
pub fn requested_format(args: &TestArgs) -> TestFormat {
    own_flags(args).map(|(f, _, _)| f).unwrap_or(args.format)
}

/// `--format` and `--junit` are ours wherever they appear; everything else is libtest's.
fn own_flags(
    args: &TestArgs,
) -> Result<(TestFormat, Option<std::path::PathBuf>, Vec<String>), Error> {
    use clap::ValueEnum;
    let mut format = args.format;
    let mut junit = args.junit.clone();
    let mut rest = Vec::new();
    let mut it = args.libtest.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f == "--format" || f == "--junit" => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        if flag != "--format" && flag != "--junit" {
            rest.push(a.clone());
            continue;
        }
        let value = match inline.or_else(|| it.next().cloned()) {
            Some(v) => v,
            None => return Err(Error::Usage(format!("`{flag}` needs a value"))),
        };
        if flag == "--format" {
            format = TestFormat::from_str(&value, true).map_err(|_| {
                Error::Usage(format!(
                    "--format `{value}`: expected pretty, terse, json or junit"
                ))
            })?;
        } else {
            junit = Some(value.into());
        }
    }
    Ok((format, junit, rest))
}

/// libtest-mimic opens its logfile with `File::create`; `/dev/stderr` reaches fd 2 when
/// it is a tty, pipe or file. Where it cannot be opened (a socket), drop the lines.
fn stderr_path() -> String {
    let p = "/dev/stderr";
    if std::fs::OpenOptions::new().write(true).open(p).is_ok() {
        p.into()
    } else {
        "/dev/null".into()
    }
}

/// A stand-in trial with the real one's name and flags, to ask libtest's filters.
fn probe(c: &Check) -> Trial {
    Trial::test(c.name.clone(), || Ok(())).with_ignored_flag(c.ignore.is_some())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The options a check runs with, built through the same command line the one-check mode
/// parses, so every default and validation is the CLI's.
fn plan(c: &Check) -> Result<Plan, String> {
    let (bundle, destination, archive) = match &c.target {
        Target::Bundle {
            path,
            destination,
            archive,
            ..
        } => (path, destination, archive),
        Target::Job {
            file,
            task,
            artifacts,
        } => return job_plan(c, file, task.as_deref(), artifacts),
    };
    let s = &c.settings;
    let mut argv: Vec<OsString> = vec!["nomad-chroot-check".into()];
    let mut flag = |k: &str, v: &str| argv.push(format!("--{k}={v}").into());
    if let Some(d) = destination {
        flag("destination", d);
    }
    if let Some(a) = archive {
        flag("archive", a);
    }
    client_flags(s, &mut flag);
    if let Some(u) = &s.user {
        flag("user", u);
    }
    for (k, v) in &s.env {
        flag("env", &format!("{k}={v}"));
    }
    if let Some(t) = &s.timeout {
        flag("timeout", t);
    }
    if let CheckKind::Command {
        healthy_after: Some(h),
        ..
    } = &c.kind
    {
        flag("type", "service");
        flag("healthy-after", &format!("{}ms", h.as_millis()));
    }
    if s.no_run {
        argv.push("--no-run".into());
    }
    // Absolute, so it can never be taken for a subcommand.
    argv.push(
        std::path::absolute(bundle)
            .unwrap_or_else(|_| bundle.clone())
            .into(),
    );
    if let CheckKind::Command { command, args, .. } = &c.kind {
        argv.push("--".into());
        argv.push(command.into());
        argv.extend(args.iter().map(OsString::from));
    }
    let cli = Cli::try_parse_from(&argv).map_err(|e| e.render().to_string())?;
    let opts = cli.check.options().map_err(|e| e.to_string())?;
    Ok(Plan::Ready(Box::new(opts)))
}

/// The flags both a bundle check and a job check take from the spec's settings: what
/// the emulated client is (Nomad version, chroot_env, client config, unpacking).
fn client_flags(s: &spec::Settings, flag: &mut impl FnMut(&str, &str)) {
    for d in &s.deny {
        flag("deny", d);
    }
    if let Some(v) = &s.nomad_version {
        flag("nomad-version", v);
    }
    for e in &s.chroot_env {
        flag("chroot-env", e);
    }
    for f in &s.client_config {
        flag("client-config", &f.to_string_lossy());
    }
    if let Some(x) = s.extract {
        flag(
            "extract",
            match x {
                spec::ExtractKey::Nomad => "nomad",
                spec::ExtractKey::Tar => "tar",
            },
        );
    }
}

/// A job check: the `job` mode plans the task (artifacts, command, env, user, run
/// semantics from the jobspec); the spec adds only client settings.
fn job_plan(
    c: &Check,
    file: &std::path::Path,
    task: Option<&str>,
    artifacts: &[(String, std::path::PathBuf)],
) -> Result<Plan, String> {
    if let CheckKind::Command { .. } = c.kind {
        return Err(
            "a job check runs the task's own command from the jobspec: leave out `command` (and exit_code, stdout, stderr, service)".into(),
        );
    }
    let s = &c.settings;
    let mut argv: Vec<OsString> = vec!["nomad-chroot-check".into(), "job".into()];
    let mut flag = |k: &str, v: &str| argv.push(format!("--{k}={v}").into());
    if let Some(t) = task {
        flag("task-name", t);
    }
    for (src, local) in artifacts {
        flag("artifact", &format!("{src}={}", local.display()));
    }
    client_flags(s, &mut flag);
    if let Some(t) = &s.timeout {
        flag("timeout", t);
    }
    if s.no_run {
        argv.push("--no-run".into());
    }
    argv.push(
        std::path::absolute(file)
            .unwrap_or_else(|_| file.to_owned())
            .into(),
    );
    let cli = Cli::try_parse_from(&argv).map_err(|e| e.render().to_string())?;
    let Some(crate::cli::Command::Job(args)) = cli.command else {
        return Err("internal error: the job arguments did not parse as `job`".into());
    };
    let mut plan = crate::job::plan(&args).map_err(|e| e.to_string())?;
    let names: Vec<String> = plan
        .tasks
        .iter()
        .map(|t| t.opts.task.name.clone())
        .collect();
    let index = match task {
        Some(t) => names.iter().position(|n| n == t),
        None if names.len() == 1 => Some(0),
        None => None,
    };
    let Some(index) = index else {
        return Err(format!(
            "the job has exec tasks {}: name one with `task = \"…\"`",
            names.join(", ")
        ));
    };
    Ok(Plan::Job {
        planned: Box::new(plan.tasks.swap_remove(index)),
        _downloads: plan.downloads.take(),
    })
}

/// What makes two checks able to share one unpacked task dir.
fn cache_key(o: &CheckOptions) -> String {
    format!(
        "{:?}|{:?}|{:?}|{}|{}|{:?}|{:?}",
        o.artifacts, o.extract, o.chroot_env, o.nomad_version, o.task.name, o.limits, o.safety
    )
}

impl Ctx {
    fn run_trial(&self, i: usize) -> Result<(), Failed> {
        let start = Instant::now();
        let (outcome, report) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.execute(i)))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| p.downcast_ref::<&str>().copied())
                        .unwrap_or("(no message)");
                    (
                        Outcome::CouldNotRun(format!("internal error: panicked: {msg}")),
                        None,
                    )
                });
        self.release(i);
        self.progress.done_one();
        // A file check's report only says how the bundle unpacked: show it when that
        // is what went wrong.
        let is_file = matches!(self.spec.checks[i].kind, CheckKind::File { .. });
        let message = output::failure_text(&outcome).map(|mut m| {
            if let Some(r) = report
                .as_ref()
                .filter(|r| !is_file || r.verdict != crate::finding::Verdict::Pass)
            {
                let mut text = Vec::new();
                if crate::report::render(r, crate::cli::Format::Text, &mut text).is_ok() {
                    m.push_str("\n\nthe bundle's report:\n");
                    m.push_str(&String::from_utf8_lossy(&text));
                }
            }
            m
        });
        lock(&self.results)[i] = Some(Record {
            outcome,
            report,
            duration: start.elapsed(),
        });
        match message {
            None => Ok(()),
            Some(m) => Err(m.into()),
        }
    }

    fn execute(&self, i: usize) -> (Outcome, Option<crate::finding::Report>) {
        let check = &self.spec.checks[i];
        let (opts, key) = match (&self.plans[i], &self.keys[i]) {
            (Plan::Ready(o), Some(k)) => (o.as_ref(), k),
            // Job checks other than file checks are the `job` mode's own check of the
            // task, job-level findings included.
            (Plan::Job { planned, .. }, _) if !matches!(check.kind, CheckKind::File { .. }) => {
                self.progress.message(format!("checking {}", check.name));
                return evaluate(check, Ok(crate::job::check_task(planned)));
            }
            (Plan::Job { planned, .. }, Some(k)) => (&planned.opts, k),
            (plan, _) => return (Outcome::CouldNotRun(why_or(plan)), None),
        };
        let shared = Arc::clone(lock(&self.cache).entry(key.clone()).or_default());
        let prepared = shared.get_or_init(|| {
            self.progress
                .message(format!("unpacking {}", bundle_name(check)));
            tracing::debug!(bundle = %bundle_name(check), check = %check.name, "unpacking the bundle for every check that shares it");
            check::prepare(opts)
                .map(|prepared| {
                    let unpacked = tree_paths(&prepared.taskdir.alloc_dir);
                    Mutex::new(SharedDir { prepared, unpacked })
                })
                .map_err(CheckError::from)
        });
        let shared = match prepared {
            Ok(p) => lock(p),
            Err(e) => {
                return match &check.kind {
                    CheckKind::File { .. } => evaluate_file(check, Err(e.clone())),
                    _ => evaluate(check, Err(e.clone())),
                };
            }
        };
        let prepared = &shared.prepared;
        self.progress.message(format!("checking {}", check.name));
        match &check.kind {
            CheckKind::File {
                path,
                exists,
                mode,
                content,
            } => {
                let mut report = prepared.report.clone();
                report.task = check::task_info(opts, &Default::default());
                report.settle_verdict();
                let failures =
                    check_file(&prepared.taskdir, path, *exists, *mode, content.as_ref());
                evaluate_file(check, Ok((report, failures)))
            }
            _ => {
                let result = check::finish(prepared, opts).map_err(CheckError::from);
                if check.runs() {
                    restore(&prepared.taskdir.alloc_dir, &shared.unpacked);
                }
                evaluate(check, result)
            }
        }
    }

    /// One check of this task dir is done; remove the dir after the last one.
    fn release(&self, i: usize) {
        let Some(key) = &self.keys[i] else { return };
        let mut pending = lock(&self.pending);
        if let Some(n) = pending.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pending.remove(key);
                lock(&self.cache).remove(key);
            }
        }
    }
}

fn why_or(plan: &Plan) -> String {
    match plan {
        Plan::Ready(_) | Plan::Job { .. } => "internal error: no task dir for this check".into(),
    }
}

fn bundle_name(c: &Check) -> String {
    match &c.target {
        Target::Bundle { display, .. } => display.clone(),
        Target::Job { file, .. } => file.display().to_string(),
    }
}

/// Every path under `dir`, links not followed.
fn tree_paths(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.insert(p);
        }
    }
    out
}

/// Put a shared task dir back as it was unpacked, so the next check of the same bundle
/// sees what a fresh allocation would: a run leaves its logs in `alloc/logs`, the
/// mount points the sandbox made (an empty `etc/passwd` for a chroot_env file, `dev/`,
/// `proc/`) and whatever the task wrote. An empty mount point left in the task dir
/// hides the chroot_env file behind it from the next check's analysis (the artifact
/// wins over chroot_env), which made findings depend on which checks ran before.
/// Files the task changed in place are not restored.
fn restore(dir: &Path, unpacked: &BTreeSet<PathBuf>) {
    let now = tree_paths(dir);
    let new: Vec<&PathBuf> = now.difference(unpacked).collect();
    // Deepest first: a new directory is emptied before it is removed.
    for p in new.into_iter().rev() {
        let removed = match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir(p),
            Ok(_) => std::fs::remove_file(p),
            Err(_) => continue,
        };
        if let Err(e) = removed {
            tracing::warn!(path = %p.display(), error = %e, "cannot remove what a run left in a shared task dir");
        }
    }
}
