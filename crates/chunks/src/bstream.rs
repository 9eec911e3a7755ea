//! Bit streams: a writer that appends bits into its own `Vec<u8>` and a reader over a borrowed slice.
//!
//! Bits are written most-significant first, as Prometheus's `bstream` does. The writer reproduces the
//! exact byte length Prometheus ends up with: when the last write of a stream was a whole number of
//! bytes starting on a byte boundary, Prometheus leaves one extra, empty byte at the end (its byte
//! writer always opens the next byte). That byte is part of the chunk on disk, so we keep it too.

/// Appends bits to a growing byte buffer.
///
/// Bits collect in a 64-bit register (`acc`, the bits from byte `byte` on) that is stored whole
/// into the buffer, so a write never reads the buffer back. A whole sample goes out in one
/// [`BitWriter::write_sample`]; rarer samples bracket their writes with [`BitWriter::begin`] and
/// [`BitWriter::end`] and use the cheap [`BitWriter::put`] in between; [`BitWriter::write_bits`]
/// works anywhere.
///
/// Invariants between calls: `buf[byte..byte + 8]` holds `acc` and every byte after it is zero.
/// After anything but `begin`/`put`/`make_room` the writer is *settled*: `nacc < 8`, so `byte`
/// is the first byte not yet complete. At the start of a sample `buf` extends at least
/// [`SLACK`] bytes past `byte`.
#[derive(Debug)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Index in `buf` where `acc` is stored.
    byte: usize,
    /// Bits from `byte` on, left-aligned; the top `nacc` are written, the rest zero.
    acc: u64,
    /// Bits written into `acc` (0..=64; below 8 when settled).
    nacc: u32,
    /// Length in bits of the last write (0 if it wrote no value bits), for Prometheus's rule on
    /// the empty trailing byte (see [`BitWriter::len`]).
    last_len: u8,
}

/// Slack kept after `byte` at the start of a sample: a sample writes at most 19 bytes, and
/// [`BitWriter::write_sample`] stores 16 bytes from `byte`, the last 8 possibly past them.
const SLACK: usize = 32;

impl BitWriter {
    /// A writer whose stream starts with `header_bytes` zero bytes already written, with room
    /// for about `capacity` bytes before it must grow.
    pub(crate) fn with_header(header_bytes: usize, capacity: usize) -> Self {
        // Zeroed up front (one memset), so growing is only ever needed past `capacity`.
        let buf = vec![0; (capacity + SLACK).max(header_bytes + SLACK)];
        BitWriter {
            buf,
            byte: header_bytes,
            acc: 0,
            nacc: 0,
            last_len: 0,
        }
    }

    /// A writer continuing after existing bytes whose meaningful bits end at `bit_pos`.
    ///
    /// Bits of the last byte after `bit_pos` are cleared (they are padding and will be overwritten).
    /// `extra_byte` says whether `bytes` carries the empty trailing byte described in the module
    /// docs (only possible when `bit_pos` is a whole number of bytes).
    pub(crate) fn resume(bytes: &[u8], bit_pos: usize, extra_byte: bool) -> Self {
        let byte = bit_pos / 8;
        let nacc = (bit_pos % 8) as u32;
        let mut buf = Vec::with_capacity(byte + 64);
        buf.extend_from_slice(&bytes[..byte.min(bytes.len())]);
        buf.resize(byte + SLACK, 0);
        let partial = if nacc == 0 {
            0
        } else {
            bytes.get(byte).copied().unwrap_or(0) & (0xffu8 << (8 - nacc))
        };
        let mut w = BitWriter {
            buf,
            byte,
            acc: (partial as u64) << 56,
            nacc,
            // Any whole number of bytes ending on a byte boundary stands for the last write.
            last_len: if extra_byte && nacc == 0 { 8 } else { 0 },
        };
        w.store();
        w
    }

    /// Empties the writer for a new stream of `header_bytes` zero bytes, keeping its buffer (a cut
    /// chunk's buffer serves the next chunk of the series without a new allocation).
    pub(crate) fn reset(&mut self, header_bytes: usize) {
        // Everything written lies before `byte + 8` (`acc` is stored there), so clearing up to the
        // slack past it covers even a store of a sample's second word; the rest is zero already.
        let written = (self.byte + SLACK).min(self.buf.len());
        self.buf[..written].fill(0);
        if self.buf.len() < header_bytes + SLACK {
            self.buf.resize(header_bytes + SLACK, 0);
        }
        self.byte = header_bytes;
        self.acc = 0;
        self.nacc = 0;
        self.last_len = 0;
    }

