//! Timer, alarm and reminder commands as intents: what the user wants set, cancelled, listed
//! or checked. Pure: storage, scheduling and the replies belong to the caller.
//!
//! Only clear phrasings are recognised ("set a timer for 10 minutes", "wake me up at 7",
//! "remind me in 20 minutes to call mom", "cancel the pasta timer", "what timers do I have",
//! "how much time is left"); everything else is `None` and goes on to the other rules and the
//! model. A wrong timer is worse than an answer from the model, so the whole command must fit
//! a phrasing: "who invented the timer", "timer app", "set the table", "remind me what you
//! said" and "how much time is left until Christmas" are not intents.
//!
//! Labels are lower-case ("pasta"); a reminder's label is its task as said ("call mom").

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::assistant::clock::{self, ClockTime, DayHint, TimeOfDay};
use crate::assistant::duration;
use crate::assistant::lexer::{self, Kind, Token, glued, match_any_phrase, match_phrase};
use crate::assistant::math;

/// Shortest duration a timer, alarm or reminder may be set for.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
/// Longest duration a timer, alarm or reminder may be set for: seven days.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Counts down a duration ("set a timer for 10 minutes").
    Timer,
    /// Rings at a time ("wake me up at 7", "set an alarm for 6:30 am tomorrow").
    Alarm,
    /// Says its task at a time ("remind me in 20 minutes to call mom").
    Reminder,
}

/// When something should go off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum When {
    /// This long from now.
    In(Duration),
    /// At a time of day; see [`clock::next_occurrence`] for ambiguous hours (`am_pm_given`
    /// false: "at 7" is the next 7:00 or 19:00).
    At {
        time: ClockTime,
        day: DayHint,
        am_pm_given: bool,
    },
}

impl When {
    /// The instant this names: `now + duration` (saturating at the end of representable
    /// time), or the next occurrence of the time of day in the user's zone.
    pub fn resolve(&self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match *self {
            When::In(duration) => chrono::Duration::from_std(duration)
                .ok()
                .and_then(|duration| now.checked_add_signed(duration))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            When::At {
                time,
                day,
                am_pm_given,
            } => clock::next_occurrence(time, day, now, tz, am_pm_given),
        }
    }

    fn at(time: TimeOfDay) -> When {
        When::At {
            time: time.time,
            day: time.day,
            am_pm_given: time.am_pm_given,
        }
    }
}

/// Which timers a cancel command means.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TimerTarget {
    /// "the timer", "my alarm": the only one (the caller asks which if there are several).
    Only,
    /// "the pasta timer", "the reminder to call mom".
    Labelled(String),
    /// "all timers", "my alarms".
    All,
    /// "the 10 minute timer": the one set for this duration.
    Duration(Duration),
    /// "my 7 am alarm", "the alarm for 6:30": the one set for this time of day.
    Time { time: ClockTime, am_pm_given: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TimerIntent {
    /// Set a timer, alarm or reminder.
    Set {
        kind: TimerKind,
        when: When,
        label: Option<String>,
    },
    /// "set a timer", "set an alarm", "remind me to call mom": the caller asks "For how
    /// long?" (timers) or "For what time?" (alarms, reminders). `label` is what was said
    /// ("pasta", "call mom").
    AskDuration {
        kind: TimerKind,
        label: Option<String>,
    },
    /// `kind` is None for "cancel all timers and alarms".
    Cancel {
        kind: Option<TimerKind>,
        target: TimerTarget,
    },
    /// `kind` is None for "what timers and alarms do I have".
    List { kind: Option<TimerKind> },
    /// "how much time is left", "how long is left on the pasta timer".
    TimeLeft { label: Option<String> },
}

/// What to say when a duration is outside [`MIN_DURATION`]–[`MAX_DURATION`]; None when it
/// is fine. For alarms and reminders set for a time, pass the time until they go off.
pub fn duration_refusal(kind: TimerKind, duration: Duration) -> Option<&'static str> {
    if duration < MIN_DURATION {
        return Some(match kind {
            TimerKind::Timer => "A timer needs to run for at least a second.",
            TimerKind::Alarm => "That's too soon for an alarm. Try at least a second from now.",
            TimerKind::Reminder => {
                "That's too soon for a reminder. Try at least a second from now."
            }
        });
    }
    (duration > MAX_DURATION).then_some(match kind {
        TimerKind::Timer => "Sorry, I can only set timers for up to 7 days.",
        TimerKind::Alarm => "Sorry, I can only set alarms up to 7 days ahead.",
        TimerKind::Reminder => "Sorry, I can only set reminders up to 7 days ahead.",
    })
}

/// Substrings one of which every intent contains: the allocation-free first check.
const KEYWORDS: &[&str] = &[
    "timer",
    "alarm",
    "remind",
    "wake",
    "left",
    "remaining",
    "countdown",
];

/// Words in front of a command that do not change it.
const LEADING_FILLERS: &[&str] = &[
    "hey",
    "hi",
    "hello",
    "ok",
    "okay",
    "please",
    "ballsy",
    "so",
    "alright",
    "just",
    "can you",
    "could you",
    "would you",
    "will you",
    "can u",
    "i want you to",
    "i need you to",
    "i'd like you to",
    "go ahead and",
];

/// Words after a command that do not change it.
const TRAILING_FILLERS: &[&str] = &["please", "ballsy", "thanks", "thank you", "for me"];

const SET_VERBS: &[&str] = &[
    "set up", "set me", "set", "start me", "start", "create", "make me", "make", "add", "put on",
    "put", "begin", "i need", "i want", "i'd like", "give me", "get me", "schedule",
];

const CANCEL_VERBS: &[&str] = &[
    "cancel",
    "stop",
    "delete",
    "remove",
    "clear",
    "dismiss",
    "turn off",
    "switch off",
    "shut off",
    "kill",
    "end",
    "disable",
    "silence",
    "get rid of",
    "erase",
];

