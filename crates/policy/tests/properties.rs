//! Property tests: privileged sessions are never recorded nor monitored,
//! local weeks tile time, accepted visits respect local visiting hours, and
//! join windows and warnings stay inside the session.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use parley_policy::{
    BookingContext, BookingRequest, MonitoringRule, Participant, RecordingDecision, RecordingRule,
    Role, SessionKind, VisitingHours, VisitorCheck, check_booking, decide, join_window, load_str,
    local_week, warning_instants,
};
use proptest::prelude::*;

const KINDS: [&str; 4] = [
    "social_visit",
    "legal_visit",
    "court_hearing",
    "consultation",
];
const ZONES: [Tz; 4] = [
    chrono_tz::Europe::Paris,
    chrono_tz::Europe::London,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Sydney,
];

/// Every value of a generated jurisdiction file.
#[derive(Debug, Clone)]
struct Spec {
    id: &'static str,
    zone: &'static str,
    languages: Vec<&'static str>,
    warnings: Vec<u32>,
    recording: [&'static str; 4],
    monitoring: [&'static str; 4],
    retention: [Option<u32>; 4],
    announcements: Vec<(&'static str, &'static str)>,
    early: u32,
    min_len: u32,
    max_len: u32,
    lead: u32,
    quota: u32,
    visitors: u32,
    hours: (u32, u32),
}

impl Spec {
    fn to_toml(&self) -> String {
        let list = |v: &[String]| v.join(", ");
        let langs: Vec<String> = self.languages.iter().map(|l| format!("{l:?}")).collect();
        let warns: Vec<String> = self.warnings.iter().map(u32::to_string).collect();
        let mut t = format!(
            "id = {:?}\nname = \"Generated\"\ntime_zone = {:?}\nlanguages = [{}]\nwarning_minutes = [{}]\n\n[recording]\n",
            self.id,
            self.zone,
            list(&langs),
            list(&warns)
        );
        for (k, r) in KINDS.iter().zip(self.recording) {
            t += &format!("{k} = {r:?}\n");
        }
        t += "\n[monitoring]\n";
        for (k, m) in KINDS.iter().zip(self.monitoring) {
            t += &format!("{k} = {m:?}\n");
        }
        t += "\n[retention_days]\n";
        for (k, d) in KINDS.iter().zip(self.retention) {
            if let Some(d) = d {
                t += &format!("{k} = {d}\n");
            }
        }
        t += "\n[announcements]\n";
        for (l, text) in &self.announcements {
            t += &format!("{l} = {text:?}\n");
        }
        let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        t += &format!(
            "\n[visits]\nearly_join_minutes = {}\nmin_length_minutes = {}\nmax_length_minutes = {}\nbooking_lead_hours = {}\nweekly_quota = {}\nmax_visitors = {}\nvisiting_hours = [{:?}, {:?}]\n",
            self.early,
            self.min_len,
            self.max_len,
            self.lead,
            self.quota,
            self.visitors,
            hhmm(self.hours.0),
            hhmm(self.hours.1)
        );
        t
    }

    /// An independent statement of the validation rules.
    fn is_valid(&self) -> bool {
        let privileged_ok = [1, 3]
            .iter()
            .all(|&i| self.recording[i] == "forbidden" && self.monitoring[i] == "forbidden");
        let retention_ok = self
            .recording
            .iter()
            .zip(self.retention)
            .all(|(r, d)| match d {
                None => *r == "forbidden",
                Some(d) => *r != "forbidden" && (1..=36500).contains(&d),
            });
        let unique: BTreeSet<_> = self.languages.iter().collect();
        let languages_ok = !self.languages.is_empty() && unique.len() == self.languages.len();
        let ann_langs: BTreeSet<_> = self.announcements.iter().map(|(l, _)| l).collect();
        let announcements_ok = ann_langs == unique
            && ann_langs.len() == self.announcements.len()
            && self.announcements.iter().all(|(_, t)| !t.trim().is_empty());
        let warnings_ok = !self.warnings.is_empty()
            && self.warnings.iter().all(|w| (1..=240).contains(w))
            && self.warnings.windows(2).all(|w| w[0] > w[1]);
        let visits_ok = self.early <= 120
            && self.min_len >= 1
            && self.min_len <= self.max_len
            && self.max_len <= 480
            && self.lead <= 1440
            && (1..=100).contains(&self.quota)
            && (1..=20).contains(&self.visitors)
            && self.hours.0 < self.hours.1;
        self.id != "Bad_Id"
            && self.zone != "Mars/Olympus"
            && privileged_ok
            && retention_ok
            && languages_ok
            && announcements_ok
            && warnings_ok
            && visits_ok
    }
}

fn recording_value(privileged: bool) -> BoxedStrategy<&'static str> {
    if privileged {
        prop_oneof![16 => Just("forbidden"), 1 => Just("required"), 1 => Just("consent")].boxed()
    } else {
        prop_oneof![Just("forbidden"), Just("required"), Just("consent")].boxed()
    }
}

fn monitoring_value(privileged: bool) -> BoxedStrategy<&'static str> {
    if privileged {
        prop_oneof![16 => Just("forbidden"), 1 => Just("allowed")].boxed()
    } else {
        prop_oneof![Just("forbidden"), Just("allowed")].boxed()
    }
}

