//! Ballsy: a voice assistant you talk to in the browser, served by one Rust process.
//!
//! Module map: `config` (environment), `telemetry` (Cloud Logging JSON), `store` (Postgres and
//! SQLite behind one API), `conversation` (turns, sources, statuses), `assistant` (smart
//! commands, math, persona; pure), `ai` (Gemini and the offline model), `limits` (rate limits,
//! AI budgets), `turns` (the turns service: one command, end to end), `skills` (timers, weather,
//! conversions and the other tools, for rules, function calls and Live), `error` (the errors
//! clients see), `state` (what handlers share), `hub` (each user's open sockets), `identity` (who is calling), `http` (router, middleware, resources), `ws`
//! (the voice socket), `net` (the accept loop and connection limits), `server` (wiring,
//! shutdown), `weather` (Open-Meteo), `cli` (subcommands).
#![forbid(unsafe_code)]

pub mod ai;
pub mod assistant;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod error;
pub mod http;
pub mod hub;
pub mod identity;
pub mod limits;
pub mod live;
pub mod net;
pub mod server;
pub mod skills;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod turns;
pub mod weather;
pub mod ws;
