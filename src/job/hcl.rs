//! HCL2 jobspecs, evaluated the way Nomad's `jobspec2` evaluates them.
//!
//! `variable` blocks, `-var`/`-var-file` values and `locals` are evaluated here with
//! hcl-rs; Nomad's *runtime* references (`${NOMAD_TASK_DIR}`, `${env["X"]}`,
//! `${attr.kernel.name}`, `${PGDATA}`…) are not. `hashicorp/nomad:jobspec2/parse_job.go`
//! gives the evaluation context an `UnknownVariable` hook that returns the reference as
//! the literal text `${…}`, so the client can interpolate it per task later
//! (`client/taskenv/env.go`). We mirror that: a template interpolation whose root is
//! neither `var` nor `local` is kept verbatim.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::template::Element;
use hcl::{Body, Expression, Structure, Template, Value};

use super::JobError;
use crate::config::MAX_INPUT_FILE_BYTES;

/// Deeper bracket nesting than this is refused before parsing: hcl-rs's parser recurses
/// once per level, and no real jobspec comes close.
pub const MAX_NESTING: usize = 100;
/// Open `[` and `(` at once, in one expression or across them. On input that leaves
/// them unclosed after a splat (`a[*][a[*][…`), hcl-rs's parser backtracks through
/// every way to close them: time doubles with about every second level (35 ms at 16
/// levels, 13 s at 48, on this machine). Closed or not, no Nomad file comes near 12.
pub const MAX_BRACKETS: usize = 12;

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

#[derive(Debug, Clone, PartialEq)]
enum VarType {
    String,
    Number,
    Bool,
    /// `any`, `list(…)`, `map(…)`, `object(…)`…: values given on the command line are
    /// parsed as HCL expressions, as Nomad does for non-string types.
    Other,
}

struct VarDecl {
    name: String,
    ty: VarType,
    default: Option<Value>,
}

/// Parse and evaluate `text` (the content of `path`) into the top-level `job` block.
pub fn parse_job(path: &Path, text: &str, inputs: &VarInputs) -> Result<Node, JobError> {
    check_nesting(path, text)?;
    let body = parse_body(path, text)?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut ev = Evaluator {
        path: path.to_owned(),
        text: text.to_owned(),
        base_dir,
        ctx: base_context(),
    };

    let mut decls: Vec<VarDecl> = Vec::new();
    let mut locals: Vec<(&hcl::Attribute, usize)> = Vec::new();
    let mut jobs: Vec<&hcl::Block> = Vec::new();
    for s in body.iter() {
        match s {
            Structure::Block(b) => match b.identifier.as_str() {
                "variable" => decls.push(ev.variable_decl(b)?),
                "variables" => {
                    for a in b.body.attributes() {
                        let default = ev.eval(&a.expr)?;
                        decls.push(VarDecl {
                            name: a.key.to_string(),
                            ty: VarType::Other,
                            default: Some(default),
                        });
                    }
                }
                "locals" => {
                    for a in b.body.attributes() {
                        locals.push((a, 0));
                    }
                }
                "job" => jobs.push(b),
                other => {
                    return Err(ev.unsupported_block(other, "at the top level of a jobspec"));
                }
            },
            Structure::Attribute(a) => {
                return Err(ev.located(
                    a.key.as_str(),
                    format!(
                        "Unsupported argument: an argument named `{}` is not expected at the top level of a jobspec",
                        a.key.as_str()
                    ),
                ));
            }
        }
    }
    for (i, d) in decls.iter().enumerate() {
        if decls[..i].iter().any(|p| p.name == d.name) {
            return Err(ev.located(
                &format!("variable \"{}\"", d.name),
                format!(
                    "Duplicate variable: variable \"{}\" is declared twice",
                    d.name
                ),
            ));
        }
    }
    let values = resolve_vars(&ev, &decls, inputs)?;
    ev.ctx.declare_var("var", Value::Object(values));

    // Locals may refer to each other in any order: evaluate until nothing changes.
    let mut local_values: hcl::Map<String, Value> = hcl::Map::new();
    ev.ctx
        .declare_var("local", Value::Object(local_values.clone()));
    let mut pending = locals;
    while !pending.is_empty() {
        let mut next = Vec::new();
        let mut progressed = false;
        let mut last_err = None;
        for (a, tries) in pending {
            match ev.eval(&a.expr) {
                Ok(v) => {
                    local_values.insert(a.key.to_string(), v);
                    progressed = true;
                }
                Err(e) => {
                    last_err = Some((a.key.to_string(), e));
                    next.push((a, tries + 1));
                }
            }
        }
        ev.ctx
            .declare_var("local", Value::Object(local_values.clone()));
        if !progressed {
            let (key, e) = last_err.expect("pending locals have an error");
            return Err(JobError::Eval {
                file: ev.path.clone(),
                message: format!(
                    "local.{key}: {e} (locals may refer to variables and other locals only)"
                ),
            });
        }
        pending = next;
    }

    match jobs.as_slice() {
        [] => Err(JobError::Invalid(format!(
            "{}: no `job` block found",
            ev.path.display()
        ))),
        [job] => ev.block(job),
        _ => Err(JobError::Invalid(format!(
            "{}: more than one `job` block; Nomad accepts one job per file",
            ev.path.display()
        ))),
    }
}

