//! `nomad-chroot-check job FILE --run-job`: the whole job, run as Nomad would place it
//! on one client.
//!
//! ```text
//! jobspec ──▶ placement (count, ports, IDs) ──▶ network (node netns, bridge, veth per
//!   allocation) ──▶ per task: plan (env with the real ports) → task dir in the
//!   allocation's dir → unpack + static check ──▶ forwarders (host ports, Connect
//!   upstreams, ingress) and checks ──▶ runner (lifecycle, restarts, health) ──▶
//!   teardown ──▶ report (timeline)
//! ```
//!
//! Root only: it makes network namespaces, a bridge, veth pairs and cgroups. What it
//! makes is removed on every way out: a normal end or Ctrl-C tears down in order
//! (tasks stopped as Nomad stops them, forwarders, namespaces, work dir); if the
//! checker is SIGKILLed, each task's sandbox child kills its task and removes the work
//! dir and its cgroup, the namespaces vanish with their last holder, and the next run
//! sweeps what may remain.

pub mod checks;
pub mod connect;
pub mod forward;
pub mod lifecycle;
pub mod netns;
pub mod placement;
mod prepare;
pub mod report;
pub mod runner;
mod services;
mod verdict;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::{Format, JobArgs};
use crate::error::{Error, ExitCode};
use crate::finding::{Cause, Finding, Kind};
use crate::job::PlanContext;
use crate::job::model::{GroupSpec, JobSpec};

use self::connect::Catalog;
use self::lifecycle::{Phase, RestartPolicy, RestartTracker, TaskState};
use self::netns::{Bridge, NetNs, Subnet};
use self::placement::{NetworkMode, Placement, PortMapping, PortPicker};
use self::report::JobRunReport;
use self::runner::{AllocRt, Msg, Runner, TaskRt, TaskStatic};

/// `update {}` defaults (`hashicorp/nomad:api/jobs.go` `DefaultUpdateStrategy`).
const DEFAULT_MIN_HEALTHY: Duration = Duration::from_secs(10);
const DEFAULT_HEALTHY_DEADLINE: Duration = Duration::from_secs(300);

/// Run the job; the exit code is 0 only when it became healthy (service, system) or
/// every task completed (batch, sysbatch).
pub fn main(args: JobArgs) -> Result<ExitCode, Error> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Unsupported(
            "--run-job needs root: it creates network namespaces, a bridge with a veth per \
             allocation, and cgroups, as a Nomad client does. Without root, `job` without \
             --run-job checks and runs each task alone (rootless)"
                .into(),
        ));
    }
    if !args.tasks.is_empty() {
        return Err(Error::Usage(
            "--task-name does not apply to --run-job: the whole job runs".into(),
        ));
    }
    if args.common.no_run {
        return Err(Error::Usage(
            "--no-run and --run-job contradict each other".into(),
        ));
    }
    let ctx = PlanContext::new(&args)?;
    let report = run(&args, &ctx)?;
    crate::report::emit(|out| match args.common.format {
        Format::Json => crate::report::write_json(&report, out),
        // A timeline has no JUnit or SARIF form: the text, as `job` falls back.
        Format::Text | Format::Junit | Format::Sarif => report.render_text(out),
    })?;
    Ok(report.verdict.exit_code())
}

/// A placed allocation, its network namespace and its bound host-port listeners.
type Placed = (
    Placement,
    Option<Arc<NetNs>>,
    Vec<(PortMapping, TcpListener)>,
);

/// Everything the run made, dropped in this order at the end: forwarders (in the
/// allocations), then the namespaces, then the work dir.
struct Made {
    allocs: Vec<AllocRt>,
    bridge: Option<Bridge>,
    run_dir: tempfile::TempDir,
}

