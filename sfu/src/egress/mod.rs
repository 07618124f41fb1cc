//! What the SFU keeps for each subscriber leg (one outgoing SSRC) so that it,
//! not the peer connection's interceptors, answers for what it sent: the
//! packets a NACK may ask for again ([`history`]), how often it may resend
//! ([`retransmit`]) and on which stream ([`rtx`]), and the sender reports that give the subscriber lip
//! sync and the SFU the leg's round-trip time ([`reports`]); and how it
//! encrypts a connection's RTP itself ([`sealing`], with the keys from
//! [`keys`]); and, per connection, what its downlink carries, estimated
//! from the subscriber's transport-wide feedback ([`downlink`]).
//!
//! Pure: every instant is handed in. The engine (`engine::worker`) writes
//! the packets and reads the RTCP.

pub mod downlink;
pub mod history;
pub mod keys;
pub mod reports;
pub mod retransmit;
pub mod rtx;
pub mod sealing;

pub use downlink::Downlink;
pub use history::SendHistory;
pub use reports::LegReports;
pub use retransmit::{Resend, RetransmitBudget};
