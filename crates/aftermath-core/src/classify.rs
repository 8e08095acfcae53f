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

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder};
use regex_syntax::hir::{Class, Hir, HirKind, Literal};
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
    let texts: Vec<TextRef<'_>> = texts.iter().map(TextRef::from).collect();
    match_new_texts(&texts, already.keys().map(String::as_str))
}

/// An evidence text borrowed from a fact, so the fold matches it without copying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TextRef<'a> {
    pub kind: EvidenceKind,
    pub name: &'a str,
    pub text: &'a str,
}

impl<'a> TextRef<'a> {
    pub fn label(name: &'a str, text: &'a str) -> Self {
        Self {
            kind: EvidenceKind::Label,
            name,
            text,
        }
    }

    pub fn annotation(name: &'a str, text: &'a str) -> Self {
        Self {
            kind: EvidenceKind::Annotation,
            name,
            text,
        }
    }

    pub fn note(text: &'a str) -> Self {
        Self {
            kind: EvidenceKind::Note,
            name: "",
            text,
        }
    }
}

impl<'a> From<&'a EvidenceText> for TextRef<'a> {
    fn from(text: &'a EvidenceText) -> Self {
        Self {
            kind: text.kind,
            name: &text.name,
            text: &text.text,
        }
    }
}

/// [`match_new_evidence`] over borrowed texts, with the rules already matched given by id.
pub(crate) fn match_new_texts<'r>(
    texts: &[TextRef<'_>],
    already: impl IntoIterator<Item = &'r str>,
) -> Vec<Evidence> {
    let table = table();
    let mut skip = RuleSet::new(table.rules.len());
    for rule in already {
        if let Some(&index) = table.positions.get(rule) {
            skip.insert(index);
        }
    }
    let mut found: Vec<(usize, Evidence)> = Vec::new();
    let mut candidates = RuleSet::new(table.rules.len());
    for (position, text) in texts.iter().enumerate() {
        if skip.len() == table.rules.len() {
            break;
        }
        // A repeated text (the same label on two alerts of one notification) matches the
        // rules it matched the first time, which are found by then.
        if texts[..position].contains(text) {
            continue;
        }
        // Only the rules whose required literals occur in the text can match it (see
        // `Prefilter`); each of them then runs its own regex for the match itself.
        table.prefilter.candidates(text.text, &mut candidates);
        for index in candidates.iter() {
            let rule = &table.rules[index];
            if skip.contains(index) || !rule.applies(text.kind, text.name) {
                continue;
            }
            let Some(m) = rule.regex.find(text.text) else {
                continue;
            };
            skip.insert(index);
            found.push((index, evidence_of(rule, text.kind, text.name, m.as_str())));
        }
    }
    found.sort_unstable_by_key(|(index, _)| *index);
    found.into_iter().map(|(_, evidence)| evidence).collect()
}

fn evidence_of(rule: &Rule, kind: EvidenceKind, name: &str, matched: &str) -> Evidence {
    Evidence {
        rule: rule.id.clone(),
        class: rule.class,
        weight: rule.weight,
        kind,
        name: name.to_owned(),
        matched: truncate_chars(matched, MAX_MATCHED_CHARS),
    }
}

/// A set of rule indexes (positions in the table), as a bit set.
struct RuleSet {
    words: Vec<u64>,
    len: usize,
}

impl RuleSet {
    fn new(rules: usize) -> Self {
        Self {
            words: vec![0; rules.div_ceil(64)],
            len: 0,
        }
    }

    fn insert(&mut self, index: usize) {
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        if self.words[word] & bit == 0 {
            self.words[word] |= bit;
            self.len += 1;
        }
    }

    fn contains(&self, index: usize) -> bool {
        self.words[index / 64] & (1u64 << (index % 64)) != 0
    }

    fn len(&self) -> usize {
        self.len
    }

    fn clear(&mut self) {
        self.words.fill(0);
        self.len = 0;
    }

    /// In ascending order, so rules run in table order as they always did.
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(n, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    n * 64 + bit
                })
            })
        })
    }
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
    items.sort_by(|a, b| {
        (table.position(&a.rule), &a.rule).cmp(&(table.position(&b.rule), &b.rule))
    });

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
    fn applies(&self, kind: EvidenceKind, name: &str) -> bool {
        match &self.label {
            Some(label) => kind == EvidenceKind::Label && name == label,
            None => self.kinds.contains(&kind),
        }
    }

    #[cfg(test)]
    fn applies_to(&self, text: &EvidenceText) -> bool {
        self.applies(text.kind, &text.name)
    }
}

