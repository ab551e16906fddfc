//! The hand-off between a session's relay and its recorder task.
//!
//! A channel would wake the recorder for every frame: on an interactive session that is a
//! thread wake-up (often of the other core) on every keystroke and every echo, on the path
//! the user is waiting on. This queue wakes the recorder only once a batch has gathered; the
//! recorder's own timer collects the rest. It is bounded in bytes and in items: a sender that
//! finds it full waits for the recorder to take a batch, which is what slows a session whose
//! store falls behind instead of buffering it.

use std::sync::Mutex;

use tokio::sync::Notify;

/// When to wake the recorder and when to make senders wait.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Wake the recorder once this many bytes are queued...
    pub wake_bytes: usize,
    /// ... or this many items.
    pub wake_items: usize,
    /// Senders wait while this many bytes are queued (one item may overshoot it).
    pub max_bytes: usize,
    /// ... or this many items.
    pub max_items: usize,
}

impl Limits {
    pub(crate) fn for_bytes(max_bytes: usize) -> Self {
        let max_bytes = max_bytes.max(1);
        Limits {
            wake_bytes: (max_bytes / 4).max(1),
            wake_items: 1024,
            max_bytes,
            max_items: 4096,
        }
    }
}

/// The queue was closed: the recorder finished or failed.
#[derive(Debug)]
pub(crate) struct Closed;

struct State<T> {
    items: Vec<T>,
    bytes: usize,
    closed: bool,
}

pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    /// A batch is ready (a permit is kept if the recorder is not waiting yet).
    ready: Notify,
    /// The recorder took a batch, or the queue closed.
    room: Notify,
    limits: Limits,
}

impl<T> Queue<T> {
    pub(crate) fn new(limits: Limits) -> Self {
        Queue {
            state: Mutex::new(State {
                items: Vec::new(),
                bytes: 0,
                closed: false,
            }),
            ready: Notify::new(),
            room: Notify::new(),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock; carry on rather than poison the session.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` of `size` bytes, waiting while the queue is full.
    pub(crate) async fn push(&self, item: T, size: usize) -> Result<(), Closed> {
        let mut item = Some(item);
        loop {
            // Registered before looking, so a batch taken in between still wakes us.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut s = self.lock();
                if s.closed {
                    return Err(Closed);
                }
                let l = self.limits;
                if s.bytes < l.max_bytes && s.items.len() < l.max_items {
                    if let Some(item) = item.take() {
                        s.items.push(item);
                    }
                    s.bytes += size;
                    let wake = s.bytes >= l.wake_bytes || s.items.len() >= l.wake_items;
                    drop(s);
                    if wake {
                        self.ready.notify_one();
                    }
                    return Ok(());
                }
            }
            self.ready.notify_one();
            room.await;
        }
    }

    /// Resolves when a batch is ready.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Moves everything queued into `batch` (which should be empty) and lets senders in.
    pub(crate) fn take(&self, batch: &mut Vec<T>) {
        {
            let mut s = self.lock();
            std::mem::swap(&mut s.items, batch);
            s.bytes = 0;
        }
        self.room.notify_waiters();
    }

    /// Refuses every later push; senders waiting for room get [`Closed`].
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn limits() -> Limits {
        Limits {
            wake_bytes: 10,
            wake_items: 100,
            max_bytes: 20,
            max_items: 100,
        }
    }

    #[tokio::test]
    async fn small_pushes_do_not_wake_the_recorder() {
        let q = Queue::new(limits());
        q.push(1, 3).await.unwrap();
        q.push(2, 3).await.unwrap();
        let woken = tokio::time::timeout(Duration::from_millis(50), q.ready()).await;
        assert!(woken.is_err(), "woken for 6 bytes of 10");
        q.push(3, 5).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), q.ready())
            .await
            .expect("a full batch wakes the recorder");
        let mut batch = Vec::new();
        q.take(&mut batch);
        assert_eq!(batch, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_sender_until_a_batch_is_taken() {
        let q = Arc::new(Queue::new(limits()));
        q.push(1, 25).await.unwrap(); // one item may overshoot
        let sender = {
            let q = q.clone();
            tokio::spawn(async move { q.push(2, 1).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!sender.is_finished(), "pushed past the limit");
        let mut batch = Vec::new();
        q.take(&mut batch);
        assert_eq!(batch, [1]);
        sender.await.unwrap().unwrap();
        batch.clear();
        q.take(&mut batch);
        assert_eq!(batch, [2]);
    }

    #[tokio::test]
    async fn closing_fails_waiting_and_later_senders() {
        let q = Arc::new(Queue::new(limits()));
        q.push(1, 30).await.unwrap();
        let sender = {
            let q = q.clone();
            tokio::spawn(async move { q.push(2, 1).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.close();
        assert!(sender.await.unwrap().is_err());
        assert!(q.push(3, 1).await.is_err());
    }
}
