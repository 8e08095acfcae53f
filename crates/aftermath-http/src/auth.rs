//! Bearer-token authentication: an extractor that resolves the token, and scope checks.
//!
//! Tokens found valid are remembered for [`TOKEN_CACHE_TTL`], so a busy sender's requests
//! do not each query the store (that query was the largest cost of an ingest request).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use aftermath_store::{ProjectionStore, Scope, SharedStore, StoreError, TokenInfo};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

/// How long a token found valid is trusted without asking the store again. Revocation
/// (`aftermath token revoke`, often another process, which cannot tell this one) therefore
/// takes effect on every API process within this long. Unknown and revoked tokens are
/// never remembered, so a new token works at once and a refused one is asked about again.
pub(crate) const TOKEN_CACHE_TTL: Duration = Duration::from_secs(2);

/// Tokens remembered at most; only valid tokens get in, so this is only reached with that
/// many live tokens in use within [`TOKEN_CACHE_TTL`].
const TOKEN_CACHE_MAX_ENTRIES: usize = 1024;

/// Recently valid tokens, by SHA-256 of their secret (the secret itself is not kept).
///
/// Process-wide rather than in [`AppState`], so every way of building the state gets it;
/// each entry names the store that vouched for it, so states over different stores (tests
/// run several) never share a token. The `Weak` keeps that store's allocation, so its
/// address cannot be reused by another store while the entry exists.
static RECENT_TOKENS: LazyLock<RecentTokens<dyn ProjectionStore>> =
    LazyLock::new(RecentTokens::default);

/// Generic over the store type only so tests can use stand-in stores.
struct RecentTokens<Store: ?Sized> {
    entries: Mutex<HashMap<[u8; 32], RecentToken<Store>>>,
}

impl<Store: ?Sized> Default for RecentTokens<Store> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
        }
    }
}

struct RecentToken<Store: ?Sized> {
    store: Weak<Store>,
    token: TokenInfo,
    checked_at: Instant,
}

impl<Store: ?Sized> RecentTokens<Store> {
    fn get(&self, store: &Arc<Store>, key: &[u8; 32], now: Instant) -> Option<TokenInfo> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        let fresh = now.saturating_duration_since(entry.checked_at) < TOKEN_CACHE_TTL;
        let same_store = std::ptr::addr_eq(entry.store.as_ptr(), Arc::as_ptr(store));
        (fresh && same_store).then(|| entry.token.clone())
    }

    fn put(&self, store: &Arc<Store>, key: [u8; 32], token: TokenInfo, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= TOKEN_CACHE_MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, entry| {
                now.saturating_duration_since(entry.checked_at) < TOKEN_CACHE_TTL
            });
            if entries.len() >= TOKEN_CACHE_MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            RecentToken {
                store: Arc::downgrade(store),
                token,
                checked_at: now,
            },
        );
    }
}

/// The live token with this secret, from the recent-token cache or the store.
pub(crate) async fn authenticate(
    store: &SharedStore,
    secret: &str,
) -> Result<Option<TokenInfo>, StoreError> {
    let key: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    if let Some(token) = RECENT_TOKENS.get(store, &key, Instant::now()) {
        return Ok(Some(token));
    }
    // Stamped before asking, so a revocation during the query is within the TTL too.
    let asked_at = Instant::now();
    let found = store.authenticate(secret).await?;
    if let Some(token) = &found {
        RECENT_TOKENS.put(store, key, token.clone(), asked_at);
    }
    Ok(found)
}

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
        match authenticate(&state.store, secret).await {
            Ok(Some(token)) => {
                // Counted per token only once it is known valid: unknown tokens cost no bucket.
                state
                    .rate_limit
                    .take(token.id, Instant::now())
                    .map_err(|wait| state.rate_limit.refusal(parts.uri.path(), wait))?;
                Ok(Caller(token))
            }
            Ok(None) => Err(unauthorized("unknown or revoked token")),
            Err(error) => Err(ApiError::internal("token lookup", error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use uuid::Uuid;

    use super::*;

    fn token(name: &str) -> TokenInfo {
        TokenInfo {
            id: Uuid::from_u128(7),
            name: name.to_owned(),
            scopes: BTreeSet::from([Scope::Ingest]),
            created_at: "2026-11-24T08:00:00Z".to_owned(),
            revoked_at: None,
            signing_secret: None,
        }
    }

    #[test]
    fn a_remembered_token_expires_after_the_ttl_and_belongs_to_its_store() {
        let (a, b) = (Arc::new(1_u8), Arc::new(2_u8));
        let cache = RecentTokens::default();
        let key = [1; 32];
        let start = Instant::now();
        cache.put(&a, key, token("grafana"), start);

        let within = start + TOKEN_CACHE_TTL - Duration::from_millis(1);
        let name = |found: Option<TokenInfo>| found.map(|token| token.name);
        assert_eq!(name(cache.get(&a, &key, within)), Some("grafana".into()));
        assert_eq!(name(cache.get(&a, &key, start + TOKEN_CACHE_TTL)), None);
        assert_eq!(
            name(cache.get(&b, &key, within)),
            None,
            "b never vouched for it"
        );
        assert_eq!(name(cache.get(&a, &[2; 32], within)), None);
    }

    #[test]
    fn a_dropped_store_address_is_never_mistaken_for_a_new_store() {
        let cache = RecentTokens::default();
        let start = Instant::now();
        let old = Arc::new(1_u8);
        cache.put(&old, [1; 32], token("t"), start);
        drop(old);
        // The entry's Weak keeps the old allocation, so the new store lives elsewhere.
        let new = Arc::new(1_u8);
        assert!(cache.get(&new, &[1; 32], start).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let store = Arc::new(1_u8);
        let cache = RecentTokens::default();
        let start = Instant::now();
        for n in 0..=TOKEN_CACHE_MAX_ENTRIES {
            let mut key = [0; 32];
            key[..8].copy_from_slice(&(n as u64).to_le_bytes());
            cache.put(&store, key, token("t"), start);
        }
        let held = cache.entries.lock().unwrap().len();
        assert!((1..=TOKEN_CACHE_MAX_ENTRIES).contains(&held), "{held}");
    }
}
