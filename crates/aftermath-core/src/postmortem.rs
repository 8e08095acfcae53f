//! The first post-mortem draft, rendered as Markdown from an incident's projection in the
//! shape of the SOP's template (summary, impact, timeline, resolution).

use std::fmt::Write;

use crate::{Incident, IncidentStatus, Runbook};

/// Renders the draft. Pure: the same incident always gives the same text.
pub fn render_postmortem_markdown(incident: &Incident) -> String {
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "# Post-Mortem: {}\n", incident.title);
    let _ = writeln!(
        out,
        "*Draft generated from the incident's facts. Incident `{}`, status **{}**.*\n",
        incident.id,
        incident.status.as_str()
    );

    out.push_str("## Summary\n\n");
    let service = incident.service.as_deref().unwrap_or("an unnamed service");
    let _ = write!(
        out,
        "A {} incident on {service} was opened at {} by {} ({} alert(s)).",
        incident.severity.as_str(),
        incident.opened_at,
        incident.source,
        incident.alerts.len()
    );
    match (
        &incident.acknowledged_by,
        incident.time_to_acknowledge_seconds(),
    ) {
        (Some(by), Some(seconds)) => {
            let _ = write!(out, " {by} acknowledged it after {}.", duration(seconds));
        }
        _ => out.push_str(" Nobody acknowledged it."),
    }
    match (&incident.resolved_by, incident.time_to_resolve_seconds()) {
        (Some(by), Some(seconds)) => {
            let _ = write!(out, " It was resolved by {by} after {}.", duration(seconds));
        }
        _ => out.push_str(" It is not resolved yet."),
    }
    out.push_str("\n\n## Impact\n\n");
    match incident.downtime_seconds() {
        Some(seconds) => {
            let _ = writeln!(
                out,
                "- Duration: {} (first alert at {}, resolved at {})",
                duration(seconds),
                incident.started_at(),
                incident
                    .ended_at()
                    .map(|at| at.to_string())
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(out, "- Duration: ongoing since {}", incident.started_at());
        }
    }
    for alert in incident.alerts.values() {
        let _ = writeln!(
            out,
            "- Alert {} ({})",
            alert.display_name(),
            alert.status.as_str()
        );
    }
    out.push_str("- Failed requests, users affected, data loss: _not recorded yet_\n");

    out.push_str("\n## Timeline\n\n");
    for entry in &incident.timeline {
        let _ = writeln!(out, "- {} - {}", entry.at.clock_time(), entry.text);
    }

    out.push_str("\n## Resolution\n\n");
    match (incident.status, &incident.resolution) {
        (IncidentStatus::Resolved | IncidentStatus::Closed, Some(resolution)) => {
            let _ = writeln!(out, "{resolution}");
        }
        (IncidentStatus::Resolved | IncidentStatus::Closed, None) => {
            let by = incident.resolved_by.as_deref().unwrap_or("unknown");
            let _ = writeln!(out, "Resolved by {by}; no resolution was written.");
        }
        _ => out.push_str("_Not resolved yet._\n"),
    }
    classification_section(&mut out, incident);
    out
}

/// The error class with its evidence, and the runbook's prevention items as proposals.
fn classification_section(out: &mut String, incident: &Incident) {
    out.push_str("\n## Classification\n\n");
    let Some(class) = incident.error_class() else {
        out.push_str("Unclassified: no error class (E101-E105) fits the evidence.\n");
        return;
    };
    let runbook = Runbook::of(class);
    match (&incident.classification_override, &incident.classification) {
        (Some(chosen), _) => {
            let _ = writeln!(
                out,
                "{} {}, set by {}: {} (runbook: {})",
                class.code(),
                class.title(),
                chosen.by,
                chosen.reason,
                runbook.path
            );
        }
        (None, Some(found)) => {
            let _ = writeln!(
                out,
                "{} {}, by the classifier (confidence {}%, rules v{}; runbook: {})\n",
                class.code(),
                class.title(),
                found.confidence,
                found.rules_version,
                runbook.path
            );
            for evidence in found.evidence.iter().filter(|e| e.class == class) {
                let _ = writeln!(
                    out,
                    "- rule `{}` matched {:?}",
                    evidence.rule, evidence.matched
                );
            }
        }
        (None, None) => {}
    }
    out.push_str("\n### Proposed prevention (from the runbook)\n\n");
    for item in &runbook.prevention {
        let _ = writeln!(out, "- [ ] {item}");
    }
}

/// `42 minutes`, `1 h 05 min`, `35 s`: the units a reader expects.
fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {:02} s", s / 60, s % 60),
        s => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(35), "35 s");
        assert_eq!(duration(42 * 60 + 3), "42 min 03 s");
        assert_eq!(duration(3600 + 5 * 60), "1 h 05 min");
    }
}
