//! Integration tests of the signaling service over real HTTP and WebSocket
//! on 127.0.0.1, with a real SQLite file (or, with
//! `PARLEY_TEST_STORE=postgres`, a real PostgreSQL database) and a clock the
//! tests move.

mod access;
mod bad_input;
mod bookings;
mod harness;
mod interop;
mod live;
mod media;
mod openapi_check;
mod protocol;
mod reviews;
mod token_attacks;
mod web;
mod webhooks;
mod ws;
