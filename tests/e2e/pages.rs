//! The web pages over real HTTP: signing in and out with a token (cookie attributes,
//! refusals, safe redirects, the CSRF check), the redirect to sign-in, the incident list
//! and its filters and paging, the incident page, alert text that must stay text, and
//! the security headers.

use serde_json::{json, Value};

use crate::support::*;

/// What a browser would see of one answer, redirects not followed.
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

    fn location(&self) -> &str {
        self.header("location")
    }

    /// The `aftermath_session` Set-Cookie header, whole.
    fn session_cookie(&self) -> Option<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|cookie| cookie.starts_with("aftermath_session="))
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
}

/// A client that, like a test of a browser's view, shows each redirect instead of
/// following it, and sends the session cookie when it has one.
struct Web<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: Option<String>,
}

impl<'a> Web<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Signs in with `token` and keeps the session cookie.
    async fn signed_in(app: &'a TestApp, token: &str) -> Self {
        let mut web = Self::new(app);
        let reply = web.sign_in(token, "/incidents").await;
        assert_eq!(reply.status, 303, "{}", reply.text);
        let cookie = reply.session_cookie().expect("a session cookie");
        web.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        web
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> WebReply {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        let response = request.send().await.expect("request failed");
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

    /// A form POST as a browser sends it from one of the app's own pages.
    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> WebReply {
        self.post_form_from(path, form, &self.app.base).await
    }

    async fn post_form_from(&self, path: &str, form: &[(&str, &str)], origin: &str) -> WebReply {
        self.send(
            self.client
                .post(format!("{}{path}", self.app.base))
                .header("origin", origin)
                .form(form),
        )
        .await
    }

    async fn sign_in(&self, token: &str, next: &str) -> WebReply {
        self.post_form("/login", &[("token", token), ("next", next)])
            .await
    }
}

/// The text inside the element with `id` (up to its first child tag).
#[track_caller]
fn text_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_owned()
}

/// The `data-id` of every `tr.incident`, in order.
fn listed_ids(html: &str) -> Vec<String> {
    html.match_indices("<tr ")
        .map(|(at, _)| &html[at..at + html[at..].find('>').unwrap()])
        .filter(|tag| tag.contains("class=\"incident\""))
        .map(|tag| {
            let start = tag.find("data-id=\"").unwrap() + "data-id=\"".len();
            tag[start..start + tag[start..].find('"').unwrap()].to_owned()
        })
        .collect()
}

/// `href` of the element with `id`.
fn href_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let start = tag.find("href=\"")? + "href=\"".len();
    Some(tag[start..start + tag[start..].find('"')?].replace("&amp;", "&"))
}

const SCRIPT: &str = "<script>alert(1)</script>";
const ESCAPED_SCRIPT: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

/// An Alertmanager notification of one firing (or resolved) alert of `group`.
fn alert(group: &str, service: &str, summary: &str, extra: Value) -> String {
    let mut body = json!({
        "version": "4", "status": "firing", "receiver": "aftermath",
        "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"), "truncatedAlerts": 0,
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group, "service": service, "severity": "critical"},
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": group, "instance": "host-1"},
            "annotations": {"summary": summary},
            "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": format!("{group}-1")
        }]
    });
    merge(&mut body, extra);
    body.to_string()
}

fn merge(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(target), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (Value::Array(target), Value::Array(extra)) => {
            for (slot, value) in target.iter_mut().zip(extra) {
                merge(slot, value);
            }
        }
        (target, extra) => *target = extra,
    }
}

fn resolved() -> Value {
    json!({"status": "resolved", "alerts": [{"status": "resolved", "endsAt": "2026-11-24T08:00:00Z"}]})
}

/// An app whose acknowledgement SLA is zero, so every unacknowledged incident is overdue.
async fn spawn_app_with_zero_ack_sla() -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = aftermath::Config::new(data_dir.path(), "127.0.0.1:0".parse().unwrap());
    config.ack_policy = aftermath_core::AckPolicy::uniform(0);
    spawn_app_from(config, data_dir, None).await
}

