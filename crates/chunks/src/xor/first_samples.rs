//! Samples 0 and 1 of a chunk decoded straight from its bytes, for the batch decoders.
//!
//! Their timestamps are varints that start on byte boundaries, and so does the value of sample
//! 1, so they need no bit reader. Anything unusual is left to the bit-by-bit decoder.

use super::bit_by_bit::Decoder;
use crate::varint;

impl Decoder<'_> {
    /// Decodes samples 0 and 1 straight from the bytes: their timestamps are varints that
    /// start on byte boundaries, and so does the value of sample 1. Returns `None`, having
    /// consumed nothing, if anything is unusual (the data ends, an overflow, a bad window):
    /// [`Decoder::next_general`] then decodes them and reports what is wrong.
    #[inline(never)]
    pub(super) fn first_two(&mut self) -> Option<[(i64, f64); 2]> {
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
}
