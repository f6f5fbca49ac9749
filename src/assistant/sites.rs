//! Rules that send the browser somewhere: searches on named sites ("… on YouTube"),
//! maps and directions, news, email, web search, and "open …" for sites and apps.
//!
//! Queries keep the user's casing. A query followed by "on <site>" keeps all of its own
//! punctuation ("c++ & rust? on youtube"); a query that ends the sentence loses the
//! sentence's closing punctuation ("search for rust?").

use std::sync::LazyLock;

use regex::Regex;

use crate::assistant::text::{
    clean_query, compile, contains_phrase, form_encode, has_alphanumeric, path_encode, title_case,
    trim_sentence_end, words,
};
use crate::assistant::{Action, Reply};

/// The first site rule that matches `text` (already normalised, leading fillers removed).
pub(crate) fn site_reply(text: &str) -> Option<Reply> {
    // Directions first: "directions to the office on maps" wants a route, not a map search.
    directions(text)
        .or_else(|| search_on_site(text))
        .or_else(|| news(text))
        .or_else(|| email(text))
        .or_else(|| web_search(text))
        .or_else(|| open(text))
}

/// How a site's search URL carries the query.
enum Link {
    /// Form-encoded into the query string after this prefix.
    Query(&'static str),
    /// Percent-encoded as a path segment after this prefix.
    Path(&'static str),
    /// A profile for one word, a hashtag for several.
    Instagram,
}

/// How the reply describes a site search.
enum Wording {
    /// "Opening {q} on {site}"
    Opening,
    /// "Searching for {q} on {site}"
    Searching,
    /// "Showing {q} on {site}"
    Showing,
}

struct SearchSite {
    rule: &'static str,
    display: &'static str,
    /// Regex alternatives for the site's name after "on".
    names: &'static [&'static str],
    /// Asked when the command names the site but no query.
    question: &'static str,
    link: Link,
    wording: Wording,
}

const SEARCH_SITES: &[SearchSite] = &[
    SearchSite {
        rule: "youtube",
        display: "YouTube",
        names: &["youtube", r"you\s+tube"],
        question: "What would you like to search on YouTube?",
        link: Link::Query("https://www.youtube.com/results?search_query="),
        wording: Wording::Opening,
    },
    SearchSite {
        rule: "spotify",
        display: "Spotify",
        names: &["spotify"],
        question: "What would you like to search on Spotify?",
        link: Link::Path("https://open.spotify.com/search/"),
        wording: Wording::Opening,
    },
    SearchSite {
        rule: "netflix",
        display: "Netflix",
        names: &["netflix"],
        question: "What would you like to watch on Netflix?",
        link: Link::Query("https://www.netflix.com/search?q="),
        wording: Wording::Opening,
    },
    SearchSite {
        rule: "amazon",
        display: "Amazon",
        names: &["amazon"],
        question: "What would you like to search on Amazon?",
        link: Link::Query("https://www.amazon.com/s?k="),
        wording: Wording::Opening,
    },
    SearchSite {
        rule: "twitter",
        display: "Twitter",
        // "x" only as the whole last word: "sales on xbox" is not a Twitter search.
        names: &["twitter", "x"],
        question: "What would you like to search on Twitter?",
        link: Link::Query("https://twitter.com/search?q="),
        wording: Wording::Opening,
    },
    SearchSite {
        rule: "facebook",
        display: "Facebook",
        names: &["facebook"],
        question: "What would you like to search on Facebook?",
        link: Link::Query("https://www.facebook.com/search/top/?q="),
        wording: Wording::Opening,
    },
    SearchSite {
        rule: "instagram",
        display: "Instagram",
        names: &["instagram"],
        question: "What would you like to search on Instagram?",
        link: Link::Instagram,
        wording: Wording::Opening,
    },
    SearchSite {
        rule: "google",
        display: "Google",
        names: &["google"],
        question: "What would you like to search on Google?",
        link: Link::Query("https://www.google.com/search?q="),
        wording: Wording::Searching,
    },
    SearchSite {
        rule: "maps",
        display: "Maps",
        names: &[r"google\s+maps?", "maps", r"the\s+map"],
        question: "What location would you like to find on Maps?",
        link: Link::Query("https://www.google.com/maps/search/?api=1&query="),
        wording: Wording::Showing,
    },
];

/// Per site: "{query} on {site}" at the end of the command (polite words and closing
/// punctuation may follow), and "search {site} for {query}".
static SEARCH_SITE_PATTERNS: LazyLock<Vec<(Regex, Regex)>> = LazyLock::new(|| {
    SEARCH_SITES
        .iter()
        .map(|site| {
            let names = site.names.join("|");
            let on_site = compile(&format!(
                r"(?i)^(?P<body>.*?)\s*\bon\s+(?:{names})(?:[\s,]+(?:please|ballsy|now|for\s+me))*[\s.!?,]*$"
            ));
            // A lone "x" is too ambiguous here ("find x for which …").
            let spelled_out = site
                .names
                .iter()
                .filter(|name| name.len() > 1)
                .copied()
                .collect::<Vec<_>>()
                .join("|");
            let site_for = compile(&format!(
                r"(?i)^(?:search|look|find)\s+(?:on\s+|in\s+)?(?:{spelled_out})\s+for\b(?P<query>.*)$"
            ));
            (on_site, site_for)
        })
        .collect()
});

/// The verb in front of a site query: "play despacito on youtube" searches for "despacito".
static QUERY_VERB: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^(?:open|search\s+for|search|look\s+up|look\s+for|find\s+me|find|play|watch|listen\s+to|buy|show\s+me|show|locate|where\s+is|where's)(?:\s+|$)",
    )
});

