//! [`Labels`]: an immutable, validated, sorted label set in one allocation.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::FusedIterator;
use std::sync::Arc;

use crate::error::LabelsError;
use crate::hash::xxh64;
use crate::quote::write_go_quoted;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// The byte that ends every name and every value in the hashed text. It never occurs
/// in UTF-8, so the text `name 0xff value 0xff …` is unambiguous.
const SEP: u8 = 0xff;

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    is_valid_label_name_bytes(name.as_bytes())
}

/// [`is_valid_label_name`] of raw bytes (a valid name is ASCII, so no UTF-8 check is needed first).
pub fn is_valid_label_name_bytes(b: &[u8]) -> bool {
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
///
/// This is what the selector syntax accepts before `{`; [`Labels`] itself only requires
/// `__name__`'s value to be non-empty UTF-8, as Prometheus does.
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// An immutable label set: name/value pairs with distinct, valid names, sorted by name,
/// none with an empty value.
///
/// * One heap allocation holds the whole set; `Clone` only bumps a reference count, and
///   `get`, `iter`, `==`, `stable_hash` and `std::hash::Hash` never allocate.
/// * Two sets are equal exactly when they hold the same pairs; `Ord` compares the sorted
///   pairs lexicographically (name, then value, then the longer set is greater), like
///   Prometheus's `labels.Compare`.
/// * `Display` and `Debug` print the Prometheus text form, `{a="1", b="2"}`.
/// * `Labels::default()` is the empty set.
///
/// Layout of the allocation (all integers little-endian `u32`, offsets relative to the
/// start of the text): `count`, then per label the offsets of the separator after its
/// name and after its value, then the text `name 0xff value 0xff …`, which is exactly
/// what [`Labels::stable_hash`] hashes. The empty set is the empty slice.
#[derive(Clone, Default)]
pub struct Labels {
    data: Arc<[u8]>,
}

/// Size of the count that opens a non-empty encoding.
const HEAD: usize = 4;
/// Size of one label's entry in the offset table.
const ENTRY: usize = 8;

#[inline]
fn read_u32(data: &[u8], at: usize) -> usize {
    let mut w = [0u8; 4];
    w.copy_from_slice(&data[at..at + 4]);
    u32::from_le_bytes(w) as usize
}

impl Labels {
    /// Builds a label set from name/value pairs in any order.
    ///
    /// Every name must match `[a-zA-Z_][a-zA-Z0-9_]*` (checked even when its value is
    /// empty); pairs with an empty value are dropped, since a label with an empty value is
    /// the same as no label; the remaining names must be distinct. The result is sorted
    /// by name.
    ///
    /// # Errors
    /// [`LabelsError::InvalidName`] for the first invalid name in input order,
    /// [`LabelsError::DuplicateName`] for a repeated name, [`LabelsError::TooLarge`] if
    /// the set exceeds 4 GiB.
    pub fn new<I, N, V>(pairs: I) -> Result<Labels, LabelsError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut pairs: Vec<(N, V)> = pairs.into_iter().collect();
        if let Some((n, _)) = pairs.iter().find(|(n, _)| !is_valid_label_name(n.as_ref())) {
            return Err(LabelsError::InvalidName {
                name: n.as_ref().to_owned(),
            });
        }
        pairs.retain(|(_, v)| !v.as_ref().is_empty());
        pairs.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        if let Some(w) = pairs
            .windows(2)
            .find(|w| w[0].0.as_ref() == w[1].0.as_ref())
        {
            return Err(LabelsError::DuplicateName {
                name: w[0].0.as_ref().to_owned(),
            });
        }
        Self::encode(pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
    }

    /// Encodes pairs that are already valid, sorted, distinct and non-empty.
    fn encode<'a, I>(pairs: I) -> Result<Labels, LabelsError>
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        let n = pairs.len();
        if n == 0 {
            return Ok(Labels::empty());
        }
        let text_len: usize = pairs.clone().map(|(a, b)| a.len() + b.len() + 2).sum();
        let too_large = || LabelsError::TooLarge { size: text_len };
        if u32::try_from(text_len).is_err() {
            return Err(too_large());
        }
        let table = HEAD + ENTRY * n;
        let mut buf = Vec::with_capacity(table + text_len);
        buf.extend_from_slice(&u32::try_from(n).map_err(|_| too_large())?.to_le_bytes());
        buf.resize(table, 0);
        for (i, (name, value)) in pairs.enumerate() {
            buf.extend_from_slice(name.as_bytes());
            let name_end = u32::try_from(buf.len() - table).map_err(|_| too_large())?;
            buf.push(SEP);
            buf.extend_from_slice(value.as_bytes());
            let value_end = u32::try_from(buf.len() - table).map_err(|_| too_large())?;
            buf.push(SEP);
            let at = HEAD + ENTRY * i;
            buf[at..at + 4].copy_from_slice(&name_end.to_le_bytes());
            buf[at + 4..at + 8].copy_from_slice(&value_end.to_le_bytes());
        }
        Ok(Labels {
            data: Arc::from(buf),
        })
    }

    /// The empty label set (equal to `Labels::default()`).
    pub fn empty() -> Labels {
        Labels::default()
    }

    /// A builder starting from this set, to add, replace or remove labels.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder::from(self)
    }

    /// Number of labels.
    #[inline]
    pub fn len(&self) -> usize {
        if self.data.len() < HEAD {
            0
        } else {
            read_u32(&self.data, 0)
        }
    }

    /// Whether the set has no labels.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    #[inline]
    fn text(&self) -> &[u8] {
        let n = self.len();
        if n == 0 {
            &[]
        } else {
            &self.data[HEAD + ENTRY * n..]
        }
    }

    /// The `i`-th label; `i < self.len()`.
    #[inline]
    fn at(&self, i: usize) -> (&str, &str) {
        let n = self.len();
        let text = &self.data[HEAD + ENTRY * n..];
        let start = if i == 0 {
            0
        } else {
            read_u32(&self.data, HEAD + ENTRY * (i - 1) + 4) + 1
        };
        let name_end = read_u32(&self.data, HEAD + ENTRY * i);
        let value_end = read_u32(&self.data, HEAD + ENTRY * i + 4);
        (
            text_str(&text[start..name_end]),
            text_str(&text[name_end + 1..value_end]),
        )
    }

    /// The labels in ascending order of name.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            labels: self,
            front: 0,
            back: self.len(),
        }
    }

    /// The value of label `name`, or `None` if the set has no such label (a present label
    /// never has an empty value). Binary search; no allocation.
    pub fn get(&self, name: &str) -> Option<&str> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (n, v) = self.at(mid);
            match n.cmp(name) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(v),
            }
        }
        None
    }

    /// Whether the set has a label called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name: the value of `__name__`, if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// A 64-bit hash that is the same on every run, platform and version of this crate.
    ///
    /// Algorithm (fixed; stored hashes may rely on it): XXH64 with seed 0 over the bytes
    /// `name₁ 0xff value₁ 0xff name₂ 0xff value₂ 0xff …` in label order. This is the
    /// value Prometheus's `labels.Labels.Hash()` returns for the same set. The empty set
    /// hashes the empty input. No allocation: the bytes are stored in that form.
    #[inline]
    pub fn stable_hash(&self) -> u64 {
        xxh64(self.text(), 0)
    }

    /// The bytes [`stable_hash`](Self::stable_hash) hashes: `name₁ 0xff value₁ 0xff name₂ 0xff …`.
    /// Two sets are equal exactly when these bytes are (0xff occurs in no UTF-8 text), so a caller
    /// holding unvalidated pairs can find an existing set by [`push_hash_key`](Self::push_hash_key) and
    /// a byte comparison, without building a `Labels`.
    #[inline]
    pub fn hash_key(&self) -> &[u8] {
        self.text()
    }

    /// Appends one pair to a key being built in `buf` as [`hash_key`](Self::hash_key) lays it out.
    /// Pairs must come sorted by name; a pair with an empty value adds nothing, as [`Labels::new`]
    /// drops it. The key of valid sorted pairs equals the `hash_key` of the set they build;
    /// `xxh64(&buf, 0)` is then its `stable_hash`.
    #[inline]
    pub fn push_hash_key(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
        if value.is_empty() {
            return;
        }
        buf.extend_from_slice(name);
        buf.push(SEP);
        buf.extend_from_slice(value);
        buf.push(SEP);
    }

    /// Sum of the byte lengths of all names and values, for memory accounting.
    pub fn encoded_size(&self) -> usize {
        self.text().len() - 2 * self.len()
    }

    /// The label set without label `name` (a cheap clone if it has none).
    pub fn without(&self, name: &str) -> Labels {
        if !self.contains(name) {
            return self.clone();
        }
        // Removing a label from a valid set keeps it valid, sorted and small enough.
        Self::encode(FilterNot {
            inner: self.iter(),
            skip: name,
            remaining: self.len() - 1,
        })
        .unwrap_or_default()
    }
}

