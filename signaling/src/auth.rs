//! Who is calling: bearer-token authentication and the role checks every
//! handler applies before it reads or changes anything.

use crate::app::AppState;
use crate::error::ApiError;
use crate::model::{ApiUser, CallerRole, Session};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiUser);

impl Caller {
    pub fn role(&self) -> CallerRole {
        self.0.role
    }

    /// How the caller appears in the audit log.
    pub fn actor(&self) -> String {
        format!("{}:{}:{}", self.0.role.as_str(), self.0.id, self.0.name)
    }

    /// Whether the caller's role may do `action` ([`crate::rights`]); the
    /// refusal names the roles that may.
    pub fn require(&self, action: crate::rights::ApiAction) -> Result<(), ApiError> {
        if crate::rights::allowed(self.0.role, action) {
            Ok(())
        } else {
            let roles = crate::rights::who_may(action);
            let action = action.describe();
            let role = self.0.role.as_str();
            let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            Err(ApiError::Forbidden(format!(
                "{article} {role} may not {action}; this needs one of: {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    /// Officers and reviewers act only for their own facility.
    pub fn require_facility(&self, facility_id: i64) -> Result<(), ApiError> {
        let role = self.0.role;
        match (role.has_facility(), self.0.facility_id) {
            (true, Some(own)) if own != facility_id => Err(ApiError::Forbidden(format!(
                "{}s act only for their own facility ({own}), not facility {facility_id}",
                role.as_str()
            ))),
            (true, None) => Err(ApiError::Forbidden(format!(
                "this {} account is not attached to a facility; ask an administrator",
                role.as_str()
            ))),
            _ => Ok(()),
        }
    }

    /// Whether the caller may see `session` at all. Visitors see only
    /// sessions they take part in; officers only their facility's; judges
    /// and clerks only hearings (data minimisation: a court has no business
    /// with a family's visits).
    pub fn may_view(&self, session: &Session) -> bool {
        match self.0.role {
            CallerRole::Admin | CallerRole::Scheduler => true,
            CallerRole::Clerk | CallerRole::Judge => {
                session.kind == parley_policy::SessionKind::CourtHearing
            }
            CallerRole::Officer => self.0.facility_id == Some(session.facility_id),
            // A reviewer sees a session through the reviews asked about it.
            CallerRole::Reviewer => false,
            CallerRole::Visitor => self
                .0
                .contact_id
                .is_some_and(|c| session.participants.iter().any(|p| p.contact_id == Some(c))),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header, trimmed; the
/// refusal says to send `what` (e.g. "your API token") that way.
pub fn bearer<'a>(headers: &'a axum::http::HeaderMap, what: &str) -> Result<&'a str, ApiError> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthenticated(format!("send {what} as `Authorization: Bearer <token>`"))
        })?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("the Authorization header is not text".into()))?;
    header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("the Authorization header must be `Bearer <token>`".into())
        })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers, "your API token")?;
        if token.len() > 256 {
            return Err(ApiError::Unauthenticated(
                "the API token is not valid".into(),
            ));
        }
        match state.store.read().user_by_token(token).await? {
            Some(user) => Ok(Caller(user)),
            None => Err(ApiError::Unauthenticated(
                "the API token is not valid; ask an administrator for a new one".into(),
            )),
        }
    }
}
