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
            .cloned()
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
                    .map(|(_, l)| l.clone())
                    .collect()
            })
            .unwrap_or_default())
    }
}
