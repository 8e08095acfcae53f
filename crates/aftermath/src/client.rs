//! `aftermath incident …` and `aftermath postmortem …`: the command-line client of a
//! running server. Every command is one or two calls of the HTTP API (see
//! `schemas/openapi.json`); the output is a short human rendering, or the server's JSON as
//! is with `--json`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;
use uuid::Uuid;

/// The server every command of the group talks to, and how.
#[derive(clap::Args, Debug)]
pub struct ConnectionArgs {
    /// Base URL of the Aftermath server (`--url` works too, as for `loadgen`).
    #[arg(
        long,
        alias = "url",
        env = "AFTERMATH_URL",
        default_value = "http://127.0.0.1:7700",
        global = true
    )]
    pub server: String,
    /// API token (scope `read` to look, `respond` to act, `manage` to edit and publish
    /// post-mortems); required.
    #[arg(long, env = "AFTERMATH_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the server's JSON (pretty) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `aftermath incident [--server U] [--token T] [--json] <command>`
#[derive(clap::Args, Debug)]
pub struct IncidentArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(subcommand)]
    pub command: IncidentCommand,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum StatusFilter {
    Open,
    Resolved,
    All,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ActionKind {
    Prevent,
    Mitigate,
    Process,
}

#[derive(clap::Subcommand, Debug)]
pub enum IncidentCommand {
    /// List incidents, newest first.
    List {
        /// Which incidents (the server's default: all).
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// Incidents per page, 1 to 1000 (the server's default: 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Follow `next_cursor` until the last page.
        #[arg(long)]
        all_pages: bool,
    },
    /// Show an incident: state, five whys, root cause, impact, action items, timeline.
    ///
    /// With --json: {"incident": …, "timeline": …}, each as the server sent it.
    Show {
        /// Incident id (or a unique prefix of it, such as the 8 characters `list` shows).
        id: String,
    },
    /// Acknowledge an incident.
    Ack {
        /// Incident id (or a unique prefix of it).
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Mark an incident mitigated (impact stopped, cause not fixed yet).
    Mitigate {
        /// Incident id (or a unique prefix of it).
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve an incident.
    Resolve {
        /// Incident id (or a unique prefix of it).
        id: String,
        #[arg(long)]
        resolution: Option<String>,
    },
    /// Add a note to the timeline.
    Note {
        /// Incident id (or a unique prefix of it).
        id: String,
        /// The note (several words are joined with spaces).
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Add the next of the five whys, or amend one with --amend N.
    Why {
        /// Incident id (or a unique prefix of it).
        id: String,
        #[arg(long)]
        question: String,
        #[arg(long)]
        answer: String,
        /// Reword why number N (from 1) instead of adding one.
        #[arg(long, value_name = "N")]
        amend: Option<u32>,
    },
    /// State the root cause (without TEXT: the last why's answer).
    RootCause {
        /// Incident id (or a unique prefix of it).
        id: String,
        /// The root cause (several words are joined with spaces).
        text: Vec<String>,
    },
    /// Record the impact.
    Impact {
        /// Incident id (or a unique prefix of it).
        id: String,
        #[arg(long)]
        summary: String,
        /// Users affected.
        #[arg(long)]
        users: Option<u64>,
        #[arg(long)]
        failed_requests: Option<u64>,
        #[arg(long)]
        data_loss: bool,
        #[arg(long)]
        customer_facing: bool,
        /// Overrides the downtime derived from the alerts.
        #[arg(long)]
        downtime_seconds: Option<u64>,
    },
    /// Add an action item, or mark one done with --done AID.
    Action {
        /// Incident id (or a unique prefix of it).
        id: String,
        #[arg(long, required_unless_present = "done")]
        title: Option<String>,
        #[arg(long, required_unless_present = "done")]
        owner: Option<String>,
        #[arg(long, value_enum, required_unless_present = "done")]
        kind: Option<ActionKind>,
        /// YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
        /// Mark this action item done (its id, or a unique prefix of it).
        #[arg(long, value_name = "AID", conflicts_with_all = ["title", "owner", "kind", "due"])]
        done: Option<String>,
    },
}

/// The API client of `connection`, or why there is none. `scopes` is what to create a
/// token with, for the hint.
fn connect(connection: &ConnectionArgs, scopes: &str) -> anyhow::Result<Api> {
    let Some(token) = connection
        .token
        .as_deref()
        .map(str::trim)
        .filter(|token| !token.is_empty())
    else {
        bail!(
            "no API token: pass --token or set AFTERMATH_TOKEN (create one with \
             `aftermath token create --name NAME --scopes {scopes}`)"
        );
    };
    Api::new(&connection.server, token)
}

/// Runs one `aftermath incident` command.
pub async fn run(args: IncidentArgs) -> anyhow::Result<()> {
    let api = connect(&args.connection, "respond,read")?;
    let json = args.connection.json;
    let output = match args.command {
        IncidentCommand::List {
            status,
            limit,
            all_pages,
        } => list(&api, status, limit, all_pages, json).await?,
        IncidentCommand::Show { id } => {
            let id = api.incident_id(&id).await?;
            let path = format!("/v1/incidents/{id}");
            let timeline_path = format!("{path}/timeline");
            let (detail, timeline) =
                tokio::try_join!(api.get(&path, &[]), api.get(&timeline_path, &[]))?;
            if json {
                pretty(&json!({"incident": detail, "timeline": timeline}))
            } else {
                render_show(&detail, &timeline, OffsetDateTime::now_utc())
            }
        }
        command => act(&api, command, json).await?,
    };
    let page = !json && output.lines().count() > 1;
    emit(&output, page)
}

/// The mutating commands: one request each, with a fresh `Idempotency-Key`.
async fn act(api: &Api, command: IncidentCommand, json: bool) -> anyhow::Result<String> {
    let (id, method, action, body) = match command {
        IncidentCommand::List { .. } | IncidentCommand::Show { .. } => {
            unreachable!("read commands are handled by run")
        }
        IncidentCommand::Ack { id, note } => {
            (id, Method::POST, "ack".into(), json!({"note": note}))
        }
        IncidentCommand::Mitigate { id, note } => {
            (id, Method::POST, "mitigate".into(), json!({"note": note}))
        }
        IncidentCommand::Resolve { id, resolution } => (
            id,
            Method::POST,
            "resolve".into(),
            json!({"resolution": resolution}),
        ),
        IncidentCommand::Note { id, text } => (
            id,
            Method::POST,
            "notes".into(),
            json!({"text": text.join(" ")}),
        ),
        IncidentCommand::Why {
            id,
            question,
            answer,
            amend,
        } => {
            let body = json!({"question": question, "answer": answer});
            match amend {
                Some(n) => (id, Method::PUT, format!("whys/{n}"), body),
                None => (id, Method::POST, "whys".into(), body),
            }
        }
        IncidentCommand::RootCause { id, text } => {
            let body = if text.is_empty() {
                json!({})
            } else {
                json!({"text": text.join(" ")})
            };
            (id, Method::POST, "root-cause".into(), body)
        }
        IncidentCommand::Impact {
            id,
            summary,
            users,
            failed_requests,
            data_loss,
            customer_facing,
            downtime_seconds,
        } => (
            id,
            Method::POST,
            "impact".into(),
            json!({
                "summary": summary, "users_affected": users, "failed_requests": failed_requests,
                "data_loss": data_loss, "customer_facing": customer_facing,
                "downtime_seconds": downtime_seconds,
            }),
        ),
        IncidentCommand::Action {
            id,
            title,
            owner,
            kind,
            due,
            done,
        } => match done {
            Some(item) => {
                let id = api.incident_id(&id).await?;
                let item = api.action_item_id(&id, &item).await?;
                (
                    id,
                    Method::POST,
                    format!("action-items/{item}/done"),
                    json!({}),
                )
            }
            None => {
                let kind = kind.map(|kind| match kind {
                    ActionKind::Prevent => "prevent",
                    ActionKind::Mitigate => "mitigate",
                    ActionKind::Process => "process",
                });
                let body = json!({"title": title, "owner": owner, "kind": kind, "due": due});
                (id, Method::POST, "action-items".into(), body)
            }
        },
    };
    let id = api.incident_id(&id).await?;
    let path = format!("/v1/incidents/{id}/{action}");
    let key = Uuid::new_v4().to_string();
    let answer = api
        .call(method, &path, &[], Some(&body), Some(&key))
        .await?;
    if json {
        return Ok(pretty(&answer));
    }
    let short = short_id(&id);
    let mut line = match answer.get("incident").filter(|i| i.is_object()) {
        Some(incident) => {
            let mut line = confirmation(&action, &short, incident);
            if action == "notes" {
                // The detail has no note fields: who wrote it is on the timeline.
                if let Some(actor) = api.actor_of(&id, &answer["fact_id"]).await {
                    line.push_str(&format!(" ({actor})"));
                }
            }
            line
        }
        None => format!(
            "{} {short}: on the log, not projected yet",
            verb(&action, "recorded")
        ),
    };
    if answer["replayed"] == true {
        line.push_str(" (a repeat of an earlier request: nothing new recorded)");
    }
    line.push('\n');
    Ok(line)
}

fn verb(action: &str, fallback: &'static str) -> &'static str {
    match action {
        "ack" => "acknowledged",
        "mitigate" => "mitigated",
        "resolve" => "resolved",
        "notes" => "noted on",
        _ => fallback,
    }
}

/// The one-line confirmation of `action`, from the incident as folded after it.
fn confirmation(action: &str, short: &str, incident: &Value) -> String {
    let text = |value: &Value| clean_line(value.as_str().unwrap_or("?"));
    let last = |list: &str| incident[list].as_array().and_then(|l| l.last()).cloned();
    match action {
        "ack" => format!(
            "acknowledged {short} ({})",
            text(&incident["acknowledged_by"])
        ),
        "mitigate" => format!("mitigated {short} ({})", text(&incident["mitigated_by"])),
        "resolve" => format!("resolved {short} ({})", text(&incident["resolved_by"])),
        "notes" => format!("noted on {short}"),
        "whys" => {
            let why = last("whys").unwrap_or_default();
            format!(
                "added why {} to {short} ({})",
                why["number"],
                text(&why["asked_by"])
            )
        }
        "root-cause" => {
            let cause = &incident["root_cause"];
            format!(
                "stated the root cause of {short} ({}): {}",
                text(&cause["stated_by"]),
                text(&cause["text"])
            )
        }
        "impact" => format!(
            "recorded the impact on {short} ({})",
            text(&incident["impact"]["recorded_by"])
        ),
        "action-items" => {
            let item = last("action_items").unwrap_or_default();
            format!(
                "added action item {} to {short} ({}): {}",
                short_id(item["id"].as_str().unwrap_or("?")),
                text(&item["added_by"]),
                text(&item["title"])
            )
        }
        other => {
            if let Some(n) = other.strip_prefix("whys/") {
                let by = incident["whys"]
                    .as_array()
                    .and_then(|whys| {
                        let n: u64 = n.parse().ok()?;
                        whys.iter().find(|why| why["number"].as_u64() == Some(n))
                    })
                    .and_then(|why| why["amendments"].as_array()?.last().cloned())
                    .unwrap_or_default();
                format!("amended why {n} on {short} ({})", text(&by["by"]))
            } else if let Some(item) = other
                .strip_prefix("action-items/")
                .and_then(|rest| rest.strip_suffix("/done"))
            {
                let by = incident["action_items"]
                    .as_array()
                    .and_then(|items| items.iter().find(|i| i["id"] == item))
                    .map(|i| text(&i["done_by"]))
                    .unwrap_or_else(|| "?".into());
                format!(
                    "marked action item {} done on {short} ({by})",
                    short_id(item)
                )
            } else {
                format!("{other} on {short}")
            }
        }
    }
}

/// `aftermath postmortem [--server U] [--token T] [--json] <command>`
#[derive(clap::Args, Debug)]
pub struct PostmortemArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(subcommand)]
    pub command: PostmortemCommand,
}

/// The forms `postmortem show` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostmortemFormat {
    /// Markdown (the default).
    Md,
    /// The structured draft, as JSON.
    Json,
    /// A standalone, printable HTML page.
    Html,
}

impl PostmortemFormat {
    fn query_value(self) -> &'static str {
        match self {
            PostmortemFormat::Md => "md",
            PostmortemFormat::Json => "json",
            PostmortemFormat::Html => "html",
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            PostmortemFormat::Md => "text/markdown",
            PostmortemFormat::Json => "application/json",
            PostmortemFormat::Html => "text/html",
        }
    }
}

/// Where `postmortem edit` takes the section's text from: exactly one of these.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct SectionText {
    /// The section's new text (Markdown).
    #[arg(long)]
    pub text: Option<String>,
    /// Read the section's new text (Markdown) from this file; `-` reads standard input.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Hand the section back to the text generated from the incident's facts.
    #[arg(long)]
    pub revert: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum PostmortemCommand {
    /// Print the post-mortem: the live draft, or a published revision with --revision.
    Show {
        /// Incident id (or a unique prefix of it).
        id: String,
        /// md (the default), json or html; --json is short for --format json.
        #[arg(long, value_enum)]
        format: Option<PostmortemFormat>,
        /// A published revision (1, 2, …) instead of the live draft.
        #[arg(long, value_name = "N")]
        revision: Option<u32>,
    },
    /// List the published revisions: number, who published it, when.
    Revisions {
        /// Incident id (or a unique prefix of it).
        id: String,
    },
    /// Write one section of the draft (scope `manage`), or hand it back with --revert.
    ///
    /// Sections: title, summary, impact, detection, trigger, timeline, root_cause,
    /// classification, resolution, prevention, action_items, lessons_learned
    /// (success_criteria is computed from the facts).
    Edit {
        /// Incident id (or a unique prefix of it).
        id: String,
        /// The section's key, such as `summary` or `root_cause`.
        section: String,
        #[command(flatten)]
        source: SectionText,
    },
    /// Publish the draft as the next numbered revision and close the incident (scope
    /// `manage`); the incident must be resolved.
    Publish {
        /// Incident id (or a unique prefix of it).
        id: String,
    },
}

/// Runs one `aftermath postmortem` command.
pub async fn run_postmortem(args: PostmortemArgs) -> anyhow::Result<()> {
    let json = args.connection.json;
    let api = connect(&args.connection, "manage,read")?;
    let (output, page) = match args.command {
        PostmortemCommand::Show {
            id,
            format,
            revision,
        } => {
            let format = match (format, json) {
                (Some(format), true) if format != PostmortemFormat::Json => bail!(
                    "--json asks for JSON but --format asks for {}; give one of them",
                    format.query_value()
                ),
                (Some(format), _) => format,
                (None, true) => PostmortemFormat::Json,
                (None, false) => PostmortemFormat::Md,
            };
            let id = api.incident_id(&id).await?;
            let path = match revision {
                Some(number) => format!("/v1/incidents/{id}/postmortem/revisions/{number}"),
                None => format!("/v1/incidents/{id}/postmortem"),
            };
            let query = [("format", format.query_value().to_owned())];
            let text = api
                .call_for_text(Method::GET, &path, &query, None, None, format.media_type())
                .await?;
            let mut text = match format {
                PostmortemFormat::Json => {
                    let draft: Value = serde_json::from_str(&text)
                        .context("the server's post-mortem JSON does not parse")?;
                    pretty(&draft)
                }
                PostmortemFormat::Md | PostmortemFormat::Html => text,
            };
            if !text.ends_with('\n') {
                text.push('\n');
            }
            // Alert text comes from outside: no terminal escapes reach a screen. Into a
            // file or a pipe the document goes byte for byte.
            if std::io::stdout().is_terminal() {
                text = clean(&text);
            }
            (text, format == PostmortemFormat::Md)
        }
        PostmortemCommand::Revisions { id } => {
            let id = api.incident_id(&id).await?;
            let revisions = api
                .get(&format!("/v1/incidents/{id}/postmortem/revisions"), &[])
                .await?;
            let text = if json {
                pretty(&revisions)
            } else {
                render_revisions(&id, &revisions)
            };
            (text, false)
        }
        PostmortemCommand::Edit {
            id,
            section,
            source,
        } => {
            let section = section.trim().replace('-', "_");
            // The name goes into the URL path: nothing there may change which endpoint it
            // reaches. Whether it names a section is the server's answer.
            if section.is_empty()
                || !section
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                bail!(
                    "{section:?} is not a section name: use a key such as summary or root_cause \
                     (see `aftermath postmortem edit --help`)"
                );
            }
            let id = api.incident_id(&id).await?;
            let path = format!("/v1/incidents/{id}/postmortem/sections/{section}");
            let (method, body) = if source.revert {
                (Method::DELETE, None)
            } else {
                let text = match (source.text, source.file) {
                    (Some(text), _) => text,
                    (None, Some(file)) => read_section_file(&file)?,
                    (None, None) => unreachable!("clap requires --text, --file or --revert"),
                };
                (Method::PUT, Some(json!({ "text": text })))
            };
            let key = Uuid::new_v4().to_string();
            let answer = api
                .call(method, &path, &[], body.as_ref(), Some(&key))
                .await?;
            let text = if json {
                pretty(&answer)
            } else {
                let short = short_id(&id);
                let mut line = match (source.revert, answer["projected"] == true) {
                    (false, true) => format!("wrote the {section} section of {short}'s post-mortem"),
                    (true, true) => format!(
                        "handed the {section} section of {short}'s post-mortem back to the generated text"
                    ),
                    (_, false) => format!(
                        "edit of the {section} section of {short}: on the log, not projected yet"
                    ),
                };
                push_replayed(&mut line, &answer);
                line
            };
            (text, false)
        }
        PostmortemCommand::Publish { id } => {
            let id = api.incident_id(&id).await?;
            let key = Uuid::new_v4().to_string();
            let answer = api
                .call(
                    Method::POST,
                    &format!("/v1/incidents/{id}/postmortem/publish"),
                    &[],
                    Some(&json!({})),
                    Some(&key),
                )
                .await?;
            let text = if json {
                pretty(&answer)
            } else {
                let short = short_id(&id);
                let mut line = match (answer["revision"].as_u64(), answer["incident"].as_object()) {
                    (Some(revision), Some(incident)) => format!(
                        "published revision {revision} of {short}'s post-mortem; incident {}",
                        cell(incident.get("status").unwrap_or(&Value::Null))
                    ),
                    _ => format!(
                        "publication of {short}'s post-mortem: on the log, not projected yet \
                         (`aftermath postmortem revisions {short}` lists it once it is)"
                    ),
                };
                push_replayed(&mut line, &answer);
                line
            };
            (text, false)
        }
    };
    emit(&output, page && !json)
}