/// Words that never belong to a label.
const NOT_LABEL: &[&str] = &[
    "a",
    "an",
    "the",
    "my",
    "this",
    "that",
    "for",
    "in",
    "at",
    "to",
    "on",
    "of",
    "and",
    "or",
    "with",
    "from",
    "by",
    "me",
    "i",
    "you",
    "it",
    "timer",
    "timers",
    "alarm",
    "alarms",
    "reminder",
    "reminders",
    "countdown",
    "countdowns",
    "called",
    "named",
    "labelled",
    "labeled",
    "new",
    "another",
    "all",
    "every",
    "please",
    "set",
    "is",
    "are",
    "left",
    "remaining",
    "am",
    "pm",
    "tomorrow",
    "today",
    "tonight",
    "now",
    "app",
    "apps",
    "clock",
    "clocks",
    "sound",
    "sounds",
    "setting",
    "settings",
    "ringtone",
    "volume",
    "off",
    "up",
    "down",
    "what",
    "how",
    "next",
    "last",
    "first",
    "current",
    "other",
    "running",
    "active",
    "old",
];

/// Tokens of a command ready for matching: sentence punctuation gone (commas, question
/// marks; points stay for "a.m."), then leading and trailing fillers.
fn prepare(command: &str) -> Vec<Token<'_>> {
    let mut tokens = lexer::tokenize(command);
    tokens.retain(|token| !lexer::is_pause(token));
    lexer::strip_fillers(
        lexer::trim_trailing_punctuation(&tokens),
        LEADING_FILLERS,
        TRAILING_FILLERS,
    )
    .to_vec()
}

/// Parses a timer, alarm or reminder command (see the module documentation). The command
/// may be raw text of any length and content.
pub fn parse_timer_intent(command: &str) -> Option<TimerIntent> {
    if !KEYWORDS
        .iter()
        .any(|keyword| lexer::contains_ascii(command, keyword))
    {
        return None;
    }
    let tokens = prepare(command);
    let parser = Parser {
        source: command,
        tokens: &tokens,
    };
    parser.intent()
}

#[derive(Clone, Copy)]
struct Parser<'s, 't> {
    source: &'s str,
    tokens: &'t [Token<'s>],
}

/// Kind nouns: (word, kind, plural).
const KIND_NOUNS: [(&str, TimerKind, bool); 8] = [
    ("timer", TimerKind::Timer, false),
    ("countdown", TimerKind::Timer, false),
    ("alarm", TimerKind::Alarm, false),
    ("reminder", TimerKind::Reminder, false),
    ("timers", TimerKind::Timer, true),
    ("countdowns", TimerKind::Timer, true),
    ("alarms", TimerKind::Alarm, true),
    ("reminders", TimerKind::Reminder, true),
];

fn kind_noun(token: Option<&Token<'_>>) -> Option<(TimerKind, bool)> {
    let token = token?;
    KIND_NOUNS
        .iter()
        .find(|(word, _, _)| token.is(word))
        .map(|&(_, kind, plural)| (kind, plural))
}

impl<'s, 't> Parser<'s, 't> {
    fn len(&self) -> usize {
        self.tokens.len()
    }

    fn get(&self, at: usize) -> Option<&'t Token<'s>> {
        self.tokens.get(at)
    }

    fn is(&self, at: usize, word: &str) -> bool {
        self.get(at).is_some_and(|token| token.is(word))
    }

    fn phrase(&self, at: usize, phrase: &str) -> Option<usize> {
        match_phrase(self.tokens, at, phrase)
    }

    fn any_phrase(&self, at: usize, phrases: &[&str]) -> Option<usize> {
        match_any_phrase(self.tokens, at, phrases)
    }

    /// `at` moved past one of `phrases` if it starts there.
    fn skip(&self, at: usize, phrases: &[&str]) -> usize {
        self.any_phrase(at, phrases).unwrap_or(at)
    }

    fn intent(&self) -> Option<TimerIntent> {
        let first = self.get(0)?;
        if first.is("remind") {
            return self.remind_me();
        }
        if first.is("wake") {
            return self.wake_me();
        }
        if let Some(intent) = self.cancel() {
            return Some(intent);
        }
        if let Some(intent) = self.list() {
            return Some(intent);
        }
        if let Some(intent) = self.time_left() {
            return Some(intent);
        }
        if let Some(after_verb) = self.any_phrase(0, SET_VERBS) {
            return self.set(after_verb, true);
        }
        self.set(0, false)
    }

    /// The text of tokens `start..end` as said, lower-cased, single-spaced.
    fn text(&self, start: usize, end: usize) -> Option<String> {
        if start >= end {
            return None;
        }
        let slice = self
            .source
            .get(self.tokens[start].start..self.tokens[end - 1].end())?
            .to_lowercase();
        let text = slice.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = text.trim_matches(|character: char| {
            character.is_whitespace() || matches!(character, ',' | ';' | '!' | '?' | '.' | '…')
        });
        (!text.is_empty()).then(|| text.to_string())
    }

    /// Label words from `at`: up to four plain words (hyphenated ones too), none of them
    /// [`NOT_LABEL`], a number word or a time unit. Returns (label, next).
    fn label_words(&self, at: usize) -> Option<(String, usize)> {
        let mut index = at;
        let mut words = 0;
        while words < 4 {
            let Some(token) = self.get(index) else {
                break;
            };
            let plain = token.kind == Kind::Word
                && !token.is_any(NOT_LABEL)
                && math::number_word(token.text).is_none()
                && !duration::is_time_unit_word(token);
            if !plain {
                break;
            }
            index += 1;
            words += 1;
            // "hard-boiled": a hyphen glued between two words.
            if let (Some(hyphen), Some(next)) = (self.get(index), self.get(index + 1))
                && hyphen.is_symbol('-')
                && glued(token, hyphen)
                && glued(hyphen, next)
                && next.kind == Kind::Word
            {
                index += 1;
            }
        }
        if words == 0 {
            return None;
        }
        Some((self.text(at, index)?, index))
    }

    /// A duration at `at` and the index after it, with an optional "from now".
    fn duration(&self, at: usize) -> Option<(Duration, usize)> {
        let (seconds, next) = duration::duration_at(self.tokens, at)?;
        let next = self.skip(next, &["from now"]);
        Some((duration::to_duration(&seconds), next))
    }