/// Mostly-valid values with some out-of-range ones, so both sides are exercised.
fn number(
    valid: std::ops::RangeInclusive<u32>,
    any: std::ops::RangeInclusive<u32>,
) -> BoxedStrategy<u32> {
    prop_oneof![24 => valid, 1 => any].boxed()
}

prop_compose! {
    fn spec()(
        id in prop_oneof![30 => Just("gen-land"), 1 => Just("Bad_Id")],
        zone in prop_oneof![
            6 => Just("Europe/Paris"), 6 => Just("Europe/London"), 6 => Just("America/New_York"),
            6 => Just("Australia/Sydney"), 6 => Just("Asia/Tokyo"), 1 => Just("Mars/Olympus")
        ],
        languages in prop_oneof![
            30 => proptest::sample::subsequence(vec!["en", "fr", "de", "nl"], 1..=3),
            1 => Just(vec![]),
            1 => Just(vec!["en", "en"]),
        ],
        warnings in prop_oneof![
            20 => proptest::collection::btree_set(1u32..=240, 1..4).prop_map(|s| s.into_iter().rev().collect::<Vec<_>>()),
            1 => proptest::collection::vec(0u32..=300, 0..4),
        ],
        recording in (recording_value(false), recording_value(true), recording_value(false), recording_value(true)),
        monitoring in (monitoring_value(false), monitoring_value(true), monitoring_value(false), monitoring_value(true)),
        retention_noise in proptest::collection::vec(prop_oneof![60 => Just(None), 1 => Just(Some(0u32)), 1 => Just(Some(40_000u32)), 1 => Just(Some(7u32))], 4),
        retention_days in 1u32..=36500,
        announce_mode in prop_oneof![30 => Just(0u8), 1 => Just(1), 1 => Just(2), 1 => Just(3)],
        early in number(0..=120, 0..=200),
        min_len in number(1..=60, 0..=600),
        max_len in number(60..=480, 0..=600),
        lead in number(0..=1440, 0..=2000),
        quota in number(1..=100, 0..=150),
        visitors in number(1..=20, 0..=30),
        hours in prop_oneof![20 => (0u32..720, 720u32..1440), 1 => (0u32..1440, 0u32..1440)],
    ) -> Spec {
        let recording = [recording.0, recording.1, recording.2, recording.3];
        let mut retention = [None; 4];
        for i in 0..4 {
            retention[i] = match retention_noise[i] {
                Some(noise) => Some(noise),
                None => (recording[i] != "forbidden").then_some(retention_days),
            };
        }
        let mut announcements: Vec<(&'static str, &'static str)> =
            languages.iter().map(|&l| (l, "Announcement text.")).collect();
        match announce_mode {
            1 => { announcements.pop(); }
            2 => announcements.push(("es", "Texto del anuncio.")),
            3 => if let Some(a) = announcements.first_mut() { a.1 = " " },
            _ => {}
        }
        announcements.sort();
        announcements.dedup_by_key(|a| a.0);
        Spec {
            id, zone, languages, warnings, recording,
            monitoring: [monitoring.0, monitoring.1, monitoring.2, monitoring.3],
            retention, announcements, early, min_len, max_len, lead, quota, visitors, hours,
        }
    }
}

