//! End to end: the real `ventana` debug binary in a real (virtual) window, driven through
//! WebDriver, signed in to a real relay (in this process, on port 0) that metasim feeds
//! with signed webhooks and answers as Meta's Graph API. The relay's world is the demo's
//! (`ventana_demo`): what the README's run command shows is what is checked here.
//!
//! Each test runs in a private desktop session (`ventana_desktop_session`): its own D-Bus, an unlocked
//! gnome-keyring for the Secret Service, Xvfb, dunst for notifications. Screenshots of the
//! main screens go to the test's target dir and, with `VENTANA_SCREENSHOTS=docs/screenshots`,
//! to the docs.
// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

mod support;

use chrono::TimeDelta;
use serde_json::Value;
use support::{
    App, BusWatch, Keyring, distinct_colours, is_child, mean_brightness, run_in_private_session,
};
use ventana_demo::people::*;
use ventana_demo::{ADMIN, AGENT, DemoOptions, DemoRelay, IG_ID, PASSWORD, TENANT};

/// WebDriver's code for the Enter key.
const ENTER: &str = "\u{E007}";

async fn start_demo(dir: &std::path::Path) -> DemoRelay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    DemoRelay::start(&dir.join("relay"), listener)
        .await
        .unwrap_or_else(|e| panic!("the demo relay did not start: {e:#}"))
}

