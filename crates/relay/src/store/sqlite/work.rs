//! [`WorkStore`] for SQLite, plus the two hooks `append_in` calls for every new event:
//! [`reconcile_echo`] and [`project`].

use super::*;
use crate::audit::{self, AuditEntry};
use crate::store::work::*;
use crate::workflow;
use ventana_protocol::event::{SendFailure, SentAs};
use ventana_protocol::ids::{IdempotencyKey, ReceiptId};

/// An echo Meta sent of a reply this relay made (its metadata carries our key) is logged
/// as the reply, not as a message from another app: with the agent as sender, and once
/// (`workflow::echo` decides). Returns `None` when the event must be skipped (the reply is
/// already logged as sent).
pub(super) fn reconcile_echo(
    connection: &Connection,
    tenant: &TenantId,
    body: EventBody,
) -> Result<Option<EventBody>, StoreError> {
    let Some(key) = workflow::echo_key(&body).cloned() else {
        return Ok(Some(body));
    };
    let reply = read_reply(connection, tenant, &key)?.map(|record| workflow::EchoedReply {
        sent: record.state == ReplyState::Sent,
        sender: record.sender,
        sent_as: record.sent_as,
    });
    match workflow::echo(&body, reply.as_ref()) {
        workflow::EchoDecision::Keep => Ok(Some(body)),
        workflow::EchoDecision::Skip => Ok(None),
        workflow::EchoDecision::MarkSent {
            message_id,
            body: logged,
        } => {
            connection
                .prepare_cached(
                    "UPDATE replies SET state = 'sent', message_id = ?3, failure = NULL, updated_at = ?4
                     WHERE tenant_id = ?1 AND idempotency_key = ?2",
                )?
                .execute(params![
                    tenant.as_str(),
                    key.as_str(),
                    message_id.as_str(),
                    now_text()
                ])?;
            Ok(Some(*logged))
        }
    }
}

/// Keeps the conversation's and contact's state columns true to a new event, and returns
/// the events it causes (`workflow::projection` decides both): reads the facts the rule
/// needs (from the writer's memory of the conversation when it has one, else from its
/// row), writes what it says, and remembers what it wrote.
pub(super) fn project(
    connection: &Connection,
    known: &mut HashMap<String, workflow::ConversationFacts>,
    event: &Event,
) -> Result<Vec<NewEvent>, StoreError> {
    let (Some(conversation), contact) = (&event.conversation, &event.contact) else {
        return Ok(Vec::new());
    };
    let id = conversation.as_str();
    let current = if workflow::needs_facts(&event.body) {
        match known.get(id) {
            Some(facts) => facts.clone(),
            None => match conversation_facts(connection, conversation)? {
                Some(facts) => facts,
                // Nothing to project onto (the conversation is gone).
                None => return Ok(Vec::new()),
            },
        }
    } else {
        workflow::ConversationFacts::default()
    };
    let projection = workflow::projection(event, &current);
    if workflow::needs_facts(&event.body) || known.contains_key(id) {
        // `current` is the row as it stands when facts were needed; otherwise the memory.
        let mut facts = known.remove(id).unwrap_or(current);
        facts.apply(&projection);
        known.insert(id.to_owned(), facts);
    }
    if let Some(at) = projection.last_inbound_at {
        connection
            .prepare_cached("UPDATE conversations SET last_inbound_at = ?2 WHERE id = ?1")?
            .execute(params![id, timestamp(at)])?;
    }
    if let Some(at) = projection.last_outbound_at {
        connection
            .prepare_cached("UPDATE conversations SET last_outbound_at = ?2 WHERE id = ?1")?
            .execute(params![id, timestamp(at)])?;
    }
    if let (Some(out), Some(contact)) = (projection.marketing_opted_out, contact) {
        connection
            .prepare_cached("UPDATE contacts SET marketing_opted_out = ?2 WHERE id = ?1")?
            .execute(params![contact.as_str(), out])?;
    }
    if let Some(status) = &projection.status {
        let (status, until) = status_columns(status);
        connection
            .prepare_cached(
                "UPDATE conversations SET status = ?2, snoozed_until = ?3 WHERE id = ?1",
            )?
            .execute(params![id, status, until])?;
    }
    if let Some(agent) = &projection.assignee {
        connection
            .prepare_cached("UPDATE conversations SET assignee = ?2 WHERE id = ?1")?
            .execute(params![id, agent.as_ref().map(|a| a.as_str())])?;
    }
    if let Some(labels) = &projection.labels {
        let labels = serde_json::to_string(labels)
            .map_err(|e| StoreError::Corrupt(format!("labels: {e}")))?;
        connection
            .prepare_cached("UPDATE conversations SET labels = ?2 WHERE id = ?1")?
            .execute(params![id, labels])?;
    }
    let Some(contact) = contact else {
        return Ok(Vec::new());
    };
    Ok(projection
        .derived
        .into_iter()
        .map(|derived| NewEvent {
            id: derived.id,
            tenant: event.tenant.clone(),
            channel: event.channel.clone(),
            contact: None,
            conversation: Some((contact.clone(), conversation.clone())),
            occurred_at: derived.occurred_at,
            body: derived.body,
            media: Vec::new(),
        })
        .collect())
}

