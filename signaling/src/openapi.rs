//! The OpenAPI 3 description, generated from the handlers' annotations and
//! served at `/openapi.json`.

use crate::app::AppState;
use crate::routes;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "join_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A participant's join token (the `token` of their join link), good for this until 30 days after the session's scheduled end.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The answers every operation can give besides its own, added where the
/// operation's annotation does not list them already, so that the document
/// names every status the service really returns (the API tests check each
/// response against it):
/// - `401` on every operation that takes a token (missing, unknown or
///   revoked), `403` on those that check the caller's role (all but `/v1/me`);
/// - path parameters (every one is a whole-number id) declared, with `400`
///   for one that is not a number and `404` for one that names nothing;
/// - `400` (not JSON, wrong fields) and `413` (over 64 KiB) with a body;
/// - `500` everywhere: the store could not complete the request, and
///   nothing was changed; `503` everywhere: the store cannot write (a full
///   disk, read-only data), nothing was changed, and later may succeed.
struct StandardResponses;

/// Operations any authenticated caller may use: no `403`.
const ANY_CALLER: &[&str] = &["/v1/me"];

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn id_parameter(name: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("A whole-number id."))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
        ))
        .build()
}

fn complete(path: &str, op: &mut Operation) {
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        add(
            "401",
            "No API token, or one that is unknown or revoked (`unauthenticated`).",
        );
        if !ANY_CALLER.contains(&path) {
            add(
                "403",
                "The caller's role, facility or contact may not do this (`forbidden`); the message names who may.",
            );
        }
    }
    let names: Vec<&str> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    if !names.is_empty() {
        add("400", "A path id is not a whole number (`bad_request`).");
        add(
            "404",
            "No such resource, or not one the caller may see (`not_found`).",
        );
        let params = op.parameters.get_or_insert_with(Vec::new);
        for name in names {
            if !params
                .iter()
                .any(|p| p.name == name && p.parameter_in == ParameterIn::Path)
            {
                params.push(id_parameter(name));
            }
        }
    }
    let has_body = op
        .request_body
        .as_ref()
        .is_some_and(|b: &RequestBody| !b.content.is_empty());
    let has_query = op
        .parameters
        .as_ref()
        .is_some_and(|ps| ps.iter().any(|p| p.parameter_in == ParameterIn::Query));
    if has_body || has_query {
        add(
            "400",
            "The body or the query is malformed: not JSON, an unknown or missing field, a wrong type (`bad_request`); the message names the field.",
        );
    }
    if has_body {
        add("413", "The body is larger than 64 KiB (`too_large`).");
    }
    add(
        "500",
        "The store could not complete the request (`internal`); nothing was changed.",
    );
    add(
        "503",
        "The store cannot write: the server's disk is full or its data is read-only (`storage_unavailable`); nothing was changed. Try again later.",
    );
}

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(path, op);
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley signaling API", version = "1", description = "Bookings, hearings, admission, policy explanations and the audit log. Errors are JSON `{code, message}`. The live-session WebSocket protocol is documented in docs/protocol.md."),
    modifiers(&BearerAuth, &StandardResponses),
    paths(
        routes::healthz, routes::metrics, routes::server_time,
        routes::users::me, routes::users::create, routes::users::list,
        routes::facilities::create, routes::facilities::list, routes::facilities::get_one, routes::facilities::add_device,
        routes::people::create_detainee, routes::people::list_detainees, routes::people::get_detainee,
        routes::people::create_contact, routes::people::get_contact, routes::people::verify_bar,
        routes::people::approve_contact, routes::people::list_approved, routes::people::revoke_contact,
        routes::people::list_credits,
        routes::bookings::create, routes::hearings::create,
        routes::sessions::list, routes::sessions::get_one, routes::sessions::policy,
        routes::sessions::connections,
        routes::sessions::join_token, routes::sessions::monitor, routes::sessions::end, routes::sessions::cancel,
        routes::policy::jurisdictions, routes::policy::explain,
        routes::audit::list, routes::audit::verify,
        routes::reviews::request, routes::reviews::mine, routes::reviews::list,
        routes::reviews::get_one, routes::reviews::decide,
        routes::webhooks::create, routes::webhooks::list, routes::webhooks::remove,
        routes::webhooks::dead_letters,
    ),
    components(schemas(crate::webhooks::event::WebhookEvent)),
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("json")
    }

    /// Generated clients break on a path parameter that is not declared, or
    /// a query parameter declared as a path one.
    #[test]
    fn every_parameter_is_declared_where_it_is_read() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                let declared = |name: &str, place: &str| {
                    params.iter().any(|p| p["name"] == name && p["in"] == place)
                };
                for name in path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                {
                    assert!(
                        declared(name, "path"),
                        "{method} {path}: `{name}` undeclared"
                    );
                }
                for p in &params {
                    if p["in"] == "path" {
                        let name = p["name"].as_str().unwrap_or("");
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{method} {path}: `{name}` is declared in the path but is not in it"
                        );
                    }
                }
            }
        }
        let list = &doc["paths"]["/v1/detainees"]["get"]["parameters"];
        assert!(
            list.as_array().is_some_and(|ps| ps
                .iter()
                .any(|p| p["name"] == "facility_id" && p["in"] == "query")),
            "{list}"
        );
    }

    #[test]
    fn every_operation_that_takes_a_token_documents_401() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                if op.get("security").is_some() {
                    assert!(
                        op["responses"].get("401").is_some(),
                        "{method} {path} lists no 401"
                    );
                }
                if op.get("requestBody").is_some() {
                    assert!(
                        op["responses"].get("413").is_some(),
                        "{method} {path} lists no 413"
                    );
                }
            }
        }
    }
}
