//! A small W3C WebDriver client for the browser tests: it starts `chromedriver`, opens a
//! headless Chromium session and drives it over the WebDriver HTTP protocol with
//! `reqwest` + `serde_json`. A missing Chromium fails the test with a message saying how
//! to install it; nothing skips.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::infra::free_port;
use anyhow::{anyhow, bail, ensure, Context};
use reqwest::Method;
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str =
    "install them with `apt-get install -y chromium chromium-driver` (scripts/test does)";
/// The W3C "web element identifier": the key under which WebDriver names an element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long `chromedriver` may take to answer `/status` as ready.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often `chromedriver` is started on a fresh port when another process took the
/// port between picking it and binding it.
const DRIVER_START_ATTEMPTS: usize = 3;
/// Any one WebDriver command; page loads are bounded tighter by the session's timeouts.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const PAGE_LOAD_TIMEOUT_MS: u64 = 30_000;
/// How long [`Browser::wait_for`] polls for an element.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How much of the page source a failed wait shows.
const SOURCE_EXCERPT_CHARS: usize = 2_000;

/// An error answer of a WebDriver command, with the `error` code and `message` it sent.
#[derive(Debug)]
pub struct WebDriverError {
    /// The command, e.g. `POST /session/…/element`.
    pub command: String,
    pub status: u16,
    /// The W3C error code, e.g. `no such element`.
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "WebDriver {} failed (HTTP {}): {}: {}",
            self.command, self.status, self.error, self.message
        )
    }
}

impl std::error::Error for WebDriverError {}

/// Sends one WebDriver command and returns the `value` of its answer.
async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let command = format!(
        "{method} {}",
        url.split_once("//").map_or(url, |(_, rest)| rest)
    );
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("WebDriver {command}: no answer from chromedriver"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("WebDriver {command}: reading the answer"))?;
    let mut answer: Value = serde_json::from_str(&text)
        .with_context(|| format!("WebDriver {command}: answer is not JSON: {text}"))?;
    let value = answer["value"].take();
    // W3C errors come as a non-2xx status with `value.error`; either alone is an error.
    if !status.is_success() || value.get("error").is_some() {
        let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
        return Err(WebDriverError {
            command,
            status: status.as_u16(),
            error: field("error"),
            message: field("message"),
        }
        .into());
    }
    Ok(value)
}

fn string_value(value: Value, what: &str) -> anyhow::Result<String> {
    match value {
        Value::String(text) => Ok(text),
        other => bail!("WebDriver returned {other} as the {what}, not a string"),
    }
}

/// A `chromedriver` process on a loopback port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

/// Why one start of `chromedriver` did not give a ready driver.
enum StartFailure {
    /// It exited at start (most likely another process took the port): try another port.
    Exited(String),
    /// Anything else: give up.
    Fatal(anyhow::Error),
}

impl Driver {
    async fn start(http: &reqwest::Client) -> anyhow::Result<Self> {
        let mut exits = Vec::new();
        for _ in 0..DRIVER_START_ATTEMPTS {
            match Self::start_on(free_port(), http).await {
                Ok(driver) => return Ok(driver),
                Err(StartFailure::Exited(report)) => exits.push(report),
                Err(StartFailure::Fatal(error)) => return Err(error),
            }
        }
        bail!(
            "chromedriver exited at start {DRIVER_START_ATTEMPTS} times:\n{}",
            exits.join("\n")
        )
    }

