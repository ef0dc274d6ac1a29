//! One allocation's tasks before anything runs: each planned for the allocation (its
//! identity and network variables), laid out in the allocation's dir, unpacked and
//! checked statically.

use std::time::Duration;

use super::lifecycle::Stage;
use super::placement::{self, Placement};
use super::runner::TaskStatic;
use crate::check;
use crate::cli::JobArgs;
use crate::error::Error;
use crate::finding::{Cause, Verdict};
use crate::job::model::GroupSpec;
use crate::job::{self, AllocContext, PlanContext};
use crate::taskdir::AllocDir;

/// Plan, lay out and unpack every task of one allocation.
pub(super) fn prepare_alloc(
    args: &JobArgs,
    ctx: &PlanContext,
    g: &GroupSpec,
    p: &Placement,
    dir: std::path::PathBuf,
) -> Result<Vec<TaskStatic>, Error> {
    let alloc_dir = AllocDir::build(dir)?;
    let actx = AllocContext {
        identity: crate::config::AllocIdentity {
            id: p.id.clone(),
            index: p.index,
        },
        net: placement::network_env(p, g),
    };
    let mut out = Vec::new();
    for def in &g.tasks {
        let mut unmapped = Vec::new();
        let mut planned = job::plan_task(ctx, g, def, args, Some(&actx), &mut unmapped)?;
        job::unmapped_error(&unmapped)?;
        // Blocks this run does emulate are no longer "not emulated", nor are the
        // stand-in values the single-task mode uses.
        planned.findings.retain(|f| {
            f.cause != Cause::Emulated
                && !(f.cause == Cause::NotEmulated && f.path.starts_with("service"))
        });
        let taskdir = alloc_dir.task_dir(&def.name, ctx.version, ctx.chroot_env.clone())?;
        let mut blocked = None;
        let prepared = check::prepare_in(&planned.opts, taskdir)?;
        let mut static_opts = planned.opts.clone();
        static_opts.run = None;
        let mut static_report = check::finish(&prepared, &static_opts)?;
        static_report.task.env = planned.env.clone();
        static_report
            .findings
            .extend(planned.findings.iter().cloned());
        static_report.settle_verdict();
        if planned.blocked || static_report.verdict == Verdict::Reject {
            let why = static_report
                .findings
                .iter()
                .find(|f| f.is_rejection())
                .map(|f| {
                    f.nomad_error
                        .clone()
                        .or(f.message.clone())
                        .unwrap_or(f.path.clone())
                })
                .unwrap_or_else(|| "Failed to download artifacts".into());
            blocked = Some(("Failed Artifact Download", why));
        }
        let kill_timeout = planned
            .opts
            .run
            .as_ref()
            .map(|r| r.kill_timeout)
            .unwrap_or(Duration::from_secs(5));
        out.push(TaskStatic {
            name: def.name.clone(),
            stage: Stage::of(def.lifecycle.as_ref()),
            leader: def.leader,
            argv0: static_report.task.resolved_command.clone(),
            planned,
            prepared,
            static_report,
            blocked,
            kill_timeout,
        });
    }
    Ok(out)
}
