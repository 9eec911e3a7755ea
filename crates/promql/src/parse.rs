//! Query text to syntax tree, through `promql-parser`, with the functions Prometheus 2.x has and that
//! parser (which follows 3.x) has renamed.

use std::sync::OnceLock;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Expr, Function};

use crate::error::QueryError;

/// Parses `query`. A parse error keeps the parser's message, as Prometheus's `bad_data` answer does.
pub(crate) fn parse(query: &str) -> Result<Expr, QueryError> {
    static EXTRA: OnceLock<()> = OnceLock::new();
    EXTRA.get_or_init(|| {
        // `holt_winters` is Prometheus 2.x's name of 3.x's `double_exponential_smoothing`. The
        // registration only fails for a name the parser already knows, which then parses anyway.
        let _ = promql_parser::parser::function::register_extra_functions(vec![Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
    if query.trim().is_empty() {
        return Err(QueryError::Parse(
            "1:1: parse error: no expression found in input".into(),
        ));
    }
    lexical_checks(query).map_err(|e| QueryError::Parse(format!("parse error: {e}")))?;
    promql_parser::parser::parse(query).map_err(|e| QueryError::Parse(format!("parse error: {e}")))
}

/// What Prometheus 2.42's lexer and parser refuse and `promql-parser` (following 3.x) accepts: a
/// duration without a unit (`[5]`, `[5m:1]`, `offset 5`), and an `@` time beyond the range of
/// `int64`.
fn lexical_checks(q: &str) -> Result<(), String> {
    let b = q.as_bytes();
    let token_at = |mut i: usize| -> (usize, &str) {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b'_')) {
            i += 1;
        }
        (i, &q[start..i])
    };
    let bare_number = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    let mut i = 0;
    let mut in_brackets = false;
    while i < b.len() {
        match b[i] {
            quote @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != quote {
                    if b[i] == b'\\' && quote != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'[' | b':' if b[i] == b'[' || in_brackets => {
                let first = b[i] == b'[';
                in_brackets = true;
                let (_, t) = token_at(i + 1);
                if bare_number(t) {
                    return Err(if first {
                        "missing unit character in duration".into()
                    } else {
                        format!("unexpected number {t:?} in subquery selector, expected duration")
                    });
                }
                i += 1;
            }
            b']' => {
                in_brackets = false;
                i += 1;
            }
            b'@' => {
                let (mut j, mut sign) = (i + 1, 1.0);
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && matches!(b[j], b'+' | b'-') {
                    sign = if b[j] == b'-' { -1.0 } else { 1.0 };
                    j += 1;
                }
                let (end, t) = token_at(j);
                // 1e20: the exponent's sign is part of the number too.
                let t = if end < b.len() && matches!(b[end], b'+' | b'-') && t.ends_with(['e', 'E'])
                {
                    &q[j..token_at(end + 1).0]
                } else {
                    t
                };
                if let Ok(v) = t.parse::<f64>() {
                    let ts = sign * v;
                    if !ts.is_finite() || ts >= i64::MAX as f64 || ts <= i64::MIN as f64 {
                        return Err(format!("timestamp out of bounds for @ modifier: {ts:.6}"));
                    }
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || (b[i] == b':' && !in_brackets))
                {
                    i += 1;
                }
                if q[start..i].eq_ignore_ascii_case("offset") {
                    let mut j = i;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if j < b.len() && matches!(b[j], b'+' | b'-') {
                        j += 1;
                    }
                    let (_, t) = token_at(j);
                    if bare_number(t) {
                        return Err(format!(
                            "unexpected number {t:?} in offset, expected duration"
                        ));
                    }
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units_and_at_times_fit() {
        for bad in [
            "rate(m[5])",
            "m[0]",
            "max_over_time(m[5m:1])",
            "m offset 5",
            "m offset -5",
            "m @ 1e20",
            "m @ -1e+19",
            "m @ Inf",
        ] {
            assert!(lexical_checks(bad).is_err(), "{bad}");
        }
        for good in [
            "rate(m[5m])",
            "m[1h30m:]",
            "m[5m:15s] offset 1m",
            "m{offset=\"[5]\"} offset 5m",
            "my_offset_total offset 1h",
            "m @ 1700000000.5",
            "m @ start()",
            "m{a=\"@ 1e30\"}",
            "sum(m) # [5]",
        ] {
            assert!(lexical_checks(good).is_ok(), "{good}");
        }
    }
}
