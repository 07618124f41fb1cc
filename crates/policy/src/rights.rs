//! Every right a participant's role gives in a live session, in one place:
//! which role may do what, in which kind of session. The live session asks
//! here and writes no role check of its own; the table is tested whole.
//!
//! A role grants its rights and nothing more; an action nobody holds a
//! grant for is refused with [`LiveAction::refusal`], which says who may.

use crate::kinds::SessionKind;
use crate::roles::Role;

/// Something a participant asks of a live session, or sees in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LiveAction {
    /// Let a participant in from the lobby.
    Admit,
    /// Remove a participant, with a stated reason.
    Remove,
    /// Stop (or restore) forwarding a participant's audio or video.
    Mute,
    /// Open or close the hearing to observers.
    Observers,
    /// Order witness protection (a pseudonym, video hidden).
    Protect,
    /// Move the scheduled end later.
    Extend,
    /// End the session for everyone, with a stated reason.
    End,
    /// Send a line of captions to everyone admitted.
    Caption,
    /// Open a private consultation for a defendant and counsel.
    OpenConsultation,
    /// Bring a consultation back into the hearing.
    EndConsultation,
    /// See the members hidden from ordinary participants (observers,
    /// monitoring officers) in the roster.
    SeeHiddenMembers,
    /// See a protected witness's name instead of their pseudonym.
    SeeProtectedNames,
    /// Enter without waiting in the lobby (a visit's other participants
    /// enter by themselves once it starts: a rule of time, not of role).
    EnterWithoutAdmission,
}

impl LiveAction {
    /// Every action, in declaration order.
    pub const ALL: [LiveAction; 13] = [
        LiveAction::Admit,
        LiveAction::Remove,
        LiveAction::Mute,
        LiveAction::Observers,
        LiveAction::Protect,
        LiveAction::Extend,
        LiveAction::End,
        LiveAction::Caption,
        LiveAction::OpenConsultation,
        LiveAction::EndConsultation,
        LiveAction::SeeHiddenMembers,
        LiveAction::SeeProtectedNames,
        LiveAction::EnterWithoutAdmission,
    ];

    /// What a participant without the right is told, in a session of
    /// `kind`: who may.
    pub fn refusal(self, kind: SessionKind) -> &'static str {
        match self {
            Self::Admit => "only the judge or clerk of a hearing can admit participants",
            Self::Remove => "only the judge or clerk of a hearing can remove participants",
            Self::Mute => "only the judge or clerk of a hearing can mute participants",
            Self::Observers => {
                "only the judge or clerk of a hearing can open or close the hearing to observers"
            }
            Self::Protect => "only the judge of a hearing orders witness protection",
            Self::Extend => {
                "only the judge can extend, and only a hearing; visits end at their booked time"
            }
            Self::End => {
                "only the judge or clerk can end a hearing, and only an officer can end a visit early"
            }
            Self::Caption => "only a judge, clerk or interpreter can send captions",
            Self::OpenConsultation if kind != SessionKind::CourtHearing => {
                "consultations are part of hearings"
            }
            Self::OpenConsultation => {
                "only the judge, the clerk or a counsel taking part opens a consultation"
            }
            Self::EndConsultation => "only its members or the judge or clerk end a consultation",
            Self::SeeHiddenMembers => "only the judge or clerk sees who watches",
            Self::SeeProtectedNames => "only the judge or clerk sees a protected witness's name",
            Self::EnterWithoutAdmission if kind.is_visit() => {
                "wait in the lobby until the visit starts"
            }
            Self::EnterWithoutAdmission => "wait in the lobby until the court admits you",
        }
    }
}

/// What a role may do about an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Whatever it concerns.
    Yes,
    /// Only what they take part in themselves (their own consultation).
    WhenTakingPart,
    No,
}

/// The right `role` holds to `action` in a session of `kind`.
pub fn grant(role: Role, kind: SessionKind, action: LiveAction) -> Grant {
    use LiveAction as A;
    let hearing = kind == SessionKind::CourtHearing;
    let court = matches!(role, Role::Judge | Role::Clerk);
    let yes = |allowed: bool| if allowed { Grant::Yes } else { Grant::No };
    match action {
        A::Admit | A::Remove | A::Mute | A::Observers => yes(hearing && court),
        A::Protect | A::Extend => yes(hearing && role == Role::Judge),
        A::End if hearing => yes(court),
        A::End => yes(role == Role::Officer),
        A::Caption => yes(court || role == Role::Interpreter),
        A::OpenConsultation if !hearing => Grant::No,
        A::OpenConsultation if court => Grant::Yes,
        A::OpenConsultation if role == Role::Counsel => Grant::WhenTakingPart,
        A::OpenConsultation => Grant::No,
        A::EndConsultation if hearing && court => Grant::Yes,
        A::EndConsultation => Grant::WhenTakingPart,
        A::SeeHiddenMembers | A::SeeProtectedNames => yes(court),
        A::EnterWithoutAdmission if kind.is_visit() => yes(role == Role::Officer),
        A::EnterWithoutAdmission => yes(court),
    }
}

