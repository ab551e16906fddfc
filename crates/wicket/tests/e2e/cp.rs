//! `wicket cp` end to end: a real wicketd, agent (running as root) and `wicket cp` processes,
//! real files at both ends. The target side runs as an unprivileged user created here
//! (`useradd`), so the tests also show that the kernel applies that user's permissions: files
//! written on the target belong to it, and a directory it may not write refuses the copy.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use wicket_testkit::{bins, cli::show, Harness};

const RUN_AS: &str = "wicketcp";

/// The run-as user's uid, creating the user if needed. The tests that call it need root
/// (`has_root`, see `build.rs`).
fn run_as_user() -> Result<u32> {
    // Once per test process: on a machine without the user, tests running side by side each
    // ran `useradd`, and concurrent runs left one test holding a uid that was then replaced.
    static UID: std::sync::OnceLock<Result<u32, String>> = std::sync::OnceLock::new();
    UID.get_or_init(create_run_as_user)
        .clone()
        .map_err(anyhow::Error::msg)
}

fn create_run_as_user() -> Result<u32, String> {
    let lookup = || nix::unistd::User::from_name(RUN_AS).ok().flatten();
    if lookup().is_none() {
        let _ = std::process::Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/bin/sh", RUN_AS])
            .status();
    }
    match lookup() {
        Some(u) => Ok(u.uid.as_raw()),
        None => Err(format!("could not create the user {RUN_AS} with useradd")),
    }
}

/// A directory on the "target" (this host) owned by the run-as user, removed on drop.
struct RemoteDir(PathBuf);

impl RemoteDir {
    fn new(uid: u32) -> Result<Self> {
        let p = std::env::temp_dir().join(format!("wicket-cp-{}", fastrand::u64(..)));
        fs::create_dir(&p)?;
        nix::unistd::chown(&p, Some(nix::unistd::Uid::from_raw(uid)), None)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
        Ok(RemoteDir(p))
    }
}

impl Drop for RemoteDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn set_mtime(p: &Path, secs: u64) -> Result<()> {
    let t = UNIX_EPOCH + Duration::from_secs(secs);
    fs::File::open(p)?.set_times(fs::FileTimes::new().set_modified(t))?;
    Ok(())
}

fn mtime(p: &Path) -> Result<SystemTime> {
    Ok(fs::metadata(p)?.modified()?)
}

fn sha256_file(p: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = fs::File::open(p)?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Writes `mib` MiB of varied bytes (each MiB different, so a reordered chunk changes the hash).
fn big_file(p: &Path, mib: u64) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(fs::File::create(p)?);
    let mut block = vec![0u8; 1 << 20];
    fastrand::fill(&mut block);
    for i in 0..mib {
        block[..8].copy_from_slice(&i.to_be_bytes());
        f.write_all(&block)?;
    }
    f.flush()?;
    Ok(())
}

/// Names in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The `copy.file` audit events, oldest first, each with its details.
async fn copy_events(h: &Harness) -> Result<Vec<(serde_json::Value, serde_json::Value)>> {
    let out = h
        .admin
        .ok(&["audit", "search", "--action", "copy.file", "-o", "json"])
        .await?;
    let events: Vec<serde_json::Value> = serde_json::from_str(&out)?;
    Ok(events
        .into_iter()
        .map(|e| {
            let d = e["details"].clone();
            (e, d)
        })
        .collect())
}

/// Sends SIGINT (Ctrl-C) to a running `wicket cp` and waits for it to end, promptly.
async fn interrupt(child: tokio::process::Child) -> Result<std::process::Output> {
    let pid = nix::unistd::Pid::from_raw(child.id().context("pid")? as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
    Ok(tokio::time::timeout(Duration::from_secs(15), child.wait_with_output()).await??)
}

/// Ctrl-C to a running `wicket cp`: it exits at once with 130 and says "cancelled".
async fn interrupt_cancels(child: tokio::process::Child) -> Result<()> {
    let out = interrupt(child).await?;
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cancelled"),
        "{}",
        show(&out)
    );
    Ok(())
}

