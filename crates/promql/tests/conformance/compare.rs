//! Comparing our engine's answer with Prometheus's recorded JSON: both are brought to one [`Answer`]
//! form, then compared: same status; for errors the same `errorType` (a different message alone is
//! noted, not failed); for results the same type, the same label sets, the same timestamps and values
//! equal within a relative 1e-5 (NaN equals NaN, infinities exactly). Vectors are compared as sets,
//! except that the order of values is checked too when the query's outermost call is `sort` or
//! `sort_desc`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value as Json;
use tsdb_promql::{QueryError, QueryResult, Value};

/// Labels as a sorted map.
pub type LabelMap = BTreeMap<String, String>;

/// An answer, ours or Prometheus's, in one form.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A failed query.
    Error {
        /// `bad_data`, `execution`, …
        error_type: String,
        /// The message.
        message: String,
    },
    /// A scalar `(t ms, v)`.
    Scalar(i64, f64),
    /// A string `(t ms, s)`.
    String(i64, String),
    /// An instant vector, in answer order.
    Vector(Vec<(LabelMap, i64, f64)>),
    /// A range vector, sorted by labels.
    Matrix(Vec<(LabelMap, Vec<(i64, f64)>)>),
}

/// How a case came out.
#[derive(Debug)]
pub enum Outcome {
    /// Same answer.
    Pass,
    /// Both failed with the same error type, with different messages.
    MessageOnly { ours: String, theirs: String },
    /// Different answers: a short description.
    Fail(String),
}

fn labels_of(l: &tsdb_labels::Labels) -> LabelMap {
    l.iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// Our engine's answer.
pub fn from_engine(r: Result<QueryResult, QueryError>) -> Answer {
    match r {
        Err(e) => Answer::Error {
            error_type: e.error_type().to_owned(),
            message: e.to_string(),
        },
        Ok(r) => match r.value {
            Value::Scalar { t, v } => Answer::Scalar(t, v),
            Value::String { t, v } => Answer::String(t, v),
            Value::Vector(ss) => Answer::Vector(
                ss.iter()
                    .map(|s| (labels_of(&s.labels), s.t, s.v))
                    .collect(),
            ),
            Value::Matrix(ms) => {
                let mut m: Vec<_> = ms
                    .iter()
                    .map(|s| (labels_of(&s.labels), s.points.clone()))
                    .collect();
                m.sort_by(|a, b| a.0.cmp(&b.0));
                Answer::Matrix(m)
            }
        },
    }
}

fn json_ms(j: &Json) -> Result<i64, String> {
    j.as_f64()
        .map(|s| (s * 1000.0).round() as i64)
        .ok_or_else(|| format!("bad timestamp {j}"))
}

fn json_float(j: &Json) -> Result<f64, String> {
    match j.as_str() {
        Some("NaN") => Ok(f64::NAN),
        Some("+Inf") => Ok(f64::INFINITY),
        Some("-Inf") => Ok(f64::NEG_INFINITY),
        Some(s) => s.parse().map_err(|_| format!("bad value {s:?}")),
        None => Err(format!("bad value {j}")),
    }
}

fn json_point(j: &Json) -> Result<(i64, f64), String> {
    let a = j.as_array().ok_or_else(|| format!("bad point {j}"))?;
    if a.len() != 2 {
        return Err(format!("bad point {j}"));
    }
    Ok((json_ms(&a[0])?, json_float(&a[1])?))
}

fn json_labels(j: &Json) -> Result<LabelMap, String> {
    j.as_object()
        .ok_or_else(|| format!("bad metric {j}"))?
        .iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|v| (k.clone(), v.to_owned()))
                .ok_or_else(|| format!("bad label value {v}"))
        })
        .collect()
}

