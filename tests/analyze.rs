//! The static analysis against real trees: Debian's own ELF binaries and libraries
//! copied into `/nix/store/<hash>-<name>/…` folders of a real task dir and rewritten with
//! patchelf, like a Nix closure. Each test asserts the exact set of missing paths and
//! the error text Nomad shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use nomad_chroot_check::analyze::{Analysis, AnalyzeInput, analyze};
use nomad_chroot_check::archive::{ExtractSummary, LinkEntry};
use nomad_chroot_check::config::TaskSpec;
use nomad_chroot_check::finding::{Cause, Finding, Kind, Severity};
use nomad_chroot_check::nomad::NomadVersion;
use nomad_chroot_check::taskdir::{ChrootEnv, TaskDir};

const LIBDIR: &str = "/lib/x86_64-linux-gnu";
const LD_SO: &str = "ld-linux-x86-64.so.2";

/// A store path with a 32-character hash made of one Nix base-32 character.
fn sp(c: char, name: &str) -> String {
    format!("/nix/store/{}-{name}", c.to_string().repeat(32))
}

struct T {
    td: TaskDir,
    env: BTreeMap<String, String>,
    extract: ExtractSummary,
    version: NomadVersion,
    uid: u32,
    gid: u32,
}

impl T {
    fn new() -> T {
        T::with_chroot(ChrootEnv::none())
    }

