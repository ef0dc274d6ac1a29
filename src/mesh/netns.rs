//! Network namespaces, the bridge and the veth pairs of a job run, as Nomad's CNI
//! bridge network builds them (`hashicorp/nomad:client/allocrunner/networking_bridge_linux.go`:
//! a `bridge` plugin on the `nomad` bridge with `172.26.64.0/20`, host-local IPAM, the
//! gateway on the bridge, a veth per allocation named `eth0` inside it).
//!
//! One difference, on purpose: the bridge lives in a namespace of the run's own (the
//! "node"), not in the host's. Nothing of the run is ever visible in the host's network
//! (no link, route or address to clean up, no clash with a real Nomad's `nomad`
//! bridge or a concurrent run), and every piece disappears with the last descriptor:
//! the namespaces are held only by this process and by the tasks' sandbox children,
//! so even a SIGKILL of the checker leaves nothing behind. Ports reach the host through
//! the run's own forwarders (see `forward`), not through iptables.
//!
//! Namespaces are entered per thread (`setns(CLONE_NEWNET)` affects only the calling
//! thread), always on a short-lived thread of its own, so no thread of the checker is
//! ever left in another namespace.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::sched::{CloneFlags, setns, unshare};

/// A network namespace held by a descriptor of this process.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// A new, empty namespace with loopback up.
    pub fn new() -> io::Result<NetNs> {
        std::thread::scope(|s| {
            s.spawn(|| -> io::Result<NetNs> {
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| io_err("unshare(CLONE_NEWNET)", e.into()))?;
                let fd: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")?.into();
                crate::sys::loopback_up()
                    .map_err(|e| io::Error::other(format!("bringing lo up: {e}")))?;
                Ok(NetNs { fd })
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
        })
    }

    /// Run `f` on a thread inside this namespace: sockets it creates belong here.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| -> io::Result<T> {
                setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| io_err("setns(CLONE_NEWNET)", e.into()))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a namespace thread panicked")))
        })
    }

    /// Move the calling thread into this namespace for good (a forwarder's own thread).
    pub fn enter_here(&self) -> io::Result<()> {
        setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| io_err("setns(CLONE_NEWNET)", e.into()))
    }

    /// Another descriptor of the same namespace.
    pub fn duplicate(&self) -> io::Result<NetNs> {
        Ok(NetNs {
            fd: self.fd.try_clone()?,
        })
    }

    /// A path another process (the sandbox child) opens to join it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.fd.as_raw_fd()
        ))
    }

    /// The namespace's inode, as `ip netns identify` and `/proc/*/ns/net` name it.
    pub fn inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::File::from(self.fd.try_clone().expect("dup of a namespace fd"))
            .metadata()
            .map(|m| m.ino())
            .unwrap_or(0)
    }
}

fn io_err(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// An IPv4 subnet such as Nomad's `bridge_network_subnet` (`172.26.64.0/20`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl std::str::FromStr for Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not an IPv4 subnet such as 172.26.64.0/20");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let base: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(format!("{s}: the prefix must be between /8 and /30"));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            base: Ipv4Addr::from(u32::from(base) & mask),
            prefix,
        })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl Subnet {
    /// The `n`th host address (1 is the gateway, as host-local IPAM's default).
    pub fn host(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u32 << (32 - self.prefix);
        (n > 0 && n < size - 1).then(|| Ipv4Addr::from(u32::from(self.base) + n))
    }
}

/// Nomad's default bridge name and subnet
/// (`hashicorp/nomad:client/allocrunner/networking_bridge_linux.go`
/// `defaultNomadBridgeName`, `defaultNomadAllocSubnet`).
pub const BRIDGE_NAME: &str = "nomad";
pub const DEFAULT_SUBNET: &str = "172.26.64.0/20";

/// The run's "node" network: its namespace and the bridge in it.
#[derive(Debug)]
pub struct Bridge {
    pub node: NetNs,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    next: u32,
    veths: u32,
}

