//! `nomad-chroot-check alloc` against a fake Nomad on 127.0.0.1 (HTTP and HTTPS with a
//! CA made here), answering with objects written from Nomad's API structs and docs
//! (`api/allocations.go`, `api/tasks.go`, `api/nodes.go`, `website/content/api-docs`):
//! one allocation per way the failure catalogue of nomad-exec.md lists, each checked
//! for its verdict and root cause; ACL tokens, 403/404, TLS and an unreachable client
//! node; and alloc dirs laid out as `client/allocdir` lays them out, built from the
//! fixture bundles, which `alloc --alloc-dir` must never write to.

#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use nomad_chroot_check::archive::{self, ExtractMode, ExtractRequest};
use nomad_chroot_check::config::{ArtifactLimits, SafetyLimits};
use nomad_chroot_check::nomad::NomadVersion;
use nomad_chroot_check::taskdir::ChrootEnv;
use serde_json::{Value, json};

const TOKEN: &str = "3f4a7c1e-8b2d-4e6f-9a1b-2c3d4e5f6a7b";
const NODE_ID: &str = "f476d2b4-02dc-c216-d031-273396727347";
const HELLO: &str = "/nix/store/vdr56ringvjfign1h1dkcfyldzq03d0s-hello-2.10/bin/hello";
const LS: &str = "/nix/store/86kl92jph77nbjv124zyivfy3qq7a4xy-coreutils-9.1/bin/ls";
const SOURCE: &str = "https://releases.example.invalid/";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bundle(case: &str) -> PathBuf {
    root()
        .join("fixtures/build")
        .join(case)
        .join("bundle.tar.gz")
}

// ---------------------------------------------------------------- the fake Nomad

/// What one fake agent serves: allocations, nodes, logs; the ACL token it wants.
#[derive(Default)]
struct Nomad {
    allocs: Vec<Value>,
    nodes: BTreeMap<String, Value>,
    /// (alloc id, task, stream) → text.
    logs: BTreeMap<(String, String, String), String>,
    /// A server that cannot reach the client node answers logs with this 500.
    logs_error: Option<String>,
    token: Option<String>,
    /// Listed by the prefix search but gone when read (garbage-collected in between).
    gone: Vec<String>,
    /// Request lines seen, for the assertions on query parameters.
    seen: Vec<String>,
}

struct Request {
    path: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
}

fn handle(n: &mut Nomad, r: &Request) -> (u16, String) {
    if let Some(want) = &n.token {
        match r.headers.get("x-nomad-token") {
            None => return (403, "Permission denied".into()),
            Some(t) if t != want => return (403, "ACL token not found".into()),
            Some(_) => {}
        }
    }
    let ns_ok = |a: &Value| match r.query.get("namespace").map(String::as_str) {
        None | Some("*") => true,
        Some(ns) => a["Namespace"] == ns,
    };
    if r.path == "/v1/allocations" {
        let prefix = r.query.get("prefix").cloned().unwrap_or_default();
        let stubs: Vec<Value> = n
            .allocs
            .iter()
            .filter(|a| a["ID"].as_str().unwrap_or("").starts_with(&prefix) && ns_ok(a))
            .map(|a| {
                json!({"ID": a["ID"], "Namespace": a["Namespace"], "NodeID": a["NodeID"],
                       "NodeName": a["NodeName"], "JobID": a["JobID"], "JobVersion": 3,
                       "TaskGroup": a["TaskGroup"], "DesiredStatus": "run",
                       "ClientStatus": a["ClientStatus"], "CreateTime": 1, "ModifyTime": 2})
            })
            .collect();
        return (200, Value::Array(stubs).to_string());
    }
    if let Some(id) = r.path.strip_prefix("/v1/allocation/") {
        if n.gone.iter().any(|g| g == id) {
            return (404, "alloc not found".into());
        }
        return match n.allocs.iter().find(|a| a["ID"] == id && ns_ok(a)) {
            Some(a) => (200, a.to_string()),
            None => (404, "alloc not found".into()),
        };
    }
    if let Some(id) = r.path.strip_prefix("/v1/node/") {
        return match n.nodes.get(id) {
            Some(v) => (200, v.to_string()),
            None => (404, "node not found".into()),
        };
    }
    if let Some(id) = r.path.strip_prefix("/v1/client/fs/logs/") {
        if let Some(e) = &n.logs_error {
            return (500, e.clone());
        }
        assert_eq!(r.query.get("plain").map(String::as_str), Some("true"));
        let key = (
            id.to_owned(),
            r.query.get("task").cloned().unwrap_or_default(),
            r.query.get("type").cloned().unwrap_or_default(),
        );
        return match n.logs.get(&key) {
            Some(t) => (200, t.clone()),
            None => (200, String::new()),
        };
    }
    (404, "Invalid URL".into())
}

