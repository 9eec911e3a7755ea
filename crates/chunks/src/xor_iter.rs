//! Decoding XOR chunks: [`XorIter`] over borrowed bytes, without allocating.
//!
//! Two decoders share the state of a [`Decoder`]: a general one that reads field by field and
//! handles everything (the first two samples, 64-bit timestamp deltas, the end of the data), and
//! a batch loop that keeps its state in registers for the common samples. A test checks that they
//! agree on damaged input too.

use std::mem::MaybeUninit;

use crate::bstream::BitReader;
use crate::error::DecodeError;
use crate::varint;
use crate::xor::HEADER;

/// Samples decoded ahead by [`XorIter`] in one go.
const BATCH: usize = 128;

/// Bytes of a buffered sample.
const SLOT: usize = size_of::<(i64, f64)>();

/// Decodes the samples of XOR chunk bytes borrowed from anywhere (memory, a memory-mapped file);
/// never allocates.
///
/// Use it as an [`Iterator`] of `Result<(t, v), DecodeError>`, or Prometheus-style with
/// [`XorIter::advance`], [`XorIter::seek`] and [`XorIter::at`]. Samples are decoded up to 128 at
/// a time into a buffer inside the iterator (the decoder then keeps its state in registers);
/// samples before a damaged spot are all handed out before its error. After an error every
/// further call reports that error again (and the `Iterator` ends).
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    d: Decoder<'a>,
    total: u16,
    /// `total`, or the index of the sample whose decoding failed.
    end: u16,
    /// Samples decoded so far (handed out or buffered).
    decoded: u16,
    /// Decoded samples. The slots from byte `cur` to byte `filled` always hold samples (only
    /// those are ever read): the current one at `cur`, then those not yet handed out. Before
    /// the first advance, `cur` is the last slot and holds `(i64::MIN, 0.0)`. Left
    /// uninitialized otherwise: zeroing 2 KiB for every chunk read cost about 3% of decoding it.
    buf: [MaybeUninit<(i64, f64)>; BATCH],
    /// Index of the current sample, in bytes (`SLOT` per sample: `at` then needs no scaling);
    /// `cur < filled <= BATCH * SLOT`.
    cur: usize,
    /// End of the buffered samples, in bytes.
    filled: usize,
    err: Option<DecodeError>,
    /// The `Iterator` interface has reported `err` and now ends.
    fused: bool,
}

/// Bit reader plus the state the XOR coding carries from sample to sample. The batch loop
/// copies it into locals, so it lives in registers while decoding.
#[derive(Debug, Clone, Copy)]
struct Decoder<'a> {
    r: BitReader<'a>,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    /// A value window ('11' control) has been read; until then `leading`/`trailing` are zero.
    window_set: bool,
}

impl<'a> XorIter<'a> {
    /// An iterator over chunk bytes (header included). Errors only if the header is missing;
    /// damage in the stream is reported by the decoding calls.
    pub fn new(chunk: &'a [u8]) -> Result<Self, DecodeError> {
        match chunk {
            [a, b, ..] => Ok(Self::from_header(chunk, u16::from_be_bytes([*a, *b]))),
            _ => Err(DecodeError::TooShort { len: chunk.len() }),
        }
    }

    pub(crate) fn from_header(chunk: &'a [u8], total: u16) -> Self {
        XorIter {
            d: Decoder {
                r: BitReader::new(chunk.get(HEADER..).unwrap_or(&[])),
                t: 0,
                v: 0,
                t_delta: 0,
                leading: 0,
                trailing: 0,
                window_set: false,
            },
            total,
            end: total,
            decoded: 0,
            buf: {
                let mut buf = [MaybeUninit::uninit(); BATCH];
                buf[BATCH - 1] = MaybeUninit::new((i64::MIN, 0.0));
                buf
            },
            cur: (BATCH - 1) * SLOT,
            filled: BATCH * SLOT,
            err: None,
            fused: false,
        }
    }

    /// Sample count announced by the chunk header.
    pub fn num_samples(&self) -> u16 {
        self.total
    }

    /// Samples handed out so far.
    fn handed_out(&self) -> u16 {
        self.decoded - ((self.filled - self.cur) / SLOT - 1) as u16
    }

