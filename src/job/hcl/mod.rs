//! HCL2 jobspecs, read the way Nomad's `jobspec2` reads them (`nomad job run`):
//!
//! ```text
//! text ─▶ hclguard (nesting) ─▶ hcl-edit (syntax tree with spans)
//!      ─▶ variables (declared types, defaults, NOMAD_VAR_*, --var-file, --var, validation)
//!      ─▶ locals (any order) ─▶ decode (job body against the API schema, dynamic blocks)
//!      ─▶ Node tree
//! ```
//!
//! Expressions are evaluated by [`eval`] with cty's values ([`value`]) and Nomad's
//! function library (`crate::job::funcs`). A reference Nomad does not know at parse
//! time (`${NOMAD_TASK_DIR}`, `${attr.kernel.name}`, a bare `meta.rack`) stays as its
//! source text for the client to interpolate (`eval::unknown_reference`).

pub mod decode;
pub mod eval;
pub mod schema;
pub mod typeexpr;
pub mod value;
mod variables;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Body, Structure};

use self::eval::{Ctx, Diag, Scope};
use self::value::{Type, Value};
use self::variables::{Var, collect_values, validate, variable_decl};
use super::JobError;
use crate::job::funcs::Funcs;

pub use crate::hclguard::{MAX_BRACKETS, MAX_NESTING};

/// An evaluated block: identifier, labels, attributes in order, nested blocks in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub ident: String,
    pub labels: Vec<String>,
    pub attrs: Vec<(String, serde_json::Value)>,
    pub blocks: Vec<Node>,
}

impl Node {
    pub fn attr(&self, key: &str) -> Option<&serde_json::Value> {
        self.attrs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn blocks<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.blocks.iter().filter(move |b| b.ident == ident)
    }

    pub fn label(&self) -> &str {
        self.labels.first().map(String::as_str).unwrap_or("")
    }
}

/// Where the values of input variables come from.
#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `--var K=V`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// `--var-file F`, in order (later wins; `--var` beats every file).
    pub files: Vec<PathBuf>,
    /// `NOMAD_VAR_<name>` from our environment (lowest precedence after defaults).
    pub env: Vec<(String, String)>,
}

/// Refuse pathological nesting before the parser sees the text.
pub fn check_nesting(path: &Path, text: &str) -> Result<(), JobError> {
    crate::hclguard::check_nesting(text).map_err(|e| JobError::Syntax {
        file: path.to_owned(),
        line: e.line,
        column: e.column,
        text: e.text,
        message: e.message,
    })
}

/// Parse on a thread with a large stack: nesting is already bounded, this is a margin.
fn parse_body(path: &Path, text: &str) -> Result<Body, JobError> {
    check_nesting(path, text)?;
    let owned = text.to_owned();
    let res = std::thread::Builder::new()
        .name("hcl-parse".into())
        .stack_size(256 << 20)
        .spawn(move || hcl_edit::parser::parse_body(&owned))
        .map_err(|e| JobError::Invalid(format!("cannot start the parser thread: {e}")))?
        .join()
        .map_err(|_| JobError::Invalid(format!("{}: the HCL parser failed", path.display())))?;
    res.map_err(|e| JobError::Syntax {
        file: path.to_owned(),
        line: e.location().line(),
        column: e.location().column(),
        text: crate::hclguard::line_text(text, e.location().line()),
        message: e.message().to_owned(),
    })
}

/// A [`Diag`] as a located [`JobError`].
pub fn diag_error(path: &Path, text: &str, d: Diag) -> JobError {
    let message = d.to_string();
    match d.span {
        Some(s) => {
            let (line, column) = crate::hclguard::line_col(text, s.start);
            JobError::Syntax {
                file: path.to_owned(),
                line,
                column,
                text: crate::hclguard::line_text(text, line),
                message,
            }
        }
        None => JobError::Eval {
            file: path.to_owned(),
            message,
        },
    }
}

