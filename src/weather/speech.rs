//! Spoken answers and the page card, from a [`Forecast`] and the time of asking.
//!
//! Choices, each covered by a test:
//! - Temperatures are whole degrees without a unit name ("12 degrees"): the user picked the
//!   units, and "degrees Celsius" on every answer is long for a voice. Below zero is "minus 3",
//!   which text-to-speech engines read reliably, unlike "-3" (read as "dash three" by some).
//! - "Likely" means a precipitation probability of 50% or more, "a chance" 20–49%, "unlikely"
//!   below 20%; the percentage is said in brackets for rain questions, where it is the answer.
//! - Windows: "now" looks 2 hours ahead for rain, "the next few hours" 3 hours, "this morning"
//!   6:00–12:00, "this afternoon" 12:00–18:00, "tonight" 18:00–6:00, all in the place's time.
//!   A window that is already over is described anyway ("this morning" asked at 3 pm).

use chrono::{
    DateTime, Datelike as _, Duration, FixedOffset, NaiveDate, Timelike as _, Utc, Weekday,
};
use serde_json::{Value, json};

use super::conditions::{Falling, describe_weather_code, falling, most_severe};
use super::{
    ATTRIBUTION_TEXT, ATTRIBUTION_URL, Forecast, Hour, Units, WeatherAspect, WeatherQuestion,
    WeatherWhen,
};

const LIKELY: u8 = 50;
const POSSIBLE: u8 = 20;

/// The spoken answer to `question`: one or two short sentences.
pub fn speak(question: &WeatherQuestion, forecast: &Forecast, now: DateTime<Utc>) -> String {
    let context = Context::new(forecast, now);
    let period = context.period(question.when, question.aspect);
    match question.aspect {
        WeatherAspect::General => context.general(&period),
        WeatherAspect::Temperature => context.temperature(&period),
        WeatherAspect::Rain | WeatherAspect::Snow | WeatherAspect::Umbrella => {
            context.precipitation(&period, question.aspect)
        }
        WeatherAspect::Wind => context.wind(&period),
    }
}

/// The page's weather card: the place, conditions now, today's range and the next 6 hours,
/// with the attribution Open-Meteo's licence asks to display. Temperatures are rounded
/// whole numbers in the forecast's units; missing values are `null`.
pub fn card(forecast: &Forecast, now: DateTime<Utc>) -> Value {
    let context = Context::new(forecast, now);
    let current = &forecast.current;
    let condition = current
        .weather_code
        .and_then(|code| describe_weather_code(code, current.is_day));
    let today = context.day_summary(context.today);
    let hours: Vec<Value> = forecast
        .hourly
        .iter()
        .filter(|hour| hour.time > context.now)
        .take(6)
        .map(|hour| {
            let condition = hour
                .weather_code
                .and_then(|code| describe_weather_code(code, context.is_daylight(hour)));
            json!({
                "time": format!("{:02}:{:02}", hour.time.hour(), hour.time.minute()),
                "temperature": hour.temperature.map(whole),
                "precipitation_probability": hour.precipitation_probability,
                "condition": condition.map(|c| c.phrase),
                "icon": condition.map(|c| c.icon),
            })
        })
        .collect();
    json!({
        "place": forecast.place.name,
        "region": forecast.place.admin1,
        "country": forecast.place.country,
        "units": forecast.units.as_str(),
        "temperature_unit": forecast.units.temperature_symbol(),
        "wind_speed_unit": forecast.units.wind_speed_symbol(),
        "now": {
            "temperature": whole(current.temperature),
            "apparent_temperature": current.apparent_temperature.map(whole),
            "condition": condition.map(|c| c.phrase),
            "icon": condition.map(|c| c.icon),
            "wind_speed": current.wind_speed.map(whole),
            "is_day": current.is_day,
        },
        "today": {
            "high": today.as_ref().and_then(|day| day.max).map(whole),
            "low": today.as_ref().and_then(|day| day.min).map(whole),
            "precipitation_probability": today.as_ref().and_then(|day| day.precipitation),
            "condition": today
                .as_ref()
                .and_then(|day| day.code)
                .and_then(|code| describe_weather_code(code, true))
                .map(|c| c.phrase),
        },
        "hours": hours,
        "attribution": {"text": ATTRIBUTION_TEXT, "url": ATTRIBUTION_URL},
    })
}

struct Context<'a> {
    forecast: &'a Forecast,
    /// The time of asking on the place's clock.
    now: DateTime<FixedOffset>,
    today: NaiveDate,
    place: &'a str,
}

/// What a question is about, resolved against the clock.
enum Period<'a> {
    Now,
    Day {
        date: NaiveDate,
        label: Label,
    },
    /// Saturday and Sunday, or only Sunday on a Sunday.
    Weekend(Vec<NaiveDate>),
    Hours {
        hours: Vec<&'a Hour>,
        label: Label,
        night: bool,
    },
}

/// How a period is said at the start of a sentence, inside one, and after "for".
#[derive(Clone)]
struct Label {
    start: String,
    inline: String,
    noun: String,
}

impl Label {
    fn new(start: &str, inline: &str, noun: &str) -> Self {
        Self {
            start: start.to_owned(),
            inline: inline.to_owned(),
            noun: noun.to_owned(),
        }
    }
}

/// A day's numbers: Open-Meteo's daily values, completed from the hours where missing.
struct DaySummary {
    min: Option<f64>,
    max: Option<f64>,
    code: Option<u8>,
    precipitation: Option<u8>,
    wind: Option<f64>,
}

/// The same numbers over a run of hours, plus the first hour where rain is likely.
struct Stats<'a> {
    min: Option<f64>,
    max: Option<f64>,
    code: Option<u8>,
    precipitation: Option<u8>,
    wind: Option<f64>,
    first_likely: Option<&'a Hour>,
}

