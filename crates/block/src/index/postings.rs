//! Operations on postings lists (ascending, distinct series references) that queries combine:
//! [`intersect`], [`merge`] (union) and [`without`] (difference).
//!
//! Lists are plain sorted `Vec<u32>`s: a block's lists are read from the file once per query and
//! combined in memory, which is simple and fast for the sizes a block holds.

use super::SeriesRef;

/// References present in every list (empty for no list). Consumes the lists.
pub fn intersect(mut lists: Vec<Vec<SeriesRef>>) -> Vec<SeriesRef> {
    if lists.is_empty() {
        return Vec::new();
    }
    lists.sort_by_key(|l| l.len());
    let mut it = lists.into_iter();
    let mut acc = it.next().unwrap_or_default();
    for other in it {
        if acc.is_empty() {
            break;
        }
        acc = intersect2(&acc, &other);
    }
    acc
}

/// Intersection of two sorted lists; `a` should be the shorter one.
fn intersect2(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    // When `b` is much longer, binary-search it (galloping forward); else merge linearly.
    if b.len() > a.len() * 16 {
        let mut rest = b;
        for &x in a {
            let i = rest.partition_point(|&y| y < x);
            rest = &rest[i..];
            match rest.first() {
                None => break,
                Some(&y) if y == x => out.push(x),
                _ => {}
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// References present in any list, ascending and distinct.
pub fn merge(mut lists: Vec<Vec<SeriesRef>>) -> Vec<SeriesRef> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists.pop().unwrap_or_default(),
        2 => {
            let (a, b) = (&lists[0], &lists[1]);
            let mut out = Vec::with_capacity(a.len() + b.len());
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                match a[i].cmp(&b[j]) {
                    std::cmp::Ordering::Less => {
                        out.push(a[i]);
                        i += 1
                    }
                    std::cmp::Ordering::Greater => {
                        out.push(b[j]);
                        j += 1
                    }
                    std::cmp::Ordering::Equal => {
                        out.push(a[i]);
                        i += 1;
                        j += 1;
                    }
                }
            }
            out.extend_from_slice(&a[i..]);
            out.extend_from_slice(&b[j..]);
            out
        }
        _ => {
            let mut out: Vec<SeriesRef> = lists.concat();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// References of `a` that are not in `b`.
pub fn without(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            continue;
        }
        out.push(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn sorted() -> impl Strategy<Value = Vec<u32>> {
        prop::collection::btree_set(0u32..500, 0..120).prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #[test]
        fn ops_agree_with_sets(lists in prop::collection::vec(sorted(), 0..5)) {
            let sets: Vec<BTreeSet<u32>> = lists.iter().map(|l| l.iter().copied().collect()).collect();
            let union: BTreeSet<u32> = sets.iter().flatten().copied().collect();
            prop_assert_eq!(merge(lists.clone()), union.iter().copied().collect::<Vec<_>>());
            let inter: Vec<u32> = match sets.split_first() {
                None => vec![],
                Some((first, rest)) => first.iter().copied().filter(|x| rest.iter().all(|s| s.contains(x))).collect(),
            };
            prop_assert_eq!(intersect(lists.clone()), inter);
            if lists.len() >= 2 {
                let diff: Vec<u32> = sets[0].difference(&sets[1]).copied().collect();
                prop_assert_eq!(without(&lists[0], &lists[1]), diff);
            }
        }
    }

    #[test]
    fn galloping_intersection() {
        let a = vec![3, 500, 999];
        let b: Vec<u32> = (0..1000).collect();
        assert_eq!(intersect(vec![b, a]), vec![3, 500, 999]);
    }
}
