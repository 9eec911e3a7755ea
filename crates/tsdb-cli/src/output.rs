//! Formatting shared by the commands: the buffered stdout they write through, float values as Go's `%g`
//! prints them (what Prometheus's tools print), WAL flags, segment names, and JSON forms of values and
//! label sets.

use std::fmt;
use std::io::{self, BufWriter, StdoutLock};

use serde::ser::{Serialize, SerializeMap, Serializer};
use tsdb_labels::Labels;
use tsdb_wal::record::{FLAG_SIMPLE, FLAG_SNAPPY, FLAG_SYMBOLIC};

/// The locked, buffered stdout every command writes its output through. Flush it before returning: a
/// write error (EPIPE when the reader of a pipe has gone) must reach the caller, who treats a broken pipe
/// as a quiet success.
pub fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// A float formatted as Go's `%g` formats it (`strconv.FormatFloat(v, 'g', -1, 64)`): the shortest digits
/// that read back as the same value, in exponent form when the decimal exponent is below -4 or at least
/// 6, `NaN`, `+Inf` and `-Inf` for the special values.
///
/// Examples: `1`, `0.25`, `123456`, `1e+06`, `1.7e+12`, `1e-05`, `-0`.
#[derive(Debug, Clone, Copy)]
pub struct GoFloat(pub f64);

impl fmt::Display for GoFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            return f.write_str("NaN");
        }
        if v.is_infinite() {
            return f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        }
        // Rust's `{:e}` gives the shortest round-tripping digits: "d.ddde-N" or "de N".
        let sci = format!("{:e}", v.abs());
        let (mant, exp) = sci.split_once('e').ok_or(fmt::Error)?;
        let exp: i32 = exp.parse().map_err(|_| fmt::Error)?;
        let digits: String = mant.chars().filter(|c| *c != '.').collect();
        let nd = digits.len() as i32;
        if v.is_sign_negative() {
            f.write_str("-")?;
        }
        if !(-4..6).contains(&exp) {
            // d[.ddd]e±XX, at least two exponent digits.
            f.write_str(&digits[..1])?;
            if nd > 1 {
                write!(f, ".{}", &digits[1..])?;
            }
            let sign = if exp < 0 { '-' } else { '+' };
            write!(f, "e{sign}{:02}", exp.abs())
        } else if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                write!(f, "{digits:0<int_len$}")
            } else {
                write!(f, "{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            let zeros = (-exp - 1) as usize;
            write!(f, "0.{}{digits}", "0".repeat(zeros))
        }
    }
}

/// Names of the bits of a WAL entry's flag byte, joined with `+`: `simple`, `symbolic+snappy`, ...
/// Unknown bits are shown in hex.
pub fn flag_name(flag: u8) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (bit, name) in [
        (FLAG_SIMPLE, "simple"),
        (FLAG_SYMBOLIC, "symbolic"),
        (FLAG_SNAPPY, "snappy"),
    ] {
        if flag & bit != 0 {
            parts.push(name.to_string());
        }
    }
    let unknown = flag & !(FLAG_SIMPLE | FLAG_SYMBOLIC | FLAG_SNAPPY);
    if unknown != 0 || flag == 0 {
        parts.push(format!("{unknown:#04x}"));
    }
    parts.join("+")
}

/// The names of the set bits of a flag byte, for JSON output.
pub fn flag_names(flag: u8) -> Vec<&'static str> {
    [
        (FLAG_SIMPLE, "simple"),
        (FLAG_SYMBOLIC, "symbolic"),
        (FLAG_SNAPPY, "snappy"),
    ]
    .into_iter()
    .filter(|(bit, _)| flag & bit != 0)
    .map(|(_, name)| name)
    .collect()
}

/// A float for JSON: a number when finite, otherwise the string `"NaN"`, `"+Inf"` or `"-Inf"` (JSON has no
/// such numbers; Prometheus's HTTP API spells them the same way).
#[derive(Debug, Clone, Copy)]
pub struct JsonF64(pub f64);

impl Serialize for JsonF64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            s.serialize_f64(v)
        } else {
            s.serialize_str(&GoFloat(v).to_string())
        }
    }
}

/// A label set as a JSON object `{"name": "value", ...}`, in label order.
#[derive(Debug, Clone, Copy)]
pub struct JsonLabels<'a>(pub &'a Labels);

impl Serialize for JsonLabels<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0.iter() {
            m.serialize_entry(name, value)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: f64) -> String {
        GoFloat(v).to_string()
    }

    #[test]
    fn go_g_formatting() {
        // Expected values are what Go's fmt.Sprintf("%g", v) prints.
        assert_eq!(g(0.0), "0");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(1.0), "1");
        assert_eq!(g(-1.5), "-1.5");
        assert_eq!(g(0.25), "0.25");
        assert_eq!(g(100.0), "100");
        assert_eq!(g(123456.0), "123456");
        assert_eq!(g(1e6), "1e+06");
        assert_eq!(g(1234567.0), "1.234567e+06");
        assert_eq!(g(1.7e12), "1.7e+12");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(0.00012), "0.00012");
        assert_eq!(g(0.00001), "1e-05");
        assert_eq!(g(1.5e-300), "1.5e-300");
        assert_eq!(g(1e300), "1e+300");
        assert_eq!(g(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(g(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(g(5e-324), "5e-324");
        assert_eq!(g(f64::NAN), "NaN");
        assert_eq!(g(f64::INFINITY), "+Inf");
        assert_eq!(g(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn flags() {
        assert_eq!(flag_name(1), "simple");
        assert_eq!(flag_name(5), "simple+snappy");
        assert_eq!(flag_name(6), "symbolic+snappy");
        assert_eq!(flag_name(0x09), "simple+0x08");
        assert_eq!(flag_name(0), "0x00");
        assert_eq!(flag_names(6), ["symbolic", "snappy"]);
    }

    #[test]
    fn json_values() {
        let v = serde_json::to_string(&[
            JsonF64(1.5),
            JsonF64(f64::NAN),
            JsonF64(f64::INFINITY),
            JsonF64(f64::NEG_INFINITY),
        ])
        .unwrap();
        assert_eq!(v, r#"[1.5,"NaN","+Inf","-Inf"]"#);
        let l = Labels::new([("job", "node"), ("__name__", "up")]).unwrap();
        assert_eq!(
            serde_json::to_string(&JsonLabels(&l)).unwrap(),
            r#"{"__name__":"up","job":"node"}"#
        );
    }
}
