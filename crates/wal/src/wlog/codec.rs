//! wlog records: a type byte, then the payload. Series, samples and tombstones payloads are exactly
//! [`crate::record`]'s simple codecs (samples deltas are signed varints, whatever `wal.md` draws);
//! Prometheus 3.x's `SamplesV2` float samples are decoded too (their start times dropped); the other types
//! (exemplars, mmap markers, metadata, histograms) are recognised, skipped and counted. Compression is per record: snappy (block format) when
//! that is smaller, as Prometheus writes it; zstd (Prometheus 3.x) is decoded only.

use std::io::Read;

use super::fragment::{FLAG_SNAPPY, FLAG_ZSTD};
use crate::record::RefSample;
use crate::varint::Cursor;

/// Record type 1: series.
pub const SERIES: u8 = 1;
/// Record type 2: float samples.
pub const SAMPLES: u8 = 2;
/// Record type 3: tombstones.
pub const TOMBSTONES: u8 = 3;
/// Record type 11: float samples in Prometheus 3.x's second encoding (with start times, which we drop).
pub const SAMPLES_V2: u8 = 11;

/// Largest record the reader decompresses (a record never crosses a segment, and segments are far smaller).
pub const MAX_RECORD_LEN: usize = 1 << 30;

/// Name of a record type byte, as Prometheus's `record.Type` prints it (`unknown` for others).
pub fn type_name(t: u8) -> &'static str {
    match t {
        1 => "series",
        2 => "samples",
        3 => "tombstones",
        4 => "exemplars",
        5 => "mmapmarkers",
        6 => "metadata",
        7 => "histogram_samples",
        8 => "float_histogram_samples",
        9 => "custom_buckets_histogram_samples",
        10 => "custom_buckets_float_histogram_samples",
        11 => "samples_v2",
        12 => "histogram_samples_v2",
        13 => "float_histogram_samples_v2",
        _ => "unknown",
    }
}

/// Whether `t` is a record type Prometheus (up to 3.x) writes that this crate does not store: exemplars,
/// mmap markers, metadata and native histograms (both encodings). They are skipped and counted.
pub fn is_skipped_type(t: u8) -> bool {
    (4..=10).contains(&t) || t == 12 || t == 13
}

/// Decodes a `SamplesV2` payload (after the type byte), appending to `out`. The first sample is
/// `varint ref | varint t | varint start time | value u64 BE`; each next one
/// `varint(ref − previous ref) | varint(t − first t) | start-time marker | value u64 BE`, the marker being
/// 0 (no start time), 1 (the previous sample's) or 2 followed by `varint(start time − first start time)`.
/// Start times are checked and dropped: the head does not store them.
pub fn decode_samples_v2(b: &[u8], out: &mut Vec<RefSample>) -> Result<(), String> {
    let mut c = Cursor::new(b);
    let start = out.len();
    out.reserve(c.remaining() / 10);
    let (mut first_t, mut first_st, mut prev_st, mut prev_ref) = (0i64, 0i64, 0i64, 0i64);
    while c.remaining() > 0 {
        let n = out.len() - start;
        let bad = || format!("truncated sample after {n} samples");
        let (r, t) = if n == 0 {
            let r = c.varint().ok_or_else(bad)?;
            first_t = c.varint().ok_or_else(bad)?;
            first_st = c.varint().ok_or_else(bad)?;
            prev_st = first_st;
            (r, first_t)
        } else {
            let r = prev_ref.wrapping_add(c.varint().ok_or_else(bad)?);
            let t = first_t.wrapping_add(c.varint().ok_or_else(bad)?);
            let marker = c.bytes(1).ok_or_else(bad)?[0];
            prev_st = match marker {
                0 => 0,
                1 => prev_st,
                2 => first_st.wrapping_add(c.varint().ok_or_else(bad)?),
                m => return Err(format!("invalid start-time marker {m} in sample {n}")),
            };
            (r, t)
        };
        let v = c.be64().ok_or_else(bad)?;
        prev_ref = r;
        out.push(RefSample {
            series: r as u64,
            t,
            v: f64::from_bits(v),
        });
    }
    Ok(())
}

/// Appends the snappy (block format) compression of `rec` to `out` if that is smaller than `rec`, as
/// Prometheus does; returns whether it did.
pub fn compress_snappy(enc: &mut snap::raw::Encoder, rec: &[u8], out: &mut Vec<u8>) -> bool {
    if rec.is_empty() {
        return false;
    }
    let at = out.len();
    out.resize(at + snap::raw::max_compress_len(rec.len()), 0);
    match enc.compress(rec, &mut out[at..]) {
        Ok(n) if n < rec.len() => {
            out.truncate(at + n);
            true
        }
        _ => {
            out.truncate(at);
            false
        }
    }
}

