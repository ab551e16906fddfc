//! Compressed output: the payload of a `ZDATA` frame (protocol version 4).
//!
//! A session's bulk output is text that shrinks several times over, and the control plane
//! records every byte of it. Compressing once, on the target, means the server relays and
//! stores a fraction of the bytes and never compresses them itself, which is what recording
//! costs otherwise (docs/PERFORMANCE.md). One message is one zstd frame with its content size,
//! decoded by any zstd decoder; small writes (keystroke echo) are sent as plain `DATA`.
//!
//! The decoder is network input: it refuses a frame that would inflate beyond
//! [`MAX_CONTENT`], so a hostile peer cannot turn one window of credit into unbounded memory.

use thiserror::Error;

use crate::MAX_DATA_LEN;

/// The most one `ZDATA` frame may decompress to: what one `DATA` frame may carry.
pub const MAX_CONTENT: usize = MAX_DATA_LEN;

/// Writes shorter than this are not worth compressing (nor the latency of doing it).
pub const MIN_COMPRESS: usize = 512;

/// Output that does not at least halve is sent plain: for it the agent's CPU buys little
/// bandwidth, and the recorder stores it at about the same cost either way
/// (docs/PERFORMANCE.md).
const MIN_RATIO: usize = 2;

/// After a write that did not compress well, this many further writes of [`MIN_COMPRESS`] or
/// more are sent plain without trying, so output that will not shrink (random, already
/// compressed) costs the agent almost nothing.
const BACKOFF: u32 = 15;

/// zstd level 1: the fastest of the standard levels, several times smaller on terminal text.
const LEVEL: i32 = 1;

#[derive(Debug, Error)]
pub enum ZDataError {
    #[error("compressed output does not decode: {0}")]
    Damaged(String),
    #[error("compressed output inflates beyond the {MAX_CONTENT}-byte limit")]
    TooLarge,
    #[error("zstd: {0}")]
    Codec(String),
}

/// Compresses output for `ZDATA`; keeps its zstd context between frames.
pub struct Compressor {
    zstd: zstd::bulk::Compressor<'static>,
    /// Writes still to send plain before trying again.
    skip: u32,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor").finish_non_exhaustive()
    }
}

impl Compressor {
    pub fn new() -> Result<Self, ZDataError> {
        zstd::bulk::Compressor::new(LEVEL)
            .map(|zstd| Compressor { zstd, skip: 0 })
            .map_err(|e| ZDataError::Codec(e.to_string()))
    }

    /// The `ZDATA` payload for `data`, or `None` when it should go as plain `DATA`: too short,
    /// too long for one frame, not at least halved, or just after a write that was not.
    pub fn compress(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        if data.len() < MIN_COMPRESS || data.len() > MAX_CONTENT {
            return None;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        let out = self.zstd.compress(data).ok()?;
        if out.len() * MIN_RATIO > data.len() {
            self.skip = BACKOFF;
            return None;
        }
        Some(out)
    }
}

/// Decompresses `ZDATA` payloads, each on its own; reuses one zstd context's memory.
pub struct Decompressor(zstd::bulk::Decompressor<'static>);

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor").finish_non_exhaustive()
    }
}

impl Decompressor {
    pub fn new() -> Result<Self, ZDataError> {
        zstd::bulk::Decompressor::new()
            .map(Decompressor)
            .map_err(|e| ZDataError::Codec(e.to_string()))
    }

    /// The output a `ZDATA` payload carries, at most [`MAX_CONTENT`] bytes.
    pub fn decompress(&mut self, payload: &[u8]) -> Result<Vec<u8>, ZDataError> {
        if payload.is_empty() {
            return Err(ZDataError::Damaged("empty payload".into()));
        }
        // Room for the size the frame declares (ours always do), not the bound: a 128 KiB
        // buffer per frame would be an mmap and munmap each time on the client's output path.
        let room = match content_size(payload) {
            Some(n) if n > MAX_CONTENT as u64 => return Err(ZDataError::TooLarge),
            Some(n) => n as usize,
            None => MAX_CONTENT,
        };
        self.0
            .decompress(payload, room)
            .map_err(|e| ZDataError::Damaged(e.to_string()))
    }
}

