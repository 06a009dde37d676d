//! Pure: how an appended event changes its conversation's state, which events it brings
//! with it (a customer writing into a resolved or snoozed conversation reopens it; so does
//! a snooze's end), and how Meta's echo of our own reply is logged.
//!
//! No IO and no SQL: a backend reads the facts these functions name, calls them, and
//! writes what they return, in the appending transaction. So every backend keeps the same
//! rules, and the rules are tested here without a database. This module depends on the
//! protocol's types only, not on `store`, so the store can call it without an import loop.

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use ventana_protocol::EventBody;
use ventana_protocol::event::{
    Actor, Assignee, ConversationStatus, Event, OutboundMessage, Sender, SentAs,
};
use ventana_protocol::ids::{AgentId, ConversationId, EventId, IdempotencyKey, MessageId};

/// What the store holds about a conversation, as far as [`projection`] looks at it.
///
/// A backend need read these only when [`needs_facts`] says so; otherwise it may pass
/// `ConversationFacts::default()`, which [`projection`] does not look at.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFacts {
    pub status: ConversationStatus,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub last_outbound_at: Option<DateTime<Utc>>,
}

impl Default for ConversationFacts {
    /// A new conversation: open, no message yet.
    fn default() -> Self {
        Self {
            status: ConversationStatus::Open,
            last_inbound_at: None,
            last_outbound_at: None,
        }
    }
}

impl ConversationFacts {
    /// The facts once `projection`'s columns are written (a writer that remembers
    /// conversations keeps its memory equal to the rows this way).
    pub fn apply(&mut self, projection: &Projection) {
        if let Some(status) = &projection.status {
            self.status = status.clone();
        }
        if let Some(at) = projection.last_inbound_at {
            self.last_inbound_at = Some(at);
        }
        if let Some(at) = projection.last_outbound_at {
            self.last_outbound_at = Some(at);
        }
    }
}

/// What to write for one appended event: each `Some` column is set to its value, and the
/// derived events are appended after it, in the same transaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Projection {
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub last_outbound_at: Option<DateTime<Utc>>,
    pub status: Option<ConversationStatus>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<AgentId>>,
    pub labels: Option<BTreeSet<String>>,
    /// The contact's marketing opt-out (the event's contact).
    pub marketing_opted_out: Option<bool>,
    /// Events about the same conversation and contact that this one causes.
    pub derived: Vec<Derived>,
}

/// An event a rule makes about the conversation of the event (or sweep) that caused it.
/// Its id is made from its cause, so recording the cause twice records it once.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub id: EventId,
    pub occurred_at: DateTime<Utc>,
    pub body: EventBody,
}

/// Whether [`projection`] of an event with this body looks at the conversation's facts.
pub fn needs_facts(body: &EventBody) -> bool {
    match body {
        EventBody::MessageReceived(_) => true,
        EventBody::MessageSent(message) => message.message_id.is_some(),
        _ => false,
    }
}

/// How `event` changes its conversation, given what the store holds now.
///
/// Message times only move forward (a late or redelivered older message leaves them as
/// they are); a failed send (no platform id) is not a business message. Events without a
/// conversation (channel-level) change nothing.
pub fn projection(event: &Event, current: &ConversationFacts) -> Projection {
    let mut projection = Projection::default();
    if event.conversation.is_none() {
        return projection;
    }
    let at = event.occurred_at;
    match &event.body {
        EventBody::MessageReceived(_) => {
            if current.last_inbound_at.is_none_or(|last| last < at) {
                projection.last_inbound_at = Some(at);
            }
            if reopens(&current.status) && event.contact.is_some() {
                projection.derived.push(Derived {
                    id: EventId::new(format!("reopen:{}", event.id)),
                    occurred_at: at,
                    body: reopen(),
                });
            }
        }
        EventBody::MessageSent(message)
            if message.message_id.is_some()
                && current.last_outbound_at.is_none_or(|last| last < at) =>
        {
            projection.last_outbound_at = Some(at);
        }
        EventBody::ContactOptedOut { .. } if event.contact.is_some() => {
            projection.marketing_opted_out = Some(true);
        }
        EventBody::ContactOptedIn { .. } if event.contact.is_some() => {
            projection.marketing_opted_out = Some(false);
        }
        EventBody::ConversationUpdated {
            status,
            assignee,
            labels,
            ..
        } => {
            projection.status = status.clone();
            projection.assignee = assignee.as_ref().map(|assignee| match assignee {
                Assignee::Agent { agent } => Some(agent.clone()),
                Assignee::Nobody => None,
            });
            projection.labels = labels.clone();
        }
        _ => {}
    }
    projection
}

