//! The query engine: options, the storage it reads, and the entry points.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use promql_parser::parser::Expr;

use crate::error::QueryError;
use crate::eval::{Ctx, Evaluator, Series, Val};
use crate::parse::parse;
use crate::value::{QueryResult, RangeSeries, Sample, Value};

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
        let expr = parse(query)?;
        let mut ev = Evaluator::new(db, &self.opts, qo, time, time);
        ev.check_now()?;
        let ctx = Ctx {
            start: time,
            end: time,
            step: 1,
        };
        let v = ev.eval(&expr, ctx)?;
        let keep_order = keeps_order(&expr);
        let value = match v {
            Val::Scalar(s) => Value::Scalar {
                t: time,
                v: s.first().copied().unwrap_or(f64::NAN),
            },
            Val::Str(s) => Value::String { t: time, v: s },
            Val::Vector(ss) => {
                let mut out: Vec<Sample> = ss
                    .into_iter()
                    .filter_map(|s| {
                        s.points.first().map(|&(t, v)| Sample {
                            labels: s.labels,
                            t,
                            v,
                        })
                    })
                    .collect();
                if !keep_order {
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                Value::Vector(out)
            }
            Val::Matrix(ss) => Value::Matrix(to_matrix(ss)),
        };
        Ok(QueryResult {
            value,
            warnings: ev.warnings,
            samples_loaded: ev.samples_loaded,
        })
    }

    /// Evaluates `query` at every `step` from `start` to `end` (milliseconds, inclusive). The value is
    /// always a [`crate::Value::Matrix`], sorted by labels.
    ///
    /// # Errors
    /// [`QueryError::Parse`] for a query that does not parse, or whose type is not scalar or instant
    /// vector, or a step that is not positive; the others as evaluation meets them.
    pub fn range(
        &self,
        db: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        qo: &QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        if step <= 0 {
            return Err(QueryError::Parse(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(QueryError::Parse(
                "end timestamp must not be before start time".into(),
            ));
        }
        let expr = parse(query)?;
        match expr_kind(&expr) {
            "range vector" | "string" => {
                return Err(QueryError::Parse(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                expr_kind(&expr)
            )))
            }
            _ => {}
        }
        let mut ev = Evaluator::new(db, &self.opts, qo, start, end);
        ev.check_now()?;
        let ctx = Ctx { start, end, step };
        let v = ev.eval(&expr, ctx)?;
        let series = match v {
            Val::Scalar(s) => vec![Series {
                labels: tsdb_labels::Labels::empty(),
                points: s
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (ctx.time(i), v))
                    .collect(),
            }],
            Val::Vector(ss) => ss,
            other => {
                return Err(QueryError::Parse(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                match other {
                    Val::Str(_) => "string",
                    _ => "range vector",
                }
            )))
            }
        };
        Ok(QueryResult {
            value: Value::Matrix(to_matrix(series)),
            warnings: ev.warnings,
            samples_loaded: ev.samples_loaded,
        })
    }
}

fn to_matrix(mut ss: Vec<Series>) -> Vec<RangeSeries> {
    ss.retain(|s| !s.points.is_empty());
    ss.sort_by(|a, b| a.labels.cmp(&b.labels));
    ss.into_iter()
        .map(|s| RangeSeries {
            labels: s.labels,
            points: s.points,
        })
        .collect()
}

/// Whether an instant query's vector keeps the order evaluation gave it (sorting functions, and
/// `topk`/`bottomk`).
fn keeps_order(e: &Expr) -> bool {
    match e {
        Expr::Paren(p) => keeps_order(&p.expr),
        Expr::Call(c) => matches!(c.func.name, "sort" | "sort_desc"),
        Expr::Aggregate(a) => matches!(a.op.to_string().as_str(), "topk" | "bottomk"),
        _ => false,
    }
}

/// The type of an expression, as Prometheus names it in errors.
fn expr_kind(e: &Expr) -> &'static str {
    match e {
        Expr::Paren(p) => expr_kind(&p.expr),
        Expr::StringLiteral(_) => "string",
        Expr::MatrixSelector(_) | Expr::Subquery(_) => "range vector",
        Expr::NumberLiteral(_) => "scalar",
        Expr::Call(c) => match c.func.return_type {
            promql_parser::parser::value::ValueType::Scalar => "scalar",
            promql_parser::parser::value::ValueType::String => "string",
            promql_parser::parser::value::ValueType::Matrix => "range vector",
            promql_parser::parser::value::ValueType::Vector => "instant vector",
        },
        _ => "instant vector",
    }
}