impl<'a> Context<'a> {
    fn new(forecast: &'a Forecast, now: DateTime<Utc>) -> Self {
        let now = forecast.local_time(now);
        let name = forecast.place.name.trim();
        Self {
            forecast,
            today: now.date_naive(),
            now,
            place: if name.is_empty() { "your area" } else { name },
        }
    }

    fn period(&self, when: WeatherWhen, aspect: WeatherAspect) -> Period<'a> {
        let today = self.today;
        match when {
            // An umbrella is about going out: the next few hours, not this instant.
            WeatherWhen::Now if aspect == WeatherAspect::Umbrella => Period::Hours {
                hours: self.upcoming(3),
                label: Label::new(
                    "Over the next few hours",
                    "over the next few hours",
                    "the next few hours",
                ),
                night: !self.forecast.current.is_day,
            },
            WeatherWhen::Now => Period::Now,
            WeatherWhen::Today => Period::Day {
                date: today,
                label: Label::new("Today", "today", "today"),
            },
            WeatherWhen::Tomorrow => Period::Day {
                date: today + Duration::days(1),
                label: Label::new("Tomorrow", "tomorrow", "tomorrow"),
            },
            WeatherWhen::Weekday(weekday) => {
                let ahead = (7 + weekday.num_days_from_monday()
                    - today.weekday().num_days_from_monday())
                    % 7;
                let date = today + Duration::days(i64::from(ahead));
                let label = match ahead {
                    0 => Label::new("Today", "today", "today"),
                    1 => Label::new("Tomorrow", "tomorrow", "tomorrow"),
                    _ => {
                        let name = weekday_name(weekday);
                        Label::new(&format!("On {name}"), &format!("on {name}"), name)
                    }
                };
                Period::Day { date, label }
            }
            WeatherWhen::Weekend => Period::Weekend(weekend(today)),
            WeatherWhen::NextHours => Period::Hours {
                hours: self.upcoming(3),
                label: Label::new(
                    "Over the next few hours",
                    "over the next few hours",
                    "the next few hours",
                ),
                night: !self.forecast.current.is_day,
            },
            WeatherWhen::ThisMorning => Period::Hours {
                hours: self.window(|date, hour| date == today && (6..12).contains(&hour)),
                label: Label::new("This morning", "this morning", "this morning"),
                night: false,
            },
            WeatherWhen::ThisAfternoon => Period::Hours {
                hours: self.window(|date, hour| date == today && (12..18).contains(&hour)),
                label: Label::new("This afternoon", "this afternoon", "this afternoon"),
                night: false,
            },
            WeatherWhen::Tonight => {
                let tomorrow = today + Duration::days(1);
                Period::Hours {
                    hours: self.window(|date, hour| {
                        (date == today && hour >= 18) || (date == tomorrow && hour < 6)
                    }),
                    label: Label::new("Tonight", "tonight", "tonight"),
                    night: true,
                }
            }
        }
    }

    /// The hours that have not ended yet, `count` of them.
    fn upcoming(&self, count: usize) -> Vec<&'a Hour> {
        self.forecast
            .hourly
            .iter()
            .filter(|hour| hour.time + Duration::hours(1) > self.now)
            .take(count)
            .collect()
    }

    /// The hours of a window by local date and hour, without those already over unless the
    /// whole window is.
    fn window(&self, within: impl Fn(NaiveDate, u32) -> bool) -> Vec<&'a Hour> {
        let all: Vec<&Hour> = self
            .forecast
            .hourly
            .iter()
            .filter(|hour| within(hour.time.date_naive(), hour.time.hour()))
            .collect();
        let ahead: Vec<&Hour> = all
            .iter()
            .copied()
            .filter(|hour| hour.time + Duration::hours(1) > self.now)
            .collect();
        if ahead.is_empty() { all } else { ahead }
    }

    /// The rest of today, or all of today once it is nearly over.
    fn rest_of_today(&self) -> Vec<&'a Hour> {
        self.window(|date, _| date == self.today)
    }

    fn day_summary(&self, date: NaiveDate) -> Option<DaySummary> {
        let day = self.forecast.day(date);
        let hours: Vec<&Hour> = self
            .forecast
            .hourly
            .iter()
            .filter(|hour| hour.time.date_naive() == date)
            .collect();
        if day.is_none() && hours.is_empty() {
            return None;
        }
        let stats = stats(&hours);
        Some(DaySummary {
            min: day.and_then(|day| day.temperature_min).or(stats.min),
            max: day.and_then(|day| day.temperature_max).or(stats.max),
            code: day.and_then(|day| day.weather_code).or(stats.code),
            precipitation: day
                .and_then(|day| day.precipitation_probability_max)
                .or(stats.precipitation),
            wind: day.and_then(|day| day.wind_speed_max).or(stats.wind),
        })
    }

    fn is_daylight(&self, hour: &Hour) -> bool {
        let day = self.forecast.day(hour.time.date_naive());
        match day.and_then(|day| day.sunrise.zip(day.sunset)) {
            Some((sunrise, sunset)) => hour.time >= sunrise && hour.time < sunset,
            None => (6..20).contains(&hour.time.hour()),
        }
    }

    fn unavailable(&self, label: &Label) -> String {
        format!(
            "I don't have a forecast for {} in {} yet.",
            label.noun, self.place
        )
    }

    // General questions.

    fn general(&self, period: &Period<'_>) -> String {
        match period {
            Period::Now => self.general_now(),
            Period::Day { date, label } => self.general_day(*date, label),
            Period::Weekend(dates) => {
                let parts: Vec<String> = dates
                    .iter()
                    .filter_map(|date| {
                        let day = self.day_summary(*date)?;
                        let condition = day.code.and_then(|code| describe_weather_code(code, true));
                        let mut part = weekday_name(date.weekday()).to_owned();
                        if let Some(condition) = condition {
                            part.push(' ');
                            part.push_str(condition.phrase);
                        }
                        if let Some(range) = short_range(day.min, day.max) {
                            part.push_str(if condition.is_some() { ", " } else { " " });
                            part.push_str(&range);
                        }
                        Some(part)
                    })
                    .collect();
                self.weekend_sentence(parts)
            }
            Period::Hours {
                hours,
                label,
                night,
            } => {
                if hours.is_empty() {
                    return self.unavailable(label);
                }
                let stats = stats(hours);
                let condition = stats
                    .code
                    .and_then(|code| describe_weather_code(code, !night));
                let temperatures = if *night {
                    stats.min.map(|min| format!("down to {}", degrees(min)))
                } else {
                    range(stats.min, stats.max)
                };
                let mut sentence = join_parts(
                    &format!("{} in {}", label.start, self.place),
                    [condition.map(|c| c.phrase.to_owned()), temperatures],
                );
                if condition.is_none_or(|c| c.falling.is_none())
                    && let Some(p) = stats.precipitation.filter(|p| *p >= LIKELY)
                {
                    sentence.push_str(&format!(
                        "; {} ({p}%)",
                        likely(falling_in(stats.code, hours))
                    ));
                }
                sentence + "."
            }
        }
    }

    /// "In Boston it's 12 degrees and cloudy, with a high of 15; rain is likely this
    /// afternoon."
    fn general_now(&self) -> String {
        let current = &self.forecast.current;
        let condition = current
            .weather_code
            .and_then(|code| describe_weather_code(code, current.is_day));
        let mut sentence = format!("In {} it's {}", self.place, degrees(current.temperature));
        match condition {
            Some(condition) if condition.adjective => {
                sentence.push_str(" and ");
                sentence.push_str(condition.phrase);
            }
            Some(condition) => {
                sentence.push_str(" with ");
                sentence.push_str(condition.phrase);
            }
            None => {}
        }
        if let Some(feels) = feels_like(current.temperature, current.apparent_temperature, 3) {
            sentence.push_str(&format!(", feeling like {}", number(feels)));
        }
        let now = whole(current.temperature);
        if self.now.hour() < 17 {
            if let Some(high) = self
                .day_summary(self.today)
                .and_then(|day| day.max)
                .filter(|high| whole(*high) > now)
            {
                sentence.push_str(&format!(", with a high of {}", number(high)));
            }
        } else if let Some(low) = self.tonight_low().filter(|low| whole(*low) < now) {
            sentence.push_str(&format!(", with a low of {} tonight", number(low)));
        }
        if condition.is_none_or(|c| c.falling.is_none())
            && let Some(note) = self.likely_later(&self.rest_of_today())
        {
            sentence.push_str("; ");
            sentence.push_str(&note);
        }
        sentence + "."
    }

    fn tonight_low(&self) -> Option<f64> {
        let tomorrow = self.today + Duration::days(1);
        let hours = self.window(|date, hour| {
            (date == self.today && hour >= 18) || (date == tomorrow && hour < 6)
        });
        stats(&hours).min
    }

    /// "rain is likely this afternoon", for the first hour at or above [`LIKELY`].
    fn likely_later(&self, hours: &[&Hour]) -> Option<String> {
        let hour = stats(hours).first_likely?;
        let kind = falling(hour.weather_code).unwrap_or(Falling::Rain);
        Some(format!("{} {}", likely(kind), self.part_of_day(hour)))
    }

    fn part_of_day(&self, hour: &Hour) -> &'static str {
        let date = hour.time.date_naive();
        let h = hour.time.hour();
        if date == self.today {
            match h {
                0..=4 => "overnight",
                5..=11 => "this morning",
                12..=16 => "this afternoon",
                17..=20 => "this evening",
                _ => "tonight",
            }
        } else if date == self.today + Duration::days(1) && h < 5 {
            "tonight"
        } else {
            "later"
        }
    }

    /// "Tomorrow in Paris: sunny, between 8 and 17 degrees."
    fn general_day(&self, date: NaiveDate, label: &Label) -> String {
        let Some(day) = self.day_summary(date) else {
            return self.unavailable(label);
        };
        let condition = day.code.and_then(|code| describe_weather_code(code, true));
        let mut sentence = join_parts(
            &format!("{} in {}", label.start, self.place),
            [
                condition.map(|c| c.phrase.to_owned()),
                range(day.min, day.max),
            ],
        );
        if condition.is_none_or(|c| c.falling.is_none()) {
            if date == self.today {
                if let Some(note) = self.likely_later(&self.rest_of_today()) {
                    sentence.push_str("; ");
                    sentence.push_str(&note);
                }
            } else if let Some(p) = day.precipitation.filter(|p| *p >= LIKELY) {
                sentence.push_str(&format!("; {} ({p}%)", likely(Falling::Rain)));
            }
        }
        sentence + "."
    }

    fn weekend_sentence(&self, parts: Vec<String>) -> String {
        if parts.is_empty() {
            return self.unavailable(&Label::new("", "", "this weekend"));
        }
        format!("This weekend in {}: {}.", self.place, parts.join("; "))
    }

    // Temperature questions.

    fn temperature(&self, period: &Period<'_>) -> String {
        match period {
            Period::Now => {
                let current = &self.forecast.current;
                let mut sentence =
                    format!("In {} it's {}", self.place, degrees(current.temperature));
                if let Some(feels) =
                    feels_like(current.temperature, current.apparent_temperature, 2)
                {
                    sentence.push_str(&format!(", feeling like {}", number(feels)));
                }
                sentence + "."
            }
            Period::Day { date, label } => {
                let Some(day) = self.day_summary(*date) else {
                    return self.unavailable(label);
                };
                let numbers = match (day.max, day.min) {
                    (Some(high), Some(low)) => {
                        format!("a high of {} and a low of {}", number(high), degrees(low))
                    }
                    (Some(high), None) => format!("a high of {}", degrees(high)),
                    (None, Some(low)) => format!("a low of {}", degrees(low)),
                    (None, None) => return self.unavailable(label),
                };
                format!("{} in {}: {numbers}.", label.start, self.place)
            }
            Period::Weekend(dates) => {
                let parts = dates
                    .iter()
                    .filter_map(|date| {
                        let day = self.day_summary(*date)?;
                        let range = short_range(day.min, day.max)?;
                        Some(format!("{} {range}", weekday_name(date.weekday())))
                    })
                    .collect();
                self.weekend_sentence(parts)
            }
            Period::Hours {
                hours,
                label,
                night,
            } => {
                let stats = stats(hours);
                let numbers = if *night {
                    stats.min.map(|min| format!("down to {}", degrees(min)))
                } else {
                    range(stats.min, stats.max)
                };
                match numbers {
                    Some(numbers) => format!("{} in {}: {numbers}.", label.start, self.place),
                    None => self.unavailable(label),
                }
            }
        }
    }

    // Rain, snow and umbrella questions.

    fn precipitation(&self, period: &Period<'_>, aspect: WeatherAspect) -> String {
        match period {
            Period::Now => self.precipitation_now(aspect),
            Period::Day { date, label } => {
                let Some(day) = self.day_summary(*date) else {
                    return self.unavailable(label);
                };
                let hours = if *date == self.today {
                    self.rest_of_today()
                } else {
                    Vec::new()
                };
                // Today's chance is the rest of today's, not the morning that has passed.
                let chance = Chance {
                    probability: stats(&hours).precipitation.or(day.precipitation),
                    falling: falling_in(day.code, &hours),
                    expected: falling(day.code).is_some()
                        || hours
                            .iter()
                            .any(|hour| falling(hour.weather_code).is_some()),
                };
                self.chance_sentence(&chance, aspect, &label.inline)
            }
            Period::Hours { hours, label, .. } => {
                if hours.is_empty() {
                    return self.unavailable(label);
                }
                let stats = stats(hours);
                let chance = Chance {
                    probability: stats.precipitation,
                    falling: falling_in(stats.code, hours),
                    expected: hours
                        .iter()
                        .any(|hour| falling(hour.weather_code).is_some()),
                };
                self.chance_sentence(&chance, aspect, &label.inline)
            }
            Period::Weekend(dates) => {
                let days: Vec<(NaiveDate, DaySummary)> = dates
                    .iter()
                    .filter_map(|date| Some((*date, self.day_summary(*date)?)))
                    .collect();
                if days.is_empty() {
                    return self.unavailable(&Label::new("", "", "this weekend"));
                }
                let snow = days
                    .iter()
                    .any(|(_, day)| falling(day.code) == Some(Falling::Snow));
                if aspect == WeatherAspect::Snow && !snow {
                    return format!("No snow is expected this weekend in {}.", self.place);
                }
                let noun = if snow { "snow" } else { "rain" };
                let parts: Vec<String> = days
                    .iter()
                    .map(|(date, day)| match day.precipitation {
                        Some(p) => {
                            format!("{} on {} ({p}%)", level(p), weekday_name(date.weekday()))
                        }
                        None if falling(day.code).is_some() => {
                            format!("expected on {}", weekday_name(date.weekday()))
                        }
                        None => format!("not expected on {}", weekday_name(date.weekday())),
                    })
                    .collect();
                format!(
                    "This weekend in {}: {noun} is {}.",
                    self.place,
                    parts.join(" and ")
                )
            }
        }
    }

    fn precipitation_now(&self, aspect: WeatherAspect) -> String {
        let current = &self.forecast.current;
        let place = self.place;
        if let Some(kind) = falling(current.weather_code) {
            return match (kind, aspect) {
                (Falling::Snow, WeatherAspect::Snow) => {
                    format!("Yes, it's snowing in {place} right now.")
                }
                (Falling::Snow, _) => format!("It's snowing in {place} right now."),
                (_, WeatherAspect::Snow) => {
                    format!("No, it's not snowing in {place}, but it's raining right now.")
                }
                (Falling::Thunder, _) => {
                    format!("Yes, there are thunderstorms in {place} right now.")
                }
                (Falling::Rain, _) => format!("Yes, it's raining in {place} right now."),
            };
        }
        let verb = if aspect == WeatherAspect::Snow {
            "snowing"
        } else {
            "raining"
        };
        let soon = stats(&self.upcoming(2));
        match soon.precipitation.filter(|p| *p >= LIKELY) {
            Some(p) => format!(
                "No, it's not {verb} in {place} right now, but {} soon ({p}%).",
                likely(falling_in(soon.code, &self.upcoming(2)))
            ),
            None => format!("No, it's not {verb} in {place} right now."),
        }
    }

    /// "Rain is unlikely tomorrow in Boston (10%)." and its snow and umbrella forms.
    fn chance_sentence(&self, chance: &Chance, aspect: WeatherAspect, when: &str) -> String {
        let place = self.place;
        if aspect == WeatherAspect::Snow && chance.falling != Falling::Snow {
            return match chance.probability.filter(|p| *p >= LIKELY) {
                Some(p) => {
                    format!("No snow is expected {when} in {place}, but rain is likely ({p}%).")
                }
                None => format!("No snow is expected {when} in {place}."),
            };
        }
        let kind = chance.falling;
        let statement = match chance.probability {
            Some(p) if p >= LIKELY => format!("{} {when} in {place} ({p}%)", likely(kind)),
            Some(p) if p >= POSSIBLE => {
                format!(
                    "there's a chance of {} {when} in {place} ({p}%)",
                    noun(kind)
                )
            }
            Some(p) => format!("{} {when} in {place} ({p}%)", unlikely(kind)),
            None if chance.expected => {
                format!("{} {} {when} in {place}", noun(kind), be(kind, "expected"))
            }
            None => format!("no {} is expected {when} in {place}", noun(kind)),
        };
        if aspect != WeatherAspect::Umbrella {
            return capitalize(&statement) + ".";
        }
        let advice = match chance.probability {
            Some(p) if p >= LIKELY => "Yes, take an umbrella",
            Some(p) if p >= POSSIBLE => "Maybe take one",
            Some(_) => "You shouldn't need one",
            None if chance.expected => "Yes, take an umbrella",
            None => "You shouldn't need one",
        };
        format!("{advice}: {statement}.")
    }

    // Wind questions.

    fn wind(&self, period: &Period<'_>) -> String {
        let units = self.forecast.units;
        let place = self.place;
        match period {
            Period::Now => match self.forecast.current.wind_speed {
                Some(speed) => format!(
                    "In {place} the wind is {}, {}.",
                    wind_strength(speed, units),
                    speed_words(speed, units)
                ),
                None => format!("I don't have the wind for {place} right now."),
            },
            Period::Day { date, label } => match self.day_summary(*date).and_then(|day| day.wind) {
                Some(speed) => format!(
                    "{} in {place}: {} wind, up to {}.",
                    label.start,
                    wind_strength(speed, units),
                    speed_words(speed, units)
                ),
                None => self.unavailable(label),
            },
            Period::Hours { hours, label, .. } => match stats(hours).wind {
                Some(speed) => format!(
                    "{} in {place}: {} wind, up to {}.",
                    label.start,
                    wind_strength(speed, units),
                    speed_words(speed, units)
                ),
                None => self.unavailable(label),
            },
            Period::Weekend(dates) => {
                let parts = dates
                    .iter()
                    .filter_map(|date| {
                        let speed = self.day_summary(*date)?.wind?;
                        Some(format!(
                            "{} {} wind, up to {}",
                            weekday_name(date.weekday()),
                            wind_strength(speed, units),
                            speed_words(speed, units)
                        ))
                    })
                    .collect();
                self.weekend_sentence(parts)
            }
        }
    }
}

