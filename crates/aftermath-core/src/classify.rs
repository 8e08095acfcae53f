//! Error classification: puts an incident into one of the SOP's error classes (E101–E105)
//! from the text of its alerts and notes, or leaves it unclassified when the evidence is weak.
//!
//! The knowledge lives in a data file, `classification_rules.toml`, a versioned table of
//! weighted regular expressions that reads like a runbook; this module only applies it.
//! Classification is split in two steps so the projection fold can run it incrementally:
//! `match_new_evidence` finds the rules that new texts match (an incident's evidence only
//! grows, and each rule counts at most once), and `decide` turns the accumulated evidence
//! into a class. Both are pure and deterministic, as everything in this crate must be.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// The SOP's error classes ("Specific Error Procedures").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    E101,
    E102,
    E103,
    E104,
    E105,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 5] = [
        ErrorClass::E101,
        ErrorClass::E102,
        ErrorClass::E103,
        ErrorClass::E104,
        ErrorClass::E105,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ErrorClass::E101 => "E101",
            ErrorClass::E102 => "E102",
            ErrorClass::E103 => "E103",
            ErrorClass::E104 => "E104",
            ErrorClass::E105 => "E105",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ErrorClass::E101 => "Build Failure",
            ErrorClass::E102 => "Test Failure",
            ErrorClass::E103 => "Deployment Failure",
            ErrorClass::E104 => "Database Migration Failure",
            ErrorClass::E105 => "Git Merge Conflict",
        }
    }

    /// The runbook for the class, relative to the repository root.
    pub fn runbook(self) -> &'static str {
        match self {
            ErrorClass::E101 => "runbooks/E101-build-failure.md",
            ErrorClass::E102 => "runbooks/E102-test-failure.md",
            ErrorClass::E103 => "runbooks/E103-deployment-failure.md",
            ErrorClass::E104 => "runbooks/E104-database-migration-failure.md",
            ErrorClass::E105 => "runbooks/E105-git-merge-conflict.md",
        }
    }

    /// `"E104"`, case-insensitive and ignoring surrounding whitespace.
    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim();
        Self::ALL
            .into_iter()
            .find(|class| class.code().eq_ignore_ascii_case(code))
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One piece of evidence text from an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceText {
    pub kind: EvidenceKind,
    /// The label or annotation name; `""` for notes.
    pub name: String,
    pub text: String,
}

impl EvidenceText {
    pub fn label(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: EvidenceKind::Label,
            name: name.into(),
            text: value.into(),
        }
    }

    pub fn annotation(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: EvidenceKind::Annotation,
            name: name.into(),
            text: value.into(),
        }
    }

    pub fn note(text: impl Into<String>) -> Self {
        Self {
            kind: EvidenceKind::Note,
            name: String::new(),
            text: text.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    Label,
    Annotation,
    Note,
}

/// A rule that matched, with what it matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub rule: String,
    pub class: ErrorClass,
    pub weight: i32,
    pub kind: EvidenceKind,
    pub name: String,
    /// The matched substring, at most [`MAX_MATCHED_CHARS`] characters.
    pub matched: String,
}

/// Longest `Evidence::matched` kept: enough to recognise the line, small enough for a fact.
pub const MAX_MATCHED_CHARS: usize = 120;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub class: Option<ErrorClass>,
    /// Percent, 0..=100; 0 exactly when `class` is `None`. See [`confidence`].
    pub confidence: u8,
    /// The summed weight of the evidence for every class (all five, 0 when none matched).
    pub scores: BTreeMap<ErrorClass, i32>,
    /// In rule-table order.
    pub evidence: Vec<Evidence>,
    pub rules_version: u32,
}

/// The version of the embedded rule table; recorded with every classification so a stored
/// result can be told apart from one the current table would give.
pub fn rules_version() -> u32 {
    table().version
}

