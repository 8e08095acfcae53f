//! End-to-end tests of the pagerduty sender (being written).
