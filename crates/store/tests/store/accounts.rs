//! Users and bearer tokens.

use anyhow::{ensure, Result};
use wicket_store::{Store, StoreError};

use crate::harness::{HOUR, NOW};

cases!(
    ping_works,
    users_create_and_find,
    duplicate_user_name_conflicts,
    tokens_insert_find_revoke
);

async fn ping_works(store: Store) -> Result<()> {
    store.ping().await?;
    Ok(())
}

async fn users_create_and_find(store: Store) -> Result<()> {
    let alice = store
        .create_user("alice", "$argon2id$secret", true, NOW)
        .await?;
    let bob = store
        .create_user("bob", "$argon2id$other", false, NOW + 1)
        .await?;
    ensure!(alice.id.starts_with("usr_") && alice.id.len() == 20);
    ensure!(alice.is_admin && !alice.disabled && !bob.is_admin);
    ensure!(store.user_by_name("alice").await? == Some(alice.clone()));
    ensure!(store.user_by_id(&bob.id).await? == Some(bob.clone()));
    ensure!(store.user_by_name("carol").await?.is_none());
    ensure!(store.user_by_id("usr_nope").await?.is_none());
    ensure!(store.list_users().await? == vec![alice.clone(), bob]);
    let shown = format!("{alice:?}");
    ensure!(
        !shown.contains("argon2id") && shown.contains("alice"),
        "Debug leaks: {shown}"
    );
    Ok(())
}

async fn duplicate_user_name_conflicts(store: Store) -> Result<()> {
    store.create_user("alice", "h1", false, NOW).await?;
    match store.create_user("alice", "h2", true, NOW).await {
        Err(StoreError::Conflict(msg)) => ensure!(msg.contains("alice"), "message: {msg}"),
        other => anyhow::bail!("expected Conflict, got {other:?}"),
    }
    ensure!(store.list_users().await?.len() == 1);
    Ok(())
}

async fn tokens_insert_find_revoke(store: Store) -> Result<()> {
    let user = store.create_user("alice", "h", false, NOW).await?;
    let token = store
        .insert_token(&user.id, &[7u8; 32], NOW, NOW + HOUR)
        .await?;
    ensure!(token.id.starts_with("tok_") && token.is_active(NOW));
    ensure!(!token.is_active(NOW + HOUR));
    ensure!(store.token_by_hash(&[7u8; 32]).await? == Some(token.clone()));
    ensure!(store.token_by_hash(&[8u8; 32]).await?.is_none());
    ensure!(store.revoke_token(&token.id, NOW + 5).await?);
    ensure!(
        !store.revoke_token(&token.id, NOW + 9).await?,
        "second revoke must be a no-op"
    );
    ensure!(!store.revoke_token("tok_missing", NOW).await?);
    let found = store
        .token_by_hash(&[7u8; 32])
        .await?
        .ok_or_else(|| anyhow::anyhow!("gone"))?;
    ensure!(found.revoked_at == Some(NOW + 5) && !found.is_active(NOW));
    Ok(())
}
