//! The `aftermath` command line: parses arguments and calls into the library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use aftermath::{Application, Config, Parts, DEFAULT_BATCH_SIZE};
use aftermath_store::Scope;
use anyhow::Context;
use clap::{Parser, Subcommand};

/// Aftermath: alerts in, incidents, timelines and post-mortems out.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DataDir {
    /// Where the embedded event log and projections live.
    #[arg(long, env = "AFTERMATH_DATA_DIR", default_value = "./aftermath-data")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run the projector in one process.
    Serve {
        #[command(flatten)]
        data: DataDir,
        /// Address to listen on.
        #[arg(long, env = "AFTERMATH_LISTEN", default_value = "127.0.0.1:7700")]
        listen: SocketAddr,
        /// Facts folded per projection transaction.
        #[arg(long, env = "AFTERMATH_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE)]
        batch_size: usize,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Drop every projection and fold the whole log again.
    Rebuild {
        #[command(flatten)]
        data: DataDir,
        #[arg(long, env = "AFTERMATH_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE)]
        batch_size: usize,
    },
    /// Print a canonical JSON dump of all projections.
    Export {
        #[command(flatten)]
        data: DataDir,
    },
    /// Run a whole incident on a throw-away instance and print its timeline and post-mortem.
    Demo,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once.
    Create {
        #[command(flatten)]
        data: DataDir,
        /// Who the token stands for; recorded as the actor of everything it does.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: ingest, respond, read, manage, admin.
        #[arg(long)]
        scopes: String,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke the live token with this name.
    Revoke {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
    },
}

fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AFTERMATH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = !matches!(cli.command, Command::Serve { .. });
    init_tracing(if quiet { "warn" } else { "info" });
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
        Command::Serve {
            data,
            listen,
            batch_size,
        } => {
            let mut config = Config::new(data.data_dir, listen);
            config.batch_size = batch_size;
            let app = Application::build(config).await?;
            app.run_until_stopped(aftermath::shutdown_signal()).await
        }
        Command::Token { command } => token(command).await,
        Command::Rebuild { data, batch_size } => {
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "rebuilding {bar:40} {pos}/{len} facts ({per_sec}, eta {eta})",
                )
                .context("progress template")?,
            );
            let folded = aftermath::rebuild(&data.data_dir, batch_size, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish();
            eprintln!("rebuilt projections from {folded} facts");
            Ok(())
        }
        Command::Export { data } => {
            let json = aftermath::export(&data.data_dir).await?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{json}")?;
            Ok(())
        }
        Command::Demo => {
            let output = aftermath::run_demo(|line| eprintln!("==> {line}")).await?;
            println!("\n{output}");
            eprintln!("==> Done. Run `cargo run --release -- serve` to start a real instance.");
            Ok(())
        }
    }
}

async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { data, name, scopes } => {
            let scopes = Scope::parse_list(&scopes)?;
            let parts = Parts::open(&data.data_dir).await?;
            let (info, secret) = parts
                .store
                .create_token(&name, &scopes, aftermath::now())
                .await?;
            eprintln!(
                "created token {:?} with scopes {}; it is shown only once:",
                info.name,
                Scope::join(&info.scopes)
            );
            println!("{secret}");
            Ok(())
        }
        TokenCommand::List { data } => {
            let parts = Parts::open(&data.data_dir).await?;
            for token in parts.store.list_tokens().await? {
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
        TokenCommand::Revoke { data, name } => {
            let parts = Parts::open(&data.data_dir).await?;
            if parts.store.revoke_token(&name, aftermath::now()).await? {
                eprintln!("revoked token {name:?}");
                Ok(())
            } else {
                anyhow::bail!("no live token named {name:?}")
            }
        }
    }
}
