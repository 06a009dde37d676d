//! Data portability end to end: the real relay binary exports a contact (and a whole
//! tenant) as a zip, fetching the attachments from metasim; `export.json` is checked
//! against `docs/export-schema.json` and against what was sent; the export is audited,
//! admins only, tenant-scoped, and carries no secret; the CLI writes the same document.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use ventana_metasim::graph::GraphSim;

const PAGE_TOKEN: &str = "EAAG-page-token-for-export-tests";
const WA_TOKEN: &str = "EAAG-whatsapp-token-for-export-tests";
const WABA_ID: &str = "300000000000001";
const ROSA: &str = "15550004321";
const INBOUND_TEXT: &str = "hola, la caldera no enciende";
const REPLY_TEXT: &str = "¿Desde cuándo no enciende?";
const NOTE_TEXT: &str = "cliente VIP, llamar por la tarde";
const OTHER_TEXT: &str = "someone else entirely";

struct World {
    _tmp: tempfile::TempDir,
    data_dir: PathBuf,
    sim: GraphSim,
    relay: Option<RelayProcess>,
    base: String,
    /// acme's admin, an acme agent, globex's admin.
    ana: String,
    bo: String,
    gia: String,
    /// Rosa's contact id, her conversation, the reply's platform id.
    contact: String,
    conversation: String,
    reply_id: String,
    photo: Vec<u8>,
}

async fn token_of(base: &str, email: &str) -> String {
    login(base, email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn whatsapp_message(message: Value) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Rosa"}, "wa_id": ROSA}],
            "messages": [message]}}]}]})
    .to_string()
    .into_bytes()
}

