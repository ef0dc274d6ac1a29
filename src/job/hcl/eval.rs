//! Expression evaluation as `hashicorp/hcl/v2/hclsyntax` does it, over hcl-edit's syntax
//! tree (which keeps byte spans: Nomad's handling of unknown references works on the
//! source bytes).
//!
//! Nomad's fork of hcl (`v2.20.2-nomad-1`, `traversal.go`) calls the evaluation
//! context's `UndefinedVariable` hook for a reference whose root is not a variable, and
//! `hashicorp/nomad:jobspec2/types.config.go` `EvalContext` answers with the reference's
//! source text wrapped in `${…}` ([`unknown_reference`]), so `${NOMAD_TASK_DIR}`,
//! `${attr.kernel.name}` or a bare `meta.rack` reach the client as text to interpolate.

use std::collections::BTreeMap;
use std::ops::Range;

use hcl_edit::expr::{
    BinaryOperator, Expression, ForExpr, ObjectKey, TraversalOperator, UnaryOperator,
};
use hcl_edit::template::{Directive, Element, Strip, Template};
use hcl_edit::{Ident, Span};

use super::value::{Type, Value, convert, unify_all};
use crate::job::funcs::Funcs;

/// An evaluation error: hcl's diagnostic summary and detail, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Diag {
    pub span: Option<Range<usize>>,
    pub summary: String,
    pub detail: String,
}

impl Diag {
    pub fn new(span: Option<Range<usize>>, summary: &str, detail: impl Into<String>) -> Diag {
        Diag {
            span,
            summary: summary.to_owned(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            f.write_str(&self.summary)
        } else {
            write!(f, "{}; {}", self.summary, self.detail)
        }
    }
}

pub type EvalResult = Result<Value, Diag>;

/// Variables in scope: `var`, `local`, and iterators of `for` expressions and
/// `dynamic` blocks, innermost first.
#[derive(Debug, Default)]
pub struct Scope<'p> {
    pub vars: BTreeMap<String, Value>,
    pub parent: Option<&'p Scope<'p>>,
}

