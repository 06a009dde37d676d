//! [`WorkStore`] for PostgreSQL, plus the two hooks `append_in` calls for every new event:
//! [`reconcile_echo`] and [`project`] (the same rules as SQLite's, from `workflow`).

use super::*;
use crate::audit::{self, AuditEntry};
use crate::store::work::*;
use crate::workflow;
use ventana_protocol::event::{SendFailure, SentAs};
use ventana_protocol::ids::{IdempotencyKey, ReceiptId};

/// See the SQLite store's `reconcile_echo`: an echo of a reply this relay made is logged as
/// the reply, once.
pub(super) async fn reconcile_echo(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    body: EventBody,
) -> Result<Option<EventBody>, StoreError> {
    let Some(key) = workflow::echo_key(&body).cloned() else {
        return Ok(Some(body));
    };
    let reply = read_reply(tx, tenant, &key)
        .await?
        .map(|record| workflow::EchoedReply {
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
            let statement = tx
                .prepare_cached(
                    "UPDATE replies SET state = 'sent', message_id = $3, failure = NULL,
                         updated_at = $4
                     WHERE tenant_id = $1 AND idempotency_key = $2",
                )
                .await?;
            tx.execute(
                &statement,
                &[
                    &tenant.as_str(),
                    &key.as_str(),
                    &message_id.as_str(),
                    &now_text(),
                ],
            )
            .await?;
            Ok(Some(*logged))
        }
    }
}

/// See the SQLite store's `project`: keeps the conversation's and contact's state columns
/// true to a new event and returns the events it causes.
pub(super) async fn project(
    tx: &Transaction<'_>,
    event: &Event,
) -> Result<Vec<NewEvent>, StoreError> {
    let (Some(conversation), contact) = (&event.conversation, &event.contact) else {
        return Ok(Vec::new());
    };
    let current = if workflow::needs_facts(&event.body) {
        match conversation_facts(tx, conversation).await? {
            Some(facts) => facts,
            None => return Ok(Vec::new()),
        }
    } else {
        workflow::ConversationFacts::default()
    };
    let projection = workflow::projection(event, &current);
    let id = conversation.as_str();
    if let Some(at) = projection.last_inbound_at {
        let statement = tx
            .prepare_cached("UPDATE conversations SET last_inbound_at = $2 WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&id, &timestamp(at)]).await?;
    }
    if let Some(at) = projection.last_outbound_at {
        let statement = tx
            .prepare_cached("UPDATE conversations SET last_outbound_at = $2 WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&id, &timestamp(at)]).await?;
    }
    if let (Some(out), Some(contact)) = (projection.marketing_opted_out, contact) {
        let statement = tx
            .prepare_cached("UPDATE contacts SET marketing_opted_out = $2 WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&contact.as_str(), &out]).await?;
    }
    if let Some(status) = &projection.status {
        let (status, until) = status_columns(status);
        let statement = tx
            .prepare_cached(
                "UPDATE conversations SET status = $2, snoozed_until = $3 WHERE id = $1",
            )
            .await?;
        tx.execute(&statement, &[&id, &status, &until]).await?;
    }
    if let Some(agent) = &projection.assignee {
        let statement = tx
            .prepare_cached("UPDATE conversations SET assignee = $2 WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&id, &agent.as_ref().map(|a| a.as_str())])
            .await?;
    }
    if let Some(labels) = &projection.labels {
        let labels = serde_json::to_string(labels)
            .map_err(|e| StoreError::Corrupt(format!("labels: {e}")))?;
        let statement = tx
            .prepare_cached("UPDATE conversations SET labels = $2 WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&id, &labels]).await?;
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
async fn conversation_facts(
    tx: &Transaction<'_>,
    conversation: &ConversationId,
) -> Result<Option<workflow::ConversationFacts>, StoreError> {
    let statement = tx
        .prepare_cached(
            "SELECT status, snoozed_until, last_inbound_at, last_outbound_at
             FROM conversations WHERE id = $1",
        )
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&conversation.as_str()]).await? else {
        return Ok(None);
    };
    let status: String = row.try_get(0)?;
    let until: Option<String> = row.try_get(1)?;
    let inbound: Option<String> = row.try_get(2)?;
    let outbound: Option<String> = row.try_get(3)?;
    Ok(Some(workflow::ConversationFacts {
        status: status_from_columns(&status, until)?,
        last_inbound_at: inbound.as_deref().map(parse_time).transpose()?,
        last_outbound_at: outbound.as_deref().map(parse_time).transpose()?,
    }))
}

pub(super) fn reply_from_row(row: &tokio_postgres::Row) -> Result<ReplyRecord, StoreError> {
    let hash: Vec<u8> = row.try_get(3)?;
    let sender: String = row.try_get(5)?;
    let sent_as: Option<String> = row.try_get(6)?;
    let state: String = row.try_get(7)?;
    let failure: Option<String> = row.try_get(9)?;
    Ok(ReplyRecord {
        tenant: TenantId::new(row.try_get::<_, String>(0)?),
        key: IdempotencyKey::new(row.try_get::<_, String>(1)?),
        conversation: ConversationId::new(row.try_get::<_, String>(2)?),
        request_hash: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("reply request hash".into()))?,
        request: row.try_get(4)?,
        sender: from_json(&sender, "reply sender")?,
        sent_as: sent_as
            .map(|text| from_json::<SentAs>(&text, "reply sent_as"))
            .transpose()?,
        state: ReplyState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("reply state {state:?}")))?,
        message_id: row.try_get(8)?,
        failure: failure
            .map(|text| from_json::<SendFailure>(&text, "reply failure"))
            .transpose()?,
        attempts: u32::try_from(row.try_get::<_, i64>(10)?)
            .map_err(|_| StoreError::Corrupt("reply attempts".into()))?,
    })
}

pub(super) async fn read_reply(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    key: &IdempotencyKey,
) -> Result<Option<ReplyRecord>, StoreError> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {REPLY_COLUMNS} FROM replies WHERE tenant_id = $1 AND idempotency_key = $2"
        ))
        .await?;
    tx.query_opt(&statement, &[&tenant.as_str(), &key.as_str()])
        .await?
        .as_ref()
        .map(reply_from_row)
        .transpose()
}