    /// Length in bytes of the stream written so far.
    ///
    /// Prometheus leaves one empty byte after a last write that was a whole number of bytes
    /// starting on a byte boundary, that is, one whose length and end are both multiples of 8.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        let extra = self.last_len != 0 && self.last_len & 7 == 0 && self.nacc & 7 == 0;
        self.byte + self.nacc.div_ceil(8) as usize + extra as usize
    }

    /// The stream written so far.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len()]
    }

    /// Overwrites two bytes at `at`, which must lie before the bit position (the sample-count
    /// header).
    #[inline]
    pub(crate) fn put_u16_be(&mut self, at: usize, v: u16) {
        debug_assert!(at + 2 <= self.byte);
        self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// The stream, with the slack removed.
    pub(crate) fn into_bytes(mut self) -> Vec<u8> {
        let len = self.len();
        self.buf.truncate(len);
        self.buf
    }

    #[inline(always)]
    fn store(&mut self) {
        let at = self.byte;
        self.buf[at..at + 8].copy_from_slice(&self.acc.to_be_bytes());
    }

    /// Moves the whole bytes of `acc` out of it (they are in the buffer already).
    #[inline(always)]
    fn advance(&mut self) {
        let done = self.nacc >> 3;
        self.byte += done as usize;
        // Two shifts, as `done` may be 8.
        self.acc = (self.acc << (done * 4)) << (done * 4);
        self.nacc &= 7;
    }

    /// Bytes the buffer holds room for (tests of the growth policy).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Grows the buffer by half (at least to `byte + SLACK` bytes): an open chunk of a head with
    /// many series is mostly its buffer, and doubling left up to half of it unused. Takes only the
    /// buffer, so that the rest of the writer can stay in registers in a caller's loop.
    #[cold]
    #[inline(never)]
    fn grow(buf: &mut Vec<u8>, byte: usize) {
        let want = (byte + SLACK).max(buf.len() + buf.len() / 2);
        // Exactly: `resize` alone would let `Vec` double the capacity (its amortized growth), and
        // the half-again policy above would leave up to three quarters of the buffer unused.
        buf.reserve_exact(want.saturating_sub(buf.len()));
        buf.resize(want, 0);
    }

    /// Grows the buffer as [`BitWriter::grow`] does and returns the [`SLACK`] bytes from `byte`.
    #[cold]
    #[inline(never)]
    fn grow_to_slack(buf: &mut Vec<u8>, byte: usize) -> &mut [u8; SLACK] {
        Self::grow(buf, byte);
        match buf
            .get_mut(byte..)
            .and_then(|s| s.first_chunk_mut::<SLACK>())
        {
            Some(dst) => dst,
            // `grow` made the buffer long enough.
            None => unreachable!("buffer grown past byte + SLACK"),
        }
    }

    /// Starts a sample: afterwards at least 57 bits can be [`BitWriter::put`].
    #[inline(always)]
    pub(crate) fn begin(&mut self) {
        self.advance();
        if self.buf.len() < self.byte + SLACK {
            Self::grow(&mut self.buf, self.byte);
        }
    }

    /// Ends a sample: stores the register and settles the writer.
    #[inline(always)]
    pub(crate) fn end(&mut self) {
        self.store();
        self.advance();
    }

    /// Within a sample: stores the register and moves its whole bytes out, so that at least 57
    /// bits can be put again.
    #[inline(always)]
    pub(crate) fn make_room(&mut self) {
        self.store();
        self.advance();
    }

    /// Room left in the register for [`BitWriter::put`].
    #[inline(always)]
    pub(crate) fn room(&self) -> u32 {
        64 - self.nacc
    }

    /// Appends the `n` low bits of `v` (`1 <= n <= room()`) to the register, without storing.
    #[inline(always)]
    pub(crate) fn put(&mut self, v: u64, n: u32) {
        debug_assert!(n >= 1 && n <= self.room());
        // Left-align the n bits; the shift also discards any bits of `v` above the n low ones.
        self.acc |= (v << (64 - n)) >> self.nacc;
        self.last_len = n as u8;
        self.nacc += n;
    }

    /// Writes one whole sample into a settled writer and leaves it settled: the `head_len`
    /// (`1..=37`) low bits of `head`, then the `width` (`0..=64`) high bits of `value` (`value`
    /// has no bits set below them). The value bits count as the last write.
    ///
    /// The hot path of appending, without branches on the data: both words a sample can touch
    /// are stored every time, and the register moves on to whichever holds the last bit.
    #[inline(always)]
    pub(crate) fn write_sample(&mut self, head: u64, head_len: u32, value: u64, width: u32) {
        debug_assert!((1..=37).contains(&head_len) && width <= 64 && self.nacc < 8);
        debug_assert!(value.checked_shl(width).unwrap_or(0) == 0);
        let byte = self.byte;
        let dst = match self
            .buf
            .get_mut(byte..)
            .and_then(|s| s.first_chunk_mut::<SLACK>())
        {
            Some(dst) => dst,
            None => Self::grow_to_slack(&mut self.buf, byte),
        };
        // nacc < 8 and head_len <= 37: the head fits, ending at bit n1 (1..=44) of `hi`; the
        // value follows, split over `hi` and `lo`.
        let n1 = self.nacc + head_len;
        let acc = self.acc | (head << (64 - head_len)) >> self.nacc;
        let hi = acc | value >> n1;
        let lo = value << (64 - n1);
        dst[..8].copy_from_slice(&hi.to_be_bytes());
        dst[8..16].copy_from_slice(&lo.to_be_bytes());
        // At most 44 + 64 bits: the last bit is in `lo` exactly when 64 or more were written.
        let total = n1 + width;
        let last = if total >= 64 { lo } else { hi };
        self.byte = byte + (total >> 3) as usize;
        self.acc = last << (total & 56);
        self.nacc = total & 7;
        self.last_len = width as u8;
    }

    /// Appends the `n` low bits of `v` (`1 <= n <= 64`), most significant first, stores, and
    /// settles the writer.
    #[inline(always)]
    pub(crate) fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!((1..=64).contains(&n));
        // The register may hold bits `put` has not stored yet.
        self.store();
        self.begin();
        if n > self.room() {
            // Only a 64-bit write after a partial byte gets here: split it.
            let first = self.room();
            self.put(v >> (n - first), first);
            self.store();
            self.advance();
            self.put(v, n - first);
        } else {
            self.put(v, n);
        }
        // Prometheus's rule for the empty trailing byte looks at the whole write.
        self.last_len = n as u8;
        self.end();
    }
}

