//! PromQL over a [`tsdb::Querier`]: instant and range queries evaluated with Prometheus 2.x's semantics
//! (the 5-minute lookback and staleness markers, `offset` and `@`, subqueries, vector matching, every
//! aggregation and float function), answering what Prometheus answers on the same data.
//!
//! Parsing is the `promql-parser` crate's (Prometheus's grammar); this crate owns evaluation:
//! [`Engine::instant`] and [`Engine::range`] select each vector or matrix selector once over the whole
//! query range (postings for every matcher, samples read through the streaming querier), then evaluate
//! every step. A query is bounded by [`EngineOptions::max_samples`] and by its [`QueryOptions`] deadline
//! and cancel flag.

pub mod engine;
pub mod error;
mod eval;
pub mod functions;
mod parse;
pub mod value;

pub use engine::{Engine, EngineOptions, QueryOptions, Queryable};
pub use error::QueryError;
pub use value::{format_float, write_float, write_int, QueryResult, RangeSeries, Sample, Value};

/// Checks that `query` parses as PromQL (with the functions this engine knows), without evaluating it.
///
/// # Errors
/// [`QueryError::Parse`] with the parser's message.
pub fn parse_check(query: &str) -> Result<(), QueryError> {
    parse::parse(query).map(|_| ())
}
