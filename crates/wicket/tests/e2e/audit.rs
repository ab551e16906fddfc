//! The audit log through the real binaries: what `wicket audit search` shows after logins,
//! sessions, admin changes and refusals; `wicket audit verify` on a sound chain and on a
//! database edited behind the server's back (a changed field, a removed, an inserted and two
//! swapped events); export and offline verification; concurrent appends from many sessions and
//! from two servers on one PostgreSQL database. Runs on SQLite, or on PostgreSQL when
//! `WICKET_TEST_DATABASE_URL` is set.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use sqlx::Executor;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Cli, Harness, ServerProc};

/// Every event, oldest first, as `wicket audit search --output json` prints them.
async fn search(cli: &Cli, args: &[&str]) -> Result<Vec<Value>> {
    let mut all = vec!["audit", "search", "--output", "json"];
    all.extend_from_slice(args);
    let out = cli.ok(&all).await?;
    Ok(serde_json::from_str::<Vec<Value>>(&out)?)
}

/// An event's details: `--output json` shows them as the JSON object they are.
fn details(e: &Value) -> Value {
    assert!(e["details"].is_object(), "details are not an object: {e}");
    e["details"].clone()
}

fn find(events: &[Value], f: impl Fn(&Value) -> bool) -> Option<&Value> {
    events.iter().find(|e| f(e))
}

