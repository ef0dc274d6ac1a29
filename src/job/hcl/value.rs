//! The values and types HCL expressions evaluate to, after `zclconf/go-cty`: Nomad's
//! jobspec2 evaluates with cty, and its functions and conversions depend on cty's
//! distinctions (list, set and tuple; map and object), so they are kept here.
//!
//! Numbers are `f64`: cty's are 512-bit floats, which only matters beyond 2^53, far
//! outside anything a jobspec counts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Value>),
    /// Elements sorted and unique, as cty orders a set's elements.
    Set(Vec<Value>),
    Tuple(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
}

/// cty's types. `Any` is `cty.DynamicPseudoType` (also the type of a null here).
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Any,
    Bool,
    Number,
    String,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    /// Attribute types, and the names declared `optional(…)`.
    Object(BTreeMap<String, Type>, BTreeSet<String>),
}

impl Type {
    /// cty's `FriendlyName`.
    pub fn friendly(&self) -> String {
        match self {
            Type::Any => "any".into(),
            Type::Bool => "bool".into(),
            Type::Number => "number".into(),
            Type::String => "string".into(),
            Type::List(e) => format!("list of {}", e.friendly()),
            Type::Set(e) => format!("set of {}", e.friendly()),
            Type::Map(e) => format!("map of {}", e.friendly()),
            Type::Tuple(_) => "tuple".into(),
            Type::Object(..) => "object".into(),
        }
    }

