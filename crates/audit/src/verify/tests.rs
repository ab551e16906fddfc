use proptest::prelude::*;

use super::*;
use crate::event::{chain_hash, Event, Outcome};
use crate::signing::AuditKey;

fn chain(n: u64) -> Vec<ChainedEvent> {
    let mut prev = GENESIS;
    (1..=n)
        .map(|seq| {
            let e = ChainedEvent::new(
                Event {
                    seq,
                    time: 1000 + seq as i64,
                    actor: format!("user{}", seq % 3),
                    source: "10.0.0.1".into(),
                    action: "api.request".into(),
                    resource: format!("/v1/thing/{seq}"),
                    outcome: Outcome::Success,
                    details: "{}".into(),
                },
                prev,
            );
            prev = e.hash;
            e
        })
        .collect()
}

fn key() -> AuditKey {
    AuditKey::from_pkcs8(&AuditKey::generate_pkcs8().unwrap()).unwrap()
}

#[test]
fn a_good_chain_verifies() {
    let events = chain(10);
    let k = key();
    let cps = vec![
        k.checkpoint(4, events[3].hash, 1),
        k.checkpoint(8, events[7].hash, 2),
    ];
    let r = verify(&events, &cps, Some(&k.public_key())).unwrap();
    let mut paged = ChainVerifier::new(cps.clone());
    for chunk in events.chunks(3) {
        paged.feed(chunk.to_vec());
    }
    assert_eq!(paged.finish(Some(&k.public_key())).as_ref(), Ok(&r));
    assert_eq!(r.events, 10);
    assert_eq!(r.head, Some((10, events[9].hash)));
    assert_eq!(r.checkpoints, 2);
    assert_eq!(r.last_checkpoint, Some(8));
    assert_eq!(r.unsigned_tail, 2);
    assert_eq!(verify(&[], &[], None).unwrap().events, 0);
}

#[test]
fn changed_field_is_named() {
    let mut events = chain(6);
    events[2].event.actor = "mallory".into();
    assert_eq!(verify(&events, &[], None), Err(Break::Changed { seq: 3 }));
}

#[test]
fn removed_event_is_named() {
    let mut events = chain(6);
    events.remove(3);
    assert_eq!(verify(&events, &[], None), Err(Break::Removed { seq: 4 }));
    let mut events = chain(6);
    events.remove(0);
    assert_eq!(verify(&events, &[], None), Err(Break::Removed { seq: 1 }));
}

#[test]
fn inserted_event_is_named_even_with_a_correct_hash() {
    let original = chain(6);
    for correct_hash in [false, true] {
        let mut events = original.clone();
        let mut intruder = Event {
            action: "forged".into(),
            ..original[2].event.clone()
        };
        intruder.seq = 4;
        let mut forged = ChainedEvent::new(intruder, original[2].hash);
        if !correct_hash {
            forged.hash = [7; 32];
        }
        events.insert(3, forged);
        for e in &mut events[4..] {
            e.event.seq += 1;
        }
        assert_eq!(
            verify(&events, &[], None),
            Err(Break::Inserted { seq: 4 }),
            "correct hash: {correct_hash}"
        );
    }
}

#[test]
fn swapped_events_are_named() {
    let mut events = chain(6);
    events.swap(2, 3);
    assert_eq!(verify(&events, &[], None), Err(Break::Reordered { seq: 3 }));
    // Swapping the sequence numbers back into order does not hide it.
    events[2].event.seq = 3;
    events[3].event.seq = 4;
    assert_eq!(verify(&events, &[], None), Err(Break::Reordered { seq: 3 }));
}

#[test]
fn a_rewritten_tail_is_caught_by_a_checkpoint() {
    let events = chain(8);
    let k = key();
    let cps = vec![
        k.checkpoint(3, events[2].hash, 1),
        k.checkpoint(7, events[6].hash, 2),
    ];
    // Rewrite event 5 and recompute every hash after it: the chain links again.
    let mut forged = events.clone();
    forged[4].event.actor = "nobody".into();
    let mut prev = forged[3].hash;
    for e in &mut forged[4..] {
        e.prev_hash = prev;
        e.hash = chain_hash(&prev, &e.event);
        prev = e.hash;
    }
    assert_eq!(
        verify(&forged, &cps, Some(&k.public_key())),
        Err(Break::Rewritten { from: 4, seq: 7 })
    );
    // A cut tail is caught by a checkpoint past the end.
    assert_eq!(
        verify(&events[..5], &cps, Some(&k.public_key())),
        Err(Break::Removed { seq: 6 })
    );
    // A checkpoint signed by another key is refused.
    let other = key();
    assert_eq!(
        verify(&events, &cps, Some(&other.public_key())),
        Err(Break::BadSignature { seq: 3 })
    );
}

