//! Targets after registration: liveness, inventory, revocation.

use anyhow::{ensure, Result};
use wicket_store::{Inventory, Store, StoreError};

use crate::harness::{new_activation, new_target, NOW};

cases!(
    target_seen_and_inventory_round_trip,
    revoke_target_works,
    retag_and_delete_target
);

async fn target_seen_and_inventory_round_trip(store: Store) -> Result<()> {
    let act = store.create_activation(new_activation(b"code", 1)).await?;
    let target = store
        .register_target(&act.id, b"code", NOW, new_target("web1"))
        .await?;
    let inv = Inventory {
        hostname: "web1.example".into(),
        os: "Debian 12".into(),
        kernel: "6.1.0".into(),
        arch: "x86_64".into(),
        addresses: vec!["10.0.0.5".into(), "fe80::1".into()],
        agent_version: "0.1.0".into(),
        user: "root".into(),
    };
    store
        .record_target_seen(&target.id, NOW + 10, Some(&inv))
        .await?;
    let got = store
        .target_by_id(&target.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("gone"))?;
    ensure!(got.last_seen == Some(NOW + 10) && got.inventory.as_ref() == Some(&inv));
    // No inventory: last_seen moves, the old inventory stays.
    store.record_target_seen(&target.id, NOW + 20, None).await?;
    let got = store
        .target_by_name("web1")
        .await?
        .ok_or_else(|| anyhow::anyhow!("gone"))?;
    ensure!(got.last_seen == Some(NOW + 20) && got.inventory == Some(inv));
    let err = store.record_target_seen("tgt_missing", NOW, None).await;
    ensure!(matches!(err, Err(StoreError::NotFound(_))), "{err:?}");
    Ok(())
}

async fn revoke_target_works(store: Store) -> Result<()> {
    let act = store.create_activation(new_activation(b"code", 2)).await?;
    let a = store
        .register_target(&act.id, b"code", NOW, new_target("a"))
        .await?;
    let b = store
        .register_target(&act.id, b"code", NOW, new_target("b"))
        .await?;
    ensure!(store.revoke_target(&a.id, NOW + 1).await?);
    ensure!(!store.revoke_target(&a.id, NOW + 2).await?);
    ensure!(!store.revoke_target("tgt_missing", NOW).await?);
    let list = store.list_targets().await?;
    ensure!(list.len() == 2 && list[0].id == a.id && list[1].id == b.id);
    ensure!(list[0].revoked_at == Some(NOW + 1) && list[1].revoked_at.is_none());
    Ok(())
}

async fn retag_and_delete_target(store: Store) -> Result<()> {
    let act = store.create_activation(new_activation(b"code", 2)).await?;
    let a = store
        .register_target(&act.id, b"code", NOW, new_target("a"))
        .await?;
    let tags = [("env".to_string(), "prod".to_string())].into();
    ensure!(store.set_target_tags(&a.id, &tags).await?);
    ensure!(!store.set_target_tags("tgt_missing", &tags).await?);
    let got = store.target_by_id(&a.id).await?;
    ensure!(got.map(|t| t.tags) == Some(tags));
    ensure!(store.delete_target(&a.id).await?);
    ensure!(!store.delete_target(&a.id).await?);
    ensure!(store.target_by_name("a").await?.is_none());
    // The name is free again.
    store
        .register_target(&act.id, b"code", NOW, new_target("a"))
        .await?;
    Ok(())
}
