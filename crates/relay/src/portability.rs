//! The data-portability document, `export.json` (format [`FORMAT`], described in prose in
//! `docs/export.md` and as JSON Schema in `docs/export-schema.json`), built from what the
//! store keeps about a contact or a whole tenant. Pure: records in, JSON out, no IO, no
//! clock (the export's time is passed in), so it is table-tested here.
//!
//! Everything comes from the tenant's event log and the store's rows: a contact's profile
//! and conversation state, then each event about them sorted into the sections a reader
//! looks for (messages, status changes, message changes, notes, workflow, consent), with
//! nothing dropped (an event of a kind no section takes is kept in `other_events`).
//! Tombstones (events erased by a retention purge) are counted per receipt.

use crate::audit::AuditEntry;
use crate::store::{Agent, Channel, ContactProfile, ConversationState, LogEntry, Tenant};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use ventana_protocol::event::MessageContent;
use ventana_protocol::ids::MediaId;
use ventana_protocol::{EventBody, ids::ContactId};

/// The document's format name; a reader checks it before anything else.
pub const FORMAT: &str = "ventana.export.v1";

/// What an export is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One contact of the tenant.
    Contact(ContactId),
    /// The whole tenant (an admin leaving the platform).
    Tenant,
}

impl Scope {
    pub fn name(&self) -> &'static str {
        match self {
            Scope::Contact(_) => "contact",
            Scope::Tenant => "tenant",
        }
    }
}

/// One attachment of an export: its bytes are in the zip, or the reason they are not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Attachment {
    Fetched {
        media_id: String,
        fetched: bool,
        /// The file's path inside the zip.
        file: String,
        mime_type: Option<String>,
        bytes: u64,
        /// Hex SHA-256 of the file's bytes.
        sha256: String,
    },
    Missing {
        media_id: String,
        fetched: bool,
        /// A stable code: `gone` (the platform no longer has it), `not_found` (the relay
        /// keeps no address for it), `channel_needs_reconnection`, `channel_not_connected`,
        /// `too_large`, `unfetchable`, `upstream`.
        reason: String,
        /// The same, in words.
        detail: String,
    },
}

impl Attachment {
    pub fn fetched(
        media_id: &MediaId,
        mime_type: Option<String>,
        bytes: u64,
        sha256: String,
    ) -> Self {
        Attachment::Fetched {
            media_id: media_id.to_string(),
            fetched: true,
            file: attachment_file(media_id, mime_type.as_deref()),
            mime_type,
            bytes,
            sha256,
        }
    }

    pub fn missing(media_id: &MediaId, reason: &str, detail: &str) -> Self {
        Attachment::Missing {
            media_id: media_id.to_string(),
            fetched: false,
            reason: reason.to_owned(),
            detail: detail.to_owned(),
        }
    }

    pub fn is_fetched(&self) -> bool {
        matches!(self, Attachment::Fetched { .. })
    }
}

/// Everything the store keeps about one contact, with their attachments' outcomes.
#[derive(Debug, Clone)]
pub struct ContactRecords {
    pub profile: ContactProfile,
    pub conversation: Option<ConversationState>,
    /// Every log entry about the contact, in sequence order.
    pub events: Vec<LogEntry>,
    pub attachments: Vec<Attachment>,
}

/// The tenant-wide records of a tenant export (never a token, secret or password hash:
/// `Channel` says only whether a token is set, `Agent` has no hash).
#[derive(Debug, Clone)]
pub struct TenantRecords {
    pub channels: Vec<Channel>,
    pub agents: Vec<Agent>,
}

/// How much an export holds, for its audit entry (counts only, never content).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub contacts: u64,
    pub events: u64,
    pub messages: u64,
    pub statuses: u64,
    pub notes: u64,
    pub consent_changes: u64,
    pub attachments: u64,
    pub attachments_missing: u64,
}

/// The attachments an event log refers to, in order of first mention, each once.
pub fn media_ids(events: &[LogEntry]) -> Vec<MediaId> {
    let mut ids: Vec<MediaId> = Vec::new();
    for entry in events {
        let content = match &entry.event.body {
            EventBody::MessageReceived(message) => &message.content,
            EventBody::MessageSent(message) => &message.content,
            _ => continue,
        };
        let media = match content {
            MessageContent::Image(media)
            | MessageContent::Audio(media)
            | MessageContent::Video(media)
            | MessageContent::Document(media)
            | MessageContent::Sticker(media) => media,
            _ => continue,
        };
        if !ids.contains(&media.media_id) {
            ids.push(media.media_id.clone());
        }
    }
    ids
}

