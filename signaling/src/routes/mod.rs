//! HTTP routes under `/v1`, plus `/healthz`, `/metrics` and the landing page.

pub mod audit;
pub mod bookings;
pub mod facilities;
pub mod hearings;
pub mod people;
pub mod policy;
pub mod reviews;
pub mod sessions;
pub mod users;
pub mod webhooks;

use crate::app::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use axum::routing::{delete, get, post};

/// Longest free-text field (names, titles, relationships), in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest reason (ending or cancelling a session), in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Most rows a list endpoint returns.
pub const MAX_LIST: i64 = 500;

/// Trims and checks a required text field.
pub fn text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::BadRequest(format!("`{field}` must not be empty")));
    }
    if v.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "`{field}` is longer than {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(v)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/time", get(server_time))
        .route("/v1/me", get(users::me))
        .route("/v1/users", post(users::create).get(users::list))
        .route(
            "/v1/facilities",
            post(facilities::create).get(facilities::list),
        )
        .route("/v1/facilities/{id}", get(facilities::get_one))
        .route("/v1/facilities/{id}/devices", post(facilities::add_device))
        .route(
            "/v1/facilities/{id}/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route("/v1/webhooks/{id}", delete(webhooks::remove))
        .route(
            "/v1/webhooks/{id}/dead-letters",
            get(webhooks::dead_letters),
        )
        .route(
            "/v1/detainees",
            post(people::create_detainee).get(people::list_detainees),
        )
        .route("/v1/detainees/{id}", get(people::get_detainee))
        .route(
            "/v1/detainees/{id}/contacts",
            post(people::approve_contact).get(people::list_approved),
        )
        .route("/v1/detainees/{id}/credits", get(people::list_credits))
        .route(
            "/v1/detainees/{id}/contacts/{contact_id}",
            delete(people::revoke_contact),
        )
        .route("/v1/contacts", post(people::create_contact))
        .route("/v1/contacts/{id}", get(people::get_contact))
        .route("/v1/contacts/{id}/verify-bar", post(people::verify_bar))
        .route("/v1/bookings", post(bookings::create))
        .route("/v1/hearings", post(hearings::create))
        .route("/v1/sessions", get(sessions::list))
        .route("/v1/sessions/{id}", get(sessions::get_one))
        .route("/v1/sessions/{id}/policy", get(sessions::policy))
        .route("/v1/sessions/{id}/connections", get(sessions::connections))
        .route("/v1/sessions/{id}/cancel", post(sessions::cancel))
        .route("/v1/sessions/{id}/end", post(sessions::end))
        .route("/v1/sessions/{id}/monitor", post(sessions::monitor))
        .route(
            "/v1/sessions/{id}/participants/{participant_id}/join-token",
            post(sessions::join_token),
        )
        .route("/v1/sessions/{id}/ws", get(crate::live::ws::upgrade))
        .route("/v1/sessions/{id}/reviews", post(reviews::request))
        .route("/v1/sessions/{id}/reviews/mine", get(reviews::mine))
        .route("/v1/reviews", get(reviews::list))
        .route("/v1/reviews/{id}", get(reviews::get_one))
        .route("/v1/reviews/{id}/decision", post(reviews::decide))
        .route("/v1/policy/jurisdictions", get(policy::jurisdictions))
        .route("/v1/policy/explain", get(policy::explain))
        .route("/v1/audit", get(audit::list))
        .route("/v1/audit/verify", get(audit::verify))
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /openapi.json for the API".into())
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The service and its store answer")))]
pub async fn healthz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ok\n")
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text exposition")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The service's clock, so that clients count down in server time.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ServerTime {
    pub now: chrono::DateTime<chrono::Utc>,
}

#[utoipa::path(get, path = "/v1/time", responses((status = 200, description = "The service's current time; no authentication", body = ServerTime)))]
pub async fn server_time(State(state): State<AppState>) -> axum::Json<ServerTime> {
    axum::Json(ServerTime { now: state.now() })
}

async fn index(State(state): State<AppState>) -> Html<String> {
    let jurisdictions: Vec<String> = state
        .jurisdictions
        .iter()
        .map(|j| format!("<li><code>{}</code> — {}</li>", j.id, html_escape(&j.name)))
        .collect();
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Parley</title>
<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111}}code{{background:#eee;padding:0 .2em}}</style></head>
<body><h1>Parley signaling is running</h1>
<p>Secure video contact for people in custody: family visits, legal visits and court hearings.</p>
<h2>Web client</h2>
<ul><li>Participants open the join link they are given: <code>/join#token=…</code> (kiosks add <code>?kiosk=1</code>).</li>
<li><a href="/officer">Officer console</a>: the facility's sessions now, monitor and end visits.</li>
<li><a href="/review">Reviews</a>: reviewers decide the requests for review of decisions that ended someone's contact.</li>
<li>To try a visit at once, start with <code>parley demo</code>: it prints two join links to open in two browser windows.</li></ul>
<h2>Operators</h2>
<ul><li><a href="/openapi.json">API description (OpenAPI 3)</a></li><li><a href="/healthz">Health</a></li><li><a href="/metrics">Metrics</a></li></ul>
<h2>Jurisdictions loaded</h2><ul>{}</ul>
<p>The administrator's API token is in the data directory, file <code>admin-token</code>.</p></body></html>"#,
        jurisdictions.join("")
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