impl<'p> Scope<'p> {
    pub fn child(&'p self) -> Scope<'p> {
        Scope {
            vars: BTreeMap::new(),
            parent: Some(self),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars
            .get(name)
            .or_else(|| self.parent.and_then(|p| p.get(name)))
    }
}

/// What an evaluation may use besides its scope.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The text the expressions were parsed from (spans index into it).
    pub src: &'a str,
    /// `None` where hcl evaluates with a nil context: function calls are not allowed
    /// (variable defaults, var files).
    pub funcs: Option<&'a Funcs>,
    /// Nomad's `UndefinedVariable` hook (the job file's context); off in var files and
    /// validation conditions, where an unknown name is an error.
    pub keep_unknown: bool,
}

/// `hashicorp/nomad:jobspec2/types.config.go` `UndefinedVariable`, byte for byte: the
/// reference's source text, widened to the enclosing `${ … }` when it directly follows
/// `${` (blanks between kept), else wrapped in `${…}`.
pub fn unknown_reference(src: &str, start: usize, end: usize) -> String {
    let body = src.as_bytes();
    let mut v = String::from_utf8_lossy(&body[start..end]).into_owned();
    let mut bracketed = false;
    let mut i = start;
    while i >= 2 {
        i -= 1;
        if body[i] == b'{' && body[i - 1] == b'$' {
            bracketed = true;
            v = format!("{}{v}", String::from_utf8_lossy(&body[i - 1..start]));
            break;
        } else if body[i] != b' ' {
            break;
        }
    }
    if bracketed {
        // As in Nomad: scanning starts one byte past the reference, every `}` seen
        // appends the text up to it, and the first other non-blank closes with `}`.
        for j in end + 1..body.len() {
            if body[j] == b'}' {
                v.push_str(&String::from_utf8_lossy(&body[end..j]));
            } else if body[j] != b' ' {
                v.push('}');
                break;
            }
        }
    } else {
        v = format!("${{{v}}}");
    }
    v
}

impl Ctx<'_> {
    pub fn eval(&self, expr: &Expression, scope: &Scope<'_>) -> EvalResult {
        match expr {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => Ok(Value::Number(n.value().as_f64().unwrap_or(f64::NAN))),
            Expression::String(s) => Ok(Value::String(s.value().clone())),
            Expression::Array(a) => a
                .iter()
                .map(|e| self.eval(e, scope))
                .collect::<Result<_, _>>()
                .map(Value::Tuple),
            Expression::Object(o) => {
                let mut out = BTreeMap::new();
                for (k, v) in o.iter() {
                    let key = match k {
                        ObjectKey::Ident(id) => id.value().to_string(),
                        ObjectKey::Expression(e) => {
                            let kv = self.eval(e, scope)?;
                            match convert(&kv, &Type::String) {
                                Ok(Value::String(s)) => s,
                                _ => {
                                    return Err(Diag::new(
                                        e.span(),
                                        "Incorrect key type",
                                        format!(
                                            "Can't use this value as a key: string required, but have {}.",
                                            kv.type_name()
                                        ),
                                    ));
                                }
                            }
                        }
                    };
                    out.insert(key, self.eval(v.expr(), scope)?);
                }
                Ok(Value::Object(out))
            }
            Expression::StringTemplate(t) => {
                // A template of one interpolation and nothing else yields the value
                // itself (hclsyntax `TemplateWrapExpr`).
                let elems: Vec<&Element> = t.iter().collect();
                if let [Element::Interpolation(i)] = elems.as_slice() {
                    return self.eval(&i.expr, scope);
                }
                self.template(t, scope).map(Value::String)
            }
            // The parser has already removed a `<<-` heredoc's indentation.
            Expression::HeredocTemplate(h) => self.template(&h.template, scope).map(Value::String),
            Expression::Parenthesis(p) => self.eval(p.inner(), scope),
            Expression::Variable(v) => self.traversal(v, &[], expr.span(), scope),
            Expression::Traversal(t) => match &t.expr {
                Expression::Variable(v) => self.traversal(v, &t.operators, expr.span(), scope),
                other => {
                    let base = self.eval(other, scope)?;
                    let ops: Vec<&TraversalOperator> =
                        t.operators.iter().map(|o| o.value()).collect();
                    self.apply_ops(base, &ops, scope)
                }
            },
            Expression::Conditional(c) => {
                let cond = self.eval(&c.cond_expr, scope)?;
                let cond = match convert(&cond, &Type::Bool) {
                    Ok(Value::Bool(b)) => b,
                    Ok(_) => {
                        return Err(Diag::new(
                            c.cond_expr.span(),
                            "Null condition",
                            "The condition value is null. Conditions must either be true or false.",
                        ));
                    }
                    Err(e) => {
                        return Err(Diag::new(
                            c.cond_expr.span(),
                            "Incorrect condition type",
                            format!("The condition expression must be of type bool: {e}."),
                        ));
                    }
                };
                let (chosen, other) = if cond {
                    (&c.true_expr, &c.false_expr)
                } else {
                    (&c.false_expr, &c.true_expr)
                };
                let v = self.eval(chosen, scope)?;
                // Both results share one type: a number and a string give strings.
                match self.eval(other, scope) {
                    Ok(o) if !o.is_null() && !v.is_null() => {
                        let pair = if cond { [v.clone(), o] } else { [o, v.clone()] };
                        match unify_all(&pair) {
                            Some(u) => Ok(u[usize::from(!cond)].clone()),
                            None => Ok(v),
                        }
                    }
                    _ => Ok(v),
                }
            }
            Expression::FuncCall(fc) => self.call(fc, scope),
            Expression::UnaryOp(u) => {
                let v = self.eval(&u.expr, scope)?;
                match u.operator.value() {
                    UnaryOperator::Neg => {
                        let n = self.operand(&v, &Type::Number, &u.expr)?;
                        Ok(Value::Number(-num(&n)))
                    }
                    UnaryOperator::Not => {
                        let b = self.operand(&v, &Type::Bool, &u.expr)?;
                        Ok(Value::Bool(!matches!(b, Value::Bool(true))))
                    }
                }
            }
            Expression::BinaryOp(b) => self.binary(b, scope),
            Expression::ForExpr(f) => self.for_expr(f, scope),
        }
    }

