//! The login a user's link runs on (protocol version 5, `wicket_proto::login`): the warning
//! before its token expires, and the renewal with a newer token of the same user.
//!
//! The rule: a session lives as long as the login it runs on. Some minutes before that token
//! expires the server tells the client ([`NoticeKind::LoginExpiring`]); a client that finds a
//! newer token (its user ran `wicket login` in another terminal) sends it ([`Renew`]), and if
//! it is a live token of the same user, with a second factor if the old one had one, the link
//! and every live session on the old token carry on under the new one. Otherwise they end
//! when the old token expires ("your login expired"), at that moment.

use std::time::Duration;

use tokio::time::Instant;
use wicket_audit::Outcome;
use wicket_mux::Mux;
use wicket_proto::{Notice, NoticeKind, Renew};

use crate::auth::{authenticate, Caller};
use crate::sessions::Ending;
use crate::state::AppState;
use crate::{audit, now_ms};

/// How long before its token expires a link with live sessions is warned: five minutes, or a
/// third of the token's lifetime when that is shorter (a short-lived token is still warned
/// before its end, not at its start).
const WARN_BEFORE: Duration = Duration::from_secs(5 * 60);

/// While the warning is due but no session runs on the token, look again this often: a
/// session opened in the last minutes is warned too.
const WARN_RECHECK: Duration = Duration::from_secs(5);

/// Refused renewals a link may send before further ones are ignored: a client guessing tokens
/// gains nothing but costs a lookup each.
const MAX_REFUSED: u32 = 10;

/// The login of one user's link.
pub(super) struct Login {
    caller: Caller,
    /// When the token expires (Unix milliseconds), if the store said.
    expires_at: Option<i64>,
    /// When to warn (Unix milliseconds); `None` once warned or when nothing is known.
    warn_at: Option<i64>,
    /// When to end the sessions on the token (Unix milliseconds); `None` once done.
    end_at: Option<i64>,
    refused: u32,
}

impl Login {
    /// The login of a link whose upgrade `caller` authenticated.
    pub(super) async fn new(state: &AppState, caller: Caller) -> Login {
        let mut login = Login {
            caller,
            expires_at: None,
            warn_at: None,
            end_at: None,
            refused: 0,
        };
        login.load(state).await;
        login
    }

