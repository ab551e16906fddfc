//! One [`Recorder`] per live session. The relay hands it frames as they pass (cheap `Bytes`
//! clones, no copy) through a `Queue` that wakes the recorder task only once a batch has
//! gathered (or its timer fires), so recording adds no wake-up to a keystroke's path. The task
//! encodes batches as asciicast lines and uploads a chunk whenever enough has gathered or a
//! few seconds have passed.
//!
//! Memory is bounded by the queue (`queue_bytes`, plus one frame) and two chunks. When the
//! store is slow the queue fills and recording a frame waits: the session slows down rather
//! than going unrecorded or growing without limit. When the store fails, every later call
//! returns an error and the server ends the session, saying why.
//!
//! **Fail closed, bounded.** Recording a frame returns only once at most two chunks of what
//! was recorded are not yet in the store ([`RecorderHandle::output`] waits for the store
//! otherwise, asking the task to upload what it holds), and the relay passes a frame on only
//! after recording it: so what a user sees that the store does not hold is bounded by
//! `2 * chunk_bytes`, and [`RecorderHandle::sync`] (before a session's exit status is passed
//! on) waits until the store holds everything. A store that fails ends the session at the
//! next frame, never after the whole output went by.

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

impl RecorderConfig {
    /// The most recorded bytes that may be not yet in the store before recording a frame
    /// waits for the store: one chunk uploading while the next fills.
    pub fn max_unstored(&self) -> u64 {
        2 * self.chunk_bytes.max(1) as u64
    }
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            // Large enough that a session streaming output costs few objects (a local store
            // pays a create and a rename per object, S3 a PUT). Buffers are reserved, not
            // touched: an interactive session's pages stay unallocated.
            // Small enough that the output a user may see ahead of the store (two chunks) is
            // a few screens, not megabytes.
            chunk_bytes: 512 * 1024,
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
    /// A marker (`m` event) with its label: where input was left out.
    Marker(Duration, String),
}

impl Record {
    /// What the record holds in memory, for the queue's bound.
    fn size(&self) -> usize {
        match self {
            Record::Output(_, d) | Record::Compressed(_, d) | Record::Input(_, d) => {
                d.len().max(16)
            }
            Record::Resize(..) => 16,
            Record::Marker(_, label) => label.len().max(16),
        }
    }

    /// What the record shows a user: compressed output counts as the output it carries (as
    /// its frame declares, at most the most a `ZDATA` frame may carry), so the bound on what a
    /// user sees ahead of the store holds however well output compresses.
    fn weight(&self) -> u64 {
        match self {
            Record::Compressed(_, z) => zstd::zstd_safe::get_frame_content_size(z)
                .ok()
                .flatten()
                .unwrap_or(z.len() as u64)
                .clamp(16, MAX_CONTENT),
            other => other.size() as u64,
        }
    }
}

/// The most output one compressed frame may carry (`wicket_proto::zdata::MAX_CONTENT`).
const MAX_CONTENT: u64 = 128 * 1024;

/// Records one session.
pub struct Recorder {
    queue: Arc<Queue<Record>>,
    progress: Arc<Progress>,
    task: JoinHandle<Result<Manifest, RecordingError>>,
    done: oneshot::Sender<()>,
    started: Instant,
}

/// Cheap handle for the relay's other direction (input and resizes come from the client
/// side of the relay, output from the agent side).
#[derive(Clone)]
pub struct RecorderHandle {
    queue: Arc<Queue<Record>>,
    progress: Arc<Progress>,
    started: Instant,
}

/// How far the store is behind what was recorded, in what the records show a user
/// ([`Record::weight`]).
struct Progress {
    /// Recorded so far (queued, counted by the handles).
    fed: std::sync::atomic::AtomicU64,
    /// In the store so far; the sender is dropped when the recorder task ends, so a handle
    /// waiting on a failed store learns it.
    stored: tokio::sync::watch::Receiver<u64>,
    /// Asks the task to upload what it holds now, without waiting for a chunk to fill.
    kick: tokio::sync::Notify,
    max_unstored: u64,
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
        let (stored_tx, stored) = tokio::sync::watch::channel(0);
        let progress = Arc::new(Progress {
            fed: Default::default(),
            stored,
            kick: Default::default(),
            max_unstored: config.max_unstored(),
        });
        upload.stored = Some(Arc::new(stored_tx));
        let (done, done_rx) = oneshot::channel();
        let task = tokio::spawn(run(
            queue.clone(),
            progress.clone(),
            done_rx,
            upload,
            config,
        ));
        Ok(Recorder {
            queue,
            progress,
            task,
            done,
            started: Instant::now(),
        })
    }

    /// A handle for recording from another task.
    pub fn handle(&self) -> RecorderHandle {
        RecorderHandle {
            queue: self.queue.clone(),
            progress: self.progress.clone(),
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

    /// A marker (an asciicast `m` event) labelled `label`: where input was left out.
    pub async fn marker(&self, label: &str) -> Result<(), RecordingError> {
        self.send(Record::Marker(self.started.elapsed(), label.to_owned()))
            .await
    }

    /// The terminal was resized.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), RecordingError> {
        self.send(Record::Resize(self.started.elapsed(), cols, rows))
            .await
    }

    /// Waits until the store holds everything recorded so far: called before a session's end
    /// (its exit status) is passed on, so a user never hears "done" about output the store
    /// does not have. An error means the store failed.
    pub async fn sync(&self) -> Result<(), RecordingError> {
        let fed = self.progress.fed.load(std::sync::atomic::Ordering::Acquire);
        self.wait_stored(fed, 0).await
    }

    async fn send(&self, record: Record) -> Result<(), RecordingError> {
        let (size, weight) = (record.size(), record.weight());
        self.queue.push(record, size).await.map_err(|_| failed())?;
        let fed = self
            .progress
            .fed
            .fetch_add(weight, std::sync::atomic::Ordering::AcqRel)
            + weight;
        self.wait_stored(fed, self.progress.max_unstored).await
    }

    /// Returns once no more than `slack` of the first `fed` recorded bytes is missing from
    /// the store. Costs a load and a compare when the store keeps up, which it does for
    /// anything typed and echoed.
    async fn wait_stored(&self, fed: u64, slack: u64) -> Result<(), RecordingError> {
        let behind = |stored: &u64| fed.saturating_sub(*stored) <= slack;
        if behind(&self.progress.stored.borrow()) {
            return Ok(());
        }
        self.progress.kick.notify_one();
        let mut stored = self.progress.stored.clone();
        stored.wait_for(behind).await.map_err(|_| failed())?;
        Ok(())
    }
}

