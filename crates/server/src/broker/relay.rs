//! The one relay: splices a user's channel and an agent's channel, whatever the kind.
//!
//! Each direction runs on its own, so a stalled reader on one side never blocks the other;
//! credit on both links bounds what waits here to about one window per direction. What a kind
//! may send which way is one table ([`passes`]); what a kind does with what goes through
//! (record it, count it, decode a copy's records) is its [`Tap`]. The relay ends early, telling
//! the user why and closing both channels, when access is taken away, when the kind's own
//! limit fires (a session's idle timeout), or when its tap fails (a recording that cannot keep
//! up: fail closed).

use std::future::Future;

use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;
use wicket_mux::{Channel, ChannelReceiver, ChannelSender, Event, LinkCause, LinkClosed, MuxError};
use wicket_proto::ErrorCode;

use crate::sessions::Ending;

/// Which kind of channel is relayed: it decides which events pass which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Session,
    Tcp,
    Copy,
}

/// Which side an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    User,
    Agent,
}

/// Why the server ended a relay; sent to the user as an `ERROR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Stop {
    pub code: ErrorCode,
    pub reason: String,
}

/// How one side's half of a relay ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The side closed its channel.
    Closed,
    /// The side sent an `ERROR`.
    Failed(String),
    /// The side's link was lost: the other side is told in words ([`link_lost`]), not the
    /// transport's.
    LinkLost(LinkClosed),
    /// The other side's channel is closed: nothing more could be passed on.
    Cut,
}

impl Ended {
    /// The reason as the mux or the peer gave it, for the places that want its words (a
    /// copy's event).
    pub fn reason(&self) -> Option<String> {
        match self {
            Ended::Failed(r) => Some(r.clone()),
            Ended::LinkLost(why) => Some(format!("link lost: {}", why.reason)),
            Ended::Closed | Ended::Cut => None,
        }
    }
}

/// What the user is told when the agent's link of the channel is lost (`target` names the
/// target, when the relay knows it).
pub(super) fn link_lost(side: Side, why: &LinkClosed, target: Option<&str>) -> String {
    let agent = match target {
        Some(t) => format!("the agent on {t}"),
        None => "the target's agent".to_string(),
    };
    match (side, why.cause) {
        (Side::Agent, LinkCause::Silent) => format!("{agent} stopped answering"),
        (Side::Agent, LinkCause::Lost) => format!("{agent} went away"),
        (Side::Agent, LinkCause::PeerClosed | LinkCause::Closed) => {
            format!("{agent} went away ({})", why.reason)
        }
        (Side::User, LinkCause::Silent) => "the user's client stopped answering".into(),
        (Side::User, _) => "the connection to the user was lost".into(),
    }
}

/// What a kind does with the events going through. Every method has a default that does
/// nothing, so a tap says only what its kind needs.
pub(super) trait Tap: Sync {
    /// The kind relayed (see [`passes`]).
    const KIND: Kind;

    /// Sent to the user before anything is relayed (a session's banner).
    fn opening(&self, _user: &ChannelSender) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Sees each event that passes, before it is passed on. An error ends the relay with
    /// that reason (fail closed); the event is not passed on.
    fn event(&self, _from: Side, _ev: &Event) -> impl Future<Output = Result<(), Stop>> + Send {
        async { Ok(()) }
    }

    /// Learns how a side ended, at the moment it did.
    fn ended(&self, _side: Side, _how: &Ended) {}

    /// The user's client reads `ZDATA` (compressed output): passed as it came, else inflated.
    fn user_reads_zdata(&self) -> bool {
        false
    }

    /// The target's name, for what the user is told when its agent goes away.
    fn target(&self) -> Option<&str> {
        None
    }
}

