//! Browser sessions: signing in with an API token (kept in an HttpOnly cookie), signing
//! out, the extractor that turns the cookie back into the caller, and the CSRF check of
//! form POSTs.

use aftermath_store::{Scope, TokenInfo};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::format::percent_encode;
use super::{html_response, layout, Page, PageError};
use crate::AppState;

/// The cookie holding the signed-in token's secret.
const SESSION_COOKIE: &str = "aftermath_session";

/// Where a sign-in goes when it was not sent from somewhere else (or `next` is unsafe).
const DEFAULT_LANDING: &str = "/dashboard";

/// The signed-in caller of a page: a token with the `read` scope, from the session
/// cookie. Without a valid session the request is redirected (303) to
/// `/login?next=<this page>`, so the person comes back here after signing in.
pub(crate) struct PageCaller(pub(crate) TokenInfo);

impl PageCaller {
    /// Puts `page` (or the error page) in the frame for this caller.
    pub(crate) fn render(&self, page: Result<Page, PageError>) -> Response {
        match page {
            Ok(page) => html_response(
                StatusCode::OK,
                layout(&page.title, Some(&self.0), page.main),
            ),
            Err(error) => error.render(Some(&self.0)),
        }
    }
}

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match signed_in(&parts.headers, state).await {
            Ok(Some(token)) => Ok(PageCaller(token)),
            Ok(None) => Err(redirect_to_login(parts).into_response()),
            Err(error) => Err(error.into_response()),
        }
    }
}

/// `/login?next=…` back to the requested page. Only a GET (or HEAD) can be repeated
/// after signing in; anything else lands on the default page.
fn redirect_to_login(parts: &Parts) -> Redirect {
    let repeatable = parts.method == Method::GET || parts.method == Method::HEAD;
    match parts.uri.path_and_query() {
        Some(target) if repeatable => {
            Redirect::to(&format!("/login?next={}", percent_encode(target.as_str())))
        }
        _ => Redirect::to("/login"),
    }
}

/// The token of the session cookie, when it is present, known, not revoked and may read.
async fn signed_in(headers: &HeaderMap, state: &AppState) -> Result<Option<TokenInfo>, PageError> {
    let Some(secret) = session_secret(headers) else {
        return Ok(None);
    };
    match authenticate(state, &secret).await? {
        Ok(token) => Ok(Some(token)),
        Err(_) => Ok(None),
    }
}

/// Why a token may not sign in.
enum SignInRefusal {
    Unknown,
    CannotRead(String),
}

/// Looks the secret up the way the API's bearer extractor does, and requires `read`.
async fn authenticate(
    state: &AppState,
    secret: &str,
) -> Result<Result<TokenInfo, SignInRefusal>, PageError> {
    match state.store.authenticate(secret).await {
        Ok(Some(token)) if token.has(Scope::Read) => Ok(Ok(token)),
        Ok(Some(token)) => Ok(Err(SignInRefusal::CannotRead(token.name))),
        Ok(None) => Ok(Err(SignInRefusal::Unknown)),
        Err(error) => Err(crate::ApiError::internal("token lookup", error).into()),
    }
}

/// The value of the session cookie, from any `Cookie` header.
fn session_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Proof that a form POST comes from one of our own pages: the CSRF defence of every
/// state-changing page request, together with the session cookie's `SameSite=Strict`
/// (which already keeps browsers from sending it on cross-site requests). The check
/// refuses with 403 a request whose `Sec-Fetch-Site` says `cross-site`, or whose `Origin`
/// is present and names another host than `Host`. Requests with neither header (older
/// browsers, scripts) pass: SameSite keeps the cookie from them when they are cross-site.
pub(crate) struct SameOrigin;

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        let refused = |why: &str| {
            PageError::new(
                StatusCode::FORBIDDEN,
                format!("{why}; submit the form from this site's own pages"),
            )
        };
        let header_text =
            |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        if header_text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
            return Err(refused("the browser reports a cross-site request"));
        }
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            let origin_host = origin
                .to_str()
                .ok()
                .and_then(|origin| origin.split_once("://"))
                .map(|(_, authority)| authority);
            let host = header_text(header::HOST);
            let same = matches!((origin_host, host), (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host));
            if !same {
                return Err(refused("the request comes from another origin"));
            }
        }
        Ok(SameOrigin)
    }
}

