//! Session recordings. The control plane records every shell session it relays as an
//! [asciicast v2](https://docs.asciinema.org/manual/asciicast/v2/) file, so a session can be
//! replayed exactly as the user saw it, by wicket or by any asciinema tool. The agent takes no
//! part: it cannot switch recording off, trim it or forge it.
//!
//! A recording is streamed to an object store in chunks while the session runs, so a crash of
//! the server loses at most the last few seconds, and memory per session stays bounded: when
//! the store falls behind, recording an event waits, which slows the session instead of
//! buffering without limit. When the session ends a manifest with the SHA-256 of the whole
//! recording is written; the server seals that hash into the session-end audit event.
//!
//! Layout:
//! - [`asciicast`]: the header and event lines, and a reader for replay.
//! - [`compress`]: chunks as zstd frames, and a decoder for a stored stream as it arrives.
//! - `json`: the JSON string writer the hot path uses (escapes only where needed).
//! - [`utf8`]: turns a byte stream into UTF-8 text without splitting a character in two.
//! - [`zevent`]: `z` events, output the agent compressed, stored as it came, and [`Render`]
//!   that turns them back into `o` events for people and tools.
//! - `store` (feature `store`, on by default): [`RecordingStore`] over the `object_store` crate (local folder or S3).
//! - `recorder` (feature `store`): [`Recorder`], one per live session, fed through `queue`
//!   (bounded, and waking the recorder per batch rather than per frame).

pub mod asciicast;
pub mod compress;
mod error;
mod json;
#[cfg(feature = "store")]
mod queue;
#[cfg(feature = "store")]
pub mod recorder;
#[cfg(feature = "store")]
pub mod store;
pub mod utf8;
pub mod zevent;

pub use asciicast::{Cast, Event, EventKind, Header, SessionMeta};
pub use error::RecordingError;
#[cfg(feature = "store")]
pub use recorder::{Recorder, RecorderConfig};
#[cfg(feature = "store")]
pub use store::{Manifest, RecordingStore, StoreConfig};
pub use zevent::Render;
