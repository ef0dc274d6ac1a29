//! Static self-containment analysis: everything the task needs, resolved inside the
//! emulated chroot (through [`crate::rootfs`] only), each problem reported with the
//! chain that needed it, the error Nomad shows for it (§5.4) and the fix.
//!
//! The order is Nomad's: the host-side command lookup ([`lookup`]), runc's in-chroot
//! `LookPath`, then what `execve` and the loader follow ([`closure`]: `#!` lines,
//! `PT_INTERP`, `DT_NEEDED` with the loader's own search rules, symbol versions), then
//! the Nix store references extraction recorded ([`store`]) and environment lints
//! ([`lints`]). Nothing here writes or executes anything.

pub mod closure;
pub mod elf;
pub mod lints;
pub mod loader;
pub mod lookup;
pub mod perms;
pub mod shebang;
pub mod store;
pub mod tree;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

use crate::archive::ExtractSummary;
use crate::config::TaskSpec;
use crate::finding::{Cause, Finding, HostDependency, Kind, RootCause, Severity};
use crate::nomad::NomadVersion;
use crate::rootfs::{Resolved, RootFs};
use crate::taskdir::TaskDir;

use self::closure::{Collected, Walker};
use self::elf::{ElfError, ElfInfo};
use self::loader::{CacheEntry, LoaderConfig};
use self::perms::Creds;

pub struct AnalyzeInput<'a> {
    pub taskdir: &'a TaskDir,
    /// What unpacking found (links flattened, store references), merged over artifacts.
    pub extract: &'a ExtractSummary,
    pub task: &'a TaskSpec,
    /// The task's environment (taskenv::build).
    pub env: &'a BTreeMap<String, String>,
    pub version: NomadVersion,
    /// Who the task runs as, for permission checks.
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Default)]
pub struct Analysis {
    /// argv[0] as Nomad passes it to runc (`/local/app`), when the lookup succeeds.
    pub resolved_command: Option<String>,
    /// The chmod Nomad's executor makes to the command before starting it (host path in
    /// the work dir, new mode), when it changes anything; a run applies it.
    pub make_executable: Option<(PathBuf, u32)>,
    pub findings: Vec<Finding>,
    /// Root causes, worst first, one line each.
    pub summary: Vec<String>,
    /// The static check proves the task cannot start (running adds nothing).
    pub start_blocked: bool,
    /// The entrypoints analysed (the command, or every executable of the bundle).
    pub roots: Vec<String>,
    /// Files of the closure that come from this host through chroot_env.
    pub host_dependencies: Vec<HostDependency>,
    /// Causes behind several findings (findings name them in `root_cause`).
    pub root_causes: Vec<RootCause>,
}

/// Shared state of one analysis: the root, the task's credentials and cwd, and caches
/// so each file is parsed once however many programs use it.
pub struct Ctx<'a> {
    pub input: &'a AnalyzeInput<'a>,
    pub fs: RootFs,
    pub creds: Creds,
    /// runc's cwd: `work_dir`, else `/` (§3.5).
    pub cwd: String,
    /// By the file's task path (its host path is not unique to it: the model's files
    /// have none).
    elf_cache: RefCell<HashMap<String, Rc<Result<ElfInfo, ElfError>>>>,
    loader_cache: RefCell<HashMap<String, Rc<LoaderConfig>>>,
    ld_cache: RefCell<HashMap<String, Option<Rc<Vec<CacheEntry>>>>>,
}

impl<'a> Ctx<'a> {
    pub fn new(input: &'a AnalyzeInput<'a>) -> Self {
        Ctx {
            input,
            fs: RootFs::new(input.taskdir),
            creds: Creds {
                uid: input.uid,
                gid: input.gid,
            },
            cwd: input.task.work_dir.clone().unwrap_or_else(|| "/".into()),
            elf_cache: RefCell::new(HashMap::new()),
            loader_cache: RefCell::new(HashMap::new()),
            ld_cache: RefCell::new(HashMap::new()),
        }
    }

    /// The ELF parse of a resolved file.
    pub fn elf(&self, r: &Resolved) -> Rc<Result<ElfInfo, ElfError>> {
        if let Some(e) = self.elf_cache.borrow().get(&r.task_path) {
            return e.clone();
        }
        let e = Rc::new(match self.fs.elf(r) {
            Some((info, _)) => (*info).clone(),
            None => Err(ElfError::Io("not a file".into())),
        });
        self.elf_cache
            .borrow_mut()
            .insert(r.task_path.clone(), e.clone());
        e
    }

