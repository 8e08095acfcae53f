//! Per-token rate limit: a token bucket per API token, so one runaway script or leaked
//! token cannot take the whole API; everyone else's requests go on.
//!
//! Beyond its rate a token's request is refused before any work: 429 with `Retry-After` on
//! the responder and read API, 503 with `Retry-After` on the ingest endpoints (Alertmanager
//! and PagerDuty senders retry only 5xx; a refused alert is resent, never dropped).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use uuid::Uuid;

use crate::ApiError;

/// Requests per second each token may make by default, sustained; twice that in a burst.
/// A ceiling against a runaway client, above what one sender reaches on a single instance
/// (the load generator's flat-out runs stay below it); set it lower for untrusted tokens.
pub const DEFAULT_REQUESTS_PER_TOKEN_PER_SECOND: u32 = 50_000;

/// Buckets kept at most: only authenticated tokens get one, so this is reached only with
/// that many live tokens; full buckets (idle tokens) are dropped first.
const MAX_BUCKETS: usize = 10_000;

/// The buckets of every token, shared by every clone of the state.
#[derive(Debug)]
pub struct TokenRateLimit {
    /// Tokens added per second; 0 turns the limit off.
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl TokenRateLimit {
    /// `per_second` requests per second per token, bursts of twice that; 0 is no limit.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: 2.0 * f64::from(per_second),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request from `token`'s bucket, or says how long until one is available.
    pub fn take(&self, token: Uuid, now: Instant) -> Result<(), Duration> {
        if self.per_second == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&token) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, bucket| refilled(*bucket, now, per_second, burst) < burst);
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(token).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let available = refilled(*bucket, now, self.per_second, self.burst);
        if available >= 1.0 {
            *bucket = Bucket {
                tokens: available - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                tokens: available,
                at: now,
            };
            Err(Duration::from_secs_f64((1.0 - available) / self.per_second))
        }
    }

    /// The refusal for a token over its rate on `path`: 503 on ingest, 429 elsewhere.
    pub(crate) fn refusal(&self, path: &str, wait: Duration) -> ApiError {
        let retry_after = wait.as_secs().max(1);
        let detail = format!(
            "this token made more than {} requests per second; retry in {retry_after} s",
            self.per_second
        );
        let status = if path.starts_with("/v1/ingest/") || path.starts_with("/v2/") {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        ApiError::new(status, "rate_limited", detail).retry_after(retry_after)
    }
}

impl Default for TokenRateLimit {
    fn default() -> Self {
        Self::new(DEFAULT_REQUESTS_PER_TOKEN_PER_SECOND)
    }
}

fn refilled(bucket: Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_burst_of_twice_the_rate_then_one_per_interval() {
        let limit = TokenRateLimit::new(10);
        let start = Instant::now();
        let token = Uuid::from_u128(1);
        for _ in 0..20 {
            assert!(limit.take(token, start).is_ok());
        }
        let wait = limit.take(token, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        // Another token has its own bucket.
        assert!(limit.take(Uuid::from_u128(2), start).is_ok());
        // A tenth of a second later, one more request.
        let later = start + Duration::from_millis(100);
        assert!(limit.take(token, later).is_ok());
        assert!(limit.take(token, later).is_err());
    }

    #[test]
    fn zero_is_no_limit() {
        let limit = TokenRateLimit::new(0);
        let now = Instant::now();
        for _ in 0..100_000 {
            assert!(limit.take(Uuid::nil(), now).is_ok());
        }
    }

    #[test]
    fn ingest_is_refused_with_503_and_the_rest_with_429() {
        let limit = TokenRateLimit::new(1);
        let wait = Duration::from_millis(1500);
        assert_eq!(
            limit.refusal("/v1/ingest/alertmanager", wait).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            limit.refusal("/v2/enqueue", wait).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let refusal = limit.refusal("/v1/incidents", wait);
        assert_eq!(refusal.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            refusal.detail.contains("retry in 1 s"),
            "{}",
            refusal.detail
        );
    }

    proptest! {
        /// A token that keeps below its rate is never refused, however long it goes on.
        #[test]
        fn a_steady_rate_below_the_limit_is_never_refused(
            rate in 1u32..100_000,
            share in 0.05f64..1.0,
        ) {
            let limit = TokenRateLimit::new(rate);
            let interval = Duration::from_secs_f64(1.0 / (f64::from(rate) * share));
            let mut now = Instant::now();
            for _ in 0..(3 * rate).min(50_000) {
                prop_assert!(limit.take(Uuid::nil(), now).is_ok());
                now += interval;
            }
        }

        /// Over any window, a token gets at most the burst plus the rate times the window.
        #[test]
        fn never_more_than_burst_plus_rate_times_elapsed(
            rate in 1u32..1000,
            gaps_ms in prop::collection::vec(0u64..50, 1..400),
        ) {
            let limit = TokenRateLimit::new(rate);
            let start = Instant::now();
            let mut now = start;
            let mut granted = 0u64;
            for gap in gaps_ms {
                now += Duration::from_millis(gap);
                if limit.take(Uuid::nil(), now).is_ok() {
                    granted += 1;
                }
            }
            let elapsed = now.duration_since(start).as_secs_f64();
            let allowed = 2.0 * f64::from(rate) + elapsed * f64::from(rate);
            prop_assert!(granted as f64 <= allowed + 1e-6, "{granted} > {allowed}");
        }
    }
}
