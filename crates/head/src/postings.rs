//! Postings: for every label name and value, the sorted references of its series, plus all references;
//! and the evaluation of matchers over them with Prometheus's semantics (a matcher that matches the empty
//! string also selects series that lack the label).

use std::collections::{HashMap, HashSet};

use tsdb_labels::{Labels, MatchOp, Matcher};
use tsdb_wal::SeriesRef;

#[derive(Default)]
pub(crate) struct MemPostings {
    by_label: HashMap<Box<str>, HashMap<Box<str>, Vec<SeriesRef>>>,
    all: Vec<SeriesRef>,
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

/// Intersection of two sorted lists.
pub(crate) fn intersect(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
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

/// `a` without the elements of sorted `b`.
pub(crate) fn subtract(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
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

/// Union of sorted lists.
pub(crate) fn merge(lists: &[&[SeriesRef]]) -> Vec<SeriesRef> {
    let mut out: Vec<SeriesRef> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl MemPostings {
    pub fn add(&mut self, r: SeriesRef, labels: &Labels) {
        for (n, v) in labels.iter() {
            let values = match self.by_label.get_mut(n) {
                Some(m) => m,
                None => self.by_label.entry(n.into()).or_default(),
            };
            match values.get_mut(v) {
                Some(list) => insert_sorted(list, r),
                None => {
                    values.insert(v.into(), vec![r]);
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
            values.retain(|_, list| {
                list.retain(|r| !gone.contains(r));
                !list.is_empty()
            });
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
        let mut result: Option<Vec<SeriesRef>> = None;
        // Matchers that do not select the empty string narrow the most: evaluate them first.
        let mut order: Vec<&Matcher> = matchers.iter().collect();
        order.sort_by_key(|m| m.matches_empty());
        for m in order {
            let set = self.select_one(m);
            result = Some(match result {
                None => set,
                Some(r) => intersect(&r, &set),
            });
            if result.as_ref().is_some_and(|r| r.is_empty()) {
                break;
            }
        }
        result.unwrap_or_else(|| self.all.clone())
    }

    fn select_one(&self, m: &Matcher) -> Vec<SeriesRef> {
        let values = self.by_label.get(m.name());
        if m.op() == MatchOp::Equal && !m.value().is_empty() {
            return values
                .and_then(|vs| vs.get(m.value()))
                .cloned()
                .unwrap_or_default();
        }
        let Some(values) = values else {
            return if m.matches_empty() {
                self.all.clone()
            } else {
                Vec::new()
            };
        };
        if m.matches_empty() {
            // Every series, less those whose value of the label does not match.
            let out: Vec<&[SeriesRef]> = values
                .iter()
                .filter(|(v, _)| !m.matches(v))
                .map(|(_, l)| l.as_slice())
                .collect();
            subtract(&self.all, &merge(&out))
        } else {
            let ins: Vec<&[SeriesRef]> = values
                .iter()
                .filter(|(v, _)| m.matches(v))
                .map(|(_, l)| l.as_slice())
                .collect();
            merge(&ins)
        }
    }
}