    fn time(&self, at: usize) -> Option<(TimeOfDay, usize)> {
        clock::time_at(self.tokens, at)
    }

    /// "in 20 minutes", "20 minutes from now", "at 5 pm", "tomorrow at 6", "on friday at 9",
    /// and with `allow_for`, "for 5 pm" / "for 10 minutes".
    fn when(&self, at: usize, allow_for: bool) -> Option<(When, usize)> {
        if let Some(after_in) = self.phrase(at, "in")
            && let Some((duration, next)) = self.duration(after_in)
        {
            return Some((When::In(duration), next));
        }
        let at = if allow_for {
            self.skip(at, &["for"])
        } else {
            at
        };
        if let Some((seconds, next)) = duration::duration_at(self.tokens, at) {
            let duration = duration::to_duration(&seconds);
            if let Some(after) = self.phrase(next, "from now") {
                return Some((When::In(duration), after));
            }
            if allow_for {
                return Some((When::In(duration), next));
            }
        }
        self.time(at).map(|(time, next)| (When::at(time), next))
    }

    /// Whether tokens from `at` to the end name only a day ("tomorrow", "on friday"):
    /// something to ask the time for.
    fn only_a_day(&self, at: usize) -> bool {
        let at = self.skip(at, &["for"]);
        clock::day_part(self.tokens, at).is_some_and(|(_, _, next)| next == self.len())
    }

    // ---- set ----

    /// "set a timer for 10 minutes", "a 5 minute pasta timer", "set an alarm for 6:30 am
    /// tomorrow", "set a reminder for 5 pm to call mom". Without a verb a time must be given.
    fn set(&self, at: usize, has_verb: bool) -> Option<TimerIntent> {
        let articles: &[&str] = if has_verb {
            &["a new", "another", "a", "an", "the", "my", "one more"]
        } else {
            &["a", "an"]
        };
        let start = self.skip(at, articles);
        // The kind noun comes within a few words: "a 1 hour 30 minute pasta timer".
        let (noun, kind) =
            (start..self.len().min(start + 12)).find_map(|index| {
                match kind_noun(self.get(index)) {
                    Some((kind, false)) => Some((index, kind)),
                    _ => None,
                }
            })?;
        // Before the noun: an optional duration or time, then an optional label.
        let mut when = None;
        let mut index = start;
        if index < noun {
            // "an hour timer": the article may be the duration's "one".
            let timer_duration = [at, start]
                .into_iter()
                .find_map(|from| self.duration(from).filter(|(_, next)| *next <= noun));
            if kind == TimerKind::Timer
                && let Some((duration, next)) = timer_duration
            {
                when = Some(When::In(duration));
                index = next;
            } else if kind == TimerKind::Alarm
                && let Some((time, next)) = self.time(index)
                && next <= noun
            {
                when = Some(When::at(time));
                index = next;
            }
        }
        let mut label = None;
        if index < noun {
            let (words, next) = self.label_words(index)?;
            if next != noun {
                return None;
            }
            label = Some(words);
        }
        let after = noun + 1;
        if kind == TimerKind::Reminder {
            if when.is_some() || label.is_some() {
                return None;
            }
            return self.reminder_rest(after, true).filter(|_| has_verb);
        }
        let (when, label) = self.after_noun(kind, after, when, label)?;
        match when {
            Some(when) => Some(TimerIntent::Set { kind, when, label }),
            None if has_verb => Some(TimerIntent::AskDuration { kind, label }),
            None => None,
        }
    }

    /// After "timer"/"alarm": "for 10 minutes", "10 minutes", "at 7", "for 6:30 am tomorrow",
    /// "called pasta", "for pasta", "for the eggs".
    fn after_noun(
        &self,
        kind: TimerKind,
        mut index: usize,
        mut when: Option<When>,
        mut label: Option<String>,
    ) -> Option<(Option<When>, Option<String>)> {
        for _ in 0..3 {
            if index >= self.len() {
                return Some((when, label));
            }
            if when.is_none()
                && let Some((found, next)) = self.when_after_noun(kind, index)
            {
                when = Some(found);
                index = next;
                continue;
            }
            let label_openings: &[&str] = if kind == TimerKind::Timer {
                &["called", "named", "labelled", "labeled", "for"]
            } else {
                &["called", "named", "labelled", "labeled"]
            };
            if label.is_none()
                && let Some(after_word) = self.any_phrase(index, label_openings)
            {
                let after_article = self.skip(after_word, &["the", "my"]);
                if let Some((words, next)) = self.label_words(after_article) {
                    label = Some(words);
                    index = next;
                    continue;
                }
            }
            let ask = (kind == TimerKind::Timer && self.bare_number(index))
                || (kind == TimerKind::Alarm && self.only_a_day(index));
            if when.is_none() && ask {
                // "set a timer for 5", "set an alarm for tomorrow": ask.
                return Some((None, label));
            }
            return None;
        }
        (index >= self.len()).then_some((when, label))
    }

    fn when_after_noun(&self, kind: TimerKind, index: usize) -> Option<(When, usize)> {
        match kind {
            TimerKind::Timer => {
                // "put a timer on for 10 minutes"
                let start = self.skip(index, &["on for", "for", "of"]);
                self.duration(start)
                    .map(|(duration, next)| (When::In(duration), next))
            }
            _ => {
                let start = self.skip(index, &["for", "at"]);
                if let Some(found) = self.when(index, false) {
                    return Some(found);
                }
                if let Some((duration, next)) = self.duration(start) {
                    return Some((When::In(duration), next));
                }
                self.time(start).map(|(time, next)| (When::at(time), next))
            }
        }
    }

    /// "for 5" / "5" and nothing else: a number without a unit.
    fn bare_number(&self, at: usize) -> bool {
        let at = self.skip(at, &["for"]);
        at + 1 == self.len()
            && self.get(at).is_some_and(|token| {
                token.is_number() || (token.is_word() && math::number_word(token.text).is_some())
            })
    }

    // ---- wake me up ----

