//! Ballsy: a voice assistant you talk to in the browser, served by one Rust process.
//!
//! Module map: `config` (environment), `telemetry` (Cloud Logging JSON), `store` (Postgres and
//! SQLite behind one API), `assistant` (smart commands, math, persona; pure), `ai` (Gemini and
//! the offline model), `limits` (rate limits, AI budgets), `turn` (one command, end to end),
//! `weather` (the Open-Meteo client, weather questions and spoken answers), `http` (router,
//! middleware, resources), `ws` (the voice socket), `app` (wiring, shutdown), `cli`
//! (subcommands).
#![forbid(unsafe_code)]

pub mod ai;
pub mod app;
pub mod assistant;
pub mod cli;
pub mod config;
pub mod http;
pub mod limits;
pub mod store;
pub mod telemetry;
pub mod turn;
pub mod weather;
pub mod ws;
