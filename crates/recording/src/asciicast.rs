//! asciicast v2: one JSON header line, then one JSON array per event, `[time, code, data]`,
//! with `time` in seconds since the session started. wicket writes `o` (output), `i` (input),
//! `r` (resize, data `COLSxROWS`) and `m` (marker, data its label: where input typed at a
//! password prompt was left out) events, and adds a `wicket` object to the header naming the
//! session; asciinema's tools ignore keys they do not know.
//!
//! Stored recordings may also hold `z` events: output the agent compressed, kept as it came
//! (see [`crate::zevent`]). Everything that hands a recording to a person or a tool renders
//! them as `o` events first ([`crate::zevent::Render`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::utf8::Utf8Stream;
use crate::RecordingError;

/// Who and what a recording is of.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMeta {
    pub session_id: String,
    pub user: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
}

/// The first line of a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub version: u8,
    pub width: u16,
    pub height: u16,
    /// Unix time the session started, seconds.
    #[serde(default)]
    pub timestamp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// wicket's own description of the session (absent in casts from other tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wicket: Option<SessionMeta>,
}

impl Header {
    pub fn new(meta: SessionMeta, cols: u16, rows: u16, timestamp: u64, term: &str) -> Self {
        let mut env = BTreeMap::new();
        env.insert("TERM".to_owned(), term.to_owned());
        Header {
            version: 2,
            width: cols,
            height: rows,
            timestamp,
            title: Some(format!("{}@{}", meta.user, meta.target)),
            env,
            wicket: Some(meta),
        }
    }
}

/// What an event is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    Output,
    Input,
    Resize,
    /// `z`: output as the agent compressed it (base64 of a zstd frame); see [`crate::zevent`].
    Compressed,
    /// Codes wicket does not write (markers, or a later version's), kept for completeness.
    Other(String),
}

impl EventKind {
    fn code(&self) -> &str {
        match self {
            EventKind::Output => "o",
            EventKind::Input => "i",
            EventKind::Resize => "r",
            EventKind::Compressed => "z",
            EventKind::Other(code) => code,
        }
    }

    fn from_code(code: &str) -> Self {
        match code {
            "o" => EventKind::Output,
            "i" => EventKind::Input,
            "r" => EventKind::Resize,
            "z" => EventKind::Compressed,
            other => EventKind::Other(other.to_owned()),
        }
    }
}

/// One event of a recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Seconds since the start.
    pub time: f64,
    pub kind: EventKind,
    pub data: String,
}

