//! `zclconf/go-cty-yaml`: yamldecode (YAML 1.1 resolution as go-yaml v2 does it:
//! `yes`/`on` are bools, `077` is 77, `<<` merges) and yamlencode (block style, strings
//! double-quoted, multi-line strings as literal blocks, `...` after a bare scalar).

use std::collections::BTreeMap;

use base64::Engine as _;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::{Args, json_text};
use crate::job::hcl::value::{Value, number_text};

pub(super) fn call(name: &str, a: Args<'_>) -> Result<Value, String> {
    a.count(1, 1)?;
    match name {
        "yamldecode" => decode(&a.string(0, "src")?),
        _ => Ok(Value::String(encode(a.get(0)))),
    }
}

const MAX_EVENTS: usize = 1_000_000;

fn decode(src: &str) -> Result<Value, String> {
    let mut p = Parser::new_from_str(src);
    let mut events = Vec::new();
    loop {
        let (ev, mark) = p.next_token().map_err(|e| e.to_string())?;
        if matches!(ev, Event::StreamEnd) {
            break;
        }
        events.push((ev, mark.line(), mark.col()));
        if events.len() > MAX_EVENTS {
            return Err("the YAML document is too large".into());
        }
    }
    let mut d = Decoder {
        events,
        pos: 0,
        anchors: BTreeMap::new(),
    };
    // StreamStart, then documents.
    d.skip(|e| matches!(e, Event::StreamStart));
    if d.pos >= d.events.len() {
        return Ok(Value::Null);
    }
    d.skip(|e| matches!(e, Event::DocumentStart));
    let v = d.node()?;
    d.skip(|e| matches!(e, Event::DocumentEnd));
    if let Some((_, line, col)) = d.events.get(d.pos) {
        return Err(format!(
            "on line {}, column {}: unexpected extra content after value",
            line,
            col + 1
        ));
    }
    Ok(v)
}

struct Decoder {
    events: Vec<(Event, usize, usize)>,
    pos: usize,
    anchors: BTreeMap<usize, Value>,
}

impl Decoder {
    fn skip(&mut self, f: impl Fn(&Event) -> bool) {
        while self.events.get(self.pos).is_some_and(|(e, _, _)| f(e)) {
            self.pos += 1;
        }
    }

    fn next(&mut self) -> Result<Event, String> {
        let e = self
            .events
            .get(self.pos)
            .map(|e| e.0.clone())
            .ok_or("unexpected end of YAML")?;
        self.pos += 1;
        Ok(e)
    }

    fn node(&mut self) -> Result<Value, String> {
        let (v, anchor) =
            match self.next()? {
                Event::Alias(id) => {
                    return self
                        .anchors
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| "unknown anchor referenced".into());
                }
                Event::Scalar(s, style, anchor, tag) => (scalar(&s, style, tag.as_ref())?, anchor),
                Event::SequenceStart(anchor, _) => {
                    let mut items = Vec::new();
                    while !matches!(
                        self.events.get(self.pos).map(|e| &e.0),
                        Some(Event::SequenceEnd) | None
                    ) {
                        items.push(self.node()?);
                    }
                    self.pos += 1;
                    (Value::Tuple(items), anchor)
                }
                Event::MappingStart(anchor, _) => {
                    let mut m = BTreeMap::new();
                    while !matches!(
                        self.events.get(self.pos).map(|e| &e.0),
                        Some(Event::MappingEnd) | None
                    ) {
                        let is_merge = matches!(
                            self.events.get(self.pos).map(|e| &e.0),
                            Some(Event::Scalar(k, TScalarStyle::Plain, _, None)) if k == "<<"
                        ) || matches!(
                            self.events.get(self.pos).map(|e| &e.0),
                            Some(Event::Scalar(_, _, _, Some(t))) if t.suffix == "merge"
                        );
                        let key = self.node()?;
                        let val = self.node()?;
                        if is_merge {
                            let sources = match val {
                                Value::Tuple(v) => v,
                                other => vec![other],
                            };
                            for s in sources {
                                match s {
                                    Value::Object(o) => m.extend(o),
                                    _ => return Err(
                                        "map merge requires map or sequence of maps as the value"
                                            .into(),
                                    ),
                                }
                            }
                            continue;
                        }
                        let k = match key {
                            Value::String(s) => s,
                            Value::Number(n) => number_text(n),
                            Value::Bool(b) => b.to_string(),
                            Value::Null => "null".into(),
                            _ => return Err("only string keys are supported".into()),
                        };
                        m.insert(k, val);
                    }
                    self.pos += 1;
                    (Value::Object(m), anchor)
                }
                other => return Err(format!("unexpected YAML event {other:?}")),
            };
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        Ok(v)
    }
}

