//! The time-of-day parser must never panic or stall, and every time it accepts must resolve to
//! an instant in the future, within eight days, in any zone.
#![no_main]

use ballsy::assistant::clock::{parse_time_of_day_detailed, speak_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let text: String = text.chars().take(1000).collect();
    let Some(parsed) = parse_time_of_day_detailed(&text) else { return };
    assert!(parsed.time.hour < 24 && parsed.time.minute < 60);
    let zones = [
        chrono_tz::UTC,
        chrono_tz::America::New_York,
        chrono_tz::Europe::Berlin,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Pacific::Apia,
        chrono_tz::Asia::Kathmandu,
    ];
    let zone = zones[usize::from(seed) % zones.len()];
    // Around the 2026 daylight-saving changes and the 2011 Samoa date-line jump.
    let starts = [1_772_900_000i64, 1_793_500_000, 1_325_100_000, 1_795_000_000];
    let start = starts[usize::from(seed / 8) % starts.len()] + i64::from(seed) * 997;
    let now = chrono::DateTime::from_timestamp(start, 0).unwrap_or_default();
    let at = parsed.next_occurrence(now, zone);
    assert!(at > now, "the next occurrence is in the future");
    assert!(at - now <= chrono::Duration::days(8), "and within eight days");
    let _ = speak_time(at, now, zone);
});
