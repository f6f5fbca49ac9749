//! What a client sends, parsed once at the edge into values that cannot be invalid: a
//! `Command` and a `ClientTimezone`. Everything past the transports works with these.

use std::fmt;

use crate::config::MAX_COMMAND_CHARS;
use crate::error::{ErrorCode, Problem};

/// A command as the assistant sees it: at most `MAX_COMMAND_CHARS` characters (counted in
/// Unicode scalar values before trimming, as the predecessor and the page count them), free of
/// control characters, trimmed of whitespace and invisible characters, and not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidCommand {
    Empty,
    TooLong {
        chars: usize,
    },
    /// NUL and the other C0/C1 control characters (tab, line feed and carriage return are
    /// allowed). PostgreSQL cannot store NUL at all; rather than store something other than
    /// what was sent, such a command is refused with a clear message.
    ControlCharacter {
        code_point: u32,
    },
}

impl InvalidCommand {
    pub fn problem(&self) -> Problem {
        match self {
            InvalidCommand::Empty => {
                Problem::new(ErrorCode::InvalidCommand, "The command is empty.")
            }
            InvalidCommand::TooLong { chars } => Problem::new(
                ErrorCode::CommandTooLong,
                format!(
                    "The command is {chars} characters long; the limit is {MAX_COMMAND_CHARS}."
                ),
            ),
            InvalidCommand::ControlCharacter { code_point } => Problem::new(
                ErrorCode::InvalidCharacters,
                format!(
                    "The command contains the control character U+{code_point:04X}; remove it and send it again."
                ),
            ),
        }
    }
}

/// Control characters a command may not contain: C0 (except tab, line feed, carriage return),
/// DEL and C1.
fn is_forbidden_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Characters that show nothing: zero-width spaces and joiners, word joiners, the byte-order
/// mark, soft hyphens and the like. A command made only of these (and whitespace) is empty.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
        )
}

impl Command {
    pub fn parse(raw: &str) -> Result<Command, InvalidCommand> {
        let chars = raw.chars().count();
        if chars > MAX_COMMAND_CHARS {
            return Err(InvalidCommand::TooLong { chars });
        }
        if let Some(c) = raw.chars().find(|c| is_forbidden_control(*c)) {
            return Err(InvalidCommand::ControlCharacter {
                code_point: u32::from(c),
            });
        }
        let trimmed = raw.trim_matches(is_invisible);
        if trimmed.is_empty() {
            return Err(InvalidCommand::Empty);
        }
        Ok(Command(trimmed.to_owned()))
    }

