//! The HTTP edge of the Graph stand-in: routing, authentication (bearer token or
//! `access_token`, `appsecret_proof`), the send/template/media handlers, and the task that
//! posts queued webhooks in order. Handlers run under the state lock and return what to
//! answer and what to post; the only awaits (reading the body, a slow answer, posting) are
//! outside it.

use super::error::GraphError;
use super::policy;
use super::receipts::{self, SentMessage, SentWhatsApp};
use super::request::{self, MessagingContent, WhatsAppContent};
use super::template::{GraphTemplate, TemplateCategory, TemplateStatus};
use super::{
    Attempt, AttemptError, ChannelEntry, DEFAULT_VERSION, Failure, Job, MEDIA_URL_TTL, MediaUrl,
    Pace, PostedWebhook, SendRecord, SentTemplate, Shared, State,
};
use crate::ids::random_alnum;
use crate::meta_json;
use crate::universe::{Channel, Platform};
use crate::webhook::Webhook;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as Extract};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Bodies larger than this are refused with a 100 (Graph send bodies are small).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Graph's default page size for edges.
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 1000;

const JSON: &str = "application/json; charset=UTF-8";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// One request, read.
struct Call {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    /// From `Authorization: Bearer …` (or `OAuth …`), else the `access_token` parameter.
    token: Option<String>,
    /// `None` when the body could not be read (too large, broken connection).
    body: Option<Bytes>,
}

impl Call {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer.
struct Reply {
    status: u16,
    content_type: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Send the body piece by piece (a paced CDN file).
    pace: Option<Pace>,
}

/// What a handler produced: the answer, the webhooks to post, and how long to sit on the
/// answer.
struct Answer {
    reply: Reply,
    webhooks: Vec<Webhook>,
    webhook_delay: Duration,
    respond_after: Option<Duration>,
}

/// What a handler learned along the way, for the attempt log.
#[derive(Default)]
struct Ctx {
    channel: Option<String>,
    message_id: Option<String>,
    injected: Option<Failure>,
    respond_after: Option<Duration>,
    version: Option<String>,
}

/// A successful answer.
struct Done {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    webhooks: Vec<Webhook>,
    /// Graph JSON (gets Graph's headers) or raw bytes (CDN, media download).
    graph: bool,
    pace: Option<Pace>,
}

impl Done {
    fn json(body: Vec<u8>, webhooks: Vec<Webhook>) -> Self {
        Done {
            status: 200,
            content_type: JSON.to_owned(),
            body,
            webhooks,
            graph: true,
            pace: None,
        }
    }

    fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Done {
            status,
            content_type: content_type.to_owned(),
            body,
            webhooks: Vec::new(),
            graph: false,
            pace: None,
        }
    }
}

async fn handle(Extract(shared): Extract<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.ok();
    let call = read_call(&parts.method, &parts.uri, &parts.headers, body);
    let answer = {
        let mut state = shared.state();
        route(&mut state, &shared.base_url, &call)
    };
    shared.enqueue(answer.webhooks, answer.webhook_delay);
    if let Some(after) = answer.respond_after {
        tokio::time::sleep(after).await;
    }
    respond(answer.reply)
}

fn read_call(
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Option<Bytes>,
) -> Call {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://graph.invalid/?{q}"))
                .map(|url| url.query_pairs().into_owned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
                .then(|| token.trim().to_owned())
        });
    let token = header_token.or_else(|| {
        query
            .iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.clone())
    });
    Call {
        method: method.clone(),
        path: uri.path().to_owned(),
        query,
        token,
        body,
    }
}

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&reply.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    for (name, value) in reply.headers {
        // Header values must be visible ASCII; Meta's messages are, but do not trust it.
        let value: String = value
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    let body = match reply.pace {
        None => Body::from(reply.body),
        Some(pace) => {
            if pace.length {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(reply.body.len()));
            }
            paced(Bytes::from(reply.body), pace)
        }
    };
    (status, headers, body).into_response()
}

