//! The bit-by-bit XOR decoder: reads one sample field by field through a [`BitReader`].
//!
//! It handles every sample: the first two (varint timestamps), 64-bit timestamp deltas of
//! deltas, and the end of the data. It is the reference the batch decoders are tested against,
//! and the iterator falls back to it wherever they stop.

use crate::bstream::BitReader;
use crate::error::DecodeError;
use crate::varint;

/// Bit reader plus the state the XOR coding carries from sample to sample, shared by all the
/// decoders. The batch decoders copy it into locals (registers) while they run and store it back
/// when they stop, so that any decoder can go on where another stopped.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decoder<'a> {
    pub(super) r: BitReader<'a>,
    pub(super) t: i64,
    pub(super) v: u64,
    pub(super) t_delta: u64,
    pub(super) leading: u8,
    pub(super) trailing: u8,
    /// A value window ('11' control) has been read; until then `leading`/`trailing` are zero.
    pub(super) window_set: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of a chunk's bit stream (the bytes after the header).
    pub(super) fn new(stream: &'a [u8]) -> Self {
        Decoder {
            r: BitReader::new(stream),
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            window_set: false,
        }
    }
}

impl Decoder<'_> {
    #[inline]
    fn end(sample: u16) -> DecodeError {
        DecodeError::UnexpectedEnd { sample }
    }

    /// Decodes sample `sample` (any index) bit by bit where needed.
    #[inline(never)]
    pub(super) fn next_general(&mut self, sample: u16) -> Result<(), DecodeError> {
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

    pub(super) fn read_uvarint(&mut self, sample: u16) -> Result<u64, DecodeError> {
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
    pub(super) fn read_uvarint_bits(&mut self, sample: u16) -> Result<u64, DecodeError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let (mut a, mut b) = (Decoder::new(bytes), Decoder::new(bytes));
            let from_bytes = a.read_uvarint(0);
            let from_bits = b.read_uvarint_bits(0);
            assert_eq!(from_bytes, from_bits, "{bytes:02x?}");
            if from_bits.is_ok() {
                assert_eq!(a.r.bit_position(), b.r.bit_position(), "{bytes:02x?}");
            }
        }
    }
}
