//! The calculator: a tokenizer for written and spoken arithmetic, a recursive-descent
//! parser that evaluates with exact rationals, and the spoken number format.
//!
//! Nothing here can stall or panic: expressions, literals, nesting and every intermediate
//! value are bounded (see the `MAX_*` constants).

use std::fmt;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

/// Longest expression (in characters) the calculator accepts.
pub const MAX_EXPRESSION_CHARS: usize = 200;
/// Most digits in one numeric literal, written or spoken.
pub const MAX_LITERAL_DIGITS: usize = 100;
/// Largest numerator or denominator, in bits, of any value the calculator produces.
pub const MAX_BITS: u64 = 4096;
/// Deepest parenthesis nesting the parser follows.
pub const MAX_NESTING: usize = 32;
/// Decimal places in the spoken format before rounding.
const DISPLAY_DECIMALS: u32 = 9;
/// Significant digits in the scientific form used for tiny values.
const SCIENTIFIC_DIGITS: u32 = 9;
/// `MAX_BITS` is at most 1234 decimal digits; two of those, a sign and a slash fit.
const MAX_STORED_CHARS: usize = 2500;

/// An exact rational number: a calculator result.
#[derive(Debug, Clone, PartialEq)]
pub struct Number(BigRational);

impl Number {
    /// `p` for integers, `p/q` otherwise, in lowest terms; [`Number::from_stored`] reads it back exactly.
    pub fn to_stored(&self) -> String {
        if self.0.is_integer() {
            self.0.numer().to_string()
        } else {
            format!("{}/{}", self.0.numer(), self.0.denom())
        }
    }

    /// Parses `p` or `p/q` (ASCII digits, optional leading `-` on `p`, `q` non-zero).
    /// Anything else, or a value beyond the calculator's bounds, gives `None`.
    pub fn from_stored(stored: &str) -> Option<Number> {
        if stored.is_empty() || stored.len() > MAX_STORED_CHARS {
            return None;
        }
        let (numerator, denominator) = match stored.split_once('/') {
            Some((numerator, denominator)) => (numerator, Some(denominator)),
            None => (stored, None),
        };
        let numerator = parse_stored_integer(numerator, true)?;
        let denominator = match denominator {
            Some(denominator) => parse_stored_integer(denominator, false)?,
            None => BigInt::one(),
        };
        if denominator.is_zero() {
            return None;
        }
        bounded(BigRational::new(numerator, denominator))
            .ok()
            .map(Number)
    }

    pub fn is_integer(&self) -> bool {
        self.0.is_integer()
    }

    /// The exact value, for the other parsers in this crate (units, durations).
    pub(crate) fn as_rational(&self) -> &BigRational {
        &self.0
    }

    /// Wraps an exact value computed elsewhere in this crate. The caller keeps it within
    /// the calculator's bounds (the unit converter's values are products of bounded literals
    /// and small constant factors).
    pub(crate) fn from_rational(value: BigRational) -> Number {
        Number(value)
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Self {
        Number(BigRational::from_integer(value.into()))
    }
}

fn parse_stored_integer(text: &str, allow_minus: bool) -> Option<BigInt> {
    let digits = match text.strip_prefix('-') {
        Some(rest) if allow_minus => rest,
        _ => text,
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    BigInt::parse_bytes(text.as_bytes(), 10)
}

/// The spoken format: integers exactly (`-5`, `25`); other values rounded to at most nine
/// decimal places without trailing zeros (`3.333333333`, `0.3`); non-zero values that would
/// round to zero in scientific form with up to nine significant digits (`1.5e-10`).
impl fmt::Display for Number {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = &self.0;
        if value.is_integer() {
            return write!(formatter, "{}", value.numer());
        }
        let sign = if value.is_negative() { "-" } else { "" };
        let magnitude = value.abs();
        let scaled = (&magnitude * BigRational::from_integer(ten_to(DISPLAY_DECIMALS))).round();
        if scaled.is_zero() {
            let (mantissa, exponent) = scientific(&magnitude);
            return write!(formatter, "{sign}{mantissa}e{exponent}");
        }
        let digits = format!(
            "{:0>width$}",
            scaled.numer().to_string(),
            width = DISPLAY_DECIMALS as usize + 1
        );
        let (whole, fraction) = digits.split_at(digits.len() - DISPLAY_DECIMALS as usize);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            write!(formatter, "{sign}{whole}")
        } else {
            write!(formatter, "{sign}{whole}.{fraction}")
        }
    }
}

fn ten_to(exponent: u32) -> BigInt {
    BigInt::from(10u32).pow(exponent)
}

/// `10^exponent` as a rational, for negative exponents too.
fn power_of_ten(exponent: i64) -> BigRational {
    let power = ten_to(u32::try_from(exponent.unsigned_abs()).unwrap_or(u32::MAX));
    if exponent >= 0 {
        BigRational::from_integer(power)
    } else {
        BigRational::new(BigInt::one(), power)
    }
}

/// A positive value rounded (half away from zero) to `digits` significant digits: the
/// significand as an integer of exactly `digits` digits and the decimal exponent of its first
/// digit, so the value is about `significand × 10^(exponent + 1 - digits)`.
pub(crate) fn round_significant(magnitude: &BigRational, digits: u32) -> (BigInt, i64) {
    let digit_count = |integer: &BigInt| integer.to_string().len() as i64;
    // The exponent is the digit-count difference or one less.
    let mut exponent = digit_count(magnitude.numer()) - digit_count(magnitude.denom());
    if *magnitude < power_of_ten(exponent) {
        exponent -= 1;
    }
    let shift = i64::from(digits) - 1 - exponent;
    let mut significand = (magnitude * power_of_ten(shift)).round().to_integer();
    if significand >= ten_to(digits) {
        // Rounding carried into a new digit (9.9999999996e-11 → 1e-10).
        significand /= 10;
        exponent += 1;
    }
    (significand, exponent)
}

