//! Type expressions (`string`, `list(number)`, `object({ a = string })`…) as
//! `hashicorp/hcl/v2/ext/typeexpr` reads them, for `variable { type = … }` and
//! `convert(value, type)`.

use std::collections::{BTreeMap, BTreeSet};

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};

use super::eval::Diag;
use super::value::Type;

pub fn parse(e: &Expression) -> Result<Type, Diag> {
    ty(e, false)
}

fn bad(e: &Expression, detail: impl Into<String>) -> Diag {
    Diag::new(e.span(), "Invalid type specification", detail)
}

fn ty(e: &Expression, in_object: bool) -> Result<Type, Diag> {
    match e {
        Expression::Parenthesis(p) => ty(p.inner(), in_object),
        Expression::Variable(v) => match v.value().as_str() {
            "string" => Ok(Type::String),
            "number" => Ok(Type::Number),
            "bool" => Ok(Type::Bool),
            "any" => Ok(Type::Any),
            "list" | "map" | "set" => Ok(match v.value().as_str() {
                "list" => Type::List(Box::new(Type::Any)),
                "map" => Type::Map(Box::new(Type::Any)),
                _ => Type::Set(Box::new(Type::Any)),
            }),
            other => Err(bad(
                e,
                format!("The keyword {other:?} is not a valid type specification."),
            )),
        },
        Expression::FuncCall(fc) => {
            let name = fc.name.name.value().as_str();
            let args: Vec<&Expression> = fc.args.iter().collect();
            let one = || -> Result<&Expression, Diag> {
                match args.as_slice() {
                    [a] => Ok(a),
                    _ => Err(bad(
                        e,
                        format!(
                            "The {name} type constructor requires one argument specifying the element type."
                        ),
                    )),
                }
            };
            match name {
                "list" => Ok(Type::List(Box::new(ty(one()?, false)?))),
                "set" => Ok(Type::Set(Box::new(ty(one()?, false)?))),
                "map" => Ok(Type::Map(Box::new(ty(one()?, false)?))),
                "tuple" => match one()? {
                    Expression::Array(a) => Ok(Type::Tuple(
                        a.iter().map(|t| ty(t, false)).collect::<Result<_, _>>()?,
                    )),
                    other => Err(bad(
                        other,
                        "The tuple type constructor requires a list of element types.",
                    )),
                },
                "object" => match one()? {
                    Expression::Object(o) => {
                        let mut attrs = BTreeMap::new();
                        let mut optional = BTreeSet::new();
                        for (k, v) in o.iter() {
                            let key = match k {
                                ObjectKey::Ident(i) => i.value().to_string(),
                                ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                                ObjectKey::Expression(other) => {
                                    return Err(bad(
                                        other,
                                        "Object constructor map keys must be attribute names.",
                                    ));
                                }
                            };
                            let (t, opt) = match v.expr() {
                                Expression::FuncCall(f)
                                    if f.name.name.value().as_str() == "optional" =>
                                {
                                    let Some(inner) = f.args.iter().next() else {
                                        return Err(bad(
                                            v.expr(),
                                            "The optional modifier requires the attribute type as its argument.",
                                        ));
                                    };
                                    (ty(inner, true)?, true)
                                }
                                other => (ty(other, true)?, false),
                            };
                            if opt {
                                optional.insert(key.clone());
                            }
                            attrs.insert(key, t);
                        }
                        Ok(Type::Object(attrs, optional))
                    }
                    other => Err(bad(
                        other,
                        "The object type constructor requires one argument specifying the attribute types as a map.",
                    )),
                },
                "optional" if in_object => Err(bad(
                    e,
                    "Optional attribute modifier is only for attribute type specifications.",
                )),
                other => Err(bad(
                    e,
                    format!("Keyword {other:?} is not a valid type constructor."),
                )),
            }
        }
        _ => Err(bad(
            e,
            "A type specification is either a primitive type keyword (bool, number, string) or a complex type constructor call, like list(string).",
        )),
    }
}
