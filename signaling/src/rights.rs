//! Every right an API account's role gives, in one place: which
//! [`CallerRole`] may do what through the HTTP API. The handlers ask here
//! ([`crate::auth::Caller::require`]) and write no role list of their own;
//! the table is tested whole. A participant's rights inside a live session
//! (by their role in it) are the other table, `parley_policy::rights`.
//!
//! Beyond the role, some rights narrow to the caller's own scope, checked
//! where the data is: an officer acts for their own facility only, a
//! visitor books and joins only visits they take part in, judges and clerks
//! see hearings only.

use crate::model::CallerRole;
use parley_policy::SessionKind;

/// Something an API caller asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiAction {
    CreateFacilities,
    ListFacilities,
    ViewFacilities,
    RegisterDevices,
    RegisterDetainees,
    ListDetainees,
    ViewDetainees,
    RegisterContacts,
    ViewContacts,
    VerifyBarNumbers,
    ApproveContacts,
    ViewApprovedContacts,
    RevokeContacts,
    BookVisits,
    ScheduleHearings,
    /// How each participant's media connection fares in a live session.
    SeeConnections,
    /// Join a visit as a hidden monitor.
    MonitorSessions,
    ReadAuditLog,
    VerifyAuditLog,
    CreateUsers,
    ListUsers,
    /// See the requests for review of decisions (with the sessions' audit
    /// trail) and decide them.
    ReviewDecisions,
    /// Add, list and remove a facility's webhooks for case systems.
    ManageWebhooks,
    /// End a live session of this kind for everyone.
    End(SessionKind),
    /// Cancel a session of this kind before it starts.
    Cancel(SessionKind),
}

impl ApiAction {
    /// Every action, each kind of session for those that depend on it.
    pub fn all() -> Vec<ApiAction> {
        use ApiAction as A;
        let mut all = vec![
            A::CreateFacilities,
            A::ListFacilities,
            A::ViewFacilities,
            A::RegisterDevices,
            A::RegisterDetainees,
            A::ListDetainees,
            A::ViewDetainees,
            A::RegisterContacts,
            A::ViewContacts,
            A::VerifyBarNumbers,
            A::ApproveContacts,
            A::ViewApprovedContacts,
            A::RevokeContacts,
            A::BookVisits,
            A::ScheduleHearings,
            A::SeeConnections,
            A::MonitorSessions,
            A::ReadAuditLog,
            A::VerifyAuditLog,
            A::CreateUsers,
            A::ListUsers,
            A::ReviewDecisions,
            A::ManageWebhooks,
        ];
        for kind in SessionKind::ALL {
            all.push(A::End(kind));
            all.push(A::Cancel(kind));
        }
        all
    }

    /// What the action is, after "may not": `create facilities`.
    pub fn describe(self) -> String {
        use ApiAction as A;
        match self {
            A::CreateFacilities => "create facilities".into(),
            A::ListFacilities => "list facilities".into(),
            A::ViewFacilities => "view facilities".into(),
            A::RegisterDevices => "register devices".into(),
            A::RegisterDetainees => "register detainees".into(),
            A::ListDetainees => "list detainees".into(),
            A::ViewDetainees => "view detainees".into(),
            A::RegisterContacts => "register contacts".into(),
            A::ViewContacts => "view contacts".into(),
            A::VerifyBarNumbers => "verify bar numbers".into(),
            A::ApproveContacts => "approve contacts".into(),
            A::ViewApprovedContacts => "view approved contacts".into(),
            A::RevokeContacts => "revoke contacts".into(),
            A::BookVisits => "book visits".into(),
            A::ScheduleHearings => "schedule hearings".into(),
            A::SeeConnections => "see how connections fare".into(),
            A::MonitorSessions => "monitor sessions".into(),
            A::ReadAuditLog => "read the audit log".into(),
            A::VerifyAuditLog => "verify the audit log".into(),
            A::CreateUsers => "create API users".into(),
            A::ListUsers => "list API users".into(),
            A::ReviewDecisions => "review decisions".into(),
            A::ManageWebhooks => "manage webhooks".into(),
            A::End(kind) => format!("end a {}", kind.label()),
            A::Cancel(kind) => format!("cancel a {}", kind.label()),
        }
    }
}

