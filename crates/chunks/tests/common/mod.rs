//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `testdata/chunks` at the workspace root.
pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/chunks")
}

/// Samples as (timestamp, value bits), so NaNs compare exactly.
pub type Bits = Vec<(i64, u64)>;

/// Decodes a whole XOR chunk into bit-exact samples, with every decoder this build and CPU can
/// run (bit by bit, portable batch loop, x86-64 assembly), and checks that they agree.
pub fn decode(bytes: &[u8]) -> Bits {
    let mut decoded = tsdb_chunks::DecodePath::available()
        .into_iter()
        .map(|path| {
            let samples = tsdb_chunks::XorIter::with_path(bytes, path)
                .expect("available")
                .expect("header")
                .map(|s| s.map(|(t, v)| (t, v.to_bits())))
                .collect::<Result<Bits, _>>()
                .expect("decodes");
            (path, samples)
        });
    let (first, want) = decoded
        .next()
        .expect("the bit-by-bit decoder is always available");
    for (path, got) in decoded {
        assert_eq!(got, want, "{path:?} and {first:?} decode differently");
    }
    want
}

/// Encodes bit-exact samples into chunk bytes.
pub fn encode(samples: &[(i64, u64)]) -> Vec<u8> {
    let mut c = tsdb_chunks::XorChunk::new();
    for &(t, v) in samples {
        c.append(t, f64::from_bits(v)).expect("room");
    }
    c.into_bytes()
}

/// FNV-1a 64 over each sample's timestamp and value bits, 8 little-endian bytes each.
pub fn fnv(samples: &[(i64, u64)]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &(t, v) in samples {
        for b in (t as u64).to_le_bytes().into_iter().chain(v.to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
