//! A recording as the CLI receives it from the server for replay: parsing, and rendering its
//! `z` events (compressed output) back into text, must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wicket_recording::Cast;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cast) = Cast::parse(text) {
            let _ = cast.output();
        }
    }
});
