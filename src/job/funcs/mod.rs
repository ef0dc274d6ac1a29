//! The HCL function library of Nomad's jobspec parser
//! (`hashicorp/nomad:jobspec2/functions.go`), with the semantics of the packages it
//! takes them from: `zclconf/go-cty` stdlib, `hashicorp/go-cty-funcs` (cidr, crypto,
//! encoding, filesystem, uuid), `zclconf/go-cty-yaml`, and hcl's `tryfunc` and
//! `typeexpr` (`try`, `can` and `convert` take unevaluated arguments, so the evaluator
//! runs them: `crate::job::hcl::eval`).
//!
//! Each function converts its arguments as cty's parameter types do (a number where a
//! string is expected becomes its text) and fails with cty's message.

mod cidr;
mod collections;
mod crypto;
mod datetime;
mod encoding;
mod fs;
mod numbers;
mod strings;
mod yaml;

use std::path::PathBuf;

pub(crate) use datetime::parse_go_duration;

use crate::job::hcl::value::{Type, Value, convert};

/// Every function name Nomad's jobspec parser knows: the 81 of its table, and `md5`
/// and `sha1`, which it adds outside FIPS mode.
pub const NAMES: &[&str] = &[
    "abs",
    "abspath",
    "base64decode",
    "base64encode",
    "basename",
    "bcrypt",
    "can",
    "ceil",
    "chomp",
    "chunklist",
    "cidrhost",
    "cidrnetmask",
    "cidrsubnet",
    "cidrsubnets",
    "coalesce",
    "coalescelist",
    "compact",
    "concat",
    "contains",
    "convert",
    "csvdecode",
    "dirname",
    "distinct",
    "element",
    "file",
    "filebase64",
    "fileexists",
    "fileset",
    "flatten",
    "floor",
    "format",
    "formatdate",
    "formatlist",
    "indent",
    "index",
    "join",
    "jsondecode",
    "jsonencode",
    "keys",
    "length",
    "log",
    "lookup",
    "lower",
    "max",
    "md5",
    "merge",
    "min",
    "parseint",
    "pathexpand",
    "pow",
    "range",
    "regex_replace",
    "replace",
    "reverse",
    "rsadecrypt",
    "setintersection",
    "setproduct",
    "setunion",
    "sha1",
    "sha256",
    "sha512",
    "signum",
    "slice",
    "sort",
    "split",
    "strlen",
    "strrev",
    "substr",
    "timeadd",
    "title",
    "trim",
    "trimprefix",
    "trimspace",
    "trimsuffix",
    "try",
    "upper",
    "urlencode",
    "uuidv4",
    "uuidv5",
    "values",
    "yamldecode",
    "yamlencode",
    "zipmap",
];

const FS_FUNCS: &[&str] = &[
    "abspath",
    "basename",
    "dirname",
    "file",
    "filebase64",
    "fileexists",
    "fileset",
    "pathexpand",
];

/// The function table of one evaluation context.
#[derive(Debug, Clone)]
pub struct Funcs {
    /// Where relative paths of `file()` and friends start: the jobspec's directory.
    pub base_dir: PathBuf,
    /// `nomad job run` enables the filesystem functions; the job-parse API and
    /// variable validation conditions do not (`guardFS`).
    pub allow_fs: bool,
}

impl Funcs {
    pub fn exists(&self, name: &str) -> bool {
        NAMES.contains(&name)
    }

    pub fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        if FS_FUNCS.contains(&name) && !self.allow_fs {
            return Err("filesystem function disabled".into());
        }
        let a = Args { name, v: args };
        match name {
            "abs" | "ceil" | "floor" | "log" | "max" | "min" | "parseint" | "pow" | "signum" => {
                numbers::call(name, a)
            }
            "chomp" | "format" | "formatlist" | "indent" | "join" | "lower" | "upper"
            | "replace" | "regex_replace" | "split" | "strlen" | "strrev" | "reverse"
            | "substr" | "title" | "trim" | "trimprefix" | "trimspace" | "trimsuffix" => {
                strings::call(name, a)
            }
            "base64decode" | "base64encode" | "urlencode" | "csvdecode" | "jsondecode"
            | "jsonencode" => encoding::call(name, a),
            "yamldecode" | "yamlencode" => yaml::call(name, a),
            "bcrypt" | "md5" | "sha1" | "sha256" | "sha512" | "rsadecrypt" | "uuidv4"
            | "uuidv5" => crypto::call(name, a),
            "cidrhost" | "cidrnetmask" | "cidrsubnet" | "cidrsubnets" => cidr::call(name, a),
            "formatdate" | "timeadd" => datetime::call(name, a),
            n if FS_FUNCS.contains(&n) => fs::call(self, name, a),
            _ => collections::call(name, a),
        }
    }
}

/// A call's arguments, with cty's parameter conversions.
pub(crate) struct Args<'a> {
    pub name: &'a str,
    pub v: Vec<Value>,
}