/// The `copy.file` event of the one copy in `direction`, once it is written.
async fn copy_event(
    h: &Harness,
    direction: &str,
) -> Result<(serde_json::Value, serde_json::Value)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut events = copy_events(h).await?;
        events.retain(|(_, d)| d["direction"] == direction);
        match events.len() {
            1 => return Ok(events.remove(0)),
            0 if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            _ => bail!("not one {direction} event: {events:#?}"),
        }
    }
}

/// Waits for the server's `file copy` log line that contains `needle`.
async fn copy_log(h: &Harness, needle: &str) -> Result<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(l) = h
            .server
            .logs()
            .lines()
            .find(|l| l.contains("file copy") && l.contains(needle))
        {
            return Ok(l.to_string());
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "no `file copy` log line with {needle:?}:\n{}",
                h.server.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn a_file_both_ways_as_the_run_as_user() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let remote = RemoteDir::new(uid)?;
    let local = h.dir.path().join("notes.txt");
    fs::write(&local, b"hello from the laptop\n")?;
    fs::set_permissions(&local, fs::Permissions::from_mode(0o640))?;
    set_mtime(&local, 1_500_000_000)?;

    // Upload into an existing directory: the file keeps its name, mode and mtime, and belongs
    // to the run-as user (the helper wrote it with that user's credentials).
    let dst = format!("web-1:{}/", s(&remote.0));
    h.admin
        .ok(&["cp", "--user", RUN_AS, s(&local), &dst])
        .await?;
    let up = remote.0.join("notes.txt");
    assert_eq!(fs::read(&up)?, b"hello from the laptop\n");
    let m = fs::metadata(&up)?;
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(m.uid(), uid, "the file was not written as {RUN_AS}");
    assert_eq!(mtime(&up)?, mtime(&local)?);
    assert_eq!(names(&remote.0), ["notes.txt"], "temporary files left");

    // Download under a new name.
    let back = h.dir.path().join("back.txt");
    h.admin
        .ok(&[
            "cp",
            "--user",
            RUN_AS,
            &format!("web-1:{}", s(&up)),
            s(&back),
        ])
        .await?;
    assert_eq!(fs::read(&back)?, b"hello from the laptop\n");
    assert_eq!(fs::metadata(&back)?.mode() & 0o7777, 0o640);
    assert_eq!(mtime(&back)?, mtime(&local)?);

    // One audit record per copy, with the direction and the checksum.
    let sha = sha256_file(&local)?;
    let line = copy_log(&h, "end=\"copied\"")
        .await
        .or(copy_log(&h, "end=copied").await)?;
    assert!(
        line.contains("files=1") && line.contains("user=admin"),
        "{line}"
    );
    let audit = h
        .admin
        .ok(&["audit", "search", "--action", "copy.file", "-o", "json"])
        .await?;
    assert!(audit.contains(&sha), "{audit}");
    assert!(
        audit.contains("upload") && audit.contains("download"),
        "{audit}"
    );
    assert!(audit.contains(RUN_AS), "{audit}");
    // Both copies succeeded, and the audit says so: the download's verdict comes from the CLI,
    // after the agent's side has ended.
    let events = copy_events(&h).await?;
    assert_eq!(events.len(), 2, "{events:#?}");
    for ((e, d), direction) in events.iter().zip(["upload", "download"]) {
        assert_eq!(d["direction"], direction, "{d:#}");
        assert_eq!(e["outcome"], "success", "{e:#}");
        assert_eq!(d["end"], "copied", "{d:#}");
        assert_eq!(d["sha256"], sha.as_str(), "{d:#}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn a_tree_recursively_with_modes_and_mtimes() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let remote = RemoteDir::new(uid)?;
    let tree = h.dir.path().join("site");
    fs::create_dir_all(tree.join("static/css"))?;
    fs::create_dir_all(tree.join("empty"))?;
    fs::write(tree.join("index.html"), b"<h1>hi</h1>")?;
    fs::write(tree.join("static/css/a.css"), b"body{}")?;
    fs::write(tree.join("run.sh"), b"#!/bin/sh\necho hi\n")?;
    std::os::unix::fs::symlink("index.html", tree.join("link.html"))?;
    fs::set_permissions(tree.join("run.sh"), fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(
        tree.join("static/css/a.css"),
        fs::Permissions::from_mode(0o600),
    )?;
    for (i, p) in ["index.html", "static/css/a.css", "run.sh"]
        .iter()
        .enumerate()
    {
        set_mtime(&tree.join(p), 1_600_000_000 + i as u64)?;
    }
    fs::set_permissions(tree.join("static"), fs::Permissions::from_mode(0o750))?;
    set_mtime(&tree.join("static"), 1_400_000_000)?;

    // Without -r a directory is refused.
    let dst = format!("web-1:{}", s(&remote.0));
    let out = h
        .admin
        .run(&["cp", "--user", RUN_AS, s(&tree), &dst], None)
        .await?;
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("-r"),
        "{}",
        show(&out)
    );

    let out = h
        .admin
        .run(&["cp", "-r", "--user", RUN_AS, s(&tree), &dst], None)
        .await?;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic link, skipped"),
        "{}",
        show(&out)
    );
    let up = remote.0.join("site");
    assert!(!up.join("link.html").exists());

    // And back again, into a fresh local directory.
    let back_dir = h.dir.path().join("back");
    fs::create_dir(&back_dir)?;
    h.admin
        .ok(&[
            "cp",
            "-r",
            "--user",
            RUN_AS,
            &format!("web-1:{}", s(&up)),
            s(&back_dir),
        ])
        .await?;
    let back = back_dir.join("site");
    for copy in [&up, &back] {
        for p in ["index.html", "static/css/a.css", "run.sh"] {
            assert_eq!(fs::read(copy.join(p))?, fs::read(tree.join(p))?, "{p}");
            let (a, b) = (fs::metadata(copy.join(p))?, fs::metadata(tree.join(p))?);
            assert_eq!(a.mode() & 0o7777, b.mode() & 0o7777, "{p} mode");
            assert_eq!(a.modified()?, b.modified()?, "{p} mtime");
        }
        assert!(copy.join("empty").is_dir());
        let st = fs::metadata(copy.join("static"))?;
        assert_eq!(st.mode() & 0o7777, 0o750);
        assert_eq!(st.modified()?, mtime(&tree.join("static"))?);
    }
    assert_eq!(fs::metadata(up.join("run.sh"))?.uid(), uid);
    Ok(())
}

/// The issue's size: a 1 GiB file up to the target and back down, each way checked against
/// the original's SHA-256 (and by the receiver, chunk by chunk, as always).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn a_1_gib_file_both_ways_keeps_its_sha256() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let remote = RemoteDir::new(uid)?;
    let local = h.dir.path().join("big.bin");
    big_file(&local, 1024)?;
    let sha = sha256_file(&local)?;
    let dst = format!("web-1:{}/big.bin", s(&remote.0));
    let back = h.dir.path().join("back.bin");
    for (from, to) in [
        (s(&local).to_owned(), dst.clone()),
        (dst, s(&back).to_owned()),
    ] {
        let out = tokio::time::timeout(
            Duration::from_secs(600),
            h.admin
                .command()
                .args(["cp", "--user", RUN_AS, &from, &to])
                .stderr(Stdio::piped())
                .output(),
        )
        .await
        .context("1 GiB copy took over 600 s")??;
        assert!(out.status.success(), "{}", show(&out));
        // Not a terminal: no progress bar.
        assert!(out.stderr.is_empty(), "{}", show(&out));
    }
    assert_eq!(sha256_file(&remote.0.join("big.bin"))?, sha);
    // Free the disk before hashing the copy that came back.
    fs::remove_file(remote.0.join("big.bin"))?;
    fs::remove_file(&local)?;
    assert_eq!(sha256_file(&back)?, sha);
    let line = copy_log(&h, &format!("bytes={}", 1024u64 << 20)).await?;
    assert!(line.contains("files=1"), "{line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn a_file_the_run_as_user_may_not_write_is_refused() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let remote = RemoteDir::new(uid)?;
    // A directory of root's that the run-as user can enter but not write.
    let locked = remote.0.join("locked");
    fs::create_dir(&locked)?;
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755))?;
    // Large enough that the refusal must stop the upload, not wait for its end.
    let local = h.dir.path().join("f.txt");
    big_file(&local, 64)?;
    let out = h
        .admin
        .run(
            &[
                "cp",
                "--user",
                RUN_AS,
                s(&local),
                &format!("web-1:{}/f.txt", s(&locked)),
            ],
            None,
        )
        .await?;
    assert!(!out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write in") && err.contains("Permission denied"),
        "{}",
        show(&out)
    );
    eprintln!("refusal as the user sees it: {err}");
    assert!(
        names(&locked).is_empty(),
        "left behind: {:?}",
        names(&locked)
    );
    // Reading a file only root may read fails the same way, and leaves nothing locally.
    let secret = remote.0.join("secret");
    fs::write(&secret, b"root only")?;
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600))?;
    let got = h.dir.path().join("got");
    let out = h
        .admin
        .run(
            &[
                "cp",
                "--user",
                RUN_AS,
                &format!("web-1:{}", s(&secret)),
                s(&got),
            ],
            None,
        )
        .await?;
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        show(&out)
    );
    assert!(!got.exists());
    let _ = copy_log(&h, "end=\"failed\"")
        .await
        .or(copy_log(&h, "end=failed").await)?;
    Ok(())
}

