//! The recorder against real stores: a local folder here, and an S3 server (s3s-fs) when the
//! machine has one.

use std::time::Duration;

use bytes::Bytes;
use wicket_recording::{Cast, Header, Recorder, RecorderConfig, RecordingStore, SessionMeta};

fn header(id: &str) -> Header {
    let meta = SessionMeta {
        session_id: id.into(),
        user: "alice".into(),
        target: "web-1".into(),
        run_as: None,
    };
    Header::new(meta, 80, 24, 1_700_000_000, "xterm-256color")
}

fn small_chunks() -> RecorderConfig {
    RecorderConfig {
        chunk_bytes: 1000,
        flush_interval: Duration::from_millis(50),
        queue_bytes: 1024,
        attempts: 1,
    }
}

/// Records a scripted session in many frames, splitting a multi-byte character across two.
async fn script(
    store: &RecordingStore,
    id: &str,
) -> anyhow::Result<(String, wicket_recording::Manifest)> {
    let rec = Recorder::start(store.clone(), header(id), small_chunks()).await?;
    let h = rec.handle();
    let mut sent = String::new();
    for i in 0..200 {
        let line = format!("line {i} ✓ \x1b[1mbold\x1b[0m\r\n");
        let bytes = line.as_bytes();
        let cut = line.find('✓').ok_or_else(|| anyhow::anyhow!("no mark"))? + 1; // inside the 3-byte check mark
        h.output(Bytes::copy_from_slice(&bytes[..cut])).await?;
        h.output(Bytes::copy_from_slice(&bytes[cut..])).await?;
        if i % 50 == 0 {
            h.input(Bytes::from_static(b"ls\r")).await?;
            h.resize(100, 30).await?;
        }
        sent.push_str(&line);
    }
    let manifest = rec.finish().await?;
    Ok((sent, manifest))
}

#[tokio::test]
async fn local_recording_reads_back_byte_for_byte_and_seals_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordingStore::local(dir.path()).unwrap();
    let (sent, manifest) = script(&store, "ses_local").await.unwrap();
    assert!(
        manifest.chunks > 3,
        "small chunks expected, got {}",
        manifest.chunks
    );
    let raw = store.read("ses_local").await.unwrap();
    assert_eq!(raw.len() as u64, manifest.bytes);
    let cast = Cast::parse(std::str::from_utf8(&raw).unwrap()).unwrap();
    assert_eq!(cast.output(), sent);
    assert_eq!(cast.events.iter().filter(|e| e.code() == "i").count(), 4);
    assert_eq!(store.digest("ses_local").await.unwrap(), manifest.sha256);
    assert_eq!(store.manifest("ses_local").await.unwrap(), Some(manifest));
}

/// Someone with write access to the store edits a chunk and compresses it again, so it
/// reads back cleanly: the text no longer matches the sealed hash.
#[tokio::test]
async fn a_changed_byte_no_longer_matches_the_sealed_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordingStore::local(dir.path()).unwrap();
    let (_, manifest) = script(&store, "ses_tamper").await.unwrap();
    let chunk = dir.path().join("recordings/ses_tamper/chunk-00000002.zst");
    let mut text = zstd::decode_all(&std::fs::read(&chunk).unwrap()[..]).unwrap();
    assert!(!text.is_empty());
    text[10] ^= 0x20;
    std::fs::write(
        &chunk,
        wicket_recording::compress::compress_chunk(&text).unwrap(),
    )
    .unwrap();
    assert_ne!(store.digest("ses_tamper").await.unwrap(), manifest.sha256);
}

/// A damaged chunk (a flipped bit in the compressed bytes) no longer matches the sealed hash
/// of the stored bytes, and reading it is an error, never some other text.
#[tokio::test]
async fn a_damaged_chunk_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordingStore::local(dir.path()).unwrap();
    let (_, manifest) = script(&store, "ses_damaged").await.unwrap();
    let chunk = dir.path().join("recordings/ses_damaged/chunk-00000002.zst");
    let mut bytes = std::fs::read(&chunk).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&chunk, bytes).unwrap();
    assert_ne!(store.digest("ses_damaged").await.unwrap(), manifest.sha256);
    let err = store.read("ses_damaged").await.unwrap_err();
    assert!(
        matches!(err, wicket_recording::RecordingError::Damaged(_)),
        "{err}"
    );
}

/// Chunks are zstd frames: concatenated in order they are one stream that any zstd tool
/// turns back into the asciicast file, and terminal text shrinks several times over.
#[tokio::test]
async fn chunks_concatenate_into_one_zstd_stream() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordingStore::local(dir.path()).unwrap();
    let (_, manifest) = script(&store, "ses_zstd").await.unwrap();
    let folder = dir.path().join("recordings/ses_zstd");
    let mut names: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("chunk-"))
        .collect();
    names.sort();
    assert_eq!(names.len() as u32, manifest.chunks);
    assert!(names.iter().all(|n| n.ends_with(".zst")), "{names:?}");
    let mut joined = Vec::new();
    for n in &names {
        joined.extend(std::fs::read(folder.join(n)).unwrap());
    }
    let text = zstd::decode_all(&joined[..]).unwrap();
    assert_eq!(text, store.read("ses_zstd").await.unwrap());
    // The sealed hash is of the stored stream: checkable with sha256sum, no wicket needed.
    let stored = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &joined);
    assert_eq!(hex::encode(stored.as_ref()), manifest.sha256);
    assert_eq!(text.len() as u64, manifest.bytes);
    assert!(Cast::parse(std::str::from_utf8(&text).unwrap()).is_ok());
    // One big chunk of terminal text compresses well.
    let big = "line ✓ \x1b[1mbold\x1b[0m\r\n".repeat(20_000);
    let packed = wicket_recording::compress::compress_chunk(big.as_bytes()).unwrap();
    assert!(
        packed.len() * 4 < big.len(),
        "{} of {}",
        packed.len(),
        big.len()
    );
}

