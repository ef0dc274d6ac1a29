//! The exec driver's task directory, laid out as a Nomad client lays it out
//! (`hashicorp/nomad:client/allocdir/alloc_dir.go` `Build`, `task_dir.go` `Build`), and
//! the `chroot_env` that is embedded into it.
//!
//! `chroot_env` is *not* copied: the analysis sees it as a read-only layer over the host
//! paths ([`Layer`]), and the sandbox bind-mounts it read-only. Artifacts are unpacked
//! into the real directory, and where both provide a path the artifact wins, as it does
//! on a client (artifacts are unpacked over the built chroot, §6.2).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::clientconfig::ClientConfig;
use crate::error::ExitCode;
use crate::nomad::{self, NomadVersion};

#[derive(Debug, thiserror::Error)]
pub enum TaskDirError {
    #[error(
        "cannot create the work dir under `{parent}`: {source} (set TMPDIR to a writable directory)"
    )]
    WorkDir {
        parent: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create `{path}`: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Nomad's own text (`hashicorp/nomad:nomad/structs/structs.go` `TaskArtifact.Validate`).
    #[error("artifact destination path escapes alloc directory: {0:?}")]
    DestinationEscapes(String),
    #[error("task name `{0}` is not usable: {1}")]
    TaskName(String, &'static str),
}

impl TaskDirError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            TaskDirError::DestinationEscapes(_) | TaskDirError::TaskName(..) => ExitCode::Reject,
            _ => ExitCode::Error,
        }
    }
}

/// The client's `chroot_env`: host source → task destination.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChrootEnv {
    pub entries: BTreeMap<String, String>,
}

impl ChrootEnv {
    pub fn nomad_default(version: NomadVersion) -> Self {
        ChrootEnv {
            entries: nomad::default_chroot_env(version)
                .into_iter()
                .map(|(s, d)| (s.to_owned(), d.to_owned()))
                .collect(),
        }
    }

    pub fn none() -> Self {
        ChrootEnv::default()
    }

    /// From a client config: a non-empty map replaces the default entirely, an empty
    /// one falls back to the default (`task_dir_hook.go` `Prestart`:
    /// `if len(cc.ChrootEnv) > 0 { chroot = cc.ChrootEnv }`).
    pub fn from_client(version: NomadVersion, client: &ClientConfig) -> Self {
        let mut env = if client.chroot_env.is_empty() {
            ChrootEnv::nomad_default(version)
        } else {
            ChrootEnv {
                entries: client.chroot_env.clone(),
            }
        };
        // Entries equal to the alloc dir are skipped (`TaskDir.skip`).
        if let Some(alloc_dir) = &client.alloc_dir {
            env.entries.retain(|src, _| src != alloc_dir);
        }
        env
    }

    /// From `--chroot-env` values: `nomad-default`, `none`, or `SRC=DST` entries.
    pub fn from_args(version: NomadVersion, args: &[String]) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        let mut base: Option<ChrootEnv> = None;
        for a in args {
            match a.as_str() {
                "nomad-default" | "default" => base = Some(ChrootEnv::nomad_default(version)),
                "none" => base = Some(ChrootEnv::none()),
                pair => {
                    let (src, dst) = pair.split_once('=').ok_or_else(|| {
                        format!("--chroot-env `{pair}` must be nomad-default, none, or SRC=DST")
                    })?;
                    if !src.starts_with('/') || !dst.starts_with('/') {
                        return Err(format!(
                            "--chroot-env `{pair}`: both SRC and DST must be absolute paths"
                        ));
                    }
                    entries.insert(src.to_owned(), dst.to_owned());
                }
            }
        }
        let mut env = base.unwrap_or_default();
        env.entries.extend(entries);
        Ok(env)
    }

    /// The entries as layers, skipping sources missing on this host (Nomad skips them
    /// silently, `task_dir.go` `embedDirs`).
    pub fn layers(&self) -> Vec<Layer> {
        let mut layers: Vec<Layer> = self
            .entries
            .iter()
            .filter(|(src, _)| fs::metadata(src).is_ok())
            .map(|(src, dst)| Layer {
                dest: normalize_task_path(dst),
                src: PathBuf::from(src),
                origin: LayerOrigin::ChrootEnv,
            })
            .collect();
        layers.sort_by(|a, b| a.dest.cmp(&b.dest));
        layers
    }
}