    pub fn loader_config(
        &self,
        interp: &str,
        task_path: &str,
        info: &ElfInfo,
        file: Option<&Resolved>,
    ) -> Rc<LoaderConfig> {
        let key = format!("{interp}\0{task_path}");
        if let Some(c) = self.loader_cache.borrow().get(&key) {
            return c.clone();
        }
        let strings = file.map(|r| self.fs.loader_strings(r)).unwrap_or_default();
        let c = Rc::new(LoaderConfig::new(interp, task_path, info, &strings));
        self.loader_cache.borrow_mut().insert(key, c.clone());
        c
    }

    /// The loader's cache file *inside the root*, parsed once.
    pub fn ld_cache(&self, path: &str) -> Option<Rc<Vec<CacheEntry>>> {
        if let Some(c) = self.ld_cache.borrow().get(path) {
            return c.clone();
        }
        let c = self
            .fs
            .resolve(path)
            .ok()
            .and_then(|r| self.fs.read(&r))
            .map(|b| Rc::new(loader::parse_ld_cache(&b)));
        self.ld_cache
            .borrow_mut()
            .insert(path.to_owned(), c.clone());
        c
    }
}

pub fn analyze(input: &AnalyzeInput<'_>) -> Analysis {
    let ctx = Ctx::new(input);
    let mut out = Analysis::default();
    let mut w = Walker::new(&ctx);
    match input.task.command.as_deref() {
        Some(cmd) => {
            let lk = lookup::lookup(&ctx, cmd);
            out.resolved_command = lk.argv0.clone();
            out.make_executable = lk.chmod.clone();
            out.start_blocked = lk.argv0.is_none() || lk.runc_failed;
            for f in lk.findings {
                w.add(f);
            }
            if let (Some(argv0), false) = (&lk.argv0, lk.runc_failed) {
                w.root(argv0, lk.made_executable);
                out.roots.push(argv0.clone());
            }
        }
        None => {
            for root in executable_roots(&ctx) {
                w.root(&root, true);
                out.roots.push(root);
            }
        }
    }

    let scope = store::scope_closure(&w.scope, &input.extract.store_refs);
    let store_findings = store::check_refs(
        &ctx.fs,
        &input.extract.store_refs,
        &scope,
        &w.scope,
        &w.chains,
    );
    let mut lint_findings = lints::lint(&ctx, &w);
    out.host_dependencies = w.host_deps.values().cloned().collect();
    lint_findings.extend(host_dependency_finding(&out.host_dependencies));
    for f in store_findings {
        w.add(f);
    }
    let mut collected = w.into_findings();
    explain_store_refs(&mut collected);
    collected.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then(a.finding.kind.cmp(&b.finding.kind))
            .then(a.finding.path.cmp(&b.finding.path))
    });

    if input.task.command.is_some() {
        if let Some(argv0) = &out.resolved_command {
            let prefix = format!("exec {argv0}: ");
            out.start_blocked |= collected.iter().any(|c| {
                c.finding.severity == Severity::Error
                    && c.finding
                        .nomad_error
                        .as_deref()
                        .is_some_and(|e| e.starts_with(&prefix))
            });
        }
        out.start_blocked |= lint_findings
            .iter()
            .any(|f| f.severity == Severity::Error && f.nomad_error.is_some());
    }
    borrow_nomad_errors(&mut collected);
    out.root_causes = misplaced_under_destination(&ctx, &mut collected);
    out.summary = out.root_causes.iter().map(|c| c.message.clone()).collect();
    out.summary.extend(summarize(
        &collected
            .iter()
            .filter(|c| c.finding.root_cause.is_none())
            .collect::<Vec<_>>(),
        &lint_findings,
    ));
    out.findings = collected.into_iter().map(|c| c.finding).collect();
    out.findings.extend(lint_findings);
    out
}

/// One cause, one error: a missing store path already reported as the place of a missing
/// interpreter, library or script (with what Nomad says) is not a second error.
fn explain_store_refs(collected: &mut [Collected]) {
    let explained: BTreeSet<String> = collected
        .iter()
        .filter(|c| {
            c.finding.severity == Severity::Error && c.finding.cause != Cause::StoreReference
        })
        .filter_map(|c| store::store_path_of(&c.finding.path))
        .collect();
    for c in collected.iter_mut() {
        let f = &mut c.finding;
        if f.cause == Cause::StoreReference
            && f.severity == Severity::Error
            && explained.contains(&f.path)
        {
            f.severity = Severity::Info;
            if let Some(m) = &mut f.message {
                m.push_str("; the error that needs it is reported with its path");
            }
        }
    }
}

