//! Input variables as jobspec2 reads them: `variable` blocks (type, default,
//! validation rules) and their values from `NOMAD_VAR_*`, `--var-file` and `--var`
//! (`hashicorp/nomad:jobspec2/types.variables.go`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Structure};

use super::eval::{Ctx, Diag, Scope};
use super::value::{Type, Value, convert};
use super::{JobError, VarInputs, diag_error, parse_body, typeexpr};
use crate::job::funcs::Funcs;

/// One `variable` (or `variables` entry).
pub(super) struct Var<'b> {
    pub(super) name: String,
    pub(super) ty: Option<Type>,
    /// The value and where it came from (`default`, `env`, `varfile`, `cmd`).
    pub(super) value: Option<(Value, &'static str)>,
    pub(super) validations: Vec<(&'b Expression, String, Option<Range<usize>>)>,
    pub(super) span: Option<Range<usize>>,
}

pub(super) fn variable_decl<'b>(bare: &Ctx<'_>, b: &'b Block) -> Result<Var<'b>, Diag> {
    let Some(name) = b.labels.first().map(|l| l.as_str().to_owned()) else {
        return Err(Diag::new(
            b.ident.span(),
            "Missing name for variable",
            "All variable blocks must have 1 labels (name).",
        ));
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(Diag::new(
            b.labels.first().and_then(|l| l.span()),
            "Invalid variable name",
            "A name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes.",
        ));
    }
    let mut ty = None;
    let mut default = None;
    let mut validations = Vec::new();
    for s in b.body.iter() {
        match s {
            Structure::Attribute(a) => match a.key.value().as_str() {
                "type" => ty = Some(typeexpr::parse(&a.value)?),
                "default" => default = Some(a),
                "description" => {
                    bare.eval(&a.value, &Scope::default())?;
                }
                other => {
                    return Err(Diag::new(
                        a.key.span(),
                        "Unsupported argument",
                        format!("An argument named {other:?} is not expected here."),
                    ));
                }
            },
            Structure::Block(v) if v.ident.value().as_str() == "validation" => {
                validations.push(validation_decl(bare, &name, v)?);
            }
            Structure::Block(v) => {
                return Err(Diag::new(
                    v.ident.span(),
                    "Unsupported block type",
                    format!(
                        "Blocks of type {:?} are not expected here.",
                        v.ident.value().as_str()
                    ),
                ));
            }
        }
    }
    let mut value = None;
    if let Some(a) = default {
        let mut v = bare.eval(&a.value, &Scope::default())?;
        // `decodeVariableBlock`: the default converts to the declared type.
        if let Some(t) = &ty {
            v = convert(&v, t).map_err(|m| {
                Diag::new(
                    a.value.span(),
                    "Invalid default value for variable",
                    format!(
                        "This default value is not compatible with the variable's type constraint: {m}."
                    ),
                )
            })?;
        } else {
            ty = Some(v.ty()).filter(|t| *t != Type::Any);
        }
        value = Some((v, "default"));
    }
    Ok(Var {
        name,
        ty,
        value,
        validations,
        span: b.ident.span(),
    })
}

/// `decodeVariableValidationBlock`: `condition` refers to this variable and nothing
/// else; `error_message` is a string that is not blank.
fn validation_decl<'b>(
    bare: &Ctx<'_>,
    var: &str,
    v: &'b Block,
) -> Result<(&'b Expression, String, Option<Range<usize>>), Diag> {
    let mut condition = None;
    let mut message = None;
    for a in v.body.attributes() {
        match a.key.value().as_str() {
            "condition" => condition = Some(&a.value),
            "error_message" => message = Some(a),
            other => {
                return Err(Diag::new(
                    a.key.span(),
                    "Unsupported argument",
                    format!("An argument named {other:?} is not expected here."),
                ));
            }
        }
    }
    let missing = |n: &str| {
        Diag::new(
            v.ident.span(),
            "Missing required argument",
            format!("The argument {n:?} is required, but no definition was found."),
        )
    };
    let cond = condition.ok_or_else(|| missing("condition"))?;
    let msg_attr = message.ok_or_else(|| missing("error_message"))?;
    let mut good = 0;
    for (root, attr, span) in references(cond) {
        if root == "var" && attr.as_deref() == Some(var) {
            good += 1;
        } else {
            return Err(Diag::new(
                span,
                "Invalid reference in variable validation",
                format!(
                    "The condition for variable {var:?} can only refer to the variable itself, using var.{var}."
                ),
            ));
        }
    }
    if good == 0 {
        return Err(Diag::new(
            cond.span(),
            "Invalid variable validation condition",
            format!(
                "The condition for variable {var:?} must refer to var.{var} in order to test incoming values."
            ),
        ));
    }
    let msg = match bare.eval(&msg_attr.value, &Scope::default())? {
        Value::String(s) => s,
        other => match convert(&other, &Type::String) {
            Ok(Value::String(s)) => s,
            _ => {
                return Err(Diag::new(
                    msg_attr.value.span(),
                    "Unsuitable value type",
                    "Unsuitable value: string required",
                ));
            }
        },
    };
    if msg.trim().is_empty() {
        return Err(Diag::new(
            msg_attr.value.span(),
            "Invalid validation error message",
            "An empty or blank string is not a valid nor useful error message.",
        ));
    }
    Ok((cond, msg, v.ident.span()))
}

