//! `wicket sessions`, `wicket replay`, `wicket watch`: the session history, recordings, and
//! following a live session.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::AsyncWriteExt;
use wicket_api::{SessionView, Terminated};
use wicket_recording::asciicast::{parse_event, parse_header};
use wicket_recording::compress::StreamDecoder;
use wicket_recording::{EventKind, Render};

use super::targets::print_table;
use crate::args::{Output, ReplayArgs, SessionsArgs, SessionsCommand};
use crate::profile::Config;
use crate::queries::QueryFilter;
use crate::terminal::Quiet;

pub async fn dispatch(profile_name: Option<&str>, args: SessionsArgs) -> Result<i32> {
    let (_, profile) = Config::load()?.selected(profile_name)?;
    let api = profile.api()?;
    if let Some(SessionsCommand::Terminate { id }) = args.command {
        let reply: Terminated = api
            .post(
                &format!("/v1/sessions/{}/terminate", path_segment(&id)?),
                &(),
            )
            .await?;
        if reply.requested {
            // Another wicketd relays it; that one ends it at its next look at the store.
            errln!("session {id} runs on another wicketd: asked it to end the session");
        } else {
            errln!("session {id} terminated");
        }
        return Ok(0);
    }
    let mut query = vec![format!("limit={}", args.limit)];
    if args.active {
        query.push("active=true".into());
    }
    for (key, value) in [("user", &args.user), ("target", &args.target)] {
        if let Some(v) = value {
            query.push(format!("{key}={}", query_value(v)));
        }
    }
    let sessions: Vec<SessionView> = api
        .get(&format!("/v1/sessions?{}", query.join("&")))
        .await?;
    match args.output.output {
        Output::Json => crate::stdio::json(&sessions)?,
        Output::Table => {
            let rows: Vec<[String; 7]> = sessions
                .iter()
                .map(|s| {
                    let what = s.command.clone().unwrap_or_else(|| "(shell)".into());
                    let state = if s.ended_at.is_none() {
                        if s.live { "live" } else { "open" }.to_string()
                    } else {
                        s.end_reason.clone().unwrap_or_default()
                    };
                    [
                        s.id.clone(),
                        s.user_name.clone(),
                        format!(
                            "{}{}",
                            s.target_name,
                            s.run_as
                                .as_ref()
                                .map(|r| format!(" as {r}"))
                                .unwrap_or_default()
                        ),
                        super::ago(Some(s.started_at)),
                        truncate(&what, 30),
                        state,
                        s.recording.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "USER",
                    "TARGET",
                    "STARTED",
                    "COMMAND",
                    "STATE",
                    "RECORDING",
                ],
                &rows,
            );
        }
    }
    Ok(0)
}

const DAMAGED: &str = "the recording does not read back: a stored chunk is damaged or was altered";

/// Plays a recording at its own pace (or writes it raw), checking it against the SHA-256 the
/// server sealed when the session ended. A mismatch is an error: the recording was altered.
///
/// Played in a terminal, the recording's terminal queries are dropped and the terminal is
/// kept quiet ([`Quiet`]), so nothing the terminal answers reaches the shell afterwards. A
/// reader that goes away (`--raw | head`) ends the replay quietly, as Unix filters do.
pub async fn replay(profile_name: Option<&str>, args: ReplayArgs) -> Result<i32> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let (_, profile) = Config::load()?.selected(profile_name)?;
    let api = profile.api()?;
    let body = api
        .get_stream(&format!(
            "/v1/sessions/{}/recording",
            path_segment(&args.id)?
        ))
        .await?;
    let quiet = if args.raw { None } else { Quiet::enable() };
    let played = tokio::select! {
        played = play(body, &args) => played,
        // Ctrl-C: stop here, with the terminal restored (the guard drops below).
        _ = tokio::signal::ctrl_c() => Ok(130),
    };
    drop(quiet);
    match played {
        Err(e) if closed_stdout(&e) => Ok(0),
        other => other,
    }
}

/// Whether `e` is a write to a stdout whose reader has gone.
fn closed_stdout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Streams the recording from `body` into the player, then checks the sealed hash.
async fn play(mut body: wicket_dial::ByteStream, args: &ReplayArgs) -> Result<i32> {
    let sealed = body.header("x-wicket-recording-sha256");
    let mut decoder = match body.header("x-wicket-recording-encoding").as_deref() {
        Some("zstd") => Some(StreamDecoder::new()?),
        None | Some("identity") => None,
        Some(other) => bail!("the server sent the recording in an unknown encoding {other:?}"),
    };
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut stdout = tokio::io::stdout();
    let mut pending: Vec<u8> = Vec::new();
    let mut text = Vec::new();
    let mut player = Player::new(args.speed, args.idle_limit, args.raw);
    while let Some(stored) = body.next().await? {
        // The sealed hash is of the stored bytes, so hash before decompressing.
        hash.update(&stored);
        let chunk: &[u8] = match decoder.as_mut() {
            Some(d) => {
                text.clear();
                d.push(&stored, &mut text).context(DAMAGED)?;
                &text
            }
            None => &stored,
        };
        pending.extend_from_slice(chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            player.line(&line, &mut stdout).await?;
        }
    }
    if let Some(d) = &decoder {
        d.finish().context(DAMAGED)?;
    }
    if !pending.is_empty() {
        let line = std::mem::take(&mut pending);
        player.line(&line, &mut stdout).await?;
    }
    player.finish(&mut stdout).await?;
    stdout.flush().await?;
    let got = hex(hash.finish().as_ref());
    match sealed {
        Some(s) if s != got => bail!(
            "the recording does not match the hash sealed when the session ended \
             (sealed {s}, received {got}): it was altered"
        ),
        Some(_) => Ok(0),
        None => {
            errln!("wicket: note: this session has no sealed hash (still running, or its recording failed)");
            Ok(0)
        }
    }
}

