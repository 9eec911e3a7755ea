//! Functions of a range vector, one window at a time, computed as Prometheus 2.42 computes them:
//! `rate`/`increase`/`delta` with its extrapolation to the window's edges, `irate`/`idelta` from the
//! last two points, `deriv`/`predict_linear` by least squares, `resets`, `changes`, the
//! `*_over_time` aggregations and `holt_winters`.
//!
//! A window is never empty when a function is called (the engine skips empty ones); functions that
//! need two points return `None` with fewer.

use super::stats::{kahan_inc, quantile, variance};
use super::{RangeFn, Window};

/// The range-vector function called `name`, or `None` if `name` is not one.
pub fn range_function(name: &str) -> Option<RangeFn> {
    let f: RangeFn = match name {
        "rate" => rate,
        "increase" => increase,
        "delta" => delta,
        "irate" => irate,
        "idelta" => idelta,
        "deriv" => deriv,
        "predict_linear" => predict_linear,
        "resets" => resets,
        "changes" => changes,
        "avg_over_time" => avg_over_time,
        "sum_over_time" => sum_over_time,
        "min_over_time" => min_over_time,
        "max_over_time" => max_over_time,
        "count_over_time" => count_over_time,
        "last_over_time" => last_over_time,
        "present_over_time" => present_over_time,
        "stddev_over_time" => stddev_over_time,
        "stdvar_over_time" => stdvar_over_time,
        "quantile_over_time" => quantile_over_time,
        "holt_winters" | "double_exponential_smoothing" => holt_winters,
        _ => return None,
    };
    Some(f)
}

/// Validates the scalar arguments of `name` at one step: `holt_winters`'s factors must lie strictly
/// between 0 and 1. The message is Prometheus's.
///
/// # Errors
/// The text of the execution error Prometheus reports.
pub fn check_args(name: &str, args: &[f64]) -> Result<(), String> {
    if matches!(name, "holt_winters" | "double_exponential_smoothing") {
        let (sf, tf) = (
            args.first().copied().unwrap_or(f64::NAN),
            args.get(1).copied().unwrap_or(f64::NAN),
        );
        // Written so that NaN passes, as Prometheus's `sf <= 0 || sf >= 1` lets it.
        if sf <= 0.0 || sf >= 1.0 {
            return Err(format!(
                "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                go_f(sf)
            ));
        }
        if tf <= 0.0 || tf >= 1.0 {
            return Err(format!(
                "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                go_f(tf)
            ));
        }
    }
    Ok(())
}

/// Go's `%f`: six decimals, `+Inf`, `-Inf`, `NaN`.
fn go_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v:.6}")
    }
}

fn rate(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    extrapolated(w, true, true)
}

fn increase(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    extrapolated(w, true, false)
}

fn delta(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    extrapolated(w, false, false)
}

