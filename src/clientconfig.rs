//! The parts of a Nomad agent configuration that change what an exec task sees:
//! `client { chroot_env {} artifact {} }` and `plugin "exec" { config {} }`.
//!
//! Agent configs are HCL1 (`hashicorp/hcl` v1), which allows quoted keys inside a block
//! (`chroot_env { "/etc/passwd" = "/etc/passwd" }`). HCL2, and so `hcl-rs`, only allows
//! them in an object expression, so such blocks are rewritten to `chroot_env = { … }`
//! (equivalent in HCL1) before parsing. Several files merge as the agent merges them
//! (`hashicorp/nomad:command/agent/config.go` `Merge`): later scalars win, maps merge
//! key by key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read client config `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("client config `{path}` is not valid HCL: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("client config `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ConfigError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Reject
    }
}

/// The merged settings that matter to us. `None` means "not set in any file".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    /// `client.chroot_env`, host source → task destination.
    pub chroot_env: BTreeMap<String, String>,
    /// `client.artifact.decompression_file_count_limit`.
    pub file_count_limit: Option<u64>,
    /// `client.artifact.decompression_size_limit`, in bytes.
    pub size_limit: Option<u64>,
    /// `plugin "exec" { config { allow_caps } }`.
    pub allow_caps: Option<Vec<String>>,
    pub default_pid_mode: Option<String>,
    pub default_ipc_mode: Option<String>,
    pub no_pivot_root: Option<bool>,
    /// `client.alloc_dir`: chroot_env entries equal to it are skipped (`TaskDir.skip`).
    pub alloc_dir: Option<String>,
    /// `client.max_kill_timeout` (default 30s): caps a task's `kill_timeout`.
    pub max_kill_timeout: Option<String>,
    /// The node identity a jobspec's `${node.*}` and `${meta.*}` read: top-level
    /// `datacenter`, `name`, `region`, and `client { node_class meta {} }`.
    pub datacenter: Option<String>,
    pub node_name: Option<String>,
    pub region: Option<String>,
    pub node_class: Option<String>,
    pub node_meta: BTreeMap<String, String>,
    /// `client { options { … } }`, e.g. `user.denylist`, `user.checked_drivers`.
    pub options: BTreeMap<String, String>,
    /// `client.bridge_network_subnet` (Nomad's default `172.26.64.0/20`).
    pub bridge_network_subnet: Option<String>,
}

