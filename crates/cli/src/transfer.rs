//! The file IO of `wicket cp`, the same on both ends: [`send`] walks a file or tree and writes
//! the records of [`wicket_proto::copy`]; [`receive`] reads them and writes files through a
//! temporary file and `rename`. Blocking code: the CLI runs it on a blocking thread, and on the
//! target it runs in `wicket-agent`'s copy helper, a process with the run-as user's
//! credentials, so the kernel applies that user's permissions to every open.
//!
//! Every file is reached through [`dirfd`]: the path the requester named is looked up once,
//! following only symbolic links root or the copying user own, and everything below it from
//! open directory descriptors, never following a link. A root copy into a tree another user
//! can write therefore never reads, writes or changes the mode of anything else, however that
//! user rearranges the tree meanwhile. Modes and mtimes are set only on what the copy created.

mod dirfd;

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use aws_lc_rs::digest::{Context as Sha, SHA256};
use bytes::Bytes;
use rustix::fs::FileType;
use wicket_proto::copy::{encode, Decoder, EntryHeader, Item};

use dirfd::{DirFd, LastLink, Named};

/// Size of one read from a file.
pub const CHUNK: usize = 256 * 1024;
/// Prefix of the temporary files a receiver writes before renaming.
pub const TEMP_PREFIX: &str = ".wicket-cp.";

/// The temporary file being written now (its directory and name), so an interrupted
/// `wicket cp` can remove it: by name in that directory, wherever the directory is now.
static CURRENT_TEMP: std::sync::Mutex<Option<(DirFd, OsString)>> = std::sync::Mutex::new(None);

fn set_current_temp(t: Option<(DirFd, OsString)>) {
    *CURRENT_TEMP.lock().unwrap_or_else(|e| e.into_inner()) = t;
}

/// Removes the temporary file being written, if any (on interruption).
pub fn remove_current_temp() {
    if let Some((dir, name)) = CURRENT_TEMP
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        let _ = dir.remove_file(&name);
    }
}

/// What a side saw go through.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// SHA-256 of the last file, lowercase hex.
    pub last_sha256: Option<String>,
}

/// Told about progress (bytes of the current file) and warnings.
pub trait Progress {
    fn file(&mut self, _path: &str, _size: u64) {}
    fn bytes(&mut self, _n: u64) {}
    fn warn(&mut self, msg: &str);
    fn done(&mut self) {}
}

/// Warnings to stderr, no progress.
pub struct Quiet;

impl Progress for Quiet {
    fn warn(&mut self, msg: &str) {
        crate::stdio::err(format_args!("wicket cp: warning: {msg}\n"));
    }
}

fn header(meta: &fs::Metadata, path: String) -> EntryHeader {
    EntryHeader {
        path,
        mode: meta.mode() & 0o7777,
        mtime_secs: meta.mtime(),
        mtime_nanos: meta.mtime_nsec().clamp(0, 999_999_999) as u32,
    }
}

/// The name a path is sent under: its last component.
fn root_name(src: &Path) -> Result<String> {
    let name = src
        .file_name()
        .map(|n| n.to_owned())
        .or_else(|| {
            fs::canonicalize(src)
                .ok()?
                .file_name()
                .map(|n| n.to_owned())
        })
        .ok_or_else(|| anyhow!("{}: cannot copy a path without a name", src.display()))?;
    name.to_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{}: the name is not UTF-8", src.display()))
}