/// Whether `role` may do `action` in a session of `kind`, where
/// `taking_part` says whether the participant is among those it concerns;
/// the refusal says who may.
pub fn check(
    role: Role,
    kind: SessionKind,
    action: LiveAction,
    taking_part: bool,
) -> Result<(), &'static str> {
    match grant(role, kind, action) {
        Grant::Yes => Ok(()),
        Grant::WhenTakingPart if taking_part => Ok(()),
        Grant::WhenTakingPart | Grant::No => Err(action.refusal(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LiveAction as A;
    use SessionKind as K;

    /// The whole table, written out: for each action and kind, the roles
    /// granted it (`+` whatever it concerns, `~` when taking part). Every
    /// role and kind not listed holds no grant.
    const TABLE: &[(LiveAction, SessionKind, &str)] = &[
        (A::Admit, K::CourtHearing, "+judge +clerk"),
        (A::Remove, K::CourtHearing, "+judge +clerk"),
        (A::Mute, K::CourtHearing, "+judge +clerk"),
        (A::Observers, K::CourtHearing, "+judge +clerk"),
        (A::Protect, K::CourtHearing, "+judge"),
        (A::Extend, K::CourtHearing, "+judge"),
        (A::End, K::CourtHearing, "+judge +clerk"),
        (A::End, K::SocialVisit, "+officer"),
        (A::End, K::LegalVisit, "+officer"),
        (A::End, K::Consultation, "+officer"),
        (
            A::OpenConsultation,
            K::CourtHearing,
            "+judge +clerk ~counsel",
        ),
        (A::EnterWithoutAdmission, K::SocialVisit, "+officer"),
        (A::EnterWithoutAdmission, K::LegalVisit, "+officer"),
        (A::EnterWithoutAdmission, K::CourtHearing, "+judge +clerk"),
        (A::EnterWithoutAdmission, K::Consultation, "+judge +clerk"),
        (
            A::EndConsultation,
            K::CourtHearing,
            "~detainee ~visitor ~counsel +judge +clerk ~prosecutor ~defendant ~interpreter ~witness ~observer ~officer",
        ),
    ];

    /// Rights that hold in every kind of session.
    const EVERYWHERE: &[(LiveAction, &str)] = &[
        (A::Caption, "+judge +clerk +interpreter"),
        (A::SeeHiddenMembers, "+judge +clerk"),
        (A::SeeProtectedNames, "+judge +clerk"),
    ];

    fn expected(action: LiveAction, kind: SessionKind, role: Role) -> Grant {
        let listed = TABLE
            .iter()
            .filter(|(a, k, _)| *a == action && *k == kind)
            .map(|(_, _, roles)| *roles)
            .chain(
                EVERYWHERE
                    .iter()
                    .filter(|(a, _)| *a == action)
                    .map(|(_, roles)| *roles),
            )
            .collect::<Vec<_>>()
            .join(" ");
        // Outside hearings, a consultation can only be ended by its own
        // members (there is no court to recall them).
        let listed = if action == A::EndConsultation && kind != K::CourtHearing {
            Role::ALL
                .iter()
                .map(|r| format!("~{}", r.as_str()))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            listed
        };
        let mut found = Grant::No;
        for word in listed.split_whitespace() {
            let (mark, name) = word.split_at(1);
            if name == role.as_str() {
                found = if mark == "+" {
                    Grant::Yes
                } else {
                    Grant::WhenTakingPart
                };
            }
        }
        found
    }

    #[test]
    fn the_rights_are_exactly_the_table() {
        for action in LiveAction::ALL {
            for kind in SessionKind::ALL {
                for role in Role::ALL {
                    assert_eq!(
                        grant(role, kind, action),
                        expected(action, kind, role),
                        "{role:?} / {action:?} in a {kind:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn no_receive_only_role_steers_anything_but_an_officer_on_visit_duty() {
        for action in LiveAction::ALL {
            for kind in SessionKind::ALL {
                assert_ne!(grant(Role::Observer, kind, action), Grant::Yes);
                let officer = grant(Role::Officer, kind, action) == Grant::Yes;
                let visit_duty = (action == A::End && kind != K::CourtHearing)
                    || (action == A::EnterWithoutAdmission && kind.is_visit());
                assert_eq!(officer, visit_duty, "{action:?} in a {kind:?}");
            }
        }
    }

    #[test]
    fn a_refusal_says_who_may_and_taking_part_counts_only_where_granted() {
        assert_eq!(
            check(Role::Witness, K::CourtHearing, A::Mute, false),
            Err("only the judge or clerk of a hearing can mute participants")
        );
        assert_eq!(
            check(Role::Counsel, K::SocialVisit, A::OpenConsultation, true),
            Err("consultations are part of hearings")
        );
        assert!(check(Role::Counsel, K::CourtHearing, A::OpenConsultation, true).is_ok());
        assert!(check(Role::Counsel, K::CourtHearing, A::OpenConsultation, false).is_err());
        assert!(check(Role::Defendant, K::CourtHearing, A::EndConsultation, true).is_ok());
        assert!(check(Role::Defendant, K::CourtHearing, A::EndConsultation, false).is_err());
        assert!(check(Role::Witness, K::CourtHearing, A::Admit, true).is_err());
        for action in LiveAction::ALL {
            for kind in SessionKind::ALL {
                assert!(!action.refusal(kind).is_empty());
            }
        }
    }
}
