//! Data portability: `GET /v1/contacts/{id}/export` (one contact) and `GET /v1/export`
//! (the whole tenant), admins only, and the CLI's `ventana-relay export …`
//! ([`export_to_file`], which runs without the server).
//!
//! An export is a zip: `README.txt`, `export.json` (built by the pure `portability.rs`,
//! described in `docs/export.md` and `docs/export-schema.json`) and `attachments/`, the
//! attachments fetched from Meta the way `GET /v1/media/{id}` fetches them
//! (`media_fetch.rs`). An attachment the platform no longer has (or cannot serve now) is
//! listed with the reason and the export goes on. The zip is built in a temporary file
//! first, so the answer has its `Content-Length`; then the export is audited
//! (`contact.exported` / `tenant.exported`, counts only), then sent.

use crate::caller::Admin;
use crate::error::{ApiError, ErrorBody, blocking};
use crate::media_fetch;
use crate::portability::{self, Attachment, ContactRecords, Counts, Scope, TenantRecords};
use crate::state::AppState;
use crate::store::{AuditRecord, Channel, Tenant};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use chrono::{Datelike, Timelike, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use ventana_protocol::ids::{ChannelId, ContactId, MediaId, TenantId};

/// A built export: the zip in an unnamed temporary file (gone when dropped), its size,
/// and what it holds.
#[derive(Debug)]
pub struct BuiltExport {
    pub file: std::fs::File,
    pub bytes: u64,
    pub counts: Counts,
}

/// Builds the export of `scope` in `tenant` and audits it as done by `actor`. An unknown
/// contact (or another tenant's, or an erased one) is 404 and leaves nothing, not even
/// an audit entry.
pub async fn build(
    state: &Arc<AppState>,
    tenant: &Tenant,
    scope: Scope,
    actor: String,
) -> Result<BuiltExport, ApiError> {
    let exported_at = Utc::now();
    let (store, t, s) = (Arc::clone(&state.store), tenant.id.clone(), scope.clone());
    let read = blocking("reading the export's records", move || {
        let profiles = match &s {
            Scope::Contact(id) => match store.contact_profile(&t, id)? {
                Some(profile) => vec![profile],
                None => return Ok(None),
            },
            Scope::Tenant => store.contact_profiles(&t)?,
        };
        let mut contacts = Vec::with_capacity(profiles.len());
        for profile in profiles {
            let conversation = match &profile.conversation {
                Some(id) => store.conversation_state(&t, id)?,
                None => None,
            };
            let events = store.contact_events(&t, &profile.id)?;
            contacts.push(ContactRecords {
                profile,
                conversation,
                events,
                attachments: Vec::new(),
            });
        }
        let tenant_records = match &s {
            Scope::Tenant => Some(TenantRecords {
                channels: store.channels_of(&t)?,
                agents: store.agents_of(&t)?,
            }),
            Scope::Contact(_) => None,
        };
        let audit_log = store.audit_log(&t)?;
        Ok(Some((contacts, tenant_records, audit_log)))
    })
    .await?;
    let Some((mut contacts, tenant_records, audit_log)) = read else {
        return Err(ApiError::not_found("contact"));
    };

    // The attachments, one at a time, each into a file of its own until the zip is made.
    let downloads =
        tempfile::tempdir().map_err(|e| ApiError::internal("making a temporary dir", e))?;
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut channels: HashMap<ChannelId, Option<Channel>> = HashMap::new();
    for records in &mut contacts {
        for media_id in portability::media_ids(&records.events) {
            let path = downloads.path().join(files.len().to_string());
            let attachment =
                fetch_attachment(state, &tenant.id, &media_id, &mut channels, &path).await?;
            if let Attachment::Fetched { file, .. } = &attachment
                && !files.iter().any(|(name, _)| name == file)
            {
                files.push((file.clone(), path));
            }
            records.attachments.push(attachment);
        }
    }

    let (document, counts) = portability::document(
        tenant,
        &scope,
        exported_at,
        &contacts,
        tenant_records.as_ref(),
        &audit_log,
    );
    let readme = portability::readme(tenant, &scope, exported_at, &counts);
    let (file, bytes) = tokio::task::spawn_blocking(move || {
        let written = write_zip(&document, &readme, &files, exported_at);
        drop(downloads);
        written
    })
    .await
    .map_err(|e| ApiError::internal("writing the export", e))?
    .map_err(|e| ApiError::internal("writing the export", e))?;

    let mut detail = serde_json::json!({ "scope": scope.name(), "bytes": bytes });
    if let (serde_json::Value::Object(map), Ok(serde_json::Value::Object(numbers))) =
        (&mut detail, serde_json::to_value(counts))
    {
        if let Scope::Contact(contact) = &scope {
            map.insert("contact".into(), serde_json::json!(contact));
        }
        map.extend(numbers);
    }
    let audit = AuditRecord {
        tenant: tenant.id.clone(),
        actor,
        action: format!("{}.exported", scope.name()),
        detail,
    };
    let store = Arc::clone(&state.store);
    blocking("auditing the export", move || store.audit(audit)).await?;
    tracing::info!(
        tenant = %tenant.id,
        scope = scope.name(),
        contacts = counts.contacts,
        attachments = counts.attachments,
        missing = counts.attachments_missing,
        bytes,
        "data exported"
    );
    Ok(BuiltExport {
        file,
        bytes,
        counts,
    })
}

/// Fetches one attachment into `path`: its entry for `export.json`, fetched or with the
/// reason it is not. Only the store failing fails the export.
async fn fetch_attachment(
    state: &Arc<AppState>,
    tenant: &TenantId,
    media_id: &MediaId,
    channels: &mut HashMap<ChannelId, Option<Channel>>,
    path: &std::path::Path,
) -> Result<Attachment, ApiError> {
    let (store, t, id) = (Arc::clone(&state.store), tenant.clone(), media_id.clone());
    let Some(media) = blocking("reading an attachment", move || store.media(&t, &id)).await? else {
        return Ok(Attachment::missing(
            media_id,
            "not_found",
            "the relay keeps no address for this attachment",
        ));
    };
    let channel = match channels.get(&media.channel) {
        Some(channel) => channel.clone(),
        None => {
            let (store, t, ch) = (
                Arc::clone(&state.store),
                tenant.clone(),
                media.channel.clone(),
            );
            let channel = blocking("reading a channel", move || store.channel(&t, &ch)).await?;
            channels.insert(media.channel.clone(), channel.clone());
            channel
        }
    };
    let Some(channel) = channel else {
        return Ok(Attachment::missing(
            media_id,
            "not_found",
            "the attachment's channel is gone",
        ));
    };
    let (mut download, mime_type) = match media_fetch::open(state, &channel, &media).await {
        Ok(opened) => opened,
        Err(error) => return Ok(Attachment::missing(media_id, error.code, error.message())),
    };
    let mime_type = mime_type.or_else(|| download.content_type.clone());
    let mut file =
        std::fs::File::create(path).map_err(|e| ApiError::internal("keeping an attachment", e))?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        match download.chunk().await {
            Ok(Some(chunk)) => {
                hasher.update(&chunk);
                bytes += chunk.len() as u64;
                file.write_all(&chunk)
                    .map_err(|e| ApiError::internal("keeping an attachment", e))?;
            }
            Ok(None) => break,
            Err(error) => {
                let error = media_fetch::failed(state, &media, None, error).await;
                return Ok(Attachment::missing(media_id, error.code, error.message()));
            }
        }
    }
    file.flush()
        .map_err(|e| ApiError::internal("keeping an attachment", e))?;
    Ok(Attachment::fetched(
        media_id,
        mime_type,
        bytes,
        hex::encode(hasher.finalize()),
    ))
}

