//! One [`Recorder`] per live session. The relay hands it frames as they pass (cheap `Bytes`
//! clones, no copy) through a [`Queue`] that wakes the recorder task only once a batch has
//! gathered (or its timer fires), so recording adds no wake-up to a keystroke's path. The task
//! encodes batches as asciicast lines and uploads a chunk whenever enough has gathered or a
//! few seconds have passed.
//!
//! Memory is bounded by the queue (`queue_bytes`, plus one frame) and two chunks. When the
//! store is slow the queue fills and recording a frame waits: the session slows down rather
//! than going unrecorded or growing without limit. When the store fails, every later call
//! returns an error and the server ends the session, saying why.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::asciicast::{Encoder, Header};
use crate::compress::{compress_chunk, raw_frame};
use crate::queue::{Limits, Queue};
use crate::store::{Manifest, RecordingStore};
use crate::RecordingError;

/// Tuning for a recorder.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// Upload a chunk once this many bytes are waiting.
    pub chunk_bytes: usize,
    /// ... or once the oldest waiting byte is this old: what a crash can lose at most.
    pub flush_interval: Duration,
    /// Bytes queued between the relay and the recorder task before the relay waits; the task
    /// is woken when a quarter of this has gathered, or by its timer.
    pub queue_bytes: usize,
    /// Attempts per chunk before the store is declared failed.
    pub attempts: u32,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            // Large enough that a session streaming output costs few objects (a local store
            // pays a create and a rename per object, S3 a PUT). Buffers are reserved, not
            // touched: an interactive session's pages stay unallocated.
            chunk_bytes: 4 * 1024 * 1024,
            flush_interval: Duration::from_secs(3),
            queue_bytes: 1024 * 1024,
            attempts: 3,
        }
    }
}

/// What happened in the session.
#[derive(Debug)]
enum Record {
    Output(Duration, Bytes),
    /// Output the agent compressed (one zstd frame), stored as it came.
    Compressed(Duration, Bytes),
    Input(Duration, Bytes),
    Resize(Duration, u16, u16),
}

impl Record {
    /// What the record holds in memory, for the queue's bound.
    fn size(&self) -> usize {
        match self {
            Record::Output(_, d) | Record::Compressed(_, d) | Record::Input(_, d) => {
                d.len().max(16)
            }
            Record::Resize(..) => 16,
        }
    }
}

/// Records one session.
pub struct Recorder {
    queue: Arc<Queue<Record>>,
    task: JoinHandle<Result<Manifest, RecordingError>>,
    done: oneshot::Sender<()>,
    started: Instant,
}

/// Cheap handle for the relay's other direction (input and resizes come from the client
/// side of the relay, output from the agent side).
#[derive(Clone)]
pub struct RecorderHandle {
    queue: Arc<Queue<Record>>,
    started: Instant,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RecorderHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderHandle").finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts recording `header`'s session into `store`. The header is uploaded at once, so a
    /// store that is down is noticed before the session does anything.
    pub async fn start(
        store: RecordingStore,
        header: Header,
        config: RecorderConfig,
    ) -> Result<Self, RecordingError> {
        let session = header
            .wicket
            .as_ref()
            .map(|m| m.session_id.clone())
            .ok_or_else(|| RecordingError::Config("recording header without a session".into()))?;
        let first = Bytes::from(Encoder::header(&header));
        let mut upload = Upload::new(store, session, &config, header.timestamp);
        upload.push(&first);
        upload.flush().await?;
        upload.settle().await?;
        let queue = Arc::new(Queue::new(Limits::for_bytes(config.queue_bytes)));
        let (done, done_rx) = oneshot::channel();
        let task = tokio::spawn(run(queue.clone(), done_rx, upload, config));
        Ok(Recorder {
            queue,
            task,
            done,
            started: Instant::now(),
        })
    }

    /// A handle for recording from another task.
    pub fn handle(&self) -> RecorderHandle {
        RecorderHandle {
            queue: self.queue.clone(),
            started: self.started,
        }
    }

