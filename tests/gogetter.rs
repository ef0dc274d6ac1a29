//! go-getter, differentially: every archive of a generated corpus (`gogetter/corpus.rs`)
//! is unpacked by our extractor as `nomad-chroot-check BUNDLE --no-run --keep` does
//! (`--extract nomad`), and the outcome is compared with what hashicorp/go-getter's own
//! decompressors did with the same bytes, recorded in `fixtures/gogetter/<tag>.json`:
//! the verdict, go-getter's error text (temp paths normalised) and, when it unpacked,
//! the tree (paths, types, modes, sizes, SHA-256 of contents, mtimes it set).
//!
//! Every case is replayed twice: through [`archive::extract`] to disk (`<tag>::<id>`)
//! and through [`archive::extract_model`] into the in-memory tree the static check
//! reads (`<tag>::model::<id>`), whose files are hashed as [`model::Tree::content`]
//! reads them back from the bundle. Both must give go-getter's outcome.
//!
//! The records come from `../shared/tools/gogetter-oracle` (go-getter's code built
//! outside this repo) through `ci/gogetter-record`; this test needs no Go. Deliberate
//! divergences are listed, with their reason, in `fixtures/gogetter/divergences.json`.
//!
//! Modes besides the replay (environment variables):
//! - `NCC_GOGETTER_CORPUS=DIR`: write the corpus to DIR (`manifest.tsv` + one file a
//!   case) and exit;
//! - `NCC_GOGETTER_ORACLE=BIN NCC_GOGETTER_TAG=v1.8.6 NCC_GOGETTER_NOMAD=2.0
//!   NCC_GOGETTER_RECORD=OUT.json`: run the oracle on every case, write its outputs.

mod gogetter {
    pub mod corpus;
    pub mod shapes;
}

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use gogetter::corpus::{self, Case};
use libtest_mimic::{Arguments, Failed, Trial};
use nomad_chroot_check::archive::model::{self, file::HEAD};
use nomad_chroot_check::archive::{self, ExtractMode, ExtractRequest};
use nomad_chroot_check::config::{ArtifactLimits, SafetyLimits};
use nomad_chroot_check::nomad::NomadVersion;
use nomad_chroot_check::taskdir::{ChrootEnv, make_writable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The destination as a Nomad client has it (`<data_dir>/alloc/<alloc id>/<task>/local`):
/// its length decides where go-getter's full paths reach PATH_MAX, so the oracle ran
/// with a destination of exactly this length.
const NOMAD_DST: &str = "/opt/nomad/data/alloc/00000000-0000-0000-0000-000000000000/task/local";
/// How the task sees the destination; our error texts name paths this way.
const TASK_DST: &str = "/local";
/// go-getter's copy of the download (`$TMPDIR/getterNNN/archive`), as we print it.
const TASK_SRC: &str = "/tmp/getter*/archive";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct Node {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// Set from the archive (`sec.nanosec`); absent when it is the time of unpacking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mtime: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct Outcome {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The tree, when it has at most [`TREE_INLINE`] entries ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tree: Vec<Node>,
    /// ... else its size and the SHA-256 of its JSON (deep or wide trees would make
    /// megabytes of near-identical paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tree_digest: Option<(usize, String)>,
}

const TREE_INLINE: usize = 64;

impl Outcome {
    fn unpacked(tree: Vec<Node>) -> Outcome {
        if tree.len() <= TREE_INLINE {
            return Outcome {
                ok: true,
                error: None,
                tree,
                tree_digest: None,
            };
        }
        let json = serde_json::to_string(&tree).unwrap();
        Outcome {
            ok: true,
            error: None,
            tree: Vec::new(),
            tree_digest: Some((tree.len(), sha256(json.as_bytes()))),
        }
    }

    fn failed(error: String) -> Outcome {
        Outcome {
            ok: false,
            error: Some(error),
            tree: Vec::new(),
            tree_digest: None,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct Record {
    id: String,
    name: String,
    sha256: String,
    files_limit: u64,
    size_limit: u64,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Serialize, Deserialize, Debug)]
struct Records {
    /// The go-getter tag the oracle was built from.
    gogetter: String,
    /// The Nomad release that vendors it (`--nomad-version`).
    nomad: String,
    oracle: String,
    cases: Vec<Record>,
}

#[derive(Deserialize, Debug, Clone)]
struct Divergence {
    gogetter: String,
    id: String,
    /// `verdict`, `error` or `tree`.
    aspect: String,
    /// `disk` or `model` when only that replay differs (a difference inherent in
    /// the way, said in `reason`); absent: both.
    #[serde(default)]
    via: Option<String>,
    reason: String,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gogetter")
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A path's bytes as text: printable ASCII as is, anything else `\xNN`.
fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Every entry below `root` (`root` itself as `.`), sorted by path. An mtime inside
/// `[from, to]` (with a second of slack) is the unpacking's own and not recorded.
fn tree(root: &Path, from: SystemTime, to: SystemTime) -> Vec<Node> {
    let (lo, hi) = (secs(from) - 1.0, secs(to) + 1.0);
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), ".".to_owned())];
    while let Some((p, rel)) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else {
            "other"
        };
        let t = m.mtime() as f64 + m.mtime_nsec() as f64 / 1e9;
        let mtime =
            (!(lo..=hi).contains(&t)).then(|| format!("{}.{:09}", m.mtime(), m.mtime_nsec()));
        let (size, sum) = match kind {
            "file" => (Some(m.len()), Some(sha256(&fs::read(&p).unwrap()))),
            "symlink" => (
                None,
                Some(sha256(fs::read_link(&p).unwrap().as_os_str().as_bytes())),
            ),
            _ => (None, None),
        };
        out.push(Node {
            path: rel.clone(),
            kind: kind.into(),
            mode: format!("{:04o}", m.mode() & 0o7777),
            size,
            sha256: sum,
            mtime,
        });
        if ft.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                let e = e.unwrap();
                let name = escape(e.file_name().as_bytes());
                let r = if rel == "." {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                stack.push((e.path(), r));
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn make_dst(parent: &Path, len: usize) -> PathBuf {
    let base = parent.as_os_str().len() + 1;
    assert!(base + 1 < len, "temp dir path too long to pad to {len}");
    let dst = parent.join("d".repeat(len - base));
    fs::create_dir(&dst).unwrap();
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(dst.as_os_str().len(), len);
    dst
}

fn limits(c: &Case) -> ArtifactLimits {
    ArtifactLimits {
        file_count: (c.files_limit > 0).then_some(c.files_limit),
        size: (c.size_limit > 0).then_some(c.size_limit),
    }
}

/// Where a replay unpacks: to disk, or into the static check's in-memory tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Disk,
    Model,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Disk => "disk",
            Via::Model => "model",
        }
    }
}

