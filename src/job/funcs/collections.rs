//! cty stdlib `collection.go`, `sequence.go`, `set.go`, `general.go` and `sort`:
//! functions over lists, sets, tuples, maps and objects.

use std::collections::BTreeMap;

use super::Args;
use crate::job::hcl::eval;
use crate::job::hcl::value::{Type, Value, convert, unify_all};

pub(super) fn call(name: &str, a: Args<'_>) -> Result<Value, String> {
    match name {
        "length" => {
            a.count(1, 1)?;
            match a.get(0) {
                Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                    Ok(Value::Number(v.len() as f64))
                }
                Value::Map(m) => Ok(Value::Number(m.len() as f64)),
                _ => Err("collection must be a list, a map or a tuple".into()),
            }
        }
        "index" => {
            a.count(2, 2)?;
            match a.get(0) {
                Value::List(_) | Value::Tuple(_) | Value::Map(_) => {
                    eval::index(a.get(0), a.get(1)).map_err(|_| "invalid index".into())
                }
                _ => Err("collection must be a list, a map or a tuple".into()),
            }
        }
        "element" => {
            a.count(2, 2)?;
            let list = match a.get(0) {
                Value::List(v) | Value::Tuple(v) => v.clone(),
                other => return Err(format!("cannot read elements from {}", other.type_name())),
            };
            let i = a.int(1, "index")?;
            if i < 0 {
                return Err("cannot use element function with a negative index".into());
            }
            if list.is_empty() {
                return Err("cannot use element function with an empty list".into());
            }
            Ok(list[i as usize % list.len()].clone())
        }
        "keys" | "values" => {
            a.count(1, 1)?;
            let (m, is_map) = match a.get(0) {
                Value::Map(m) => (m, true),
                Value::Object(m) => (m, false),
                _ => {
                    return Err(if name == "keys" {
                        "Invalid value for \"inputMap\" parameter: must have map or object type"
                            .into()
                    } else {
                        "values() requires a map as the first argument".into()
                    });
                }
            };
            let items: Vec<Value> = if name == "keys" {
                m.keys().map(|k| Value::String(k.clone())).collect()
            } else {
                m.values().cloned().collect()
            };
            Ok(if is_map {
                Value::List(items)
            } else {
                Value::Tuple(items)
            })
        }
        "lookup" => {
            a.count(3, 3)?;
            let key = a.string(1, "key")?;
            match a.get(0) {
                Value::Object(m) => Ok(m.get(&key).cloned().unwrap_or_else(|| a.get(2).clone())),
                Value::Map(m) => match m.get(&key) {
                    Some(v) => Ok(v.clone()),
                    None => {
                        let elem = m.values().next().map_or(Type::Any, Value::ty);
                        convert(a.get(2), &elem).map_err(|_| {
                            "Invalid value for \"default\" parameter: the default value must have the same type as the map elements".to_string()
                        })
                    }
                },
                _ => Err("Invalid value for \"inputMap\" parameter: lookup() requires a map as the first argument".into()),
            }
        }
        "merge" => {
            let mut out = BTreeMap::new();
            let mut any_object = false;
            for v in &a.v {
                match v {
                    Value::Null => {}
                    Value::Object(m) => {
                        any_object = true;
                        out.extend(m.clone());
                    }
                    Value::Map(m) => out.extend(m.clone()),
                    other => {
                        return Err(format!(
                            "arguments must be maps or objects, got {:?}",
                            other.type_name()
                        ));
                    }
                }
            }
            Ok(if any_object {
                Value::Object(out)
            } else {
                Value::Map(out)
            })
        }
        "coalesce" => {
            let vals: Vec<Value> = a.v.clone();
            let unified = unify_all(&vals).ok_or("all arguments must have the same type")?;
            unified
                .into_iter()
                .find(|v| !v.is_null())
                .ok_or_else(|| "no non-null arguments".into())
        }
        "coalescelist" => {
            if a.v.is_empty() {
                return Err("at least one argument is required".into());
            }
            for v in &a.v {
                match v {
                    Value::Null => {}
                    Value::List(x) | Value::Tuple(x) if !x.is_empty() => return Ok(v.clone()),
                    Value::List(_) | Value::Tuple(_) => {}
                    _ => return Err("coalescelist arguments must be lists or tuples".into()),
                }
            }
            Err("no non-null arguments".into())
        }
        "compact" => {
            a.count(1, 1)?;
            let Value::List(v) = a.conv(0, "list", &Type::List(Box::new(Type::String)))? else {
                unreachable!()
            };
            Ok(Value::List(
                v.into_iter()
                    .filter(|e| !matches!(e, Value::Null) && e.as_str() != Some(""))
                    .collect(),
            ))
        }
        "concat" => {
            if a.v.is_empty() {
                return Err("at least one argument is required".into());
            }
            let mut all = Vec::new();
            let mut lists = true;
            for (i, v) in a.v.iter().enumerate() {
                match v {
                    Value::List(x) => all.extend(x.clone()),
                    Value::Tuple(x) => {
                        lists = false;
                        all.extend(x.clone());
                    }
                    _ => {
                        return Err(format!(
                            "Invalid value for \"seqs\" parameter: all arguments must be lists or tuples; got {} for argument {i}",
                            v.type_name()
                        ));
                    }
                }
            }
            Ok(match (lists, unify_all(&all)) {
                (true, Some(u)) => Value::List(u),
                _ => Value::Tuple(all),
            })
        }
        "contains" => {
            a.count(2, 2)?;
            match a.get(0) {
                Value::Null => Err("cannot search a nil list or set".into()),
                Value::List(x) | Value::Set(x) | Value::Tuple(x) => {
                    Ok(Value::Bool(x.iter().any(|e| e.equals(a.get(1)))))
                }
                _ => Err("argument must be list, tuple, or set".into()),
            }
        }
        "distinct" => {
            a.count(1, 1)?;
            let Value::List(v) = a.conv(0, "list", &Type::List(Box::new(Type::Any)))? else {
                unreachable!()
            };
            let mut out: Vec<Value> = Vec::new();
            for e in v {
                if !out.iter().any(|o| o.equals(&e)) {
                    out.push(e);
                }
            }
            Ok(Value::List(out))
        }
        "chunklist" => {
            a.count(2, 2)?;
            let v = a.seq(0, "list")?;
            let size = a.int(1, "size")?;
            if size < 0 {
                return Err("the size argument must be positive".into());
            }
            if size == 0 {
                return Ok(Value::List(vec![Value::List(v)]));
            }
            Ok(Value::List(
                v.chunks(size as usize)
                    .map(|c| Value::List(c.to_vec()))
                    .collect(),
            ))
        }
        "flatten" => {
            a.count(1, 1)?;
            fn flat(v: &[Value], out: &mut Vec<Value>) {
                for e in v {
                    match e.elements() {
                        Some(inner) => flat(inner, out),
                        None => out.push(e.clone()),
                    }
                }
            }
            let v = a
                .seq(0, "list")
                .map_err(|_| "can only flatten lists, sets and tuples".to_string())?;
            let mut out = Vec::new();
            flat(&v, &mut out);
            Ok(Value::Tuple(out))
        }
        "range" => {
            let (start, limit, step) = match a.v.len() {
                1 => (0.0, a.number(0, "params")?, 1.0),
                2 => {
                    let (s, l) = (a.number(0, "params")?, a.number(1, "params")?);
                    (s, l, if l < s { -1.0 } else { 1.0 })
                }
                3 => (
                    a.number(0, "params")?,
                    a.number(1, "params")?,
                    a.number(2, "params")?,
                ),
                _ => return Err("must have one, two, or three arguments".into()),
            };
            if step == 0.0 {
                return Err("step must not be zero".into());
            }
            if step < 0.0 && limit > start {
                return Err("end must be less than start when step is negative".into());
            }
            if step > 0.0 && limit < start {
                return Err("end must be greater than start when step is positive".into());
            }
            let mut out = Vec::new();
            let mut x = start;
            while (step > 0.0 && x < limit) || (step < 0.0 && x > limit) {
                if out.len() >= 1024 {
                    return Err("more than 1024 values were generated; either decrease the difference between start and end or use a smaller step".into());
                }
                out.push(Value::Number(x));
                x += step;
            }
            Ok(Value::List(out))
        }
        "slice" => {
            a.count(3, 3)?;
            let v = match a.get(0) {
                Value::List(x) | Value::Tuple(x) => x.clone(),
                Value::Set(_) => return Err("cannot slice a set, because its elements do not have indices; explicitly convert to a list if the ordering of the result is not important".into()),
                _ => return Err("must be a list or tuple value".into()),
            };
            let (s, e) = (a.int(1, "start_index")?, a.int(2, "end_index")?);
            if s < 0 {
                return Err("start index must not be less than zero".into());
            }
            if s as usize > v.len() {
                return Err("start index must not be greater than the length of the list".into());
            }
            if e < 0 {
                return Err("end index must not be less than zero".into());
            }
            if e as usize > v.len() {
                return Err("end index must not be greater than the length of the list".into());
            }
            if s > e {
                return Err("start index must not be greater than end index".into());
            }
            let part = v[s as usize..e as usize].to_vec();
            Ok(match a.get(0) {
                Value::List(_) => Value::List(part),
                _ => Value::Tuple(part),
            })
        }
        "sort" => {
            a.count(1, 1)?;
            let mut v = a.strings(0, "list")?;
            v.sort();
            Ok(Value::List(v.into_iter().map(Value::String).collect()))
        }
        "zipmap" => {
            a.count(2, 2)?;
            let keys = a.strings(0, "keys")?;
            let (vals, is_list) = match a.get(1) {
                Value::List(v) => (v.clone(), true),
                Value::Tuple(v) => (v.clone(), false),
                _ => return Err("values argument must be a list or tuple value".into()),
            };
            if keys.len() != vals.len() {
                return Err(format!(
                    "number of keys ({}) does not match number of values ({})",
                    keys.len(),
                    vals.len()
                ));
            }
            let m: BTreeMap<String, Value> = keys.into_iter().zip(vals).collect();
            Ok(if is_list {
                Value::Map(m)
            } else {
                Value::Object(m)
            })
        }
        "setintersection" | "setunion" => {
            if a.v.is_empty() {
                return Err("at least one argument is required".into());
            }
            let mut sets = Vec::new();
            for i in 0..a.v.len() {
                let Value::Set(s) = a.conv(i, "sets", &Type::Set(Box::new(Type::Any)))? else {
                    unreachable!()
                };
                sets.push(s);
            }
            let mut acc = sets[0].clone();
            for s in &sets[1..] {
                if name == "setunion" {
                    acc.extend(s.iter().cloned());
                } else {
                    acc.retain(|e| s.iter().any(|x| x.equals(e)));
                }
            }
            let unified =
                unify_all(&acc).ok_or("given sets must all have compatible element types")?;
            Ok(Value::set_of(unified))
        }
        "setproduct" => {
            if a.v.len() < 2 {
                return Err("at least two arguments are required".into());
            }
            let mut all_sets = true;
            let mut inputs = Vec::new();
            for (i, v) in a.v.iter().enumerate() {
                match v {
                    Value::Set(x) => inputs.push(x.clone()),
                    Value::List(x) | Value::Tuple(x) => {
                        all_sets = false;
                        inputs.push(x.clone());
                    }
                    _ => {
                        return Err(format!(
                            "Invalid value for \"sets\" parameter: argument {i}: a set or a list is required"
                        ));
                    }
                }
            }
            let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
            for input in &inputs {
                let mut next = Vec::new();
                for prefix in &acc {
                    for e in input {
                        let mut row = prefix.clone();
                        row.push(e.clone());
                        next.push(row);
                    }
                }
                acc = next;
            }
            let rows: Vec<Value> = acc.into_iter().map(Value::List).collect();
            Ok(if all_sets {
                Value::set_of(rows)
            } else {
                Value::List(rows)
            })
        }
        _ => Err(format!("unknown function {name:?}")),
    }
}

