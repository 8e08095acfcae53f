//! A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port, with
//! clustering off, run with the configuration a test gives it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Alertmanager; killed when dropped.
pub struct Alertmanager {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    /// Starts one with `config` (its `alertmanager.yml`) and waits until it is ready.
    pub async fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
        let port = crate::infra::free_port();
        // The Debian package names the binary `prometheus-alertmanager`.
        let binary = ["prometheus-alertmanager", "alertmanager"]
            .into_iter()
            .find(|name| {
                Command::new("sh")
                    .args(["-c", &format!("command -v {name}")])
                    .output()
                    .is_ok_and(|output| output.status.success())
            })
            .expect("Alertmanager is installed (scripts/test installs it)");
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.path().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager starts");
        let am = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let http = reqwest::Client::new();
        for _ in 0..250 {
            let ready = http.get(format!("{}/-/ready", am.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return am;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        panic!("alertmanager did not come up");
    }

    /// The sum of one of its own counters (`alertmanager_notifications_total`, …) over
    /// the label sets whose text contains `labels`.
    pub async fn counter(&self, name: &str, labels: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(labels))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
