//! A UTC instant that always serializes the same way (RFC 3339, `Z`), so projections
//! built from it compare byte for byte.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// An instant in UTC. Parsing accepts any RFC 3339 offset; formatting is canonical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Wraps an instant, normalizing it to UTC.
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        Self(at.to_offset(UtcOffset::UTC))
    }

    /// Builds a timestamp from whole seconds since the Unix epoch.
    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .map(Self::from_datetime)
    }

    /// Parses an RFC 3339 timestamp such as `2026-11-24T07:00:00.5+01:00`.
    pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from_datetime)
    }

    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    pub fn unix_nanos(self) -> i128 {
        self.0.unix_timestamp_nanos()
    }

    /// Whole seconds from `earlier` to `self`, never negative.
    pub fn seconds_since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).whole_seconds().max(0)
    }

    /// `HH:MM:SS UTC`, the short form used on timelines.
    pub fn clock_time(self) -> String {
        format!(
            "{:02}:{:02}:{:02} UTC",
            self.0.hour(),
            self.0.minute(),
            self.0.second()
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rfc3339 formatting only fails for years outside 0..=9999, which parsing rejects.
        match self.0.format(&Rfc3339) {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "{}", self.0.unix_timestamp()),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(|error| {
            serde::de::Error::custom(format!("invalid RFC 3339 timestamp {text:?}: {error}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_normalize_to_utc_and_format_canonically() {
        let at = Timestamp::parse("2026-11-24T08:00:00.250+01:00").unwrap();
        assert_eq!(at.to_string(), "2026-11-24T07:00:00.25Z");
        assert_eq!(at.clock_time(), "07:00:00 UTC");
    }

    #[test]
    fn seconds_since_is_clamped_at_zero() {
        let early = Timestamp::from_unix_seconds(100).unwrap();
        let late = Timestamp::from_unix_seconds(160).unwrap();
        assert_eq!(late.seconds_since(early), 60);
        assert_eq!(early.seconds_since(late), 0);
    }
}
