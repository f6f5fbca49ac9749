//! Spoken and written quantities ("10", "1.5", "1,000", "3/4", "forty-five", "a hundred and
//! five", "a couple of", "half", "one and a half", "three quarters of an") as exact
//! [`Number`]s, and the rounded number format used in speech ("8.05", "5,280").
//!
//! Digit literals and number words are read by the calculator's own readers
//! ([`math::read_digit_literal`], [`math::spoken_number_prefix`]), so "twenty one" or "1,000"
//! mean the same to the calculator, the timers and the unit converter. This module adds what
//! only quantities have: articles, halves and quarters, couples, simple fractions and signs.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

use crate::assistant::lexer::{self, Kind, Token, glued};
use crate::assistant::math::{self, Number};

/// Significant digits of a rounded spoken value ([`speak_rounded`]).
pub const SPOKEN_SIGNIFICANT_DIGITS: u32 = 3;

/// Longest run of number words looked at ("nine hundred and ninety nine thousand …").
const MAX_NUMBER_WORDS: usize = 40;

/// How a quantity was written: durations accept "2h" only after digits, and "an hour and a
/// half" only after a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// "10", "1.5", "3/4"
    Digits,
    /// "ten", "half", "a couple of", "one and a half"
    Words,
    /// "a" or "an" standing for one ("an hour")
    Article,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quantity {
    pub(crate) value: BigRational,
    /// Index of the first token after the quantity.
    pub(crate) next: usize,
    pub(crate) form: Form,
}

fn ratio(numerator: i64, denominator: i64) -> BigRational {
    BigRational::new(numerator.into(), denominator.into())
}