struct Table {
    version: u32,
    threshold: i32,
    margin: i32,
    rules: Vec<Rule>,
    positions: BTreeMap<String, usize>,
    prefilter: Prefilter,
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
    let mut patterns = Vec::with_capacity(raw.rules.len());
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
        patterns.push(pattern);
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
        prefilter: Prefilter::new(&patterns)?,
    })
}

/// Finds, in one pass over a text, the rules that can match it: a rule's regex can only
/// match a text that contains one of the rule's required literals, which are derived from the
/// parsed pattern (every match starts with one of its prefix literals, and ends with one of
/// its suffix literals). All rules' literals go into one Aho-Corasick automaton.
///
/// Why not one `RegexSet`: its lazy DFA for ~100 case-insensitive Unicode patterns outgrows
/// its cache and falls back to the slow engine (measured ~18x slower than running every
/// regex); a set of plain literals stays a small automaton. The filter only ever admits too
/// many rules, never too few, so results are those of running every rule's regex.
struct Prefilter {
    /// ASCII-case-insensitive: a case-insensitive rule's literals then collapse to one per
    /// spelling (the non-ASCII case variants, like the Kelvin sign for `k`, stay literals of
    /// their own); a case-sensitive rule's literal admits a few texts too many, which its
    /// regex then turns down.
    automaton: AhoCorasick,
    /// The rules each automaton pattern admits.
    rules_of_literal: Vec<Vec<usize>>,
    /// Rules without required literals (every match may start and end with anything): they
    /// always run.
    unfiltered: Vec<usize>,
}

impl Prefilter {
    fn new(patterns: &[String]) -> Result<Self, String> {
        let mut rules_of_literal: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
        let mut unfiltered = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            match required_literals(pattern)? {
                Some(literals) => {
                    for literal in literals {
                        rules_of_literal.entry(literal).or_default().push(index);
                    }
                }
                None => unfiltered.push(index),
            }
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(rules_of_literal.keys())
            .map_err(|e| format!("classification_rules.toml: literal prefilter: {e}"))?;
        Ok(Self {
            automaton,
            rules_of_literal: rules_of_literal.into_values().collect(),
            unfiltered,
        })
    }

    /// Replaces `candidates` with the rules that can match `text`.
    fn candidates(&self, text: &str, candidates: &mut RuleSet) {
        candidates.clear();
        for &index in &self.unfiltered {
            candidates.insert(index);
        }
        for found in self.automaton.find_overlapping_iter(text) {
            for &index in &self.rules_of_literal[found.pattern().as_usize()] {
                candidates.insert(index);
            }
        }
    }
}

/// Literals (ASCII-lowercased) of which every match of `pattern` contains one, or `None`
/// when there are none to rely on. Parsed with `regex`'s own parser and defaults, so the
/// literals are those of the regex that runs.
fn required_literals(pattern: &str) -> Result<Option<Vec<Vec<u8>>>, String> {
    let hir = regex_syntax::Parser::new()
        .parse(pattern)
        .map_err(|e| format!("classification_rules.toml: {pattern:?}: {e}"))?;
    Ok(required_in(&hir))
}

/// Every match of `hir` contains one of the returned literals: a concatenation's matches
/// contain a match of each of its parts, and of each run of literal parts (a
/// case-insensitive word is a run of one-letter classes), so the best of these will do; an
/// alternation's matches contain one of its branches' (so every branch needs literals); a
/// repetition of at least once contains its subexpression's.
fn required_in(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Literal(_) | HirKind::Class(_) => literals_of_run(std::slice::from_ref(hir)),
        HirKind::Concat(parts) => {
            let mut best = None;
            for part in parts {
                best = better(best, required_in(part));
            }
            for run in parts.split(|part| letters(part).is_none()) {
                if run.len() > 1 {
                    best = better(best, literals_of_run(run));
                }
            }
            best
        }
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(required_in(branch)?);
            }
            lowered(all)
        }
        HirKind::Capture(capture) => required_in(&capture.sub),
        HirKind::Repetition(repetition) if repetition.min >= 1 => required_in(&repetition.sub),
        _ => None,
    }
}

/// Most spellings one window of a run may have (after ASCII lowercasing, a case-insensitive
/// letter has one, or two with a non-ASCII variant such as the Kelvin sign for `k`).
const SPELLINGS_LIMIT: usize = 64;

/// A class with more characters than this is no literal (`\d` and `\w` are Unicode).
const CLASS_CHARS_LIMIT: u32 = 10;

