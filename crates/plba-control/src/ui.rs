//! The console's files, embedded in the binary: a page, a script and a style sheet written
//! by hand, so nothing is fetched from elsewhere and no front-end toolchain is needed.

use crate::service::Action;

/// The embedded file `name` as the action that serves it.
pub(crate) fn asset(name: &str) -> Action {
    let (content_type, text) = match name {
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../ui/app.js"),
        ),
        "app.css" => ("text/css; charset=utf-8", include_str!("../ui/app.css")),
        _ => ("text/html; charset=utf-8", include_str!("../ui/index.html")),
    };
    Action::UiAsset { content_type, text }
}
