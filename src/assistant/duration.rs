//! Spoken and written durations ("10 minutes", "an hour and a half", "2h30m") and their
//! spoken form ("1 hour and 30 minutes").
//!
//! A duration is one or more components, each a quantity ([`crate::assistant::numbers`]) and
//! a unit, from the largest unit down ("1 hour 30 minutes", "1 hour and 30 minutes",
//! "2 days, 3 hours"); a unit may only be followed by smaller ones, which is also where a
//! duration inside a longer sentence ends ("in 20 minutes to call mom"). The value is
//! computed exactly and rounded to the nearest second (half away from zero) at the end.
//! There is no upper limit here: callers enforce their own (timers: 1 s – 7 days); values
//! beyond `u64::MAX` seconds saturate instead of overflowing.

use std::time::Duration;

use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

use crate::assistant::lexer::{self, Kind, Token, glued};
use crate::assistant::math;
use crate::assistant::numbers::{self, Form, integer};

/// Most tokens [`parse_duration_prefix`] reads: far more than any duration needs.
const MAX_PREFIX_TOKENS: usize = 64;

struct TimeUnit {
    seconds: u64,
    /// Singular and plural for speech.
    singular: &'static str,
    plural: &'static str,
    /// Words and abbreviations, lowercase.
    words: &'static [&'static str],
    /// The one-letter symbol, accepted only after digits ("2h", "30 m", not "two h").
    letter: &'static str,
}

/// Largest first: components must go down this list.
static UNITS: [TimeUnit; 5] = [
    TimeUnit {
        seconds: 7 * 86_400,
        singular: "week",
        plural: "weeks",
        words: &["week", "weeks", "wk", "wks"],
        letter: "w",
    },
    TimeUnit {
        seconds: 86_400,
        singular: "day",
        plural: "days",
        words: &["day", "days"],
        letter: "d",
    },
    TimeUnit {
        seconds: 3_600,
        singular: "hour",
        plural: "hours",
        words: &["hour", "hours", "hr", "hrs"],
        letter: "h",
    },
    TimeUnit {
        seconds: 60,
        singular: "minute",
        plural: "minutes",
        words: &["minute", "minutes", "min", "mins"],
        letter: "m",
    },
    TimeUnit {
        seconds: 1,
        singular: "second",
        plural: "seconds",
        words: &["second", "seconds", "sec", "secs"],
        letter: "s",
    },
];

/// The unit at `token`, as an index into [`UNITS`].
fn time_unit(token: &Token<'_>, after_digits: bool) -> Option<usize> {
    if !token.is_word() {
        return None;
    }
    UNITS
        .iter()
        .position(|unit| token.is_any(unit.words) || (after_digits && token.is(unit.letter)))
}

/// Whether `token` names a time unit ("minutes", "hrs"; one-letter symbols excluded).
pub(crate) fn is_time_unit_word(token: &Token<'_>) -> bool {
    time_unit(token, false).is_some()
}