struct Chance {
    probability: Option<u8>,
    falling: Falling,
    /// A rain or snow code appears in the period.
    expected: bool,
}

fn stats<'a>(hours: &[&'a Hour]) -> Stats<'a> {
    let temperatures = || hours.iter().filter_map(|hour| hour.temperature);
    Stats {
        min: temperatures().reduce(f64::min),
        max: temperatures().reduce(f64::max),
        code: most_severe(hours.iter().map(|hour| hour.weather_code)),
        precipitation: hours
            .iter()
            .filter_map(|hour| hour.precipitation_probability)
            .max(),
        wind: hours
            .iter()
            .filter_map(|hour| hour.wind_speed)
            .reduce(f64::max),
        first_likely: hours
            .iter()
            .copied()
            .find(|hour| hour.precipitation_probability.is_some_and(|p| p >= LIKELY)),
    }
}

/// What falls in a period: the most severe code's kind, else any hour's, else rain (the
/// word for "precipitation" people use).
fn falling_in(code: Option<u8>, hours: &[&Hour]) -> Falling {
    falling(code)
        .or_else(|| {
            most_severe(
                hours
                    .iter()
                    .filter(|hour| falling(hour.weather_code).is_some())
                    .map(|hour| hour.weather_code),
            )
            .and_then(|code| falling(Some(code)))
        })
        .unwrap_or(Falling::Rain)
}

