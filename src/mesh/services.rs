//! A group's services: the instance each registers in the run's catalog, their checks
//! and where those probe, and what of Connect is left to a real Consul and Envoy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checks::{Probe, Status};
use super::connect::{Catalog, Instance};
use super::forward::Target;
use super::netns::{Bridge, NetNs};
use super::placement::{self, NetworkMode, Placement};
use super::runner::{CheckRt, TaskRt};
use crate::error::Error;
use crate::finding::{Cause, Finding, Kind};
use crate::job::model::GroupSpec;
use crate::job::services::ServiceSpec;

/// Register a group service's instance in the catalog, with the port its sidecar
/// reaches: `local_service_port`, else Consul's default, the registered port
/// (`hashicorp/nomad:client/serviceregistration/address.go` `GetAddress`, host mode:
/// the host port of a label, or the number as written).
pub(super) fn register(
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
pub(super) fn checks(
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
        let node = bridge
            .map(|b| super::clone_ns(&b.node))
            .transpose()?
            .map(Arc::new);
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
pub(super) fn not_emulated(g: &GroupSpec, s: &ServiceSpec, findings: &mut Vec<Finding>) {
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