impl Clone for BitWriter {
    /// Clones only the written stream (and the slack it needs), not spare capacity.
    fn clone(&self) -> Self {
        let end = (self.byte + SLACK).min(self.buf.len());
        let mut buf = Vec::with_capacity(self.byte + SLACK);
        buf.extend_from_slice(&self.buf[..end]);
        buf.resize(self.byte + SLACK, 0);
        BitWriter {
            buf,
            byte: self.byte,
            acc: self.acc,
            nacc: self.nacc,
            last_len: self.last_len,
        }
    }
}

/// Reads bits, most significant first, from a borrowed slice without allocating.
///
/// Bits are staged in a 64-bit window that is refilled up to 8 bytes at a time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BitReader<'a> {
    pub(crate) data: &'a [u8],
    /// Next byte of `data` to load into the window.
    pub(crate) next: usize,
    /// Staged bits, left-aligned. Bits below `avail` are either zero or the true following bits.
    pub(crate) window: u64,
    /// Number of valid bits at the top of `window`.
    pub(crate) avail: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            next: 0,
            window: 0,
            avail: 0,
        }
    }

    /// Number of bits consumed so far.
    #[inline]
    pub(crate) fn bit_position(&self) -> usize {
        self.next * 8 - self.avail as usize
    }

    /// Moves to bit `bit` of the data (clamped to its end): the next read starts there.
    #[inline]
    pub(crate) fn seek(&mut self, bit: usize) {
        let bit = bit.min(self.data.len() * 8);
        self.next = bit / 8;
        self.window = 0;
        self.avail = 0;
        let skip = (bit % 8) as u32;
        if skip > 0 {
            // At least the byte holding `bit` is loaded.
            self.refill();
            self.window <<= skip;
            self.avail -= skip;
        }
    }

    /// Loads bytes into the window until it holds more than 56 bits or the data is exhausted.
    #[inline(always)]
    pub(crate) fn refill(&mut self) {
        if let Some(chunk) = self
            .data
            .get(self.next..)
            .and_then(|rest| rest.first_chunk::<8>())
        {
            // The loaded bits land where they belong; bits already in the window below `avail`
            // are the same stream bits (or zero), so OR-ing them again changes nothing.
            self.window |= u64::from_be_bytes(*chunk) >> self.avail;
            let take = (63 - self.avail) >> 3;
            self.next += take as usize;
            self.avail += take * 8;
        } else if self.avail <= 56 && self.next < self.data.len() {
            *self = self.refill_tail();
        }
    }

    /// [`BitReader::refill`] within the last 8 bytes: byte by byte. By value, so that callers'
    /// readers can stay in registers.
    #[cold]
    #[inline(never)]
    fn refill_tail(mut self) -> Self {
        while self.avail <= 56 {
            let Some(&b) = self.data.get(self.next) else {
                break;
            };
            self.window |= (b as u64) << (56 - self.avail);
            self.next += 1;
            self.avail += 8;
        }
        self
    }

    /// Reads `n` bits (`1..=56`) as the low bits of the result; `None` if the data ends first.
    #[inline(always)]
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!((1..=56).contains(&n));
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return None;
            }
        }
        let v = self.window >> (64 - n);
        self.window <<= n;
        self.avail -= n;
        Some(v)
    }

    /// Reads `n` bits (`1..=64`).
    #[inline(always)]
    pub(crate) fn read_bits_wide(&mut self, n: u32) -> Option<u64> {
        if n <= 56 {
            self.read_bits(n)
        } else {
            let hi = self.read_bits(n - 32)?;
            let lo = self.read_bits(32)?;
            Some(hi << 32 | lo)
        }
    }

    /// Reads one bit.
    #[inline]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        if self.avail == 0 {
            self.refill();
            if self.avail == 0 {
                return None;
            }
        }
        let b = self.window >> 63 != 0;
        self.window <<= 1;
        self.avail -= 1;
        Some(b)
    }

    /// Counts leading one bits, consuming them and the terminating zero, stopping after `max` ones
    /// (in which case no zero is consumed). Returns `None` if the data ends first.
    #[inline]
    pub(crate) fn read_unary(&mut self, max: u32) -> Option<u32> {
        if self.avail < max + 1 {
            self.refill();
        }
        if self.avail > max {
            let ones = (!self.window).leading_zeros().min(max);
            let used = if ones == max { max } else { ones + 1 };
            self.window <<= used;
            self.avail -= used;
            return Some(ones);
        }
        // Close to the end of the data: go bit by bit.
        let mut ones = 0;
        while ones < max {
            if !self.read_bit()? {
                return Some(ones);
            }
            ones += 1;
        }
        Some(ones)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_then_reader_round_trip() {
        let mut w = BitWriter::with_header(0, 0);
        let items: Vec<(u64, u32)> = (1..=64u32)
            .map(|n| {
                (
                    0x9e37_79b9_7f4a_7c15u64.rotate_left(n) & (u64::MAX >> (64 - n)),
                    n,
                )
            })
            .collect();
        for &(v, n) in &items {
            w.write_bits(v, n);
            w.write_bits((n % 3 == 0) as u64, 1);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for &(v, n) in &items {
            assert_eq!(r.read_bits_wide(n), Some(v), "width {n}");
            assert_eq!(r.read_bit(), Some(n % 3 == 0));
        }
    }

    #[test]
    fn aligned_whole_byte_write_leaves_empty_byte() {
        let mut w = BitWriter::with_header(2, 0);
        w.write_bits(0xab, 8);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0]);
        w.write_bits(1, 1);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0x80]);
        w.write_bits(0x3, 2);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0xe0]);
        // Unaligned whole bytes: no extra byte.
        w.write_bits(0xff, 8);
        assert_eq!(w.bytes(), &[0, 0, 0xab, 0xff, 0xe0]);
    }

    #[test]
    fn reader_reports_end() {
        let data = [0xffu8; 3];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_bits(20), Some(0xfffff));
        assert_eq!(r.read_bits(5), None);
        assert_eq!(r.read_bits(4), Some(0xf));
        assert_eq!(r.read_bit(), None);
    }

    #[test]
    fn unary() {
        let data = [0b1011_1101u8, 0b1110_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_unary(4), Some(1));
        assert_eq!(r.read_unary(4), Some(4));
        assert_eq!(r.read_unary(4), Some(0));
        assert_eq!(r.read_unary(4), Some(4));
        assert_eq!(r.read_unary(4), Some(0));
        assert_eq!(r.bit_position(), 12);
    }
}
