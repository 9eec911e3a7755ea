//! Aggregation operators over instant vectors, per step, grouped `by` or `without` labels, computed
//! as Prometheus 2.x computes them (its running mean for `avg`, Welford's update for `stddev`/`stdvar`,
//! NaN handling of `min`/`max`, the heap order of `topk`/`bottomk`).

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};
use tsdb_labels::{is_valid_label_name, Labels};

use super::{Ctx, Evaluator, Series, StepCursor, Val};
use crate::error::QueryError;
use crate::functions::stats;
use crate::value::format_float;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
}

/// The labels of a series' group.
fn group_labels(l: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::empty(),
        Some(LabelModifier::Include(names)) => {
            let pairs: Vec<(&str, &str)> = l
                .iter()
                .filter(|(n, _)| names.labels.iter().any(|x| x == n))
                .collect();
            Labels::new(pairs).unwrap_or_default()
        }
        Some(LabelModifier::Exclude(names)) => {
            let pairs: Vec<(&str, &str)> = l
                .iter()
                .filter(|(n, _)| *n != "__name__" && !names.labels.iter().any(|x| x == n))
                .collect();
            Labels::new(pairs).unwrap_or_default()
        }
    }
}

/// Running state of one group at one step.
#[derive(Debug, Clone, Default)]
struct Acc {
    seen: bool,
    count: u64,
    value: f64,
    mean: f64,
    values: Vec<f64>,
    /// For topk/bottomk: (series index, value).
    top: Vec<(usize, f64)>,
}