/// Refuse nesting deeper than [`MAX_NESTING`], or more than [`MAX_BRACKETS`] open
/// brackets, before the recursive parser sees it. Strings, comments and heredoc bodies
/// are skipped so their brackets do not count, except inside `${ … }`.
pub fn check_nesting(path: &Path, text: &str) -> Result<(), JobError> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut brackets = 0usize;
    let is_bracket = |c: u8| matches!(c, b'[' | b'(' | b']' | b')');
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    if bytes[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'"' => {
                // A quoted template: brackets inside `${ … }` nest in the parser too.
                i += 1;
                let mut t = Interp::default();
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b'"' if t.depth == 0 => break,
                        b'\n' => break,
                        _ => i += t.step(&bytes[i..]),
                    }
                    if depth + t.depth > MAX_NESTING || brackets + t.brackets > MAX_BRACKETS {
                        return Err(too_deep(path, text, line, i - line_start));
                    }
                    i += 1;
                }
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                let mut j = i + 2;
                if bytes.get(j) == Some(&b'-') {
                    j += 1;
                }
                let start = j;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                if j > start && bytes.get(j) == Some(&b'\n') {
                    let delim = &text[start..j];
                    // Skip to the line holding only the delimiter.
                    let mut k = j + 1;
                    let mut t = Interp::default();
                    loop {
                        line += 1;
                        let end = text[k..].find('\n').map(|n| k + n).unwrap_or(text.len());
                        if text[k..end].trim() == delim || end >= text.len() {
                            line_start = k;
                            i = end;
                            break;
                        }
                        // Interpolations in the body are parsed recursively as well.
                        let lb = &text.as_bytes()[k..end];
                        let mut x = 0;
                        while x < lb.len() {
                            x += t.step(&lb[x..]);
                            if depth + t.depth > MAX_NESTING || brackets + t.brackets > MAX_BRACKETS
                            {
                                return Err(too_deep(path, text, line, x));
                            }
                            x += 1;
                        }
                        k = end + 1;
                    }
                    continue;
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                brackets += usize::from(is_bracket(c));
                if depth > MAX_NESTING || brackets > MAX_BRACKETS {
                    return Err(too_deep(path, text, line, i - line_start));
                }
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                brackets = brackets.saturating_sub(usize::from(is_bracket(c)));
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Nesting inside the `${ … }` and `%{ … }` of one template.
#[derive(Default)]
struct Interp {
    depth: usize,
    /// Open `[` and `(` among them.
    brackets: usize,
}

impl Interp {
    /// Account for the byte at `at[0]`; returns how many bytes it took beyond the first
    /// (1 for the `{` of `${`).
    fn step(&mut self, at: &[u8]) -> usize {
        match at {
            [b'$' | b'%', b'{', ..] => {
                self.depth += 1;
                return 1;
            }
            [c @ (b'{' | b'[' | b'('), ..] if self.depth > 0 => {
                self.depth += 1;
                self.brackets += usize::from(*c != b'{');
            }
            [c @ (b'}' | b']' | b')'), ..] if self.depth > 0 => {
                self.depth -= 1;
                self.brackets = self.brackets.saturating_sub(usize::from(*c != b'}'));
            }
            _ => {}
        }
        0
    }
}

fn too_deep(path: &Path, text: &str, line: usize, col0: usize) -> JobError {
    JobError::Syntax {
        file: path.to_owned(),
        line,
        column: col0 + 1,
        text: line_text(text, line),
        message: format!(
            "nesting deeper than {MAX_NESTING} levels, or more than {MAX_BRACKETS} open `[`/`(`; \
             refusing to parse (no jobspec or client config nests this deep)"
        ),
    }
}

fn line_text(text: &str, line: usize) -> String {
    let l = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    // A huge single line would drown the message.
    if l.len() > 200 {
        let mut end = 200;
        while !l.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &l[..end])
    } else {
        l.to_owned()
    }
}

