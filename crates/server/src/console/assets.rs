//! The console's files, embedded at build time, each also gzip-compressed. Served without
//! authentication (they hold no data: everything the page shows comes from the API), with a
//! Content-Security-Policy that allows only this origin's script, style and connections.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file.
struct Asset {
    content_type: &'static str,
    body: &'static [u8],
    gzip: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            content_type: $type,
            body: include_bytes!(concat!(env!("OUT_DIR"), "/console/", $name)),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/console/", $name, ".gz")),
        }
    };
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
static SCRIPT: Asset = asset!("app.js", "text/javascript; charset=utf-8");
static STYLE: Asset = asset!("style.css", "text/css; charset=utf-8");

/// No inline script and no `eval`, nothing from another origin, no framing, no plugins, forms
/// only to this origin. `connect-src 'self'` covers the API and the terminal's `wss:`.
/// Inline style is allowed: xterm.js writes its theme and cell sizes as `<style>` elements it
/// makes at run time (no hash or nonce can name them), and the page shows no HTML from
/// anyone (text goes in as text), so there is no markup to inject a style into.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The routes of the console's files: `/` (and any path the page routes itself, under
/// `/console/`) is the page, `/assets/...` its script and style.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { serve(&INDEX, &h) }))
        .route(
            "/assets/app.js",
            get(|h: HeaderMap| async move { serve(&SCRIPT, &h) }),
        )
        .route(
            "/assets/style.css",
            get(|h: HeaderMap| async move { serve(&STYLE, &h) }),
        )
}

/// The strong validator of the files: a hash of the script and style, which change together.
fn etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        let mut all = Vec::new();
        for a in [&INDEX, &SCRIPT, &STYLE] {
            all.extend_from_slice(a.body);
        }
        format!("\"{}\"", &hex::encode(crate::secrets::sha256(&all))[..16])
    })
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let tag = etag();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // Revalidated on every load (a cheap 304): a new wicketd's console is never mixed with an
    // old one's cached script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, v);
    }
    security_headers(&mut headers);
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let gzip = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        (headers, asset.gzip).into_response()
    } else {
        (headers, asset.body).into_response()
    }
}

/// The headers every console file carries.
fn security_headers(headers: &mut HeaderMap) {
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_script_and_style() {
        let page = std::str::from_utf8(INDEX.body).expect("the page is UTF-8");
        assert!(page.contains(r#"src="/assets/app.js""#), "{page}");
        assert!(page.contains(r#"href="/assets/style.css""#), "{page}");
        // The policy forbids inline script; the page must not need any.
        assert!(!page.contains("<script>"), "inline script in {page}");
        assert!(!page.contains("style="), "inline style in {page}");
    }

    #[test]
    fn a_browser_that_has_the_files_gets_304_and_gzip_when_it_asks() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip"),
        );
        let r = serve(&SCRIPT, &h);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(etag()).unwrap(),
        );
        assert_eq!(serve(&SCRIPT, &h).status(), StatusCode::NOT_MODIFIED);
        assert!(SCRIPT.gzip.len() < SCRIPT.body.len());
    }
}
