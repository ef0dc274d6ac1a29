//! `job --run-job`, for real: the example project's production.hcl, unchanged, with
//! Postgres and app bundles built from Debian packages (fixtures/mesh.sh), and a small
//! busybox mesh (fixtures/jobs/mesh-small.nomad.hcl) for the teardown paths.
//!
//! Each trial runs the real binary with a TMPDIR of its own and then checks what is
//! left: processes of the run (their `NOMAD_CHROOT_CHECK_PARENT`), its cgroups, its
//! work dir, the network namespaces the report names (by inode, in every process's
//! namespaces and descriptors), links in the host's namespace, and the host ports.
//! Trials run one at a time: they publish the same host port (8800).
//!
//! Trials that cannot run here (not root, fixtures not built) are reported ignored
//! with the reason.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nomad-chroot-check");
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example() -> PathBuf {
    repo().join("../shared/fixtures/nomad-with-nix")
}

fn mesh_dir(set: &str) -> PathBuf {
    repo().join("fixtures/build/mesh").join(set)
}

fn busybox() -> PathBuf {
    repo().join("fixtures/build/static-busybox/bundle.tar.gz")
}

/// A run of the binary in a TMPDIR of its own.
struct Run {
    child: Child,
    tmp: tempfile::TempDir,
    stderr_lines: std::sync::mpsc::Receiver<String>,
    stderr_all: std::sync::Arc<Mutex<String>>,
    started: Instant,
}

fn start(args: &[String]) -> Run {
    let tmp = tempfile::Builder::new()
        .prefix("ncc-mesh-test.")
        .tempdir()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let all = std::sync::Arc::new(Mutex::new(String::new()));
    let all2 = all.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            all2.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = tx.send(line);
        }
    });
    Run {
        child,
        tmp,
        stderr_lines: rx,
        stderr_all: all,
        started: Instant::now(),
    }
}

impl Run {
    /// Wait for a stderr line containing `needle`.
    fn wait_for(&mut self, needle: &str, within: Duration) -> Result<(), String> {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Ok(()),
                Ok(_) => {}
                Err(_) => {
                    return Err(format!(
                        "no `{needle}` on stderr within {within:?}; stderr:\n{}",
                        self.stderr_all.lock().unwrap()
                    ));
                }
            }
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// Wait for the exit; the exit code and the JSON report on stdout.
    fn finish(mut self, within: Duration) -> Result<(i32, Value, Finished), String> {
        let mut out = String::new();
        let mut stdout = self.child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let until = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().map_err(|e| e.to_string())? {
                break s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "still running after {within:?}; stderr:\n{}",
                    self.stderr_all.lock().unwrap()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = reader.join().unwrap();
        let code = status.code().unwrap_or(-1);
        let report: Value = serde_json::from_str(&out).map_err(|e| {
            format!(
                "exit {code}, stdout is not a JSON report ({e}): {out}\nstderr:\n{}",
                self.stderr_all.lock().unwrap()
            )
        })?;
        Ok((
            code,
            report,
            Finished {
                pid: self.child.id(),
                tmp: self.tmp,
                took: self.started.elapsed(),
            },
        ))
    }
}

struct Finished {
    pid: u32,
    tmp: tempfile::TempDir,
    took: Duration,
}

fn links() -> BTreeSet<String> {
    fs::read_dir("/sys/class/net")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Namespaces (`net:[N]`) any process still has, as its namespace or a descriptor.
fn live_namespaces() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let p = e.path();
        if let Ok(l) = fs::read_link(p.join("ns/net")) {
            out.insert(l.to_string_lossy().into_owned());
        }
        for fd in fs::read_dir(p.join("fd")).into_iter().flatten().flatten() {
            if let Ok(l) = fs::read_link(fd.path()) {
                let l = l.to_string_lossy().into_owned();
                if l.starts_with("net:[") {
                    out.insert(l);
                }
            }
        }
    }
    out
}

