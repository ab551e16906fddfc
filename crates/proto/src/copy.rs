//! The byte stream inside a `copy` channel (protocol version 3): a sequence of *records*
//! carrying a file tree, each file's content streamed and followed by its SHA-256, then a
//! final status from the receiver. See `docs/PROTOCOL.md`, "A `copy` channel".
//!
//! Every record starts with a one-byte tag and a `u32` big-endian body length:
//!
//! | tag | record | body |
//! |---|---|---|
//! | `D` (0x44) | directory | `u32` mode, `i64` mtime (s), `u32` mtime (ns), path (UTF-8) |
//! | `F` (0x46) | file | `u32` mode, `i64` mtime (s), `u32` mtime (ns), `u64` size, path |
//! | `S` (0x53) | SHA-256 of the file just sent | 32 bytes |
//! | `E` (0x45) | end of the tree | empty |
//! | `K` (0x4B) | receiver: everything written | empty |
//! | `X` (0x58) | error: the sender of it gives up | reason (UTF-8, ≤ 1024 bytes) |
//!
//! An `F` record is followed by exactly `size` bytes of content (not framed), then an `S`
//! record. Paths are relative, `/`-separated, of at most [`MAX_PATH_LEN`] bytes, with no empty,
//! `.` or `..` component; the first record names the root of the tree (one component).
//!
//! [`Decoder`] is incremental (feed it any cut of the stream) and never panics; it does no IO.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Longest path in an entry record.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest error reason.
pub const MAX_COPY_REASON: usize = 1024;
/// Length of a record header: tag and body length.
pub const RECORD_HEADER_LEN: usize = 5;

const TAG_DIR: u8 = b'D';
const TAG_FILE: u8 = b'F';
const TAG_SUM: u8 = b'S';
const TAG_END: u8 = b'E';
const TAG_OK: u8 = b'K';
const TAG_ERR: u8 = b'X';

/// Which way the bytes go, seen from the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the user's machine to the target.
    Upload,
    /// From the target to the user's machine.
    Download,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
    }
}

/// A `copy` channel: files to or from `path` on the target (protocol version 3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopySpec {
    /// Target name or id. Set by the CLI; the server clears it before opening the agent's
    /// channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// OS user whose credentials read and write the files; `None`: the server's
    /// `default_run_as`, else the agent's own user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
    pub direction: Direction,
    /// The path on the target: the source of a download, the destination of an upload.
    pub path: String,
    /// Copy directories recursively (a download of a directory needs it).
    #[serde(default)]
    pub recursive: bool,
    /// Set by the CLI: the path on the user's machine, for the logs and the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_path: Option<String>,
    /// Set by the server: the copy id (`cp_` + 16 hex digits), for the agent's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_id: Option<String>,
    /// Set by the server: the wicket user who asked, for the agent's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Metadata of a file or directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryHeader {
    /// Relative path, `/`-separated; its first component is the root of the copy.
    pub path: String,
    /// Permission bits (`0o7777` at most are applied).
    pub mode: u32,
    pub mtime_secs: i64,
    pub mtime_nanos: u32,
}

/// One decoded piece of a copy stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Dir(EntryHeader),
    /// A file header; `size` bytes of [`Item::Data`] follow, then [`Item::Sum`].
    File(EntryHeader, u64),
    /// Content of the current file (any cut).
    Data(Bytes),
    Sum([u8; 32]),
    End,
    Ok,
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("unknown copy record tag 0x{0:02x}")]
    UnknownTag(u8),
    #[error("copy record of {0} bytes is too long")]
    TooLong(usize),
    #[error("malformed copy record: {0}")]
    Malformed(&'static str),
    #[error("bad path in copy record: {0}")]
    BadPath(String),
    #[error("the copy stream ended in the middle of a record or file")]
    Truncated,
}

/// Checks a relative path as carried in an entry record.
pub fn check_path(path: &str) -> Result<(), CopyError> {
    let bad = |why: &str| Err(CopyError::BadPath(format!("{path:?}: {why}")));
    if path.is_empty() {
        return bad("empty");
    }
    if path.len() > MAX_PATH_LEN {
        return bad("too long");
    }
    if path.contains('\0') {
        return bad("contains NUL");
    }
    for c in path.split('/') {
        match c {
            "" => return bad("absolute or empty component"),
            "." | ".." => return bad("'.' or '..' component"),
            _ => {}
        }
    }
    Ok(())
}

fn put_header(buf: &mut BytesMut, tag: u8, len: usize) {
    buf.put_u8(tag);
    buf.put_u32(len as u32);
}

fn put_entry(buf: &mut BytesMut, tag: u8, e: &EntryHeader, size: Option<u64>) {
    let path = e.path.as_bytes();
    let len = 16 + size.map_or(0, |_| 8) + path.len();
    put_header(buf, tag, len);
    buf.put_u32(e.mode);
    buf.put_i64(e.mtime_secs);
    buf.put_u32(e.mtime_nanos);
    if let Some(s) = size {
        buf.put_u64(s);
    }
    buf.put_slice(path);
}