impl Bridge {
    /// The node namespace with the bridge up and the gateway address on it.
    pub fn create(subnet: Subnet) -> io::Result<Bridge> {
        let node = NetNs::new()?;
        let gateway = subnet
            .host(1)
            .ok_or_else(|| io::Error::other("the subnet has no host addresses"))?;
        node.enter(|| -> io::Result<()> {
            let nl = Netlink::open()?;
            let mut link = LinkMessage::default();
            link.attributes
                .push(LinkAttribute::IfName(BRIDGE_NAME.into()));
            link.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                    InfoKind::Bridge,
                )]));
            nl.request(
                RouteNetlinkMessage::NewLink(link),
                NLM_F_CREATE | NLM_F_EXCL,
                "create the bridge",
            )?;
            let index = if_index(BRIDGE_NAME)?;
            nl.add_address(index, gateway, subnet.prefix)?;
            nl.set_up(index, None)
        })??;
        Ok(Bridge {
            node,
            subnet,
            gateway,
            next: 2,
            veths: 0,
        })
    }

    /// The next free address of the subnet (host-local IPAM hands them out in order).
    pub fn allocate_ip(&mut self) -> io::Result<Ipv4Addr> {
        let ip = self.subnet.host(self.next).ok_or_else(|| {
            io::Error::other(format!("the subnet {} has no address left", self.subnet))
        })?;
        self.next += 1;
        Ok(ip)
    }

    /// Connect `alloc` to the bridge as the CNI bridge plugin does: a veth pair whose
    /// peer is `eth0` in the allocation with `ip`, the default route via the gateway.
    pub fn attach(&mut self, alloc: &NetNs, ip: Ipv4Addr) -> io::Result<String> {
        self.veths += 1;
        let host_side = format!("veth{}", self.veths);
        let alloc_fd = alloc.fd.as_raw_fd();
        let name = host_side.clone();
        self.node.enter(move || -> io::Result<()> {
            let nl = Netlink::open()?;
            let mut peer = LinkMessage::default();
            peer.attributes.push(LinkAttribute::IfName("eth0".into()));
            peer.attributes.push(LinkAttribute::NetNsFd(alloc_fd));
            let mut link = LinkMessage::default();
            link.attributes.push(LinkAttribute::IfName(name.clone()));
            link.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
            ]));
            nl.request(
                RouteNetlinkMessage::NewLink(link),
                NLM_F_CREATE | NLM_F_EXCL,
                "create a veth pair",
            )?;
            let bridge = if_index(BRIDGE_NAME)?;
            nl.set_up(if_index(&name)?, Some(bridge))
        })??;
        let (gw, prefix) = (self.gateway, self.subnet.prefix);
        alloc.enter(move || -> io::Result<()> {
            let nl = Netlink::open()?;
            let eth0 = if_index("eth0")?;
            nl.add_address(eth0, ip, prefix)?;
            nl.set_up(eth0, None)?;
            nl.add_default_route(gw)
        })??;
        Ok(host_side)
    }
}

fn if_index(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name)
        .map_err(|e| io_err(&format!("if_nametoindex({name})"), e.into()))
}

/// A NETLINK_ROUTE socket in the calling thread's namespace, for one request at a time.
struct Netlink {
    socket: Socket,
    seq: std::cell::Cell<u32>,
}

impl Netlink {
    fn open() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink {
            socket,
            seq: std::cell::Cell::new(1),
        })
    }

    /// Send one request and wait for its acknowledgement.
    fn request(&self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> io::Result<()> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        loop {
            let (reply, _) = self.socket.recv_from_full()?;
            let mut at = 0;
            while at < reply.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[at..])
                    .map_err(|e| io::Error::other(format!("{what}: bad netlink reply: {e}")))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == seq {
                    if let NetlinkPayload::Error(e) = msg.payload {
                        return match e.code {
                            None => Ok(()),
                            Some(code) => {
                                Err(io_err(what, io::Error::from_raw_os_error(-code.get())))
                            }
                        };
                    }
                }
                if len == 0 {
                    break;
                }
                at += len;
            }
        }
    }

    fn set_up(&self, index: u32, controller: Option<u32>) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        if let Some(c) = controller {
            link.attributes.push(LinkAttribute::Controller(c));
        }
        self.request(RouteNetlinkMessage::SetLink(link), 0, "set a link up")
    }

    fn add_address(&self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut addr = AddressMessage::default();
        addr.header.family = AddressFamily::Inet;
        addr.header.prefix_len = prefix;
        addr.header.index = index;
        addr.attributes
            .push(AddressAttribute::Local(IpAddr::V4(ip)));
        addr.attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        self.request(
            RouteNetlinkMessage::NewAddress(addr),
            NLM_F_CREATE | NLM_F_EXCL,
            "add an address",
        )
    }

    fn add_default_route(&self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        route
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
            "add the default route",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_like_nomads_option() {
        let s: Subnet = DEFAULT_SUBNET.parse().unwrap();
        assert_eq!(s.host(1), Some(Ipv4Addr::new(172, 26, 64, 1)));
        assert_eq!(s.host(2), Some(Ipv4Addr::new(172, 26, 64, 2)));
        assert_eq!(s.host(4095), None, "the broadcast address is not a host");
        assert_eq!(s.to_string(), "172.26.64.0/20");
        let t: Subnet = "10.1.2.3/24".parse().unwrap();
        assert_eq!(t.to_string(), "10.1.2.0/24");
        assert!("10.0.0.0".parse::<Subnet>().is_err());
        assert!("10.0.0.0/31".parse::<Subnet>().is_err());
    }
}

#[cfg(test)]
mod root_tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// Root only: an allocation on the bridge is reachable at its address from the node.
    #[test]
    fn allocation_on_the_bridge_is_reachable_from_the_node() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let mut bridge = Bridge::create("10.213.0.0/24".parse().unwrap()).unwrap();
        let alloc = NetNs::new().unwrap();
        let ip = bridge.allocate_ip().unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 213, 0, 2));
        bridge.attach(&alloc, ip).unwrap();
        let listener = alloc.enter(|| TcpListener::bind((ip, 0))).unwrap().unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"hi").unwrap();
        });
        let mut got = String::new();
        bridge
            .node
            .enter(|| TcpStream::connect((ip, port)))
            .unwrap()
            .unwrap()
            .read_to_string(&mut got)
            .unwrap();
        server.join().unwrap();
        assert_eq!(got, "hi");
        // And out of the allocation through its default route to the gateway.
        let gw = bridge.gateway;
        let l2 = bridge
            .node
            .enter(|| TcpListener::bind((gw, 0)))
            .unwrap()
            .unwrap();
        let p2 = l2.local_addr().unwrap().port();
        alloc
            .enter(|| TcpStream::connect((gw, p2)))
            .unwrap()
            .unwrap();
    }
}
