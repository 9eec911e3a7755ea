//! The decoders agree: each one this build and CPU can run ([`DecodePath::available`]: the
//! portable batch loop always, the x86-64 assembly loop where compiled in and supported) decodes
//! the same bytes, clean and damaged, to the same samples and the same error as the bit-by-bit
//! decoder, sample by sample and in batches.

use super::{DecodePath, XorChunk, XorIter};
use crate::error::DecodeError;

/// Bit-exact samples, and the error that ended them if any.
type Decoded = (Vec<(i64, u64)>, Option<DecodeError>);

/// Decodes `bytes` with the decoders of `path`, through `advance` or through `next_batch`.
fn decode(bytes: &[u8], path: DecodePath, batches: bool) -> Decoded {
    let mut it = match XorIter::with_path(bytes, path) {
        Some(Ok(it)) => it,
        Some(Err(e)) => return (Vec::new(), Some(e)),
        None => panic!("{path:?} is listed as available but cannot run"),
    };
    let mut out = Vec::new();
    loop {
        if batches {
            match it.next_batch() {
                Ok(Some(b)) => out.extend(b.iter().map(|&(t, v)| (t, v.to_bits()))),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        } else {
            match it.advance() {
                Ok(true) => out.push((it.at().0, it.at().1.to_bits())),
                Ok(false) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }
}

/// Asserts that every available decoder decodes `bytes` as the bit-by-bit decoder does.
fn assert_all_agree(bytes: &[u8], case: &str) {
    let reference = decode(bytes, DecodePath::BitByBit, false);
    for path in DecodePath::available() {
        for batches in [false, true] {
            assert_eq!(
                decode(bytes, path, batches),
                reference,
                "{case}: {path:?} (batches: {batches}) differs from the bit-by-bit decoder"
            );
        }
    }
}

fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn the_portable_batch_decoder_is_always_compared() {
    let paths = DecodePath::available();
    assert_eq!(
        paths[..2],
        [DecodePath::BitByBit, DecodePath::PortableBatch]
    );
    #[cfg(all(feature = "asm", target_arch = "x86_64", not(miri)))]
    assert_eq!(
        paths.contains(&DecodePath::Asm),
        super::asm_x86_64::supported()
    );
    #[cfg(not(all(feature = "asm", target_arch = "x86_64", not(miri))))]
    assert!(!paths.contains(&DecodePath::Asm));
}

#[test]
fn decoders_agree_on_damaged_streams() {
    let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
    for round in 0..3000 {
        let mut c = XorChunk::new();
        let n = 1 + rnd() % 200;
        let mut t = (rnd() >> 20) as i64;
        let mut v = 100.0f64;
        for _ in 0..n {
            t = t.wrapping_add(match rnd() % 6 {
                0 => 15_000,
                1 => 15_000 + (rnd() % 9) as i64 - 4,
                2 => (rnd() % (1 << 21)) as i64,
                3 => rnd() as i64,
                _ => 30_000,
            });
            v = match rnd() % 5 {
                0 => v,
                1 => f64::from_bits(rnd()),
                _ => v + (rnd() % 100) as f64 * 0.25,
            };
            c.append(t, v).unwrap();
        }
        let mut b = c.into_bytes();
        // Clean, then with damage: flipped bits, truncation, a lying sample count.
        assert_all_agree(&b, &format!("round {round} clean"));
        match round % 3 {
            0 => {
                let i = 2 + (rnd() as usize) % (b.len() - 2).max(1);
                if i < b.len() {
                    b[i] ^= 1 << (rnd() % 8);
                }
            }
            1 => b.truncate(2 + (rnd() as usize) % (b.len() - 1)),
            _ => {
                let lie = (rnd() % 400) as u16;
                b[..2].copy_from_slice(&lie.to_be_bytes());
            }
        }
        assert_all_agree(&b, &format!("round {round} damaged"));
    }
}

/// Random bytes after a plausible start: every timestamp bucket, value control and bad value
/// window in turn, at every bit offset, in every batch decoder.
#[test]
fn decoders_agree_on_random_bytes() {
    let mut rnd = xorshift(0x853c_49e6_748f_ea9b);
    for round in 0..5000 {
        let mut c = XorChunk::new();
        c.append(1_000, 1.5).unwrap();
        c.append(16_000, 2.5).unwrap();
        let mut b = c.into_bytes();
        b.truncate(b.len() - 1);
        let len = rnd() % 400;
        b.extend((0..len).map(|_| rnd() as u8));
        let count = 2 + (rnd() % 300) as u16;
        b[..2].copy_from_slice(&count.to_be_bytes());
        assert_all_agree(&b, &format!("round {round}"));
    }
}

/// Chunks of every length up to 300 samples, so that batches of 128 end at every place, and
/// every cut of them.
#[test]
fn decoders_agree_on_every_length_and_cut() {
    let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut c = XorChunk::new();
    let (mut t, mut v) = (1_700_000_000_000i64, 10.0f64);
    for n in 1..=300 {
        t += 15_000 + (rnd() % 5) as i64 - 2;
        if rnd().is_multiple_of(3) {
            v += (rnd() % 1000) as f64 * 0.01;
        }
        c.append(t, v).unwrap();
        let b = c.bytes();
        assert_all_agree(b, &format!("{n} samples"));
        if n % 37 == 0 {
            for cut in 0..b.len() {
                assert_all_agree(&b[..cut], &format!("{n} samples cut at {cut}"));
            }
        }
    }
}

/// Chunks of up to 300 samples that a batch decoder decodes whole after the first two (no
/// 64-bit delta of delta): counters, constants, gauges, every timestamp bucket, random values.
pub(super) fn batch_chunks() -> Vec<Vec<u8>> {
    let mut rnd = xorshift(0x4f1b_bcdc_bfa5_3e0b);
    let mut out = Vec::new();
    for shape in 0..5 {
        for n in [3u64, 4, 5, 9, 17, 64, 120, 121, 200, 300] {
            let mut c = XorChunk::new();
            let (mut t, mut v) = (1_700_000_000_000i64, 1000.0f64);
            for _ in 0..n {
                match shape {
                    0 => {
                        t += 15_000 + (rnd() % 5) as i64 - 2;
                        v += (rnd() % 100) as f64;
                    }
                    1 => t += 15_000,
                    2 => {
                        t += 15_000;
                        v = ((v + (rnd() % 400) as f64 / 100.0 - 2.0) * 100.0).round() / 100.0;
                    }
                    // Deltas of deltas in the 14-, 17- and 20-bit buckets.
                    3 => {
                        t += 1 + (rnd() % (1 << (12 + 3 * (rnd() % 3)))) as i64;
                        v += 0.5;
                    }
                    _ => {
                        t += 1 + (rnd() % 1_000) as i64;
                        v = f64::from_bits(rnd());
                    }
                }
                c.append(t, v).unwrap();
            }
            out.push(c.into_bytes());
        }
    }
    out
}

/// Asserts that `run`, a batch decoder called on its own from sample 2 on, decodes every sample
/// after the first two of each of [`batch_chunks`] by itself, as the bit-by-bit decoder does.
pub(super) fn assert_decodes_whole_chunks(
    run: impl Fn(
        &mut super::bit_by_bit::Decoder<'_>,
        &mut [std::mem::MaybeUninit<(i64, f64)>],
        u16,
    ) -> (usize, Option<DecodeError>),
) {
    use std::mem::MaybeUninit;
    for (c, bytes) in batch_chunks().iter().enumerate() {
        let (want, err) = decode(bytes, DecodePath::BitByBit, false);
        assert_eq!(err, None);
        let mut d = super::bit_by_bit::Decoder::new(&bytes[super::HEADER..]);
        d.next_general(0).unwrap();
        d.next_general(1).unwrap();
        let mut out = [MaybeUninit::uninit(); 300];
        let n = want.len() - 2;
        // Called again where it stopped (as the iterator does: the portable loop stops before
        // the last 16 bytes, then decodes them from a padded copy), it must make progress each
        // time.
        let mut got = 0;
        while got < n {
            let (m, err) = run(&mut d, &mut out[got..n], 2 + got as u16);
            assert_eq!(err, None, "chunk {c}");
            assert!(m > 0, "chunk {c}: stopped at sample {}", 2 + got);
            got += m;
        }
        for (i, s) in out[..n].iter().enumerate() {
            // SAFETY: the decoder wrote the first `n` slots (it says so above).
            let (t, v) = unsafe { s.assume_init() };
            assert_eq!((t, v.to_bits()), want[i + 2], "chunk {c} sample {}", i + 2);
        }
        // At the end of the stream, but for the padding bits of the last byte.
        let left = (bytes.len() - super::HEADER) * 8 - d.r.bit_position();
        assert!(left <= 8, "chunk {c}: {left} bits left");
    }
}
