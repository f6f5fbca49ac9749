//! Conversations and their turns: one row per exchange, from which the page's messages,
//! `/api/history`, the model's context and the calculator's last result are all read.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{
    BeginWrite, Store, StoreError, StoreResult, UserId, with_pool, with_write_pool, writer,
};
use crate::assistant::Action;
use crate::conversation::{Status, StoredTurn, TurnId, TurnRecord};

/// A conversation in the list of past conversations.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub turns: i64,
    /// The first command, as a title.
    pub title: Option<String>,
    /// The last reply.
    pub preview: Option<String>,
    pub last_activity: DateTime<Utc>,
}

/// The user's open conversation with its newest turns (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenConversation {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub turns: Vec<StoredTurn>,
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct HistoryEntry {
    pub id: TurnId,
    pub user_id: String,
    pub command: String,
    pub result: String,
    pub action: Option<String>,
    pub source: String,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct TurnRow {
    id: i64,
    conversation_id: i64,
    command: String,
    command_at: DateTime<Utc>,
    reply: String,
    action: Option<String>,
    data: Option<String>,
    source: String,
    answered_by: Option<String>,
    status: String,
    replied_at: DateTime<Utc>,
}

impl TryFrom<TurnRow> for StoredTurn {
    type Error = StoreError;
    fn try_from(row: TurnRow) -> StoreResult<StoredTurn> {
        let data = row
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(serde_json::Value::Null);
        Ok(StoredTurn {
            id: row.id,
            conversation_id: row.conversation_id,
            command: row.command,
            command_at: row.command_at,
            reply: row.reply,
            action: row
                .action
                .as_deref()
                .and_then(|kind| Action::from_parts(kind, &data)),
            source: row.source.parse()?,
            answered_by: row.answered_by,
            status: row.status.parse()?,
            replied_at: row.replied_at,
        })
    }
}

#[derive(FromRow)]
struct SummaryRow {
    id: i64,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    turns: i64,
    title: Option<String>,
    preview: Option<String>,
    last_activity: Option<DateTime<Utc>>,
}

impl From<SummaryRow> for ConversationSummary {
    fn from(row: SummaryRow) -> Self {
        ConversationSummary {
            id: row.id,
            started_at: row.started_at,
            ended_at: row.ended_at,
            turns: row.turns,
            title: row.title,
            preview: row.preview,
            last_activity: row.last_activity.unwrap_or(row.started_at),
        }
    }
}

macro_rules! turn_columns {
    () => {
        "t.id, t.conversation_id, t.command, t.command_at, t.reply, t.action, t.data, t.source,
         t.answered_by, t.status, t.replied_at"
    };
}

/// The statuses the model sees again (`Status::is_context`), as SQL.
macro_rules! context_statuses {
    () => {
        "'complete', 'truncated', 'interrupted', 'cut_off'"
    };
}

macro_rules! summary_columns {
    () => {
        "c.id, c.started_at, c.ended_at,
         (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS turns,
         (SELECT t.command FROM turns t WHERE t.conversation_id = c.id ORDER BY t.id LIMIT 1) AS title,
         (SELECT t.reply FROM turns t WHERE t.conversation_id = c.id ORDER BY t.id DESC LIMIT 1) AS preview,
         (SELECT t.replied_at FROM turns t WHERE t.conversation_id = c.id ORDER BY t.id DESC LIMIT 1) AS last_activity"
    };
}

/// `%text%` for LIKE, with the pattern characters of `text` escaped (`ESCAPE '\'`).
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// How many of the open conversation's newest turns a continued calculation looks through.
pub const CALCULATION_LOOKBACK: i64 = 50;

fn turns_from_rows(rows: Vec<TurnRow>) -> StoreResult<Vec<StoredTurn>> {
    rows.into_iter().map(StoredTurn::try_from).collect()
}

impl Store {
    /// Persists one exchange and returns its id once it is committed. Writes from concurrent
    /// turns are grouped into one transaction (group commit), so durability does not cost one
    /// fsync per turn; a turn the database refuses fails alone.
    pub async fn record_turn(&self, record: TurnRecord) -> StoreResult<StoredTurn> {
        let (id, conversation_id) = self.inner.writer.submit(record.clone()).await?;
        Ok(StoredTurn {
            id,
            conversation_id,
            command: record.command,
            command_at: record.command_at,
            reply: record.reply,
            action: record.action,
            source: record.source,
            answered_by: record.answered_by,
            status: record.status,
            replied_at: record.replied_at,
        })
    }

    /// The newest `limit` turns of the user's open conversation, oldest first; with
    /// `context_only`, only those the model should see again (see `Status::is_context`).
    #[tracing::instrument(skip_all, err)]
    pub async fn recent_turns(
        &self,
        user: &UserId,
        limit: usize,
        context_only: bool,
    ) -> StoreResult<Vec<StoredTurn>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        const ALL: &str = concat!(
            "SELECT ",
            turn_columns!(),
            " FROM turns t JOIN conversations c ON c.id = t.conversation_id
              WHERE c.user_id = $1 AND c.ended_at IS NULL
              ORDER BY t.id DESC LIMIT $2"
        );
        const CONTEXT: &str = concat!(
            "SELECT ",
            turn_columns!(),
            " FROM turns t JOIN conversations c ON c.id = t.conversation_id
              WHERE c.user_id = $1 AND c.ended_at IS NULL
                AND t.status IN (",
            context_statuses!(),
            ")
              ORDER BY t.id DESC LIMIT $2"
        );
        let sql = if context_only { CONTEXT } else { ALL };
        let rows: Vec<TurnRow> = with_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(user.as_str())
                .bind(limit as i64)
                .fetch_all(pool)
                .await
        })?;
        let mut turns = turns_from_rows(rows)?;
        turns.reverse();
        Ok(turns)
    }

    /// One of the user's turns by id (None for another user's or an unknown id).
    #[tracing::instrument(skip_all, err)]
    pub async fn turn(&self, user: &UserId, id: TurnId) -> StoreResult<Option<StoredTurn>> {
        const SQL: &str = concat!(
            "SELECT ",
            turn_columns!(),
            " FROM turns t JOIN conversations c ON c.id = t.conversation_id
              WHERE t.id = $1 AND c.user_id = $2"
        );
        let rows: Vec<TurnRow> = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(id)
                .bind(user.as_str())
                .fetch_all(pool)
                .await
        })?;
        Ok(turns_from_rows(rows)?.pop())
    }

    /// The open conversation (opened if the user has none) with its newest `limit` turns.
    #[tracing::instrument(skip_all, err)]
    pub async fn open_conversation(
        &self,
        user: &UserId,
        limit: usize,
    ) -> StoreResult<OpenConversation> {
        let existing: Option<(i64, DateTime<Utc>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, started_at FROM conversations WHERE user_id = $1 AND ended_at IS NULL",
            )
            .bind(user.as_str())
            .fetch_optional(pool)
            .await
        })?;
        let (id, started_at) = match existing {
            Some(found) => found,
            None => with_write_pool!(self, |pool| {
                let now = Utc::now();
                let mut tx = pool.begin_write().await?;
                let id = writer::open_conversation!(tx, user.as_str(), now).await?;
                tx.commit().await?;
                Ok::<_, StoreError>((id, now))
            })?,
        };
        let turns = self.recent_turns(user, limit, false).await?;
        Ok(OpenConversation {
            id,
            started_at,
            turns,
        })
    }

    /// The exact result of the newest calculation among the open conversation's last
    /// `CALCULATION_LOOKBACK` turns: what "+ 6" or "times 2" continue. The bound keeps the
    /// lookup a short walk of the conversation index (no index of its own to maintain on every
    /// turn), and nobody means a number from that far back by "that".
    #[tracing::instrument(skip_all, err)]
    pub async fn last_calculation(&self, user: &UserId) -> StoreResult<Option<String>> {
        let row: Option<(i64, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT recent.id, recent.calculation FROM (
                     SELECT t.id, t.calculation FROM turns t
                     JOIN conversations c ON c.id = t.conversation_id
                     WHERE c.user_id = $1 AND c.ended_at IS NULL
                     ORDER BY t.id DESC LIMIT $2) recent
                 WHERE recent.calculation IS NOT NULL
                 ORDER BY recent.id DESC LIMIT 1",
            )
            .bind(user.as_str())
            .bind(CALCULATION_LOOKBACK)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(_, value)| value))
    }

    /// Ends the open conversation (it stays in the list of past ones) and opens a fresh one.
    /// Returns (new id, the id of the conversation just ended).
    #[tracing::instrument(skip_all, err)]
    pub async fn start_new_conversation(&self, user: &UserId) -> StoreResult<(i64, Option<i64>)> {
        let now = Utc::now();
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let ended: Option<(i64,)> = sqlx::query_as(
                "UPDATE conversations SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL
                 RETURNING id",
            )
            .bind(user.as_str())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO conversations (user_id, started_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(user.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((id, ended.map(|(id,)| id)))
        })
    }

    /// Makes one of the user's past conversations the open one again (the current one is ended,
    /// or deleted when it has no turns, so "undo new conversation" leaves no empty leftovers).
    /// `None` when the id is not one of the user's conversations.
    #[tracing::instrument(skip_all, err)]
    pub async fn reopen_conversation(&self, user: &UserId, id: i64) -> StoreResult<Option<i64>> {
        let now = Utc::now();
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let target: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM conversations WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if target.is_none() {
                tx.rollback().await?;
                return Ok(None);
            }
            sqlx::query(
                "DELETE FROM conversations WHERE user_id = $1 AND ended_at IS NULL AND id <> $2
                 AND NOT EXISTS (SELECT 1 FROM turns t WHERE t.conversation_id = conversations.id)",
            )
            .bind(user.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE conversations SET ended_at = $2
                 WHERE user_id = $1 AND ended_at IS NULL AND id <> $3",
            )
            .bind(user.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE conversations SET ended_at = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(Some(id))
        })
    }

    /// The user's conversations, newest activity first, optionally only those with a turn
    /// whose command or reply contains `query` (case-insensitive), and only those older than
    /// `before` (an id, for paging).
    #[tracing::instrument(skip_all, err)]
    pub async fn conversations(
        &self,
        user: &UserId,
        query: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<ConversationSummary>> {
        const SQL: &str = concat!(
            "SELECT ",
            summary_columns!(),
            " FROM conversations c
              WHERE c.user_id = $1 AND ($2 IS NULL OR c.id < $2)
                AND ($3 IS NULL OR EXISTS (
                    SELECT 1 FROM turns t WHERE t.conversation_id = c.id
                    AND (lower(t.command) LIKE $3 ESCAPE '\\' OR lower(t.reply) LIKE $3 ESCAPE '\\')))
                AND (c.ended_at IS NULL OR EXISTS (SELECT 1 FROM turns t WHERE t.conversation_id = c.id))
              ORDER BY c.id DESC LIMIT $4"
        );
        let pattern = query
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(like_pattern);
        let rows: Vec<SummaryRow> = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(user.as_str())
                .bind(before)
                .bind(pattern.as_deref())
                .bind(limit as i64)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(ConversationSummary::from).collect())
    }

    /// One of the user's conversations with all its turns, oldest first; `None` for another
    /// user's (or no) conversation.
    #[tracing::instrument(skip_all, err)]
    pub async fn conversation(
        &self,
        user: &UserId,
        id: i64,
    ) -> StoreResult<Option<(ConversationSummary, Vec<StoredTurn>)>> {
        const SUMMARY: &str = concat!(
            "SELECT ",
            summary_columns!(),
            " FROM conversations c WHERE c.id = $1 AND c.user_id = $2"
        );
        const TURNS: &str = concat!(
            "SELECT ",
            turn_columns!(),
            " FROM turns t WHERE t.conversation_id = $1 ORDER BY t.id"
        );
        let summary: Option<SummaryRow> = with_pool!(self, |pool| {
            sqlx::query_as(SUMMARY)
                .bind(id)
                .bind(user.as_str())
                .fetch_optional(pool)
                .await
        })?;
        let Some(summary) = summary else {
            return Ok(None);
        };
        let rows: Vec<TurnRow> = with_pool!(self, |pool| {
            sqlx::query_as(TURNS).bind(id).fetch_all(pool).await
        })?;
        Ok(Some((summary.into(), turns_from_rows(rows)?)))
    }

    /// Every conversation of the user with its turns, oldest first (the export).
    #[tracing::instrument(skip_all, err)]
    pub async fn export(
        &self,
        user: &UserId,
    ) -> StoreResult<Vec<(ConversationSummary, Vec<StoredTurn>)>> {
        const SUMMARIES: &str = concat!(
            "SELECT ",
            summary_columns!(),
            " FROM conversations c WHERE c.user_id = $1 ORDER BY c.id"
        );
        const TURNS: &str = concat!(
            "SELECT ",
            turn_columns!(),
            " FROM turns t JOIN conversations c ON c.id = t.conversation_id
              WHERE c.user_id = $1 ORDER BY t.id"
        );
        let summaries: Vec<SummaryRow> = with_pool!(self, |pool| {
            sqlx::query_as(SUMMARIES)
                .bind(user.as_str())
                .fetch_all(pool)
                .await
        })?;
        let rows: Vec<TurnRow> = with_pool!(self, |pool| {
            sqlx::query_as(TURNS)
                .bind(user.as_str())
                .fetch_all(pool)
                .await
        })?;
        let mut turns = turns_from_rows(rows)?;
        let mut export = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let summary = ConversationSummary::from(summary);
            let (mine, rest): (Vec<_>, Vec<_>) = turns
                .into_iter()
                .partition(|t| t.conversation_id == summary.id);
            turns = rest;
            if !mine.is_empty() || summary.ended_at.is_none() {
                export.push((summary, mine));
            }
        }
        Ok(export)
    }

    /// The user's commands, newest first (the predecessor's `/api/history`).
    #[tracing::instrument(skip_all, err)]
    pub async fn history(&self, user: &UserId, limit: usize) -> StoreResult<Vec<HistoryEntry>> {
        with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT t.id, c.user_id, t.command, t.reply AS result, t.action, t.source,
                        t.replied_at AS created_at
                 FROM turns t JOIN conversations c ON c.id = t.conversation_id
                 WHERE c.user_id = $1 ORDER BY t.id DESC LIMIT $2",
            )
            .bind(user.as_str())
            .bind(limit as i64)
            .fetch_all(pool)
            .await
            .map_err(StoreError::from)
        })
    }

    /// Deletes turns older than `cutoff` and ended conversations left empty (RETENTION_DAYS).
    #[tracing::instrument(skip_all, err)]
    pub async fn delete_turns_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        with_write_pool!(self, |pool| {
            let turns = sqlx::query("DELETE FROM turns WHERE replied_at < $1")
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected();
            let conversations = sqlx::query(
                "DELETE FROM conversations WHERE ended_at IS NOT NULL AND ended_at < $1
                 AND NOT EXISTS (SELECT 1 FROM turns t WHERE t.conversation_id = conversations.id)",
            )
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
            Ok::<_, StoreError>(turns + conversations)
        })
    }
}

impl Status {
    /// The statuses `recent_turns` admits as context, as written in its SQL (a test keeps them
    /// equal to `is_context`).
    pub const CONTEXT_SQL: &'static str = context_statuses!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("Pasta"), "%pasta%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn the_context_query_admits_exactly_the_context_statuses() {
        let listed: Vec<&str> = Status::CONTEXT_SQL
            .split(", ")
            .map(|s| s.trim_matches('\''))
            .collect();
        let expected: Vec<&str> = Status::ALL
            .iter()
            .filter(|s| s.is_context())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(listed, expected);
    }
}
