//! JSON string writing for the recorder's hot path.
//!
//! A session printing as fast as it can spends most of the recorder's time here, and nearly
//! all terminal output needs no escaping at all. So we look eight bytes at a time for the
//! few bytes JSON must escape (`"`, `\` and the controls below 0x20) and copy the runs between
//! them whole, where a byte-at-a-time escaper would look at every byte. The escapes written
//! are the same as `serde_json`'s, so the bytes match what it would have produced.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// True when some byte of `word` is a control (< 0x20), `"` or `\`. Exact for the word as a
/// whole (the bit tricks can mark a wrong lane after a true one, never a clean word).
#[inline]
fn needs_escape(word: u64) -> bool {
    let below_space = word.wrapping_sub(LO * 0x20) & !word;
    let quote = word ^ (LO * u64::from(b'"'));
    let backslash = word ^ (LO * u64::from(b'\\'));
    let zero_in = |x: u64| x.wrapping_sub(LO) & !x;
    (below_space | zero_in(quote) | zero_in(backslash)) & HI != 0
}

/// Appends `text` as a JSON string literal, quotes included.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0; // first byte not yet copied
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            if !needs_escape(word) {
                i += 8;
                continue;
            }
        }
        // Byte by byte through this word (or the tail), escaping what must be.
        let end = (i + 8).min(bytes.len());
        while i < end {
            if let Some(esc) = escape(bytes[i]) {
                out.extend_from_slice(&bytes[start..i]);
                esc.write(out);
                start = i + 1;
            }
            i += 1;
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