fn scalar(s: &str, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let plain = style == TScalarStyle::Plain;
    let Some(tag) = tag else {
        return Ok(if plain { resolve(s) } else { Value::str(s) });
    };
    let cannot = |t: &str| format!("cannot parse {s:?} as tag:yaml.org,2002:{t}");
    match tag.suffix.trim_start_matches("tag:yaml.org,2002:") {
        "str" => Ok(Value::str(s)),
        "bool" => match resolve(s) {
            v @ Value::Bool(_) => Ok(v),
            _ => Err(cannot("bool")),
        },
        "int" | "float" => match resolve(s) {
            v @ Value::Number(_) => Ok(v),
            _ => Err(cannot(if tag.suffix.ends_with("int") {
                "int"
            } else {
                "float"
            })),
        },
        "null" => Ok(Value::Null),
        "binary" => base64::engine::general_purpose::STANDARD
            .decode(s.split_whitespace().collect::<String>())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Value::String)
            .ok_or_else(|| cannot("binary")),
        "merge" => Ok(Value::str(s)),
        other => Err(format!("unsupported tag {other:?}")),
    }
}

/// go-yaml v2's implicit resolution of a plain scalar.
fn resolve(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Number(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Number(f64::NEG_INFINITY),
        _ => {}
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let neg = s.starts_with('-');
    let sign = |n: f64| Value::Number(if neg { -n } else { n });
    if let Some(oct) = s.strip_prefix("0o") {
        if let Ok(n) = i64::from_str_radix(oct, 8) {
            return Value::Number(n as f64);
        }
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(n) = i64::from_str_radix(hex, 16) {
            return Value::Number(n as f64);
        }
    }
    if !body.is_empty() && body.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = body.parse::<f64>() {
            return sign(n);
        }
    }
    let float_like = {
        let (mant, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let mant_ok = match mant.split_once('.') {
            Some((a, b)) => {
                a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
                    && !(a.is_empty() && b.is_empty())
            }
            None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
        };
        let exp_ok = exp.is_none_or(|e| {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        });
        mant_ok && exp_ok
    };
    if float_like {
        if let Ok(n) = body.parse::<f64>() {
            return sign(n);
        }
    }
    Value::str(s)
}

fn encode(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::String(s) if s.contains('\n') => literal(s, 0, &mut out),
        Value::String(_) => {
            out.push_str(&scalar_text(v));
            out.push('\n');
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            out.push_str(&scalar_text(v));
            out.push_str("\n...\n");
        }
        _ => block(v, 0, &mut out),
    }
    out
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(*n),
        Value::String(_) => json_text(v),
        Value::List(x) | Value::Set(x) | Value::Tuple(x) if x.is_empty() => "[]".into(),
        _ => "{}".into(),
    }
}

fn is_inline(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.contains('\n'),
        Value::List(x) | Value::Set(x) | Value::Tuple(x) => x.is_empty(),
        Value::Map(m) | Value::Object(m) => m.is_empty(),
        _ => true,
    }
}

/// A `|` literal block (`|-` without a final newline), its lines at `indent + 2`.
fn literal(s: &str, indent: usize, out: &mut String) {
    let chomp = if s.ends_with('\n') { "" } else { "-" };
    out.push('|');
    out.push_str(chomp);
    out.push('\n');
    let pad = " ".repeat(indent + 2);
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        if !line.is_empty() {
            out.push_str(&pad);
        }
        out.push_str(line);
        out.push('\n');
    }
}

/// A collection in block style at `indent` (the first line's indentation is already
/// written by the caller when it follows `- `).
fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::List(x) | Value::Set(x) | Value::Tuple(x) if !x.is_empty() => {
            for (i, e) in x.iter().enumerate() {
                if i > 0 || !out.ends_with("- ") {
                    out.push_str(&pad);
                }
                out.push_str("- ");
                value_after(e, indent + 2, out, true);
            }
        }
        Value::Map(m) | Value::Object(m) if !m.is_empty() => {
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 || !out.ends_with("- ") {
                    out.push_str(&pad);
                }
                out.push_str(&json_text(&Value::str(k.clone())));
                out.push(':');
                match e {
                    // go-yaml puts a sequence under a key at the key's indentation.
                    Value::List(x) | Value::Set(x) | Value::Tuple(x) if !x.is_empty() => {
                        out.push('\n');
                        block(e, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        value_after(e, indent + 2, out, false);
                    }
                }
            }
        }
        other => {
            out.push_str(&scalar_text(other));
            out.push('\n');
        }
    }
}