/// `bytes` as a body sent `pace.chunk` bytes at a time, `pace.every` apart.
fn paced(bytes: Bytes, pace: Pace) -> Body {
    let chunk = pace.chunk.max(1);
    Body::from_stream(futures_util::stream::unfold(0, move |at: usize| {
        let bytes = bytes.clone();
        async move {
            if at >= bytes.len() {
                return None;
            }
            if at > 0 {
                tokio::time::sleep(pace.every).await;
            }
            let end = bytes.len().min(at.saturating_add(chunk));
            Some((Ok::<_, std::convert::Infallible>(bytes.slice(at..end)), end))
        }
    }))
}

/// Answers `call`, recording it as an attempt.
fn route(state: &mut State, base: &str, call: &Call) -> Answer {
    let mut ctx = Ctx::default();
    let result = dispatch(state, base, call, &mut ctx);
    let version = ctx
        .version
        .clone()
        .unwrap_or_else(|| DEFAULT_VERSION.to_owned());
    let (reply, webhooks, error) = match result {
        Ok(done) => {
            let mut headers = Vec::new();
            if done.graph {
                headers.push(("facebook-api-version", version));
                headers.push(("x-fb-trace-id", trace_id(state)));
            }
            let reply = Reply {
                status: done.status,
                content_type: done.content_type,
                headers,
                body: done.body,
                pace: done.pace,
            };
            (reply, done.webhooks, None)
        }
        Err(error) => {
            let trace = trace_id(state);
            let body = meta_json::to_vec(&error.body(&trace)).unwrap_or_default();
            let mut headers = vec![("facebook-api-version", version), ("x-fb-trace-id", trace)];
            // Graph names token failures in WWW-Authenticate too, as OAuth 2 asks.
            if error.code == 190 {
                headers.push((
                    "www-authenticate",
                    format!(
                        "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                        error.message.replace('"', "'")
                    ),
                ));
            }
            let reply = Reply {
                status: error.http_status,
                content_type: JSON.to_owned(),
                headers,
                body,
                pace: None,
            };
            let code = AttemptError {
                code: error.code,
                subcode: error.subcode,
            };
            (reply, Vec::new(), Some(code))
        }
    };
    let at = state.now();
    state.attempts.push(Attempt {
        at,
        method: call.method.to_string(),
        path: call.path.clone(),
        channel: ctx.channel,
        http_status: reply.status,
        error,
        message_id: ctx.message_id,
        injected: ctx.injected,
    });
    Answer {
        reply,
        webhooks,
        webhook_delay: state.webhook_delay,
        respond_after: ctx.respond_after,
    }
}

fn dispatch(state: &mut State, base: &str, call: &Call, ctx: &mut Ctx) -> Result<Done, GraphError> {
    let segments: Vec<&str> = call.path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["cdn", rest @ ..] if call.method == Method::GET && !rest.is_empty() => {
            return Ok(cdn(state, call, &rest.join("/")));
        }
        ["media-download", media_id] if call.method == Method::GET => {
            return Ok(media_download(state, call, media_id, ctx));
        }
        _ => {}
    }
    let rest = match segments.split_first() {
        Some((first, rest)) if is_version(first) => {
            ctx.version = Some((*first).to_owned());
            rest
        }
        _ => segments.as_slice(),
    };
    match (&call.method, rest) {
        (&Method::POST, [id, "messages"]) => send(state, base, call, id, ctx),
        (&Method::GET, [id, "message_templates"]) => list_templates(state, base, call, id, ctx),
        (&Method::GET, [id]) => media_info(state, base, call, id, ctx),
        (method, [id] | [id, _]) => {
            authenticate(state, call)?;
            Err(GraphError::unknown_object(method.as_str(), id))
        }
        _ => Err(GraphError::unknown_path(&call.path)),
    }
}

/// `v25.0`, `v3.2`: a Graph version prefix.
fn is_version(segment: &str) -> bool {
    let Some(number) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = number.split_once('.') else {
        return false;
    };
    !major.is_empty()
        && !minor.is_empty()
        && major.len() <= 3
        && minor.len() <= 3
        && major.chars().all(|c| c.is_ascii_digit())
        && minor.chars().all(|c| c.is_ascii_digit())
}

fn trace_id(state: &mut State) -> String {
    format!("A{}", random_alnum(&mut state.rng, 22))
}

// ---- authentication ---------------------------------------------------------------------

