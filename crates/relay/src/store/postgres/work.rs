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

// STUBS: to be written (helpers)
#[allow(unused_variables, clippy::todo)]
impl WorkStore for PostgresStore {
    fn channel(&self, tenant: &TenantId, id: &ChannelId) -> Result<Option<Channel>, StoreError> {
        todo!()
    }

    fn channel_token(&self, id: &ChannelId) -> Result<Option<String>, StoreError> {
        todo!()
    }

    fn change_channel(
        &self,
        tenant: &TenantId,
        id: &ChannelId,
        change: ChannelChange,
        audit: Option<AuditRecord>,
    ) -> Result<Channel, StoreError> {
        todo!()
    }

    fn mark_needs_reconnection(
        &self,
        tenant: &TenantId,
        id: &ChannelId,
        reason: &str,
    ) -> Result<bool, StoreError> {
        todo!()
    }

    fn media(&self, tenant: &TenantId, id: &MediaId) -> Result<Option<StoredMedia>, StoreError> {
        todo!()
    }

    fn conversation_state(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> Result<Option<ConversationState>, StoreError> {
        todo!()
    }

    fn waiting_conversations(&self, now: DateTime<Utc>) -> Result<Vec<Waiting>, StoreError> {
        todo!()
    }

    fn ended_snoozes(&self, now: DateTime<Utc>) -> Result<Vec<SnoozeEnded>, StoreError> {
        todo!()
    }

    fn reserve_reply(&self, record: ReplyRecord) -> Result<Reservation, StoreError> {
        todo!()
    }

    fn reply(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
    ) -> Result<Option<ReplyRecord>, StoreError> {
        todo!()
    }

    fn reply_sending(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        sent_as: SentAs,
    ) -> Result<ReplyRecord, StoreError> {
        todo!()
    }

    fn finish_reply(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        outcome: ReplyOutcome,
        events: Vec<NewEvent>,
        audit: Option<AuditRecord>,
    ) -> Result<Appended, StoreError> {
        todo!()
    }

    fn unfinished_replies(&self) -> Result<Vec<ReplyRecord>, StoreError> {
        todo!()
    }

    fn take_over_replies(&self) -> Result<Vec<ReplyRecord>, StoreError> {
        todo!()
    }

    fn replace_templates(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
        templates: Vec<Template>,
    ) -> Result<(), StoreError> {
        todo!()
    }

    fn templates(
        &self,
        tenant: &TenantId,
        channel: &ChannelId,
    ) -> Result<Vec<Template>, StoreError> {
        todo!()
    }

    fn template_channels(&self) -> Result<Vec<Channel>, StoreError> {
        todo!()
    }

    fn erase_contact(
        &self,
        tenant: &TenantId,
        contact: &ContactId,
        receipt: ReceiptId,
        audit: AuditRecord,
    ) -> Result<ErasureReceipt, StoreError> {
        todo!()
    }

    fn contacts_by_external_id(
        &self,
        app_id: &str,
        external_id: &str,
    ) -> Result<Vec<ContactMatch>, StoreError> {
        todo!()
    }

    fn agents_may_erase(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        todo!()
    }

    fn set_agents_may_erase(&self, tenant: &TenantId, allowed: bool) -> Result<(), StoreError> {
        todo!()
    }

    fn checkpoint_truncate(&self) -> Result<(), StoreError> {
        todo!()
    }

    fn record_deletion_request(
        &self,
        code: &str,
        app_id: &str,
        user_hash: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        todo!()
    }

    fn deletion_request(&self, code: &str) -> Result<Option<(String, String)>, StoreError> {
        todo!()
    }

    fn audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        todo!()
    }

    fn audit_log(&self, tenant: &TenantId) -> Result<Vec<AuditEntry>, StoreError> {
        todo!()
    }
}