/// The mantissa ("1.5") and decimal exponent (-10) of a positive value.
fn scientific(magnitude: &BigRational) -> (String, i64) {
    let (significand, exponent) = round_significant(magnitude, SCIENTIFIC_DIGITS);
    let digits = significand.to_string();
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let rest = rest.trim_end_matches('0');
    let mantissa = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}.{rest}")
    };
    (mantissa, exponent)
}

/// Why a calculation produced no number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathError {
    DivisionByZero,
    /// Not an arithmetic expression we can evaluate (`2 ** 10`, `1 2`, `5 +`).
    Malformed,
    /// Over [`MAX_EXPRESSION_CHARS`] characters or [`MAX_NESTING`] parentheses deep.
    TooLong,
    /// A literal over [`MAX_LITERAL_DIGITS`] digits or a value over [`MAX_BITS`] bits.
    TooLarge,
    /// A chained `* 2` or `/ 4` with nothing to continue from.
    NoPreviousResult,
}

impl MathError {
    /// What the assistant says instead of a number.
    pub fn sentence(&self) -> &'static str {
        match self {
            MathError::DivisionByZero => "I can't divide by zero.",
            MathError::Malformed => {
                "Sorry, I couldn't compute that. I can add, subtract, multiply and divide."
            }
            MathError::TooLong => "That calculation is too long for me. Try a shorter one.",
            MathError::TooLarge => "That number is too big for me to say.",
            MathError::NoPreviousResult => {
                "I don't have a previous result to work with. Try a full calculation like 5 + 10."
            }
        }
    }
}

impl fmt::Display for MathError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.sentence())
    }
}

impl std::error::Error for MathError {}

/// How a piece of text relates to the calculator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MathForm {
    /// Not arithmetic: some word or symbol is not a maths token, or there is nothing to compute.
    NotMath,
    /// A complete expression ("5 + 10", "five times three", and malformed ones like "1 2").
    Expression,
    /// Starts with a binary operator ("+ 6", "times 3"): continues the previous result.
    Chained,
}

/// Decides whether `expression` is something the calculator should answer.
///
/// It must consist only of maths tokens and contain a number plus either an operator or a
/// second written number: "5 + 5" and "1 2" are maths (the latter malformed); "five",
/// "one direction" and "what is x" are not.
pub(crate) fn classify(expression: &str) -> MathForm {
    let Some(tokens) = tokenize(trim_expression(expression)) else {
        return MathForm::NotMath;
    };
    let has_number = tokens
        .tokens
        .iter()
        .any(|token| matches!(token, Token::Number(_) | Token::Oversized));
    if !has_number {
        return MathForm::NotMath;
    }
    if tokens.tokens.first().is_some_and(Token::is_binary_operator) {
        return MathForm::Chained;
    }
    let has_operator = tokens.tokens.iter().any(|token| {
        token.is_binary_operator() || matches!(token, Token::Unsupported | Token::Percent)
    });
    if has_operator || tokens.digit_literals >= 2 {
        MathForm::Expression
    } else {
        MathForm::NotMath
    }
}

/// Evaluates an arithmetic expression exactly.
///
/// An expression that starts with a binary operator continues `previous`: with a previous
/// result of 15, "+ 6" is 21. Without one, a leading `+`/`-` is a sign and a leading
/// `*`/`/` is [`MathError::NoPreviousResult`].
pub fn evaluate(expression: &str, previous: Option<&Number>) -> Result<Number, MathError> {
    let expression = trim_expression(expression);
    if expression.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(MathError::TooLong);
    }
    let mut tokens = tokenize(expression).ok_or(MathError::Malformed)?.tokens;
    match tokens.first() {
        Some(first) if first.is_binary_operator() => match previous {
            Some(previous) => tokens.insert(0, Token::Number(previous.0.clone())),
            None if matches!(first, Token::Times | Token::Divide) => {
                return Err(MathError::NoPreviousResult);
            }
            None => {}
        },
        _ => {}
    }
    Parser::new(&tokens).parse().map(Number)
}

/// Drops surrounding whitespace and a closing `?`, `=`, `!`, `.` or "equals"
/// ("5 + 5 =", "5 + 5?", "two plus two equals").
fn trim_expression(expression: &str) -> &str {
    let closing_marks =
        |character: char| character.is_whitespace() || matches!(character, '?' | '=' | '!' | '.');
    let trimmed = expression.trim().trim_end_matches(closing_marks);
    let Some(split) = trimmed.len().checked_sub("equals".len()) else {
        return trimmed;
    };
    match (trimmed.get(..split), trimmed.get(split..)) {
        (Some(head), Some(tail))
            if tail.eq_ignore_ascii_case("equals") && head.ends_with(char::is_whitespace) =>
        {
            head.trim_end_matches(closing_marks)
        }
        _ => trimmed,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(BigRational),
    /// A literal with more than [`MAX_LITERAL_DIGITS`] digits.
    Oversized,
    /// Number words that do not form a number ("thousand" alone, "point" without digits).
    BadNumber,
    Plus,
    Minus,
    Times,
    Divide,
    /// Spoken "negative": a sign, never a binary operator.
    Negative,
    /// `^`: recognisably arithmetic, but not something this calculator does.
    Unsupported,
    /// `%` or "percent" after a number: divides it by 100 ("15% of 240" is 36).
    Percent,
    OpenParen,
    CloseParen,
}

impl Token {
    fn is_binary_operator(&self) -> bool {
        matches!(
            self,
            Token::Plus | Token::Minus | Token::Times | Token::Divide
        )
    }

    fn ends_operand(&self) -> bool {
        matches!(
            self,
            Token::Number(_)
                | Token::Oversized
                | Token::BadNumber
                | Token::CloseParen
                | Token::Percent
        )
    }

    fn starts_operand(&self) -> bool {
        matches!(
            self,
            Token::Number(_)
                | Token::Oversized
                | Token::BadNumber
                | Token::OpenParen
                | Token::Plus
                | Token::Minus
                | Token::Negative
        )
    }
}

/// A token before the words "x" and "over" are resolved: they are operators only
/// between two operands ("5 x 3", "10 over 4"); elsewhere they are ordinary words.
enum RawToken {
    Token(Token),
    LetterX,
    Over,
    /// "of" is multiplication right after a percentage ("15% of 240"), nothing elsewhere.
    Of,
}

struct Tokens {
    tokens: Vec<Token>,
    /// How many numbers were written with digits (for telling "1 2" from "one direction").
    digit_literals: usize,
}

/// A word that can be part of a spoken number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberWord {
    /// zero to nineteen
    Unit(u64),
    /// twenty, thirty, … ninety
    Tens(u64),
    Hundred,
    /// thousand, million, billion, trillion
    Scale(u64),
    Point,
    And,
    /// "a" as in "a hundred"
    A,
}

