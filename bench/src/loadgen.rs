//! The load generator: WebSocket clients that drive Ballsy (or the echo floor) and measure it.
//!
//! Three loads, each a plain `async fn` so benchmarks and long-running reliability tests can
//! call them with their own settings:
//!
//! * [`run_commands`]: clients sending commands with one in flight each, timing every
//!   exchange and recording which commands were acknowledged (so a caller can check the
//!   database holds exactly those);
//! * [`run_streams`]: sessions asking AI questions whose streamed chunks are stamped by the fake
//!   Gemini, measuring the delay the server adds to each chunk (and [`run_direct_streams`], the
//!   same without the server);
//! * [`hold_idle`]: many idle sockets held open, for memory measurements;
//! * [`start_live`]: Live voice sessions streaming stamped audio both ways through the relay
//!   (or straight to the fake Live server), for the relay's delay, memory and CPU.
//!
//! Protocol (see the server's `src/ws/protocol.rs`): a client sends
//! `{"command": "...", "id": "<n>"}` and the server answers with `response_delta` frames (AI
//! answers only) and one `command_response` or `error` frame carrying the same id.
//!
//! ```no_run
//! # async fn demo() {
//! use ballsy_bench::loadgen::{CommandLoad, run_commands};
//! let mut load = CommandLoad::new("ws://127.0.0.1:8080");
//! load.clients = 10;
//! load.commands_per_client = 20;
//! let report = run_commands(load).await;
//! assert!(report.is_clean(), "{report:?}");
//! # }
//! ```

mod commands;
mod conn;
mod idle;
mod live;
pub mod stats;
mod streams;

pub use commands::{ClientOutcome, CommandLoad, CommandReport, DEFAULT_COMMANDS, run_commands};
pub use conn::{Auth, Credentials, SessionFactory, Ws, connect, http_base};
pub use idle::{IdleHandle, IdleLoad, hold_idle};
pub use live::{CHUNK_EVERY, LiveLoad, LiveReport, LiveRun, LiveTarget, start_live};
pub use stats::{Latencies, Percentiles};
pub use streams::{DirectStreamLoad, StreamLoad, StreamReport, run_direct_streams, run_streams};
