//! Aftermath's pure domain: facts, the Alertmanager normalizer, the incident fold and
//! post-mortem drafting.
//!
//! Architecture invariant: nothing in this crate performs I/O, reads a clock or draws
//! randomness. Time enters only through the `occurred_at` / `recorded_at` of facts, and
//! every identifier derived here is a UUIDv5 of data the caller passes in, so folding the
//! same log always yields the same state, byte for byte.

mod alertmanager;
mod classify;
mod fact;
mod fold;
mod generic;
mod github;
mod grafana;
mod ids;
mod incident;
mod limits;
mod metrics;
mod notification;
mod outbound;
mod pagerduty;
mod postmortem;
mod runbook;
mod sla;
mod timestamp;

pub use alertmanager::{normalize_alertmanager, parse_json, IngestError};
pub use classify::{
    classify, decide, match_new_evidence, rules_version, Classification, ErrorClass, Evidence,
    EvidenceKind, EvidenceText, MAX_MATCHED_CHARS,
};
pub use fact::{
    Acknowledged, ActionItemAdded, ActionItemDone, AlertAcknowledged, AlertNotified, AlertStatus,
    ChangeRecorded, ClassificationOverridden, CommanderAssigned, Fact, FactBody, FactDecodeError,
    ImpactRecorded, LinkAdded, Mitigated, NoteAdded, NotificationAttempted, NotificationReceived,
    OutboundEventKind, PostmortemEdited, PostmortemPublished, Reopened, Resolved, RootCauseStated,
    SeverityChanged, WhyAdded, WhyAmended, FACT_TYPES,
};
pub use fold::{
    class_name, classification_refusal, Change, FoldOutcome, Projection, StreamState, CLASSIFIER,
    NOTIFIER,
};
#[allow(unused_imports)]
pub use generic::*;
#[allow(unused_imports)]
pub use github::*;
#[allow(unused_imports)]
pub use grafana::*;
pub use ids::{incident_id_for, responder_fact_id};
pub use incident::{
    ActionItem, ActionItemKind, AlertState, ClassificationOverride, Delivered, Impact, Incident,
    IncidentStatus, Link, RootCause, Severity, SeverityChange, TimelineEntry, TimelineKind, Why,
    WhyAmendment,
};
pub use limits::{
    check_json_depth, MAX_ALERTS_PER_REQUEST, MAX_JSON_DEPTH, MAX_LABELS_PER_ALERT, MAX_TEXT_BYTES,
};
pub use metrics::{
    summarize, GroupFigures, MetricsSummary, Targets, WeekFigures, ACK_TARGET_SECONDS,
    FIX_TARGET_SECONDS, MAX_WEEKS, NO_SERVICE_KEY, UNCLASSIFIED_KEY,
};
pub use notification::{AlertReport, Notification};
pub use outbound::{
    ack_overdue_event, events_for_fact, OutboundEvent, WebhookFormat, WebhookTarget,
};
#[allow(unused_imports)]
pub use pagerduty::*;
pub use postmortem::{
    draft_postmortem, duration, escape as escape_html, postmortem_edit_refusal, publish_refusal,
    render_html_document, render_html_fragment, render_markdown, render_postmortem_markdown,
    Authored, Block, CheckItem, Moment, PostmortemDraft, PostmortemSection, PublishedRevision,
    Section, SectionEdit, POSTMORTEM_CSS,
};
pub use runbook::Runbook;
pub use sla::AckPolicy;
pub use timestamp::Timestamp;
