//! Text for a person: the verdict and root causes first, then findings grouped by cause,
//! each group with its fix.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::finding::{Cause, Finding, Kind, Report, Severity, TreeNode, Verdict};

/// Groups longer than this show their first entries and a count.
const GROUP_LIMIT: usize = 12;

/// One line for a finding, as used in JUnit failures and annotations.
pub fn finding_line(f: &Finding) -> String {
    let mut s = format!("{}: {}", label(f), f.path);
    if let Some(m) = &f.message {
        s.push_str(" — ");
        s.push_str(m);
    }
    if let Some(e) = &f.nomad_error {
        s.push_str(&format!(" [Nomad: {e}]"));
    }
    if let Some(d) = &f.denied_by {
        s.push_str(&format!(" (an error by --deny {d})"));
    }
    s
}

fn label(f: &Finding) -> String {
    format!("{}/{}", f.kind.name(), f.cause.name())
}

/// `--quiet`'s line: the head line and, unless it passed, the first root cause.
pub fn verdict_line(r: &Report) -> String {
    let mut line = head_line(r);
    if let Some(first) = r.summary.first().filter(|_| r.verdict != Verdict::Pass) {
        line.push_str(": ");
        line.push_str(first);
    }
    line
}

/// `PASS: bundle.tar.gz (task web, Nomad 2.0)`; the task only when it has a name of
/// its own (a job's, or `--task`).
fn head_line(r: &Report) -> String {
    let verdict = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Reject => "REJECTED",
        Verdict::Error => "ERROR",
    };
    let task = match &r.task.group {
        Some(g) => format!("task {g}/{}, ", r.task.name),
        None if r.task.name != crate::config::DEFAULT_TASK_NAME => {
            format!("task {}, ", r.task.name)
        }
        None => String::new(),
    };
    format!(
        "{verdict}: {} ({task}Nomad {})",
        r.bundle.path, r.nomad_version
    )
}

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", head_line(r))?;
    for line in &r.summary {
        writeln!(out, "  {line}")?;
    }
    let format = match &r.bundle.detected_format {
        Some(d) if *d != r.bundle.format => {
            format!("{} by its name, {d} by content", r.bundle.format)
        }
        _ => r.bundle.format.clone(),
    };
    writeln!(
        out,
        "  bundle: {} entries, {} bytes, {format} (unpacked as {})",
        r.bundle.entries, r.bundle.unpacked_bytes, r.bundle.extract
    )?;
    if let Some(cmd) = &r.task.command {
        let mut line = format!("  command: {cmd}");
        for a in &r.task.args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        if let Some(res) = &r.task.resolved_command {
            line.push_str(&format!("  (resolved to {res})"));
        }
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "  destination: {}  user: {}",
        r.task.destination, r.task.user
    )?;
    if let Some(line) = start_line(r) {
        writeln!(out, "  {line}")?;
    }

    if !r.host_dependencies.is_empty() {
        let top: Vec<&str> = r
            .host_dependencies
            .iter()
            .take(3)
            .map(|d| d.path.as_str())
            .collect();
        writeln!(
            out,
            "  host: {} file{} from this machine through chroot_env ({}{}): every client needs the same",
            r.host_dependencies.len(),
            if r.host_dependencies.len() == 1 {
                ""
            } else {
                "s"
            },
            top.join(", "),
            if r.host_dependencies.len() > top.len() {
                ", …"
            } else {
                ""
            }
        )?;
    }

    for cause in &r.root_causes {
        writeln!(out)?;
        writeln!(
            out,
            "root cause ({}, the first line above) explains {} finding{}:",
            cause.id,
            cause.findings,
            if cause.findings == 1 { "" } else { "s" }
        )?;
        writeln!(out, "  fix: {}", cause.hint)?;
        for f in r
            .findings
            .iter()
            .filter(|f| f.root_cause == Some(cause.id))
            .take(GROUP_LIMIT)
        {
            writeln!(out, "  - {}: {}", label(f), f.path)?;
        }
        if cause.findings > GROUP_LIMIT {
            writeln!(out, "  … and {} more", cause.findings - GROUP_LIMIT)?;
        }
    }

    let mut groups: BTreeMap<(std::cmp::Reverse<Severity>, Kind, Cause), Vec<&Finding>> =
        BTreeMap::new();
    for f in r.findings.iter().filter(|f| f.root_cause.is_none()) {
        groups
            .entry((std::cmp::Reverse(f.severity), f.kind, f.cause))
            .or_default()
            .push(f);
    }
    for ((sev, _, _), items) in &groups {
        let first = items[0];
        let sev = match sev.0 {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        writeln!(out)?;
        writeln!(out, "{sev}: {} ({})", label(first), items.len())?;
        for f in items.iter().take(GROUP_LIMIT) {
            let mut line = format!("  {}", f.path);
            if let Some(m) = &f.message {
                line.push_str(&format!(": {m}"));
            }
            writeln!(out, "{line}")?;
            if !f.needed_by.is_empty() {
                writeln!(out, "    needed by: {}", f.needed_by.join(" → "))?;
            }
            if let Some(d) = &f.denied_by {
                writeln!(out, "    an error by --deny {d}")?;
            }
            if let Some(e) = &f.nomad_error {
                let code = f
                    .exit_code
                    .map(|c| format!(" (exit {c})"))
                    .unwrap_or_default();
                writeln!(out, "    Nomad: {e}{code}")?;
            }
            if let Some(h) = &f.on_host {
                if *h {
                    writeln!(out, "    (present on this host, absent in the task)")?;
                }
            }
            // Per-item hints only when they differ from the group's.
            if let Some(h) = &f.hint {
                if items.len() == 1 || items.iter().any(|o| o.hint.as_ref() != Some(h)) {
                    writeln!(out, "    fix: {h}")?;
                }
            }
        }
        if items.len() > GROUP_LIMIT {
            writeln!(
                out,
                "  … and {} more (see --format json)",
                items.len() - GROUP_LIMIT
            )?;
        }
        if items.len() > 1 && items.iter().all(|o| o.hint == first.hint) {
            if let Some(h) = &first.hint {
                writeln!(out, "  fix: {h}")?;
            }
        }
    }

    if let Some(run) = &r.run {
        writeln!(out)?;
        let status = match (&run.exit_code, &run.signal) {
            _ if run.still_running => "still running (service healthy)".to_owned(),
            _ if run.timed_out => "timed out".to_owned(),
            (_, Some(sig)) => format!("killed by {sig}"),
            (Some(c), None) => format!("exited {c}"),
            (None, None) => "did not start".to_owned(),
        };
        writeln!(
            out,
            "run: {status} after {} ms{}",
            run.duration_ms,
            if run.oom_killed { " (OOM killed)" } else { "" }
        )?;
        for (k, v) in &run.enforced {
            writeln!(out, "  {k}: {v}")?;
        }
        for (name, tail) in [("stdout", &run.stdout_tail), ("stderr", &run.stderr_tail)] {
            if !tail.is_empty() {
                writeln!(out, "  {name}:")?;
                for l in tail.lines() {
                    writeln!(out, "    | {l}")?;
                }
            }
        }
    }
    if let Some(tree) = &r.tree {
        writeln!(out)?;
        writeln!(out, "dependency tree:")?;
        render_tree(tree, out)?;
    }
    // Where a run's task dir was matters when a run misbehaves (a full tmpfs, a slow
    // disk); a static check's is the model in memory, said in JSON only.
    if let (Some(_), Some(w)) = (&r.run, &r.work_dir) {
        writeln!(out)?;
        writeln!(out, "task dir on {}: {}", w.placement, w.why)?;
    }
    if let Some(dir) = &r.kept_work_dir {
        writeln!(out)?;
        writeln!(out, "work dir kept at {dir}")?;
    }
    Ok(())
}

