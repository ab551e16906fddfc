//! Frames and their binary encoding.
//!
//! ```text
//! +--------+----------------+----------------------+
//! | kind   | channel id     | payload              |
//! | 1 byte | 4 bytes, BE    | rest of the message  |
//! +--------+----------------+----------------------+
//! ```
//!
//! The WebSocket message delimits the frame, so there is no length field. Channel 0 is the link
//! itself; every channel frame names a channel other than 0. Decoding never panics and never
//! allocates more than the input: data payloads are zero-copy slices of the received buffer.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::codes::{ErrorCode, ExitStatus, Signal};
use crate::handshake::{ClientHello, ServerHello, Welcome};
use crate::login::{Notice, Renew, MAX_NOTICE_LEN, MAX_TOKEN_LEN};
use crate::open::OpenSpec;
use crate::{MAX_DATA_LEN, MAX_FRAME_LEN};

/// Bytes before the payload: kind and channel id.
pub const HEADER_LEN: usize = 5;

/// Longest reason text carried in an error or reject frame; longer ones are cut on encode.
pub const MAX_REASON_LEN: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    ServerHello = 0x01,
    ClientHello = 0x02,
    Welcome = 0x03,
    Ping = 0x04,
    Pong = 0x05,
    Error = 0x06,
    Notice = 0x07,
    Renew = 0x08,
    Open = 0x10,
    Accept = 0x11,
    Reject = 0x12,
    Data = 0x13,
    ExtData = 0x14,
    Eof = 0x15,
    Window = 0x16,
    Resize = 0x17,
    Signal = 0x18,
    Exit = 0x19,
    Close = 0x1A,
    ZData = 0x1B,
    InputEcho = 0x1C,
}

impl FrameKind {
    fn from_u8(b: u8) -> Option<Self> {
        use FrameKind::*;
        Some(match b {
            0x01 => ServerHello,
            0x02 => ClientHello,
            0x03 => Welcome,
            0x04 => Ping,
            0x05 => Pong,
            0x06 => Error,
            0x07 => Notice,
            0x08 => Renew,
            0x10 => Open,
            0x11 => Accept,
            0x12 => Reject,
            0x13 => Data,
            0x14 => ExtData,
            0x15 => Eof,
            0x16 => Window,
            0x17 => Resize,
            0x18 => Signal,
            0x19 => Exit,
            0x1A => Close,
            0x1B => ZData,
            0x1C => InputEcho,
            _ => return None,
        })
    }

    /// Link frames travel on channel 0 (errors may also name a channel).
    fn is_link_frame(self) -> bool {
        (self as u8) < 0x10
    }
}