/// `iter` without one (present) name, with an exact length.
#[derive(Clone)]
struct FilterNot<'a, 'b> {
    inner: Iter<'a>,
    skip: &'b str,
    remaining: usize,
}

impl<'a> Iterator for FilterNot<'a, '_> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.by_ref().find(|(n, _)| *n != self.skip)?;
        self.remaining = self.remaining.saturating_sub(1);
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for FilterNot<'_, '_> {}

/// A slice of the text between separators, which is always one of the `&str`s the set
/// was built from.
#[inline]
fn text_str(b: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(b).is_ok());
    // SAFETY: `Labels::encode` is the only writer of the private, immutable buffer. It
    // copies whole `&str`s and puts a 0xff byte after each; the offset table records the
    // position of each separator. Every slice handed here starts right after a separator
    // (or at the text's start) and ends at the next one, so it is exactly one of those
    // copied `&str`s and therefore valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(b) }
}

/// Iterator over a [`Labels`]' `(name, value)` pairs in ascending order of name.
#[derive(Clone)]
pub struct Iter<'a> {
    labels: &'a Labels,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let item = self.labels.at(self.front);
        self.front += 1;
        Some(item)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some(self.labels.at(self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl FusedIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl PartialEq for Labels {
    /// Same pairs. The encoding is canonical, so this is one byte comparison.
    #[inline]
    fn eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.data, &other.data) || self.data[..] == other.data[..]
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    /// Feeds [`Labels::stable_hash`] to the hasher (consistent with `Eq`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.stable_hash());
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    /// `{name="value", …}` with values quoted by Go's `strconv.Quote`, as Prometheus's
    /// `labels.Labels.String()` prints; `{}` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (name, value)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
            f.write_str("=")?;
            write_go_quoted(f, value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    /// Same as `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Collects a new label set by setting and deleting labels, then validates it once in
/// [`LabelsBuilder::build`].
///
/// Setting a label to the empty value deletes it, as in Prometheus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelsBuilder {
    /// Sorted by name, distinct names, no empty values.
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> LabelsBuilder {
        LabelsBuilder::default()
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.pairs.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// Sets label `name` to `value`, replacing any previous value; an empty `value`
    /// deletes the label. Names are validated by `build`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        match (self.find(&name), value.is_empty()) {
            (Ok(i), true) => {
                self.pairs.remove(i);
            }
            (Ok(i), false) => self.pairs[i].1 = value,
            (Err(_), true) => {}
            (Err(i), false) => self.pairs.insert(i, (name, value)),
        }
        self
    }

    /// Removes label `name` if present.
    pub fn del(&mut self, name: &str) -> &mut Self {
        if let Ok(i) = self.find(name) {
            self.pairs.remove(i);
        }
        self
    }

    /// The current value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).ok().map(|i| self.pairs[i].1.as_str())
    }

    /// The label set built so far.
    ///
    /// # Errors
    /// [`LabelsError::InvalidName`] if a name set on the builder is invalid,
    /// [`LabelsError::TooLarge`] if the set exceeds 4 GiB.
    pub fn build(&self) -> Result<Labels, LabelsError> {
        if let Some((n, _)) = self.pairs.iter().find(|(n, _)| !is_valid_label_name(n)) {
            return Err(LabelsError::InvalidName { name: n.clone() });
        }
        Labels::encode(self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }
}

impl From<&Labels> for LabelsBuilder {
    fn from(l: &Labels) -> LabelsBuilder {
        LabelsBuilder {
            pairs: l
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn hash_key_from_pairs() {
        let pairs = [("__name__", "up"), ("empty", ""), ("job", "node")];
        let set = l(&pairs);
        let mut key = Vec::new();
        for (n, v) in pairs {
            Labels::push_hash_key(&mut key, n.as_bytes(), v.as_bytes());
        }
        assert_eq!(key, set.hash_key());
        assert_eq!(crate::xxh64(&key, 0), set.stable_hash());
        assert_eq!(Labels::empty().hash_key(), b"");
        // Different sets, different keys, even where plain concatenation would agree.
        assert_ne!(l(&[("a", "bc")]).hash_key(), l(&[("ab", "c")]).hash_key());
    }

    #[test]
    fn sorts_and_reads_back() {
        let s = l(&[("job", "node"), ("__name__", "up"), ("instance", "a:9100")]);
        assert_eq!(s.len(), 3);
        let v: Vec<_> = s.iter().collect();
        assert_eq!(
            v,
            [("__name__", "up"), ("instance", "a:9100"), ("job", "node")]
        );
        let rev: Vec<_> = s.iter().rev().collect();
        assert_eq!(rev, v.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(s.get("job"), Some("node"));
        assert_eq!(s.get("__name__"), Some("up"));
        assert_eq!(s.get("instance"), Some("a:9100"));
        assert_eq!(s.get("zzz"), None);
        assert_eq!(s.get("a"), None);
        assert_eq!(s.get(""), None);
        assert_eq!(s.metric_name(), Some("up"));
        assert!(s.contains("job"));
        assert_eq!(s.encoded_size(), 8 + 2 + 8 + 6 + 3 + 4);
    }

    #[test]
    fn empty() {
        let e = Labels::empty();
        assert!(e.is_empty());
        assert_eq!(e.len(), 0);
        assert_eq!(e.iter().next(), None);
        assert_eq!(e.get("a"), None);
        assert_eq!(e.metric_name(), None);
        assert_eq!(e.encoded_size(), 0);
        assert_eq!(e, Labels::default());
        assert_eq!(e, l(&[("a", "")]));
        assert_eq!(e.to_string(), "{}");
    }

    #[test]
    fn validation() {
        for bad in ["", "1a", "a-b", "a.b", "é", "a b", "a:b"] {
            assert_eq!(
                Labels::new([(bad, "x")]),
                Err(LabelsError::InvalidName { name: bad.into() }),
                "{bad:?}"
            );
        }
        // Checked even when the value is empty.
        assert!(Labels::new([("a-b", "")]).is_err());
        for good in ["a", "_", "A_1", "__name__", "_9"] {
            assert!(Labels::new([(good, "x")]).is_ok(), "{good:?}");
        }
        assert_eq!(
            Labels::new([("a", "1"), ("b", "2"), ("a", "3")]),
            Err(LabelsError::DuplicateName { name: "a".into() })
        );
        // An empty value is no label, so it does not collide.
        assert_eq!(
            Labels::new([("a", ""), ("a", "3")]).unwrap(),
            l(&[("a", "3")])
        );
    }

    #[test]
    fn eq_ord_hash() {
        let a = l(&[("a", "1"), ("b", "2")]);
        let b = l(&[("b", "2"), ("a", "1")]);
        assert_eq!(a, b);
        assert_eq!(a.stable_hash(), b.stable_hash());
        assert_eq!(a.cmp(&b), Ordering::Equal);
        // name first, then value, then length
        assert!(l(&[("a", "1")]) < l(&[("b", "0")]));
        assert!(l(&[("a", "1")]) < l(&[("a", "2")]));
        assert!(l(&[("a", "1")]) < l(&[("a", "1"), ("b", "0")]));
        // "a" < "ab" as strings, although 0xff > 'b'.
        assert!(l(&[("a", "x")]) < l(&[("ab", "x")]));
        assert!(l(&[("a", "x")]) < l(&[("a", "xy")]));
        assert!(Labels::empty() < a);
    }

    #[test]
    fn builder() {
        let base = l(&[("__name__", "up"), ("job", "node")]);
        let mut b = base.builder();
        b.set("instance", "x").set("job", "").set("zone", "eu");
        b.del("zone");
        assert_eq!(b.get("instance"), Some("x"));
        assert_eq!(
            b.build().unwrap(),
            l(&[("__name__", "up"), ("instance", "x")])
        );
        b.set("bad-name", "v");
        assert!(matches!(b.build(), Err(LabelsError::InvalidName { .. })));
        assert_eq!(LabelsBuilder::new().build().unwrap(), Labels::empty());
    }

    #[test]
    fn without() {
        let s = l(&[("__name__", "up"), ("job", "node"), ("z", "1")]);
        assert_eq!(s.without("job"), l(&[("__name__", "up"), ("z", "1")]));
        assert_eq!(s.without("nope"), s);
        assert_eq!(
            s.without("__name__").without("job").without("z"),
            Labels::empty()
        );
    }

    #[test]
    fn valid_names() {
        assert!(is_valid_metric_name("a:b_c"));
        assert!(is_valid_metric_name(":x"));
        assert!(!is_valid_metric_name("1x"));
        assert!(!is_valid_metric_name(""));
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Labels>();
        assert_send_sync::<crate::Matcher>();
    }
}
