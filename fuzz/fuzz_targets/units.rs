//! The conversion parser must never panic or stall, and every request it accepts must convert
//! (or explain why not) and be spoken.
#![no_main]

use ballsy::assistant::units::{convert, parse_conversion, speak_conversion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let text: String = text.chars().take(1000).collect();
    let Some(request) = parse_conversion(&text) else { return };
    match convert(&request) {
        Ok(result) => assert!(speak_conversion(&request, &result).ends_with('.')),
        Err(error) => assert!(error.sentence().ends_with('.')),
    }
});
