//! Spoken weather questions: "will it rain tomorrow in Boston" is `{place: Some("Boston"),
//! when: Tomorrow, aspect: Rain}`.
//!
//! Conservative by construction: the whole utterance has to fit one of a few question
//! shapes ("[what's] the weather …", "will it rain …", "how cold is it …", "do I need an
//! umbrella …", "<place> weather …") followed only by time words and a place. Anything left
//! over means it is not a weather question ("how to weather a crisis", "the temperature of the
//! sun"), and the caller routes it elsewhere. No clock is read: "Friday" stays a weekday and
//! the speech layer decides which Friday.

use std::sync::LazyLock;

use chrono::Weekday;
use regex::{Captures, Regex};

use crate::assistant::text;

/// When the question is about. The default, if no time is named, depends on the shape:
/// "what's the weather" and "is it raining" are `Now`, "will it rain" and "do I need an
/// umbrella" are `Today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeatherWhen {
    Now,
    Today,
    /// This evening and night, until about 6 in the morning.
    Tonight,
    Tomorrow,
    /// The coming Saturday and Sunday (only Sunday if it is Sunday).
    Weekend,
    /// The next such day, today included.
    Weekday(Weekday),
    /// About the next three hours.
    NextHours,
    /// 6:00 to 12:00 today.
    ThisMorning,
    /// 12:00 to 18:00 today.
    ThisAfternoon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeatherAspect {
    General,
    Rain,
    Snow,
    /// "How cold/hot/warm", "what's the temperature".
    Temperature,
    Wind,
    /// "Do I need an umbrella": rain, phrased as advice.
    Umbrella,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeatherQuestion {
    /// The place as said ("austin, texas"); None for "here" (the caller's default place).
    pub place: Option<String>,
    pub when: WeatherWhen,
    pub aspect: WeatherAspect,
}

/// The weather question in `command`, or None if it is not one.
pub fn parse_weather_question(command: &str) -> Option<WeatherQuestion> {
    let normalized = text::normalize(command);
    let sentence = strip_leading_fillers(text::trim_sentence_end(&normalized));
    if sentence.is_empty() || sentence.len() > 200 {
        return None;
    }
    FRAMES.iter().find_map(|frame| frame.parse(sentence))
}

/// One question shape: a pattern with a `rest` group for the time and place words after it.
struct Frame {
    pattern: Regex,
    aspect: FrameAspect,
    /// A place without "in"/"for" may follow ("weather paris").
    bare_place: bool,
    default_when: fn(&Captures<'_>) -> WeatherWhen,
}

#[derive(Clone, Copy)]
enum FrameAspect {
    Fixed(WeatherAspect),
    /// Rain or snow, from the `verb` group.
    Precipitation,
}

impl Frame {
    fn parse(&self, sentence: &str) -> Option<WeatherQuestion> {
        let captures = self.pattern.captures(sentence)?;
        let aspect = match self.aspect {
            FrameAspect::Fixed(aspect) => aspect,
            FrameAspect::Precipitation => {
                let verb = captures.name("verb").map_or("", |m| m.as_str());
                if verb.to_ascii_lowercase().starts_with("sno") {
                    WeatherAspect::Snow
                } else {
                    WeatherAspect::Rain
                }
            }
        };
        let mut when = captures
            .name("when")
            .and_then(|m| time_phrase(m.as_str().trim_end_matches("'s")));
        let mut place = captures.name("place").map(|m| m.as_str().to_owned());
        if let Some(place_text) = &place {
            place = Some(valid_place(place_text, false)?);
        }
        let rest = captures.name("rest").map_or("", |m| m.as_str());
        let (rest_place, rest_when) = slots(rest, self.bare_place && place.is_none())?;
        if rest_place.is_some() {
            if place.is_some() {
                // "boston weather in paris"
                return None;
            }
            place = rest_place;
        }
        when = when.or(rest_when);
        Some(WeatherQuestion {
            place,
            when: when.unwrap_or_else(|| (self.default_when)(&captures)),
            aspect,
        })
    }
}

/// A case-insensitive pattern anchored at both ends, with `(?P<rest>…)` appended: whatever
/// follows the shape, starting at a word boundary.
fn frame_pattern(shape: &str) -> Regex {
    text::compile(&format!(r"(?i)^(?:{shape})(?P<rest>(?:[\s,].*)?)$"))
}

/// Words for "it"-questions' auxiliaries ("will it", "is it going to", "it'll").
const WILL_IT: &str = r"(?P<aux>will|won't|would|could|might|may|should|does|doesn't|did|is|isn't|can)\s+it|(?:if|whether)\s+it(?P<aux2>'ll|'s|\s+will|\s+is|\s+would|\s+might)?|it(?P<aux3>'ll|'s|\s+will|\s+is|\s+might|\s+may)";
const FUTURE: &str = r"(?:\s+(?:still|be|going\s+to|gonna|supposed\s+to|likely\s+to|expected\s+to|start(?:\s+to)?|stop|keep|continue\s+to))*";

static FRAMES: LazyLock<Vec<Frame>> = LazyLock::new(|| {
    use WeatherAspect::{General, Temperature, Umbrella, Wind};
    vec![
        // "do I need an umbrella", "should I take my umbrella", "umbrella weather?"
        Frame {
            pattern: frame_pattern(
                r"(?:(?:do|will|would|should|shall|must|might)\s+(?:i|we|you)\s+(?:need\s+to\s+|have\s+to\s+|want\s+to\s+)?|(?:i|we)\s+(?:should\s+|need\s+to\s+|have\s+to\s+)?)?(?:need|want|require|take|bring|carry|pack|grab|use)\s+(?:an\s+|my\s+|a\s+|the\s+|our\s+|your\s+)?(?:umbrella|brolly|raincoat|rain\s*coat|rain\s+jacket)|(?:is\s+it\s+)?umbrella\s+weather",
            ),
            aspect: FrameAspect::Fixed(Umbrella),
            bare_place: false,
            default_when: |_| WeatherWhen::Today,
        },
        // "is it windy", "how windy will it be", "what's the wind like"
        Frame {
            pattern: frame_pattern(
                r"(?P<aux>is|will|isn't)\s+it(?:\s+(?:be|going\s+to\s+be|gonna\s+be))?\s+(?:very\s+|really\s+|too\s+)?windy|how\s+windy\s+(?P<aux2>is\s+it|will\s+it\s+be|is\s+it\s+going\s+to\s+be|is\s+it\s+gonna\s+be|it\s+is|it's)|(?:what's|whats|what\s+is|how's|hows|how\s+is)\s+the\s+wind(?:\s+speed)?(?:\s+like)?|how\s+(?:strong|fast)\s+is\s+the\s+wind",
            ),
            aspect: FrameAspect::Fixed(Wind),
            bare_place: false,
            default_when: |captures| {
                let future = ["aux", "aux2"].iter().any(|name| {
                    captures.name(name).is_some_and(|m| {
                        m.as_str().to_ascii_lowercase().contains("will")
                            || m.as_str().to_ascii_lowercase().contains("go")
                    })
                });
                if future {
                    WeatherWhen::Today
                } else {
                    WeatherWhen::Now
                }
            },
        },
        // "how cold is it", "how hot will it be", "is it cold", "what's the temperature"
        Frame {
            pattern: frame_pattern(
                r"how\s+(?:cold|hot|warm|chilly|cool|freezing)\s+(?P<aux>is\s+it(?:\s+(?:going\s+to|gonna)\s+(?:be|get))?|will\s+it\s+(?:be|get)|it\s+is|it's|it\s+will\s+be|it'll\s+be|does\s+it\s+get|is\s+it\s+getting)|(?P<aux2>is|will|isn't)\s+it(?:\s+(?:be|going\s+to\s+be|gonna\s+be))?\s+(?:very\s+|really\s+|too\s+)?(?:cold|hot|warm|chilly|cool|freezing)|(?:(?:what's|whats|what\s+is|what'll\s+be|what\s+will\s+be|how's|hows|how\s+is|tell\s+me|give\s+me|check)\s+)?the\s+(?:current\s+)?(?:temperature|temp)(?:\s+(?:going\s+to\s+be|gonna\s+be|be|like|now))?|what\s+(?:temperature|temp)\s+(?:is\s+it(?:\s+going\s+to\s+be)?|will\s+it\s+be)|how\s+many\s+degrees\s+(?:is\s+it|will\s+it\s+be)",
            ),
            aspect: FrameAspect::Fixed(Temperature),
            bare_place: false,
            default_when: |captures| {
                let future = ["aux", "aux2"].iter().any(|name| {
                    captures.name(name).is_some_and(|m| {
                        let aux = m.as_str().to_ascii_lowercase();
                        aux.contains("will") || aux.contains("'ll") || aux.contains("go")
                    })
                });
                if future {
                    WeatherWhen::Today
                } else {
                    WeatherWhen::Now
                }
            },
        },
        // "will it rain", "is it raining", "is it going to snow", "it'll rain?"
        Frame {
            pattern: frame_pattern(&format!(
                r"(?:{WILL_IT}){FUTURE}\s+(?P<verb>rain|raining|rainy|pour|pouring|drizzle|drizzling|shower|showering|storm|storming|stormy|snow|snowing|snowy|sleet|sleeting|hail|hailing)"
            )),
            aspect: FrameAspect::Precipitation,
            bare_place: false,
            default_when: |captures| {
                let aux = ["aux", "aux2", "aux3"]
                    .iter()
                    .find_map(|name| captures.name(name))
                    .map(|m| m.as_str().trim().to_ascii_lowercase())
                    .unwrap_or_default();
                let verb = captures.name("verb").map_or("", |m| m.as_str());
                let whole = captures
                    .get(0)
                    .map_or("", |m| m.as_str())
                    .to_ascii_lowercase();
                let present = matches!(aux.as_str(), "is" | "isn't" | "'s")
                    && verb.to_ascii_lowercase().ends_with("ing")
                    && !whole.contains("going to")
                    && !whole.contains("gonna");
                if present {
                    WeatherWhen::Now
                } else {
                    WeatherWhen::Today
                }
            },
        },
        // "is there any rain", "any snow", "what's the chance of rain", "chance of rain"
        Frame {
            pattern: frame_pattern(
                r"(?:(?:is\s+there|will\s+there\s+be|is\s+there\s+going\s+to\s+be|are\s+we\s+(?:getting|going\s+to\s+get|gonna\s+get)|do\s+we\s+get|will\s+we\s+get)\s+(?:any\s+|a\s+|some\s+)?(?:(?:chances?|risk|odds|probability|likelihood)\s+(?:of|for)\s+)?|(?:(?:what's|whats|what\s+is|what\s+are|what're)\s+)?(?:the\s+)?(?:chances?|risk|odds|probability|likelihood)\s+(?:of|for)\s+|any\s+)(?P<verb>rain|snow|showers|snowfall|rainfall)(?:\s+(?:expected|forecast|forecasted|coming|predicted))?",
            ),
            aspect: FrameAspect::Precipitation,
            bare_place: false,
            default_when: |_| WeatherWhen::Today,
        },
        // "is it going to be nice tomorrow", "is it sunny in Paris"
        Frame {
            pattern: frame_pattern(
                r"(?P<aux>is|will|isn't)\s+it(?:\s+(?:be|going\s+to\s+be|gonna\s+be))?\s+(?:a\s+)?(?:sunny|cloudy|nice|clear|foggy|overcast|humid|muggy|nice\s+day|good\s+day|beautiful\s+day|beautiful|gloomy|grey|gray)",
            ),
            aspect: FrameAspect::Fixed(General),
            bare_place: false,
            default_when: |captures| {
                let aux = captures.name("aux").map_or("", |m| m.as_str());
                let whole = captures
                    .get(0)
                    .map_or("", |m| m.as_str())
                    .to_ascii_lowercase();
                if aux.eq_ignore_ascii_case("will")
                    || whole.contains("going")
                    || whole.contains("gonna")
                {
                    WeatherWhen::Today
                } else {
                    WeatherWhen::Now
                }
            },
        },
        // "what's the weather (like)", "weather in Boston", "tomorrow's forecast", "weather paris"
        Frame {
            pattern: frame_pattern(
                r"(?:(?:what's|whats|what\s+is|what\s+was|how's|hows|how\s+is|what\s+will|what'll|how\s+will|how'll|what\s+does|how\s+does|show\s+me|give\s+me|get\s+me|get|check|read\s+me|tell\s+me|i\s+want|i'd\s+like|i\s+need|can\s+i\s+(?:get|have|see)|let's\s+(?:see|check)|look\s+up|any)\s+)?(?:(?:the|a|your|current|local|latest|(?P<when>today's|tomorrow's|tonight's|this\s+weekend's|the\s+weekend's|weekend))\s+)*(?:weather(?:\s+(?:forecast|report|conditions|update|outlook|situation))?|forecast)(?:\s+(?:is\s+going\s+to\s+be\s+like|is\s+gonna\s+be\s+like|going\s+to\s+be\s+like|gonna\s+be\s+like|is\s+going\s+to\s+be|is\s+gonna\s+be|going\s+to\s+be|gonna\s+be|will\s+be\s+like|be\s+like|is\s+looking\s+like|looking\s+like|looks\s+like|look\s+like|is\s+like|like|will\s+be|is|be|doing|look|looking|say|says|saying))?",
            ),
            aspect: FrameAspect::Fixed(General),
            bare_place: true,
            default_when: |_| WeatherWhen::Now,
        },
        // "boston weather", "paris weather tomorrow", "new york's forecast"
        Frame {
            pattern: frame_pattern(
                r"(?P<place>[\p{L}][\p{L}\p{M}'.\- ]*?(?:,\s*[\p{L}][\p{L}\p{M}'.\- ]*?)?)(?:'s)?\s+(?:weather(?:\s+(?:forecast|report))?|forecast)",
            ),
            aspect: FrameAspect::Fixed(General),
            bare_place: false,
            default_when: |_| WeatherWhen::Now,
        },
    ]
});

/// Fillers before the question: "hey Ballsy, can you tell me what's the weather".
static LEADING_FILLERS: LazyLock<Regex> = LazyLock::new(|| {
    text::compile(
        r"(?i)^(?:(?:hey\s+there|hi\s+there|hello\s+there|hey|hi|hello|ok|okay|please|ballsy|so|alright|all\s+right|um|uh|well|yo|quick\s+question|can\s+you|could\s+you|would\s+you|will\s+you|tell\s+me|let\s+me\s+know|do\s+you\s+know|i\s+want\s+to\s+know|i'd\s+like\s+to\s+know|i\s+wonder|i'm\s+wondering|i\s+was\s+wondering|check)(?:[\s,.!:]+|$))*",
    )
});

fn strip_leading_fillers(sentence: &str) -> &str {
    match LEADING_FILLERS.find(sentence) {
        // A filler that is the whole sentence ("check") is kept: it is the question.
        Some(found) if found.end() < sentence.len() => &sentence[found.end()..],
        _ => sentence,
    }
}

const TIME: &str = r"(?P<now>right\s+now|just\s+now|now|currently|at\s+the\s+moment|at\s+present|presently|as\s+we\s+speak)|(?P<next>(?:in\s+|for\s+|over\s+|during\s+)?the\s+next\s+(?:few|couple(?:\s+of)?|two|three|several|2|3)\s+hours|(?:in\s+|for\s+|over\s+|during\s+)?the\s+next\s+hour|(?:in\s+|for\s+)?(?:the\s+)?next\s+few\s+hours|later\s+on|later|in\s+a\s+(?:bit|while|few\s+hours|couple\s+of\s+hours)|soon|this\s+hour)|(?P<morning>(?:later\s+)?this\s+morning|in\s+the\s+morning)|(?P<afternoon>(?:later\s+)?this\s+afternoon|in\s+the\s+afternoon)|(?P<tonight>(?:later\s+)?tonight|(?:later\s+)?this\s+evening|in\s+the\s+evening|overnight|this\s+night)|(?P<today>(?:for\s+|later\s+)?today|(?:for\s+)?the\s+rest\s+of\s+(?:the\s+)?day|rest\s+of\s+(?:the\s+)?day)|(?P<tomorrow>(?:for\s+)?tomorrow(?:\s+(?:morning|afternoon|evening|night))?)|(?P<weekend>(?:(?:for|over|during|on|at|this|next|the|coming|this\s+coming)\s+)*weekend)|(?:(?:on|for|this|next|coming|this\s+coming)\s+)?(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?:\s+(?:morning|afternoon|evening|night))?";

static TIME_LEADING: LazyLock<Regex> =
    LazyLock::new(|| text::compile(&format!(r"(?i)^(?:{TIME})(?:[\s,]+|$)")));
static TIME_TRAILING: LazyLock<Regex> =
    LazyLock::new(|| text::compile(&format!(r"(?i)(?:^|[\s,]+)(?:{TIME})$")));
static TIME_WHOLE: LazyLock<Regex> = LazyLock::new(|| text::compile(&format!(r"(?i)^(?:{TIME})$")));

/// "Here" in its many forms: the caller's default place.
const LOCAL: &str = r"outside|out\s+there|out|here|around\s+here|over\s+here|near\s+me|nearby|where\s+i\s+am|where\s+i\s+live|locally|in\s+my\s+(?:area|city|town|location|neighbou?rhood)|in\s+this\s+(?:area|city|town)|in\s+town|for\s+my\s+(?:area|city|town|location)";
/// Words that may trail the question without changing it.
const TRAILING: &str = r"please|thanks|thank\s+you|ballsy|then|like|expected|forecast|forecasted|predicted|at\s+all|for\s+me|huh|again|going\s+to\s+be|gonna\s+be|be";

static FILLER_LEADING: LazyLock<Regex> = LazyLock::new(|| {
    text::compile(&format!(
        r"(?i)^(?:{LOCAL}|like|be|going\s+to\s+be|gonna\s+be)(?:[\s,]+|$)"
    ))
});
static FILLER_TRAILING: LazyLock<Regex> =
    LazyLock::new(|| text::compile(&format!(r"(?i)(?:^|[\s,]+)(?:{LOCAL}|{TRAILING})$")));
/// The prepositions that introduce a place. "of" is deliberately absent ("the temperature of
/// the sun"), and so is "on" ("the weather on Mars").
static PLACE_INTRO: LazyLock<Regex> = LazyLock::new(|| {
    text::compile(
        r"(?i)^(?:in|for|at|near|around|over|across|outside\s+of|outside)\s+(?P<place>.+)$",
    )
});

/// The place and time in what follows a question shape, or None if something else is there.
fn slots(rest: &str, bare_place: bool) -> Option<(Option<String>, Option<WeatherWhen>)> {
    let mut remaining = trim_separators(rest);
    let mut when = None;
    // Each pass removes at least one phrase, so this ends; the bound is belt and braces.
    for _ in 0..12 {
        if remaining.is_empty() {
            break;
        }
        if let Some(found) = TIME_LEADING.captures(remaining) {
            when = when.or_else(|| time_from(&found));
            remaining = trim_separators(&remaining[found.get(0)?.end()..]);
        } else if let Some(found) = TIME_TRAILING.captures(remaining) {
            when = when.or_else(|| time_from(&found));
            remaining = trim_separators(&remaining[..found.get(0)?.start()]);
        } else if let Some(found) = FILLER_LEADING.find(remaining) {
            remaining = trim_separators(&remaining[found.end()..]);
        } else if let Some(found) = FILLER_TRAILING.find(remaining) {
            remaining = trim_separators(&remaining[..found.start()]);
        } else {
            break;
        }
    }
    if remaining.is_empty() {
        return Some((None, when));
    }
    let place = match PLACE_INTRO.captures(remaining) {
        Some(found) => valid_place(found.name("place")?.as_str(), true)?,
        None if bare_place => valid_place(remaining, false)?,
        None => return None,
    };
    Some((Some(place), when))
}

fn trim_separators(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '?' | '!' | ';' | ':'))
}