/// The duration starting at `tokens[at]`, in exact seconds, and the index after it.
pub(crate) fn duration_at(tokens: &[Token<'_>], at: usize) -> Option<(BigRational, usize)> {
    let mut total = BigRational::zero();
    let mut index = at;
    let mut smallest_so_far: Option<usize> = None;
    loop {
        let start = match smallest_so_far {
            Some(_) if tokens.get(index).is_some_and(|token| token.is("and")) => index + 1,
            Some(_) if tokens.get(index).is_some_and(|token| token.is_symbol(',')) => index + 1,
            _ => index,
        };
        let Some((value, unit, next)) = component(tokens, start, smallest_so_far) else {
            break;
        };
        total += value;
        index = next;
        smallest_so_far = Some(unit);
    }
    smallest_so_far.map(|_| (total, index))
}

/// One "quantity unit" component whose unit is smaller than `larger_than`, with an optional
/// "and a half" ("an hour and a half") and, after a one-letter unit, a bare number for the
/// next unit down ("1h30" is 1 hour 30 minutes). Returns seconds, the smallest unit used and
/// the next index.
fn component(
    tokens: &[Token<'_>],
    at: usize,
    larger_than: Option<usize>,
) -> Option<(BigRational, usize, usize)> {
    let amount = numbers::quantity(tokens, at, true)?;
    let mut index = amount.next;
    // "10-minute": a hyphen between the number and the unit.
    if let Some(hyphen) = tokens.get(index)
        && hyphen.is_symbol('-')
        && glued(&tokens[index - 1], hyphen)
    {
        index += 1;
    }
    let unit_token = tokens.get(index)?;
    let unit = time_unit(unit_token, amount.form == Form::Digits)?;
    if larger_than.is_some_and(|larger| unit <= larger) {
        return None;
    }
    index += 1;
    let unit_seconds = integer(UNITS[unit].seconds);
    let mut seconds = &amount.value * &unit_seconds;
    if amount.value.is_integer()
        && let Some((fraction, next)) = numbers::and_a_fraction(tokens, index)
    {
        return Some((seconds + fraction * unit_seconds, unit, next));
    }
    let letter_used = unit_token.is(UNITS[unit].letter);
    if letter_used
        && let (Some(smaller), Some(bare)) = (UNITS.get(unit + 1), tokens.get(index))
        && bare.is_plain_digits()
        && glued(unit_token, bare)
        && !tokens
            .get(index + 1)
            .is_some_and(|after| after.kind == Kind::Word && glued(bare, after))
        && let Some(count) = bare.number()
    {
        seconds += count * integer(smaller.seconds);
        return Some((seconds, unit + 1, index + 1));
    }
    Some((seconds, unit, index))
}

/// Exact seconds rounded to the nearest second, saturating at `u64::MAX` seconds.
pub(crate) fn to_duration(seconds: &BigRational) -> Duration {
    let rounded = seconds.round().to_integer();
    if rounded.is_negative() {
        return Duration::ZERO;
    }
    Duration::from_secs(rounded.to_u64().unwrap_or(u64::MAX))
}

/// Whether `token` can start a quantity: a digit, a number word or one of the words that
/// begin "half an hour", "a minute", "a couple of", "quarter of an hour".
pub(crate) fn may_start_quantity(token: &Token<'_>) -> bool {
    match token.kind {
        Kind::Number => true,
        Kind::Word => {
            token.is_any(&["a", "an", "half", "quarter", "couple"])
                || math::number_word(token.text).is_some()
        }
        Kind::Symbol => false,
    }
}

/// The whole of `text` as a duration: "10 minutes", "10 min", "1 hour 30 minutes", "1 hour
/// and 30 minutes", "an hour and a half", "half an hour", "a minute and a half",
/// "90 seconds", "3 secs", "1.5 hours", "2h30m", "forty minutes", "a day", "2 days",
/// "a week". Trailing sentence punctuation is ignored; fractional seconds round to the
/// nearest second; there is no upper limit ("99999999999999 days" parses, and anything past
/// `u64::MAX` seconds saturates there).
pub fn parse_duration(text: &str) -> Option<Duration> {
    if !lexer::Lexer::new(text)
        .next()
        .is_some_and(|first| may_start_quantity(&first))
    {
        return None;
    }
    let tokens = lexer::tokenize(text);
    let tokens = lexer::trim_trailing_punctuation(&tokens);
    let (seconds, next) = duration_at(tokens, 0)?;
    (next == tokens.len()).then(|| to_duration(&seconds))
}

/// The longest duration at the start of `text` and the bytes it takes (leading whitespace
/// included): "20 minutes to call mom" is 20 minutes and 10 bytes.
pub fn parse_duration_prefix(text: &str) -> Option<(Duration, usize)> {
    let mut lexer = lexer::Lexer::new(text);
    let first = lexer.next()?;
    if !may_start_quantity(&first) {
        return None;
    }
    let tokens: Vec<Token<'_>> = std::iter::once(first)
        .chain(lexer.take(MAX_PREFIX_TOKENS))
        .collect();
    let (seconds, next) = duration_at(&tokens, 0)?;
    Some((to_duration(&seconds), tokens[next - 1].end()))
}

/// The largest units of a duration. [`speak_duration`] speaks at most two.
const SPOKEN_UNITS: [usize; 4] = [1, 2, 3, 4];

/// A duration for speech, in its two largest units, singular or plural as needed:
/// "10 minutes", "1 hour and 30 minutes", "1 minute and 5 seconds", "2 days and 3 hours".
///
/// The duration is first rounded to the nearest second. When it has more than two non-zero
/// units, the second one spoken is the next non-zero unit and everything smaller is rounded
/// into it (half up): 1 hour 2 minutes 40 seconds is "1 hour and 3 minutes", 23 hours 59
/// minutes 40 seconds is "1 day". Durations are spoken in days, hours, minutes and seconds
/// (a week is "7 days"); zero is "0 seconds".
pub fn speak_duration(duration: Duration) -> String {
    let seconds = duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() >= 500_000_000));
    let seconds = round_to_two_units(seconds);
    let mut parts = Vec::with_capacity(2);
    let mut rest = seconds;
    for unit in SPOKEN_UNITS.map(|index| &UNITS[index]) {
        let count = rest / unit.seconds;
        rest %= unit.seconds;
        if count > 0 {
            let name = if count == 1 {
                unit.singular
            } else {
                unit.plural
            };
            parts.push(format!("{count} {name}"));
        }
    }
    match parts.as_slice() {
        [] => "0 seconds".to_string(),
        [only] => only.clone(),
        [first, second] => format!("{first} and {second}"),
        _ => parts.join(", "),
    }
}

