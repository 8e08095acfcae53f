//! github sender (being written).