fn time_phrase(phrase: &str) -> Option<WeatherWhen> {
    TIME_WHOLE
        .captures(phrase.trim())
        .and_then(|found| time_from(&found))
}

fn time_from(found: &Captures<'_>) -> Option<WeatherWhen> {
    let group = |name: &str| found.name(name).is_some();
    Some(if group("now") {
        WeatherWhen::Now
    } else if group("next") {
        WeatherWhen::NextHours
    } else if group("morning") {
        WeatherWhen::ThisMorning
    } else if group("afternoon") {
        WeatherWhen::ThisAfternoon
    } else if group("tonight") {
        WeatherWhen::Tonight
    } else if group("today") {
        WeatherWhen::Today
    } else if group("tomorrow") {
        WeatherWhen::Tomorrow
    } else if group("weekend") {
        WeatherWhen::Weekend
    } else {
        WeatherWhen::Weekday(
            found
                .name("weekday")?
                .as_str()
                .to_ascii_lowercase()
                .parse()
                .ok()?,
        )
    })
}

/// Function words and the like: a "place" containing one is a sentence, not a place.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "am",
    "an",
    "and",
    "are",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "can't",
    "change",
    "doesn't",
    "don't",
    "find",
    "for",
    "google",
    "how's",
    "hows",
    "i'd",
    "i'll",
    "isn't",
    "let's",
    "look",
    "open",
    "play",
    "search",
    "show",
    "that's",
    "there's",
    "what's",
    "whats",
    "where's",
    "who's",
    "won't",
    "you're",
    "we're",
    "they're",
    "could",
    "crisis",
    "did",
    "do",
    "does",
    "facts",
    "forecast",
    "from",
    "going",
    "had",
    "has",
    "have",
    "he",
    "her",
    "his",
    "how",
    "i",
    "i'm",
    "if",
    "in",
    "is",
    "it",
    "it's",
    "its",
    "like",
    "me",
    "my",
    "no",
    "not",
    "or",
    "our",
    "rain",
    "she",
    "should",
    "snow",
    "storm",
    "temperature",
    "than",
    "that",
    "their",
    "them",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "today",
    "tomorrow",
    "tonight",
    "under",
    "us",
    "was",
    "we",
    "weather",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "who",
    "why",
    "will",
    "with",
    "without",
    "would",
    "you",
    "your",
];
/// Allowed inside a place after its first word ("Isle of Man", "Newcastle upon Tyne",
/// "Trinidad and Tobago", "Rostov-on-Don" spelled with spaces).
const PLACE_JOINERS: &[&str] = &["of", "and", "on", "upon", "the", "de", "la", "le", "du"];
/// Words before "weather" that describe it rather than name a place ("nice weather",
/// "stormy weather"). "Nice" the city still works as "weather in Nice".
const WEATHER_ADJECTIVES: &[&str] = &[
    "good",
    "bad",
    "nice",
    "great",
    "cold",
    "hot",
    "warm",
    "wet",
    "dry",
    "stormy",
    "lovely",
    "terrible",
    "awful",
    "perfect",
    "beautiful",
    "crazy",
    "weird",
    "extreme",
    "severe",
    "winter",
    "summer",
    "spring",
    "fall",
    "autumn",
    "sunny",
    "rainy",
    "snowy",
    "windy",
    "space",
    "fair",
    "foul",
    "mild",
    "humid",
    "some",
    "any",
    "all",
    "current",
    "local",
    "today's",
    "tomorrow's",
    "tonight's",
    "fine",
];
/// Things people ask the temperature of that are not places.
const NOT_PLACES: &[&str] = &[
    "sun",
    "moon",
    "mars",
    "venus",
    "jupiter",
    "saturn",
    "mercury",
    "space",
    "outer space",
    "oven",
    "fridge",
    "freezer",
    "room",
    "house",
    "pool",
    "water",
    "body",
    "core",
    "ocean",
    "sea",
    "universe",
    "world",
];