/// `seconds` with everything below its two largest non-zero units rounded into the second.
fn round_to_two_units(seconds: u64) -> u64 {
    let units = SPOKEN_UNITS.map(|index| UNITS[index].seconds);
    let Some(top) = units.iter().position(|&unit| seconds >= unit) else {
        return seconds;
    };
    let remainder = seconds % units[top];
    let Some(&second) = units[top + 1..].iter().find(|&&unit| remainder >= unit) else {
        return seconds;
    };
    let rounded = (remainder / second + u64::from(remainder % second >= second.div_ceil(2)))
        .saturating_mul(second);
    (seconds - remainder).saturating_add(rounded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Instant;

    fn secs(seconds: u64) -> Option<Duration> {
        Some(Duration::from_secs(seconds))
    }

    #[test]
    fn durations_table() {
        let table: &[(&str, u64)] = &[
            ("10 minutes", 600),
            ("10 min", 600),
            ("10 mins", 600),
            ("10min", 600),
            ("10m", 600),
            ("1 hour 30 minutes", 5_400),
            ("1 hour and 30 minutes", 5_400),
            ("1 hour, 30 minutes", 5_400),
            ("an hour and a half", 5_400),
            ("one and a half hours", 5_400),
            ("1.5 hours", 5_400),
            ("half an hour", 1_800),
            ("a half hour", 1_800),
            ("half hour", 1_800),
            ("a quarter of an hour", 900),
            ("quarter of an hour", 900),
            ("three quarters of an hour", 2_700),
            ("a minute and a half", 90),
            ("90 seconds", 90),
            ("3 secs", 3),
            ("3 sec", 3),
            ("3s", 3),
            ("2h30m", 9_000),
            ("2h 30m", 9_000),
            ("2 h 30 m", 9_000),
            ("1h30", 5_400),
            ("5m30s", 330),
            ("forty minutes", 2_400),
            ("forty-five minutes", 2_700),
            ("twenty five seconds", 25),
            ("a day", 86_400),
            ("2 days", 172_800),
            ("a week", 604_800),
            ("2 days and 3 hours", 183_600),
            ("1 day, 2 hours and 3 minutes", 93_780),
            ("an hour", 3_600),
            ("a couple of minutes", 120),
            ("10-minute", 600),
            ("ten-minute", 600),
            ("1.5 seconds", 2),
            ("0.4 seconds", 0),
            ("2.5 minutes", 150),
            ("a hundred and five seconds", 105),
            ("1,000 seconds", 1_000),
            ("1 hr 5 mins", 3_900),
            ("10 Minutes.", 600),
            ("3 weeks", 1_814_400),
            ("1 minute and 5 seconds", 65),
            ("2 and a half minutes", 150),
            ("an hour and a quarter", 4_500),
        ];
        for (text, seconds) in table {
            assert_eq!(parse_duration(text), secs(*seconds), "{text:?}");
        }
    }

    #[test]
    fn non_durations_table() {
        for text in [
            "",
            "10",
            "minutes",
            "ten",
            "a",
            "10 minutes 5 hours",
            "30 minutes 30 minutes",
            "10 minutes to call mom",
            "two h",
            "an hour and",
            "5 kg",
            "what time is it",
            "10 metres",
            "1 hour and 30",
            "- 5 minutes",
            "-5 minutes",
        ] {
            assert_eq!(parse_duration(text), None, "{text:?}");
        }
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        assert_eq!(
            parse_duration("99999999999999 days"),
            secs(99_999_999_999_999 * 86_400)
        );
        assert_eq!(parse_duration("999999999999999 days"), secs(u64::MAX));
        let hundred_nines = format!("{} weeks", "9".repeat(100));
        assert_eq!(parse_duration(&hundred_nines), secs(u64::MAX));
        let too_many_digits = format!("{} weeks", "9".repeat(101));
        assert_eq!(parse_duration(&too_many_digits), None);
        assert_eq!(speak_duration(Duration::MAX), speak_duration(Duration::MAX));
    }

    #[test]
    fn prefixes_stop_where_the_duration_ends() {
        assert_eq!(
            parse_duration_prefix("20 minutes to call mom"),
            Some((Duration::from_secs(1_200), 10))
        );
        assert_eq!(
            parse_duration_prefix("an hour and a half, please"),
            Some((Duration::from_secs(5_400), 18))
        );
        assert_eq!(
            parse_duration_prefix("1 hour and then some"),
            Some((Duration::from_secs(3_600), 6))
        );
        assert_eq!(
            parse_duration_prefix("5 minutes 5 minutes"),
            Some((Duration::from_secs(300), 9))
        );
        assert_eq!(parse_duration_prefix("to call mom"), None);
        assert_eq!(parse_duration_prefix(""), None);
    }

    #[test]
    fn spoken_durations_table() {
        let table: &[(u64, &str)] = &[
            (600, "10 minutes"),
            (5_400, "1 hour and 30 minutes"),
            (65, "1 minute and 5 seconds"),
            (183_600, "2 days and 3 hours"),
            (1, "1 second"),
            (2, "2 seconds"),
            (3_600, "1 hour"),
            (86_400, "1 day"),
            (604_800, "7 days"),
            (0, "0 seconds"),
            (86_400 + 300, "1 day and 5 minutes"),
            (3_600 + 120 + 40, "1 hour and 3 minutes"),
            (3_600 + 120 + 29, "1 hour and 2 minutes"),
            (3_600 + 120 + 30, "1 hour and 3 minutes"),
            (23 * 3_600 + 59 * 60 + 40, "1 day"),
            (86_400 + 59 * 60 + 45, "1 day and 1 hour"),
            (59 * 60 + 59, "59 minutes and 59 seconds"),
        ];
        for (seconds, expected) in table {
            assert_eq!(
                speak_duration(Duration::from_secs(*seconds)),
                *expected,
                "{seconds}"
            );
        }
        assert_eq!(speak_duration(Duration::from_millis(1_500)), "2 seconds");
        assert_eq!(speak_duration(Duration::from_millis(1_499)), "1 second");
    }

    /// The error of [`speak_duration`]'s rounding: half its second unit.
    fn allowed_error(seconds: u64) -> u64 {
        let units = [86_400, 3_600, 60, 1];
        let Some(top) = units.iter().position(|&unit| seconds >= unit) else {
            return 0;
        };
        let remainder = seconds % units[top];
        units[top + 1..]
            .iter()
            .find(|&&unit| remainder >= unit)
            .map_or(0, |unit| unit / 2)
    }

    proptest! {
        #[test]
        fn spoken_durations_parse_back(seconds in 1u64..=7 * 86_400) {
            let spoken = speak_duration(Duration::from_secs(seconds));
            let parsed = parse_duration(&spoken).expect("the spoken form parses");
            let difference = parsed.as_secs().abs_diff(seconds);
            prop_assert!(difference <= allowed_error(seconds), "{} for {}", spoken, seconds);
            // Speaking is idempotent: the parsed value has at most two units.
            prop_assert_eq!(speak_duration(parsed), spoken);
        }

        #[test]
        fn two_unit_durations_round_trip_exactly(
            first in 0usize..4,
            second in 0usize..4,
            a in 1u64..=6,
            b in 1u64..=23,
        ) {
            let units = [86_400u64, 3_600, 60, 1];
            let (big, small) = (first.min(second), first.max(second));
            let seconds = if big == small {
                a * units[big]
            } else {
                a * units[big] + b.min(units[small - 1] / units[small] - 1) * units[small]
            };
            let spoken = speak_duration(Duration::from_secs(seconds));
            prop_assert_eq!(parse_duration(&spoken), Some(Duration::from_secs(seconds)), "{}", spoken);
        }

        #[test]
        fn never_panics_and_is_fast(input in "\\PC{0,1000}") {
            let started = Instant::now();
            let _ = parse_duration(&input);
            if let Some((_, length)) = parse_duration_prefix(&input) {
                prop_assert!(length <= input.len() && input.is_char_boundary(length));
            }
            prop_assert!(started.elapsed() < Duration::from_secs(1));
        }

        #[test]
        fn duration_shaped_noise_is_fast(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "1", "10", "a", "an", "half", "and", "hour", "minutes", "h", "m", "s",
                    "-", ",", "quarter", "of", "twenty", "five", "days", "2h30m", "1.5",
                ]),
                0..300,
            )
        ) {
            let started = Instant::now();
            let text = words.join(" ");
            let _ = parse_duration(&text);
            let _ = parse_duration_prefix(&text);
            let _ = parse_duration(&words.concat());
            prop_assert!(started.elapsed() < Duration::from_secs(1));
        }
    }
}
