//! Property tests (issue 8), with proptest:
//!
//! - the in-root path resolver (`rootfs`) never yields a path outside the root, and
//!   agrees with a real `chroot(2)` (busybox `realpath` run inside the generated tree)
//!   for random link graphs: relative and absolute links, `..`, loops, dangling links;
//! - the go-getter rules: random tar archives (names, types, modes, `..`, links,
//!   duplicates) unpacked with `--extract nomad` give the tree a few-line model of
//!   go-getter's `untar` predicts (`hashicorp/go-getter:decompress_tar.go`).
//!
//! libtest-mimic, so the chroot trial is reported ignored with its reason when not root.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use nomad_chroot_check::archive::{self, ExtractMode, ExtractRequest};
use nomad_chroot_check::config::{ArtifactLimits, SafetyLimits};
use nomad_chroot_check::nomad::NomadVersion;
use nomad_chroot_check::rootfs::{ResolveErrorKind, RootFs};
use nomad_chroot_check::taskdir::{ChrootEnv, make_writable};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

// ---------------------------------------------------------------------------------------
// The resolver.

/// Where the generated tree lives inside the root (beside `/bin/busybox`).
const TOP: &str = "t";
/// The nodes a tree may have, parents before children.
const NODES: [&str; 8] = ["a", "b", "c", "a/a", "a/b", "a/c", "b/a", "b/c"];
/// Components link targets and queries are made of.
const WORDS: [&str; 7] = ["a", "b", "c", "..", ".", "t", "x"];

#[derive(Debug, Clone)]
enum Node {
    Missing,
    Dir,
    File,
    Link(String),
}

fn rel_path(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&WORDS[..]), 1..=max).prop_map(|w| w.join("/"))
}

/// Absolute (`/t/…` or anywhere from `/`) or relative link targets.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => rel_path(4),
        1 => rel_path(3).prop_map(|p| format!("/{TOP}/{p}")),
        1 => rel_path(3).prop_map(|p| format!("/{p}")),
        1 => Just("/".to_owned()),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        1 => Just(Node::Missing),
        3 => Just(Node::Dir),
        1 => Just(Node::File),
        3 => target().prop_map(Node::Link),
    ]
}

fn tree() -> impl Strategy<Value = Vec<Node>> {
    prop::collection::vec(node(), NODES.len())
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => rel_path(4).prop_map(|p| format!("/{TOP}/{p}")),
        1 => rel_path(4).prop_map(|p| format!("/{p}")),
    ]
}

/// Make the tree under `root/t`; a node whose parent is not a directory is skipped.
fn build(root: &Path, nodes: &[Node]) {
    fs::create_dir_all(root.join(TOP)).unwrap();
    for (name, node) in NODES.iter().zip(nodes) {
        let p = root.join(TOP).join(name);
        if !fs::symlink_metadata(p.parent().unwrap()).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        match node {
            Node::Missing => {}
            Node::Dir => fs::create_dir(&p).unwrap(),
            Node::File => fs::write(&p, name).unwrap(),
            Node::Link(t) => std::os::unix::fs::symlink(t, &p).unwrap(),
        }
    }
}

/// What the resolver says: the final path in the root, or the errno's name.
fn ours(fs_: &RootFs, q: &str) -> Result<String, &'static str> {
    match fs_.resolve(q) {
        Ok(r) => {
            if let Some(h) = &r.host {
                assert!(
                    h.starts_with(fs_.root()),
                    "{q} resolved to {} outside the root",
                    h.display()
                );
            }
            Ok(r.task_path)
        }
        Err(e) => Err(match e.kind {
            ResolveErrorKind::NotFound => "ENOENT",
            ResolveErrorKind::NotDir => "ENOTDIR",
            ResolveErrorKind::Loop => "ELOOP",
            #[allow(unreachable_patterns)]
            _ => "other",
        }),
    }
}

