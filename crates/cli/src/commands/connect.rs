//! `wicket connect TARGET [-- COMMAND...]`: a shell or a command on a target.

use std::collections::BTreeMap;

use anyhow::Result;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};
use wicket_mux::{ChannelSender, Event, MuxError};
use wicket_proto::zdata::Decompressor;
use wicket_proto::{OpenSpec, PtySpec, SessionSpec, Signal};

use crate::args::ConnectArgs;
use crate::profile::Config;
use crate::terminal::{self, RawMode};

/// A failure on wicket's side of a connect (not the remote command's): exits 255.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectFailed(pub String);

fn failed(e: impl std::fmt::Display) -> anyhow::Error {
    ConnectFailed(e.to_string()).into()
}

pub async fn connect(profile_name: Option<&str>, args: ConnectArgs) -> Result<i32> {
    let (_, profile) = Config::load()
        .map_err(failed)?
        .selected(profile_name)
        .map_err(failed)?;
    let interactive = terminal::is_interactive();
    if args.tty && !interactive {
        errln!("wicket: no terminal will be allocated because stdin is not a terminal");
    }
    let tty = !args.no_tty && interactive && (args.command.is_empty() || args.tty);
    let mux = crate::link::open(&profile)
        .await
        .map_err(|e| failed(format!("{e:#}")))?;
    let pty = tty.then(|| {
        let (cols, rows) = terminal::size().unwrap_or((80, 24));
        PtySpec {
            term: std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into()),
            cols,
            rows,
        }
    });
    let spec = SessionSpec {
        target: Some(args.target.clone()),
        run_as: args.user.clone(),
        command: (!args.command.is_empty()).then(|| args.command.join(" ")),
        pty,
        env: locale_env(),
        compress_output: !args.no_compress,
        ..SessionSpec::default()
    };
    let channel = mux
        .open(OpenSpec::Session(spec))
        .await
        .map_err(|e| match e {
            MuxError::Rejected { reason, .. } => failed(reason),
            other => failed(other),
        })?;
    let (tx, mut rx) = channel.split();
    let raw = if tty { Some(RawMode::enable()?) } else { None };
    let stdin_task = tokio::spawn(pump_stdin(tx.clone(), tty));
    let mut winch = signal(SignalKind::window_change())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut stdout = crate::stdio::stdout();
    let mut stderr = tokio::io::stderr();
    let mut status = None;
    let mut error = None;
    let mut inflate = Decompressor::new().map_err(failed)?;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Event::Data(d)) => {
                    stdout.write_all(&d).await?;
                    stdout.flush().await?;
                }
                Some(Event::ZData(z)) => {
                    // Damaged compressed output ends the session: what follows would be wrong.
                    let d = inflate.decompress(&z).map_err(failed)?;
                    stdout.write_all(&d).await?;
                    stdout.flush().await?;
                }
                Some(Event::ExtData(d)) => {
                    stderr.write_all(&d).await?;
                    stderr.flush().await?;
                }
                Some(Event::Exit(s)) => status = Some(s),
                Some(Event::Error { reason, .. }) => error = Some(reason),
                Some(_) => {}
                None => break,
            },
            _ = winch.recv() => {
                if let Some((cols, rows)) = terminal::size() {
                    let _ = tx.resize(cols, rows);
                }
            }
            // Without a terminal, Ctrl-C is a signal to wicket: pass it on to the remote
            // command. With one, the byte reaches the remote terminal through stdin instead.
            _ = sigint.recv() => { let _ = tx.signal(Signal::Int); }
            _ = sigterm.recv() => {
                if tty { error = Some("terminated".into()); break; }
                let _ = tx.signal(Signal::Term);
            }
            _ = sighup.recv() => {
                if tty { error = Some("hung up".into()); break; }
                let _ = tx.signal(Signal::Hup);
            }
        }
    }
    stdin_task.abort();
    drop(raw);
    match (status, error) {
        (Some(s), _) => Ok(s.shell_code()),
        (None, Some(e)) => Err(failed(format!("session ended: {e}"))),
        (None, None) => Err(failed("session ended without an exit status")),
    }
}

/// Copies stdin to the channel; at end of input, half-closes it (without a terminal only: a
/// terminal has no end of input, its user types ^D).
async fn pump_stdin(tx: ChannelSender, tty: bool) {
    let mut stdin = crate::stdio::stdin();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        buf.reserve(64 * 1024);
        match stdin.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if tx.data(buf.split().freeze()).await.is_err() {
                    return;
                }
            }
        }
    }
    if !tty {
        let _ = tx.eof();
    }
}

/// The locale, so UTF-8 behaves on the remote side as it does here (ssh's `SendEnv LANG LC_*`).
fn locale_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k == "LANG" || k.starts_with("LC_"))
        .collect()
}