fn search_on_site(text: &str) -> Option<Reply> {
    SEARCH_SITES
        .iter()
        .zip(SEARCH_SITE_PATTERNS.iter())
        .find_map(|(site, (on_site, site_for))| {
            if let Some(captures) = on_site.captures(text) {
                let body = captures.name("body").map_or("", |body| body.as_str());
                let body = match QUERY_VERB.find(body) {
                    Some(verb) => &body[verb.end()..],
                    None => body,
                };
                let query = body.trim().trim_end_matches(',');
                return Some(site_search_reply(site, query));
            }
            let captures = site_for.captures(text)?;
            let query = captures.name("query").map_or("", |query| query.as_str());
            Some(site_search_reply(site, clean_query(query)))
        })
}

/// Queries that only ask what there is ("what's on netflix"): answered with the site's
/// question rather than a search for the word "what's".
const PLACEHOLDER_QUERIES: &[&str] = &[
    "what",
    "what's",
    "whats",
    "what is",
    "what's new",
    "whats new",
    "what is new",
    "something",
    "something good",
    "anything",
    "anything good",
];

fn site_search_reply(site: &SearchSite, query: &str) -> Reply {
    let lowered = query.to_lowercase();
    if !has_alphanumeric(query) || PLACEHOLDER_QUERIES.contains(&lowered.as_str()) {
        return Reply::say(site.rule, site.question);
    }
    let url = match site.link {
        Link::Query(prefix) => format!("{prefix}{}", form_encode(query)),
        Link::Path(prefix) => format!("{prefix}{}", path_encode(query)),
        Link::Instagram => return instagram(site, query),
    };
    let display = site.display;
    let response = match site.wording {
        Wording::Opening => format!("Opening {query} on {display}"),
        Wording::Searching => format!("Searching for {query} on {display}"),
        Wording::Showing => format!("Showing {query} on {display}"),
    };
    let description = format!("{query} on {display}");
    Reply::act(site.rule, response, Action::OpenUrl { url, description })
}

/// One word is a profile ("@natgeo" or "natgeo"); several words are a hashtag made of
/// their letters and digits ("travel photos" → #travelphotos).
fn instagram(site: &SearchSite, query: &str) -> Reply {
    let handle = query.strip_prefix('@').unwrap_or(query);
    if !handle.contains(' ') {
        if !has_alphanumeric(handle) {
            return Reply::say(site.rule, site.question);
        }
        let url = format!("https://www.instagram.com/{}/", path_encode(handle));
        let description = format!("{handle}'s Instagram");
        return Reply::act(
            site.rule,
            format!("Opening {description}"),
            Action::OpenUrl { url, description },
        );
    }
    let tag: String = query
        .chars()
        .filter(|character| character.is_alphanumeric())
        .collect();
    let url = format!(
        "https://www.instagram.com/explore/tags/{}/",
        path_encode(&tag)
    );
    let description = format!("#{query} on Instagram");
    Reply::act(
        site.rule,
        format!("Opening {description}"),
        Action::OpenUrl { url, description },
    )
}

static DIRECTIONS_TO: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)(?:\bdirections\s+to|^navigate\s+to)\b(?P<rest>.*)$"));
static DIRECTIONS_FROM_TO: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)\bdirections\s+from\s+(?P<origin>.+?)\s+to\s+(?P<destination>.+)$")
});
static DESTINATION_FROM_ORIGIN: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)^(?P<destination>.*?)(?:\s+from\s+(?P<origin>.+))?$"));

