//! The postings engine: sorted lists of series references combined ([`intersect`], [`merge`],
//! [`without`]) and the evaluation of matchers over an index ([`postings_for_matchers`]), written once for
//! every index that implements [`PostingsSource`] — the head's in-memory postings and a block's index.
//!
//! Semantics are Prometheus's: a series that lacks a label has the empty value for it, so a matcher that
//! matches `""` (`job=""`, `job!="x"`, `job=~"a|"`) also selects the series without the label; no matcher
//! selects every series.

use crate::matcher::{MatchOp, Matcher};

/// An index that lists the series references of each label pair. References are any ordered copyable
/// type (the head's are `u64`, a block's `u32`); every list an implementation returns is ascending and
/// without duplicates.
pub trait PostingsSource {
    /// A series reference.
    type Ref: Copy + Ord;
    /// What reading the index can fail with (damage, for an index on disk).
    type Error;

    /// The references of the series with `name="value"`; empty if there is none.
    fn postings(&self, name: &str, value: &str) -> Result<Vec<Self::Ref>, Self::Error>;

    /// The references of every series.
    fn all_postings(&self) -> Result<Vec<Self::Ref>, Self::Error>;

    /// One list per value of label `name` that `keep` accepts (in any order); none if no series has
    /// the label.
    fn postings_for_values(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Vec<Self::Ref>>, Self::Error>;
}

/// The references of the series every matcher selects, ascending; all series for no matcher.
///
/// Matchers that select non-empty values are intersected (shortest list first); matchers that match the
/// empty string are applied by removing the series whose value they reject, so they never need the list
/// of all series unless no other matcher narrows the result.
pub fn postings_for_matchers<S: PostingsSource + ?Sized>(
    src: &S,
    matchers: &[Matcher],
) -> Result<Vec<S::Ref>, S::Error> {
    let mut its: Vec<Vec<S::Ref>> = Vec::new();
    let mut nots: Vec<Vec<S::Ref>> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            // Everything except the series whose value for the label does not match.
            let lists = src.postings_for_values(m.name(), &mut |v| !m.matches(v))?;
            if !lists.is_empty() {
                nots.push(merge(lists));
            }
        } else {
            let list = if m.op() == MatchOp::Equal {
                src.postings(m.name(), m.value())?
            } else {
                merge(src.postings_for_values(m.name(), &mut |v| m.matches(v))?)
            };
            if list.is_empty() {
                return Ok(Vec::new());
            }
            its.push(list);
        }
    }
    if its.is_empty() {
        its.push(src.all_postings()?);
    }
    let mut res = intersect(its);
    for n in &nots {
        if res.is_empty() {
            break;
        }
        res = without(&res, n);
    }
    Ok(res)
}

/// References present in every list (empty for no list). Consumes the lists.
pub fn intersect<R: Copy + Ord>(mut lists: Vec<Vec<R>>) -> Vec<R> {
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
fn intersect2<R: Copy + Ord>(a: &[R], b: &[R]) -> Vec<R> {
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
pub fn merge<R: Copy + Ord>(mut lists: Vec<Vec<R>>) -> Vec<R> {
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
            let mut out: Vec<R> = lists.concat();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// References of `a` that are not in `b` (both ascending).
pub fn without<R: Copy + Ord>(a: &[R], b: &[R]) -> Vec<R> {
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
    use crate::Labels;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::convert::Infallible;

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

    /// A tiny index over a list of label sets, reference = position.
    struct Toy(Vec<Labels>);

    impl PostingsSource for Toy {
        type Ref = usize;
        type Error = Infallible;
        fn postings(&self, name: &str, value: &str) -> Result<Vec<usize>, Infallible> {
            Ok((0..self.0.len())
                .filter(|&i| self.0[i].get(name) == Some(value))
                .collect())
        }
        fn all_postings(&self) -> Result<Vec<usize>, Infallible> {
            Ok((0..self.0.len()).collect())
        }
        fn postings_for_values(
            &self,
            name: &str,
            keep: &mut dyn FnMut(&str) -> bool,
        ) -> Result<Vec<Vec<usize>>, Infallible> {
            let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (i, l) in self.0.iter().enumerate() {
                if let Some(v) = l.get(name) {
                    by.entry(v).or_default().push(i);
                }
            }
            Ok(by
                .into_iter()
                .filter(|(v, _)| keep(v))
                .map(|(_, l)| l)
                .collect())
        }
    }

    #[test]
    fn matchers_select_as_a_scan_would() {
        let toy = Toy(vec![
            Labels::new([("__name__", "up"), ("job", "a")]).unwrap(),
            Labels::new([("__name__", "up"), ("job", "b")]).unwrap(),
            Labels::new([("__name__", "up")]).unwrap(),
            Labels::new([("__name__", "down"), ("job", "a")]).unwrap(),
        ]);
        let cases = [
            vec![],
            vec![Matcher::equal("__name__", "up")],
            vec![Matcher::equal("job", "")],
            vec![Matcher::new(MatchOp::NotEqual, "job", "a").unwrap()],
            vec![Matcher::new(MatchOp::RegexMatch, "job", "a|").unwrap()],
            vec![
                Matcher::equal("__name__", "up"),
                Matcher::new(MatchOp::RegexNoMatch, "job", "b").unwrap(),
            ],
            vec![Matcher::equal("nope", "x")],
        ];
        for ms in cases {
            let want: Vec<usize> = (0..toy.0.len())
                .filter(|&i| ms.iter().all(|m| m.matches_labels(&toy.0[i])))
                .collect();
            let got = postings_for_matchers(&toy, &ms).unwrap();
            assert_eq!(got, want, "{ms:?}");
        }
    }
}
