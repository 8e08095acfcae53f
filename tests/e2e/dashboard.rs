//! The managers' dashboard over real HTTP with a browser session: the headline figures
//! against the SOP's targets, the weekly, per-class and per-service charts and tables,
//! open action items grouped by owner, the `service` filter, refused parameters, the
//! sign-in redirect, and alert text that must stay text.

use serde_json::{json, Value};

use crate::support::*;

const SCRIPT: &str = "<script>alert(1)</script>";
const ESCAPED_SCRIPT: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";
const MARKUP_TITLE: &str = "<img src=x onerror=alert(2)>Fix the runner";
const ESCAPED_MARKUP_TITLE: &str = "&lt;img src=x onerror=alert(2)&gt;Fix the runner";

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
    }
}

/// A browser: keeps the session cookie and shows each redirect instead of following it.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn signed_out(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Signs in on `/login` with `token`, as the sign-in form does.
    async fn signed_in(app: &'a TestApp, token: &str) -> Self {
        let mut browser = Self::signed_out(app);
        let response = browser
            .client
            .post(format!("{}/login", app.base))
            .header("origin", &app.base)
            .form(&[("token", token), ("next", "/dashboard")])
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
            .expect("a session cookie");
        browser.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        browser
    }

    async fn get(&self, path: &str) -> WebReply {
        let mut request = self.client.get(format!("{}{path}", self.app.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("request failed");
        WebReply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    /// The dashboard page, asserted to be a 200 HTML page.
    async fn dashboard(&self, query: &str) -> String {
        let reply = self.get(&format!("/dashboard{query}")).await;
        reply.assert_html(200);
        reply.text
    }
}

/// The markup from the element with `id` to the end of its `</closing>` tag.
#[track_caller]
fn element<'h>(html: &'h str, id: &str, closing: &str) -> &'h str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = html[..at].rfind('<').unwrap();
    let end_tag = format!("</{closing}>");
    let end = at + html[at..].find(&end_tag).unwrap() + end_tag.len();
    &html[start..end]
}

/// The text inside the element with `id`, up to its first child tag.
#[track_caller]
fn text_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_owned()
}

/// The opening tag of the element with `id`.
#[track_caller]
fn start_tag<'h>(html: &'h str, id: &str) -> &'h str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = html[..at].rfind('<').unwrap();
    &html[start..at + html[at..].find('>').unwrap() + 1]
}

/// The `<tr data-key="…">` row of `table`.
#[track_caller]
fn row<'h>(table: &'h str, key: &str) -> &'h str {
    let at = table
        .find(&format!("<tr data-key=\"{key}\">"))
        .unwrap_or_else(|| panic!("no row {key} in {table}"));
    &table[at..at + table[at..].find("</tr>").unwrap()]
}

/// The text of the `td` with `class` in `row`.
#[track_caller]
fn cell(row: &str, class: &str) -> String {
    text_of(
        &row.replace(&format!("class=\"{class}\""), "id=\"cell\""),
        "cell",
    )
}

/// Every `data-key` of the rows of `table`, in order.
fn row_keys(table: &str) -> Vec<String> {
    values_of(table, "<tr data-key=\"")
}

/// Every value of an attribute, found by the text just before it (`data-value="`).
fn values_of(html: &str, before: &str) -> Vec<String> {
    html.match_indices(before)
        .map(|(at, _)| {
            let start = at + before.len();
            html[start..start + html[start..].find('"').unwrap()].to_owned()
        })
        .collect()
}

/// (`data-label`, `data-value`) of every bar of the chart `svg`.
fn bars(svg: &str) -> Vec<(String, u64)> {
    svg.match_indices("<rect ")
        .map(|(at, _)| &svg[at..at + svg[at..].find('>').unwrap()])
        .filter(|tag| tag.contains("class=\"bar"))
        .map(|tag| {
            let label = values_of(tag, "data-label=\"").remove(0);
            let value = values_of(tag, "data-value=\"").remove(0);
            (label, value.parse().unwrap())
        })
        .collect()
}

/// The `href` of `link_text`'s link in `html`, with `&amp;` decoded.
#[track_caller]
fn href_before(html: &str, link_text: &str) -> String {
    let at = html
        .find(&format!(">{link_text}</a>"))
        .unwrap_or_else(|| panic!("no link {link_text:?} in {html}"));
    let tag = &html[html[..at].rfind("<a ").unwrap()..at];
    values_of(tag, "href=\"").remove(0).replace("&amp;", "&")
}