/// Where a layer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerOrigin {
    /// A `chroot_env` entry: copied/hardlinked by Nomad, read-only layer here.
    ChrootEnv,
    /// The shared alloc dir bind-mounted at `/alloc` (`task_dir.go` `linkDir`).
    AllocBind,
}

/// A host directory or file that appears at `dest` inside the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Absolute, normalised task path (`/usr`, `/etc/passwd`).
    pub dest: String,
    /// Host path (followed once if it is a symlink, as `os.Stat` does).
    pub src: PathBuf,
    pub origin: LayerOrigin,
}

/// How `secrets/` and `private/` exist in this task dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsMode {
    /// Plain directories; the analysis still treats them as noexec, and the sandbox
    /// mounts tmpfs noexec over them.
    PlainDir,
}

/// The task directory on disk and everything needed to see it as the task does.
#[derive(Debug)]
pub struct TaskDir {
    work: Option<tempfile::TempDir>,
    /// Held while the check runs: a sweep by another checker leaves the dir alone.
    claim: Option<crate::cleanup::Claim>,
    /// `<alloc_dir>/<alloc_id>`: holds `alloc/` and the task dir.
    pub alloc_dir: PathBuf,
    /// `<alloc_dir>/<alloc_id>/<task>`: the chroot root.
    pub root: PathBuf,
    pub task_name: String,
    pub version: NomadVersion,
    pub chroot_env: ChrootEnv,
    pub secrets: SecretsMode,
    /// Set for an alloc dir Nomad built ([`TaskDir::existing`]): never written, a run
    /// sees it through a writable overlay whose upper layer lives in the work dir.
    pub view: Option<WritableView>,
    /// The allocation dir as a model in memory ([`TaskDir::in_memory`]): nothing of it
    /// is on disk, and `alloc_dir`/`root` are where it would be.
    pub model: Option<std::sync::Arc<crate::archive::model::Tree>>,
    /// The work dir is a tmpfs mounted on `alloc_dir` in this process's own mount
    /// namespace: unmounted, not emptied, when it is removed.
    pub mounted: bool,
    /// The most the work dir may take (a share of `/dev/shm`): unpacking stops there.
    pub room: Option<u64>,
}

/// Where a run over a read-only alloc dir writes: an overlay's upper and work dirs and
/// the task's log files, all in our own work dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableView {
    pub scratch: PathBuf,
}

/// A fresh work dir of this checker's (`nomad-chroot-check.<pid>.<random>` under
/// `$TMPDIR`), registered for removal on interruption; a later run removes it if this
/// process dies without doing so (see [`crate::cleanup::sweep_work_dirs`]). The claim
/// keeps other checkers' sweeps away while it is held: hold it as long as the dir.
pub fn work_dir() -> Result<(tempfile::TempDir, Option<crate::cleanup::Claim>), TaskDirError> {
    work_dir_in(std::env::temp_dir())
}

/// Mount this process's own tmpfs of at most `budget` bytes on the empty directory
/// `dir` (its mode stays the work dir's 0700); see [`crate::workdir`] for the mount
/// namespace it lives in.
fn mount_tmpfs(dir: &Path, budget: u64) -> std::io::Result<()> {
    use nix::mount::{MsFlags, mount};
    let opts = format!("size={},mode=0700", budget.max(1 << 20));
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|e| std::io::Error::other(format!("mount tmpfs on `{}` ({opts}): {e}", dir.display())))
}

/// [`work_dir`] under `parent`.
fn work_dir_in(
    parent: PathBuf,
) -> Result<(tempfile::TempDir, Option<crate::cleanup::Claim>), TaskDirError> {
    crate::cleanup::sweep_work_dirs(&parent, WORK_DIR_PREFIX);
    let work = tempfile::Builder::new()
        .prefix(&format!("{WORK_DIR_PREFIX}{}.", std::process::id()))
        .tempdir_in(&parent)
        .map_err(|source| TaskDirError::WorkDir { parent, source })?;
    crate::cleanup::register(work.path());
    let claim = crate::cleanup::claim(work.path());
    Ok((work, claim))
}

