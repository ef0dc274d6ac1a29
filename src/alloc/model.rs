//! The parts of Nomad's API objects that `alloc` reads, as the HTTP API serialises them
//! (`hashicorp/nomad:api/allocations.go` `Allocation`, `AllocationListStub`;
//! `api/tasks.go` `TaskState`, `TaskEvent`; `api/nodes.go` `Node`, `DriverInfo`). Every
//! field is optional on the wire: a missing or `null` one takes its zero value, as Go's
//! decoder leaves it. The job stays a JSON value: `job::plan_api_task` reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// Go's `null` for a map, slice or string reads as empty.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET /v1/allocation/:id`, and what `nomad alloc status -json` prints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Allocation {
    #[serde(rename = "ID", deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "NodeID", deserialize_with = "nullable")]
    pub node_id: String,
    #[serde(deserialize_with = "nullable")]
    pub node_name: String,
    #[serde(rename = "JobID", deserialize_with = "nullable")]
    pub job_id: String,
    /// The job as of this allocation's version (`Job.Version`).
    pub job: Option<serde_json::Value>,
    #[serde(deserialize_with = "nullable")]
    pub task_group: String,
    #[serde(deserialize_with = "nullable")]
    pub desired_status: String,
    #[serde(deserialize_with = "nullable")]
    pub client_status: String,
    #[serde(deserialize_with = "nullable")]
    pub client_description: String,
    #[serde(deserialize_with = "nullable")]
    pub task_states: BTreeMap<String, TaskState>,
}

/// One row of `GET /v1/allocations?prefix=`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocationListStub {
    #[serde(rename = "ID", deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(rename = "NodeID", deserialize_with = "nullable")]
    pub node_id: String,
    #[serde(deserialize_with = "nullable")]
    pub node_name: String,
    #[serde(rename = "JobID", deserialize_with = "nullable")]
    pub job_id: String,
    pub job_version: u64,
    #[serde(deserialize_with = "nullable")]
    pub task_group: String,
    #[serde(deserialize_with = "nullable")]
    pub desired_status: String,
    #[serde(deserialize_with = "nullable")]
    pub client_status: String,
    pub create_time: i64,
    pub modify_time: i64,
}

/// `TaskState`: `State` is `pending`, `running` or `dead`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    #[serde(deserialize_with = "nullable")]
    pub state: String,
    pub failed: bool,
    pub restarts: u64,
    /// The latest events, oldest first (the client keeps 10).
    #[serde(deserialize_with = "nullable")]
    pub events: Vec<TaskEvent>,
}

/// `TaskEvent`. The fields after `Details` are deprecated in Nomad but still filled,
/// and `Details` carries the same values as strings (`exit_code`, `oom_killed`, …;
/// `nomad/structs/structs.go` `TaskEvent.Set*`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskEvent {
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    /// Unix nanoseconds.
    pub time: i64,
    #[serde(deserialize_with = "nullable")]
    pub display_message: String,
    #[serde(deserialize_with = "nullable")]
    pub details: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub message: String,
    pub fails_task: bool,
    #[serde(deserialize_with = "nullable")]
    pub restart_reason: String,
    #[serde(deserialize_with = "nullable")]
    pub setup_error: String,
    #[serde(deserialize_with = "nullable")]
    pub driver_error: String,
    #[serde(deserialize_with = "nullable")]
    pub driver_message: String,
    pub exit_code: i64,
    pub signal: i64,
    #[serde(deserialize_with = "nullable")]
    pub kill_reason: String,
    #[serde(deserialize_with = "nullable")]
    pub kill_error: String,
    #[serde(deserialize_with = "nullable")]
    pub download_error: String,
    #[serde(deserialize_with = "nullable")]
    pub validation_error: String,
    #[serde(deserialize_with = "nullable")]
    pub failed_sibling: String,
    #[serde(deserialize_with = "nullable")]
    pub vault_error: String,
}

impl TaskEvent {
    /// `Details["oom_killed"] == "true"` (set on `Terminated` events).
    pub fn oom_killed(&self) -> bool {
        self.details.get("oom_killed").is_some_and(|v| v == "true")
    }

    /// What Nomad shows for the event: `DisplayMessage`, else the most specific error
    /// field (`PopulateEventDisplayMessage` picks the same ones).
    pub fn text(&self) -> String {
        if !self.display_message.is_empty() {
            return self.display_message.clone();
        }
        [
            &self.driver_error,
            &self.download_error,
            &self.setup_error,
            &self.validation_error,
            &self.kill_error,
            &self.kill_reason,
            &self.vault_error,
            &self.restart_reason,
            &self.driver_message,
            &self.message,
        ]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default()
    }
}

/// `GET /v1/node/:id`: what the check needs from it. The whole object also goes to
/// `job::interp::node_attrs_from` for `${node.*}`, `${attr.*}` and `${meta.*}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    #[serde(rename = "ID", deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "HTTPAddr", deserialize_with = "nullable")]
    pub http_addr: String,
    #[serde(rename = "TLSEnabled")]
    pub tls_enabled: bool,
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    #[serde(deserialize_with = "nullable")]
    pub attributes: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub drivers: BTreeMap<String, DriverInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverInfo {
    #[serde(deserialize_with = "nullable")]
    pub attributes: BTreeMap<String, String>,
    pub detected: bool,
    pub healthy: bool,
    #[serde(deserialize_with = "nullable")]
    pub health_description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nulls_and_missing_fields_as_go_zero_values() {
        let a: Allocation = serde_json::from_str(
            r#"{"ID":"a8198d79-cfdb-6593-a999-1e9adabcba2e","TaskStates":{"web":{"State":"dead","Failed":true,"Events":null}},"Job":null,"NodeName":null}"#,
        )
        .unwrap();
        assert_eq!(a.task_states["web"].state, "dead");
        assert!(a.task_states["web"].events.is_empty());
        assert!(a.job.is_none() && a.node_name.is_empty());
        let e: TaskEvent = serde_json::from_str(
            r#"{"Type":"Terminated","ExitCode":137,"Signal":9,"Details":{"oom_killed":"true","exit_code":"137"}}"#,
        )
        .unwrap();
        assert!(e.oom_killed());
        assert_eq!(e.exit_code, 137);
    }
}
