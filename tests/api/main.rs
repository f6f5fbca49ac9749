//! Integration tests: the real server over real sockets, against SQLite and (when
//! BALLSY_TEST_DATABASE_URL is set) PostgreSQL, with the fake Gemini server standing in for
//! Google and the fake Open-Meteo for the weather APIs. One test binary, so the crate links
//! once.

mod helpers;

mod api;
mod conversations;
mod docs;
mod functions;
mod gemini;
mod hardening;
mod health;
mod identity;
mod infra;
mod limits;
mod live;
mod process;
mod replay;
mod server;
mod skills;
mod store;
mod weather;
mod ws;