/// An allocation directory: the shared `alloc/` (`data`, `logs`, `tmp`) that every task
/// of the allocation mounts at `/alloc`, and one task dir per task beside it
/// (`hashicorp/nomad:client/allocdir/alloc_dir.go` `Build`).
#[derive(Debug)]
pub struct AllocDir {
    /// `<alloc_dir>/<alloc_id>`.
    pub path: PathBuf,
}

impl AllocDir {
    /// Lay out `path` (created if missing) with the shared alloc dir.
    pub fn build(path: PathBuf) -> Result<AllocDir, TaskDirError> {
        // hashicorp/nomad:client/allocdir/alloc_dir.go Build + fs_unix.go
        // dropDirPermissions: every dir gets desired|0777 (so 0777), tmp is sticky.
        let shared = path.join("alloc");
        fs::create_dir_all(&path).map_err(|source| TaskDirError::Create {
            path: path.clone(),
            source,
        })?;
        for dir in [
            shared.clone(),
            shared.join("data"),
            shared.join("logs"),
            shared.join("tmp"),
        ] {
            create_dir_mode(&dir, 0o777)?;
        }
        Ok(AllocDir { path })
    }

    /// Build the task dir of `task_name` in this allocation. The allocation's owner
    /// removes it (the returned [`TaskDir`] does not).
    pub fn task_dir(
        &self,
        task_name: &str,
        version: NomadVersion,
        chroot_env: ChrootEnv,
    ) -> Result<TaskDir, TaskDirError> {
        validate_task_name(task_name)?;
        let root = self.path.join(task_name);
        // task_dir.go Build
        let mut dirs: Vec<(PathBuf, u32)> = vec![
            (root.clone(), 0o777),
            (root.join("local"), 0o777),
            (root.join("secrets"), 0o777),
            (root.join("tmp"), 0o1777),
            // Mount point of the shared alloc dir (`linkDir`).
            (root.join("alloc"), 0o777),
        ];
        if version.has_private_dir() {
            dirs.push((root.join("private"), 0o777));
        }
        for (dir, mode) in &dirs {
            create_dir_mode(dir, *mode)?;
        }
        // The marker file Nomad writes into each secrets tmpfs (fs_linux.go createSecretDir).
        let marker = root.join("secrets/.nomad-mount");
        fs::write(&marker, b"")
            .and_then(|()| fs::set_permissions(&marker, fs::Permissions::from_mode(0o644)))
            .map_err(|source| TaskDirError::Create {
                path: marker,
                source,
            })?;
        Ok(TaskDir {
            work: None,
            claim: None,
            alloc_dir: self.path.clone(),
            root,
            task_name: task_name.to_owned(),
            version,
            chroot_env,
            secrets: SecretsMode::PlainDir,
            view: None,
            model: None,
            mounted: false,
            room: None,
        })
    }
}

impl TaskDir {
    /// Create a fresh work dir and lay out the alloc and task dirs in it.
    pub fn build(
        task_name: &str,
        version: NomadVersion,
        chroot_env: ChrootEnv,
    ) -> Result<TaskDir, TaskDirError> {
        validate_task_name(task_name)?;
        let (work, claim) = work_dir()?;
        let alloc = AllocDir::build(work.path().to_path_buf())?;
        let mut td = alloc.task_dir(task_name, version, chroot_env)?;
        td.work = Some(work);
        td.claim = claim;
        Ok(td)
    }

    /// [`TaskDir::build`] on a tmpfs of at most `budget` bytes: our own, mounted on the
    /// work dir in this process's mount namespace (`own`, root), or `/dev/shm`.
    pub fn build_on_tmpfs(
        task_name: &str,
        version: NomadVersion,
        chroot_env: ChrootEnv,
        own: bool,
        budget: u64,
    ) -> Result<TaskDir, TaskDirError> {
        validate_task_name(task_name)?;
        let parent = if own {
            std::env::temp_dir()
        } else {
            PathBuf::from("/dev/shm")
        };
        let (work, claim) = work_dir_in(parent)?;
        if own {
            mount_tmpfs(work.path(), budget).map_err(|source| TaskDirError::Create {
                path: work.path().to_owned(),
                source,
            })?;
        }
        let mounted = own;
        let alloc = AllocDir::build(work.path().to_path_buf());
        let mut td = match alloc.and_then(|a| a.task_dir(task_name, version, chroot_env)) {
            Ok(td) => td,
            Err(e) => {
                if mounted {
                    let _ = nix::mount::umount2(work.path(), nix::mount::MntFlags::MNT_DETACH);
                }
                return Err(e);
            }
        };
        td.work = Some(work);
        td.claim = claim;
        td.mounted = mounted;
        td.room = (!own).then_some(budget);
        Ok(td)
    }