/// What `workflow::projection` looks at, from the conversation's row.
fn conversation_facts(
    connection: &Connection,
    conversation: &ConversationId,
) -> Result<Option<workflow::ConversationFacts>, StoreError> {
    let row = connection
        .prepare_cached(
            "SELECT status, snoozed_until, last_inbound_at, last_outbound_at
             FROM conversations WHERE id = ?1",
        )?
        .query_row([conversation.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let Some((status, until, inbound, outbound)) = row else {
        return Ok(None);
    };
    Ok(Some(workflow::ConversationFacts {
        status: status_from_columns(&status, until)?,
        last_inbound_at: inbound.as_deref().map(parse_time).transpose()?,
        last_outbound_at: outbound.as_deref().map(parse_time).transpose()?,
    }))
}

fn reply_from_row(row: &rusqlite::Row<'_>) -> Result<ReplyRecord, StoreError> {
    let hash: Vec<u8> = row.get(3)?;
    let sender: String = row.get(5)?;
    let sent_as: Option<String> = row.get(6)?;
    let state: String = row.get(7)?;
    let failure: Option<String> = row.get(9)?;
    Ok(ReplyRecord {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        key: IdempotencyKey::new(row.get::<_, String>(1)?),
        conversation: ConversationId::new(row.get::<_, String>(2)?),
        request_hash: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("reply request hash".into()))?,
        request: row.get(4)?,
        sender: from_json(&sender, "reply sender")?,
        sent_as: sent_as
            .map(|text| from_json::<SentAs>(&text, "reply sent_as"))
            .transpose()?,
        state: ReplyState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("reply state {state:?}")))?,
        message_id: row.get(8)?,
        failure: failure
            .map(|text| from_json::<SendFailure>(&text, "reply failure"))
            .transpose()?,
        attempts: row.get(10)?,
    })
}

fn read_reply(
    connection: &Connection,
    tenant: &TenantId,
    key: &IdempotencyKey,
) -> Result<Option<ReplyRecord>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {REPLY_COLUMNS} FROM replies WHERE tenant_id = ?1 AND idempotency_key = ?2"
    ))?;
    let mut rows = statement.query(params![tenant.as_str(), key.as_str()])?;
    rows.next()?.map(reply_from_row).transpose()
}

fn read_channel_by_id(
    connection: &Connection,
    tenant: &TenantId,
    id: &ChannelId,
) -> Result<Option<Channel>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE tenant_id = ?1 AND id = ?2"
    ))?;
    let mut rows = statement.query(params![tenant.as_str(), id.as_str()])?;
    rows.next()?.map(read_channel).transpose()
}

/// Appends an audit entry inside the current transaction, chained to the tenant's last.
pub(super) fn audit_in(
    connection: &Connection,
    record: &AuditRecord,
) -> Result<AuditEntry, StoreError> {
    let last: Option<(i64, String)> = connection
        .prepare_cached(
            "SELECT seq, hash FROM audit WHERE tenant_id = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([record.tenant.as_str()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, audit::GENESIS.to_owned()),
    };
    let stored_seq = seq;
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("audit seq {seq}")))?;
    let at = now_text();
    let detail = record.detail.to_string();
    let hash = audit::entry_hash(
        &prev_hash,
        record.tenant.as_str(),
        seq,
        &at,
        &record.actor,
        &record.action,
        &detail,
    );
    connection
        .prepare_cached(
            "INSERT INTO audit (tenant_id, seq, at, actor, action, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            record.tenant.as_str(),
            stored_seq,
            at,
            record.actor,
            record.action,
            detail,
            prev_hash,
            hash
        ])?;
    Ok(AuditEntry {
        tenant: record.tenant.to_string(),
        seq,
        at,
        actor: record.actor.clone(),
        action: record.action.clone(),
        detail: record.detail.clone(),
        prev_hash,
        hash,
    })
}

impl WorkStore for SqliteStore {
    fn channel(&self, tenant: &TenantId, id: &ChannelId) -> Result<Option<Channel>, StoreError> {
        self.read(|connection| read_channel_by_id(connection, tenant, id))
    }