/// What the run left behind, given the host's links before it.
fn leftovers(f: &Finished, report: &Value, links_before: &BTreeSet<String>) -> Vec<String> {
    // The sandbox children end a moment after the checker (their namespace's teardown).
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let mut out = Vec::new();
        let tag = format!("NOMAD_CHROOT_CHECK_PARENT={}", f.pid);
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let env = fs::read(e.path().join("environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|v| v == tag.as_bytes()) {
                out.push(format!("process {}", e.file_name().to_string_lossy()));
            }
        }
        let prefix = format!("nomad-chroot-check-{}-", f.pid);
        for parent in [
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/cpu",
            "/sys/fs/cgroup/pids",
        ] {
            for e in fs::read_dir(parent).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    out.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
        for e in fs::read_dir(f.tmp.path()).into_iter().flatten().flatten() {
            out.push(format!("work dir entry {}", e.path().display()));
        }
        let mut ns: Vec<String> = report["allocations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["netns"].as_str().map(str::to_owned))
            .collect();
        if let Some(n) = report["network"]["netns"].as_str() {
            ns.push(n.to_owned());
        }
        let live = live_namespaces();
        for n in ns {
            if live.contains(&n) {
                out.push(format!("network namespace {n}"));
            }
        }
        for l in links().difference(links_before) {
            out.push(format!("host link {l}"));
        }
        let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for l in mi
            .lines()
            .filter(|l| l.contains(&*f.tmp.path().to_string_lossy()))
        {
            out.push(format!("mount {l}"));
        }
        if out.is_empty() || Instant::now() > until {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tiny HTTP/1.1 client: (status, body).
fn http(method: &str, url_path: &str, body: Option<&str>) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", 8800)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {url_path} HTTP/1.1\r\nHost: localhost:8800\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let code = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(format!("not an HTTP response: {resp:?}"))?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_owned();
    Ok((code, body))
}

fn production_args(set: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "job".into(),
        example().join("production.hcl").display().to_string(),
        "--client-config".into(),
        example().join("nomad.conf").display().to_string(),
        "--artifact".into(),
        format!("http://127.0.0.1:8080/={}", mesh_dir(set).display()),
        "--run-job".into(),
        "--format".into(),
        "json".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn small_args(extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "job".into(),
        repo()
            .join("fixtures/jobs/mesh-small.nomad.hcl")
            .display()
            .to_string(),
        "--artifact".into(),
        format!(
            "http://127.0.0.1:8080/busybox.tar.gz={}",
            busybox().display()
        ),
        "--run-job".into(),
        "--format".into(),
        "json".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn events<'a>(r: &'a Value, alloc: &str, task: &str) -> Vec<&'a str> {
    r["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["alloc"] == alloc && e["task"] == task)
        .filter_map(|e| e["type"].as_str())
        .collect()
}

fn event_at(r: &Value, alloc: &str, task: &str, kind: &str) -> Option<u64> {
    r["events"]
        .as_array()?
        .iter()
        .find(|e| e["alloc"] == alloc && e["task"] == task && e["type"] == kind)
        .and_then(|e| e["at_ms"].as_u64())
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

fn no_leftovers(f: &Finished, report: &Value, before: &BTreeSet<String>) -> Result<(), String> {
    let left = leftovers(f, report, before);
    ensure(left.is_empty(), || format!("left behind: {left:#?}"))?;
    // The host ports are free again.
    ensure(
        std::net::TcpListener::bind(("127.0.0.1", 8800)).is_ok(),
        || "port 8800 is still taken".into(),
    )
}

/// The job-level finding naming `path_suffix` for `task`.
fn blamed<'a>(r: &'a Value, path_suffix: &str, task: &str) -> Option<&'a Value> {
    r["findings"].as_array()?.iter().find(|f| {
        f["severity"] == "error"
            && f["kind"] == "missing"
            && f["path"].as_str().is_some_and(|p| p.ends_with(path_suffix))
            && f["needed_by"].as_array().is_some_and(|n| {
                n.iter()
                    .any(|x| x.as_str().is_some_and(|x| x.ends_with(task)))
            })
    })
}

fn production_healthy() -> Result<(), String> {
    let before = links();
    let mut run = start(&production_args("ok", &["--keep-running"]));
    run.wait_for("is healthy", Duration::from_secs(240))?;
    let healthy_after = run.started.elapsed();
    let (code, body) = http("POST", "/items", Some(r#"{"hello": "world", "n": 1}"#))?;
    ensure(code == 201, || format!("POST /items: {code} {body}"))?;
    let id: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let id = id["id"].as_u64().ok_or(format!("no id in {body}"))?;
    let (code, body) = http("GET", &format!("/items/{id}"), None)?;
    ensure(code == 200, || format!("GET: {code} {body}"))?;
    let doc: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    ensure(doc == serde_json::json!({"hello": "world", "n": 1}), || {
        format!("stored JSON came back as {body}")
    })?;
    run.signal(nix::sys::signal::Signal::SIGINT);
    let (code, r, f) = run.finish(Duration::from_secs(60))?;
    eprintln!(
        "production.hcl: healthy after {:.1}s, whole run {:.1}s",
        healthy_after.as_secs_f64(),
        f.took.as_secs_f64()
    );
    ensure(
        code == 0 && r["verdict"] == "pass" && r["result"] == "healthy",
        || {
            format!(
                "exit {code}, {} {}: {}",
                r["verdict"], r["result"], r["result_message"]
            )
        },
    )?;
    let allocs = r["allocations"].as_array().unwrap();
    ensure(allocs.len() == 4, || {
        format!("{} allocations", allocs.len())
    })?;
    for i in 0..2 {
        let a = format!("production.app[{i}]");
        // database-init creates the app database through the upstream, exits 0, and
        // only then does the server start.
        let done = event_at(&r, &a, "database-init", "Terminated");
        let started = event_at(&r, &a, "server", "Started");
        ensure(
            done.is_some() && started.is_some() && done <= started,
            || format!("{a}: database-init {:?}", events(&r, &a, "database-init")),
        )?;
        let alloc = allocs.iter().find(|x| x["name"] == a).unwrap();
        ensure(alloc["health"] == "healthy", || {
            format!("{a}: {}", alloc["health"])
        })?;
        let t = alloc["tasks"].as_array().unwrap();
        let init = t.iter().find(|t| t["name"] == "database-init").unwrap();
        ensure(init["exit_code"] == 0 && init["failed"] == false, || {
            format!("database-init: {init}")
        })?;
        ensure(
            alloc["checks"][0]["status"] == "passing"
                && alloc["checks"][0]["output"]
                    .as_str()
                    .is_some_and(|o| o.contains("200 OK")),
            || format!("{a} check: {}", alloc["checks"][0]),
        )?;
    }
    let env = &allocs[1]["tasks"][1]["report"]["task"]["env"];
    ensure(
        env["NOMAD_UPSTREAM_ADDR_database"] == "127.0.0.1:5432",
        || format!("{env}"),
    )?;
    ensure(
        env["NOMAD_PORT_http"] == env["NOMAD_HOST_PORT_http"],
        || "to = -1 maps the task port to the host port".into(),
    )?;
    no_leftovers(&f, &r, &before)
}

fn production_without_pg_isready() -> Result<(), String> {
    let before = links();
    let run = start(&production_args("no-pg-isready", &["--deadline", "40s"]));
    let (code, r, f) = run.finish(Duration::from_secs(240))?;
    ensure(code == 1 && r["verdict"] == "fail", || {
        format!("exit {code}: {} {}", r["verdict"], r["result_message"])
    })?;
    let b = blamed(&r, "/pg_isready", "/database-init").ok_or_else(|| {
        format!(
            "no error finding names pg_isready for database-init: {:#}",
            r["findings"]
        )
    })?;
    let m = b["message"].as_str().unwrap_or("");
    ensure(m.contains("prestart") && m.contains("Started"), || {
        format!("the finding should say what the task was doing: {m}")
    })?;
    no_leftovers(&f, &r, &before)
}

fn production_without_libpq() -> Result<(), String> {
    let before = links();
    // Long enough for the server to start and fail its check on a loaded machine.
    let run = start(&production_args("no-libpq", &["--deadline", "120s"]));
    let (code, r, f) = run.finish(Duration::from_secs(300))?;
    ensure(code == 1 && r["verdict"] == "fail", || {
        format!("exit {code}: {} {}", r["verdict"], r["result_message"])
    })?;
    let b = blamed(&r, "libpq.so.5", "/server").ok_or_else(|| {
        format!(
            "no error finding names libpq.so.5 for server: {:#}",
            r["findings"]
        )
    })?;
    let m = b["message"].as_str().unwrap_or("");
    ensure(m.contains("critical") && m.contains("500"), || {
        format!("the finding should name the failing check: {m}")
    })?;
    // The static check passed: the library is needed only on the first query.
    let app = r["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["group"] == "app")
        .unwrap();
    let server = app["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "server")
        .unwrap();
    ensure(
        server["report"]["task"]["resolved_command"] == "/usr/local/bin/uvicorn",
        || format!("{}", server["report"]["task"]),
    )?;
    no_leftovers(&f, &r, &before)
}

fn small_mesh_runs_and_stops() -> Result<(), String> {
    let before = links();
    let run = start(&small_args(&[]));
    let (code, r, f) = run.finish(Duration::from_secs(120))?;
    ensure(code == 0 && r["result"] == "healthy", || {
        format!("exit {code}: {} {}", r["result"], r["result_message"])
    })?;
    // Prestart before main, the script check ran in the task, the upstream reached web.
    for i in 0..2 {
        let a = format!("small.web[{i}]");
        ensure(
            event_at(&r, &a, "prep", "Terminated") <= event_at(&r, &a, "httpd", "Started"),
            || format!("{a}: prep {:?}", events(&r, &a, "prep")),
        )?;
    }
    let client = r["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "small.client[0]")
        .unwrap();
    let fetch = client["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "fetch")
        .unwrap();
    let out = fetch["report"]["run"]["stdout_tail"].as_str().unwrap_or("");
    ensure(out.starts_with("hello from "), || {
        format!("fetch printed {out:?}")
    })?;
    let web = &r["allocations"][0];
    ensure(
        web["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "passing"),
        || format!("{}", web["checks"]),
    )?;
    no_leftovers(&f, &r, &before)
}

fn small_mesh_ctrl_c() -> Result<(), String> {
    let before = links();
    let mut run = start(&small_args(&["--keep-running"]));
    run.wait_for("is healthy", Duration::from_secs(120))?;
    run.signal(nix::sys::signal::Signal::SIGINT);
    let (code, r, f) = run.finish(Duration::from_secs(60))?;
    ensure(code == 0 && r["result"] == "healthy", || {
        format!("exit {code}: {}", r["result_message"])
    })?;
    ensure(
        events(&r, "small.web[0]", "httpd").contains(&"Killed"),
        || "httpd was not stopped as Nomad stops a task".into(),
    )?;
    no_leftovers(&f, &r, &before)
}

/// SIGKILL of the checker: its sandbox children kill the tasks and remove the work
/// dir and cgroups; the namespaces go with the last process; the next run sweeps.
fn small_mesh_sigkill() -> Result<(), String> {
    let before = links();
    let mut run = start(&small_args(&["--keep-running"]));
    run.wait_for("is healthy", Duration::from_secs(120))?;
    let pid = run.child.id();
    run.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = run.child.wait();
    let f = Finished {
        pid,
        tmp: run.tmp,
        took: run.started.elapsed(),
    };
    // The next run's sweep, in the same TMPDIR.
    let next = Command::new(BIN)
        .args(small_args(&["--count-max", "1"]))
        .env("TMPDIR", f.tmp.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    ensure(next.status.code() == Some(0), || {
        format!("the next run: {}", String::from_utf8_lossy(&next.stderr))
    })?;
    // The killed run wrote no report: its namespaces are checked through the links
    // and processes only.
    no_leftovers(&f, &Value::Null, &before)
}

fn rootless_refused() -> Result<(), String> {
    let user = std::env::var("NCC_ROOTLESS_USER").unwrap_or_else(|_| "ncc-test".into());
    // A copy of the binary the unprivileged user can run.
    let dir = tempfile::Builder::new()
        .prefix("ncc-mesh-bin.")
        .tempdir()
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("nomad-chroot-check");
    fs::copy(BIN, &exe).map_err(|e| e.to_string())?;
    let job = dir.path().join("small.nomad.hcl");
    fs::copy(repo().join("fixtures/jobs/mesh-small.nomad.hcl"), &job).map_err(|e| e.to_string())?;
    fs::set_permissions(&job, fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new("setpriv")
        .arg(format!("--reuid={user}"))
        .arg(format!("--regid={user}"))
        .arg("--clear-groups")
        .arg(&exe)
        .args(["job", &job.display().to_string(), "--run-job"])
        .env("TMPDIR", dir.path())
        .output()
        .map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(3), || {
        format!("exit {:?}: {err}", out.status.code())
    })?;
    ensure(
        err.contains("--run-job needs root") && err.contains("without --run-job"),
        || format!("{err}"),
    )
}

fn main() {
    let args = Arguments::from_args();
    let root = nix::unistd::geteuid().is_root();
    let why_not = |needs: &[PathBuf]| -> Option<String> {
        if !root {
            return Some("needs root (network namespaces, a bridge, cgroups)".into());
        }
        needs
            .iter()
            .find(|p| !p.exists())
            .map(|p| format!("{} is not built: run `bash fixtures/build.sh`", p.display()))
    };
    let prod = |set: &str| {
        vec![
            mesh_dir(set).join("postgresql-11.11-0.tar.gz"),
            mesh_dir(set).join("app-1.0.tar.gz"),
            example().join("production.hcl"),
        ]
    };
    type Body = fn() -> Result<(), String>;
    let cases: Vec<(&str, Body, Option<String>)> = vec![
        ("production_hcl_becomes_healthy_and_serves_json_through_the_ingress", production_healthy, why_not(&prod("ok"))),
        ("production_hcl_without_pg_isready_names_it", production_without_pg_isready, why_not(&prod("no-pg-isready"))),
        ("production_hcl_without_libpq_names_it", production_without_libpq, why_not(&prod("no-libpq"))),
        ("small_mesh_runs_checks_upstreams_and_stops_clean", small_mesh_runs_and_stops, why_not(&[busybox()])),
        ("small_mesh_ctrl_c_tears_down", small_mesh_ctrl_c, why_not(&[busybox()])),
        ("small_mesh_sigkill_then_next_run_leaves_nothing", small_mesh_sigkill, why_not(&[busybox()])),
        (
            "rootless_run_job_says_what_it_cannot_do",
            rootless_refused,
            match (root, nix::unistd::User::from_name(&std::env::var("NCC_ROOTLESS_USER").unwrap_or_else(|_| "ncc-test".into())).ok().flatten()) {
                (false, _) => Some("needs root to switch to the unprivileged user".into()),
                (_, None) => Some("no unprivileged user `ncc-test` (ci/test creates it; or set NCC_ROOTLESS_USER)".into()),
                _ => None,
            },
        ),
    ];
    let trials = cases
        .into_iter()
        .map(|(name, body, ignored)| match ignored {
            Some(why) => Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))),
            None => Trial::ignorable_test(name, move || {
                let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                body().map(|()| Completion::Completed).map_err(Failed::from)
            }),
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
