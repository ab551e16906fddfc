//! The byte stream inside a `copy` channel: decoding any bytes, cut anywhere, never panics, and
//! every record that decodes re-encodes to bytes that decode to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wicket_proto::copy::{encode, Decoder, Item};

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |b| *b as usize) % (data.len() + 1);
    let mut d = Decoder::new();
    d.feed(&data[..cut]);
    let mut items = Vec::new();
    loop {
        match d.next_item() {
            Ok(Some(i)) => items.push(i),
            Ok(None) if cut < data.len() => {
                d.feed(&data[cut..]);
                while let Ok(Some(i)) = d.next_item() {
                    items.push(i);
                }
                break;
            }
            _ => break,
        }
    }
    for item in items {
        if matches!(item, Item::Data(_) | Item::File(..)) {
            continue; // content and file headers depend on the decoder's state
        }
        let mut again = Decoder::new();
        again.feed(&encode(&item));
        assert_eq!(again.next_item().expect("re-encoded record decodes"), Some(item));
    }
});