/// The resolved path is clean and absolute, and names the file the host path holds.
fn check_in_root(
    root: &Path,
    q: &str,
    got: &Result<String, &'static str>,
) -> Result<(), TestCaseError> {
    if let Ok(p) = got {
        prop_assert!(p.starts_with('/'), "{q} → {p}: not absolute");
        prop_assert!(
            p == "/"
                || p.split('/')
                    .skip(1)
                    .all(|c| !c.is_empty() && c != "." && c != ".."),
            "{q} → {p}: not clean"
        );
        // Every component of the answer exists in the root without following links.
        let host = root.join(p.trim_start_matches('/'));
        prop_assert!(
            fs::symlink_metadata(&host).is_ok(),
            "{q} → {p}: {} does not exist",
            host.display()
        );
        prop_assert!(
            !fs::symlink_metadata(&host)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{q} → {p}: ends at a symlink"
        );
    }
    Ok(())
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn run_prop<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Result<(), Failed>
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(cases));
    match runner.run(&strategy, test) {
        Ok(()) => Ok(()),
        Err(TestError::Fail(why, input)) => {
            Err(format!("{why}\nminimal failing input: {input:#?}").into())
        }
        Err(e) => Err(e.to_string().into()),
    }
}

fn resolver_never_leaves_the_root() -> Result<(), Failed> {
    run_prop(
        256,
        (tree(), prop::collection::vec(query(), 1..8)),
        |(nodes, queries)| {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("root");
            build(&root, &nodes);
            let fs_ = RootFs::with_layers(&root, Vec::new());
            for q in &queries {
                let got = ours(&fs_, q);
                check_in_root(&root, q, &got)?;
            }
            Ok(())
        },
    )
}

/// `stat(2)` and `realpath` inside `chroot(2)`: the kernel's own walk decides whether
/// the path exists (`..` stops at `/`, at most 40 links), realpath names it.
fn chroot_realpath(root: &Path, queries: &[String]) -> Vec<Result<String, &'static str>> {
    // One chroot for every query. busybox `realpath` accepts a missing last component
    // (coreutils' `-E`), so `stat -L` (stat(2), following links) decides existence.
    let script = r#"for q in "$@"; do if e=$(/bin/busybox stat -L -c %i "$q" 2>&1); then echo "=$(/bin/busybox realpath "$q")"; else echo "!$e"; fi; done"#;
    let out = Command::new(chroot_bin().expect("chroot(8)"))
        .arg(root)
        .args(["/bin/busybox", "sh", "-c", script, "sh"])
        .args(queries)
        .env_clear()
        .output()
        .expect("run chroot");
    assert!(
        out.status.success(),
        "chroot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| match l.split_at(1) {
            ("=", p) => Ok(p.to_owned()),
            (_, e) if e.contains("No such file") => Err("ENOENT"),
            (_, e) if e.contains("Not a directory") => Err("ENOTDIR"),
            (_, e) if e.contains("Too many levels") || e.contains("symbolic links") => Err("ELOOP"),
            (_, e) => panic!("unexpected realpath error: {e}"),
        })
        .collect()
}

fn chroot_bin() -> Option<&'static str> {
    ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

fn resolver_agrees_with_a_real_chroot() -> Result<(), Failed> {
    run_prop(
        96,
        (tree(), prop::collection::vec(query(), 1..8)),
        |(nodes, queries)| {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("root");
            build(&root, &nodes);
            fs::create_dir_all(root.join("bin")).unwrap();
            fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
            let fs_ = RootFs::with_layers(&root, Vec::new());
            let want = chroot_realpath(&root, &queries);
            prop_assert_eq!(want.len(), queries.len());
            for (q, w) in queries.iter().zip(want) {
                let got = ours(&fs_, q);
                check_in_root(&root, q, &got)?;
                prop_assert_eq!(got, w, "query {} in the tree {:?}", q, nodes);
            }
            Ok(())
        },
    )
}

// ---------------------------------------------------------------------------------------
// The go-getter rules.

