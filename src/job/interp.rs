//! Nomad's client-side interpolation of `${…}` in a task, per task.
//!
//! Two mechanisms, as in Nomad:
//! - `env {}` values, artifact sources/destinations/options go through
//!   `hashicorp/nomad:helper/args/args.go` `ReplaceEnv`: the regex `\$\{[a-zA-Z0-9_\-\.]+\}`
//!   looked up in the task env map, then the node attributes (`TaskEnv.ReplaceEnv`).
//!   `${env["X"]}` does not match that regex and stays as written there.
//! - the driver `config` (command, args, work_dir) is evaluated as HCL with the task env
//!   as variables, `env` as a map and `node`/`attr`/`meta` as objects
//!   (`client/allocrunner/taskrunner/task_runner.go` → `hclutils.ParseHclInterface`,
//!   `TaskEnv.AllValues`). We support the reference forms jobs use: `${NAME}`,
//!   `${env["NAME"]}`, `${env.NAME}`, `${node.…}`, `${attr.…}`, `${meta.…}`.
//!
//! A reference that cannot be resolved is kept as written and reported.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

static REPLACE_ENV: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{[a-zA-Z0-9_\-\.]+\}").expect("valid regex"));
static CONFIG_REF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{\s*([^{}]+?)\s*\}").expect("valid regex"));
static ENV_INDEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^env\s*\[\s*"([^"]+)"\s*\]$|^env\.([A-Za-z0-9_]+)$"#).expect("valid regex")
});

/// Node attributes by their dotted name: `attr.kernel.name`, `node.datacenter`,
/// `meta.rack`, as `TaskEnv.NodeAttrs` holds them.
pub type NodeAttrs = BTreeMap<String, String>;

/// `ReplaceEnv`: `${NAME}` from `env`, then `${attr.x}`-style names from `node`.
/// Returns the text and the references left unresolved.
pub fn replace_env(
    s: &str,
    env: &BTreeMap<String, String>,
    node: &NodeAttrs,
) -> (String, Vec<String>) {
    let mut unresolved = Vec::new();
    let out = REPLACE_ENV.replace_all(s, |c: &regex::Captures| {
        let whole = &c[0];
        let name = &whole[2..whole.len() - 1];
        if let Some(v) = env.get(name).or_else(|| node.get(name)) {
            v.clone()
        } else {
            unresolved.push(whole.to_owned());
            whole.to_owned()
        }
    });
    // References ReplaceEnv's regex does not match at all (`${env["X"]}`, `${a + b}`)
    // also reach the task as written.
    for m in CONFIG_REF.find_iter(s) {
        if !REPLACE_ENV.is_match(m.as_str()) {
            unresolved.push(m.as_str().to_owned());
        }
    }
    (out.into_owned(), unresolved)
}

/// The driver-config interpolation (command, args, work_dir).
pub fn interpolate_config(
    s: &str,
    env: &BTreeMap<String, String>,
    node: &NodeAttrs,
) -> (String, Vec<String>) {
    let mut unresolved = Vec::new();
    let out = CONFIG_REF.replace_all(s, |c: &regex::Captures| {
        let whole = &c[0];
        // `$${X}` is HCL's escape for a literal `${X}`: jobspec2 already turned it
        // into `${X}`, and the client interpolates that again, so nothing to skip.
        let inner = c[1].trim();
        let value = if let Some(m) = ENV_INDEX.captures(inner) {
            let name = m
                .get(1)
                .or_else(|| m.get(2))
                .map(|m| m.as_str())
                .unwrap_or("");
            env.get(name)
        } else if inner.starts_with("node.")
            || inner.starts_with("attr.")
            || inner.starts_with("meta.")
        {
            node.get(inner)
        } else if inner
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            env.get(inner)
        } else {
            None
        };
        match value {
            Some(v) => v.clone(),
            None => {
                unresolved.push(whole.to_owned());
                whole.to_owned()
            }
        }
    });
    (out.into_owned(), unresolved)
}

