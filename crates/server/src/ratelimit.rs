//! Login rate limiting: failed logins are counted over a sliding window per source address,
//! per user name from one source, and per user name from anywhere. Limits lock out *sources*,
//! never an account: an attacker who guesses at `admin` must not be able to keep the real
//! admin, signing in from somewhere else, out of the system during an incident.
//!
//! - Per source address (`WICKET_LOGIN_MAX_FAILURES_PER_IP`, default 20): past it, every login
//!   from that address answers 429 with when to retry, without checking a password.
//! - Per user name from one address (`WICKET_LOGIN_MAX_FAILURES`, default 5): past it, logins
//!   as that user from that address answer 429 the same way.
//! - Per user name from anywhere (the same number): past it, logins as that user are *slowed
//!   down*, not refused: they are let through one at a time, [`SLOWDOWN`] apart, so guessing
//!   spread over many addresses gets one try per [`SLOWDOWN`] instead of thousands. An attempt
//!   that would wait more than [`MAX_WAIT`] for its turn gets a 429 instead of a hung request.
//!   An address the user signed in from successfully before ([`KNOWN_FOR`]) is not slowed:
//!   the owner's usual machine gets in at once.
//!
//! A successful login clears the user's counts (not the address's, so one good account does
//! not unlock guessing at others). The counts live in this process's memory: with several
//! replicas, each limits separately, and a restart forgets.
//!
//! `WICKET_LOGIN_WINDOW` sets the window, e.g. `5m`, `30s` (default 5 minutes); 0 for either
//! maximum disables that limit.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const DEFAULT_MAX_FAILURES: u32 = 5;
pub const DEFAULT_MAX_FAILURES_PER_IP: u32 = 20;
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// How far apart logins as a user under attack are let through.
pub const SLOWDOWN: Duration = Duration::from_secs(2);
/// The longest a login waits for its turn before it is refused with a 429.
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// How long a successful login's address counts as the user's own.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Past this many tracked keys, keys with no failure left in the window are dropped.
const PRUNE_ABOVE: usize = 10_000;
/// The most (user, address) pairs remembered as known; the oldest go first.
const KNOWN_MAX: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// Failures as this user from any address.
    User(String),
    /// Failures as this user from this address.
    UserAt(String, Option<IpAddr>),
    /// Failures from this address, whoever they claimed to be.
    Ip(IpAddr),
}

/// Why a login is refused before it is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limited {
    /// Whether the address as a whole, rather than this user name from it, hit its limit.
    pub by_address: bool,
    /// Whether the user name is under attack from many addresses (its turns are taken).
    pub busy: bool,
    /// How long until a try is allowed.
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to wait, rounded up (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        let ms = self.retry_after.as_millis() as u64;
        ms.div_ceil(1000).max(1)
    }

    pub fn message(&self, user: &str) -> String {
        let user = wicket_proto::text::display(user);
        let who = if self.by_address {
            "from this address".to_string()
        } else if self.busy {
            format!("for user {user} from many addresses")
        } else {
            format!("for user {user} from this address")
        };
        format!(
            "too many failed logins {who}; try again in {}",
            humantime::format_duration(Duration::from_secs(self.retry_after_secs()))
        )
    }
}

/// What [`LoginLimiter::admit`] decided: go now, or wait this long for the user's turn first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    Now,
    After(Duration),
}

#[derive(Default)]
struct Counts {
    failures: HashMap<Key, VecDeque<Instant>>,
    /// When a user under attack may next have a login tried.
    next_turn: HashMap<String, Instant>,
    /// (user, address) pairs that signed in successfully, and when last.
    known: HashMap<(String, IpAddr), Instant>,
}

pub struct LoginLimiter {
    max_per_user: u32,
    max_per_ip: u32,
    window: Duration,
    counts: Mutex<Counts>,
}