/// Where an attachment goes in the zip: `attachments/<media id>`, with characters that are
/// not safe in every file system replaced by `_`, and an extension for well-known types.
pub fn attachment_file(media_id: &MediaId, mime_type: Option<&str>) -> String {
    let safe: String = media_id
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    let ext = mime_type.and_then(extension).unwrap_or("");
    format!("attachments/{safe}{ext}")
}

fn extension(mime_type: &str) -> Option<&'static str> {
    let base = mime_type.split(';').next().unwrap_or("").trim();
    Some(match base.to_ascii_lowercase().as_str() {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "audio/ogg" => ".ogg",
        "audio/mpeg" => ".mp3",
        "audio/mp4" | "audio/aac" => ".m4a",
        "audio/amr" => ".amr",
        "video/mp4" => ".mp4",
        "video/3gpp" => ".3gp",
        "application/pdf" => ".pdf",
        "text/plain" => ".txt",
        _ => return None,
    })
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An event as an export item: `seq`, `event_id`, `type`, the conversation and times,
/// then the event's own fields (the envelope's tenant, channel and contact are the
/// contact's, said once in the profile).
fn item(entry: &LogEntry) -> Map<String, Value> {
    let mut map = match serde_json::to_value(&entry.event) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for envelope in ["tenant", "channel", "contact"] {
        map.remove(envelope);
    }
    if let Some(id) = map.remove("id") {
        map.insert("event_id".into(), id);
    }
    map.insert("seq".into(), json!(entry.seq));
    map
}

/// The document's part about one contact, and what it counted.
pub fn contact_section(records: &ContactRecords, audit_log: &[AuditEntry]) -> (Value, Counts) {
    let profile = &records.profile;
    let mut sections: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for name in [
        "messages",
        "statuses",
        "message_changes",
        "notes",
        "workflow",
        "consent",
        "other_events",
    ] {
        sections.insert(name, Vec::new());
    }
    // Receipts of tombstones: how many of the contact's events each erased.
    let mut redacted: BTreeMap<String, u64> = BTreeMap::new();
    let mut counts = Counts {
        contacts: 1,
        events: records.events.len() as u64,
        ..Counts::default()
    };
    for entry in &records.events {
        let mut map = item(entry);
        let section = match &entry.event.body {
            EventBody::MessageReceived(_) => {
                map.insert("direction".into(), json!("inbound"));
                counts.messages += 1;
                "messages"
            }
            EventBody::MessageSent(_) => {
                map.insert("direction".into(), json!("outbound"));
                counts.messages += 1;
                "messages"
            }
            EventBody::MessageStatus { .. } => {
                counts.statuses += 1;
                "statuses"
            }
            EventBody::Reaction { .. }
            | EventBody::MessageEdited { .. }
            | EventBody::MessageUnsent { .. } => "message_changes",
            EventBody::NoteAdded { .. } => {
                counts.notes += 1;
                "notes"
            }
            EventBody::ConversationUpdated { .. } | EventBody::Escalated { .. } => "workflow",
            EventBody::ContactOptedOut { .. } | EventBody::ContactOptedIn { .. } => {
                let change = if matches!(entry.event.body, EventBody::ContactOptedOut { .. }) {
                    "opted_out"
                } else {
                    "opted_in"
                };
                map.insert("change".into(), json!(change));
                counts.consent_changes += 1;
                "consent"
            }
            EventBody::Redacted { receipt } => {
                *redacted.entry(receipt.to_string()).or_default() += 1;
                continue;
            }
            _ => "other_events",
        };
        if let Some(list) = sections.get_mut(section) {
            list.push(Value::Object(map));
        }
    }
    let erasure_receipts: Vec<Value> = redacted
        .iter()
        .map(|(receipt, events)| {
            let audited = audit_log
                .iter()
                .find(|entry| entry.detail.get("receipt").and_then(Value::as_str) == Some(receipt));
            json!({
                "receipt": receipt,
                "events_redacted": events,
                "action": audited.map(|entry| entry.action.clone()),
                "at": audited.map(|entry| entry.at.clone()),
            })
        })
        .collect();
    let conversations: Vec<Value> = records
        .conversation
        .iter()
        .map(|state| {
            json!({
                "id": state.id,
                "channel": state.channel.id,
                "status": state.status,
                "assignee": state.assignee,
                "labels": state.labels,
                "last_customer_message_at": state.last_inbound_at.map(time),
                "last_business_message_at": state.last_outbound_at.map(time),
            })
        })
        .collect();
    counts.attachments = records
        .attachments
        .iter()
        .filter(|a| a.is_fetched())
        .count() as u64;
    counts.attachments_missing = records.attachments.len() as u64 - counts.attachments;
    let mut contact = json!({
        "profile": {
            "id": profile.id,
            "channel": profile.channel,
            "channel_kind": profile.channel_kind,
            "platform_id": profile.external_id,
            "name": profile.name,
            "marketing_opted_out": profile.marketing_opted_out,
        },
        "conversations": conversations,
        "erasure_receipts": erasure_receipts,
        "attachments": records.attachments,
    });
    if let Value::Object(map) = &mut contact {
        for (name, list) in sections {
            map.insert(name.to_owned(), Value::Array(list));
        }
    }
    (contact, counts)
}

