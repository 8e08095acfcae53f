//! Bearer-token authentication: an extractor that resolves the token, and scope checks.

use aftermath_store::{Scope, TokenInfo};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use crate::{ApiError, AppState};

/// The authenticated caller of a request.
pub(crate) struct Caller(pub TokenInfo);

impl Caller {
    /// Fails with 403 unless the token carries `scope`.
    pub(crate) fn require(&self, scope: Scope) -> Result<&TokenInfo, ApiError> {
        if self.0.has(scope) {
            Ok(&self.0)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token {:?} lacks the {:?} scope this endpoint needs",
                    self.0.name,
                    scope.as_str()
                ),
            ))
        }
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <token> header"))?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| unauthorized("Authorization header must be: Bearer <token>"))?;
        match state.store.authenticate(secret).await {
            Ok(Some(token)) => Ok(Caller(token)),
            Ok(None) => Err(unauthorized("unknown or revoked token")),
            Err(error) => Err(ApiError::internal("token lookup", error)),
        }
    }
}
