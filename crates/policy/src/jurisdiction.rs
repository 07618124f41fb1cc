//! A jurisdiction's validated policy, and the set of loaded jurisdictions.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use serde::{Serialize, Serializer};

use crate::kinds::SessionKind;
use crate::rules::{MonitoringRule, RecordingRule};

/// Rules for booking and running visits.
///
/// Invariants (enforced by the loader): `0 < min_length_minutes <= max_length_minutes <= 480`,
/// `early_join_minutes <= 120`, `booking_lead_hours <= 1440`,
/// `booking_now_leeway_seconds <= 600`, `1 <= weekly_quota <= 100`,
/// `1 <= max_visitors <= 20`, and daily visiting hours open before they close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitRules {
    /// Minutes before the scheduled start that participants may join.
    pub early_join_minutes: u32,
    /// Longest bookable visit, in minutes.
    pub max_length_minutes: u32,
    /// Shortest bookable visit, in minutes (a required key).
    pub min_length_minutes: u32,
    /// A booking must be made at least this many hours before its start.
    pub booking_lead_hours: u32,
    /// A start this many seconds before the moment of booking still counts
    /// as "right now" (a form filled in at 10:00 and sent at 10:00:40);
    /// default 60.
    pub booking_now_leeway_seconds: u32,
    /// Social visits per detainee per local calendar week (Monday 00:00 local to
    /// the next Monday 00:00 local). Legal visits never count.
    pub weekly_quota: u32,
    /// Visitors per social visit (counsel per legal visit likewise).
    pub max_visitors: u32,
    /// When visits may take place, in local time.
    pub visiting_hours: VisitingHours,
}

/// When visits may take place, in the jurisdiction's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitingHours {
    /// Opening and closing time each day, `opens < closes`. A visit lies
    /// entirely inside one local day's hours: it starts at or after opening
    /// and ends at or before closing, so it never spans midnight.
    Daily { opens: NaiveTime, closes: NaiveTime },
    /// Open at every hour (`["00:00", "24:00"]` in the file): a visit may
    /// start at any time and run past midnight.
    AroundTheClock,
}

impl VisitingHours {
    /// The file's form: `["08:30", "19:00"]`, or `["00:00", "24:00"]`.
    pub fn as_hh_mm(&self) -> [String; 2] {
        match self {
            VisitingHours::Daily { opens, closes } => [
                opens.format("%H:%M").to_string(),
                closes.format("%H:%M").to_string(),
            ],
            VisitingHours::AroundTheClock => ["00:00".into(), "24:00".into()],
        }
    }
}

impl Serialize for VisitingHours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_hh_mm().serialize(s)
    }
}

/// A jurisdiction's policy, as loaded and validated from one TOML file.
///
/// Invariants (enforced by the loader, see `docs/configuration.md`):
/// - `id` matches `[a-z0-9-]+`;
/// - `languages` is non-empty and has no duplicates; the first is the default;
/// - `recording` and `monitoring` have an entry for every [`SessionKind`], and a
///   privileged kind is `Forbidden` in both (and [`crate::decide`] enforces this
///   again, whatever the struct says);
/// - `retention_days` has an entry, in `1..=36500`, exactly for the kinds whose
///   recording is not `Forbidden`;
/// - `announcements` has exactly one non-empty text per language;
/// - `warning_minutes` is strictly descending, each in `1..=240`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Jurisdiction {
    /// Stable id, `[a-z0-9-]+`. It need not match the file name.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The zone local times (visiting hours, weeks, messages) are read in.
    #[serde(serialize_with = "serialize_tz")]
    pub time_zone: chrono_tz::Tz,
    /// BCP-47-ish language codes, non-empty; the first is the default.
    pub languages: Vec<String>,
    /// Recording rule for every kind.
    pub recording: BTreeMap<SessionKind, RecordingRule>,
    /// Monitoring rule for every kind.
    pub monitoring: BTreeMap<SessionKind, MonitoringRule>,
    /// Days a recording is kept, for each kind whose recording is not `Forbidden`.
    pub retention_days: BTreeMap<SessionKind, u32>,
    /// Announcement text per language; one for every language in `languages`.
    pub announcements: BTreeMap<String, String>,
    /// Minutes before the scheduled end at which a warning is given, descending.
    pub warning_minutes: Vec<u32>,
    /// Rules for booking and running visits.
    pub visits: VisitRules,
    /// What a visit gets back of the time its media was lost (`[fair_use]`;
    /// off when the file has none).
    pub fair_use: crate::fair_use::FairUse,
    /// End-to-end encryption of legal visits and consultations (`[e2ee]
    /// privileged`; offered when the file has none).
    pub e2ee: crate::e2ee::E2eeMode,
}

fn serialize_tz<S: Serializer>(tz: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

impl Jurisdiction {
    /// The recording rule for `kind`; `Forbidden` if the map lacks it (never for a loaded file).
    pub fn recording_rule(&self, kind: SessionKind) -> RecordingRule {
        self.recording
            .get(&kind)
            .copied()
            .unwrap_or(RecordingRule::Forbidden)
    }

    /// The monitoring rule for `kind`; `Forbidden` if the map lacks it (never for a loaded file).
    pub fn monitoring_rule(&self, kind: SessionKind) -> MonitoringRule {
        self.monitoring
            .get(&kind)
            .copied()
            .unwrap_or(MonitoringRule::Forbidden)
    }

    /// Days recordings of `kind` are kept, if it may be recorded.
    pub fn retention_for(&self, kind: SessionKind) -> Option<u32> {
        self.retention_days.get(&kind).copied()
    }
}

/// Loaded jurisdictions, by id.
#[derive(Debug, Clone, Default)]
pub struct Jurisdictions {
    by_id: BTreeMap<String, Jurisdiction>,
}

impl Jurisdictions {
    /// The jurisdiction with this id.
    pub fn get(&self, id: &str) -> Option<&Jurisdiction> {
        self.by_id.get(id)
    }

    /// All jurisdictions, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Jurisdiction> {
        self.by_id.values()
    }

    /// All ids, sorted.
    pub fn ids(&self) -> Vec<&str> {
        self.by_id.keys().map(String::as_str).collect()
    }

    /// How many jurisdictions are loaded.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when none are loaded.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Adds a jurisdiction, returning the one it replaces if its id was taken.
    pub fn insert(&mut self, j: Jurisdiction) -> Option<Jurisdiction> {
        self.by_id.insert(j.id.clone(), j)
    }
}

impl FromIterator<Jurisdiction> for Jurisdictions {
    fn from_iter<I: IntoIterator<Item = Jurisdiction>>(iter: I) -> Self {
        let mut all = Jurisdictions::default();
        for j in iter {
            all.insert(j);
        }
        all
    }
}
