//! End-to-end tests of the grafana sender (being written).