/// Turns a session's byte streams into asciicast lines. Output and input each keep their own
/// UTF-8 state, so a character split across frames is written whole.
#[derive(Debug, Default)]
pub struct Encoder {
    output: Utf8Stream,
    input: Utf8Stream,
    /// The last output was a `z` event, which may have ended inside a character; how many of
    /// that character's continuation bytes plain output has brought since.
    after_z: Option<usize>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The header line, newline included.
    pub fn header(header: &Header) -> Vec<u8> {
        let mut line = serde_json::to_vec(header).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// The lines for `bytes` of output at `at` (see [`Self::output_into`]), or `None` while
    /// only part of a character came.
    pub fn output(&mut self, at: Duration, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.output_into(at, bytes, &mut out);
        (!out.is_empty()).then_some(out)
    }

    /// The line for `bytes` the user typed at `at`.
    pub fn input(&mut self, at: Duration, bytes: &[u8]) -> Option<Vec<u8>> {
        let text = self.input.push(bytes);
        line(at, "i", &text)
    }

    /// The line for a marker labelled `label` at `at`.
    pub fn marker(&mut self, at: Duration, label: &str) -> Option<Vec<u8>> {
        line(at, "m", label)
    }

    /// The line for a terminal resize at `at`.
    pub fn resize(&mut self, at: Duration, cols: u16, rows: u16) -> Option<Vec<u8>> {
        line(at, "r", &format!("{cols}x{rows}"))
    }

    /// Appends the event for `bytes` of output at `at` to `out`: an `o` event for text (nothing
    /// while only part of a character came), a `z` event holding the bytes exactly for output
    /// that is not UTF-8 ([`Self::output_packed_into`]). One copy from the frame into the
    /// chunk: the recorder's hot path. Returns the bytes of `z` events written.
    pub fn output_into(&mut self, at: Duration, bytes: &[u8], out: &mut Vec<u8>) -> usize {
        self.output_packed_into(at, bytes, out, &mut |_| None)
    }

    /// As [`Self::output_into`], with `pack` offered binary output to compress into one zstd
    /// frame (`None` stores it uncompressed, in a frame of raw blocks).
    ///
    /// Binary output (`cat` of an archive or a compressed dump) is stored as it came, not as
    /// text: as text every invalid byte became U+FFFD, which lost the bytes, and escaping and
    /// compressing the result cost the server several times what relaying it did. A terminal
    /// shows the same either way: [`crate::Render`] turns a `z` event back into text as the
    /// `o` event would have read.
    pub fn output_packed_into(
        &mut self,
        at: Duration,
        mut bytes: &[u8],
        out: &mut Vec<u8>,
        pack: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
    ) -> usize {
        let mut packed = 0;
        if let Some(taken) = self.after_z.filter(|_| !bytes.is_empty()) {
            // The end of a character the `z` event began: kept exact, as a `z` event of its own.
            let n = bytes
                .iter()
                .take(3 - taken)
                .take_while(|&&b| b & 0xC0 == 0x80)
                .count();
            if n > 0 {
                packed += counted(out, |out| crate::zevent::raw_into(at, &bytes[..n], out));
                bytes = &bytes[n..];
            }
            // Still inside that character if this write held nothing else.
            self.after_z = (bytes.is_empty() && taken + n < 3).then_some(taken + n);
        }
        if bytes.is_empty() {
            return packed;
        }
        match self.output.decode_text(bytes) {
            Some(text) => line_into(at, "o", &text, out),
            None => {
                // Not text: the bytes (after any character the last `o` event left open) as
                // they are, in pieces a client could have been sent in one frame.
                let carry = self.output.take_carry();
                let joined;
                let whole: &[u8] = if carry.is_empty() {
                    bytes
                } else {
                    joined = [carry.as_slice(), bytes].concat();
                    &joined
                };
                for piece in whole.chunks(crate::zevent::MAX_EVENT_OUTPUT) {
                    packed += counted(out, |out| match pack(piece) {
                        Some(frame) => crate::zevent::compressed_line_into(at, &frame, out),
                        None => crate::zevent::raw_into(at, piece, out),
                    });
                }
                self.after_z = Some(0);
            }
        }
        packed
    }

    /// Appends a `z` event for output the agent compressed (`payload` is one zstd frame),
    /// stored as it came. A character the plain output before it left unfinished goes first,
    /// exact, in a `z` event of its own.
    pub fn compressed_output_into(&mut self, at: Duration, payload: &[u8], out: &mut Vec<u8>) {
        let carry = self.output.take_carry();
        if !carry.is_empty() {
            crate::zevent::raw_into(at, &carry, out);
        }
        crate::zevent::compressed_line_into(at, payload, out);
        self.after_z = Some(0);
    }

    /// As [`Self::output_into`], for input.
    pub fn input_into(&mut self, at: Duration, bytes: &[u8], out: &mut Vec<u8>) {
        let text = self.input.decode(bytes);
        line_into(at, "i", &text, out);
    }

    /// Appends a marker (`m` event) with `text`: asciinema players show it as a chapter mark.
    pub fn marker_into(&mut self, at: Duration, text: &str, out: &mut Vec<u8>) {
        line_into(at, "m", text, out);
    }

    /// Lines for characters left unfinished when the session ended.
    pub fn finish(&mut self, at: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        // Output keeps even a cut character exactly; input is text for people to read.
        let tail = self.output.take_carry();
        if !tail.is_empty() {
            crate::zevent::raw_into(at, &tail, &mut out);
        }
        let tail = self.input.finish();
        out.extend(line(at, "i", &tail).unwrap_or_default());
        out
    }
}

/// Runs `write` on `out` and returns how many bytes it appended.
fn counted(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> usize {
    let before = out.len();
    write(out);
    out.len() - before
}

pub(crate) fn line_into(at: Duration, code: &str, text: &str, out: &mut Vec<u8>) {
    if text.is_empty() {
        return;
    }
    line_start(at, code, out);
    crate::json::write_str(out, text);
    out.extend_from_slice(b"]\n");
}

/// `[time,"code",` of an event line.
pub(crate) fn line_start(at: Duration, code: &str, out: &mut Vec<u8>) {
    // Microsecond resolution, written the same way every time.
    let secs = at.as_micros() as f64 / 1e6;
    out.push(b'[');
    if serde_json::to_writer(&mut *out, &secs).is_err() {
        out.extend_from_slice(b"0.0");
    }
    out.push(b',');
    crate::json::write_str(out, code);
    out.push(b',');
}

impl Event {
    /// The event as a line of asciicast, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Times are written in whole microseconds: round, so the line reads as it was written.
        let at =
            Duration::from_micros((self.time * 1e6).round().clamp(0.0, u64::MAX as f64) as u64);
        line_start(at, self.code(), &mut out);
        crate::json::write_str(&mut out, &self.data);
        out.extend_from_slice(b"]\n");
        out
    }
}

fn line(at: Duration, code: &str, text: &str) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    line_into(at, code, text, &mut line);
    (!line.is_empty()).then_some(line)
}

