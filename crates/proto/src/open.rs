//! What a channel is opened for.
//!
//! Carried as JSON in an `OPEN` frame, so fields can be added compatibly. A new channel `type`
//! (forwards, file copy) is not understood by an older peer, whose decoder refuses the frame and
//! closes the link: new types come with a new protocol version (docs/PROTOCOL.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpenSpec {
    /// A shell or a command.
    Session(SessionSpec),
    /// A TCP connection made by the target (`wicket forward`, `wicket proxy`); protocol
    /// version 2 and later.
    Tcp(TcpSpec),
    /// Files copied to or from the target (`wicket cp`); protocol version 3 and later. The
    /// channel carries the records of [`crate::copy`].
    Copy(crate::copy::CopySpec),
}

impl OpenSpec {
    /// The lowest protocol version whose peers understand this spec.
    pub fn min_version(&self) -> u16 {
        match self {
            OpenSpec::Session(_) => 1,
            OpenSpec::Tcp(_) => 2,
            OpenSpec::Copy(_) => 3,
        }
    }

    /// Whether the channel carries bulk bytes, and so gets the larger
    /// [`crate::STREAM_WINDOW`].
    pub fn is_stream(&self) -> bool {
        matches!(self, OpenSpec::Tcp(_) | OpenSpec::Copy(_))
    }
}

/// A TCP connection from the target to `host:port`; the channel's `DATA` are the connection's
/// bytes, `EOF` its half-close.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpSpec {
    /// Target name or id. Set by the CLI for the server; the server clears it before passing the
    /// request to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Host name or IP address to connect to, as the target resolves it (`localhost`: the
    /// target itself).
    pub host: String,
    pub port: u16,
    /// Set by the CLI: the local peer that connected (`127.0.0.1:53122`), for the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Set by the server: the connection id (`fwd_` + 16 hex digits), for the agent's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Set by the server: the wicket user who asked, for the agent's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Version 5, from the CLI: only check the request (the target, the policy on this
    /// destination, the agent's version) and answer `ACCEPT` then `CLOSE`, or `REJECT` with the
    /// reason a connection would get; nothing is opened on the agent. `wicket forward` asks
    /// before it listens. Sent only on a link that negotiated version 5: an older server would
    /// ignore the field and really connect.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check: bool,
}

/// A shell or command on a target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSpec {
    /// Target name or id. Set by the CLI for the server; the server clears it before passing the
    /// request to the agent, which is the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// OS user to run as; `None` lets the server's configuration (and later the policy) decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
    /// A command line for the user's shell (`sh -c` semantics, like ssh). `None`: a login shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A terminal, for interactive use. `None`: pipes, stdout and stderr kept apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pty: Option<PtySpec>,
    /// Extra environment for the process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory to start in; set by the server from the session profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Set by the server: the session id, for the agent's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Set by the server: the wicket user who asked, for the agent's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The opener reads `ZDATA` (version 4): the CLI sets it for the server, the server for
    /// the agent, which may then send bulk output compressed. A peer that does not know the
    /// field ignores it and sends plain `DATA`, so asking is always safe.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compress_output: bool,
    /// Version 5, set by the server for the agent on a session with a terminal: report, with an
    /// `INPUT_ECHO` frame per `DATA` written to the terminal, whether its `ECHO` flag was on,
    /// so input typed at a password prompt is kept out of the recording. An older agent
    /// ignores it (the server sets it only for agents whose link speaks version 5).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub input_echo: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtySpec {
    /// The user's `TERM`.
    pub term: String,
    pub cols: u16,
    pub rows: u16,
}
