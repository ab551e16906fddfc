//! Sessions: the channels the server opens on the link, each wired to a process (or, for a
//! `tcp` channel, handed to [`crate::forward`]).

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use wicket_mux::{ChannelReceiver, ChannelSender, Event, IncomingChannel, LinkClosed, Mux};
use wicket_proto::zdata::Compressor;
use wicket_proto::{CopySpec, ErrorCode, ExitStatus, OpenSpec, SessionSpec, Signal};

use crate::forward::ForwardOptions;
use crate::process::{self, ProcessControl, PtySize, SessionRequest, Spawned};

/// Size of one read from a process: large enough to fill a frame under bulk output.
const READ_CHUNK: usize = 64 * 1024;

/// Serves channels until the link closes, and returns why it closed.
pub async fn serve(
    mux: Mux,
    mut incoming: mpsc::Receiver<IncomingChannel>,
    forward: Arc<ForwardOptions>,
) -> LinkClosed {
    loop {
        tokio::select! {
            next = incoming.recv() => match next {
                Some(ch) => match ch.spec().clone() {
                    OpenSpec::Session(spec) => { tokio::spawn(open(ch, spec)); }
                    OpenSpec::Tcp(spec) => {
                        tokio::spawn(crate::forward::serve(ch, spec, forward.clone()));
                    }
                    OpenSpec::Copy(spec) => { tokio::spawn(copy(ch, spec)); }
                },
                None => break,
            },
            why = mux.closed() => return why,
        }
    }
    mux.closed().await
}

async fn open(ch: IncomingChannel, spec: SessionSpec) {
    let req = request(&spec);
    let session = spec.session_id.clone().unwrap_or_default();
    let spawned = match process::spawn(&req).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%session, error = %e, "session refused");
            ch.reject(ErrorCode::SpawnFailed, &e.to_string());
            return;
        }
    };
    tracing::info!(
        %session,
        user = spec.user.as_deref().unwrap_or(""),
        run_as = req.run_as.as_deref().unwrap_or("(agent)"),
        pid = spawned.control().pid(),
        "session started"
    );
    let channel = match ch.accept() {
        Ok(c) => c,
        Err(_) => return,
    };
    let (tx, rx) = channel.split();
    let status = match spawned {
        Spawned::Pty(p) => {
            let (reader, writer, control) = p.into_parts();
            let out = Output::new(reader, spec.compress_output);
            let input = Input::Pty {
                writer,
                echo_reports: spec.input_echo.then(|| tx.clone()),
            };
            run(tx.clone(), rx, control, out, None, input).await
        }
        Spawned::Pipes(p) => {
            let (stdin, stdout, stderr, control) = p.into_parts();
            run(
                tx.clone(),
                rx,
                control,
                Output::new(stdout, spec.compress_output),
                Some(stderr),
                Input::Pipe(stdin),
            )
            .await
        }
    };
    tracing::info!(%session, ?status, "session ended");
    if let Some(s) = status {
        let _ = tx.exit(s);
    }
    tx.close();
}

/// The program the copy helper runs as: this very binary (`/proc/self/exe`, which the child
/// execs after switching user), with the hidden `copy-helper` subcommand.
pub const COPY_HELPER_EXE: &str = "/proc/self/exe";

/// A `copy` channel: the agent starts its own binary as the run-as user (`wicket-agent
/// copy-helper send|receive PATH`, [`crate::copy_helper`]) and pipes the channel to it like a session without a
/// terminal, so every file is opened with that user's credentials. The records are produced and
/// checked end to end by the helper and the CLI; the agent only relays bytes.
async fn copy(ch: IncomingChannel, spec: CopySpec) {
    let id = spec.copy_id.clone().unwrap_or_default();
    let requested = spec.run_as.clone();
    let run_as =
        match tokio::task::spawn_blocking(move || process::resolve_run_as(requested.as_deref()))
            .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                ch.reject(ErrorCode::SpawnFailed, &e.to_string());
                return;
            }
            Err(e) => {
                ch.reject(ErrorCode::Internal, &e.to_string());
                return;
            }
        };
    let args = crate::copy_helper::Mode::for_spec(&spec).args();
    let spawned =
        match process::spawn_program_as(std::path::Path::new(COPY_HELPER_EXE), &args, &run_as) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(copy = %id, error = %e, "copy refused");
                ch.reject(ErrorCode::SpawnFailed, &e.to_string());
                return;
            }
        };
    tracing::info!(
        copy = %id,
        user = spec.user.as_deref().unwrap_or(""),
        run_as = run_as.name(),
        direction = spec.direction.as_str(),
        path = %spec.path,
        "copy started"
    );
    let Ok(channel) = ch.accept() else { return };
    let (tx, rx) = channel.split();
    let (stdin, stdout, stderr, control) = spawned.into_parts();
    let status = run(
        tx.clone(),
        rx,
        control,
        Output::new(stdout, false),
        Some(stderr),
        Input::Pipe(stdin),
    )
    .await;
    tracing::info!(copy = %id, ?status, "copy ended");
    if let Some(s) = status {
        let _ = tx.exit(s);
    }
    tx.close();
}

