//! The tokenizer shared by the quantity, duration, time-of-day, timer and unit parsers.
//!
//! Text becomes words (runs of letters, with apostrophes between letters: "what's",
//! "o'clock"), decimal literals (digits with an optional point and thousands commas, read by
//! the calculator's own literal reader: "10", "1.5", "1,000", "6.30") and single-character
//! symbols (":", "/", "°", "-", …). Whitespace separates tokens and is dropped; a token
//! remembers where it starts, so parsers can tell "2h30m" (glued) from "2 h 30 m" and can
//! slice the original text (labels, reminder tasks). One linear pass, no backtracking.

use num_rational::BigRational;

use crate::assistant::math;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Number,
    Symbol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: Kind,
    /// The token as written (case and curly apostrophes kept).
    pub(crate) text: &'a str,
    /// Byte offset of the token in the tokenized text.
    pub(crate) start: usize,
}

impl<'a> Token<'a> {
    /// Byte offset just past the token.
    pub(crate) fn end(&self) -> usize {
        self.start + self.text.len()
    }

    /// Whether this is the word `word` (lowercase ASCII, straight apostrophes), compared
    /// ASCII-case-insensitively with curly apostrophes read as straight ones.
    pub(crate) fn is(&self, word: &str) -> bool {
        self.kind == Kind::Word && same_word(self.text, word)
    }

    /// Whether this is one of `words` (see [`Token::is`]).
    pub(crate) fn is_any(&self, words: &[&str]) -> bool {
        self.kind == Kind::Word && words.iter().any(|word| same_word(self.text, word))
    }

    pub(crate) fn is_symbol(&self, symbol: char) -> bool {
        self.kind == Kind::Symbol && self.text.starts_with(symbol)
    }

    pub(crate) fn is_word(&self) -> bool {
        self.kind == Kind::Word
    }

    pub(crate) fn is_number(&self) -> bool {
        self.kind == Kind::Number
    }

    /// The value of a number token; `None` for other tokens and for literals over the
    /// calculator's digit limit.
    pub(crate) fn number(&self) -> Option<BigRational> {
        if self.kind != Kind::Number {
            return None;
        }
        math::read_digit_literal(self.text).and_then(|(value, _)| value)
    }

    /// A number token written as plain ASCII digits (no point, no comma), e.g. "07".
    pub(crate) fn is_plain_digits(&self) -> bool {
        self.kind == Kind::Number && self.text.bytes().all(|byte| byte.is_ascii_digit())
    }
}

/// `glued(a, b)`: `b` follows `a` with no space between them.
pub(crate) fn glued(first: &Token<'_>, second: &Token<'_>) -> bool {
    first.end() == second.start
}

fn is_apostrophe(character: char) -> bool {
    matches!(
        character,
        '\'' | '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' | '\u{FF07}'
    )
}

/// `written` equals `expected` (lowercase ASCII) ignoring ASCII case, with any apostrophe
/// in `written` matching a straight one.
fn same_word(written: &str, expected: &str) -> bool {
    let mut written = written.chars();
    let mut expected = expected.chars();
    loop {
        match (written.next(), expected.next()) {
            (None, None) => return true,
            (Some(left), Some(right)) => {
                let same =
                    left.eq_ignore_ascii_case(&right) || (right == '\'' && is_apostrophe(left));
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A letter of a word. The masculine ordinal "º" is alphabetic to Unicode but people type it
/// for a degree sign ("72ºF").
fn is_letter(character: char) -> bool {
    character.is_alphabetic() && character != 'º'
}

/// Iterates over the tokens of a text.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lexer { text, position: 0 }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let rest = &self.text[self.position..];
        let skipped = rest.len() - rest.trim_start().len();
        self.position += skipped;
        let rest = &self.text[self.position..];
        let first = rest.chars().next()?;
        let start = self.position;
        let (kind, length) = if is_letter(first) {
            (Kind::Word, word_length(rest))
        } else if let Some((_, length)) = math::read_digit_literal(rest) {
            (Kind::Number, length)
        } else {
            (Kind::Symbol, first.len_utf8())
        };
        self.position += length;
        Some(Token {
            kind,
            text: &rest[..length],
            start,
        })
    }
}

/// Letters, plus apostrophes that have a letter on both sides ("o'clock", "what's").
fn word_length(text: &str) -> usize {
    let mut characters = text.char_indices().peekable();
    let mut end = 0;
    while let Some((index, character)) = characters.next() {
        let joins = is_apostrophe(character)
            && end == index
            && characters.peek().is_some_and(|&(_, next)| is_letter(next));
        if !(is_letter(character) || joins) {
            break;
        }
        end = index + character.len_utf8();
    }
    end
}

/// Every token of `text`.
pub(crate) fn tokenize(text: &str) -> Vec<Token<'_>> {
    Lexer::new(text).collect()
}

/// Whether a token is punctuation that ends or splits a sentence and means nothing to the
/// parsers: `, ; ! ? …` and `.` (a point inside a number is part of the number token).
pub(crate) fn is_sentence_punctuation(token: &Token<'_>) -> bool {
    token.kind == Kind::Symbol
        && matches!(
            token.text.chars().next(),
            Some(',' | ';' | '!' | '?' | '.' | '…' | '¿' | '¡')
        )
}

/// Punctuation that only marks a pause inside a command (`, ; ! ? …`); unlike a point it is
/// never part of anything the parsers read ("a.m.", "fl. oz"), so intent parsers drop it.
pub(crate) fn is_pause(token: &Token<'_>) -> bool {
    is_sentence_punctuation(token) && !token.is_symbol('.')
}

/// `tokens` without trailing sentence punctuation ("10 minutes." → "10 minutes").
pub(crate) fn trim_trailing_punctuation<'t, 'a>(mut tokens: &'t [Token<'a>]) -> &'t [Token<'a>] {
    while let Some((last, rest)) = tokens.split_last() {
        if !is_sentence_punctuation(last) {
            break;
        }
        tokens = rest;
    }
    tokens
}

