//! `nomad-chroot-check job`: jobspecs → per-task check options (no extraction needed),
//! the CLI's errors and output, and end to end on the example repo's production.hcl.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use clap::Parser;
use flate2::Compression;
use flate2::write::GzEncoder;
use nomad_chroot_check::archive::ArchiveKind;
use nomad_chroot_check::cli::{Cli, Command, JobArgs};
use nomad_chroot_check::config::{JobType, Network};
use nomad_chroot_check::error::Error;
use nomad_chroot_check::finding::{Cause, Kind, Severity, Verdict};
use nomad_chroot_check::job::{self, JobPlan, PlannedTask};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared() -> PathBuf {
    root().join("../shared/fixtures/nomad-with-nix")
}

fn jobs() -> PathBuf {
    root().join("fixtures/jobs")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn args(argv: &[&str]) -> JobArgs {
    let mut full = vec!["nomad-chroot-check", "job"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full)
        .expect("valid command line")
        .command
    {
        Some(Command::Job(a)) => a,
        other => panic!("not a job command: {other:?}"),
    }
}

fn plan(argv: &[&str]) -> Result<JobPlan, Error> {
    job::plan(&args(argv))
}

fn plan_ok(argv: &[&str]) -> JobPlan {
    plan(argv).unwrap_or_else(|e| panic!("plan failed: {e}"))
}

fn plan_err(argv: &[&str]) -> String {
    match plan(argv) {
        Ok(p) => panic!("expected an error, planned {} tasks", p.tasks.len()),
        Err(e) => {
            assert_eq!(e.exit_code() as i32, 2, "{e}");
            e.to_string()
        }
    }
}

fn task<'a>(p: &'a JobPlan, name: &str) -> &'a PlannedTask {
    p.tasks
        .iter()
        .find(|t| t.opts.task.name == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

fn env_of(t: &PlannedTask) -> BTreeMap<String, String> {
    t.opts.task.env.iter().cloned().collect()
}

fn has(t: &PlannedTask, kind: Kind, cause: Cause, path: &str) -> bool {
    t.findings
        .iter()
        .any(|f| f.kind == kind && f.cause == cause && f.path.contains(path))
}

fn bin() -> Proc {
    Proc::new(env!("CARGO_BIN_EXE_nomad-chroot-check"))
}

/// Stand-in artifact files, for plans that never unpack them.
fn placeholder_dir(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for n in names {
        std::fs::write(dir.path().join(n), b"not unpacked by plan()").unwrap();
    }
    dir
}

// ---------------------------------------------------------------- production.hcl

#[test]
fn production_hcl_plans_its_three_exec_tasks_as_nomad_would() {
    let dir = placeholder_dir(&["postgresql-11.11-0.tar.gz", "app-1.0.tar.gz"]);
    let map = format!("http://127.0.0.1:8080/={}", dir.path().display());
    let p = plan_ok(&[
        s(&shared().join("production.hcl")),
        "--client-config",
        s(&shared().join("nomad.conf")),
        "--artifact",
        &map,
    ]);
    assert_eq!(p.job, "production");
    assert_eq!(p.job_type, "service");
    let names: Vec<_> = p.tasks.iter().map(|t| t.opts.task.name.as_str()).collect();
    assert_eq!(names, ["database", "database-init", "server"]);
    assert!(p.skipped.is_empty());

    // The client config's chroot_env replaces the default map (§2.2).
    let chroot: Vec<_> = p.tasks[0].opts.chroot_env.entries.keys().cloned().collect();
    assert_eq!(
        chroot,
        [
            "/etc/group",
            "/etc/nsswitch.conf",
            "/etc/passwd",
            "/etc/resolv.conf",
            "/etc/ssl/certs"
        ]
    );

    let db = task(&p, "database");
    assert_eq!(db.opts.task.group.as_deref(), Some("database"));
    assert_eq!(db.opts.task.job.as_deref(), Some("production"));
    assert_eq!(db.opts.task.command.as_deref(), Some("/bin/sh"));
    assert_eq!(db.opts.task.args[0], "-c");
    // ${PGDATA} in the heredoc is left by jobspec2 and interpolated by the client.
    assert!(
        db.opts.task.args[1].starts_with("set -e\nif [ ! -d /local/db ]; then\n"),
        "{}",
        db.opts.task.args[1]
    );
    assert!(
        db.opts.task.args[1]
            .contains("echo \"unix_socket_directories='/local/db'\" >> /local/db/postgresql.conf")
    );
    assert_eq!(env_of(db)["PGDATA"], "/local/db");
    assert_eq!(env_of(db)["LC_ALL"], "C");
    assert_eq!(db.env["PGDATA"], "/local/db");
    assert_eq!(db.env["NOMAD_TASK_DIR"], "/local");
    assert_eq!(db.opts.task.network, Network::Bridge);
    assert_eq!(db.opts.task.user, "nobody");
    assert_eq!(db.opts.artifacts.len(), 1);
    assert_eq!(
        db.opts.artifacts[0].file,
        dir.path().join("postgresql-11.11-0.tar.gz")
    );
    assert_eq!(
        db.opts.artifacts[0].source_name,
        "/postgresql-11.11-0.tar.gz"
    );
    assert_eq!(db.opts.artifacts[0].destination, "/");
    assert_eq!(db.opts.run.as_ref().unwrap().job_type, JobType::Service);
    assert!(has(
        db,
        Kind::Note,
        Cause::NotEmulated,
        "service (name = database) with Consul Connect"
    ));

    let init = task(&p, "database-init");
    assert_eq!(init.opts.task.group.as_deref(), Some("app"));
    assert_eq!(
        env_of(init)["PGARGS"],
        "-h 127.0.0.1 -p 5432 -U postgres",
        "upstream IP and port are the documented stand-ins"
    );
    assert!(
        init.opts.task.args[1].contains("while ! pg_isready -h 127.0.0.1 -p 5432 -U postgres; do")
    );
    // A prestart hook without sidecar must exit 0, even in a service job (§7).
    assert_eq!(init.opts.run.as_ref().unwrap().job_type, JobType::Batch);
    assert!(has(
        init,
        Kind::Note,
        Cause::Emulated,
        "NOMAD_UPSTREAM_IP_database"
    ));
    assert_eq!(
        init.opts.artifacts[0].source_name,
        "/postgresql-11.11-0.tar.gz"
    );

    let srv = task(&p, "server");
    assert_eq!(
        srv.opts.task.command.as_deref(),
        Some("/usr/local/bin/uvicorn")
    );
    assert_eq!(
        srv.opts.task.args,
        ["main:app", "--host", "0.0.0.0", "--port", "20000"]
    );
    assert_eq!(
        env_of(srv)["DATABASE_URL"],
        "postgresql://app:app@127.0.0.1:5432/app"
    );
    assert_eq!(
        srv.opts.artifacts[0].file,
        dir.path().join("app-1.0.tar.gz")
    );
    assert_eq!(srv.opts.run.as_ref().unwrap().job_type, JobType::Service);
    assert!(has(srv, Kind::Note, Cause::Emulated, "NOMAD_PORT_http"));
    // Nothing in production.hcl is left unresolved.
    for t in &p.tasks {
        assert!(
            !t.findings.iter().any(|f| f.cause == Cause::Unresolved),
            "{:?}",
            t.findings
        );
    }
}

#[test]
fn unmapped_artifact_names_the_source_and_the_flag() {
    let err = plan_err(&[s(&shared().join("production.hcl"))]);
    assert!(
        err.contains("http://127.0.0.1:8080/postgresql-11.11-0.tar.gz"),
        "{err}"
    );
    assert!(err.contains("--artifact"), "{err}");
    assert!(err.contains("--fetch"), "{err}");
    // A mapping to a missing file is caught before any check.
    let err = plan_err(&[
        s(&shared().join("production.hcl")),
        "--artifact",
        "http://127.0.0.1:8080/=/nonexistent-dir",
    ]);
    assert!(
        err.contains("/nonexistent-dir/postgresql-11.11-0.tar.gz"),
        "{err}"
    );
}

#[test]
fn variables_change_the_artifact_source() {
    let dir = placeholder_dir(&["postgresql-12.0.tar.gz", "app-2.0.tar.gz"]);
    let map = format!("http://10.0.0.1:9000/={}", dir.path().display());
    let p = plan_ok(&[
        s(&shared().join("production.hcl")),
        "--var",
        "artifact_base_url=http://10.0.0.1:9000",
        "--var",
        "postgres_version=12.0",
        "--var",
        "app_version=2.0",
        "--artifact",
        &map,
    ]);
    assert_eq!(
        task(&p, "server").opts.artifacts[0].file,
        dir.path().join("app-2.0.tar.gz")
    );
    assert_eq!(
        task(&p, "database").opts.artifacts[0].source_name,
        "/postgresql-12.0.tar.gz"
    );
}

#[test]
fn development_hcl_has_no_exec_task() {
    let err = plan_err(&[s(&shared().join("development.hcl"))]);
    assert!(err.contains("no task with driver = \"exec\""), "{err}");
    assert!(err.contains("app/database (raw_exec)"), "{err}");
    assert!(err.contains("app/server (raw_exec)"), "{err}");
}

#[test]
fn task_filter_and_unknown_task_names() {
    let dir = placeholder_dir(&["postgresql-11.11-0.tar.gz", "app-1.0.tar.gz"]);
    let map = format!("http://127.0.0.1:8080/={}", dir.path().display());
    let job = shared().join("production.hcl");
    let p = plan_ok(&[s(&job), "--artifact", &map, "--task-name", "server"]);
    assert_eq!(p.tasks.len(), 1);
    assert_eq!(p.tasks[0].opts.task.name, "server");
    let p = plan_ok(&[
        s(&job),
        "--artifact",
        &map,
        "--task-name",
        "database/database",
    ]);
    assert_eq!(p.tasks.len(), 1);
    assert_eq!(p.tasks[0].opts.task.group.as_deref(), Some("database"));
    let err = plan_err(&[s(&job), "--artifact", &map, "--task-name", "web"]);
    assert!(err.contains("no task \"web\""), "{err}");
    assert!(
        err.contains("database/database, app/database-init, app/server"),
        "{err}"
    );
}

// ---------------------------------------------------------------- features job

fn features(extra: &[&str]) -> (tempfile::TempDir, Result<JobPlan, Error>) {
    let dir = placeholder_dir(&["app-2.1.tar.gz", "app-3.0.tar.gz", "tools.bin"]);
    let map = format!("http://artifacts.example:8080/={}", dir.path().display());
    let job = jobs().join("features.nomad.hcl");
    let mut argv = vec![s(&job).to_owned(), "--artifact".into(), map];
    argv.extend(extra.iter().map(|x| x.to_string()));
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let p = plan(&refs);
    (dir, p)
}

#[test]
fn features_job_reads_every_block() {
    let vf = jobs().join("features.vars.hcl");
    let node = jobs().join("node.json");
    let (dir, p) = features(&["--var-file", s(&vf), "--node", s(&node)]);
    let p = p.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.job, "features");
    assert_eq!(p.job_type, "batch");
    assert_eq!(
        p.skipped,
        [job::Skipped {
            task: "cache".into(),
            group: "web".into(),
            driver: "docker".into(),
            reason: None,
        }]
    );

    let main = task(&p, "main");
    let t = &main.opts.task;
    // locals, lower(), and the var file's list appended with concat().
    assert_eq!(t.command.as_deref(), Some("/bin/sh"));
    assert_eq!(t.args.len(), 4);
    assert_eq!(&t.args[2..], ["--quiet", "--color=never"]);
    assert_eq!(
        t.args[1],
        "echo \"data in /local/data on linux rack r42\"\n\
         echo \"home /nonexistent port 8080 team PLATFORM\"\n\
         echo \"literal ${NOT_INTERPOLATED_BY_HCL} and $SHELL_VAR\"\n"
    );
    assert_eq!(t.work_dir.as_deref(), Some("/local"));
    assert_eq!(t.user, "nobody");
    assert!(t.pid_mode_host);
    assert!(!t.ipc_mode_host);
    assert_eq!(t.cap_add, ["net_bind_service", "CAP_CHOWN"]);
    assert_eq!(t.cap_drop, ["all"]);
    assert_eq!(
        (t.memory_mb, t.memory_max_mb, t.cpu_mhz),
        (128, Some(512), 500)
    );
    assert_eq!(t.network, Network::Bridge);

    let env = env_of(main);
    assert_eq!(env["DATA_DIR"], "/local/data");
    assert_eq!(env["ALLOC"], "/alloc");
    assert_eq!(env["KERNEL"], "linux");
    assert_eq!(env["GREETING"], "exec task fixture");
    assert_eq!(env["SERVERS"], "a,b,c");
    assert_eq!(env["MEM"], "128");
    assert_eq!(env["DEBUG"], "false");
    assert_eq!(env["COUNT"], "2");
    assert_eq!(env["ROOT"], "/opt/app/x");
    // cty's `coalesce` skips nulls only (`cty/function/stdlib/general.go`): "" wins.
    assert_eq!(env["CHOSEN"], "");
    // cty objects keep their attributes sorted, and jsonencode writes them so.
    assert_eq!(env["LABELS"], r#"{"env":"prod","team":"Platform"}"#);
    // ReplaceEnv does not understand ${env["X"]}: the task sees it as written.
    assert_eq!(env["HOME_AS_IS"], r#"${env["HOME"]}"#);
    assert!(has(
        main,
        Kind::Environment,
        Cause::Unresolved,
        r#"${env["HOME"]}"#
    ));
    assert_eq!(env["MISSING"], "${NOMAD_META_nope}");
    assert!(has(
        main,
        Kind::Environment,
        Cause::Unresolved,
        "${NOMAD_META_nope}"
    ));
    assert!(has(
        main,
        Kind::Environment,
        Cause::Unresolved,
        "${NOT_INTERPOLATED_BY_HCL}"
    ));
    // Ports: static as written; `to` is what the task sees; dynamic host ports from 20000.
    assert_eq!(env["NOMAD_PORT_http"], "8080");
    assert_eq!(env["NOMAD_PORT_metrics"], "9100");
    assert_eq!(env["NOMAD_HOST_PORT_metrics"], "20000");
    assert_eq!(env["NOMAD_META_owner"], "platform");
    assert_eq!(env["NOMAD_META_OWNER"], "platform");

    // Artifacts in order; archive=false is saved as a file (go-getter copies it into
    // the destination under its base name); archive= picks the kind.
    let arts = &main.opts.artifacts;
    assert_eq!(arts.len(), 3);
    assert_eq!(arts[0].file, dir.path().join("app-2.1.tar.gz"));
    assert_eq!(arts[0].destination, "/");
    assert_eq!(arts[0].archive, None);
    assert_eq!(arts[0].copy, None);
    assert_eq!(arts[1].destination, "local/etc");
    assert_eq!(arts[1].copy.as_deref(), Some("motd.txt"));
    assert_eq!(arts[2].file, dir.path().join("tools.bin"));
    assert_eq!(arts[2].source_name, "/tools.bin");
    assert_eq!(arts[2].archive, Some(ArchiveKind::TarGz));
    assert_eq!(arts[2].destination, "local/tools");
    assert!(has(main, Kind::Note, Cause::NotEmulated, "3 artifacts"));
    // The motd checksum matches: no checksum finding, not blocked.
    assert!(!main.blocked);
    assert!(
        !main
            .findings
            .iter()
            .any(|f| f.cause == Cause::ChecksumMismatch)
    );

    for block in [
        "template (destination = local/app.env)",
        "vault",
        "volume_mount (destination = /srv/data)",
        "identity",
        "volume \"data\"",
    ] {
        assert!(
            has(main, Kind::Note, Cause::NotEmulated, block),
            "{block} not listed: {:?}",
            main.findings
        );
    }
    for f in main
        .findings
        .iter()
        .filter(|f| f.cause == Cause::NotEmulated)
    {
        assert_eq!(f.severity, Severity::Info);
    }

    // Run semantics: batch job; prestart → batch; poststart sidecar → service; poststop → batch.
    let run = main.opts.run.as_ref().unwrap();
    assert_eq!(run.job_type, JobType::Batch);
    assert_eq!(run.kill_signal, "SIGTERM");
    assert_eq!(run.kill_timeout, std::time::Duration::from_secs(20));
    assert_eq!(
        task(&p, "init").opts.run.as_ref().unwrap().job_type,
        JobType::Batch
    );
    assert_eq!(task(&p, "init").opts.task.args[1], "mkdir -p /alloc/data");
    assert_eq!(
        task(&p, "logger").opts.run.as_ref().unwrap().job_type,
        JobType::Service
    );
    // <<-EOT strips the common indentation.
    assert_eq!(
        task(&p, "logger").opts.task.args[1],
        "while true; do\n  sleep 1\ndone\n"
    );
    assert_eq!(
        task(&p, "cleanup").opts.run.as_ref().unwrap().job_type,
        JobType::Batch
    );
    assert_eq!(
        task(&p, "cleanup").opts.run.as_ref().unwrap().kill_signal,
        "SIGINT"
    );
}

#[test]
fn features_job_var_precedence_and_types() {
    let vj = jobs().join("features.vars.json");
    let vf = jobs().join("features.vars.hcl");
    // The JSON file comes last and wins for app_version; --var beats every file.
    let (dir, p) = features(&[
        "--var-file",
        s(&vf),
        "--var-file",
        s(&vj),
        "--var",
        "memory=64",
        "--var",
        "job_type=service",
        "--no-run",
    ]);
    let p = p.unwrap_or_else(|e| panic!("{e}"));
    let main = task(&p, "main");
    assert_eq!(
        main.opts.artifacts[0].file,
        dir.path().join("app-3.0.tar.gz")
    );
    assert_eq!(main.opts.task.memory_mb, 64);
    assert_eq!(env_of(main)["DEBUG"], "true");
    assert_eq!(p.job_type, "service");
    assert!(main.opts.run.is_none(), "--no-run means static only");

    let (_d, p) = features(&["--var", "app_version=2.1", "--var", "job_type=service"]);
    let p = p.unwrap();
    assert_eq!(
        task(&p, "main").opts.run.as_ref().unwrap().job_type,
        JobType::Service
    );
    // Without --node, node references stay and are reported with the flag to use.
    let main = task(&p, "main");
    assert!(main.opts.task.args[1].contains("on ${attr.kernel.name} rack ${meta.rack}"));
    let f = main
        .findings
        .iter()
        .find(|f| f.path == "${attr.kernel.name}")
        .expect("unresolved attr reported");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.hint.as_deref().unwrap().contains("--node"));

    let (_d, p) = features(&[]);
    let err = p.unwrap_err().to_string();
    assert!(err.contains("Unset variable \"app_version\""), "{err}");
    assert!(err.contains("--var app_version=VALUE"), "{err}");
    let (_d, p) = features(&["--var", "app_version=1", "--var", "memory=lots"]);
    assert!(p.unwrap_err().to_string().contains("a number is required"));
    let (_d, p) = features(&["--var", "app_version=1", "--var", "job_type=cron"]);
    assert!(p.unwrap_err().to_string().contains("type \"cron\""));
}

// ---------------------------------------------------------------- JSON form

fn json_plan(file: &str) -> (tempfile::TempDir, JobPlan) {
    let dir = placeholder_dir(&["app-1.0.tar.gz", "extra.bin"]);
    let map = format!("http://127.0.0.1:8080/={}", dir.path().display());
    let p = plan_ok(&[s(&jobs().join(file)), "--artifact", &map]);
    (dir, p)
}

#[test]
fn json_job_as_nomad_run_output_prints_it() {
    for file in ["features.json", "features-api.json"] {
        let (dir, p) = json_plan(file);
        assert_eq!(p.job, "jsonjob");
        assert_eq!(p.job_type, "batch");
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].driver, "docker");
        let srv = task(&p, "server");
        assert_eq!(
            srv.opts.task.command.as_deref(),
            Some("/usr/local/bin/uvicorn")
        );
        assert_eq!(srv.opts.task.args, ["main:app", "--port", "20000"]);
        let env = env_of(srv);
        assert_eq!(env["PGDATA"], "/local/db");
        assert_eq!(
            env["DATABASE_URL"],
            "postgresql://app:app@127.0.0.1:5432/app"
        );
        assert_eq!(srv.opts.task.network, Network::Bridge);
        assert_eq!((srv.opts.task.cpu_mhz, srv.opts.task.memory_mb), (200, 128));
        assert_eq!(srv.opts.task.memory_max_mb, None);
        let run = srv.opts.run.as_ref().unwrap();
        assert_eq!(run.kill_timeout, std::time::Duration::from_secs(20));
        assert_eq!(run.kill_signal, "SIGTERM");
        assert_eq!(run.job_type, JobType::Batch);
        assert_eq!(srv.opts.artifacts.len(), 2);
        assert_eq!(
            srv.opts.artifacts[0].file,
            dir.path().join("app-1.0.tar.gz")
        );
        assert_eq!(srv.opts.artifacts[0].destination, "/");
        assert_eq!(srv.opts.artifacts[1].archive, Some(ArchiveKind::TarGz));
        assert_eq!(srv.opts.artifacts[1].destination, "local/extra");
        assert!(has(srv, Kind::Note, Cause::NotEmulated, "template"));
        assert!(has(srv, Kind::Note, Cause::NotEmulated, "service \"app\""));
        let err = plan_err(&[s(&jobs().join(file)), "--var", "a=b"]);
        assert!(err.contains("apply to HCL jobspecs only"), "{err}");
        let mig = task(&p, "migrate");
        assert_eq!(mig.opts.task.args, ["-c", "echo /local/db"]);
        assert_eq!(mig.opts.run.as_ref().unwrap().job_type, JobType::Batch);
    }
}

