//! Remote read messages (`prompb/remote.proto`, `prompb/types.proto`).

use crate::error::RemoteError;
use crate::v1::{Label, TimeSeries};

/// `prometheus.ReadRequest`: queries and the response types the client accepts, best first.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    /// The queries.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// Accepted response types; empty means `SAMPLES`.
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `prometheus.ReadRequest.ResponseType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// One snappy-compressed [`ReadResponse`] holding every sample.
    Samples = 0,
    /// A stream of framed [`ChunkedReadResponse`]s holding XOR chunks.
    StreamedXorChunks = 1,
}

/// `prometheus.Query`. Hints (field 4) are skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    /// Start, inclusive, ms.
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// End, inclusive, ms.
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// Matchers, all of which a series must satisfy.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
}

/// `prometheus.LabelMatcher`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LabelMatcher {
    /// The operator.
    #[prost(enumeration = "MatchType", tag = "1")]
    pub r#type: i32,
    /// Label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Value or regular expression.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.LabelMatcher.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchType {
    /// `=`
    Eq = 0,
    /// `!=`
    Neq = 1,
    /// `=~`
    Re = 2,
    /// `!~`
    Nre = 3,
}

/// `prometheus.ReadResponse`: one result per query, same order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    /// The results.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// `prometheus.QueryResult`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.ChunkedReadResponse`: one frame of a streamed response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedReadResponse {
    /// Series (or parts of one) of the query.
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    /// Which query of the request these belong to.
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

/// `prometheus.ChunkedSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedSeries {
    /// Labels, sorted.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Chunks, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// `prometheus.Chunk`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chunk {
    /// First timestamp in the chunk.
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    /// Last timestamp in the chunk.
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    /// Its encoding; this server sends [`ChunkEncoding::Xor`].
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    /// The encoded chunk, as in a block's chunk file.
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// `prometheus.Chunk.Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    /// Unknown.
    Unknown = 0,
    /// XOR (Gorilla) floats.
    Xor = 1,
    /// Native histograms.
    Histogram = 2,
    /// Float native histograms.
    FloatHistogram = 3,
}

impl ReadRequest {
    /// Decodes an uncompressed request.
    pub fn decode_bytes(b: &[u8]) -> Result<ReadRequest, RemoteError> {
        <ReadRequest as prost::Message>::decode(b).map_err(|source| RemoteError::Protobuf {
            message: "prometheus.ReadRequest",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn round_trips() {
        let req = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: -10,
                end_timestamp_ms: 100,
                matchers: vec![LabelMatcher {
                    r#type: MatchType::Nre as i32,
                    name: "job".into(),
                    value: "a.*".into(),
                }],
            }],
            accepted_response_types: vec![ResponseType::StreamedXorChunks as i32],
        };
        assert_eq!(
            ReadRequest::decode_bytes(&req.encode_to_vec()).unwrap(),
            req
        );
        let resp = ChunkedReadResponse {
            chunked_series: vec![ChunkedSeries {
                labels: vec![Label::new("a", "b")],
                chunks: vec![Chunk {
                    min_time_ms: 1,
                    max_time_ms: 2,
                    r#type: ChunkEncoding::Xor as i32,
                    data: vec![0, 1, 2],
                }],
            }],
            query_index: 3,
        };
        assert_eq!(
            ChunkedReadResponse::decode(&resp.encode_to_vec()[..]).unwrap(),
            resp
        );
    }

    #[test]
    fn decodes_hand_encoded_query() {
        // queries (1): { start (1) = 5, end (2) = 6, matchers (3): { type (1) = RE, name (2) "a", value (3) "b" } },
        // accepted_response_types (2) packed [1].
        let m = [0x08, 0x02, 0x12, 0x01, b'a', 0x1a, 0x01, b'b'];
        let mut q = vec![0x08, 0x05, 0x10, 0x06, 0x1a, m.len() as u8];
        q.extend_from_slice(&m);
        let mut b = vec![0x0a, q.len() as u8];
        b.extend_from_slice(&q);
        b.extend_from_slice(&[0x12, 0x01, 0x01]);
        let r = ReadRequest::decode_bytes(&b).unwrap();
        assert_eq!(r.queries[0].start_timestamp_ms, 5);
        assert_eq!(r.queries[0].matchers[0].r#type, MatchType::Re as i32);
        assert_eq!(r.accepted_response_types, vec![1]);
    }
}
