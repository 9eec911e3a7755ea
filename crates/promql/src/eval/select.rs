//! Selectors: series from storage, streamed one at a time and reduced to what the query needs (the
//! sample each step sees through the lookback, or the windows of a range function).

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Expr, MatrixSelector, VectorSelector};
use tsdb_labels::{Labels, MatchOp, Matcher};

use super::{duration_ms, is_stale, offset_ms, Ctx, Evaluator, Series};
use crate::error::QueryError;

/// Where the window of a range vector ends at each step, and how long it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowSpec {
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
}

impl WindowSpec {
    /// The window's upper end for step time `t`.
    pub fn end_at(&self, t: i64) -> i64 {
        self.at.unwrap_or(t) - self.offset
    }
}

/// What [`Evaluator::each_series`] calls for each series: its labels and samples.
pub(crate) type SeriesFn<'f, E> =
    dyn FnMut(&mut E, Labels, &[(i64, f64)]) -> Result<(), QueryError> + 'f;

/// What [`Evaluator::each_range_series`] calls for each series: labels, points and window geometry.
pub(crate) type RangeSeriesFn<'f, E> =
    dyn FnMut(&mut E, Labels, &[(i64, f64)], WindowSpec) -> Result<(), QueryError> + 'f;

/// The storage matchers of a selector.
pub(crate) fn matchers_of(vs: &VectorSelector) -> Result<Vec<Matcher>, QueryError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(QueryError::Parse(
            "parse error: `or` in label matchers is not supported by Prometheus 2.x".into(),
        ));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal("__name__", name.as_str()));
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::RegexMatch,
            PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
        };
        out.push(
            Matcher::new(op, m.name.as_str(), m.value.as_str())
                .map_err(|e| QueryError::Parse(format!("parse error: {e}")))?,
        );
    }
    Ok(out)
}