    fn channel_token(&self, id: &ChannelId) -> Result<Option<String>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached("SELECT token_sealed FROM channels WHERE id = ?1")?
                .query_row([id.as_str()], |row| row.get::<_, Option<String>>(0))
                .optional()?
                .flatten())
        })
    }

    fn change_channel(
        &self,
        tenant: &TenantId,
        id: &ChannelId,
        change: ChannelChange,
        audit: Option<AuditRecord>,
    ) -> Result<Channel, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        let (channel, _) = self.write_then(
            move |connection, state| {
                if read_channel_by_id(connection, &tenant, &id)?.is_none() {
                    return Err(StoreError::NotFound(format!("channel {id}")));
                }
                let settings = change.settings.as_ref().map(json_text).transpose()?;
                connection.execute(
                    "UPDATE channels SET
                        display_name = coalesce(?3, display_name),
                        token_sealed = coalesce(?4, token_sealed),
                        -- A new token is a re-connection.
                        needs_reconnection = CASE WHEN ?4 IS NULL THEN needs_reconnection END,
                        human_agent_approved = coalesce(?5, human_agent_approved),
                        settings = coalesce(?6, settings),
                        waba_id = coalesce(?7, waba_id)
                     WHERE tenant_id = ?1 AND id = ?2",
                    params![
                        tenant.as_str(),
                        id.as_str(),
                        change.display_name,
                        change.token_sealed,
                        change.human_agent_approved,
                        settings,
                        change.waba_id
                    ],
                )?;
                let channel = read_channel_by_id(connection, &tenant, &id)?
                    .ok_or_else(|| StoreError::NotFound(format!("channel {id}")))?;
                let appended = append_in(connection, state, vec![channel_event(&channel)])?;
                if let Some(record) = audit {
                    audit_in(connection, &record)?;
                }
                Ok((channel, appended))
            },
            {
                let publish = self.publisher();
                move |(_, appended): &(Channel, Appended)| publish(appended)
            },
        )?;
        Ok(channel)
    }

    fn mark_needs_reconnection(
        &self,
        tenant: &TenantId,
        id: &ChannelId,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let (tenant, id, reason) = (tenant.clone(), id.clone(), reason.to_owned());
        let appended = self.write_then(
            move |connection, state| {
                let changed = connection.execute(
                    "UPDATE channels SET needs_reconnection = ?3
                     WHERE tenant_id = ?1 AND id = ?2 AND needs_reconnection IS NULL",
                    params![tenant.as_str(), id.as_str(), reason],
                )?;
                if changed == 0 {
                    return Ok(Appended::default());
                }
                let channel = read_channel_by_id(connection, &tenant, &id)?
                    .ok_or_else(|| StoreError::NotFound(format!("channel {id}")))?;
                let appended = append_in(connection, state, vec![channel_event(&channel)])?;
                audit_in(
                    connection,
                    &AuditRecord {
                        tenant: tenant.clone(),
                        actor: "system".into(),
                        action: "channel_needs_reconnection".into(),
                        detail: serde_json::json!({"channel": id.as_str(), "reason": reason}),
                    },
                )?;
                Ok(appended)
            },
            self.publisher(),
        )?;
        Ok(!appended.entries.is_empty())
    }

    fn media(&self, tenant: &TenantId, id: &MediaId) -> Result<Option<StoredMedia>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT channel_id, source_kind, source FROM media
                     WHERE tenant_id = ?1 AND id = ?2",
                )?
                .query_row(params![tenant.as_str(), id.as_str()], |row| {
                    Ok(StoredMedia {
                        id: id.clone(),
                        channel: ChannelId::new(row.get::<_, String>(0)?),
                        source_kind: row.get(1)?,
                        source: row.get(2)?,
                    })
                })
                .optional()?)
        })
    }

    fn contact_profile(
        &self,
        tenant: &TenantId,
        id: &ContactId,
    ) -> Result<Option<ContactProfile>, StoreError> {
        self.read(|connection| {
            let mut found = contact_profiles_in(connection, tenant, Some(id))?;
            Ok(found.pop())
        })
    }

    fn contact_profiles(&self, tenant: &TenantId) -> Result<Vec<ContactProfile>, StoreError> {
        self.read(|connection| contact_profiles_in(connection, tenant, None))
    }

    fn contact_events(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
    ) -> Result<Vec<LogEntry>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT seq, body FROM events
                 WHERE tenant_id = ?1 AND contact_id = ?2 ORDER BY seq",
            )?;
            let rows = statement.query_map(params![tenant.as_str(), contact.as_str()], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut entries = Vec::new();
            for row in rows {
                let (seq, body) = row?;
                let event: Event = from_json(&body, "event")?;
                let seq = u64::try_from(seq)
                    .map_err(|_| StoreError::Corrupt(format!("sequence {seq}")))?;
                entries.push(LogEntry { seq, event });
            }
            Ok(entries)
        })
    }

    fn conversation_state(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> Result<Option<ConversationState>, StoreError> {
        self.read(|connection| {
            let row = connection
                .prepare_cached(
                    "SELECT conv.channel_id, conv.contact_id, c.external_id, conv.last_inbound_at,
                            conv.last_outbound_at, conv.status, conv.snoozed_until, conv.assignee,
                            conv.labels, c.marketing_opted_out
                     FROM conversations conv JOIN contacts c ON c.id = conv.contact_id
                     WHERE conv.tenant_id = ?1 AND conv.id = ?2",
                )?
                .query_row(params![tenant.as_str(), id.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, Option<String>>(6)?,
                        row.get::<_, Option<String>>(7)?,
                        row.get::<_, String>(8)?,
                        row.get::<_, bool>(9)?,
                    ))
                })
                .optional()?;
            let Some((
                channel,
                contact,
                external,
                inbound,
                outbound,
                status,
                until,
                assignee,
                labels,
                opted_out,
            )) = row
            else {
                return Ok(None);
            };
            let channel = read_channel_by_id(connection, tenant, &ChannelId::new(channel))?
                .ok_or_else(|| StoreError::Corrupt(format!("conversation {id} has no channel")))?;
            Ok(Some(ConversationState {
                id: id.clone(),
                tenant: tenant.clone(),
                channel,
                contact: ContactId::new(contact),
                contact_external_id: external,
                last_inbound_at: inbound.as_deref().map(parse_time).transpose()?,
                last_outbound_at: outbound.as_deref().map(parse_time).transpose()?,
                status: status_from_columns(&status, until)?,
                assignee: assignee.map(AgentId::new),
                labels: from_json(&labels, "labels")?,
                marketing_opted_out: opted_out,
            }))
        })
    }

    fn waiting_conversations(&self, now: DateTime<Utc>) -> Result<Vec<Waiting>, StoreError> {
        self.read(|connection| {
            let since = timestamp(now - chrono::TimeDelta::days(8));
            let mut statement = connection.prepare_cached(
                "SELECT conv.tenant_id, conv.id, conv.contact_id, conv.channel_id, ch.settings,
                        conv.last_inbound_at
                 FROM conversations conv JOIN channels ch ON ch.id = conv.channel_id
                 WHERE conv.last_inbound_at > ?1
                   AND (conv.last_outbound_at IS NULL OR conv.last_outbound_at < conv.last_inbound_at)
                   AND conv.status IN ('open', 'pending')",
            )?;
            let mut rows = statement.query([since])?;
            let mut waiting = Vec::new();
            while let Some(row) = rows.next()? {
                let settings: String = row.get(4)?;
                let last: String = row.get(5)?;
                waiting.push(Waiting {
                    tenant: TenantId::new(row.get::<_, String>(0)?),
                    conversation: ConversationId::new(row.get::<_, String>(1)?),
                    contact: ContactId::new(row.get::<_, String>(2)?),
                    channel: ChannelId::new(row.get::<_, String>(3)?),
                    settings: Arc::new(from_json(&settings, "channel settings")?),
                    last_inbound_at: parse_time(&last)?,
                });
            }
            Ok(waiting)
        })
    }

    fn ended_snoozes(&self, now: DateTime<Utc>) -> Result<Vec<SnoozeEnded>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT tenant_id, id, contact_id, channel_id, snoozed_until FROM conversations
                 WHERE snoozed_until IS NOT NULL AND snoozed_until <= ?1 AND status = 'snoozed'",
            )?;
            let mut rows = statement.query([timestamp(now)])?;
            let mut ended = Vec::new();
            while let Some(row) = rows.next()? {
                let until: String = row.get(4)?;
                ended.push(SnoozeEnded {
                    tenant: TenantId::new(row.get::<_, String>(0)?),
                    conversation: ConversationId::new(row.get::<_, String>(1)?),
                    contact: ContactId::new(row.get::<_, String>(2)?),
                    channel: ChannelId::new(row.get::<_, String>(3)?),
                    until: parse_time(&until)?,
                });
            }
            Ok(ended)
        })
    }

    fn reserve_reply(&self, record: ReplyRecord) -> Result<Reservation, StoreError> {
        self.write(move |connection| {
            let now = now_text();
            let inserted = connection
                .prepare_cached(
                    "INSERT INTO replies (tenant_id, idempotency_key, conversation_id, request_hash,
                         request, sender, state, attempts, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7)
                     ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
                )?
                .execute(params![
                    record.tenant.as_str(),
                    record.key.as_str(),
                    record.conversation.as_str(),
                    record.request_hash.as_slice(),
                    record.request,
                    json_text(&record.sender)?,
                    now
                ])?;
            if inserted == 1 {
                return read_reply(connection, &record.tenant, &record.key)?
                    .map(Reservation::New)
                    .ok_or_else(|| StoreError::Corrupt("a reserved reply vanished".into()));
            }
            let existing = read_reply(connection, &record.tenant, &record.key)?
                .ok_or_else(|| StoreError::Corrupt("a conflicting reply vanished".into()))?;
            if existing.state == ReplyState::Failed
                && existing.request_hash == record.request_hash
                && existing.conversation == record.conversation
            {
                connection.execute(
                    "UPDATE replies SET state = 'queued', failure = NULL, updated_at = ?3
                     WHERE tenant_id = ?1 AND idempotency_key = ?2 AND state = 'failed'",
                    params![record.tenant.as_str(), record.key.as_str(), now],
                )?;
                return read_reply(connection, &record.tenant, &record.key)?
                    .map(Reservation::Requeued)
                    .ok_or_else(|| StoreError::Corrupt("a requeued reply vanished".into()));
            }
            Ok(Reservation::Existing(existing))
        })
    }

    fn reply(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
    ) -> Result<Option<ReplyRecord>, StoreError> {
        self.read(|connection| read_reply(connection, tenant, key))
    }

    fn reply_sending(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        sent_as: SentAs,
    ) -> Result<ReplyRecord, StoreError> {
        let (tenant, key) = (tenant.clone(), key.clone());
        self.write(move |connection| {
            let changed = connection.execute(
                "UPDATE replies SET state = 'sending', sent_as = ?3, attempts = attempts + 1,
                     updated_at = ?4
                 WHERE tenant_id = ?1 AND idempotency_key = ?2 AND state = 'queued'",
                params![
                    tenant.as_str(),
                    key.as_str(),
                    json_text(&sent_as)?,
                    now_text()
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::Conflict(format!("reply {key} is not queued")));
            }
            read_reply(connection, &tenant, &key)?
                .ok_or_else(|| StoreError::NotFound(format!("reply {key}")))
        })
    }

    fn finish_reply(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        outcome: ReplyOutcome,
        events: Vec<NewEvent>,
        audit: Option<AuditRecord>,
    ) -> Result<Appended, StoreError> {
        let (tenant, key) = (tenant.clone(), key.clone());
        self.write_then(
            move |connection, state| {
                let (new_state, message_id, failure) = match &outcome {
                    ReplyOutcome::Sent { message_id } => ("sent", Some(message_id.clone()), None),
                    ReplyOutcome::Failed { failure, retry } => (
                        if *retry { "queued" } else { "failed" },
                        None,
                        Some(failure),
                    ),
                    ReplyOutcome::Unknown { failure } => ("unknown", None, Some(failure)),
                };
                let failure = failure.map(json_text).transpose()?;
                // An echo may have proved the send already: never step back from `sent`.
                let changed = connection.execute(
                    "UPDATE replies SET state = ?3, message_id = coalesce(?4, message_id),
                         failure = ?5, updated_at = ?6
                     WHERE tenant_id = ?1 AND idempotency_key = ?2 AND state != 'sent'",
                    params![
                        tenant.as_str(),
                        key.as_str(),
                        new_state,
                        message_id,
                        failure,
                        now_text()
                    ],
                )?;
                // The row is gone only when the contact was erased while the call was in
                // flight: record nothing about them (no events, no row brought back). The
                // audit keeps that an agent's reply went to Meta, naming no content and
                // not Meta's message id (a WhatsApp one can encode the recipient's number).
                if changed == 0 && read_reply(connection, &tenant, &key)?.is_none() {
                    if let Some(mut record) = audit {
                        if let serde_json::Value::Object(detail) = &mut record.detail {
                            if let Some(serde_json::Value::Object(outcome)) =
                                detail.get_mut("outcome")
                            {
                                outcome.remove("message_id");
                            }
                            detail.insert("contact_erased".into(), true.into());
                        }
                        audit_in(connection, &record)?;
                    }
                    return Ok(Appended {
                        dropped: events.len(),
                        ..Appended::default()
                    });
                }
                let appended = append_in(connection, state, events)?;
                if let Some(record) = audit {
                    audit_in(connection, &record)?;
                }
                Ok(appended)
            },
            self.publisher(),
        )
    }

    fn take_over_replies(&self) -> Result<Vec<ReplyRecord>, StoreError> {
        // Only the first call after opening finds another process's leftovers; after it,
        // every unfinished reply is this process's own, being worked on.
        if self
            .replies_taken_over
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(Vec::new());
        }
        self.unfinished_replies()
    }

    fn unfinished_replies(&self) -> Result<Vec<ReplyRecord>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {REPLY_COLUMNS} FROM replies WHERE state IN ('queued', 'sending')"
            ))?;
            let mut rows = statement.query([])?;
            let mut replies = Vec::new();
            while let Some(row) = rows.next()? {
                replies.push(reply_from_row(row)?);
            }
            Ok(replies)
        })
    }

    fn replace_templates(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
        templates: Vec<Template>,
    ) -> Result<(), StoreError> {
        let (tenant, channel) = (tenant.clone(), channel.clone());
        self.write(move |connection| {
            connection.execute(
                "DELETE FROM templates WHERE tenant_id = ?1 AND channel_id = ?2",
                params![tenant.as_str(), channel.as_str()],
            )?;
            let synced_at = now_text();
            for template in templates {
                connection
                    .prepare_cached(
                        "INSERT OR REPLACE INTO templates (channel_id, tenant_id, name, language,
                             category, status, meta_id, components, synced_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?
                    .execute(params![
                        channel.as_str(),
                        tenant.as_str(),
                        template.name,
                        template.language,
                        template.category,
                        template.status,
                        template.meta_id,
                        template.components.to_string(),
                        synced_at
                    ])?;
            }
            Ok(())
        })
    }

    fn templates(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
    ) -> Result<Vec<Template>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT name, language, category, status, meta_id, components FROM templates
                 WHERE tenant_id = ?1 AND channel_id = ?2 ORDER BY name, language",
            )?;
            let mut rows = statement.query(params![tenant.as_str(), channel.as_str()])?;
            let mut templates = Vec::new();
            while let Some(row) = rows.next()? {
                let components: String = row.get(5)?;
                templates.push(Template {
                    name: row.get(0)?,
                    language: row.get(1)?,
                    category: row.get(2)?,
                    status: row.get(3)?,
                    meta_id: row.get(4)?,
                    components: from_json(&components, "template components")?,
                });
            }
            Ok(templates)
        })
    }

    fn template_channels(&self) -> Result<Vec<Channel>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {CHANNEL_COLUMNS} FROM channels
                 WHERE kind = 'whatsapp' AND waba_id IS NOT NULL AND token_sealed IS NOT NULL
                   AND needs_reconnection IS NULL"
            ))?;
            let mut rows = statement.query([])?;
            let mut channels = Vec::new();
            while let Some(row) = rows.next()? {
                channels.push(read_channel(row)?);
            }
            Ok(channels)
        })
    }

    fn erase_contact(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        receipt: ReceiptId,
        audit: AuditRecord,
        ledger: &LedgerEntry,
    ) -> Result<ErasureReceipt, StoreError> {
        let (tenant, contact, ledger) = (tenant.clone(), contact.clone(), ledger.clone());
        let (erased, _) = self.write_then(
            move |connection, state| {
                let found = connection
                    .prepare_cached(
                        "SELECT c.channel_id, ch.kind, c.external_id, conv.id
                         FROM contacts c JOIN channels ch ON ch.id = c.channel_id
                         LEFT JOIN conversations conv ON conv.contact_id = c.id
                         WHERE c.tenant_id = ?1 AND c.id = ?2",
                    )?
                    .query_row(params![tenant.as_str(), contact.as_str()], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, Option<String>>(3)?,
                        ))
                    })
                    .optional()?;
                let Some((channel, kind, external_id, conversation)) = found else {
                    return Err(StoreError::NotFound(format!("contact {contact}")));
                };
                let channel = ChannelId::new(channel);

                // The contact's events become tombstones in place: same sequence numbers,
                // same ids (so a redelivered webhook is still recognised and not stored
                // again), no content.
                let mut events: Vec<(i64, String)> = Vec::new();
                {
                    let mut statement = connection.prepare_cached(
                        "SELECT seq, body FROM events WHERE tenant_id = ?1 AND contact_id = ?2",
                    )?;
                    let mut rows = statement.query(params![tenant.as_str(), contact.as_str()])?;
                    while let Some(row) = rows.next()? {
                        events.push((row.get(0)?, row.get(1)?));
                    }
                }
                let mut media = Vec::new();
                for (seq, body) in &events {
                    let event: Event = from_json(body, "event")?;
                    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
                        media_ids(&value, &mut media);
                    }
                    redact_in(connection, &tenant, *seq, &event, &receipt)?;
                }
                // The `contact_erased` event is about the conversation, so it is appended
                // while the conversation still exists (`append_in` drops events about a
                // conversation that is gone), after the tombstones were read (it is not one).
                let erased_event = NewEvent {
                    id: EventId::new(format!("erased:{receipt}")),
                    tenant: tenant.clone(),
                    channel: channel.clone(),
                    contact: None,
                    conversation: conversation.as_ref().map(|conversation| {
                        (contact.clone(), ConversationId::new(conversation.clone()))
                    }),
                    occurred_at: Utc::now(),
                    body: EventBody::ContactErased {
                        receipt: receipt.clone(),
                    },
                    media: Vec::new(),
                };
                let appended = append_in(connection, state, vec![erased_event])?;
                let mut media_removed = 0;
                for id in &media {
                    media_removed += connection
                        .prepare_cached("DELETE FROM media WHERE tenant_id = ?1 AND id = ?2")?
                        .execute(params![tenant.as_str(), id])?;
                }
                let replies_removed = match &conversation {
                    Some(conversation) => connection.execute(
                        "DELETE FROM replies WHERE tenant_id = ?1 AND conversation_id = ?2",
                        params![tenant.as_str(), conversation],
                    )?,
                    None => 0,
                };
                // Bodies Meta signed but the relay could not use may hold this person's
                // messages too: any that names their platform id goes.
                let quarantined_removed = connection.execute(
                    "DELETE FROM quarantine
                     WHERE app_id = (SELECT app_id FROM channels WHERE id = ?2)
                       AND instr(body, CAST(?1 AS BLOB)) > 0",
                    params![external_id.as_str(), channel.as_str()],
                )?;
                connection.execute(
                    "DELETE FROM conversations WHERE tenant_id = ?1 AND contact_id = ?2",
                    params![tenant.as_str(), contact.as_str()],
                )?;
                connection.execute(
                    "DELETE FROM contacts WHERE tenant_id = ?1 AND id = ?2",
                    params![tenant.as_str(), contact.as_str()],
                )?;
                state
                    .contacts
                    .retain(|_, (id, _, _)| id != contact.as_str());
                if let Some(conversation) = &conversation {
                    state.conversations.remove(conversation.as_str());
                }

                let seq = appended.entries.first().map(|e| e.seq).unwrap_or_default();
                let erased = ErasureReceipt {
                    receipt: receipt.to_string(),
                    tenant: tenant.to_string(),
                    contact: contact.to_string(),
                    channel_kind: kind,
                    events_redacted: events.len() as u64,
                    media_removed: media_removed as u64,
                    replies_removed: replies_removed as u64,
                    quarantined_removed: quarantined_removed as u64,
                    seq,
                };
                let mut record = audit;
                if let serde_json::Value::Object(detail) = &mut record.detail
                    && let Ok(serde_json::Value::Object(counts)) = serde_json::to_value(&erased)
                {
                    detail.extend(counts);
                }
                audit_in(connection, &record)?;
                ledger_in(connection, &ledger)?;
                Ok((erased, appended))
            },
            {
                let publish = self.publisher();
                move |(_, appended): &(ErasureReceipt, Appended)| publish(appended)
            },
        )?;
        Ok(erased)
    }

    fn purge_history(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
        cutoff: DateTime<Utc>,
        receipt: ReceiptId,
        limit: usize,
    ) -> Result<PurgeReceipt, StoreError> {
        let (tenant, channel) = (tenant.clone(), channel.clone());
        let (purged, _) = self.write_then(
            move |connection, state| {
                let through: i64 = connection
                    .prepare_cached(
                        "SELECT purged_through FROM channels WHERE tenant_id = ?1 AND id = ?2",
                    )?
                    .query_row(params![tenant.as_str(), channel.as_str()], |row| row.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("channel {channel}")))?;
                let mut scanned: Vec<(i64, String)> = Vec::new();
                {
                    let mut statement = connection.prepare_cached(
                        "SELECT seq, body FROM events WHERE tenant_id = ?1 AND seq > ?2
                         ORDER BY seq LIMIT ?3",
                    )?;
                    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                    let mut rows = statement.query(params![tenant.as_str(), through, limit])?;
                    while let Some(row) = rows.next()? {
                        scanned.push((row.get(0)?, row.get(1)?));
                    }
                }
                let mut plan = PurgePlan::new(through, scanned.len() < limit);
                for (seq, body) in scanned {
                    let event: Event = from_json(&body, "event")?;
                    if !plan.consider(seq, event, &channel, cutoff) {
                        break;
                    }
                }
                let mut media_removed = 0;
                for (seq, event) in &plan.redact {
                    redact_in(connection, &tenant, *seq, event, &receipt)?;
                }
                for id in &plan.media {
                    media_removed += connection
                        .prepare_cached("DELETE FROM media WHERE tenant_id = ?1 AND id = ?2")?
                        .execute(params![tenant.as_str(), id])?;
                }
                let replies_removed = connection.execute(
                    "DELETE FROM replies WHERE tenant_id = ?1 AND created_at < ?3
                       AND state IN ('sent', 'failed', 'unknown')
                       AND conversation_id IN
                           (SELECT id FROM conversations WHERE tenant_id = ?1 AND channel_id = ?2)",
                    params![tenant.as_str(), channel.as_str(), timestamp(cutoff)],
                )?;
                connection
                    .prepare_cached(
                        "UPDATE channels SET purged_through = ?3 WHERE tenant_id = ?1 AND id = ?2",
                    )?
                    .execute(params![tenant.as_str(), channel.as_str(), plan.through])?;
                let purged = plan.receipt(
                    &receipt,
                    &channel,
                    cutoff,
                    media_removed as u64,
                    replies_removed as u64,
                );
                let appended = if purged.events_redacted + purged.replies_removed > 0 {
                    let appended =
                        append_in(connection, state, vec![purged.event(&tenant, &channel)])?;
                    audit_in(connection, &purged.audit(&tenant))?;
                    appended
                } else {
                    Appended::default()
                };
                Ok((purged, appended))
            },
            {
                let publish = self.publisher();
                move |(_, appended): &(PurgeReceipt, Appended)| publish(appended)
            },
        )?;
        Ok(purged)
    }

    fn erase_quarantined(
        &self,
        app_id: &str,
        external_id: &str,
        ledger: Option<&LedgerEntry>,
    ) -> Result<u64, StoreError> {
        let (app_id, external_id) = (app_id.to_owned(), external_id.to_owned());
        let ledger = ledger.cloned();
        self.write(move |connection| {
            let removed = connection.execute(
                "DELETE FROM quarantine WHERE app_id = ?1 AND instr(body, CAST(?2 AS BLOB)) > 0",
                params![app_id, external_id],
            )?;
            if let Some(ledger) = &ledger {
                ledger_in(connection, ledger)?;
            }
            Ok(removed as u64)
        })
    }

    fn record_erasures(&self, entries: &[LedgerEntry]) -> Result<(), StoreError> {
        let entries = entries.to_vec();
        self.write(move |connection| {
            for entry in &entries {
                ledger_in(connection, entry)?;
            }
            Ok(())
        })
    }

    fn erasure_ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT kind, subject_hash, tenant_id, erased_at FROM erasure_ledger
                 ORDER BY erased_at, kind, subject_hash",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(LedgerEntry {
                    kind: row.get(0)?,
                    subject_hash: row.get(1)?,
                    tenant: row.get(2)?,
                    erased_at: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn all_contacts(&self) -> Result<Vec<(TenantId, ContactId)>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached("SELECT tenant_id, id FROM contacts")?;
            let rows = statement.query_map([], |row| {
                Ok((
                    TenantId::new(row.get::<_, String>(0)?),
                    ContactId::new(row.get::<_, String>(1)?),
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn quarantined_bodies(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached("SELECT app_id, body FROM quarantine")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn purge_quarantine(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        self.write(move |connection| {
            let removed = connection.execute(
                "DELETE FROM quarantine WHERE received_at < ?1",
                [timestamp(cutoff)],
            )?;
            Ok(removed as u64)
        })
    }

    fn contacts_by_external_id(
        &self,
        app_id: &str,
        external_id: &str,
    ) -> Result<Vec<ContactMatch>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT c.tenant_id, c.id, ch.kind FROM channels ch
                 JOIN contacts c ON c.channel_id = ch.id AND c.external_id = ?2
                 WHERE ch.app_id = ?1",
            )?;
            let mut rows = statement.query(params![app_id, external_id])?;
            let mut found = Vec::new();
            while let Some(row) = rows.next()? {
                let kind: String = row.get(2)?;
                found.push(ContactMatch {
                    tenant: TenantId::new(row.get::<_, String>(0)?),
                    contact: ContactId::new(row.get::<_, String>(1)?),
                    channel_kind: channel_kind(&kind)?,
                });
            }
            Ok(found)
        })
    }

    fn message_in_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        message: &str,
    ) -> Result<bool, StoreError> {
        // A message's stable id is `msg:<id>`, or `msg:<id>#1` for the first part of a
        // Messenger message with several attachments; a point lookup on the unique key.
        let (whole, first) = (format!("msg:{message}"), format!("msg:{message}#1"));
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT 1 FROM events WHERE tenant_id = ?1 AND id IN (?2, ?3)
                       AND conversation_id = ?4 AND type IN ('message_received', 'message_sent')",
                )?
                .exists(params![
                    tenant.as_str(),
                    whole,
                    first,
                    conversation.as_str()
                ])?)
        })
    }

    fn agents_may_erase(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        self.read(|connection| {
            connection
                .prepare_cached("SELECT agents_may_erase FROM tenants WHERE id = ?1")?
                .query_row([tenant.as_str()], |row| row.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))
        })
    }

    fn set_agents_may_erase(&self, tenant: &TenantId, allowed: bool) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        self.write(move |connection| {
            require_tenant(connection, &tenant)?;
            connection.execute(
                "UPDATE tenants SET agents_may_erase = ?2 WHERE id = ?1",
                params![tenant.as_str(), allowed],
            )?;
            Ok(())
        })
    }

    fn checkpoint_truncate(&self) -> Result<(), StoreError> {
        let connection = open_connection(&self.path)?;
        // Readers on old snapshots keep old frames alive; they finish within moments.
        for _ in 0..200 {
            let busy: i64 =
                connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            thread::sleep(std::time::Duration::from_millis(25));
        }
        Err(StoreError::Corrupt(
            "the WAL could not be checkpointed: a reader held it for 5 s".into(),
        ))
    }

    fn record_deletion_request(
        &self,
        code: &str,
        app_id: &str,
        user_hash: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let row = (
            code.to_owned(),
            app_id.to_owned(),
            user_hash.to_owned(),
            outcome.to_owned(),
        );
        self.write(move |connection| {
            connection.execute(
                "INSERT INTO deletion_requests (confirmation_code, app_id, user_hash, received_at, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.0, row.1, row.2, now_text(), row.3],
            )?;
            Ok(())
        })
    }

    fn deletion_request(&self, code: &str) -> Result<Option<(String, String)>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT received_at, outcome FROM deletion_requests WHERE confirmation_code = ?1",
                )?
                .query_row([code], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?)
        })
    }

    fn audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        self.write(move |connection| audit_in(connection, &record))
    }

    fn audit_log(&self, tenant: &TenantId) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT tenant_id, seq, at, actor, action, detail, prev_hash, hash FROM audit
                 WHERE tenant_id = ?1 ORDER BY seq",
            )?;
            let mut rows = statement.query([tenant.as_str()])?;
            let mut entries = Vec::new();
            while let Some(row) = rows.next()? {
                let detail: String = row.get(5)?;
                let seq: i64 = row.get(1)?;
                entries.push(AuditEntry {
                    tenant: row.get(0)?,
                    seq: u64::try_from(seq)
                        .map_err(|_| StoreError::Corrupt(format!("audit seq {seq}")))?,
                    at: row.get(2)?,
                    actor: row.get(3)?,
                    action: row.get(4)?,
                    detail: from_json(&detail, "audit detail")?,
                    prev_hash: row.get(6)?,
                    hash: row.get(7)?,
                });
            }
            Ok(entries)
        })
    }
}

