//! Sums, means and quantiles as Prometheus 2.42 computes them, shared by aggregations and
//! `*_over_time`.

use std::cmp::Ordering;

/// One step of Kahan–Babuška summation: adds `inc` to `sum` with compensation `c`.
#[inline]
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Orders floats with NaN below everything, as Prometheus's value heaps do.
pub fn nan_first(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The φ-quantile of `values` by linear interpolation between the closest ranks (`values` is sorted in
/// place): NaN for no values or NaN φ, −Inf for φ < 0, +Inf for φ > 1.
pub fn quantile(phi: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| nan_first(*a, *b));
    let n = values.len() as f64;
    let rank = phi * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Population variance of `values` by Welford's method with compensated sums (`stdvar_over_time`).
pub fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_ranks() {
        let mut v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(-0.1, &mut v), f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, &mut v), f64::INFINITY);
        assert!(quantile(f64::NAN, &mut v).is_nan());
        assert!(quantile(0.5, &mut []).is_nan());
    }

    #[test]
    fn compensated_sums_keep_small_terms() {
        let (mut s, mut c) = (0.0, 0.0);
        for x in [1e16, 1.0, -1e16] {
            (s, c) = kahan_inc(x, s, c);
        }
        assert_eq!(s + c, 1.0);
        assert!((variance([1.0, 2.0, 3.0, 4.0].into_iter()) - 1.25).abs() < 1e-12);
    }
}
