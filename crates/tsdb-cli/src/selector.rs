//! `--match` series selectors as the command line takes them.

use anyhow::Result;
use tsdb_labels::Matcher;

use crate::error::CliError;

/// Parses a `--match` series selector (PromQL syntax). Unlike PromQL, and like `promtool tsdb dump`, a
/// selector whose every matcher matches the empty string (`{__name__=~".*"}`, `{}`) is accepted when
/// `allow_empty`: it selects every series its matchers accept.
pub fn parse_match(s: &str, allow_empty: bool) -> Result<Vec<Matcher>> {
    use tsdb_labels::LabelsError;
    let bad = |e: LabelsError| CliError::usage(format!("--match {s:?}: {e}"));
    match tsdb_labels::parse_selector(s) {
        Ok(m) => Ok(m),
        Err(LabelsError::EmptySelector) if allow_empty => {
            // Only a `{...}` selector can match nothing but empty values (a metric name is a non-empty
            // equality): parse it again with a non-empty matcher in front, then drop that one.
            let t = s.trim_start();
            let inner = t
                .strip_prefix('{')
                .ok_or_else(|| bad(LabelsError::EmptySelector))?;
            let padded = format!("{{__tsdb_cli__=\"x\", {inner}");
            let mut m = tsdb_labels::parse_selector(&padded).map_err(bad)?;
            m.remove(0);
            Ok(m)
        }
        Err(e) => Err(bad(e).into()),
    }
}
