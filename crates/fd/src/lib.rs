//! Terminals, pipes and PTY masters driven on tokio's reactor with as few system calls and
//! wake-ups as each keystroke can have: the CLI's own stdin and stdout, and the agent's PTY
//! master, are the two ends of every interactive session (docs/PERFORMANCE.md, "Tried and kept").
//!
//! tokio's own types either hand each read and write to the blocking pool (`tokio::io::
//! stdin`) or register a descriptor for reading and writing for good (`AsyncFd` as most
//! wrappers use it). Registered for writability, a terminal wakes its process after every
//! write it drains, for nothing; so here:
//! - [`Reader`] is registered for readability only, reads into uninitialised memory, and
//!   takes a short read as "drained" instead of reading again to hear `EAGAIN`;
//! - [`Writer`] writes straight to the descriptor and registers a duplicate for writability
//!   only while writes block (a full pipe, a paste larger than the terminal's buffer), and a
//!   second after.
//!
//! Both expect a non-blocking descriptor of a terminal, a pipe or a PTY master: something
//! that returns all it holds on a read, except a terminal in canonical mode, which returns a
//! line per read ([`Reader::new_lines`] is for that one). A terminal that has hung up (every
//! process on a PTY gone) reads as end of input and writes as a broken pipe.

mod reader;
mod writer;

pub use reader::Reader;
pub use writer::Writer;

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Registers `fd` with the reactor for `interest` alone.
#[allow(unsafe_code)]
fn register<T: AsFd + AsRawFd>(fd: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: `AsFd` (unlike a bare `RawFd`) means `fd` owns or borrows an open descriptor
    // for as long as it lives: a `File`, an `OwnedFd`, an `Arc` of one, or a `BorrowedFd`
    // whose lifetime bounds the registration's. The `AsyncFd` holds `fd` for the whole life of
    // the registration, so the descriptor stays open and names the same description until the
    // registration is dropped.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}
