//! Command dispatch: conversational replies, time and date, the calculator, site rules,
//! and the questions handed to the language model, plus the fallbacks applied to its answers.
//!
//! Rules match whole words and phrases, never raw substrings, and the first matching rule
//! wins, in this order: timers, alarms and reminders; greeting, name, how-are-you, help,
//! thanks, exit; time, date; unit conversions; maths; the weather; site rules (directions,
//! "… on <site>", news, email, web search, "open …"); who/what questions; and finally a
//! general question for the model.

use std::sync::LazyLock;

use regex::Regex;

use crate::assistant::math::{self, MathForm, Number};
use crate::assistant::sites::site_reply;
use crate::assistant::text::{
    clean_query, compile, contains_phrase, equals_words, has_alphanumeric, normalize,
    starts_with_words, strip_leading_filler_words, strip_leading_fillers,
    strip_trailing_filler_words, words,
};
use crate::assistant::{
    Action, Context, Question, QuestionKind, Reply, Routed, SkillRequest, timers, units,
};

const GREETING_REPLY: &str = "Hi there! I'm Ballsy, your voice assistant. How can I help?";
const NAME_REPLY: &str = "I'm Ballsy, your personal voice assistant!";
const HOW_ARE_YOU_REPLY: &str = "I'm doing great! Ready to help you with anything you need!";
const EXIT_REPLY: &str = "Goodbye! Take care!";
const ASK_WHAT_REPLY: &str = "What would you like to know?";
/// What "help" and "what can you do" answer, whatever model is configured.
pub const HELP_REPLY: &str = "I can set timers, alarms and reminders, tell you the weather, convert units, play music and videos on YouTube or Spotify, open maps and directions, read the news, search the web, do exact maths with follow-ups like \"times 2\", and tell you the time and date. Try \"set a pasta timer for 10 minutes\", \"what's the weather in Paris\" or \"convert 5 miles to km\".";
const THANKS_REPLY: &str = "You're welcome!";

const HELP_QUESTIONS: &[&str] = &[
    "help",
    "help me",
    "i need help",
    "what can you do",
    "what else can you do",
    "what are you able to do",
    "what can i ask you",
    "what can i ask",
    "what can i say",
    "what do you do",
    "what can you help with",
    "what can you help me with",
    "how do i use you",
    "how does this work",
    "what are your features",
    "what are your skills",
];

const THANKS: &[&str] = &[
    "thanks",
    "thank you",
    "thank you so much",
    "thank you very much",
    "thanks a lot",
    "thanks so much",
    "many thanks",
    "much appreciated",
    "cheers",
    "thx",
    "ty",
    "great thanks",
    "ok thanks",
    "okay thanks",
    "perfect thanks",
];

const GREETINGS: &[&str] = &["hello", "hi", "hey", "hiya", "howdy"];
/// Words that may follow a greeting without making it a request ("hi there", "hey Ballsy").
const GREETING_FOLLOWERS: &[&str] = &[
    "there",
    "ballsy",
    "everyone",
    "everybody",
    "friend",
    "buddy",
    "all",
];

const NAME_QUESTIONS: &[&str] = &[
    "what's your name",
    "whats your name",
    "what is your name",
    "who are you",
    "what are you called",
    "what should i call you",
    "tell me your name",
];

const HOW_ARE_YOU_QUESTIONS: &[&str] = &[
    "how are you",
    "how are you doing",
    "how are you today",
    "how are you doing today",
    "how's it going",
    "hows it going",
    "how is it going",
    "what's up",
    "whats up",
    "what is up",
    "how have you been",
];

/// An exit instruction starts with one of these.
const EXIT_STARTS: &[&str] = &["bye", "goodbye", "good bye", "exit", "quit", "stop"];
/// …or is one of these.
const EXIT_PHRASES: &[&str] = &[
    "that's all",
    "thats all",
    "that is all",
    "that's all for now",
    "see you",
    "see you later",
    "see you soon",
    "see ya",
];

const TIME_QUESTIONS: &[&str] = &[
    "what time is it",
    "what time it is",
    "what's the time",
    "whats the time",
    "what is the time",
    "current time",
    "time right now",
    "tell me the time",
];

const DATE_QUESTIONS: &[&str] = &[
    "what's the date",
    "whats the date",
    "what is the date",
    "what date is it",
    "what day is it",
    "today's date",
    "todays date",
    "current date",
];

/// Words that may follow a time or date question without changing it. Anything else
/// ("what's the time in Tokyo", "what's the time difference") goes to the model.
const CLOCK_TRAILING: &[&str] = &[
    "now",
    "right",
    "please",
    "ballsy",
    "today",
    "currently",
    "exactly",
    "here",
    "then",
];

