//! The escape character of an interactive session, as OpenSSH's client has it: typed at the
//! start of a line (after Enter, or first thing), `~.` disconnects, `~?` lists the commands,
//! `~^Z` suspends wicket, `~~` sends one `~`, and `~` before anything else is sent as typed.
//! The way out of a session whose far end stopped answering, when every key goes to it.
//!
//! [`Escapes`] is the state machine alone, with no IO: it turns what the user typed, read by
//! read, into [`Step`]s (bytes to send on, commands to act on). Bytes that hold no escape
//! sequence pass through unchanged however the reads cut them.

use std::ops::Range;

/// What the user asked for with the escape character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `~.`: end the session now, whatever the far end does.
    Disconnect,
    /// `~?`: list the escape sequences.
    Help,
    /// `~^Z`: stop wicket, as ^Z stops a local job; the session resumes with `fg`.
    Suspend,
}

/// One thing to do with the input, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes of the input on, as they are.
    Pass(Range<usize>),
    /// Send this byte on: the escape character, held back until the next key showed it did
    /// not start a command (or typed twice).
    Byte(u8),
    /// Act on a command; the keys that made it are not sent.
    Command(Command),
}

/// The escape state of one session's input.
#[derive(Clone, Debug)]
pub struct Escapes {
    escape: u8,
    /// The next byte starts a line (none typed yet, or the last was Enter).
    at_line_start: bool,
    /// The escape character was typed at the start of a line and is held back.
    pending: bool,
}

/// The `^Z` byte.
const CTRL_Z: u8 = 0x1a;

impl Escapes {
    pub fn new(escape: u8) -> Escapes {
        Escapes {
            escape,
            at_line_start: true,
            pending: false,
        }
    }

    /// The steps for the next read of input, in order. Ranges index `input`.
    pub fn steps<'a>(&'a mut self, input: &'a [u8]) -> Steps<'a> {
        Steps {
            escapes: self,
            input,
            pos: 0,
        }
    }

    /// The list `~?` shows, with this escape character, lines ended for a raw terminal.
    pub fn help(&self) -> String {
        let e = shown(self.escape);
        format!(
            "Supported escape sequences:\r\n \
             {e}.   - disconnect\r\n \
             {e}^Z  - suspend wicket\r\n \
             {e}?   - this message\r\n \
             {e}{e}   - send the escape character by typing it twice\r\n\
             (Note that escapes are only recognized immediately after newline.)\r\n"
        )
    }
}

/// The steps of one read ([`Escapes::steps`]).
pub struct Steps<'a> {
    escapes: &'a mut Escapes,
    input: &'a [u8],
    pos: usize,
}

impl Iterator for Steps<'_> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        loop {
            if self.pos >= self.input.len() {
                return None;
            }
            let e = &mut *self.escapes;
            if e.pending {
                e.pending = false;
                let b = self.input[self.pos];
                let command = match b {
                    b'.' => Some(Command::Disconnect),
                    b'?' => Some(Command::Help),
                    CTRL_Z => Some(Command::Suspend),
                    _ => None,
                };
                if let Some(c) = command {
                    // Still at the start of a line: another escape may follow at once.
                    self.pos += 1;
                    return Some(Step::Command(c));
                }
                if b == e.escape {
                    // Typed twice: one is sent, and the line has begun.
                    self.pos += 1;
                    e.at_line_start = false;
                }
                // Otherwise the held character goes, and this byte is read as any other.
                return Some(Step::Byte(e.escape));
            }
            let start = self.pos;
            while self.pos < self.input.len() {
                let b = self.input[self.pos];
                if e.at_line_start && b == e.escape {
                    break;
                }
                e.at_line_start = b == b'\r' || b == b'\n';
                self.pos += 1;
            }
            if self.pos > start {
                return Some(Step::Pass(start..self.pos));
            }
            // The escape character at the start of a line: held until the next key.
            self.pos += 1;
            e.pending = true;
        }
    }
}

/// The escape character of `wicket connect -e`, or none (`-e none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EscapeChar(pub Option<u8>);

/// `~`, as ssh's.
impl Default for EscapeChar {
    fn default() -> Self {
        EscapeChar(Some(b'~'))
    }
}

impl EscapeChar {
    /// For clap: see [`parse`].
    pub fn parse(value: &str) -> Result<EscapeChar, String> {
        parse(value).map(EscapeChar)
    }
}

/// The escape character given to `-e` (or `WICKET_ESCAPE_CHAR`): one character, `^` and a
/// letter for a control character, or `none`. `Ok(None)` is `none`.
pub fn parse(value: &str) -> Result<Option<u8>, String> {
    let bytes = value.as_bytes();
    match bytes {
        b"none" => Ok(None),
        [b] if b.is_ascii() => Ok(Some(*b)),
        [b'^', c] if c.is_ascii_alphabetic() || matches!(c, b'[' | b'\\' | b']' | b'^' | b'_') => {
            Ok(Some(c.to_ascii_uppercase() & 0x1f))
        }
        _ => Err(format!(
            "bad escape character {value:?}: give one character, ^ and a letter, or none"
        )),
    }
}

/// The escape character as the user types it: `~`, or `^X` for a control character.
fn shown(b: u8) -> String {
    if b < 0x20 {
        format!("^{}", (b | 0x40) as char)
    } else {
        (b as char).to_string()
    }
}

#[cfg(test)]
mod tests;
