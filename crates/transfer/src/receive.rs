//! [`receive`]: copy records to files, each through a temporary file and a rename.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{Context as Sha, SHA256};
use rustix::fs::FileType;
use wicket_proto::copy::{CopyError, Decoder, EntryHeader, Item};

use crate::dirfd::{self, DirFd, LastLink, Named};
use crate::{Cancel, Error, Progress, Summary, CHUNK, TEMP_PREFIX};

/// Reads records from `input` until `End` and writes them under `dest`: into `dest` when it is
/// an existing directory, else as `dest` itself (like `cp` and `scp`). An error record from the
/// sender, a checksum mismatch, a cut stream or `cancel` fails the copy, and the file being
/// written is removed. Each directory the copy created gets its mode and time once its contents
/// are written; directories that were there already are left as they were.
///
/// Once `cancel` was called, any failure is [`Error::Cancelled`]. A copy of one file is complete
/// once that file is in place: a stream cut (or a cancel) after it, where only `End` was still
/// to come, is a success, so that what the receiver reports is what it left behind.
pub fn receive(
    dest: &Path,
    input: &mut dyn Read,
    p: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<Summary, Error> {
    let mut sum = Summary::default();
    let mut one_file_placed = false;
    match receive_into(dest, input, p, cancel, &mut sum, &mut one_file_placed) {
        Err(Error::Truncated | Error::Decode(CopyError::Truncated) | Error::Cancelled)
            if one_file_placed =>
        {
            p.done();
            Ok(sum)
        }
        Err(_) if cancel.is_cancelled() => Err(Error::Cancelled),
        r => r.map(|()| sum),
    }
}

/// [`receive`], counting into `sum`; `one_file_placed` tells when the root of the copy was a
/// file and is in place.
fn receive_into(
    dest: &Path,
    input: &mut dyn Read,
    p: &mut dyn Progress,
    cancel: &Cancel,
    sum: &mut Summary,
    one_file_placed: &mut bool,
) -> Result<(), Error> {
    let mut dec = Decoder::new();
    let mut tree = Tree {
        dest,
        rooted: false,
        open: Vec::new(),
    };
    let mut current: Option<Incoming<'_>> = None;
    // The file being received is the root of the copy (a copy of one file).
    let mut root_file = false;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let item = match dec.next_item()? {
            Some(i) => i,
            None => {
                let n = match input.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::Read(e)),
                };
                if n == 0 {
                    dec.finish()?;
                    return Err(Error::Truncated);
                }
                dec.feed(&buf[..n]);
                continue;
            }
        };
        match item {
            Item::Dir(e) => {
                tree.enter(e)?;
                sum.dirs += 1;
            }
            Item::File(e, size) => {
                let (dir, name, shown) = tree.place(&e.path)?;
                p.file(&e.path, size);
                root_file = !e.path.contains('/');
                current = Some(Incoming::create(dir, name, shown, e, cancel)?);
            }
            Item::Data(d) => {
                let f = current
                    .as_mut()
                    .ok_or_else(|| Error::Malformed("content outside a file".into()))?;
                f.write(&d)?;
                p.bytes(d.len() as u64);
                sum.bytes += d.len() as u64;
            }
            Item::Sum(s) => {
                let f = current
                    .take()
                    .ok_or_else(|| Error::Malformed("checksum outside a file".into()))?;
                sum.last_sha256 = Some(f.finish(s)?);
                sum.files += 1;
                *one_file_placed = root_file;
            }
            Item::End => break,
            Item::Error(r) => return Err(Error::Remote(r)),
            Item::Ok => {
                return Err(Error::Malformed(
                    "unexpected status record in the copy stream".into(),
                ))
            }
        }
    }
    tree.close()?;
    p.done();
    Ok(())
}