    /// Ends the recording: uploads what is left and the manifest, and returns it. Handles
    /// still alive elsewhere are cut off.
    pub async fn finish(self) -> Result<Manifest, RecordingError> {
        let _ = self.done.send(());
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(RecordingError::Closed(format!("recorder task: {e}"))),
        }
    }
}

impl RecorderHandle {
    /// Output the user's terminal received.
    pub async fn output(&self, data: Bytes) -> Result<(), RecordingError> {
        self.send(Record::Output(self.started.elapsed(), data))
            .await
    }

    /// Output the user's terminal received, as the agent compressed it (a `ZDATA` payload).
    pub async fn compressed_output(&self, frame: Bytes) -> Result<(), RecordingError> {
        self.send(Record::Compressed(self.started.elapsed(), frame))
            .await
    }

    /// Input the user typed.
    pub async fn input(&self, data: Bytes) -> Result<(), RecordingError> {
        self.send(Record::Input(self.started.elapsed(), data)).await
    }

    /// The terminal was resized.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), RecordingError> {
        self.send(Record::Resize(self.started.elapsed(), cols, rows))
            .await
    }

    async fn send(&self, record: Record) -> Result<(), RecordingError> {
        let size = record.size();
        self.queue
            .push(record, size)
            .await
            .map_err(|_| RecordingError::Closed("the recording store failed".into()))
    }
}

/// The recorder task. Whatever way it ends, the queue is closed, so a relay still sending
/// learns that the recording stopped.
async fn run(
    queue: Arc<Queue<Record>>,
    done: oneshot::Receiver<()>,
    upload: Upload,
    config: RecorderConfig,
) -> Result<Manifest, RecordingError> {
    let result = record(&queue, done, upload, config).await;
    queue.close();
    result
}

async fn record(
    queue: &Queue<Record>,
    mut done: oneshot::Receiver<()>,
    mut upload: Upload,
    config: RecorderConfig,
) -> Result<Manifest, RecordingError> {
    let mut encoder = Encoder::new();
    let mut last = Duration::ZERO;
    let mut batch = Vec::new();
    let mut tick = tokio::time::interval(config.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        enum Why {
            Batch,
            Tick,
            Done,
        }
        let why = tokio::select! {
            () = queue.ready() => Why::Batch,
            _ = tick.tick() => Why::Tick,
            _ = &mut done => Why::Done,
        };
        if let Why::Done = why {
            // Finished while other handles live: take what they already queued, no more.
            queue.close();
        }
        queue.take(&mut batch);
        for record in batch.drain(..) {
            encode(&mut encoder, &mut upload, &mut last, record);
        }
        match why {
            Why::Done => break,
            Why::Tick if upload.waiting() > 0 => upload.flush().await?,
            _ if upload.waiting() >= config.chunk_bytes => upload.flush().await?,
            _ => {}
        }
    }
    let tail = encoder.finish(last);
    upload.push(&tail);
    upload.flush().await?;
    upload.seal().await
}

fn encode(encoder: &mut Encoder, upload: &mut Upload, last: &mut Duration, record: Record) {
    match record {
        Record::Output(at, data) => {
            *last = at;
            encoder.output_into(at, &data, &mut upload.pending);
        }
        Record::Compressed(at, frame) => {
            *last = at;
            let before = upload.pending.len();
            encoder.compressed_output_into(at, &frame, &mut upload.pending);
            upload.precompressed += upload.pending.len() - before;
        }
        Record::Input(at, data) => {
            *last = at;
            encoder.input_into(at, &data, &mut upload.pending);
        }
        Record::Resize(at, cols, rows) => {
            *last = at;
            if let Some(line) = encoder.resize(at, cols, rows) {
                upload.push(&line);
            }
        }
    }
}

/// The upload side: the pending chunk, the running hash, the chunk counter.
struct Upload {
    store: RecordingStore,
    session: String,
    attempts: u32,
    /// Capacity a fresh chunk starts with, so filling it never reallocates and copies.
    chunk_bytes: usize,
    pending: Vec<u8>,
    /// Bytes of `pending` that are `z` events: output already compressed.
    precompressed: usize,
    /// The previous chunk's upload, running while the next chunk fills: encoding, hashing,
    /// compressing and uploading overlap, and at most two chunks are held. It hands the hash back.
    in_flight: Option<JoinHandle<Uploaded>>,
    /// The running hash while no upload holds it.
    hash: Option<Hash>,
    /// The buffer of the last uploaded chunk, emptied, for the next one.
    spare: Option<Vec<u8>>,
    bytes: u64,
    chunks: u32,
    started_at: u64,
}

