//! Function calls: range-vector functions over the windows of a matrix selector or subquery, and the
//! instant-vector and scalar functions. The float computations are `crate::functions`'; this module
//! places their results and handles what needs labels or selectors (`absent`, `label_replace`,
//! `histogram_quantile`, `timestamp`).

use std::collections::HashMap;

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Call, Expr};
use tsdb_labels::{is_valid_label_name, Labels};

use super::select::{unparen, Windows};
use super::{dedup, drop_name, Ctx, Evaluator, Series, StepCursor, Val};
use crate::error::QueryError;
use crate::functions::{self, Window};

impl Evaluator<'_> {
    pub fn call(&mut self, c: &Call, ctx: Ctx) -> Result<Val, QueryError> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|b| b.as_ref()).collect();
        match name {
            "time" => {
                return Ok(Val::Scalar(
                    (0..ctx.len())
                        .map(|i| ctx.time(i) as f64 / 1000.0)
                        .collect(),
                ))
            }
            "pi" => return Ok(Val::Scalar(vec![std::f64::consts::PI; ctx.len()])),
            "vector" => {
                let s = self.scalar_arg(args.first().copied(), ctx)?;
                return Ok(Val::Vector(vec![Series {
                    labels: Labels::empty(),
                    points: s
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (ctx.time(i), v))
                        .collect(),
                }]));
            }
            "scalar" => {
                let v = self.vector_arg(args.first().copied(), ctx)?;
                let mut out = vec![f64::NAN; ctx.len()];
                let mut count = vec![0u32; ctx.len()];
                for s in &v {
                    for &(t, x) in &s.points {
                        let i = ctx.index(t);
                        count[i] += 1;
                        out[i] = x;
                    }
                }
                for (o, c) in out.iter_mut().zip(count) {
                    if c != 1 {
                        *o = f64::NAN;
                    }
                }
                return Ok(Val::Scalar(out));
            }
            "timestamp" => {
                let arg = args.first().copied().ok_or_else(|| missing(name))?;
                let mut v = match unparen(arg) {
                    Expr::VectorSelector(vs) => self.vector_selector_with(vs, ctx, true)?,
                    other => {
                        let mut v = self.vector_of(other, ctx)?;
                        for s in &mut v {
                            s.points.iter_mut().for_each(|p| p.1 = p.0 as f64 / 1000.0);
                        }
                        v
                    }
                };
                for s in &mut v {
                    s.labels = drop_name(&s.labels);
                }
                return Ok(Val::Vector(dedup(v)?));
            }
            "sort" | "sort_desc" => {
                let mut v = self.vector_arg(args.first().copied(), ctx)?;
                if ctx.len() == 1 {
                    let desc = name == "sort_desc";
                    let key = |s: &Series| s.points.first().map_or(f64::NAN, |p| p.1);
                    // NaN last in both orders, as Prometheus sorts.
                    v.sort_by(|a, b| {
                        let (x, y) = (key(a), key(b));
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if desc => y.total_cmp(&x),
                            _ => x.total_cmp(&y),
                        }
                    });
                }
                return Ok(Val::Vector(v));
            }
            "absent" => {
                let arg = args.first().copied().ok_or_else(|| missing(name))?;
                let v = self.vector_of(arg, ctx)?;
                return Ok(Val::Vector(absent(arg, &v, None, ctx)));
            }
            "absent_over_time" => {
                let arg = args.first().copied().ok_or_else(|| missing(name))?;
                let mut present = vec![false; ctx.len()];
                self.each_range_series(arg, ctx, &mut |_, _, points, spec| {
                    let mut w = Windows::new(points);
                    for (k, p) in present.iter_mut().enumerate() {
                        let te = spec.end_at(ctx.time(k));
                        if !w.window(te - spec.range, te).is_empty() {
                            *p = true;
                        }
                    }
                    Ok(())
                })?;
                return Ok(Val::Vector(absent(arg, &[], Some(&present), ctx)));
            }
            "label_replace" => return self.label_replace(&args, ctx),
            "label_join" => return self.label_join(&args, ctx),
            "histogram_quantile" => return self.histogram_quantile(&args, ctx),
            "histogram_count" | "histogram_sum" | "histogram_fraction" | "histogram_avg"
            | "histogram_stddev" | "histogram_stdvar" => {
                // Native-histogram functions: no float sample has a histogram, so nothing comes out.
                for a in &args {
                    let _ = self.eval(a, ctx)?;
                }
                return Ok(Val::Vector(Vec::new()));
            }
            _ => {}
        }
        if let Some(f) = functions::range::range_function(name) {
            return self.range_call(name, f, &args, ctx);
        }
        if let Some(f) = functions::math::math_function(name) {
            return self.math_call(name, f, &args, ctx);
        }
        Err(QueryError::Parse(format!(
            "parse error: function {name:?} is not supported"
        )))
    }

    fn scalar_arg(&mut self, e: Option<&Expr>, ctx: Ctx) -> Result<Vec<f64>, QueryError> {
        match self.eval(e.ok_or_else(|| missing("scalar argument"))?, ctx)? {
            Val::Scalar(s) => Ok(s),
            other => Err(QueryError::Execution(format!(
                "expected scalar argument, got {}",
                other.type_name()
            ))),
        }
    }

    fn string_arg(&mut self, e: Option<&Expr>, ctx: Ctx) -> Result<String, QueryError> {
        match self.eval(e.ok_or_else(|| missing("string argument"))?, ctx)? {
            Val::Str(s) => Ok(s),
            other => Err(QueryError::Execution(format!(
                "expected string argument, got {}",
                other.type_name()
            ))),
        }
    }

    fn vector_arg(&mut self, e: Option<&Expr>, ctx: Ctx) -> Result<Vec<Series>, QueryError> {
        self.vector_of(e.ok_or_else(|| missing("instant vector argument"))?, ctx)
    }

    fn vector_of(&mut self, e: &Expr, ctx: Ctx) -> Result<Vec<Series>, QueryError> {
        match self.eval(e, ctx)? {
            Val::Vector(v) => Ok(v),
            other => Err(QueryError::Execution(format!(
                "expected instant vector argument, got {}",
                other.type_name()
            ))),
        }
    }

    /// A range-vector function: its result at each step from the window of each series.
    fn range_call(
        &mut self,
        name: &str,
        f: functions::RangeFn,
        args: &[&Expr],
        ctx: Ctx,
    ) -> Result<Val, QueryError> {
        // The range vector is the first argument, except for quantile_over_time (φ first).
        let (matrix_at, scalar_idx): (usize, Vec<usize>) = if name == "quantile_over_time" {
            (1, vec![0])
        } else {
            (0, (1..args.len()).collect())
        };
        let mut scalars: Vec<Vec<f64>> = Vec::new();
        for &i in &scalar_idx {
            scalars.push(self.scalar_arg(args.get(i).copied(), ctx)?);
        }
        let arg = args.get(matrix_at).copied().ok_or_else(|| missing(name))?;
        let keep_name = name == "last_over_time";
        let mut out = Vec::new();
        let mut sargs: Vec<f64> = Vec::with_capacity(scalars.len());
        self.each_range_series(arg, ctx, &mut |ev, labels, points, spec| {
            let mut w = Windows::new(points);
            let mut res = Vec::new();
            for k in 0..ctx.len() {
                let t = ctx.time(k);
                let te = spec.end_at(t);
                let win = w.window(te - spec.range, te);
                if win.is_empty() {
                    continue;
                }
                sargs.clear();
                sargs.extend(scalars.iter().map(|s| s[k]));
                // As in Prometheus, arguments are checked only where the function runs.
                functions::range::check_args(name, &sargs).map_err(QueryError::Execution)?;
                let window = Window {
                    points: win,
                    range_start: te - spec.range,
                    range_end: te,
                    at: t,
                };
                if let Some(v) = f(&window, &sargs) {
                    res.push((t, v));
                }
            }
            if !res.is_empty() {
                ev.hold(res.len())?;
                let labels = if keep_name {
                    labels
                } else {
                    drop_name(&labels)
                };
                out.push(Series {
                    labels,
                    points: res,
                });
            }
            Ok(())
        })?;
        // Prometheus refuses a function result with two equal label sets, whatever their steps.
        out.sort_by(|a: &Series, b: &Series| a.labels.cmp(&b.labels));
        if out.windows(2).any(|w| w[0].labels == w[1].labels) {
            return Err(super::same_labelset());
        }
        Ok(Val::Vector(out))
    }

    /// Functions of each value (math, clamps, rounding, date functions), scalar arguments after the vector.
    fn math_call(
        &mut self,
        name: &str,
        f: functions::MathFn,
        args: &[&Expr],
        ctx: Ctx,
    ) -> Result<Val, QueryError> {
        let mut v = if args.is_empty() {
            // Only the date functions may be called without a vector: they then take the evaluation
            // time, as `vector(time())`.
            vec![Series {
                labels: Labels::empty(),
                points: (0..ctx.len())
                    .map(|i| (ctx.time(i), ctx.time(i) as f64 / 1000.0))
                    .collect(),
            }]
        } else {
            self.vector_of(args[0], ctx)?
        };
        let mut scalars = Vec::new();
        for a in args.iter().skip(1) {
            scalars.push(self.scalar_arg(Some(a), ctx)?);
        }
        let mut sargs = Vec::with_capacity(scalars.len());
        let clamp = name == "clamp";
        for s in &mut v {
            s.points.retain_mut(|p| {
                let k = ctx.index(p.0);
                sargs.clear();
                sargs.extend(scalars.iter().map(|s| s[k]));
                if clamp && sargs.len() == 2 && sargs[0] > sargs[1] {
                    // clamp with min > max gives nothing.
                    return false;
                }
                p.1 = f(p.1, &sargs);
                true
            });
            s.labels = drop_name(&s.labels);
        }
        v.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(dedup(v)?))
    }

    fn label_replace(&mut self, args: &[&Expr], ctx: Ctx) -> Result<Val, QueryError> {
        let mut v = self.vector_arg(args.first().copied(), ctx)?;
        let dst = self.string_arg(args.get(1).copied(), ctx)?;
        let repl = self.string_arg(args.get(2).copied(), ctx)?;
        let src = self.string_arg(args.get(3).copied(), ctx)?;
        let re = self.string_arg(args.get(4).copied(), ctx)?;
        let regex = regex::Regex::new(&format!("^(?:{re})$")).map_err(|e| {
            QueryError::Execution(format!(
                "invalid regular expression in label_replace(): {re}: {e}"
            ))
        })?;
        if !is_valid_label_name(&dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        for s in &mut v {
            let value = s.labels.get(&src).unwrap_or("").to_owned();
            if let Some(caps) = regex.captures(&value) {
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                let mut b = s.labels.builder();
                b.set(dst.as_str(), res);
                s.labels = b
                    .build()
                    .map_err(|e| QueryError::Execution(format!("label_replace(): {e}")))?;
            }
        }
        Ok(Val::Vector(dedup(v)?))
    }

    fn label_join(&mut self, args: &[&Expr], ctx: Ctx) -> Result<Val, QueryError> {
        let mut v = self.vector_arg(args.first().copied(), ctx)?;
        let dst = self.string_arg(args.get(1).copied(), ctx)?;
        let sep = self.string_arg(args.get(2).copied(), ctx)?;
        let mut srcs = Vec::new();
        for a in args.iter().skip(3) {
            let s = self.string_arg(Some(a), ctx)?;
            if !is_valid_label_name(&s) {
                return Err(QueryError::Execution(format!(
                    "invalid source label name in label_join(): {s}"
                )));
            }
            srcs.push(s);
        }
        if !is_valid_label_name(&dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        for s in &mut v {
            let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
            let joined = joined.join(&sep);
            let mut b = s.labels.builder();
            b.set(dst.as_str(), joined);
            s.labels = b
                .build()
                .map_err(|e| QueryError::Execution(format!("label_join(): {e}")))?;
        }
        Ok(Val::Vector(dedup(v)?))
    }

    fn histogram_quantile(&mut self, args: &[&Expr], ctx: Ctx) -> Result<Val, QueryError> {
        let phi = self.scalar_arg(args.first().copied(), ctx)?;
        let v = self.vector_arg(args.get(1).copied(), ctx)?;
        // Group of each bucket series (labels without `le` and `__name__`) and its upper bound.
        let mut group_of: Vec<Option<(usize, f64)>> = Vec::with_capacity(v.len());
        let mut groups: Vec<Labels> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for s in &v {
            let le = s.labels.get("le").and_then(parse_go_float);
            match le {
                None => group_of.push(None),
                Some(le) => {
                    // Grouped by every label but `le` (the name too), labelled without the name.
                    let g = s.labels.without("le");
                    let gi = *index.entry(g.clone()).or_insert_with(|| {
                        groups.push(drop_name(&g));
                        groups.len() - 1
                    });
                    group_of.push(Some((gi, le)));
                }
            }
        }
        let mut out: Vec<Series> = groups
            .into_iter()
            .map(|labels| Series {
                labels,
                points: Vec::new(),
            })
            .collect();
        let mut buckets: Vec<Vec<(f64, f64)>> = vec![Vec::new(); out.len()];
        let mut cursor = StepCursor::new(v.len());
        for (k, &q) in phi.iter().enumerate() {
            self.check()?;
            let t = ctx.time(k);
            buckets.iter_mut().for_each(|b| b.clear());
            for &(i, x) in cursor.at(&v, t) {
                if let Some((g, le)) = group_of[i] {
                    buckets[g].push((le, x));
                }
            }
            for (g, b) in buckets.iter_mut().enumerate() {
                if b.is_empty() {
                    continue;
                }
                out[g]
                    .points
                    .push((t, functions::histogram::bucket_quantile(q, b)));
            }
        }
        out.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(dedup(out)?))
    }
}