/// The server's audit public key, as an auditor would get it: from the data dir.
fn public_key(h: &Harness) -> Result<String> {
    let out = std::process::Command::new(&h.bins.wicketd)
        .args(["audit", "public-key", "--data-dir"])
        .arg(&h.server.data_dir)
        .output()?;
    ensure!(out.status.success(), "{}", show(&out));
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

async fn verify(h: &Harness) -> Result<Output> {
    let key = public_key(h)?;
    h.admin
        .run(&["audit", "verify", "--public-key", &key], None)
        .await
}

/// `wicket audit export --out OUT --segment-size SIZE [--public-key KEY]`: what it printed.
async fn export(cli: &Cli, out: &Path, size: u32, key: Option<&str>) -> Result<String> {
    let size = size.to_string();
    let mut args = vec![
        "audit",
        "export",
        "--out",
        path(out)?,
        "--segment-size",
        &size,
    ];
    if let Some(k) = key {
        args.extend(["--public-key", k]);
    }
    cli.ok(&args).await
}

/// `wicket audit verify --export DIR --public-key KEY` by an auditor with nothing else.
async fn offline(h: &Harness, dir: &Path, key: &str) -> Result<Output> {
    h.cli("auditor")
        .run(
            &[
                "audit",
                "verify",
                "--export",
                path(dir)?,
                "--public-key",
                key,
            ],
            None,
        )
        .await
}

fn broken_at(out: &Output, seq: u64, kind: &str) -> Result<()> {
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "verify passed: {}", show(out));
    ensure!(
        err.contains(&format!("BROKEN at event {seq}")) && err.contains(kind),
        "expected a break at event {seq} ({kind}): {}",
        show(out)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_shows_logins_sessions_admin_changes_and_denials() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let bob = h.user("bob", "bob-password-1").await?;

    // A session, a refused session, a refused admin call, an admin change, a failed login.
    let out = h
        .admin
        .run(&["connect", "web-1", "--", "echo hello"], None)
        .await?;
    ensure!(out.status.success(), "{}", show(&out));
    let out = bob.run(&["connect", "web-1", "--", "true"], None).await?;
    ensure!(out.status.code() == Some(255), "{}", show(&out));
    let out = bob.run(&["admin", "users", "list"], None).await?;
    ensure!(!out.status.success(), "{}", show(&out));
    h.admin.ok(&["admin", "groups", "create", "ops"]).await?;
    let out = h
        .cli("mallory")
        .login(
            &h.server.url,
            &h.server.fingerprint,
            "bob",
            "not-bobs-password",
        )
        .await?;
    ensure!(!out.status.success());

    // session.end is recorded once the relay winds down: give it a moment.
    let mut events = Vec::new();
    for _ in 0..50 {
        events = search(&h.admin, &[]).await?;
        if find(&events, |e| e["action"] == "session.end").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = serde_json::to_string(&events)?;
    ensure!(!text.contains("not-bobs-password") && !text.contains("bob-password-1"));

    let login = find(&events, |e| {
        e["action"] == "auth.login" && e["actor"] == "admin" && e["outcome"] == "success"
    })
    .context("admin login")?;
    ensure!(details(login)["token_id"]
        .as_str()
        .is_some_and(|t| t.starts_with("tok_")));
    find(&events, |e| {
        e["action"] == "auth.login" && e["actor"] == "bob" && e["outcome"] == "failure"
    })
    .context("bob's failed login")?;
    let allowed = find(&events, |e| {
        e["action"] == "authz.decision" && e["actor"] == "admin" && e["resource"] == "target:web-1"
    })
    .context("admin's session decision")?;
    ensure!(allowed["outcome"] == "success");
    ensure!(details(allowed)["policies"] == serde_json::json!(["admins-may-do-everything"]));
    let refused = find(&events, |e| {
        e["action"] == "authz.decision" && e["actor"] == "bob" && e["resource"] == "target:web-1"
    })
    .context("bob's session decision")?;
    ensure!(refused["outcome"] == "denied", "{refused}");
    find(&events, |e| {
        e["action"] == "admin.manage_users" && e["actor"] == "bob" && e["outcome"] == "denied"
    })
    .context("bob's refused admin call")?;
    let change = find(&events, |e| {
        e["action"] == "admin.manage_groups" && e["resource"] == "POST /v1/groups"
    })
    .context("the group creation")?;
    ensure!(change["actor"] == "admin" && change["outcome"] == "success");
    ensure!(details(change)["status"] == 200);
    let start = find(&events, |e| {
        e["action"] == "session.start" && e["actor"] == "admin"
    })
    .context("session start")?;
    ensure!(start["resource"] == "target:web-1");
    let end = find(&events, |e| e["action"] == "session.end").context("session end")?;
    let d = details(end);
    ensure!(
        d["exit_code"] == 0 && d["bytes_out"] == 6 && d["reason"] == "exited (code 0)",
        "{d}"
    );
    // The recording's hash is sealed into the chain.
    ensure!(d["recording"] == "recorded", "{d}");
    ensure!(
        d["recording_sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64),
        "{d}"
    );
    ensure!(d["session_id"] == details(start)["session_id"]);
    find(&events, |e| {
        e["action"] == "agent.enrol" && e["resource"] == "target:web-1"
    })
    .context("enrolment")?;
    find(&events, |e| {
        e["action"] == "agent.connect" && e["outcome"] == "success"
    })
    .context("agent link")?;

    // Filters, and the table.
    let bobs = search(&h.admin, &["--user", "bob", "--action", "authz"]).await?;
    ensure!(
        !bobs.is_empty()
            && bobs
                .iter()
                .all(|e| e["actor"] == "bob" && e["action"] == "authz.decision")
    );
    let on_web = search(&h.admin, &["--target", "web-1", "--action", "session"]).await?;
    ensure!(on_web.len() == 2, "{on_web:?}");
    let table = h
        .admin
        .ok(&["audit", "search", "--since", "1h", "--user", "admin"])
        .await?;
    ensure!(
        table.starts_with("SEQ") && table.contains("session.start"),
        "{table}"
    );
    ensure!(search(&h.admin, &["--until", "1h"]).await?.is_empty());
    // Non-admins cannot read the log.
    let out = bob.run(&["audit", "search"], None).await?;
    ensure!(!out.status.success(), "{}", show(&out));

    let out = verify(&h).await?;
    ensure!(out.status.success(), "{}", show(&out));
    ensure!(String::from_utf8_lossy(&out.stdout).contains("audit chain OK"));
    Ok(())
}

/// A harness with a few dozen events and a signed checkpoint every second.
async fn busy_harness() -> Result<Harness> {
    let h = Harness::start_with(bins!(), &[("WICKET_AUDIT_CHECKPOINT_INTERVAL", "1s")]).await?;
    for i in 0..4 {
        h.admin
            .ok(&["admin", "groups", "create", &format!("g{i}")])
            .await?;
    }
    let out = verify(&h).await?;
    ensure!(out.status.success(), "{}", show(&out));
    Ok(h)
}

/// The server's database, opened behind its back.
async fn database(h: &Harness) -> Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&h.server.database_url)
        .await?)
}

