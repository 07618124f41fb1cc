//! Every booking rule, on both its accept and refuse side.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{base, utc};
use parley_policy::{
    BookedInterval, BookingContext, BookingRequest, Jurisdiction, RefusalCode, SessionKind,
    VisitingHours, VisitorCheck, check_booking,
};

/// Monday 2026-03-02, 09:00 UTC = 10:00 in Paris.
const NOW: &str = "2026-03-02 09:00";

fn visitor(name: &str) -> VisitorCheck {
    VisitorCheck {
        name: name.into(),
        approved: true,
        verified_counsel: false,
    }
}

fn counsel(name: &str) -> VisitorCheck {
    VisitorCheck {
        name: name.into(),
        approved: true,
        verified_counsel: true,
    }
}

/// A social visit Wednesday 2026-03-04 14:00–14:30 Paris time, two visitors.
fn good() -> BookingRequest {
    BookingRequest {
        kind: SessionKind::SocialVisit,
        start: utc("2026-03-04 13:00"),
        end: utc("2026-03-04 13:30"),
        visitors: vec![visitor("Maria Lopez"), visitor("Ana Lopez")],
    }
}

fn social(start: DateTime<Utc>) -> BookedInterval {
    BookedInterval::upcoming(
        SessionKind::SocialVisit,
        start,
        start + TimeDelta::minutes(30),
    )
}

fn codes(j: &Jurisdiction, req: &BookingRequest, ctx: &BookingContext) -> Vec<RefusalCode> {
    match check_booking(j, req, ctx, utc(NOW)) {
        Ok(()) => Vec::new(),
        Err(refusals) => {
            for r in &refusals {
                assert!(!r.message.is_empty());
                assert!(!r.rule.0.is_empty());
            }
            refusals.into_iter().map(|r| r.code).collect()
        }
    }
}

/// The refusal codes for `req` with nothing else booked.
fn codes_alone(j: &Jurisdiction, req: &BookingRequest) -> Vec<RefusalCode> {
    codes(j, req, &BookingContext::default())
}

/// The refusal `code` of `req` with nothing else booked.
fn refusal_alone(
    j: &Jurisdiction,
    req: &BookingRequest,
    code: RefusalCode,
) -> parley_policy::Refusal {
    refusal(j, req, &BookingContext::default(), code)
}

fn refusal(
    j: &Jurisdiction,
    req: &BookingRequest,
    ctx: &BookingContext,
    code: RefusalCode,
) -> parley_policy::Refusal {
    check_booking(j, req, ctx, utc(NOW))
        .unwrap_err()
        .into_iter()
        .find(|r| r.code == code)
        .unwrap_or_else(|| panic!("no {code:?}"))
}

#[test]
fn a_good_request_is_accepted() {
    assert_eq!(codes_alone(&base(), &good()), []);
}

#[test]
fn hearings_are_not_booked() {
    let j = base();
    for kind in [SessionKind::CourtHearing, SessionKind::Consultation] {
        let req = BookingRequest { kind, ..good() };
        assert_eq!(codes_alone(&j, &req), [RefusalCode::NotAVisit]);
    }
    let legal = BookingRequest {
        kind: SessionKind::LegalVisit,
        visitors: vec![counsel("J. Smith")],
        ..good()
    };
    assert_eq!(codes_alone(&j, &legal), []);
}

#[test]
fn end_must_follow_start() {
    let j = base();
    let req = BookingRequest {
        end: good().start,
        ..good()
    };
    assert_eq!(codes_alone(&j, &req), [RefusalCode::EndBeforeStart]);
    let req = BookingRequest {
        end: good().start - TimeDelta::minutes(5),
        ..good()
    };
    assert_eq!(codes_alone(&j, &req), [RefusalCode::EndBeforeStart]);
}