/// Ends a confirmation line, saying so when the server recognised a repeated request.
fn push_replayed(line: &mut String, answer: &Value) {
    if answer["replayed"] == true {
        line.push_str(" (a repeat of an earlier request: nothing new recorded)");
    }
    line.push('\n');
}

/// A section's text from `path`, or standard input for `-`.
fn read_section_file(path: &std::path::Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the section's text from standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the section's text from {}", path.display()))
}

/// The `postmortem revisions` table.
fn render_revisions(id: &str, revisions: &Value) -> String {
    let revisions = revisions.as_array().cloned().unwrap_or_default();
    if revisions.is_empty() {
        return format!(
            "{}'s post-mortem has no published revision yet\n",
            short_id(id)
        );
    }
    let mut rows = vec![vec![
        "REVISION".to_owned(),
        "PUBLISHED BY".to_owned(),
        "PUBLISHED AT".to_owned(),
    ]];
    for revision in &revisions {
        rows.push(vec![
            cell(&revision["number"]),
            cell(&revision["by"]),
            when(&revision["at"]),
        ]);
    }
    table(&rows)
}

async fn list(
    api: &Api,
    status: Option<StatusFilter>,
    limit: Option<u32>,
    all_pages: bool,
    json: bool,
) -> anyhow::Result<String> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(status) = status {
        let status = match status {
            StatusFilter::Open => "open",
            StatusFilter::Resolved => "resolved",
            StatusFilter::All => "all",
        };
        query.push(("status", status.to_owned()));
    }
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    let mut page = api.get("/v1/incidents", &query).await?;
    let mut incidents: Vec<Value> = page["incidents"].as_array().cloned().unwrap_or_default();
    let mut seen = Vec::new();
    while let Some(cursor) = page["next_cursor"]
        .as_str()
        .filter(|_| all_pages)
        .map(str::to_owned)
    {
        if seen.contains(&cursor) {
            bail!("the server handed out the same cursor twice; stopped paging");
        }
        seen.push(cursor.clone());
        let mut next = query.clone();
        next.push(("cursor", cursor));
        page = api.get("/v1/incidents", &next).await?;
        incidents.extend(page["incidents"].as_array().cloned().unwrap_or_default());
    }
    if json {
        return Ok(if all_pages {
            pretty(&json!({"incidents": incidents, "next_cursor": null}))
        } else {
            pretty(&page)
        });
    }
    if page["next_cursor"].is_string() {
        eprintln!("(more incidents: pass --all-pages, or a larger --limit)");
    }
    Ok(render_list(&incidents, OffsetDateTime::now_utc()))
}