/// Introductions the calculator ignores: "what's 5 + 5", "calculate 2 * 3".
static MATH_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)^(?:what\s+is|what's|whats|calculate|compute|how\s+much\s+is|solve)\b[\s:,]*")
});

static WHO_WHAT: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^(?P<phrase>who\s+is|who's|whos|who\s+was|what\s+is|what's|whats|what\s+are|tell\s+me\s+about)\b(?P<subject>.*)$",
    )
});

/// Phrases that mark a model answer as a non-answer (compared case-insensitively, with
/// curly apostrophes straightened, as whole words).
///
/// The predecessor also listed "hello", "hi there", "what about" and "it seems". They are
/// left out on purpose: they occur in perfectly good answers ("Hello Kitty is…", "It seems
/// to have been built in 1889") and turned them into needless searches.
const UNCERTAIN_PHRASES: &[&str] = &[
    "don't know",
    "not familiar",
    "can't find",
    "don't have information",
    "not sure",
    "unable to provide",
    "no information",
    "beyond my knowledge",
    "not available",
    "i don't have specific",
    "i don't have enough",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Time,
    Date,
}

/// Decides what to do with a command (non-empty, at most 1000 characters, any Unicode).
pub fn route(command: &str, ctx: &Context) -> Routed {
    // Timers first: "stop the timer" is not a goodbye.
    if let Some(intent) = timers::parse_timer_intent(command) {
        return Routed::Skill(SkillRequest::Timer(intent));
    }
    let text = normalize(command);
    let command_words = words(&text);
    if let Some(reply) = conversational_reply(&command_words) {
        return Routed::Reply(reply);
    }
    if let Some(clock) = clock_question(&command_words) {
        return Routed::Reply(clock_reply(clock, ctx));
    }
    // Before the calculator and the who/what questions: "what is 10 kg in pounds".
    if let Some(request) = units::parse_conversion(command) {
        let spoken = match units::convert(&request) {
            Ok(result) => units::speak_conversion(&request, &result),
            Err(error) => error.sentence(),
        };
        return Routed::Reply(Reply::say("convert", spoken));
    }
    let request = strip_leading_fillers(&text);
    if let Some(routed) = math_route(request) {
        return routed;
    }
    if let Some(question) = crate::weather::parse_weather_question(command) {
        return Routed::Skill(SkillRequest::Weather(question));
    }
    if let Some(reply) = site_reply(request) {
        return Routed::Reply(reply);
    }
    let question_text = command.trim().to_string();
    if let Some(captures) = WHO_WHAT.captures(request) {
        let subject = clean_query(
            captures
                .name("subject")
                .map_or("", |subject| subject.as_str()),
        );
        if !has_alphanumeric(subject) {
            return Routed::Reply(Reply::say("ask_what", ASK_WHAT_REPLY));
        }
        let is_person = captures
            .name("phrase")
            .is_some_and(|phrase| phrase.as_str().to_lowercase().starts_with("who"));
        return Routed::Ask(Question {
            text: question_text,
            kind: QuestionKind::WhoWhat {
                subject: subject.to_string(),
                is_person,
            },
        });
    }
    Routed::Ask(Question {
        text: question_text,
        kind: QuestionKind::General,
    })
}

/// After the model answered a who/what question: a non-answer becomes a search, as in the
/// predecessor. For people, very short answers (under four words), answers that end in a
/// question mark and answers that ask "would you like…" count as non-answers too. An empty
/// answer always does. General questions keep whatever the model said (`None`).
pub fn uncertain_fallback(question: &Question, answer: &str) -> Option<Reply> {
    let QuestionKind::WhoWhat { subject, is_person } = &question.kind else {
        return None;
    };
    let answer = normalize(answer).to_lowercase();
    let uncertain = answer.is_empty()
        || UNCERTAIN_PHRASES
            .iter()
            .any(|phrase| contains_phrase(&answer, phrase));
    if *is_person {
        let evasive = answer.split_whitespace().count() < 4
            || answer.ends_with('?')
            || contains_phrase(&answer, "would you like");
        (uncertain || evasive).then(|| {
            Reply::act(
                "uncertain_search",
                format!("Let me find information about {subject}"),
                Action::Search {
                    query: format!("who is {subject} person biography"),
                },
            )
        })
    } else {
        uncertain.then(|| {
            Reply::act(
                "uncertain_search",
                format!("Let me search for information about {subject}"),
                Action::Search {
                    query: subject.clone(),
                },
            )
        })
    }
}

/// Phrases that mark a question about what is happening now, which the model cannot know
/// from its training data. Cheap and deliberately narrow: a grounded answer costs a Google
/// Search from a small monthly pool, so only these go out with search grounding.
const CURRENT_EVENTS_PHRASES: &[&str] = &[
    "news",
    "headline",
    "headlines",
    "latest",
    "who won",
    "who is winning",
    "who's winning",
    "score",
    "scores",
    "standings",
    "stock price",
    "share price",
    "exchange rate",
    "price of bitcoin",
    "election",
    "right now",
    "this week",
    "last night",
    "today's",
    "tonight's",
    "yesterday's",
    "currently",
    "happening",
    "recent",
    "recently",
];

