//! The duration parsers must never panic or stall, whatever the text, and what they accept must
//! speak and parse back consistently.
#![no_main]

use ballsy::assistant::duration::{parse_duration, parse_duration_prefix, speak_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let text: String = text.chars().take(1000).collect();
    if let Some(duration) = parse_duration(&text) {
        let spoken = speak_duration(duration);
        let again = parse_duration(&spoken).expect("a spoken duration parses");
        assert_eq!(speak_duration(again), spoken, "speaking is idempotent");
    }
    if let Some((_, length)) = parse_duration_prefix(&text) {
        assert!(length <= text.len() && text.is_char_boundary(length), "ends on a boundary");
    }
});
