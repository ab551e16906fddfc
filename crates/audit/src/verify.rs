//! The verifier: walks a chain of events and its checkpoints and names the first event that
//! does not belong where it is.
//!
//! An event is accepted when its sequence number is the next one, its `prev_hash` is the hash
//! of the event accepted before it (the [`GENESIS`] for event 1) and its stored
//! hash is `SHA-256(prev_hash || encode(event))`. At the first event that fails, the verifier
//! looks at its neighbours to say what most likely happened ([`Break`]). Checkpoints then catch
//! what the chain alone cannot: a tail cut off, or a stretch of events rewritten with freshly
//! computed hashes.

use crate::event::{ChainedEvent, Hash, GENESIS};
use crate::keys::{KeyAdoption, KeyHistory, ADOPT_ACTION};
use crate::signing::Checkpoint;

/// The first thing wrong with a chain. Each variant names an event by sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    /// The event's content no longer matches its hash.
    #[error("event {seq} was changed: its content does not match its hash")]
    Changed { seq: u64 },
    /// Event `seq` (and maybe more after it) is missing.
    #[error("event {seq} was removed: the chain jumps from event {} to a later one", seq.saturating_sub(1))]
    Removed { seq: u64 },
    /// The event at position `seq` was not in the original chain: the event after it follows
    /// the event before it.
    #[error("event {seq} was inserted: the event after it follows the event before it")]
    Inserted { seq: u64 },
    /// The event at position `seq` belongs later in the chain.
    #[error("event {seq} is out of order: it follows an event that comes after it")]
    Reordered { seq: u64 },
    /// The event does not follow the one before it and no simpler story fits (the one before
    /// it was changed and its hash recomputed, or events were removed and renumbered).
    #[error("event {seq} does not follow event {}: an event before it was changed, removed or inserted", seq.saturating_sub(1))]
    Unlinked { seq: u64 },
    /// A checkpoint does not match the chain: events `from..=seq` were rewritten with
    /// recomputed hashes, or the checkpoint itself is forged.
    #[error("events {from} to {seq} were rewritten: the signed checkpoint at event {seq} does not match (first suspect: event {from})")]
    Rewritten { from: u64, seq: u64 },
    /// A checkpoint's signature does not verify with the given public key (or, before a key
    /// change the given key vouches for, with the key it replaced).
    #[error("the checkpoint at event {seq} has a bad signature")]
    BadSignature { seq: u64 },
}

impl Break {
    /// The sequence number of the first event the break implicates.
    pub fn seq(&self) -> u64 {
        match *self {
            Break::Changed { seq }
            | Break::Removed { seq }
            | Break::Inserted { seq }
            | Break::Reordered { seq }
            | Break::Unlinked { seq }
            | Break::BadSignature { seq } => seq,
            Break::Rewritten { from, .. } => from,
        }
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// How many events were checked.
    pub events: u64,
    /// The last event's sequence number and hash.
    pub head: Option<(u64, Hash)>,
    /// How many checkpoints matched (and, with a public key, had good signatures).
    pub checkpoints: usize,
    /// The highest checkpointed sequence number.
    pub last_checkpoint: Option<u64>,
    /// Events after the last checkpoint: chained but not yet covered by a signature, so an
    /// event appended there with a correct hash could not be told from a real one.
    pub unsigned_tail: u64,
    /// The events that changed the signing key, as far back as the given key vouches for
    /// them (see [`keys`](crate::keys)); checkpoints before each were checked with the key it
    /// replaced.
    pub key_changes: Vec<u64>,
}

/// Verifies a whole chain (events from sequence number 1, in order) and its checkpoints. With
/// `public_key`, every checkpoint's signature is checked too: against that key, or before a
/// key change it vouches for, against the key in force then.
pub fn verify(
    events: &[ChainedEvent],
    checkpoints: &[Checkpoint],
    public_key: Option<&[u8]>,
) -> Result<Report, Break> {
    let mut v = ChainVerifier::new(checkpoints.to_vec());
    v.feed(events.to_vec());
    v.finish(public_key)
}

/// Verifies a stretch of the chain that starts at `first_seq` after `first_prev`; returns the
/// last event's sequence number and hash (None when empty).
pub fn verify_segment(
    events: &[ChainedEvent],
    first_seq: u64,
    first_prev: Hash,
) -> Result<Option<(u64, Hash)>, Break> {
    let mut walk = Walk::new(first_seq, first_prev);
    walk.run(events, events.len())?;
    Ok(walk.head)
}

/// [`verify`] for a chain too long to hold: events are fed in order, a page at a time, and
/// only the checkpoints, the key changes and about one page are kept. An event is checked once
/// the page after it has arrived (or at [`finish`](Self::finish)), so that a break is
/// classified with the events that follow it in view, as `verify` does; an event moved further
/// than a page away is named as removed or unlinked rather than reordered.
pub struct ChainVerifier {
    walk: Walk,
    /// Events fed but not yet checked.
    held: Vec<ChainedEvent>,
    /// Sorted by sequence number, each with whether the chain matched it (None: not reached).
    checkpoints: Vec<(Checkpoint, Option<bool>)>,
    /// The next checkpoint the walk has not reached.
    next: usize,
    adoptions: Vec<(u64, KeyAdoption)>,
    events: u64,
}

impl ChainVerifier {
    pub fn new(mut checkpoints: Vec<Checkpoint>) -> Self {
        checkpoints.sort_by_key(|c| c.seq);
        ChainVerifier {
            walk: Walk::new(1, GENESIS),
            held: Vec::new(),
            checkpoints: checkpoints.into_iter().map(|c| (c, None)).collect(),
            next: 0,
            adoptions: Vec::new(),
            events: 0,
        }
    }

