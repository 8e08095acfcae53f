//! The traffic model of the load generator: which alerts each request carries, as
//! Prometheus would send them to Alertmanager (new alerts, unchanged re-sends of alerts
//! already sent, and alerts that resolve and later fire again), and how Alertmanager
//! would group them.
//!
//! The model is deterministic (no randomness): the same shape always yields the same
//! requests, so both targets of a comparison get the same alerts. Shares are spread
//! evenly over the requests (request `n` is a repeat when `⌊(n+1)·share⌋ > ⌊n·share⌋`),
//! so any window of requests holds the requested share, not just the whole run.

use std::collections::VecDeque;

/// How alerts are gathered into Alertmanager groups (one group: one incident at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// Groups fill one after another: new alert `k` joins group `k / alerts_per_group`,
    /// so the number of groups grows with the number of distinct alerts.
    Fill { alerts_per_group: u64 },
    /// A fixed number of groups taking new alerts in turn, so groups grow without bound.
    RoundRobin { groups: u64 },
}

/// The alert population: who alert `k` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Population {
    /// Distinct `service` labels; a group is one (alertname, service) pair.
    pub services: u64,
    pub grouping: Grouping,
}

impl Population {
    /// The group alert `k` belongs to.
    pub fn group_of(&self, alert: u64) -> u64 {
        match self.grouping {
            Grouping::Fill { alerts_per_group } => alert / alerts_per_group.max(1),
            Grouping::RoundRobin { groups } => alert % groups.max(1),
        }
    }

    /// The alert's position within its group (its `instance` label).
    pub fn instance_of(&self, alert: u64) -> u64 {
        match self.grouping {
            Grouping::Fill { alerts_per_group } => alert % alerts_per_group.max(1),
            Grouping::RoundRobin { groups } => alert / groups.max(1),
        }
    }

    /// The group's `service` label number.
    pub fn service_of(&self, group: u64) -> u64 {
        group % self.services.max(1)
    }

    /// The group's `alertname` number: groups of one service differ by alert name.
    pub fn alertname_of(&self, group: u64) -> u64 {
        group / self.services.max(1)
    }
}

/// What traffic to make.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrafficShape {
    pub population: Population,
    /// Alerts in one request (Prometheus batches alerts; Alertmanager's API takes arrays).
    pub alerts_per_request: u64,
    /// Share of requests (hence of alerts) that re-send alerts already sent, unchanged,
    /// as Prometheus re-sends every firing alert at each evaluation.
    pub repeat_share: f64,
    /// Share of the other requests that change alerts already sent instead of sending new
    /// ones: such requests alternate between resolving firing alerts and firing again,
    /// with a new start, the alerts resolved longest ago.
    pub cycle_share: f64,
}

/// Why an alert is in a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendKind {
    /// Its first firing.
    New,
    /// A re-send of its current state, unchanged.
    Repeat,
    /// It stopped firing.
    Resolve,
    /// It fires again after it resolved.
    Refire,
}

/// One alert in one request: which alert, in which state. Times are change sequence
/// numbers; the renderer turns them into timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertSend {
    pub alert: u64,
    pub group: u64,
    pub kind: SendKind,
    /// Sequence number of the change that started the alert's current firing.
    pub starts_seq: u64,
    /// Sequence number of the change that resolved it; `None` while it fires.
    pub ends_seq: Option<u64>,
    /// The alert whose firing opened the incident this send lands on (the incident id
    /// is derived from that fact), and that firing's start.
    pub opener_alert: u64,
    pub opener_starts_seq: u64,
}

impl AlertSend {
    pub fn is_firing(&self) -> bool {
        self.ends_seq.is_none()
    }

    /// Whether the send changes what the incident holds (a repeat changes nothing).
    pub fn is_change(&self) -> bool {
        self.kind != SendKind::Repeat
    }
}

/// The alerts of one request, before a target splits or renders them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub index: u64,
    pub alerts: Vec<AlertSend>,
}

