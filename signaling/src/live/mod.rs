//! Live sessions: the pure [`state::LiveSession`] machine, one task per live
//! session that drives it ([`hub`]), the WebSocket edge ([`ws`]), and the
//! media server's events ([`media_plane`]), the bound on audited
//! refused joins ([`refusals`]) and on a socket's message rate
//! ([`message_rate`]).

pub mod hub;
pub mod media_lane;
pub mod media_plane;
pub mod message_rate;
pub mod refusals;
pub mod state;
pub mod ws;

pub use hub::LiveHub;