/// Runs `statements` in one transaction that first takes the chain head, as an attacker who
/// knows the schema would, so the server's own appends carry on undisturbed.
async fn tamper(h: &Harness, statements: &[String]) -> Result<()> {
    let db = database(h).await?;
    let mut tx = db.begin().await?;
    tx.execute("UPDATE audit_head SET seq = seq WHERE id = 1")
        .await?;
    for s in statements {
        tx.execute(s.as_str()).await?;
    }
    tx.commit().await?;
    db.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_field_is_found() -> Result<()> {
    let h = busy_harness().await?;
    tamper(
        &h,
        &["UPDATE audit_events SET actor = 'nobody' WHERE seq = 5".into()],
    )
    .await?;
    broken_at(&verify(&h).await?, 5, "was changed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_event_is_found() -> Result<()> {
    let h = busy_harness().await?;
    tamper(&h, &["DELETE FROM audit_events WHERE seq = 6".into()]).await?;
    broken_at(&verify(&h).await?, 6, "was removed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inserted_event_is_found() -> Result<()> {
    let h = busy_harness().await?;
    // Make room after event 4 (in two steps: the sequence number is unique), then slip in a
    // copy of event 4 that claims to follow it.
    tamper(
        &h,
        &[
            "UPDATE audit_events SET seq = -seq WHERE seq > 4".into(),
            "UPDATE audit_events SET seq = 1 - seq WHERE seq < 0".into(),
            "UPDATE audit_head SET seq = seq + 1 WHERE id = 1".into(),
            "INSERT INTO audit_events (seq, time, actor, source, action, resource, outcome, \
             details, prev_hash, hash) SELECT 5, time, 'admin', source, 'auth.login', resource, \
             outcome, details, hash, hash FROM audit_events WHERE seq = 4"
                .into(),
        ],
    )
    .await?;
    broken_at(&verify(&h).await?, 5, "was inserted")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_events_are_found() -> Result<()> {
    let h = busy_harness().await?;
    tamper(
        &h,
        &[
            "UPDATE audit_events SET seq = -1 WHERE seq = 7".into(),
            "UPDATE audit_events SET seq = 7 WHERE seq = 8".into(),
            "UPDATE audit_events SET seq = 8 WHERE seq = -1".into(),
        ],
    )
    .await?;
    broken_at(&verify(&h).await?, 7, "out of order")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verifies_offline_and_a_changed_byte_is_found() -> Result<()> {
    let h = busy_harness().await?;
    let key = public_key(&h)?;
    let dir = tempfile::tempdir()?;
    let out_dir = dir.path().join("export");
    let out = export(&h.admin, &out_dir, 5, Some(&key)).await?;
    ensure!(out.contains("sealed segments"), "{out}");
    let ok = offline(&h, &out_dir, &key).await?;
    ensure!(ok.status.success(), "{}", show(&ok));

    // Change one byte of event 7 (in the second segment): its actor `admin` becomes `admim`.
    let seg = out_dir.join("segment-000000000006.jsonl");
    let text = std::fs::read_to_string(&seg)?;
    let line = text.lines().nth(1).context("line")?;
    ensure!(line.contains("\"seq\":7"), "{line}");
    let pos = text.find(line).unwrap_or(0) + line.find("\"actor\":\"").context("actor")? + 9;
    let mut bytes = text.into_bytes();
    bytes[pos + 4] ^= 0x03;
    std::fs::write(&seg, &bytes)?;
    let bad = offline(&h, &out_dir, &key).await?;
    broken_at(&bad, 7, "was changed")?;

    // A seal from another key is refused.
    bytes[pos + 4] ^= 0x03;
    std::fs::write(&seg, &bytes)?;
    let out = offline(&h, &out_dir, &"11".repeat(32)).await?;
    ensure!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("bad signature"),
        "{}",
        show(&out)
    );
    Ok(())
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_leave_one_chain() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let mut runs = Vec::new();
    for i in 0..8 {
        let cli = h.admin.clone();
        runs.push(tokio::spawn(async move {
            cli.run(&["connect", "web-1", "--", &format!("echo {i}")], None)
                .await
        }));
    }
    for r in runs {
        let out = r.await??;
        ensure!(out.status.success(), "{}", show(&out));
    }
    let starts = search(&h.admin, &["--action", "session.start"]).await?;
    ensure!(starts.len() == 8, "{} session starts", starts.len());
    let out = verify(&h).await?;
    ensure!(out.status.success(), "{}", show(&out));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_signs_the_head() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.admin.ok(&["admin", "groups", "create", "ops"]).await?;
    h.server.stop();
    let db = database(&h).await?;
    let row: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT MAX(seq) FROM audit_events), (SELECT MAX(seq) FROM audit_checkpoints)",
    )
    .fetch_one(&db)
    .await?;
    db.close().await;
    ensure!(
        row.0 > 0 && row.0 == row.1,
        "events up to {}, signed up to {}",
        row.0,
        row.1
    );
    Ok(())
}

/// Two wicketd processes on one PostgreSQL database, sharing the audit key, take requests at
/// the same time: one chain, unbroken. SQLite is one file on one host: skipped there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_share_one_chain() -> Result<()> {
    if wicket_store::testing::postgres_base_url().is_none() {
        eprintln!("WICKET_TEST_DATABASE_URL not set; two servers need PostgreSQL");
        return Ok(());
    }
    let keys = tempfile::tempdir()?;
    let key_file = keys.path().join("audit.key");
    let key_env = ("WICKET_AUDIT_KEY_FILE", path(&key_file)?);
    let h = Harness::start_with(bins!(), &[key_env]).await?;
    let env = [(key_env.0.to_string(), key_env.1.to_string())];
    let (second, admin2) = h.second_server(&env).await?;
    let mut runs = Vec::new();
    for i in 0..16 {
        let cli = if i % 2 == 0 {
            h.admin.clone()
        } else {
            admin2.clone()
        };
        runs.push(tokio::spawn(async move {
            cli.run(&["admin", "groups", "create", &format!("g{i}")], None)
                .await
        }));
    }
    for r in runs {
        let out = r.await??;
        if !out.status.success() {
            bail!("{}", show(&out));
        }
    }
    let created = search(&h.admin, &["--action", "admin.manage_groups"]).await?;
    ensure!(
        created
            .iter()
            .filter(|e| e["resource"] == "POST /v1/groups")
            .count()
            == 16,
        "{created:?}"
    );
    // The key lives outside the data dir here: verify with the one the server serves.
    let out = h.admin.run(&["audit", "verify"], None).await?;
    ensure!(out.status.success(), "{}", show(&out));
    drop(second);
    Ok(())
}

/// Sealed segments are written to the object store (a real S3 server) as they fill, and a copy
/// of the bucket verifies offline with only the public key; a changed byte is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_s3),
    ignore = "needs s3s-fs: cargo install s3s-fs --version 0.14.1 --features binary --locked"
)]
async fn sealed_segments_reach_the_object_store_and_verify_offline() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let _s3 = wicket_testkit::S3Server::start(&dir.path().join("s3"), "wicket").await?;
    let config = dir.path().join("wicketd.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\nsegment_size = 10\ncheckpoint_interval = \"1s\"\n\n[recording.store]\nurl = \"s3://wicket/prod\"\nendpoint = \"{}\"\naccess_key_id = \"{}\"\nallow_http = true\n",
            _s3.endpoint,
            wicket_testkit::s3::ACCESS_KEY
        ),
    )?;
    let config = config.to_str().context("path")?.to_string();
    let h = Harness::start_with(
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
    for _ in 0..15 {
        h.admin.ok(&["targets"]).await?;
    }
    let segments = dir.path().join("s3/wicket/prod/audit/segments");
    let count = || {
        std::fs::read_dir(&segments)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
                    .count()
            })
            .unwrap_or(0)
    };
    let mut shipped = 0;
    for _ in 0..100 {
        shipped = count();
        if shipped >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(shipped >= 2, "only {shipped} segments reached the bucket");
    let key = public_key(&h)?;
    let seg_dir = segments.to_str().context("path")?;
    let ok = h
        .admin
        .run(
            &["audit", "verify", "--export", seg_dir, "--public-key", &key],
            None,
        )
        .await?;
    ensure!(ok.status.success(), "{}", show(&ok));

    // Change one byte of an event in the first segment: the offline check finds it.
    let first = segments.join("segment-000000000001-000000000010.jsonl");
    let text = std::fs::read_to_string(&first)?;
    let changed = text.replacen("\"admin\"", "\"admln\"", 1);
    ensure!(changed != text, "nothing to change in {}", first.display());
    std::fs::write(&first, changed)?;
    let bad = h
        .admin
        .run(
            &["audit", "verify", "--export", seg_dir, "--public-key", &key],
            None,
        )
        .await?;
    ensure!(
        !bad.status.success(),
        "a changed segment verified: {}",
        show(&bad)
    );
    Ok(())
}