#[cfg(test)]
mod tests {
    use crate::job::funcs::testutil::{check, eval, fails};
    use crate::job::hcl::value::Value;

    /// Expected values from `zclconf/go-cty:cty/function/stdlib/collection_test.go`.
    #[test]
    fn length_index_element() {
        check("length([1, 2, 3])", "3");
        check("length([])", "0");
        check("length(keys({a = 1, b = 2}))", "2");
        fails(
            "length(\"abc\")",
            "collection must be a list, a map or a tuple",
        );
        check("index([\"a\", \"b\"], 1)", "\"b\"");
        check("index(convert({a = 1}, map(number)), \"a\")", "1");
        fails(
            "index({a = 1}, \"a\")",
            "collection must be a list, a map or a tuple",
        );
        fails("index([\"a\"], 4)", "invalid index");
        check("element([\"a\", \"b\", \"c\"], 1)", "\"b\"");
        check("element([\"a\", \"b\", \"c\"], 4)", "\"b\"");
        fails("element([], 0)", "empty list");
        fails("element([\"a\"], -1)", "negative index");
    }

    #[test]
    fn keys_values_lookup_merge() {
        check("keys({b = 1, a = 2})", "[\"a\", \"b\"]");
        check("values({b = 1, a = 2})", "[2, 1]");
        check("lookup({a = \"x\"}, \"a\", \"d\")", "\"x\"");
        check("lookup({a = \"x\"}, \"b\", \"d\")", "\"d\"");
        fails("lookup({a = \"x\"}, \"b\")", "expects 3");
        fails("lookup([], \"b\", 1)", "requires a map");
        check("merge({a = 1}, {b = 2}, {a = 3})", "{a = 3, b = 2}");
        check("merge({a = 1}, null)", "{a = 1}");
        fails("merge({a = 1}, [1])", "must be maps or objects");
    }