async fn id_titled(app: &TestApp, title: &str) -> String {
    let incident = app
        .incidents("all")
        .await
        .into_iter()
        .find(|incident| incident["title"] == title)
        .unwrap_or_else(|| panic!("no incident titled {title:?}"));
    incident["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_a_strict_http_only_cookie_and_returns_to_the_page_asked_for() {
    let app = spawn_app().await;
    let web = Web::new(&app);

    let form = web.get("/login?next=/incidents%3Fstatus%3Dall").await;
    form.assert_html(200);
    for needle in [
        r#"<form id="login" method="post" action="/login">"#,
        r#"type="password" name="token""#,
        r#"id="token""#,
        r#"<input type="hidden" name="next" value="/incidents?status=all">"#,
        r#"id="sign-in""#,
        "<title>Sign in · Aftermath</title>",
    ] {
        assert!(form.text.contains(needle), "{needle} in {}", form.text);
    }
    assert!(
        !form.text.contains("id=\"logout\""),
        "nobody is signed in yet"
    );

    let reply = web.sign_in(&app.reader, "/incidents?status=all").await;
    assert_eq!(reply.status, 303, "{}", reply.text);
    assert_eq!(reply.location(), "/incidents?status=all");
    let cookie = reply.session_cookie().expect("a session cookie");
    assert!(
        cookie.starts_with(&format!("aftermath_session={};", app.reader)),
        "{cookie}"
    );
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&attribute), "{attribute} in {cookie}");
    }

    let web = Web::signed_in(&app, &app.reader).await;
    let root = web.get("/").await;
    assert_eq!((root.status, root.location()), (303, "/dashboard"));
    let root = Web::new(&app).get("/").await;
    assert_eq!((root.status, root.location()), (303, "/login"));

    // Every page has the frame: navigation, who is signed in, and the sign-out form.
    let list = web.get("/incidents").await;
    list.assert_html(200);
    for needle in [
        r#"<a id="nav-dashboard" href="/dashboard">"#,
        r#"<a id="nav-incidents" href="/incidents">"#,
        r#"<form id="logout" method="post" action="/logout">"#,
        "<title>Incidents · Aftermath</title>",
    ] {
        assert!(list.text.contains(needle), "{needle} in {}", list.text);
    }
    assert!(list.text.contains("signed in as "), "{}", list.text);
    assert_eq!(text_of(&list.text, "viewer-name"), "reader");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sign_ins_say_why_without_echoing_the_token_and_next_stays_on_this_site() {
    let app = spawn_app().await;
    let web = Web::new(&app);

    let wrong = "am_0000000000000000000000000000000000000000";
    let reply = web.sign_in(wrong, "/incidents").await;
    reply.assert_html(401);
    assert!(reply.session_cookie().is_none());
    assert!(text_of(&reply.text, "login-error").contains("unknown or has been revoked"));
    assert!(!reply.text.contains(wrong), "the token is echoed");
    assert!(
        reply.text.contains(r#"id="login""#),
        "the form is shown again"
    );

    // A valid token that may not read (an ingest token) cannot sign in either.
    let reply = web.sign_in(&app.ingest, "/incidents").await;
    reply.assert_html(401);
    assert!(reply.session_cookie().is_none());
    assert!(
        text_of(&reply.text, "login-error").contains("lacks the read scope"),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains(&app.ingest), "the token is echoed");

    // After signing in, only a path on this site is followed.
    for unsafe_next in [
        "//evil.example",
        "//evil.example/incidents",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let reply = web.sign_in(&app.reader, unsafe_next).await;
        assert_eq!(reply.status, 303, "{unsafe_next}: {}", reply.text);
        assert_eq!(reply.location(), "/dashboard", "{unsafe_next}");
    }
    let form = web.get("/login?next=//evil.example").await;
    assert!(form.text.contains(r#"name="next" value="/dashboard""#));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_without_a_valid_session_redirect_to_sign_in_and_back() {
    let app = spawn_app().await;
    app.notify(&alert("Latency", "checkout", "Checkout is slow", json!({})))
        .await;
    let id = id_titled(&app, "Checkout is slow").await;

    let anonymous = Web::new(&app);
    let reply = anonymous
        .get("/incidents?status=all&service=checkout")
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(
        reply.location(),
        "/login?next=/incidents%3Fstatus%3Dall%26service%3Dcheckout"
    );
    let reply = anonymous.get(&format!("/incidents/{id}")).await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.location(), format!("/login?next=/incidents/{id}"));

    // A cookie with a token that does not exist is no session.
    let mut forged = Web::new(&app);
    forged.cookie = Some("aftermath_session=am_not-a-token".to_owned());
    let reply = forged.get("/incidents").await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.location(), "/login?next=/incidents");

    // Signing in from that redirect lands on the page asked for.
    let reply = anonymous
        .sign_in(&app.reader, &format!("/incidents/{id}"))
        .await;
    assert_eq!(reply.location(), format!("/incidents/{id}"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_form_posts_are_refused_and_signing_out_clears_the_cookie() {
    let app = spawn_app().await;
    let web = Web::signed_in(&app, &app.reader).await;

    // Another site's form signing the browser in (login CSRF) or out.
    let reply = web
        .post_form_from(
            "/login",
            &[("token", &app.reader), ("next", "/incidents")],
            "http://evil.example",
        )
        .await;
    reply.assert_html(403);
    assert!(reply.session_cookie().is_none());
    let reply = web
        .post_form_from("/logout", &[], "http://evil.example")
        .await;
    reply.assert_html(403);
    assert!(reply.session_cookie().is_none());
    let reply = web
        .send(
            web.client
                .post(format!("{}/logout", app.base))
                .header("sec-fetch-site", "cross-site"),
        )
        .await;
    reply.assert_html(403);
    assert_eq!(web.get("/incidents").await.status, 200, "still signed in");

    let reply = web.post_form("/logout", &[]).await;
    assert_eq!((reply.status, reply.location()), (303, "/login"));
    let cleared = reply.session_cookie().expect("the cookie is cleared");
    assert!(cleared.starts_with("aftermath_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_list_filters_by_status_overdue_service_and_class_and_pages() {
    let app = spawn_app_with_zero_ack_sla().await;
    // Open, unacknowledged (so overdue), service orders, classified E104.
    app.notify(&alert(
        "MigrationJobFailed",
        "orders",
        "Flyway migration V3__add_index.sql failed on orders-db",
        json!({"alerts": [{"annotations": {
            "description": "ERROR: Migration V3__add_index.sql failed\nSQL State  : 42P07"
        }}]}),
    ))
    .await;
    // Open, acknowledged, service checkout, unclassified.
    app.notify(&alert("Latency", "checkout", "Checkout is slow", json!({})))
        .await;
    // Resolved, service checkout, unclassified.
    app.notify(&alert("Errors", "checkout", "Checkout errors", json!({})))
        .await;
    app.notify(&alert("Errors", "checkout", "Checkout errors", resolved()))
        .await;
    let migration = id_titled(
        &app,
        "Flyway migration V3__add_index.sql failed on orders-db",
    )
    .await;
    let latency = id_titled(&app, "Checkout is slow").await;
    let errors = id_titled(&app, "Checkout errors").await;
    let reply = app
        .post(&format!("/v1/incidents/{latency}/ack"), &app.alice, "{}")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let classes: Vec<(String, Value)> = app
        .incidents("all")
        .await
        .iter()
        .map(|incident| {
            (
                incident["id"].as_str().unwrap().to_owned(),
                incident["error_class"].clone(),
            )
        })
        .collect();
    assert!(
        classes.contains(&(migration.clone(), json!("E104"))),
        "{classes:?}"
    );
    assert!(
        classes.contains(&(latency.clone(), Value::Null)),
        "{classes:?}"
    );
    assert!(
        classes.contains(&(errors.clone(), Value::Null)),
        "{classes:?}"
    );

    let web = Web::signed_in(&app, &app.reader).await;
    let listed = |query: &'static str| {
        let web = &web;
        async move {
            let reply = web.get(&format!("/incidents{query}")).await;
            reply.assert_html(200);
            let mut ids = listed_ids(&reply.text);
            ids.sort();
            ids
        }
    };
    let sorted = |mut ids: Vec<&String>| {
        ids.sort();
        ids.into_iter().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        listed("").await,
        sorted(vec![&migration, &latency]),
        "open by default"
    );
    assert_eq!(
        listed("?status=open").await,
        sorted(vec![&migration, &latency])
    );
    assert_eq!(listed("?status=resolved").await, sorted(vec![&errors]));
    assert_eq!(
        listed("?status=all").await,
        sorted(vec![&migration, &latency, &errors])
    );
    assert_eq!(
        listed("?status=all&overdue=true").await,
        sorted(vec![&migration])
    );
    assert_eq!(
        listed("?status=all&service=checkout").await,
        sorted(vec![&latency, &errors])
    );
    assert_eq!(
        listed("?status=all&service=orders").await,
        sorted(vec![&migration])
    );
    assert_eq!(
        listed("?status=all&class=E104").await,
        sorted(vec![&migration])
    );
    assert_eq!(listed("?status=all&class=E101").await, Vec::<String>::new());
    assert_eq!(
        listed("?status=all&class=unclassified").await,
        sorted(vec![&latency, &errors])
    );
    // What the untouched form sends: every field, empty or "any".
    assert_eq!(
        listed("?status=open&service=&class=any").await,
        sorted(vec![&migration, &latency])
    );
    assert_eq!(
        listed("?status=open&service=checkout&class=unclassified").await,
        sorted(vec![&latency])
    );

    // The form shows the filters in force.
    let page = web
        .get("/incidents?status=all&overdue=true&service=orders&class=E104")
        .await;
    for needle in [
        r#"<form id="filters" method="get" action="/incidents">"#,
        r#"<option value="all" selected>"#,
        r#"name="overdue" value="true" checked"#,
        r#"name="service" value="orders""#,
        r#"<option value="E104" selected>"#,
    ] {
        assert!(page.text.contains(needle), "{needle} in {}", page.text);
    }
    // Each row links to its incident and shows its status.
    assert!(page.text.contains(&format!(
        r#"<a class="incident-link" href="/incidents/{migration}">"#
    )));

    // Bad values are a 400 page naming the parameter.
    for (query, parameter) in [
        ("?status=closed-ish", "status"),
        ("?overdue=maybe", "overdue"),
        ("?class=E999", "class"),
        ("?limit=0", "limit"),
        ("?cursor=nope", "cursor"),
        ("?stauts=open", "stauts"),
    ] {
        let reply = web.get(&format!("/incidents{query}")).await;
        reply.assert_html(400);
        assert!(
            text_of(&reply.text, "error-detail").contains(parameter),
            "{query}: {}",
            reply.text
        );
    }

    // Paging: one per page, newest first, following a#next-page to the end.
    let mut seen = Vec::new();
    let mut next = Some("/incidents?status=all&limit=1".to_owned());
    while let Some(path) = next {
        let reply = web.get(&path).await;
        reply.assert_html(200);
        let ids = listed_ids(&reply.text);
        assert_eq!(ids.len(), 1, "{path}: {}", reply.text);
        seen.extend(ids);
        next = href_of(&reply.text, "next-page");
        assert!(seen.len() <= 3, "paging does not end");
    }
    seen.sort();
    assert_eq!(seen, sorted(vec![&migration, &latency, &errors]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_page_shows_alerts_timeline_whys_classification_and_links() {
    let app = spawn_app().await;
    app.notify(&alert(
        "MigrationJobFailed",
        "orders",
        "Flyway migration V3__add_index.sql failed on orders-db",
        json!({"alerts": [{
            "labels": {"team": "payments"},
            "annotations": {"description": "ERROR: Migration V3__add_index.sql failed\nSQL State  : 42P07"}
        }]}),
    ))
    .await;
    let id = id_titled(
        &app,
        "Flyway migration V3__add_index.sql failed on orders-db",
    )
    .await;
    let respond = |path: String, body: Value| {
        let app = &app;
        async move {
            let reply = app.post(&path, &app.alice, &body.to_string()).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        }
    };
    respond(
        format!("/v1/incidents/{id}/ack"),
        json!({"note": "looking at the job"}),
    )
    .await;
    respond(
        format!("/v1/incidents/{id}/whys"),
        json!({"question": "Why did the migration fail?", "answer": "The index already existed."}),
    )
    .await;
    respond(
        format!("/v1/incidents/{id}/links"),
        json!({"url": "https://grafana.example/d/orders", "title": "Orders dashboard"}),
    )
    .await;

    let web = Web::signed_in(&app, &app.reader).await;
    let page = web.get(&format!("/incidents/{id}")).await;
    page.assert_html(200);
    let html = &page.text;
    assert_eq!(
        text_of(html, "incident-title"),
        "Flyway migration V3__add_index.sql failed on orders-db"
    );
    assert_eq!(text_of(html, "incident-status"), "acknowledged");
    assert_eq!(text_of(html, "incident-severity"), "critical");
    assert_eq!(text_of(html, "incident-service"), "orders");
    for section in [
        "alerts",
        "timeline",
        "whys",
        "classification",
        "action-items",
        "links",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{section}\"")),
            "#{section}"
        );
    }
    // Alerts with their labels and annotations.
    assert!(html.contains("MigrationJobFailed on host-1"), "{html}");
    assert!(html.contains("<dt>team</dt><dd>payments</dd>"), "{html}");
    assert!(html.contains("SQL State  : 42P07"), "{html}");
    // The timeline, live while the incident is open, with a link for readers without JS.
    assert!(html.contains(r#"data-live-seconds="15""#), "{html}");
    assert!(html.contains(&format!(
        r##"<a id="refresh" href="/incidents/{id}#timeline">"##
    )));
    let timeline = &html[html.find("<section id=\"timeline\"").unwrap()..];
    assert!(timeline.contains("data-kind=\"opened\""), "{timeline}");
    assert!(timeline.contains("alice"), "{timeline}");
    assert!(timeline.contains("looking at the job"), "{timeline}");
    assert!(html.contains("Why did the migration fail?"), "{html}");
    assert!(html.contains("The index already existed."), "{html}");
    // The classification with its evidence and runbook.
    assert_eq!(text_of(html, "class-code"), "E104");
    assert_eq!(text_of(html, "class-source"), "classifier");
    assert!(html.contains(r#"<table id="evidence">"#), "{html}");
    assert_eq!(
        text_of(html, "runbook-path"),
        "runbooks/E104-database-migration-failure.md"
    );
    assert!(
        html.contains(r#"<ol id="runbook-procedure"><li>"#),
        "{html}"
    );
    // Links and the post-mortem.
    assert!(
        html.contains(r#"href="https://grafana.example/d/orders""#),
        "{html}"
    );
    assert!(html.contains(&format!(
        r#"<a id="postmortem-link" href="/incidents/{id}/postmortem">"#
    )));
    assert!(page
        .header("content-security-policy")
        .contains("script-src 'self'"));

    // A resolved incident's timeline is final: no live refresh.
    respond(format!("/v1/incidents/{id}/resolve"), json!({})).await;
    let page = web.get(&format!("/incidents/{id}")).await;
    assert_eq!(text_of(&page.text, "incident-status"), "resolved");
    assert!(!page.text.contains("data-live-seconds"), "{}", page.text);

    // Unknown and malformed ids are HTML error pages.
    let unknown = web
        .get("/incidents/00000000-0000-0000-0000-000000000000")
        .await;
    unknown.assert_html(404);
    assert!(text_of(&unknown.text, "error-detail").contains("no incident"));
    assert!(
        unknown.text.contains(r#"id="nav-incidents""#),
        "in the frame"
    );
    web.get("/incidents/not-an-id").await.assert_html(400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_text_and_unsafe_urls_render_as_text_on_both_pages() {
    let app = spawn_app().await;
    let summary = format!("Checkout down {SCRIPT}");
    app.notify(&alert(
        "Outage",
        "checkout",
        &summary,
        json!({"alerts": [{
            "labels": {"note": SCRIPT},
            "annotations": {"description": SCRIPT, "runbook_url": "javascript:alert(1)"},
            "generatorURL": "javascript:alert(1)"
        }]}),
    ))
    .await;
    let id = id_titled(&app, &summary).await;
    let reply = app
        .post(
            &format!("/v1/incidents/{id}/notes"),
            &app.alice,
            &json!({"text": format!("found {SCRIPT}")}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = app
        .post(
            &format!("/v1/incidents/{id}/links"),
            &app.alice,
            &json!({"url": "https://logs.example/?q=\"><script>", "title": SCRIPT}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let web = Web::signed_in(&app, &app.reader).await;
    for path in ["/incidents".to_owned(), format!("/incidents/{id}")] {
        let page = web.get(&path).await;
        page.assert_html(200);
        assert!(
            !page.text.contains("<script>alert(1)"),
            "{path}: {}",
            page.text
        );
        assert!(page.text.contains(ESCAPED_SCRIPT), "{path}: {}", page.text);
        assert!(
            !page
                .text
                .to_ascii_lowercase()
                .contains("href=\"javascript:"),
            "{path}: {}",
            page.text
        );
        // The only scripts are the page's own file.
        assert_eq!(page.text.matches("<script").count(), 1, "{path}");
        assert!(page
            .text
            .contains(r#"<script src="/assets/app.js" defer></script>"#));
    }
    let page = web.get(&format!("/incidents/{id}")).await;
    assert!(
        page.text.contains("javascript:alert(1)"),
        "the URL is shown as text"
    );
    assert!(
        page.text
            .contains(r#"href="https://logs.example/?q=&quot;&gt;&lt;script&gt;""#),
        "{}",
        page.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_assets_carry_the_security_headers() {
    let app = spawn_app().await;
    let web = Web::signed_in(&app, &app.reader).await;
    for path in [
        "/login",
        "/incidents",
        "/incidents/not-an-id",
        "/assets/app.css",
        "/assets/app.js",
    ] {
        let reply = web.get(path).await;
        assert_eq!(
            reply.header("content-security-policy"),
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(reply.header("referrer-policy"), "same-origin", "{path}");
    }
    let css = web.get("/assets/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.text.contains("@media print"), "print styles");
    assert!(
        css.text.contains(aftermath_core::POSTMORTEM_CSS),
        "the post-mortem styles follow ours"
    );
    let js = web.get("/assets/app.js").await;
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert!(js.text.contains("timeline"));
    app.stop().await;
}
