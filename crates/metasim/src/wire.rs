//! The JSON shapes of Meta's webhook bodies, as serde types. Field order follows the
//! fixtures (JSON does not care, but a reader comparing a generated body with a fixture
//! does), and optional fields are left out rather than written as `null`, as Meta does.

use serde::Serialize;

/// `{"object": …, "entry": […]}`, common to the three products.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Envelope<E> {
    pub object: &'static str,
    pub entry: Vec<E>,
}

// ---- Messenger and Instagram ------------------------------------------------------------

/// `entry[]` of Messenger and Instagram bodies.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MessagingEntry {
    pub id: String,
    /// Milliseconds since the epoch.
    pub time: i64,
    pub messaging: Vec<MessagingEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Id {
    pub id: String,
}

/// `entry[].messaging[]`: who, to whom, when, and one event object.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MessagingEvent {
    pub sender: Id,
    pub recipient: Id,
    /// Milliseconds; Messenger's `delivery` events have none (see the fixtures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub body: MessagingBody,
}

/// The event object, keyed by its name (`message`, `delivery`, …).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MessagingBody {
    Message(Message),
    Delivery(Delivery),
    Read(Read),
    Reaction(Reaction),
    Postback(Postback),
    Referral(Referral),
    MessageEdit(MessageEdit),
}

/// `message`: inbound, echo (`is_echo`) or unsent (`is_deleted`).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Message {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_echo: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    pub mid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quick_reply: Option<QuickReply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<Referral>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_deleted: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QuickReply {
    pub payload: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReplyTo {
    pub mid: String,
    /// Messenger only; Instagram's `reply_to` carries just the `mid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_self_reply: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attachment {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub payload: AttachmentPayload,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AttachmentPayload {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticker_id: Option<u64>,
}

/// Messenger `delivery`: `mids` only sometimes, `watermark` always.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Delivery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mids: Option<Vec<String>>,
    pub watermark: i64,
}

/// Messenger `read {watermark}`, Instagram `read {mid}`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Read {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<i64>,
}

/// `reaction`; `reaction` and `emoji` are left out on `unreact`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Reaction {
    pub mid: String,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Postback {
    pub mid: String,
    pub title: String,
    pub payload: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<Referral>,
}

/// `referral` (m.me / ig.me links, ads), as an event or inside a message or postback.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Referral {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_id: Option<String>,
    pub source: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MessageEdit {
    pub mid: String,
    pub text: String,
    pub num_edit: u32,
}

// ---- WhatsApp ---------------------------------------------------------------------------

/// `entry[]` of WhatsApp bodies: the WABA and its changes.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaEntry {
    pub id: String,
    pub changes: Vec<WaChange>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaChange {
    pub value: WaValue,
    pub field: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaValue {
    pub messaging_product: &'static str,
    pub metadata: WaMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<WaContact>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<WaMessage>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<WaStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_preferences: Option<Vec<WaUserPreference>>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaMetadata {
    pub display_phone_number: String,
    pub phone_number_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct WaContact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<WaProfile>,
    pub wa_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct WaProfile {
    pub name: String,
}

/// `messages[]`: common fields, then the object named by `type`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct WaMessage {
    pub from: String,
    pub id: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<WaContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<WaReferral>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<WaText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<WaMedia>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<WaMedia>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<WaMedia>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<WaMedia>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticker: Option<WaMedia>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<WaLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<WaInteractive>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<WaButton>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction: Option<WaReaction>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaContext {
    pub from: String,
    pub id: String,
}

/// Click-to-WhatsApp ad referral.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaReferral {
    pub source_url: String,
    pub source_id: String,
    pub source_type: &'static str,
    pub headline: String,
    pub body: String,
    pub media_type: &'static str,
    pub image_url: String,
    pub ctwa_clid: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaText {
    pub body: String,
}

/// Image, audio, video, document and sticker objects (fields per the reference's table).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaMedia {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    pub mime_type: &'static str,
    pub sha256: String,
    pub id: String,
    /// Rolled out gradually from 2025-11-12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaLocation {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaInteractive {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button_reply: Option<WaReply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_reply: Option<WaReply>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaReply {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaButton {
    pub payload: String,
    pub text: String,
}

/// A reaction; `emoji` is absent when the user removes their reaction.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaReaction {
    pub message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaStatus {
    pub id: String,
    pub status: &'static str,
    pub timestamp: String,
    pub recipient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<WaPricing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<WaError>>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaPricing {
    pub billable: bool,
    pub pricing_model: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub category: &'static str,
}

/// Meta's WhatsApp error object, in `statuses[].errors` (and `value.errors`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaError {
    pub code: u32,
    pub title: &'static str,
    pub message: &'static str,
    pub error_data: WaErrorData,
    pub href: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaErrorData {
    pub details: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WaUserPreference {
    pub wa_id: String,
    pub detail: &'static str,
    pub category: &'static str,
    pub value: &'static str,
    /// Unix seconds, as a number (unlike `messages[].timestamp`; see the fixture).
    pub timestamp: i64,
}