/// The call's token, checked: present (104), issued (190), not revoked (190/460), and
/// with a valid `appsecret_proof` if one is sent or the app requires one (100, §7).
fn authenticate(state: &State, call: &Call) -> Result<String, GraphError> {
    let token = call
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(GraphError::missing_token)?;
    if state.revoked.contains(token) {
        return Err(GraphError::token_invalidated());
    }
    if !state.channels.values().any(|c| c.token == token) {
        return Err(GraphError::invalid_token());
    }
    match call.query("appsecret_proof") {
        Some(proof) if !proof_matches(&state.app_secret, token, proof) => {
            return Err(GraphError::invalid_appsecret_proof());
        }
        None if state.require_appsecret_proof => {
            return Err(GraphError::appsecret_proof_required());
        }
        Some(_) | None => {}
    }
    Ok(token.to_owned())
}

/// `appsecret_proof = hex(HMAC-SHA256(key = app secret, msg = token))` (reference §7),
/// compared in constant time.
fn proof_matches(app_secret: &[u8], token: &str, proof: &str) -> bool {
    let Ok(tag) = hex::decode(proof) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret) else {
        return false;
    };
    mac.update(token.as_bytes());
    mac.verify_slice(&tag).is_ok()
}

/// The channel a send path names (`me` is the token's own), if the token may use it.
fn resolve_channel(state: &State, id: &str, token: &str) -> Result<ChannelEntry, GraphError> {
    let entry = if id == "me" {
        state.channels.values().find(|c| c.token == token)
    } else {
        state.channels.get(id).filter(|c| c.token == token)
    };
    entry
        .cloned()
        .ok_or_else(|| GraphError::unknown_object("POST", id))
}

/// Whether `token` belongs to a number on the same WABA as `phone_number_id`.
fn token_reaches_number(state: &State, token: &str, phone_number_id: &str) -> bool {
    if state.revoked.contains(token) {
        return false;
    }
    let Some(Channel::WhatsApp { waba_id, .. }) =
        state.channels.get(phone_number_id).map(|c| &c.channel)
    else {
        return false;
    };
    state.channels.values().any(|c| {
        c.token == token
            && matches!(&c.channel, Channel::WhatsApp { waba_id: w, .. } if w == waba_id)
    })
}

// ---- sends ------------------------------------------------------------------------------

/// `POST /{id}/messages`. Checks come in Graph's order: the token and proof, the object
/// the path names, then any injected failure (a throttled or failing Meta answers before
/// it reads the body), then the body and the window rules.
fn send(
    state: &mut State,
    base: &str,
    call: &Call,
    id: &str,
    ctx: &mut Ctx,
) -> Result<Done, GraphError> {
    let token = authenticate(state, call)?;
    let entry = resolve_channel(state, id, &token)?;
    let channel_id = entry.channel.external_id().to_owned();
    ctx.channel = Some(channel_id.clone());
    let platform = entry.channel.platform();
    let mut undeliverable = false;
    let injected = state
        .failures
        .get_mut(&channel_id)
        .and_then(VecDeque::pop_front);
    if let Some(failure) = injected {
        ctx.injected = Some(failure.clone());
        match failure {
            Failure::RateLimit { code } => return Err(GraphError::rate_limited(code)),
            Failure::TokenExpired => {
                let now = state.now();
                let expired_at = now.checked_sub_signed(TimeDelta::minutes(7)).unwrap_or(now);
                return Err(GraphError::token_expired(expired_at, now));
            }
            Failure::ServerError => return Err(GraphError::server_error()),
            Failure::Timeout {
                respond_after,
                sent,
            } => {
                ctx.respond_after = Some(respond_after);
                if !sent {
                    return Err(GraphError::server_error());
                }
            }
            Failure::Undeliverable if platform == Platform::WhatsApp => undeliverable = true,
            Failure::Undeliverable => return Err(GraphError::person_unavailable()),
        }
    }
    let Some(body) = call.body.as_ref() else {
        return Err(GraphError::invalid_parameter(
            "The request body could not be read or is too large.",
        ));
    };
    match platform {
        Platform::Messenger | Platform::Instagram => send_messaging(state, base, body, &entry, ctx),
        Platform::WhatsApp => send_whatsapp(state, body, &entry, undeliverable, ctx),
    }
}

/// The Send API's answer (reference §5a).
#[derive(Serialize)]
struct MessagingResponse<'a> {
    recipient_id: &'a str,
    message_id: &'a str,
}