#[test]
fn length_limits() {
    let j = base();
    let at = |minutes: i64| BookingRequest {
        end: good().start + TimeDelta::minutes(minutes),
        ..good()
    };
    assert_eq!(codes_alone(&j, &at(15)), []);
    assert_eq!(codes_alone(&j, &at(60)), []);
    assert_eq!(codes_alone(&j, &at(14)), [RefusalCode::TooShort]);
    assert_eq!(codes_alone(&j, &at(61)), [RefusalCode::TooLong]);
    let r = refusal_alone(&j, &at(61), RefusalCode::TooLong);
    assert!(r.message.contains("at most 60 minutes"), "{}", r.message);
    assert!(r.message.contains("61 minutes"), "{}", r.message);
    assert_eq!(r.rule.0, "test-land/visits/max_length_minutes");
}

#[test]
fn lead_time() {
    let j = base();
    // Tuesday 2026-03-03 10:00 UTC = 11:00 Paris: exactly 25 h ahead, fine.
    let ok = BookingRequest {
        start: utc("2026-03-03 10:00"),
        end: utc("2026-03-03 10:30"),
        ..good()
    };
    assert_eq!(codes_alone(&j, &ok), []);
    let edge = BookingRequest {
        start: utc("2026-03-03 09:00"),
        end: utc("2026-03-03 09:30"),
        ..good()
    };
    assert_eq!(codes_alone(&j, &edge), []);
    let soon = BookingRequest {
        start: utc("2026-03-03 08:59"),
        end: utc("2026-03-03 09:30"),
        ..good()
    };
    assert_eq!(codes_alone(&j, &soon), [RefusalCode::LeadTime]);
    let r = refusal_alone(&j, &soon, RefusalCode::LeadTime);
    assert_eq!(
        r.message,
        "Visits must be booked at least 24 hours ahead; the earliest you can book now is Tue 3 Mar 10:00 (Europe/Paris)."
    );
}

#[test]
fn in_the_past() {
    let j = base();
    let req = BookingRequest {
        start: utc("2026-03-02 08:00"),
        end: utc("2026-03-02 08:30"),
        ..good()
    };
    let got = codes_alone(&j, &req);
    assert_eq!(got, [RefusalCode::InThePast]);
    let r = refusal_alone(&j, &req, RefusalCode::InThePast);
    assert!(
        r.message.contains("Mon 2 Mar 09:00 (Europe/Paris)"),
        "{}",
        r.message
    );
}

/// "Right now" is now give or take the jurisdiction's leeway: a start
/// picked a moment ago is accepted, one older than the leeway is not.
#[test]
fn a_start_right_now_is_accepted_within_the_leeway() {
    let mut j = base();
    j.visits.booking_lead_hours = 0;
    let now = utc("2026-03-02 09:00");
    let at = |start: DateTime<Utc>| BookingRequest {
        start,
        end: start + TimeDelta::minutes(30),
        ..good()
    };
    let ctx = BookingContext::default();
    assert_eq!(j.visits.booking_now_leeway_seconds, 60, "the default");
    for late in [0, 1, 59, 60] {
        let req = at(now - TimeDelta::seconds(late));
        assert!(
            check_booking(&j, &req, &ctx, now).is_ok(),
            "picked {late} s before it was sent"
        );
    }
    let req = at(now - TimeDelta::seconds(61));
    assert_eq!(
        check_booking(&j, &req, &ctx, now).unwrap_err()[0].code,
        RefusalCode::InThePast
    );
    j.visits.booking_now_leeway_seconds = 0;
    let req = at(now - TimeDelta::seconds(1));
    assert_eq!(
        check_booking(&j, &req, &ctx, now).unwrap_err()[0].code,
        RefusalCode::InThePast
    );
}

