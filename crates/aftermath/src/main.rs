//! The `aftermath` command line: parses arguments and calls into the library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aftermath::notifier::NotifyConfig;
use aftermath::{Application, Backends, Config, Role, DEFAULT_BATCH_SIZE, REBUILD_BATCH_SIZE};
use aftermath_log::KafkaConfig;
use aftermath_store::Scope;
use anyhow::Context;
use clap::{Parser, Subcommand};
use logging::LogFormat;

mod logging;

/// Aftermath: alerts in, incidents, timelines and post-mortems out.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Format of the log lines on stderr: `pretty` (one readable line per event) or `json`
    /// (one object per line, for log collectors). Filter with AFTERMATH_LOG (or RUST_LOG).
    #[arg(
        long,
        global = true,
        env = "AFTERMATH_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Pretty
    )]
    log_format: LogFormat,
}

/// Where the log and the projections live.
#[derive(clap::Args, Clone)]
struct BackendArgs {
    /// Where the embedded event log (and, without --database-url, the projections) live.
    #[arg(long, env = "AFTERMATH_DATA_DIR", default_value = "./aftermath-data")]
    data_dir: PathBuf,
    /// Kafka bootstrap servers (host:port,…): the log is a Kafka topic instead of the
    /// embedded file.
    #[arg(long, env = "AFTERMATH_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// The Kafka topic holding the facts.
    #[arg(long, env = "AFTERMATH_KAFKA_TOPIC", default_value = "aftermath-facts")]
    kafka_topic: String,
    /// Partitions of the topic when Aftermath creates it.
    #[arg(long, env = "AFTERMATH_KAFKA_PARTITIONS", default_value_t = 6)]
    kafka_partitions: u32,
    /// Replication factor of the topic when Aftermath creates it.
    #[arg(long, env = "AFTERMATH_KAFKA_REPLICATION", default_value_t = 1)]
    kafka_replication: u32,
    /// Consumer group of the projectors; they share the topic's partitions.
    #[arg(
        long,
        env = "AFTERMATH_KAFKA_GROUP",
        default_value = "aftermath-projector"
    )]
    kafka_group: String,
    /// Create the topic if it is missing (otherwise a missing topic is an error).
    #[arg(long, env = "AFTERMATH_KAFKA_CREATE_TOPIC")]
    kafka_create_topic: bool,
    /// Milliseconds an append may wait for Kafka's acknowledgement before the API
    /// answers 503 (senders retry).
    #[arg(long, env = "AFTERMATH_APPEND_TIMEOUT_MS", default_value_t = 5000)]
    append_timeout_ms: u64,
    /// Facts the Kafka producer may hold unacknowledged; beyond it ingest answers 503.
    #[arg(long, env = "AFTERMATH_KAFKA_MAX_IN_FLIGHT", default_value_t = 100_000)]
    kafka_max_in_flight: usize,
    /// librdkafka producer properties over Aftermath's defaults, `key=value,…` (e.g.
    /// `linger.ms=5,compression.type=lz4`); acks and idempotence cannot be changed.
    #[arg(long, env = "AFTERMATH_KAFKA_PRODUCER_CONFIG", default_value = "", value_parser = aftermath_log::parse_kafka_properties)]
    kafka_producer_config: aftermath_log::KafkaProperties,
    /// librdkafka properties of the projector's partition readers, `key=value,…` (e.g.
    /// `fetch.wait.max.ms=10`).
    #[arg(long, env = "AFTERMATH_KAFKA_READER_CONFIG", default_value = "", value_parser = aftermath_log::parse_kafka_properties)]
    kafka_reader_config: aftermath_log::KafkaProperties,
    /// Projection database: postgres://user@host/db, or sqlite://PATH.
    #[arg(long, env = "AFTERMATH_DATABASE_URL")]
    database_url: Option<String>,
}

