//! Jurisdiction policy for Parley: what is recorded and monitored, when people
//! may join, when warnings fire, and whether a visit may be booked.
//!
//! Everything here is pure: functions take the jurisdiction, the session and
//! the time as arguments and return a decision with the ids of the rules that
//! produced it. The only I/O is reading files in [`load_file`] and [`load_dir`].
//!
//! Invariant: a privileged session kind ([`SessionKind::is_privileged`]) is
//! never recorded nor monitored. The loader refuses files that say otherwise,
//! and [`decide`] enforces it again whatever the [`Jurisdiction`] says.

mod booking;
mod decision;
mod e2ee;
mod error;
mod fair_use;
mod jurisdiction;
mod kinds;
mod load;
mod local_time;
mod position;
mod raw;
pub mod rights;
mod roles;
mod rules;
mod validate;
mod window;

pub use booking::{
    BookedInterval, BookingContext, BookingRequest, Refusal, RefusalCode, VisitorCheck,
    check_booking,
};
pub use decision::{Announcement, Decision, Participant, RecordingDecision, decide};
pub use e2ee::E2eeMode;
pub use error::ConfigError;
pub use fair_use::{FairUse, FairUseMode};
pub use jurisdiction::{Jurisdiction, Jurisdictions, VisitRules, VisitingHours};
pub use kinds::{SessionKind, UnknownSessionKind};
pub use load::{load_dir, load_file, load_str};
pub use local_time::{LocalTimeError, local_to_utc, local_week};
pub use roles::{Role, UnknownRole};
pub use rules::{MonitoringRule, RecordingRule, RuleId};
pub use window::{join_window, warning_instants};
