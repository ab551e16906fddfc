//! Any bytes a peer can send: decoding must never panic, and whatever decodes must re-encode to
//! a frame that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wicket_proto::Frame;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::decode(bytes::Bytes::copy_from_slice(data)) {
        let again = Frame::decode(frame.to_bytes()).expect("re-encoded frame decodes");
        assert_eq!(again, frame);
    }
});