/// Overwrites the event at `seq` with its tombstone: same sequence, same id (so a
/// redelivered webhook is still recognised), no content.
/// The tenant's contacts (or only `only`), by id, with their conversation.
fn contact_profiles_in(
    connection: &Connection,
    tenant: &TenantId,
    only: Option<&ContactId>,
) -> Result<Vec<ContactProfile>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT c.id, c.channel_id, ch.kind, c.external_id, c.name, c.marketing_opted_out, conv.id
         FROM contacts c JOIN channels ch ON ch.id = c.channel_id
         LEFT JOIN conversations conv ON conv.contact_id = c.id
         WHERE c.tenant_id = ?1 AND (?2 IS NULL OR c.id = ?2)
         ORDER BY c.id",
    )?;
    let rows = statement.query_map(
        params![tenant.as_str(), only.map(ContactId::as_str)],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, bool>(5)?,
                row.get::<_, Option<String>>(6)?,
            ))
        },
    )?;
    let mut profiles = Vec::new();
    for row in rows {
        let (id, channel, kind, external_id, name, opted_out, conversation) = row?;
        profiles.push(ContactProfile {
            id: ContactId::new(id),
            channel: ChannelId::new(channel),
            channel_kind: channel_kind(&kind)?,
            external_id,
            name,
            marketing_opted_out: opted_out,
            conversation: conversation.map(ConversationId::new),
        });
    }
    Ok(profiles)
}

fn redact_in(
    connection: &Connection,
    tenant: &TenantId,
    seq: i64,
    event: &Event,
    receipt: &ReceiptId,
) -> Result<(), StoreError> {
    let mut tombstone = event.clone();
    tombstone.body = EventBody::Redacted {
        receipt: receipt.clone(),
    };
    connection
        .prepare_cached(
            "UPDATE events SET type = 'redacted', body = ?3 WHERE tenant_id = ?1 AND seq = ?2",
        )?
        .execute(params![tenant.as_str(), seq, json_text(&tombstone)?])?;
    Ok(())
}

/// Records `entry` in the erasure ledger, in the caller's transaction; kept as it is if
/// the subject is already there (a re-applied erasure keeps its first date).
fn ledger_in(connection: &Connection, entry: &LedgerEntry) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO erasure_ledger (kind, subject_hash, tenant_id, erased_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            entry.kind,
            entry.subject_hash,
            entry.tenant,
            entry.erased_at
        ])?;
    Ok(())
}
