//! The web client: plain HTML, CSS and ES modules compiled into the binary
//! (no build step, no CDN) and served from `/join`, `/officer` and `/web/*`.
//!
//! A join link is `/join#token=…`: the token stays in the URL fragment, which
//! browsers never send to a server, so it appears in no request line or log.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file: its name under `/web/`, media type and contents.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Every file of the web client.
const ASSETS: &[Asset] = &[
    Asset {
        name: "join.html",
        media_type: HTML,
        body: include_str!("../web/join.html"),
    },
    Asset {
        name: "officer.html",
        media_type: HTML,
        body: include_str!("../web/officer.html"),
    },
    Asset {
        name: "style.css",
        media_type: CSS,
        body: include_str!("../web/style.css"),
    },
    Asset {
        name: "i18n.js",
        media_type: JS,
        body: include_str!("../web/i18n.js"),
    },
    Asset {
        name: "clock.js",
        media_type: JS,
        body: include_str!("../web/clock.js"),
    },
    Asset {
        name: "e2ee.js",
        media_type: JS,
        body: include_str!("../web/e2ee.js"),
    },
    Asset {
        name: "e2ee_worker.js",
        media_type: JS,
        body: include_str!("../web/e2ee_worker.js"),
    },
    Asset {
        name: "sframe.js",
        media_type: JS,
        body: include_str!("../web/sframe.js"),
    },
    Asset {
        name: "live.js",
        media_type: JS,
        body: include_str!("../web/live.js"),
    },
    Asset {
        name: "media.js",
        media_type: JS,
        body: include_str!("../web/media.js"),
    },
    Asset {
        name: "dom.js",
        media_type: JS,
        body: include_str!("../web/dom.js"),
    },
    Asset {
        name: "tiles.js",
        media_type: JS,
        body: include_str!("../web/tiles.js"),
    },
    Asset {
        name: "controls.js",
        media_type: JS,
        body: include_str!("../web/controls.js"),
    },
    Asset {
        name: "review.js",
        media_type: JS,
        body: include_str!("../web/review.js"),
    },
    Asset {
        name: "join.js",
        media_type: JS,
        body: include_str!("../web/join.js"),
    },
    Asset {
        name: "reviewer.html",
        media_type: HTML,
        body: include_str!("../web/reviewer.html"),
    },
    Asset {
        name: "staff_api.js",
        media_type: JS,
        body: include_str!("../web/staff_api.js"),
    },
    Asset {
        name: "reviewer.js",
        media_type: JS,
        body: include_str!("../web/reviewer.js"),
    },
    Asset {
        name: "officer.js",
        media_type: JS,
        body: include_str!("../web/officer.js"),
    },
];

/// Scripts and styles only from this origin; WebSocket and API calls only to
/// it; camera frames and remote media as in-page streams.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; frame-ancestors 'none'; \
base-uri 'none'; form-action 'none'";

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file in the web client\n").into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.media_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn join_page() -> Response {
    serve("join.html")
}

async fn officer_page() -> Response {
    serve("officer.html")
}

async fn reviewer_page() -> Response {
    serve("reviewer.html")
}

async fn asset(Path(name): Path<String>) -> Response {
    serve(&name)
}

/// The pages and their files.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/join", get(join_page))
        .route("/officer", get(officer_page))
        .route("/review", get(reviewer_page))
        .route("/web/{name}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_names_only_embedded_files() {
        for page in ["join.html", "officer.html", "reviewer.html"] {
            let html = ASSETS.iter().find(|a| a.name == page).map(|a| a.body);
            let html = html.unwrap_or_else(|| panic!("{page} is embedded"));
            for part in html.split("/web/").skip(1) {
                let file: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(
                    ASSETS.iter().any(|a| a.name == file),
                    "{page} loads /web/{file}, which is not embedded"
                );
            }
        }
    }

    #[test]
    fn modules_import_only_embedded_files() {
        for a in ASSETS.iter().filter(|a| a.media_type == JS) {
            for part in a.body.split("from './").skip(1) {
                let file: String = part.chars().take_while(|c| *c != '\'').collect();
                assert!(
                    ASSETS.iter().any(|x| x.name == file),
                    "{} imports ./{file}, which is not embedded",
                    a.name
                );
            }
        }
    }

    #[test]
    fn unknown_files_are_not_found() {
        assert_eq!(serve("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("join.html").status(), StatusCode::OK);
    }
}
