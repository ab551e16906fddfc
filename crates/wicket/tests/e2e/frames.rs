//! Bad input on one link closes that link with a clear error and touches nothing else: a
//! session already running on another link carries on.

use std::time::Duration;

use anyhow::{bail, Result};
use bytes::Bytes;
use futures_util::SinkExt;
use wicket_dial::ServerUrl;
use wicket_mux::{Transport, TransportError};
use wicket_proto::{ClientHello, ErrorCode, Frame, SUPPORTED_VERSIONS};
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Harness};
use wicket_tls::Trust;

/// A raw user link, handshake done, ready for whatever bytes the test sends.
async fn raw_link(h: &Harness) -> Result<Transport> {
    let text = std::fs::read_to_string(h.admin.config_home.join("wicket/config.toml"))?;
    let cfg: toml::Value = toml::from_str(&text)?;
    let token = cfg["profiles"]["default"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let server = ServerUrl::parse(&h.server.url)?;
    let trust = Trust::Pinned(h.server.fingerprint.parse()?);
    let mut t = wicket_dial::dial(
        &server,
        "/v1/link",
        &trust,
        Some(&token),
        Duration::from_secs(10),
    )
    .await?;
    let Frame::ServerHello(_) = t.recv_frame(Duration::from_secs(5)).await? else {
        bail!("no server hello");
    };
    t.send_frame(&Frame::ClientHello(ClientHello {
        version: SUPPORTED_VERSIONS[0],
        client_version: "test".into(),
        agent: None,
    }))
    .await?;
    let Frame::Welcome(_) = t.recv_frame(Duration::from_secs(5)).await? else {
        bail!("no welcome");
    };
    Ok(t)
}

/// Sends `bytes` as one message and returns the error the server answers with.
async fn refusal(t: &mut Transport, bytes: Bytes) -> Result<(ErrorCode, String)> {
    t.sink.send(bytes).await?;
    match t.recv_frame(Duration::from_secs(5)).await {
        Err(TransportError::Refused { code, reason }) => Ok((code, reason)),
        other => bail!("expected an error frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_link() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;

    // A session on its own link that outlives the abuse below.
    let admin = h.admin.clone();
    let long = tokio::spawn(async move {
        admin
            .run(&["connect", "web-1", "--", "sleep 2; echo survived"], None)
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Malformed: an unknown frame kind.
    let mut t = raw_link(&h).await?;
    let (code, reason) = refusal(&mut t, Bytes::from_static(&[0xEE, 0, 0, 0, 1])).await?;
    assert_eq!(code, ErrorCode::Protocol);
    assert!(reason.contains("unknown frame kind 0xee"), "{reason}");
    assert!(matches!(
        t.recv_frame(Duration::from_secs(5)).await,
        Err(TransportError::Closed)
    ));

    // Malformed: a truncated resize on a channel that does not exist.
    let mut t = raw_link(&h).await?;
    let (code, reason) = refusal(&mut t, Bytes::from_static(&[0x17, 0, 0, 0, 1, 0])).await?;
    assert_eq!(code, ErrorCode::Protocol);
    assert!(reason.contains("Resize"), "{reason}");

    // Oversized: one byte over the frame limit.
    let mut t = raw_link(&h).await?;
    let mut big = vec![0x13u8, 0, 0, 0, 1];
    big.resize(wicket_proto::MAX_FRAME_LEN + 1, b'x');
    let (code, reason) = refusal(&mut t, Bytes::from(big)).await?;
    assert_eq!(code, ErrorCode::FrameTooLarge);
    assert!(reason.contains("exceeds"), "{reason}");

    // Grossly oversized: refused by the transport before it is buffered; the link drops.
    let mut t = raw_link(&h).await?;
    let huge = Bytes::from(vec![0x13u8; 4 * wicket_proto::MAX_FRAME_LEN]);
    let _ = t.sink.send(huge).await;
    assert!(t.recv_frame(Duration::from_secs(5)).await.is_err());

    // The other session never noticed, and the server still serves everyone.
    let out = long.await??;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "survived\n");
    assert!(h.is_online("web-1").await?);
    let out = h
        .admin
        .run(&["connect", "web-1", "--", "echo still-fine"], None)
        .await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "still-fine\n",
        "{}",
        show(&out)
    );
    Ok(())
}