    async fn start_on(port: u16, http: &reqwest::Client) -> Result<Self, StartFailure> {
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| {
                StartFailure::Fatal(anyhow!(
                    "cannot start {CHROMEDRIVER} ({error}); the browser tests need Chromium \
                     and its driver: {INSTALL_HINT}"
                ))
            })?;
        let output = forward_output(&mut child);
        let mut driver = Self { child, port };
        let mut printed = Vec::new();
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        let status_url = format!("http://127.0.0.1:{port}/status");
        loop {
            printed.extend(output.try_iter());
            if let Ok(Some(status)) = driver.child.try_wait() {
                printed.extend(output.try_iter());
                return Err(StartFailure::Exited(format!(
                    "port {port}: {status}: {}",
                    printed.join(" | ")
                )));
            }
            // Our own process says it listens: a ready `/status` is then its answer, not
            // that of another test's driver on the same port.
            let listening = printed
                .iter()
                .any(|line| line.contains("started successfully"));
            if listening {
                if let Ok(status) = call(http, Method::GET, &status_url, None).await {
                    if status["ready"] == json!(true) {
                        return Ok(driver);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(StartFailure::Fatal(anyhow!(
                    "chromedriver on port {port} was not ready within \
                     {DRIVER_START_TIMEOUT:?}; it printed: {}",
                    printed.join(" | ")
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards the child's stdout and stderr lines to a channel. The reader threads keep
/// draining after the receiver is gone, so the driver never blocks on a full pipe.
fn forward_output(child: &mut Child) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child.stdout.take().map(|pipe| Box::new(pipe) as _),
        child.stderr.take().map(|pipe| Box::new(pipe) as _),
    ];
    for pipe in pipes.into_iter().flatten() {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                let _ = sender.send(String::from_utf8_lossy(&line).trim_end().to_owned());
                line.clear();
            }
        });
    }
    receiver
}

/// One WebDriver session: what a [`Browser`] and its [`Element`]s send commands to.
#[derive(Clone)]
struct Session {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    url: String,
}

impl Session {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        call(
            &self.http,
            Method::GET,
            &format!("{}{path}", self.url),
            None,
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        call(&self.http, Method::POST, &url, Some(body)).await
    }

    fn element(&self, reference: &Value) -> anyhow::Result<Element> {
        let id = reference[ELEMENT_KEY]
            .as_str()
            .with_context(|| format!("WebDriver returned {reference} as an element"))?;
        Ok(Element {
            session: self.clone(),
            id: id.to_owned(),
        })
    }
}

/// A headless Chromium driven over WebDriver. Dropping it ends the session (best effort)
/// and kills `chromedriver`.
pub struct Browser {
    session: Session,
    session_id: String,
    // Dropped in this order after `Drop::drop` ended the session: the driver, then the
    // profile Chromium wrote to.
    driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and opens a headless Chromium
    /// session with a profile of its own, so parallel tests share nothing.
    pub async fn start() -> anyhow::Result<Self> {
        ensure!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing; the browser tests need Chromium and its driver: \
             {INSTALL_HINT}"
        );
        let http = reqwest::Client::builder()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .context("building the WebDriver HTTP client")?;
        let driver = Driver::start(&http).await?;
        let profile = tempfile::tempdir().context("creating a Chromium profile directory")?;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "timeouts": {"pageLoad": PAGE_LOAD_TIMEOUT_MS, "script": PAGE_LOAD_TIMEOUT_MS},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1024",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let new_session_url = format!("http://127.0.0.1:{}/session", driver.port);
        let created = call(&http, Method::POST, &new_session_url, Some(capabilities))
            .await
            .with_context(|| format!("starting headless Chromium ({CHROMIUM})"))?;
        let session_id = string_value(created["sessionId"].clone(), "session id")?;
        Ok(Self {
            session: Session {
                http,
                url: format!("{new_session_url}/{session_id}"),
            },
            session_id,
            driver,
            _profile: profile,
        })
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.session.post("/url", json!({"url": url})).await?;
        Ok(())
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        string_value(self.session.get("/url").await?, "current URL")
    }

    pub async fn title(&self) -> anyhow::Result<String> {
        string_value(self.session.get("/title").await?, "title")
    }

    /// The current DOM serialized as HTML.
    pub async fn page_source(&self) -> anyhow::Result<String> {
        string_value(self.session.get("/source").await?, "page source")
    }

    /// The first element matching the CSS selector `css`, now; a WebDriver
    /// `no such element` error when none does.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        let body = json!({"using": "css selector", "value": css});
        let reference = self.session.post("/element", body).await?;
        self.session.element(&reference)
    }

    /// Every element matching `css`, in document order; empty when none does.
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let body = json!({"using": "css selector", "value": css});
        let references = self.session.post("/elements", body).await?;
        let references = references
            .as_array()
            .with_context(|| format!("WebDriver returned {references} as an element list"))?;
        references
            .iter()
            .map(|reference| self.session.element(reference))
            .collect()
    }