    /// A transcript from speech recognition or a model: control characters are removed and the
    /// text is cut to the command limit (a person cannot fix what a recogniser heard). None
    /// when nothing is left.
    pub fn from_transcript(transcript: &str) -> Option<Command> {
        let clean: String = sanitize_text(transcript)
            .chars()
            .take(MAX_COMMAND_CHARS)
            .collect();
        Command::parse(&clean).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text from a model or a recogniser with the control characters a command may not hold
/// removed, so it can be shown, spoken and stored on either database.
pub fn sanitize_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(is_forbidden_control) {
        std::borrow::Cow::Owned(text.chars().filter(|c| !is_forbidden_control(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// An IANA time zone the client sent. A well-formed name the zone database does not know is
/// answered in UTC (and the reply says so); a malformed one is refused at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimezone(Option<chrono_tz::Tz>);

/// The longest IANA zone name is 32 characters; anything much longer is not a zone.
pub const MAX_TIMEZONE_CHARS: usize = 64;

impl ClientTimezone {
    pub fn parse(name: &str) -> Result<ClientTimezone, Problem> {
        let well_formed = name.chars().count() <= MAX_TIMEZONE_CHARS
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '/' | '-'));
        if !well_formed {
            return Err(Problem::invalid_field(
                "timezone",
                format!(
                    "timezone must be an IANA zone name such as Europe/Berlin, at most {MAX_TIMEZONE_CHARS} characters."
                ),
            ));
        }
        Ok(ClientTimezone(name.parse().ok()))
    }

    /// Lenient form for the socket, whose frames predate validation: anything unusable is UTC.
    pub fn lenient(name: Option<&str>) -> Option<ClientTimezone> {
        name.and_then(|n| ClientTimezone::parse(n.trim()).ok())
    }

    pub fn zone(self) -> Option<chrono_tz::Tz> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_limit_is_accepted() {
        let at_limit = "a".repeat(MAX_COMMAND_CHARS);
        assert_eq!(Command::parse(&at_limit).unwrap().as_str(), at_limit);
        let over = "a".repeat(MAX_COMMAND_CHARS + 1);
        assert_eq!(
            Command::parse(&over),
            Err(InvalidCommand::TooLong {
                chars: MAX_COMMAND_CHARS + 1
            })
        );
    }

    #[test]
    fn length_counts_characters_not_bytes_or_utf16_units() {
        assert!(Command::parse(&"é".repeat(MAX_COMMAND_CHARS)).is_ok());
        // An emoji is one character here (two UTF-16 units in a browser).
        assert!(Command::parse(&"😀".repeat(MAX_COMMAND_CHARS)).is_ok());
    }

    #[test]
    fn blank_and_invisible_commands_are_empty() {
        for blank in [
            "",
            " \n\t ",
            "\u{200b}",
            "\u{feff}\u{200b} \u{2060}",
            "\u{ad}",
        ] {
            assert_eq!(
                Command::parse(blank),
                Err(InvalidCommand::Empty),
                "{blank:?}"
            );
        }
        assert_eq!(Command::parse("  hi  ").unwrap().as_str(), "hi");
        assert_eq!(
            Command::parse("\u{feff}hello\u{200b}").unwrap().as_str(),
            "hello"
        );
    }

    #[test]
    fn control_characters_are_refused_with_their_code_point() {
        assert_eq!(
            Command::parse("hi\u{0}"),
            Err(InvalidCommand::ControlCharacter { code_point: 0 })
        );
        assert_eq!(
            Command::parse("a\u{1b}[2J"),
            Err(InvalidCommand::ControlCharacter { code_point: 0x1b })
        );
        assert!(Command::parse("line one\nline two\tend\r").is_ok());
        assert_eq!(
            InvalidCommand::ControlCharacter { code_point: 0 }
                .problem()
                .message,
            "The command contains the control character U+0000; remove it and send it again."
        );
    }

    #[test]
    fn transcripts_lose_their_control_characters() {
        assert_eq!(
            Command::from_transcript("open\u{0} you\u{7}tube")
                .unwrap()
                .as_str(),
            "open youtube"
        );
        assert_eq!(Command::from_transcript("\u{0}\u{200b}"), None);
        assert_eq!(sanitize_text("fine"), "fine");
        assert_eq!(sanitize_text("a\u{0}b\u{9f}c"), "abc");
    }

    #[test]
    fn time_zones() {
        assert_eq!(
            ClientTimezone::parse("Europe/Berlin").unwrap().zone(),
            Some(chrono_tz::Tz::Europe__Berlin)
        );
        assert_eq!(ClientTimezone::parse("Mars/Olympus").unwrap().zone(), None);
        assert!(ClientTimezone::parse("<script>").is_err());
        assert_eq!(ClientTimezone::lenient(Some("bad zone!")), None);
    }

    proptest::proptest! {
        #[test]
        fn parsed_commands_hold_their_invariants(raw in "\\PC{0,40}|[\\x00-\\x20\u{200b}\u{feff}a]{0,10}") {
            if let Ok(command) = Command::parse(&raw) {
                let text = command.as_str();
                proptest::prop_assert!(!text.is_empty());
                proptest::prop_assert!(!text.chars().any(is_forbidden_control));
                proptest::prop_assert!(!text.starts_with(is_invisible) && !text.ends_with(is_invisible));
            }
        }
    }
}
