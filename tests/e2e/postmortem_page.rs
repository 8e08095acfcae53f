//! The post-mortem web page over real HTTP: the live draft for every reader, a manager's
//! section edits and hand-backs to the generated text (with the person's text kept as
//! text), publishing (refused while the incident is open, a frozen revision once it is
//! resolved), the published revision pages, and the refusals of read-only and cross-site
//! form posts.

use std::collections::BTreeSet;

use aftermath::Config;
use aftermath_store::Scope;
use serde_json::{json, Value};

use crate::support::*;

/// The sections the draft shows, in order; every one but the last has an edit form.
const SECTIONS: [&str; 12] = [
    "summary",
    "impact",
    "detection",
    "trigger",
    "timeline",
    "root_cause",
    "classification",
    "resolution",
    "prevention",
    "action_items",
    "lessons_learned",
    "success_criteria",
];

/// An app with one more token: "carol", a manager (scopes `manage` and `read`).
pub(crate) async fn spawn_app_with_manager() -> (TestApp, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config::new(data_dir.path(), "127.0.0.1:0".parse().unwrap());
    let store = config.backends.open_store().await.unwrap();
    let scopes: BTreeSet<Scope> = [Scope::Manage, Scope::Read].into_iter().collect();
    let (_, carol) = store
        .create_token("carol", &scopes, aftermath::now())
        .await
        .unwrap();
    drop(store);
    (spawn_app_from(config, data_dir, None).await, carol)
}

/// Opens one incident of the `checkout` group; its id.
async fn open_incident(app: &TestApp) -> String {
    app.notify(&webhook("checkout", "checkout-1", false)).await;
    app.only_incident().await["id"].as_str().unwrap().to_owned()
}

/// A responder request over the API (as alice) that must be folded.
async fn respond(app: &TestApp, id: &str, action: &str, body: Value) {
    let reply = app
        .post(
            &format!("/v1/incidents/{id}/{action}"),
            &app.alice,
            &body.to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{action}: {}", reply.text);
}

async fn acknowledge_and_resolve(app: &TestApp, id: &str) {
    respond(app, id, "ack", json!({})).await;
    respond(app, id, "resolve", json!({"resolution": "rolled back"})).await;
}

/// The draft as the API's JSON rendering has it.
async fn draft_json(app: &TestApp, id: &str) -> Value {
    let reply = app
        .get(
            &format!("/v1/incidents/{id}/postmortem?format=json"),
            &app.reader,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

/// The published revisions as the API lists them.
async fn revisions_json(app: &TestApp, id: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/v1/incidents/{id}/postmortem/revisions"),
            &app.reader,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json().as_array().unwrap().clone()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let reply = app.get(&format!("/v1/incidents/{id}"), &app.reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["status"].as_str().unwrap().to_owned()
}

/// One answer as a browser sees it, redirects not followed.
struct WebReply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl WebReply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    #[track_caller]
    fn assert_html(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(
            self.header("content-type").starts_with("text/html"),
            "{:?}",
            self.headers
        );
        assert!(self.text.starts_with("<!DOCTYPE html>"), "{}", self.text);
    }

    #[track_caller]
    fn assert_redirect_to(&self, location: &str) {
        assert_eq!(self.status, 303, "{}", self.text);
        assert_eq!(self.header("location"), location);
    }
}

/// A browser session: the session cookie of a token signed in through `/login`.
struct Session<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: String,
}

impl<'a> Session<'a> {
    async fn sign_in(app: &'a TestApp, token: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client
            .post(format!("{}/login", app.base))
            .header("origin", &app.base)
            .form(&[("token", token), ("next", "/incidents")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303);
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|cookie| cookie.starts_with("aftermath_session="))
            .expect("a session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        Self {
            app,
            client,
            cookie,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> WebReply {
        let response = request.header("cookie", &self.cookie).send().await.unwrap();
        WebReply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> WebReply {
        self.send(self.client.get(format!("{}{path}", self.app.base)))
            .await
    }

    /// A form POST as the browser sends it from the app's own page.
    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> WebReply {
        self.send(
            self.client
                .post(format!("{}{path}", self.app.base))
                .header("origin", &self.app.base)
                .header("sec-fetch-site", "same-origin")
                .form(form),
        )
        .await
    }
}

/// The text of the element with `id`, up to its first child tag.
#[track_caller]
fn text_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_owned()
}

/// `<section class="pm-section" id="KEY">…</section>` of the post-mortem document.
#[track_caller]
fn pm_section<'h>(html: &'h str, key: &str) -> &'h str {
    let open = format!("<section class=\"pm-section\" id=\"{key}\">");
    let start = html
        .find(&open)
        .unwrap_or_else(|| panic!("no section {key} in {html}"));
    let end = start + html[start..].find("</section>").unwrap() + "</section>".len();
    &html[start..end]
}

/// `<article class="postmortem">…</article>`: the document itself.
#[track_caller]
fn article(html: &str) -> &str {
    let start = html
        .find("<article class=\"postmortem\">")
        .unwrap_or_else(|| panic!("no post-mortem document in {html}"));
    let end = start + html[start..].find("</article>").unwrap() + "</article>".len();
    &html[start..end]
}

/// The `<details class="edit-section">` of `key`.
#[track_caller]
fn edit_details<'h>(html: &'h str, key: &str) -> &'h str {
    let open = format!("<details class=\"edit-section\" data-section=\"{key}\">");
    let start = html
        .find(&open)
        .unwrap_or_else(|| panic!("no edit form for {key} in {html}"));
    let end = start + html[start..].find("</details>").unwrap() + "</details>".len();
    &html[start..end]
}

