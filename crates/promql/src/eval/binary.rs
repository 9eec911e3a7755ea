//! Binary operators: arithmetic, comparisons (filtering or `bool`), and the set operators, between
//! scalars and vectors, with Prometheus's vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`) and its errors.

use std::collections::HashMap;

use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};
use tsdb_labels::Labels;

use super::{dedup, drop_name, Ctx, Evaluator, Series, StepCursor, Val};
use crate::error::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(s: &str) -> Result<Op, QueryError> {
        Ok(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => {
                return Err(QueryError::Parse(format!(
                    "parse error: operator {other:?} is not supported"
                )))
            }
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    fn is_set(self) -> bool {
        matches!(self, Op::And | Op::Or | Op::Unless)
    }

    /// Arithmetic drops `__name__`; comparisons (unless `bool`), set operators and, in Prometheus
    /// 2.x, `atan2` keep it.
    fn drops_name(self) -> bool {
        !self.is_comparison() && !self.is_set() && self != Op::Atan2
    }
}

/// `lhs op rhs` on two values: the result, and for comparisons whether the element stays.
fn apply(op: Op, l: f64, r: f64) -> (f64, bool) {
    match op {
        Op::Add => (l + r, true),
        Op::Sub => (l - r, true),
        Op::Mul => (l * r, true),
        Op::Div => (l / r, true),
        Op::Mod => (l % r, true),
        Op::Pow => (l.powf(r), true),
        Op::Atan2 => (l.atan2(r), true),
        Op::Eq => (l, l == r),
        Op::Ne => (l, l != r),
        Op::Gt => (l, l > r),
        Op::Lt => (l, l < r),
        Op::Ge => (l, l >= r),
        Op::Le => (l, l <= r),
        Op::And | Op::Or | Op::Unless => (l, true),
    }
}

/// How series are matched: the labels of `on`/`ignoring`, and the cardinality.
struct Matching<'m> {
    on: bool,
    labels: Vec<&'m str>,
    card: &'m VectorMatchCardinality,
}

fn matching(m: &Option<BinModifier>) -> Matching<'_> {
    static ONE: VectorMatchCardinality = VectorMatchCardinality::OneToOne;
    match m {
        None => Matching {
            on: false,
            labels: Vec::new(),
            card: &ONE,
        },
        Some(m) => {
            let (on, labels) = match &m.matching {
                Some(LabelModifier::Include(l)) => {
                    (true, l.labels.iter().map(|s| s.as_str()).collect())
                }
                Some(LabelModifier::Exclude(l)) => {
                    (false, l.labels.iter().map(|s| s.as_str()).collect())
                }
                None => (false, Vec::new()),
            };
            Matching {
                on,
                labels,
                card: &m.card,
            }
        }
    }
}

/// The matching signature of a series: the `on` labels' values, or every label except the
/// `ignoring` ones and `__name__`.
fn signature(l: &Labels, m: &Matching<'_>) -> Vec<u8> {
    let mut key = Vec::new();
    if m.on {
        let mut names = m.labels.clone();
        names.sort_unstable();
        names.dedup();
        for n in names {
            if let Some(v) = l.get(n) {
                Labels::push_hash_key(&mut key, n.as_bytes(), v.as_bytes());
            }
        }
    } else {
        for (n, v) in l.iter() {
            if n == "__name__" || m.labels.contains(&n) {
                continue;
            }
            Labels::push_hash_key(&mut key, n.as_bytes(), v.as_bytes());
        }
    }
    key
}

fn sig_labels(l: &Labels, m: &Matching<'_>) -> String {
    let pairs: Vec<(&str, &str)> = if m.on {
        l.iter().filter(|(n, _)| m.labels.contains(n)).collect()
    } else {
        l.iter()
            .filter(|(n, _)| *n != "__name__" && !m.labels.contains(n))
            .collect()
    };
    Labels::new(pairs)
        .map(|l| l.to_string())
        .unwrap_or_default()
}

