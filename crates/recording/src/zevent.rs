//! `z` events: output the agent compressed, stored as it came.
//!
//! When the user's client reads compressed output (protocol version 4), the agent sends bulk
//! output as zstd frames and the server relays them without looking inside. The recorder stores
//! each as `[time, "z", "<base64 of the frame>"]` instead of decompressing, escaping and
//! compressing it again, which is what made recording cost as much CPU as relaying
//! (docs/PERFORMANCE.md). The timestamps, input and resizes stay the server's own, so the agent
//! can no more forge a recording than before: a frame that does not decode reads back as
//! damaged output, never as other events.
//!
//! asciinema's tools do not know `z`; wicket renders such events as `o` events wherever a
//! recording leaves it (`wicket replay --raw`, replay, watch): [`Render`].

use std::time::Duration;

use base64::Engine as _;

use crate::asciicast::{line_start, Event, EventKind};
use crate::utf8::Utf8Stream;
use crate::RecordingError;

/// The most one `z` event may decompress to: what the client accepts in one `ZDATA` frame
/// (`wicket_proto::zdata::MAX_CONTENT`), so a frame the user could not have seen never
/// replays as output.
pub const MAX_EVENT_OUTPUT: usize = wicket_proto::zdata::MAX_CONTENT;

/// Appends the `z` event for one zstd frame of output.
pub fn compressed_line_into(at: Duration, payload: &[u8], out: &mut Vec<u8>) {
    line_start(at, "z", out);
    out.push(b'"');
    base64_into(payload, out);
    out.extend_from_slice(b"\"]\n");
}

/// Appends `bytes` in base64 (which needs no JSON escaping).
fn base64_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(
        start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
        0,
    );
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + n);
}

/// Appends a `z` event holding `bytes` uncompressed, so that they are kept exactly: a
/// character cut between plain and compressed output, or binary output.
pub fn raw_into(at: Duration, bytes: &[u8], out: &mut Vec<u8>) {
    let Some(head) = crate::compress::raw_frame_head(bytes.len()) else {
        return compressed_line_into(at, &crate::compress::raw_frame(bytes), out);
    };
    // The frame's 9 header bytes are three whole base64 groups, so its base64 is theirs
    // followed by the bytes' own: no copy of the bytes into a frame first.
    line_start(at, "z", out);
    out.push(b'"');
    base64_into(&head, out);
    base64_into(bytes, out);
    out.extend_from_slice(b"\"]\n");
}

/// Turns a stored recording's events into plain asciicast v2: `z` events become `o` events.
/// Output keeps one UTF-8 state across both kinds, so a character split between events is
/// written whole. A `z` event that does not decode (an agent sent a bad frame, which the
/// user's client refused too) shows as U+FFFD and is counted; the rest still renders.
/// Stored bytes that were altered are the sealed hash's business.
#[derive(Default)]
pub struct Render {
    text: Utf8Stream,
    inflate: Option<zstd::bulk::Decompressor<'static>>,
    damaged: usize,
}

impl std::fmt::Debug for Render {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Render").finish_non_exhaustive()
    }
}

impl Render {
    pub fn new() -> Self {
        Self::default()
    }