    /// "wake me up at 7", "wake me at 6:30 tomorrow", "wake me up in 8 hours", "wake me up".
    fn wake_me(&self) -> Option<TimerIntent> {
        let after = self.any_phrase(0, &["wake me up", "wake me", "wake up me"])?;
        if after == self.len() {
            return Some(TimerIntent::AskDuration {
                kind: TimerKind::Alarm,
                label: None,
            });
        }
        if self.only_a_day(after) {
            return Some(TimerIntent::AskDuration {
                kind: TimerKind::Alarm,
                label: None,
            });
        }
        let (when, next) = self.when(after, false)?;
        (next == self.len()).then_some(TimerIntent::Set {
            kind: TimerKind::Alarm,
            when,
            label: None,
        })
    }

    // ---- reminders ----

    /// "remind me in 20 minutes to call mom", "remind me to call mom in 20 minutes",
    /// "remind me at 5 pm to take out the trash", "remind me to call mom".
    fn remind_me(&self) -> Option<TimerIntent> {
        let after = self.phrase(0, "remind me")?;
        self.reminder_rest(after, false)
    }

    /// What follows "remind me" or "set a reminder".
    fn reminder_rest(&self, at: usize, after_noun: bool) -> Option<TimerIntent> {
        let reminder = |when, label| {
            Some(TimerIntent::Set {
                kind: TimerKind::Reminder,
                when,
                label,
            })
        };
        if at >= self.len() || self.only_a_day(at) {
            // "remind me", "set a reminder", "remind me tomorrow": ask what time.
            return Some(TimerIntent::AskDuration {
                kind: TimerKind::Reminder,
                label: None,
            });
        }
        // The time first: "in 20 minutes to call mom".
        if let Some((when, next)) = self.when(at, after_noun) {
            if next == self.len() {
                return reminder(when, None);
            }
            let task_start = self.any_phrase(next, &["to", "that", "about"])?;
            return reminder(when, Some(self.text(task_start, self.len())?));
        }
        // The task first: "to call mom in 20 minutes". After "set a reminder", "for the
        // dentist" names the task too.
        let connector = self.get(at)?;
        let connectors: &[&str] = if after_noun {
            &["to", "that", "about", "for"]
        } else {
            &["to", "that", "about"]
        };
        if !connector.is_any(connectors) {
            return None;
        }
        let task_start = at + 1;
        if task_start >= self.len() {
            return None;
        }
        let earliest = (task_start + 1).max(self.len().saturating_sub(16));
        for split in earliest..self.len() {
            let starts_time = self.get(split).is_some_and(|token| {
                token.is_any(&[
                    "in", "at", "on", "tomorrow", "today", "tonight", "this", "next", "noon",
                    "midnight",
                ])
            });
            if !starts_time {
                continue;
            }
            if let Some((when, next)) = self.when(split, false)
                && next == self.len()
            {
                return reminder(when, Some(self.text(task_start, split)?));
            }
        }
        // "remind me to call mom": ask when. "remind me about/that …" without a time is as
        // likely a question ("remind me about the French revolution") and goes on; after "set
        // a reminder" the intent is clear.
        (after_noun || connector.is("to")).then(|| TimerIntent::AskDuration {
            kind: TimerKind::Reminder,
            label: self.text(task_start, self.len()),
        })
    }

    // ---- cancel ----

    /// "cancel the timer", "stop the pasta timer", "cancel all timers", "delete my alarms",
    /// "turn off the alarm", "turn the alarm off", "cancel the reminder to call mom".
    fn cancel(&self) -> Option<TimerIntent> {
        let (start, end) = if let Some(after) = self.any_phrase(0, &["turn", "switch", "shut"])
            && self.len() > after + 1
            && self.is(self.len() - 1, "off")
        {
            (after, self.len() - 1)
        } else {
            (self.any_phrase(0, CANCEL_VERBS)?, self.len())
        };
        let object = Parser {
            source: self.source,
            tokens: &self.tokens[..end],
        };
        object.cancel_object(start)
    }

    fn cancel_object(&self, at: usize) -> Option<TimerIntent> {
        let cancel = |kind, target| Some(TimerIntent::Cancel { kind, target });
        // "all timers", "all of my alarms", "every timer", "my timers", "timers and alarms"
        let after_all = self.any_phrase(
            at,
            &[
                "all of the",
                "all of my",
                "all the",
                "all my",
                "all",
                "every",
            ],
        );
        let index = self.skip(after_all.unwrap_or(at), &["the", "my", "of"]);
        if let Some(kind) = self.plural_kinds(index) {
            return cancel(kind, TimerTarget::All);
        }
        if let Some(after) = after_all
            && let Some((kind, false)) = kind_noun(self.get(after))
            && after + 1 == self.len()
        {
            // "cancel all timer", "every alarm"
            return cancel(Some(kind), TimerTarget::All);
        }
        if after_all.is_some() {
            return None;
        }
        let start = self.skip(at, &["the", "my", "that", "this", "a"]);
        let (noun, kind) =
            (start..self.len().min(start + 8)).find_map(|index| {
                match kind_noun(self.get(index)) {
                    Some((kind, false)) => Some((index, kind)),
                    _ => None,
                }
            })?;
        let before = self.target_before_noun(start, noun, kind)?;
        let after = self.target_after_noun(noun + 1, kind)?;
        let target = match (before, after) {
            (None, None) => TimerTarget::Only,
            (Some(target), None) | (None, Some(target)) => target,
            (Some(_), Some(_)) => return None,
        };
        cancel(Some(kind), target)
    }

    /// "timers", "alarms", "timers and alarms" ending the command: the kind (None for both).
    fn plural_kinds(&self, at: usize) -> Option<Option<TimerKind>> {
        let (first, true) = kind_noun(self.get(at))? else {
            return None;
        };
        if at + 1 == self.len() {
            return Some(Some(first));
        }
        if self.is(at + 1, "and")
            && at + 3 == self.len()
            && matches!(kind_noun(self.get(at + 2)), Some((second, true)) if second != first)
        {
            return Some(None);
        }
        None
    }

