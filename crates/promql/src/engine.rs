//! The query engine: options, the storage it reads, and the entry points.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::error::QueryError;
use crate::value::QueryResult;

/// What the engine reads: anything that gives a [`tsdb::Querier`] over a time range.
pub trait Queryable: Sync {
    /// A querier over `[mint, maxt]` (milliseconds, inclusive).
    fn querier(&self, mint: i64, maxt: i64) -> tsdb::Querier<'_>;
}

impl Queryable for tsdb::Db {
    fn querier(&self, mint: i64, maxt: i64) -> tsdb::Querier<'_> {
        tsdb::Db::querier(self, mint, maxt)
    }
}

impl Queryable for tsdb::ReadOnlyDb {
    fn querier(&self, mint: i64, maxt: i64) -> tsdb::Querier<'_> {
        tsdb::ReadOnlyDb::querier(self, mint, maxt)
    }
}

/// Settings of an [`Engine`], Prometheus's defaults unless changed.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back a vector selector looks for a sample (`--query.lookback-delta`). Default 5 minutes.
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold at once (`--query.max-samples`). Default 50,000,000.
    pub max_samples: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
        }
    }
}

/// Per-query bounds.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Give up with [`QueryError::Timeout`] after this instant.
    pub deadline: Option<Instant>,
    /// Give up with [`QueryError::Canceled`] once this is set (for example when the client went away).
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Evaluates PromQL. Cheap to share: it holds only its options.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    /// Its options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at `time` (milliseconds). The value has the expression's type.
    ///
    /// # Errors
    /// [`QueryError::Parse`] for a query that does not parse; the others as evaluation meets them.
    pub fn instant(
        &self,
        db: &dyn Queryable,
        query: &str,
        time: i64,
        qo: &QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let _ = (db, query, time, qo);
        Err(QueryError::Execution(
            "the evaluator is being written".into(),
        ))
    }

    /// Evaluates `query` at every `step` from `start` to `end` (milliseconds, inclusive). The value is
    /// always a [`crate::Value::Matrix`], sorted by labels.
    ///
    /// # Errors
    /// [`QueryError::Parse`] for a query that does not parse, or whose type is not scalar or instant
    /// vector; the others as evaluation meets them.
    pub fn range(
        &self,
        db: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        qo: &QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let _ = (db, query, start, end, step, qo);
        Err(QueryError::Execution(
            "the evaluator is being written".into(),
        ))
    }
}
