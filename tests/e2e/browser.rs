//! Browser tests: a real headless Chromium (driven by [`crate::webdriver`]) against a
//! running app. Screenshots land in `target/browser-artifacts/`.

use serde_json::{json, Value};

use crate::support::spawn_app;
use crate::webdriver::Browser;

/// The PNG file signature.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The width in the IHDR chunk, which follows the signature in every PNG.
fn png_width(png: &[u8]) -> u32 {
    u32::from_be_bytes(png[16..20].try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_a_served_page() -> anyhow::Result<()> {
    let app = spawn_app().await;
    let browser = Browser::start().await?;

    let health = format!("{}/healthz", app.base);
    browser.goto(&health).await?;
    assert_eq!(browser.current_url().await?, health);
    // Chromium shows a JSON document as its text in a <pre>.
    let shown = browser.wait_for("body > pre").await?.text().await?;
    assert_eq!(
        serde_json::from_str::<Value>(&shown)?,
        json!({"status": "ok"})
    );
    let content_type = browser.execute("return document.contentType", &[]).await?;
    assert_eq!(content_type, json!("application/json"));

    browser.goto(&format!("{}/openapi.json", app.base)).await?;
    let shown = browser.wait_for("body > pre").await?.text().await?;
    let document: Value = serde_json::from_str(&shown)?;
    assert!(
        document["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{document}"
    );
    assert!(
        document["paths"]["/healthz"]["get"].is_object(),
        "{document}"
    );

    let screenshot = browser.screenshot("chromium_renders_a_served_page").await?;
    assert!(screenshot.ends_with("target/browser-artifacts/chromium_renders_a_served_page.png"));
    let png = std::fs::read(&screenshot)?;
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "{} is no PNG",
        screenshot.display()
    );
    // The viewport is as wide as the window the session asked for.
    assert_eq!(png_width(&png), 1280);

    drop(browser);
    app.stop().await;
    Ok(())
}
