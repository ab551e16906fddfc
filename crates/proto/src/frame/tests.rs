use super::*;
use crate::handshake::{AgentProof, Inventory};
use crate::login::{Notice, NoticeKind, Renew};
use crate::open::{PtySpec, SessionSpec, TcpSpec};
use proptest::prelude::*;

fn channel() -> impl Strategy<Value = u32> {
    1u32..=u32::MAX
}

fn code() -> impl Strategy<Value = ErrorCode> {
    any::<u16>().prop_map(ErrorCode::from_u16)
}

fn reason() -> impl Strategy<Value = String> {
    ".{0,200}"
}

fn spec() -> impl Strategy<Value = OpenSpec> {
    prop_oneof![session_spec(), tcp_spec()]
}

fn tcp_spec() -> impl Strategy<Value = OpenSpec> {
    (
        proptest::option::of("[a-z0-9-]{1,20}"),
        ".{0,64}",
        any::<u16>(),
        proptest::option::of("[0-9a-f:.\\[\\]]{1,40}"),
        proptest::option::of("fwd_[0-9a-f]{16}"),
        proptest::option::of(".{0,16}"),
        any::<bool>(),
    )
        .prop_map(|(target, host, port, peer, connection_id, user, check)| {
            OpenSpec::Tcp(TcpSpec {
                target,
                host,
                port,
                peer,
                connection_id,
                user,
                check,
            })
        })
}

