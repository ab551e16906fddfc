//! A ZDATA payload from a peer: decompressing must never panic nor inflate beyond the bound,
//! and whatever the compressor makes of the same bytes must come back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wicket_proto::zdata::{decompress, Compressor, MAX_CONTENT};

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = decompress(data) {
        assert!(out.len() <= MAX_CONTENT);
    }
    if let Some(z) = Compressor::new().expect("compressor").compress(data) {
        assert_eq!(decompress(&z).expect("own output decodes"), data);
    }
});
