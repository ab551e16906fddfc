//! Input a session's recording must not show: what a user types at a password prompt.
//!
//! The server records what the user sends before the agent writes it to the terminal, and only
//! the agent can see the terminal's mode. So on a session whose agent reports it (protocol
//! version 5, `INPUT_ECHO`), each piece of input is held here until the agent says how the
//! terminal took it: shown (recorded as input) or read without echo in canonical mode, a
//! password prompt (recorded as a marker in its place). The agent judges at the moment it
//! writes, which is when the kernel echoes or not, so input typed ahead of a prompt is judged
//! by the mode it met. Input the agent never reports on (the session ended first, or an agent
//! that does not keep up) is replaced by a marker too: nothing is shown that the agent did not
//! confirm was shown.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

/// The marker in place of input the terminal did not show (an asciicast `m` event).
pub(super) const HIDDEN: &str = "input hidden: the terminal was reading without echo";
/// The marker in place of input the agent never reported on.
pub(super) const UNCONFIRMED: &str = "input hidden: not confirmed by the target";

/// Most input held for the agent's reports. An agent that follows the protocol reports within
/// about one window (512 KiB) of input; beyond this the oldest is let go, as unconfirmed.
const MAX_HELD: usize = 4 * 1024 * 1024;

/// What to record, in this order.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ToRecord {
    Input(Bytes),
    Marker(&'static str),
}

/// Input waiting for the agent's reports, oldest first.
#[derive(Default)]
pub(super) struct HeldInput {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    chunks: VecDeque<Bytes>,
    bytes: usize,
    /// The marker recorded last, if nothing was recorded since: a password typed key by key
    /// is one marker, not one per key.
    last_marker: Option<&'static str>,
}

impl HeldInput {
    /// Holds input the user sent; returns what must be recorded now (a marker when more than
    /// [`MAX_HELD`] would wait).
    pub(super) fn hold(&self, data: Bytes) -> Vec<ToRecord> {
        let mut held = self.lock();
        held.bytes += data.len();
        held.chunks.push_back(data);
        let mut out = Vec::new();
        if held.bytes > MAX_HELD {
            let over = held.bytes - MAX_HELD;
            held.take(over);
            held.mark(UNCONFIRMED, &mut out);
        }
        out
    }

    /// The agent wrote the next `len` bytes; `echo`: the terminal showed them. Returns them
    /// to record as input, or the marker in their place.
    pub(super) fn confirm(&self, len: u32, echo: bool) -> Vec<ToRecord> {
        let mut held = self.lock();
        let taken = held.take(len as usize);
        let mut out = Vec::new();
        if taken.is_empty() {
            return out;
        }
        if echo {
            held.last_marker = None;
            out.push(ToRecord::Input(taken));
        } else {
            held.mark(HIDDEN, &mut out);
        }
        out
    }

    /// The session is over (or its process exited): input the agent never reported on is not
    /// shown.
    pub(super) fn rest(&self) -> Vec<ToRecord> {
        let mut held = self.lock();
        let mut out = Vec::new();
        let all = held.bytes;
        if !held.take(all).is_empty() {
            held.mark(UNCONFIRMED, &mut out);
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Held {
    /// The oldest `n` bytes (fewer if fewer are held), in one piece.
    fn take(&mut self, n: usize) -> Bytes {
        let mut left = n.min(self.bytes);
        self.bytes -= left;
        if self.chunks.front().is_some_and(|c| c.len() == left) {
            return self.chunks.pop_front().unwrap_or_default();
        }
        let mut out = BytesMut::with_capacity(left);
        while left > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                out.extend_from_slice(front);
                self.chunks.pop_front();
            } else {
                out.extend_from_slice(&front.split_to(left));
                left = 0;
            }
        }
        out.freeze()
    }

    fn mark(&mut self, marker: &'static str, out: &mut Vec<ToRecord>) {
        if self.last_marker != Some(marker) {
            out.push(ToRecord::Marker(marker));
            self.last_marker = Some(marker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(s: &str) -> ToRecord {
        ToRecord::Input(Bytes::from(s.to_owned()))
    }

    #[test]
    fn shown_input_is_recorded_and_a_password_is_one_marker() {
        let h = HeldInput::default();
        assert!(h.hold(Bytes::from("ls\r")).is_empty());
        assert_eq!(h.confirm(3, true), [input("ls\r")]);
        for key in ["s", "e", "c", "r", "e", "t", "\r"] {
            assert!(h.hold(Bytes::from(key)).is_empty());
        }
        let mut recorded = Vec::new();
        for _ in 0..7 {
            recorded.extend(h.confirm(1, false));
        }
        assert_eq!(recorded, [ToRecord::Marker(HIDDEN)]);
        h.hold(Bytes::from("echo done\r"));
        assert_eq!(h.confirm(10, true), [input("echo done\r")]);
        // A second password gets its own marker.
        h.hold(Bytes::from("x"));
        assert_eq!(h.confirm(1, false), [ToRecord::Marker(HIDDEN)]);
    }

    #[test]
    fn reports_may_cut_across_what_the_user_sent() {
        let h = HeldInput::default();
        h.hold(Bytes::from("abc"));
        h.hold(Bytes::from("def"));
        assert_eq!(h.confirm(4, true), [input("abcd")]);
        assert_eq!(h.confirm(1, false), [ToRecord::Marker(HIDDEN)]);
        assert_eq!(h.confirm(1, true), [input("f")]);
        // A report for input that was never held records nothing.
        assert!(h.confirm(5, true).is_empty());
    }

    #[test]
    fn what_the_agent_never_reported_is_not_shown() {
        let h = HeldInput::default();
        h.hold(Bytes::from("typed as it exited"));
        assert_eq!(h.rest(), [ToRecord::Marker(UNCONFIRMED)]);
        assert!(h.rest().is_empty());
        // An agent that does not report: the held input stays bounded.
        let h = HeldInput::default();
        let big = Bytes::from(vec![b'x'; MAX_HELD]);
        assert!(h.hold(big).is_empty());
        assert_eq!(h.hold(Bytes::from("y")), [ToRecord::Marker(UNCONFIRMED)]);
        assert_eq!(h.lock().bytes, MAX_HELD);
        assert_eq!(h.confirm(MAX_HELD as u32, true).len(), 1);
    }
}