/// The number word `word` is, compared ASCII-case-insensitively ("Five" is five).
pub(crate) fn number_word(word: &str) -> Option<NumberWord> {
    const UNITS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    const OTHERS: [(&str, NumberWord); 8] = [
        ("hundred", NumberWord::Hundred),
        ("thousand", NumberWord::Scale(1_000)),
        ("million", NumberWord::Scale(1_000_000)),
        ("billion", NumberWord::Scale(1_000_000_000)),
        ("trillion", NumberWord::Scale(1_000_000_000_000)),
        ("point", NumberWord::Point),
        ("and", NumberWord::And),
        ("a", NumberWord::A),
    ];
    // Every number word is 1 to 9 ASCII letters long: a cheap way out for all other words.
    if !(1..=9).contains(&word.len()) {
        return None;
    }
    if let Some(unit) = UNITS
        .iter()
        .position(|unit| unit.eq_ignore_ascii_case(word))
    {
        return Some(NumberWord::Unit(unit as u64));
    }
    if let Some(tens) = TENS.iter().position(|tens| tens.eq_ignore_ascii_case(word)) {
        return Some(NumberWord::Tens(20 + 10 * tens as u64));
    }
    OTHERS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|&(_, number_word)| number_word)
}

/// The longest spoken number at the start of `words` ("two hundred and five", "three point
/// one four", "a thousand") and how many words it took. The value is `None` when the number
/// has more than [`MAX_LITERAL_DIGITS`] digits. Shared with the quantity parser
/// (`assistant::numbers`), so spoken numbers mean the same everywhere.
pub(crate) fn spoken_number_prefix(words: &[NumberWord]) -> Option<(Option<BigRational>, usize)> {
    let (token, next) = parse_spoken_number(words, 0)?;
    match token {
        Token::Number(value) => Some((Some(value), next)),
        _ => Some((None, next)),
    }
}

/// The decimal literal at the start of `text` (see [`read_literal`]: `5`, `1.5`, `1,000`) and
/// its length in bytes, or `None` when `text` does not start with an ASCII digit. The value is
/// `None` when the literal has more than [`MAX_LITERAL_DIGITS`] digits. A point with no digit
/// after it ends the sentence, not the number: it is not part of the literal.
pub(crate) fn read_digit_literal(text: &str) -> Option<(Option<BigRational>, usize)> {
    if !text.starts_with(|character: char| character.is_ascii_digit()) {
        return None;
    }
    // A literal worth reading has at most MAX_LITERAL_DIGITS digits plus separators; the
    // bound keeps a long run of "1,1,1,…" linear to tokenize.
    let run: Vec<char> = text
        .chars()
        .take_while(|character| character.is_ascii_digit() || matches!(character, ',' | '.'))
        .take(4 * MAX_LITERAL_DIGITS)
        .collect();
    let (token, mut end) = read_literal(&run, 0);
    if end > 0 && run[end - 1] == '.' {
        end -= 1;
    }
    // The run is ASCII, so characters are bytes.
    match token {
        Token::Number(value) => Some((Some(value), end)),
        _ => Some((None, end)),
    }
}

/// Splits an expression into maths tokens, or `None` if any part is not maths.
fn tokenize(expression: &str) -> Option<Tokens> {
    let characters: Vec<char> = expression.to_lowercase().chars().collect();
    let mut raw = Vec::new();
    let mut spoken_run = Vec::new();
    let mut digit_literals = 0;
    let mut index = 0;
    while let Some(&character) = characters.get(index) {
        if character.is_whitespace() {
            index += 1;
            continue;
        }
        if character.is_alphabetic() {
            let (word, next) = read_word(&characters, index);
            index = next;
            let operator = match word.as_str() {
                "plus" => Some(RawToken::Token(Token::Plus)),
                "minus" => Some(RawToken::Token(Token::Minus)),
                "times" => Some(RawToken::Token(Token::Times)),
                "negative" => Some(RawToken::Token(Token::Negative)),
                "x" => Some(RawToken::LetterX),
                "over" => Some(RawToken::Over),
                "percent" => Some(RawToken::Token(Token::Percent)),
                "of" => Some(RawToken::Of),
                "multiplied" | "divided" => {
                    let (next_word, after) =
                        read_word(&characters, skip_whitespace(&characters, index));
                    if next_word != "by" {
                        return None;
                    }
                    index = after;
                    let token = if word == "multiplied" {
                        Token::Times
                    } else {
                        Token::Divide
                    };
                    Some(RawToken::Token(token))
                }
                _ => None,
            };
            match operator {
                Some(operator) => {
                    flush_spoken_run(&mut spoken_run, &mut raw)?;
                    raw.push(operator);
                }
                None => {
                    for part in word.split('-') {
                        spoken_run.push(number_word(part)?);
                    }
                }
            }
            continue;
        }
        flush_spoken_run(&mut spoken_run, &mut raw)?;
        let starts_literal = character.is_ascii_digit()
            || (character == '.' && characters.get(index + 1).is_some_and(char::is_ascii_digit));
        if starts_literal {
            let (token, next) = read_literal(&characters, index);
            raw.push(RawToken::Token(token));
            digit_literals += 1;
            index = next;
            continue;
        }
        let token = match character {
            '+' => Token::Plus,
            '-' | '\u{2212}' => Token::Minus,
            '*' | '×' => Token::Times,
            '/' | '÷' => Token::Divide,
            '(' => Token::OpenParen,
            ')' => Token::CloseParen,
            '%' => Token::Percent,
            '^' => Token::Unsupported,
            _ => return None,
        };
        raw.push(RawToken::Token(token));
        index += 1;
    }
    flush_spoken_run(&mut spoken_run, &mut raw)?;
    Some(Tokens {
        tokens: resolve_operator_words(raw)?,
        digit_literals,
    })
}

