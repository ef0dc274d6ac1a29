//! `nomad-chroot-check job`: jobspecs → per-task check options, and end to end.

use std::path::{Path, PathBuf};

use clap::Parser;
use nomad_chroot_check::cli::{Cli, Command, JobArgs};
use nomad_chroot_check::config::{JobType, Network};
use nomad_chroot_check::error::Error;
use nomad_chroot_check::finding::{Cause, Kind};
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

fn task<'a>(p: &'a JobPlan, name: &str) -> &'a PlannedTask {
    p.tasks
        .iter()
        .find(|t| t.opts.task.name == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

#[test]
fn production_hcl_plans_three_exec_tasks() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["postgresql-11.11-0.tar.gz", "app-1.0.tar.gz"] {
        std::fs::write(dir.path().join(f), b"x").unwrap();
    }
    let job = shared().join("production.hcl");
    let conf = shared().join("nomad.conf");
    let map = format!("http://127.0.0.1:8080/={}", dir.path().display());
    let p = plan(&[
        job.to_str().unwrap(),
        "--client-config",
        conf.to_str().unwrap(),
        "--artifact",
        &map,
        "--no-run",
    ])
    .unwrap();
    assert_eq!(p.job, "production");
    let names: Vec<_> = p.tasks.iter().map(|t| t.opts.task.name.as_str()).collect();
    assert_eq!(names, ["database", "database-init", "server"]);
    let db = task(&p, "database");
    println!("{:#?}", db.opts.task);
    println!("{:#?}", db.findings);
    let init = task(&p, "database-init");
    println!("{:#?}", init.opts.task);
    let srv = task(&p, "server");
    println!("{:#?}", srv.opts.task);
    println!("{:#?}", srv.findings);
    println!("{:#?}", srv.opts.artifacts);
}
