use super::*;
use proptest::prelude::*;

fn entry() -> impl Strategy<Value = EntryHeader> {
    (
        "[a-z0-9_.-]{1,12}(/[a-zA-Z0-9 _-]{1,12}){0,3}",
        any::<u32>(),
        any::<i64>(),
        0u32..1_000_000_000,
    )
        .prop_filter("no . or .. components", |(p, ..)| check_path(p).is_ok())
        .prop_map(|(path, mode, mtime_secs, mtime_nanos)| EntryHeader {
            path,
            mode,
            mtime_secs,
            mtime_nanos,
        })
}

/// A well-formed stream: entries, files with content and sums, an end, maybe a status.
fn stream() -> impl Strategy<Value = Vec<Item>> {
    let piece = prop_oneof![
        entry().prop_map(|e| vec![Item::Dir(e)]),
        (
            entry(),
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<[u8; 32]>()
        )
            .prop_map(|(e, content, sum)| {
                let mut v = vec![Item::File(e, content.len() as u64)];
                if !content.is_empty() {
                    v.push(Item::Data(Bytes::from(content)));
                }
                v.push(Item::Sum(sum));
                v
            }),
    ];
    (
        proptest::collection::vec(piece, 0..6),
        prop_oneof![
            Just(None),
            Just(Some(Item::Ok)),
            ".{0,40}".prop_map(|r| Some(Item::Error(r)))
        ],
    )
        .prop_map(|(pieces, last)| {
            let mut v: Vec<Item> = pieces.into_iter().flatten().collect();
            v.push(Item::End);
            v.extend(last);
            v
        })
}

/// Decodes everything, merging adjacent data items (their cut depends on the feeding).
fn decode_all(bytes: &[u8], cuts: &[usize]) -> Result<Vec<Item>, CopyError> {
    let mut d = Decoder::new();
    let mut out: Vec<Item> = Vec::new();
    let mut pos = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort();
    cuts.push(bytes.len());
    for c in cuts {
        d.feed(&bytes[pos..c.max(pos)]);
        pos = c.max(pos);
        while let Some(item) = d.next_item()? {
            match (out.last_mut(), item) {
                (Some(Item::Data(prev)), Item::Data(more)) => {
                    let mut m = BytesMut::from(&prev[..]);
                    m.extend_from_slice(&more);
                    *prev = m.freeze();
                }
                (_, item) => out.push(item),
            }
        }
    }
    d.finish()?;
    Ok(out)
}

proptest! {
    #[test]
    fn round_trip_any_cut(items in stream(), cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let bytes: Vec<u8> = items.iter().flat_map(|i| encode(i).to_vec()).collect();
        prop_assert_eq!(decode_all(&bytes, &cuts)?, items);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_all(&bytes, &[3, 17]);
    }

    #[test]
    fn truncation_is_detected(items in stream(), cut in any::<usize>()) {
        let bytes: Vec<u8> = items.iter().flat_map(|i| encode(i).to_vec()).collect();
        let cut = cut % bytes.len();
        // A prefix either decodes to a prefix of the items, ending on a boundary, or is
        // reported as truncated; it never panics and never invents items.
        if let Ok(got) = decode_all(&bytes[..cut], &[]) {
            prop_assert!(got.len() <= items.len());
        }
    }
}

#[test]
fn paths_are_checked() {
    for bad in ["", "/etc/passwd", "a//b", "a/../b", "..", ".", "a/", "a\0b"] {
        assert!(check_path(bad).is_err(), "{bad:?} accepted");
    }
    for good in ["a", "a/b/c", ".hidden", "x..y", "dir with space/f"] {
        assert!(check_path(good).is_ok(), "{good:?} refused");
    }
}

#[test]
fn content_must_be_followed_by_its_sum() {
    let e = EntryHeader {
        path: "f".into(),
        mode: 0o644,
        mtime_secs: 0,
        mtime_nanos: 0,
    };
    let mut bytes = encode(&Item::File(e, 2)).to_vec();
    bytes.extend_from_slice(b"hi");
    bytes.extend_from_slice(&encode(&Item::End));
    assert!(decode_all(&bytes, &[]).is_err());
    // A sum out of place, an unknown tag and an oversized record are refused too.
    assert!(decode_all(&encode(&Item::Sum([0; 32])), &[]).is_err());
    assert!(matches!(
        decode_all(&[0x51, 0, 0, 0, 0], &[]),
        Err(CopyError::UnknownTag(0x51))
    ));
    assert!(matches!(
        decode_all(&[b'E', 0, 0, 0, 1, 0], &[]),
        Err(CopyError::TooLong(1))
    ));
}

#[test]
fn spec_json() {
    let spec = crate::OpenSpec::Copy(CopySpec {
        target: Some("web-1".into()),
        run_as: None,
        direction: Direction::Upload,
        path: "/tmp/x".into(),
        recursive: true,
        local_path: None,
        copy_id: None,
        user: None,
    });
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(
        json,
        r#"{"type":"copy","target":"web-1","direction":"upload","path":"/tmp/x","recursive":true}"#
    );
    assert_eq!(spec.min_version(), 3);
    assert!(spec.is_stream());
}
