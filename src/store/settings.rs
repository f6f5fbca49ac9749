//! Per-user preferences of the page.

use chrono::Utc;
use sqlx::FromRow;

use super::{BeginWrite, Store, StoreError, StoreResult, UserId, with_pool, with_write_pool};

/// When the page reads replies aloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpeakReplies {
    /// Only replies to turns that began by voice (a typed question is read, not heard).
    #[default]
    Voice,
    Always,
    Never,
}

impl SpeakReplies {
    pub const ALL: [SpeakReplies; 3] = [
        SpeakReplies::Voice,
        SpeakReplies::Always,
        SpeakReplies::Never,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SpeakReplies::Voice => "voice",
            SpeakReplies::Always => "always",
            SpeakReplies::Never => "never",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// Units for the weather (and anything else that measures): `Auto` follows the page's
/// language (imperial for en-US and a few others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnitSystem {
    #[default]
    Auto,
    Metric,
    Imperial,
}

impl UnitSystem {
    pub const ALL: [UnitSystem; 3] = [UnitSystem::Auto, UnitSystem::Metric, UnitSystem::Imperial];

    pub fn as_str(self) -> &'static str {
        match self {
            UnitSystem::Auto => "auto",
            UnitSystem::Metric => "metric",
            UnitSystem::Imperial => "imperial",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// Imperial or metric, deciding `Auto` by a BCP 47 language tag: the United States, Liberia
    /// and Myanmar use imperial units.
    pub fn resolve(self, language: &str) -> UnitSystem {
        match self {
            UnitSystem::Auto => {
                let region = language.split(['-', '_']).nth(1).unwrap_or_default();
                if ["US", "LR", "MM"]
                    .iter()
                    .any(|r| region.eq_ignore_ascii_case(r))
                {
                    UnitSystem::Imperial
                } else {
                    UnitSystem::Metric
                }
            }
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub voice: String,
    pub voice_speed: i32,
    pub theme: String,
    pub auto_listen: bool,
    pub language: String,
    pub speak_replies: SpeakReplies,
    /// Where "what's the weather" means, when no place is named; empty: none.
    pub home_city: String,
    pub units: UnitSystem,
}

impl Default for Settings {
    /// Must equal the column defaults in both migrations (a test checks it).
    fn default() -> Self {
        Settings {
            voice: String::new(),
            voice_speed: 175,
            theme: "system".into(),
            auto_listen: false,
            language: "en-US".into(),
            speak_replies: SpeakReplies::Voice,
            home_city: String::new(),
            units: UnitSystem::Auto,
        }
    }
}

#[derive(FromRow)]
struct SettingsRow {
    voice: String,
    voice_speed: i32,
    theme: String,
    auto_listen: bool,
    language: String,
    speak_replies: String,
    home_city: String,
    units: String,
}

impl From<SettingsRow> for Settings {
    fn from(row: SettingsRow) -> Self {
        Settings {
            voice: row.voice,
            voice_speed: row.voice_speed,
            theme: row.theme,
            auto_listen: row.auto_listen,
            language: row.language,
            // The column's CHECK admits only the three values.
            speak_replies: SpeakReplies::parse(&row.speak_replies).unwrap_or_default(),
            home_city: row.home_city,
            units: UnitSystem::parse(&row.units).unwrap_or_default(),
        }
    }
}

/// A partial settings update; `None` leaves a value unchanged.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub voice: Option<String>,
    pub voice_speed: Option<i32>,
    pub theme: Option<String>,
    pub auto_listen: Option<bool>,
    pub language: Option<String>,
    pub speak_replies: Option<SpeakReplies>,
    pub home_city: Option<String>,
    pub units: Option<UnitSystem>,
}

macro_rules! columns {
    () => {
        "voice, voice_speed, theme, auto_listen, language, speak_replies, home_city, units"
    };
}

impl Store {
    #[tracing::instrument(skip_all, err)]
    pub async fn settings(&self, user: &UserId) -> StoreResult<Settings> {
        const SQL: &str = concat!("SELECT ", columns!(), " FROM settings WHERE user_id = $1");
        let row: Option<SettingsRow> = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(user.as_str())
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Settings::from).unwrap_or_default())
    }

    /// Applies a validated patch. A user's first update creates the row from the column
    /// defaults, which equal `Settings::default()`.
    #[tracing::instrument(skip_all, err)]
    pub async fn update_settings(
        &self,
        user: &UserId,
        patch: &SettingsPatch,
    ) -> StoreResult<Settings> {
        let now = Utc::now();
        const UPDATE: &str = concat!(
            "UPDATE settings SET
                voice = COALESCE($2, voice),
                voice_speed = COALESCE($3, voice_speed),
                theme = COALESCE($4, theme),
                auto_listen = COALESCE($5, auto_listen),
                language = COALESCE($6, language),
                speak_replies = COALESCE($7, speak_replies),
                home_city = COALESCE($8, home_city),
                units = COALESCE($9, units),
                updated_at = $10
             WHERE user_id = $1
             RETURNING ",
            columns!()
        );
        let row: SettingsRow = with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO settings (user_id, updated_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let row: SettingsRow = sqlx::query_as(UPDATE)
                .bind(user.as_str())
                .bind(patch.voice.as_deref())
                .bind(patch.voice_speed)
                .bind(patch.theme.as_deref())
                .bind(patch.auto_listen)
                .bind(patch.language.as_deref())
                .bind(patch.speak_replies.map(SpeakReplies::as_str))
                .bind(patch.home_city.as_deref())
                .bind(patch.units.map(UnitSystem::as_str))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(row)
        })?;
        Ok(row.into())
    }
}