/// A chain of `n` events whose event `at` records that `new` replaced `old`.
fn chain_with_adoption(n: u64, at: u64, old: &AuditKey, new: &AuditKey) -> Vec<ChainedEvent> {
    let mut events = chain(n);
    events[at as usize - 1].event.action = crate::keys::ADOPT_ACTION.into();
    events[at as usize - 1].event.details = serde_json::to_string(&crate::KeyAdoption {
        previous: hex::encode(old.public_key()),
        key: hex::encode(new.public_key()),
    })
    .unwrap();
    let mut prev = GENESIS;
    for e in &mut events {
        e.prev_hash = prev;
        e.hash = chain_hash(&prev, &e.event);
        prev = e.hash;
    }
    events
}

#[test]
fn checkpoints_before_a_key_change_verify_with_the_key_it_replaced() {
    let (old, new) = (key(), key());
    let events = chain_with_adoption(10, 5, &old, &new);
    let cps = vec![
        old.checkpoint(3, events[2].hash, 1),
        new.checkpoint(6, events[5].hash, 2),
        new.checkpoint(9, events[8].hash, 3),
    ];
    let r = verify(&events, &cps, Some(&new.public_key())).unwrap();
    assert_eq!((r.checkpoints, r.key_changes.clone()), (3, vec![5]));
    let mut paged = ChainVerifier::new(cps.clone());
    for chunk in events.chunks(3) {
        paged.feed(chunk.to_vec());
    }
    assert_eq!(paged.finish(Some(&new.public_key())), Ok(r));
    // The old key alone does not vouch for the checkpoints after the change.
    assert_eq!(
        verify(&events, &cps, Some(&old.public_key())),
        Err(Break::BadSignature { seq: 6 })
    );
    // A checkpoint after the change signed by the old key is refused.
    let late = vec![cps[0].clone(), old.checkpoint(6, events[5].hash, 2)];
    assert_eq!(
        verify(&events, &late, Some(&new.public_key())),
        Err(Break::BadSignature { seq: 3 })
    );
}

#[test]
fn export_seals_before_a_key_change_are_checked_with_the_key_it_replaced() {
    let (old, new) = (key(), key());
    let events = chain_with_adoption(8, 5, &old, &new);
    let adoptions = vec![(5, serde_json::from_str(&events[4].event.details).unwrap())];
    let seal = |k: &AuditKey, a: usize, b: usize| {
        k.seal(
            a as u64,
            b as u64,
            events[a - 1].prev_hash,
            events[b - 1].hash,
            1,
        )
    };
    let seals = vec![seal(&old, 1, 4), seal(&new, 5, 8)];
    let keys = crate::KeyHistory::for_seals(adoptions.clone(), &seals, &new.public_key());
    let signers = |seq| {
        keys.seal_signers(seq)
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    };
    // Before the change: the old key, or the new one exporting again; after it: the new only.
    assert_eq!(signers(4), vec![new.public_key(), old.public_key()]);
    assert_eq!(signers(8), vec![new.public_key()]);
    assert_eq!(keys.signer(4), old.public_key().as_slice());
    assert_eq!(keys.changes(), vec![5]);
    // Without a seal by the new key after the change, the change is not believed.
    let keys = crate::KeyHistory::for_seals(adoptions, &seals[..1], &new.public_key());
    assert_eq!(keys.signer(4), new.public_key().as_slice());
}