/// How many alerts of each kind the model sent, and what it expects the server to hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrafficTotals {
    pub batches: u64,
    pub alerts: u64,
    pub new: u64,
    pub repeats: u64,
    pub resolves: u64,
    pub refires: u64,
    /// Distinct alerts (fingerprints) sent.
    pub distinct_alerts: u64,
    /// Distinct groups touched.
    pub groups: u64,
    /// Alerts firing once every batch is in.
    pub firing: u64,
    /// Incidents the fold opens when the batches reach it in this order: a firing alert
    /// in a group with nothing firing opens one; the last resolution closes it.
    pub incidents_opened: u64,
}

#[derive(Clone, Copy, Debug)]
struct Occurrence {
    starts_seq: u64,
    ends_seq: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default)]
struct GroupState {
    firing: u64,
    opener_alert: u64,
    opener_starts_seq: u64,
}

/// The generator: call [`Traffic::next_batch`] for each request, in order.
pub struct Traffic {
    shape: TrafficShape,
    occurrences: Vec<Occurrence>,
    groups: Vec<GroupState>,
    repeat_cursor: u64,
    resolve_cursor: u64,
    /// Resolved alerts, longest resolved first: the next to fire again.
    resolved: VecDeque<u64>,
    change_batches: u64,
    cycle_batches: u64,
    next_seq: u64,
    totals: TrafficTotals,
}

/// Whether item `index` of an evenly spread sequence belongs to the `share`.
pub fn takes_share(index: u64, share: f64) -> bool {
    let share = share.clamp(0.0, 1.0);
    ((index + 1) as f64 * share).floor() > (index as f64 * share).floor()
}

impl Traffic {
    pub fn new(shape: TrafficShape) -> Self {
        Self {
            shape,
            occurrences: Vec::new(),
            groups: Vec::new(),
            repeat_cursor: 0,
            resolve_cursor: 0,
            resolved: VecDeque::new(),
            change_batches: 0,
            cycle_batches: 0,
            next_seq: 0,
            totals: TrafficTotals::default(),
        }
    }

    pub fn shape(&self) -> &TrafficShape {
        &self.shape
    }

    pub fn totals(&self) -> TrafficTotals {
        self.totals
    }

