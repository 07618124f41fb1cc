//! The pure recording and monitoring decision for a session, with the rules
//! that produced it.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use crate::jurisdiction::Jurisdiction;
use crate::kinds::SessionKind;
use crate::local_time::rfc3339_local;
use crate::roles::Role;
use crate::rules::{MonitoringRule, RecordingRule, RuleId};

/// A participant as far as the decision is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The participant's role in the session.
    pub role: Role,
    /// Whether they agreed to be recorded (asked only where recording needs consent).
    pub consented_to_recording: bool,
}

/// Whether the session's media goes to the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingDecision {
    /// Record.
    Record,
    /// Do not record.
    DoNotRecord,
}

/// A text to show and speak to participants before their media reaches a recorder or monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// Language code, one of the jurisdiction's `languages`.
    pub language: String,
    /// The text, from the jurisdiction file.
    pub text: String,
}

/// What happens to a session's media, and why.
///
/// Invariants: `retention_days` is `Some` exactly when `recording == Record`;
/// `announcements` is empty exactly when nothing is recorded or monitored;
/// `rules` and `reasons` have the same length, one sentence per rule; a
/// privileged kind is never recorded nor monitored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The jurisdiction id.
    pub jurisdiction: String,
    /// The session kind decided for.
    pub kind: SessionKind,
    /// Whether to record.
    pub recording: RecordingDecision,
    /// Whether an officer may monitor live.
    pub monitoring: bool,
    /// In `languages` order; empty when not recorded and not monitored.
    pub announcements: Vec<Announcement>,
    /// Days the recording is kept; `Some` only when recording.
    pub retention_days: Option<u32>,
    /// Minutes before the scheduled end at which warnings are given, descending.
    pub warning_minutes: Vec<u32>,
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
    /// `decided_at` in the jurisdiction's zone, RFC 3339 with offset.
    pub local_time: String,
    /// Every rule that contributed, in order.
    pub rules: Vec<RuleId>,
    /// One plain-language sentence per rule, same order and length as `rules`.
    pub reasons: Vec<String>,
}

impl Decision {
    /// Multi-line text for people: kind, recorded, monitored, retention,
    /// warnings, then one "- <rule id>: <reason>" line per rule.
    pub fn explain(&self) -> String {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let mut out = String::new();
        let _ = writeln!(out, "Session: {} ({})", self.kind.label(), self.kind);
        let _ = writeln!(out, "Jurisdiction: {}", self.jurisdiction);
        let _ = writeln!(out, "Decided at: {}", self.local_time);
        let _ = writeln!(
            out,
            "Recorded: {}",
            yes_no(self.recording == RecordingDecision::Record)
        );
        let _ = writeln!(out, "Monitored: {}", yes_no(self.monitoring));
        match self.retention_days {
            Some(d) => {
                let _ = writeln!(out, "Retention: {d} days");
            }
            None => {
                let _ = writeln!(out, "Retention: none (not recorded)");
            }
        }
        let _ = writeln!(out, "Warnings: {}", warnings_phrase(&self.warning_minutes));
        let _ = writeln!(out, "Because:");
        for (rule, reason) in self.rules.iter().zip(&self.reasons) {
            let _ = writeln!(out, "- {rule}: {reason}");
        }
        out
    }
}

/// "5 and 1 minutes before the scheduled end", or "none".
fn warnings_phrase(minutes: &[u32]) -> String {
    let parts: Vec<String> = minutes.iter().map(u32::to_string).collect();
    match parts.as_slice() {
        [] => "none".to_owned(),
        [one] => format!(
            "{one} minute{} before the scheduled end",
            if one == "1" { "" } else { "s" }
        ),
        [init @ .., last] => format!(
            "{} and {last} minutes before the scheduled end",
            init.join(", ")
        ),
    }
}

/// Collects rules and their reasons in step.
#[derive(Default)]
struct Trail {
    rules: Vec<RuleId>,
    reasons: Vec<String>,
}

impl Trail {
    fn push(&mut self, rule: RuleId, reason: String) {
        self.rules.push(rule);
        self.reasons.push(reason);
    }
}