fn run(args: &JobArgs, ctx: &PlanContext) -> Result<JobRunReport, Error> {
    let job = &ctx.job;
    let t0 = Instant::now();
    let unix0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut findings: Vec<Finding> = Vec::new();
    for g in &job.groups {
        NetworkMode::of(g).map_err(Error::Usage)?;
        for t in &g.tasks {
            if t.driver != "exec" {
                return Err(Error::Usage(format!(
                    "task \"{}/{}\" uses driver \"{}\": --run-job runs exec tasks only",
                    g.name, t.name, t.driver
                )));
            }
        }
        for s in &g.services {
            services::not_emulated(g, s, &mut findings);
        }
    }
    crate::sandbox::cgroup::sweep();
    // The claim keeps other checkers' sweeps off the run's dir until the end.
    let (run_dir, _claim) = crate::taskdir::work_dir()?;
    let host_ip: IpAddr = args
        .host_ip
        .parse()
        .map_err(|_| Error::Usage(format!("--host-ip `{}` is not an address", args.host_ip)))?;

    // The network: the bridge (once), then each allocation's namespace on it.
    let needs_bridge = job
        .groups
        .iter()
        .any(|g| NetworkMode::of(g) == Ok(NetworkMode::Bridge));
    let subnet: Subnet = args
        .bridge_subnet
        .clone()
        .or(ctx.client.bridge_network_subnet.clone())
        .unwrap_or_else(|| netns::DEFAULT_SUBNET.into())
        .parse()
        .map_err(Error::Usage)?;
    let mut bridge =
        match needs_bridge {
            true => Some(Bridge::create(subnet).map_err(|e| {
                Error::Unsupported(format!("cannot create the bridge network: {e}"))
            })?),
            false => None,
        };

    // Placement: count, IDs, ports (host listeners bound now, so a port taken on the
    // host fails here), addresses.
    let free = |p: u16| TcpListener::bind(SocketAddr::new(host_ip, p)).is_ok();
    let mut picker = PortPicker::new(&free);
    let mut placements: Vec<Placed> = Vec::new();
    for (gi, g) in job.groups.iter().enumerate() {
        let mode = NetworkMode::of(g).map_err(Error::Usage)?;
        for index in 0..placement::count(g, args.count_max) {
            let name = format!("{}.{}[{index}]", job.name, g.name);
            let ports = placement::assign_ports(&g.ports, host_ip, &mut picker)
                .map_err(|e| Error::Unsupported(format!("cannot place {name}: {e}")))?;
            let (ns, ip) = match (mode, bridge.as_mut()) {
                (NetworkMode::Bridge, Some(b)) => {
                    let ns = NetNs::new()
                        .map_err(|e| Error::io("cannot create a network namespace", e))?;
                    let ip = b.allocate_ip().map_err(|e| Error::io("bridge", e))?;
                    b.attach(&ns, ip)
                        .map_err(|e| Error::io(format!("cannot attach {name} to the bridge"), e))?;
                    (Some(Arc::new(ns)), Some(ip))
                }
                (NetworkMode::None, _) => (
                    Some(Arc::new(NetNs::new().map_err(|e| {
                        Error::io("cannot create a network namespace", e)
                    })?)),
                    None,
                ),
                _ => (None, None),
            };
            let mut listeners = Vec::new();
            if mode == NetworkMode::Bridge {
                for p in &ports {
                    let l =
                        forward::bind(None, SocketAddr::new(host_ip, p.value)).map_err(|e| {
                            Error::Unsupported(format!(
                                "cannot place {name}: reserved port collision {}={} ({e})",
                                p.label, p.value
                            ))
                        })?;
                    listeners.push((p.clone(), l));
                }
            }
            placements.push((
                Placement {
                    id: placement::new_id(),
                    group: gi,
                    index,
                    name,
                    mode,
                    ports,
                    ip,
                },
                ns,
                listeners,
            ));
        }
    }

    // Each task planned for its allocation, unpacked into its task dir and checked,
    // the allocations side by side.
    let mut events: Vec<report::Event> = Vec::new();
    let prepared: Vec<Result<Vec<TaskStatic>, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = placements
            .iter()
            .map(|(p, _, _)| {
                let g = &job.groups[p.group];
                let dir = run_dir.path().join(&p.id);
                s.spawn(move || prepare::prepare_alloc(args, ctx, g, p, dir))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::Unsupported("a preparation thread panicked".into()))
                })
            })
            .collect()
    });
    let catalog = Catalog::default();
    let mut allocs: Vec<AllocRt> = Vec::new();
    for ((p, ns, listeners), tasks) in placements.into_iter().zip(prepared) {
        let tasks = tasks?;
        let g = &job.groups[p.group];
        for t in &tasks {
            // Receiving, setting up and downloading all happened in the preparation
            // above: they are stamped where it began, at the run's start.
            let mut push = |kind: &str, message: &str| {
                events.push(report::Event {
                    at_ms: 0,
                    unix_ms: unix0,
                    alloc: p.name.clone(),
                    task: Some(t.name.clone()),
                    kind: kind.into(),
                    message: message.into(),
                })
            };
            push("Received", "Task received by client");
            push("Task Setup", "Building Task Directory");
            if !t.planned.opts.artifacts.is_empty() {
                push("Downloading Artifacts", "Client is downloading artifacts");
            }
        }
        let (min_healthy, deadline, use_checks) = health_settings(job, g, args)?;
        let restart_group = g.restart.as_ref();
        let tasks: Vec<TaskRt> = tasks
            .into_iter()
            .map(|stat| {
                let def = g.tasks.iter().find(|d| d.name == stat.name);
                let policy = RestartPolicy::resolve(
                    &job.job_type,
                    restart_group,
                    def.and_then(|d| d.restart.as_ref()),
                );
                TaskRt {
                    restart: RestartTracker::new(policy, &job.job_type, stat.stage),
                    stat: Arc::new(stat),
                    state: TaskState::Pending,
                    failed: false,
                    successful: false,
                    monitor: None,
                    busy: false,
                    restart_at: None,
                    started_at: None,
                    kill_sent: false,
                    exit_code: None,
                    findings: Vec::new(),
                    last_run: None,
                }
            })
            .collect();
        let index = allocs.len();
        let mut forwarders = Vec::new();
        for (pm, l) in listeners {
            if let (Some(b), Some(ip)) = (bridge.as_ref(), p.ip) {
                forwarders.push(
                    connect::host_port(
                        l,
                        Arc::new(clone_ns(&b.node)?),
                        ip,
                        pm.alloc_port(),
                        &pm.label,
                    )
                    .map_err(Error::Unsupported)?,
                );
            }
        }
        let mut checks_rt = Vec::new();
        let mut gateway = false;
        for svc in &g.services {
            services::register(&catalog, index, &p, ns.as_ref(), svc, host_ip);
            checks_rt.extend(services::checks(
                &p,
                g,
                svc,
                ns.as_ref(),
                bridge.as_ref(),
                &tasks,
                &mut findings,
            )?);
            if let Some(c) = &svc.connect {
                for u in &c.upstreams {
                    let bind: IpAddr = u
                        .local_bind_address
                        .as_deref()
                        .unwrap_or("127.0.0.1")
                        .parse()
                        .map_err(|_| {
                            Error::Usage(format!(
                                "upstream \"{}\": local_bind_address is not an address",
                                u.destination_name
                            ))
                        })?;
                    let port = u16::try_from(u.local_bind_port).unwrap_or(0);
                    forwarders.push(
                        connect::upstream(&catalog, ns.as_deref(), bind, port, &u.destination_name)
                            .map_err(Error::Unsupported)?,
                    );
                }
                for l in &c.ingress {
                    gateway = true;
                    forwarders.push(
                        connect::ingress(
                            &catalog,
                            ns.as_deref(),
                            u16::try_from(l.port).unwrap_or(0),
                            &l.services,
                        )
                        .map_err(Error::Unsupported)?,
                    );
                }
            }
        }
        allocs.push(AllocRt {
            group_name: g.name.clone(),
            ns,
            tasks,
            phase: Phase::Prestart,
            checks: checks_rt,
            created: Instant::now(),
            min_healthy,
            deadline,
            use_checks,
            health: None,
            health_msg: None,
            checks_passing_since: None,
            gateway_since: gateway.then(Instant::now),
            stopping: false,
            forwarders,
            blame: Vec::new(),
            p,
        });
    }
    // Upstreams and gateways naming services no group provides.
    for a in &allocs {
        for f in &a.forwarders {
            if f.kind != "host-port" {
                let names: Vec<&str> = f.to.split('"').skip(1).step_by(2).collect();
                for n in names {
                    if !catalog.has(n) {
                        findings.push(
                            Finding::error(Kind::Run, Cause::StartFailure, format!("service \"{n}\""))
                                .message(format!(
                                    "{} of {} forwards to service \"{n}\", which no group of the job provides: its connections are refused",
                                    f.kind, a.p.name
                                ))
                                .hint("check the upstream's destination_name / the gateway's service name against the job's services"),
                        );
                    }
                }
            }
        }
    }

    let (tx, rx) = std::sync::mpsc::channel();
    let hook_tx = std::sync::Mutex::new(tx.clone());
    crate::cleanup::set_interrupt_hook(Some(Box::new(move |_sig| {
        if let Ok(t) = hook_tx.lock() {
            let _ = t.send(Msg::Interrupt);
        }
    })));
    let mut runner = Runner {
        allocs,
        events,
        t0,
        unix0,
        tx,
        rx,
        catalog,
        job_name: job.name.clone(),
        job_type: job.job_type.clone(),
        run_dir: run_dir.path().to_path_buf(),
        version: ctx.version,
        client: ctx.client.clone(),
        keep_running: args.keep_running,
        batch_limit: match &args.deadline {
            Some(d) => crate::config::parse_duration(d)?,
            None => crate::config::parse_duration(&args.common.run.timeout)?,
        },
        on_healthy: Box::new(announce),
    };
    let outcome = runner.run();
    crate::cleanup::set_interrupt_hook(None);
    let report = verdict::build_report(&runner, ctx, bridge.as_ref(), host_ip, outcome, findings);
    // Teardown, in order: forwarders and namespaces, then the bridge, then the dir.
    let made = Made {
        allocs: std::mem::take(&mut runner.allocs),
        bridge: bridge.take(),
        run_dir,
    };
    drop(runner);
    drop(made.allocs);
    drop(made.bridge);
    drop(made.run_dir);
    Ok(report)
}