    #[test]
    fn coalesce_compact_concat_contains() {
        check("coalesce(null, \"b\")", "\"b\"");
        check("coalesce(\"\", \"b\")", "\"\"");
        check("coalesce(1, \"b\")", "\"1\"");
        fails("coalesce(null)", "no non-null arguments");
        check("coalescelist([], [\"b\"])", "[\"b\"]");
        fails("coalescelist(\"a\")", "must be lists or tuples");
        check("compact([\"a\", \"\", \"b\"])", "[\"a\", \"b\"]");
        check("concat([\"a\"], [\"b\", \"c\"])", "[\"a\", \"b\", \"c\"]");
        check("concat([1], [\"b\"])", "[1, \"b\"]");
        check("contains([\"a\", \"b\"], \"b\")", "true");
        check("contains([\"a\"], \"z\")", "false");
        check("contains([1], \"1\")", "false");
        fails("contains(\"a\", \"a\")", "must be list, tuple, or set");
    }

    #[test]
    fn distinct_chunk_flatten_range_slice() {
        check("distinct([\"a\", \"b\", \"a\"])", "[\"a\", \"b\"]");
        check(
            "chunklist([\"a\", \"b\", \"c\"], 2)",
            "[[\"a\", \"b\"], [\"c\"]]",
        );
        check("chunklist([\"a\", \"b\"], 0)", "[[\"a\", \"b\"]]");
        fails("chunklist([\"a\"], -1)", "must be positive");
        check(
            "flatten([[\"a\"], [\"b\", [\"c\"]], []])",
            "[\"a\", \"b\", \"c\"]",
        );
        fails("flatten(\"a\")", "can only flatten");
        check("range(3)", "[0, 1, 2]");
        check("range(1, 4)", "[1, 2, 3]");
        check("range(4, 1)", "[4, 3, 2]");
        check("range(0, 1, 0.25)", "[0, 0.25, 0.5, 0.75]");
        fails("range(0, 1, 0)", "step must not be zero");
        fails("range(0, 1, -1)", "end must be less than start");
        fails("range(0, 2000)", "more than 1024 values");
        check("slice([\"a\", \"b\", \"c\"], 1, 3)", "[\"b\", \"c\"]");
        fails(
            "slice([\"a\"], 2, 3)",
            "start index must not be greater than the length",
        );
        check(
            "sort([\"b\", \"a\", \"10\", \"9\"])",
            "[\"10\", \"9\", \"a\", \"b\"]",
        );
        check("zipmap([\"a\", \"b\"], [1, 2])", "{a = 1, b = 2}");
        fails(
            "zipmap([\"a\"], [1, 2])",
            "number of keys (1) does not match",
        );
    }

    #[test]
    fn set_functions() {
        check(
            "setunion([\"a\", \"b\"], [\"b\", \"c\"])",
            "[\"a\", \"b\", \"c\"]",
        );
        check("setintersection([\"a\", \"b\"], [\"b\", \"c\"])", "[\"b\"]");
        check(
            "setproduct([\"a\", \"b\"], [1, 2])",
            "[[\"a\", 1], [\"a\", 2], [\"b\", 1], [\"b\", 2]]",
        );
        fails("setproduct([\"a\"])", "at least two arguments");
        assert!(matches!(
            eval("setunion([\"b\"], [\"a\"])").unwrap(),
            Value::Set(_)
        ));
    }
}
