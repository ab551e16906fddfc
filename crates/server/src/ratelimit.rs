//! Login rate limiting: failed logins are counted per user name and per source address over a
//! sliding window; past the limit, `POST /v1/auth/login` answers 429 with when to retry,
//! without checking the password. A successful login clears its user name's count (not the
//! address's, so one good account does not unlock guessing at others).
//!
//! The counts live in this process's memory: with several replicas, each limits separately
//! (an attacker spread across them gets the limit once per replica), and a restart forgets.
//!
//! Limits come from the environment, read once when first needed:
//! - `WICKET_LOGIN_MAX_FAILURES`: failures per user name per window (default 5; 0: no limit);
//! - `WICKET_LOGIN_MAX_FAILURES_PER_IP`: failures per source address per window (default 20;
//!   0: no limit);
//! - `WICKET_LOGIN_WINDOW`: the window, e.g. `5m`, `30s` (default 5 minutes).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const DEFAULT_MAX_FAILURES: u32 = 5;
pub const DEFAULT_MAX_FAILURES_PER_IP: u32 = 20;
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// Past this many tracked keys, keys with no failure left in the window are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Ip(IpAddr),
}

/// Why a login is refused before it is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limited {
    /// Whether the user name or the source address hit its limit.
    pub by_address: bool,
    /// How long until one failure leaves the window.
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to wait, rounded up (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        let ms = self.retry_after.as_millis() as u64;
        ms.div_ceil(1000).max(1)
    }

    pub fn message(&self, user: &str) -> String {
        let who = if self.by_address {
            "from this address".to_string()
        } else {
            format!("for user {user}")
        };
        format!(
            "too many failed logins {who}; try again in {}",
            humantime::format_duration(Duration::from_secs(self.retry_after_secs()))
        )
    }
}

pub struct LoginLimiter {
    max_per_user: u32,
    max_per_ip: u32,
    window: Duration,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_per_user: u32, max_per_ip: u32, window: Duration) -> Self {
        LoginLimiter {
            max_per_user,
            max_per_ip,
            window,
            failures: Mutex::new(HashMap::new()),
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
                    tracing::warn!(variable = name, value = %v, "ignoring a malformed value");
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

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether a login for `user` from `ip` may be tried now.
    pub fn check(&self, user: &str, ip: Option<IpAddr>) -> Result<(), Limited> {
        self.check_at(user, ip, Instant::now())
    }

    pub fn check_at(&self, user: &str, ip: Option<IpAddr>, now: Instant) -> Result<(), Limited> {
        let mut map = self.lock();
        if let Some(ip) = ip {
            if let Some(wait) = self.over(&mut map, &Key::Ip(ip), self.max_per_ip, now) {
                return Err(Limited {
                    by_address: true,
                    retry_after: wait,
                });
            }
        }
        if let Some(wait) = self.over(
            &mut map,
            &Key::User(user.to_string()),
            self.max_per_user,
            now,
        ) {
            return Err(Limited {
                by_address: false,
                retry_after: wait,
            });
        }
        Ok(())
    }

    pub fn record_failure(&self, user: &str, ip: Option<IpAddr>) {
        self.record_failure_at(user, ip, Instant::now());
    }

    pub fn record_failure_at(&self, user: &str, ip: Option<IpAddr>, now: Instant) {
        let mut map = self.lock();
        if map.len() > PRUNE_ABOVE {
            let window = self.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
        }
        map.entry(Key::User(user.to_string()))
            .or_default()
            .push_back(now);
        if let Some(ip) = ip {
            map.entry(Key::Ip(ip)).or_default().push_back(now);
        }
    }

    /// For a login whose user is not known before it succeeds (single sign-on): whether the
    /// source address may try now.
    pub fn check_address(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        let Some(ip) = ip else {
            return Ok(());
        };
        let mut map = self.lock();
        match self.over(&mut map, &Key::Ip(ip), self.max_per_ip, Instant::now()) {
            Some(wait) => Err(Limited {
                by_address: true,
                retry_after: wait,
            }),
            None => Ok(()),
        }
    }

    /// A failed login with no user name (single sign-on): counts against the address only.
    pub fn record_address_failure(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.lock()
                .entry(Key::Ip(ip))
                .or_default()
                .push_back(Instant::now());
        }
    }

    /// A successful login: forgets the user name's failures.
    pub fn record_success(&self, user: &str) {
        self.lock().remove(&Key::User(user.to_string()));
    }

    /// If `key` has `max` or more failures in the window, how long until the oldest leaves it.
    fn over(
        &self,
        map: &mut HashMap<Key, VecDeque<Instant>>,
        key: &Key,
        max: u32,
        now: Instant,
    ) -> Option<Duration> {
        if max == 0 {
            return None;
        }
        let times = map.get_mut(key)?;
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.is_empty() {
            map.remove(key);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
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

    #[test]
    fn user_limit_kicks_in_and_slides_away() {
        let l = LoginLimiter::new(3, 100, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.check_at("alice", IP, t0).is_ok(), "attempt {i}");
            l.record_failure_at("alice", IP, t0 + Duration::from_secs(i));
        }
        let limited = l
            .check_at("alice", IP, t0 + Duration::from_secs(10))
            .expect_err("limited");
        assert!(!limited.by_address);
        assert_eq!(limited.retry_after, Duration::from_secs(50));
        assert!(limited.message("alice").contains("try again in 50s"));
        // Other users are unaffected.
        assert!(l.check_at("bob", IP, t0 + Duration::from_secs(10)).is_ok());
        // Once the first failure leaves the window, one more try is allowed.
        assert!(l
            .check_at("alice", IP, t0 + Duration::from_secs(60))
            .is_ok());
    }

    #[test]
    fn success_clears_the_user_but_not_the_address() {
        let l = LoginLimiter::new(2, 3, Duration::from_secs(60));
        let t0 = Instant::now();
        l.record_failure_at("alice", IP, t0);
        l.record_failure_at("alice", IP, t0);
        assert!(l.check_at("alice", IP, t0).is_err());
        l.record_success("alice");
        assert!(l.check_at("alice", IP, t0).is_ok());
        l.record_failure_at("bob", IP, t0);
        let limited = l.check_at("carol", IP, t0).expect_err("address limit");
        assert!(limited.by_address);
        assert!(limited.message("carol").contains("from this address"));
        // Without an address only the user counts.
        assert!(l.check_at("carol", None, t0).is_ok());
    }

    #[test]
    fn zero_disables_and_env_is_parsed() {
        let l = LoginLimiter::new(0, 0, Duration::from_secs(1));
        let t0 = Instant::now();
        for _ in 0..50 {
            l.record_failure_at("alice", IP, t0);
        }
        assert!(l.check_at("alice", IP, t0).is_ok());

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
