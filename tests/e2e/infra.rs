//! Real parts for the tests: a tansu broker per test on free loopback ports, a fresh
//! PostgreSQL database per test, and a loopback TCP proxy that can cut the broker off.
//! A missing part fails the test with a message saying how to get it; nothing skips.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A loopback port free at the time of asking, for a server a test starts.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// A tansu broker with in-memory storage, killed on drop.
pub struct Broker {
    child: Child,
    /// Where clients connect (the advertised listener).
    pub bootstrap: String,
}

impl Broker {
    /// Starts a broker listening on a free port and advertising itself there.
    pub async fn start() -> Self {
        let port = free_port();
        Self::start_advertising(port, port).await
    }

    /// Starts a broker on `listen_port` that tells clients to connect to
    /// `advertised_port` (a proxy in front of it).
    pub async fn start_advertising(listen_port: u16, advertised_port: u16) -> Self {
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{listen_port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised_port}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start tansu ({error}); install it with \
                     `cargo install tansu --version 0.6.0 --locked --features dynostore` \
                     (scripts/test does)"
                )
            });
        let mut broker = Self {
            child,
            bootstrap: format!("127.0.0.1:{advertised_port}"),
        };
        for _ in 0..250 {
            if TcpStream::connect(("127.0.0.1", listen_port)).await.is_ok() {
                return broker;
            }
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("tansu exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = broker.child.kill();
        panic!("tansu did not listen on port {listen_port}");
    }

    /// A topic name no other test uses.
    pub fn fresh_topic() -> String {
        format!("facts-{}", random_suffix())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The PostgreSQL server the tests use (trust auth on loopback).
pub fn postgres_base_url() -> String {
    std::env::var("AFTERMATH_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database created for one test and dropped after it.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        use sqlx::Connection;
        let name = format!("aftermath_e2e_{}", random_suffix());
        let admin_url = format!("{}/postgres", postgres_base_url());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "PostgreSQL is not reachable at {admin_url} ({error}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                 (scripts/test does)"
                )
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        Self {
            url: format!("{}/{name}", postgres_base_url()),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    use sqlx::Connection;
                    let admin_url = format!("{}/postgres", postgres_base_url());
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                });
            }
        })
        .join();
    }
}

/// A loopback TCP proxy: every client connection to `port` is forwarded to `target`,
/// until [`Proxy::cut`] closes them all and refuses new ones.
pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Default)]
struct ProxyState {
    acceptor: Option<JoinHandle<()>>,
    connections: Vec<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let proxy = Self {
            port: free_port(),
            target,
            state: Arc::default(),
        };
        proxy.restore().await;
        proxy
    }

    /// Accepts and forwards connections again.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let (target, state) = (self.target, self.state.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
                state.lock().unwrap().connections.push(connection);
            }
        });
        self.state.lock().unwrap().acceptor = Some(acceptor);
    }

    /// Drops every open connection and stops listening: the broker is unreachable.
    pub fn cut(&self) {
        let mut state = self.state.lock().unwrap();
        if let Some(acceptor) = state.acceptor.take() {
            acceptor.abort();
        }
        for connection in state.connections.drain(..) {
            connection.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