/// The quantity starting at `tokens[at]`, unsigned. With `allow_article`, a lone "a"/"an"
/// is one ("an hour"); "a hundred", "a half", "a quarter" and "a couple" always count.
pub(crate) fn quantity(tokens: &[Token<'_>], at: usize, allow_article: bool) -> Option<Quantity> {
    let first = tokens.get(at)?;
    let words = |value: BigRational, next: usize| Quantity {
        value,
        next,
        form: Form::Words,
    };
    if first.is("half") {
        // "half an hour", "half a minute": the article belongs to the half.
        return Some(words(ratio(1, 2), skip_article(tokens, at + 1)));
    }
    if first.is("quarter") {
        return Some(words(ratio(1, 4), skip_of_article(tokens, at + 1)));
    }
    if first.is("couple") {
        return Some(words(
            BigRational::from_integer(2.into()),
            skip_of(tokens, at + 1),
        ));
    }
    if first.is_any(&["a", "an"]) {
        let second = tokens.get(at + 1);
        if second.is_some_and(|token| token.is("half")) {
            return Some(words(ratio(1, 2), at + 2));
        }
        if second.is_some_and(|token| token.is("quarter")) {
            return Some(words(ratio(1, 4), skip_of_article(tokens, at + 2)));
        }
        if second.is_some_and(|token| token.is("couple")) {
            return Some(words(
                BigRational::from_integer(2.into()),
                skip_of(tokens, at + 2),
            ));
        }
        if first.is("a")
            && let Some(spoken) = number_words(tokens, at)
        {
            return Some(spoken);
        }
        return allow_article.then(|| Quantity {
            value: BigRational::one(),
            next: at + 1,
            form: Form::Article,
        });
    }
    let base = digits(tokens, at).or_else(|| number_words(tokens, at))?;
    Some(with_fraction_suffix(tokens, base))
}

/// "three quarters of an", "one and a half", "2 and a quarter" after a number.
fn with_fraction_suffix(tokens: &[Token<'_>], mut base: Quantity) -> Quantity {
    let at = base.next;
    if tokens
        .get(at)
        .is_some_and(|token| token.is_any(&["quarters", "quarter"]))
    {
        base.value /= BigRational::from_integer(4.into());
        base.next = skip_of_article(tokens, at + 1);
        base.form = Form::Words;
        return base;
    }
    if base.value.is_integer()
        && let Some((fraction, next)) = and_a_fraction(tokens, at)
    {
        base.value += fraction;
        base.next = next;
        base.form = Form::Words;
    }
    base
}

/// "and a half", "and a quarter", "and three quarters" at `tokens[at]`.
pub(crate) fn and_a_fraction(tokens: &[Token<'_>], at: usize) -> Option<(BigRational, usize)> {
    const FRACTIONS: [(&str, i64, i64); 4] = [
        ("and a half", 1, 2),
        ("and one half", 1, 2),
        ("and a quarter", 1, 4),
        ("and three quarters", 3, 4),
    ];
    FRACTIONS
        .iter()
        .find_map(|&(phrase, numerator, denominator)| {
            lexer::match_phrase(tokens, at, phrase)
                .map(|next| (ratio(numerator, denominator), next))
        })
}

fn skip_article(tokens: &[Token<'_>], at: usize) -> usize {
    if tokens
        .get(at)
        .is_some_and(|token| token.is_any(&["a", "an"]))
    {
        at + 1
    } else {
        at
    }
}

fn skip_of(tokens: &[Token<'_>], at: usize) -> usize {
    if tokens.get(at).is_some_and(|token| token.is("of")) {
        at + 1
    } else {
        at
    }
}

/// "of an" in "a quarter of an hour"; a bare "an" ("a quarter an hour") is not English.
fn skip_of_article(tokens: &[Token<'_>], at: usize) -> usize {
    let after_of = skip_of(tokens, at);
    if after_of > at {
        skip_article(tokens, after_of)
    } else {
        at
    }
}

/// A digit literal, a fraction "3/4" or a mixed number "1 1/2".
fn digits(tokens: &[Token<'_>], at: usize) -> Option<Quantity> {
    let literal = tokens.get(at)?;
    let mut value = literal.number()?;
    let mut next = at + 1;
    if let Some((fraction, after)) = simple_fraction(tokens, at) {
        value = fraction;
        next = after;
    } else if value.is_integer()
        && let Some((fraction, after)) = simple_fraction(tokens, next)
        && fraction < BigRational::one()
    {
        value += fraction;
        next = after;
    }
    Some(Quantity {
        value,
        next,
        form: Form::Digits,
    })
}

/// "3/4" written without spaces, with a non-zero denominator.
fn simple_fraction(tokens: &[Token<'_>], at: usize) -> Option<(BigRational, usize)> {
    let (numerator, slash, denominator) =
        (tokens.get(at)?, tokens.get(at + 1)?, tokens.get(at + 2)?);
    let shaped = numerator.is_plain_digits()
        && slash.is_symbol('/')
        && denominator.is_plain_digits()
        && glued(numerator, slash)
        && glued(slash, denominator);
    if !shaped {
        return None;
    }
    let denominator = denominator.number()?;
    if denominator.is_zero() {
        return None;
    }
    Some((numerator.number()? / denominator, at + 3))
}

/// A run of number words ("forty-five", "a hundred and five", "three point five").
fn number_words(tokens: &[Token<'_>], at: usize) -> Option<Quantity> {
    let mut run = Vec::new();
    let mut positions = Vec::new();
    let mut index = at;
    while run.len() < MAX_NUMBER_WORDS {
        let Some(token) = tokens.get(index) else {
            break;
        };
        if token.kind == Kind::Symbol && token.is_symbol('-') && !run.is_empty() {
            // "forty-five": a hyphen glued between two number words.
            let joins = tokens.get(index + 1).is_some_and(|next| {
                glued(&tokens[index - 1], token)
                    && glued(token, next)
                    && next.is_word()
                    && math::number_word(next.text).is_some()
            });
            if joins {
                index += 1;
                continue;
            }
            break;
        }
        let Some(word) = token
            .is_word()
            .then(|| math::number_word(token.text))
            .flatten()
        else {
            break;
        };
        run.push(word);
        positions.push(index);
        index += 1;
    }
    let (value, consumed) = math::spoken_number_prefix(&run)?;
    let value = value?;
    Some(Quantity {
        value,
        next: positions[consumed - 1] + 1,
        form: Form::Words,
    })
}

/// A quantity with an optional sign: "-40", "−3", "minus 5", "negative 2".
pub(crate) fn signed_quantity(
    tokens: &[Token<'_>],
    at: usize,
    allow_article: bool,
) -> Option<Quantity> {
    let first = tokens.get(at)?;
    let negative_sign = (first.is_symbol('-') || first.is_symbol('\u{2212}'))
        && tokens
            .get(at + 1)
            .is_some_and(|next| next.is_number() && glued(first, next));
    let negative_word = first.is_any(&["minus", "negative"]);
    if negative_sign || negative_word {
        let mut magnitude = quantity(tokens, at + 1, false)?;
        magnitude.value = -magnitude.value;
        return Some(magnitude);
    }
    quantity(tokens, at, allow_article)
}

/// The whole of `text` as one quantity: "10", "1.5", "1,000", "3/4", "ten", "forty-five",
/// "twenty one", "a hundred and five", "a"/"an" (one), "half", "a couple of", "one and a
/// half", "three quarters", "-40", "minus 5". Trailing sentence punctuation is ignored.
pub fn parse_number(text: &str) -> Option<Number> {
    let tokens = lexer::tokenize(text);
    let tokens = lexer::trim_trailing_punctuation(&tokens);
    let found = signed_quantity(tokens, 0, true)?;
    (found.next == tokens.len()).then(|| Number::from_rational(found.value))
}

/// The longest quantity at the start of `text` (see [`parse_number`]) and the number of bytes
/// it takes, leading whitespace included: `parse_number_prefix("20 minutes")` is 20 and 2.
pub fn parse_number_prefix(text: &str) -> Option<(Number, usize)> {
    let mut lexer = lexer::Lexer::new(text);
    // Cheap refusal before collecting tokens: a quantity starts with a digit, a sign or a word.
    let first = lexer.next()?;
    if first.kind == Kind::Symbol && !(first.is_symbol('-') || first.is_symbol('\u{2212}')) {
        return None;
    }
    let tokens: Vec<Token<'_>> = std::iter::once(first)
        .chain(lexer.take(MAX_NUMBER_WORDS * 2))
        .collect();
    let found = signed_quantity(&tokens, 0, true)?;
    let end = tokens[found.next - 1].end();
    Some((Number::from_rational(found.value), end))
}

/// `value` for speech: whole values exactly with thousands separators ("5,280", "-40"),
/// others rounded to [`SPOKEN_SIGNIFICANT_DIGITS`] significant digits ("8.05", "22.2",
/// "0.000123", "1,610").
pub fn speak_rounded(value: &Number) -> String {
    if value.is_integer() {
        speak_exact(value)
    } else {
        format_significant(value, SPOKEN_SIGNIFICANT_DIGITS)
    }
}

/// `value` exactly as the calculator says it (at most nine decimals), with thousands
/// separators: "1,234.5", "5,280", "-0.25".
pub fn speak_exact(value: &Number) -> String {
    let plain = value.to_string();
    if plain.contains('e') {
        return plain;
    }
    let (sign, unsigned) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let mut spoken = format!("{sign}{}", group_thousands(whole));
    if let Some(fraction) = fraction {
        spoken.push('.');
        spoken.push_str(fraction);
    }
    spoken
}

/// `value` rounded half away from zero to `digits` significant digits (at least one), written
/// positionally with thousands separators and without trailing zeros: 8.04672 → "8.05",
/// 709.76 → "710", 1609.344 → "1,610", 0.000123456 → "0.000123".
pub fn format_significant(value: &Number, digits: u32) -> String {
    let value = value.as_rational();
    if value.is_zero() {
        return "0".to_string();
    }
    let digits = digits.max(1);
    let (significand, exponent) = math::round_significant(&value.abs(), digits);
    let significand = significand.to_string();
    let sign = if value.is_negative() { "-" } else { "" };
    // How many of the significand's digits stand before the point.
    let whole_digits = exponent + 1;
    let length = significand.len() as i64;
    if whole_digits >= length {
        let zeros = "0".repeat((whole_digits - length) as usize);
        return format!(
            "{sign}{}",
            group_thousands(&format!("{significand}{zeros}"))
        );
    }
    let (whole, fraction) = if whole_digits <= 0 {
        let zeros = "0".repeat(whole_digits.unsigned_abs() as usize);
        ("0".to_string(), format!("{zeros}{significand}"))
    } else {
        let (whole, fraction) = significand.split_at(whole_digits as usize);
        (group_thousands(whole), fraction.to_string())
    };
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// "5280" → "5,280"; `digits` are ASCII digits.
fn group_thousands(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// An integer as a big rational (helper for the unit and duration tables).
pub(crate) fn integer(value: impl Into<BigInt>) -> BigRational {
    BigRational::from_integer(value.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    fn number(text: &str) -> Option<String> {
        parse_number(text).map(|value| value.to_string())
    }

    #[test]
    fn quantities_table() {
        let table: &[(&str, &str)] = &[
            ("10", "10"),
            ("1.5", "1.5"),
            ("1,000", "1000"),
            ("0.25", "0.25"),
            ("3/4", "0.75"),
            ("1 1/2", "1.5"),
            ("ten", "10"),
            ("Ten", "10"),
            ("forty-five", "45"),
            ("forty five", "45"),
            ("twenty one", "21"),
            ("a hundred and five", "105"),
            ("one thousand two hundred", "1200"),
            ("three point five", "3.5"),
            ("a", "1"),
            ("an", "1"),
            ("half", "0.5"),
            ("a half", "0.5"),
            ("half an", "0.5"),
            ("a quarter", "0.25"),
            ("a quarter of an", "0.25"),
            ("quarter", "0.25"),
            ("three quarters", "0.75"),
            ("three quarters of a", "0.75"),
            ("a couple of", "2"),
            ("a couple", "2"),
            ("couple of", "2"),
            ("one and a half", "1.5"),
            ("2 and a half", "2.5"),
            ("two and a quarter", "2.25"),
            ("one and three quarters", "1.75"),
            ("zero", "0"),
            ("-40", "-40"),
            ("minus 5", "-5"),
            ("negative two", "-2"),
            ("10.", "10"),
            ("five?", "5"),
        ];
        for (text, expected) in table {
            assert_eq!(number(text).as_deref(), Some(*expected), "{text:?}");
        }
    }

    #[test]
    fn non_quantities_table() {
        for text in [
            "",
            "hello",
            "one direction",
            "a bus",
            "5 +",
            "1/0",
            "- 5",
            "five five",
            "1,00",
            "and",
            "point",
            "the",
            "a a",
        ] {
            assert_eq!(number(text), None, "{text:?}");
        }
    }

    #[test]
    fn prefixes_report_bytes() {
        let prefix = |text: &str| {
            parse_number_prefix(text).map(|(value, length)| (value.to_string(), length))
        };
        assert_eq!(prefix("20 minutes"), Some(("20".into(), 2)));
        assert_eq!(prefix(" forty-five minutes"), Some(("45".into(), 11)));
        assert_eq!(prefix("an hour"), Some(("1".into(), 2)));
        assert_eq!(prefix("one and a half hours"), Some(("1.5".into(), 14)));
        assert_eq!(prefix("half an hour"), Some(("0.5".into(), 7)));
        assert_eq!(prefix("a couple of minutes"), Some(("2".into(), 11)));
        assert_eq!(prefix("minutes"), None);
        assert_eq!(prefix("?5"), None);
    }

    #[test]
    fn rounded_speech_table() {
        let value = |text: &str| parse_number(text).expect("a number");
        let table = [
            ("8.04672", "8.05"),
            ("22.2222", "22.2"),
            ("709.76", "710"),
            ("1609.344", "1,610"),
            ("0.000123456", "0.000123"),
            ("2.2046", "2.2"),
            ("0.99999", "1"),
            ("5280", "5,280"),
            ("1000000", "1,000,000"),
            ("-40", "-40"),
            ("-17.7777", "-17.8"),
            ("0.5", "0.5"),
            ("999.5", "1,000"),
            ("0", "0"),
        ];
        for (text, expected) in table {
            assert_eq!(speak_rounded(&value(text)), expected, "{text}");
        }
        assert_eq!(speak_exact(&value("1234.5")), "1,234.5");
        assert_eq!(speak_exact(&value("-1234567")), "-1,234,567");
        assert_eq!(format_significant(&value("123456"), 3), "123,000");
        assert_eq!(format_significant(&value("0.5"), 0), "0.5");
    }

    proptest! {
        #[test]
        fn never_panics_and_is_fast(input in "\\PC{0,1000}") {
            let started = Instant::now();
            let _ = parse_number(&input);
            if let Some((_, length)) = parse_number_prefix(&input) {
                prop_assert!(input.is_char_boundary(length) && length <= input.len());
            }
            prop_assert!(started.elapsed() < Duration::from_secs(1));
        }

        #[test]
        fn number_word_noise_is_fast(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "one", "twenty", "hundred", "thousand", "and", "a", "half", "quarter",
                    "quarters", "of", "an", "couple", "point", "-", "1", "/", "2", "minus",
                ]),
                0..300,
            )
        ) {
            let started = Instant::now();
            let _ = parse_number(&words.join(" "));
            let _ = parse_number(&words.concat());
            prop_assert!(started.elapsed() < Duration::from_secs(1));
        }

        #[test]
        fn integers_parse_back(value in 0u64..1_000_000_000_000u64) {
            let written = value.to_string();
            prop_assert_eq!(parse_number(&written), Some(Number::from(value as i64)));
            let grouped = speak_exact(&Number::from(value as i64));
            prop_assert_eq!(parse_number(&grouped), Some(Number::from(value as i64)));
        }

        #[test]
        fn rounding_keeps_three_significant_digits(numerator in 1i64..i64::MAX, scale in 0u32..30) {
            let exact = BigRational::new(numerator.into(), BigInt::from(10u32).pow(scale));
            let spoken = format_significant(&Number::from_rational(exact.clone()), 3);
            let back = parse_number(&spoken).expect("the spoken form parses");
            let error = (back.as_rational() - &exact).abs() / &exact;
            prop_assert!(error <= ratio(5, 1000), "{} for {}", spoken, exact);
        }
    }
}
