//! The media server's events (active speaker, lost media, layers, paused
//! video, connection strength), handed to the live sessions. The media
//! server is any [`parley_control::MediaPlane`]: the SFU in this process or
//! one running apart; the binary that composes the services chooses.

use super::LiveHub;
use parley_control::MediaPlane;

/// Passes the media server's events to the live sessions for as long as
/// the process runs (a task on the current runtime).
pub fn follow_events(plane: &dyn MediaPlane, live: LiveHub) {
    let Some(mut events) = plane.events() else {
        tracing::warn!("the media server's events were taken already; no active-speaker events");
        return;
    };
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            live.media_event(event).await;
        }
    });
}