fn read_request(s: &mut dyn Read) -> Option<Request> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%2A", "*").replace("%2F", "/")))
        .collect();
    Some(Request {
        path: path.to_owned(),
        query,
        headers,
    })
}

fn respond(s: &mut dyn Write, code: u16, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.flush();
}

/// Serve `nomad` on 127.0.0.1 (with TLS when `tls` is given) until the test ends.
fn serve(nomad: Arc<Mutex<Nomad>>, tls: Option<Arc<rustls::ServerConfig>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(tcp) = stream else { continue };
            let nomad = nomad.clone();
            let tls = tls.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut io: Box<dyn ReadWrite> = match tls {
                    Some(cfg) => match rustls::ServerConnection::new(cfg) {
                        Ok(c) => Box::new(rustls::StreamOwned::new(c, tcp)),
                        Err(_) => return,
                    },
                    None => Box::new(tcp),
                };
                let Some(req) = read_request(&mut io) else {
                    return;
                };
                let (code, body) = {
                    let mut n = nomad.lock().unwrap();
                    n.seen.push(format!("{} {:?}", req.path, req.query));
                    handle(&mut n, &req)
                };
                respond(&mut io, code, &body);
            });
        }
    });
    format!("{scheme}://{addr}")
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// A CA and a server certificate for `server.global.nomad` and 127.0.0.1, made here.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["server.global.nomad".to_owned()]).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

// ---------------------------------------------------------------- API objects

