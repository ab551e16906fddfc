//! What a session's screen shows now, for a watcher joining it.
//!
//! A watcher that joined a live session used to see only what came after: a blank terminal
//! until the next output, and for a full-screen program (vim, top, tmux) a few changed cells
//! on nothing. Here the end of the session's recording is played, once, through a terminal
//! emulator (the `vt100` crate) at the session's size, and the screen it ends on is drawn again
//! from scratch (clear, every cell with its attributes, the cursor, the alternate screen if it
//! is on). The watcher gets that first, then the live output.
//!
//! The work is done at join time and from the store: a session's relay does nothing more per
//! byte for it. It is bounded: at most [`PLAYED`] bytes of recording text, read back from the
//! end a chunk at a time (output older than that was drawn over long since, or is a stream of
//! plain text whose last screenful is in what is played), in a screen-sized emulator.

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use wicket_recording::store::ChunkKey;
use wicket_recording::{asciicast, Event, EventKind, RecordingError, Render};

use crate::state::AppState;

/// The most recording text (decompressed, as stored) played to find the screen.
pub const PLAYED: usize = 4 * 1024 * 1024;

/// The most chunks read for it, however small (a session idle but for a clock writes a small
/// chunk every flush interval).
const MAX_CHUNKS: usize = 2048;

/// Chunks fetched at once.
const FETCHES: usize = 8;

/// The screen of the session whose recording is `keys` (its chunks, in order, as listed),
/// as the bytes that draw it on a terminal; empty when the recording holds nothing to show.
pub async fn of_recording(state: &AppState, keys: &[ChunkKey]) -> Result<Bytes, RecordingError> {
    let Some(first) = keys.first() else {
        return Ok(Bytes::new());
    };
    let store = state.recordings();
    let header_chunk = store.chunk(first).await?;
    // A header that does not read leaves the usual terminal size.
    let header = String::from_utf8_lossy(&header_chunk)
        .lines()
        .next()
        .and_then(|l| asciicast::parse_header(l).ok());
    // The newest chunks first, until enough text is in hand; fetches still running when it
    // is are dropped with the stream at the end of the block.
    let mut texts: Vec<Bytes> = Vec::new();
    {
        let mut held = 0;
        let mut newest = std::pin::pin!(futures_util::stream::iter(
            keys.iter().rev().take(MAX_CHUNKS).cloned()
        )
        .map(|key| {
            let store = store.clone();
            async move { store.chunk(&key).await }
        })
        .buffered(FETCHES));
        while let Some(text) = newest.try_next().await? {
            held += text.len();
            texts.push(text);
            if held >= PLAYED {
                break;
            }
        }
    }
    texts.reverse();
    let (cols, rows, pty) = match &header {
        Some(h) => (
            h.width,
            h.height,
            h.env.get("TERM").is_some_and(|t| t != "dumb"),
        ),
        None => (80, 24, true),
    };
    tokio::task::spawn_blocking(move || {
        let mut screen = Screen::new(cols, rows, pty);
        for text in &texts {
            for line in String::from_utf8_lossy(text).lines() {
                if line.is_empty() || line.starts_with('{') {
                    continue;
                }
                // A damaged line is skipped: the rest of the screen still shows.
                if let Ok(event) = asciicast::parse_event(line, 0) {
                    screen.event(&event);
                }
            }
        }
        screen.drawn()
    })
    .await
    .map_err(|e| RecordingError::Closed(format!("screen task: {e}")))
}

/// A terminal emulator fed a recording's events.
pub struct Screen {
    parser: vt100::Parser,
    render: Render,
    /// The session had a terminal: its output already has `\r\n` line ends. Without one, a
    /// bare `\n` is a new line as a terminal's output processing (`onlcr`) would make it.
    pty: bool,
}

impl Screen {
    pub fn new(cols: u16, rows: u16, pty: bool) -> Self {
        Screen {
            parser: vt100::Parser::new(cells(rows), cells(cols), 0),
            render: Render::new(),
            pty,
        }
    }

