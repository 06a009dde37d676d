//! The UI's TypeScript types of the desktop API contract (`ui/src/lib/contract.ts`) are
//! generated from `src/api.rs` (ts-rs), and committed so the UI builds without Rust. This
//! test fails when the committed file is not what generation gives now; run it with
//! `UPDATE_CONTRACT=1` to write the file again.

// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use ts_rs::{Config, TS};
use ventana_protocol::ChannelKind;
use ventana_protocol::api::{
    AttachmentKind, ChannelPatch, ChannelView, Draft, ERASE_WORD, ErasureReceipt, Recorded,
    TemplateInfo, WorkflowChange,
};
use ventana_protocol::settings::{
    BusinessHours, ChannelSettings, DayHours, EscalationRules, OptOutKeywords, Weekday,
};

fn contract_ts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/contract.ts")
}

/// The file as generation writes it: every type the UI exchanges with the engine's
/// commands, in dependency order, and the erasure word.
fn generated() -> String {
    // Sequence numbers and counts stay far below 2^53: plain numbers, as the UI uses them.
    let cfg = Config::new().with_large_int("number");
    let declarations = [
        ChannelKind::decl(&cfg),
        Weekday::decl(&cfg),
        DayHours::decl(&cfg),
        BusinessHours::decl(&cfg),
        EscalationRules::decl(&cfg),
        OptOutKeywords::decl(&cfg),
        ChannelSettings::decl(&cfg),
        ChannelView::decl(&cfg),
        ChannelPatch::decl(&cfg),
        TemplateInfo::decl(&cfg),
        AttachmentKind::decl(&cfg),
        Draft::decl(&cfg),
        WorkflowChange::decl(&cfg),
        Recorded::decl(&cfg),
        ErasureReceipt::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from crates/protocol/src/api.rs by crates/protocol/tests/typescript.rs: do\n\
         // not edit. `UPDATE_CONTRACT=1 cargo test -p ventana-protocol --test typescript`\n\
         // writes it again after a change to the contract.\n\n",
    );
    out.push_str(&format!(
        "/** The word that confirms an erasure (`ERASE_WORD`). */\nexport const ERASE_WORD = {ERASE_WORD:?};\n"
    ));
    for declaration in declarations {
        out.push('\n');
        out.push_str("export ");
        out.push_str(declaration.trim());
        out.push('\n');
    }
    out
}

#[test]
fn the_uis_contract_types_are_generated_from_the_rust_ones() {
    let path = contract_ts();
    let fresh = generated();
    if std::env::var_os("UPDATE_CONTRACT").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is not what the contract generates; run \
         `UPDATE_CONTRACT=1 cargo test -p ventana-protocol --test typescript` and commit it.\n\
         generated:\n{fresh}",
        path.display()
    );
}
