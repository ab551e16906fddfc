//! Flow-control credit: the arithmetic, without the waiting.
//!
//! Every channel has a receive window in each direction. The receiver grants credit (the
//! initial window in OPEN/ACCEPT, then `WINDOW` increments as its application consumes data);
//! the sender may have at most that much data in flight. A sender that overruns its credit is
//! broken or hostile and loses the link, which is what bounds the memory a peer can make us hold
//! for one channel.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FlowError {
    #[error("peer sent {sent} bytes with only {credit} bytes of credit")]
    Overrun { sent: usize, credit: u64 },
    #[error("peer granted credit beyond the largest possible window")]
    CreditOverflow,
}

/// Bytes we may still send on a channel.
#[derive(Debug, Clone)]
pub struct SendCredit {
    available: u64,
}

impl SendCredit {
    pub fn new(initial: u32) -> Self {
        SendCredit {
            available: u64::from(initial),
        }
    }

    pub fn available(&self) -> u64 {
        self.available
    }

    /// Takes up to `want` bytes of credit and returns how many were taken (possibly 0).
    pub fn take(&mut self, want: usize) -> usize {
        let n = (want as u64).min(self.available);
        self.available -= n;
        n as usize
    }

    /// Adds a peer's `WINDOW` increment. A receiver never grants more than its window, which
    /// fits in a `u32`; more is a protocol violation.
    pub fn grant(&mut self, increment: u32) -> Result<(), FlowError> {
        let next = self.available + u64::from(increment);
        if next > u64::from(u32::MAX) {
            return Err(FlowError::CreditOverflow);
        }
        self.available = next;
        Ok(())
    }
}

/// Our side of a channel's receive window.
#[derive(Debug, Clone)]
pub struct RecvWindow {
    window: u32,
    /// Credit granted to the peer and not yet used by it.
    outstanding: u64,
    /// Bytes handed to the application since the last `WINDOW` we sent.
    consumed: u64,
}

impl RecvWindow {
    pub fn new(window: u32) -> Self {
        RecvWindow {
            window,
            outstanding: u64::from(window),
            consumed: 0,
        }
    }

    /// Accounts for a data frame of `n` bytes arriving; refuses one the peer had no credit for.
    pub fn on_data(&mut self, n: usize) -> Result<(), FlowError> {
        if n as u64 > self.outstanding {
            return Err(FlowError::Overrun {
                sent: n,
                credit: self.outstanding,
            });
        }
        self.outstanding -= n as u64;
        Ok(())
    }

    /// Accounts for `n` bytes handed to the application. Returns the increment to send once half
    /// the window has been consumed: batching updates keeps control traffic low while the peer
    /// never runs dry on a busy channel.
    pub fn on_consumed(&mut self, n: usize) -> Option<u32> {
        self.consumed += n as u64;
        if self.consumed >= u64::from(self.window / 2).max(1) {
            let inc = self.consumed.min(u64::from(u32::MAX)) as u32;
            self.consumed -= u64::from(inc);
            self.outstanding += u64::from(inc);
            Some(inc)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overrun_is_refused() {
        let mut w = RecvWindow::new(10);
        assert!(w.on_data(10).is_ok());
        assert_eq!(w.on_data(1), Err(FlowError::Overrun { sent: 1, credit: 0 }));
    }

    #[test]
    fn grant_overflow_is_refused() {
        let mut c = SendCredit::new(u32::MAX);
        assert_eq!(c.grant(1), Err(FlowError::CreditOverflow));
    }

    proptest! {
        /// Whatever the receiver consumes in whatever pieces, a sender that respects its credit
        /// is never refused, and in-flight data never exceeds the window.
        #[test]
        fn credit_and_window_agree(window in 1u32..100_000, sends in proptest::collection::vec(1usize..50_000, 1..200)) {
            let mut tx = SendCredit::new(window);
            let mut rx = RecvWindow::new(window);
            let mut in_flight: u64 = 0;
            for s in sends {
                let n = tx.take(s);
                if n > 0 {
                    prop_assert!(rx.on_data(n).is_ok());
                    in_flight += n as u64;
                    prop_assert!(in_flight <= u64::from(window));
                }
                // The application consumes everything that arrived.
                if let Some(inc) = rx.on_consumed(n) {
                    prop_assert!(tx.grant(inc).is_ok());
                    in_flight -= u64::from(inc);
                }
            }
        }
    }
}
