//! Nomad's HTTP API, read as the `nomad` CLI reads it (`hashicorp/nomad:api/api.go`
//! `DefaultConfig`, `newRequest`, `toHTTP`, `ConfigureTLS`; `api/fs.go`
//! `queryClientNode`): the same environment variables, `region`/`namespace` query
//! parameters, the `X-Nomad-Token` header, TLS with the same CA, client certificate,
//! server name and skip-verify settings, and logs read from the client node directly
//! (1 s to connect, `ClientConnTimeout`) before going through the server.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::model::{Allocation, AllocationListStub, Node};

/// The API's default address (`api.DefaultConfig`).
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:4646";
/// `api.ClientConnTimeout`: how long to try a client node before going through a server.
pub const CLIENT_CONN_TIMEOUT: Duration = Duration::from_secs(1);
/// Connecting to the server, and the whole of one request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// No API answer `alloc` reads comes close (a job is capped at Nomad's 16 MiB body).
const MAX_BODY: u64 = 64 << 20;
/// The log tail read from each stream.
pub const LOG_TAIL_BYTES: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A bad setting (exit 2).
    #[error("{0}")]
    Config(String),
    /// Nomad answered with an error status (403 and 404 with what to do).
    #[error("{method} {url}: {status} {body}{}", hint_suffix(.hint))]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
        hint: Option<String>,
    },
    /// The TLS handshake failed: certificate, name or client certificate.
    #[error("TLS with {addr} failed: {detail}; {hint}")]
    Tls {
        addr: String,
        detail: String,
        hint: String,
    },
    /// No connection (refused, timed out, DNS).
    #[error("cannot reach {addr}: {detail}")]
    Unreachable { addr: String, detail: String },
    #[error("{url}: {detail}")]
    Decode { url: String, detail: String },
}