/// "directions to boston from new york", "directions from new york to boston",
/// "navigate to the airport". Google Maps URLs API: destination, then origin if given.
fn directions(text: &str) -> Option<Reply> {
    let (destination, origin) = if let Some(captures) = DIRECTIONS_TO.captures(text) {
        let rest = captures
            .name("rest")
            .map_or("", |rest| rest.as_str())
            .trim();
        let parts = DESTINATION_FROM_ORIGIN.captures(rest)?;
        (
            parts
                .name("destination")
                .map_or("", |destination| destination.as_str()),
            parts.name("origin").map(|origin| origin.as_str()),
        )
    } else {
        let captures = DIRECTIONS_FROM_TO.captures(text)?;
        (
            captures
                .name("destination")
                .map_or("", |destination| destination.as_str()),
            captures.name("origin").map(|origin| origin.as_str()),
        )
    };
    let destination = clean_query(destination);
    if !has_alphanumeric(destination) {
        return Some(Reply::say(
            "directions",
            "Where would you like directions to?",
        ));
    }
    let mut url = format!(
        "https://www.google.com/maps/dir/?api=1&destination={}",
        form_encode(destination)
    );
    let origin = origin
        .map(clean_query)
        .filter(|origin| has_alphanumeric(origin));
    let (response, description) = match origin {
        Some(origin) => {
            url.push_str(&format!("&origin={}", form_encode(origin)));
            (
                format!("Getting directions from {origin} to {destination}"),
                format!("Directions from {origin} to {destination}"),
            )
        }
        None => (
            format!("Getting directions to {destination}"),
            format!("Directions to {destination}"),
        ),
    };
    Some(Reply::act(
        "directions",
        response,
        Action::OpenUrl { url, description },
    ))
}

static NEWS: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\b(?:latest\s+news\s+on|news\s+about)\b(?P<topic>.*)$"));

fn news(text: &str) -> Option<Reply> {
    let captures = NEWS.captures(text)?;
    let topic = clean_query(captures.name("topic").map_or("", |topic| topic.as_str()));
    if !has_alphanumeric(topic) {
        return Some(Reply::say("news", "What topic would you like news on?"));
    }
    Some(Reply::act(
        "news",
        format!("Here's the latest news about {topic}"),
        Action::OpenUrl {
            url: format!("https://news.google.com/search?q={}", form_encode(topic)),
            description: format!("News about {topic}"),
        },
    ))
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)^(?:open|check|read|show\s+me)\s+(?:my\s+|the\s+)?(?:e-?mails?|inbox)\b")
});

/// "open email", "check my email on outlook": the provider is picked by name, Gmail by default.
fn email(text: &str) -> Option<Reply> {
    if !EMAIL.is_match(text) {
        return None;
    }
    let command_words = words(text);
    let mentions = |name: &str| command_words.iter().any(|word| word == name);
    let url = if mentions("gmail") {
        "https://mail.google.com"
    } else if mentions("outlook") || mentions("hotmail") {
        "https://outlook.live.com"
    } else if mentions("yahoo") {
        "https://mail.yahoo.com"
    } else {
        "https://mail.google.com"
    };
    Some(Reply::act(
        "email",
        "Opening your email",
        Action::OpenUrl {
            url: url.into(),
            description: "Email".into(),
        },
    ))
}

static WEB_SEARCH: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^(?:search\s+(?:the\s+web|online|the\s+internet)\s+for|search\s+for|search|google|look\s+up)\b(?P<query>.*)$",
    )
});

/// "search for X", "search X", "google X", "look up X": the browser searches.
fn web_search(text: &str) -> Option<Reply> {
    let captures = WEB_SEARCH.captures(text)?;
    let query = clean_query(captures.name("query").map_or("", |query| query.as_str()));
    if !has_alphanumeric(query) {
        return Some(Reply::say(
            "search",
            "What would you like me to search for?",
        ));
    }
    Some(Reply::act(
        "search",
        format!("Searching for {query}"),
        Action::Search {
            query: query.to_string(),
        },
    ))
}

struct OpenSite {
    key: &'static str,
    display: &'static str,
    url: &'static str,
}

const fn site(key: &'static str, display: &'static str, url: &'static str) -> OpenSite {
    OpenSite { key, display, url }
}

