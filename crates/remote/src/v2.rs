//! Remote write 2.0 messages (`prompb/io/prometheus/write/v2/types.proto`, package `io.prometheus.write.v2`):
//! label names and values are references into one symbols table per request.

use crate::error::RemoteError;

/// `io.prometheus.write.v2.Request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// The symbols table; entry 0 is the empty string.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// `io.prometheus.write.v2.TimeSeries`. Metadata (field 5) is skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Name, value, name, value... as indexes into [`Request::symbols`].
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histograms (counted and rejected: the engine stores floats only).
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<crate::v1::Histogram>,
    /// Exemplars (counted, not stored).
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
}

/// `io.prometheus.write.v2.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value, bit for bit.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// Start (created) timestamp, 0 when unknown.
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

/// `io.prometheus.write.v2.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Label references.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Its timestamp.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

impl Request {
    /// Decodes an uncompressed request and checks its symbols table's first entry.
    pub fn decode_bytes(b: &[u8]) -> Result<Request, RemoteError> {
        let r = <Request as prost::Message>::decode(b).map_err(|source| RemoteError::Protobuf {
            message: "io.prometheus.write.v2.Request",
            source,
        })?;
        if let Some(first) = r.symbols.first() {
            if !first.is_empty() {
                return Err(RemoteError::FirstSymbolNotEmpty {
                    found: first.clone(),
                });
            }
        }
        Ok(r)
    }

    /// The label pairs of series `i`, resolved through the symbols table.
    pub fn labels(&self, i: usize) -> Result<Vec<(&str, &str)>, RemoteError> {
        let refs = self
            .timeseries
            .get(i)
            .map(|t| &t.labels_refs[..])
            .unwrap_or(&[]);
        if !refs.len().is_multiple_of(2) {
            return Err(RemoteError::OddLabelRefs {
                series: i,
                len: refs.len(),
            });
        }
        let sym = |index: usize| {
            let reference = refs[index];
            self.symbols
                .get(reference as usize)
                .map(String::as_str)
                .ok_or(RemoteError::BadSymbolRef {
                    series: i,
                    index,
                    reference,
                    symbols: self.symbols.len(),
                })
        };
        (0..refs.len() / 2)
            .map(|k| Ok((sym(2 * k)?, sym(2 * k + 1)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn round_trip_and_symbols() {
        let r = Request {
            symbols: vec!["".into(), "__name__".into(), "up".into()],
            timeseries: vec![TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![Sample {
                    value: 3.0,
                    timestamp: 7,
                    start_timestamp: 0,
                }],
                ..Default::default()
            }],
        };
        let back = Request::decode_bytes(&r.encode_to_vec()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.labels(0).unwrap(), vec![("__name__", "up")]);
        let mut bad = r.clone();
        bad.timeseries[0].labels_refs = vec![1, 9];
        assert!(matches!(
            bad.labels(0),
            Err(RemoteError::BadSymbolRef { reference: 9, .. })
        ));
        bad.timeseries[0].labels_refs = vec![1];
        assert!(matches!(
            bad.labels(0),
            Err(RemoteError::OddLabelRefs { .. })
        ));
    }

    #[test]
    fn decodes_hand_encoded_bytes() {
        // symbols (field 4): "", "a", "b"; timeseries (field 5): labels_refs packed [1, 2], sample value 1.0 t 3.
        let mut b = vec![0x22, 0x00, 0x22, 0x01, b'a', 0x22, 0x01, b'b'];
        let mut sample = vec![0x09];
        sample.extend_from_slice(&1.0f64.to_le_bytes());
        sample.extend_from_slice(&[0x10, 0x03]);
        let mut ts = vec![0x0a, 0x02, 0x01, 0x02, 0x12, sample.len() as u8];
        ts.extend_from_slice(&sample);
        b.push(0x2a);
        b.push(ts.len() as u8);
        b.extend_from_slice(&ts);
        let r = Request::decode_bytes(&b).unwrap();
        assert_eq!(r.labels(0).unwrap(), vec![("a", "b")]);
        assert_eq!(r.timeseries[0].samples[0].timestamp, 3);
        // A first symbol that is not empty.
        assert!(matches!(
            Request::decode_bytes(&[0x22, 0x01, b'x']),
            Err(RemoteError::FirstSymbolNotEmpty { .. })
        ));
    }
}