/// Appends an audit entry inside `tx`, chained to the tenant's last. The chain is per
/// tenant and nodes write it concurrently, so the transaction first takes the tenant's
/// audit lock (released at commit): two entries never claim the same place.
/// Records `entry` in the erasure ledger, in the caller's transaction; kept as it is if
/// the subject is already there (a re-applied erasure keeps its first date).
async fn ledger_in(tx: &Transaction<'_>, entry: &LedgerEntry) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO erasure_ledger (kind, subject_hash, tenant_id, erased_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &entry.kind,
            &entry.subject_hash,
            &entry.tenant,
            &entry.erased_at,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn audit_in(
    tx: &Transaction<'_>,
    record: &AuditRecord,
) -> Result<AuditEntry, StoreError> {
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended('audit:' || $1, 0))")
        .await?;
    tx.execute(&lock, &[&record.tenant.as_str()]).await?;
    let statement = tx
        .prepare_cached(
            "SELECT seq, hash FROM audit WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .await?;
    let last = tx.query_opt(&statement, &[&record.tenant.as_str()]).await?;
    let (seq, prev_hash) = match last {
        Some(row) => (row.try_get::<_, i64>(0)? + 1, row.try_get::<_, String>(1)?),
        None => (1, audit::GENESIS.to_owned()),
    };
    let stored_seq = seq;
    let seq = unsigned(seq, "audit seq")?;
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
    let statement = tx
        .prepare_cached(
            "INSERT INTO audit (tenant_id, seq, at, actor, action, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &record.tenant.as_str(),
            &stored_seq,
            &at,
            &record.actor,
            &record.action,
            &detail,
            &prev_hash,
            &hash,
        ],
    )
    .await?;
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

/// The channel `id` of `tenant`, on a pooled client or inside a transaction.
async fn read_channel_by_id<C: deadpool_postgres::GenericClient>(
    client: &C,
    tenant: &TenantId,
    id: &ChannelId,
) -> Result<Option<Channel>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE tenant_id = $1 AND id = $2"
        ))
        .await?;
    client
        .query_opt(&statement, &[&tenant.as_str(), &id.as_str()])
        .await?
        .as_ref()
        .map(read_channel)
        .transpose()
}

