//! Times of day ("7", "6:30 am", "half past seven", "tomorrow at 6:30", "on friday at 9"),
//! the next instant they name in the user's zone, and their spoken form ("6:30 AM tomorrow").
//!
//! # Which 7 is "at 7"?
//!
//! An hour from 1 to 12 said without "am"/"pm" (or "in the morning", "tonight", …) is
//! *ambiguous*: it names both 7:00 and 19:00. Like phone assistants, [`next_occurrence`]
//! picks the next one still in the future: at 22:00 "at 7" is 07:00 tomorrow, at 06:00 it is
//! 07:00 today, at 08:00 it is 19:00 today. With a named day ("tomorrow at 7", "on Friday at
//! 7") it is the earliest one on that day that is still in the future, so normally the
//! morning. "12" alone is noon or midnight, whichever comes first. Hours written in 24-hour
//! form are never ambiguous: 0 and 13–23 ("17:45", "0:30") and hours with a leading zero
//! ("07:30"), as are "noon" and "midnight". [`TimeOfDay::am_pm_given`] records which case a
//! parsed time is.
//!
//! # Days
//!
//! "today", "tonight", "this morning", "tomorrow", "tomorrow morning", "friday", "on friday",
//! "this friday", "next friday" (all the same: the next Friday, today included while the time
//! is still ahead). A time named for today that has already passed moves to tomorrow: the
//! result is always in the future.
//!
//! # Daylight saving
//!
//! Local times are resolved in the user's zone: a local time that does not exist (skipped by
//! a spring-forward gap) moves forward to the first instant after the gap; one that happens
//! twice (an autumn fold) is the earlier instant.

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::assistant::lexer::{self, Kind, Token, glued};
use crate::assistant::math::{self, NumberWord};

/// A time of day on the 24-hour clock. For an ambiguous time (see the module documentation),
/// `hour` is the hour as said, 1–12, and [`next_occurrence`] decides between morning and
/// evening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClockTime {
    /// 0–23
    pub hour: u8,
    /// 0–59
    pub minute: u8,
}

/// Which day a time of day was said for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayHint {
    /// No day: the next time it comes round.
    Unspecified,
    /// "today", "tonight", "this evening".
    Today,
    /// "tomorrow", "tomorrow morning".
    Tomorrow,
    /// "friday", "on friday", "next friday": the next such day, today included if the time
    /// is still ahead.
    Weekday(Weekday),
}

/// A parsed time of day with everything [`next_occurrence`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeOfDay {
    pub time: ClockTime,
    pub day: DayHint,
    /// Whether the hour is unambiguous: "am"/"pm" or a part of the day was said, or it was
    /// written in 24-hour form, or it was "noon"/"midnight". When false, `time.hour` is
    /// 1–12 and means either that hour or twelve hours later.
    pub am_pm_given: bool,
}