/// Pure. Privileged kinds are NEVER recorded or monitored, regardless of the file (rule "core/privileged-never-recorded" and "core/privileged-never-monitored" — defence in depth even though loading already refuses such files).
/// Consent: Record only if every participant whose role is not Officer/Observer consented; otherwise DoNotRecord with rule "<id>/recording/<kind>/consent-missing".
/// Empty participant list with Consent -> DoNotRecord.
///
/// A list holding only receive-only participants counts as empty. Rules are
/// listed in this order: recording, retention (if recorded), monitoring,
/// announcements (if recorded or monitored), warnings.
pub fn decide(
    j: &Jurisdiction,
    kind: SessionKind,
    participants: &[Participant],
    at: DateTime<Utc>,
) -> Decision {
    let mut trail = Trail::default();
    let recording = decide_recording(j, kind, participants, &mut trail);
    let retention_days = match recording {
        RecordingDecision::Record => {
            let days = j.retention_for(kind).unwrap_or(1);
            trail.push(
                RuleId::of(&j.id, &format!("retention_days/{kind}")),
                format!(
                    "Recordings of a {} are kept for {days} days, then destroyed unless a legal hold applies.",
                    kind.label()
                ),
            );
            Some(days)
        }
        RecordingDecision::DoNotRecord => None,
    };
    let monitoring = decide_monitoring(j, kind, &mut trail);
    let announcements = if recording == RecordingDecision::Record || monitoring {
        trail.push(
            RuleId::core("announce-before-media"),
            format!(
                "Participants are told in {} before any of their media is recorded or monitored.",
                j.languages.join(", ")
            ),
        );
        j.languages
            .iter()
            .filter_map(|l| {
                j.announcements.get(l).map(|t| Announcement {
                    language: l.clone(),
                    text: t.clone(),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    trail.push(
        RuleId::of(&j.id, "warning_minutes"),
        format!(
            "Participants are warned {}.",
            warnings_phrase(&j.warning_minutes)
        ),
    );
    Decision {
        jurisdiction: j.id.clone(),
        kind,
        recording,
        monitoring,
        announcements,
        retention_days,
        warning_minutes: j.warning_minutes.clone(),
        decided_at: at,
        local_time: rfc3339_local(j.time_zone, at),
        rules: trail.rules,
        reasons: trail.reasons,
    }
}

fn decide_recording(
    j: &Jurisdiction,
    kind: SessionKind,
    participants: &[Participant],
    trail: &mut Trail,
) -> RecordingDecision {
    let label = kind.label();
    if kind.is_privileged() {
        trail.push(
            RuleId::core("privileged-never-recorded"),
            format!("A {label} is privileged, so it is never recorded, whatever the jurisdiction's settings."),
        );
        return RecordingDecision::DoNotRecord;
    }
    let rule_id = RuleId::of(&j.id, &format!("recording/{kind}"));
    match j.recording_rule(kind) {
        RecordingRule::Required => {
            trail.push(
                rule_id,
                format!("In {}, every {label} must be recorded.", j.name),
            );
            RecordingDecision::Record
        }
        RecordingRule::Forbidden => {
            trail.push(
                rule_id,
                format!("In {}, a {label} is never recorded.", j.name),
            );
            RecordingDecision::DoNotRecord
        }
        RecordingRule::Consent => {
            let asked: Vec<&Participant> = participants
                .iter()
                .filter(|p| !p.role.is_receive_only())
                .collect();
            let refused = asked.iter().filter(|p| !p.consented_to_recording).count();
            if asked.is_empty() {
                trail.push(
                    RuleId(format!("{rule_id}/consent-missing")),
                    format!(
                        "In {}, a {label} is recorded only with everyone's consent, and nobody who takes part has consented yet.",
                        j.name
                    ),
                );
                RecordingDecision::DoNotRecord
            } else if refused > 0 {
                trail.push(
                    RuleId(format!("{rule_id}/consent-missing")),
                    format!(
                        "In {}, a {label} is recorded only if everyone taking part consents; {refused} of the {} taking part {} not consented.",
                        j.name,
                        asked.len(),
                        if refused == 1 { "has" } else { "have" }
                    ),
                );
                RecordingDecision::DoNotRecord
            } else {
                trail.push(
                    rule_id,
                    format!(
                        "In {}, a {label} is recorded only with everyone's consent, and all {} participants taking part consented.",
                        j.name,
                        asked.len()
                    ),
                );
                RecordingDecision::Record
            }
        }
    }
}

fn decide_monitoring(j: &Jurisdiction, kind: SessionKind, trail: &mut Trail) -> bool {
    let label = kind.label();
    if kind.is_privileged() {
        trail.push(
            RuleId::core("privileged-never-monitored"),
            format!("A {label} is privileged, so nobody may monitor it, whatever the jurisdiction's settings."),
        );
        return false;
    }
    let rule_id = RuleId::of(&j.id, &format!("monitoring/{kind}"));
    match j.monitoring_rule(kind) {
        MonitoringRule::Allowed => {
            trail.push(
                rule_id,
                format!("In {}, prison staff may watch and listen to a {label} live; every such action is logged.", j.name),
            );
            true
        }
        MonitoringRule::Forbidden => {
            trail.push(
                rule_id,
                format!("In {}, nobody may monitor a {label}.", j.name),
            );
            false
        }
    }
}
