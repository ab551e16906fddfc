//! Which key signed which checkpoints. A database's chain is signed by one audit key at a time
//! (the store remembers it and refuses a server with another). When an operator replaces the
//! key for good (`wicketd audit adopt-key`, after the old one was lost), the chain records an
//! [`ADOPT_ACTION`] event naming the previous key and the new one; checkpoints before that
//! event stay signed by the previous key.
//!
//! Trust runs backwards from the key the auditor pinned: a key change is honoured only when a
//! checkpoint at or after its event verifies under the key it adopted, so the new key vouches
//! for the change before the old key is believed. An attacker who writes an adoption of their
//! own key into the tail gains nothing: without the pinned key's signature over it, it is not
//! honoured, and the older checkpoints are still checked against the pinned key.

use crate::signing::{Checkpoint, Seal};

/// The action of the event that records a change of the audit key.
pub const ADOPT_ACTION: &str = "audit.key.adopt";

/// The details of an [`ADOPT_ACTION`] event (hex public keys).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyAdoption {
    /// The key that signed checkpoints before this event.
    pub previous: String,
    /// The key that signs checkpoints from this event on.
    pub key: String,
}

/// The signing keys of a chain, as far back as the pinned key vouches for them.
#[derive(Debug, Clone)]
pub struct KeyHistory {
    /// `(from_seq, key)`, newest first: `key` signs checkpoints at or after `from_seq` (until
    /// the entry before it in the list). The last entry starts at 0.
    periods: Vec<(u64, Vec<u8>)>,
}

impl KeyHistory {
    /// The periods of the key changes (`adoptions`: event seq and details) that `pinned`
    /// vouches for through the chain's checkpoints (see the module docs).
    pub(crate) fn new(
        adoptions: Vec<(u64, KeyAdoption)>,
        checkpoints: &[&Checkpoint],
        pinned: &[u8],
    ) -> Self {
        Self::vouched_by(adoptions, pinned, |from, until, key| {
            checkpoints
                .iter()
                .any(|c| c.seq >= from && c.seq < until && c.verify(key))
        })
    }

    /// The same for an export, whose signatures are its segments' seals. A seal is made when
    /// a segment is written, at or after its last event: by the key in force then or by a later
    /// one (a segment exported again after a key change), see [`seal_signers`](Self::seal_signers).
    pub fn for_seals(adoptions: Vec<(u64, KeyAdoption)>, seals: &[Seal], pinned: &[u8]) -> Self {
        Self::vouched_by(adoptions, pinned, |from, until, key| {
            seals
                .iter()
                .any(|s| s.last_seq >= from && s.last_seq < until && s.verify(key))
        })
    }

    /// `signed(from, until, key)`: whether `key` signed something at a sequence number in
    /// `from..until`.
    fn vouched_by(
        mut adoptions: Vec<(u64, KeyAdoption)>,
        pinned: &[u8],
        signed: impl Fn(u64, u64, &[u8]) -> bool,
    ) -> Self {
        adoptions.sort_by_key(|(seq, _)| *seq);
        let mut periods = Vec::new();
        let mut current = pinned.to_vec();
        let mut until = u64::MAX;
        for (seq, adoption) in adoptions.into_iter().rev() {
            let (Ok(key), Ok(previous)) =
                (hex::decode(&adoption.key), hex::decode(&adoption.previous))
            else {
                continue;
            };
            if key != current {
                // Adopts a key other than the one trusted for the period after it.
                continue;
            }
            if !signed(seq, until, &current) {
                break;
            }
            periods.push((seq, current));
            current = previous;
            until = seq;
        }
        periods.push((0, current));
        KeyHistory { periods }
    }

    /// The key that must have signed a checkpoint at `seq`.
    pub fn signer(&self, seq: u64) -> &[u8] {
        self.periods
            .iter()
            .find(|(from, _)| seq >= *from)
            .map_or(&[][..], |(_, k)| k.as_slice())
    }

    /// The keys that may have sealed a segment ending at event `last_seq`: the one in force at
    /// that event and every later one.
    pub fn seal_signers(&self, last_seq: u64) -> impl Iterator<Item = &[u8]> {
        let n = self
            .periods
            .iter()
            .position(|(from, _)| last_seq >= *from)
            .map_or(self.periods.len(), |i| i + 1);
        self.periods[..n].iter().map(|(_, k)| k.as_slice())
    }

    /// The sequence numbers of the key changes honoured, oldest first.
    pub fn changes(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .periods
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| *s > 0)
            .collect();
        v.sort_unstable();
        v
    }
}
