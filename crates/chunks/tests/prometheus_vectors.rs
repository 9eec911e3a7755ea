//! Bit identity with Prometheus's encoder: `testdata/chunks/xor_vectors.txt` holds chunks that
//! Prometheus v2.42.0's own `chunkenc` code encoded (see the README there), with a hash of the
//! samples that went in. Every chunk must decode to those samples and re-encode to the same bytes.

mod common;
use common::*;

#[test]
fn chunks_encoded_by_prometheus_round_trip_bit_identically() {
    let text = std::fs::read_to_string(testdata().join("xor_vectors.txt")).expect("vectors");
    let mut n = 0;
    let mut samples_total = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (hash, hex) = line.split_once(' ').expect("two fields");
        let want_hash = u64::from_str_radix(hash, 16).expect("hash");
        let bytes = unhex(hex);
        let samples = decode(&bytes);
        assert_eq!(
            fnv(&samples),
            want_hash,
            "vector {n}: decoded samples differ"
        );
        assert_eq!(encode(&samples), bytes, "vector {n}: re-encoding differs");
        let reopened = tsdb_chunks::XorChunk::from_bytes(&bytes).expect("from_bytes");
        assert_eq!(
            reopened.bytes(),
            &bytes[..],
            "vector {n}: from_bytes changed bytes"
        );
        samples_total += samples.len();
        n += 1;
    }
    assert_eq!(n, 192);
    assert!(samples_total > 10_000, "{samples_total}");
}
