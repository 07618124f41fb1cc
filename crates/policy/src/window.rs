//! When participants may join a session and when end-of-session warnings fire.

use chrono::{DateTime, TimeDelta, Utc};

use crate::jurisdiction::Jurisdiction;

/// When participants may join: [start - early_join_minutes, end). Hearings and visits alike.
///
/// The window opens `visits.early_join_minutes` before the scheduled start
/// (never later than `start`) and closes exactly at the scheduled end; a late
/// joiner does not extend it.
pub fn join_window(
    j: &Jurisdiction,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let early = TimeDelta::minutes(i64::from(j.visits.early_join_minutes));
    let opens = start.checked_sub_signed(early).unwrap_or(start);
    (opens, end)
}

/// Instants at which warnings fire: end - m for each m in warning_minutes, only those after `start`, ascending in time.
///
/// Each item is `(minutes before the end, instant)`. Every instant lies
/// strictly between `start` and `end`; a warning longer than the session is
/// dropped (a 3-minute session gets only its 1-minute warning).
pub fn warning_instants(
    j: &Jurisdiction,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(u32, DateTime<Utc>)> {
    let mut out: Vec<(u32, DateTime<Utc>)> = j
        .warning_minutes
        .iter()
        .filter_map(|&m| {
            let at = end.checked_sub_signed(TimeDelta::minutes(i64::from(m)))?;
            (at > start && at < end).then_some((m, at))
        })
        .collect();
    out.sort_by_key(|&(_, at)| at);
    out.dedup_by_key(|&mut (_, at)| at);
    out
}
