//! Everything one `execve` needs, followed the way the kernel and the loader follow it:
//! the file, its `#!` interpreters (recursively, `env` included), the ELF program
//! interpreter and the libraries it loads. Each problem becomes one finding with the
//! error text Nomad shows for it (§5.4).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::Ctx;
use super::elf::{self, ElfError, Sniff};
use super::loader::{self, LoaderConfig, LoaderKind, Problem, Process};
use super::perms::{self, EXEC, READ};
use super::shebang::{self, ShebangError};
use super::store;
use crate::finding::{Cause, Finding, HostDependency, Kind};
use crate::rootfs::{self, Origin, ResolveError, ResolveErrorKind, Resolved};

/// Who called `execve`, which decides the text and the exit status of a failure.
#[derive(Debug, Clone)]
pub enum Exec {
    /// runc's init (`exec <argv0>: <errno>`, §5.3).
    Runc { argv0: String },
    /// coreutils `env` running a `#!/usr/bin/env NAME` program.
    Env { env_argv0: String, name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Errno {
    Enoent,
    Enotdir,
    Eloop,
    Eacces,
    Enoexec,
    Eio,
    Elibbad,
}

impl Errno {
    fn text(self) -> &'static str {
        match self {
            Errno::Enoent => "no such file or directory",
            Errno::Enotdir => "not a directory",
            Errno::Eloop => "too many levels of symbolic links",
            Errno::Eacces => "permission denied",
            Errno::Enoexec => "exec format error",
            Errno::Eio => "input/output error",
            Errno::Elibbad => "accessing a corrupted shared library",
        }
    }

    /// glibc's `strerror`, as `env` prints it.
    fn c_text(self) -> &'static str {
        match self {
            Errno::Enoent => "No such file or directory",
            Errno::Enotdir => "Not a directory",
            Errno::Eloop => "Too many levels of symbolic links",
            Errno::Eacces => "Permission denied",
            Errno::Enoexec => "Exec format error",
            Errno::Eio => "Input/output error",
            Errno::Elibbad => "Accessing a corrupted shared library",
        }
    }

    fn from_resolve(e: &ResolveError) -> Errno {
        match e.kind {
            ResolveErrorKind::NotFound => Errno::Enoent,
            ResolveErrorKind::NotDir => Errno::Enotdir,
            ResolveErrorKind::Loop => Errno::Eloop,
        }
    }
}

/// A finding plus the roots (entrypoints) that hit it, for the summary.
pub struct Collected {
    pub finding: Finding,
    pub roots: BTreeSet<String>,
}

pub struct Walker<'c, 'a> {
    pub ctx: &'c Ctx<'a>,
    /// Keyed by (kind, cause, path): each problem once, with its shortest chain.
    pub found: BTreeMap<(Kind, Cause, String), Collected>,
    /// Every file the analysed closure uses (task paths, resolved and as named).
    pub scope: BTreeSet<String>,
    /// The first glibc process seen, for the nsswitch and locale lints.
    pub primary: Option<(Rc<LoaderConfig>, Process)>,
    /// Whether any ELF in the closure is dynamically linked.
    pub any_dynamic: bool,
    /// Loaded library names, for the CA-bundle lint.
    pub loaded_names: BTreeSet<String>,
    /// The shortest chain (entrypoint first) to each file of `scope`, the file itself
    /// excluded: what a finding about a file the closure uses names as `needed_by`.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Files of the closure that come from this host through chroot_env, by task path.
    pub host_deps: BTreeMap<String, HostDependency>,
    root: String,
}

impl<'c, 'a> Walker<'c, 'a> {
    pub fn new(ctx: &'c Ctx<'a>) -> Self {
        Walker {
            ctx,
            found: BTreeMap::new(),
            scope: BTreeSet::new(),
            primary: None,
            any_dynamic: false,
            loaded_names: BTreeSet::new(),
            host_deps: BTreeMap::new(),
            chains: BTreeMap::new(),
            root: String::new(),
        }
    }

    /// `path` is used by the closure, reached through `chain`.
    fn uses(&mut self, path: &str, chain: &[String]) {
        self.scope.insert(path.to_owned());
        match self.chains.get(path) {
            Some(c) if c.len() <= chain.len() => {}
            _ => {
                self.chains.insert(path.to_owned(), chain.to_vec());
            }
        }
    }