/// Whether a question asks about current events (news, results, prices, "latest").
pub fn about_current_events(question: &Question) -> bool {
    let text = normalize(&question.text).to_lowercase();
    CURRENT_EVENTS_PHRASES
        .iter()
        .any(|phrase| contains_phrase(&text, phrase))
}

/// The search offered when the model failed before producing any text: the whole command
/// for general questions, "who is X person" for people, the subject for things.
pub fn failure_fallback(question: &Question) -> Action {
    let query = match &question.kind {
        QuestionKind::General => question.text.clone(),
        QuestionKind::WhoWhat {
            subject,
            is_person: true,
        } => format!("who is {subject} person"),
        QuestionKind::WhoWhat { subject, .. } => subject.clone(),
    };
    Action::Search { query }
}

/// Greeting, name, how-are-you, help, thanks and exit, judged on the command's lowercase
/// words.
fn conversational_reply(command_words: &[String]) -> Option<Reply> {
    if is_greeting(command_words) {
        return Some(Reply::say("greeting", GREETING_REPLY));
    }
    let request = strip_leading_filler_words(command_words);
    let core = strip_trailing_filler_words(request);
    let is_one_of = |phrases: &[&str]| phrases.iter().any(|phrase| equals_words(core, phrase));
    if is_one_of(HELP_QUESTIONS) {
        return Some(Reply::say("help", HELP_REPLY));
    }
    // "thanks" and "thank you" are also trailing fillers, so a bare thank-you strips to nothing.
    let thanked = THANKS
        .iter()
        .any(|phrase| equals_words(core, phrase) || equals_words(request, phrase))
        || (core.is_empty() && request.iter().any(|w| w == "thanks" || w == "thank"));
    if thanked {
        return Some(Reply::say("thanks", THANKS_REPLY));
    }
    if is_one_of(NAME_QUESTIONS) {
        return Some(Reply::say("name", NAME_REPLY));
    }
    if is_one_of(HOW_ARE_YOU_QUESTIONS) {
        return Some(Reply::say("how_are_you", HOW_ARE_YOU_REPLY));
    }
    let starts_exit = EXIT_STARTS
        .iter()
        .any(|start| starts_with_words(request, start));
    if starts_exit || is_one_of(EXIT_PHRASES) {
        return Some(Reply::act("exit", EXIT_REPLY, Action::Exit));
    }
    None
}

/// "hello", "Hi, Ballsy.", "hey there": a greeting word and at most two friendly words.
fn is_greeting(command_words: &[String]) -> bool {
    let Some((first, rest)) = command_words.split_first() else {
        return false;
    };
    GREETINGS.contains(&first.as_str())
        && rest.len() <= 2
        && rest
            .iter()
            .all(|word| GREETING_FOLLOWERS.contains(&word.as_str()))
}

fn clock_question(command_words: &[String]) -> Option<Clock> {
    if contains_question(command_words, TIME_QUESTIONS) {
        Some(Clock::Time)
    } else if contains_question(command_words, DATE_QUESTIONS) {
        Some(Clock::Date)
    } else {
        None
    }
}

/// Whether one of `phrases` occurs in `command_words`, followed only by [`CLOCK_TRAILING`] words.
fn contains_question(command_words: &[String], phrases: &[&str]) -> bool {
    phrases.iter().any(|phrase| {
        let length = phrase.split(' ').count();
        (0..command_words.len()).any(|start| {
            starts_with_words(&command_words[start..], phrase)
                && command_words[start + length..]
                    .iter()
                    .all(|word| CLOCK_TRAILING.contains(&word.as_str()))
        })
    })
}

/// "It's 5:05 PM." / "Today is Tuesday, November 24, 2026.": spoken forms, in the user's zone
/// when the client sent one (no zone name to read out), else in UTC, which the reply then says.
fn clock_reply(clock: Clock, ctx: &Context) -> Reply {
    let (local, utc_note) = match ctx.timezone {
        Some(zone) => (ctx.now.with_timezone(&zone).naive_local(), ""),
        None => (ctx.now.naive_utc(), " UTC"),
    };
    match clock {
        Clock::Time => Reply::say(
            "time",
            format!("It's {}{utc_note}.", local.format("%-I:%M %p")),
        ),
        Clock::Date => {
            let note = if utc_note.is_empty() { "" } else { " (UTC)" };
            Reply::say(
                "date",
                format!("Today is {}{note}.", local.format("%A, %B %-d, %Y")),
            )
        }
    }
}

