//! The shape of a jurisdiction file as written, before validation.
//!
//! Every value keeps its byte span so that validation errors can name the
//! line and column of the offending key.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::rules::{MonitoringRule, RecordingRule};

/// A whole jurisdiction file. Unknown keys are refused at every level.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub id: Spanned<String>,
    pub name: Spanned<String>,
    pub time_zone: Spanned<String>,
    pub languages: Spanned<Vec<Spanned<String>>>,
    pub warning_minutes: Spanned<Vec<Spanned<u32>>>,
    pub recording: Spanned<PerKind<Spanned<RecordingRule>>>,
    pub monitoring: Spanned<PerKind<Spanned<MonitoringRule>>>,
    pub retention_days: Option<Spanned<PerKindOptional<Spanned<u32>>>>,
    pub announcements: Spanned<BTreeMap<String, Spanned<String>>>,
    pub visits: Spanned<RawVisits>,
    #[serde(default)]
    pub fair_use: Option<Spanned<RawFairUse>>,
    #[serde(default)]
    pub e2ee: Option<Spanned<RawE2ee>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawE2ee {
    pub privileged: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFairUse {
    pub mode: Spanned<String>,
    #[serde(default)]
    pub cap_minutes: Option<Spanned<u32>>,
    #[serde(default)]
    pub min_outage_seconds: Option<Spanned<u32>>,
}

/// One value per session kind; all four keys are required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PerKind<T> {
    pub social_visit: T,
    pub legal_visit: T,
    pub court_hearing: T,
    pub consultation: T,
}

/// At most one value per session kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PerKindOptional<T> {
    pub social_visit: Option<T>,
    pub legal_visit: Option<T>,
    pub court_hearing: Option<T>,
    pub consultation: Option<T>,
}

/// The `[visits]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVisits {
    pub early_join_minutes: Spanned<u32>,
    pub min_length_minutes: Spanned<u32>,
    pub max_length_minutes: Spanned<u32>,
    pub booking_lead_hours: Spanned<u32>,
    #[serde(default)]
    pub booking_now_leeway_seconds: Option<Spanned<u32>>,
    pub weekly_quota: Spanned<u32>,
    pub max_visitors: Spanned<u32>,
    pub visiting_hours: Spanned<Vec<Spanned<String>>>,
}
