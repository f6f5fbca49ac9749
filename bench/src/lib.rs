//! Tools that exercise Ballsy from the outside: the fake Gemini, Gemini Live and Open-Meteo servers, the
//! load generator, the WebSocket echo and durable floors and the benchmark suite (`cargo run --release -p
//! ballsy-bench --bin bench -- all`, see bench/README.md).

pub mod durable;
pub mod echo;
pub mod fake_gemini;
pub mod fake_live;
pub mod fake_weather;
pub mod loadgen;
pub mod process;
pub mod suite;
