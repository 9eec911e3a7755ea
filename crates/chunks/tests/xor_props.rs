//! Property tests of the XOR codec: realistic and arbitrary series round-trip bit-exactly, seek
//! agrees with a linear scan, reopened chunks continue identically, and no input bytes panic.

mod common;
use common::*;

use proptest::prelude::*;
use tsdb_chunks::{XorChunk, XorIter};

/// Counter: 15 s or 30 s scrapes with small jitter, increments (integer or not), rare resets.
fn counter() -> impl Strategy<Value = Bits> {
    (
        -(1i64 << 45)..(1i64 << 45),
        prop_oneof![Just(15_000i64), Just(30_000i64)],
        prop::collection::vec((-50i64..50, 0u32..1000, any::<bool>(), 0u8..200), 1..240),
    )
        .prop_map(|(t0, step, steps)| {
            let mut v = 0.0f64;
            let mut out = Vec::with_capacity(steps.len());
            for (i, (jitter, inc, frac, reset)) in steps.into_iter().enumerate() {
                if reset == 0 {
                    v = 0.0;
                }
                v += inc as f64 + if frac { inc as f64 / 7.0 } else { 0.0 };
                out.push((t0 + i as i64 * step + jitter, v.to_bits()));
            }
            out
        })
}

/// Gauge: random walk rounded to 2 decimals, any sign.
fn gauge() -> impl Strategy<Value = Bits> {
    (
        any::<i32>(),
        -1e6f64..1e6,
        prop::collection::vec(-500i32..500, 1..240),
    )
        .prop_map(|(t0, v0, steps)| {
            let mut v = (v0 * 100.0).round() / 100.0;
            steps
                .into_iter()
                .enumerate()
                .map(|(i, d)| {
                    v = ((v + d as f64 / 100.0) * 100.0).round() / 100.0;
                    (t0 as i64 + i as i64 * 15_000, v.to_bits())
                })
                .collect()
        })
}

/// Constant value, regular timestamps.
fn constant() -> impl Strategy<Value = Bits> {
    (any::<i64>(), any::<u64>(), 1i64..100_000, 1usize..240).prop_map(|(t0, v, step, n)| {
        (0..n)
            .map(|i| (t0.wrapping_add(i as i64 * step), v))
            .collect()
    })
}

/// Irregular, increasing timestamps with gaps from 1 ms to days.
fn irregular() -> impl Strategy<Value = Bits> {
    (
        any::<i64>(),
        prop::collection::vec((1i64..(1 << 33), any::<f64>()), 1..240),
    )
        .prop_map(|(t0, steps)| {
            let mut t = t0 >> 2;
            steps
                .into_iter()
                .map(|(gap, v)| {
                    t = t.wrapping_add(gap);
                    (t, v.to_bits())
                })
                .collect()
        })
}

/// Anything: any timestamps (unsorted, wrapping deltas), any value bit patterns (NaN payloads).
fn arbitrary() -> impl Strategy<Value = Bits> {
    prop::collection::vec(
        (
            any::<i64>(),
            prop_oneof![
                any::<u64>(),
                prop::sample::select(vec![
                    f64::NAN.to_bits(),
                    0x7ff0_0000_0000_0002,
                    0xfff8_0000_0000_0001,
                    f64::INFINITY.to_bits(),
                    f64::NEG_INFINITY.to_bits(),
                    (-0.0f64).to_bits(),
                    0,
                    1,
                    f64::MAX.to_bits(),
                ]),
            ],
        ),
        1..150,
    )
}

fn any_series() -> impl Strategy<Value = Bits> {
    prop_oneof![counter(), gauge(), constant(), irregular(), arbitrary()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trips_exactly(s in any_series()) {
        let bytes = encode(&s);
        prop_assert_eq!(decode(&bytes), s.clone());
        let it = XorIter::new(&bytes).unwrap();
        prop_assert_eq!(it.num_samples() as usize, s.len());
        // Re-encoding what was decoded reproduces the bytes.
        prop_assert_eq!(encode(&decode(&bytes)), bytes);
    }

    #[test]
    fn reopened_chunk_continues_identically(s in any_series(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(s.len() + 1);
        let head = encode(&s[..cut]);
        let mut c = XorChunk::from_bytes(&head).unwrap();
        prop_assert_eq!(c.bytes(), &head[..]);
        for &(t, v) in &s[cut..] {
            c.append(t, f64::from_bits(v)).unwrap();
        }
        prop_assert_eq!(c.bytes(), &encode(&s)[..]);
    }

    #[test]
    fn seek_matches_linear_scan(s in prop_oneof![counter(), gauge(), irregular()], probe in any::<prop::sample::Index>(), delta in -20_000i64..20_000) {
        let bytes = encode(&s);
        let target = s[probe.index(s.len())].0.saturating_add(delta);
        let mut it = XorIter::new(&bytes).unwrap();
        let found = it.seek(target).unwrap();
        let want = s.iter().find(|&&(t, _)| t >= target);
        prop_assert_eq!(found, want.is_some());
        if let Some(&(t, v)) = want {
            prop_assert_eq!((it.at().0, it.at().1.to_bits()), (t, v));
            // Seeking backwards stays put.
            prop_assert!(it.seek(i64::MIN).unwrap());
            prop_assert_eq!(it.at().0, t);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(mut it) = XorIter::new(&bytes) {
            let _ = it.seek(0);
            for _ in it.by_ref() {}
            let _ = it.advance();
        }
        let _ = XorChunk::from_bytes(&bytes);
    }

    #[test]
    fn damaged_chunks_never_panic(s in any_series(), flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4), cut in any::<prop::sample::Index>()) {
        let mut bytes = encode(&s);
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        if let Ok(it) = XorIter::new(&bytes) {
            let n = it.num_samples() as usize;
            let got: Vec<_> = it.collect();
            prop_assert!(got.len() <= n);
            // Decoding stops at the first error.
            prop_assert!(got.iter().rev().skip(1).all(|r| r.is_ok()));
        }
        if let Ok(mut c) = XorChunk::from_bytes(&bytes) {
            // A chunk that decodes can be appended to and still decodes.
            c.append(0, 1.0).unwrap_or(());
            let _ = decode(c.bytes());
        }
    }
}
