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

/// The UTC date of `v` seconds since the epoch, as Prometheus (Go's `time.Unix(int64(v), 0).UTC()`
/// on amd64) computes it: truncated towards zero to whole seconds; a value beyond `int64`, or NaN,
/// converts to the least `int64`, as amd64's conversion instruction gives; and the calendar is Go's,
/// counted in unsigned seconds from its absolute zero year, so that times beyond its range wrap just
/// as Go's do.
fn date(v: f64) -> Civil {
    // 2^63: the first float past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    /// Go's `unixToInternal + internalToAbsolute`: seconds from the absolute zero year to 1970.
    const UNIX_TO_ABSOLUTE: i64 = 62_135_596_800 + 9_223_371_966_579_724_800;
    const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
    const DAY: u64 = 86_400;
    const DAYS_400: u64 = 365 * 400 + 97;
    const DAYS_100: u64 = 365 * 100 + 24;
    const DAYS_4: u64 = 365 * 4 + 1;
    let secs = if (-LIMIT..LIMIT).contains(&v) {
        v as i64
    } else {
        i64::MIN
    };
    let abs = secs.wrapping_add(UNIX_TO_ABSOLUTE) as u64;
    let mut d = abs / DAY;
    let mut n = d / DAYS_400;
    let mut y = 400 * n;
    d -= DAYS_400 * n;
    n = d / DAYS_100;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_100 * n;
    n = d / DAYS_4;
    y += 4 * n;
    d -= DAYS_4 * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    let year = (y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR);
    let yday = d as i64;
    let (month, day) = month_day(year, yday);
    // The absolute zero is a Monday.
    let weekday = ((abs.wrapping_add(DAY) % (7 * DAY)) / DAY) as i64;
    Civil {
        year,
        month,
        day,
        day_of_year: yday + 1,
        weekday,
        hour: (abs % DAY / 3600) as i64,
        minute: (abs % 3600 / 60) as i64,
    }
}

/// Month (1–12) and day of month of the zero-based day of the year.
fn month_day(year: i64, yday: i64) -> (i64, i64) {
    const DAYS_BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
    let mut day = yday;
    if is_leap(year) {
        if day == 31 + 29 - 1 {
            return (2, 29);
        }
        if day > 31 + 29 - 1 {
            day -= 1;
        }
    }
    let mut month = (day / 31) as usize;
    let end = DAYS_BEFORE[month + 1];
    let begin = if day >= end {
        month += 1;
        end
    } else {
        DAYS_BEFORE[month]
    };
    (month as i64 + 1, day - begin + 1)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
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
