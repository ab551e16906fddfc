//! Single sign-on users and their SSO-derived group memberships.

use anyhow::{ensure, Result};
use wicket_store::{SsoIdentity, Store, StoreError};

use crate::harness::NOW;

cases!(
    sso_users_are_bound_to_their_identity,
    sso_groups_follow_the_claim
);

fn identity(sub: &str) -> SsoIdentity {
    SsoIdentity {
        issuer: "https://idp.example.com".into(),
        subject: sub.into(),
    }
}

async fn sso_users_are_bound_to_their_identity(store: Store) -> Result<()> {
    let local = store.create_user("alice", "h", false, NOW).await?;
    ensure!(local.sso.is_none());
    ensure!(matches!(
        store.create_sso_user("alice", &identity("a1"), NOW).await,
        Err(StoreError::Conflict(_))
    ));
    let bob = store.create_sso_user("bob", &identity("b1"), NOW).await?;
    ensure!(bob.sso == Some(identity("b1")) && bob.password_hash.is_empty() && !bob.is_admin);
    ensure!(store.user_by_sso("https://idp.example.com", "b1").await? == Some(bob.clone()));
    ensure!(store.user_by_name("bob").await? == Some(bob.clone()));
    ensure!(store
        .user_by_sso("https://other.example.com", "b1")
        .await?
        .is_none());
    // One identity, one user.
    ensure!(matches!(
        store.create_sso_user("bob2", &identity("b1"), NOW).await,
        Err(StoreError::Conflict(_))
    ));
    ensure!(store.list_users().await?.len() == 2);
    let idp = "https://idp.example.com";
    ensure!(!store.sso_identity_deleted(idp, "b1").await?);
    ensure!(store.delete_user("bob").await?);
    ensure!(store.user_by_sso(idp, "b1").await?.is_none());
    ensure!(store.sso_identity_deleted(idp, "b1").await?);
    ensure!(!store.sso_identity_deleted(idp, "other").await?);
    ensure!(store.forget_deleted_sso_user("bob").await?);
    ensure!(!store.forget_deleted_sso_user("bob").await?);
    ensure!(!store.sso_identity_deleted(idp, "b1").await?);
    // Deleting a local user leaves no mark.
    ensure!(store.delete_user("alice").await?);
    ensure!(!store.forget_deleted_sso_user("alice").await?);
    Ok(())
}

async fn sso_groups_follow_the_claim(store: Store) -> Result<()> {
    let u = store.create_sso_user("carol", &identity("c1"), NOW).await?;
    store.create_group("ops", NOW).await?;
    store.create_group("admins", NOW).await?;
    store.add_group_member("admins", "carol").await?; // manual
    let change = store
        .set_sso_groups(&u.id, &["ops".into(), "dev".into(), "ops".into()], NOW)
        .await?;
    ensure!(change.added == vec!["dev", "ops"], "{change:?}");
    ensure!(
        change.created == vec!["dev"] && change.removed.is_empty(),
        "{change:?}"
    );
    ensure!(store.groups_of_user(&u.id).await? == vec!["admins", "dev", "ops"]);
    ensure!(
        store.group_sources_of_user(&u.id).await?
            == vec![
                ("admins".to_string(), "manual".to_string()),
                ("dev".into(), "sso".into()),
                ("ops".into(), "sso".into())
            ]
    );
    // The claim no longer names ops: that SSO membership goes, the manual one stays.
    let change = store.set_sso_groups(&u.id, &["dev".into()], NOW).await?;
    ensure!(
        change.removed == vec!["ops"] && change.added.is_empty(),
        "{change:?}"
    );
    ensure!(store.groups_of_user(&u.id).await? == vec!["admins", "dev"]);
    // A claim naming a group the user is in manually does not make it SSO-managed.
    store
        .set_sso_groups(&u.id, &["dev".into(), "admins".into()], NOW)
        .await?;
    let change = store.set_sso_groups(&u.id, &[], NOW).await?;
    ensure!(change.removed == vec!["dev"], "{change:?}");
    ensure!(store.groups_of_user(&u.id).await? == vec!["admins"]);
    // An administrator adding an SSO member makes the membership manual.
    store.set_sso_groups(&u.id, &["ops".into()], NOW).await?;
    store.add_group_member("ops", "carol").await?;
    store.set_sso_groups(&u.id, &[], NOW).await?;
    ensure!(store.groups_of_user(&u.id).await? == vec!["admins", "ops"]);
    Ok(())
}