fn skip_whitespace(characters: &[char], mut index: usize) -> usize {
    while characters
        .get(index)
        .is_some_and(|character| character.is_whitespace())
    {
        index += 1;
    }
    index
}

/// A run of letters, with single hyphens between letters kept ("twenty-five").
fn read_word(characters: &[char], start: usize) -> (String, usize) {
    let mut index = start;
    while let Some(&character) = characters.get(index) {
        let joins_letters = character == '-'
            && index > start
            && characters
                .get(index + 1)
                .is_some_and(|next| next.is_alphabetic());
        if !(character.is_alphabetic() || joins_letters) {
            break;
        }
        index += 1;
    }
    (characters[start..index].iter().collect(), index)
}

/// A decimal literal: digits with an optional point (`5`, `0.5`, `.5`, `5.`) and
/// thousands separators (`1,000,000`; a comma counts only before exactly three digits).
fn read_literal(characters: &[char], start: usize) -> (Token, usize) {
    let mut whole = String::new();
    let mut fraction = String::new();
    let mut seen_point = false;
    let mut index = start;
    while let Some(&character) = characters.get(index) {
        let digit_at = |offset: usize| {
            characters
                .get(index + offset)
                .is_some_and(char::is_ascii_digit)
        };
        if character.is_ascii_digit() {
            (if seen_point {
                &mut fraction
            } else {
                &mut whole
            })
            .push(character);
        } else if character == ',' && !seen_point && !whole.is_empty() {
            let grouping = digit_at(1) && digit_at(2) && digit_at(3) && !digit_at(4);
            if !grouping {
                break;
            }
        } else if character == '.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        index += 1;
    }
    (decimal_token(&whole, &fraction), index)
}

/// The number `whole.fraction` from decimal digit strings, bounded by [`MAX_LITERAL_DIGITS`].
fn decimal_token(whole: &str, fraction: &str) -> Token {
    if whole.len() + fraction.len() > MAX_LITERAL_DIGITS {
        return Token::Oversized;
    }
    let digits = format!("{whole}{fraction}");
    let Some(numerator) = BigInt::parse_bytes(digits.as_bytes(), 10) else {
        return Token::BadNumber;
    };
    let places = u32::try_from(fraction.len()).unwrap_or(u32::MAX);
    Token::Number(BigRational::new(numerator, ten_to(places)))
}

/// Turns a run of number words into number tokens. "and" or "a" that belong to no
/// number mean the text is ordinary English, not maths ("five and five").
fn flush_spoken_run(run: &mut Vec<NumberWord>, raw: &mut Vec<RawToken>) -> Option<()> {
    let mut index = 0;
    while index < run.len() {
        match parse_spoken_number(run, index) {
            Some((token, next)) => {
                raw.push(RawToken::Token(token));
                index = next;
            }
            None => match run[index] {
                NumberWord::And | NumberWord::A => return None,
                _ => {
                    raw.push(RawToken::Token(Token::BadNumber));
                    index += 1;
                }
            },
        }
    }
    run.clear();
    Some(())
}

/// One spoken number starting at `start`: "two hundred and twenty five",
/// "one million two thousand", "three point one four", "point five".
fn parse_spoken_number(words: &[NumberWord], start: usize) -> Option<(Token, usize)> {
    let mut index = start;
    let mut total: u64 = 0;
    let mut consumed = false;
    let mut previous_scale = u64::MAX;
    while let Some((group, after_group)) = parse_hundreds_group(words, index) {
        consumed = true;
        match words.get(after_group) {
            Some(&NumberWord::Scale(scale)) if scale < previous_scale && group != 0 => {
                total += group * scale;
                previous_scale = scale;
                index = after_group + 1;
                // "one thousand and five"
                if words.get(index) == Some(&NumberWord::And)
                    && parse_hundreds_group(words, index + 1).is_some()
                {
                    index += 1;
                }
            }
            _ => {
                total += group;
                index = after_group;
                break;
            }
        }
    }
    let mut fraction = String::new();
    if words.get(index) == Some(&NumberWord::Point) {
        let digits: String = words[index + 1..]
            .iter()
            .map_while(|word| match word {
                NumberWord::Unit(digit @ 0..=9) => char::from_digit(*digit as u32, 10),
                _ => None,
            })
            .collect();
        if !digits.is_empty() {
            index += 1 + digits.len();
            fraction = digits;
            consumed = true;
        }
    }
    consumed.then(|| (decimal_token(&total.to_string(), &fraction), index))
}

/// A number below ten thousand: "seven", "forty two", "a hundred", "three hundred and six",
/// "nineteen hundred".
fn parse_hundreds_group(words: &[NumberWord], start: usize) -> Option<(u64, usize)> {
    let (leading, mut index) = match (words.get(start)?, words.get(start + 1)) {
        (NumberWord::Unit(0), _) => return Some((0, start + 1)),
        (NumberWord::A, Some(NumberWord::Hundred | NumberWord::Scale(_))) => (1, start + 1),
        (NumberWord::A, _) => return None,
        _ => parse_below_hundred(words, start)?,
    };
    if words.get(index) != Some(&NumberWord::Hundred) {
        return Some((leading, index));
    }
    let mut value = leading * 100;
    index += 1;
    let after_and = if words.get(index) == Some(&NumberWord::And) {
        index + 1
    } else {
        index
    };
    if let Some((rest, next)) = parse_below_hundred(words, after_and) {
        value += rest;
        index = next;
    }
    Some((value, index))
}