/// A whole recording, read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    pub header: Header,
    pub events: Vec<Event>,
}

impl Cast {
    /// Parses asciicast v2 text. Input comes from the server (or a file), so nothing here
    /// may panic on bad data.
    pub fn parse(text: &str) -> Result<Self, RecordingError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines.next().ok_or(RecordingError::Malformed {
            line: 1,
            reason: "empty recording".into(),
        })?;
        let header = parse_header(first)?;
        let mut events = Vec::new();
        for (n, l) in lines {
            events.push(parse_event(l, n + 1)?);
        }
        Ok(Cast { header, events })
    }

    /// Everything the user's terminal received, in order (`z` events rendered; one that does
    /// not decode shows as U+FFFD). The whole recording in memory: for tests and small files.
    pub fn output(&self) -> String {
        let mut render = crate::zevent::Render::new();
        let mut text: String = self
            .events
            .iter()
            .filter_map(|e| render.event(e.clone()))
            .filter(|e| e.kind == EventKind::Output)
            .map(|e| e.data)
            .collect();
        text.extend(render.finish(0.0).map(|e| e.data));
        text
    }

    /// Session length: the time of the last event.
    pub fn duration(&self) -> f64 {
        self.events.last().map_or(0.0, |e| e.time)
    }
}

/// Parses the first line of a recording (for readers that stream it line by line).
pub fn parse_header(line: &str) -> Result<Header, RecordingError> {
    let header: Header = serde_json::from_str(line).map_err(|e| RecordingError::Malformed {
        line: 1,
        reason: format!("header: {e}"),
    })?;
    if header.version != 2 {
        return Err(RecordingError::Malformed {
            line: 1,
            reason: format!("asciicast version {} (only 2 is read)", header.version),
        });
    }
    Ok(header)
}

/// Parses one event line; `line_no` is for the error message.
pub fn parse_event(line: &str, line_no: usize) -> Result<Event, RecordingError> {
    let bad = |reason: String| RecordingError::Malformed {
        line: line_no,
        reason,
    };
    let (time, code, data): (f64, String, String) =
        serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    if !time.is_finite() || time < 0.0 {
        return Err(bad(format!("bad time {time}")));
    }
    Ok(Event {
        time,
        kind: EventKind::from_code(&code),
        data,
    })
}

