//! The file IO of `wicket cp`, the same on both ends: [`send`] walks a file or tree and writes
//! the records of [`wicket_proto::copy`]; [`receive`] reads them and writes files through a
//! temporary file and `rename`. Blocking code: the CLI runs it on a blocking thread, and on the
//! target it runs in `wicket-agent`'s copy helper, a process with the run-as user's
//! credentials, so the kernel applies that user's permissions to every open.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use aws_lc_rs::digest::{Context as Sha, SHA256};
use bytes::Bytes;
use wicket_proto::copy::{encode, Decoder, EntryHeader, Item};

/// Size of one read from a file.
pub const CHUNK: usize = 256 * 1024;
/// Prefix of the temporary files a receiver writes before renaming.
pub const TEMP_PREFIX: &str = ".wicket-cp.";

/// The temporary file being written now, so an interrupted `wicket cp` can remove it.
static CURRENT_TEMP: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

fn set_current_temp(p: Option<PathBuf>) {
    *CURRENT_TEMP.lock().unwrap_or_else(|e| e.into_inner()) = p;
}

/// Removes the temporary file being written, if any (on interruption).
pub fn remove_current_temp() {
    if let Some(p) = CURRENT_TEMP
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        let _ = fs::remove_file(p);
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
        eprintln!("wicket cp: warning: {msg}");
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
    let meta = fs::metadata(src).with_context(|| format!("cannot read {}", src.display()))?;
    let mut sum = Summary::default();
    let name = root_name(src)?;
    if meta.is_dir() {
        if !recursive {
            bail!("{} is a directory (use -r to copy it)", src.display());
        }
        send_dir(src, name, &meta, out, p, &mut sum)?;
    } else if meta.is_file() {
        send_file(src, name, &meta, out, p, &mut sum)?;
    } else {
        bail!("{} is not a regular file or directory", src.display());
    }
    out.write_all(&encode(&Item::End))?;
    out.flush()?;
    p.done();
    Ok(sum)
}

fn send_dir(
    dir: &Path,
    rel: String,
    meta: &fs::Metadata,
    out: &mut dyn Write,
    p: &mut dyn Progress,
    sum: &mut Summary,
) -> Result<()> {
    out.write_all(&encode(&Item::Dir(header(meta, rel.clone()))))?;
    sum.dirs += 1;
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            p.warn(&format!("{}: name is not UTF-8, skipped", path.display()));
            continue;
        };
        let child = format!("{rel}/{name}");
        let lmeta = fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let ft = lmeta.file_type();
        if ft.is_symlink() {
            p.warn(&format!("{}: symbolic link, skipped", path.display()));
        } else if ft.is_dir() {
            send_dir(&path, child, &lmeta, out, p, sum)?;
        } else if ft.is_file() {
            send_file(&path, child, &lmeta, out, p, sum)?;
        } else {
            p.warn(&format!("{}: not a regular file, skipped", path.display()));
        }
    }
    Ok(())
}

fn send_file(
    path: &Path,
    rel: String,
    meta: &fs::Metadata,
    out: &mut dyn Write,
    p: &mut dyn Progress,
    sum: &mut Summary,
) -> Result<()> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // Size and times from the open file, so they describe what is read.
    let meta = f.metadata().unwrap_or_else(|_| meta.clone());
    let size = meta.len();
    p.file(&rel, size);
    out.write_all(&encode(&Item::File(header(&meta, rel), size)))?;
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

/// Where the root of an incoming tree goes: into `dest` when it is an existing directory, else
/// `dest` itself (like cp and scp).
fn root_target(dest: &Path, root: &str) -> PathBuf {
    if dest.is_dir() {
        dest.join(root)
    } else {
        dest.to_path_buf()
    }
}

fn local_path(root: &Path, rel: &str) -> PathBuf {
    let mut parts = rel.split('/');
    parts.next();
    let mut p = root.to_path_buf();
    for c in parts {
        p.push(c);
    }
    p
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
    temp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
    header: EntryHeader,
    sha: Sha,
    left: u64,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.temp);
        }
        set_current_temp(None);
    }
}

