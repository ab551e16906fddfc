//! The wicket wire format, versions 1 to 5 (see `docs/PROTOCOL.md`).
//!
//! A link between two wicket processes (agent and server, or CLI and server) is a WebSocket
//! carrying binary messages; each message is exactly one [`Frame`]. Many channels share a link,
//! each with credit-based flow control so a busy channel never stalls another and memory per
//! channel stays bounded.
//!
//! **Architecture invariant:** this crate does no IO. It turns bytes into typed frames and back,
//! and keeps the arithmetic of flow-control credit, so that it can be fuzzed and property-tested
//! in isolation and every decoder of network input lives in one place.
//!
//! # Layout
//! - [`frame`]: the [`Frame`] enum, its binary encoding and the decoder.
//! - [`handshake`]: the JSON messages exchanged at link start (version negotiation, agent proof).
//! - [`login`]: the server's notices about a user's login and the client's renewal of it.
//! - [`copy`]: the records inside a `copy` channel (file trees, checksums).
//! - [`open`]: what a channel is opened for ([`OpenSpec`]).
//! - [`credit`]: send credit and receive windows.
//! - [`codes`]: error codes, signals and exit statuses as they travel on the wire.
//! - [`zdata`]: compressed output, the payload of a `ZDATA` frame.
//! - [`text`]: untrusted text: which characters never reach a terminal or a log raw, bounds.

pub mod codes;
pub mod copy;
pub mod credit;
pub mod frame;
pub mod handshake;
pub mod login;
pub mod open;
pub mod text;
pub mod zdata;

pub use codes::{ErrorCode, ExitStatus, Signal};
pub use copy::{CopySpec, Direction};
pub use credit::{FlowError, RecvWindow, SendCredit};
pub use frame::{DecodeError, Frame, FrameKind};
pub use handshake::{ClientHello, ServerHello, Welcome};
pub use login::{Notice, NoticeKind, Renew};
pub use open::{OpenSpec, PtySpec, SessionSpec, TcpSpec};

/// The protocol versions this build speaks, newest last. Version 2 adds the `tcp` channel
/// type (port forwarding), version 3 the `copy` channel type (`wicket cp`), version 4 the
/// `ZDATA` frame (compressed output, sent only on a session channel that asked for it),
/// version 5 the `NOTICE` and `RENEW` link frames of a user's link ([`login`]), the `check` of a
/// `tcp` request (`wicket forward` before it listens) and the `INPUT_ECHO` frame (terminal echo
/// of input, for recordings); everything else is as in version 1.
pub const SUPPORTED_VERSIONS: &[u16] = &[1, 2, 3, 4, 5];

/// The first version with `NOTICE` and `RENEW` ([`login`]): nobody sends them on an older link.
pub const LOGIN_FRAMES_VERSION: u16 = 5;

/// The first version whose server answers a `tcp` request with `check` set without
/// connecting ([`TcpSpec::check`]).
pub const CHECK_VERSION: u16 = 5;

/// The first version whose agent reports the terminal's echo of input (`INPUT_ECHO`).
pub const INPUT_ECHO_VERSION: u16 = 5;

/// Largest encoded frame accepted on a link, header included. A peer that sends more is
/// broken or hostile; the link is closed.
pub const MAX_FRAME_LEN: usize = 256 * 1024 + frame::HEADER_LEN;

/// Largest payload of one data frame. Large enough that bulk transfers are not chopped into
/// tiny messages (the weakness of AWS Session Manager's 1 KiB messages), small enough that an
/// interactive channel never waits long behind a bulk one on the same link.
pub const MAX_DATA_LEN: usize = 128 * 1024;

/// Receive window each side grants a new channel unless it says otherwise. It bounds what one
/// channel can make a peer buffer, which is what keeps an idle agent small after a bulk
/// transfer; 512 KiB still covers the bandwidth-delay product of a fast LAN.
pub const DEFAULT_WINDOW: u32 = 512 * 1024;

/// Receive window for bulk byte-stream channels (TCP forwards). Larger than
/// [`DEFAULT_WINDOW`]: one forward of a bulk transfer runs about a quarter faster with 2 MiB
/// than with 512 KiB (docs/PERFORMANCE.md), and the memory is only held while bytes are in
/// flight.
pub const STREAM_WINDOW: u32 = 2 * 1024 * 1024;

/// Byte-stream channels one side of a link grants [`STREAM_WINDOW`] at once; it grants further
/// ones [`DEFAULT_WINDOW`] until one of those closes. A link rarely carries more than a few bulk
/// transfers, but it may carry hundreds of forwarded connections, each of which can hold a
/// full window at a destination that stops reading: 16 large windows and 512 KiB for the rest
/// hold 200 such connections to about 125 MiB of windows on each side instead of 400 MiB
/// (`bench/forward-pressure.sh`).
pub const STREAM_WINDOW_CHANNELS: usize = 16;

/// `OPEN`s a peer queues unanswered per link; further ones are refused. An opener keeps at most
/// this many of its own `OPEN`s unanswered, so a burst (hundreds of forwarded connections at
/// once) waits for answers instead of being refused.
pub const MAX_PENDING_OPENS: usize = 64;