fn mtime(e: &EntryHeader) -> SystemTime {
    if e.mtime_secs >= 0 {
        UNIX_EPOCH + Duration::new(e.mtime_secs as u64, e.mtime_nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(e.mtime_secs.unsigned_abs())
    }
}

/// A file being received, under its temporary name: removed on drop unless renamed into place.
struct Incoming<'a> {
    /// The directory it goes in.
    dir: DirFd,
    temp: OsString,
    name: OsString,
    /// Its local path, for messages.
    shown: PathBuf,
    file: File,
    /// Whether it has been renamed to `name`.
    placed: bool,
    header: EntryHeader,
    sha: Sha,
    /// Where the temporary file is registered, so another thread can remove it.
    cancel: &'a Cancel,
}

impl Drop for Incoming<'_> {
    fn drop(&mut self) {
        if !self.placed {
            let _ = self.dir.remove_file(&self.temp);
        }
        self.cancel.clear_partial();
    }
}

impl<'a> Incoming<'a> {
    fn create(
        dir: DirFd,
        name: OsString,
        shown: PathBuf,
        header: EntryHeader,
        cancel: &'a Cancel,
    ) -> Result<Incoming<'a>, Error> {
        if dir.entry_type(&name).ok().flatten() == Some(FileType::Directory) {
            return Err(Error::Unsupported(format!(
                "{} is a directory",
                shown.display()
            )));
        }
        clean_stale(&dir, &name);
        let mut temp = OsString::from(TEMP_PREFIX);
        temp.push(&name);
        temp.push(format!(".{}.{:08x}.tmp", std::process::id(), random_u32()));
        let in_dir = match shown.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file = cancel
            .create_partial(&dir, &temp)
            .map_err(Error::file(format!("cannot write in {}", in_dir.display())))?
            .ok_or(Error::Cancelled)?;
        Ok(Incoming {
            dir,
            temp,
            name,
            shown,
            file,
            placed: false,
            header,
            sha: Sha::new(&SHA256),
            cancel,
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        self.sha.update(data);
        self.file.write_all(data).map_err(Error::file(format!(
            "cannot write {}",
            self.shown.display()
        )))
    }

    /// Checks the content against `expected`, sets the sender's mode and mtime, and renames
    /// the file into place. Returns the SHA-256 in hex.
    fn finish(mut self, expected: [u8; 32]) -> Result<String, Error> {
        // Cancelled (and so removed) meanwhile: not renamed into place.
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let got = self.sha.clone().finish();
        if got.as_ref() != expected {
            return Err(Error::Checksum {
                path: self.shown.clone(),
                expected: hex::encode(expected),
                got: hex::encode(got.as_ref()),
            });
        }
        let cannot_finish = || Error::file(format!("cannot finish {}", self.shown.display()));
        {
            use std::os::unix::fs::PermissionsExt;
            self.file
                .set_permissions(fs::Permissions::from_mode(self.header.mode & 0o7777))
                .map_err(cannot_finish())?;
        }
        self.file
            .set_times(fs::FileTimes::new().set_modified(mtime(&self.header)))
            .map_err(cannot_finish())?;
        self.file.sync_all().map_err(cannot_finish())?;
        self.dir
            .rename(&self.temp, &self.name)
            .map_err(Error::file(format!(
                "cannot write {}",
                self.shown.display()
            )))?;
        self.placed = true;
        Ok(hex::encode(expected))
    }
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut b);
    u32::from_ne_bytes(b)
}

/// Removes temporary files an interrupted copy of `name` left in `dir`.
fn clean_stale(dir: &DirFd, name: &OsStr) {
    let mut prefix = TEMP_PREFIX.as_bytes().to_vec();
    prefix.extend_from_slice(name.as_bytes());
    prefix.push(b'.');
    let Ok(names) = dir.names() else { return };
    for n in names {
        let b = n.as_bytes();
        if b.starts_with(&prefix) && b.ends_with(b".tmp") {
            let _ = dir.remove_file(&n);
        }
    }
}