    /// The next request's alerts. Repeats and cycles need alerts already sent, so the
    /// first request is always new, and while fewer alerts exist than a request holds
    /// (or fewer are firing, or resolved), such a request holds fewer alerts.
    pub fn next_batch(&mut self) -> Batch {
        let index = self.totals.batches;
        self.totals.batches += 1;
        let existing = self.occurrences.len() as u64;
        let per_request = self.shape.alerts_per_request.max(1);
        let alerts: Vec<AlertSend> = if existing > 0 && takes_share(index, self.shape.repeat_share)
        {
            (0..per_request.min(existing))
                .map(|_| self.repeat())
                .collect()
        } else {
            let change = self.change_batches;
            self.change_batches += 1;
            if existing > 0 && takes_share(change, self.shape.cycle_share) {
                self.cycle(per_request)
            } else {
                (0..per_request).map(|_| self.fire_new()).collect()
            }
        };
        self.totals.alerts += alerts.len() as u64;
        Batch { index, alerts }
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn group_mut(&mut self, group: u64) -> &mut GroupState {
        let index = group as usize;
        if self.groups.len() <= index {
            self.groups.resize(index + 1, GroupState::default());
        }
        &mut self.groups[index]
    }

    /// Marks `alert` firing from `starts_seq` in its group, opening the group's incident
    /// when nothing in it fired.
    fn start_firing(&mut self, alert: u64, group: u64, starts_seq: u64) -> GroupState {
        let opened = {
            let state = self.group_mut(group);
            let opened = state.firing == 0;
            if opened {
                state.opener_alert = alert;
                state.opener_starts_seq = starts_seq;
            }
            state.firing += 1;
            opened
        };
        self.totals.firing += 1;
        if opened {
            self.totals.incidents_opened += 1;
        }
        self.groups[group as usize]
    }

    fn send(&self, alert: u64, group: u64, kind: SendKind, state: GroupState) -> AlertSend {
        let occurrence = self.occurrences[alert as usize];
        AlertSend {
            alert,
            group,
            kind,
            starts_seq: occurrence.starts_seq,
            ends_seq: occurrence.ends_seq,
            opener_alert: state.opener_alert,
            opener_starts_seq: state.opener_starts_seq,
        }
    }

    fn fire_new(&mut self) -> AlertSend {
        let alert = self.occurrences.len() as u64;
        let group = self.shape.population.group_of(alert);
        let starts_seq = self.take_seq();
        self.occurrences.push(Occurrence {
            starts_seq,
            ends_seq: None,
        });
        self.totals.groups = self.totals.groups.max(group + 1);
        let state = self.start_firing(alert, group, starts_seq);
        self.totals.new += 1;
        self.totals.distinct_alerts += 1;
        self.send(alert, group, SendKind::New, state)
    }

    fn repeat(&mut self) -> AlertSend {
        let alert = self.repeat_cursor % self.occurrences.len() as u64;
        self.repeat_cursor = alert + 1;
        let group = self.shape.population.group_of(alert);
        let state = self.groups[group as usize];
        self.totals.repeats += 1;
        self.send(alert, group, SendKind::Repeat, state)
    }

    /// Resolves the next firing alerts in sweep order, or fires again the alerts resolved
    /// longest ago, in turn; either, when there is nothing to do the other.
    fn cycle(&mut self, per_request: u64) -> Vec<AlertSend> {
        let resolve_turn = self.cycle_batches % 2 == 0;
        self.cycle_batches += 1;
        if (resolve_turn && self.totals.firing > 0) || self.resolved.is_empty() {
            let count = per_request.min(self.totals.firing);
            (0..count).map(|_| self.resolve_next()).collect()
        } else {
            let count = (per_request as usize).min(self.resolved.len());
            (0..count).map(|_| self.refire_oldest()).collect()
        }
    }

    fn resolve_next(&mut self) -> AlertSend {
        let population = self.occurrences.len() as u64;
        let mut alert = self.resolve_cursor % population;
        while self.occurrences[alert as usize].ends_seq.is_some() {
            alert = (alert + 1) % population;
        }
        self.resolve_cursor = alert + 1;
        let group = self.shape.population.group_of(alert);
        let seq = self.take_seq();
        self.occurrences[alert as usize].ends_seq = Some(seq);
        self.resolved.push_back(alert);
        let state = self.group_mut(group);
        state.firing -= 1;
        let state = *state;
        self.totals.firing -= 1;
        self.totals.resolves += 1;
        self.send(alert, group, SendKind::Resolve, state)
    }

    fn refire_oldest(&mut self) -> AlertSend {
        let alert = self.resolved.pop_front().expect("a resolved alert");
        let group = self.shape.population.group_of(alert);
        let seq = self.take_seq();
        self.occurrences[alert as usize] = Occurrence {
            starts_seq: seq,
            ends_seq: None,
        };
        let state = self.start_firing(alert, group, seq);
        self.totals.refires += 1;
        self.send(alert, group, SendKind::Refire, state)
    }
}

/// Splits a batch the way Alertmanager would deliver it: one part per group, in the
/// order the groups first appear, each keeping its alerts' order.
pub fn split_by_group(alerts: &[AlertSend]) -> Vec<Vec<AlertSend>> {
    let mut parts: Vec<Vec<AlertSend>> = Vec::new();
    for alert in alerts {
        match parts.iter_mut().find(|part| part[0].group == alert.group) {
            Some(part) => part.push(*alert),
            None => parts.push(vec![*alert]),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn shape(per_request: u64, per_group: u64, repeats: f64, cycles: f64) -> TrafficShape {
        TrafficShape {
            population: Population {
                services: 5,
                grouping: Grouping::Fill {
                    alerts_per_group: per_group,
                },
            },
            alerts_per_request: per_request,
            repeat_share: repeats,
            cycle_share: cycles,
        }
    }

    fn run(shape: TrafficShape, batches: u64) -> (Vec<Batch>, TrafficTotals) {
        let mut traffic = Traffic::new(shape);
        let batches = (0..batches).map(|_| traffic.next_batch()).collect();
        (batches, traffic.totals())
    }

    #[test]
    fn shares_are_spread_evenly_and_exactly() {
        for share in [0.0, 0.1, 0.25, 0.9, 1.0] {
            let taken = (0..1000).filter(|&n| takes_share(n, share)).count();
            assert_eq!(taken, (1000.0 * share) as usize, "share {share}");
            // Any window of 100 holds the share to within one.
            for start in (0..900).step_by(37) {
                let window = (start..start + 100)
                    .filter(|&n| takes_share(n, share))
                    .count() as f64;
                assert!((window - 100.0 * share).abs() <= 1.0, "share {share}");
            }
        }
    }

    #[test]
    fn all_new_traffic_sends_each_alert_once_and_fills_groups_in_order() {
        let (batches, totals) = run(shape(100, 100, 0.0, 0.0), 30);
        assert_eq!(totals.alerts, 3000);
        assert_eq!(totals.new, 3000);
        assert_eq!(totals.distinct_alerts, 3000);
        assert_eq!(totals.groups, 30);
        assert_eq!(totals.incidents_opened, 30);
        // Each request is exactly one group, so Aftermath gets one webhook per request.
        for (n, batch) in batches.iter().enumerate() {
            let parts = split_by_group(&batch.alerts);
            assert_eq!(parts.len(), 1);
            assert_eq!(parts[0][0].group, n as u64);
            assert!(batch.alerts.iter().all(|a| a.kind == SendKind::New));
        }
    }

    #[test]
    fn repeats_resend_existing_alerts_unchanged_at_the_requested_share() {
        let (batches, totals) = run(shape(1, 10, 0.9, 0.0), 10_000);
        // The first request cannot be a repeat; from then on 9 in 10 are.
        assert_eq!(totals.repeats + totals.new, 10_000);
        assert!((8_990..=9_000).contains(&totals.repeats), "{totals:?}");
        assert_eq!(totals.distinct_alerts, totals.new);
        let mut state: BTreeMap<u64, AlertSend> = BTreeMap::new();
        for batch in &batches {
            for alert in &batch.alerts {
                match alert.kind {
                    SendKind::Repeat => {
                        let before = state[&alert.alert];
                        assert_eq!(
                            (before.starts_seq, before.ends_seq),
                            (alert.starts_seq, alert.ends_seq)
                        );
                    }
                    _ => assert!(state.insert(alert.alert, *alert).is_none()),
                }
            }
        }
        // The re-sends sweep over the alerts in order, as Prometheus re-sends each one,
        // starting over once they reach the newest.
        let repeated: Vec<u64> = batches
            .iter()
            .flat_map(|b| &b.alerts)
            .filter(|a| a.kind == SendKind::Repeat)
            .map(|a| a.alert)
            .collect();
        for pair in repeated.windows(2) {
            assert!(pair[1] == pair[0] + 1 || pair[1] == 0, "{pair:?}");
        }
        let swept: BTreeSet<u64> = repeated.iter().copied().collect();
        assert_eq!(swept.len() as u64, swept.last().unwrap() + 1);
        assert!(swept.len() as u64 > totals.distinct_alerts * 9 / 10);
    }

    #[test]
    fn repeats_of_whole_groups_are_identical_to_the_first_send() {
        let (batches, _) = run(shape(100, 100, 0.5, 0.0), 40);
        let firsts: BTreeMap<u64, &Batch> = batches
            .iter()
            .filter(|b| b.alerts[0].kind == SendKind::New)
            .map(|b| (b.alerts[0].group, b))
            .collect();
        for batch in batches
            .iter()
            .filter(|b| b.alerts[0].kind == SendKind::Repeat)
        {
            let first = firsts[&batch.alerts[0].group];
            let strip = |b: &Batch| {
                b.alerts
                    .iter()
                    .map(|a| (a.alert, a.starts_seq, a.ends_seq))
                    .collect::<Vec<_>>()
            };
            // Aligned groups: the re-send is the same alerts in the same states, so its
            // webhook body is byte-identical and Aftermath recognises it whole.
            assert_eq!(strip(batch), strip(first));
        }
    }

    #[test]
    fn cycles_resolve_alerts_and_fire_them_again_with_a_new_start() {
        let (batches, totals) = run(shape(10, 10, 0.0, 0.5), 400);
        assert!(totals.resolves > 0 && totals.refires > 0, "{totals:?}");
        assert_eq!(totals.new + totals.resolves + totals.refires, totals.alerts);
        let mut firing: BTreeMap<u64, u64> = BTreeMap::new();
        let mut resolved_at: BTreeMap<u64, u64> = BTreeMap::new();
        for alert in batches.iter().flat_map(|b| &b.alerts) {
            match alert.kind {
                SendKind::New => {
                    firing.insert(alert.alert, alert.starts_seq);
                }
                SendKind::Resolve => {
                    let started = firing
                        .remove(&alert.alert)
                        .expect("resolves a firing alert");
                    assert_eq!(alert.starts_seq, started);
                    assert!(alert.ends_seq.unwrap() > started);
                    resolved_at.insert(alert.alert, alert.ends_seq.unwrap());
                }
                SendKind::Refire => {
                    let ended = resolved_at
                        .remove(&alert.alert)
                        .expect("re-fires a resolved one");
                    assert!(alert.starts_seq > ended);
                    assert_eq!(alert.ends_seq, None);
                    firing.insert(alert.alert, alert.starts_seq);
                }
                SendKind::Repeat => unreachable!("no repeats asked for"),
            }
        }
        // Whole groups resolve (10 alerts each, aligned) and fire again: every group's
        // incident closes and a new one opens.
        assert!(totals.incidents_opened > totals.groups, "{totals:?}");
    }

    #[test]
    fn the_model_opens_an_incident_when_a_group_starts_firing_and_names_its_opener() {
        let (batches, totals) = run(shape(1, 2, 0.0, 0.75), 13);
        let sends: Vec<(SendKind, u64, u64)> = batches
            .iter()
            .map(|b| b.alerts[0])
            .map(|a| (a.kind, a.alert, a.opener_alert))
            .collect();
        use SendKind::*;
        assert_eq!(
            sends,
            [
                (New, 0, 0),     // group 0 opens with alert 0
                (Resolve, 0, 0), // and closes: nothing fires in it
                (Refire, 0, 0),  // alert 0 fires again: a new incident, opened by it
                (Resolve, 0, 0),
                (New, 1, 1),    // alert 1 joins group 0 while nothing fires: it opens one
                (Refire, 0, 1), // the alert resolved longest ago lands on that incident
                (Resolve, 1, 1),
                (Refire, 1, 1),
                (New, 2, 2), // group 1
                (Resolve, 2, 2),
                (Refire, 2, 2),
                (Resolve, 0, 1), // the resolving sweep starts over at alert 0
                (New, 3, 2),
            ]
        );
        // Alert 0's re-fire names the start of the firing that opened its incident.
        assert_eq!(
            batches[5].alerts[0].opener_starts_seq,
            batches[4].alerts[0].starts_seq
        );
        assert_eq!(totals.distinct_alerts, 4);
        assert_eq!(totals.groups, 2);
        assert_eq!(totals.firing, 3);
        assert_eq!(totals.incidents_opened, 5);
    }

    #[test]
    fn a_batch_spanning_groups_splits_into_one_part_per_group() {
        let mut round_robin = shape(10, 1, 0.0, 0.0);
        round_robin.population.grouping = Grouping::RoundRobin { groups: 3 };
        let (batches, totals) = run(round_robin, 1);
        let parts = split_by_group(&batches[0].alerts);
        let groups: Vec<(u64, usize)> = parts.iter().map(|p| (p[0].group, p.len())).collect();
        assert_eq!(groups, [(0, 4), (1, 3), (2, 3)]);
        assert_eq!(totals.groups, 3);
        let population = round_robin.population;
        assert_eq!(population.instance_of(7), 2);
        assert_eq!(population.service_of(7), 2);
        assert_eq!(population.alertname_of(7), 1);
    }
}