fn send_messaging(
    state: &mut State,
    base: &str,
    body: &[u8],
    entry: &ChannelEntry,
    ctx: &mut Ctx,
) -> Result<Done, GraphError> {
    let platform = entry.channel.platform();
    let map = request::json_object(body, platform)?;
    let send = request::parse_messaging(platform, &map)?;
    let channel_id = entry.channel.external_id();
    let key = (channel_id.to_owned(), send.recipient.clone());
    // A PSID/IGSID exists only once the user has interacted with the channel.
    if !state.known_users.contains(&key) {
        return Err(GraphError::no_matching_user());
    }
    let now = state.now();
    policy::check_messaging(
        platform,
        now,
        state.last_inbound.get(&key).copied(),
        send.effective_type(),
        send.tag.as_deref(),
        entry.human_agent_approved,
    )?;
    let mid = match platform {
        Platform::Instagram => state.ids.instagram_mid(&mut state.rng, channel_id),
        Platform::Messenger | Platform::WhatsApp => state.ids.messenger_mid(&mut state.rng),
    };
    // Meta re-hosts attachments on its CDN; the echo points there.
    let attachment_url = match &send.content {
        MessagingContent::Attachment { kind, .. } => {
            let extension = match *kind {
                "image" => "jpg",
                "audio" | "video" => "mp4",
                _ => "pdf",
            };
            let name = random_alnum(&mut state.rng, 20);
            Some(format!("{base}/cdn/v/t1.15752-9/{name}_n.{extension}"))
        }
        MessagingContent::Text(_) => None,
    };
    let sent = SentMessage {
        channel: &entry.channel,
        recipient: &send.recipient,
        mid: &mid,
        content: &send.content,
        metadata: send.metadata.as_deref(),
        app_id: state.app_id,
        attachment_url,
        at: now,
    };
    let webhooks = receipts::messaging(&sent, state.outcome(channel_id))
        .map_err(|_| GraphError::server_error())?;
    let response = meta_json::to_vec(&MessagingResponse {
        recipient_id: &send.recipient,
        message_id: &mid,
    })
    .map_err(|_| GraphError::server_error())?;
    state.sends.push(SendRecord {
        platform,
        channel: channel_id.to_owned(),
        recipient: send.recipient.clone(),
        body: serde_json::Value::Object(map),
        messaging_type: send.messaging_type.map(|t| t.as_str().to_owned()),
        tag: send.tag.clone(),
        metadata: send.metadata.clone(),
        biz_opaque_callback_data: None,
        template: None,
        message_id: mid.clone(),
        at: now,
        failure: None,
    });
    ctx.message_id = Some(mid);
    Ok(Done::json(response, webhooks))
}

/// The Cloud API's answer (`fixtures/meta/whatsapp_send_response.json`).
#[derive(Serialize)]
struct WhatsAppResponse<'a> {
    messaging_product: &'static str,
    contacts: [WhatsAppContact<'a>; 1],
    messages: [WhatsAppMessage<'a>; 1],
}

#[derive(Serialize)]
struct WhatsAppContact<'a> {
    input: &'a str,
    wa_id: &'a str,
}

#[derive(Serialize)]
struct WhatsAppMessage<'a> {
    id: &'a str,
}