/// Whether a customer's message brings a conversation in this status back to open.
pub fn reopens(status: &ConversationStatus) -> bool {
    matches!(
        status,
        ConversationStatus::Resolved | ConversationStatus::Snoozed { .. }
    )
}

/// The event that reopens a conversation, made by the relay.
pub fn reopen() -> EventBody {
    EventBody::ConversationUpdated {
        by: Actor::System,
        status: Some(ConversationStatus::Open),
        assignee: None,
        labels: None,
    }
}

/// The event a snooze's end makes, at the time the snooze ended (its id names the
/// conversation and that time, so each snooze ends once however often it is swept).
pub fn snooze_ended(conversation: &ConversationId, until: DateTime<Utc>) -> Derived {
    Derived {
        id: EventId::new(format!(
            "snooze-end:{conversation}:{}",
            until.timestamp_millis()
        )),
        occurred_at: until,
        body: reopen(),
    }
}

/// The idempotency key of the reply an event may be Meta's echo of: a message another
/// app sent (as Meta names us in echoes) with a platform id, carrying our key.
pub fn echo_key(body: &EventBody) -> Option<&IdempotencyKey> {
    match body {
        EventBody::MessageSent(OutboundMessage {
            message_id: Some(_),
            idempotency_key: Some(key),
            sender: Sender::ExternalApp { .. },
            ..
        }) => Some(key),
        _ => None,
    }
}

/// What the store holds about the reply under an echo's key.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoedReply {
    /// Whether the reply is already logged as sent (its `message_sent` is in the log).
    pub sent: bool,
    pub sender: Sender,
    pub sent_as: Option<SentAs>,
}

/// What to do with an event that may be an echo of our own reply.
#[derive(Debug, Clone, PartialEq)]
pub enum EchoDecision {
    /// Not an echo of a reply the store knows: log it as it came.
    Keep,
    /// The reply is logged as sent already: skip the echo (it would be a second copy).
    Skip,
    /// The echo proves Meta took the reply although the relay never heard back (a
    /// timeout, or a stop mid-call): mark the reply sent with `message_id`, and log `body`
    /// (the reply, with its agent as sender) instead of the echo.
    MarkSent {
        message_id: MessageId,
        body: Box<EventBody>,
    },
}

