//! cty stdlib `string.go`, `string_replace.go`, `format.go`: string functions. Lengths,
//! offsets and reversal count grapheme clusters, as cty does.

use regex::Regex;
use unicode_segmentation::UnicodeSegmentation;

use super::{Args, json_text};
use crate::job::hcl::value::{Type, Value, convert, number_text};

pub(super) fn call(name: &str, a: Args<'_>) -> Result<Value, String> {
    let s = |x: String| Ok(Value::String(x));
    match name {
        "lower" => {
            a.count(1, 1)?;
            s(a.string(0, "str")?.to_lowercase())
        }
        "upper" => {
            a.count(1, 1)?;
            s(a.string(0, "str")?.to_uppercase())
        }
        "chomp" => {
            a.count(1, 1)?;
            let mut x = a.string(0, "str")?;
            while x.ends_with('\n') || x.ends_with('\r') {
                x.pop();
            }
            s(x)
        }
        "indent" => {
            a.count(2, 2)?;
            let n = a.int(0, "spaces")?.max(0) as usize;
            let text = a.string(1, "str")?;
            s(text.replace('\n', &format!("\n{}", " ".repeat(n))))
        }
        "join" => {
            if a.v.len() < 2 {
                return Err("at least one list is required".into());
            }
            let sep = a.string(0, "separator")?;
            let mut parts = Vec::new();
            for i in 1..a.v.len() {
                for (j, e) in a.seq(i, "lists")?.iter().enumerate() {
                    match convert(e, &Type::String) {
                        Ok(Value::String(x)) => parts.push(x),
                        Ok(_) => {
                            return Err(format!(
                                "element {j} of list {} is null; cannot concatenate null values",
                                i - 1
                            ));
                        }
                        Err(m) => {
                            return Err(format!(
                                "Invalid value for \"lists\" parameter: element {j}: {m}"
                            ));
                        }
                    }
                }
            }
            s(parts.join(&sep))
        }
        "split" => {
            a.count(2, 2)?;
            let (sep, text) = (a.string(0, "separator")?, a.string(1, "str")?);
            let parts: Vec<Value> = if sep.is_empty() {
                // Go's strings.Split with an empty separator splits into UTF-8 chars.
                text.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                text.split(sep.as_str()).map(Value::str).collect()
            };
            Ok(Value::List(parts))
        }
        "strlen" => {
            a.count(1, 1)?;
            Ok(Value::Number(
                a.string(0, "str")?.graphemes(true).count() as f64
            ))
        }
        "strrev" | "reverse" => {
            a.count(1, 1)?;
            s(a.string(0, "str")?.graphemes(true).rev().collect())
        }
        "substr" => {
            a.count(3, 3)?;
            let text = a.string(0, "str")?;
            let (offset, length) = (a.int(1, "offset")?, a.int(2, "length")?);
            let g: Vec<&str> = text.graphemes(true).collect();
            let mut off = offset;
            if off < 0 {
                off += g.len() as i64;
                if off < 0 {
                    return Err("offset must be within the string's length".into());
                }
            }
            let off = off as usize;
            if off >= g.len() {
                return s(String::new());
            }
            let end = if length < 0 {
                g.len()
            } else {
                (off + length as usize).min(g.len())
            };
            s(g[off..end].concat())
        }
        "title" => {
            a.count(1, 1)?;
            let text = a.string(0, "str")?;
            // Go's strings.Title: a letter after anything that is not a letter, digit,
            // underscore or apostrophe-less word character starts a word.
            let mut out = String::with_capacity(text.len());
            let mut prev_sep = true;
            for c in text.chars() {
                if prev_sep {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                prev_sep = !(c.is_alphanumeric() || c == '_');
            }
            s(out)
        }
        "trim" => {
            a.count(2, 2)?;
            let (text, cut) = (a.string(0, "str")?, a.string(1, "cutset")?);
            s(text.trim_matches(|c| cut.contains(c)).to_owned())
        }
        "trimspace" => {
            a.count(1, 1)?;
            s(a.string(0, "str")?.trim().to_owned())
        }
        "trimprefix" => {
            a.count(2, 2)?;
            let (text, p) = (a.string(0, "str")?, a.string(1, "prefix")?);
            s(text.strip_prefix(p.as_str()).unwrap_or(&text).to_owned())
        }
        "trimsuffix" => {
            a.count(2, 2)?;
            let (text, p) = (a.string(0, "str")?, a.string(1, "suffix")?);
            s(text.strip_suffix(p.as_str()).unwrap_or(&text).to_owned())
        }
        "replace" => {
            a.count(3, 3)?;
            let (text, sub, rep) = (
                a.string(0, "str")?,
                a.string(1, "substr")?,
                a.string(2, "replace")?,
            );
            if sub.len() > 1 && sub.starts_with('/') && sub.ends_with('/') {
                let re = go_regex(&sub[1..sub.len() - 1])?;
                return s(re.replace_all(&text, go_template(&rep)).into_owned());
            }
            s(text.replace(&sub, &rep))
        }
        "regex_replace" => {
            a.count(3, 3)?;
            let (text, pat, rep) = (
                a.string(0, "str")?,
                a.string(1, "substr")?,
                a.string(2, "replace")?,
            );
            let re = go_regex(&pat)?;
            s(re.replace_all(&text, go_template(&rep)).into_owned())
        }
        "format" => {
            if a.v.is_empty() {
                return Err("the format string is required".into());
            }
            let f = a.string(0, "format")?;
            s(format(&f, &a.v[1..])?)
        }
        "formatlist" => {
            if a.v.is_empty() {
                return Err("the format string is required".into());
            }
            let f = a.string(0, "format")?;
            let args = &a.v[1..];
            let mut len: Option<usize> = None;
            for (i, v) in args.iter().enumerate() {
                if let Some(e) = v.elements() {
                    match len {
                        Some(l) if l != e.len() => {
                            return Err(format!(
                                "argument {} has length {}, which is inconsistent with argument 1 of length {l}",
                                i + 2,
                                e.len()
                            ));
                        }
                        _ => len = Some(e.len()),
                    }
                }
            }
            let Some(n) = len else {
                // No lists: one string.
                return Ok(Value::List(vec![Value::String(format(&f, args)?)]));
            };
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let row: Vec<Value> = args
                    .iter()
                    .map(|v| match v.elements() {
                        Some(e) => e[i].clone(),
                        None => v.clone(),
                    })
                    .collect();
                out.push(Value::String(
                    format(&f, &row).map_err(|e| format!("error on format iteration {i}: {e}"))?,
                ));
            }
            Ok(Value::List(out))
        }
        _ => unreachable!("dispatched by name"),
    }
}