fn hint_suffix(h: &Option<String>) -> String {
    h.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

impl ApiError {
    /// Bad input (a wrong ID, token or setting) is 2; a cluster we cannot reach is 3.
    pub fn exit_code(&self) -> crate::error::ExitCode {
        use crate::error::ExitCode;
        match self {
            ApiError::Config(_) | ApiError::Status { .. } | ApiError::Decode { .. } => {
                ExitCode::Reject
            }
            ApiError::Tls { .. } | ApiError::Unreachable { .. } => ExitCode::Error,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<ApiError> for crate::error::Error {
    fn from(e: ApiError) -> Self {
        match e.exit_code() {
            crate::error::ExitCode::Error => crate::error::Error::Unsupported(e.to_string()),
            _ => crate::error::Error::Usage(e.to_string()),
        }
    }
}

/// `api.TLSConfig` as the environment sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub server_name: Option<String>,
    pub insecure: bool,
}

/// `api.Config` as `DefaultConfig` reads it from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    pub address: String,
    pub region: Option<String>,
    pub namespace: Option<String>,
    pub token: Option<String>,
    /// `NOMAD_HTTP_AUTH`: `user[:password]`.
    pub http_auth: Option<(String, String)>,
    pub tls: TlsSettings,
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl ApiConfig {
    /// Every variable `api.DefaultConfig` honours; empty ones count as unset, as there.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> ApiConfig {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        let path = |k: &str| var(k).map(PathBuf::from);
        ApiConfig {
            address: var("NOMAD_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
            region: var("NOMAD_REGION"),
            namespace: var("NOMAD_NAMESPACE"),
            token: var("NOMAD_TOKEN"),
            http_auth: var("NOMAD_HTTP_AUTH").map(|a| match a.split_once(':') {
                Some((u, p)) => (u.to_owned(), p.to_owned()),
                None => (a, String::new()),
            }),
            tls: TlsSettings {
                ca_cert: path("NOMAD_CACERT"),
                ca_path: path("NOMAD_CAPATH"),
                client_cert: path("NOMAD_CLIENT_CERT"),
                client_key: path("NOMAD_CLIENT_KEY"),
                server_name: var("NOMAD_TLS_SERVER_NAME"),
                // An unparsable value is ignored, as `DefaultConfig` ignores it.
                insecure: var("NOMAD_SKIP_VERIFY")
                    .and_then(|v| parse_go_bool(&v))
                    .unwrap_or(false),
            },
        }
    }
}

/// A client for one agent (a server, or a client node for its logs).
pub struct Client {
    agent: ureq::Agent,
    /// `scheme://host:port`, no trailing slash.
    base: String,
    cfg: ApiConfig,
}

impl Client {
    pub fn new(cfg: &ApiConfig) -> Result<Client, ApiError> {
        Client::with(
            cfg,
            &cfg.address,
            cfg.tls.server_name.clone(),
            CONNECT_TIMEOUT,
        )
    }

    fn with(
        cfg: &ApiConfig,
        address: &str,
        server_name: Option<String>,
        connect: Duration,
    ) -> Result<Client, ApiError> {
        let (scheme, rest) = address.split_once("://").ok_or_else(|| {
            ApiError::Config(format!(
                "NOMAD_ADDR `{address}` is not a URL (expected e.g. http://127.0.0.1:4646)"
            ))
        })?;
        if scheme == "unix" {
            return Err(ApiError::Config(format!(
                "NOMAD_ADDR `{address}`: unix sockets are not supported here; use the agent's http(s) address"
            )));
        }
        if scheme != "http" && scheme != "https" {
            return Err(ApiError::Config(format!(
                "NOMAD_ADDR `{address}`: unknown scheme `{scheme}` (use http:// or https://)"
            )));
        }
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() {
            return Err(ApiError::Config(format!(
                "NOMAD_ADDR `{address}` has no host"
            )));
        }
        let mut b = ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("nomad-chroot-check/", env!("CARGO_PKG_VERSION")));
        if scheme == "https" {
            b = b.tls_config(tls_config(&cfg.tls, server_name)?);
        }
        Ok(Client {
            agent: b.build(),
            base: format!("{scheme}://{host}"),
            cfg: cfg.clone(),
        })
    }

    /// A client for a node's own HTTP address (`Config.ClientConfig`): https when the
    /// node has TLS, verified as `client.<region>.nomad`.
    pub fn for_node(&self, node: &Node) -> Result<Client, ApiError> {
        let scheme = if node.tls_enabled { "https" } else { "http" };
        let region = self.cfg.region.as_deref().unwrap_or("global");
        let name = node.tls_enabled.then(|| format!("client.{region}.nomad"));
        Client::with(
            &self.cfg,
            &format!("{scheme}://{}", node.http_addr),
            name,
            CLIENT_CONN_TIMEOUT,
        )
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET `path` with the config's region, namespace and token, plus `params`.
    fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<ureq::Response, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        if let Some(r) = &self.cfg.region {
            req = req.query("region", r);
        }
        // A query's own namespace (the matched alloc's) replaces the config's.
        let own_ns = params.iter().any(|(k, _)| *k == "namespace");
        if let (Some(ns), false) = (&self.cfg.namespace, own_ns) {
            req = req.query("namespace", ns);
        }
        for (k, v) in params {
            req = req.query(k, v);
        }
        if let Some(t) = &self.cfg.token {
            req = req.set("X-Nomad-Token", t);
        }
        if let Some((u, p)) = &self.cfg.http_auth {
            use base64::Engine;
            let cred = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            req = req.set("Authorization", &format!("Basic {cred}"));
        }
        match req.call() {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(status, r)) => {
                let mut body = String::new();
                let _ = r.into_reader().take(4096).read_to_string(&mut body);
                let body = body.trim().to_owned();
                Err(ApiError::Status {
                    method: "GET",
                    hint: status_hint(status, path, &body, self.cfg.token.is_some()),
                    url,
                    status,
                    body,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(transport_error(&self.base, &t)),
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let r = self.get(path, params)?;
        let url = r.get_url().to_owned();
        serde_json::from_reader(r.into_reader().take(MAX_BODY)).map_err(|e| ApiError::Decode {
            url,
            detail: format!("not the JSON Nomad sends: {e}"),
        })
    }

    /// `GET /v1/allocations?prefix=` (`Allocations.PrefixList`).
    pub fn alloc_prefix(&self, prefix: &str) -> Result<Vec<AllocationListStub>, ApiError> {
        self.get_json("/v1/allocations", &[("prefix", prefix)])
    }

    /// `GET /v1/allocation/:id` in the allocation's namespace, as `alloc status` asks.
    pub fn allocation(&self, id: &str, namespace: &str) -> Result<Allocation, ApiError> {
        let ns: Vec<(&str, &str)> = if namespace.is_empty() {
            Vec::new()
        } else {
            vec![("namespace", namespace)]
        };
        self.get_json(&format!("/v1/allocation/{id}"), &ns)
    }

    /// `GET /v1/node/:id`: the typed node and the raw object.
    pub fn node(&self, id: &str) -> Result<(Node, serde_json::Value), ApiError> {
        let raw: serde_json::Value = self.get_json(&format!("/v1/node/{id}"), &[])?;
        let node = serde_json::from_value(raw.clone()).map_err(|e| ApiError::Decode {
            url: format!("{}/v1/node/{id}", self.base),
            detail: e.to_string(),
        })?;
        Ok((node, raw))
    }

    /// The last [`LOG_TAIL_BYTES`] of a task's `stdout` or `stderr`
    /// (`/v1/client/fs/logs/:alloc_id`, plain text, not followed).
    pub fn log_tail(
        &self,
        alloc: &Allocation,
        task: &str,
        stream: &str,
    ) -> Result<String, ApiError> {
        let offset = LOG_TAIL_BYTES.to_string();
        let ns = alloc.namespace.as_str();
        let mut params = vec![
            ("task", task),
            ("type", stream),
            ("origin", "end"),
            ("offset", offset.as_str()),
            ("plain", "true"),
            ("follow", "false"),
        ];
        if !ns.is_empty() {
            params.push(("namespace", ns));
        }
        let r = self.get(&format!("/v1/client/fs/logs/{}", alloc.id), &params)?;
        let mut buf = Vec::new();
        r.into_reader()
            .take(LOG_TAIL_BYTES * 4)
            .read_to_end(&mut buf)
            .map_err(|e| ApiError::Unreachable {
                addr: self.base.clone(),
                detail: format!("the log stream broke off: {e}"),
            })?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// What a 403 or 404 means for the endpoint, and what to do.
fn status_hint(status: u16, path: &str, body: &str, has_token: bool) -> Option<String> {
    let capability = if path.starts_with("/v1/node/") {
        "node:read"
    } else if path.starts_with("/v1/client/fs/logs/") {
        "namespace:read-logs (or read-fs)"
    } else {
        "namespace:read-job"
    };
    match status {
        403 if body.contains("token not found") || body.contains("token expired") => Some(
            "the ACL token in NOMAD_TOKEN is unknown or expired: log in again (`nomad login`) or set another token"
                .into(),
        ),
        403 if !has_token => Some(format!(
            "ACLs are enabled and NOMAD_TOKEN is not set: set a token whose policy grants {capability}"
        )),
        403 => Some(format!(
            "the ACL token lacks {capability} (in the allocation's namespace): add it to the token's policy"
        )),
        404 if path.starts_with("/v1/allocation/") => Some(
            "no such allocation: the ID is wrong, or the allocation was garbage-collected (`nomad system gc` and the servers' job_gc_threshold remove dead ones); on the client node its directory may still exist: try --alloc-dir".into(),
        ),
        404 if path.starts_with("/v1/node/") => {
            Some("the allocation's node is gone from the cluster (garbage-collected)".into())
        }
        404 if path.starts_with("/v1/client/fs/logs/") => Some(
            "the client has no logs for the task: logging disabled, or the allocation directory was garbage-collected"
                .into(),
        ),
        _ => None,
    }
}

/// A transport error, with TLS failures told apart (they need another setting, not
/// another address).
fn transport_error(addr: &str, t: &ureq::Transport) -> ApiError {
    let mut chain = t.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(t);
    let mut tls: Option<String> = None;
    while let Some(e) = src {
        let s = e.to_string();
        if !chain.contains(&s) {
            chain.push_str(": ");
            chain.push_str(&s);
        }
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            tls = Some(r.to_string());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                tls = Some(r.to_string());
            }
        }
        src = e.source();
    }
    if tls.is_none() && (chain.contains("InvalidCertificate") || chain.contains("AlertReceived")) {
        tls = Some(chain.clone());
    }
    match tls {
        Some(detail) => {
            let hint = if detail.contains("UnknownIssuer") {
                "set NOMAD_CACERT (or NOMAD_CAPATH) to the cluster's CA certificate"
            } else if detail.contains("NotValidForName") {
                "the certificate does not name this address: set NOMAD_TLS_SERVER_NAME (e.g. server.global.nomad)"
            } else if detail.contains("Expired") || detail.contains("NotValidYet") {
                "the agent's certificate has expired or is not valid yet"
            } else if detail.contains("CertificateRequired") || detail.contains("alert") {
                "the agent asks for a client certificate: set NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY"
            } else {
                "check NOMAD_CACERT, NOMAD_CLIENT_CERT/NOMAD_CLIENT_KEY and NOMAD_TLS_SERVER_NAME (NOMAD_SKIP_VERIFY=1 skips verification)"
            };
            ApiError::Tls {
                addr: addr.to_owned(),
                detail,
                hint: hint.to_owned(),
            }
        }
        None => ApiError::Unreachable {
            addr: addr.to_owned(),
            detail: chain,
        },
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ApiError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            ApiError::Config(format!(
                "cannot read PEM certificates from `{}`: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ApiError::Config(format!(
            "`{}` holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// rustls settings equal to `ConfigureTLS`'s: the CA file or directory (else the
/// system's roots), a client certificate when both halves are set, the server name to
/// verify, or no verification at all.
fn tls_config(
    t: &TlsSettings,
    server_name: Option<String>,
) -> Result<Arc<rustls::ClientConfig>, ApiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match (&t.ca_cert, &t.ca_path) {
        (None, None) => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
        (file, dir) => {
            if let Some(f) = file {
                roots.add_parsable_certificates(read_certs(f)?);
            }
            if let Some(d) = dir {
                let rd = std::fs::read_dir(d).map_err(|e| {
                    ApiError::Config(format!("NOMAD_CAPATH `{}`: {e}", d.display()))
                })?;
                let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                files.sort();
                for f in files.iter().filter(|f| f.is_file()) {
                    if let Ok(certs) = read_certs(f) {
                        roots.add_parsable_certificates(certs);
                    }
                }
            }
            if roots.is_empty() {
                return Err(ApiError::Config(
                    "NOMAD_CACERT/NOMAD_CAPATH hold no usable CA certificate".into(),
                ));
            }
        }
    }
    let verifier: Arc<dyn ServerCertVerifier> = if t.insecure {
        Arc::new(NoVerification(provider.clone()))
    } else {
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| ApiError::Config(format!("TLS roots: {e}")))?;
        match server_name {
            Some(n) => Arc::new(NamedVerifier {
                name: ServerName::try_from(n.clone()).map_err(|_| {
                    ApiError::Config(format!("NOMAD_TLS_SERVER_NAME `{n}` is not a DNS name"))
                })?,
                inner,
            }),
            None => inner,
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::Config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&t.client_cert, &t.client_key) {
        (Some(c), Some(k)) => {
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| {
                ApiError::Config(format!(
                    "NOMAD_CLIENT_KEY `{}`: no PEM private key: {e}",
                    k.display()
                ))
            })?;
            builder
                .with_client_auth_cert(read_certs(c)?, key)
                .map_err(|e| ApiError::Config(format!("NOMAD_CLIENT_CERT/NOMAD_CLIENT_KEY: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        // api.ConfigureTLS: "Both client cert and client key must be provided".
        _ => {
            return Err(ApiError::Config(
                "Both client cert and client key must be provided (NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)".into(),
            ));
        }
    };
    Ok(Arc::new(config))
}

/// Go's `tls.Config.ServerName`: the certificate is verified for this name whatever
/// the address dialled.
#[derive(Debug)]
struct NamedVerifier {
    name: ServerName<'static>,
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `NOMAD_SKIP_VERIFY` (Go's `InsecureSkipVerify`): any certificate, any name; the
/// handshake signatures are still checked, as Go checks them.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sanitizeUUIDPrefix` (`hashicorp/nomad:command/helpers.go`): the API wants an even
/// number of hex digits, so an odd last one is dropped.
pub fn sanitize_prefix(prefix: &str) -> &str {
    let hex = prefix.chars().filter(|c| *c != '-').count();
    &prefix[..prefix.len() - hex % 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_variable_the_cli_reads() {
        let env = |k: &str| -> Option<String> {
            Some(
                match k {
                    "NOMAD_ADDR" => "https://10.0.0.1:4646",
                    "NOMAD_REGION" => "eu",
                    "NOMAD_NAMESPACE" => "apps",
                    "NOMAD_TOKEN" => "s3cr3t",
                    "NOMAD_HTTP_AUTH" => "ops:pw:with:colons",
                    "NOMAD_CACERT" => "/ca.pem",
                    "NOMAD_CAPATH" => "/cas",
                    "NOMAD_CLIENT_CERT" => "/c.pem",
                    "NOMAD_CLIENT_KEY" => "/k.pem",
                    "NOMAD_TLS_SERVER_NAME" => "server.eu.nomad",
                    "NOMAD_SKIP_VERIFY" => "T",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        let c = ApiConfig::from_env(env);
        assert_eq!(c.address, "https://10.0.0.1:4646");
        assert_eq!(c.region.as_deref(), Some("eu"));
        assert_eq!(c.namespace.as_deref(), Some("apps"));
        assert_eq!(c.token.as_deref(), Some("s3cr3t"));
        assert_eq!(c.http_auth, Some(("ops".into(), "pw:with:colons".into())));
        assert_eq!(c.tls.ca_path, Some(PathBuf::from("/cas")));
        assert_eq!(c.tls.server_name.as_deref(), Some("server.eu.nomad"));
        assert!(c.tls.insecure);
        let d = ApiConfig::from_env(|k| (k == "NOMAD_SKIP_VERIFY").then(|| "yes".to_owned()));
        assert_eq!(d.address, DEFAULT_ADDR);
        assert!(!d.tls.insecure, "ParseBool refuses `yes`, so it is ignored");
    }

    #[test]
    fn prefixes_are_cut_to_even_hex_digits() {
        assert_eq!(sanitize_prefix("8f2c1d"), "8f2c1d");
        assert_eq!(sanitize_prefix("8f2c1"), "8f2c");
        assert_eq!(sanitize_prefix("8f2c1d7a-1"), "8f2c1d7a-");
    }

    #[test]
    fn refuses_half_a_client_certificate_and_unix_sockets() {
        let mut c = ApiConfig::from_env(|_| None);
        c.address = "unix:///var/run/nomad.sock".into();
        assert!(
            Client::new(&c)
                .err()
                .unwrap()
                .to_string()
                .contains("unix sockets")
        );
        c.address = "https://127.0.0.1:1".into();
        c.tls.client_cert = Some("/c.pem".into());
        let e = Client::new(&c).err().unwrap().to_string();
        assert!(e.contains("Both client cert and client key"), "{e}");
    }
}
