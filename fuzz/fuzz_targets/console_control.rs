//! A text message from the console page on the terminal WebSocket: decoding must never panic,
//! and whatever decodes must re-encode to JSON that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wicket_api::TerminalControl;

fuzz_target!(|data: &[u8]| {
    if let Ok(control) = serde_json::from_slice::<TerminalControl>(data) {
        let json = serde_json::to_vec(&control).expect("encodes");
        let again: TerminalControl = serde_json::from_slice(&json).expect("re-encoded decodes");
        assert_eq!(again, control);
    }
});