impl Incoming {
    fn create(dest: PathBuf, header: EntryHeader, size: u64) -> Result<Incoming> {
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if dest.is_dir() {
            bail!("{} is a directory", dest.display());
        }
        clean_stale(&dir, &name);
        let temp = dir.join(format!(
            "{TEMP_PREFIX}{name}.{}.{:08x}.tmp",
            std::process::id(),
            fastrand_u32()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        set_current_temp(Some(temp.clone()));
        Ok(Incoming {
            temp,
            dest,
            file: Some(file),
            header,
            sha: Sha::new(&SHA256),
            left: size,
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.sha.update(data);
        self.left = self.left.saturating_sub(data.len() as u64);
        if let Some(f) = self.file.as_mut() {
            f.write_all(data)
                .with_context(|| format!("cannot write {}", self.temp.display()))?;
        }
        Ok(())
    }

    fn finish(mut self, expected: [u8; 32]) -> Result<String> {
        let got = self.sha.clone().finish();
        if got.as_ref() != expected {
            bail!(
                "{}: checksum mismatch (sender SHA-256 {}, received {}); nothing written",
                self.dest.display(),
                hex::encode(expected),
                hex::encode(got.as_ref())
            );
        }
        let f = self
            .file
            .as_ref()
            .ok_or_else(|| anyhow!("file already closed"))?;
        let ctx = || format!("cannot finish {}", self.dest.display());
        f.set_permissions(fs::Permissions::from_mode(self.header.mode & 0o7777))
            .with_context(ctx)?;
        f.set_times(FileTimes::new().set_modified(mtime(&self.header)))
            .with_context(ctx)?;
        f.sync_all().with_context(ctx)?;
        fs::rename(&self.temp, &self.dest)
            .with_context(|| format!("cannot write {}", self.dest.display()))?;
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
fn clean_stale(dir: &Path, name: &str) {
    let prefix = format!("{TEMP_PREFIX}{name}.");
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The local path of `rel`; the first record fixes where the root goes.
fn place(dest: &Path, root: &mut Option<PathBuf>, rel: &str, started: bool) -> Result<PathBuf> {
    let top = !rel.contains('/');
    let r = match root {
        Some(_) if top && started => bail!("a second root {rel:?} in one copy"),
        Some(r) => r.clone(),
        None if !top => bail!("the copy stream names {rel:?} before its root"),
        None => root.insert(root_target(dest, rel)).clone(),
    };
    Ok(local_path(&r, rel))
}

/// Reads records from `input` until `End` and writes them under `dest`. An error record from
/// the sender, a checksum mismatch or a cut stream fails the copy, and the file being written
/// is removed. Directory modes and times are applied last, deepest first.
pub fn receive(dest: &Path, input: &mut dyn Read, p: &mut dyn Progress) -> Result<Summary> {
    let mut dec = Decoder::new();
    let mut sum = Summary::default();
    let mut root: Option<PathBuf> = None;
    let mut current: Option<Incoming> = None;
    let mut dirs: Vec<(PathBuf, EntryHeader)> = Vec::new();
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
        let started = sum.files + sum.dirs > 0 || current.is_some();
        match item {
            Item::Dir(e) => {
                let path = place(dest, &mut root, &e.path, started)?;
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => bail!("{} exists and is not a directory", path.display()),
                    Err(_) => {
                        fs::DirBuilder::new()
                            .mode(0o700)
                            .create(&path)
                            .with_context(|| format!("cannot create {}", path.display()))?;
                    }
                }
                sum.dirs += 1;
                dirs.push((path, e));
            }
            Item::File(e, size) => {
                let path = place(dest, &mut root, &e.path, started)?;
                p.file(&e.path, size);
                current = Some(Incoming::create(path, e, size)?);
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
    for (path, e) in dirs.iter().rev() {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(e.mode & 0o7777));
        if let Ok(d) = File::open(path) {
            let _ = d.set_times(FileTimes::new().set_modified(mtime(e)));
        }
    }
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
mod tests {
    use super::*;

    #[test]
    fn tree_round_trip_preserves_modes_and_times() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let root = src.path().join("tree");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f.txt"), b"hello").unwrap();
        fs::write(root.join("x.sh"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("x.sh"), fs::Permissions::from_mode(0o751)).unwrap();
        fs::set_permissions(root.join("a"), fs::Permissions::from_mode(0o750)).unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        File::open(root.join("a/b/f.txt"))
            .unwrap()
            .set_times(FileTimes::new().set_modified(t))
            .unwrap();
        let mut stream = Vec::new();
        send(&root, true, &mut stream, &mut Quiet).unwrap();
        let s = receive(dst.path(), &mut &stream[..], &mut Quiet).unwrap();
        assert_eq!((s.files, s.dirs), (2, 3));
        let out = dst.path().join("tree");
        assert_eq!(fs::read(out.join("a/b/f.txt")).unwrap(), b"hello");
        let m = fs::metadata(out.join("x.sh")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o751);
        assert_eq!(fs::metadata(out.join("a")).unwrap().mode() & 0o7777, 0o750);
        assert_eq!(
            fs::metadata(out.join("a/b/f.txt"))
                .unwrap()
                .modified()
                .unwrap(),
            t
        );
    }

    #[test]
    fn checksum_mismatch_leaves_nothing() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        fs::write(src.path().join("f"), b"content").unwrap();
        let mut stream = Vec::new();
        send(&src.path().join("f"), false, &mut stream, &mut Quiet).unwrap();
        // Flip one content byte.
        let pos = stream.windows(7).position(|w| w == b"content").unwrap();
        stream[pos] ^= 1;
        let err = receive(&dst.path().join("g"), &mut &stream[..], &mut Quiet).unwrap_err();
        assert!(format!("{err:#}").contains("checksum mismatch"), "{err:#}");
        assert_eq!(fs::read_dir(dst.path()).unwrap().count(), 0);
        // A cut stream leaves nothing either.
        let err = receive(&dst.path().join("g"), &mut &stream[..pos + 3], &mut Quiet).unwrap_err();
        assert!(format!("{err:#}").contains("ended"), "{err:#}");
        assert_eq!(fs::read_dir(dst.path()).unwrap().count(), 0);
    }
}
