//! `GET/PUT /api/settings/{user_id}`: the page's preferences, validated.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::ensure_self;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, Caller, SessionCookie};
use crate::state::AppState;
use crate::store::{Settings, SettingsPatch, SpeakReplies, UnitSystem, UserId};

pub const VOICE_SPEED_RANGE: std::ops::RangeInclusive<i64> = 50..=400;
pub const THEMES: [&str; 3] = ["light", "dark", "system"];
const MAX_VOICE_CHARS: usize = 100;
const MAX_LANGUAGE_CHARS: usize = 35;
const MAX_HOME_CITY_CHARS: usize = 100;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SettingsResponse {
    pub settings: SettingsView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    pub user_id: String,
    /// A speechSynthesis voice name; empty means the browser's default.
    pub voice: String,
    /// Speaking speed in words per minute (50–400; 175 is normal).
    pub voice_speed: i32,
    /// `light`, `dark` or `system`.
    pub theme: String,
    /// Start listening again after each reply.
    pub auto_listen: bool,
    /// Speech recognition language, a BCP 47 tag such as `en-US`.
    pub language: String,
    /// When replies are read aloud: `voice` (only turns that began by voice), `always` or
    /// `never`.
    pub speak_replies: &'static str,
    /// Where "what's the weather" means when no place is named (empty: ask, or use the
    /// browser's location if the user allows it).
    pub home_city: String,
    /// `auto` (from `language`: imperial for en-US), `metric` or `imperial`.
    pub units: &'static str,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SettingsUpdate {
    /// A speechSynthesis voice name (empty: the browser's default).
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub voice: Option<String>,
    /// Words per minute.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(value_type = Option<i64>, minimum = 50, maximum = 400)]
    pub voice_speed: Option<i64>,
    #[schema(pattern = "^(light|dark|system)$")]
    pub theme: Option<String>,
    pub auto_listen: Option<bool>,
    /// A BCP 47 tag such as `en-US`.
    #[schema(max_length = 35, pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
    pub language: Option<String>,
    #[schema(pattern = "^(voice|always|never)$")]
    pub speak_replies: Option<String>,
    /// A city name such as `Boston` or `Paris, Texas`; empty clears it.
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub home_city: Option<String>,
    #[schema(pattern = "^(auto|metric|imperial)$")]
    pub units: Option<String>,
}

/// JSON Schema counts `200.0` as an integer, so it is accepted as one; `1.5` is not.
fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    let number: Option<serde_json::Number> = Option::deserialize(deserializer)?;
    let Some(number) = number else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number, not {number}"
        ))),
    }
}

impl SettingsUpdate {
    fn validate(self) -> Result<SettingsPatch, ApiError> {
        if let Some(voice) = &self.voice
            && (voice.chars().count() > MAX_VOICE_CHARS || voice.chars().any(char::is_control))
        {
            return Err(ApiError::invalid_field(
                "voice",
                format!(
                    "voice must be at most {MAX_VOICE_CHARS} characters without control characters."
                ),
            ));
        }
        let voice_speed = match self.voice_speed {
            Some(speed) if !VOICE_SPEED_RANGE.contains(&speed) => {
                return Err(ApiError::invalid_field(
                    "voice_speed",
                    format!(
                        "voice_speed must be from {} to {} words per minute, not {speed}.",
                        VOICE_SPEED_RANGE.start(),
                        VOICE_SPEED_RANGE.end()
                    ),
                ));
            }
            Some(speed) => Some(speed as i32),
            None => None,
        };
        if let Some(theme) = &self.theme
            && !THEMES.contains(&theme.as_str())
        {
            return Err(ApiError::invalid_field(
                "theme",
                "theme must be one of light, dark or system.",
            ));
        }
        if let Some(language) = &self.language
            && !valid_language_tag(language)
        {
            return Err(ApiError::invalid_field(
                "language",
                "language must be a BCP 47 tag such as en-US.",
            ));
        }
        if let Some(city) = &self.home_city
            && (city.chars().count() > MAX_HOME_CITY_CHARS || city.chars().any(char::is_control))
        {
            return Err(ApiError::invalid_field(
                "home_city",
                format!(
                    "home_city must be at most {MAX_HOME_CITY_CHARS} characters without control characters."
                ),
            ));
        }
        let units = match self.units.as_deref() {
            None => None,
            Some(value) => Some(UnitSystem::parse(value).ok_or_else(|| {
                ApiError::invalid_field("units", "units must be one of auto, metric or imperial.")
            })?),
        };
        let speak_replies = match self.speak_replies.as_deref() {
            None => None,
            Some(value) => Some(SpeakReplies::parse(value).ok_or_else(|| {
                ApiError::invalid_field(
                    "speak_replies",
                    "speak_replies must be one of voice, always or never.",
                )
            })?),
        };
        Ok(SettingsPatch {
            voice: self.voice,
            voice_speed,
            theme: self.theme,
            auto_listen: self.auto_listen,
            language: self.language,
            speak_replies,
            home_city: self.home_city.map(|city| city.trim().to_owned()),
            units,
        })
    }
}

