//! `histogram_quantile` over classic buckets (series with an `le` label), as Prometheus 2.42 computes it.

use super::stats::nan_first;

/// The q-quantile of the buckets `(upper bound, cumulative count)` of one histogram at one step:
/// NaN for NaN q, no `+Inf` bucket, fewer than two buckets or no observations; −Inf/+Inf for q below
/// 0/above 1. Buckets are sorted, those with equal bounds added together, and counts made monotonic
/// (a bucket smaller than one below it is raised to it) before interpolating linearly inside the
/// bucket the rank falls in; the lowest bucket starts at 0 (or is its bound when that is ≤ 0), and a
/// rank in the `+Inf` bucket gives the highest finite bound.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| nan_first(a.0, b.0));
    match buckets.last() {
        Some(&(le, _)) if le == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Coalesce equal bounds.
    let mut w = 0usize;
    for r in 1..buckets.len() {
        if buckets[r].0 == buckets[w].0 {
            buckets[w].1 += buckets[r].1;
        } else {
            w += 1;
            buckets[w] = buckets[r];
        }
    }
    buckets.truncate(w + 1);
    // Monotonic counts.
    let mut max = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let n = buckets.len();
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // The first bucket (of all but the last) whose count reaches the rank.
    let b = buckets[..n - 1]
        .iter()
        .position(|x| x.1 >= rank)
        .unwrap_or(n - 1);
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let mut start = 0.0;
    let end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(q: f64, b: &[(f64, f64)]) -> f64 {
        bucket_quantile(q, &mut b.to_vec())
    }

    #[test]
    fn interpolates_inside_the_bucket() {
        let b = [(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (f64::INFINITY, 40.0)];
        assert!((q(0.5, &b) - 0.3).abs() < 1e-12);
        assert!((q(0.1, &b) - 0.04).abs() < 1e-12);
        assert_eq!(q(1.0, &b), 1.0);
    }

    #[test]
    fn edge_cases() {
        assert!(q(0.5, &[(1.0, 3.0)]).is_nan(), "no +Inf bucket");
        assert!(q(0.5, &[(f64::INFINITY, 3.0)]).is_nan(), "one bucket");
        assert!(
            q(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]).is_nan(),
            "empty"
        );
        assert_eq!(
            q(-1.0, &[(1.0, 1.0), (f64::INFINITY, 1.0)]),
            f64::NEG_INFINITY
        );
        assert_eq!(q(2.0, &[(1.0, 1.0), (f64::INFINITY, 1.0)]), f64::INFINITY);
        // The rank in +Inf: the highest finite bound.
        assert_eq!(q(0.9, &[(1.0, 1.0), (f64::INFINITY, 10.0)]), 1.0);
        // Non-monotonic counts are raised.
        let b = [(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 10.0)];
        assert_eq!(q(0.5, &b), 0.5);
        // A first bound ≤ 0 is the answer for ranks inside it.
        assert_eq!(q(0.1, &[(-1.0, 5.0), (f64::INFINITY, 10.0)]), -1.0);
    }
}