    /// The current sample: `(i64::MIN, 0.0)` before the first successful advance.
    #[inline]
    pub fn at(&self) -> (i64, f64) {
        debug_assert!(self.cur < self.filled && self.filled <= BATCH * SLOT);
        debug_assert!(self.cur.is_multiple_of(SLOT));
        // SAFETY: `cur < filled <= BATCH * SLOT` is a multiple of `SLOT`, so it is the byte offset
        // of a slot of `buf`, and that slot holds a sample (see `buf`).
        unsafe {
            self.buf
                .as_ptr()
                .cast::<u8>()
                .add(self.cur)
                .cast::<(i64, f64)>()
                .read()
        }
    }

    /// Moves to the next sample: `Ok(true)` if there is one (read it with [`XorIter::at`]),
    /// `Ok(false)` once all announced samples were read.
    #[inline]
    pub fn advance(&mut self) -> Result<bool, DecodeError> {
        let next = self.cur + SLOT;
        if next < self.filled {
            self.cur = next;
            return Ok(true);
        }
        self.advance_slow()
    }

    /// Hands out, at once, every decoded sample not yet handed out (decoding the next batch of up
    /// to 128 first if there is none): `Ok(Some(samples))` holds at least one `(t, v)`, `Ok(None)`
    /// comes once all announced samples were handed out, and an error after every sample before
    /// the damage was. Afterwards [`XorIter::at`] is the last sample returned. Mixes freely with
    /// [`XorIter::advance`].
    ///
    /// The fastest way to read a whole chunk: the per-sample bookkeeping of `advance` is skipped.
    #[inline]
    pub fn next_batch(&mut self) -> Result<Option<&[(i64, f64)]>, DecodeError> {
        let mut start = self.cur / SLOT + 1;
        let mut filled = self.filled / SLOT;
        if start >= filled && self.decoded < self.end {
            let n = self.fill();
            if n > 0 {
                filled = n;
                start = 0;
            }
        }
        if start >= filled {
            return match self.err {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        self.filled = filled * SLOT;
        self.cur = (filled - 1) * SLOT;
        let batch = &self.buf[start..filled];
        // SAFETY: slots `start..filled` hold samples (see `buf`), and `MaybeUninit<T>` has the
        // layout of `T`.
        Ok(Some(unsafe {
            std::slice::from_raw_parts(batch.as_ptr().cast::<(i64, f64)>(), batch.len())
        }))
    }

    /// Refills the buffer, or reports the end or the error.
    #[inline(never)]
    fn advance_slow(&mut self) -> Result<bool, DecodeError> {
        if self.decoded < self.end {
            let n = self.fill();
            if n > 0 {
                self.filled = n * SLOT;
                self.cur = 0;
                return Ok(true);
            }
        }
        match self.err {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }

    /// Decodes up to [`BATCH`] samples into the buffer from its start, stopping early at the end
    /// or an error, and returns how many. Only decoded samples are written: if none is, the
    /// current sample stays in place; if any is, the caller moves `cur` and `filled` to them.
    fn fill(&mut self) -> usize {
        let mut n = 0usize;
        while n < BATCH && self.decoded < self.end {
            if self.decoded >= 2 {
                let want = (BATCH - n).min((self.end - self.decoded) as usize);
                let (got, failed) = self.d.run_fast(&mut self.buf[n..n + want], self.decoded);
                n += got;
                self.decoded += got as u16;
                if let Some(e) = failed {
                    self.fail(e);
                    break;
                }
                if got > 0 {
                    continue;
                }
            }
            if self.decoded == 0 && self.end >= 2 && BATCH - n >= 2 {
                if let Some(first) = self.d.first_two() {
                    self.buf[n] = MaybeUninit::new(first[0]);
                    self.buf[n + 1] = MaybeUninit::new(first[1]);
                    n += 2;
                    self.decoded += 2;
                    continue;
                }
            }
            // One sample through the general decoder.
            match self.d.next_general(self.decoded) {
                Ok(()) => {
                    self.buf[n] = MaybeUninit::new((self.d.t, f64::from_bits(self.d.v)));
                    n += 1;
                    self.decoded += 1;
                }
                Err(e) => {
                    self.fail(e);
                    break;
                }
            }
        }
        n
    }

    #[cold]
    fn fail(&mut self, e: DecodeError) {
        self.err = Some(e);
        self.end = self.decoded;
    }

    /// Advances to the first sample with timestamp `>= t` (staying put if the current one
    /// qualifies). `Ok(false)` if no such sample remains.
    pub fn seek(&mut self, t: i64) -> Result<bool, DecodeError> {
        if self.handed_out() > 0 && self.at().0 >= t {
            return Ok(true);
        }
        while self.advance()? {
            if self.at().0 >= t {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Decoder<'_> {
    #[inline]
    fn end(sample: u16) -> DecodeError {
        DecodeError::UnexpectedEnd { sample }
    }

    /// Decodes sample `sample` (any index) bit by bit where needed.
    #[inline(never)]
    fn next_general(&mut self, sample: u16) -> Result<(), DecodeError> {
        let end = || Self::end(sample);
        match sample {
            0 => {
                let t = varint::unzigzag(self.read_uvarint(sample)?);
                let v = self.r.read_bits_wide(64).ok_or_else(end)?;
                self.t = t;
                self.v = v;
                Ok(())
            }
            1 => {
                self.t_delta = self.read_uvarint(sample)?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value(sample)
            }
            _ => {
                let ones = self.r.read_unary(4).ok_or_else(end)?;
                let dod = match ones {
                    0 => 0,
                    4 => self.r.read_bits_wide(64).ok_or_else(end)?,
                    _ => {
                        // 1 -> 14 bits, 2 -> 17, 3 -> 20.
                        let sz = 11 + 3 * ones;
                        let bits = self.r.read_bits(sz).ok_or_else(end)?;
                        if bits > 1 << (sz - 1) {
                            bits.wrapping_sub(1 << sz)
                        } else {
                            bits
                        }
                    }
                };
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value(sample)
            }
        }
    }

    /// Decodes samples 0 and 1 straight from the bytes: their timestamps are varints that
    /// start on byte boundaries, and so does the value of sample 1. Returns `None`, having
    /// consumed nothing, if anything is unusual (the data ends, an overflow, a bad window):
    /// [`Decoder::next_general`] then decodes them and reports what is wrong.
    #[inline(never)]
    fn first_two(&mut self) -> Option<[(i64, f64); 2]> {
        let data = self.r.data;
        if self.r.bit_position() != 0 {
            return None;
        }
        let varint::Uvarint::Ok(t0, n0) = varint::uvarint(data) else {
            return None;
        };
        let t0 = varint::unzigzag(t0);
        let v0 = u64::from_be_bytes(*data.get(n0..)?.first_chunk::<8>()?);
        let varint::Uvarint::Ok(delta, n1) = varint::uvarint(data.get(n0 + 8..)?) else {
            return None;
        };
        let at = n0 + 8 + n1;
        let c = data.get(at..)?.first_chunk::<16>()?;
        let hi = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let lo = u64::from_be_bytes([c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]]);
        // Value control of sample 1; no window was announced before it.
        let (o, width) = if (hi as i64) >= 0 {
            (1, 0)
        } else if ((hi << 1) as i64) >= 0 {
            (2, 64)
        } else {
            let lz = (hi << 2 >> 59) as u32;
            let sig = match (hi << 7 >> 58) as u32 {
                0 => 64,
                s => s,
            };
            if lz + sig > 64 {
                return None;
            }
            self.leading = lz as u8;
            self.trailing = (64 - lz - sig) as u8;
            self.window_set = true;
            (13, sig)
        };
        let mut v1 = v0;
        if width > 0 {
            // 1 <= o <= 13: the 64 bits from `o` on, then the top `width` of them.
            let x = hi << o | lo >> (64 - o);
            v1 ^= x.wrapping_shr(64 - width) << self.trailing;
        }
        let t1 = t0.wrapping_add(delta as i64);
        self.t = t1;
        self.v = v1;
        self.t_delta = delta;
        self.r.seek(at * 8 + (o + width) as usize);
        Some([(t0, f64::from_bits(v0)), (t1, f64::from_bits(v1))])
    }

    fn read_uvarint(&mut self, sample: u16) -> Result<u64, DecodeError> {
        // The varints of the first two samples start on a byte boundary: decode them from the
        // bytes. Anything unusual (the data ends, an overflow) takes the bit-by-bit way below,
        // which reports it.
        let at = self.r.bit_position();
        if at.is_multiple_of(8) {
            if let Some(varint::Uvarint::Ok(x, len)) =
                self.r.data.get(at / 8..).map(varint::uvarint)
            {
                self.r.seek(at + len * 8);
                return Ok(x);
            }
        }
        self.read_uvarint_bits(sample)
    }

    /// [`Decoder::read_uvarint`] a byte's worth of bits at a time, from any bit position.
    fn read_uvarint_bits(&mut self, sample: u16) -> Result<u64, DecodeError> {
        let mut x = 0u64;
        let mut shift = 0u32;
        for i in 0..varint::MAX_LEN_64 {
            let b = self.r.read_bits(8).ok_or_else(|| Self::end(sample))?;
            if b < 0x80 {
                if i == varint::MAX_LEN_64 - 1 && b > 1 {
                    break;
                }
                return Ok(x | b << shift);
            }
            x |= (b & 0x7f) << shift;
            shift += 7;
        }
        Err(DecodeError::VarintOverflow { sample })
    }

    fn read_value(&mut self, sample: u16) -> Result<(), DecodeError> {
        let end = || Self::end(sample);
        let ctl = self.r.read_unary(2).ok_or_else(end)?;
        let sig = match ctl {
            0 => return Ok(()),
            1 => 64 - self.leading as u32 - self.trailing as u32,
            _ => {
                let w = self.r.read_bits(11).ok_or_else(end)?;
                let lz = (w >> 6) as u32;
                let sig = match (w & 0x3f) as u32 {
                    0 => 64,
                    s => s,
                };
                self.set_window(sample, lz, sig)?;
                sig
            }
        };
        let bits = self.r.read_bits_wide(sig).ok_or_else(end)?;
        self.v ^= bits << self.trailing;
        Ok(())
    }

    #[inline(always)]
    fn set_window(&mut self, sample: u16, lz: u32, sig: u32) -> Result<(), DecodeError> {
        if lz + sig > 64 {
            return Err(DecodeError::BadValueWidth {
                sample,
                leading: lz as u8,
                significant: sig as u8,
            });
        }
        self.leading = lz as u8;
        self.trailing = (64 - lz - sig) as u8;
        self.window_set = true;
        Ok(())
    }

    /// Decodes samples `k, k + 1, …` (`k >= 2`) into `out` until it is full, the data is
    /// nearly exhausted (the caller then comes back for the last bytes), a sample needs
    /// [`Decoder::next_general`] (a 64-bit timestamp delta), or an error. Returns how many samples
    /// were decoded, and the error if any.
    ///
    /// The hot loop of the crate: all state lives in locals (registers), and the last bytes of
    /// the data are decoded from a zero-padded copy so that 16-byte loads always have room (the
    /// x86-64 assembly loop reads them in place instead, see [`crate::xor_iter_x86`]).
    ///
    /// On x86-64 CPUs with BMI2 a copy compiled for it is used: its shifts by a variable amount
    /// are single instructions, and this loop is mostly such shifts.
    #[inline]
    fn run_fast(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("bmi2")
                && std::arch::is_x86_feature_detected!("movbe")
            {
                // SAFETY: the CPU supports BMI2 and MOVBE, the requirements of `run_fast_bmi2`.
                return unsafe { self.run_fast_bmi2(out, k) };
            }
        }
        self.run_fast_portable(out, k)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "bmi2,movbe")]
    unsafe fn run_fast_bmi2(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        // SAFETY: the CPU supports BMI2 and MOVBE (this function's requirements).
        unsafe { self.run_fast_body::<true>(out, k) }
    }

    #[inline(never)]
    fn run_fast_portable(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        // SAFETY: `X86` is false.
        unsafe { self.run_fast_body::<false>(out, k) }
    }

    /// # Safety
    ///
    /// With `X86`, the CPU supports BMI2 and MOVBE.
    #[inline(always)]
    unsafe fn run_fast_body<const X86: bool>(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        let data = self.r.data;
        let at = self.r.bit_position().min(data.len() * 8);
        let base = at / 8;
        let rest = &data[base..];
        let (n, end, err) = if rest.len() >= MARGIN {
            // SAFETY: passed on from the caller.
            unsafe { self.run::<false, X86>(rest, at % 8, rest.len() * 8, out, k) }
        } else {
            let mut pad = [0u8; 2 * MARGIN];
            pad[..rest.len()].copy_from_slice(rest);
            // SAFETY: passed on from the caller.
            unsafe { self.run::<true, X86>(&pad, at % 8, rest.len() * 8, out, k) }
        };
        self.r.seek((base * 8 + end).min(data.len() * 8));
        (n, err)
    }

    /// The loop of [`Decoder::run_fast`] from bit `pos` of `bytes` (the data from some byte on,
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
    ///
    /// # Safety
    ///
    /// With `X86`, the CPU supports BMI2 and MOVBE: unpadded data is then decoded by
    /// [`crate::xor_iter_x86::run`] as far as it goes, and by this loop from there.
    #[inline(always)]
    unsafe fn run<const PADDED: bool, const X86: bool>(
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
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if X86 && !PADDED {
            use crate::xor_iter_x86 as x86;
            // Bit addresses: the first byte's address times 8, plus the bit in that byte.
            let base = bytes.as_ptr() as usize * 8;
            let mut st = x86::State {
                bit: base + pos,
                t,
                t_delta,
                v,
                trailing: trailing as u64,
                neg_width: (width as u64).wrapping_neg(),
            };
            // SAFETY: the caller checked BMI2 and MOVBE; `bytes[last + 1..]` are its last 15
            // bytes, and the 16 from `bytes[last]` on and all before them are in `bytes`.
            i = unsafe { x86::run(base + (last + 1) * 8, &mut st, out) };
            pos = st.bit - base;
            (t, t_delta, v) = (st.t, st.t_delta, st.v);
            trailing = st.trailing as u32;
            width = st.neg_width.wrapping_neg() as u32;
            if pos > limit {
                // The last sample started in the data but ran into the zeros the loop reads
                // after its end: the data ends inside it. The state now holds that sample, but
                // nothing is decoded after an error.
                i = i.saturating_sub(1);
                err = Some(DecodeError::UnexpectedEnd {
                    sample: k + i as u16,
                });
            }
        }

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

impl Iterator for XorIter<'_> {
    type Item = Result<(i64, f64), DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.fused {
            return None;
        }
        match self.advance() {
            Ok(true) => Some(Ok(self.at())),
            Ok(false) => None,
            Err(e) => {
                // Report the error once, then end.
                self.fused = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.fused {
            return (0, Some(0));
        }
        // An error takes the place of a sample; one already met is still to be reported.
        let left =
            self.end.saturating_sub(self.handed_out()) as usize + self.err.is_some() as usize;
        (0, Some(left))
    }
}

/// Where decoding a whole chunk left the decoder: what an appender needs to continue it.
pub(crate) struct DecodedEnd {
    pub(crate) samples: u16,
    /// Bit position (from the start of the chunk) just past the last sample.
    pub(crate) bit_pos: usize,
    pub(crate) t: i64,
    pub(crate) v: u64,
    pub(crate) t_delta: u64,
    /// Leading and trailing zero counts of the last value window, if one was announced.
    pub(crate) window: Option<(u8, u8)>,
}

/// Decodes every sample of `chunk` and reports the final state.
pub(crate) fn decode_to_end(chunk: &[u8]) -> Result<DecodedEnd, DecodeError> {
    let mut it = XorIter::new(chunk)?;
    while it.advance()? {}
    let d = it.d;
    Ok(DecodedEnd {
        samples: it.total,
        bit_pos: d.r.bit_position() + HEADER * 8,
        t: d.t,
        v: d.v,
        t_delta: d.t_delta,
        window: d.window_set.then_some((d.leading, d.trailing)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::XorChunk;

    #[test]
    fn seek_and_at() {
        let mut c = XorChunk::new();
        for i in 0..10 {
            c.append(i * 10, i as f64).unwrap();
        }
        let mut it = c.iter();
        assert_eq!(it.at().0, i64::MIN);
        assert!(it.seek(35).unwrap());
        assert_eq!(it.at(), (40, 4.0));
        assert!(it.seek(0).unwrap());
        assert_eq!(it.at(), (40, 4.0));
        assert!(!it.seek(1000).unwrap());
    }

    #[test]
    fn batches_mix_with_advance_and_report_damage_after_the_good_samples() {
        let mut c = XorChunk::new();
        for i in 0..300i64 {
            c.append(i * 15_000 + i % 3, (i * i) as f64 * 0.5).unwrap();
        }
        let want: Vec<(i64, u64)> = c
            .iter()
            .map(|s| s.map(|(t, v)| (t, v.to_bits())))
            .collect::<Result<_, _>>()
            .unwrap();
        // advance, then batches, then advance again, in a pattern that crosses batch borders.
        let mut it = c.iter();
        let mut got = Vec::new();
        let mut step = 0;
        loop {
            step += 1;
            if step % 3 == 0 {
                match it.next_batch().unwrap() {
                    Some(b) => {
                        assert!(!b.is_empty());
                        got.extend(b.iter().map(|&(t, v)| (t, v.to_bits())));
                        let last = *b.last().unwrap();
                        assert_eq!(it.at().0, last.0);
                    }
                    None => break,
                }
            } else if it.advance().unwrap() {
                got.push((it.at().0, it.at().1.to_bits()));
            } else {
                break;
            }
        }
        assert_eq!(got, want);
        assert_eq!(it.next_batch(), Ok(None));
        // Cut inside the stream: every whole sample before the cut comes out, then the error,
        // and the error again.
        let bytes = c.bytes();
        let cut = &bytes[..bytes.len() / 2];
        let mut it = XorIter::new(cut).unwrap();
        let mut n = 0;
        let err = loop {
            match it.next_batch() {
                Ok(Some(b)) => n += b.len(),
                Ok(None) => panic!("a cut chunk must not end cleanly"),
                Err(e) => break e,
            }
        };
        let per_sample = XorIter::new(cut).unwrap().take_while(|s| s.is_ok()).count();
        assert_eq!(n, per_sample);
        assert!(matches!(err, DecodeError::UnexpectedEnd { .. }));
        assert_eq!(it.next_batch(), Err(err));
    }

    #[test]
    fn truncated_bytes_error() {
        let mut c = XorChunk::new();
        for i in 0..20 {
            c.append(i * 1000, i as f64 * 1.1).unwrap();
        }
        let b = c.bytes();
        for cut in 0..b.len() - 1 {
            let r: Result<Vec<_>, _> = match XorIter::new(&b[..cut]) {
                Ok(it) => it.collect(),
                Err(e) => Err(e),
            };
            assert!(r.is_err(), "cut at {cut}");
        }
    }

    /// Decodes with the general (bit by bit) decoder only: the reference for the fast path.
    fn decode_general(bytes: &[u8]) -> (Vec<(i64, u64)>, Option<DecodeError>) {
        let Ok(mut it) = XorIter::new(bytes) else {
            return (Vec::new(), Some(DecodeError::TooShort { len: bytes.len() }));
        };
        let mut out = Vec::new();
        for k in 0..it.total {
            if let Err(e) = it.d.next_general(k) {
                return (out, Some(e));
            }
            out.push((it.d.t, it.d.v));
        }
        (out, None)
    }

    fn decode_fast(bytes: &[u8]) -> (Vec<(i64, u64)>, Option<DecodeError>) {
        let Ok(it) = XorIter::new(bytes) else {
            return (Vec::new(), Some(DecodeError::TooShort { len: bytes.len() }));
        };
        let mut out = Vec::new();
        for s in it {
            match s {
                Ok((t, v)) => out.push((t, v.to_bits())),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[test]
    fn varints_from_bytes_agree_with_varints_from_bits() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x80; 9],
            vec![0xff; 10],
            vec![0xff; 11],
            [vec![0xff; 9], vec![0x01]].concat(),
            [vec![0xff; 9], vec![0x02]].concat(),
        ];
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 13) as usize;
            // Mostly continuation bytes, so that long varints are common.
            let bytes = (0..len)
                .map(|i| (x >> (i * 5)) as u8 | if (x >> (i + 40)) & 3 != 0 { 0x80 } else { 0 })
                .collect();
            cases.push(bytes);
        }
        for bytes in &cases {
            let fresh = || XorIter::from_header(&[], 0).d;
            let (mut a, mut b) = (fresh(), fresh());
            a.r = BitReader::new(bytes);
            b.r = BitReader::new(bytes);
            let from_bytes = a.read_uvarint(0);
            let from_bits = b.read_uvarint_bits(0);
            assert_eq!(from_bytes, from_bits, "{bytes:02x?}");
            if from_bits.is_ok() {
                assert_eq!(a.r.bit_position(), b.r.bit_position(), "{bytes:02x?}");
            }
        }
    }

    #[test]
    fn fast_path_agrees_with_general_decoder_on_damaged_streams() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
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
            assert_eq!(decode_fast(&b), decode_general(&b), "round {round} clean");
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
            assert_eq!(decode_fast(&b), decode_general(&b), "round {round} damaged");
        }
    }

    /// Random bytes after a plausible start: every timestamp bucket, value control and bad
    /// value window in turn, at every bit offset, in the batch loop (and on x86-64 its
    /// assembly).
    #[test]
    fn fast_path_agrees_with_general_decoder_on_random_bytes() {
        let mut x = 0x853c_49e6_748f_ea9bu64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
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
            assert_eq!(decode_fast(&b), decode_general(&b), "round {round}");
        }
    }
}
