//! `wicket connect TARGET [-- COMMAND...]`: a shell or a command on a target.

use std::collections::BTreeMap;

use anyhow::Result;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use wicket_mux::{ChannelSender, Event, Mux, MuxError};
use wicket_proto::zdata::Decompressor;
use wicket_proto::{ErrorCode, OpenSpec, PtySpec, SessionSpec, Signal};

use crate::args::ConnectArgs;
use crate::escape::{Command, Escapes, Step};
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
    // A terminal on the target: for a shell typed at a local terminal, or when `-t` asks,
    // from a terminal or not. Raw mode and the escape character need a local terminal too.
    let tty = !args.no_tty && (args.tty || (interactive && args.command.is_empty()));
    let local_tty = tty && interactive;
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
    // Someone waits on each keystroke's echo: a silent server is noticed within seconds.
    let _watch = tty.then(|| mux.watch_closely());
    let renewal = mux.controls().map(|controls| {
        tokio::spawn(crate::renewal::follow(
            mux.clone(),
            controls,
            profile_name.map(str::to_owned),
            profile.token.clone(),
            local_tty,
        ))
    });
    let mut raw = if local_tty {
        Some(RawMode::enable()?)
    } else {
        None
    };
    let escapes = args.escape.0.filter(|_| local_tty).map(Escapes::new);
    let help = escapes.as_ref().map(Escapes::help).unwrap_or_default();
    let (commands_tx, mut commands) = mpsc::channel(4);
    let stdin_task = tokio::spawn(pump_stdin(tx.clone(), !tty, escapes, commands_tx));
    let mut winch = signal(SignalKind::window_change())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut stdout = crate::stdio::stdout();
    let mut stderr = tokio::io::stderr();
    let mut status = None;
    let mut error = None;
    let mut disconnected = false;
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
                // A lost link is told in words, not in the transport's.
                Some(Event::Error { reason, .. }) => {
                    error = Some(match rx.link_closed() {
                        Some(why) => crate::link::describe(&why),
                        None => reason,
                    })
                }
                Some(_) => {}
                None => break,
            },
            Some(command) = commands.recv() => match command {
                Command::Disconnect => {
                    disconnected = true;
                    break;
                }
                Command::Help => err!("{help}"),
                Command::Suspend => {
                    raw = suspend(raw)?;
                    resize(&tx);
                }
            },
            _ = winch.recv() => resize(&tx),
            // Without a terminal, Ctrl-C is a signal to wicket: pass it on to the remote
            // command. With one, the byte reaches the remote terminal through stdin instead.
            _ = sigint.recv() => { let _ = tx.signal(Signal::Int); }
            _ = sigterm.recv() => {
                if local_tty { error = Some("terminated".into()); break; }
                let _ = tx.signal(Signal::Term);
            }
            _ = sighup.recv() => {
                if local_tty { error = Some("hung up".into()); break; }
                let _ = tx.signal(Signal::Hup);
            }
        }
    }
    stdin_task.abort();
    if let Some(r) = renewal {
        r.abort();
    }
    drop(raw);
    if local_tty && status.is_none() {
        // What ends the session goes on a line of its own, not after the remote prompt.
        err!("\r\n");
    }
    if disconnected {
        disconnect(&mux, &tx).await;
        return Err(failed(format!("disconnected from {}", args.target)));
    }
    match (status, error) {
        (Some(s), _) => Ok(s.shell_code()),
        (None, Some(e)) => Err(failed(format!("session ended: {e}"))),
        (None, None) => Err(failed("session ended without an exit status")),
    }
}

/// Copies stdin to the channel, through the escape character's state machine when there is
/// one (its commands go to `commands`; after `~.` nothing more is read). At end of input it
/// half-closes the channel if `half_close` (not with a terminal on the target: a terminal has
/// no end of input, its user types ^D).
async fn pump_stdin(
    tx: ChannelSender,
    half_close: bool,
    mut escapes: Option<Escapes>,
    commands: mpsc::Sender<Command>,
) {
    let mut stdin = crate::stdio::stdin();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        buf.reserve(64 * 1024);
        match stdin.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let read = buf.split().freeze();
                let Some(escapes) = escapes.as_mut() else {
                    if tx.data(read).await.is_err() {
                        return;
                    }
                    continue;
                };
                for step in escapes.steps(&read) {
                    let sent = match step {
                        Step::Pass(range) => tx.data(read.slice(range)).await,
                        Step::Byte(b) => tx.data(Bytes::copy_from_slice(&[b])).await,
                        Step::Command(c) => {
                            if commands.send(c).await.is_err() || c == Command::Disconnect {
                                return;
                            }
                            Ok(())
                        }
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            }
        }
    }
    if half_close {
        let _ = tx.eof();
    }
}

/// Tells the remote terminal the local one's size.
fn resize(tx: &ChannelSender) {
    if let Some((cols, rows)) = terminal::size() {
        let _ = tx.resize(cols, rows);
    }
}

/// `~^Z`: the terminal back to how the shell left it, wicket stopped as by ^Z; on `fg`, raw
/// mode again.
fn suspend(raw: Option<RawMode>) -> Result<Option<RawMode>> {
    let was_raw = raw.is_some();
    drop(raw);
    // SIGTSTP is left at its default action by wicket: this stops the process here.
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTSTP)?;
    Ok(if was_raw {
        Some(RawMode::enable()?)
    } else {
        None
    })
}

/// `~.`: closes the session and says goodbye to wicketd, so it records that the user
/// disconnected; bounded, as the far end may be the reason for leaving.
async fn disconnect(mux: &Mux, tx: &ChannelSender) {
    tx.close();
    let goodbye = mux.goodbye(ErrorCode::Shutdown, "the user disconnected");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), goodbye).await;
}

/// The locale, so UTF-8 behaves on the remote side as it does here (ssh's `SendEnv LANG LC_*`).
fn locale_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k == "LANG" || k.starts_with("LC_"))
        .collect()
}
