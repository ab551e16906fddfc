//! Chunks are stored as zstd frames: compressed, with zstd's content checksum, or, when a
//! chunk is mostly `z` events (output the agent already compressed), stored as it is inside a
//! frame of raw blocks ([`raw_frame`]).
//!
//! Terminal text shrinks several times over, so the store holds, and the server's disk or
//! network writes, a fraction of the bytes; at full speed those writes, not the encoding, were
//! what recording cost. One frame per chunk keeps the recording a plain zstd stream
//! (`cat chunk-*.zst | zstd -d` gives the asciicast file), and the checksum makes a damaged
//! chunk fail to decompress instead of reading back as other text. A raw frame has no
//! checksum: compressing base64 of compressed output again would cost the CPU the `z` events
//! save, for a third off their size; the sealed SHA-256 covers every stored byte either way.

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use crate::RecordingError;

/// zstd level 1: fast enough to keep up with a session streaming as fast as the link goes.
const LEVEL: i32 = 1;

/// The most text one chunk may decompress to: the largest configurable chunk plus the frame
/// that overshoots it. A stored chunk claiming more is refused, not inflated.
pub const MAX_CHUNK_TEXT: usize = 65 * 1024 * 1024;

/// Compresses one chunk of asciicast text into one zstd frame.
pub fn compress_chunk(text: &[u8]) -> Result<Vec<u8>, RecordingError> {
    let fail = |e: std::io::Error| RecordingError::Closed(format!("compressing a chunk: {e}"));
    let mut c = zstd::bulk::Compressor::new(LEVEL).map_err(fail)?;
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .map_err(fail)?;
    c.compress(text).map_err(fail)
}

/// Largest raw block zstd allows (`Block_Maximum_Size`).
const RAW_BLOCK: usize = 128 * 1024;

/// `data` as one zstd frame of raw blocks, readable by any zstd decoder: a copy, no
/// compression. RFC 8878: magic, a frame header with no content size, no checksum and a
/// 128 KiB window, then blocks of a 3-byte header (last flag, type 0 = raw, size) and the bytes.
pub fn raw_frame(data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(RAW_BLOCK).max(1);
    let mut out = Vec::with_capacity(6 + 3 * blocks + data.len());
    out.extend_from_slice(&FRAME_HEADER);
    let mut pieces = data.chunks(RAW_BLOCK).peekable();
    if data.is_empty() {
        out.extend_from_slice(&block_header(0, true)); // one empty last block
    }
    while let Some(piece) = pieces.next() {
        out.extend_from_slice(&block_header(piece.len(), pieces.peek().is_none()));
        out.extend_from_slice(piece);
    }
    out
}

/// What comes before the bytes in [`raw_frame`] of at most one block ([`RAW_BLOCK`]): the
/// frame header and the one block's header, 9 bytes. `None` for more.
pub(crate) fn raw_frame_head(len: usize) -> Option<[u8; 9]> {
    (len <= RAW_BLOCK).then(|| {
        let mut head = [0; 9];
        head[..6].copy_from_slice(&FRAME_HEADER);
        head[6..].copy_from_slice(&block_header(len, true));
        head
    })
}

/// Magic, a Frame_Header_Descriptor with nothing optional, and a Window_Descriptor of
/// 2^(10 + 7) bytes = 128 KiB.
const FRAME_HEADER: [u8; 6] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 7 << 3];

/// A raw block's header: last flag, type 0 (raw), size.
fn block_header(len: usize, last: bool) -> [u8; 3] {
    let header = u32::from(last) | ((len as u32) << 3);
    let [a, b, c, _] = header.to_le_bytes();
    [a, b, c]
}

/// Decompresses one stored chunk, refusing one that inflates beyond [`MAX_CHUNK_TEXT`].
pub fn decompress_chunk(stored: &[u8]) -> Result<Vec<u8>, RecordingError> {
    let mut dec = StreamDecoder::new()?;
    let mut text = Vec::new();
    dec.push(stored, &mut text)?;
    dec.finish()?;
    Ok(text)
}

/// Decompresses a stored recording as its bytes arrive (the chunks' frames back to back), for
/// replaying a stream without holding it. Each frame's text is bounded by [`MAX_CHUNK_TEXT`].
pub struct StreamDecoder {
    dec: Decoder<'static>,
    buf: Vec<u8>,
    /// Text produced by the frame being decoded, against the bound.
    in_frame: usize,
    /// A frame has begun and not ended: input that stops here was cut short.
    mid_frame: bool,
}

impl StreamDecoder {
    pub fn new() -> Result<Self, RecordingError> {
        let dec = Decoder::new().map_err(|e| damaged(&e))?;
        Ok(StreamDecoder {
            dec,
            buf: vec![0; 128 * 1024],
            in_frame: 0,
            mid_frame: false,
        })
    }