/// Writes `src` (a file, or with `recursive` a directory tree) as records, then `End`.
/// Symbolic links inside a tree, and special files, are skipped with a warning.
pub fn send(
    src: &Path,
    recursive: bool,
    out: &mut dyn Write,
    p: &mut dyn Progress,
) -> Result<Summary> {
    let cannot_read = || format!("cannot read {}", src.display());
    let named = dirfd::lookup(src, LastLink::Follow).with_context(cannot_read)?;
    let mut sum = Summary::default();
    let name = root_name(src)?;
    let dir = match named {
        Named::Dir(d) => Some(d),
        Named::Entry {
            parent,
            name: entry,
        } => {
            let f = parent.open_file(&entry).with_context(cannot_read)?;
            let meta = f.metadata().with_context(cannot_read)?;
            if meta.is_file() {
                send_file(f, &meta, src, name.clone(), out, p, &mut sum)?;
                None
            } else if meta.is_dir() {
                Some(parent.open_dir(&entry).with_context(cannot_read)?)
            } else {
                bail!("{} is not a regular file or directory", src.display());
            }
        }
    };
    if let Some(d) = dir {
        if !recursive {
            bail!("{} is a directory (use -r to copy it)", src.display());
        }
        send_dir(&d, src, name, out, p, &mut sum)?;
    }
    out.write_all(&encode(&Item::End))?;
    out.flush()?;
    p.done();
    Ok(sum)
}

fn send_dir(
    dir: &DirFd,
    shown: &Path,
    rel: String,
    out: &mut dyn Write,
    p: &mut dyn Progress,
    sum: &mut Summary,
) -> Result<()> {
    let meta = dir
        .metadata()
        .with_context(|| format!("cannot read {}", shown.display()))?;
    out.write_all(&encode(&Item::Dir(header(&meta, rel.clone()))))?;
    sum.dirs += 1;
    let mut names = dir
        .names()
        .with_context(|| format!("cannot list {}", shown.display()))?;
    names.sort();
    for n in names {
        let path = shown.join(&n);
        let Some(name) = n.to_str() else {
            p.warn(&format!("{}: name is not UTF-8, skipped", path.display()));
            continue;
        };
        let child = format!("{rel}/{name}");
        let skip_link =
            |p: &mut dyn Progress| p.warn(&format!("{}: symbolic link, skipped", path.display()));
        let kind = dir
            .entry_type(&n)
            .with_context(|| format!("cannot read {}", path.display()))?;
        match kind {
            None => bail!("{} went away while it was being copied", path.display()),
            Some(FileType::Symlink) => skip_link(p),
            // Opened without following a link: if the entry was swapped for one since it was
            // listed, it is skipped like any link.
            Some(FileType::Directory) => match dir.open_dir(&n) {
                Ok(d) => send_dir(&d, &path, child, out, p, sum)?,
                Err(e) if dirfd::is_link_or_not_dir(&e) => skip_link(p),
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            },
            Some(FileType::RegularFile) => match dir.open_file(&n) {
                Ok(f) => {
                    let meta = f
                        .metadata()
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    if meta.is_file() {
                        send_file(f, &meta, &path, child, out, p, sum)?;
                    } else {
                        p.warn(&format!("{}: not a regular file, skipped", path.display()));
                    }
                }
                Err(e) if dirfd::is_link_or_not_dir(&e) => skip_link(p),
                Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
            },
            Some(_) => p.warn(&format!("{}: not a regular file, skipped", path.display())),
        }
    }
    Ok(())
}

/// Sends the open file `f`; `meta` is from the open file, so it describes what is read.
fn send_file(
    mut f: File,
    meta: &fs::Metadata,
    path: &Path,
    rel: String,
    out: &mut dyn Write,
    p: &mut dyn Progress,
    sum: &mut Summary,
) -> Result<()> {
    let size = meta.len();
    p.file(&rel, size);
    out.write_all(&encode(&Item::File(header(meta, rel), size)))?;
    let mut sha = Sha::new(&SHA256);
    let mut buf = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let want = (left as usize).min(CHUNK);
        let n = f
            .read(&mut buf[..want])
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            bail!("{} shrank while it was being copied", path.display());
        }
        sha.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
        p.bytes(n as u64);
    }
    let digest: [u8; 32] = sha
        .finish()
        .as_ref()
        .try_into()
        .map_err(|_| anyhow!("SHA-256 is not 32 bytes"))?;
    out.write_all(&encode(&Item::Sum(digest)))?;
    sum.files += 1;
    sum.bytes += size;
    sum.last_sha256 = Some(hex::encode(digest));
    Ok(())
}

