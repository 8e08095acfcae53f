//! generic sender (being written).