    /// Polls for an element matching `css` for up to [`DEFAULT_WAIT`].
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        self.wait_for_within(css, DEFAULT_WAIT).await
    }

    /// Polls for an element matching `css` for up to `timeout`; the error names the page
    /// and shows the beginning of its source.
    pub async fn wait_for_within(&self, css: &str, timeout: Duration) -> anyhow::Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            let error = match self.find(css).await {
                Ok(element) => return Ok(element),
                Err(error) => error,
            };
            let missing = error
                .downcast_ref::<WebDriverError>()
                .is_some_and(|error| error.error == "no such element");
            if !missing {
                return Err(error);
            }
            if Instant::now() >= deadline {
                let url = self
                    .current_url()
                    .await
                    .unwrap_or_else(|error| format!("(URL unavailable: {error})"));
                let source = self
                    .page_source()
                    .await
                    .unwrap_or_else(|error| format!("(page source unavailable: {error})"));
                let excerpt: String = source.chars().take(SOURCE_EXCERPT_CHARS).collect();
                bail!(
                    "no element matches {css:?} after {timeout:?} on {url}; the page source \
                     begins:\n{excerpt}"
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Runs `script` as the body of a function in the page, with `args` as `arguments`
    /// (pass elements with [`Element::as_arg`]); returns what the script returns.
    pub async fn execute(&self, script: &str, args: &[Value]) -> anyhow::Result<Value> {
        let body = json!({"script": script, "args": args});
        self.session.post("/execute/sync", body).await
    }

    /// Saves a PNG of the viewport to `target/browser-artifacts/<name>.png` at the
    /// workspace root and returns its path. `name` is letters, digits, `-` and `_`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let plain = |symbol: char| symbol.is_ascii_alphanumeric() || symbol == '-' || symbol == '_';
        ensure!(
            !name.is_empty() && name.chars().all(plain),
            "screenshot name {name:?} must be letters, digits, '-' and '_' only"
        );
        let encoded = string_value(self.session.get("/screenshot").await?, "screenshot")?;
        let png = decode_base64(&encoded).context("decoding the screenshot")?;
        let directory =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
        std::fs::create_dir_all(&directory)
            .with_context(|| format!("creating {}", directory.display()))?;
        let path = std::fs::canonicalize(&directory)?.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver close Chromium; killing only the driver
        // would leave Chromium running. Drop cannot await, so the DELETE runs on a thread
        // with a runtime and client of its own (a client is bound to its runtime).
        let url = format!(
            "http://127.0.0.1:{}/session/{}",
            self.driver.port, self.session_id
        );
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let client = reqwest::Client::builder().timeout(COMMAND_TIMEOUT).build();
            if let (Ok(runtime), Ok(client)) = (runtime, client) {
                let _ = runtime.block_on(call(&client, Method::DELETE, &url, None));
            }
        })
        .join();
    }
}

/// An element of the page, as WebDriver names it.
pub struct Element {
    session: Session,
    id: String,
}

impl Element {
    async fn get(&self, command: &str) -> anyhow::Result<Value> {
        self.session
            .get(&format!("/element/{}/{command}", self.id))
            .await
    }

    async fn post(&self, command: &str, body: Value) -> anyhow::Result<Value> {
        self.session
            .post(&format!("/element/{}/{command}", self.id), body)
            .await
    }

    pub async fn click(&self) -> anyhow::Result<()> {
        self.post("click", json!({})).await?;
        Ok(())
    }

    /// Types `text` into the element, after what it already holds.
    pub async fn send_keys(&self, text: &str) -> anyhow::Result<()> {
        self.post("value", json!({"text": text})).await?;
        Ok(())
    }

    /// Empties an editable element.
    pub async fn clear(&self) -> anyhow::Result<()> {
        self.post("clear", json!({})).await?;
        Ok(())
    }

    /// The rendered text, as the user sees it.
    pub async fn text(&self) -> anyhow::Result<String> {
        string_value(self.get("text").await?, "element text")
    }

    /// The attribute `name` as the markup has it (an input's `value` attribute stays what
    /// the page sent; see [`Element::property`] for what was typed); `None` when the
    /// element has no such attribute.
    pub async fn attr(&self, name: &str) -> anyhow::Result<Option<String>> {
        match self.get(&format!("attribute/{name}")).await? {
            Value::Null => Ok(None),
            value => string_value(value, "attribute").map(Some),
        }
    }