#[tokio::test]
async fn a_failed_store_refuses_to_start_and_stops_a_live_recording() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = RecordingStore::local(&root).unwrap();
    let rec = Recorder::start(store.clone(), header("ses_fail"), small_chunks())
        .await
        .unwrap();
    let h = rec.handle();
    // The store's folder becomes a file: every write fails from now on, even as root.
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::write(&root, b"not a folder").unwrap();
    let mut failed = false;
    for _ in 0..1000 {
        if h.output(Bytes::from(vec![b'x'; 2000])).await.is_err() {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        failed,
        "the recorder kept accepting output with a dead store"
    );
    assert!(rec.finish().await.is_err());
    assert!(
        Recorder::start(store.clone(), header("ses_fail2"), small_chunks())
            .await
            .is_err()
    );
    assert!(store.probe().await.is_err());
}

/// Fail closed, bounded: with the store gone, a writer is stopped once two chunks are not in
/// it (not after the next timer, not never), and `sync` reports the failure rather than wait.
#[tokio::test]
async fn a_writer_ahead_of_a_failed_store_is_stopped_and_sync_fails() {
    let config = RecorderConfig {
        // No timer to rescue a stuck recorder: only the bound and the kick move it.
        flush_interval: Duration::from_secs(3600),
        ..small_chunks()
    };
    for (what, size) in [("sync", 500), ("bound", 2500)] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = RecordingStore::local(&root).unwrap();
        let rec = Recorder::start(store, header("ses_bound"), config.clone())
            .await
            .unwrap();
        let h = rec.handle();
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::write(&root, b"not a folder").unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(10), async {
            h.output(Bytes::from(vec![b'x'; size])).await?;
            h.sync().await
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: the writer waited for ever on a dead store"));
        assert!(stopped.is_err(), "{what}: the dead store was not reported");
        assert!(rec.finish().await.is_err());
    }
}

#[tokio::test]
async fn retention_finds_old_sessions_and_delete_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordingStore::local(dir.path()).unwrap();
    script(&store, "ses_old").await.unwrap();
    let future = std::time::SystemTime::now() + Duration::from_secs(60);
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(
        store.older_than(future).await.unwrap(),
        vec!["ses_old".to_string()]
    );
    assert!(store.older_than(past).await.unwrap().is_empty());
    store.delete("ses_old").await.unwrap();
    assert!(store.read("ses_old").await.is_err());
}

#[tokio::test]
async fn ids_that_are_not_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordingStore::local(dir.path()).unwrap();
    for bad in ["../etc", "a/b", "", "x y"] {
        assert!(store.read(bad).await.is_err(), "{bad:?}");
    }
}

/// Output the agent compressed is stored as it came (chunks of it are not compressed again)
/// and reads back, around plain output and a character cut between the two, byte for byte.
#[tokio::test]
async fn compressed_output_is_stored_as_it_came_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordingStore::local(dir.path()).unwrap();
    let rec = Recorder::start(store.clone(), header("ses_z"), small_chunks())
        .await
        .unwrap();
    let h = rec.handle();
    let mut sent = Vec::new();
    for i in 0..50 {
        let line = format!("bulk {i} ✓ ").repeat(20);
        let bytes = line.as_bytes();
        let cut = bytes.len() - 3; // inside the last check mark
        let frame = zstd::bulk::compress(&bytes[..cut], 1).unwrap();
        h.compressed_output(Bytes::from(frame)).await.unwrap();
        h.output(Bytes::copy_from_slice(&bytes[cut..]))
            .await
            .unwrap();
        sent.extend_from_slice(bytes);
    }
    let manifest = rec.finish().await.unwrap();
    let raw = store.read("ses_z").await.unwrap();
    let cast = Cast::parse(std::str::from_utf8(&raw).unwrap()).unwrap();
    assert_eq!(cast.output().as_bytes(), sent);
    assert!(cast.events.iter().any(|e| e.code() == "z"));
    // Chunks after the header's are mostly z events: stored in raw blocks, not compressed.
    let keys = store.chunk_keys("ses_z").await.unwrap();
    assert!(keys.len() > 3, "{} chunks", keys.len());
    let stored = store.get(&keys[1]).await.unwrap();
    assert_eq!(&stored[..6], &[0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38]);
    assert_eq!(store.digest("ses_z").await.unwrap(), manifest.sha256);
}
