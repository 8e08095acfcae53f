//! pagerduty sender (being written).