impl Evaluator<'_> {
    pub fn aggregate(&mut self, a: &AggregateExpr, ctx: Ctx) -> Result<Val, QueryError> {
        let op = match a.op.to_string().as_str() {
            "sum" => Agg::Sum,
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "count" => Agg::Count,
            "group" => Agg::Group,
            "stddev" => Agg::Stddev,
            "stdvar" => Agg::Stdvar,
            "topk" => Agg::Topk,
            "bottomk" => Agg::Bottomk,
            "quantile" => Agg::Quantile,
            "count_values" => Agg::CountValues,
            other => {
                return Err(QueryError::Parse(format!(
                    "parse error: aggregation {other:?} is not in Prometheus 2.x"
                )))
            }
        };
        let mut param_scalar: Option<Vec<f64>> = None;
        let mut param_str: Option<String> = None;
        if let Some(p) = &a.param {
            match self.eval(p, ctx)? {
                Val::Scalar(s) => param_scalar = Some(s),
                Val::Str(s) => param_str = Some(s),
                other => {
                    return Err(QueryError::Execution(format!(
                        "expected scalar or string parameter, got {}",
                        other.type_name()
                    )))
                }
            }
        }
        let input = match self.eval(&a.expr, ctx)? {
            Val::Vector(v) => v,
            other => {
                return Err(QueryError::Execution(format!(
                    "expected instant vector in aggregation, got {}",
                    other.type_name()
                )))
            }
        };
        if op == Agg::CountValues {
            let label = param_str.unwrap_or_default();
            if !is_valid_label_name(&label) {
                return Err(QueryError::Execution(format!(
                    "invalid label name {label:?}"
                )));
            }
            return self.count_values(&label, input, &a.modifier, ctx);
        }
        // Group of each input series, by index.
        let mut group_of = Vec::with_capacity(input.len());
        let mut groups: Vec<Labels> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for s in &input {
            let g = group_labels(&s.labels, &a.modifier);
            let gi = *index.entry(g.clone()).or_insert_with(|| {
                groups.push(g);
                groups.len() - 1
            });
            group_of.push(gi);
        }
        let mut out: Vec<Series> = groups
            .iter()
            .map(|g| Series {
                labels: g.clone(),
                points: Vec::new(),
            })
            .collect();
        let topk = matches!(op, Agg::Topk | Agg::Bottomk);
        let mut top_out: Vec<Series> = if topk {
            input
                .iter()
                .map(|s| Series {
                    labels: s.labels.clone(),
                    points: Vec::new(),
                })
                .collect()
        } else {
            Vec::new()
        };
        // For an instant query, the order topk/bottomk give: groups in order of appearance, each
        // best first.
        let mut order: Vec<usize> = Vec::new();
        let mut accs: Vec<Acc> = vec![Acc::default(); groups.len()];
        let mut cursor = StepCursor::new(input.len());
        for k in 0..ctx.len() {
            self.check()?;
            let t = ctx.time(k);
            let param = param_scalar.as_ref().map_or(f64::NAN, |p| p[k]);
            let kk = if topk {
                if param.is_nan() || param < 1.0 {
                    continue;
                }
                param.min(9.0e18) as usize
            } else {
                0
            };
            for a in accs.iter_mut() {
                a.seen = false;
                a.count = 0;
                a.values.clear();
                a.top.clear();
            }
            let mut touched: Vec<usize> = Vec::new();
            for &(i, v) in cursor.at(&input, t) {
                let g = group_of[i];
                let acc = &mut accs[g];
                if !acc.seen {
                    acc.seen = true;
                    touched.push(g);
                    acc.count = 1;
                    acc.value = v;
                    acc.mean = v;
                    match op {
                        Agg::Stddev | Agg::Stdvar => acc.value = 0.0,
                        Agg::Quantile => acc.values.push(v),
                        Agg::Topk | Agg::Bottomk => acc.top.push((i, v)),
                        _ => {}
                    }
                    continue;
                }
                match op {
                    Agg::Sum => acc.value += v,
                    Agg::Avg => {
                        acc.count += 1;
                        if acc.mean.is_infinite() {
                            if v.is_infinite() && (acc.mean > 0.0) == (v > 0.0) {
                                continue;
                            }
                            if !v.is_infinite() && !v.is_nan() {
                                continue;
                            }
                        }
                        let c = acc.count as f64;
                        acc.mean += v / c - acc.mean / c;
                    }
                    Agg::Min => {
                        if acc.value > v || acc.value.is_nan() {
                            acc.value = v;
                        }
                    }
                    Agg::Max => {
                        if acc.value < v || acc.value.is_nan() {
                            acc.value = v;
                        }
                    }
                    Agg::Count | Agg::Group => acc.count += 1,
                    Agg::Stddev | Agg::Stdvar => {
                        acc.count += 1;
                        let delta = v - acc.mean;
                        acc.mean += delta / acc.count as f64;
                        acc.value += delta * (v - acc.mean);
                    }
                    Agg::Quantile => acc.values.push(v),
                    Agg::Topk | Agg::Bottomk => acc.top.push((i, v)),
                    Agg::CountValues => {}
                }
            }
            for g in touched {
                let acc = &mut accs[g];
                let v = match op {
                    Agg::Sum | Agg::Min | Agg::Max => acc.value,
                    Agg::Avg => acc.mean,
                    Agg::Count => acc.count as f64,
                    Agg::Group => 1.0,
                    Agg::Stdvar => acc.value / acc.count as f64,
                    Agg::Stddev => (acc.value / acc.count as f64).sqrt(),
                    Agg::Quantile => stats::quantile(param, &mut acc.values),
                    Agg::Topk | Agg::Bottomk => {
                        select_top(&mut acc.top, kk, op == Agg::Topk);
                        for &(i, v) in &acc.top {
                            top_out[i].points.push((t, v));
                            if k == 0 {
                                order.push(i);
                            }
                        }
                        continue;
                    }
                    Agg::CountValues => continue,
                };
                out[g].points.push((t, v));
            }
        }
        let result = if topk {
            if ctx.len() == 1 {
                // Keep the heap order for an instant query.
                let mut sorted: Vec<Series> = Vec::with_capacity(order.len());
                for i in order {
                    sorted.push(std::mem::replace(
                        &mut top_out[i],
                        Series {
                            labels: Labels::empty(),
                            points: Vec::new(),
                        },
                    ));
                }
                sorted
            } else {
                top_out.retain(|s| !s.points.is_empty());
                top_out
            }
        } else {
            out.retain(|s| !s.points.is_empty());
            out
        };
        let n = super::points_of(&result);
        self.release(super::points_of(&input));
        self.hold(n)?;
        Ok(Val::Vector(result))
    }

    fn count_values(
        &mut self,
        label: &str,
        input: Vec<Series>,
        modifier: &Option<LabelModifier>,
        ctx: Ctx,
    ) -> Result<Val, QueryError> {
        let groups: Vec<Labels> = input
            .iter()
            .map(|s| group_labels(&s.labels, modifier))
            .collect();
        let mut out: Vec<Series> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut counts: HashMap<usize, f64> = HashMap::new();
        let mut cursor = StepCursor::new(input.len());
        for k in 0..ctx.len() {
            self.check()?;
            let t = ctx.time(k);
            counts.clear();
            let mut touched = Vec::new();
            for &(i, v) in cursor.at(&input, t) {
                let mut b = groups[i].builder();
                b.set(label, format_float(v));
                let l = b
                    .build()
                    .map_err(|e| QueryError::Execution(format!("invalid labels: {e}")))?;
                let idx = *index.entry(l.clone()).or_insert_with(|| {
                    out.push(Series {
                        labels: l,
                        points: Vec::new(),
                    });
                    out.len() - 1
                });
                let c = counts.entry(idx).or_insert(0.0);
                if *c == 0.0 {
                    touched.push(idx);
                }
                *c += 1.0;
            }
            for idx in touched {
                out[idx].points.push((t, counts[&idx]));
            }
        }
        self.release(super::points_of(&input));
        self.hold(super::points_of(&out))?;
        Ok(Val::Vector(out))
    }
}

/// Keeps the `k` largest (`top`) or smallest values, best first, as Prometheus's heaps order them
/// (NaN counts as the smallest for `topk` and the largest for `bottomk`).
fn select_top(items: &mut Vec<(usize, f64)>, k: usize, top: bool) {
    // "a is better than b".
    let better = |a: f64, b: f64| -> bool {
        if top {
            a > b || (!a.is_nan() && b.is_nan())
        } else {
            a < b || (!a.is_nan() && b.is_nan())
        }
    };
    // Heap selection in input order, so that among equal values the earlier ones stay.
    let mut kept: Vec<(usize, f64)> = Vec::with_capacity(k.min(items.len()));
    for &(i, v) in items.iter() {
        if kept.len() < k {
            kept.push((i, v));
            continue;
        }
        // The worst kept element.
        let mut worst = 0;
        for (j, &(_, w)) in kept.iter().enumerate() {
            if better(kept[worst].1, w) {
                worst = j;
            }
        }
        if better(v, kept[worst].1) {
            kept[worst] = (i, v);
        }
    }
    kept.sort_by(|a, b| {
        if better(a.1, b.1) {
            std::cmp::Ordering::Less
        } else if better(b.1, a.1) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    *items = kept;
}