    /// Between the article and the noun: nothing, a label, a duration or a time.
    /// Some(None) means nothing there.
    fn target_before_noun(
        &self,
        start: usize,
        noun: usize,
        kind: TimerKind,
    ) -> Option<Option<TimerTarget>> {
        if start == noun {
            return Some(None);
        }
        if kind == TimerKind::Timer
            && let Some((duration, next)) = self.duration(start)
            && next == noun
        {
            return Some(Some(TimerTarget::Duration(duration)));
        }
        if kind != TimerKind::Timer
            && let Some((time, next)) = self.time(start)
            && next == noun
            && time.day == DayHint::Unspecified
        {
            return Some(Some(TimerTarget::Time {
                time: time.time,
                am_pm_given: time.am_pm_given,
            }));
        }
        let (label, next) = self.label_words(start)?;
        (next == noun).then_some(Some(TimerTarget::Labelled(label)))
    }

    /// After the noun: nothing, "for pasta", "for 10 minutes", "for 7 am", "to call mom".
    fn target_after_noun(&self, at: usize, kind: TimerKind) -> Option<Option<TimerTarget>> {
        if at == self.len() {
            return Some(None);
        }
        if kind == TimerKind::Reminder {
            let task = self.any_phrase(at, &["to", "about", "for"])?;
            return Some(Some(TimerTarget::Labelled(self.text(task, self.len())?)));
        }
        let after_for = self.any_phrase(at, &["for", "at", "called", "named"])?;
        if kind == TimerKind::Timer
            && let Some((duration, next)) = self.duration(after_for)
            && next == self.len()
        {
            return Some(Some(TimerTarget::Duration(duration)));
        }
        if kind == TimerKind::Alarm
            && let Some((time, next)) = self.time(after_for)
            && next == self.len()
            && time.day == DayHint::Unspecified
        {
            return Some(Some(TimerTarget::Time {
                time: time.time,
                am_pm_given: time.am_pm_given,
            }));
        }
        let start = self.skip(after_for, &["the", "my"]);
        let (label, next) = self.label_words(start)?;
        (next == self.len()).then_some(Some(TimerTarget::Labelled(label)))
    }

    // ---- list ----

    /// "what timers do I have", "list my alarms", "what reminders do I have", "show me my
    /// timers", "do I have any alarms", "what are my reminders".
    fn list(&self) -> Option<TimerIntent> {
        const OPENINGS: &[&str] = &[
            "what are all my",
            "what are all the",
            "what are my",
            "what are the",
            "which are my",
            "what",
            "which",
            "list all of my",
            "list all my",
            "list all the",
            "list all",
            "list my",
            "list the",
            "list",
            "show me all my",
            "show me all the",
            "show me my",
            "show me the",
            "show me",
            "show all my",
            "show my",
            "show",
            "tell me my",
            "do i have any",
            "are there any",
            "have i set any",
            "read me my",
            "read my",
            "how many",
        ];
        const CLOSINGS: &[&str] = &[
            "do i have set",
            "do i have",
            "have i got",
            "have i set",
            "did i set",
            "i have",
            "are set",
            "are running",
            "are active",
            "are there",
            "are on",
            "are pending",
            "set",
            "running",
            "active",
            "pending",
            "",
        ];
        let after_opening = self.any_phrase(0, OPENINGS)?;
        let (first, true) = kind_noun(self.get(after_opening))? else {
            return None;
        };
        let mut index = after_opening + 1;
        let mut kind = Some(first);
        if self.is(index, "and")
            && let Some((second, true)) = kind_noun(self.get(index + 1))
            && second != first
        {
            kind = None;
            index += 2;
        }
        let closes = CLOSINGS.iter().any(|closing| {
            if closing.is_empty() {
                index == self.len()
            } else {
                self.phrase(index, closing) == Some(self.len())
            }
        });
        closes.then_some(TimerIntent::List { kind })
    }

    // ---- time left ----

    /// "how much time is left", "how long is left on the pasta timer", "how much longer on
    /// the timer", "how long until the timer goes off", "time left on my timer".
    fn time_left(&self) -> Option<TimerIntent> {
        // May stand alone.
        const ALONE: &[&str] = &[
            "how much time is left",
            "how much time's left",
            "how much time left",
            "how much time is remaining",
            "how much time remaining",
            "how much time remains",
            "how much time do i have left",
            "how much time is there left",
            "how long is left",
            "how long's left",
            "how long left",
            "how long remaining",
        ];
        // Need a timer after them.
        const WITH_TIMER: &[&str] = &[
            "how much longer",
            "how long until",
            "how long till",
            "how long before",
            "time left",
            "time remaining",
            "what's left",
            "check",
        ];
        let (after, alone) = match self.any_phrase(0, ALONE) {
            Some(after) => (after, true),
            None => (self.any_phrase(0, WITH_TIMER)?, false),
        };
        if after == self.len() {
            return alone.then_some(TimerIntent::TimeLeft { label: None });
        }
        let start = self.skip(after, &["on", "in", "for", "of"]);
        let start = self.skip(start, &["the", "my", "this"]);
        let (noun, kind) = (start..self.len().min(start + 6))
            .find_map(|index| kind_noun(self.get(index)).map(|found| (index, found)))?;
        if kind.0 != TimerKind::Timer {
            return None;
        }
        let label = if start < noun {
            let (label, next) = self.label_words(start)?;
            if next != noun {
                return None;
            }
            Some(label)
        } else {
            None
        };
        let end = self.skip(
            noun + 1,
            &[
                "goes off", "go off", "ends", "is done", "rings", "finishes", "is up",
            ],
        );
        (end == self.len()).then_some(TimerIntent::TimeLeft { label })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Weekday};
    use proptest::prelude::*;
    use std::time::Instant;

    fn minutes(count: u64) -> When {
        When::In(Duration::from_secs(count * 60))
    }

    fn seconds(count: u64) -> When {
        When::In(Duration::from_secs(count))
    }

    fn at(hour: u8, minute: u8, day: DayHint, am_pm_given: bool) -> When {
        When::At {
            time: ClockTime { hour, minute },
            day,
            am_pm_given,
        }
    }

