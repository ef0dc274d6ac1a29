//! The run's userspace TCP forwarders: what the CNI `portmap` plugin (host ports), the
//! Envoy sidecars (Connect upstreams) and the Envoy ingress gateway do for a real
//! allocation. Each listener is created inside the namespace where the real one would
//! listen, and each outgoing connection inside the namespace it would come from, so
//! what a task sees (a listener on `127.0.0.1:<local_bind_port>`, a connection from
//! loopback to its service port) is what it sees under Nomad.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::netns::NetNs;

/// Where one connection goes: an address, reached from inside `ns` (the host's own
/// namespace when `None`).
#[derive(Debug, Clone)]
pub struct Target {
    pub ns: Option<Arc<NetNs>>,
    pub addr: SocketAddr,
}

/// Picks the target of each new connection (e.g. a healthy instance of a service);
/// `Err` says why there is none, and the connection is closed, as Envoy does when a
/// cluster has no healthy endpoint.
pub type Router = Arc<dyn Fn() -> Result<Target, String> + Send + Sync>;

/// What a forwarder did, for the report.
#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub failed: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// A running forwarder; dropping it stops accepting (connections in flight finish).
pub struct Forwarder {
    pub name: String,
    pub listen: SocketAddr,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Bind a listener inside `ns` (the host's namespace when `None`).
pub fn bind(ns: Option<&NetNs>, addr: SocketAddr) -> io::Result<TcpListener> {
    let l = match ns {
        Some(ns) => ns.enter(|| TcpListener::bind(addr))??,
        None => TcpListener::bind(addr)?,
    };
    l.set_nonblocking(true)?;
    Ok(l)
}

impl Forwarder {
    pub fn start(name: String, listener: TcpListener, router: Router) -> io::Result<Forwarder> {
        let listen = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (s, c) = (stop.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fwd {name}"))
            .spawn(move || accept_loop(listener, router, s, c))?;
        Ok(Forwarder {
            name,
            listen,
            counters,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, router: Router, stop: Arc<AtomicBool>, c: Arc<Counters>) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    while !stop.load(Ordering::Acquire) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::from(100u8)), Ok(n) if n > 0) {
            continue;
        }
        let Ok((down, _)) = listener.accept() else {
            continue;
        };
        c.accepted.fetch_add(1, Ordering::Relaxed);
        let (router, c) = (router.clone(), c.clone());
        let _ = std::thread::Builder::new()
            .name("fwd conn".into())
            .spawn(move || {
                if let Err(e) = relay(down, &router) {
                    c.failed.fetch_add(1, Ordering::Relaxed);
                    *c.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                }
            });
    }
}

/// Connect to the routed target and copy both ways until both sides are done.
fn relay(down: TcpStream, router: &Router) -> Result<(), String> {
    let _ = down.set_nonblocking(false);
    let target = router()?;
    let connect = || TcpStream::connect_timeout(&target.addr, Duration::from_secs(5));
    let up = match &target.ns {
        Some(ns) => ns.enter(connect).map_err(|e| e.to_string())?,
        None => connect(),
    }
    .map_err(|e| format!("connect to {}: {e}", target.addr))?;
    let (d2, u2) = (
        down.try_clone().map_err(|e| e.to_string())?,
        up.try_clone().map_err(|e| e.to_string())?,
    );
    let back = std::thread::spawn(move || pipe(u2, d2));
    pipe(down, up);
    let _ = back.join();
    Ok(())
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_both_ways_and_counts_refusals() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut b = Vec::new();
            s.read_to_end(&mut b).unwrap();
            s.write_all(&b).unwrap();
        });
        let l = bind(None, "127.0.0.1:0".parse().unwrap()).unwrap();
        let f = Forwarder::start(
            "t".into(),
            l,
            Arc::new(move || {
                Ok(Target {
                    ns: None,
                    addr: echo_addr,
                })
            }),
        )
        .unwrap();
        let mut s = TcpStream::connect(f.listen).unwrap();
        s.write_all(b"ping").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert_eq!(got, "ping");

        let l = bind(None, "127.0.0.1:0".parse().unwrap()).unwrap();
        let g = Forwarder::start("none".into(), l, Arc::new(|| Err("no instance".into()))).unwrap();
        let mut s = TcpStream::connect(g.listen).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert!(got.is_empty());
        for _ in 0..100 {
            if g.counters.failed.load(Ordering::Relaxed) == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(g.counters.failed.load(Ordering::Relaxed), 1);
    }
}
