//! User administration. Every change that can take access away re-checks live sessions.

use axum::extract::{Path, State};
use axum::Json;
use wicket_api::{CreateUser, CreatedUser, UserDeleted, UserDisabled, UserView};

use crate::error::ApiError;
use crate::now_ms;
use crate::secrets::{hash_password, new_password};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<UserView>>, ApiError> {
    let mut out = Vec::new();
    for u in state.store().list_users().await? {
        let groups = state.store().groups_of_user(&u.id).await?;
        out.push(UserView {
            name: u.name,
            is_admin: u.is_admin,
            disabled: u.disabled,
            sso: u.sso.is_some(),
            groups,
            created_at: u.created_at,
        });
    }
    Ok(Json(out))
}

pub async fn create(
    State(state): State<AppState>,
    Json(req): Json<CreateUser>,
) -> Result<Json<CreatedUser>, ApiError> {
    check_name(&req.name)?;
    if let Some(p) = &req.password {
        crate::limits::length("password", p, crate::limits::PASSWORD)?;
    }
    let (password, generated) = match req.password {
        Some(p) if p.chars().count() >= 8 => (p, false),
        Some(_) => {
            return Err(ApiError::bad_request(
                "the password must be at least 8 characters",
            ))
        }
        None => (new_password(), true),
    };
    let hashed = {
        let p = password.clone();
        tokio::task::spawn_blocking(move || hash_password(&p))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?
    };
    match state
        .store()
        .create_user(&req.name, &hashed, req.admin, now_ms())
        .await
    {
        Ok(_) => {}
        Err(wicket_store::StoreError::Conflict(m)) => return Err(ApiError::conflict(m)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %req.name, admin = req.admin, "user created");
    Ok(Json(CreatedUser {
        name: req.name,
        password: generated.then_some(password),
    }))
}

pub async fn disable(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<UserDisabled>, ApiError> {
    set_disabled(state, name, true).await
}

pub async fn enable(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<UserDisabled>, ApiError> {
    set_disabled(state, name, false).await
}

async fn set_disabled(
    state: AppState,
    name: String,
    disabled: bool,
) -> Result<Json<UserDisabled>, ApiError> {
    if !state.store().set_user_disabled(&name, disabled).await? {
        // A deleted single sign-on user: enabling lets the identity sign in (and be created)
        // again.
        if !disabled && state.store().forget_deleted_sso_user(&name).await? {
            tracing::info!(user = %name, "deleted SSO user may sign in again");
            return Ok(Json(UserDisabled {
                name,
                disabled: false,
                sessions_ended: 0,
            }));
        }
        return Err(ApiError::not_found(format!("no user named {name:?}")));
    }
    let ended = if disabled {
        crate::broker::recheck(&state).await
    } else {
        0
    };
    tracing::info!(user = %name, disabled, sessions_ended = ended, "user updated");
    Ok(Json(UserDisabled {
        name,
        disabled,
        sessions_ended: ended as u64,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<UserDeleted>, ApiError> {
    if !state.store().delete_user(&name).await? {
        return Err(ApiError::not_found(format!("no user named {name:?}")));
    }
    let ended = crate::broker::recheck(&state).await;
    tracing::info!(user = %name, sessions_ended = ended, "user deleted");
    Ok(Json(UserDeleted {
        name,
        deleted: true,
        sessions_ended: ended as u64,
    }))
}

/// User and group names appear in policies as entity ids: keep them plain.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid name \"{}\": use 1-64 letters, digits, '-', '_', '.' or '@'",
            crate::limits::shown(name)
        )))
    }
}
