//! The conformance scripts' text format: `load <interval>` sections of series with values over time,
//! `clear` to start a new data set, and `eval instant at <t> <query>` / `eval range from <t> to <t> step
//! <d> <query>` lines. Expected answers are not in the script: they are recorded beside it (see
//! `record.rs`).
//!
//! Values of a series, one per load step starting at time 0: `a+bxN` and `a-bxN` (N+1 points a, a±b, …),
//! `axN` (N+1 times a), `_` (no sample at that step), `_xN` (N steps without samples), `stale` (a staleness
//! marker), and plain numbers including `NaN`, `Inf`, `+Inf`, `-Inf`.

use std::path::Path;

/// The bits of Prometheus's staleness marker, a NaN distinct from the NaN arithmetic makes.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// One parsed script.
#[derive(Debug)]
pub struct Script {
    /// The file name (no directory), used in reports and in `KNOWN_DIFFERENCES`.
    pub name: String,
    /// Its data sets, in order; each with the evals that run against it.
    pub datasets: Vec<DataSet>,
}

/// Series loaded together, and the evals that query them.
#[derive(Debug, Default)]
pub struct DataSet {
    /// The series: label pairs (with `__name__`, sorted by name) and samples `(ms, value)` in time order.
    pub series: Vec<LoadedSeries>,
    /// The evals, in script order.
    pub evals: Vec<Eval>,
}

/// Label pairs, sorted by name.
pub type LabelPairs = Vec<(String, String)>;

/// One loaded series.
#[derive(Debug, Clone)]
pub struct LoadedSeries {
    /// `file:line` of its load line, for messages.
    pub origin: String,
    /// Label pairs sorted by name, `__name__` among them.
    pub labels: LabelPairs,
    /// `(timestamp ms, value)`, oldest first.
    pub samples: Vec<(i64, f64)>,
}

impl DataSet {
    /// Whether any sample is a staleness marker (these cannot be written as OpenMetrics).
    pub fn has_stale(&self) -> bool {
        self.series.iter().any(|s| {
            s.samples
                .iter()
                .any(|&(_, v)| v.to_bits() == STALE_NAN_BITS)
        })
    }
}

/// What an eval asks.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalKind {
    /// An instant query at this time (ms).
    Instant { t: i64 },
    /// A range query (ms).
    Range { start: i64, end: i64, step: i64 },
}

/// One `eval` line.
#[derive(Debug, Clone)]
pub struct Eval {
    /// 1-based line number in the script.
    pub line: usize,
    /// The query text.
    pub query: String,
    /// Instant or range, with its times.
    pub kind: EvalKind,
}

impl Eval {
    /// The eval's words before the query (`instant at 300000ms`), for the recorded file.
    pub fn describe(&self) -> String {
        match self.kind {
            EvalKind::Instant { t } => format!("instant at {t}ms"),
            EvalKind::Range { start, end, step } => {
                format!("range from {start}ms to {end}ms step {step}ms")
            }
        }
    }
}

/// Reads and parses `path`. Errors name `file:line`.
pub fn parse_file(path: &Path) -> Result<Script, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(&name, &text)
}

/// Parses a script's text; `name` is used in error messages.
pub fn parse(name: &str, text: &str) -> Result<Script, String> {
    let mut datasets = vec![DataSet::default()];
    // The load interval while inside a `load` section.
    let mut load: Option<i64> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |m: String| format!("{name}:{line}: {m}");
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if indented {
            let interval =
                load.ok_or_else(|| err("indented line outside a load section".into()))?;
            let mut s = parse_series(trimmed, interval).map_err(err)?;
            s.origin = format!("{name}:{line}");
            let ds = datasets.last_mut().expect("one data set at least");
            if ds.series.iter().any(|o| o.labels == s.labels) {
                return Err(err("series loaded twice in one data set".into()));
            }
            ds.series.push(s);
            continue;
        }
        load = None;
        let (word, rest) = split_word(trimmed);
        match word {
            "load" => {
                let ds = datasets.last().expect("one data set at least");
                if !ds.evals.is_empty() {
                    return Err(err("load after eval: write `clear` first".into()));
                }
                let d = parse_time(rest.trim()).map_err(err)?;
                if d <= 0 {
                    return Err(err("load interval must be positive".into()));
                }
                load = Some(d);
            }
            "clear" => {
                if !rest.trim().is_empty() {
                    return Err(err("clear takes no arguments".into()));
                }
                datasets.push(DataSet::default());
            }
            "eval" => {
                let (mode, rest) = split_word(rest);
                let (kind, query) = match mode {
                    "instant" => {
                        let rest = expect_word(rest, "at").map_err(err)?;
                        let (t, q) = split_word(rest);
                        (
                            EvalKind::Instant {
                                t: parse_time(t).map_err(err)?,
                            },
                            q,
                        )
                    }
                    "range" => {
                        let rest = expect_word(rest, "from").map_err(err)?;
                        let (start, rest) = split_word(rest);
                        let rest = expect_word(rest, "to").map_err(err)?;
                        let (end, rest) = split_word(rest);
                        let rest = expect_word(rest, "step").map_err(err)?;
                        let (step, q) = split_word(rest);
                        (
                            EvalKind::Range {
                                start: parse_time(start).map_err(err)?,
                                end: parse_time(end).map_err(err)?,
                                step: parse_time(step).map_err(err)?,
                            },
                            q,
                        )
                    }
                    other => {
                        return Err(err(format!(
                            "expected `eval instant` or `eval range`, got `eval {other}`"
                        )))
                    }
                };
                let query = query.trim();
                if query.is_empty() {
                    return Err(err("eval without a query".into()));
                }
                datasets
                    .last_mut()
                    .expect("one data set at least")
                    .evals
                    .push(Eval {
                        line,
                        query: query.to_owned(),
                        kind,
                    });
            }
            other => return Err(err(format!("unknown command `{other}`"))),
        }
    }
    datasets.retain(|d| !d.evals.is_empty() || !d.series.is_empty());
    for d in &mut datasets {
        d.series.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    Ok(Script {
        name: name.to_owned(),
        datasets,
    })
}

