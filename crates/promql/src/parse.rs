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
    promql_parser::parser::parse(query).map_err(|e| QueryError::Parse(format!("parse error: {e}")))
}
