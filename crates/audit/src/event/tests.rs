use proptest::prelude::*;

use super::*;

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::Denied)
    ]
}

pub(crate) fn event() -> impl Strategy<Value = Event> {
    (
        any::<u64>(),
        any::<i64>(),
        ".{0,12}",
        ".{0,12}",
        "[a-z.]{0,12}",
        ".{0,12}",
        outcome(),
        ".{0,24}",
    )
        .prop_map(
            |(seq, time, actor, source, action, resource, outcome, details)| Event {
                seq,
                time,
                actor,
                source,
                action,
                resource,
                outcome,
                details,
            },
        )
}

proptest! {
    #[test]
    fn encoding_round_trips(e in event()) {
        prop_assert_eq!(decode(&encode(&e)), Ok(e));
    }

    #[test]
    fn encoding_is_deterministic(e in event()) {
        prop_assert_eq!(encode(&e), encode(&e.clone()));
        prop_assert_eq!(chain_hash(&GENESIS, &e), chain_hash(&GENESIS, &e.clone()));
    }

    /// Different events never share an encoding (the length prefixes keep fields apart).
    #[test]
    fn encoding_is_injective(a in event(), b in event()) {
        prop_assume!(a != b);
        prop_assert_ne!(encode(&a), encode(&b));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn prefixes_do_not_decode(e in event(), cut in 1usize..16) {
        let bytes = encode(&e);
        let cut = cut.min(bytes.len());
        prop_assert!(decode(&bytes[..bytes.len() - cut]).is_err());
    }

    #[test]
    fn canonical_json_ignores_key_order(keys in proptest::collection::btree_set("[a-z]{1,4}", 0..6)) {
        let forward: serde_json::Map<String, serde_json::Value> =
            keys.iter().map(|k| (k.clone(), serde_json::json!([k, 1]))).collect();
        let backward: serde_json::Map<String, serde_json::Value> =
            keys.iter().rev().map(|k| (k.clone(), serde_json::json!([k, 1]))).collect();
        let a = canonical_json(&serde_json::Value::Object(forward));
        let b = canonical_json(&serde_json::Value::Object(backward));
        prop_assert_eq!(&a, &b);
        let parsed: serde_json::Value = serde_json::from_str(&a).unwrap();
        prop_assert_eq!(canonical_json(&parsed), a);
    }
}

#[test]
fn known_encoding() {
    let e = Event {
        seq: 1,
        time: 2,
        actor: "al".into(),
        source: "".into(),
        action: "a".into(),
        resource: "r".into(),
        outcome: Outcome::Denied,
        details: "{}".into(),
    };
    let mut want = b"WAE1".to_vec();
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    for f in ["al", "", "a", "r", "denied", "{}"] {
        want.extend_from_slice(&(f.len() as u32).to_be_bytes());
        want.extend_from_slice(f.as_bytes());
    }
    assert_eq!(encode(&e), want);
    assert_eq!(
        canonical_json(&serde_json::json!({"b": 1, "a": {"y": [true, null], "x": "é\n"}})),
        r#"{"a":{"x":"é\n","y":[true,null]},"b":1}"#
    );
}

#[test]
fn chained_event_json_round_trips() {
    let e = ChainedEvent::new(
        Event {
            seq: 1,
            time: 5,
            actor: "a".into(),
            source: "127.0.0.1".into(),
            action: "x".into(),
            resource: "y".into(),
            outcome: Outcome::Success,
            details: "{}".into(),
        },
        GENESIS,
    );
    let text = serde_json::to_string(&e).unwrap();
    assert!(text.contains("\"outcome\":\"success\""));
    let back: ChainedEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(back, e);
    assert!(back.is_self_consistent());
}