/// The first whitespace-separated word, and the rest (leading whitespace removed).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn expect_word<'a>(s: &'a str, want: &str) -> Result<&'a str, String> {
    let (w, rest) = split_word(s);
    if w == want {
        Ok(rest)
    } else {
        Err(format!("expected `{want}`, got `{w}`"))
    }
}

/// A time or duration in milliseconds: Prometheus durations (`1h30m`, `90s`, `500ms`, `2d`), or plain
/// (possibly fractional) seconds; a leading `-` negates.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Err("missing time".into());
    }
    if let Some(pos) = s.strip_prefix('-') {
        return parse_time(pos).map(|t| -t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("bad duration `{s}`: number without unit"))?;
        if digits == 0 {
            return Err(format!("bad duration `{s}`"));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("bad duration `{s}`"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            u => return Err(format!("bad duration `{s}`: unknown unit `{u}`")),
        };
        total += n * unit;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A series line: `name{a="b", …} values…`.
fn parse_series(line: &str, interval: i64) -> Result<LoadedSeries, String> {
    let (labels, rest) = parse_descriptor(line)?;
    let mut samples = Vec::new();
    let mut step: i64 = 0;
    for tok in rest.split_whitespace() {
        let vals = parse_values(tok)?;
        for v in vals {
            if let Some(v) = v {
                samples.push((step * interval, v));
            }
            step += 1;
        }
    }
    if samples.is_empty() {
        return Err("series without samples".into());
    }
    Ok(LoadedSeries {
        origin: String::new(),
        labels,
        samples,
    })
}

/// `name{labels}` at the start of `line`: the sorted label pairs and the rest of the line.
fn parse_descriptor(line: &str) -> Result<(LabelPairs, &str), String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let mut labels = Vec::new();
    if name_end > 0 {
        labels.push(("__name__".to_owned(), line[..name_end].to_owned()));
    }
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut s = body;
        loop {
            s = s.trim_start();
            if let Some(after) = s.strip_prefix('}') {
                rest = after;
                break;
            }
            let n_end = s
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .ok_or("unterminated label set")?;
            let n = &s[..n_end];
            if n.is_empty() {
                return Err(format!("bad label name at `{s}`"));
            }
            s = s[n_end..].trim_start();
            s = s
                .strip_prefix('=')
                .ok_or_else(|| format!("expected `=` after label {n}"))?
                .trim_start();
            s = s
                .strip_prefix('"')
                .ok_or_else(|| format!("expected a quoted value for label {n}"))?;
            let mut v = String::new();
            let mut chars = s.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => v.push('\n'),
                        Some((_, c)) => v.push(c),
                        None => return Err("unterminated label value".into()),
                    },
                    Some((_, c)) => v.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            s = s[end + 1..].trim_start();
            if !v.is_empty() {
                labels.push((n.to_owned(), v));
            }
            if let Some(after) = s.strip_prefix(',') {
                s = after;
            }
        }
    }
    if labels.is_empty() {
        return Err("series without labels".into());
    }
    labels.sort();
    if labels.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err("duplicate label name".into());
    }
    if !labels.iter().any(|(n, _)| n == "__name__") {
        return Err("series without a metric name".into());
    }
    Ok((labels, rest))
}

/// One value token: the values of its steps (`None` for a step without a sample).
fn parse_values(tok: &str) -> Result<Vec<Option<f64>>, String> {
    if tok == "_" {
        return Ok(vec![None]);
    }
    if tok == "stale" {
        return Ok(vec![Some(f64::from_bits(STALE_NAN_BITS))]);
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| format!("bad value `{tok}`"))?;
        return Ok(vec![None; n]);
    }
    if let Some(v) = parse_number(tok) {
        return Ok(vec![Some(v)]);
    }
    // a+bxN, a-bxN, axN
    let x = tok.rfind('x').ok_or_else(|| format!("bad value `{tok}`"))?;
    let n: i64 = tok[x + 1..]
        .parse()
        .map_err(|_| format!("bad repetition in `{tok}`"))?;
    let head = &tok[..x];
    let op = head
        .char_indices()
        .skip(1)
        .find(|&(i, c)| (c == '+' || c == '-') && !matches!(head.as_bytes()[i - 1], b'e' | b'E'))
        .map(|(i, _)| i);
    let (a, b) = match op {
        Some(i) => {
            let a = parse_number(&head[..i]).ok_or_else(|| format!("bad start in `{tok}`"))?;
            let b = parse_number(&head[i + 1..]).ok_or_else(|| format!("bad step in `{tok}`"))?;
            (a, if &head[i..=i] == "-" { -b } else { b })
        }
        None => (
            parse_number(head).ok_or_else(|| format!("bad value `{tok}`"))?,
            0.0,
        ),
    };
    Ok((0..=n).map(|k| Some(a + b * k as f64)).collect())
}

fn parse_number(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Inf" | "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if s.contains(['x', 'X']) => None,
        _ => s.parse::<f64>().ok(),
    }
}
