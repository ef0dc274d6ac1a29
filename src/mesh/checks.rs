//! Service checks as Consul's agent runs them (`http`: a request, 2xx passes, 429
//! warns, anything else is critical; `tcp`: a connection; `script`: the command in the
//! task, exit 0 passes, 1 warns), with Consul's output texts. A check starts
//! `critical`, as Consul registers it, and runs every `interval` after a random
//! stagger within the first interval (`agent/checks/check.go`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde::Serialize;

use super::forward::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Critical,
    Warning,
    Passing,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Critical => "critical",
            Status::Warning => "warning",
            Status::Passing => "passing",
        })
    }
}

/// How a check probes.
#[derive(Debug, Clone)]
pub enum Probe {
    Http {
        target: Target,
        path: String,
        method: String,
        https: bool,
        body: Option<String>,
    },
    Tcp {
        target: Target,
    },
    /// Run in the task `task` (an index into the allocation's tasks).
    Script {
        task: usize,
        command: String,
        args: Vec<String>,
    },
}

/// Consul's output is cut at 4 KiB (`agent/checks` `BufSize`).
const OUTPUT_MAX: usize = 4096;

/// One HTTP check (`CheckHTTP.check`).
pub fn http(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> (Status, String) {
    let url = format!("http://{}{path}", target.addr);
    let connect = || TcpStream::connect_timeout(&target.addr, timeout);
    let stream = match &target.ns {
        Some(ns) => ns.enter(connect).and_then(|r| r),
        None => connect(),
    };
    let mut s = match stream {
        Ok(s) => s,
        Err(e) => {
            return (
                Status::Critical,
                format!("Get \"{url}\": dial tcp {}: connect: {e}", target.addr),
            );
        }
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Consul Health Check\r\nAccept: text/plain, text/*, */*\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        target.addr,
        body.len()
    );
    if let Err(e) = s.write_all(req.as_bytes()) {
        return (Status::Critical, format!("{method} \"{url}\": {e}"));
    }
    let mut resp = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                resp.extend_from_slice(&buf[..n]);
                if resp.len() > 64 << 10 {
                    break;
                }
            }
            Err(e) if resp.is_empty() => {
                return (
                    Status::Critical,
                    format!("{method} \"{url}\": context deadline exceeded ({e})"),
                );
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&resp);
    let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let Some(code) = parts.next().and_then(|c| c.parse::<u16>().ok()) else {
        return (
            Status::Critical,
            format!("{method} \"{url}\": malformed HTTP response {status_line:?}"),
        );
    };
    let reason = parts.next().unwrap_or("");
    let mut output: String = payload.chars().take(OUTPUT_MAX).collect();
    if output.len() < payload.len() {
        output.push_str(" ...");
    }
    let line = format!("HTTP {method} {url}: {code} {reason} Output: {output}");
    let status = match code {
        200..=299 => Status::Passing,
        429 => Status::Warning,
        _ => Status::Critical,
    };
    (status, line)
}

/// One TCP check (`CheckTCP.check`).
pub fn tcp(target: &Target, timeout: Duration) -> (Status, String) {
    let connect = || TcpStream::connect_timeout(&target.addr, timeout);
    let r = match &target.ns {
        Some(ns) => ns.enter(connect).and_then(|r| r),
        None => connect(),
    };
    match r {
        Ok(_) => (
            Status::Passing,
            format!("TCP connect {}: Success", target.addr),
        ),
        Err(e) => (
            Status::Critical,
            format!("dial tcp {}: connect: {e}", target.addr),
        ),
    }
}

/// A script check's verdict from its exit code (`CheckMonitor.check`).
pub fn script_status(exit_code: Option<i32>, timed_out: bool) -> Status {
    match (exit_code, timed_out) {
        (_, true) => Status::Critical,
        (Some(0), _) => Status::Passing,
        (Some(1), _) => Status::Warning,
        _ => Status::Critical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve(reply: &'static str) -> Target {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            s.write_all(reply.as_bytes()).unwrap();
        });
        Target { ns: None, addr }
    }

    #[test]
    fn http_checks_judge_the_status_code() {
        let t = serve("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let (s, out) = http(&t, "GET", "/", None, Duration::from_secs(2));
        assert_eq!(s, Status::Passing);
        assert!(out.starts_with("HTTP GET http://127.0.0.1:"), "{out}");
        assert!(out.ends_with("/: 200 OK Output: ok"), "{out}");
        let t = serve("HTTP/1.1 500 Internal Server Error\r\n\r\nboom");
        let (s, out) = http(&t, "GET", "/", None, Duration::from_secs(2));
        assert_eq!(s, Status::Critical);
        assert!(
            out.contains("500 Internal Server Error Output: boom"),
            "{out}"
        );
        let t = serve("HTTP/1.1 429 Too Many Requests\r\n\r\n");
        assert_eq!(
            http(&t, "GET", "/", None, Duration::from_secs(2)).0,
            Status::Warning
        );
        // Nothing listening.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let (s, out) = tcp(&Target { ns: None, addr }, Duration::from_secs(1));
        assert_eq!(s, Status::Critical);
        assert!(out.contains("connect"), "{out}");
        assert_eq!(script_status(Some(1), false), Status::Warning);
        assert_eq!(script_status(Some(0), true), Status::Critical);
    }
}