/// Rules (by id) that `texts` match and that are not in `already`: the incremental step (an
/// incident's evidence only grows). For each rule, the first text (in order) that it matches
/// provides the evidence, so feeding texts in chunks gives the same evidence as all at once.
pub fn match_new_evidence(
    texts: &[EvidenceText],
    already: &BTreeMap<String, Evidence>,
) -> Vec<Evidence> {
    let table = table();
    let mut found: BTreeMap<usize, Evidence> = BTreeMap::new();
    for text in texts {
        // Each rule's own regex, not one `RegexSet` over all of them: measured on the corpus
        // (release build), the set's lazy DFA for ~100 case-insensitive patterns outgrows its
        // cache and falls back to the slow engine (~380 µs per text), while the individual
        // regexes keep their literal prefilters and skip most of a text (~20 µs per text for
        // the whole table). Cheap checks (rule already found, wrong kind of text) go first.
        for (index, rule) in table.rules.iter().enumerate() {
            if found.contains_key(&index)
                || !rule.applies_to(text)
                || already.contains_key(&rule.id)
            {
                continue;
            }
            let Some(m) = rule.regex.find(&text.text) else {
                continue;
            };
            found.insert(
                index,
                Evidence {
                    rule: rule.id.clone(),
                    class: rule.class,
                    weight: rule.weight,
                    kind: text.kind,
                    name: text.name.clone(),
                    matched: truncate_chars(m.as_str(), MAX_MATCHED_CHARS),
                },
            );
        }
    }
    found.into_values().collect()
}