/// One to ninety-nine: a unit, or tens with an optional unit.
fn parse_below_hundred(words: &[NumberWord], start: usize) -> Option<(u64, usize)> {
    match words.get(start)? {
        NumberWord::Unit(unit @ 1..=19) => Some((*unit, start + 1)),
        NumberWord::Tens(tens) => match words.get(start + 1) {
            Some(NumberWord::Unit(unit @ 1..=9)) => Some((tens + unit, start + 2)),
            _ => Some((*tens, start + 1)),
        },
        _ => None,
    }
}

fn resolve_operator_words(raw: Vec<RawToken>) -> Option<Vec<Token>> {
    let mut tokens: Vec<Token> = Vec::with_capacity(raw.len());
    let mut raw = raw.into_iter().peekable();
    while let Some(token) = raw.next() {
        let after_operand = tokens.last().is_some_and(Token::ends_operand);
        let before_operand = match raw.peek() {
            Some(RawToken::Token(next)) => next.starts_operand(),
            _ => false,
        };
        let token = match token {
            RawToken::Token(token) => token,
            RawToken::LetterX if after_operand && before_operand => Token::Times,
            RawToken::Over if after_operand && before_operand => Token::Divide,
            RawToken::Of if tokens.last() == Some(&Token::Percent) && before_operand => {
                Token::Times
            }
            RawToken::LetterX | RawToken::Over | RawToken::Of => return None,
        };
        tokens.push(token);
    }
    Some(tokens)
}

/// Rejects values whose numerator or denominator exceed [`MAX_BITS`].
fn bounded(value: BigRational) -> Result<BigRational, MathError> {
    if value.numer().bits() > MAX_BITS || value.denom().bits() > MAX_BITS {
        Err(MathError::TooLarge)
    } else {
        Ok(value)
    }
}

/// expression := term (("+" | "-") term)*
/// term       := signed (("*" | "/") signed)*
/// signed     := ("+" | "-" | "negative")* primary
/// primary    := number | "(" expression ")"
struct Parser<'t> {
    tokens: &'t [Token],
    position: usize,
    depth: usize,
}

impl<'t> Parser<'t> {
    fn new(tokens: &'t [Token]) -> Self {
        Parser {
            tokens,
            position: 0,
            depth: 0,
        }
    }