fn edit_form_count(html: &str) -> usize {
    html.matches("<form class=\"edit-section-form\" method=\"post\"")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draft_page_shows_the_document_with_status_links_and_revisions() {
    let (app, _carol) = spawn_app_with_manager().await;
    let id = open_incident(&app).await;
    let page_path = format!("/incidents/{id}/postmortem");

    // Without a session: to sign-in, and back here afterwards.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{page_path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 303);
    assert_eq!(
        anonymous.headers()["location"].to_str().unwrap(),
        format!("/login?next={page_path}")
    );

    let reader = Session::sign_in(&app, &app.reader).await;
    let page = reader.get(&page_path).await;
    page.assert_html(200);
    assert!(page.text.contains("<title>Post-mortem: "), "{}", page.text);
    assert_eq!(text_of(&page.text, "incident-status"), "triggered");
    let document = article(&page.text);
    assert!(document.contains("<h1>Post-Mortem: "), "{document}");
    for key in SECTIONS {
        pm_section(document, key);
    }
    assert!(
        pm_section(document, "success_criteria").contains("<ul class=\"pm-checklist\">"),
        "{document}"
    );
    for link in [
        format!("id=\"back-to-incident\" href=\"/incidents/{id}\""),
        format!("id=\"postmortem-markdown\" href=\"{page_path}/markdown\""),
        format!("id=\"postmortem-print\" href=\"{page_path}?print=1\""),
    ] {
        assert!(page.text.contains(&link), "{link} in {}", page.text);
    }
    assert!(
        page.text.contains("<section id=\"revisions\">"),
        "{}",
        page.text
    );
    assert_eq!(
        text_of(&page.text, "no-revisions"),
        "Nothing published yet."
    );

    // The Markdown link shows the same draft as the API's Markdown, as text.
    let markdown = reader.get(&format!("{page_path}/markdown")).await;
    assert_eq!(markdown.status, 200, "{}", markdown.text);
    assert!(markdown.header("content-type").starts_with("text/plain"));
    let api_markdown = app
        .get(&format!("/v1{page_path}?format=md"), &app.reader)
        .await;
    assert_eq!(markdown.text, api_markdown.text);

    // The print view is the document without forms, and says how to print.
    let print = reader.get(&format!("{page_path}?print=1")).await;
    print.assert_html(200);
    assert_eq!(article(&print.text), document);
    assert!(print.text.contains("id=\"print-hint\""), "{}", print.text);
    assert!(!print.text.contains("id=\"revisions\""), "{}", print.text);
    reader
        .get(&format!("{page_path}?print=yes"))
        .await
        .assert_html(400);
    reader
        .get(&format!("{page_path}?format=md"))
        .await
        .assert_html(400);
    // The page's stylesheet is the only style: no inline styles or scripts.
    assert!(
        page.header("content-security-policy")
            .contains("script-src 'self'"),
        "{:?}",
        page.headers
    );
    assert!(!page.text.contains("style="), "{}", page.text);

    let unknown = reader
        .get("/incidents/00000000-0000-0000-0000-000000000000/postmortem")
        .await;
    unknown.assert_html(404);
    reader
        .get("/incidents/not-an-id/postmortem")
        .await
        .assert_html(404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_session_sees_no_forms_and_is_refused_when_posting_anyway() {
    let (app, _carol) = spawn_app_with_manager().await;
    let id = open_incident(&app).await;
    acknowledge_and_resolve(&app, &id).await;
    let page_path = format!("/incidents/{id}/postmortem");

    let reader = Session::sign_in(&app, &app.reader).await;
    let page = reader.get(&page_path).await;
    page.assert_html(200);
    assert_eq!(edit_form_count(&page.text), 0, "{}", page.text);
    assert!(!page.text.contains("<details"), "{}", page.text);
    assert!(!page.text.contains("id=\"publish\""), "{}", page.text);
    assert!(
        !page.text.contains("id=\"publish-button\""),
        "{}",
        page.text
    );
    assert!(page.text.contains("id=\"manage-note\""), "{}", page.text);

    let edit = reader
        .post_form(
            &format!("{page_path}/sections/summary"),
            &[("text", "written by a reader")],
        )
        .await;
    edit.assert_html(403);
    assert!(
        text_of(&edit.text, "error-detail").contains("manage"),
        "{}",
        edit.text
    );
    let publish = reader
        .post_form(&format!("{page_path}/publish"), &[("revision", "1")])
        .await;
    publish.assert_html(403);

    // Neither reached the log.
    let draft = draft_json(&app, &id).await;
    assert!(
        draft["sections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|section| section["edited"].is_null()),
        "{draft}"
    );
    assert!(revisions_json(&app, &id).await.is_empty());
    assert_eq!(status_of(&app, &id).await, "resolved");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_form_post_is_refused() {
    let (app, carol) = spawn_app_with_manager().await;
    let id = open_incident(&app).await;
    acknowledge_and_resolve(&app, &id).await;
    let manager = Session::sign_in(&app, &carol).await;
    let page_path = format!("/incidents/{id}/postmortem");

    let from_another_site = manager
        .send(
            manager
                .client
                .post(format!("{}{page_path}/publish", app.base))
                .header("origin", "https://evil.example")
                .form(&[("revision", "1")]),
        )
        .await;
    from_another_site.assert_html(403);
    let reported_cross_site = manager
        .send(
            manager
                .client
                .post(format!("{}{page_path}/sections/summary", app.base))
                .header("sec-fetch-site", "cross-site")
                .form(&[("text", "planted")]),
        )
        .await;
    reported_cross_site.assert_html(403);

    assert!(revisions_json(&app, &id).await.is_empty());
    assert_eq!(status_of(&app, &id).await, "resolved");
    let draft = draft_json(&app, &id).await;
    assert!(!draft.to_string().contains("planted"), "{draft}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_edits_a_section_as_text_and_hands_it_back_to_the_generated_text() {
    let (app, carol) = spawn_app_with_manager().await;
    let id = open_incident(&app).await;
    let page_path = format!("/incidents/{id}/postmortem");
    let manager = Session::sign_in(&app, &carol).await;

    let before = manager.get(&page_path).await;
    before.assert_html(200);
    // The title and every section but the computed success criteria.
    assert_eq!(edit_form_count(&before.text), 12, "{}", before.text);
    assert!(
        !before.text.contains("data-section=\"success_criteria\""),
        "{}",
        before.text
    );
    let summary_form = edit_details(&before.text, "summary");
    assert!(
        summary_form.contains(&format!(
            "<form class=\"edit-section-form\" method=\"post\" action=\"{page_path}/sections/summary\">"
        )),
        "{summary_form}"
    );
    assert!(summary_form.contains("name=\"text\""), "{summary_form}");
    assert!(
        !summary_form.contains("name=\"revert\""),
        "nothing to hand back yet: {summary_form}"
    );
    let generated_summary = pm_section(&before.text, "summary").to_owned();

    // A browser sends the textarea's line breaks as CRLF.
    let text = "We broke checkout.\r\n\r\n- <script>alert(1)</script> stays text";
    let saved = manager
        .post_form(&format!("{page_path}/sections/summary"), &[("text", text)])
        .await;
    saved.assert_redirect_to(&page_path);

    let edited = manager.get(&page_path).await;
    edited.assert_html(200);
    let summary = pm_section(&edited.text, "summary");
    assert!(summary.contains("Written by carol"), "{summary}");
    assert!(summary.contains("<p>We broke checkout.</p>"), "{summary}");
    assert!(
        summary.contains("<li>&lt;script&gt;alert(1)&lt;/script&gt; stays text</li>"),
        "{summary}"
    );
    assert!(!edited.text.contains("<script>alert(1)"), "{}", edited.text);
    let summary_form = edit_details(&edited.text, "summary");
    assert!(
        summary_form.contains(
            "We broke checkout.\n\n- &lt;script&gt;alert(1)&lt;/script&gt; stays text</textarea>"
        ),
        "the person's text, as stored with plain line breaks: {summary_form}"
    );
    assert!(
        summary_form.contains("name=\"revert\" value=\"1\""),
        "{summary_form}"
    );
    let stored = draft_json(&app, &id).await;
    let stored_summary = stored["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|section| section["key"] == "summary")
        .unwrap();
    assert_eq!(stored_summary["edited"]["by"], "carol", "{stored}");

    // The same text again is what the API refuses too: 409, shown on the page.
    let again = manager
        .post_form(&format!("{page_path}/sections/summary"), &[("text", text)])
        .await;
    again.assert_html(409);
    assert!(
        text_of(&again.text, "form-error").contains("already says that"),
        "{}",
        again.text
    );
    for (section, form_text, expected_status, expected_error) in [
        ("summary", "   ", 400, "must not be blank"),
        ("title", "two\r\nlines", 400, "one line"),
        (
            "success_criteria",
            "- [x] all good",
            409,
            "computed from facts",
        ),
    ] {
        let refused = manager
            .post_form(
                &format!("{page_path}/sections/{section}"),
                &[("text", form_text)],
            )
            .await;
        refused.assert_html(expected_status);
        assert!(
            text_of(&refused.text, "form-error").contains(expected_error),
            "{section}: {}",
            refused.text
        );
    }
    manager
        .post_form(
            &format!("{page_path}/sections/appendix"),
            &[("text", "more")],
        )
        .await
        .assert_html(404);

    let reverted = manager
        .post_form(
            &format!("{page_path}/sections/summary"),
            &[("text", text), ("revert", "1")],
        )
        .await;
    reverted.assert_redirect_to(&page_path);
    let after = manager.get(&page_path).await;
    after.assert_html(200);
    assert_eq!(pm_section(&after.text, "summary"), generated_summary);
    assert!(
        !edit_details(&after.text, "summary").contains("name=\"revert\""),
        "{}",
        after.text
    );
    // Nothing left to hand back: refused as by the API.
    let nothing_to_revert = manager
        .post_form(
            &format!("{page_path}/sections/summary"),
            &[("text", ""), ("revert", "1")],
        )
        .await;
    nothing_to_revert.assert_html(409);
    assert!(
        text_of(&nothing_to_revert.text, "form-error").contains("no edit to revert"),
        "{}",
        nothing_to_revert.text
    );

    // A new title shows in the document's heading.
    let titled = manager
        .post_form(
            &format!("{page_path}/sections/title"),
            &[("text", "Checkout <b>down</b>")],
        )
        .await;
    titled.assert_redirect_to(&page_path);
    let page = manager.get(&page_path).await;
    assert!(
        article(&page.text).contains("<h1>Post-Mortem: Checkout &lt;b&gt;down&lt;/b&gt;</h1>"),
        "{}",
        page.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_an_open_incident_is_refused_and_publishes_nothing() {
    let (app, carol) = spawn_app_with_manager().await;
    let id = open_incident(&app).await;
    let page_path = format!("/incidents/{id}/postmortem");
    let manager = Session::sign_in(&app, &carol).await;

    let page = manager.get(&page_path).await;
    page.assert_html(200);
    assert!(!page.text.contains("id=\"publish\""), "{}", page.text);
    assert!(
        text_of(&page.text, "publish-blocked").contains("resolve it before publishing"),
        "{}",
        page.text
    );

    // Posted anyway (a page opened before someone reopened the incident, say).
    let refused = manager
        .post_form(&format!("{page_path}/publish"), &[("revision", "1")])
        .await;
    refused.assert_html(409);
    assert!(
        text_of(&refused.text, "form-error").contains("still open"),
        "{}",
        refused.text
    );
    assert_eq!(text_of(&refused.text, "incident-status"), "triggered");
    assert!(article(&refused.text).contains("<h1>Post-Mortem: "));

    assert!(revisions_json(&app, &id).await.is_empty());
    assert_eq!(status_of(&app, &id).await, "triggered");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_a_resolved_incident_closes_it_and_freezes_revision_1() {
    let (app, carol) = spawn_app_with_manager().await;
    let id = open_incident(&app).await;
    acknowledge_and_resolve(&app, &id).await;
    let page_path = format!("/incidents/{id}/postmortem");
    let revision_path = format!("{page_path}/revisions/1");
    let manager = Session::sign_in(&app, &carol).await;

    let page = manager.get(&page_path).await;
    page.assert_html(200);
    assert_eq!(text_of(&page.text, "incident-status"), "resolved");
    assert!(
        page.text.contains(&format!(
            "<form id=\"publish\" method=\"post\" action=\"{page_path}/publish\">"
        )),
        "{}",
        page.text
    );
    assert_eq!(text_of(&page.text, "publish-button"), "Publish revision 1");
    assert!(page.text.contains("closes the incident"), "{}", page.text);

    let published = manager
        .post_form(&format!("{page_path}/publish"), &[("revision", "1")])
        .await;
    published.assert_redirect_to(&page_path);

    let page = manager.get(&page_path).await;
    page.assert_html(200);
    assert_eq!(text_of(&page.text, "incident-status"), "closed");
    assert!(
        page.text.contains(&format!(
            "<a class=\"revision-link\" href=\"{revision_path}\">Revision 1</a>"
        )),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("<span class=\"revision-by\">carol</span>"),
        "{}",
        page.text
    );
    assert_eq!(text_of(&page.text, "publish-button"), "Publish revision 2");
    assert_eq!(status_of(&app, &id).await, "closed");
    let revisions = revisions_json(&app, &id).await;
    assert_eq!(revisions.len(), 1, "{revisions:?}");
    assert_eq!(revisions[0]["by"], "carol");

    // The same form sent twice (a double click): still one revision.
    manager
        .post_form(&format!("{page_path}/publish"), &[("revision", "1")])
        .await
        .assert_redirect_to(&page_path);
    assert_eq!(revisions_json(&app, &id).await.len(), 1);

    let revision = manager.get(&revision_path).await;
    revision.assert_html(200);
    let label = text_of(&revision.text, "revision-label");
    assert!(
        revision
            .text
            .contains("<strong>Revision 1</strong>, published by carol"),
        "{label}: {}",
        revision.text
    );
    assert!(
        revision.text.contains("Frozen as published"),
        "{}",
        revision.text
    );
    assert!(
        revision.text.contains(&format!(
            "id=\"postmortem-markdown\" href=\"{revision_path}/markdown\""
        )),
        "{}",
        revision.text
    );
    assert!(
        revision
            .text
            .contains(&format!("id=\"live-draft-link\" href=\"{page_path}\"")),
        "{}",
        revision.text
    );
    assert_eq!(edit_form_count(&revision.text), 0, "{}", revision.text);
    let frozen = article(&revision.text).to_owned();

    // A later action item changes the live draft, never the revision.
    let item = app
        .post(
            &format!("/v1/incidents/{id}/action-items"),
            &app.alice,
            &json!({"title": "Canary the checkout deploys", "owner": "alice", "kind": "prevent"})
                .to_string(),
        )
        .await;
    assert_eq!(item.status, 200, "{}", item.text);
    let draft = manager.get(&page_path).await;
    assert!(
        pm_section(&draft.text, "action_items").contains("Canary the checkout deploys"),
        "{}",
        draft.text
    );
    let revision = manager.get(&revision_path).await;
    revision.assert_html(200);
    assert_eq!(article(&revision.text), frozen);
    assert!(!frozen.contains("Canary the checkout deploys"), "{frozen}");
    let markdown = manager.get(&format!("{revision_path}/markdown")).await;
    assert_eq!(markdown.status, 200, "{}", markdown.text);
    assert!(
        markdown.text.starts_with("# Post-Mortem: "),
        "{}",
        markdown.text
    );
    assert!(!markdown.text.contains("Canary"), "{}", markdown.text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_revision_is_a_404_page() {
    let (app, carol) = spawn_app_with_manager().await;
    let id = open_incident(&app).await;
    acknowledge_and_resolve(&app, &id).await;
    let manager = Session::sign_in(&app, &carol).await;
    let revisions = format!("/incidents/{id}/postmortem/revisions");

    let none_yet = manager.get(&format!("{revisions}/1")).await;
    none_yet.assert_html(404);
    assert!(
        text_of(&none_yet.text, "error-detail").contains("nothing is published yet"),
        "{}",
        none_yet.text
    );

    manager
        .post_form(
            &format!("/incidents/{id}/postmortem/publish"),
            &[("revision", "1")],
        )
        .await
        .assert_redirect_to(&format!("/incidents/{id}/postmortem"));
    manager
        .get(&format!("{revisions}/1"))
        .await
        .assert_html(200);
    for unknown in ["2", "0", "latest"] {
        let page = manager.get(&format!("{revisions}/{unknown}")).await;
        page.assert_html(404);
        assert!(
            text_of(&page.text, "error-detail").contains("only revision 1 is published"),
            "{unknown}: {}",
            page.text
        );
    }
    manager
        .get(&format!("{revisions}/2/markdown"))
        .await
        .assert_html(404);
    app.stop().await;
}
