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
pub mod report;
pub mod runner;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::check;
use crate::cli::{Format, JobArgs};
use crate::error::{Error, ExitCode};
use crate::finding::{Cause, Finding, Kind, Verdict};
use crate::job::model::{GroupSpec, JobSpec};
use crate::job::services::ServiceSpec;
use crate::job::{self, AllocContext, PlanContext};
use crate::taskdir::AllocDir;

use self::checks::{Probe, Status};
use self::connect::{Catalog, Instance, Published};
use self::forward::Target;
use self::lifecycle::{Phase, RestartPolicy, RestartTracker, Stage, TaskState};
use self::netns::{Bridge, NetNs, Subnet};
use self::placement::{NetworkMode, Placement, PortMapping, PortPicker};
use self::report::{AllocReport, CheckReport, JobRunReport, NetworkInfo, TaskReport};
use self::runner::{AllocRt, CheckRt, Msg, Outcome, Runner, TaskRt, TaskStatic};

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
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let r = match args.common.format {
        Format::Json => report.render_json(&mut out),
        // A timeline has no JUnit or SARIF form: the text, as `job` falls back.
        Format::Text | Format::Junit | Format::Sarif => report.render_text(&mut out),
    };
    match r.and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(Error::io("cannot write the report", e));
        }
        _ => {}
    }
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
            not_emulated(g, s, &mut findings);
        }
    }
    crate::sandbox::cgroup::sweep();
    let run_dir = crate::taskdir::work_dir()?;
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
                s.spawn(move || prepare_alloc(args, ctx, g, p, dir))
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
    let at = |t: Instant| t.saturating_duration_since(t0).as_millis() as u64;
    let catalog = Catalog::default();
    let mut allocs: Vec<AllocRt> = Vec::new();
    for ((p, ns, listeners), tasks) in placements.into_iter().zip(prepared) {
        let tasks = tasks?;
        let g = &job.groups[p.group];
        for t in &tasks {
            let mut push = |kind: &str, message: &str| {
                events.push(report::Event {
                    at_ms: at(t0),
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
            register(&catalog, index, &p, ns.as_ref(), svc, host_ip);
            checks_rt.extend(service_checks(
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
    let report = build_report(&runner, ctx, bridge.as_ref(), host_ip, outcome, findings);
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

/// Plan, lay out and unpack every task of one allocation.
fn prepare_alloc(
    args: &JobArgs,
    ctx: &PlanContext,
    g: &GroupSpec,
    p: &Placement,
    dir: std::path::PathBuf,
) -> Result<Vec<TaskStatic>, Error> {
    let alloc_dir = AllocDir::build(dir)?;
    let actx = AllocContext {
        identity: crate::config::AllocIdentity {
            id: p.id.clone(),
            index: p.index,
        },
        net: placement::network_env(p, g),
    };
    let mut out = Vec::new();
    for def in &g.tasks {
        let mut unmapped = Vec::new();
        let mut planned = job::plan_task(ctx, g, def, args, Some(&actx), &mut unmapped)?;
        job::unmapped_error(&unmapped)?;
        // Blocks this run does emulate are no longer "not emulated", nor are the
        // stand-in values the single-task mode uses.
        planned.findings.retain(|f| {
            f.cause != Cause::Emulated
                && !(f.cause == Cause::NotEmulated && f.path.starts_with("service"))
        });
        let taskdir = alloc_dir.task_dir(&def.name, ctx.version, ctx.chroot_env.clone())?;
        let mut blocked = None;
        let prepared = check::prepare_in(&planned.opts, taskdir)?;
        let mut static_opts = planned.opts.clone();
        static_opts.run = None;
        let mut static_report = check::finish(&prepared, &static_opts)?;
        static_report.task.env = planned.env.clone();
        static_report
            .findings
            .extend(planned.findings.iter().cloned());
        static_report.settle_verdict();
        if planned.blocked || static_report.verdict == Verdict::Reject {
            let why = static_report
                .findings
                .iter()
                .find(|f| f.is_rejection())
                .map(|f| {
                    f.nomad_error
                        .clone()
                        .or(f.message.clone())
                        .unwrap_or(f.path.clone())
                })
                .unwrap_or_else(|| "Failed to download artifacts".into());
            blocked = Some(("Failed Artifact Download", why));
        }
        let kill_timeout = planned
            .opts
            .run
            .as_ref()
            .map(|r| r.kill_timeout)
            .unwrap_or(Duration::from_secs(5));
        out.push(TaskStatic {
            name: def.name.clone(),
            stage: Stage::of(def.lifecycle.as_ref()),
            leader: def.leader,
            argv0: static_report.task.resolved_command.clone(),
            planned,
            prepared,
            static_report,
            blocked,
            kill_timeout,
        });
    }
    Ok(out)
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

/// Register a group service's instance in the catalog, with the port its sidecar
/// reaches: `local_service_port`, else Consul's default, the registered port
/// (`hashicorp/nomad:client/serviceregistration/address.go` `GetAddress`, host mode:
/// the host port of a label, or the number as written).
fn register(
    catalog: &Catalog,
    index: usize,
    p: &Placement,
    ns: Option<&Arc<NetNs>>,
    svc: &ServiceSpec,
    host_ip: IpAddr,
) {
    let port = svc
        .connect
        .as_ref()
        .and_then(|c| c.local_service_port)
        .map(|p| p as u16)
        .or_else(|| {
            let label = svc.port.as_deref()?;
            p.ports
                .iter()
                .find(|m| m.label == label)
                .map(|m| m.value)
                .or_else(|| label.parse().ok())
        });
    let Some(port) = port else { return };
    let local = match ns {
        Some(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        None => SocketAddr::new(host_ip, port),
    };
    catalog.register(Instance {
        service: svc.name.clone(),
        alloc: index,
        ns: ns.cloned(),
        local,
        passing: svc.checks.is_empty(),
        registered: true,
    });
}

/// A group service's checks, with where they probe (`address_mode` "host" by default:
/// the host address and port; "alloc"/"driver": the allocation's address and port).
fn service_checks(
    p: &Placement,
    g: &GroupSpec,
    svc: &ServiceSpec,
    ns: Option<&Arc<NetNs>>,
    bridge: Option<&Bridge>,
    tasks: &[TaskRt],
    findings: &mut Vec<Finding>,
) -> Result<Vec<CheckRt>, Error> {
    let mut out = Vec::new();
    for c in &svc.checks {
        // hashicorp/nomad:api/services.go `ServiceCheck.Canonicalize`.
        let name = c
            .name
            .clone()
            .unwrap_or_else(|| format!("service: \"{}\" check", svc.name));
        let interval = c.interval.unwrap_or(Duration::from_secs(10));
        let timeout = c.timeout.unwrap_or(Duration::from_secs(5));
        let label = c.port.clone().or(svc.port.clone()).unwrap_or_default();
        let mapping = p.ports.iter().find(|m| m.label == label);
        let alloc_mode = matches!(c.address_mode.as_deref(), Some("alloc" | "driver"));
        let node = bridge.map(|b| clone_ns(&b.node)).transpose()?.map(Arc::new);
        let target = match (alloc_mode, mapping, p.ip) {
            (true, Some(m), Some(ip)) => Some(Target {
                ns: node,
                addr: SocketAddr::new(IpAddr::V4(ip), m.alloc_port()),
            }),
            (true, None, Some(ip)) => label.parse().ok().map(|port| Target {
                ns: node,
                addr: SocketAddr::new(IpAddr::V4(ip), port),
            }),
            (_, Some(m), _) => Some(Target {
                ns: None,
                addr: SocketAddr::new(m.host_ip, m.value),
            }),
            (_, None, _) => label.parse().ok().map(|port| Target {
                ns: if p.mode == NetworkMode::Host {
                    None
                } else {
                    ns.cloned()
                },
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            }),
        };
        let probe = match c.kind.as_str() {
            "http" | "tcp" => {
                let Some(target) = target else {
                    findings.push(
                        Finding::error(Kind::Run, Cause::StartFailure, name.clone()).message(format!(
                            "check \"{name}\" of {}: port \"{label}\" is not a port of the group's network nor a number",
                            p.name
                        )),
                    );
                    continue;
                };
                if c.kind == "tcp" {
                    Probe::Tcp { target }
                } else {
                    Probe::Http {
                        target,
                        path: c.path.clone().unwrap_or_else(|| "/".into()),
                        method: c.method.clone().unwrap_or_else(|| "GET".into()),
                        https: c.protocol.as_deref() == Some("https"),
                        body: c.body.clone(),
                    }
                }
            }
            "script" => {
                let task = c
                    .task
                    .as_deref()
                    .and_then(|n| tasks.iter().position(|t| t.stat.name == n))
                    .or_else(|| (tasks.len() == 1).then_some(0));
                let (Some(task), Some(command)) = (task, c.command.clone()) else {
                    findings.push(
                        Finding::error(Kind::Run, Cause::StartFailure, name.clone()).message(format!(
                            "script check \"{name}\" of group \"{}\" needs `task` naming one of its tasks and a `command`",
                            g.name
                        )),
                    );
                    continue;
                };
                Probe::Script {
                    task,
                    command,
                    args: c.args.clone(),
                }
            }
            other => {
                if p.index == 0 {
                    findings.push(
                        Finding::info(Kind::Note, Cause::NotEmulated, name.clone())
                            .message(format!("{other} checks are not emulated; \"{name}\" is left out of the health verdict")),
                    );
                }
                continue;
            }
        };
        let target = match &probe {
            Probe::Http { target, .. } | Probe::Tcp { target } => target.addr.to_string(),
            Probe::Script { command, args, .. } => format!("{command} {}", args.join(" ")),
        };
        // Consul staggers a check's first run within its interval.
        let stagger = Duration::from_millis(
            u64::from_str_radix(&placement::new_id()[..8], 16).unwrap_or(0)
                % (interval.as_millis().max(1) as u64),
        );
        out.push(CheckRt {
            service: svc.name.clone(),
            name,
            kind: c.kind.clone(),
            probe,
            target,
            interval,
            timeout,
            status: Status::Critical,
            output: String::new(),
            next_at: Instant::now() + stagger,
            in_flight: false,
            runs: 0,
        });
    }
    Ok(out)
}

/// What of a service's Connect block is left to a real Consul and Envoy.
fn not_emulated(g: &GroupSpec, s: &ServiceSpec, findings: &mut Vec<Finding>) {
    let Some(c) = &s.connect else { return };
    let mut items: Vec<String> = c.not_emulated.clone();
    if c.sidecar || !c.ingress.is_empty() {
        items.push("intentions and mTLS between services (the run's forwarders connect in plain TCP, to any instance)".into());
        items.push(
            "L7 routing of the `protocol` (http) listeners: connections are forwarded as TCP"
                .into(),
        );
    }
    if NetworkMode::of(g) != Ok(NetworkMode::Bridge) {
        findings.push(
            Finding::error(Kind::Run, Cause::StartFailure, format!("service \"{}\"", s.name))
                .message(format!(
                    "group \"{}\" uses Consul Connect without `network {{ mode = \"bridge\" }}`: Nomad refuses the job (Consul Connect sidecar requires bridge network)",
                    g.name
                )),
        );
    }
    for i in items {
        findings.push(
            Finding::info(
                Kind::Note,
                Cause::NotEmulated,
                format!("service \"{}\"", s.name),
            )
            .message(format!("not emulated: {i}")),
        );
    }
}

/// Why an allocation was not healthy, pinned on a task: what it was doing (the event)
/// and the paths it looked for at run time and did not find, the likeliest first
/// (libraries, then names searched in several places, then the most repeated).
fn blame_finding(r: &Runner, a: &AllocRt, ti: usize, why: &str) -> Finding {
    let t = &a.tasks[ti];
    // Not a byte-code cache a read-only store cannot hold, nor an interpreter probing
    // for a package's extension-module forms.
    let probe = |f: &Finding| {
        let b = f.path.rsplit('/').next().unwrap_or("");
        f.path.contains("/__pycache__/") || b.starts_with("__init__.")
    };
    let mut misses: Vec<&Finding> = t
        .findings
        .iter()
        .filter(|f| f.kind == Kind::Missing && f.cause == Cause::Runtime && !probe(f))
        .collect();
    let count = |f: &Finding| {
        f.message
            .as_deref()
            .and_then(|m| m.split(" (").nth(1))
            .and_then(|c| c.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(1)
    };
    let base = |f: &Finding| f.path.rsplit('/').next().unwrap_or("").to_owned();
    let places = |f: &Finding| misses_named(&t.findings, &base(f));
    // A library the loader searched for (`libpq.so.5`), not an interpreter's probe
    // (`__init__.abi3.so`).
    let soname = |f: &Finding| {
        let b = base(f);
        b.starts_with("lib") && b.contains(".so")
    };
    misses.sort_by_key(|f| {
        (
            !soname(f),
            std::cmp::Reverse(places(f)),
            std::cmp::Reverse(count(f)),
        )
    });
    let last = r
        .events
        .iter()
        .rev()
        .find(|e| {
            e.alloc == a.p.name
                && e.task.as_deref() == Some(t.stat.name.as_str())
                && e.kind != "Killing"
                && e.kind != "Killed"
                && e.kind != "Terminated"
        })
        .map(|e| format!("{} at +{:.1}s", e.kind, e.at_ms as f64 / 1000.0))
        .unwrap_or_else(|| "no event".into());
    let who = format!("{}/{}", a.p.name, t.stat.name);
    match misses.first() {
        Some(m) => {
            let also: Vec<&str> = misses[1..]
                .iter()
                .filter(|f| base(f) == base(m))
                .map(|f| f.path.as_str())
                .collect();
            Finding::error(Kind::Missing, Cause::Runtime, m.path.clone())
                .needed_by(vec![who.clone()])
                .message(format!(
                    "task \"{}\" of {} {why} (last event: {last}): it looked for {} at run time and did not find it{}",
                    t.stat.name,
                    a.p.name,
                    m.path,
                    if also.is_empty() { String::new() } else { format!(" (nor at {})", also.join(", ")) }
                ))
                .hint(format!(
                    "add `{}` to the bundle of task \"{}\" (its store path, or a wrapper on the bundle's PATH)",
                    base(m),
                    t.stat.name
                ))
        }
        None => Finding::error(Kind::Run, Cause::Timeout, who).message(format!(
            "task \"{}\" of {} {why} (last event: {last})",
            t.stat.name, a.p.name
        )),
    }
}

/// How many runtime misses share a basename (a command searched along PATH).
fn misses_named(findings: &[Finding], name: &str) -> usize {
    findings
        .iter()
        .filter(|f| f.cause == Cause::Runtime && f.path.rsplit('/').next() == Some(name))
        .count()
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

fn build_report(
    r: &Runner,
    ctx: &PlanContext,
    bridge: Option<&Bridge>,
    host_ip: IpAddr,
    outcome: Outcome,
    mut findings: Vec<Finding>,
) -> JobRunReport {
    let (verdict, result, message) = match &outcome {
        Outcome::Healthy => (
            Verdict::Pass,
            "healthy",
            "the job became healthy".to_owned(),
        ),
        Outcome::Complete => (
            Verdict::Pass,
            "complete",
            "every task completed successfully".into(),
        ),
        Outcome::Unhealthy(m) => (Verdict::Fail, "unhealthy", m.clone()),
        Outcome::Failed(m) => (Verdict::Fail, "failed", m.clone()),
        Outcome::Deadline(m) => (Verdict::Fail, "deadline", m.clone()),
        Outcome::Interrupted => (
            Verdict::Fail,
            "interrupted",
            "interrupted before the job became healthy".into(),
        ),
        Outcome::Error(m) => (Verdict::Error, "error", m.clone()),
    };
    let healthy_seen = r.events.iter().any(|e| e.kind == "Deployment");
    let (verdict, result, message) = match (&outcome, healthy_seen) {
        // --keep-running: healthy, then stopped by Ctrl-C.
        (Outcome::Interrupted, true) => (
            Verdict::Pass,
            "healthy",
            "the job became healthy; stopped by Ctrl-C".to_owned(),
        ),
        _ => (verdict, result, message),
    };
    if verdict != Verdict::Pass {
        findings.push(
            Finding::error(Kind::Run, Cause::Timeout, r.job_name.clone())
                .message(format!("the job did not succeed: {message}")),
        );
    }
    let mut allocations = Vec::new();
    for a in &r.allocs {
        let mut culprits: Vec<(usize, String)> = Vec::new();
        for (ti, why) in &a.blame {
            let f = blame_finding(r, a, *ti, why);
            if f.cause == Cause::Runtime {
                culprits.push((*ti, f.path.rsplit('/').next().unwrap_or("").to_owned()));
            }
            findings.push(f);
        }
        let tasks = a
            .tasks
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let mut rep = t.stat.static_report.clone();
                rep.findings.extend(t.findings.iter().cloned().map(|mut f| {
                    let name = f.path.rsplit('/').next().unwrap_or("");
                    if f.cause == Cause::Runtime
                        && culprits.iter().any(|(b, n)| *b == ti && n == name)
                    {
                        f.severity = crate::finding::Severity::Error;
                    }
                    f
                }));
                rep.run = t.last_run.clone();
                rep.settle_verdict();
                if t.failed && rep.verdict == Verdict::Pass {
                    rep.verdict = Verdict::Fail;
                }
                let events = r
                    .events
                    .iter()
                    .filter(|e| {
                        e.alloc == a.p.name && e.task.as_deref() == Some(t.stat.name.as_str())
                    })
                    .cloned()
                    .collect();
                TaskReport {
                    name: t.stat.name.clone(),
                    lifecycle: t.stat.stage,
                    leader: t.stat.leader,
                    state: t.state,
                    failed: t.failed,
                    restarts: t.restart.count(),
                    restart_policy: t.restart.policy,
                    exit_code: t.exit_code,
                    events,
                    report: rep,
                }
            })
            .collect();
        let status = if a.tasks.iter().any(|t| t.failed) {
            "failed"
        } else if a.tasks.iter().all(|t| t.state == TaskState::Dead) {
            "complete"
        } else {
            "running"
        };
        allocations.push(AllocReport {
            id: a.p.id.clone(),
            name: a.p.name.clone(),
            group: a.group_name.clone(),
            index: a.p.index,
            network_mode: match a.p.mode {
                NetworkMode::Bridge => "bridge",
                NetworkMode::Host => "host",
                NetworkMode::None => "none",
            }
            .into(),
            ip: a.p.ip.map(|i| i.to_string()),
            netns: a.ns.as_ref().map(|n| format!("net:[{}]", n.inode())),
            ports: a.p.ports.clone(),
            status: status.into(),
            health: a
                .health
                .map(|h| if h { "healthy" } else { "unhealthy" }.into()),
            health_message: a.health_msg.clone(),
            tasks,
            checks: a
                .checks
                .iter()
                .map(|c| CheckReport {
                    service: c.service.clone(),
                    name: c.name.clone(),
                    kind: c.kind.clone(),
                    status: c.status,
                    output: c.output.clone(),
                    target: c.target.clone(),
                    runs: c.runs,
                })
                .collect(),
            forwarders: a.forwarders.iter().map(Published::report).collect(),
        });
    }
    let mut events = r.events.clone();
    events.sort_by_key(|e| e.at_ms);
    JobRunReport {
        schema_version: crate::finding::SCHEMA_VERSION,
        tool: crate::finding::Tool::default(),
        mode: "run-job",
        nomad_version: ctx.version,
        job: r.job_name.clone(),
        job_type: r.job_type.clone(),
        verdict,
        result: result.into(),
        result_message: message,
        duration_ms: r.t0.elapsed().as_millis() as u64,
        started_unix_ms: r.unix0,
        network: bridge.map(|b| NetworkInfo {
            bridge: netns::BRIDGE_NAME.into(),
            subnet: b.subnet.to_string(),
            gateway: b.gateway.to_string(),
            host_ip: host_ip.to_string(),
            namespace: format!("the run's own network namespace (net:[{}])", b.node.inode()),
            netns: format!("net:[{}]", b.node.inode()),
        }),
        allocations,
        events,
        findings,
    }
}