    fn set(kind: TimerKind, when: When, label: Option<&str>) -> TimerIntent {
        TimerIntent::Set {
            kind,
            when,
            label: label.map(str::to_string),
        }
    }

    fn ask(kind: TimerKind, label: Option<&str>) -> TimerIntent {
        TimerIntent::AskDuration {
            kind,
            label: label.map(str::to_string),
        }
    }

    fn cancel(kind: Option<TimerKind>, target: TimerTarget) -> TimerIntent {
        TimerIntent::Cancel { kind, target }
    }

    fn labelled(label: &str) -> TimerTarget {
        TimerTarget::Labelled(label.to_string())
    }

    #[test]
    fn set_phrasings() {
        use DayHint::{Tomorrow, Unspecified};
        use TimerKind::*;
        let table: Vec<(&str, TimerIntent)> = vec![
            ("set a timer for 10 minutes", set(Timer, minutes(10), None)),
            ("Set a timer for 10 minutes.", set(Timer, minutes(10), None)),
            (
                "hey ballsy, set a timer for 10 minutes please",
                set(Timer, minutes(10), None),
            ),
            (
                "can you set a timer for ten minutes?",
                set(Timer, minutes(10), None),
            ),
            (
                "a 5 minute pasta timer",
                set(Timer, minutes(5), Some("pasta")),
            ),
            (
                "set a 5 minute pasta timer",
                set(Timer, minutes(5), Some("pasta")),
            ),
            ("timer for 1 hour 30 minutes", set(Timer, minutes(90), None)),
            ("set a timer for 3 seconds", set(Timer, seconds(3), None)),
            ("set timer 10 min", set(Timer, minutes(10), None)),
            ("start a ten minute timer", set(Timer, minutes(10), None)),
            ("start a ten-minute timer", set(Timer, minutes(10), None)),
            ("10 minute timer", set(Timer, minutes(10), None)),
            (
                "set a pasta timer for 8 minutes",
                set(Timer, minutes(8), Some("pasta")),
            ),
            (
                "set a timer for 8 minutes for pasta",
                set(Timer, minutes(8), Some("pasta")),
            ),
            (
                "set a timer for 8 minutes for the eggs",
                set(Timer, minutes(8), Some("eggs")),
            ),
            (
                "set a timer called pasta for 8 minutes",
                set(Timer, minutes(8), Some("pasta")),
            ),
            (
                "set a 10 minute timer for pasta",
                set(Timer, minutes(10), Some("pasta")),
            ),
            (
                "set a timer for an hour and a half",
                set(Timer, minutes(90), None),
            ),
            (
                "set another timer for 5 minutes",
                set(Timer, minutes(5), None),
            ),
            ("timer 2h30m", set(Timer, minutes(150), None)),
            (
                "put a timer on for 10 minutes",
                set(Timer, minutes(10), None),
            ),
            (
                "remind me to call mom at 5pm tomorrow",
                set(Reminder, at(17, 0, Tomorrow, true), Some("call mom")),
            ),
            (
                "Remind me tonight at 8 to call Mom.",
                set(Reminder, at(20, 0, DayHint::Today, true), Some("call mom")),
            ),
            (
                "remind me on friday at 9 to pay rent",
                set(
                    Reminder,
                    at(9, 0, DayHint::Weekday(Weekday::Fri), false),
                    Some("pay rent"),
                ),
            ),
            (
                "can you wake me up at seven thirty tomorrow morning",
                set(Alarm, at(7, 30, Tomorrow, true), None),
            ),
            (
                "set a timer for 1 hour and 30 minutes for the roast",
                set(Timer, minutes(90), Some("roast")),
            ),
            ("set a 90 second timer", set(Timer, seconds(90), None)),
            ("timer for twenty seconds", set(Timer, seconds(20), None)),
            (
                "set a countdown for 30 seconds",
                set(Timer, seconds(30), None),
            ),
            (
                "i need a timer for 20 minutes",
                set(Timer, minutes(20), None),
            ),
            (
                "set a hard-boiled egg timer for 9 minutes",
                set(Timer, minutes(9), Some("hard-boiled egg")),
            ),
            (
                "set a timer for 8 days",
                set(Timer, minutes(8 * 24 * 60), None),
            ),
            (
                "wake me up at 7",
                set(Alarm, at(7, 0, Unspecified, false), None),
            ),
            (
                "wake me at 6:30 tomorrow",
                set(Alarm, at(6, 30, Tomorrow, false), None),
            ),
            (
                "wake me up tomorrow at 6 am",
                set(Alarm, at(6, 0, Tomorrow, true), None),
            ),
            ("wake me up in 8 hours", set(Alarm, minutes(480), None)),
            (
                "set an alarm for 6:30 am tomorrow",
                set(Alarm, at(6, 30, Tomorrow, true), None),
            ),
            ("alarm at 7", set(Alarm, at(7, 0, Unspecified, false), None)),
            (
                "set alarm 7 am",
                set(Alarm, at(7, 0, Unspecified, true), None),
            ),
            (
                "set an alarm for 7 on friday",
                set(Alarm, at(7, 0, DayHint::Weekday(Weekday::Fri), false), None),
            ),
            (
                "set an alarm for half past seven",
                set(Alarm, at(7, 30, Unspecified, false), None),
            ),
            ("set an alarm in 20 minutes", set(Alarm, minutes(20), None)),
            (
                "set an alarm for 20 minutes from now",
                set(Alarm, minutes(20), None),
            ),
            (
                "set a 7 am alarm",
                set(Alarm, at(7, 0, Unspecified, true), None),
            ),
            (
                "set a work alarm for 7 am",
                set(Alarm, at(7, 0, Unspecified, true), Some("work")),
            ),
            (
                "set an alarm for 7 called gym",
                set(Alarm, at(7, 0, Unspecified, false), Some("gym")),
            ),
            (
                "remind me in 20 minutes to call mom",
                set(Reminder, minutes(20), Some("call mom")),
            ),
            (
                "remind me to call mom in 20 minutes",
                set(Reminder, minutes(20), Some("call mom")),
            ),
            (
                "Remind me to call Mom in 20 minutes!",
                set(Reminder, minutes(20), Some("call mom")),
            ),
            (
                "remind me at 5 pm to take out the trash",
                set(
                    Reminder,
                    at(17, 0, Unspecified, true),
                    Some("take out the trash"),
                ),
            ),
            (
                "remind me to take out the trash at 5 pm",
                set(
                    Reminder,
                    at(17, 0, Unspecified, true),
                    Some("take out the trash"),
                ),
            ),
            (
                "remind me tomorrow at 9 to call the bank",
                set(Reminder, at(9, 0, Tomorrow, false), Some("call the bank")),
            ),
            (
                "remind me to call the bank tomorrow at 9",
                set(Reminder, at(9, 0, Tomorrow, false), Some("call the bank")),
            ),
            (
                "remind me to buy milk at the store at 5",
                set(
                    Reminder,
                    at(5, 0, Unspecified, false),
                    Some("buy milk at the store"),
                ),
            ),
            (
                "remind me at 5 to take out the trash",
                set(
                    Reminder,
                    at(5, 0, Unspecified, false),
                    Some("take out the trash"),
                ),
            ),
            ("remind me in an hour", set(Reminder, minutes(60), None)),
            (
                "remind me about the meeting in 10 minutes",
                set(Reminder, minutes(10), Some("the meeting")),
            ),
            (
                "remind me in 10 minutes that the oven is on",
                set(Reminder, minutes(10), Some("the oven is on")),
            ),
            (
                "set a reminder for 5 pm to call mom",
                set(Reminder, at(17, 0, Unspecified, true), Some("call mom")),
            ),
            (
                "set a reminder in 10 minutes to stretch",
                set(Reminder, minutes(10), Some("stretch")),
            ),
            (
                "set a reminder to stretch in 10 minutes",
                set(Reminder, minutes(10), Some("stretch")),
            ),
            (
                "set a reminder for 10 minutes",
                set(Reminder, minutes(10), None),
            ),
            (
                "set a reminder for the dentist at 5 pm",
                set(Reminder, at(17, 0, Unspecified, true), Some("the dentist")),
            ),
            (
                "remind me in 5 min to check the oven, please",
                set(Reminder, minutes(5), Some("check the oven")),
            ),
        ];
        for (command, expected) in table {
            assert_eq!(parse_timer_intent(command), Some(expected), "{command:?}");
        }
    }

