//! Browser tests: a real headless Chromium (driven by [`crate::webdriver`]) against a
//! running app. Screenshots land in `target/browser-artifacts/`.

use serde_json::{json, Value};

use crate::postmortem_page::spawn_app_with_manager;
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

/// An incident title that is markup: it must show as text and never run.
const SCRIPT_TITLE: &str = "Checkout down <script>window.pwned=1</script>";

/// An Alertmanager notification of one firing checkout alert titled [`SCRIPT_TITLE`].
fn script_titled_alert() -> String {
    json!({
        "version": "4", "status": "firing", "receiver": "aftermath",
        "groupKey": "{}:{alertname=\"CheckoutDown\"}", "truncatedAlerts": 0,
        "groupLabels": {"alertname": "CheckoutDown"},
        "commonLabels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
        "commonAnnotations": {"summary": SCRIPT_TITLE},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "CheckoutDown", "instance": "host-1"},
            "annotations": {"summary": SCRIPT_TITLE},
            "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": "checkout-down-1"
        }]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_signs_in_reads_the_dashboard_and_publishes_a_post_mortem() -> anyhow::Result<()>
{
    let (app, manager_token) = spawn_app_with_manager().await;
    app.notify(&script_titled_alert()).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    for (action, body) in [
        ("ack", json!({})),
        ("resolve", json!({"resolution": "rolled back"})),
    ] {
        let reply = app
            .post(
                &format!("/v1/incidents/{id}/{action}"),
                &app.alice,
                &body.to_string(),
            )
            .await;
        assert_eq!(reply.status, 200, "{action}: {}", reply.text);
    }

    let browser = Browser::start().await?;
    browser.goto(&format!("{}/login", app.base)).await?;
    browser
        .wait_for("#token")
        .await?
        .send_keys(&manager_token)
        .await?;
    browser.find("#sign-in").await?.click().await?;
    browser.wait_for("section#dashboard").await?;
    assert_eq!(browser.find("#viewer-name").await?.text().await?, "carol");
    browser.screenshot("dashboard").await?;

    // The list shows open incidents first; this one is resolved: ask for all of them.
    browser.find("#nav-incidents").await?.click().await?;
    browser.wait_for("form#filters").await?;
    browser
        .find("form#filters select[name=status] option[value=all]")
        .await?
        .click()
        .await?;
    browser
        .find("form#filters button[type=submit]")
        .await?
        .click()
        .await?;
    browser
        .wait_for(&format!("tr.incident[data-id=\"{id}\"] a.incident-link"))
        .await?
        .click()
        .await?;

    let title = browser.wait_for("#incident-title").await?.text().await?;
    assert_eq!(title, SCRIPT_TITLE);
    assert_eq!(
        browser
            .execute("return window.pwned === undefined", &[])
            .await?,
        json!(true),
        "the alert's <script> ran"
    );
    assert_eq!(
        browser.find("#incident-status").await?.text().await?,
        "resolved"
    );

    browser.find("#postmortem-link").await?.click().await?;
    browser.wait_for("article.postmortem").await?;
    assert_eq!(
        browser.current_url().await?,
        format!("{}/incidents/{id}/postmortem", app.base)
    );
    let heading = browser.find("article.postmortem h1").await?.text().await?;
    assert_eq!(heading, format!("Post-Mortem: {SCRIPT_TITLE}"));
    for (key, shown) in [
        ("summary", "Summary"),
        ("timeline", "Timeline"),
        ("root_cause", "Root Cause and Five Whys"),
        ("success_criteria", "Success Criteria"),
    ] {
        let section_heading = browser
            .find(&format!("section.pm-section#{key} h2"))
            .await?
            .text()
            .await?;
        assert_eq!(section_heading, shown);
    }
    // WebDriver gives no text for what is not displayed: each criterion is visible.
    let criteria = browser
        .find_all("section#success_criteria ul.pm-checklist li")
        .await?;
    assert!(!criteria.is_empty(), "no success criteria listed");
    for criterion in &criteria {
        assert!(!criterion.text().await?.trim().is_empty());
    }
    assert_eq!(
        browser
            .execute("return window.pwned === undefined", &[])
            .await?,
        json!(true)
    );
    // The screenshots show the end of the document: the checklist, publishing, revisions.
    let scroll_to_end = "arguments[0].scrollIntoView({block: 'start'})";
    let success_criteria = browser.find("section#success_criteria").await?;
    browser
        .execute(scroll_to_end, &[success_criteria.as_arg()])
        .await?;
    browser.screenshot("postmortem-draft").await?;

    let publish = browser.find("#publish-button").await?;
    assert_eq!(publish.text().await?, "Publish revision 1");
    publish.click().await?;
    let revision_link = browser
        .wait_for("section#revisions a.revision-link")
        .await?;
    assert_eq!(revision_link.text().await?, "Revision 1");
    assert_eq!(
        revision_link.attr("href").await?.as_deref(),
        Some(format!("/incidents/{id}/postmortem/revisions/1").as_str())
    );
    assert_eq!(
        browser.current_url().await?,
        format!("{}/incidents/{id}/postmortem", app.base)
    );
    assert_eq!(
        browser.find("#incident-status").await?.text().await?,
        "closed"
    );
    let success_criteria = browser.find("section#success_criteria").await?;
    browser
        .execute(scroll_to_end, &[success_criteria.as_arg()])
        .await?;
    browser.screenshot("postmortem-published").await?;

    browser.find("#back-to-incident").await?.click().await?;
    browser.wait_for("#incident-title").await?;
    assert_eq!(
        browser.find("#incident-status").await?.text().await?,
        "closed"
    );

    drop(browser);
    let revisions = app
        .get(
            &format!("/v1/incidents/{id}/postmortem/revisions"),
            &app.reader,
        )
        .await;
    assert_eq!(
        revisions.json().as_array().map(Vec::len),
        Some(1),
        "{}",
        revisions.text
    );
    app.stop().await;
    Ok(())
}