/// Parse and evaluate `text` (the content of `path`) into the top-level `job` block.
pub fn parse_job(path: &Path, text: &str, inputs: &VarInputs) -> Result<Node, JobError> {
    let body = parse_body(path, text)?;
    let located = |d: Diag| diag_error(path, text, d);
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let funcs = Funcs {
        base_dir,
        allow_fs: true,
    };
    // Variable defaults and var files are evaluated with no context at all: no
    // functions, no variables (`types.variables.go` passes a nil EvalContext).
    let bare = Ctx {
        src: text,
        funcs: None,
        keep_unknown: false,
    };

    let mut vars: Vec<Var<'_>> = Vec::new();
    let mut locals: Vec<(&str, &Expression, Option<Range<usize>>)> = Vec::new();
    let mut jobs: Vec<&Block> = Vec::new();
    for s in body.iter() {
        match s {
            Structure::Block(b) => match b.ident.value().as_str() {
                "variable" => {
                    let v = variable_decl(&bare, b).map_err(located)?;
                    if vars.iter().any(|p| p.name == v.name) {
                        return Err(located(Diag::new(
                            b.ident.span(),
                            "Duplicate variable",
                            format!("Duplicate {} variable definition found.", v.name),
                        )));
                    }
                    vars.push(v);
                }
                "variables" => {
                    for a in b.body.attributes() {
                        let name = a.key.value().to_string();
                        if vars.iter().any(|p| p.name == name) {
                            return Err(located(Diag::new(
                                a.key.span(),
                                "Duplicate variable",
                                format!("Duplicate {name} variable definition found."),
                            )));
                        }
                        let v = bare.eval(&a.value, &Scope::default()).map_err(located)?;
                        vars.push(Var {
                            name,
                            ty: Some(v.ty()).filter(|t| *t != Type::Any),
                            value: Some((v, "default")),
                            validations: Vec::new(),
                            span: a.key.span(),
                        });
                    }
                }
                "locals" => {
                    for a in b.body.attributes() {
                        let name = a.key.value().as_str();
                        if locals.iter().any(|l| l.0 == name) {
                            return Err(located(Diag::new(
                                a.key.span(),
                                "Duplicate value in locals",
                                format!("Duplicate {name} definition found."),
                            )));
                        }
                        locals.push((name, &a.value, a.key.span()));
                    }
                }
                "job" => jobs.push(b),
                other => {
                    return Err(located(Diag::new(
                        b.ident.span(),
                        "Unsupported block type",
                        format!("Blocks of type {other:?} are not expected here."),
                    )));
                }
            },
            Structure::Attribute(a) => {
                return Err(located(Diag::new(
                    a.key.span(),
                    "Unsupported argument",
                    format!(
                        "An argument named {:?} is not expected here.",
                        a.key.value().as_str()
                    ),
                )));
            }
        }
    }

    collect_values(path, &mut vars, inputs)?;
    let mut var_values = BTreeMap::new();
    for v in &vars {
        let Some((value, from)) = &v.value else {
            return Err(located(Diag::new(
                v.span.clone(),
                &format!("Unset variable {:?}", v.name),
                format!(
                    "A used variable must be set or have a default value; it has no default, so pass one with --var {0}=VALUE or in a --var-file.",
                    v.name
                ),
            )));
        };
        validate(text, v, value, from).map_err(located)?;
        var_values.insert(v.name.clone(), value.clone());
    }

    // Locals may refer to each other in any order: evaluate until nothing changes
    // (`evaluateLocalVariables`).
    let mut scope = Scope::default();
    scope.vars.insert("var".into(), Value::Object(var_values));
    scope
        .vars
        .insert("local".into(), Value::Object(BTreeMap::new()));
    let ctx = Ctx {
        src: text,
        funcs: Some(&funcs),
        keep_unknown: true,
    };
    let mut pending = locals;
    let mut local_values = BTreeMap::new();
    while !pending.is_empty() {
        let mut next = Vec::new();
        let mut last_err = None;
        for l in pending.iter() {
            match ctx.eval(l.1, &scope) {
                Ok(v) => {
                    local_values.insert(l.0.to_owned(), v);
                    scope
                        .vars
                        .insert("local".into(), Value::Object(local_values.clone()));
                }
                Err(e) => {
                    last_err = Some(e);
                    next.push(l.clone());
                }
            }
        }
        if next.len() == pending.len() {
            let e = last_err.expect("pending locals have an error");
            return Err(located(e));
        }
        pending = next;
    }

    match jobs.as_slice() {
        [] => Err(JobError::Invalid(format!(
            "{}: Missing job block; A job block is required",
            path.display()
        ))),
        [job] => {
            let Some(label) = job.labels.first() else {
                return Err(located(Diag::new(
                    job.ident.span(),
                    "Missing name for job",
                    "All job blocks must have 1 labels (name).",
                )));
            };
            if job.labels.len() > 1 {
                return Err(located(Diag::new(
                    job.ident.span(),
                    "Extraneous label for job",
                    "Only 1 labels (name) are expected for job blocks.",
                )));
            }
            let dec = decode::Decoder { ctx };
            dec.block(
                "job",
                vec![label.as_str().to_owned()],
                &job.body,
                &schema::S_JOB,
                &scope,
            )
            .map_err(located)
        }
        [first, second, ..] => Err(located(Diag::new(
            second.ident.span(),
            "Duplicate job block",
            format!(
                "Only one block of type \"job\" is allowed. Previous definition was at line {}. Nomad accepts one job per file.",
                crate::hclguard::line_col(text, first.ident.span().map_or(0, |s| s.start)).0
            ),
        ))),
    }
}

