//! Query results: the four PromQL value types, and numbers formatted as Prometheus's JSON writes them.

use tsdb_labels::Labels;

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels (without `__name__` where the expression drops it).
    pub labels: Labels,
    /// Evaluation time, milliseconds.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// One series of a range vector (matrix): its points in time order, one per timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// `(timestamp ms, value)`, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// The value of a query. Range queries always give a [`Value::Matrix`]; instant queries the expression's
/// own type. Vectors are sorted by labels unless the expression sorts them (`sort`, `sort_desc`,
/// `topk`…); matrices always by labels.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number at a time.
    Scalar {
        /// Milliseconds.
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string at a time.
    String {
        /// Milliseconds.
        t: i64,
        /// The value.
        v: String,
    },
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector.
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// Prometheus's `resultType`: `scalar`, `string`, `vector` or `matrix`.
    pub fn result_type(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// What a query answered, with the warnings Prometheus would attach.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warnings (for example, a block that could not be read was left out).
    pub warnings: Vec<String>,
    /// Samples read from storage.
    pub samples_loaded: u64,
}

/// A float as Prometheus's JSON writes it (Go's `strconv.FormatFloat(v, 'f', -1, 64)`): the shortest
/// decimal that reads back as the same float, never an exponent; `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    let mut s = String::new();
    write_float(&mut s, v);
    s
}

/// [`format_float`] appended to `out`, without allocating: whole numbers below 2^53 are written as
/// integers directly, others through the shortest round-trip decimal.
pub fn write_float(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if v.fract() == 0.0
        && v.abs() < 9_007_199_254_740_992.0
        && !(v == 0.0 && v.is_sign_negative())
    {
        write_int(out, v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// The decimal digits of `n` appended to `out`.
pub fn write_int(out: &mut String, n: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_as_go_does() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(-0.5), "-0.5");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(-42.0), "-42");
        assert_eq!(format_float(9_007_199_254_740_993.0), "9007199254740992");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }
}