/// Parse on a thread with a large stack: nesting is already bounded, this is a margin.
fn parse_body(path: &Path, text: &str) -> Result<Body, JobError> {
    let owned = text.to_owned();
    let res = std::thread::Builder::new()
        .name("hcl-parse".into())
        .stack_size(256 << 20)
        .spawn(move || hcl::parse(&owned))
        .map_err(|e| JobError::Invalid(format!("cannot start the parser thread: {e}")))?
        .join()
        .map_err(|_| JobError::Invalid(format!("{}: the HCL parser failed", path.display())))?;
    res.map_err(|e| match e {
        hcl::Error::Parse(p) => JobError::Syntax {
            file: path.to_owned(),
            line: p.location().line(),
            column: p.location().column(),
            text: line_text(text, p.location().line()),
            message: p.message().to_owned(),
        },
        other => JobError::Invalid(format!("{}: {other}", path.display())),
    })
}

struct Evaluator {
    path: PathBuf,
    text: String,
    base_dir: PathBuf,
    ctx: Context<'static>,
}

impl Evaluator {
    fn variable_decl(&self, b: &hcl::Block) -> Result<VarDecl, JobError> {
        let Some(name) = b.labels.first().map(|l| l.as_str().to_owned()) else {
            return Err(self.located("variable", "a `variable` block needs a name label".into()));
        };
        let mut ty = VarType::Other;
        let mut default = None;
        for a in b.body.attributes() {
            match a.key.as_str() {
                "type" => {
                    ty = match &a.expr {
                        Expression::Variable(v) => match v.as_str() {
                            "string" => VarType::String,
                            "number" => VarType::Number,
                            "bool" => VarType::Bool,
                            _ => VarType::Other,
                        },
                        _ => VarType::Other,
                    }
                }
                "default" => default = Some(self.eval(&a.expr)?),
                _ => {}
            }
        }
        if let Some(d) = &default {
            check_type(&name, &ty, d)
                .map_err(|m| self.located(&format!("variable \"{name}\""), m))?;
        }
        Ok(VarDecl { name, ty, default })
    }

    /// Evaluate one block into a [`Node`].
    fn block(&self, b: &hcl::Block) -> Result<Node, JobError> {
        let mut node = Node {
            ident: b.identifier.to_string(),
            labels: b.labels.iter().map(|l| l.as_str().to_owned()).collect(),
            attrs: Vec::new(),
            blocks: Vec::new(),
        };
        for s in b.body.iter() {
            match s {
                Structure::Attribute(a) => {
                    let v = self.eval(&a.expr).map_err(|e| match e {
                        JobError::Eval { file, message } => JobError::Eval {
                            file,
                            message: format!("{}.{}: {message}", node.ident, a.key.as_str()),
                        },
                        other => other,
                    })?;
                    let json = serde_json::to_value(&v).map_err(|e| {
                        JobError::Invalid(format!(
                            "{}: cannot convert a value: {e}",
                            a.key.as_str()
                        ))
                    })?;
                    node.attrs.push((a.key.to_string(), json));
                }
                Structure::Block(inner) => {
                    if inner.identifier.as_str() == "dynamic" {
                        return Err(self.located(
                            "dynamic",
                            "`dynamic` blocks are not supported by nomad-chroot-check; write the blocks out or use `nomad job run -output` and check the JSON".into(),
                        ));
                    }
                    node.blocks.push(self.block(inner)?)
                }
            }
        }
        Ok(node)
    }

    /// Evaluate an expression, keeping Nomad's runtime references as literal `${…}`.
    fn eval(&self, expr: &Expression) -> Result<Value, JobError> {
        self.eval_expr(expr).map_err(|message| JobError::Eval {
            file: self.path.clone(),
            message,
        })
    }

