//! A live session's login (protocol version 5, `wicket_proto::login`): the server's notices,
//! each shown on its own line on stderr (never in the session's stream), and the renewal.
//!
//! When the server warns that the link's token expires soon, the profile is read again: a
//! newer token there (the user ran `wicket login` in another terminal, with the same config
//! directory) is sent over the link, and the session carries on under it. Until one turns up
//! the profile is looked at every `POLL`, so a login typed after the warning still counts.

use std::time::Duration;

use tokio::sync::mpsc;
use wicket_mux::{Control, Mux};
use wicket_proto::{NoticeKind, Renew};

use crate::profile::{now_ms, Config};

/// How often the profile is read for a newer token once the server has warned.
const POLL: Duration = Duration::from_secs(1);

/// Follows the link's notices until it closes. `token` is the one the link was opened with;
/// `raw` says the local terminal is in raw mode (a line then needs its carriage return).
pub async fn follow(
    mux: Mux,
    mut controls: mpsc::Receiver<Control>,
    profile: Option<String>,
    token: Option<String>,
    raw: bool,
) {
    let mut sent = token;
    let mut looking = false;
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            control = controls.recv() => {
                let notice = match control {
                    None => return,
                    Some(Control::Notice(notice)) => notice,
                    Some(_) => continue,
                };
                match notice.kind {
                    NoticeKind::LoginExpiring => {
                        // A login made before the warning: renewed without a word of warning.
                        if !renew(&mux, profile.as_deref(), &mut sent) {
                            show(&notice.text, raw);
                            looking = true;
                        }
                    }
                    NoticeKind::LoginRenewed => {
                        show(&notice.text, raw);
                        looking = false;
                    }
                    // Refused: another token may still turn up.
                    NoticeKind::RenewRefused | NoticeKind::Other => show(&notice.text, raw),
                }
            }
            _ = poll.tick(), if looking => {
                renew(&mux, profile.as_deref(), &mut sent);
            }
        }
    }
}

/// Sends the profile's token if it is live and not the one last sent; true if it did.
fn renew(mux: &Mux, profile: Option<&str>, sent: &mut Option<String>) -> bool {
    let Some(token) = newer_token(profile, sent.as_deref()) else {
        return false;
    };
    let renewed = mux.renew(Renew {
        token: token.clone(),
    });
    *sent = Some(token);
    renewed
}

/// The profile's token, if the profile can be read, holds a live token, and it is not `old`.
fn newer_token(profile: Option<&str>, old: Option<&str>) -> Option<String> {
    let (_, p) = Config::load().ok()?.selected(profile).ok()?;
    let token = p.token?;
    let live = p.expires_at.is_none_or(|at| at > now_ms());
    (live && Some(token.as_str()) != old).then_some(token)
}

/// One notice on its own line of stderr, through the sanitiser like every message.
fn show(text: &str, raw: bool) {
    if raw {
        errln!("\r\nwicket: {text}\r");
    } else {
        errln!("wicket: {text}");
    }
}