fn mtime(e: &EntryHeader) -> SystemTime {
    if e.mtime_secs >= 0 {
        UNIX_EPOCH + Duration::new(e.mtime_secs as u64, e.mtime_nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(e.mtime_secs.unsigned_abs())
    }
}

/// A file being received: removed on drop unless renamed into place.
struct Incoming {
    /// The directory it goes in.
    dir: DirFd,
    temp: OsString,
    name: OsString,
    /// Its local path, for messages.
    shown: PathBuf,
    file: Option<File>,
    header: EntryHeader,
    sha: Sha,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = self.dir.remove_file(&self.temp);
        }
        set_current_temp(None);
    }
}

impl Incoming {
    fn create(dir: DirFd, name: OsString, shown: PathBuf, header: EntryHeader) -> Result<Incoming> {
        if dir.entry_type(&name).ok().flatten() == Some(FileType::Directory) {
            bail!("{} is a directory", shown.display());
        }
        clean_stale(&dir, &name);
        let mut temp = OsString::from(TEMP_PREFIX);
        temp.push(&name);
        temp.push(format!(
            ".{}.{:08x}.tmp",
            std::process::id(),
            fastrand_u32()
        ));
        let in_dir = match shown.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let current = dir.try_clone().context("cannot open a directory")?;
        let file = dir
            .create_file(&temp)
            .with_context(|| format!("cannot write in {}", in_dir.display()))?;
        set_current_temp(Some((current, temp.clone())));
        Ok(Incoming {
            dir,
            temp,
            name,
            shown,
            file: Some(file),
            header,
            sha: Sha::new(&SHA256),
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.sha.update(data);
        if let Some(f) = self.file.as_mut() {
            f.write_all(data)
                .with_context(|| format!("cannot write {}", self.shown.display()))?;
        }
        Ok(())
    }

    fn finish(mut self, expected: [u8; 32]) -> Result<String> {
        let got = self.sha.clone().finish();
        if got.as_ref() != expected {
            bail!(
                "{}: checksum mismatch (sender SHA-256 {}, received {}); nothing written",
                self.shown.display(),
                hex::encode(expected),
                hex::encode(got.as_ref())
            );
        }
        let f = self
            .file
            .as_ref()
            .ok_or_else(|| anyhow!("file already closed"))?;
        let ctx = || format!("cannot finish {}", self.shown.display());
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(self.header.mode & 0o7777))
                .with_context(ctx)?;
        }
        f.set_times(fs::FileTimes::new().set_modified(mtime(&self.header)))
            .with_context(ctx)?;
        f.sync_all().with_context(ctx)?;
        self.dir
            .rename(&self.temp, &self.name)
            .with_context(|| format!("cannot write {}", self.shown.display()))?;
        self.file = None;
        Ok(hex::encode(expected))
    }
}