    /// Note `r` as a host dependency when chroot_env provides it.
    fn host_dep(&mut self, r: &Resolved, role: &'static str, chain: &[String]) {
        let Origin::ChrootEnv { .. } = r.origin else {
            return;
        };
        let Some(host) = &r.host else { return };
        let dep = HostDependency {
            path: r.task_path.clone(),
            host_path: host.display().to_string(),
            role,
            needed_by: chain.to_vec(),
        };
        match self.host_deps.get(&r.task_path) {
            Some(d) if d.needed_by.len() <= dep.needed_by.len() => {}
            _ => {
                self.host_deps.insert(r.task_path.clone(), dep);
            }
        }
    }

    pub fn add(&mut self, f: Finding) {
        let key = (f.kind, f.cause, f.path.clone());
        let root = f
            .needed_by
            .first()
            .cloned()
            .unwrap_or_else(|| f.path.clone());
        let root = if self.root.is_empty() {
            root
        } else {
            self.root.clone()
        };
        match self.found.get_mut(&key) {
            Some(c) => {
                if f.needed_by.len() < c.finding.needed_by.len() {
                    c.finding = f;
                }
                c.roots.insert(root);
            }
            None => {
                self.found.insert(
                    key,
                    Collected {
                        finding: f,
                        roots: BTreeSet::from([root]),
                    },
                );
            }
        }
    }

    fn exec_error(&self, exec: &Exec, errno: Errno) -> (String, i32) {
        match exec {
            Exec::Runc { argv0 } => (
                format!("exec {argv0}: {}", errno.text()),
                self.ctx.input.version.exec_failure_exit_code(),
            ),
            // coreutils env.c: `error (0, errno, "%s", quote (argv[optind]))`, exit
            // 127 for ENOENT and 126 otherwise.
            Exec::Env { env_argv0, name } => (
                format!("{env_argv0}: '{name}': {}", errno.c_text()),
                if errno == Errno::Enoent { 127 } else { 126 },
            ),
        }
    }

    fn with_exec(&self, f: Finding, exec: &Exec, errno: Errno) -> Finding {
        let (text, code) = self.exec_error(exec, errno);
        f.nomad_error(text).exit_code(code)
    }

    /// Check one root: `argv0` exec'd by runc. `made_executable`: Nomad's
    /// `makeExecutable` added `0555` to this file (§5.2).
    pub fn root(&mut self, argv0: &str, made_executable: bool) {
        self.root = argv0.to_owned();
        let exec = Exec::Runc {
            argv0: argv0.to_owned(),
        };
        self.exec(&exec, argv0, &[], 0, made_executable, Cause::Command, argv0);
        self.root.clear();
    }

    /// A note about a flattened link on this path, if extraction recorded one.
    fn flattened(&self, paths: &[&str]) -> Option<(String, String)> {
        let links = &self.ctx.input.extract.links;
        paths.iter().find_map(|p| {
            links
                .get(*p)
                .map(|l| (l.task_path.clone(), l.target.clone()))
        })
    }

    fn flatten_hint(link: &str, target: &str, hard: bool) -> (String, String) {
        (
            format!(
                "{link} was a {} to `{target}` in the archive; Nomad's unpacker (go-getter) writes links as empty regular files",
                if hard { "hard link" } else { "symlink" }
            ),
            "build the archive with links dereferenced (`tar -h --hard-dereference …`, as the nomad-with-nix example does), or ship a regular file".into(),
        )
    }

