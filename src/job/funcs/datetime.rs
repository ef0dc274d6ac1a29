//! cty stdlib `datetime.go`: formatdate and timeadd, over RFC 3339 timestamps; and
//! Go's `time.ParseDuration`, which timeadd and Nomad's duration fields share.

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Timelike};

use super::Args;
use crate::job::hcl::value::Value;

pub(super) fn call(name: &str, a: Args<'_>) -> Result<Value, String> {
    a.count(2, 2)?;
    match name {
        "formatdate" => {
            let (f, ts) = (a.string(0, "format")?, a.string(1, "time")?);
            let t = parse_timestamp(&ts)?;
            formatdate(&f, &t).map(Value::String)
        }
        "timeadd" => {
            let (ts, d) = (a.string(0, "timestamp")?, a.string(1, "duration")?);
            let t = parse_timestamp(&ts)?;
            let nanos = parse_go_duration(&d)?;
            let t = t + chrono::Duration::nanoseconds(nanos);
            Ok(Value::String(
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ))
        }
        _ => unreachable!("dispatched by name"),
    }
}

fn parse_timestamp(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|_| format!("not a valid RFC3339 timestamp: cannot use {s:?} as year"))
}

fn is_verb(c: char) -> bool {
    matches!(
        c,
        'Y' | 'M' | 'D' | 'E' | 'h' | 'H' | 'A' | 'a' | 'm' | 's' | 'Z'
    )
}

