//! The x86-64 assembly XOR decoder (BMI2 and MOVBE): the batch loop of [`super::portable_batch`]
//! hand-scheduled, compiled in by the `asm` feature and used where the CPU supports it.
//!
//! [`Decoder::run_asm`] decodes the samples the portable loop would, with the same state, and
//! stops (leaving that state at the start of a sample) at anything it does not handle itself: a
//! 64-bit delta of delta, a value window that does not fit, the end of the data or a full
//! output. The iterator then goes on with the bit-by-bit decoder, which reports what it finds.
//! Data of fewer than 16 bytes goes to the portable loop. Tests compare it with the bit-by-bit
//! decoder.
//!
//! A sample is read with one 16-byte load from its first byte. One that starts in the last 15
//! bytes is read from the data's last 16 bytes, shifted, so zero bits stand in for the bytes
//! after the end. The caller drops that sample if it ran into them. Decoding the end of a chunk
//! in the same loop rather than handing it to the Rust loop, whose branches see too few samples
//! to be predicted, made 15 s counters decode 11% faster.
//!
//! Why assembly: the loop carries nine values from sample to sample and needs five more while
//! decoding one. The compiler's version of it spilled two of them to the stack, recomputed
//! constants and took five jumps a sample: about 59 instructions a sample where this takes 40.

use std::arch::asm;
use std::mem::{offset_of, MaybeUninit};

use super::bit_by_bit::Decoder;
use crate::error::DecodeError;

// The loop stores a sample as the timestamp then the value bits, 8 bytes each.
const _: () = assert!(
    offset_of!((i64, f64), 0) == 0
        && offset_of!((i64, f64), 1) == 8
        && size_of::<(i64, f64)>() == 16
);

/// State of the batch loop between two samples.
#[derive(Debug, Clone, Copy)]
struct State {
    /// Address of the next sample in bits: its byte's address times 8, plus its bit in that
    /// byte. (x86-64 addresses have at most 57 bits, so this does not overflow.)
    bit: usize,
    t: u64,
    t_delta: u64,
    v: u64,
    /// Trailing zeros of the value window (low 6 bits) and the flag bit 7.
    trailing: u64,
    /// Significant bits of the value window, negated (`64 - width` in the low 6 bits).
    neg_width: u64,
}