/// The place tidied ("austin , texas" is "austin, texas"), or None if it does not look like
/// one. `after_preposition` allows a leading "the" ("in the Hague") and adjectives.
fn valid_place(place: &str, after_preposition: bool) -> Option<String> {
    let place = trim_separators(place);
    let parts: Vec<String> = place
        .split(',')
        .map(|part| part.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|part| !part.is_empty())
        .collect();
    let tidy = parts.join(", ");
    if tidy.is_empty() || tidy.chars().count() > 60 || parts.len() > 3 {
        return None;
    }
    let words: Vec<String> = tidy
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() || words.len() > 6 {
        return None;
    }
    let valid_word = |word: &str| {
        word.chars().any(char::is_alphanumeric)
            && word
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '\'' | '-' | '.' | '’'))
    };
    if !words.iter().all(|word| valid_word(word)) {
        return None;
    }
    let first = words[0].as_str();
    let first_allowed = (after_preposition && first == "the")
        || (!STOP_WORDS.contains(&first) && !PLACE_JOINERS.contains(&first));
    if !first_allowed {
        return None;
    }
    if words[1..]
        .iter()
        .any(|word| STOP_WORDS.contains(&word.as_str()) && !PLACE_JOINERS.contains(&word.as_str()))
    {
        return None;
    }
    if !after_preposition
        && words
            .iter()
            .any(|word| WEATHER_ADJECTIVES.contains(&word.as_str()))
    {
        return None;
    }
    let without_article = words
        .iter()
        .skip_while(|word| *word == "the")
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if NOT_PLACES.contains(&without_article.as_str()) || without_article.is_empty() {
        return None;
    }
    // A time phrase is never a place ("weather friday" is handled before this).
    if time_phrase(&tidy).is_some() {
        return None;
    }
    Some(tidy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use WeatherAspect::*;
    use WeatherWhen::*;

    fn q(place: Option<&str>, when: WeatherWhen, aspect: WeatherAspect) -> Option<WeatherQuestion> {
        Some(WeatherQuestion {
            place: place.map(str::to_owned),
            when,
            aspect,
        })
    }

    #[test]
    fn the_questions_from_the_brief() {
        let cases = [
            ("what's the weather", q(None, Now, General)),
            ("weather in Boston", q(Some("Boston"), Now, General)),
            (
                "what's the weather like in new york today",
                q(Some("new york"), Today, General),
            ),
            ("will it rain tomorrow", q(None, Tomorrow, Rain)),
            (
                "is it going to rain this afternoon",
                q(None, ThisAfternoon, Rain),
            ),
            (
                "how cold is it in Paris this weekend",
                q(Some("Paris"), Weekend, Temperature),
            ),
            ("do I need an umbrella", q(None, Today, Umbrella)),
            (
                "what's the forecast for friday",
                q(None, Weekday(chrono::Weekday::Fri), General),
            ),
            (
                "how hot will it be tomorrow in austin, texas",
                q(Some("austin, texas"), Tomorrow, Temperature),
            ),
            ("weather paris", q(Some("paris"), Now, General)),
        ];
        for (command, expected) in cases {
            assert_eq!(parse_weather_question(command), expected, "{command:?}");
        }
    }

    #[test]
    fn more_ways_of_asking() {
        let cases = [
            (
                "Hey Ballsy, what's the weather in Paris?",
                q(Some("Paris"), Now, General),
            ),
            (
                "hi there, what's the weather in Paris",
                q(Some("Paris"), Now, General),
            ),
            (
                "How's the weather in London today?",
                q(Some("London"), Today, General),
            ),
            (
                "what is the weather going to be like tomorrow in Paris",
                q(Some("Paris"), Tomorrow, General),
            ),
            (
                "what is the weather in paris like",
                q(Some("paris"), Now, General),
            ),
            (
                "tomorrow's weather in london",
                q(Some("london"), Tomorrow, General),
            ),
            ("today's forecast", q(None, Today, General)),
            ("weather", q(None, Now, General)),
            ("Weather forecast.", q(None, Now, General)),
            ("the weather tonight", q(None, Tonight, General)),
            (
                "weather this weekend in Paris",
                q(Some("Paris"), Weekend, General),
            ),
            ("weather for the weekend", q(None, Weekend, General)),
            ("forecast for paris", q(Some("paris"), Now, General)),
            ("what's the weather like outside", q(None, Now, General)),
            (
                "what's the weather in the Hague",
                q(Some("the Hague"), Now, General),
            ),
            (
                "weather in Paris, France",
                q(Some("Paris, France"), Now, General),
            ),
            (
                "weather in austin , texas",
                q(Some("austin, texas"), Now, General),
            ),
            ("boston weather", q(Some("boston"), Now, General)),
            (
                "San Francisco weather tomorrow",
                q(Some("San Francisco"), Tomorrow, General),
            ),
            (
                "new york's forecast for saturday",
                q(Some("new york"), Weekday(chrono::Weekday::Sat), General),
            ),
            ("weather in 10001", q(Some("10001"), Now, General)),
            ("weather in the next few hours", q(None, NextHours, General)),
            ("is it raining", q(None, Now, Rain)),
            (
                "is it raining in Seattle right now",
                q(Some("Seattle"), Now, Rain),
            ),
            (
                "is it going to snow in Denver on Friday",
                q(Some("Denver"), Weekday(chrono::Weekday::Fri), Snow),
            ),
            ("will it snow this weekend", q(None, Weekend, Snow)),
            ("it'll rain later?", q(None, NextHours, Rain)),
            (
                "do you know if it will rain tomorrow",
                q(None, Tomorrow, Rain),
            ),
            (
                "is there any rain expected tomorrow",
                q(None, Tomorrow, Rain),
            ),
            ("what's the chance of rain tonight", q(None, Tonight, Rain)),
            ("any snow this weekend?", q(None, Weekend, Snow)),
            ("how warm is it", q(None, Now, Temperature)),
            ("is it cold outside", q(None, Now, Temperature)),
            (
                "will it be hot in Phoenix tomorrow",
                q(Some("Phoenix"), Tomorrow, Temperature),
            ),
            (
                "what's the temperature in Chicago",
                q(Some("Chicago"), Now, Temperature),
            ),
            (
                "should I bring an umbrella tomorrow",
                q(None, Tomorrow, Umbrella),
            ),
            (
                "do i need a raincoat in London",
                q(Some("London"), Today, Umbrella),
            ),
            ("is it windy", q(None, Now, Wind)),
            (
                "how windy will it be tomorrow in Chicago",
                q(Some("Chicago"), Tomorrow, Wind),
            ),
            (
                "is it going to be nice tomorrow",
                q(None, Tomorrow, General),
            ),
            ("is it sunny in Miami", q(Some("Miami"), Now, General)),
            (
                "what's the weather this morning",
                q(None, ThisMorning, General),
            ),
        ];
        for (command, expected) in cases {
            assert_eq!(parse_weather_question(command), expected, "{command:?}");
        }
    }

    #[test]
    fn not_weather_questions() {
        let cases = [
            "how to weather a crisis",
            "weather the storm",
            "we can weather this",
            "whether or not",
            "climate change facts",
            "what's the temperature of the sun",
            "what's the temperature in the oven",
            "I'm feeling under the weather",
            "nice weather today",
            "stormy weather",
            "play stormy weather",
            "what's the weather on Mars",
            "search for weather in paris",
            "open the weather channel",
            "rain rain go away",
            "the weather in paris or london",
            "tell me a joke",
            "what time is it",
            "",
            "   ",
            "weather weather weather weather",
            "how do I weather a storm",
            "is it going to be a long day",
        ];
        for command in cases {
            assert_eq!(parse_weather_question(command), None, "{command:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(command in ".{0,300}") {
            let _ = parse_weather_question(&command);
        }

        #[test]
        fn never_panics_on_weather_like_text(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "what's", "the", "weather", "in", "paris", ",", "texas", "tomorrow",
                    "will", "it", "rain", "how", "cold", "is", "this", "weekend", "friday",
                    "umbrella", "do", "i", "need", "an", "é", "'s", "?", "like", "for",
                ]),
                0..14,
            )
        ) {
            let command = words.join(" ");
            if let Some(place) = parse_weather_question(&command).and_then(|q| q.place) {
                proptest::prop_assert!(!place.trim().is_empty());
            }
        }
    }
}
