//! Symbol tables of the native mode: label strings interned once, referred to by id.
//!
//! Ids are given in order of appearance. A symbols record whose first id is 0 starts a new table, which is how
//! a writer that reopens a log, or a truncation that rewrites the start of it, begins afresh without knowing
//! the ids that came before.

use std::collections::HashMap;

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
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Box<str>, u64>,
    pending: Vec<Box<str>>,
    pending_first: u64,
}

impl Interner {
    /// An empty interner; the first symbols record it produces starts a new table (first id 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `s`, defining it if new.
    pub fn intern(&mut self, s: &str) -> u64 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.ids.len() as u64;
        self.ids.insert(s.into(), id);
        self.pending.push(s.into());
        id
    }

    /// Number of symbols defined.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no symbol is defined.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The symbols defined since the last call, with the id of the first; call it after interning a batch,
    /// and log the returned symbols before the records that use them.
    pub fn take_pending(&mut self) -> Option<(u64, Vec<Box<str>>)> {
        if self.pending.is_empty() {
            return None;
        }
        let first = self.pending_first;
        let p = std::mem::take(&mut self.pending);
        self.pending_first = first + p.len() as u64;
        Some((first, p))
    }

    /// Drops every symbol, so that the next symbols record starts a new table.
    pub fn reset(&mut self) {
        self.ids.clear();
        self.pending.clear();
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
}
