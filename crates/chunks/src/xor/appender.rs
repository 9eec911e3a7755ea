//! The XOR encoder: [`XorChunk`] appends samples to a chunk's bytes, and takes over encoded
//! bytes to append more.

use super::iter::{decode_to_end, XorIter};
use super::HEADER;
use crate::bstream::BitWriter;
use crate::error::{ChunkFull, DecodeError};
use crate::varint;
/// Buffer size of [`XorChunk::new`], the first chunk of a series (later chunks are sized like
/// the series' previous one, see [`XorChunk::with_capacity`]). Small, because a head holds one
/// open chunk per series and a young series' chunk is short: 480 bytes up front cost a head of
/// 1M series with 100 samples each (about 235 bytes a chunk) 280 MB of buffers never written.
/// The buffer grows by half from here when needed (128, 192, 288, 432 bytes with the slack).
const DEFAULT_CAPACITY: usize = 96;
/// "No leading/trailing width chosen yet": the first XOR always announces its width.
const NO_WIDTH: u8 = 0xff;

/// An XOR chunk being appended to: owns its encoded bytes.
///
/// `Clone` copies only the bytes written so far (a reader can take a snapshot cheaply and
/// iterate it while the original keeps growing).
#[derive(Debug, Clone)]
pub struct XorChunk {
    w: BitWriter,
    num: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (2 header bytes, zero samples).
    #[inline]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty chunk with room for about `bytes` encoded bytes before its buffer must grow.
    ///
    /// A good hint is the size of the series' previous chunk: chunks of one series tend to
    /// encode to similar sizes, and a right hint means appending never reallocates.
    #[inline]
    pub fn with_capacity(bytes: usize) -> Self {
        XorChunk {
            w: BitWriter::with_header(HEADER, bytes),
            num: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: NO_WIDTH,
            trailing: 0,
        }
    }

    /// Empties the chunk for reuse, keeping its buffer: afterwards it is equal to a new chunk and
    /// appends produce the same bytes, without allocating until it outgrows the old size.
    #[inline]
    pub fn reset(&mut self) {
        self.w.reset(HEADER);
        self.num = 0;
        self.t = 0;
        self.v = 0;
        self.t_delta = 0;
        self.leading = NO_WIDTH;
        self.trailing = 0;
    }