/// `wicketd audit adopt-key --data-dir DIR` on the harness's database.
fn adopt_key(h: &Harness, data_dir: &Path) -> Result<Output> {
    Ok(std::process::Command::new(&h.bins.wicketd)
        .args(["audit", "adopt-key", "--data-dir"])
        .arg(data_dir)
        .arg("--database-url")
        .arg(&h.server.database_url)
        .output()?)
}

/// The database remembers the key that signs its chain: a server with another key is refused
/// with the way out; once the operator adopts the new key (the old one lost), the change is an
/// event in the chain, the old key's server is refused in turn, and the whole chain verifies
/// under the new key, the checkpoints before the change under the key it replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_another_audit_key_is_refused_until_the_key_is_adopted() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.admin.ok(&["admin", "groups", "create", "before"]).await?;
    let old_key = public_key(&h)?;
    // Segments sealed with the old key, as the object store keeps them.
    let dir = tempfile::tempdir()?;
    let before = dir.path().join("before");
    export(&h.admin, &before, 5, None).await?;
    // A graceful stop signs the head with the old key.
    h.server.stop();

    let data_dir = dir.path().join("other");
    let refused = ServerProc::start(&h.bins.wicketd, &data_dir, &h.server.database_url, 0, &[]);
    let Err(e) = refused else {
        bail!("a server with another audit key started");
    };
    let e = format!("{e:#}");
    ensure!(
        e.contains(&format!("signed by audit key {old_key}")) && e.contains("adopt-key"),
        "{e}"
    );

    let out = adopt_key(&h, &data_dir)?;
    ensure!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let new_key = stdout
        .split_whitespace()
        .nth(5)
        .context("no key in the output")?
        .to_string();
    ensure!(
        new_key.len() == 64 && stdout.contains(&format!("from {old_key}")),
        "{stdout}"
    );
    ensure!(
        String::from_utf8_lossy(&adopt_key(&h, &data_dir)?.stdout).contains("already"),
        "a second adoption recorded something"
    );

    let mut second = ServerProc::start(&h.bins.wicketd, &data_dir, &h.server.database_url, 0, &[])?;
    let admin = h.cli("admin-2");
    let out = admin
        .login(
            &second.url,
            &second.fingerprint,
            "admin",
            wicket_testkit::harness::ADMIN_PASSWORD,
        )
        .await?;
    ensure!(out.status.success(), "{}", show(&out));
    admin.ok(&["admin", "groups", "create", "after"]).await?;
    second.stop();
    // The server holding the lost key may not sign any more.
    ensure!(h.server.restart().is_err(), "the old key's server started");
    second.restart()?;

    let out = admin
        .run(&["audit", "verify", "--public-key", &new_key], None)
        .await?;
    ensure!(out.status.success(), "{}", show(&out));
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains("the audit key changed at event"),
        "{}",
        show(&out)
    );
    let adopted = search(&admin, &["--action", "audit.key.adopt"]).await?;
    ensure!(adopted.len() == 1, "{adopted:?}");
    // The old key does not vouch for what was signed after the change.
    let out = admin
        .run(&["audit", "verify", "--public-key", &old_key], None)
        .await?;
    ensure!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("bad signature"),
        "{}",
        show(&out)
    );

    // A bucket of the old key's full segments followed by the new key's: offline verification
    // follows the key change too.
    let after = dir.path().join("after");
    export(&admin, &after, 5, None).await?;
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(&mixed)?;
    let mut old_end = 0;
    for f in std::fs::read_dir(&before)? {
        let f = f?.path();
        if std::fs::read_to_string(&f)?.lines().count() == 6 {
            let first = segment_first(&f)?;
            old_end = old_end.max(first + 4);
            std::fs::copy(&f, mixed.join(f.file_name().context("name")?))?;
        }
    }
    for f in std::fs::read_dir(&after)? {
        let f = f?.path();
        if segment_first(&f)? > old_end {
            std::fs::copy(&f, mixed.join(f.file_name().context("name")?))?;
        }
    }
    let out = offline(&h, &mixed, &new_key).await?;
    ensure!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("the audit key changed at event"),
        "{}",
        show(&out)
    );
    let out = offline(&h, &mixed, &old_key).await?;
    ensure!(!out.status.success(), "{}", show(&out));
    Ok(())
}

