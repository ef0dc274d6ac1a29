//! The JSON contract (`docs/report-format.md`) as a validator: every key of every object
//! present with its documented type (and no undocumented key), every (kind, cause) pair
//! one the document lists, paths and chains as the rules say, the verdict matching the
//! exit code. Test binaries include it (`mod contract;`) and run it over every report
//! they get, so the document cannot drift from what the tool prints.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The vocabulary table of `docs/report-format.md`: kind → causes.
pub fn documented_vocabulary() -> &'static BTreeMap<String, BTreeSet<String>> {
    static V: OnceLock<BTreeMap<String, BTreeSet<String>>> = OnceLock::new();
    V.get_or_init(|| {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-format.md"),
        )
        .expect("docs/report-format.md");
        parse_vocabulary(&doc)
    })
}

/// Rows `| \`kind\` | \`cause\`, \`cause\` |` under "### Kinds and causes".
pub fn parse_vocabulary(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let section = doc
        .split("### Kinds and causes")
        .nth(1)
        .expect("a \"Kinds and causes\" section");
    let mut out = BTreeMap::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [kind, causes] = cells[..] else { continue };
        let Some(kind) = kind.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else {
            continue;
        };
        let causes: BTreeSet<String> = causes
            .split(',')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect();
        out.insert(kind.to_owned(), causes);
    }
    out
}

type R = Result<(), String>;

#[derive(Clone, Copy)]
enum T {
    Str,
    StrOrNull,
    Int,
    IntOrNull,
    Bool,
    BoolOrNull,
    Obj,
    ObjOrNull,
    Arr,
    ArrOrNull,
    StrArr,
    StrMap,
}

