//! Erasing an end user (invariant 9): on an admin's (or, where the tenant allows it, an
//! agent's) request, and on Meta's Data Deletion Request Callback (reference §6a).
//!
//! The store does the erasure in one transaction (tombstones in the log, everything else
//! deleted, a `contact_erased` event, an audit receipt); this module then checkpoints the
//! WAL so the erased bytes are in no file, and answers.

use crate::caller::Authenticated;
use crate::credentials::open_app_secret;
use crate::deletion::{self, ErasedOn, Outcome};
use crate::error::{ApiError, ErrorBody, blocking};
use crate::ledger::{self, LedgerKey};
use crate::state::AppState;
use crate::store::{AuditRecord, Role};
use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Html;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use ventana_protocol::api::{ERASE_WORD, EraseRequest, ErasureReceipt};
use ventana_protocol::ids::{ContactId, ReceiptId, TenantId};

/// Erases one contact and makes sure no file keeps the erased bytes.
pub async fn erase_contact(
    state: &Arc<AppState>,
    tenant: &TenantId,
    contact: &ContactId,
    actor: String,
    why: &str,
) -> Result<ErasureReceipt, ApiError> {
    let receipt = ReceiptId::new(format!("er_{}", uuid::Uuid::now_v7().simple()));
    let audit = AuditRecord {
        tenant: tenant.clone(),
        actor,
        action: "erase".into(),
        detail: serde_json::json!({ "why": why }),
    };
    // The erasure ledger's line (a keyed hash, no id): in the erasure's transaction, then
    // in the data dir's ledger file, so a restored backup cannot bring the contact back.
    let ledger = LedgerKey::new(&state.key).contact(tenant, contact, chrono::Utc::now());
    let (store, t, c) = (Arc::clone(&state.store), tenant.clone(), contact.clone());
    let data_dir = state.data_dir.clone();
    let erased = blocking("erasing the contact", move || {
        let erased = store.erase_contact(&t, &c, receipt, audit, &ledger)?;
        record_in_ledger_file(&data_dir, &ledger);
        // The WAL still holds the pages as they were before; fold and truncate it.
        store.checkpoint_truncate()?;
        Ok(erased)
    })
    .await?;
    tracing::info!(receipt = %erased.receipt, events = erased.events_redacted, "contact erased");
    Ok(erased)
}

/// Appends a committed erasure's ledger line to the data dir's file. The erasure stands
/// either way (its row is in the database's ledger); a failure is logged loudly, since
/// the file is what survives losing the database.
fn record_in_ledger_file(data_dir: &std::path::Path, entry: &crate::store::LedgerEntry) {
    if let Err(error) = ledger::append_ledger_file(data_dir, std::slice::from_ref(entry)) {
        tracing::error!(%error, file = ledger::LEDGER_FILE, "cannot append to the erasure ledger file; back up now, and keep the database's ledger");
    }
}

/// Erases everything about a contact: messages, media references, notes, profile.
#[utoipa::path(
    post, path = "/v1/contacts/{id}/erase", tag = "erasure", security(("bearer" = [])),
    params(("id" = String, Path, description = "The contact's id")),
    request_body = EraseRequest,
    responses(
        (status = 200, description = "Erased; the receipt is in the audit log too", body = ErasureReceipt),
        (status = 403, description = "Only admins, or agents where the tenant allows it", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`confirm` is not `ERASE`", body = ErrorBody),
    )
)]
pub async fn erase(
    State(state): State<Arc<AppState>>,
    auth: Authenticated,
    Path(id): Path<String>,
    Json(request): Json<EraseRequest>,
) -> Result<Json<ErasureReceipt>, ApiError> {
    let agent = &auth.0.agent;
    if agent.role != Role::Admin {
        let (store, tenant) = (Arc::clone(&state.store), agent.tenant.clone());
        let allowed = blocking("reading the tenant", move || {
            store.agents_may_erase(&tenant)
        })
        .await?;
        if !allowed {
            return Err(ApiError::forbidden(
                "only an admin can erase a contact in this tenant",
            ));
        }
    }
    if !request.is_confirmed() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirmation_required",
            format!("erasure cannot be undone: send {{\"confirm\": \"{ERASE_WORD}\"}}"),
        ));
    }
    let erased = erase_contact(
        &state,
        &agent.tenant,
        &ContactId::new(id),
        format!("agent:{}", agent.id),
        "requested by an agent",
    )
    .await?;
    Ok(Json(erased))
}

#[derive(Debug, Deserialize)]
pub struct SignedRequestForm {
    signed_request: Option<String>,
}

/// What Meta expects back (reference §6a).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletionAnswer {
    pub url: String,
    pub confirmation_code: String,
}

fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Meta's Data Deletion Request Callback.
#[utoipa::path(
    post, path = "/meta/data-deletion/{app_id}", tag = "erasure",
    params(("app_id" = String, Path, description = "The Meta app's id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`signed_request=<signature>.<payload>`"),
    responses(
        (status = 200, description = "Erased what matched; the url shows the status", body = DeletionAnswer),
        (status = 400, description = "Missing, malformed, wrongly signed, or not HMAC-SHA256; nothing erased", body = ErrorBody),
        (status = 404, description = "Unknown app", body = ErrorBody),
    )
)]
pub async fn data_deletion(
    State(state): State<Arc<AppState>>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SignedRequestForm>,
) -> Result<Json<DeletionAnswer>, ApiError> {
    let signed = form
        .signed_request
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("the form field `signed_request` is missing"))?;
    let secret = open_app_secret(&state, &app_id).await?;
    let request = deletion::verify(&secret, &signed).map_err(|error| {
        tracing::warn!(%app_id, %error, "data-deletion request refused");
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_signed_request",
            error.to_string(),
        )
    })?;
    // The id Meta sends may be app-scoped or page-scoped (a PSID); contacts are matched
    // by their platform id on every channel of this app, whatever the tenant.
    let (store, app, user) = (
        Arc::clone(&state.store),
        app_id.clone(),
        request.user_id.clone(),
    );
    let matches = blocking("finding the user's records", move || {
        store.contacts_by_external_id(&app, &user)
    })
    .await?;
    let mut outcome = Outcome {
        erased: Vec::new(),
        quarantined_removed: 0,
    };
    for found in matches {
        let erased = erase_contact(
            &state,
            &found.tenant,
            &found.contact,
            "meta".into(),
            "Meta data-deletion request",
        )
        .await?;
        outcome.erased.push(ErasedOn {
            channel_kind: found.channel_kind.to_string(),
            receipt: erased.receipt,
            events_redacted: erased.events_redacted,
        });
    }
    // Bodies set aside for this app may name the person even where no inbox knows them.
    let (store, app, user) = (
        Arc::clone(&state.store),
        app_id.clone(),
        request.user_id.clone(),
    );
    let ledger =
        LedgerKey::new(&state.key).meta_user(&app_id, &request.user_id, chrono::Utc::now());
    let data_dir = state.data_dir.clone();
    outcome.quarantined_removed = blocking("erasing quarantined bodies", move || {
        let removed = store.erase_quarantined(&app, &user, Some(&ledger))?;
        record_in_ledger_file(&data_dir, &ledger);
        if removed > 0 {
            store.checkpoint_truncate()?;
        }
        Ok(removed)
    })
    .await?;
    let code = deletion::confirmation_code()
        .map_err(|e| ApiError::internal("making a confirmation code", e))?;
    // Only a hash of the user id is kept: the request's record must not itself be the
    // personal data it asked to delete.
    let user_hash = hex::encode(Sha256::digest(
        format!("{app_id}:{}", request.user_id).as_bytes(),
    ));
    let outcome_json =
        serde_json::to_string(&outcome).map_err(|e| ApiError::internal("recording", e))?;
    let (store, c, a) = (Arc::clone(&state.store), code.clone(), app_id.clone());
    blocking("recording the deletion request", move || {
        store.record_deletion_request(&c, &a, &user_hash, &outcome_json)
    })
    .await?;
    tracing::info!(%app_id, code = %code, erased = outcome.erased.len(), "data-deletion request handled");
    Ok(Json(DeletionAnswer {
        url: format!(
            "{}/meta/data-deletion/status/{code}",
            base_url(&state, &headers)
        ),
        confirmation_code: code,
    }))
}

/// The status page a person reads after asking Meta to delete their data.
#[utoipa::path(
    get, path = "/meta/data-deletion/status/{code}", tag = "erasure",
    params(("code" = String, Path, description = "The confirmation code")),
    responses((status = 200, description = "HTML", body = String), (status = 404, body = ErrorBody))
)]
pub async fn deletion_status(
    State(state): State<Arc<AppState>>,
    Path(code): Path<String>,
) -> Result<Html<String>, ApiError> {
    if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::not_found("deletion request"));
    }
    let (store, c) = (Arc::clone(&state.store), code.clone());
    let (received_at, outcome) = blocking("reading the deletion request", move || {
        store.deletion_request(&c)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("deletion request"))?;
    let outcome: Outcome = serde_json::from_str(&outcome)
        .map_err(|e| ApiError::internal("reading the deletion outcome", e))?;
    Ok(Html(deletion::status_page(&code, &received_at, &outcome)))
}