/// Which failures stop the start, said plainly (see [`crate::finding::StartInfo`]).
fn start_line(r: &Report) -> Option<String> {
    let s = r.start.as_ref()?;
    let code = |c: Option<i32>| c.map(|c| format!(" (exit {c})")).unwrap_or_default();
    if !s.can_start {
        return Some(match &s.nomad_error {
            Some(e) => format!(
                "not run: Nomad fails at start with `{e}`{}; the task never starts",
                code(s.exit_code)
            ),
            None => "not run: Nomad fails at start; the task never starts".to_owned(),
        });
    }
    let predicted = s.predicted.as_ref()?;
    Some(match &r.run {
        Some(run) if run.exit_code.is_some() && run.exit_code == s.exit_code_predicted => format!(
            "run: the task starts under Nomad, then fails{}, as the static check predicted: {predicted}",
            code(s.exit_code_predicted)
        ),
        Some(_) => format!(
            "run: the task starts under Nomad; the static check predicted it fails{}: {predicted}",
            code(s.exit_code_predicted)
        ),
        None => format!(
            "start: the task starts under Nomad, then fails{}: {predicted}",
            code(s.exit_code_predicted)
        ),
    })
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The tree as text, one file per line with its source.
fn render_tree(nodes: &[TreeNode], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    fn line(
        n: &TreeNode,
        prefix: &str,
        last: bool,
        top: bool,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let branch = if top {
            ""
        } else if last {
            "└── "
        } else {
            "├── "
        };
        let what = match (n.source, &n.path, &n.host_path) {
            ("missing", _, Some(h)) => format!("MISSING (this host has {h})"),
            ("missing", _, None) => "MISSING".to_owned(),
            ("host", Some(p), Some(h)) if p != h => format!("{p} [host: {h}]"),
            ("host", Some(p), _) => format!("{p} [host]"),
            (_, Some(p), _) if *p == n.name => "[bundle]".to_owned(),
            (_, Some(p), _) => format!("{p} [bundle]"),
            (_, None, _) => String::new(),
        };
        let role = match n.role {
            "interpreter" => " (ELF interpreter)",
            "script-interpreter" => " (#!)",
            _ => "",
        };
        writeln!(out, "{prefix}{branch}{}{role} => {what}", n.name)?;
        let child_prefix = if top {
            prefix.to_owned()
        } else {
            format!("{prefix}{}", if last { "    " } else { "│   " })
        };
        for (i, c) in n.children.iter().enumerate() {
            line(c, &child_prefix, i + 1 == n.children.len(), false, out)?;
        }
        Ok(())
    }
    for n in nodes {
        line(n, "", true, true, out)?;
    }
    Ok(())
}