/// Whether `role` may do `action` (within its own scope).
pub fn allowed(role: CallerRole, action: ApiAction) -> bool {
    use ApiAction as A;
    use CallerRole as R;
    let hearing = |kind: SessionKind| kind == SessionKind::CourtHearing;
    match action {
        A::CreateFacilities
        | A::RegisterDevices
        | A::VerifyBarNumbers
        | A::VerifyAuditLog
        | A::CreateUsers
        | A::ListUsers
        | A::ManageWebhooks => role == R::Admin,
        A::ListFacilities | A::ViewFacilities => !matches!(role, R::Visitor | R::Reviewer),
        A::RegisterDetainees | A::RegisterContacts => {
            matches!(role, R::Admin | R::Scheduler | R::Officer)
        }
        A::ListDetainees | A::ViewDetainees | A::ViewContacts | A::ViewApprovedContacts => {
            !matches!(role, R::Visitor | R::Reviewer)
        }
        A::ReviewDecisions => matches!(role, R::Admin | R::Reviewer),
        A::ApproveContacts | A::RevokeContacts => matches!(role, R::Admin | R::Officer),
        A::BookVisits => matches!(role, R::Admin | R::Scheduler | R::Officer | R::Visitor),
        A::ScheduleHearings => matches!(role, R::Admin | R::Scheduler | R::Clerk | R::Judge),
        A::SeeConnections => matches!(role, R::Admin | R::Officer | R::Clerk | R::Judge),
        A::MonitorSessions => role == R::Officer,
        A::ReadAuditLog => matches!(role, R::Admin | R::Judge | R::Clerk),
        A::End(kind) => match role {
            R::Admin => true,
            R::Officer => kind == SessionKind::SocialVisit,
            R::Judge | R::Clerk => hearing(kind),
            R::Scheduler | R::Visitor | R::Reviewer => false,
        },
        A::Cancel(kind) => match role {
            R::Admin | R::Scheduler => true,
            R::Visitor | R::Officer => kind.is_visit(),
            R::Judge | R::Clerk => hearing(kind),
            R::Reviewer => false,
        },
    }
}

/// The roles that may do `action`, in [`CallerRole::ALL`] order.
pub fn who_may(action: ApiAction) -> Vec<CallerRole> {
    CallerRole::ALL
        .into_iter()
        .filter(|r| allowed(*r, action))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApiAction as A;
    use SessionKind as K;

    /// The whole table, written out: the roles that may do each action.
    fn expected(action: ApiAction) -> &'static str {
        match action {
            A::CreateFacilities => "admin",
            A::ListFacilities | A::ViewFacilities => "admin scheduler officer clerk judge",
            A::RegisterDevices => "admin",
            A::RegisterDetainees | A::RegisterContacts => "admin scheduler officer",
            A::ListDetainees | A::ViewDetainees | A::ViewContacts | A::ViewApprovedContacts => {
                "admin scheduler officer clerk judge"
            }
            A::VerifyBarNumbers => "admin",
            A::ApproveContacts | A::RevokeContacts => "admin officer",
            A::BookVisits => "admin scheduler officer visitor",
            A::ScheduleHearings => "admin scheduler clerk judge",
            A::SeeConnections => "admin officer clerk judge",
            A::MonitorSessions => "officer",
            A::ReadAuditLog => "admin clerk judge",
            A::VerifyAuditLog | A::CreateUsers | A::ListUsers | A::ManageWebhooks => "admin",
            A::ReviewDecisions => "admin reviewer",
            A::End(K::SocialVisit) => "admin officer",
            A::End(K::CourtHearing) => "admin clerk judge",
            A::End(K::LegalVisit | K::Consultation) => "admin",
            A::Cancel(K::SocialVisit | K::LegalVisit) => "admin scheduler officer visitor",
            A::Cancel(K::CourtHearing) => "admin scheduler clerk judge",
            A::Cancel(K::Consultation) => "admin scheduler",
        }
    }

    #[test]
    fn the_rights_are_exactly_the_table() {
        for action in ApiAction::all() {
            let got: Vec<&str> = who_may(action).iter().map(|r| r.as_str()).collect();
            let want: Vec<&str> = expected(action).split_whitespace().collect();
            let mut want_in_order = want.clone();
            want_in_order.sort_by_key(|name| {
                CallerRole::ALL
                    .iter()
                    .position(|r| r.as_str() == *name)
                    .expect("a role name")
            });
            assert_eq!(got, want_in_order, "{action:?}");
        }
    }

    #[test]
    fn a_visitor_only_books_and_cancels_visits_and_only_an_admin_manages_accounts() {
        for action in ApiAction::all() {
            let visitor = allowed(CallerRole::Visitor, action);
            let visit_booking = matches!(action, A::BookVisits)
                || matches!(action, A::Cancel(kind) if kind.is_visit());
            assert_eq!(visitor, visit_booking, "{action:?}");
        }
        for action in [A::CreateUsers, A::ListUsers, A::VerifyAuditLog] {
            assert_eq!(who_may(action), [CallerRole::Admin]);
        }
    }
}
