//! The roles a participant can hold in a session.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A participant's role. A role grants its rights and nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person in custody.
    Detainee,
    /// A family member or friend on a social visit.
    Visitor,
    /// A lawyer.
    Counsel,
    /// The judge presiding over a hearing.
    Judge,
    /// The court clerk.
    Clerk,
    /// The prosecutor.
    Prosecutor,
    /// The defendant at a hearing.
    Defendant,
    /// An interpreter.
    Interpreter,
    /// A witness at a hearing.
    Witness,
    /// A member of the public or press watching a public hearing (receive-only).
    Observer,
    /// A prison officer monitoring a visit (receive-only).
    Officer,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 11] = [
        Role::Detainee,
        Role::Visitor,
        Role::Counsel,
        Role::Judge,
        Role::Clerk,
        Role::Prosecutor,
        Role::Defendant,
        Role::Interpreter,
        Role::Witness,
        Role::Observer,
        Role::Officer,
    ];

    /// The snake_case name used in configuration and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Detainee => "detainee",
            Role::Visitor => "visitor",
            Role::Counsel => "counsel",
            Role::Judge => "judge",
            Role::Clerk => "clerk",
            Role::Prosecutor => "prosecutor",
            Role::Defendant => "defendant",
            Role::Interpreter => "interpreter",
            Role::Witness => "witness",
            Role::Observer => "observer",
            Role::Officer => "officer",
        }
    }

    /// True for roles that only receive media and never publish: observers and officers.
    /// Their media is never recorded, so their consent is not asked.
    pub fn is_receive_only(self) -> bool {
        matches!(self, Role::Observer | Role::Officer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}; valid roles are detainee, visitor, counsel, judge, clerk, prosecutor, defendant, interpreter, witness, observer, officer"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_str() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(r.to_string(), r.as_str());
        }
    }

    #[test]
    fn unknown_role_lists_valid_roles() {
        let msg = "bailiff".parse::<Role>().unwrap_err().to_string();
        assert!(msg.contains("bailiff"));
        for r in Role::ALL {
            assert!(msg.contains(r.as_str()), "{msg}");
        }
    }

    #[test]
    fn receive_only_roles() {
        let ro: Vec<_> = Role::ALL
            .into_iter()
            .filter(|r| r.is_receive_only())
            .collect();
        assert_eq!(ro, [Role::Observer, Role::Officer]);
    }
}
