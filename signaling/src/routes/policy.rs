//! Policy explanations: why a kind of session is or is not recorded.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use axum::Json;
use axum::extract::State;
use parley_policy::{Decision, Jurisdiction, Participant, Role, SessionKind, decide};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    pub jurisdiction: String,
    #[param(value_type = String)]
    pub kind: SessionKind,
    /// Assume every participant consented to recording (default false).
    pub consent: Option<bool>,
}

#[utoipa::path(get, path = "/v1/policy/jurisdictions", security(("bearer" = [])),
    responses((status = 200, description = "Every loaded jurisdiction", body = Vec<Object>)))]
pub async fn jurisdictions(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<Vec<Jurisdiction>> {
    Json(state.jurisdictions.iter().cloned().collect())
}

#[utoipa::path(get, path = "/v1/policy/explain", params(ExplainQuery), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn explain(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<ExplainQuery>,
) -> ApiResult<Json<Decision>> {
    let j = state.jurisdictions.get(&q.jurisdiction).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no jurisdiction `{}`; loaded: {}",
            q.jurisdiction,
            state.jurisdictions.ids().join(", ")
        ))
    })?;
    let consent = q.consent.unwrap_or(false);
    let participants = [Role::Detainee, Role::Visitor].map(|role| Participant {
        role,
        consented_to_recording: consent,
    });
    Ok(Json(decide(j, q.kind, &participants, state.now())))
}
