//! The web client's files over HTTP: served from the binary with a strict
//! content security policy, and the server time the countdowns use.

use crate::harness::*;
use reqwest::StatusCode;

#[tokio::test]
async fn the_web_client_is_served_with_a_strict_policy() {
    let s = start().await;
    for (path, media_type) in [
        ("/join", "text/html"),
        ("/officer", "text/html"),
        ("/web/join.js", "text/javascript"),
        ("/web/style.css", "text/css"),
    ] {
        let r = s.fetch(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert!(header("content-type").starts_with(media_type), "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    }
    let missing = s.fetch("/web/secret.js").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let escape = s.fetch("/web/..%2FCargo.toml").await;
    assert_eq!(
        escape.status(),
        StatusCode::NOT_FOUND,
        "only embedded files"
    );
}

#[tokio::test]
async fn server_time_is_the_services_clock() {
    let s = start().await;
    let r = s.fetch("/v1/time").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.expect("json");
    let now: chrono::DateTime<chrono::Utc> = body["now"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time in {body}"));
    // The test clock is in 2030, not the machine's year.
    let drift = (now - s.now()).num_seconds().abs();
    assert!(drift <= 2, "{now} vs {}", s.now());
}
