//! Whatever bytes an upstream sends, split anywhere, the SSE framing and the chunk parser
//! answer with data or an error, never a panic.
#![no_main]

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{FutureExt, StreamExt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    let pieces: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::copy_from_slice(&data[..split])),
        Ok(Bytes::copy_from_slice(&data[split..])),
    ];
    let events = futures_util::stream::iter(pieces).eventsource().collect::<Vec<_>>();
    for event in events.now_or_never().unwrap_or_default().into_iter().flatten() {
        let _ = ballsy::ai::gemini::parse_chunk(&event.data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ballsy::ai::gemini::parse_chunk(text);
    }
});