    fn eval_expr(&self, expr: &Expression) -> Result<Value, String> {
        match expr {
            Expression::TemplateExpr(t) => self.eval_template(t),
            Expression::Array(items) => items
                .iter()
                .map(|e| self.eval_expr(e))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Expression::Object(obj) => {
                let mut map = hcl::Map::new();
                for (k, v) in obj {
                    let key = match k {
                        hcl::ObjectKey::Identifier(id) => id.to_string(),
                        hcl::ObjectKey::Expression(e) => match self.eval_expr(e)? {
                            Value::String(s) => s,
                            other => other.to_string(),
                        },
                        other => return Err(format!("unsupported object key {other:?}")),
                    };
                    map.insert(key, self.eval_expr(v)?);
                }
                Ok(Value::Object(map))
            }
            Expression::Parenthesis(e) => self.eval_expr(e),
            Expression::FuncCall(fc) => {
                let mut args = Vec::with_capacity(fc.args.len());
                for a in &fc.args {
                    args.push(self.eval_expr(a)?);
                }
                if fc.name.namespace.is_empty() && fc.name.name.as_str() == "file" {
                    return self.file(&args);
                }
                let call = hcl::expr::FuncCall {
                    name: fc.name.clone(),
                    args: args.into_iter().map(Expression::from).collect(),
                    expand_final: fc.expand_final,
                };
                call.evaluate(&self.ctx).map_err(|e| e.to_string())
            }
            other => other.evaluate(&self.ctx).map_err(|e| e.to_string()),
        }
    }

    fn eval_template(&self, t: &hcl::expr::TemplateExpr) -> Result<Value, String> {
        let template = Template::from_expr(t).map_err(|e| e.to_string())?;
        let runtime = |e: &Expression| root_name(e).is_some_and(|n| !matches!(n, "var" | "local"));
        let has_runtime = template.elements().iter().any(|el| match el {
            Element::Interpolation(i) => runtime(&i.expr),
            _ => false,
        });
        if !has_runtime {
            return t.evaluate(&self.ctx).map_err(|e| e.to_string());
        }
        // Strip markers (`${~ … ~}`) around kept references are not applied: Nomad jobs
        // do not combine them with runtime variables.
        let mut out = String::new();
        for el in template.elements() {
            match el {
                Element::Literal(l) => out.push_str(l),
                Element::Interpolation(i) if runtime(&i.expr) => {
                    out.push_str("${");
                    out.push_str(&hcl::format::to_string(&i.expr).map_err(|e| e.to_string())?);
                    out.push('}');
                }
                Element::Interpolation(i) => match self.eval_expr(&i.expr)? {
                    Value::String(s) => out.push_str(&s),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                },
                Element::Directive(d) => {
                    let sub = Template::new().add_directive(d.clone());
                    out.push_str(&sub.evaluate(&self.ctx).map_err(|e| e.to_string())?);
                }
            }
        }
        Ok(Value::String(out))
    }

    /// `file(path)`: relative to the job file's directory, as `nomad job run` reads it.
    fn file(&self, args: &[Value]) -> Result<Value, String> {
        let [Value::String(p)] = args else {
            return Err("file() takes one string argument: the path".into());
        };
        let path = self.base_dir.join(p);
        let meta = std::fs::metadata(&path)
            .map_err(|e| format!("file(\"{p}\"): cannot read `{}`: {e}", path.display()))?;
        // A device or FIFO (`/dev/zero`, `/dev/stdin`) would be read forever or block:
        // only regular files, and never more than the cap whatever `st_size` says
        // (`/proc` files report 0).
        if !meta.is_file() {
            return Err(format!(
                "file(\"{p}\"): `{}` is not a regular file",
                path.display()
            ));
        }
        let too_big = || {
            format!(
                "file(\"{p}\"): `{}` is larger than {MAX_INPUT_FILE_BYTES} bytes",
                path.display()
            )
        };
        if meta.len() > MAX_INPUT_FILE_BYTES {
            return Err(too_big());
        }
        use std::io::Read as _;
        let mut text = String::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_INPUT_FILE_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| format!("file(\"{p}\"): cannot read `{}`: {e}", path.display()))?;
        if text.len() as u64 > MAX_INPUT_FILE_BYTES {
            return Err(too_big());
        }
        Ok(Value::String(text))
    }

    fn unsupported_block(&self, ident: &str, where_: &str) -> JobError {
        self.located(
            ident,
            format!("Unsupported block type: blocks of type \"{ident}\" are not expected {where_}"),
        )
    }

    /// An error pointing at the first line that starts with `needle`.
    fn located(&self, needle: &str, message: String) -> JobError {
        locate(&self.path, &self.text, needle, message)
    }
}

/// Build an error at the first line whose text starts with `needle` (hcl-rs keeps no
/// spans after parsing, so the source is searched).
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
                text: line_text(text, n + 1),
                message,
            }
        }
        None => JobError::Invalid(format!("{}: {message}", path.display())),
    }
}