// ---------------------------------------------------------------- caps, checksum

#[test]
fn cap_add_beyond_allow_caps_is_nomads_error() {
    let p = plan_ok(&[s(&jobs().join("caps-denied.nomad.hcl"))]);
    let t = &p.tasks[0];
    let f = t
        .findings
        .iter()
        .find(|f| f.cause == Cause::StartFailure)
        .expect("capability finding");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.nomad_error.as_deref(),
        Some("driver does not allow the following capabilities: net_raw, sys_admin")
    );
    assert!(t.opts.run.is_none(), "the task never starts");

    // A client config that allows them (and sets the plugin's default modes).
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("client.hcl");
    std::fs::write(
        &conf,
        "plugin \"exec\" {\n  config {\n    allow_caps = [\"chown\", \"NET_RAW\", \"sys_admin\"]\n    default_pid_mode = \"host\"\n    default_ipc_mode = \"host\"\n  }\n}\n",
    )
    .unwrap();
    let p = plan_ok(&[
        s(&jobs().join("caps-denied.nomad.hcl")),
        "--client-config",
        s(&conf),
    ]);
    let t = &p.tasks[0];
    assert!(!t.findings.iter().any(|f| f.cause == Cause::StartFailure));
    assert!(t.opts.run.is_some());
    assert!(t.opts.task.pid_mode_host && t.opts.task.ipc_mode_host);
    std::fs::write(
        &conf,
        "plugin \"exec\" {\n  config {\n    allow_caps = [\"all\"]\n  }\n}\n",
    )
    .unwrap();
    let p = plan_ok(&[
        s(&jobs().join("caps-denied.nomad.hcl")),
        "--client-config",
        s(&conf),
    ]);
    assert!(
        !p.tasks[0]
            .findings
            .iter()
            .any(|f| f.cause == Cause::StartFailure)
    );
}

