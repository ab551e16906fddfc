//! Terminal queries taken out of replayed output.
//!
//! A recording holds what the session's programs wrote to their terminal, queries included:
//! tmux asks for the device attributes when it starts, vim asks for the cursor position and
//! the background colour. Replayed as they are, those queries reach the user's own terminal,
//! which answers them by *typing* the answer: after the replay, the user's shell reads
//! `^[[?62;22c` or `^[]11;rgb:0000/0000/0000^G` as if the user had typed it. [`QueryFilter`]
//! drops the queries from what a replay writes (everything else passes as it came), so the
//! terminal has nothing to answer. The answer is made by the local terminal, so dropping the
//! question is the one sure way; the replay also discards stray input when it ends
//! ([`crate::terminal::Quiet`]) for any query this list does not know.
//!
//! What is dropped, each a request whose only effect is a reply:
//! - CSI: primary, secondary and tertiary device attributes (`ESC[c`, `ESC[>c`, `ESC[=c`),
//!   device status reports (`ESC[5n`, `ESC[6n`, `ESC[?6n`, any `ESC[?…n`), mode requests
//!   (DECRQM `ESC[…$p`, `ESC[?…$p`), terminal parameters (DECREQTPARM `ESC[x`), xterm's
//!   version (`ESC[>q`), window reports (`ESC[…t` with 11, 13, 14, 15, 16, 18, 19, 20, 21),
//!   modifier-key queries (`ESC[?…m`), the kitty keyboard query (`ESC[?u`), checksums
//!   (DECRQCRA `ESC[…*y`), presentation and terminal state reports (`ESC[…$w`, `ESC[…$u`),
//!   the SGR stack report (`ESC[…#|`) and the displayed extent (`ESC["v`).
//! - OSC with a `?` parameter: colour queries (4, 5, 10–19, …) and clipboard reads (52).
//! - DCS: status-string and termcap requests (`ESC P $q`, `ESC P +q`) and tmux pass-through
//!   (`ESC P tmux;`), which would carry an inner program's queries to the outer terminal.
//! - APC kitty graphics queries (`ESC _G…a=q…`), `ESC Z` (DECID) and ENQ (0x05).
//!
//! Sequences may be cut anywhere between two writes; the filter keeps an unfinished one until
//! it ends, up to [`MAX_HELD`] bytes, past which it is no query and goes out as it came.

/// The longest unfinished sequence held back: queries are short, and a long string (a
/// clipboard write, an image) is passed on once it is past this.
pub const MAX_HELD: usize = 4096;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const ENQ: u8 = 0x05;

/// Where the filter is inside an escape sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Plain text.
    Ground,
    /// After ESC.
    Escape,
    /// After `ESC [`: parameters and intermediates until the final byte.
    Csi,
    /// A string (OSC, DCS, APC) until BEL or ST; `esc` after an ESC inside it.
    Str {
        kind: u8,
        esc: bool,
    },
    /// A sequence that grew past [`MAX_HELD`]: passed on until it ends.
    PassStr {
        esc: bool,
    },
    PassCsi,
}

/// Drops terminal queries from a stream of output, across cuts (see the module docs).
#[derive(Debug)]
pub struct QueryFilter {
    state: State,
    /// The sequence being read, from its ESC: held until it is known to be a query or not.
    held: Vec<u8>,
}

impl Default for QueryFilter {
    fn default() -> Self {
        QueryFilter {
            state: State::Ground,
            held: Vec::new(),
        }
    }
}

