//! Consul Connect without Consul or Envoy: the catalog of service instances (passing
//! or not, as their checks say), and the forwarders that stand in for the Envoy
//! sidecars (upstream listeners on `127.0.0.1:<local_bind_port>` in the downstream
//! allocation), the ingress gateway (a listener on its port in the gateway's
//! allocation) and the CNI portmap (host ports).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::forward::{self, Forwarder, Router, Target};
use super::netns::NetNs;
use super::report::ForwarderReport;

/// One registered instance of a service.
#[derive(Clone)]
pub struct Instance {
    pub service: String,
    pub alloc: usize,
    /// Its allocation's namespace (`None`: host network).
    pub ns: Option<Arc<NetNs>>,
    /// Where the sidecar reaches the service inside the allocation (Consul's
    /// `local_service_address:local_service_port`, `127.0.0.1:<service port>`).
    pub local: SocketAddr,
    /// Every check of the service in this allocation passes (or it has none).
    pub passing: bool,
    pub registered: bool,
}

/// The run's service catalog; forwarders read it for each new connection.
#[derive(Clone, Default)]
pub struct Catalog(Arc<Mutex<Vec<Instance>>>);

impl Catalog {
    pub fn register(&self, i: Instance) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(i);
    }

    pub fn set_passing(&self, alloc: usize, service: &str, passing: bool) {
        for i in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
            if i.alloc == alloc && i.service == service {
                i.passing = passing;
            }
        }
    }

    /// An allocation stopped: its instances leave the catalog.
    pub fn deregister(&self, alloc: usize) {
        for i in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
            if i.alloc == alloc {
                i.registered = false;
            }
        }
    }

    pub fn has(&self, service: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|i| i.service == service)
    }

    /// A router to the passing instances of `services`, round robin, as Envoy
    /// balances over the healthy endpoints Consul gives it.
    pub fn router(&self, services: Vec<String>) -> Router {
        let cat = self.clone();
        let next = Arc::new(AtomicUsize::new(0));
        Arc::new(move || {
            let list = cat.0.lock().unwrap_or_else(|e| e.into_inner());
            let healthy: Vec<&Instance> = list
                .iter()
                .filter(|i| i.registered && i.passing && services.contains(&i.service))
                .collect();
            if healthy.is_empty() {
                return Err(format!(
                    "no healthy instance of {} (Envoy: no healthy upstream)",
                    services.join(", ")
                ));
            }
            let i = healthy[next.fetch_add(1, Ordering::Relaxed) % healthy.len()];
            Ok(Target {
                ns: i.ns.clone(),
                addr: i.local,
            })
        })
    }
}

/// A forwarder with what the report says of it.
pub struct Published {
    pub kind: &'static str,
    pub to: String,
    pub fwd: Forwarder,
}

impl Published {
    pub fn report(&self) -> ForwarderReport {
        let c = &self.fwd.counters;
        ForwarderReport {
            kind: self.kind.into(),
            listen: self.fwd.listen.to_string(),
            to: self.to.clone(),
            connections: c.accepted.load(Ordering::Relaxed),
            failures: c.failed.load(Ordering::Relaxed),
            last_error: c
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// An upstream listener: `local_bind_address:local_bind_port` in the downstream
/// allocation's namespace, to the destination service.
pub fn upstream(
    catalog: &Catalog,
    ns: Option<&NetNs>,
    bind: IpAddr,
    port: u16,
    destination: &str,
) -> Result<Published, String> {
    let addr = SocketAddr::new(bind, port);
    let l = forward::bind(ns, addr)
        .map_err(|e| format!("upstream \"{destination}\": cannot listen on {addr}: {e}"))?;
    let fwd = Forwarder::start(
        format!("upstream {destination}"),
        l,
        catalog.router(vec![destination.to_owned()]),
    )
    .map_err(|e| e.to_string())?;
    Ok(Published {
        kind: "upstream",
        to: format!("service \"{destination}\""),
        fwd,
    })
}

/// An ingress gateway listener on `port` in the gateway's allocation, to `services`.
pub fn ingress(
    catalog: &Catalog,
    ns: Option<&NetNs>,
    port: u16,
    services: &[String],
) -> Result<Published, String> {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let l = forward::bind(ns, addr)
        .map_err(|e| format!("ingress listener: cannot listen on {addr}: {e}"))?;
    let fwd = Forwarder::start(
        format!("ingress {port}"),
        l,
        catalog.router(services.to_vec()),
    )
    .map_err(|e| e.to_string())?;
    Ok(Published {
        kind: "ingress",
        to: services
            .iter()
            .map(|s| format!("service \"{s}\""))
            .collect::<Vec<_>>()
            .join(", "),
        fwd,
    })
}

/// A host port: `host_ip:value` on the host, to `alloc_ip:to` on the bridge, as the
/// CNI portmap plugin's DNAT does. The listener is bound before anything runs, so a
/// port taken on the host fails the placement (Nomad: `reserved port collision`).
pub fn host_port(
    listener: std::net::TcpListener,
    node: Arc<NetNs>,
    alloc_ip: Ipv4Addr,
    to: u16,
    label: &str,
) -> Result<Published, String> {
    let target = Target {
        ns: Some(node),
        addr: SocketAddr::new(IpAddr::V4(alloc_ip), to),
    };
    let fwd = Forwarder::start(
        format!("port {label}"),
        listener,
        Arc::new(move || Ok(target.clone())),
    )
    .map_err(|e| e.to_string())?;
    Ok(Published {
        kind: "host-port",
        to: format!("{alloc_ip}:{to} (port \"{label}\")"),
        fwd,
    })
}