/// One message on a link.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    ServerHello(ServerHello),
    ClientHello(ClientHello),
    Welcome(Welcome),
    Ping(u64),
    Pong(u64),
    /// On channel 0 the link is failing and will close; on another channel, that channel failed.
    Error {
        channel: u32,
        code: ErrorCode,
        reason: String,
    },
    /// Version 5, server to a user's client: something about the link's login to show now
    /// ([`crate::login`]).
    Notice(Notice),
    /// Version 5, a user's client to the server: a newer token for the link's login.
    Renew(Renew),
    Open {
        channel: u32,
        window: u32,
        spec: OpenSpec,
    },
    Accept {
        channel: u32,
        window: u32,
    },
    Reject {
        channel: u32,
        code: ErrorCode,
        reason: String,
    },
    /// Stdin towards a process, stdout (or the PTY) from it.
    Data {
        channel: u32,
        data: Bytes,
    },
    /// Stderr from a process run without a PTY. Counts against the same window as `Data`.
    ExtData {
        channel: u32,
        data: Bytes,
    },
    /// The sender will send no more data on this channel (half-close).
    Eof {
        channel: u32,
    },
    Window {
        channel: u32,
        increment: u32,
    },
    Resize {
        channel: u32,
        cols: u16,
        rows: u16,
    },
    Signal {
        channel: u32,
        signal: Signal,
    },
    Exit {
        channel: u32,
        status: ExitStatus,
    },
    /// The sender is done with the channel. A channel id is free once both sides sent CLOSE.
    Close {
        channel: u32,
    },
    /// Output as `Data`, compressed: one zstd frame ([`crate::zdata`]); version 4, and only on
    /// a session channel whose `OPEN` asked for it. Counts against the window by its
    /// compressed length, the bytes that travel and wait.
    ZData {
        channel: u32,
        data: Bytes,
    },
    /// Version 5, agent to server, only on a session channel whose `OPEN` asked for it
    /// (`input_echo`): the agent wrote `len` more bytes of the user's input to the terminal.
    /// `echo` is false when the terminal was reading a line without echoing it (canonical
    /// mode, `ECHO` off: a password prompt) at that moment, true otherwise. The server records
    /// input by it; it is never passed to the user. No credit.
    InputEcho {
        channel: u32,
        len: u32,
        echo: bool,
    },
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("frame of {0} bytes is shorter than the {HEADER_LEN}-byte header")]
    Truncated(usize),
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(usize),
    #[error("unknown frame kind 0x{0:02x}")]
    UnknownKind(u8),
    #[error("{kind:?} frame on channel {channel}, which it may not use")]
    WrongChannel { kind: FrameKind, channel: u32 },
    #[error("malformed {kind:?} frame: {reason}")]
    Malformed { kind: FrameKind, reason: String },
}

impl Frame {
    pub fn kind(&self) -> FrameKind {
        match self {
            Frame::ServerHello(_) => FrameKind::ServerHello,
            Frame::ClientHello(_) => FrameKind::ClientHello,
            Frame::Welcome(_) => FrameKind::Welcome,
            Frame::Ping(_) => FrameKind::Ping,
            Frame::Pong(_) => FrameKind::Pong,
            Frame::Error { .. } => FrameKind::Error,
            Frame::Notice(_) => FrameKind::Notice,
            Frame::Renew(_) => FrameKind::Renew,
            Frame::Open { .. } => FrameKind::Open,
            Frame::Accept { .. } => FrameKind::Accept,
            Frame::Reject { .. } => FrameKind::Reject,
            Frame::Data { .. } => FrameKind::Data,
            Frame::ExtData { .. } => FrameKind::ExtData,
            Frame::Eof { .. } => FrameKind::Eof,
            Frame::Window { .. } => FrameKind::Window,
            Frame::Resize { .. } => FrameKind::Resize,
            Frame::Signal { .. } => FrameKind::Signal,
            Frame::Exit { .. } => FrameKind::Exit,
            Frame::Close { .. } => FrameKind::Close,
            Frame::ZData { .. } => FrameKind::ZData,
            Frame::InputEcho { .. } => FrameKind::InputEcho,
        }
    }

    /// The channel the frame belongs to; 0 for link frames.
    pub fn channel(&self) -> u32 {
        match self {
            Frame::ServerHello(_)
            | Frame::ClientHello(_)
            | Frame::Welcome(_)
            | Frame::Ping(_)
            | Frame::Pong(_)
            | Frame::Notice(_)
            | Frame::Renew(_) => 0,
            Frame::Error { channel, .. }
            | Frame::Open { channel, .. }
            | Frame::Accept { channel, .. }
            | Frame::Reject { channel, .. }
            | Frame::Data { channel, .. }
            | Frame::ExtData { channel, .. }
            | Frame::ZData { channel, .. }
            | Frame::Eof { channel }
            | Frame::Window { channel, .. }
            | Frame::Resize { channel, .. }
            | Frame::Signal { channel, .. }
            | Frame::Exit { channel, .. }
            | Frame::InputEcho { channel, .. }
            | Frame::Close { channel } => *channel,
        }
    }