impl QueryFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends to `out` what of `input` is not a query, holding back the start of a
    /// sequence that `input` cuts.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.byte(b, out);
        }
    }

    /// What is still held (an unfinished sequence at the end of the output), as it came.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
        self.state = State::Ground;
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match self.state {
            State::Ground => match b {
                ESC => {
                    self.held.push(b);
                    self.state = State::Escape;
                }
                ENQ => {}
                _ => out.push(b),
            },
            State::Escape => {
                self.held.push(b);
                self.state = match b {
                    b'[' => State::Csi,
                    b']' | b'P' | b'_' | b'^' | b'X' => State::Str {
                        kind: b,
                        esc: false,
                    },
                    // DECID: the terminal answers with its attributes.
                    b'Z' => {
                        self.held.clear();
                        State::Ground
                    }
                    // ESC ESC: the first stands alone; the second may start a sequence.
                    ESC => {
                        out.push(ESC);
                        self.held.truncate(1);
                        State::Escape
                    }
                    // Any other escape (charset, keypad, an intermediate and its final): not
                    // a query. Intermediates (0x20-0x2f) take one more byte, which passes
                    // through the ground state as text, as a terminal would read it.
                    _ => {
                        out.append(&mut self.held);
                        State::Ground
                    }
                };
            }
            State::Csi => {
                self.held.push(b);
                if (0x40..=0x7e).contains(&b) {
                    if !is_csi_query(&self.held[2..]) {
                        out.extend_from_slice(&self.held);
                    }
                    self.held.clear();
                    self.state = State::Ground;
                } else if !(0x20..=0x3f).contains(&b) {
                    // Not a CSI byte (a control, a new ESC): what came so far is no query;
                    // it passes on as it came, and the byte is read afresh.
                    self.held.pop();
                    out.append(&mut self.held);
                    self.state = State::Ground;
                    self.byte(b, out);
                } else if self.held.len() > MAX_HELD {
                    out.append(&mut self.held);
                    self.state = State::PassCsi;
                }
            }
            State::PassCsi => {
                out.push(b);
                if !(0x20..=0x3f).contains(&b) {
                    self.state = State::Ground;
                }
            }
            State::Str { kind, esc } => {
                self.held.push(b);
                let end = b == BEL || (esc && b == b'\\');
                if esc && b == ESC {
                    // ESC ESC: an escaped ESC (tmux pass-through doubles them), inside.
                    self.state = State::Str { kind, esc: false };
                } else if end {
                    let body_end = self.held.len() - if b == BEL { 1 } else { 2 };
                    if !is_string_query(kind, &self.held[2..body_end]) {
                        out.extend_from_slice(&self.held);
                    }
                    self.held.clear();
                    self.state = State::Ground;
                } else if esc && b != ESC {
                    // ESC followed by anything but `\` ends the string (a terminal cancels
                    // it there) and starts a new sequence.
                    let start = self.held.len() - 2;
                    let rest = self.held.split_off(start);
                    out.append(&mut self.held);
                    self.state = State::Ground;
                    for c in rest {
                        self.byte(c, out);
                    }
                } else if self.held.len() > MAX_HELD {
                    out.append(&mut self.held);
                    self.state = State::PassStr { esc: b == ESC };
                } else {
                    self.state = State::Str {
                        kind,
                        esc: b == ESC,
                    };
                }
            }
            State::PassStr { esc } => {
                out.push(b);
                self.state = if b == BEL || (esc && b == b'\\') {
                    State::Ground
                } else {
                    State::PassStr {
                        esc: b == ESC && !esc,
                    }
                };
            }
        }
    }
}

/// Whether a CSI sequence (what follows `ESC [`, final byte included) asks for a reply.
fn is_csi_query(seq: &[u8]) -> bool {
    let Some((&last, body)) = seq.split_last() else {
        return false;
    };
    let (prefix, rest) = match body.first() {
        Some(&p @ (b'?' | b'>' | b'=' | b'<')) => (Some(p), &body[1..]),
        _ => (None, body),
    };
    let split = rest
        .iter()
        .position(|b| (0x20..=0x2f).contains(b))
        .unwrap_or(rest.len());
    let (params, inter) = rest.split_at(split);
    let first: u32 = params
        .split(|&b| b == b';' || b == b':')
        .next()
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    match (prefix, inter, last) {
        // Device attributes: primary, secondary, tertiary.
        (None | Some(b'>') | Some(b'='), [], b'c') => true,
        // Device status reports (`CSI > n` is xterm's modifier reset, not a request).
        (None, [], b'n') => matches!(first, 5 | 6),
        (Some(b'?'), [], b'n') => true,
        // DECRQM, ANSI and DEC modes; DECRQPSR, DECRQTSR.
        (None | Some(b'?'), [b'$'], b'p') => true,
        (None, [b'$'], b'w' | b'u') => true,
        // DECREQTPARM.
        (None, [], b'x') => first <= 1,
        // XTVERSION.
        (Some(b'>'), [], b'q') => true,
        // Window reports (size, position, state, title).
        (None, [], b't') => matches!(first, 11 | 13 | 14 | 15 | 16 | 18 | 19 | 20 | 21),
        // XTQMODKEYS; the kitty keyboard protocol's query.
        (Some(b'?'), [], b'm' | b'u') => true,
        // DECRQCRA, XTREPORTSGR, DECRQDE.
        (None, [b'*'], b'y') | (None, [b'#'], b'|') | (None, [b'"'], b'v') => true,
        _ => false,
    }
}

