//! Errors the binary reports, and the exit status each one gives.
//!
//! Commands return `anyhow::Result`. An error that needs a particular exit status or a hint is a
//! [`CliError`] inside the `anyhow::Error`; anything else (an I/O error, say) is a failure (exit 1) and is
//! printed with its chain of causes.

use std::fmt;
use std::io;

/// Exit status of a failed command (a damaged WAL, an I/O error, ...).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a usage or input error (a missing directory, a bad argument, input that stopped a
/// command before it wrote anything); clap uses it too.
pub const EXIT_USAGE: u8 = 2;
/// Exit status of a command that wrote what it could but rejected some input (bad lines, samples the
/// database refused), each reported on stderr.
pub const EXIT_REJECTED: u8 = 3;

/// An error with a chosen exit status and an optional hint on what to do about it.
#[derive(Debug)]
pub struct CliError {
    /// Exit status.
    pub code: u8,
    /// Printed as `error: MESSAGE`.
    pub message: String,
    /// Printed as `hint: HINT` on the next line.
    pub hint: Option<String>,
}

impl CliError {
    /// A usage or input error (exit status 2).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
            hint: None,
        }
    }

    /// A failure (exit status 1).
    pub fn failure(message: impl Into<String>) -> CliError {
        CliError {
            code: EXIT_FAILURE,
            message: message.into(),
            hint: None,
        }
    }

    /// Some input was rejected, the rest written (exit status 3).
    pub fn rejected(message: impl Into<String>) -> CliError {
        CliError {
            code: EXIT_REJECTED,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The exit status for `err`.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<CliError>()
        .map_or(EXIT_FAILURE, |e| e.code)
}

/// The one-line text of `err` and its causes, each cause once: a cause whose text the message already
/// contains (an error that prints its source, wrapped again by a context) is not repeated, and causes are
/// joined with `: `.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Whether `err` comes from writing to a pipe whose reader has gone (EPIPE).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&CliError::usage("x").into()), EXIT_USAGE);
        assert_eq!(exit_code(&CliError::failure("x").into()), EXIT_FAILURE);
        assert_eq!(exit_code(&anyhow::anyhow!("x")), EXIT_FAILURE);
        assert_eq!(exit_code(&CliError::rejected("x").into()), EXIT_REJECTED);
    }

    #[test]
    fn causes_are_printed_once() {
        #[derive(Debug)]
        struct Wrapping {
            source: io::Error,
        }
        impl fmt::Display for Wrapping {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "block b1: {}", self.source)
            }
        }
        impl std::error::Error for Wrapping {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.source)
            }
        }
        let inner = io::Error::other("index: corrupt at offset 12");
        let e = anyhow::Error::new(Wrapping { source: inner }).context("read block b1");
        assert_eq!(
            render(&e),
            "read block b1: block b1: index: corrupt at offset 12"
        );
        let plain = anyhow::anyhow!("x").context("y");
        assert_eq!(render(&plain), "y: x");
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let e = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}

/// A bad input line, reported as `FILE:LINE:COLUMN: REASON` (`FILE:LINE: REASON` without a column):
/// a parser's error, or a problem a command finds in a sample that parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, when the problem is at one place of the line.
    pub column: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl From<tsdb_textparse::ParseError> for BadLine {
    fn from(e: tsdb_textparse::ParseError) -> BadLine {
        BadLine {
            line: e.line,
            column: e.column,
            reason: e.kind.to_string(),
        }
    }
}
