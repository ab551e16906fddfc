//! The file side of `wicket cp`, the same on both ends: [`send`] walks a file or a tree and
//! writes the records of [`wicket_proto::copy`]; [`receive`] reads them and writes the files.
//! On the laptop the CLI runs one half on a blocking thread joined to its `copy` channel; on the
//! target the other half runs in the agent's copy helper (`wicket_agent::copy_helper`), a
//! process with the run-as user's credentials, so the kernel applies that user's permissions to
//! every open. Blocking code over any [`Read`](std::io::Read) and [`Write`](std::io::Write). The
//! record format and its decoder of network input are `wicket_proto::copy` (pure, fuzzed, and
//! also read by the server for its audit event); this crate is what does file IO with them.
//!
//! **Architecture Invariant:** no symbolic link another user controls is ever followed. The path
//! the requester named is looked up once, following only links that root or the copying user
//! own; everything below it is reached from open directory descriptors one entry at a time,
//! never following a link (`dirfd`, on rustix). A root copy into a tree another user can write
//! therefore never reads, writes or changes the mode of anything else, however that user
//! rearranges the tree meanwhile. Modes and mtimes are set on descriptors, and only on what the
//! copy created.
//!
//! **Architecture Invariant:** a partial file never has the real name, and every file is
//! verified. A file is written as `.wicket-cp.NAME.PID.RANDOM.tmp` ([`TEMP_PREFIX`]) beside its
//! destination and renamed into place only once its SHA-256 matches the one the sender computed
//! while reading. A failed or cut receive removes its temporary file, a [`Cancel`] removes it
//! from another thread (the CLI on Ctrl-C), and the next copy of the same name removes one that
//! a `SIGKILL` left.
//!
//! # Layout
//! - `send`: [`send`], a file or a depth-first tree as records, hashing as it reads.
//! - `receive`: [`receive`], records to files through temporary files, directories kept open
//!   from the root down as a stack of descriptors.
//! - `cancel`: [`Cancel`], stopping a receive from another thread.
//! - `status`: the receiver's verdict, [`status()`] and [`read_status`].
//! - `dirfd`: the no-follow file operations; the only way this crate reaches a file.
//! - `error`: [`Error`], and [`report`] to show one with its causes.
#![forbid(unsafe_code)]

mod cancel;
mod dirfd;
mod error;
mod receive;
mod send;
mod status;

pub use cancel::Cancel;
pub use error::{report, Error};
pub use receive::receive;
pub use send::send;
pub use status::{read_status, status};

/// Size of one read from a file, and a good size for the writes of the copy stream.
pub const CHUNK: usize = 256 * 1024;
/// Prefix of the temporary files a receiver writes before renaming.
pub const TEMP_PREFIX: &str = ".wicket-cp.";
/// How a warning (a skipped link) starts on the copy helper's stderr, so the CLI can tell a
/// warning it shows at once from the reason of a failure.
pub const WARNING_PREFIX: &str = "wicket cp: warning: ";

/// What a side saw go through.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Files sent, or received and renamed into place.
    pub files: u64,
    /// Directories, the root of a tree included.
    pub dirs: u64,
    /// Bytes of file content.
    pub bytes: u64,
    /// SHA-256 of the last file, lowercase hex.
    pub last_sha256: Option<String>,
}

/// Told about progress (bytes of the current file) and warnings.
pub trait Progress {
    /// A file of `size` bytes starts.
    fn file(&mut self, _path: &str, _size: u64) {}
    /// `n` more bytes of the current file went through.
    fn bytes(&mut self, _n: u64) {}
    /// Something was skipped (a link, a special file, a name that is not UTF-8).
    fn warn(&mut self, msg: &str);
    /// The copy is complete.
    fn done(&mut self) {}
}

#[cfg(test)]
mod tests;