/// Go's `regexp` syntax as Rust's `regex` reads it (they agree on what jobs use).
fn go_regex(p: &str) -> Result<Regex, String> {
    Regex::new(p).map_err(|e| format!("invalid regular expression pattern: {e}"))
}

/// Go's `Regexp.Expand` template (`$1`, `${name}`) in the `regex` crate's form: the
/// same, except that Go reads `$1x` as the group named `1x`.
fn go_template(rep: &str) -> String {
    rep.to_owned()
}

/// cty's `format`: Go's `fmt` verbs over cty values (`%v %d %s %q %t %f %e %g %x %X %o
/// %b`, flags `+-# 0`, width, precision and explicit argument indexes `%[n]d`).
pub(crate) fn format(f: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = f.chars().collect();
    let mut i = 0;
    let mut next_arg = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        if chars.get(i) == Some(&'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&fc) = chars.get(i) {
            match fc {
                '+' => spec.plus = true,
                '-' => spec.minus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        if chars.get(i) == Some(&'[') {
            let close = chars[i..]
                .iter()
                .position(|&x| x == ']')
                .ok_or("unterminated argument index")?;
            let n: usize = chars[i + 1..i + close]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| "invalid argument index")?;
            next_arg = n.saturating_sub(1);
            i += close + 1;
        }
        let mut width = String::new();
        while let Some(d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
            width.push(*d);
            i += 1;
        }
        spec.width = width.parse().ok();
        if chars.get(i) == Some(&'.') {
            i += 1;
            let mut p = String::new();
            while let Some(d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                p.push(*d);
                i += 1;
            }
            spec.prec = Some(p.parse().unwrap_or(0));
        }
        let Some(&verb) = chars.get(i) else {
            return Err(format!("invalid format string starting at offset {start}"));
        };
        i += 1;
        let raw: String = chars[start..i].iter().collect();
        let Some(arg) = args.get(next_arg) else {
            return Err(format!(
                "not enough arguments for {raw:?} at {start}: need index {} but have {} total",
                next_arg + 1,
                args.len()
            ));
        };
        next_arg += 1;
        if verb != 'v' && arg.is_null() {
            return Err(format!(
                "unsupported value for {raw:?} at {start}: null value cannot be formatted"
            ));
        }
        let bad = |m: String| format!("unsupported value for {raw:?} at {start}: {m}");
        let text = match verb {
            'v' => match arg {
                Value::String(x) if !spec.sharp => x.clone(),
                Value::Number(n) if !spec.sharp => go_g(*n, None),
                other => json_text(other),
            },
            't' => match convert(arg, &Type::Bool).map_err(bad)? {
                Value::Bool(b) => b.to_string(),
                _ => unreachable!(),
            },
            's' | 'q' => {
                let Value::String(mut x) = convert(arg, &Type::String).map_err(bad)? else {
                    unreachable!()
                };
                if let Some(p) = spec.prec.filter(|p| *p > 0) {
                    x = x.graphemes(true).take(p).collect();
                }
                if verb == 'q' {
                    json_text(&Value::String(x))
                } else {
                    x
                }
            }
            'd' | 'b' | 'o' | 'x' | 'X' | 'e' | 'E' | 'f' | 'g' | 'G' => {
                let Value::Number(n) = convert(arg, &Type::Number).map_err(bad)? else {
                    unreachable!()
                };
                spec.number(verb, n).map_err(bad)?
            }
            other => {
                return Err(format!(
                    "unsupported format verb {other:?} in {raw:?} at offset {start}"
                ));
            }
        };
        out.push_str(&spec.pad(text, verb));
    }
    if next_arg < args.len() && !f.contains("%[") {
        return Err(format!(
            "too many arguments; only {next_arg} used by format string"
        ));
    }
    Ok(out)
}