/// Sites "open …" knows, by the words people use for them. The streaming services keep
/// the predecessor's URLs, which took precedence over its general site list.
const OPEN_SITES: &[OpenSite] = &[
    site("youtube", "YouTube", "https://youtube.com"),
    site("you tube", "YouTube", "https://youtube.com"),
    site("google", "Google", "https://google.com"),
    site("gmail", "Gmail", "https://mail.google.com"),
    site("spotify", "Spotify", "https://open.spotify.com"),
    site("netflix", "Netflix", "https://www.netflix.com"),
    site("amazon", "Amazon", "https://amazon.com"),
    site("facebook", "Facebook", "https://facebook.com"),
    site("instagram", "Instagram", "https://instagram.com"),
    site("twitter", "Twitter", "https://twitter.com"),
    site("x", "X", "https://twitter.com"),
    site("linkedin", "LinkedIn", "https://linkedin.com"),
    site("reddit", "Reddit", "https://reddit.com"),
    site("twitch", "Twitch", "https://twitch.tv"),
    site("github", "GitHub", "https://github.com"),
    site(
        "stackoverflow",
        "Stack Overflow",
        "https://stackoverflow.com",
    ),
    site(
        "stack overflow",
        "Stack Overflow",
        "https://stackoverflow.com",
    ),
    site("pinterest", "Pinterest", "https://pinterest.com"),
    site("maps", "Google Maps", "https://maps.google.com"),
    site("google maps", "Google Maps", "https://maps.google.com"),
    site("hulu", "Hulu", "https://www.hulu.com"),
    site("disney", "Disney+", "https://www.disneyplus.com"),
    site("disney plus", "Disney+", "https://www.disneyplus.com"),
    site("disney+", "Disney+", "https://www.disneyplus.com"),
    site(
        "prime video",
        "Prime Video",
        "https://www.amazon.com/Prime-Video",
    ),
    site(
        "amazon prime",
        "Prime Video",
        "https://www.amazon.com/Prime-Video",
    ),
    site(
        "amazon prime video",
        "Prime Video",
        "https://www.amazon.com/Prime-Video",
    ),
    site("hbo", "HBO", "https://www.hbomax.com"),
    site("hbo max", "HBO Max", "https://www.hbomax.com"),
    site("peacock", "Peacock", "https://www.peacocktv.com"),
    site("paramount", "Paramount+", "https://www.paramountplus.com"),
    site(
        "paramount plus",
        "Paramount+",
        "https://www.paramountplus.com",
    ),
    site("paramount+", "Paramount+", "https://www.paramountplus.com"),
    site("apple tv", "Apple TV", "https://tv.apple.com"),
    site("apple tv plus", "Apple TV+", "https://tv.apple.com"),
    site("apple tv+", "Apple TV+", "https://tv.apple.com"),
];

/// [`OPEN_SITES`] longest key first, so "google maps" wins over "google" and
/// "hbo max" over "hbo".
static OPEN_SITES_LONGEST_FIRST: LazyLock<Vec<&'static OpenSite>> = LazyLock::new(|| {
    let mut sites: Vec<&OpenSite> = OPEN_SITES.iter().collect();
    sites.sort_by_key(|site| std::cmp::Reverse(site.key.len()));
    sites
});

static OPEN: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)^open(?:\s+(?P<target>.*))?$"));
/// Words in front of an app's name that are not part of it: "open up the calculator".
static APP_NAME_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)^(?:(?:up|the|my|a|an)(?:\s+|$))+"));
/// A trailing "app" that is not part of the name: "open the calculator app".
static APP_NAME_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\s+(?:app|application|program)$"));

/// "open …" (only as the first word): a known site by whole words, else an app.
fn open(text: &str) -> Option<Reply> {
    let captures = OPEN.captures(trim_sentence_end(text))?;
    let target = clean_query(captures.name("target").map_or("", |target| target.as_str()));
    if !has_alphanumeric(target) {
        return Some(Reply::say("open_what", "What would you like me to open?"));
    }
    let lowered = target.to_lowercase();
    if let Some(site) = OPEN_SITES_LONGEST_FIRST
        .iter()
        .find(|site| contains_phrase(&lowered, site.key))
    {
        return Some(Reply::act(
            "open_site",
            format!("Opening {}", site.display),
            Action::OpenUrl {
                url: site.url.into(),
                description: site.display.into(),
            },
        ));
    }
    let without_prefix = match APP_NAME_PREFIX.find(target) {
        Some(prefix) => &target[prefix.end()..],
        None => target,
    };
    if !has_alphanumeric(without_prefix) {
        return Some(Reply::say("open_what", "What would you like me to open?"));
    }
    let app = match APP_NAME_SUFFIX.find(without_prefix) {
        Some(suffix) if has_alphanumeric(&without_prefix[..suffix.start()]) => {
            &without_prefix[..suffix.start()]
        }
        _ => without_prefix,
    };
    // A web page cannot start programs on the device; say so once, honestly, instead of
    // "Opening …" followed by an apology.
    let app_name = title_case(app);
    let response = if app_name.eq_ignore_ascii_case("calculator") {
        "I can't open the Calculator app from a web page, but I can do the maths: just ask, like \"what's 12 times 7\".".to_owned()
    } else {
        format!(
            "I can't open {app_name} from a web page; I can open websites, like YouTube or Maps."
        )
    };
    Some(Reply::act(
        "open_app",
        response,
        Action::OpenApp { app_name },
    ))
}

