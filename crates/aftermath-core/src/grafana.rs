//! grafana sender (being written).
