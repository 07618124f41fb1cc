//! Every decision path: required, consent with and without full consent,
//! forbidden, monitoring, privileged kinds, and the explanation.

mod common;

use common::{base, utc};
use parley_policy::{
    Decision, Jurisdiction, MonitoringRule, Participant, RecordingDecision, RecordingRule, Role,
    RuleId, SessionKind, decide,
};

fn p(role: Role, consented: bool) -> Participant {
    Participant {
        role,
        consented_to_recording: consented,
    }
}

fn ids(d: &Decision) -> Vec<&str> {
    d.rules.iter().map(RuleId::as_str).collect()
}

/// The decision for a session of `kind` with `people` on Saturday
/// 10 January 2026 at 10:00 UTC.
fn decide_on_10_january(j: &Jurisdiction, kind: SessionKind, people: &[Participant]) -> Decision {
    decide(j, kind, people, utc("2026-01-10 10:00"))
}

/// `d` neither records nor monitors (so announces nothing and keeps
/// nothing), by the rules `rule_ids`.
fn assert_neither_recorded_nor_monitored(d: &Decision, rule_ids: [&str; 3]) {
    assert_eq!(d.recording, RecordingDecision::DoNotRecord);
    assert!(!d.monitoring);
    assert!(d.announcements.is_empty());
    assert_eq!(d.retention_days, None);
    assert_eq!(ids(d), rule_ids);
}

#[test]
fn required_records_with_retention_and_announcements() {
    let j = base();
    let d = decide(
        &j,
        SessionKind::CourtHearing,
        &[p(Role::Judge, false)],
        utc("2026-07-01 12:00"),
    );
    assert_eq!(d.recording, RecordingDecision::Record);
    assert_eq!(d.retention_days, Some(3650));
    assert!(!d.monitoring);
    let langs: Vec<&str> = d
        .announcements
        .iter()
        .map(|a| a.language.as_str())
        .collect();
    assert_eq!(langs, ["fr", "en"]);
    assert_eq!(d.announcements[1].text, "This session may be recorded.");
    assert_eq!(d.warning_minutes, [5, 1]);
    assert_eq!(d.local_time, "2026-07-01T14:00:00+02:00");
    assert_eq!(d.jurisdiction, "test-land");
    assert_eq!(
        ids(&d),
        [
            "test-land/recording/court_hearing",
            "test-land/retention_days/court_hearing",
            "test-land/monitoring/court_hearing",
            "core/announce-before-media",
            "test-land/warning_minutes",
        ]
    );
    assert_eq!(d.rules.len(), d.reasons.len());
}

#[test]
fn consent_from_everyone_records() {
    let j = base();
    let people = [
        p(Role::Detainee, true),
        p(Role::Visitor, true),
        p(Role::Officer, false),
        p(Role::Observer, false),
    ];
    let d = decide_on_10_january(&j, SessionKind::SocialVisit, &people);
    assert_eq!(d.recording, RecordingDecision::Record);
    assert_eq!(d.retention_days, Some(30));
    assert!(d.monitoring);
    assert_eq!(ids(&d)[0], "test-land/recording/social_visit");
    assert!(
        d.reasons[0].contains("all 2 participants"),
        "{}",
        d.reasons[0]
    );
}

#[test]
fn consent_missing_does_not_record() {
    let j = base();
    let people = [p(Role::Detainee, true), p(Role::Visitor, false)];
    let d = decide_on_10_january(&j, SessionKind::SocialVisit, &people);
    assert_eq!(d.recording, RecordingDecision::DoNotRecord);
    assert_eq!(d.retention_days, None);
    assert_eq!(
        ids(&d)[0],
        "test-land/recording/social_visit/consent-missing"
    );
    assert!(
        d.reasons[0].contains("1 of the 2 taking part has not consented"),
        "{}",
        d.reasons[0]
    );
    // Still monitored, so still announced.
    assert!(d.monitoring);
    assert_eq!(d.announcements.len(), 2);
}