/// Starts `wicket cp` (as the admin, run as [`RUN_AS`]) uploading `local` to `big.bin` in
/// `remote`, and returns it once the temporary file there holds more than `min` bytes.
async fn upload_under_way(
    h: &Harness,
    local: &Path,
    remote: &RemoteDir,
    min: u64,
) -> Result<tokio::process::Child> {
    let child = h
        .admin
        .command()
        .args([
            "cp",
            "--user",
            RUN_AS,
            s(local),
            &format!("web-1:{}/big.bin", s(&remote.0)),
        ])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let started = wicket_testkit::wait_until(Duration::from_secs(30), || {
        names(&remote.0).iter().any(|n| {
            n.starts_with(".wicket-cp.big.bin.")
                && fs::metadata(remote.0.join(n)).is_ok_and(|m| m.len() > min)
        })
    })
    .await;
    if !started {
        bail!("the copy never started: {:?}", names(&remote.0));
    }
    Ok(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn an_interrupted_copy_leaves_no_file_under_the_real_name() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let remote = RemoteDir::new(uid)?;
    let local = h.dir.path().join("big.bin");
    big_file(&local, 512)?;

    // Upload, Ctrl-C once the temporary file is growing: cancelled at once, nothing under the
    // real name and no temporary file on the target, and the CLI and the audit trail agree.
    let child = upload_under_way(&h, &local, &remote, 1 << 20).await?;
    interrupt_cancels(child).await?;
    let clean =
        wicket_testkit::wait_until(Duration::from_secs(20), || names(&remote.0).is_empty()).await;
    assert!(clean, "left behind: {:?}", names(&remote.0));
    let (e, d) = copy_event(&h, "upload").await?;
    assert_eq!(d["end"], "cancelled", "{d:#}");
    assert_eq!(d["reason"], "cancelled by the user", "{d:#}");
    assert_eq!(e["outcome"], "failure", "{e:#}");
    let sent = d["bytes"].as_u64().unwrap_or_default();
    assert!(sent < 512 << 20, "the upload ran on after Ctrl-C: {d:#}");

    // Download, killed midway: nothing under the real name (at most our temporary file).
    fs::copy(&local, remote.0.join("src.bin"))?;
    let out_dir = h.dir.path().join("down");
    fs::create_dir(&out_dir)?;
    let child = h
        .admin
        .command()
        .args([
            "cp",
            "--user",
            RUN_AS,
            &format!("web-1:{}/src.bin", s(&remote.0)),
            s(&out_dir),
        ])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let started = wicket_testkit::wait_until(Duration::from_secs(30), || {
        names(&out_dir)
            .iter()
            .any(|n| fs::metadata(out_dir.join(n)).is_ok_and(|m| m.len() > 1 << 20))
    })
    .await;
    assert!(started, "the download never started");
    interrupt_cancels(child).await?;
    assert!(!out_dir.join("src.bin").exists(), "{:?}", names(&out_dir));
    assert!(
        names(&out_dir).is_empty(),
        "Ctrl-C left {:?}",
        names(&out_dir)
    );
    let (_, d) = copy_event(&h, "download").await?;
    assert_eq!(d["end"], "cancelled", "{d:#}");

    // SIGKILL gives the CLI no chance to clean up: at most a clearly named temporary file is
    // left, never the real name, and the next copy of that name removes it.
    let src = format!("web-1:{}/src.bin", s(&remote.0));
    let mut child = h
        .admin
        .command()
        .args(["cp", "--user", RUN_AS, &src, s(&out_dir)])
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let started = wicket_testkit::wait_until(Duration::from_secs(30), || {
        names(&out_dir)
            .iter()
            .any(|n| fs::metadata(out_dir.join(n)).is_ok_and(|m| m.len() > 1 << 20))
    })
    .await;
    assert!(started, "the download never started");
    child.kill().await?;
    let left = names(&out_dir);
    assert!(
        left.iter()
            .all(|n| n.starts_with(".wicket-cp.src.bin.") && n.ends_with(".tmp")),
        "{left:?}"
    );
    h.admin
        .ok(&["cp", "--user", RUN_AS, &src, s(&out_dir)])
        .await?;
    assert_eq!(names(&out_dir), ["src.bin"]);
    assert_eq!(sha256_file(&out_dir.join("src.bin"))?, sha256_file(&local)?);
    Ok(())
}

/// A `wicket cp` killed with SIGKILL during an upload: its link just closes. The copy still
/// ends at once, in exactly one `copy.file` event that says what happened and how far it got,
/// and the helper on the target removes its temporary file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn a_killed_upload_is_audited_once() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let remote = RemoteDir::new(uid)?;
    let local = h.dir.path().join("big.bin");
    big_file(&local, 512)?;
    let mut child = upload_under_way(&h, &local, &remote, 8 << 20).await?;
    child.kill().await?;
    let killed = std::time::Instant::now();
    let clean =
        wicket_testkit::wait_until(Duration::from_secs(20), || names(&remote.0).is_empty()).await;
    assert!(clean, "left behind: {:?}", names(&remote.0));
    let mut events = Vec::new();
    while killed.elapsed() < Duration::from_secs(10) {
        events = copy_events(&h).await?;
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events.len(), 1, "one copy, one event: {events:#?}");
    let (e, d) = &events[0];
    assert_eq!(e["outcome"], "failure", "{e:#}");
    assert_eq!(d["direction"], "upload", "{d:#}");
    assert_eq!(d["end"], "failed", "{d:#}");
    let reason = d["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the user's link closed before the copy finished"),
        "{d:#}"
    );
    let bytes = d["bytes"].as_u64().unwrap_or_default();
    assert!(bytes > 8 << 20 && bytes < 512 << 20, "{d:#}");
    // Nothing more arrives later (a second event for the same copy).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(copy_events(&h).await?.len(), 1);
    Ok(())
}

