//! Rate limits and AI budgets.
//!
//! In-memory token buckets (governor's GCRA): per user, for commands; per client network, for
//! every API request and WebSocket command; and per client network for new identities. With
//! `RATE_LIMIT_STORE=postgres` the per-user and new-identity buckets live in the database
//! instead (one atomic statement per check), so those limits hold across Cloud Run instances.
//! The AI budgets — daily caps per user, per client network and for the whole service — are
//! always counted in the database: they protect the owner's quota and credits, which are shared
//! by every instance.
//!
//! A "client network" is an IPv4 address or an IPv6 /64: one IPv6 host usually owns a whole
//! /64 and can rotate through it at will, so keying on the full address would let it reset
//! every per-IP limit.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{Config, RateLimitStore};
use crate::store::{Budget, BudgetKeys, Store, StoreResult, UserId};

/// Above this many remembered keys the sweep forgets all of them: memory stays bounded even
/// when an attacker sprays addresses, at the price of fresh buckets for everyone once.
const MAX_KEYS: usize = 200_000;
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// The unit per-IP limits count: an IPv4 address (IPv4-mapped IPv6 addresses included) or the
/// /64 prefix of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let segments = v6.segments();
                    ClientKey(IpAddr::V6(Ipv6Addr::new(
                        segments[0],
                        segments[1],
                        segments[2],
                        segments[3],
                        0,
                        0,
                        0,
                        0,
                    )))
                }
            },
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after: Duration,
}

impl RateLimited {
    /// Milliseconds to wait, at least 1 (never tell a client to retry "in 0 ms").
    pub fn retry_after_ms(&self) -> u64 {
        (self.retry_after.as_millis() as u64).max(1)
    }

    /// Whole seconds for a `Retry-After` header, rounded up.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_ms().div_ceil(1000)
    }
}

#[derive(Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: bool,
    users: Keyed<UserId>,
    networks: Keyed<ClientKey>,
    new_sessions: Keyed<ClientKey>,
    user_quota: Quota,
    network_quota: Quota,
    new_session_quota: Quota,
    clock: DefaultClock,
    shared: bool,
    user_gcra: Gcra,
    new_session_gcra: Gcra,
    ai_per_user: u32,
    ai_per_network: u32,
    ai_total: u32,
    grounded_total: u32,
    store: Store,
}

/// GCRA parameters of a bucket kept in the database.
#[derive(Clone, Copy)]
struct Gcra {
    period_ms: i64,
    tolerance_ms: i64,
}

