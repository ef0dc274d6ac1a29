//! cty stdlib `number.go`: abs, ceil, floor, log, max, min, parseint, pow, signum.

use super::Args;
use crate::job::hcl::value::Value;

pub(super) fn call(name: &str, a: Args<'_>) -> Result<Value, String> {
    let n = |x: f64| Ok(Value::Number(x));
    match name {
        "abs" => {
            a.count(1, 1)?;
            n(a.number(0, "num")?.abs())
        }
        "ceil" => {
            a.count(1, 1)?;
            n(a.number(0, "num")?.ceil())
        }
        "floor" => {
            a.count(1, 1)?;
            n(a.number(0, "num")?.floor())
        }
        "log" => {
            a.count(2, 2)?;
            let (x, base) = (a.number(0, "num")?, a.number(1, "base")?);
            n(x.ln() / base.ln())
        }
        "pow" => {
            a.count(2, 2)?;
            n(a.number(0, "num")?.powf(a.number(1, "power")?))
        }
        "signum" => {
            a.count(1, 1)?;
            let x = a.number(0, "num")?;
            n(if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            })
        }
        "max" | "min" => {
            if a.v.is_empty() {
                return Err("must pass at least one number".into());
            }
            let mut best: Option<f64> = None;
            for i in 0..a.v.len() {
                let x = a.number(i, "numbers")?;
                best = Some(match best {
                    None => x,
                    Some(b) if name == "max" => b.max(x),
                    Some(b) => b.min(x),
                });
            }
            n(best.unwrap_or_default())
        }
        "parseint" => {
            a.count(2, 2)?;
            let Value::String(s) = a.get(0) else {
                return Err(format!(
                    "first argument must be a string, not {}",
                    a.get(0).type_name()
                ));
            };
            let base = a.int(1, "base")?;
            if !(2..=62).contains(&base) {
                return Err("base must be a whole number between 2 and 62 inclusive".into());
            }
            parse_int(s, base as u32)
                .map(Value::Number)
                .ok_or_else(|| format!("cannot parse {s:?} as a base {base} integer"))
        }
        _ => unreachable!("dispatched by name"),
    }
}

/// Go's `big.Int.SetString` digits: 0-9, a-z, A-Z; beyond base 36 lower and upper case
/// differ (a=10…z=35, A=36…Z=61).
fn parse_int(s: &str, base: u32) -> Option<f64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() {
        return None;
    }
    let mut acc = 0f64;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 10,
            'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
            'A'..='Z' => c as u32 - 'A' as u32 + 36,
            _ => return None,
        };
        if d >= base {
            return None;
        }
        acc = acc * f64::from(base) + f64::from(d);
    }
    Some(if neg { -acc } else { acc })
}

#[cfg(test)]
mod tests {
    use crate::job::funcs::testutil::{check, fails};

    /// Expected values from `zclconf/go-cty:cty/function/stdlib/number_test.go`.
    #[test]
    fn abs_ceil_floor_signum() {
        check("abs(-1)", "1");
        check("abs(1.5)", "1.5");
        check("abs(-1.5)", "1.5");
        check("ceil(1.2)", "2");
        check("ceil(-1.2)", "-1");
        check("floor(1.8)", "1");
        check("floor(-1.2)", "-2");
        check("signum(-7)", "-1");
        check("signum(0)", "0");
        check("signum(12)", "1");
    }

    #[test]
    fn log_pow_min_max() {
        check("log(1, 10)", "0");
        check("log(10, 10)", "1");
        check("log(16, 2)", "4");
        check("pow(2, 0)", "1");
        check("pow(2, 3)", "8");
        check("pow(-2, 3)", "-8");
        check("pow(4, 0.5)", "2");
        check("max(12, 54, 3)", "54");
        check("min(12, 54, 3)", "3");
        check("max(\"2\", 1)", "2");
        fails("max()", "at least one number");
    }

    #[test]
    fn parseint() {
        check("parseint(\"128\", 10)", "128");
        check("parseint(\"-00128\", 10)", "-128");
        check("parseint(\"FF00\", 16)", "65280");
        check("parseint(\"-FF00\", 16)", "-65280");
        check("parseint(\"1011111011101111\", 2)", "48879");
        check("parseint(\"aA\", 62)", "656");
        check("parseint(\"Aa\", 62)", "2242");
        fails("parseint(\"FF\", 10)", "cannot parse");
        fails("parseint(\"1\", 63)", "between 2 and 62");
        fails("parseint(\"1.2\", 10)", "cannot parse");
        fails("parseint(2, 10)", "must be a string");
    }
}
