//! (being written on another branch; placeholders with the agreed names)
use super::RangeFn;
/// The range-vector function called `name`.
pub fn range_function(_name: &str) -> Option<RangeFn> {
    None
}
/// Validates the scalar arguments of `name` at one step.
pub fn check_args(_name: &str, _args: &[f64]) -> Result<(), String> {
    Ok(())
}