impl WorkStore for PostgresStore {
    fn channel(&self, tenant: &TenantId, id: &ChannelId) -> Result<Option<Channel>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |client| {
            Box::pin(async move { read_channel_by_id(client, &tenant, &id).await })
        })
    }

    fn channel_token(&self, id: &ChannelId) -> Result<Option<String>, StoreError> {
        let id = id.clone();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached("SELECT token_sealed FROM channels WHERE id = $1")
                    .await?;
                let row = client.query_opt(&statement, &[&id.as_str()]).await?;
                Ok(match row {
                    Some(row) => row.try_get::<_, Option<String>>(0)?,
                    None => None,
                })
            })
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
        let (channel, appended) = self.write(move |tx| {
            Box::pin(async move {
                if read_channel_by_id(tx, &tenant, &id).await?.is_none() {
                    return Err(StoreError::NotFound(format!("channel {id}")));
                }
                let settings = change.settings.as_ref().map(json_text).transpose()?;
                let statement = tx
                    .prepare_cached(
                        "UPDATE channels SET
                            display_name = coalesce($3::TEXT, display_name),
                            token_sealed = coalesce($4::TEXT, token_sealed),
                            -- A new token is a re-connection.
                            needs_reconnection = CASE WHEN $4::TEXT IS NULL
                                THEN needs_reconnection END,
                            human_agent_approved = coalesce($5::BOOLEAN, human_agent_approved),
                            settings = coalesce($6::TEXT, settings),
                            waba_id = coalesce($7::TEXT, waba_id)
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .await?;
                tx.execute(
                    &statement,
                    &[
                        &tenant.as_str(),
                        &id.as_str(),
                        &change.display_name,
                        &change.token_sealed,
                        &change.human_agent_approved,
                        &settings,
                        &change.waba_id,
                    ],
                )
                .await?;
                let channel = read_channel_by_id(tx, &tenant, &id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("channel {id}")))?;
                let appended = append_in(tx, vec![channel_event(&channel)]).await?;
                if let Some(record) = audit {
                    audit_in(tx, &record).await?;
                }
                Ok((channel, appended))
            })
        })?;
        self.published(&appended);
        Ok(channel)
    }

    fn mark_needs_reconnection(
        &self,
        tenant: &TenantId,
        id: &ChannelId,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let (tenant, id, reason) = (tenant.clone(), id.clone(), reason.to_owned());
        let appended = self.write_appending(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(
                        "UPDATE channels SET needs_reconnection = $3
                         WHERE tenant_id = $1 AND id = $2 AND needs_reconnection IS NULL",
                    )
                    .await?;
                let changed = tx
                    .execute(&statement, &[&tenant.as_str(), &id.as_str(), &reason])
                    .await?;
                if changed == 0 {
                    return Ok(Appended::default());
                }
                let channel = read_channel_by_id(tx, &tenant, &id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("channel {id}")))?;
                let appended = append_in(tx, vec![channel_event(&channel)]).await?;
                audit_in(
                    tx,
                    &AuditRecord {
                        tenant: tenant.clone(),
                        actor: "system".into(),
                        action: "channel_needs_reconnection".into(),
                        detail: serde_json::json!({"channel": id.as_str(), "reason": reason}),
                    },
                )
                .await?;
                Ok(appended)
            })
        })?;
        Ok(!appended.entries.is_empty())
    }

    fn media(&self, tenant: &TenantId, id: &MediaId) -> Result<Option<StoredMedia>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT channel_id, source_kind, source FROM media
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .await?;
                let row = client
                    .query_opt(&statement, &[&tenant.as_str(), &id.as_str()])
                    .await?;
                row.map(|row| {
                    Ok(StoredMedia {
                        id: id.clone(),
                        channel: ChannelId::new(row.try_get::<_, String>(0)?),
                        source_kind: row.try_get(1)?,
                        source: row.try_get(2)?,
                    })
                })
                .transpose()
            })
        })
    }

    fn contact_profile(
        &self,
        tenant: &TenantId,
        id: &ContactId,
    ) -> Result<Option<ContactProfile>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |client| {
            Box::pin(async move {
                let mut found = contact_profiles_in(client, &tenant, Some(&id)).await?;
                Ok(found.pop())
            })
        })
    }

    fn contact_profiles(&self, tenant: &TenantId) -> Result<Vec<ContactProfile>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |client| {
            Box::pin(async move { contact_profiles_in(client, &tenant, None).await })
        })
    }

    fn contact_events(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let (tenant, contact) = (tenant.clone(), contact.clone());
        self.read(move |client| {
            Box::pin(async move {
                // `contact_id IS NOT NULL` lets the planner use the partial index
                // `events_by_contact`.
                let statement = client
                    .prepare_cached(
                        "SELECT seq, body FROM events
                         WHERE tenant_id = $1 AND contact_id = $2 AND contact_id IS NOT NULL
                         ORDER BY seq",
                    )
                    .await?;
                let rows = client
                    .query(&statement, &[&tenant.as_str(), &contact.as_str()])
                    .await?;
                rows.iter()
                    .map(|row| {
                        let seq: i64 = row.try_get(0)?;
                        let body: String = row.try_get(1)?;
                        Ok(LogEntry {
                            seq: unsigned(seq, "sequence")?,
                            event: from_json(&body, "event")?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn conversation_state(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> Result<Option<ConversationState>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT conv.channel_id, conv.contact_id, c.external_id,
                                conv.last_inbound_at, conv.last_outbound_at, conv.status,
                                conv.snoozed_until, conv.assignee, conv.labels,
                                c.marketing_opted_out
                         FROM conversations conv JOIN contacts c ON c.id = conv.contact_id
                         WHERE conv.tenant_id = $1 AND conv.id = $2",
                    )
                    .await?;
                let Some(row) = client
                    .query_opt(&statement, &[&tenant.as_str(), &id.as_str()])
                    .await?
                else {
                    return Ok(None);
                };
                let channel: String = row.try_get(0)?;
                let contact: String = row.try_get(1)?;
                let external: String = row.try_get(2)?;
                let inbound: Option<String> = row.try_get(3)?;
                let outbound: Option<String> = row.try_get(4)?;
                let status: String = row.try_get(5)?;
                let until: Option<String> = row.try_get(6)?;
                let assignee: Option<String> = row.try_get(7)?;
                let labels: String = row.try_get(8)?;
                let opted_out: bool = row.try_get(9)?;
                let channel = read_channel_by_id(client, &tenant, &ChannelId::new(channel))
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("conversation {id} has no channel"))
                    })?;
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
        })
    }

    fn waiting_conversations(&self, now: DateTime<Utc>) -> Result<Vec<Waiting>, StoreError> {
        let since = timestamp(now - chrono::TimeDelta::days(8));
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT conv.tenant_id, conv.id, conv.contact_id, conv.channel_id,
                                ch.settings, conv.last_inbound_at
                         FROM conversations conv JOIN channels ch ON ch.id = conv.channel_id
                         WHERE conv.last_inbound_at > $1
                           AND (conv.last_outbound_at IS NULL
                                OR conv.last_outbound_at < conv.last_inbound_at)
                           AND conv.status IN ('open', 'pending')",
                    )
                    .await?;
                let rows = client.query(&statement, &[&since]).await?;
                rows.iter()
                    .map(|row| {
                        let settings: String = row.try_get(4)?;
                        let last: String = row.try_get(5)?;
                        Ok(Waiting {
                            tenant: TenantId::new(row.try_get::<_, String>(0)?),
                            conversation: ConversationId::new(row.try_get::<_, String>(1)?),
                            contact: ContactId::new(row.try_get::<_, String>(2)?),
                            channel: ChannelId::new(row.try_get::<_, String>(3)?),
                            settings: Arc::new(from_json(&settings, "channel settings")?),
                            last_inbound_at: parse_time(&last)?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn ended_snoozes(&self, now: DateTime<Utc>) -> Result<Vec<SnoozeEnded>, StoreError> {
        let now = timestamp(now);
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT tenant_id, id, contact_id, channel_id, snoozed_until
                         FROM conversations
                         WHERE snoozed_until IS NOT NULL AND snoozed_until <= $1
                           AND status = 'snoozed'",
                    )
                    .await?;
                let rows = client.query(&statement, &[&now]).await?;
                rows.iter()
                    .map(|row| {
                        let until: String = row.try_get(4)?;
                        Ok(SnoozeEnded {
                            tenant: TenantId::new(row.try_get::<_, String>(0)?),
                            conversation: ConversationId::new(row.try_get::<_, String>(1)?),
                            contact: ContactId::new(row.try_get::<_, String>(2)?),
                            channel: ChannelId::new(row.try_get::<_, String>(3)?),
                            until: parse_time(&until)?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn reserve_reply(&self, record: ReplyRecord) -> Result<Reservation, StoreError> {
        let node = self.node.id.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let now = now_text();
                let statement = tx
                    .prepare_cached(
                        "INSERT INTO replies (tenant_id, idempotency_key, conversation_id,
                             request_hash, request, sender, state, attempts, created_at,
                             updated_at, node_id)
                         VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $7, $8)
                         ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
                    )
                    .await?;
                let inserted = tx
                    .execute(
                        &statement,
                        &[
                            &record.tenant.as_str(),
                            &record.key.as_str(),
                            &record.conversation.as_str(),
                            &record.request_hash.as_slice(),
                            &record.request,
                            &json_text(&record.sender)?,
                            &now,
                            &node,
                        ],
                    )
                    .await?;
                if inserted == 1 {
                    return read_reply(tx, &record.tenant, &record.key)
                        .await?
                        .map(Reservation::New)
                        .ok_or_else(|| StoreError::Corrupt("a reserved reply vanished".into()));
                }
                let existing = read_reply(tx, &record.tenant, &record.key)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("a conflicting reply vanished".into()))?;
                if existing.state == ReplyState::Failed
                    && existing.request_hash == record.request_hash
                    && existing.conversation == record.conversation
                {
                    let statement = tx
                        .prepare_cached(
                            "UPDATE replies SET state = 'queued', failure = NULL, updated_at = $3,
                                 node_id = $4
                             WHERE tenant_id = $1 AND idempotency_key = $2 AND state = 'failed'",
                        )
                        .await?;
                    tx.execute(
                        &statement,
                        &[&record.tenant.as_str(), &record.key.as_str(), &now, &node],
                    )
                    .await?;
                    return read_reply(tx, &record.tenant, &record.key)
                        .await?
                        .map(Reservation::Requeued)
                        .ok_or_else(|| StoreError::Corrupt("a requeued reply vanished".into()));
                }
                Ok(Reservation::Existing(existing))
            })
        })
    }

    fn reply(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
    ) -> Result<Option<ReplyRecord>, StoreError> {
        let (tenant, key) = (tenant.clone(), key.clone());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {REPLY_COLUMNS} FROM replies
                         WHERE tenant_id = $1 AND idempotency_key = $2"
                    ))
                    .await?;
                client
                    .query_opt(&statement, &[&tenant.as_str(), &key.as_str()])
                    .await?
                    .as_ref()
                    .map(reply_from_row)
                    .transpose()
            })
        })
    }

    fn reply_sending(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        sent_as: SentAs,
    ) -> Result<ReplyRecord, StoreError> {
        let (tenant, key) = (tenant.clone(), key.clone());
        let node = self.node.id.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(
                        "UPDATE replies SET state = 'sending', sent_as = $3,
                             attempts = attempts + 1, updated_at = $4, node_id = $5
                         WHERE tenant_id = $1 AND idempotency_key = $2 AND state = 'queued'",
                    )
                    .await?;
                let changed = tx
                    .execute(
                        &statement,
                        &[
                            &tenant.as_str(),
                            &key.as_str(),
                            &json_text(&sent_as)?,
                            &now_text(),
                            &node,
                        ],
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::Conflict(format!("reply {key} is not queued")));
                }
                read_reply(tx, &tenant, &key)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("reply {key}")))
            })
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
        self.write_appending(move |tx| {
            Box::pin(async move {
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
                let statement = tx
                    .prepare_cached(
                        "UPDATE replies SET state = $3, message_id = coalesce($4::TEXT, message_id),
                             failure = $5, updated_at = $6
                         WHERE tenant_id = $1 AND idempotency_key = $2 AND state != 'sent'",
                    )
                    .await?;
                let changed = tx
                    .execute(
                        &statement,
                        &[
                            &tenant.as_str(),
                            &key.as_str(),
                            &new_state,
                            &message_id,
                            &failure,
                            &now_text(),
                        ],
                    )
                    .await?;
                // See the SQLite store: the row is gone only when the contact was erased
                // while the call was in flight; record nothing about them.
                if changed == 0 && read_reply(tx, &tenant, &key).await?.is_none() {
                    if let Some(mut record) = audit {
                        if let serde_json::Value::Object(detail) = &mut record.detail {
                            if let Some(serde_json::Value::Object(outcome)) =
                                detail.get_mut("outcome")
                            {
                                outcome.remove("message_id");
                            }
                            detail.insert("contact_erased".into(), true.into());
                        }
                        audit_in(tx, &record).await?;
                    }
                    return Ok(Appended {
                        dropped: events.len(),
                        ..Appended::default()
                    });
                }
                let appended = append_in(tx, events).await?;
                if let Some(record) = audit {
                    audit_in(tx, &record).await?;
                }
                Ok(appended)
            })
        })
    }

    fn unfinished_replies(&self) -> Result<Vec<ReplyRecord>, StoreError> {
        self.read(|client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {REPLY_COLUMNS} FROM replies WHERE state IN ('queued', 'sending')"
                    ))
                    .await?;
                let rows = client.query(&statement, &[]).await?;
                rows.iter().map(reply_from_row).collect()
            })
        })
    }

    fn take_over_replies(&self) -> Result<Vec<ReplyRecord>, StoreError> {
        // One statement claims them, so two live nodes never take over the same reply.
        // This node is alive, so its own claims are never among them.
        let (node, lease) = (self.node.id.clone(), self.node.lease_seconds);
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(&format!(
                        "UPDATE replies SET node_id = $1
                         WHERE state IN ('queued', 'sending')
                           AND (node_id IS NULL OR node_id NOT IN (
                                SELECT id FROM nodes
                                WHERE heartbeat_at > now() - make_interval(secs => $2)))
                         RETURNING {REPLY_COLUMNS}"
                    ))
                    .await?;
                let rows = tx.query(&statement, &[&node, &lease]).await?;
                rows.iter().map(reply_from_row).collect()
            })
        })
    }

    fn replace_templates(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
        templates: Vec<Template>,
    ) -> Result<(), StoreError> {
        let (tenant, channel) = (tenant.clone(), channel.clone());
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "DELETE FROM templates WHERE tenant_id = $1 AND channel_id = $2",
                    &[&tenant.as_str(), &channel.as_str()],
                )
                .await?;
                let synced_at = now_text();
                let statement = tx
                    .prepare_cached(
                        "INSERT INTO templates (channel_id, tenant_id, name, language, category,
                             status, meta_id, components, synced_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (channel_id, name, language) DO UPDATE SET
                             tenant_id = excluded.tenant_id, category = excluded.category,
                             status = excluded.status, meta_id = excluded.meta_id,
                             components = excluded.components, synced_at = excluded.synced_at",
                    )
                    .await?;
                for template in templates {
                    tx.execute(
                        &statement,
                        &[
                            &channel.as_str(),
                            &tenant.as_str(),
                            &template.name,
                            &template.language,
                            &template.category,
                            &template.status,
                            &template.meta_id,
                            &template.components.to_string(),
                            &synced_at,
                        ],
                    )
                    .await?;
                }
                Ok(())
            })
        })
    }

    fn templates(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
    ) -> Result<Vec<Template>, StoreError> {
        let (tenant, channel) = (tenant.clone(), channel.clone());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT name, language, category, status, meta_id, components
                         FROM templates WHERE tenant_id = $1 AND channel_id = $2
                         ORDER BY name, language",
                    )
                    .await?;
                let rows = client
                    .query(&statement, &[&tenant.as_str(), &channel.as_str()])
                    .await?;
                rows.iter()
                    .map(|row| {
                        let components: String = row.try_get(5)?;
                        Ok(Template {
                            name: row.try_get(0)?,
                            language: row.try_get(1)?,
                            category: row.try_get(2)?,
                            status: row.try_get(3)?,
                            meta_id: row.try_get(4)?,
                            components: from_json(&components, "template components")?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn template_channels(&self) -> Result<Vec<Channel>, StoreError> {
        self.read(|client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {CHANNEL_COLUMNS} FROM channels
                         WHERE kind = 'whatsapp' AND waba_id IS NOT NULL
                           AND token_sealed IS NOT NULL AND needs_reconnection IS NULL"
                    ))
                    .await?;
                let rows = client.query(&statement, &[]).await?;
                rows.iter().map(read_channel).collect()
            })
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
        let (erased, appended) = self.write(move |tx| {
            Box::pin(async move {
                // SQLite serialises erasure with appends through its one writer; here the
                // tenant's head is locked first, as every append of any node locks it, so
                // no event about this contact is stored while they are being erased.
                lock_tenant(tx, tenant.as_str()).await?;
                let statement = tx
                    .prepare_cached(
                        "SELECT c.channel_id, ch.kind, c.external_id, conv.id
                         FROM contacts c JOIN channels ch ON ch.id = c.channel_id
                         LEFT JOIN conversations conv ON conv.contact_id = c.id
                         WHERE c.tenant_id = $1 AND c.id = $2",
                    )
                    .await?;
                let rows = tx
                    .query(&statement, &[&tenant.as_str(), &contact.as_str()])
                    .await?;
                let Some(row) = rows.first() else {
                    return Err(StoreError::NotFound(format!("contact {contact}")));
                };
                let channel = ChannelId::new(row.try_get::<_, String>(0)?);
                let kind: String = row.try_get(1)?;
                let external_id: String = row.try_get(2)?;
                let conversation: Option<String> = row.try_get(3)?;

                // The contact's events become tombstones in place: same sequence numbers,
                // same ids, no content (see the SQLite store).
                let statement = tx
                    .prepare_cached(
                        "SELECT seq, body FROM events WHERE tenant_id = $1 AND contact_id = $2",
                    )
                    .await?;
                let events = tx
                    .query(&statement, &[&tenant.as_str(), &contact.as_str()])
                    .await?;
                let mut media = Vec::new();
                for row in &events {
                    let seq: i64 = row.try_get(0)?;
                    let body: String = row.try_get(1)?;
                    let event: Event = from_json(&body, "event")?;
                    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&body) {
                        media_ids(&value, &mut media);
                    }
                    redact_in(tx, &tenant, seq, &event, &receipt).await?;
                }
                // Appended while the conversation still exists, after the tombstones were
                // read (it is not one).
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
                let appended = append_in(tx, vec![erased_event]).await?;
                let delete_media = tx
                    .prepare_cached("DELETE FROM media WHERE tenant_id = $1 AND id = $2")
                    .await?;
                let mut media_removed = 0;
                for id in &media {
                    media_removed += tx.execute(&delete_media, &[&tenant.as_str(), id]).await?;
                }
                let replies_removed = match &conversation {
                    Some(conversation) => {
                        tx.execute(
                            "DELETE FROM replies WHERE tenant_id = $1 AND conversation_id = $2",
                            &[&tenant.as_str(), conversation],
                        )
                        .await?
                    }
                    None => 0,
                };
                // Bodies Meta signed but the relay could not use may hold this person's
                // messages too: any that names their platform id goes.
                let quarantined_removed = tx
                    .execute(
                        "DELETE FROM quarantine
                         WHERE app_id = (SELECT app_id FROM channels WHERE id = $2)
                           AND position($1::BYTEA IN body) > 0",
                        &[&external_id.as_bytes(), &channel.as_str()],
                    )
                    .await?;
                tx.execute(
                    "DELETE FROM conversations WHERE tenant_id = $1 AND contact_id = $2",
                    &[&tenant.as_str(), &contact.as_str()],
                )
                .await?;
                tx.execute(
                    "DELETE FROM contacts WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.as_str(), &contact.as_str()],
                )
                .await?;

                let seq = appended.entries.first().map(|e| e.seq).unwrap_or_default();
                let erased = ErasureReceipt {
                    receipt: receipt.to_string(),
                    tenant: tenant.to_string(),
                    contact: contact.to_string(),
                    channel_kind: kind,
                    events_redacted: events.len() as u64,
                    media_removed,
                    replies_removed,
                    quarantined_removed,
                    seq,
                };
                let mut record = audit;
                if let serde_json::Value::Object(detail) = &mut record.detail
                    && let Ok(serde_json::Value::Object(counts)) = serde_json::to_value(&erased)
                {
                    detail.extend(counts);
                }
                audit_in(tx, &record).await?;
                ledger_in(tx, &ledger).await?;
                Ok((erased, appended))
            })
        })?;
        self.published(&appended);
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
        let (purged, appended) = self.write(move |tx| {
            Box::pin(async move {
                // The tenant's head first, as every append of any node locks it: nothing
                // is appended to this log while its old history is redacted.
                lock_tenant(tx, tenant.as_str()).await?;
                let statement = tx
                    .prepare_cached(
                        "SELECT purged_through FROM channels WHERE tenant_id = $1 AND id = $2",
                    )
                    .await?;
                let through: i64 = tx
                    .query_opt(&statement, &[&tenant.as_str(), &channel.as_str()])
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("channel {channel}")))?
                    .try_get(0)?;
                let statement = tx
                    .prepare_cached(
                        "SELECT seq, body FROM events WHERE tenant_id = $1 AND seq > $2
                         ORDER BY seq LIMIT $3",
                    )
                    .await?;
                let batch = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows = tx
                    .query(&statement, &[&tenant.as_str(), &through, &batch])
                    .await?;
                let mut plan = PurgePlan::new(through, rows.len() < limit);
                for row in &rows {
                    let body: String = row.try_get(1)?;
                    let event: Event = from_json(&body, "event")?;
                    if !plan.consider(row.try_get(0)?, event, &channel, cutoff) {
                        break;
                    }
                }
                for (seq, event) in &plan.redact {
                    redact_in(tx, &tenant, *seq, event, &receipt).await?;
                }
                let delete_media = tx
                    .prepare_cached("DELETE FROM media WHERE tenant_id = $1 AND id = $2")
                    .await?;
                let mut media_removed = 0;
                for id in &plan.media {
                    media_removed += tx.execute(&delete_media, &[&tenant.as_str(), id]).await?;
                }
                let replies_removed = tx
                    .execute(
                        "DELETE FROM replies WHERE tenant_id = $1 AND created_at < $3
                           AND state IN ('sent', 'failed', 'unknown')
                           AND conversation_id IN (SELECT id FROM conversations
                                                   WHERE tenant_id = $1 AND channel_id = $2)",
                        &[&tenant.as_str(), &channel.as_str(), &timestamp(cutoff)],
                    )
                    .await?;
                tx.execute(
                    "UPDATE channels SET purged_through = $3 WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.as_str(), &channel.as_str(), &plan.through],
                )
                .await?;
                let purged =
                    plan.receipt(&receipt, &channel, cutoff, media_removed, replies_removed);
                let appended = if purged.events_redacted + purged.replies_removed > 0 {
                    let appended = append_in(tx, vec![purged.event(&tenant, &channel)]).await?;
                    audit_in(tx, &purged.audit(&tenant)).await?;
                    appended
                } else {
                    Appended::default()
                };
                Ok((purged, appended))
            })
        })?;
        self.published(&appended);
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
        self.write(move |tx| {
            Box::pin(async move {
                let removed = tx
                    .execute(
                        "DELETE FROM quarantine WHERE app_id = $1 AND position($2::BYTEA IN body) > 0",
                        &[&app_id, &external_id.as_bytes()],
                    )
                    .await?;
                if let Some(ledger) = &ledger {
                    ledger_in(tx, ledger).await?;
                }
                Ok(removed)
            })
        })
    }

    fn record_erasures(&self, entries: &[LedgerEntry]) -> Result<(), StoreError> {
        let entries = entries.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                for entry in &entries {
                    ledger_in(tx, entry).await?;
                }
                Ok(())
            })
        })
    }

    fn erasure_ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read(move |client| {
            Box::pin(async move {
                let rows = client
                    .query(
                        "SELECT kind, subject_hash, tenant_id, erased_at FROM erasure_ledger
                         ORDER BY erased_at, kind, subject_hash",
                        &[],
                    )
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(LedgerEntry {
                            kind: row.try_get(0)?,
                            subject_hash: row.try_get(1)?,
                            tenant: row.try_get(2)?,
                            erased_at: row.try_get(3)?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn all_contacts(&self) -> Result<Vec<(TenantId, ContactId)>, StoreError> {
        self.read(move |client| {
            Box::pin(async move {
                let rows = client
                    .query("SELECT tenant_id, id FROM contacts", &[])
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok((
                            TenantId::new(row.try_get::<_, String>(0)?),
                            ContactId::new(row.try_get::<_, String>(1)?),
                        ))
                    })
                    .collect()
            })
        })
    }

    fn quarantined_bodies(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read(move |client| {
            Box::pin(async move {
                let rows = client
                    .query("SELECT app_id, body FROM quarantine", &[])
                    .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect()
            })
        })
    }

    fn purge_quarantine(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                Ok(tx
                    .execute(
                        "DELETE FROM quarantine WHERE received_at < $1",
                        &[&timestamp(cutoff)],
                    )
                    .await?)
            })
        })
    }

    fn contacts_by_external_id(
        &self,
        app_id: &str,
        external_id: &str,
    ) -> Result<Vec<ContactMatch>, StoreError> {
        let (app_id, external_id) = (app_id.to_owned(), external_id.to_owned());
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT c.tenant_id, c.id, ch.kind FROM channels ch
                         JOIN contacts c ON c.channel_id = ch.id AND c.external_id = $2
                         WHERE ch.app_id = $1",
                    )
                    .await?;
                let rows = client.query(&statement, &[&app_id, &external_id]).await?;
                rows.iter()
                    .map(|row| {
                        let kind: String = row.try_get(2)?;
                        Ok(ContactMatch {
                            tenant: TenantId::new(row.try_get::<_, String>(0)?),
                            contact: ContactId::new(row.try_get::<_, String>(1)?),
                            channel_kind: channel_kind(&kind)?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn message_in_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        message: &str,
    ) -> Result<bool, StoreError> {
        // As in SQLite: `msg:<id>`, or `msg:<id>#1` for a Messenger message in parts.
        let (tenant, conversation) = (tenant.clone(), conversation.clone());
        let (whole, first) = (format!("msg:{message}"), format!("msg:{message}#1"));
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT 1 FROM events WHERE tenant_id = $1 AND id IN ($2, $3)
                           AND conversation_id = $4
                           AND type IN ('message_received', 'message_sent')",
                    )
                    .await?;
                Ok(client
                    .query_opt(
                        &statement,
                        &[&tenant.as_str(), &whole, &first, &conversation.as_str()],
                    )
                    .await?
                    .is_some())
            })
        })
    }

    fn agents_may_erase(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let tenant = tenant.clone();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached("SELECT agents_may_erase FROM tenants WHERE id = $1")
                    .await?;
                let row = client
                    .query_opt(&statement, &[&tenant.as_str()])
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
                Ok(row.try_get(0)?)
            })
        })
    }

    fn set_agents_may_erase(&self, tenant: &TenantId, allowed: bool) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        self.write(move |tx| {
            Box::pin(async move {
                require_tenant(tx, &tenant).await?;
                tx.execute(
                    "UPDATE tenants SET agents_may_erase = $2 WHERE id = $1",
                    &[&tenant.as_str(), &allowed],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn checkpoint_truncate(&self) -> Result<(), StoreError> {
        self.read(|client| {
            Box::pin(async move {
                // VACUUM cannot run in a transaction (nor in a multi-statement query, which
                // is one): alone, on a pooled client. It makes the erased rows' space
                // reusable in the tables `erase_contact` touches.
                client
                    .batch_execute(
                        "VACUUM (ANALYZE false) events, contacts, conversations, media, \
                         replies, quarantine",
                    )
                    .await?;
                // CHECKPOINT needs superuser, or the pg_checkpoint role (PostgreSQL 15+);
                // a managed database may grant neither. The vacuum is done either way and
                // the server checkpoints on its own schedule, so that is only a warning.
                match client.batch_execute("CHECKPOINT").await {
                    Ok(()) => Ok(()),
                    Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                        tracing::warn!(
                            %error,
                            "CHECKPOINT not permitted (needs superuser or pg_checkpoint); \
                             the server will checkpoint on its own schedule"
                        );
                        Ok(())
                    }
                    Err(error) => Err(error.into()),
                }
            })
        })
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
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO deletion_requests (confirmation_code, app_id, user_hash,
                         received_at, outcome)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&row.0, &row.1, &row.2, &now_text(), &row.3],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn deletion_request(&self, code: &str) -> Result<Option<(String, String)>, StoreError> {
        let code = code.to_owned();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT received_at, outcome FROM deletion_requests
                         WHERE confirmation_code = $1",
                    )
                    .await?;
                let row = client.query_opt(&statement, &[&code]).await?;
                row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .transpose()
            })
        })
    }

    fn audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        self.write(move |tx| Box::pin(async move { audit_in(tx, &record).await }))
    }

    fn audit_log(&self, tenant: &TenantId) -> Result<Vec<AuditEntry>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(
                        "SELECT tenant_id, seq, at, actor, action, detail, prev_hash, hash
                         FROM audit WHERE tenant_id = $1 ORDER BY seq",
                    )
                    .await?;
                let rows = client.query(&statement, &[&tenant.as_str()]).await?;
                rows.iter()
                    .map(|row| {
                        let detail: String = row.try_get(5)?;
                        Ok(AuditEntry {
                            tenant: row.try_get(0)?,
                            seq: unsigned(row.try_get(1)?, "audit seq")?,
                            at: row.try_get(2)?,
                            actor: row.try_get(3)?,
                            action: row.try_get(4)?,
                            detail: from_json(&detail, "audit detail")?,
                            prev_hash: row.try_get(6)?,
                            hash: row.try_get(7)?,
                        })
                    })
                    .collect()
            })
        })
    }
}