#[derive(Debug, Clone)]
enum Ty {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    HardLink(String),
    Fifo,
    CharDev,
}

#[derive(Debug, Clone)]
struct Ent {
    name: String,
    ty: Ty,
    mode: u32,
}

fn entry_name() -> impl Strategy<Value = String> {
    let comp = prop_oneof![
        6 => prop::sample::select(&["a", "b", "c", "d"][..]).prop_map(str::to_owned),
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
    ];
    (
        prop::sample::select(&["", "", "", "/", "./"][..]),
        prop::collection::vec(comp, 1..=3),
        any::<bool>(),
    )
        .prop_map(|(pre, comps, slash)| {
            format!("{pre}{}{}", comps.join("/"), if slash { "/" } else { "" })
        })
}

fn ent() -> impl Strategy<Value = Ent> {
    let ty = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Ty::File),
        3 => Just(Ty::Dir),
        1 => rel_path(2).prop_map(Ty::Symlink),
        1 => prop::sample::select(&["a", "b", "a/b", "c/d"][..]).prop_map(|s| Ty::HardLink(s.to_owned())),
        1 => Just(Ty::Fifo),
        1 => Just(Ty::CharDev),
    ];
    let mode = prop_oneof![
        Just(0o644u32),
        Just(0o755),
        Just(0o700),
        Just(0o4755),
        Just(0o2750),
        Just(0o1777),
        Just(0o500),
        0u32..0o7777,
    ];
    (entry_name(), ty, mode).prop_map(|(name, ty, mode)| Ent { name, ty, mode })
}