/// Decompresses one payload (for callers that see few).
pub fn decompress(payload: &[u8]) -> Result<Vec<u8>, ZDataError> {
    Decompressor::new()?.decompress(payload)
}

/// The output size the frame declares, without decoding it; for byte counts. The sender
/// chooses it, so it is only as true as the sender.
pub fn content_size(payload: &[u8]) -> Option<u64> {
    zstd::zstd_safe::get_frame_content_size(payload)
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(n: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog\r\n"
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect()
    }

    /// `n` pseudo-random words (xorshift): output that does not compress.
    fn noise(n: usize) -> impl Iterator<Item = u64> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..n).map(move |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
    }

    #[test]
    fn round_trips_and_shrinks_text() {
        let data = text(64 * 1024);
        let z = Compressor::new().unwrap().compress(&data).unwrap();
        assert!(z.len() < data.len() / 10, "{} bytes", z.len());
        assert_eq!(content_size(&z), Some(data.len() as u64));
        assert_eq!(decompress(&z).unwrap(), data);
    }

    #[test]
    fn short_long_and_incompressible_writes_stay_plain() {
        let mut c = Compressor::new().unwrap();
        assert!(c.compress(&text(MIN_COMPRESS - 1)).is_none());
        assert!(c.compress(&text(MAX_CONTENT + 1)).is_none());
        let noise: Vec<u8> = noise(4096).map(|x| (x >> 32) as u8).collect();
        assert!(c.compress(&noise).is_none());
    }

    #[test]
    fn output_that_does_not_halve_is_sent_plain_and_not_tried_for_a_while() {
        let mut c = Compressor::new().unwrap();
        // Hex of noise: compresses, but to little more than half.
        let hex: Vec<u8> = noise(4096)
            .map(|x| b"0123456789abcdef"[(x >> 60) as usize])
            .collect();
        assert!(zstd::bulk::compress(&hex, LEVEL).unwrap().len() < hex.len());
        assert!(c.compress(&hex).is_none());
        // Text that would compress well waits out the backoff, then compresses again.
        let text = text(4096);
        for _ in 0..BACKOFF {
            assert!(c.compress(&text).is_none());
        }
        assert!(c.compress(&text).is_some());
    }

    #[test]
    fn a_bomb_is_refused() {
        // Valid zstd of more than one frame's worth of output: refused, not inflated.
        let big = zstd::bulk::compress(&vec![b'x'; MAX_CONTENT + 1], 1).unwrap();
        assert!(matches!(decompress(&big), Err(ZDataError::TooLarge)));
        // The same without a declared size is still bounded by the output buffer.
        let mut c = zstd::bulk::Compressor::new(1).unwrap();
        c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(false))
            .unwrap();
        let hidden = c.compress(&vec![b'x'; MAX_CONTENT + 1]).unwrap();
        assert!(content_size(&hidden).is_none());
        assert!(decompress(&hidden).is_err());
    }

    #[test]
    fn damage_is_an_error() {
        let mut z = Compressor::new().unwrap().compress(&text(4096)).unwrap();
        z.truncate(z.len() - 3);
        assert!(decompress(&z).is_err());
        assert!(decompress(b"not zstd at all").is_err());
        assert!(decompress(b"").is_err());
    }

    proptest! {
        #[test]
        fn junk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decompress(&bytes);
            let _ = content_size(&bytes);
        }

        #[test]
        fn whatever_compresses_decompresses(data in proptest::collection::vec(0u8..8, 0..4096)) {
            if let Some(z) = Compressor::new().unwrap().compress(&data) {
                prop_assert_eq!(decompress(&z).unwrap(), data);
            }
        }
    }
}