impl BackendArgs {
    fn backends(&self) -> Backends {
        let kafka = self.kafka_brokers.as_ref().map(|brokers| {
            let mut kafka = KafkaConfig::new(brokers, &self.kafka_topic);
            kafka.partitions = self.kafka_partitions;
            kafka.replication = self.kafka_replication;
            kafka.create_topic = self.kafka_create_topic;
            kafka.append_timeout = Duration::from_millis(self.append_timeout_ms.max(1));
            kafka.max_in_flight = self.kafka_max_in_flight.max(1);
            kafka.group = Some(self.kafka_group.clone());
            kafka.producer_properties = self.kafka_producer_config.0.clone();
            kafka.reader_properties = self.kafka_reader_config.0.clone();
            kafka
        });
        Backends {
            data_dir: self.data_dir.clone(),
            kafka,
            database_url: self.database_url.clone(),
        }
    }
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    backends: BackendArgs,
    /// Address to listen on (`project` serves only /healthz and /readyz there).
    #[arg(long, env = "AFTERMATH_LISTEN", default_value = "127.0.0.1:7700")]
    listen: SocketAddr,
    /// Facts folded per projection transaction.
    #[arg(long, env = "AFTERMATH_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Changes (deploys, config pushes) this many minutes before an incident opened, to
    /// its service, show on it as suspect changes.
    #[arg(long, env = "AFTERMATH_CHANGE_WINDOW_MINUTES", default_value_t = 120)]
    change_window_minutes: u64,
    /// A resolved incident may be reopened for this many minutes after its resolution.
    #[arg(long, env = "AFTERMATH_REOPEN_WINDOW_MINUTES", default_value_t = 24 * 60)]
    reopen_window_minutes: u64,
    /// Acknowledgement SLA per severity in minutes, e.g. `critical=5,warning=30`; severities
    /// not named keep the SOP's 5 minutes.
    #[arg(long, env = "AFTERMATH_ACK_SLA_MINUTES", default_value = "", value_parser = parse_ack_sla)]
    ack_sla_minutes: aftermath_core::AckPolicy,
    /// A TOML file of outbound webhooks (see README): this process then also runs the
    /// notifier. Give it to one process per log.
    #[arg(long, env = "AFTERMATH_NOTIFY_CONFIG")]
    notify_config: Option<PathBuf>,
    /// Fact ids the embedded log remembers as durable, so a repeated alert is answered
    /// without a write (about 26 bytes each when full; 0 turns the set off).
    #[arg(long, env = "AFTERMATH_RECENT_FACT_IDS", default_value_t = aftermath_log::DEFAULT_RECENT_FACT_IDS)]
    recent_fact_ids: usize,
    /// Serve GET /metrics without a token. Off by default: Prometheus scrapes with a
    /// `read` token (`authorization` in its scrape config).
    #[arg(long, env = "AFTERMATH_METRICS_PUBLIC")]
    metrics_public: bool,
    /// API requests in flight at most; beyond it a request is answered 503 with
    /// Retry-After at once (Alertmanager retries 5xx), which bounds memory under overload.
    #[arg(long, env = "AFTERMATH_MAX_IN_FLIGHT", default_value_t = aftermath_http::DEFAULT_MAX_IN_FLIGHT, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_in_flight: usize,
    /// Requests per second each API token may make, bursts of twice that; beyond it 429
    /// (503 on ingest endpoints, which senders retry) with Retry-After. 0 is no limit.
    #[arg(long, env = "AFTERMATH_RATE_LIMIT_PER_TOKEN", default_value_t = aftermath_http::DEFAULT_REQUESTS_PER_TOKEN_PER_SECOND)]
    rate_limit_per_token: u32,
}

fn parse_ack_sla(text: &str) -> Result<aftermath_core::AckPolicy, String> {
    aftermath_core::AckPolicy::parse_minutes(text)
}

