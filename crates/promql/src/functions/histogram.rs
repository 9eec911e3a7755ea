//! (being written on another branch; placeholders with the agreed names)
/// The q-quantile of classic buckets `(le, cumulative count)`.
pub fn bucket_quantile(_q: f64, _buckets: &mut Vec<(f64, f64)>) -> f64 {
    f64::NAN
}
