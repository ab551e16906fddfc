//! Driving a command through a real local PTY, as a person at a terminal would.

use std::time::Duration;

use anyhow::{bail, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A command running on a PTY we hold the master of.
pub struct Terminal {
    pty: pty_process::Pty,
    pub child: tokio::process::Child,
    /// Everything read so far.
    pub screen: Vec<u8>,
}

impl Terminal {
    pub fn spawn(cmd: pty_process::Command, cols: u16, rows: u16) -> Result<Terminal> {
        let (pty, pts) = pty_process::open()?;
        pty.resize(pty_process::Size::new(rows, cols))?;
        let child = cmd.spawn(pts)?;
        Ok(Terminal {
            pty,
            child,
            screen: Vec::new(),
        })
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.pty.write_all(bytes).await?;
        Ok(())
    }

    /// Reads until the screen (since `from`) contains `needle`; returns the offset after it.
    pub async fn expect_from(
        &mut self,
        from: usize,
        needle: &str,
        timeout: Duration,
    ) -> Result<usize> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(pos) = find(
                &self.screen[from.min(self.screen.len())..],
                needle.as_bytes(),
            ) {
                return Ok(from + pos + needle.len());
            }
            match tokio::time::timeout_at(deadline, self.pty.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => bail!(
                    "terminal closed before {needle:?}; screen:\n{}",
                    String::from_utf8_lossy(&self.screen)
                ),
                Ok(Ok(n)) => self.screen.extend_from_slice(&buf[..n]),
                Err(_) => bail!(
                    "timed out waiting for {needle:?}; screen:\n{}",
                    String::from_utf8_lossy(&self.screen)
                ),
            }
        }
    }

    pub async fn expect(&mut self, needle: &str, timeout: Duration) -> Result<usize> {
        self.expect_from(0, needle, timeout).await
    }

    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        self.pty.resize(pty_process::Size::new(rows, cols))?;
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
