//! The verifier: walks a chain of events and its checkpoints and names the first event that
//! does not belong where it is.
//!
//! An event is accepted when its sequence number is the next one, its `prev_hash` is the hash
//! of the event accepted before it (the [`GENESIS`](crate::GENESIS) for event 1) and its stored
//! hash is `SHA-256(prev_hash || encode(event))`. At the first event that fails, the verifier
//! looks at its neighbours to say what most likely happened ([`Break`]). Checkpoints then catch
//! what the chain alone cannot: a tail cut off, or a stretch of events rewritten with freshly
//! computed hashes.

use std::collections::HashMap;

use crate::event::{ChainedEvent, Hash, GENESIS};
use crate::keys::KeyHistory;
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
    let head = walk(events, 1, GENESIS)?;
    let hashes: HashMap<u64, Hash> = events.iter().map(|e| (e.event.seq, e.hash)).collect();
    let last_seq = head.map_or(0, |(s, _)| s);
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.seq);
    let keys = public_key.map(|pk| KeyHistory::new(events, &sorted, pk));
    let mut good_until = 0u64;
    for cp in &sorted {
        if let Some(keys) = &keys {
            if !cp.verify(keys.signer(cp.seq)) {
                return Err(Break::BadSignature { seq: cp.seq });
            }
        }
        if cp.seq > last_seq {
            return Err(Break::Removed { seq: last_seq + 1 });
        }
        if hashes.get(&cp.seq) != Some(&cp.head) {
            return Err(Break::Rewritten {
                from: good_until + 1,
                seq: cp.seq,
            });
        }
        good_until = cp.seq;
    }
    let last_checkpoint = sorted.last().map(|c| c.seq);
    Ok(Report {
        events: events.len() as u64,
        head,
        checkpoints: sorted.len(),
        last_checkpoint,
        unsigned_tail: last_seq - last_checkpoint.unwrap_or(0).min(last_seq),
        key_changes: keys.map(|k| k.changes()).unwrap_or_default(),
    })
}

/// Verifies a stretch of the chain that starts at `first_seq` after `first_prev`; returns the
/// last event's sequence number and hash (None when empty).
pub fn verify_segment(
    events: &[ChainedEvent],
    first_seq: u64,
    first_prev: Hash,
) -> Result<Option<(u64, Hash)>, Break> {
    walk(events, first_seq, first_prev)
}

fn walk(
    events: &[ChainedEvent],
    first_seq: u64,
    first_prev: Hash,
) -> Result<Option<(u64, Hash)>, Break> {
    let mut prev = first_prev;
    // The hash `prev` had before the last accepted event, to spot an accepted intruder.
    let mut before_prev: Option<Hash> = None;
    let mut expected = first_seq;
    for (i, e) in events.iter().enumerate() {
        let self_ok = e.is_self_consistent();
        let linked = e.prev_hash == prev;
        if self_ok && linked && e.event.seq == expected {
            before_prev = Some(prev);
            prev = e.hash;
            expected += 1;
            continue;
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
        let next = events.get(i + 1);
        if next.is_some_and(|n| n.prev_hash == prev) {
            return Err(Break::Inserted { seq: expected });
        }
        if !linked {
            // It follows the event before the last accepted one: that one was slipped in.
            if before_prev == Some(e.prev_hash) {
                return Err(Break::Inserted { seq: expected - 1 });
            }
            if e.event.seq > expected {
                return Err(Break::Removed { seq: expected });
            }
            return Err(Break::Unlinked { seq: expected });
        }
        return Err(Break::Changed { seq: expected });
    }
    Ok(events.last().map(|e| (e.event.seq, e.hash)))
}

#[cfg(test)]
mod tests;
