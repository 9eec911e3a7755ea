//! Evaluation of a syntax tree over all steps of a query at once: every node is evaluated once for the
//! whole range (as Prometheus's engine does), so each selector selects its series once.
//!
//! Intermediate values are [`Val`]s: a scalar is one number per step; an instant vector is a list of
//! [`Series`] whose points sit at step times; a range vector only exists as the argument of a function
//! (and as the answer of an instant query for a bare matrix selector or subquery).

mod aggregate;
mod binary;
mod call;
mod select;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr};
use tsdb_labels::Labels;

use crate::engine::{EngineOptions, QueryOptions, Queryable};
use crate::error::QueryError;

/// Where evaluation of the current node happens: steps `start, start+step, …, end` (milliseconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Ctx {
    /// Number of steps.
    pub fn len(&self) -> usize {
        ((self.end - self.start) / self.step + 1) as usize
    }

    /// The time of step `i`.
    pub fn time(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }

    /// The index of step time `t` (which must be one).
    pub fn index(&self, t: i64) -> usize {
        ((t - self.start) / self.step) as usize
    }
}

/// A series of an instant vector (points at step times) or of a range vector (points at sample times).
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// A value while evaluating.
#[derive(Debug)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    Str(String),
    /// Points at step times.
    Vector(Vec<Series>),
    /// Raw points; only as an instant query's answer.
    Matrix(Vec<Series>),
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Str(_) => "string",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
        }
    }
}

pub(crate) const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus's staleness marker.
#[inline]
pub(crate) fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Evaluation state of one query.
pub(crate) struct Evaluator<'a> {
    pub db: &'a dyn Queryable,
    pub opts: &'a EngineOptions,
    pub qo: &'a QueryOptions,
    /// The query's own start and end, for `@ start()` and `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
    /// Points held by values alive now, against [`EngineOptions::max_samples`].
    pub held: usize,
    pub samples_loaded: u64,
    pub warnings: Vec<String>,
    ticks: u32,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        db: &'a dyn Queryable,
        opts: &'a EngineOptions,
        qo: &'a QueryOptions,
        query_start: i64,
        query_end: i64,
    ) -> Self {
        Evaluator {
            db,
            opts,
            qo,
            query_start,
            query_end,
            held: 0,
            samples_loaded: 0,
            warnings: Vec::new(),
            ticks: 0,
        }
    }

    /// Fails once the deadline passed or the query was canceled; cheap enough for every series.
    pub fn check(&mut self) -> Result<(), QueryError> {
        self.ticks = self.ticks.wrapping_add(1);
        if !self.ticks.is_multiple_of(64) {
            return Ok(());
        }
        self.check_now()
    }

    pub fn check_now(&self) -> Result<(), QueryError> {
        if let Some(c) = &self.qo.cancel {
            if c.load(Ordering::Relaxed) {
                return Err(QueryError::Canceled("query execution"));
            }
        }
        if let Some(d) = self.qo.deadline {
            if Instant::now() >= d {
                return Err(QueryError::Timeout("query execution"));
            }
        }
        Ok(())
    }

    /// Accounts `n` more points held; fails past the sample limit.
    pub fn hold(&mut self, n: usize) -> Result<(), QueryError> {
        self.held = self.held.saturating_add(n);
        if self.held > self.opts.max_samples {
            return Err(QueryError::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// Gives back `n` held points.
    pub fn release(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n);
    }

    /// The `@` time of a selector or subquery, if it has one.
    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(*t)),
        }
    }

    /// Evaluates `e` at every step of `ctx`.
    pub fn eval(&mut self, e: &Expr, ctx: Ctx) -> Result<Val, QueryError> {
        self.check_now()?;
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; ctx.len()])),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, ctx),
            Expr::Unary(u) => {
                let v = self.eval(&u.expr, ctx)?;
                Ok(match v {
                    Val::Scalar(mut s) => {
                        s.iter_mut().for_each(|x| *x = -*x);
                        Val::Scalar(s)
                    }
                    Val::Vector(mut ss) => {
                        for s in &mut ss {
                            s.labels = drop_name(&s.labels);
                            s.points.iter_mut().for_each(|p| p.1 = -p.1);
                        }
                        // Prometheus checks the whole result here, not step by step.
                        ss.sort_by(|a, b| a.labels.cmp(&b.labels));
                        if ss.windows(2).any(|w| w[0].labels == w[1].labels) {
                            return Err(same_labelset());
                        }
                        Val::Vector(ss)
                    }
                    other => {
                        return Err(QueryError::Execution(format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            other.type_name()
                        )))
                    }
                })
            }
            Expr::VectorSelector(vs) => self.vector_selector(vs, ctx).map(Val::Vector),
            Expr::MatrixSelector(ms) => self.matrix_selector_raw(ms, ctx).map(Val::Matrix),
            Expr::Subquery(sq) => {
                let (series, _) = self.subquery(sq, ctx)?;
                // Only an instant query's answer: the points in the window ending at the one step.
                let te = self.at_time(&sq.at).unwrap_or(ctx.end) - offset_ms(&sq.offset);
                let lo = te - duration_ms(sq.range);
                let mut out = Vec::new();
                for mut s in series {
                    s.points.retain(|p| p.0 >= lo && p.0 <= te);
                    if !s.points.is_empty() {
                        out.push(s);
                    }
                }
                Ok(Val::Matrix(out))
            }
            Expr::Binary(b) => self.binary(b, ctx),
            Expr::Aggregate(a) => self.aggregate(a, ctx),
            Expr::Call(c) => self.call(c, ctx),
            Expr::Extension(_) => Err(QueryError::Execution(
                "extension expressions are not supported".into(),
            )),
        }
    }

    /// Evaluates a subquery's inner expression at its own steps: the series and the context used.
    /// The points are at the subquery's step times, which serve as sample times for the window.
    pub fn subquery(
        &mut self,
        sq: &SubqueryExpr,
        ctx: Ctx,
    ) -> Result<(Vec<Series>, Ctx), QueryError> {
        let offset = offset_ms(&sq.offset);
        let range = duration_ms(sq.range);
        let step = match sq.step {
            Some(d) if !d.is_zero() => duration_ms(d),
            // Prometheus's default evaluation interval.
            _ => 60_000,
        };
        let (base_start, base_end) = match self.at_time(&sq.at) {
            Some(t) => (t, t),
            None => (ctx.start, ctx.end),
        };
        let end = base_end - offset;
        let lower = base_start - offset - range;
        // The first multiple of the step at or after the window's lower end (Go's truncating division).
        let mut start = step * (lower / step);
        if start < lower {
            start += step;
        }
        if start > end {
            return Ok((Vec::new(), ctx));
        }
        let sub = Ctx { start, end, step };
        let v = self.eval(&sq.expr, sub)?;
        let series = match v {
            Val::Vector(s) => s,
            Val::Scalar(vals) => vec![Series {
                labels: Labels::empty(),
                points: vals
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (sub.time(i), v))
                    .collect(),
            }],
            other => {
                return Err(QueryError::Execution(format!(
                    "subquery is only allowed on instant vector, got {}",
                    other.type_name()
                )))
            }
        };
        Ok((series, sub))
    }
}