/// Writes the zip into an unnamed temporary file; the file (at its start) and its size.
fn write_zip(
    document: &serde_json::Value,
    readme: &str,
    files: &[(String, std::path::PathBuf)],
    at: chrono::DateTime<Utc>,
) -> Result<(std::fs::File, u64), Box<dyn std::error::Error + Send + Sync>> {
    use zip::write::SimpleFileOptions;
    let modified = zip::DateTime::from_date_and_time(
        u16::try_from(at.year()).unwrap_or(1980),
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
    )
    .unwrap_or_default();
    let text = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(modified)
        .unix_permissions(0o600);
    // Attachments are mostly compressed already (images, audio, video).
    let binary = text
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let mut zip = zip::ZipWriter::new(tempfile::tempfile()?);
    zip.start_file("README.txt", text)?;
    zip.write_all(readme.as_bytes())?;
    zip.start_file("export.json", text.large_file(true))?;
    serde_json::to_writer_pretty(&mut zip, document)?;
    for (name, path) in files {
        zip.start_file(name.as_str(), binary)?;
        std::io::copy(&mut std::fs::File::open(path)?, &mut zip)?;
    }
    let mut file = zip.finish()?;
    let bytes = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    Ok((file, bytes))
}

/// 200 with the zip, its `Content-Length`, and a file name to save it under. The file is
/// read off the async runtime and passed on piece by piece.
fn zip_response(export: BuiltExport, filename: &str) -> Result<Response, ApiError> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let mut file = export.file;
    tokio::task::spawn_blocking(move || {
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if sender
                        .blocking_send(Ok(Bytes::copy_from_slice(&buffer[..n])))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    break;
                }
            }
        }
    });
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::CONTENT_LENGTH, export.bytes)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        )
        .header(header::CACHE_CONTROL, "private, no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from_stream(chunks))
        .map_err(|e| ApiError::internal("answering with the export", e))
}

/// An id as it may stand in a file name (ids are the relay's own, but a header is no place
/// to find out).
fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn tenant_of(state: &Arc<AppState>, id: &TenantId) -> Result<Tenant, ApiError> {
    let (store, t) = (Arc::clone(&state.store), id.clone());
    blocking("reading the tenant", move || store.find_tenant(t.as_str()))
        .await?
        .ok_or_else(|| ApiError::internal("reading the tenant", "the session's tenant is gone"))
}

