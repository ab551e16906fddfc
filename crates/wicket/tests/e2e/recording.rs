//! Server-side session recording, end to end: what the client received replays byte for byte,
//! a changed byte is caught against the sealed hash, replay/watch/terminate follow the policy,
//! a recording store outage refuses sessions (fail closed) and recovers, and a session
//! streaming as fast as it can keeps the server's memory flat.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use tokio::io::AsyncReadExt;
use wicket_recording::Cast;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Cli, Harness};

/// The session list, as JSON.
async fn sessions(cli: &Cli, extra: &[&str]) -> Result<Vec<serde_json::Value>> {
    let mut args = vec!["sessions", "--output", "json"];
    args.extend_from_slice(extra);
    Ok(serde_json::from_str(&cli.ok(&args).await?)?)
}

/// Session `id` from the list through `cli` once its history says it ended; none if that
/// takes more than 15 s.
async fn ended_session(cli: &Cli, id: &str) -> Result<Option<serde_json::Value>> {
    for _ in 0..150 {
        let list = sessions(cli, &[]).await?;
        if let Some(s) = list
            .into_iter()
            .find(|s| s["id"] == id && !s["ended_at"].is_null())
        {
            return Ok(Some(s));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}

/// The session list once its newest session has ended: the server completes the history (and
/// seals the recording) just after the client sees the exit.
async fn settled(cli: &Cli) -> Result<Vec<serde_json::Value>> {
    for _ in 0..100 {
        let list = sessions(cli, &[]).await?;
        if list.first().is_some_and(|s| !s["ended_at"].is_null()) {
            return Ok(list);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the newest session never ended in the history")
}

/// Makes a local recording store unwritable, as a full disk would: the folder is moved aside
/// and a file takes its place.
fn break_store(store: &std::path::Path) -> Result<()> {
    std::fs::rename(store, store.with_extension("moved"))?;
    std::fs::write(store, b"the store is gone")?;
    Ok(())
}

/// Every chunk file of a session's recording in a local store.
fn chunks(store: &std::path::Path, id: &str) -> Result<Vec<std::path::PathBuf>> {
    let dir = store.join("recordings").join(id);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("chunk-"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A session's recording in the local store: its size as stored, and its text decompressed.
fn stored_text(data_dir: &std::path::Path, id: &str) -> Result<(usize, String)> {
    let mut stored = 0;
    let mut text = String::new();
    for f in chunks(&data_dir.join("recordings"), id)? {
        let bytes = std::fs::read(f)?;
        stored += bytes.len();
        text.push_str(&String::from_utf8(zstd::decode_all(&bytes[..])?)?);
    }
    Ok((stored, text))
}

/// `wicket audit verify --recordings` fails and names the recording of session `id` as altered.
async fn audit_names_altered(admin: &Cli, id: &str) -> Result<()> {
    let audit = admin
        .run(&["audit", "verify", "--recordings"], None)
        .await?;
    ensure!(!audit.status.success(), "{}", show(&audit));
    ensure!(
        String::from_utf8_lossy(&audit.stderr).contains(&format!("recording of {id} was ALTERED")),
        "{}",
        show(&audit)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_replays_byte_for_byte_and_a_changed_byte_is_caught() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("rec-1").await?;
    let script = r"printf 'h\303\251llo \342\234\223\n\033[1mbold\033[0m\n'; seq 1 3000; echo done";
    let out = h
        .admin
        // Plain output, so the tamperer below finds the word in the stored text whatever
        // the agent's reads were (compressed output has a test of its own).
        .run(&["connect", "--no-compress", "rec-1", "--", script], None)
        .await?;
    ensure!(out.status.success(), "{}", show(&out));
    let received = String::from_utf8(out.stdout.clone())?;
    ensure!(received.starts_with("héllo ✓\n") && received.ends_with("done\n"));

    let list = settled(&h.admin).await?;
    let s = list.first().context("no session listed")?;
    let id = s["id"].as_str().context("id")?.to_string();
    ensure!(s["recording"] == "recorded", "{s}");
    ensure!(s["exit_status"] == "code 0", "{s}");
    ensure!(s["bytes_out"] == received.len() as u64, "{s}");
    ensure!(
        s["recording_sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64),
        "{s}"
    );

    // Raw: a valid asciicast v2 file whose output is exactly what the client got.
    let raw = h.admin.run(&["replay", &id, "--raw"], None).await?;
    ensure!(raw.status.success(), "{}", show(&raw));
    let cast = Cast::parse(std::str::from_utf8(&raw.stdout)?)?;
    ensure!(
        cast.output() == received,
        "recorded output differs from what the client received"
    );
    let meta = cast.header.wicket.as_ref().context("wicket header")?;
    ensure!(meta.user == "admin" && meta.target == "rec-1" && meta.session_id == id);

    replays_and_verifies(&h.admin, &id, &out.stdout, 1).await?;
    replay_keeps_terminal_answers_from_the_shell(&h, "rec-1").await?;

    // Someone with access to the store edits the recording: replay refuses it.
    let store = h.server.data_dir.join("recordings");
    let files = chunks(&store, &id)?;
    // Chunks are compressed: a tamperer decompresses one, edits it and compresses it again,
    // so it reads back cleanly and only the sealed hash can tell.
    let text_of = |f: &std::path::PathBuf| -> Option<String> {
        let stored = std::fs::read(f).ok()?;
        String::from_utf8(zstd::decode_all(&stored[..]).ok()?).ok()
    };
    let victim = files
        .iter()
        .find(|f| text_of(f).is_some_and(|t| t.contains("bold")));
    let victim = victim.context("no chunk holds the word")?;
    let text = text_of(victim)
        .context("chunk text")?
        .replacen("bold", "BOLD", 1);
    std::fs::write(
        victim,
        wicket_recording::compress::compress_chunk(text.as_bytes())?,
    )?;
    let tampered = h.admin.run(&["replay", &id, "--raw"], None).await?;
    ensure!(
        !tampered.status.success(),
        "a changed recording replayed: {}",
        show(&tampered)
    );
    ensure!(
        String::from_utf8_lossy(&tampered.stderr).contains("altered"),
        "{}",
        show(&tampered)
    );
    // And the audit check of recordings against the hashes sealed in the chain names it.
    audit_names_altered(&h.admin, &id).await?;

    // A flipped bit in the compressed bytes: the chunk no longer decompresses (zstd's
    // checksum), so replay says it is damaged rather than showing other text, and the stored
    // bytes no longer match the sealed hash.
    let mut stored = std::fs::read(victim)?;
    let at = stored.len() / 2;
    stored[at] ^= 0x01;
    std::fs::write(victim, stored)?;
    let damaged = h.admin.run(&["replay", &id, "--raw"], None).await?;
    ensure!(!damaged.status.success(), "{}", show(&damaged));
    ensure!(
        String::from_utf8_lossy(&damaged.stderr).contains("damaged"),
        "{}",
        show(&damaged)
    );
    audit_names_altered(&h.admin, &id).await?;
    Ok(())
}

/// Bulk output travels compressed (the agent sends ZDATA, the server records the frames as
/// they came, as `z` events) and still reaches the client, the replay and `--raw` exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_output_travels_and_is_stored_compressed_and_replays_exactly() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("rec-z").await?;
    let out = h
        .admin
        .run(
            &[
                "connect",
                "rec-z",
                "--",
                "seq 1 200000; printf 'caf\\303\\251\\n'",
            ],
            None,
        )
        .await?;
    ensure!(out.status.success(), "{}", show(&out));
    let mut want: String = (1..=200_000).map(|i| format!("{i}\n")).collect();
    want.push_str("café\n");
    ensure!(
        out.stdout == want.as_bytes(),
        "the client received other output"
    );

    let list = settled(&h.admin).await?;
    let s = list.first().context("no session listed")?;
    let id = s["id"].as_str().context("id")?.to_string();
    ensure!(s["bytes_out"] == want.len() as u64, "{s}");

    // Stored: z events, a fraction of the output's size.
    let (stored, text) = stored_text(&h.server.data_dir, &id)?;
    ensure!(
        text.contains(",\"z\",\""),
        "no compressed output was recorded"
    );
    ensure!(
        stored * 3 < want.len(),
        "{stored} bytes stored for {}",
        want.len()
    );

    // `--raw` is plain asciicast (no z events) with exactly that output; replay prints it.
    let raw = h.admin.run(&["replay", &id, "--raw"], None).await?;
    ensure!(raw.status.success(), "{}", show(&raw));
    let cast = Cast::parse(std::str::from_utf8(&raw.stdout)?)?;
    ensure!(cast.events.iter().all(|e| e.code() != "z"));
    ensure!(
        cast.output() == want,
        "--raw differs from what the client received"
    );
    replays_and_verifies(&h.admin, &id, &out.stdout, 1).await?;

    // Asked for plain output, the agent sends none compressed: no z events are recorded.
    let plain = h
        .admin
        .run(
            &[
                "connect",
                "--no-compress",
                "rec-z",
                "--",
                "seq 1 200000; printf 'caf\\303\\251\\n'",
            ],
            None,
        )
        .await?;
    ensure!(plain.stdout == want.as_bytes(), "{}", show(&plain));
    let list = settled(&h.admin).await?;
    let id = list.first().and_then(|s| s["id"].as_str()).context("id")?;
    let (_, text) = stored_text(&h.server.data_dir, id)?;
    ensure!(
        !text.contains(",\"z\",\""),
        "compressed output recorded after --no-compress"
    );
    replay_through_head_ends_quietly(&h.admin, id).await?;
    Ok(())
}

/// Played back (fast), session `id` gives the terminal `received` again, and `wicket audit
/// verify --recordings` finds the `sealed` recordings sealed so far intact.
/// `wicket replay | head`, played and raw: the reader goes away long before the end of a
/// recording larger than a pipe holds, and the replay ends quietly, with status 0.
async fn replay_through_head_ends_quietly(admin: &Cli, id: &str) -> Result<()> {
    for how in ["--raw", "--speed=1000000"] {
        let script = format!(
            "{} replay {id} {how} | head -c 10 >/dev/null; echo \"status ${{PIPESTATUS[0]}}\"",
            admin.bin.display()
        );
        let out = tokio::process::Command::new("bash")
            .args(["-c", &script])
            .env("XDG_CONFIG_HOME", &admin.config_home)
            .output()
            .await?;
        ensure!(
            String::from_utf8_lossy(&out.stderr).trim().is_empty(),
            "{how}: {}",
            show(&out)
        );
        ensure!(
            String::from_utf8_lossy(&out.stdout).trim() == "status 0",
            "{how}: {}",
            show(&out)
        );
    }
    Ok(())
}

/// A recording holding terminal queries (a device-attributes request, a cursor position
/// report, a background colour query) replayed on a real terminal: the queries never reach
/// it, and what the terminal types while the replay plays (as it would answer) is discarded
/// instead of reaching the shell that runs next.
async fn replay_keeps_terminal_answers_from_the_shell(h: &Harness, target: &str) -> Result<()> {
    let script = r"printf 'before[c[6n]11;?'; sleep 1; printf 'after
'";
    let out = h
        .admin
        .run(&["connect", "--no-compress", target, "--", script], None)
        .await?;
    ensure!(out.status.success(), "{}", show(&out));
    let list = settled(&h.admin).await?;
    let id = list.first().context("no session")?["id"]
        .as_str()
        .context("id")?
        .to_string();
    let raw = h.admin.run(&["replay", &id, "--raw"], None).await?;
    ensure!(
        String::from_utf8_lossy(&raw.stdout).contains("\\u001b[6n"),
        "the recording lacks the query: {}",
        show(&raw)
    );
    let cmd = pty_process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "{} replay {id}; read -t 2 line; echo \"got:[$line]\"",
                h.bins.wicket.display()
            ),
        ])
        .env("XDG_CONFIG_HOME", &h.admin.config_home)
        .env("TERM", "xterm-256color");
    let mut term = wicket_testkit::pty::Terminal::spawn(cmd, 80, 24)?;
    let at = term.expect("before", Duration::from_secs(10)).await?;
    // The terminal answers, as a real one would, while the replay plays.
    term.write(b"\x1b[?62;22c\x1b[24;80R\n").await?;
    let end = term
        .expect_from(at, "got:[", Duration::from_secs(10))
        .await?;
    let shown = term.expect_from(end, "]", Duration::from_secs(5)).await?;
    let screen = String::from_utf8_lossy(&term.screen).into_owned();
    ensure!(shown == end + 1, "the answer reached the shell: {screen:?}");
    for query in ["\x1b[c", "\x1b[6n", "\x1b]11;?"] {
        ensure!(
            !screen.contains(query),
            "{query:?} reached the terminal: {screen:?}"
        );
    }
    ensure!(screen.contains("after"), "{screen:?}");
    ensure!(
        !screen.contains("62;22c"),
        "the answer was echoed: {screen:?}"
    );
    Ok(())
}

async fn replays_and_verifies(admin: &Cli, id: &str, received: &[u8], sealed: usize) -> Result<()> {
    let played = admin.run(&["replay", id, "--speed", "1000"], None).await?;
    ensure!(played.status.success(), "{}", show(&played));
    ensure!(
        played.stdout == received,
        "replay differs from the original output"
    );
    let verified = admin
        .run(&["audit", "verify", "--recordings"], None)
        .await?;
    ensure!(verified.status.success(), "{}", show(&verified));
    let want = format!("recordings OK: {sealed} match");
    ensure!(
        String::from_utf8_lossy(&verified.stdout).contains(&want),
        "{}",
        show(&verified)
    );
    Ok(())
}

const ALICE_MAY_CONNECT: &str = r#"
permit(principal, action, resource) when { principal.admin };
permit(principal, action == Wicket::Action::"list_targets", resource);
permit(
    principal == Wicket::User::"alice",
    action in [Wicket::Action::"connect", Wicket::Action::"exec"],
    resource
);
"#;

/// A session of `user`'s on `target` printing "tick N" ten times a second until it is ended,
/// and its id once the server lists it as active. Each tick is padded past 512 bytes, so the
/// agent sends it compressed and watchers see it through the server's inflating (live) or the
/// recording's `z` events (another replica).
async fn ticking_session(
    h: &Harness,
    user: &Cli,
    target: &str,
) -> Result<(tokio::process::Child, String)> {
    let session = user
        .command()
        .args(["connect", target, "--"])
        .arg("i=0; pad=$(printf '%600s' ''); while true; i=$((i+1)); do echo tick $i$pad; sleep 0.1; done")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut live = Vec::new();
    for _ in 0..100 {
        live = sessions(&h.admin, &["--active"]).await?;
        if !live.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = live.first().context("the session never showed as active")?["id"]
        .as_str()
        .context("id")?
        .to_string();
    Ok((session, id))
}

/// `wicket watch ID` through `cli`, once its output has shown a tick (within `within`).
async fn watch_until_tick(
    cli: &Cli,
    id: &str,
    within: Duration,
) -> Result<(tokio::process::Child, tokio::process::ChildStdout)> {
    let mut watch = cli
        .command()
        .args(["watch", id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut watched = watch.stdout.take().context("stdout")?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        while !String::from_utf8_lossy(&seen).contains("tick") {
            let n = watched.read(&mut buf).await?;
            anyhow::ensure!(
                n > 0,
                "watch ended early: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        anyhow::Ok(())
    })
    .await
    .context("no output reached the watcher")??;
    Ok((watch, watched))
}

/// A session on `target` prints a marker and then nothing; a watcher joining it afterwards is
/// shown the marker (the screen as it stands), not a blank terminal.
async fn watch_shows_the_screen_first(h: &Harness, target: &str) -> Result<()> {
    let _session = h
        .admin
        .command()
        .args([
            "connect",
            target,
            "--",
            "printf 'screen-%s\\n' marker; exec sleep 60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut id = None;
    for _ in 0..100 {
        let live = sessions(&h.admin, &["--active"]).await?;
        id = live
            .iter()
            .find(|s| {
                s["command"]
                    .as_str()
                    .is_some_and(|c| c.contains("screen-%s"))
            })
            .and_then(|s| s["id"].as_str().map(str::to_string));
        if id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = id.context("the quiet session never showed as active")?;
    // Its output is out before the watcher comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut watch = h
        .admin
        .command()
        .args(["watch", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut watched = watch.stdout.take().context("stdout")?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&seen).contains("screen-marker") {
            let n = watched.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "watch ended: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        anyhow::Ok(())
    })
    .await
    .with_context(|| {
        format!(
            "the watcher was not shown the screen: {:?}",
            String::from_utf8_lossy(&seen)
        )
    })??;
    h.admin.ok(&["sessions", "terminate", &id]).await?;
    Ok(())
}

/// The terminated session ends (within `within`) telling its user the admin did it (exit
/// 255), and the watcher's stream ends with it.
async fn ended_by_admin(
    session: &mut tokio::process::Child,
    watched: &mut tokio::process::ChildStdout,
    within: Duration,
) -> Result<()> {
    let status = tokio::time::timeout(within, session.wait())
        .await
        .context("the terminated session did not end")??;
    let mut err = String::new();
    session
        .stderr
        .take()
        .context("stderr")?
        .read_to_string(&mut err)
        .await?;
    ensure!(status.code() == Some(255), "{status:?} {err}");
    ensure!(err.contains("terminated by admin"), "{err}");
    let mut rest = Vec::new();
    tokio::time::timeout(within, watched.read_to_end(&mut rest))
        .await
        .context("the watcher did not end with the session")??;
    let rest = String::from_utf8_lossy(&rest);
    ensure!(rest.contains("session ended"), "{rest}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_watch_and_terminate_follow_the_policy() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("rec-2").await?;
    h.admin.set_policies(ALICE_MAY_CONNECT).await?;
    let alice = h.user("alice", "alice-password-1").await?;

    // A long session of alice's, ticking.
    let (mut session, id) = ticking_session(&h, &alice, "rec-2").await?;

    // Alice sees her own session, but the policy does not let her replay, watch or end it.
    let hers = sessions(&alice, &[]).await?;
    ensure!(hers.iter().any(|s| s["id"] == id.as_str()));
    for args in [
        vec!["replay", id.as_str(), "--raw"],
        vec!["watch", id.as_str()],
        vec!["sessions", "terminate", id.as_str()],
    ] {
        let out = alice.run(&args, None).await?;
        ensure!(!out.status.success(), "alice ran {args:?}: {}", show(&out));
        ensure!(
            String::from_utf8_lossy(&out.stderr).contains("may not"),
            "{}",
            show(&out)
        );
    }

    // A watcher joining a quiet session sees its screen as it is, with no new output.
    watch_shows_the_screen_first(&h, "rec-2").await?;

    // The admin watches it live...
    let (_watch, mut watched) = watch_until_tick(&h.admin, &id, Duration::from_secs(10)).await?;

    // ...and ends it: alice is told who did, the watcher sees the end.
    h.admin.ok(&["sessions", "terminate", &id]).await?;
    ended_by_admin(&mut session, &mut watched, Duration::from_secs(5)).await?;

    let ended = settled(&h.admin).await?;
    let s = ended
        .iter()
        .find(|s| s["id"] == id.as_str())
        .context("listed")?;
    ensure!(
        s["end_reason"]
            .as_str()
            .is_some_and(|r| r.contains("terminated by admin")),
        "{s}"
    );
    ensure!(s["recording"] == "recorded", "{s}");
    Ok(())
}

/// A session relayed by one wicketd is watched and then terminated through another on the same
/// PostgreSQL and recording store: the second follows the recording as its chunks land, and
/// records the termination request, which the first finds and acts on within seconds.
/// SQLite is one server's file: skipped there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_and_terminate_reach_a_session_relayed_by_another_replica() -> Result<()> {
    if wicket_store::testing::postgres_base_url().is_none() {
        eprintln!("WICKET_TEST_DATABASE_URL not set; two servers need PostgreSQL");
        return Ok(());
    }
    let shared = tempfile::tempdir()?;
    let store = shared
        .path()
        .to_str()
        .context("UTF-8 temporary path")?
        .to_string();
    let mut h = Harness::start_with(bins!(), &[("WICKET_RECORDING_STORE", store.as_str())]).await?;
    h.add_agent("rep-1").await?;
    h.admin.set_policies(ALICE_MAY_CONNECT).await?;
    let alice = h.user("alice", "alice-password-1").await?;
    let (mut session, id) = ticking_session(&h, &alice, "rep-1").await?;

    let env = [("WICKET_RECORDING_STORE".to_string(), store.clone())];
    let (second, admin2) = h.second_server(&env).await?;

    // The second server follows the session through its recording, a flush interval late.
    let (_watch, mut watched) = watch_until_tick(&admin2, &id, Duration::from_secs(15)).await?;

    let out = admin2.run(&["sessions", "terminate", &id], None).await?;
    ensure!(out.status.success(), "{}", show(&out));
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("asked it to end"),
        "{}",
        show(&out)
    );
    ended_by_admin(&mut session, &mut watched, Duration::from_secs(15)).await?;

    // Done: asking again, through either server, is refused.
    for cli in [&admin2, &h.admin] {
        let out = cli.run(&["sessions", "terminate", &id], None).await?;
        ensure!(!out.status.success(), "{}", show(&out));
    }
    drop(second);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_refuses_sessions_ends_live_ones_and_recovers() -> Result<()> {
    let store_dir = tempfile::tempdir()?;
    let store = store_dir.path().join("rec");
    let store_str = store.to_str().context("path")?.to_string();
    let mut h = Harness::start_with(bins!(), &[("WICKET_RECORDING_STORE", &store_str)]).await?;
    h.add_agent("rec-3").await?;
    h.admin.ok(&["connect", "rec-3", "--", "true"]).await?;

    // A session that is running when the store goes away is ended, saying why.
    let mut running = h
        .admin
        .command()
        .args([
            "connect",
            "rec-3",
            "--",
            "while true; do echo x; sleep 0.02; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    break_store(&store)?;
    let status = tokio::time::timeout(Duration::from_secs(20), running.wait())
        .await
        .context("a session outlived its recording store")??;
    let mut err = String::new();
    running
        .stderr
        .take()
        .context("stderr")?
        .read_to_string(&mut err)
        .await?;
    ensure!(
        status.code() == Some(255) && err.contains("recording failed"),
        "{status:?} {err}"
    );

    // New sessions are refused with the reason.
    let out = h
        .admin
        .run(&["connect", "rec-3", "--", "echo should-not-run"], None)
        .await?;
    ensure!(out.status.code() == Some(255), "{}", show(&out));
    ensure!(!String::from_utf8_lossy(&out.stdout).contains("should-not-run"));
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be recorded"),
        "{}",
        show(&out)
    );

    // The store comes back: sessions work again, recorded.
    std::fs::remove_file(&store)?;
    std::fs::create_dir_all(&store)?;
    let ok = h.admin.ok(&["connect", "rec-3", "--", "echo back"]).await?;
    ensure!(ok == "back\n");
    let list = settled(&h.admin).await?;
    ensure!(list[0]["recording"] == "recorded", "{}", list[0]);
    ensure!(
        list.iter().any(|s| s["recording"] == "failed"),
        "the cut session is marked failed"
    );
    Ok(())
}

/// Fail closed means no more than a bounded amount of output reaches the user ahead of the
/// store: a session that prints 8 MB after its store has gone is cut off within two
/// recording chunks (1 MiB) and never ends with its own exit status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_never_runs_far_ahead_of_a_failed_store() -> Result<()> {
    let store_dir = tempfile::tempdir()?;
    let store = store_dir.path().join("rec");
    let store_str = store.to_str().context("path")?.to_string();
    let mut h = Harness::start_with(bins!(), &[("WICKET_RECORDING_STORE", &store_str)]).await?;
    h.add_agent("rec-4").await?;
    let mut session = h
        .admin
        .command()
        .args([
            "connect",
            "rec-4",
            "--no-compress",
            "--",
            "echo started; sleep 2; yes wicket | head -c 8000000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    // The store goes (as a full disk would) once the session runs, while the command sleeps.
    let mut stdout = session.stdout.take().context("stdout")?;
    let mut first = [0u8; 8];
    tokio::time::timeout(Duration::from_secs(30), stdout.read_exact(&mut first))
        .await
        .context("the session did not start")??;
    ensure!(&first == b"started\n");
    break_store(&store)?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_to_end(&mut out))
        .await
        .context("the session outlived its store")??;
    let status = session.wait().await?;
    let mut err = String::new();
    session
        .stderr
        .take()
        .context("stderr")?
        .read_to_string(&mut err)
        .await?;
    ensure!(
        status.code() == Some(255) && err.contains("recording failed"),
        "{status:?} {err}"
    );
    // Two 512 KiB chunks, plus a frame in flight.
    ensure!(
        out.len() <= 1024 * 1024 + 128 * 1024,
        "{} bytes reached the user with the store gone",
        out.len()
    );
    let list = settled(&h.admin).await?;
    ensure!(list[0]["recording"] == "failed", "{}", list[0]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_runs_unrecorded_and_says_so() -> Result<()> {
    let store_dir = tempfile::tempdir()?;
    let store = store_dir.path().join("not-a-folder");
    std::fs::write(&store, b"x")?;
    let store_str = store.to_str().context("path")?.to_string();
    // The store must exist at start-up; break it after.
    std::fs::remove_file(&store)?;
    let mut h = Harness::start_with(
        bins!(),
        &[
            ("WICKET_RECORDING_STORE", &store_str),
            ("WICKET_RECORDING_ON_STORE_FAILURE", "open"),
        ],
    )
    .await?;
    h.add_agent("rec-4").await?;
    std::fs::remove_dir_all(&store)?;
    std::fs::write(&store, b"x")?;
    let ok = h
        .admin
        .ok(&["connect", "rec-4", "--", "echo unrecorded"])
        .await?;
    ensure!(ok == "unrecorded\n");
    let list = settled(&h.admin).await?;
    ensure!(list[0]["recording"] == "unrecorded", "{}", list[0]);
    Ok(())
}

/// Resident and peak memory of a process, KiB.
fn memory(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |k: &str| -> Result<u64> {
        let line = status.lines().find(|l| l.starts_with(k)).context("field")?;
        Ok(line.split_whitespace().nth(1).context("value")?.parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_a_flood_keeps_server_memory_flat() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("rec-5").await?;
    h.admin.ok(&["connect", "rec-5", "--", "true"]).await?;
    let pid = h.server.pid().context("server pid")?;
    let (before, _) = memory(pid)?;
    let status = h
        .admin
        .command()
        .args([
            "connect",
            "rec-5",
            "--",
            "head -c 150000000 /dev/urandom | base64",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await?;
    ensure!(status.success());
    let (_, peak) = memory(pid)?;
    let list = settled(&h.admin).await?;
    ensure!(
        list[0]["bytes_out"].as_u64() > Some(200_000_000),
        "{}",
        list[0]
    );
    ensure!(list[0]["recording"] == "recorded", "{}", list[0]);
    eprintln!("server RSS before {before} KiB, peak after {peak} KiB");
    // About 200 MB went through the recorder; what it may hold is a few MiB.
    ensure!(
        peak < before + 64 * 1024,
        "server memory grew from {before} KiB to a peak of {peak} KiB"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_s3),
    ignore = "needs s3s-fs: cargo install s3s-fs --version 0.14.1 --features binary --locked"
)]
async fn recordings_go_to_an_s3_server_and_an_outage_fails_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut s3 = wicket_testkit::S3Server::start(&dir.path().join("s3"), "wicket").await?;
    let config = dir.path().join("wicketd.toml");
    std::fs::write(
        &config,
        format!(
            "[recording.store]\nurl = \"s3://wicket/rec\"\nendpoint = \"{}\"\naccess_key_id = \"{}\"\nallow_http = true\n",
            s3.endpoint,
            wicket_testkit::s3::ACCESS_KEY
        ),
    )?;
    let config = config.to_str().context("path")?.to_string();
    let mut h = Harness::start_with(
        bins!(),
        &[
            ("WICKET_CONFIG", &config),
            (
                "WICKET_S3_SECRET_ACCESS_KEY",
                wicket_testkit::s3::SECRET_KEY,
            ),
        ],
    )
    .await?;
    h.add_agent("rec-s3").await?;
    let out = h
        .admin
        .run(&["connect", "rec-s3", "--", "seq 1 20000"], None)
        .await?;
    ensure!(out.status.success(), "{}", show(&out));
    let list = settled(&h.admin).await?;
    let id = list[0]["id"].as_str().context("id")?.to_string();
    ensure!(list[0]["recording"] == "recorded", "{}", list[0]);

    // The objects are in the bucket, under the prefix, and read back through wicket.
    let stored = dir.path().join("s3/wicket/rec/recordings").join(&id);
    ensure!(
        stored.join("manifest.json").is_file(),
        "no manifest in {}",
        stored.display()
    );
    let raw = h.admin.run(&["replay", &id, "--raw"], None).await?;
    ensure!(raw.status.success(), "{}", show(&raw));
    let cast = Cast::parse(std::str::from_utf8(&raw.stdout)?)?;
    ensure!(cast.output().as_bytes() == out.stdout.as_slice());

    // The S3 server goes down: new sessions are refused, nothing panics.
    s3.stop();
    let refused = h
        .admin
        .run(&["connect", "rec-s3", "--", "true"], None)
        .await?;
    ensure!(refused.status.code() == Some(255), "{}", show(&refused));
    ensure!(
        String::from_utf8_lossy(&refused.stderr).contains("cannot be recorded"),
        "{}",
        show(&refused)
    );
    ensure!(!h.server.logs().contains("panicked"));

    // It comes back: sessions are recorded again.
    s3.restart().await?;
    let back = h
        .admin
        .ok(&["connect", "rec-s3", "--", "echo back"])
        .await?;
    ensure!(back == "back\n");
    ensure!(settled(&h.admin).await?[0]["recording"] == "recorded");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_recordings_and_audits_it() -> Result<()> {
    let mut h = Harness::start_with(bins!(), &[("WICKET_RECORDING_RETENTION", "1s")]).await?;
    h.add_agent("rec-6").await?;
    h.admin
        .ok(&["connect", "rec-6", "--", "echo kept-for-a-second"])
        .await?;
    let id = settled(&h.admin).await?[0]["id"]
        .as_str()
        .context("id")?
        .to_string();
    ensure!(h
        .admin
        .run(&["replay", &id, "--raw"], None)
        .await?
        .status
        .success());
    // Retention runs when the server starts and hourly after.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.server.restart()?;
    let mut gone = false;
    for _ in 0..50 {
        let out = h.admin.run(&["replay", &id, "--raw"], None).await?;
        if String::from_utf8_lossy(&out.stderr).contains("has no recording") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(gone, "the expired recording is still there");
    let events = h
        .admin
        .ok(&[
            "audit",
            "search",
            "--action",
            "recording",
            "--output",
            "json",
        ])
        .await?;
    ensure!(
        events.contains("recording.delete") && events.contains(&id),
        "{events}"
    );
    Ok(())
}

/// A wicketd killed with a session live cannot end its row. The server that comes back (a new
/// replica; any other on the database would do) ends it once the dead one's last sign of life
/// is older than the replica timeout, and records the end in the audit chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_of_a_killed_server_are_ended_by_the_next() -> Result<()> {
    let mut h = Harness::start_with(bins!(), &[("WICKET_REPLICA_TIMEOUT", "3s")]).await?;
    h.add_agent("rep-1").await?;
    h.admin.set_policies(ALICE_MAY_CONNECT).await?;
    let alice = h.user("alice", "alice-password-1").await?;
    let (_session, id) = ticking_session(&h, &alice, "rep-1").await?;
    // SIGKILL, then a new process on the same database.
    h.server.restart()?;
    let s = ended_session(&h.admin, &id)
        .await?
        .context("the killed server's session was never ended")?;
    ensure!(
        s["end_reason"]
            .as_str()
            .is_some_and(|r| r.contains("its wicketd stopped")),
        "{s}"
    );
    ensure!(sessions(&h.admin, &["--active"]).await?.is_empty());
    let audit = h
        .admin
        .ok(&[
            "audit",
            "search",
            "--action",
            "session.end",
            "--output",
            "json",
        ])
        .await?;
    ensure!(
        audit.contains(&id) && audit.contains("its wicketd stopped"),
        "{audit}"
    );
    Ok(())
}

/// A replica that stalls (here SIGSTOP) for longer than `replica_timeout` is taken for dead by
/// another, which ends its session in the history and the chain. When it wakes it must not go
/// on relaying what the record says has stopped: it ends the session too, telling the user
/// why. Heartbeats are long here, so the links survive the stall and only that can end it.
/// SQLite is one server's file: skipped there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_taken_for_dead_ends_its_sessions_when_it_wakes() -> Result<()> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    if wicket_store::testing::postgres_base_url().is_none() {
        eprintln!("WICKET_TEST_DATABASE_URL not set; two servers need PostgreSQL");
        return Ok(());
    }
    let env = [
        ("WICKET_REPLICA_TIMEOUT", "3s"),
        ("WICKET_HEARTBEAT", "30s"),
    ];
    let mut h = Harness::start_with(bins!(), &env).await?;
    h.add_agent("rep-1").await?;
    h.admin.set_policies(ALICE_MAY_CONNECT).await?;
    let alice = h.user("alice", "alice-password-1").await?;
    let (session, id) = ticking_session(&h, &alice, "rep-1").await?;
    let env2: Vec<_> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (_second, admin2) = h.second_server(&env2).await?;

    let first = Pid::from_raw(h.server.pid().context("the first server runs")? as i32);
    kill(first, Signal::SIGSTOP)?;
    let swept = ended_session(&admin2, &id).await;
    kill(first, Signal::SIGCONT)?;
    let s = swept?.context("the second server never took the stalled one for dead")?;
    ensure!(
        s["end_reason"]
            .as_str()
            .is_some_and(|r| r.contains("its wicketd stopped")),
        "{s}"
    );

    let out = tokio::time::timeout(Duration::from_secs(20), session.wait_with_output())
        .await
        .context("the session went on after its server woke")??;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "{err}");
    ensure!(err.contains("taken for dead"), "{err}");
    Ok(())
}