/// The spellings (UTF-8, ASCII-lowercased) one literal part may match, one entry per position
/// it fills: a literal's bytes one by one, a small class's characters.
fn letters(part: &Hir) -> Option<Vec<Vec<Vec<u8>>>> {
    match part.kind() {
        HirKind::Literal(Literal(bytes)) => Some(
            bytes
                .iter()
                .map(|byte| vec![vec![byte.to_ascii_lowercase()]])
                .collect(),
        ),
        HirKind::Class(Class::Unicode(class)) => {
            let size: u32 = class
                .ranges()
                .iter()
                .map(|range| u32::from(range.end()) - u32::from(range.start()) + 1)
                .sum();
            if size == 0 || size > CLASS_CHARS_LIMIT {
                return None;
            }
            let mut spellings: Vec<Vec<u8>> = class
                .ranges()
                .iter()
                .flat_map(|range| range.start()..=range.end())
                .map(|c| c.to_ascii_lowercase().to_string().into_bytes())
                .collect();
            spellings.sort();
            spellings.dedup();
            Some(vec![spellings])
        }
        _ => None,
    }
}

/// The best window of a run of literal parts (every match of the run contains a match of
/// each window): from each position, as long as its spellings stay few.
fn literals_of_run(run: &[Hir]) -> Option<Vec<Vec<u8>>> {
    let positions: Vec<Vec<Vec<u8>>> = run
        .iter()
        .map(letters)
        .collect::<Option<Vec<_>>>()?
        .concat();
    let mut best = None;
    for start in 0..positions.len() {
        let mut window: Vec<Vec<u8>> = vec![Vec::new()];
        for spellings in &positions[start..] {
            if window.len() * spellings.len() > SPELLINGS_LIMIT {
                break;
            }
            window = window
                .iter()
                .flat_map(|prefix| {
                    spellings
                        .iter()
                        .map(move |spelling| [prefix.as_slice(), spelling].concat())
                })
                .collect();
        }
        best = better(best, lowered(window));
    }
    best
}

/// ASCII-lowercased and deduplicated; `None` if a literal is empty (it occurs in every text).
fn lowered(literals: impl IntoIterator<Item = Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    let mut lowered: Vec<Vec<u8>> = literals
        .into_iter()
        .map(|literal| literal.to_ascii_lowercase())
        .collect();
    if lowered.iter().any(Vec::is_empty) {
        return None;
    }
    lowered.sort();
    lowered.dedup();
    Some(lowered)
}

