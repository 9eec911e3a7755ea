//! Compaction planning over the whole i64 time line: it never overflows, never plans an empty range,
//! never merges into a range that overlaps a block left out, and a run of plans ends.

use std::path::PathBuf;

use proptest::prelude::*;
use tsdb_block::{compact_metas, exponential_ranges, plan_compaction, BlockMeta, Ulid};

const TWO_H: i64 = 7_200_000;

/// Blocks laid one after another from `base`: `(gap, len)` in units of `unit`, stopping before the
/// i64 line ends; with `overlap`, every third block starts half a unit early.
fn lay_out(base: i64, unit: i64, parts: &[(u8, u8)], overlap: bool) -> Vec<(PathBuf, BlockMeta)> {
    let mut out = Vec::new();
    let mut at = base as i128;
    for (i, &(gap, len)) in parts.iter().enumerate() {
        let start = at + gap as i128 * unit as i128;
        let end = start + (len as i128 + 1) * unit as i128;
        if end > i64::MAX as i128 {
            break;
        }
        let start = if overlap && i % 3 == 2 {
            (start - unit as i128 / 2).max(i64::MIN as i128)
        } else {
            start
        };
        let n = out.len() as u64 + 1;
        out.push((
            PathBuf::from(format!("b{n}")),
            BlockMeta::new(Ulid::from_parts(n, n.into()), start as i64, end as i64),
        ));
        at = end;
    }
    out
}

fn overlaps(a: &BlockMeta, b: &BlockMeta) -> bool {
    a.min_time < b.max_time && b.min_time < a.max_time
}

fn any_overlap(bs: &[(PathBuf, BlockMeta)]) -> bool {
    bs.iter()
        .enumerate()
        .any(|(i, a)| bs[i + 1..].iter().any(|b| overlaps(&a.1, &b.1)))
}

fn base() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        (0i64..10 * TWO_H).prop_map(|d| i64::MIN + d),
        (1i64..40).prop_map(|k| i64::MAX - k * TWO_H),
        Just(0i64),
        any::<i64>(),
    ]
}

fn ranges() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        Just(exponential_ranges(TWO_H, 3, 3)),
        Just(exponential_ranges(TWO_H, 10, 3)),
        Just(exponential_ranges(i64::MAX / 4, 4, 3)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plans_are_sound_and_end(
        base in base(),
        unit in prop_oneof![Just(TWO_H), Just(TWO_H / 2), 1i64..1000],
        parts in prop::collection::vec((0u8..4, 0u8..4), 0..24),
        overlap in any::<bool>(),
        ranges in ranges(),
    ) {
        let mut blocks = lay_out(base, unit, &parts, overlap);
        let had_overlap = any_overlap(&blocks);
        let mut next = 1000u64;
        // Each plan merges at least two blocks (no tombstones here), so there are fewer plans than
        // blocks.
        for _ in 0..=blocks.len() {
            let Some(plan) = plan_compaction(&blocks, &ranges) else {
                break;
            };
            prop_assert!(plan.len() >= 2, "plan {:?}", plan);
            let (chosen, rest): (Vec<_>, Vec<_>) =
                blocks.into_iter().partition(|(d, _)| plan.contains(d));
            prop_assert_eq!(chosen.len(), plan.len(), "the plan names unknown blocks");
            next += 1;
            let metas: Vec<BlockMeta> = chosen.iter().map(|(_, m)| m.clone()).collect();
            let merged = compact_metas(Ulid::from_parts(next, next.into()), &metas);
            prop_assert!(merged.min_time < merged.max_time, "empty merge {:?}", merged);
            if !had_overlap {
                for (d, m) in &rest {
                    prop_assert!(
                        !overlaps(&merged, m),
                        "merged [{}, {}) overlaps {} [{}, {})",
                        merged.min_time, merged.max_time, d.display(), m.min_time, m.max_time
                    );
                }
            }
            blocks = rest;
            blocks.push((PathBuf::from(format!("c{next}")), merged));
        }
        prop_assert!(
            plan_compaction(&blocks, &ranges).is_none(),
            "planning did not end within as many plans as blocks"
        );
        prop_assert!(!any_overlap(&blocks), "overlaps left after planning ended");
    }
}
