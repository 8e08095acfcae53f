//! Server-rendered web pages for people: sign-in, the incident list and the incident page.
//!
//! Every page is HTML built with maud, which escapes each interpolated value: alert text
//! (titles, labels, annotations, notes) comes from outside and always renders as text.
//! Pages work without JavaScript; `/assets/app.js` only adds the live timeline. Every
//! answer of these routes carries a strict Content-Security-Policy (no inline script or
//! style anywhere), so markup must never use `<script>`, `<style>` or `style=`.
//!
//! Reuse for new pages: [`PageCaller`] (the session extractor, redirecting to sign-in),
//! [`session::SameOrigin`] (the CSRF check every form POST takes), [`Page`] and [`PageError`] (a
//! page or an error page, put in the frame by [`PageCaller::render`] or [`layout`]).

mod assets;
mod chart;
mod dashboard;
mod format;
mod incidents;
mod postmortem;
mod session;

use aftermath_store::TokenInfo;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};

use crate::{ApiError, AppState};

pub(crate) use session::PageCaller;

/// The Content-Security-Policy of every page: only this origin's files, no inline code.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
    style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// The page routes, with the security headers on each of their answers.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(session::root))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", axum::routing::post(session::logout))
        .route("/dashboard", get(dashboard::show))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::show))
        .route("/incidents/{id}/postmortem", get(postmortem::show))
        .route(
            "/incidents/{id}/postmortem/markdown",
            get(postmortem::markdown),
        )
        .route(
            "/incidents/{id}/postmortem/sections/{key}",
            axum::routing::post(postmortem::edit_section),
        )
        .route(
            "/incidents/{id}/postmortem/publish",
            axum::routing::post(postmortem::publish),
        )
        .route(
            "/incidents/{id}/postmortem/revisions/{n}",
            get(postmortem::revision),
        )
        .route(
            "/incidents/{id}/postmortem/revisions/{n}/markdown",
            get(postmortem::revision_markdown),
        )
        .route("/assets/app.css", get(assets::stylesheet))
        .route("/assets/app.js", get(assets::script))
        .layer(axum::middleware::from_fn(security_headers))
}

/// Middleware: the headers that keep pages from running injected code, being sniffed
/// as another type, framed, or leaking their URL (incident ids) to other sites.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}

/// A page's content, before it is put in the frame.
pub(crate) struct Page {
    /// The `<title>` before " · Aftermath".
    pub(crate) title: String,
    /// What goes into `<main>`.
    pub(crate) main: Markup,
}

/// The whole document: `<head>`, the header with the navigation and who is signed in
/// (with the sign-out form), and `main`. `viewer` is `None` on the sign-in page and on
/// error pages answered before the session was known.
pub(crate) fn layout(title: &str, viewer: Option<&TokenInfo>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Aftermath" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.site-header {
                    a.brand href="/dashboard" { "Aftermath" }
                    nav aria-label="Main" {
                        a #nav-dashboard href="/dashboard" { "Dashboard" }
                        a #nav-incidents href="/incidents" { "Incidents" }
                    }
                    @if let Some(viewer) = viewer {
                        p.viewer { "signed in as " strong #viewer-name { (viewer.name) } }
                        form #logout method="post" action="/logout" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #content { (main) }
            }
        }
    }
}

/// An HTML answer with `status`.
pub(crate) fn html_response(status: StatusCode, document: Markup) -> Response {
    (status, Html(document.into_string())).into_response()
}

/// An error answered as an HTML page (never JSON on page routes), with the status code.
#[derive(Debug)]
pub(crate) struct PageError {
    pub(crate) status: StatusCode,
    /// What was wrong, for a person.
    pub(crate) detail: String,
}

impl PageError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// The error page in the frame for `viewer`.
    pub(crate) fn render(self, viewer: Option<&TokenInfo>) -> Response {
        if self.status.is_client_error() {
            tracing::info!(status = self.status.as_u16(), detail = %self.detail, "page refused");
        }
        let heading = self.status.canonical_reason().unwrap_or("Error");
        let main = html! {
            h1 #error-title { (self.status.as_u16()) " " (heading) }
            p #error-detail { (self.detail) }
            p { a href="/incidents" { "Back to the incidents" } }
        };
        let mut response = html_response(self.status, layout(heading, viewer, main));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The API's checks and lookups answer [`ApiError`]s; pages show the same words.
impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self::new(error.status, error.detail)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.render(None)
    }
}
