//! The one error type of the crate.

/// Why a label set, a matcher or a selector was rejected.
///
/// Every variant names the offending input (the label name, the pattern or the byte
/// position in the selector) so that the message can be shown to a user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {name:?}: a label name must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidName {
        /// The rejected name, as given.
        name: String,
    },
    /// Two labels of one set have the same name (after dropping empty values).
    #[error("duplicate label name {name:?}")]
    DuplicateName {
        /// The name that appears more than once.
        name: String,
    },
    /// The encoded label set would exceed 4 GiB, the limit of its offsets.
    #[error("label set too large: {size} bytes of names and values (limit 4 GiB)")]
    TooLarge {
        /// The number of bytes the names, values and separators would take.
        size: usize,
    },
    /// A regular-expression matcher's pattern does not compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    InvalidRegex {
        /// The pattern as given (before anchoring).
        pattern: String,
        /// The regex compiler's explanation.
        reason: String,
    },
    /// A series selector or label-set text is malformed.
    #[error("invalid selector at byte {pos}: {reason}")]
    Parse {
        /// Byte offset into the input where the problem was found.
        pos: usize,
        /// What was found and what was expected there.
        reason: String,
    },
    /// Every matcher of a selector matches the empty string, so it would select every series.
    #[error("vector selector must contain at least one non-empty matcher")]
    EmptySelector,
}
