//! Following a live session that another replica relays, through its recording.
//!
//! A session's output lives in the memory of the wicketd that relays it; a watcher that reached
//! another replica cannot subscribe to it there. But the relaying replica uploads the
//! recording's chunks to the shared store at least every flush interval (3 s by default), so
//! this replica can read them as they land and pass their output on: the watcher sees the
//! session that many seconds late, and the agent's link is never touched. It is first shown
//! the screen as the chunks already there leave it (`crate::screen`).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use wicket_recording::{asciicast, Event, EventKind, RecordingError, Render};

use crate::state::AppState;

/// How often the store is asked for new chunks.
const POLL: Duration = Duration::from_secs(1);

/// What a tail hands the watcher next.
pub enum Next {
    /// Output the session's user saw.
    Output(Bytes),
    /// The session ended and every chunk of it was passed on.
    Ended,
}

/// The screen of session `id` as the chunks uploaded before [`StoreTail::start`] leave it,
/// then the output of those uploaded after.
pub struct StoreTail {
    state: AppState,
    id: String,
    /// Chunks already read, or already there when the watch began (drawn as the screen).
    seen: usize,
    /// The screen drawn from the chunks that were there, shown first.
    screen: Option<Bytes>,
    /// Output events of the chunk being passed on, rendered one at a time: a `z` event's text
    /// is a small fraction of the output it inflates to, so a chunk is never inflated whole.
    pending: VecDeque<Event>,
    render: Render,
    ended: bool,
}

impl StoreTail {
    pub async fn start(state: AppState, id: String) -> Result<Self, RecordingError> {
        let keys = none_yet(state.recordings().chunk_keys(&id).await)?;
        let screen = crate::screen::of_recording(&state, &keys).await?;
        Ok(StoreTail {
            state,
            id,
            seen: keys.len(),
            screen: (!screen.is_empty()).then_some(screen),
            pending: VecDeque::new(),
            render: Render::new(),
            ended: false,
        })
    }

    pub async fn next(&mut self) -> Result<Next, RecordingError> {
        if let Some(screen) = self.screen.take() {
            return Ok(Next::Output(screen));
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                // A `z` event that does not decode shows as U+FFFD; the rest still follows.
                if let Some(bytes) = self.render.output_bytes(&event) {
                    return Ok(Next::Output(Bytes::copy_from_slice(&bytes)));
                }
                continue;
            }
            if self.ended {
                return Ok(Next::Ended);
            }
            // Whether it ended is asked before the listing: the relaying replica uploads the
            // last chunk before it marks the session ended, so that listing holds it.
            let ended = matches!(
                self.state.store().session(&self.id).await,
                Ok(Some(r)) if r.ended_at.is_some()
            );
            let keys = none_yet(self.state.recordings().chunk_keys(&self.id).await)?;
            // One chunk at a time, so what waits here is one chunk's text.
            if let Some(key) = keys.get(self.seen) {
                let text = self.state.recordings().chunk(key).await?;
                self.pending = output_of(&text)?.into();
                self.seen += 1;
                continue;
            }
            self.ended = ended;
            if !ended {
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// The chunks so far: none yet is not an error (the header may not have landed).
fn none_yet<K>(keys: Result<Vec<K>, RecordingError>) -> Result<Vec<K>, RecordingError> {
    match keys {
        Err(RecordingError::NotFound(_)) => Ok(Vec::new()),
        other => other,
    }
}

/// The output events (`o`, and `z` still compressed) of one chunk of asciicast text; the
/// header line, in the first chunk, and input and resize events are left out.
fn output_of(text: &[u8]) -> Result<Vec<Event>, RecordingError> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('{') {
            continue;
        }
        let event = asciicast::parse_event(line, n + 1)?;
        if let EventKind::Output | EventKind::Compressed = event.kind {
            out.push(event);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a watcher is shown of one chunk, as `next` renders it.
    fn shown(chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut render = Render::new();
        output_of(chunk)
            .unwrap()
            .iter()
            .map(|e| render.output_bytes(e).unwrap().into_owned())
            .collect()
    }

    #[test]
    fn passes_on_output_only() {
        let chunk = concat!(
            "{\"version\":2,\"width\":80,\"height\":24}\n",
            "[0.1,\"o\",\"tick 1\\r\\n\"]\n",
            "[0.2,\"i\",\"q\"]\n",
            "[0.3,\"r\",\"100x30\"]\n",
            "[0.4,\"o\",\"\\u001b[0mtick 2\"]\n",
        );
        assert_eq!(
            shown(chunk.as_bytes()),
            [&b"tick 1\r\n"[..], &b"\x1b[0mtick 2"[..]]
        );
    }

    #[test]
    fn passes_on_compressed_output_inflated() {
        let mut chunk = Vec::new();
        let mut encoder = wicket_recording::asciicast::Encoder::new();
        let frame = wicket_proto::zdata::Compressor::new()
            .unwrap()
            .compress(&b"bulk output\n".repeat(100))
            .unwrap();
        encoder.compressed_output_into(std::time::Duration::ZERO, &frame, &mut chunk);
        assert_eq!(shown(&chunk), [b"bulk output\n".repeat(100)]);
        // A z event that does not decode shows as U+FFFD, and what follows still shows.
        let out = shown(b"[0.1,\"z\",\"AAAA\"]\n[0.2,\"o\",\"after\"]\n");
        assert_eq!(out, ["\u{FFFD}".as_bytes(), b"after"]);
    }

    #[test]
    fn a_damaged_line_is_an_error() {
        assert!(output_of(b"[0.1,\"o\"\n").is_err());
    }
}