    /// A task dir that exists only as a model in memory: what a static check unpacks
    /// into when nothing needs the real tree. Its paths are those a work dir would have
    /// (`$TMPDIR/nomad-chroot-check.<pid>.memory`), for messages; nothing is created.
    pub fn in_memory(
        task_name: &str,
        version: NomadVersion,
        chroot_env: ChrootEnv,
    ) -> Result<TaskDir, TaskDirError> {
        validate_task_name(task_name)?;
        let alloc_dir =
            std::env::temp_dir().join(format!("{WORK_DIR_PREFIX}{}.memory", std::process::id()));
        let tree = crate::archive::model::Tree::alloc_dir(task_name, version.has_private_dir());
        Ok(TaskDir {
            work: None,
            claim: None,
            root: alloc_dir.join(task_name),
            alloc_dir,
            task_name: task_name.to_owned(),
            version,
            chroot_env,
            secrets: SecretsMode::PlainDir,
            view: None,
            model: Some(std::sync::Arc::new(tree)),
            mounted: false,
            room: None,
        })
    }

    /// The task dir of an allocation Nomad built (`<data_dir>/alloc/<id>/<task>`), as
    /// it is: nothing is created or changed in it. Its chroot_env copies are already
    /// inside, so no chroot_env layer is added. The work dir made here holds only what a
    /// run writes (see [`WritableView`]), and is what the drop removes.
    pub fn existing(
        alloc_dir: &Path,
        task_name: &str,
        version: NomadVersion,
    ) -> Result<TaskDir, TaskDirError> {
        validate_task_name(task_name)?;
        let (work, claim) = work_dir()?;
        let scratch = work.path().to_path_buf();
        // A run's log files (see `sandbox::plan::log_paths`).
        create_dir_mode(&scratch.join("logs"), 0o777)?;
        Ok(TaskDir {
            work: Some(work),
            claim,
            alloc_dir: alloc_dir.to_owned(),
            root: alloc_dir.join(task_name),
            task_name: task_name.to_owned(),
            version,
            chroot_env: ChrootEnv::none(),
            secrets: SecretsMode::PlainDir,
            view: Some(WritableView { scratch }),
            model: None,
            mounted: false,
            room: None,
        })
    }

    /// The directory the sandbox child may remove if the checker dies: our work dir,
    /// never an alloc dir Nomad built.
    pub fn removable(&self) -> &Path {
        match &self.view {
            Some(v) => &v.scratch,
            None => &self.alloc_dir,
        }
    }

    /// The shared alloc dir on the host (`<alloc_id>/alloc`).
    pub fn shared_alloc(&self) -> PathBuf {
        self.alloc_dir.join("alloc")
    }

    /// Whether `host` lies in this check's work dir (the alloc dir and its task dirs).
    pub fn owns(&self, host: &Path) -> bool {
        host.starts_with(&self.alloc_dir)
    }

    /// Every layer the task sees besides its own directory: the shared alloc dir at
    /// `/alloc`, and the chroot_env entries present on this host.
    pub fn layers(&self) -> Vec<Layer> {
        let mut layers = self.chroot_env.layers();
        layers.push(Layer {
            dest: "/alloc".into(),
            src: self.shared_alloc(),
            origin: LayerOrigin::AllocBind,
        });
        layers.sort_by(|a, b| a.dest.cmp(&b.dest));
        layers
    }

