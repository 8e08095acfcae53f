//! End-to-end tests over real HTTP, real SQLite files and the real `aftermath` binary.
//! Each test starts its own instance on a free port with its own data directory.

mod alertmanager;
mod auth_matrix;
mod browser;
mod classification;
mod cli;
mod crash;
mod dashboard;
mod duplicates;
mod errors;
mod infra;
mod injection;
mod input_limits;
mod kafka;
mod loadgen;
mod logging;
mod metrics;
mod metrics_endpoint;
mod notify;
mod overload;
mod pages;
mod postmortem;
mod postmortem_page;
mod rate_limit;
mod process;
mod prometheus;
mod read_api;
mod real_alertmanager;
mod responder;
mod sender_generic;
mod sender_github;
mod sender_grafana;
mod sender_pagerduty;
mod support;
mod webdriver;
mod workflow;
