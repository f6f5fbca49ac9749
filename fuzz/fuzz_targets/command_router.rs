//! Any text a user can say must route without panicking, and quickly (the length check in front
//! of the router caps commands at 1000 characters). A chained calculation is also answered
//! against a stored previous result, as the turns service does.
#![no_main]

use ballsy::assistant::{self, Context, Routed, math::Number};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let command: String = text.chars().take(1000).collect();
    let context = Context {
        now: chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default(),
        timezone: Some(chrono_tz::Europe::Berlin),
    };
    if let Routed::Continue(chained) = assistant::route(&command, &context) {
        let previous = Number::from_stored("42");
        let _ = chained.answer(previous.as_ref());
        let _ = chained.answer(None);
    }
});