/// A missing store path shows on the client as the error of the first thing that needs
/// a file in it (a loader's message, an `exec` failure): its finding says the same.
/// Without one, Nomad reports nothing of its own and `nomad_error` stays `null`.
fn borrow_nomad_errors(collected: &mut [Collected]) {
    let errors: Vec<(String, String, Option<i32>)> = collected
        .iter()
        .filter(|c| c.finding.cause != Cause::StoreReference)
        .filter_map(|c| {
            let f = &c.finding;
            Some((
                store::store_path_within(&f.path)?,
                f.nomad_error.clone()?,
                f.exit_code,
            ))
        })
        .collect();
    for c in collected.iter_mut() {
        let f = &mut c.finding;
        if f.cause != Cause::StoreReference || f.nomad_error.is_some() {
            continue;
        }
        if let Some((_, e, code)) = errors.iter().find(|(sp, _, _)| *sp == f.path) {
            f.nomad_error = Some(e.clone());
            f.exit_code = *code;
        }
    }
}

/// The [`RootCause::id`] of absolute paths unpacked under the destination.
pub const DESTINATION_ROOT_CAUSE: &str = "destination";

/// Where an artifact can put absolute paths instead of where they are named.
const MISPLACED_UNDER: &[&str] = &["/local", "/alloc/data", "/alloc"];

/// The one cause behind many findings: absolute paths the task needs (`/nix/store/…`,
/// `/bin/sh`) are in the bundle, but under the artifact's destination (`/local/nix/
/// store/…`), because go-getter joins every member name to the destination. Each
/// finding it explains is marked, and the cause is said once.
fn misplaced_under_destination(ctx: &Ctx<'_>, collected: &mut [Collected]) -> Vec<RootCause> {
    const ID: &str = DESTINATION_ROOT_CAUSE;
    let mut first: Option<(String, String, bool)> = None;
    let mut n = 0usize;
    let mut prefixes: BTreeSet<&str> = BTreeSet::new();
    for c in collected.iter_mut() {
        let f = &mut c.finding;
        if f.kind != Kind::Missing || !f.path.starts_with('/') {
            continue;
        }
        let missing = store::store_path_of(&f.path).unwrap_or_else(|| f.path.clone());
        let Some(prefix) = MISPLACED_UNDER.iter().find(|p| {
            !missing.starts_with(&format!("{p}/"))
                && ctx.fs.resolve_nofollow(&format!("{p}{missing}")).is_ok()
        }) else {
            continue;
        };
        f.root_cause = Some(ID);
        n += 1;
        prefixes.insert(prefix);
        // The example: something the task execs or loads rather than a reference.
        let is_ref = f.cause == Cause::StoreReference;
        if first.as_ref().is_none_or(|(_, _, r)| *r && !is_ref) {
            first = Some((missing.clone(), format!("{prefix}{missing}"), is_ref));
        }
    }
    let Some((named, there, _)) = first else {
        return Vec::new();
    };
    let under = prefixes.into_iter().collect::<Vec<_>>().join(" and ");
    vec![RootCause {
        id: ID,
        message: format!(
            "the bundle's absolute paths were unpacked under {under} instead of where they are named (e.g. {named} is at {there})"
        ),
        hint: "set the artifact's `destination = \"/\"`: go-getter joins every member name, absolute ones too, to the destination (the default `local/` puts /nix/store at /local/nix/store)".into(),
        findings: n,
    }]
}

/// One warning for every file of the closure this host provides: the verdict holds only
/// on Nomad clients that have the same files, with the same ABI.
fn host_dependency_finding(deps: &[HostDependency]) -> Option<Finding> {
    let first = deps
        .iter()
        .find(|d| d.role == "interpreter")
        .or_else(|| deps.first())?;
    let names: Vec<&str> = deps.iter().take(4).map(|d| d.path.as_str()).collect();
    let more = deps.len().saturating_sub(names.len());
    Some(
        Finding::warning(Kind::Environment, Cause::HostDependency, first.path.clone())
            .needed_by(first.needed_by.clone())
            .message(format!(
                "{} file{} the task runs or loads come{} from this host through chroot_env ({}{}): the check passes here only because this host has them, and every Nomad client must have the same files with the same ABI",
                deps.len(),
                if deps.len() == 1 { "" } else { "s" },
                if deps.len() == 1 { "s" } else { "" },
                names.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ))
            .hint("ship them in the bundle (a Nix closure has its own glibc), or check with the clients' real chroot_env (--client-config, or --chroot-env with only the /etc entries they provide)"),
    )
}