/// The change over the window, counter resets added back for counters, extrapolated towards the
/// window's edges: all the way when the first or last point lies within 1.1 average intervals of its
/// edge, else half an interval; a counter is never extrapolated below zero. Per second for `rate`.
fn extrapolated(w: &Window<'_>, counter: bool, per_second: bool) -> Option<f64> {
    let p = w.points;
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut result = last.1 - first.1;
    if counter {
        let mut prev = first.1;
        for &(_, v) in &p[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first.0 - w.range_start) as f64 / 1000.0;
    let to_end = (w.range_end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let average = sampled / (p.len() - 1) as f64;
    if counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average / 2.0
    };
    let mut factor = interval / sampled;
    if per_second {
        factor /= (w.range_end - w.range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

fn irate(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    instant_value(w, true)
}

fn idelta(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    instant_value(w, false)
}

/// From the last two points: their difference (the last value after a counter reset, for `irate`),
/// per second for `irate`.
fn instant_value(w: &Window<'_>, is_rate: bool) -> Option<f64> {
    let p = w.points;
    if p.len() < 2 {
        return None;
    }
    let (prev, last) = (p[p.len() - 2], p[p.len() - 1]);
    let mut v = if is_rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let interval = last.0 - prev.0;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares slope (per second) and intercept at `intercept_time` of the points; a constant
/// series has slope 0 (NaN for an infinite constant).
fn linear_regression(points: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let init = points[0].1;
    let mut constant = true;
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    for (i, &(t, v)) in points.iter().enumerate() {
        if constant && i > 0 && v != init {
            constant = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if constant {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn deriv(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    if w.points.len() < 2 {
        return None;
    }
    // Relative to the first point's time, to keep the sums small.
    Some(linear_regression(w.points, w.points[0].0).0)
}

/// `predict_linear(v[d], t)`: the regression line's value `t` seconds after the step's time.
fn predict_linear(w: &Window<'_>, args: &[f64]) -> Option<f64> {
    if w.points.len() < 2 {
        return None;
    }
    let t = args.first().copied().unwrap_or(f64::NAN);
    let (slope, intercept) = linear_regression(w.points, w.at);
    Some(slope * t + intercept)
}

fn resets(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    let n = w.points.windows(2).filter(|p| p[1].1 < p[0].1).count();
    Some(n as f64)
}

/// Changes of value; NaN followed by NaN is no change.
fn changes(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    let n = w
        .points
        .windows(2)
        .filter(|p| {
            let (a, b) = (p[0].1, p[1].1);
            b != a && !(a.is_nan() && b.is_nan())
        })
        .count();
    Some(n as f64)
}

/// The mean by an incremental, compensated update, so that large values do not overflow; an
/// infinite mean stays as it is unless a value of the other sign or NaN comes.
fn avg_over_time(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
    for &(_, v) in w.points {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    Some(if mean.is_infinite() { mean } else { mean + c })
}

fn sum_over_time(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    let (mut sum, mut c) = (0.0f64, 0.0);
    for &(_, v) in w.points {
        (sum, c) = kahan_inc(v, sum, c);
    }
    Some(if sum.is_infinite() { sum } else { sum + c })
}

/// The least value; NaN only when every value is NaN.
fn min_over_time(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    let mut m = w.points[0].1;
    for &(_, v) in w.points {
        if v < m || m.is_nan() {
            m = v;
        }
    }
    Some(m)
}

/// The greatest value; NaN only when every value is NaN.
fn max_over_time(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    let mut m = w.points[0].1;
    for &(_, v) in w.points {
        if v > m || m.is_nan() {
            m = v;
        }
    }
    Some(m)
}

fn count_over_time(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    Some(w.points.len() as f64)
}

fn last_over_time(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    w.points.last().map(|p| p.1)
}

fn present_over_time(_: &Window<'_>, _: &[f64]) -> Option<f64> {
    Some(1.0)
}

fn stdvar_over_time(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    Some(variance(w.points.iter().map(|p| p.1)))
}

fn stddev_over_time(w: &Window<'_>, _: &[f64]) -> Option<f64> {
    Some(variance(w.points.iter().map(|p| p.1)).sqrt())
}

/// `quantile_over_time(φ, v[d])`: φ is the first scalar argument.
fn quantile_over_time(w: &Window<'_>, args: &[f64]) -> Option<f64> {
    thread_local! {
        /// The window's values, sorted in place; reused from step to step.
        static VALUES: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let phi = args.first().copied().unwrap_or(f64::NAN);
    VALUES.with(|v| {
        let mut values = v.borrow_mut();
        values.clear();
        values.extend(w.points.iter().map(|p| p.1));
        Some(quantile(phi, &mut values))
    })
}

/// Double exponential smoothing with smoothing factor `sf` and trend factor `tf` (checked by
/// [`check_args`]); the last smoothed value.
fn holt_winters(w: &Window<'_>, args: &[f64]) -> Option<f64> {
    let p = w.points;
    if p.len() < 2 {
        return None;
    }
    let sf = args.first().copied().unwrap_or(f64::NAN);
    let tf = args.get(1).copied().unwrap_or(f64::NAN);
    let (mut s0, mut s1) = (0.0, p[0].1);
    let mut b = p[1].1 - p[0].1;
    for (i, &(_, v)) in p.iter().enumerate().skip(1) {
        let x = sf * v;
        // The trend at the previous point (its raw difference at the first).
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(points: &[(i64, f64)], start: i64, end: i64) -> Window<'_> {
        Window {
            points,
            range_start: start,
            range_end: end,
            at: end,
        }
    }

    fn call(name: &str, w: &Window<'_>, args: &[f64]) -> Option<f64> {
        range_function(name).expect("known function")(w, args)
    }

    #[test]
    fn rate_extrapolates_to_the_window_and_adds_resets() {
        // Samples every 60 s at 60..=300 s of a 300 s window ending at 300 s: 0, 10, …, 40.
        let p: Vec<(i64, f64)> = (1..=5)
            .map(|i| (i * 60_000, (i - 1) as f64 * 10.0))
            .collect();
        let w = win(&p, 0, 300_000);
        // Sampled 240 s; start 60 s away (< 66 s threshold) but the zero point is at the first
        // sample, so no extrapolation there; end at the edge.
        assert_eq!(call("increase", &w, &[]), Some(40.0));
        assert_eq!(call("rate", &w, &[]), Some(40.0 / 300.0));
        // A reset: 0 10 20 5 15 counts as 0→20 then 5 more after the reset and 10.
        let r = [
            (60_000, 0.0),
            (120_000, 10.0),
            (180_000, 20.0),
            (240_000, 5.0),
            (300_000, 15.0),
        ];
        assert_eq!(call("increase", &win(&r, 0, 300_000), &[]), Some(35.0));
        // delta does not treat drops as resets, and extrapolates half an interval at a far edge.
        let d = [(100_000, 1.0), (160_000, 4.0)];
        let got = call("delta", &win(&d, 0, 300_000), &[]).expect("delta");
        assert!((got - 3.0 * 120.0 / 60.0).abs() < 1e-12, "{got}");
        assert_eq!(call("rate", &win(&d[..1], 0, 300_000), &[]), None);
    }

    #[test]
    fn instant_rates_use_the_last_two_points() {
        let p = [(0, 5.0), (10_000, 8.0), (20_000, 2.0)];
        let w = win(&p, 0, 20_000);
        assert_eq!(call("irate", &w, &[]), Some(0.2));
        assert_eq!(call("idelta", &w, &[]), Some(-6.0));
    }

    #[test]
    fn regression_and_counts() {
        let p = [(0, 1.0), (10_000, 2.0), (20_000, 3.0)];
        let w = win(&p, 0, 20_000);
        assert!((call("deriv", &w, &[]).unwrap_or(0.0) - 0.1).abs() < 1e-12);
        let predicted = call("predict_linear", &w, &[10.0]).unwrap_or(0.0);
        assert!((predicted - 4.0).abs() < 1e-9, "{predicted}");
        let c = [(0, 1.0), (1, f64::NAN), (2, f64::NAN), (3, 1.0), (4, 0.0)];
        let w = win(&c, 0, 4);
        assert_eq!(call("changes", &w, &[]), Some(3.0));
        assert_eq!(call("resets", &w, &[]), Some(1.0));
        assert_eq!(call("count_over_time", &w, &[]), Some(5.0));
        assert_eq!(call("max_over_time", &w, &[]), Some(1.0));
        assert_eq!(call("min_over_time", &w, &[]), Some(0.0));
        assert_eq!(call("last_over_time", &w, &[]), Some(0.0));
    }

    #[test]
    fn over_time_aggregations() {
        let p = [(0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0)];
        let w = win(&p, 0, 3);
        assert_eq!(call("sum_over_time", &w, &[]), Some(10.0));
        assert_eq!(call("avg_over_time", &w, &[]), Some(2.5));
        assert_eq!(call("quantile_over_time", &w, &[0.5]), Some(2.5));
        assert_eq!(call("stdvar_over_time", &w, &[]), Some(1.25));
        let inf = [(0, f64::INFINITY), (1, 1.0)];
        assert_eq!(
            call("avg_over_time", &win(&inf, 0, 1), &[]),
            Some(f64::INFINITY)
        );
    }

    #[test]
    fn holt_winters_checks_its_factors() {
        assert!(check_args("holt_winters", &[0.5, 0.5]).is_ok());
        assert_eq!(
            check_args("holt_winters", &[1.0, 0.5]),
            Err("invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000".into())
        );
        assert_eq!(
            check_args("holt_winters", &[0.5, 0.0]),
            Err("invalid trend factor. Expected: 0 < tf < 1, got: 0.000000".into())
        );
        let p = [(0, 1.0), (1, 2.0), (2, 3.0)];
        // A straight line is followed exactly.
        assert_eq!(call("holt_winters", &win(&p, 0, 2), &[0.5, 0.5]), Some(3.0));
    }
}