/// The tenant's contacts (or only `only`), by id, with their conversation.
async fn contact_profiles_in(
    client: &deadpool_postgres::Client,
    tenant: &TenantId,
    only: Option<&ContactId>,
) -> Result<Vec<ContactProfile>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT c.id, c.channel_id, ch.kind, c.external_id, c.name, c.marketing_opted_out,
                    conv.id
             FROM contacts c JOIN channels ch ON ch.id = c.channel_id
             LEFT JOIN conversations conv ON conv.contact_id = c.id
             WHERE c.tenant_id = $1 AND ($2::text IS NULL OR c.id = $2)
             ORDER BY c.id",
        )
        .await?;
    let rows = client
        .query(
            &statement,
            &[&tenant.as_str(), &only.map(ContactId::as_str)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get(2)?;
            Ok(ContactProfile {
                id: ContactId::new(row.try_get::<_, String>(0)?),
                channel: ChannelId::new(row.try_get::<_, String>(1)?),
                channel_kind: channel_kind(&kind)?,
                external_id: row.try_get(3)?,
                name: row.try_get(4)?,
                marketing_opted_out: row.try_get(5)?,
                conversation: row
                    .try_get::<_, Option<String>>(6)?
                    .map(ConversationId::new),
            })
        })
        .collect()
}