fn root_name(e: &Expression) -> Option<&str> {
    match e {
        Expression::Variable(v) => Some(v.as_str()),
        Expression::Traversal(t) => root_name(&t.expr),
        _ => None,
    }
}

fn check_type(name: &str, ty: &VarType, v: &Value) -> Result<(), String> {
    let ok = match ty {
        VarType::String => v.is_string() || v.is_number() || v.is_boolean(),
        VarType::Number => v.is_number(),
        VarType::Bool => v.is_boolean(),
        VarType::Other => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Invalid value for variable \"{name}\": {v} is not a {}",
            match ty {
                VarType::String => "string",
                VarType::Number => "number",
                VarType::Bool => "bool",
                VarType::Other => "value",
            }
        ))
    }
}

/// A value given as text (`--var`, `NOMAD_VAR_*`), converted by the declared type.
fn value_from_text(name: &str, ty: &VarType, raw: &str) -> Result<Value, String> {
    match ty {
        VarType::String => Ok(Value::String(raw.to_owned())),
        VarType::Number => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| raw.trim().parse::<f64>().map(Value::from))
            .map_err(|_| format!("Invalid value for variable \"{name}\": `{raw}` is not a number")),
        VarType::Bool => match raw.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "Invalid value for variable \"{name}\": `{raw}` is not a bool (true or false)"
            )),
        },
        VarType::Other => {
            // Nomad parses values of complex types as HCL expressions.
            let parsed: Result<hcl::Map<String, Value>, _> =
                hcl::eval::from_str(&format!("v = {raw}\n"), &base_context());
            match parsed.ok().and_then(|mut m| m.swap_remove("v")) {
                Some(v) => Ok(v),
                None => Ok(Value::String(raw.to_owned())),
            }
        }
    }
}

fn resolve_vars(
    ev: &Evaluator,
    decls: &[VarDecl],
    inputs: &VarInputs,
) -> Result<hcl::Map<String, Value>, JobError> {
    let mut given: BTreeMap<String, Value> = BTreeMap::new();
    let decl = |name: &str, origin: &str| -> Result<&VarDecl, JobError> {
        decls.iter().find(|d| d.name == name).ok_or_else(|| {
            JobError::Usage(format!(
                "Undefined variable: a \"{name}\" variable was passed {origin} but is not declared in {}; declare it with `variable \"{name}\" {{}}`",
                ev.path.display()
            ))
        })
    };
    for (k, v) in &inputs.env {
        // Undeclared NOMAD_VAR_* are ignored, as Nomad does.
        if let Some(d) = decls.iter().find(|d| &d.name == k) {
            given.insert(
                k.clone(),
                value_from_text(k, &d.ty, v).map_err(JobError::Usage)?,
            );
        }
    }
    for f in &inputs.files {
        for (k, v) in read_var_file(f)? {
            let d = decl(&k, &format!("in {}", f.display()))?;
            check_type(&k, &d.ty, &v)
                .map_err(|m| JobError::Usage(format!("{}: {m}", f.display())))?;
            given.insert(k, v);
        }
    }
    for (k, v) in &inputs.vars {
        let d = decl(k, "with --var")?;
        given.insert(
            k.clone(),
            value_from_text(k, &d.ty, v).map_err(JobError::Usage)?,
        );
    }
    let mut out = hcl::Map::new();
    for d in decls {
        let v = match given.remove(&d.name).or_else(|| d.default.clone()) {
            Some(v) => v,
            None => {
                return Err(JobError::Usage(format!(
                    "variable \"{0}\" has no value: it has no default, so pass one with --var {0}=VALUE or in a --var-file",
                    d.name
                )));
            }
        };
        out.insert(d.name.clone(), v);
    }
    Ok(out)
}

/// A `-var-file`: HCL attributes (`name = value`) or, for `.json`, one JSON object.
fn read_var_file(path: &Path) -> Result<Vec<(String, Value)>, JobError> {
    let text = crate::config::read_input_file(path).map_err(|source| JobError::Read {
        path: path.to_owned(),
        source,
    })?;
    if path.extension().is_some_and(|e| e == "json") {
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| JobError::Syntax {
            file: path.to_owned(),
            line: e.line(),
            column: e.column(),
            text: line_text(&text, e.line()),
            message: e.to_string(),
        })?;
        let serde_json::Value::Object(map) = v else {
            return Err(JobError::Usage(format!(
                "{}: a JSON var file must hold one object of variable values",
                path.display()
            )));
        };
        return map
            .into_iter()
            .map(|(k, v)| {
                hcl::to_value(&v)
                    .map(|v| (k, v))
                    .map_err(|e| JobError::Usage(format!("{}: {e}", path.display())))
            })
            .collect();
    }
    check_nesting(path, &text)?;
    let body = parse_body(path, &text)?;
    let ev = Evaluator {
        path: path.to_owned(),
        text: text.clone(),
        base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ctx: base_context(),
    };
    let mut out = Vec::new();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => out.push((a.key.to_string(), ev.eval(&a.expr)?)),
            Structure::Block(b) => {
                return Err(ev.located(
                    b.identifier.as_str(),
                    "a var file holds only `name = value` lines, not blocks".into(),
                ));
            }
        }
    }
    Ok(out)
}

