//! End-to-end tests of the github sender (being written).