/// The variable references (root, first attribute) an expression makes, skipping the
/// names a `for` expression binds.
fn references(e: &Expression) -> Vec<(String, Option<String>, Option<Range<usize>>)> {
    use hcl_edit::expr::TraversalOperator;
    use hcl_edit::visit::{Visit, visit_expr};
    struct V {
        out: Vec<(String, Option<String>, Option<Range<usize>>)>,
        bound: Vec<String>,
    }
    impl Visit for V {
        fn visit_expr(&mut self, e: &Expression) {
            match e {
                Expression::Variable(v) if !self.bound.contains(&v.value().to_string()) => {
                    self.out.push((v.value().to_string(), None, v.span()));
                }
                Expression::Traversal(t) => match &t.expr {
                    Expression::Variable(v) => {
                        if !self.bound.contains(&v.value().to_string()) {
                            let attr = t.operators.first().and_then(|o| match o.value() {
                                TraversalOperator::GetAttr(a) => Some(a.value().to_string()),
                                _ => None,
                            });
                            self.out.push((v.value().to_string(), attr, t.expr.span()));
                        }
                        for o in &t.operators {
                            if let TraversalOperator::Index(i) = o.value() {
                                self.visit_expr(i);
                            }
                        }
                    }
                    _ => visit_expr(self, e),
                },
                Expression::ForExpr(f) => {
                    self.visit_expr(&f.intro.collection_expr);
                    let n = self.bound.len();
                    self.bound.push(f.intro.value_var.value().to_string());
                    if let Some(k) = &f.intro.key_var {
                        self.bound.push(k.value().to_string());
                    }
                    if let Some(k) = &f.key_expr {
                        self.visit_expr(k);
                    }
                    self.visit_expr(&f.value_expr);
                    if let Some(c) = &f.cond {
                        self.visit_expr(&c.expr);
                    }
                    self.bound.truncate(n);
                }
                other => visit_expr(self, other),
            }
        }
    }
    let mut v = V {
        out: Vec::new(),
        bound: Vec::new(),
    };
    v.visit_expr(e);
    v.out
}

/// `Variable.validateValue`: each condition, evaluated with only this variable and the
/// functions (filesystem ones disabled), must be true.
pub(super) fn validate(text: &str, v: &Var<'_>, value: &Value, from: &str) -> Result<(), Diag> {
    if v.validations.is_empty() {
        return Ok(());
    }
    let funcs = Funcs {
        base_dir: PathBuf::new(),
        allow_fs: false,
    };
    let ctx = Ctx {
        src: text,
        funcs: Some(&funcs),
        keep_unknown: false,
    };
    let mut scope = Scope::default();
    scope.vars.insert(
        "var".into(),
        Value::Object(BTreeMap::from([(v.name.clone(), value.clone())])),
    );
    for (cond, msg, decl) in &v.validations {
        let r = ctx.eval(cond, &scope)?;
        if r.is_null() {
            return Err(Diag::new(
                cond.span(),
                "Invalid variable validation result",
                "Validation condition expression must return either true or false, not null.",
            ));
        }
        let ok = match convert(&r, &Type::Bool) {
            Ok(Value::Bool(b)) => b,
            Ok(_) => false,
            Err(m) => {
                return Err(Diag::new(
                    cond.span(),
                    "Invalid variable validation result",
                    format!("Invalid validation condition result value: {m}."),
                ));
            }
        };
        if !ok {
            let (l, c) = crate::hclguard::line_col(text, decl.as_ref().map_or(0, |s| s.start));
            return Err(Diag::new(
                v.span.clone(),
                &format!("Invalid value for {from} variable"),
                format!(
                    "{msg}\n\nThis was checked by the validation rule at line {l}, column {c}."
                ),
            ));
        }
    }
    Ok(())
}

