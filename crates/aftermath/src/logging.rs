//! The process's log output on stderr: its format (`pretty` for people, `json` for log
//! collectors) and which events pass (`RUST_LOG`-style directives).
//!
//! Directives come from `AFTERMATH_LOG`, else from `RUST_LOG`, else from the command's
//! default. A directive that does not parse stops the process at startup: a typo must not
//! silently fall back to a level nobody asked for.

use std::io::IsTerminal;

use anyhow::anyhow;
use tracing_subscriber::EnvFilter;

/// The variable that holds Aftermath's own filter directives.
const FILTER_VARIABLE: &str = "AFTERMATH_LOG";
/// The conventional variable, read when [`FILTER_VARIABLE`] is unset or empty.
const FALLBACK_FILTER_VARIABLE: &str = "RUST_LOG";

/// How each log event is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event: time, level, spans with their fields, message
    /// and fields; coloured only when stderr is a terminal and `NO_COLOR` is unset.
    #[default]
    Pretty,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with
    /// `message`), `span` (the innermost) and `spans` (all, outermost first).
    Json,
}

/// The filter directives in force and where they came from, for the error message.
#[derive(Debug, PartialEq, Eq)]
struct Directives {
    text: String,
    source: &'static str,
}

/// `AFTERMATH_LOG`, else `RUST_LOG`, else `default`; a variable set to blanks counts as
/// unset (as an empty `RUST_LOG` does for most tools).
fn choose_directives(
    aftermath_log: Option<String>,
    rust_log: Option<String>,
    default: &str,
) -> Directives {
    let given = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
    if let Some(text) = given(aftermath_log) {
        return Directives {
            text,
            source: FILTER_VARIABLE,
        };
    }
    if let Some(text) = given(rust_log) {
        return Directives {
            text,
            source: FALLBACK_FILTER_VARIABLE,
        };
    }
    Directives {
        text: default.to_owned(),
        source: "the default filter",
    }
}

/// The variable's value; a value that is not UTF-8 is an error rather than ignored.
fn read_variable(name: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(anyhow!("{name} is not valid UTF-8")),
    }
}

fn parse_filter(directives: &Directives) -> anyhow::Result<EnvFilter> {
    EnvFilter::builder()
        .parse(&directives.text)
        .map_err(|error| {
            anyhow!(
                "invalid log filter in {} {:?}: {error}; directives look like `info` or \
             `warn,aftermath=debug,sqlx=warn` (levels: error, warn, info, debug, trace, off)",
                directives.source,
                directives.text
            )
        })
}

/// Installs the process's subscriber, writing to stderr in `format`; `default_filter`
/// applies when neither variable is set.
pub fn init(format: LogFormat, default_filter: &str) -> anyhow::Result<()> {
    let directives = choose_directives(
        read_variable(FILTER_VARIABLE)?,
        read_variable(FALLBACK_FILTER_VARIABLE)?,
        default_filter,
    );
    let filter = parse_filter(&directives)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Pretty => {
            // Escape codes only for a person at a terminal, never into a file or a pipe.
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
            builder.with_ansi(colour).try_init()
        }
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|error| anyhow!("cannot install the log subscriber: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn aftermath_log_wins_then_rust_log_then_the_default() {
        assert_eq!(
            choose_directives(some("debug"), some("trace"), "info"),
            Directives {
                text: "debug".to_owned(),
                source: "AFTERMATH_LOG"
            }
        );
        assert_eq!(
            choose_directives(None, some("warn,aftermath=debug"), "info"),
            Directives {
                text: "warn,aftermath=debug".to_owned(),
                source: "RUST_LOG"
            }
        );
        assert_eq!(choose_directives(None, None, "info").text, "info");
    }

    #[test]
    fn blank_variables_count_as_unset() {
        assert_eq!(
            choose_directives(some("  "), some("warn"), "info").source,
            "RUST_LOG"
        );
        assert_eq!(choose_directives(some(""), some(""), "info").text, "info");
    }

    #[test]
    fn valid_directives_parse() {
        for text in [
            "info",
            "warn,aftermath=debug,sqlx=warn",
            "off",
            "aftermath_http=trace",
        ] {
            let directives = Directives {
                text: text.to_owned(),
                source: FILTER_VARIABLE,
            };
            assert!(parse_filter(&directives).is_ok(), "{text}");
        }
    }

    #[test]
    fn a_bad_directive_is_an_error_naming_the_variable_and_the_text() {
        let directives = Directives {
            text: "aftermath=loud".to_owned(),
            source: FILTER_VARIABLE,
        };
        let message = parse_filter(&directives).unwrap_err().to_string();
        assert!(message.contains("AFTERMATH_LOG"), "{message}");
        assert!(message.contains("\"aftermath=loud\""), "{message}");
        assert!(message.contains("directives look like"), "{message}");
    }
}
