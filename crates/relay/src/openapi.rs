//! The OpenAPI document of the desktop API (`GET /openapi.json`, utoipa): it names every
//! handler, so only the top imports it (`routes.rs` serves it), and no handler imports it.

use axum::Json;
use utoipa::OpenApi;

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Ventana relay", description = "The desktop API of Ventana's relay. Meta's webhooks arrive at /webhooks/meta/{app_id}."),
    paths(crate::api::login, crate::api::refresh, crate::api::logout, crate::api::me,
          crate::api::events, crate::api::conversation, crate::stream::handler,
          crate::agents_api::list, crate::agents_api::add, crate::agents_api::change,
          crate::agents_api::remove, crate::agents_api::reset_password,
          crate::agents_api::sessions, crate::agents_api::revoke_session,
          crate::agents_api::change_password, crate::agents_api::bot_keys,
          crate::agents_api::add_bot_key, crate::agents_api::revoke_bot_key,
          crate::agents_api::rotate_bot_key,
          crate::conversations::reply, crate::conversations::reply_state,
          crate::conversations::window, crate::conversations::update,
          crate::conversations::note, crate::conversations::escalate,
          crate::channels::list, crate::channels::read, crate::channels::change,
          crate::channels::templates, crate::channels::refresh_templates,
          crate::erasure::erase, crate::erasure::data_deletion, crate::erasure::deletion_status,
          crate::media::fetch, crate::export::contact, crate::export::tenant,
          crate::webhook::intake::verify_subscription, crate::webhook::intake::receive),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Signing in and out, and changing one's own password"),
        (name = "agents", description = "A tenant's agents, their sessions and its bot keys (admins only; docs/accounts.md)"),
        (name = "log", description = "The tenant's event log"),
        (name = "stream", description = "The live event stream (websocket)"),
        (name = "conversations", description = "Replies under Meta's window rules, the workflow, notes, hand-offs"),
        (name = "channels", description = "Channel settings (admins change them) and WhatsApp templates"),
        (name = "erasure", description = "Erasing an end user, and Meta's data-deletion callback"),
        (name = "media", description = "Attachments' bytes, fetched from Meta on demand"),
        (name = "export", description = "Data portability: a contact's or the whole tenant's data as a zip (admins only; docs/export.md)"),
        (name = "webhooks", description = "Meta's webhooks (called by Meta, not by desktops)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of this API.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