fn noun(kind: Falling) -> &'static str {
    match kind {
        Falling::Rain => "rain",
        Falling::Snow => "snow",
        Falling::Thunder => "thunderstorms",
    }
}

fn be(kind: Falling, adjective: &str) -> String {
    match kind {
        Falling::Thunder => format!("are {adjective}"),
        _ => format!("is {adjective}"),
    }
}

fn likely(kind: Falling) -> String {
    format!("{} {}", noun(kind), be(kind, "likely"))
}

fn unlikely(kind: Falling) -> String {
    format!("{} {}", noun(kind), be(kind, "unlikely"))
}

fn level(probability: u8) -> &'static str {
    if probability >= LIKELY {
        "likely"
    } else if probability >= POSSIBLE {
        "possible"
    } else {
        "unlikely"
    }
}

/// The coming Saturday and Sunday; on a Saturday that is today and tomorrow, on a Sunday
/// only today.
fn weekend(today: NaiveDate) -> Vec<NaiveDate> {
    match today.weekday() {
        Weekday::Sun => vec![today],
        weekday => {
            let saturday = today + Duration::days(i64::from(5 - weekday.num_days_from_monday()));
            vec![saturday, saturday + Duration::days(1)]
        }
    }
}

fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Rounded to a whole number, with `-0` as `0`.
fn whole(value: f64) -> i64 {
    let rounded = value.round() as i64;
    if rounded == 0 { 0 } else { rounded }
}

