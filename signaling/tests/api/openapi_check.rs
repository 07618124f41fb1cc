//! Every response the API tests receive through [`crate::harness::Server`]
//! is held against the OpenAPI document the service serves: the operation
//! must be documented, the status listed for it, and a JSON body valid
//! under the schema given for that status. A test that gets an undocumented
//! answer fails, naming the operation, the status and what did not match.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::OnceLock;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        use utoipa::OpenApi;
        serde_json::to_value(parley_signaling::openapi::ApiDoc::openapi()).expect("openapi as JSON")
    })
}

/// The documented path template that `path` (no query) matches.
fn template_for<'a>(paths: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    paths.keys().map(String::as_str).find(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s)
    })
}

/// Panics unless `(method, path)` is documented, lists `status`, and `body`
/// fits the schema documented for it.
pub fn check(method: &Method, path: &str, status: StatusCode, body: &Value) {
    let doc = document();
    let path = path.split('?').next().unwrap_or(path);
    let paths = doc["paths"].as_object().expect("paths");
    let Some(template) = template_for(paths, path) else {
        // A path the service does not have answers 404, as HTTP says.
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path} is not in /openapi.json, yet answered {status}: {body}"
        );
        return;
    };
    let operation = &paths[template][method.as_str().to_ascii_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {template} is not in /openapi.json"
    );
    let code = status.as_u16().to_string();
    let response = operation["responses"]
        .get(&code)
        .or_else(|| operation["responses"].get("default"))
        .unwrap_or_else(|| {
            panic!(
                "{method} {template} answered {status}, which /openapi.json does not list for it \
                 (it lists {:?}); body: {body}",
                operation["responses"]
                    .as_object()
                    .map(|r| r.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            )
        });
    let Some(schema) = response["content"]["application/json"].get("schema") else {
        return;
    };
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"].clone(),
        "allOf": [schema.clone()],
    });
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("the schema of {method} {template} {status} is broken: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: the body does not fit /openapi.json:\n  {}\nbody: {body}",
        errors.join("\n  ")
    );
}
