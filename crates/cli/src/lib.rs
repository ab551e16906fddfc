//! The `wicket` command line as a library, so the binary stays a thin `main`.
//!
//! This is the user's edge of the system, so errors here are `anyhow` with context that reads
//! as advice ("run `wicket login`"), not as a stack of types.
//!
//! # Layout
//! - [`args`]: the clap definitions.
//! - [`profile`]: `~/.config/wicket/config.toml`: servers, pinned CAs, tokens.
//! - [`link`]: opening the user's link to wicketd and its handshake; a lost link in words.
//! - [`escape`]: the `~.` escape of an interactive session, a state machine without IO.
//! - [`renewal`]: a session's login notices, and its renewal with a newer token.
//! - [`stdio`]: stdin and stdout polled on the runtime, not through the blocking pool.
//! - [`terminal`]: raw mode that is always restored, terminal size, a quiet terminal for
//!   replays.
//! - [`queries`]: terminal queries taken out of replayed and watched output.
//! - [`complete`]: shell completion, target names included.
//! - [`commands`]: one module per command.

/// `println!` for command output, through [`stdio::out`]: a reader that has gone away
/// (`wicket sessions | head -1`) ends the process quietly instead of panicking.
macro_rules! outln {
    () => {
        $crate::stdio::out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdio::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`stdio::out`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdio::out(format_args!($($arg)*))
    };
}

/// `eprintln!` through [`stdio::err`], which escapes what could drive the terminal.
macro_rules! errln {
    () => {
        $crate::stdio::err(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdio::err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` through [`stdio::err`].
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::stdio::err(format_args!($($arg)*))
    };
}

pub mod args;
pub mod commands;
pub mod complete;
pub mod escape;
pub mod link;
pub mod profile;
pub mod queries;
pub mod renewal;
pub mod stdio;
pub mod terminal;

pub use args::Cli;

/// Runs the parsed command line and returns the process exit status.
pub async fn run(cli: Cli) -> i32 {
    match commands::dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            errln!("wicket: {e:#}");
            commands::error_exit_code(&e)
        }
    }
}
