//! The runbook of each error class (`runbooks/E10x-*.md`), built into the binary and read
//! into its sections, so the read model lists the procedure and the post-mortem proposes
//! the prevention items.

use crate::ErrorClass;

/// A runbook's parts, in the order the file gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runbook {
    pub class: ErrorClass,
    /// The repository path, e.g. `runbooks/E104-database-migration-failure.md`.
    pub path: &'static str,
    pub title: String,
    pub symptoms: Vec<String>,
    pub procedure: Vec<String>,
    pub prevention: Vec<String>,
}

fn source(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::E101 => include_str!("../../../runbooks/E101-build-failure.md"),
        ErrorClass::E102 => include_str!("../../../runbooks/E102-test-failure.md"),
        ErrorClass::E103 => include_str!("../../../runbooks/E103-deployment-failure.md"),
        ErrorClass::E104 => include_str!("../../../runbooks/E104-database-migration-failure.md"),
        ErrorClass::E105 => include_str!("../../../runbooks/E105-git-merge-conflict.md"),
    }
}

impl Runbook {
    pub fn of(class: ErrorClass) -> Self {
        let mut runbook = Runbook {
            class,
            path: class.runbook(),
            title: String::new(),
            symptoms: Vec::new(),
            procedure: Vec::new(),
            prevention: Vec::new(),
        };
        let mut section = "";
        for line in source(class).lines().map(str::trim) {
            if let Some(title) = line.strip_prefix("# ") {
                runbook.title = title.to_owned();
            } else if let Some(heading) = line.strip_prefix("## ") {
                section = match heading {
                    "Symptoms" => "symptoms",
                    "Procedure" => "procedure",
                    "Prevention" => "prevention",
                    _ => "",
                };
            } else if let Some(item) = list_item(line) {
                let list = match section {
                    "symptoms" => &mut runbook.symptoms,
                    "procedure" => &mut runbook.procedure,
                    "prevention" => &mut runbook.prevention,
                    _ => continue,
                };
                list.push(item.to_owned());
            }
        }
        runbook
    }
}

/// The text of a `- item` or `1. item` line.
fn list_item(line: &str) -> Option<&str> {
    if let Some(item) = line.strip_prefix("- ") {
        return Some(item.trim());
    }
    let (number, rest) = line.split_once(". ")?;
    number
        .chars()
        .all(|c| c.is_ascii_digit())
        .then(|| rest.trim())
        .filter(|_| !number.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runbook_has_a_title_symptoms_a_procedure_and_prevention() {
        for class in ErrorClass::ALL {
            let runbook = Runbook::of(class);
            assert!(runbook.title.starts_with(class.code()), "{runbook:?}");
            assert!(runbook.symptoms.len() >= 3, "{runbook:?}");
            assert!(runbook.procedure.len() >= 3, "{runbook:?}");
            assert!(runbook.prevention.len() >= 3, "{runbook:?}");
            assert!(runbook
                .procedure
                .iter()
                .chain(&runbook.prevention)
                .all(|item| !item.is_empty() && !item.starts_with(['-', '#'])));
        }
    }

    #[test]
    fn list_items_are_bullets_or_numbered_steps() {
        assert_eq!(list_item("- check the log"), Some("check the log"));
        assert_eq!(list_item("12. roll back"), Some("roll back"));
        assert_eq!(list_item("Version 2. Not a step"), None);
        assert_eq!(list_item(". nothing"), None);
        assert_eq!(list_item("plain text"), None);
    }
}
