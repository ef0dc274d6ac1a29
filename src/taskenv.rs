//! The task's environment, assembled in the order Nomad assembles it
//! (`hashicorp/nomad:client/taskenv/env.go` `Builder.buildEnv`, §4 of nomad-exec.md).
//!
//! Used by the analysis (PATH for `#!/usr/bin/env`, LD_LIBRARY_PATH for the loader) and
//! by the sandbox (the run's real environment), so both see the same values.

use std::collections::BTreeMap;

use crate::config::{AgentEnv, TaskSpec};
use crate::nomad::{self, NomadVersion};

/// A fixed, recognisable allocation ID: the environment must not vary between runs, so
/// that reports and recorded specs are reproducible.
pub const ALLOC_ID: &str = "00000000-0000-4000-8000-00000000c4ec";

/// The host passwd entry of the task user, as the executor reads it (§3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

impl HostUser {
    /// Look the user up on the host, as Nomad's executor does (`users.Lookup`).
    pub fn lookup(name: &str) -> Option<HostUser> {
        let user = if let Ok(uid) = name.parse::<u32>() {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
        } else {
            nix::unistd::User::from_name(name).ok().flatten()
        }?;
        Some(HostUser {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir.to_string_lossy().into_owned(),
        })
    }
}

/// Build the environment of `task` as the exec driver passes it to the process.
pub fn build(
    task: &TaskSpec,
    version: NomadVersion,
    agent_env: AgentEnv,
    host_user: Option<&HostUser>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_owned(), v);
    };
    // 1. Directory variables: container paths for fsisolation.Chroot (task_dir_hook.go).
    set("NOMAD_ALLOC_DIR", "/alloc".into());
    set("NOMAD_TASK_DIR", "/local".into());
    set("NOMAD_SECRETS_DIR", "/secrets".into());
    // 2. Resources.
    set("NOMAD_MEMORY_LIMIT", task.memory_mb.to_string());
    if let Some(max) = task.memory_max_mb {
        set("NOMAD_MEMORY_MAX_LIMIT", max.to_string());
    }
    set("NOMAD_CPU_LIMIT", task.cpu_mhz.to_string());
    // 3. Identity.
    let job = task.job.clone().unwrap_or_else(|| "check".to_owned());
    let group = task.group.clone().unwrap_or_else(|| task.name.clone());
    let (id, index) = match &task.alloc {
        Some(a) => (a.id.as_str(), a.index),
        None => (ALLOC_ID, 0),
    };
    set("NOMAD_ALLOC_ID", id.into());
    set("NOMAD_SHORT_ALLOC_ID", id.get(..8).unwrap_or(id).into());
    set("NOMAD_ALLOC_NAME", format!("{job}.{group}[{index}]"));
    set("NOMAD_ALLOC_INDEX", index.to_string());
    set("NOMAD_GROUP_NAME", group);
    set("NOMAD_TASK_NAME", task.name.clone());
    set("NOMAD_JOB_ID", job.clone());
    set("NOMAD_JOB_NAME", job);
    set("NOMAD_JOB_PARENT_ID", String::new());
    set("NOMAD_DC", "dc1".into());
    set("NOMAD_NAMESPACE", "default".into());
    set("NOMAD_REGION", "global".into());
    set(
        "NOMAD_PARENT_CGROUP",
        if version >= NomadVersion::new(1, 7, 0) {
            "nomad.slice"
        } else {
            "/nomad"
        }
        .into(),
    );
    // 8. The job's env block overrides what came before it.
    for (k, v) in &task.env {
        env.insert(k.clone(), v.clone());
    }
    // 7. The agent's environment fills in names not already set, minus the denylist.
    for (k, v) in agent_environment(agent_env) {
        if !nomad::env_denied(&k) {
            env.entry(k).or_insert(v);
        }
    }
    // The executor appends USER, LOGNAME and HOME last; runc keeps the last duplicate,
    // so these override the job's (§3.2).
    let name = host_user
        .map(|u| u.name.clone())
        .unwrap_or_else(|| task.user.clone());
    env.insert("USER".into(), name.clone());
    env.insert("LOGNAME".into(), name);
    if let Some(u) = host_user {
        env.insert("HOME".into(), u.home.clone());
    }
    env
}

/// The Nomad agent's environment, which every exec task inherits (§4.1 step 7).
pub fn agent_environment(mode: AgentEnv) -> Vec<(String, String)> {
    match mode {
        // A `nomad.service` unit without Environment= gets systemd's default PATH and
        // nothing else that matters to a task: in particular no LANG.
        AgentEnv::Default => vec![("PATH".into(), nomad::SYSTEMD_DEFAULT_PATH.into())],
        AgentEnv::Inherit => std::env::vars().collect(),
    }
}

/// Split a PATH-like value the way execvp and the loader do (empty entries mean `.`).
pub fn split_path_list(value: &str) -> Vec<String> {
    value
        .split(':')
        .map(|s| {
            if s.is_empty() {
                ".".to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> TaskSpec {
        TaskSpec {
            group: Some("app".into()),
            job: Some("production".into()),
            command: Some("/bin/sh".into()),
            env: vec![
                ("USER".into(), "job-user".into()),
                ("LC_ALL".into(), "C".into()),
            ],
            ..TaskSpec::new("server")
        }
    }

    #[test]
    fn assembles_like_nomad() {
        let user = HostUser {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
            home: "/nonexistent".into(),
        };
        let env = build(
            &task(),
            NomadVersion::NEWEST,
            AgentEnv::Default,
            Some(&user),
        );
        assert_eq!(env["NOMAD_TASK_DIR"], "/local");
        assert_eq!(env["NOMAD_ALLOC_DIR"], "/alloc");
        assert_eq!(env["NOMAD_MEMORY_LIMIT"], "300");
        assert_eq!(env["NOMAD_ALLOC_NAME"], "production.app[0]");
        assert_eq!(env["PATH"], nomad::SYSTEMD_DEFAULT_PATH);
        assert!(!env.contains_key("LANG"));
        assert_eq!(env["LC_ALL"], "C");
        // USER/LOGNAME/HOME from the host passwd entry win over the job's.
        assert_eq!(env["USER"], "nobody");
        assert_eq!(env["HOME"], "/nonexistent");
    }
}
