//! Local wall-clock time in a jurisdiction's zone: converting to UTC across
//! daylight-saving changes, local calendar weeks, and readable local times.

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, SecondsFormat,
    TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;

/// A local time that does not name exactly one instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalTimeError {
    /// The local time falls in a spring-forward gap.
    #[error(
        "{0} does not exist in {1}: the clocks skip it (daylight saving time starts); pick a time outside the gap"
    )]
    Nonexistent(NaiveDateTime, String),
    /// The local time falls in a fall-back overlap.
    #[error(
        "{0} happens twice in {1} (daylight saving time ends); give the time with its UTC offset"
    )]
    Ambiguous(NaiveDateTime, String),
}

/// The one instant at which the clocks in `tz` show `local`.
///
/// Errors when the clocks skip `local` (spring forward) or show it twice (fall back).
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> Result<DateTime<Utc>, LocalTimeError> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(..) => {
            Err(LocalTimeError::Ambiguous(local, tz.name().to_owned()))
        }
        chrono::LocalResult::None => Err(LocalTimeError::Nonexistent(local, tz.name().to_owned())),
    }
}

/// The first instant at which the clocks in `tz` show `local` or, if the clocks
/// skip it, the instant they jump past it (the end of the gap).
///
/// Gaps are searched minute by minute for up to a day; real zone transitions
/// fall on whole minutes. Should no local time in that day exist, `local` is
/// read as UTC.
pub(crate) fn earliest_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..=24 * 60 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        match probe.checked_add_signed(TimeDelta::minutes(1)) {
            Some(next) => probe = next,
            None => break,
        }
    }
    Utc.from_utc_datetime(&local)
}

/// The last instant at which the clocks in `tz` show `local` or, if the clocks
/// skip it, the instant they jump past it.
pub(crate) fn latest_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local).latest() {
        Some(t) => t.with_timezone(&Utc),
        None => earliest_at_or_after(tz, local),
    }
}

/// The instant a local calendar day begins (its first local 00:00, or the end
/// of a gap that swallows midnight).
pub(crate) fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    earliest_at_or_after(tz, date.and_time(NaiveTime::MIN))
}

/// The local calendar week (Monday 00:00 local to next Monday 00:00 local) containing `at`, as UTC instants. 167, 168 or 169 hours long across DST.
///
/// The start is inclusive and the end exclusive; the end of one week is the
/// start of the next. At the very ends of the representable calendar, where
/// the week cannot be computed, `(at, at)` is returned.
pub fn local_week(tz: Tz, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let Some(local) = local_naive(tz, at) else {
        return (at, at);
    };
    let date = local.date();
    let back = Days::new(u64::from(date.weekday().num_days_from_monday()));
    let Some(monday) = date.checked_sub_days(back) else {
        return (at, at);
    };
    let Some(next_monday) = monday.checked_add_days(Days::new(7)) else {
        return (at, at);
    };
    (start_of_day(tz, monday), start_of_day(tz, next_monday))
}

/// The wall-clock time in `tz` at `at`, or `None` at the very ends of the
/// calendar where it cannot be represented. Unlike
/// `DateTime::with_timezone(..).naive_local()`, this never panics.
pub(crate) fn local_naive(tz: Tz, at: DateTime<Utc>) -> Option<NaiveDateTime> {
    let offset = tz.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc().checked_add_offset(offset)
}

