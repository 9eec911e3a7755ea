//! Symbol tables of the native mode: label strings interned once, referred to by id.
//!
//! Ids are given in order of appearance. A symbols record whose first id is 0 starts a new table, which is how
//! a writer that reopens a log, or a truncation that rewrites the start of it, begins afresh without knowing
//! the ids that came before.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The reader's side: id → string, in one contiguous buffer.
#[derive(Debug, Default, Clone)]
pub struct SymbolTable {
    bytes: String,
    ends: Vec<usize>,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of symbols defined.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no symbol is defined.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Forgets every symbol (a new table starts).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Defines the next id as `s`.
    pub fn push(&mut self, s: &str) {
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len());
    }

    /// The string of `id`, if defined.
    pub fn get(&self, id: u64) -> Option<&str> {
        let i = usize::try_from(id).ok()?;
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.bytes.get(start..end)
    }

    /// Every symbol in id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.bytes[start..self.ends[i]]
        })
    }
}

/// The writer's side: string → id, plus the symbols defined since the last symbols record was written.
///
/// It holds every symbol of the log (one per distinct label name and value, so about two per series when
/// most series have a label of their own): the strings are stored back to back in one buffer and found
/// by their XXH64 in a map of ids, about 20 bytes a symbol beside its text instead of a boxed string and
/// a SipHash map entry of its own (90 bytes).
#[derive(Debug, Default)]
pub struct Interner {
    /// Every symbol, back to back, in id order.
    bytes: String,
    /// Where the symbol of each id ends in `bytes`.
    ends: Vec<usize>,
    /// The id of the first symbol with each hash.
    by_hash: HashMap<u64, u64, BuildHasherDefault<HashedKey>>,
    /// Symbols whose hash an earlier symbol already has.
    collided: HashMap<Box<str>, u64>,
    pending_first: u64,
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct HashedKey(u64);

impl Hasher for HashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Interner {
    /// An empty interner; the first symbols record it produces starts a new table (first id 0).
    pub fn new() -> Self {
        Self::default()
    }

    fn symbol(&self, id: u64) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// The id of `s`, defining it if new.
    pub fn intern(&mut self, s: &str) -> u64 {
        let h = tsdb_labels::xxh64(s.as_bytes(), 0);
        let first = self.by_hash.get(&h).copied();
        if let Some(id) = first {
            if self.symbol(id) == s {
                return id;
            }
            if let Some(&id) = self.collided.get(s) {
                return id;
            }
        }
        let id = self.ends.len() as u64;
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len());
        if first.is_some() {
            self.collided.insert(s.into(), id);
        } else {
            self.by_hash.insert(h, id);
        }
        id
    }

    /// Number of symbols defined.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no symbol is defined.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The symbols defined since the last call, with the id of the first; call it after interning a batch,
    /// and log the returned symbols before the records that use them.
    pub fn take_pending(&mut self) -> Option<(u64, Vec<Box<str>>)> {
        let first = self.pending_first;
        let end = self.ends.len() as u64;
        if first == end {
            return None;
        }
        let p = (first..end).map(|id| self.symbol(id).into()).collect();
        self.pending_first = end;
        Some((first, p))
    }

    /// Drops every symbol, so that the next symbols record starts a new table.
    pub fn reset(&mut self) {
        self.bytes = String::new();
        self.ends = Vec::new();
        self.by_hash = HashMap::default();
        self.collided = HashMap::new();
        self.pending_first = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_and_table_agree() {
        let mut i = Interner::new();
        assert_eq!(i.intern("a"), 0);
        assert_eq!(i.intern("b"), 1);
        assert_eq!(i.intern("a"), 0);
        let (first, syms) = i.take_pending().unwrap();
        assert_eq!((first, syms.len()), (0, 2));
        assert!(i.take_pending().is_none());
        assert_eq!(i.intern("c"), 2);
        let (first, syms) = i.take_pending().unwrap();
        assert_eq!((first, &*syms[0]), (2, "c"));

        let mut t = SymbolTable::new();
        for s in ["a", "b", "", "c"] {
            t.push(s);
        }
        assert_eq!(t.get(0), Some("a"));
        assert_eq!(t.get(2), Some(""));
        assert_eq!(t.get(3), Some("c"));
        assert_eq!(t.get(4), None);
        assert_eq!(t.get(u64::MAX), None);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec!["a", "b", "", "c"]);
    }

    /// A symbol whose hash an earlier symbol has gets an id of its own and keeps it.
    #[test]
    fn colliding_hashes_get_their_own_ids() {
        let mut i = Interner::new();
        assert_eq!(i.intern("a"), 0);
        // As if "b" hashed like "a".
        i.by_hash.remove(&tsdb_labels::xxh64(b"a", 0));
        i.by_hash.insert(tsdb_labels::xxh64(b"b", 0), 0);
        assert_eq!(i.intern("b"), 1);
        assert_eq!(i.intern("b"), 1);
        assert_eq!(i.intern("a"), 2);
        assert_eq!(i.intern("a"), 2);
        let (first, syms) = i.take_pending().unwrap();
        assert_eq!(first, 0);
        assert_eq!(
            syms.iter().map(|s| &**s).collect::<Vec<_>>(),
            ["a", "b", "a"]
        );
        i.reset();
        assert!(i.is_empty());
        assert_eq!(i.intern("b"), 0);
        assert_eq!(i.take_pending().unwrap().0, 0);
    }
}