async fn events(base: &str, token: &str) -> Vec<Value> {
    let (status, page) = get_json(base, "/v1/events?limit=5000", token).await;
    assert_eq!(status, 200, "{page}");
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

async fn world() -> World {
    let (tmp, data_dir) = data_dir();
    set_up(&data_dir);
    for (email, tenant, role) in [
        ("bo@acme.test", "acme", "agent"),
        ("gia@globex.test", "globex", "admin"),
    ] {
        cli_ok(
            &data_dir,
            &[
                "agent",
                "add",
                "--tenant",
                tenant,
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
    }
    set_tokens(
        &data_dir,
        &[(PAGE_ID, PAGE_TOKEN), (PHONE_NUMBER_ID, WA_TOKEN)],
    );
    let sim = graph_sim().await;
    sim.add_page(PAGE_ID, PAGE_TOKEN, true);
    sim.add_whatsapp(PHONE_NUMBER_ID, WABA_ID, WA_TOKEN);
    let url = sim.base_url();
    let relay = RelayProcess::start_with(
        &data_dir,
        &["--graph-url", &url, "--instagram-graph-url", &url],
    );
    let base = relay.base.clone();
    let ana = token_of(&base, "ana@acme.test").await;
    let bo = token_of(&base, "bo@acme.test").await;
    let gia = token_of(&base, "gia@globex.test").await;

    // Someone else writes on Messenger: never part of Rosa's export.
    assert_eq!(
        post_signed(&base, &messenger_text("m_export_other", OTHER_TEXT)).await,
        200
    );
    // Rosa writes, sends a photo Meta has, and one Meta no longer has.
    let now = Utc::now();
    let photo: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let meta_id = sim.add_media(PHONE_NUMBER_ID, "image/jpeg", photo.clone());
    let ts = now.timestamp().to_string();
    for message in [
        json!({"from": ROSA, "id": "wamid.EXP_1", "timestamp": ts, "type": "text",
               "text": {"body": INBOUND_TEXT}}),
        json!({"from": ROSA, "id": "wamid.EXP_2", "timestamp": ts, "type": "image",
               "image": {"id": meta_id, "mime_type": "image/jpeg", "caption": "la caldera"}}),
        json!({"from": ROSA, "id": "wamid.EXP_3", "timestamp": ts, "type": "image",
               "image": {"id": "990000000000777", "mime_type": "image/jpeg"}}),
    ] {
        assert_eq!(post_signed(&base, &whatsapp_message(message)).await, 200);
    }
    sim.note_inbound(PHONE_NUMBER_ID, ROSA, now);
    let rosa = events(&base, &ana)
        .await
        .into_iter()
        .find(|e| e["message_id"] == "wamid.EXP_1")
        .expect("Rosa's message is logged");
    let contact = rosa["contact"].as_str().unwrap().to_owned();
    let conversation = rosa["conversation"].as_str().unwrap().to_owned();

    // An agent answers, Meta says it was read, an agent writes a note.
    let response = http()
        .post(format!("{base}/v1/conversations/{conversation}/replies"))
        .bearer_auth(&bo)
        .header("Idempotency-Key", "k-export-1")
        .json(&json!({"kind": "text", "text": REPLY_TEXT}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    let mut reply_id = String::new();
    for _ in 0..100 {
        if let Some(sent) = events(&base, &ana)
            .await
            .into_iter()
            .find(|e| e["type"] == "message_sent" && e["idempotency_key"] == "k-export-1")
            && let Some(id) = sent["message_id"].as_str()
        {
            reply_id = id.to_owned();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!reply_id.is_empty(), "the reply was sent");
    let status = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": [{"id": reply_id, "status": "read", "timestamp": ts, "recipient_id": ROSA}]}}]}]});
    assert_eq!(post_signed(&base, status.to_string().as_bytes()).await, 200);
    let response = http()
        .post(format!("{base}/v1/conversations/{conversation}/notes"))
        .bearer_auth(&bo)
        .json(&json!({"text": NOTE_TEXT}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Rosa opts out of marketing.
    let stop = json!({"from": ROSA, "id": "wamid.EXP_4", "timestamp": ts, "type": "text",
                      "text": {"body": "STOP"}});
    assert_eq!(post_signed(&base, &whatsapp_message(stop)).await, 200);

    World {
        _tmp: tmp,
        data_dir,
        sim,
        relay: Some(relay),
        base,
        ana,
        bo,
        gia,
        contact,
        conversation,
        reply_id,
        photo,
    }
}

/// An export as the relay answered it.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

async fn get_export(base: &str, path: &str, token: &str) -> Answer {
    let response = http()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        bytes: response.bytes().await.unwrap().to_vec(),
    }
}

/// Every file of a zip, by name.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let name = file.name().unwrap().into_owned();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        files.insert(name, content);
    }
    files
}

/// `export.json` of a zip, checked against the documented schema.
fn export_json(files: &std::collections::BTreeMap<String, Vec<u8>>) -> Value {
    let document: Value = serde_json::from_slice(&files["export.json"]).unwrap();
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/export-schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "export.json breaks its schema:\n{}",
        errors.join("\n")
    );
    document
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn audit(data_dir: &Path) -> Vec<Value> {
    cli_ok(data_dir, &["audit", "export", "--tenant", "acme"], "")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn without_time(mut document: Value) -> Value {
    document["exported_at"] = Value::Null;
    document
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contacts_export_holds_everything_about_them_and_only_them() {
    let world = world().await;
    let path = format!("/v1/contacts/{}/export", world.contact);
    let answer = get_export(&world.base, &path, &world.ana).await;
    assert_eq!(answer.status, 200, "{}", answer.json());
    assert_eq!(answer.header("content-type"), "application/zip");
    assert_eq!(
        answer.header("content-length"),
        answer.bytes.len().to_string()
    );
    assert_eq!(
        answer.header("content-disposition"),
        format!("attachment; filename=\"contact-{}.zip\"", world.contact)
    );
    assert_eq!(answer.header("cache-control"), "private, no-store");

    let files = unzip(&answer.bytes);
    assert!(files.contains_key("README.txt"), "{:?}", files.keys());
    assert!(String::from_utf8_lossy(&files["README.txt"]).contains("export-schema.json"));
    let document = export_json(&files);
    assert_eq!(document["format"], "ventana.export.v1");
    assert_eq!(document["scope"], "contact");
    assert_eq!(document["tenant"]["name"], "acme");
    let contacts = document["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 1);
    let rosa = &contacts[0];
    assert_eq!(rosa["profile"]["id"], world.contact.as_str());
    assert_eq!(rosa["profile"]["platform_id"], ROSA);
    assert_eq!(rosa["profile"]["name"], "Rosa");
    assert_eq!(rosa["profile"]["channel_kind"], "whatsapp");
    assert_eq!(rosa["profile"]["marketing_opted_out"], true);
    assert_eq!(rosa["conversations"][0]["id"], world.conversation.as_str());
    assert!(rosa["conversations"][0]["status"]["state"].is_string());

    let messages = rosa["messages"].as_array().unwrap();
    let texts: Vec<(&str, &str)> = messages
        .iter()
        .filter_map(|m| Some((m["direction"].as_str()?, m["content"]["body"].as_str()?)))
        .collect();
    assert!(texts.contains(&("inbound", INBOUND_TEXT)), "{texts:?}");
    assert!(texts.contains(&("outbound", REPLY_TEXT)), "{texts:?}");
    assert!(texts.contains(&("inbound", "STOP")), "{texts:?}");
    let reply = messages
        .iter()
        .find(|m| m["content"]["body"] == REPLY_TEXT)
        .unwrap();
    assert_eq!(reply["message_id"], world.reply_id.as_str());
    assert_eq!(reply["sender"]["by"], "agent");
    assert!(
        rosa["statuses"].as_array().unwrap().iter().any(|s| {
            s["target"]["message_id"] == world.reply_id.as_str() && s["status"]["state"] == "read"
        }),
        "{}",
        rosa["statuses"]
    );
    assert_eq!(rosa["notes"][0]["text"], NOTE_TEXT);
    let consent = rosa["consent"].as_array().unwrap();
    assert_eq!(consent.len(), 1, "{consent:?}");
    assert_eq!(consent[0]["change"], "opted_out");
    assert_eq!(consent[0]["source"]["keyword"], "STOP");

    // The photo is in the zip, byte for byte; the one Meta forgot is listed as missing.
    let attachments = rosa["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    let fetched = attachments.iter().find(|a| a["fetched"] == true).unwrap();
    let file = fetched["file"].as_str().unwrap();
    assert!(file.starts_with("attachments/"), "{file}");
    assert_eq!(files[file], world.photo);
    assert_eq!(fetched["bytes"], world.photo.len());
    assert_eq!(fetched["sha256"], hex::encode(Sha256::digest(&world.photo)));
    assert_eq!(fetched["mime_type"], "image/jpeg");
    let image = messages
        .iter()
        .find(|m| m["message_id"] == "wamid.EXP_2")
        .unwrap();
    assert_eq!(image["content"]["media_id"], fetched["media_id"]);
    let missing = attachments.iter().find(|a| a["fetched"] == false).unwrap();
    assert_eq!(missing["reason"], "gone", "{missing}");
    assert_eq!(
        files
            .keys()
            .filter(|k| k.starts_with("attachments/"))
            .count(),
        1
    );

    // Only Rosa: nothing of the other contact, in any file.
    assert!(
        files
            .values()
            .all(|content| !contains(content, OTHER_TEXT.as_bytes())),
        "another contact's message is in the export"
    );

    // Audited, with counts and no content.
    let entries = audit(&world.data_dir);
    let exported: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "contact.exported")
        .collect();
    assert_eq!(exported.len(), 1, "{entries:?}");
    let detail = &exported[0]["detail"];
    assert!(exported[0]["actor"].as_str().unwrap().starts_with("agent:"));
    assert_eq!(detail["contact"], world.contact.as_str());
    assert_eq!(detail["contacts"], 1);
    assert_eq!(detail["messages"], messages.len());
    assert_eq!(detail["notes"], 1);
    assert_eq!(detail["attachments"], 1);
    assert_eq!(detail["attachments_missing"], 1);
    assert_eq!(detail["bytes"], answer.bytes.len());
    let text = exported[0].to_string();
    assert!(!text.contains(INBOUND_TEXT) && !text.contains(NOTE_TEXT) && !text.contains(ROSA));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_export_and_only_their_tenants_contacts() {
    let world = world().await;
    let path = format!("/v1/contacts/{}/export", world.contact);
    let calls = world.sim.attempts().len();
    for path in [path.as_str(), "/v1/export"] {
        let answer = get_export(&world.base, path, &world.bo).await;
        assert_eq!(
            (answer.status, answer.json()["code"].as_str()),
            (403, Some("forbidden"))
        );
    }
    let answer = get_export(&world.base, &path, &world.gia).await;
    assert_eq!(
        (answer.status, answer.json()["code"].as_str()),
        (404, Some("not_found"))
    );
    assert!(!contains(&answer.bytes, ROSA.as_bytes()));
    let answer = get_export(&world.base, "/v1/contacts/ct_nobody/export", &world.ana).await;
    assert_eq!(answer.status, 404);
    let answer = http()
        .get(format!("{}{path}", world.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(world.sim.attempts().len(), calls, "Meta was not asked");
    // Globex's own tenant export has none of acme's contacts.
    let answer = get_export(&world.base, "/v1/export", &world.gia).await;
    assert_eq!(answer.status, 200);
    let document = export_json(&unzip(&answer.bytes));
    assert_eq!(document["tenant"]["name"], "globex");
    assert_eq!(document["contacts"], json!([]));
    // Refusals are not exports: nothing was audited for acme.
    assert!(
        !audit(&world.data_dir)
            .iter()
            .any(|e| e["action"].as_str().unwrap_or("").ends_with(".exported"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_export_holds_every_contact_and_no_secret() {
    let world = world().await;
    let answer = get_export(&world.base, "/v1/export", &world.ana).await;
    assert_eq!(answer.status, 200, "{}", answer.json());
    assert_eq!(
        answer.header("content-length"),
        answer.bytes.len().to_string()
    );
    let files = unzip(&answer.bytes);
    let document = export_json(&files);
    assert_eq!(document["scope"], "tenant");
    let ids: Vec<&str> = document["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["profile"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "Rosa and the Messenger contact: {ids:?}");
    assert!(ids.contains(&world.contact.as_str()));
    let everything = files.values().flatten().copied().collect::<Vec<u8>>();
    assert!(contains(&everything, OTHER_TEXT.as_bytes()));
    assert_eq!(document["channels"].as_array().unwrap().len(), 3);
    assert!(
        document["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["has_token"] == true)
    );
    let emails: Vec<&str> = document["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(emails.contains(&"ana@acme.test") && emails.contains(&"bo@acme.test"));
    assert!(!document["audit_log"].as_array().unwrap().is_empty());
    // No token, secret or password hash, in the zip's bytes or in any file inside it.
    assert!(
        !files_containing(&world.data_dir, b"$argon2id$").is_empty(),
        "the check looks for what is there"
    );
    for secret in [
        WA_TOKEN.as_bytes(),
        PAGE_TOKEN.as_bytes(),
        APP_SECRET.as_bytes(),
        VERIFY_TOKEN.as_bytes(),
        PASSWORD.as_bytes(),
        b"$argon2id$",
    ] {
        assert!(
            !contains(&answer.bytes, secret),
            "{}",
            String::from_utf8_lossy(secret)
        );
        assert!(
            !contains(&everything, secret),
            "{}",
            String::from_utf8_lossy(secret)
        );
    }
    let entries = audit(&world.data_dir);
    let exported = entries
        .iter()
        .find(|e| e["action"] == "tenant.exported")
        .expect("the tenant export is audited");
    assert_eq!(exported["detail"]["contacts"], 2);
    assert_eq!(exported["detail"]["scope"], "tenant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_the_same_contact_document() {
    let mut world = world().await;
    let path = format!("/v1/contacts/{}/export", world.contact);
    let answer = get_export(&world.base, &path, &world.ana).await;
    assert_eq!(answer.status, 200);
    let served = export_json(&unzip(&answer.bytes));
    // The CLI runs without the server.
    world.relay.take().unwrap().kill();
    let url = world.sim.base_url();
    let out = world.data_dir.parent().unwrap().join("rosa.zip");
    let out_text = out.to_str().unwrap();
    let export = |extra: &[&str]| {
        let mut args = vec![
            "export",
            "contact",
            "--tenant",
            "acme",
            world.contact.as_str(),
            "--out",
            out_text,
            "--graph-url",
            &url,
        ];
        args.extend_from_slice(extra);
        cli(&world.data_dir, &args, "")
    };
    let output = export(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(written["bytes"], std::fs::metadata(&out).unwrap().len());
    assert_eq!(written["attachments"], 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "an export is its owner's only");
    }
    let first = std::fs::read(&out).unwrap();
    let files = unzip(&first);
    let document = export_json(&files);
    assert_eq!(without_time(document), without_time(served));
    let fetched = files
        .iter()
        .find(|(name, _)| name.starts_with("attachments/"))
        .unwrap();
    assert_eq!(fetched.1, &world.photo);

    // An existing --out is refused without --force, and left as it was.
    let output = export(&[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), first);
    let output = export(&["--force"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Bad input: a clear error, nothing written, nothing audited.
    let before = audit(&world.data_dir).len();
    let elsewhere = world.data_dir.parent().unwrap().join("nobody.zip");
    for args in [
        vec![
            "export",
            "contact",
            "--tenant",
            "acme",
            "ct_nobody",
            "--out",
            elsewhere.to_str().unwrap(),
        ],
        vec![
            "export",
            "contact",
            "--tenant",
            "nope",
            world.contact.as_str(),
            "--out",
            elsewhere.to_str().unwrap(),
        ],
        vec![
            "export",
            "tenant",
            "--tenant",
            "nope",
            "--out",
            elsewhere.to_str().unwrap(),
        ],
    ] {
        let output = cli(&world.data_dir, &args, "");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("no contact") || stderr.contains("no tenant"),
            "{stderr}"
        );
        assert!(!elsewhere.exists());
    }
    let entries = audit(&world.data_dir);
    assert_eq!(entries.len(), before);
    let by_cli: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "contact.exported" && e["actor"] == "cli")
        .collect();
    assert_eq!(by_cli.len(), 2, "{entries:?}");
    // The tenant export through the CLI.
    let whole = world.data_dir.parent().unwrap().join("acme.zip");
    let output = cli(
        &world.data_dir,
        &[
            "export",
            "tenant",
            "--tenant",
            "acme",
            "--out",
            whole.to_str().unwrap(),
            "--graph-url",
            &url,
        ],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document = export_json(&unzip(&std::fs::read(&whole).unwrap()));
    assert_eq!(document["contacts"].as_array().unwrap().len(), 2);
}

/// The CLI's export on the shared PostgreSQL database (`--database postgres://…`), with
/// the store's new reads (`contact_profile(s)`, `contact_events`) on that backend.
#[test]
fn the_cli_exports_from_postgres() {
    use ventana_protocol::EventBody;
    use ventana_protocol::event::{InboundMessage, MessageContent};
    use ventana_protocol::ids::{ChannelId, EventId, MessageId, TenantId};
    use ventana_relay::store::{ContactRef, NewEvent, PostgresStore, Storage};

    let cluster = ventana_pgtest::Cluster::shared().unwrap();
    let url = cluster.create_database().unwrap();
    let (_tmp, data_dir) = data_dir();
    let on_pg = |args: &[&str], stdin: &str| {
        let mut all = vec!["--database", url.as_str()];
        all.extend_from_slice(args);
        cli_ok(&data_dir, &all, stdin)
    };
    let tenant = on_pg(&["tenant", "add", "acme"], "");
    on_pg(
        &["meta-app", "add", "--app-id", APP_ID, "--app-secret-stdin"],
        &format!("{APP_SECRET}\n"),
    );
    let channel = on_pg(
        &[
            "channel",
            "add",
            "--tenant",
            "acme",
            "--kind",
            "whatsapp",
            "--external-id",
            PHONE_NUMBER_ID,
            "--app-id",
            APP_ID,
        ],
        "",
    );
    let store = PostgresStore::open(&url, None).unwrap();
    let appended = store
        .append(vec![NewEvent {
            id: EventId::new("msg:wamid.PG_1"),
            tenant: TenantId::new(tenant.clone()),
            channel: ChannelId::new(channel.clone()),
            contact: Some(ContactRef {
                external_id: ROSA.into(),
                name: Some("Rosa".into()),
            }),
            conversation: None,
            occurred_at: Utc::now(),
            body: EventBody::MessageReceived(InboundMessage {
                message_id: MessageId::new("wamid.PG_1"),
                content: MessageContent::Text {
                    body: INBOUND_TEXT.into(),
                },
                sender_name: Some("Rosa".into()),
                reply_to: None,
                referral: None,
            }),
            media: Vec::new(),
        }])
        .unwrap();
    let contact = appended.entries[0].event.contact.clone().unwrap();
    drop(store);

    let out = data_dir.parent().unwrap().join("pg.zip");
    let written = on_pg(
        &[
            "export",
            "contact",
            "--tenant",
            "acme",
            contact.as_str(),
            "--out",
            out.to_str().unwrap(),
        ],
        "",
    );
    let written: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(written["messages"], 1);
    let document = export_json(&unzip(&std::fs::read(&out).unwrap()));
    let rosa = &document["contacts"][0];
    assert_eq!(rosa["profile"]["platform_id"], ROSA);
    assert_eq!(rosa["profile"]["channel"], channel.as_str());
    assert_eq!(rosa["messages"][0]["content"]["body"], INBOUND_TEXT);
    assert!(rosa["conversations"][0]["id"].is_string());
    // Another tenant's view: nothing.
    on_pg(&["tenant", "add", "globex"], "");
    let output = cli(
        &data_dir,
        &[
            "--database",
            url.as_str(),
            "export",
            "contact",
            "--tenant",
            "globex",
            contact.as_str(),
            "--out",
            data_dir.parent().unwrap().join("no.zip").to_str().unwrap(),
        ],
        "",
    );
    assert!(!output.status.success());
    let whole = data_dir.parent().unwrap().join("pg-tenant.zip");
    on_pg(
        &[
            "export",
            "tenant",
            "--tenant",
            "acme",
            "--out",
            whole.to_str().unwrap(),
        ],
        "",
    );
    let document = export_json(&unzip(&std::fs::read(&whole).unwrap()));
    assert_eq!(document["contacts"].as_array().unwrap().len(), 1);
    let audit = on_pg(&["audit", "export", "--tenant", "acme"], "");
    assert!(audit.contains("contact.exported") && audit.contains("tenant.exported"));
}
