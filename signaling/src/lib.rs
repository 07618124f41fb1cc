//! Parley signaling: the HTTP API for bookings and hearings, the live-session
//! WebSocket, policy decisions, join tokens and the hash-chained audit log.
//!
//! Pure cores live in `parley-policy` (what the rules say) and
//! [`live::state`] (what happens in a live session); this crate is the shell
//! around them: axum handlers, the SQLite store, and one task per live
//! session.

pub mod app;
pub mod auth;
pub mod clock;
pub mod demo;
pub mod error;
pub mod extract;
pub mod http_server;
pub mod live;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod policy_view;
pub mod review;
pub mod rights;
pub mod routes;
pub mod store;
pub mod time;
pub mod web;
pub mod webhooks;

pub use app::{Running, SignalingConfig, StartError, start, start_with_clock};