impl ClientConfig {
    /// Read and merge several files in order.
    pub fn load(paths: &[PathBuf]) -> Result<ClientConfig, ConfigError> {
        let mut merged = ClientConfig::default();
        for path in paths {
            let text =
                crate::config::read_input_file(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
            merged.merge(ClientConfig::parse(path, &text)?);
        }
        Ok(merged)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ClientConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let value: Value = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        } else {
            // hcl-rs's parser recurses once per bracket: a deep enough nesting overflows
            // the stack, so it is refused first.
            crate::hclguard::check_nesting(text).map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: format!("{}:{e}\n  | {}", path.display(), e.text),
            })?;
            hcl::from_str(&hcl1_quoted_key_blocks(text)).map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        };
        let mut cfg = ClientConfig::default();
        for (key, field) in [
            ("datacenter", &mut cfg.datacenter),
            ("name", &mut cfg.node_name),
            ("region", &mut cfg.region),
        ] {
            if let Some(v) = value.get(key).and_then(Value::as_str) {
                *field = Some(v.to_owned());
            }
        }
        for client in blocks(&value, "client") {
            for chroot in blocks(client, "chroot_env") {
                let Value::Object(map) = chroot else {
                    return Err(invalid(
                        "`client.chroot_env` must be a map of \"SRC\" = \"DST\"".into(),
                    ));
                };
                for (src, dst) in map {
                    let Value::String(dst) = dst else {
                        return Err(invalid(format!(
                            "`client.chroot_env` entry `{src}` must be a string destination"
                        )));
                    };
                    cfg.chroot_env.insert(src.clone(), dst.clone());
                }
            }
            if let Some(v) = client.get("alloc_dir").and_then(Value::as_str) {
                cfg.alloc_dir = Some(v.to_owned());
            }
            if let Some(v) = client.get("max_kill_timeout").and_then(Value::as_str) {
                cfg.max_kill_timeout = Some(v.to_owned());
            }
            if let Some(v) = client.get("bridge_network_subnet").and_then(Value::as_str) {
                cfg.bridge_network_subnet = Some(v.to_owned());
            }
            if let Some(v) = client.get("node_class").and_then(Value::as_str) {
                cfg.node_class = Some(v.to_owned());
            }
            for (name, into) in [("meta", &mut cfg.node_meta), ("options", &mut cfg.options)] {
                for body in blocks(client, name) {
                    let Value::Object(map) = body else {
                        return Err(invalid(format!("`client.{name}` must be a map of strings")));
                    };
                    for (k, v) in map {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            other => {
                                return Err(invalid(format!(
                                    "`client.{name}.{k}` must be a string, got {other}"
                                )));
                            }
                        };
                        into.insert(k.clone(), v);
                    }
                }
            }
            for artifact in blocks(client, "artifact") {
                if let Some(v) = artifact.get("decompression_file_count_limit") {
                    cfg.file_count_limit = Some(as_count(v).ok_or_else(|| {
                        invalid(format!(
                            "`decompression_file_count_limit` must be a number, got {v}"
                        ))
                    })?);
                }
                if let Some(v) = artifact.get("decompression_size_limit") {
                    cfg.size_limit = Some(as_size(v).ok_or_else(|| {
                        invalid(format!(
                            "`decompression_size_limit` must be a size such as \"100GB\", got {v}"
                        ))
                    })?);
                }
            }
        }
        for plugin in labelled_blocks(&value, "plugin") {
            let (name, body) = plugin;
            if name != "exec" {
                continue;
            }
            for config in blocks(body, "config") {
                if let Some(v) = config.get("allow_caps") {
                    let caps = v.as_array().map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    });
                    cfg.allow_caps = Some(caps.ok_or_else(|| {
                        invalid("`allow_caps` must be a list of capability names".into())
                    })?);
                }
                if let Some(v) = config.get("default_pid_mode").and_then(Value::as_str) {
                    cfg.default_pid_mode = Some(v.to_owned());
                }
                if let Some(v) = config.get("default_ipc_mode").and_then(Value::as_str) {
                    cfg.default_ipc_mode = Some(v.to_owned());
                }
                if let Some(v) = config.get("no_pivot_root").and_then(Value::as_bool) {
                    cfg.no_pivot_root = Some(v);
                }
            }
        }
        Ok(cfg)
    }

    /// Merge `later` over `self` as the agent merges config files.
    pub fn merge(&mut self, later: ClientConfig) {
        self.chroot_env.extend(later.chroot_env);
        self.node_meta.extend(later.node_meta);
        self.options.extend(later.options);
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        take!(
            file_count_limit,
            size_limit,
            allow_caps,
            default_pid_mode,
            default_ipc_mode,
            no_pivot_root,
            alloc_dir,
            max_kill_timeout,
            datacenter,
            node_name,
            region,
            node_class,
            bridge_network_subnet
        );
    }
}

impl ClientConfig {
    /// `hashicorp/nomad:client/config/config.go` `ReadStringListAlternativeToMapDefault`:
    /// the first of `keys` set in `client.options` (else `default`), split at commas.
    pub fn option_list(&self, keys: &[&str], default: &str) -> Vec<String> {
        let v = keys
            .iter()
            .find_map(|k| self.options.get(*k))
            .map_or(default, String::as_str);
        if v.is_empty() {
            return Vec::new();
        }
        v.split(',').map(|e| e.trim().to_owned()).collect()
    }

    /// Why the client's validate hook refuses `user` for `driver`, if it does
    /// (`client/allocrunner/taskrunner/validate_hook.go`): `user.denylist` (default
    /// `root,Administrator`) for the drivers in `user.checked_drivers` (default
    /// `exec,qemu,java`).
    pub fn user_denied(&self, driver: &str, user: &str) -> Option<String> {
        let denied = self.option_list(&["user.denylist", "user.blacklist"], "root,Administrator");
        let checked = self.option_list(&["user.checked_drivers"], "exec,qemu,java");
        (checked.iter().any(|d| d == driver) && denied.iter().any(|u| u == user))
            .then(|| format!("running as user {user:?} is disallowed"))
    }
}

