//! Decoding a job body into [`Node`]s the way jobspec2 hands it to gohcl: each block
//! checked against its API struct's schema (unknown arguments and blocks, duplicates of
//! single blocks, label counts, required arguments, value types), `dynamic` blocks
//! expanded (`hashicorp/hcl/v2/ext/dynblock`), driver `config` bodies read as
//! attributes (`jobspec2/hclutil/blockattrs.go`), and `meta`/`env` accepted as
//! attributes where jobspec2 accepts them (`hcl_conversions.go` `decodeAsAttribute`).

use std::collections::BTreeMap;
use std::ops::Range;

use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, Body as HclBody, Structure};

use super::Node;
use super::eval::{Ctx, Diag, Scope, iterate};
use super::schema::{self, Body, Nest, Schema, Ty};
use super::value::{Type, Value, convert};
use crate::job::funcs::parse_go_duration;

/// A block after `dynamic` expansion: its own scope when an iterator is in it.
struct VBlock<'b> {
    ident: String,
    labels: Vec<String>,
    body: &'b HclBody,
    span: Option<Range<usize>>,
    scope: Option<Scope<'static>>,
}

pub struct Decoder<'a> {
    pub ctx: Ctx<'a>,
}

type R<T> = Result<T, Diag>;

/// An attribute of a map body: name, value, where the value is written.
type Entry = (String, Value, Option<Range<usize>>);

fn d(span: Option<Range<usize>>, summary: &str, detail: impl Into<String>) -> Diag {
    Diag::new(span, summary, detail)
}