/// Whether a string sequence of `kind` (`]` OSC, `P` DCS, `_` APC, ...) with `body` between
/// its introducer and terminator asks for a reply.
fn is_string_query(kind: u8, body: &[u8]) -> bool {
    match kind {
        // A colour or clipboard query: some parameter is exactly `?`.
        b']' => body.split(|&b| b == b';').skip(1).any(|p| p == b"?"),
        b'P' => body.starts_with(b"$q") || body.starts_with(b"+q") || body.starts_with(b"tmux;"),
        b'_' => {
            body.first() == Some(&b'G')
                && body[1..]
                    .split(|&b| b == b',' || b == b';')
                    .any(|p| p == b"a=q")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(input: &[u8]) -> Vec<u8> {
        let mut f = QueryFilter::new();
        let mut out = Vec::new();
        f.push(input, &mut out);
        f.finish(&mut out);
        out
    }

    /// The same input, cut at every byte: what comes out does not depend on the cuts.
    fn filtered_bytewise(input: &[u8]) -> Vec<u8> {
        let mut f = QueryFilter::new();
        let mut out = Vec::new();
        for b in input {
            f.push(std::slice::from_ref(b), &mut out);
        }
        f.finish(&mut out);
        out
    }

    #[test]
    fn queries_are_dropped() {
        let queries: &[&[u8]] = &[
            b"\x1b[c",
            b"\x1b[0c",
            b"\x1b[>c",
            b"\x1b[>0c",
            b"\x1b[=c",
            b"\x1b[5n",
            b"\x1b[6n",
            b"\x1b[?6n",
            b"\x1b[?996n",
            b"\x1b[?2026$p",
            b"\x1b[4$p",
            b"\x1b[x",
            b"\x1b[>q",
            b"\x1b[>0q",
            b"\x1b[14t",
            b"\x1b[18t",
            b"\x1b[?4m",
            b"\x1b[?u",
            b"\x1b[1;1;1;1;1;1*y",
            b"\x1b]10;?\x07",
            b"\x1b]11;?\x1b\\",
            b"\x1b]4;1;?;2;?\x07",
            b"\x1b]52;c;?\x07",
            b"\x1bP$qm\x1b\\",
            b"\x1bP+q544e\x1b\\",
            b"\x1bPtmux;\x1b\x1b[c\x1b\\",
            b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\",
            b"\x1bZ",
            b"\x05",
        ];
        for q in queries {
            let input = [&b"before "[..], q, &b" after"[..]].concat();
            assert_eq!(
                filtered(&input),
                b"before  after",
                "{:?} was not dropped",
                String::from_utf8_lossy(q)
            );
            assert_eq!(filtered_bytewise(&input), b"before  after");
        }
    }

    #[test]
    fn everything_else_passes_as_it_came() {
        let kept: &[&[u8]] = &[
            b"plain text \xe6\x97\xa5\xe6\x9c\xac\r\n",
            b"\x1b[1;31mred\x1b[0m",
            b"\x1b[2J\x1b[H\x1b[?1049h\x1b[?25l",
            b"\x1b[>4;2m",
            b"\x1b[>4n",
            b"\x1b[8;24;80t",
            b"\x1b[22;0t",
            b"\x1b[3n",
            b"\x1b]0;a title?\x07",
            b"\x1b]8;;https://example.com/?q=1\x1b\\link\x1b]8;;\x1b\\",
            b"\x1b]11;#000000\x07",
            b"\x1b]52;c;aGVsbG8=\x07",
            b"\x1bPq#0;2;0;0;0#0~~\x1b\\",
            b"\x1b(B\x1b)0\x1b=\x1b>\x1b7\x1b8\x1bM",
            b"\x1b_Gf=24,s=1,v=1;AAAA\x1b\\",
            b"\x1b\x1b[31m",
        ];
        for k in kept {
            assert_eq!(
                filtered(k),
                *k,
                "{:?} was changed",
                String::from_utf8_lossy(k)
            );
            assert_eq!(filtered_bytewise(k), *k);
        }
    }

    #[test]
    fn an_unfinished_sequence_at_the_end_comes_out_as_it_came() {
        assert_eq!(filtered(b"text\x1b[12"), b"text\x1b[12");
        assert_eq!(filtered(b"text\x1b]11;"), b"text\x1b]11;");
    }

    #[test]
    fn a_long_string_is_passed_on_without_being_held() {
        let mut long = b"\x1b]52;c;".to_vec();
        long.extend(std::iter::repeat_n(b'A', MAX_HELD * 2));
        long.push(BEL);
        let mut f = QueryFilter::new();
        let mut out = Vec::new();
        f.push(&long[..MAX_HELD * 3 / 2], &mut out);
        assert!(out.len() >= MAX_HELD, "held {} bytes", f.held.len());
        f.push(&long[MAX_HELD * 3 / 2..], &mut out);
        f.push(b"\x1b[6nnext", &mut out);
        f.finish(&mut out);
        assert_eq!(out, [&long[..], &b"next"[..]].concat());
    }

    #[test]
    fn a_string_cut_short_by_another_sequence_is_kept_and_the_next_is_read() {
        // ESC not followed by `\` ends an OSC, as a terminal reads it.
        assert_eq!(filtered(b"\x1b]0;t\x1b[6nX"), b"\x1b]0;tX");
        assert_eq!(filtered(b"\x1b[12\x1b[6nX"), b"\x1b[12X");
    }
}