    /// Appends the encoded frame to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(self.kind() as u8);
        buf.put_u32(self.channel());
        match self {
            Frame::ServerHello(m) => put_json(buf, m),
            Frame::ClientHello(m) => put_json(buf, m),
            Frame::Welcome(m) => put_json(buf, m),
            Frame::Notice(m) => put_json(buf, m),
            Frame::Renew(m) => put_json(buf, m),
            Frame::Ping(n) | Frame::Pong(n) => buf.put_u64(*n),
            Frame::Error { code, reason, .. } | Frame::Reject { code, reason, .. } => {
                buf.put_u16(code.to_u16());
                buf.put_slice(truncate_utf8(reason, MAX_REASON_LEN).as_bytes());
            }
            Frame::Open { window, spec, .. } => {
                buf.put_u32(*window);
                put_json(buf, spec);
            }
            Frame::Accept { window, .. } => buf.put_u32(*window),
            Frame::Data { data, .. } | Frame::ExtData { data, .. } | Frame::ZData { data, .. } => {
                buf.put_slice(data)
            }
            Frame::Eof { .. } | Frame::Close { .. } => {}
            Frame::Window { increment, .. } => buf.put_u32(*increment),
            Frame::Resize { cols, rows, .. } => {
                buf.put_u16(*cols);
                buf.put_u16(*rows);
            }
            Frame::Signal { signal, .. } => buf.put_u8(signal.number()),
            Frame::Exit { status, .. } => match status {
                ExitStatus::Code(c) => {
                    buf.put_u8(0);
                    buf.put_i32(*c);
                }
                ExitStatus::Signal(s) => {
                    buf.put_u8(1);
                    buf.put_i32(*s);
                }
            },
            Frame::InputEcho { len, echo, .. } => {
                buf.put_u32(*len);
                buf.put_u8(u8::from(*echo));
            }
        }
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf.freeze()
    }

    /// The encoded size for data frames, an estimate for the others; for reserving buffers.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Frame::Data { data, .. }
                | Frame::ExtData { data, .. }
                | Frame::ZData { data, .. } => data.len(),
                _ => 64,
            }
    }

    /// Decodes one frame. Every malformed input gives an error naming what was wrong.
    pub fn decode(mut buf: Bytes) -> Result<Frame, DecodeError> {
        let len = buf.len();
        if len > MAX_FRAME_LEN {
            return Err(DecodeError::TooLarge(len));
        }
        if len < HEADER_LEN {
            return Err(DecodeError::Truncated(len));
        }
        let kind_byte = buf.get_u8();
        let kind = FrameKind::from_u8(kind_byte).ok_or(DecodeError::UnknownKind(kind_byte))?;
        let channel = buf.get_u32();
        let link_only = kind.is_link_frame() && kind != FrameKind::Error;
        if (link_only && channel != 0) || (!kind.is_link_frame() && channel == 0) {
            return Err(DecodeError::WrongChannel { kind, channel });
        }
        let mut p = Payload { kind, buf };
        let frame = match kind {
            FrameKind::ServerHello => Frame::ServerHello(p.json()?),
            FrameKind::ClientHello => Frame::ClientHello(p.json()?),
            FrameKind::Welcome => Frame::Welcome(p.json()?),
            FrameKind::Ping => Frame::Ping(p.u64()?),
            FrameKind::Pong => Frame::Pong(p.u64()?),
            FrameKind::Notice => {
                let notice: Notice = p.json()?;
                if notice.text.len() > MAX_NOTICE_LEN {
                    return Err(p.malformed("notice text too long"));
                }
                Frame::Notice(notice)
            }
            FrameKind::Renew => {
                let renew: Renew = p.json()?;
                if renew.token.len() > MAX_TOKEN_LEN {
                    return Err(p.malformed("token too long"));
                }
                Frame::Renew(renew)
            }
            FrameKind::Error => {
                let code = ErrorCode::from_u16(p.u16()?);
                Frame::Error {
                    channel,
                    code,
                    reason: p.reason()?,
                }
            }
            FrameKind::Open => {
                let window = p.u32()?;
                Frame::Open {
                    channel,
                    window,
                    spec: p.json()?,
                }
            }
            FrameKind::Accept => Frame::Accept {
                channel,
                window: p.u32()?,
            },
            FrameKind::Reject => {
                let code = ErrorCode::from_u16(p.u16()?);
                Frame::Reject {
                    channel,
                    code,
                    reason: p.reason()?,
                }
            }
            FrameKind::Data => Frame::Data {
                channel,
                data: p.data()?,
            },
            FrameKind::ExtData => Frame::ExtData {
                channel,
                data: p.data()?,
            },
            FrameKind::Eof => Frame::Eof { channel },
            FrameKind::Window => {
                let increment = p.u32()?;
                if increment == 0 {
                    return Err(p.malformed("zero increment"));
                }
                Frame::Window { channel, increment }
            }
            FrameKind::Resize => Frame::Resize {
                channel,
                cols: p.u16()?,
                rows: p.u16()?,
            },
            FrameKind::Signal => {
                let n = p.u8()?;
                let signal = Signal::from_number(n)
                    .ok_or_else(|| p.malformed(&format!("unknown signal {n}")))?;
                Frame::Signal { channel, signal }
            }
            FrameKind::Exit => {
                let tag = p.u8()?;
                let value = p.i32()?;
                let status = match tag {
                    0 => ExitStatus::Code(value),
                    1 => ExitStatus::Signal(value),
                    t => return Err(p.malformed(&format!("unknown exit tag {t}"))),
                };
                Frame::Exit { channel, status }
            }
            FrameKind::Close => Frame::Close { channel },
            FrameKind::ZData => Frame::ZData {
                channel,
                data: p.data()?,
            },
            FrameKind::InputEcho => {
                let len = p.u32()?;
                let echo = match p.u8()? {
                    0 => false,
                    1 => true,
                    b => return Err(p.malformed(&format!("echo flag {b} is neither 0 nor 1"))),
                };
                Frame::InputEcho { channel, len, echo }
            }
        };
        p.finish()?;
        Ok(frame)
    }
}