type Hash = aws_lc_rs::digest::Context;

/// What a finished upload hands back: the running hash and the emptied chunk buffer.
type Uploaded = Result<(Hash, Vec<u8>), RecordingError>;

impl Upload {
    fn new(
        store: RecordingStore,
        session: String,
        config: &RecorderConfig,
        started_at: u64,
    ) -> Self {
        Upload {
            store,
            session,
            attempts: config.attempts.max(1),
            chunk_bytes: config.chunk_bytes,
            pending: Vec::new(),
            precompressed: 0,
            in_flight: None,
            spare: None,
            hash: Some(Hash::new(&aws_lc_rs::digest::SHA256)),
            bytes: 0,
            chunks: 0,
            started_at,
        }
    }

    fn push(&mut self, line: &[u8]) {
        self.pending.extend_from_slice(line);
    }

    fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Waits for the chunk being uploaded, if any, and takes the hash back.
    async fn settle(&mut self) -> Result<(), RecordingError> {
        if let Some(task) = self.in_flight.take() {
            let (hash, buffer) = task
                .await
                .map_err(|e| RecordingError::Closed(format!("upload task: {e}")))??;
            self.hash = Some(hash);
            self.spare = Some(buffer);
        }
        Ok(())
    }

    /// Starts hashing, compressing and uploading what is pending, once the previous upload
    /// has finished (an error of that one is returned here).
    async fn flush(&mut self) -> Result<(), RecordingError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let mut hash = self
            .hash
            .take()
            .ok_or_else(|| RecordingError::Closed("recording hash lost".into()))?;
        // The next chunk reuses the buffer the last upload gave back, or gets room for a
        // whole chunk plus the frame that overshoots it: filling it never reallocates.
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(self.chunk_bytes + 64 * 1024));
        let text = std::mem::replace(&mut self.pending, next);
        // Mostly output the agent compressed: store it as it is, not compressed again.
        let raw = std::mem::take(&mut self.precompressed) * 2 > text.len();
        self.bytes += text.len() as u64;
        let (store, session, seq, attempts) = (
            self.store.clone(),
            self.session.clone(),
            self.chunks,
            self.attempts,
        );
        self.chunks += 1;
        self.in_flight = Some(tokio::spawn(async move {
            // Compress, then hash what is stored (the sealed hash is of the stored bytes, so
            // anyone can check it without decompressing), off the runtime's threads: a few
            // milliseconds of CPU per chunk.
            let (hash, mut text, data) = tokio::task::spawn_blocking(move || {
                let data = if raw {
                    Ok(raw_frame(&text))
                } else {
                    compress_chunk(&text)
                };
                if let Ok(d) = &data {
                    hash.update(d);
                }
                (hash, text, data)
            })
            .await
            .map_err(|e| RecordingError::Closed(format!("compression task: {e}")))?;
            let data = Bytes::from(data?);
            text.clear();
            let mut tries = 0;
            loop {
                tries += 1;
                match store.put_chunk(&session, seq, data.clone()).await {
                    Ok(()) => return Ok((hash, text)),
                    Err(e) if tries >= attempts => {
                        tracing::warn!(session = %session, error = %e, "recording upload failed");
                        return Err(e);
                    }
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await
                    }
                }
            }
        }));
        Ok(())
    }

    async fn seal(mut self) -> Result<Manifest, RecordingError> {
        self.settle().await?;
        let hash = self
            .hash
            .take()
            .ok_or_else(|| RecordingError::Closed("recording hash lost".into()))?;
        let manifest = Manifest {
            session_id: self.session,
            sha256: hex::encode(hash.finish().as_ref()),
            bytes: self.bytes,
            chunks: self.chunks,
            started_at: self.started_at,
            ended_at: unix_now(),
        };
        self.store.put_manifest(&manifest).await?;
        Ok(manifest)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
