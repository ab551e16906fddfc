//! The halves on a real non-blocking pipe: flow control, end of input, a reader that left.

use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wicket_fd::{Reader, Writer};

fn pipe() -> (Reader<OwnedFd>, Writer<OwnedFd>) {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).expect("pipe2");
    (
        Reader::new(r).expect("registering the pipe"),
        Writer::new(w),
    )
}

/// Written faster than its reader drains it: the writes that would block wait for room
/// (registering only then) and every byte arrives in order; reads short of the buffer do not
/// lose the bytes that come after them.
#[tokio::test]
async fn a_full_pipe_waits_for_room_and_loses_nothing() {
    let (mut input, mut out) = pipe();
    let sent: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let expected = sent.clone();
    let writer = tokio::spawn(async move {
        for chunk in sent.chunks(100_000) {
            out.write_all(chunk).await.unwrap();
        }
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 7000];
    while got.len() < expected.len() {
        let n = input.read(&mut buf).await.unwrap();
        assert!(n > 0, "the pipe ended early");
        got.extend_from_slice(&buf[..n]);
        if got.len() % 3 == 0 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    writer.await.unwrap();
    assert!(got == expected, "the bytes differ");
}

/// A byte that arrives after a short read (which cleared the readiness) still wakes the
/// reader, and the end of input, once reached, stays.
#[tokio::test]
async fn each_arrival_wakes_the_reader_and_the_end_stays_the_end() {
    let (mut input, mut out) = pipe();
    let mut buf = [0u8; 64];
    for i in 0..20u8 {
        let pending = tokio::spawn(async move {
            let n = input.read(&mut buf).await.unwrap();
            (input, buf[..n].to_vec())
        });
        tokio::time::sleep(Duration::from_millis(2)).await;
        out.write_all(&[i; 3]).await.unwrap();
        let (back, got) = tokio::time::timeout(Duration::from_secs(5), pending)
            .await
            .expect("the reader was not woken")
            .unwrap();
        assert_eq!(got, [i; 3]);
        input = back;
    }
    drop(out);
    assert_eq!(input.read(&mut buf).await.unwrap(), 0);
    assert_eq!(input.read(&mut buf).await.unwrap(), 0);
}

/// Writing to a pipe whose reader has gone fails as a broken pipe, not a hang.
#[tokio::test]
async fn a_pipe_without_a_reader_is_a_broken_pipe() {
    let (input, mut out) = pipe();
    drop(input);
    let err = out.write_all(b"x").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
}
