//! The resources the API exposes. Times are RFC 3339 in UTC on the wire and
//! Unix seconds in the store.

use chrono::{DateTime, Utc};
use parley_policy::{Role, SessionKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who is calling the API. Each role may do only what `auth` lets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallerRole {
    /// Runs the installation: facilities, users, everything.
    Admin,
    /// Books visits and schedules hearings.
    Scheduler,
    /// Prison staff of one facility: approves contacts, ends visits.
    Officer,
    /// Court clerk: schedules and runs hearings.
    Clerk,
    /// Judge: runs hearings.
    Judge,
    /// A family member, friend or counsel: books for detainees who approved them.
    Visitor,
    /// Reviews, for one facility, the decisions that ended someone's
    /// contact when they ask (`crate::review`): sees those sessions' audit
    /// trail, upholds or overturns.
    Reviewer,
}

impl CallerRole {
    /// Every role, in declaration order.
    pub const ALL: [CallerRole; 7] = [
        Self::Admin,
        Self::Scheduler,
        Self::Officer,
        Self::Clerk,
        Self::Judge,
        Self::Visitor,
        Self::Reviewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Scheduler => "scheduler",
            Self::Officer => "officer",
            Self::Clerk => "clerk",
            Self::Judge => "judge",
            Self::Visitor => "visitor",
            Self::Reviewer => "reviewer",
        }
    }

    /// Officers and reviewers act for one facility.
    pub fn has_facility(self) -> bool {
        matches!(self, Self::Officer | Self::Reviewer)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiUser {
    pub id: i64,
    pub name: String,
    pub role: CallerRole,
    /// Officers and reviewers act for one facility.
    pub facility_id: Option<i64>,
    /// Visitors are one contact.
    pub contact_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FacilityKind {
    Prison,
    Court,
}

impl FacilityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prison => "prison",
            Self::Court => "court",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "prison" => Some(Self::Prison),
            "court" => Some(Self::Court),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Facility {
    pub id: i64,
    pub name: String,
    pub kind: FacilityKind,
    /// Id of the jurisdiction whose rules apply (a file in `config/jurisdictions`).
    pub jurisdiction: String,
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A shared kiosk on a landing.
    Kiosk,
    /// An in-cell tablet.
    Tablet,
    /// Courtroom equipment.
    Courtroom,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kiosk => "kiosk",
            Self::Tablet => "tablet",
            Self::Courtroom => "courtroom",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kiosk" => Some(Self::Kiosk),
            "tablet" => Some(Self::Tablet),
            "courtroom" => Some(Self::Courtroom),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Device {
    pub id: i64,
    pub facility_id: i64,
    pub name: String,
    pub kind: DeviceKind,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Detainee {
    pub id: i64,
    pub facility_id: i64,
    pub name: String,
    /// The facility's own prisoner number.
    pub number: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    /// Set for counsel.
    pub bar_number: Option<String>,
    /// Whether an administrator has verified the bar number.
    pub bar_verified: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovedContact {
    pub detainee_id: i64,
    pub contact: Contact,
    pub relationship: String,
    pub approved_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Live => "live",
            Self::Ended => "ended",
            Self::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(Self::Scheduled),
            "live" => Some(Self::Live),
            "ended" => Some(Self::Ended),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Participant {
    pub id: i64,
    #[schema(value_type = String)]
    pub role: Role,
    pub name: String,
    pub contact_id: Option<i64>,
    pub detainee_id: Option<i64>,
    pub consented_to_recording: bool,
    /// Removed from the session by the court: may not rejoin.
    pub removed: bool,
}

/// A booked visit or a scheduled hearing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Session {
    pub id: i64,
    #[schema(value_type = String)]
    pub kind: SessionKind,
    pub privileged: bool,
    pub facility_id: i64,
    pub jurisdiction: String,
    /// Omitted for officers viewing a privileged session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub detainee_id: Option<i64>,
    /// Omitted for officers viewing a privileged session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<i64>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// When participants may start joining.
    pub join_opens_at: DateTime<Utc>,
    pub status: SessionStatus,
    pub status_reason: Option<String>,
    pub participants: Vec<Participant>,
}

/// Time a visit lost to a media failure, credited to its detainee as
/// another visit outside the weekly quota (a jurisdiction's fair-use rule).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitCredit {
    pub id: i64,
    /// The visit that lost the time.
    pub session_id: i64,
    pub detainee_id: i64,
    /// Seconds credited.
    pub seconds: i64,
    pub granted_at: DateTime<Utc>,
    /// The visit booked with it, once it is (`credit_id` of a booking).
    pub used_session_id: Option<i64>,
}