/// Without a command: every executable ELF program and script in the task dir and the
/// shared alloc dir (what extraction put there). Shared libraries (`ET_DYN` without
/// `PT_INTERP`) are not entrypoints: they are checked as part of the programs that
/// load them, where their search path is the program's.
pub fn executable_roots(ctx: &Ctx<'_>) -> Vec<String> {
    let mut roots = Vec::new();
    let taskdir = ctx.input.taskdir;
    for (task_path, mode) in ctx.fs.files(&taskdir.root, &taskdir.shared_alloc()) {
        consider(ctx, &task_path, mode, &mut roots);
    }
    roots.sort();
    roots
}

fn consider(ctx: &Ctx<'_>, task_path: &str, mode: u32, roots: &mut Vec<String>) {
    if mode & 0o111 == 0 {
        return;
    }
    let Ok(r) = ctx.fs.resolve_nofollow(task_path) else {
        return;
    };
    let Some(head) = ctx.fs.head(&r, 4) else {
        return;
    };
    match elf::sniff(&head) {
        elf::Sniff::Script => roots.push(task_path.to_owned()),
        elf::Sniff::Elf => {
            if let Ok(info) = ctx.elf(&r).as_ref() {
                // A PIE has PT_INTERP and no DT_SONAME; libc.so.6 has both (it is
                // runnable, but it is a library).
                let program = info.e_type == object::elf::ET_EXEC
                    || (info.e_type == object::elf::ET_DYN
                        && info.soname.is_none()
                        && (info.interp.is_some()
                            || info.pie
                            || !elf::host_machines().contains(&info.machine)));
                if program {
                    roots.push(task_path.to_owned());
                }
            }
        }
        _ => {}
    }
}

/// The one or two root causes: missing things grouped by the store path they belong
/// to ("glibc-2.40 is not in the bundle: 14 binaries need it"), then the rest.
fn summarize(collected: &[&Collected], lints: &[Finding]) -> Vec<String> {
    struct Group<'f> {
        programs: BTreeSet<String>,
        referrers: BTreeSet<String>,
        first: &'f Finding,
    }
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    for c in collected {
        let f = &c.finding;
        if f.severity != Severity::Error {
            continue;
        }
        let g = groups.entry(group_key(f)).or_insert(Group {
            programs: BTreeSet::new(),
            referrers: BTreeSet::new(),
            first: f,
        });
        // A store reference's "roots" are the files naming it, not programs.
        if f.cause == Cause::StoreReference {
            g.referrers.extend(f.needed_by.iter().cloned());
        } else {
            g.programs.extend(c.roots.iter().cloned());
        }
    }
    let mut lines: Vec<(usize, String)> = groups
        .into_iter()
        .map(|(key, g)| {
            let n = g.programs.len();
            let who = match (n, g.programs.iter().next()) {
                (1, Some(p)) => format!("{p} needs it"),
                (0, _) => {
                    let k = g.referrers.len();
                    format!(
                        "{k} file{} of the bundle name{} it",
                        if k == 1 { "" } else { "s" },
                        if k == 1 { "s" } else { "" }
                    )
                }
                _ => format!("{n} programs need it"),
            };
            let f = g.first;
            let line = if let Some(sp) = store::store_path_of(&key) {
                format!(
                    "{} is not in the bundle: {who} ({sp})",
                    store::store_name(&sp)
                )
            } else if f.cause == Cause::Command && f.kind == Kind::Missing {
                format!(
                    "the command is not found: {}",
                    f.nomad_error.as_deref().unwrap_or(&f.path)
                )
            } else {
                let what = f.message.as_deref().unwrap_or(&f.path);
                format!("{what} ({who})")
            };
            (n.max(1), line)
        })
        .collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.0));
    let total = lines.len();
    let mut out: Vec<String> = lines.into_iter().take(2).map(|(_, l)| l).collect();
    if total > 2 {
        out.push(format!(
            "…and {} more problem{} (see findings)",
            total - 2,
            if total == 3 { "" } else { "s" }
        ));
    }
    for l in lints.iter().filter(|f| f.severity == Severity::Error) {
        out.push(l.message.clone().unwrap_or_else(|| l.path.clone()));
    }
    out
}

/// The store path a finding is about (its path, or the store path its fix adds).
fn group_key(f: &Finding) -> String {
    if let Some(sp) = store::store_path_within(&f.path) {
        if f.kind == Kind::Missing || f.cause == Cause::EmptyFile {
            return sp;
        }
    }
    if let Some(sp) = f
        .hint
        .as_deref()
        .and_then(|h| h.strip_prefix("add "))
        .and_then(|h| h.split_whitespace().next())
        .and_then(store::store_path_of)
    {
        return sp;
    }
    format!("{:?}/{:?}/{}", f.kind, f.cause, f.path)
}