/// A WhatsApp send. Meta answers every well-formed send with a wamid and reports
/// delivery problems afterwards in `failed` statuses (reference §5c: "the response only
/// means the request was accepted"; §5d: codes arrive synchronously and/or
/// asynchronously): 131047 outside the window, 131050 for marketing to an opted-out user,
/// 131026 undeliverable. Template lookups fail synchronously (132001, 132000).
fn send_whatsapp(
    state: &mut State,
    body: &[u8],
    entry: &ChannelEntry,
    undeliverable: bool,
    ctx: &mut Ctx,
) -> Result<Done, GraphError> {
    let map = request::json_object(body, Platform::WhatsApp)?;
    let send = request::parse_whatsapp(&map)?;
    let Channel::WhatsApp { waba_id, .. } = &entry.channel else {
        return Err(GraphError::server_error());
    };
    let template = match &send.content {
        WhatsAppContent::Template {
            name,
            language,
            components,
        } => {
            let found = state
                .templates
                .get(waba_id)
                .and_then(|all| {
                    all.iter()
                        .find(|t| t.name == *name && t.language == *language)
                })
                .ok_or_else(|| GraphError::template_missing(name, language))?;
            match found.status {
                TemplateStatus::Approved => {}
                TemplateStatus::Pending | TemplateStatus::Rejected => {
                    return Err(GraphError::template_missing(name, language));
                }
                TemplateStatus::Paused => return Err(GraphError::template_paused(name)),
                TemplateStatus::Disabled => return Err(GraphError::template_disabled(name)),
            }
            found.check_parameters(components.as_ref())?;
            Some(SentTemplate {
                name: found.name.clone(),
                language: found.language.clone(),
                category: found.category,
            })
        }
        WhatsAppContent::FreeForm { .. } => None,
    };
    let now = state.now();
    let phone_number_id = entry.channel.external_id();
    let key = (phone_number_id.to_owned(), send.wa_id.clone());
    let open = policy::whatsapp_free_form_open(now, state.last_inbound.get(&key).copied());
    let marketing = template
        .as_ref()
        .is_some_and(|t| t.category == TemplateCategory::Marketing);
    let failure = if undeliverable {
        Some(131_026)
    } else if template.is_none() && !open {
        Some(131_047)
    } else if marketing && state.opted_out.contains(&key) {
        Some(131_050)
    } else {
        None
    };
    // Pricing as status webhooks report it (reference §3c): service replies are free in
    // the window; utility templates too (UNVERIFIED detail); other templates are billed.
    let pricing = match &template {
        None => ("free_customer_service", "service", false),
        Some(t) if open && t.category == TemplateCategory::Utility => {
            ("free_customer_service", "utility", false)
        }
        Some(t) => ("regular", t.category.pricing_category(), true),
    };
    let wamid = state.ids.wamid(&mut state.rng, &send.wa_id, true);
    let sent = SentWhatsApp {
        channel: &entry.channel,
        wa_id: &send.wa_id,
        wamid: &wamid,
        biz_opaque_callback_data: send.biz_opaque_callback_data.as_deref(),
        pricing,
        at: now,
    };
    let webhooks = receipts::whatsapp(&sent, state.outcome(phone_number_id), failure)
        .map_err(|_| GraphError::server_error())?;
    let response = meta_json::to_vec(&WhatsAppResponse {
        messaging_product: "whatsapp",
        contacts: [WhatsAppContact {
            input: &send.to,
            wa_id: &send.wa_id,
        }],
        messages: [WhatsAppMessage { id: &wamid }],
    })
    .map_err(|_| GraphError::server_error())?;
    state.sends.push(SendRecord {
        platform: Platform::WhatsApp,
        channel: phone_number_id.to_owned(),
        recipient: send.wa_id.clone(),
        body: serde_json::Value::Object(map),
        messaging_type: None,
        tag: None,
        metadata: None,
        biz_opaque_callback_data: send.biz_opaque_callback_data.clone(),
        template,
        message_id: wamid.clone(),
        at: now,
        failure,
    });
    ctx.message_id = Some(wamid);
    Ok(Done::json(response, webhooks))
}

// ---- templates --------------------------------------------------------------------------

#[derive(Serialize)]
struct TemplatePage<'a> {
    data: Vec<GraphTemplate<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paging: Option<Paging>,
}

#[derive(Serialize)]
struct Paging {
    cursors: Cursors,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Serialize)]
struct Cursors {
    before: String,
    after: String,
}