#[test]
fn visiting_hours() {
    let j = base();
    // Paris is UTC+1 in March before the 29th: hours 08:30–19:00 local = 07:30–18:00 UTC.
    let at = |s: &str, e: &str| BookingRequest {
        start: utc(s),
        end: utc(e),
        ..good()
    };
    let ctx = BookingContext::default();
    let outside: &[RefusalCode] = &[RefusalCode::OutsideVisitingHours];
    for (start, end, refused) in [
        ("2026-03-04 07:30", "2026-03-04 08:00", &[][..]),
        ("2026-03-04 17:30", "2026-03-04 18:00", &[]),
        ("2026-03-04 07:29", "2026-03-04 08:00", outside),
        ("2026-03-04 17:31", "2026-03-04 18:01", outside),
    ] {
        assert_eq!(
            codes(&j, &at(start, end), &ctx),
            refused,
            "{start} to {end}"
        );
    }
    let r = refusal(
        &j,
        &at("2026-03-04 17:31", "2026-03-04 18:01"),
        &ctx,
        RefusalCode::OutsideVisitingHours,
    );
    assert!(
        r.message.contains("between 08:30 and 19:00 (Europe/Paris)"),
        "{}",
        r.message
    );
    assert!(r.message.contains("Wed 4 Mar 18:31"), "{}", r.message);
    // After the spring change Paris is UTC+2: 07:30 UTC is 09:30 local, 17:30 UTC is 19:30.
    for (start, end, refused) in [
        ("2026-03-31 06:30", "2026-03-31 07:00", &[][..]),
        ("2026-03-31 16:30", "2026-03-31 17:00", &[]),
        ("2026-03-31 16:31", "2026-03-31 17:01", outside),
    ] {
        assert_eq!(
            codes(&j, &at(start, end), &ctx),
            refused,
            "{start} to {end}"
        );
    }
}

#[test]
fn a_visit_cannot_span_midnight() {
    let mut j = base();
    j.visits.visiting_hours = VisitingHours::Daily {
        opens: chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
        closes: chrono::NaiveTime::from_hms_opt(23, 59, 0).unwrap(),
    };
    // 23:45–00:15 Paris.
    let req = BookingRequest {
        start: utc("2026-03-04 22:45"),
        end: utc("2026-03-04 23:15"),
        ..good()
    };
    assert_eq!(codes_alone(&j, &req), [RefusalCode::OutsideVisitingHours]);
}

#[test]
fn around_the_clock_a_visit_may_span_midnight() {
    let mut j = base();
    j.visits.visiting_hours = VisitingHours::AroundTheClock;
    // 23:45–00:15 Paris, and 03:00–03:30 Paris.
    for (start, end) in [
        ("2026-03-04 22:45", "2026-03-04 23:15"),
        ("2026-03-05 02:00", "2026-03-05 02:30"),
    ] {
        let req = BookingRequest {
            start: utc(start),
            end: utc(end),
            ..good()
        };
        assert_eq!(codes_alone(&j, &req), [], "{start}");
    }
}

#[test]
fn weekly_quota_counts_social_visits_in_the_local_week() {
    let j = base();
    let week = [
        utc("2026-03-02 13:00"),
        utc("2026-03-03 13:00"),
        utc("2026-03-05 13:00"),
    ];
    let full = BookingContext {
        detainee_bookings: week.iter().map(|&t| social(t)).collect(),
        ..Default::default()
    };
    assert_eq!(codes(&j, &good(), &full), [RefusalCode::WeeklyQuota]);
    let r = refusal(&j, &good(), &full, RefusalCode::WeeklyQuota);
    assert_eq!(
        r.message,
        "This visit would be the 4th social visit in the week of Mon 2 Mar; the limit is 3 per week. Pick a day in another week."
    );

    // Two social visits leave room for a third.
    let two = BookingContext {
        detainee_bookings: full.detainee_bookings[..2].to_vec(),
        ..Default::default()
    };
    assert_eq!(codes(&j, &good(), &two), []);

    // Legal visits never count.
    let mut with_legal = two.clone();
    with_legal.detainee_bookings.push(BookedInterval::upcoming(
        SessionKind::LegalVisit,
        utc("2026-03-06 09:00"),
        utc("2026-03-06 10:00"),
    ));
    assert_eq!(codes(&j, &good(), &with_legal), []);

    // Sunday 2026-03-01 23:30 Paris (22:30 UTC) is the previous week; Monday 00:30 Paris (23:30 UTC Sunday) is this week.
    let mut edges = two.clone();
    edges
        .detainee_bookings
        .push(social(utc("2026-03-01 22:30")));
    assert_eq!(codes(&j, &good(), &edges), []);
    edges
        .detainee_bookings
        .push(social(utc("2026-03-01 23:30")));
    assert_eq!(codes(&j, &good(), &edges), [RefusalCode::WeeklyQuota]);

    // Legal visits are not subject to the quota.
    let legal = BookingRequest {
        kind: SessionKind::LegalVisit,
        visitors: vec![counsel("J. Smith")],
        ..good()
    };
    assert_eq!(codes(&j, &legal, &full), []);
}

