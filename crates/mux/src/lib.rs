//! Channels over one link.
//!
//! A [`Mux`] owns one [`Transport`] (in production a WebSocket; in tests an in-memory pair) and
//! runs two tasks on it: a reader that decodes frames and routes them to channels, and a writer
//! that encodes whatever the channels send. Each channel has its own credit in each direction
//! (see `wicket_proto::credit`), so a channel whose consumer is slow stops its sender without
//! stalling the others, and the memory a peer can make us hold per channel is one window.
//!
//! A protocol violation by the peer (a malformed frame, an oversized frame, a credit overrun)
//! closes the whole link with an error frame naming the problem; it never panics, and it never
//! touches another link.
//!
//! # Layout
//! - [`transport`]: the frame transport trait objects, the handshake helpers, an in-memory pair.
//! - [`link`]: [`Mux`], its reader, writer and heartbeat tasks.
//! - [`channel`]: [`ChannelSender`], [`ChannelReceiver`], [`IncomingChannel`], [`Event`].
//! - [`stream`]: [`splice`], a byte stream (a TCP connection) joined to a channel.
//! - [`error`]: [`MuxError`] and friends.

pub mod channel;
pub mod error;
pub mod link;
pub mod stream;
pub mod transport;

pub use channel::{Channel, ChannelReceiver, ChannelSender, Cut, Event, IncomingChannel};
pub use error::{LinkCause, LinkClosed, MuxError};
pub use link::{Control, Mux, MuxConfig, Role, Watching, CLOSE_WATCH_PING, CLOSE_WATCH_SILENCE};
pub use stream::{splice, Spliced};
pub use transport::{mem_pair, Transport, TransportError};