impl Evaluator<'_> {
    /// Streams every series `vs` selects over `[mint, maxt]` with its samples (staleness markers
    /// kept), calling `f` for each with a reused buffer.
    pub fn each_series(
        &mut self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        f: &mut SeriesFn<'_, Self>,
    ) -> Result<(), QueryError> {
        let matchers = matchers_of(vs)?;
        let db = self.db;
        let q = db.querier(mint, maxt);
        let mut set = q.select(&matchers)?.skip_damaged();
        let mut buf = Vec::new();
        for s in set.by_ref() {
            self.check()?;
            let s = s?;
            buf.clear();
            s.samples_into(&mut buf)?;
            if buf.is_empty() {
                continue;
            }
            self.samples_loaded += buf.len() as u64;
            if buf.len() > self.opts.max_samples {
                return Err(QueryError::TooManySamples("query execution"));
            }
            f(self, s.into_labels(), &buf)?;
        }
        for d in set.take_damage() {
            self.warnings.push(d.to_string());
        }
        Ok(())
    }

    /// An instant vector selector at every step: for each series, at each step the newest sample
    /// no newer than the step (less the offset, or at the `@` time) and no older than the lookback
    /// delta before it (both ends included, as in Prometheus 2.x), unless that sample is a staleness
    /// marker.
    pub fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        ctx: Ctx,
    ) -> Result<Vec<Series>, QueryError> {
        self.vector_selector_with(vs, ctx, false)
    }

    /// As [`vector_selector`](Self::vector_selector); with `sample_times`, each point's value is the
    /// selected sample's timestamp in seconds (for `timestamp()`).
    pub fn vector_selector_with(
        &mut self,
        vs: &VectorSelector,
        ctx: Ctx,
        sample_times: bool,
    ) -> Result<Vec<Series>, QueryError> {
        let offset = offset_ms(&vs.offset);
        let at = self.at_time(&vs.at);
        let lookback = self.opts.lookback_delta_ms;
        let (first, last) = match at {
            Some(t) => (t - offset, t - offset),
            None => (ctx.start - offset, ctx.end - offset),
        };
        let mut out = Vec::new();
        self.each_series(vs, first - lookback, last, &mut |ev, labels, samples| {
            let mut points = Vec::new();
            let mut i = 0usize;
            for k in 0..ctx.len() {
                let t = ctx.time(k);
                let te = at.unwrap_or(t) - offset;
                while i + 1 < samples.len() && samples[i + 1].0 <= te {
                    i += 1;
                }
                let (st, sv) = samples[i];
                if st > te || st < te - lookback || is_stale(sv) {
                    continue;
                }
                points.push((t, if sample_times { st as f64 / 1000.0 } else { sv }));
            }
            if !points.is_empty() {
                ev.hold(points.len())?;
                out.push(Series { labels, points });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// A bare matrix selector (an instant query's answer): the samples of each series in the window
    /// ending at the one step, staleness markers left out.
    pub fn matrix_selector_raw(
        &mut self,
        ms: &MatrixSelector,
        ctx: Ctx,
    ) -> Result<Vec<Series>, QueryError> {
        let spec = WindowSpec {
            range: duration_ms(ms.range),
            offset: offset_ms(&ms.vs.offset),
            at: self.at_time(&ms.vs.at),
        };
        let te = spec.end_at(ctx.end);
        let lo = te - spec.range;
        let mut out = Vec::new();
        self.each_series(&ms.vs, lo, te, &mut |ev, labels, samples| {
            let points: Vec<(i64, f64)> = samples
                .iter()
                .copied()
                .filter(|&(t, v)| t >= lo && t <= te && !is_stale(v))
                .collect();
            if !points.is_empty() {
                ev.hold(points.len())?;
                out.push(Series { labels, points });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The series of a range-vector argument (a matrix selector or a subquery), each with its points
    /// (staleness markers left out) and the window geometry, one at a time.
    pub fn each_range_series(
        &mut self,
        arg: &Expr,
        ctx: Ctx,
        f: &mut RangeSeriesFn<'_, Self>,
    ) -> Result<(), QueryError> {
        match unparen(arg) {
            Expr::MatrixSelector(ms) => {
                let spec = WindowSpec {
                    range: duration_ms(ms.range),
                    offset: offset_ms(&ms.vs.offset),
                    at: self.at_time(&ms.vs.at),
                };
                let (lo, hi) = (spec.end_at(ctx.start) - spec.range, spec.end_at(ctx.end));
                let mut clean = Vec::new();
                self.each_series(&ms.vs, lo, hi, &mut |ev, labels, samples| {
                    clean.clear();
                    clean.extend(samples.iter().copied().filter(|p| !is_stale(p.1)));
                    if clean.is_empty() {
                        return Ok(());
                    }
                    f(ev, labels, &clean, spec)
                })
            }
            Expr::Subquery(sq) => {
                let spec = WindowSpec {
                    range: duration_ms(sq.range),
                    offset: offset_ms(&sq.offset),
                    at: self.at_time(&sq.at),
                };
                let (series, _) = self.subquery(sq, ctx)?;
                let held: usize = super::points_of(&series);
                for s in series {
                    self.check()?;
                    f(self, s.labels, &s.points, spec)?;
                }
                self.release(held);
                Ok(())
            }
            other => Err(QueryError::Parse(format!(
                "parse error: expected type range vector, got {}",
                expr_type(other)
            ))),
        }
    }
}

/// `e` without enclosing parentheses.
pub(crate) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn expr_type(e: &Expr) -> &'static str {
    match e {
        Expr::NumberLiteral(_) => "scalar",
        Expr::StringLiteral(_) => "string",
        Expr::MatrixSelector(_) | Expr::Subquery(_) => "range vector",
        _ => "instant vector",
    }
}

/// For each step, the index range of `points` inside the step's window `[end - range, end]`.
pub(crate) struct Windows<'p> {
    points: &'p [(i64, f64)],
    lo: usize,
    hi: usize,
}

impl<'p> Windows<'p> {
    pub fn new(points: &'p [(i64, f64)]) -> Self {
        Windows {
            points,
            lo: 0,
            hi: 0,
        }
    }

    /// The points with `start <= t <= end`; `end` must not decrease from call to call (a constant
    /// `end` under `@` is fine).
    pub fn window(&mut self, start: i64, end: i64) -> &'p [(i64, f64)] {
        if end
            < self
                .points
                .get(self.hi.saturating_sub(1))
                .map_or(i64::MIN, |p| p.0)
        {
            self.lo = 0;
            self.hi = 0;
        }
        while self.hi < self.points.len() && self.points[self.hi].0 <= end {
            self.hi += 1;
        }
        if self.lo > self.hi {
            self.lo = self.hi;
        }
        while self.lo < self.hi && self.points[self.lo].0 < start {
            self.lo += 1;
        }
        &self.points[self.lo..self.hi]
    }
}