/// "12", "minus 3".
fn number(value: f64) -> String {
    let rounded = whole(value);
    if rounded < 0 {
        format!("minus {}", rounded.unsigned_abs())
    } else {
        rounded.to_string()
    }
}

/// "12 degrees", "1 degree", "minus 3 degrees".
fn degrees(value: f64) -> String {
    let unit = if whole(value).unsigned_abs() == 1 {
        "degree"
    } else {
        "degrees"
    };
    format!("{} {unit}", number(value))
}

/// "between 8 and 17 degrees", "around 15 degrees", "a high of 17 degrees".
fn range(min: Option<f64>, max: Option<f64>) -> Option<String> {
    Some(match (min, max) {
        (Some(min), Some(max)) if whole(min) == whole(max) => format!("around {}", degrees(max)),
        (Some(min), Some(max)) => format!("between {} and {}", number(min), degrees(max)),
        (None, Some(max)) => format!("a high of {}", degrees(max)),
        (Some(min), None) => format!("a low of {}", degrees(min)),
        (None, None) => return None,
    })
}

/// "4 to 9 degrees", for lists.
fn short_range(min: Option<f64>, max: Option<f64>) -> Option<String> {
    Some(match (min, max) {
        (Some(min), Some(max)) if whole(min) == whole(max) => degrees(max),
        (Some(min), Some(max)) => format!("{} to {}", number(min), degrees(max)),
        (None, Some(max)) => format!("up to {}", degrees(max)),
        (Some(min), None) => format!("from {}", degrees(min)),
        (None, None) => return None,
    })
}