#[cfg(test)]
mod tests {
    use crate::assistant::commands::testing::{
        is_general, opened, opened_url, reply, rule_or_none,
    };
    use crate::assistant::{Action, Reply};

    const AWKWARD: &str = "c++ & rust?";
    const ACCENTED: &str = "café au lait";

    #[test]
    fn youtube_search() {
        let played = reply("play despacito on youtube");
        assert_eq!(played.rule, "youtube");
        assert_eq!(played.response, "Opening despacito on YouTube");
        assert_eq!(
            played.action,
            Some(Action::OpenUrl {
                url: "https://www.youtube.com/results?search_query=despacito".into(),
                description: "despacito on YouTube".into(),
            })
        );
        assert_eq!(
            reply("on youtube").response,
            "What would you like to search on YouTube?"
        );
        assert_eq!(
            reply("play on YouTube").response,
            "What would you like to search on YouTube?"
        );
    }

    #[test]
    fn sentence_punctuation_after_the_site_is_not_part_of_the_query() {
        assert_eq!(
            reply("play despacito on youtube.").response,
            "Opening despacito on YouTube"
        );
        assert_eq!(
            reply("Play Despacito on YouTube, please!").response,
            "Opening Despacito on YouTube"
        );
    }

    #[test]
    fn punctuation_inside_a_site_query_is_kept_and_encoded() {
        let (url, description) = opened("c++ & rust? on youtube");
        assert_eq!(
            url,
            "https://www.youtube.com/results?search_query=c%2B%2B+%26+rust%3F"
        );
        assert_eq!(description, "c++ & rust? on YouTube");
    }

    #[test]
    fn site_queries_keep_the_users_casing() {
        let (url, description) = opened("watch Stranger Things on Netflix");
        assert_eq!(url, "https://www.netflix.com/search?q=Stranger+Things");
        assert_eq!(description, "Stranger Things on Netflix");
    }

    #[test]
    fn every_search_site_encodes_awkward_queries() {
        let cases = [
            (
                "on youtube",
                "https://www.youtube.com/results?search_query=c%2B%2B+%26+rust%3F",
                "https://www.youtube.com/results?search_query=caf%C3%A9+au+lait",
            ),
            (
                "on spotify",
                "https://open.spotify.com/search/c%2B%2B%20%26%20rust%3F",
                "https://open.spotify.com/search/caf%C3%A9%20au%20lait",
            ),
            (
                "on netflix",
                "https://www.netflix.com/search?q=c%2B%2B+%26+rust%3F",
                "https://www.netflix.com/search?q=caf%C3%A9+au+lait",
            ),
            (
                "on amazon",
                "https://www.amazon.com/s?k=c%2B%2B+%26+rust%3F",
                "https://www.amazon.com/s?k=caf%C3%A9+au+lait",
            ),
            (
                "on twitter",
                "https://twitter.com/search?q=c%2B%2B+%26+rust%3F",
                "https://twitter.com/search?q=caf%C3%A9+au+lait",
            ),
            (
                "on x",
                "https://twitter.com/search?q=c%2B%2B+%26+rust%3F",
                "https://twitter.com/search?q=caf%C3%A9+au+lait",
            ),
            (
                "on facebook",
                "https://www.facebook.com/search/top/?q=c%2B%2B+%26+rust%3F",
                "https://www.facebook.com/search/top/?q=caf%C3%A9+au+lait",
            ),
            (
                "on instagram",
                "https://www.instagram.com/explore/tags/crust/",
                "https://www.instagram.com/explore/tags/caf%C3%A9aulait/",
            ),
            (
                "on google",
                "https://www.google.com/search?q=c%2B%2B+%26+rust%3F",
                "https://www.google.com/search?q=caf%C3%A9+au+lait",
            ),
            (
                "on maps",
                "https://www.google.com/maps/search/?api=1&query=c%2B%2B+%26+rust%3F",
                "https://www.google.com/maps/search/?api=1&query=caf%C3%A9+au+lait",
            ),
        ];
        for (site, awkward_url, accented_url) in cases {
            assert_eq!(
                opened_url(&format!("{AWKWARD} {site}")),
                awkward_url,
                "{site}"
            );
            assert_eq!(
                opened_url(&format!("{ACCENTED} {site}")),
                accented_url,
                "{site}"
            );
        }
    }