#[test]
fn a_key_change_nobody_signed_is_not_believed() {
    // Mallory appends an adoption of her own key to the tail and re-signs the old checkpoints:
    // no checkpoint after the change is signed by the pinned key, so the change is ignored
    // and her checkpoints fail against it.
    let (real, mallory) = (key(), key());
    let events = chain_with_adoption(8, 8, &mallory, &real);
    let cps = vec![mallory.checkpoint(3, events[2].hash, 1)];
    assert_eq!(
        verify(&events, &cps, Some(&real.public_key())),
        Err(Break::BadSignature { seq: 3 })
    );
    // An adoption of a key other than the pinned one is ignored too.
    let events = chain_with_adoption(8, 5, &mallory, &key());
    let cps = vec![
        mallory.checkpoint(3, events[2].hash, 1),
        real.checkpoint(6, events[5].hash, 2),
    ];
    assert_eq!(
        verify(&events, &cps, Some(&real.public_key())),
        Err(Break::BadSignature { seq: 3 })
    );
}

#[test]
fn seals_sign_their_range() {
    let events = chain(4);
    let k = key();
    let seal = k.seal(2, 4, events[0].hash, events[3].hash, 9);
    assert!(seal.verify(&k.public_key()));
    let mut bad = seal.clone();
    bad.last_seq = 3;
    assert!(!bad.verify(&k.public_key()));
    assert_eq!(
        verify_segment(&events[1..], 2, seal.first_prev),
        Ok(Some((4, seal.last_hash)))
    );
}

#[derive(Debug, Clone)]
enum Tamper {
    Change(usize, u8),
    Remove(usize),
    Insert(usize),
    Swap(usize),
}

fn tamper() -> impl Strategy<Value = (usize, Tamper)> {
    (3usize..20).prop_flat_map(|n| {
        (
            Just(n),
            prop_oneof![
                (0..n, 0u8..6).prop_map(|(i, f)| Tamper::Change(i, f)),
                (0..n - 1).prop_map(Tamper::Remove),
                (0..n).prop_map(Tamper::Insert),
                (0..n - 1).prop_map(Tamper::Swap),
            ],
        )
    })
}

proptest! {
    /// Any single change, removal (not of the last event), insertion or swap is found, and the
    /// break names the tampered position.
    #[test]
    fn any_single_tamper_is_found((n, t) in tamper()) {
        let mut events = chain(n as u64);
        let want_seq = match t {
            Tamper::Change(i, field) => {
                let e = &mut events[i].event;
                match field {
                    0 => e.actor.push('x'),
                    1 => e.time += 1,
                    2 => e.outcome = Outcome::Denied,
                    3 => e.details = "{\"x\":1}".into(),
                    4 => e.resource.clear(),
                    _ => e.source = "1.2.3.4".into(),
                }
                i as u64 + 1
            }
            Tamper::Remove(i) => {
                events.remove(i);
                i as u64 + 1
            }
            Tamper::Insert(i) => {
                let e = Event { seq: i as u64 + 1, action: "forged".into(), ..events[i].event.clone() };
                let prev = if i == 0 { GENESIS } else { events[i - 1].hash };
                events.insert(i, ChainedEvent::new(e, prev));
                for later in &mut events[i + 1..] {
                    later.event.seq += 1;
                }
                i as u64 + 1
            }
            Tamper::Swap(i) => {
                events.swap(i, i + 1);
                i as u64 + 1
            }
        };
        let k = key();
        let last = events.last().map(|e| (e.event.seq, e.hash)).unwrap();
        // The honest server had signed its head before the tampering: a checkpoint at the
        // original last event.
        let honest = chain(n as u64);
        let cp = k.checkpoint(n as u64, honest[n - 1].hash, 1);
        let r = verify(&events, std::slice::from_ref(&cp), Some(&k.public_key()));
        // Fed a few events at a time, as `wicket audit verify` pages through a long chain, the
        // verifier reaches the same verdict.
        for page in 1..=4 {
            let mut v = ChainVerifier::new(vec![cp.clone()]);
            for chunk in events.chunks(page) {
                v.feed(chunk.to_vec());
            }
            prop_assert_eq!(&v.finish(Some(&k.public_key())), &r, "pages of {}", page);
        }
        prop_assert!(r.is_err(), "not found: {t:?} {last:?}");
        let b = r.unwrap_err();
        prop_assert!(b.seq() <= want_seq, "{t:?}: {b}");
        if !matches!(b, Break::Rewritten { .. }) {
            prop_assert_eq!(b.seq(), want_seq, "{:?}: {}", t, b);
        }
    }
}
