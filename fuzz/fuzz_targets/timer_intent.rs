//! The timer, alarm and reminder intent parser must never panic or stall on any command, and
//! the times it returns must resolve.
#![no_main]

use ballsy::assistant::timers::{TimerIntent, parse_timer_intent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let command: String = text.chars().take(1000).collect();
    if let Some(TimerIntent::Set { when, label, .. }) = parse_timer_intent(&command) {
        let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
        assert!(when.resolve(now, chrono_tz::Europe::Berlin) >= now);
        if let Some(label) = label {
            assert!(!label.is_empty() && label == label.to_lowercase().trim(), "labels are tidy");
        }
    }
});