    /// Who opens channels on the link now.
    pub(super) fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Reads the current token's lifetime and schedules its warning.
    async fn load(&mut self, state: &AppState) {
        match state.store().token_by_id(&self.caller.token_id).await {
            Ok(Some(t)) => {
                let lead = (WARN_BEFORE.as_millis() as i64).min((t.expires_at - t.created_at) / 3);
                self.expires_at = Some(t.expires_at);
                self.warn_at = Some(t.expires_at - lead);
                self.end_at = Some(t.expires_at);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading the link's token for its expiry"),
        }
    }

    /// When the warning is due, if it is still to come.
    pub(super) fn warn_at(&self) -> Option<Instant> {
        self.warn_at.map(instant)
    }

    /// When the token expires, if its sessions are still to be ended.
    pub(super) fn end_at(&self) -> Option<Instant> {
        self.end_at.map(instant)
    }

    /// The token expired unrenewed: its sessions end now, with the reason (the periodic
    /// re-check would end them within seconds; this is the moment).
    pub(super) fn expired(&mut self, state: &AppState) {
        self.end_at = None;
        self.warn_at = None;
        let ended = state
            .sessions()
            .end_token(&self.caller.token_id, Ending::login_expired());
        if ended > 0 {
            tracing::info!(user = %self.caller.user.name, sessions = ended, "login expired; sessions ended");
        }
    }

    /// Warns the client that its login expires soon, if a session runs on it; else looks
    /// again shortly.
    pub(super) fn warn(&mut self, state: &AppState, mux: &Mux) {
        let Some(expires_at) = self.expires_at else {
            self.warn_at = None;
            return;
        };
        let left = expires_at - now_ms();
        if left <= 0 {
            self.warn_at = None;
            return;
        }
        if !state.sessions().uses_token(&self.caller.token_id) {
            self.warn_at = Some(now_ms() + WARN_RECHECK.as_millis() as i64);
            return;
        }
        self.warn_at = None;
        let text = format!(
            "your login expires in {}: run `wicket login` in another terminal to keep this \
             session open",
            humantime::format_duration(Duration::from_secs(((left + 999) / 1000) as u64))
        );
        tracing::info!(user = %self.caller.user.name, "warning the link that its login expires soon");
        mux.notice(Notice {
            kind: NoticeKind::LoginExpiring,
            text,
            expires_at: Some(expires_at),
        });
    }

    /// Takes a newer token from the client: the link and its sessions move to it, or the
    /// client is told why not.
    pub(super) async fn renew(&mut self, state: &AppState, mux: &Mux, renew: Renew) {
        if self.refused >= MAX_REFUSED {
            return;
        }
        let header = format!("Bearer {}", renew.token);
        let refusal = match authenticate(state, Some(&header)).await {
            Err(e) => Some(format!("the new token was refused: {}", e.message)),
            Ok(new) if new.user.id != self.caller.user.id => {
                Some("the new token is another user's".to_string())
            }
            Ok(new) if self.caller.mfa && !new.mfa => Some(
                "the new login did not prove a second factor and this session's did".to_string(),
            ),
            Ok(new) if new.token_id == self.caller.token_id => {
                Some("that is the token this session already runs on".to_string())
            }
            Ok(new) => {
                // What extends access is on record before it takes effect (fail closed).
                let moving = self.event(
                    Outcome::Success,
                    serde_json::json!({
                        "from_token": self.caller.token_id,
                        "to_token": new.token_id,
                        "sessions": state.sessions().count_token(&self.caller.token_id),
                    }),
                );
                match state.audit().append(moving).await {
                    Err(_) => {
                        Some("the audit log is unavailable; the login was not renewed".into())
                    }
                    Ok(_) => {
                        self.take(state, mux, new).await;
                        None
                    }
                }
            }
        };
        if let Some(why) = refusal {
            self.refused += 1;
            state
                .audit()
                .record(self.event(Outcome::Denied, serde_json::json!({ "reason": why })))
                .await;
            mux.notice(Notice {
                kind: NoticeKind::RenewRefused,
                text: format!("your login was not renewed: {why}"),
                expires_at: self.expires_at,
            });
        }
    }

    /// Moves the link and its sessions to `new`, and tells the client.
    async fn take(&mut self, state: &AppState, mux: &Mux, new: Caller) {
        let source_ip = self.caller.source_ip;
        let old = std::mem::replace(&mut self.caller, Caller { source_ip, ..new });
        let moved = state
            .sessions()
            .rebind_token(&old.token_id, &self.caller.token_id);
        self.load(state).await;
        tracing::info!(user = %self.caller.user.name, sessions = moved, "link renewed with a newer token");
        let until = self
            .expires_at
            .map(|at| {
                let left = Duration::from_secs(((at - now_ms()).max(0) / 1000) as u64);
                format!(" (for {})", humantime::format_duration(left))
            })
            .unwrap_or_default();
        mux.notice(Notice {
            kind: NoticeKind::LoginRenewed,
            text: format!("your login was renewed: this session goes on{until}"),
            expires_at: self.expires_at,
        });
    }

    /// The audit event of a renewal.
    fn event(&self, outcome: Outcome, details: serde_json::Value) -> wicket_audit::Event {
        audit::event(
            &self.caller.user.name,
            self.caller.source_ip,
            "link.renew",
            &format!("user:{}", self.caller.user.name),
            outcome,
            details,
        )
    }
}

/// The moment of `at` (Unix milliseconds) on the runtime's clock.
fn instant(at: i64) -> Instant {
    let wait = (at - now_ms()).max(0) as u64;
    Instant::now() + Duration::from_millis(wait)
}