fn fastrand_u32() -> u32 {
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
    fn close(self) -> Result<()> {
        if self.created {
            self.dir
                .set_mode_and_mtime(self.header.mode & 0o7777, mtime(&self.header))
                .with_context(|| format!("cannot set the mode of {}", self.shown.display()))?;
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
    fn place(&mut self, rel: &str) -> Result<(DirFd, OsString, PathBuf)> {
        let Some((parent, name)) = rel.rsplit_once('/') else {
            if self.rooted {
                bail!("a second root {rel:?} in one copy");
            }
            self.rooted = true;
            // Into `dest` when it is an existing directory, else `dest` itself (like cp and
            // scp).
            let named = dirfd::lookup(self.dest, LastLink::IfDir)
                .with_context(|| format!("cannot write to {}", self.dest.display()))?;
            return Ok(match named {
                Named::Dir(d) => (d, rel.into(), self.dest.join(rel)),
                Named::Entry { parent, name } => (parent, name, self.dest.to_path_buf()),
            });
        };
        if !self.rooted {
            bail!("the copy stream names {rel:?} before its root");
        }
        while self.open.last().is_some_and(|d| d.rel != parent) {
            if let Some(d) = self.open.pop() {
                d.close()?;
            }
        }
        let Some(top) = self.open.last() else {
            bail!(
                "the copy stream names {rel:?} outside the directories being written (a tree \
                 must come depth first, each directory before what it holds)"
            );
        };
        let dir = top.dir.try_clone().context("cannot open a directory")?;
        Ok((dir, name.into(), top.shown.join(name)))
    }

    /// Enters the directory `e`: creates it, or opens the one there (never a link).
    fn enter(&mut self, e: EntryHeader) -> Result<()> {
        let (parent, name, shown) = self.place(&e.path)?;
        let (dir, created) = match parent.create_dir(&name) {
            Ok(d) => (d, true),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                match parent.open_dir(&name) {
                    Ok(d) => (d, false),
                    Err(err) if dirfd::is_link_or_not_dir(&err) => {
                        bail!("{} exists and is not a directory", shown.display())
                    }
                    Err(err) => {
                        return Err(err).with_context(|| format!("cannot open {}", shown.display()))
                    }
                }
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create {}", shown.display()))
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
    fn close(mut self) -> Result<()> {
        while let Some(d) = self.open.pop() {
            d.close()?;
        }
        Ok(())
    }
}

/// Reads records from `input` until `End` and writes them under `dest`. An error record from
/// the sender, a checksum mismatch or a cut stream fails the copy, and the file being written
/// is removed. Each directory the copy created gets its mode and time once its contents are
/// written; directories that were there already are left as they were.
pub fn receive(dest: &Path, input: &mut dyn Read, p: &mut dyn Progress) -> Result<Summary> {
    let mut dec = Decoder::new();
    let mut sum = Summary::default();
    let mut tree = Tree {
        dest,
        rooted: false,
        open: Vec::new(),
    };
    let mut current: Option<Incoming> = None;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let item = match dec.next_item()? {
            Some(i) => i,
            None => {
                let n = match input.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e).context("reading the copy stream"),
                };
                if n == 0 {
                    dec.finish()?;
                    bail!("the copy stream ended early (the sender stopped)");
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
                current = Some(Incoming::create(dir, name, shown, e)?);
            }
            Item::Data(d) => {
                let f = current
                    .as_mut()
                    .ok_or_else(|| anyhow!("content outside a file"))?;
                f.write(&d)?;
                p.bytes(d.len() as u64);
                sum.bytes += d.len() as u64;
            }
            Item::Sum(s) => {
                let f = current
                    .take()
                    .ok_or_else(|| anyhow!("checksum outside a file"))?;
                sum.last_sha256 = Some(f.finish(s)?);
                sum.files += 1;
            }
            Item::End => break,
            Item::Error(r) => bail!("{r}"),
            Item::Ok => bail!("unexpected status record in the copy stream"),
        }
    }
    tree.close()?;
    p.done();
    Ok(sum)
}

/// Sends the receiver's verdict: `Ok`, or the error.
pub fn status(result: &Result<Summary>) -> Bytes {
    match result {
        Ok(_) => encode(&Item::Ok),
        Err(e) => encode(&Item::Error(format!("{e:#}"))),
    }
}

/// The receiver went away without a verdict.
#[derive(Debug, thiserror::Error)]
#[error("the other side ended without confirming the copy")]
pub struct NoVerdict;

/// Reads the receiver's verdict (after the sender's `End`).
pub fn read_status(input: &mut dyn Read) -> Result<()> {
    let mut dec = Decoder::new();
    let mut buf = [0u8; 2048];
    loop {
        match dec.next_item()? {
            Some(Item::Ok) => return Ok(()),
            Some(Item::Error(r)) => bail!("{r}"),
            Some(_) => bail!("unexpected record where the copy's status was expected"),
            None => {}
        }
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Err(NoVerdict.into());
        }
        dec.feed(&buf[..n]);
    }
}

#[cfg(test)]
mod tests;