/// `collectInputVariableValues`: `NOMAD_VAR_*`, then var files, then `--var`, each
/// converted to the declared type.
pub(super) fn collect_values(
    path: &Path,
    vars: &mut [Var<'_>],
    inputs: &VarInputs,
) -> Result<(), JobError> {
    let usage = |m: String| JobError::Usage(m);
    // Text from the environment or the command line: a literal string for string,
    // number and untyped variables, an HCL expression otherwise
    // (`expressionFromVariableDefinition`).
    let from_text = |v: &Var<'_>, raw: &str, origin: &str| -> Result<Value, JobError> {
        let literal = matches!(v.ty, None | Some(Type::String) | Some(Type::Number));
        let value = if literal {
            Value::String(raw.to_owned())
        } else {
            let e: Expression = raw
                .parse()
                .map_err(|e| usage(format!("<value for var.{} from {origin}>: {e}", v.name)))?;
            let bare = Ctx {
                src: raw,
                funcs: None,
                keep_unknown: false,
            };
            bare.eval(&e, &Scope::default())
                .map_err(|d| usage(format!("<value for var.{} from {origin}>: {d}", v.name)))?
        };
        match &v.ty {
            Some(t) => convert(&value, t).map_err(|m| {
                usage(format!(
                    "Invalid value for variable: the value for {} is not compatible with the variable's type constraint: {m}.",
                    v.name
                ))
            }),
            None => Ok(value),
        }
    };
    for (k, raw) in &inputs.env {
        // Undeclared NOMAD_VAR_* are ignored, as Nomad does.
        if let Some(i) = vars.iter().position(|d| &d.name == k) {
            let val = from_text(&vars[i], raw, "env")?;
            vars[i].value = Some((val, "env"));
        }
    }
    for f in &inputs.files {
        for (k, val) in read_var_file(f)? {
            let Some(i) = vars.iter().position(|d| d.name == k) else {
                return Err(undeclared(&k, &format!("in {}", f.display()), path));
            };
            let val = match &vars[i].ty {
                Some(t) => convert(&val, t).map_err(|m| {
                    usage(format!(
                        "{}: Invalid value for variable: the value for {k} is not compatible with the variable's type constraint: {m}.",
                        f.display()
                    ))
                })?,
                None => val,
            };
            vars[i].value = Some((val, "varfile"));
        }
    }
    for (k, raw) in &inputs.vars {
        let Some(i) = vars.iter().position(|d| &d.name == k) else {
            return Err(undeclared(k, "with --var", path));
        };
        let val = from_text(&vars[i], raw, "arguments")?;
        vars[i].value = Some((val, "cmd"));
    }
    Ok(())
}

fn undeclared(name: &str, origin: &str, path: &Path) -> JobError {
    JobError::Usage(format!(
        "Undefined variable: a \"{name}\" variable was passed {origin} but is not declared in {}; declare it with `variable \"{name}\" {{}}`",
        path.display()
    ))
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
            text: crate::hclguard::line_text(&text, e.line()),
            message: e.to_string(),
        })?;
        let serde_json::Value::Object(map) = v else {
            return Err(JobError::Usage(format!(
                "{}: a JSON var file must hold one object of variable values",
                path.display()
            )));
        };
        return Ok(map
            .into_iter()
            .map(|(k, v)| (k, Value::from_json(&v)))
            .collect());
    }
    let body = parse_body(path, &text)?;
    let bare = Ctx {
        src: &text,
        funcs: None,
        keep_unknown: false,
    };
    let mut out = Vec::new();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => out.push((
                a.key.value().to_string(),
                bare.eval(&a.value, &Scope::default())
                    .map_err(|d| diag_error(path, &text, d))?,
            )),
            Structure::Block(b) => {
                let name = b.labels.first().map(|l| l.as_str()).unwrap_or("");
                return Err(diag_error(
                    path,
                    &text,
                    Diag::new(
                        b.ident.span(),
                        if b.ident.value().as_str() == "variable" {
                            "Variable declaration in a .var file"
                        } else {
                            "Unexpected block in a var file"
                        },
                        format!(
                            "A var file holds only `name = value` lines that assign values to variables declared in the job file; to set variable {name:?} here, write `{name} = <value>`."
                        ),
                    ),
                ));
            }
        }
    }
    Ok(out)
}