/// An Alertmanager notification of one firing alert of `group` on `service`.
fn alert(group: &str, service: &str, title: &str, description: &str) -> String {
    json!({
        "version": "4", "status": "firing", "receiver": "aftermath",
        "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"), "truncatedAlerts": 0,
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group, "service": service, "severity": "critical"},
        "commonAnnotations": {"summary": title},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": group, "instance": "host-1"},
            "annotations": {"summary": title, "description": description},
            "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": format!("{group}-1")
        }]
    })
    .to_string()
}

/// A `YYYY-MM-DD` date `days` from today (UTC).
fn date_from_today(days: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(days)).to_string()
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

/// Posts a responder action and asserts it was taken.
async fn act(app: &TestApp, incident: &str, action: &str, body: Value) {
    let reply = app
        .post(
            &format!("/v1/incidents/{incident}/{action}"),
            &app.alice,
            &body.to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{action}: {}", reply.text);
}

/// Three incidents: checkout (unclassified; acknowledged and resolved at once), orders
/// (a failed migration, E104; open) and a build failure (E101; open) on a service whose
/// name is markup. Action items: two open for alice, one open and one done for bob.
/// Returns the ids of (checkout, orders, build).
async fn three_incidents(app: &TestApp) -> (String, String, String) {
    app.notify(&alert(
        "CheckoutErrors",
        "checkout",
        "Checkout returns 500s",
        "error rate above 5%",
    ))
    .await;
    app.notify(&alert(
        "MigrationJobFailed",
        "orders",
        "Flyway migration V3__add_index.sql failed on orders-db",
        "ERROR: Migration V3__add_index.sql failed\nSQL State  : 42P07",
    ))
    .await;
    app.notify(&alert(
        "BuildBroken",
        SCRIPT,
        "The api build is broken",
        "error[E0308]: mismatched types\nerror: could not compile `api` (bin \"api\") due to 1 previous error",
    ))
    .await;
    let checkout = id_titled(app, "Checkout returns 500s").await;
    let orders = id_titled(
        app,
        "Flyway migration V3__add_index.sql failed on orders-db",
    )
    .await;
    let build = id_titled(app, "The api build is broken").await;

    act(app, &checkout, "ack", json!({})).await;
    act(app, &checkout, "resolve", json!({})).await;
    let item = |title: &str, owner: &str, kind: &str, due: Option<&str>| json!({"title": title, "owner": owner, "kind": kind, "due": due});
    act(
        app,
        &checkout,
        "action-items",
        item(
            "Add a canary for checkout",
            "alice",
            "prevent",
            Some("2000-01-03"),
        ),
    )
    .await;
    act(
        app,
        &checkout,
        "action-items",
        item("Write the retry runbook", "bob", "process", None),
    )
    .await;
    act(
        app,
        &orders,
        "action-items",
        item(
            "Review migration locks",
            "alice",
            "process",
            Some("2999-12-31"),
        ),
    )
    .await;
    act(
        app,
        &orders,
        "action-items",
        item(MARKUP_TITLE, "bob", "mitigate", None),
    )
    .await;
    let detail = app
        .get(&format!("/v1/incidents/{checkout}"), &app.reader)
        .await
        .json();
    let runbook_item = detail["action_items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["title"] == "Write the retry runbook")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    act(
        app,
        &checkout,
        &format!("action-items/{runbook_item}/done"),
        json!({}),
    )
    .await;
    app.caught_up().await;
    (checkout, orders, build)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_figures_charts_tables_and_action_items_of_the_window() {
    let app = spawn_app().await;
    let (checkout, orders, build) = three_incidents(&app).await;
    let browser = Browser::signed_in(&app, &app.reader).await;
    // Three weeks back to tomorrow: every incident (opened now) falls in the last week.
    let (from, to) = (date_from_today(-14), date_from_today(1));
    let window = format!("?from={from}&to={to}");
    let page = browser.dashboard(&window).await;

    assert!(
        page.contains("<title>Dashboard · Aftermath</title>"),
        "{page}"
    );
    // Everything from `section#dashboard` on (its sections nest, so not up to the first
    // `</section>`).
    let dashboard = &page[page
        .find(r#"<section id="dashboard">"#)
        .expect("section#dashboard")..];
    let form = element(dashboard, "dashboard-filters", "form");
    assert!(
        form.contains(r#"method="get" action="/dashboard""#),
        "{form}"
    );
    assert!(
        form.contains(&format!(
            r#"<input type="date" name="from" value="{from}">"#
        )),
        "{form}"
    );
    assert!(
        form.contains(&format!(r#"<input type="date" name="to" value="{to}">"#)),
        "{form}"
    );
    assert!(
        form.contains(r#"<input type="text" name="service""#),
        "{form}"
    );

    // Headline: three opened, two still open; the one acknowledged and resolved was
    // handled within seconds, so both means meet their targets.
    assert_eq!(text_of(dashboard, "incident-count"), "3");
    assert_eq!(text_of(dashboard, "open-count"), "2");
    assert!(start_tag(dashboard, "mtta").contains(r#"data-target-met="true""#));
    assert!(start_tag(dashboard, "mttr").contains(r#"data-target-met="true""#));
    assert_eq!(text_of(dashboard, "mtta-verdict"), "✓ target met (5 min)");
    assert_eq!(text_of(dashboard, "mttr-verdict"), "✓ target met (1 h)");
    assert!(!text_of(dashboard, "mttd").is_empty());
    // The two open incidents are unacknowledged but within the default 15 min SLA.
    assert_eq!(text_of(dashboard, "ack-breaches"), "0");
    assert_eq!(text_of(dashboard, "ack-within-target"), "1 of 1 (100%)");
    assert_eq!(text_of(dashboard, "fix-within-target"), "1 of 1 (100%)");

    // Weekly charts: one bar per week of the window, as the API counts the weeks.
    let api = app
        .get(&format!("/v1/metrics/summary{window}"), &app.reader)
        .await
        .json();
    let weeks = api["by_week"].as_array().unwrap();
    assert!((3..=4).contains(&weeks.len()), "{weeks:?}");
    let counts = bars(element(dashboard, "chart-weekly-counts", "svg"));
    assert_eq!(counts.len(), weeks.len(), "{counts:?}");
    assert_eq!(counts.last().unwrap().1, 3);
    assert_eq!(counts.iter().map(|(_, count)| count).sum::<u64>(), 3);
    assert_eq!(
        counts.last().unwrap().0,
        weeks.last().unwrap()["week_start"].as_str().unwrap()[5..]
    );
    for (id, target) in [("chart-weekly-mtta", "300"), ("chart-weekly-mttr", "3600")] {
        let svg = element(dashboard, id, "svg");
        assert!(svg.contains(r#"role="img""#), "{svg}");
        assert!(svg.contains("<title>"), "{svg}");
        assert!(svg.contains("aria-label=\""), "{svg}");
        let line = &svg[svg
            .find("<line class=\"target-line\"")
            .expect("a target line")..];
        assert!(
            line[..line.find('>').unwrap()].contains(&format!("data-value=\"{target}\"")),
            "{line}"
        );
        // Only the week with an acknowledged (resolved) incident has a mean.
        assert_eq!(bars(svg).len(), 1, "{svg}");
        assert!(!svg.contains("NaN"), "{svg}");
    }
    let weekly_numbers = element(dashboard, "by-week", "table");
    assert_eq!(
        values_of(weekly_numbers, "<tr data-week=\"").len(),
        weeks.len()
    );

    // By class: a bar for each of E101..E105 and unclassified.
    let class_bars = bars(element(dashboard, "chart-by-class", "svg"));
    assert_eq!(
        class_bars,
        [
            ("E101".to_owned(), 1),
            ("E102".to_owned(), 0),
            ("E103".to_owned(), 0),
            ("E104".to_owned(), 1),
            ("E105".to_owned(), 0),
            ("unclassified".to_owned(), 1),
        ]
    );
    let by_class = element(dashboard, "by-class", "table");
    assert_eq!(
        row_keys(by_class),
        ["E101", "E102", "E103", "E104", "E105", "unclassified"]
    );
    let e104 = row(by_class, "E104");
    assert_eq!(cell(e104, "incidents"), "1");
    assert_eq!(cell(e104, "open"), "1");
    assert_eq!(cell(e104, "mtta"), "—");
    assert_eq!(cell(e104, "resolved-within-target"), "0 of 0");
    assert!(
        e104.contains(r#"<a href="/incidents?class=E104&amp;status=all">"#),
        "{e104}"
    );
    let unclassified = row(by_class, "unclassified");
    assert_eq!(cell(unclassified, "incidents"), "1");
    assert_eq!(cell(unclassified, "open"), "0");
    assert_eq!(cell(unclassified, "breaches"), "0");
    assert_eq!(
        cell(unclassified, "resolved-within-target"),
        "1 of 1 (100%)"
    );
    assert_ne!(cell(unclassified, "mtta"), "—");
    assert_eq!(cell(row(by_class, "E102"), "incidents"), "0");

    // By service: every service with its figures, linking to its incidents.
    let service_bars = bars(element(dashboard, "chart-by-service", "svg"));
    assert_eq!(service_bars.len(), 3, "{service_bars:?}");
    let by_service = element(dashboard, "by-service", "table");
    let mut services = row_keys(by_service);
    services.sort();
    assert_eq!(services, [ESCAPED_SCRIPT, "checkout", "orders"]);
    let orders_row = row(by_service, "orders");
    assert_eq!(cell(orders_row, "incidents"), "1");
    assert_eq!(cell(orders_row, "open"), "1");
    let checkout_row = row(by_service, "checkout");
    assert_eq!(cell(checkout_row, "open"), "0");
    assert_eq!(
        cell(checkout_row, "resolved-within-target"),
        "1 of 1 (100%)"
    );
    assert_eq!(
        href_before(by_service, "checkout"),
        "/incidents?service=checkout&status=all"
    );

    // The links lead to the incidents they count.
    let class_list = browser.get("/incidents?class=E104&status=all").await;
    class_list.assert_html(200);
    assert!(class_list.text.contains(&format!("/incidents/{orders}")));
    assert!(!class_list.text.contains(&format!("/incidents/{build}")));
    let script_href = href_before(by_service, ESCAPED_SCRIPT);
    assert_eq!(
        script_href,
        "/incidents?service=%3Cscript%3Ealert%281%29%3C/script%3E&status=all"
    );
    let service_list = browser.get(&script_href).await;
    service_list.assert_html(200);
    assert!(service_list.text.contains(&format!("/incidents/{build}")));
    assert!(!service_list.text.contains(&format!("/incidents/{orders}")));

    // Open action items by owner: alice's two (the overdue one first), bob's one; bob's
    // done item is not listed.
    let items = element(dashboard, "action-items-by-owner", "section");
    assert_eq!(values_of(items, "data-owner=\""), ["alice", "bob"]);
    let alice = &items
        [items.find("data-owner=\"alice\"").unwrap()..items.find("data-owner=\"bob\"").unwrap()];
    assert!(
        alice.contains("<h3>alice <span class=\"count\">(2 open)</span></h3>"),
        "{alice}"
    );
    let canary = alice.find("Add a canary for checkout").unwrap();
    let locks = alice.find("Review migration locks").unwrap();
    assert!(canary < locks, "soonest due first: {alice}");
    assert_eq!(values_of(alice, "data-overdue=\""), ["true", "false"]);
    assert_eq!(
        alice
            .matches("<span class=\"overdue\">overdue</span>")
            .count(),
        1
    );
    assert!(
        alice.contains(", due <span class=\"due\">2000-01-03</span>"),
        "{alice}"
    );
    assert_eq!(
        values_of(alice, "<a class=\"incident-link\" href=\""),
        [
            format!("/incidents/{checkout}"),
            format!("/incidents/{orders}")
        ]
    );
    let bob = &items[items.find("data-owner=\"bob\"").unwrap()..];
    assert!(bob.contains("(1 open)"), "{bob}");
    assert!(
        !items.contains("Write the retry runbook"),
        "done items are not listed"
    );
    assert!(bob.contains(ESCAPED_MARKUP_TITLE), "{bob}");
    assert!(
        bob.contains(&format!("href=\"/incidents/{orders}\"")),
        "{bob}"
    );

    // Alert and responder text stays text everywhere on the page.
    assert!(!page.contains(SCRIPT), "raw service name on the page");
    assert!(!page.contains("<img"), "raw action item title on the page");
    assert!(page.contains(ESCAPED_SCRIPT));
    // Charts and layout are drawn without inline styles (the CSP would block them).
    assert!(
        !page.contains(" style=") && !page.contains("<style"),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_filter_narrows_the_figures_and_the_action_items() {
    let app = spawn_app().await;
    let (_, orders, _) = three_incidents(&app).await;
    let browser = Browser::signed_in(&app, &app.reader).await;
    let page = browser.dashboard("?service=orders").await;

    assert_eq!(text_of(&page, "incident-count"), "1");
    assert_eq!(text_of(&page, "open-count"), "1");
    assert_eq!(text_of(&page, "dashboard-service"), "orders");
    assert!(
        page.contains(r#"<input type="text" name="service" value="orders""#),
        "the filter shows the service in force"
    );
    // Nothing of orders was acknowledged or resolved: no means, no verdict either way.
    assert!(!start_tag(&page, "mtta").contains("data-target-met"));
    assert_eq!(text_of(&page, "mtta"), "—");
    assert_eq!(text_of(&page, "ack-within-target"), "0 of 0");
    assert_eq!(row_keys(element(&page, "by-service", "table")), ["orders"]);
    let by_class = element(&page, "by-class", "table");
    assert_eq!(cell(row(by_class, "E104"), "incidents"), "1");
    assert_eq!(cell(row(by_class, "unclassified"), "incidents"), "0");
    assert_eq!(
        bars(element(&page, "chart-weekly-counts", "svg"))
            .iter()
            .map(|(_, count)| count)
            .sum::<u64>(),
        1
    );

    let items = element(&page, "action-items-by-owner", "section");
    assert_eq!(values_of(items, "data-owner=\""), ["alice", "bob"]);
    assert!(items.contains("Review migration locks"));
    assert!(!items.contains("Add a canary for checkout"), "{items}");
    assert_eq!(
        values_of(items, "<a class=\"incident-link\" href=\""),
        [
            format!("/incidents/{orders}"),
            format!("/incidents/{orders}")
        ]
    );

    // A service nobody has: zeros everywhere, charts without NaN.
    let nothing = browser.dashboard("?service=nothing-here").await;
    assert_eq!(text_of(&nothing, "incident-count"), "0");
    assert_eq!(text_of(&nothing, "open-count"), "0");
    assert!(nothing.contains("id=\"no-services\""));
    assert!(nothing.contains("id=\"no-action-items\""));
    assert!(!nothing.contains("NaN"), "{nothing}");
    let counts = bars(element(&nothing, "chart-weekly-counts", "svg"));
    assert!(
        counts.len() >= 12 && counts.iter().all(|(_, count)| *count == 0),
        "{counts:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_answer_a_400_page_naming_the_parameter() {
    let app = spawn_app().await;
    let browser = Browser::signed_in(&app, &app.reader).await;
    for (query, needle) in [
        ("?from=yesterday", "from: &quot;yesterday&quot; is not"),
        ("?to=2026-13-01", "to: &quot;2026-13-01&quot; is not"),
        ("?from=2026-11-10&to=2026-11-01", "must be before"),
        ("?owner=alice", "unknown parameter &quot;owner&quot;"),
    ] {
        let reply = browser.get(&format!("/dashboard{query}")).await;
        reply.assert_html(400);
        let detail = element(&reply.text, "error-detail", "p");
        assert!(detail.contains(needle), "{query}: {detail}");
        assert!(reply.text.contains("id=\"viewer-name\""), "still signed in");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_the_dashboard_sends_people_to_sign_in_and_back() {
    let app = spawn_app().await;
    let reply = Browser::signed_out(&app)
        .get("/dashboard?service=orders")
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text);
    assert_eq!(
        reply.header("location"),
        "/login?next=/dashboard%3Fservice%3Dorders"
    );

    let browser = Browser::signed_in(&app, &app.reader).await;
    let root = browser.get("/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), "/dashboard");
    let page = browser.get("/dashboard").await;
    page.assert_html(200);
    assert!(page
        .header("content-security-policy")
        .contains("script-src 'self'"));
    app.stop().await;
}
