//! The calculator must never panic or stall, whatever the expression.
#![no_main]

use ballsy::assistant::math::{Number, evaluate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let previous = Number::from_stored("7/3");
    if let Ok(result) = evaluate(text, previous.as_ref()) {
        let stored = result.to_stored();
        assert_eq!(Number::from_stored(&stored), Some(result.clone()), "stored form round-trips");
        let _ = result.to_string();
    }
    let _ = Number::from_stored(text);
});
