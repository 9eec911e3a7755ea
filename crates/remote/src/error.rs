//! Errors of decoding remote protocol messages.

/// What was wrong with a remote request or response, and where.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The snappy block is malformed.
    #[error("snappy block: {0}")]
    Snappy(#[from] snap::Error),
    /// The snappy block declares more decoded bytes than allowed; nothing was allocated for it.
    #[error("snappy block declares {declared} decoded bytes, more than the limit of {limit}")]
    TooLarge {
        /// Length the block's header declares.
        declared: usize,
        /// The limit.
        limit: usize,
    },
    /// The protobuf message does not decode.
    #[error("protobuf {message}: {source}")]
    Protobuf {
        /// Which message was being decoded.
        message: &'static str,
        /// The decoder's error.
        #[source]
        source: prost::DecodeError,
    },
    /// The protobuf message does not decode (found by a decoder of this crate rather than `prost`'s).
    #[error("protobuf {message}: {reason}")]
    Malformed {
        /// Which message was being decoded.
        message: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A 2.0 label reference points outside the symbols table.
    #[error("timeseries[{series}].labels_refs[{index}] = {reference} is outside the symbols table of {symbols} entries")]
    BadSymbolRef {
        /// Index of the series in the request.
        series: usize,
        /// Index in `labels_refs`.
        index: usize,
        /// The reference.
        reference: u32,
        /// Length of the symbols table.
        symbols: usize,
    },
    /// A 2.0 series has an odd number of label references.
    #[error("timeseries[{series}].labels_refs has {len} entries, not name/value pairs")]
    OddLabelRefs {
        /// Index of the series in the request.
        series: usize,
        /// Number of references.
        len: usize,
    },
    /// The first symbol of a 2.0 request must be the empty string.
    #[error("symbols[0] must be the empty string, found {found:?}")]
    FirstSymbolNotEmpty {
        /// What was found.
        found: String,
    },
    /// A body with the fields of a 2.0 request was sent as 1.0.
    #[error("the body holds io.prometheus.write.v2.Request fields (symbols, timeseries) but Content-Type says remote write 1.0; send it with Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request")]
    WrongVersion,
    /// A chunked read frame is damaged.
    #[error("chunked frame at byte {offset}: {reason}")]
    Frame {
        /// Offset of the frame in the stream.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
}
