//! Text helpers shared by the command rules: normalisation, whole-word phrase matching,
//! query cleanup and URL encoding. Everything here is pure and total (no panics).

use std::sync::LazyLock;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use regex::Regex;

/// Words people put in front of a command without changing what it asks for
/// ("hey Ballsy, open YouTube", "can you please stop"). Multi-word entries match as a unit.
pub(crate) const LEADING_FILLERS: &[&str] = &[
    "hey",
    "hi",
    "hello",
    "ok",
    "okay",
    "please",
    "ballsy",
    "so",
    "alright",
    "can you",
    "could you",
    "would you",
    "will you",
];

/// Words that may trail a fixed phrase ("how are you, Ballsy?", "that's all, thanks").
pub(crate) const TRAILING_FILLERS: &[&str] = &["ballsy", "please", "thanks", "thank you", "then"];

/// Words that may trail a query that ends the sentence ("search for cats please").
const QUERY_TRAILING_FILLERS: &[&str] = &["please", "ballsy", "for me"];

/// RFC 3986 unreserved characters stay as they are; everything else in a path segment,
/// including `/`, `?`, `#` and `+`, is percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

static LEADING_FILLERS_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    let alternatives = LEADING_FILLERS
        .iter()
        .map(|filler| filler.replace(' ', r"\s+"))
        .collect::<Vec<_>>()
        .join("|");
    compile(&format!(r"(?i)^(?:(?:{alternatives})(?:[\s,.!]+|$))*"))
});

/// Compiles one of this module's fixed patterns. They are constants, so a failure is a
/// programming error caught by every test that routes a command.
pub(crate) fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in patterns are valid regular expressions")
}

/// Curly apostrophes become straight ones, invisible formatting characters disappear,
/// and every run of whitespace or control characters becomes one space; the result is trimmed.
pub fn normalize(command: &str) -> String {
    let mut normalized = String::with_capacity(command.len());
    let mut pending_space = false;
    for character in command.chars() {
        let character = match character {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' | '\u{FF07}' => '\'',
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => continue,
            other => other,
        };
        if character.is_whitespace() || character.is_control() {
            pending_space = true;
            continue;
        }
        if pending_space && !normalized.is_empty() {
            normalized.push(' ');
        }
        pending_space = false;
        normalized.push(character);
    }
    normalized
}

/// Letters, digits and apostrophes form words; `+` is kept so that "disney+" and
/// "apple tv+" are distinct from "disney" and "apple tv".
fn is_word_char(character: char) -> bool {
    character.is_alphanumeric() || character == '\'' || character == '+'
}

