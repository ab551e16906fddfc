//! Multi-factor login: TOTP enrolment, replay protection, recovery codes, reset, and the
//! `mfa` flag on tokens.

use anyhow::{ensure, Result};
use wicket_store::{Store, StoreError};

use crate::harness::{HOUR, NOW};

cases!(
    totp_enrolment_lifecycle,
    totp_steps_are_accepted_once,
    recovery_codes_work_once,
    reset_and_user_delete_remove_mfa,
    tokens_carry_the_mfa_flag
);

const SECRET: &[u8] = b"12345678901234567890";

async fn totp_enrolment_lifecycle(store: Store) -> Result<()> {
    let u = store.create_user("alice", "h", false, NOW).await?;
    ensure!(store.totp_enrolment(&u.id).await?.is_none());
    store
        .begin_totp_enrolment(&u.id, b"first-pending", NOW)
        .await?;
    // Restarting a pending enrolment replaces its secret.
    store.begin_totp_enrolment(&u.id, SECRET, NOW + 1).await?;
    let e = store.totp_enrolment(&u.id).await?.expect("pending");
    ensure!(e.secret == SECRET && !e.is_confirmed() && e.last_step.is_none());
    ensure!(!format!("{e:?}").contains("1234"), "Debug leaks the secret");
    // Steps are not accepted before confirmation.
    ensure!(!store.accept_totp_step(&u.id, 100).await?);
    let codes = vec![vec![1u8; 32], vec![2u8; 32]];
    ensure!(
        store
            .confirm_totp_enrolment(&u.id, 100, &codes, NOW + 2)
            .await?
    );
    ensure!(
        !store
            .confirm_totp_enrolment(&u.id, 101, &codes, NOW + 3)
            .await?
    );
    let e = store.totp_enrolment(&u.id).await?.expect("confirmed");
    ensure!(e.confirmed_at == Some(NOW + 2) && e.last_step == Some(100));
    ensure!(store.recovery_codes_left(&u.id).await? == 2);
    // A confirmed enrolment cannot be replaced without a reset.
    let again = store.begin_totp_enrolment(&u.id, b"other", NOW + 4).await;
    ensure!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    ensure!(store.totp_enrolment(&u.id).await?.expect("kept").secret == SECRET);
    Ok(())
}

async fn totp_steps_are_accepted_once(store: Store) -> Result<()> {
    let u = store.create_user("alice", "h", false, NOW).await?;
    store.begin_totp_enrolment(&u.id, SECRET, NOW).await?;
    store.confirm_totp_enrolment(&u.id, 10, &[], NOW).await?;
    // The confirming step is used up, and so is anything older.
    ensure!(!store.accept_totp_step(&u.id, 10).await?);
    ensure!(!store.accept_totp_step(&u.id, 9).await?);
    ensure!(store.accept_totp_step(&u.id, 11).await?);
    ensure!(!store.accept_totp_step(&u.id, 11).await?);
    ensure!(store.accept_totp_step(&u.id, 13).await?);
    ensure!(!store.accept_totp_step(&u.id, 12).await?);
    ensure!(store.totp_enrolment(&u.id).await?.and_then(|e| e.last_step) == Some(13));
    // Another user's enrolment is separate.
    let b = store.create_user("bob", "h", false, NOW).await?;
    ensure!(!store.accept_totp_step(&b.id, 20).await?);
    Ok(())
}

async fn recovery_codes_work_once(store: Store) -> Result<()> {
    let u = store.create_user("alice", "h", false, NOW).await?;
    let b = store.create_user("bob", "h", false, NOW).await?;
    store.begin_totp_enrolment(&u.id, SECRET, NOW).await?;
    let codes: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 32]).collect();
    store.confirm_totp_enrolment(&u.id, 1, &codes, NOW).await?;
    ensure!(store.recovery_codes_left(&u.id).await? == 10);
    ensure!(
        !store.use_recovery_code(&b.id, &[3; 32], NOW).await?,
        "not bob's"
    );
    ensure!(store.use_recovery_code(&u.id, &[3; 32], NOW).await?);
    ensure!(
        !store.use_recovery_code(&u.id, &[3; 32], NOW).await?,
        "used twice"
    );
    ensure!(!store.use_recovery_code(&u.id, &[42; 32], NOW).await?);
    ensure!(!store.use_recovery_code(&u.id, &[4; 31], NOW).await?);
    ensure!(store.recovery_codes_left(&u.id).await? == 9);
    Ok(())
}

async fn reset_and_user_delete_remove_mfa(store: Store) -> Result<()> {
    let u = store.create_user("alice", "h", false, NOW).await?;
    ensure!(!store.reset_mfa(&u.id).await?);
    store.begin_totp_enrolment(&u.id, SECRET, NOW).await?;
    store
        .confirm_totp_enrolment(&u.id, 1, &[vec![1; 32]], NOW)
        .await?;
    ensure!(store.reset_mfa(&u.id).await?);
    ensure!(store.totp_enrolment(&u.id).await?.is_none());
    ensure!(store.recovery_codes_left(&u.id).await? == 0);
    // After a reset the user can enrol again.
    store.begin_totp_enrolment(&u.id, b"new", NOW).await?;
    store
        .confirm_totp_enrolment(&u.id, 1, &[vec![1; 32]], NOW)
        .await?;
    // Deleting the user takes the enrolment and codes along.
    ensure!(store.delete_user("alice").await?);
    ensure!(store.totp_enrolment(&u.id).await?.is_none());
    ensure!(store.recovery_codes_left(&u.id).await? == 0);
    Ok(())
}

async fn tokens_carry_the_mfa_flag(store: Store) -> Result<()> {
    let u = store.create_user("alice", "h", false, NOW).await?;
    let plain = store.insert_token(&u.id, &[1; 32], NOW, NOW + HOUR).await?;
    let strong = store
        .insert_token_mfa(&u.id, &[2; 32], NOW, NOW + HOUR, true)
        .await?;
    ensure!(!plain.mfa && strong.mfa);
    ensure!(store.token_by_hash(&[1; 32]).await?.map(|t| t.mfa) == Some(false));
    ensure!(store.token_by_hash(&[2; 32]).await?.map(|t| t.mfa) == Some(true));
    ensure!(store.token_by_id(&strong.id).await? == Some(strong.clone()));
    let active = store.list_active_tokens(NOW).await?;
    ensure!(active.iter().any(|t| t.id == strong.id && t.mfa));
    Ok(())
}
