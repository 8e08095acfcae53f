//! The pages' static files, built into the binary: the stylesheet (ours, then the
//! post-mortem's, with print styles) and the optional script.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;

/// Browsers may reuse an asset this long without asking again; short, because the URLs
/// carry no version and a new release should show within minutes.
const ASSET_CACHE_CONTROL: &str = "public, max-age=300";

/// Our styles first, then the post-mortem's, which the post-mortem page embeds.
static STYLESHEET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\n/* Post-mortem documents */\n{}\n",
        include_str!("../../assets/app.css"),
        aftermath_core::POSTMORTEM_CSS
    )
});

const SCRIPT: &str = include_str!("../../assets/app.js");

/// `GET /assets/app.css`
pub(crate) async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE_CONTROL),
        ],
        STYLESHEET.as_str(),
    )
}

/// `GET /assets/app.js`
pub(crate) async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE_CONTROL),
        ],
        SCRIPT,
    )
}
