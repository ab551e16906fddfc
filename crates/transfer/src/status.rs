//! The receiver's verdict, the last record of a copy: `Ok` once everything is in place, or the
//! reason it failed. It travels against the stream, from the receiver back to the sender.

use std::io::Read;

use bytes::Bytes;
use wicket_proto::copy::{encode, Decoder, Item};

use crate::{report, Error, Summary};

/// The verdict on `result` as a record to send back: `Ok`, or the error with its causes.
pub fn status(result: &Result<Summary, Error>) -> Bytes {
    match result {
        Ok(_) => encode(&Item::Ok),
        Err(e) => encode(&Item::Error(report(e))),
    }
}

/// Reads the receiver's verdict (after the sender's `End`): the receiver's reason is
/// [`Error::Remote`], its going away without one [`Error::NoVerdict`].
pub fn read_status(input: &mut dyn Read) -> Result<(), Error> {
    let mut dec = Decoder::new();
    let mut buf = [0u8; 2048];
    loop {
        match dec.next_item()? {
            Some(Item::Ok) => return Ok(()),
            Some(Item::Error(r)) => return Err(Error::Remote(r)),
            Some(_) => {
                return Err(Error::Malformed(
                    "unexpected record where the copy's status was expected".into(),
                ))
            }
            None => {}
        }
        let n = input.read(&mut buf).map_err(Error::Read)?;
        if n == 0 {
            return Err(Error::NoVerdict);
        }
        dec.feed(&buf[..n]);
    }
}
