//! DATABASE_URL parsing never panics, and never echoes a password in its error.
#![no_main]

use ballsy::store::url::DatabaseUrl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match DatabaseUrl::parse(text) {
        Ok(url) => {
            let _ = url.describe();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
