//! Where the scheduler puts each allocation: `count` instances of each group, an ID
//! and index each, host ports (static as written, dynamic from 20000–32000, `to = -1`
//! mapped to the dynamic value) and, in bridge mode, an address on the bridge; and the
//! network variables a task of the allocation gets from that.

use std::net::{IpAddr, Ipv4Addr};

use crate::job::model::{GroupSpec, PortSpec};

/// `hashicorp/nomad:nomad/structs/network.go` `DefaultMinDynamicPort`,
/// `DefaultMaxDynamicPort`.
pub const MIN_DYNAMIC_PORT: u16 = 20000;
pub const MAX_DYNAMIC_PORT: u16 = 32000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Host,
    Bridge,
    None,
}

impl NetworkMode {
    pub fn of(group: &GroupSpec) -> Result<NetworkMode, String> {
        match group.network_mode.as_deref() {
            None | Some("") | Some("host") => Ok(NetworkMode::Host),
            Some("bridge") => Ok(NetworkMode::Bridge),
            Some("none") => Ok(NetworkMode::None),
            Some(other) => Err(format!(
                "group \"{}\": network mode \"{other}\" cannot be run here (host, bridge and none can)",
                group.name
            )),
        }
    }
}

/// One allocated port (`structs.AllocatedPortMapping`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortMapping {
    pub label: String,
    /// The host port.
    pub value: u16,
    /// The port inside the allocation (0: same as `value`).
    pub to: u16,
    pub host_ip: IpAddr,
}

impl PortMapping {
    /// The port a task of the allocation listens on.
    pub fn alloc_port(&self) -> u16 {
        if self.to > 0 { self.to } else { self.value }
    }
}

/// A placed allocation, before anything runs.
#[derive(Debug, Clone)]
pub struct Placement {
    pub id: String,
    pub group: usize,
    pub index: u32,
    /// `<job>.<group>[<index>]`.
    pub name: String,
    pub mode: NetworkMode,
    pub ports: Vec<PortMapping>,
    /// Bridge mode: the address of `eth0`.
    pub ip: Option<Ipv4Addr>,
}

/// A random version-4 UUID, as Nomad's allocation IDs are.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// How many allocations of `group` run: its `count`, capped by `--count-max`.
pub fn count(group: &GroupSpec, count_max: Option<u64>) -> u32 {
    let c = group.count.unwrap_or(1);
    count_max.map_or(c, |m| c.min(m)) as u32
}

/// Picks dynamic ports, avoiding those taken (by this run, or on the host: `free`
/// says whether the host can bind one).
pub struct PortPicker<'a> {
    used: std::collections::BTreeSet<u16>,
    free: &'a dyn Fn(u16) -> bool,
    state: u64,
}

impl<'a> PortPicker<'a> {
    pub fn new(free: &'a dyn Fn(u16) -> bool) -> Self {
        let seed = u64::from_str_radix(&new_id().replace('-', "")[..16], 16).unwrap_or(7);
        PortPicker {
            used: Default::default(),
            free,
            state: seed | 1,
        }
    }

    pub fn reserve(&mut self, port: u16) -> bool {
        self.used.insert(port)
    }

    /// A random free port of the dynamic range, as `getDynamicPortsStochastic` picks
    /// (random tries), then `getDynamicPortsPrecise` (the first free one).
    pub fn dynamic(&mut self) -> Option<u16> {
        let span = u64::from(MAX_DYNAMIC_PORT - MIN_DYNAMIC_PORT);
        for _ in 0..20 {
            // xorshift64
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let p = MIN_DYNAMIC_PORT + (self.state % span) as u16;
            if !self.used.contains(&p) && (self.free)(p) {
                self.used.insert(p);
                return Some(p);
            }
        }
        (MIN_DYNAMIC_PORT..MAX_DYNAMIC_PORT).find(|p| {
            let ok = !self.used.contains(p) && (self.free)(*p);
            if ok {
                self.used.insert(*p);
            }
            ok
        })
    }
}