#[test]
fn visitor_count() {
    let j = base();
    let none = BookingRequest {
        visitors: vec![],
        ..good()
    };
    assert_eq!(codes_alone(&j, &none), [RefusalCode::NoVisitors]);
    let three = BookingRequest {
        visitors: vec![visitor("a"), visitor("b"), visitor("c")],
        ..good()
    };
    assert_eq!(codes_alone(&j, &three), []);
    let four = BookingRequest {
        visitors: vec![visitor("a"), visitor("b"), visitor("c"), visitor("d")],
        ..good()
    };
    assert_eq!(codes_alone(&j, &four), [RefusalCode::TooManyVisitors]);
    let r = refusal_alone(&j, &four, RefusalCode::TooManyVisitors);
    assert!(
        r.message.contains("4 visitors") && r.message.contains("at most 3"),
        "{}",
        r.message
    );
}

#[test]
fn every_visitor_must_be_approved() {
    let j = base();
    let mut req = good();
    req.visitors[0].approved = false;
    req.visitors[1].approved = false;
    assert_eq!(
        codes_alone(&j, &req),
        [
            RefusalCode::NotApprovedContact,
            RefusalCode::NotApprovedContact
        ]
    );
    let r = refusal_alone(&j, &req, RefusalCode::NotApprovedContact);
    assert_eq!(
        r.message,
        "Maria Lopez is not on the detainee's approved contact list; ask the detainee to add them."
    );
}

#[test]
fn legal_visits_need_verified_counsel() {
    let j = base();
    let req = BookingRequest {
        kind: SessionKind::LegalVisit,
        visitors: vec![counsel("A. Jones"), visitor("J. Smith")],
        ..good()
    };
    assert_eq!(codes_alone(&j, &req), [RefusalCode::CounselNotVerified]);
    let r = refusal_alone(&j, &req, RefusalCode::CounselNotVerified);
    assert_eq!(
        r.message,
        "Legal visits need counsel with a verified bar number: J. Smith is not verified."
    );
    // Social visitors need no bar number.
    assert_eq!(codes_alone(&j, &good()), []);
}