    /// The output bytes of an `o` or `z` event; `None` for other events.
    pub fn output_bytes<'a>(&mut self, event: &'a Event) -> Option<std::borrow::Cow<'a, [u8]>> {
        match event.kind {
            EventKind::Output => Some(event.data.as_bytes().into()),
            EventKind::Compressed => Some(self.inflate_or_mark(&event.data).into()),
            _ => None,
        }
    }

    /// The plain event for `event`: `z` becomes `o`; `None` while only part of a character
    /// has come.
    pub fn event(&mut self, event: Event) -> Option<Event> {
        let text = match event.kind {
            EventKind::Compressed => {
                let bytes = self.inflate_or_mark(&event.data);
                self.text.push(&bytes)
            }
            EventKind::Output => match self.text.decode(event.data.as_bytes()) {
                std::borrow::Cow::Borrowed(_) => return Some(event),
                std::borrow::Cow::Owned(t) => t,
            },
            _ => return Some(event),
        };
        (!text.is_empty()).then_some(Event {
            time: event.time,
            kind: EventKind::Output,
            data: text,
        })
    }

    /// How many `z` events did not decode so far.
    pub fn damaged(&self) -> usize {
        self.damaged
    }

    fn inflate_or_mark(&mut self, data: &str) -> Vec<u8> {
        self.inflate(data).unwrap_or_else(|_| {
            self.damaged += 1;
            char::REPLACEMENT_CHARACTER.to_string().into_bytes()
        })
    }

    /// The end of the recording: an unfinished character, as U+FFFD at `time`.
    pub fn finish(&mut self, time: f64) -> Option<Event> {
        let text = self.text.finish();
        (!text.is_empty()).then_some(Event {
            time,
            kind: EventKind::Output,
            data: text,
        })
    }

    fn inflate(&mut self, data: &str) -> Result<Vec<u8>, RecordingError> {
        let frame = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| RecordingError::Damaged(format!("a z event is not base64: {e}")))?;
        let inflate = match &mut self.inflate {
            Some(d) => d,
            None => self.inflate.insert(
                zstd::bulk::Decompressor::new()
                    .map_err(|e| RecordingError::Damaged(e.to_string()))?,
            ),
        };
        // Room for what the frame says it holds (bounded), not the bound every time.
        let room = zstd::zstd_safe::get_frame_content_size(&frame)
            .ok()
            .flatten()
            .map_or(MAX_EVENT_OUTPUT, |n| (n as usize).min(MAX_EVENT_OUTPUT));
        inflate
            .decompress(&frame, room)
            .map_err(|e| RecordingError::Damaged(format!("a z event does not decompress: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asciicast::{parse_event, Encoder};
    use proptest::prelude::*;

    fn render(lines: &[u8]) -> Vec<u8> {
        let mut r = Render::new();
        let mut out = Vec::new();
        for (n, line) in std::str::from_utf8(lines).unwrap().lines().enumerate() {
            let ev = parse_event(line, n + 1).unwrap();
            if let Some(e) = r.event(ev) {
                assert_ne!(e.kind, EventKind::Compressed);
                out.extend_from_slice(e.data.as_bytes());
            }
        }
        out.extend(
            r.finish(0.0)
                .map(|e| e.data.into_bytes())
                .unwrap_or_default(),
        );
        out
    }

    fn zstd1(bytes: &[u8]) -> Vec<u8> {
        zstd::bulk::compress(bytes, 1).unwrap()
    }

    #[test]
    fn a_z_event_renders_as_the_output_it_carries() {
        let mut lines = Vec::new();
        let mut enc = Encoder::new();
        enc.output_into(Duration::from_millis(1), b"plain ", &mut lines);
        enc.compressed_output_into(Duration::from_millis(2), &zstd1(b"compressed "), &mut lines);
        enc.output_into(Duration::from_millis(3), b"plain again", &mut lines);
        assert_eq!(render(&lines), b"plain compressed plain again");
        let z = std::str::from_utf8(&lines)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned();
        assert!(z.starts_with("[0.002,\"z\",\""), "{z}");
    }

    #[test]
    fn damage_shows_as_a_replacement_and_is_counted() {
        let mut r = Render::new();
        let bad = |data: &str| Event {
            time: 0.0,
            kind: EventKind::Compressed,
            data: data.into(),
        };
        let bomb =
            base64::engine::general_purpose::STANDARD
                .encode(zstd1(&vec![b'x'; MAX_EVENT_OUTPUT + 1]));
        for data in ["not base64!", "aGVsbG8=", &bomb] {
            assert_eq!(r.event(bad(data)).unwrap().data, "\u{FFFD}");
        }
        assert_eq!(r.damaged(), 3);
        // The most a client accepts still renders.
        let full =
            base64::engine::general_purpose::STANDARD.encode(zstd1(&vec![b'x'; MAX_EVENT_OUTPUT]));
        assert_eq!(r.event(bad(&full)).unwrap().data.len(), MAX_EVENT_OUTPUT);
        assert_eq!(r.damaged(), 3);
    }

    #[test]
    fn a_raw_event_is_the_base64_of_its_raw_frame() {
        for len in [0, 1, 2, 3, 100, 128 * 1024, 128 * 1024 + 1, 300_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let (mut ours, mut framed) = (Vec::new(), Vec::new());
            raw_into(Duration::ZERO, &bytes, &mut ours);
            compressed_line_into(
                Duration::ZERO,
                &crate::compress::raw_frame(&bytes),
                &mut framed,
            );
            assert_eq!(ours, framed, "{len} bytes");
        }
    }

    proptest! {
        /// However output is cut, and whichever pieces came compressed, the rendered text is
        /// what the plain encoder makes of the same bytes: characters split between a plain
        /// and a compressed piece survive whole.
        #[test]
        fn mixed_output_renders_like_plain(
            text in "\\PC{0,40}",
            cuts in proptest::collection::vec((0usize..200, any::<bool>()), 0..8),
        ) {
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.iter().map(|(c, _)| c % (bytes.len() + 1)).collect();
            points.sort_unstable();
            points.dedup();
            let mut enc = Encoder::new();
            let mut lines = Vec::new();
            let mut start = 0;
            for (i, end) in points.iter().copied().chain([bytes.len()]).enumerate() {
                let piece = &bytes[start..end];
                if cuts.get(i).is_some_and(|c| c.1) && !piece.is_empty() {
                    enc.compressed_output_into(Duration::ZERO, &zstd1(piece), &mut lines);
                } else {
                    enc.output_into(Duration::ZERO, piece, &mut lines);
                }
                start = end;
            }
            lines.extend(enc.finish(Duration::ZERO));
            prop_assert_eq!(String::from_utf8(render(&lines)).unwrap(), text);
        }
    }
}