/// Decides from the matched evidence (keyed by rule id). Uses each evidence's own class and
/// weight, so evidence recorded under an older table is judged as it was recorded.
pub fn decide(evidence: &BTreeMap<String, Evidence>) -> Classification {
    let table = table();
    let mut scores: BTreeMap<ErrorClass, i32> = ErrorClass::ALL.iter().map(|c| (*c, 0)).collect();
    for item in evidence.values() {
        *scores.entry(item.class).or_insert(0) += item.weight;
    }

    // Highest score first; ties broken by class order only to make the sort total: a tie at
    // the top never passes the margin check below.
    let mut ranked: Vec<(ErrorClass, i32)> = scores.iter().map(|(c, s)| (*c, *s)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let (best, top) = ranked[0];
    // Counter-evidence can push a class below zero; the margin is measured against the
    // strongest competing *positive* case, never against a negative one.
    let runner_up = ranked[1].1.max(0);
    let lead = top - runner_up;
    let chosen = top >= table.threshold && lead >= table.margin;

    let mut items: Vec<&Evidence> = evidence.values().collect();
    items.sort_by_key(|e| (table.position(&e.rule), e.rule.clone()));

    Classification {
        class: chosen.then_some(best),
        confidence: if chosen {
            confidence(top, lead, table.threshold, table.margin)
        } else {
            0
        },
        scores,
        evidence: items.into_iter().cloned().collect(),
        rules_version: table.version,
    }
}

/// Both steps for a whole set of texts.
pub fn classify(texts: &[EvidenceText]) -> Classification {
    let evidence = match_new_evidence(texts, &BTreeMap::new())
        .into_iter()
        .map(|e| (e.rule.clone(), e))
        .collect();
    decide(&evidence)
}

/// Confidence of a chosen class, in percent:
///
/// `100 - ceil(25 * threshold / score) - ceil(25 * margin / lead)`, clamped to `1..=99`.
///
/// A class that just reaches the threshold with just the required margin gets 50; each term
/// approaches its 25-point share as the score (strength of the evidence) and the lead over
/// the runner-up (how unambiguous it is) grow, so a strong but contested case stays below
/// 75. It never decreases when the score or the lead increases, and never claims certainty.
/// Integer arithmetic keeps it identical on every platform.
fn confidence(score: i32, lead: i32, threshold: i32, margin: i32) -> u8 {
    let ceil_div = |a: i64, b: i64| (a + b - 1) / b;
    let score = i64::from(score.max(1));
    let lead = i64::from(lead.max(1));
    let strength = ceil_div(25 * i64::from(threshold.max(1)), score);
    let clarity = ceil_div(25 * i64::from(margin.max(1)), lead);
    (100 - strength - clarity).clamp(1, 99) as u8
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// The rule table

const RULES_TOML: &str = include_str!("classification_rules.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    version: u32,
    threshold: i32,
    margin: i32,
    #[serde(rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    class: ErrorClass,
    weight: i32,
    pattern: String,
    #[serde(default)]
    case_sensitive: bool,
    #[serde(rename = "in")]
    kinds: Option<Vec<String>>,
    label: Option<String>,
    why: String,
}

struct Rule {
    id: String,
    class: ErrorClass,
    weight: i32,
    kinds: Vec<EvidenceKind>,
    label: Option<String>,
    regex: Regex,
}

impl Rule {
    fn applies_to(&self, text: &EvidenceText) -> bool {
        match &self.label {
            Some(label) => text.kind == EvidenceKind::Label && text.name == *label,
            None => self.kinds.contains(&text.kind),
        }
    }
}

struct Table {
    version: u32,
    threshold: i32,
    margin: i32,
    rules: Vec<Rule>,
    positions: BTreeMap<String, usize>,
}

impl Table {
    fn position(&self, rule: &str) -> usize {
        self.positions.get(rule).copied().unwrap_or(usize::MAX)
    }
}

/// Size limit for each compiled regex; generous, since the table is ours and compiled once,
/// but bounded so a careless pattern fails the unit tests loudly.
const REGEX_SIZE_LIMIT: usize = 64 << 20;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    // The table is compiled into the crate and checked by the unit tests, so failing to
    // load it is a programming error, not an input error.
    TABLE.get_or_init(|| load(RULES_TOML).unwrap_or_else(|e| panic!("{e}")))
}

fn pattern_for(raw: &RawRule) -> String {
    if raw.case_sensitive {
        raw.pattern.clone()
    } else {
        format!("(?i:{})", raw.pattern)
    }
}

fn load(source: &str) -> Result<Table, String> {
    let raw: RawTable =
        toml::from_str(source).map_err(|e| format!("classification_rules.toml: {e}"))?;
    if raw.threshold < 1 || raw.margin < 1 {
        return Err("classification_rules.toml: threshold and margin must be at least 1".into());
    }
    let mut rules = Vec::with_capacity(raw.rules.len());
    let mut positions = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (index, r) in raw.rules.iter().enumerate() {
        let err = |msg: String| format!("classification_rules.toml, rule {:?}: {msg}", r.id);
        if r.id.trim().is_empty() || !seen.insert(r.id.clone()) {
            return Err(err("id empty or not unique".into()));
        }
        if r.why.trim().is_empty() {
            return Err(err("`why` is required".into()));
        }
        if r.weight == 0 {
            return Err(err("weight 0 has no effect".into()));
        }
        if r.label.is_some() && r.kinds.is_some() {
            return Err(err(
                "`label` implies in = [\"labels\"]; give only one".into()
            ));
        }
        let pattern = pattern_for(r);
        let regex = RegexBuilder::new(&pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| err(e.to_string()))?;
        let kinds = match &r.kinds {
            Some(kinds) if kinds.is_empty() => return Err(err("`in` is empty".into())),
            Some(kinds) => kinds
                .iter()
                .map(|k| {
                    EvidenceKind::from_plural(k).ok_or_else(|| {
                        err(format!(
                            "unknown `in` kind {k:?} (labels, annotations, notes)"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![
                EvidenceKind::Label,
                EvidenceKind::Annotation,
                EvidenceKind::Note,
            ],
        };
        positions.insert(r.id.clone(), index);
        rules.push(Rule {
            id: r.id.clone(),
            class: r.class,
            weight: r.weight,
            kinds,
            label: r.label.clone(),
            regex,
        });
    }
    Ok(Table {
        version: raw.version,
        threshold: raw.threshold,
        margin: raw.margin,
        rules,
        positions,
    })
}

/// The TOML spells evidence kinds in the plural ("labels", "annotations", "notes"), as a
/// runbook reader would; the API's serde form stays singular.
impl EvidenceKind {
    fn from_plural(s: &str) -> Option<Self> {
        match s {
            "labels" => Some(EvidenceKind::Label),
            "annotations" => Some(EvidenceKind::Annotation),
            "notes" => Some(EvidenceKind::Note),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawTable {
        toml::from_str(RULES_TOML).expect("rule table parses")
    }

    fn sample() -> Vec<EvidenceText> {
        vec![
            EvidenceText::label("alertname", "CIBuildFailed"),
            EvidenceText::label("step", "cargo build --locked"),
            EvidenceText::annotation("summary", "cargo build failed on main"),
            EvidenceText::annotation(
                "description",
                "error[E0308]: mismatched types\nerror: could not compile `ledger` (lib) due to 1 previous error",
            ),
            EvidenceText::note("CONFLICT (content): Merge conflict in src/lib.rs"),
        ]
    }

    #[test]
    fn table_parses_and_every_pattern_compiles() {
        let table = load(RULES_TOML).expect("rule table loads");
        assert!(table.rules.len() >= 50, "{} rules", table.rules.len());
        assert_eq!(rules_version(), raw().version);
    }

    #[test]
    fn rule_ids_are_unique_and_every_why_is_filled() {
        let raw = raw();
        let mut ids = BTreeSet::new();
        for rule in &raw.rules {
            assert!(
                ids.insert(rule.id.as_str()),
                "duplicate rule id {}",
                rule.id
            );
            assert!(!rule.why.trim().is_empty(), "rule {} has no why", rule.id);
            assert!(
                !rule.why.contains('\n'),
                "rule {}: why is one line",
                rule.id
            );
            assert_ne!(rule.weight, 0, "rule {}", rule.id);
            assert!(!rule.pattern.is_empty(), "rule {}", rule.id);
        }
        for class in ErrorClass::ALL {
            assert!(
                raw.rules.iter().any(|r| r.class == class && r.weight > 0),
                "no positive rule for {class}"
            );
        }
    }

    #[test]
    fn no_rule_matches_the_empty_string() {
        // A pattern that matches everything would add its weight to every incident.
        for rule in &table().rules {
            for text in ["", "ok", "\n"] {
                assert!(
                    !rule.regex.is_match(text),
                    "rule {} matches {text:?}",
                    rule.id
                );
            }
        }
    }

    #[test]
    fn error_class_round_trips() {
        for class in ErrorClass::ALL {
            assert_eq!(ErrorClass::parse(class.code()), Some(class));
            assert_eq!(ErrorClass::parse(&class.code().to_lowercase()), Some(class));
            assert!(class
                .runbook()
                .starts_with(&format!("runbooks/{}-", class.code())));
            assert_eq!(
                serde_json::to_string(&class).unwrap(),
                format!("\"{}\"", class.code())
            );
        }
        assert_eq!(ErrorClass::parse("E106"), None);
        assert_eq!(
            serde_json::to_string(&EvidenceKind::Annotation).unwrap(),
            "\"annotation\""
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let texts = sample();
        let one_shot = classify(&texts);
        for split in 0..=texts.len() {
            let mut acc: BTreeMap<String, Evidence> = BTreeMap::new();
            for chunk in [&texts[..split], &texts[split..]] {
                for e in match_new_evidence(chunk, &acc) {
                    assert!(!acc.contains_key(&e.rule));
                    acc.insert(e.rule.clone(), e);
                }
            }
            assert_eq!(decide(&acc), one_shot, "split at {split}");
        }
        // One text at a time, too.
        let mut acc = BTreeMap::new();
        for text in &texts {
            for e in match_new_evidence(std::slice::from_ref(text), &acc) {
                acc.insert(e.rule.clone(), e);
            }
        }
        assert_eq!(decide(&acc), one_shot);
    }

    #[test]
    fn deterministic_and_each_rule_counts_once() {
        let mut texts = sample();
        let first = classify(&texts);
        assert_eq!(classify(&texts), first);
        // Repeating a text adds no evidence.
        texts.extend(sample());
        assert_eq!(classify(&texts), first);
        let mut rules: Vec<&str> = first.evidence.iter().map(|e| e.rule.as_str()).collect();
        let n = rules.len();
        rules.dedup();
        assert_eq!(rules.len(), n);
    }

    #[test]
    fn evidence_is_in_rule_table_order() {
        let c = classify(&sample());
        let table = table();
        let positions: Vec<usize> = c.evidence.iter().map(|e| table.position(&e.rule)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    }

    #[test]
    fn clear_cases_are_classified() {
        let build = classify(&sample()[..4]);
        assert_eq!(build.class, Some(ErrorClass::E101), "{build:#?}");
        assert!(build.confidence > 0);

        let conflict = classify(&[EvidenceText::annotation(
            "description",
            "CONFLICT (content): Merge conflict in src/app.rs\nAutomatic merge failed; fix conflicts and then commit the result.",
        )]);
        assert_eq!(conflict.class, Some(ErrorClass::E105));
    }

    #[test]
    fn weak_evidence_stays_unclassified() {
        let none = classify(&[]);
        assert_eq!(none.class, None);
        assert_eq!(none.confidence, 0);
        assert_eq!(none.scores.len(), 5);

        let cpu = classify(&[
            EvidenceText::label("alertname", "HostHighCpuLoad"),
            EvidenceText::annotation("summary", "Host high CPU load on api-node-4"),
        ]);
        assert_eq!(cpu.class, None, "{cpu:#?}");
        assert_eq!(cpu.confidence, 0);
    }

    /// Ordinary production alerts (as kube-prometheus and exporters word them) that share
    /// words with the classes; written for this test, not taken from the corpus.
    #[test]
    fn look_alikes_stay_unclassified() {
        let cases: [&[(&str, &str)]; 6] = [
            &[
                ("alertname", "CircuitBreakerOpen"),
                ("description", "resilience4j circuit breaker for payments-api is OPEN: new calls are rejected after 50% failures."),
            ],
            &[
                ("alertname", "KubePodCrashLooping"),
                ("description", "Pod payments/api-5f7c9 (api) is in waiting state (reason: \"CrashLoopBackOff\")."),
            ],
            &[
                ("alertname", "KubeDeploymentReplicasMismatch"),
                ("description", "Deployment checkout/api has not matched the expected number of replicas for longer than 15 minutes."),
            ],
            &[
                ("alertname", "KubeJobFailed"),
                ("description", "Job db/pg-backup-28751 failed to complete. Removing failed job after investigation should clear this alert."),
            ],
            &[
                ("alertname", "SSLCertExpiringSoon"),
                ("description", "The TLS certificate of https://test.example.dev (test environment) expires in 5 days."),
            ],
            &[
                ("alertname", "PostgresTooManyConnections"),
                ("description", "FATAL: sorry, too many clients already; 98% of max_connections used on orders-db during the migration window."),
            ],
        ];
        for case in cases {
            let texts: Vec<EvidenceText> = case
                .iter()
                .map(|(name, text)| match *name {
                    "alertname" => EvidenceText::label(*name, *text),
                    _ => EvidenceText::annotation(*name, *text),
                })
                .collect();
            let c = classify(&texts);
            assert_eq!(c.class, None, "{case:?}\n{c:#?}");
        }
    }

    #[test]
    fn tool_output_alone_is_enough() {
        let go_test = classify(&[EvidenceText::annotation(
            "description",
            "--- FAIL: TestQuota (0.01s)\n    quota_test.go:12: got 1, want 2\nFAIL\nFAIL\tgithub.com/acme/quota\t0.02s",
        )]);
        assert_eq!(go_test.class, Some(ErrorClass::E102), "{go_test:#?}");

        let flyway = classify(&[EvidenceText::annotation(
            "description",
            "ERROR: Validate failed: Migrations have failed validation\nDetected failed migration to version 5 (add orders index).",
        )]);
        assert_eq!(flyway.class, Some(ErrorClass::E104), "{flyway:#?}");

        // A deploy whose migration hook failed is E104, not E103 (SOP).
        let hook = classify(&[
            EvidenceText::label("alertname", "DeployFailed"),
            EvidenceText::annotation(
                "description",
                "Error: UPGRADE FAILED: pre-upgrade hooks failed: job api-migrate failed\nalembic.util.exc.CommandError: Can't locate revision identified by 'ab12cd34'",
            ),
        ]);
        assert_eq!(hook.class, Some(ErrorClass::E104), "{hook:#?}");
    }

    #[test]
    fn label_rules_only_look_at_their_label() {
        let raw = raw();
        let Some(rule) = raw.rules.iter().find(|r| r.label.is_some()) else {
            return;
        };
        let table = table();
        let compiled = &table.rules[table.position(&rule.id)];
        let name = rule.label.clone().unwrap();
        assert!(compiled.applies_to(&EvidenceText::label(name.clone(), "x")));
        assert!(!compiled.applies_to(&EvidenceText::label(format!("{name}_other"), "x")));
        assert!(!compiled.applies_to(&EvidenceText::annotation(name, "x")));
    }

    #[test]
    fn matched_text_is_truncated_on_a_char_boundary() {
        let long = "é".repeat(300);
        assert_eq!(
            truncate_chars(&long, MAX_MATCHED_CHARS).chars().count(),
            120
        );
        assert_eq!(truncate_chars("abc", MAX_MATCHED_CHARS), "abc");
    }

    #[test]
    fn confidence_is_monotone_and_bounded() {
        let (t, m) = (4, 2);
        assert_eq!(confidence(t, m, t, m), 50);
        for score in t..60 {
            for lead in m..=score {
                let c = confidence(score, lead, t, m);
                assert!((1..=99).contains(&c));
                assert!(confidence(score + 1, lead, t, m) >= c);
                assert!(confidence(score + 1, lead + 1, t, m) >= c);
                if lead < score {
                    assert!(confidence(score, lead + 1, t, m) >= c);
                }
            }
        }
    }

    #[test]
    fn evidence_kinds_are_spelled_in_the_plural_in_the_table() {
        assert_eq!(EvidenceKind::from_plural("notes"), Some(EvidenceKind::Note));
        assert_eq!(EvidenceKind::from_plural("note"), None);
    }
}