fn failed() -> RecordingError {
    RecordingError::Closed("the recording store failed".into())
}

/// The recorder task. Whatever way it ends, the queue is closed, so a relay still sending
/// learns that the recording stopped.
async fn run(
    queue: Arc<Queue<Record>>,
    progress: Arc<Progress>,
    done: oneshot::Receiver<()>,
    upload: Upload,
    config: RecorderConfig,
) -> Result<Manifest, RecordingError> {
    let result = record(&queue, &progress, done, upload, config).await;
    queue.close();
    result
}

async fn record(
    queue: &Queue<Record>,
    progress: &Progress,
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
            /// The timer, or a handle waiting for the store: upload what is here.
            Now,
            Done,
        }
        let why = tokio::select! {
            () = queue.ready() => Why::Batch,
            _ = tick.tick() => Why::Now,
            () = progress.kick.notified() => Why::Now,
            // An upload ended: take its result now, not at the next flush. A failure ends the
            // task here, which is what tells a handle waiting for the store that it failed;
            // otherwise that handle could wait for ever for a flush nothing would start.
            uploaded = upload.uploaded(), if upload.uploading() => {
                upload.settled(uploaded)?;
                continue;
            }
            _ = &mut done => Why::Done,
        };
        if let Why::Done = why {
            // Finished while other handles live: take what they already queued, no more.
            queue.close();
        }
        queue.take(&mut batch);
        for record in batch.drain(..) {
            let weight = record.weight();
            upload.taken += weight;
            upload.pending_weight += weight;
            encode(&mut encoder, &mut upload, &mut last, record);
        }
        let full = upload.waiting() >= config.chunk_bytes
            || upload.pending_weight >= config.chunk_bytes as u64;
        match why {
            Why::Done => break,
            Why::Now if upload.waiting() > 0 => upload.flush().await?,
            _ if full => upload.flush().await?,
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
        Record::Marker(at, label) => {
            *last = at;
            if let Some(line) = encoder.marker(at, &label) {
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
    /// Records (by [`Record::weight`]) taken from the queue and encoded into `pending` or an
    /// earlier chunk.
    taken: u64,
    /// The weight of what `pending` holds: a chunk is cut at `chunk_bytes` of it too, so
    /// output that compresses well still reaches the store in step with the bound.
    pending_weight: u64,
    /// Where an upload reports the records it has put in the store.
    stored: Option<Arc<tokio::sync::watch::Sender<u64>>>,
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
            taken: 0,
            pending_weight: 0,
            stored: None,
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
        if self.uploading() {
            let uploaded = self.uploaded().await;
            self.settled(uploaded)?;
        }
        Ok(())
    }

    /// Whether a chunk is being uploaded.
    fn uploading(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Resolves when the chunk being uploaded is done (pending for ever if none is).
    async fn uploaded(&mut self) -> Result<Uploaded, tokio::task::JoinError> {
        match self.in_flight.as_mut() {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    }

    /// Takes a finished upload's hash and buffer back, or its error.
    fn settled(
        &mut self,
        uploaded: Result<Uploaded, tokio::task::JoinError>,
    ) -> Result<(), RecordingError> {
        self.in_flight = None;
        let (hash, buffer) =
            uploaded.map_err(|e| RecordingError::Closed(format!("upload task: {e}")))??;
        self.hash = Some(hash);
        self.spare = Some(buffer);
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
        self.pending_weight = 0;
        // Mostly output the agent compressed: store it as it is, not compressed again.
        let raw = std::mem::take(&mut self.precompressed) * 2 > text.len();
        self.bytes += text.len() as u64;
        let (store, session, seq, attempts) = (
            self.store.clone(),
            self.session.clone(),
            self.chunks,
            self.attempts,
        );
        let (stored, covered) = (self.stored.clone(), self.taken);
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
                    Ok(()) => {
                        // Chunks are stored in order (each waits for the one before), so
                        // everything taken before this one was cut is in the store now.
                        if let Some(stored) = &stored {
                            stored.send_modify(|s| *s = (*s).max(covered));
                        }
                        return Ok((hash, text));
                    }
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
