//! Rate limits and AI budgets.
//!
//! Two in-memory token buckets (governor's GCRA): per user, for commands, and per client IP,
//! for every API request and WebSocket command. With `RATE_LIMIT_STORE=postgres` the per-user
//! bucket lives in the database instead (one atomic statement per check), so the limit holds
//! across Cloud Run instances. The AI budgets — daily caps per user and for the whole service —
//! are always counted in the database: they protect the owner's quota and credits, which are
//! shared by every instance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{Config, RateLimitStore};
use crate::store::{Budget, Store, StoreResult, UserId};

/// Above this many remembered keys the sweep forgets all of them: memory stays bounded even
/// when an attacker sprays addresses, at the price of fresh buckets for everyone once.
const MAX_KEYS: usize = 200_000;
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

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
    ips: Keyed<IpAddr>,
    user_quota: Quota,
    ip_quota: Quota,
    clock: DefaultClock,
    shared_users: bool,
    user_period_ms: i64,
    user_tolerance_ms: i64,
    ai_per_user: u32,
    ai_total: u32,
    store: Store,
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl Limits {
    pub fn new(config: &Config, store: Store) -> Self {
        let rate = &config.rate_limit;
        let user_period_ms = 60_000 / i64::from(rate.user_per_minute.max(1));
        let user_quota = quota(rate.user_per_minute, rate.user_burst);
        // An IP may be a whole office behind one NAT, so its burst is a full minute's worth
        // rather than the per-user burst.
        let ip_quota = quota(rate.ip_per_minute, rate.ip_per_minute);
        Self {
            inner: Arc::new(Inner {
                enabled: rate.enabled,
                users: RwLock::new(RateLimiter::keyed(user_quota)),
                ips: RwLock::new(RateLimiter::keyed(ip_quota)),
                user_quota,
                ip_quota,
                clock: DefaultClock::default(),
                shared_users: rate.store == RateLimitStore::Database,
                user_period_ms,
                user_tolerance_ms: user_period_ms * (i64::from(rate.user_burst.max(1)) - 1),
                ai_per_user: config.ai_daily_requests_per_user,
                ai_total: config.ai_daily_requests_total,
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
        if self.inner.shared_users {
            let now_ms = chrono::Utc::now().timestamp_millis();
            let key = format!("user:{user}");
            return match self
                .inner
                .store
                .take_shared_rate_limit(
                    &key,
                    now_ms,
                    self.inner.user_period_ms,
                    self.inner.user_tolerance_ms,
                )
                .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(wait_ms)) => Err(RateLimited {
                    retry_after: Duration::from_millis(wait_ms),
                }),
                // The limiter must not become a second way for a database outage to fail
                // requests; the command itself will report the outage if it needs the database.
                Err(error) => {
                    tracing::warn!(%error, "shared rate limit unavailable; allowing the request");
                    Ok(())
                }
            };
        }
        read(&self.inner.users)
            .check_key(user)
            .map_err(|not_until| RateLimited {
                retry_after: not_until.wait_time_from(self.inner.clock.now()),
            })
    }

    /// One API request or WebSocket command from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), RateLimited> {
        if !self.inner.enabled {
            return Ok(());
        }
        read(&self.inner.ips)
            .check_key(&ip)
            .map_err(|not_until| RateLimited {
                retry_after: not_until.wait_time_from(self.inner.clock.now()),
            })
    }

    /// Counts one AI request against today's budgets (UTC day).
    pub async fn consume_ai_request(&self, user: &UserId) -> StoreResult<Budget> {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        self.inner
            .store
            .consume_ai_request(user, &day, self.inner.ai_per_user, self.inner.ai_total)
            .await
    }

    /// Forgets buckets that are full again (equivalent to new ones), and all of them if there
    /// are still too many. Called periodically.
    pub fn sweep(&self) {
        sweep(&self.inner.users, || {
            RateLimiter::keyed(self.inner.user_quota)
        });
        sweep(&self.inner.ips, || RateLimiter::keyed(self.inner.ip_quota));
    }

    /// Number of remembered keys (users, IPs); for tests and metrics.
    pub fn tracked_keys(&self) -> (usize, usize) {
        (read(&self.inner.users).len(), read(&self.inner.ips).len())
    }
}

type Keyed<K> = RwLock<DefaultKeyedRateLimiter<K>>;

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