/// The functions Nomad jobs commonly use (`hashicorp/nomad:jobspec2/functions.go` takes
/// them from go-cty's stdlib and Terraform). `file` is handled by the evaluator because
/// it needs the job file's directory.
pub fn base_context() -> Context<'static> {
    let mut ctx = Context::new();
    let s = ParamType::String;
    let any = ParamType::Any;
    ctx.declare_func(
        "format",
        FuncDef::builder()
            .param(s.clone())
            .variadic_param(any.clone())
            .build(f_format),
    );
    ctx.declare_func(
        "join",
        FuncDef::builder()
            .param(s.clone())
            .variadic_param(ParamType::array_of(any.clone()))
            .build(f_join),
    );
    ctx.declare_func(
        "split",
        FuncDef::builder()
            .params([s.clone(), s.clone()])
            .build(f_split),
    );
    ctx.declare_func("lower", FuncDef::builder().param(s.clone()).build(f_lower));
    ctx.declare_func("upper", FuncDef::builder().param(s.clone()).build(f_upper));
    ctx.declare_func(
        "trimspace",
        FuncDef::builder().param(s.clone()).build(f_trimspace),
    );
    ctx.declare_func(
        "trimprefix",
        FuncDef::builder()
            .params([s.clone(), s.clone()])
            .build(f_trimprefix),
    );
    ctx.declare_func(
        "trimsuffix",
        FuncDef::builder()
            .params([s.clone(), s.clone()])
            .build(f_trimsuffix),
    );
    ctx.declare_func(
        "replace",
        FuncDef::builder()
            .params([s.clone(), s.clone(), s.clone()])
            .build(f_replace),
    );
    ctx.declare_func(
        "concat",
        FuncDef::builder()
            .variadic_param(ParamType::array_of(any.clone()))
            .build(f_concat),
    );
    ctx.declare_func(
        "length",
        FuncDef::builder().param(any.clone()).build(f_length),
    );
    ctx.declare_func(
        "coalesce",
        FuncDef::builder()
            .variadic_param(any.clone())
            .build(f_coalesce),
    );
    ctx.declare_func(
        "lookup",
        FuncDef::builder()
            .param(ParamType::object_of(any.clone()))
            .param(s.clone())
            .variadic_param(any.clone())
            .build(f_lookup),
    );
    ctx.declare_func(
        "merge",
        FuncDef::builder()
            .variadic_param(ParamType::object_of(any.clone()))
            .build(f_merge),
    );
    ctx.declare_func(
        "jsonencode",
        FuncDef::builder().param(any.clone()).build(f_jsonencode),
    );
    ctx.declare_func(
        "jsondecode",
        FuncDef::builder().param(s.clone()).build(f_jsondecode),
    );
    ctx.declare_func(
        "tostring",
        FuncDef::builder().param(any.clone()).build(f_tostring),
    );
    ctx.declare_func(
        "tonumber",
        FuncDef::builder().param(any.clone()).build(f_tonumber),
    );
    ctx.declare_func(
        "keys",
        FuncDef::builder()
            .param(ParamType::object_of(any.clone()))
            .build(f_keys),
    );
    ctx.declare_func(
        "contains",
        FuncDef::builder()
            .param(ParamType::array_of(any.clone()))
            .param(any)
            .build(f_contains),
    );
    ctx
}

fn str_arg(args: &FuncArgs, i: usize) -> &str {
    args[i].as_str().unwrap_or_default()
}

/// The text of a value as cty converts it to a string.
fn to_text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err("a null value cannot be used as a string".into()),
        other => Err(format!("{other} is not a string")),
    }
}

