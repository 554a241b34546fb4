//! Small text helpers shared by the header parsers.

use crate::hex;

/// `s` without leading and trailing OWS (SP and HTAB, RFC 9110 §5.6.3). Other whitespace is not
/// OWS and stays, so that it is rejected by the grammar that follows.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 3986 §2.1 percent-decoding: `%` must be followed by two hex digits (either case), else
/// the input is malformed and `None` is returned.
pub(crate) fn percent_decode(src: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'%' {
            let hi = hex::digit_any_case(*src.get(i + 1)?)?;
            let lo = hex::digit_any_case(*src.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(src[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_ows() {
        assert_eq!(trim_ows(b" \t a b \t "), b"a b");
        assert_eq!(trim_ows(b"\na\r"), b"\na\r");
        assert_eq!(trim_ows(b"  "), b"");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode(b"a%20b%2c%2C").as_deref(),
            Some(&b"a b,,"[..])
        );
        assert_eq!(percent_decode(b"%"), None);
        assert_eq!(percent_decode(b"%4"), None);
        assert_eq!(percent_decode(b"%zz"), None);
    }
}
