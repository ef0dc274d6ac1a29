//! `--tree`: the command's whole dependency tree in one pass, lddtree-style. Each node
//! says where the task gets the file: the bundle, this host (through `chroot_env`), or
//! nowhere; for a missing file, where this host has one.
//!
//! Unlike the findings, which stop where `execve` would (a missing `PT_INTERP` means no
//! loader runs), the tree goes on past every gap, so one run shows everything a
//! program needs instead of one missing piece per fix.

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use super::elf::{self, Sniff};
use super::loader::{self, LoaderConfig, Problem};
use super::{Ctx, shebang};
use crate::finding::TreeNode;
use crate::rootfs::{Origin, Resolved};

/// The tree of every root (the command, or each executable of the bundle).
pub fn build(ctx: &Ctx<'_>, roots: &[String]) -> Vec<TreeNode> {
    let host = HostLibs::load();
    roots
        .iter()
        .map(|r| exec_node(ctx, &host, r, "program", 0))
        .collect()
}

/// `#!` nesting and `env` chains deeper than the kernel's limit end here.
const MAX_DEPTH: usize = shebang::MAX_SCRIPT_DEPTH + 1;

fn exec_node(
    ctx: &Ctx<'_>,
    host: &HostLibs,
    name: &str,
    role: &'static str,
    depth: usize,
) -> TreeNode {
    let mut node = TreeNode {
        name: name.to_owned(),
        path: None,
        role,
        source: "missing",
        host_path: None,
        children: Vec::new(),
    };
    let Ok(r) = ctx.fs.resolve_at(&ctx.cwd, name) else {
        node.host_path = Path::new(name).exists().then(|| name.to_owned());
        return node;
    };
    node.path = Some(r.task_path.clone());
    (node.source, node.host_path) = source_of(&r.origin, r.host.as_deref());
    let Some(head) = ctx.fs.head(&r, shebang::BINPRM_BUF_SIZE) else {
        return node;
    };
    match elf::sniff(&head) {
        Sniff::Script if depth < MAX_DEPTH => {
            if let Ok(sb) = shebang::parse(&head) {
                let mut interp = exec_node(ctx, host, &sb.interp, "script-interpreter", depth + 1);
                if shebang::is_env(&sb.interp) {
                    if let Some(prog) = sb.arg.as_deref().and_then(shebang::env_program) {
                        let found = env_lookup(ctx, &prog);
                        interp
                            .children
                            .push(exec_node(ctx, host, &found, "program", depth + 1));
                    }
                }
                node.children.push(interp);
            }
        }
        Sniff::Elf => node.children = elf_children(ctx, host, &r.task_path, &r),
        _ => {}
    }
    node
}

/// `env NAME`: the first PATH entry holding NAME, else the first place it looks.
fn env_lookup(ctx: &Ctx<'_>, name: &str) -> String {
    if name.contains('/') {
        return name.to_owned();
    }
    let path = ctx
        .input
        .env
        .get("PATH")
        .map(String::as_str)
        .unwrap_or("/bin:/usr/bin");
    let candidates: Vec<String> = path
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| crate::rootfs::join(d, name))
        .collect();
    candidates
        .iter()
        .find(|c| ctx.fs.resolve(c).is_ok_and(|r| r.stat.is_file()))
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

/// The interpreter and the libraries of an ELF program, as its loader would map them.
fn elf_children(ctx: &Ctx<'_>, host: &HostLibs, task_path: &str, file: &Resolved) -> Vec<TreeNode> {
    let Ok(info) = ctx.elf(file).as_ref().clone() else {
        return Vec::new();
    };
    let Some(interp) = info.interp.clone() else {
        return Vec::new();
    };
    let info = Rc::new(info);
    // The loader as it is in the root; when it is missing, its default search rules,
    // so the tree still shows every library the program would need.
    let resolved = ctx.fs.resolve_at(&ctx.cwd, &interp).ok();
    let file_of = |r: &Resolved| r.host.is_some() || r.model.is_some();
    // The interpreter's own parse when it is a file that parses; else the program's.
    let parsed = resolved
        .as_ref()
        .filter(|r| file_of(r))
        .map(|r| (r, ctx.elf(r)));
    let (cfg, iinfo) = match &parsed {
        Some((r, e)) if let Ok(ii) = e.as_ref() => (
            ctx.loader_config(&interp, &r.task_path, ii, Some(r)),
            Rc::new(ii.clone()),
        ),
        _ => (
            Rc::new(LoaderConfig::new(
                &interp,
                &interp,
                &info,
                &Default::default(),
            )),
            info.clone(),
        ),
    };
    let mut interp_node = exec_node(ctx, host, &interp, "interpreter", MAX_DEPTH);
    interp_node.children.clear();
    let p = loader::load(ctx, &cfg, task_path, info, iinfo);
    // Each object under the one whose DT_NEEDED loaded it (l_loader), as lddtree does.
    // The loader appends breadth-first, so a parent's index is below its children's:
    // building from the last object back, every child is ready before its parent.
    let mut kids: BTreeMap<usize, Vec<TreeNode>> = BTreeMap::new();
    for prob in &p.problems {
        if let Problem::NotFound { name, needer, .. } = prob {
            kids.entry(*needer).or_default().push(TreeNode {
                name: name.clone(),
                path: None,
                role: "library",
                source: "missing",
                host_path: host.find(name),
                children: Vec::new(),
            });
        }
    }
    for i in (2..p.objs.len()).rev() {
        let o = &p.objs[i];
        let (source, host_path) = match ctx.fs.resolve(&o.task_path) {
            Ok(r) => source_of(&r.origin, r.host.as_deref()),
            Err(_) => ("missing", None),
        };
        let mut children = kids.remove(&i).unwrap_or_default();
        children.sort_by(|a, b| a.name.cmp(&b.name));
        let node = TreeNode {
            name: o.l_name.rsplit('/').next().unwrap_or(&o.l_name).to_owned(),
            path: Some(o.task_path.clone()),
            role: "library",
            source,
            host_path,
            children,
        };
        kids.entry(o.loader.unwrap_or(0)).or_default().push(node);
    }
    let mut top = kids.remove(&0).unwrap_or_default();
    top.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = vec![interp_node];
    out.extend(top);
    out
}

fn source_of(origin: &Origin, host: Option<&Path>) -> (&'static str, Option<String>) {
    match origin {
        Origin::ChrootEnv { .. } => ("host", host.map(|h| h.display().to_string())),
        Origin::Alloc => ("alloc", None),
        Origin::TaskDir | Origin::Implied => ("bundle", None),
    }
}

/// Where this host keeps its libraries: its loader cache, then the usual directories.
struct HostLibs {
    cache: Vec<loader::CacheEntry>,
}

impl HostLibs {
    fn load() -> HostLibs {
        let cache = std::fs::read("/etc/ld.so.cache")
            .map(|b| loader::parse_ld_cache(&b))
            .unwrap_or_default();
        HostLibs { cache }
    }

    fn find(&self, name: &str) -> Option<String> {
        if let Some(e) = self.cache.iter().find(|e| e.key == name) {
            return Some(e.value.clone());
        }
        [
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib64",
            "/usr/lib64",
            "/lib",
            "/usr/lib",
        ]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).exists())
    }
}
