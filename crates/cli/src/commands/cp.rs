//! `wicket cp [-r] SRC DST`: files to or from a target over a `copy` channel. The file IO is
//! [`wicket_transfer`], run on a blocking thread joined to the channel by two small bridges;
//! the credit of the channel (the stream window) bounds what is in flight.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use bytes::{Bytes, BytesMut};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use wicket_mux::{Event, MuxError};
use wicket_proto::copy::{encode, Item};
use wicket_proto::{CopySpec, Direction, ErrorCode, OpenSpec, Signal};

use crate::args::CpArgs;
use crate::profile::Config;
use wicket_transfer::{Cancel, Progress, CHUNK, WARNING_PREFIX};

/// One side of a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    Local(PathBuf),
    Remote { target: String, path: String },
}

/// `TARGET:PATH` when there is a `:` before any `/` (as scp); anything else is local, so
/// `./a:b` and `/x:y` are local paths. An empty PATH is the run-as user's home directory.
pub fn parse_place(s: &str) -> Result<Place, String> {
    if s.is_empty() {
        return Err("empty path".into());
    }
    match s.find(':') {
        Some(i) if !s[..i].contains('/') => {
            let (target, path) = (&s[..i], &s[i + 1..]);
            if target.is_empty() {
                return Err(format!("{s:?}: no target before ':'"));
            }
            let path = if path.is_empty() { "." } else { path };
            Ok(Place::Remote {
                target: target.to_string(),
                path: path.to_string(),
            })
        }
        _ => Ok(Place::Local(PathBuf::from(s))),
    }
}

/// The direction, target, remote path and local path of `SRC DST`: exactly one is remote.
pub fn plan(src: &str, dst: &str) -> Result<(Direction, String, String, PathBuf), String> {
    match (parse_place(src)?, parse_place(dst)?) {
        (Place::Local(l), Place::Remote { target, path }) => {
            Ok((Direction::Upload, target, path, l))
        }
        (Place::Remote { target, path }, Place::Local(l)) => {
            Ok((Direction::Download, target, path, l))
        }
        (Place::Local(_), Place::Local(_)) => {
            Err("neither side is TARGET:PATH; use cp for local copies".into())
        }
        (Place::Remote { .. }, Place::Remote { .. }) => {
            Err("both sides are TARGET:PATH; copy between targets is not supported".into())
        }
    }
}