/// Split a format into tokens as cty's `splitDateFormat`: runs of one verb letter,
/// quoted literals (`'…'`, with `''` for a quote), and runs of anything else.
fn tokens(f: &str) -> Vec<String> {
    let c: Vec<char> = f.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let start = i;
        if c[i] == '\'' {
            i += 1;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '\'' {
                    if c.get(i + 1) == Some(&'\'') && i + 1 > start + 1 {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
        } else if is_verb(c[i]) {
            while i < c.len() && c[i] == c[start] {
                i += 1;
            }
        } else {
            while i < c.len() && !is_verb(c[i]) && c[i] != '\'' {
                i += 1;
            }
        }
        out.push(c[start..i].iter().collect());
    }
    out
}

fn formatdate(f: &str, t: &DateTime<FixedOffset>) -> Result<String, String> {
    let mut out = String::new();
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    for tok in tokens(f) {
        let first = tok.chars().next().unwrap_or(' ');
        let n = tok.chars().count();
        let bad = |what: &str| format!("invalid date format verb {tok:?}: {what}");
        if first == '\'' {
            if n == 1 || !tok.ends_with('\'') {
                return Err("unterminated literal '".into());
            }
            if n == 2 {
                out.push('\'');
            } else {
                out.push_str(&tok[1..tok.len() - 1].replace("''", "'"));
            }
            continue;
        }
        if !is_verb(first) {
            out.push_str(&tok);
            continue;
        }
        let two = |v: u32| format!("{v:02}");
        match (first, n) {
            ('Y', 2) => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            ('Y', 4) => out.push_str(&format!("{:04}", t.year())),
            ('Y', _) => return Err(bad("year must either be \"YY\" or \"YYYY\"")),
            ('M', 1) => out.push_str(&t.month().to_string()),
            ('M', 2) => out.push_str(&two(t.month())),
            ('M', 3) => out.push_str(&MONTHS[t.month0() as usize][..3]),
            ('M', 4) => out.push_str(MONTHS[t.month0() as usize]),
            ('M', _) => return Err(bad("month must be \"M\", \"MM\", \"MMM\", or \"MMMM\"")),
            ('D', 1) => out.push_str(&t.day().to_string()),
            ('D', 2) => out.push_str(&two(t.day())),
            ('D', _) => return Err(bad("day of month must either be \"D\" or \"DD\"")),
            ('E', 3) => out.push_str(&DAYS[t.weekday().num_days_from_sunday() as usize][..3]),
            ('E', 4) => out.push_str(DAYS[t.weekday().num_days_from_sunday() as usize]),
            ('E', _) => return Err(bad("day of week must either be \"EEE\" or \"EEEE\"")),
            ('h', 1) => out.push_str(&t.hour().to_string()),
            ('h', 2) => out.push_str(&two(t.hour())),
            ('h', _) => return Err(bad("24-hour must either be \"h\" or \"hh\"")),
            ('H', 1 | 2) => {
                let h = match t.hour() % 12 {
                    0 => 12,
                    h => h,
                };
                out.push_str(&if n == 1 { h.to_string() } else { two(h) });
            }
            ('H', _) => return Err(bad("12-hour must either be \"H\" or \"HH\"")),
            ('A' | 'a', 2) => {
                let pm = t.hour() >= 12;
                let s = if pm { "PM" } else { "AM" };
                out.push_str(&if first == 'A' {
                    s.to_owned()
                } else {
                    s.to_lowercase()
                });
            }
            ('A' | 'a', _) => return Err(bad(&format!("must be \"{first}{first}\""))),
            ('m', 1) => out.push_str(&t.minute().to_string()),
            ('m', 2) => out.push_str(&two(t.minute())),
            ('m', _) => return Err(bad("minute must either be \"m\" or \"mm\"")),
            ('s', 1) => out.push_str(&t.second().to_string()),
            ('s', 2) => out.push_str(&two(t.second())),
            ('s', _) => return Err(bad("second must either be \"s\" or \"ss\"")),
            ('Z', 1) => {
                if t.offset().local_minus_utc() == 0 {
                    out.push('Z');
                } else {
                    out.push_str(&t.format("%:z").to_string());
                }
            }
            ('Z', 3) => {
                let z = t.format("%z").to_string();
                out.push_str(if z == "+0000" { "UTC" } else { &z });
            }
            ('Z', 4) => out.push_str(&t.format("%z").to_string()),
            ('Z', 5) => out.push_str(&t.format("%:z").to_string()),
            ('Z', _) => return Err(bad("timezone must be Z, ZZZZ, or ZZZZZ")),
            _ => return Err(format!("invalid date format verb {tok:?}")),
        }
    }
    Ok(out)
}

/// Go's `time.ParseDuration`, in nanoseconds: `300ms`, `-1.5h`, `2h45m`.
pub(crate) fn parse_go_duration(s: &str) -> Result<i64, String> {
    let err = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return Err(err());
    }
    let n = total.round() as i64;
    Ok(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;
    use crate::job::funcs::testutil::{check, fails};

    /// `zclconf/go-cty:cty/function/stdlib/datetime_test.go`.
    #[test]
    fn formatdate() {
        let ts = "\"2017-01-02T03:04:05Z\"";
        for (f, want) in [
            ("", ""),
            ("YYYY-MM-DD", "2017-01-02"),
            (
                "EEE, DD MMM YYYY hh:mm:ss ZZZ",
                "Mon, 02 Jan 2017 03:04:05 UTC",
            ),
            ("EEEE, MMMM D, YYYY", "Monday, January 2, 2017"),
            ("H:mm aa", "3:04 am"),
            ("HH AA", "03 AM"),
            ("YY M D h m s", "17 1 2 3 4 5"),
            ("hh'h'mm", "03h04"),
            ("'''hello'''", "'hello'"),
            ("''", "'"),
            ("Z ZZZZ ZZZZZ", "Z +0000 +00:00"),
        ] {
            check(
                &format!("formatdate(\"{f}\", {ts})"),
                &format!("\"{want}\""),
            );
        }
        check(
            "formatdate(\"ZZZ Z hh\", \"2017-01-02T03:04:05+05:30\")",
            "\"+0530 +05:30 03\"",
        );
        fails(
            "formatdate(\"YYY\", \"2017-01-02T03:04:05Z\")",
            "year must either be",
        );
        fails(
            "formatdate(\"'\", \"2017-01-02T03:04:05Z\")",
            "unterminated literal",
        );
        fails(
            "formatdate(\"YYYY\", \"2017-01-02\")",
            "not a valid RFC3339 timestamp",
        );
    }

    #[test]
    fn timeadd() {
        check(
            "timeadd(\"2017-11-22T00:00:00Z\", \"1s\")",
            "\"2017-11-22T00:00:01Z\"",
        );
        check(
            "timeadd(\"2017-11-22T00:00:00Z\", \"10m1s\")",
            "\"2017-11-22T00:10:01Z\"",
        );
        check(
            "timeadd(\"2017-11-22T00:00:00Z\", \"-1h\")",
            "\"2017-11-21T23:00:00Z\"",
        );
        fails("timeadd(\"2017-11-22T00:00:00Z\", \"1x\")", "unknown unit");
        fails("timeadd(\"nope\", \"1s\")", "RFC3339");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
        assert!(parse_go_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_go_duration("").is_err());
        assert!(
            parse_go_duration("1d")
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
