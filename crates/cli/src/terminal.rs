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
