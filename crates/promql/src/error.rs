//! What can go wrong with a query, typed as Prometheus's HTTP API types its errors.

/// A query that could not be answered. [`error_type`](Self::error_type) and [`status`](Self::status)
/// give the `errorType` and HTTP status Prometheus's API answers with for the same failure.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query text does not parse, or names an unknown function, or has arguments of the wrong type:
    /// the parser's message.
    #[error("{0}")]
    Parse(String),
    /// Evaluation failed (many-to-many matching, duplicate series, a bad argument at run time).
    #[error("{0}")]
    Execution(String),
    /// The query would hold more than [`crate::EngineOptions::max_samples`] samples at once.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The deadline of [`crate::QueryOptions`] passed.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The cancel flag of [`crate::QueryOptions`] was raised (the client went away).
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// Storage could not be read.
    #[error(transparent)]
    Storage(#[from] tsdb::DbError),
}

impl QueryError {
    /// Prometheus's `errorType`: `bad_data`, `execution`, `timeout`, `canceled` or `internal`.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::Parse(_) => "bad_data",
            QueryError::Execution(_) | QueryError::TooManySamples(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Canceled(_) => "canceled",
            QueryError::Storage(_) => "internal",
        }
    }

    /// The HTTP status Prometheus answers with: 400, 422, 503, 499 or 500.
    pub fn status(&self) -> u16 {
        match self {
            QueryError::Parse(_) => 400,
            QueryError::Execution(_) | QueryError::TooManySamples(_) => 422,
            QueryError::Timeout(_) => 503,
            QueryError::Canceled(_) => 499,
            QueryError::Storage(_) => 500,
        }
    }
}