    /// The DOM property `name`: the live state, e.g. an input's current `value` or a
    /// checkbox's `checked`; `null` when there is no such property.
    pub async fn property(&self, name: &str) -> anyhow::Result<Value> {
        self.get(&format!("property/{name}")).await
    }

    /// This element as an argument of [`Browser::execute`].
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}

/// Decodes standard base64 (WebDriver sends screenshots so); no crate is added for it.
fn decode_base64(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3);
    let mut pending: u32 = 0;
    let mut pending_bits = 0;
    for symbol in text.bytes().filter(|symbol| !symbol.is_ascii_whitespace()) {
        let sextet = match symbol {
            b'A'..=b'Z' => symbol - b'A',
            b'a'..=b'z' => symbol - b'a' + 26,
            b'0'..=b'9' => symbol - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            other => bail!("{:?} is not a base64 symbol", char::from(other)),
        };
        pending = (pending << 6) | u32::from(sextet);
        pending_bits += 6;
        if pending_bits >= 8 {
            pending_bits -= 8;
            bytes.push((pending >> pending_bits) as u8);
            pending &= (1 << pending_bits) - 1;
        }
    }
    Ok(bytes)
}

#[test]
fn base64_decodes_padded_and_unpadded_input() {
    assert_eq!(decode_base64("TWFu").unwrap(), b"Man");
    assert_eq!(decode_base64("TWE=").unwrap(), b"Ma");
    assert_eq!(decode_base64("TQ==").unwrap(), b"M");
    assert_eq!(decode_base64("").unwrap(), b"");
    assert_eq!(decode_base64("+/+/\n").unwrap(), [0xfb, 0xff, 0xbf]);
    let error = decode_base64("TW*u").unwrap_err().to_string();
    assert!(error.contains("'*'"), "{error}");
}

/// The client against a page it writes itself (a `data:` URL): every element command,
/// the WebDriver error surfacing and the bounded wait, without any served page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webdriver_client_drives_a_form_in_chromium() -> anyhow::Result<()> {
    let browser = Browser::start().await?;
    let page = "data:text/html,<title>Form</title>\
        <form onsubmit=\"document.getElementById('said').textContent = \
        'Hello, ' + this.who.value; return false\">\
        <input name=who value=nobody data-kind=name>\
        <button id=go>Greet</button></form>\
        <p id=said></p><ul><li>one</li><li>two</li></ul>";
    browser.goto(page).await?;
    assert_eq!(browser.title().await?, "Form");
    assert!(browser.current_url().await?.starts_with("data:text/html,"));

    let input = browser.find("input[name=who]").await?;
    assert_eq!(input.attr("data-kind").await?.as_deref(), Some("name"));
    assert_eq!(input.attr("placeholder").await?, None);
    input.clear().await?;
    input.send_keys("Ada").await?;
    assert_eq!(input.property("value").await?, json!("Ada"));
    assert_eq!(input.attr("value").await?.as_deref(), Some("nobody"));
    browser.find("#go").await?.click().await?;
    assert_eq!(browser.wait_for("#said").await?.text().await?, "Hello, Ada");

    let items = browser.find_all("li").await?;
    let mut texts = Vec::new();
    for item in &items {
        texts.push(item.text().await?);
    }
    assert_eq!(texts, ["one", "two"]);
    assert!(browser.find_all("table").await?.is_empty());

    let tag = browser
        .execute(
            "return arguments[0].tagName + arguments[1]",
            &[input.as_arg(), json!("!")],
        )
        .await?;
    assert_eq!(tag, json!("INPUT!"));
    assert!(browser.page_source().await?.contains("<li>two</li>"));

    let missing = browser
        .find("#absent")
        .await
        .err()
        .expect("no #absent element");
    let missing = missing
        .downcast_ref::<WebDriverError>()
        .expect("a WebDriver error");
    assert_eq!(missing.error, "no such element");
    assert!(missing.message.contains("#absent"), "{}", missing.message);

    let timed_out = browser
        .wait_for_within("#absent", Duration::from_millis(200))
        .await
        .err()
        .expect("no #absent element")
        .to_string();
    assert!(timed_out.contains("\"#absent\""), "{timed_out}");
    assert!(timed_out.contains("<title>Form</title>"), "{timed_out}");
    Ok(())
}
