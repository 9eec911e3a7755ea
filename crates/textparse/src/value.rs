//! Sample values and timestamps, read as Prometheus 2.42 reads them.
//!
//! * A value ([`parse_value`]) is what Go's `strconv.ParseFloat(s, 64)` accepts, less every text with
//!   `p`, `P` or `_` in it (Prometheus keeps to the float syntax of Go before 1.13 and answers
//!   "unsupported character in float"): so no hexadecimal floats (`0x1p3`, and `0x10` is no float in
//!   Go either) and no `_` between digits. What remains: decimal numbers with an optional sign,
//!   optional integer or fraction digits (not both missing) and an optional exponent (`1`, `-1.5e-3`,
//!   `.5`, `5.`, `+1E+3`, `007`); `NaN` in any case and without a sign, which is Prometheus's
//!   normal NaN ([`NORMAL_NAN_BITS`], what Go's `math.NaN()` returns and Prometheus's parsers store);
//!   `Inf` and `Infinity` in any case with an optional sign. A number beyond the largest float is an error (Go's `ErrRange`); one
//!   below the smallest is zero, as in Go.
//! * A Prometheus text timestamp ([`parse_milliseconds`]) is a 64-bit integer of milliseconds with an
//!   optional sign and leading zeros, as `promtool check metrics` reads it (`strconv.ParseInt`).
//!   (Prometheus's scrape parser is stricter: its lexer takes digits only, no sign.)
//! * An OpenMetrics timestamp ([`parse_seconds`]) is a value as above, in seconds, neither NaN nor
//!   infinite, turned into milliseconds as Prometheus does: the float times 1000, truncated toward
//!   zero (`1700000000.9999` is `1700000000999`, `-0.0005` is `0`). A timestamp whose milliseconds do
//!   not fit 64 bits is an error (Prometheus's conversion gives an unspecified value there).

use crate::error::{ErrorKind, TimeUnit};

