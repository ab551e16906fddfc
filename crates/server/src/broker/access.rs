//! Whether a caller may still reach what it reached: the caller as the store has it now, for
//! each new channel on a link that may be days old, and the re-check of every live session
//! whenever access may have been taken away.

use crate::auth::Caller;
use crate::authz::{evaluate, principal, Facts, Resource};
use crate::sessions::{Ending, LiveSession};
use crate::state::AppState;

use super::Refusal;

/// Why a caller's login no longer holds.
enum Lapsed {
    Deleted,
    Disabled,
    Revoked,
    Expired,
}

/// The caller's user, groups and token's MFA flag as the store has them now, or why the
/// login lapsed.
async fn reload(
    state: &AppState,
    user_id: &str,
    token_id: &str,
) -> Result<Result<(wicket_store::User, Vec<String>, bool), Lapsed>, wicket_store::StoreError> {
    let store = state.store();
    let user = match store.user_by_id(user_id).await? {
        Some(u) if u.disabled => return Ok(Err(Lapsed::Disabled)),
        Some(u) => u,
        None => return Ok(Err(Lapsed::Deleted)),
    };
    let mfa = match store.token_by_id(token_id).await? {
        Some(t) if t.revoked_at.is_some() => return Ok(Err(Lapsed::Revoked)),
        Some(t) if t.expires_at <= crate::now_ms() => return Ok(Err(Lapsed::Expired)),
        Some(t) => t.mfa,
        None => return Ok(Err(Lapsed::Revoked)),
    };
    let groups = store.groups_of_user(&user.id).await?;
    Ok(Ok((user, groups, mfa)))
}

/// The caller as the store has it now (a link authenticates once, at its start, and a
/// `wicket forward` may keep its link for days): each channel is judged by the user, token
/// and groups of the moment it opens.
pub(super) async fn current(state: &AppState, caller: &Caller) -> Result<Caller, Refusal> {
    match reload(state, &caller.user.id, &caller.token_id).await? {
        Ok((user, groups, mfa)) => Ok(Caller {
            user,
            groups,
            mfa,
            ..caller.clone()
        }),
        Err(lapsed) => Err(Refusal::Unauthenticated(
            match lapsed {
                Lapsed::Deleted => "your user was deleted",
                Lapsed::Disabled => "your user was disabled",
                Lapsed::Revoked => "your token was revoked",
                Lapsed::Expired => "your login expired: run `wicket login` and start again",
            }
            .into(),
        )),
    }
}

/// Ends every live session, forward and copy here that is no longer allowed, telling each
/// user why; returns how many ended. Called whenever something that could take access away
/// happens (a user disabled or deleted, a token revoked, a group membership changed, a new
/// policy set), and periodically for changes made through another replica.
pub async fn recheck(state: &AppState) -> usize {
    let mut ended = 0;
    for s in state.sessions().live() {
        if let Some(ending) = still_denied(state, &s).await {
            let reason = ending.reason.clone();
            if state.sessions().end_because(&s.id, ending) {
                tracing::info!(session = %s.id, %reason, "session ended by revocation");
                ended += 1;
            }
        }
    }
    ended
}

/// Ends the live sessions here that another replica was asked to terminate (the request
/// waits in the store: see `api::sessions::terminate`); returns how many ended.
pub async fn end_requested(state: &AppState) -> usize {
    let requests = match state.store().termination_requests().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "reading termination requests");
            return 0;
        }
    };
    let mut ended = 0;
    for (id, reason) in requests {
        if state.sessions().end(&id, &reason) {
            tracing::info!(session = %id, %reason, "session terminated through another replica");
            ended += 1;
        }
    }
    ended
}

/// Why `s` is no longer allowed, if it is not. Store errors keep the session: a database
/// hiccup must not cut everyone off (the next recheck decides).
async fn still_denied(state: &AppState, s: &LiveSession) -> Option<Ending> {
    // The session's MFA flag is its token's, which never changes: a recheck sees the same
    // value the session was allowed with.
    let (user, groups, mfa) = match reload(state, &s.user_id, &s.token_id).await {
        Ok(Ok(now)) => now,
        Ok(Err(lapsed)) => {
            return Some(match lapsed {
                Lapsed::Deleted => Ending::revoked("your user was deleted"),
                Lapsed::Disabled => Ending::revoked("your user was disabled"),
                Lapsed::Revoked => Ending::revoked("your token was revoked"),
                Lapsed::Expired => Ending::login_expired(),
            })
        }
        Err(_) => return None,
    };
    let target = match state.store().target_by_id(&s.target_id).await {
        Ok(Some(t)) if t.revoked_at.is_none() => t,
        Ok(Some(_)) => return Some(Ending::revoked("the target was revoked")),
        Ok(None) => return Some(Ending::revoked("the target was removed")),
        Err(_) => return None,
    };
    let caller = Caller {
        user,
        token_id: s.token_id.clone(),
        groups,
        source_ip: s.source_ip,
        mfa,
        via: crate::auth::Via::Cli,
    };
    let facts = Facts {
        run_as: s.run_as.clone(),
        mfa: caller.mfa,
        dest_host: s.dest.as_ref().map(|(h, _)| h.clone()),
        dest_port: s.dest.as_ref().map(|(_, p)| *p),
    };
    let d = evaluate(
        &state.policies(),
        &principal(&caller),
        s.action,
        Resource::Target(&target),
        s.source_ip,
        &facts,
    );
    (!d.allowed).then(|| Ending::revoked("access was revoked by a policy or group change"))
}