    #[test]
    fn ask_phrasings() {
        use TimerKind::*;
        let table = [
            ("set a timer", ask(Timer, None)),
            ("start a timer", ask(Timer, None)),
            ("set a pasta timer", ask(Timer, Some("pasta"))),
            ("set a timer for 5", ask(Timer, None)),
            ("set an alarm", ask(Alarm, None)),
            ("set an alarm for tomorrow", ask(Alarm, None)),
            ("wake me up", ask(Alarm, None)),
            ("wake me up tomorrow", ask(Alarm, None)),
            ("set a reminder", ask(Reminder, None)),
            ("remind me to call mom", ask(Reminder, Some("call mom"))),
            ("remind me", ask(Reminder, None)),
            ("remind me tomorrow", ask(Reminder, None)),
            (
                "set a reminder about the dentist",
                ask(Reminder, Some("the dentist")),
            ),
            (
                "set a reminder for the dentist",
                ask(Reminder, Some("the dentist")),
            ),
            ("set an hour timer", set(Timer, minutes(60), None)),
            (
                "remind me to call mom at home",
                ask(Reminder, Some("call mom at home")),
            ),
            (
                "remind me to check the oven for 10 minutes",
                ask(Reminder, Some("check the oven for 10 minutes")),
            ),
        ];
        for (command, expected) in table {
            assert_eq!(parse_timer_intent(command), Some(expected), "{command:?}");
        }
    }

    #[test]
    fn cancel_list_and_time_left_phrasings() {
        use TimerKind::*;
        let table: Vec<(&str, TimerIntent)> = vec![
            (
                "how much time is left",
                TimerIntent::TimeLeft { label: None },
            ),
            (
                "how much time is left?",
                TimerIntent::TimeLeft { label: None },
            ),
            (
                "how much time is left on the timer",
                TimerIntent::TimeLeft { label: None },
            ),
            (
                "how long is left on the pasta timer",
                TimerIntent::TimeLeft {
                    label: Some("pasta".into()),
                },
            ),
            (
                "how much longer on my timer",
                TimerIntent::TimeLeft { label: None },
            ),
            (
                "how long until the egg timer goes off",
                TimerIntent::TimeLeft {
                    label: Some("egg".into()),
                },
            ),
            (
                "time left on the timer",
                TimerIntent::TimeLeft { label: None },
            ),
            ("check the timer", TimerIntent::TimeLeft { label: None }),
            ("cancel the timer", cancel(Some(Timer), TimerTarget::Only)),
            ("stop the timer", cancel(Some(Timer), TimerTarget::Only)),
            ("stop the alarm", cancel(Some(Alarm), TimerTarget::Only)),
            ("cancel timer", cancel(Some(Timer), TimerTarget::Only)),
            (
                "cancel the pasta timer",
                cancel(Some(Timer), labelled("pasta")),
            ),
            (
                "cancel the timer for pasta",
                cancel(Some(Timer), labelled("pasta")),
            ),
            ("cancel all timers", cancel(Some(Timer), TimerTarget::All)),
            (
                "cancel all of my timers",
                cancel(Some(Timer), TimerTarget::All),
            ),
            ("cancel my timers", cancel(Some(Timer), TimerTarget::All)),
            (
                "cancel all timers and alarms",
                cancel(None, TimerTarget::All),
            ),
            ("cancel my alarm", cancel(Some(Alarm), TimerTarget::Only)),
            ("turn off the alarm", cancel(Some(Alarm), TimerTarget::Only)),
            ("turn the alarm off", cancel(Some(Alarm), TimerTarget::Only)),
            (
                "delete all reminders",
                cancel(Some(Reminder), TimerTarget::All),
            ),
            (
                "cancel the reminder to call mom",
                cancel(Some(Reminder), labelled("call mom")),
            ),
            (
                "cancel the 10 minute timer",
                cancel(Some(Timer), TimerTarget::Duration(Duration::from_secs(600))),
            ),
            (
                "cancel my 7 am alarm",
                cancel(
                    Some(Alarm),
                    TimerTarget::Time {
                        time: ClockTime { hour: 7, minute: 0 },
                        am_pm_given: true,
                    },
                ),
            ),
            (
                "cancel the alarm for 6:30",
                cancel(
                    Some(Alarm),
                    TimerTarget::Time {
                        time: ClockTime {
                            hour: 6,
                            minute: 30,
                        },
                        am_pm_given: false,
                    },
                ),
            ),
            (
                "what timers do I have",
                TimerIntent::List { kind: Some(Timer) },
            ),
            (
                "what timers do I have?",
                TimerIntent::List { kind: Some(Timer) },
            ),
            ("list my alarms", TimerIntent::List { kind: Some(Alarm) }),
            (
                "what reminders do I have",
                TimerIntent::List {
                    kind: Some(Reminder),
                },
            ),
            (
                "what are my reminders",
                TimerIntent::List {
                    kind: Some(Reminder),
                },
            ),
            ("show me my timers", TimerIntent::List { kind: Some(Timer) }),
            (
                "do i have any alarms set",
                TimerIntent::List { kind: Some(Alarm) },
            ),
            (
                "what alarms are set",
                TimerIntent::List { kind: Some(Alarm) },
            ),
            (
                "what timers and alarms do i have",
                TimerIntent::List { kind: None },
            ),
            (
                "how many timers do i have",
                TimerIntent::List { kind: Some(Timer) },
            ),
            (
                "how many timers are running",
                TimerIntent::List { kind: Some(Timer) },
            ),
        ];
        for (command, expected) in table {
            assert_eq!(parse_timer_intent(command), Some(expected), "{command:?}");
        }
    }