/// The bits of the NaN that every `NaN` spelling parses to: Prometheus's `value.NormalNaN`, Go's
/// `math.NaN()`. (Rust's `f64::NAN` is `0x7ff8_0000_0000_0000`; stored in a chunk it would give other
/// bytes than Prometheus's.) Stale markers, `0x7ff0_0000_0000_0002`, cannot be written in text.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Parses a sample value (see the [module documentation](self)): the value, or
/// [`ErrorKind::InvalidValue`] or [`ErrorKind::ValueOutOfRange`].
pub fn parse_value(text: &str) -> Result<f64, ErrorKind> {
    let b = text.as_bytes();
    let (neg, body) = match b.first() {
        Some(b'+') => (false, &b[1..]),
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let invalid = || ErrorKind::InvalidValue { text: text.into() };
    // Special values. Go accepts a sign on infinities only.
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Ok(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body.eq_ignore_ascii_case(b"nan") {
        return if body.len() == b.len() {
            Ok(f64::from_bits(NORMAL_NAN_BITS))
        } else {
            Err(invalid())
        };
    }
    // Decimal: only digits, '.', 'e', 'E' and the exponent's sign may appear; Rust's parser, whose
    // decimal grammar is Go's, checks the structure (it would also take "inf" and "nan", which
    // cannot reach it: their letters are refused here).
    if body.is_empty()
        || !body
            .iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(invalid());
    }
    let v: f64 = text.parse().map_err(|_| invalid())?;
    if v.is_infinite() {
        return Err(ErrorKind::ValueOutOfRange { text: text.into() });
    }
    Ok(v)
}

/// Parses a Prometheus text timestamp: integer milliseconds (see the
/// [module documentation](self)).
pub fn parse_milliseconds(text: &str) -> Result<i64, ErrorKind> {
    let unit = TimeUnit::Milliseconds;
    match text.parse::<i64>() {
        Ok(ms) => Ok(ms),
        Err(_) if crate::lexer::is_integer(text) => Err(ErrorKind::TimestampOutOfRange {
            text: text.into(),
            unit,
        }),
        Err(_) => Err(ErrorKind::InvalidTimestamp {
            text: text.into(),
            unit,
        }),
    }
}

/// Parses an OpenMetrics timestamp, seconds, into milliseconds (see the
/// [module documentation](self)).
pub fn parse_seconds(text: &str) -> Result<i64, ErrorKind> {
    let unit = TimeUnit::Seconds;
    let seconds = match parse_value(text) {
        Ok(s) if s.is_finite() => s,
        Err(ErrorKind::ValueOutOfRange { .. }) => {
            return Err(ErrorKind::TimestampOutOfRange {
                text: text.into(),
                unit,
            })
        }
        _ => {
            return Err(ErrorKind::InvalidTimestamp {
                text: text.into(),
                unit,
            })
        }
    };
    let ms = (seconds * 1000.0).trunc();
    // i64::MIN is -2^63, exactly a float; i64::MAX rounds up to 2^63, the first float beyond.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err(ErrorKind::TimestampOutOfRange {
            text: text.into(),
            unit,
        });
    }
    Ok(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every float, written as Rust writes it (shortest digits, plain or exponent form), reads
        /// back to the same bits; NaNs to the normal NaN.
        #[test]
        fn any_float_round_trips(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            for text in [format!("{v:?}"), format!("{v}"), format!("{v:e}"), format!("{v:E}")] {
                let got = parse_value(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let want = if v.is_nan() { NORMAL_NAN_BITS } else { bits };
                prop_assert_eq!(got.to_bits(), want, "{}", text);
            }
        }

        /// A timestamp with up to three decimals is its milliseconds, give or take the one that
        /// the float product can lose (always toward zero).
        #[test]
        fn seconds_with_three_decimals(ms in -(1i64 << 52)..(1i64 << 52)) {
            let sign = if ms < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{:03}", ms.abs() / 1000, ms.abs() % 1000);
            let got = parse_seconds(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(got == ms || got == ms - ms.signum(), "{} -> {}", text, got);
        }
    }

    #[test]
    fn prometheus_float_syntax() {
        let ok = [
            ("1", 1.0),
            ("-1", -1.0),
            ("+1", 1.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("-.5e1", -5.0),
            ("1e3", 1000.0),
            ("1E+3", 1000.0),
            ("1e-3", 0.001),
            ("1.e3", 1000.0),
            ("000012", 12.0),
            ("1.7976931348623157e308", f64::MAX),
            ("5e-324", 5e-324),
            ("1e-400", 0.0), // underflow is no error in Go
            ("-0", -0.0),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("inf", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("+INFINITY", f64::INFINITY),
        ];
        for (s, want) in ok {
            let got = parse_value(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(got.to_bits(), want.to_bits(), "{s}: got {got:e}");
        }
        for s in ["NaN", "nan", "nAn"] {
            assert_eq!(parse_value(s).unwrap().to_bits(), NORMAL_NAN_BITS, "{s}");
        }
        for s in [
            "", "+", "-", ".", "e3", "1e", "1e+", "1.2.3", "+nan", "-NaN", "nan1", "infx", "in",
            "1f", "1,5", "١", "1 ", "--1", "+-1", "1e3.5", "inF1",
            // Prometheus refuses `p`, `P` and `_` whatever Go would make of them.
            "0x1p3", "0X1P+2", "-0x1.8p1", "0x10", "0x", "1_0", "1_000.5", "0x_1p0", "1p3",
        ] {
            assert_eq!(
                parse_value(s),
                Err(ErrorKind::InvalidValue { text: s.into() }),
                "{s:?}"
            );
        }
        for s in ["1e309", "-1e400", "1.8e308"] {
            assert_eq!(
                parse_value(s),
                Err(ErrorKind::ValueOutOfRange { text: s.into() }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn milliseconds() {
        assert_eq!(parse_milliseconds("0"), Ok(0));
        assert_eq!(parse_milliseconds("-1"), Ok(-1));
        assert_eq!(parse_milliseconds("+7"), Ok(7));
        assert_eq!(parse_milliseconds("007"), Ok(7));
        assert_eq!(parse_milliseconds("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_milliseconds("-9223372036854775808"), Ok(i64::MIN));
        let unit = TimeUnit::Milliseconds;
        for s in ["9223372036854775808", "-9223372036854775809"] {
            assert_eq!(
                parse_milliseconds(s),
                Err(ErrorKind::TimestampOutOfRange {
                    text: s.into(),
                    unit
                })
            );
        }
        for s in ["1.5", "1e3", "0x10", "1_0", "", "+", "1 "] {
            assert_eq!(
                parse_milliseconds(s),
                Err(ErrorKind::InvalidTimestamp {
                    text: s.into(),
                    unit
                }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn seconds_truncate_as_prometheus() {
        let ms = parse_seconds;
        assert_eq!(ms("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(ms("1700000000.123"), Ok(1_700_000_000_123));
        assert_eq!(ms("1700000000.1"), Ok(1_700_000_000_100));
        assert_eq!(ms("1700000000.1234"), Ok(1_700_000_000_123));
        // Truncated, not rounded (Prometheus: `int64(seconds * 1000)`).
        assert_eq!(ms("1700000000.1235"), Ok(1_700_000_000_123));
        assert_eq!(ms("1700000000.9999"), Ok(1_700_000_000_999));
        assert_eq!(ms("-0.0005"), Ok(0));
        assert_eq!(ms("-0.0015"), Ok(-1));
        assert_eq!(ms("0.0005"), Ok(0));
        assert_eq!(ms("-1.5"), Ok(-1500));
        assert_eq!(ms("1699999230.970"), Ok(1_699_999_230_970));
        assert_eq!(ms("1.7e9"), Ok(1_700_000_000_000));
        assert_eq!(ms("17E8"), Ok(1_700_000_000_000));
        assert_eq!(ms(".5"), Ok(500));
        assert_eq!(ms("5."), Ok(5000));
        assert_eq!(ms("+5"), Ok(5000));
        assert_eq!(ms("0010"), Ok(10_000));
        assert_eq!(ms("-0.0"), Ok(0));
        assert_eq!(ms("1e-20"), Ok(0));
        assert_eq!(ms("-9223372036854775.808"), Ok(i64::MIN));
        let unit = TimeUnit::Seconds;
        for s in ["9223372036854775.807", "1e17", "-1e17", "1e999"] {
            assert_eq!(
                ms(s),
                Err(ErrorKind::TimestampOutOfRange {
                    text: s.into(),
                    unit
                }),
                "{s:?}"
            );
        }
        for s in [
            "", "+", "-", ".", "e5", "1e", "1.2.3", "NaN", "+Inf", "-Inf", "inf", "1,5", "0x10",
            "0x1p3", "1_0", "1 ",
        ] {
            assert_eq!(
                ms(s),
                Err(ErrorKind::InvalidTimestamp {
                    text: s.into(),
                    unit
                }),
                "{s:?}"
            );
        }
    }
}
