//! The audit chain: appends chain and verify, filters and paging, checkpoints, and concurrent
//! appends from many tasks and from two independent stores (two server processes) on one
//! database, which must leave one unbroken chain.

use anyhow::{ensure, Result};
use wicket_audit::{verify, AuditKey, Event, Outcome, GENESIS};
use wicket_store::{AuditFilter, Store};

use crate::harness::NOW;

cases!(
    appends_chain_and_verify,
    filters_and_paging,
    checkpoints_round_trip,
    concurrent_appends_never_fork,
    two_stores_on_one_database_share_one_chain,
    the_first_key_claims_the_chain_and_adoption_is_chained
);

fn event(actor: &str, action: &str, resource: &str, time: i64) -> Event {
    Event {
        seq: 0,
        time,
        actor: actor.into(),
        source: "127.0.0.1".into(),
        action: action.into(),
        resource: resource.into(),
        outcome: Outcome::Success,
        details: "{\"k\":\"v\"}".into(),
    }
}

async fn all(store: &Store) -> Result<Vec<wicket_audit::ChainedEvent>> {
    let mut out = Vec::new();
    loop {
        let page = store
            .list_audit(&AuditFilter {
                after_seq: out.last().map(|e: &wicket_audit::ChainedEvent| e.event.seq),
                ..AuditFilter::default()
            })
            .await?;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page);
    }
}

async fn appends_chain_and_verify(store: Store) -> Result<()> {
    ensure!(store.audit_head().await? == (0, GENESIS));
    ensure!(store.append_audit(vec![]).await?.is_empty());
    let first = store
        .append_audit(vec![event("alice", "auth.login", "user:alice", NOW)])
        .await?;
    ensure!(first[0].event.seq == 1 && first[0].prev_hash == GENESIS);
    let more = store
        .append_audit(vec![
            event("alice", "api.request", "GET /v1/targets", NOW + 1),
            event("bob", "session.start", "target:web-1", NOW + 2),
        ])
        .await?;
    ensure!(more[0].prev_hash == first[0].hash && more[1].event.seq == 3);
    ensure!(store.audit_head().await? == (3, more[1].hash));
    let events = all(&store).await?;
    ensure!(events.len() == 3);
    ensure!(
        events[1] == more[0],
        "stored event differs: {:?}",
        events[1]
    );
    verify(&events, &[], None)?;
    Ok(())
}

async fn filters_and_paging(store: Store) -> Result<()> {
    let mut batch = Vec::new();
    for i in 0..30 {
        let actor = if i % 3 == 0 { "alice" } else { "bob" };
        let action = if i % 2 == 0 {
            "session.start"
        } else {
            "api.request"
        };
        batch.push(event(actor, action, &format!("target:t{}", i % 5), NOW + i));
    }
    batch.push(event("carol", "session", "x", NOW + 100));
    batch.push(event("carol", "sessions.x", "x", NOW + 100));
    store.append_audit(batch).await?;
    let count = |f: AuditFilter| {
        let store = store.clone();
        async move { Ok::<_, anyhow::Error>(store.list_audit(&f).await?.len()) }
    };
    ensure!(
        count(AuditFilter {
            actor: Some("alice".into()),
            ..Default::default()
        })
        .await?
            == 10
    );
    // A prefix matches at a dot only.
    ensure!(
        count(AuditFilter {
            action: Some("session".into()),
            ..Default::default()
        })
        .await?
            == 16
    );
    ensure!(
        count(AuditFilter {
            resource: Some("target:t1".into()),
            ..Default::default()
        })
        .await?
            == 6
    );
    ensure!(
        count(AuditFilter {
            since: Some(NOW + 10),
            until: Some(NOW + 20),
            ..Default::default()
        })
        .await?
            == 10
    );
    let page = store
        .list_audit(&AuditFilter {
            after_seq: Some(5),
            limit: Some(4),
            ..Default::default()
        })
        .await?;
    ensure!(page.iter().map(|e| e.event.seq).collect::<Vec<_>>() == vec![6, 7, 8, 9]);
    // The newest events, still in chain order, and the page before them.
    let seqs = |f: AuditFilter| {
        let store = store.clone();
        async move {
            Ok::<_, anyhow::Error>(
                store
                    .list_audit(&f)
                    .await?
                    .iter()
                    .map(|e| e.event.seq)
                    .collect::<Vec<_>>(),
            )
        }
    };
    let total = count(AuditFilter::default()).await? as u64;
    let newest = seqs(AuditFilter {
        newest: true,
        limit: Some(3),
        ..Default::default()
    })
    .await?;
    ensure!(newest == vec![total - 2, total - 1, total], "{newest:?}");
    let before = seqs(AuditFilter {
        newest: true,
        before_seq: Some(total - 2),
        limit: Some(2),
        ..Default::default()
    })
    .await?;
    ensure!(before == vec![total - 4, total - 3], "{before:?}");
    // The newest of those matching, not the newest overall.
    let alice = seqs(AuditFilter {
        newest: true,
        actor: Some("alice".into()),
        limit: Some(2),
        ..Default::default()
    })
    .await?;
    let all_alice = seqs(AuditFilter {
        actor: Some("alice".into()),
        ..Default::default()
    })
    .await?;
    ensure!(alice == all_alice[all_alice.len() - 2..], "{alice:?}");
    Ok(())
}