fn check_type(what: &str, v: &Value, t: T) -> R {
    let ok = match t {
        T::Str => v.is_string(),
        T::StrOrNull => v.is_string() || v.is_null(),
        T::Int => v.is_u64() || v.is_i64(),
        T::IntOrNull => v.is_u64() || v.is_i64() || v.is_null(),
        T::Bool => v.is_boolean(),
        T::BoolOrNull => v.is_boolean() || v.is_null(),
        T::Obj => v.is_object(),
        T::ObjOrNull => v.is_object() || v.is_null(),
        T::Arr => v.is_array(),
        T::ArrOrNull => v.is_array() || v.is_null(),
        T::StrArr => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        T::StrMap => v
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string)),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{what}` has the wrong type: {v}"))
    }
}

/// Exactly these keys, each of its type.
fn keys(what: &str, v: &Value, want: &[(&str, T)]) -> Result<Map<String, Value>, String> {
    let m = v
        .as_object()
        .ok_or_else(|| format!("`{what}` is not an object: {v}"))?;
    for (k, t) in want {
        let x = m.get(*k).ok_or_else(|| {
            format!("`{what}.{k}` is missing (every documented key is always present): {v}")
        })?;
        check_type(&format!("{what}.{k}"), x, *t)?;
    }
    let documented: BTreeSet<&str> = want.iter().map(|(k, _)| *k).collect();
    let extra: Vec<&String> = m
        .keys()
        .filter(|k| !documented.contains(k.as_str()))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "`{what}` has keys docs/report-format.md does not describe: {extra:?}"
        ));
    }
    Ok(m.clone())
}

const VERDICTS: &[&str] = &["pass", "fail", "reject", "error"];

fn verdict_code(v: &str) -> i32 {
    match v {
        "pass" => 0,
        "fail" => 1,
        "reject" => 2,
        _ => 3,
    }
}

/// One report (`--format json` of one bundle, or an entry of a job or test document).
/// `exit`: the tool's exit code, when the report is the whole output.
pub fn report(v: &Value, exit: Option<i32>) -> R {
    use T::*;
    let r = keys(
        "report",
        v,
        &[
            ("schema_version", Int),
            ("tool", Obj),
            ("nomad_version", Str),
            ("verdict", Str),
            ("bundle", Obj),
            ("task", Obj),
            ("findings", Arr),
            ("start", ObjOrNull),
            ("run", ObjOrNull),
            ("summary", StrArr),
            ("kept_work_dir", StrOrNull),
            ("root_causes", Arr),
            ("host_dependencies", Arr),
            ("error", StrOrNull),
            ("tree", ArrOrNull),
            ("work_dir", ObjOrNull),
        ],
    )?;
    if r["schema_version"] != 2 {
        return Err(format!("schema_version is {}", r["schema_version"]));
    }
    keys(
        "report.tool",
        &r["tool"],
        &[("name", Str), ("version", Str)],
    )?;
    let verdict = r["verdict"].as_str().unwrap_or("");
    if !VERDICTS.contains(&verdict) {
        return Err(format!("verdict `{verdict}`"));
    }
    if let Some(code) = exit {
        if verdict_code(verdict) != code {
            return Err(format!("verdict `{verdict}` with exit code {code}"));
        }
    }
    keys(
        "report.bundle",
        &r["bundle"],
        &[
            ("path", Str),
            ("format", Str),
            ("detected_format", StrOrNull),
            ("entries", Int),
            ("unpacked_bytes", Int),
            ("extract", Str),
        ],
    )?;
    keys(
        "report.task",
        &r["task"],
        &[
            ("name", Str),
            ("group", StrOrNull),
            ("destination", Str),
            ("command", StrOrNull),
            ("args", StrArr),
            ("resolved_command", StrOrNull),
            ("user", Str),
            ("chroot_env", StrMap),
            ("env", StrMap),
            ("secrets_dir", StrOrNull),
        ],
    )?;
    if !r["start"].is_null() {
        let st = keys(
            "report.start",
            &r["start"],
            &[
                ("can_start", Bool),
                ("nomad_error", StrOrNull),
                ("exit_code", IntOrNull),
                ("predicted", StrOrNull),
                ("exit_code_predicted", IntOrNull),
            ],
        )?;
        if st["can_start"] == false && !r["run"].is_null() {
            return Err(format!("a task that cannot start was run: {}", r["run"]));
        }
    } else if !r["task"]["command"].is_null() && r["error"].is_null() && r["verdict"] != "reject" {
        return Err("a report with a command has no `start`".into());
    }
    if !r["work_dir"].is_null() {
        let w = keys(
            "report.work_dir",
            &r["work_dir"],
            &[("placement", Str), ("path", StrOrNull), ("why", Str)],
        )?;
        let placement = w["placement"].as_str().unwrap_or("");
        if !["memory", "tmpfs", "disk"].contains(&placement) {
            return Err(format!("work_dir.placement `{placement}`"));
        }
        if (placement == "memory") != w["path"].is_null() {
            return Err(format!(
                "work_dir: a path iff on tmpfs or disk: {}",
                r["work_dir"]
            ));
        }
    }
    let mut cause_ids: BTreeMap<String, u64> = BTreeMap::new();
    for c in r["root_causes"].as_array().into_iter().flatten() {
        let c = keys(
            "report.root_causes[]",
            c,
            &[
                ("id", Str),
                ("message", Str),
                ("hint", Str),
                ("findings", Int),
            ],
        )?;
        cause_ids.insert(
            c["id"].as_str().unwrap_or("").to_owned(),
            c["findings"].as_u64().unwrap_or(0),
        );
    }
    let mut explained: BTreeMap<String, u64> = BTreeMap::new();
    let vocab = documented_vocabulary();
    for f in r["findings"].as_array().into_iter().flatten() {
        finding(f, vocab)?;
        if let Some(id) = f["root_cause"].as_str() {
            if !cause_ids.contains_key(id) {
                return Err(format!(
                    "finding names root cause `{id}` the report does not have: {f}"
                ));
            }
            *explained.entry(id.to_owned()).or_default() += 1;
        }
    }
    for (id, n) in &cause_ids {
        let got = explained.get(id).copied().unwrap_or(0);
        if got != *n {
            return Err(format!(
                "root cause `{id}` says {n} findings, {got} name it"
            ));
        }
    }
    for d in r["host_dependencies"].as_array().into_iter().flatten() {
        let d = keys(
            "report.host_dependencies[]",
            d,
            &[
                ("path", Str),
                ("host_path", Str),
                ("role", Str),
                ("needed_by", StrArr),
            ],
        )?;
        let role = d["role"].as_str().unwrap_or("");
        if !["program", "script-interpreter", "interpreter", "library"].contains(&role) {
            return Err(format!("host dependency role `{role}`"));
        }
        task_path("host_dependencies[].path", &d["path"])?;
    }
    if !r["run"].is_null() {
        let run = keys(
            "report.run",
            &r["run"],
            &[
                ("exit_code", IntOrNull),
                ("signal", StrOrNull),
                ("timed_out", Bool),
                ("still_running", Bool),
                ("oom_killed", Bool),
                ("duration_ms", Int),
                ("stdout_tail", Str),
                ("stderr_tail", Str),
                ("enforced", StrMap),
            ],
        )?;
        let _ = run;
    }
    if let Some(tree) = r["tree"].as_array() {
        tree.iter().try_for_each(tree_node)?;
    }
    if r["error"].is_string() && verdict != "reject" && verdict != "error" {
        return Err(format!("`error` set with verdict `{verdict}`"));
    }
    Ok(())
}

fn task_path(what: &str, v: &Value) -> R {
    match v.as_str() {
        Some(p) if p.starts_with('/') => Ok(()),
        _ => Err(format!("`{what}` must be a task path (absolute): {v}")),
    }
}

fn finding(f: &Value, vocab: &BTreeMap<String, BTreeSet<String>>) -> R {
    use T::*;
    let m = keys(
        "finding",
        f,
        &[
            ("severity", Str),
            ("kind", Str),
            ("cause", Str),
            ("path", Str),
            ("needed_by", StrArr),
            ("nomad_error", StrOrNull),
            ("exit_code", IntOrNull),
            ("message", StrOrNull),
            ("hint", StrOrNull),
            ("on_host", BoolOrNull),
            ("denied_by", StrOrNull),
            ("root_cause", StrOrNull),
        ],
    )?;
    let sev = m["severity"].as_str().unwrap_or("");
    if !["error", "warning", "info"].contains(&sev) {
        return Err(format!("severity `{sev}`: {f}"));
    }
    let kind = m["kind"].as_str().unwrap_or("");
    let cause = m["cause"].as_str().unwrap_or("");
    if !vocab.get(kind).is_some_and(|c| c.contains(cause)) {
        return Err(format!(
            "{kind}/{cause} is not in docs/report-format.md's kinds and causes: {f}"
        ));
    }
    let path = m["path"].as_str().unwrap_or("");
    let about_a_file = matches!(
        kind,
        "missing" | "permission" | "exec-format" | "version" | "environment" | "run"
    ) && !matches!(cause, "unresolved" | "start-failure");
    if about_a_file {
        task_path(&format!("{kind}/{cause} path"), &m["path"])?;
    }
    let chain: Vec<&str> = m["needed_by"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if chain.contains(&path) {
        return Err(format!("needed_by names the finding's own path: {f}"));
    }
    if about_a_file {
        for link in &chain {
            if !link.starts_with('/') {
                return Err(format!("needed_by holds `{link}`, not a task path: {f}"));
            }
        }
    }
    Ok(())
}

fn tree_node(n: &Value) -> R {
    use T::*;
    let m = keys(
        "tree[]",
        n,
        &[
            ("name", Str),
            ("path", StrOrNull),
            ("role", Str),
            ("source", Str),
            ("host_path", StrOrNull),
            ("children", Arr),
        ],
    )?;
    let source = m["source"].as_str().unwrap_or("");
    if !["bundle", "host", "alloc", "missing"].contains(&source) {
        return Err(format!("tree source `{source}`"));
    }
    if (source == "missing") != m["path"].is_null() {
        return Err(format!("a tree node has a path iff it is not missing: {n}"));
    }
    m["children"]
        .as_array()
        .into_iter()
        .flatten()
        .try_for_each(tree_node)
}

/// `test --format json`; `exit`: the tool's exit code.
pub fn test_document(v: &Value, exit: Option<i32>) -> R {
    use T::*;
    let d = keys(
        "test document",
        v,
        &[
            ("schema_version", Int),
            ("tool", Obj),
            ("spec", StrOrNull),
            ("verdict", Str),
            ("error", StrOrNull),
            ("checks", Arr),
        ],
    )?;
    let verdict = d["verdict"].as_str().unwrap_or("");
    let want = match exit {
        Some(0) => Some("pass"),
        Some(101) => Some("fail"),
        Some(2) => Some("reject"),
        Some(3) => Some("error"),
        _ => None,
    };
    if let Some(w) = want {
        if w != verdict {
            return Err(format!("test verdict `{verdict}` with exit code {exit:?}"));
        }
    }
    for c in d["checks"].as_array().into_iter().flatten() {
        let c = keys(
            "test document checks[]",
            c,
            &[
                ("check", Str),
                ("line", Int),
                ("outcome", Str),
                ("failures", StrArr),
                ("reason", StrOrNull),
                ("duration_ms", Int),
                ("report", ObjOrNull),
            ],
        )?;
        let outcome = c["outcome"].as_str().unwrap_or("");
        if !["passed", "failed", "could-not-run", "ignored"].contains(&outcome) {
            return Err(format!("outcome `{outcome}`"));
        }
        if (outcome == "failed") == c["failures"].as_array().is_some_and(Vec::is_empty) {
            return Err(format!("failures are listed iff the check failed: {c:?}"));
        }
        if !c["report"].is_null() {
            report(&c["report"], None)?;
        }
    }
    Ok(())
}

/// The document a mode prints when it stops before it has a report.
pub fn error_document(v: &Value, exit: i32) -> R {
    match v.get("checks") {
        Some(_) => test_document(v, Some(exit))?,
        None => report(v, Some(exit))?,
    }
    if !v["error"].is_string() {
        return Err(format!("an error document has `error`: {v}"));
    }
    Ok(())
}
