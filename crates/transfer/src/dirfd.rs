//! The one way this crate touches files. On a target the copy helper may run as root in a tree
//! another user can write, and that user can swap any entry for a symbolic link at any moment;
//! a path looked up twice may lead somewhere else the second time. So a path is looked up once,
//! and everything below it is reached from an open directory descriptor, one entry at a time,
//! never following a link (`openat` with `O_NOFOLLOW`, `mkdirat`, `renameat`, `unlinkat`); modes
//! and times are set on open descriptors (`fchmod`, `futimens`).
//!
//! The path the requester named is the exception: its symbolic links are followed, but only
//! those owned by root or by the user the copy runs as, who are the only ones who could have
//! planted them (the kernel's `protected_symlinks` rule, for the same reason).
//!
//! Linux only: links are read through `O_PATH` descriptors, so the link whose owner was checked
//! is the one that is read.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

/// Symbolic links followed in one named path at most (the kernel's limit).
const MAX_LINKS: u32 = 40;

/// A symbolic link in a named path that someone other than root or the copying user owns.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}: a symbolic link owned by uid {owner}; wicket cp follows only links owned by root or \
     by the user it runs as",
    path.display()
)]
pub struct UntrustedLink {
    pub path: PathBuf,
    pub owner: u32,
}

/// An open directory: the base of every operation on its entries. The descriptor is `O_PATH`
/// (search is enough to work in a directory) unless this copy created the directory, when it
/// is opened for reading so its mode and times can be set.
#[derive(Debug)]
pub struct DirFd(File);

/// What a named path leads to.
pub enum Named {
    /// An existing directory.
    Dir(DirFd),
    /// The entry `name` in `parent`, which may not exist yet and is not a directory.
    Entry { parent: DirFd, name: OsString },
}

/// How the last component of a named path is taken when it is a (trusted) symbolic link.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LastLink {
    /// Followed to whatever it points to: a source is read through it.
    Follow,
    /// Followed only if it leads to a directory (a copy goes into it); otherwise the link is
    /// the entry, and a file written there replaces the link, as `rename` does.
    IfDir,
}

/// What one entry of a directory is, looked at without following it.
enum Probe {
    Dir(DirFd),
    Link { owner: u32, target: PathBuf },
    Other,
}

fn errno(e: Errno) -> io::Error {
    e.into()
}

/// Whether `e` says the entry was a link or not a directory where one was expected.
pub fn is_link_or_not_dir(e: &io::Error) -> bool {
    matches!(Errno::from_io_error(e), Some(Errno::NOTDIR | Errno::LOOP))
}

/// Whether `e` is an [`UntrustedLink`].
pub fn is_untrusted(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<UntrustedLink>())
}

/// Looks `path` up once, following only trusted symbolic links (see the module's doc).
pub fn lookup(path: &Path, last: LastLink) -> io::Result<Named> {
    let mut links = 0;
    let start = if path.is_absolute() {
        DirFd::root()?
    } else {
        DirFd::cwd()?
    };
    let shown = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    walk(start, shown, path, &mut links, last)
}

/// The components to walk: `..` kept, `.` and the root dropped (the caller starts at `/`).
fn parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn walk(
    mut cur: DirFd,
    mut shown: PathBuf,
    path: &Path,
    links: &mut u32,
    last: LastLink,
) -> io::Result<Named> {
    let mut todo = parts(path);
    while let Some(c) = todo.pop_front() {
        let is_last = todo.is_empty();
        if c == ".." {
            cur = cur.open_dir(OsStr::new(".."))?;
            shown.push("..");
            continue;
        }
        let probe = match cur.probe(&c) {
            Ok(p) => p,
            Err(e) if Errno::from_io_error(&e) == Some(Errno::NOENT) && is_last => {
                return Ok(Named::Entry {
                    parent: cur,
                    name: c,
                })
            }
            Err(e) => return Err(e),
        };
        match probe {
            Probe::Dir(d) => {
                cur = d;
                shown.push(&c);
            }
            Probe::Other if is_last => {
                return Ok(Named::Entry {
                    parent: cur,
                    name: c,
                })
            }
            Probe::Other => return Err(errno(Errno::NOTDIR)),
            Probe::Link { owner, target } => {
                if owner != 0 && owner != rustix::process::geteuid().as_raw() {
                    return Err(io::Error::other(UntrustedLink {
                        path: shown.join(&c),
                        owner,
                    }));
                }
                *links += 1;
                if *links > MAX_LINKS {
                    return Err(errno(Errno::LOOP));
                }
                if is_last && last == LastLink::IfDir {
                    let (start, from) = if target.is_absolute() {
                        (DirFd::root()?, PathBuf::from("/"))
                    } else {
                        (cur.try_clone()?, shown.clone())
                    };
                    return match walk(start, from, &target, links, LastLink::Follow) {
                        Ok(Named::Dir(d)) => Ok(Named::Dir(d)),
                        Err(e) if is_untrusted(&e) => Err(e),
                        // A dangling link, or one to a file: the link itself is the entry.
                        _ => Ok(Named::Entry {
                            parent: cur,
                            name: c,
                        }),
                    };
                }
                if target.is_absolute() {
                    cur = DirFd::root()?;
                    shown = PathBuf::from("/");
                }
                for p in parts(&target).into_iter().rev() {
                    todo.push_front(p);
                }
            }
        }
    }
    Ok(Named::Dir(cur))
}

