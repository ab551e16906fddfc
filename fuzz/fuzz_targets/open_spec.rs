//! The JSON of an `OPEN` frame, session and tcp alike: decoding must never panic, and whatever
//! decodes must re-encode to JSON that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wicket_proto::OpenSpec;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = serde_json::from_slice::<OpenSpec>(data) {
        let json = serde_json::to_vec(&spec).expect("encodes");
        let again: OpenSpec = serde_json::from_slice(&json).expect("re-encoded spec decodes");
        assert_eq!(again, spec);
    }
});
