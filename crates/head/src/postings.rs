//! Postings: for every label name and value, the sorted references of its series, plus all references.
//! Matchers are evaluated over them by the shared engine of `tsdb_labels::postings`, the same code that
//! evaluates them over a block's index.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use tsdb_labels::postings::{postings_for_matchers, PostingsSource};
use tsdb_labels::{Labels, Matcher};
use tsdb_wal::SeriesRef;

#[derive(Default)]
pub(crate) struct MemPostings {
    by_label: HashMap<Box<str>, HashMap<Box<str>, List, StrHash>, StrHash>,
    all: Vec<SeriesRef>,
}

/// Hashes label names and values with XXH64 seeded per process: SipHash was 7% of replaying 1M series
/// (mostly rehashing the value maps as they grow). The random seed keeps label values sent by a client
/// from choosing their buckets.
#[derive(Clone)]
struct StrHash(u64);

impl Default for StrHash {
    fn default() -> Self {
        use std::sync::OnceLock;
        static SEED: OnceLock<u64> = OnceLock::new();
        StrHash(*SEED.get_or_init(|| {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(0x5eed_u64)
        }))
    }
}

impl std::hash::BuildHasher for StrHash {
    type Hasher = StrHasher;
    fn build_hasher(&self) -> StrHasher {
        StrHasher(self.0)
    }
}

struct StrHasher(u64);

