//! Times and sizes on the command line: parsing `--min-time`-style arguments (RFC 3339 or Unix
//! milliseconds), and printing times, durations and byte counts the way Prometheus's tools (written in
//! Go) print them, so that our tables match promtool's.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Parses a time given on the command line: Unix milliseconds (`1700000000000`, `-5`) or an RFC 3339
/// date-time (`2023-11-14T22:13:20Z`, `2023-11-14T23:13:20.5+01:00`; a space or `t` may stand for the `T`,
/// `z` for the `Z`). Fractions below a millisecond are dropped.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .map_err(|_| format!("{s:?}: Unix milliseconds out of range"));
    }
    parse_rfc3339(t).ok_or_else(|| {
        format!(
            "{s:?} is not a time: expected Unix milliseconds (1700000000000) or RFC 3339 \
             (2023-11-14T22:13:20Z)"
        )
    })
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i];
        let ms: String = frac.chars().chain("000".chars()).take(3).collect();
        millis = ms.parse().ok()?;
    }
    let offset_s = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *c == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    secs.checked_mul(1000)?.checked_add(millis)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01: (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Splits seconds since the epoch into the UTC calendar fields.
fn fields(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    (y, mo, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A Unix-milliseconds time in RFC 3339, UTC: `2023-11-14T22:13:20Z`, or with `.123` when the
/// milliseconds are not zero.
pub fn rfc3339(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = fields(ms.div_euclid(1000));
    let frac = ms.rem_euclid(1000);
    let frac = if frac == 0 {
        String::new()
    } else {
        format!(".{frac:03}")
    };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
}

/// A Unix-milliseconds time as promtool's human-readable tables print it: Go's
/// `time.Unix(ms/1000, 0).UTC().String()`, e.g. `2023-11-14 23:03:20 +0000 UTC`.
pub fn go_utc(ms: i64) -> String {
    // Go's integer division truncates toward zero.
    let (y, mo, d, h, mi, s) = fields(ms / 1000);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

/// A duration in nanoseconds as Go's `time.Duration.String()` prints it: `2h0m0s`, `56m39.001s`,
/// `1.5ms`, `0s`.
pub fn go_duration(ns: i128) -> String {
    fn frac(v: u128, prec: u32) -> (String, u128) {
        let p = 10u128.pow(prec);
        let f = v % p;
        if f == 0 {
            return (String::new(), v / p);
        }
        let s = format!("{f:0width$}", width = prec as usize);
        (format!(".{}", s.trim_end_matches('0')), v / p)
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let body = if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (f, int) = frac(u, prec);
        format!("{int}{f}{unit}")
    } else {
        let (f, secs) = frac(u, 9);
        let (s, mins) = (secs % 60, secs / 60);
        if mins == 0 {
            format!("{s}{f}s")
        } else if mins < 60 {
            format!("{mins}m{s}{f}s")
        } else {
            format!("{}h{}m{s}{f}s", mins / 60, mins % 60)
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// A duration in milliseconds as Go prints `time.Duration(ms) * time.Millisecond`.
pub fn go_duration_ms(ms: i64) -> String {
    go_duration(i128::from(ms) * 1_000_000)
}

/// A byte count as promtool's human-readable tables print it (`units.Base2Bytes.String()` of
/// alecthomas/units): the non-zero parts from the largest unit down, `688KiB604B`, `1MiB`, `0B`.
pub fn base2_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n == 0 {
        return "0B".into();
    }
    let mut parts = Vec::new();
    let mut n = n;
    for unit in UNITS {
        if !n.is_multiple_of(1024) {
            parts.push(format!("{}{unit}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

/// A positive duration argument as Prometheus's flags take one (`2m`, `1h30m`, `500ms`, or seconds),
/// in milliseconds.
pub fn positive_duration_ms(s: &str) -> Result<i64, String> {
    match tsdb_server::query::parse_duration_ms(s)? {
        ms if ms > 0 => Ok(ms),
        _ => Err(format!("{s:?} is not a positive duration")),
    }
}

/// [`positive_duration_ms`] as a [`std::time::Duration`].
pub fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    positive_duration_ms(s).map(|ms| std::time::Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("-5"), Ok(-5));
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14t22:13:20z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14 22:13:20.5Z"), Ok(1_700_000_000_500));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.123456+01:00"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            parse_time("2023-11-14T20:13:20-02:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("1969-12-31T23:59:59.999Z"), Ok(-1));
        assert_eq!(parse_time("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        for bad in [
            "",
            "-",
            "abc",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-02-30T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0100",
            "99999999999999999999",
            "1.5",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_print() {
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(go_utc(1_700_003_000_000), "2023-11-14 23:03:20 +0000 UTC");
        assert_eq!(go_utc(1_700_006_399_001), "2023-11-14 23:59:59 +0000 UTC");
        for ms in [-86_400_001i64, -1, 0, 1, 951_782_400_000, 4_102_444_800_000] {
            assert_eq!(parse_time(&rfc3339(ms)), Ok(ms));
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1), "1ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(1_000_000), "1ms");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(999_999_999), "999.999999ms");
        assert_eq!(go_duration(1_000_000_000), "1s");
        assert_eq!(go_duration_ms(3_399_001), "56m39.001s");
        assert_eq!(go_duration_ms(299_001), "4m59.001s");
        assert_eq!(go_duration_ms(7_200_000), "2h0m0s");
        assert_eq!(go_duration_ms(90_061_500), "25h1m1.5s");
        assert_eq!(go_duration_ms(-1_500), "-1.5s");
    }

    #[test]
    fn byte_counts() {
        assert_eq!(base2_bytes(0), "0B");
        assert_eq!(base2_bytes(705_116), "688KiB604B");
        assert_eq!(base2_bytes(81_680), "79KiB784B");
        assert_eq!(base2_bytes(1024 * 1024), "1MiB");
        assert_eq!(base2_bytes(1024 * 1024 + 1), "1MiB1B");
        assert_eq!(base2_bytes(1023), "1023B");
    }
}
