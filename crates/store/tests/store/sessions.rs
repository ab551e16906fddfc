//! The session history: insert on open, complete once on end, list with filters.

use anyhow::{ensure, Result};
use wicket_store::{SessionEnd, SessionFilter, SessionRecord, Store};

use crate::harness::NOW;

cases!(
    sessions_open_end_and_list,
    termination_requests_reach_live_sessions_once,
    sessions_of_dead_replicas_are_ended_once
);

fn record(id: &str, user: &str, target: &str, at: i64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        user_id: format!("usr_{user}"),
        user_name: user.into(),
        target_id: format!("tgt_{target}"),
        target_name: target.into(),
        action: "connect".into(),
        run_as: Some("deploy".into()),
        command: None,
        tty: true,
        source_ip: Some("127.0.0.1".into()),
        started_at: at,
        ended_at: None,
        end_reason: None,
        exit_status: None,
        bytes_in: 0,
        bytes_out: 0,
        recording: "recorded".into(),
        recording_sha256: None,
        recording_bytes: None,
        replica: None,
    }
}

async fn sessions_open_end_and_list(store: Store) -> Result<()> {
    store
        .insert_session(&record("ses_a", "alice", "web-1", NOW))
        .await?;
    store
        .insert_session(&record("ses_b", "bob", "web-1", NOW + 10))
        .await?;
    store
        .insert_session(&record("ses_c", "alice", "db-1", NOW + 20))
        .await?;
    ensure!(
        store
            .insert_session(&record("ses_a", "x", "y", NOW))
            .await
            .is_err(),
        "duplicate id"
    );

    let end = SessionEnd {
        ended_at: NOW + 100,
        reason: "exited".into(),
        exit_status: Some("0".into()),
        bytes_in: 12,
        bytes_out: 3400,
        recording: "recorded".into(),
        recording_sha256: Some("ab".repeat(32)),
        recording_bytes: Some(3600),
    };
    ensure!(store.end_session("ses_a", &end).await?);
    ensure!(
        !store.end_session("ses_a", &SessionEnd::default()).await?,
        "ends once"
    );
    let a = store.session("ses_a").await?.expect("a");
    ensure!(a.ended_at == Some(NOW + 100) && a.bytes_out == 3400 && a.tty);
    ensure!(a.recording_sha256.as_deref() == Some(&*"ab".repeat(32)));

    let ids = |v: Vec<SessionRecord>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let all = store.list_sessions(&SessionFilter::default()).await?;
    ensure!(ids(all) == ["ses_c", "ses_b", "ses_a"], "newest first");
    let active = SessionFilter {
        active_only: true,
        ..Default::default()
    };
    ensure!(ids(store.list_sessions(&active).await?) == ["ses_c", "ses_b"]);
    let alice = SessionFilter {
        user_name: Some("alice".into()),
        ..Default::default()
    };
    ensure!(ids(store.list_sessions(&alice).await?) == ["ses_c", "ses_a"]);
    let web = SessionFilter {
        target_name: Some("web-1".into()),
        since: Some(NOW + 5),
        ..Default::default()
    };
    ensure!(ids(store.list_sessions(&web).await?) == ["ses_b"]);
    let until = SessionFilter {
        until: Some(NOW + 10),
        limit: Some(5),
        ..Default::default()
    };
    ensure!(ids(store.list_sessions(&until).await?) == ["ses_a"]);
    ensure!(store.session("ses_zz").await?.is_none());
    Ok(())
}

/// A replica asks for a live session to end; the replica relaying it reads the request until
/// the session has ended. Ended sessions and repeated requests are refused.
async fn termination_requests_reach_live_sessions_once(store: Store) -> Result<()> {
    store
        .insert_session(&record("ses_live", "alice", "web-1", NOW))
        .await?;
    store
        .insert_session(&record("ses_done", "alice", "web-1", NOW))
        .await?;
    store
        .end_session("ses_done", &SessionEnd::default())
        .await?;
    ensure!(store.termination_requests().await?.is_empty());

    ensure!(
        !store
            .request_termination("ses_done", "terminated by admin")
            .await?,
        "an ended session cannot be asked to end"
    );
    ensure!(
        !store
            .request_termination("ses_none", "terminated by admin")
            .await?,
        "an unknown session cannot be asked to end"
    );
    ensure!(
        store
            .request_termination("ses_live", "terminated by admin")
            .await?
    );
    ensure!(
        !store
            .request_termination("ses_live", "terminated by bob")
            .await?,
        "the first request stands"
    );
    ensure!(
        store.termination_requests().await?
            == [("ses_live".to_string(), "terminated by admin".to_string())]
    );

    store
        .end_session("ses_live", &SessionEnd::default())
        .await?;
    ensure!(
        store.termination_requests().await?.is_empty(),
        "an ended session's request is done with"
    );
    Ok(())
}

async fn sessions_of_dead_replicas_are_ended_once(store: Store) -> Result<()> {
    let on = |id: &str, replica: Option<&str>| SessionRecord {
        replica: replica.map(str::to_owned),
        ..record(id, "alice", "web-1", 100)
    };
    store.register_replica("rep_dead", "host-a", 100).await?;
    store.register_replica("rep_live", "host-b", 100).await?;
    store.register_replica("rep_gone", "host-c", 100).await?;
    store
        .insert_session(&on("s_dead", Some("rep_dead")))
        .await?;
    store
        .insert_session(&on("s_live", Some("rep_live")))
        .await?;
    store
        .insert_session(&on("s_gone", Some("rep_gone")))
        .await?;
    // Written before replicas were tracked: nobody can tell whose it is, so it is left alone.
    store.insert_session(&on("s_old", None)).await?;
    ensure!(store.replica_seen("rep_live", 200).await?);
    store.retire_replica("rep_gone").await?;

    let ended = store.end_orphaned_sessions(150, 300, "dead").await?;
    let mut ids: Vec<&str> = ended.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    ensure!(ids == ["s_dead", "s_gone"], "{ids:?}");
    ensure!(ended
        .iter()
        .all(|s| s.ended_at == Some(300) && s.end_reason.as_deref() == Some("dead")));
    // The dead replica is forgotten; if it was only stalled, it learns so and registers again.
    ensure!(!store.replica_seen("rep_dead", 400).await?);
    ensure!(store.replica_count().await? == 1);
    // A second sweep (another replica at the same time) ends nothing more.
    ensure!(store
        .end_orphaned_sessions(150, 301, "dead")
        .await?
        .is_empty());
    let live = store
        .list_sessions(&SessionFilter {
            active_only: true,
            ..SessionFilter::default()
        })
        .await?;
    let mut live: Vec<&str> = live.iter().map(|s| s.id.as_str()).collect();
    live.sort_unstable();
    ensure!(live == ["s_live", "s_old"], "{live:?}");
    Ok(())
}