/// One contact's data, as a zip (`export.json` and the attachments).
#[utoipa::path(
    get, path = "/v1/contacts/{id}/export", tag = "export", security(("bearer" = [])),
    params(("id" = String, Path, description = "The contact's id")),
    responses(
        (status = 200, description = "The zip (`README.txt`, `export.json` in the format \
            `ventana.export.v1` of docs/export.md and docs/export-schema.json, and \
            `attachments/`), with its `Content-Length` and \
            `Content-Disposition: attachment; filename=\"contact-<id>.zip\"`. An attachment \
            the platform no longer has is listed with the reason instead of failing the \
            export. The export is audited (`contact.exported`, counts only).",
            content_type = "application/zip", body = [u8]),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Only the tenant's admins export data (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such contact in the admin's tenant (unknown, another \
            tenant's, or erased)", body = ErrorBody),
    )
)]
pub async fn contact(
    State(state): State<Arc<AppState>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let agent = &admin.0.agent;
    let tenant = tenant_of(&state, &agent.tenant).await?;
    let export = build(
        &state,
        &tenant,
        Scope::Contact(ContactId::new(id.clone())),
        format!("agent:{}", agent.id),
    )
    .await?;
    zip_response(export, &format!("contact-{}.zip", safe_name(&id)))
}

/// The whole tenant's data, as a zip: the tenant, its channels (without tokens or
/// secrets), its agents (without password hashes), every contact with their data, and
/// the audit log.
#[utoipa::path(
    get, path = "/v1/export", tag = "export", security(("bearer" = [])),
    responses(
        (status = 200, description = "The zip, as for one contact, with `scope: tenant` and \
            the tenant-wide records; `Content-Disposition: attachment; \
            filename=\"tenant-<id>.zip\"`. Audited as `tenant.exported` (counts only).",
            content_type = "application/zip", body = [u8]),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Only the tenant's admins export data (`forbidden`)", body = ErrorBody),
    )
)]
pub async fn tenant(
    State(state): State<Arc<AppState>>,
    admin: Admin,
) -> Result<Response, ApiError> {
    let agent = &admin.0.agent;
    let tenant = tenant_of(&state, &agent.tenant).await?;
    let export = build(
        &state,
        &tenant,
        Scope::Tenant,
        format!("agent:{}", agent.id),
    )
    .await?;
    zip_response(
        export,
        &format!("tenant-{}.zip", safe_name(tenant.id.as_str())),
    )
}

/// What the CLI's export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub file: String,
    pub bytes: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The CLI's `export contact|tenant`: builds the export of `contact` (or, with `None`, the
/// whole tenant) and writes it to `out`, readable by its owner only. An `out` that exists
/// is refused unless `force`; on any failure `out` is left as it was (the zip is written
/// beside it under a temporary name, then renamed). Audited with the actor `cli`.
pub fn export_to_file(
    state: &Arc<AppState>,
    tenant_id_or_name: &str,
    contact: Option<&str>,
    out: &std::path::Path,
    force: bool,
) -> anyhow::Result<Written> {
    use anyhow::Context;
    if out.exists() && !force {
        anyhow::bail!(
            "{} exists already; choose another --out or pass --force to replace it",
            out.display()
        );
    }
    if out.is_dir() {
        anyhow::bail!("{} is a directory; --out names the zip file", out.display());
    }
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    anyhow::ensure!(
        dir.is_dir(),
        "the directory {} does not exist",
        dir.display()
    );
    let tenant = state
        .store
        .find_tenant(tenant_id_or_name)
        .context("reading the tenant")?
        .with_context(|| format!("no tenant named or with id {tenant_id_or_name:?}"))?;
    let scope = match contact {
        Some(id) => {
            anyhow::ensure!(!id.trim().is_empty(), "the contact id is empty");
            Scope::Contact(ContactId::new(id))
        }
        None => Scope::Tenant,
    };
    let mut partial = tempfile::Builder::new()
        .prefix(".ventana-export-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let built = runtime
        .block_on(build(state, &tenant, scope.clone(), "cli".into()))
        .map_err(|error| match (&scope, error.code) {
            (Scope::Contact(id), "not_found") => {
                anyhow::anyhow!("no contact {id} in tenant {} ({})", tenant.name, tenant.id)
            }
            _ => anyhow::anyhow!("{}", error.message()),
        })?;
    let (mut file, bytes, counts) = (built.file, built.bytes, built.counts);
    std::io::copy(&mut file, partial.as_file_mut()).context("writing the export")?;
    partial.as_file().sync_all().context("writing the export")?;
    // tempfile creates its files readable by their owner only (0600).
    if force {
        partial
            .persist(out)
            .with_context(|| format!("writing {}", out.display()))?;
    } else {
        partial
            .persist_noclobber(out)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(Written {
        file: out.display().to_string(),
        bytes,
        counts,
    })
}