/// What a finished relay reports.
pub(super) struct Relayed {
    /// Why the server ended it early, if it did.
    pub stopped: Option<Stop>,
    /// How the agent's side ended, if it did before the relay was stopped.
    pub agent: Option<Ended>,
    /// How the user's side ended, if it did before the relay was stopped.
    pub user: Option<Ended>,
    /// The side that ended first, if one did before the relay was stopped.
    pub first: Option<Side>,
    /// A tap's failure, whichever way the relay then ended.
    pub tap_failed: Option<Stop>,
}

/// Whether `ev` from `from` is for the tap alone: seen, never passed on (the agent's
/// `INPUT_ECHO` reports on a session, which decide how its input is recorded).
fn for_tap_only(kind: Kind, from: Side, ev: &Event) -> bool {
    matches!(
        (kind, from, ev),
        (Kind::Session, Side::Agent, Event::InputEcho { .. })
    )
}

/// Whether `ev` from `from` is passed on for a channel of `kind`. Anything else is dropped:
/// frames that make no sense in that direction are never relayed.
pub(super) fn passes(kind: Kind, from: Side, ev: &Event) -> bool {
    use Event as E;
    matches!(
        (kind, from, ev),
        (_, _, E::Data(_) | E::Eof | E::Error { .. })
            | (
                Kind::Session | Kind::Copy,
                Side::Agent,
                E::ExtData(_) | E::Exit(_)
            )
            | (Kind::Session, Side::Agent, E::ZData(_))
            | (Kind::Session, Side::User, E::Resize { .. } | E::Signal(_))
            // A copy's user cancelling (Ctrl-C): the helper on the target stops.
            | (Kind::Copy, Side::User, E::Signal(_))
    )
}

