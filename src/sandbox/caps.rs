//! Switch to the task's user and capabilities, in runc's order
//! (`libcontainer/init_linux.go` `finalizeNamespace`: bounding set, then the ids with
//! keep-caps, then permitted/inheritable/effective, then ambient).

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};

use crate::sys::SysError;

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("unknown capability `{0}`")]
    Unknown(String),
    #[error("{call}: {source}")]
    Caps {
        call: String,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error(transparent)]
    Sys(#[from] SysError),
}

fn parse(keep: &[String]) -> Result<CapsHashSet, CapsError> {
    keep.iter()
        .map(|c| Capability::from_str(c).map_err(|_| CapsError::Unknown(c.clone())))
        .collect()
}

/// The ids and capabilities the task starts with.
pub struct Switch<'a> {
    pub uid: u32,
    pub gid: u32,
    /// `None`: leave supplementary groups alone (a rootless user namespace denies
    /// setgroups).
    pub groups: Option<Vec<u32>>,
    pub keep: &'a [String],
    pub ambient: bool,
}

pub fn switch(s: &Switch<'_>) -> Result<(), CapsError> {
    let keep = parse(s.keep)?;
    let err = |call: &str| {
        let call = call.to_owned();
        move |source| CapsError::Caps { call, source }
    };
    // The bounding set first: dropping from it needs CAP_SETPCAP, which the setuid
    // below takes away.
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(err(&format!("drop {cap} from the bounding set")))?;
        }
    }
    let root = s.uid == 0;
    // Keep the permitted set across setuid so that the task's set can be installed
    // after it.
    nix::sys::prctl::set_keepcaps(true)
        .map_err(|e| SysError::new("prctl(PR_SET_KEEPCAPS, 1)", e))?;
    if let Some(groups) = &s.groups {
        let g: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&g)
            .map_err(|e| SysError::new(format!("setgroups({groups:?})"), e))?;
    }
    let gid = Gid::from_raw(s.gid);
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| SysError::new(format!("setresgid({0}, {0}, {0})", s.gid), e))?;
    let uid = Uid::from_raw(s.uid);
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| SysError::new(format!("setresuid({0}, {0}, {0})", s.uid), e))?;
    nix::sys::prctl::set_keepcaps(false)
        .map_err(|e| SysError::new("prctl(PR_SET_KEEPCAPS, 0)", e))?;
    if root {
        // hashicorp/nomad:drivers/shared/executor executor_linux.go: root gets its set
        // in bounding, permitted and effective.
        caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
            .map_err(err("clear inheritable"))?;
        caps::set(None, CapSet::Effective, &keep).map_err(err("set effective"))?;
        caps::set(None, CapSet::Permitted, &keep).map_err(err("set permitted"))?;
        return Ok(());
    }
    // Effective stays empty: Nomad leaves it unset for a non-root user.
    caps::set(None, CapSet::Effective, &CapsHashSet::new()).map_err(err("clear effective"))?;
    if s.ambient {
        // Nomad ≥ 1.5.6 (#16643): bounding, permitted, inheritable and ambient.
        caps::set(None, CapSet::Permitted, &keep).map_err(err("set permitted"))?;
        caps::set(None, CapSet::Inheritable, &keep).map_err(err("set inheritable"))?;
        for cap in &keep {
            caps::raise(None, CapSet::Ambient, *cap)
                .map_err(err(&format!("raise {cap} in the ambient set")))?;
        }
    } else {
        // Before 1.5.6 only the bounding set was given: the task had no capabilities.
        caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
            .map_err(err("clear inheritable"))?;
        caps::set(None, CapSet::Permitted, &CapsHashSet::new()).map_err(err("clear permitted"))?;
    }
    Ok(())
}