/// Ports of one allocation (`hashicorp/nomad:nomad/structs/network.go` `AssignPorts`):
/// reserved ports first, then dynamic ones; `to = -1` becomes the dynamic value.
pub fn assign_ports(
    ports: &[PortSpec],
    host_ip: IpAddr,
    picker: &mut PortPicker<'_>,
) -> Result<Vec<PortMapping>, String> {
    let mut out = Vec::new();
    for p in ports.iter().filter(|p| p.static_port.is_some()) {
        let v = p.static_port.unwrap_or(0);
        let value = u16::try_from(v)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("invalid port {v} (out of range)"))?;
        if !picker.reserve(value) || !(picker.free)(value) {
            // Nomad's placement failure text for a static port in use.
            return Err(format!("reserved port collision {}={value}", p.label));
        }
        out.push(PortMapping {
            label: p.label.clone(),
            value,
            to: p.to.filter(|t| *t > 0).map_or(0, |t| t as u16),
            host_ip,
        });
    }
    for p in ports.iter().filter(|p| p.static_port.is_none()) {
        let value = picker
            .dynamic()
            .ok_or_else(|| "dynamic port selection failed".to_owned())?;
        let to = match p.to {
            Some(-1) => value,
            Some(t) if t > 0 => t as u16,
            _ => 0,
        };
        out.push(PortMapping {
            label: p.label.clone(),
            value,
            to,
            host_ip,
        });
    }
    Ok(out)
}

/// The network variables of a task in the allocation
/// (`hashicorp/nomad:client/taskenv/env.go` `addPorts`, `addNomadAllocNetwork`,
/// `buildUpstreamsEnv`).
pub fn network_env(alloc: &Placement, group: &GroupSpec) -> Vec<(String, String)> {
    let clean = crate::job::clean;
    let mut out = Vec::new();
    for p in &alloc.ports {
        let l = clean(&p.label);
        let host = p.host_ip.to_string();
        let value = p.value.to_string();
        let port = p.alloc_port().to_string();
        out.push((format!("NOMAD_ADDR_{l}"), format!("{host}:{value}")));
        out.push((format!("NOMAD_HOST_ADDR_{l}"), format!("{host}:{value}")));
        out.push((format!("NOMAD_IP_{l}"), host.clone()));
        out.push((format!("NOMAD_HOST_IP_{l}"), host));
        out.push((format!("NOMAD_PORT_{l}"), port.clone()));
        out.push((format!("NOMAD_ALLOC_PORT_{l}"), port.clone()));
        out.push((format!("NOMAD_HOST_PORT_{l}"), value));
        if let Some(ip) = alloc.ip {
            out.push((format!("NOMAD_ALLOC_INTERFACE_{l}"), "eth0".into()));
            out.push((format!("NOMAD_ALLOC_IP_{l}"), ip.to_string()));
            out.push((format!("NOMAD_ALLOC_ADDR_{l}"), format!("{ip}:{port}")));
        }
    }
    // Proxy sidecars always bind to localhost.
    for svc in &group.services {
        for u in svc.connect.iter().flat_map(|c| &c.upstreams) {
            let ip = "127.0.0.1";
            let port = u.local_bind_port.to_string();
            for name in [u.destination_name.clone(), clean(&u.destination_name)] {
                out.push((format!("NOMAD_UPSTREAM_IP_{name}"), ip.into()));
                out.push((format!("NOMAD_UPSTREAM_PORT_{name}"), port.clone()));
                out.push((
                    format!("NOMAD_UPSTREAM_ADDR_{name}"),
                    format!("{ip}:{port}"),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_nomads_assignment() {
        let free = |p: u16| p != 8801;
        let mut picker = PortPicker::new(&free);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let spec = |label: &str, static_port: Option<u64>, to: Option<i64>| PortSpec {
            label: label.into(),
            static_port,
            to,
        };
        let got = assign_ports(
            &[
                spec("http", None, Some(-1)),
                spec("public", Some(8800), None),
                spec("admin", None, Some(9000)),
            ],
            ip,
            &mut picker,
        )
        .unwrap();
        assert_eq!(got[0].label, "public");
        assert_eq!((got[0].value, got[0].alloc_port()), (8800, 8800));
        let http = &got[1];
        assert!((MIN_DYNAMIC_PORT..MAX_DYNAMIC_PORT).contains(&http.value));
        assert_eq!(http.to, http.value, "to = -1 maps to the dynamic value");
        assert_eq!(got[2].alloc_port(), 9000);
        assert_ne!(got[2].value, http.value);
        let err = assign_ports(&[spec("x", Some(8801), None)], ip, &mut picker).unwrap_err();
        assert_eq!(err, "reserved port collision x=8801");
        let err = assign_ports(&[spec("y", Some(8800), None)], ip, &mut picker).unwrap_err();
        assert_eq!(err, "reserved port collision y=8800");
    }

    #[test]
    fn ids_are_v4_uuids() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_id());
    }
}