async fn checkpoints_round_trip(store: Store) -> Result<()> {
    let events = store
        .append_audit(vec![
            event("a", "x", "y", NOW),
            event("a", "x", "y", NOW + 1),
        ])
        .await?;
    ensure!(store.last_audit_checkpoint().await?.is_none());
    let key = AuditKey::from_pkcs8(&AuditKey::generate_pkcs8()?)?;
    let cp = key.checkpoint(2, events[1].hash, NOW + 2);
    store.insert_audit_checkpoint(&cp).await?;
    // The same head signed again (another replica) is ignored.
    store
        .insert_audit_checkpoint(&key.checkpoint(2, events[1].hash, NOW + 3))
        .await?;
    let cps = store.list_audit_checkpoints(0, 100).await?;
    ensure!(cps == vec![cp.clone()]);
    ensure!(store.last_audit_checkpoint().await? == Some(2));
    verify(&all(&store).await?, &cps, Some(&key.public_key()))?;
    Ok(())
}

async fn concurrent_appends_never_fork(store: Store) -> Result<()> {
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let n = if i % 3 == 0 { 2 } else { 1 };
                let batch = (0..n)
                    .map(|_| event(&format!("u{t}"), "x", "y", NOW + i))
                    .collect();
                store.append_audit(batch).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let events = all(&store).await?;
    ensure!(events.len() == 8 * 14, "{} events", events.len());
    verify(&events, &[], None)?;
    Ok(())
}

/// Two `Store`s with their own pools stand for two server processes on one database.
async fn two_stores_on_one_database_share_one_chain(store: Store) -> Result<()> {
    let other = Store::open(store.url()).await?;
    let mut tasks = Vec::new();
    for (t, s) in [store.clone(), other.clone(), store.clone(), other.clone()]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                s.append_audit(vec![event(&format!("p{t}"), "x", "y", NOW + i)])
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    other.close().await;
    let events = all(&store).await?;
    ensure!(events.len() == 60);
    verify(&events, &[], None)?;
    Ok(())
}

async fn the_first_key_claims_the_chain_and_adoption_is_chained(store: Store) -> Result<()> {
    let (a, b) = ("aa".repeat(32), "bb".repeat(32));
    ensure!(store.audit_key().await?.is_none());
    ensure!(store.claim_audit_key(&a).await? == a);
    // A second server with another key learns the key in force instead of taking over.
    ensure!(store.claim_audit_key(&b).await? == a);
    store
        .append_audit(vec![event("alice", "login", "-", NOW)])
        .await?;
    let adopted = store
        .adopt_audit_key(&b, event("root", "-", "audit-key", NOW + 1))
        .await?
        .ok_or_else(|| anyhow::anyhow!("nothing adopted"))?;
    ensure!(adopted.event.seq == 2 && adopted.event.action == wicket_audit::ADOPT_ACTION);
    let details: wicket_audit::KeyAdoption = serde_json::from_str(&adopted.event.details)?;
    ensure!(details.previous == a && details.key == b, "{details:?}");
    ensure!(store.audit_key().await?.as_deref() == Some(b.as_str()));
    ensure!(store.claim_audit_key(&a).await? == b);
    // Adopting the key in force records nothing.
    ensure!(store
        .adopt_audit_key(&b, event("root", "-", "-", NOW))
        .await?
        .is_none());
    let events = all(&store).await?;
    ensure!(events.len() == 2);
    verify(&events, &[], None).map_err(|b| anyhow::anyhow!("{b}"))?;
    Ok(())
}