fn request<'a>(
    c: &'a Case,
    bundle: &'a Path,
    dst: &'a Path,
    version: NomadVersion,
    env: &'a ChrootEnv,
) -> ExtractRequest<'a> {
    ExtractRequest {
        bundle,
        source_name: &c.name,
        archive: None,
        dest: dst,
        dest_in_task: TASK_DST,
        nomad_dest: NOMAD_DST,
        mode: ExtractMode::Nomad,
        version,
        limits: limits(c),
        safety: SafetyLimits::default(),
        chroot_env: env,
    }
}

fn outcome_of(failure: Option<String>, tree: impl FnOnce() -> Vec<Node>) -> Outcome {
    match failure {
        Some(e) => Outcome::failed(e.replace(TASK_SRC, "<src>").replace(TASK_DST, "<dst>")),
        None => Outcome::unpacked(tree()),
    }
}

/// Our extractor on one case, as the CLI runs it for `--extract nomad`.
fn ours(c: &Case, version: NomadVersion, via: Via) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join(&c.name);
    fs::write(&bundle, &c.bytes).unwrap();
    let dst = tmp.path().join("dst");
    let env = ChrootEnv::none();
    let req = request(c, &bundle, &dst, version, &env);
    if via == Via::Model {
        return ours_model(c, &req);
    }
    fs::create_dir(&dst).unwrap();
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).unwrap();
    let from = SystemTime::now();
    let s = archive::extract(&req).unwrap_or_else(|e| panic!("{}: extract failed: {e}", c.id));
    let to = SystemTime::now();
    let out = outcome_of(s.nomad_failure, || tree(&dst, from, to));
    make_writable(tmp.path());
    out
}

/// Files of one case read back from the bundle, each a new unpacking of it: past
/// this many, a file of at most [`HEAD`] bytes is hashed from its kept head instead
/// (the 4,095 one-byte files of `limit/tar-default-4095` would take minutes).
const READ_BACKS: usize = 8;

