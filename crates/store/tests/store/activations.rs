//! Activations and registering targets with them.

use anyhow::{ensure, Result};
use wicket_store::{RegisterError, Store};

use crate::harness::{new_activation, new_target, registrations, tags, NOW};

cases!(
    activation_happy_path,
    activation_wrong_code,
    activation_expired,
    activation_unknown,
    single_use_activation_exhausted,
    concurrent_registrations_respect_limit,
    tags_merge_agent_wins,
    duplicate_target_name,
);

async fn activation_happy_path(store: Store) -> Result<()> {
    let act = store
        .create_activation(new_activation(b"code-hash", 2))
        .await?;
    ensure!(act.id.starts_with("act_") && act.registrations == 0);
    ensure!(store.list_activations().await? == vec![act.clone()]);
    let target = store
        .register_target(&act.id, b"code-hash", NOW + 1, new_target("web1"))
        .await?;
    ensure!(target.id.starts_with("tgt_") && target.activation_id == act.id);
    ensure!(target.public_key == vec![0, 1, 2, 254, 255] && target.created_at == NOW + 1);
    ensure!(target.last_seen.is_none() && target.inventory.is_none());
    ensure!(store.target_by_id(&target.id).await? == Some(target.clone()));
    ensure!(store.target_by_name("web1").await? == Some(target.clone()));
    ensure!(registrations(&store, &act.id).await? == 1);
    Ok(())
}

async fn activation_wrong_code(store: Store) -> Result<()> {
    let act = store.create_activation(new_activation(b"right", 1)).await?;
    let err = store
        .register_target(&act.id, b"wrong", NOW, new_target("web1"))
        .await;
    ensure!(matches!(err, Err(RegisterError::WrongCode)), "{err:?}");
    ensure!(
        registrations(&store, &act.id).await? == 0,
        "a wrong code must not use a slot"
    );
    ensure!(store.target_by_name("web1").await?.is_none());
    // The right code still works afterwards.
    store
        .register_target(&act.id, b"right", NOW, new_target("web1"))
        .await?;
    Ok(())
}

async fn activation_expired(store: Store) -> Result<()> {
    let act = store.create_activation(new_activation(b"code", 5)).await?;
    let at_expiry = act.expires_at;
    let err = store
        .register_target(&act.id, b"code", at_expiry, new_target("web1"))
        .await;
    ensure!(matches!(err, Err(RegisterError::Expired)), "{err:?}");
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(msg == "activation has expired", "{msg}");
    // Without the code, expiry is not revealed.
    let err = store
        .register_target(&act.id, b"nope", at_expiry, new_target("web1"))
        .await;
    ensure!(matches!(err, Err(RegisterError::WrongCode)), "{err:?}");
    ensure!(store.list_targets().await?.is_empty());
    Ok(())
}

async fn activation_unknown(store: Store) -> Result<()> {
    let err = store
        .register_target("act_missing", b"code", NOW, new_target("web1"))
        .await;
    ensure!(matches!(err, Err(RegisterError::NotFound)), "{err:?}");
    Ok(())
}

async fn single_use_activation_exhausted(store: Store) -> Result<()> {
    let act = store.create_activation(new_activation(b"code", 1)).await?;
    store
        .register_target(&act.id, b"code", NOW, new_target("web1"))
        .await?;
    let err = store
        .register_target(&act.id, b"code", NOW, new_target("web2"))
        .await;
    ensure!(matches!(err, Err(RegisterError::Exhausted(1))), "{err:?}");
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(
        msg == "activation has reached its registration limit (1)",
        "{msg}"
    );
    ensure!(registrations(&store, &act.id).await? == 1);
    ensure!(store.target_by_name("web2").await?.is_none());
    Ok(())
}

async fn concurrent_registrations_respect_limit(store: Store) -> Result<()> {
    let act = store.create_activation(new_activation(b"code", 3)).await?;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (store, id) = (store.clone(), act.id.clone());
        tasks.push(tokio::spawn(async move {
            store
                .register_target(&id, b"code", NOW, new_target(&format!("host{i}")))
                .await
        }));
    }
    let (mut ok, mut exhausted) = (0, 0);
    for task in tasks {
        match task.await? {
            Ok(_) => ok += 1,
            Err(RegisterError::Exhausted(3)) => exhausted += 1,
            Err(e) => anyhow::bail!("unexpected error: {e:?}"),
        }
    }
    ensure!((ok, exhausted) == (3, 7), "ok={ok} exhausted={exhausted}");
    ensure!(store.list_targets().await?.len() == 3);
    ensure!(registrations(&store, &act.id).await? == 3);
    Ok(())
}

async fn tags_merge_agent_wins(store: Store) -> Result<()> {
    let mut new = new_activation(b"code", 1);
    new.tags = tags(&[("env", "prod"), ("team", "infra")]);
    let act = store.create_activation(new).await?;
    let mut target = new_target("db1");
    target.tags = tags(&[("env", "staging"), ("role", "db")]);
    let target = store.register_target(&act.id, b"code", NOW, target).await?;
    let want = tags(&[("env", "staging"), ("role", "db"), ("team", "infra")]);
    ensure!(target.tags == want, "{:?}", target.tags);
    ensure!(store.target_by_id(&target.id).await?.map(|t| t.tags) == Some(want));
    Ok(())
}

async fn duplicate_target_name(store: Store) -> Result<()> {
    let act = store.create_activation(new_activation(b"code", 5)).await?;
    store
        .register_target(&act.id, b"code", NOW, new_target("web1"))
        .await?;
    let err = store
        .register_target(&act.id, b"code", NOW, new_target("web1"))
        .await;
    ensure!(
        matches!(&err, Err(RegisterError::NameTaken(n)) if n == "web1"),
        "{err:?}"
    );
    ensure!(
        registrations(&store, &act.id).await? == 1,
        "a failed insert must roll back"
    );
    ensure!(store.list_targets().await?.len() == 1);
    Ok(())
}