impl DirFd {
    fn open_at(dir: impl AsFd, name: &OsStr, flags: OFlags) -> io::Result<DirFd> {
        let fd = rfs::openat(
            dir,
            name,
            flags | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(DirFd(File::from(fd)))
    }

    fn root() -> io::Result<DirFd> {
        Self::open_at(CWD, OsStr::new("/"), OFlags::PATH)
    }

    fn cwd() -> io::Result<DirFd> {
        Self::open_at(CWD, OsStr::new("."), OFlags::PATH)
    }

    /// A second descriptor of the same directory.
    pub fn try_clone(&self) -> io::Result<DirFd> {
        self.0.try_clone().map(DirFd)
    }

    /// The directory's own metadata.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.0.metadata()
    }

    fn probe(&self, name: &OsStr) -> io::Result<Probe> {
        let fd: OwnedFd = rfs::openat(
            &self.0,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rfs::fstat(&fd)?;
        Ok(match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Probe::Dir(DirFd(File::from(fd))),
            FileType::Symlink => {
                // An empty path reads the link this descriptor holds: the one just checked.
                let target = rfs::readlinkat(&fd, "", Vec::new())?;
                if target.as_bytes().is_empty() {
                    return Err(errno(Errno::NOENT));
                }
                Probe::Link {
                    owner: st.st_uid,
                    target: PathBuf::from(OsString::from_vec(target.into_bytes())),
                }
            }
            _ => Probe::Other,
        })
    }

    /// The directory `name`, which must be one: a symbolic link, or anything else, is an error
    /// that [`is_link_or_not_dir`] recognises.
    pub fn open_dir(&self, name: &OsStr) -> io::Result<DirFd> {
        Self::open_at(&self.0, name, OFlags::PATH)
    }

    /// Creates the directory `name` (mode 0700 until [`DirFd::set_mode_and_mtime`]) and opens
    /// it. An existing entry of that name is an `AlreadyExists` error. Between the two calls a
    /// user who can write here can only put a directory of their own in its place (a link is
    /// refused), and changing the mode of that harms nobody else.
    pub fn create_dir(&self, name: &OsStr) -> io::Result<DirFd> {
        rfs::mkdirat(&self.0, name, Mode::from_raw_mode(0o700))?;
        Self::open_at(&self.0, name, OFlags::RDONLY)
    }

    /// Sets the mode and the modification time (the access time is left alone). Only for a
    /// directory from [`DirFd::create_dir`]: an `O_PATH` descriptor refuses both.
    pub fn set_mode_and_mtime(&self, mode: u32, mtime: std::time::SystemTime) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        self.0
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        self.0
            .set_times(std::fs::FileTimes::new().set_modified(mtime))
    }

    /// What the entry `name` is, not following a link; `None` if there is none.
    pub fn entry_type(&self, name: &OsStr) -> io::Result<Option<FileType>> {
        match rfs::statat(&self.0, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the file `name` for writing, mode 0600; an existing entry of that name,
    /// a symbolic link included, is an error.
    pub fn create_file(&self, name: &OsStr) -> io::Result<File> {
        let fd = rfs::openat(
            &self.0,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        Ok(File::from(fd))
    }

    /// Opens the entry `name` for reading without following a link (an error that
    /// [`is_link_or_not_dir`] recognises) or blocking on a FIFO; the caller checks what it opened.
    pub fn open_file(&self, name: &OsStr) -> io::Result<File> {
        let fd = rfs::openat(
            &self.0,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// Renames the entry `from` to `to`, both in this directory, replacing `to`.
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        Ok(rfs::renameat(&self.0, from, &self.0, to)?)
    }

    /// Removes the entry `name` (not a directory).
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        Ok(rfs::unlinkat(&self.0, name, AtFlags::empty())?)
    }

    /// The names in the directory, without `.` and `..`, in no particular order.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let fd = rfs::openat(
            &self.0,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut names = Vec::new();
        for e in rfs::Dir::new(fd)? {
            let n = e?.file_name().to_bytes().to_vec();
            if n != b"." && n != b".." {
                names.push(OsString::from_vec(n));
            }
        }
        Ok(names)
    }
}

impl AsFd for DirFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}