impl Evaluator<'_> {
    pub fn binary(&mut self, b: &BinaryExpr, ctx: Ctx) -> Result<Val, QueryError> {
        let op = Op::parse(&b.op.to_string())?;
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, ctx)?;
        let rhs = self.eval(&b.rhs, ctx)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let v = l
                    .iter()
                    .zip(&r)
                    .map(|(&a, &b)| {
                        let (v, keep) = apply(op, a, b);
                        if op.is_comparison() {
                            if keep {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect();
                Ok(Val::Scalar(v))
            }
            (Val::Vector(l), Val::Scalar(r)) => {
                self.vector_scalar(op, l, &r, false, return_bool, ctx)
            }
            (Val::Scalar(l), Val::Vector(r)) => {
                self.vector_scalar(op, r, &l, true, return_bool, ctx)
            }
            (Val::Vector(l), Val::Vector(r)) => {
                let m = matching(&b.modifier);
                if op.is_set() {
                    self.set_op(op, l, r, &m, ctx)
                } else {
                    self.vector_vector(op, l, r, &m, return_bool, ctx)
                }
            }
            (l, r) => Err(QueryError::Execution(format!(
                "binary expression must contain only scalar and instant vector types, got {} and {}",
                l.type_name(),
                r.type_name()
            ))),
        }
    }

    fn vector_scalar(
        &mut self,
        op: Op,
        mut v: Vec<Series>,
        s: &[f64],
        swap: bool,
        return_bool: bool,
        ctx: Ctx,
    ) -> Result<Val, QueryError> {
        for series in &mut v {
            series.points.retain_mut(|p| {
                let sv = s[ctx.index(p.0)];
                let (l, r) = if swap { (sv, p.1) } else { (p.1, sv) };
                let (mut value, keep) = apply(op, l, r);
                if op.is_comparison() && swap {
                    value = r;
                }
                if return_bool {
                    p.1 = if keep { 1.0 } else { 0.0 };
                    true
                } else {
                    p.1 = value;
                    keep
                }
            });
            if op.drops_name() || return_bool {
                series.labels = drop_name(&series.labels);
            }
        }
        v.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(dedup(v)?))
    }

    fn set_op(
        &mut self,
        op: Op,
        l: Vec<Series>,
        r: Vec<Series>,
        m: &Matching<'_>,
        ctx: Ctx,
    ) -> Result<Val, QueryError> {
        let lsig: Vec<Vec<u8>> = l.iter().map(|s| signature(&s.labels, m)).collect();
        let rsig: Vec<Vec<u8>> = r.iter().map(|s| signature(&s.labels, m)).collect();
        let mut lout: Vec<Series> = l
            .iter()
            .map(|s| Series {
                labels: s.labels.clone(),
                points: Vec::new(),
            })
            .collect();
        let mut rout: Vec<Series> = Vec::new();
        if op == Op::Or {
            rout = r
                .iter()
                .map(|s| Series {
                    labels: s.labels.clone(),
                    points: Vec::new(),
                })
                .collect();
        }
        let mut lc = StepCursor::new(l.len());
        let mut rc = StepCursor::new(r.len());
        let mut present: HashMap<&[u8], ()> = HashMap::new();
        for k in 0..ctx.len() {
            let t = ctx.time(k);
            let lpts = lc.at(&l, t).to_vec();
            let rpts = rc.at(&r, t);
            present.clear();
            match op {
                Op::And | Op::Unless => {
                    for &(i, _) in rpts {
                        present.insert(&rsig[i], ());
                    }
                    for &(i, v) in &lpts {
                        let hit = present.contains_key(lsig[i].as_slice());
                        if hit == (op == Op::And) {
                            lout[i].points.push((t, v));
                        }
                    }
                }
                _ => {
                    for &(i, v) in &lpts {
                        present.insert(&lsig[i], ());
                        lout[i].points.push((t, v));
                    }
                    for &(i, v) in rpts {
                        if !present.contains_key(rsig[i].as_slice()) {
                            rout[i].points.push((t, v));
                        }
                    }
                }
            }
        }
        lout.extend(rout);
        lout.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(dedup(lout)?))
    }

    fn vector_vector(
        &mut self,
        op: Op,
        l: Vec<Series>,
        r: Vec<Series>,
        m: &Matching<'_>,
        return_bool: bool,
        ctx: Ctx,
    ) -> Result<Val, QueryError> {
        // For one-to-many the "many" side is the right: swap so that the left is always "many".
        let (swap, include): (bool, Vec<&str>) = match m.card {
            VectorMatchCardinality::OneToMany(ls) => {
                (true, ls.labels.iter().map(|s| s.as_str()).collect())
            }
            VectorMatchCardinality::ManyToOne(ls) => {
                (false, ls.labels.iter().map(|s| s.as_str()).collect())
            }
            _ => (false, Vec::new()),
        };
        let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
        let (many, one) = if swap { (r, l) } else { (l, r) };
        let msig: Vec<Vec<u8>> = many.iter().map(|s| signature(&s.labels, m)).collect();
        let osig: Vec<Vec<u8>> = one.iter().map(|s| signature(&s.labels, m)).collect();
        let mut mc = StepCursor::new(many.len());
        let mut oc = StepCursor::new(one.len());
        let mut out: Vec<Series> = Vec::new();
        let mut pair_out: HashMap<(usize, usize), usize> = HashMap::new();
        let mut by_labels: HashMap<Labels, usize> = HashMap::new();
        let mut one_at: HashMap<&[u8], (usize, f64)> = HashMap::new();
        let mut matched: HashMap<&[u8], usize> = HashMap::new();
        let mut inserted: HashMap<usize, usize> = HashMap::new();
        for k in 0..ctx.len() {
            self.check()?;
            let t = ctx.time(k);
            one_at.clear();
            matched.clear();
            inserted.clear();
            for &(i, v) in oc.at(&one, t) {
                if let Some(&(j, _)) = one_at.get(osig[i].as_slice()) {
                    let side = if swap { "left" } else { "right" };
                    return Err(QueryError::Execution(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        sig_labels(&one[i].labels, m),
                        one[j].labels,
                        one[i].labels
                    )));
                }
                one_at.insert(&osig[i], (i, v));
            }
            for &(i, mv) in mc.at(&many, t) {
                let Some(&(j, ov)) = one_at.get(msig[i].as_slice()) else {
                    continue;
                };
                let (lv, rv) = if swap { (ov, mv) } else { (mv, ov) };
                let (value, keep) = apply(op, lv, rv);
                let value = if return_bool {
                    if keep {
                        1.0
                    } else {
                        0.0
                    }
                } else if !keep {
                    continue;
                } else {
                    value
                };
                if one_to_one {
                    if let Some(_prev) = matched.insert(&msig[i], i) {
                        return Err(QueryError::Execution(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                        ));
                    }
                }
                let idx = match pair_out.get(&(i, j)) {
                    Some(&x) => x,
                    None => {
                        let labels = result_labels(
                            &many[i].labels,
                            &one[j].labels,
                            op,
                            m,
                            &include,
                            return_bool,
                            one_to_one,
                        )?;
                        let x = *by_labels.entry(labels.clone()).or_insert_with(|| {
                            out.push(Series {
                                labels,
                                points: Vec::new(),
                            });
                            out.len() - 1
                        });
                        pair_out.insert((i, j), x);
                        x
                    }
                };
                if let Some(_prev) = inserted.insert(idx, i) {
                    let msg = if one_to_one {
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                    } else {
                        "multiple matches for labels: grouping labels must ensure unique matches"
                    };
                    return Err(QueryError::Execution(msg.into()));
                }
                out[idx].points.push((t, value));
            }
        }
        out.retain(|s| !s.points.is_empty());
        let n = super::points_of(&out);
        self.hold(n)?;
        Ok(Val::Vector(out))
    }
}

/// The labels of a matched pair, as Prometheus's `resultMetric` builds them.
fn result_labels(
    many: &Labels,
    one: &Labels,
    op: Op,
    m: &Matching<'_>,
    include: &[&str],
    return_bool: bool,
    one_to_one: bool,
) -> Result<Labels, QueryError> {
    let mut b = many.builder();
    if op.drops_name() || return_bool {
        b.del("__name__");
    }
    if one_to_one {
        if m.on {
            let drop: Vec<String> = many
                .iter()
                .filter(|(n, _)| !m.labels.contains(n))
                .map(|(n, _)| n.to_owned())
                .collect();
            for n in drop {
                b.del(&n);
            }
        } else {
            for n in &m.labels {
                b.del(n);
            }
        }
    }
    for n in include {
        match one.get(n) {
            Some(v) => {
                b.set(*n, v);
            }
            None => {
                b.del(n);
            }
        }
    }
    b.build()
        .map_err(|e| QueryError::Execution(format!("invalid result labels: {e}")))
}
