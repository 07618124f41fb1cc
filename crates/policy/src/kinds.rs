//! The kinds of session Parley hosts, and which of them are privileged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of session.
///
/// Invariant: [`SessionKind::LegalVisit`] and [`SessionKind::Consultation`] are
/// privileged (lawyer–client confidentiality); their media is never recorded
/// nor monitored, whatever a jurisdiction file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A visit from family or friends.
    SocialVisit,
    /// A privileged visit from counsel.
    LegalVisit,
    /// A remote court hearing.
    CourtHearing,
    /// A privileged breakout of a hearing for defendant and counsel
    /// (optionally an interpreter).
    Consultation,
}

impl SessionKind {
    /// Every kind, in declaration order.
    pub const ALL: [SessionKind; 4] = [
        SessionKind::SocialVisit,
        SessionKind::LegalVisit,
        SessionKind::CourtHearing,
        SessionKind::Consultation,
    ];

    /// True for kinds protected by legal privilege: legal visits and consultations.
    pub fn is_privileged(self) -> bool {
        matches!(self, SessionKind::LegalVisit | SessionKind::Consultation)
    }

    /// True for kinds that are booked as visits: social and legal visits.
    pub fn is_visit(self) -> bool {
        matches!(self, SessionKind::SocialVisit | SessionKind::LegalVisit)
    }

    /// The snake_case name used in configuration files and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::SocialVisit => "social_visit",
            SessionKind::LegalVisit => "legal_visit",
            SessionKind::CourtHearing => "court_hearing",
            SessionKind::Consultation => "consultation",
        }
    }

    /// A short plain-language name, e.g. "social visit".
    pub fn label(self) -> &'static str {
        match self {
            SessionKind::SocialVisit => "social visit",
            SessionKind::LegalVisit => "legal visit",
            SessionKind::CourtHearing => "court hearing",
            SessionKind::Consultation => "consultation",
        }
    }
}

impl fmt::Display for SessionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A session kind name that is not one of [`SessionKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown session kind {0:?}; valid kinds are social_visit, legal_visit, court_hearing, consultation"
)]
pub struct UnknownSessionKind(pub String);

impl FromStr for SessionKind {
    type Err = UnknownSessionKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownSessionKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_str() {
        for k in SessionKind::ALL {
            assert_eq!(k.as_str().parse::<SessionKind>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
    }

    #[test]
    fn unknown_kind_lists_valid_kinds() {
        let err = "visit".parse::<SessionKind>().unwrap_err();
        let msg = err.to_string();
        for k in SessionKind::ALL {
            assert!(msg.contains(k.as_str()), "{msg}");
        }
    }

    #[test]
    fn privileged_and_visit_sets() {
        let privileged: Vec<_> = SessionKind::ALL
            .into_iter()
            .filter(|k| k.is_privileged())
            .collect();
        assert_eq!(
            privileged,
            [SessionKind::LegalVisit, SessionKind::Consultation]
        );
        let visits: Vec<_> = SessionKind::ALL
            .into_iter()
            .filter(|k| k.is_visit())
            .collect();
        assert_eq!(visits, [SessionKind::SocialVisit, SessionKind::LegalVisit]);
    }

    #[test]
    fn serde_uses_snake_case() {
        let v: SessionKind = toml::Value::String("court_hearing".into())
            .try_into()
            .unwrap();
        assert_eq!(v, SessionKind::CourtHearing);
    }
}
