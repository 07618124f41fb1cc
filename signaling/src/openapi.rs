//! The OpenAPI 3 description, generated from the handlers' annotations and
//! served at `/openapi.json`.

use crate::app::AppState;
use crate::routes;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley signaling API", version = "1", description = "Bookings, hearings, admission, policy explanations and the audit log. Errors are JSON `{code, message}`. The live-session WebSocket protocol is documented in docs/protocol.md."),
    modifiers(&BearerAuth),
    paths(
        routes::healthz, routes::metrics, routes::server_time,
        routes::users::me, routes::users::create, routes::users::list,
        routes::facilities::create, routes::facilities::list, routes::facilities::get_one, routes::facilities::add_device,
        routes::people::create_detainee, routes::people::list_detainees, routes::people::get_detainee,
        routes::people::create_contact, routes::people::get_contact, routes::people::verify_bar,
        routes::people::approve_contact, routes::people::list_approved, routes::people::revoke_contact,
        routes::bookings::create, routes::hearings::create,
        routes::sessions::list, routes::sessions::get_one, routes::sessions::policy,
        routes::sessions::join_token, routes::sessions::monitor, routes::sessions::end, routes::sessions::cancel,
        routes::policy::jurisdictions, routes::policy::explain,
        routes::audit::list, routes::audit::verify,
    ),
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