/// As root on the target, a copy must not be turned against files another user can point it
/// at: here the unprivileged `wicketcp` owns the destination and, during a copy run as root,
/// swaps a directory the copy made for a symbolic link to a root-only file. Nothing is changed through
/// the link, directories that were there before keep their mode and mtime, and a destination
/// named through a link of that user is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn a_root_copy_never_changes_modes_through_links() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let owner = Some(nix::unistd::Uid::from_raw(uid));
    let remote = RemoteDir::new(uid)?;
    // Root's: a file and a directory only root may touch.
    let root_only = RemoteDir::new(0)?;
    fs::set_permissions(&root_only.0, fs::Permissions::from_mode(0o700))?;
    let victim = root_only.0.join("victim");
    fs::write(&victim, b"root only")?;
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600))?;
    let victim_mtime = mtime(&victim)?;

    // The tree: site/{keep/, sub/, zbig}, directories mode 0777, sent in that order.
    let tree = h.dir.path().join("site");
    for d in ["keep", "sub"] {
        fs::create_dir_all(tree.join(d))?;
        fs::set_permissions(tree.join(d), fs::Permissions::from_mode(0o777))?;
    }
    fs::set_permissions(&tree, fs::Permissions::from_mode(0o777))?;
    big_file(&tree.join("zbig"), 512)?;
    // On the target, site/ and site/keep/ exist already, the user's, mode 0700.
    let site = remote.0.join("site");
    for d in [&site, &site.join("keep")] {
        fs::create_dir(d)?;
        nix::unistd::chown(d, owner, None)?;
        fs::set_permissions(d, fs::Permissions::from_mode(0o700))?;
    }
    set_mtime(&site.join("keep"), 1_300_000_000)?;

    let child = h
        .admin
        .command()
        .args([
            "cp",
            "-r",
            "--user",
            "root",
            s(&tree),
            &format!("web-1:{}/", s(&remote.0)),
        ])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    // Once the big file is on its way (site/sub made and done with), the user swaps site/sub
    // for a link of theirs to the root-only file.
    let started = wicket_testkit::wait_until(Duration::from_secs(30), || {
        names(&site).iter().any(|n| {
            n.starts_with(".wicket-cp.zbig.")
                && fs::metadata(site.join(n)).is_ok_and(|m| m.len() > 1 << 20)
        })
    })
    .await;
    assert!(started, "the copy never started: {:?}", names(&site));
    fs::rename(site.join("sub"), site.join("sub.moved"))?;
    std::os::unix::fs::symlink(&victim, site.join("sub"))?;
    std::os::unix::fs::lchown(site.join("sub"), Some(uid), None)?;
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .context("the copy did not end")??;
    assert!(out.status.success(), "{}", show(&out));

    let m = fs::metadata(&victim)?;
    assert_eq!(m.mode() & 0o7777, 0o600, "the victim's mode changed");
    assert_eq!(mtime(&victim)?, victim_mtime, "the victim's mtime changed");
    assert_eq!(fs::read(&victim)?, b"root only");
    // The directory the copy made got its mode, on the directory itself.
    assert_eq!(fs::metadata(site.join("sub.moved"))?.mode() & 0o7777, 0o777);
    // Directories that were there keep their mode (and mtime, when nothing was added).
    assert_eq!(fs::metadata(&site)?.mode() & 0o7777, 0o700);
    assert_eq!(fs::metadata(site.join("keep"))?.mode() & 0o7777, 0o700);
    assert_eq!(
        mtime(&site.join("keep"))?,
        UNIX_EPOCH + Duration::from_secs(1_300_000_000)
    );
    assert_eq!(
        sha256_file(&site.join("zbig"))?,
        sha256_file(&tree.join("zbig"))?
    );
    fs::remove_file(site.join("zbig"))?;

    // A destination named through the user's link is not followed by a root copy.
    let link = remote.0.join("elsewhere");
    std::os::unix::fs::symlink(&root_only.0, &link)?;
    std::os::unix::fs::lchown(&link, Some(uid), None)?;
    let small = h.dir.path().join("small.txt");
    fs::write(&small, b"small")?;
    let out = h
        .admin
        .run(
            &[
                "cp",
                "--user",
                "root",
                s(&small),
                &format!("web-1:{}/", s(&link)),
            ],
            None,
        )
        .await?;
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a symbolic link owned by uid"),
        "{}",
        show(&out)
    );
    assert_eq!(names(&root_only.0), ["victim"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn a_copy_outside_policy_is_refused() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    h.admin
        .set_policies(
            r#"@id("admins")
permit(principal, action, resource) when { principal.admin };

@id("bob-connects-only")
permit(principal == Wicket::User::"bob", action == Wicket::Action::"connect", resource);

@id("bob-copies-as-nobody")
permit(principal == Wicket::User::"bob", action == Wicket::Action::"copy", resource)
    when { context has run_as && context.run_as == "nobody" };
"#,
        )
        .await?;
    let bob = h.user("bob", "bob-password-123").await?;
    let remote = RemoteDir::new(uid)?;
    let local = h.dir.path().join("f.txt");
    fs::write(&local, b"data")?;
    let out = bob
        .run(
            &[
                "cp",
                "--user",
                RUN_AS,
                s(&local),
                &format!("web-1:{}/", s(&remote.0)),
            ],
            None,
        )
        .await?;
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "bob may not copy files on target web-1 as {RUN_AS}: no policy permits it"
        )),
        "{}",
        show(&out)
    );
    assert!(names(&remote.0).is_empty());
    let line = copy_log(&h, "end=\"refused\"")
        .await
        .or(copy_log(&h, "end=refused").await)?;
    assert!(line.contains("user=bob"), "{line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn revocation_ends_a_copy() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    h.admin
        .set_policies(&format!(
            r#"@id("admins")
permit(principal, action, resource) when {{ principal.admin }};

@id("devs-copy")
permit(principal in Wicket::Group::"devs", action == Wicket::Action::"copy", resource)
    when {{ context has run_as && context.run_as == "{RUN_AS}" }};
"#
        ))
        .await?;
    let bob = h.user("bob", "bob-password-123").await?;
    h.admin.ok(&["admin", "groups", "create", "devs"]).await?;
    h.admin
        .ok(&["admin", "groups", "add-member", "devs", "bob"])
        .await?;
    let remote = RemoteDir::new(uid)?;
    let local = h.dir.path().join("big.bin");
    big_file(&local, 512)?;
    let err_file = h.dir.path().join("cp.err");
    let mut child = bob
        .command()
        .args([
            "cp",
            "--user",
            RUN_AS,
            s(&local),
            &format!("web-1:{}/big.bin", s(&remote.0)),
        ])
        .stderr(fs::File::create(&err_file)?)
        .kill_on_drop(true)
        .spawn()?;
    let started = wicket_testkit::wait_until(Duration::from_secs(30), || {
        names(&remote.0)
            .iter()
            .any(|n| fs::metadata(remote.0.join(n)).is_ok_and(|m| m.len() > 1 << 20))
    })
    .await;
    assert!(started, "the copy never started");
    h.admin
        .ok(&["admin", "groups", "remove-member", "devs", "bob"])
        .await?;
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .context("the copy outlived the revocation")??;
    assert!(!status.success());
    let err = fs::read_to_string(&err_file)?;
    assert!(err.contains("access revoked"), "{err}");
    let clean =
        wicket_testkit::wait_until(Duration::from_secs(20), || names(&remote.0).is_empty()).await;
    assert!(clean, "left behind: {:?}", names(&remote.0));
    let _ = copy_log(&h, "end=\"revoked\"")
        .await
        .or(copy_log(&h, "end=revoked").await)?;
    Ok(())
}