/// The `list` table.
fn render_list(incidents: &[Value], now: OffsetDateTime) -> String {
    if incidents.is_empty() {
        return "no incidents\n".to_owned();
    }
    let header = [
        "ID",
        "STATUS",
        "SEVERITY",
        "SERVICE",
        "TITLE",
        "OPENED (UTC)",
        "AGE",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for incident in incidents {
        let opened = parse_time(&incident["opened_at"]);
        rows.push(vec![
            short_id(incident["id"].as_str().unwrap_or("?")),
            cell(&incident["status"]),
            cell(&incident["severity"]),
            cell(&incident["service"]),
            truncate(&cell(&incident["title"]), 60),
            opened.map_or_else(|| "-".into(), minutes),
            opened.map_or_else(|| "-".into(), |at| duration((now - at).whole_seconds())),
        ]);
    }
    table(&rows)
}

/// The `show` page.
fn render_show(detail: &Value, timeline: &Value, now: OffsetDateTime) -> String {
    let mut out = String::new();
    let text = |value: &Value| clean(value.as_str().unwrap_or_default());
    let field = |out: &mut String, label: &str, value: String| {
        out.push_str(&format!("{label:<11}{value}\n"));
    };
    out.push_str(&format!("{}\n\n", text(&detail["title"])));
    field(&mut out, "id", cell(&detail["id"]));
    let mut status = cell(&detail["status"]);
    if detail["resolved_at"].is_null() {
        if let Some(opened) = parse_time(&detail["opened_at"]) {
            let open_for = duration((now - opened).whole_seconds());
            status.push_str(&format!("  (open for {open_for})"));
        }
    }
    if detail["ack_breached"] == true {
        status.push_str("  (acknowledgement SLA breached)");
    }
    field(&mut out, "status", status);
    field(&mut out, "severity", cell(&detail["severity"]));
    field(&mut out, "service", cell(&detail["service"]));
    field(&mut out, "source", cell(&detail["source"]));
    field(&mut out, "commander", cell(&detail["commander"]));
    field(&mut out, "opened", when(&detail["opened_at"]));
    let milestone = |at: &str, by: &str, after: Option<&str>| {
        if detail[at].is_null() {
            return "-".to_owned();
        }
        let mut line = format!("{} by {}", when(&detail[at]), cell(&detail[by]));
        if let Some(seconds) = after.and_then(|field| detail[field].as_i64()) {
            line.push_str(&format!(" (after {})", duration(seconds)));
        }
        line
    };
    let mut acked = milestone(
        "acknowledged_at",
        "acknowledged_by",
        Some("time_to_acknowledge_seconds"),
    );
    if detail["acknowledged_at"].is_null() {
        acked = format!("-  (due {})", when(&detail["ack_due_at"]));
    }
    field(&mut out, "acked", acked);
    let mut mitigated = milestone("mitigated_at", "mitigated_by", None);
    if let Some(note) = detail["mitigation"].as_str() {
        mitigated.push_str(&format!(": {}", clean_line(note)));
    }
    field(&mut out, "mitigated", mitigated);
    field(
        &mut out,
        "resolved",
        milestone(
            "resolved_at",
            "resolved_by",
            Some("time_to_resolve_seconds"),
        ),
    );
    if let Some(resolution) = detail["resolution"].as_str() {
        field(&mut out, "resolution", clean_line(resolution));
    }
    if let Some(seconds) = detail["downtime_seconds"].as_i64() {
        field(&mut out, "downtime", duration(seconds));
    }
    field(
        &mut out,
        "alerts",
        format!(
            "{} firing of {}",
            detail["alerts_firing"], detail["alerts_total"]
        ),
    );

    out.push_str("\nFive whys\n");
    let whys = detail["whys"].as_array().cloned().unwrap_or_default();
    if whys.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for why in &whys {
        let mut by = text(&why["asked_by"]);
        if let Some(amended) = why["amendments"].as_array().and_then(|a| a.last()) {
            by.push_str(&format!("; amended by {}", text(&amended["by"])));
        }
        out.push_str(&format!(
            "  {}. {}\n     {}  ({by})\n",
            why["number"],
            clean_line(why["question"].as_str().unwrap_or_default()),
            clean_line(why["answer"].as_str().unwrap_or_default()),
        ));
    }

    out.push_str("\nRoot cause\n");
    match detail["root_cause"].as_object() {
        Some(cause) => {
            let from = cause
                .get("from_why")
                .and_then(Value::as_u64)
                .map(|n| format!(", from why {n}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {}  ({}{from})\n",
                clean_line(cause["text"].as_str().unwrap_or_default()),
                text(&cause["stated_by"])
            ));
        }
        None => out.push_str("  (not stated yet)\n"),
    }

    out.push_str("\nImpact\n");
    match detail["impact"].as_object() {
        Some(impact) => {
            out.push_str(&format!(
                "  {}  ({})\n",
                clean_line(impact["summary"].as_str().unwrap_or_default()),
                text(&impact["recorded_by"])
            ));
            let mut facts = Vec::new();
            if let Some(users) = impact.get("users_affected").and_then(Value::as_u64) {
                facts.push(format!("users affected {users}"));
            }
            if let Some(failed) = impact.get("failed_requests").and_then(Value::as_u64) {
                facts.push(format!("failed requests {failed}"));
            }
            let yes_no = |flag: &str| if impact[flag] == true { "yes" } else { "no" };
            facts.push(format!("customer facing: {}", yes_no("customer_facing")));
            facts.push(format!("data loss: {}", yes_no("data_loss")));
            if let Some(seconds) = impact.get("downtime_seconds").and_then(Value::as_i64) {
                facts.push(format!("downtime {}", duration(seconds)));
            }
            out.push_str(&format!("  {}\n", facts.join(" · ")));
        }
        None => out.push_str("  (not recorded yet)\n"),
    }

    out.push_str("\nAction items\n");
    let items = detail["action_items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for item in &items {
        let done = !item["done_at"].is_null();
        let mut about = vec![cell(&item["kind"]), text(&item["owner"])];
        if let Some(due) = item["due"].as_str() {
            about.push(format!("due {}", clean_line(due)));
        }
        let mut line = format!(
            "  [{}] {}  {} ({})",
            if done { "x" } else { " " },
            short_id(item["id"].as_str().unwrap_or("?")),
            clean_line(item["title"].as_str().unwrap_or_default()),
            about.join(", ")
        );
        if done {
            line.push_str(&format!(" — done by {}", text(&item["done_by"])));
        }
        out.push_str(&line);
        out.push('\n');
    }

    let links = detail["links"].as_array().cloned().unwrap_or_default();
    if !links.is_empty() {
        out.push_str("\nLinks\n");
        for link in &links {
            out.push_str(&format!(
                "  {}: {}\n",
                clean_line(link["title"].as_str().unwrap_or_default()),
                clean_line(link["url"].as_str().unwrap_or_default())
            ));
        }
    }

    out.push_str("\nTimeline (UTC)\n");
    out.push_str(&render_timeline(timeline));
    out
}

/// `HH:MM:SS  kind  actor  text` lines, with a date line wherever the day changes.
fn render_timeline(timeline: &Value) -> String {
    let entries = timeline["entries"].as_array().cloned().unwrap_or_default();
    let kind_width = entries
        .iter()
        .map(|e| cell(&e["kind"]).chars().count())
        .max()
        .unwrap_or(0);
    let actor_width = entries
        .iter()
        .map(|e| cell(&e["actor"]).chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let mut day = None;
    for entry in &entries {
        let at = parse_time(&entry["at"]);
        let this_day = at.map(|at| at.date());
        if this_day != day {
            if let Some(date) = this_day {
                out.push_str(&format!("{date}\n"));
            }
            day = this_day;
        }
        let clock = at
            .and_then(|at| {
                at.format(format_description!("[hour]:[minute]:[second]"))
                    .ok()
            })
            .unwrap_or_else(|| "??:??:??".to_owned());
        let prefix = format!(
            "{clock}  {:<kind_width$}  {:<actor_width$}  ",
            cell(&entry["kind"]),
            cell(&entry["actor"]),
        );
        let indent = " ".repeat(prefix.chars().count());
        let text = clean(entry["text"].as_str().unwrap_or_default());
        let text = text.trim_end().replace('\n', &format!("\n{indent}"));
        out.push_str(format!("{prefix}{text}").trim_end());
        out.push('\n');
    }
    if entries.is_empty() {
        out.push_str("  (empty)\n");
    }
    out
}

/// Columns padded to their widest cell; the last one is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, value) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(value);
            } else {
                line.push_str(&format!("{value:<width$}  ", width = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A string field as one line of text, `-` when absent.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => clean_line(text),
        other => clean_line(&other.to_string()),
    }
}

/// Text from the server without control characters (no terminal escapes from alerts).
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

fn clean_line(text: &str) -> String {
    clean(text).replace('\n', " ")
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// The first 8 characters of an id, as `list` shows it.
fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

fn parse_time(value: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value.as_str()?, &Rfc3339).ok()
}

fn minutes(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
        .unwrap_or_else(|_| at.to_string())
}

/// `2026-11-24 07:00:03 UTC`, or `-`.
fn when(value: &Value) -> String {
    match parse_time(value) {
        Some(at) => at
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .unwrap_or_else(|_| at.to_string()),
        None => cell(value),
    }
}

/// `45s`, `12m 5s`, `3h 20m`, `2d 4h`.
fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.push('\n');
    text
}

/// Writes `text` to stdout; through `$PAGER` (default `less -FRX`) when stdout is a
/// terminal the text is taller than.
fn emit(text: &str, page: bool) -> anyhow::Result<()> {
    if page && std::io::stdout().is_terminal() {
        let taller = terminal_rows().is_some_and(|rows| text.lines().count() >= rows);
        if taller && page_through(text).is_ok() {
            return Ok(());
        }
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // `aftermath incident list | head`: the reader has what it wanted.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// The terminal's height: `stty size` on the controlling terminal, else `$LINES`.
fn terminal_rows() -> Option<usize> {
    let from_stty = || {
        let tty = std::fs::File::open("/dev/tty").ok()?;
        let output = Command::new("stty")
            .arg("size")
            .stdin(tty)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        String::from_utf8(output.stdout)
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let rows = |rows: &usize| *rows > 0;
    from_stty()
        .filter(rows)
        .or_else(|| std::env::var("LINES").ok()?.trim().parse().ok())
        .filter(rows)
}

fn page_through(text: &str) -> std::io::Result<()> {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|pager| !pager.trim().is_empty())
        .unwrap_or_else(|| "less -FRX".to_owned());
    let mut words = pager.split_whitespace();
    let program = words.next().unwrap_or("less");
    let mut child = Command::new(program)
        .args(words)
        .stdin(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // The pager quits (closing the pipe) when the reader is done: not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait()?;
    Ok(())
}

/// Attempts per request; 502, 503, 504 and broken connections are retried, POSTs with
/// the same `Idempotency-Key` so the server recognises them.
const ATTEMPTS: u32 = 3;

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &str, token: &str) -> anyhow::Result<Self> {
        let base = server.trim().trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base)
            .with_context(|| format!("--server {server:?} is not a URL (http://host:port)"))?;
        match url.scheme() {
            "http" => {}
            "https" => bail!(
                "--server {server:?}: this client speaks plain HTTP only; reach the server \
                 over http:// (for example through a local TLS-terminating proxy)"
            ),
            other => bail!("--server {server:?}: unsupported scheme {other:?}; use http://"),
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("aftermath-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base,
            token: token.to_owned(),
        })
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.call(Method::GET, path, query, None, None).await
    }

    /// One API call; the JSON of a 2xx answer, else the server's error as
    /// `<detail> (HTTP <status>)`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Value> {
        let text = self
            .call_for_text(
                method.clone(),
                path,
                query,
                body,
                idempotency_key,
                "application/json",
            )
            .await?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{method} {}{path} answered with something that is not JSON",
                self.base
            )
        })
    }

    /// One API call asking for `accept`; the body of a 2xx answer as text, else the
    /// server's error as `<detail> (HTTP <status>)`.
    async fn call_for_text(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        accept: &str,
    ) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.token)
                .header(reqwest::header::ACCEPT, accept);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) if error.is_connect() => bail!(
                    "cannot connect to the Aftermath server at {}: {}; is it running there? \
                     (set --server or AFTERMATH_URL)",
                    self.base,
                    root_cause(&error)
                ),
                Err(error) if attempt < ATTEMPTS => {
                    tracing::warn!(%error, attempt, "request failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(error) => bail!(
                    "{method} {url} failed: {} (after {attempt} attempts)",
                    root_cause(&error)
                ),
            };
            let status = response.status();
            if matches!(status.as_u16(), 502..=504) && attempt < ATTEMPTS {
                let wait = retry_after(&response).unwrap_or_else(|| backoff(attempt));
                tracing::warn!(%status, attempt, "server unavailable; retrying");
                tokio::time::sleep(wait.min(Duration::from_secs(10))).await;
                continue;
            }
            let text = response
                .text()
                .await
                .with_context(|| format!("reading the answer of {method} {url}"))?;
            if !status.is_success() {
                return Err(http_error(status, &text));
            }
            return Ok(text);
        }
    }

    /// The full id of the incident `given` names: a UUID as is, or the one incident whose
    /// id starts with `given` (such as the 8 characters `list` shows).
    async fn incident_id(&self, given: &str) -> anyhow::Result<String> {
        let given = given.trim();
        if Uuid::try_parse(given).is_ok() {
            return Ok(given.to_owned());
        }
        let prefix = given.to_ascii_lowercase();
        if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            bail!(
                "{given:?} is not an incident id: give the id, or at least its first 4 \
                 characters"
            );
        }
        let mut matches = Vec::new();
        let mut query = vec![("status", "all".to_owned()), ("limit", "1000".to_owned())];
        loop {
            let page = self.get("/v1/incidents", &query).await?;
            for incident in page["incidents"].as_array().into_iter().flatten() {
                if let Some(id) = incident["id"].as_str() {
                    if id.starts_with(&prefix) {
                        matches.push(id.to_owned());
                    }
                }
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    query.truncate(2);
                    query.push(("cursor", cursor.to_owned()));
                }
                None => break,
            }
        }
        match matches.as_slice() {
            [id] => Ok(id.clone()),
            [] => bail!("no incident id starts with {given:?}"),
            many => bail!(
                "{given:?} is ambiguous: {} incidents' ids start with it ({}); give more of the id",
                many.len(),
                many.join(", ")
            ),
        }
    }

    /// The full id of the action item `given` names on incident `id`.
    async fn action_item_id(&self, id: &str, given: &str) -> anyhow::Result<String> {
        let given = given.trim();
        if Uuid::try_parse(given).is_ok() {
            return Ok(given.to_owned());
        }
        let detail = self.get(&format!("/v1/incidents/{id}"), &[]).await?;
        let prefix = given.to_ascii_lowercase();
        let matches: Vec<&str> = detail["action_items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item["id"].as_str())
            .filter(|aid| !prefix.is_empty() && aid.starts_with(&prefix))
            .collect();
        match matches.as_slice() {
            [aid] => Ok((*aid).to_owned()),
            [] => bail!(
                "incident {} has no action item whose id starts with {given:?}",
                short_id(id)
            ),
            _ => bail!("{given:?} names several action items; give more of the id"),
        }
    }

    /// Who recorded fact `fact_id` on the incident's timeline, if it can be read.
    async fn actor_of(&self, id: &str, fact_id: &Value) -> Option<String> {
        let timeline = self
            .get(&format!("/v1/incidents/{id}/timeline"), &[])
            .await
            .ok()?;
        let entries = timeline["entries"].as_array()?;
        let entry = entries.iter().find(|entry| &entry["fact_id"] == fact_id)?;
        Some(clean_line(entry["actor"].as_str()?))
    }
}

