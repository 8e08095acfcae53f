//! The `aftermath loadgen` command line: flags, their defaults, and the printed report.

use std::time::Duration;

use anyhow::bail;

use super::traffic::{Grouping, Population, TrafficShape};
use super::{run, LoadPlan, Pace, Stop, Target};

/// Which server `--target` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// Aftermath's `POST /v1/ingest/alertmanager` (Alertmanager webhook bodies, one group each).
    Aftermath,
    /// Alertmanager's `POST /api/v2/alerts` (arrays of alerts, as Prometheus sends them).
    Alertmanager,
}

/// Flags of `aftermath loadgen`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    pub url: String,
    /// Which server the load goes to.
    #[arg(long, value_enum, default_value = "aftermath")]
    pub target: TargetKind,
    /// Aftermath: a token with the ingest scope (and read, for the alert→visible probes and
    /// the wait for the projections).
    #[arg(long, env = "AFTERMATH_TOKEN")]
    pub token: Option<String>,
    /// Distinct `service` labels; a group is one (alertname, service) pair.
    #[arg(long, default_value_t = 20)]
    pub services: u64,
    /// Alerts per group: groups fill one after another, so more alerts make more groups.
    #[arg(long, default_value_t = 10)]
    pub alerts_per_group: u64,
    /// Instead of --alerts-per-group: exactly this many groups, taking new alerts in turn.
    #[arg(long, conflicts_with = "alerts_per_group")]
    pub groups: Option<u64>,
    /// Alerts in each request (to Aftermath, one webhook per group they span).
    #[arg(long, visible_alias = "alerts", default_value_t = 1)]
    pub alerts_per_request: u64,
    /// Share of requests re-sending alerts already sent, unchanged (0 to 1), as Prometheus
    /// re-sends every firing alert.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub repeat_share: f64,
    /// Share of the other requests that resolve firing alerts or fire resolved ones again
    /// (0 to 1), instead of sending new alerts.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    pub cycle_share: f64,
    /// Open loop: send this many requests (batches of --alerts-per-request) per second,
    /// latency counted from when each was due.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Requests in flight: as fast as possible with this many (default 32); with --rate,
    /// the most allowed unanswered (default 1024).
    #[arg(long)]
    pub concurrency: Option<u64>,
    /// Requests (batches) to send; the default is 10000 unless --duration is given.
    #[arg(long, visible_alias = "notifications", conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Send for this long instead: seconds, or with a unit (`90s`, `5m`).
    #[arg(long, value_parser = duration)]
    pub duration: Option<Duration>,
    /// Aftermath: probe alert→visible on one in this many requests that change something
    /// (0: no probes).
    #[arg(long, default_value_t = 100)]
    pub visibility_every: u64,
    /// Aftermath: do not wait for the projections to catch up at the end.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the report as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("{text:?} is not a share from 0 to 1")),
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.strip_suffix('m') {
        Some(minutes) => (minutes, 60.0),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    match number.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(Duration::from_secs_f64(value * unit)),
        _ => Err(format!("{text:?} is not a duration such as 30, 90s or 5m")),
    }
}

impl LoadgenArgs {
    /// The plan these flags describe.
    pub fn plan(&self) -> anyhow::Result<LoadPlan> {
        let target = match (self.target, &self.token) {
            (TargetKind::Aftermath, Some(token)) => Target::Aftermath {
                token: token.clone(),
            },
            (TargetKind::Aftermath, None) => {
                bail!("--target aftermath needs --token (or AFTERMATH_TOKEN)")
            }
            (TargetKind::Alertmanager, _) => Target::Alertmanager,
        };
        let grouping = match self.groups {
            Some(groups) => Grouping::RoundRobin {
                groups: groups.max(1),
            },
            None => Grouping::Fill {
                alerts_per_group: self.alerts_per_group.max(1),
            },
        };
        let pace = match self.rate {
            Some(rate) if rate > 0.0 => Pace::Rate {
                batches_per_second: rate,
                max_in_flight: self.concurrency.unwrap_or(1024),
            },
            Some(rate) => bail!("--rate {rate}: must be above 0"),
            None => Pace::Concurrency(self.concurrency.unwrap_or(32)),
        };
        let stop = match (self.duration, self.requests) {
            (Some(duration), _) => Stop::Duration(duration),
            (None, requests) => Stop::Batches(requests.unwrap_or(10_000)),
        };
        let aftermath = matches!(target, Target::Aftermath { .. });
        Ok(LoadPlan {
            base_url: self.url.trim_end_matches('/').to_owned(),
            target,
            shape: TrafficShape {
                population: Population {
                    services: self.services.max(1),
                    grouping,
                },
                alerts_per_request: self.alerts_per_request.max(1),
                repeat_share: self.repeat_share,
                cycle_share: self.cycle_share,
            },
            pace,
            stop,
            visibility_every: if aftermath { self.visibility_every } else { 0 },
            wait_for_projections: aftermath && !self.no_wait,
        })
    }
}