/// Decodes samples into `out` from `state` on, while they start before the end of the data,
/// and returns how many were written; `state` is left at the first sample not decoded.
/// `stop` is the bit address of the data's last 15 bytes (a multiple of 8).
///
/// If the last sample written ends past the data (`state.bit > stop + 120`), it was decoded
/// from zero bits after the end and is not in the data: the caller must drop it. Only the last
/// can be such: the next one would start past the end.
///
/// # Safety
///
/// The CPU supports BMI2 and MOVBE. The 16 bytes from address `stop / 8 - 1` on, and those
/// from `state.bit / 8` up to them, lie in one slice.
#[inline(always)]
unsafe fn run(stop: usize, state: &mut State, out: &mut [MaybeUninit<(i64, f64)>]) -> usize {
    let start = out.as_mut_ptr();
    let end = start.wrapping_add(out.len());
    let mut p = start;
    let State {
        mut bit,
        mut t,
        mut t_delta,
        mut v,
        mut trailing,
        mut neg_width,
    } = *state;
    // Registers: `q` the sample's bit address, `p` its output slot, `t`, `td`, `v`, `tr`, `nw`
    // the coding state. Temporaries: `a` (a load address, a constant, the leading zeros of a
    // new window), `hi`/`lo` the sample's 16 bytes, `w` its bits from its first one on (then
    // from its value control on), `rcx` the bit offset `o` in `hi`, `d` the delta of delta.
    // That is 13 registers, all an asm block may have: `stop` and the end of `out` are pushed
    // and compared on the stack.
    //
    // SAFETY: loads stay within the slice (the caller's promise, checked by `q < stop` before
    // each sample); stores go to `p < end`, slots of `out`; the stack is used only by the two
    // pushes, undone before the end.
    unsafe {
        asm!(
            "push {d}",
            "push {a}",
            // Loop head: one sample. Aligned, so that where the loop lands in a binary does not
            // change how fast it runs.
            ".p2align 6",
            "2:",
            "cmp {q}, qword ptr [rsp + 8]",
            "jae 20f",
            "cmp {p}, qword ptr [rsp]",
            "jae 9f",
            "mov {a}, {q}",
            "shr {a}, 3",
            "movbe {hi}, qword ptr [{a}]",
            "movbe {lo}, qword ptr [{a} + 8]",
            "21:",
            "mov ecx, {q:e}",
            "and ecx, 7",
            "shlx {w}, {hi}, rcx",
            // Timestamp: '0' is a zero delta of delta.
            "test {w}, {w}",
            "js 3f",
            "xor {d:e}, {d:e}",
            "add ecx, 1",
            "add {w}, {w}",
            "jmp 5f",
            // '110' + 17 bits.
            "4:",
            "bt {w}, 61",
            "jc 41f",
            "mov {d}, {w}",
            "shl {d}, 3",
            "movabs {a}, 0x800000000000",
            "sub {d}, {a}",
            "sar {d}, 47",
            "inc {d}",
            "add ecx, 20",
            "shl {w}, 20",
            "jmp 5f",
            // '1110' + 20 bits; '1111' (64 bits) is left to the Rust loop.
            "41:",
            "bt {w}, 60",
            "jc 9f",
            "mov {d}, {w}",
            "shl {d}, 4",
            "movabs {a}, 0x100000000000",
            "sub {d}, {a}",
            "sar {d}, 44",
            "inc {d}",
            "add ecx, 24",
            "shl {w}, 24",
            "jmp 5f",
            // '10' + 14 bits. Values above 2^13 are negative: sign-extend `bits - 1`, add 1.
            "3:",
            "bt {w}, 62",
            "jc 4b",
            "movabs {d}, 0xfffc000000000000",
            "lea {d}, [{d} + 4*{w}]",
            "sar {d}, 50",
            "inc {d}",
            "add ecx, 16",
            "shl {w}, 16",
            // Value control, now the top bits of `w`; `rcx` is its offset in `hi`.
            "5:",
            "test {w}, {w}",
            "jns 8f",
            "bt {w}, 62",
            "jc 7f",
            "add ecx, 2",
            // The value bits: `width` bits from offset `rcx` (3..=44) of hi:lo, XORed in at
            // `trailing`.
            "6:",
            "shld {hi}, {lo}, cl",
            "shrx {hi}, {hi}, {nw}",
            "shlx {hi}, {hi}, {tr}",
            "xor {v}, {hi}",
            "sub rcx, {nw}",
            // The sample is decoded: store it, move to the next one.
            "80:",
            "and {q}, -8",
            "add {q}, rcx",
            "add {td}, {d}",
            "add {t}, {td}",
            "mov qword ptr [{p}], {t}",
            "mov qword ptr [{p} + 8], {v}",
            "add {p}, 16",
            "jmp 2b",
            // '0': the value repeats.
            "8:",
            "add ecx, 1",
            "jmp 80b",
            // '11': 5 bits of leading zeros, 6 of significant bits (0 means 64), then the bits.
            "7:",
            "mov {a}, {w}",
            "shl {a}, 2",
            "shr {a}, 59",
            "shl {w}, 7",
            "shr {w}, 58",
            "dec {w}",
            "and {w}, 63",
            "inc {w}",
            "add {a}, {w}",
            "cmp {a}, 64",
            "ja 9f",
            "mov {tr:e}, 0xc0",
            "sub {tr:e}, {a:e}",
            "mov {nw}, {w}",
            "neg {nw}",
            "add ecx, 13",
            "jmp 6b",
            // A sample in the last 15 bytes, unless past the end: load the last 16 bytes and
            // shift them left by the bytes before the sample's first (8..=120 bits), so zeros
            // come in after the end.
            "20:",
            "mov {a}, qword ptr [rsp + 8]",
            "add {a}, 120",
            "cmp {q}, {a}",
            "jae 9f",
            "cmp {p}, qword ptr [rsp]",
            "jae 9f",
            "sub {a}, 128",
            "shr {a}, 3",
            "movbe {hi}, qword ptr [{a}]",
            "movbe {lo}, qword ptr [{a} + 8]",
            "mov rcx, {q}",
            "shr rcx, 3",
            "sub rcx, {a}",
            "shl ecx, 3",
            "cmp ecx, 64",
            "jae 22f",
            "shld {hi}, {lo}, cl",
            "shlx {lo}, {lo}, rcx",
            "jmp 21b",
            "22:",
            "shlx {hi}, {lo}, rcx",
            "xor {lo:e}, {lo:e}",
            "jmp 21b",
            "9:",
            "add rsp, 16",
            q = inout(reg) bit,
            p = inout(reg) p,
            t = inout(reg) t,
            td = inout(reg) t_delta,
            v = inout(reg) v,
            tr = inout(reg) trailing,
            nw = inout(reg) neg_width,
            a = inout(reg) end => _,
            d = inout(reg) stop => _,
            hi = out(reg) _,
            lo = out(reg) _,
            w = out(reg) _,
            out("rcx") _,
        );
    }
    *state = State {
        bit,
        t,
        t_delta,
        v,
        trailing,
        neg_width,
    };
    // SAFETY: `p` only moved from `start` in whole slots, at most to `end`.
    unsafe { p.offset_from(start) as usize }
}