pub async fn cp(profile_name: Option<&str>, args: CpArgs) -> Result<i32> {
    let (direction, target, path, local) = plan(&args.src, &args.dst).map_err(|e| anyhow!(e))?;
    if direction == Direction::Upload && !local.exists() {
        bail!("{}: no such file or directory", local.display());
    }
    let (_, profile) = Config::load().and_then(|c| c.selected(profile_name))?;
    let mux = crate::link::open(&profile).await?;
    let spec = CopySpec {
        target: Some(target.clone()),
        run_as: args.user.clone(),
        direction,
        path: path.clone(),
        recursive: args.recursive,
        local_path: Some(local.display().to_string()),
        copy_id: None,
        user: None,
    };
    let channel = mux.open(OpenSpec::Copy(spec)).await.map_err(|e| match e {
        MuxError::Rejected { reason, .. } => anyhow!("{target}:{path}: {reason}"),
        other => anyhow!("{target}: {other}"),
    })?;
    let (tx, mut rx) = channel.split();

    // Channel events to the blocking side; remote failures kept for the message.
    let remote_error: Arc<Mutex<Option<String>>> = Arc::default();
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(8);
    let errs = remote_error.clone();
    let reader = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                // Once the copy stops taking data (cancelled, failed), what still comes is
                // drained until the target ends the channel or the channel is closed here:
                // data left unread at exit would make the kernel reset the connection.
                Event::Data(d) => {
                    let _ = in_tx.send(d).await;
                }
                Event::ExtData(d) => {
                    // Warnings from the target (skipped links) now; anything else is the
                    // reason of a failure, shown with it.
                    for line in String::from_utf8_lossy(&d).lines() {
                        if line.starts_with(WARNING_PREFIX) {
                            errln!("{line}");
                        } else if !line.trim().is_empty() {
                            errs.lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert_with(|| line.trim().to_string());
                        }
                    }
                }
                Event::Error { reason, .. } => {
                    *errs.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
                    break;
                }
                Event::Eof => break,
                _ => {}
            }
        }
    });
    // Ctrl-C cannot interrupt the blocking thread; this stops it at its next step: an
    // upload's next write fails, and a download's temporary file is removed at once.
    let cancel = Cancel::new();
    // An upload's stream to the channel, then EOF. (A download's verdict is sent below.)
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(8);
    let mut writer = match direction {
        Direction::Upload => {
            let sender = tx.clone();
            Some(tokio::spawn(async move {
                while let Some(b) = out_rx.recv().await {
                    if sender.data(b).await.is_err() {
                        return;
                    }
                }
                let _ = sender.eof();
            }))
        }
        Direction::Download => None,
    };

    let recursive = args.recursive;
    let local_for_work = local.clone();
    let cancel_for_work = cancel.clone();
    let mut work = tokio::task::spawn_blocking(move || {
        let mut input = ChanReader {
            rx: in_rx,
            cur: Bytes::new(),
        };
        let mut progress: Box<dyn Progress> = if io::stderr().is_terminal() {
            Box::new(Bar::default())
        } else {
            Box::new(Quiet)
        };
        match direction {
            Direction::Upload => {
                let output = ChanWriter {
                    tx: out_tx,
                    buf: BytesMut::new(),
                    cancel: cancel_for_work.clone(),
                };
                upload(
                    &local_for_work,
                    recursive,
                    &mut input,
                    output,
                    &mut *progress,
                    &cancel_for_work,
                )
            }
            Direction::Download => wicket_transfer::receive(
                &local_for_work,
                &mut input,
                &mut *progress,
                &cancel_for_work,
            ),
        }
    });

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut interrupted_by = INTERRUPTED;
    let finished = tokio::select! {
        biased;
        r = &mut work => Some(r),
        _ = sigint.recv() => None,
        _ = sigterm.recv() => {
            interrupted_by = TERMINATED;
            None
        }
    };
    let cancelled = finished.is_none();
    let result = match finished {
        Some(r) => r.unwrap_or_else(|e| {
            Err(wicket_transfer::Error::Read(io::Error::other(format!(
                "the copy task failed: {e}"
            ))))
        }),
        None => {
            // Cancel: stop sending and tell the target, which removes its temporary file and
            // answers what it has in place; nothing further goes under a real name. A download
            // tells the target first, before its own receive stops and closes the channel: the
            // server records the cancel from that `SIGNAL`.
            if direction == Direction::Download {
                let _ = tx.signal(Signal::Int);
            }
            cancel.cancel();
            if let Some(w) = writer.take() {
                w.abort();
            }
            match direction {
                Direction::Upload => {
                    let _ = tx.signal(Signal::Int);
                    let _ = tx.eof();
                }
                // The receive stops at the cancel; the reader runs on until the target, told
                // above, ends the channel, so the server has the cancel before this exits.
                Direction::Download => {}
            }
            if io::stderr().is_terminal() {
                errln!();
            }
            // The receiver's verdict (an upload) or the receive's end (a download); a second
            // Ctrl-C stops waiting.
            let waited = tokio::select! {
                r = &mut work => r.ok(),
                _ = tokio::time::sleep(CANCEL_WAIT) => None,
                _ = sigint.recv() => None,
            };
            waited.unwrap_or(Err(wicket_transfer::Error::Cancelled))
        }
    };
    if direction == Direction::Download {
        let _ = tx.data(wicket_transfer::status(&result)).await;
        let _ = tx.eof();
    }
    if let Some(w) = writer {
        let _ = w.await;
    }
    // A cancelled download keeps its channel open until the target has ended it: closing it
    // here would end the reader at once, and the process could exit with the download's data
    // still unread, which makes the kernel reset the connection and discard what wicketd had
    // not read yet, the cancel's `SIGNAL` among it.
    if result.is_err() && !(cancelled && direction == Direction::Download) {
        tx.close();
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    tx.close();
    // Everything queued (a cancel's `SIGNAL`, a download's verdict) reaches wicketd before
    // the process exits and the connection drops.
    let goodbye = mux.goodbye(ErrorCode::Shutdown, "the copy is over");
    let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
    match result {
        Ok(sum) => {
            if cancelled {
                errln!("wicket: the copy was complete before it could be cancelled");
            }
            if let Some(sha) = sum.last_sha256.filter(|_| sum.files == 1 && sum.dirs == 0) {
                tracing::debug!(%sha, "copied");
            }
            Ok(0)
        }
        Err(wicket_transfer::Error::Cancelled) if cancelled => {
            errln!("wicket: cancelled");
            Ok(interrupted_by)
        }
        Err(e) => {
            let e = anyhow::Error::from(e);
            let remote = remote_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            match remote {
                Some(r) if !format!("{e:#}").contains(&r) => bail!("{e:#} ({r})"),
                _ => Err(e),
            }
        }
    }
}

/// How long a cancelled copy waits for the target to say what it has in place.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// The exit status after Ctrl-C, as a shell reports a command SIGINT ended (128 + 2).
const INTERRUPTED: i32 = 130;
/// The exit status after SIGTERM (128 + 15).
const TERMINATED: i32 = 143;