/// Runs `aftermath loadgen` and prints its report.
pub async fn run_cli(args: LoadgenArgs) -> anyhow::Result<()> {
    let plan = args.plan()?;
    let bar = match plan.stop {
        Stop::Batches(count) => indicatif::ProgressBar::new(count),
        Stop::Duration(_) => indicatif::ProgressBar::new_spinner(),
    };
    let report = run(plan, |sent| bar.set_position(sent)).await?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.summary());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: LoadgenArgs,
    }

    fn plan(flags: &[&str]) -> anyhow::Result<LoadPlan> {
        let args =
            Command::try_parse_from(std::iter::once("loadgen").chain(flags.iter().copied()))?;
        args.args.plan()
    }

    #[test]
    fn the_old_flags_still_mean_what_they_meant() {
        let plan = plan(&[
            "--token",
            "t",
            "--notifications",
            "20000",
            "--alerts",
            "1",
            "--concurrency",
            "32",
            "--groups",
            "1000",
        ])
        .unwrap();
        assert_eq!(plan.stop, Stop::Batches(20_000));
        assert_eq!(plan.shape.alerts_per_request, 1);
        assert_eq!(plan.pace, Pace::Concurrency(32));
        assert_eq!(
            plan.shape.population.grouping,
            Grouping::RoundRobin { groups: 1000 }
        );
        assert!(plan.wait_for_projections);
    }

    #[test]
    fn rate_duration_and_target_flags_make_the_plan() {
        let plan = plan(&[
            "--target",
            "alertmanager",
            "--url",
            "http://127.0.0.1:9093/",
            "--rate",
            "1000",
            "--duration",
            "2m",
            "--alerts-per-request",
            "100",
            "--repeat-share",
            "0.9",
            "--alerts-per-group",
            "100",
        ])
        .unwrap();
        assert_eq!(plan.target, Target::Alertmanager);
        assert_eq!(plan.base_url, "http://127.0.0.1:9093");
        assert_eq!(
            plan.pace,
            Pace::Rate {
                batches_per_second: 1000.0,
                max_in_flight: 1024
            }
        );
        assert_eq!(plan.stop, Stop::Duration(Duration::from_secs(120)));
        assert_eq!(plan.shape.repeat_share, 0.9);
        assert_eq!(
            plan.shape.population.grouping,
            Grouping::Fill {
                alerts_per_group: 100
            }
        );
        // Alertmanager has no read API to probe and no projections to wait for.
        assert_eq!(plan.visibility_every, 0);
        assert!(!plan.wait_for_projections);
    }

    #[test]
    fn nonsense_is_refused() {
        let mut no_token = Command::try_parse_from(["loadgen", "--token", "t"])
            .unwrap()
            .args;
        no_token.token = None;
        assert!(no_token.plan().unwrap_err().to_string().contains("--token"));
        assert!(plan(&["--token", "t", "--repeat-share", "1.5"]).is_err());
        assert!(plan(&["--token", "t", "--duration", "soon"]).is_err());
        assert!(plan(&["--token", "t", "--rate", "0"]).is_err());
        assert!(plan(&["--token", "t", "--groups", "3", "--alerts-per-group", "4"]).is_err());
    }
}