    /// Turn a failed lookup into a finding (cause by role, or `symlink` when a link
    /// dangles or loops on the way).
    fn resolve_failure(
        &self,
        path: &str,
        e: &ResolveError,
        role: Cause,
        chain: &[String],
    ) -> Finding {
        let mut cause = if e.links.is_empty() {
            role
        } else {
            Cause::Symlink
        };
        if e.kind == ResolveErrorKind::Loop {
            cause = Cause::Symlink;
        }
        let what = match role {
            Cause::Interpreter => "ELF interpreter",
            Cause::Shebang => "#! interpreter",
            Cause::Library => "library",
            _ => "command",
        };
        let mut msg = match e.kind {
            ResolveErrorKind::NotFound => {
                format!(
                    "{what} {path} does not exist in the task's root ({} is missing)",
                    e.component
                )
            }
            ResolveErrorKind::NotDir => format!(
                "{what} {path} cannot be reached: {} is not a directory",
                e.component
            ),
            ResolveErrorKind::Loop => format!(
                "{what} {path}: more than {} symbolic links (loop)",
                rootfs::MAX_SYMLINKS
            ),
        };
        if !e.links.is_empty() && e.kind != ResolveErrorKind::Loop {
            msg.push_str(&format!("; links followed: {}", e.describe_links()));
        }
        let mut hint =
            match store::store_path_of(&e.component).or_else(|| store::store_path_of(path)) {
                Some(sp) => {
                    let owner = chain
                        .last()
                        .and_then(|c| store::store_path_within(c))
                        .map(|s| store::store_name(&s).to_owned());
                    store::fix_hint(&self.ctx.fs, &sp, owner.as_deref())
                }
                None => format!(
                    "ship {path} in the bundle, or add its directory to the client's chroot_env"
                ),
            };
        if e.kind == ResolveErrorKind::NotDir {
            if let Some((l, t)) = self.flattened(&[e.component.as_str()]) {
                let (m, h) = Self::flatten_hint(&l, &t, false);
                msg.push_str(&format!("; {m}"));
                hint = h;
            }
        }
        let shown_path = if cause == Cause::Symlink {
            path.to_owned()
        } else {
            e.component.clone()
        };
        let shown_path = if role == Cause::Library || cause == Cause::Symlink {
            shown_path
        } else {
            path.to_owned()
        };
        Finding::error(Kind::Missing, cause, shown_path)
            .needed_by(chain.to_vec())
            .message(msg)
            .hint(hint)
            .on_host(std::path::Path::new(path).exists())
    }

    /// Permission checks the kernel makes for an exec (`may_open` with `MAY_EXEC`,
    /// `path_noexec`), returning the finding if one fails.
    fn exec_permission(
        &self,
        r: &Resolved,
        path: &str,
        made_executable: bool,
        chain: &[String],
    ) -> Option<(Finding, Errno)> {
        let creds = self.ctx.creds;
        if let Some((dir, st)) = r.dirs.iter().find(|(_, st)| !creds.may(st, EXEC)) {
            return Some((
                Finding::error(Kind::Permission, Cause::NotSearchable, dir.clone())
                    .needed_by(chain.to_vec())
                    .message(format!(
                        "directory {dir} (mode {}, owner {}:{}) is not searchable by the task's {} on the way to {path}",
                        perms::mode_str(st), st.uid, st.gid, creds.describe()
                    ))
                    .hint(format!("make {dir} world-searchable (chmod a+x) in the bundle")),
                Errno::Eacces,
            ));
        }
        if let Some(m) = perms::noexec_mount(&r.task_path, self.ctx.input.version) {
            return Some((
                Finding::error(Kind::Permission, Cause::Noexec, r.task_path.clone())
                    .needed_by(chain.to_vec())
                    .message(format!(
                        "{} is on {m}, which the exec driver mounts noexec",
                        r.task_path
                    ))
                    .hint(format!(
                        "unpack executables outside {m} (e.g. destination = \"local/\")"
                    )),
                Errno::Eacces,
            ));
        }
        let mut st = r.stat;
        if made_executable {
            st.mode |= 0o555;
        }
        if !st.is_file() || !creds.may(&st, EXEC) {
            return Some((
                Finding::error(Kind::Permission, Cause::NotExecutable, r.task_path.clone())
                    .needed_by(chain.to_vec())
                    .message(format!(
                        "{} (mode {}, owner {}:{}) is not executable by the task's {}; Nomad only adds +x to the command itself",
                        r.task_path, perms::mode_str(&r.stat), r.stat.uid, r.stat.gid, creds.describe()
                    ))
                    .hint(format!("chmod 0555 {} in the bundle", r.task_path)),
                Errno::Eacces,
            ));
        }
        None
    }

