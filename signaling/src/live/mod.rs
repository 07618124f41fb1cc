//! Live sessions: the pure [`state::LiveSession`] machine, one task per live
//! session that drives it ([`hub`]), and the WebSocket edge ([`ws`]).

pub mod hub;
pub mod state;
pub mod ws;

pub use hub::LiveHub;