/// Replays events with their timing, or (`--raw`) writes them as plain asciicast v2.
struct Player {
    speed: f64,
    idle_limit: f64,
    raw: bool,
    line_no: usize,
    last: f64,
    /// `z` events (output the agent compressed) back into output.
    render: Render,
    /// Terminal queries out of what is played (not out of `--raw`).
    queries: QueryFilter,
    /// What is written next, queries removed.
    shown: Vec<u8>,
}

impl Player {
    fn new(speed: f64, idle_limit: f64, raw: bool) -> Self {
        Player {
            speed,
            idle_limit: idle_limit.max(0.0),
            raw,
            line_no: 0,
            last: 0.0,
            render: Render::new(),
            queries: QueryFilter::new(),
            shown: Vec::new(),
        }
    }

    async fn line(&mut self, line: &[u8], out: &mut tokio::io::Stdout) -> Result<()> {
        self.line_no += 1;
        let text = std::str::from_utf8(line).context("recording is not UTF-8")?;
        if text.trim().is_empty() {
            return Ok(());
        }
        if self.line_no == 1 {
            parse_header(text)?;
            if self.raw {
                out.write_all(line).await?;
            }
            return Ok(());
        }
        let event = parse_event(text, self.line_no)?;
        if self.raw {
            self.last = event.time;
            // Lines pass as stored unless they hold compressed output (or finish a character
            // it began): those become the `o` events any asciinema tool reads.
            if let EventKind::Output | EventKind::Compressed = event.kind {
                let data = (event.kind == EventKind::Output).then(|| event.data.clone());
                match self.render.event(event) {
                    Some(e) if Some(&e.data) == data.as_ref() => out.write_all(line).await?,
                    Some(e) => out.write_all(&e.to_line()).await?,
                    None => {}
                }
                return Ok(());
            }
            out.write_all(line).await?;
            return Ok(());
        }
        let Some(bytes) = self.render.output_bytes(&event) else {
            return Ok(());
        };
        let wait = ((event.time - self.last).max(0.0)).min(self.idle_limit) / self.speed;
        self.last = event.time;
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        self.shown.clear();
        self.queries.push(&bytes, &mut self.shown);
        out.write_all(&self.shown).await?;
        out.flush().await?;
        Ok(())
    }

    /// The end of the recording: with `--raw`, a character left unfinished, as U+FFFD; and a
    /// word on compressed output that did not decode (shown as U+FFFD: the agent sent it so,
    /// and the user's client refused it too).
    async fn finish(&mut self, out: &mut tokio::io::Stdout) -> Result<()> {
        if let Some(e) = self.raw.then(|| self.render.finish(self.last)).flatten() {
            out.write_all(&e.to_line()).await?;
        }
        self.shown.clear();
        self.queries.finish(&mut self.shown);
        out.write_all(&self.shown).await?;
        if self.render.damaged() > 0 {
            errln!(
                "wicket: note: {} piece(s) of compressed output in this recording do not decode \
                 (shown as U+FFFD)",
                self.render.damaged()
            );
        }
        Ok(())
    }
}

/// Streams a live session's output (from its screen as it is now, which the server sends
/// first) until it ends or Ctrl-C. Its terminal queries are dropped and the terminal kept
/// quiet, as in a replay.
pub async fn watch(profile_name: Option<&str>, id: &str) -> Result<i32> {
    let (_, profile) = Config::load()?.selected(profile_name)?;
    let api = profile.api()?;
    let mut body = api
        .get_stream(&format!("/v1/sessions/{}/watch", path_segment(id)?))
        .await?;
    errln!("wicket: watching {id} (read-only); Ctrl-C to stop");
    let quiet = Quiet::enable();
    let mut stdout = tokio::io::stdout();
    let mut queries = QueryFilter::new();
    let mut shown = Vec::new();
    let watched: Result<()> = async {
        loop {
            tokio::select! {
                chunk = body.next() => match chunk? {
                    Some(c) => {
                        shown.clear();
                        queries.push(&c, &mut shown);
                        stdout.write_all(&shown).await?;
                        stdout.flush().await?;
                    }
                    None => break,
                },
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        Ok(())
    }
    .await;
    drop(quiet);
    match watched {
        Err(e) if closed_stdout(&e) => Ok(0),
        Err(e) => Err(e),
        Ok(()) => Ok(0),
    }
}

/// Ids go into URL paths: refuse anything that is not an id rather than escape it.
fn path_segment(id: &str) -> Result<&str> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        bail!("{id:?} is not a session id")
    }
}

/// Percent-encodes a query value.
fn query_value(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