    /// Follow one exec of `path` (named `path` by whoever execs it).
    #[expect(clippy::too_many_arguments)]
    fn exec(
        &mut self,
        exec: &Exec,
        path: &str,
        chain: &[String],
        depth: usize,
        made_executable: bool,
        role: Cause,
        loader_argv0: &str,
    ) {
        let ctx = self.ctx;
        self.uses(path, chain);
        let r = match resolve_exec(ctx, path) {
            Ok(r) => r,
            Err(e) => {
                tracing::trace!(path, missing = %e.component, "exec: not found");
                let f = self.resolve_failure(path, &e, role, chain);
                let f = self.with_exec(f, exec, Errno::from_resolve(&e));
                self.add(f);
                return;
            }
        };
        self.uses(&r.task_path, chain);
        tracing::trace!(path, resolved = %r.task_path, origin = ?r.origin, links = r.links.len(), "exec");
        let role = if role == Cause::Command {
            "program"
        } else {
            "script-interpreter"
        };
        self.host_dep(&r, role, chain);
        if let Some((f, errno)) = self.exec_permission(&r, path, made_executable, chain) {
            let f = self.with_exec(f, exec, errno);
            self.add(f);
            return;
        }
        let mut here: Vec<String> = chain.to_vec();
        here.push(path.to_owned());
        if r.task_path != path {
            here.push(r.task_path.clone());
        }
        let Some(head) = ctx.fs.head(&r, shebang::BINPRM_BUF_SIZE) else {
            return;
        };
        match elf::sniff(&head) {
            Sniff::Empty => {
                let link_paths: Vec<&str> = std::iter::once(path)
                    .chain(r.links.iter().map(|l| l.link.as_str()))
                    .chain(std::iter::once(r.task_path.as_str()))
                    .collect();
                let mut f = Finding::error(Kind::ExecFormat, Cause::EmptyFile, r.task_path.clone())
                    .needed_by(chain.to_vec());
                match self.flattened(&link_paths) {
                    Some((l, t)) => {
                        let hard = ctx.input.extract.links.get(&l).is_some_and(|e| e.hard);
                        let (m, h) = Self::flatten_hint(&l, &t, hard);
                        f = f.message(format!("{} is empty: {m}", r.task_path)).hint(h);
                    }
                    None => {
                        f = f
                            .message(format!("{} is an empty file; the kernel cannot execute it", r.task_path))
                            .hint("ship the real file (an empty file is what Nomad leaves of a link in the archive)");
                    }
                }
                let f = self.with_exec(f, exec, Errno::Enoexec);
                self.add(f);
            }
            Sniff::Other => {
                let f = Finding::error(Kind::ExecFormat, Cause::NoShebang, r.task_path.clone())
                    .needed_by(chain.to_vec())
                    .message(format!(
                        "{} is neither an ELF binary nor a script starting with #!; runc does not fall back to /bin/sh",
                        r.task_path
                    ))
                    .hint(format!("add a #! line to {}, or run it through an interpreter", r.task_path));
                let f = self.with_exec(f, exec, Errno::Enoexec);
                self.add(f);
            }
            Sniff::Script => self.script(exec, path, &r, &head, &here, depth, made_executable),
            Sniff::Elf => self.elf(exec, &r, &here, chain, loader_argv0),
        }
    }

    #[expect(clippy::too_many_arguments)]
    fn script(
        &mut self,
        exec: &Exec,
        path: &str,
        r: &Resolved,
        head: &[u8],
        here: &[String],
        depth: usize,
        made_executable: bool,
    ) {
        let chain_to_me = &here[..here.len() - if r.task_path != path { 2 } else { 1 }];
        let sb = match shebang::parse(head) {
            Ok(sb) => sb,
            Err(e) => {
                let msg = match e {
                    ShebangError::Truncated => format!(
                        "the #! line of {} is longer than the kernel's {} bytes and the interpreter path is cut off; Linux refuses it (ENOEXEC) since 5.1",
                        r.task_path,
                        shebang::BINPRM_BUF_SIZE
                    ),
                    ShebangError::NoInterpreter => {
                        format!("the #! line of {} names no interpreter", r.task_path)
                    }
                };
                let f = Finding::error(Kind::ExecFormat, Cause::ShebangTooLong, r.task_path.clone())
                    .needed_by(chain_to_me.to_vec())
                    .message(msg)
                    .hint("shorten the #! line (e.g. `#!/usr/bin/env NAME` with PATH set), or use a wrapper");
                let f = self.with_exec(f, exec, Errno::Enoexec);
                self.add(f);
                return;
            }
        };
        if depth >= shebang::MAX_SCRIPT_DEPTH {
            let f = Finding::error(Kind::ExecFormat, Cause::Shebang, r.task_path.clone())
                .needed_by(chain_to_me.to_vec())
                .message(format!(
                    "more than {} nested #! interpreters; the kernel gives up with ELOOP",
                    shebang::MAX_SCRIPT_DEPTH
                ))
                .hint("point the #! line at a binary");
            let f = self.with_exec(f, exec, Errno::Eloop);
            self.add(f);
            return;
        }
        // The interpreter opens the script by name: it must be readable.
        let mut st = r.stat;
        if made_executable {
            st.mode |= 0o555;
        }
        if !self.ctx.creds.may(&st, READ) {
            self.add(
                Finding::error(Kind::Permission, Cause::NotReadable, r.task_path.clone())
                    .needed_by(chain_to_me.to_vec())
                    .message(format!(
                        "{} (mode {}) is not readable by the task's {}: its interpreter {} cannot open it",
                        r.task_path,
                        perms::mode_str(&r.stat),
                        self.ctx.creds.describe(),
                        sb.interp
                    ))
                    .hint(format!("chmod a+r {}", r.task_path)),
            );
        }
        self.exec(
            exec,
            &sb.interp,
            here,
            depth + 1,
            false,
            Cause::Shebang,
            &sb.interp,
        );
        if shebang::is_env(&sb.interp) {
            if let Some(name) = sb.arg.as_deref().and_then(shebang::env_program) {
                let mut via_env = here.to_vec();
                via_env.push(sb.interp.clone());
                self.env_program(&sb.interp, &name, &via_env);
            }
        }
    }