    fn with_chroot(chroot: ChrootEnv) -> T {
        let version = NomadVersion::NEWEST;
        T {
            td: TaskDir::build("app", version, chroot).unwrap(),
            env: BTreeMap::from([(
                "PATH".to_owned(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            )]),
            extract: ExtractSummary::default(),
            version,
            uid: 65534,
            gid: 65534,
        }
    }

    fn host(&self, task_path: &str) -> PathBuf {
        self.td.root.join(task_path.trim_start_matches('/'))
    }

    fn copy(&self, src: &str, task_path: &str, mode: u32) {
        let dst = self.host(task_path);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(src, &dst).unwrap();
        fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn write(&self, task_path: &str, content: &[u8], mode: u32) {
        let dst = self.host(task_path);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::write(&dst, content).unwrap();
        fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn link(&self, target: &str, task_path: &str) {
        let dst = self.host(task_path);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        symlink(target, dst).unwrap();
    }

    /// A flattened link: what go-getter leaves of a link entry.
    fn flattened(&mut self, task_path: &str, target: &str) {
        self.write(task_path, b"", 0o777);
        self.extract.links.insert(
            task_path.to_owned(),
            LinkEntry {
                task_path: task_path.to_owned(),
                target: target.to_owned(),
                hard: false,
            },
        );
    }

    /// A glibc store path: Debian's loader and the named libraries.
    fn glibc(&self, store: &str, libs: &[&str]) {
        self.copy(
            &format!("{LIBDIR}/{LD_SO}"),
            &format!("{store}/lib/{LD_SO}"),
            0o555,
        );
        for l in libs {
            self.copy(&format!("{LIBDIR}/{l}"), &format!("{store}/lib/{l}"), 0o555);
        }
    }

    /// Rewrite an ELF file in the tree with patchelf, as Nix's fixup phase does.
    fn patchelf(
        &self,
        task_path: &str,
        interp: Option<&str>,
        rpath: Option<&str>,
        force_rpath: bool,
    ) {
        let p = self.host(task_path);
        let mode = fs::metadata(&p).unwrap().permissions().mode();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new("patchelf");
        if let Some(i) = interp {
            cmd.args(["--set-interpreter", i]);
        }
        if let Some(r) = rpath {
            if force_rpath {
                cmd.arg("--force-rpath");
            }
            cmd.args(["--set-rpath", r]);
        }
        let st = cmd.arg(&p).status().expect("patchelf is installed");
        assert!(st.success(), "patchelf failed on {task_path}");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A Nix-style program: `src` copied to `<store>/bin/<name>`, interpreter and
    /// RUNPATH (or RPATH) pointing into store paths.
    fn program(&self, src: &str, task_path: &str, interp: &str, rpath: &str, force_rpath: bool) {
        self.copy(src, task_path, 0o555);
        self.patchelf(task_path, Some(interp), Some(rpath), force_rpath);
    }

    fn run(&self, command: Option<&str>) -> Analysis {
        let task = TaskSpec {
            command: command.map(str::to_owned),
            ..TaskSpec::new("app")
        };
        analyze(&AnalyzeInput {
            taskdir: &self.td,
            extract: &self.extract,
            task: &task,
            env: &self.env,
            version: self.version,
            uid: self.uid,
            gid: self.gid,
        })
    }
}

fn missing(a: &Analysis) -> BTreeSet<String> {
    a.findings
        .iter()
        .filter(|f| f.kind == Kind::Missing && f.severity == Severity::Error)
        .map(|f| f.path.clone())
        .collect()
}

fn errors(a: &Analysis) -> Vec<&Finding> {
    a.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

fn find<'a>(a: &'a Analysis, kind: Kind, path: &str) -> &'a Finding {
    a.findings
        .iter()
        .find(|f| f.kind == kind && f.path == path)
        .unwrap_or_else(|| panic!("no {kind:?} finding for {path}: {:#?}", a.findings))
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// bash + ncurses + glibc, all present: nothing is missing, the task can start.
#[test]
fn self_contained_closure() {
    let t = T::new();
    let glibc = sp('g', "glibc-2.36");
    let ncurses = sp('n', "ncurses-6.4");
    let bash = sp('b', "bash-5.2");
    t.glibc(&glibc, &["libc.so.6"]);
    t.copy(
        &format!("{LIBDIR}/libtinfo.so.6"),
        &format!("{ncurses}/lib/libtinfo.so.6"),
        0o555,
    );
    t.program(
        "/bin/bash",
        &format!("{bash}/bin/bash"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib:{ncurses}/lib"),
        false,
    );
    // Relative, so Nomad's host-side os.Stat resolves it inside the task dir too.
    t.link(&format!("..{bash}/bin/bash"), "/bin/sh");
    let a = t.run(Some("/bin/sh"));
    assert_eq!(a.resolved_command.as_deref(), Some("/bin/sh"));
    assert!(errors(&a).is_empty(), "{:#?}", a.findings);
    assert!(!a.start_blocked);
    assert!(a.summary.is_empty());
}

/// The ELF interpreter's store path is not in the bundle: execve fails with ENOENT on
/// a file that is plainly there.
#[test]
fn missing_interpreter() {
    let mut t = T::new();
    let glibc = sp('g', "glibc-2.40");
    let hello = sp('h', "hello-2.12");
    t.program(
        "/usr/bin/hello",
        &format!("{hello}/bin/hello"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib"),
        false,
    );
    t.copy(
        &t.host(&format!("{hello}/bin/hello")).display().to_string(),
        "/local/hello",
        0o555,
    );
    let a = t.run(Some("hello"));
    assert_eq!(a.resolved_command.as_deref(), Some("/local/hello"));
    // The execve fails: no loader runs, so libc.so.6 is not looked for.
    assert_eq!(missing(&a), set([&*format!("{glibc}/lib/{LD_SO}")]));
    let f = find(&a, Kind::Missing, &format!("{glibc}/lib/{LD_SO}"));
    assert_eq!(f.cause, Cause::Interpreter);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("exec /local/hello: no such file or directory")
    );
    assert_eq!(f.exit_code, Some(255));
    assert_eq!(f.needed_by, ["/local/hello"]);
    assert!(
        f.hint
            .as_deref()
            .unwrap()
            .contains(&format!("add {glibc} to the bundle")),
        "{f:?}"
    );
    assert!(a.start_blocked);
    assert!(
        a.summary[0].starts_with("glibc-2.40 is not in the bundle"),
        "{:?}",
        a.summary
    );
    // Nomad 1.9 (runc 1.1): the shim exits 1.
    t.version = "1.9".parse().unwrap();
    let a = t.run(Some("hello"));
    assert_eq!(
        find(&a, Kind::Missing, &format!("{glibc}/lib/{LD_SO}")).exit_code,
        Some(1)
    );
}

/// A direct DT_NEEDED whose store path is absent (reported where the loader would
/// have found it), and one missing from a store path that is there.
#[test]
fn missing_direct_library() {
    let t = T::new();
    let glibc = sp('g', "glibc-2.36");
    let ncurses = sp('n', "ncurses-6.4");
    let bash = sp('b', "bash-5.2");
    t.glibc(&glibc, &["libc.so.6"]);
    t.program(
        "/bin/bash",
        &format!("{bash}/bin/bash"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib:{ncurses}/lib"),
        false,
    );
    let argv0 = format!("{bash}/bin/bash");
    let a = t.run(Some(&argv0));
    let tinfo = format!("{ncurses}/lib/libtinfo.so.6");
    // The path is where the loader would have found it: the RUNPATH dir of the
    // absent store path.
    assert_eq!(missing(&a), set([&*tinfo]));
    let f = find(&a, Kind::Missing, &tinfo);
    assert!(
        f.message
            .as_deref()
            .unwrap()
            .contains(&format!("{ncurses} is not in the bundle"))
    );
    assert_eq!(f.cause, Cause::Library);
    assert_eq!(
        f.nomad_error.as_deref().unwrap(),
        format!(
            "{argv0}: error while loading shared libraries: libtinfo.so.6: cannot open shared object file: No such file or directory"
        )
    );
    assert_eq!(f.exit_code, Some(127));
    assert_eq!(f.needed_by, std::slice::from_ref(&argv0));
    assert_eq!(
        f.hint.as_deref().unwrap(),
        format!("add {ncurses} to the bundle: it is in the closure of bash-5.2")
    );
    // A loader failure is not a start failure: the task starts and exits 127.
    assert!(!a.start_blocked);

    // ncurses present, but glibc's store path lacks libc.so.6: only the name is known.
    t.copy(&format!("{LIBDIR}/libtinfo.so.6"), &tinfo, 0o555);
    fs::remove_file(t.host(&format!("{glibc}/lib/libc.so.6"))).unwrap();
    let a = t.run(Some(&argv0));
    assert_eq!(
        missing(&a),
        set([format!("{glibc}/lib/libc.so.6").as_str()])
    );
}

/// ls → libselinux → libpcre2-8: with DT_RPATH on ls, libselinux's dependency is found
/// through ls's RPATH (inherited); with DT_RUNPATH it is not (not transitive).
#[test]
fn rpath_is_inherited_runpath_is_not() {
    let glibc = sp('g', "glibc-2.36");
    let selinux = sp('s', "libselinux-3.4");
    let pcre = sp('p', "pcre2-10.42");
    let ls = sp('c', "coreutils-9.1");
    let build = |force_rpath: bool| {
        let t = T::new();
        t.glibc(&glibc, &["libc.so.6"]);
        t.copy(
            &format!("{LIBDIR}/libselinux.so.1"),
            &format!("{selinux}/lib/libselinux.so.1"),
            0o555,
        );
        t.copy(
            &format!("{LIBDIR}/libpcre2-8.so.0"),
            &format!("{pcre}/lib/libpcre2-8.so.0"),
            0o555,
        );
        t.program(
            "/bin/ls",
            &format!("{ls}/bin/ls"),
            &format!("{glibc}/lib/{LD_SO}"),
            &format!("{glibc}/lib:{selinux}/lib:{pcre}/lib"),
            force_rpath,
        );
        t
    };
    let t = build(true);
    let a = t.run(Some(&format!("{ls}/bin/ls")));
    assert!(missing(&a).is_empty(), "{:#?}", a.findings);

    let t = build(false);
    let a = t.run(Some(&format!("{ls}/bin/ls")));
    assert_eq!(missing(&a), set(["/lib/x86_64-linux-gnu/libpcre2-8.so.0"]));
    let f = find(&a, Kind::Missing, "/lib/x86_64-linux-gnu/libpcre2-8.so.0");
    assert_eq!(
        f.needed_by,
        [
            format!("{ls}/bin/ls"),
            format!("{selinux}/lib/libselinux.so.1")
        ]
    );
}

/// A missing transitive library, found through the shortest chain.
#[test]
fn missing_transitive_library() {
    let t = T::new();
    let glibc = sp('g', "glibc-2.36");
    let selinux = sp('s', "libselinux-3.4");
    let pcre = sp('p', "pcre2-10.42");
    let ls = sp('c', "coreutils-9.1");
    t.glibc(&glibc, &["libc.so.6"]);
    t.copy(
        &format!("{LIBDIR}/libselinux.so.1"),
        &format!("{selinux}/lib/libselinux.so.1"),
        0o555,
    );
    t.patchelf(
        &format!("{selinux}/lib/libselinux.so.1"),
        None,
        Some(&format!("{glibc}/lib:{pcre}/lib")),
        false,
    );
    t.program(
        "/bin/ls",
        &format!("{ls}/bin/ls"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib:{selinux}/lib"),
        false,
    );
    t.link(&format!("..{ls}/bin/ls"), "/local/ls");
    let a = t.run(Some("/local/ls"));
    let want = format!("{pcre}/lib/libpcre2-8.so.0");
    assert_eq!(missing(&a), set([&*want]));
    let f = find(&a, Kind::Missing, &want);
    assert_eq!(
        f.needed_by,
        [
            "/local/ls".to_owned(),
            format!("{ls}/bin/ls"),
            format!("{selinux}/lib/libselinux.so.1")
        ]
    );
    assert!(
        f.nomad_error
            .as_deref()
            .unwrap()
            .starts_with("/local/ls: error while loading shared libraries: libpcre2-8.so.0:")
    );
    assert!(
        f.hint
            .as_deref()
            .unwrap()
            .contains("closure of libselinux-3.4")
    );
}

/// `$ORIGIN` is the directory of the real file (after links), for the program.
#[test]
fn origin_expansion() {
    let t = T::new();
    let glibc = sp('g', "glibc-2.36");
    let hello = sp('h', "hello-2.12");
    t.glibc(&glibc, &[]);
    t.copy(
        &format!("{LIBDIR}/libc.so.6"),
        &format!("{hello}/lib/libc.so.6"),
        0o555,
    );
    t.program(
        "/usr/bin/hello",
        &format!("{hello}/bin/hello"),
        &format!("{glibc}/lib/{LD_SO}"),
        "$ORIGIN/../lib",
        false,
    );
    t.link(&format!("..{hello}/bin/hello"), "/bin/hello");
    let a = t.run(Some("/bin/hello"));
    assert!(
        errors(&a).iter().all(|f| f.kind != Kind::Missing),
        "{:#?}",
        a.findings
    );
    // ${ORIGIN} pointing at a directory that is not there.
    t.patchelf(
        &format!("{hello}/bin/hello"),
        None,
        Some("${ORIGIN}/../lib64"),
        false,
    );
    let a = t.run(Some("/bin/hello"));
    assert_eq!(
        missing(&a),
        set([format!("{hello}/lib64/libc.so.6").as_str()])
    );
}

/// `#!` interpreters: missing, via a dangling symlink, via env and PATH, and /bin/sh
/// shipped only under local/.
#[test]
fn shebangs() {
    let t = T::new();
    let glibc = sp('g', "glibc-2.36");
    let ncurses = sp('n', "ncurses-6.4");
    let bash = sp('b', "bash-5.2");
    let gone = sp('z', "bash-5.2");
    t.glibc(&glibc, &["libc.so.6"]);
    t.copy(
        &format!("{LIBDIR}/libtinfo.so.6"),
        &format!("{ncurses}/lib/libtinfo.so.6"),
        0o555,
    );
    t.program(
        "/bin/bash",
        &format!("{bash}/bin/bash"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib:{ncurses}/lib"),
        false,
    );
    t.write(
        "/local/missing.sh",
        format!("#!{gone}/bin/bash\necho\n").as_bytes(),
        0o555,
    );
    let a = t.run(Some("/local/missing.sh"));
    assert_eq!(missing(&a), set([&*format!("{gone}/bin/bash")]));
    let f = find(&a, Kind::Missing, &format!("{gone}/bin/bash"));
    assert_eq!(f.cause, Cause::Shebang);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("exec /local/missing.sh: no such file or directory")
    );
    assert!(a.start_blocked);

    // Dangling symlink on the interpreter path.
    t.link(&format!("{gone}/bin/bash"), "/bin/sh");
    t.write("/local/run.sh", b"#!/bin/sh\nexec app\n", 0o555);
    let a = t.run(Some("/local/run.sh"));
    assert_eq!(missing(&a), set(["/bin/sh"]));
    let f = find(&a, Kind::Missing, "/bin/sh");
    assert_eq!(f.cause, Cause::Symlink);
    assert!(
        f.message
            .as_deref()
            .unwrap()
            .contains(&format!("/bin/sh -> {gone}/bin/bash"))
    );

    // env + PATH: found through the job's PATH, and then its closure is checked.
    let t = {
        let mut t2 = T::new();
        t2.glibc(&glibc, &["libc.so.6"]);
        t2.program(
            "/bin/bash",
            &format!("{bash}/bin/bash"),
            &format!("{glibc}/lib/{LD_SO}"),
            &format!("{glibc}/lib:{ncurses}/lib"),
            false,
        );
        t2.copy("/bin/busybox", "/usr/bin/env", 0o555);
        t2.write("/local/env.sh", b"#!/usr/bin/env bash\necho\n", 0o555);
        t2.env.insert("PATH".into(), format!("/usr/bin:{bash}/bin"));
        t2
    };
    let a = t.run(Some("/local/env.sh"));
    let tinfo = format!("{ncurses}/lib/libtinfo.so.6");
    assert_eq!(missing(&a), set([&*tinfo]));
    let f = find(&a, Kind::Missing, &tinfo);
    assert_eq!(
        f.needed_by,
        [
            "/local/env.sh".to_owned(),
            "/usr/bin/env".to_owned(),
            format!("{bash}/bin/bash")
        ]
    );
    assert!(
        f.nomad_error
            .as_deref()
            .unwrap()
            .starts_with("bash: error while loading shared libraries")
    );
    // Not on PATH: env's own error, exit 127.
    let mut t = t;
    t.env.insert("PATH".into(), "/usr/bin".into());
    let a = t.run(Some("/local/env.sh"));
    assert_eq!(missing(&a), set(["/usr/bin/bash"]));
    let f = find(&a, Kind::Missing, "/usr/bin/bash");
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("/usr/bin/env: 'bash': No such file or directory")
    );
    assert_eq!(f.exit_code, Some(127));

    // /bin/sh only under local/: the command finds it, the wrapper's #! does not.
    let t = T::new();
    t.copy("/bin/busybox", "/local/bin/sh", 0o555);
    t.write("/local/wrapper", b"#!/bin/sh\nexec true\n", 0o555);
    assert_eq!(
        t.run(Some("/bin/sh")).resolved_command.as_deref(),
        Some("/local/bin/sh")
    );
    let a = t.run(Some("/local/wrapper"));
    assert_eq!(missing(&a), set(["/bin/sh"]));
    assert_eq!(
        find(&a, Kind::Missing, "/bin/sh").nomad_error.as_deref(),
        Some("exec /local/wrapper: no such file or directory")
    );
}

/// Command lookup failures use Nomad's host-side text; an absolute link that only
/// resolves inside the chroot is reported as the host divergence it is.
#[test]
fn command_lookup() {
    let t = T::new();
    let a = t.run(Some("nothere"));
    assert_eq!(missing(&a), set(["nothere"]));
    assert_eq!(
        find(&a, Kind::Missing, "nothere").nomad_error.as_deref(),
        Some(
            "failed to launch command with executor: rpc error: code = Unknown desc = file nothere not found under path"
        )
    );
    assert!(a.start_blocked && a.resolved_command.is_none());

    let app = sp('a', "app-1.0");
    t.copy("/bin/busybox", &format!("{app}/bin/app"), 0o555);
    t.link(&format!("{app}/bin/app"), "/bin/app");
    let a = t.run(Some("/bin/app"));
    let f = find(&a, Kind::Missing, "/bin/app");
    assert_eq!(
        f.nomad_error.as_deref().unwrap(),
        format!(
            "failed to launch command with executor: rpc error: code = Unknown desc = file /bin/app not found under path {}",
            t.td.nomad_client_path("/")
        )
    );
    let d = a
        .findings
        .iter()
        .find(|f| f.cause == Cause::HostDivergence)
        .expect("host divergence reported");
    assert_eq!(d.path, "/bin/app");
    assert!(a.start_blocked);
}

/// A flattened symlink (empty file) as the entrypoint and as a library.
#[test]
fn flattened_links() {
    let mut t = T::new();
    let bash = sp('b', "bash-5.2");
    t.flattened(&format!("{bash}/bin/sh"), "bash");
    let a = t.run(Some(&format!("{bash}/bin/sh")));
    let f = find(&a, Kind::ExecFormat, &format!("{bash}/bin/sh"));
    assert_eq!(f.cause, Cause::EmptyFile);
    assert_eq!(
        f.nomad_error.as_deref().unwrap(),
        format!("exec {bash}/bin/sh: exec format error")
    );
    assert!(
        f.hint
            .as_deref()
            .unwrap()
            .contains("tar -h --hard-dereference")
    );
    assert!(f.message.as_deref().unwrap().contains("symlink to `bash`"));
    assert!(a.start_blocked);

    // libtinfo.so.6 -> libtinfo.so.6.4 flattened: ld.so gives up with "file too short".
    let glibc = sp('g', "glibc-2.36");
    let ncurses = sp('n', "ncurses-6.4");
    t.glibc(&glibc, &["libc.so.6"]);
    t.program(
        "/bin/bash",
        &format!("{bash}/bin/bash"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib:{ncurses}/lib"),
        false,
    );
    t.copy(
        &format!("{LIBDIR}/libtinfo.so.6"),
        &format!("{ncurses}/lib/libtinfo.so.6.4"),
        0o555,
    );
    t.flattened(&format!("{ncurses}/lib/libtinfo.so.6"), "libtinfo.so.6.4");
    let a = t.run(Some(&format!("{bash}/bin/bash")));
    let lib = format!("{ncurses}/lib/libtinfo.so.6");
    let f = find(&a, Kind::ExecFormat, &lib);
    assert_eq!(
        f.nomad_error.as_deref().unwrap(),
        format!("{bash}/bin/bash: error while loading shared libraries: {lib}: file too short")
    );
    assert!(f.hint.as_deref().unwrap().contains("--hard-dereference"));
    assert!(missing(&a).is_empty());
}

/// Store references: one from a file in the analysed closure (error), one only from
/// a text file nothing runs (warning).
#[test]
fn store_references() {
    let mut t = T::new();
    let app = sp('a', "app-1.0");
    let cacert = sp('k', "nss-cacert-3.98");
    let locales = sp('l', "glibc-locales-2.40");
    t.copy("/bin/busybox", &format!("{app}/bin/app"), 0o555);
    t.write(
        &format!("{app}/share/app.conf"),
        format!("ca = {cacert}/etc/ssl/certs/ca-bundle.crt\n").as_bytes(),
        0o444,
    );
    t.write(
        "/local/notes.txt",
        format!("{locales}/lib/locale\n").as_bytes(),
        0o644,
    );
    t.extract.store_refs.insert(
        cacert.clone(),
        BTreeSet::from([format!("{app}/share/app.conf")]),
    );
    t.extract.store_refs.insert(
        locales.clone(),
        BTreeSet::from(["/local/notes.txt".to_owned()]),
    );
    t.extract
        .store_refs
        .insert(app.clone(), BTreeSet::from([format!("{app}/bin/app")]));
    let a = t.run(Some(&format!("{app}/bin/app")));
    assert_eq!(missing(&a), set([&*cacert]));
    let f = find(&a, Kind::Missing, &cacert);
    assert_eq!(f.cause, Cause::StoreReference);
    assert_eq!(f.needed_by, [format!("{app}/share/app.conf")]);
    assert!(f.hint.as_deref().unwrap().contains("closure of app-1.0"));
    let w = find(&a, Kind::Missing, &locales);
    assert_eq!(w.severity, Severity::Warning);
}

/// A binary for another architecture: exec format error, nothing else looked at.
#[test]
fn wrong_architecture() {
    let t = T::new();
    t.copy("/bin/busybox", "/local/app", 0o555);
    let p = t.host("/local/app");
    let mut bytes = fs::read(&p).unwrap();
    // e_machine = EM_AARCH64 (183), little-endian at offset 18.
    bytes[18] = 183;
    bytes[19] = 0;
    fs::write(&p, bytes).unwrap();
    let a = t.run(Some("/local/app"));
    let f = find(&a, Kind::ExecFormat, "/local/app");
    assert_eq!(f.cause, Cause::WrongArchitecture);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("exec /local/app: exec format error")
    );
    assert!(f.message.as_deref().unwrap().contains("aarch64"));
    assert!(a.start_blocked);
    // Without a command, it is found as an entrypoint of the bundle too.
    let a = t.run(None);
    assert!(a.roots.contains(&"/local/app".to_owned()), "{:?}", a.roots);
    assert_eq!(
        find(&a, Kind::ExecFormat, "/local/app").cause,
        Cause::WrongArchitecture
    );
}

/// makeExecutable fixes the command's mode, not its interpreter's.
#[test]
fn not_executable() {
    let t = T::new();
    t.copy("/bin/busybox", "/local/app", 0o644);
    let a = t.run(Some("/local/app"));
    assert!(errors(&a).is_empty(), "{:#?}", a.findings);
    let bb = sp('b', "busybox-1.35");
    t.copy("/bin/busybox", &format!("{bb}/bin/sh"), 0o644);
    t.write(
        "/local/run.sh",
        format!("#!{bb}/bin/sh\necho\n").as_bytes(),
        0o644,
    );
    let a = t.run(Some("/local/run.sh"));
    let f = find(&a, Kind::Permission, &format!("{bb}/bin/sh"));
    assert_eq!(f.cause, Cause::NotExecutable);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("exec /local/run.sh: permission denied")
    );
    assert!(missing(&a).is_empty());
    // A directory on the way that nobody cannot search.
    fs::set_permissions(
        t.host(&format!("{bb}/bin/sh")),
        fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    fs::set_permissions(
        t.host(&format!("{bb}/bin")),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let a = t.run(Some("/local/run.sh"));
    let f = find(&a, Kind::Permission, &format!("{bb}/bin"));
    assert_eq!(f.cause, Cause::NotSearchable);
}

/// Nothing executes from the noexec secrets/ tmpfs.
#[test]
fn noexec_secrets() {
    let t = T::new();
    t.copy("/bin/busybox", "/secrets/app", 0o555);
    let a = t.run(Some("/secrets/app"));
    let f = find(&a, Kind::Permission, "/secrets/app");
    assert_eq!(f.cause, Cause::Noexec);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("exec /secrets/app: permission denied")
    );
    assert!(a.start_blocked);
}

/// A program built against a newer glibc meets the host's through chroot_env: the
/// loader finds libc.so.6 in /lib via the host's ld.so.cache and fails on the version.
#[test]
fn symbol_version_not_found() {
    let t = T::with_chroot(ChrootEnv::nomad_default(NomadVersion::NEWEST));
    t.copy("/usr/bin/hello", "/local/hello", 0o555);
    let p = t.host("/local/hello");
    let mut bytes = fs::read(&p).unwrap();
    let i = bytes
        .windows(11)
        .position(|w| w == b"GLIBC_2.34\0")
        .expect("hello needs GLIBC_2.34");
    bytes[i..i + 11].copy_from_slice(b"GLIBC_2.38\0");
    fs::write(&p, bytes).unwrap();
    let a = t.run(Some("/local/hello"));
    assert!(missing(&a).is_empty(), "{:#?}", a.findings);
    let f = find(&a, Kind::Version, &format!("{LIBDIR}/libc.so.6"));
    assert_eq!(
        f.nomad_error.as_deref(),
        Some(
            "/local/hello: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found (required by /local/hello)"
        )
    );
    assert_eq!(f.exit_code, Some(1));
}

/// No false positives from the loader's search path: a Debian loader in a store path
/// still reads the chroot's /etc/ld.so.cache and /lib, so a library the bundle lacks
/// but chroot_env provides is found.
#[test]
fn loader_search_path_through_chroot_env() {
    let t = T::with_chroot(ChrootEnv::nomad_default(NomadVersion::NEWEST));
    let glibc = sp('g', "glibc-2.36");
    let bash = sp('b', "bash-5.2");
    t.glibc(&glibc, &["libc.so.6"]);
    t.program(
        "/bin/bash",
        &format!("{bash}/bin/bash"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib"),
        false,
    );
    let a = t.run(Some(&format!("{bash}/bin/bash")));
    assert!(missing(&a).is_empty(), "{:#?}", a.findings);
    // …but not when chroot_env is empty.
    let t = T::new();
    t.glibc(&glibc, &["libc.so.6"]);
    t.program(
        "/bin/bash",
        &format!("{bash}/bin/bash"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib"),
        false,
    );
    let a = t.run(Some(&format!("{bash}/bin/bash")));
    assert_eq!(
        missing(&a),
        set([format!("{glibc}/lib/libtinfo.so.6").as_str()])
    );
}

/// Without a command, every program of the bundle is a root, and the summary groups
/// the missing glibc once.
#[test]
fn every_executable_without_command() {
    let t = T::new();
    let glibc = sp('g', "glibc-2.40");
    let c = sp('c', "coreutils-9.1");
    for b in ["cat", "ls", "echo"] {
        t.program(
            &format!("/bin/{b}"),
            &format!("{c}/bin/{b}"),
            &format!("{glibc}/lib/{LD_SO}"),
            "$ORIGIN/../lib",
            false,
        );
    }
    for l in ["libc.so.6", "libselinux.so.1", "libpcre2-8.so.0"] {
        t.copy(&format!("{LIBDIR}/{l}"), &format!("{c}/lib/{l}"), 0o555);
    }
    t.patchelf(
        &format!("{c}/lib/libselinux.so.1"),
        None,
        Some("$ORIGIN"),
        false,
    );
    t.copy("/bin/busybox", "/local/static", 0o555);
    let a = t.run(None);
    assert_eq!(
        a.roots,
        [
            "/local/static".to_owned(),
            format!("{c}/bin/cat"),
            format!("{c}/bin/echo"),
            format!("{c}/bin/ls"),
        ]
    );
    assert_eq!(missing(&a), set([&*format!("{glibc}/lib/{LD_SO}")]));
    assert_eq!(
        a.summary[0],
        format!("glibc-2.40 is not in the bundle: 3 programs need it ({glibc})")
    );
    assert!(!a.start_blocked);
}

/// ≤ 1.11.0 needs the task user in the chroot's /etc/passwd to start at all.
#[test]
fn passwd_lint_by_version() {
    let mut t = T::new();
    t.copy("/bin/busybox", "/local/app", 0o555);
    t.version = "1.11.0".parse().unwrap();
    let a = t.run(Some("/local/app"));
    let f = find(&a, Kind::Environment, "/etc/passwd");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.nomad_error
            .as_deref()
            .unwrap()
            .ends_with("unable to find user nobody: no matching entries in passwd file")
    );
    assert!(a.start_blocked);
    t.version = "1.11.1".parse().unwrap();
    let a = t.run(Some("/local/app"));
    assert_eq!(
        find(&a, Kind::Environment, "/etc/passwd").severity,
        Severity::Warning
    );
    t.write(
        "/etc/passwd",
        b"nobody:x:65534:65534::/nonexistent:/bin/false\n",
        0o644,
    );
    let a = t.run(Some("/local/app"));
    assert!(a.findings.iter().all(|f| f.cause != Cause::User));
}

/// Build a program and a library with musl-gcc (Debian's musl-tools).
fn musl_build(dir: &Path) -> (PathBuf, PathBuf) {
    let ok = Command::new("musl-gcc").arg("--version").output().is_ok();
    assert!(
        ok,
        "musl-gcc is not installed: `apt-get install musl musl-tools` (the CI installs it)"
    );
    fs::write(dir.join("foo.c"), "int foo(void) { return 42; }\n").unwrap();
    fs::write(
        dir.join("app.c"),
        "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let st = Command::new("musl-gcc")
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(st.success(), "musl-gcc {args:?}");
    };
    run(&["-shared", "-fPIC", "-o", "libfoo.so", "foo.c"]);
    run(&["-o", "app", "app.c", "-L.", "-lfoo"]);
    (dir.join("app"), dir.join("libfoo.so"))
}

/// musl's loader: RUNPATH, then its path file `<prefix>/etc/ld-musl-<arch>.path`;
/// `libc.so` is the loader itself; its own error text.
#[test]
fn musl_loader() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, libfoo) = musl_build(tmp.path());
    let t = T::new();
    let musl = sp('m', "musl-1.2.3");
    let a_sp = sp('a', "app-1.0");
    let ldso = format!("{musl}/lib/ld-musl-x86_64.so.1");
    t.copy("/lib/x86_64-linux-musl/libc.so", &ldso, 0o555);
    t.copy(app.to_str().unwrap(), &format!("{a_sp}/bin/app"), 0o555);
    t.patchelf(
        &format!("{a_sp}/bin/app"),
        Some(&ldso),
        Some("$ORIGIN/../lib"),
        false,
    );
    let a = t.run(Some(&format!("{a_sp}/bin/app")));
    assert_eq!(missing(&a), set([format!("{a_sp}/lib/libfoo.so").as_str()]));
    let f = find(&a, Kind::Missing, &format!("{a_sp}/lib/libfoo.so"));
    assert_eq!(
        f.nomad_error.as_deref().unwrap(),
        format!(
            "Error loading shared library libfoo.so: No such file or directory (needed by {a_sp}/bin/app)"
        )
    );
    // Through the path file next to the loader's prefix.
    t.copy(libfoo.to_str().unwrap(), "/opt/lib/libfoo.so", 0o555);
    t.write(
        &format!("{musl}/etc/ld-musl-x86_64.path"),
        b"/opt/lib\n",
        0o444,
    );
    let a = t.run(Some(&format!("{a_sp}/bin/app")));
    assert!(missing(&a).is_empty(), "{:#?}", a.findings);
    // Through RUNPATH ($ORIGIN).
    fs::remove_file(t.host(&format!("{musl}/etc/ld-musl-x86_64.path"))).unwrap();
    t.copy(
        libfoo.to_str().unwrap(),
        &format!("{a_sp}/lib/libfoo.so"),
        0o555,
    );
    let a = t.run(Some(&format!("{a_sp}/bin/app")));
    assert!(missing(&a).is_empty(), "{:#?}", a.findings);
}

/// The kernel's limits on `#!`: a cut-off interpreter path is ENOEXEC, more than five
/// nested scripts is ELOOP (checked with bwrap on Linux 6.18), a link loop is ELOOP.
#[test]
fn shebang_limits_and_loops() {
    let t = T::new();
    t.copy("/bin/busybox", "/bin/sh", 0o555);
    let long = format!("#!/{}\n", "a".repeat(300));
    t.write("/local/long", long.as_bytes(), 0o555);
    let a = t.run(Some("/local/long"));
    let f = find(&a, Kind::ExecFormat, "/local/long");
    assert_eq!(f.cause, Cause::ShebangTooLong);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("exec /local/long: exec format error")
    );

    // s1 -> s2 -> … -> s7 -> /bin/sh: from s3 there are five scripts, from s2 six.
    for n in 1..=6 {
        t.write(
            &format!("/s{n}"),
            format!("#!/s{}\n", n + 1).as_bytes(),
            0o555,
        );
    }
    t.write("/s7", b"#!/bin/sh\necho ok\n", 0o555);
    let a = t.run(Some("/s3"));
    assert!(errors(&a).is_empty(), "{:#?}", a.findings);
    let a = t.run(Some("/s2"));
    let f = find(&a, Kind::ExecFormat, "/s7");
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("exec /s2: too many levels of symbolic links")
    );

    t.link("/loop2", "/loop1");
    t.link("/loop1", "/loop2");
    t.write("/local/useloop", b"#!/loop1\n", 0o555);
    let a = t.run(Some("/local/useloop"));
    assert_eq!(missing(&a), set(["/loop1"]));
    let f = find(&a, Kind::Missing, "/loop1");
    assert_eq!(f.cause, Cause::Symlink);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("exec /local/useloop: too many levels of symbolic links")
    );
}

/// A /nix/store closure unpacked with `destination = "local/"`: the command is found
/// under local/, but everything it names at /nix/store is absent, and the fix says
/// where the store went.
#[test]
fn closure_deployed_under_local() {
    let t = T::new();
    let glibc = sp('g', "glibc-2.36");
    let hello = sp('h', "hello-2.12");
    t.glibc(&format!("/local{glibc}"), &["libc.so.6"]);
    t.program(
        "/usr/bin/hello",
        &format!("/local{hello}/bin/hello"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib"),
        false,
    );
    let a = t.run(Some(&format!("{hello}/bin/hello")));
    let argv0 = format!("/local{hello}/bin/hello");
    assert_eq!(a.resolved_command.as_deref(), Some(&*argv0));
    assert_eq!(missing(&a), set([&*format!("{glibc}/lib/{LD_SO}")]));
    let f = find(&a, Kind::Missing, &format!("{glibc}/lib/{LD_SO}"));
    assert_eq!(
        f.nomad_error.as_deref().unwrap(),
        format!("exec {argv0}: no such file or directory")
    );
    assert!(
        f.hint.as_deref().unwrap().contains(&format!(
            "unpacked it at /local{glibc}; set the artifact's destination = \"/\""
        )),
        "{f:?}"
    );
}

/// Environment lints: NSS modules the program's glibc cannot load, a locale without
/// an archive, a TLS program without a CA bundle. Warnings: the task still starts.
#[test]
fn environment_lints() {
    let mut t = T::new();
    let glibc = sp('g', "glibc-2.36");
    let hello = sp('h', "hello-2.12");
    t.glibc(&glibc, &["libc.so.6", "libssl.so.3", "libcrypto.so.3"]);
    t.program(
        "/usr/bin/hello",
        &format!("{hello}/bin/hello"),
        &format!("{glibc}/lib/{LD_SO}"),
        &format!("{glibc}/lib"),
        false,
    );
    t.write(
        "/etc/nsswitch.conf",
        b"passwd: files mymachines\nhosts: files dns [!UNAVAIL=return] resolve\n",
        0o644,
    );
    t.write(
        "/etc/passwd",
        b"nobody:x:65534:65534::/:/bin/false\n",
        0o644,
    );
    t.env.insert("LANG".into(), "de_DE.UTF-8".into());
    let cmd = format!("{hello}/bin/hello");
    let a = t.run(Some(&cmd));
    assert!(errors(&a).is_empty(), "{:#?}", a.findings);
    // glibc ≥ 2.34 has files and dns built in: a database that lists one of them
    // works, and glibc skips the modules it cannot load beside them quietly (Debian's
    // own nsswitch.conf names db and nis this way).
    assert!(
        a.findings.iter().all(|f| f.cause != Cause::Nsswitch),
        "{:#?}",
        a.findings
    );
    assert_eq!(find(&a, Kind::Environment, "LANG").cause, Cause::Locale);
    // A database whose every source is a module the program cannot load finds nothing.
    t.write(
        "/etc/nsswitch.conf",
        b"passwd: files\nhosts: resolve mymachines\nnetgroup: nis\n",
        0o644,
    );
    let a = t.run(Some(&cmd));
    let m = find(&a, Kind::Environment, "/etc/nsswitch.conf")
        .message
        .clone()
        .unwrap();
    assert!(m.contains("hosts (resolve mymachines)"), "{m}");
    assert!(!m.contains("passwd") && !m.contains("netgroup"), "{m}");
    t.write(
        "/etc/nsswitch.conf",
        b"passwd: files mymachines\nhosts: files dns [!UNAVAIL=return] resolve\n",
        0o644,
    );
    assert!(a.findings.iter().all(|f| f.cause != Cause::Certificates));

    // A program that loads libssl needs a CA bundle.
    let st = Command::new("patchelf")
        .args(["--add-needed", "libssl.so.3"])
        .arg(t.host(&cmd))
        .status()
        .unwrap();
    assert!(st.success());
    t.env.insert("LC_ALL".into(), "C.UTF-8".into());
    let a = t.run(Some(&cmd));
    assert!(a.findings.iter().all(|f| f.cause != Cause::Locale));
    assert_eq!(
        find(&a, Kind::Environment, "/etc/ssl/certs/ca-certificates.crt").cause,
        Cause::Certificates
    );
    t.write(
        "/etc/ssl/certs/ca-certificates.crt",
        b"-----BEGIN CERTIFICATE-----\n",
        0o644,
    );
    let a = t.run(Some(&cmd));
    assert!(a.findings.iter().all(|f| f.cause != Cause::Certificates));
}