    /// Resolve an artifact `destination` as Nomad does: relative to the task dir, an
    /// absolute path joined under it, `..` allowed up to the alloc dir
    /// (`hashicorp/nomad:client/taskenv/env.go` `ClientPath`,
    /// `client/allocrunner/taskrunner/getter/util.go`). Returns the host directory and
    /// the path as the task sees it (`None` when it is outside the task root, e.g.
    /// `../alloc/data`, seen by the task at `/alloc/data`).
    pub fn destination(&self, dest: &str) -> Result<(PathBuf, String), TaskDirError> {
        let rel = dest.trim_start_matches('/');
        // Work relative to the alloc dir: the task dir is `<task>/`.
        let mut parts: Vec<String> = vec![self.task_name.clone()];
        for c in Path::new(rel).components() {
            match c {
                Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    if parts.pop().is_none() {
                        return Err(TaskDirError::DestinationEscapes(dest.to_owned()));
                    }
                }
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        let host = parts.iter().fold(self.alloc_dir.clone(), |p, c| p.join(c));
        let task_path = match parts.first().map(String::as_str) {
            Some(t) if t == self.task_name => format!("/{}", parts[1..].join("/")),
            Some("alloc") => format!("/{}", parts.join("/")),
            _ => return Err(TaskDirError::DestinationEscapes(dest.to_owned())),
        };
        Ok((host, task_path))
    }

    /// Where a Nomad client has the directory the task sees at `task_path`
    /// (`<data_dir>/alloc/<alloc id>/<task>/local`; `/alloc/…` is the shared alloc dir),
    /// with [`nomad::CLIENT_DATA_DIR`] and an allocation ID's length.
    pub fn nomad_client_path(&self, task_path: &str) -> String {
        let alloc = format!(
            "{}/alloc/{}",
            crate::nomad::CLIENT_DATA_DIR,
            crate::nomad::ALLOC_ID_SHAPE
        );
        let rel = task_path.trim_end_matches('/');
        if rel == "/alloc" || rel.starts_with("/alloc/") {
            format!("{alloc}{rel}")
        } else {
            format!("{alloc}/{}{rel}", self.task_name)
        }
    }

    /// Stop removing the work dir at the end and return where it is (`--keep`): it is
    /// the user's from now on, renamed out of the pattern later checks sweep
    /// (`nomad-chroot-check-kept.<pid>.<random>`). Nothing runs in it any more.
    pub fn keep(&mut self) -> PathBuf {
        let Some(w) = self.work.take() else {
            return self.alloc_dir.clone();
        };
        crate::cleanup::unregister(w.path());
        let path = w.keep();
        let kept = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| crate::cleanup::kept_name(WORK_DIR_PREFIX, n))
            .map(|n| path.with_file_name(n));
        self.claim = None;
        match kept {
            Some(k) if fs::rename(&path, &k).is_ok() => {
                self.alloc_dir = k.clone();
                self.root = k.join(&self.task_name);
                k
            }
            _ => path,
        }
    }
}

impl Drop for TaskDir {
    fn drop(&mut self) {
        if let Some(w) = self.work.take() {
            let path = w.keep();
            if self.mounted {
                // Our own tmpfs: gone with its mount, whatever it holds.
                let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
            }
            crate::cleanup::remove_tree(&path);
            crate::cleanup::unregister(&path);
        }
    }
}

/// Work dirs are named `nomad-chroot-check.<pid>.<random>`: the pid lets a later check
/// remove what a checker killed with SIGKILL (which no handler can catch) left behind
/// ([`crate::cleanup::sweep_work_dirs`]).
const WORK_DIR_PREFIX: &str = "nomad-chroot-check.";

/// Give the owner write permission on every directory below `path` (for removal).
pub use crate::cleanup::make_writable;

fn create_dir_mode(dir: &Path, mode: u32) -> Result<(), TaskDirError> {
    fs::create_dir_all(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(mode)))
        .map_err(|source| TaskDirError::Create {
            path: dir.to_owned(),
            source,
        })
}

fn validate_task_name(name: &str) -> Result<(), TaskDirError> {
    let bad = |why| Err(TaskDirError::TaskName(name.to_owned(), why));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name == "alloc" {
        return bad("`alloc` is the shared alloc dir's name");
    }
    if name.contains('/') || name == "." || name == ".." || name.contains('\0') {
        return bad("task names cannot contain `/` or be `.`/`..`");
    }
    Ok(())
}