/// Go's `fmt` verbs as cty's `format` supports them: %s %d %v %q %t %f %%.
fn f_format(args: FuncArgs) -> Result<Value, String> {
    let fmt = str_arg(&args, 0).to_owned();
    let mut rest = args.iter().skip(1);
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            return Err("format: the format string ends with a lone %".into());
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = rest
            .next()
            .ok_or_else(|| format!("format: too few arguments for the verb %{verb}"))?;
        match verb {
            's' | 'v' => out.push_str(&match arg {
                Value::String(s) => s.clone(),
                other => serde_json::to_string(other).map_err(|e| e.to_string())?,
            }),
            'd' => match arg.as_number().and_then(|n| n.as_i64()) {
                Some(n) => out.push_str(&n.to_string()),
                None => return Err(format!("format: %d needs a whole number, got {arg}")),
            },
            'f' => match arg.as_number().and_then(|n| n.as_f64()) {
                Some(n) => out.push_str(&format!("{n:.6}")),
                None => return Err(format!("format: %f needs a number, got {arg}")),
            },
            't' => match arg.as_bool() {
                Some(b) => out.push_str(&b.to_string()),
                None => return Err(format!("format: %t needs a bool, got {arg}")),
            },
            'q' => out.push_str(&serde_json::to_string(&to_text(arg)?).map_err(|e| e.to_string())?),
            other => return Err(format!("format: unsupported verb %{other}")),
        }
    }
    if rest.next().is_some() {
        return Err("format: too many arguments for the format string".into());
    }
    Ok(Value::String(out))
}

fn f_join(args: FuncArgs) -> Result<Value, String> {
    let sep = str_arg(&args, 0);
    let mut parts = Vec::new();
    for list in args.iter().skip(1) {
        for v in list.as_array().into_iter().flatten() {
            parts.push(to_text(v)?);
        }
    }
    Ok(Value::String(parts.join(sep)))
}

fn f_split(args: FuncArgs) -> Result<Value, String> {
    let (sep, s) = (str_arg(&args, 0), str_arg(&args, 1));
    if s.is_empty() {
        return Ok(Value::Array(vec![Value::String(String::new())]));
    }
    Ok(Value::Array(
        s.split(sep).map(|p| Value::String(p.to_owned())).collect(),
    ))
}

fn f_lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(str_arg(&args, 0).to_lowercase()))
}

fn f_upper(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(str_arg(&args, 0).to_uppercase()))
}

fn f_trimspace(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(str_arg(&args, 0).trim().to_owned()))
}

fn f_trimprefix(args: FuncArgs) -> Result<Value, String> {
    let (s, p) = (str_arg(&args, 0), str_arg(&args, 1));
    Ok(Value::String(s.strip_prefix(p).unwrap_or(s).to_owned()))
}

fn f_trimsuffix(args: FuncArgs) -> Result<Value, String> {
    let (s, p) = (str_arg(&args, 0), str_arg(&args, 1));
    Ok(Value::String(s.strip_suffix(p).unwrap_or(s).to_owned()))
}

/// Terraform's `replace`: a substring, or a regular expression when written `/re/`.
fn f_replace(args: FuncArgs) -> Result<Value, String> {
    let (s, sub, rep) = (str_arg(&args, 0), str_arg(&args, 1), str_arg(&args, 2));
    if sub.len() >= 2 && sub.starts_with('/') && sub.ends_with('/') {
        let re = regex::Regex::new(&sub[1..sub.len() - 1])
            .map_err(|e| format!("replace: invalid regular expression {sub}: {e}"))?;
        return Ok(Value::String(re.replace_all(s, rep).into_owned()));
    }
    Ok(Value::String(s.replace(sub, rep)))
}

fn f_concat(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(
        args.iter()
            .flat_map(|l| l.as_array().cloned().unwrap_or_default())
            .collect(),
    ))
}

fn f_length(args: FuncArgs) -> Result<Value, String> {
    let n = match &args[0] {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        Value::String(s) => s.chars().count(),
        other => return Err(format!("length: {other} has no length")),
    };
    Ok(Value::from(n as u64))
}

fn f_coalesce(args: FuncArgs) -> Result<Value, String> {
    args.iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .cloned()
        .ok_or_else(|| "coalesce: no non-null, non-empty argument".into())
}

fn f_lookup(args: FuncArgs) -> Result<Value, String> {
    let key = str_arg(&args, 1);
    if let Some(v) = args[0].as_object().and_then(|o| o.get(key)) {
        return Ok(v.clone());
    }
    match args.get(2) {
        Some(d) => Ok(d.clone()),
        None => Err(format!(
            "lookup: the map has no key \"{key}\" and no default was given"
        )),
    }
}

