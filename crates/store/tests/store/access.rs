//! Groups, user lifecycle (disable, delete), token listing, and the versioned policy set.

use anyhow::{ensure, Result};
use wicket_store::{Store, StoreError};

use crate::harness::{HOUR, NOW};

cases!(
    groups_and_members,
    disable_enable_delete_user,
    active_tokens_listed_and_revoked_per_user,
    policy_versions
);

async fn groups_and_members(store: Store) -> Result<()> {
    let alice = store.create_user("alice", "h", false, NOW).await?;
    store.create_user("bob", "h", false, NOW).await?;
    store.create_group("ops", NOW).await?;
    store.create_group("dev", NOW).await?;
    ensure!(matches!(
        store.create_group("ops", NOW).await,
        Err(StoreError::Conflict(_))
    ));
    store.add_group_member("ops", "alice").await?;
    store.add_group_member("ops", "alice").await?; // idempotent
    store.add_group_member("ops", "bob").await?;
    store.add_group_member("dev", "alice").await?;
    ensure!(store.groups_of_user(&alice.id).await? == vec!["dev", "ops"]);
    let groups = store.list_groups().await?;
    ensure!(groups.len() == 2 && groups[1].name == "ops");
    ensure!(
        groups[1].members == vec!["alice", "bob"],
        "{:?}",
        groups[1].members
    );
    ensure!(store.remove_group_member("ops", "alice").await?);
    ensure!(!store.remove_group_member("ops", "alice").await?);
    ensure!(store.groups_of_user(&alice.id).await? == vec!["dev"]);
    ensure!(matches!(
        store.add_group_member("nope", "alice").await,
        Err(StoreError::NotFound(_))
    ));
    ensure!(matches!(
        store.add_group_member("ops", "nobody").await,
        Err(StoreError::NotFound(_))
    ));
    // Deleting a group takes its memberships with it; the name may be used again.
    ensure!(store.delete_group("dev").await?);
    ensure!(!store.delete_group("dev").await?);
    ensure!(store.groups_of_user(&alice.id).await?.is_empty());
    ensure!(store.list_groups().await?.len() == 1);
    store.create_group("dev", NOW).await?;
    ensure!(store
        .list_groups()
        .await?
        .iter()
        .all(|g| g.name != "dev" || g.members.is_empty()));
    Ok(())
}

async fn disable_enable_delete_user(store: Store) -> Result<()> {
    let u = store.create_user("carol", "h", false, NOW).await?;
    store.create_group("ops", NOW).await?;
    store.add_group_member("ops", "carol").await?;
    store.insert_token(&u.id, &[1; 32], NOW, NOW + HOUR).await?;
    ensure!(store.set_user_disabled("carol", true).await?);
    ensure!(store.user_by_name("carol").await?.map(|u| u.disabled) == Some(true));
    ensure!(store.set_user_disabled("carol", false).await?);
    ensure!(store.user_by_name("carol").await?.map(|u| u.disabled) == Some(false));
    ensure!(!store.set_user_disabled("nobody", true).await?);
    ensure!(store.delete_user("carol").await?);
    ensure!(store.user_by_name("carol").await?.is_none());
    ensure!(store.token_by_hash(&[1; 32]).await?.is_none());
    ensure!(store.list_groups().await?[0].members.is_empty());
    ensure!(!store.delete_user("carol").await?);
    Ok(())
}

async fn active_tokens_listed_and_revoked_per_user(store: Store) -> Result<()> {
    let a = store.create_user("a", "h", false, NOW).await?;
    let b = store.create_user("b", "h", false, NOW).await?;
    store.insert_token(&a.id, &[1; 32], NOW, NOW + HOUR).await?;
    store
        .insert_token(&a.id, &[2; 32], NOW + 1, NOW + HOUR)
        .await?;
    store.insert_token(&b.id, &[3; 32], NOW, NOW + HOUR).await?;
    store
        .insert_token(&b.id, &[4; 32], NOW - 2 * HOUR, NOW - HOUR)
        .await?; // expired
    ensure!(store.list_active_tokens(NOW).await?.len() == 3);
    ensure!(store.revoke_user_tokens(&a.id, NOW).await? == 2);
    let live = store.list_active_tokens(NOW).await?;
    ensure!(live.len() == 1 && live[0].user_id == b.id);
    Ok(())
}

async fn policy_versions(store: Store) -> Result<()> {
    ensure!(store.active_policy().await?.is_none());
    let v1 = store
        .insert_policy("permit(principal, action, resource);", "admin", NOW)
        .await?;
    let v2 = store
        .insert_policy("forbid(principal, action, resource);", "admin", NOW + 1)
        .await?;
    ensure!(v1.version == 1 && v2.version == 2);
    let active = store.active_policy().await?;
    ensure!(active == Some(v2), "{active:?}");
    Ok(())
}