fn value_after(e: &Value, indent: usize, out: &mut String, in_seq: bool) {
    if is_inline(e) {
        out.push_str(&scalar_text(e));
        out.push('\n');
    } else if let Value::String(s) = e {
        literal(s, indent - 2, out);
    } else if in_seq {
        block(e, indent, out);
    } else {
        // A mapping under a key starts on the next line.
        out.pop();
        out.push('\n');
        block(e, indent, out);
    }
}

#[cfg(test)]
mod tests {
    use crate::job::funcs::testutil::{check, eval, fails};

    /// `zclconf/go-cty-yaml:decode_test.go`, `cty_funcs_test.go`.
    #[test]
    fn yamldecode() {
        check("yamldecode(\"---\")", "null");
        check("yamldecode(\"~\")", "null");
        check("yamldecode(\"true\")", "true");
        check("yamldecode(\"yes\")", "true");
        check("yamldecode(\"\\\"True\\\"\")", "\"True\"");
        check("yamldecode(\"'NULL'\")", "\"NULL\"");
        check("yamldecode(\"hello\")", "\"hello\"");
        check("yamldecode(\"+\")", "\"+\"");
        check("yamldecode(\"!!str true\")", "\"true\"");
        check("yamldecode(\"!!bool true\")", "true");
        fails(
            "yamldecode(\"!!bool bananas\")",
            "cannot parse \"bananas\" as tag:yaml.org,2002:bool",
        );
        check("yamldecode(\"1.5\")", "1.5");
        check("yamldecode(\".5\")", "0.5");
        check("yamldecode(\"0o77\")", "63");
        check("yamldecode(\"077\")", "77");
        check(
            "yamldecode(\"a: 1\\nb: [x, true]\\n\")",
            "{a = 1, b = [\"x\", true]}",
        );
        check(
            "yamldecode(\"a: aa\\n<<:\\n  b: bb\\n  c: cc\\nd: dd\\n\")",
            "{a = \"aa\", b = \"bb\", c = \"cc\", d = \"dd\"}",
        );
        check(
            "yamldecode(\"a: aa\\n<<:\\n  a: aaa\\n<<:\\n  b: bbb\\nb: bb\\n\")",
            "{a = \"aaa\", b = \"bb\"}",
        );
        check(
            "yamldecode(\"a: &foo\\n  beep: boop\\nb:\\n  <<: *foo\\n  bleep: bloop\\n\")",
            "{a = {beep = \"boop\"}, b = {beep = \"boop\", bleep = \"bloop\"}}",
        );
        fails("yamldecode(\"a\\n---\\nb\")", "unexpected extra content");
    }

    /// `zclconf/go-cty-yaml:encode_test.go` (standard style).
    #[test]
    fn yamlencode() {
        let enc = |s: &str| eval(s).unwrap().as_str().unwrap().to_owned();
        assert_eq!(enc("yamlencode(true)"), "true\n...\n");
        assert_eq!(enc("yamlencode(\"\")"), "\"\"\n");
        assert_eq!(enc("yamlencode(\"hello\")"), "\"hello\"\n");
        assert_eq!(
            enc("yamlencode(\"hello\\nworld\")"),
            "|-\n  hello\n  world\n"
        );
        assert_eq!(enc("yamlencode(0)"), "0\n...\n");
        assert_eq!(enc("yamlencode(null)"), "null\n...\n");
        assert_eq!(enc("yamlencode({})"), "{}\n");
        assert_eq!(enc("yamlencode({a = \"b\"})"), "\"a\": \"b\"\n");
        assert_eq!(enc("yamlencode([])"), "[]\n");
        assert_eq!(enc("yamlencode([\"b\"])"), "- \"b\"\n");
        assert_eq!(
            enc("yamlencode({a = {b = 1}, c = [\"d\"]})"),
            "\"a\":\n  \"b\": 1\n\"c\":\n- \"d\"\n"
        );
        assert_eq!(
            enc("yamlencode([{a = 1, b = 2}])"),
            "- \"a\": 1\n  \"b\": 2\n"
        );
    }
}
