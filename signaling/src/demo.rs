//! Demo data for a newcomer: a prison in the `demo` jurisdiction with a
//! kiosk, a detainee, an approved visitor, a social visit starting now and
//! an officer, created through the service's own API (the same checks and
//! audit entries as any caller's), with the links to open.

use crate::app::{AppState, router};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The jurisdiction the demo books under: any hour, no lead time.
pub const JURISDICTION: &str = "demo";
/// Length of the demo visit.
pub const VISIT_MINUTES: i64 = 30;

/// What the demo created and the links to open.
#[derive(Debug, Clone)]
pub struct DemoVisit {
    pub session_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The family's join link (open in one browser window).
    pub family_link: String,
    /// The detainee's join link, in kiosk mode (open in another window).
    pub detainee_link: String,
    /// The officer console and the officer's API token to paste into it.
    pub officer_console: String,
    pub officer_token: String,
}

/// Why the demo could not be created.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "the `{JURISDICTION}` jurisdiction is not loaded; the demo needs config/jurisdictions/demo.toml"
    )]
    NoDemoJurisdiction,
    #[error("creating the demo {what} failed: {status} {message}")]
    Refused {
        what: &'static str,
        status: StatusCode,
        message: String,
    },
    #[error("the demo could not call the API: {0}")]
    Internal(String),
}

/// Calls the service's own router, as an HTTP client would.
async fn call(
    state: &AppState,
    token: &str,
    path: &str,
    body: Value,
    what: &'static str,
) -> Result<Value, DemoError> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .map_err(|e| DemoError::Internal(e.to_string()))?;
    let response = router(state.clone())
        .oneshot(request)
        .await
        .map_err(|e| DemoError::Internal(e.to_string()))?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(|e| DemoError::Internal(e.to_string()))?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(DemoError::Refused {
            what,
            status,
            message: value["message"].as_str().unwrap_or("").to_string(),
        });
    }
    Ok(value)
}

fn id(v: &Value, what: &'static str) -> Result<i64, DemoError> {
    v["id"]
        .as_i64()
        .ok_or_else(|| DemoError::Internal(format!("no id in the created {what}: {v}")))
}

fn participant(session: &Value, role: &str) -> Result<i64, DemoError> {
    session["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["role"] == role))
        .and_then(|p| p["id"].as_i64())
        .ok_or_else(|| DemoError::Internal(format!("no {role} in the demo visit")))
}

/// Creates the demo people and a visit starting within seconds, as the
/// administrator whose API token is `admin_token`; with `recorded`,
/// everyone in it consents to recording (so the demo jurisdiction records
/// it).
pub async fn seed(
    state: &AppState,
    admin_token: &str,
    recorded: bool,
) -> Result<DemoVisit, DemoError> {
    if state.jurisdictions.get(JURISDICTION).is_none() {
        return Err(DemoError::NoDemoJurisdiction);
    }
    let now = state.now();
    let t = admin_token;
    let facility = call(
        state,
        t,
        "/v1/facilities",
        json!({"name": "HMP Demo", "kind": "prison", "jurisdiction": JURISDICTION}),
        "facility",
    )
    .await?;
    let facility = id(&facility, "facility")?;
    let kiosk = call(
        state,
        t,
        &format!("/v1/facilities/{facility}/devices"),
        json!({"name": "Wing A kiosk", "kind": "kiosk"}),
        "kiosk",
    )
    .await?;
    let detainee = call(
        state,
        t,
        "/v1/detainees",
        json!({"facility_id": facility, "name": "Sam Doe", "number": format!("DEMO-{}", now.timestamp())}),
        "detainee",
    )
    .await?;
    let detainee = id(&detainee, "detainee")?;
    let visitor = call(
        state,
        t,
        "/v1/contacts",
        json!({"name": "Alex Doe"}),
        "visitor",
    )
    .await?;
    let visitor = id(&visitor, "visitor")?;
    call(
        state,
        t,
        &format!("/v1/detainees/{detainee}/contacts"),
        json!({"contact_id": visitor, "relationship": "sibling"}),
        "contact approval",
    )
    .await?;
    // Starts at the next whole second plus a little, so it is never in the past.
    let starts_at = now
        .duration_trunc(Duration::seconds(1))
        .map_err(|e| DemoError::Internal(e.to_string()))?
        + Duration::seconds(3);
    let ends_at = starts_at + Duration::minutes(VISIT_MINUTES);
    let visit = call(
        state,
        t,
        "/v1/bookings",
        json!({"kind": "social_visit", "detainee_id": detainee, "device_id": id(&kiosk, "kiosk")?,
               "starts_at": starts_at, "ends_at": ends_at,
               "visitors": [{"contact_id": visitor, "consents_to_recording": recorded}],
               "detainee_consents_to_recording": recorded}),
        "visit",
    )
    .await?;
    let session_id = id(&visit, "visit")?;
    let mut links = Vec::new();
    for role in ["visitor", "detainee"] {
        let pid = participant(&visit, role)?;
        let grant = call(
            state,
            t,
            &format!("/v1/sessions/{session_id}/participants/{pid}/join-token"),
            json!({}),
            "join token",
        )
        .await?;
        let token = grant["token"]
            .as_str()
            .ok_or_else(|| DemoError::Internal("no token in the join-token answer".into()))?;
        links.push(token.to_string());
    }
    let officer = call(
        state,
        t,
        "/v1/users",
        json!({"name": "Demo officer", "role": "officer", "facility_id": facility}),
        "officer",
    )
    .await?;
    let base = state.public_url.trim_end_matches('/');
    Ok(DemoVisit {
        session_id,
        starts_at,
        ends_at,
        family_link: format!("{base}/join#token={}", links[0]),
        detainee_link: format!("{base}/join?kiosk=1#token={}", links[1]),
        officer_console: format!("{base}/officer"),
        officer_token: officer["token"].as_str().unwrap_or("").to_string(),
    })
}