fn request(spec: &SessionSpec) -> SessionRequest {
    SessionRequest {
        run_as: spec.run_as.clone(),
        command: spec.command.clone(),
        pty: spec.pty.as_ref().map(|p| {
            (
                p.term.clone(),
                PtySize {
                    cols: p.cols,
                    rows: p.rows,
                },
            )
        }),
        env: spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        cwd: spec.cwd.as_ref().map(std::path::PathBuf::from),
    }
}

enum Input {
    Pty {
        writer: process::PtyWriter,
        /// Where to report, for each `DATA` written, whether the terminal showed it or was
        /// reading a password (`INPUT_ECHO`), when the server asked.
        echo_reports: Option<ChannelSender>,
    },
    Pipe(process::ChildStdin),
}

/// A process's stdout (or its terminal), and the compressor when the opener reads `ZDATA`.
struct Output<R> {
    reader: R,
    compressor: Option<Compressor>,
}

impl<R> Output<R> {
    fn new(reader: R, compress: bool) -> Self {
        // Without a compressor (it could not be made) the output simply goes uncompressed.
        let compressor = compress.then(|| Compressor::new().ok()).flatten();
        Output { reader, compressor }
    }
}

/// Pumps output to the channel and channel events to the process until the output ends and
/// the process is reaped; returns the exit status (none if waiting failed).
async fn run(
    tx: ChannelSender,
    rx: ChannelReceiver,
    control: ProcessControl,
    stdout: Output<impl AsyncRead + Unpin + Send + 'static>,
    stderr: Option<process::ChildStderr>,
    input: Input,
) -> Option<ExitStatus> {
    let control = Arc::new(control);
    let input_task = tokio::spawn(pump_input(rx, input, control.clone()));
    let out = pump_output(stdout.reader, tx.clone(), false, stdout.compressor);
    let err = async {
        if let Some(e) = stderr {
            pump_output(e, tx.clone(), true, None).await;
        }
    };
    let (_, _, status) = tokio::join!(out, err, control.wait());
    input_task.abort();
    status.ok().map(|s| match s {
        process::ExitStatus::Code(c) => ExitStatus::Code(c),
        process::ExitStatus::Signal(s) => ExitStatus::Signal(s),
    })
}

/// Reads output and sends it; with a compressor, reads worth it go as `ZDATA` (keystroke
/// echo and other short writes stay plain, and so add no latency).
async fn pump_output(
    mut from: impl AsyncRead + Unpin,
    tx: ChannelSender,
    stderr: bool,
    mut compressor: Option<Compressor>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        buf.reserve(READ_CHUNK);
        match from.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let compressed = compressor
                    .as_mut()
                    .and_then(|c| c.compress(&buf))
                    .filter(|z| tx.fits_zdata(z.len()));
                let sent = if let Some(z) = compressed {
                    buf.clear();
                    tx.zdata(z.into()).await
                } else if stderr {
                    tx.ext_data(buf.split().freeze()).await
                } else {
                    tx.data(buf.split().freeze()).await
                };
                if sent.is_err() {
                    break;
                }
            }
        }
    }
}

async fn pump_input(mut rx: ChannelReceiver, input: Input, control: Arc<ProcessControl>) {
    let mut input = Some(input);
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Data(d) => {
                // The terminal is asked before and after the write: input counts as shown
                // (and so may be recorded) only if it was not hidden at either moment, nor
                // when the terminal could not be asked.
                let reports = match &input {
                    Some(Input::Pty {
                        echo_reports: Some(r),
                        ..
                    }) => Some((r.clone(), control.hides_input() == Some(false))),
                    _ => None,
                };
                let wrote = async {
                    match input.as_mut() {
                        Some(Input::Pty { writer, .. }) => writer.write_all(&d).await,
                        Some(Input::Pipe(w)) => w.write_all(&d).await,
                        None => Ok(()),
                    }
                };
                // A process that does not read its input must not keep a cut channel open.
                let cut = tokio::select! {
                    biased;
                    r = wrote => {
                        if r.is_err() {
                            input = None;
                        }
                        false
                    }
                    _ = rx.cut() => true,
                };
                if cut {
                    break;
                }
                if let Some((to, shown_before)) = reports {
                    let shown = shown_before && control.hides_input() == Some(false);
                    let _ = to.input_echo(d.len() as u32, shown);
                }
            }
            Event::Eof => {
                // Pipes have a half-close; a PTY does not, and its user types ^D instead.
                if let Some(Input::Pipe(_)) = input {
                    input = None;
                }
            }
            Event::Resize { cols, rows } => {
                let _ = control.resize(PtySize { cols, rows });
            }
            Event::Signal(s) => {
                let _ = control.signal(to_nix(s));
            }
            Event::Exit(_) | Event::ExtData(_) | Event::ZData(_) | Event::InputEcho { .. } => {}
            Event::Error { .. } => break,
        }
    }
    // The user is gone: hang up, as a terminal would.
    if control.exit_status().is_none() {
        let _ = control.signal(nix::sys::signal::Signal::SIGHUP);
    }
}

fn to_nix(s: Signal) -> nix::sys::signal::Signal {
    use nix::sys::signal::Signal as N;
    match s {
        Signal::Hup => N::SIGHUP,
        Signal::Int => N::SIGINT,
        Signal::Quit => N::SIGQUIT,
        Signal::Kill => N::SIGKILL,
        Signal::Usr1 => N::SIGUSR1,
        Signal::Usr2 => N::SIGUSR2,
        Signal::Term => N::SIGTERM,
    }
}
