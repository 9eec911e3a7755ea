//! The chunk encoding byte stored in front of every chunk in block and head chunk files.

use std::fmt;

/// A chunk encoding as numbered by Prometheus (`chunkenc.Encoding`).
///
/// Files carry whatever byte was written; readers hand it out unchanged, so chunks of encodings this
/// crate does not decode (histograms) still pass through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Encoding(pub u8);

impl Encoding {
    /// No encoding (never written by Prometheus into files).
    pub const NONE: Encoding = Encoding(0);
    /// XOR float chunks ([`crate::XorChunk`]).
    pub const XOR: Encoding = Encoding(1);
    /// Native histogram chunks.
    pub const HISTOGRAM: Encoding = Encoding(2);
    /// Float histogram chunks.
    pub const FLOAT_HISTOGRAM: Encoding = Encoding(3);
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Encoding::NONE => f.write_str("none"),
            Encoding::XOR => f.write_str("XOR"),
            Encoding::HISTOGRAM => f.write_str("histogram"),
            Encoding::FLOAT_HISTOGRAM => f.write_str("floathistogram"),
            Encoding(other) => write!(f, "<unknown encoding {other}>"),
        }
    }
}