#[derive(Default)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn number(&self, verb: char, n: f64) -> Result<String, String> {
        let sign = |s: String, neg: bool| {
            if neg {
                format!("-{s}")
            } else if self.plus {
                format!("+{s}")
            } else if self.space {
                format!(" {s}")
            } else {
                s
            }
        };
        if matches!(verb, 'd' | 'b' | 'o' | 'x' | 'X') {
            if n.fract() != 0.0 || !n.is_finite() {
                return Err("an integer is required".into());
            }
            let m = n.abs() as u128;
            let digits = match verb {
                'd' => m.to_string(),
                'b' => format!("{m:b}"),
                'o' => format!("{}{m:o}", if self.sharp { "0" } else { "" }),
                'x' => format!("{}{m:x}", if self.sharp { "0x" } else { "" }),
                _ => format!("{}{m:X}", if self.sharp { "0X" } else { "" }),
            };
            return Ok(sign(digits, n < 0.0));
        }
        let a = n.abs();
        let body = match verb {
            'f' => format!("{:.*}", self.prec.unwrap_or(6), a),
            'e' | 'E' => {
                let t = go_exp(a, self.prec.unwrap_or(6));
                if verb == 'E' { t.to_uppercase() } else { t }
            }
            _ => {
                let t = go_g(a, self.prec);
                if verb == 'G' { t.to_uppercase() } else { t }
            }
        };
        Ok(sign(body, n.is_sign_negative() && n != 0.0))
    }

    fn pad(&self, s: String, verb: char) -> String {
        let Some(w) = self.width else { return s };
        let len = s.chars().count();
        if len >= w {
            return s;
        }
        let fill = w - len;
        if self.minus {
            format!("{s}{}", " ".repeat(fill))
        } else if self.zero && verb != 's' && verb != 'q' && verb != 'v' {
            let (sign, digits) = match s.chars().next() {
                Some(c @ ('-' | '+' | ' ')) => (c.to_string(), s[1..].to_owned()),
                _ => (String::new(), s),
            };
            format!("{sign}{}{digits}", "0".repeat(fill))
        } else {
            format!("{}{s}", " ".repeat(fill))
        }
    }
}

