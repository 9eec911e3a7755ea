//! The XOR chunk iterator: [`XorIter`] over borrowed bytes, without allocating. It buffers
//! decoded samples and dispatches between the decoders, which share the state of a [`Decoder`]:
//! a batch decoder (the x86-64 assembly one where it is compiled in and the CPU supports it,
//! else the portable one) for the common samples, [`Decoder::first_two`] for the first two, and
//! the bit-by-bit decoder for everything they leave.
//!
//! [`DecodePath`] pins the decoder, so that tests can run each one on the same bytes.

use std::mem::MaybeUninit;

use super::bit_by_bit::Decoder;
use super::HEADER;
use crate::error::DecodeError;

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
    /// The decoder for the samples after the first two.
    batch: Batch,
}

/// The decoders an [`XorIter`] can be pinned to, for tests and benchmarks that compare them;
/// [`XorIter::new`] picks the fastest one the build and the CPU support. Not a stable API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodePath {
    /// Every sample through the bit-by-bit decoder: the reference.
    BitByBit,
    /// The portable batch loop (compiled for BMI2 on x86-64 CPUs that have it), the bit-by-bit
    /// decoder where it stops.
    PortableBatch,
    /// The x86-64 assembly loop, the portable loop for data of fewer than 16 bytes, the
    /// bit-by-bit decoder where they stop. Needs the `asm` feature and a CPU with BMI2 and MOVBE.
    Asm,
}

impl DecodePath {
    /// Every path this build can run on this CPU, [`DecodePath::BitByBit`] first.
    pub fn available() -> Vec<DecodePath> {
        [Self::BitByBit, Self::PortableBatch, Self::Asm]
            .into_iter()
            .filter(|p| Batch::of(*p).is_some())
            .collect()
    }
}

/// Which decoder [`XorIter::fill`] runs for samples `2..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batch {
    /// None: only [`Decoder::next_general`].
    BitByBit,
    Portable,
    #[cfg(all(feature = "asm", target_arch = "x86_64", not(miri)))]
    Asm,
}

impl Batch {
    /// The fastest decoder this build and CPU support.
    #[inline]
    fn best() -> Self {
        #[cfg(all(feature = "asm", target_arch = "x86_64", not(miri)))]
        if super::asm_x86_64::supported() {
            return Batch::Asm;
        }
        Batch::Portable
    }

    /// The decoder of `path`, if this build and CPU support it.
    fn of(path: DecodePath) -> Option<Self> {
        match path {
            DecodePath::BitByBit => Some(Batch::BitByBit),
            DecodePath::PortableBatch => Some(Batch::Portable),
            #[cfg(all(feature = "asm", target_arch = "x86_64", not(miri)))]
            DecodePath::Asm => super::asm_x86_64::supported().then_some(Batch::Asm),
            #[cfg(not(all(feature = "asm", target_arch = "x86_64", not(miri))))]
            DecodePath::Asm => None,
        }
    }
}

impl<'a> XorIter<'a> {
    /// An iterator over chunk bytes (header included). Errors only if the header is missing;
    /// damage in the stream is reported by the decoding calls.
    #[inline]
    pub fn new(chunk: &'a [u8]) -> Result<Self, DecodeError> {
        match chunk {
            [a, b, ..] => Ok(Self::from_header(chunk, u16::from_be_bytes([*a, *b]))),
            _ => Err(DecodeError::TooShort { len: chunk.len() }),
        }
    }

    /// Like [`XorIter::new`], with the decoders of `path`; `None` if this build or CPU cannot
    /// run them (see [`DecodePath::available`]). For tests and benchmarks.
    #[doc(hidden)]
    pub fn with_path(chunk: &'a [u8], path: DecodePath) -> Option<Result<Self, DecodeError>> {
        let batch = Batch::of(path)?;
        Some(Self::new(chunk).map(|mut it| {
            it.batch = batch;
            it
        }))
    }

    #[inline]
    pub(crate) fn from_header(chunk: &'a [u8], total: u16) -> Self {
        XorIter {
            d: Decoder::new(chunk.get(HEADER..).unwrap_or(&[])),
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
            batch: Batch::best(),
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
    /// or an error, and returns how many: samples 0 and 1 by [`Decoder::first_two`], later ones
    /// by the batch decoder, and whatever those leave by the bit-by-bit decoder. Only decoded samples are written: if none is, the
    /// current sample stays in place; if any is, the caller moves `cur` and `filled` to them.
    fn fill(&mut self) -> usize {
        let mut n = 0usize;
        while n < BATCH && self.decoded < self.end {
            if self.decoded >= 2 {
                let want = (BATCH - n).min((self.end - self.decoded) as usize);
                let out = &mut self.buf[n..n + want];
                let (got, failed) = match self.batch {
                    #[cfg(all(feature = "asm", target_arch = "x86_64", not(miri)))]
                    // SAFETY: `Batch::Asm` is chosen only if the CPU supports BMI2 and MOVBE.
                    Batch::Asm => unsafe { self.d.run_asm(out, self.decoded) },
                    Batch::Portable => self.d.run_portable(out, self.decoded),
                    Batch::BitByBit => (0, None),
                };
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
            if self.decoded == 0 && self.end >= 2 && BATCH - n >= 2 && self.batch != Batch::BitByBit
            {
                if let Some(first) = self.d.first_two() {
                    self.buf[n] = MaybeUninit::new(first[0]);
                    self.buf[n + 1] = MaybeUninit::new(first[1]);
                    n += 2;
                    self.decoded += 2;
                    continue;
                }
            }
            // One sample through the bit-by-bit decoder.
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
}
