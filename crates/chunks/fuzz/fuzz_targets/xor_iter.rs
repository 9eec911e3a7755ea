//! Arbitrary bytes as an XOR chunk: decoding, seeking and reopening for append must never panic,
//! and whatever decodes must re-encode to a chunk that decodes to the same samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_chunks::{XorChunk, XorIter};

fuzz_target!(|data: &[u8]| {
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