/// Read a `--node` file: JSON or HCL, either Nomad's API `Node` object (`Attributes`,
/// `Meta`, `Datacenter`, `Name`, `ID`, `NodeClass`) or `{ node = {…}, attr = {…},
/// meta = {…} }` with nested or dotted keys. Values become strings.
pub fn node_attrs_from(value: &serde_json::Value) -> Result<NodeAttrs, String> {
    let serde_json::Value::Object(top) = value else {
        return Err("the node file must hold one object".into());
    };
    let mut out = NodeAttrs::new();
    if top.contains_key("Attributes") || top.contains_key("Datacenter") {
        // The API Node, as `nomad node status -json` prints it.
        let s = |k: &str| top.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        for (k, key) in [
            ("ID", "node.unique.id"),
            ("Name", "node.unique.name"),
            ("Datacenter", "node.datacenter"),
            ("NodeClass", "node.class"),
            ("NodePool", "node.pool"),
        ] {
            if let Some(v) = s(k) {
                out.insert(key.to_owned(), v);
            }
        }
        if let Some(region) = top.get("Attributes").and_then(|a| a.get("nomad.region")) {
            if let Some(r) = region.as_str() {
                out.insert("node.region".into(), r.to_owned());
            }
        }
        for (field, prefix) in [("Attributes", "attr"), ("Meta", "meta")] {
            if let Some(serde_json::Value::Object(m)) = top.get(field) {
                for (k, v) in m {
                    out.insert(format!("{prefix}.{k}"), scalar(v)?);
                }
            }
        }
        return Ok(out);
    }
    for (k, v) in top {
        if !matches!(k.split('.').next(), Some("node" | "attr" | "meta")) {
            return Err(format!(
                "unknown top-level key `{k}` (expected node, attr, meta or Nomad's API Node object)"
            ));
        }
        flatten(k, v, &mut out)?;
    }
    Ok(out)
}

fn scalar(v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("{other} is not a string value")),
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut NodeAttrs) -> Result<(), String> {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out)?;
            }
            Ok(())
        }
        other => {
            out.insert(
                prefix.to_owned(),
                scalar(other).map_err(|e| format!("{prefix}: {e}"))?,
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [
            ("NOMAD_TASK_DIR", "/local"),
            ("PGDATA", "/local/db"),
            ("HOME", "/nonexistent"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn replace_env_is_nomads_regex() {
        let mut node = NodeAttrs::new();
        node.insert("attr.kernel.name".into(), "linux".into());
        let (s, u) = replace_env(
            "${NOMAD_TASK_DIR}/db ${attr.kernel.name} ${NOPE} $PLAIN",
            &env(),
            &node,
        );
        assert_eq!(s, "/local/db linux ${NOPE} $PLAIN");
        assert_eq!(u, vec!["${NOPE}"]);
        // `${env["X"]}` is not a ReplaceEnv reference.
        let (s, u) = replace_env(r#"${env["HOME"]}"#, &env(), &node);
        assert_eq!(s, r#"${env["HOME"]}"#);
        assert_eq!(u, vec![r#"${env["HOME"]}"#]);
    }

    #[test]
    fn config_interpolation_knows_env_and_node() {
        let mut node = NodeAttrs::new();
        node.insert("meta.rack".into(), "r1".into());
        let (s, u) = interpolate_config(
            r#"if [ ! -d ${PGDATA} ]; then ${env["HOME"]} ${env.NOMAD_TASK_DIR} ${meta.rack} ${node.class} fi"#,
            &env(),
            &node,
        );
        assert_eq!(
            s,
            "if [ ! -d /local/db ]; then /nonexistent /local r1 ${node.class} fi"
        );
        assert_eq!(u, vec!["${node.class}"]);
    }

    #[test]
    fn node_files_in_both_shapes() {
        let api: serde_json::Value = serde_json::json!({
            "ID": "abc", "Name": "n1", "Datacenter": "dc2",
            "Attributes": {"kernel.name": "linux", "cpu.numcores": 4},
            "Meta": {"rack": "r1"}
        });
        let a = node_attrs_from(&api).unwrap();
        assert_eq!(a["node.datacenter"], "dc2");
        assert_eq!(a["attr.kernel.name"], "linux");
        assert_eq!(a["attr.cpu.numcores"], "4");
        assert_eq!(a["meta.rack"], "r1");
        let nested: serde_json::Value = serde_json::json!({
            "node": {"datacenter": "dc1", "unique": {"name": "n"}},
            "attr": {"kernel.name": "linux"}
        });
        let b = node_attrs_from(&nested).unwrap();
        assert_eq!(b["node.unique.name"], "n");
        assert_eq!(b["attr.kernel.name"], "linux");
        assert!(node_attrs_from(&serde_json::json!({"bogus": 1})).is_err());
    }
}