/// [`ours`] into the in-memory tree, as the static check unpacks (the bundle stays
/// where it is: files are read back from it).
fn ours_model(c: &Case, req: &ExtractRequest<'_>) -> Outcome {
    let mut t = model::Tree::alloc_dir("task", true);
    // The destination as the disk replay makes it: 0755.
    let umask = std::mem::replace(&mut t.umask, 0o022);
    t.create_dir_all(&[b"dst".to_vec()]);
    t.umask = umask;
    let s = archive::extract_model(req, &mut t, &[b"dst".to_vec()], None, &mut None)
        .unwrap_or_else(|e| panic!("{}: extract_model failed: {e}", c.id));
    outcome_of(s.nomad_failure, || {
        model_tree(&t, t.lookup_path("dst").unwrap(), &c.id)
    })
}

/// [`tree`] of the model below `root`. Its `mtime: None` is "made now", which the
/// disk walk leaves unrecorded too.
fn model_tree(t: &model::Tree, root: model::NodeId, id: &str) -> Vec<Node> {
    let mut out = Vec::new();
    let mut read_backs = 0;
    let mut stack = vec![(root, ".".to_owned())];
    while let Some((n, rel)) = stack.pop() {
        let node = t.node(n);
        let (kind, size, sum) = match &node.kind {
            model::Kind::Dir(_) => ("dir", None, None),
            model::Kind::Symlink(target) => ("symlink", None, Some(sha256(target))),
            model::Kind::File(f) => {
                let head_is_all = f.size <= HEAD as u64 && f.head.len() as u64 == f.size;
                let bytes: Vec<u8> = if read_backs < READ_BACKS || !head_is_all {
                    read_backs += 1;
                    let b = t
                        .content(f)
                        .unwrap_or_else(|e| panic!("{id}: reading `{rel}` back: {e}"));
                    assert_eq!(
                        b.len() as u64,
                        f.size,
                        "{id}: `{rel}` read back at another size than it was unpacked"
                    );
                    assert_eq!(
                        &b[..b.len().min(HEAD)],
                        &f.head[..],
                        "{id}: `{rel}`: its kept head is not its first bytes read back"
                    );
                    b.to_vec()
                } else {
                    f.head.clone()
                };
                ("file", Some(f.size), Some(sha256(&bytes)))
            }
        };
        out.push(Node {
            path: rel.clone(),
            kind: kind.into(),
            mode: format!("{:04o}", node.mode & 0o7777),
            size,
            sha256: sum,
            mtime: node.mtime.map(|(s, ns)| format!("{s}.{ns:09}")),
        });
        for (name, child) in t.children(n) {
            let name = escape(name);
            let r = if rel == "." {
                name
            } else {
                format!("{rel}/{name}")
            };
            stack.push((child, r));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The oracle on one case.
fn oracle(bin: &Path, c: &Case) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join(&c.name);
    fs::write(&bundle, &c.bytes).unwrap();
    let gettmp = tmp.path().join("t");
    fs::create_dir(&gettmp).unwrap();
    let dst = make_dst(tmp.path(), NOMAD_DST.len());
    let from = SystemTime::now();
    let out = std::process::Command::new(bin)
        .env("TMPDIR", &gettmp)
        .args([
            "--files-limit",
            &c.files_limit.to_string(),
            "--size-limit",
            &c.size_limit.to_string(),
            corpus::key_of(&c.name),
        ])
        .arg(&bundle)
        .arg(&dst)
        .output()
        .unwrap();
    let to = SystemTime::now();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let outcome = if stdout == "OK\n" {
        Outcome::unpacked(tree(&dst, from, to))
    } else if let Some(e) = stdout.strip_prefix("ERR: ") {
        let src = regex::Regex::new(&format!(
            "{}/getter[0-9]+/archive",
            regex::escape(&gettmp.display().to_string())
        ))
        .unwrap();
        let e = e.strip_suffix('\n').unwrap_or(e);
        Outcome::failed(
            src.replace_all(e, "<src>")
                .replace(&dst.display().to_string(), "<dst>"),
        )
    } else {
        panic!(
            "{}: the oracle said neither OK nor ERR ({}): {stdout}{}",
            c.id,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    make_writable(tmp.path());
    outcome
}

/// One JSON object a line, so a re-recording diffs case by case.
fn write_records(path: &Path, r: &Records) {
    let mut s = String::from("{\n");
    s += &format!(
        "\"gogetter\": {},\n",
        serde_json::to_string(&r.gogetter).unwrap()
    );
    s += &format!("\"nomad\": {},\n", serde_json::to_string(&r.nomad).unwrap());
    s += &format!(
        "\"oracle\": {},\n",
        serde_json::to_string(&r.oracle).unwrap()
    );
    s += "\"cases\": [\n";
    let lines: Vec<String> = r
        .cases
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    s += &lines.join(",\n");
    s += "\n]\n}\n";
    fs::write(path, s).unwrap();
}

fn record(bin: &Path, out: &Path) {
    let tag = std::env::var("NCC_GOGETTER_TAG").expect("NCC_GOGETTER_TAG (e.g. v1.8.6)");
    let nomad = std::env::var("NCC_GOGETTER_NOMAD").expect("NCC_GOGETTER_NOMAD (e.g. 2.0)");
    let about = std::env::var("NCC_GOGETTER_ABOUT").unwrap_or_default();
    let cases = corpus::corpus();
    let mut recs = Vec::new();
    for c in &cases {
        let o = oracle(bin, c);
        eprintln!("{:60} {}", c.id, o.error.as_deref().unwrap_or("OK"));
        recs.push(Record {
            id: c.id.clone(),
            name: c.name.clone(),
            sha256: sha256(&c.bytes),
            files_limit: c.files_limit,
            size_limit: c.size_limit,
            outcome: o,
        });
    }
    write_records(
        out,
        &Records {
            gogetter: tag,
            nomad,
            oracle: about,
            cases: recs,
        },
    );
    eprintln!("wrote {} cases to {}", cases.len(), out.display());
}

fn dump(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let mut manifest = String::from("id\tfile\tkey\tfiles_limit\tsize_limit\n");
    for (i, c) in corpus::corpus().iter().enumerate() {
        let sub = format!("{i:03}");
        fs::create_dir_all(dir.join(&sub)).unwrap();
        let file = format!("{sub}/{}", c.name);
        fs::write(dir.join(&file), &c.bytes).unwrap();
        manifest += &format!(
            "{}\t{file}\t{}\t{}\t{}\n",
            c.id,
            corpus::key_of(&c.name),
            c.files_limit,
            c.size_limit
        );
    }
    fs::write(dir.join("manifest.tsv"), manifest).unwrap();
    eprintln!("wrote the corpus to {}", dir.display());
}

fn load_records() -> Vec<Records> {
    let mut v = Vec::new();
    for e in fs::read_dir(fixtures()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('v') && name.ends_with(".json") {
            let r: Records = serde_json::from_str(&fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            v.push(r);
        }
    }
    v.sort_by(|a, b| a.gogetter.cmp(&b.gogetter));
    v
}

fn load_divergences() -> Vec<Divergence> {
    let p = fixtures().join("divergences.json");
    serde_json::from_str(&fs::read_to_string(&p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn describe(o: &Outcome) -> String {
    match &o.error {
        Some(e) => format!("ERR: {e}"),
        None => "OK".into(),
    }
}

/// The differences between go-getter's outcome and ours, by aspect.
fn compare(want: &Outcome, got: &Outcome) -> BTreeMap<&'static str, String> {
    let mut d = BTreeMap::new();
    if want.ok != got.ok {
        d.insert(
            "verdict",
            format!(
                "go-getter: {}\n      ours: {}",
                describe(want),
                describe(got)
            ),
        );
        return d;
    }
    if want.error != got.error {
        d.insert(
            "error",
            format!(
                "go-getter: {}\n      ours: {}",
                describe(want),
                describe(got)
            ),
        );
    }
    if want.tree_digest != got.tree_digest {
        d.insert(
            "tree",
            format!(
                "go-getter: {:?} (entries, SHA-256)\n      ours: {:?}",
                want.tree_digest, got.tree_digest
            ),
        );
    }
    if want.tree != got.tree {
        let w: BTreeMap<_, _> = want.tree.iter().map(|n| (n.path.clone(), n)).collect();
        let g: BTreeMap<_, _> = got.tree.iter().map(|n| (n.path.clone(), n)).collect();
        let mut lines = Vec::new();
        for (p, n) in &w {
            match g.get(p) {
                None => lines.push(format!("  only go-getter: {n:?}")),
                Some(m) if m != n => lines.push(format!("  go-getter: {n:?}\n       ours: {m:?}")),
                _ => {}
            }
        }
        for (p, m) in &g {
            if !w.contains_key(p) {
                lines.push(format!("  only ours: {m:?}"));
            }
        }
        d.insert("tree", lines.join("\n"));
    }
    d
}

fn replay(
    rec: &Record,
    case: Option<&Case>,
    version: NomadVersion,
    via: Via,
    kept: &[Divergence],
) -> Result<(), Failed> {
    let Some(case) = case else {
        return Err(format!(
            "`{}` is recorded but no longer in the corpus: re-record (ci/gogetter-record)",
            rec.id
        )
        .into());
    };
    let have = sha256(&case.bytes);
    if have != rec.sha256
        || case.name != rec.name
        || case.files_limit != rec.files_limit
        || case.size_limit != rec.size_limit
    {
        return Err(format!(
            "`{}` changed since it was recorded (bytes {have}, recorded {}): re-record with ci/gogetter-record",
            rec.id, rec.sha256
        )
        .into());
    }
    let got = ours(case, version, via);
    let mut diffs = compare(&rec.outcome, &got);
    for k in kept {
        if diffs.remove(k.aspect.as_str()).is_none() {
            return Err(format!(
                "the kept divergence in {} ({}) is gone: remove it from fixtures/gogetter/divergences.json",
                k.aspect, k.reason
            )
            .into());
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs
            .into_iter()
            .map(|(k, v)| format!("{k} differs:\n      {v}"))
            .collect::<Vec<_>>()
            .join("\n")
            .into())
    }
}

fn main() {
    if let Some(dir) = std::env::var_os("NCC_GOGETTER_CORPUS") {
        dump(Path::new(&dir));
        return;
    }
    if let Some(bin) = std::env::var_os("NCC_GOGETTER_ORACLE") {
        let out = std::env::var_os("NCC_GOGETTER_RECORD").expect("NCC_GOGETTER_RECORD=OUT.json");
        record(Path::new(&bin), Path::new(&out));
        return;
    }
    let args = Arguments::from_args();
    let cases: BTreeMap<String, Case> = corpus::corpus()
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let cases = std::sync::Arc::new(cases);
    let divergences = load_divergences();
    let records = load_records();
    let mut trials = Vec::new();
    {
        let cases = cases.clone();
        let recorded: Vec<(String, Vec<String>)> = records
            .iter()
            .map(|r| {
                (
                    r.gogetter.clone(),
                    r.cases.iter().map(|c| c.id.clone()).collect(),
                )
            })
            .collect();
        let div = divergences.clone();
        trials.push(Trial::test("corpus_is_recorded_in_full", move || {
            if cases.len() < 250 {
                return Err(
                    format!("the corpus has {} archives, fewer than 250", cases.len()).into(),
                );
            }
            if recorded.len() < 2 {
                return Err("want records for two go-getter versions".into());
            }
            for (tag, ids) in &recorded {
                let missing: Vec<_> = cases.keys().filter(|k| !ids.contains(k)).collect();
                if !missing.is_empty() {
                    return Err(format!("{tag}: not recorded: {missing:?}: re-record").into());
                }
            }
            for d in &div {
                if d.via
                    .as_deref()
                    .is_some_and(|p| p != "disk" && p != "model")
                {
                    return Err(format!(
                        "divergences.json: `via` is disk or model, not {:?}",
                        d.via
                    )
                    .into());
                }
                if !cases.contains_key(&d.id) || !recorded.iter().any(|(t, _)| *t == d.gogetter) {
                    return Err(
                        format!("divergences.json names unknown {} {}", d.gogetter, d.id).into(),
                    );
                }
            }
            Ok(())
        }));
    }
    for r in records {
        let version: NomadVersion = r.nomad.parse().unwrap();
        let rec_cases = std::sync::Arc::new(r.cases);
        for via in [Via::Disk, Via::Model] {
            for i in 0..rec_cases.len() {
                let (cases, recs) = (cases.clone(), rec_cases.clone());
                let rec = &recs[i];
                let kept: Vec<Divergence> = divergences
                    .iter()
                    .filter(|d| d.gogetter == r.gogetter && d.id == rec.id)
                    .filter(|d| d.via.as_deref().is_none_or(|p| p == via.name()))
                    .cloned()
                    .collect();
                let name = match via {
                    Via::Disk => format!("{}::{}", r.gogetter, rec.id),
                    Via::Model => format!("{}::model::{}", r.gogetter, rec.id),
                };
                trials.push(Trial::test(name, move || {
                    let rec = &recs[i];
                    replay(rec, cases.get(&rec.id), version, via, &kept)
                }));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
