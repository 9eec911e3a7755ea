//! Aligned block ranges over the whole i64 time line, without overflow at either end.
//!
//! A block covers the half-open `[minTime, maxTime)`. Ranges are aligned to multiples of their width
//! (floor division, so negative times fall into the range below them), and clamped to the i64 line: the
//! first range starts at `i64::MIN` and the last ends at `i64::MAX`. The newest time a block can hold is
//! therefore [`MAX_SAMPLE_TIME`], one below `i64::MAX`; the head refuses newer samples when they are
//! appended.

/// The newest timestamp a block can hold: `i64::MAX - 1`, as a block's range ends one past it.
pub const MAX_SAMPLE_TIME: i64 = i64::MAX - 1;

/// Start of the aligned window of width `width` (`> 0`) holding `t`: the largest multiple of `width`
/// not above `t`, or `i64::MIN` when that multiple is below the i64 range.
pub fn aligned_start(t: i64, width: i64) -> i64 {
    let w = width.max(1) as i128;
    let start = (t as i128).div_euclid(w) * w;
    start.max(i64::MIN as i128) as i64
}

/// The block range `[start, end)` of width `width` holding `t`: aligned to `width`, clamped to the i64
/// range, never empty, and containing `t`. `None` if `width <= 0` or `t > MAX_SAMPLE_TIME` (no block
/// range holds `i64::MAX`).
pub fn block_range(t: i64, width: i64) -> Option<(i64, i64)> {
    if width <= 0 || t > MAX_SAMPLE_TIME {
        return None;
    }
    let w = width as i128;
    let start = (t as i128).div_euclid(w) * w;
    let end = (start + w).min(i64::MAX as i128) as i64;
    Some((start.max(i64::MIN as i128) as i64, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ends_of_the_line() {
        let two_h = 7_200_000;
        let (s, e) = block_range(i64::MIN, two_h).unwrap();
        assert_eq!(s, i64::MIN);
        assert!(e > i64::MIN && e - i64::MIN <= two_h && e % two_h == 0);
        let (s, e) = block_range(MAX_SAMPLE_TIME, two_h).unwrap();
        assert_eq!(e, i64::MAX);
        assert!(s <= MAX_SAMPLE_TIME);
        assert_eq!(block_range(i64::MAX, two_h), None);
        assert_eq!(block_range(0, 0), None);
        assert_eq!(block_range(-1, 10), Some((-10, 0)));
        assert_eq!(block_range(10, 10), Some((10, 20)));
        assert_eq!(aligned_start(i64::MIN + 1, two_h), i64::MIN);
    }

    fn any_time() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            (0i64..100_000_000).prop_map(|d| i64::MIN + d),
            (0i64..100_000_000).prop_map(|d| i64::MAX - d),
            -100_000_000i64..100_000_000,
        ]
    }

    fn any_width() -> impl Strategy<Value = i64> {
        prop_oneof![
            1i64..100,
            Just(7_200_000i64),
            1i64..i64::MAX,
            Just(i64::MAX),
        ]
    }

    proptest! {
        #[test]
        fn range_holds_its_time_and_is_not_empty(t in any_time(), w in any_width()) {
            match block_range(t, w) {
                None => prop_assert_eq!(t, i64::MAX),
                Some((s, e)) => {
                    prop_assert!(s <= t && t < e, "[{}, {}) does not hold {}", s, e, t);
                    prop_assert!(s < e);
                    prop_assert!(e as i128 - s as i128 <= w as i128);
                    prop_assert_eq!(aligned_start(t, w), s);
                    // The next range starts where this one ends (ranges tile the line).
                    if e <= MAX_SAMPLE_TIME {
                        prop_assert_eq!(block_range(e, w).map(|r| r.0), Some(e));
                    }
                }
            }
        }
    }
}