    #[test]
    fn sentence_ending_queries_encode_awkward_text() {
        let cases = [
            (
                "directions to {}",
                "https://www.google.com/maps/dir/?api=1&destination=c%2B%2B+%26+rust",
                "https://www.google.com/maps/dir/?api=1&destination=caf%C3%A9+au+lait",
            ),
            (
                "news about {}",
                "https://news.google.com/search?q=c%2B%2B+%26+rust",
                "https://news.google.com/search?q=caf%C3%A9+au+lait",
            ),
            (
                "search youtube for {}",
                "https://www.youtube.com/results?search_query=c%2B%2B+%26+rust",
                "https://www.youtube.com/results?search_query=caf%C3%A9+au+lait",
            ),
        ];
        for (template, awkward_url, accented_url) in cases {
            assert_eq!(
                opened_url(&template.replace("{}", AWKWARD)),
                awkward_url,
                "{template}"
            );
            assert_eq!(
                opened_url(&template.replace("{}", ACCENTED)),
                accented_url,
                "{template}"
            );
        }
        let origin = opened_url(&format!("directions from {ACCENTED} to {AWKWARD}"));
        assert_eq!(
            origin,
            "https://www.google.com/maps/dir/?api=1&destination=c%2B%2B+%26+rust&origin=caf%C3%A9+au+lait"
        );
        assert_eq!(
            reply(&format!("search for {ACCENTED}")).action,
            Some(Action::Search {
                query: ACCENTED.into()
            })
        );
    }

    #[test]
    fn spotify_uses_a_path_segment() {
        assert_eq!(
            opened_url("lofi beats on spotify"),
            "https://open.spotify.com/search/lofi%20beats"
        );
        assert_eq!(
            opened_url("listen to AC/DC on spotify"),
            "https://open.spotify.com/search/AC%2FDC"
        );
        assert_eq!(
            reply("listen to AC/DC on spotify").response,
            "Opening AC/DC on Spotify"
        );
    }

    #[test]
    fn netflix_amazon_facebook_searches() {
        assert_eq!(
            opened_url("watch stranger things on netflix"),
            "https://www.netflix.com/search?q=stranger+things"
        );
        for command in [
            "on netflix",
            "what's on Netflix?",
            "what is new on netflix",
            "watch something on netflix",
        ] {
            assert_eq!(
                reply(command),
                Reply::say("netflix", "What would you like to watch on Netflix?"),
                "{command}"
            );
        }
        let bought = reply("buy running shoes on amazon");
        assert_eq!(bought.rule, "amazon");
        assert_eq!(bought.response, "Opening running shoes on Amazon");
        assert_eq!(
            opened_url("find me shoes on amazon"),
            "https://www.amazon.com/s?k=shoes"
        );
        let facebook = reply("search Jane Doe on Facebook");
        assert_eq!(facebook.rule, "facebook");
        assert_eq!(facebook.response, "Opening Jane Doe on Facebook");
        assert_eq!(
            opened_url("search Jane Doe on Facebook"),
            "https://www.facebook.com/search/top/?q=Jane+Doe"
        );
    }

    #[test]
    fn twitter_needs_x_as_the_last_word() {
        let rust = reply("search rust on x");
        assert_eq!(rust.rule, "twitter");
        assert_eq!(rust.response, "Opening rust on Twitter");
        assert_eq!(
            opened_url("search rust on x"),
            "https://twitter.com/search?q=rust"
        );
        assert_eq!(
            opened_url("rust news on X."),
            "https://twitter.com/search?q=rust+news"
        );
        assert_eq!(
            opened_url("find elections on twitter"),
            "https://twitter.com/search?q=elections"
        );
        assert!(is_general("sales on xbox"));
        assert_ne!(rule_or_none("what's on x factor tonight"), Some("twitter"));
    }

    #[test]
    fn instagram_profiles_and_hashtags() {
        let profile = reply("natgeo on instagram");
        assert_eq!(profile.rule, "instagram");
        assert_eq!(profile.response, "Opening natgeo's Instagram");
        assert_eq!(
            profile.action,
            Some(Action::OpenUrl {
                url: "https://www.instagram.com/natgeo/".into(),
                description: "natgeo's Instagram".into(),
            })
        );
        assert_eq!(
            reply("open @NatGeo on Instagram").response,
            "Opening NatGeo's Instagram"
        );
        assert_eq!(
            opened_url("open @NatGeo on Instagram"),
            "https://www.instagram.com/NatGeo/"
        );
        let hashtag = reply("travel photos on instagram");
        assert_eq!(hashtag.response, "Opening #travel photos on Instagram");
        assert_eq!(
            hashtag.action,
            Some(Action::OpenUrl {
                url: "https://www.instagram.com/explore/tags/travelphotos/".into(),
                description: "#travel photos on Instagram".into(),
            })
        );
        assert_eq!(
            reply("@ on instagram").response,
            "What would you like to search on Instagram?"
        );
    }