    fn operand(&self, v: &Value, ty: &Type, e: &Expression) -> EvalResult {
        if v.is_null() {
            return Err(Diag::new(
                e.span(),
                "Invalid operand",
                format!("Unsuitable value for operand: a {ty} is required, not null."),
            ));
        }
        convert(v, ty).map_err(|m| {
            Diag::new(
                e.span(),
                "Invalid operand",
                format!("Unsuitable value for operand: {m}."),
            )
        })
    }

    fn binary(&self, b: &hcl_edit::expr::BinaryOp, scope: &Scope<'_>) -> EvalResult {
        use BinaryOperator as Op;
        let op = *b.operator.value();
        let l = self.eval(&b.lhs_expr, scope)?;
        // `&&` and `||` evaluate both sides in hcl (no short circuit), as here.
        let r = self.eval(&b.rhs_expr, scope)?;
        match op {
            Op::Eq => Ok(Value::Bool(l.equals(&r))),
            Op::NotEq => Ok(Value::Bool(!l.equals(&r))),
            Op::And | Op::Or => {
                let x = self.operand(&l, &Type::Bool, &b.lhs_expr)? == Value::Bool(true);
                let y = self.operand(&r, &Type::Bool, &b.rhs_expr)? == Value::Bool(true);
                Ok(Value::Bool(if op == Op::And { x && y } else { x || y }))
            }
            _ => {
                let x = num(&self.operand(&l, &Type::Number, &b.lhs_expr)?);
                let y = num(&self.operand(&r, &Type::Number, &b.rhs_expr)?);
                Ok(match op {
                    Op::Plus => Value::Number(x + y),
                    Op::Minus => Value::Number(x - y),
                    Op::Mul => Value::Number(x * y),
                    Op::Div => {
                        if y == 0.0 && x == 0.0 {
                            return Err(Diag::new(
                                b.rhs_expr.span(),
                                "Operation failed",
                                "Error during operation: can't divide zero by zero or infinity by infinity.",
                            ));
                        }
                        Value::Number(x / y)
                    }
                    Op::Mod => {
                        if y == 0.0 {
                            return Err(Diag::new(
                                b.rhs_expr.span(),
                                "Operation failed",
                                "Error during operation: can't use modulo with zero.",
                            ));
                        }
                        Value::Number(x % y)
                    }
                    Op::Less => Value::Bool(x < y),
                    Op::LessEq => Value::Bool(x <= y),
                    Op::Greater => Value::Bool(x > y),
                    _ => Value::Bool(x >= y),
                })
            }
        }
    }

    /// A reference: the root variable, then the attribute and index steps. The steps hcl
    /// parses into the traversal itself (names, literal keys) belong to an unknown
    /// reference's text; a computed index or a splat applies to that text.
    fn traversal(
        &self,
        root: &hcl_edit::Decorated<Ident>,
        ops: &[hcl_edit::Decorated<TraversalOperator>],
        whole: Option<Range<usize>>,
        scope: &Scope<'_>,
    ) -> EvalResult {
        let name = root.value().as_str();
        let static_len = ops.iter().take_while(|o| is_static(o.value())).count();
        let all: Vec<&TraversalOperator> = ops.iter().map(|o| o.value()).collect();
        match scope.get(name) {
            Some(v) => self.apply_ops(v.clone(), &all, scope),
            None if self.keep_unknown => {
                let start = root.span().or(whole.clone()).map_or(0, |s| s.start);
                let end = if static_len == 0 {
                    root.span().map_or(start, |s| s.end)
                } else {
                    ops[static_len - 1].span().map_or(start, |s| s.end)
                };
                let text = unknown_reference(self.src, start, end.min(self.src.len()));
                self.apply_ops(Value::String(text), &all[static_len..], scope)
            }
            None => Err(Diag::new(
                root.span(),
                "Unknown variable",
                format!("There is no variable named {name:?}."),
            )),
        }
    }

