//! The errors of the parsers: where ([`ParseError`]: line and column) and what ([`ErrorKind`]).

use std::fmt;

use thiserror::Error;
use tsdb_labels::LabelsError;

/// Why one line (or the end of the input) was rejected, and where.
///
/// `Display` prints `line N: reason`; callers that print the file name and the position themselves
/// (as `FILE:LINE:COLUMN: reason`) print [`ParseError::kind`] instead.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the offending text, when the problem is at one place; `None`
    /// when it is the whole line (its labels as a set) or the end of the input.
    pub column: Option<usize>,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a line. Its `Display` is a sentence for a person, without the position.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The line is not valid UTF-8 (the column is that of the first invalid byte).
    #[error("the line is not valid UTF-8")]
    InvalidUtf8,

    // Sample lines of the Prometheus text format and OpenMetrics.
    /// A label set without a metric name before it.
    #[error("missing metric name before '{{'")]
    MissingMetricName,
    /// A metric name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name {name:?}: a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName {
        /// The name as written.
        name: String,
    },
    /// The line ends before the value.
    #[error("missing value")]
    MissingValue,
    /// The value is not a number as Prometheus reads one (see [`crate::value`]).
    #[error("invalid value {text:?}")]
    InvalidValue {
        /// The value as written.
        text: String,
    },
    /// The value is a number beyond the range of a 64-bit float.
    #[error("value {text:?} is out of the range of a 64-bit float")]
    ValueOutOfRange {
        /// The value as written.
        text: String,
    },
    /// The timestamp is not written as its format wants it.
    #[error("invalid timestamp {text:?}: expected {}", unit.expected())]
    InvalidTimestamp {
        /// The timestamp as written.
        text: String,
        /// The unit of the format's timestamps.
        unit: TimeUnit,
    },
    /// The timestamp does not fit 64 bits (of milliseconds, or of nanoseconds for line protocol).
    #[error("timestamp {text:?} is out of range (64-bit {})", unit.range())]
    TimestampOutOfRange {
        /// The timestamp as written.
        text: String,
        /// The unit of the format's timestamps.
        unit: TimeUnit,
    },
    /// Text where the line should end.
    #[error("unexpected text after {after}: {text:?}")]
    TextAfter {
        /// What the text follows.
        after: Part,
        /// The text, up to the end of the line.
        text: String,
    },

    /// OpenMetrics: a blank where the grammar has none (at the start or the end of a line, in a
    /// label set, a second blank or a tab between parts).
    #[error("unexpected blank: OpenMetrics separates the parts of a line with exactly one space")]
    UnexpectedBlank,
    /// OpenMetrics: something else where the space between two parts should be.
    #[error("expected ' ', found {found}")]
    ExpectedSpace {
        /// What is there instead.
        found: Found,
    },

    // Label sets.
    /// A `{` without its `}`.
    #[error("unterminated label set: missing '}}'")]
    UnterminatedLabelSet,
    /// Something else where a label name should start.
    #[error("expected a label name, found {found}")]
    ExpectedLabelName {
        /// What is there instead.
        found: Found,
    },
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {name:?}: a label name must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidLabelName {
        /// The name as written.
        name: String,
    },
    /// A label name not followed by `=`.
    #[error("expected '=' after label name {label:?}, found {found}")]
    ExpectedEquals {
        /// The label.
        label: String,
        /// What is there instead.
        found: Found,
    },
    /// A label's `=` not followed by a quoted value.
    #[error("expected '\"' to open the value of label {label:?}, found {found}")]
    ExpectedQuote {
        /// The label.
        label: String,
        /// What is there instead.
        found: Found,
    },
    /// A label value followed by something else than `,` or `}`.
    #[error("expected ',' or '}}' after the value of label {label:?}, found {found}")]
    ExpectedCommaOrBrace {
        /// The label.
        label: String,
        /// What is there instead.
        found: Found,
    },
    /// A label value without its closing quote.
    #[error("unterminated value of label {label:?}: missing closing '\"'")]
    UnterminatedLabelValue {
        /// The label.
        label: String,
    },
    /// A backslash in a label value before something else than `\`, `"` or `n`.
    #[error(
        "invalid escape sequence \"\\{}\" in the value of label {label:?} \
         (only \\\\, \\\" and \\n are allowed)",
        escaped.escape_debug()
    )]
    InvalidEscape {
        /// The label.
        label: String,
        /// The character after the backslash.
        escaped: char,
    },
    /// A label name given twice (`__name__` included).
    #[error("duplicate label {name:?}")]
    DuplicateLabel {
        /// The label name.
        name: String,
    },
    /// The labels do not make a valid label set.
    #[error(transparent)]
    Labels(#[from] LabelsError),

    // OpenMetrics.
    /// A line other than a blank one after `# EOF`.
    #[error("unexpected text after \"# EOF\" (line {eof_line}): the input must end there")]
    AfterEof {
        /// The line of `# EOF`.
        eof_line: usize,
    },
    /// An empty line in an OpenMetrics input (before `# EOF`).
    #[error("empty line: OpenMetrics input has no blank lines")]
    EmptyLine,
    /// A `#` line of OpenMetrics other than `# HELP`, `# TYPE`, `# UNIT` and `# EOF`.
    #[error("invalid comment: OpenMetrics has only \"# HELP\", \"# TYPE\", \"# UNIT\" and \"# EOF\" lines")]
    InvalidComment,
    /// `# HELP name` or `# UNIT name` without the space and text after the name.
    #[error("missing text after \"# {keyword} {name}\"")]
    MissingMetadataText {
        /// `HELP` or `UNIT`.
        keyword: &'static str,
        /// The metric name.
        name: String,
    },
    /// `# UNIT name unit` where `name` does not end in `_unit`.
    #[error("unit {unit:?} is not a suffix of metric name {name:?}")]
    UnitNotSuffix {
        /// The metric name.
        name: String,
        /// The unit.
        unit: String,
    },
    /// An OpenMetrics input that does not end with `# EOF`.
    #[error("unexpected end of input: OpenMetrics input must end with \"# EOF\"")]
    MissingEof,
    /// `# TYPE`, `# HELP` or `# UNIT` without a metric name.
    #[error("missing metric name after \"# {keyword}\"")]
    MissingMetadataName {
        /// `TYPE`, `HELP` or `UNIT`.
        keyword: &'static str,
    },
    /// `# TYPE`, `# HELP` or `# UNIT` with an invalid metric name.
    #[error("invalid metric name {name:?} in \"# {keyword}\" line")]
    InvalidMetadataName {
        /// `TYPE`, `HELP` or `UNIT`.
        keyword: &'static str,
        /// The name as written.
        name: String,
    },
    /// `# TYPE name` without a type.
    #[error("missing metric type after \"# TYPE {name}\"")]
    MissingMetricType {
        /// The metric name.
        name: String,
    },
    /// `# TYPE name type` with a type OpenMetrics 1.0 does not have.
    #[error("unknown metric type {text:?} (expected one of {})", crate::openmetrics::TYPES.join(", "))]
    UnknownMetricType {
        /// The type as written.
        text: String,
    },
    /// An exemplar's `#` not followed by `{`.
    #[error("expected '{{' after '#', found {found}")]
    ExpectedExemplarLabels {
        /// What is there instead.
        found: Found,
    },
    /// An exemplar on a sample whose metric name ends neither in `_total` nor in `_bucket`.
    #[error("metric name {name:?} does not support exemplars (only _total and _bucket samples have them)")]
    ExemplarNotAllowed {
        /// The sample's metric name.
        name: String,
    },
    /// Something wrong in the exemplar that ends a sample line.
    #[error("invalid exemplar: {0}")]
    Exemplar(Box<ErrorKind>),

    // Influx line protocol.
    /// A line starting with `,`.
    #[error("missing measurement name")]
    MissingMeasurement,
    /// A `,` not followed by a tag key.
    #[error("missing tag key after ','")]
    MissingTagKey,
    /// A tag key without `=value`.
    #[error("tag {key:?} has no value: expected '{key}=value'")]
    TagWithoutValue {
        /// The key as written.
        key: String,
    },
    /// `key=` with nothing after it.
    #[error("tag {key:?} has an empty value")]
    EmptyTagValue {
        /// The key as written.
        key: String,
    },
    /// The tag key `__name__` (after sanitizing).
    #[error("tag key \"__name__\" is reserved for the metric name")]
    ReservedTagKey,
    /// Two tags with the same label name (after sanitizing).
    #[error("duplicate tag {name:?} (after turning the tag keys into label names)")]
    DuplicateTag {
        /// The label name both become.
        name: String,
    },
    /// A line with a measurement but no fields.
    #[error("missing fields: expected 'field=value' after the measurement and tags")]
    MissingFields,
    /// Something else where a field key should start.
    #[error("expected a field key, found {found}")]
    ExpectedFieldKey {
        /// What is there instead.
        found: Found,
    },
    /// A field key without `=value`.
    #[error("field {key:?} has no value: expected '{key}=value'")]
    FieldWithoutValue {
        /// The key as written.
        key: String,
    },
    /// `key=` with nothing after it.
    #[error("field {key:?} has an empty value")]
    EmptyFieldValue {
        /// The key as written.
        key: String,
    },
    /// A string field value without its closing quote.
    #[error("unterminated string in field {key:?}: missing closing '\"'")]
    UnterminatedString {
        /// The key as written.
        key: String,
    },
    /// A string field, which no sample can hold.
    #[error("string field {key:?} cannot be stored as a sample")]
    StringField {
        /// The key as written.
        key: String,
    },
    /// Two fields with the same name (after sanitizing).
    #[error("duplicate field {key:?}")]
    DuplicateField {
        /// The second key as written.
        key: String,
    },
    /// `12xi`: not an integer.
    #[error("invalid integer field value {text:?}")]
    InvalidInteger {
        /// The value as written.
        text: String,
    },
    /// An integer beyond 64 bits.
    #[error("integer field value {text:?} is out of range (64-bit signed)")]
    IntegerOutOfRange {
        /// The value as written.
        text: String,
    },
    /// `-1u`: not an unsigned integer.
    #[error("invalid unsigned integer field value {text:?}")]
    InvalidUnsigned {
        /// The value as written.
        text: String,
    },
    /// An unsigned integer beyond 64 bits.
    #[error("unsigned integer field value {text:?} is out of range (64-bit unsigned)")]
    UnsignedOutOfRange {
        /// The value as written.
        text: String,
    },
    /// A float beyond the range of a 64-bit float.
    #[error("float field value {text:?} is out of the range of a 64-bit float")]
    FloatOutOfRange {
        /// The value as written.
        text: String,
    },
    /// A field value of no type.
    #[error(
        "invalid field value {text:?}: expected a float, an integer (12i), \
         an unsigned integer (12u), a boolean or a string"
    )]
    InvalidFieldValue {
        /// The value as written.
        text: String,
    },
}

