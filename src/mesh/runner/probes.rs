//! Service checks under the runner: each probe run on its interval on a thread of its
//! own (script checks in a copy of the task's sandbox), and its result fed back into
//! the catalog and the allocation's health.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Msg, Runner, TaskStatic};
use crate::clientconfig::ClientConfig;
use crate::config::JobType;
use crate::mesh::checks::{self, Probe, Status};
use crate::mesh::lifecycle::TaskState;
use crate::mesh::report::go_duration;
use crate::nomad::NomadVersion;
use crate::sandbox::{self, RunRequest, Supervision};

impl Runner {
    pub(super) fn run_check(&mut self, a: usize, c: usize) {
        let alloc = &mut self.allocs[a];
        let ch = &mut alloc.checks[c];
        ch.next_at = Instant::now() + ch.interval;
        let (probe, timeout) = (ch.probe.clone(), ch.timeout);
        let tx = self.tx.clone();
        match probe {
            Probe::Http {
                target,
                path,
                method,
                https,
                body,
            } => {
                ch.in_flight = true;
                std::thread::spawn(move || {
                    let (status, output) = if https {
                        (Status::Critical, "https checks are not emulated".into())
                    } else {
                        checks::http(&target, &method, &path, body.as_deref(), timeout)
                    };
                    let _ = tx.send(Msg::Check {
                        a,
                        c,
                        status,
                        output,
                    });
                });
            }
            Probe::Tcp { target } => {
                ch.in_flight = true;
                std::thread::spawn(move || {
                    let (status, output) = checks::tcp(&target, timeout);
                    let _ = tx.send(Msg::Check {
                        a,
                        c,
                        status,
                        output,
                    });
                });
            }
            Probe::Script {
                task,
                command,
                args,
            } => {
                // Script checks run in the task, once it runs (the driver's Exec).
                let tr = &alloc.tasks[task];
                if tr.state != TaskState::Running {
                    return;
                }
                ch.in_flight = true;
                let stat = tr.stat.clone();
                let ns = alloc.ns.as_ref().map(|n| n.path());
                let logs = [
                    self.run_dir.join(format!("{}-check{c}.stdout", alloc.p.id)),
                    self.run_dir.join(format!("{}-check{c}.stderr", alloc.p.id)),
                ];
                let (run_dir, client, version) =
                    (self.run_dir.clone(), self.client.clone(), self.version);
                std::thread::spawn(move || {
                    let (status, output) = script_check(
                        &stat, &command, &args, timeout, ns, run_dir, logs, &client, version,
                    );
                    let _ = tx.send(Msg::Check {
                        a,
                        c,
                        status,
                        output,
                    });
                });
            }
        }
    }

    pub(super) fn on_check(&mut self, a: usize, c: usize, status: Status, output: String) {
        let now = Instant::now();
        let ch = &mut self.allocs[a].checks[c];
        ch.in_flight = false;
        ch.runs += 1;
        let changed = ch.status != status || ch.runs == 1;
        ch.status = status;
        ch.output = output.clone();
        let (service, name) = (ch.service.clone(), ch.name.clone());
        if changed {
            let short: String = output.chars().take(240).collect();
            self.event(
                Some(a),
                None,
                "Check",
                format!("{name} is {status}: {short}"),
            );
        }
        let alloc = &mut self.allocs[a];
        let passing = alloc
            .checks
            .iter()
            .filter(|c| c.service == service)
            .all(|c| c.status == Status::Passing);
        self.catalog.set_passing(a, &service, passing);
        let all = alloc.checks.iter().all(|c| c.status == Status::Passing);
        match (all, alloc.checks_passing_since) {
            (true, None) => alloc.checks_passing_since = Some(now),
            (false, Some(_)) => alloc.checks_passing_since = None,
            _ => {}
        }
    }
}

/// A script check: the command in a copy of the task's sandbox (its root, user,
/// environment and network namespace; its own PID namespace), batch, with the
/// check's timeout.
#[expect(clippy::too_many_arguments)]
fn script_check(
    stat: &TaskStatic,
    command: &str,
    args: &[String],
    timeout: Duration,
    ns: Option<PathBuf>,
    run_dir: PathBuf,
    logs: [PathBuf; 2],
    client: &ClientConfig,
    version: NomadVersion,
) -> (Status, String) {
    let Some(argv0) = lookup_in_task(stat, command) else {
        return (
            Status::Critical,
            format!("exec: \"{command}\": executable file not found in $PATH"),
        );
    };
    let mut run = match stat.planned.opts.run.clone() {
        Some(r) => r,
        None => return (Status::Critical, "no run options".into()),
    };
    run.job_type = JobType::Batch;
    run.timeout = timeout;
    run.trace = false;
    let mut task = stat.planned.opts.task.clone();
    task.command = Some(command.to_owned());
    task.args = args.to_vec();
    let req = RunRequest {
        taskdir: &stat.prepared.taskdir,
        task: &task,
        env: &stat.planned.env,
        run: &run,
        version,
        client,
        argv0,
    };
    let r = sandbox::run_supervised(
        &req,
        Supervision {
            until_stopped: false,
            netns: ns,
            remove_on_orphan: Some(run_dir),
            logs: Some(logs.clone()),
            on_spawn: &mut |_| {},
            on_start: &mut || {},
        },
    );
    let out = std::fs::read_to_string(&logs[0]).unwrap_or_default()
        + &std::fs::read_to_string(&logs[1]).unwrap_or_default();
    for l in &logs {
        let _ = std::fs::remove_file(l);
    }
    match r {
        Ok(r) => {
            let status = checks::script_status(r.outcome.exit_code, r.outcome.timed_out);
            let out: String = out.chars().take(4096).collect();
            if r.outcome.timed_out {
                (
                    status,
                    format!("Timed out ({}) running check", go_duration(timeout)),
                )
            } else {
                (status, out)
            }
        }
        Err(e) => (Status::Critical, e.to_string()),
    }
}

/// A command as the task's exec would find it: as written with a `/`, else on the
/// task's PATH, inside the task's root or its chroot_env layers.
fn lookup_in_task(stat: &TaskStatic, command: &str) -> Option<String> {
    let td = &stat.prepared.taskdir;
    let exists = |p: &str| -> bool {
        let rel = p.trim_start_matches('/');
        if td.root.join(rel).exists() {
            return true;
        }
        td.layers().iter().any(|l| {
            std::path::Path::new(p)
                .strip_prefix(&l.dest)
                .is_ok_and(|rest| l.src.join(rest).exists())
        })
    };
    if command.contains('/') {
        return Some(command.to_owned());
    }
    let path = stat.planned.env.get("PATH").cloned().unwrap_or_default();
    crate::taskenv::split_path_list(&path)
        .into_iter()
        .map(|d| format!("{}/{command}", d.trim_end_matches('/')))
        .find(|p| exists(p))
}
