//! The parts of a job that change what an exec task sees, read from either the HCL2
//! form (an evaluated [`Node`] tree) or the JSON form (`nomad job run -output`, or the
//! API's `Job` object). Both end up as the same [`JobSpec`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::JobError;
use super::hcl::{Node, locate, locate_within};

#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub name: String,
    /// `service` (the default), `batch`, `system`, `sysbatch`.
    pub job_type: String,
    pub meta: Vec<(String, String)>,
    pub groups: Vec<GroupSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    pub name: String,
    /// `network { mode }`: `host` (default), `bridge`, `none`, `cni/<name>`.
    pub network_mode: Option<String>,
    pub ports: Vec<PortSpec>,
    /// Consul Connect upstreams: (destination_name, local_bind_port).
    pub upstreams: Vec<(String, u64)>,
    pub meta: Vec<(String, String)>,
    /// Blocks Nomad acts on that we cannot emulate offline (`service`, `volume`…).
    pub not_emulated: Vec<String>,
    pub tasks: Vec<TaskDef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortSpec {
    pub label: String,
    pub static_port: Option<u64>,
    pub to: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskDef {
    pub name: String,
    pub driver: String,
    pub user: Option<String>,
    /// The driver's `config` block, as written (before client-side interpolation).
    pub config: BTreeMap<String, Value>,
    pub env: Vec<(String, String)>,
    pub meta: Vec<(String, String)>,
    pub cpu: Option<u64>,
    pub memory: Option<u64>,
    pub memory_max: Option<u64>,
    /// (hook, sidecar).
    pub lifecycle: Option<(String, bool)>,
    pub kill_signal: Option<String>,
    pub kill_timeout: Option<Duration>,
    pub artifacts: Vec<ArtifactDef>,
    /// `resources { network { port … } }` (the pre-0.12 task-level network).
    pub ports: Vec<PortSpec>,
    pub not_emulated: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArtifactDef {
    pub source: String,
    pub destination: Option<String>,
    pub mode: Option<String>,
    pub options: BTreeMap<String, String>,
    pub headers: bool,
    pub chown: bool,
}

/// Task-level blocks Nomad acts on that an offline check cannot reproduce.
const TASK_NOT_EMULATED: &[&str] = &[
    "template",
    "vault",
    "volume_mount",
    "service",
    "identity",
    "csi_plugin",
    "consul",
    "dispatch_payload",
    "scaling",
    "action",
    "schedule",
];
const TASK_KNOWN: &[&str] = &[
    "config",
    "env",
    "artifact",
    "lifecycle",
    "logs",
    "resources",
    "restart",
    "meta",
    "constraint",
    "affinity",
    "kill_signal",
];
const GROUP_NOT_EMULATED: &[&str] = &["service", "volume", "consul", "scaling"];
const GROUP_KNOWN: &[&str] = &[
    "task",
    "network",
    "ephemeral_disk",
    "update",
    "restart",
    "reschedule",
    "migrate",
    "constraint",
    "affinity",
    "spread",
    "meta",
    "disconnect",
    "max_client_disconnect",
    "stop_after_client_disconnect",
];
const JOB_KNOWN: &[&str] = &[
    "group",
    "meta",
    "constraint",
    "affinity",
    "spread",
    "update",
    "periodic",
    "parameterized",
    "multiregion",
    "reschedule",
    "migrate",
    "vault",
    "consul",
    "ui",
];
/// The exec driver's task config options (`hashicorp/nomad:drivers/exec/driver.go` `taskConfigSpec`).
pub const EXEC_CONFIG_KEYS: &[&str] = &[
    "command", "args", "pid_mode", "ipc_mode", "cap_add", "cap_drop", "work_dir",
];

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolish(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        // HCL1-era jobs write `sidecar = "false"`; Nomad's decoder converts it.
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A string map from an `env {}`/`meta {}` block or an attribute object.
fn string_map(v: &Value, what: &str) -> Result<Vec<(String, String)>, String> {
    let Value::Object(m) = v else {
        return Err(format!("`{what}` must be a map of strings"));
    };
    m.iter()
        .map(|(k, v)| {
            text(v)
                .map(|s| (k.clone(), s))
                .ok_or_else(|| format!("`{what}.{k}` must be a string, got {v}"))
        })
        .collect()
}

fn node_map(n: &Node) -> Value {
    Value::Object(n.attrs.iter().cloned().collect())
}

impl JobSpec {
    /// From the HCL2 form: the evaluated `job "name" { … }` block.
    pub fn from_node(path: &Path, src: &str, job: &Node) -> Result<JobSpec, JobError> {
        let err = |needle: &str, m: String| locate(path, src, needle, m);
        let unknown = |ident: &str, where_: &str| {
            err(
                ident,
                format!(
                    "Unsupported block type: blocks of type \"{ident}\" are not expected {where_}"
                ),
            )
        };
        let mut spec = JobSpec {
            name: job.label().to_owned(),
            job_type: job
                .attr("type")
                .and_then(text)
                .unwrap_or_else(|| "service".into()),
            meta: Vec::new(),
            groups: Vec::new(),
        };
        if spec.name.is_empty() {
            return Err(err("job", "the `job` block needs a name label".into()));
        }
        for b in &job.blocks {
            if !JOB_KNOWN.contains(&b.ident.as_str()) {
                return Err(unknown(&b.ident, "in a job"));
            }
        }
        if let Some(m) = job.attr("meta") {
            spec.meta
                .extend(string_map(m, "meta").map_err(|m| err("meta", m))?);
        }
        for m in job.blocks("meta") {
            spec.meta
                .extend(string_map(&node_map(m), "meta").map_err(|m| err("meta", m))?);
        }
        for g in job.blocks("group") {
            let mut group = GroupSpec {
                name: g.label().to_owned(),
                network_mode: None,
                ports: Vec::new(),
                upstreams: Vec::new(),
                meta: Vec::new(),
                not_emulated: Vec::new(),
                tasks: Vec::new(),
            };
            for b in &g.blocks {
                let id = b.ident.as_str();
                if GROUP_NOT_EMULATED.contains(&id) {
                    group.not_emulated.push(describe(b));
                } else if !GROUP_KNOWN.contains(&id) {
                    let g_needle = format!("group \"{}\"", group.name);
                    return Err(locate_within(
                        path,
                        src,
                        &[g_needle.as_str(), id],
                        format!(
                            "Unsupported block type: blocks of type \"{id}\" are not expected in group \"{}\"",
                            group.name
                        ),
                    ));
                }
            }
            for n in g.blocks("network") {
                group.network_mode = n.attr("mode").and_then(text);
                group.ports.extend(ports_of(n));
            }
            for s in g.blocks("service") {
                group.upstreams.extend(upstreams_of(s));
            }
            for m in g.blocks("meta") {
                group
                    .meta
                    .extend(string_map(&node_map(m), "meta").map_err(|m| err("meta", m))?);
            }
            for t in g.blocks("task") {
                // Unknown blocks are pointed at inside their own task.
                let g_needle = format!("group \"{}\"", group.name);
                let t_needle = format!("task \"{}\"", t.label());
                if let Some(b) = t.blocks.iter().find(|b| {
                    !TASK_NOT_EMULATED.contains(&b.ident.as_str())
                        && !TASK_KNOWN.contains(&b.ident.as_str())
                }) {
                    return Err(locate_within(
                        path,
                        src,
                        &[g_needle.as_str(), t_needle.as_str(), b.ident.as_str()],
                        format!(
                            "Unsupported block type: blocks of type \"{}\" are not expected in task \"{}\"{}",
                            b.ident,
                            t.label(),
                            crate::suggest::did_you_mean(
                                &b.ident,
                                TASK_KNOWN.iter().chain(TASK_NOT_EMULATED).copied()
                            )
                        ),
                    ));
                }
                group.tasks.push(task_from_node(t).map_err(|m| {
                    locate_within(
                        path,
                        src,
                        &[g_needle.as_str(), t_needle.as_str()],
                        format!("task \"{}\": {m}", t.label()),
                    )
                })?);
            }
            spec.groups.push(group);
        }
        Ok(spec)
    }

    /// From the JSON form: `{"Job": {…}}` or the bare API `Job` object.
    pub fn from_json(v: &Value) -> Result<JobSpec, JobError> {
        let job = v.get("Job").unwrap_or(v);
        let bad = |m: String| JobError::Invalid(format!("JSON job: {m}"));
        if !job.is_object() || job.get("TaskGroups").is_none() {
            return Err(bad(
                "expected `{\"Job\": {…}}` or an API Job object with `TaskGroups`".into(),
            ));
        }
        let s = |o: &Value, k: &str| o.get(k).and_then(text).filter(|s| !s.is_empty());
        let smap = |o: &Value, k: &str| -> Result<Vec<(String, String)>, JobError> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(m) => string_map(m, k).map_err(bad),
            }
        };
        let arr = |o: &Value, k: &str| -> Vec<Value> {
            o.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut spec = JobSpec {
            name: s(job, "ID")
                .or_else(|| s(job, "Name"))
                .ok_or_else(|| bad("the job has no ID or Name".into()))?,
            job_type: s(job, "Type").unwrap_or_else(|| "service".into()),
            meta: smap(job, "Meta")?,
            groups: Vec::new(),
        };
        for g in arr(job, "TaskGroups") {
            let mut group = GroupSpec {
                name: s(&g, "Name").unwrap_or_default(),
                network_mode: None,
                ports: Vec::new(),
                upstreams: Vec::new(),
                meta: smap(&g, "Meta")?,
                not_emulated: Vec::new(),
                tasks: Vec::new(),
            };
            for n in arr(&g, "Networks") {
                group.network_mode = s(&n, "Mode");
                group.ports.extend(json_ports(&n));
            }
            for svc in arr(&g, "Services") {
                group.not_emulated.push(format!(
                    "service \"{}\"",
                    s(&svc, "Name").unwrap_or_default()
                ));
                let ups = svc
                    .pointer("/Connect/SidecarService/Proxy/Upstreams")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for u in ups {
                    if let (Some(name), Some(port)) = (
                        s(&u, "DestinationName"),
                        u.get("LocalBindPort").and_then(uint),
                    ) {
                        group.upstreams.push((name, port));
                    }
                }
            }
            if let Some(Value::Object(vols)) = g.get("Volumes") {
                for name in vols.keys() {
                    group.not_emulated.push(format!("volume \"{name}\""));
                }
            }
            for t in arr(&g, "Tasks") {
                let mut task = TaskDef {
                    name: s(&t, "Name").unwrap_or_default(),
                    driver: s(&t, "Driver").unwrap_or_default(),
                    user: s(&t, "User"),
                    env: smap(&t, "Env")?,
                    meta: smap(&t, "Meta")?,
                    kill_signal: s(&t, "KillSignal"),
                    // The API carries durations as nanoseconds.
                    kill_timeout: t
                        .get("KillTimeout")
                        .and_then(uint)
                        .map(Duration::from_nanos),
                    ..TaskDef::default()
                };
                if let Some(Value::Object(c)) = t.get("Config") {
                    task.config = c.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                }
                if let Some(r) = t.get("Resources").filter(|r| r.is_object()) {
                    task.cpu = r.get("CPU").and_then(uint);
                    task.memory = r.get("MemoryMB").and_then(uint);
                    task.memory_max = r.get("MemoryMaxMB").and_then(uint).filter(|m| *m > 0);
                    for n in arr(r, "Networks") {
                        task.ports.extend(json_ports(&n));
                    }
                }
                if let Some(l) = t.get("Lifecycle").filter(|l| l.is_object()) {
                    if let Some(hook) = s(l, "Hook") {
                        let sidecar = l.get("Sidecar").and_then(boolish).unwrap_or(false);
                        task.lifecycle = Some((hook, sidecar));
                    }
                }
                for a in arr(&t, "Artifacts") {
                    let mut options = BTreeMap::new();
                    if let Some(Value::Object(o)) = a.get("GetterOptions") {
                        for (k, v) in o {
                            if let Some(v) = text(v) {
                                options.insert(k.clone(), v);
                            }
                        }
                    }
                    task.artifacts.push(ArtifactDef {
                        source: s(&a, "GetterSource").ok_or_else(|| {
                            bad(format!(
                                "task \"{}\": an artifact has no GetterSource",
                                task.name
                            ))
                        })?,
                        destination: s(&a, "RelativeDest"),
                        mode: s(&a, "GetterMode"),
                        options,
                        headers: a
                            .get("GetterHeaders")
                            .is_some_and(|h| h.as_object().is_some_and(|o| !o.is_empty())),
                        chown: a.get("Chown").and_then(Value::as_bool).unwrap_or(false),
                    });
                }
                for (key, label) in [
                    ("Templates", "template"),
                    ("VolumeMounts", "volume_mount"),
                    ("Services", "service"),
                    ("Identities", "identity"),
                    ("CSIPluginConfig", "csi_plugin"),
                    ("DispatchPayload", "dispatch_payload"),
                ] {
                    match t.get(key) {
                        Some(Value::Array(a)) => {
                            for _ in a {
                                task.not_emulated.push(label.to_owned());
                            }
                        }
                        Some(Value::Object(_)) => task.not_emulated.push(label.to_owned()),
                        _ => {}
                    }
                }
                for (key, label) in [
                    ("Vault", "vault"),
                    ("Identity", "identity"),
                    ("Consul", "consul"),
                ] {
                    if t.get(key).is_some_and(|v| v.is_object()) {
                        task.not_emulated.push(label.to_owned());
                    }
                }
                group.tasks.push(task);
            }
            spec.groups.push(group);
        }
        Ok(spec)
    }
}

/// `template { destination = "local/x" }` → `template (local/x)`, for the report.
fn describe(b: &Node) -> String {
    let mut s = b.ident.clone();
    if !b.labels.is_empty() {
        s.push_str(&format!(" \"{}\"", b.labels.join("\" \"")));
    }
    for key in [
        "destination",
        "name",
        "role",
        "policies",
        "volume",
        "source",
    ] {
        if let Some(v) = b.attr(key).and_then(text) {
            s.push_str(&format!(" ({key} = {v})"));
            break;
        }
    }
    if b.blocks("connect").next().is_some() {
        s.push_str(" with Consul Connect");
    }
    s
}

fn ports_of(n: &Node) -> Vec<PortSpec> {
    n.blocks("port")
        .map(|p| PortSpec {
            label: p.label().to_owned(),
            static_port: p.attr("static").and_then(uint),
            to: p.attr("to").and_then(|v| v.as_i64()),
        })
        .collect()
}

fn json_ports(n: &Value) -> Vec<PortSpec> {
    let mut out = Vec::new();
    for (key, is_static) in [("ReservedPorts", true), ("DynamicPorts", false)] {
        for p in n.get(key).and_then(Value::as_array).into_iter().flatten() {
            out.push(PortSpec {
                label: p.get("Label").and_then(text).unwrap_or_default(),
                static_port: if is_static {
                    p.get("Value").and_then(uint)
                } else {
                    None
                },
                to: p.get("To").and_then(Value::as_i64).filter(|t| *t != 0),
            });
        }
    }
    out
}

fn upstreams_of(service: &Node) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for c in service.blocks("connect") {
        for sc in c.blocks("sidecar_service") {
            for p in sc.blocks("proxy") {
                for u in p.blocks("upstreams") {
                    if let (Some(name), Some(port)) = (
                        u.attr("destination_name").and_then(text),
                        u.attr("local_bind_port").and_then(uint),
                    ) {
                        out.push((name, port));
                    }
                }
            }
        }
    }
    out
}

fn task_from_node(t: &Node) -> Result<TaskDef, String> {
    let mut task = TaskDef {
        name: t.label().to_owned(),
        driver: t.attr("driver").and_then(text).unwrap_or_default(),
        user: t.attr("user").and_then(text).filter(|u| !u.is_empty()),
        kill_signal: t.attr("kill_signal").and_then(text),
        ..TaskDef::default()
    };
    if let Some(kt) = t.attr("kill_timeout").and_then(text) {
        task.kill_timeout = Some(
            crate::config::parse_duration(&kt)
                .map_err(|_| format!("kill_timeout `{kt}` is not a duration (e.g. 30s)"))?,
        );
    }
    for b in &t.blocks {
        let id = b.ident.as_str();
        if TASK_NOT_EMULATED.contains(&id) {
            task.not_emulated.push(describe(b));
        } else if !TASK_KNOWN.contains(&id) {
            return Err(format!(
                "Unsupported block type: blocks of type \"{id}\" are not expected in a task"
            ));
        }
    }
    for c in t.blocks("config") {
        for (k, v) in &c.attrs {
            task.config.insert(k.clone(), v.clone());
        }
        if let Some(b) = c.blocks.first() {
            task.config.insert(b.ident.clone(), node_map(b));
        }
    }
    if let Some(e) = t.attr("env") {
        task.env.extend(string_map(e, "env")?);
    }
    for e in t.blocks("env") {
        task.env.extend(string_map(&node_map(e), "env")?);
    }
    if let Some(m) = t.attr("meta") {
        task.meta.extend(string_map(m, "meta")?);
    }
    for m in t.blocks("meta") {
        task.meta.extend(string_map(&node_map(m), "meta")?);
    }
    for r in t.blocks("resources") {
        task.cpu = r.attr("cpu").and_then(uint);
        task.memory = r.attr("memory").and_then(uint);
        task.memory_max = r.attr("memory_max").and_then(uint);
        for n in r.blocks("network") {
            task.ports.extend(ports_of(n));
        }
    }
    for l in t.blocks("lifecycle") {
        let hook = l
            .attr("hook")
            .and_then(text)
            .ok_or("a `lifecycle` block needs `hook` (prestart, poststart or poststop)")?;
        let sidecar = match l.attr("sidecar") {
            None => false,
            Some(v) => {
                boolish(v).ok_or(format!("lifecycle.sidecar must be true or false, got {v}"))?
            }
        };
        task.lifecycle = Some((hook, sidecar));
    }
    for a in t.blocks("artifact") {
        let source = a
            .attr("source")
            .and_then(text)
            .ok_or("an `artifact` block needs `source`")?;
        let mut options = BTreeMap::new();
        if let Some(o) = a.attr("options") {
            options.extend(string_map(o, "artifact.options")?);
        }
        for o in a.blocks("options") {
            options.extend(string_map(&node_map(o), "artifact.options")?);
        }
        task.artifacts.push(ArtifactDef {
            source,
            destination: a.attr("destination").and_then(text),
            mode: a.attr("mode").and_then(text),
            options,
            headers: a.attr("headers").is_some() || a.blocks("headers").next().is_some(),
            chown: a.attr("chown").and_then(boolish).unwrap_or(false),
        });
    }
    Ok(task)
}
