//! The newest committed facts, kept decoded in memory so the live projector, which reads
//! right behind the writer, takes them from here instead of reading back and decoding the
//! JSON just written (about a tenth of the server's CPU at one alert per request).
//!
//! The facts are the appending callers' own values, moved through the writer, never
//! copies: [`EventLog::append_owned`](crate::EventLog::append_owned) hands them over. A
//! read takes them out, so each is served from memory once; any other read, and any read
//! of facts that were dropped to keep within the byte budget, goes to SQLite as before.
//! The entries always form one gap-free run of offsets, so what a read takes is exactly
//! what SQLite would have returned.

use std::collections::VecDeque;

use aftermath_core::Fact;

use crate::{LoggedFact, Offset};

pub(crate) struct CommittedTail {
    /// Consecutive offsets, oldest first, each with the size it counts against the budget.
    facts: VecDeque<(LoggedFact, usize)>,
    bytes: usize,
    max_bytes: usize,
}

impl CommittedTail {
    /// Keeps facts up to `max_bytes` of their stored (JSON) size; 0 keeps none.
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            facts: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Adds the fact just committed at `offset`. `None` (an append that did not hand over
    /// its facts) breaks the run: everything older is dropped, since a reader could not
    /// be given the facts on both sides of the hole.
    pub(crate) fn push(&mut self, offset: Offset, fact: Option<Fact>, bytes: usize) {
        let follows = self
            .facts
            .back()
            .is_none_or(|(last, _)| last.offset + 1 == offset);
        if !follows || fact.is_none() {
            self.facts.clear();
            self.bytes = 0;
        }
        let Some(fact) = fact else { return };
        if bytes > self.max_bytes {
            return;
        }
        self.facts.push_back((
            LoggedFact {
                partition: 0,
                offset,
                fact,
            },
            bytes,
        ));
        self.bytes += bytes;
        while self.bytes > self.max_bytes {
            let (_, dropped) = self.facts.pop_front().expect("over budget means not empty");
            self.bytes -= dropped;
        }
    }

    /// Up to `max` facts from offset `from` on, taken out, when the tail starts exactly
    /// there; `None` otherwise (the reader is behind what is kept, or ahead of it). Facts
    /// before `from` are dropped: no reader of this tail will ask for them again.
    pub(crate) fn take(&mut self, from: Offset, max: usize) -> Option<Vec<LoggedFact>> {
        while let Some((oldest, bytes)) = self.facts.front() {
            if oldest.offset >= from {
                break;
            }
            self.bytes -= bytes;
            self.facts.pop_front();
        }
        let starts_here = self
            .facts
            .front()
            .is_some_and(|(oldest, _)| oldest.offset == from);
        if !starts_here || max == 0 {
            return None;
        }
        let taken: Vec<LoggedFact> = self
            .facts
            .drain(..max.min(self.facts.len()))
            .map(|(fact, bytes)| {
                self.bytes -= bytes;
                fact
            })
            .collect();
        Some(taken)
    }

    pub(crate) fn is_off(&self) -> bool {
        self.max_bytes == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // A note fact with this id; the same helper as the log's own tests.
    use crate::embedded::tests::note;

    fn offsets(facts: &[LoggedFact]) -> Vec<Offset> {
        facts.iter().map(|fact| fact.offset).collect()
    }

    #[test]
    fn a_reader_at_the_start_takes_the_facts_once_in_order() {
        let mut tail = CommittedTail::new(1000);
        for offset in 5..10 {
            tail.push(offset, Some(note(offset as u128)), 10);
        }
        assert!(
            tail.take(4, 100).is_none(),
            "behind the tail: read the file"
        );
        let first = tail.take(5, 3).unwrap();
        assert_eq!(offsets(&first), [5, 6, 7]);
        assert_eq!(first[1].fact, note(6));
        assert_eq!(offsets(&tail.take(8, 100).unwrap()), [8, 9]);
        assert!(tail.take(10, 100).is_none(), "nothing newer yet");
        assert_eq!(tail.bytes, 0);
    }

    #[test]
    fn a_hole_or_a_fact_not_handed_over_drops_everything_before_it() {
        let mut tail = CommittedTail::new(1000);
        tail.push(0, Some(note(0)), 10);
        tail.push(1, None, 10);
        tail.push(2, Some(note(2)), 10);
        assert!(tail.take(0, 10).is_none());
        assert!(tail.take(1, 10).is_none());
        assert_eq!(offsets(&tail.take(2, 10).unwrap()), [2]);

        tail.push(3, Some(note(3)), 10);
        tail.push(5, Some(note(5)), 10);
        assert!(tail.take(3, 10).is_none(), "3 went with the hole at 4");
        assert_eq!(offsets(&tail.take(5, 10).unwrap()), [5]);
    }

    #[test]
    fn the_oldest_go_first_beyond_the_budget_and_a_reader_skips_ahead() {
        let mut tail = CommittedTail::new(25);
        for offset in 0..4 {
            tail.push(offset, Some(note(offset as u128)), 10);
        }
        assert_eq!(tail.bytes, 20, "two of ten bytes fit in 25");
        assert!(tail.take(1, 10).is_none(), "0 and 1 were dropped");
        // A reader that read 2 from the file asks for 3 next: 2 is dropped, 3 served.
        assert_eq!(offsets(&tail.take(3, 10).unwrap()), [3]);

        let mut off = CommittedTail::new(0);
        assert!(off.is_off());
        off.push(0, Some(note(0)), 10);
        assert!(off.take(0, 10).is_none());
    }
}