/// A frame's payload being read; every read is bounds-checked.
struct Payload {
    kind: FrameKind,
    buf: Bytes,
}

impl Payload {
    fn malformed(&self, reason: &str) -> DecodeError {
        DecodeError::Malformed {
            kind: self.kind,
            reason: reason.to_string(),
        }
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.remaining() < n {
            Err(self.malformed(&format!(
                "needs {n} more bytes, has {}",
                self.buf.remaining()
            )))
        } else {
            Ok(())
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_u64())
    }

    fn data(&mut self) -> Result<Bytes, DecodeError> {
        if self.buf.len() > MAX_DATA_LEN {
            return Err(self.malformed(&format!(
                "{} bytes of data exceed the {MAX_DATA_LEN}-byte limit",
                self.buf.len()
            )));
        }
        Ok(self.buf.split_to(self.buf.len()))
    }

    fn reason(&mut self) -> Result<String, DecodeError> {
        let rest = self.buf.split_to(self.buf.len());
        if rest.len() > MAX_REASON_LEN {
            return Err(self.malformed("reason too long"));
        }
        String::from_utf8(rest.to_vec()).map_err(|_| self.malformed("reason is not UTF-8"))
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, DecodeError> {
        let rest = self.buf.split_to(self.buf.len());
        serde_json::from_slice(&rest).map_err(|e| self.malformed(&e.to_string()))
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.has_remaining() {
            Err(self.malformed(&format!("{} trailing bytes", self.buf.remaining())))
        } else {
            Ok(())
        }
    }
}

fn put_json<T: serde::Serialize>(buf: &mut BytesMut, value: &T) {
    // Serializing our own plain structs into memory cannot fail.
    let _ = serde_json::to_writer(buf.writer(), value);
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests;
