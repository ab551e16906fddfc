use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::SHA256;
use bytes::Bytes;
use wicket_proto::copy::{encode, EntryHeader, Item};

use super::*;

/// No progress; warnings dropped.
struct Quiet;

impl Progress for Quiet {
    fn warn(&mut self, _msg: &str) {}
}

/// Receives `input` at `dest`, with no progress and a [`Cancel`] no one else holds.
fn recv(dest: &Path, input: &mut dyn Read) -> Result<Summary, Error> {
    receive(dest, input, &mut Quiet, &Cancel::new())
}

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
    let s = recv(dst.path(), &mut &stream[..]).unwrap();
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
    let err = recv(&dst.path().join("g"), &mut &stream[..]).unwrap_err();
    assert!(
        report(&err).contains("checksum mismatch"),
        "{}",
        report(&err)
    );
    assert_eq!(fs::read_dir(dst.path()).unwrap().count(), 0);
    // A cut stream leaves nothing either.
    let err = recv(&dst.path().join("g"), &mut &stream[..pos + 3]).unwrap_err();
    assert!(report(&err).contains("ended"), "{}", report(&err));
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
    recv(dst.path(), &mut &s[..]).unwrap();
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
        let err = recv(dst.path(), &mut &s[..]).unwrap_err();
        assert!(
            report(&err).contains("exists and is not a directory"),
            "{}",
            report(&err)
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
    recv(dst.path(), &mut input).unwrap();
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
    let err = recv(dst.path(), &mut &s[..]).unwrap_err();
    assert!(
        report(&err).contains("outside the directories being written"),
        "{}",
        report(&err)
    );
    let s = stream(&[("f", None), ("f/g", None)]);
    let err = recv(&dst.path().join("x"), &mut &s[..]).unwrap_err();
    assert!(
        report(&err).contains("outside the directories being written"),
        "{}",
        report(&err)
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
    recv(&link, &mut &s[..]).unwrap();
    assert_eq!(fs::read(real.join("f")).unwrap(), b"f\n");
    // A link to a file is replaced by the file, not written through.
    let old = dst.path().join("v1.txt");
    fs::write(&old, b"v1").unwrap();
    let current = dst.path().join("current");
    symlink(&old, &current).unwrap();
    recv(&current, &mut &s[..]).unwrap();
    assert_eq!(fs::read(&old).unwrap(), b"v1");
    assert!(fs::symlink_metadata(&current).unwrap().is_file());
}

/// Another user's link is not followed, as the last component or on the way.
#[test]
#[cfg_attr(not(has_root), ignore = "needs root: makes a link another user owns")]
fn a_named_destination_never_follows_another_users_link() {
    let dst = tempfile::tempdir().unwrap();
    let real = dst.path().join("real");
    fs::create_dir(&real).unwrap();
    let link = dst.path().join("link");
    symlink(&real, &link).unwrap();
    let s = stream(&[("f", None)]);
    recv(&link, &mut &s[..]).unwrap();
    std::os::unix::fs::lchown(&link, Some(4242), None).unwrap();
    for dest in [link.clone(), link.join("sub/")] {
        let err = recv(&dest, &mut &s[..]).unwrap_err();
        assert!(
            report(&err).contains("a symbolic link owned by uid 4242"),
            "{}",
            report(&err)
        );
    }
    let err = send(&link.join("f"), false, &mut Vec::new(), &mut Quiet).unwrap_err();
    assert!(
        report(&err).contains("a symbolic link owned by uid 4242"),
        "{}",
        report(&err)
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

/// Names in `dir` and below, relative to it, sorted.
fn walk(dir: &Path) -> Vec<String> {
    fn go(base: &Path, at: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(at).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                go(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}

fn no_temp_files(dir: &Path) -> bool {
    walk(dir).iter().all(|p| {
        !Path::new(p)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(TEMP_PREFIX)
    })
}

/// Hands out `first`, then calls `cancel` and checks what it removed, then hands out `rest`.
struct CancelAfter<'a> {
    first: &'a [u8],
    cancel: Option<(Cancel, &'a Path)>,
    rest: &'a [u8],
}

impl Read for CancelAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.first.is_empty() {
            return self.first.read(buf);
        }
        if let Some((cancel, dir)) = self.cancel.take() {
            // As the CLI on Ctrl-C: from another thread, while the receive is mid-file.
            let names = walk(dir);
            assert!(
                names.iter().any(|n| n.starts_with(TEMP_PREFIX)),
                "{names:?}"
            );
            std::thread::spawn(move || cancel.cancel()).join().unwrap();
            assert_eq!(walk(dir), Vec::<String>::new());
        }
        self.rest.read(buf)
    }
}

#[test]
fn cancel_removes_the_file_being_written_at_once() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    fs::write(src.path().join("big"), vec![7u8; 3 * CHUNK]).unwrap();
    let mut stream = Vec::new();
    send(&src.path().join("big"), false, &mut stream, &mut Quiet).unwrap();
    let cancel = Cancel::new();
    let mut input = CancelAfter {
        first: &stream[..CHUNK],
        cancel: Some((cancel.clone(), dst.path())),
        rest: &stream[CHUNK..],
    };
    let err = receive(dst.path(), &mut input, &mut Quiet, &cancel).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{}", report(&err));
    assert_eq!(walk(dst.path()), Vec::<String>::new());
    // Once cancelled, a receive starts no file at all.
    let s = stream_of_files(&[("f", b"x".to_vec())]);
    let err = receive(dst.path(), &mut &s[..], &mut Quiet, &cancel).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{}", report(&err));
    assert_eq!(walk(dst.path()), Vec::<String>::new());
}

/// Cancelled with a file's whole content received but before its checksum: the checksum that
/// then arrives does not put it in place.
#[test]
fn a_cancel_before_the_checksum_places_nothing() {
    let dst = tempfile::tempdir().unwrap();
    let s = stream_of_files(&[("f", vec![1u8; 1000])]);
    let sum_at = s.len() - encode(&Item::End).len() - encode(&Item::Sum([0; 32])).len();
    let cancel = Cancel::new();
    let mut input = CancelAfter {
        first: &s[..sum_at],
        cancel: Some((cancel.clone(), dst.path())),
        rest: &s[sum_at..],
    };
    let err = receive(dst.path(), &mut input, &mut Quiet, &cancel).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{}", report(&err));
    assert_eq!(walk(dst.path()), Vec::<String>::new());
}

/// A copy of one file is done once the file is in place: a stream cut (or cancelled) where
/// only `End` was to come reports success, as that is what the receiver leaves behind; a tree
/// cut the same way does not.
#[test]
fn one_file_in_place_is_a_complete_copy_whatever_follows() {
    let dst = tempfile::tempdir().unwrap();
    let s = stream_of_files(&[("f", b"whole".to_vec())]);
    let cut = &s[..s.len() - encode(&Item::End).len()];
    let sum = recv(dst.path(), &mut &cut[..]).unwrap();
    assert_eq!(sum.files, 1);
    assert_eq!(fs::read(dst.path().join("f")).unwrap(), b"whole");

    let cancel = Cancel::new();
    cancel.cancel();
    let done = stream_of_files(&[("g", b"also".to_vec())]);
    let err = receive(dst.path(), &mut &done[..], &mut Quiet, &cancel).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{}", report(&err));
    assert!(!dst.path().join("g").exists());

    let tree = tempfile::tempdir().unwrap();
    let mut t = dir("t", 0o755).to_vec();
    t.extend_from_slice(&stream_of_files(&[("t/f", b"x".to_vec())]));
    let cut = &t[..t.len() - encode(&Item::End).len()];
    assert!(matches!(
        recv(tree.path(), &mut &cut[..]),
        Err(Error::Truncated)
    ));
}

#[test]
fn the_verdict_carries_the_reason_with_its_causes() {
    let dst = tempfile::tempdir().unwrap();
    let s = stream(&[("f", None)]);
    let err = recv(&dst.path().join("no/such/dir/f"), &mut &s[..]).unwrap_err();
    let text = report(&err);
    assert!(text.starts_with("cannot write to "), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
    let verdict = status(&Err(err));
    assert!(
        matches!(read_status(&mut &verdict[..]), Err(Error::Remote(r)) if r == text),
        "{text}"
    );
    assert!(read_status(&mut &status(&Ok(Summary::default()))[..]).is_ok());
    assert!(matches!(read_status(&mut &[][..]), Err(Error::NoVerdict)));
}

/// A stream of the files `(path, content)` at the root (no directories), then `End`.
fn stream_of_files(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut s = Vec::new();
    for (path, content) in files {
        let e = EntryHeader {
            path: path.to_string(),
            mode: 0o640,
            mtime_secs: 1_000_000_000,
            mtime_nanos: 0,
        };
        s.extend_from_slice(&encode(&Item::File(e, content.len() as u64)));
        s.extend_from_slice(content);
        let d = aws_lc_rs::digest::digest(&SHA256, content);
        s.extend_from_slice(&encode(&Item::Sum(d.as_ref().try_into().unwrap())));
    }
    s.extend_from_slice(&encode(&Item::End));
    s
}

mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// A tree under `tree/`: file paths (one or two levels) to content and mode. Names come
    /// from a small alphabet, so files and directories sometimes want the same name; those
    /// cases are dropped (a name is a file or a directory, not both).
    fn tree() -> impl Strategy<Value = BTreeMap<String, (Vec<u8>, u32)>> {
        let name = "[a-c]{1,2}";
        let path = prop_oneof![
            name.prop_map(|n| n.to_string()),
            (name, name).prop_map(|(d, n)| format!("{d}/{n}")),
        ];
        let mode = prop_oneof![Just(0o600u32), Just(0o644), Just(0o755), Just(0o400)];
        let file = (proptest::collection::vec(any::<u8>(), 0..3000), mode);
        proptest::collection::btree_map(path, file, 1..6).prop_map(|mut files| {
            let dirs: Vec<String> = files
                .keys()
                .filter_map(|p| p.split_once('/').map(|(d, _)| d.to_string()))
                .collect();
            files.retain(|p, _| !dirs.contains(p));
            files
        })
    }

    /// Writes `files` under `root/tree`, with a fixed mtime.
    fn make(root: &Path, files: &BTreeMap<String, (Vec<u8>, u32)>) -> std::path::PathBuf {
        let tree = root.join("tree");
        for (path, (content, mode)) in files {
            let p = tree.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, content).unwrap();
            set_mode(&p, *mode);
            set_mtime(&p, 1_234_567_890);
        }
        tree
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// What is sent is what arrives: every file with its content, mode and mtime.
        #[test]
        fn a_tree_round_trips(files in tree()) {
            let src = tempfile::tempdir().unwrap();
            let dst = tempfile::tempdir().unwrap();
            let root = make(src.path(), &files);
            let mut stream = Vec::new();
            let sent = send(&root, true, &mut stream, &mut Quiet).unwrap();
            let got = recv(dst.path(), &mut &stream[..]).unwrap();
            prop_assert_eq!(sent.files, files.len() as u64);
            prop_assert_eq!((got.files, got.dirs, got.bytes), (sent.files, sent.dirs, sent.bytes));
            prop_assert_eq!(walk(dst.path()), walk(src.path()));
            for (path, (content, mode)) in &files {
                let p = dst.path().join("tree").join(path);
                prop_assert_eq!(&fs::read(&p).unwrap(), content);
                prop_assert_eq!(super::mode(&p), *mode);
                prop_assert_eq!(modified(&p), UNIX_EPOCH + Duration::from_secs(1_234_567_890));
            }
        }

        /// A damaged stream (cut anywhere, or one byte changed) never panics, never leaves a
        /// temporary file, and every file it leaves is one of the sender's, whole: a file
        /// only gets a name once its SHA-256 matched.
        #[test]
        fn a_damaged_stream_leaves_only_whole_files(
            files in tree(),
            at in any::<prop::sample::Index>(),
            flip in any::<Option<u8>>(),
        ) {
            let src = tempfile::tempdir().unwrap();
            let dst = tempfile::tempdir().unwrap();
            let root = make(src.path(), &files);
            let mut stream = Vec::new();
            send(&root, true, &mut stream, &mut Quiet).unwrap();
            let i = at.index(stream.len());
            match flip {
                Some(x) => stream[i] ^= x.max(1),
                None => stream.truncate(i),
            }
            let _ = recv(dst.path(), &mut &stream[..]);
            prop_assert!(no_temp_files(dst.path()), "{:?}", walk(dst.path()));
            let contents: Vec<&Vec<u8>> = files.values().map(|(c, _)| c).collect();
            for p in walk(dst.path()) {
                let p = dst.path().join(p);
                let m = fs::symlink_metadata(&p).unwrap();
                if m.is_dir() {
                    // A changed mode may have made it unreadable for the next case's cleanup.
                    set_mode(&p, 0o700);
                } else {
                    prop_assert!(contents.contains(&&fs::read(&p).unwrap()), "{}", p.display());
                }
            }
        }
    }
}
