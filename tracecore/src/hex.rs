//! Lowercase hexadecimal encoding and strict decoding with lookup tables.
//!
//! Every id on the wire is lowercase hex of a fixed width (W3C Trace Context §3.2.2: `HEXDIGLC`).
//! Decoding rejects uppercase digits, so `0A` is as invalid as `0g`.

const INVALID: u8 = 0xff;

/// Maps an ASCII byte to its value as a lowercase hex digit, or `INVALID`.
static DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

const ENCODE: &[u8; 16] = b"0123456789abcdef";

/// Decodes `src` (at most 32 lowercase hex digits) into an integer; `None` on any other byte.
#[inline]
pub(crate) fn decode_u128(src: &[u8]) -> Option<u128> {
    debug_assert!(src.len() <= 32);
    // Two 64-bit halves: cheaper than shifting a 128-bit accumulator per digit.
    let split = src.len().saturating_sub(16);
    let high = decode_u64(&src[..split])?;
    let low = decode_u64(&src[split..])?;
    Some((u128::from(high) << 64) | u128::from(low))
}

/// Decodes `src` (at most 16 lowercase hex digits) into an integer; `None` on any other byte.
#[inline]
pub(crate) fn decode_u64(src: &[u8]) -> Option<u64> {
    debug_assert!(src.len() <= 16);
    if src.len() == 16 {
        let (hi, lo) = src.split_at(8);
        let hi = decode8(hi.try_into().ok()?)?;
        let lo = decode8(lo.try_into().ok()?)?;
        return Some((u64::from(hi) << 32) | u64::from(lo));
    }
    let mut acc: u64 = 0;
    let mut bad: u8 = 0;
    for &b in src {
        let v = DECODE[b as usize];
        bad |= v;
        acc = (acc << 4) | u64::from(v & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(acc)
}

pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;

/// Sets the high bit of each byte of `x` (all bytes below 0x80) that lies in `lo..=hi`.
#[inline]
pub(crate) const fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
    let ge_lo = x + ONES * (0x80 - lo as u64);
    let gt_hi = x + ONES * (0x7f - hi as u64);
    ge_lo & !gt_hi & HIGH
}

/// Decodes 8 lowercase hex digits at once (SWAR), first digit most significant.
#[inline]
fn decode8(src: [u8; 8]) -> Option<u32> {
    let x = u64::from_le_bytes(src);
    // Below 0x80 in every byte, the range sums cannot carry from one byte into the next.
    if x & HIGH != 0 {
        return None;
    }
    if (in_range(x, b'0', b'9') | in_range(x, b'a', b'f')) != HIGH {
        return None;
    }
    // '0'..'9' have bit 6 clear, 'a'..'f' set: value = low nibble + 9 for letters.
    let nibbles = (x & (ONES * 0x0f)) + ((x >> 6) & ONES) * 9;
    // Byte 0 holds the first digit: reverse, then fold pairs of nibbles, bytes, halves.
    let v = nibbles.swap_bytes();
    let v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
    let v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    let v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff;
    Some(v as u32)
}

/// Decodes two lowercase hex digits into a byte.
#[inline]
pub(crate) fn decode_u8(hi: u8, lo: u8) -> Option<u8> {
    let (h, l) = (DECODE[hi as usize], DECODE[lo as usize]);
    ((h | l) & 0xf0 == 0).then_some((h << 4) | l)
}

/// Value of one hex digit, upper or lower case (for percent-decoding, where RFC 3986 allows both).
#[inline]
pub(crate) fn digit_any_case(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Writes `value` as exactly `out.len()` lowercase hex digits (most significant first).
#[inline]
pub(crate) fn encode_into(mut value: u128, out: &mut [u8]) {
    let mut chunks = out.rchunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&encode8(value as u32));
        value >>= 32;
    }
    for slot in chunks.into_remainder().iter_mut().rev() {
        *slot = ENCODE[(value & 0x0f) as usize];
        value >>= 4;
    }
}

/// The 8 lowercase hex digits of `v` (SWAR): spread the nibbles to one per byte, then add `'0'`,
/// and 39 more where the nibble is 10 or above (`'a' - '0' - 10`).
#[inline]
fn encode8(v: u32) -> [u8; 8] {
    let v = u64::from(v);
    // Spread: 0x12345678 -> 0x0102030405060708, first digit in the high byte.
    let v = ((v & 0xffff_0000) << 16) | (v & 0x0000_ffff);
    let v = ((v & 0x0000_ff00_0000_ff00) << 8) | (v & 0x0000_00ff_0000_00ff);
    let v = ((v & 0x00f0_00f0_00f0_00f0) << 4) | (v & 0x000f_000f_000f_000f);
    // Bytes >= 10 get their high bit set by adding 0x76; spread that bit to 39.
    let letters = ((v + ONES * 0x76) & HIGH) >> 7;
    (v + ONES * u64::from(b'0') + letters * 39).to_be_bytes()
}

/// The lowercase hex digit for the low four bits of `nibble`.
#[inline]
pub(crate) fn digit(nibble: u8) -> u8 {
    ENCODE[(nibble & 0x0f) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_lowercase_only() {
        assert_eq!(decode_u64(b"00f067aa0ba902b7"), Some(0x00f0_67aa_0ba9_02b7));
        assert_eq!(
            decode_u64(b"00F067AA0BA902B7"),
            None,
            "uppercase is not HEXDIGLC"
        );
        assert_eq!(decode_u64(b"00f067aa0ba902bg"), None);
        assert_eq!(
            decode_u128(b"4bf92f3577b34da6a3ce929d0e0e4736"),
            Some(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)
        );
        assert_eq!(decode_u8(b'f', b'f'), Some(0xff));
        assert_eq!(decode_u8(b'-', b'1'), None);
    }

    #[test]
    fn swar_matches_the_table_on_every_byte() {
        // Every byte value at every position of an otherwise valid 16-digit id.
        for pos in 0..16 {
            for b in 0..=255u8 {
                let mut src = *b"0123456789abcdef";
                src[pos] = b;
                let table = src.iter().try_fold(0u64, |acc, &c| {
                    let v = DECODE[c as usize];
                    (v != INVALID).then_some((acc << 4) | u64::from(v))
                });
                assert_eq!(decode_u64(&src), table, "byte {b:#04x} at {pos}");
            }
        }
    }

    #[test]
    fn encodes_fixed_width() {
        let mut out = [0u8; 16];
        encode_into(0xab, &mut out);
        assert_eq!(&out, b"00000000000000ab");
        let mut out = [0u8; 32];
        encode_into(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210, &mut out);
        assert_eq!(&out, b"0123456789abcdeffedcba9876543210");
        let mut odd = [0u8; 2];
        encode_into(0x1f, &mut odd);
        assert_eq!(&odd, b"1f");
    }

    #[test]
    fn swar_encode_matches_format() {
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..10_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            assert_eq!(encode8(x), *format!("{x:08x}").as_bytes());
        }
        for x in [0, u32::MAX, 0x0a0a_0a0a, 0x9999_9999, 0xa9a9_a9a9] {
            assert_eq!(encode8(x), *format!("{x:08x}").as_bytes());
        }
    }
}
