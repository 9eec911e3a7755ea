//! wlog records: a type byte, then the payload. Series, samples and tombstones payloads are exactly
//! [`crate::record`]'s simple codecs (samples deltas are signed varints, whatever `wal.md` draws); the
//! other types are recognised, skipped and counted. Compression is per record: snappy (block format) when
//! that is smaller, as Prometheus writes it; zstd (Prometheus 3.x) is decoded only.

use std::io::Read;

use super::fragment::{FLAG_SNAPPY, FLAG_ZSTD};

/// Record type 1: series.
pub const SERIES: u8 = 1;
/// Record type 2: float samples.
pub const SAMPLES: u8 = 2;
/// Record type 3: tombstones.
pub const TOMBSTONES: u8 = 3;

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
/// mmap markers, metadata, native histograms and the v2 sample encodings. They are skipped and counted.
pub fn is_skipped_type(t: u8) -> bool {
    (4..=13).contains(&t)
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

    #[test]
    fn type_names() {
        assert_eq!(type_name(SERIES), "series");
        assert_eq!(type_name(TOMBSTONES), "tombstones");
        assert!(is_skipped_type(4) && is_skipped_type(13));
        assert!(!is_skipped_type(2) && !is_skipped_type(14) && !is_skipped_type(0));
    }
}
