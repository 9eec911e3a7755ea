//! Arbitrary bytes as an XOR chunk: decoding, seeking and reopening for append must never panic,
//! every decoder (bit by bit, portable batch loop, x86-64 assembly where it runs) must decode the
//! same samples and error, and whatever decodes must re-encode to a chunk that decodes to the same
//! samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_chunks::{DecodePath, XorChunk, XorIter};

/// Bit-exact samples with `path`'s decoders, and the error that ended them.
fn decode_with(data: &[u8], path: DecodePath) -> (Vec<(i64, u64)>, Option<String>) {
    let mut out = Vec::new();
    let Some(Ok(it)) = XorIter::with_path(data, path) else {
        return (out, None);
    };
    for s in it {
        match s {
            Ok((t, v)) => out.push((t, v.to_bits())),
            Err(e) => return (out, Some(e.to_string())),
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let reference = decode_with(data, DecodePath::BitByBit);
    for path in DecodePath::available() {
        assert_eq!(decode_with(data, path), reference, "{path:?}");
    }
    let Ok(it) = XorIter::new(data) else {
        return;
    };
    let mut samples = Vec::new();
    for s in it {
        match s {
            Ok((t, v)) => samples.push((t, v.to_bits())),
            Err(_) => break,
        }
    }
    // Whatever decoded re-encodes and decodes back to the same samples.
    let mut c = XorChunk::new();
    for &(t, v) in &samples {
        if c.append(t, f64::from_bits(v)).is_err() {
            return;
        }
    }
    let again: Vec<(i64, u64)> = c
        .iter()
        .map_while(Result::ok)
        .map(|(t, v)| (t, v.to_bits()))
        .collect();
    assert_eq!(again, samples);

    if let Ok(mut it) = XorIter::new(data) {
        let target = samples.get(samples.len() / 2).map_or(0, |s| s.0);
        let _ = it.seek(target);
        let _ = it.advance();
    }
    if let Ok(mut c) = XorChunk::from_bytes(data) {
        let _ = c.append(0, 0.5);
        let _ = c.iter().count();
    }
});
