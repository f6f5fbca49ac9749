//! WMO weather interpretation codes in plain words.
//!
//! Open-Meteo's `weather_code` follows WMO code table 4677, of which it uses 28 codes
//! (<https://open-meteo.com/en/docs>, "WMO Weather interpretation codes (WW)"):
//! 0 clear sky; 1, 2, 3 mainly clear, partly cloudy, overcast; 45, 48 fog and depositing rime
//! fog; 51, 53, 55 drizzle light, moderate, dense; 56, 57 freezing drizzle; 61, 63, 65 rain
//! slight, moderate, heavy; 66, 67 freezing rain; 71, 73, 75 snow fall; 77 snow grains;
//! 80, 81, 82 rain showers slight, moderate, violent; 85, 86 snow showers; 95 thunderstorm;
//! 96, 99 thunderstorm with slight and heavy hail. Higher codes are more severe, which is why
//! a daily code is "the most severe condition of the day" and why [`most_severe`] is a max.

use serde::Serialize;

/// How a code reads in a sentence and on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// "cloudy", "light rain", "thunderstorms".
    pub phrase: &'static str,
    /// Adjectives follow "it's 12 degrees and …"; nouns follow "… with …".
    pub adjective: bool,
    /// A short icon name for the page ("partly-cloudy-night", "rain").
    pub icon: &'static str,
    #[serde(skip)]
    pub(super) falling: Option<Falling>,
}

/// What comes down, for "rain is likely" versus "snow is likely".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Falling {
    Rain,
    Snow,
    Thunder,
}

/// The words for a WMO code; `None` for codes Open-Meteo does not use. `is_day` only
/// changes clear skies ("sunny" by day, "clear" at night) and the icons.
pub fn describe_weather_code(code: u8, is_day: bool) -> Option<Condition> {
    use Falling::{Rain, Snow, Thunder};
    let (phrase, adjective, icon, falling) = match (code, is_day) {
        (0, true) => ("sunny", true, "clear-day", None),
        (0, false) => ("clear", true, "clear-night", None),
        (1, true) => ("mostly sunny", true, "mostly-clear-day", None),
        (1, false) => ("mostly clear", true, "mostly-clear-night", None),
        (2, true) => ("partly cloudy", true, "partly-cloudy-day", None),
        (2, false) => ("partly cloudy", true, "partly-cloudy-night", None),
        (3, _) => ("cloudy", true, "cloudy", None),
        (45, _) => ("foggy", true, "fog", None),
        (48, _) => ("freezing fog", false, "fog", None),
        (51, _) => ("light drizzle", false, "drizzle", Some(Rain)),
        (53, _) => ("drizzle", false, "drizzle", Some(Rain)),
        (55, _) => ("heavy drizzle", false, "drizzle", Some(Rain)),
        (56, _) => ("light freezing drizzle", false, "freezing-rain", Some(Rain)),
        (57, _) => ("freezing drizzle", false, "freezing-rain", Some(Rain)),
        (61, _) => ("light rain", false, "rain", Some(Rain)),
        (63, _) => ("rain", false, "rain", Some(Rain)),
        (65, _) => ("heavy rain", false, "rain", Some(Rain)),
        (66, _) => ("light freezing rain", false, "freezing-rain", Some(Rain)),
        (67, _) => ("freezing rain", false, "freezing-rain", Some(Rain)),
        (71, _) => ("light snow", false, "snow", Some(Snow)),
        (73, _) => ("snow", false, "snow", Some(Snow)),
        (75, _) => ("heavy snow", false, "snow", Some(Snow)),
        (77, _) => ("snow grains", false, "snow", Some(Snow)),
        (80, _) => ("light showers", false, "showers", Some(Rain)),
        (81, _) => ("showers", false, "showers", Some(Rain)),
        (82, _) => ("violent showers", false, "showers", Some(Rain)),
        (85, _) => ("light snow showers", false, "snow-showers", Some(Snow)),
        (86, _) => ("heavy snow showers", false, "snow-showers", Some(Snow)),
        (95, _) => ("thunderstorms", false, "thunderstorm", Some(Thunder)),
        (96, _) => (
            "thunderstorms with hail",
            false,
            "thunderstorm",
            Some(Thunder),
        ),
        (99, _) => (
            "thunderstorms with heavy hail",
            false,
            "thunderstorm",
            Some(Thunder),
        ),
        _ => return None,
    };
    Some(Condition {
        phrase,
        adjective,
        icon,
        falling,
    })
}

/// The most severe of some codes (Open-Meteo's own rule for daily codes).
pub(super) fn most_severe(codes: impl IntoIterator<Item = Option<u8>>) -> Option<u8> {
    codes.into_iter().flatten().max()
}

pub(super) fn falling(code: Option<u8>) -> Option<Falling> {
    code.and_then(|code| describe_weather_code(code, true))
        .and_then(|condition| condition.falling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_has_words_and_others_have_none() {
        let documented = [
            0, 1, 2, 3, 45, 48, 51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 71, 73, 75, 77, 80, 81, 82,
            85, 86, 95, 96, 99,
        ];
        for code in 0..=u8::MAX {
            for is_day in [true, false] {
                assert_eq!(
                    describe_weather_code(code, is_day).is_some(),
                    documented.contains(&code),
                    "code {code}"
                );
            }
        }
        assert_eq!(describe_weather_code(0, false).unwrap().phrase, "clear");
        assert_eq!(
            describe_weather_code(61, true).unwrap().phrase,
            "light rain"
        );
        assert_eq!(
            describe_weather_code(95, true).unwrap().phrase,
            "thunderstorms"
        );
        assert_eq!(falling(Some(73)), Some(Falling::Snow));
        assert_eq!(falling(Some(3)), None);
        assert_eq!(most_severe([Some(3), None, Some(61), Some(2)]), Some(61));
    }
}
