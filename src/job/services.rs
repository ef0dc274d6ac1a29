//! The parts of a job that matter once its tasks run together (`job --run-job`):
//! group services with their checks and Connect blocks, `update` and `restart`. Read
//! from the HCL2 form (an evaluated [`Node`]) and from the JSON form (the API's
//! field names, durations in nanoseconds), both into the same types.

use std::time::Duration;

use serde_json::Value;

use super::hcl::Node;
use super::model::{text, uint};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceSpec {
    pub name: String,
    /// A port label of the group's network, or a port number (`"5432"`).
    pub port: Option<String>,
    /// `auto` (default), `host`, `alloc`, `driver`.
    pub address_mode: Option<String>,
    /// `consul` (default) or `nomad`.
    pub provider: Option<String>,
    pub checks: Vec<CheckSpec>,
    pub connect: Option<ConnectSpec>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckSpec {
    pub name: Option<String>,
    /// `http`, `tcp`, `script`, `grpc`.
    pub kind: String,
    pub port: Option<String>,
    pub path: Option<String>,
    pub method: Option<String>,
    /// `http` (default) or `https`.
    pub protocol: Option<String>,
    pub body: Option<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub command: Option<String>,
    pub args: Vec<String>,
    /// The task a script check runs in.
    pub task: Option<String>,
    pub address_mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectSpec {
    /// `sidecar_service {}`: an Envoy sidecar in the group.
    pub sidecar: bool,
    pub upstreams: Vec<UpstreamSpec>,
    /// `proxy { local_service_port }`; Consul's default is the service's port.
    pub local_service_port: Option<u64>,
    /// An ingress gateway's listeners.
    pub ingress: Vec<IngressListener>,
    /// What is Connect but not emulated (native, terminating and mesh gateways…).
    pub not_emulated: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpstreamSpec {
    pub destination_name: String,
    pub local_bind_port: u64,
    pub local_bind_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngressListener {
    pub port: u64,
    pub protocol: String,
    pub services: Vec<String>,
}

/// `update {}`: what decides that an allocation is healthy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateSpec {
    pub health_check: Option<String>,
    pub min_healthy_time: Option<Duration>,
    pub healthy_deadline: Option<Duration>,
}

/// `restart {}`, group- or task-level.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RestartSpec {
    pub attempts: Option<u64>,
    pub delay: Option<Duration>,
    pub interval: Option<Duration>,
    pub mode: Option<String>,
}

/// An HCL duration: `"5s"`, `"1m30s"`, `"500ms"` (Go's `time.ParseDuration`).
pub fn go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (e.g. 5s, 1m30s, 500ms)");
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

fn hcl_duration(n: &Node, key: &str) -> Result<Option<Duration>, String> {
    match n.attr(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => go_duration(s).map(Some).map_err(|e| format!("{key}: {e}")),
        Some(other) => Err(format!("{key} must be a duration string, got {other}")),
    }
}

fn json_duration(v: &Value, key: &str) -> Option<Duration> {
    v.get(key).and_then(uint).map(Duration::from_nanos)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

pub fn update_from_node(n: &Node) -> Result<UpdateSpec, String> {
    Ok(UpdateSpec {
        health_check: n.attr("health_check").and_then(text),
        min_healthy_time: hcl_duration(n, "min_healthy_time")?,
        healthy_deadline: hcl_duration(n, "healthy_deadline")?,
    })
}

pub fn update_from_json(v: &Value) -> UpdateSpec {
    UpdateSpec {
        health_check: v.get("HealthCheck").and_then(text),
        min_healthy_time: json_duration(v, "MinHealthyTime"),
        healthy_deadline: json_duration(v, "HealthyDeadline"),
    }
}

pub fn restart_from_node(n: &Node) -> Result<RestartSpec, String> {
    Ok(RestartSpec {
        attempts: n.attr("attempts").and_then(uint),
        delay: hcl_duration(n, "delay")?,
        interval: hcl_duration(n, "interval")?,
        mode: n.attr("mode").and_then(text),
    })
}

pub fn restart_from_json(v: &Value) -> RestartSpec {
    RestartSpec {
        attempts: v.get("Attempts").and_then(uint),
        delay: json_duration(v, "Delay"),
        interval: json_duration(v, "Interval"),
        mode: v.get("Mode").and_then(text),
    }
}

pub fn service_from_node(s: &Node) -> Result<ServiceSpec, String> {
    let mut svc = ServiceSpec {
        name: s.attr("name").and_then(text).unwrap_or_default(),
        port: s.attr("port").and_then(text),
        address_mode: s.attr("address_mode").and_then(text),
        provider: s.attr("provider").and_then(text),
        ..ServiceSpec::default()
    };
    for c in s.blocks("check") {
        svc.checks.push(CheckSpec {
            name: c.attr("name").and_then(text),
            kind: c.attr("type").and_then(text).unwrap_or_default(),
            port: c.attr("port").and_then(text),
            path: c.attr("path").and_then(text),
            method: c.attr("method").and_then(text),
            protocol: c.attr("protocol").and_then(text),
            body: c.attr("body").and_then(text),
            interval: hcl_duration(c, "interval")?,
            timeout: hcl_duration(c, "timeout")?,
            command: c.attr("command").and_then(text),
            args: strings(c.attr("args")),
            task: c.attr("task").and_then(text),
            address_mode: c.attr("address_mode").and_then(text),
        });
    }
    for c in s.blocks("connect") {
        let mut cs = ConnectSpec::default();
        if c.attr("native").and_then(|v| v.as_bool()) == Some(true) {
            cs.not_emulated.push("Connect native".into());
        }
        for sc in c.blocks("sidecar_service") {
            cs.sidecar = true;
            for p in sc.blocks("proxy") {
                cs.local_service_port = p.attr("local_service_port").and_then(uint);
                for u in p.blocks("upstreams") {
                    cs.upstreams.push(UpstreamSpec {
                        destination_name: u
                            .attr("destination_name")
                            .and_then(text)
                            .unwrap_or_default(),
                        local_bind_port: u.attr("local_bind_port").and_then(uint).unwrap_or(0),
                        local_bind_address: u.attr("local_bind_address").and_then(text),
                    });
                }
            }
        }
        if c.blocks("sidecar_task").next().is_some() {
            cs.not_emulated
                .push("sidecar_task (the Envoy task's own settings)".into());
        }
        for g in c.blocks("gateway") {
            for i in g.blocks("ingress") {
                for l in i.blocks("listener") {
                    cs.ingress.push(IngressListener {
                        port: l.attr("port").and_then(uint).unwrap_or(0),
                        protocol: l.attr("protocol").and_then(text).unwrap_or("tcp".into()),
                        services: l
                            .blocks("service")
                            .filter_map(|s| s.attr("name").and_then(text))
                            .collect(),
                    });
                }
            }
            for kind in ["terminating", "mesh"] {
                if g.blocks(kind).next().is_some() {
                    cs.not_emulated.push(format!("{kind} gateway"));
                }
            }
        }
        svc.connect = Some(cs);
    }
    Ok(svc)
}

pub fn service_from_json(s: &Value) -> ServiceSpec {
    let t = |k: &str| s.get(k).and_then(text).filter(|x| !x.is_empty());
    let mut svc = ServiceSpec {
        name: t("Name").unwrap_or_default(),
        port: t("PortLabel"),
        address_mode: t("AddressMode"),
        provider: t("Provider"),
        ..ServiceSpec::default()
    };
    for c in s
        .get("Checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let t = |k: &str| c.get(k).and_then(text).filter(|x| !x.is_empty());
        svc.checks.push(CheckSpec {
            name: t("Name"),
            kind: t("Type").unwrap_or_default(),
            port: t("PortLabel"),
            path: t("Path"),
            method: t("Method"),
            protocol: t("Protocol"),
            body: t("Body"),
            interval: json_duration(c, "Interval"),
            timeout: json_duration(c, "Timeout"),
            command: t("Command"),
            args: strings(c.get("Args")),
            task: t("TaskName"),
            address_mode: t("AddressMode"),
        });
    }
    if let Some(c) = s.get("Connect").filter(|c| c.is_object()) {
        let mut cs = ConnectSpec::default();
        if c.get("Native").and_then(Value::as_bool) == Some(true) {
            cs.not_emulated.push("Connect native".into());
        }
        if let Some(sc) = c.get("SidecarService").filter(|v| v.is_object()) {
            cs.sidecar = true;
            if let Some(p) = sc.get("Proxy").filter(|v| v.is_object()) {
                cs.local_service_port = p.get("LocalServicePort").and_then(uint).filter(|p| *p > 0);
                for u in p
                    .get("Upstreams")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    cs.upstreams.push(UpstreamSpec {
                        destination_name: u
                            .get("DestinationName")
                            .and_then(text)
                            .unwrap_or_default(),
                        local_bind_port: u.get("LocalBindPort").and_then(uint).unwrap_or(0),
                        local_bind_address: u
                            .get("LocalBindAddress")
                            .and_then(text)
                            .filter(|x| !x.is_empty()),
                    });
                }
            }
        }
        if let Some(g) = c.get("Gateway").filter(|v| v.is_object()) {
            let listeners = g
                .pointer("/Ingress/Listeners")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for l in listeners {
                cs.ingress.push(IngressListener {
                    port: l.get("Port").and_then(uint).unwrap_or(0),
                    protocol: l.get("Protocol").and_then(text).unwrap_or("tcp".into()),
                    services: l
                        .get("Services")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s.get("Name").and_then(text))
                        .collect(),
                });
            }
            for (k, kind) in [("Terminating", "terminating"), ("Mesh", "mesh")] {
                if g.get(k).is_some_and(|v| v.is_object()) {
                    cs.not_emulated.push(format!("{kind} gateway"));
                }
            }
        }
        svc.connect = Some(cs);
    }
    svc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(go_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(go_duration("0").unwrap(), Duration::ZERO);
        assert!(go_duration("5").is_err());
        assert!(go_duration("5 parsecs").is_err());
    }
}
