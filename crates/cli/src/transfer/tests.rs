use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;

/// Warnings kept, for tests to read.
#[derive(Default)]
struct Warnings(Vec<String>);

impl Progress for Warnings {
    fn warn(&mut self, msg: &str) {
        self.0.push(msg.to_string());
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn set_mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

fn set_mtime(p: &Path, secs: u64) {
    File::open(p)
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(secs)))
        .unwrap();
}

fn modified(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

fn dir(path: &str, mode: u32) -> Bytes {
    encode(&Item::Dir(EntryHeader {
        path: path.into(),
        mode,
        mtime_secs: 1_000_000_000,
        mtime_nanos: 0,
    }))
}

/// A stream of `items`, each a directory record or a small file ("path" = "path\n").
fn stream(items: &[(&str, Option<u32>)]) -> Vec<u8> {
    let mut s = Vec::new();
    for (path, dir_mode) in items {
        match dir_mode {
            Some(m) => s.extend_from_slice(&dir(path, *m)),
            None => {
                let content = format!("{path}\n");
                let e = EntryHeader {
                    path: path.to_string(),
                    mode: 0o644,
                    mtime_secs: 1_000_000_000,
                    mtime_nanos: 0,
                };
                s.extend_from_slice(&encode(&Item::File(e, content.len() as u64)));
                s.extend_from_slice(content.as_bytes());
                let d = aws_lc_rs::digest::digest(&SHA256, content.as_bytes());
                s.extend_from_slice(&encode(&Item::Sum(d.as_ref().try_into().unwrap())));
            }
        }
    }
    s.extend_from_slice(&encode(&Item::End));
    s
}

/// Whether this process may give files away (root): the tests of links other users own.
fn can_chown() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn tree_round_trip_preserves_modes_and_times() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let root = src.path().join("tree");
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/b/f.txt"), b"hello").unwrap();
    fs::write(root.join("x.sh"), b"#!/bin/sh\n").unwrap();
    set_mode(&root.join("x.sh"), 0o751);
    set_mode(&root.join("a"), 0o750);
    // A directory that refuses writes: its mode is applied after its contents are written.
    set_mode(&root.join("a/b"), 0o500);
    set_mtime(&root.join("a/b/f.txt"), 1_000_000_000);
    set_mtime(&root.join("a"), 1_100_000_000);
    let mut stream = Vec::new();
    send(&root, true, &mut stream, &mut Quiet).unwrap();
    let s = receive(dst.path(), &mut &stream[..], &mut Quiet).unwrap();
    assert_eq!((s.files, s.dirs), (2, 3));
    let out = dst.path().join("tree");
    assert_eq!(fs::read(out.join("a/b/f.txt")).unwrap(), b"hello");
    assert_eq!(mode(&out.join("x.sh")), 0o751);
    assert_eq!(mode(&out.join("a")), 0o750);
    assert_eq!(mode(&out.join("a/b")), 0o500);
    assert_eq!(modified(&out.join("a")), modified(&root.join("a")));
    assert_eq!(
        modified(&out.join("a/b/f.txt")),
        UNIX_EPOCH + Duration::from_secs(1_000_000_000)
    );
    set_mode(&root.join("a/b"), 0o700);
    set_mode(&out.join("a/b"), 0o700);
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

#[test]
fn an_existing_directory_keeps_its_mode_and_mtime() {
    let dst = tempfile::tempdir().unwrap();
    let a = dst.path().join("tree/a");
    fs::create_dir_all(a.join("b")).unwrap();
    set_mode(&dst.path().join("tree"), 0o711);
    set_mode(&a, 0o751);
    set_mtime(&a, 1_200_000_000);
    let s = stream(&[
        ("tree", Some(0o700)),
        ("tree/a", Some(0o700)),
        ("tree/a/b", Some(0o700)),
        ("tree/a/b/f", None),
        ("tree/new", Some(0o750)),
    ]);
    receive(dst.path(), &mut &s[..], &mut Quiet).unwrap();
    assert_eq!(fs::read(a.join("b/f")).unwrap(), b"tree/a/b/f\n");
    assert_eq!(mode(&dst.path().join("tree")), 0o711);
    assert_eq!(mode(&a), 0o751);
    assert_eq!(
        modified(&a),
        UNIX_EPOCH + Duration::from_secs(1_200_000_000)
    );
    // What the copy created is the sender's.
    let new = dst.path().join("tree/new");
    assert_eq!(mode(&new), 0o750);
    assert_eq!(
        modified(&new),
        UNIX_EPOCH + Duration::from_secs(1_000_000_000)
    );
}

#[test]
fn a_directory_entry_that_is_a_link_is_refused() {
    let dst = tempfile::tempdir().unwrap();
    let victim = dst.path().join("victim");
    fs::write(&victim, b"secret").unwrap();
    set_mode(&victim, 0o600);
    let elsewhere = dst.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    set_mode(&elsewhere, 0o700);
    fs::create_dir(dst.path().join("tree")).unwrap();
    symlink(&victim, dst.path().join("tree/a")).unwrap();
    symlink(&elsewhere, dst.path().join("tree/b")).unwrap();
    for name in ["tree/a", "tree/b"] {
        let s = stream(&[
            ("tree", Some(0o777)),
            (name, Some(0o777)),
            (&format!("{name}/f"), None),
        ]);
        let err = receive(dst.path(), &mut &s[..], &mut Quiet).unwrap_err();
        assert!(
            format!("{err:#}").contains("exists and is not a directory"),
            "{err:#}"
        );
    }
    assert_eq!(mode(&victim), 0o600);
    assert_eq!(fs::read(&victim).unwrap(), b"secret");
    assert_eq!(mode(&elsewhere), 0o700);
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// Hands out `first`, runs `swap` once it has all been read, then hands out `rest`.
struct SwapAfter<'a, F: FnMut()> {
    first: &'a [u8],
    swap: Option<F>,
    rest: &'a [u8],
}

impl<F: FnMut()> Read for SwapAfter<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.first.is_empty() {
            return self.first.read(buf);
        }
        if let Some(mut f) = self.swap.take() {
            f();
        }
        self.rest.read(buf)
    }
}