    /// Plays one event: output (plain or compressed) and resizes; input is not shown.
    pub fn event(&mut self, event: &Event) {
        match event.kind {
            EventKind::Output | EventKind::Compressed => {
                if let Some(bytes) = self.render.output_bytes(event) {
                    if self.pty {
                        self.parser.process(&bytes);
                    } else {
                        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
                            if i > 0 {
                                self.parser.process(b"\r\n");
                            }
                            self.parser.process(line);
                        }
                    }
                }
            }
            EventKind::Resize => {
                if let Some((cols, rows)) = event
                    .data
                    .split_once('x')
                    .and_then(|(c, r)| Some((c.parse::<u16>().ok()?, r.parse::<u16>().ok()?)))
                {
                    self.parser.set_size(cells(rows), cells(cols));
                }
            }
            _ => {}
        }
    }

    /// The bytes that draw the screen as it is on a terminal of the same size: the alternate
    /// screen when it is on, then a clear, the contents and the cursor.
    pub fn drawn(&self) -> Bytes {
        let screen = self.parser.screen();
        let mut out = Vec::new();
        if screen.alternate_screen() {
            out.extend_from_slice(b"\x1b[?1049h");
        }
        out.extend_from_slice(screen.contents_formatted().as_bytes());
        Bytes::from(out)
    }
}

/// A row or column count as the emulator takes it: at least one.
fn cells(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).unwrap_or(std::num::NonZeroU16::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(data: &str) -> Event {
        Event {
            time: 0.0,
            kind: EventKind::Output,
            data: data.into(),
        }
    }

    /// What a terminal shows after the drawn bytes, as text.
    fn shown(drawn: &[u8], cols: u16, rows: u16) -> String {
        let mut p = vt100::Parser::new(cells(rows), cells(cols), 0);
        p.process(drawn);
        p.screen().contents()
    }

    #[test]
    fn a_full_screen_program_is_drawn_as_it_stands() {
        let mut s = Screen::new(40, 5, true);
        s.event(&output("$ vim notes\r\n"));
        // The program takes the alternate screen, draws, then changes one line.
        s.event(&output(
            "\x1b[?1049h\x1b[H\x1b[2Jline one\r\nline two\r\n~\r\n~",
        ));
        s.event(&output("\x1b[2;1H\x1b[1mLINE TWO\x1b[m\x1b[K"));
        let drawn = s.drawn();
        assert!(drawn.starts_with(b"\x1b[?1049h"));
        let text = shown(&drawn, 40, 5);
        assert!(text.starts_with("line one\nLINE TWO\n~\n~"), "{text:?}");
        assert!(!text.contains("vim notes"), "{text:?}");
        // The attribute travels too.
        assert!(
            drawn.windows(4).any(|w| w == b"\x1b[1m") || drawn.windows(3).any(|w| w == b";1m"),
            "{:?}",
            String::from_utf8_lossy(&drawn)
        );
    }

    #[test]
    fn a_shell_shows_its_last_screenful_and_resizes_apply() {
        let mut s = Screen::new(20, 3, true);
        for i in 0..10 {
            s.event(&output(&format!("line {i}\r\n")));
        }
        s.event(&Event {
            time: 0.0,
            kind: EventKind::Resize,
            data: "30x4".into(),
        });
        s.event(&output("$ "));
        let text = shown(&s.drawn(), 30, 4);
        assert!(
            text.contains("line 9") && !text.contains("line 5"),
            "{text:?}"
        );
        assert!(text.trim_end().ends_with('$'), "{text:?}");
    }

    #[test]
    fn output_without_a_terminal_gets_its_line_ends() {
        let mut s = Screen::new(20, 4, false);
        s.event(&output("one\ntwo\n"));
        assert_eq!(shown(&s.drawn(), 20, 4).trim_end(), "one\ntwo");
    }

    #[test]
    fn compressed_output_is_inflated() {
        let frame = wicket_proto::zdata::Compressor::new()
            .unwrap()
            .compress(&b"bulk\r\n".repeat(200))
            .unwrap();
        let mut line = Vec::new();
        wicket_recording::asciicast::Encoder::new().compressed_output_into(
            std::time::Duration::ZERO,
            &frame,
            &mut line,
        );
        let event = asciicast::parse_event(std::str::from_utf8(&line).unwrap().trim(), 1).unwrap();
        let mut s = Screen::new(20, 3, true);
        s.event(&event);
        assert!(shown(&s.drawn(), 20, 3).contains("bulk"));
    }
}