/// The whole `export.json`, and what it counted.
pub fn document(
    tenant: &Tenant,
    scope: &Scope,
    exported_at: DateTime<Utc>,
    contacts: &[ContactRecords],
    tenant_records: Option<&TenantRecords>,
    audit_log: &[AuditEntry],
) -> (Value, Counts) {
    let mut total = Counts::default();
    let mut sections = Vec::new();
    for records in contacts {
        let (section, counts) = contact_section(records, audit_log);
        sections.push(section);
        total.contacts += counts.contacts;
        total.events += counts.events;
        total.messages += counts.messages;
        total.statuses += counts.statuses;
        total.notes += counts.notes;
        total.consent_changes += counts.consent_changes;
        total.attachments += counts.attachments;
        total.attachments_missing += counts.attachments_missing;
    }
    let mut document = json!({
        "format": FORMAT,
        "exported_at": time(exported_at),
        "scope": scope.name(),
        "tenant": {"id": tenant.id, "name": tenant.name},
        "contacts": sections,
    });
    if let (Some(records), Value::Object(map)) = (tenant_records, &mut document) {
        let channels: Vec<Value> = records
            .channels
            .iter()
            .map(|channel| {
                json!({
                    "id": channel.id,
                    "kind": channel.kind,
                    "platform_id": channel.external_id,
                    "app_id": channel.app_id,
                    "display_name": channel.display_name,
                    "human_agent_approved": channel.human_agent_approved,
                    "waba_id": channel.waba_id,
                    "needs_reconnection": channel.needs_reconnection,
                    "has_token": channel.has_token,
                    "settings": channel.settings,
                })
            })
            .collect();
        let agents: Vec<Value> = records
            .agents
            .iter()
            .map(|agent| {
                json!({
                    "id": agent.id,
                    "email": agent.email,
                    "name": agent.name,
                    "role": agent.role,
                    "status": agent.status,
                    "last_sign_in_at": agent.last_sign_in_at.map(time),
                })
            })
            .collect();
        let receipts: Vec<Value> = audit_log
            .iter()
            .filter(|entry| entry.detail.get("receipt").is_some())
            .map(|entry| {
                json!({
                    "receipt": entry.detail.get("receipt"),
                    "action": entry.action,
                    "at": entry.at,
                    "detail": entry.detail,
                })
            })
            .collect();
        map.insert("channels".into(), Value::Array(channels));
        map.insert("agents".into(), Value::Array(agents));
        map.insert("erasure_receipts".into(), Value::Array(receipts));
        map.insert(
            "audit_log".into(),
            serde_json::to_value(audit_log).unwrap_or(Value::Array(Vec::new())),
        );
    }
    (document, total)
}