/// The lowercase words of `text`, split on anything that is not a letter, digit or
/// apostrophe. Surrounding quotes are dropped ("'hello'" is `hello`).
pub fn words(text: &str) -> Vec<String> {
    text.split(|character: char| !(character.is_alphanumeric() || character == '\''))
        .map(|word| word.trim_matches('\''))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether lowercase `haystack` contains lowercase `phrase` as whole words.
pub fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    haystack.match_indices(phrase).any(|(start, _)| {
        let before = haystack[..start].chars().next_back();
        let after = haystack[start + phrase.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

/// Whether `words` starts with the space-separated words of `phrase`.
pub(crate) fn starts_with_words(words: &[String], phrase: &str) -> bool {
    // Called for every phrase at every position of every command: no allocation here.
    let mut words = words.iter();
    phrase
        .split(' ')
        .all(|expected| words.next().is_some_and(|word| word == expected))
}

/// Whether `words` is exactly the space-separated words of `phrase`.
pub(crate) fn equals_words(words: &[String], phrase: &str) -> bool {
    words.len() == phrase.split(' ').count() && starts_with_words(words, phrase)
}

/// `words` without any leading [`LEADING_FILLERS`].
pub(crate) fn strip_leading_filler_words(mut words: &[String]) -> &[String] {
    while let Some(filler) = LEADING_FILLERS
        .iter()
        .find(|filler| starts_with_words(words, filler))
    {
        words = &words[filler.split(' ').count()..];
    }
    words
}

/// `words` without any trailing [`TRAILING_FILLERS`].
pub(crate) fn strip_trailing_filler_words(mut words: &[String]) -> &[String] {
    while let Some(filler) = TRAILING_FILLERS.iter().find(|filler| {
        let count = filler.split(' ').count();
        words.len() >= count && equals_words(&words[words.len() - count..], filler)
    }) {
        words = &words[..words.len() - filler.split(' ').count()];
    }
    words
}

/// `text` without leading [`LEADING_FILLERS`] and the punctuation after them.
pub fn strip_leading_fillers(text: &str) -> &str {
    match LEADING_FILLERS_PATTERN.find(text) {
        Some(found) => &text[found.end()..],
        None => text,
    }
}

/// Trailing whitespace and sentence punctuation removed: "despacito?!" is "despacito".
pub fn trim_sentence_end(text: &str) -> &str {
    text.trim_end_matches(|character: char| {
        character.is_whitespace() || matches!(character, '.' | '?' | '!' | ',' | ';' | ':' | '…')
    })
}

pub fn has_alphanumeric(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// A query that ends the sentence, tidied: surrounding whitespace, leading `,:;`, the
/// sentence's closing punctuation and a polite "please" go; what remains is returned as the
/// user wrote it. A filler is only removed if something meaningful is left.
pub fn clean_query(query: &str) -> &str {
    let mut query = trim_sentence_end(query.trim_start_matches(|character: char| {
        character.is_whitespace() || matches!(character, ',' | ':' | ';')
    }));
    while let Some(shorter) = strip_trailing_query_filler(query) {
        let shorter = trim_sentence_end(shorter);
        if !has_alphanumeric(shorter) {
            break;
        }
        query = shorter;
    }
    query
}

fn strip_trailing_query_filler(query: &str) -> Option<&str> {
    QUERY_TRAILING_FILLERS.iter().find_map(|filler| {
        let split = query.len().checked_sub(filler.len())?;
        let (head, tail) = (query.get(..split)?, query.get(split..)?);
        let separated =
            head.ends_with(|character: char| character.is_whitespace() || character == ',');
        (tail.eq_ignore_ascii_case(filler) && separated).then_some(head)
    })
}

/// Each space-separated word with its first letter upper-cased and the rest as written,
/// so "vs code" becomes "Vs Code" and "iTunes" stays "ITunes" rather than Python's "Itunes".
pub fn title_case(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let mut characters = word.chars();
            match characters.next() {
                Some(first) => first.to_uppercase().chain(characters).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value for a URL query string, `application/x-www-form-urlencoded` style:
/// spaces become `+`, and `+`, `&`, `?`, `#`, `=` and non-ASCII are percent-encoded.
pub fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A single URL path segment: spaces become `%20` and `/` is encoded too.
pub fn path_encode(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_straightens_apostrophes_and_collapses_whitespace() {
        assert_eq!(
            normalize("  what\u{2019}s\t\u{a0}your\n\nname\u{200b} "),
            "what's your name"
        );
        assert_eq!(normalize("\u{2018}hi\u{2019}"), "'hi'");
        assert_eq!(normalize("a\u{0}b"), "a b");
        assert_eq!(normalize(" \t\r\n"), "");
    }

    #[test]
    fn words_are_lowercase_and_keep_inner_apostrophes() {
        assert_eq!(
            words("Hi, Ballsy! What's 'up'?"),
            ["hi", "ballsy", "what's", "up"]
        );
        assert_eq!(words("...!?"), Vec::<String>::new());
        assert_eq!(words("ÉCOLE café"), ["école", "café"]);
    }

    #[test]
    fn contains_phrase_matches_whole_words_only() {
        assert!(contains_phrase("what is a bus stop", "stop"));
        assert!(!contains_phrase("unstoppable force", "stop"));
        assert!(!contains_phrase("sales on xbox", "x"));
        assert!(contains_phrase("open x.", "x"));
        assert!(contains_phrase("open apple tv+", "apple tv+"));
        assert!(!contains_phrase("open apple tv+", "apple tv"));
        assert!(!contains_phrase("i don't know", "on't know"));
        assert!(!contains_phrase("anything", ""));
    }

    #[test]
    fn filler_words_are_stripped_at_either_end() {
        let command = words("Hey Ballsy, can you tell me your name please?");
        let stripped = strip_trailing_filler_words(strip_leading_filler_words(&command));
        assert_eq!(stripped, ["tell", "me", "your", "name"]);
        let only_fillers = words("ok please");
        assert!(strip_leading_filler_words(&only_fillers).is_empty());
    }

    #[test]
    fn leading_fillers_are_stripped_from_text() {
        assert_eq!(
            strip_leading_fillers("Hey Ballsy, open YouTube"),
            "open YouTube"
        );
        assert_eq!(strip_leading_fillers("Could you  please stop"), "stop");
        assert_eq!(strip_leading_fillers("okay"), "");
        // "history" begins with "hi" but is not the word "hi".
        assert_eq!(strip_leading_fillers("history of rome"), "history of rome");
    }

    #[test]
    fn clean_query_trims_sentence_end_and_polite_words() {
        assert_eq!(clean_query(" despacito. "), "despacito");
        assert_eq!(clean_query("cats please!"), "cats");
        assert_eq!(clean_query("pizza for me, please"), "pizza");
        assert_eq!(clean_query(": Rust?"), "Rust");
        assert_eq!(clean_query("please"), "please");
        assert_eq!(clean_query("c++"), "c++");
        assert_eq!(clean_query("Ballsy"), "Ballsy");
    }

    #[test]
    fn title_case_only_touches_first_letters() {
        assert_eq!(title_case("text editor"), "Text Editor");
        assert_eq!(title_case("VS code"), "VS Code");
        assert_eq!(title_case("élan"), "Élan");
        assert_eq!(title_case(""), "");
    }

    #[test]
    fn form_encoding_escapes_query_syntax() {
        assert_eq!(form_encode("c++ & rust?"), "c%2B%2B+%26+rust%3F");
        assert_eq!(form_encode("café au lait"), "caf%C3%A9+au+lait");
        assert_eq!(form_encode("a=b#c"), "a%3Db%23c");
    }

    #[test]
    fn path_encoding_escapes_spaces_and_slashes() {
        assert_eq!(path_encode("lofi beats"), "lofi%20beats");
        assert_eq!(path_encode("c++ & rust?"), "c%2B%2B%20%26%20rust%3F");
        assert_eq!(path_encode("AC/DC"), "AC%2FDC");
        assert_eq!(path_encode("café au lait"), "caf%C3%A9%20au%20lait");
        assert_eq!(path_encode("a-b.c_d~e"), "a-b.c_d~e");
    }
}