/// A directory of the tree being received, open while its entries arrive.
struct OpenDir {
    /// Its path in the copy stream.
    rel: String,
    dir: DirFd,
    /// Its local path, for messages.
    shown: PathBuf,
    header: EntryHeader,
    /// Whether this copy created it: only then are its mode and mtime the sender's.
    created: bool,
}

impl OpenDir {
    /// Done with: a directory the copy created gets the sender's mode and mtime, now that
    /// nothing more is written in it (a read-only mode would have refused its contents).
    fn close(self) -> Result<(), Error> {
        if self.created {
            self.dir
                .set_mode_and_mtime(self.header.mode & 0o7777, mtime(&self.header))
                .map_err(Error::file(format!(
                    "cannot set the mode of {}",
                    self.shown.display()
                )))?;
        }
        Ok(())
    }
}

/// Where the entries of an incoming copy go. The stream is depth first (a directory, then
/// everything in it), so the directories open at any moment are the path from the root down.
struct Tree<'a> {
    dest: &'a Path,
    /// Whether the first record, which fixes where the root goes, has been placed.
    rooted: bool,
    open: Vec<OpenDir>,
}

impl Tree<'_> {
    /// The directory the entry `rel` goes in, its name there and its local path. Open
    /// directories the stream has moved past are closed.
    fn place(&mut self, rel: &str) -> Result<(DirFd, OsString, PathBuf), Error> {
        let Some((parent, name)) = rel.rsplit_once('/') else {
            if self.rooted {
                return Err(Error::Malformed(format!(
                    "a second root {rel:?} in one copy"
                )));
            }
            self.rooted = true;
            // Into `dest` when it is an existing directory, else `dest` itself (like cp and
            // scp).
            let named = dirfd::lookup(self.dest, LastLink::IfDir).map_err(Error::file(format!(
                "cannot write to {}",
                self.dest.display()
            )))?;
            return Ok(match named {
                Named::Dir(d) => (d, rel.into(), self.dest.join(rel)),
                Named::Entry { parent, name } => (parent, name, self.dest.to_path_buf()),
            });
        };
        if !self.rooted {
            return Err(Error::Malformed(format!(
                "the copy stream names {rel:?} before its root"
            )));
        }
        while self.open.last().is_some_and(|d| d.rel != parent) {
            if let Some(d) = self.open.pop() {
                d.close()?;
            }
        }
        let Some(top) = self.open.last() else {
            return Err(Error::Malformed(format!(
                "the copy stream names {rel:?} outside the directories being written (a tree \
                 must come depth first, each directory before what it holds)"
            )));
        };
        let dir = top
            .dir
            .try_clone()
            .map_err(Error::file("cannot open a directory"))?;
        Ok((dir, name.into(), top.shown.join(name)))
    }

    /// Enters the directory `e`: creates it, or opens the one there (never a link).
    fn enter(&mut self, e: EntryHeader) -> Result<(), Error> {
        let (parent, name, shown) = self.place(&e.path)?;
        let (dir, created) = match parent.create_dir(&name) {
            Ok(d) => (d, true),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                match parent.open_dir(&name) {
                    Ok(d) => (d, false),
                    Err(err) if dirfd::is_link_or_not_dir(&err) => {
                        return Err(Error::Unsupported(format!(
                            "{} exists and is not a directory",
                            shown.display()
                        )))
                    }
                    Err(err) => {
                        return Err(Error::file(format!("cannot open {}", shown.display()))(err))
                    }
                }
            }
            Err(err) => {
                return Err(Error::file(format!("cannot create {}", shown.display()))(
                    err,
                ))
            }
        };
        self.open.push(OpenDir {
            rel: e.path.clone(),
            dir,
            shown,
            header: e,
            created,
        });
        Ok(())
    }

    /// The end of the copy: the remaining directories are done with, deepest first.
    fn close(mut self) -> Result<(), Error> {
        while let Some(d) = self.open.pop() {
            d.close()?;
        }
        Ok(())
    }
}
