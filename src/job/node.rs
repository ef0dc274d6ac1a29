//! The node a task is planned for: what the client config names (`datacenter`, `name`,
//! `region`, `client { node_class meta }`), overridden key by key by a `--node` file.

use std::path::Path;

use super::JobError;
use super::hcl;
use super::interp::{self, NodeAttrs};
use crate::clientconfig::ClientConfig;

/// `${node.*}` and `${meta.*}` from the client config, then the `--node` file's
/// attributes and meta over them.
pub(super) fn attrs(client: &ClientConfig, file: Option<&Path>) -> Result<NodeAttrs, JobError> {
    let mut node = NodeAttrs::new();
    for (key, v) in [
        ("node.datacenter", &client.datacenter),
        ("node.unique.name", &client.node_name),
        ("node.region", &client.region),
        ("node.class", &client.node_class),
    ] {
        if let Some(v) = v {
            node.insert(key.to_owned(), v.clone());
        }
    }
    for (k, v) in &client.node_meta {
        node.insert(format!("meta.{k}"), v.clone());
    }
    if let Some(p) = file {
        node.extend(read_node_file(p)?);
    }
    Ok(node)
}

fn read_node_file(path: &Path) -> Result<NodeAttrs, JobError> {
    let text = crate::config::read_input_file(path).map_err(|source| JobError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "json")
        || text.trim_start().starts_with('{')
    {
        serde_json::from_str(&text)
            .map_err(|e| JobError::Usage(format!("--node {}: invalid JSON: {e}", path.display())))?
    } else {
        hcl::check_nesting(path, &text)?;
        ::hcl::from_str(&text)
            .map_err(|e| JobError::Usage(format!("--node {}: invalid HCL: {e}", path.display())))?
    };
    interp::node_attrs_from(&value)
        .map_err(|m| JobError::Usage(format!("--node {}: {m}", path.display())))
}
