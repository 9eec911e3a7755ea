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

/// A `prometheus.WriteRequest` decoded without copying a string: label names and values are byte ranges
/// of the decoded body, samples one flat list. `decode` clears and refills it keeping its capacity, so a
/// receiver that reuses one allocates nothing per request once it has grown to the largest request seen.
///
/// It accepts and refuses exactly what [`WriteRequest::decode_bytes`] does (strings must be UTF-8, wire
/// types must match the fields, unknown fields and metadata are skipped, a repeated scalar field keeps
/// its last value), counting exemplars and histograms instead of decoding them.
#[derive(Debug, Clone, Default)]
pub struct FlatWriteRequest {
    series: Vec<FlatSeries>,
    /// `[name_start, name_end, value_start, value_end]` in the body.
    labels: Vec<[u32; 4]>,
    samples: Vec<Sample>,
}

/// One `timeseries` entry of a [`FlatWriteRequest`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlatSeries {
    labels: (u32, u32),
    samples: (u32, u32),
    /// Number of exemplars it carries.
    pub exemplars: u32,
    /// Number of native histograms it carries.
    pub histograms: u32,
}

const WRITE_REQUEST: &str = "prometheus.WriteRequest";

fn malformed(reason: impl Into<String>) -> RemoteError {
    RemoteError::Malformed {
        message: WRITE_REQUEST,
        reason: reason.into(),
    }
}

fn from_prost(source: prost::DecodeError) -> RemoteError {
    RemoteError::Protobuf {
        message: WRITE_REQUEST,
        source,
    }
}

/// Reads one field key; `None` at the end of `b`. A one-byte key (every field of these messages) is read
/// here; anything else, errors included, by prost's decoder.
#[inline]
fn next_key(b: &mut &[u8]) -> Result<Option<(u32, prost::encoding::WireType)>, RemoteError> {
    use prost::encoding::WireType;
    let Some(&k) = b.first() else {
        return Ok(None);
    };
    if (8..0x80).contains(&k) {
        let wire = match k & 7 {
            0 => Some(WireType::Varint),
            1 => Some(WireType::SixtyFourBit),
            2 => Some(WireType::LengthDelimited),
            5 => Some(WireType::ThirtyTwoBit),
            _ => None,
        };
        if let Some(w) = wire {
            *b = &b[1..];
            return Ok(Some((u32::from(k >> 3), w)));
        }
    }
    prost::encoding::decode_key(b).map(Some).map_err(from_prost)
}

#[inline]
fn want(
    wire: prost::encoding::WireType,
    expected: prost::encoding::WireType,
    field: &str,
) -> Result<(), RemoteError> {
    if wire == expected {
        Ok(())
    } else {
        Err(malformed(format!(
            "invalid wire type {wire:?} for {field} (expected {expected:?})"
        )))
    }
}

/// A length-delimited field's bytes, advancing `b` past them.
#[inline]
fn delimited<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], RemoteError> {
    let len = match b.first() {
        Some(&n) if n < 0x80 => {
            *b = &b[1..];
            u64::from(n)
        }
        _ => prost::encoding::decode_varint(b).map_err(from_prost)?,
    };
    if len > b.len() as u64 {
        return Err(malformed("buffer underflow"));
    }
    let (head, tail) = b.split_at(len as usize);
    *b = tail;
    Ok(head)
}

#[inline]
fn skip(wire: prost::encoding::WireType, tag: u32, b: &mut &[u8]) -> Result<(), RemoteError> {
    prost::encoding::skip_field(wire, tag, b, prost::encoding::DecodeContext::default())
        .map_err(from_prost)
}

#[inline]
fn fixed64(b: &mut &[u8]) -> Result<u64, RemoteError> {
    if b.len() < 8 {
        return Err(malformed("buffer underflow"));
    }
    let (head, tail) = b.split_at(8);
    *b = tail;
    let mut w = [0u8; 8];
    w.copy_from_slice(head);
    Ok(u64::from_le_bytes(w))
}

