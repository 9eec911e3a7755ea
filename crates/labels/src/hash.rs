//! XXH64, the hash behind [`Labels::stable_hash`](crate::Labels::stable_hash).
//!
//! A plain one-shot implementation of the published XXH64 algorithm (seed 0 unless
//! given), written here so that the value never depends on a dependency's version,
//! the platform or the process: it is the same function Prometheus applies to label
//! sets (`github.com/cespare/xxhash/v2`), and its output may be stored or compared
//! across runs.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[inline]
fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline]
fn merge_round(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

#[inline]
fn read_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

#[inline]
fn read_u32(b: &[u8]) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u64::from(u32::from_le_bytes(w))
}

/// XXH64 of `data` with `seed`, as specified by the xxHash project; never panics.
pub fn xxh64(data: &[u8], seed: u64) -> u64 {
    let len = data.len() as u64;
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v1 = seed.wrapping_add(P1).wrapping_add(P2);
        let mut v2 = seed.wrapping_add(P2);
        let mut v3 = seed;
        let mut v4 = seed.wrapping_sub(P1);
        let mut stripes = data.chunks_exact(32);
        for s in &mut stripes {
            v1 = round(v1, read_u64(&s[0..8]));
            v2 = round(v2, read_u64(&s[8..16]));
            v3 = round(v3, read_u64(&s[16..24]));
            v4 = round(v4, read_u64(&s[24..32]));
        }
        rest = stripes.remainder();
        let mut h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        h = merge_round(h, v1);
        h = merge_round(h, v2);
        h = merge_round(h, v3);
        merge_round(h, v4)
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(len);

    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        h ^= round(0, read_u64(w));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
    }
    rest = words.remainder();
    if rest.len() >= 4 {
        h ^= read_u32(rest).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h ^= u64::from(b).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }

    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::xxh64;

    /// Reference values of XXH64 with seed 0, from the xxHash specification's
    /// implementation (checked against github.com/cespare/xxhash/v2 `Sum64`).
    #[test]
    fn known_vectors() {
        assert_eq!(xxh64(b"", 0), 0xef46_db37_51d8_e999);
        assert_eq!(xxh64(b"a", 0), 0xd24e_c4f1_a98c_6e5b);
        assert_eq!(xxh64(b"abc", 0), 0x44bc_2cf5_ad77_0999);
        assert_eq!(
            xxh64(b"Nobody inspects the spammish repetition", 0),
            0xfbce_a83c_8a37_8bf1
        );
        assert_eq!(
            xxh64(
                b"The quick brown fox jumps over the lazy dog, and then some more bytes",
                0
            ),
            0x9ee2_e9fc_0775_8f9b
        );
    }

    /// Every length from 0 to 100 (all tail paths and stripe counts), folded into one
    /// value; the expected value was computed with cespare/xxhash `Sum64`.
    #[test]
    fn all_lengths() {
        let b: Vec<u8> = (0..100u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut acc = 0u64;
        for n in 0..=100usize {
            acc ^= xxh64(&b[..n], 0).wrapping_mul(n as u64 + 1);
        }
        assert_eq!(acc, 0xe495_8ad0_092d_068e);
    }

    #[test]
    fn seed_changes_value() {
        assert_ne!(xxh64(b"abc", 0), xxh64(b"abc", 1));
    }
}
