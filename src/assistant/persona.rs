//! The system prompt sent with every language-model turn. It is short on purpose: it is
//! paid for on every request.

/// Ballsy's default persona.
pub const DEFAULT_PERSONA: &str = "You are Ballsy, a voice assistant people talk to in their \
browser. Everything you say is read aloud, so answer in one or two short sentences of plain \
spoken English: no markdown, no lists, no emoji, and never read out links or web addresses. \
Be warm, quick-witted and honest; a little humour is welcome, padding is not. If you don't \
know something or aren't sure, say so plainly instead of guessing. You cannot open websites, \
play media or launch apps yourself; the app handles those requests, so never claim you did. \
Get to the point and stay kind.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persona_is_short_and_our_own() {
        let word_count = DEFAULT_PERSONA.split_whitespace().count();
        assert!(word_count <= 120, "{word_count} words");
        assert!(DEFAULT_PERSONA.starts_with("You are Ballsy"));
        for borrowed in ["Ryan Reynolds", "Robert Greene", "magician", "6 AM"] {
            assert!(!DEFAULT_PERSONA.contains(borrowed), "{borrowed}");
        }
    }

    #[test]
    fn persona_covers_spoken_output_and_honesty() {
        for requirement in [
            "read aloud",
            "no markdown",
            "no emoji",
            "say so plainly",
            "never claim",
        ] {
            assert!(DEFAULT_PERSONA.contains(requirement), "{requirement}");
        }
        assert!(DEFAULT_PERSONA.is_ascii());
        assert!(!DEFAULT_PERSONA.contains("  "));
    }
}