/// Make a task path absolute and clean (`usr//bin/` → `/usr/bin`), without resolving
/// `..` against anything but the root.
pub fn normalize_task_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nomads_layout_with_modes() {
        let td = TaskDir::build("web", NomadVersion::NEWEST, ChrootEnv::none()).unwrap();
        let mode = |p: &str| {
            fs::metadata(td.alloc_dir.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("web"), 0o777);
        assert_eq!(mode("web/tmp"), 0o1777);
        assert_eq!(mode("web/local"), 0o777);
        assert_eq!(mode("alloc/logs"), 0o777);
        assert!(td.root.join("private").is_dir());
        let old = TaskDir::build("web", "1.5".parse().unwrap(), ChrootEnv::none()).unwrap();
        assert!(
            !old.root.join("private").exists(),
            "private/ arrived in 1.6"
        );
    }

    #[test]
    fn work_dirs_of_dead_checkers_are_swept() {
        let parent = tempfile::tempdir().unwrap();
        // A pid above pid_max cannot be alive.
        let stale = parent
            .path()
            .join(format!("{WORK_DIR_PREFIX}2147483646.abc"));
        let live = parent
            .path()
            .join(format!("{WORK_DIR_PREFIX}{}.abc", std::process::id()));
        let other = parent.path().join("nomad-chroot-check-notes");
        let kept = parent.path().join(
            crate::cleanup::kept_name(WORK_DIR_PREFIX, "nomad-chroot-check.2147483646.def")
                .unwrap(),
        );
        let fresh = parent
            .path()
            .join(format!("{WORK_DIR_PREFIX}2147483646.new"));
        for d in [&stale, &live, &other, &kept, &fresh] {
            fs::create_dir_all(d.join("nix/store")).unwrap();
        }
        fs::set_permissions(stale.join("nix/store"), fs::Permissions::from_mode(0o555)).unwrap();
        // Made long ago (a dir younger than a minute may be a checker's not yet claimed).
        let long_ago = nix::sys::time::TimeSpec::new(1_600_000_000, 0);
        for d in [&stale, &live, &other, &kept] {
            nix::sys::stat::utimensat(
                nix::fcntl::AT_FDCWD,
                d.as_path(),
                &long_ago,
                &long_ago,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .unwrap();
        }
        crate::cleanup::sweep_work_dirs(parent.path(), WORK_DIR_PREFIX);
        assert!(!stale.exists());
        assert!(live.exists() && other.exists() && kept.exists() && fresh.exists());
    }

    #[test]
    fn work_dir_is_removed_on_drop() {
        let td = TaskDir::build("t", NomadVersion::NEWEST, ChrootEnv::none()).unwrap();
        let dir = td.alloc_dir.clone();
        fs::create_dir_all(td.root.join("local/ro")).unwrap();
        fs::set_permissions(td.root.join("local/ro"), fs::Permissions::from_mode(0o555)).unwrap();
        drop(td);
        assert!(!dir.exists());
    }

    #[test]
    fn destinations_resolve_like_nomad() {
        let td = TaskDir::build("t", NomadVersion::NEWEST, ChrootEnv::none()).unwrap();
        assert_eq!(td.destination("local/").unwrap().1, "/local");
        assert_eq!(td.destination("/").unwrap().1, "/");
        assert_eq!(td.destination("/").unwrap().0, td.root);
        assert_eq!(td.destination("../alloc/data").unwrap().1, "/alloc/data");
        let err = td.destination("../../etc").unwrap_err().to_string();
        assert!(err.contains("escapes alloc directory"), "{err}");
        assert!(td.destination("../other-task").is_err());
    }

    #[test]
    fn chroot_env_args_replace_the_default() {
        let v = NomadVersion::NEWEST;
        let e = ChrootEnv::from_args(v, &["/etc/passwd=/etc/passwd".into()]).unwrap();
        assert_eq!(e.entries.len(), 1);
        let e = ChrootEnv::from_args(v, &["nomad-default".into()]).unwrap();
        assert!(e.entries.contains_key("/usr"));
        assert!(ChrootEnv::from_args(v, &["etc".into()]).is_err());
        let client = ClientConfig::default();
        assert_eq!(
            ChrootEnv::from_client(v, &client),
            ChrootEnv::nomad_default(v)
        );
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize_task_path("usr//bin/"), "/usr/bin");
        assert_eq!(normalize_task_path("/../x"), "/x");
        assert_eq!(normalize_task_path("/"), "/");
    }
}
