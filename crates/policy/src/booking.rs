//! Whether a visit may be booked: the jurisdiction's visit rules applied to a
//! request, with every reason it is refused.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::jurisdiction::{Jurisdiction, VisitingHours};
use crate::kinds::SessionKind;
use crate::local_time::{
    earliest_at_or_after, latest_at_or_after, local_naive, local_week, short_local,
    short_local_date,
};
use crate::rules::RuleId;

/// An existing booking, as a half-open interval `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedInterval {
    /// Its session kind.
    pub kind: SessionKind,
    /// Scheduled start.
    pub start: DateTime<Utc>,
    /// Scheduled end (exclusive).
    pub end: DateTime<Utc>,
    /// It has taken place (ended, at its time or earlier): it holds no time
    /// any more, but a social visit still counts in its week's quota.
    pub over: bool,
    /// A replacement for a visit whose ending was overturned on review:
    /// never counted in the weekly quota.
    pub replacement: bool,
}

impl BookedInterval {
    /// A booking still to come or under way, not a replacement.
    pub fn upcoming(kind: SessionKind, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            kind,
            start,
            end,
            over: false,
            replacement: false,
        }
    }
}

/// What signaling knows about one visitor on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorCheck {
    /// The name to show in messages.
    pub name: String,
    /// On the detainee's approved contact list.
    pub approved: bool,
    /// Counsel whose bar number has been verified.
    pub verified_counsel: bool,
}

/// A request to book a visit `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    /// Must be a visit kind.
    pub kind: SessionKind,
    /// Requested start.
    pub start: DateTime<Utc>,
    /// Requested end (exclusive).
    pub end: DateTime<Utc>,
    /// Everyone who will join besides the detainee.
    pub visitors: Vec<VisitorCheck>,
}

/// The other bookings a request must fit around.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BookingContext {
    /// The detainee's other bookings (any kind) that are still to come,
    /// under way, or over (ended) in the week of the request.
    pub detainee_bookings: Vec<BookedInterval>,
    /// Bookings on the same kiosk/tablet.
    pub device_bookings: Vec<BookedInterval>,
    /// The request uses a replacement visit granted on review: it does not
    /// count against the weekly quota.
    pub replacement: bool,
}

/// Why a booking is refused, for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// Hearings and consultations are scheduled by the court, not booked.
    NotAVisit,
    /// The end is not after the start.
    EndBeforeStart,
    /// Shorter than `min_length_minutes`.
    TooShort,
    /// Longer than `max_length_minutes`.
    TooLong,
    /// Less than `booking_lead_hours` ahead.
    LeadTime,
    /// Starts before now.
    InThePast,
    /// Not entirely within one local day's visiting hours.
    OutsideVisitingHours,
    /// The detainee's social visits that week already reach the quota.
    WeeklyQuota,
    /// More than `max_visitors`.
    TooManyVisitors,
    /// Nobody to visit.
    NoVisitors,
    /// A visitor is not on the approved contact list.
    NotApprovedContact,
    /// A legal visitor's bar number is not verified.
    CounselNotVerified,
    /// Overlaps another booking of the detainee.
    DetaineeDoubleBooked,
    /// Overlaps another booking on the device.
    DeviceDoubleBooked,
}

impl RefusalCode {
    /// Every code, in declaration order.
    pub const ALL: [RefusalCode; 14] = [
        RefusalCode::NotAVisit,
        RefusalCode::EndBeforeStart,
        RefusalCode::TooShort,
        RefusalCode::TooLong,
        RefusalCode::LeadTime,
        RefusalCode::InThePast,
        RefusalCode::OutsideVisitingHours,
        RefusalCode::WeeklyQuota,
        RefusalCode::TooManyVisitors,
        RefusalCode::NoVisitors,
        RefusalCode::NotApprovedContact,
        RefusalCode::CounselNotVerified,
        RefusalCode::DetaineeDoubleBooked,
        RefusalCode::DeviceDoubleBooked,
    ];