/// `<detail> (HTTP 409)` from the server's `{"error", "detail"}`.
fn http_error(status: StatusCode, text: &str) -> anyhow::Error {
    let detail = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|body| body["detail"].as_str().map(clean_line))
        .or_else(|| {
            let line = clean_line(text.lines().next().unwrap_or_default().trim());
            (!line.is_empty()).then(|| truncate(&line, 200))
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("no detail").to_owned());
    anyhow!("{detail} (HTTP {})", status.as_u16())
}

/// The innermost cause, such as "Connection refused (os error 111)".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(6))
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(725), "12m 5s");
        assert_eq!(duration(2520), "42m 0s");
        assert_eq!(duration(3 * 3600 + 20 * 60 + 7), "3h 20m");
        assert_eq!(duration(2 * 86400 + 4 * 3600), "2d 4h");
        assert_eq!(duration(-3), "0s");
    }

    #[test]
    fn server_text_loses_its_control_characters() {
        assert_eq!(clean_line("a\u{1b}[31mb\nc\td"), "a\u{fffd}[31mb c d");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn errors_read_the_servers_detail() {
        let error = http_error(
            StatusCode::CONFLICT,
            r#"{"error":"conflict","detail":"incident is already resolved (by alice)"}"#,
        );
        assert_eq!(
            error.to_string(),
            "incident is already resolved (by alice) (HTTP 409)"
        );
        let error = http_error(StatusCode::BAD_GATEWAY, "");
        assert_eq!(error.to_string(), "Bad Gateway (HTTP 502)");
    }
}
