//! Client frames on the voice socket: any text parses to a frame or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ballsy::ws::protocol::parse_client_frame(text);
    let _ = ballsy::turns::Command::parse(text);
});