    fn is_primitive(&self) -> bool {
        matches!(self, Type::Bool | Type::Number | Type::String)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.friendly())
    }
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn ty(&self) -> Type {
        match self {
            Value::Null => Type::Any,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(v) => Type::List(Box::new(v.first().map_or(Type::Any, Value::ty))),
            Value::Set(v) => Type::Set(Box::new(v.first().map_or(Type::Any, Value::ty))),
            Value::Map(m) => Type::Map(Box::new(m.values().next().map_or(Type::Any, Value::ty))),
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::ty).collect()),
            Value::Object(m) => Type::Object(
                m.iter().map(|(k, v)| (k.clone(), v.ty())).collect(),
                BTreeSet::new(),
            ),
        }
    }

    /// The name of the value's type, for messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::Null => "null".into(),
            other => other.ty().friendly(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Elements of a list, set or tuple.
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Attributes of a map or object.
    pub fn entries(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_sequence(&self) -> bool {
        self.elements().is_some()
    }

    pub fn is_mapping(&self) -> bool {
        self.entries().is_some()
    }

    /// A set from any elements: sorted as cty orders them, duplicates removed.
    pub fn set_of(mut v: Vec<Value>) -> Value {
        v.sort_by(set_order);
        v.dedup();
        Value::Set(v)
    }

    /// A list whose elements are first unified to one type (tuple otherwise).
    pub fn list_of(v: Vec<Value>) -> Value {
        match unify_all(&v) {
            Some(v) => Value::List(v),
            None => Value::Tuple(v),
        }
    }

    /// cty's `Value.Equals` for known values: same type family and same content.
    pub fn equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Number(a), Value::Number(b)) => a == b,
            (a, b) if a.is_sequence() && b.is_sequence() => {
                let same_kind = matches!(
                    (a, b),
                    (Value::List(_), Value::List(_))
                        | (Value::Set(_), Value::Set(_))
                        | (Value::Tuple(_), Value::Tuple(_))
                );
                let (x, y) = (a.elements().unwrap_or(&[]), b.elements().unwrap_or(&[]));
                same_kind && x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.equals(q))
            }
            (a, b) if a.is_mapping() && b.is_mapping() => {
                let same_kind = matches!(
                    (a, b),
                    (Value::Map(_), Value::Map(_)) | (Value::Object(_), Value::Object(_))
                );
                let (x, y) = (a.entries().unwrap(), b.entries().unwrap());
                same_kind
                    && x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((k1, v1), (k2, v2))| k1 == k2 && v1.equals(v2))
            }
            (a, b) => a == b,
        }
    }

    /// The value as JSON, the way Nomad hands decoded values to the API
    /// (`hashicorp/nomad:jobspec2/parse_map.go` `interfaceFromCtyValue`): whole numbers
    /// become integers.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => number_json(*n),
            Value::String(s) => J::String(s.clone()),
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                J::Array(v.iter().map(Value::to_json).collect())
            }
            Value::Map(m) | Value::Object(m) => {
                J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// A JSON value as cty's `ImpliedType` reads JSON: arrays are tuples, objects
    /// objects.
    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::Tuple(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

pub fn number_json(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.2e18 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

/// A number as cty writes it (`big.Float.Text('f', -1)`): no exponent, shortest form.
pub fn number_text(n: f64) -> String {
    if n.is_infinite() {
        return if n > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if n == 0.0 {
        return "0".into();
    }
    format!("{n}")
}

/// How cty orders set elements: numbers by value, strings lexically, false before true,
/// others by their JSON text (a stable order for sets of collections).
fn set_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_json().to_string().cmp(&b.to_json().to_string()),
    }
}

/// Convert `v` to `ty` as `cty/convert.Convert` does; the error is cty's message.
pub fn convert(v: &Value, ty: &Type) -> Result<Value, String> {
    convert_at(v, ty, "")
}

fn at(path: &str, msg: String) -> String {
    if path.is_empty() {
        msg
    } else {
        format!("{path}: {msg}")
    }
}

fn convert_at(v: &Value, ty: &Type, path: &str) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        Type::Any => Ok(v.clone()),
        Type::String => match v {
            Value::String(_) => Ok(v.clone()),
            Value::Number(n) => Ok(Value::String(number_text(*n))),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(at(path, "string required".into())),
        },
        Type::Number => match v {
            Value::Number(_) => Ok(v.clone()),
            Value::String(s) => parse_number(s)
                .map(Value::Number)
                .ok_or_else(|| at(path, "a number is required".into())),
            _ => Err(at(path, "number required".into())),
        },
        Type::Bool => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) => match s.as_str() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                other => Err(at(
                    path,
                    match other.to_lowercase().as_str() {
                        "true" => {
                            "a bool is required; to convert from string, use lowercase \"true\""
                                .into()
                        }
                        "false" => {
                            "a bool is required; to convert from string, use lowercase \"false\""
                                .into()
                        }
                        _ => "a bool is required".into(),
                    },
                )),
            },
            _ => Err(at(path, "bool required".into())),
        },
        Type::List(ety) | Type::Set(ety) => {
            let Some(elems) = v.elements() else {
                return Err(at(path, format!("{} required", ty.friendly())));
            };
            let mut out = Vec::with_capacity(elems.len());
            for (i, e) in elems.iter().enumerate() {
                out.push(convert_at(e, ety, &format!("{}element {i}", prefix(path)))?);
            }
            if **ety == Type::Any {
                out = unify_all(&out).ok_or_else(|| {
                    at(
                        path,
                        format!(
                            "all {} elements must have the same type",
                            if matches!(ty, Type::List(_)) {
                                "list"
                            } else {
                                "set"
                            }
                        ),
                    )
                })?;
            }
            Ok(if matches!(ty, Type::Set(_)) {
                Value::set_of(out)
            } else {
                Value::List(out)
            })
        }
        Type::Map(ety) => {
            let Some(entries) = v.entries() else {
                return Err(at(path, format!("{} required", ty.friendly())));
            };
            let mut out = BTreeMap::new();
            for (k, e) in entries {
                out.insert(
                    k.clone(),
                    convert_at(e, ety, &format!("{}element {k:?}", prefix(path)))?,
                );
            }
            if **ety == Type::Any {
                let vals: Vec<Value> = out.values().cloned().collect();
                let unified = unify_all(&vals)
                    .ok_or_else(|| at(path, "all map elements must have the same type".into()))?;
                out = out.into_keys().zip(unified).collect();
            }
            Ok(Value::Map(out))
        }
        Type::Tuple(etys) => {
            let Some(elems) = v.elements().filter(|_| !matches!(v, Value::Set(_))) else {
                return Err(at(path, "tuple required".into()));
            };
            if elems.len() != etys.len() {
                return Err(at(
                    path,
                    format!("tuple required with {} elements", etys.len()),
                ));
            }
            elems
                .iter()
                .zip(etys)
                .enumerate()
                .map(|(i, (e, t))| convert_at(e, t, &format!("{}element {i}", prefix(path))))
                .collect::<Result<_, _>>()
                .map(Value::Tuple)
        }
        Type::Object(atys, optional) => {
            let Some(entries) = v.entries() else {
                return Err(at(path, "object required".into()));
            };
            let missing: Vec<&String> = atys
                .keys()
                .filter(|k| !entries.contains_key(*k) && !optional.contains(*k))
                .collect();
            match missing.as_slice() {
                [] => {}
                [one] => return Err(at(path, format!("attribute {one:?} is required"))),
                many => {
                    let names: Vec<String> = many.iter().map(|k| format!("{k:?}")).collect();
                    return Err(at(
                        path,
                        format!("attributes {} are required", names.join(", ")),
                    ));
                }
            }
            let mut out = BTreeMap::new();
            for (k, t) in atys {
                let e = entries.get(k).cloned().unwrap_or(Value::Null);
                out.insert(
                    k.clone(),
                    convert_at(&e, t, &format!("{}attribute {k:?}", prefix(path)))?,
                );
            }
            Ok(Value::Object(out))
        }
    }
}

