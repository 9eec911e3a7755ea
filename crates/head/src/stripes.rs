//! The striped series map: by labels hash and by reference, each split into many independently locked
//! stripes so that appenders on different series rarely meet.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tsdb_labels::Labels;
use tsdb_wal::SeriesRef;

use crate::series::MemSeries;

/// A hasher for keys that are already well-mixed (label hashes) or small dense integers (refs): one
/// multiply, no SipHash.
#[derive(Default, Clone, Copy)]
pub(crate) struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;

/// Series whose labels share one hash (collisions are kept side by side). The usual single series is
/// held in the map's slot itself, so a lookup follows one pointer fewer.
enum Bucket {
    One(Arc<MemSeries>),
    Many(Vec<Arc<MemSeries>>),
}

impl Bucket {
    #[inline]
    fn as_slice(&self) -> &[Arc<MemSeries>] {
        match self {
            Bucket::One(s) => std::slice::from_ref(s),
            Bucket::Many(v) => v,
        }
    }

    fn push(&mut self, s: Arc<MemSeries>) {
        match self {
            Bucket::One(first) => *self = Bucket::Many(vec![first.clone(), s]),
            Bucket::Many(v) => v.push(s),
        }
    }

    /// Removes the series with reference `r`; returns (removed, now empty).
    fn remove(&mut self, r: SeriesRef) -> (bool, bool) {
        match self {
            Bucket::One(s) => {
                let hit = s.sref == r;
                (hit, hit)
            }
            Bucket::Many(v) => {
                let before = v.len();
                v.retain(|x| x.sref != r);
                let removed = v.len() < before;
                let empty = v.is_empty();
                if v.len() == 1 {
                    let only = v[0].clone();
                    *self = Bucket::One(only);
                }
                (removed, empty)
            }
        }
    }
}

/// Series by labels hash, in stripes; references are found through [`crate::reftable::RefTable`].
pub(crate) struct StripeSeries {
    mask: usize,
    by_hash: Box<[Padded<RwLock<U64Map<Bucket>>>]>,
    count: AtomicUsize,
}

/// Keeps each stripe lock on its own cache line, so threads on neighbouring stripes do not slow each other.
#[repr(align(64))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl StripeSeries {
    pub fn new(stripes: usize) -> StripeSeries {
        let n = stripes.max(1).next_power_of_two();
        StripeSeries {
            mask: n - 1,
            by_hash: (0..n)
                .map(|_| Padded(RwLock::new(U64Map::default())))
                .collect(),
            count: AtomicUsize::new(0),
        }
    }

    #[inline]
    pub fn get_by_labels(&self, hash: u64, labels: &Labels) -> Option<Arc<MemSeries>> {
        let st = self.by_hash[hash as usize & self.mask].read();
        st.get(&hash)?
            .as_slice()
            .iter()
            .find(|s| s.labels == *labels)
            .cloned()
    }

    /// The series whose labels' [`Labels::hash_key`] is `key` (`hash` being its XXH64); no `Labels` needed.
    #[inline]
    pub fn get_by_key(&self, hash: u64, key: &[u8]) -> Option<Arc<MemSeries>> {
        let st = self.by_hash[hash as usize & self.mask].read();
        st.get(&hash)?
            .as_slice()
            .iter()
            .find(|s| s.labels.hash_key() == key)
            .cloned()
    }

    /// The series with these labels, created with `new_ref()` as its reference and lock slot if absent;
    /// `true` if created.
    /// `created` runs for a new series before any other thread can find it by labels.
    pub fn get_or_create(
        &self,
        hash: u64,
        labels: &Labels,
        logged: bool,
        new_ref: impl FnOnce() -> (SeriesRef, u32),
        created: impl FnOnce(&Arc<MemSeries>),
    ) -> (Arc<MemSeries>, bool) {
        let mut st = self.by_hash[hash as usize & self.mask].write();
        if let Some(b) = st.get(&hash) {
            if let Some(s) = b.as_slice().iter().find(|s| s.labels == *labels) {
                return (s.clone(), false);
            }
        }
        let (r, slot) = new_ref();
        let s = Arc::new(MemSeries::new(r, slot, labels.clone(), logged));
        created(&s);
        match st.entry(hash) {
            std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().push(s.clone()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Bucket::One(s.clone()));
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        (s, true)
    }

    /// Removes `s`, whose labels hash to `hash` (not stored in the series, a word each: removal is
    /// rare, so the caller computes it again).
    pub fn remove(&self, hash: u64, s: &MemSeries) {
        let mut st = self.by_hash[hash as usize & self.mask].write();
        if let Some(b) = st.get_mut(&hash) {
            let (removed, empty) = b.remove(s.sref);
            if removed {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            if empty {
                st.remove(&hash);
            }
        }
    }

    /// Every series, in no particular order.
    pub fn all(&self) -> Vec<Arc<MemSeries>> {
        let mut v = Vec::with_capacity(self.len());
        for st in self.by_hash.iter() {
            for b in st.read().values() {
                v.extend(b.as_slice().iter().cloned());
            }
        }
        v
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).unwrap()
    }

    /// Two label sets filed under one hash (as if XXH64 collided) are each found by their own key, and a
    /// third set with that hash is not found at all.
    #[test]
    fn colliding_hashes_resolve_by_key() {
        let st = StripeSeries::new(4);
        let (a, b, c) = (
            labels(&[("__name__", "a")]),
            labels(&[("__name__", "b")]),
            labels(&[("__name__", "c")]),
        );
        let mut next = 0;
        let mut new_ref = || {
            next += 1;
            (next, 0)
        };
        let (sa, _) = st.get_or_create(7, &a, false, &mut new_ref, |_| {});
        let (sb, created) = st.get_or_create(7, &b, false, &mut new_ref, |_| {});
        assert!(created);
        assert_ne!(sa.sref, sb.sref);
        assert_eq!(st.get_by_key(7, a.hash_key()).unwrap().sref, sa.sref);
        assert_eq!(st.get_by_key(7, b.hash_key()).unwrap().sref, sb.sref);
        assert!(st.get_by_key(7, c.hash_key()).is_none());
        assert!(st.get_by_key(8, a.hash_key()).is_none());
        assert_eq!(st.get_by_labels(7, &b).unwrap().sref, sb.sref);
        let (sc, _) = st.get_or_create(7, &c, false, &mut new_ref, |_| {});
        assert_eq!(st.get_by_key(7, c.hash_key()).unwrap().sref, sc.sref);
        assert_eq!(st.len(), 3);
        st.remove(7, &sa);
        assert!(st.get_by_key(7, a.hash_key()).is_none());
        assert_eq!(st.get_by_key(7, b.hash_key()).unwrap().sref, sb.sref);
        assert_eq!(st.get_by_labels(7, &c).unwrap().sref, sc.sref);
        st.remove(7, &sc);
        st.remove(7, &sc);
        assert_eq!(st.len(), 1);
        assert_eq!(st.get_by_key(7, b.hash_key()).unwrap().sref, sb.sref);
        st.remove(7, &sb);
        assert_eq!(st.len(), 0);
        assert!(st.all().is_empty());
    }
}
