//! The portable batch XOR decoder: a Rust loop that decodes the common samples (after the first
//! two, with timestamp deltas of deltas of up to 20 bits) with its state in registers.
//!
//! Each sample is read with one 16-byte load from its first byte; the last bytes of the data are
//! decoded from a zero-padded copy so that the loads always have room. It stops at anything it
//! does not handle (a 64-bit delta of delta, the end of the data, a full output) with the state
//! at the start of that sample, for the bit-by-bit decoder to go on; on damage it reports what
//! the bit-by-bit decoder would.
//!
//! It runs wherever the x86-64 assembly decoder does not: on other CPUs, without the `asm`
//! feature, and for data of fewer than 16 bytes.

use std::mem::MaybeUninit;

use super::bit_by_bit::Decoder;
use crate::error::DecodeError;

impl Decoder<'_> {
    /// Decodes samples `k, k + 1, …` (`k >= 2`) into `out` until it is full, the data ends, a
    /// sample needs [`Decoder::next_general`] (a 64-bit timestamp delta), or an error. Returns
    /// how many samples were decoded, and the error if any.
    ///
    /// On x86-64 CPUs with BMI2 a copy compiled for it is used: its shifts by a variable amount
    /// are single instructions, and this loop is mostly such shifts.
    #[inline]
    pub(super) fn run_portable(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("bmi2")
                && std::arch::is_x86_feature_detected!("movbe")
            {
                // SAFETY: the CPU supports BMI2 and MOVBE, the requirements of
                // `run_portable_bmi2`.
                return unsafe { self.run_portable_bmi2(out, k) };
            }
        }
        self.run_portable_plain(out, k)
    }

    /// [`Decoder::run_portable`] compiled for BMI2 and MOVBE.
    ///
    /// # Safety
    ///
    /// The CPU supports BMI2 and MOVBE.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "bmi2,movbe")]
    pub(super) unsafe fn run_portable_bmi2(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        self.run_body(out, k)
    }

    /// [`Decoder::run_portable`] for any CPU.
    #[inline(never)]
    fn run_portable_plain(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        self.run_body(out, k)
    }

    #[inline(always)]
    fn run_body(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        let data = self.r.data;
        let at = self.r.bit_position().min(data.len() * 8);
        let base = at / 8;
        let rest = &data[base..];
        let (n, end, err) = if rest.len() >= MARGIN {
            self.run_loop::<false>(rest, at % 8, rest.len() * 8, out, k)
        } else {
            let mut pad = [0u8; 2 * MARGIN];
            pad[..rest.len()].copy_from_slice(rest);
            self.run_loop::<true>(&pad, at % 8, rest.len() * 8, out, k)
        };
        self.r.seek((base * 8 + end).min(data.len() * 8));
        (n, err)
    }

    /// The loop of [`Decoder::run_portable`] from bit `pos` of `bytes` (the data from some byte on,
    /// or, when `PADDED`, a zero-padded copy of its last bytes, of which `limit` bits are real).
    /// Returns the samples decoded, the bit position after them, and the error if any.
    ///
    /// Each sample is read with one 16-byte load at its first byte, which holds all of it. Where
    /// the next sample starts depends on the loaded bits only through the value window's width,
    /// so the loads for later samples can start before this one is decoded. (The previous
    /// design, a bit window refilled 7 bytes at a time, made every sample wait for the shifts of
    /// the one before: irregular timestamps decoded 20% slower.)
    ///
    /// It branches on the timestamp bucket and the value control: real series repeat them
    /// from sample to sample, and predicted branches keep the chain of dependent shifts short
    /// (computing them by arithmetic instead was measured 30-40% slower, even on irregular
    /// timestamps).
    #[inline(always)]
    fn run_loop<const PADDED: bool>(
        &mut self,
        bytes: &[u8],
        mut pos: usize,
        limit: usize,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, usize, Option<DecodeError>) {
        let count = out.len();
        let mut i = 0usize;
        let (mut t, mut v, mut t_delta) = (self.t as u64, self.v, self.t_delta);
        // Trailing zeros of the value window in the low 6 bits; bit 7 says a window was
        // announced. (Shifts by it use the low 6 bits only.)
        let mut trailing = self.trailing as u32 & 63 | (self.window_set as u32) << 7;
        // Significant bits of the current value window: 64 - leading - trailing.
        let mut width = 64 - self.leading as u32 - (trailing & 63);
        let mut err = None;
        // The last byte a sample may start in: its 16 bytes must be there.
        let Some(last) = bytes.len().checked_sub(16) else {
            return (0, pos, None);
        };
        // Decodes one sample into out[i]; leaves 'done at the end of the data or an error.
        macro_rules! sample {
            ($done:lifetime) => {
                // The whole sample (at most 7 + 24 + 13 + 64 bits from the start of its first
                // byte) lies in these 16 bytes.
                if pos / 8 > last {
                    break $done;
                }
                // SAFETY: pos / 8 <= last = bytes.len() - 16.
                let (hi, lo) = unsafe { load_16(bytes, pos / 8) };
                let r = (pos % 8) as u32;
                // At least 57 bits from the sample's start: its timestamp and value header.
                let w = hi << r;
                // Timestamp bucket prefix '0', '10', '110', '1110', then 14, 17 or 20 bits.
                let (dod, used) = if (w as i64) >= 0 {
                    (0, 1)
                } else if ((w << 1) as i64) >= 0 {
                    (delta_of_delta::<14>(w << 2), 2 + 14)
                } else if ((w << 2) as i64) >= 0 {
                    (delta_of_delta::<17>(w << 3), 3 + 17)
                } else if ((w << 3) as i64) >= 0 {
                    (delta_of_delta::<20>(w << 4), 4 + 20)
                } else {
                    break $done; // 64-bit delta of delta: general decoder.
                };
                // Value control '0' (same), '10' (previous window), '11' + 5 + 6 bits (new window).
                let ctl = w << used;
                // Offset of the value bits from the start of the sample's first byte.
                let mut o = r + used;
                if (ctl as i64) >= 0 {
                    o += 1;
                } else {
                    if ((ctl << 1) as i64) >= 0 {
                        o += 2;
                    } else {
                        let lz = (ctl << 2 >> 59) as u32;
                        let sig = match (ctl << 7 >> 58) as u32 {
                            0 => 64,
                            s => s,
                        };
                        if lz + sig > 64 {
                            // What the general decoder reports: the end of the data comes first if
                            // the header reaches past it.
                            err = Some(if (pos - r as usize) + (o + 13) as usize > limit {
                                DecodeError::UnexpectedEnd {
                                    sample: k + i as u16,
                                }
                            } else {
                                DecodeError::BadValueWidth {
                                    sample: k + i as u16,
                                    leading: lz as u8,
                                    significant: sig as u8,
                                }
                            });
                            break $done;
                        }
                        o += 13;
                        width = sig;
                        trailing = (64 - lz - sig) | 0x80;
                    }
                    // 3 <= o <= 44: the 64 bits from `o` on, then the top `width` of them.
                    let x = hi << o | lo >> (64 - o);
                    v ^= (x >> (64 - width)).wrapping_shl(trailing);
                    o += width;
                }
                let p = pos - r as usize + o as usize;
                if PADDED && p > limit {
                    err = Some(DecodeError::UnexpectedEnd {
                        sample: k + i as u16,
                    });
                    break $done;
                }
                t_delta = t_delta.wrapping_add(dod);
                t = t.wrapping_add(t_delta);
                out[i] = MaybeUninit::new((t as i64, f64::from_bits(v)));
                pos = p;
                i += 1;
            };
        }
        // Two samples per round: the loop's own checks cost half as much.
        'done: {
            if err.is_some() {
                break 'done;
            }
            while i + 2 <= count {
                sample!('done);
                sample!('done);
            }
            if i < count {
                sample!('done);
            }
        }

        self.t = t as i64;
        self.v = v;
        self.t_delta = t_delta;
        self.leading = (64 - width - (trailing & 63)) as u8;
        self.trailing = (trailing & 63) as u8;
        self.window_set = trailing & 0x80 != 0;
        (i, pos, err)
    }
}

/// The 16 bytes of `bytes` from `at` on, as two big-endian words.
///
/// The batch loop's one unchecked read: a checked one costs it about 5%. (A sample's whole
/// decode is 50-60 instructions; the check added 4.)
///
/// # Safety
///
/// `at + 16 <= bytes.len()`.
#[inline(always)]
unsafe fn load_16(bytes: &[u8], at: usize) -> (u64, u64) {
    debug_assert!(at + 16 <= bytes.len());
    // SAFETY: the caller guarantees the 16 bytes are inside `bytes`; unaligned reads of plain
    // integers are allowed anywhere in bounds.
    unsafe {
        let p = bytes.as_ptr().add(at);
        (
            u64::from_be(p.cast::<u64>().read_unaligned()),
            u64::from_be(p.add(8).cast::<u64>().read_unaligned()),
        )
    }
}

/// The delta of delta in the top `N` bits of `field`: Prometheus reads values above
/// `2^(N-1)` as negative (subtract `2^N`), so this sign-extends `raw - 1` and adds the one back.
#[inline(always)]
fn delta_of_delta<const N: u32>(field: u64) -> u64 {
    ((field.wrapping_sub(1 << (64 - N)) as i64 >> (64 - N)) as u64).wrapping_add(1)
}

/// Bytes from a sample's first byte on that hold any sample the batch loop decodes. With fewer
/// left, it decodes from a zero-padded copy.
const MARGIN: usize = 16;
#[cfg(test)]
mod tests {
    use super::super::agreement_tests::assert_decodes_whole_chunks;

    #[test]
    fn decodes_whole_chunks_on_its_own() {
        // The copy for any CPU, then the one `run_portable` picks (on x86-64 with BMI2, the copy
        // compiled for it).
        assert_decodes_whole_chunks(|d, out, k| d.run_portable_plain(out, k));
        assert_decodes_whole_chunks(|d, out, k| d.run_portable(out, k));
    }
}
