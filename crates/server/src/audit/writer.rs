//! The writer task that appends events to the chain, and the checkpoints that sign its head.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use wicket_audit::{AuditKey, ChainedEvent, Event};
use wicket_store::{AuditFilter, Store};

use super::AuditUnavailable;
use crate::error::ServerError;
use crate::now_ms;

/// The most events the writer appends in one transaction.
const BATCH: usize = 256;

/// Events waiting for the writer before those recording more wait for room (about 64 MiB at
/// the most for events of a few KiB): the memory a slow store can make us hold.
const QUEUE: usize = 16 * 1024;

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
    pub async fn append(&self, event: Event) -> Result<u64, AuditUnavailable> {
        let (done, wait) = oneshot::channel();
        let unavailable = |why: String| {
            tracing::error!(error = %why, "audit append failed; refusing the request");
            AuditUnavailable
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