#[test]
fn visits_over_count_in_the_quota_replacements_do_not() {
    let j = base();
    let week = [
        utc("2026-03-02 13:00"),
        utc("2026-03-03 13:00"),
        utc("2026-03-05 13:00"),
    ];
    // Three visits that took place (one of them ended early) fill the week.
    let over = BookingContext {
        detainee_bookings: week
            .iter()
            .map(|&t| BookedInterval {
                over: true,
                ..social(t)
            })
            .collect(),
        ..Default::default()
    };
    assert_eq!(codes(&j, &good(), &over), [RefusalCode::WeeklyQuota]);
    // One of them a replacement granted on review: room for another.
    let mut with_replacement = over.clone();
    with_replacement.detainee_bookings[2].replacement = true;
    assert_eq!(codes(&j, &good(), &with_replacement), []);
    // The request itself a replacement: the quota is not asked.
    let replacing = BookingContext {
        replacement: true,
        ..over.clone()
    };
    assert_eq!(codes(&j, &good(), &replacing), []);
    // A visit that is over holds no time: its slot can be booked again.
    let req = good();
    let ended_there = BookingContext {
        detainee_bookings: vec![BookedInterval {
            over: true,
            ..BookedInterval::upcoming(SessionKind::LegalVisit, req.start, req.end)
        }],
        device_bookings: vec![BookedInterval {
            over: true,
            ..BookedInterval::upcoming(SessionKind::LegalVisit, req.start, req.end)
        }],
        ..Default::default()
    };
    assert_eq!(codes(&j, &req, &ended_there), []);
}

#[test]
fn detainee_double_booking() {
    let j = base();
    let req = good();
    let touching = BookingContext {
        detainee_bookings: vec![
            BookedInterval::upcoming(
                SessionKind::LegalVisit,
                req.end,
                req.end + TimeDelta::minutes(30),
            ),
            BookedInterval::upcoming(
                SessionKind::CourtHearing,
                req.start - TimeDelta::hours(1),
                req.start,
            ),
        ],
        ..Default::default()
    };
    assert_eq!(codes(&j, &req, &touching), []);
    let clash = BookingContext {
        detainee_bookings: vec![BookedInterval::upcoming(
            SessionKind::CourtHearing,
            req.start + TimeDelta::minutes(29),
            req.end + TimeDelta::hours(1),
        )],
        ..Default::default()
    };
    assert_eq!(codes(&j, &req, &clash), [RefusalCode::DetaineeDoubleBooked]);
    let r = refusal(&j, &req, &clash, RefusalCode::DetaineeDoubleBooked);
    assert!(
        r.message
            .contains("court hearing from Wed 4 Mar 14:29 to 15:30 (Europe/Paris)"),
        "{}",
        r.message
    );
}

#[test]
fn device_double_booking() {
    let j = base();
    let req = good();
    let free = BookingContext {
        device_bookings: vec![social(req.end)],
        ..Default::default()
    };
    assert_eq!(codes(&j, &req, &free), []);
    let busy = BookingContext {
        device_bookings: vec![social(req.start - TimeDelta::minutes(10))],
        ..Default::default()
    };
    assert_eq!(codes(&j, &req, &busy), [RefusalCode::DeviceDoubleBooked]);
}

#[test]
fn every_refusal_is_reported_at_once() {
    let j = base();
    let req = BookingRequest {
        kind: SessionKind::SocialVisit,
        start: utc("2026-03-02 20:00"),
        end: utc("2026-03-02 22:00"),
        visitors: vec![VisitorCheck {
            name: "X".into(),
            approved: false,
            verified_counsel: false,
        }],
    };
    let got = codes_alone(&j, &req);
    assert_eq!(
        got,
        [
            RefusalCode::TooLong,
            RefusalCode::LeadTime,
            RefusalCode::OutsideVisitingHours,
            RefusalCode::NotApprovedContact,
        ]
    );
}

#[test]
fn refusals_serialize_with_snake_case_codes() {
    let j = base();
    let req = BookingRequest {
        visitors: vec![],
        ..good()
    };
    let refusals = check_booking(&j, &req, &BookingContext::default(), utc(NOW)).unwrap_err();
    let v = serde_json::to_value(&refusals).unwrap();
    assert_eq!(v[0]["code"], "no_visitors");
    assert_eq!(v[0]["rule"], "core/visit-needs-visitors");
}

#[test]
fn refusal_codes_match_their_wire_names() {
    for code in parley_policy::RefusalCode::ALL {
        let wire = serde_json::to_value(code).expect("serializes");
        assert_eq!(wire.as_str(), Some(code.as_str()));
    }
}