/// Encodes a record (for [`Item::Data`], the raw bytes: content is not framed).
pub fn encode(item: &Item) -> Bytes {
    let mut buf = BytesMut::new();
    match item {
        Item::Dir(e) => put_entry(&mut buf, TAG_DIR, e, None),
        Item::File(e, size) => put_entry(&mut buf, TAG_FILE, e, Some(*size)),
        Item::Data(d) => buf.put_slice(d),
        Item::Sum(s) => {
            put_header(&mut buf, TAG_SUM, 32);
            buf.put_slice(s);
        }
        Item::End => put_header(&mut buf, TAG_END, 0),
        Item::Ok => put_header(&mut buf, TAG_OK, 0),
        Item::Error(r) => {
            let mut end = r.len().min(MAX_COPY_REASON);
            while !r.is_char_boundary(end) {
                end -= 1;
            }
            put_header(&mut buf, TAG_ERR, end);
            buf.put_slice(&r.as_bytes()[..end]);
        }
    }
    buf.freeze()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Record,
    /// Inside a file's content: bytes left.
    Content(u64),
    /// The file's content is done: an `S` record must come next.
    Sum,
    Failed,
}

/// Incremental decoder of a copy stream.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            buf: BytesMut::new(),
            state: State::Record,
        }
    }

    /// Appends bytes received.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether the stream may end here (no record or file content is half done).
    pub fn at_boundary(&self) -> bool {
        self.buf.is_empty() && self.state == State::Record
    }

    /// The next complete item, `Ok(None)` if more bytes are needed. After an error the decoder
    /// stays failed.
    pub fn next_item(&mut self) -> Result<Option<Item>, CopyError> {
        let r = self.step();
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn step(&mut self) -> Result<Option<Item>, CopyError> {
        match self.state {
            State::Failed => Err(CopyError::Malformed("decoder already failed")),
            State::Content(left) => {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let n = (self.buf.len() as u64).min(left) as usize;
                let data = self.buf.split_to(n).freeze();
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::Sum
                } else {
                    State::Content(left)
                };
                Ok(Some(Item::Data(data)))
            }
            State::Record | State::Sum => {
                if self.buf.len() < RECORD_HEADER_LEN {
                    return Ok(None);
                }
                let tag = self.buf[0];
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                let max = match tag {
                    TAG_DIR => 16 + MAX_PATH_LEN,
                    TAG_FILE => 24 + MAX_PATH_LEN,
                    TAG_SUM => 32,
                    TAG_END | TAG_OK => 0,
                    TAG_ERR => MAX_COPY_REASON,
                    t => return Err(CopyError::UnknownTag(t)),
                };
                if len > max {
                    return Err(CopyError::TooLong(len));
                }
                // An error record may interrupt anything; otherwise a sum must follow content.
                if self.state == State::Sum && tag != TAG_SUM && tag != TAG_ERR {
                    return Err(CopyError::Malformed(
                        "file content not followed by its SHA-256",
                    ));
                }
                if self.state == State::Record && tag == TAG_SUM {
                    return Err(CopyError::Malformed("SHA-256 record outside a file"));
                }
                if self.buf.len() < RECORD_HEADER_LEN + len {
                    return Ok(None);
                }
                self.buf.advance(RECORD_HEADER_LEN);
                let mut body = self.buf.split_to(len).freeze();
                let item = decode_body(tag, &mut body)?;
                self.state = match &item {
                    Item::File(_, 0) => State::Sum,
                    Item::File(_, size) => State::Content(*size),
                    _ => State::Record,
                };
                Ok(Some(item))
            }
        }
    }

    /// Call at the end of the stream: an error unless it ended on a record boundary.
    pub fn finish(&self) -> Result<(), CopyError> {
        if self.at_boundary() {
            Ok(())
        } else {
            Err(CopyError::Truncated)
        }
    }
}

fn decode_entry(body: &mut Bytes, with_size: bool) -> Result<(EntryHeader, u64), CopyError> {
    let fixed = if with_size { 24 } else { 16 };
    if body.len() < fixed {
        return Err(CopyError::Malformed("entry record too short"));
    }
    let mode = body.get_u32();
    let mtime_secs = body.get_i64();
    let mtime_nanos = body.get_u32();
    if mtime_nanos >= 1_000_000_000 {
        return Err(CopyError::Malformed("mtime nanoseconds out of range"));
    }
    let size = if with_size { body.get_u64() } else { 0 };
    let path = std::str::from_utf8(body)
        .map_err(|_| CopyError::Malformed("path is not UTF-8"))?
        .to_string();
    check_path(&path)?;
    Ok((
        EntryHeader {
            path,
            mode,
            mtime_secs,
            mtime_nanos,
        },
        size,
    ))
}

fn decode_body(tag: u8, body: &mut Bytes) -> Result<Item, CopyError> {
    Ok(match tag {
        TAG_DIR => Item::Dir(decode_entry(body, false)?.0),
        TAG_FILE => {
            let (e, size) = decode_entry(body, true)?;
            Item::File(e, size)
        }
        TAG_SUM => {
            let mut s = [0u8; 32];
            if body.len() != 32 {
                return Err(CopyError::Malformed("SHA-256 record is not 32 bytes"));
            }
            s.copy_from_slice(body);
            Item::Sum(s)
        }
        TAG_END => Item::End,
        TAG_OK => Item::Ok,
        TAG_ERR => Item::Error(
            std::str::from_utf8(body)
                .map_err(|_| CopyError::Malformed("reason is not UTF-8"))?
                .to_string(),
        ),
        t => return Err(CopyError::UnknownTag(t)),
    })
}

#[cfg(test)]
mod tests;