    /// `env NAME`: `execvp` through the task's PATH (glibc `__execvpe`: ENOENT and
    /// EACCES go on to the next entry).
    fn env_program(&mut self, env_argv0: &str, name: &str, here: &[String]) {
        let ctx = self.ctx;
        let path_var = ctx
            .input
            .env
            .get("PATH")
            .cloned()
            .unwrap_or_else(|| "/bin:/usr/bin".into());
        let candidates: Vec<String> = if name.contains('/') {
            vec![name.to_owned()]
        } else {
            path_var
                .split(':')
                .map(|d| rootfs::join(if d.is_empty() { "." } else { d }, name))
                .collect()
        };
        let exec = Exec::Env {
            env_argv0: env_argv0.to_owned(),
            name: name.to_owned(),
        };
        for cand in &candidates {
            if let Ok(r) = ctx.fs.resolve_at(&ctx.cwd, cand) {
                if r.stat.is_file() && ctx.creds.may(&r.stat, EXEC) {
                    self.exec(&exec, cand, here, 0, false, Cause::Shebang, name);
                    return;
                }
            }
        }
        let f = Finding::error(Kind::Missing, Cause::Shebang, first_place(ctx, &candidates, name))
            .needed_by(here.to_vec())
            .message(format!(
                "`{}` runs `{name}` through PATH={path_var}, and no executable {name} is in the task's root on it",
                here.last().map(String::as_str).unwrap_or(env_argv0)
            ))
            .hint(format!(
                "ship {name} in a PATH directory, set PATH in the job's env to include its store path's bin/, or use an absolute #! line"
            ));
        let f = self.with_exec(f, &exec, Errno::Enoent);
        self.add(f);
    }

    fn elf(
        &mut self,
        exec: &Exec,
        r: &Resolved,
        here: &[String],
        chain: &[String],
        loader_argv0: &str,
    ) {
        let ctx = self.ctx;
        let info = match ctx.elf(r).as_ref() {
            Ok(i) => Rc::new(i.clone()),
            Err(ElfError::TooShort | ElfError::Malformed(_)) => {
                let f = Finding::error(Kind::ExecFormat, Cause::InvalidElf, r.task_path.clone())
                    .needed_by(chain.to_vec())
                    .message(format!(
                        "{} is a truncated or malformed ELF file",
                        r.task_path
                    ))
                    .hint("ship the complete file");
                let f = self.with_exec(f, exec, Errno::Enoexec);
                self.add(f);
                return;
            }
            Err(_) => return,
        };
        if !elf::host_machines().contains(&info.machine) {
            let f = Finding::error(
                Kind::ExecFormat,
                Cause::WrongArchitecture,
                r.task_path.clone(),
            )
            .needed_by(chain.to_vec())
            .message(format!(
                "{} is built for {} ({}); this client runs {}",
                r.task_path,
                info.machine_name(),
                info.class_name(),
                std::env::consts::ARCH
            ))
            .hint("build the bundle for the client's architecture (e.g. x86_64-linux)");
            let f = self.with_exec(f, exec, Errno::Enoexec);
            self.add(f);
            return;
        }
        let Some(interp) = info.interp.clone() else {
            // Static or static-pie: nothing to load.
            return;
        };
        self.any_dynamic = true;
        self.uses(&interp, here);
        // A missing or unusable interpreter fails the execve: no loader runs, so the
        // program's libraries are not looked at (the store-reference check still names
        // every absent store path).
        let Some((cfg, iinfo)) = self.interpreter(exec, &interp, &info, here) else {
            return;
        };
        let p = loader::load(ctx, &cfg, &r.task_path, info, iinfo);
        for (i, o) in p.objs.iter().enumerate().skip(2) {
            let mut chain = here.to_vec();
            chain.extend(p.chain(i));
            chain.pop();
            if let Ok(lr) = ctx.fs.resolve(&o.task_path) {
                tracing::trace!(name = %o.l_name, resolved = %lr.task_path, origin = ?lr.origin, "library");
                self.host_dep(&lr, "library", &chain);
            }
            self.uses(&o.task_path, &chain);
            self.uses(&o.l_name, &chain);
        }
        for o in &p.objs {
            self.scope.insert(o.task_path.clone());
            if !o.l_name.is_empty() {
                self.scope.insert(o.l_name.clone());
            }
            if let Some(n) = o.l_name.rsplit('/').next() {
                self.loaded_names.insert(n.to_owned());
            }
        }
        for prob in &p.problems {
            let f = self.library_finding(&cfg, &p, prob, here, loader_argv0);
            self.add(f);
        }
        if self.primary.is_none() && cfg.kind == LoaderKind::Glibc {
            self.primary = Some((cfg, p));
        }
    }