#[test]
fn consent_with_nobody_does_not_record() {
    let j = base();
    for people in [vec![], vec![p(Role::Officer, true)]] {
        let d = decide_on_10_january(&j, SessionKind::SocialVisit, &people);
        assert_eq!(d.recording, RecordingDecision::DoNotRecord);
        assert_eq!(
            ids(&d)[0],
            "test-land/recording/social_visit/consent-missing"
        );
    }
}

#[test]
fn forbidden_not_monitored_has_no_announcements() {
    let mut j = base();
    j.recording
        .insert(SessionKind::SocialVisit, RecordingRule::Forbidden);
    j.monitoring
        .insert(SessionKind::SocialVisit, MonitoringRule::Forbidden);
    let d = decide_on_10_january(&j, SessionKind::SocialVisit, &[p(Role::Visitor, true)]);
    assert_neither_recorded_nor_monitored(
        &d,
        [
            "test-land/recording/social_visit",
            "test-land/monitoring/social_visit",
            "test-land/warning_minutes",
        ],
    );
}

#[test]
fn forbidden_but_monitored_is_announced() {
    let mut j = base();
    j.recording
        .insert(SessionKind::SocialVisit, RecordingRule::Forbidden);
    let d = decide_on_10_january(&j, SessionKind::SocialVisit, &[p(Role::Visitor, true)]);
    assert_eq!(d.recording, RecordingDecision::DoNotRecord);
    assert!(d.monitoring);
    assert_eq!(d.announcements.len(), 2);
    assert!(ids(&d).contains(&"core/announce-before-media"));
}

#[test]
fn privileged_kinds_are_never_recorded_nor_monitored_even_if_struct_says_so() {
    let mut j = base();
    for kind in [SessionKind::LegalVisit, SessionKind::Consultation] {
        j.recording.insert(kind, RecordingRule::Required);
        j.monitoring.insert(kind, MonitoringRule::Allowed);
        j.retention_days.insert(kind, 100);
    }
    for kind in [SessionKind::LegalVisit, SessionKind::Consultation] {
        let d = decide_on_10_january(&j, kind, &[p(Role::Counsel, true), p(Role::Detainee, true)]);
        assert_neither_recorded_nor_monitored(
            &d,
            [
                "core/privileged-never-recorded",
                "core/privileged-never-monitored",
                "test-land/warning_minutes",
            ],
        );
    }
}

#[test]
fn explain_lists_outcome_and_every_rule() {
    let j = base();
    let d = decide(&j, SessionKind::CourtHearing, &[], utc("2026-07-01 12:00"));
    let text = d.explain();
    assert!(text.contains("court hearing"), "{text}");
    assert!(text.contains("Recorded: yes"), "{text}");
    assert!(text.contains("Monitored: no"), "{text}");
    assert!(text.contains("Retention: 3650 days"), "{text}");
    assert!(
        text.contains("Warnings: 5 and 1 minutes before the scheduled end"),
        "{text}"
    );
    for (rule, reason) in d.rules.iter().zip(&d.reasons) {
        assert!(text.contains(&format!("- {rule}: {reason}")), "{text}");
    }

    let d = decide(&j, SessionKind::LegalVisit, &[], utc("2026-07-01 12:00"));
    let text = d.explain();
    assert!(text.contains("Recorded: no"), "{text}");
    assert!(
        text.contains("- core/privileged-never-recorded: "),
        "{text}"
    );
    assert!(
        text.contains("- core/privileged-never-monitored: "),
        "{text}"
    );
}

#[test]
fn decision_serializes_with_snake_case() {
    let d = decide(
        &base(),
        SessionKind::CourtHearing,
        &[],
        utc("2026-07-01 12:00"),
    );
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["kind"], "court_hearing");
    assert_eq!(v["recording"], "record");
    assert_eq!(v["rules"][0], "test-land/recording/court_hearing");
    let j = serde_json::to_value(base()).unwrap();
    assert_eq!(j["time_zone"], "Europe/Paris");
    assert_eq!(j["recording"]["legal_visit"], "forbidden");
}
