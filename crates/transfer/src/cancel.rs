//! [`Cancel`]: stopping a [`crate::receive`] from another thread.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::dirfd::DirFd;

/// A handle on one receive, for whoever may have to stop it from outside: the CLI receives on a
/// blocking thread that cannot be interrupted, and on Ctrl-C it calls [`Cancel::cancel`] and
/// exits. Clones share the receive.
///
/// The receive registers each temporary file here as it creates it, under the same lock that
/// `cancel` takes, so once `cancel` returns the file being written is gone and no other can be
/// started: nothing is left behind, whatever the receiving thread was doing. The copy helper on
/// a target cancels the same way when it gets SIGINT (the user's Ctrl-C, passed on by the
/// agent); a file whose checksum arrives after the cancel is not renamed into place.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    /// Set once by [`Cancel::cancel`]; read for every chunk written, so without the lock.
    cancelled: AtomicBool,
    /// The temporary file being written now: its directory and its name there, so it is
    /// removed by name in that directory wherever the directory is now.
    partial: Mutex<Option<(DirFd, OsString)>>,
}

impl Cancel {
    /// A handle for a receive about to start; clone it for the side that may cancel.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Removes the temporary file being written, if any, and fails the receive at its next step.
    pub fn cancel(&self) {
        let mut partial = self.partial();
        self.0.cancelled.store(true, Ordering::SeqCst);
        if let Some((dir, name)) = partial.take() {
            let _ = dir.remove_file(&name);
        }
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    fn partial(&self) -> MutexGuard<'_, Option<(DirFd, OsString)>> {
        self.0.partial.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the temporary file `name` in `dir` and registers it, unless cancelled: `None`
    /// then, and nothing is created.
    pub(crate) fn create_partial(&self, dir: &DirFd, name: &OsStr) -> io::Result<Option<File>> {
        let mut partial = self.partial();
        if self.is_cancelled() {
            return Ok(None);
        }
        let registered = dir.try_clone()?;
        let file = dir.create_file(name)?;
        *partial = Some((registered, name.to_owned()));
        Ok(Some(file))
    }

    /// The temporary file is gone (renamed into place or removed): nothing to remove any more.
    pub(crate) fn clear_partial(&self) {
        self.partial().take();
    }
}
