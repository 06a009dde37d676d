//! The storage contract every backend keeps, checked through the `Storage` trait only: a
//! backend passes when `run` does, given a way to open a fresh, empty store. SQLite's
//! `#[test]` is in `tests/store.rs`; a second backend is one more `#[test]` calling `run`.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeSet;
use ventana_protocol::event::{
    Actor, Assignee, ConsentSource, ConversationStatus, InboundMessage, Media, MessageContent,
    OutboundMessage, SendFailure, Sender, SentAs,
};
use ventana_protocol::ids::{
    AgentId, ChannelId, ContactId, ConversationId, EventId, IdempotencyKey, MediaId, ReceiptId,
    TenantId,
};
use ventana_protocol::{ChannelKind, ChannelSettings, EventBody};
use ventana_relay::audit;
use ventana_relay::store::*;

/// One clause of the contract, run on a fresh store.
pub type Check = fn(&dyn Storage);

/// Every clause, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("tenants", tenants),
    ("meta apps and channels", meta_apps_and_channels),
    ("agents", agents),
    ("sessions", sessions),
    ("bot keys and the tenant's policy", bot_keys_and_policy),
    (
        "each tenant's log is gap-free and duplicates use no number",
        gap_free_logs,
    ),
    ("a failed batch leaves nothing", failed_batch),
    (
        "a contact keeps one conversation and its latest name",
        one_conversation_per_contact,
    ),
    (
        "concurrent appends never share a number",
        concurrent_appends,
    ),
    ("the log is read in pages", log_paging),
    ("a queued append commits", queued_append),
    (
        "queued appends commit in queue order, and a failing one sinks no other",
        queued_group,
    ),
    (
        "appended events project the conversation's state",
        projection,
    ),
    ("snoozes end and customers wait", snoozes_and_waiting),
    ("replies and their idempotency keys", replies),
    (
        "a reply quotes only a message of its own conversation",
        quotable_messages,
    ),
    (
        "an echo of our reply is logged once as the reply",
        echo_reconciliation,
    ),
    ("templates", templates),
    ("channel changes and their event", channel_changes),
    ("erasure", erasure),
    ("deletion requests", deletion_requests),
    ("the audit chain verifies", audit_chain),
    ("quarantine", quarantine),
    (
        "retention redacts the channel's old history and keeps consent and the rest",
        retention,
    ),
    ("another tenant's ids are not found", tenant_isolation),
];

/// Runs every clause, each on a store `fresh` opens empty; names the clause that fails.
pub fn run(fresh: &mut dyn FnMut() -> Box<dyn Storage>) {
    for (name, check) in CHECKS {
        eprintln!("storage contract: {name}");
        let store = fresh();
        check(&*store);
    }
}

// ----- building blocks -----

pub const APP: &str = "app-1";