impl Args<'_> {
    /// Exactly `min..=max` arguments.
    pub fn count(&self, min: usize, max: usize) -> Result<(), String> {
        if self.v.len() < min || self.v.len() > max {
            return Err(if min == max {
                format!(
                    "function {:?} expects {min} argument(s), got {}",
                    self.name,
                    self.v.len()
                )
            } else {
                format!(
                    "function {:?} expects {min} to {max} arguments, got {}",
                    self.name,
                    self.v.len()
                )
            });
        }
        Ok(())
    }

    pub fn get(&self, i: usize) -> &Value {
        self.v.get(i).unwrap_or(&Value::Null)
    }

    fn non_null(&self, i: usize, param: &str) -> Result<&Value, String> {
        match self.v.get(i) {
            None | Some(Value::Null) => Err(format!(
                "Invalid value for \"{param}\" parameter: argument must not be null"
            )),
            Some(v) => Ok(v),
        }
    }

    pub fn conv(&self, i: usize, param: &str, ty: &Type) -> Result<Value, String> {
        convert(self.non_null(i, param)?, ty)
            .map_err(|m| format!("Invalid value for \"{param}\" parameter: {m}"))
    }

    pub fn string(&self, i: usize, param: &str) -> Result<String, String> {
        match self.conv(i, param, &Type::String)? {
            Value::String(s) => Ok(s),
            _ => unreachable!("converted to a string"),
        }
    }

    pub fn number(&self, i: usize, param: &str) -> Result<f64, String> {
        match self.conv(i, param, &Type::Number)? {
            Value::Number(n) => Ok(n),
            _ => unreachable!("converted to a number"),
        }
    }

    /// A whole number (cty's `gocty` into an `int`).
    pub fn int(&self, i: usize, param: &str) -> Result<i64, String> {
        let n = self.number(i, param)?;
        if n.fract() != 0.0 || !n.is_finite() {
            return Err(format!(
                "Invalid value for \"{param}\" parameter: value must be a whole number"
            ));
        }
        Ok(n as i64)
    }

    /// A list, set or tuple's elements.
    pub fn seq(&self, i: usize, param: &str) -> Result<Vec<Value>, String> {
        self.non_null(i, param)?
            .elements()
            .map(<[Value]>::to_vec)
            .ok_or_else(|| {
                format!("Invalid value for \"{param}\" parameter: list, set, or tuple required")
            })
    }

    /// A list of strings.
    pub fn strings(&self, i: usize, param: &str) -> Result<Vec<String>, String> {
        match self.conv(i, param, &Type::List(Box::new(Type::String)))? {
            Value::List(v) => v
                .into_iter()
                .map(|e| match e {
                    Value::String(s) => Ok(s),
                    _ => Err(format!(
                        "Invalid value for \"{param}\" parameter: element must not be null"
                    )),
                })
                .collect(),
            _ => unreachable!("converted to a list"),
        }
    }
}

/// Shared by several modules: cty's JSON rendering of a value (`cty/json.Marshal`):
/// Go's encoding of strings, which escapes `<`, `>`, `&`, U+2028 and U+2029.
pub(crate) fn json_text(v: &Value) -> String {
    fn go_string(s: &str, out: &mut String) {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        for c in quoted.chars() {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
    }
    fn go(v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&crate::job::hcl::value::number_text(*n)),
            Value::String(s) => go_string(s, out),
            Value::List(x) | Value::Set(x) | Value::Tuple(x) => {
                out.push('[');
                for (i, e) in x.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go(e, out);
                }
                out.push(']');
            }
            Value::Map(m) | Value::Object(m) => {
                out.push('{');
                for (i, (k, e)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go_string(k, out);
                    out.push(':');
                    go(e, out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    go(v, &mut out);
    out
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::job::hcl::eval::{Ctx, Scope};

    /// Evaluate one HCL expression with the full function table (filesystem functions
    /// relative to `dir`).
    pub fn eval_in(dir: &std::path::Path, src: &str) -> Result<Value, String> {
        let expr: hcl_edit::expr::Expression = src.parse().map_err(|e| format!("{e}"))?;
        let funcs = Funcs {
            base_dir: dir.to_owned(),
            allow_fs: true,
        };
        let ctx = Ctx {
            src,
            funcs: Some(&funcs),
            keep_unknown: false,
        };
        ctx.eval(&expr, &Scope::default())
            .map_err(|d| d.to_string())
    }

    pub fn eval(src: &str) -> Result<Value, String> {
        eval_in(std::path::Path::new("/nonexistent"), src)
    }

    /// `src` evaluates to the same value as `want` (both HCL expressions), compared the
    /// way cty's tests compare (`RawEquals` of the JSON form).
    #[track_caller]
    pub fn check(src: &str, want: &str) {
        let got = eval(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let want_v = eval(want).unwrap_or_else(|e| panic!("{want}: {e}"));
        assert_eq!(got.to_json(), want_v.to_json(), "{src}");
    }

    #[track_caller]
    pub fn fails(src: &str, needle: &str) {
        match eval(src) {
            Ok(v) => panic!("{src} gave {v:?}, expected an error with {needle:?}"),
            Err(e) => assert!(e.contains(needle), "{src}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_83_functions_are_known_and_dispatched() {
        assert_eq!(NAMES.len(), 83);
        let mut sorted = NAMES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 83);
        let f = Funcs {
            base_dir: PathBuf::from("/nonexistent"),
            allow_fs: true,
        };
        for n in NAMES {
            if matches!(*n, "try" | "can" | "convert") {
                continue;
            }
            // No function answers "unknown" for zero arguments: each checks its own.
            let e = f.call(n, Vec::new());
            if let Err(m) = e {
                assert!(!m.contains("unknown function"), "{n}: {m}");
            }
        }
    }

    /// `hashicorp/nomad:jobspec2/parse_test.go` `TestParse_FileOperators` "disabled".
    #[test]
    fn filesystem_functions_can_be_disabled() {
        let f = Funcs {
            base_dir: PathBuf::from("."),
            allow_fs: false,
        };
        for n in FS_FUNCS {
            assert_eq!(
                f.call(n, vec![Value::str("x")]).unwrap_err(),
                "filesystem function disabled"
            );
        }
    }
}
