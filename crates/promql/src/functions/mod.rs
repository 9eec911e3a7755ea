//! PromQL's float functions as pure computations, independent of evaluation: the engine hands each one
//! the points of a window, or one value, and places the result.
//!
//! - [`range`]: functions of a range vector (`rate`, `*_over_time`, `holt_winters`, …), one window at a time;
//! - [`math`]: functions of one value (`abs`, `clamp`, `round`, trigonometry, date functions);
//! - [`histogram`]: `histogram_quantile` over classic buckets;
//! - [`stats`]: the quantile and summation shared by aggregations and `*_over_time`.

pub mod histogram;
pub mod math;
pub mod range;
pub mod stats;

/// The points a range-vector function sees at one evaluation step: every sample with
/// `range_start <= t <= range_end` (Prometheus 2.x includes both ends), oldest first, without stale
/// markers.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// `(timestamp ms, value)` pairs.
    pub points: &'a [(i64, f64)],
    /// Step time minus the selector's range and offset, milliseconds.
    pub range_start: i64,
    /// Step time minus the selector's offset, milliseconds.
    pub range_end: i64,
    /// The step's own time (what `predict_linear` predicts from), milliseconds.
    pub at: i64,
}

/// A range-vector function: its window and its scalar arguments at this step (`predict_linear`'s
/// `t`, `quantile_over_time`'s φ, `holt_winters`'s factors) in the order written. `None` means no
/// output sample at this step.
pub type RangeFn = fn(&Window<'_>, &[f64]) -> Option<f64>;

/// A function of one value and its scalar arguments at this step (`clamp`'s min and max, `round`'s
/// `to_nearest`) in the order written after the vector.
pub type MathFn = fn(f64, &[f64]) -> f64;