/// A tenant with a Messenger channel under [`APP`] (added if missing).
pub fn set_up(store: &dyn Storage, tenant: &str, page: &str) -> (TenantId, ChannelId) {
    let tenant = store.add_tenant(tenant).unwrap().id;
    if store.meta_app(APP).unwrap().is_none() {
        store
            .add_meta_app(MetaApp {
                app_id: APP.into(),
                secret_sealed: "v1:secret".into(),
                verify_token_sealed: None,
            })
            .unwrap();
    }
    let channel = store
        .add_channel(NewChannel {
            tenant: tenant.clone(),
            kind: ChannelKind::Messenger,
            external_id: page.into(),
            app_id: APP.into(),
            display_name: "Page".into(),
            waba_id: None,
        })
        .unwrap()
        .id;
    (tenant, channel)
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn received(id: &str, content: MessageContent) -> EventBody {
    EventBody::MessageReceived(InboundMessage {
        message_id: id.into(),
        content,
        sender_name: None,
        reply_to: None,
        referral: None,
    })
}

/// A customer's text message from `contact`, as a webhook brings it.
pub fn message(
    tenant: &TenantId,
    channel: &ChannelId,
    id: &str,
    contact: &str,
    name: Option<&str>,
) -> NewEvent {
    NewEvent {
        id: EventId::new(id),
        tenant: tenant.clone(),
        channel: channel.clone(),
        contact: Some(ContactRef {
            external_id: contact.into(),
            name: name.map(str::to_owned),
        }),
        conversation: None,
        occurred_at: Utc::now(),
        body: received(
            id,
            MessageContent::Text {
                body: format!("text of {id}"),
            },
        ),
        media: vec![],
    }
}

fn message_at(
    tenant: &TenantId,
    channel: &ChannelId,
    id: &str,
    contact: &str,
    occurred_at: DateTime<Utc>,
) -> NewEvent {
    NewEvent {
        occurred_at,
        ..message(tenant, channel, id, contact, None)
    }
}

/// An event the relay makes about a known conversation.
fn about(
    tenant: &TenantId,
    channel: &ChannelId,
    conversation: &ConversationInfo,
    id: &str,
    occurred_at: DateTime<Utc>,
    body: EventBody,
) -> NewEvent {
    NewEvent {
        id: EventId::new(id),
        tenant: tenant.clone(),
        channel: channel.clone(),
        contact: None,
        conversation: Some((conversation.contact.clone(), conversation.id.clone())),
        occurred_at,
        body,
        media: vec![],
    }
}

fn workflow(status: Option<ConversationStatus>) -> EventBody {
    EventBody::ConversationUpdated {
        by: Actor::Agent {
            agent: AgentId::new("a1"),
        },
        status,
        assignee: None,
        labels: None,
    }
}

fn sent_body(message_id: Option<&str>, key: Option<&str>, sender: Sender) -> EventBody {
    EventBody::MessageSent(OutboundMessage {
        message_id: message_id.map(Into::into),
        idempotency_key: key.map(IdempotencyKey::new),
        content: MessageContent::Text {
            body: "on its way".into(),
        },
        sender,
        sent_as: SentAs::Standard,
        reply_to: None,
    })
}

/// Appends a customer's message and returns its conversation.
fn customer_writes(store: &dyn Storage, event: NewEvent) -> ConversationInfo {
    let tenant = event.tenant.clone();
    let appended = store.append(vec![event]).unwrap();
    conversation_of(store, &tenant, &appended)
}

/// The conversation of the first entry of `appended`.
fn conversation_of(
    store: &dyn Storage,
    tenant: &TenantId,
    appended: &Appended,
) -> ConversationInfo {
    let id = appended.entries[0].event.conversation.clone().unwrap();
    store.conversation(tenant, &id).unwrap().unwrap()
}

fn state(store: &dyn Storage, tenant: &TenantId, id: &ConversationId) -> ConversationState {
    store.conversation_state(tenant, id).unwrap().unwrap()
}

pub fn seqs(store: &dyn Storage, tenant: &TenantId) -> Vec<u64> {
    store
        .read_log(tenant, 0, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

fn record(tenant: &TenantId, action: &str) -> AuditRecord {
    AuditRecord {
        tenant: tenant.clone(),
        actor: "admin-cli".into(),
        action: action.into(),
        detail: serde_json::json!({"what": action}),
    }
}

fn new_agent(tenant: &TenantId, email: &str, role: Role) -> NewAgent {
    NewAgent {
        tenant: tenant.clone(),
        email: email.into(),
        name: Some("Ana".into()),
        role,
        password_hash: format!("hash-of-{email}"),
        must_change_password: false,
    }
}

fn hash(byte: u8) -> [u8; 32] {
    [byte; 32]
}

fn tokens(access: u8, refresh: u8, now: DateTime<Utc>) -> SessionTokens {
    SessionTokens {
        access_hash: hash(access),
        access_expires_at: now + TimeDelta::minutes(15),
        refresh_hash: hash(refresh),
        refresh_expires_at: now + TimeDelta::days(7),
    }
}

fn reply_record(
    tenant: &TenantId,
    conversation: &ConversationId,
    key: &str,
    request: &str,
) -> ReplyRecord {
    ReplyRecord {
        tenant: tenant.clone(),
        key: IdempotencyKey::new(key),
        conversation: conversation.clone(),
        request_hash: hash(request.len() as u8),
        request: request.into(),
        sender: Sender::Agent {
            agent: AgentId::new("a1"),
        },
        sent_as: None,
        state: ReplyState::Queued,
        message_id: None,
        failure: None,
        attempts: 0,
    }
}

fn failure() -> SendFailure {
    SendFailure {
        code: 131056,
        subcode: None,
        reason: "Too many messages to this person; trying again shortly.".into(),
        retryable: true,
    }
}

/// Applies an admin's change to an agent, audited.
fn change(
    store: &dyn Storage,
    tenant: &TenantId,
    agent: &AgentId,
    change: AgentChange,
) -> (Agent, EndedSessions) {
    store
        .change_agent(tenant, agent, change, record(tenant, "agent_change"))
        .unwrap()
}

fn disabled() -> AgentChange {
    AgentChange {
        status: Some(AgentStatus::Disabled),
        ..AgentChange::default()
    }
}

/// Erases a contact as an admin would.
fn erase(
    store: &dyn Storage,
    tenant: &TenantId,
    contact: &ContactId,
    receipt: &str,
) -> Result<ErasureReceipt, StoreError> {
    store.erase_contact(
        tenant,
        contact,
        ReceiptId::new(receipt),
        record(tenant, "erase"),
        &LedgerEntry {
            kind: "contact".into(),
            subject_hash: format!("hash-of-{contact}"),
            tenant: tenant.to_string(),
            erased_at: "2026-01-01T00:00:00Z".into(),
        },
    )
}

/// Ends the key's attempt with `outcome`, recording no events.
fn finish(store: &dyn Storage, tenant: &TenantId, key: &IdempotencyKey, outcome: ReplyOutcome) {
    store
        .finish_reply(tenant, key, outcome, vec![], None)
        .unwrap();
}

/// Reserves `record`'s key, marks it sending as `sent_as` and ends it with `outcome`.
fn attempt(store: &dyn Storage, record: &ReplyRecord, sent_as: SentAs, outcome: ReplyOutcome) {
    store.reserve_reply(record.clone()).unwrap();
    store
        .reply_sending(&record.tenant, &record.key, sent_as)
        .unwrap();
    finish(store, &record.tenant, &record.key, outcome);
}

// ----- the clauses -----

fn tenants(store: &dyn Storage) {
    let globex = store.add_tenant("globex").unwrap();
    let acme = store.add_tenant("acme").unwrap();
    assert_ne!(acme.id, globex.id);
    assert_eq!(store.find_tenant("acme").unwrap(), Some(acme.clone()));
    assert_eq!(
        store.find_tenant(acme.id.as_str()).unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.find_tenant("initech").unwrap(), None);
    assert!(matches!(
        store.add_tenant("acme"),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.tenants().unwrap(), vec![acme.clone(), globex]);
    assert_eq!(store.head(&acme.id).unwrap(), 0);
    assert!(matches!(
        store.head(&TenantId::new("no-such-tenant")),
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.agents_may_erase(&acme.id).unwrap());
    store.set_agents_may_erase(&acme.id, true).unwrap();
    assert!(store.agents_may_erase(&acme.id).unwrap());
}

fn meta_apps_and_channels(store: &dyn Storage) {
    let acme = store.add_tenant("acme").unwrap().id;
    let app = MetaApp {
        app_id: APP.into(),
        secret_sealed: "v1:secret".into(),
        verify_token_sealed: Some("v1:verify".into()),
    };
    store.add_meta_app(app.clone()).unwrap();
    assert_eq!(store.meta_app(APP).unwrap(), Some(app.clone()));
    assert_eq!(store.meta_app("app-2").unwrap(), None);
    assert!(matches!(
        store.add_meta_app(app),
        Err(StoreError::Conflict(_))
    ));

    let new = |kind, external_id: &str, app_id: &str| NewChannel {
        tenant: acme.clone(),
        kind,
        external_id: external_id.into(),
        app_id: app_id.into(),
        display_name: "Acme".into(),
        waba_id: None,
    };
    assert!(matches!(
        store.add_channel(new(ChannelKind::Messenger, "p1", "app-2")),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.add_channel(NewChannel {
            tenant: TenantId::new("no-such-tenant"),
            ..new(ChannelKind::Messenger, "p1", APP)
        }),
        Err(StoreError::NotFound(_))
    ));
    let page = store
        .add_channel(new(ChannelKind::Messenger, "p1", APP))
        .unwrap();
    assert_eq!(
        (
            page.human_agent_approved,
            page.has_token,
            &page.needs_reconnection
        ),
        (false, false, &None)
    );
    assert_eq!(*page.settings, ChannelSettings::default());
    let whatsapp = store
        .add_channel(new(ChannelKind::WhatsApp, "p1", APP))
        .unwrap();
    assert!(matches!(
        store.add_channel(new(ChannelKind::Messenger, "p1", APP)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .channel_by_external_id(ChannelKind::Messenger, "p1")
            .unwrap(),
        Some(page.clone())
    );
    assert_eq!(
        store
            .channel_by_external_id(ChannelKind::Instagram, "p1")
            .unwrap(),
        None
    );
    assert_eq!(store.channel(&acme, &page.id).unwrap(), Some(page.clone()));
    assert_eq!(store.channel_token(&page.id).unwrap(), None);
    let mut listed = store.channels_of(&acme).unwrap();
    listed.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut expected = vec![page, whatsapp];
    expected.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(listed, expected);
}

fn agents(store: &dyn Storage) {
    let acme = store.add_tenant("acme").unwrap().id;
    let ana = store
        .add_agent(
            new_agent(&acme, " Ana@Acme.test ", Role::Admin),
            Some(record(&acme, "agent_add")),
        )
        .unwrap();
    assert_eq!(ana.email, "ana@acme.test");
    assert_eq!((ana.role, ana.status), (Role::Admin, AgentStatus::Active));
    assert!(matches!(
        store.add_agent(new_agent(&acme, "ana@acme.test", Role::Agent), None),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.add_agent(
            new_agent(&TenantId::new("no-such-tenant"), "x@y.test", Role::Agent),
            None
        ),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.agent(&acme, &ana.id).unwrap(), Some(ana.clone()));
    let by_email = store.agents_by_email("ana@acme.test").unwrap();
    assert_eq!(
        by_email,
        vec![(ana.clone(), "hash-of- Ana@Acme.test ".into())]
    );

    // The tenant keeps an active admin.
    assert!(matches!(
        store.change_agent(
            &acme,
            &ana.id,
            AgentChange {
                role: Some(Role::Agent),
                ..AgentChange::default()
            },
            record(&acme, "agent_change"),
        ),
        Err(StoreError::Refused("last_admin", _))
    ));
    assert!(matches!(
        store.remove_agent(&acme, &ana.id, record(&acme, "agent_remove")),
        Err(StoreError::Refused("last_admin", _))
    ));
    let gus = store
        .add_agent(new_agent(&acme, "gus@acme.test", Role::Agent), None)
        .unwrap();
    let (gus, _) = change(
        store,
        &acme,
        &gus.id,
        AgentChange {
            role: Some(Role::Admin),
            name: Some(Some("Gus".into())),
            ..AgentChange::default()
        },
    );
    assert_eq!((gus.role, gus.name.as_deref()), (Role::Admin, Some("Gus")));
    let (ana, _) = change(store, &acme, &ana.id, disabled());
    assert_eq!(ana.status, AgentStatus::Disabled);
    assert_eq!(
        store
            .agents_of(&acme)
            .unwrap()
            .iter()
            .map(|a| a.email.as_str())
            .collect::<Vec<_>>(),
        vec!["ana@acme.test", "gus@acme.test"]
    );

    // A removed agent stays an id: not listed, not found by email, the email free again.
    store
        .remove_agent(&acme, &ana.id, record(&acme, "agent_remove"))
        .unwrap();
    let removed = store.agent(&acme, &ana.id).unwrap().unwrap();
    assert_eq!(removed.status, AgentStatus::Removed);
    assert_ne!(removed.email, "ana@acme.test");
    assert_eq!(store.password_hash(&acme, &ana.id).unwrap(), None);
    assert!(store.agents_by_email("ana@acme.test").unwrap().is_empty());
    assert_eq!(store.agents_of(&acme).unwrap(), vec![gus.clone()]);
    assert!(matches!(
        store.change_agent(
            &acme,
            &ana.id,
            AgentChange::default(),
            record(&acme, "agent_change")
        ),
        Err(StoreError::NotFound(_))
    ));
    store
        .add_agent(new_agent(&acme, "ana@acme.test", Role::Agent), None)
        .unwrap();

    let now = Utc::now();
    store.record_sign_in(&gus.id, now).unwrap();
    assert!(
        store
            .agent(&acme, &gus.id)
            .unwrap()
            .unwrap()
            .last_sign_in_at
            .is_some()
    );
    store
        .set_password(
            &acme,
            &gus.id,
            "new-hash".into(),
            true,
            None,
            record(&acme, "password_reset"),
        )
        .unwrap();
    assert_eq!(
        store.password_hash(&acme, &gus.id).unwrap().as_deref(),
        Some("new-hash")
    );
    assert!(
        store
            .agent(&acme, &gus.id)
            .unwrap()
            .unwrap()
            .must_change_password
    );
}

fn sessions(store: &dyn Storage) {
    let acme = store.add_tenant("acme").unwrap().id;
    let ana = store
        .add_agent(new_agent(&acme, "ana@acme.test", Role::Admin), None)
        .unwrap();
    let gus = store
        .add_agent(new_agent(&acme, "gus@acme.test", Role::Agent), None)
        .unwrap();
    let now = Utc::now();
    let session = |id: &str, access, refresh| NewSession {
        id: id.into(),
        tokens: tokens(access, refresh, now),
        expires_at: now + TimeDelta::days(30),
        client: Some("Ventana test".into()),
    };
    store.create_session(&ana, session("s1", 1, 2)).unwrap();
    store.create_session(&ana, session("s2", 3, 4)).unwrap();
    store.create_session(&gus, session("s3", 5, 6)).unwrap();

    let live = store.session_by_access(&hash(1), now).unwrap().unwrap();
    assert_eq!((live.session_id.as_str(), &live.agent.id), ("s1", &ana.id));
    assert_eq!(
        store
            .session_by_access(&hash(1), now + TimeDelta::minutes(16))
            .unwrap(),
        None,
        "an access token outlives its expiry"
    );
    assert_eq!(store.session_by_access(&hash(2), now).unwrap(), None);
    let found = store
        .session_for_refresh(Some("s1"), &hash(2))
        .unwrap()
        .unwrap();
    assert_eq!((found.id.as_str(), found.refresh_hash), ("s1", hash(2)));
    assert_eq!(found.revoked, None);
    assert_eq!(
        store
            .session_for_refresh(None, &hash(2))
            .unwrap()
            .map(|s| s.id),
        Some("s1".into())
    );

    // Rotation wins once for the expected hash.
    let rotated = store
        .rotate_session(
            "s1",
            &hash(2),
            Some(hash(2)),
            Some(now),
            tokens(7, 8, now),
            now,
        )
        .unwrap();
    assert_eq!(rotated.map(|s| s.session_id), Some("s1".into()));
    assert_eq!(
        store
            .rotate_session("s1", &hash(2), None, None, tokens(9, 10, now), now)
            .unwrap(),
        None
    );
    let after = store
        .session_for_refresh(Some("s1"), &hash(8))
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.refresh_hash, after.previous_refresh_hash),
        (hash(8), Some(hash(2)))
    );
    assert_eq!(store.session_by_access(&hash(1), now).unwrap(), None);
    assert!(store.session_by_access(&hash(7), now).unwrap().is_some());

    let mut listed: Vec<String> = store
        .sessions_of(&acme, &ana.id, now)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["s1", "s2"]);

    assert_eq!(store.session_end("s2", now).unwrap(), None);
    assert!(
        store
            .end_session("s2", EndReason::SignedOut, now, None)
            .unwrap()
    );
    assert!(
        !store
            .end_session("s2", EndReason::SessionRevoked, now, None)
            .unwrap()
    );
    assert_eq!(
        store.session_end("s2", now).unwrap(),
        Some(EndReason::SignedOut)
    );
    assert_eq!(
        store.session_end("s1", now + TimeDelta::days(31)).unwrap(),
        Some(EndReason::SessionExpired)
    );

    // A password change ends the agent's other sessions; disabling ends them all.
    store.create_session(&gus, session("s4", 11, 12)).unwrap();
    let ended = store
        .set_password(
            &acme,
            &gus.id,
            "h".into(),
            false,
            Some("s4"),
            record(&acme, "password_change"),
        )
        .unwrap();
    assert_eq!(
        (ended.ids, ended.reason),
        (vec!["s3".to_owned()], Some(EndReason::PasswordChanged))
    );
    let (_, ended) = change(store, &acme, &gus.id, disabled());
    assert_eq!(
        (ended.ids, ended.reason),
        (vec!["s4".to_owned()], Some(EndReason::AccessDisabled))
    );
    assert_eq!(store.session_by_access(&hash(11), now).unwrap(), None);
    assert_eq!(
        store.session_end("s4", now).unwrap(),
        Some(EndReason::AccessDisabled)
    );
}

fn bot_keys_and_policy(store: &dyn Storage) {
    let acme = store.add_tenant("acme").unwrap().id;
    let key = store
        .add_bot_key(&acme, "triage", hash(1), Some(record(&acme, "bot_key_add")))
        .unwrap();
    assert_eq!((key.name.as_str(), key.revoked_at), ("triage", None));
    assert_eq!(store.bot_keys(&acme).unwrap(), vec![key.clone()]);
    assert_eq!(
        store.bot_by_key(&hash(1)).unwrap(),
        Some(BotIdentity {
            tenant: acme.clone(),
            name: "triage".into()
        })
    );
    let rotated = store
        .rotate_bot_key(&acme, &key.id, hash(2), record(&acme, "bot_key_rotate"))
        .unwrap();
    assert_eq!(rotated.map(|k| k.id), Some(key.id.clone()));
    assert_eq!(store.bot_by_key(&hash(1)).unwrap(), None);
    assert!(store.bot_by_key(&hash(2)).unwrap().is_some());
    assert!(
        store
            .revoke_bot_key(&acme, &key.id, record(&acme, "bot_key_revoke"))
            .unwrap()
    );
    assert!(
        !store
            .revoke_bot_key(&acme, &key.id, record(&acme, "bot_key_revoke"))
            .unwrap()
    );
    assert_eq!(store.bot_by_key(&hash(2)).unwrap(), None);
    assert_eq!(
        store
            .rotate_bot_key(&acme, &key.id, hash(3), record(&acme, "bot_key_rotate"))
            .unwrap(),
        None
    );

    assert_eq!(store.tenant_policy(&acme).unwrap(), TenantPolicy::default());
    let policy = TenantPolicy {
        wipe_cache_on_removal: true,
    };
    store
        .set_tenant_policy(&acme, policy, record(&acme, "tenant_policy"))
        .unwrap();
    assert_eq!(store.tenant_policy(&acme).unwrap(), policy);
}

fn gap_free_logs(store: &dyn Storage) {
    let (acme, acme_page) = set_up(store, "acme", "p1");
    let (globex, globex_page) = set_up(store, "globex", "p2");
    let first = store
        .append(vec![
            message(&acme, &acme_page, "msg:a", "u1", None),
            message(&globex, &globex_page, "msg:b", "u9", None),
            message(&acme, &acme_page, "msg:a", "u1", None), // the same event twice in one batch
            message(&acme, &acme_page, "msg:c", "u1", None),
        ])
        .unwrap();
    assert_eq!(first.duplicates, 1);
    let again = store
        .append(vec![
            message(&acme, &acme_page, "msg:c", "u1", None), // a redelivery
            message(&acme, &acme_page, "msg:d", "u2", None),
        ])
        .unwrap();
    assert_eq!(again.duplicates, 1);
    assert_eq!(
        again.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(seqs(store, &acme), vec![1, 2, 3]);
    assert_eq!(seqs(store, &globex), vec![1]);
    assert_eq!(store.head(&acme).unwrap(), 3);
    assert_eq!(store.head(&globex).unwrap(), 1);
}

fn failed_batch(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    store
        .append(vec![message(&acme, &page, "msg:1", "u1", None)])
        .unwrap();
    // The second event names a tenant that doesn't exist: the whole batch must fail.
    let ghost = TenantId::new("no-such-tenant");
    let failed = store.append(vec![
        message(&acme, &page, "msg:2", "u2", Some("Nuevo")),
        message(&ghost, &page, "msg:3", "u3", None),
    ]);
    assert!(
        failed.is_err(),
        "a batch naming an unknown tenant was stored: {failed:?}"
    );
    assert_eq!(seqs(store, &acme), vec![1]);
    // Nothing of it was kept, in the database or in the backend's memory.
    let next = store
        .append(vec![message(&acme, &page, "msg:2", "u2", None)])
        .unwrap();
    assert_eq!(next.entries[0].seq, 2);
    assert_eq!(seqs(store, &acme), vec![1, 2]);
    let conversation = next.entries[0].event.conversation.clone().unwrap();
    assert!(
        store.conversation(&acme, &conversation).unwrap().is_some(),
        "the event points at a conversation that was rolled back"
    );
}

fn quotable_messages(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let (globex, other_page) = set_up(store, "globex", "p2");
    let ana = customer_writes(store, message(&acme, &page, "msg:m1", "u1", None));
    let bo = customer_writes(store, message(&acme, &page, "msg:m2", "u2", None));
    let elsewhere = customer_writes(store, message(&globex, &other_page, "msg:m3", "u1", None));
    let quotable = |tenant: &TenantId, conversation: &ConversationInfo, id: &str| {
        store
            .message_in_conversation(tenant, &conversation.id, id)
            .unwrap()
    };
    assert!(quotable(&acme, &ana, "m1"));
    assert!(quotable(&acme, &bo, "m2"));
    assert!(
        !quotable(&acme, &ana, "m2"),
        "another conversation's message"
    );
    assert!(
        !quotable(&acme, &bo, "m1"),
        "another conversation's message"
    );
    assert!(!quotable(&acme, &ana, "m3"), "another tenant's message");
    assert!(
        !quotable(&globex, &ana, "m1"),
        "another tenant's conversation"
    );
    assert!(quotable(&globex, &elsewhere, "m3"));
    assert!(!quotable(&acme, &ana, "nope"));
    assert!(!quotable(&acme, &ana, ""));
}

fn one_conversation_per_contact(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let a = store
        .append(vec![message(&acme, &page, "msg:1", "u1", Some("Ana"))])
        .unwrap();
    let b = store
        .append(vec![message(&acme, &page, "msg:2", "u1", None)])
        .unwrap();
    let c = store
        .append(vec![message(&acme, &page, "msg:3", "u2", None)])
        .unwrap();
    let (a, b, c) = (
        &a.entries[0].event,
        &b.entries[0].event,
        &c.entries[0].event,
    );
    assert_eq!(a.contact, b.contact);
    assert_eq!(a.conversation, b.conversation);
    assert_ne!(a.conversation, c.conversation);
    let conversation = store
        .conversation(&acme, a.conversation.as_ref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(Some(conversation.contact), a.contact);
    assert_eq!((conversation.tenant, conversation.channel), (acme, page));
}

fn concurrent_appends(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (acme, page) = (&acme, &page);
            scope.spawn(move || {
                for i in 0..50 {
                    let id = format!("msg:{t}:{i}");
                    store
                        .append(vec![message(acme, page, &id, &format!("u{t}"), None)])
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(seqs(store, &acme), (1..=400).collect::<Vec<_>>());
}

fn log_paging(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let events = (1..=7)
        .map(|i| message(&acme, &page, &format!("msg:{i}"), "u1", None))
        .collect();
    let appended = store.append(events).unwrap();
    let pages: Vec<Vec<u64>> = [(0, 3), (3, 3), (6, 3), (7, 3)]
        .into_iter()
        .map(|(after, limit)| {
            store
                .read_log(&acme, after, limit)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect()
        })
        .collect();
    assert_eq!(pages, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7], vec![]]);
    // What is read is what was appended.
    assert_eq!(store.read_log(&acme, 0, 100).unwrap(), appended.entries);
    assert_eq!(store.head(&acme).unwrap(), 7);
}

fn queued_append(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let first = store
        .append_queued(vec![message(&acme, &page, "msg:1", "u1", None)])
        .unwrap();
    let second = store
        .append_queued(vec![
            message(&acme, &page, "msg:1", "u1", None),
            message(&acme, &page, "msg:2", "u1", None),
        ])
        .unwrap();
    let (first, second) = runtime.block_on(async {
        (
            first.committed().await.unwrap(),
            second.committed().await.unwrap(),
        )
    });
    assert_eq!(
        first.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(
        (
            second.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            second.duplicates
        ),
        (vec![2], 1)
    );
    assert_eq!(seqs(store, &acme), vec![1, 2]);
}

/// Appends queued together share a transaction on every backend (group commit); each must
/// still stand alone: numbered in queue order, one that fails leaves the others committed.
fn queued_group(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let nobody = TenantId::new("no-such-tenant");
    let pending: Vec<_> = (1..=60)
        .map(|i| {
            let tenant = if i == 30 { &nobody } else { &acme };
            let id = format!("msg:{i}");
            store
                .append_queued(vec![message(tenant, &page, &id, "u1", None)])
                .unwrap()
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let outcomes: Vec<_> = runtime.block_on(async {
        let mut outcomes = Vec::new();
        for append in pending {
            outcomes.push(append.committed().await);
        }
        outcomes
    });
    let mut expected = 1;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        if i + 1 == 30 {
            assert!(outcome.is_err(), "an append to no tenant committed");
            continue;
        }
        let seqs: Vec<u64> = outcome.unwrap().entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![expected], "append {} out of queue order", i + 1);
        expected += 1;
    }
    assert_eq!(seqs(store, &acme), (1..=59).collect::<Vec<_>>());
    // The head is what was committed, and the next append follows it.
    assert_eq!(store.head(&acme).unwrap(), 59);
    let next = store
        .append(vec![message(&acme, &page, "msg:61", "u1", None)])
        .unwrap();
    assert_eq!(next.entries[0].seq, 60);
}

fn retention(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let other = store
        .add_channel(NewChannel {
            tenant: acme.clone(),
            kind: ChannelKind::Messenger,
            external_id: "p2".into(),
            app_id: APP.into(),
            display_name: "Other page".into(),
            waba_id: None,
        })
        .unwrap()
        .id;
    let mut opted_out = message(&acme, &page, "optout:u1", "u1", None);
    opted_out.body = EventBody::ContactOptedOut {
        source: ConsentSource::Keyword {
            keyword: "STOP".into(),
        },
    };
    store
        .append(vec![
            message(&acme, &page, "msg:old-1", "u1", None),
            message(&acme, &other, "msg:other", "u2", None),
            opted_out,
        ])
        .unwrap();
    let old = store
        .append(vec![message(&acme, &page, "msg:old-2", "u1", None)])
        .unwrap();
    let new = store
        .append(vec![message(&acme, &page, "msg:new", "u1", None)])
        .unwrap();
    // Everything recorded before the newest message goes (the cutoff is exclusive).
    let cutoff = new.entries[0].event.recorded_at;
    assert!(old.entries[0].event.recorded_at < cutoff);

    // A pass stops at its batch size and says it is not done; the next goes on.
    let first = store
        .purge_history(&acme, &page, cutoff, ReceiptId::new("r1"), 1)
        .unwrap();
    assert_eq!((first.events_redacted, first.done), (1, false));
    let second = store
        .purge_history(&acme, &page, cutoff, ReceiptId::new("r2"), 1000)
        .unwrap();
    assert_eq!((second.events_redacted, second.done), (1, true));
    assert_eq!(second.before, cutoff);

    let log = store.read_log(&acme, 0, 1000).unwrap();
    let kinds: Vec<(String, &str)> = log
        .iter()
        .map(|e| (e.event.id.to_string(), e.event.body.type_name()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("msg:old-1".to_owned(), "redacted"),
            ("msg:other".to_owned(), "message_received"),
            ("optout:u1".to_owned(), "contact_opted_out"),
            ("msg:old-2".to_owned(), "redacted"),
            ("msg:new".to_owned(), "message_received"),
            ("purged:r1".to_owned(), "history_purged"),
            ("purged:r2".to_owned(), "history_purged"),
        ]
    );
    assert_eq!(seqs(store, &acme), (1..=7).collect::<Vec<_>>());
    let text = serde_json::to_string(&log.iter().map(|e| &e.event).collect::<Vec<_>>()).unwrap();
    assert!(
        !text.contains("text of msg:old"),
        "old text left in the log"
    );
    assert!(text.contains("text of msg:new") && text.contains("text of msg:other"));
    let purges: Vec<_> = store
        .audit_log(&acme)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.action == "retention_purge")
        .map(|entry| entry.detail["events_redacted"].as_u64())
        .collect();
    assert_eq!(purges, vec![Some(1), Some(1)]);

    // Nothing more to purge: no event, no audit entry.
    let again = store
        .purge_history(&acme, &page, cutoff, ReceiptId::new("r3"), 1000)
        .unwrap();
    assert_eq!((again.events_redacted, again.done), (0, true));
    assert_eq!(store.head(&acme).unwrap(), 7);

    // Quarantined bodies go by age.
    store.quarantine(APP, "unknown channel", b"{}").unwrap();
    let past = Utc::now() - TimeDelta::days(1);
    assert_eq!(store.purge_quarantine(past).unwrap(), 0);
    let future = Utc::now() + TimeDelta::seconds(1);
    assert_eq!(store.purge_quarantine(future).unwrap(), 1);
    assert_eq!(store.quarantine_count().unwrap(), 0);
}

fn projection(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let t0 = at("2026-03-01T10:00:00Z");
    let conversation = customer_writes(store, message_at(&acme, &page, "msg:1", "u1", t0));
    let fresh = state(store, &acme, &conversation.id);
    assert_eq!(
        (
            fresh.status,
            fresh.last_inbound_at,
            fresh.last_outbound_at,
            fresh.assignee,
            fresh.labels.len(),
            fresh.marketing_opted_out
        ),
        (ConversationStatus::Open, Some(t0), None, None, 0, false)
    );
    assert_eq!(fresh.contact_external_id, "u1");
    assert_eq!(fresh.channel.id, page);

    // An older message does not move the last inbound time back.
    store
        .append(vec![message_at(
            &acme,
            &page,
            "msg:0",
            "u1",
            t0 - TimeDelta::hours(1),
        )])
        .unwrap();
    assert_eq!(
        state(store, &acme, &conversation.id).last_inbound_at,
        Some(t0)
    );

    // A business message with a platform id counts; a failed one does not.
    let t1 = t0 + TimeDelta::minutes(5);
    store
        .append(vec![
            about(
                &acme,
                &page,
                &conversation,
                "sent:failed",
                t1 + TimeDelta::minutes(1),
                sent_body(None, Some("k0"), Sender::Bot),
            ),
            about(
                &acme,
                &page,
                &conversation,
                "msg:out1",
                t1,
                sent_body(Some("out1"), None, Sender::Bot),
            ),
        ])
        .unwrap();
    assert_eq!(
        state(store, &acme, &conversation.id).last_outbound_at,
        Some(t1)
    );

    // Workflow changes: assignee, labels, status.
    let agent = AgentId::new("a1");
    store
        .append(vec![about(
            &acme,
            &page,
            &conversation,
            "wf:1",
            t1,
            EventBody::ConversationUpdated {
                by: Actor::System,
                status: Some(ConversationStatus::Pending),
                assignee: Some(Assignee::Agent {
                    agent: agent.clone(),
                }),
                labels: Some(BTreeSet::from(["vip".to_owned()])),
            },
        )])
        .unwrap();
    let changed = state(store, &acme, &conversation.id);
    assert_eq!(
        (changed.status, changed.assignee, changed.labels),
        (
            ConversationStatus::Pending,
            Some(agent),
            BTreeSet::from(["vip".to_owned()])
        )
    );
    store
        .append(vec![about(
            &acme,
            &page,
            &conversation,
            "wf:2",
            t1,
            EventBody::ConversationUpdated {
                by: Actor::System,
                status: None,
                assignee: Some(Assignee::Nobody),
                labels: None,
            },
        )])
        .unwrap();
    let unassigned = state(store, &acme, &conversation.id);
    assert_eq!(
        (
            unassigned.status,
            unassigned.assignee,
            unassigned.labels.len()
        ),
        (ConversationStatus::Pending, None, 1)
    );

    // A customer writing into a resolved, then a snoozed, conversation reopens it, in
    // the same append, right after their message.
    for (n, status) in [
        ConversationStatus::Resolved,
        ConversationStatus::Snoozed {
            until: t0 + TimeDelta::days(1),
        },
    ]
    .into_iter()
    .enumerate()
    {
        store
            .append(vec![about(
                &acme,
                &page,
                &conversation,
                &format!("wf:close:{n}"),
                t1,
                workflow(Some(status.clone())),
            )])
            .unwrap();
        assert_eq!(state(store, &acme, &conversation.id).status, status);
        let id = format!("msg:again:{n}");
        let appended = store
            .append(vec![message_at(&acme, &page, &id, "u1", t1)])
            .unwrap();
        let kinds: Vec<(&str, &str)> = appended
            .entries
            .iter()
            .map(|e| (e.event.id.as_str(), e.event.body.type_name()))
            .collect();
        let reopen = format!("reopen:{id}");
        assert_eq!(
            kinds,
            vec![
                (id.as_str(), "message_received"),
                (reopen.as_str(), "conversation_updated")
            ]
        );
        assert_eq!(
            appended.entries[1].event.conversation.as_ref(),
            Some(&conversation.id)
        );
        assert_eq!(
            state(store, &acme, &conversation.id).status,
            ConversationStatus::Open
        );
    }
    // An open conversation is not reopened.
    let appended = store
        .append(vec![message_at(&acme, &page, "msg:open", "u1", t1)])
        .unwrap();
    assert_eq!(appended.entries.len(), 1);

    // The contact's marketing opt-out follows their opt-out and opt-in.
    for (id, body, out) in [
        (
            "optout:1",
            EventBody::ContactOptedOut {
                source: ConsentSource::Platform,
            },
            true,
        ),
        (
            "optin:1",
            EventBody::ContactOptedIn {
                source: ConsentSource::Platform,
            },
            false,
        ),
    ] {
        store
            .append(vec![NewEvent {
                body,
                ..message(&acme, &page, id, "u1", None)
            }])
            .unwrap();
        assert_eq!(
            state(store, &acme, &conversation.id).marketing_opted_out,
            out,
            "{id}"
        );
    }
}

fn snoozes_and_waiting(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let now = Utc::now();
    let waiting = customer_writes(
        store,
        message_at(&acme, &page, "msg:1", "u1", now - TimeDelta::minutes(30)),
    );
    let answered = customer_writes(
        store,
        message_at(&acme, &page, "msg:2", "u2", now - TimeDelta::minutes(30)),
    );
    store
        .append(vec![about(
            &acme,
            &page,
            &answered,
            "msg:out",
            now - TimeDelta::minutes(10),
            sent_body(Some("out"), None, Sender::Bot),
        )])
        .unwrap();
    let listed: Vec<ConversationId> = store
        .waiting_conversations(now)
        .unwrap()
        .into_iter()
        .map(|w| w.conversation)
        .collect();
    assert_eq!(listed, vec![waiting.id.clone()]);

    let until = now + TimeDelta::hours(1);
    store
        .append(vec![about(
            &acme,
            &page,
            &waiting,
            "wf:snooze",
            now,
            workflow(Some(ConversationStatus::Snoozed { until })),
        )])
        .unwrap();
    assert!(store.waiting_conversations(now).unwrap().is_empty());
    assert!(store.ended_snoozes(now).unwrap().is_empty());
    let ended = store.ended_snoozes(until).unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (
            &ended[0].conversation,
            &ended[0].contact,
            &ended[0].channel,
            ended[0].until
        ),
        (&waiting.id, &waiting.contact, &page, until)
    );
}

fn replies(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let conversation = customer_writes(store, message(&acme, &page, "msg:1", "u1", None));
    let asked = reply_record(&acme, &conversation.id, "k1", "{\"text\":\"hola\"}");

    let Reservation::New(new) = store.reserve_reply(asked.clone()).unwrap() else {
        panic!("a new key was not reserved as new");
    };
    assert_eq!(
        (new.state, new.attempts, &new.sent_as, &new.message_id),
        (ReplyState::Queued, 0, &None, &None)
    );
    assert_eq!(new.request, asked.request);
    assert!(matches!(
        store.reserve_reply(asked.clone()).unwrap(),
        Reservation::Existing(existing) if existing.state == ReplyState::Queued
    ));
    assert_eq!(store.reply(&acme, &asked.key).unwrap(), Some(new.clone()));
    assert_eq!(
        store
            .unfinished_replies()
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect::<Vec<_>>(),
        vec![asked.key.clone()]
    );

    let sending = store
        .reply_sending(&acme, &asked.key, SentAs::Standard)
        .unwrap();
    assert_eq!(
        (sending.state, sending.attempts, sending.sent_as),
        (ReplyState::Sending, 1, Some(SentAs::Standard))
    );
    assert!(matches!(
        store.reply_sending(&acme, &asked.key, SentAs::Standard),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.unfinished_replies().unwrap().len(), 1);

    // Meta refused: failed, and the same request under the same key may try again.
    finish(
        store,
        &acme,
        &asked.key,
        ReplyOutcome::Failed {
            failure: failure(),
            retry: false,
        },
    );
    let failed = store.reply(&acme, &asked.key).unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.failure.is_some()),
        (ReplyState::Failed, true)
    );
    assert!(store.unfinished_replies().unwrap().is_empty());
    let other_request = reply_record(&acme, &conversation.id, "k1", "{\"text\":\"adiós!\"}");
    assert!(matches!(
        store.reserve_reply(other_request).unwrap(),
        Reservation::Existing(_)
    ));
    let Reservation::Requeued(requeued) = store.reserve_reply(asked.clone()).unwrap() else {
        panic!("a failed reply with the same request was not requeued");
    };
    assert_eq!(
        (requeued.state, requeued.failure),
        (ReplyState::Queued, None)
    );

    // A rate limit puts it back in the queue; then it is sent, with its events.
    store
        .reply_sending(&acme, &asked.key, SentAs::Standard)
        .unwrap();
    finish(
        store,
        &acme,
        &asked.key,
        ReplyOutcome::Failed {
            failure: failure(),
            retry: true,
        },
    );
    assert_eq!(
        store.reply(&acme, &asked.key).unwrap().unwrap().state,
        ReplyState::Queued
    );
    store
        .reply_sending(&acme, &asked.key, SentAs::Standard)
        .unwrap();
    let appended = store
        .finish_reply(
            &acme,
            &asked.key,
            ReplyOutcome::Sent {
                message_id: "mid.1".into(),
            },
            vec![about(
                &acme,
                &page,
                &conversation,
                "msg:mid.1",
                Utc::now(),
                sent_body(Some("mid.1"), Some("k1"), asked.sender.clone()),
            )],
            Some(record(&acme, "reply")),
        )
        .unwrap();
    assert_eq!(appended.entries.len(), 1);
    let sent = store.reply(&acme, &asked.key).unwrap().unwrap();
    assert_eq!(
        (sent.state, sent.message_id.as_deref(), sent.attempts),
        (ReplyState::Sent, Some("mid.1"), 3)
    );
    // Sent is final: a late outcome does not step back.
    finish(
        store,
        &acme,
        &asked.key,
        ReplyOutcome::Unknown { failure: failure() },
    );
    assert_eq!(
        store.reply(&acme, &asked.key).unwrap().unwrap().state,
        ReplyState::Sent
    );
    assert_eq!(store.audit_log(&acme).unwrap().len(), 1);
}

fn echo_reconciliation(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let conversation = customer_writes(store, message(&acme, &page, "msg:1", "u1", None));
    let agent = Sender::Agent {
        agent: AgentId::new("a1"),
    };
    let echo = |id: &str, mid: &str, key: Option<&str>| NewEvent {
        body: sent_body(Some(mid), key, Sender::ExternalApp { app: None }),
        ..message(&acme, &page, id, "u1", None)
    };

    // However the attempt ended, the echo decides: a reply already sent skips it; one
    // whose outcome is unknown (a stop mid-call) or that failed went out after all, and
    // the echo is logged as the reply, once.
    let table = [
        (
            "k-unknown",
            SentAs::HumanAgentTag,
            ReplyOutcome::Unknown { failure: failure() },
            true,
        ),
        (
            "k-failed",
            SentAs::Standard,
            ReplyOutcome::Failed {
                failure: failure(),
                retry: false,
            },
            true,
        ),
        (
            "k-sent",
            SentAs::Standard,
            ReplyOutcome::Sent {
                message_id: "mid-k-sent".into(),
            },
            false,
        ),
    ];
    for (key, sent_as, outcome, logged) in table {
        let record = reply_record(&acme, &conversation.id, key, key);
        attempt(store, &record, sent_as, outcome);
        let mid = format!("mid-{key}");
        let appended = store
            .append(vec![echo(&format!("msg:{mid}"), &mid, Some(key))])
            .unwrap();
        let reply = store.reply(&acme, &record.key).unwrap().unwrap();
        assert_eq!(
            (reply.state, reply.message_id.as_deref(), reply.failure),
            (ReplyState::Sent, Some(mid.as_str()), None),
            "{key}"
        );
        if !logged {
            assert_eq!(
                (appended.entries.len(), appended.duplicates),
                (0, 1),
                "{key}"
            );
            continue;
        }
        let EventBody::MessageSent(message) = &appended.entries[0].event.body else {
            panic!("the echo of {key} was not logged as a message sent");
        };
        assert_eq!(
            (
                &message.sender,
                message.sent_as,
                message.message_id.as_ref().map(|m| m.as_str())
            ),
            (&agent, sent_as, Some(mid.as_str())),
            "{key}"
        );
        // Another echo of the same reply (another event id) is skipped.
        let again = store
            .append(vec![echo(&format!("msg:{mid}:again"), &mid, Some(key))])
            .unwrap();
        assert_eq!((again.entries.len(), again.duplicates), (0, 1), "{key}");
    }

    // Another app's message, and an unknown key, are logged as they came.
    for (id, key) in [("msg:e4", None), ("msg:e5", Some("k-never-given"))] {
        let appended = store.append(vec![echo(id, id, key)]).unwrap();
        let EventBody::MessageSent(logged) = &appended.entries[0].event.body else {
            panic!("{id} was not logged");
        };
        assert_eq!(logged.sender, Sender::ExternalApp { app: None }, "{id}");
    }
}

fn templates(store: &dyn Storage) {
    let acme = store.add_tenant("acme").unwrap().id;
    store
        .add_meta_app(MetaApp {
            app_id: APP.into(),
            secret_sealed: "v1:s".into(),
            verify_token_sealed: None,
        })
        .unwrap();
    let channel = store
        .add_channel(NewChannel {
            tenant: acme.clone(),
            kind: ChannelKind::WhatsApp,
            external_id: "phone-1".into(),
            app_id: APP.into(),
            display_name: "Acme".into(),
            waba_id: Some("waba-1".into()),
        })
        .unwrap();
    let template = |name: &str, language: &str| Template {
        name: name.into(),
        language: language.into(),
        category: "UTILITY".into(),
        status: "APPROVED".into(),
        meta_id: Some(format!("{name}-{language}")),
        components: serde_json::json!([{"type": "BODY", "text": "Hola {{1}}"}]),
    };
    assert!(store.templates(&acme, &channel.id).unwrap().is_empty());
    store
        .replace_templates(
            &acme,
            &channel.id,
            vec![
                template("welcome", "es"),
                template("order", "en"),
                template("welcome", "en"),
            ],
        )
        .unwrap();
    assert_eq!(
        store.templates(&acme, &channel.id).unwrap(),
        vec![
            template("order", "en"),
            template("welcome", "en"),
            template("welcome", "es")
        ]
    );
    store
        .replace_templates(&acme, &channel.id, vec![template("receipt", "es")])
        .unwrap();
    assert_eq!(
        store.templates(&acme, &channel.id).unwrap(),
        vec![template("receipt", "es")]
    );

    // Only a WhatsApp channel with a WABA and a token, connected, is synced.
    assert!(store.template_channels().unwrap().is_empty());
    store
        .change_channel(
            &acme,
            &channel.id,
            ChannelChange {
                token_sealed: Some("v1:token".into()),
                ..ChannelChange::default()
            },
            None,
        )
        .unwrap();
    assert_eq!(
        store
            .template_channels()
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![channel.id.clone()]
    );
    store
        .mark_needs_reconnection(&acme, &channel.id, "token expired")
        .unwrap();
    assert!(store.template_channels().unwrap().is_empty());
}

fn channel_changes(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let mut settings = ChannelSettings::default();
    settings.escalation.keywords = vec!["gerente".into()];
    settings.escalation.customer_waiting_minutes = Some(42);
    let changed = store
        .change_channel(
            &acme,
            &page,
            ChannelChange {
                display_name: Some("Acme Store".into()),
                token_sealed: Some("v1:token".into()),
                human_agent_approved: Some(true),
                settings: Some(settings.clone()),
                waba_id: None,
            },
            Some(record(&acme, "channel_settings")),
        )
        .unwrap();
    assert_eq!(
        (
            changed.display_name.as_str(),
            changed.has_token,
            changed.human_agent_approved
        ),
        ("Acme Store", true, true)
    );
    assert_eq!(*changed.settings, settings);
    assert_eq!(store.channel(&acme, &page).unwrap(), Some(changed.clone()));
    assert_eq!(
        store.channel_token(&page).unwrap().as_deref(),
        Some("v1:token")
    );
    let log = store.read_log(&acme, 0, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event.channel, page);
    assert_eq!(log[0].event.conversation, None);
    assert_eq!(
        log[0].event.body,
        EventBody::ChannelUpdated(changed.snapshot())
    );
    assert_eq!(store.audit_log(&acme).unwrap().len(), 1);

    // Meta rejected the token: marked once, with its event and an audit entry.
    assert!(
        store
            .mark_needs_reconnection(&acme, &page, "token expired")
            .unwrap()
    );
    assert!(
        !store
            .mark_needs_reconnection(&acme, &page, "token expired")
            .unwrap()
    );
    let marked = store.channel(&acme, &page).unwrap().unwrap();
    assert_eq!(marked.needs_reconnection.as_deref(), Some("token expired"));
    assert_eq!(store.head(&acme).unwrap(), 2);
    assert_eq!(
        store.read_log(&acme, 1, 10).unwrap()[0].event.body,
        EventBody::ChannelUpdated(marked.snapshot())
    );
    // A new token is a re-connection.
    let reconnected = store
        .change_channel(
            &acme,
            &page,
            ChannelChange {
                token_sealed: Some("v1:token2".into()),
                ..ChannelChange::default()
            },
            None,
        )
        .unwrap();
    assert_eq!(reconnected.needs_reconnection, None);
    assert_eq!(reconnected.display_name, "Acme Store");
    assert_eq!(store.head(&acme).unwrap(), 3);
    assert!(matches!(
        store.change_channel(
            &acme,
            &ChannelId::new("no-such-channel"),
            ChannelChange::default(),
            None
        ),
        Err(StoreError::NotFound(_))
    ));
}

fn erasure(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let photo = |id: &str| {
        received(
            id,
            MessageContent::Image(Media {
                media_id: MediaId::new(format!("media-{id}")),
                mime_type: Some("image/jpeg".into()),
                caption: Some("my address".into()),
                filename: None,
                sha256: None,
            }),
        )
    };
    let with_photo = |id: &str, contact: &str| NewEvent {
        body: photo(id),
        media: vec![MediaRecord {
            id: MediaId::new(format!("media-{id}")),
            source_kind: "url",
            source: format!("https://cdn.example/{id}"),
        }],
        ..message(&acme, &page, id, contact, Some("Ana Erased"))
    };
    let appended = store
        .append(vec![
            with_photo("msg:1", "u-erase"),
            message(&acme, &page, "msg:2", "u-erase", None),
            message(&acme, &page, "msg:3", "u-keep", None),
        ])
        .unwrap();
    let conversation = conversation_of(store, &acme, &appended);
    let kept = appended.entries[2].event.clone();
    store
        .reserve_reply(reply_record(&acme, &conversation.id, "k1", "x"))
        .unwrap();
    store
        .quarantine(APP, "unknown channel", b"{\"sender\":\"u-erase\"}")
        .unwrap();
    store
        .quarantine(APP, "unreadable", b"{\"sender\":\"someone else\"}")
        .unwrap();
    assert!(
        store
            .media(&acme, &MediaId::new("media-msg:1"))
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.contacts_by_external_id(APP, "u-erase").unwrap(),
        vec![ContactMatch {
            tenant: acme.clone(),
            contact: conversation.contact.clone(),
            channel_kind: ChannelKind::Messenger
        }]
    );

    let receipt = erase(store, &acme, &conversation.contact, "r1").unwrap();
    assert_eq!(
        (
            receipt.events_redacted,
            receipt.media_removed,
            receipt.replies_removed,
            receipt.quarantined_removed,
            receipt.seq
        ),
        (2, 1, 1, 1, 4)
    );
    assert_eq!(receipt.receipt, "r1");
    assert_eq!(receipt.channel_kind, "messenger");

    // Tombstones in place: same sequence, same id, no content; the others untouched.
    let log = store.read_log(&acme, 0, 10).unwrap();
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    for entry in &log[..2] {
        assert_eq!(
            entry.event.body,
            EventBody::Redacted {
                receipt: ReceiptId::new("r1")
            }
        );
    }
    assert_eq!(
        log.iter()
            .take(2)
            .map(|e| e.event.id.as_str())
            .collect::<Vec<_>>(),
        vec!["msg:1", "msg:2"]
    );
    assert_eq!(log[2].event, kept);
    assert_eq!(
        log[3].event.body,
        EventBody::ContactErased {
            receipt: ReceiptId::new("r1")
        }
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("Ana Erased") && !text.contains("my address"));

    // The contact is gone, with their conversation, media, replies and quarantined body.
    assert_eq!(store.conversation(&acme, &conversation.id).unwrap(), None);
    assert_eq!(
        store.conversation_state(&acme, &conversation.id).unwrap(),
        None
    );
    assert_eq!(
        store.media(&acme, &MediaId::new("media-msg:1")).unwrap(),
        None
    );
    assert_eq!(
        store.reply(&acme, &IdempotencyKey::new("k1")).unwrap(),
        None
    );
    assert!(
        store
            .contacts_by_external_id(APP, "u-erase")
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.quarantine_count().unwrap(), 1);
    assert!(matches!(
        erase(store, &acme, &conversation.contact, "r2"),
        Err(StoreError::NotFound(_))
    ));
    let audited = store.audit_log(&acme).unwrap();
    assert_eq!(audited.last().map(|e| e.action.as_str()), Some("erase"));
    assert_eq!(audited.last().unwrap().detail["events_redacted"], 2);

    // Meta redelivering their webhook stores nothing about them; events about the
    // erased conversation are dropped.
    let again = store.append(vec![with_photo("msg:1", "u-erase")]).unwrap();
    assert_eq!((again.entries.len(), again.duplicates), (0, 1));
    assert!(
        store
            .contacts_by_external_id(APP, "u-erase")
            .unwrap()
            .is_empty()
    );
    let late = store
        .append(vec![about(
            &acme,
            &page,
            &conversation,
            "note:late",
            Utc::now(),
            workflow(Some(ConversationStatus::Resolved)),
        )])
        .unwrap();
    assert_eq!((late.entries.len(), late.dropped), (0, 1));
    assert_eq!(store.head(&acme).unwrap(), 4);
    store.checkpoint_truncate().unwrap();
}

fn deletion_requests(store: &dyn Storage) {
    assert_eq!(store.deletion_request("code-1").unwrap(), None);
    store
        .record_deletion_request("code-1", APP, "user-hash", "{\"erased\":1}")
        .unwrap();
    let (received_at, outcome) = store.deletion_request("code-1").unwrap().unwrap();
    assert_eq!(outcome, "{\"erased\":1}");
    assert!(
        DateTime::parse_from_rfc3339(&received_at).is_ok(),
        "{received_at}"
    );
    assert!(
        store
            .record_deletion_request("code-1", APP, "user-hash", "{}")
            .is_err(),
        "a confirmation code was recorded twice"
    );
}

fn audit_chain(store: &dyn Storage) {
    let acme = store.add_tenant("acme").unwrap().id;
    let globex = store.add_tenant("globex").unwrap().id;
    for action in ["one", "two", "three"] {
        store.audit(record(&acme, action)).unwrap();
    }
    let entry = store.audit(record(&globex, "first")).unwrap();
    assert_eq!(entry.seq, 1);
    assert_eq!(entry.prev_hash, audit::GENESIS);
    let log = store.audit_log(&acme).unwrap();
    assert_eq!(
        log.iter()
            .map(|e| (e.seq, e.action.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "one"), (2, "two"), (3, "three")]
    );
    assert_eq!(log[1].detail, serde_json::json!({"what": "two"}));
    audit::verify(&log).unwrap();
    audit::verify(&store.audit_log(&globex).unwrap()).unwrap();
    let mut edited = log;
    edited[1].detail = serde_json::json!({"what": "something else"});
    assert!(audit::verify(&edited).is_err());
}

fn quarantine(store: &dyn Storage) {
    assert_eq!(store.quarantine_count().unwrap(), 0);
    store
        .quarantine(APP, "unknown channel", b"first body")
        .unwrap();
    store.quarantine("app-2", "unreadable", b"second").unwrap();
    assert_eq!(store.quarantine_count().unwrap(), 2);
    let listed: Vec<(String, String, usize)> = store
        .quarantined(10)
        .unwrap()
        .into_iter()
        .map(|q| (q.app_id, q.reason, q.bytes))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("app-2".into(), "unreadable".into(), 6),
            (APP.into(), "unknown channel".into(), 10)
        ]
    );
    assert_eq!(store.quarantined(1).unwrap().len(), 1);

    // A body is read back whole for a replay, and a replayed one is released.
    let newest = store.quarantined(1).unwrap().remove(0).id;
    let body = store.quarantined_body(newest).unwrap().unwrap();
    assert_eq!(
        (
            body.app_id.as_str(),
            body.reason.as_str(),
            body.body.as_slice()
        ),
        ("app-2", "unreadable", b"second".as_slice())
    );
    assert!(store.release_quarantined(newest).unwrap());
    assert!(!store.release_quarantined(newest).unwrap());
    assert!(store.quarantined_body(newest).unwrap().is_none());
    assert_eq!(store.quarantine_count().unwrap(), 1);
    store.quarantine("app-2", "unreadable", b"second").unwrap();

    // A person's id erases the bodies naming it, for that app only.
    store
        .quarantine(APP, "unknown channel", br#"{"sender":{"id":"7100042"}}"#)
        .unwrap();
    store
        .quarantine(
            "app-2",
            "unknown channel",
            br#"{"sender":{"id":"7100042"}}"#,
        )
        .unwrap();
    assert_eq!(store.erase_quarantined(APP, "7100042", None).unwrap(), 1);
    assert_eq!(store.erase_quarantined(APP, "7100042", None).unwrap(), 0);
    let left: Vec<String> = store
        .quarantined(10)
        .unwrap()
        .into_iter()
        .map(|q| q.app_id)
        .collect();
    assert_eq!(left, vec!["app-2", "app-2", APP]);

    // Meta redelivers an unusable body: it is kept once per app.
    store
        .quarantine(APP, "unknown channel", b"again and again")
        .unwrap();
    store
        .quarantine(APP, "unknown channel", b"again and again")
        .unwrap();
    store
        .quarantine("app-2", "unknown channel", b"again and again")
        .unwrap();
    assert_eq!(store.quarantine_count().unwrap(), 5);

    // Bounded by size: the oldest go first, until the rest fit.
    let sizes: Vec<usize> = store
        .quarantined(10)
        .unwrap()
        .into_iter()
        .map(|q| q.bytes)
        .collect();
    let all: usize = sizes.iter().sum();
    let oldest = *sizes.last().unwrap();
    assert_eq!(store.trim_quarantine(all as u64).unwrap(), 0);
    assert_eq!(store.trim_quarantine((all - 1) as u64).unwrap(), 1);
    assert_eq!(store.quarantine_count().unwrap(), 4);
    let kept: usize = store.quarantined(10).unwrap().iter().map(|q| q.bytes).sum();
    assert_eq!(kept, all - oldest);
    assert_eq!(store.trim_quarantine(0).unwrap(), 4);
}

fn tenant_isolation(store: &dyn Storage) {
    let (acme, page) = set_up(store, "acme", "p1");
    let (globex, _) = set_up(store, "globex", "p2");
    let appended = store
        .append(vec![NewEvent {
            media: vec![MediaRecord {
                id: MediaId::new("media-1"),
                source_kind: "url",
                source: "https://cdn.example/1".into(),
            }],
            ..message(&acme, &page, "msg:1", "u1", None)
        }])
        .unwrap();
    let conversation = conversation_of(store, &acme, &appended);
    store
        .reserve_reply(reply_record(&acme, &conversation.id, "k1", "x"))
        .unwrap();
    let agent = store
        .add_agent(new_agent(&acme, "ana@acme.test", Role::Admin), None)
        .unwrap();

    assert_eq!(store.conversation(&globex, &conversation.id).unwrap(), None);
    assert_eq!(
        store.conversation_state(&globex, &conversation.id).unwrap(),
        None
    );
    assert_eq!(store.channel(&globex, &page).unwrap(), None);
    assert!(
        store
            .channels_of(&globex)
            .unwrap()
            .iter()
            .all(|c| c.id != page)
    );
    assert_eq!(
        store.media(&globex, &MediaId::new("media-1")).unwrap(),
        None
    );
    assert!(
        store
            .media(&acme, &MediaId::new("media-1"))
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.reply(&globex, &IdempotencyKey::new("k1")).unwrap(),
        None
    );
    assert_eq!(store.agent(&globex, &agent.id).unwrap(), None);
    assert!(store.templates(&globex, &page).unwrap().is_empty());
    assert!(store.read_log(&globex, 0, 10).unwrap().is_empty());
    assert!(matches!(
        store.change_channel(&globex, &page, ChannelChange::default(), None),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        erase(store, &globex, &conversation.contact, "r1"),
        Err(StoreError::NotFound(_))
    ));
    // An event naming another tenant's conversation is dropped, not filed under it.
    let crossed = store
        .append(vec![about(
            &globex,
            &page,
            &conversation,
            "wf:crossed",
            Utc::now(),
            workflow(Some(ConversationStatus::Resolved)),
        )])
        .unwrap();
    assert_eq!((crossed.entries.len(), crossed.dropped), (0, 1));
    assert_eq!(
        state(store, &acme, &conversation.id).status,
        ConversationStatus::Open
    );
    assert_eq!(store.head(&globex).unwrap(), 0);
}