/// `GET /{waba_id}/message_templates`: the WABA's templates, filtered by `status`,
/// `category`, `language` and `name` (contains), limited to `fields`, `limit` at a time
/// (default 25), with Graph's cursor paging. `paging.next` is a full URL carrying the
/// query (and the `access_token`, as Graph's do); the last page has no `next`.
fn list_templates(
    state: &mut State,
    base: &str,
    call: &Call,
    waba_id: &str,
    ctx: &mut Ctx,
) -> Result<Done, GraphError> {
    let token = authenticate(state, call)?;
    let allowed = state.channels.values().any(|c| {
        c.token == token
            && matches!(&c.channel, Channel::WhatsApp { waba_id: w, .. } if w == waba_id)
    });
    if !allowed {
        return Err(GraphError::unknown_object("GET", waba_id));
    }
    ctx.channel = Some(waba_id.to_owned());
    let limit = match call.query("limit") {
        None => DEFAULT_LIMIT,
        Some(limit) => limit
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| GraphError::invalid_parameter("Param limit must be a positive integer"))?
            .min(MAX_LIMIT),
    };
    let cursor = |name: &str| -> Result<Option<usize>, GraphError> {
        call.query(name)
            .map(|c| {
                parse_cursor(c).ok_or_else(|| {
                    GraphError::invalid_parameter(format!("Param {name} is not a valid cursor"))
                })
            })
            .transpose()
    };
    let after = cursor("after")?;
    let before = cursor("before")?;
    let fields = call.query("fields").map(top_level_fields);
    let matches = |value: &str, filter: Option<&str>| {
        filter.is_none_or(|f| {
            f.split(',')
                .any(|one| one.trim().eq_ignore_ascii_case(value))
        })
    };
    let status = call.query("status");
    let category = call.query("category");
    let language = call.query("language");
    let name = call.query("name").map(str::to_lowercase);
    let all: Vec<_> = state
        .templates
        .get(waba_id)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|t| {
            matches(t.status.as_str(), status)
                && matches(t.category.as_str(), category)
                && matches(&t.language, language)
                && name
                    .as_deref()
                    .is_none_or(|n| t.name.to_lowercase().contains(n))
        })
        .collect();
    let range = page_range(all.len(), limit, after, before);
    let data = all
        .get(range.clone())
        .unwrap_or_default()
        .iter()
        .map(|t| t.to_graph(fields.as_ref()))
        .collect::<Vec<_>>();
    let paging = (!range.is_empty()).then(|| {
        let version = ctx.version.as_deref().unwrap_or(DEFAULT_VERSION);
        let link = |key: &str, cursor: String| {
            page_link(base, version, waba_id, call, limit, key, &cursor)
        };
        Paging {
            cursors: Cursors {
                before: encode_cursor(range.start),
                after: encode_cursor(range.end.saturating_sub(1)),
            },
            previous: (range.start > 0).then(|| link("before", encode_cursor(range.start))),
            next: (range.end < all.len())
                .then(|| link("after", encode_cursor(range.end.saturating_sub(1)))),
        }
    });
    let body = meta_json::to_vec(&TemplatePage { data, paging })
        .map_err(|_| GraphError::server_error())?;
    Ok(Done::json(body, Vec::new()))
}

/// Graph cursors are opaque base64; metasim's carry the item's index.
fn encode_cursor(index: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("metasim:template:{index}"))
}

fn parse_cursor(cursor: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("metasim:template:")?
        .parse()
        .ok()
}

/// The items of a page: after the `after` item, or up to the `before` item, or from the
/// start.
fn page_range(
    total: usize,
    limit: usize,
    after: Option<usize>,
    before: Option<usize>,
) -> Range<usize> {
    let (start, end) = match (after, before) {
        (Some(after), _) => {
            let start = after.saturating_add(1).min(total);
            (start, start.saturating_add(limit).min(total))
        }
        (None, Some(before)) => {
            let end = before.min(total);
            (end.saturating_sub(limit), end)
        }
        (None, None) => (0, limit.min(total)),
    };
    start..end
}

/// The next/previous page's URL: the same query with `limit` and one cursor, and the
/// access token.
fn page_link(
    base: &str,
    version: &str,
    waba_id: &str,
    call: &Call,
    limit: usize,
    key: &str,
    cursor: &str,
) -> String {
    let Ok(mut url) = reqwest::Url::parse(&format!("{base}/{version}/{waba_id}/message_templates"))
    else {
        return String::new();
    };
    {
        let mut query = url.query_pairs_mut();
        let mut has_token = false;
        for (name, value) in &call.query {
            match name.as_str() {
                "after" | "before" | "limit" => {}
                _ => {
                    has_token |= name == "access_token";
                    query.append_pair(name, value);
                }
            }
        }
        if !has_token && let Some(token) = &call.token {
            query.append_pair("access_token", token);
        }
        query.append_pair("limit", &limit.to_string());
        query.append_pair(key, cursor);
    }
    url.to_string()
}

