//! The XOR ("Gorilla") float chunk codec, bit-identical to Prometheus's `chunkenc.XORChunk`.
//!
//! Layout: a 2-byte big-endian sample count, then a bit stream. The first sample is a zig-zag varint
//! timestamp and the raw 64 value bits; the second a uvarint timestamp delta and an XOR-coded value;
//! every later one a delta-of-delta timestamp in one of five bit buckets and an XOR-coded value.
//! Timestamp arithmetic wraps like Go's, so any `i64` sequence (even out of order) round-trips.
//!
//! One file per part: the encoder ([`appender`]); the iterator that buffers samples and picks the
//! decoder ([`iter`]); and the decoders, all on one shared state: bit by bit ([`bit_by_bit`], the
//! reference, and for what the others leave), the first two samples from bytes
//! ([`first_samples`]), the portable batch loop ([`portable_batch`]) and its x86-64 assembly
//! version (`asm_x86_64`, feature `asm`). The tests in `agreement_tests` run them all on the same
//! bytes.

mod appender;
#[cfg(all(feature = "asm", target_arch = "x86_64", not(miri)))]
mod asm_x86_64;
mod bit_by_bit;
mod first_samples;
mod iter;
mod portable_batch;

#[cfg(test)]
mod agreement_tests;

pub use appender::XorChunk;
pub use iter::{DecodePath, XorIter};

/// Size of the sample-count header.
pub(crate) const HEADER: usize = 2;