/// The first event of a segment file, from its name.
fn segment_first(f: &Path) -> Result<u64> {
    let name = f.file_name().and_then(|n| n.to_str()).context("name")?;
    Ok(name
        .trim_start_matches("segment-")
        .trim_end_matches(".jsonl")
        .parse()?)
}

/// A chain longer than a page of the API (1000 events) verifies and exports page by page: the
/// client never holds it whole, and the segments cross page boundaries. A change deep in the
/// chain is still found and named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chain_verifies_and_exports_page_by_page() -> Result<()> {
    let h = Harness::start(bins!()).await?;
    let store = wicket_store::Store::open(&h.server.database_url).await?;
    for batch in 0..5 {
        let events = (0..500)
            .map(|i| wicket_audit::Event {
                seq: 0,
                time: 1_700_000_000_000 + batch * 500 + i,
                actor: format!("user{i}"),
                source: "127.0.0.1".into(),
                action: "api.request".into(),
                resource: format!("GET /v1/thing/{i}"),
                outcome: wicket_audit::Outcome::Success,
                details: "{}".into(),
            })
            .collect();
        store.append_audit(events).await?;
    }
    store.close().await;
    let key = public_key(&h)?;
    let out = verify(&h).await?;
    ensure!(out.status.success(), "{}", show(&out));
    let dir = tempfile::tempdir()?;
    let out_dir = dir.path().join("export");
    let text = export(&h.admin, &out_dir, 700, Some(&key)).await?;
    let events: u64 = text
        .lines()
        .find(|l| l.starts_with("exported"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .context("no count")?;
    ensure!(events > 2500, "{text}");
    let segments = std::fs::read_dir(&out_dir)?.count() as u64;
    ensure!(
        segments == events.div_ceil(700),
        "{segments} segments for {events} events"
    );
    let ok = offline(&h, &out_dir, &key).await?;
    ensure!(ok.status.success(), "{}", show(&ok));

    // `--limit` takes the newest events, across API pages, printed oldest first; with
    // `--since` the first ones from then on; with `--until` the newest before it.
    let seqs = |events: &[Value]| -> Vec<u64> {
        events.iter().filter_map(|e| e["seq"].as_u64()).collect()
    };
    let newest = seqs(&search(&h.admin, &["--limit", "1500"]).await?);
    let head = seqs(&search(&h.admin, &["--limit", "1"]).await?);
    ensure!(newest.len() == 1500, "{} events", newest.len());
    ensure!(
        newest.windows(2).all(|w| w[1] == w[0] + 1) && newest.last() <= head.last(),
        "not the newest in order: {:?}..{:?}",
        newest.first(),
        newest.last()
    );
    ensure!(
        newest[0] > 1000,
        "the oldest were taken: from {}",
        newest[0]
    );
    let first = seqs(
        &search(
            &h.admin,
            &["--since", "2000-01-01T00:00:00Z", "--limit", "1500"],
        )
        .await?,
    );
    ensure!(
        first == (1..=1500).collect::<Vec<u64>>(),
        "{:?}..{:?}",
        first.first(),
        first.last()
    );
    let before = search(
        &h.admin,
        &["--until", "2024-01-01T00:00:00Z", "--limit", "3"],
    )
    .await?;
    let actors: Vec<&str> = before.iter().filter_map(|e| e["actor"].as_str()).collect();
    ensure!(actors == ["user497", "user498", "user499"], "{actors:?}");

    tamper(
        &h,
        &["UPDATE audit_events SET actor = 'mallory' WHERE seq = 2222".to_string()],
    )
    .await?;
    broken_at(&verify(&h).await?, 2222, "was changed")?;
    Ok(())
}