/// A tar archive with exactly these names (raw headers: tar-rs's `set_path` refuses `..`).
fn tarball(ents: &[Ent]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in ents {
        let mut h = tar::Header::new_gnu();
        let name = h.as_old_mut();
        name.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        h.set_mode(e.mode);
        h.set_mtime(1_700_000_000);
        let (kind, data): (tar::EntryType, &[u8]) = match &e.ty {
            Ty::File(d) => (tar::EntryType::Regular, d),
            Ty::Dir => (tar::EntryType::Directory, b""),
            Ty::Symlink(t) | Ty::HardLink(t) => {
                h.set_link_name(t).unwrap();
                let k = if matches!(e.ty, Ty::Symlink(_)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                (k, b"")
            }
            Ty::Fifo => (tar::EntryType::Fifo, b""),
            Ty::CharDev => (tar::EntryType::Char, b""),
        };
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// path → (type, permission bits, size), the destination itself as "".
type Tree = BTreeMap<String, (Kind, u32, u64)>;

/// What go-getter's `untar` leaves, in a few lines: `..` anywhere fails the download;
/// each name is joined to the destination (leading `/` and `.` dropped); parents are
/// made 0755; a directory entry is `MkdirAll`; anything else is `O_TRUNC`-opened as a
/// regular file (links, FIFOs and devices get no content) and chmodded to its mode
/// without setuid/setgid; a file in the way of a directory, or a directory in the way
/// of a file, fails. An archive without a non-directory entry is "empty". Directory
/// modes are applied at the end, if nothing failed.
fn model(ents: &[Ent]) -> (Tree, bool) {
    let mut t = Tree::new();
    t.insert(String::new(), (Kind::Dir, 0o755, 0));
    let mut dir_modes = BTreeMap::new();
    // `done` is set by the first non-directory: without one, "empty archive".
    let mut done = false;
    for e in ents {
        if e.name.split(['/', '\\']).any(|c| c == "..") {
            return (t, true);
        }
        let comps: Vec<&str> = e
            .name
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        // Go's archive/tar turns only a `\0` typeflag with a trailing `/` into a
        // directory; a `0` entry named `a/` is the file `a` (filepath.Join cleans it).
        let is_dir = matches!(e.ty, Ty::Dir);
        let parents = if is_dir {
            &comps[..]
        } else {
            &comps[..comps.len().saturating_sub(1)]
        };
        for i in 1..=parents.len() {
            let p = parents[..i].join("/");
            match t.get(&p) {
                Some((Kind::File, ..)) => return (t, true),
                Some(_) => {}
                None => {
                    t.insert(p, (Kind::Dir, 0o755, 0));
                }
            }
        }
        if is_dir {
            dir_modes.insert(comps.join("/"), e.mode & 0o1777);
            continue;
        }
        let Some(last) = comps.last() else {
            return (t, true); // a file named like the destination
        };
        let _ = last;
        let p = comps.join("/");
        if matches!(t.get(&p), Some((Kind::Dir, ..))) {
            return (t, true);
        }
        let size = match &e.ty {
            Ty::File(d) => d.len() as u64,
            _ => 0,
        };
        t.insert(p, (Kind::File, e.mode & 0o1777, size));
        done = true;
    }
    if !done {
        return (t, true);
    }
    for (p, m) in dir_modes {
        t.get_mut(&p).unwrap().1 = m;
    }
    (t, false)
}

fn observe(dest: &Path) -> Tree {
    let mut t = Tree::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let m = fs::symlink_metadata(dest.join(&rel)).unwrap();
        let key = rel.to_string_lossy().into_owned();
        if m.is_dir() {
            t.insert(key, (Kind::Dir, m.mode() & 0o7777, 0));
            for e in fs::read_dir(dest.join(&rel)).unwrap() {
                stack.push(rel.join(e.unwrap().file_name()));
            }
        } else {
            assert!(m.is_file(), "{key} is neither a file nor a directory");
            t.insert(key, (Kind::File, m.mode() & 0o7777, m.size()));
        }
    }
    t
}

fn nomad_extract_matches_the_go_getter_model() -> Result<(), Failed> {
    run_prop(512, prop::collection::vec(ent(), 0..10), |ents| {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("b.tar");
        fs::write(&bundle, tarball(&ents)).unwrap();
        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).unwrap();
        let version = NomadVersion::NEWEST;
        let s = archive::extract(&ExtractRequest {
            bundle: &bundle,
            source_name: "b.tar",
            archive: None,
            dest: &dest,
            dest_in_task: "/local",
            nomad_dest: "/opt/nomad/data/alloc/00000000-0000-0000-0000-000000000000/task/local",
            mode: ExtractMode::Nomad,
            version,
            limits: ArtifactLimits::nomad_default(version),
            safety: SafetyLimits::default(),
            chroot_env: &ChrootEnv::none(),
        })
        .map_err(|e| TestCaseError::fail(format!("extract failed: {e}")))?;
        let (want, fails) = model(&ents);
        let got = observe(&dest);
        make_writable(tmp.path());
        prop_assert_eq!(s.rejected, fails, "rejected? findings: {:#?}", s.findings);
        prop_assert_eq!(got, want);
        Ok(())
    })
}

fn main() {
    let args = Arguments::from_args();
    let root = nix::unistd::geteuid().is_root();
    let busybox = Path::new("/bin/busybox").exists();
    let chroot_ignore = if !root {
        Some("needs root for chroot(2)")
    } else if chroot_bin().is_none() {
        Some("needs chroot(8) (coreutils)")
    } else if !busybox {
        Some("needs a static /bin/busybox (apt-get install busybox-static)")
    } else {
        None
    };
    let trials = vec![
        Trial::test(
            "resolver_never_leaves_the_root",
            resolver_never_leaves_the_root,
        ),
        match chroot_ignore {
            Some(why) => Trial::ignorable_test("resolver_agrees_with_a_real_chroot", move || {
                Ok(Completion::ignored_with(why))
            }),
            None => Trial::ignorable_test("resolver_agrees_with_a_real_chroot", || {
                resolver_agrees_with_a_real_chroot().map(|()| Completion::Completed)
            }),
        },
        Trial::test(
            "nomad_extract_matches_the_go_getter_model",
            nomad_extract_matches_the_go_getter_model,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
