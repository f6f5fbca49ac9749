//! Users and their sessions.
//!
//! A session token maps to a user; only the token's SHA-256 is stored. Lookups are cached in
//! process (a session never changes owner, so the cache can never serve another user's
//! identity), and the day of last use is written at most once a day per session, so that
//! sessions unused for `SESSION_TTL_DAYS` expire without a write on every request.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::{BeginWrite, Store, StoreError, StoreResult, UserId, with_write_pool};

/// Token → user lookups cached in process; bounded by clearing when full.
const IDENTITY_CACHE_CAPACITY: usize = 50_000;

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused for this long no longer identifies anyone.
    pub ttl: ChronoDuration,
    /// An identity that never sent a command is deleted after this long.
    pub unused_identity_ttl: ChronoDuration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            ttl: ChronoDuration::days(180),
            unused_identity_ttl: ChronoDuration::hours(24),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct CachedIdentity {
    user: UserId,
    /// When this process last recorded the session's use in the database.
    touched_at: DateTime<Utc>,
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub users: u64,
}

impl Store {
    /// Creates a user with a session for `token_hash` and an open conversation.
    #[tracing::instrument(skip_all, err)]
    pub async fn create_identity(&self, token_hash: &str) -> StoreResult<UserId> {
        let user = UserId::generate();
        let now = Utc::now();
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO users (id, created_at) VALUES ($1, $2)")
                .bind(user.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_used_at)
                 VALUES ($1, $2, $3, $3)",
            )
            .bind(token_hash)
            .bind(user.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO conversations (user_id, started_at) VALUES ($1, $2)")
                .bind(user.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.cache_identity(token_hash, &user, now);
        Ok(user)
    }

    /// The user a session token belongs to, unless the session expired.
    #[tracing::instrument(skip_all, err)]
    pub async fn user_for_token(&self, token_hash: &str) -> StoreResult<Option<UserId>> {
        let now = Utc::now();
        let cached = self.lock_identities().get(token_hash).cloned();
        if let Some(cached) = cached {
            // Recording the use once a day is plenty for a TTL counted in days.
            if now - cached.touched_at < ChronoDuration::days(1) {
                return Ok(Some(cached.user));
            }
        }
        let cutoff = now - self.inner.sessions.ttl;
        let found: Option<(String,)> = with_write_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE sessions SET last_used_at = $3
                 WHERE token_hash = $1 AND last_used_at > $2
                 RETURNING user_id",
            )
            .bind(token_hash)
            .bind(cutoff)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        match found {
            Some((id,)) => {
                let user = UserId(id);
                self.cache_identity(token_hash, &user, now);
                Ok(Some(user))
            }
            None => {
                self.lock_identities().remove(token_hash);
                Ok(None)
            }
        }
    }

    /// Deletes the user and every row that belongs to them (the schema cascades from `users`),
    /// and forgets their sessions in this process.
    #[tracing::instrument(skip_all, err)]
    pub async fn delete_user(&self, user: &UserId) -> StoreResult<()> {
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // Rows keyed by user id without a foreign key (counters) go explicitly.
            for key in [
                user.to_string(),
                format!("user:{user}"),
                format!("live:{user}"),
                format!("live_tokens:{user}"),
            ] {
                sqlx::query("DELETE FROM ai_usage WHERE key = $1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM rate_limits WHERE key = $1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.lock_identities()
            .retain(|_, cached| cached.user != *user);
        Ok(())
    }

    /// Deletes expired sessions, users left without any session, and identities that never
    /// sent a command once they are older than the policy allows (a script minting cookies
    /// leaves nothing behind).
    #[tracing::instrument(skip_all, err)]
    pub async fn prune_identities(&self, now: DateTime<Utc>) -> StoreResult<Pruned> {
        let session_cutoff = now - self.inner.sessions.ttl;
        let unused_cutoff = now - self.inner.sessions.unused_identity_ttl;
        let pruned = with_write_pool!(self, |pool| {
            let sessions = sqlx::query("DELETE FROM sessions WHERE last_used_at <= $1")
                .bind(session_cutoff)
                .execute(pool)
                .await?
                .rows_affected();
            let users = sqlx::query(
                "DELETE FROM users WHERE created_at < $1 AND (
                    NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id)
                    OR (NOT EXISTS (SELECT 1 FROM conversations c JOIN turns t ON t.conversation_id = c.id
                                    WHERE c.user_id = users.id)
                        AND NOT EXISTS (SELECT 1 FROM settings s WHERE s.user_id = users.id)))",
            )
            .bind(unused_cutoff)
            .execute(pool)
            .await?
            .rows_affected();
            Ok::<_, StoreError>(Pruned { sessions, users })
        })?;
        if pruned.sessions + pruned.users > 0 {
            // Cached lookups of deleted sessions must not outlive them.
            self.lock_identities().clear();
        }
        Ok(pruned)
    }

    fn lock_identities(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, CachedIdentity>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts),
        // so a poisoned lock is simply taken over.
        self.inner
            .identities
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cache_identity(&self, token_hash: &str, user: &UserId, touched_at: DateTime<Utc>) {
        let mut cache = self.lock_identities();
        if cache.len() >= IDENTITY_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(
            token_hash.to_owned(),
            CachedIdentity {
                user: user.clone(),
                touched_at,
            },
        );
    }
}