/// `en`, `en-US`, `zh-Hant-TW`: a 2–3 letter language and alphanumeric subtags.
fn valid_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    tag.len() <= MAX_LANGUAGE_CHARS
        && language_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn view(user: &UserId, settings: Settings) -> Json<SettingsResponse> {
    Json(SettingsResponse {
        settings: SettingsView {
            user_id: user.to_string(),
            voice: settings.voice,
            voice_speed: settings.voice_speed,
            theme: settings.theme,
            auto_listen: settings.auto_listen,
            language: settings.language,
            speak_replies: settings.speak_replies.as_str(),
            home_city: settings.home_city,
            units: settings.units.as_str(),
        },
    })
}

#[utoipa::path(get, path = "/api/settings/{user_id}", tag = "settings",
    params(("user_id" = String, Path, description = "`me` or the caller's own id", example = "me")),
    responses((status = 200, body = SettingsResponse), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<(SessionCookie, Json<SettingsResponse>), ApiError> {
    let (user, cookie) = caller.identify(&state).await?;
    ensure_self(&user, &user_id)?;
    let settings = state.store().settings(&user).await?;
    Ok((cookie, view(&user, settings)))
}

#[utoipa::path(put, path = "/api/settings/{user_id}", tag = "settings",
    params(("user_id" = String, Path, description = "`me` or the caller's own id", example = "me")),
    request_body = SettingsUpdate,
    responses(
        (status = 200, body = SettingsResponse),
        (status = 404, body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "A value out of range", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiJson(update): ApiJson<SettingsUpdate>,
) -> Result<(SessionCookie, Json<SettingsResponse>), ApiError> {
    let patch = update.validate()?;
    let (user, cookie) = caller.identify(&state).await?;
    ensure_self(&user, &user_id)?;
    let settings = state.store().update_settings(&user, &patch).await?;
    Ok((cookie, view(&user, settings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in ["en", "en-US", "zh-Hant-TW", "es-419"] {
            assert!(valid_language_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "english",
            "en_US",
            "en-",
            "en-US-toolongsubtag",
            "<script>",
        ] {
            assert!(!valid_language_tag(bad), "{bad}");
        }
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let update = |json: &str| {
            serde_json::from_str::<SettingsUpdate>(json)
                .unwrap()
                .validate()
        };
        for (json, field) in [
            (r#"{"voice_speed": 1000}"#, "voice_speed"),
            (r#"{"voice_speed": 10}"#, "voice_speed"),
            (r#"{"theme": "neon"}"#, "theme"),
            (r#"{"language": "klingon!"}"#, "language"),
            (r#"{"speak_replies": "sometimes"}"#, "speak_replies"),
            (r#"{"units": "furlongs"}"#, "units"),
            (r#"{"home_city": "a\u0000b"}"#, "home_city"),
        ] {
            match update(json) {
                Err(ApiError { field: Some(f), .. }) => assert_eq!(f, field),
                other => panic!("{json}: {other:?}"),
            }
        }
        let long_voice = format!(r#"{{"voice": "{}"}}"#, "v".repeat(101));
        assert!(update(&long_voice).is_err());
        assert!(update(r#"{"voice_speed": 200, "theme": "dark"}"#).is_ok());
    }
}