fn prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}, ")
    }
}

/// cty's `ParseNumberVal`: a decimal number, optionally signed and with an exponent.
pub fn parse_number(s: &str) -> Option<f64> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !ok {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// cty's `convert.UnifyUnsafe` for what jobspecs mix: values of one type stay as they
/// are; primitives of different types all become strings; collections unify
/// element-wise. `None` when they cannot share a type.
pub fn unify_all(vals: &[Value]) -> Option<Vec<Value>> {
    let types: Vec<Type> = vals
        .iter()
        .filter(|v| !v.is_null())
        .map(Value::ty)
        .collect();
    let Some(first) = types.first() else {
        return Some(vals.to_vec());
    };
    if types.iter().all(|t| same_shape(t, first)) {
        return Some(vals.to_vec());
    }
    if types.iter().all(Type::is_primitive) {
        return vals
            .iter()
            .map(|v| convert(v, &Type::String).ok())
            .collect();
    }
    let all_seq = vals.iter().all(|v| v.is_null() || v.is_sequence());
    let all_map = vals.iter().all(|v| v.is_null() || v.is_mapping());
    if all_seq {
        // Tuples of different shapes unify to lists of a unified element type.
        let inner: Vec<Value> = vals
            .iter()
            .flat_map(|v| v.elements().unwrap_or(&[]).to_vec())
            .collect();
        unify_all(&inner)?;
        return vals
            .iter()
            .map(|v| match v.elements() {
                Some(e) => Some(Value::List(unify_all(e)?)),
                None => Some(Value::Null),
            })
            .collect();
    }
    if all_map {
        return vals
            .iter()
            .map(|v| match v.entries() {
                Some(m) => {
                    let u = unify_all(&m.values().cloned().collect::<Vec<_>>())?;
                    Some(Value::Map(m.keys().cloned().zip(u).collect()))
                }
                None => Some(Value::Null),
            })
            .collect();
    }
    None
}

fn same_shape(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Any, _) | (_, Type::Any) => true,
        (Type::List(x), Type::List(y))
        | (Type::Set(x), Type::Set(y))
        | (Type::Map(x), Type::Map(y)) => same_shape(x, y),
        (Type::Tuple(x), Type::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(p, q))
        }
        (Type::Object(x, _), Type::Object(y, _)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, t1), (k2, t2))| k1 == k2 && same_shape(t1, t2))
        }
        (x, y) => x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_cty() {
        assert_eq!(
            convert(&Value::str("7511"), &Type::Number),
            Ok(Value::Number(7511.0))
        );
        assert_eq!(
            convert(&Value::Number(1.5), &Type::String),
            Ok(Value::str("1.5"))
        );
        assert_eq!(
            convert(&Value::str("True"), &Type::Bool).unwrap_err(),
            "a bool is required; to convert from string, use lowercase \"true\""
        );
        assert_eq!(
            convert(
                &Value::Tuple(vec![Value::str("a")]),
                &Type::Map(Box::new(Type::String))
            )
            .unwrap_err(),
            "map of string required"
        );
        let mixed = Value::Tuple(vec![Value::Number(1.0), Value::str("a")]);
        assert_eq!(
            convert(&mixed, &Type::List(Box::new(Type::Any))),
            Ok(Value::List(vec![Value::str("1"), Value::str("a")]))
        );
        assert_eq!(number_text(1e21), "1000000000000000000000");
        assert_eq!(number_text(0.1 + 0.2), "0.30000000000000004");
    }
}