    /// `PT_INTERP` as `binfmt_elf` opens it: it must resolve, be executable by the
    /// task and not on a noexec mount, and be an ELF of the program's machine. Returns
    /// the loader when it is usable.
    fn interpreter(
        &mut self,
        exec: &Exec,
        interp: &str,
        info: &elf::ElfInfo,
        here: &[String],
    ) -> Option<(Rc<LoaderConfig>, Rc<elf::ElfInfo>)> {
        let ctx = self.ctx;
        let ir = match resolve_exec(ctx, interp) {
            Ok(ir) => ir,
            Err(e) => {
                let f = self.resolve_failure(interp, &e, Cause::Interpreter, here);
                let f = self.with_exec(f, exec, Errno::from_resolve(&e));
                self.add(f);
                return None;
            }
        };
        self.uses(&ir.task_path, here);
        tracing::trace!(interp, resolved = %ir.task_path, origin = ?ir.origin, "ELF interpreter");
        self.host_dep(&ir, "interpreter", here);
        if let Some((f, errno)) = self.exec_permission(&ir, interp, false, here) {
            let f = self.with_exec(f, exec, errno);
            self.add(f);
            return None;
        }
        if ir.host.is_none() && ir.model.is_none() {
            return None;
        }
        let iinfo = match ctx.elf(&ir).as_ref() {
            Ok(i) => Rc::new(i.clone()),
            Err(e) => {
                // binfmt_elf reads the interpreter's header: a short read is EIO, no
                // ELF magic is ELIBBAD (`fs/binfmt_elf.c` `load_elf_binary`).
                let errno = if *e == ElfError::TooShort {
                    Errno::Eio
                } else {
                    Errno::Elibbad
                };
                let mut f = Finding::error(
                    Kind::ExecFormat,
                    if errno == Errno::Eio {
                        Cause::EmptyFile
                    } else {
                        Cause::InvalidElf
                    },
                    ir.task_path.clone(),
                )
                .needed_by(here.to_vec())
                .message(format!(
                    "ELF interpreter {} is not a loadable ELF file ({e})",
                    ir.task_path
                ))
                .hint(format!("ship the real {}", ir.task_path));
                let paths: Vec<&str> = std::iter::once(interp)
                    .chain(ir.links.iter().map(|l| l.link.as_str()))
                    .chain(std::iter::once(ir.task_path.as_str()))
                    .collect();
                if let Some((l, t)) = self.flattened(&paths) {
                    let (m, h) = Self::flatten_hint(&l, &t, false);
                    f = f
                        .message(format!("ELF interpreter {} is empty: {m}", ir.task_path))
                        .hint(h);
                }
                let f = self.with_exec(f, exec, errno);
                self.add(f);
                return None;
            }
        };
        if iinfo.machine != info.machine {
            let f = Finding::error(
                Kind::ExecFormat,
                Cause::WrongArchitecture,
                ir.task_path.clone(),
            )
            .needed_by(here.to_vec())
            .message(format!(
                "ELF interpreter {} is built for {}, the program for {}",
                ir.task_path,
                iinfo.machine_name(),
                info.machine_name()
            ))
            .hint("ship the interpreter of the program's architecture");
            let f = self.with_exec(f, exec, Errno::Elibbad);
            self.add(f);
            return None;
        }
        let cfg = ctx.loader_config(interp, &ir.task_path, &iinfo, Some(&ir));
        Some((cfg, iinfo))
    }