    /// The code as it appears on the wire, e.g. `weekly_quota`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::NotAVisit => "not_a_visit",
            RefusalCode::EndBeforeStart => "end_before_start",
            RefusalCode::TooShort => "too_short",
            RefusalCode::TooLong => "too_long",
            RefusalCode::LeadTime => "lead_time",
            RefusalCode::InThePast => "in_the_past",
            RefusalCode::OutsideVisitingHours => "outside_visiting_hours",
            RefusalCode::WeeklyQuota => "weekly_quota",
            RefusalCode::TooManyVisitors => "too_many_visitors",
            RefusalCode::NoVisitors => "no_visitors",
            RefusalCode::NotApprovedContact => "not_approved_contact",
            RefusalCode::CounselNotVerified => "counsel_not_verified",
            RefusalCode::DetaineeDoubleBooked => "detainee_double_booked",
            RefusalCode::DeviceDoubleBooked => "device_double_booked",
        }
    }
}

/// One reason a booking is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// For programs.
    pub code: RefusalCode,
    /// The rule that refused it.
    pub rule: RuleId,
    /// Plain words a family member can act on, with local times.
    pub message: String,
}

/// Pure. Returns every refusal (not just the first). Messages are plain words a family member can act on, with concrete numbers and LOCAL times in the jurisdiction's zone.
///
/// Rules, each with its [`RefusalCode`]:
/// - the kind must be a visit; hearings are scheduled, not booked (`NotAVisit`,
///   returned alone since no visit rule applies);
/// - `end > start` (`EndBeforeStart`; the length, hours and overlap checks are
///   then skipped);
/// - the length lies within `[min_length_minutes, max_length_minutes]`;
/// - `start >= now + booking_lead_hours` (`LeadTime`), or `InThePast` when `start < now`,
///   where `InThePast` (and `LeadTime` with no lead) allows a start up to
///   `booking_now_leeway_seconds` before `now` (a start "right now" reaches the
///   server a moment after it was picked);
/// - the whole visit lies within the visiting hours of the local day it starts
///   on; across a daylight-saving change the hours are read strictly (the
///   latest instant showing the opening time, the earliest showing the closing
///   time), so the local clock reads within the hours for the whole visit;
/// - social visits only, unless the request is a replacement granted on
///   review: fewer than `weekly_quota` of the detainee's social visits start
///   in the local week of `start`, counting those already over and not
///   counting replacements;
/// - at least one and at most `max_visitors` visitors; every visitor approved;
///   for legal visits every visitor is verified counsel;
/// - no overlap (half-open intervals) with the detainee's or the device's bookings.
pub fn check_booking(
    j: &Jurisdiction,
    req: &BookingRequest,
    ctx: &BookingContext,
    now: DateTime<Utc>,
) -> Result<(), Vec<Refusal>> {
    let mut out = Vec::new();
    if !req.kind.is_visit() {
        out.push(Refusal {
            code: RefusalCode::NotAVisit,
            rule: RuleId::core("only-visits-are-booked"),
            message: format!(
                "A {} is scheduled by the court, not booked; only social and legal visits can be booked.",
                req.kind.label()
            ),
        });
        return Err(out);
    }
    let times_valid = req.end > req.start;
    if times_valid {
        check_length(j, req, &mut out);
    } else {
        out.push(Refusal {
            code: RefusalCode::EndBeforeStart,
            rule: RuleId::core("end-after-start"),
            message: format!(
                "The visit must end after it starts; it is set to start {} and end {} ({}).",
                short_local(j.time_zone, req.start),
                short_local(j.time_zone, req.end),
                j.time_zone.name()
            ),
        });
    }
    check_lead(j, req, now, &mut out);
    if times_valid {
        check_hours(j, req, &mut out);
    }
    if req.kind == SessionKind::SocialVisit && !ctx.replacement {
        check_quota(j, req, ctx, &mut out);
    }
    check_visitors(j, req, &mut out);
    if times_valid {
        check_overlaps(j, req, ctx, &mut out);
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

fn visit_rule(j: &Jurisdiction, key: &str) -> RuleId {
    RuleId::of(&j.id, &format!("visits/{key}"))
}

fn check_length(j: &Jurisdiction, req: &BookingRequest, out: &mut Vec<Refusal>) {
    let length = req.end - req.start;
    let min = j.visits.min_length_minutes;
    let max = j.visits.max_length_minutes;
    let minutes = length.num_minutes();
    if length < TimeDelta::minutes(i64::from(min)) {
        out.push(Refusal {
            code: RefusalCode::TooShort,
            rule: visit_rule(j, "min_length_minutes"),
            message: format!(
                "Visits must last at least {min} minutes; this one lasts {minutes} minutes."
            ),
        });
    } else if length > TimeDelta::minutes(i64::from(max)) {
        out.push(Refusal {
            code: RefusalCode::TooLong,
            rule: visit_rule(j, "max_length_minutes"),
            message: format!(
                "Visits can last at most {max} minutes; this one lasts {minutes} minutes. Book a shorter visit."
            ),
        });
    }
}

fn check_lead(j: &Jurisdiction, req: &BookingRequest, now: DateTime<Utc>, out: &mut Vec<Refusal>) {
    let tz = j.time_zone;
    // A start "right now" was picked a moment ago: it counts as now.
    let just_now = now
        .checked_sub_signed(TimeDelta::seconds(i64::from(
            j.visits.booking_now_leeway_seconds,
        )))
        .unwrap_or(now);
    if req.start < just_now {
        out.push(Refusal {
            code: RefusalCode::InThePast,
            rule: RuleId::core("no-bookings-in-the-past"),
            message: format!(
                "This visit would start at {} ({}), which has already passed; pick a later time.",
                short_local(tz, req.start),
                tz.name()
            ),
        });
        return;
    }
    let hours = j.visits.booking_lead_hours;
    let earliest = if hours == 0 {
        just_now
    } else {
        now.checked_add_signed(TimeDelta::hours(i64::from(hours)))
            .unwrap_or(now)
    };
    if req.start < earliest {
        out.push(Refusal {
            code: RefusalCode::LeadTime,
            rule: visit_rule(j, "booking_lead_hours"),
            message: format!(
                "Visits must be booked at least {hours} hours ahead; the earliest you can book now is {} ({}).",
                short_local(tz, ceil_minute(earliest)),
                tz.name()
            ),
        });
    }
}

/// `t` rounded up to a whole minute, so a time shown to the minute is allowed.
fn ceil_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let into_minute = TimeDelta::seconds(t.timestamp().rem_euclid(60))
        + TimeDelta::nanoseconds(i64::from(t.timestamp_subsec_nanos()));
    if into_minute.is_zero() {
        t
    } else {
        t.checked_add_signed(TimeDelta::minutes(1) - into_minute)
            .unwrap_or(t)
    }
}

/// The instants daily visiting hours `opens`–`closes` open and close on the
/// local day containing `at`.
fn hours_of_day(
    tz: Tz,
    (opens, closes): (NaiveTime, NaiveTime),
    at: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let Some(local) = local_naive(tz, at) else {
        return (at, at);
    };
    let date = local.date();
    (
        latest_at_or_after(tz, date.and_time(opens)),
        earliest_at_or_after(tz, date.and_time(closes)),
    )
}

fn check_hours(j: &Jurisdiction, req: &BookingRequest, out: &mut Vec<Refusal>) {
    let VisitingHours::Daily { opens, closes } = j.visits.visiting_hours else {
        return;
    };
    let tz = j.time_zone;
    let (open_at, close_at) = hours_of_day(tz, (opens, closes), req.start);
    if req.start >= open_at && req.end <= close_at {
        return;
    }
    out.push(Refusal {
        code: RefusalCode::OutsideVisitingHours,
        rule: visit_rule(j, "visiting_hours"),
        message: format!(
            "Visits take place between {} and {} ({}) on the same day; this one would run from {} to {}.",
            opens.format("%H:%M"),
            closes.format("%H:%M"),
            tz.name(),
            short_local(tz, req.start),
            short_local(tz, req.end)
        ),
    });
}

/// "1st", "2nd", "3rd", "4th", "11th", "21st", ...
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn check_quota(
    j: &Jurisdiction,
    req: &BookingRequest,
    ctx: &BookingContext,
    out: &mut Vec<Refusal>,
) {
    let (week_start, week_end) = local_week(j.time_zone, req.start);
    let already = ctx
        .detainee_bookings
        .iter()
        .filter(|b| {
            b.kind == SessionKind::SocialVisit
                && !b.replacement
                && b.start >= week_start
                && b.start < week_end
        })
        .count();
    let quota = j.visits.weekly_quota;
    if already >= quota as usize {
        out.push(Refusal {
            code: RefusalCode::WeeklyQuota,
            rule: visit_rule(j, "weekly_quota"),
            message: format!(
                "This visit would be the {} social visit in the week of {}; the limit is {quota} per week. Pick a day in another week.",
                ordinal(already + 1),
                short_local_date(j.time_zone, week_start)
            ),
        });
    }
}

fn check_visitors(j: &Jurisdiction, req: &BookingRequest, out: &mut Vec<Refusal>) {
    let max = j.visits.max_visitors;
    let who = if req.kind == SessionKind::LegalVisit {
        "counsel"
    } else {
        "visitors"
    };
    if req.visitors.is_empty() {
        out.push(Refusal {
            code: RefusalCode::NoVisitors,
            rule: RuleId::core("visit-needs-visitors"),
            message: format!("Add at least one person to the visit; no {who} are listed."),
        });
    } else if req.visitors.len() > max as usize {
        out.push(Refusal {
            code: RefusalCode::TooManyVisitors,
            rule: visit_rule(j, "max_visitors"),
            message: format!(
                "This visit lists {} {who}; at most {max} may join one visit.",
                req.visitors.len()
            ),
        });
    }
    for v in req.visitors.iter().filter(|v| !v.approved) {
        out.push(Refusal {
            code: RefusalCode::NotApprovedContact,
            rule: RuleId::core("approved-contacts-only"),
            message: format!(
                "{} is not on the detainee's approved contact list; ask the detainee to add them.",
                v.name
            ),
        });
    }
    if req.kind == SessionKind::LegalVisit {
        for v in req.visitors.iter().filter(|v| !v.verified_counsel) {
            out.push(Refusal {
                code: RefusalCode::CounselNotVerified,
                rule: RuleId::core("legal-visit-verified-counsel"),
                message: format!(
                    "Legal visits need counsel with a verified bar number: {} is not verified.",
                    v.name
                ),
            });
        }
    }
}

/// The end of an interval: just "HH:MM" when it is on the start's local day.
fn end_label(tz: chrono_tz::Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    match (local_naive(tz, start), local_naive(tz, end)) {
        (Some(s), Some(e)) if s.date() == e.date() => e.format("%H:%M").to_string(),
        _ => short_local(tz, end),
    }
}

fn overlaps(req: &BookingRequest, b: &BookedInterval) -> bool {
    !b.over && req.start < b.end && b.start < req.end
}

fn check_overlaps(
    j: &Jurisdiction,
    req: &BookingRequest,
    ctx: &BookingContext,
    out: &mut Vec<Refusal>,
) {
    let tz = j.time_zone;
    let span = |b: &BookedInterval| {
        format!(
            "{} from {} to {} ({})",
            b.kind.label(),
            short_local(tz, b.start),
            end_label(tz, b.start, b.end),
            tz.name()
        )
    };
    for b in ctx.detainee_bookings.iter().filter(|b| overlaps(req, b)) {
        out.push(Refusal {
            code: RefusalCode::DetaineeDoubleBooked,
            rule: RuleId::core("detainee-one-session-at-a-time"),
            message: format!(
                "The detainee already has a {} that overlaps this time; pick a time outside it.",
                span(b)
            ),
        });
    }
    for b in ctx.device_bookings.iter().filter(|b| overlaps(req, b)) {
        out.push(Refusal {
            code: RefusalCode::DeviceDoubleBooked,
            rule: RuleId::core("device-one-session-at-a-time"),
            message: format!(
                "The visit tablet or kiosk is already booked for a {}; pick another time.",
                span(b)
            ),
        });
    }
}
