//! The one vocabulary between signaling and any media plane.
//!
//! Signaling speaks only these types to the media server, whether the SFU
//! runs in the same process or apart (`parley sfu`, over its control API):
//! rooms and their policy ([`room`]), a court's decisions about a member
//! ([`standing`]), what the media plane reports back ([`event`],
//! [`downlink`]), why it refused ([`failure`]), what to record
//! ([`recording`]), and the [`MediaPlane`] trait both kinds of SFU
//! implement ([`plane`]).
//!
//! Nothing here does I/O; the services depend on this crate, never on each
//! other.

pub mod downlink;
pub mod event;
pub mod failure;
pub mod plane;
pub mod recording;
pub mod room;
pub mod standing;

pub use downlink::{Downlink, EstimateSource};
pub use event::MediaEvent;
pub use failure::{FailureCode, MediaFailure};
pub use plane::{LaunchMedia, MediaContext, MediaPlane, WallClock};
pub use recording::RecordingOrder;
pub use room::{ConsultationId, MAX_RECEIVE_SLOTS, MediaKind, MemberId, RoomId, RoomPolicy};
pub use standing::{HearingChange, JoinRequest, Muted, Standing};