/// `next` when it is a path on this site, else the default landing page. A path must
/// start with one `/` (`//host` is another site) and hold only visible ASCII without `\`:
/// browsers read `/\host` as `//host` and drop tabs and newlines, which would turn a
/// harmless-looking path into another site.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path
                    .bytes()
                    .all(|byte| byte.is_ascii_graphic() && byte != b'\\') =>
        {
            path
        }
        _ => DEFAULT_LANDING,
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// The sign-in form, with an error message after a refused attempt.
fn login_page(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let main: Markup = html! {
        h1 { "Sign in" }
        p { "Sign in with an API token that has the " code { "read" } " scope "
            "(" code { "aftermath token create --name NAME --scopes read" } ")." }
        @if let Some(error) = error {
            p #login-error role="alert" { (error) }
        }
        form #login method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="current-password"
                required autofocus;
            button #sign-in type="submit" { "Sign in" }
        }
    };
    html_response(status, layout("Sign in", None, main))
}

/// `GET /login?next=/path`
pub(crate) async fn login_form(query: Result<Query<LoginQuery>, QueryRejection>) -> Response {
    let next = query.ok().and_then(|Query(query)| query.next);
    login_page(StatusCode::OK, local_path(next.as_deref()), None)
}

/// `POST /login` (form: `token`, `next`): sets the session cookie and goes to `next`.
pub(crate) async fn login(
    State(state): State<AppState>,
    _same_origin: SameOrigin,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(form) => form,
        Err(rejection) => {
            return PageError::bad_request(format!("unreadable sign-in form: {rejection}"))
                .into_response()
        }
    };
    let next = local_path(form.next.as_deref());
    let secret = form.token.trim();
    if secret.is_empty() {
        return login_page(
            StatusCode::BAD_REQUEST,
            next,
            Some("Enter an API token to sign in."),
        );
    }
    let refusal = match authenticate(&state, secret).await {
        Err(error) => return error.into_response(),
        Ok(Ok(token)) => {
            tracing::info!(token = %token.name, "signed in to the web pages");
            return signed_in_redirect(next, secret, &headers);
        }
        Ok(Err(refusal)) => refusal,
    };
    // The reason, never the token: it is a secret even when wrong (a typo of a real one).
    let message = match refusal {
        SignInRefusal::Unknown => "That token is unknown or has been revoked.".to_owned(),
        SignInRefusal::CannotRead(name) => format!(
            "Token {name:?} lacks the read scope; sign in with a token that may read incidents."
        ),
    };
    login_page(StatusCode::UNAUTHORIZED, next, Some(&message))
}

/// 303 to `next`, setting the session cookie. The cookie is `HttpOnly` (no script reads
/// the token) and `SameSite=Strict` (never sent on requests from other sites); `Secure`
/// is added when a TLS-terminating proxy says the page was served over HTTPS.
fn signed_in_redirect(next: &str, secret: &str, headers: &HeaderMap) -> Response {
    let over_https = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if over_https { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/{secure}");
    match HeaderValue::from_str(&cookie) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response(),
        // Only a secret with characters no token has gets here; it cannot be a cookie.
        Err(_) => login_page(
            StatusCode::UNAUTHORIZED,
            next,
            Some("That token is unknown or has been revoked."),
        ),
    }
}

/// `POST /logout`: clears the session cookie and goes to the sign-in page.
pub(crate) async fn logout(_same_origin: SameOrigin) -> Response {
    let cleared = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    (
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cleared).expect("a constant cookie is a valid header"),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

/// `GET /`: the dashboard when signed in, else the sign-in page.
pub(crate) async fn root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&headers, &state).await {
        Ok(Some(_)) => Redirect::to(DEFAULT_LANDING).into_response(),
        Ok(None) => Redirect::to("/login").into_response(),
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(
            local_path(Some("/incidents?status=all")),
            "/incidents?status=all"
        );
        assert_eq!(local_path(Some("/")), "/");
        for unsafe_next in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "incidents",
            "",
            "/caf\u{e9}",
        ] {
            assert_eq!(
                local_path(Some(unsafe_next)),
                DEFAULT_LANDING,
                "{unsafe_next:?}"
            );
        }
        assert_eq!(local_path(None), DEFAULT_LANDING);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; aftermath_session=am_123 ; b=2"),
        );
        assert_eq!(session_secret(&headers).as_deref(), Some("am_123"));
        let mut empty = HeaderMap::new();
        empty.append(
            header::COOKIE,
            HeaderValue::from_static("aftermath_session="),
        );
        assert_eq!(session_secret(&empty), None);
    }
}