/// An agent that speaks protocol version 2 (before `wicket cp`): the server refuses the copy
/// with a message saying what to upgrade, and never sends it a channel type it cannot decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_a_version_2_agent_is_refused_clearly() -> Result<()> {
    let h = Harness::start(bins!()).await?;
    let mut old = h.old_agent("old-2", 2).await?;
    let local = h.dir.path().join("f.txt");
    fs::write(&local, b"data")?;
    let out = h
        .admin
        .run(&["cp", "--user", "root", s(&local), "old-2:/tmp/"], None)
        .await?;
    assert!(!out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("speaks protocol version 2") && err.contains("upgrade wicket-agent"),
        "{}",
        show(&out)
    );
    // Without --user, an agent that predates reporting its user gets no copy as "nobody
    // named" either.
    let out = h.admin.run(&["cp", s(&local), "old-2:/tmp/"], None).await?;
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("name the user to run as"),
        "{}",
        show(&out)
    );
    assert!(
        old.seen.try_recv().is_err(),
        "the old agent was sent a channel"
    );
    assert!(!old.mux.is_closed(), "the old agent's link was dropped");
    Ok(())
}

/// On a terminal, stderr shows a progress line with the rate and ETA (and nothing otherwise,
/// see `a_1_gib_file_both_ways_keeps_its_sha256`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_root),
    ignore = "needs root: the agent switches to the run-as user"
)]
async fn a_progress_bar_on_a_terminal() -> Result<()> {
    let uid = run_as_user()?;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let remote = RemoteDir::new(uid)?;
    let local = h.dir.path().join("big.bin");
    big_file(&local, 64)?;
    let script = format!(
        "{} cp --user {RUN_AS} {} web-1:{}/; echo \"rc=$?\"",
        h.bins.wicket.display(),
        s(&local),
        s(&remote.0)
    );
    let cmd = pty_process::Command::new("sh")
        .args(["-c", &script])
        .env("XDG_CONFIG_HOME", &h.admin.config_home);
    let mut term = wicket_testkit::Terminal::spawn(cmd, 100, 24)?;
    term.expect("rc=0", Duration::from_secs(120)).await?;
    let screen = String::from_utf8_lossy(&term.screen).into_owned();
    assert!(screen.contains("big.bin"), "{screen}");
    assert!(
        screen.contains("100%") && screen.contains("64.0 MiB"),
        "{screen}"
    );
    assert!(screen.contains("/s") && screen.contains("ETA"), "{screen}");
    assert_eq!(
        sha256_file(&remote.0.join("big.bin"))?,
        sha256_file(&local)?
    );
    Ok(())
}