    #[test]
    fn not_timer_intents() {
        for command in [
            "",
            "what time is it",
            "timer app",
            "timer",
            "timers",
            "alarm",
            "pasta timer",
            "who invented the timer",
            "what is a timer",
            "how do timers work",
            "set the table",
            "set the alarm clock volume",
            "remind me what you said",
            "remind me who won the world cup",
            "remind me about the french revolution",
            "how much time is left until christmas",
            "how much time is left in the game",
            "how long is a timer",
            "cancel my subscription",
            "cancel",
            "stop",
            "stop the music",
            "wake me up inside",
            "wake me up when september ends",
            "play wake me up",
            "open the timer",
            "the timer is broken",
            "my alarm didn't go off",
            "why didn't my alarm go off",
            "what is the best alarm clock",
            "alarm clock",
            "set a timer for 5 pm",
            "list of famous timers",
            "a timer",
            "10 minutes",
            "what is left",
            "how long left in the year",
            "what timers are best for cooking",
            "cancel all",
            "turn off the lights",
            "set an alarm for the kids",
            "remind me to",
            "left",
        ] {
            assert_eq!(parse_timer_intent(command), None, "{command:?}");
        }
    }

    #[test]
    fn when_resolves_in_the_users_zone() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 24, 16, 5, 0)
            .single()
            .expect("valid");
        assert_eq!(
            minutes(10).resolve(now, chrono_tz::UTC),
            now + chrono::Duration::minutes(10)
        );
        assert_eq!(
            When::In(Duration::MAX).resolve(now, chrono_tz::UTC),
            DateTime::<Utc>::MAX_UTC
        );
        let seven = at(7, 0, DayHint::Weekday(Weekday::Fri), true);
        assert_eq!(
            seven.resolve(now, chrono_tz::America::New_York),
            Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0)
                .single()
                .expect("valid")
        );
    }

    #[test]
    fn refusals_outside_one_second_to_seven_days() {
        assert_eq!(
            duration_refusal(TimerKind::Timer, Duration::from_secs(1)),
            None
        );
        assert_eq!(duration_refusal(TimerKind::Timer, MAX_DURATION), None);
        assert_eq!(
            duration_refusal(TimerKind::Timer, MAX_DURATION + Duration::from_secs(1)),
            Some("Sorry, I can only set timers for up to 7 days.")
        );
        for kind in [TimerKind::Timer, TimerKind::Alarm, TimerKind::Reminder] {
            assert!(duration_refusal(kind, Duration::ZERO).is_some_and(|s| s.ends_with('.')));
            assert!(duration_refusal(kind, Duration::MAX).is_some_and(|s| s.ends_with('.')));
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_is_fast(input in "\\PC{0,1000}") {
            let started = Instant::now();
            let _ = parse_timer_intent(&input);
            let _ = parse_timer_intent(&format!("remind me to {input}"));
            let _ = parse_timer_intent(&format!("set a timer {input}"));
            prop_assert!(started.elapsed() < Duration::from_secs(1));
        }

        #[test]
        fn intent_shaped_noise_is_fast(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "set", "a", "timer", "for", "10", "minutes", "remind", "me", "to", "in",
                    "at", "7", "pm", "tomorrow", "cancel", "the", "all", "timers", "and", "alarm",
                    "how", "much", "time", "is", "left", "on", "pasta", "wake", "up", "half",
                    "an", "hour", "what", "do", "i", "have",
                ]),
                0..250,
            )
        ) {
            let started = Instant::now();
            let _ = parse_timer_intent(&words.join(" "));
            prop_assert!(started.elapsed() < Duration::from_secs(1));
        }

        #[test]
        fn any_duration_sets_a_timer(seconds in 1u64..=7 * 86_400) {
            let spoken = duration::speak_duration(Duration::from_secs(seconds));
            let command = format!("set a timer for {spoken}");
            let parsed = parse_timer_intent(&command);
            let Some(TimerIntent::Set { kind: TimerKind::Timer, when: When::In(found), label: None }) = &parsed else {
                return Err(TestCaseError::fail(format!("{command:?} gave {parsed:?}")));
            };
            prop_assert_eq!(duration::parse_duration(&spoken), Some(*found));
        }
    }
}