/// A second descriptor of a namespace, for a forwarder that outlives the borrow.
fn clone_ns(ns: &NetNs) -> Result<NetNs, Error> {
    ns.duplicate()
        .map_err(|e| Error::io("dup of a namespace", e))
}

/// min_healthy_time, healthy_deadline and whether checks count, from the job's and
/// the group's `update` (`hashicorp/nomad:api/tasks.go` `TaskGroup.Canonicalize`).
fn health_settings(
    job: &JobSpec,
    g: &GroupSpec,
    args: &JobArgs,
) -> Result<(Duration, Duration, bool), Error> {
    let pick = |f: &dyn Fn(&crate::job::services::UpdateSpec) -> Option<Duration>| {
        g.update
            .as_ref()
            .and_then(f)
            .or_else(|| job.update.as_ref().and_then(f))
    };
    let min = pick(&|u| u.min_healthy_time).unwrap_or(DEFAULT_MIN_HEALTHY);
    let mut deadline = pick(&|u| u.healthy_deadline).unwrap_or(DEFAULT_HEALTHY_DEADLINE);
    if let Some(d) = &args.deadline {
        deadline = crate::config::parse_duration(d)?;
    }
    let hc = g
        .update
        .as_ref()
        .and_then(|u| u.health_check.clone())
        .or_else(|| job.update.as_ref().and_then(|u| u.health_check.clone()))
        .unwrap_or_else(|| "checks".into());
    Ok((min, deadline, hc != "task_states"))
}

/// `--keep-running`: say where the job is, once healthy.
fn announce(r: &Runner) {
    let mut lines = vec![format!(
        "nomad-chroot-check: job \"{}\" is healthy and keeps running; Ctrl-C stops it",
        r.job_name
    )];
    for a in &r.allocs {
        for f in &a.forwarders {
            if f.kind != "upstream" {
                lines.push(format!(
                    "  {} {} {} → {}",
                    a.p.name, f.kind, f.fwd.listen, f.to
                ));
            }
        }
    }
    eprintln!("{}", lines.join("\n"));
}