/// Relays until both sides have closed, access is taken away (`revoked` fires with the
/// reason), `limit` resolves, or the tap fails. Closing both channels hangs up what runs on
/// the target.
pub(super) async fn relay<T: Tap>(
    user: Channel,
    agent: Channel,
    mut revoked: watch::Receiver<Option<Ending>>,
    limit: impl Future<Output = Stop>,
    tap: &T,
) -> Relayed {
    let (user_tx, user_rx) = user.split();
    let (agent_tx, agent_rx) = agent.split();
    tap.opening(&user_tx).await;
    let (cut_user, cut_agent) = (user_tx.clone(), agent_tx.clone());
    let (failed_tx, mut failed_rx) = watch::channel(None::<Stop>);
    let (mut agent_end, mut user_end) = (None, None);
    let first = Mutex::new(None);
    let ended_first = |side| {
        first
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(side);
    };
    let stopped = {
        let user_side = async {
            let how = pump(Side::User, user_rx, &agent_tx, tap, &failed_tx).await;
            ended_first(Side::User);
            tap.ended(Side::User, &how);
            // The user is gone: whatever runs on the target hears its input end.
            agent_tx.close();
            user_end = Some(how);
        };
        let agent_side = async {
            let how = pump(Side::Agent, agent_rx, &user_tx, tap, &failed_tx).await;
            ended_first(Side::Agent);
            tap.ended(Side::Agent, &how);
            // A copy's agent side done in good order: the user may still have its verdict
            // to send (a download), so its channel is only half-closed.
            if T::KIND == Kind::Copy && how == Ended::Closed {
                let _ = user_tx.eof();
            } else {
                user_tx.close();
            }
            agent_end = Some(how);
        };
        let revoked = async {
            let ending = revoked.wait_for(|r| r.is_some()).await.map(|r| r.clone());
            match ending {
                Ok(Some(Ending { code, reason })) => Stop { code, reason },
                // The registry entry is gone: nobody can revoke this channel any more.
                _ => std::future::pending().await,
            }
        };
        let tap_failed = async {
            let failed = failed_rx.wait_for(|f| f.is_some()).await.map(|f| f.clone());
            match failed {
                Ok(Some(stop)) => stop,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = async { tokio::join!(user_side, agent_side) } => None,
            s = revoked => Some(s),
            s = limit => Some(s),
            s = tap_failed => Some(s),
        }
    };
    if let Some(stop) = &stopped {
        tracing::info!(reason = %stop.reason, "ending relayed channel");
        let _ = cut_user.error(stop.code, &stop.reason);
        cut_user.close();
        cut_agent.close();
    }
    let tap_failed = failed_tx.borrow().clone();
    let first = first.into_inner().unwrap_or_else(|e| e.into_inner());
    Relayed {
        stopped,
        agent: agent_end,
        user: user_end,
        first,
        tap_failed,
    }
}

/// Registers `live` (so a revocation ends it) and relays it with no limit of its own: a
/// forward or a copy. Unregistered when the relay ends.
pub(super) async fn relay_live<T: Tap>(
    state: &crate::state::AppState,
    live: crate::sessions::LiveSession,
    user: Channel,
    agent: Channel,
    tap: &T,
) -> Relayed {
    let guard = state.sessions().register(live);
    relay(
        user,
        agent,
        guard.ended.clone(),
        std::future::pending(),
        tap,
    )
    .await
}

/// Passes one side's events to the other until the side ends. A tap's failure is reported
/// through `failed`, and this side then waits for the relay to stop it: the destination stays
/// open so the reason can still reach the user.
async fn pump<T: Tap>(
    side: Side,
    mut from: ChannelReceiver,
    to: &ChannelSender,
    tap: &T,
    failed: &watch::Sender<Option<Stop>>,
) -> Ended {
    let mut error = None;
    while let Some(ev) = from.recv().await {
        let pass = passes(T::KIND, side, &ev);
        if !pass && !for_tap_only(T::KIND, side, &ev) {
            continue;
        }
        if let Err(stop) = tap.event(side, &ev).await {
            let _ = failed.send(Some(stop));
            return std::future::pending().await;
        }
        if !pass {
            continue;
        }
        // Data from a cut channel does not wait for the other side's credit.
        let sent = match ev {
            Event::Data(d) => from.unless_cut(to.data(d)).await,
            Event::ExtData(d) => from.unless_cut(to.ext_data(d)).await,
            Event::ZData(d) if tap.user_reads_zdata() && to.fits_zdata(d.len()) => {
                from.unless_cut(to.zdata(d)).await
            }
            Event::ZData(d) => match wicket_proto::zdata::decompress(&d) {
                Ok(plain) => from.unless_cut(to.data(Bytes::from(plain))).await,
                Err(e) => to.error(ErrorCode::Protocol, &format!("the agent sent {e}")),
            },
            Event::Eof => to.eof(),
            Event::Resize { cols, rows } => to.resize(cols, rows),
            Event::Signal(s) => to.signal(s),
            Event::Exit(s) => to.exit(s),
            // The side's link is gone: the other side hears what happened in words.
            Event::Error { code, reason } => match from.link_closed() {
                Some(why) => {
                    let _ = to.error(code, &link_lost(side, &why, tap.target()));
                    return Ended::LinkLost(why);
                }
                None => {
                    let sent = to.error(code, &reason);
                    error.get_or_insert(reason);
                    sent
                }
            },
            // Never passed on (`for_tap_only`).
            Event::InputEcho { .. } => Ok(()),
        };
        if let Err(e) = sent {
            // Cut while passing data on (its link went, or it failed): tell the other side
            // why, as its queued ERROR would have (a forward's far end resets its connection).
            if let MuxError::Cut(cut) = e {
                let _ = to.error(cut.code, &cut.reason);
                return Ended::Failed(cut.reason);
            }
            return Ended::Cut;
        }
    }
    match error {
        Some(reason) => Ended::Failed(reason),
        None => Ended::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wicket_mux::{mem_pair, Mux, MuxConfig, Role};
    use wicket_proto::zdata::Compressor;
    use wicket_proto::{OpenSpec, SessionSpec};

    /// A channel pair over an in-memory link: what `opener` sends, the other end receives.
    async fn pair() -> (Channel, Channel, Mux, Mux) {
        let (a, b) = mem_pair();
        let (opener, _) = Mux::start(a, Role::Dialer, MuxConfig::default());
        let (acceptor, mut incoming) = Mux::start(b, Role::Acceptor, MuxConfig::default());
        let (opened, accepted) = tokio::join!(
            opener.open(OpenSpec::Session(SessionSpec::default())),
            async { incoming.recv().await.unwrap().accept().unwrap() }
        );
        (opened.unwrap(), accepted, opener, acceptor)
    }

    struct Plain(bool);
    impl Tap for Plain {
        const KIND: Kind = Kind::Session;
        fn user_reads_zdata(&self) -> bool {
            self.0
        }
    }

    /// Passes what the agent sends to a user whose client did (or did not) ask for ZDATA,
    /// and returns the events the user received.
    async fn relayed(user_reads_zdata: bool, payload: Bytes) -> Vec<Event> {
        let (agent_end, agent, _m1, _m2) = pair().await;
        let (user, user_end, _m3, _m4) = pair().await;
        let (agent_tx, _agent_rx) = agent_end.split();
        agent_tx.zdata(payload).await.unwrap();
        agent_tx.close();
        let (_, mut user_rx) = user_end.split();
        let (to_user, from_agent) = (user.split().0, agent.split().1);
        let (failed, _) = watch::channel(None);
        let how = pump(
            Side::Agent,
            from_agent,
            &to_user,
            &Plain(user_reads_zdata),
            &failed,
        )
        .await;
        assert_eq!(how, Ended::Closed);
        to_user.close();
        let mut got = Vec::new();
        while let Some(ev) = user_rx.recv().await {
            got.push(ev);
        }
        got
    }

    #[tokio::test]
    async fn compressed_output_passes_as_it_came_or_inflated_for_a_client_that_did_not_ask() {
        let text = b"output!\n".repeat(1000);
        let z = Bytes::from(Compressor::new().unwrap().compress(&text).unwrap());
        assert_eq!(relayed(true, z.clone()).await, [Event::ZData(z.clone())]);
        assert_eq!(relayed(false, z).await, [Event::Data(text.into())]);
    }

    #[test]
    fn each_kind_passes_only_what_belongs_on_it() {
        let exit = Event::Exit(wicket_proto::ExitStatus::Code(0));
        let resize = Event::Resize { cols: 80, rows: 24 };
        let z = Event::ZData(Bytes::new());
        assert!(passes(Kind::Tcp, Side::Agent, &Event::Data(Bytes::new())));
        assert!(!passes(Kind::Tcp, Side::Agent, &exit));
        assert!(!passes(Kind::Tcp, Side::User, &resize));
        assert!(passes(Kind::Copy, Side::Agent, &exit));
        assert!(!passes(Kind::Copy, Side::User, &exit));
        assert!(!passes(Kind::Copy, Side::Agent, &z));
        assert!(passes(Kind::Session, Side::Agent, &z));
        assert!(!passes(Kind::Session, Side::User, &z));
        assert!(passes(Kind::Session, Side::User, &resize));
        assert!(!passes(Kind::Session, Side::Agent, &resize));
        let int = Event::Signal(wicket_proto::Signal::Int);
        assert!(passes(Kind::Copy, Side::User, &int));
        assert!(!passes(Kind::Tcp, Side::User, &int));
        assert!(!passes(Kind::Copy, Side::User, &resize));
        // The agent's input reports reach a session's tap, and no one else.
        let report = Event::InputEcho {
            len: 1,
            echo: false,
        };
        assert!(!passes(Kind::Session, Side::Agent, &report));
        assert!(for_tap_only(Kind::Session, Side::Agent, &report));
        assert!(!for_tap_only(Kind::Session, Side::User, &report));
        assert!(!for_tap_only(Kind::Copy, Side::Agent, &report));
    }
}
