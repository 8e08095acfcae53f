//! End-to-end tests of the generic sender (being written).