/// The set that admits fewer texts by accident: the longer shortest literal, then fewer
/// literals. (An empty set means the expression never matches.)
fn better(a: Option<Vec<Vec<u8>>>, b: Option<Vec<Vec<u8>>>) -> Option<Vec<Vec<u8>>> {
    let rank = |set: &Vec<Vec<u8>>| {
        let shortest = set.iter().map(Vec::len).min().unwrap_or(usize::MAX);
        (shortest.min(8), std::cmp::Reverse(set.len()))
    };
    match (a, b) {
        (Some(a), Some(b)) => Some(if rank(&b) > rank(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
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
    use proptest::prelude::*;

    /// The straightforward matcher, as the classifier first was: every rule's regex over
    /// every text, in order. The oracle for the prefiltered `match_new_evidence`.
    fn match_with_every_regex(
        texts: &[EvidenceText],
        already: &BTreeMap<String, Evidence>,
    ) -> Vec<Evidence> {
        let table = table();
        let mut found: BTreeMap<usize, Evidence> = BTreeMap::new();
        for text in texts {
            for (index, rule) in table.rules.iter().enumerate() {
                if found.contains_key(&index)
                    || !rule.applies_to(text)
                    || already.contains_key(&rule.id)
                {
                    continue;
                }
                if let Some(m) = rule.regex.find(&text.text) {
                    found.insert(index, evidence_of(rule, text.kind, &text.name, m.as_str()));
                }
            }
        }
        found.into_values().collect()
    }

    /// Every text of the labelled corpus, one by one and as whole incidents.
    fn corpus_incidents() -> Vec<Vec<EvidenceText>> {
        const CORPUS: &str = include_str!("../../../tests/fixtures/classification/corpus.jsonl");
        CORPUS
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).expect("corpus line");
                let pairs = |field: &str| -> Vec<(String, String)> {
                    value[field]
                        .as_object()
                        .map(|map| {
                            map.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let mut texts: Vec<EvidenceText> = pairs("labels")
                    .into_iter()
                    .map(|(k, v)| EvidenceText::label(k, v))
                    .collect();
                texts.extend(
                    pairs("annotations")
                        .into_iter()
                        .map(|(k, v)| EvidenceText::annotation(k, v)),
                );
                if let Some(notes) = value["notes"].as_array() {
                    texts.extend(
                        notes
                            .iter()
                            .map(|note| EvidenceText::note(note.as_str().unwrap_or(""))),
                    );
                }
                texts
            })
            .collect()
    }

    #[test]
    fn prefiltered_matcher_equals_every_regex_on_the_corpus() {
        let incidents = corpus_incidents();
        assert!(incidents.len() > 200);
        let nothing = BTreeMap::new();
        for texts in &incidents {
            assert_eq!(
                match_new_evidence(texts, &nothing),
                match_with_every_regex(texts, &nothing)
            );
            for text in texts {
                let one = std::slice::from_ref(text);
                assert_eq!(
                    match_new_evidence(one, &nothing),
                    match_with_every_regex(one, &nothing),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn most_rules_have_required_literals() {
        // Not a correctness condition (an unfiltered rule just always runs), but the speed
        // of the classifier depends on it.
        let table = table();
        assert!(
            table.prefilter.unfiltered.len() * 5 <= table.rules.len(),
            "{} of {} rules unfiltered",
            table.prefilter.unfiltered.len(),
            table.rules.len()
        );
    }

    /// Pieces texts are made of: every rule's required literals (so that rules do match),
    /// fragments of tool output, and characters whose case folding leaves ASCII (the Kelvin
    /// sign folds to `k`, the long s to `s`) or that `\w`, `\b` and `\d` treat by Unicode.
    fn text_piece() -> impl Strategy<Value = String> {
        let mut literals: Vec<String> =
            RAW_PATTERN_PIECES.iter().map(|s| (*s).to_owned()).collect();
        for pattern in table().rules.iter().map(|rule| rule.regex.as_str()) {
            if let Ok(Some(required)) = required_literals(pattern) {
                literals.extend(
                    required
                        .into_iter()
                        .map(|literal| String::from_utf8_lossy(&literal).into_owned()),
                );
            }
        }
        prop_oneof![
            3 => proptest::sample::select(literals),
            2 => "\\PC{0,12}",
            1 => "[ \\n\\t:.,'`\"()\\[\\]<>/=-]{1,3}",
            1 => "[0-9]{1,4}",
            1 => proptest::sample::select(vec![
                "\u{212A}", "\u{17F}", "é", "ß", "\u{130}", "\u{131}", "●", "›", "٣", "\u{0}",
            ]).prop_map(str::to_owned),
        ]
    }

    /// Fragments in the words tools print, for the rules whose literals alone do not match.
    const RAW_PATTERN_PIECES: &[&str] = &[
        "error[E0308]: mismatched types",
        "--- FAIL: TestQuota (0.01s)",
        "FAIL\tgithub.com/acme/quota\t0.02s",
        "3 problems (2 errors, 1 warning)",
        "src/app.ts:12:5  error  Unexpected any  @typescript-eslint/no-explicit-any",
        "CONFLICT (content): Merge conflict in src/lib.rs",
        "<<<<<<< HEAD",
        "OOMKilled on startup of the new pods",
        "migration 42 failed with error",
        "Tests run: 12, Failures: 1, Errors: 0",
        "  2 failed",
        "e: src/main.kt: unresolved",
        "---- tests::it_works stdout ----",
        "Found 3 errors in 2 files (checked 10 source files)",
        "cargo build --locked",
        "deploy-api",
        "CIBuildFailed",
    ];

    /// A text with random case changes: the rules are mostly case-insensitive.
    fn text() -> impl Strategy<Value = String> {
        (proptest::collection::vec(text_piece(), 0..8), any::<u64>()).prop_map(|(pieces, flips)| {
            pieces
                .concat()
                .chars()
                .enumerate()
                .map(|(n, c)| {
                    if flips >> (n % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
    }

    fn evidence_text() -> impl Strategy<Value = EvidenceText> {
        let label_names: Vec<String> = ["alertname", "job", "step", "service", "severity"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        (0..3u8, proptest::sample::select(label_names), text()).prop_map(|(kind, name, text)| {
            match kind {
                0 => EvidenceText::label(name, text),
                1 => EvidenceText::annotation("description", text),
                _ => EvidenceText::note(text),
            }
        })
    }

    fn already_matched() -> impl Strategy<Value = BTreeMap<String, Evidence>> {
        let ids: Vec<String> = table().rules.iter().map(|rule| rule.id.clone()).collect();
        proptest::sample::subsequence(ids.clone(), 0..=ids.len() / 4).prop_map(|ids| {
            ids.into_iter()
                .map(|id| {
                    let rule = &table().rules[table().position(&id)];
                    (id, evidence_of(rule, EvidenceKind::Note, "", "earlier"))
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn prefiltered_matcher_equals_every_regex(
            texts in proptest::collection::vec(evidence_text(), 0..5),
            already in already_matched(),
        ) {
            prop_assert_eq!(
                match_new_evidence(&texts, &already),
                match_with_every_regex(&texts, &already)
            );
        }
    }

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
