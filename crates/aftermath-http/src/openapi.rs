//! The OpenAPI 3.1 document of every endpoint, generated from the handlers' annotations so
//! it cannot drift from the code; `schemas/openapi.json` is a committed copy that a test
//! keeps equal to it, and `GET /openapi.json` serves it.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};

use crate::{health, incidents, ingest, metrics, postmortem, workflow};

/// The `Idempotency-Key` header of responder requests.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub(crate) struct IdempotencyKey {
    /// 1 to 255 visible ASCII characters; a retry with the same key answers like the first
    /// request instead of acting twice.
    #[param(rename = "Idempotency-Key")]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aftermath",
        description = "Event-sourced incident and post-mortem engine: alert ingest, the responder API and the read API. Tokens carry scopes (`ingest`, `respond`, `read`, `manage`, `admin`).",
    ),
    paths(
        health::healthz,
        health::readyz,
        ingest::alertmanager,
        ingest::grafana,
        ingest::generic,
        ingest::cloudevents,
        ingest::github,
        ingest::pagerduty_enqueue,
        ingest::pagerduty_change,
        incidents::acknowledge,
        incidents::add_note,
        incidents::resolve,
        workflow::mitigate,
        workflow::reopen,
        workflow::severity,
        workflow::commander,
        workflow::classification,
        workflow::add_why,
        workflow::amend_why,
        workflow::root_cause,
        workflow::impact,
        workflow::add_action_item,
        workflow::action_item_done,
        workflow::add_link,
        workflow::list_action_items,
        incidents::list,
        incidents::show,
        incidents::timeline,
        postmortem::show,
        postmortem::revisions,
        postmortem::revision,
        postmortem::write_section,
        postmortem::revert_section,
        postmortem::publish,
        incidents::status,
        metrics::metrics_summary,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Probes, open to all"),
        (name = "ingest", description = "Senders: monitors and delivery systems"),
        (name = "respond", description = "Responders working an incident"),
        (name = "read", description = "Incidents, timelines, post-mortems"),
        (name = "manage", description = "Managers editing and publishing post-mortems"),
    )
)]
pub(crate) struct ApiDoc;

/// The OpenAPI document as pretty JSON, ending with a newline.
pub fn openapi_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