#[test]
fn checksum_mismatch_blocks_the_task_with_go_getters_message() {
    let job = jobs().join("checksum-bad.nomad.hcl");
    let p = plan_ok(&[s(&job)]);
    let t = &p.tasks[0];
    assert!(t.blocked);
    let f = t
        .findings
        .iter()
        .find(|f| f.cause == Cause::ChecksumMismatch)
        .unwrap();
    let motd = jobs().join("files/motd.txt");
    assert_eq!(
        f.nomad_error.as_deref().unwrap(),
        format!(
            "failed to download artifact \"files/motd.txt\": getter subprocess failed: exit status 1: failed to download artifact: \
             Checksums did not match for {}.\nExpected: {}\nGot: 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\n*sha256.digest",
            motd.display(),
            "0".repeat(64)
        )
    );
    // Nomad refuses the artifact: the report is a rejection, without unpacking anything.
    let report = job::check_task(t);
    assert_eq!(report.verdict, Verdict::Reject);
    assert_eq!(report.task.group.as_deref(), Some("g"));

    // Through the CLI: exit 2 and the job JSON shape.
    let out = bin()
        .args(["job", s(&job), "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["job"], "checksum");
    assert_eq!(v["verdict"], "reject");
    assert_eq!(v["tasks"][0]["task"]["name"], "t");
    assert_eq!(v["tasks"][0]["task"]["group"], "g");
    assert_eq!(v["tasks"][0]["findings"][0]["cause"], "checksum-mismatch");
    assert_eq!(v["skipped"], serde_json::json!([]));
}

// ---------------------------------------------------------------- CLI output

#[test]
fn cli_reports_every_task_with_interpolated_args_and_a_summary() {
    let job = jobs().join("no-artifact.nomad.hcl");
    let out = bin()
        .args(["job", s(&job), "--no-run", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["job"], "plain");
    assert_eq!(v["verdict"], "pass");
    let t = &v["tasks"][0];
    assert_eq!(t["task"]["group"], "g");
    assert_eq!(
        t["task"]["args"],
        serde_json::json!(["/local", "${UNKNOWN_THING}", "${node.class}"])
    );
    assert_eq!(t["task"]["env"]["WHERE"], "/alloc/x");
    assert_eq!(
        v["skipped"],
        serde_json::json!([{"task": "other", "group": "g", "driver": "raw_exec"}])
    );
    let unresolved: Vec<_> = t["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["cause"] == "unresolved")
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        unresolved,
        ["${meta.rack}", "${UNKNOWN_THING}", "${node.class}"]
    );

    let out = bin().args(["job", s(&job), "--no-run"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("job \"plain\" (service): PASS — 1 exec task checked"),
        "{text}"
    );
    assert!(
        text.contains("skip   g/other  (driver = \"raw_exec\")"),
        "{text}"
    );

    let out = bin()
        .args(["job", s(&job), "--no-run", "--format", "junit"])
        .output()
        .unwrap();
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(
        xml.contains("<testsuite") && xml.contains("job plain"),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase").count(), 1, "{xml}");
}

// ---------------------------------------------------------------- bad input

fn cli_err(argv: &[&str]) -> String {
    let out = bin().arg("job").args(argv).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn syntax_errors_show_file_line_column_and_the_line() {
    let job = jobs().join("syntax-error.nomad.hcl");
    let err = cli_err(&[s(&job)]);
    let prefix = format!("{}:", job.display());
    assert!(err.contains(&prefix), "{err}");
    let loc = err[err.find(&prefix).unwrap() + prefix.len()..]
        .split(':')
        .take(2)
        .map(|n| n.trim().parse::<usize>().unwrap())
        .collect::<Vec<_>>();
    assert!((7..=8).contains(&loc[0]), "line {loc:?}: {err}");
    assert!(loc[1] >= 1);
    assert!(err.contains("|"), "{err}");
    assert!(err.contains('^'), "{err}");
}

#[test]
fn unknown_blocks_and_config_keys_are_clean_errors() {
    let job = jobs().join("unknown-block.nomad.hcl");
    let err = cli_err(&[s(&job)]);
    assert!(err.contains(&format!("{}:8:7", job.display())), "{err}");
    assert!(err.contains("\"sidecar_thing\""), "{err}");
    let err = cli_err(&[s(&jobs().join("bad-config-key.nomad.hcl"))]);
    assert!(
        err.contains("config.image is not an exec driver option"),
        "{err}"
    );
}

#[test]
fn adversarial_jobspecs_give_errors_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, body: &[u8]| {
        let p = dir.path().join(name);
        std::fs::File::create(&p).unwrap().write_all(body).unwrap();
        p
    };
    // Deeply nested blocks, lists and JSON.
    let deep_blocks = format!(
        "job \"x\" {{\n{}{}\n}}\n",
        "a {\n".repeat(50_000),
        "}\n".repeat(50_000)
    );
    let err = cli_err(&[s(&w("blocks.hcl", deep_blocks.as_bytes()))]);
    assert!(err.contains("nesting deeper than"), "{err}");
    let deep_list = format!(
        "job \"x\" {{\n  m = {}{}\n}}\n",
        "[".repeat(1 << 20),
        "]".repeat(1 << 20)
    );
    let err = cli_err(&[s(&w("list.hcl", deep_list.as_bytes()))]);
    assert!(err.contains("nesting deeper than"), "{err}");
    let deep_json = format!(
        "{{\"Job\": {}{}}}",
        "[".repeat(1 << 20),
        "]".repeat(1 << 20)
    );
    let err = cli_err(&[s(&w("deep.json", deep_json.as_bytes()))]);
    assert!(err.contains("deep.json"), "{err}");
    // Not UTF-8, empty, a lone brace, an unterminated heredoc.
    let err = cli_err(&[s(&w("bin.hcl", b"job \"\xff\xfe\" {}"))]);
    assert!(err.contains("not UTF-8"), "{err}");
    let err = cli_err(&[s(&w("empty.hcl", b""))]);
    assert!(err.contains("Missing job block"), "{err}");
    let err = cli_err(&[s(&w("brace.hcl", b"}"))]);
    assert!(err.contains("brace.hcl:1:"), "{err}");
    let err = cli_err(&[s(&w(
        "heredoc.hcl",
        b"job \"x\" {\n  a = <<EOH\nnever closed\n",
    ))]);
    assert!(err.contains("heredoc.hcl:"), "{err}");
    // A missing file.
    let out = bin()
        .args(["job", "/nonexistent/job.hcl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/job.hcl"));
    // Too big to be a jobspec.
    let big = dir.path().join("big.hcl");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    let err = cli_err(&[s(&big)]);
    assert!(err.contains("larger than"), "{err}");
}

#[test]
fn huge_heredocs_are_kept_whole() {
    let dir = tempfile::tempdir().unwrap();
    let line = "echo ${NOMAD_TASK_DIR} a fairly long line of shell to pad the heredoc out\n";
    let n = 100_000; // ~7.5 MB
    let body = line.repeat(n);
    let src = format!(
        "job \"big\" {{\n  type = \"batch\"\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"exec\"\n      config {{\n        command = \"/bin/sh\"\n        args = [\"-c\", <<EOH\n{body}EOH\n        ]\n      }}\n    }}\n  }}\n}}\n"
    );
    let p = dir.path().join("big.hcl");
    std::fs::write(&p, src).unwrap();
    let plan = plan_ok(&[s(&p)]);
    let arg = &plan.tasks[0].opts.task.args[1];
    assert_eq!(arg.lines().count(), n);
    assert!(arg.starts_with("echo /local a fairly long line"));
    assert!(!arg.contains("${"));
}

// ---------------------------------------------------------------- end to end

/// nix-base32 store hashes for the fixture closures.
const BASH: &str = "/nix/store/0c3ly7q3vhkx2vq6mfdnkz9kzrrngjw6-bash-5.2-p37";
const COREUTILS: &str = "/nix/store/1ayqxl1zwkfrgyz5m8p7k3hzv3xdgcq2-coreutils-9.5";
const POSTGRES: &str = "/nix/store/2bddp4zspb9wfhxg1gq3ng0l1lhsf8n7-postgresql-11.11";
const APP: &str = "/nix/store/3s8yk6r4q5hxhd9yh2ml6vdvq1n5iafz-python3.8-app-1.0";

/// Append one regular file, name stored as written (absolute names too, as `tar -P`).
fn add(b: &mut tar::Builder<GzEncoder<std::fs::File>>, name: &str, mode: u32, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    let gnu = h.as_gnu_mut().unwrap();
    assert!(name.len() < gnu.name.len());
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_mode(mode);
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// The example repo's bundles (§8.1): `bin/sh` makeWrapper script, `usr/local/bin/*`
/// wrappers (app only) and the closure under absolute `/nix/store` names, with a real
/// static ELF (busybox) as the store's shell.
fn build_bundles(dir: &Path) {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let wrapper = |path_dirs: &str| {
        format!("#! {BASH}/bin/sh -e\nexport PATH='{path_dirs}'\nexec \"{BASH}/bin/sh\" \"$@\"\n")
    };
    let tool = |name: &str| format!("#!{BASH}/bin/sh\necho {name} \"$@\"\n");

    let f = std::fs::File::create(dir.join("postgresql-11.11-0.tar.gz")).unwrap();
    let mut b = tar::Builder::new(GzEncoder::new(f, Compression::fast()));
    add(
        &mut b,
        "bin/sh",
        0o755,
        wrapper(&format!("{COREUTILS}/bin:{POSTGRES}/bin")).as_bytes(),
    );
    add(&mut b, &format!("{BASH}/bin/sh"), 0o555, &busybox);
    add(&mut b, &format!("{COREUTILS}/bin/true"), 0o555, &busybox);
    for t in [
        "initdb",
        "postgres",
        "pg_isready",
        "createdb",
        "createuser",
        "psql",
    ] {
        add(
            &mut b,
            &format!("{POSTGRES}/bin/{t}"),
            0o555,
            tool(t).as_bytes(),
        );
    }
    b.into_inner().unwrap().finish().unwrap();

    let f = std::fs::File::create(dir.join("app-1.0.tar.gz")).unwrap();
    let mut b = tar::Builder::new(GzEncoder::new(f, Compression::fast()));
    add(
        &mut b,
        "bin/sh",
        0o755,
        wrapper(&format!("{COREUTILS}/bin:{APP}/bin")).as_bytes(),
    );
    add(
        &mut b,
        "usr/local/bin/uvicorn",
        0o755,
        b"#!/bin/sh\nset -e\nexec uvicorn \"$@\"\n",
    );
    add(&mut b, &format!("{BASH}/bin/sh"), 0o555, &busybox);
    add(&mut b, &format!("{COREUTILS}/bin/true"), 0o555, &busybox);
    add(
        &mut b,
        &format!("{APP}/bin/uvicorn"),
        0o555,
        tool("uvicorn").as_bytes(),
    );
    b.into_inner().unwrap().finish().unwrap();
}

#[test]
fn production_hcl_end_to_end_static_check() {
    let dir = tempfile::tempdir().unwrap();
    build_bundles(dir.path());
    let map = format!("http://127.0.0.1:8080/={}", dir.path().display());
    let out = bin()
        .args([
            "job",
            s(&shared().join("production.hcl")),
            "--client-config",
            s(&shared().join("nomad.conf")),
            "--artifact",
            &map,
            "--no-run",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: stderr {stderr}"));
    assert_eq!(v["job"], "production");
    let tasks = v["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    let by_name = |n: &str| {
        tasks
            .iter()
            .find(|t| t["task"]["name"] == n)
            .unwrap_or_else(|| panic!("no report for {n}"))
    };
    for (name, group, command, bundle) in [
        (
            "database",
            "database",
            "/bin/sh",
            "postgresql-11.11-0.tar.gz",
        ),
        (
            "database-init",
            "app",
            "/bin/sh",
            "postgresql-11.11-0.tar.gz",
        ),
        ("server", "app", "/usr/local/bin/uvicorn", "app-1.0.tar.gz"),
    ] {
        let r = by_name(name);
        assert_eq!(r["task"]["group"], group);
        assert_eq!(r["task"]["command"], command);
        assert_eq!(r["task"]["destination"], "/");
        assert_eq!(
            r["bundle"]["path"].as_str().unwrap(),
            dir.path().join(bundle).display().to_string()
        );
        assert_eq!(
            r["task"]["chroot_env"],
            serde_json::json!({
                "/etc/group": "/etc/group",
                "/etc/nsswitch.conf": "/etc/nsswitch.conf",
                "/etc/passwd": "/etc/passwd",
                "/etc/resolv.conf": "/etc/resolv.conf",
                "/etc/ssl/certs": "/etc/ssl/certs"
            })
        );
        assert!(r["bundle"]["entries"].as_u64().unwrap() >= 4);
        // Every interpreter of the chain (bin/sh → store-path sh) is in the bundle.
        assert_eq!(r["verdict"], "pass", "{name}: {r}");
        assert_eq!(r["task"]["resolved_command"], command, "{name}");
    }
    assert_eq!(by_name("database")["task"]["env"]["PGDATA"], "/local/db");
    assert_eq!(by_name("database")["task"]["env"]["LC_ALL"], "C");
    assert!(
        by_name("database")["task"]["args"][1]
            .as_str()
            .unwrap()
            .contains("if [ ! -d /local/db ]")
    );
    assert_eq!(
        by_name("server")["task"]["args"],
        serde_json::json!(["main:app", "--host", "0.0.0.0", "--port", "20000"])
    );
    assert_eq!(
        by_name("server")["task"]["env"]["DATABASE_URL"],
        "postgresql://app:app@127.0.0.1:5432/app"
    );
    assert_eq!(v["verdict"], "pass");
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    // Without the store-path shell in the app bundle the server cannot start: that
    // task fails and the job's verdict and exit code are the worst of its tasks.
    let f = std::fs::File::create(dir.path().join("app-1.0.tar.gz")).unwrap();
    let mut b = tar::Builder::new(GzEncoder::new(f, Compression::fast()));
    add(
        &mut b,
        "bin/sh",
        0o755,
        format!("#! {BASH}/bin/sh -e\nexec \"{BASH}/bin/sh\" \"$@\"\n").as_bytes(),
    );
    add(
        &mut b,
        "usr/local/bin/uvicorn",
        0o755,
        b"#!/bin/sh\nexec uvicorn \"$@\"\n",
    );
    b.into_inner().unwrap().finish().unwrap();
    let out = bin()
        .args([
            "job",
            s(&shared().join("production.hcl")),
            "--client-config",
            s(&shared().join("nomad.conf")),
            "--artifact",
            &map,
            "--no-run",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<_> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["task"]["name"].as_str().unwrap().to_owned(),
                t["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("database".to_owned(), "pass".to_owned()),
            ("database-init".to_owned(), "pass".to_owned()),
            ("server".to_owned(), "fail".to_owned())
        ]
    );
    assert_eq!(v["verdict"], "fail");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn client_config_names_the_node_and_caps_kill_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("agent.hcl");
    std::fs::write(
        &conf,
        "datacenter = \"dc7\"\nclient {\n  node_class = \"edge\"\n  max_kill_timeout = \"10s\"\n  meta {\n    rack = \"r9\"\n  }\n}\n",
    )
    .unwrap();
    let job = dir.path().join("j.hcl");
    std::fs::write(
        &job,
        "job \"j\" {\n  type = \"batch\"\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      kill_timeout = \"1m\"\n      config {\n        command = \"/bin/true\"\n        args = [\"${node.datacenter}\", \"${node.class}\", \"${meta.rack}\", \"${attr.kernel.name}\"]\n      }\n    }\n  }\n}\n",
    )
    .unwrap();
    let p = plan_ok(&[s(&job), "--client-config", s(&conf)]);
    let t = &p.tasks[0];
    assert_eq!(
        t.opts.task.args,
        ["dc7", "edge", "r9", "${attr.kernel.name}"]
    );
    assert_eq!(
        t.opts.run.as_ref().unwrap().kill_timeout,
        std::time::Duration::from_secs(10)
    );
    // --node wins over the client config.
    let node = dir.path().join("node.hcl");
    std::fs::write(
        &node,
        "meta = {\n  rack = \"r1\"\n}\nattr = {\n  \"kernel.name\" = \"linux\"\n}\n",
    )
    .unwrap();
    let p = plan_ok(&[s(&job), "--client-config", s(&conf), "--node", s(&node)]);
    assert_eq!(p.tasks[0].opts.task.args, ["dc7", "edge", "r1", "linux"]);
    assert!(
        !p.tasks[0]
            .findings
            .iter()
            .any(|f| f.cause == Cause::Unresolved)
    );
}

#[test]
fn fetch_downloads_http_and_https_artifacts() {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut request = String::new();
        reader.read_line(&mut request).unwrap();
        // Read the rest of the header, as a real server does, before answering.
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            line.clear();
        }
        conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n")
            .unwrap();
        request
    });
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("j.hcl");
    std::fs::write(
        &job,
        format!(
            "job \"j\" {{\n  type = \"batch\"\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"exec\"\n      config {{\n        command = \"/bin/true\"\n      }}\n      artifact {{\n        source = \"http://127.0.0.1:{port}/dl/bundle.tar.gz\"\n        options {{\n          checksum = \"sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\"\n        }}\n      }}\n    }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let p = plan_ok(&[s(&job), "--fetch"]);
    assert_eq!(server.join().unwrap(), "GET /dl/bundle.tar.gz HTTP/1.1\r\n");
    let art = &p.tasks[0].opts.artifacts[0];
    assert_eq!(std::fs::read(&art.file).unwrap(), b"hello\n");
    assert_eq!(art.source_name, "/dl/bundle.tar.gz");
    assert!(
        !p.tasks[0].blocked,
        "the downloaded bytes match the checksum"
    );
    // https is fetched too, over TLS: a server that is not one fails the handshake,
    // and the error says which artifact.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tls_port = plain.local_addr().unwrap().port();
    let closer = std::thread::spawn(move || {
        let (mut conn, _) = plain.accept().unwrap();
        let _ = conn.write_all(b"HTTP/1.0 400 not TLS\r\n\r\n");
    });
    std::fs::write(
        &job,
        format!("job \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"exec\"\n      config {{\n        command = \"/bin/true\"\n      }}\n      artifact {{\n        source = \"https://127.0.0.1:{tls_port}/a.tgz\"\n      }}\n    }}\n  }}\n}}\n"),
    )
    .unwrap();
    let err = plan_err(&[s(&job), "--fetch"]);
    closer.join().unwrap();
    assert!(
        err.contains(&format!(
            "artifact \"https://127.0.0.1:{tls_port}/a.tgz\" of task \"t\": --fetch failed:"
        )),
        "{err}"
    );
}

#[test]
fn job_types_map_to_run_semantics() {
    for (ty, expect) in [
        ("service", JobType::Service),
        ("system", JobType::Service),
        ("batch", JobType::Batch),
        ("sysbatch", JobType::Batch),
    ] {
        let var = format!("job_type={ty}");
        let (_d, p) = features(&["--var", "app_version=2.1", "--var", &var]);
        let p = p.unwrap();
        assert_eq!(p.job_type, ty);
        assert_eq!(
            task(&p, "main").opts.run.as_ref().unwrap().job_type,
            expect,
            "{ty}"
        );
        // Hooks do not follow the job type: sidecars run as services, others to exit 0.
        assert_eq!(
            task(&p, "init").opts.run.as_ref().unwrap().job_type,
            JobType::Batch
        );
        assert_eq!(
            task(&p, "logger").opts.run.as_ref().unwrap().job_type,
            JobType::Service
        );
        assert_eq!(
            task(&p, "cleanup").opts.run.as_ref().unwrap().job_type,
            JobType::Batch
        );
    }
}

#[test]
fn run_flags_the_jobspec_owns_are_refused() {
    let job = jobs().join("no-artifact.nomad.hcl");
    for extra in [
        &["--env", "A=b"][..],
        &["--user", "root"],
        &["--cap-add", "net_raw"],
        &["--work-dir", "/local"],
    ] {
        let mut argv = vec![s(&job)];
        argv.extend_from_slice(extra);
        let err = plan_err(&argv);
        assert!(
            err.contains(extra[0]) && err.contains("does not apply to `job`"),
            "{err}"
        );
    }
}

#[test]
fn dynamic_blocks_and_bad_values_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "dyn.hcl",
            "job \"j\" {\n  group \"g\" {\n    dynamic \"task\" {\n      for_each = [\"a\"]\n      content {}\n    }\n  }\n}\n",
            "dyn.hcl:3:5",
        ),
        (
            "wd.hcl",
            "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/true\"\n        work_dir = \"local\"\n      }\n    }\n  }\n}\n",
            "work_dir must be absolute",
        ),
        (
            "pid.hcl",
            "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/true\"\n        pid_mode = \"shared\"\n      }\n    }\n  }\n}\n",
            "pid_mode must be \"private\" or \"host\"",
        ),
        (
            "nocmd.hcl",
            "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        args = [\"x\"]\n      }\n    }\n  }\n}\n",
            "requires config.command",
        ),
        (
            "hook.hcl",
            "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      lifecycle {\n        hook = \"prerun\"\n      }\n      config {\n        command = \"/bin/true\"\n      }\n    }\n  }\n}\n",
            "lifecycle hook \"prerun\"",
        ),
        (
            "sum.hcl",
            "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/true\"\n      }\n      artifact {\n        source = \"a.tgz\"\n        options {\n          checksum = \"crc32:00\"\n        }\n      }\n    }\n  }\n}\n",
            "unsupported checksum type: crc32",
        ),
        (
            "arch.hcl",
            "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/bin/true\"\n      }\n      artifact {\n        source = \"a.tgz\"\n        options {\n          archive = \"rar\"\n        }\n      }\n    }\n  }\n}\n",
            "unknown archive kind `rar`",
        ),
    ];
    std::fs::write(dir.path().join("a.tgz"), b"x").unwrap();
    for (name, body, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        let err = plan_err(&[s(&p)]);
        assert!(err.contains(want), "{name}: {err}");
    }
}

fn find_file(dir: &Path, name: &str, depth: usize) -> Option<PathBuf> {
    if depth == 0 {
        return None;
    }
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let ft = e.file_type().ok()?;
        if ft.is_file() && p.ends_with(name) {
            return Some(p);
        }
        if ft.is_dir() && !ft.is_symlink() {
            if let Some(f) = find_file(&p, name, depth - 1) {
                return Some(f);
            }
        }
    }
    None
}

#[test]
fn several_artifacts_unpack_in_order_with_archive_and_checksum_options() {
    let dir = tempfile::tempdir().unwrap();
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let mk = |name: &str, entries: &[(&str, &[u8])]| {
        let f = std::fs::File::create(dir.path().join(name)).unwrap();
        let mut b = tar::Builder::new(GzEncoder::new(f, Compression::fast()));
        for (n, data) in entries {
            add(&mut b, n, 0o755, data);
        }
        b.into_inner().unwrap().finish().unwrap();
    };
    mk(
        "main.tar.gz",
        &[("bin/sh", &busybox), ("etc/first.txt", b"first\n")],
    );
    // A gzip tarball whose name does not say so: only `archive = "tar.gz"` unpacks it.
    mk("tools.bin", &[("tool.txt", b"tool\n")]);
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(dir.path().join("main.tar.gz")).unwrap(),
        ))
    };
    let job = dir.path().join("multi.hcl");
    std::fs::write(
        &job,
        "variable \"sum\" {}\njob \"multi\" {\n  type = \"batch\"\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      config {\n        command = \"/local/bin/sh\"\n        args = [\"-c\", \"true\"]\n      }\n      artifact {\n        source = \"main.tar.gz\"\n        options {\n          checksum = \"sha256:${var.sum}\"\n        }\n      }\n      artifact {\n        source = \"tools.bin\"\n        destination = \"local/tools\"\n        options {\n          archive = \"tar.gz\"\n        }\n      }\n    }\n  }\n}\n",
    )
    .unwrap();
    let var = format!("sum={sum}");
    let out = bin()
        .args([
            "job",
            s(&job),
            "--var",
            &var,
            "--no-run",
            "--keep",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let r = &v["tasks"][0];
    let kept = PathBuf::from(r["kept_work_dir"].as_str().expect("kept work dir"));
    let first = find_file(&kept, "local/etc/first.txt", 8);
    let tool = find_file(&kept, "local/tools/tool.txt", 8);
    let _ = std::fs::remove_dir_all(&kept);
    assert!(first.is_some(), "main.tar.gz unpacked into local/: {r}");
    assert!(
        tool.is_some(),
        "tools.bin unpacked into local/tools by archive=tar.gz: {r}"
    );
    assert!(
        r["bundle"]["path"]
            .as_str()
            .unwrap()
            .contains("main.tar.gz, "),
        "both artifacts, in order: {}",
        r["bundle"]["path"]
    );
    assert!(
        !r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["cause"] == "checksum-mismatch")
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
}

#[test]
fn run_sees_the_interpolated_env_and_args() {
    let dir = tempfile::tempdir().unwrap();
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let f = std::fs::File::create(dir.path().join("sh.tar.gz")).unwrap();
    let mut b = tar::Builder::new(GzEncoder::new(f, Compression::fast()));
    add(&mut b, "bin/sh", 0o755, &busybox);
    b.into_inner().unwrap().finish().unwrap();
    let job = dir.path().join("run.hcl");
    std::fs::write(
        &job,
        "job \"run\" {\n  type = \"batch\"\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      env {\n        PGDATA = \"${NOMAD_TASK_DIR}/db\"\n      }\n      config {\n        command = \"/local/bin/sh\"\n        args = [\"-c\", \"echo \\\"$PGDATA ${NOMAD_ALLOC_DIR} ${PGDATA}\\\"\"]\n      }\n      artifact {\n        source = \"sh.tar.gz\"\n      }\n    }\n  }\n}\n",
    )
    .unwrap();
    let out = bin()
        .args(["job", s(&job), "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let r = &v["tasks"][0];
    assert_eq!(r["verdict"], "pass", "{r}");
    assert_eq!(r["run"]["exit_code"], 0, "{r}");
    assert!(
        r["run"]["stdout_tail"]
            .as_str()
            .unwrap()
            .contains("/local/db /alloc /local/db"),
        "{r}"
    );
    assert_eq!(out.status.code(), Some(0));
}

/// Nomad's own jobspecs (`e2e/`, `jobspec2/test-fixtures/`, `command/asset/`, `demo/`),
/// extracted from a Nomad checkout into `$NOMAD_JOBSPEC_CORPUS`: every file with a
/// top-level `job` block must load. Not in CI (the corpus is not ours to commit); run
/// with `NOMAD_JOBSPEC_CORPUS=DIR cargo test --test job -- --ignored corpus`.
#[test]
#[ignore = "needs $NOMAD_JOBSPEC_CORPUS, a directory of Nomad's own jobspecs"]
fn corpus_of_nomads_own_jobspecs_loads() {
    let dir = PathBuf::from(std::env::var("NOMAD_JOBSPEC_CORPUS").expect("NOMAD_JOBSPEC_CORPUS"));
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "hcl" || x == "nomad") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                if text.lines().any(|l| l.trim_start().starts_with("job \"")) {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    let mut refused = Vec::new();
    for f in &files {
        // Nomad's e2e harness passes `-var` for variables without a default: so does
        // this, with a placeholder, for each one the reader names.
        let mut inputs = job::hcl::VarInputs::default();
        let r = loop {
            match job::load(f, &inputs) {
                Err(e) if e.to_string().contains("Unset variable \"") && inputs.vars.len() < 8 => {
                    let m = e.to_string();
                    let name = m
                        .split("Unset variable \"")
                        .nth(1)
                        .unwrap_or("")
                        .split('"')
                        .next()
                        .unwrap_or("");
                    inputs.vars.push((name.to_owned(), "1".to_owned()));
                }
                other => break other,
            }
        };
        if let Err(e) = r {
            refused.push(format!("{}: {e}", f.display()));
        }
    }
    eprintln!(
        "{} accepted of {}\n{}",
        files.len() - refused.len(),
        files.len(),
        refused.join("\n")
    );
    assert!(refused.is_empty(), "{} refused", refused.len());
}

/// Checked alone, a prestart hook that waits for its Connect upstream runs until the
/// timeout: that is reported as waiting for the upstream, with the fix (run the whole
/// job), not as a timeout with a `--type service` hint `job` mode cannot take.
#[test]
fn a_prestart_task_waiting_for_its_upstream_says_so() {
    let busybox = root().join("fixtures/build/static-busybox/bundle.tar.gz");
    assert!(
        busybox.exists(),
        "{} not built (bash fixtures/build.sh)",
        busybox.display()
    );
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not run: the task's run needs root here");
        return;
    }
    let job = jobs().join("mesh-small.nomad.hcl");
    let out = bin()
        .args([
            "job",
            s(&job),
            "--artifact",
            &format!("http://127.0.0.1:8080/busybox.tar.gz={}", s(&busybox)),
            "--task-name",
            "client/wait-web",
            "--timeout",
            "2s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let findings = r["tasks"][0]["findings"].as_array().unwrap();
    let up = findings
        .iter()
        .find(|f| f["cause"] == "upstream")
        .unwrap_or_else(|| panic!("no upstream finding: {findings:#?}"));
    assert_eq!(up["severity"], "warning");
    let m = up["message"].as_str().unwrap();
    assert!(
        m.starts_with("waits for upstream `web`: run the whole job"),
        "{m}"
    );
    assert!(
        m.contains("127.0.0.1:9090") && m.contains("prestart"),
        "{m}"
    );
    assert!(up["hint"].as_str().unwrap().contains("--run-job"));
    assert!(
        !findings.iter().any(|f| f["cause"] == "timeout"),
        "the timeout is replaced: {findings:#?}"
    );
    assert!(!out.stdout.windows(13).any(|w| w == b"--type servic"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "a wait is not a failure of the bundle"
    );
}

/// `hashicorp/nomad:client/taskenv/env.go` `buildUpstreamsEnv`: each upstream variable is
/// set under the destination's name as written and under its cleaned name, so a
/// destination with a `-` is reachable both ways.
#[test]
fn upstream_variables_under_the_raw_and_the_cleaned_name() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("up.nomad.hcl");
    std::fs::write(
        &job,
        r#"job "j" {
  group "g" {
    network { mode = "bridge" }
    service {
      name = "web"
      port = "8080"
      connect {
        sidecar_service {
          proxy {
            upstreams {
              destination_name = "my-db"
              local_bind_port  = 5432
            }
          }
        }
      }
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${NOMAD_UPSTREAM_ADDR_my_db}"]
      }
    }
  }
}
"#,
    )
    .unwrap();
    let out = bin()
        .args(["job", s(&job), "--no-run", "--format", "json"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let env = &r["tasks"][0]["task"]["env"];
    for name in ["NOMAD_UPSTREAM_ADDR_my-db", "NOMAD_UPSTREAM_ADDR_my_db"] {
        assert_eq!(env[name], "127.0.0.1:5432", "{name}: {env:#}");
    }
    assert_eq!(
        r["tasks"][0]["task"]["args"][1], "echo 127.0.0.1:5432",
        "{r:#}"
    );
    assert!(
        r["tool"]["name"].is_string(),
        "the job document names its tool: {r:#}"
    );
}