    #[test]
    fn google_search_via_open_or_on_google() {
        let cats = reply("open cats on google");
        assert_eq!(cats.rule, "google");
        assert_eq!(cats.response, "Searching for cats on Google");
        assert_eq!(
            cats.action,
            Some(Action::OpenUrl {
                url: "https://www.google.com/search?q=cats".into(),
                description: "cats on Google".into(),
            })
        );
        assert_eq!(
            opened_url("search google for rust traits"),
            "https://www.google.com/search?q=rust+traits"
        );
    }

    #[test]
    fn maps_search_uses_the_urls_api() {
        let shown = reply("find pizza near me on google maps");
        assert_eq!(shown.rule, "maps");
        assert_eq!(shown.response, "Showing pizza near me on Maps");
        assert_eq!(
            shown.action,
            Some(Action::OpenUrl {
                url: "https://www.google.com/maps/search/?api=1&query=pizza+near+me".into(),
                description: "pizza near me on Maps".into(),
            })
        );
        assert_eq!(
            reply("on maps").response,
            "What location would you like to find on Maps?"
        );
        assert_eq!(
            opened_url("where is Lisbon on the map"),
            "https://www.google.com/maps/search/?api=1&query=Lisbon"
        );
    }

    #[test]
    fn directions_use_the_urls_api_with_optional_origin() {
        let from = reply("directions to boston from new york");
        assert_eq!(from.rule, "directions");
        assert_eq!(from.response, "Getting directions from new york to boston");
        assert_eq!(
            from.action,
            Some(Action::OpenUrl {
                url: "https://www.google.com/maps/dir/?api=1&destination=boston&origin=new+york"
                    .into(),
                description: "Directions from new york to boston".into(),
            })
        );
        let to = reply("Get directions to Central Park.");
        assert_eq!(to.response, "Getting directions to Central Park");
        assert_eq!(
            to.action,
            Some(Action::OpenUrl {
                url: "https://www.google.com/maps/dir/?api=1&destination=Central+Park".into(),
                description: "Directions to Central Park".into(),
            })
        );
        assert_eq!(
            opened_url("directions from Paris to Lyon"),
            "https://www.google.com/maps/dir/?api=1&destination=Lyon&origin=Paris"
        );
        assert_eq!(
            opened_url("navigate to the airport"),
            "https://www.google.com/maps/dir/?api=1&destination=the+airport"
        );
        assert_eq!(
            opened_url("directions to the office on maps"),
            "https://www.google.com/maps/dir/?api=1&destination=the+office+on+maps"
        );
        for empty in ["directions to", "directions to?"] {
            let asked = reply(empty);
            assert_eq!(asked.response, "Where would you like directions to?");
            assert_eq!(asked.action, None);
        }
    }

    #[test]
    fn news_about_a_topic() {
        let news = reply("news about ai");
        assert_eq!(news.rule, "news");
        assert_eq!(news.response, "Here's the latest news about ai");
        assert_eq!(
            news.action,
            Some(Action::OpenUrl {
                url: "https://news.google.com/search?q=ai".into(),
                description: "News about ai".into(),
            })
        );
        assert_eq!(
            opened_url("what's the latest news on the World Cup?"),
            "https://news.google.com/search?q=the+World+Cup"
        );
        assert_eq!(
            reply("news about").response,
            "What topic would you like news on?"
        );
    }

    #[test]
    fn email_providers() {
        let email = reply("open email");
        assert_eq!(email.rule, "email");
        assert_eq!(email.response, "Opening your email");
        assert_eq!(
            email.action,
            Some(Action::OpenUrl {
                url: "https://mail.google.com".into(),
                description: "Email".into(),
            })
        );
        assert_eq!(
            opened_url("check email outlook"),
            "https://outlook.live.com"
        );
        assert_eq!(
            opened_url("check my email on yahoo"),
            "https://mail.yahoo.com"
        );
        assert_eq!(
            opened_url("can you check my inbox on gmail"),
            "https://mail.google.com"
        );
        assert!(is_general("how do I check email on iphone"));
    }