impl Decoder<'_> {
    /// Decode the body of a block whose struct is `schema`.
    pub fn block(
        &self,
        ident: &str,
        labels: Vec<String>,
        body: &HclBody,
        schema: &'static Schema,
        scope: &Scope<'_>,
    ) -> R<Node> {
        let mut node = Node {
            ident: ident.to_owned(),
            labels,
            attrs: Vec::new(),
            blocks: Vec::new(),
        };
        let extra = schema::extra_blocks(schema);
        let lookup_block = |name: &str| {
            schema
                .block(name)
                .or_else(|| extra.iter().find(|b| b.0 == name).map(|b| (b.1, b.2)))
        };
        let attr_forms = schema::attr_forms(schema);

        // Where each of `node.blocks` stands in the source, so attribute-form maps sit
        // where a block would (both forms give the same node).
        let mut order: Vec<usize> = Vec::new();
        // Attributes.
        let mut seen: BTreeMap<&str, Option<Range<usize>>> = BTreeMap::new();
        for s in body.iter() {
            let Structure::Attribute(a) = s else { continue };
            let name = a.key.value().as_str();
            if let Some(prev) = seen.insert(name, a.key.span()) {
                return Err(d(
                    a.key.span(),
                    "Attribute redefined",
                    format!(
                        "The argument {name:?} was already set at {}. Each argument may be set only once.",
                        self.at(prev)
                    ),
                ));
            }
            if attr_forms.contains(&name) {
                if let Some(b) = body.iter().find_map(|s| match s {
                    Structure::Block(b) if b.ident.value().as_str() == name => Some(b),
                    _ => None,
                }) {
                    return Err(d(
                        b.ident.span(),
                        &format!("Duplicate {name} block"),
                        format!(
                            "{name} may not be defined more than once. Another definition is defined at {}.",
                            self.at(a.key.span())
                        ),
                    ));
                }
                let v = self.ctx.eval(&a.value, scope)?;
                let m = convert(&v, &Type::Map(Box::new(Type::String))).map_err(|m| {
                    d(
                        a.value.span(),
                        "Unsuitable value type",
                        format!("Unsuitable value: {m}"),
                    )
                })?;
                let mut block = Node {
                    ident: name.to_owned(),
                    labels: Vec::new(),
                    attrs: Vec::new(),
                    blocks: Vec::new(),
                };
                if let Value::Map(m) = m {
                    block.attrs = m.into_iter().map(|(k, v)| (k, v.to_json())).collect();
                }
                order.push(a.key.span().map_or(0, |s| s.start));
                node.blocks.push(block);
                continue;
            }
            match schema.attr(name) {
                Some((ty, _)) => {
                    if let Some(v) = self.attr_value(a, ty, scope)? {
                        node.attrs.push((name.to_owned(), v));
                    }
                }
                None => {
                    let hint = if lookup_block(name).is_some() {
                        format!(" Did you mean to define a block of type {name:?}?")
                    } else {
                        String::new()
                    };
                    return Err(d(
                        a.key.span(),
                        "Unsupported argument",
                        format!("An argument named {name:?} is not expected here.{hint}"),
                    ));
                }
            }
        }
        for (name, ty, required) in schema.attrs {
            let _ = ty;
            if *required && !seen.contains_key(name) {
                return Err(d(
                    body.span(),
                    "Missing required argument",
                    format!("The argument {name:?} is required, but no definition was found."),
                ));
            }
        }

        // Blocks, `dynamic` ones expanded where they stand.
        let mut blocks = Vec::new();
        self.expand(
            body,
            scope,
            &|name| lookup_block(name).map(|(_, b)| b.labels()),
            &mut blocks,
        )?;
        let mut singles: BTreeMap<String, Option<Range<usize>>> = BTreeMap::new();
        for vb in &blocks {
            let Some((nest, kind)) = lookup_block(&vb.ident) else {
                let hint = if schema.attr(&vb.ident).is_some() {
                    format!(
                        " Did you mean to define argument {:?}? If so, use the equals sign to assign it a value.",
                        vb.ident
                    )
                } else {
                    String::new()
                };
                return Err(d(
                    vb.span.clone(),
                    "Unsupported block type",
                    format!("Blocks of type {:?} are not expected here.{hint}", vb.ident),
                ));
            };
            // `decodeTaskScalingPolicies` reads a task's `scaling "cpu"` with a label.
            let want = if schema.name == "Task" && vb.ident == "scaling" {
                1
            } else {
                kind.labels()
            };
            self.check_labels(vb, want)?;
            if nest == Nest::One {
                if let Some(prev) = singles.insert(vb.ident.clone(), vb.span.clone()) {
                    return Err(d(
                        vb.span.clone(),
                        &format!("Duplicate {} block", vb.ident),
                        format!(
                            "Only one block of type {:?} is allowed. Previous definition was at {}.",
                            vb.ident,
                            self.at(prev)
                        ),
                    ));
                }
            }
            let sc: &Scope<'_> = vb.scope.as_ref().unwrap_or(scope);
            let child = match kind {
                Body::S(s) => self.block(&vb.ident, vb.labels.clone(), vb.body, s, sc)?,
                Body::MapStr | Body::MapListStr | Body::MapAny => {
                    self.map_block(&vb.ident, vb.body, kind, sc)?
                }
            };
            order.push(vb.span.as_ref().map_or(0, |s| s.start));
            node.blocks.push(child);
        }
        let mut indexed: Vec<(usize, Node)> = order.into_iter().zip(node.blocks).collect();
        indexed.sort_by_key(|(at, _)| *at);
        node.blocks = indexed.into_iter().map(|(_, n)| n).collect();
        if schema.name == "Task" {
            check_scaling(&node, &blocks)?;
        }
        if schema.name == "TaskGroup" {
            check_group_scaling(&node).map_err(|m| {
                let (summary, detail) = m.split_once("; ").unwrap_or((&m, ""));
                d(body.span(), summary, detail)
            })?;
        }
        Ok(node)
    }

    fn check_labels(&self, vb: &VBlock<'_>, want: u8) -> R<()> {
        let got = vb.labels.len();
        let want = usize::from(want);
        if got > want {
            return Err(d(
                vb.span.clone(),
                &format!("Extraneous label for {}", vb.ident),
                if want == 0 {
                    format!("No labels are expected for {} blocks.", vb.ident)
                } else {
                    format!(
                        "Only {want} labels (name) are expected for {} blocks.",
                        vb.ident
                    )
                },
            ));
        }
        if got < want {
            return Err(d(
                vb.span.clone(),
                &format!("Missing name for {}", vb.ident),
                format!("All {} blocks must have {want} labels (name).", vb.ident),
            ));
        }
        Ok(())
    }

    /// The blocks of `body`, each `dynamic "type"` replaced by the blocks it generates
    /// (for the types `labels_of` knows; others are left to the caller to refuse).
    fn expand<'b>(
        &self,
        body: &'b HclBody,
        scope: &Scope<'_>,
        labels_of: &dyn Fn(&str) -> Option<u8>,
        out: &mut Vec<VBlock<'b>>,
    ) -> R<()> {
        for s in body.iter() {
            let Structure::Block(b) = s else { continue };
            let ident = b.ident.value().as_str();
            let labels: Vec<String> = b.labels.iter().map(|l| l.as_str().to_owned()).collect();
            if ident != "dynamic" {
                out.push(VBlock {
                    ident: ident.to_owned(),
                    labels,
                    body: &b.body,
                    span: b.ident.span(),
                    scope: None,
                });
                continue;
            }
            self.dynamic(b, scope, labels_of, out)?;
        }
        Ok(())
    }

    fn dynamic<'b>(
        &self,
        b: &'b Block,
        scope: &Scope<'_>,
        labels_of: &dyn Fn(&str) -> Option<u8>,
        out: &mut Vec<VBlock<'b>>,
    ) -> R<()> {
        let [label] = b.labels.as_slice() else {
            return Err(d(
                b.ident.span(),
                "Missing name for dynamic",
                "All dynamic blocks must have 1 labels (type).",
            ));
        };
        let ty = label.as_str();
        let Some(want_labels) = labels_of(ty) else {
            return Err(d(
                b.ident.span(),
                "Unsupported block type",
                format!("Blocks of type {ty:?} are not expected here."),
            ));
        };
        let mut for_each = None;
        let mut iterator = ty.to_owned();
        let mut labels_expr = None;
        for s in b.body.iter() {
            match s {
                Structure::Attribute(a) => match a.key.value().as_str() {
                    "for_each" => for_each = Some(a),
                    "labels" => labels_expr = Some(&a.value),
                    "iterator" => match &a.value {
                        Expression::Variable(v) => iterator = v.value().to_string(),
                        other => {
                            return Err(d(
                                other.span(),
                                "Invalid expression",
                                "A single static variable reference is required: only attribute access and indexing with constant keys. No calculations, function calls, template expressions, etc are allowed here.",
                            ));
                        }
                    },
                    other => {
                        return Err(d(
                            a.key.span(),
                            "Unsupported argument",
                            format!("An argument named {other:?} is not expected here."),
                        ));
                    }
                },
                Structure::Block(c) if c.ident.value().as_str() == "content" => {}
                Structure::Block(c) => {
                    return Err(d(
                        c.ident.span(),
                        "Unsupported block type",
                        format!(
                            "Blocks of type {:?} are not expected here.",
                            c.ident.value().as_str()
                        ),
                    ));
                }
            }
        }
        let Some(for_each) = for_each else {
            return Err(d(
                b.ident.span(),
                "Missing required argument",
                "The argument \"for_each\" is required, but no definition was found.",
            ));
        };
        let contents: Vec<&Block> = b
            .body
            .iter()
            .filter_map(|s| match s {
                Structure::Block(c) if c.ident.value().as_str() == "content" => Some(c),
                _ => None,
            })
            .collect();
        let content = match contents.as_slice() {
            [c] => *c,
            [] => {
                return Err(d(
                    b.ident.span(),
                    "Missing content block",
                    "A dynamic block must have a nested block of type \"content\" to describe the body of each generated block.",
                ));
            }
            [_, second, ..] => {
                return Err(d(
                    second.ident.span(),
                    "Duplicate content block",
                    "Only one nested content block is allowed for each dynamic block.",
                ));
            }
        };
        let each = self.ctx.eval(&for_each.value, scope)?;
        if each.is_null() {
            return Err(d(
                for_each.value.span(),
                "Invalid dynamic for_each value",
                "Cannot use a null value in for_each.",
            ));
        }
        let items = iterate(&each).map_err(|_| {
            d(
                for_each.value.span(),
                "Invalid dynamic for_each value",
                format!(
                    "Cannot use a {} value in for_each. An iterable collection is required.",
                    each.type_name()
                ),
            )
        })?;
        let mut flat = flatten(scope);
        for (k, v) in items {
            let it = Value::Object(BTreeMap::from([
                ("key".to_owned(), k),
                ("value".to_owned(), v),
            ]));
            flat.insert(iterator.clone(), it);
            let inner = Scope {
                vars: flat.clone(),
                parent: None,
            };
            let labels = match labels_expr {
                None => Vec::new(),
                Some(e) => match self.ctx.eval(e, &inner)? {
                    Value::List(v) | Value::Tuple(v) => v
                        .iter()
                        .map(|l| match convert(l, &Type::String) {
                            Ok(Value::String(s)) => Ok(s),
                            _ => Err(d(
                                e.span(),
                                "Invalid dynamic block label",
                                "Cannot use a null value as a dynamic block label.",
                            )),
                        })
                        .collect::<R<Vec<_>>>()?,
                    _ => {
                        return Err(d(
                            e.span(),
                            "Invalid dynamic block labels",
                            "The labels argument must be a list of strings.",
                        ));
                    }
                },
            };
            if labels.len() != usize::from(want_labels) {
                return Err(d(
                    labels_expr.and_then(|e| e.span()).or(b.ident.span()),
                    "Incorrect number of labels",
                    format!(
                        "Blocks of type {ty:?} require {want_labels} label(s), but this dynamic block produces {}.",
                        labels.len()
                    ),
                ));
            }
            out.push(VBlock {
                ident: ty.to_owned(),
                labels,
                body: &content.body,
                span: b.ident.span(),
                scope: Some(inner),
            });
        }
        Ok(())
    }

    fn attr_value(&self, a: &Attribute, ty: Ty, scope: &Scope<'_>) -> R<Option<serde_json::Value>> {
        let v = self.ctx.eval(&a.value, scope)?;
        let span = a.value.span();
        let unsuitable = |m: String| {
            d(
                span.clone(),
                "Unsuitable value type",
                format!("Unsuitable value: {m}"),
            )
        };
        if v.is_null() {
            if ty == Ty::Dur {
                return Err(d(
                    span,
                    "Unsuitable value",
                    "Unsuitable duration value: nil",
                ));
            }
            return Ok(None);
        }
        let target = match ty {
            Ty::Str => Type::String,
            Ty::Num => Type::Number,
            Ty::Bool => Type::Bool,
            Ty::ListStr => Type::List(Box::new(Type::String)),
            Ty::ListNum => Type::List(Box::new(Type::Number)),
            Ty::MapStr => Type::Map(Box::new(Type::String)),
            Ty::Dur => {
                return match &v {
                    Value::String(s) => {
                        parse_go_duration(s).map_err(|e| {
                            d(
                                span,
                                "Unsuitable value type",
                                format!("Unsuitable duration value: {e}"),
                            )
                        })?;
                        Ok(Some(v.to_json()))
                    }
                    Value::Number(_) => Ok(Some(v.to_json())),
                    other => Err(unsuitable(format!(
                        "expected a string but found {}",
                        other.type_name()
                    ))),
                };
            }
        };
        let c = convert(&v, &target).map_err(unsuitable)?;
        if let (Ty::Num, Value::Number(n)) = (ty, &c) {
            if n.fract() != 0.0 {
                return Err(unsuitable("value must be a whole number".into()));
            }
        }
        Ok(Some(c.to_json()))
    }

    /// A `map[string]…` block: its attributes, and nested blocks turned into
    /// attributes as jobspec2's `BlocksAsAttrs` does.
    fn map_block(&self, ident: &str, body: &HclBody, kind: Body, scope: &Scope<'_>) -> R<Node> {
        let mut node = Node {
            ident: ident.to_owned(),
            labels: Vec::new(),
            attrs: Vec::new(),
            blocks: Vec::new(),
        };
        for (name, v, span) in self.just_attributes(body, scope)? {
            let json = match kind {
                Body::MapAny => v.to_json(),
                _ => {
                    let ty = if matches!(kind, Body::MapListStr) {
                        Type::List(Box::new(Type::String))
                    } else {
                        Type::String
                    };
                    if v.is_null() {
                        continue;
                    }
                    convert(&v, &ty)
                        .map_err(|m| {
                            d(
                                span,
                                "Unsuitable value type",
                                format!("Unsuitable value: {m}"),
                            )
                        })?
                        .to_json()
                }
            };
            node.attrs.push((name, json));
        }
        Ok(node)
    }

    fn just_attributes(&self, body: &HclBody, scope: &Scope<'_>) -> R<Vec<Entry>> {
        let mut out: Vec<Entry> = Vec::new();
        for s in body.iter() {
            if let Structure::Attribute(a) = s {
                let v = self.ctx.eval(&a.value, scope)?;
                // An object written in place is wrapped in a list (`attrExpr`).
                let v = match (&a.value, v) {
                    (Expression::Object(_), v) => Value::Tuple(vec![v]),
                    (_, v) => v,
                };
                out.push((a.key.value().to_string(), v, a.value.span()));
            }
        }
        let mut by_type: Vec<(String, Vec<&Block>)> = Vec::new();
        for s in body.iter() {
            if let Structure::Block(b) = s {
                let t = b.ident.value().to_string();
                match by_type.iter_mut().find(|(k, _)| *k == t) {
                    Some((_, v)) => v.push(b),
                    None => by_type.push((t, vec![b])),
                }
            }
        }
        for (t, bs) in by_type {
            let mut items = Vec::new();
            for b in &bs {
                items.push(self.block_as_value(b, scope)?);
            }
            out.push((t, Value::Tuple(items), bs[0].ident.span()));
        }
        Ok(out)
    }

    /// `blockToExpr`: attributes and nested block lists as an object, wrapped in one
    /// single-key object per label, innermost label first.
    fn block_as_value(&self, b: &Block, scope: &Scope<'_>) -> R<Value> {
        let mut obj = BTreeMap::new();
        for (k, v, _) in self.just_attributes(&b.body, scope)? {
            obj.insert(k, v);
        }
        let mut v = Value::Object(obj);
        for l in b.labels.iter().rev() {
            v = Value::Object(BTreeMap::from([(
                l.as_str().to_owned(),
                Value::Tuple(vec![v]),
            )]));
        }
        Ok(v)
    }

    fn at(&self, span: Option<Range<usize>>) -> String {
        match span {
            Some(s) => {
                let (l, c) = crate::hclguard::line_col(self.ctx.src, s.start);
                format!("line {l}, column {c}")
            }
            None => "an earlier line".into(),
        }
    }
}

