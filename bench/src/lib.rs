//! Tools that exercise Ballsy from the outside: the fake Gemini server, the load generator
//! and the WebSocket echo floor.

pub mod fake_gemini;