    #[test]
    fn web_search_commands() {
        for (command, query) in [
            ("search for rust lifetimes", "rust lifetimes"),
            ("search Rust lifetimes?", "Rust lifetimes"),
            ("google best pizza in Naples", "best pizza in Naples"),
            (
                "look up the boiling point of water.",
                "the boiling point of water",
            ),
            ("search the web for cheap flights please", "cheap flights"),
            ("search forest fires", "forest fires"),
        ] {
            let searched = reply(command);
            assert_eq!(searched.rule, "search", "{command}");
            assert_eq!(searched.response, format!("Searching for {query}"));
            assert_eq!(
                searched.action,
                Some(Action::Search {
                    query: query.into()
                })
            );
        }
        assert_eq!(
            reply("search for").response,
            "What would you like me to search for?"
        );
        assert!(is_general("searching for meaning"));
    }

    #[test]
    fn site_search_wins_over_generic_search() {
        assert_eq!(reply("search cats on youtube").rule, "youtube");
        assert_eq!(
            reply("search for cats on amazon").response,
            "Opening cats on Amazon"
        );
        assert_eq!(
            reply("search youtube for lofi").response,
            "Opening lofi on YouTube"
        );
    }

    #[test]
    fn open_known_sites_by_whole_words_longest_first() {
        let cases = [
            (
                "open google maps",
                "Opening Google Maps",
                "https://maps.google.com",
            ),
            ("open google", "Opening Google", "https://google.com"),
            ("open hbo max", "Opening HBO Max", "https://www.hbomax.com"),
            ("open hbo", "Opening HBO", "https://www.hbomax.com"),
            (
                "open apple tv+",
                "Opening Apple TV+",
                "https://tv.apple.com",
            ),
            ("open apple tv", "Opening Apple TV", "https://tv.apple.com"),
            (
                "open disney+",
                "Opening Disney+",
                "https://www.disneyplus.com",
            ),
            (
                "open disney plus",
                "Opening Disney+",
                "https://www.disneyplus.com",
            ),
            ("open youtube", "Opening YouTube", "https://youtube.com"),
            (
                "Open YouTube please.",
                "Opening YouTube",
                "https://youtube.com",
            ),
            ("open netflix", "Opening Netflix", "https://www.netflix.com"),
            (
                "open amazon prime",
                "Opening Prime Video",
                "https://www.amazon.com/Prime-Video",
            ),
            ("open x", "Opening X", "https://twitter.com"),
            ("open github", "Opening GitHub", "https://github.com"),
            (
                "open stack overflow",
                "Opening Stack Overflow",
                "https://stackoverflow.com",
            ),
            (
                "could you open reddit",
                "Opening Reddit",
                "https://reddit.com",
            ),
        ];
        for (command, response, url) in cases {
            let opened_site = reply(command);
            assert_eq!(opened_site.rule, "open_site", "{command}");
            assert_eq!(opened_site.response, response, "{command}");
            let display = response.trim_start_matches("Opening ");
            assert_eq!(
                opened_site.action,
                Some(Action::OpenUrl {
                    url: url.into(),
                    description: display.into()
                }),
                "{command}"
            );
        }
    }

    #[test]
    fn open_unknown_targets_as_apps() {
        let cannot = |app: &str| {
            format!(
                "I can't open {app} from a web page; I can open websites, like YouTube or Maps."
            )
        };
        let calculator = "I can't open the Calculator app from a web page, but I can do the maths: just ask, like \"what's 12 times 7\".".to_owned();
        for (command, response, app) in [
            ("open xbox", cannot("Xbox"), "Xbox"),
            ("open text editor", cannot("Text Editor"), "Text Editor"),
            ("open calculator", calculator.clone(), "Calculator"),
            ("please open the calculator app", calculator, "Calculator"),
            ("open VS code", cannot("VS Code"), "VS Code"),
            ("open up Spotless", cannot("Spotless"), "Spotless"),
            ("open app", cannot("App"), "App"),
        ] {
            let opened_app = reply(command);
            assert_eq!(opened_app.rule, "open_app", "{command}");
            assert_eq!(opened_app.response, response, "{command}");
            assert_eq!(
                opened_app.action,
                Some(Action::OpenApp {
                    app_name: app.into()
                }),
                "{command}"
            );
        }
    }

    #[test]
    fn open_must_be_the_first_word() {
        assert!(is_general("reopen the window"));
        assert!(is_general("I left it open"));
        assert!(is_general("open-source licences compared"));
    }

    #[test]
    fn open_without_a_target_asks() {
        for command in ["open", "Open!", "open the", "open ???"] {
            assert_eq!(
                reply(command),
                Reply::say("open_what", "What would you like me to open?"),
                "{command}"
            );
        }
    }
}