    fn library_finding(
        &self,
        cfg: &LoaderConfig,
        p: &Process,
        prob: &Problem,
        here: &[String],
        argv0: &str,
    ) -> Finding {
        let chain_of = |i: usize| {
            let mut c = here.to_vec();
            c.extend(p.chain(i));
            c
        };
        let name_of = |i: usize| {
            if i == 0 {
                argv0.to_owned()
            } else {
                p.objs[i].l_name.clone()
            }
        };
        let owner_of = |i: usize| {
            store::store_path_within(&p.objs[i].task_path)
                .map(|s| store::store_name(&s).to_owned())
                .unwrap_or_else(|| p.objs[i].task_path.clone())
        };
        match prob {
            Problem::NotFound {
                name,
                needer,
                would_be,
                unreadable,
                searched,
            } => {
                if let Some(u) = unreadable {
                    let err = match cfg.kind {
                        LoaderKind::Glibc => format!(
                            "{argv0}: error while loading shared libraries: {name}: cannot open shared object file: Permission denied"
                        ),
                        LoaderKind::Musl => format!(
                            "Error loading shared library {name}: Permission denied (needed by {})",
                            name_of(*needer)
                        ),
                    };
                    return Finding::error(Kind::Permission, Cause::NotReadable, u.clone())
                        .needed_by(chain_of(*needer))
                        .message(format!(
                            "{u} is where the loader finds {name}, but the task's {} cannot read it (or search a directory above it)",
                            self.ctx.creds.describe()
                        ))
                        .hint(format!("make {u} world-readable and its directories world-searchable"))
                        .nomad_error(err)
                        .exit_code(127);
                }
                let err = match cfg.kind {
                    LoaderKind::Glibc => format!(
                        "{argv0}: error while loading shared libraries: {name}: cannot open shared object file: No such file or directory"
                    ),
                    LoaderKind::Musl => format!(
                        "Error loading shared library {name}: No such file or directory (needed by {})",
                        name_of(*needer)
                    ),
                };
                let needer_info = &p.objs[*needer].info;
                let search = match (&needer_info.runpath, needer_info.effective_rpath()) {
                    (Some(rp), _) => format!("RUNPATH {rp}"),
                    (None, Some(rp)) => format!("RPATH {rp}"),
                    (None, None) => "no RPATH/RUNPATH".into(),
                };
                // Where it would be when a searched store path is absent, else the
                // first place searched whose directory the task has: where to ship it
                // (`fixtures/README.md`).
                let path = would_be
                    .clone()
                    .unwrap_or_else(|| first_place(self.ctx, searched, name));
                let where_ = would_be
                    .as_deref()
                    .and_then(store::store_path_of)
                    .map(|sp| format!("; {sp} is not in the bundle"))
                    .unwrap_or_default();
                let hint = match would_be.as_deref().and_then(store::store_path_of) {
                    Some(sp) => store::fix_hint(&self.ctx.fs, &sp, Some(&owner_of(*needer))),
                    None => format!(
                        "ship {name} in a directory of {}'s search path ({search}, LD_LIBRARY_PATH, the loader's default dirs {})",
                        name_of(*needer),
                        cfg.system_dirs.join(":")
                    ),
                };
                Finding::error(Kind::Missing, Cause::Library, path)
                    .needed_by(chain_of(*needer))
                    .message(format!(
                        "{name} (DT_NEEDED of {}) is not found by {} ({search}){where_}",
                        p.objs[*needer].task_path, cfg.interp
                    ))
                    .hint(hint)
                    .nomad_error(err)
                    .exit_code(127)
            }
            Problem::Fatal {
                name,
                needer,
                path,
                errstring,
                noexec,
            } => {
                let err = match cfg.kind {
                    LoaderKind::Glibc => format!(
                        "{argv0}: error while loading shared libraries: {path}: {errstring}"
                    ),
                    LoaderKind::Musl => format!(
                        "Error loading shared library {name}: {errstring} (needed by {})",
                        name_of(*needer)
                    ),
                };
                let (kind, cause) = if *noexec {
                    (Kind::Permission, Cause::Noexec)
                } else if errstring == "file too short" {
                    (Kind::ExecFormat, Cause::EmptyFile)
                } else {
                    (Kind::ExecFormat, Cause::InvalidElf)
                };
                let mut f = Finding::error(kind, cause, path.clone())
                    .needed_by(chain_of(*needer))
                    .message(format!(
                        "{path}, found for {name}, cannot be loaded: {errstring}"
                    ))
                    .hint(format!("ship a valid {name}"))
                    .nomad_error(err)
                    .exit_code(127);
                let resolved = self.ctx.fs.resolve_at(&self.ctx.cwd, path).ok();
                let mut paths: Vec<&str> = vec![path.as_str()];
                if let Some(r) = &resolved {
                    paths.extend(r.links.iter().map(|l| l.link.as_str()));
                    paths.push(r.task_path.as_str());
                }
                if let Some((l, t)) = self.flattened(&paths) {
                    let (m, h) = Self::flatten_hint(&l, &t, false);
                    f = f.message(format!("{path} is empty: {m}")).hint(h);
                }
                f
            }
            Problem::Version {
                lib,
                needer,
                version,
            } => {
                let lib_name = &p.objs[*lib].l_name;
                let lib_base = lib_name.rsplit('/').next().unwrap_or(lib_name);
                // rtld.c `version_check_doit` exits 1 after printing every missing version.
                Finding::error(Kind::Version, Cause::SymbolVersion, lib_name.clone())
                    .needed_by(chain_of(*needer))
                    .message(format!(
                        "{} needs {version} from {lib_base}, but {} ({}) does not define it",
                        name_of(*needer),
                        lib_name,
                        p.objs[*lib].task_path
                    ))
                    .hint(format!(
                        "ship the {lib_base} the program was built against (from its own closure) instead of relying on {}",
                        lib_name
                    ))
                    .nomad_error(format!(
                        "{argv0}: {lib_name}: version `{version}' not found (required by {})",
                        name_of(*needer)
                    ))
                    .exit_code(1)
            }
        }
    }