/// The feels-like temperature, when it differs enough to be worth saying.
fn feels_like(temperature: f64, apparent: Option<f64>, threshold: i64) -> Option<f64> {
    apparent.filter(|apparent| (whole(*apparent) - whole(temperature)).abs() >= threshold)
}

fn join_parts<const N: usize>(head: &str, parts: [Option<String>; N]) -> String {
    let parts: Vec<String> = parts.into_iter().flatten().collect();
    if parts.is_empty() {
        head.to_owned()
    } else {
        format!("{head}: {}", parts.join(", "))
    }
}

fn capitalize(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// Beaufort-like bands in km/h: under 12 light, under 30 moderate, under 50 strong.
fn wind_strength(speed: f64, units: Units) -> &'static str {
    let kmh = match units {
        Units::Metric => speed,
        Units::Imperial => speed * 1.609_344,
    };
    if kmh < 12.0 {
        "light"
    } else if kmh < 30.0 {
        "moderate"
    } else if kmh < 50.0 {
        "strong"
    } else {
        "very strong"
    }
}

fn speed_words(speed: f64, units: Units) -> String {
    let rounded = whole(speed.max(0.0));
    let unit = match (units, rounded) {
        (Units::Metric, 1) => "kilometre per hour",
        (Units::Metric, _) => "kilometres per hour",
        (Units::Imperial, 1) => "mile per hour",
        (Units::Imperial, _) => "miles per hour",
    };
    format!("{rounded} {unit}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::weather::{Current, Day, Place};

    struct DayScript {
        min: f64,
        max: f64,
        code: u8,
        precipitation: u8,
    }

    fn day(min: f64, max: f64, code: u8, precipitation: u8) -> DayScript {
        DayScript {
            min,
            max,
            code,
            precipitation,
        }
    }

    /// A forecast for `name` in `zone` starting on `start`, with hourly data derived from
    /// the days (temperatures from min at 05:00 to max at 15:00) unless `hour` overrides the
    /// (probability, code) of a local hour.
    fn forecast(
        name: &str,
        zone: chrono_tz::Tz,
        start: NaiveDate,
        days: &[DayScript],
        hour: impl Fn(usize, u32) -> Option<(u8, u8)>,
    ) -> Forecast {
        let local = |date: NaiveDate, h: u32| {
            zone.from_local_datetime(&date.and_hms_opt(h, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .fixed_offset()
        };
        let mut hourly = Vec::new();
        let mut daily = Vec::new();
        for (index, script) in days.iter().enumerate() {
            let date = start + Duration::days(index as i64);
            for h in 0..24 {
                let fraction = if (5..=15).contains(&h) {
                    f64::from(h - 5) / 10.0
                } else {
                    0.2
                };
                let (probability, code) =
                    hour(index, h).unwrap_or((script.precipitation.min(15), script.code.min(3)));
                hourly.push(Hour {
                    time: local(date, h),
                    temperature: Some(script.min + (script.max - script.min) * fraction),
                    precipitation_probability: Some(probability),
                    weather_code: Some(code),
                    wind_speed: Some(10.0 + f64::from(h)),
                });
            }
            daily.push(Day {
                date,
                temperature_max: Some(script.max),
                temperature_min: Some(script.min),
                precipitation_probability_max: Some(script.precipitation),
                weather_code: Some(script.code),
                wind_speed_max: Some(33.0),
                sunrise: Some(local(date, 6)),
                sunset: Some(local(date, 20)),
            });
        }
        Forecast {
            place: Place {
                name: name.into(),
                admin1: None,
                country: None,
                latitude: 0.0,
                longitude: 0.0,
                timezone: Some(zone.name().into()),
            },
            units: Units::Metric,
            timezone: zone.name().into(),
            utc_offset_seconds: 0,
            current: Current {
                time: local(start, 0),
                temperature: 12.3,
                apparent_temperature: Some(11.0),
                weather_code: Some(3),
                wind_speed: Some(14.8),
                is_day: true,
            },
            hourly,
            daily,
        }
    }

    fn at(zone: chrono_tz::Tz, date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
        zone.from_local_datetime(&date.and_hms_opt(hour, minute, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ask(when: WeatherWhen, aspect: WeatherAspect) -> WeatherQuestion {
        WeatherQuestion {
            place: None,
            when,
            aspect,
        }
    }

    /// Wednesday 8 April 2026.
    fn wednesday() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 4, 8).unwrap()
    }

    fn boston() -> Forecast {
        forecast(
            "Boston",
            chrono_tz::America::New_York,
            wednesday(),
            &[
                day(8.1, 15.2, 61, 80),
                day(9.4, 16.0, 3, 10),
                day(7.0, 13.0, 63, 35),
                day(5.0, 9.0, 3, 20),
                day(3.0, 7.0, 61, 70),
                day(3.0, 7.0, 71, 60),
                day(3.0, 7.0, 0, 0),
            ],
            // Today: rain likely from 13:00 to 17:00.
            |index, hour| (index == 0 && (13..18).contains(&hour)).then_some((80, 61)),
        )
    }

    fn paris() -> Forecast {
        forecast(
            "Paris",
            chrono_tz::Europe::Paris,
            wednesday(),
            &[
                day(9.0, 18.0, 1, 5),
                day(8.2, 17.4, 0, 0),
                day(6.0, 12.0, 3, 15),
                day(4.0, 9.0, 3, 20),
                day(3.0, 7.0, 61, 70),
                day(2.0, 8.0, 2, 0),
                day(2.0, 8.0, 2, 0),
            ],
            |_, _| None,
        )
    }

    #[test]
    fn answers_read_naturally() {
        use WeatherAspect::*;
        use WeatherWhen::*;
        let ny = chrono_tz::America::New_York;
        let fr = chrono_tz::Europe::Paris;
        let morning = at(ny, wednesday(), 10, 5);
        let cases = [
            (
                boston(),
                ask(Now, General),
                morning,
                "In Boston it's 12 degrees and cloudy, with a high of 15; rain is likely this afternoon.",
            ),
            (
                boston(),
                ask(Today, General),
                morning,
                "Today in Boston: light rain, between 8 and 15 degrees.",
            ),
            (
                paris(),
                ask(Tomorrow, General),
                at(fr, wednesday(), 9, 0),
                "Tomorrow in Paris: sunny, between 8 and 17 degrees.",
            ),
            (
                boston(),
                ask(Tomorrow, Rain),
                morning,
                "Rain is unlikely tomorrow in Boston (10%).",
            ),
            (
                boston(),
                ask(ThisAfternoon, Rain),
                morning,
                "Rain is likely this afternoon in Boston (80%).",
            ),
            (
                boston(),
                ask(Weekday(chrono::Weekday::Fri), Rain),
                morning,
                "There's a chance of rain on Friday in Boston (35%).",
            ),
            (
                paris(),
                ask(Weekend, General),
                at(fr, wednesday(), 9, 0),
                "This weekend in Paris: Saturday cloudy, 4 to 9 degrees; Sunday light rain, 3 to 7 degrees.",
            ),
            (
                paris(),
                ask(Weekend, Rain),
                at(fr, wednesday(), 9, 0),
                "This weekend in Paris: rain is possible on Saturday (20%) and likely on Sunday (70%).",
            ),
            (
                paris(),
                ask(Weekend, Temperature),
                at(fr, wednesday(), 9, 0),
                "This weekend in Paris: Saturday 4 to 9 degrees; Sunday 3 to 7 degrees.",
            ),
            (
                boston(),
                ask(Today, Umbrella),
                morning,
                "Yes, take an umbrella: rain is likely today in Boston (80%).",
            ),
            (
                boston(),
                ask(Tomorrow, Umbrella),
                morning,
                "You shouldn't need one: rain is unlikely tomorrow in Boston (10%).",
            ),
            (
                boston(),
                ask(Now, Rain),
                morning,
                "No, it's not raining in Boston right now.",
            ),
            (
                boston(),
                ask(Now, Rain),
                at(ny, wednesday(), 12, 30),
                "No, it's not raining in Boston right now, but rain is likely soon (80%).",
            ),
            (
                boston(),
                ask(Weekday(chrono::Weekday::Mon), Snow),
                morning,
                "Snow is likely on Monday in Boston (60%).",
            ),
            (
                boston(),
                ask(Tomorrow, Snow),
                morning,
                "No snow is expected tomorrow in Boston.",
            ),
            (
                boston(),
                ask(Now, Temperature),
                morning,
                "In Boston it's 12 degrees.",
            ),
            (
                boston(),
                ask(Tomorrow, Temperature),
                morning,
                "Tomorrow in Boston: a high of 16 and a low of 9 degrees.",
            ),
            (
                boston(),
                ask(Tonight, General),
                morning,
                "Tonight in Boston: cloudy, down to 9 degrees.",
            ),
            (
                boston(),
                ask(Now, Wind),
                morning,
                "In Boston the wind is moderate, 15 kilometres per hour.",
            ),
            (
                boston(),
                ask(Tomorrow, Wind),
                morning,
                "Tomorrow in Boston: strong wind, up to 33 kilometres per hour.",
            ),
            // Asked on a Wednesday, "Wednesday" is today.
            (
                paris(),
                ask(Weekday(chrono::Weekday::Wed), General),
                at(fr, wednesday(), 9, 0),
                "Today in Paris: mostly sunny, between 9 and 18 degrees.",
            ),
            (
                boston(),
                ask(NextHours, General),
                morning,
                "Over the next few hours in Boston: cloudy, between 12 and 13 degrees.",
            ),
        ];
        for (forecast, question, now, expected) in cases {
            assert_eq!(speak(&question, &forecast, now), expected, "{question:?}");
        }
    }

    #[test]
    fn below_zero_is_minus_and_feels_like_is_said_when_it_differs() {
        let mut oslo = forecast(
            "Oslo",
            chrono_tz::Europe::Oslo,
            wednesday(),
            &[day(-9.0, -1.4, 71, 60)],
            |_, _| None,
        );
        oslo.current.temperature = -3.4;
        oslo.current.apparent_temperature = Some(-8.2);
        oslo.current.weather_code = Some(73);
        let now = at(chrono_tz::Europe::Oslo, wednesday(), 18, 0);
        assert_eq!(
            speak(&ask(WeatherWhen::Now, WeatherAspect::General), &oslo, now),
            "In Oslo it's minus 3 degrees with snow, feeling like minus 8, with a low of minus 7 tonight."
        );
        assert_eq!(
            speak(&ask(WeatherWhen::Now, WeatherAspect::Snow), &oslo, now),
            "Yes, it's snowing in Oslo right now."
        );
        assert_eq!(
            speak(
                &ask(WeatherWhen::Today, WeatherAspect::Temperature),
                &oslo,
                now
            ),
            "Today in Oslo: a high of minus 1 and a low of minus 9 degrees."
        );
        oslo.current.temperature = -0.4;
        oslo.current.apparent_temperature = None;
        assert_eq!(
            speak(
                &ask(WeatherWhen::Now, WeatherAspect::Temperature),
                &oslo,
                now
            ),
            "In Oslo it's 0 degrees."
        );
        oslo.current.temperature = 1.2;
        assert_eq!(
            speak(
                &ask(WeatherWhen::Now, WeatherAspect::Temperature),
                &oslo,
                now
            ),
            "In Oslo it's 1 degree."
        );
    }

    #[test]
    fn missing_data_gets_an_honest_answer_not_a_panic() {
        let mut empty = boston();
        empty.hourly.clear();
        empty.daily.clear();
        empty.current.weather_code = None;
        empty.current.wind_speed = None;
        empty.current.apparent_temperature = None;
        let now = at(chrono_tz::America::New_York, wednesday(), 10, 0);
        assert_eq!(
            speak(&ask(WeatherWhen::Now, WeatherAspect::General), &empty, now),
            "In Boston it's 12 degrees."
        );
        assert_eq!(
            speak(
                &ask(WeatherWhen::Tomorrow, WeatherAspect::General),
                &empty,
                now
            ),
            "I don't have a forecast for tomorrow in Boston yet."
        );
        assert_eq!(
            speak(&ask(WeatherWhen::Weekend, WeatherAspect::Rain), &empty, now),
            "I don't have a forecast for this weekend in Boston yet."
        );
        assert_eq!(
            speak(&ask(WeatherWhen::Now, WeatherAspect::Wind), &empty, now),
            "I don't have the wind for Boston right now."
        );
        // Every question shape against an empty and a full forecast, at every hour.
        let whens = [
            WeatherWhen::Now,
            WeatherWhen::Today,
            WeatherWhen::Tonight,
            WeatherWhen::Tomorrow,
            WeatherWhen::Weekend,
            WeatherWhen::Weekday(chrono::Weekday::Sun),
            WeatherWhen::NextHours,
            WeatherWhen::ThisMorning,
            WeatherWhen::ThisAfternoon,
        ];
        let aspects = [
            WeatherAspect::General,
            WeatherAspect::Rain,
            WeatherAspect::Snow,
            WeatherAspect::Temperature,
            WeatherAspect::Wind,
            WeatherAspect::Umbrella,
        ];
        for forecast in [empty, boston()] {
            for hour in 0..24 {
                let now = at(chrono_tz::America::New_York, wednesday(), hour, 30);
                for when in whens {
                    for aspect in aspects {
                        let answer = speak(&ask(when, aspect), &forecast, now);
                        assert!(answer.ends_with('.') && answer.len() < 200, "{answer}");
                    }
                }
                let _ = card(&forecast, now);
            }
        }
    }

    #[test]
    fn a_past_window_is_described_rather_than_refused() {
        let now = at(chrono_tz::America::New_York, wednesday(), 19, 0);
        assert_eq!(
            speak(
                &ask(WeatherWhen::ThisAfternoon, WeatherAspect::Rain),
                &boston(),
                now
            ),
            "Rain is likely this afternoon in Boston (80%)."
        );
    }

    #[test]
    fn on_sunday_the_weekend_is_today() {
        let sunday = NaiveDate::from_ymd_opt(2026, 4, 12).unwrap();
        let now = at(chrono_tz::Europe::Paris, sunday, 9, 0);
        let mut forecast = paris();
        // Shift the fixture so that its first day is Sunday.
        for hour in &mut forecast.hourly {
            hour.time += Duration::days(4);
        }
        for day in &mut forecast.daily {
            day.date += Duration::days(4);
        }
        assert_eq!(
            speak(
                &ask(WeatherWhen::Weekend, WeatherAspect::General),
                &forecast,
                now
            ),
            "This weekend in Paris: Sunday mostly sunny, 9 to 18 degrees."
        );
        assert_eq!(
            weekend(wednesday()),
            vec![
                wednesday() + Duration::days(3),
                wednesday() + Duration::days(4)
            ]
        );
        let saturday = wednesday() + Duration::days(3);
        assert_eq!(
            weekend(saturday),
            vec![saturday, saturday + Duration::days(1)]
        );
    }

    #[test]
    fn the_card_has_now_today_and_the_next_six_hours() {
        let now = at(chrono_tz::America::New_York, wednesday(), 14, 20);
        let card = card(&boston(), now);
        assert_eq!(card["place"], "Boston");
        assert_eq!(card["units"], "metric");
        assert_eq!(card["temperature_unit"], "°C");
        assert_eq!(card["now"]["temperature"], 12);
        assert_eq!(card["now"]["condition"], "cloudy");
        assert_eq!(card["now"]["icon"], "cloudy");
        assert_eq!(card["today"]["high"], 15);
        assert_eq!(card["today"]["low"], 8);
        let hours = card["hours"].as_array().unwrap();
        assert_eq!(hours.len(), 6);
        assert_eq!(hours[0]["time"], "15:00");
        assert_eq!(hours[0]["precipitation_probability"], 80);
        assert_eq!(hours[0]["condition"], "light rain");
        assert_eq!(hours[5]["time"], "20:00");
        assert_eq!(hours[5]["icon"], "cloudy");
        assert_eq!(card["attribution"]["url"], "https://open-meteo.com/");
    }
}
