//! JSON string writing for the recorder's hot path.
//!
//! A session printing as fast as it can spends much of the recorder's time here, and most
//! terminal output is long runs that need no escaping. So we look eight bytes at a time for
//! the few bytes JSON must escape (`"`, `\` and the controls below 0x20), jump straight to the
//! first one a word holds, and copy the runs between them whole, where a byte-at-a-time
//! escaper would look at every byte. The escapes written
//! are the same as `serde_json`'s, so the bytes match what it would have produced.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The lanes of `word` holding a control (< 0x20), `"` or `\`, as the high bit of each lane.
/// Exact up to and including the lowest marked lane (the bit tricks can mark a wrong lane
/// only above a true one), which is all the caller uses; zero for a clean word.
#[inline]
fn escape_lanes(word: u64) -> u64 {
    let below_space = word.wrapping_sub(LO * 0x20) & !word;
    let quote = word ^ (LO * u64::from(b'"'));
    let backslash = word ^ (LO * u64::from(b'\\'));
    let zero_in = |x: u64| x.wrapping_sub(LO) & !x;
    (below_space | zero_in(quote) | zero_in(backslash)) & HI
}

/// Appends `text` as a JSON string literal, quotes included.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0; // first byte not yet copied
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let lanes = escape_lanes(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        if lanes == 0 {
            i += 8;
            continue;
        }
        // Straight to the first byte to escape (little-endian: the lowest lane comes first),
        // then look again from the byte after it.
        let at = i + (lanes.trailing_zeros() / 8) as usize;
        out.extend_from_slice(&bytes[start..at]);
        if let Some(esc) = escape(bytes[at]) {
            esc.write(out);
        }
        start = at + 1;
        i = at + 1;
    }
    for (k, &b) in bytes.iter().enumerate().skip(i) {
        if let Some(esc) = escape(b) {
            out.extend_from_slice(&bytes[start..k]);
            esc.write(out);
            start = k + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

enum Escape {
    Short(u8),
    Unicode(u8),
}

impl Escape {
    fn write(self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match self {
            Escape::Short(c) => out.extend_from_slice(&[b'\\', c]),
            Escape::Unicode(b) => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
}

fn escape(b: u8) -> Option<Escape> {
    Some(match b {
        b'"' => Escape::Short(b'"'),
        b'\\' => Escape::Short(b'\\'),
        b'\n' => Escape::Short(b'n'),
        b'\r' => Escape::Short(b'r'),
        b'\t' => Escape::Short(b't'),
        0x08 => Escape::Short(b'b'),
        0x0c => Escape::Short(b'f'),
        0..=0x1f => Escape::Unicode(b),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(text: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_what_json_needs() {
        assert_eq!(ours(""), "\"\"");
        assert_eq!(
            ours("plain text, long enough"),
            "\"plain text, long enough\""
        );
        assert_eq!(ours("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(ours("\u{1b}[0m\u{7f}é"), "\"\\u001b[0m\u{7f}é\"");
        assert_eq!(ours("12345678\r\n"), "\"12345678\\r\\n\"");
    }

    proptest! {
        /// Byte for byte what serde_json writes, so recordings read the same either way.
        #[test]
        fn matches_serde_json(text in "\\PC{0,64}|[\\x00-\\x7f]{0,64}") {
            prop_assert_eq!(ours(&text), serde_json::to_string(&text).unwrap());
        }
    }
}