    pub fn into_findings(self) -> Vec<Collected> {
        self.found.into_values().collect()
    }
}

/// Of the places a name was looked for, the first whose directory exists in the root
/// (else the first): the task path a finding about the name reports.
fn first_place(ctx: &Ctx<'_>, candidates: &[String], name: &str) -> String {
    let base = |c: &str| c.rsplit('/').next().unwrap_or(name).to_owned();
    // The directory as the task sees it (links followed, `$ORIGIN/..` resolved).
    let existing = candidates.iter().find_map(|c| {
        let r = ctx.fs.resolve_at(&ctx.cwd, rootfs::dirname(c)).ok()?;
        r.stat
            .is_dir()
            .then(|| rootfs::join(&r.task_path, &base(c)))
    });
    existing
        .or_else(|| {
            candidates.first().map(|c| {
                let abs = if c.starts_with('/') {
                    c.clone()
                } else {
                    rootfs::join(&ctx.cwd, c)
                };
                crate::taskdir::normalize_task_path(&abs)
            })
        })
        .unwrap_or_else(|| format!("/{name}"))
}

/// glibc's `DT_NEEDED` search for a name `dlopen`ed by the C library (NSS modules):
/// `LD_LIBRARY_PATH`, the cache and the default dirs.
pub fn dlopen_finds(ctx: &Ctx<'_>, cfg: &LoaderConfig, p: &Process, name: &str) -> bool {
    let libc = p
        .objs
        .iter()
        .position(|o| o.l_name.ends_with("/libc.so.6"))
        .unwrap_or(0);
    loader::find_extra(ctx, cfg, p, libc, name)
}

/// A path the kernel opens for exec: an empty name (`#!` followed by NUL, an empty
/// `PT_INTERP`) is ENOENT in `getname`, not the cwd.
fn resolve_exec(ctx: &Ctx<'_>, path: &str) -> Result<Resolved, ResolveError> {
    if path.is_empty() {
        return Err(ResolveError {
            kind: ResolveErrorKind::NotFound,
            component: String::new(),
            links: Vec::new(),
        });
    }
    ctx.fs.resolve_at(&ctx.cwd, path)
}