/// A `Label` message: the ranges of its name and value within `body` (`base` is where `m` starts).
fn decode_label(body: &[u8], m: &[u8]) -> Result<[u32; 4], RemoteError> {
    use prost::encoding::WireType;
    let base = m.as_ptr() as usize - body.as_ptr() as usize;
    let mut out = [base as u32; 4];
    let mut b = m;
    while let Some((tag, wire)) = next_key(&mut b)? {
        match tag {
            1 | 2 => {
                want(wire, WireType::LengthDelimited, "Label.name/value")?;
                let s = delimited(&mut b)?;
                // Most names and values are ASCII, which is UTF-8: a cheaper test first.
                if !s.is_ascii() && std::str::from_utf8(s).is_err() {
                    return Err(malformed("invalid string value: data is not UTF-8 encoded"));
                }
                let start = (s.as_ptr() as usize - body.as_ptr() as usize) as u32;
                let i = if tag == 1 { 0 } else { 2 };
                out[i] = start;
                out[i + 1] = start + s.len() as u32;
            }
            _ => skip(wire, tag, &mut b)?,
        }
    }
    Ok(out)
}

fn decode_sample(m: &[u8]) -> Result<Sample, RemoteError> {
    use prost::encoding::WireType;
    let mut s = Sample::default();
    let mut b = m;
    while let Some((tag, wire)) = next_key(&mut b)? {
        match tag {
            1 => {
                want(wire, WireType::SixtyFourBit, "Sample.value")?;
                s.value = f64::from_bits(fixed64(&mut b)?);
            }
            2 => {
                want(wire, WireType::Varint, "Sample.timestamp")?;
                s.timestamp = prost::encoding::decode_varint(&mut b).map_err(from_prost)? as i64;
            }
            _ => skip(wire, tag, &mut b)?,
        }
    }
    Ok(s)
}

/// Checks an `Exemplar` as prost would decode it (labels, value, timestamp), keeping nothing.
fn check_exemplar(body: &[u8], m: &[u8]) -> Result<(), RemoteError> {
    use prost::encoding::WireType;
    let mut b = m;
    while let Some((tag, wire)) = next_key(&mut b)? {
        match tag {
            1 => {
                want(wire, WireType::LengthDelimited, "Exemplar.labels")?;
                decode_label(body, delimited(&mut b)?)?;
            }
            2 => {
                want(wire, WireType::SixtyFourBit, "Exemplar.value")?;
                fixed64(&mut b)?;
            }
            3 => {
                want(wire, WireType::Varint, "Exemplar.timestamp")?;
                prost::encoding::decode_varint(&mut b).map_err(from_prost)?;
            }
            _ => skip(wire, tag, &mut b)?,
        }
    }
    Ok(())
}

/// Checks a `Histogram` as [`Histogram`] decodes it (only its timestamp, field 15), keeping nothing.
fn check_histogram(m: &[u8]) -> Result<(), RemoteError> {
    use prost::encoding::WireType;
    let mut b = m;
    while let Some((tag, wire)) = next_key(&mut b)? {
        if tag == 15 {
            want(wire, WireType::Varint, "Histogram.timestamp")?;
            prost::encoding::decode_varint(&mut b).map_err(from_prost)?;
        } else {
            skip(wire, tag, &mut b)?;
        }
    }
    Ok(())
}

impl FlatWriteRequest {
    /// An empty request.
    pub fn new() -> FlatWriteRequest {
        FlatWriteRequest::default()
    }

