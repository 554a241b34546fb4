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
    let mut acc: u128 = 0;
    let mut bad: u8 = 0;
    for &b in src {
        let v = DECODE[b as usize];
        bad |= v;
        acc = (acc << 4) | u128::from(v & 0x0f);
    }
    // Valid digits are 0..=15, so only an INVALID entry sets the high bits.
    (bad & 0xf0 == 0).then_some(acc)
}

/// Decodes `src` (at most 16 lowercase hex digits) into an integer; `None` on any other byte.
#[inline]
pub(crate) fn decode_u64(src: &[u8]) -> Option<u64> {
    debug_assert!(src.len() <= 16);
    let mut acc: u64 = 0;
    let mut bad: u8 = 0;
    for &b in src {
        let v = DECODE[b as usize];
        bad |= v;
        acc = (acc << 4) | u64::from(v & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(acc)
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
    for slot in out.iter_mut().rev() {
        *slot = ENCODE[(value & 0x0f) as usize];
        value >>= 4;
    }
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
    fn encodes_fixed_width() {
        let mut out = [0u8; 16];
        encode_into(0xab, &mut out);
        assert_eq!(&out, b"00000000000000ab");
    }
}