/// Prometheus's recorded answer (the HTTP JSON body).
pub fn from_json(j: &Json) -> Result<Answer, String> {
    match j["status"].as_str() {
        Some("error") => Ok(Answer::Error {
            error_type: j["errorType"].as_str().unwrap_or("").to_owned(),
            message: j["error"].as_str().unwrap_or("").to_owned(),
        }),
        Some("success") => {
            let data = &j["data"];
            let result = &data["result"];
            match data["resultType"].as_str() {
                Some("scalar") => {
                    let (t, v) = json_point(result)?;
                    Ok(Answer::Scalar(t, v))
                }
                Some("string") => {
                    let a = result.as_array().ok_or("bad string result")?;
                    Ok(Answer::String(
                        json_ms(&a[0])?,
                        a[1].as_str().unwrap_or("").to_owned(),
                    ))
                }
                Some("vector") => Ok(Answer::Vector(
                    result
                        .as_array()
                        .ok_or("bad vector")?
                        .iter()
                        .map(|s| {
                            let (t, v) = json_point(&s["value"])?;
                            Ok((json_labels(&s["metric"])?, t, v))
                        })
                        .collect::<Result<_, String>>()?,
                )),
                Some("matrix") => {
                    let mut m: Vec<(LabelMap, Vec<(i64, f64)>)> = result
                        .as_array()
                        .ok_or("bad matrix")?
                        .iter()
                        .map(|s| {
                            let pts = s["values"]
                                .as_array()
                                .ok_or("bad matrix values")?
                                .iter()
                                .map(json_point)
                                .collect::<Result<_, String>>()?;
                            Ok((json_labels(&s["metric"])?, pts))
                        })
                        .collect::<Result<_, String>>()?;
                    m.sort_by(|a, b| a.0.cmp(&b.0));
                    Ok(Answer::Matrix(m))
                }
                other => Err(format!("unknown resultType {other:?}")),
            }
        }
        other => Err(format!("unknown status {other:?}")),
    }
}

/// Equal within a relative 1e-5 (or 1e-12 absolute near zero); NaN equals NaN; infinities exactly.
pub fn float_eq(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    a == b || (a - b).abs() <= 1e-5 * a.abs().max(b.abs()) || (a - b).abs() < 1e-12
}

/// Whether the query's outermost call orders its result (`sort`, `sort_desc`).
pub fn ordered(query: &str) -> bool {
    let q = query.trim();
    let inner = q.trim_start_matches('(');
    (inner.starts_with("sort(") || inner.starts_with("sort_desc(")) && q.ends_with(')')
}

fn fmt_labels(l: &LabelMap) -> String {
    let name = l.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = l
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// A short text of an answer, for failure reports (long answers cut).
pub fn show(a: &Answer) -> String {
    let mut s = String::new();
    match a {
        Answer::Error {
            error_type,
            message,
        } => {
            let _ = write!(s, "error {error_type}: {message}");
        }
        Answer::Scalar(t, v) => {
            let _ = write!(s, "scalar {v} @{t}");
        }
        Answer::String(t, v) => {
            let _ = write!(s, "string {v:?} @{t}");
        }
        Answer::Vector(v) => {
            let _ = write!(s, "vector[{}]", v.len());
            for (l, t, x) in v.iter().take(6) {
                let _ = write!(s, " {} {x} @{t};", fmt_labels(l));
            }
            if v.len() > 6 {
                s.push_str(" …");
            }
        }
        Answer::Matrix(m) => {
            let _ = write!(s, "matrix[{}]", m.len());
            for (l, pts) in m.iter().take(4) {
                let p: Vec<String> = pts
                    .iter()
                    .take(8)
                    .map(|(t, v)| format!("{v}@{t}"))
                    .collect();
                let more = if pts.len() > 8 { " …" } else { "" };
                let _ = write!(s, " {} [{}{more}];", fmt_labels(l), p.join(" "));
            }
            if m.len() > 4 {
                s.push_str(" …");
            }
        }
    }
    s
}

/// Compares our answer with Prometheus's for `query`.
pub fn compare(query: &str, ours: &Answer, theirs: &Answer) -> Outcome {
    use Answer::*;
    match (ours, theirs) {
        (
            Error {
                error_type: a,
                message: am,
            },
            Error {
                error_type: b,
                message: bm,
            },
        ) => {
            if a != b {
                Outcome::Fail(format!("error type {a} instead of {b}"))
            } else if am != bm {
                Outcome::MessageOnly {
                    ours: am.clone(),
                    theirs: bm.clone(),
                }
            } else {
                Outcome::Pass
            }
        }
        (Error { .. }, _) => Outcome::Fail("we fail, Prometheus answers".into()),
        (_, Error { .. }) => Outcome::Fail("we answer, Prometheus fails".into()),
        (Scalar(t1, v1), Scalar(t2, v2)) => {
            if t1 != t2 {
                Outcome::Fail(format!("scalar time {t1} instead of {t2}"))
            } else if !float_eq(*v1, *v2) {
                Outcome::Fail(format!("scalar {v1} instead of {v2}"))
            } else {
                Outcome::Pass
            }
        }
        (String(t1, v1), String(t2, v2)) => {
            if t1 != t2 || v1 != v2 {
                Outcome::Fail("different string".into())
            } else {
                Outcome::Pass
            }
        }
        (Vector(a), Vector(b)) => compare_vectors(query, a, b),
        (Matrix(a), Matrix(b)) => compare_matrices(a, b),
        _ => Outcome::Fail(format!(
            "result type {} instead of {}",
            type_name(ours),
            type_name(theirs)
        )),
    }
}

fn type_name(a: &Answer) -> &'static str {
    match a {
        Answer::Error { .. } => "error",
        Answer::Scalar(..) => "scalar",
        Answer::String(..) => "string",
        Answer::Vector(_) => "vector",
        Answer::Matrix(_) => "matrix",
    }
}