    /// Decodes an uncompressed `WriteRequest` from `body`, replacing what this held. The ranges it keeps
    /// refer to `body`: pass the same bytes to [`labels`](Self::labels). On an error its content is
    /// unspecified (decode again before using it). Bodies over 4 GiB are refused.
    pub fn decode(&mut self, body: &[u8]) -> Result<(), RemoteError> {
        use prost::encoding::WireType;
        self.series.clear();
        self.labels.clear();
        self.samples.clear();
        if u32::try_from(body.len()).is_err() {
            return Err(malformed("message over 4 GiB"));
        }
        let mut b = body;
        while let Some((tag, wire)) = next_key(&mut b)? {
            if tag != 1 {
                skip(wire, tag, &mut b)?;
                continue;
            }
            want(wire, WireType::LengthDelimited, "WriteRequest.timeseries")?;
            let mut ts = delimited(&mut b)?;
            let mut s = FlatSeries {
                labels: (self.labels.len() as u32, 0),
                samples: (self.samples.len() as u32, 0),
                ..FlatSeries::default()
            };
            while let Some((tag, wire)) = next_key(&mut ts)? {
                match tag {
                    1 => {
                        want(wire, WireType::LengthDelimited, "TimeSeries.labels")?;
                        let l = decode_label(body, delimited(&mut ts)?)?;
                        self.labels.push(l);
                    }
                    2 => {
                        want(wire, WireType::LengthDelimited, "TimeSeries.samples")?;
                        let x = decode_sample(delimited(&mut ts)?)?;
                        self.samples.push(x);
                    }
                    3 => {
                        want(wire, WireType::LengthDelimited, "TimeSeries.exemplars")?;
                        check_exemplar(body, delimited(&mut ts)?)?;
                        s.exemplars += 1;
                    }
                    4 => {
                        want(wire, WireType::LengthDelimited, "TimeSeries.histograms")?;
                        check_histogram(delimited(&mut ts)?)?;
                        s.histograms += 1;
                    }
                    _ => skip(wire, tag, &mut ts)?,
                }
            }
            s.labels.1 = self.labels.len() as u32;
            s.samples.1 = self.samples.len() as u32;
            self.series.push(s);
        }
        Ok(())
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether there is no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The series, in request order.
    pub fn series(&self) -> &[FlatSeries] {
        &self.series
    }

    /// The label pairs of series `i` as they were sent (in request order, not checked), as slices of
    /// `body`, which must be the bytes given to [`decode`](Self::decode).
    ///
    /// # Panics
    /// If `i` is out of range, or `body` is shorter than the decoded one.
    pub fn labels<'a>(
        &'a self,
        body: &'a [u8],
        i: usize,
    ) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone + 'a {
        let (a, z) = self.series[i].labels;
        self.labels[a as usize..z as usize].iter().map(move |r| {
            // Checked as UTF-8 when decoded; a different `body` gives "" rather than garbage.
            let s =
                |x: u32, y: u32| std::str::from_utf8(&body[x as usize..y as usize]).unwrap_or("");
            (s(r[0], r[1]), s(r[2], r[3]))
        })
    }

    /// [`labels`](Self::labels) as bytes, without checking them as UTF-8 again (they were when decoded):
    /// the cheap form for hashing and comparing.
    ///
    /// # Panics
    /// If `i` is out of range, or `body` is shorter than the decoded one.
    pub fn label_bytes<'a>(
        &'a self,
        body: &'a [u8],
        i: usize,
    ) -> impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone + 'a {
        let (a, z) = self.series[i].labels;
        self.labels[a as usize..z as usize].iter().map(move |r| {
            (
                &body[r[0] as usize..r[1] as usize],
                &body[r[2] as usize..r[3] as usize],
            )
        })
    }

    /// The samples of series `i`, in request order.
    pub fn samples(&self, i: usize) -> &[Sample] {
        let (a, z) = self.series[i].samples;
        &self.samples[a as usize..z as usize]
    }

    /// Samples of all series.
    pub fn num_samples(&self) -> usize {
        self.samples.len()
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

    /// One series as a test compares it: labels, samples, exemplar and histogram counts.
    type Decoded = (Vec<Label>, Vec<Sample>, usize, usize);

    /// What `FlatWriteRequest` made of `b`, in `WriteRequest`'s terms (labels, samples, exemplar and
    /// histogram counts), or `None` if it refused it.
    fn flat(b: &[u8]) -> Option<Vec<Decoded>> {
        let mut f = FlatWriteRequest::new();
        f.decode(b).ok()?;
        Some(
            (0..f.len())
                .map(|i| {
                    (
                        f.labels(b, i).map(|(n, v)| Label::new(n, v)).collect(),
                        f.samples(i).to_vec(),
                        f.series()[i].exemplars as usize,
                        f.series()[i].histograms as usize,
                    )
                })
                .collect(),
        )
    }

    fn prost_view(b: &[u8]) -> Option<Vec<Decoded>> {
        let r = WriteRequest::decode_bytes(b).ok()?;
        Some(
            r.timeseries
                .into_iter()
                .map(|t| (t.labels, t.samples, t.exemplars.len(), t.histograms.len()))
                .collect(),
        )
    }

    fn sample_request() -> Vec<u8> {
        let ts = |name: &str, n: usize| TimeSeries {
            labels: vec![
                Label::new("__name__", name),
                Label::new("empty", ""),
                Label::new("job", "nöde"),
            ],
            samples: (0..n)
                .map(|k| Sample {
                    value: if k == 1 {
                        f64::from_bits(0x7ff0000000000002)
                    } else {
                        k as f64 * 1.5
                    },
                    timestamp: k as i64 * 15_000 - 7,
                })
                .collect(),
            exemplars: vec![Exemplar {
                labels: vec![Label::new("trace_id", "abc")],
                value: 1.0,
                timestamp: 5,
            }],
            histograms: vec![Histogram { timestamp: 9 }],
        };
        WriteRequest {
            timeseries: vec![ts("a", 3), ts("b", 0), TimeSeries::default(), ts("c", 1)],
        }
        .encode_to_vec()
    }

    type View = Option<Vec<(Vec<Label>, Vec<(u64, i64)>, usize, usize)>>;

    /// Sample values as bit patterns (NaN payloads compare unequal as f64).
    fn bits(v: Option<Vec<Decoded>>) -> View {
        v.map(|v| {
            v.into_iter()
                .map(|(l, s, e, h)| {
                    let s = s.iter().map(|s| (s.value.to_bits(), s.timestamp)).collect();
                    (l, s, e, h)
                })
                .collect()
        })
    }

    /// The flat decoder reads what prost reads, and refuses what prost refuses: on a request with every
    /// field, on each of its truncations, and on each single-byte change of it.
    #[test]
    fn flat_decoder_agrees_with_prost() {
        let b = sample_request();
        let want = prost_view(&b).unwrap();
        assert_eq!(want[0].1[1].value.to_bits(), 0x7ff0000000000002);
        assert_eq!(bits(flat(&b)), bits(Some(want)));
        for n in 0..b.len() {
            assert_eq!(
                bits(flat(&b[..n])),
                bits(prost_view(&b[..n])),
                "truncated to {n}"
            );
        }
        for i in 0..b.len() {
            for x in [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x7f, 0x80, 0xc3, 0xff] {
                let mut m = b.clone();
                m[i] = x;
                let (a, p) = (flat(&m), prost_view(&m));
                assert_eq!(bits(a), bits(p), "byte {i} set to {x:#x}");
            }
        }
    }

    /// Reused across requests, it forgets the previous one.
    #[test]
    fn flat_decoder_reuse() {
        let mut f = FlatWriteRequest::new();
        let b = sample_request();
        f.decode(&b).unwrap();
        assert_eq!(f.num_samples(), 4);
        f.decode(&[]).unwrap();
        assert!(f.is_empty());
        assert_eq!(f.num_samples(), 0);
        assert!(f.decode(&[0x0a, 0x05, 0x00]).is_err());
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
