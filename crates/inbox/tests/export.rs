//! A contact's data export from the desktop: the relay's zip saved under a new name, only
//! its owner may read it, progress reported up to the whole size; an agent is refused and
//! no file is left behind.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::TimeDelta;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use ventana_inbox::export::ExportProgress;
use ventana_inbox::query::InboxFilter;
use ventana_inbox::sync::SyncState;

const TEXT: &str = "please keep my order number 5512 on file";

fn export_json(path: &std::path::Path) -> serde_json::Value {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    serde_json::from_reader(zip.by_name("export.json").unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_saves_a_contacts_export_and_an_agent_is_refused() {
    let world = World::new("export").await;
    world
        .customer_texts(
            &[("7000000000000031", "m_export_a", TEXT)],
            TimeDelta::hours(1),
        )
        .await;
    let engine = world.engine(Arc::new(Recorded::default()));
    let admin = engine
        .sign_in(&world.base, EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    eventually(30, "the backlog", || {
        matches!(engine.sync_state(&admin), Ok(SyncState::Live { .. }))
            && engine
                .inbox(None, &InboxFilter::default(), None, 10)
                .unwrap()
                .len()
                == 1
    })
    .await;
    let contact = engine
        .inbox(None, &InboxFilter::default(), None, 10)
        .unwrap()[0]
        .conversation
        .contact_id
        .clone();

    let dir = world.tmp.path().join("exports");
    let mut steps: Vec<ExportProgress> = Vec::new();
    let saved = engine
        .export_contact(&admin, &contact, &dir, |step| steps.push(step))
        .await
        .unwrap();
    let bytes = std::fs::metadata(&saved.path).unwrap();
    assert_eq!(bytes.len(), saved.bytes);
    assert_eq!(
        bytes.permissions().mode() & 0o777,
        0o600,
        "a person's data is readable by others"
    );
    let last = steps.last().unwrap();
    assert_eq!(
        (last.received, last.total),
        (saved.bytes, Some(saved.bytes))
    );
    assert!(steps.windows(2).all(|w| w[0].received <= w[1].received));
    let document = export_json(&saved.path);
    assert_eq!(document["format"], "ventana.export.v1");
    assert!(document.to_string().contains(TEXT), "{document}");

    // A second export is a new file; the first stays as it was.
    let again = engine
        .export_contact(&admin, &contact, &dir, |_| {})
        .await
        .unwrap();
    assert_ne!(again.path, saved.path);
    assert!(
        again.path.to_string_lossy().ends_with(" (2).zip"),
        "{again:?}"
    );
    assert!(saved.path.exists());

    // An agent may not export: the relay's refusal, and nothing in the folder.
    let agent = engine
        .sign_in(&world.base, AGENT_EMAIL, PASSWORD, None)
        .await
        .unwrap()
        .record
        .id;
    let agents_dir = world.tmp.path().join("agent-exports");
    let refused = engine
        .export_contact(&agent, &contact, &agents_dir, |_| {})
        .await
        .unwrap_err();
    assert_eq!(refused.code, "forbidden", "{refused:?}");
    let left: Vec<_> = std::fs::read_dir(&agents_dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a refused export left {left:?}");
}