/// Milliseconds since the epoch of a time that may be before it.
pub(crate) fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

/// `labels` without `__name__`.
pub(crate) fn drop_name(labels: &Labels) -> Labels {
    if labels.contains("__name__") {
        labels.without("__name__")
    } else {
        labels.clone()
    }
}

/// Merges series with equal labels (which appear once operations drop `__name__`): their points
/// interleave when they never share a step; a shared step is Prometheus's "same labelset" error.
pub(crate) fn dedup(mut ss: Vec<Series>) -> Result<Vec<Series>, QueryError> {
    if ss.len() < 2 {
        return Ok(ss);
    }
    let sorted = ss.windows(2).all(|w| w[0].labels < w[1].labels);
    if sorted {
        return Ok(ss);
    }
    ss.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<Series> = Vec::with_capacity(ss.len());
    for s in ss {
        match out.last_mut() {
            Some(last) if last.labels == s.labels => {
                let mut merged = Vec::with_capacity(last.points.len() + s.points.len());
                let (mut i, mut j) = (0, 0);
                while i < last.points.len() || j < s.points.len() {
                    let take_left = match (last.points.get(i), s.points.get(j)) {
                        (Some(a), Some(b)) => {
                            if a.0 == b.0 {
                                return Err(same_labelset());
                            }
                            a.0 < b.0
                        }
                        (Some(_), None) => true,
                        _ => false,
                    };
                    if take_left {
                        merged.push(last.points[i]);
                        i += 1;
                    } else {
                        merged.push(s.points[j]);
                        j += 1;
                    }
                }
                last.points = merged;
            }
            _ => out.push(s),
        }
    }
    Ok(out)
}

pub(crate) fn same_labelset() -> QueryError {
    QueryError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Walks the series of an instant vector step by step: for each step, the (series index, value) of every
/// series with a point there.
pub(crate) struct StepCursor {
    pos: Vec<usize>,
    buf: Vec<(usize, f64)>,
}

impl StepCursor {
    pub fn new(n: usize) -> Self {
        StepCursor {
            pos: vec![0; n],
            buf: Vec::new(),
        }
    }

    /// The points at step time `t`; steps must be asked in increasing order.
    pub fn at(&mut self, series: &[Series], t: i64) -> &[(usize, f64)] {
        self.buf.clear();
        for (i, s) in series.iter().enumerate() {
            let p = &mut self.pos[i];
            while *p < s.points.len() && s.points[*p].0 < t {
                *p += 1;
            }
            if *p < s.points.len() && s.points[*p].0 == t {
                self.buf.push((i, s.points[*p].1));
            }
        }
        &self.buf
    }
}

/// Points of all series.
pub(crate) fn points_of(ss: &[Series]) -> usize {
    ss.iter().map(|s| s.points.len()).sum()
}

#[cfg(test)]
mod tests;