fn math_expression(request: &str) -> &str {
    match MATH_PREFIX.find(request) {
        Some(prefix) => &request[prefix.end()..],
        None => request,
    }
}

/// A calculation answers at once; a chained one ("+ 6", "times 2") waits for the previous
/// result, which the caller loads only in that case.
fn math_route(request: &str) -> Option<Routed> {
    let expression = math_expression(request);
    match math::classify(expression) {
        MathForm::NotMath => None,
        MathForm::Chained => Some(Routed::Continue(Chained {
            expression: expression.to_owned(),
        })),
        _ => Some(Routed::Reply(calculate(expression, None))),
    }
}

fn calculate(expression: &str, previous: Option<&Number>) -> Reply {
    match math::evaluate(expression, previous) {
        Ok(result) => Reply {
            calculation: Some(result.clone()),
            ..Reply::say("math", result.to_string())
        },
        Err(error) => Reply::say("math", error.sentence()),
    }
}

/// A calculation that continues the previous result ("+ 6", "times 2").
#[derive(Debug, Clone, PartialEq)]
pub struct Chained {
    expression: String,
}

impl Chained {
    /// The answer, given the user's last result (None: there is none).
    pub fn answer(&self, previous: Option<&Number>) -> Reply {
        calculate(&self.expression, previous)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use chrono::{DateTime, TimeZone, Utc};

    use crate::assistant::math::Number;
    use crate::assistant::{Action, Context, Question, QuestionKind, Reply, Routed, route};

    /// 2026-11-24 16:05:00 UTC: 05:05 PM in Berlin, 11:05 AM in New York.
    pub(crate) fn fixed_now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 16, 5, 0)
            .single()
            .expect("valid fixed date")
    }

    pub(crate) fn context() -> Context {
        Context {
            now: fixed_now(),
            timezone: None,
        }
    }

    /// Routes `command` as the turns service does, continuing `previous` for chains.
    pub(crate) fn resolve(command: &str, ctx: &Context, previous: Option<&Number>) -> Routed {
        match route(command, ctx) {
            Routed::Continue(chained) => Routed::Reply(chained.answer(previous)),
            other => other,
        }
    }

    pub(crate) fn reply(command: &str) -> Reply {
        match resolve(command, &context(), None) {
            Routed::Reply(reply) => reply,
            other => panic!("{command:?} went to the model: {other:?}"),
        }
    }

    pub(crate) fn question(command: &str) -> Question {
        match route(command, &context()) {
            Routed::Ask(question) => question,
            other => panic!("{command:?} was answered by a rule: {other:?}"),
        }
    }

    pub(crate) fn is_general(command: &str) -> bool {
        matches!(
            route(command, &context()),
            Routed::Ask(Question {
                kind: QuestionKind::General,
                ..
            })
        )
    }

    /// The rule that answered, or None when the command went to the model.
    pub(crate) fn rule_or_none(command: &str) -> Option<&'static str> {
        match resolve(command, &context(), None) {
            Routed::Reply(reply) => Some(reply.rule),
            _ => None,
        }
    }

    /// The URL and description of an open_url reply.
    pub(crate) fn opened(command: &str) -> (String, String) {
        match reply(command).action {
            Some(Action::OpenUrl { url, description }) => (url, description),
            other => panic!("{command:?} did not open a URL: {other:?}"),
        }
    }

    pub(crate) fn opened_url(command: &str) -> String {
        opened(command).0
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::assistant::math::MathError;
    use chrono_tz::Tz;

    fn response(command: &str) -> String {
        reply(command).response
    }

    fn rule(command: &str) -> &'static str {
        reply(command).rule
    }

    #[test]
    fn greetings_exact_words() {
        for command in ["hello", "Hello", "hi", "hey", "hi "] {
            let greeting = reply(command);
            assert_eq!(greeting.rule, "greeting", "{command:?}");
            assert_eq!(greeting.response, GREETING_REPLY);
            assert_eq!(greeting.action, None);
        }
    }

    #[test]
    fn greetings_tolerate_punctuation_and_a_following_word() {
        for command in [
            "Hello!",
            "hi there",
            "hey Ballsy",
            "Hi, Ballsy.",
            "hey there, Ballsy!",
        ] {
            assert_eq!(rule(command), "greeting", "{command:?}");
        }
        // A greeting in front of a request is the request, not a greeting.
        assert!(matches!(
            route("hi there, what's the weather in Paris", &context()),
            Routed::Skill(SkillRequest::Weather(_))
        ));
        assert!(is_general("hi there, who wrote hamlet"));
        assert!(is_general("hello world"));
    }

    #[test]
    fn percentages_are_calculated_like_the_page_suggests() {
        // The page offers "What is 15% of 240?" as a first thing to try, offline included.
        for command in [
            "What is 15% of 240?",
            "what's 15 percent of 240",
            "15% of 240",
        ] {
            let answer = reply(command);
            assert_eq!(answer.rule, "math", "{command:?}");
            assert_eq!(answer.response, "36", "{command:?}");
        }
    }

    #[test]
    fn name_questions() {
        for command in [
            "what's your name",
            "What is your name?",
            "who are you",
            "what are you called",
            "hey Ballsy, what's your name?",
        ] {
            assert_eq!(response(command), NAME_REPLY, "{command:?}");
            assert_eq!(rule(command), "name");
        }
    }

    #[test]
    fn curly_apostrophes_are_normalised() {
        assert_eq!(rule("what\u{2019}s your name"), "name");
        assert_eq!(rule("how\u{2019}s it going?"), "how_are_you");
        assert_eq!(rule("what\u{2019}s the time"), "time");
        assert_eq!(rule("that\u{2019}s all"), "exit");
    }

    #[test]
    fn how_are_you_questions() {
        for command in [
            "how are you",
            "How are you doing?",
            "how's it going",
            "what's up",
            "hi, how are you?",
        ] {
            assert_eq!(response(command), HOW_ARE_YOU_REPLY, "{command:?}");
            assert_eq!(rule(command), "how_are_you");
        }
    }

    #[test]
    fn conversational_phrases_inside_real_questions_go_to_the_model() {
        // The predecessor's substring test answered these with canned replies.
        for command in [
            "how are you supposed to cook rice",
            "who are you going to vote for",
            "what's up with the stock market",
            "what is your name based on",
        ] {
            assert_eq!(rule_or_none(command), None, "{command:?}");
        }
    }

    #[test]
    fn exit_instructions_exit() {
        for command in [
            "stop",
            "stop the music",
            "bye",
            "Goodbye!",
            "good bye",
            "exit",
            "quit",
            "ok bye",
            "please stop",
            "hey Ballsy, stop",
            "that's all",
            "see you later",
            "bye-bye",
        ] {
            let exit = reply(command);
            assert_eq!(exit.rule, "exit", "{command:?}");
            assert_eq!(exit.response, EXIT_REPLY);
            assert_eq!(exit.action, Some(Action::Exit));
        }
    }

    #[test]
    fn exit_words_inside_other_words_or_sentences_do_not_exit() {
        assert!(matches!(
            question("what is a bus stop").kind,
            QuestionKind::WhoWhat { ref subject, is_person: false } if subject == "a bus stop"
        ));
        for command in [
            "I'm quite tired",
            "unstoppable force",
            "bus stop",
            "a stopwatch",
            "maybe",
        ] {
            assert!(is_general(command), "{command:?}");
        }
    }

    #[test]
    fn skills_come_before_the_rules_they_would_collide_with() {
        // "stop" is an exit word; "stop the timer" is a timer command.
        assert!(matches!(
            route("stop the timer", &context()),
            Routed::Skill(SkillRequest::Timer(_))
        ));
        assert!(matches!(
            route("set a timer for 10 minutes", &context()),
            Routed::Skill(SkillRequest::Timer(_))
        ));
        // A conversion is not a who/what question for the model.
        assert_eq!(rule("what is 10 kg in pounds"), "convert");
        assert_eq!(
            response("convert 5 miles to km"),
            "5 miles is 8.05 kilometres."
        );
        assert!(matches!(
            route("will it rain tomorrow", &context()),
            Routed::Skill(SkillRequest::Weather(_))
        ));
        assert_eq!(rule("stop"), "exit");
    }

    #[test]
    fn help_and_thanks_are_answered_by_rules() {
        for command in [
            "help",
            "Help!",
            "what can you do?",
            "What can I ask you",
            "ballsy, what can you do",
        ] {
            assert_eq!(rule(command), "help", "{command:?}");
        }
        for command in ["thanks", "Thank you!", "thanks a lot ballsy", "ok, thanks"] {
            assert_eq!(rule(command), "thanks", "{command:?}");
        }
        for command in [
            "help me write a poem",
            "thanks to whom was the war won",
            "what can you do about climate change",
        ] {
            assert!(is_general(command), "{command:?}");
        }
    }

    #[test]
    fn time_is_spoken_in_the_users_zone() {
        let berlin = Context {
            timezone: Some(Tz::Europe__Berlin),
            ..context()
        };
        let Routed::Reply(time) = route("what time is it", &berlin) else {
            panic!("time is a rule");
        };
        assert_eq!(time.response, "It's 5:05 PM.");
        assert_eq!(time.rule, "time");
        let new_york = Context {
            timezone: Some(Tz::America__New_York),
            ..context()
        };
        let Routed::Reply(time) = route("what's the time?", &new_york) else {
            panic!("time is a rule");
        };
        assert_eq!(time.response, "It's 11:05 AM.");
    }

    #[test]
    fn time_defaults_to_utc() {
        assert_eq!(response("what time is it"), "It's 4:05 PM UTC.");
        for command in [
            "What's the time?",
            "current time",
            "time right now",
            "tell me the time",
            "what time is it now",
        ] {
            assert_eq!(rule(command), "time", "{command:?}");
        }
    }

    #[test]
    fn date_is_spoken_in_the_users_zone() {
        assert_eq!(
            response("what's the date"),
            "Today is Tuesday, November 24, 2026 (UTC)."
        );
        // 16:05 UTC is already the 25th in Tokyo.
        let tokyo = Context {
            timezone: Some(Tz::Asia__Tokyo),
            ..context()
        };
        let Routed::Reply(date) = route("what date is it", &tokyo) else {
            panic!("date is a rule");
        };
        assert_eq!(date.response, "Today is Wednesday, November 25, 2026.");
        for command in ["what day is it today", "today's date", "What is the date?"] {
            assert_eq!(rule(command), "date", "{command:?}");
        }
    }

    #[test]
    fn date_has_no_zero_padded_day() {
        let context = Context {
            now: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 4, 9, 0, 0)
                .single()
                .expect("valid date"),
            ..context()
        };
        let Routed::Reply(date) = route("what's the date", &context) else {
            panic!("date is a rule");
        };
        assert_eq!(date.response, "Today is Wednesday, March 4, 2026 (UTC).");
        let Routed::Reply(time) = route("what time is it", &context) else {
            panic!("time is a rule");
        };
        assert_eq!(time.response, "It's 9:00 AM UTC.");
    }

    #[test]
    fn time_and_date_need_the_phrase_not_scattered_words() {
        for command in [
            "timer what",
            "update what now",
            "sometimes what",
            "what's the time in Tokyo",
            "what's the time difference",
        ] {
            assert!(
                !matches!(rule_or_none(command), Some("time" | "date")),
                "{command:?}"
            );
        }
    }

    #[test]
    fn maths_replies_with_the_number_and_the_calculation() {
        let sum = reply("5 + 10");
        assert_eq!(sum.response, "15");
        assert_eq!(sum.rule, "math");
        assert_eq!(sum.action, None);
        assert_eq!(sum.calculation, Some(Number::from(15)));
    }

    #[test]
    fn maths_results_format() {
        assert_eq!(response("100 / 4"), "25");
        assert_eq!(response("10 / 3"), "3.333333333");
        assert_eq!(response("05 + 1"), "6");
        assert_eq!(response("whats 5+5"), "10");
        assert_eq!(response("-5"), "-5");
        assert_eq!(
            response("99999999999999999999 * 99999999999999999999"),
            "9999999999999999999800000000000000000001"
        );
    }

    #[test]
    fn maths_errors_are_sentences_without_calculation() {
        let cases = [
            ("5 / 0", MathError::DivisionByZero),
            ("1 2", MathError::Malformed),
            ("2 ** 10", MathError::Malformed),
            ("7 // 2", MathError::Malformed),
            ("* 2", MathError::NoPreviousResult),
            ("/ 4", MathError::NoPreviousResult),
        ];
        for (command, error) in cases {
            let failed = reply(command);
            assert_eq!(failed.response, error.sentence(), "{command:?}");
            assert_eq!(failed.rule, "math");
            assert_eq!(failed.calculation, None);
        }
    }

    #[test]
    fn maths_that_the_predecessor_sent_to_the_model() {
        assert_eq!(response("0.1 + 0.2"), "0.3");
        assert_eq!(response("(1+2)*3"), "9");
        assert_eq!(response("what's 5 + 5"), "10");
        assert_eq!(response("What is five plus ten?"), "15");
        assert_eq!(response("calculate 2 × 21"), "42");
        assert_eq!(response("how much is 10 divided by 4"), "2.5");
        assert_eq!(response("hey Ballsy, what's 6 times 7?"), "42");
    }

    #[test]
    fn words_that_are_not_maths_are_not_calculated() {
        assert!(matches!(
            question("what is five").kind,
            QuestionKind::WhoWhat { .. }
        ));
        assert!(is_general("one direction"));
        assert!(is_general("five"));
    }

    #[test]
    fn long_expressions_are_refused() {
        let command = format!("what is 1{}", " + 1".repeat(80));
        assert_eq!(response(&command), MathError::TooLong.sentence());
    }

    #[test]
    fn chain_sequence_matches_the_predecessor() {
        let mut previous: Option<Number> = None;
        let mut spoken = Vec::new();
        for command in ["5 + 10", "+ 6", "* 2", "- 1", "/ 4"] {
            let Routed::Reply(result) = resolve(command, &context(), previous.as_ref()) else {
                panic!("{command} is maths");
            };
            spoken.push(result.response.clone());
            if let Some(calculation) = result.calculation {
                previous = Some(calculation);
            }
        }
        assert_eq!(spoken, ["15", "21", "42", "41", "10.25"]);
    }

    #[test]
    fn chained_words_continue_the_previous_result() {
        let ten = Number::from(10);
        for (command, expected) in [
            ("times 3", "30"),
            ("plus 6", "16"),
            ("divided by 4", "2.5"),
            ("minus 1", "9"),
        ] {
            let Routed::Reply(result) = resolve(command, &context(), Some(&ten)) else {
                panic!("{command} is maths");
            };
            assert_eq!(result.response, expected, "{command}");
        }
    }

    #[test]
    fn chain_without_previous_result() {
        assert_eq!(response("+ 6"), "6");
        assert_eq!(response("- 1"), "-1");
        assert_eq!(response("* 2"), MathError::NoPreviousResult.sentence());
        assert_eq!(
            response("divided by 4"),
            MathError::NoPreviousResult.sentence()
        );
    }

    #[test]
    fn only_chains_wait_for_the_previous_result() {
        let continues = |command: &str| matches!(route(command, &context()), Routed::Continue(_));
        for command in [
            "+ 6",
            "* 2",
            "times 3",
            "divided by 4",
            "plus 6",
            "minus 1",
            "- 1",
            "/ 4",
            " * 2 ",
        ] {
            assert!(continues(command), "{command:?}");
        }
        for command in [
            "5 + 10",
            "hello",
            "stop",
            "what time is it",
            "times square",
            "what is a bus stop",
            "negative 5",
            "open youtube",
            "(+ 6)",
        ] {
            assert!(!continues(command), "{command:?}");
        }
    }

    #[test]
    fn who_and_what_questions_ask_the_model() {
        let who = question("Who is Ada Lovelace?");
        assert_eq!(who.text, "Who is Ada Lovelace?");
        assert_eq!(
            who.kind,
            QuestionKind::WhoWhat {
                subject: "Ada Lovelace".into(),
                is_person: true
            }
        );
        let cases = [
            ("who's Grace Hopper", "Grace Hopper", true),
            ("who was Alan Turing", "Alan Turing", true),
            ("what is photosynthesis", "photosynthesis", false),
            ("what's a quasar?", "a quasar", false),
            ("what are black holes", "black holes", false),
            ("tell me about the Eiffel Tower.", "the Eiffel Tower", false),
            ("hey Ballsy, who is Linus Torvalds", "Linus Torvalds", true),
        ];
        for (command, subject, is_person) in cases {
            assert_eq!(
                question(command).kind,
                QuestionKind::WhoWhat {
                    subject: subject.into(),
                    is_person
                },
                "{command:?}"
            );
        }
    }

    #[test]
    fn who_what_without_a_subject_asks_back() {
        for command in ["what is", "tell me about", "Who is?", "what's"] {
            let asked = reply(command);
            assert_eq!(asked.response, ASK_WHAT_REPLY, "{command:?}");
            assert_eq!(asked.rule, "ask_what");
        }
    }

    #[test]
    fn everything_else_is_a_general_question_with_the_original_text() {
        let general = question("  Tell me a joke \u{2019}bout cats ");
        assert_eq!(general.text, "Tell me a joke \u{2019}bout cats");
        assert_eq!(general.kind, QuestionKind::General);
        assert!(is_general("whatever happened to the dodo"));
        assert!(is_general("whoever wins gets a prize"));
    }

    fn who(subject: &str) -> Question {
        Question {
            text: format!("who is {subject}"),
            kind: QuestionKind::WhoWhat {
                subject: subject.into(),
                is_person: true,
            },
        }
    }

    fn what(subject: &str) -> Question {
        Question {
            text: format!("what is {subject}"),
            kind: QuestionKind::WhoWhat {
                subject: subject.into(),
                is_person: false,
            },
        }
    }

    #[test]
    fn uncertain_person_answers_become_a_biography_search() {
        let expected = Reply::act(
            "uncertain_search",
            "Let me find information about zorblax",
            Action::Search {
                query: "who is zorblax person biography".into(),
            },
        );
        for answer in [
            "I'm not sure who that is.",
            "I DON'T KNOW anyone by that name, sorry.",
            "I don\u{2019}t know who that is, sorry.",
            "I don't have enough context to identify them.",
            "A musician.",
            "Do you mean the footballer or the painter?",
            "Would you like me to guess who that might be",
            "",
        ] {
            assert_eq!(
                uncertain_fallback(&who("zorblax"), answer),
                Some(expected.clone()),
                "{answer:?}"
            );
        }
        assert_eq!(
            uncertain_fallback(
                &who("Ada Lovelace"),
                "Ada Lovelace was a mathematician who wrote the first program."
            ),
            None
        );
    }

    #[test]
    fn uncertain_thing_answers_become_a_subject_search() {
        let expected = Reply::act(
            "uncertain_search",
            "Let me search for information about zorblax",
            Action::Search {
                query: "zorblax".into(),
            },
        );
        for answer in [
            "I'm not familiar with zorblax.",
            "There is no information about that.",
            "That's beyond my knowledge.",
            "I can\u{2019}t find anything on it.",
            "I don't have specific details on that.",
        ] {
            assert_eq!(
                uncertain_fallback(&what("zorblax"), answer),
                Some(expected.clone()),
                "{answer:?}"
            );
        }
        // Short and question-shaped answers are fine for things.
        assert_eq!(uncertain_fallback(&what("pi"), "About 3.14159."), None);
        assert_eq!(
            uncertain_fallback(&what("a koan"), "A riddle without an answer?"),
            None
        );
    }

    #[test]
    fn predecessor_false_alarm_phrases_no_longer_trigger_search() {
        let answers = [
            "Hello Kitty is a fictional character created by Sanrio in 1974.",
            "Hi there is a common greeting in English-speaking countries.",
            "It seems simple, but the Eiffel Tower took two years to build.",
            "What about it? It's a wrought-iron tower in Paris, finished in 1889.",
        ];
        for answer in answers {
            assert_eq!(
                uncertain_fallback(&what("something"), answer),
                None,
                "{answer:?}"
            );
            assert_eq!(
                uncertain_fallback(&who("someone"), answer),
                None,
                "{answer:?}"
            );
        }
    }

    #[test]
    fn uncertainty_phrases_match_whole_words() {
        // "no information" must not match inside "no informational value".
        assert_eq!(
            uncertain_fallback(
                &what("x"),
                "It has no informational value beyond decoration."
            ),
            None
        );
        assert!(uncertain_fallback(&what("x"), "Sorry, no information.").is_some());
    }

    #[test]
    fn general_questions_keep_their_answer() {
        let general = Question {
            text: "tell me a story".into(),
            kind: QuestionKind::General,
        };
        assert_eq!(uncertain_fallback(&general, "I don't know."), None);
        assert_eq!(uncertain_fallback(&general, ""), None);
    }

    #[test]
    fn failure_fallback_searches_like_the_predecessor() {
        let general = Question {
            text: "tell me a story".into(),
            kind: QuestionKind::General,
        };
        assert_eq!(
            failure_fallback(&general),
            Action::Search {
                query: "tell me a story".into()
            }
        );
        assert_eq!(
            failure_fallback(&who("zorblax")),
            Action::Search {
                query: "who is zorblax person".into()
            }
        );
        assert_eq!(
            failure_fallback(&what("zorblax")),
            Action::Search {
                query: "zorblax".into()
            }
        );
    }

    #[test]
    fn route_never_panics_on_odd_input() {
        let odd = [
            "\u{0}",
            "🎉🎉🎉",
            "(((((((",
            "open \u{200b}",
            "on youtube",
            "@ on instagram",
            "directions to ?",
            "ǅ",
            "İstanbul on maps",
            "x",
            "+",
            "=",
            "what is x",
            "٣ + ٣",
            "1/0 on x",
            "\u{feff}hello",
        ];
        for command in odd {
            let _ = route(command, &context());
        }
        assert_eq!(rule("\u{feff}hello"), "greeting");
    }

    proptest::proptest! {
        #[test]
        fn route_is_total(command in "\\PC{1,400}") {
            let _ = route(&command, &context());
        }

        #[test]
        fn chained_commands_are_maths(operator in proptest::sample::select(vec!["+", "-", "*", "/", "times", "plus", "minus", "divided by"]), operand in 1u32..1000) {
            let command = format!("{operator} {operand}");
            proptest::prop_assert!(matches!(route(&command, &context()), Routed::Continue(_)));
            let seven = Number::from(7);
            let routed = resolve(&command, &context(), Some(&seven));
            proptest::prop_assert!(matches!(routed, Routed::Reply(Reply { rule: "math", calculation: Some(_), .. })), "{:?}", routed);
        }
    }
    #[test]
    fn current_events_questions_are_recognised_narrowly() {
        let ask = |text: &str| Question {
            text: text.to_owned(),
            kind: QuestionKind::General,
        };
        for current in [
            "who won last night",
            "What's the latest on the Mars mission?",
            "what's the score of the Lakers game",
            "what is the Google stock price",
            "any news about the election",
        ] {
            assert!(about_current_events(&ask(current)), "{current}");
        }
        for timeless in [
            "why is the sky blue",
            "tell me a joke",
            "what is a newspaper",
            "who wrote Hamlet",
        ] {
            assert!(!about_current_events(&ask(timeless)), "{timeless}");
        }
    }
}
