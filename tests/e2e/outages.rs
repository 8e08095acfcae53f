//! Outages of the parts Aftermath stands on: a full disk and a file system gone read-only
//! under the embedded SQLite files, and PostgreSQL cut away mid-work under the projector.
//! Each is answered without a lie (503 with `Retry-After`, never a 2xx for what was not
//! written), recovers when the part is back (by itself, or after the restart a repaired
//! file system needs), and loses, duplicates or corrupts nothing; the recovery time is
//! printed, never asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aftermath::Config;
use aftermath_core::{normalize_alertmanager, Timestamp};
use aftermath_log::{EventLog, KafkaLog};
use serde_json::Value;

use crate::infra::Proxy;
use crate::support::*;

/// A small tmpfs mounted for one test (the suite runs as root, as CI does); unmounted when
/// dropped. Its size changes with `remount`.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        run_mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &path,
        );
        Self { path, _dir: dir }
    }

    fn remount(&self, options: &str) {
        run_mount(&["-o", &format!("remount,{options}")], &self.path);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn run_mount(args: &[&str], path: &Path) {
    let output = Command::new("mount")
        .args(args)
        .arg(path)
        .output()
        .expect("mount runs");
    assert!(
        output.status.success(),
        "mount {args:?} failed (the outage tests need root, as the suite and CI run): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A notification opening its own incident (group `group`).
fn opening(group: usize) -> String {
    webhook(&format!("Disk{group}"), &format!("f{group}"), false)
}

/// Posts `body` until it is taken (202), asserting that every refusal on the way is a 503
/// with `Retry-After`; returns how long that took.
async fn retry_until_taken(app: &TestApp, body: &str) -> Duration {
    let started = Instant::now();
    for _ in 0..400 {
        let reply = app.post("/v1/ingest/alertmanager", &app.ingest, body).await;
        if reply.status == 202 {
            return started.elapsed();
        }
        assert_eq!(reply.status, 503, "{}", reply.text);
        assert!(reply.headers.contains_key("retry-after"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ingest did not recover");
}

/// `PRAGMA integrity_check` of a SQLite file.
async fn integrity(path: &Path) -> String {
    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let row = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    row.get::<String, _>(0)
}

/// Every notification that got a 2xx opened its incident, once.
async fn every_acknowledged_notification_is_an_incident(app: &TestApp, groups: &[usize]) {
    app.caught_up().await;
    let incidents = app.incidents("all").await;
    for group in groups {
        let title = format!("Disk{group} is failing");
        let count = incidents
            .iter()
            .filter(|incident| incident["title"] == title.as_str())
            .count();
        assert_eq!(count, 1, "{title}: {count} incidents");
    }
    assert_eq!(incidents.len(), groups.len(), "no incident without a 2xx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_503_and_recovers_by_itself_without_loss_or_corruption() {
    let disk = SmallDisk::mount("3m");
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(&disk.path, "127.0.0.1:0".parse().unwrap());
    config.max_in_flight = 64;
    let app = spawn_app_from(config, data_dir, None).await;

    // Fill the disk: notifications until one is refused.
    let mut taken = Vec::new();
    let mut refused = None;
    for group in 0..20_000 {
        let reply = app
            .post("/v1/ingest/alertmanager", &app.ingest, &opening(group))
            .await;
        match reply.status {
            202 => taken.push(group),
            _ => {
                refused = Some((group, reply));
                break;
            }
        }
    }
    let (refused_group, reply) = refused.expect("3 MiB filled up");
    reply.assert_error(503, "retry later");
    assert!(reply.headers.contains_key("retry-after"));
    assert!(taken.len() > 10, "the disk took some notifications first");

    // Space comes back; the sender's retry is taken without a restart.
    disk.remount("size=256m");
    let recovery = retry_until_taken(&app, &opening(refused_group)).await;
    taken.push(refused_group);
    eprintln!(
        "full disk: {} notifications taken before it filled, recovered {recovery:?} after space came back",
        taken.len() - 1
    );
    every_acknowledged_notification_is_an_incident(&app, &taken).await;
    app.stop().await;
    assert_eq!(integrity(&disk.path.join("log.sqlite")).await, "ok");
    assert_eq!(integrity(&disk.path.join("projections.sqlite")).await, "ok");
}

/// A small ext4 file system in an image on a loop device, mounted with the usual
/// `errors=remount-ro` (root, as the suite and CI run); unmounted when dropped.
struct LoopDisk {
    path: PathBuf,
    image: PathBuf,
    _dir: tempfile::TempDir,
}

impl LoopDisk {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        let image = dir.path().join("disk.img");
        std::fs::create_dir(&path).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        let disk = Self {
            path,
            image,
            _dir: dir,
        };
        disk.attach();
        disk
    }

    fn attach(&self) {
        let options = "loop,errors=remount-ro";
        run_mount(&["-o", options, self.image.to_str().unwrap()], &self.path);
    }

    /// What ext4 does when it detects an error on a disk: the kernel turns the mounted
    /// file system read-only under the files open on it, and keeps it so until unmounted.
    fn fail_read_only(&self) {
        let output = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(&self.path)
            .output()
            .unwrap();
        let source = String::from_utf8(output.stdout).unwrap();
        let device = Path::new(source.trim()).file_name().unwrap().to_owned();
        let trigger = Path::new("/sys/fs/ext4")
            .join(device)
            .join("trigger_fs_error");
        std::fs::write(&trigger, "1").unwrap();
        let probe = std::fs::write(self.path.join("probe"), "x").unwrap_err();
        assert_eq!(probe.raw_os_error(), Some(30), "EROFS: {probe}");
    }

    /// What an operator does next: unmount, `e2fsck`, mount again read-write.
    fn repair(&self) {
        run(Command::new("umount").arg(&self.path));
        let status = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&self.image)
            .output()
            .unwrap()
            .status;
        // 0: clean; 1: errors corrected (the error flag the failure left behind).
        assert!(matches!(status.code(), Some(0 | 1)), "e2fsck: {status}");
        self.attach();
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_file_system_is_503_and_a_restart_after_repair_loses_nothing() {
    let disk = LoopDisk::mount();
    let mut config = Config::new(&disk.path, "127.0.0.1:0".parse().unwrap());
    config.metrics_public = true;
    let app = spawn_app_from(config.clone(), tempfile::tempdir().unwrap(), None).await;
    let mut taken: Vec<usize> = Vec::new();
    for group in 0..20 {
        let reply = app
            .post("/v1/ingest/alertmanager", &app.ingest, &opening(group))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
        taken.push(group);
    }
    app.caught_up().await;

    disk.fail_read_only();
    for group in 20..30 {
        let reply = app
            .post("/v1/ingest/alertmanager", &app.ingest, &opening(group))
            .await;
        reply.assert_error(503, "retry later");
        assert!(reply.headers.contains_key("retry-after"));
    }
    // What was acknowledged before stays readable, and the metrics say what is wrong.
    assert_eq!(app.incidents("all").await.len(), taken.len());
    assert!(metric_sum(&app, "aftermath_log_append_errors_total{", "").await >= 10.0);
    app.stop().await;

    let repaired_at = Instant::now();
    disk.repair();
    assert_eq!(integrity(&disk.path.join("log.sqlite")).await, "ok");
    assert_eq!(integrity(&disk.path.join("projections.sqlite")).await, "ok");
    let app = spawn_app_from(config, tempfile::tempdir().unwrap(), None).await;
    retry_until_taken(&app, &opening(20)).await;
    taken.push(20);
    eprintln!(
        "read-only file system: ingest took notifications again {:?} after the repair \
         started (unmount, e2fsck, mount, restart)",
        repaired_at.elapsed()
    );
    every_acknowledged_notification_is_an_incident(&app, &taken).await;
    app.stop().await;
}

/// `aftermath_projector_batch_failures_total{reason="database"}` from `/metrics`.
async fn database_failures(app: &TestApp) -> f64 {
    metric_sum(
        app,
        "aftermath_projector_batch_failures_total{",
        r#"reason="database""#,
    )
    .await
}

/// The sum of the `/metrics` samples whose line starts with `prefix` and holds `label`.
async fn metric_sum(app: &TestApp, prefix: &str, label: &str) -> f64 {
    let text = app
        .request(reqwest::Method::GET, "/metrics", None, None, &[])
        .await
        .text;
    text.lines()
        .filter(|line| line.starts_with(prefix) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_cut_mid_work_pauses_the_projector_which_resumes_without_loss() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut config, parts) = config_for(Backend::KafkaPostgres, data_dir.path()).await;
    let (broker, database) = parts.unwrap();
    // Every database connection goes through the proxy, so cutting it cuts transactions
    // in flight.
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    config.backends.database_url = Some(
        database
            .url
            .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port)),
    );
    config.metrics_public = true;
    let kafka = config.backends.kafka.clone().unwrap();
    let app = spawn_app_from(config, data_dir, Some((broker, database))).await;
    app.notify(FIRING).await;
    app.caught_up().await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();

    proxy.cut();
    // Facts keep arriving while the database is away (appended to the topic as another
    // API process would; this one needs the database to check tokens).
    let mut writer_config = kafka.clone();
    writer_config.group = None;
    writer_config.create_topic = false;
    let writer = KafkaLog::open(writer_config).await.unwrap();
    let mut bodies = vec![ONE_RESOLVED, ALL_RESOLVED];
    let mut appended = 0;
    for body in bodies.drain(..) {
        let at = Timestamp::parse("2026-11-24T09:00:00Z").unwrap();
        let facts = normalize_alertmanager(body.as_bytes(), at).unwrap();
        appended += facts.len();
        writer.append(&facts).await.unwrap();
    }
    // The projector fails its batches, counts them and keeps retrying.
    let mut failures = 0.0;
    for _ in 0..200 {
        failures = database_failures(&app).await;
        if failures > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        failures > 0.0,
        "no projector failure counted while PostgreSQL was cut"
    );
    let ready = app
        .request(reqwest::Method::GET, "/readyz", None, None, &[])
        .await;
    assert_eq!(
        ready.status, 503,
        "not ready without its database: {}",
        ready.text
    );

    let restored = Instant::now();
    proxy.restore().await;
    app.caught_up().await;
    eprintln!(
        "PostgreSQL cut: {appended} facts appended meanwhile, {failures} failed batches, \
         caught up {:?} after it came back",
        restored.elapsed()
    );
    let incident: Value = app.only_incident().await;
    assert_eq!(incident["status"], "resolved", "{incident}");
    assert_eq!(
        kinds(&app.timeline(&id).await),
        CHECKOUT_FIRED_AND_RESOLVED,
        "every fact folded exactly once"
    );
    app.stop().await;
}