impl Gcra {
    fn new(per_period: u32, period: Duration, burst: u32) -> Self {
        let period_ms = (period.as_millis() as i64 / i64::from(per_period.max(1))).max(1);
        Self {
            period_ms,
            tolerance_ms: period_ms * (i64::from(burst.max(1)) - 1),
        }
    }
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

fn hourly_quota(per_hour: u32) -> Quota {
    let per_hour = NonZeroU32::new(per_hour.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_hour(per_hour).allow_burst(per_hour)
}

/// The `ai_usage` key of the daily grounded-search count.
pub const GROUNDED_SEARCHES_KEY: &str = "grounded:*";

/// Today's UTC day as the budgets count it.
pub fn budget_day() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

impl Limits {
    pub fn new(config: &Config, store: Store) -> Self {
        let rate = &config.rate_limit;
        let user_quota = quota(rate.user_per_minute, rate.user_burst);
        // A network may be a whole office behind one NAT, so its burst is a full minute's
        // worth rather than the per-user burst.
        let network_quota = quota(rate.ip_per_minute, rate.ip_per_minute);
        let new_session_quota = hourly_quota(rate.new_sessions_per_ip_per_hour);
        Self {
            inner: Arc::new(Inner {
                enabled: rate.enabled,
                users: RwLock::new(RateLimiter::keyed(user_quota)),
                networks: RwLock::new(RateLimiter::keyed(network_quota)),
                new_sessions: RwLock::new(RateLimiter::keyed(new_session_quota)),
                user_quota,
                network_quota,
                new_session_quota,
                clock: DefaultClock::default(),
                shared: rate.store == RateLimitStore::Database,
                user_gcra: Gcra::new(
                    rate.user_per_minute,
                    Duration::from_secs(60),
                    rate.user_burst,
                ),
                new_session_gcra: Gcra::new(
                    rate.new_sessions_per_ip_per_hour,
                    Duration::from_secs(3600),
                    rate.new_sessions_per_ip_per_hour,
                ),
                ai_per_user: config.ai_daily_requests_per_user,
                ai_per_network: config.ai_daily_requests_per_ip,
                ai_total: config.ai_daily_requests_total,
                grounded_total: config.ai_daily_grounded_total,
                store,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// One command for `user`.
    pub async fn check_user(&self, user: &UserId) -> Result<(), RateLimited> {
        if !self.inner.enabled {
            return Ok(());
        }
        if self.inner.shared {
            return self
                .check_shared(&format!("user:{user}"), self.inner.user_gcra)
                .await;
        }
        check_keyed(&self.inner.users, user, &self.inner.clock)
    }

    /// One API request or WebSocket command from `client`.
    pub fn check_ip(&self, client: ClientKey) -> Result<(), RateLimited> {
        if !self.inner.enabled {
            return Ok(());
        }
        check_keyed(&self.inner.networks, &client, &self.inner.clock)
    }

    /// One new anonymous identity for `client`: without this, every cookie-less request could
    /// mint an identity and with it a fresh per-user AI budget.
    pub async fn check_new_session(&self, client: ClientKey) -> Result<(), RateLimited> {
        if !self.inner.enabled {
            return Ok(());
        }
        if self.inner.shared {
            return self
                .check_shared(
                    &format!("new-session:{client}"),
                    self.inner.new_session_gcra,
                )
                .await;
        }
        check_keyed(&self.inner.new_sessions, &client, &self.inner.clock)
    }

    async fn check_shared(&self, key: &str, gcra: Gcra) -> Result<(), RateLimited> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        match self
            .inner
            .store
            .take_shared_rate_limit(key, now_ms, gcra.period_ms, gcra.tolerance_ms)
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(wait_ms)) => Err(RateLimited {
                retry_after: Duration::from_millis(wait_ms),
            }),
            // The limiter must not become a second way for a database outage to fail
            // requests; the request itself will report the outage if it needs the database.
            Err(error) => {
                tracing::warn!(%error, "shared rate limit unavailable; allowing the request");
                Ok(())
            }
        }
    }

    /// The counters one AI request of `user` from `client` moves today.
    pub fn budget_keys<'a>(
        &self,
        user: &'a UserId,
        network: &'a str,
        day: &'a str,
    ) -> BudgetKeys<'a> {
        BudgetKeys {
            user,
            network,
            day,
            per_user: self.inner.ai_per_user,
            per_network: self.inner.ai_per_network,
            total: self.inner.ai_total,
        }
    }

    /// Counts one AI request against today's budgets (UTC day).
    pub async fn consume_ai_request(
        &self,
        user: &UserId,
        client: ClientKey,
    ) -> StoreResult<Budget> {
        let day = budget_day();
        let network = client.to_string();
        self.inner
            .store
            .consume_ai_request(self.budget_keys(user, &network, &day))
            .await
    }

    /// Counts one Google Search a grounded answer ran (service-wide, per UTC day); false once
    /// `AI_DAILY_GROUNDED_TOTAL` is reached.
    pub async fn consume_grounded_search(&self) -> StoreResult<bool> {
        self.inner
            .store
            .consume_daily(
                GROUNDED_SEARCHES_KEY,
                &budget_day(),
                self.inner.grounded_total,
            )
            .await
    }

    /// Gives back an AI request that produced nothing for the user.
    pub async fn refund_ai_request(&self, user: &UserId, client: ClientKey) -> StoreResult<()> {
        let day = budget_day();
        let network = client.to_string();
        self.inner
            .store
            .refund_ai_request(self.budget_keys(user, &network, &day))
            .await
    }

    /// Forgets buckets that are full again (equivalent to new ones), and all of them if there
    /// are still too many. Called periodically.
    pub fn sweep(&self) {
        sweep(&self.inner.users, || {
            RateLimiter::keyed(self.inner.user_quota)
        });
        sweep(&self.inner.networks, || {
            RateLimiter::keyed(self.inner.network_quota)
        });
        sweep(&self.inner.new_sessions, || {
            RateLimiter::keyed(self.inner.new_session_quota)
        });
    }

    /// Number of remembered keys (users, networks); for tests and metrics.
    pub fn tracked_keys(&self) -> (usize, usize) {
        (
            read(&self.inner.users).len(),
            read(&self.inner.networks).len(),
        )
    }
}

type Keyed<K> = RwLock<DefaultKeyedRateLimiter<K>>;

fn check_keyed<K: std::hash::Hash + Eq + Clone>(
    limiter: &Keyed<K>,
    key: &K,
    clock: &DefaultClock,
) -> Result<(), RateLimited> {
    read(limiter)
        .check_key(key)
        .map_err(|not_until| RateLimited {
            retry_after: not_until.wait_time_from(clock.now()),
        })
}

fn read<K: std::hash::Hash + Eq + Clone>(
    limiter: &Keyed<K>,
) -> std::sync::RwLockReadGuard<'_, DefaultKeyedRateLimiter<K>> {
    // Limiter state is a map of atomics; a panic elsewhere cannot leave it half-updated.
    limiter.read().unwrap_or_else(|p| p.into_inner())
}

fn sweep<K: std::hash::Hash + Eq + Clone>(
    limiter: &Keyed<K>,
    fresh: impl FnOnce() -> DefaultKeyedRateLimiter<K>,
) {
    let len = {
        let current = read(limiter);
        current.retain_recent();
        current.shrink_to_fit();
        current.len()
    };
    if len > MAX_KEYS {
        tracing::warn!(
            keys = len,
            "too many rate-limit keys; starting over with empty buckets"
        );
        *limiter.write().unwrap_or_else(|p| p.into_inner()) = fresh();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_of_one_network_share_a_key() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:eeee:dddd:cccc".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(other));
        assert_eq!(ClientKey::of(a).to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        let plain: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), ClientKey::of(plain));
        assert_eq!(ClientKey::of(mapped).to_string(), "203.0.113.7");
    }
}