/// Reconciles a possible echo with the reply its key names (`None`: no such reply).
pub fn echo(body: &EventBody, reply: Option<&EchoedReply>) -> EchoDecision {
    let (Some(_), Some(reply)) = (echo_key(body), reply) else {
        return EchoDecision::Keep;
    };
    let EventBody::MessageSent(
        message @ OutboundMessage {
            message_id: Some(message_id),
            ..
        },
    ) = body
    else {
        return EchoDecision::Keep;
    };
    if reply.sent {
        return EchoDecision::Skip;
    }
    EchoDecision::MarkSent {
        message_id: message_id.clone(),
        body: Box::new(EventBody::MessageSent(OutboundMessage {
            sender: reply.sender.clone(),
            sent_as: reply.sent_as.unwrap_or(SentAs::Unknown),
            ..message.clone()
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ventana_protocol::event::{
        ConsentSource, DeliveryStatus, EscalationReason, InboundMessage, MessageContent, Party,
        ReactionAction, StatusTarget,
    };
    use ventana_protocol::ids::{ChannelId, ContactId, NoteId, ReceiptId, TenantId};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    const T0: &str = "2026-03-01T10:00:00Z";
    const EARLIER: &str = "2026-03-01T09:00:00Z";
    const LATER: &str = "2026-03-01T11:00:00Z";

    fn event(body: EventBody, occurred_at: &str) -> Event {
        Event {
            id: EventId::new("msg:m1"),
            tenant: TenantId::new("t"),
            channel: ChannelId::new("ch"),
            contact: Some(ContactId::new("c")),
            conversation: Some(ConversationId::new("conv")),
            occurred_at: at(occurred_at),
            recorded_at: at(T0),
            body,
        }
    }

    fn received() -> EventBody {
        EventBody::MessageReceived(InboundMessage {
            message_id: "m1".into(),
            content: MessageContent::Text {
                body: "hola".into(),
            },
            sender_name: None,
            reply_to: None,
            referral: None,
        })
    }

    fn sent(message_id: Option<&str>, key: Option<&str>, sender: Sender) -> EventBody {
        EventBody::MessageSent(OutboundMessage {
            message_id: message_id.map(Into::into),
            idempotency_key: key.map(IdempotencyKey::new),
            content: MessageContent::Text {
                body: "ya va".into(),
            },
            sender,
            sent_as: SentAs::Unknown,
            reply_to: None,
        })
    }

    fn external() -> Sender {
        Sender::ExternalApp { app: None }
    }

    fn agent() -> Sender {
        Sender::Agent {
            agent: AgentId::new("a1"),
        }
    }

    fn facts(
        status: ConversationStatus,
        inbound: Option<&str>,
        outbound: Option<&str>,
    ) -> ConversationFacts {
        ConversationFacts {
            status,
            last_inbound_at: inbound.map(at),
            last_outbound_at: outbound.map(at),
        }
    }

    fn snoozed() -> ConversationStatus {
        ConversationStatus::Snoozed { until: at(LATER) }
    }

    fn updated(
        status: Option<ConversationStatus>,
        assignee: Option<Assignee>,
        labels: Option<&[&str]>,
    ) -> EventBody {
        EventBody::ConversationUpdated {
            by: Actor::Agent {
                agent: AgentId::new("a1"),
            },
            status,
            assignee,
            labels: labels.map(|labels| labels.iter().map(|l| l.to_string()).collect()),
        }
    }

    /// Every kind of event that changes no column and derives nothing.
    fn inert_bodies() -> Vec<EventBody> {
        vec![
            sent(None, Some("k1"), agent()), // a failed send: no platform id
            EventBody::MessageStatus {
                target: StatusTarget::Message {
                    message_id: "m1".into(),
                },
                status: DeliveryStatus::Read,
            },
            EventBody::Reaction {
                message_id: "m1".into(),
                by: Party::Customer,
                action: ReactionAction::Added,
                emoji: Some("👍".into()),
            },
            EventBody::MessageEdited {
                message_id: "m1".into(),
                text: "hola!".into(),
                edit_count: 1,
            },
            EventBody::MessageUnsent {
                message_id: "m1".into(),
            },
            EventBody::NoteAdded {
                note_id: NoteId::new("n1"),
                author: AgentId::new("a1"),
                text: "call back".into(),
            },
            EventBody::Escalated {
                reason: EscalationReason::Keyword {
                    keyword: "human".into(),
                },
            },
            EventBody::ContactErased {
                receipt: ReceiptId::new("r1"),
            },
            EventBody::Redacted {
                receipt: ReceiptId::new("r1"),
            },
            updated(None, None, None), // a change that changes nothing
        ]
    }

    #[test]
    fn a_customer_message_moves_last_inbound_forward_only() {
        let open = ConversationStatus::Open;
        // (message time, stored last inbound, expected new last inbound)
        let table = [
            (T0, None, Some(T0)),
            (T0, Some(EARLIER), Some(T0)),
            (EARLIER, Some(T0), None), // a late older message must not move it back
            (T0, Some(T0), None),      // the same time: nothing to write
        ];
        for (when, stored, expected) in table {
            let got = projection(&event(received(), when), &facts(open.clone(), stored, None));
            assert_eq!(
                got,
                Projection {
                    last_inbound_at: expected.map(at),
                    ..Projection::default()
                },
                "message at {when}, stored {stored:?}"
            );
        }
    }

    #[test]
    fn a_business_message_with_a_platform_id_moves_last_outbound_forward_only() {
        let table = [
            (Some("m2"), T0, None, Some(T0)),
            (Some("m2"), T0, Some(EARLIER), Some(T0)),
            (Some("m2"), EARLIER, Some(T0), None),
            (Some("m2"), T0, Some(T0), None),
            (None, T0, None, None), // failed: nothing reached the customer
        ];
        for sender in [agent(), Sender::Bot, external()] {
            for (id, when, stored, expected) in table {
                let body = sent(id, None, sender.clone());
                let got = projection(
                    &event(body, when),
                    &facts(ConversationStatus::Resolved, Some(EARLIER), stored),
                );
                assert_eq!(
                    got,
                    Projection {
                        last_outbound_at: expected.map(at),
                        ..Projection::default()
                    },
                    "{sender:?} {id:?} at {when}, stored {stored:?}"
                );
            }
        }
    }

    #[test]
    fn a_customer_writing_into_a_resolved_or_snoozed_conversation_reopens_it() {
        let table = [
            (ConversationStatus::Open, false),
            (ConversationStatus::Pending, false),
            (ConversationStatus::Resolved, true),
            (snoozed(), true),
        ];
        for (status, reopened) in table {
            let got = projection(&event(received(), T0), &facts(status.clone(), None, None));
            let expected: Vec<Derived> = if reopened {
                vec![Derived {
                    id: EventId::new("reopen:msg:m1"),
                    occurred_at: at(T0),
                    body: EventBody::ConversationUpdated {
                        by: Actor::System,
                        status: Some(ConversationStatus::Open),
                        assignee: None,
                        labels: None,
                    },
                }]
            } else {
                vec![]
            };
            assert_eq!(got.derived, expected, "{status:?}");
            assert_eq!(reopens(&status), reopened, "{status:?}");
        }
        // An older message reopens too (the status is now, whatever the message's time).
        let late = projection(
            &event(received(), EARLIER),
            &facts(ConversationStatus::Resolved, Some(T0), None),
        );
        assert_eq!(late.last_inbound_at, None);
        assert_eq!(late.derived.len(), 1);
        // A business message never reopens.
        for status in [ConversationStatus::Resolved, snoozed()] {
            let got = projection(
                &event(sent(Some("m2"), None, agent()), T0),
                &facts(status, None, None),
            );
            assert!(got.derived.is_empty());
        }
    }

    #[test]
    fn a_snooze_ends_once_at_its_time_reopening_the_conversation() {
        let conversation = ConversationId::new("conv");
        let ended = snooze_ended(&conversation, at(LATER));
        assert_eq!(
            ended,
            Derived {
                id: EventId::new(format!("snooze-end:conv:{}", at(LATER).timestamp_millis())),
                occurred_at: at(LATER),
                body: reopen(),
            }
        );
        assert_eq!(ended, snooze_ended(&conversation, at(LATER)));
        assert_ne!(ended.id, snooze_ended(&conversation, at(T0)).id);
    }

    #[test]
    fn workflow_changes_set_only_the_fields_they_carry() {
        let agent_id = AgentId::new("a2");
        let table = [
            (
                updated(Some(ConversationStatus::Resolved), None, None),
                Projection {
                    status: Some(ConversationStatus::Resolved),
                    ..Projection::default()
                },
            ),
            (
                updated(Some(snoozed()), None, None),
                Projection {
                    status: Some(snoozed()),
                    ..Projection::default()
                },
            ),
            (
                updated(Some(ConversationStatus::Pending), None, None),
                Projection {
                    status: Some(ConversationStatus::Pending),
                    ..Projection::default()
                },
            ),
            (
                updated(Some(ConversationStatus::Open), None, None),
                Projection {
                    status: Some(ConversationStatus::Open),
                    ..Projection::default()
                },
            ),
            (
                updated(
                    None,
                    Some(Assignee::Agent {
                        agent: agent_id.clone(),
                    }),
                    None,
                ),
                Projection {
                    assignee: Some(Some(agent_id.clone())),
                    ..Projection::default()
                },
            ),
            (
                updated(None, Some(Assignee::Nobody), None),
                Projection {
                    assignee: Some(None),
                    ..Projection::default()
                },
            ),
            (
                updated(None, None, Some(&["vip", "billing"])),
                Projection {
                    labels: Some(["billing", "vip"].map(String::from).into()),
                    ..Projection::default()
                },
            ),
            (
                updated(None, None, Some(&[])),
                Projection {
                    labels: Some(BTreeSet::new()),
                    ..Projection::default()
                },
            ),
        ];
        for (body, expected) in table {
            for current in [
                ConversationStatus::Open,
                ConversationStatus::Resolved,
                snoozed(),
            ] {
                let got = projection(&event(body.clone(), T0), &facts(current, Some(T0), None));
                assert_eq!(got, expected, "{body:?}");
            }
        }
    }

    #[test]
    fn opting_out_and_in_set_the_contacts_marketing_flag() {
        for (body, out) in [
            (
                EventBody::ContactOptedOut {
                    source: ConsentSource::Platform,
                },
                true,
            ),
            (
                EventBody::ContactOptedIn {
                    source: ConsentSource::Keyword {
                        keyword: "START".into(),
                    },
                },
                false,
            ),
        ] {
            let got = projection(&event(body.clone(), T0), &ConversationFacts::default());
            assert_eq!(
                got,
                Projection {
                    marketing_opted_out: Some(out),
                    ..Projection::default()
                }
            );
            let mut without_contact = event(body, T0);
            without_contact.contact = None;
            assert_eq!(
                projection(&without_contact, &ConversationFacts::default()),
                Projection::default()
            );
        }
    }

    #[test]
    fn other_events_and_channel_events_change_nothing() {
        for body in inert_bodies() {
            for status in [ConversationStatus::Resolved, snoozed()] {
                let got = projection(&event(body.clone(), T0), &facts(status, None, None));
                assert_eq!(got, Projection::default(), "{body:?}");
            }
        }
        // Without a conversation (a channel-level event), not even a message counts.
        let mut channel_level = event(received(), T0);
        channel_level.conversation = None;
        assert_eq!(
            projection(
                &channel_level,
                &facts(ConversationStatus::Resolved, None, None)
            ),
            Projection::default()
        );
    }

    #[test]
    fn projection_looks_at_the_facts_only_where_needs_facts_says() {
        let mut bodies = inert_bodies();
        bodies.extend([
            received(),
            sent(Some("m2"), None, agent()),
            EventBody::ContactOptedOut {
                source: ConsentSource::Platform,
            },
            updated(
                Some(ConversationStatus::Resolved),
                Some(Assignee::Nobody),
                Some(&["x"]),
            ),
        ]);
        let worlds = [
            ConversationFacts::default(),
            facts(ConversationStatus::Resolved, Some(LATER), Some(LATER)),
            facts(snoozed(), Some(EARLIER), None),
        ];
        for body in bodies {
            let results: Vec<Projection> = worlds
                .iter()
                .map(|current| projection(&event(body.clone(), T0), current))
                .collect();
            let differ = results.iter().any(|r| *r != results[0]);
            if differ {
                assert!(needs_facts(&body), "{body:?} reads facts it is not given");
            }
        }
        assert!(needs_facts(&received()));
        assert!(!needs_facts(&sent(None, Some("k"), agent())));
    }

    #[test]
    fn applying_a_projection_sets_exactly_its_columns() {
        let mut current = facts(ConversationStatus::Resolved, Some(EARLIER), Some(EARLIER));
        current.apply(&Projection::default());
        assert_eq!(
            current,
            facts(ConversationStatus::Resolved, Some(EARLIER), Some(EARLIER))
        );
        current.apply(&Projection {
            last_inbound_at: Some(at(LATER)),
            status: Some(ConversationStatus::Open),
            ..Projection::default()
        });
        assert_eq!(
            current,
            facts(ConversationStatus::Open, Some(LATER), Some(EARLIER))
        );
        current.apply(&Projection {
            last_outbound_at: Some(at(T0)),
            ..Projection::default()
        });
        assert_eq!(
            current,
            facts(ConversationStatus::Open, Some(LATER), Some(T0))
        );
        // A received message reopening a resolved conversation: its own projection, then
        // the derived reopening's, leave what a fresh read of the row would give.
        let mut resolved = facts(ConversationStatus::Resolved, Some(EARLIER), None);
        let message = event(received(), T0);
        let first = projection(&message, &resolved);
        resolved.apply(&first);
        assert_eq!(resolved.last_inbound_at, Some(at(T0)));
        for derived in &first.derived {
            let mut reopened = event(derived.body.clone(), T0);
            reopened.contact = None;
            resolved.apply(&projection(&reopened, &resolved));
        }
        assert_eq!(resolved.status, ConversationStatus::Open);
    }

    fn reply(sent: bool, sent_as: Option<SentAs>) -> EchoedReply {
        EchoedReply {
            sent,
            sender: agent(),
            sent_as,
        }
    }

    #[test]
    fn only_an_echo_with_our_key_is_looked_up() {
        let table = [
            (sent(Some("m2"), Some("k1"), external()), Some("k1")),
            (sent(Some("m2"), None, external()), None), // another app's message
            (sent(None, Some("k1"), external()), None), // no platform id: not an echo
            (sent(Some("m2"), Some("k1"), agent()), None), // our own outcome, not an echo
            (sent(Some("m2"), Some("k1"), Sender::Bot), None),
            (received(), None),
        ];
        for (body, key) in table {
            assert_eq!(echo_key(&body).map(|k| k.as_str()), key, "{body:?}");
        }
    }

    #[test]
    fn an_echo_of_our_reply_is_logged_once_as_the_reply() {
        let echo_body = sent(Some("m2"), Some("k1"), external());
        let as_reply = |sent_as: SentAs| {
            EventBody::MessageSent(OutboundMessage {
                message_id: Some("m2".into()),
                idempotency_key: Some(IdempotencyKey::new("k1")),
                content: MessageContent::Text {
                    body: "ya va".into(),
                },
                sender: agent(),
                sent_as,
                reply_to: None,
            })
        };
        let table = [
            // (the reply under the key, what the echo becomes)
            (None, EchoDecision::Keep), // a key we never gave out
            (
                Some(reply(true, Some(SentAs::Standard))),
                EchoDecision::Skip,
            ),
            (
                // failed, unknown, sending or queued: the echo proves it went out
                Some(reply(false, Some(SentAs::HumanAgentTag))),
                EchoDecision::MarkSent {
                    message_id: "m2".into(),
                    body: Box::new(as_reply(SentAs::HumanAgentTag)),
                },
            ),
            (
                Some(reply(false, None)), // never reached `sending`
                EchoDecision::MarkSent {
                    message_id: "m2".into(),
                    body: Box::new(as_reply(SentAs::Unknown)),
                },
            ),
        ];
        for (record, expected) in table {
            assert_eq!(echo(&echo_body, record.as_ref()), expected, "{record:?}");
        }
        // Without our key, or not an echo at all, nothing is reconciled whatever the reply.
        for body in [
            sent(Some("m2"), None, external()),
            sent(Some("m2"), Some("k1"), agent()),
            sent(None, Some("k1"), external()),
            received(),
        ] {
            for record in [None, Some(reply(true, None)), Some(reply(false, None))] {
                assert_eq!(echo(&body, record.as_ref()), EchoDecision::Keep, "{body:?}");
            }
        }
    }
}