/// The unread count the window's title shows (`Ventana (12)`), 0 for plain `Ventana`.
async fn unread_in_title(app: &App) -> u64 {
    let title = app.client.title().await.unwrap_or_default();
    title
        .strip_prefix("Ventana (")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn until_unread_in_title(app: &App, wanted: u64) {
    app.until(&format!("the title to count {wanted} unread"), || async {
        let shown = unread_in_title(app).await;
        if shown == wanted {
            Ok(())
        } else {
            Err(format!("{shown}"))
        }
    })
    .await;
}

/// Signs in through the form the app shows when it has no account.
async fn sign_in(app: &App, base: &str, email: &str, password: &str) {
    app.wait_for("[data-testid=\"sign-in\"]").await;
    app.fill("[data-testid=\"sign-in-relay\"]", base).await;
    app.fill("[data-testid=\"sign-in-email\"]", email).await;
    app.fill("[data-testid=\"sign-in-password\"]", password)
        .await;
    app.click("[data-testid=\"sign-in-submit\"]").await;
}

/// The texts of the inbox's rows.
async fn rows(app: &App) -> Vec<String> {
    app.texts("[data-testid=\"conversation-row\"]").await
}

async fn until_row(app: &App, needle: &str) {
    app.until_text("[data-testid=\"conversation-row\"]", needle)
        .await;
}

/// Searches for `query` and waits until the results are in.
async fn search(app: &App, query: &str) {
    app.fill("[data-testid=\"search-input\"]", query).await;
    app.until("the search to answer", || async {
        let none = app.texts("[data-testid=\"search-none\"]").await;
        let results = app.texts("[data-testid=\"search-result\"]").await;
        if none.is_empty() && results.is_empty() {
            Err("no answer".into())
        } else {
            Ok(())
        }
    })
    .await;
}

/// Opens the conversation whose row shows `needle` and waits until the pane shows it.
async fn open_row(app: &App, needle: &str) {
    app.click_text("[data-testid=\"conversation-row\"]", needle)
        .await;
    app.wait_for("[data-testid=\"composer\"]").await;
}

/// Waits until exactly `wanted` elements match `css`.
async fn until_count(app: &App, css: &str, wanted: usize) {
    app.until(&format!("{wanted} of {css}"), || async {
        let found = app.texts(css).await;
        if found.len() == wanted {
            Ok(())
        } else {
            Err(format!("{found:?}"))
        }
    })
    .await;
}

async fn composer_line(app: &App) -> String {
    app.texts("[data-testid=\"composer-window\"]")
        .await
        .join(" ")
}

/// The state (`queued`, `sent`, `delivered`, `read`, `failed`) of the newest outgoing
/// message showing `text`.
async fn state_of_reply(app: &App, text: &str) -> Option<String> {
    let value = app
        .js(
            "const b = [...document.querySelectorAll('[data-testid=\"message\"]')]
                 .filter(e => e.innerText.includes(arguments[0])).pop();
             return b ? b.getAttribute('data-state') : null;",
            vec![Value::from(text)],
        )
        .await;
    value.as_str().map(str::to_owned)
}

async fn send_reply(app: &App, text: &str) {
    app.type_into("[data-testid=\"composer-input\"]", text)
        .await;
    app.click("[data-testid=\"composer-send\"]").await;
}

async fn until_reply_state(app: &App, text: &str, wanted: &[&str]) {
    app.until(&format!("the reply {text:?} to be {wanted:?}"), || async {
        match state_of_reply(app, text).await {
            Some(state) if wanted.contains(&state.as_str()) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// The `export.json` of an export's zip.
fn exported_document(path: &std::path::Path) -> serde_json::Value {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut zip = zip::ZipArchive::new(file).expect("the export is a zip");
    let entry = zip
        .by_name("export.json")
        .expect("the zip holds export.json");
    serde_json::from_reader(entry).expect("export.json is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_works_the_inbox_from_sign_in_to_erasure_and_offline_search() {
    let test = "an_admin_works_the_inbox_from_sign_in_to_erasure_and_offline_search";
    if !is_child(test) {
        return run_in_private_session(test, Keyring::Unlocked);
    }
    let (_xvfb, display) = support::start_xvfb();
    let notifications = BusWatch::start();
    let dunst_config = tempfile::tempdir().unwrap();
    let _dunst = support::start_dunst(&display, dunst_config.path());
    let dir = tempfile::tempdir().unwrap();
    let mut demo = start_demo(dir.path()).await;
    let app = App::launch(&display, &dir.path().join("app"), "light").await;

    // The window renders the app, and the UI reaches Rust (`app_info`).
    app.wait_for("[data-testid=\"app-shell\"]").await;
    assert_eq!(app.client.title().await.unwrap_or_default(), "Ventana");
    let expected = format!("v{}", env!("CARGO_PKG_VERSION"));
    app.until("the version from app_info", || async {
        let shown = app.texts("[data-testid=\"app-version\"]").await.join("");
        if shown == expected {
            Ok(())
        } else {
            Err(shown)
        }
    })
    .await;

    // A wrong password is refused in words, and nothing is signed in.
    sign_in(&app, &demo.base, ADMIN, "not-the-password").await;
    app.until("the sign-in error", || async {
        let error = app.texts("[data-testid=\"sign-in-error\"]").await.join("");
        if error.is_empty() {
            Err("no error".into())
        } else {
            Ok(())
        }
    })
    .await;
    assert!(
        rows(&app).await.is_empty(),
        "a refused sign-in showed an inbox"
    );

    // The right password: the inbox fills from the relay.
    app.fill("[data-testid=\"sign-in-password\"]", PASSWORD)
        .await;
    app.click("[data-testid=\"sign-in-submit\"]").await;
    until_row(&app, FRESH_TEXT).await;
    until_row(&app, WHATSAPP_30H_NAME).await;
    app.until_attribute("[data-testid=\"connection-status\"]", "data-state", "live")
        .await;
    let inbox = app.screenshot("inbox").await;
    assert!(distinct_colours(&inbox) > 8, "the window looks blank");
    // The window's title counts what is unread, and follows new messages.
    app.until("an unread count in the title", || async {
        match unread_in_title(&app).await {
            0 => Err(app.client.title().await.unwrap_or_default()),
            _ => Ok(()),
        }
    })
    .await;
    let unread_before = unread_in_title(&app).await;

    // A webhook sent to the relay appears in the open inbox, with no refresh.
    let live_text = "Do you have the trail runners in size 44? (e2e-live)";
    demo.traffic
        .messenger(
            "7100000000000901",
            "m_e2e_live",
            live_text,
            TimeDelta::zero(),
        )
        .await
        .unwrap();
    until_row(&app, "e2e-live").await;
    until_unread_in_title(&app, unread_before + 1).await;

    // Within 24 hours a reply goes out as a standard message, and is delivered and read.
    open_row(&app, "e2e-live").await;
    let line = composer_line(&app).await;
    assert!(
        line.contains("24 h"),
        "composer line for a fresh chat: {line:?}"
    );
    let reply = "Yes, we do! Shall I reserve a pair? (e2e-reply)";
    send_reply(&app, reply).await;
    until_reply_state(&app, reply, &["read"]).await;
    let sent = demo
        .sim
        .sends()
        .into_iter()
        .find(|send| send.recipient == "7100000000000901")
        .expect("metasim received the reply");
    assert_eq!(sent.body["messaging_type"], "RESPONSE", "{}", sent.body);
    assert_eq!(sent.body["message"]["text"], reply);

    // Quoting: Reply on the customer's message shows it above the composer; the reply goes
    // out with the Send API's `reply_to`, and its bubble shows the quote.
    let clicked = app
        .js(
            "const b = [...document.querySelectorAll('[data-testid=\"message\"]')]
                 .filter(e => e.innerText.includes(arguments[0]) && !e.querySelector('[data-testid=\"quote\"]')).pop();
             const r = b && b.querySelector('[data-testid=\"reply-to-message\"]');
             if (r) r.click();
             return !!r;",
            vec![Value::from("e2e-live")],
        )
        .await;
    assert_eq!(
        clicked,
        Value::Bool(true),
        "the customer's bubble offers Reply"
    );
    app.wait_for("[data-testid=\"composer-quote\"]").await;
    let quoting = app
        .texts("[data-testid=\"composer-quote\"]")
        .await
        .join(" ");
    assert!(
        quoting.contains("trail runners"),
        "the quote above the composer: {quoting:?}"
    );
    let quoted_reply = "Size 44 is in stock, yes (e2e-quote)";
    send_reply(&app, quoted_reply).await;
    until_reply_state(&app, quoted_reply, &["sent", "delivered", "read"]).await;
    let sent = demo
        .sim
        .sends()
        .into_iter()
        .find(|send| send.body["message"]["text"] == quoted_reply)
        .expect("metasim received the quoted reply");
    assert_eq!(
        sent.body["reply_to"],
        serde_json::json!({"mid": "m_e2e_live"}),
        "{}",
        sent.body
    );
    let bubble_quote = app
        .js(
            "const b = [...document.querySelectorAll('[data-testid=\"message\"]')]
                 .filter(e => e.innerText.includes(arguments[0])).pop();
             const q = b && b.querySelector('[data-testid=\"quote\"]');
             return q ? q.innerText : null;",
            vec![Value::from("e2e-quote")],
        )
        .await;
    assert!(
        bubble_quote
            .as_str()
            .is_some_and(|q| q.contains("trail runners")),
        "the sent bubble shows what it quotes: {bubble_quote}"
    );
    assert!(
        app.texts("[data-testid=\"composer-quote\"]")
            .await
            .is_empty(),
        "the quote left the composer once sent"
    );
    app.screenshot("conversation").await;

    // Messenger at 30 hours: the composer says HUMAN_AGENT before anything is typed, and
    // the reply goes out tagged.
    open_row(&app, MESSENGER_30H_TEXT).await;
    let line = composer_line(&app).await;
    assert!(
        line.contains("HUMAN_AGENT"),
        "composer line at 30 h: {line:?}"
    );
    let tagged = "We're sending a new pair today, sorry! (e2e-human-agent)";
    send_reply(&app, tagged).await;
    until_reply_state(&app, tagged, &["sent", "delivered", "read"]).await;
    let sent = demo
        .sim
        .sends()
        .into_iter()
        .find(|send| send.recipient == MESSENGER_30H_PSID)
        .expect("metasim received the tagged reply");
    assert_eq!(sent.body["messaging_type"], "MESSAGE_TAG", "{}", sent.body);
    assert_eq!(sent.body["tag"], "HUMAN_AGENT", "{}", sent.body);

    // WhatsApp at 30 hours: only approved templates are offered; there is no free text box.
    open_row(&app, WHATSAPP_30H_NAME).await;
    app.wait_for("[data-testid=\"template-picker\"]").await;
    let line = composer_line(&app).await;
    assert!(
        line.contains("Template only"),
        "composer line on WhatsApp at 30 h: {line:?}"
    );
    assert!(
        app.texts("[data-testid=\"composer-input\"]")
            .await
            .is_empty(),
        "a free-text box is offered outside WhatsApp's 24 h window"
    );
    app.screenshot("templates").await;
    // An approved template goes out, with its parameters, in the customer's language.
    app.click_text(
        "[data-testid=\"template-picker\"] option",
        "support_followup_v1 (es",
    )
    .await;
    until_count(&app, "[data-testid=\"template-parameter\"]", 2).await;
    for (input, value) in app
        .client
        .find_all(fantoccini::Locator::Css(
            "[data-testid=\"template-parameter\"]",
        ))
        .await
        .unwrap()
        .into_iter()
        .zip(["Rosa", "#4411"])
    {
        input.send_keys(value).await.unwrap();
    }
    app.click("[data-testid=\"composer-send\"]").await;
    app.until("metasim to receive the template", || async {
        let sends = demo.sim.sends();
        match sends.iter().find(|send| send.recipient == "34600000001") {
            Some(send) => {
                assert_eq!(send.body["type"], "template", "{}", send.body);
                assert_eq!(send.body["template"]["name"], "support_followup_v1");
                assert_eq!(send.body["template"]["language"]["code"], "es");
                let sent = send.body.to_string();
                assert!(sent.contains("Rosa") && sent.contains("#4411"), "{sent}");
                Ok(())
            }
            None => Err(format!("{} sends, none to Rosa", sends.len())),
        }
    })
    .await;
    // The sent template reads as its text, its name kept small beside it.
    app.until("the template's text in its bubble", || async {
        let shown = app
            .texts("[data-testid=\"template-text\"]")
            .await
            .join(" | ");
        if shown.contains("Hola Rosa") && shown.contains("#4411") {
            Ok(())
        } else {
            Err(shown)
        }
    })
    .await;
    let names = app.texts("[data-testid=\"template-name\"]").await.join(" ");
    assert!(names.contains("support_followup_v1"), "{names:?}");

    // An escalation raises a desktop notification; clicking it opens the conversation.
    // (Notices of the scenario's own recent escalations came at sign-in: cleared first.)
    support::close_notifications();
    let mark = notifications.mark();
    demo.traffic
        .instagram(
            "17800000000000777",
            "ig_e2e_escalation",
            "My parcel is lost, I need a human (e2e-escalation)",
            TimeDelta::zero(),
        )
        .await
        .unwrap();
    let seen = notifications.wait_for_after(mark, "string \"Escalated:");
    assert!(
        seen.contains("wrote “human”"),
        "the notice says why: {seen}"
    );
    support::click_first_notification();
    app.until_text("[data-testid=\"message\"]", "e2e-escalation")
        .await;

    // The Instagram token is revoked at Meta: the reply fails with the reason and what to
    // do, and the channel settings say the channel needs re-connection.
    assert!(demo.sim.revoke_token(IG_ID));
    let refused = "Someone from the team will call you today (e2e-revoked)";
    send_reply(&app, refused).await;
    until_reply_state(&app, refused, &["failed"]).await;

    // Channel settings: an admin may edit them.
    app.click("[data-testid=\"open-channel-settings\"]").await;
    app.wait_for("[data-testid=\"channel-needs-reconnection\"]")
        .await;
    until_count(&app, "[data-testid=\"channel-section\"]", 3).await;
    app.wait_for("[data-testid=\"channel-save\"]").await;
    app.screenshot("settings").await;
    app.press("body", "\u{E00C}").await; // Escape

    // Erase a person: typed confirmation, a receipt, and they are gone from inbox and search.
    let erased_text = "vegan leather";
    search(&app, "vegan").await;
    app.until_text("[data-testid=\"search-result\"]", erased_text)
        .await;
    app.press("[data-testid=\"search-input\"]", "\u{E00C}")
        .await;
    open_row(&app, erased_text).await;
    app.click("[data-testid=\"open-contact\"]").await;
    app.wait_for("[data-testid=\"contact-panel\"]").await;
    app.screenshot("contact").await;

    // Export the person's data first (portability): a zip saved where the panel says, whose
    // export.json holds their message.
    app.click("[data-testid=\"export-contact\"]").await;
    app.until_text("[data-testid=\"export-done\"]", "Saved to")
        .await;
    let saved = app
        .attributes("[data-testid=\"export-done\"]", "title")
        .await
        .pop()
        .expect("the export names its file");
    let document = exported_document(std::path::Path::new(&saved));
    assert_eq!(document["format"], "ventana.export.v1", "{document}");
    assert!(
        document.to_string().contains(erased_text),
        "the export lacks the person's message: {document}"
    );

    app.click("[data-testid=\"erase-contact\"]").await;
    app.wait_for("[data-testid=\"erase-dialog\"]").await;
    let submit = app.wait_for("[data-testid=\"erase-confirm-submit\"]").await;
    assert!(
        !submit.is_enabled().await.unwrap(),
        "erasure can be confirmed without typing ERASE"
    );
    app.type_into("[data-testid=\"erase-confirm-input\"]", "ERASE")
        .await;
    app.click("[data-testid=\"erase-confirm-submit\"]").await;
    // The receipt names the relay's erasure record.
    app.until_text("[data-testid=\"erase-receipt\"]", "er_")
        .await;
    app.until_gone("[data-testid=\"conversation-row\"]", erased_text)
        .await;
    app.press("body", "\u{E00C}").await;

    // Offline: the relay stops; search still finds nine-day-old history, and opening a
    // result shows the message. The erased person is not found.
    demo.stop().await.unwrap();
    app.until_attribute(
        "[data-testid=\"connection-status\"]",
        "data-state",
        "offline",
    )
    .await;
    search(&app, "all good").await;
    app.until_text("[data-testid=\"search-result\"]", "all good")
        .await;
    app.screenshot("search").await;
    app.press("[data-testid=\"search-input\"]", ENTER).await;
    app.until_text("[data-testid=\"message\"]", OLD_TEXT).await;
    // The same search that found the person before erasure now finds nothing.
    search(&app, "vegan").await;
    let results = app.texts("[data-testid=\"search-result\"]").await;
    assert!(
        !results.iter().any(|r| r.contains("vegan")),
        "search still finds the erased person: {results:?}"
    );

    let _ = app.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sees_channel_settings_but_cannot_change_them() {
    let test = "an_agent_sees_channel_settings_but_cannot_change_them";
    if !is_child(test) {
        return run_in_private_session(test, Keyring::Unlocked);
    }
    let (_xvfb, display) = support::start_xvfb();
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    let app = App::launch(&display, &dir.path().join("app"), "dark").await;

    sign_in(&app, &demo.base, AGENT, PASSWORD).await;
    until_row(&app, FRESH_TEXT).await;
    let inbox = app.screenshot("inbox").await;
    assert!(
        mean_brightness(&inbox) < 100.0,
        "the window is not dark when the desktop prefers dark (mean brightness {})",
        mean_brightness(&inbox)
    );
    open_row(&app, MESSENGER_30H_TEXT).await;
    app.screenshot("conversation").await;

    app.click("[data-testid=\"open-channel-settings\"]").await;
    app.wait_for("[data-testid=\"channel-settings-readonly\"]")
        .await;
    until_count(&app, "[data-testid=\"channel-section\"]", 3).await;
    assert!(
        app.texts("[data-testid=\"channel-save\"]").await.is_empty(),
        "an agent is offered a save button"
    );
    let editable = app
        .js(
            "return [...document.querySelectorAll('[data-testid=\"channel-settings\"] input, [data-testid=\"channel-settings\"] textarea, [data-testid=\"channel-settings\"] select')]
                 .filter(e => !e.matches(':disabled') && !e.readOnly).length;",
            vec![],
        )
        .await;
    assert_eq!(
        editable,
        Value::from(0),
        "an agent can edit a setting field"
    );
    app.screenshot("settings").await;

    let _ = app.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_removes_an_agent_and_the_agents_app_says_so_and_deletes_its_cache() {
    let test = "an_admin_removes_an_agent_and_the_agents_app_says_so_and_deletes_its_cache";
    if !is_child(test) {
        return run_in_private_session(test, Keyring::Unlocked);
    }
    let (_xvfb, display) = support::start_xvfb();
    let dir = tempfile::tempdir().unwrap();
    // One relay for both apps; the tenant requires removed agents' desktops to wipe.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo = DemoRelay::start_with(
        &dir.path().join("relay"),
        listener,
        DemoOptions {
            wipe_cache_on_removal: true,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the demo relay did not start: {e:#}"));

    // The agent's app: a second process with its own data dir, signed in as Bo.
    let agent_dir = dir.path().join("app-agent");
    let agent = App::launch(&display, &agent_dir, "light").await;
    sign_in(&agent, &demo.base, AGENT, PASSWORD).await;
    until_row(&agent, FRESH_TEXT).await;
    agent
        .until_attribute("[data-testid=\"connection-status\"]", "data-state", "live")
        .await;
    let accounts = agent_dir.join("accounts");
    let cached: Vec<_> = std::fs::read_dir(&accounts).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1, "Bo's cache is on disk");
    assert!(cached[0].path().join("cache.db").exists());

    // The admin's app: the team settings list the agents; Ana removes Bo.
    let admin = App::launch(&display, &dir.path().join("app-admin"), "light").await;
    sign_in(&admin, &demo.base, ADMIN, PASSWORD).await;
    until_row(&admin, FRESH_TEXT).await;
    admin.click("[data-testid=\"open-team-settings\"]").await;
    until_count(&admin, "[data-testid=\"agent-row\"]", 2).await;
    let bo_row = format!("[data-testid=\"agent-row\"][data-email=\"{AGENT}\"]");
    admin
        .wait_for(&format!("{bo_row} [data-testid=\"agent-remove\"]"))
        .await;
    admin.screenshot("agents").await;
    admin
        .click(&format!("{bo_row} [data-testid=\"agent-remove\"]"))
        .await;
    admin
        .until_text(
            "[data-testid=\"confirm-dialog\"]",
            &format!("Remove {AGENT}?"),
        )
        .await;
    admin.click("[data-testid=\"confirm-submit\"]").await;
    until_count(&admin, "[data-testid=\"agent-row\"]", 1).await;

    // Bo's app says why, in words, and its copy of the conversations is gone.
    let words = format!("Your access to {TENANT} was removed by an admin.");
    agent
        .until_text("[data-testid=\"account-notice\"]", &words)
        .await;
    agent
        .until_text(
            "[data-testid=\"account-notice\"]",
            "deleted from this computer",
        )
        .await;
    agent.screenshot("removed").await;
    assert!(
        rows(&agent).await.is_empty(),
        "the removed agent still sees conversations"
    );
    agent.wait_for("[data-testid=\"sign-in\"]").await;
    let left: Vec<_> = std::fs::read_dir(&accounts)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the cache is still on disk: {left:?}");
    let list = std::fs::read_to_string(agent_dir.join("accounts.json")).unwrap_or_default();
    assert!(!list.contains(AGENT), "{list}");

    // Ana adds Cy: the temporary password is shown once, and Cy must choose their own at
    // first sign-in, before the inbox.
    let cy = "cy@acme.test";
    admin.fill("[data-testid=\"add-agent-email\"]", cy).await;
    admin.click("[data-testid=\"add-agent-submit\"]").await;
    admin.wait_for("[data-testid=\"one-time-secret\"]").await;
    let temporary = admin
        .js(
            "return document.querySelector('[data-testid=\"one-time-secret-value\"]').value;",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(temporary.len() >= 10, "a temporary password: {temporary:?}");
    admin.click("[data-testid=\"one-time-secret-done\"]").await;
    until_count(&admin, "[data-testid=\"agent-row\"]", 2).await;
    assert!(
        !admin.texts("body").await.join("").contains(&temporary),
        "the temporary password is still shown"
    );

    agent.click("[data-testid=\"dismiss-notice\"]").await;
    sign_in(&agent, &demo.base, cy, &temporary).await;
    agent
        .wait_for("[data-testid=\"password-dialog\"][data-forced=\"true\"]")
        .await;
    assert!(
        rows(&agent).await.is_empty(),
        "the inbox showed before the new password"
    );
    agent
        .fill("[data-testid=\"password-current\"]", &temporary)
        .await;
    agent
        .fill("[data-testid=\"password-new\"]", "Cy's own password")
        .await;
    agent
        .fill("[data-testid=\"password-again\"]", "Cy's own password")
        .await;
    agent.click("[data-testid=\"password-submit\"]").await;
    until_row(&agent, FRESH_TEXT).await;
    assert!(
        agent
            .texts("[data-testid=\"password-dialog\"]")
            .await
            .is_empty()
    );

    let _ = agent.client.clone().close().await;
    let _ = admin.client.clone().close().await;
}
