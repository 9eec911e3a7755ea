//! The Prometheus remote protocols on the wire: remote write 1.0 ([`v1::WriteRequest`]), remote write 2.0
//! ([`v2::Request`] with its symbols table), remote read ([`read`]), the snappy block codec every one of them
//! is compressed with ([`snappy`]), OTLP metrics export messages ([`otlp`]) and the length-and-CRC framing of streamed read responses ([`frame`]).
//!
//! Messages are hand-written `prost` derives that follow `prompb/types.proto`, `prompb/remote.proto` and
//! `prompb/io/prometheus/write/v2/types.proto` of prometheus/prometheus field number for field number; fields
//! this crate has no use for (metadata, histogram buckets) are left out and skipped when decoding. It knows
//! nothing of databases or HTTP: `tsdb-server` joins it with those.

pub mod error;
pub mod frame;
pub mod otlp;
pub mod read;
pub mod snappy;
pub mod v1;
pub mod v2;

pub use error::RemoteError;
pub use prost::Message;