/// `README.txt`: what the files are, for a reader without the documentation at hand.
pub fn readme(
    tenant: &Tenant,
    scope: &Scope,
    exported_at: DateTime<Utc>,
    counts: &Counts,
) -> String {
    let about = match scope {
        Scope::Contact(contact) => format!("one contact ({contact})"),
        Scope::Tenant => "the whole tenant".to_owned(),
    };
    format!(
        "Ventana data export ({FORMAT})\n\
         \n\
         Tenant: {name} ({id})\n\
         About: {about}\n\
         Exported at: {at}\n\
         \n\
         export.json   every record the relay keeps about {about}: profile, conversations and\n\
         \x20             their workflow state, every message (inbound and outbound), every\n\
         \x20             status change, notes, consent (opt-out/opt-in) history, erasure\n\
         \x20             receipts, and the list of attachments.\n\
         attachments/  the attachments' bytes, as the platform served them; export.json gives\n\
         \x20             each one's file name, type, size and SHA-256, or why it is missing\n\
         \x20             (the platform keeps attachments for a limited time).\n\
         \n\
         Contacts: {contacts}; messages: {messages}; attachments: {attachments} \
         ({missing} could not be fetched).\n\
         \n\
         The format is described in docs/export.md, and as JSON Schema (draft 2020-12) in\n\
         docs/export-schema.json, of the Ventana relay's source.\n",
        name = tenant.name,
        id = tenant.id,
        at = time(exported_at),
        contacts = counts.contacts,
        messages = counts.messages,
        attachments = counts.attachments,
        missing = counts.attachments_missing,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ventana_protocol::ChannelKind;
    use ventana_protocol::event::{
        ConsentSource, DeliveryStatus, Event, InboundMessage, Media, OutboundMessage, Sender,
        SentAs, StatusTarget,
    };
    use ventana_protocol::ids::{
        AgentId, ChannelId, ConversationId, EventId, MessageId, NoteId, ReceiptId, TenantId,
    };

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
    }

    fn entry(seq: u64, body: EventBody) -> LogEntry {
        LogEntry {
            seq,
            event: Event {
                id: EventId::new(format!("e{seq}")),
                tenant: TenantId::new("t1"),
                channel: ChannelId::new("ch1"),
                contact: Some(ContactId::new("c1")),
                conversation: Some(ConversationId::new("cv1")),
                occurred_at: at(seq as i64),
                recorded_at: at(seq as i64 + 1),
                body,
            },
        }
    }

    fn image(id: &str) -> MessageContent {
        MessageContent::Image(Media {
            media_id: MediaId::new(id),
            mime_type: Some("image/jpeg".into()),
            caption: None,
            filename: None,
            sha256: None,
        })
    }

    fn inbound(id: &str, content: MessageContent) -> EventBody {
        EventBody::MessageReceived(InboundMessage {
            message_id: MessageId::new(id),
            content,
            sender_name: Some("Rosa".into()),
            reply_to: None,
            referral: None,
        })
    }

    fn records(events: Vec<LogEntry>, attachments: Vec<Attachment>) -> ContactRecords {
        ContactRecords {
            profile: ContactProfile {
                id: ContactId::new("c1"),
                channel: ChannelId::new("ch1"),
                channel_kind: ChannelKind::WhatsApp,
                external_id: "15550004321".into(),
                name: Some("Rosa".into()),
                marketing_opted_out: true,
                conversation: Some(ConversationId::new("cv1")),
            },
            conversation: None,
            events,
            attachments,
        }
    }

    #[test]
    fn events_are_sorted_into_sections_and_nothing_is_dropped() {
        let events = vec![
            entry(
                1,
                inbound(
                    "m1",
                    MessageContent::Text {
                        body: "hola".into(),
                    },
                ),
            ),
            entry(
                2,
                EventBody::MessageSent(OutboundMessage {
                    message_id: Some(MessageId::new("m2")),
                    idempotency_key: None,
                    content: MessageContent::Text {
                        body: "buenas".into(),
                    },
                    sender: Sender::Agent {
                        agent: AgentId::new("a1"),
                    },
                    sent_as: SentAs::Standard,
                    reply_to: None,
                }),
            ),
            entry(
                3,
                EventBody::MessageStatus {
                    target: StatusTarget::Message {
                        message_id: MessageId::new("m2"),
                    },
                    status: DeliveryStatus::Read,
                },
            ),
            entry(
                4,
                EventBody::NoteAdded {
                    note_id: NoteId::new("n1"),
                    author: AgentId::new("a1"),
                    text: "VIP".into(),
                },
            ),
            entry(
                5,
                EventBody::ContactOptedOut {
                    source: ConsentSource::Keyword {
                        keyword: "STOP".into(),
                    },
                },
            ),
            entry(
                6,
                EventBody::Redacted {
                    receipt: ReceiptId::new("rp_1"),
                },
            ),
            entry(7, inbound("m3", image("wa:9"))),
        ];
        let attachments = vec![Attachment::fetched(
            &MediaId::new("wa:9"),
            Some("image/jpeg".into()),
            4,
            "ab".into(),
        )];
        let audit = vec![AuditEntry {
            tenant: "t1".into(),
            seq: 1,
            at: "2026-12-01T00:00:00Z".into(),
            actor: "relay:retention".into(),
            action: "retention_purge".into(),
            detail: json!({"receipt": "rp_1", "events_redacted": 1}),
            prev_hash: String::new(),
            hash: String::new(),
        }];
        let (section, counts) = contact_section(&records(events, attachments), &audit);
        let messages = section["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0]["direction"], "inbound");
        assert_eq!(messages[0]["content"]["body"], "hola");
        assert_eq!(messages[0]["event_id"], "e1");
        assert_eq!(messages[0]["seq"], 1);
        assert!(messages[0].get("tenant").is_none());
        assert_eq!(messages[1]["direction"], "outbound");
        assert_eq!(messages[1]["sender"]["agent"], "a1");
        assert_eq!(section["statuses"][0]["status"]["state"], "read");
        assert_eq!(section["notes"][0]["text"], "VIP");
        assert_eq!(section["consent"][0]["change"], "opted_out");
        assert_eq!(section["consent"][0]["source"]["keyword"], "STOP");
        assert_eq!(
            section["erasure_receipts"],
            json!([{"receipt": "rp_1", "events_redacted": 1, "action": "retention_purge",
                    "at": "2026-12-01T00:00:00Z"}])
        );
        assert_eq!(section["profile"]["platform_id"], "15550004321");
        assert_eq!(section["profile"]["marketing_opted_out"], true);
        assert_eq!(section["attachments"][0]["file"], "attachments/wa_9.jpg");
        assert_eq!(
            counts,
            Counts {
                contacts: 1,
                events: 7,
                messages: 3,
                statuses: 1,
                notes: 1,
                consent_changes: 1,
                attachments: 1,
                attachments_missing: 0,
            }
        );
    }

    #[test]
    fn media_ids_are_listed_once_in_order() {
        let events = vec![
            entry(1, inbound("m1", image("wa:2"))),
            entry(2, inbound("m2", image("wa:1"))),
            entry(3, inbound("m3", image("wa:2"))),
        ];
        assert_eq!(
            media_ids(&events),
            vec![MediaId::new("wa:2"), MediaId::new("wa:1")]
        );
    }

    #[test]
    fn attachment_files_are_safe_names() {
        assert_eq!(
            attachment_file(&MediaId::new("../../etc/passwd"), None),
            "attachments/_.._etc_passwd"
        );
        assert_eq!(
            attachment_file(&MediaId::new("m:abc"), Some("audio/ogg; codecs=opus")),
            "attachments/m_abc.ogg"
        );
    }

    #[test]
    fn a_missing_attachment_says_why() {
        let missing = Attachment::missing(&MediaId::new("wa:1"), "gone", "expired");
        assert_eq!(
            serde_json::to_value(&missing).unwrap(),
            json!({"media_id": "wa:1", "fetched": false, "reason": "gone", "detail": "expired"})
        );
        let (_, counts) = contact_section(&records(Vec::new(), vec![missing]), &[]);
        assert_eq!((counts.attachments, counts.attachments_missing), (0, 1));
    }

    #[test]
    fn the_document_names_its_format_scope_and_tenant() {
        let tenant = Tenant {
            id: TenantId::new("t1"),
            name: "acme".into(),
        };
        let (document, counts) = document(
            &tenant,
            &Scope::Contact(ContactId::new("c1")),
            at(0),
            &[records(Vec::new(), Vec::new())],
            None,
            &[],
        );
        assert_eq!(document["format"], FORMAT);
        assert_eq!(document["scope"], "contact");
        assert_eq!(document["tenant"], json!({"id": "t1", "name": "acme"}));
        assert_eq!(document["exported_at"], "2026-09-21T14:13:20Z");
        assert!(document.get("audit_log").is_none());
        assert_eq!(counts.contacts, 1);
    }
}
