//! The reader on a real terminal in canonical mode, which hands over one line per read.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use tokio::io::AsyncReadExt;
use wicket_fd::Reader;

/// A fresh pseudo-terminal: (master, slave, the slave non-blocking). A new terminal is in
/// canonical mode with echo on.
fn terminal() -> (OwnedFd, OwnedFd) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let flags = fcntl(pty.slave.as_raw_fd(), FcntlArg::F_GETFL).expect("F_GETFL");
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(pty.slave.as_raw_fd(), FcntlArg::F_SETFL(flags)).expect("F_SETFL");
    (pty.master, pty.slave)
}

/// Three lines pasted at once arrive without waiting for a fourth keystroke: in canonical
/// mode a read returns one line, so a short read must not be taken for "drained".
#[tokio::test]
async fn a_pasted_block_of_lines_arrives_whole_from_a_cooked_terminal() {
    let (master, slave) = terminal();
    let mut input = Reader::new_lines(slave).expect("registering the terminal");
    nix::unistd::write(&master, b"one\ntwo\nthree\n").expect("typing");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 14 {
        let n = tokio::time::timeout(Duration::from_secs(5), input.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("stuck after {:?}", String::from_utf8_lossy(&got)))
            .expect("reading the terminal");
        assert!(n > 0, "the terminal ended");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"one\ntwo\nthree\n");
}
