//! `hashicorp/go-cty-funcs/encoding` (base64decode, base64encode, urlencode) and cty
//! stdlib `json.go`, `csv.go` (jsondecode, jsonencode, csvdecode).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{Args, json_text};
use crate::job::hcl::value::Value;

pub(super) fn call(name: &str, a: Args<'_>) -> Result<Value, String> {
    a.count(1, 1)?;
    match name {
        "base64encode" => Ok(Value::String(STANDARD.encode(a.string(0, "str")?))),
        "base64decode" => {
            let s = a.string(0, "str")?;
            let bytes = STANDARD
                .decode(&s)
                .map_err(|_| format!("failed to decode base64 data {s:?}"))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| "the result of decoding the provided string is not valid UTF-8".into())
        }
        "urlencode" => Ok(Value::String(query_escape(&a.string(0, "str")?))),
        "jsonencode" => Ok(Value::String(json_text(a.get(0)))),
        "jsondecode" => {
            let s = a.string(0, "str")?;
            let j: serde_json::Value = serde_json::from_str(&s).map_err(|e| e.to_string())?;
            Ok(Value::from_json(&j))
        }
        "csvdecode" => csvdecode(&a.string(0, "str")?),
        _ => unreachable!("dispatched by name"),
    }
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, space as `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// cty's `csvdecode`: the first line names the columns; a list of objects of strings.
fn csvdecode(s: &str) -> Result<Value, String> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(s.as_bytes());
    let mut rows = r.records();
    let header = match rows.next() {
        None => return Err("missing header line".into()),
        Some(h) => h.map_err(csv_err)?,
    };
    let names: Vec<String> = header.iter().map(str::to_owned).collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(format!("duplicate column name {n:?}"));
        }
    }
    let mut out = Vec::new();
    for row in rows {
        let row = row.map_err(csv_err)?;
        let obj: BTreeMap<String, Value> = names
            .iter()
            .cloned()
            .zip(row.iter().map(Value::str))
            .collect();
        out.push(Value::Object(obj));
    }
    Ok(Value::List(out))
}

fn csv_err(e: csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, .. } => format!(
            "record on line {}: wrong number of fields",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::job::funcs::testutil::{check, fails};

    /// `hashicorp/go-cty-funcs:encoding/*_test.go` and cty's `json_test.go`,
    /// `csv_test.go`.
    #[test]
    fn base64_and_urlencode() {
        check(
            "base64encode(\"abc123!?$*&()'-=@~\")",
            "\"YWJjMTIzIT8kKiYoKSctPUB+\"",
        );
        check(
            "base64decode(\"YWJjMTIzIT8kKiYoKSctPUB+\")",
            "\"abc123!?$*&()'-=@~\"",
        );
        fails(
            "base64decode(\"this-is-an-invalid-base64-data\")",
            "failed to decode base64 data",
        );
        fails("base64decode(\"/w==\")", "not valid UTF-8");
        check("urlencode(\"abc123-_\")", "\"abc123-_\"");
        check(
            "urlencode(\"foo:bar@localhost?foo=bar&bar=baz\")",
            "\"foo%3Abar%40localhost%3Ffoo%3Dbar%26bar%3Dbaz\"",
        );
        check(
            "urlencode(\"mailto:email?subject=this+is+my+subject\")",
            "\"mailto%3Aemail%3Fsubject%3Dthis%2Bis%2Bmy%2Bsubject\"",
        );
        check("urlencode(\"foo/bar\")", "\"foo%2Fbar\"");
        check("urlencode(\"a b\")", "\"a+b\"");
    }

    #[test]
    fn json() {
        check("jsonencode(\"hello\")", "\"\\\"hello\\\"\"");
        check("jsonencode(true)", "\"true\"");
        check("jsonencode(5)", "\"5\"");
        check("jsonencode(null)", "\"null\"");
        check(
            "jsonencode({a = [1, \"b\"]})",
            "\"{\\\"a\\\":[1,\\\"b\\\"]}\"",
        );
        check("jsonencode(\"<b>\")", "\"\\\"\\\\u003cb\\\\u003e\\\"\"");
        check(
            "jsondecode(\"{\\\"a\\\": [1, true, null]}\")",
            "{a = [1, true, null]}",
        );
        check("jsondecode(\"\\\"x\\\"\")", "\"x\"");
        fails("jsondecode(\"{\")", "EOF");
    }

    #[test]
    fn csv() {
        check(
            "csvdecode(\"a,b\\n1,2\\n3,4\\n\")",
            "[{a = \"1\", b = \"2\"}, {a = \"3\", b = \"4\"}]",
        );
        check("csvdecode(\"a,b\\n\")", "[]");
        fails("csvdecode(\"\")", "missing header line");
        fails("csvdecode(\"a,b\\n1\\n\")", "wrong number of fields");
        fails("csvdecode(\"a,a\\n1,2\\n\")", "duplicate column name");
    }
}