/// `name,components{type,text},status` → {name, components, status}.
fn top_level_fields(fields: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in fields.chars().chain(std::iter::once(',')) {
        match c {
            '{' | '(' => depth += 1,
            '}' | ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                let name = current.trim();
                // `components.limit(5)`: the field is what comes before the modifier.
                let name = name.split('.').next().unwrap_or_default();
                if !name.is_empty() {
                    out.insert(name.to_owned());
                }
                current.clear();
            }
            _ if depth == 0 => current.push(c),
            _ => {}
        }
    }
    out
}

// ---- media ------------------------------------------------------------------------------

#[derive(Serialize)]
struct MediaResponse<'a> {
    messaging_product: &'static str,
    url: String,
    mime_type: &'a str,
    sha256: String,
    file_size: usize,
    id: &'a str,
}

/// `GET /{media_id}`: WhatsApp media metadata (reference §3c: "`GET /<MEDIA_ID>` returns a
/// short-lived URL; download it with the bearer token"). `sha256` is hex here
/// (UNVERIFIED; webhooks carry base64). A media id past its life (7 days for webhook
/// media), like one the token cannot see, is Graph's unknown object (100/33). With
/// `phone_number_id`, Meta processes the call only if the media belongs to that number
/// (Meta's media page); the refusal's body is UNVERIFIED, here an invalid parameter.
fn media_info(
    state: &mut State,
    base: &str,
    call: &Call,
    media_id: &str,
    ctx: &mut Ctx,
) -> Result<Done, GraphError> {
    let token = authenticate(state, call)?;
    let now = state.now();
    let Some(media) = state.media.get(media_id).filter(|m| now < m.expires_at) else {
        return Err(GraphError::unknown_object("GET", media_id));
    };
    if !token_reaches_number(state, &token, &media.phone_number_id) {
        return Err(GraphError::unknown_object("GET", media_id));
    }
    ctx.channel = Some(media.phone_number_id.clone());
    if let Some(number) = call.query("phone_number_id")
        && number != media.phone_number_id
    {
        return Err(GraphError::invalid_parameter(
            "The media does not belong to the phone number in phone_number_id",
        ));
    }
    let media = media.clone();
    let expires_at = now.checked_add_signed(MEDIA_URL_TTL).unwrap_or(now);
    let hash = random_alnum(&mut state.rng, 16);
    state.media_urls.insert(
        hash.clone(),
        MediaUrl {
            media_id: media_id.to_owned(),
            expires_at,
        },
    );
    let body = meta_json::to_vec(&MediaResponse {
        messaging_product: "whatsapp",
        url: format!(
            "{base}/media-download/{media_id}?ext={}&hash={hash}",
            expires_at.timestamp()
        ),
        mime_type: &media.mime_type,
        sha256: hex::encode(Sha256::digest(&media.bytes)),
        file_size: media.bytes.len(),
        id: media_id,
    })
    .map_err(|_| GraphError::server_error())?;
    Ok(Done::json(body, Vec::new()))
}

/// The media bytes, to the bearer token of a number on the media's WABA only, while the
/// URL is fresh ([`MEDIA_URL_TTL`] after `GET /{media_id}` handed it out). A URL that
/// expired or that no `GET /{media_id}` handed out is 404 (UNVERIFIED: Meta's media host
/// is not the Graph API and its answers are not in the reference); a missing or foreign
/// token is 401 with Graph's invalid-token body (equally UNVERIFIED).
fn media_download(state: &mut State, call: &Call, media_id: &str, ctx: &mut Ctx) -> Done {
    let not_found = || Done::raw(404, "text/plain; charset=utf-8", b"Not Found".to_vec());
    let Some(media) = state.media.get(media_id).cloned() else {
        return not_found();
    };
    ctx.channel = Some(media.phone_number_id.clone());
    let now = state.now();
    let issued = call
        .query("hash")
        .and_then(|hash| state.media_urls.get(hash))
        .filter(|url| url.media_id == media_id);
    let fresh = issued.is_some_and(|url| {
        now < url.expires_at && call.query("ext") == Some(&url.expires_at.timestamp().to_string())
    });
    if !fresh {
        return not_found();
    }
    let authorized = call
        .token
        .as_deref()
        .is_some_and(|token| token_reaches_number(state, token, &media.phone_number_id));
    if !authorized {
        let trace = trace_id(state);
        let body = meta_json::to_vec(&GraphError::invalid_token().body(&trace)).unwrap_or_default();
        return Done::raw(401, JSON, body);
    }
    Done::raw(200, &media.mime_type, media.bytes)
}