/// The unit in which a format writes timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Integer milliseconds (the Prometheus text format).
    Milliseconds,
    /// Decimal seconds (OpenMetrics).
    Seconds,
    /// Integer nanoseconds (line protocol).
    Nanoseconds,
}

impl TimeUnit {
    /// What a timestamp should look like.
    fn expected(self) -> &'static str {
        match self {
            TimeUnit::Milliseconds => "integer milliseconds",
            TimeUnit::Seconds => "seconds since the epoch, like 1700000000.123",
            TimeUnit::Nanoseconds => "integer nanoseconds",
        }
    }

    /// What a timestamp must fit.
    fn range(self) -> &'static str {
        match self {
            TimeUnit::Milliseconds | TimeUnit::Seconds => "milliseconds",
            TimeUnit::Nanoseconds => "nanoseconds",
        }
    }
}

/// The part of a line that unexpected text follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The sample's value.
    Value,
    /// The sample's (or exemplar's) timestamp.
    Timestamp,
    /// The type of a `# TYPE` line.
    MetricType,
    /// `# EOF`.
    Eof,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Value => "the value",
            Part::Timestamp => "the timestamp",
            Part::MetricType => "the metric type",
            Part::Eof => "\"# EOF\"",
        })
    }
}

/// What was found where something else was expected: a character (printed quoted, `'c'`) or the end
/// of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Found {
    /// A character.
    Char(char),
    /// The end of the line.
    EndOfLine,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // As `{:?}` prints a char: `"` as it is, other quotes and controls escaped.
            Found::Char('"') => f.write_str("'\"'"),
            Found::Char(c) => write!(f, "'{}'", c.escape_debug()),
            Found::EndOfLine => f.write_str("end of line"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_line_and_reason() {
        let e = ParseError {
            line: 12,
            column: Some(3),
            kind: ErrorKind::MissingValue,
        };
        assert_eq!(e.to_string(), "line 12: missing value");
        assert_eq!(e.kind.to_string(), "missing value");
    }

    #[test]
    fn found_prints_quoted_characters() {
        assert_eq!(Found::Char('}').to_string(), "'}'");
        assert_eq!(Found::Char('\'').to_string(), "'\\''");
        assert_eq!(Found::Char('\t').to_string(), "'\\t'");
        for c in ['"', 'ü', '\u{301}', '\\', '\n'] {
            assert_eq!(Found::Char(c).to_string(), format!("{c:?}"));
        }
        assert_eq!(Found::EndOfLine.to_string(), "end of line");
    }

    #[test]
    fn nested_exemplar_errors() {
        let k = ErrorKind::Exemplar(Box::new(ErrorKind::InvalidValue { text: "x".into() }));
        assert_eq!(k.to_string(), "invalid exemplar: invalid value \"x\"");
    }
}