/// `at` as a short local time for messages, e.g. "Tue 25 Nov 14:00".
pub(crate) fn short_local(tz: Tz, at: DateTime<Utc>) -> String {
    match local_naive(tz, at) {
        Some(local) => local.format("%a %-d %b %H:%M").to_string(),
        None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// `at`'s local date for messages, e.g. "Mon 24 Nov".
pub(crate) fn short_local_date(tz: Tz, at: DateTime<Utc>) -> String {
    match local_naive(tz, at) {
        Some(local) => local.format("%a %-d %b").to_string(),
        None => at.format("%Y-%m-%d UTC").to_string(),
    }
}

/// `at` in `tz` as RFC 3339 with its offset, e.g. "2026-07-01T14:00:00+02:00";
/// in UTC at the very ends of the calendar.
pub(crate) fn rfc3339_local(tz: Tz, at: DateTime<Utc>) -> String {
    match local_naive(tz, at) {
        Some(_) => at
            .with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        None => at.to_rfc3339_opts(SecondsFormat::Secs, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        naive(s).and_utc()
    }

    #[test]
    fn paris_spring_gap_is_nonexistent() {
        let err = local_to_utc(chrono_tz::Europe::Paris, naive("2026-03-29 02:30")).unwrap_err();
        assert_eq!(
            err,
            LocalTimeError::Nonexistent(naive("2026-03-29 02:30"), "Europe/Paris".into())
        );
        let msg = err.to_string();
        assert!(msg.contains("does not exist in Europe/Paris"), "{msg}");
        assert!(msg.contains("2026-03-29 02:30"), "{msg}");
    }

    #[test]
    fn paris_autumn_overlap_is_ambiguous() {
        let err = local_to_utc(chrono_tz::Europe::Paris, naive("2026-10-25 02:30")).unwrap_err();
        assert_eq!(
            err,
            LocalTimeError::Ambiguous(naive("2026-10-25 02:30"), "Europe/Paris".into())
        );
        assert!(err.to_string().contains("happens twice in Europe/Paris"));
    }

    #[test]
    fn ordinary_local_time_converts() {
        let t = local_to_utc(chrono_tz::Europe::Paris, naive("2026-07-01 14:00")).unwrap();
        assert_eq!(t, utc("2026-07-01 12:00"));
        let t = local_to_utc(chrono_tz::Europe::Paris, naive("2026-01-05 09:00")).unwrap();
        assert_eq!(t, utc("2026-01-05 08:00"));
    }

    #[test]
    fn week_of_spring_change_is_167_hours() {
        let (start, end) = local_week(chrono_tz::Europe::Paris, utc("2026-03-25 12:00"));
        assert_eq!(start, utc("2026-03-22 23:00"));
        assert_eq!(end, utc("2026-03-29 22:00"));
        assert_eq!((end - start).num_hours(), 167);
    }

    #[test]
    fn week_of_autumn_change_is_169_hours() {
        let (start, end) = local_week(chrono_tz::Europe::Paris, utc("2026-10-25 12:00"));
        assert_eq!(start, utc("2026-10-18 22:00"));
        assert_eq!(end, utc("2026-10-25 23:00"));
        assert_eq!((end - start).num_hours(), 169);
    }

    #[test]
    fn week_boundaries_are_local_midnight() {
        // Sunday 23:30 UTC is already Monday 00:30 in Paris (winter).
        let (start, _) = local_week(chrono_tz::Europe::Paris, utc("2026-01-11 23:30"));
        assert_eq!(start, utc("2026-01-11 23:00"));
        // Sunday 22:59 UTC is still Sunday 23:59 in Paris.
        let (start, end) = local_week(chrono_tz::Europe::Paris, utc("2026-01-11 22:59"));
        assert_eq!(start, utc("2026-01-04 23:00"));
        assert_eq!(end, utc("2026-01-11 23:00"));
    }

    #[test]
    fn gap_at_midnight_starts_the_day_after_the_gap() {
        // Chile moved clocks from 00:00 to 01:00 on Sunday 2022-09-11.
        let day = NaiveDate::from_ymd_opt(2022, 9, 11).unwrap();
        let start = start_of_day(chrono_tz::America::Santiago, day);
        assert_eq!(start, utc("2022-09-11 04:00"));
    }

    #[test]
    fn short_formats() {
        let t = utc("2025-11-25 13:00");
        assert_eq!(short_local(chrono_tz::Europe::Paris, t), "Tue 25 Nov 14:00");
        assert_eq!(short_local_date(chrono_tz::Europe::Paris, t), "Tue 25 Nov");
    }
}