/// The fake CDN: registered files, else a placeholder typed by the extension. A file with
/// an expiry serves only to its signed URL (`oh`, `oe`) and only until then: otherwise 403
/// with Meta's CDN's plain-text reason.
fn cdn(state: &State, call: &Call, path: &str) -> Done {
    if let Some(file) = state.cdn.get(path) {
        if let Some(expiry) = &file.expiry {
            let forbidden = |reason: &str| Done::raw(403, "text/plain", reason.as_bytes().to_vec());
            let signed = call.query("oh") == Some(expiry.signature.as_str())
                && call.query("oe") == Some(&format!("{:X}", expiry.at.timestamp()));
            if !signed {
                return forbidden("URL signature mismatch");
            }
            if state.now() >= expiry.at {
                return forbidden("URL signature expired");
            }
        }
        return Done {
            pace: file.pace,
            ..Done::raw(200, &file.mime_type, file.bytes.clone())
        };
    }
    let extension = path
        .split('?')
        .next()
        .unwrap_or_default()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mime = match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "ogg" | "opus" => "audio/ogg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    };
    Done::raw(
        200,
        mime,
        format!("metasim CDN placeholder for /{path}").into_bytes(),
    )
}

// ---- posting ----------------------------------------------------------------------------

/// Posts queued webhooks one at a time, in queue order, each job not before its time.
/// One task keeps every channel's echo → delivery → read (or sent → delivered → read)
/// in order across sends.
pub(super) async fn post_webhooks(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        tokio::time::sleep_until(job.not_before).await;
        let gap = shared.state().webhook_gap;
        for (i, webhook) in job.webhooks.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            let poster = shared.state().poster.clone();
            let (status, error) = match poster {
                Some(poster) => match poster.post(&webhook).await {
                    Ok(status) => (Some(status), None),
                    Err(e) => (None, Some(e.to_string())),
                },
                None => (None, Some("no webhook target".to_owned())),
            };
            shared.state().posted.push(PostedWebhook {
                webhook,
                status,
                error,
            });
        }
        shared.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_versions() {
        for ok in ["v25.0", "v3.2", "v26.0"] {
            assert!(is_version(ok), "{ok}");
        }
        for not in ["v25", "25.0", "v.0", "vX.0", "me", "v1.2.3", "v12345.0"] {
            assert!(!is_version(not), "{not}");
        }
    }

    #[test]
    fn pages_forward_and_back() {
        assert_eq!(page_range(8, 3, None, None), 0..3);
        assert_eq!(page_range(8, 3, Some(2), None), 3..6);
        assert_eq!(page_range(8, 3, Some(5), None), 6..8);
        assert_eq!(page_range(8, 3, Some(7), None), 8..8);
        assert_eq!(page_range(8, 3, Some(usize::MAX), None), 8..8);
        assert_eq!(page_range(8, 3, None, Some(6)), 3..6);
        assert_eq!(page_range(8, 3, None, Some(2)), 0..2);
        assert_eq!(page_range(0, 25, None, None), 0..0);
        for i in [0, 7, 123_456] {
            assert_eq!(parse_cursor(&encode_cursor(i)), Some(i));
        }
        assert_eq!(parse_cursor("QVFIUjNsRnVV"), None);
        assert_eq!(parse_cursor("%%%"), None);
    }

    #[test]
    fn reads_field_lists() {
        let fields = top_level_fields("name, components{type,text},status,language.limit(2)");
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        assert_eq!(fields, ["components", "language", "name", "status"]);
    }

    #[test]
    fn checks_proofs_in_hex() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"token");
        let proof = hex::encode(mac.finalize().into_bytes());
        assert!(proof_matches(b"secret", "token", &proof));
        assert!(!proof_matches(b"secret", "token2", &proof));
        assert!(!proof_matches(b"secret", "token", "zz"));
        assert!(!proof_matches(b"secret", "token", ""));
    }
}