/// Build an error at the first line whose text starts with `needle`.
pub fn locate(path: &Path, text: &str, needle: &str, message: String) -> JobError {
    locate_within(path, text, &[needle], message)
}

/// Like [`locate`], for a path of needles: each is searched from the line of the one
/// before (`group "g"`, `task "t"`, `bad_block`), so the right one of several is found.
pub fn locate_within(path: &Path, text: &str, needles: &[&str], message: String) -> JobError {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0usize;
    let mut found = None;
    for needle in needles {
        let hit = lines.iter().enumerate().skip(from).find(|(_, l)| {
            let t = l.trim_start();
            t.starts_with(needle)
                && t[needle.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        });
        match hit {
            Some((n, _)) => {
                from = n;
                found = Some(n);
            }
            None => break,
        }
    }
    match found {
        Some(n) => {
            let l = lines[n];
            JobError::Syntax {
                file: path.to_owned(),
                line: n + 1,
                column: l.len() - l.trim_start().len() + 1,
                text: crate::hclguard::line_text(text, n + 1),
                message,
            }
        }
        None => JobError::Invalid(format!("{}: {message}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `src`, whose job-level attributes the tests write are moved into a task's
    /// `config` (which takes any attribute), on the same line; returns that config.
    fn job(src: &str, inputs: &VarInputs) -> Result<Node, JobError> {
        let wrapped = match (src.find("job \"j\" {"), src.rfind('}')) {
            (Some(start), Some(end)) if end > start => format!(
                "{}job \"j\" {{\ngroup \"g\" {{\ntask \"t\" {{\nconfig {{\n{}\n}}\n}}\n}}\n{}",
                &src[..start],
                &src[start + 9..end],
                &src[end..]
            ),
            _ => src.to_owned(),
        };
        let n = parse_job(Path::new("t.nomad.hcl"), &wrapped, inputs)?;
        let config = n
            .blocks("group")
            .next()
            .and_then(|g| g.blocks("task").next())
            .and_then(|t| t.blocks("config").next())
            .cloned();
        Ok(config.unwrap_or(n))
    }

    fn raw_job(src: &str, inputs: &VarInputs) -> Result<Node, JobError> {
        parse_job(Path::new("t.nomad.hcl"), src, inputs)
    }

    /// The error `job` gives for `src` without inputs, as the user reads it.
    fn job_err(src: &str) -> String {
        job(src, &VarInputs::default()).unwrap_err().to_string()
    }

    /// The error `raw_job` gives for `src` without inputs, as the user reads it.
    fn raw_err(src: &str) -> String {
        raw_job(src, &VarInputs::default()).unwrap_err().to_string()
    }

    fn attr(n: &Node, key: &str) -> serde_json::Value {
        n.attr(key).cloned().unwrap_or(serde_json::Value::Null)
    }

    #[test]
    fn runtime_references_survive_and_hcl_ones_evaluate() {
        let src = r#"
variable "v" { default = "x" }
locals { l = "${var.v}-local" }
job "j" {
  a = "${NOMAD_TASK_DIR}/db"
  b = "${var.v}/${local.l}/${env["HOME"]}/${attr.kernel.name}/${meta.rack}"
  c = "${var.v}"
  d = "$${ESCAPED} ${upper(var.v)} ${PGDATA}"
  e = <<EOH
  keep ${NOMAD_ALLOC_DIR}
EOH
  f = <<-EOH
    dedent ${var.v}
      more
    EOH
  g = "%{ if var.v == "x" }yes%{ endif } ${NOMAD_JOB_NAME}"
  h = <<-EOH
      indented ${NOMAD_TASK_DIR}
        deeper ${var.v}
      EOH
}
"#;
        let n = job(src, &VarInputs::default()).unwrap();
        assert_eq!(attr(&n, "a"), "${NOMAD_TASK_DIR}/db");
        assert_eq!(
            attr(&n, "b"),
            r#"x/x-local/${env["HOME"]}/${attr.kernel.name}/${meta.rack}"#
        );
        assert_eq!(attr(&n, "c"), "x");
        assert_eq!(attr(&n, "d"), "${ESCAPED} X ${PGDATA}");
        assert_eq!(attr(&n, "e"), "  keep ${NOMAD_ALLOC_DIR}\n");
        assert_eq!(attr(&n, "f"), "dedent x\n  more\n");
        assert_eq!(attr(&n, "g"), "yes ${NOMAD_JOB_NAME}");
        assert_eq!(attr(&n, "h"), "indented ${NOMAD_TASK_DIR}\n  deeper x\n");
    }

    #[test]
    fn functions_nomad_jobs_use() {
        let src = r#"
job "j" {
  format    = format("%s-%d-%v-%q-%%", "a", 3, true, "q")
  join      = join("/", ["a", "b"], ["c"])
  split     = split(",", "a,b")
  lower     = lower("ABC")
  upper     = upper("abc")
  concat    = concat(["a"], ["b", "c"])
  length    = length([1, 2])
  strlen    = strlen("héllo")
  replace   = replace("a.b.c", ".", "/")
  rereplace = replace("v1.2.3", "/[0-9]/", "N")
  trimspace = trimspace("  x \n")
  coalesce  = coalesce(null, "", "z")
  lookup    = lookup({ a = "1" }, "b", "dflt")
  merge     = merge({ a = 1 }, { b = 2 }, { a = 3 })
  json      = jsonencode({ a = [1, "x"] })
  nested    = format("%s", "${NOMAD_TASK_DIR}/x")
}
"#;
        let n = job(src, &VarInputs::default()).unwrap();
        assert_eq!(attr(&n, "format"), "a-3-true-\"q\"-%");
        assert_eq!(attr(&n, "join"), "a/b/c");
        assert_eq!(attr(&n, "split"), serde_json::json!(["a", "b"]));
        assert_eq!(attr(&n, "lower"), "abc");
        assert_eq!(attr(&n, "upper"), "ABC");
        assert_eq!(attr(&n, "concat"), serde_json::json!(["a", "b", "c"]));
        assert_eq!(attr(&n, "length"), 2);
        assert_eq!(attr(&n, "strlen"), 5);
        assert_eq!(attr(&n, "replace"), "a/b/c");
        assert_eq!(attr(&n, "rereplace"), "vN.N.N");
        assert_eq!(attr(&n, "trimspace"), "x");
        assert_eq!(attr(&n, "coalesce"), "");
        assert_eq!(attr(&n, "lookup"), "dflt");
        assert_eq!(attr(&n, "merge"), serde_json::json!({"a": 3, "b": 2}));
        assert_eq!(attr(&n, "json"), r#"{"a":[1,"x"]}"#);
        assert_eq!(attr(&n, "nested"), "${NOMAD_TASK_DIR}/x");
        let err = job_err(r#"job "j" { region = lookup({}, "k") }"#);
        assert!(err.contains("expects 3 argument"), "{err}");
        let err = job_err(r#"job "j" { x = nosuchfunc(1) }"#);
        assert!(err.contains("nosuchfunc"), "{err}");
    }

    #[test]
    fn variables_types_and_precedence() {
        let src = r#"
variable "s" {
  type = string
}
variable "n" {
  type    = number
  default = 1
}
variable "b" {
  type    = bool
  default = false
}
variable "l" {
  type    = list(string)
  default = []
}
job "j" {
  s = var.s
  n = var.n + 1
  b = var.b
  l = var.l
}
"#;
        let dir = tempfile::tempdir().unwrap();
        let vf = dir.path().join("v.hcl");
        std::fs::write(&vf, "s = \"from-file\"\nn = 10\n").unwrap();
        let vj = dir.path().join("v.json");
        std::fs::write(&vj, r#"{"n": 20, "l": ["j"]}"#).unwrap();
        let inputs = VarInputs {
            vars: vec![
                ("b".into(), "true".into()),
                ("l".into(), r#"["x", "y"]"#.into()),
            ],
            files: vec![vf.clone(), vj.clone()],
            env: vec![
                ("s".into(), "from-env".into()),
                ("undeclared".into(), "ok".into()),
            ],
        };
        let n = job(src, &inputs).unwrap();
        assert_eq!(attr(&n, "s"), "from-file");
        assert_eq!(attr(&n, "n"), 21);
        assert_eq!(attr(&n, "b"), true);
        assert_eq!(attr(&n, "l"), serde_json::json!(["x", "y"]));

        let err = job_err(src);
        assert!(err.contains("Unset variable \"s\""), "{err}");
        assert!(err.contains("--var s=VALUE"), "{err}");
        let bad = VarInputs {
            vars: vec![("s".into(), "x".into()), ("n".into(), "lots".into())],
            ..VarInputs::default()
        };
        let err = job(src, &bad).unwrap_err().to_string();
        assert!(err.contains("a number is required"), "{err}");
        let undeclared = VarInputs {
            vars: vec![("s".into(), "x".into()), ("zzz".into(), "1".into())],
            ..VarInputs::default()
        };
        let err = job(src, &undeclared).unwrap_err().to_string();
        assert!(
            err.contains("\"zzz\"") && err.contains("not declared"),
            "{err}"
        );
    }

    #[test]
    fn locals_in_any_order_and_cycles() {
        let n = job(
            "locals {\n  a = \"${local.b}-a\"\n  b = upper(\"b\")\n}\njob \"j\" { x = local.a }\n",
            &VarInputs::default(),
        )
        .unwrap();
        assert_eq!(attr(&n, "x"), "B-a");
        let err = job_err("locals {\n  a = local.b\n  b = local.a\n}\njob \"j\" {}\n");
        assert!(err.contains("local."), "{err}");
    }

    #[test]
    fn syntax_errors_have_file_line_column_and_text() {
        let err = raw_job(
            "job \"j\" {\n  a = [1,\n  b = 2\n}\n",
            &VarInputs::default(),
        )
        .unwrap_err();
        let JobError::Syntax {
            line,
            column,
            ref text,
            ..
        } = err
        else {
            panic!("not a syntax error: {err}");
        };
        assert!((2..=4).contains(&line), "line {line}");
        assert!(column >= 1);
        assert!(!text.is_empty());
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("t.nomad.hcl:{line}:{column}: ")),
            "{shown}"
        );
        assert!(shown.contains(text.as_str()), "{shown}");
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        for (open, close) in [("[", "]"), ("{", "}"), ("(", ")")] {
            let n = 200_000;
            let src = format!(
                "job \"j\" {{\n  x = {}1{}\n}}\n",
                open.repeat(n),
                close.repeat(n)
            );
            let err = raw_err(&src);
            assert!(err.contains("nesting deeper than"), "{err}");
            assert!(err.contains("t.nomad.hcl:2:"), "{err}");
        }
        let src = format!("job \"j\" {{\n  x = \"{}\"\n}}\n", "${".repeat(100_000));
        let err = raw_err(&src);
        assert!(err.contains("nesting deeper than"), "{err}");
        let src = format!(
            "job \"j\" {{\n  x = \"${{{}1{}}}\"\n}}\n",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let err = raw_err(&src);
        assert!(err.contains("nesting deeper than"), "{err}");
        let src = format!(
            "job \"j\" {{\n  x = <<EOH\nok\n${{{}1{}}}\nEOH\n}}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = raw_err(&src);
        assert!(
            err.contains("nesting deeper than") && err.contains(":4:"),
            "{err}"
        );
        // Brackets inside strings, comments and heredocs do not count.
        let brackets = "[".repeat(500);
        let src = format!(
            "# {brackets}\njob \"j\" {{\n  x = \"{brackets}\"\n  y = <<EOH\n{brackets}\nEOH\n}}\n"
        );
        let n = job(&src, &VarInputs::default()).unwrap();
        assert_eq!(attr(&n, "x"), brackets.as_str());
        // Twelve open `[`/`(` parse; the thirteenth is refused, `{` aside.
        for (n, ok) in [(MAX_BRACKETS, true), (MAX_BRACKETS + 1, false)] {
            let src = format!(
                "job \"j\" {{\n  x = {{a = {}1{}}}\n}}\n",
                "[(".repeat(n / 2) + &"[".repeat(n % 2),
                "]".repeat(n % 2) + &")]".repeat(n / 2)
            );
            assert_eq!(job(&src, &VarInputs::default()).is_ok(), ok, "{src}");
        }
    }

    #[test]
    fn top_level_surprises_are_located() {
        let err = job_err("job \"a\" {}\nresource \"x\" {}\n");
        assert!(
            err.contains("t.nomad.hcl:2:1") && err.contains("\"resource\""),
            "{err}"
        );
        let err = job_err("job \"a\" {}\njob \"b\" {}\n");
        assert!(err.contains("Duplicate job block"), "{err}");
        let err = job_err("variable \"x\" {}\n");
        assert!(err.contains("Unset variable \"x\""), "{err}");
        let err = job_err("variable \"x\" { default = 1 }\n");
        assert!(err.contains("Missing job block"), "{err}");
    }
}