/// Decompresses record bytes assembled from fragments with header flags `flag` into `out` (cleared first).
/// The error says what was wrong.
pub fn decompress(
    flag: u8,
    raw: &[u8],
    snappy: &mut snap::raw::Decoder,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.clear();
    if flag & FLAG_SNAPPY != 0 {
        let n = snap::raw::decompress_len(raw).map_err(|e| format!("snappy: {e}"))?;
        if n > MAX_RECORD_LEN {
            return Err(format!("snappy record claims {n} bytes"));
        }
        out.resize(n, 0);
        let n = snappy
            .decompress(raw, out)
            .map_err(|e| format!("snappy: {e}"))?;
        out.truncate(n);
    } else if flag & FLAG_ZSTD != 0 {
        let mut src = raw;
        let dec =
            ruzstd::decoding::StreamingDecoder::new(&mut src).map_err(|e| format!("zstd: {e}"))?;
        let mut limited = dec.take(MAX_RECORD_LEN as u64 + 1);
        limited.read_to_end(out).map_err(|e| format!("zstd: {e}"))?;
        if out.len() > MAX_RECORD_LEN {
            return Err(format!("zstd record exceeds {MAX_RECORD_LEN} bytes"));
        }
        if !src.is_empty() {
            return Err(format!("{} bytes after the zstd frame", src.len()));
        }
    } else {
        out.extend_from_slice(raw);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappy_only_when_smaller() {
        let mut enc = snap::raw::Encoder::new();
        let mut out = Vec::new();
        assert!(!compress_snappy(&mut enc, b"\x02ab", &mut out));
        assert!(out.is_empty());
        let rec = vec![5u8; 1000];
        assert!(compress_snappy(&mut enc, &rec, &mut out));
        assert!(out.len() < rec.len());
        let mut back = Vec::new();
        decompress(FLAG_SNAPPY, &out, &mut snap::raw::Decoder::new(), &mut back).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn zstd_frames_decode_and_garbage_is_an_error() {
        let rec: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
        let z = ruzstd::encoding::compress_to_vec(
            &rec[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let mut back = Vec::new();
        let mut sd = snap::raw::Decoder::new();
        decompress(FLAG_ZSTD, &z, &mut sd, &mut back).unwrap();
        assert_eq!(back, rec);
        let mut bad = z.clone();
        bad.extend_from_slice(b"xx");
        assert!(decompress(FLAG_ZSTD, &bad, &mut sd, &mut back).is_err());
        assert!(decompress(FLAG_ZSTD, &z[..z.len() / 2], &mut sd, &mut back).is_err());
        assert!(decompress(FLAG_SNAPPY, b"\xff\xff\xff", &mut sd, &mut back).is_err());
    }

    /// Our own encoder of the `SamplesV2` layout, written from its description, to test the decoder.
    fn encode_v2(samples: &[(u64, i64, i64, f64)]) -> Vec<u8> {
        use crate::varint::put_varint;
        let mut b = Vec::new();
        let Some(&(r0, t0, st0, v0)) = samples.first() else {
            return b;
        };
        put_varint(&mut b, r0 as i64);
        put_varint(&mut b, t0);
        put_varint(&mut b, st0);
        b.extend_from_slice(&v0.to_bits().to_be_bytes());
        for w in samples.windows(2) {
            let ((pr, _, pst, _), (r, t, st, v)) = (w[0], w[1]);
            put_varint(&mut b, (r as i64).wrapping_sub(pr as i64));
            put_varint(&mut b, t.wrapping_sub(t0));
            if st == 0 {
                b.push(0);
            } else if st == pst {
                b.push(1);
            } else {
                b.push(2);
                put_varint(&mut b, st.wrapping_sub(st0));
            }
            b.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        b
    }

    #[test]
    fn samples_v2_decode() {
        let input = [
            (7u64, 1_000i64, 900i64, 1.5f64),
            (7, 2_000, 900, f64::NAN),
            (3, 1_500, 0, -0.0),
            (u64::MAX, i64::MIN, 5, f64::INFINITY),
            (0, i64::MAX, 77, 2.0),
        ];
        let b = encode_v2(&input);
        let mut out = Vec::new();
        decode_samples_v2(&b, &mut out).unwrap();
        assert_eq!(out.len(), input.len());
        for (o, i) in out.iter().zip(&input) {
            assert_eq!((o.series, o.t, o.v.to_bits()), (i.0, i.1, i.3.to_bits()));
        }
        decode_samples_v2(&[], &mut out).unwrap();
        // A cut inside a sample is an error; a cut between samples is a shorter record.
        let mut boundaries = 0;
        for cut in 1..b.len() {
            let mut v = Vec::new();
            if decode_samples_v2(&b[..cut], &mut v).is_ok() {
                boundaries += 1;
                assert!(
                    v.len() < input.len() && v[..] == out[..v.len()],
                    "cut at {cut}"
                );
            }
        }
        assert_eq!(boundaries, input.len() - 1);
        let mut bad = encode_v2(&input[..2]);
        let marker_at = bad.len() - 9;
        bad[marker_at] = 3;
        assert!(decode_samples_v2(&bad, &mut out)
            .unwrap_err()
            .contains("marker"));
    }

    #[test]
    fn type_names() {
        assert_eq!(type_name(SERIES), "series");
        assert_eq!(type_name(TOMBSTONES), "tombstones");
        assert!(is_skipped_type(4) && is_skipped_type(10) && is_skipped_type(13));
        assert!(
            !is_skipped_type(2)
                && !is_skipped_type(11)
                && !is_skipped_type(14)
                && !is_skipped_type(0)
        );
    }
}
