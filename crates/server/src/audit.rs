//! The audit writer: one [`AuditLog`] per process, in [`AppState`], through which every part of
//! the server records what happened. Events go through one writer task that appends them to
//! the hash chain in the store (in batches, one transaction each) and copies them to the
//! JSON-lines sink; a checkpoint task signs the head with the audit key at an interval and on
//! shutdown. See `docs/AUDIT.md` for what is recorded and which appends fail closed.
//!
//! Two ways to record:
//! - [`AuditLog::append`] waits until the event is committed and fails if it could not be: for
//!   events that must be on record before the request is answered (logins, authorization
//!   decisions, session starts, admin changes). The caller refuses the request on failure.
//! - [`AuditLog::record`] queues the event and returns: for events about something that has
//!   already happened and cannot be refused (session ends, agent disconnects). A failure is
//!   logged with the event.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::{mpsc, oneshot};
use wicket_audit::{canonical_json, AuditKey, ChainedEvent, Event, Outcome};
use wicket_proto::text::bounded;
use wicket_store::{AuditFilter, Store};

use crate::auth::Access;
use crate::error::{ApiError, ServerError};
use crate::limits;
use crate::now_ms;
use crate::state::AppState;

/// The most events the writer appends in one transaction.
const BATCH: usize = 256;

/// Events waiting for the writer before those recording more wait for room (about 64 MiB at
/// the most for events of a few KiB): the memory a slow store can make us hold.
const QUEUE: usize = 16 * 1024;

/// The name of the key file in the data dir (PKCS#8 Ed25519, mode 0600).
pub const KEY_FILE: &str = "audit.key";

/// Who did something, as recorded: a user name, `agent:<target id>`, or `-`.
#[derive(Clone, Debug)]
pub struct Actor(pub String);

impl Actor {
    pub fn nobody() -> Actor {
        Actor("-".into())
    }
}

/// A new event (its sequence number is assigned by the chain). Every string in it, the
/// details' included, is cut to [`limits::AUDIT_TEXT`]: handlers bound what they accept, and
/// this is the last line that keeps one event from growing the chain by more than a few KiB,
/// whatever a caller passed.
pub fn event(
    actor: &str,
    source: Option<std::net::IpAddr>,
    action: &str,
    resource: &str,
    outcome: Outcome,
    mut details: serde_json::Value,
) -> Event {
    bound_strings(&mut details);
    Event {
        seq: 0,
        time: now_ms(),
        actor: bounded(actor, limits::AUDIT_TEXT).into_owned(),
        source: source.map(|s| s.to_string()).unwrap_or_default(),
        action: bounded(action, limits::AUDIT_TEXT).into_owned(),
        resource: bounded(resource, limits::AUDIT_TEXT).into_owned(),
        outcome,
        details: canonical_json(&details),
    }
}

/// Cuts every string (keys too) in `v` to [`limits::AUDIT_TEXT`].
fn bound_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.len() > limits::AUDIT_TEXT => {
            *s = bounded(s, limits::AUDIT_TEXT).into_owned();
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(bound_strings),
        serde_json::Value::Object(o) => {
            if o.keys().any(|k| k.len() > limits::AUDIT_TEXT) {
                *o = std::mem::take(o)
                    .into_iter()
                    .map(|(k, v)| (bounded(&k, limits::AUDIT_TEXT).into_owned(), v))
                    .collect();
            }
            o.values_mut().for_each(bound_strings);
        }
        _ => {}
    }
}

enum Msg {
    Event(Event, Option<oneshot::Sender<Result<u64, String>>>),
    Flush(oneshot::Sender<()>),
}

/// The process's audit writer. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    key: Arc<AuditKey>,
    store: Store,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// Where events are copied as JSON lines, for log shippers.
enum Sink {
    Stdout,
    File(std::fs::File),
}

impl Sink {
    fn open(spec: &str) -> Result<Sink, ServerError> {
        if spec == "stdout" || spec == "-" {
            return Ok(Sink::Stdout);
        }
        use std::os::unix::fs::OpenOptionsExt;
        // The audit trail names users, addresses and commands: private, like the database.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(spec)
            .map_err(|e| ServerError::Config(format!("audit sink {spec}: {e}")))?;
        Ok(Sink::File(file))
    }

    fn write(&mut self, events: &[ChainedEvent]) {
        let mut text = String::new();
        for e in events {
            if let Ok(line) = serde_json::to_string(e) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        let result = match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|_| out.flush())
            }
            Sink::File(f) => f.write_all(text.as_bytes()).and_then(|_| f.flush()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot write to the audit sink");
        }
    }
}

