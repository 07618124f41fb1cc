//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDateTime, Utc};
use parley_policy::{Jurisdiction, load_str};

/// A valid jurisdiction file; tests edit it with [`edit`].
pub const BASE: &str = r#"id = "test-land"
name = "Test Land"
time_zone = "Europe/Paris"
languages = ["fr", "en"]
warning_minutes = [5, 1]

[recording]
social_visit = "consent"
legal_visit = "forbidden"
court_hearing = "required"
consultation = "forbidden"

[monitoring]
social_visit = "allowed"
legal_visit = "forbidden"
court_hearing = "forbidden"
consultation = "forbidden"

[retention_days]
social_visit = 30
court_hearing = 3650

[announcements]
fr = "Cette séance peut être enregistrée."
en = "This session may be recorded."

[visits]
early_join_minutes = 10
min_length_minutes = 15
max_length_minutes = 60
booking_lead_hours = 24
weekly_quota = 3
max_visitors = 3
visiting_hours = ["08:30", "19:00"]
"#;

/// `BASE` with `old` replaced by `new`; panics if `old` is absent so a test
/// never silently checks the unedited file.
pub fn edit(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "fixture does not contain {old:?}");
    BASE.replacen(old, new, 1)
}

/// The 1-based line on which `needle` first appears in `text`.
pub fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    text[..at].matches('\n').count() + 1
}

/// The base jurisdiction, loaded.
pub fn base() -> Jurisdiction {
    load_str(BASE, "base.toml").expect("the base fixture loads")
}

/// A UTC instant from "YYYY-MM-DD HH:MM".
pub fn utc(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .expect("fixture time")
        .and_utc()
}
