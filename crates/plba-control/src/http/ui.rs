//! The console's files, embedded in the binary: a page, a script and a style sheet written
//! by hand, so nothing is fetched from elsewhere and no front-end toolchain is needed. They
//! hold no data (the page asks for a session itself), so anyone may fetch them.

use axum::body::Body;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, Response};

use super::routes::RouteTable;

/// Adds the console's routes.
pub(super) fn routes(table: RouteTable) -> RouteTable {
    table
        .get("/ui", page)
        .get("/ui/app.js", script)
        .get("/ui/app.css", style)
}

async fn page() -> Response<Body> {
    let mut response = file(
        "text/html; charset=utf-8",
        include_str!("../../ui/index.html"),
    );
    // The console: its own files only, never framed (every answer is also never sniffed).
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    response
}

async fn script() -> Response<Body> {
    file(
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    )
}

async fn style() -> Response<Body> {
    file("text/css; charset=utf-8", include_str!("../../ui/app.css"))
}

fn file(content_type: &'static str, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