impl AuditLog {
    /// Starts the writer task. `sink` is `stdout` or a file path (appended to).
    pub fn start(store: Store, key: AuditKey, sink: Option<&str>) -> Result<AuditLog, ServerError> {
        let sink = sink.filter(|s| !s.is_empty()).map(Sink::open).transpose()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store.clone(), rx, sink));
        Ok(AuditLog {
            tx,
            key: Arc::new(key),
            store,
        })
    }

    /// Records `event` and waits until it is committed; returns its sequence number. An error
    /// means the event is not on record: refuse what it describes.
    pub async fn append(&self, event: Event) -> Result<u64, ApiError> {
        let (done, wait) = oneshot::channel();
        let unavailable = |why: String| {
            tracing::error!(error = %why, "audit append failed; refusing the request");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the audit log is unavailable; nothing was done",
            )
        };
        self.tx
            .send(Msg::Event(event, Some(done)))
            .await
            .map_err(|_| unavailable("the audit writer has stopped".into()))?;
        match wait.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(unavailable("the audit writer has stopped".into())),
        }
    }

    /// Records `event` without waiting for it to be committed (a failure is logged, with the
    /// event). Waits only while the writer's queue is full: a store that falls behind slows
    /// what is being recorded instead of growing the queue without limit.
    pub async fn record(&self, event: Event) {
        if let Err(mpsc::error::SendError(Msg::Event(e, _))) =
            self.tx.send(Msg::Event(event, None)).await
        {
            tracing::error!(event = ?e, "audit writer stopped; event lost");
        }
    }

    /// Waits until everything queued so far is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The audit public key (32 bytes, Ed25519).
    /// Fails once the database's audit key is no longer this server's (another was adopted
    /// while it ran): from then on it must sign neither checkpoints nor seals.
    pub async fn check_key(&self) -> Result<(), ServerError> {
        let ours = hex::encode(self.key.public_key());
        match self.store.audit_key().await?.filter(|k| *k != ours) {
            Some(key) => Err(ServerError::Config(format!(
                "the database's audit key was replaced by {key} (wicketd audit adopt-key): \
                 this wicketd's key no longer signs the chain; restart it with that key"
            ))),
            None => Ok(()),
        }
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key()
    }

    pub fn key(&self) -> &AuditKey {
        &self.key
    }

    /// Signs the head of the chain if it moved since the last checkpoint. Before signing, the
    /// events since the last checkpoint must chain onto it, so a server never vouches for a
    /// stretch it can see was tampered with. Returns the signed sequence number.
    pub async fn checkpoint(&self) -> Result<Option<u64>, ServerError> {
        self.check_key().await?;
        let (seq, head) = self.store.audit_head().await?;
        let last = self.store.last_audit_checkpoint().await?.unwrap_or(0);
        if seq == 0 || seq <= last {
            return Ok(None);
        }
        let (mut from, mut prev) = (1u64, wicket_audit::GENESIS);
        if last > 0 {
            let cps = self.store.list_audit_checkpoints(last - 1, 1).await?;
            if let Some(cp) = cps.first() {
                (from, prev) = (cp.seq + 1, cp.head);
            }
        }
        let mut events = Vec::new();
        loop {
            let page = self
                .store
                .list_audit(&AuditFilter {
                    after_seq: Some(from - 1 + events.len() as u64),
                    ..AuditFilter::default()
                })
                .await?;
            let done = page.is_empty() || page.last().is_some_and(|e| e.event.seq >= seq);
            events.extend(page.into_iter().filter(|e| e.event.seq <= seq));
            if done {
                break;
            }
        }
        match wicket_audit::verify_segment(&events, from, prev) {
            Ok(Some((s, h))) if s == seq && h == head => {}
            Ok(_) => {
                return Err(ServerError::Config(format!(
                    "audit chain head {seq} does not match its events; not signing"
                )))
            }
            Err(b) => {
                return Err(ServerError::Config(format!(
                    "audit chain broken, not signing a checkpoint: {b}"
                )))
            }
        }
        let cp = self.key.checkpoint(seq, head, now_ms());
        self.store.insert_audit_checkpoint(&cp).await?;
        tracing::debug!(seq, "audit checkpoint signed");
        Ok(Some(seq))
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Msg>, mut sink: Option<Sink>) {
    while let Some(first) = rx.recv().await {
        let mut events = Vec::new();
        let mut waiters = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Event(e, done) => {
                    events.push(e);
                    waiters.push(done);
                }
                Msg::Flush(done) => flushes.push(done),
            }
            if events.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !events.is_empty() {
            let lost = events.clone();
            match store.append_audit(events).await {
                Ok(chained) => {
                    if let Some(sink) = sink.as_mut() {
                        sink.write(&chained);
                    }
                    for (c, w) in chained.iter().zip(waiters) {
                        if let Some(w) = w {
                            let _ = w.send(Ok(c.event.seq));
                        }
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    for (ev, w) in lost.into_iter().zip(waiters) {
                        match w {
                            Some(w) => {
                                let _ = w.send(Err(why.clone()));
                            }
                            None => tracing::error!(error = %why, event = ?ev, "audit event lost"),
                        }
                    }
                }
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Loads the audit key from `path`, creating it (mode 0600, written atomically) on first start.
pub fn load_or_create_key(path: &Path) -> Result<AuditKey, ServerError> {
    match std::fs::read(path) {
        Ok(der) => AuditKey::from_pkcs8(&der)
            .map_err(|e| ServerError::Config(format!("audit key {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let der = AuditKey::generate_pkcs8()
                .map_err(|e| ServerError::Config(format!("audit key: {e}")))?;
            write_private(path, &der)?;
            tracing::info!(path = %path.display(), "created the audit signing key");
            AuditKey::from_pkcs8(&der).map_err(|e| ServerError::Config(format!("audit key: {e}")))
        }
        Err(e) => Err(ServerError::Config(format!(
            "cannot read audit key {}: {e}",
            path.display()
        ))),
    }
}

/// Makes sure `key` is the one that signs the database's chain: the first server claims the
/// database for its key, and a server with another key is refused with the way out, since
/// its checkpoints would not verify under the key auditors pinned.
///
/// `key_existed` says the key file was there before this start: the key has signed a chain
/// already. A database that then has no chain at all (no claimed key, no event) is not a new
/// install but a lost one (a zero-length file, a database swapped for an empty one), and the
/// server refuses it rather than start a new chain as if nothing had been recorded.
pub async fn claim_chain(
    store: &Store,
    key: &AuditKey,
    path: &Path,
    key_existed: bool,
) -> Result<(), ServerError> {
    if key_existed && store.audit_key().await?.is_none() && store.audit_head().await?.0 == 0 {
        return Err(ServerError::Config(format!(
            "the database has no audit chain, but this wicketd's audit key ({}) has signed one \
             before: the database was emptied or replaced. Restore it from a backup. To start \
             a new chain on purpose (a new install in an old data directory), move the key file \
             aside first",
            path.display()
        )));
    }
    let ours = hex::encode(key.public_key());
    let theirs = store.claim_audit_key(&ours).await?;
    if theirs == ours {
        return Ok(());
    }
    Err(ServerError::Config(format!(
        "this database's audit chain is signed by audit key {theirs}, but this wicketd's key \
         ({}) is {ours}. Replicas sharing a database must share the key file: copy it from a \
         server that has it ([audit] key_file, WICKET_AUDIT_KEY_FILE). If that key is lost for \
         good, `wicketd audit adopt-key` makes this one the key from now on (recorded in the chain)",
        path.display()
    )))
}

/// Reads the key without creating it (for `wicketd audit public-key`).
pub fn read_key(path: &Path) -> Result<AuditKey, ServerError> {
    let der = std::fs::read(path).map_err(|e| {
        ServerError::Config(format!("cannot read audit key {}: {e}", path.display()))
    })?;
    AuditKey::from_pkcs8(&der)
        .map_err(|e| ServerError::Config(format!("audit key {}: {e}", path.display())))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), ServerError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp: PathBuf = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Signs a checkpoint every `interval` while the head moves.
pub async fn checkpoints(log: AuditLog, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = log.checkpoint().await {
            tracing::error!(error = %e, "audit checkpoint failed");
        }
    }
}

/// Middleware: one `api.request` event per API call (method, route, status, actor), appended
/// before the response leaves. Health probes are not recorded.
pub async fn middleware(
    access: Access,
    route: &'static str,
    state: AppState,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    if route == "/healthz" || route == "/readyz" {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let source = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let response = next.run(req).await;
    let status = response.status();
    let actor = response
        .extensions()
        .get::<Actor>()
        .cloned()
        .unwrap_or_else(Actor::nobody);
    let outcome = match status.as_u16() {
        100..=399 => Outcome::Success,
        401 | 403 | 429 => Outcome::Denied,
        _ => Outcome::Failure,
    };
    let action = match access {
        Access::Admin(a) => format!("admin.{}", a.as_str()),
        _ => "api.request".to_string(),
    };
    let e = event(
        &actor.0,
        source,
        &action,
        &format!("{method} {path}"),
        outcome,
        serde_json::json!({
            "method": method.as_str(),
            "route": route,
            "status": status.as_u16(),
        }),
    );
    // A change must be on record before the caller hears it succeeded, so a successful
    // change is waited for. It has happened already and cannot be refused here: the decision
    // that allowed it was recorded, fail closed, by the authorization check before the handler
    // ran, and a failure now is logged by `append`.
    if method != Method::GET && outcome == Outcome::Success {
        let _ = state.audit().append(e).await;
    } else {
        state.audit().record(e).await;
    }
    response
}