impl LoginLimiter {
    pub fn new(max_per_user: u32, max_per_ip: u32, window: Duration) -> Self {
        LoginLimiter {
            max_per_user,
            max_per_ip,
            window,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// The limits from `WICKET_LOGIN_*` (see the module docs); a malformed value is logged
    /// and the default used.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Self {
        fn parse<T>(
            name: &str,
            value: Option<String>,
            default: T,
            parse: impl Fn(&str) -> Option<T>,
        ) -> T {
            match value {
                None => default,
                Some(v) => parse(v.trim()).unwrap_or_else(|| {
                    tracing::warn!(variable = name, value = ?v, "ignoring a malformed value");
                    default
                }),
            }
        }
        let max_per_user = parse(
            "WICKET_LOGIN_MAX_FAILURES",
            get("WICKET_LOGIN_MAX_FAILURES"),
            DEFAULT_MAX_FAILURES,
            |v| v.parse().ok(),
        );
        let max_per_ip = parse(
            "WICKET_LOGIN_MAX_FAILURES_PER_IP",
            get("WICKET_LOGIN_MAX_FAILURES_PER_IP"),
            DEFAULT_MAX_FAILURES_PER_IP,
            |v| v.parse().ok(),
        );
        let window = parse(
            "WICKET_LOGIN_WINDOW",
            get("WICKET_LOGIN_WINDOW"),
            DEFAULT_WINDOW,
            |v| humantime::parse_duration(v).ok().filter(|d| !d.is_zero()),
        );
        Self::new(max_per_user, max_per_ip, window)
    }

    #[cfg(test)]
    fn window(&self) -> Duration {
        self.window
    }

    /// Whether a login for `user` from `ip` may be tried, now or after a wait for its turn
    /// (the caller sleeps that long, then checks the password).
    pub fn admit(&self, user: &str, ip: Option<IpAddr>) -> Result<Admit, Limited> {
        self.admit_at(user, ip, Instant::now())
    }

    pub fn admit_at(&self, user: &str, ip: Option<IpAddr>, now: Instant) -> Result<Admit, Limited> {
        let mut c = self.lock();
        let refused = |by_address, wait| Limited {
            by_address,
            busy: false,
            retry_after: wait,
        };
        if let Some(ip) = ip {
            if let Some(wait) = self.over(&mut c, &Key::Ip(ip), self.max_per_ip, now) {
                return Err(refused(true, wait));
            }
        }
        let user_at = Key::UserAt(user.to_string(), ip);
        if let Some(wait) = self.over(&mut c, &user_at, self.max_per_user, now) {
            return Err(refused(false, wait));
        }
        let known = ip.is_some_and(|ip| {
            c.known
                .get(&(user.to_string(), ip))
                .is_some_and(|t| now.saturating_duration_since(*t) < KNOWN_FOR)
        });
        let user_key = Key::User(user.to_string());
        if known
            || self
                .over(&mut c, &user_key, self.max_per_user, now)
                .is_none()
        {
            return Ok(Admit::Now);
        }
        // Under attack from many addresses: one try per SLOWDOWN, in turn.
        let turn = c
            .next_turn
            .get(user)
            .copied()
            .filter(|t| *t > now)
            .unwrap_or(now);
        let wait = turn - now;
        if wait > MAX_WAIT {
            return Err(Limited {
                by_address: false,
                busy: true,
                retry_after: wait,
            });
        }
        c.next_turn.insert(user.to_string(), turn + SLOWDOWN);
        Ok(if wait.is_zero() {
            Admit::Now
        } else {
            Admit::After(wait)
        })
    }

    pub fn record_failure(&self, user: &str, ip: Option<IpAddr>) {
        self.record_failure_at(user, ip, Instant::now());
    }

    pub fn record_failure_at(&self, user: &str, ip: Option<IpAddr>, now: Instant) {
        let mut c = self.lock();
        if c.failures.len() > PRUNE_ABOVE {
            let window = self.window;
            c.failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
            c.next_turn.retain(|_, t| *t > now);
        }
        for key in [
            Key::User(user.to_string()),
            Key::UserAt(user.to_string(), ip),
        ] {
            c.failures.entry(key).or_default().push_back(now);
        }
        if let Some(ip) = ip {
            c.failures.entry(Key::Ip(ip)).or_default().push_back(now);
        }
    }

    /// For a login whose user is not known before it succeeds (single sign-on): whether the
    /// source address may try now.
    pub fn check_address(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        let Some(ip) = ip else {
            return Ok(());
        };
        let mut c = self.lock();
        match self.over(&mut c, &Key::Ip(ip), self.max_per_ip, Instant::now()) {
            Some(wait) => Err(Limited {
                by_address: true,
                busy: false,
                retry_after: wait,
            }),
            None => Ok(()),
        }
    }

    /// A failed login with no user name (single sign-on): counts against the address only.
    pub fn record_address_failure(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.lock()
                .failures
                .entry(Key::Ip(ip))
                .or_default()
                .push_back(Instant::now());
        }
    }

    /// A successful login: forgets the user name's failures, and remembers the address as
    /// one the user signs in from.
    pub fn record_success(&self, user: &str, ip: Option<IpAddr>) {
        self.record_success_at(user, ip, Instant::now());
    }