/// Rewrite HCL1 `name {` blocks whose body starts with a quoted key into `name = {`.
fn hcl1_quoted_key_blocks(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_end();
        let next_is_quoted_key = lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
            .is_some_and(|l| l.starts_with('"') && l.contains('='));
        if next_is_quoted_key {
            if let Some(head) = trimmed.strip_suffix('{') {
                let name = head.trim();
                if !name.is_empty()
                    && !name.contains('=')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    out.push_str(head.trim_end());
                    out.push_str(" = {\n");
                    continue;
                }
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// All bodies of block `name` under `v`: hcl-rs gives one object, or an array when repeated.
fn blocks<'a>(v: &'a Value, name: &str) -> Vec<&'a Value> {
    match v.get(name) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

/// Labelled blocks such as `plugin "exec" { … }`: (label, body).
fn labelled_blocks<'a>(v: &'a Value, name: &str) -> Vec<(&'a str, &'a Value)> {
    let mut out = Vec::new();
    for body in blocks(v, name) {
        if let Value::Object(map) = body {
            for (label, inner) in map {
                match inner {
                    Value::Array(items) => out.extend(items.iter().map(|i| (label.as_str(), i))),
                    other => out.push((label.as_str(), other)),
                }
            }
        }
    }
    out
}

fn as_count(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Parse a size like Nomad's `humanize.ParseBytes`: `100GB`, `1.5 GiB`, `4096`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024.0 * 1024.0,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "ti" | "tib" => 1024.0f64.powi(4),
        _ => return None,
    };
    Some((num * mult) as u64)
}

fn as_size(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(parse_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_example_repos_client_config() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/nomad-with-nix/nomad.conf"
        ));
        let Ok(text) = std::fs::read_to_string(path) else {
            // ../shared is laid beside the checkout in CI and in sessions.
            panic!("missing {}", path.display());
        };
        let cfg = ClientConfig::parse(path, &text).unwrap();
        assert_eq!(cfg.chroot_env.len(), 5);
        assert_eq!(cfg.chroot_env["/etc/ssl/certs"], "/etc/ssl/certs");
    }

    #[test]
    fn merges_files_key_by_key_and_reads_limits_and_plugin() {
        let a = ClientConfig::parse(
            Path::new("a.hcl"),
            "client {\n  chroot_env {\n    \"/etc/passwd\" = \"/etc/passwd\"\n  }\n  artifact {\n    decompression_file_count_limit = 8192\n    decompression_size_limit = \"2GB\"\n  }\n}\n",
        )
        .unwrap();
        let b = ClientConfig::parse(
            Path::new("b.hcl"),
            "client {\n  chroot_env = {\n    \"/usr\" = \"/usr\"\n  }\n}\nplugin \"exec\" {\n  config {\n    allow_caps = [\"CHOWN\", \"KILL\"]\n    default_pid_mode = \"host\"\n  }\n}\n",
        )
        .unwrap();
        let mut m = a.clone();
        m.merge(b);
        assert_eq!(m.chroot_env.len(), 2);
        assert_eq!(m.file_count_limit, Some(8192));
        assert_eq!(m.size_limit, Some(2_000_000_000));
        assert_eq!(
            m.allow_caps.as_deref(),
            Some(&["CHOWN".to_string(), "KILL".to_string()][..])
        );
        assert_eq!(m.default_pid_mode.as_deref(), Some("host"));
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let err = ClientConfig::parse(Path::new("bad.hcl"), "client {\n  chroot_env = [\n}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.hcl"), "{err}");
        assert!(err.contains('3') || err.contains('2'), "{err}");
    }

    #[test]
    fn reads_node_identity_and_max_kill_timeout() {
        let a = ClientConfig::parse(
            Path::new("a.hcl"),
            "datacenter = \"dc2\"\nname = \"n1\"\nclient {\n  enabled = true\n  node_class = \"edge\"\n  max_kill_timeout = \"10s\"\n  meta {\n    rack = \"r1\"\n    zone = \"a\"\n  }\n}\n",
        )
        .unwrap();
        assert_eq!(a.datacenter.as_deref(), Some("dc2"));
        assert_eq!(a.node_name.as_deref(), Some("n1"));
        assert_eq!(a.node_class.as_deref(), Some("edge"));
        assert_eq!(a.max_kill_timeout.as_deref(), Some("10s"));
        assert_eq!(a.node_meta["rack"], "r1");
        let b = ClientConfig::parse(
            Path::new("b.hcl"),
            "client {\n  meta {\n    \"zone\" = \"b\"\n  }\n}\n",
        )
        .unwrap();
        let mut m = a.clone();
        m.merge(b);
        assert_eq!(m.node_meta["rack"], "r1");
        assert_eq!(m.node_meta["zone"], "b");
        assert_eq!(m.datacenter.as_deref(), Some("dc2"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100GB"), Some(100_000_000_000));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("x"), None);
    }
}