/// `tokens` without leading `leading` and trailing `trailing` phrases (fillers such as "hey
/// Ballsy", "can you", "please"). A trailing filler is only removed if something is left.
pub(crate) fn strip_fillers<'t, 'a>(
    tokens: &'t [Token<'a>],
    leading: &[&str],
    trailing: &[&str],
) -> &'t [Token<'a>] {
    let mut start = 0;
    while let Some(next) = match_any_phrase(tokens, start, leading) {
        start = next;
    }
    let mut tokens = &tokens[start..];
    'trailing: loop {
        for filler in trailing {
            let length = Lexer::new(filler).count();
            if tokens.len() > length
                && match_phrase(tokens, tokens.len() - length, filler).is_some()
            {
                tokens = &tokens[..tokens.len() - length];
                continue 'trailing;
            }
        }
        return tokens;
    }
}

/// Whether `tokens[at..]` starts with the tokens of `phrase` (a lowercase phrase tokenized
/// the same way, so "km/h" matches `km / h` and "a.m." matches `a . m .`). Returns the index
/// after the match. Spacing is not compared: "km / h" matches "km/h".
pub(crate) fn match_phrase(tokens: &[Token<'_>], at: usize, phrase: &str) -> Option<usize> {
    let mut index = at;
    for expected in Lexer::new(phrase) {
        let token = tokens.get(index)?;
        let same = token.kind == expected.kind
            && match token.kind {
                Kind::Word => same_word(token.text, expected.text),
                _ => token.text == expected.text,
            };
        if !same {
            return None;
        }
        index += 1;
    }
    (index > at).then_some(index)
}

/// The first of `phrases` that `tokens[at..]` starts with, and the index after it.
pub(crate) fn match_any_phrase(tokens: &[Token<'_>], at: usize, phrases: &[&str]) -> Option<usize> {
    phrases
        .iter()
        .find_map(|phrase| match_phrase(tokens, at, phrase))
}

/// Whether `text` contains `needle` (lowercase ASCII) as a whole ASCII word, compared
/// case-insensitively. Allocation-free: the cheap first check of the intent parsers.
pub(crate) fn contains_word_ascii(text: &str, needle: &str) -> bool {
    let bytes = text.as_bytes();
    let needle = needle.as_bytes();
    if needle.is_empty() || bytes.len() < needle.len() {
        return false;
    }
    (0..=bytes.len() - needle.len()).any(|start| {
        bytes[start..start + needle.len()].eq_ignore_ascii_case(needle)
            && (start == 0 || !bytes[start - 1].is_ascii_alphanumeric())
            && bytes
                .get(start + needle.len())
                .is_none_or(|byte| !byte.is_ascii_alphanumeric())
    })
}

/// Whether `text` contains `needle` (lowercase ASCII) anywhere, case-insensitively.
pub(crate) fn contains_ascii(text: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty()
        && text
            .as_bytes()
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_texts(text: &str) -> Vec<(Kind, &str)> {
        Lexer::new(text)
            .map(|token| (token.kind, token.text))
            .collect()
    }

    #[test]
    fn splits_words_numbers_and_symbols() {
        use Kind::*;
        assert_eq!(
            kinds_and_texts("Set a timer for 2h30m."),
            [
                (Word, "Set"),
                (Word, "a"),
                (Word, "timer"),
                (Word, "for"),
                (Number, "2"),
                (Word, "h"),
                (Number, "30"),
                (Word, "m"),
                (Symbol, "."),
            ]
        );
        assert_eq!(
            kinds_and_texts("17:45 6.30pm 1,000 5,28 7."),
            [
                (Number, "17"),
                (Symbol, ":"),
                (Number, "45"),
                (Number, "6.30"),
                (Word, "pm"),
                (Number, "1,000"),
                (Number, "5"),
                (Symbol, ","),
                (Number, "28"),
                (Number, "7"),
                (Symbol, "."),
            ]
        );
        assert_eq!(
            kinds_and_texts("what\u{2019}s 72ºF o'clock 'hi'"),
            [
                (Word, "what\u{2019}s"),
                (Number, "72"),
                (Symbol, "º"),
                (Word, "F"),
                (Word, "o'clock"),
                (Symbol, "'"),
                (Word, "hi"),
                (Symbol, "'"),
            ]
        );
        assert!(kinds_and_texts("  \t ").is_empty());
    }

    #[test]
    fn words_compare_case_and_apostrophe_insensitively() {
        let token = Lexer::new("What\u{2019}S").next().expect("a token");
        assert!(token.is("what's"));
        assert!(!token.is("whats"));
        assert!(Lexer::new("km").next().is_some_and(|token| token.is("km")));
    }

    #[test]
    fn phrases_match_token_by_token() {
        let tokens = tokenize("100 KM / h in mph");
        assert_eq!(match_phrase(&tokens, 1, "km/h"), Some(4));
        assert_eq!(match_phrase(&tokens, 1, "km"), Some(2));
        assert_eq!(match_phrase(&tokens, 1, "kmh"), None);
        assert_eq!(match_phrase(&tokens, 4, "in mph please"), None);
        assert_eq!(match_phrase(&tokens, 0, ""), None);
    }

    #[test]
    fn ascii_word_search() {
        assert!(contains_word_ascii("Set a TIMER.", "timer"));
        assert!(!contains_word_ascii("timers", "timer"));
        assert!(contains_ascii("timers", "timer"));
        assert!(!contains_word_ascii("", "timer"));
    }
}