impl TimeOfDay {
    /// [`next_occurrence`] of this time.
    pub fn next_occurrence(&self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        next_occurrence(self.time, self.day, now, tz, self.am_pm_given)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meridiem {
    Am,
    Pm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Morning,
    Afternoon,
    Evening,
    Night,
}

/// A time as written, before "am"/"pm" and parts of the day are applied.
#[derive(Debug, Clone, Copy)]
struct Written {
    hour: u8,
    minute: u8,
    /// 24-hour form, noon or midnight.
    explicit: bool,
    /// Whether "am"/"pm" may follow (not after "noon", "17:45" or "quarter to midnight").
    accepts_meridiem: bool,
    meridiem: Option<Meridiem>,
}

const WEEKDAYS: [(&str, &str, Weekday); 7] = [
    ("monday", "mon", Weekday::Mon),
    ("tuesday", "tue", Weekday::Tue),
    ("wednesday", "wed", Weekday::Wed),
    ("thursday", "thu", Weekday::Thu),
    ("friday", "fri", Weekday::Fri),
    ("saturday", "sat", Weekday::Sat),
    ("sunday", "sun", Weekday::Sun),
];

fn weekday(token: &Token<'_>) -> Option<Weekday> {
    WEEKDAYS
        .iter()
        .find(|(name, short, _)| token.is(name) || token.is(short))
        .map(|&(_, _, day)| day)
        .or_else(|| {
            // "tues", "thurs", "weds"
            [
                ("tues", Weekday::Tue),
                ("weds", Weekday::Wed),
                ("thur", Weekday::Thu),
                ("thurs", Weekday::Thu),
            ]
            .iter()
            .find(|(name, _)| token.is(name))
            .map(|&(_, day)| day)
        })
}

fn period_word(token: Option<&Token<'_>>) -> Option<Period> {
    let token = token?;
    [
        ("morning", Period::Morning),
        ("afternoon", Period::Afternoon),
        ("evening", Period::Evening),
        ("night", Period::Night),
    ]
    .iter()
    .find(|(word, _)| token.is(word))
    .map(|&(_, period)| period)
}

/// "today", "tonight", "this morning", "tomorrow (morning)", "(on|this|next) friday (morning)".
pub(crate) fn day_part(
    tokens: &[Token<'_>],
    at: usize,
) -> Option<(DayHint, Option<Period>, usize)> {
    let first = tokens.get(at)?;
    if first.is("today") {
        return Some((DayHint::Today, None, at + 1));
    }
    if first.is("tonight") {
        return Some((DayHint::Today, Some(Period::Night), at + 1));
    }
    if first.is("this")
        && let Some(period) = period_word(tokens.get(at + 1))
    {
        return Some((DayHint::Today, Some(period), at + 2));
    }
    let (day, next) = if first.is_any(&["tomorrow", "tmrw", "tomorrow's"]) {
        (DayHint::Tomorrow, at + 1)
    } else {
        let index = if first.is_any(&["on", "this", "next"]) {
            at + 1
        } else {
            at
        };
        (DayHint::Weekday(weekday(tokens.get(index)?)?), index + 1)
    };
    match period_word(tokens.get(next)) {
        Some(period) => Some((day, Some(period), next + 1)),
        None => Some((day, None, next)),
    }
}

/// "in the morning", "in the afternoon", "in the evening", "at night", "tonight".
fn period_phrase(tokens: &[Token<'_>], at: usize) -> Option<(Period, usize)> {
    if let Some(next) = lexer::match_phrase(tokens, at, "in the")
        && let Some(period) = period_word(tokens.get(next))
        && period != Period::Night
    {
        return Some((period, next + 1));
    }
    if let Some(next) = lexer::match_phrase(tokens, at, "at night") {
        return Some((Period::Night, next));
    }
    None
}

fn meridiem(tokens: &[Token<'_>], at: usize) -> Option<(Meridiem, usize)> {
    const FORMS: [(&str, Meridiem); 6] = [
        ("a.m.", Meridiem::Am),
        ("p.m.", Meridiem::Pm),
        ("a.m", Meridiem::Am),
        ("p.m", Meridiem::Pm),
        ("am", Meridiem::Am),
        ("pm", Meridiem::Pm),
    ];
    FORMS.iter().find_map(|&(form, meridiem)| {
        lexer::match_phrase(tokens, at, form).map(|next| (meridiem, next))
    })
}

/// A number word at `tokens[at]`.
fn number_word_at(tokens: &[Token<'_>], at: usize) -> Option<NumberWord> {
    let token = tokens.get(at)?;
    if token.kind != Kind::Word {
        return None;
    }
    math::number_word(token.text)
}

/// Minutes in words: "fifteen", "thirty", "forty-five", "forty five", "oh five".
fn minute_words(tokens: &[Token<'_>], at: usize) -> Option<(u8, usize)> {
    match number_word_at(tokens, at)? {
        NumberWord::Unit(value @ 1..=19) => Some((value as u8, at + 1)),
        NumberWord::Tens(tens @ 20..=50) => {
            let hyphen = tokens
                .get(at + 1)
                .is_some_and(|token| token.is_symbol('-') && glued(&tokens[at], token));
            let unit_at = if hyphen { at + 2 } else { at + 1 };
            match number_word_at(tokens, unit_at) {
                Some(NumberWord::Unit(unit @ 1..=9)) => Some(((tens + unit) as u8, unit_at + 1)),
                _ => Some((tens as u8, at + 1)),
            }
        }
        _ => None,
    }
}

/// Minutes after a word hour: "thirty", "oh five", "o'clock".
fn minutes_after_word_hour(tokens: &[Token<'_>], at: usize) -> Option<(u8, usize)> {
    if let Some(next) = o_clock(tokens, at) {
        return Some((0, next));
    }
    if tokens
        .get(at)
        .is_some_and(|token| token.is_any(&["oh", "o"]))
        && let Some(NumberWord::Unit(unit @ 1..=9)) = number_word_at(tokens, at + 1)
    {
        return Some((unit as u8, at + 2));
    }
    minute_words(tokens, at).filter(|(minute, _)| *minute >= 10)
}

fn o_clock(tokens: &[Token<'_>], at: usize) -> Option<usize> {
    lexer::match_any_phrase(tokens, at, &["o'clock", "oclock", "o clock"])
}

/// An hour at `tokens[at]`: digits 0–23, a word one to twelve, "noon" or "midnight".
/// Returns (hour, explicit, next).
fn hour_at(tokens: &[Token<'_>], at: usize) -> Option<(u8, bool, usize)> {
    let token = tokens.get(at)?;
    if token.is_any(&["noon", "midday"]) {
        return Some((12, true, at + 1));
    }
    if token.is("midnight") {
        return Some((0, true, at + 1));
    }
    if let Some(hour) = digit_hour(token) {
        return Some((hour, explicit_hour(token.text, hour), at + 1));
    }
    match number_word_at(tokens, at)? {
        NumberWord::Unit(hour @ 1..=12) => Some((hour as u8, false, at + 1)),
        _ => None,
    }
}

/// One or two plain digits, 0–23.
fn digit_hour(token: &Token<'_>) -> Option<u8> {
    if !token.is_plain_digits() || token.text.len() > 2 {
        return None;
    }
    token.text.parse::<u8>().ok().filter(|hour| *hour <= 23)
}

/// 24-hour form: 0, 13–23, or a leading zero ("07").
fn explicit_hour(written: &str, hour: u8) -> bool {
    hour == 0 || hour >= 13 || (written.len() == 2 && written.starts_with('0'))
}

/// Exactly two digits, 00–59.
fn two_digit_minute(text: &str) -> Option<u8> {
    if text.len() != 2 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>().ok().filter(|minute| *minute < 60)
}

/// The clock reading at `tokens[at]`, with its "am"/"pm" if any.
fn written_time(tokens: &[Token<'_>], at: usize) -> Option<(Written, usize)> {
    let (mut written, mut next) = relative_time(tokens, at)
        .or_else(|| named_time(tokens, at))
        .or_else(|| digit_time(tokens, at))
        .or_else(|| word_time(tokens, at))?;
    if let Some((found, after)) = meridiem(tokens, next) {
        if !written.accepts_meridiem || !(1..=12).contains(&written.hour) {
            // "17:45 pm", "noon am", "0 am": not a time.
            return None;
        }
        written.meridiem = Some(found);
        next = after;
    }
    Some((written, next))
}

fn named_time(tokens: &[Token<'_>], at: usize) -> Option<(Written, usize)> {
    let token = tokens.get(at)?;
    let hour = if token.is_any(&["noon", "midday"]) {
        12
    } else if token.is("midnight") {
        0
    } else {
        return None;
    };
    Some((
        Written {
            hour,
            minute: 0,
            explicit: true,
            accepts_meridiem: false,
            meridiem: None,
        },
        at + 1,
    ))
}

/// "7", "07", "17:45", "6.30", "7 o'clock", "12 noon".
fn digit_time(tokens: &[Token<'_>], at: usize) -> Option<(Written, usize)> {
    let token = tokens.get(at)?;
    let (hour_text, minute) = match token.text.split_once('.') {
        Some((hour, minute)) if token.is_number() => (hour, Some(two_digit_minute(minute)?)),
        _ => (token.text, None),
    };
    if token.kind != Kind::Number
        || hour_text.is_empty()
        || hour_text.len() > 2
        || !hour_text.bytes().all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    let hour = hour_text.parse::<u8>().ok().filter(|hour| *hour <= 23)?;
    let mut written = Written {
        hour,
        minute: minute.unwrap_or(0),
        explicit: explicit_hour(hour_text, hour),
        accepts_meridiem: (1..=12).contains(&hour),
        meridiem: None,
    };
    let mut next = at + 1;
    if minute.is_none() {
        if let (Some(colon), Some(minutes)) = (tokens.get(next), tokens.get(next + 1))
            && colon.is_symbol(':')
            && glued(token, colon)
            && glued(colon, minutes)
            && let Some(minute) = two_digit_minute(minutes.text)
        {
            written.minute = minute;
            next += 2;
        } else if let Some(after) = o_clock(tokens, next) {
            next = after;
        } else if hour == 12
            && let Some((noon, after)) = named_time(tokens, next)
        {
            // "12 noon", "12 midnight"
            written = noon;
            next = after;
        }
    }
    Some((written, next))
}

/// "seven", "seven thirty", "six forty-five", "seven oh five", "seven o'clock".
fn word_time(tokens: &[Token<'_>], at: usize) -> Option<(Written, usize)> {
    let NumberWord::Unit(hour @ 1..=12) = number_word_at(tokens, at)? else {
        return None;
    };
    let (minute, next) = minutes_after_word_hour(tokens, at + 1).unwrap_or((0, at + 1));
    Some((
        Written {
            hour: hour as u8,
            minute,
            explicit: false,
            accepts_meridiem: true,
            meridiem: None,
        },
        next,
    ))
}

/// "half past seven", "quarter to eight", "ten past 7", "20 minutes to 9", "half seven".
fn relative_time(tokens: &[Token<'_>], at: usize) -> Option<(Written, usize)> {
    let first = tokens.get(at)?;
    let (minutes, mut next, is_half) = if first.is("half") {
        (30, at + 1, true)
    } else if first.is("quarter") {
        (15, at + 1, false)
    } else if first.is("a") && tokens.get(at + 1).is_some_and(|token| token.is("quarter")) {
        (15, at + 2, false)
    } else if first.is_plain_digits() && first.text.len() <= 2 {
        let minutes = first
            .text
            .parse::<u8>()
            .ok()
            .filter(|m| (1..60).contains(m))?;
        (minutes, at + 1, false)
    } else {
        let (minutes, after) = minute_words(tokens, at)?;
        (minutes, after, false)
    };
    if !is_half
        && tokens
            .get(next)
            .is_some_and(|token| token.is_any(&["minute", "minutes"]))
    {
        next += 1;
    }
    let direction = tokens.get(next)?;
    let before = if direction.is_any(&["past", "after"]) {
        false
    } else if direction.is_any(&["to", "before", "till", "til", "of"]) && !is_half {
        true
    } else if is_half {
        // British "half seven" is 7:30.
        let (hour, explicit, after) = hour_at(tokens, next)?;
        if !(1..=12).contains(&hour) || explicit {
            return None;
        }
        return Some((
            Written {
                hour,
                minute: 30,
                explicit: false,
                accepts_meridiem: true,
                meridiem: None,
            },
            after,
        ));
    } else {
        return None;
    };
    let (hour, explicit, after) = hour_at(tokens, next + 1)?;
    let (hour, minute) = if before {
        let previous = match (hour, explicit) {
            (1, false) => 12,
            (0, _) => 23,
            (hour, _) => hour - 1,
        };
        (previous, 60 - minutes)
    } else {
        (hour, minutes)
    };
    Some((
        Written {
            hour,
            minute,
            explicit,
            accepts_meridiem: !explicit,
            meridiem: None,
        },
        after,
    ))
}

/// Applies "am"/"pm" or a part of the day: (time, am_pm_given).
fn resolve(written: Written, period: Option<Period>) -> (ClockTime, bool) {
    let clock = |hour: u8| ClockTime {
        hour,
        minute: written.minute,
    };
    let hour = written.hour;
    if let Some(meridiem) = written.meridiem {
        let base = hour % 12;
        return match meridiem {
            Meridiem::Am => (clock(base), true),
            Meridiem::Pm => (clock(base + 12), true),
        };
    }
    if written.explicit || !(1..=12).contains(&hour) {
        return (clock(hour), true);
    }
    match period {
        None => (clock(hour), false),
        Some(Period::Morning) => (clock(hour % 12), true),
        Some(Period::Afternoon) => (clock(hour % 12 + 12), true),
        Some(Period::Evening) if hour < 12 => (clock(hour + 12), true),
        Some(Period::Evening) => (clock(hour), false),
        Some(Period::Night) => match hour {
            6..=11 => (clock(hour + 12), true),
            12 => (clock(0), true),
            _ => (clock(hour), true),
        },
    }
}

/// The time of day starting at `tokens[at]` ("tomorrow at 6:30", "7 pm on friday") and the
/// index after it.
pub(crate) fn time_at(tokens: &[Token<'_>], at: usize) -> Option<(TimeOfDay, usize)> {
    let mut index = at;
    let mut day = None;
    let mut period = None;
    if let Some((found, found_period, next)) = day_part(tokens, index) {
        day = Some(found);
        period = found_period;
        index = next;
    }
    if tokens.get(index).is_some_and(|token| token.is("at")) {
        index += 1;
    }
    let (written, next) = written_time(tokens, index)?;
    index = next;
    for _ in 0..2 {
        if period.is_none()
            && let Some((found, next)) = period_phrase(tokens, index)
        {
            period = Some(found);
            index = next;
        } else if day.is_none()
            && let Some((found, found_period, next)) = day_part(tokens, index)
        {
            if found_period.is_some() && period.is_some() {
                break;
            }
            day = Some(found);
            period = period.or(found_period);
            index = next;
        } else {
            break;
        }
    }
    let (time, am_pm_given) = resolve(written, period);
    Some((
        TimeOfDay {
            time,
            day: day.unwrap_or(DayHint::Unspecified),
            am_pm_given,
        },
        index,
    ))
}

/// Whether a time of day can start at `token`.
pub(crate) fn may_start_time(token: &Token<'_>) -> bool {
    match token.kind {
        Kind::Number => true,
        Kind::Symbol => false,
        Kind::Word => {
            token.is_any(&[
                "at",
                "noon",
                "midday",
                "midnight",
                "half",
                "quarter",
                "a",
                "today",
                "tonight",
                "tomorrow",
                "tmrw",
                "tomorrow's",
                "on",
                "this",
                "next",
            ]) || weekday(token).is_some()
                || math::number_word(token.text).is_some()
        }
    }
}

/// The whole of `text` as a time of day, with its ambiguity: "7", "7 am", "7am", "7:30",
/// "6:30 am", "6.30pm", "5 pm", "17:45", "07:30", "noon", "midnight", "12 noon",
/// "half past seven", "quarter to eight", "ten past 7", "seven thirty", "7 o'clock",
/// "7 in the morning", "8 tonight", "7 tomorrow", "tomorrow at 6:30", "6:30 am tomorrow",
/// "on friday at 9", "friday 9 am", "at 7". Trailing sentence punctuation is ignored.
pub fn parse_time_of_day_detailed(text: &str) -> Option<TimeOfDay> {
    if !lexer::Lexer::new(text)
        .next()
        .is_some_and(|first| may_start_time(&first))
    {
        return None;
    }
    let tokens = lexer::tokenize(text);
    let tokens = lexer::trim_trailing_punctuation(&tokens);
    let (time, next) = time_at(tokens, 0)?;
    (next == tokens.len()).then_some(time)
}

/// [`parse_time_of_day_detailed`] without the ambiguity flag. For an ambiguous hour
/// ("at 7") the hour is as said (7); pass the result to [`next_occurrence`] with
/// `am_pm_given` from [`parse_time_of_day_detailed`], or use that function directly.
pub fn parse_time_of_day(text: &str) -> Option<(ClockTime, DayHint)> {
    parse_time_of_day_detailed(text).map(|parsed| (parsed.time, parsed.day))
}

/// The next instant, strictly after `now`, at which the user's clock in `tz` shows `time` on
/// the day `day` asks for (see the module documentation for ambiguous hours, days and
/// daylight saving). Always within eight days of `now`. Out-of-range fields are clamped
/// (hour 23, minute 59).
pub fn next_occurrence(
    time: ClockTime,
    day: DayHint,
    now: DateTime<Utc>,
    tz: Tz,
    am_pm_given: bool,
) -> DateTime<Utc> {
    let hour = time.hour.min(23);
    let minute = time.minute.min(59);
    let hours: &[u8] = if !am_pm_given && (1..=12).contains(&hour) {
        &[hour % 12, hour % 12 + 12]
    } else {
        &[hour]
    };
    let today = now.with_timezone(&tz).date_naive();
    let first_future_on = |date: NaiveDate| {
        hours
            .iter()
            .filter_map(|&hour| resolve_local(date, hour, minute, tz))
            .find(|instant| *instant > now)
    };
    (0..=8u64)
        .filter_map(|offset| today.checked_add_days(Days::new(offset)))
        .filter(|date| match day {
            DayHint::Unspecified | DayHint::Today => true,
            DayHint::Tomorrow => *date > today,
            DayHint::Weekday(weekday) => date.weekday() == weekday,
        })
        .find_map(first_future_on)
        // Unreachable for real dates; keeps the function total at the end of time.
        .unwrap_or(now)
}

/// The instant the clock in `tz` shows `hour:minute` on `date`: the earlier of two in a fold,
/// the first instant after the gap in a gap.
fn resolve_local(date: NaiveDate, hour: u8, minute: u8, tz: Tz) -> Option<DateTime<Utc>> {
    let local = date.and_hms_opt(u32::from(hour), u32::from(minute), 0)?;
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(instant) => Some(instant.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(earlier, later) => {
            Some(earlier.min(later).with_timezone(&Utc))
        }
        chrono::LocalResult::None => first_instant_at_or_after(local, tz),
    }
}

/// The first instant whose local reading in `tz` is at or after `local` (for a time in a gap:
/// the end of the gap). UTC offsets lie between -12 and +14 hours, so the instant lies within
/// 15 hours of `local` read as UTC; a binary search over seconds finds it.
fn first_instant_at_or_after(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    let reading = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0).map(|instant| instant.with_timezone(&tz).naive_local())
    };
    let center = local.and_utc().timestamp();
    let (mut low, mut high) = (center - 15 * 3_600, center + 15 * 3_600);
    if reading(low)? >= local || reading(high)? < local {
        return None;
    }
    // Invariant: reading(low) < local <= reading(high).
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if reading(middle)? >= local {
            high = middle;
        } else {
            low = middle;
        }
    }
    DateTime::from_timestamp(high, 0)
}

/// "7 AM", "6:30 PM", "12 PM" (noon), "12 AM" (midnight).
fn twelve_hour(hour: u32, minute: u32, always_minutes: bool) -> String {
    let suffix = if hour < 12 { "AM" } else { "PM" };
    let hour = match hour % 12 {
        0 => 12,
        other => other,
    };
    if minute == 0 && !always_minutes {
        format!("{hour} {suffix}")
    } else {
        format!("{hour}:{minute:02} {suffix}")
    }
}

/// When `at` is, for speech, in the user's zone and relative to `now`: "7 AM" (today),
/// "6:30 AM tomorrow", "9 AM on Friday" (within the week), "9 AM on Friday, March 5" (later;
/// the year is added when it differs), "7 AM yesterday". No leading zeros, no zone names.
pub fn speak_time(at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    let today = now.with_timezone(&tz).date_naive();
    let date = local.date_naive();
    let clock = twelve_hour(local.hour(), local.minute(), false);
    let weekday = date.format("%A");
    match date.signed_duration_since(today).num_days() {
        0 => clock,
        1 => format!("{clock} tomorrow"),
        -1 => format!("{clock} yesterday"),
        2..=6 => format!("{clock} on {weekday}"),
        _ if date.year() == today.year() => format!("{clock} on {}", date.format("%A, %B %-d")),
        _ => format!("{clock} on {}", date.format("%A, %B %-d, %Y")),
    }
}

/// The time on the user's clock, for "what time is it": "3:49 PM", "12:05 AM", "7:00 AM"
/// (minutes always said; no leading zero, no zone name).
pub fn speak_clock(now: DateTime<Utc>, tz: Tz) -> String {
    let local = now.with_timezone(&tz);
    twelve_hour(local.hour(), local.minute(), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Offset;
    use chrono_tz::{America, Asia, Australia, Europe, Pacific, UTC};
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hour, minute, 0)
            .single()
            .expect("a valid UTC time")
    }

    fn local(tz: Tz, year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(year, month, day, hour, minute, 0)
            .earliest()
            .expect("a valid local time")
            .with_timezone(&Utc)
    }

    fn parsed(text: &str) -> Option<(u8, u8, DayHint, bool)> {
        parse_time_of_day_detailed(text).map(|found| {
            (
                found.time.hour,
                found.time.minute,
                found.day,
                found.am_pm_given,
            )
        })
    }

    #[test]
    fn times_of_day_table() {
        use DayHint::{Today, Tomorrow, Unspecified};
        let friday = DayHint::Weekday(Weekday::Fri);
        type Expected = (u8, u8, DayHint, bool);
        let table: &[(&str, Expected)] = &[
            ("7", (7, 0, Unspecified, false)),
            ("7 am", (7, 0, Unspecified, true)),
            ("7am", (7, 0, Unspecified, true)),
            ("7 AM", (7, 0, Unspecified, true)),
            ("7 a.m.", (7, 0, Unspecified, true)),
            ("7 p.m", (19, 0, Unspecified, true)),
            ("7:30", (7, 30, Unspecified, false)),
            ("6:30 am", (6, 30, Unspecified, true)),
            ("6.30pm", (18, 30, Unspecified, true)),
            ("5 pm", (17, 0, Unspecified, true)),
            ("12 pm", (12, 0, Unspecified, true)),
            ("12 am", (0, 0, Unspecified, true)),
            ("12:30 am", (0, 30, Unspecified, true)),
            ("17:45", (17, 45, Unspecified, true)),
            ("0:30", (0, 30, Unspecified, true)),
            ("07:30", (7, 30, Unspecified, true)),
            ("13", (13, 0, Unspecified, true)),
            ("noon", (12, 0, Unspecified, true)),
            ("12 noon", (12, 0, Unspecified, true)),
            ("midday", (12, 0, Unspecified, true)),
            ("midnight", (0, 0, Unspecified, true)),
            ("half past seven", (7, 30, Unspecified, false)),
            ("half past 7", (7, 30, Unspecified, false)),
            ("quarter to eight", (7, 45, Unspecified, false)),
            ("a quarter past six pm", (18, 15, Unspecified, true)),
            ("quarter to one", (12, 45, Unspecified, false)),
            ("quarter to midnight", (23, 45, Unspecified, true)),
            ("ten past seven", (7, 10, Unspecified, false)),
            ("20 to 9", (8, 40, Unspecified, false)),
            ("twenty five minutes past ten", (10, 25, Unspecified, false)),
            ("half seven", (7, 30, Unspecified, false)),
            ("seven", (7, 0, Unspecified, false)),
            ("seven thirty", (7, 30, Unspecified, false)),
            ("six forty-five am", (6, 45, Unspecified, true)),
            ("seven oh five", (7, 5, Unspecified, false)),
            ("seven o'clock", (7, 0, Unspecified, false)),
            ("7 o'clock", (7, 0, Unspecified, false)),
            ("7 in the morning", (7, 0, Unspecified, true)),
            ("7 in the evening", (19, 0, Unspecified, true)),
            ("3 in the afternoon", (15, 0, Unspecified, true)),
            ("10 at night", (22, 0, Unspecified, true)),
            ("8 tonight", (20, 0, Today, true)),
            ("tonight at 8", (20, 0, Today, true)),
            ("7 tomorrow", (7, 0, Tomorrow, false)),
            ("tomorrow at 6:30", (6, 30, Tomorrow, false)),
            ("6:30 am tomorrow", (6, 30, Tomorrow, true)),
            ("tomorrow morning at 7", (7, 0, Tomorrow, true)),
            ("7 tomorrow morning", (7, 0, Tomorrow, true)),
            ("on friday at 9", (9, 0, friday, false)),
            ("friday 9 am", (9, 0, friday, true)),
            ("9 on friday", (9, 0, friday, false)),
            (
                "next monday at 10:15",
                (10, 15, DayHint::Weekday(Weekday::Mon), false),
            ),
            ("at 7", (7, 0, Unspecified, false)),
            ("today at 5 pm", (17, 0, Today, true)),
            ("this evening at 6", (18, 0, Today, true)),
            ("at 7.", (7, 0, Unspecified, false)),
        ];
        for (text, expected) in table {
            assert_eq!(parsed(text), Some(*expected), "{text:?}");
        }
        assert_eq!(
            parse_time_of_day("6:30 am tomorrow"),
            Some((
                ClockTime {
                    hour: 6,
                    minute: 30
                },
                DayHint::Tomorrow
            ))
        );
    }

    #[test]
    fn non_times_table() {
        for text in [
            "",
            "24",
            "7:60",
            "7:5",
            "17 pm",
            "0 am",
            "noon pm",
            "25:00",
            "10 minutes",
            "tomorrow",
            "friday",
            "what time is it",
            "half past",
            "quarter",
            "half to seven",
            "7 tomorrow today",
            "tomorrow at 7 on friday",
            "seven apples",
            "1.5",
            "100",
            "7 :30",
            "thirteen",
            "60 past 7",
        ] {
            assert_eq!(parsed(text), None, "{text:?}");
        }
    }

    #[test]
    fn bare_hours_take_the_next_future_occurrence() {
        let seven = ClockTime { hour: 7, minute: 0 };
        let next = |now| next_occurrence(seven, DayHint::Unspecified, now, UTC, false);
        // At 22:00 "at 7" is 07:00 tomorrow; at 06:00, 07:00 today; at 08:00, 19:00 today.
        assert_eq!(next(utc(2026, 3, 2, 22, 0)), utc(2026, 3, 3, 7, 0));
        assert_eq!(next(utc(2026, 3, 2, 6, 0)), utc(2026, 3, 2, 7, 0));
        assert_eq!(next(utc(2026, 3, 2, 8, 0)), utc(2026, 3, 2, 19, 0));
        // Exactly 07:00 is not in the future.
        assert_eq!(next(utc(2026, 3, 2, 7, 0)), utc(2026, 3, 2, 19, 0));
        // With am/pm given only the named hour counts.
        assert_eq!(
            next_occurrence(
                seven,
                DayHint::Unspecified,
                utc(2026, 3, 2, 8, 0),
                UTC,
                true
            ),
            utc(2026, 3, 3, 7, 0)
        );
        // "12" is noon or midnight.
        let twelve = ClockTime {
            hour: 12,
            minute: 0,
        };
        assert_eq!(
            next_occurrence(
                twelve,
                DayHint::Unspecified,
                utc(2026, 3, 2, 13, 0),
                UTC,
                false
            ),
            utc(2026, 3, 3, 0, 0)
        );
    }

    #[test]
    fn named_days() {
        let seven = ClockTime { hour: 7, minute: 0 };
        // Monday 2 March 2026, 08:00.
        let monday = utc(2026, 3, 2, 8, 0);
        let next = |day, am_pm| next_occurrence(seven, day, monday, UTC, am_pm);
        assert_eq!(next(DayHint::Tomorrow, false), utc(2026, 3, 3, 7, 0));
        assert_eq!(next(DayHint::Tomorrow, true), utc(2026, 3, 3, 7, 0));
        assert_eq!(next(DayHint::Today, false), utc(2026, 3, 2, 19, 0));
        // Today's 07:00 has passed: tomorrow.
        assert_eq!(next(DayHint::Today, true), utc(2026, 3, 3, 7, 0));
        assert_eq!(
            next(DayHint::Weekday(Weekday::Fri), false),
            utc(2026, 3, 6, 7, 0)
        );
        // Today is Monday: 19:00 today is the first Monday 7 still ahead.
        assert_eq!(
            next(DayHint::Weekday(Weekday::Mon), false),
            utc(2026, 3, 2, 19, 0)
        );
        assert_eq!(
            next(DayHint::Weekday(Weekday::Mon), true),
            utc(2026, 3, 9, 7, 0)
        );
    }

    #[test]
    fn times_are_in_the_users_zone() {
        let seven_am = ClockTime { hour: 7, minute: 0 };
        // 2026-11-24 16:05 UTC is 11:05 in New York: 07:00 tomorrow there is 12:00 UTC.
        let now = utc(2026, 11, 24, 16, 5);
        assert_eq!(
            next_occurrence(seven_am, DayHint::Unspecified, now, America::New_York, true),
            utc(2026, 11, 25, 12, 0)
        );
        // In Tokyo it is already 01:05 on the 25th: 07:00 today there.
        assert_eq!(
            next_occurrence(seven_am, DayHint::Tomorrow, now, Asia::Tokyo, true),
            local(Asia::Tokyo, 2026, 11, 26, 7, 0)
        );
    }

    #[test]
    fn daylight_saving_gaps_move_forward_and_folds_take_the_earlier() {
        let half_past_two = ClockTime {
            hour: 2,
            minute: 30,
        };
        // New York skips 02:00–03:00 on 8 March 2026: 02:30 becomes 03:00 EDT (07:00 UTC).
        let before_gap = utc(2026, 3, 8, 0, 0);
        assert_eq!(
            next_occurrence(
                half_past_two,
                DayHint::Unspecified,
                before_gap,
                America::New_York,
                true
            ),
            utc(2026, 3, 8, 7, 0)
        );
        // 1 November 2026 repeats 01:00–02:00: 01:30 is the EDT one (05:30 UTC).
        let half_past_one = ClockTime {
            hour: 1,
            minute: 30,
        };
        assert_eq!(
            next_occurrence(
                half_past_one,
                DayHint::Unspecified,
                utc(2026, 11, 1, 0, 0),
                America::New_York,
                true
            ),
            utc(2026, 11, 1, 5, 30)
        );
        // Samoa skipped 30 December 2011 entirely: 09:00 that day became 00:00 on the 31st.
        let nine = ClockTime { hour: 9, minute: 0 };
        let apia_before = local(Pacific::Apia, 2011, 12, 29, 10, 0);
        assert_eq!(
            next_occurrence(nine, DayHint::Tomorrow, apia_before, Pacific::Apia, true),
            local(Pacific::Apia, 2011, 12, 31, 0, 0)
        );
        // Lord Howe Island moves by half an hour: 02:15 on 4 October 2026 becomes 02:30.
        let quarter_past_two = ClockTime {
            hour: 2,
            minute: 15,
        };
        assert_eq!(
            next_occurrence(
                quarter_past_two,
                DayHint::Unspecified,
                local(Australia::Lord_Howe, 2026, 10, 3, 12, 0),
                Australia::Lord_Howe,
                true
            ),
            local(Australia::Lord_Howe, 2026, 10, 4, 2, 30)
        );
    }

    #[test]
    fn spoken_times_table() {
        let now = utc(2026, 3, 2, 8, 0); // Monday
        let table = [
            (utc(2026, 3, 2, 19, 0), "7 PM"),
            (utc(2026, 3, 2, 9, 5), "9:05 AM"),
            (utc(2026, 3, 3, 6, 30), "6:30 AM tomorrow"),
            (utc(2026, 3, 6, 9, 0), "9 AM on Friday"),
            (utc(2026, 3, 1, 7, 0), "7 AM yesterday"),
            (utc(2026, 3, 3, 12, 0), "12 PM tomorrow"),
            (utc(2026, 3, 3, 0, 0), "12 AM tomorrow"),
            (utc(2026, 3, 20, 9, 0), "9 AM on Friday, March 20"),
            (utc(2027, 1, 1, 9, 0), "9 AM on Friday, January 1, 2027"),
        ];
        for (at, expected) in table {
            assert_eq!(speak_time(at, now, UTC), expected);
        }
        assert_eq!(
            speak_time(
                utc(2026, 11, 25, 12, 0),
                utc(2026, 11, 24, 16, 5),
                America::New_York
            ),
            "7 AM tomorrow"
        );
    }

    #[test]
    fn spoken_clock() {
        let now = utc(2026, 11, 24, 20, 49);
        assert_eq!(speak_clock(now, America::New_York), "3:49 PM");
        assert_eq!(speak_clock(now, UTC), "8:49 PM");
        assert_eq!(speak_clock(utc(2026, 11, 24, 0, 5), UTC), "12:05 AM");
        assert_eq!(speak_clock(utc(2026, 11, 24, 7, 0), UTC), "7:00 AM");
        assert_eq!(speak_clock(now, Europe::Berlin), "9:49 PM");
    }

    fn zones() -> impl Strategy<Value = Tz> {
        proptest::sample::select(vec![
            UTC,
            America::New_York,
            America::Sao_Paulo,
            Europe::London,
            Europe::Berlin,
            Asia::Kolkata,
            Asia::Kathmandu,
            Australia::Lord_Howe,
            Pacific::Apia,
            Pacific::Chatham,
            Pacific::Kiritimati,
            chrono_tz::Etc::GMTPlus12,
        ])
    }

    fn day_hints() -> impl Strategy<Value = DayHint> {
        prop_oneof![
            Just(DayHint::Unspecified),
            Just(DayHint::Today),
            Just(DayHint::Tomorrow),
            proptest::sample::select(vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ])
            .prop_map(DayHint::Weekday),
        ]
    }

    proptest! {
        #[test]
        fn next_occurrence_is_in_the_future_and_within_eight_days(
            seconds in 0i64..4_102_444_800, // 1970 – 2100
            hour in 0u8..24,
            minute in 0u8..60,
            am_pm_given in any::<bool>(),
            day in day_hints(),
            tz in zones(),
        ) {
            let now = DateTime::from_timestamp(seconds, 0).expect("in range");
            let time = ClockTime { hour, minute };
            let at = next_occurrence(time, day, now, tz, am_pm_given);
            prop_assert!(at > now, "{at} is not after {now}");
            prop_assert!(at - now <= chrono::Duration::days(8), "{at} is too far from {now}");
            let shown = at.with_timezone(&tz);
            // The clock shows the time asked for, unless a daylight-saving gap swallowed it
            // and `at` is the end of that gap (the offset changes exactly at `at`).
            let end_of_gap = {
                let before = (at - chrono::Duration::seconds(1)).with_timezone(&tz);
                before.offset().fix() != shown.offset().fix()
            };
            let hour_matches = if !am_pm_given && (1..=12).contains(&hour) {
                shown.hour() % 12 == u32::from(hour % 12)
            } else {
                shown.hour() == u32::from(hour)
            };
            prop_assert!(
                (hour_matches && shown.minute() == u32::from(minute)) || end_of_gap,
                "{shown} for {hour}:{minute}"
            );
            if let DayHint::Weekday(weekday) = day {
                prop_assert!(shown.weekday() == weekday || end_of_gap, "{shown} is not a {weekday}");
            }
        }

        #[test]
        fn parse_never_panics_and_is_fast(input in "\\PC{0,1000}") {
            let started = Instant::now();
            if let Some(found) = parse_time_of_day_detailed(&input) {
                prop_assert!(found.time.hour < 24 && found.time.minute < 60);
            }
            prop_assert!(started.elapsed() < Duration::from_secs(1));
        }

        #[test]
        fn time_shaped_noise_is_fast(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "7", "07", "17", ":", "30", "am", "pm", "a", ".", "m", "half", "past", "to",
                    "quarter", "seven", "thirty", "tomorrow", "at", "on", "friday", "in", "the",
                    "morning", "tonight", "noon", "12", "o'clock",
                ]),
                0..300,
            )
        ) {
            let started = Instant::now();
            let _ = parse_time_of_day_detailed(&words.join(" "));
            let _ = parse_time_of_day_detailed(&words.concat());
            prop_assert!(started.elapsed() < Duration::from_secs(1));
        }

        #[test]
        fn written_times_parse(hour in 0u8..24, minute in 0u8..60) {
            let text = format!("{hour}:{minute:02}");
            let found = parse_time_of_day_detailed(&text).expect("a time");
            prop_assert_eq!(found.time, ClockTime { hour, minute });
            prop_assert_eq!(found.am_pm_given, hour == 0 || hour >= 13);
            let twelve = twelve_hour(u32::from(hour), u32::from(minute), minute != 0);
            let spoken = parse_time_of_day_detailed(&twelve).expect("the spoken form parses");
            prop_assert_eq!(spoken.time, ClockTime { hour, minute });
            prop_assert!(spoken.am_pm_given);
        }
    }
}
