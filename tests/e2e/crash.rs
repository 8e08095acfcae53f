//! The crash suite: the real binary's processes (`serve`; or `api` and two `project` on
//! Kafka + PostgreSQL) are killed with SIGKILL at random moments while Alertmanager
//! senders and responders keep sending, and restarted on the same data. Afterwards every
//! request answered 2xx must be on the log and folded exactly once, every timeline in log
//! order, and the live projections equal to a rebuild; a backlog appended while the
//! projectors are stopped must be caught up.
//!
//! Short form (the test suite): 10 kills and a 10,000-fact backlog per backend. Long form:
//! `AFTERMATH_CRASH_KILLS=100 AFTERMATH_CRASH_LAG=100000 cargo test -p aftermath --test e2e
//! crash -- --nocapture --test-threads=1`. `AFTERMATH_CRASH_SEED` replays a run's choices.

mod cluster;
mod traffic;
mod verify;

use std::time::{Duration, Instant};

use cluster::Cluster;
use traffic::{AckedNotification, Rng, Traffic};

use crate::support::Backend;

struct Settings {
    kills: usize,
    backlog: usize,
    seed: u64,
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

fn settings() -> Settings {
    let random_seed = uuid::Uuid::new_v4().as_u64_pair().0 >> 16;
    Settings {
        kills: env_number("AFTERMATH_CRASH_KILLS", 10) as usize,
        backlog: env_number("AFTERMATH_CRASH_LAG", 10_000) as usize,
        seed: env_number("AFTERMATH_CRASH_SEED", random_seed),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_serve_killed_at_random_loses_and_duplicates_nothing() {
    crash_run(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_api_and_projectors_killed_at_random_lose_and_duplicate_nothing() {
    crash_run(Backend::KafkaPostgres).await;
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

async fn crash_run(backend: Backend) {
    let Settings {
        kills,
        backlog,
        seed,
    } = settings();
    eprintln!(
        "crash {backend:?}: seed {seed} (replay with AFTERMATH_CRASH_SEED={seed}), \
         {kills} kills, backlog {backlog} facts"
    );
    let mut rng = Rng::new(seed);
    let mut cluster = Cluster::start(backend).await;
    let traffic = Traffic::start(cluster.api_base(), &cluster.tokens, &mut rng, seed);

    // Kill a random member at a random moment, keep the traffic going while it is down,
    // restart it on the same data.
    let mut kills_per_member = vec![0usize; cluster.members.len()];
    let mut recoveries = Vec::new();
    for _ in 0..kills {
        tokio::time::sleep(rng.millis(200, 1500)).await;
        let victim = rng.below(cluster.members.len() as u64) as usize;
        cluster.kill_member(victim);
        kills_per_member[victim] += 1;
        tokio::time::sleep(rng.millis(0, 400)).await;
        recoveries.push(cluster.start_member(victim).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ledger = traffic.stop().await;
    assert!(
        ledger.unexpected.is_empty(),
        "answers no client should get: {:?}",
        ledger.unexpected
    );
    assert!(
        !ledger.notifications.is_empty() && !ledger.actions.is_empty(),
        "the traffic got nothing acknowledged: {} notifications, {} actions, {} attempts, {} failed",
        ledger.notifications.len(),
        ledger.actions.len(),
        ledger.attempts,
        ledger.failures
    );
    let catch_up = cluster.wait_caught_up().await;

    // A backlog: facts appended while the projectors are stopped, then caught up.
    let projectors: Vec<usize> = match backend {
        Backend::Embedded => vec![0],
        Backend::KafkaPostgres => vec![1, 2],
    };
    for &member in &projectors {
        cluster.terminate_member(member);
    }
    let backlog_notifications = append_backlog(&cluster, backlog).await;
    let restarted = Instant::now();
    for &member in &projectors {
        cluster.start_member(member).await;
    }
    cluster.wait_caught_up().await;
    let backlog_caught_up = restarted.elapsed();

    cluster.kill_all();
    let contents = verify::read_log(&cluster.log_location()).await;
    let live = cluster.command_ok(&["export"]).stdout;
    let export: serde_json::Value = serde_json::from_slice(&live).unwrap();
    let findings = verify::check(&export, &contents, &ledger, &backlog_notifications);
    let rebuild_started = Instant::now();
    cluster.command_ok(&["rebuild"]);
    let rebuild = rebuild_started.elapsed();
    let rebuilt = cluster.command_ok(&["export"]).stdout;

    recoveries.sort();
    let median = recoveries
        .get(recoveries.len() / 2)
        .copied()
        .unwrap_or_default();
    let max = recoveries.last().copied().unwrap_or_default();
    let per_member: Vec<String> = cluster
        .members
        .iter()
        .zip(&kills_per_member)
        .map(|(member, kills)| format!("{} {kills}", member.name))
        .collect();
    eprintln!(
        "crash summary {backend:?}: seed {seed}; kills {kills} ({}); requests acknowledged {} \
         ({} notifications, {} responder actions; {} attempts, {} failed while down); \
         facts checked {} ({} log records, {} repeated copies folded once); lost {}; \
         duplicated {}; out of order {}; folded from a later copy {}; recovery to ready max {:.2} s, median {:.2} s; \
         caught up {:.2} s after the traffic; backlog {} facts caught up in {:.2} s \
         ({:.0} facts/s); rebuild {:.2} s",
        per_member.join(", "),
        ledger.acknowledged(),
        ledger.notifications.len(),
        ledger.actions.len(),
        ledger.attempts,
        ledger.failures,
        findings.facts_checked,
        contents.records,
        contents.copies,
        findings.lost.len(),
        findings.duplicated.len(),
        findings.disordered.len(),
        findings.folded_from_later_copy.len(),
        seconds(max),
        seconds(median),
        seconds(catch_up),
        backlog_notifications
            .iter()
            .map(|notification| notification.fact_ids.len())
            .sum::<usize>(),
        seconds(backlog_caught_up),
        backlog as f64 / seconds(backlog_caught_up).max(0.001),
        seconds(rebuild),
    );
    let sample = |problems: &[String]| problems.iter().take(10).cloned().collect::<Vec<_>>();
    assert!(
        findings.lost.is_empty(),
        "seed {seed}: lost {}: {:?}",
        findings.lost.len(),
        sample(&findings.lost)
    );
    assert!(
        findings.duplicated.is_empty(),
        "seed {seed}: duplicated {}: {:?}",
        findings.duplicated.len(),
        sample(&findings.duplicated)
    );
    assert!(
        findings.disordered.is_empty(),
        "seed {seed}: out of log order {}: {:?}",
        findings.disordered.len(),
        sample(&findings.disordered)
    );
    // A read answers only an unbroken run of offsets from the one asked for, so the fold
    // always meets the first copy of a fact before any later one.
    assert!(
        findings.folded_from_later_copy.is_empty(),
        "seed {seed}: folded from a later copy {}: {:?}",
        findings.folded_from_later_copy.len(),
        sample(&findings.folded_from_later_copy)
    );
    assert!(
        live == rebuilt,
        "seed {seed}: the live projections differ from a rebuild of the same log"
    );
}

/// Appends about `facts` facts straight to the log (the projectors are stopped): groups
/// of their own, episode after episode firing then resolved. Each append returned, so
/// each is acknowledged like a 2xx.
async fn append_backlog(cluster: &Cluster, facts: usize) -> Vec<AckedNotification> {
    const GROUPS: usize = 200;
    let log = cluster.log_location().open().await;
    let mut acknowledged = Vec::new();
    let mut batch = Vec::new();
    let mut appended = 0;
    let mut episode = 0;
    'episodes: loop {
        for resolved in [false, true] {
            for group in 0..GROUPS {
                if appended >= facts {
                    break 'episodes;
                }
                let body = traffic::alert_body(&format!("Backlog{group}"), episode, resolved);
                let new = traffic::facts_of(&body);
                appended += new.len();
                batch.extend(new);
                acknowledged.push(AckedNotification::of(&body));
                if batch.len() >= 1000 {
                    log.append(&std::mem::take(&mut batch)).await.unwrap();
                }
            }
        }
        episode += 1;
    }
    if !batch.is_empty() {
        log.append(&batch).await.unwrap();
    }
    acknowledged
}
