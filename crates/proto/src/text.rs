//! Text that came from the network, made safe to keep and to show.
//!
//! Every string a peer sends (a user name at login, a command line, a tag, an agent's
//! inventory, a remote file name, an error reason) is untrusted twice: its length is the
//! sender's choice, and its characters may be terminal escape sequences (clipboard writes,
//! title changes, hyperlinks, cursor moves that hide lines), line breaks that forge log lines,
//! or bidirectional overrides that make a name read backwards. This module is the one place
//! that knows which characters those are:
//!
//! - [`check`] refuses a field that is too long or holds any of them, for values that are
//!   stored (names, tags, reasons);
//! - [`bounded`] cuts a value to a size, for values that are recorded whatever they are (an
//!   audit event about a refused request names what was sent, cut);
//! - [`display`] and [`display_lines`] escape them, for everything shown in a table, a
//!   message, a progress line or a log. The only bytes that reach a terminal raw are a
//!   session's own output, in a live session or a replay.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that must never reach a terminal or a log line raw: C0 and C1 controls and DEL
/// (escape sequences, line breaks, backspaces), the Unicode line and paragraph separators, and
/// the bidirectional formatting characters (U+061C, U+200E-U+200F, U+202A-U+202E,
/// U+2066-U+2069), which reorder what follows them on screen.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Why a field was refused by [`check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field} is too long ({len} bytes; at most {max})")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} holds a control or text-direction character ({})", escape(*.found))]
    Unsafe { field: &'static str, found: char },
}

/// Refuses `value` if it is longer than `max` bytes or holds an [`is_unsafe`] character.
pub fn check(field: &'static str, value: &str, max: usize) -> Result<(), TextError> {
    if value.len() > max {
        return Err(TextError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    match value.chars().find(|c| is_unsafe(*c)) {
        Some(found) => Err(TextError::Unsafe { field, found }),
        None => Ok(()),
    }
}

/// `value` cut to at most `max` bytes at a character boundary, with `…` (3 bytes, counted in
/// `max`) marking the cut. Values within the bound are borrowed unchanged.
pub fn bounded(value: &str, max: usize) -> Cow<'_, str> {
    if value.len() <= max {
        return Cow::Borrowed(value);
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &value[..end]))
}

/// `value` with every [`is_unsafe`] character written as an escape (`\n`, `\u{1b}`,
/// `\u{202e}`), so it shows on one line, as it is, and cannot drive the terminal.
pub fn display(value: &str) -> Cow<'_, str> {
    escape_where(value, |c, _| is_unsafe(c))
}

/// As [`display`], but line feeds, tabs and CRLF line ends are kept: for text of several
/// lines (a policy set, a validation error). A carriage return on its own, which could
/// overwrite a line, is still escaped.
pub fn display_lines(value: &str) -> Cow<'_, str> {
    escape_where(value, |c, next| match c {
        '\n' | '\t' => false,
        '\r' => next != Some('\n'),
        c => is_unsafe(c),
    })
}

fn escape_where(value: &str, unsafe_at: impl Fn(char, Option<char>) -> bool) -> Cow<'_, str> {
    let mut chars = value.chars().peekable();
    let mut first = None;
    let mut at = 0;
    while let Some(c) = chars.next() {
        if unsafe_at(c, chars.peek().copied()) {
            first = Some(at);
            break;
        }
        at += c.len_utf8();
    }
    let Some(first) = first else {
        return Cow::Borrowed(value);
    };
    let mut out = String::with_capacity(value.len() + 8);
    out.push_str(&value[..first]);
    let mut chars = value[first..].chars().peekable();
    while let Some(c) = chars.next() {
        if unsafe_at(c, chars.peek().copied()) {
            out.push_str(&escape(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c => {
            let mut s = String::new();
            let _ = write!(s, "\\u{{{:x}}}", c as u32);
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_what_drives_a_terminal() {
        assert_eq!(display("plain name"), "plain name");
        assert_eq!(display("a\x1b]52;c;aGk=\x07b"), "a\\u{1b}]52;c;aGk=\\u{7}b");
        assert_eq!(display("x\ny"), "x\\ny");
        assert_eq!(display("\u{202e}gnp.exe"), "\\u{202e}gnp.exe");
        assert_eq!(display("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(display("日本語 é"), "日本語 é");
        assert_eq!(display_lines("one\ntwo\r\x1b[2J"), "one\ntwo\\r\\u{1b}[2J");
        assert_eq!(display_lines("dos\r\nline\r"), "dos\r\nline\\r");
    }

    #[test]
    fn check_names_the_field_and_the_fault() {
        assert!(check("name", "web-1", 63).is_ok());
        let long = check("name", &"a".repeat(64), 63).unwrap_err();
        assert_eq!(long.to_string(), "name is too long (64 bytes; at most 63)");
        let bidi = check("tag value", "a\u{202e}b", 255).unwrap_err();
        assert_eq!(
            bidi.to_string(),
            "tag value holds a control or text-direction character (\\u{202e})"
        );
    }

    #[test]
    fn bounded_cuts_on_a_char_boundary() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("abcdefghij", 6), "abc…");
        // 'é' is two bytes: the cut may not split it.
        assert_eq!(bounded("éééé", 6), "é…");
    }

    proptest! {
        #[test]
        fn display_output_is_always_safe(s in ".*") {
            prop_assert!(!display(&s).chars().any(is_unsafe));
            let lines = display_lines(&s);
            let mut chars = lines.chars().peekable();
            while let Some(c) = chars.next() {
                let kept = c == '\n' || c == '\t' || (c == '\r' && chars.peek() == Some(&'\n'));
                prop_assert!(kept || !is_unsafe(c), "{:?} in {:?}", c, lines);
            }
        }

        #[test]
        fn bounded_respects_the_bound(s in ".*", max in 3usize..64) {
            let b = bounded(&s, max);
            prop_assert!(b.len() <= max);
            if s.len() <= max {
                prop_assert_eq!(b.as_ref(), s.as_str());
            }
        }
    }
}
