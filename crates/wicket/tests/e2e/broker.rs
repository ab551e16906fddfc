//! The broker's refusals end to end: an outage is reported as what it is, never as a policy's
//! refusal, for every kind of channel.

use anyhow::{ensure, Result};
use sqlx::Executor;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Harness};

/// Makes every append to the audit chain fail, as a full disk or a lost database would,
/// while everything else in the database keeps working.
async fn break_audit_appends(h: &Harness) -> Result<()> {
    sqlx::any::install_default_drivers();
    let db = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&h.server.database_url)
        .await?;
    if h.server.database_url.starts_with("postgres") {
        db.execute(
            "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$ LANGUAGE plpgsql",
        )
        .await?;
        db.execute(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        )
        .await?;
    } else {
        db.execute(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(FAIL, 'audit store unavailable'); END",
        )
        .await?;
    }
    db.close().await;
    Ok(())
}

/// With the audit store failing, a session, a forward and a copy that the policy allows are
/// all refused, and the user reads that the audit log is unavailable, not that a policy said
/// no (a forward or a copy used to report any refusal as "no policy permits it").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_outage_is_reported_as_such_for_sessions_forwards_and_copies() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let file = h.dir.path().join("up.txt");
    std::fs::write(&file, "x")?;
    // Allowed before the outage: the refusals below are the outage's, not the policy's.
    let out = h
        .admin
        .run(&["connect", "web-1", "--", "true"], None)
        .await?;
    ensure!(out.status.success(), "{}", show(&out));

    break_audit_appends(&h).await?;
    let upload = format!("{}", file.display());
    let attempts: [(&str, Vec<&str>); 3] = [
        ("session", vec!["connect", "web-1", "--", "true"]),
        ("forward", vec!["proxy", "web-1", "22"]),
        ("copy", vec!["cp", "--user", "root", &upload, "web-1:/tmp/"]),
    ];
    for (kind, args) in attempts {
        let out = h.admin.run(&args, Some(b"")).await?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success(),
            "{kind} ran during the outage: {}",
            show(&out)
        );
        ensure!(
            stderr.contains("the audit log is unavailable"),
            "{kind}: the outage was not named: {}",
            show(&out)
        );
        ensure!(
            !stderr.contains("policy") && !stderr.contains("may not"),
            "{kind}: the outage was reported as a denial: {}",
            show(&out)
        );
    }
    Ok(())
}