/// All variables visible from `scope`, innermost winning.
fn flatten(scope: &Scope<'_>) -> BTreeMap<String, Value> {
    let mut chain = Vec::new();
    let mut s = Some(scope);
    while let Some(cur) = s {
        chain.push(cur);
        s = cur.parent;
    }
    let mut out = BTreeMap::new();
    for cur in chain.into_iter().rev() {
        out.extend(cur.vars.clone());
    }
    out
}

/// `hcl_conversions.go` `decodeTaskScalingPolicies`: a task's `scaling` blocks are
/// named `cpu` or `mem`, once each.
fn check_scaling(task: &Node, blocks: &[VBlock<'_>]) -> R<()> {
    let mut seen: Vec<String> = Vec::new();
    for (n, vb) in task
        .blocks
        .iter()
        .filter(|b| b.ident == "scaling")
        .zip(blocks.iter().filter(|b| b.ident == "scaling"))
    {
        let label = n.label().to_lowercase();
        let policy = match label.as_str() {
            "cpu" => "vertical_cpu",
            "mem" => "vertical_mem",
            _ => {
                return Err(d(
                    vb.span.clone(),
                    "Invalid scaling policy name",
                    "scaling policy name must be \"cpu\" or \"mem\"",
                ));
            }
        };
        if seen.contains(&label) {
            return Err(d(
                vb.span.clone(),
                &format!("Duplicate scaling {label:?} block"),
                format!("Only one scaling {label} block is allowed."),
            ));
        }
        seen.push(label);
        if let Some(t) = n.attr("type").and_then(|t| t.as_str()) {
            if t != policy {
                return Err(d(
                    vb.span.clone(),
                    "Invalid scaling policy type",
                    format!("Invalid policy type, expected {t:?} but found {policy:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// `hcl_conversions.go` `validateGroupScalingPolicy`: a group's `scaling` needs `max`,
/// and its `type`, if given, is `horizontal`.
fn check_group_scaling(group: &Node) -> Result<(), String> {
    for s in group.blocks("scaling") {
        if s.attr("max").is_none() {
            return Err("Missing required argument; The argument \"max\" is required, but no definition was found.".into());
        }
        if let Some(t) = s.attr("type").and_then(|t| t.as_str()) {
            if t != "horizontal" {
                return Err(format!(
                    "Invalid group scaling type; task group scaling policy had invalid type: {t:?}"
                ));
            }
        }
    }
    Ok(())
}
