//! Measures the error classifier against the labelled corpus in
//! `tests/fixtures/classification/corpus.jsonl` and fails when precision or recall of any
//! class drops below the bar. Run with `--nocapture` to see the table and the misses.

use std::collections::BTreeMap;

use aftermath_core::{classify, rules_version, Classification, ErrorClass, EvidenceText};
use serde::Deserialize;

const CORPUS: &str = include_str!("../../../tests/fixtures/classification/corpus.jsonl");

/// Precision first (a wrong label is worse than none), so its bar is the higher one.
const MIN_PRECISION: f64 = 0.95;
const MIN_RECALL: f64 = 0.90;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: String,
    expected: String,
    #[allow(dead_code)]
    tool: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    notes: Vec<String>,
}

impl Line {
    fn expected(&self) -> Option<ErrorClass> {
        match self.expected.as_str() {
            "unclassified" => None,
            code => Some(
                ErrorClass::parse(code)
                    .unwrap_or_else(|| panic!("{}: unknown class {code:?}", self.id)),
            ),
        }
    }

    fn texts(&self) -> Vec<EvidenceText> {
        let labels = self.labels.iter().map(|(k, v)| EvidenceText::label(k, v));
        let annotations = self
            .annotations
            .iter()
            .map(|(k, v)| EvidenceText::annotation(k, v));
        let notes = self.notes.iter().map(EvidenceText::note);
        labels.chain(annotations).chain(notes).collect()
    }
}

fn show(class: Option<ErrorClass>) -> &'static str {
    class.map_or("unclassified", ErrorClass::code)
}

/// The strongest evidence for the class that was chosen (or, when none was, for the class
/// that came closest), to show why a line went wrong.
fn top_evidence(c: &Classification) -> String {
    let focus = c.class.or_else(|| {
        c.scores
            .iter()
            .max_by_key(|(class, score)| (**score, std::cmp::Reverse(**class)))
            .map(|(class, _)| *class)
    });
    let mut items: Vec<_> = c
        .evidence
        .iter()
        .filter(|e| Some(e.class) == focus)
        .collect();
    items.sort_by_key(|e| -e.weight);
    let shown: Vec<String> = items
        .iter()
        .take(3)
        .map(|e| format!("{} ({:+}) {:?}", e.rule, e.weight, e.matched))
        .collect();
    let scores: Vec<String> = c
        .scores
        .iter()
        .filter(|(_, s)| **s != 0)
        .map(|(class, s)| format!("{class}={s}"))
        .collect();
    format!("[{}] {}", scores.join(" "), shown.join("; "))
}

#[test]
fn classifier_meets_precision_and_recall_on_the_corpus() {
    let lines: Vec<Line> = CORPUS
        .lines()
        .enumerate()
        .map(|(n, text)| {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("corpus line {}: {e}", n + 1))
        })
        .collect();
    assert!(lines.len() >= 200, "corpus has {} lines", lines.len());

    #[derive(Default)]
    struct Counts {
        tp: u32,
        fp: u32,
        fn_: u32,
    }
    let mut counts: BTreeMap<ErrorClass, Counts> = ErrorClass::ALL
        .into_iter()
        .map(|c| (c, Counts::default()))
        .collect();
    let mut misses = Vec::new();
    let mut unclassified_given_a_class = Vec::new();

    for line in &lines {
        let expected = line.expected();
        let result = classify(&line.texts());
        let got = result.class;
        if got == expected {
            if let Some(class) = got {
                counts.get_mut(&class).unwrap().tp += 1;
            }
            continue;
        }
        if let Some(class) = got {
            counts.get_mut(&class).unwrap().fp += 1;
        }
        if let Some(class) = expected {
            counts.get_mut(&class).unwrap().fn_ += 1;
        }
        if expected.is_none() {
            unclassified_given_a_class.push(line.id.clone());
        }
        misses.push(format!(
            "- `{}`: {} → {} ({}%) {}",
            line.id,
            show(expected),
            show(got),
            result.confidence,
            top_evidence(&result)
        ));
    }

    let ratio = |num: u32, den: u32| {
        if den == 0 {
            1.0
        } else {
            f64::from(num) / f64::from(den)
        }
    };
    let mut table = format!(
        "Rules version {}, {} corpus lines\n\n| class | TP | FP | FN | precision | recall |\n|---|---|---|---|---|---|\n",
        rules_version(),
        lines.len()
    );
    let mut failures = Vec::new();
    for (class, c) in &counts {
        let precision = ratio(c.tp, c.tp + c.fp);
        let recall = ratio(c.tp, c.tp + c.fn_);
        table.push_str(&format!(
            "| {class} {} | {} | {} | {} | {precision:.3} | {recall:.3} |\n",
            class.title(),
            c.tp,
            c.fp,
            c.fn_
        ));
        if precision < MIN_PRECISION {
            failures.push(format!(
                "{class} precision {precision:.3} < {MIN_PRECISION}"
            ));
        }
        if recall < MIN_RECALL {
            failures.push(format!("{class} recall {recall:.3} < {MIN_RECALL}"));
        }
    }
    println!("{table}");
    println!("Misclassified ({}):", misses.len());
    for miss in &misses {
        println!("{miss}");
    }
    println!(
        "\nUnclassified lines given a class (counted as false positives): {}",
        if unclassified_given_a_class.is_empty() {
            "none".to_owned()
        } else {
            unclassified_given_a_class.join(", ")
        }
    );

    // Every unclassified line that got a class must show up as a false positive above.
    let fps: u32 = counts.values().map(|c| c.fp).sum();
    let wrong_class = misses.len() as u32
        - unclassified_given_a_class.len() as u32
        - lines
            .iter()
            .filter(|l| l.expected().is_some() && classify(&l.texts()).class.is_none())
            .count() as u32;
    assert_eq!(fps, unclassified_given_a_class.len() as u32 + wrong_class);

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
