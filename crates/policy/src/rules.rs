//! Per-kind rules a jurisdiction sets, and the ids that name every rule.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether a session kind is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingRule {
    /// Always recorded.
    Required,
    /// Recorded only if every participant who publishes media consents.
    Consent,
    /// Never recorded.
    Forbidden,
}

impl RecordingRule {
    /// The snake_case name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingRule::Required => "required",
            RecordingRule::Consent => "consent",
            RecordingRule::Forbidden => "forbidden",
        }
    }
}

/// Whether staff may monitor a session kind live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitoringRule {
    /// An officer may watch and listen, receive-only.
    Allowed,
    /// Nobody may monitor.
    Forbidden,
}

impl MonitoringRule {
    /// The snake_case name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitoringRule::Allowed => "allowed",
            MonitoringRule::Forbidden => "forbidden",
        }
    }
}

/// Stable id of the rule that produced a decision or refusal, e.g.
/// "fr-paris/recording/court_hearing" or "core/privileged-never-recorded".
///
/// Ids starting with `core/` are built into Parley; the others start with the
/// jurisdiction id and name the configuration key that produced them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(pub String);

impl RuleId {
    /// A rule built into Parley, `core/<name>`.
    pub fn core(name: &str) -> RuleId {
        RuleId(format!("core/{name}"))
    }

    /// A rule of a jurisdiction, `<jurisdiction>/<path>`.
    pub fn of(jurisdiction: &str, path: &str) -> RuleId {
        RuleId(format!("{jurisdiction}/{path}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