/// Whether this CPU runs the assembly decoder (it has BMI2 and MOVBE).
#[inline]
pub(super) fn supported() -> bool {
    std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("movbe")
}

/// Bytes from a sample's first byte that hold all of it: the data must have that many for the
/// loop to read it in place.
const MIN_DATA: usize = 16;

impl Decoder<'_> {
    /// Decodes samples `k, k + 1, …` (`k >= 2`) into `out` with the assembly loop, like
    /// [`Decoder::run_portable`] (which it hands data of fewer than 16 bytes): returns how many
    /// samples were decoded, and the error if the data ends inside the last one.
    ///
    /// # Safety
    ///
    /// The CPU supports BMI2 and MOVBE ([`supported`]).
    #[target_feature(enable = "bmi2,movbe")]
    pub(super) unsafe fn run_asm(
        &mut self,
        out: &mut [MaybeUninit<(i64, f64)>],
        k: u16,
    ) -> (usize, Option<DecodeError>) {
        let data = self.r.data;
        let at = self.r.bit_position().min(data.len() * 8);
        let base = at / 8;
        let rest = &data[base..];
        if rest.len() < MIN_DATA {
            // SAFETY: the CPU supports BMI2 and MOVBE (this function's requirements).
            return unsafe { self.run_portable_bmi2(out, k) };
        }
        // Bit addresses: the first byte's address times 8, plus the bit in that byte.
        let addr = rest.as_ptr() as usize * 8;
        let trailing = self.trailing as u64 & 63 | (self.window_set as u64) << 7;
        let width = 64 - self.leading as u64 - (trailing & 63);
        let mut st = State {
            bit: addr + at % 8,
            t: self.t as u64,
            t_delta: self.t_delta,
            v: self.v,
            trailing,
            neg_width: width.wrapping_neg(),
        };
        // SAFETY: the CPU supports BMI2 and MOVBE; `rest` has at least 16 bytes, the address
        // `stop` is that of its last 15, and the sample at `at % 8` starts in its first byte.
        let mut n = unsafe { run(addr + (rest.len() - (MIN_DATA - 1)) * 8, &mut st, out) };
        let end = st.bit - addr;
        let mut err = None;
        if end > rest.len() * 8 {
            // The last sample started in the data but ran into the zeros the loop reads after
            // its end: the data ends inside it. The state now holds that sample, but nothing is
            // decoded after an error.
            n = n.saturating_sub(1);
            err = Some(DecodeError::UnexpectedEnd {
                sample: k + n as u16,
            });
        }
        let width = st.neg_width.wrapping_neg() as u32;
        let trailing = st.trailing as u32;
        self.t = st.t as i64;
        self.t_delta = st.t_delta;
        self.v = st.v;
        self.trailing = (trailing & 63) as u8;
        self.leading = (64 - width - (trailing & 63)) as u8;
        self.window_set = trailing & 0x80 != 0;
        self.r.seek(base * 8 + end);
        (n, err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::agreement_tests::assert_decodes_whole_chunks;
    use super::*;

    #[test]
    fn decodes_whole_chunks_on_its_own_where_supported() {
        if supported() {
            // SAFETY: the CPU supports BMI2 and MOVBE.
            assert_decodes_whole_chunks(|d, out, k| unsafe { d.run_asm(out, k) });
        } else {
            // The iterator must then never pick it.
            assert!(!crate::DecodePath::available().contains(&crate::DecodePath::Asm));
        }
    }
}