fn compare_vectors(query: &str, a: &[(LabelMap, i64, f64)], b: &[(LabelMap, i64, f64)]) -> Outcome {
    if ordered(query) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if !float_eq(x.2, y.2) {
                return Outcome::Fail(format!(
                    "sorted order differs at {i}: {} {} instead of {} {}",
                    fmt_labels(&x.0),
                    x.2,
                    fmt_labels(&y.0),
                    y.2
                ));
            }
        }
    }
    let am: BTreeMap<&LabelMap, (i64, f64)> = a.iter().map(|(l, t, v)| (l, (*t, *v))).collect();
    let bm: BTreeMap<&LabelMap, (i64, f64)> = b.iter().map(|(l, t, v)| (l, (*t, *v))).collect();
    if am.len() != a.len() {
        return Outcome::Fail("our vector has duplicate label sets".into());
    }
    let mut diffs = Vec::new();
    for (l, (t, v)) in &bm {
        match am.get(l) {
            None => diffs.push(format!("missing {}", fmt_labels(l))),
            Some((t2, v2)) if t2 != t || !float_eq(*v2, *v) => {
                diffs.push(format!("{}: {v2}@{t2} instead of {v}@{t}", fmt_labels(l)))
            }
            _ => {}
        }
    }
    for l in am.keys() {
        if !bm.contains_key(l) {
            diffs.push(format!("extra {}", fmt_labels(l)));
        }
    }
    if diffs.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(summarise(diffs))
    }
}

fn compare_matrices(
    a: &[(LabelMap, Vec<(i64, f64)>)],
    b: &[(LabelMap, Vec<(i64, f64)>)],
) -> Outcome {
    let am: BTreeMap<&LabelMap, &Vec<(i64, f64)>> = a.iter().map(|(l, p)| (l, p)).collect();
    let bm: BTreeMap<&LabelMap, &Vec<(i64, f64)>> = b.iter().map(|(l, p)| (l, p)).collect();
    if am.len() != a.len() {
        return Outcome::Fail("our matrix has duplicate label sets".into());
    }
    let mut diffs = Vec::new();
    for (l, pts) in &bm {
        let Some(ours) = am.get(l) else {
            diffs.push(format!("missing {}", fmt_labels(l)));
            continue;
        };
        let ot: Vec<i64> = ours.iter().map(|p| p.0).collect();
        let tt: Vec<i64> = pts.iter().map(|p| p.0).collect();
        if ot != tt {
            diffs.push(format!(
                "{}: timestamps {ot:?} instead of {tt:?}",
                fmt_labels(l)
            ));
            continue;
        }
        if let Some(((t, v2), (_, v))) = ours
            .iter()
            .zip(pts.iter())
            .find(|((_, x), (_, y))| !float_eq(*x, *y))
        {
            diffs.push(format!("{}: {v2}@{t} instead of {v}", fmt_labels(l)));
        }
    }
    for l in am.keys() {
        if !bm.contains_key(l) {
            diffs.push(format!("extra {}", fmt_labels(l)));
        }
    }
    if diffs.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(summarise(diffs))
    }
}

fn summarise(mut diffs: Vec<String>) -> String {
    let n = diffs.len();
    diffs.truncate(4);
    let mut s = diffs.join("; ");
    if n > 4 {
        let _ = write!(s, "; … {} more", n - 4);
    }
    s
}