impl std::hash::Hasher for StrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = tsdb_labels::xxh64(bytes, self.0);
    }
    fn write_u8(&mut self, b: u8) {
        // `str` ends its hash with 0xff; fold it in without a second pass over bytes.
        self.0 = (self.0 ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The references of one label value. Most values of a large head belong to one series (an instance,
/// a pod, a uid), so that one is held inline: a vector of its own cost 32 bytes more per value.
#[derive(Debug)]
enum List {
    One(SeriesRef),
    Many(Vec<SeriesRef>),
}

impl List {
    fn as_slice(&self) -> &[SeriesRef] {
        match self {
            List::One(r) => std::slice::from_ref(r),
            List::Many(v) => v,
        }
    }

    fn many(&mut self) -> &mut Vec<SeriesRef> {
        if let List::One(r) = *self {
            let mut v = Vec::with_capacity(4);
            v.push(r);
            *self = List::Many(v);
        }
        match self {
            List::Many(v) => v,
            List::One(_) => unreachable!("made a vector above"),
        }
    }

    fn push(&mut self, r: SeriesRef) {
        self.many().push(r);
    }

    fn insert_sorted(&mut self, r: SeriesRef) {
        if let List::One(only) = *self {
            if only == r {
                return;
            }
        }
        insert_sorted(self.many(), r);
    }

    /// Sorts and drops repeated references; a single one left goes back inline.
    fn ensure_order(&mut self) {
        if let List::Many(v) = self {
            if !v.windows(2).all(|w| w[0] < w[1]) {
                v.sort_unstable();
                v.dedup();
            }
            if v.len() == 1 {
                *self = List::One(v[0]);
            }
        }
    }

    /// Keeps the references `keep` accepts; false if none is left.
    fn retain(&mut self, keep: impl Fn(&SeriesRef) -> bool) -> bool {
        match self {
            List::One(r) => keep(r),
            List::Many(v) => {
                v.retain(keep);
                match v.len() {
                    0 => false,
                    1 => {
                        *self = List::One(v[0]);
                        true
                    }
                    _ => true,
                }
            }
        }
    }
}

fn insert_sorted(v: &mut Vec<SeriesRef>, r: SeriesRef) {
    match v.last() {
        Some(&last) if last >= r => {
            if let Err(i) = v.binary_search(&r) {
                v.insert(i, r);
            }
        }
        _ => v.push(r),
    }
}

impl MemPostings {
    /// Adds a series in no particular order of references: lists are appended to and sorted once by
    /// [`ensure_order`](Self::ensure_order), which must run before the next read. Replay adds series in
    /// the order the WAL logged them (from many appenders, or a checkpoint in map order): sorting each
    /// list on every insert would make replay quadratic in the number of series.
    pub fn add_unordered(&mut self, r: SeriesRef, labels: &Labels) {
        for (n, v) in labels.iter() {
            let values = match self.by_label.get_mut(n) {
                Some(m) => m,
                None => self.by_label.entry(n.into()).or_default(),
            };
            match values.get_mut(v) {
                Some(list) => list.push(r),
                None => {
                    values.insert(v.into(), List::One(r));
                }
            }
        }
        self.all.push(r);
    }

    /// Sorts every list and drops repeated references (after [`add_unordered`](Self::add_unordered)).
    pub fn ensure_order(&mut self) {
        fn fix(v: &mut Vec<SeriesRef>) {
            if !v.windows(2).all(|w| w[0] < w[1]) {
                v.sort_unstable();
                v.dedup();
            }
        }
        fix(&mut self.all);
        for values in self.by_label.values_mut() {
            values.values_mut().for_each(List::ensure_order);
        }
    }

    pub fn add(&mut self, r: SeriesRef, labels: &Labels) {
        for (n, v) in labels.iter() {
            let values = match self.by_label.get_mut(n) {
                Some(m) => m,
                None => self.by_label.entry(n.into()).or_default(),
            };
            match values.get_mut(v) {
                Some(list) => list.insert_sorted(r),
                None => {
                    values.insert(v.into(), List::One(r));
                }
            }
        }
        insert_sorted(&mut self.all, r);
    }

    pub fn remove(&mut self, gone: &HashSet<SeriesRef>) {
        if gone.is_empty() {
            return;
        }
        self.all.retain(|r| !gone.contains(r));
        self.by_label.retain(|_, values| {
            values.retain(|_, list| list.retain(|r| !gone.contains(r)));
            !values.is_empty()
        });
    }

    pub fn label_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.by_label.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    pub fn label_values(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_label
            .get(name)
            .map(|m| m.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The sorted references of the series every matcher selects; no matcher selects everything.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        match postings_for_matchers(self, matchers) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
}

impl PostingsSource for MemPostings {
    type Ref = SeriesRef;
    type Error = Infallible;

    fn postings(&self, name: &str, value: &str) -> Result<Vec<SeriesRef>, Infallible> {
        Ok(self
            .by_label
            .get(name)
            .and_then(|vs| vs.get(value))
            .map(|l| l.as_slice().to_vec())
            .unwrap_or_default())
    }

    fn all_postings(&self) -> Result<Vec<SeriesRef>, Infallible> {
        Ok(self.all.clone())
    }

    fn postings_for_values(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Vec<SeriesRef>>, Infallible> {
        Ok(self
            .by_label
            .get(name)
            .map(|vs| {
                vs.iter()
                    .filter(|(v, _)| keep(v))
                    .map(|(_, l)| l.as_slice().to_vec())
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unordered_adds_sorted_once_equal_ordered_adds() {
        let series: Vec<(SeriesRef, Labels)> = [7u64, 3, 9, 1, 3, 8]
            .iter()
            .map(|&r| {
                let job = if r % 2 == 0 { "a" } else { "b" };
                (r, Labels::new([("__name__", "up"), ("job", job)]).unwrap())
            })
            .collect();
        let mut ordered = MemPostings::default();
        let mut unordered = MemPostings::default();
        for (r, l) in &series {
            ordered.add(*r, l);
            unordered.add_unordered(*r, l);
        }
        unordered.ensure_order();
        for ms in [
            vec![],
            vec![Matcher::equal("job", "a")],
            vec![Matcher::equal("__name__", "up")],
        ] {
            assert_eq!(unordered.select(&ms), ordered.select(&ms), "{ms:?}");
        }
        assert_eq!(ordered.select(&[]), vec![1, 3, 7, 8, 9]);
    }
}
