//! The local terminal during an interactive session.

use std::io::IsTerminal;

/// Raw mode for as long as it lives; dropping it restores the terminal on every exit path,
/// including errors and panics (which unwind through it).
pub struct RawMode {
    _private: (),
}

impl RawMode {
    pub fn enable() -> std::io::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode { _private: () })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// `(cols, rows)` of the terminal on stdout, if there is one.
pub fn size() -> Option<(u16, u16)> {
    crossterm::terminal::size()
        .ok()
        .filter(|(c, r)| *c > 0 && *r > 0)
}

/// Whether both stdin and stdout are terminals (the condition for an interactive session).
pub fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The local terminal while a replay plays on it: no echo and no line editing, so what the
/// terminal types back while output plays (the answer to a query that [`crate::queries`]
/// does not know, a key pressed) is not shown; signals stay on, so Ctrl-C still stops it.
/// Dropping it waits [`Quiet::SETTLE`] for late answers, discards whatever input is pending,
/// and restores the terminal: nothing typed during the replay reaches the shell after it.
pub struct Quiet {
    saved: nix::sys::termios::Termios,
}

impl Quiet {
    /// How long a terminal is given to answer the last query before input is discarded.
    pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

    /// Quiets stdin when stdin and stdout are both terminals (a replay in front of a person);
    /// otherwise there is nothing to quiet.
    pub fn enable() -> Option<Quiet> {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        if !is_interactive() {
            return None;
        }
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(
            LocalFlags::ECHO | LocalFlags::ECHONL | LocalFlags::ICANON | LocalFlags::IEXTEN,
        );
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(Quiet { saved })
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        use nix::sys::termios::{tcflush, tcsetattr, FlushArg, SetArg};
        let stdin = std::io::stdin();
        std::thread::sleep(Self::SETTLE);
        let _ = tcflush(&stdin, FlushArg::TCIFLUSH);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &self.saved);
    }
}