    pub fn record_success_at(&self, user: &str, ip: Option<IpAddr>, now: Instant) {
        let mut c = self.lock();
        c.failures.remove(&Key::User(user.to_string()));
        c.failures.remove(&Key::UserAt(user.to_string(), ip));
        c.next_turn.remove(user);
        if let Some(ip) = ip {
            if c.known.len() >= KNOWN_MAX {
                if let Some(oldest) = c
                    .known
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone())
                {
                    c.known.remove(&oldest);
                }
            }
            c.known.insert((user.to_string(), ip), now);
        }
    }

    /// If `key` has `max` or more failures in the window, how long until one leaves it.
    fn over(&self, c: &mut Counts, key: &Key, max: u32, now: Instant) -> Option<Duration> {
        if max == 0 {
            return None;
        }
        let times = c.failures.get_mut(key)?;
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.is_empty() {
            c.failures.remove(key);
            return None;
        }
        if times.len() < max as usize {
            return None;
        }
        // The window slides: the next attempt is allowed when enough old failures have left
        // it to bring the count under `max`.
        let idx = times.len() - max as usize;
        let t = times[idx];
        Some((t + self.window).saturating_duration_since(now))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The process-wide limiter, configured from the environment on first use.
pub fn login_limiter() -> &'static LoginLimiter {
    static LIMITER: OnceLock<LoginLimiter> = OnceLock::new();
    LIMITER.get_or_init(|| LoginLimiter::from_env(|k| std::env::var(k).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const OTHER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[test]
    fn a_user_from_one_address_is_limited_and_slides_away() {
        let l = LoginLimiter::new(3, 100, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.admit_at("alice", IP, t0).is_ok(), "attempt {i}");
            l.record_failure_at("alice", IP, t0 + Duration::from_secs(i));
        }
        let limited = l
            .admit_at("alice", IP, t0 + Duration::from_secs(10))
            .expect_err("limited");
        assert!(!limited.by_address);
        assert_eq!(limited.retry_after, Duration::from_secs(50));
        assert!(limited
            .message("alice")
            .contains("for user alice from this address; try again in 50s"));
        // Other users are unaffected.
        assert_eq!(
            l.admit_at("bob", IP, t0 + Duration::from_secs(10)),
            Ok(Admit::Now)
        );
        // Once the first failure leaves the window, one more try is allowed.
        assert!(l
            .admit_at("alice", IP, t0 + Duration::from_secs(60))
            .is_ok());
    }

    #[test]
    fn the_owner_elsewhere_is_slowed_down_never_locked_out() {
        let l = LoginLimiter::new(3, 100, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            l.record_failure_at("admin", IP, t0);
        }
        // From another address: admitted, the first at once, the next ones in turn.
        assert_eq!(l.admit_at("admin", OTHER, t0), Ok(Admit::Now));
        assert_eq!(l.admit_at("admin", OTHER, t0), Ok(Admit::After(SLOWDOWN)));
        assert_eq!(
            l.admit_at("admin", OTHER, t0),
            Ok(Admit::After(SLOWDOWN * 2))
        );
        // A flood fills the turns up to MAX_WAIT, then gets 429s naming the user, not the
        // address.
        let mut refused = None;
        for _ in 0..100 {
            if let Err(e) = l.admit_at("admin", OTHER, t0) {
                refused = Some(e);
                break;
            }
        }
        let refused = refused.expect("turns run out");
        assert!(refused.busy && !refused.by_address);
        assert!(refused.retry_after <= MAX_WAIT + SLOWDOWN);
        assert!(refused.message("admin").contains("from many addresses"));
        // An address the user signed in from before is not slowed.
        l.record_success_at("admin", Some("198.51.100.1".parse().unwrap()), t0);
        for _ in 0..3 {
            l.record_failure_at("admin", IP, t0);
        }
        assert_eq!(
            l.admit_at("admin", Some("198.51.100.1".parse().unwrap()), t0),
            Ok(Admit::Now)
        );
    }

    #[test]
    fn success_clears_the_user_but_not_the_address() {
        let l = LoginLimiter::new(2, 3, Duration::from_secs(60));
        let t0 = Instant::now();
        l.record_failure_at("alice", IP, t0);
        l.record_failure_at("alice", IP, t0);
        assert!(l.admit_at("alice", IP, t0).is_err());
        l.record_success_at("alice", IP, t0);
        assert!(l.admit_at("alice", IP, t0).is_ok());
        l.record_failure_at("bob", IP, t0);
        let limited = l.admit_at("carol", IP, t0).expect_err("address limit");
        assert!(limited.by_address);
        assert!(limited.message("carol").contains("from this address"));
        // Without an address only the user counts.
        assert!(l.admit_at("carol", None, t0).is_ok());
    }

    #[test]
    fn names_in_messages_cannot_drive_a_terminal() {
        let limited = Limited {
            by_address: false,
            busy: false,
            retry_after: Duration::from_secs(1),
        };
        assert!(!limited
            .message("x\x1b]0;pwned\x07\ny")
            .chars()
            .any(wicket_proto::text::is_unsafe));
    }

    #[test]
    fn zero_disables_and_env_is_parsed() {
        let l = LoginLimiter::new(0, 0, Duration::from_secs(1));
        let t0 = Instant::now();
        for _ in 0..50 {
            l.record_failure_at("alice", IP, t0);
        }
        assert_eq!(l.admit_at("alice", IP, t0), Ok(Admit::Now));

        let env = |k: &str| match k {
            "WICKET_LOGIN_MAX_FAILURES" => Some("3".to_string()),
            "WICKET_LOGIN_WINDOW" => Some("2s".to_string()),
            "WICKET_LOGIN_MAX_FAILURES_PER_IP" => Some("lots".to_string()),
            _ => None,
        };
        let l = LoginLimiter::from_env(env);
        assert_eq!(l.max_per_user, 3);
        assert_eq!(l.max_per_ip, DEFAULT_MAX_FAILURES_PER_IP);
        assert_eq!(l.window(), Duration::from_secs(2));
    }
}