    /// Takes over encoded chunk bytes (for example read from disk) so more samples can be appended.
    ///
    /// Every sample is decoded to rebuild the appender's state, so appending to the result gives
    /// the same bytes as appending every sample to one chunk in one go. Errors if the bytes do not
    /// decode or carry more than the (at most 8) padding bits an appender leaves. Padding bits are
    /// cleared. (Prometheus's `Appender()` on existing data differs in two corners that its head
    /// never reaches: it starts writing at the next whole byte, and it reuses a 64-bit value window
    /// when no window had been announced yet.)
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let end = decode_to_end(bytes)?;
        let spare = (bytes.len() * 8) as u64 - end.bit_pos as u64;
        if spare > 8 {
            return Err(DecodeError::TrailingBits { bits: spare });
        }
        Ok(XorChunk {
            w: BitWriter::resume(bytes, end.bit_pos, spare == 8),
            num: end.samples,
            t: end.t,
            v: end.v,
            t_delta: end.t_delta,
            leading: end.window.map_or(NO_WIDTH, |(l, _)| l),
            trailing: end.window.map_or(0, |(_, t)| t),
        })
    }

    /// Number of samples appended.
    #[inline]
    pub fn num_samples(&self) -> u16 {
        self.num
    }

    /// The encoded chunk so far: header and bit stream, exactly as Prometheus would store it.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// The encoded chunk, consuming the appender.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// The last appended sample, if any.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.num > 0).then(|| (self.t, f64::from_bits(self.v)))
    }

    /// An iterator over the samples appended so far.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::from_header(self.w.bytes(), self.num)
    }

    /// Appends a sample. Timestamps are not checked for order (the caller validates); any sequence
    /// of `i64`s encodes and decodes exactly. Allocates only when the byte buffer must grow.
    ///
    /// Fails only when the chunk already holds `u16::MAX` samples.
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkFull> {
        if self.num < 2 || self.num == u16::MAX {
            return self.append_slow(t, v);
        }
        let vbits = v.to_bits();
        let delta = t.wrapping_sub(self.t) as u64;
        let dod = delta.wrapping_sub(self.t_delta) as i64;
        // The timestamp bits (bucket prefix and delta of delta) go out together with the value's
        // control bits; only the last write of a sample matters for the stream length.
        let (tbits, tn) = if dod == 0 {
            (0, 1)
        } else {
            // The bucket through a table rather than branches: with irregular timestamps it
            // changes from sample to sample, and branches on it mispredict.
            let b = &BUCKETS[dod_width(dod) as usize];
            if b.len == 0 {
                return self.append_wide_dod(t, vbits, delta, dod);
            }
            (b.prefix | dod as u64 & b.mask, b.len)
        };
        // The value: '0' (same), '10' + bits in the previous window, or '11' + 5 bits of
        // leading zeros + 6 bits of width (64 written as 0) + bits.
        let x = vbits ^ self.v;
        // The value bits go out left-aligned: shifting out the leading zeros drops nothing.
        let (head, head_len, bits, width) = if x == 0 {
            (tbits << 1, tn + 1, 0, 0)
        } else {
            // Leading zeros are stored in 5 bits, so at most 31 are claimed.
            let lz = (x.leading_zeros() as u8).min(31);
            let tz = x.trailing_zeros() as u8;
            if self.leading != NO_WIDTH && lz >= self.leading && tz >= self.trailing {
                let width = 64 - self.leading as u32 - self.trailing as u32;
                (tbits << 2 | 0b10, tn + 2, x << self.leading, width)
            } else {
                self.leading = lz;
                self.trailing = tz;
                let width = 64 - lz as u32 - tz as u32;
                let ctl = 0b11 << 11 | (lz as u64) << 6 | (width as u64 & 0x3f);
                (tbits << 13 | ctl, tn + 13, x << lz, width)
            }
        };
        self.w.write_sample(head, head_len, bits, width);
        self.t = t;
        self.v = vbits;
        self.t_delta = delta;
        self.num += 1;
        self.w.put_u16_be(0, self.num);
        Ok(())
    }

    /// A sample whose delta of delta needs the 64-bit bucket.
    #[cold]
    #[inline(never)]
    fn append_wide_dod(
        &mut self,
        t: i64,
        vbits: u64,
        delta: u64,
        dod: i64,
    ) -> Result<(), ChunkFull> {
        self.w.write_bits(0b1111, 4);
        self.w.write_bits(dod as u64, 64);
        self.w.begin();
        self.write_value(0, 0, vbits);
        self.w.end();
        self.t = t;
        self.v = vbits;
        self.t_delta = delta;
        self.num += 1;
        self.w.put_u16_be(0, self.num);
        Ok(())
    }

    /// The first two samples, and the full chunk.
    #[inline(always)]
    fn append_slow(&mut self, t: i64, v: f64) -> Result<(), ChunkFull> {
        let vbits = v.to_bits();
        let mut buf = [0u8; varint::MAX_LEN_64];
        match self.num {
            u16::MAX => return Err(ChunkFull(self.num)),
            0 => {
                let n = varint::put_varint(&mut buf, t);
                for &b in &buf[..n] {
                    self.w.write_bits(b as u64, 8);
                }
                self.w.write_bits(vbits, 64);
                self.t_delta = 0;
            }
            _ => {
                let delta = t.wrapping_sub(self.t) as u64;
                let n = varint::put_uvarint(&mut buf, delta);
                for &b in &buf[..n] {
                    self.w.write_bits(b as u64, 8);
                }
                self.w.begin();
                self.write_value(0, 0, vbits);
                self.w.end();
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = vbits;
        self.num += 1;
        self.w.put_u16_be(0, self.num);
        Ok(())
    }

    /// Writes `prefix` (its `pn` low bits, `pn <= 24`) followed by the XOR coding of the value.
    /// Runs between `begin` and `end` of the writer.
    #[inline(always)]
    fn write_value(&mut self, prefix: u64, pn: u32, vbits: u64) {
        let x = vbits ^ self.v;
        if x == 0 {
            // '0': same value.
            self.w.put(prefix << 1, pn + 1);
            return;
        }
        // Leading zeros are stored in 5 bits, so at most 31 are claimed.
        let lz = (x.leading_zeros() as u8).min(31);
        let tz = x.trailing_zeros() as u8;
        let (sig, shift) = if self.leading != NO_WIDTH && lz >= self.leading && tz >= self.trailing
        {
            // '10': reuse the previous window.
            self.w.put(prefix << 2 | 0b10, pn + 2);
            (
                64 - self.leading as u32 - self.trailing as u32,
                self.trailing,
            )
        } else {
            // '11', 5 bits of leading zeros, 6 bits of significant width (64 is written as 0).
            self.leading = lz;
            self.trailing = tz;
            let sig = 64 - lz as u32 - tz as u32;
            let ctl = 0b11 << 11 | (lz as u64) << 6 | (sig as u64 & 0x3f);
            self.w.put(prefix << 13 | ctl, pn + 13);
            (sig, tz)
        };
        if sig > self.w.room() {
            self.w.make_room();
        }
        if sig <= self.w.room() {
            self.w.put(x >> shift, sig);
        } else {
            self.w.write_bits(x >> shift, sig);
        }
    }
}

/// One timestamp bucket: Prometheus stores a delta of delta `d` in an `n`-bit bucket (n = 14,
/// 17, 20) if `-(2^(n-1) - 1) <= d <= 2^(n-1)`, that is if `d - 1` fits in `n` bits as a signed
/// number.
#[derive(Clone, Copy)]
struct Bucket {
    /// The bucket's prefix ('10', '110', '1110') shifted above the `n` bits.
    prefix: u64,
    /// `2^n - 1`.
    mask: u64,
    /// Prefix plus `n` bits; 0 if the 64-bit bucket is needed.
    len: u32,
}

/// The index into [`BUCKETS`] for a delta of delta `d`: the position of the highest bit of
/// `d - 1` that differs from its sign (0 if none), so `d - 1` needs `index + 2` bits.
#[inline(always)]
fn dod_width(d: i64) -> u32 {
    let m = d.wrapping_sub(1);
    // `| 1` spares the zero case of leading_zeros; 0 and 1 both need the smallest bucket.
    63 - ((m ^ (m >> 63)) | 1).leading_zeros()
}

/// The bucket for each [`dod_width`] index.
static BUCKETS: [Bucket; 64] = {
    let mut t = [Bucket {
        prefix: 0,
        mask: 0,
        len: 0,
    }; 64];
    let mut i = 0;
    while i < 64 {
        let (prefix, n) = match i + 2 {
            0..=14 => (0b10u64, 14),
            15..=17 => (0b110, 17),
            18..=20 => (0b1110, 20),
            _ => (0, 0),
        };
        if n > 0 {
            t[i] = Bucket {
                prefix: prefix << n,
                mask: (1 << n) - 1,
                len: (64 - prefix.leading_zeros()) + n,
            };
        }
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v).unwrap();
        }
        let got: Vec<(i64, u64)> = c
            .iter()
            .map(|s| s.map(|(t, v)| (t, v.to_bits())))
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
        c.into_bytes()
    }

    #[test]
    fn the_buffer_grows_by_half_not_by_doubling() {
        // The bench's series: 30 s apart, values rising by 1,000 (about 2.3 bytes a sample).
        let mut c = XorChunk::new();
        let mut caps = vec![c.w.capacity()];
        for i in 0..120i64 {
            c.append(i * 30_000, 123_456_789.0 + 1000.0 * i as f64)
                .unwrap();
            if c.w.capacity() != *caps.last().unwrap() {
                caps.push(c.w.capacity());
            }
        }
        assert_eq!(caps[0], 128, "{caps:?}");
        for w in caps.windows(2) {
            assert!(
                w[1] <= w[0] + w[0] / 2 + 32,
                "grew {} -> {}: {caps:?}",
                w[0],
                w[1]
            );
        }
        // Never more than half again what is written, plus the slack.
        let used = c.bytes().len();
        assert!(c.w.capacity() <= used + used / 2 + 32, "{used} of {caps:?}");
    }

    #[test]
    fn a_reset_chunk_encodes_as_a_new_one_without_growing() {
        let first: Vec<(i64, f64)> = (0..150i64)
            .map(|i| (i * 15_000, (i * i) as f64 * 0.7))
            .collect();
        let second: Vec<(i64, f64)> = (0..120i64)
            .map(|i| {
                (
                    2_000_000 + i * 30_000,
                    if i % 7 == 0 { f64::NAN } else { i as f64 },
                )
            })
            .collect();
        let mut c = XorChunk::new();
        for &(t, v) in &first {
            c.append(t, v).unwrap();
        }
        let cap = c.w.capacity();
        c.reset();
        assert_eq!(c.bytes(), XorChunk::new().bytes());
        assert_eq!(c.num_samples(), 0);
        assert_eq!(c.last(), None);
        for &(t, v) in &second {
            c.append(t, v).unwrap();
        }
        assert_eq!(
            c.w.capacity(),
            cap,
            "the smaller second chunk fits the old buffer"
        );
        assert_eq!(c.into_bytes(), round_trip(&second));
    }

    #[test]
    fn empty_chunk() {
        let c = XorChunk::new();
        assert_eq!(c.bytes(), &[0, 0]);
        assert_eq!(c.iter().count(), 0);
    }

    #[test]
    fn single_sample_has_prometheus_length() {
        // header 2 + varint(0) 1 + value 8 + the empty byte Prometheus's byte writer leaves.
        let b = round_trip(&[(0, 1.5)]);
        assert_eq!(b.len(), 12);
        assert_eq!(&b[..3], &[0, 1, 0]);
        assert_eq!(b[11], 0);
    }

    #[test]
    fn edge_values_and_times() {
        round_trip(&[
            (-5_000, f64::NAN),
            (-4_000, f64::from_bits(0x7ff0_0000_0000_0002)),
            (i64::MAX, f64::INFINITY),
            (i64::MIN, f64::NEG_INFINITY),
            (0, -0.0),
            (1, 0.0),
            (1, f64::MIN_POSITIVE),
            (3, f64::MAX),
        ]);
    }

    #[test]
    fn bucket_table_follows_prometheus_ranges() {
        // Prometheus: an n-bit bucket holds -(2^(n-1) - 1) ..= 2^(n-1).
        let fits = |d: i64, n: u32| -((1i64 << (n - 1)) - 1) <= d && d <= 1i64 << (n - 1);
        let mut ds = vec![
            1i64,
            -1,
            2,
            -2,
            i64::MIN,
            i64::MAX,
            i64::MIN + 1,
            1 << 40,
            -(1 << 40),
        ];
        for n in [14u32, 17, 20] {
            let half = 1i64 << (n - 1);
            ds.extend([
                half - 1,
                half,
                half + 1,
                -half - 1,
                -half,
                -half + 1,
                -half + 2,
            ]);
        }
        for d in ds {
            let b = &BUCKETS[dod_width(d) as usize];
            let want = [14u32, 17, 20].into_iter().find(|&n| fits(d, n));
            match want {
                Some(n) => {
                    assert_eq!(b.mask, (1 << n) - 1, "dod {d}");
                    assert_eq!(b.len, n + (n - 14) / 3 + 2, "dod {d}");
                    assert_eq!(b.prefix >> n, (1 << ((n - 14) / 3 + 2)) - 2, "dod {d}");
                }
                None => assert_eq!(b.len, 0, "dod {d}"),
            }
        }
    }

    #[test]
    fn all_dod_buckets() {
        let mut t = 1_000_000i64;
        let mut s = vec![(t, 1.0)];
        let mut delta = 15_000i64;
        for d in [
            0i64,
            1,
            -1,
            8191,
            -8191,
            8192,
            -8192,
            65536,
            -65535,
            65537,
            524288,
            -524287,
            524289,
            -524288,
            1 << 40,
        ] {
            delta += d;
            t += delta;
            s.push((t, s.len() as f64));
        }
        round_trip(&s);
    }

    #[test]
    fn from_bytes_of_every_prefix_continues_identically() {
        let samples: Vec<(i64, f64)> = (0..40)
            .map(|i| {
                (
                    i * 1000 + (i % 4),
                    if i < 5 { 7.0 } else { (i as f64).ln() },
                )
            })
            .collect();
        let mut whole = XorChunk::new();
        for &(t, v) in &samples {
            whole.append(t, v).unwrap();
        }
        for cut in 0..samples.len() {
            let mut head = XorChunk::new();
            for &(t, v) in &samples[..cut] {
                head.append(t, v).unwrap();
            }
            let mut c = XorChunk::from_bytes(head.bytes()).unwrap();
            for &(t, v) in &samples[cut..] {
                c.append(t, v).unwrap();
            }
            assert_eq!(c.bytes(), whole.bytes(), "cut at {cut}");
        }
    }

    #[test]
    fn from_bytes_continues_appending() {
        let mut c = XorChunk::new();
        for i in 0..50 {
            c.append(1000 + i * 15_000 + (i % 3), (i as f64).sqrt())
                .unwrap();
        }
        let mut d = XorChunk::from_bytes(c.bytes()).unwrap();
        assert_eq!(d.bytes(), c.bytes());
        for i in 50..100 {
            c.append(1000 + i * 15_000, i as f64 * 0.5).unwrap();
            d.append(1000 + i * 15_000, i as f64 * 0.5).unwrap();
        }
        assert_eq!(d.bytes(), c.bytes());
    }

    #[test]
    fn chunk_full() {
        let mut c = XorChunk::new();
        for i in 0..u16::MAX as i64 {
            c.append(i, 0.0).unwrap();
        }
        assert_eq!(c.append(1 << 20, 0.0), Err(ChunkFull(u16::MAX)));
        assert_eq!(c.iter().count(), u16::MAX as usize);
    }
}
