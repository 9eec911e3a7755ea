//! Remote write 1.0 messages (`prompb/remote.proto`, `prompb/types.proto`, package `prometheus`).

use crate::error::RemoteError;

/// `prometheus.WriteRequest`: a batch of series with their samples. Metadata (field 3) is skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: a label set and its samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars (counted, not stored).
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histograms (counted and rejected: the engine stores floats only).
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value, bit for bit (stale markers included).
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Its labels.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Its timestamp.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.Histogram`, of which only the timestamp is decoded (buckets are skipped): enough to say which
/// histogram was not stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Its timestamp.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
}

impl WriteRequest {
    /// Decodes an uncompressed `WriteRequest`.
    pub fn decode_bytes(b: &[u8]) -> Result<WriteRequest, RemoteError> {
        <WriteRequest as prost::Message>::decode(b).map_err(|source| RemoteError::Protobuf {
            message: "prometheus.WriteRequest",
            source,
        })
    }
}

/// Whether an uncompressed body carries, at its top level, the length-delimited fields 4 or 5 that only an
/// `io.prometheus.write.v2.Request` has (symbols, timeseries): a 2.0 body sent with a 1.0 content type,
/// which a 1.0 decoder would otherwise skip as unknown and accept as empty.
pub fn has_v2_fields(mut b: &[u8]) -> bool {
    use prost::encoding::{decode_key, decode_varint, WireType};
    while !b.is_empty() {
        let Ok((tag, wire)) = decode_key(&mut b) else {
            return false;
        };
        if matches!(tag, 4 | 5) && wire == WireType::LengthDelimited {
            return true;
        }
        let skip = match wire {
            WireType::Varint => decode_varint(&mut b).map(|_| 0),
            WireType::SixtyFourBit => Ok(8),
            WireType::ThirtyTwoBit => Ok(4),
            WireType::LengthDelimited => decode_varint(&mut b),
            _ => return false,
        };
        match skip {
            Ok(n) if (n as usize) <= b.len() => b = &b[n as usize..],
            _ => return false,
        }
    }
    false
}

impl Label {
    /// A label.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn round_trip() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::new("__name__", "up"), Label::new("job", "node")],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: 1000,
                    },
                    Sample {
                        value: f64::from_bits(0x7ff0000000000002),
                        timestamp: -5,
                    },
                ],
                ..Default::default()
            }],
        };
        let b = req.encode_to_vec();
        let back = WriteRequest::decode_bytes(&b).unwrap();
        assert_eq!(back.timeseries[0].labels, req.timeseries[0].labels);
        assert_eq!(
            back.timeseries[0].samples[1].value.to_bits(),
            0x7ff0000000000002
        );
        assert_eq!(back.timeseries[0].samples[1].timestamp, -5);
    }

    /// Bytes written by hand from the .proto field numbers and wire types.
    #[test]
    fn decodes_hand_encoded_bytes() {
        let mut label = vec![0x0a, 2, b'a', b'b', 0x12, 1, b'c']; // name=1 "ab", value=2 "c"
        let mut sample = vec![0x09]; // value: field 1, 64-bit
        sample.extend_from_slice(&2.5f64.to_le_bytes());
        sample.extend_from_slice(&[0x10, 0xe8, 0x07]); // timestamp: field 2, varint 1000
        let mut ts = vec![0x0a, label.len() as u8];
        ts.append(&mut label);
        ts.push(0x12);
        ts.push(sample.len() as u8);
        ts.extend_from_slice(&sample);
        // An unknown field 3 of the request (metadata) that must be skipped.
        let mut req = vec![0x1a, 0x00, 0x0a, ts.len() as u8];
        req.extend_from_slice(&ts);
        let r = WriteRequest::decode_bytes(&req).unwrap();
        assert_eq!(r.timeseries.len(), 1);
        assert_eq!(r.timeseries[0].labels, vec![Label::new("ab", "c")]);
        assert_eq!(
            r.timeseries[0].samples,
            vec![Sample {
                value: 2.5,
                timestamp: 1000
            }]
        );
        assert!(WriteRequest::decode_bytes(&[0x0a, 0x05, 0x00]).is_err());
        assert!(!has_v2_fields(&req));
        // symbols (field 4) "" as a 2.0 body starts.
        assert!(has_v2_fields(&[0x22, 0x00]));
    }
}
