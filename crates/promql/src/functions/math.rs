//! Functions of one value, as Prometheus 2.42 computes them with Go's `math` package: rounding,
//! logarithms, trigonometry, clamps (NaN propagating as Go's `math.Min`/`math.Max` propagate it), and
//! the date functions of a Unix time in seconds (UTC).

use super::MathFn;

/// The function of one value called `name`, or `None` if `name` is not one.
pub fn math_function(name: &str) -> Option<MathFn> {
    let f: MathFn = match name {
        "abs" => |v, _| v.abs(),
        "ceil" => |v, _| v.ceil(),
        "floor" => |v, _| v.floor(),
        "exp" => |v, _| v.exp(),
        "sqrt" => |v, _| v.sqrt(),
        "ln" => |v, _| v.ln(),
        "log2" => |v, _| v.log2(),
        "log10" => |v, _| v.log10(),
        "sin" => |v, _| v.sin(),
        "cos" => |v, _| v.cos(),
        "tan" => |v, _| v.tan(),
        "asin" => |v, _| v.asin(),
        "acos" => |v, _| v.acos(),
        "atan" => |v, _| v.atan(),
        "sinh" => |v, _| v.sinh(),
        "cosh" => |v, _| v.cosh(),
        "tanh" => |v, _| v.tanh(),
        "asinh" => |v, _| v.asinh(),
        "acosh" => |v, _| v.acosh(),
        "atanh" => |v, _| v.atanh(),
        "deg" => |v, _| v * 180.0 / std::f64::consts::PI,
        "rad" => |v, _| v * std::f64::consts::PI / 180.0,
        "sgn" => sgn,
        "round" => round,
        "clamp" => |v, a| go_max(arg(a, 0), go_min(arg(a, 1), v)),
        "clamp_min" => |v, a| go_max(arg(a, 0), v),
        "clamp_max" => |v, a| go_min(arg(a, 0), v),
        "year" => |v, _| date(v).year as f64,
        "month" => |v, _| date(v).month as f64,
        "day_of_month" => |v, _| date(v).day as f64,
        "day_of_year" => |v, _| date(v).day_of_year as f64,
        "day_of_week" => |v, _| date(v).weekday as f64,
        "days_in_month" => |v, _| {
            let d = date(v);
            days_in_month(d.year, d.month) as f64
        },
        "hour" => |v, _| date(v).hour as f64,
        "minute" => |v, _| date(v).minute as f64,
        _ => return None,
    };
    Some(f)
}

fn arg(args: &[f64], i: usize) -> f64 {
    args.get(i).copied().unwrap_or(f64::NAN)
}

/// −1, 1, or the value itself (0, −0, NaN).
fn sgn(v: f64, _: &[f64]) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// To the nearest multiple of `to_nearest` (default 1), ties up; through the inverse, as Prometheus
/// does, for fewer rounding surprises.
fn round(v: f64, args: &[f64]) -> f64 {
    let inv = 1.0 / args.first().copied().unwrap_or(1.0);
    (v * inv + 0.5).floor() / inv
}

/// Go's `math.Max`: +Inf wins over NaN, NaN over everything else, +0 over −0.
fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: −Inf wins over NaN, NaN over everything else, −0 over +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// A UTC calendar date and time of day.
#[derive(Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    day_of_year: i64,
    /// 0 is Sunday.
    weekday: i64,
    hour: i64,
    minute: i64,
}

/// The UTC date of `v` seconds since the epoch, truncated towards zero to whole seconds as Go's
/// `int64(v)` converts (a value out of range, or NaN, is the least `int64`, as on amd64).
fn date(v: f64) -> Civil {
    // 2^63: the first float past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let secs = if (-LIMIT..LIMIT).contains(&v) {
        v as i64
    } else {
        i64::MIN
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let jan1 = days_from_civil(year, 1, 1);
    Civil {
        year,
        month,
        day,
        day_of_year: days - jan1 + 1,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7),
        hour: rem / 3600,
        minute: rem % 3600 / 60,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, v: f64, args: &[f64]) -> f64 {
        math_function(name).expect("known function")(v, args)
    }

    #[test]
    fn rounding_and_signs() {
        assert_eq!(call("round", 2.5, &[]), 3.0);
        assert_eq!(call("round", -2.5, &[]), -2.0);
        assert_eq!(call("round", 7.3, &[5.0]), 5.0);
        assert_eq!(call("round", 0.123, &[0.01]), 0.12);
        assert_eq!(call("sgn", -3.0, &[]), -1.0);
        assert!(call("sgn", f64::NAN, &[]).is_nan());
        assert_eq!(call("deg", std::f64::consts::PI, &[]), 180.0);
    }

    #[test]
    fn clamps_propagate_nan_as_go_does() {
        assert_eq!(call("clamp", 5.0, &[0.0, 3.0]), 3.0);
        assert_eq!(call("clamp", -5.0, &[0.0, 3.0]), 0.0);
        assert!(call("clamp", f64::NAN, &[0.0, 3.0]).is_nan());
        assert!(call("clamp_min", 1.0, &[f64::NAN]).is_nan());
        assert_eq!(
            call("clamp_max", f64::NAN, &[f64::NEG_INFINITY]),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn dates_in_utc() {
        // 2024-02-29T13:45:30Z, a Thursday.
        let t = 1_709_214_330.9;
        assert_eq!(call("year", t, &[]), 2024.0);
        assert_eq!(call("month", t, &[]), 2.0);
        assert_eq!(call("day_of_month", t, &[]), 29.0);
        assert_eq!(call("day_of_year", t, &[]), 60.0);
        assert_eq!(call("day_of_week", t, &[]), 4.0);
        assert_eq!(call("days_in_month", t, &[]), 29.0);
        assert_eq!(call("hour", t, &[]), 13.0);
        assert_eq!(call("minute", t, &[]), 45.0);
        // Before the epoch: 1969-12-31T23:59:59Z (truncation towards zero gives -1 s).
        assert_eq!(call("year", -1.5, &[]), 1969.0);
        assert_eq!(call("day_of_week", -1.0, &[]), 3.0);
        assert_eq!(call("minute", -1.0, &[]), 59.0);
        assert_eq!(call("days_in_month", 0.0, &[]), 31.0);
    }
}