fn participant() -> impl Strategy<Value = Participant> {
    (proptest::sample::select(Role::ALL.to_vec()), any::<bool>()).prop_map(
        |(role, consented_to_recording)| Participant {
            role,
            consented_to_recording,
        },
    )
}

/// Any instant from 2020 to 2035.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (1_577_836_800i64..2_082_758_400)
        .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default())
}

fn assert_privileged_shielded(
    j: &parley_policy::Jurisdiction,
    people: &[Participant],
    at: DateTime<Utc>,
) {
    for kind in SessionKind::ALL.into_iter().filter(|k| k.is_privileged()) {
        let d = decide(j, kind, people, at);
        assert_eq!(
            d.recording,
            RecordingDecision::DoNotRecord,
            "{kind} recorded"
        );
        assert!(!d.monitoring, "{kind} monitored");
        assert_eq!(d.retention_days, None);
        assert!(d.announcements.is_empty());
        assert_eq!(d.rules.len(), d.reasons.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (1a) Whatever a file says, a file that loads never lets a privileged
    /// session be recorded or monitored; and the loader accepts exactly the
    /// files the documented rules allow.
    #[test]
    fn loaded_files_never_expose_privileged_sessions(
        spec in spec(),
        people in proptest::collection::vec(participant(), 0..6),
        at in instant(),
    ) {
        let text = spec.to_toml();
        let loaded = load_str(&text, "generated.toml");
        prop_assert_eq!(loaded.is_ok(), spec.is_valid(), "{}\n{:?}", text, loaded.as_ref().err());
        let claims_privileged = [1, 3]
            .iter()
            .any(|&i| spec.recording[i] != "forbidden" || spec.monitoring[i] != "forbidden");
        if let Ok(j) = loaded {
            prop_assert!(!claims_privileged, "loaded a file that records or monitors a privileged kind:\n{}", text);
            assert_privileged_shielded(&j, &people, at);
        }
    }

    /// (1b) Even a hand-built struct that claims privileged kinds are recorded
    /// and monitored cannot make `decide` do so.
    #[test]
    fn hand_built_structs_never_expose_privileged_sessions(
        rec in proptest::sample::select(vec![RecordingRule::Required, RecordingRule::Consent, RecordingRule::Forbidden]),
        people in proptest::collection::vec(participant(), 0..6),
        at in instant(),
    ) {
        let mut j = common::base();
        for kind in [SessionKind::LegalVisit, SessionKind::Consultation] {
            j.recording.insert(kind, rec);
            j.monitoring.insert(kind, MonitoringRule::Allowed);
            j.retention_days.insert(kind, 365);
        }
        assert_privileged_shielded(&j, &people, at);
    }

    /// (2) Local weeks contain their instant, start on a local Monday at
    /// midnight, last 167, 168 or 169 hours, and tile time.
    #[test]
    fn local_weeks_tile_time(zone in proptest::sample::select(ZONES.to_vec()), at in instant()) {
        let (start, end) = local_week(zone, at);
        prop_assert!(start <= at && at < end);
        let local = start.with_timezone(&zone);
        prop_assert_eq!(local.weekday(), Weekday::Mon);
        prop_assert_eq!(local.time(), NaiveTime::MIN);
        let length = end - start;
        prop_assert!([167, 168, 169].iter().any(|&h| length == TimeDelta::hours(h)), "{:?}", length);
        prop_assert_eq!(local_week(zone, end).0, end);
        prop_assert_eq!(local_week(zone, end - TimeDelta::seconds(1)), (start, end));
    }

    /// (3) A visit that is accepted lies entirely within the local visiting
    /// hours of one day, also on daylight-saving change days.
    #[test]
    fn accepted_visits_lie_within_local_hours(
        zone in proptest::sample::select(ZONES.to_vec()),
        day in proptest::sample::select(vec![
            (2026, 3, 29), (2026, 10, 25), (2026, 3, 8), (2026, 11, 1), (2026, 4, 5), (2026, 10, 4),
            (2025, 3, 30), (2025, 10, 26), (2027, 3, 14), (2027, 11, 7),
        ]),
        day_shift in -1i64..=1,
        offset_minutes in -14 * 60i64..38 * 60,
        length in 1i64..=480,
        open in 0u32..1440,
        span in 1u32..1440,
    ) {
        let close = (open + span).min(1439);
        prop_assume!(close > open);
        let mut j = common::base();
        j.time_zone = zone;
        j.visits.booking_lead_hours = 0;
        j.visits.min_length_minutes = 1;
        j.visits.max_length_minutes = 480;
        j.visits.weekly_quota = 100;
        let (opens, closes) = (
            NaiveTime::from_hms_opt(open / 60, open % 60, 0).unwrap_or(NaiveTime::MIN),
            NaiveTime::from_hms_opt(close / 60, close % 60, 0).unwrap_or(NaiveTime::MIN),
        );
        j.visits.visiting_hours = VisitingHours::Daily { opens, closes };
        let date = NaiveDate::from_ymd_opt(day.0, day.1, day.2).unwrap_or_default() + TimeDelta::days(day_shift);
        let start = date.and_time(NaiveTime::MIN).and_utc() + TimeDelta::minutes(offset_minutes);
        let end = start + TimeDelta::minutes(length);
        let req = BookingRequest {
            kind: SessionKind::SocialVisit,
            start,
            end,
            visitors: vec![VisitorCheck { name: "V".into(), approved: true, verified_counsel: false }],
        };
        let now = start - TimeDelta::days(30);
        if check_booking(&j, &req, &BookingContext::default(), now).is_ok() {
            let (ls, le) = (start.with_timezone(&zone), end.with_timezone(&zone));
            prop_assert_eq!(ls.date_naive(), le.date_naive());
            prop_assert!(ls.time() >= opens, "{} before opening", ls);
            prop_assert!(le.time() <= closes, "{} after closing", le);
            // Every minute of the visit reads within the hours on the local clock.
            let mut t = start;
            while t <= end {
                let l = t.with_timezone(&zone);
                prop_assert_eq!(l.date_naive(), ls.date_naive());
                prop_assert!(l.time() >= opens && l.time() <= closes, "{} outside hours", l);
                t += TimeDelta::minutes(1);
            }
        }
    }

    /// (4) The join window opens no later than the start and closes at the end;
    /// warnings lie strictly inside the session, ascending.
    #[test]
    fn windows_and_warnings_stay_inside(
        early in 0u32..=120,
        warnings in proptest::collection::btree_set(1u32..=240, 0..5),
        start in instant(),
        length in 1i64..=600,
    ) {
        let mut j = common::base();
        j.visits.early_join_minutes = early;
        j.warning_minutes = warnings.iter().rev().copied().collect();
        let end = start + TimeDelta::minutes(length);
        let (open, close) = join_window(&j, start, end);
        prop_assert!(open <= start);
        prop_assert_eq!(start - open, TimeDelta::minutes(i64::from(early)));
        prop_assert_eq!(close, end);
        let w = warning_instants(&j, start, end);
        for (m, at) in &w {
            prop_assert!(*at > start && *at < end);
            prop_assert_eq!(end - *at, TimeDelta::minutes(i64::from(*m)));
        }
        prop_assert!(w.windows(2).all(|p| p[0].1 < p[1].1));
        let expected = warnings.iter().filter(|&&m| i64::from(m) < length).count();
        prop_assert_eq!(w.len(), expected);
    }
}