fn session_spec() -> impl Strategy<Value = OpenSpec> {
    (
        proptest::option::of("[a-z0-9-]{1,20}"),
        proptest::option::of("[a-z]{1,8}"),
        proptest::option::of(".{0,50}"),
        proptest::option::of(("[a-z0-9-]{1,16}", any::<u16>(), any::<u16>())),
        proptest::collection::btree_map("[A-Z_]{1,8}", ".{0,16}", 0..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(target, run_as, command, pty, env, compress_output, input_echo)| {
                OpenSpec::Session(SessionSpec {
                    target,
                    run_as,
                    command,
                    pty: pty.map(|(term, cols, rows)| PtySpec { term, cols, rows }),
                    env,
                    cwd: None,
                    session_id: None,
                    user: None,
                    compress_output,
                    input_echo,
                })
            },
        )
}

fn frame() -> impl Strategy<Value = Frame> {
    let data = proptest::collection::vec(any::<u8>(), 0..4096).prop_map(Bytes::from);
    prop_oneof![
        (
            proptest::collection::vec(any::<u16>(), 0..4),
            "[0-9a-f]{64}"
        )
            .prop_map(|(versions, nonce)| Frame::ServerHello(ServerHello {
                versions,
                nonce,
                server_version: "0.1.0".into()
            })),
        (any::<u16>(), proptest::option::of("[a-z_0-9]{1,20}")).prop_map(|(version, t)| {
            Frame::ClientHello(ClientHello {
                version,
                client_version: "x".into(),
                agent: t.map(|target_id| AgentProof {
                    target_id,
                    signature: "00".into(),
                    inventory: Inventory::default(),
                }),
            })
        }),
        (any::<u16>(), any::<u32>()).prop_map(|(version, heartbeat_secs)| Frame::Welcome(
            Welcome {
                version,
                heartbeat_secs
            }
        )),
        any::<u64>().prop_map(Frame::Ping),
        any::<u64>().prop_map(Frame::Pong),
        (any::<u32>(), code(), reason()).prop_map(|(channel, code, reason)| Frame::Error {
            channel,
            code,
            reason
        }),
        (channel(), any::<u32>(), spec()).prop_map(|(channel, window, spec)| Frame::Open {
            channel,
            window,
            spec
        }),
        (channel(), any::<u32>()).prop_map(|(channel, window)| Frame::Accept { channel, window }),
        (channel(), code(), reason()).prop_map(|(channel, code, reason)| Frame::Reject {
            channel,
            code,
            reason
        }),
        (channel(), data.clone()).prop_map(|(channel, data)| Frame::Data { channel, data }),
        (channel(), data.clone()).prop_map(|(channel, data)| Frame::ExtData { channel, data }),
        (channel(), data).prop_map(|(channel, data)| Frame::ZData { channel, data }),
        channel().prop_map(|channel| Frame::Eof { channel }),
        (channel(), 1u32..).prop_map(|(channel, increment)| Frame::Window { channel, increment }),
        (channel(), any::<u16>(), any::<u16>()).prop_map(|(channel, cols, rows)| Frame::Resize {
            channel,
            cols,
            rows
        }),
        (channel(), proptest::sample::select(Signal::ALL.to_vec()))
            .prop_map(|(channel, signal)| Frame::Signal { channel, signal }),
        (channel(), any::<i32>(), any::<bool>()).prop_map(|(channel, v, sig)| Frame::Exit {
            channel,
            status: if sig {
                ExitStatus::Signal(v)
            } else {
                ExitStatus::Code(v)
            }
        }),
        channel().prop_map(|channel| Frame::Close { channel }),
        (channel(), any::<u32>(), any::<bool>())
            .prop_map(|(channel, len, echo)| Frame::InputEcho { channel, len, echo }),
        (
            prop_oneof![
                Just(NoticeKind::LoginExpiring),
                Just(NoticeKind::LoginRenewed),
                Just(NoticeKind::RenewRefused),
            ],
            reason(),
            proptest::option::of(any::<i64>())
        )
            .prop_map(|(kind, text, expires_at)| Frame::Notice(Notice {
                kind,
                text,
                expires_at
            })),
        "[A-Za-z0-9_]{0,64}".prop_map(|token| Frame::Renew(Renew { token })),
    ]
}

proptest! {
    #[test]
    fn round_trip(f in frame()) {
        let bytes = f.to_bytes();
        prop_assert!(bytes.len() <= MAX_FRAME_LEN);
        prop_assert_eq!(Frame::decode(bytes).unwrap(), f);
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn junk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Frame::decode(Bytes::from(bytes));
    }

    /// Any strict prefix of a fixed-layout frame is refused, never misread.
    #[test]
    fn truncation_is_refused(f in frame()) {
        let bytes = f.to_bytes();
        if let Frame::Data { .. } | Frame::ExtData { .. } | Frame::ZData { .. } | Frame::Eof { .. } | Frame::Close { .. } = f {
            return Ok(()); // their payload is "the rest", so a prefix is another valid frame
        }
        for cut in 0..bytes.len() {
            if let Ok(g) = Frame::decode(bytes.slice(..cut)) {
                // Only a reason text may be shortened and still be valid.
                prop_assert!(matches!(g, Frame::Error { .. } | Frame::Reject { .. }), "{:?} decoded from a prefix", g);
            }
        }
    }
}

#[test]
fn input_echo_wire_form() {
    let f = Frame::InputEcho {
        channel: 2,
        len: 6,
        echo: false,
    };
    assert_eq!(&f.to_bytes()[..], [0x1C, 0, 0, 0, 2, 0, 0, 0, 6, 0]);
    // The flag is 0 or 1, and the frame belongs to a channel.
    let bad_flag = Bytes::from_static(&[0x1C, 0, 0, 0, 2, 0, 0, 0, 6, 2]);
    assert!(matches!(
        Frame::decode(bad_flag),
        Err(DecodeError::Malformed { .. })
    ));
    let on_zero = Bytes::from_static(&[0x1C, 0, 0, 0, 0, 0, 0, 0, 6, 1]);
    assert!(matches!(
        Frame::decode(on_zero),
        Err(DecodeError::WrongChannel { .. })
    ));
}

#[test]
fn oversized_frame_is_refused() {
    let big = Bytes::from(vec![0x13u8; MAX_FRAME_LEN + 1]);
    assert_eq!(
        Frame::decode(big),
        Err(DecodeError::TooLarge(MAX_FRAME_LEN + 1))
    );
}

#[test]
fn oversized_data_is_refused() {
    let mut buf = BytesMut::new();
    buf.put_u8(FrameKind::Data as u8);
    buf.put_u32(7);
    buf.put_slice(&vec![0u8; MAX_DATA_LEN + 1]);
    assert!(matches!(
        Frame::decode(buf.freeze()),
        Err(DecodeError::Malformed { .. })
    ));
}

#[test]
fn channel_rules_are_enforced() {
    let data_on_zero = Bytes::from_static(&[0x13, 0, 0, 0, 0, b'x']);
    assert!(matches!(
        Frame::decode(data_on_zero),
        Err(DecodeError::WrongChannel { .. })
    ));
    let ping_on_seven = Bytes::from_static(&[0x04, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert!(matches!(
        Frame::decode(ping_on_seven),
        Err(DecodeError::WrongChannel { .. })
    ));
}

#[test]
fn unknown_kind_and_trailing_bytes_are_refused() {
    assert_eq!(
        Frame::decode(Bytes::from_static(&[0xEE, 0, 0, 0, 1])),
        Err(DecodeError::UnknownKind(0xEE))
    );
    let eof_with_junk = Bytes::from_static(&[0x15, 0, 0, 0, 1, 9]);
    assert!(matches!(
        Frame::decode(eof_with_junk),
        Err(DecodeError::Malformed { .. })
    ));
}

#[test]
fn long_reason_is_cut_on_a_char_boundary() {
    let f = Frame::Error {
        channel: 0,
        code: ErrorCode::Internal,
        reason: "é".repeat(MAX_REASON_LEN),
    };
    match Frame::decode(f.to_bytes()).unwrap() {
        Frame::Error { reason, .. } => assert!(reason.len() <= MAX_REASON_LEN),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tcp_spec_wire_form() {
    let json = br#"{"type":"tcp","target":"web-1","host":"db.internal","port":5432}"#;
    let spec: OpenSpec = serde_json::from_slice(json).expect("decodes");
    assert_eq!(
        spec,
        OpenSpec::Tcp(TcpSpec {
            target: Some("web-1".into()),
            host: "db.internal".into(),
            port: 5432,
            ..TcpSpec::default()
        })
    );
    assert_eq!(spec.min_version(), 2);
    assert!(spec.is_stream());
    // `check` goes on the wire only when set.
    let check = OpenSpec::Tcp(TcpSpec {
        check: true,
        ..TcpSpec::default()
    });
    let text = serde_json::to_string(&check).expect("encodes");
    assert!(text.contains(r#""check":true"#), "{text}");
    assert!(!serde_json::to_string(&spec)
        .expect("encodes")
        .contains("check"));
    // A port out of range or a missing host does not decode.
    assert!(
        serde_json::from_slice::<OpenSpec>(br#"{"type":"tcp","host":"h","port":70000}"#).is_err()
    );
    assert!(serde_json::from_slice::<OpenSpec>(br#"{"type":"tcp","port":22}"#).is_err());
}

#[test]
fn login_frames_are_bounded_and_unknown_notice_kinds_still_show() {
    let long = Frame::Notice(Notice {
        kind: NoticeKind::LoginExpiring,
        text: "x".repeat(crate::login::MAX_NOTICE_LEN + 1),
        expires_at: None,
    });
    assert!(matches!(
        Frame::decode(long.to_bytes()),
        Err(DecodeError::Malformed { .. })
    ));
    let long = Frame::Renew(Renew {
        token: "t".repeat(crate::login::MAX_TOKEN_LEN + 1),
    });
    assert!(matches!(
        Frame::decode(long.to_bytes()),
        Err(DecodeError::Malformed { .. })
    ));
    let mut buf = BytesMut::new();
    buf.put_u8(FrameKind::Notice as u8);
    buf.put_u32(0);
    buf.put_slice(br#"{"kind":"from_the_future","text":"hello"}"#);
    match Frame::decode(buf.freeze()) {
        Ok(Frame::Notice(n)) => assert_eq!((n.kind, n.text.as_str()), (NoticeKind::Other, "hello")),
        other => panic!("{other:?}"),
    }
    // The token never shows in a debug print.
    let renew = format!(
        "{:?}",
        Renew {
            token: "wkt_secret".into()
        }
    );
    assert!(!renew.contains("wkt_secret"), "{renew}");
}