    /// Decodes `input`, appending the text to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordingError> {
        let mut src = InBuffer::around(input);
        loop {
            let before = src.pos();
            let mut dst = OutBuffer::around(&mut self.buf[..]);
            let hint = self.dec.run(&mut src, &mut dst).map_err(|e| damaged(&e))?;
            let produced = dst.pos();
            let consumed = src.pos() - before;
            self.in_frame += produced;
            if self.in_frame > MAX_CHUNK_TEXT {
                return Err(RecordingError::Damaged(format!(
                    "a chunk decompresses to more than {MAX_CHUNK_TEXT} bytes"
                )));
            }
            out.extend_from_slice(&self.buf[..produced]);
            if hint == 0 {
                // A frame ended: the next bytes, if any, begin the next chunk's frame.
                self.dec.reinit().map_err(|e| damaged(&e))?;
                self.in_frame = 0;
                self.mid_frame = false;
            } else if produced > 0 || consumed > 0 {
                self.mid_frame = true;
            }
            if src.pos() == input.len() && produced < self.buf.len() {
                return Ok(());
            }
        }
    }

    /// The input ended: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), RecordingError> {
        if self.mid_frame {
            return Err(RecordingError::Damaged(
                "the recording ends inside a compressed chunk".into(),
            ));
        }
        Ok(())
    }
}

fn damaged(e: &std::io::Error) -> RecordingError {
    RecordingError::Damaged(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream(chunks: &[Vec<u8>]) -> Vec<u8> {
        chunks
            .iter()
            .flat_map(|c| compress_chunk(c).unwrap())
            .collect()
    }

    #[test]
    fn raw_frames_read_back_through_zstd() {
        for n in [
            0,
            1,
            RAW_BLOCK - 1,
            RAW_BLOCK,
            RAW_BLOCK + 1,
            3 * RAW_BLOCK + 7,
        ] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            let frame = raw_frame(&data);
            assert_eq!(decompress_chunk(&frame).unwrap(), data, "{n} bytes");
            // And back to back with compressed chunks, as a recording's stream is.
            let mut mixed = frame.clone();
            mixed.extend(compress_chunk(b"tail").unwrap());
            let mut want = data.clone();
            want.extend_from_slice(b"tail");
            assert_eq!(decompress_chunk(&mixed).unwrap(), want);
        }
    }

    #[test]
    fn a_flipped_bit_is_damage_not_other_text() {
        let text = b"[0.1,\"o\",\"hello\"]\n".repeat(1000);
        let mut stored = compress_chunk(&text).unwrap();
        assert_eq!(decompress_chunk(&stored).unwrap(), text);
        let at = stored.len() / 2;
        stored[at] ^= 1;
        assert!(matches!(
            decompress_chunk(&stored),
            Err(RecordingError::Damaged(_))
        ));
    }

    #[test]
    fn a_cut_stream_is_damage() {
        let stored = stream(&[b"one\n".repeat(100), b"two\n".repeat(100)]);
        let mut dec = StreamDecoder::new().unwrap();
        let mut out = Vec::new();
        dec.push(&stored[..stored.len() - 3], &mut out).unwrap();
        assert!(dec.finish().is_err());
    }

    #[test]
    fn a_bomb_is_refused() {
        let mut dec = StreamDecoder::new().unwrap();
        let bomb = compress_chunk(&vec![b'x'; MAX_CHUNK_TEXT + 1]).unwrap();
        let mut out = Vec::new();
        assert!(dec.push(&bomb, &mut out).is_err());
        assert!(out.len() <= MAX_CHUNK_TEXT + 128 * 1024);
    }

    /// A frame whose text ends exactly where the output buffer fills, input and all: the
    /// next call starts no frame, so the stream is not cut.
    #[test]
    fn a_frame_ending_on_the_buffer_boundary_is_whole() {
        let text = vec![b'y'; 2 * 128 * 1024];
        let stored = stream(&[text.clone(), text.clone()]);
        let mut dec = StreamDecoder::new().unwrap();
        let mut out = Vec::new();
        dec.push(&stored, &mut out).unwrap();
        dec.finish().unwrap();
        assert_eq!(out.len(), 2 * text.len());
        let one = compress_chunk(&text).unwrap();
        let mut dec = StreamDecoder::new().unwrap();
        out.clear();
        dec.push(&one, &mut out).unwrap();
        dec.finish().unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn junk_is_damage() {
        assert!(decompress_chunk(b"{\"version\": 2}").is_err());
    }

    proptest! {
        /// Chunks back to back, cut anywhere on arrival, decode to the texts in order.
        #[test]
        fn frames_decode_across_any_cuts(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..5),
            cuts in proptest::collection::vec(1usize..700, 1..20),
        ) {
            let stored = stream(&chunks);
            let mut dec = StreamDecoder::new().unwrap();
            let mut out = Vec::new();
            let mut rest = &stored[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() { break; }
                let (now, later) = rest.split_at((*cut).min(rest.len()));
                dec.push(now, &mut out).unwrap();
                rest = later;
            }
            dec.finish().unwrap();
            prop_assert_eq!(out, chunks.concat());
        }
    }
}
