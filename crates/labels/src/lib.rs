//! Label sets, label matchers and series-selector parsing for the tsdb workspace.
//!
//! This crate owns the identity of a series: [`Labels`], an immutable, validated set
//! of name/value pairs sorted by name, with its stable hash ([`Labels::stable_hash`],
//! Prometheus's XXH64) and its Prometheus text form (`{__name__="up", job="node"}`,
//! values quoted exactly like Go's `strconv.Quote`, see [`go_quote`]); [`Matcher`],
//! the `=`, `!=`, `=~`, `!~` conditions on one label with Prometheus's semantics
//! (anchored regexes, an absent label reads as `""`); and [`parse_selector`], the PromQL
//! series-selector syntax that produces them. It does no I/O and knows nothing of
//! the WAL or on-disk encodings: interning label strings, indexing them and writing them to
//! disk belong to the crates that store series (`tsdb-head`, `tsdb-wal`, `tsdb-block`). What
//! they share is here: [`postings`], the one engine that combines sorted lists of series
//! references and evaluates matchers over any index implementing
//! [`postings::PostingsSource`].
//!
//! ```
//! use tsdb_labels::{parse_selector, Labels};
//!
//! let series = Labels::new([("job", "node"), ("__name__", "up")])?;
//! assert_eq!(series.to_string(), r#"{__name__="up", job="node"}"#);
//! assert_eq!(series.get("job"), Some("node"));
//!
//! let matchers = parse_selector(r#"up{job=~"no.*"}"#)?;
//! assert!(matchers.iter().all(|m| m.matches_labels(&series)));
//! # Ok::<(), tsdb_labels::LabelsError>(())
//! ```

#![warn(missing_docs)]

mod error;
mod hash;
mod labels;
mod matcher;
pub mod postings;
mod print_table;
mod quote;
mod selector;

pub use error::LabelsError;
pub use hash::xxh64;
pub use labels::{
    is_valid_label_name, is_valid_label_name_bytes, is_valid_metric_name, Iter, Labels,
    LabelsBuilder, METRIC_NAME,
};
pub use matcher::{MatchOp, Matcher};
pub use quote::{go_quote, is_go_printable, write_go_quoted};
pub use selector::{parse_labels, parse_selector};
