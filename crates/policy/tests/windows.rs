//! Join windows and warning instants.

mod common;

use common::{base, utc};
use parley_policy::{join_window, warning_instants};

#[test]
fn join_window_opens_early_and_closes_at_end() {
    let j = base();
    let (open, close) = join_window(&j, utc("2026-03-02 10:00"), utc("2026-03-02 10:30"));
    assert_eq!(open, utc("2026-03-02 09:50"));
    assert_eq!(close, utc("2026-03-02 10:30"));
}

#[test]
fn warnings_fire_before_end_ascending() {
    let j = base();
    let w = warning_instants(&j, utc("2026-03-02 10:00"), utc("2026-03-02 10:30"));
    assert_eq!(
        w,
        [(5, utc("2026-03-02 10:25")), (1, utc("2026-03-02 10:29"))]
    );
}

#[test]
fn warnings_before_start_are_dropped() {
    let j = base();
    let w = warning_instants(&j, utc("2026-03-02 10:00"), utc("2026-03-02 10:03"));
    assert_eq!(w, [(1, utc("2026-03-02 10:02"))]);
    let w = warning_instants(&j, utc("2026-03-02 10:00"), utc("2026-03-02 10:05"));
    assert_eq!(w, [(1, utc("2026-03-02 10:04"))]);
}

#[test]
fn extreme_instants_do_not_panic() {
    use chrono::{DateTime, Utc};
    use parley_policy::{
        BookingContext, BookingRequest, SessionKind, VisitorCheck, check_booking, decide,
        local_week,
    };
    let j = base();
    let extremes = [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC];
    for &a in &extremes {
        for &b in &extremes {
            let _ = join_window(&j, a, b);
            let _ = warning_instants(&j, a, b);
            let _ = local_week(j.time_zone, a);
            let _ = decide(&j, SessionKind::SocialVisit, &[], a);
            let req = BookingRequest {
                kind: SessionKind::SocialVisit,
                start: a,
                end: b,
                visitors: vec![VisitorCheck {
                    name: "V".into(),
                    approved: true,
                    verified_counsel: false,
                }],
            };
            let _ = check_booking(&j, &req, &BookingContext::default(), a);
            let _ = check_booking(&j, &req, &BookingContext::default(), b);
        }
    }
}