    /// Takes the next events of the chain and checks those that have a page after them.
    pub fn feed(&mut self, page: Vec<ChainedEvent>) {
        let ahead = page.len();
        self.held.extend(page);
        let ready = self.held.len().saturating_sub(ahead);
        self.check(ready);
    }

    /// Checks what is left and the checkpoints (with `public_key`, their signatures too).
    pub fn finish(mut self, public_key: Option<&[u8]>) -> Result<Report, Break> {
        self.check(self.held.len());
        if let Some(b) = self.walk.broken.clone() {
            return Err(b);
        }
        let last_seq = self.walk.head.map_or(0, |(s, _)| s);
        let refs: Vec<&Checkpoint> = self.checkpoints.iter().map(|(c, _)| c).collect();
        let keys = public_key.map(|pk| KeyHistory::new(self.adoptions, &refs, pk));
        let mut good_until = 0u64;
        for (cp, matched) in &self.checkpoints {
            if let Some(keys) = &keys {
                if !cp.verify(keys.signer(cp.seq)) {
                    return Err(Break::BadSignature { seq: cp.seq });
                }
            }
            match matched {
                None => return Err(Break::Removed { seq: last_seq + 1 }),
                Some(false) => {
                    return Err(Break::Rewritten {
                        from: good_until + 1,
                        seq: cp.seq,
                    })
                }
                Some(true) => good_until = cp.seq,
            }
        }
        let last_checkpoint = self.checkpoints.last().map(|(c, _)| c.seq);
        Ok(Report {
            events: self.events,
            head: self.walk.head,
            checkpoints: self.checkpoints.len(),
            last_checkpoint,
            unsigned_tail: last_seq - last_checkpoint.unwrap_or(0).min(last_seq),
            key_changes: keys.map(|k| k.changes()).unwrap_or_default(),
        })
    }

    /// Walks the first `n` held events (the rest stay as look-ahead) and drops them.
    fn check(&mut self, n: usize) {
        if self.walk.broken.is_some() || n == 0 {
            return;
        }
        let _ = self.walk.run(&self.held, n);
        for e in &self.held[..n] {
            self.events += 1;
            if e.event.action == ADOPT_ACTION {
                if let Ok(a) = serde_json::from_str(&e.event.details) {
                    self.adoptions.push((e.event.seq, a));
                }
            }
            while let Some((cp, matched)) = self.checkpoints.get_mut(self.next) {
                if cp.seq > e.event.seq {
                    break;
                }
                *matched = Some(cp.seq == e.event.seq && cp.head == e.hash);
                self.next += 1;
            }
        }
        self.held.drain(..n);
    }
}

/// The walk along the chain: what the next event must look like.
struct Walk {
    expected: u64,
    prev: Hash,
    /// The hash `prev` had before the last accepted event, to spot an accepted intruder.
    before_prev: Option<Hash>,
    head: Option<(u64, Hash)>,
    broken: Option<Break>,
}

impl Walk {
    fn new(first_seq: u64, first_prev: Hash) -> Self {
        Walk {
            expected: first_seq,
            prev: first_prev,
            before_prev: None,
            head: None,
            broken: None,
        }
    }

    /// Checks `events[..n]`, looking at all of `events` to name a break.
    fn run(&mut self, events: &[ChainedEvent], n: usize) -> Result<(), Break> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        for i in 0..n {
            if let Err(b) = self.step(events, i) {
                self.broken = Some(b.clone());
                return Err(b);
            }
        }
        Ok(())
    }

    fn step(&mut self, events: &[ChainedEvent], i: usize) -> Result<(), Break> {
        let e = &events[i];
        let expected = self.expected;
        let linked = e.prev_hash == self.prev;
        if e.is_self_consistent() && linked && e.event.seq == expected {
            self.before_prev = Some(self.prev);
            self.prev = e.hash;
            self.expected += 1;
            self.head = Some((e.event.seq, e.hash));
            return Ok(());
        }
        // It follows an event that comes later in the list: moved.
        if !linked
            && events[i + 1..]
                .iter()
                .any(|later| later.hash == e.prev_hash)
        {
            return Err(Break::Reordered { seq: expected });
        }
        // The next event follows what we expected here: this one was slipped in.
        if events.get(i + 1).is_some_and(|n| n.prev_hash == self.prev) {
            return Err(Break::Inserted { seq: expected });
        }
        if !linked {
            // It follows the event before the last accepted one: that one was slipped in.
            if self.before_prev == Some(e.prev_hash) {
                return Err(Break::Inserted { seq: expected - 1 });
            }
            if e.event.seq > expected {
                return Err(Break::Removed { seq: expected });
            }
            return Err(Break::Unlinked { seq: expected });
        }
        Err(Break::Changed { seq: expected })
    }
}

#[cfg(test)]
mod tests;
