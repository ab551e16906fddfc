//! Reconnect delays: exponential so a down server is not hammered, jittered so a thousand
//! agents (or forwards) that lost the server at the same moment do not return at the same
//! moment, capped so a dialer is never away for long once the server is back. The agent's
//! link, `wicket forward` and `wicketd dev`'s agent supervisor wait by it.

use std::time::Duration;

/// Delays for one thing being retried: [`Backoff::next_delay`] after each failure,
/// [`Backoff::reset`] once it worked.
pub struct Backoff {
    attempt: u32,
    base: Duration,
    cap: Duration,
}

impl Backoff {
    /// Delays that start near `base` and double up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            attempt: 0,
            base,
            cap,
        }
    }

    /// The next delay: a random point in the upper half of `min(cap, base * 2^attempt)`.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        let ceiling = exp.min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// After a link that worked, start again from the shortest delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_jittered_and_capped() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(30));
        }
        assert!(b.next_delay() >= Duration::from_secs(15));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(500));
    }
}