impl Event {
    /// The code as written in the file.
    pub fn code(&self) -> &str {
        self.kind.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    #[test]
    fn binary_output_is_a_z_event_and_text_an_o_event() {
        let mut enc = Encoder::new();
        let mut lines = Vec::new();
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let packed = enc.output_into(Duration::ZERO, &binary, &mut lines);
        assert_eq!(packed, lines.len());
        assert!(lines.starts_with(b"[0.0,\"z\","), "{:?}", &lines[..20]);
        // Text with a character cut at the end stays text; the cut goes with what follows.
        let before = lines.len();
        let snow = "☃".as_bytes();
        assert_eq!(
            enc.output_into(Duration::ZERO, &[b'a', snow[0]], &mut lines),
            0
        );
        assert_eq!(&lines[before..], b"[0.0,\"o\",\"a\"]\n");
        let before = lines.len();
        assert_eq!(enc.output_into(Duration::ZERO, &snow[1..], &mut lines), 0);
        assert_eq!(&lines[before..], "[0.0,\"o\",\"☃\"]\n".as_bytes());
    }

    fn meta() -> SessionMeta {
        SessionMeta {
            session_id: "ses_1".into(),
            user: "alice".into(),
            target: "web-1".into(),
            run_as: Some("deploy".into()),
        }
    }

    #[test]
    fn writes_and_reads_back() {
        let mut enc = Encoder::new();
        let mut text = Encoder::header(&Header::new(meta(), 80, 24, 1_700_000_000, "xterm"));
        let ms = Duration::from_millis;
        text.extend(enc.output(ms(5), b"$ ").unwrap());
        text.extend(enc.input(ms(900), b"ls\r").unwrap());
        text.extend(enc.resize(ms(1000), 120, 40).unwrap());
        text.extend(enc.marker(ms(1100), "input hidden").unwrap());
        text.extend(
            enc.output(ms(1200), "a\u{1b}[0m\"é\"\r\n".as_bytes())
                .unwrap(),
        );
        text.extend(enc.finish(ms(1300)));
        let cast = Cast::parse(std::str::from_utf8(&text).unwrap()).unwrap();
        assert_eq!(cast.header.wicket, Some(meta()));
        assert_eq!((cast.header.width, cast.header.height), (80, 24));
        let codes: Vec<_> = cast.events.iter().map(|e| e.code()).collect();
        assert_eq!(codes, ["o", "i", "r", "m", "o"]);
        assert_eq!(cast.events[2].data, "120x40");
        assert_eq!(cast.events[3].data, "input hidden");
        assert_eq!(cast.output(), "$ a\u{1b}[0m\"é\"\r\n");
        assert!((cast.duration() - 1.2).abs() < 1e-9);
    }

    #[test]
    fn an_event_writes_back_the_line_it_was_read_from() {
        for line in [
            "[1.234567,\"o\",\"café \\u001b[0m\"]\n",
            "[0.25,\"i\",\"q\"]\n",
            "[3600.5,\"r\",\"100x30\"]\n",
        ] {
            let event = parse_event(line.trim_end(), 2).unwrap();
            let again = String::from_utf8(event.to_line()).unwrap();
            assert_eq!(parse_event(again.trim_end(), 2).unwrap(), event, "{again}");
            assert_eq!(
                again.split(',').next(),
                line.split(',').next(),
                "time of {line}"
            );
        }
    }

    #[test]
    fn reads_a_plain_asciinema_file() {
        let text = "{\"version\": 2, \"width\": 10, \"height\": 5}\n[0.5, \"o\", \"hi\"]\n[1.0, \"m\", \"\"]\n";
        let cast = Cast::parse(text).unwrap();
        assert_eq!(cast.events.len(), 2);
        assert_eq!(cast.events[1].kind, EventKind::Other("m".into()));
    }

    #[test]
    fn refuses_bad_input_with_the_line() {
        for (text, line) in [
            ("", 1),
            ("{\"version\": 1, \"width\": 1, \"height\": 1}", 1),
            ("{\"version\": 2, \"width\": 1, \"height\": 1}\n[1, \"o\"]", 2),
            ("{\"version\": 2, \"width\": 1, \"height\": 1}\n[0, \"o\", \"x\"]\n[-1, \"o\", \"x\"]", 3),
        ] {
            match Cast::parse(text) {
                Err(RecordingError::Malformed { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    proptest! {
        /// Whatever the output and however it is cut, the recording's output is the same text.
        #[test]
        fn output_round_trips(chunks in proptest::collection::vec("\\PC{0,20}", 0..10)) {
            let mut enc = Encoder::new();
            let mut text = Encoder::header(&Header::new(meta(), 80, 24, 0, "xterm"));
            for (i, c) in chunks.iter().enumerate() {
                text.extend(enc.output(Duration::from_millis(i as u64), c.as_bytes()).unwrap_or_default());
            }
            text.extend(enc.finish(Duration::from_secs(1)));
            let cast = Cast::parse(std::str::from_utf8(&text).unwrap()).unwrap();
            prop_assert_eq!(cast.output(), chunks.concat());
        }

        /// The in-place encoder writes exactly the lines the allocating one returns.
        #[test]
        fn into_matches_the_line_api(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 0..10)) {
            let (mut a, mut b) = (Encoder::new(), Encoder::new());
            let (mut one, mut two) = (Vec::new(), Vec::new());
            for (i, c) in chunks.iter().enumerate() {
                let at = Duration::from_millis(i as u64);
                one.extend(a.input(at, c).unwrap_or_default());
                b.input_into(at, c, &mut two);
            }
            prop_assert_eq!(one, two);
        }

        /// Output is kept byte for byte, text or not and however it is cut: `o` events hold
        /// the text, `z` events the rest; and it renders as the lossy text of the whole.
        #[test]
        fn output_is_kept_exactly(
            chunks in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..40),
                    "\\PC{0,20}".prop_map(String::into_bytes),
                ],
                0..10,
            ),
        ) {
            let mut enc = Encoder::new();
            let mut lines = Vec::new();
            for (i, c) in chunks.iter().enumerate() {
                enc.output_into(Duration::from_millis(i as u64), c, &mut lines);
            }
            lines.extend(enc.finish(Duration::from_secs(1)));
            let whole = chunks.concat();
            let (mut exact, mut rendered) = (Vec::new(), Vec::new());
            let mut render = crate::Render::new();
            for (n, line) in std::str::from_utf8(&lines).unwrap().lines().enumerate() {
                let event = parse_event(line, n + 2).unwrap();
                match event.kind {
                    EventKind::Output => exact.extend_from_slice(event.data.as_bytes()),
                    EventKind::Compressed => exact.extend(
                        zstd::stream::decode_all(
                            &base64::engine::general_purpose::STANDARD.decode(&event.data).unwrap()[..],
                        )
                        .unwrap(),
                    ),
                    ref other => panic!("{other:?}"),
                }
                if let Some(e) = render.event(event) {
                    rendered.extend_from_slice(e.data.as_bytes());
                }
            }
            rendered.extend(render.finish(1.0).map(|e| e.data.into_bytes()).unwrap_or_default());
            prop_assert_eq!(&exact, &whole);
            prop_assert_eq!(String::from_utf8(rendered).unwrap(), String::from_utf8_lossy(&whole));
        }

        /// An event line is exactly what serde_json writes for the `(time, code, text)` tuple.
        #[test]
        fn lines_match_serde_json(us in 0u64..10_000_000_000, text in "\\PC{1,40}") {
            let at = Duration::from_micros(us);
            let want = serde_json::to_vec(&(us as f64 / 1e6, "o", &text)).unwrap();
            prop_assert_eq!(line(at, "o", &text).unwrap(), [want, b"\n".to_vec()].concat());
        }

        /// The reader never panics.
        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = Cast::parse(&text);
        }
    }
}