    fn parse(mut self) -> Result<BigRational, MathError> {
        let value = self.expression()?;
        if self.position == self.tokens.len() {
            Ok(value)
        } else {
            Err(MathError::Malformed)
        }
    }

    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.position)
    }

    fn expression(&mut self) -> Result<BigRational, MathError> {
        let mut value = self.term()?;
        while let Some(operator @ (Token::Plus | Token::Minus)) = self.peek() {
            self.position += 1;
            let right = self.term()?;
            value = bounded(if *operator == Token::Plus {
                value + right
            } else {
                value - right
            })?;
        }
        Ok(value)
    }

    fn term(&mut self) -> Result<BigRational, MathError> {
        let mut value = self.signed()?;
        while let Some(operator @ (Token::Times | Token::Divide)) = self.peek() {
            self.position += 1;
            let right = self.signed()?;
            value = bounded(if *operator == Token::Times {
                value * right
            } else if right.is_zero() {
                return Err(MathError::DivisionByZero);
            } else {
                value / right
            })?;
        }
        Ok(value)
    }

    /// Signs are counted in a loop rather than by recursion, so "- - - … 5" cannot nest deeply.
    fn signed(&mut self) -> Result<BigRational, MathError> {
        let mut negate = false;
        while let Some(sign @ (Token::Plus | Token::Minus | Token::Negative)) = self.peek() {
            negate ^= *sign != Token::Plus;
            self.position += 1;
        }
        let mut value = self.primary()?;
        while self.peek() == Some(&Token::Percent) {
            self.position += 1;
            value = bounded(value / BigRational::from_integer(100.into()))?;
        }
        Ok(if negate { -value } else { value })
    }

    fn primary(&mut self) -> Result<BigRational, MathError> {
        let token = self.peek().ok_or(MathError::Malformed)?;
        self.position += 1;
        match token {
            Token::Number(value) => Ok(value.clone()),
            Token::Oversized => Err(MathError::TooLarge),
            Token::OpenParen => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(MathError::TooLong);
                }
                let value = self.expression()?;
                if self.peek() != Some(&Token::CloseParen) {
                    return Err(MathError::Malformed);
                }
                self.position += 1;
                self.depth -= 1;
                Ok(value)
            }
            _ => Err(MathError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    fn eval(expression: &str) -> Result<String, MathError> {
        evaluate(expression, None).map(|number| number.to_string())
    }

    #[test]
    fn percentages() {
        assert_eq!(eval("15% of 240"), Ok("36".into()));
        assert_eq!(
            eval("fifteen percent of two hundred forty"),
            Ok("36".into())
        );
        assert_eq!(eval("200 + 10%"), Ok("200.1".into()));
        assert_eq!(
            eval("100 / 10%"),
            Ok("1000".into()),
            "the percentage binds to its number"
        );
        assert_eq!(eval("50%"), Ok("0.5".into()));
        assert_eq!(eval("% 5"), Err(MathError::Malformed));
        assert_eq!(classify("15% of 240"), MathForm::Expression);
        assert_eq!(classify("of 5"), MathForm::NotMath);
        assert_eq!(
            classify("5 of 6"),
            MathForm::NotMath,
            "of only follows a percentage"
        );
    }

    fn rational(numerator: i64, denominator: i64) -> Number {
        Number(BigRational::new(numerator.into(), denominator.into()))
    }

    #[test]
    fn integer_results_have_no_decimal_point() {
        assert_eq!(eval("100 / 4"), Ok("25".into()));
        assert_eq!(eval("5 + 10"), Ok("15".into()));
        assert_eq!(eval("-5"), Ok("-5".into()));
        assert_eq!(eval("7 - 10"), Ok("-3".into()));
    }

    #[test]
    fn fractions_round_to_nine_places_without_trailing_zeros() {
        assert_eq!(eval("10 / 3"), Ok("3.333333333".into()));
        assert_eq!(eval("2 / 3"), Ok("0.666666667".into()));
        assert_eq!(eval("-2 / 3"), Ok("-0.666666667".into()));
        assert_eq!(eval("0.1 + 0.2"), Ok("0.3".into()));
        assert_eq!(eval("1 / 8"), Ok("0.125".into()));
        // Rounds to a whole number at nine places: printed without a point.
        assert_eq!(eval("2 + 1 / 10000000000"), Ok("2".into()));
    }

    #[test]
    fn tiny_values_use_scientific_form() {
        assert_eq!(eval("1 / 10000000000"), Ok("1e-10".into()));
        assert_eq!(eval("-3 / 20000000000"), Ok("-1.5e-10".into()));
        assert_eq!(eval("1 / 3000000000000"), Ok("3.33333333e-13".into()));
        // 0.000000000099999999996 rounds up into the next power of ten.
        let almost = BigRational::new(99_999_999_996i64.into(), ten_to(21));
        assert_eq!(Number(almost).to_string(), "1e-10");
        // 0.0000000005 rounds to 0.000000001 at nine places, so it stays decimal.
        assert_eq!(rational(5, 10_000_000_000).to_string(), "0.000000001");
        assert_eq!(rational(4, 10_000_000_000).to_string(), "4e-10");
    }

    #[test]
    fn big_integers_are_exact() {
        assert_eq!(
            eval("99999999999999999999 * 99999999999999999999"),
            Ok("9999999999999999999800000000000000000001".into())
        );
    }

    #[test]
    fn precedence_parentheses_and_signs() {
        assert_eq!(eval("2 + 3 * 4"), Ok("14".into()));
        assert_eq!(eval("(1+2)*3"), Ok("9".into()));
        assert_eq!(eval("10 - 4 - 3"), Ok("3".into()));
        assert_eq!(eval("24 / 4 / 2"), Ok("3".into()));
        assert_eq!(eval("-(2 + 3) * -2"), Ok("10".into()));
        assert_eq!(eval("- - 5"), Ok("5".into()));
        assert_eq!(eval("+5 - -5"), Ok("10".into()));
        assert_eq!(eval("((((7))))"), Ok("7".into()));
    }

    #[test]
    fn decimal_literal_forms() {
        assert_eq!(eval(".5 + .5"), Ok("1".into()));
        assert_eq!(eval("0.5 * 3"), Ok("1.5".into()));
        assert_eq!(eval("5. + 1"), Ok("6".into()));
        assert_eq!(eval("05 + 1"), Ok("6".into()));
        assert_eq!(eval("1,000 + 1"), Ok("1001".into()));
        assert_eq!(eval("1,000,000 * 2"), Ok("2000000".into()));
        assert_eq!(eval("1,00 + 1"), Err(MathError::Malformed));
    }

    #[test]
    fn symbol_variants_and_trailing_marks() {
        assert_eq!(eval("6 × 7"), Ok("42".into()));
        assert_eq!(eval("42 ÷ 6"), Ok("7".into()));
        assert_eq!(eval("9 \u{2212} 4"), Ok("5".into()));
        assert_eq!(eval("5 x 3"), Ok("15".into()));
        assert_eq!(eval("2x3"), Ok("6".into()));
        assert_eq!(eval("5 + 5 ="), Ok("10".into()));
        assert_eq!(eval("5 + 5?"), Ok("10".into()));
        assert_eq!(eval("5 + 5."), Ok("10".into()));
        assert_eq!(eval("two plus two equals?"), Ok("4".into()));
        assert_eq!(eval("2 + 2 Equals"), Ok("4".into()));
        assert_eq!(eval("equals"), Err(MathError::Malformed));
        assert_eq!(classify("2 + 2 equals"), MathForm::Expression);
    }

    #[test]
    fn spoken_numbers_and_operators() {
        assert_eq!(eval("five plus ten"), Ok("15".into()));
        assert_eq!(
            eval("two hundred and twenty five minus twenty-five"),
            Ok("200".into())
        );
        assert_eq!(eval("three point five times two"), Ok("7".into()));
        assert_eq!(eval("point five plus one"), Ok("1.5".into()));
        assert_eq!(eval("three point one four times one"), Ok("3.14".into()));
        assert_eq!(
            eval("one million two thousand and five plus 0"),
            Ok("1002005".into())
        );
        assert_eq!(eval("a thousand divided by eight"), Ok("125".into()));
        assert_eq!(eval("nine multiplied by nine"), Ok("81".into()));
        assert_eq!(eval("ten over four"), Ok("2.5".into()));
        assert_eq!(eval("negative five times three"), Ok("-15".into()));
        assert_eq!(eval("three billion minus one"), Ok("2999999999".into()));
        assert_eq!(eval("Five Plus Five"), Ok("10".into()));
        assert_eq!(eval("nineteen hundred plus 1"), Ok("1901".into()));
    }

    #[test]
    fn spoken_numbers_that_do_not_compound_are_malformed() {
        assert_eq!(eval("twenty twenty plus one"), Err(MathError::Malformed));
        assert_eq!(eval("thousand plus one"), Err(MathError::Malformed));
        assert_eq!(eval("three point plus one"), Err(MathError::Malformed));
        assert_eq!(
            eval("one thousand thousand plus one"),
            Err(MathError::Malformed)
        );
        assert_eq!(eval("hundred hundred plus one"), Err(MathError::Malformed));
    }

    #[test]
    fn unsupported_operators_are_malformed() {
        assert_eq!(eval("2 ** 10"), Err(MathError::Malformed));
        assert_eq!(eval("7 // 2"), Err(MathError::Malformed));
        assert_eq!(eval("2 ^ 10"), Err(MathError::Malformed));
        assert_eq!(eval("50 % 3"), Err(MathError::Malformed));
        assert_eq!(eval("1 2"), Err(MathError::Malformed));
        assert_eq!(eval("5 +"), Err(MathError::Malformed));
        assert_eq!(eval("(1 + 2"), Err(MathError::Malformed));
        assert_eq!(eval("1 + 2)"), Err(MathError::Malformed));
        assert_eq!(eval("2(3)"), Err(MathError::Malformed));
        assert_eq!(eval(""), Err(MathError::Malformed));
        assert_eq!(eval("hello"), Err(MathError::Malformed));
    }

    #[test]
    fn division_by_zero_is_reported() {
        assert_eq!(eval("5 / 0"), Err(MathError::DivisionByZero));
        assert_eq!(eval("5 / (2 - 2)"), Err(MathError::DivisionByZero));
        assert_eq!(eval("0 / 5"), Ok("0".into()));
    }

    #[test]
    fn bounds_are_enforced() {
        let long = format!("1{}", " + 1".repeat(60));
        assert_eq!(eval(&long), Err(MathError::TooLong));
        let hundred_digits = "9".repeat(100);
        assert!(eval(&format!("{hundred_digits} + 1")).is_ok());
        assert_eq!(
            eval(&format!("9{hundred_digits} + 1")),
            Err(MathError::TooLarge)
        );
        let deep = format!("{}1{}", "(".repeat(33), ")".repeat(33));
        assert_eq!(eval(&deep), Err(MathError::TooLong));
        let allowed = format!("{}1{}", "(".repeat(32), ")".repeat(32));
        assert_eq!(eval(&allowed), Ok("1".into()));
    }

    #[test]
    fn repeated_chaining_hits_the_size_bound() {
        let factor = format!("* {}", "9".repeat(99));
        let mut result = Some(Number::from(1));
        let mut error = None;
        for _ in 0..20 {
            match evaluate(&factor, result.as_ref()) {
                Ok(number) => result = Some(number),
                Err(failure) => {
                    error = Some(failure);
                    break;
                }
            }
        }
        assert_eq!(error, Some(MathError::TooLarge));
    }

    #[test]
    fn chaining_continues_the_previous_result() {
        let mut previous: Option<Number> = None;
        let mut spoken = Vec::new();
        for step in ["5 + 10", "+ 6", "* 2", "- 1", "/ 4"] {
            let result = evaluate(step, previous.as_ref()).expect("each step computes");
            spoken.push(result.to_string());
            previous = Some(result);
        }
        assert_eq!(spoken, ["15", "21", "42", "41", "10.25"]);
    }

    #[test]
    fn chaining_with_words_and_precedence() {
        let fifteen = Number::from(15);
        assert_eq!(evaluate("times 3", Some(&fifteen)), Ok(Number::from(45)));
        assert_eq!(
            evaluate("divided by 5", Some(&fifteen)),
            Ok(Number::from(3))
        );
        assert_eq!(evaluate("plus six", Some(&fifteen)), Ok(Number::from(21)));
        assert_eq!(evaluate("minus 1", Some(&fifteen)), Ok(Number::from(14)));
        // Appended as text, like the predecessor: 15 + 6 * 2.
        assert_eq!(evaluate("+ 6 * 2", Some(&fifteen)), Ok(Number::from(27)));
        // A full expression ignores the previous result.
        assert_eq!(evaluate("2 + 2", Some(&fifteen)), Ok(Number::from(4)));
    }

    #[test]
    fn chaining_without_previous_result() {
        assert_eq!(eval("+ 6"), Ok("6".into()));
        assert_eq!(eval("- 1"), Ok("-1".into()));
        assert_eq!(eval("* 2"), Err(MathError::NoPreviousResult));
        assert_eq!(eval("/ 4"), Err(MathError::NoPreviousResult));
        assert_eq!(eval("times 3"), Err(MathError::NoPreviousResult));
    }

    #[test]
    fn classify_separates_maths_from_words() {
        assert_eq!(classify("5 + 5"), MathForm::Expression);
        assert_eq!(classify("1 2"), MathForm::Expression);
        assert_eq!(classify("2 ** 10"), MathForm::Expression);
        assert_eq!(classify("five times three"), MathForm::Expression);
        assert_eq!(classify("+ 6"), MathForm::Chained);
        assert_eq!(classify("-5"), MathForm::Chained);
        assert_eq!(classify("divided by 4"), MathForm::Chained);
        assert_eq!(classify("five"), MathForm::NotMath);
        assert_eq!(classify("42"), MathForm::NotMath);
        assert_eq!(classify("one direction"), MathForm::NotMath);
        assert_eq!(classify("a bus stop"), MathForm::NotMath);
        assert_eq!(classify("x"), MathForm::NotMath);
        assert_eq!(classify("x + 1"), MathForm::NotMath);
        assert_eq!(classify("over 9000"), MathForm::NotMath);
        assert_eq!(classify("five and five"), MathForm::NotMath);
        assert_eq!(classify("plus"), MathForm::NotMath);
        assert_eq!(classify("times square"), MathForm::NotMath);
        assert_eq!(classify("multiplied"), MathForm::NotMath);
        assert_eq!(classify("café + 1"), MathForm::NotMath);
        assert_eq!(classify(""), MathForm::NotMath);
    }

    #[test]
    fn error_sentences_are_distinct_sentences() {
        let errors = [
            MathError::DivisionByZero,
            MathError::Malformed,
            MathError::TooLong,
            MathError::TooLarge,
            MathError::NoPreviousResult,
        ];
        for error in errors {
            let sentence = error.sentence();
            assert!(sentence.ends_with('.'), "{sentence}");
            assert_eq!(error.to_string(), sentence);
        }
        let mut sentences: Vec<_> = errors.iter().map(MathError::sentence).collect();
        sentences.dedup();
        assert_eq!(sentences.len(), errors.len());
        assert_eq!(
            MathError::DivisionByZero.sentence(),
            "I can't divide by zero."
        );
        assert_eq!(
            MathError::TooLarge.sentence(),
            "That number is too big for me to say."
        );
    }

    #[test]
    fn stored_form_round_trips_and_rejects_garbage() {
        for number in [
            Number::from(0),
            Number::from(-5),
            rational(41, 4),
            rational(-1, 3),
        ] {
            assert_eq!(
                Number::from_stored(&number.to_stored()),
                Some(number.clone())
            );
        }
        assert_eq!(rational(41, 4).to_stored(), "41/4");
        assert_eq!(Number::from(-5).to_stored(), "-5");
        assert_eq!(Number::from_stored("2/4"), Some(rational(1, 2)));
        for garbage in [
            "", "-", "/", "1/", "/2", "1/0", "+1", "1/-2", "1.5", " 1", "1 ", "--1", "1/2/3",
            "abc", "1_000", "٣",
        ] {
            assert_eq!(Number::from_stored(garbage), None, "{garbage:?}");
        }
        assert_eq!(Number::from_stored(&"9".repeat(1300)), None);
        assert_eq!(Number::from_stored(&"9".repeat(3000)), None);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(rational(5, 2_000_000_000).to_string(), "0.000000003");
        assert_eq!(rational(-5, 2_000_000_000).to_string(), "-0.000000003");
        assert_eq!(rational(1, 2).to_string(), "0.5");
    }

    /// Parses the spoken format back, scientific form included.
    fn parse_display(text: &str) -> BigRational {
        let (mantissa, exponent) = match text.split_once('e') {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().expect("exponent")),
            None => (text, 0),
        };
        let value = evaluate(mantissa, None).expect("mantissa is a decimal").0;
        value * power_of_ten(exponent)
    }

    fn arbitrary_rational() -> impl Strategy<Value = BigRational> {
        (any::<i64>(), 1..=i64::MAX, 0u32..60, 0u32..60).prop_map(
            |(numerator, denominator, scale_up, scale_down)| {
                BigRational::new(
                    BigInt::from(numerator) * ten_to(scale_up),
                    BigInt::from(denominator) * ten_to(scale_down),
                )
            },
        )
    }

    /// A random well-formed expression and its exact value (`None` when it divides by zero).
    fn expression() -> impl Strategy<Value = (String, Option<BigRational>)> {
        let leaf = (0u32..1000, 0u32..3).prop_map(|(integer, places)| {
            let value = BigRational::new(integer.into(), ten_to(places));
            let text = if places == 0 {
                integer.to_string()
            } else {
                format!("{}", Number(value.clone()))
            };
            (text, Some(value))
        });
        leaf.prop_recursive(4, 24, 2, |inner| {
            (inner.clone(), 0usize..5, inner).prop_map(
                |((left, left_value), operator, (right, right_value))| {
                    let symbol = ["+", "-", "*", "/", "-"][operator];
                    let text = if operator == 4 {
                        format!("-({left})")
                    } else {
                        format!("({left} {symbol} {right})")
                    };
                    let value = match (left_value, right_value) {
                        (Some(left), Some(right)) => match operator {
                            0 => Some(left + right),
                            1 => Some(left - right),
                            2 => Some(left * right),
                            3 if right.is_zero() => None,
                            3 => Some(left / right),
                            _ => Some(-left),
                        },
                        _ => None,
                    };
                    (text, value)
                },
            )
        })
    }

    proptest! {
        #[test]
        fn evaluate_never_panics_and_is_fast(input in "\\PC{0,300}") {
            let started = Instant::now();
            let _ = evaluate(&input, Some(&Number::from(7)));
            let _ = classify(&input);
            prop_assert!(started.elapsed() < Duration::from_secs(2));
        }

        #[test]
        fn evaluate_handles_maths_shaped_noise(input in "[0-9 .,+*/x()×÷^%-]{0,250}") {
            let started = Instant::now();
            let _ = evaluate(&input, None);
            prop_assert!(started.elapsed() < Duration::from_secs(2));
        }

        #[test]
        fn evaluate_handles_spoken_noise(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "one", "twenty", "hundred", "thousand", "million", "billion", "and", "a",
                    "point", "plus", "minus", "times", "over", "x", "negative", "divided", "by",
                    "zero", "nineteen", "(", ")", "7",
                ]),
                0..40,
            )
        ) {
            let _ = evaluate(&words.join(" "), None);
        }

        #[test]
        fn well_formed_expressions_evaluate_exactly((text, expected) in expression()) {
            let result = evaluate(&text, None);
            if text.chars().count() > MAX_EXPRESSION_CHARS {
                prop_assert_eq!(result, Err(MathError::TooLong));
            } else {
                match expected {
                    Some(value) => prop_assert_eq!(result, Ok(Number(value))),
                    None => prop_assert_eq!(result, Err(MathError::DivisionByZero)),
                }
            }
        }

        #[test]
        fn stored_form_round_trips(value in arbitrary_rational()) {
            let number = Number(value);
            prop_assert_eq!(Number::from_stored(&number.to_stored()), Some(number));
        }

        #[test]
        fn display_is_close_to_the_value(value in arbitrary_rational()) {
            let shown = Number(value.clone()).to_string();
            let parsed = parse_display(&shown);
            if value.is_integer() {
                prop_assert_eq!(parsed, value);
            } else if shown.contains('e') {
                let relative = ((parsed - &value) / &value).abs();
                prop_assert!(relative <= BigRational::new(1.into(), ten_to(8)), "{}", shown);
            } else {
                let error = (parsed - value).abs();
                prop_assert!(error <= BigRational::new(1.into(), 2 * ten_to(9)), "{}", shown);
            }
        }

        #[test]
        fn integers_display_and_evaluate_back(value in any::<i128>()) {
            let number = Number(BigRational::from_integer(value.into()));
            prop_assert_eq!(evaluate(&number.to_string(), None), Ok(number.clone()));
        }
    }
}