fn event(kind: &str, msg: &str, extra: Value) -> Value {
    let mut e = json!({"Type": kind, "Time": 1_700_000_000_000_000_000i64, "DisplayMessage": msg,
        "Details": {}, "Message": "", "FailsTask": false, "RestartReason": "", "SetupError": "",
        "DriverError": "", "DriverMessage": "", "ExitCode": 0, "Signal": 0, "KillReason": "",
        "KillError": "", "DownloadError": "", "ValidationError": "", "FailedSibling": "",
        "VaultError": "", "TaskSignal": "", "TaskSignalReason": "", "GenericSource": ""});
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn terminated(code: i64, signal: i64, oom: bool) -> Value {
    let msg = if signal != 0 {
        format!("Exit Code: {code}, Signal: {signal}")
    } else {
        format!("Exit Code: {code}")
    };
    event(
        "Terminated",
        &msg,
        json!({"ExitCode": code, "Signal": signal,
               "Details": {"exit_code": code.to_string(), "signal": signal.to_string(), "oom_killed": oom.to_string()}}),
    )
}

fn driver_failure(err: &str) -> Value {
    event(
        "Driver Failure",
        err,
        json!({"DriverError": err, "Details": {"driver_error": err}}),
    )
}

/// One allocation of job `app`, group and task `web`, exec driver.
fn allocation(
    id: &str,
    case: &str,
    cmd: &str,
    args: &[&str],
    memory: u64,
    events: Vec<Value>,
) -> Value {
    let failed = events
        .iter()
        .any(|e| e["Type"] != "Started" && e["Type"] != "Received");
    let mut all = vec![
        event("Received", "Task received by client", json!({})),
        event(
            "Task Setup",
            "Building Task Directory",
            json!({"Message": "Building Task Directory", "Details": {"message": "Building Task Directory"}}),
        ),
        event(
            "Downloading Artifacts",
            "Client is downloading artifacts",
            json!({}),
        ),
    ];
    all.extend(events);
    json!({
        "ID": id, "Namespace": "default", "EvalID": "5456bd7a-9fc0-c0dd-6131-cbee77f57577",
        "Name": "app.web[0]", "NodeID": NODE_ID, "NodeName": "client-1", "JobID": "app",
        "TaskGroup": "web", "DesiredStatus": "run", "DesiredDescription": "",
        "ClientStatus": if failed { "failed" } else { "running" }, "ClientDescription": "Failed tasks",
        "Job": {
            "Region": "global", "Namespace": "default", "ID": "app", "Name": "app", "Type": "batch",
            "Version": 3, "Datacenters": ["dc1"], "Meta": null,
            "TaskGroups": [{
                "Name": "web", "Count": 1, "Networks": null, "Services": null, "Meta": null,
                "Tasks": [{
                    "Name": "web", "Driver": "exec", "User": "",
                    "Config": {"command": cmd, "args": args},
                    "Env": null, "Services": null, "Templates": null, "Vault": null, "Meta": null,
                    "Resources": {"CPU": 100, "MemoryMB": memory, "MemoryMaxMB": 0, "DiskMB": 0, "Networks": null},
                    "KillTimeout": 5_000_000_000i64, "KillSignal": "",
                    "Artifacts": [{"GetterSource": format!("{SOURCE}{case}/bundle.tar.gz"),
                                   "GetterOptions": null, "GetterHeaders": null, "GetterMode": "any",
                                   "RelativeDest": "/", "Chown": false}],
                    "Lifecycle": null, "Leader": false
                }]
            }]
        },
        "TaskStates": {"web": {"State": "dead", "Failed": failed, "Restarts": 0,
                               "StartedAt": "2026-11-30T10:00:00Z", "FinishedAt": "2026-11-30T10:00:01Z",
                               "LastRestart": null, "Events": all}},
        "CreateIndex": 10, "ModifyIndex": 15, "CreateTime": 1, "ModifyTime": 2
    })
}

fn node(http_addr: &str, tls: bool) -> Value {
    json!({
        "ID": NODE_ID, "Datacenter": "dc1", "Name": "client-1", "HTTPAddr": http_addr,
        "TLSEnabled": tls, "Status": "ready", "NodeClass": "", "NodePool": "default",
        "Attributes": {"nomad.version": "2.0.1", "kernel.name": "linux", "kernel.version": "6.1.0",
                       "driver.exec": "1", "unique.hostname": "client-1", "nomad.region": "global"},
        "Meta": {"rack": "r1"},
        "Drivers": {"exec": {"Attributes": {"driver.exec": "true"}, "Detected": true,
                             "Healthy": true, "HealthDescription": "Healthy"}}
    })
}

// ---------------------------------------------------------------- running the tool

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

fn tool(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nomad-chroot-check"));
    c.arg("alloc").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("NOMAD_") && k != "NOMAD_CHROOT_CHECK_EXE" {
            c.env_remove(&k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run nomad-chroot-check");
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

macro_rules! ensure {
    ($c:expr, $($f:tt)*) => { if !$c { return Err(format!($($f)*).into()); } };
}

/// A catalogue case: the allocation as Nomad recorded it, and what must come out.
struct Case {
    name: &'static str,
    bundle: &'static str,
    cmd: &'static str,
    args: &'static [&'static str],
    memory: u64,
    events: fn(&str) -> Vec<Value>,
    stderr: &'static str,
    run: bool,
    verdict: &'static str,
    /// The root cause's path (reproduced), or a text the explanation must hold.
    expect: &'static str,
    exit: i32,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "missing_interpreter_is_reproduced",
            bundle: "missing-interpreter",
            cmd: HELLO,
            args: &[],
            memory: 300,
            events: |_| {
                vec![
                    event("Started", "Task started by client", json!({})),
                    terminated(255, 0, false),
                ]
            },
            stderr: "exec /nix/store/vdr56ringvjfign1h1dkcfyldzq03d0s-hello-2.10/bin/hello: no such file or directory\n",
            run: false,
            verdict: "reproduced",
            expect: "/lib64/ld-linux-x86-64.so.2",
            exit: 1,
        },
        Case {
            name: "missing_library_is_reproduced",
            bundle: "missing-direct-library",
            cmd: LS,
            args: &["/"],
            memory: 300,
            events: |_| {
                vec![
                    event("Started", "Task started by client", json!({})),
                    terminated(127, 0, false),
                ]
            },
            stderr: "/nix/store/86kl92jph77nbjv124zyivfy3qq7a4xy-coreutils-9.1/bin/ls: error while loading shared libraries: libselinux.so.1: cannot open shared object file: No such file or directory\n",
            run: false,
            verdict: "reproduced",
            expect: "libselinux.so.1",
            exit: 1,
        },
        Case {
            name: "command_not_found_is_reproduced",
            bundle: "self-contained",
            cmd: "/bin/app",
            args: &[],
            memory: 300,
            events: |id| {
                vec![
                    driver_failure(&format!(
                        "failed to launch command with executor: rpc error: code = Unknown desc = file /bin/app not found under path /var/lib/nomad/alloc/{id}/web"
                    )),
                    event(
                        "Not Restarting",
                        "Error was unrecoverable",
                        json!({"RestartReason": "Error was unrecoverable", "FailsTask": true}),
                    ),
                ]
            },
            stderr: "",
            run: false,
            verdict: "reproduced",
            expect: "/bin/app",
            exit: 1,
        },
        Case {
            name: "permission_denied_is_reproduced",
            bundle: "not-executable-interpreter",
            cmd: "/usr/local/bin/app",
            args: &[],
            memory: 300,
            events: |_| {
                vec![
                    event("Started", "Task started by client", json!({})),
                    terminated(255, 0, false),
                ]
            },
            stderr: "exec /usr/local/bin/app: permission denied\n",
            run: false,
            verdict: "reproduced",
            expect: "bash",
            exit: 1,
        },
        Case {
            name: "flattened_link_is_reproduced",
            bundle: "flattened-link",
            cmd: "/usr/local/bin/app",
            args: &[],
            memory: 300,
            events: |_| {
                vec![
                    event("Started", "Task started by client", json!({})),
                    terminated(255, 0, false),
                ]
            },
            stderr: "exec /usr/local/bin/app: exec format error\n",
            run: false,
            verdict: "reproduced",
            expect: "bin/sh",
            exit: 1,
        },
        Case {
            name: "file_count_limit_at_download_is_reproduced",
            bundle: "file-count-limit",
            cmd: HELLO,
            args: &[],
            memory: 300,
            events: |_| {
                let e = format!(
                    "failed to download artifact \"{SOURCE}file-count-limit/bundle.tar.gz\": getter subprocess failed: exit status 1: failed to download artifact: tar archive contains too many files: 4097 > 4096"
                );
                vec![event(
                    "Failed Artifact Download",
                    &e,
                    json!({"DownloadError": e, "Details": {"download_error": e}}),
                )]
            },
            stderr: "",
            run: false,
            verdict: "reproduced",
            expect: "file-count-limit/bundle.tar.gz",
            exit: 2,
        },
        Case {
            name: "oom_kill_is_reproduced_by_a_run",
            bundle: "static-busybox",
            cmd: "/bin/busybox",
            args: &["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"],
            memory: 32,
            events: |_| {
                vec![
                    event("Started", "Task started by client", json!({})),
                    terminated(137, 9, true),
                ]
            },
            stderr: "",
            run: true,
            verdict: "reproduced",
            expect: "/bin/busybox",
            exit: 1,
        },
        Case {
            name: "template_failure_passes_here",
            bundle: "self-contained",
            cmd: HELLO,
            args: &[],
            memory: 300,
            events: |_| {
                vec![event(
                    "Killing",
                    "Template failed: vault.read(secret/data/app): vault.read(secret/data/app): Error making API request. Code: 403. Errors: * permission denied",
                    json!({"FailsTask": true}),
                )]
            },
            stderr: "",
            run: false,
            verdict: "passes-here",
            expect: "template",
            exit: 0,
        },
    ]
}

/// The ID of case number `i`: distinct first 8 hex digits, a shared `a8` prefix.
fn alloc_id(i: usize) -> String {
    format!("a8{i:02x}8d79-cfdb-6593-a999-1e9adabcba2e")
}

fn fake_cluster(token: Option<&str>) -> (Arc<Mutex<Nomad>>, String) {
    let nomad = Arc::new(Mutex::new(Nomad {
        token: token.map(str::to_owned),
        ..Nomad::default()
    }));
    let url = serve(nomad.clone(), None);
    {
        let mut n = nomad.lock().unwrap();
        n.nodes.insert(
            NODE_ID.into(),
            node(url.trim_start_matches("http://"), false),
        );
        for (i, c) in cases().iter().enumerate() {
            let id = alloc_id(i);
            n.allocs.push(allocation(
                &id,
                c.bundle,
                c.cmd,
                c.args,
                c.memory,
                (c.events)(&id),
            ));
            n.logs
                .insert((id, "web".into(), "stderr".into()), c.stderr.into());
        }
    }
    (nomad, url)
}

fn artifact_map() -> String {
    format!("{SOURCE}={}/", root().join("fixtures/build").display())
}

fn run_case(i: usize, c: &Case, url: &str) -> Result<Completion, Failed> {
    let id = alloc_id(i);
    let map = artifact_map();
    let mut args = vec![
        &id[..8],
        "--artifact",
        map.as_str(),
        "--chroot-env",
        "none",
        "--format",
        "json",
    ];
    if !c.run {
        args.push("--no-run");
    }
    let r = tool(&args, &[("NOMAD_ADDR", url), ("NOMAD_TOKEN", TOKEN)]);
    let v = &r.json;
    ensure!(!v.is_null(), "no JSON (exit {}): {}", r.code, r.stderr);
    if c.run && v["emulated"]["report"]["run"].is_null() {
        let why = v["emulated"]["report"]["findings"].to_string();
        if why.contains("could not run") {
            return Ok(Completion::ignored_with(format!(
                "the sandbox cannot run here: {why}"
            )));
        }
    }
    let mem = &v["emulated"]["report"]["run"]["enforced"]["cgroup.memory"];
    if c.run && mem.as_str().is_some_and(|s| s.starts_with("skipped")) {
        return Ok(Completion::ignored_with(format!(
            "no memory cgroup here: {mem}"
        )));
    }
    ensure!(
        v["verdict"] == c.verdict,
        "verdict {} (want {}): {v:#}",
        v["verdict"],
        c.verdict
    );
    ensure!(
        r.code == c.exit,
        "exit {} (want {}): {}",
        r.code,
        c.exit,
        r.stderr
    );
    ensure!(
        v["source"] == "api" && v["allocation"]["id"] == id.as_str(),
        "{v:#}"
    );
    ensure!(
        v["node"]["nomad_version"] == "2.0.1",
        "node version: {}",
        v["node"]
    );
    ensure!(
        v["emulated"]["report"]["nomad_version"] == "2.0.1",
        "emulated {}",
        v["emulated"]["report"]["nomad_version"]
    );
    if c.verdict == "reproduced" {
        let rc = &v["root_cause"];
        let path = rc["path"].as_str().unwrap_or("");
        ensure!(
            path.contains(c.expect),
            "root cause {rc:#} (want a path with {})",
            c.expect
        );
        ensure!(
            rc["fix"].is_string() || rc["cause"] == "oom",
            "root cause without a fix: {rc:#}"
        );
        if !c.stderr.is_empty() {
            ensure!(
                v["real"]["stderr_tail"] == c.stderr,
                "stderr {}",
                v["real"]["stderr_tail"]
            );
            ensure!(
                v["real"]["logs"]
                    .as_str()
                    .unwrap_or("")
                    .contains("client node"),
                "logs: {}",
                v["real"]["logs"]
            );
        }
    } else {
        let all = format!("{} {}", v["explanation"], v["outside_bundle"]);
        ensure!(
            all.contains(c.expect),
            "explanation lacks {}: {all}",
            c.expect
        );
        ensure!(v["root_cause"].is_null(), "{}", v["root_cause"]);
    }
    Ok(Completion::Completed)
}

// ---------------------------------------------------------------- API errors and TLS

fn acl_and_lookup_errors(url: &str) -> Result<Completion, Failed> {
    let map = artifact_map();
    let base = [
        "--artifact",
        map.as_str(),
        "--chroot-env",
        "none",
        "--no-run",
        "--format",
        "json",
    ];
    let with = |id: &str, env: &[(&str, &str)]| {
        let mut a = vec![id];
        a.extend_from_slice(&base);
        tool(&a, env)
    };
    let r = with(&alloc_id(0)[..8], &[("NOMAD_ADDR", url)]);
    ensure!(
        r.code == 2
            && r.stderr.contains("403")
            && r.stderr.contains("NOMAD_TOKEN is not set")
            && r.stderr.contains("namespace:read-job"),
        "no token: {} {}",
        r.code,
        r.stderr
    );
    let r = with(
        &alloc_id(0)[..8],
        &[("NOMAD_ADDR", url), ("NOMAD_TOKEN", "wrong")],
    );
    ensure!(
        r.code == 2 && r.stderr.contains("ACL token not found") && r.stderr.contains("nomad login"),
        "bad token: {}",
        r.stderr
    );
    let ok = [("NOMAD_ADDR", url), ("NOMAD_TOKEN", TOKEN)];
    let r = with("ffff", &ok);
    ensure!(
        r.code == 2
            && r.stderr
                .contains("No allocation(s) with prefix or id \"ffff\""),
        "unknown: {}",
        r.stderr
    );
    let r = with("a8", &ok);
    ensure!(
        r.code == 2
            && r.stderr.contains("Prefix matched multiple allocations")
            && r.stderr.contains("a8008d79")
            && r.stderr.contains("a8018d79"),
        "ambiguous: {}",
        r.stderr
    );
    let r = with("a", &ok);
    ensure!(
        r.code == 2 && r.stderr.contains("at least two characters"),
        "{}",
        r.stderr
    );
    // An odd number of hex digits is cut to even, as the CLI does: a8008 → a800.
    let r = with("a8008", &ok);
    ensure!(
        r.json["allocation"]["id"] == alloc_id(0).as_str(),
        "odd prefix: {} {}",
        r.code,
        r.stderr
    );
    let r = with(
        &alloc_id(0),
        &[
            ("NOMAD_ADDR", url),
            ("NOMAD_TOKEN", TOKEN),
            ("NOMAD_NAMESPACE", "other"),
        ],
    );
    ensure!(
        r.code == 2 && r.stderr.contains("No allocation"),
        "namespace not sent: {}",
        r.stderr
    );
    let r = with(&alloc_id(0), &[("NOMAD_ADDR", "http://127.0.0.1:9")]);
    ensure!(
        r.code == 3 && r.stderr.contains("cannot reach http://127.0.0.1:9"),
        "unreachable: {} {}",
        r.code,
        r.stderr
    );
    Ok(Completion::Completed)
}

/// A 404 on the allocation itself (garbage-collected after the prefix lookup), and the
/// matched allocation's own namespace asked for, as `alloc status` asks.
fn gone_allocation_is_a_404_with_a_hint() -> Result<Completion, Failed> {
    let nomad = Arc::new(Mutex::new(Nomad::default()));
    let url = serve(nomad.clone(), None);
    let id = alloc_id(0);
    {
        let mut n = nomad.lock().unwrap();
        n.allocs.push(json!({"ID": id, "Namespace": "x"}));
        n.gone.push(id.clone());
    }
    let r = tool(
        &[&id, "--no-run"],
        &[("NOMAD_ADDR", &url), ("NOMAD_NAMESPACE", "*")],
    );
    let seen = nomad.lock().unwrap().seen.join("\n");
    ensure!(
        seen.contains("\"namespace\": \"x\""),
        "the alloc's own namespace is not asked: {seen}"
    );
    ensure!(
        r.code == 2
            && r.stderr.contains("404")
            && r.stderr.contains("garbage-collected")
            && r.stderr.contains("--alloc-dir"),
        "{} {}",
        r.code,
        r.stderr
    );
    Ok(Completion::Completed)
}

fn tls(pki: &Pki) -> Result<Completion, Failed> {
    let (nomad, _) = fake_cluster(Some(TOKEN));
    let url = serve(nomad.clone(), Some(pki.server.clone()));
    let dir = tempfile::tempdir()?;
    let ca = dir.path().join("ca.pem");
    fs::write(&ca, &pki.ca_pem)?;
    let ca = ca.to_str().unwrap();
    let map = artifact_map();
    let id = &alloc_id(0)[..8];
    let args = [
        id,
        "--artifact",
        map.as_str(),
        "--chroot-env",
        "none",
        "--no-run",
        "--format",
        "json",
    ];
    // No CA: the system's roots do not know ours.
    let r = tool(&args, &[("NOMAD_ADDR", &url), ("NOMAD_TOKEN", TOKEN)]);
    ensure!(
        r.code == 3 && r.stderr.contains("TLS with") && r.stderr.contains("NOMAD_CACERT"),
        "no CA: {} {}",
        r.code,
        r.stderr
    );
    // The CA, but 127.0.0.1 is not in the certificate.
    let r = tool(
        &args,
        &[
            ("NOMAD_ADDR", &url),
            ("NOMAD_TOKEN", TOKEN),
            ("NOMAD_CACERT", ca),
        ],
    );
    ensure!(
        r.code == 3 && r.stderr.contains("NOMAD_TLS_SERVER_NAME"),
        "name: {} {}",
        r.code,
        r.stderr
    );
    // The CA and the server name: verified.
    let r = tool(
        &args,
        &[
            ("NOMAD_ADDR", &url),
            ("NOMAD_TOKEN", TOKEN),
            ("NOMAD_CACERT", ca),
            ("NOMAD_TLS_SERVER_NAME", "server.global.nomad"),
        ],
    );
    ensure!(
        r.json["verdict"] == "reproduced",
        "CA + name: {} {}",
        r.code,
        r.stderr
    );
    // NOMAD_CAPATH: a directory of CA files.
    let r = tool(
        &args,
        &[
            ("NOMAD_ADDR", &url),
            ("NOMAD_TOKEN", TOKEN),
            ("NOMAD_CAPATH", dir.path().to_str().unwrap()),
            ("NOMAD_TLS_SERVER_NAME", "server.global.nomad"),
        ],
    );
    ensure!(
        r.json["verdict"] == "reproduced",
        "CA path: {} {}",
        r.code,
        r.stderr
    );
    // NOMAD_SKIP_VERIFY: anything goes.
    let r = tool(
        &args,
        &[
            ("NOMAD_ADDR", &url),
            ("NOMAD_TOKEN", TOKEN),
            ("NOMAD_SKIP_VERIFY", "true"),
        ],
    );
    ensure!(
        r.json["verdict"] == "reproduced",
        "skip verify: {} {}",
        r.code,
        r.stderr
    );
    Ok(Completion::Completed)
}

/// The client node does not answer: the logs come through the server, and when the
/// server cannot reach the node either, they are skipped, saying so.
fn unreachable_client_node() -> Result<Completion, Failed> {
    let (nomad, url) = fake_cluster(Some(TOKEN));
    nomad
        .lock()
        .unwrap()
        .nodes
        .insert(NODE_ID.into(), node("127.0.0.1:9", false));
    let map = artifact_map();
    let id = &alloc_id(0)[..8];
    let args = [
        id,
        "--artifact",
        map.as_str(),
        "--chroot-env",
        "none",
        "--no-run",
        "--format",
        "json",
    ];
    let env = [("NOMAD_ADDR", url.as_str()), ("NOMAD_TOKEN", TOKEN)];
    let r = tool(&args, &env);
    let logs = r.json["real"]["logs"].as_str().unwrap_or("").to_owned();
    ensure!(
        logs.contains("the server at"),
        "logs: {logs} ({})",
        r.stderr
    );
    ensure!(r.json["verdict"] == "reproduced", "{}", r.json["verdict"]);
    nomad.lock().unwrap().logs_error = Some("No path to node".into());
    let r = tool(&args, &env);
    let logs = r.json["real"]["logs"].as_str().unwrap_or("").to_owned();
    ensure!(
        logs.starts_with("skipped:")
            && logs.contains("No path to node")
            && logs.contains("127.0.0.1:9"),
        "logs: {logs}"
    );
    // Without the stderr the exit code 255 still matches the emulation's.
    ensure!(r.json["verdict"] == "reproduced", "{:#}", r.json);
    Ok(Completion::Completed)
}

// ---------------------------------------------------------------- alloc dirs

/// `<data_dir>/alloc/<id>` as `client/allocdir` builds it (§1.1, §1.2 of nomad-exec.md),
/// with the bundle unpacked into the task dir as the artifact hook does.
fn alloc_dir(case: &str, dest: &str) -> Result<tempfile::TempDir, Failed> {
    let d = tempfile::tempdir()?;
    let mk = |p: &str, mode: u32| -> std::io::Result<()> {
        let p = d.path().join(p);
        fs::create_dir_all(&p)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
    };
    for p in [
        "alloc",
        "alloc/data",
        "alloc/logs",
        "alloc/tmp",
        "web",
        "web/local",
        "web/secrets",
        "web/private",
        "web/alloc",
    ] {
        mk(p, 0o777)?;
    }
    mk("web/tmp", 0o1777)?;
    fs::write(d.path().join("web/secrets/.nomad-mount"), "")?;
    fs::write(d.path().join("web/executor.out"), "executor log\n")?;
    let host_dest = d.path().join("web").join(dest.trim_start_matches('/'));
    let summary = archive::extract(&ExtractRequest {
        bundle: &bundle(case),
        source_name: "bundle.tar.gz",
        archive: None,
        dest: &host_dest,
        dest_in_task: dest,
        // Where a Nomad client has it: the kernel's path limits count from there.
        nomad_dest: &format!("/var/lib/nomad/alloc/00000000-0000-0000-0000-000000000000/web{dest}"),
        mode: ExtractMode::Nomad,
        version: NomadVersion::NEWEST,
        limits: ArtifactLimits::nomad_default(NomadVersion::NEWEST),
        safety: SafetyLimits::default(),
        chroot_env: &ChrootEnv::none(),
    })
    .map_err(|e| e.to_string())?;
    ensure!(!summary.rejected, "{case}: rejected");
    Ok(d)
}

/// Every path under `dir` with its type, mode, owner, size, mtime and content.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        let content = if m.is_file() {
            use sha2::Digest;
            format!(
                "{:x}",
                sha2::Sha256::digest(fs::read(p).unwrap_or_default())
            )
        } else if m.file_type().is_symlink() {
            fs::read_link(p)
                .map(|t| t.display().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let key = p.strip_prefix(base).unwrap_or(p).display().to_string();
        out.insert(
            key,
            format!(
                "{:o} {}:{} {} {}.{} {content}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
        if m.is_dir() {
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(base, &e.path(), out);
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn unchanged(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), Failed> {
    let changed: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("{k}: {:?} → {:?}", before.get(k), after.get(k)))
        .collect();
    ensure!(
        changed.is_empty(),
        "the alloc dir changed:\n{}",
        changed.join("\n")
    );
    Ok(())
}

/// The real failure read from the alloc dir's logs and `alloc status -json` output,
/// explained from the task dir Nomad built; nothing there changes.
fn alloc_dir_explains_without_writing() -> Result<Completion, Failed> {
    let d = alloc_dir("missing-interpreter", "/")?;
    let stderr = format!("exec {HELLO}: no such file or directory\n");
    fs::write(d.path().join("alloc/logs/web.stderr.0"), &stderr)?;
    fs::write(d.path().join("alloc/logs/web.stdout.0"), "")?;
    let work = tempfile::tempdir()?;
    let json_file = work.path().join("alloc.json");
    let id = alloc_id(0);
    let a = allocation(
        &id,
        "missing-interpreter",
        HELLO,
        &[],
        300,
        vec![terminated(255, 0, false)],
    );
    fs::write(&json_file, serde_json::to_string_pretty(&a)?)?;
    let before = snapshot(d.path());
    let r = tool(
        &[
            "--alloc-dir",
            d.path().to_str().unwrap(),
            "--from-file",
            json_file.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    unchanged(&before, &snapshot(d.path()))?;
    let v = &r.json;
    ensure!(v["verdict"] == "reproduced", "{} {v:#}", r.stderr);
    ensure!(
        v["source"] == "file" && v["real"]["stderr_tail"] == stderr.as_str(),
        "{v:#}"
    );
    ensure!(
        v["root_cause"]["path"] == "/lib64/ld-linux-x86-64.so.2",
        "{}",
        v["root_cause"]
    );
    ensure!(
        v["emulated"]["report"]["task"]["command"] == HELLO,
        "{}",
        v["emulated"]["report"]["task"]
    );
    // And with no job at all: the command from the flags, the stderr from the logs.
    let r = tool(
        &[
            "--alloc-dir",
            d.path().to_str().unwrap(),
            "--format",
            "json",
            "--",
            HELLO,
        ],
        &[],
    );
    unchanged(&before, &snapshot(d.path()))?;
    ensure!(
        r.json["verdict"] == "reproduced" && r.json["source"] == "alloc-dir",
        "{} {:#}",
        r.stderr,
        r.json
    );
    Ok(Completion::Completed)
}

/// `--run` as root over the alloc dir bind-mounted read-only (in a mount namespace of
/// the test's own): the task writes into its task dir, which only the overlay sees.
fn alloc_dir_run_writes_only_to_the_overlay() -> Result<Completion, Failed> {
    let d = alloc_dir("static-busybox", "/")?;
    let before = snapshot(d.path());
    let dir = d.path().to_str().unwrap().to_owned();
    let exe = env!("CARGO_BIN_EXE_nomad-chroot-check");
    let script = format!(
        "mount --bind {dir} {dir} && mount -o remount,bind,ro {dir} && exec {exe} alloc --alloc-dir {dir} --run --format json -- /bin/busybox sh -c 'echo written > /local/new && echo data > /alloc/data/x && cat /local/new'"
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()?;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr);
    unchanged(&before, &snapshot(d.path()))?;
    let run = &v["emulated"]["report"]["run"];
    ensure!(run["exit_code"] == 0, "the run failed: {stderr}\n{v:#}");
    ensure!(run["stdout_tail"] == "written\n", "{run:#}");
    ensure!(v["verdict"] == "no-failure", "{}", v["verdict"]);
    Ok(Completion::Completed)
}

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(2);
    }
    let root_user = nix::unistd::geteuid().is_root();
    let missing: Vec<&str> = [
        "missing-interpreter",
        "missing-direct-library",
        "self-contained",
        "not-executable-interpreter",
        "flattened-link",
        "file-count-limit",
        "static-busybox",
    ]
    .into_iter()
    .filter(|c| !bundle(c).exists())
    .collect();
    let no_fixtures = (!missing.is_empty()).then(|| {
        format!(
            "fixture bundles not built ({}): run fixtures/build.sh",
            missing.join(", ")
        )
    });
    let mut trials = Vec::new();
    let (_cluster, url) = fake_cluster(Some(TOKEN));
    for (i, c) in cases().into_iter().enumerate() {
        let url = url.clone();
        let why = no_fixtures.clone().or_else(|| {
            (c.run && !root_user).then(|| "the OOM run needs root (a memory cgroup)".to_owned())
        });
        trials.push(match why {
            Some(w) => Trial::ignorable_test(c.name, move || Ok(Completion::ignored_with(w))),
            None => Trial::ignorable_test(c.name, move || run_case(i, &c, &url)),
        });
    }
    let u = url.clone();
    let fx = no_fixtures.clone();
    trials.push(Trial::ignorable_test(
        "acl_token_prefixes_404_and_unreachable",
        move || match &fx {
            Some(w) => Ok(Completion::ignored_with(w)),
            None => acl_and_lookup_errors(&u),
        },
    ));
    trials.push(Trial::ignorable_test(
        "gone_allocation_is_a_404_with_a_hint",
        gone_allocation_is_a_404_with_a_hint,
    ));
    let fx = no_fixtures.clone();
    let p = pki();
    trials.push(Trial::ignorable_test(
        "tls_with_a_ca_made_here",
        move || match &fx {
            Some(w) => Ok(Completion::ignored_with(w)),
            None => tls(&p),
        },
    ));
    let fx = no_fixtures.clone();
    trials.push(Trial::ignorable_test(
        "unreachable_client_node_logs_skipped_or_via_server",
        move || match &fx {
            Some(w) => Ok(Completion::ignored_with(w)),
            None => unreachable_client_node(),
        },
    ));
    let fx = no_fixtures.clone();
    trials.push(Trial::ignorable_test(
        "alloc_dir_explains_without_writing",
        move || match &fx {
            Some(w) => Ok(Completion::ignored_with(w)),
            None => alloc_dir_explains_without_writing(),
        },
    ));
    let why = no_fixtures.or_else(|| {
        (!root_user).then(|| "needs root (a read-only bind mount and an overlay)".to_owned())
    });
    trials.push(Trial::ignorable_test(
        "alloc_dir_run_writes_only_to_the_overlay",
        move || match &why {
            Some(w) => Ok(Completion::ignored_with(w)),
            None => alloc_dir_run_writes_only_to_the_overlay(),
        },
    ));
    libtest_mimic::run(&args, trials).exit();
}