impl RunArgs {
    fn config(&self, role: Role) -> anyhow::Result<Config> {
        let mut config = Config::new(&self.backends.data_dir, self.listen);
        config.backends = self.backends.backends();
        config.role = role;
        config.batch_size = self.batch_size;
        config.change_window = Duration::from_secs(self.change_window_minutes * 60);
        config.reopen_window = Duration::from_secs(self.reopen_window_minutes * 60);
        config.ack_policy = self.ack_sla_minutes.clone();
        config.recent_fact_ids = self.recent_fact_ids;
        config.metrics_public = self.metrics_public;
        config.max_in_flight = self.max_in_flight;
        config.requests_per_token_per_second = self.rate_limit_per_token;
        config.notify = match &self.notify_config {
            Some(path) => Some(NotifyConfig::load(path)?),
            None => None,
        };
        Ok(config)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run the projector in one process (the default deployment).
    Serve(RunArgs),
    /// Serve the API only; projectors run as `aftermath project`.
    Api(RunArgs),
    /// Run a projector only (in the Kafka consumer group), with health probes over HTTP.
    Project(RunArgs),
    /// Apply the projection database's migrations and exit.
    Migrate {
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Fold the whole log into fresh projections and swap them in.
    Rebuild {
        #[command(flatten)]
        backends: BackendArgs,
        /// Facts folded per projection transaction.
        #[arg(long, env = "AFTERMATH_REBUILD_BATCH_SIZE", default_value_t = REBUILD_BATCH_SIZE)]
        batch_size: usize,
    },
    /// Replay the log through this build's classification rules and print which
    /// incidents would change class (old → new) and the counts per class. Writes nothing.
    Classify {
        #[command(flatten)]
        backends: BackendArgs,
        /// Required: only the preview exists (a `rebuild` applies the rules).
        #[arg(long)]
        dry_run: bool,
        #[arg(long, env = "AFTERMATH_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE)]
        batch_size: usize,
    },
    /// Print a canonical JSON dump of all projections.
    Export {
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Run a whole incident on a throw-away instance and print its timeline and post-mortem.
    Demo,
    /// Work incidents on a running server over its HTTP API (list, show, ack, whys, …).
    Incident(aftermath::client::IncidentArgs),
    /// Read, edit and publish post-mortems on a running server over its HTTP API.
    Postmortem(aftermath::client::PostmortemArgs),
    /// Send realistic alert traffic to a running Aftermath (or Alertmanager) and measure it.
    Loadgen(aftermath::loadgen::LoadgenArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once.
    Create {
        #[command(flatten)]
        backends: BackendArgs,
        /// Who the token stands for; recorded as the actor of everything it does.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: ingest, respond, read, manage, admin.
        #[arg(long)]
        scopes: String,
        /// Shared secret that signed requests (Grafana, GitHub) must be signed with.
        #[arg(long, env = "AFTERMATH_SIGNING_SECRET")]
        signing_secret: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Revoke the live token with this name.
    Revoke {
        #[command(flatten)]
        backends: BackendArgs,
        #[arg(long)]
        name: String,
    },
}

/// mimalloc instead of glibc's allocator: a replay frees on one thread what another
/// allocated (facts are decoded beside the fold), which glibc pays for in arena locks and
/// `malloc_consolidate`; a 1M-fact rebuild into SQLite ran about 18% faster with it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = !matches!(
        cli.command,
        Command::Serve(_) | Command::Api(_) | Command::Project(_)
    );
    if let Err(error) = logging::init(cli.log_format, if quiet { "warn" } else { "info" }) {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => run_role(&args, Role::All).await,
        Command::Api(args) => run_role(&args, Role::Api).await,
        Command::Project(args) => run_role(&args, Role::Projector).await,
        Command::Migrate { backends } => {
            aftermath::migrate(&backends.backends()).await?;
            eprintln!("projection store migrated");
            Ok(())
        }
        Command::Token { command } => token(command).await,
        Command::Rebuild {
            backends,
            batch_size,
        } => {
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "rebuilding {bar:40} {pos}/{len} facts ({per_sec}, eta {eta})",
                )
                .context("progress template")?,
            );
            let folded = aftermath::rebuild(&backends.backends(), batch_size, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish();
            eprintln!("rebuilt projections from {folded} facts");
            Ok(())
        }
        Command::Classify {
            backends,
            dry_run,
            batch_size,
        } => {
            if !dry_run {
                anyhow::bail!(
                    "classify only previews: pass --dry-run; `aftermath rebuild` applies the rules"
                );
            }
            let report =
                aftermath::classify_dry_run(&backends.backends(), batch_size, |_, _| {}).await?;
            let name = |class: Option<aftermath_core::ErrorClass>| {
                class.map_or("unclassified", |c| c.code())
            };
            let mut stdout = std::io::stdout().lock();
            for change in &report.changes {
                writeln!(
                    stdout,
                    "{}  {} -> {}  {}",
                    change.incident_id,
                    name(change.old),
                    name(change.new),
                    change.title
                )?;
            }
            writeln!(
                stdout,
                "{} of {} incidents would change class (rules v{})",
                report.changes.len(),
                report.incidents,
                aftermath_core::rules_version()
            )?;
            writeln!(stdout, "class         now  after")?;
            let classes = aftermath_core::ErrorClass::ALL
                .into_iter()
                .map(Some)
                .chain([None]);
            for class in classes {
                writeln!(
                    stdout,
                    "{:<12} {:>4}  {:>5}",
                    name(class),
                    report.old_counts.get(&class).copied().unwrap_or(0),
                    report.new_counts.get(&class).copied().unwrap_or(0)
                )?;
            }
            Ok(())
        }
        Command::Export { backends } => {
            let json = aftermath::export(&backends.backends()).await?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{json}")?;
            Ok(())
        }
        Command::Loadgen(args) => aftermath::loadgen::run_cli(args).await,
        Command::Incident(args) => aftermath::client::run(args).await,
        Command::Postmortem(args) => aftermath::client::run_postmortem(args).await,
        Command::Demo => {
            let output = aftermath::run_demo(|line| eprintln!("==> {line}")).await?;
            println!("\n{output}");
            eprintln!(
                "==> Done. For a real instance: `aftermath token create --name erin --scopes manage,read`,\n\
                 ==> then `aftermath serve` and sign in with that token at http://127.0.0.1:7700/login"
            );
            Ok(())
        }
    }
}

async fn run_role(args: &RunArgs, role: Role) -> anyhow::Result<()> {
    let app = Application::build(args.config(role)?).await?;
    app.run_until_stopped(aftermath::shutdown_signal()).await
}

async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            backends,
            name,
            scopes,
            signing_secret,
        } => {
            let scopes = Scope::parse_list(&scopes)?;
            let store = backends.backends().open_store().await?;
            let (info, secret) = store
                .create_token_with(&name, &scopes, aftermath::now(), signing_secret.as_deref())
                .await?;
            eprintln!(
                "created token {:?} with scopes {}; it is shown only once:",
                info.name,
                Scope::join(&info.scopes)
            );
            println!("{secret}");
            Ok(())
        }
        TokenCommand::List { backends } => {
            let store = backends.backends().open_store().await?;
            for token in store.list_tokens().await? {
                let state = match &token.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => "live".to_owned(),
                };
                println!(
                    "{}\t{}\tcreated {}\t{state}",
                    token.name,
                    Scope::join(&token.scopes),
                    token.created_at
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { backends, name } => {
            let store = backends.backends().open_store().await?;
            if store.revoke_token(&name, aftermath::now()).await? {
                eprintln!("revoked token {name:?}");
                Ok(())
            } else {
                anyhow::bail!("no live token named {name:?}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_config(args: &[&str]) -> Config {
        let cli = Cli::try_parse_from([&["aftermath", "serve"], args].concat()).unwrap();
        let Command::Serve(run_args) = cli.command else {
            panic!("parsed as serve")
        };
        run_args.config(Role::All).unwrap()
    }

    #[test]
    fn recent_fact_ids_comes_from_the_flag_or_the_environment_else_the_default() {
        // One test sets the variable, so no other test can observe it half-way.
        std::env::remove_var("AFTERMATH_RECENT_FACT_IDS");
        assert_eq!(
            serve_config(&[]).recent_fact_ids,
            aftermath_log::DEFAULT_RECENT_FACT_IDS
        );
        assert_eq!(serve_config(&["--recent-fact-ids", "0"]).recent_fact_ids, 0);
        std::env::set_var("AFTERMATH_RECENT_FACT_IDS", "250000");
        assert_eq!(serve_config(&[]).recent_fact_ids, 250_000);
        assert_eq!(
            serve_config(&["--recent-fact-ids", "7"]).recent_fact_ids,
            7,
            "the flag wins over the environment"
        );
        std::env::remove_var("AFTERMATH_RECENT_FACT_IDS");
        assert!(Cli::try_parse_from(["aftermath", "serve", "--recent-fact-ids", "many"]).is_err());
    }
}