    fn apply_ops(&self, mut v: Value, ops: &[&TraversalOperator], scope: &Scope<'_>) -> EvalResult {
        for (i, op) in ops.iter().enumerate() {
            match op {
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let rest = &ops[i + 1..];
                    return match v {
                        Value::Null => Ok(Value::Tuple(Vec::new())),
                        Value::List(items) | Value::Set(items) => items
                            .into_iter()
                            .map(|e| self.apply_ops(e, rest, scope))
                            .collect::<Result<_, _>>()
                            .map(Value::List),
                        Value::Tuple(items) => items
                            .into_iter()
                            .map(|e| self.apply_ops(e, rest, scope))
                            .collect::<Result<_, _>>()
                            .map(Value::Tuple),
                        other => Ok(Value::Tuple(vec![self.apply_ops(other, rest, scope)?])),
                    };
                }
                TraversalOperator::GetAttr(name) => {
                    v = get_attr(&v, name.value().as_str())
                        .map_err(|(s, d)| Diag::new(name.span(), s, d))?;
                }
                TraversalOperator::LegacyIndex(n) => {
                    v = index(&v, &Value::Number(*n.value() as f64))
                        .map_err(|(s, d)| Diag::new(n.span(), s, d))?;
                }
                TraversalOperator::Index(e) => {
                    let key = self.eval(e, scope)?;
                    v = index(&v, &key).map_err(|(s, d)| Diag::new(e.span(), s, d))?;
                }
            }
        }
        Ok(v)
    }

    fn call(&self, fc: &hcl_edit::expr::FuncCall, scope: &Scope<'_>) -> EvalResult {
        let name = fc.name.name.value().as_str();
        let span = fc.name.name.span();
        let Some(funcs) = self.funcs else {
            return Err(Diag::new(
                span,
                "Function calls not allowed",
                "Functions may not be called here.",
            ));
        };
        if fc.name.is_namespaced() || !funcs.exists(name) {
            let full: Vec<&str> = fc
                .name
                .namespace
                .iter()
                .map(|n| n.value().as_str())
                .chain([name])
                .collect();
            return Err(Diag::new(
                span,
                "Call to unknown function",
                format!("There is no function named {:?}.", full.join("::")),
            ));
        }
        let exprs: Vec<&Expression> = fc.args.iter().collect();
        // hcl's `try` and `can` take their arguments unevaluated
        // (`hashicorp/hcl/v2/ext/tryfunc`); `convert`'s second is a type
        // (`ext/typeexpr`).
        match name {
            "try" => {
                if exprs.is_empty() {
                    return Err(self.fail(span, name, "at least one argument is required"));
                }
                let mut errors = Vec::new();
                for e in &exprs {
                    match self.eval(e, scope) {
                        Ok(v) => return Ok(v),
                        Err(d) => errors.push(format!("- {d}")),
                    }
                }
                return Err(self.fail(
                    span,
                    name,
                    &format!("no expression succeeded:\n{}\n\nAt least one expression must produce a successful result", errors.join("\n")),
                ));
            }
            "can" => {
                let [e] = exprs.as_slice() else {
                    return Err(self.arity(span, name, 1, exprs.len()));
                };
                return Ok(Value::Bool(self.eval(e, scope).is_ok()));
            }
            "convert" => {
                let [v, t] = exprs.as_slice() else {
                    return Err(self.arity(span, name, 2, exprs.len()));
                };
                let value = self.eval(v, scope)?;
                let ty = super::typeexpr::parse(t)?;
                return convert(&value, &ty).map_err(|m| {
                    Diag::new(
                        v.span(),
                        "Invalid function argument",
                        format!("Invalid value for \"value\" parameter: {m}."),
                    )
                });
            }
            _ => {}
        }
        let mut args = Vec::with_capacity(exprs.len());
        for e in &exprs {
            args.push(self.eval(e, scope)?);
        }
        if fc.args.expand_final() {
            match args.pop() {
                Some(Value::List(v) | Value::Set(v) | Value::Tuple(v)) => args.extend(v),
                Some(Value::Null) | None => {
                    return Err(Diag::new(
                        span,
                        "Invalid expanding argument value",
                        "The expanding argument (indicated by ...) must not be null.",
                    ));
                }
                Some(_) => {
                    return Err(Diag::new(
                        span,
                        "Invalid expanding argument value",
                        "The expanding argument (indicated by ...) must be of a tuple, list, or set type.",
                    ));
                }
            }
        }
        funcs
            .call(name, args)
            .map_err(|m: String| self.fail(span, name, &m))
    }

    fn fail(&self, span: Option<Range<usize>>, name: &str, msg: &str) -> Diag {
        Diag::new(
            span,
            "Error in function call",
            format!("Call to function {name:?} failed: {msg}."),
        )
    }

    fn arity(&self, span: Option<Range<usize>>, name: &str, want: usize, got: usize) -> Diag {
        Diag::new(
            span,
            if got < want {
                "Not enough function arguments"
            } else {
                "Too many function arguments"
            },
            format!("Function {name:?} expects {want} argument(s)."),
        )
    }

    fn for_expr(&self, f: &ForExpr, scope: &Scope<'_>) -> EvalResult {
        let coll = self.eval(&f.intro.collection_expr, scope)?;
        let span = f.intro.collection_expr.span();
        let items: Vec<(Value, Value)> =
            iterate(&coll).map_err(|d| Diag::new(span.clone(), d.0, d.1))?;
        let kname = f.intro.key_var.as_ref().map(|k| k.value().to_string());
        let vname = f.intro.value_var.value().to_string();
        let mut tuple = Vec::new();
        let mut object: BTreeMap<String, Value> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (k, v) in items {
            let mut inner = scope.child();
            if let Some(kn) = &kname {
                inner.vars.insert(kn.clone(), k);
            }
            inner.vars.insert(vname.clone(), v);
            if let Some(cond) = &f.cond {
                let c = self.eval(&cond.expr, &inner)?;
                match convert(&c, &Type::Bool) {
                    Ok(Value::Bool(true)) => {}
                    Ok(Value::Bool(false)) => continue,
                    _ => {
                        return Err(Diag::new(
                            cond.expr.span(),
                            "Invalid 'for' condition",
                            "The 'if' clause value is invalid: bool required.",
                        ));
                    }
                }
            }
            let val = self.eval(&f.value_expr, &inner)?;
            match &f.key_expr {
                None => tuple.push(val),
                Some(ke) => {
                    let key = match convert(&self.eval(ke, &inner)?, &Type::String) {
                        Ok(Value::String(s)) => s,
                        _ => {
                            return Err(Diag::new(
                                ke.span(),
                                "Invalid object key",
                                "Key expression in 'for' expression must be a string.",
                            ));
                        }
                    };
                    if f.grouping {
                        groups.entry(key).or_default().push(val);
                    } else if object.insert(key.clone(), val).is_some() {
                        return Err(Diag::new(
                            ke.span(),
                            "Duplicate object key",
                            format!(
                                "Two different items produced the key {key:?} in this 'for' expression. If duplicates are expected, use the ellipsis (...) after the value expression to enable grouping by key."
                            ),
                        ));
                    }
                }
            }
        }
        Ok(match &f.key_expr {
            None => Value::Tuple(tuple),
            Some(_) if f.grouping => Value::Object(
                groups
                    .into_iter()
                    .map(|(k, v)| (k, Value::Tuple(v)))
                    .collect(),
            ),
            Some(_) => Value::Object(object),
        })
    }

    /// A template's text (literals, interpolations, `%{if}` and `%{for}`), with `~`
    /// strip markers applied.
    pub fn template(&self, t: &Template, scope: &Scope<'_>) -> Result<String, Diag> {
        let mut out = String::new();
        self.template_into(t, scope, &mut out)?;
        Ok(out)
    }

    fn template_into(&self, t: &Template, scope: &Scope<'_>, out: &mut String) -> Result<(), Diag> {
        let elems: Vec<&Element> = t.iter().collect();
        // Strip markers act on the neighbouring literals.
        let strips: Vec<Strip> = elems
            .iter()
            .map(|e| match e {
                Element::Interpolation(i) => i.strip,
                Element::Directive(Directive::If(d)) => Strip::from((
                    d.if_expr.strip.strip_start(),
                    d.endif_expr.strip.strip_end(),
                )),
                Element::Directive(Directive::For(d)) => Strip::from((
                    d.for_expr.strip.strip_start(),
                    d.endfor_expr.strip.strip_end(),
                )),
                Element::Literal(_) => Strip::None,
            })
            .collect();
        for (i, el) in elems.iter().enumerate() {
            match el {
                Element::Literal(l) => {
                    let mut s: &str = l.value();
                    if i > 0 && strips[i - 1].strip_end() {
                        s = s.trim_start();
                    }
                    if i + 1 < elems.len() && strips[i + 1].strip_start() {
                        s = s.trim_end();
                    }
                    out.push_str(s);
                }
                Element::Interpolation(ip) => {
                    let v = self.eval(&ip.expr, scope)?;
                    out.push_str(&interpolated(&v, ip.expr.span())?);
                }
                Element::Directive(Directive::If(d)) => {
                    let c = self.eval(&d.if_expr.cond_expr, scope)?;
                    let cond = match convert(&c, &Type::Bool) {
                        Ok(Value::Bool(b)) => b,
                        _ => {
                            return Err(Diag::new(
                                d.if_expr.cond_expr.span(),
                                "Invalid template if directive",
                                "The condition value must be a bool.",
                            ));
                        }
                    };
                    if cond {
                        self.template_into(&d.if_expr.template, scope, out)?;
                    } else if let Some(e) = &d.else_expr {
                        self.template_into(&e.template, scope, out)?;
                    }
                }
                Element::Directive(Directive::For(d)) => {
                    let f = &d.for_expr;
                    let coll = self.eval(&f.collection_expr, scope)?;
                    let items = iterate(&coll)
                        .map_err(|e| Diag::new(f.collection_expr.span(), e.0, e.1))?;
                    for (k, v) in items {
                        let mut inner = scope.child();
                        if let Some(kn) = &f.key_var {
                            inner.vars.insert(kn.value().to_string(), k);
                        }
                        inner.vars.insert(f.value_var.value().to_string(), v);
                        self.template_into(&f.template, &inner, out)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => *n,
        _ => f64::NAN,
    }
}

fn is_static(op: &TraversalOperator) -> bool {
    match op {
        TraversalOperator::GetAttr(_) | TraversalOperator::LegacyIndex(_) => true,
        TraversalOperator::Index(e) => {
            matches!(e, Expression::String(_) | Expression::Number(_))
        }
        _ => false,
    }
}

/// A value inside `${ … }` as text.
fn interpolated(v: &Value, span: Option<Range<usize>>) -> Result<String, Diag> {
    match v {
        Value::Null => Err(Diag::new(
            span,
            "Invalid template interpolation value",
            "The expression result is null. Cannot include a null value in a string template.",
        )),
        other => match convert(other, &Type::String) {
            Ok(Value::String(s)) => Ok(s),
            _ => Err(Diag::new(
                span,
                "Invalid template interpolation value",
                format!(
                    "Cannot include the given value in a string template: string required, but have {}.",
                    other.type_name()
                ),
            )),
        },
    }
}

type Problem = (&'static str, String);

/// The (key, value) pairs a `for` expression or `dynamic` block iterates over.
pub fn iterate(v: &Value) -> Result<Vec<(Value, Value)>, Problem> {
    match v {
        Value::Null => Err((
            "Iteration over null value",
            "A null value cannot be used as the collection in a 'for' expression.".into(),
        )),
        Value::List(x) | Value::Tuple(x) => Ok(x
            .iter()
            .enumerate()
            .map(|(i, e)| (Value::Number(i as f64), e.clone()))
            .collect()),
        Value::Set(x) => Ok(x.iter().map(|e| (e.clone(), e.clone())).collect()),
        Value::Map(m) | Value::Object(m) => Ok(m
            .iter()
            .map(|(k, e)| (Value::String(k.clone()), e.clone()))
            .collect()),
        other => Err((
            "Iteration over non-iterable value",
            format!(
                "A value of type {} cannot be used as the collection in a 'for' expression.",
                other.type_name()
            ),
        )),
    }
}

pub fn get_attr(v: &Value, name: &str) -> Result<Value, Problem> {
    match v {
        Value::Object(m) => m.get(name).cloned().ok_or((
            "Unsupported attribute",
            format!("This object does not have an attribute named {name:?}."),
        )),
        Value::Map(m) => m.get(name).cloned().ok_or((
            "Missing map element",
            format!("This map does not have an element with the key {name:?}."),
        )),
        Value::Null => Err((
            "Attempt to get attribute from null value",
            "This value is null, so it does not have any attributes.".into(),
        )),
        other => Err((
            "Unsupported attribute",
            format!(
                "Can't access attributes on a primitive-typed value ({}).",
                other.type_name()
            ),
        )),
    }
}

pub fn index(v: &Value, key: &Value) -> Result<Value, Problem> {
    let invalid = || {
        (
            "Invalid index",
            "The given key does not identify an element in this collection value.".to_string(),
        )
    };
    match v {
        Value::List(x) | Value::Tuple(x) => {
            let i = match convert(key, &Type::Number) {
                Ok(Value::Number(n)) if n.fract() == 0.0 => n,
                _ => {
                    return Err((
                        "Invalid index",
                        "The given key does not identify an element in this collection value: a number is required.".into(),
                    ));
                }
            };
            if i < 0.0 || i as usize >= x.len() {
                return Err(invalid());
            }
            Ok(x[i as usize].clone())
        }
        Value::Map(m) | Value::Object(m) => {
            let Ok(Value::String(k)) = convert(key, &Type::String) else {
                return Err(invalid());
            };
            m.get(&k).cloned().ok_or_else(invalid)
        }
        Value::Null => Err((
            "Attempt to index null value",
            "This value is null, so it does not have any indices.".into(),
        )),
        Value::Set(_) => Err((
            "Invalid index",
            "Elements of a set are identified only by their value and don't have any separate index or key to select with, so it's only possible to perform operations across all elements of the set.".into(),
        )),
        other => Err((
            "Invalid index",
            format!("This value does not have any indices ({}).", other.type_name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hashicorp/nomad:jobspec2/parse_test.go` `TestParse_UndefinedVariables`.
    #[test]
    fn unknown_references_keep_their_source_text() {
        let cases = [
            ("\"${ meta.rack }\"", "meta.rack", "${ meta.rack }"),
            ("\"x-${meta.rack}-y\"", "meta.rack", "${meta.rack}"),
            ("[meta.rack]", "meta.rack", "${meta.rack}"),
            (
                "\"${   root.  field[  \\\"FOO\\\"].5  }\"",
                "root.  field[  \\\"FOO\\\"].5",
                "${   root.  field[  \\\"FOO\\\"].5  }",
            ),
        ];
        for (src, reference, want) in cases {
            let start = src.find(reference).unwrap();
            let end = start + reference.len();
            assert_eq!(unknown_reference(src, start, end), want, "{src}");
        }
    }
}