/// Go's `%e` with `prec` digits: mantissa and a two-digit signed exponent.
fn go_exp(a: f64, prec: usize) -> String {
    let t = format!("{:.*e}", prec, a);
    let (m, e) = t.split_once('e').unwrap_or((&t, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// Go's `%g` (shortest for `None`): `%e` for exponents below -4 or at least the
/// precision (21 digits when shortest, as Go's big.Float `Text('g', -1)` uses the
/// digit count).
fn go_g(a: f64, prec: Option<usize>) -> String {
    if a == 0.0 {
        return "0".into();
    }
    if !a.is_finite() {
        return number_text(a);
    }
    let neg = a < 0.0;
    let x = a.abs();
    // Shortest decimal digits and exponent.
    let sci = format!("{x:e}");
    let (m, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let digits = m.replace('.', "");
    let eprec = match prec {
        Some(p) => p.max(1) as i32,
        None => (digits.len() as i32).max(21),
    };
    let s = if exp < -4 || exp >= eprec {
        let mant = match prec {
            Some(p) => format!("{:.*e}", p.max(1) - 1, x)
                .split_once('e')
                .map(|(m, _)| m.trim_end_matches('0').trim_end_matches('.').to_owned())
                .unwrap_or_default(),
            None => m.to_owned(),
        };
        format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        match prec {
            Some(p) => {
                let decimals = (p as i32 - 1 - exp).max(0) as usize;
                let t = format!("{x:.decimals$}");
                if t.contains('.') {
                    t.trim_end_matches('0').trim_end_matches('.').to_owned()
                } else {
                    t
                }
            }
            None => format!("{x}"),
        }
    };
    if neg { format!("-{s}") } else { s }
}

#[cfg(test)]
mod tests {
    use crate::job::funcs::testutil::{check, fails};

    /// Expected values from `zclconf/go-cty:cty/function/stdlib/string_test.go`.
    #[test]
    fn case_trim_and_length() {
        check("upper(\"hello\")", "\"HELLO\"");
        check("upper(\"présidents\")", "\"PRÉSIDENTS\"");
        check("lower(\"HELLO\")", "\"hello\"");
        check("lower(\"1\")", "\"1\"");
        check("strlen(\"hello\")", "5");
        check("strlen(\"\")", "0");
        check("strlen(\"noël\")", "4");
        check("strlen(\"😸😾\")", "2");
        check("strlen(\"ÿ́\")", "1");
        check("strrev(\"hello world\")", "\"dlrow olleh\"");
        check("strrev(\"noël\")", "\"lëon\"");
        check("reverse(\"abc\")", "\"cba\"");
        check("trimspace(\" \\n hello \\t\")", "\"hello\"");
        check("trim(\"?!hello?!\", \"!?\")", "\"hello\"");
        check("trimprefix(\"helloworld\", \"hello\")", "\"world\"");
        check("trimprefix(\"helloworld\", \"x\")", "\"helloworld\"");
        check("trimsuffix(\"helloworld\", \"world\")", "\"hello\"");
        check("chomp(\"hello\\n\")", "\"hello\"");
        check("chomp(\"hello\\r\\n\\n\")", "\"hello\"");
        check("chomp(\"hello\\nworld\")", "\"hello\\nworld\"");
        check("title(\"hello world\")", "\"Hello World\"");
        check("title(\"hello-world\")", "\"Hello-World\"");
        check("indent(2, \"a\\nb\\nc\")", "\"a\\n  b\\n  c\"");
    }

    #[test]
    fn substr_counts_graphemes() {
        check("substr(\"hello\", 0, 3)", "\"hel\"");
        check("substr(\"hello\", 1, 3)", "\"ell\"");
        check("substr(\"hello\", -3, 3)", "\"llo\"");
        check("substr(\"hello\", 1, -1)", "\"ello\"");
        check("substr(\"hello\", 0, 10)", "\"hello\"");
        check("substr(\"hello\", 10, 1)", "\"\"");
        check("substr(\"noël\", 2, 2)", "\"ël\"");
        check("substr(\"😸😾\", 1, 1)", "\"😾\"");
    }

    #[test]
    fn split_join_replace() {
        check("split(\",\", \"a,b,c\")", "[\"a\", \"b\", \"c\"]");
        check("split(\",\", \"\")", "[\"\"]");
        check("join(\"-\", [\"a\", \"b\"], [\"c\"])", "\"a-b-c\"");
        check("join(\",\", [1, true])", "\"1,true\"");
        fails("join(\",\")", "at least one list");
        fails("join(\",\", [null])", "null");
        check("replace(\"hello\", \"l\", \"L\")", "\"heLLo\"");
        check("replace(\"hello\", \"/l+/\", \"L\")", "\"heLo\"");
        check(
            "replace(\"a1b2\", \"/([a-z])([0-9])/\", \"$2$1\")",
            "\"1a2b\"",
        );
        check("regex_replace(\"hello\", \"[aeiou]\", \"_\")", "\"h_ll_\"");
        check("regex_replace(\"ab\", \"(a)(b)\", \"$2$1\")", "\"ba\"");
    }

    /// `zclconf/go-cty:cty/function/stdlib/format_test.go`.
    #[test]
    fn format_verbs() {
        check("format(\"hello\")", "\"hello\"");
        check("format(\"100%% sure\")", "\"100% sure\"");
        check("format(\"%s %s\", \"a\", \"b\")", "\"a b\"");
        check("format(\"%v\", 1)", "\"1\"");
        check("format(\"%v\", 1.5)", "\"1.5\"");
        check("format(\"%v\", true)", "\"true\"");
        check("format(\"%v\", \"x\")", "\"x\"");
        check("format(\"%v\", [\"a\", 1])", "\"[\\\"a\\\",1]\"");
        check("format(\"%#v\", \"x\")", "\"\\\"x\\\"\"");
        check("format(\"%v\", null)", "\"null\"");
        check("format(\"%d\", 5)", "\"5\"");
        check("format(\"%d\", \"5\")", "\"5\"");
        check("format(\"%05d\", 12)", "\"00012\"");
        check("format(\"%-5d|\", 12)", "\"12   |\"");
        check("format(\"%+d\", 12)", "\"+12\"");
        check("format(\"%x\", 255)", "\"ff\"");
        check("format(\"%X\", 255)", "\"FF\"");
        check("format(\"%#x\", 255)", "\"0xff\"");
        check("format(\"%o\", 8)", "\"10\"");
        check("format(\"%b\", 5)", "\"101\"");
        check("format(\"%f\", 1.5)", "\"1.500000\"");
        check("format(\"%.2f\", 3.14159)", "\"3.14\"");
        check("format(\"%e\", 1500)", "\"1.500000e+03\"");
        check("format(\"%g\", 1.5)", "\"1.5\"");
        check("format(\"%t\", true)", "\"true\"");
        check("format(\"%q\", \"x\")", "\"\\\"x\\\"\"");
        check(
            "format(\"%q\", \"<&>\")",
            "\"\\\"\\\\u003c\\\\u0026\\\\u003e\\\"\"",
        );
        check("format(\"%.3s\", \"hello\")", "\"hel\"");
        check("format(\"%5s|\", \"ab\")", "\"   ab|\"");
        check("format(\"%[2]s %[1]s\", \"a\", \"b\")", "\"b a\"");
        fails("format(\"%d\", 1.5)", "an integer is required");
        fails("format(\"%s\")", "not enough arguments");
        fails("format(\"%s\", null)", "null value cannot be formatted");
        fails("format(\"%z\", 1)", "unsupported format verb");
        fails("format(\"%s\", \"a\", \"b\")", "too many arguments");
    }

    #[test]
    fn formatlist() {
        check(
            "formatlist(\"%s-%s\", [\"a\", \"b\"], \"x\")",
            "[\"a-x\", \"b-x\"]",
        );
        check(
            "formatlist(\"%s=%d\", [\"a\", \"b\"], [1, 2])",
            "[\"a=1\", \"b=2\"]",
        );
        check("formatlist(\"%s\", \"x\")", "[\"x\"]");
        fails(
            "formatlist(\"%s%s\", [\"a\"], [\"b\", \"c\"])",
            "inconsistent",
        );
    }
}