fn f_merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for m in args.iter() {
        if let Some(o) = m.as_object() {
            for (k, v) in o {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

fn f_jsonencode(args: FuncArgs) -> Result<Value, String> {
    serde_json::to_string(&args[0])
        .map(Value::String)
        .map_err(|e| format!("jsonencode: {e}"))
}

fn f_jsondecode(args: FuncArgs) -> Result<Value, String> {
    let v: serde_json::Value =
        serde_json::from_str(str_arg(&args, 0)).map_err(|e| format!("jsondecode: {e}"))?;
    hcl::to_value(&v).map_err(|e| format!("jsondecode: {e}"))
}

fn f_tostring(args: FuncArgs) -> Result<Value, String> {
    to_text(&args[0]).map(Value::String)
}

fn f_tonumber(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Number(_) => Ok(args[0].clone()),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| s.trim().parse::<f64>().map(Value::from))
            .map_err(|_| format!("tonumber: `{s}` is not a number")),
        other => Err(format!("tonumber: {other} is not a number")),
    }
}

fn f_keys(args: FuncArgs) -> Result<Value, String> {
    let mut keys: Vec<String> = args[0]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    Ok(Value::Array(keys.into_iter().map(Value::String).collect()))
}

fn f_contains(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(
        args[0].as_array().is_some_and(|a| a.contains(&args[1])),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(src: &str, inputs: &VarInputs) -> Result<Node, JobError> {
        parse_job(Path::new("t.nomad.hcl"), src, inputs)
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
  length    = length({ a = 1, b = 2 })
  strlen    = length("héllo")
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
        assert_eq!(attr(&n, "coalesce"), "z");
        assert_eq!(attr(&n, "lookup"), "dflt");
        assert_eq!(attr(&n, "merge"), serde_json::json!({"a": 3, "b": 2}));
        assert_eq!(attr(&n, "json"), r#"{"a":[1,"x"]}"#);
        assert_eq!(attr(&n, "nested"), "${NOMAD_TASK_DIR}/x");
        let err = job(r#"job "j" { x = lookup({}, "k") }"#, &VarInputs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no key \"k\""), "{err}");
        let err = job(r#"job "j" { x = nosuchfunc(1) }"#, &VarInputs::default())
            .unwrap_err()
            .to_string();
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

        let err = job(src, &VarInputs::default()).unwrap_err().to_string();
        assert!(err.contains("variable \"s\" has no value"), "{err}");
        assert!(err.contains("--var s=VALUE"), "{err}");
        let bad = VarInputs {
            vars: vec![("s".into(), "x".into()), ("n".into(), "lots".into())],
            ..VarInputs::default()
        };
        let err = job(src, &bad).unwrap_err().to_string();
        assert!(err.contains("`lots` is not a number"), "{err}");
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
        let err = job(
            "locals {\n  a = local.b\n  b = local.a\n}\njob \"j\" {}\n",
            &VarInputs::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("local."), "{err}");
    }

    #[test]
    fn syntax_errors_have_file_line_column_and_text() {
        let err = job(
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
            let err = job(&src, &VarInputs::default()).unwrap_err().to_string();
            assert!(err.contains("nesting deeper than"), "{err}");
            assert!(err.contains("t.nomad.hcl:2:"), "{err}");
        }
        let src = format!("job \"j\" {{\n  x = \"{}\"\n}}\n", "${".repeat(100_000));
        let err = job(&src, &VarInputs::default()).unwrap_err().to_string();
        assert!(err.contains("nesting deeper than"), "{err}");
        let src = format!(
            "job \"j\" {{\n  x = \"${{{}1{}}}\"\n}}\n",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let err = job(&src, &VarInputs::default()).unwrap_err().to_string();
        assert!(err.contains("nesting deeper than"), "{err}");
        let src = format!(
            "job \"j\" {{\n  x = <<EOH\nok\n${{{}1{}}}\nEOH\n}}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = job(&src, &VarInputs::default()).unwrap_err().to_string();
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
        let err = job("job \"a\" {}\nresource \"x\" {}\n", &VarInputs::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.nomad.hcl:2:1") && err.contains("\"resource\""),
            "{err}"
        );
        let err = job("job \"a\" {}\njob \"b\" {}\n", &VarInputs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than one `job`"), "{err}");
        let err = job("variable \"x\" {}\n", &VarInputs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("variable \"x\" has no value"), "{err}");
        let err = job("variable \"x\" { default = 1 }\n", &VarInputs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `job` block"), "{err}");
    }
}
