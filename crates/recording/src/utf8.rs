//! Terminal output arrives in frames cut at arbitrary byte offsets, but asciicast stores text.
//! [`Utf8Stream`] decodes incrementally: a character split across two frames is held back
//! until its end arrives, so valid UTF-8 survives the round trip byte for byte. Bytes that are
//! not UTF-8 at all become U+FFFD, as asciinema itself does.

/// Incremental, lossy UTF-8 decoder that never splits a character.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    /// The start of a character whose remaining bytes have not arrived (at most 3 bytes).
    carry: Vec<u8>,
}

impl Utf8Stream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `bytes`, returning all complete text; an unfinished character at the end is kept.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        let joined;
        let mut rest: &[u8] = if self.carry.is_empty() {
            bytes
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(bytes);
            joined = buf;
            &joined
        };
        let mut out = String::with_capacity(rest.len());
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    out.push_str(text);
                    return out;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // `valid_up_to` promises that `good` is UTF-8.
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &bad[n..];
                        }
                        None => {
                            self.carry = bad.to_vec();
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// `bytes` (after what was carried over) as text if they are UTF-8 but for a character cut
    /// at the end, which is carried to the next call; `None`, changing nothing, if they hold a
    /// byte sequence that is not UTF-8 at all (binary output).
    pub fn decode_text<'a>(&mut self, bytes: &'a [u8]) -> Option<std::borrow::Cow<'a, str>> {
        use std::borrow::Cow;
        if self.carry.is_empty() {
            return match std::str::from_utf8(bytes) {
                Ok(text) => Some(Cow::Borrowed(text)),
                Err(e) if e.error_len().is_some() => None,
                Err(e) => {
                    let (good, tail) = bytes.split_at(e.valid_up_to());
                    self.carry = tail.to_vec();
                    Some(Cow::Borrowed(std::str::from_utf8(good).unwrap_or_default()))
                }
            };
        }
        let mut joined = [self.carry.as_slice(), bytes].concat();
        let tail = match std::str::from_utf8(&joined) {
            Ok(_) => Vec::new(),
            Err(e) if e.error_len().is_some() => return None,
            Err(e) => joined.split_off(e.valid_up_to()),
        };
        let text = String::from_utf8(joined).ok()?;
        self.carry = tail;
        Some(Cow::Owned(text))
    }

    /// As [`Self::push`], without copying when nothing is carried over and `bytes` are whole
    /// UTF-8: the common case for terminal output, on the recorder's hot path.
    pub fn decode<'a>(&mut self, bytes: &'a [u8]) -> std::borrow::Cow<'a, str> {
        if self.carry.is_empty() {
            if let Ok(text) = std::str::from_utf8(bytes) {
                return std::borrow::Cow::Borrowed(text);
            }
        }
        std::borrow::Cow::Owned(self.push(bytes))
    }

    /// The start of an unfinished character, handed over as bytes (the stream forgets it).
    pub fn take_carry(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.carry)
    }

    /// Ends the stream: an unfinished character becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        if self.carry.is_empty() {
            String::new()
        } else {
            self.carry.clear();
            char::REPLACEMENT_CHARACTER.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn split_character_is_held_back() {
        let mut s = Utf8Stream::new();
        let snow = "☃".as_bytes();
        assert_eq!(s.push(&[b'a', snow[0]]), "a");
        assert_eq!(s.push(&snow[1..2]), "");
        assert_eq!(s.push(&[snow[2], b'b']), "☃b");
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement() {
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(b"x\xffy"), "x\u{fffd}y");
        assert_eq!(s.push(b"\xe2\x98"), "");
        assert_eq!(s.finish(), "\u{fffd}");
    }

    proptest! {
        /// Valid UTF-8 cut anywhere decodes to exactly the original text.
        #[test]
        fn valid_text_survives_any_cuts(text in "\\PC{0,64}", cuts in proptest::collection::vec(0usize..256, 0..8)) {
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut s = Utf8Stream::new();
            let mut out = String::new();
            let mut at = 0;
            for p in points {
                out.push_str(&s.push(&bytes[at..p]));
                at = p;
            }
            out.push_str(&s.push(&bytes[at..]));
            out.push_str(&s.finish());
            prop_assert_eq!(out, text);
        }

        /// Arbitrary bytes never panic and match std's lossy decoding when fed whole.
        #[test]
        fn matches_std_lossy(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut s = Utf8Stream::new();
            let mut out = s.push(&bytes);
            out.push_str(&s.finish());
            prop_assert_eq!(out, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
}