/// A float as Go's `strconv.ParseFloat` reads it (the `le` label): decimal, exponent, `Inf`, `NaN`.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    s.parse::<f64>().ok()
}

fn missing(what: &str) -> QueryError {
    QueryError::Parse(format!("parse error: missing argument for {what}"))
}

/// `absent`'s output: 1 at each step where the input had nothing, labelled with the equality
/// matchers of a selector argument (a label matched twice is left out).
fn absent(arg: &Expr, v: &[Series], present: Option<&[bool]>, ctx: Ctx) -> Vec<Series> {
    let mut has = vec![false; ctx.len()];
    match present {
        Some(p) => has.copy_from_slice(p),
        None => {
            for s in v {
                for &(t, _) in &s.points {
                    has[ctx.index(t)] = true;
                }
            }
        }
    }
    let points: Vec<(i64, f64)> = has
        .iter()
        .enumerate()
        .filter(|(_, &h)| !h)
        .map(|(i, _)| (ctx.time(i), 1.0))
        .collect();
    if points.is_empty() {
        return Vec::new();
    }
    let vs = match unparen(arg) {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    // As Prometheus builds them: an equality matcher sets its label unless already set; any other
    // matcher on a name (or a second equality) removes it.
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(vs) = vs {
        for m in &vs.matchers.matchers {
            if m.name == "__name__" {
                continue;
            }
            let set = pairs.iter().any(|(n, _)| *n == m.name);
            if matches!(m.op, PMatchOp::Equal) && !set {
                pairs.push((m.name.clone(), m.value.clone()));
            } else {
                pairs.retain(|(n, _)| *n != m.name);
            }
        }
    }
    let labels = Labels::new(pairs).unwrap_or_default();
    vec![Series { labels, points }]
}
