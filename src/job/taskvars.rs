//! The variables a job's network and meta blocks give a task (steps 4 and 6 of §4.1
//! in `nomad-exec.md`), with emulated values where only a scheduler knows them.

use std::collections::BTreeMap;

use super::model::{GroupSpec, JobSpec, PortSpec, TaskDef};

/// The first dynamic port, Nomad's default `min_dynamic_port`
/// (`hashicorp/nomad:nomad/structs/network.go` `DefaultMinDynamicPort`).
pub const FIRST_DYNAMIC_PORT: u64 = 20000;
/// The address emulated ports and Connect upstreams get. Upstreams really are bound on
/// loopback inside the group's network namespace by the Envoy sidecar.
pub const EMULATED_IP: &str = "127.0.0.1";

/// Nomad's environment-variable name cleaning for port and task labels
/// (`hashicorp/nomad:client/taskenv/env.go` `cleanEnvVar`): invalid characters → `_`.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Port variables for one port with its emulated host port.
pub fn port_vars(
    prefix: &str,
    p: &PortSpec,
    host_port: u64,
    bridge: bool,
) -> Vec<(String, String)> {
    let label = format!("{prefix}{}", clean(&p.label));
    // In a Nomad-owned netns the task listens on `to` (or the host port for `to = -1`
    // or no `to`); the host port is what the outside sees.
    let task_port = match p.to {
        Some(t) if t > 0 && bridge => t as u64,
        _ => host_port,
    };
    vec![
        (format!("NOMAD_IP_{label}"), EMULATED_IP.to_owned()),
        (format!("NOMAD_PORT_{label}"), task_port.to_string()),
        // hashicorp/nomad:client/taskenv/env.go addPorts: the host address and port.
        (
            format!("NOMAD_ADDR_{label}"),
            format!("{EMULATED_IP}:{host_port}"),
        ),
        (format!("NOMAD_HOST_IP_{label}"), EMULATED_IP.to_owned()),
        (format!("NOMAD_HOST_PORT_{label}"), host_port.to_string()),
        (
            format!("NOMAD_HOST_ADDR_{label}"),
            format!("{EMULATED_IP}:{host_port}"),
        ),
        (format!("NOMAD_ALLOC_PORT_{label}"), task_port.to_string()),
    ]
}

/// The network variables of `task` (step 4 of §4.1), with emulated values: static ports
/// as written, dynamic ports numbered from [`FIRST_DYNAMIC_PORT`] in order of appearance
/// in the group, every address [`EMULATED_IP`], upstreams `127.0.0.1:<local_bind_port>`.
pub(super) fn network_env(group: &GroupSpec, task: &TaskDef) -> Vec<(String, String)> {
    let bridge =
        matches!(group.network_mode.as_deref(), Some(m) if m == "bridge" || m.starts_with("cni/"));
    let mut next = FIRST_DYNAMIC_PORT;
    let mut alloc = |p: &PortSpec| {
        p.static_port.unwrap_or_else(|| {
            let n = next;
            next += 1;
            n
        })
    };
    let mut out = Vec::new();
    for p in &group.ports {
        let hp = alloc(p);
        out.extend(port_vars("", p, hp, bridge));
    }
    for t in &group.tasks {
        for p in &t.ports {
            let hp = alloc(p);
            out.extend(port_vars(&format!("{}_", clean(&t.name)), p, hp, bridge));
            if t.name == task.name {
                out.extend(port_vars("", p, hp, bridge));
            }
        }
    }
    // hashicorp/nomad:client/taskenv/env.go buildUpstreamsEnv: each variable under
    // the destination's name as written and under its cleaned name.
    for (name, port) in &group.upstreams {
        let cleaned = clean(name);
        let names = if cleaned == *name {
            vec![cleaned]
        } else {
            vec![name.clone(), cleaned]
        };
        for n in names {
            out.push((format!("NOMAD_UPSTREAM_IP_{n}"), EMULATED_IP.to_owned()));
            out.push((format!("NOMAD_UPSTREAM_PORT_{n}"), port.to_string()));
            out.push((
                format!("NOMAD_UPSTREAM_ADDR_{n}"),
                format!("{EMULATED_IP}:{port}"),
            ));
        }
    }
    out
}

/// `NOMAD_META_<key>` and `NOMAD_META_<KEY>`, job < group < task (step 6 of §4.1).
pub(super) fn meta_env(job: &JobSpec, group: &GroupSpec, task: &TaskDef) -> Vec<(String, String)> {
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in job.meta.iter().chain(&group.meta).chain(&task.meta) {
        merged.insert(k.clone(), v.clone());
    }
    let mut out = Vec::new();
    for (k, v) in merged {
        let c = clean(&k);
        out.push((format!("NOMAD_META_{c}"), v.clone()));
        out.push((format!("NOMAD_META_{}", c.to_uppercase()), v));
    }
    out
}