#[test]
fn a_directory_swapped_for_a_link_during_the_copy_is_not_followed() {
    let dst = tempfile::tempdir().unwrap();
    let victim = dst.path().join("victim");
    fs::write(&victim, b"secret").unwrap();
    set_mode(&victim, 0o600);
    set_mtime(&victim, 1_300_000_000);
    let full = stream(&[
        ("tree", Some(0o777)),
        ("tree/a", Some(0o777)),
        ("tree/a/f", None),
        ("tree/b", None),
    ]);
    // Cut after tree/a's record: the copy has created it when the swap happens.
    let cut = dir("tree", 0o777).len() + dir("tree/a", 0o777).len();
    let tree = dst.path().join("tree");
    let mut input = SwapAfter {
        first: &full[..cut],
        swap: Some(|| {
            fs::rename(tree.join("a"), tree.join("a.moved")).unwrap();
            symlink(&victim, tree.join("a")).unwrap();
        }),
        rest: &full[cut..],
    };
    receive(dst.path(), &mut input, &mut Quiet).unwrap();
    assert_eq!(mode(&victim), 0o600);
    assert_eq!(
        modified(&victim),
        UNIX_EPOCH + Duration::from_secs(1_300_000_000)
    );
    assert_eq!(fs::read(&victim).unwrap(), b"secret");
    // The file went into the directory the copy made, wherever it is now, and that directory
    // got the sender's mode.
    assert_eq!(
        fs::read(tree.join("a.moved/f")).unwrap(),
        b"tree/a/f\n".to_vec()
    );
    assert_eq!(mode(&tree.join("a.moved")), 0o777);
    assert!(fs::symlink_metadata(tree.join("a"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(tree.join("b")).unwrap(), b"tree/b\n");
}

#[test]
fn a_stream_that_leaves_a_directory_and_comes_back_is_refused() {
    let dst = tempfile::tempdir().unwrap();
    let s = stream(&[
        ("tree", Some(0o755)),
        ("tree/a", Some(0o500)),
        ("tree/b", Some(0o755)),
        ("tree/a/f", None),
    ]);
    let err = receive(dst.path(), &mut &s[..], &mut Quiet).unwrap_err();
    assert!(
        format!("{err:#}").contains("outside the directories being written"),
        "{err:#}"
    );
    let s = stream(&[("f", None), ("f/g", None)]);
    let err = receive(&dst.path().join("x"), &mut &s[..], &mut Quiet).unwrap_err();
    assert!(
        format!("{err:#}").contains("outside the directories being written"),
        "{err:#}"
    );
    set_mode(&dst.path().join("tree/a"), 0o700);
}

#[test]
fn a_named_destination_follows_only_trusted_links() {
    let dst = tempfile::tempdir().unwrap();
    let real = dst.path().join("real");
    fs::create_dir(&real).unwrap();
    let link = dst.path().join("link");
    symlink(&real, &link).unwrap();
    // Our own link to a directory: the copy goes into it.
    let s = stream(&[("f", None)]);
    receive(&link, &mut &s[..], &mut Quiet).unwrap();
    assert_eq!(fs::read(real.join("f")).unwrap(), b"f\n");
    // A link to a file is replaced by the file, not written through.
    let old = dst.path().join("v1.txt");
    fs::write(&old, b"v1").unwrap();
    let current = dst.path().join("current");
    symlink(&old, &current).unwrap();
    receive(&current, &mut &s[..], &mut Quiet).unwrap();
    assert_eq!(fs::read(&old).unwrap(), b"v1");
    assert!(fs::symlink_metadata(&current).unwrap().is_file());
    // Another user's link is not followed, as the last component or on the way.
    if !can_chown() {
        errln!("SKIPPED: links of another user need root to make");
        return;
    }
    std::os::unix::fs::lchown(&link, Some(4242), None).unwrap();
    for dest in [link.clone(), link.join("sub/")] {
        let err = receive(&dest, &mut &s[..], &mut Quiet).unwrap_err();
        assert!(
            format!("{err:#}").contains("a symbolic link owned by uid 4242"),
            "{err:#}"
        );
    }
    let err = send(&link.join("f"), false, &mut Vec::new(), &mut Quiet).unwrap_err();
    assert!(
        format!("{err:#}").contains("a symbolic link owned by uid 4242"),
        "{err:#}"
    );
    assert_eq!(fs::read_dir(&real).unwrap().count(), 1);
}

#[test]
fn send_skips_links_in_a_tree() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("tree");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::write(root.join("d/f"), b"f").unwrap();
    symlink(root.join("d"), root.join("dl")).unwrap();
    symlink(root.join("d/f"), root.join("fl")).unwrap();
    let mut w = Warnings::default();
    let mut out = Vec::new();
    let s = send(&root, true, &mut out, &mut w).unwrap();
    assert_eq!((s.files, s.dirs), (1, 2));
    assert_eq!(w.0.len(), 2, "{:?}", w.0);
    assert!(w.0.iter().all(|m| m.ends_with("symbolic link, skipped")));
    // A named link to a file is read through (it is ours).
    let s = send(&root.join("fl"), false, &mut Vec::new(), &mut Quiet).unwrap();
    assert_eq!(s.files, 1);
}
