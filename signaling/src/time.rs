//! Conversions between stored Unix seconds and UTC instants.

use chrono::{DateTime, Utc};

/// Unix seconds to an instant; out-of-range values (never written by Parley)
/// map to the epoch rather than panicking.
pub fn from_unix(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}
