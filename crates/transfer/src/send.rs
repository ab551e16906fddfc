//! [`send`]: a file, or a tree depth first, as copy records.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use aws_lc_rs::digest::{Context as Sha, SHA256};
use rustix::fs::FileType;
use wicket_proto::copy::{encode, EntryHeader, Item};

use crate::dirfd::{self, DirFd, LastLink, Named};
use crate::{Error, Progress, Summary, CHUNK};

/// Writes `src` (a file, or with `recursive` a directory tree) to `out` as records, then `End`.
/// Symbolic links inside a tree, and special files, are skipped with a warning; `src` itself is
/// read through a link only if root or this process's user owns it.
pub fn send(
    src: &Path,
    recursive: bool,
    out: &mut dyn Write,
    p: &mut dyn Progress,
) -> Result<Summary, Error> {
    let cannot_read = || Error::file(format!("cannot read {}", src.display()));
    let named = dirfd::lookup(src, LastLink::Follow).map_err(cannot_read())?;
    let mut sum = Summary::default();
    let name = root_name(src)?;
    let dir = match named {
        Named::Dir(d) => Some(d),
        Named::Entry {
            parent,
            name: entry,
        } => {
            let f = parent.open_file(&entry).map_err(cannot_read())?;
            let meta = f.metadata().map_err(cannot_read())?;
            if meta.is_file() {
                send_file(f, &meta, src, name.clone(), out, p, &mut sum)?;
                None
            } else if meta.is_dir() {
                Some(parent.open_dir(&entry).map_err(cannot_read())?)
            } else {
                return Err(Error::Unsupported(format!(
                    "{} is not a regular file or directory",
                    src.display()
                )));
            }
        }
    };
    if let Some(d) = dir {
        if !recursive {
            return Err(Error::Unsupported(format!(
                "{} is a directory (use -r to copy it)",
                src.display()
            )));
        }
        send_dir(&d, src, name, out, p, &mut sum)?;
    }
    write(out, &encode(&Item::End))?;
    out.flush().map_err(Error::Write)?;
    p.done();
    Ok(sum)
}

fn write(out: &mut dyn Write, bytes: &[u8]) -> Result<(), Error> {
    out.write_all(bytes).map_err(Error::Write)
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
fn root_name(src: &Path) -> Result<String, Error> {
    let name = src
        .file_name()
        .map(|n| n.to_owned())
        .or_else(|| {
            fs::canonicalize(src)
                .ok()?
                .file_name()
                .map(|n| n.to_owned())
        })
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "{}: cannot copy a path without a name",
                src.display()
            ))
        })?;
    name.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Unsupported(format!("{}: the name is not UTF-8", src.display())))
}

fn send_dir(
    dir: &DirFd,
    shown: &Path,
    rel: String,
    out: &mut dyn Write,
    p: &mut dyn Progress,
    sum: &mut Summary,
) -> Result<(), Error> {
    let meta = dir
        .metadata()
        .map_err(Error::file(format!("cannot read {}", shown.display())))?;
    write(out, &encode(&Item::Dir(header(&meta, rel.clone()))))?;
    sum.dirs += 1;
    let mut names = dir
        .names()
        .map_err(Error::file(format!("cannot list {}", shown.display())))?;
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
        let cannot = |doing: &str| Error::file(format!("{doing} {}", path.display()));
        let kind = dir.entry_type(&n).map_err(cannot("cannot read"))?;
        match kind {
            None => {
                return Err(Error::Changed(format!(
                    "{} went away while it was being copied",
                    path.display()
                )))
            }
            Some(FileType::Symlink) => skip_link(p),
            // Opened without following a link: if the entry was swapped for one since it was
            // listed, it is skipped like any link.
            Some(FileType::Directory) => match dir.open_dir(&n) {
                Ok(d) => send_dir(&d, &path, child, out, p, sum)?,
                Err(e) if dirfd::is_link_or_not_dir(&e) => skip_link(p),
                Err(e) => return Err(cannot("cannot read")(e)),
            },
            Some(FileType::RegularFile) => match dir.open_file(&n) {
                Ok(f) => {
                    let meta = f.metadata().map_err(cannot("cannot read"))?;
                    if meta.is_file() {
                        send_file(f, &meta, &path, child, out, p, sum)?;
                    } else {
                        p.warn(&format!("{}: not a regular file, skipped", path.display()));
                    }
                }
                Err(e) if dirfd::is_link_or_not_dir(&e) => skip_link(p),
                Err(e) => return Err(cannot("cannot open")(e)),
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
) -> Result<(), Error> {
    let size = meta.len();
    p.file(&rel, size);
    write(out, &encode(&Item::File(header(meta, rel), size)))?;
    let mut sha = Sha::new(&SHA256);
    let mut buf = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let want = (left as usize).min(CHUNK);
        let n = f
            .read(&mut buf[..want])
            .map_err(Error::file(format!("cannot read {}", path.display())))?;
        if n == 0 {
            return Err(Error::Changed(format!(
                "{} shrank while it was being copied",
                path.display()
            )));
        }
        sha.update(&buf[..n]);
        write(out, &buf[..n])?;
        left -= n as u64;
        p.bytes(n as u64);
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(sha.finish().as_ref());
    write(out, &encode(&Item::Sum(digest)))?;
    sum.files += 1;
    sum.bytes += size;
    sum.last_sha256 = Some(hex::encode(digest));
    Ok(())
}
