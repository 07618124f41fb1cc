//! Events for jail and court case-management systems: signed webhooks
//! configured per facility.
//!
//! The events are the audit log's own entries ([`event`]): each webhook
//! keeps the sequence number up to which it has delivered (or given up on)
//! its facility's entries, so an event is sent after the change it reports
//! has committed, in the log's order, and a restart resumes where delivery
//! stood: nothing accepted is lost, nothing is held only in memory.
//! Deliveries are signed ([`signature`]) and retried with backoff
//! ([`retry`]); one that keeps failing goes to the webhook's dead-letter
//! list and delivery moves on ([`delivery`]).

pub mod delivery;
pub mod event;
pub mod retry;
pub mod signature;