/// The blocking side of an upload: sends, then reads the receiver's verdict. After a cancel
/// the verdict alone decides: `OK` means everything was in place before the cancel reached the
/// target, anything else that the copy was cancelled.
fn upload(
    local: &std::path::Path,
    recursive: bool,
    input: &mut dyn Read,
    mut output: ChanWriter,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<wicket_transfer::Summary, wicket_transfer::Error> {
    let sent = wicket_transfer::send(local, recursive, &mut output, progress).and_then(|sum| {
        output
            .flush()
            .map(|()| sum)
            .map_err(wicket_transfer::Error::Write)
    });
    // A local failure (not a directory, unreadable) is the reason; tell the receiver too, so
    // it stops at once. A failed write means the channel closed (or the copy was cancelled):
    // then the receiver's reason (a directory it may not write) explains it.
    let local_failure = sent
        .as_ref()
        .err()
        .filter(|e| !matches!(e, wicket_transfer::Error::Write(_)));
    if let Some(e) = local_failure.filter(|_| !cancel.is_cancelled()) {
        let _ = output.write_all(&encode(&Item::Error(wicket_transfer::report(e))));
        let _ = output.flush();
    }
    let local_failure = local_failure.is_some();
    drop(output);
    let verdict = wicket_transfer::read_status(input);
    if cancel.is_cancelled() {
        return match verdict {
            Ok(()) => Ok(sent.unwrap_or_default()),
            Err(_) => Err(wicket_transfer::Error::Cancelled),
        };
    }
    match verdict {
        Ok(()) => sent,
        Err(_) if local_failure => sent,
        Err(wicket_transfer::Error::NoVerdict) if sent.is_err() => sent,
        Err(e) => Err(e),
    }
}

/// A blocking [`Read`] over the channel's data.
struct ChanReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// A blocking [`Write`] to the channel, in chunks of [`CHUNK`]; it fails once the copy is
/// cancelled.
struct ChanWriter {
    tx: mpsc::Sender<Bytes>,
    buf: BytesMut,
    cancel: Cancel,
}

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other("the copy was cancelled"));
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the copy channel closed"))
    }
}

/// A progress line on stderr: name, percent, bytes, rate, ETA.
#[derive(Default)]
struct Bar {
    name: String,
    size: u64,
    done: u64,
    started: Option<Instant>,
    drawn: Option<Instant>,
}

impl Bar {
    fn draw(&mut self, force: bool) {
        let now = Instant::now();
        if !force
            && self
                .drawn
                .is_some_and(|d| now - d < Duration::from_millis(100))
        {
            return;
        }
        self.drawn = Some(now);
        let secs = self
            .started
            .map_or(0.0, |s| (now - s).as_secs_f64())
            .max(0.001);
        let rate = self.done as f64 / secs;
        let pct = (self.done.saturating_mul(100))
            .checked_div(self.size)
            .unwrap_or(100);
        let eta = if rate > 0.0 {
            (self.size.saturating_sub(self.done) as f64 / rate) as u64
        } else {
            0
        };
        // The name is the sender's (a remote file name on a download): only our own
        // carriage return and line erase reach the terminal as control.
        crate::stdio::err_control("\r\x1b[K");
        err!(
            "{}  {pct:>3}%  {}  {}/s  ETA {:02}:{:02}",
            self.name,
            human(self.done),
            human(rate as u64),
            eta / 60,
            eta % 60
        );
    }
}

impl Progress for Bar {
    fn file(&mut self, path: &str, size: u64) {
        if self.started.is_some() {
            self.draw(true);
            errln!();
        }
        self.name = path.to_string();
        self.size = size;
        self.done = 0;
        self.started = Some(Instant::now());
        self.draw(true);
    }
    fn bytes(&mut self, n: u64) {
        self.done += n;
        self.draw(false);
    }
    fn warn(&mut self, msg: &str) {
        crate::stdio::err_control("\r\x1b[K");
        errln!("{WARNING_PREFIX}{msg}");
    }
    fn done(&mut self) {
        if self.started.is_some() {
            self.draw(true);
            errln!();
        }
    }
}

/// Warnings to stderr, no progress.
struct Quiet;

impl Progress for Quiet {
    fn warn(&mut self, msg: &str) {
        errln!("{WARNING_PREFIX}{msg}");
    }
}

fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(t: &str, p: &str) -> Place {
        Place::Remote {
            target: t.into(),
            path: p.into(),
        }
    }

    #[test]
    fn places() {
        assert_eq!(
            parse_place("web-1:/etc/hosts"),
            Ok(remote("web-1", "/etc/hosts"))
        );
        assert_eq!(parse_place("web-1:"), Ok(remote("web-1", ".")));
        assert_eq!(parse_place("web-1:a:b"), Ok(remote("web-1", "a:b")));
        assert_eq!(parse_place("./a:b"), Ok(Place::Local("./a:b".into())));
        assert_eq!(parse_place("/x:y"), Ok(Place::Local("/x:y".into())));
        assert_eq!(parse_place("file"), Ok(Place::Local("file".into())));
        assert!(parse_place(":path").is_err());
        assert!(parse_place("").is_err());
    }

    #[test]
    fn plans() {
        let (d, t, p, l) = plan("f", "web-1:/tmp/").unwrap();
        assert_eq!(
            (d, t.as_str(), p.as_str(), l),
            (Direction::Upload, "web-1", "/tmp/", "f".into())
        );
        let (d, ..) = plan("web-1:/tmp/f", ".").unwrap();
        assert_eq!(d, Direction::Download);
        assert!(plan("a", "b").unwrap_err().contains("neither"));
        assert!(plan("a:x", "b:y").unwrap_err().contains("both"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(10), "10 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(256 * 1024 * 1024), "256.0 MiB");
    }
}
