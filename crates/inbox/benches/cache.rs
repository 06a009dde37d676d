//! Cache benchmark: prints figures, asserts nothing (run with
//! `cargo bench -p ventana-inbox --bench cache`).
//!
//! A deterministic log of 100,000 conversations and 1,000,000 messages over three channels
//! (skewed lengths, 70 % inbound, statuses, media with captions, assignments, labels,
//! escalations and notes; English and Spanish text from a Zipf-distributed vocabulary) is
//! applied to a fresh encrypted cache, then the UI's reads are timed against it:
//!
//! 1. Applying the backlog with `apply_batch`, 5,000 entries per batch (a cold-start sync),
//!    beside a raw baseline in the same run: the same message texts `INSERT`ed into a bare
//!    table with the same FTS5 external-content index (same tokenizer, `secure-delete` and
//!    `pgsz`), in a cache opened with the same key setup and pragmas, 5,000 rows per
//!    transaction, one prepared statement; like `apply_batch`, each transaction adds its
//!    rows to the index in one `INSERT … SELECT` before it commits.
//! 2. `query::search` (50 results, newest first) over 200 queries: common words, rare
//!    words, two-word queries and prefixes.
//! 3. `query::inbox`'s first page (50), with no filter, `mine` and `escalated`.
//! 4. `query::messages`: the newest 50 of 200 random long conversations (then the same 200
//!    again, their pages now in memory).
//! 5. The cache file's size.
//!
//! `VENTANA_BENCH_CONVERSATIONS` and `VENTANA_BENCH_MESSAGES` shrink the log,
//! `VENTANA_BENCH_BATCH` changes the batch size (the sync client's `MAX_BATCH` is 5,000), and
//! `VENTANA_BENCH_DIR` keeps the cache files in that (empty) directory, for diagnosis.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod backlog;

use backlog::{CONVERSATIONS, Ids, MESSAGES, Rng, Vocabulary, What, entry, plan};
use std::path::Path;
use std::time::{Duration, Instant};
use ventana_inbox::apply::{LogEntry, apply_batch, searchable_text};
use ventana_inbox::cache::{Cache, CacheKey};
use ventana_inbox::query::{self, InboxFilter};
use ventana_protocol::EventBody;

const BATCH: usize = 5_000;
const SAMPLES: usize = 200;
/// The account's agent: `mine` is the conversations assigned to agent 0.
const ME: &str = "ag_0";

// ---------------------------------------------------------------------------------------
// Measuring.

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Runs `each` over `inputs` (after an untimed pass over the first few); the timings, in
/// the order of `inputs`.
fn timed<T>(inputs: &[T], mut each: impl FnMut(&T)) -> Vec<Duration> {
    for input in inputs.iter().take(10) {
        each(input);
    }
    inputs
        .iter()
        .map(|input| {
            let started = Instant::now();
            each(input);
            started.elapsed()
        })
        .collect()
}

fn sorted(mut timings: Vec<Duration>) -> Vec<Duration> {
    timings.sort();
    timings
}

fn latency_row(name: &str, timings: &[Duration], target: &str) {
    println!(
        "| {name} | p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms | {target} |",
        ms(percentile(timings, 0.5)),
        ms(percentile(timings, 0.95)),
        ms(percentile(timings, 1.0)),
    );
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let conversations = env_or("VENTANA_BENCH_CONVERSATIONS", CONVERSATIONS);
    let messages = env_or("VENTANA_BENCH_MESSAGES", MESSAGES);
    let batch = env_or("VENTANA_BENCH_BATCH", BATCH);
    let dir = tempfile::tempdir().unwrap();
    // `VENTANA_BENCH_DIR` keeps the files there instead, for diagnosis.
    let kept = std::env::var("VENTANA_BENCH_DIR")
        .ok()
        .map(std::path::PathBuf::from);
    let dir_path = kept.as_deref().unwrap_or(dir.path());
    let key = CacheKey::from_bytes([0x5a; 32]);
    let vocabulary = Vocabulary::new();

    let planning = Instant::now();
    let plan = plan(conversations, messages);
    let events = plan.items.len();
    let mut sorted_lengths = plan.lengths.clone();
    sorted_lengths.sort_unstable();
    let statuses = plan
        .items
        .iter()
        .filter(|i| matches!(i.what, What::Delivered(_) | What::Read(_)))
        .count();
    println!(
        "log: {events} events ({messages} messages, {statuses} statuses) in {conversations} \
         conversations; messages per conversation: median {}, p90 {}, p99 {}, max {} \
         (planned in {:.1} s)",
        sorted_lengths[sorted_lengths.len() / 2],
        sorted_lengths[sorted_lengths.len() * 9 / 10],
        sorted_lengths[sorted_lengths.len() * 99 / 100],
        sorted_lengths[sorted_lengths.len() - 1],
        planning.elapsed().as_secs_f64()
    );

    // 1. Applying the backlog, 5,000 entries per transaction by default. Only `apply_batch` is timed;
    //    the entries of each batch are built (as the sync client would decode them) before.
    let ids = Ids::new(&plan);
    let cache_path = dir_path.join("account.db");
    let mut cache = Cache::open(&cache_path, &key).unwrap();
    let mut applying = Duration::ZERO;
    let mut texts: Vec<Option<String>> = Vec::with_capacity(messages);
    for (b, chunk) in plan.items.chunks(batch).enumerate() {
        let entries: Vec<LogEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, item)| entry(&vocabulary, &ids, item, (b * batch + i + 1) as u64))
            .collect();
        for entry in &entries {
            match &entry.event.body {
                EventBody::MessageReceived(m) => texts.push(searchable_text(&m.content)),
                EventBody::MessageSent(m) => texts.push(searchable_text(&m.content)),
                _ => {}
            }
        }
        let started = Instant::now();
        let applied = apply_batch(&mut cache, &entries).unwrap();
        applying += started.elapsed();
        assert_eq!(applied.applied, entries.len());
    }
    drop(cache);
    let apply_rate = events as f64 / applying.as_secs_f64();
    let apply_message_rate = messages as f64 / applying.as_secs_f64();

    // The raw baseline: the same texts into a bare table with the same FTS5 index, filled
    // as `apply_batch` fills `messages_fts` (migrations/0002): once per transaction.
    let raw_path = dir_path.join("raw.db");
    let raw = Cache::open(&raw_path, &key).unwrap();
    raw.connection()
        .execute_batch(
            "CREATE TABLE raw_messages (rowid INTEGER PRIMARY KEY, text TEXT);
             CREATE VIRTUAL TABLE raw_fts USING fts5 (
                 text, content = 'raw_messages', content_rowid = 'rowid',
                 tokenize = 'unicode61 remove_diacritics 2'
             );
             INSERT INTO raw_fts (raw_fts, rank) VALUES ('secure-delete', 1);
             INSERT INTO raw_fts (raw_fts, rank) VALUES ('pgsz', 3900);",
        )
        .unwrap();
    let mut raw = raw;
    let started = Instant::now();
    for chunk in texts.chunks(batch) {
        let tx = raw.connection_mut().transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO raw_messages (text) VALUES (?1)")
                .unwrap();
            let mut first = None;
            for text in chunk {
                insert.execute([text]).unwrap();
                first.get_or_insert(tx.last_insert_rowid());
            }
            tx.execute(
                "INSERT INTO raw_fts (rowid, text)
                 SELECT rowid, text FROM raw_messages WHERE rowid >= ?1 AND text IS NOT NULL",
                [first.unwrap_or(i64::MAX)],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let raw_elapsed = started.elapsed();
    drop(raw);
    let raw_rate = texts.len() as f64 / raw_elapsed.as_secs_f64();

    // The reads, on a fresh connection as the UI would have.
    let cache = Cache::open(&cache_path, &key).unwrap();
    let connection = cache.connection();
    let now = plan.end;
    let mut rng = Rng::new(99);

    // 2. Search: common words, rare words, two words, prefixes, 50 of each.
    let mut searches: Vec<(usize, String)> = Vec::new();
    for i in 0..SAMPLES / 4 {
        let language = i % 2;
        let common = &vocabulary.words[language][rng.below(60) as usize];
        searches.push((0, common.clone()));
        let rare = &vocabulary.invented[1_000 + rng.below(2_600) as usize];
        searches.push((1, rare.clone()));
        let other = &vocabulary.words[language][20 + rng.below(400) as usize];
        searches.push((2, format!("{common} {other}")));
        let word = vocabulary.words[language][rng.below(150) as usize].clone();
        let prefix: String = word.chars().take(3).collect();
        searches.push((3, prefix));
    }
    let mut hits = 0usize;
    let search_timings = timed(&searches, |(_, typed)| {
        hits += query::search(connection, typed, 50).unwrap().len();
    });
    let by_category: Vec<Vec<Duration>> = (0..4)
        .map(|category| {
            sorted(
                searches
                    .iter()
                    .zip(&search_timings)
                    .filter(|((c, _), _)| *c == category)
                    .map(|(_, t)| *t)
                    .collect(),
            )
        })
        .collect();
    let all_search = sorted(search_timings);

    // 3. The inbox's first page.
    let filters = [
        ("inbox, first page of 50", InboxFilter::default()),
        (
            "inbox, first page, mine",
            InboxFilter {
                mine: true,
                ..InboxFilter::default()
            },
        ),
        (
            "inbox, first page, escalated",
            InboxFilter {
                escalated: true,
                ..InboxFilter::default()
            },
        ),
    ];
    let repeats: Vec<usize> = (0..SAMPLES).collect();
    let mut inbox_timings = Vec::new();
    for (name, filter) in &filters {
        let mut rows = 0;
        let timings = sorted(timed(&repeats, |_| {
            rows = query::inbox(connection, filter, ME, None, 50, now)
                .unwrap()
                .len();
        }));
        inbox_timings.push((*name, timings, rows));
    }

    // 4. A long conversation's newest 50 messages.
    let long: Vec<u32> = (0..plan.lengths.len() as u32)
        .filter(|&c| plan.lengths[c as usize] >= 100)
        .collect();
    let chosen: Vec<String> = (0..SAMPLES)
        .map(|_| ids.conversations[*rng.pick(&long) as usize].clone())
        .collect();
    let messages_timings = sorted(timed(&chosen, |conversation| {
        let page = query::messages(connection, conversation, None, 50).unwrap();
        assert_eq!(page.len(), 50);
    }));
    // The same again, moments later: their pages are in memory now (the connection's cache
    // or the OS's), so this is the query's cost without reading the disk.
    let messages_again = sorted(timed(&chosen, |conversation| {
        query::messages(connection, conversation, None, 50).unwrap();
    }));

    cache.checkpoint().unwrap();
    let size = file_size(&cache_path);
    let raw_size = file_size(&raw_path);

    println!();
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    println!(
        "| applying the backlog (`apply_batch`, {batch} per batch) | {apply_rate:.0} events/s = \
         {apply_message_rate:.0} messages/s ({events} events in {:.1} s) | ≥ 50,000 events/s |",
        applying.as_secs_f64()
    );
    println!(
        "| raw `INSERT` + same FTS5 index, {batch} per transaction | {raw_rate:.0} rows/s \
         ({} rows in {:.1} s); apply: {:.0} % of it in messages/s, {:.0} % in events/s | |",
        texts.len(),
        raw_elapsed.as_secs_f64(),
        100.0 * apply_message_rate / raw_rate,
        100.0 * apply_rate / raw_rate,
    );
    latency_row(
        &format!("search, 50 newest ({} queries)", searches.len()),
        &all_search,
        "p95 < 20 ms",
    );
    for (category, name) in ["common word", "rare word", "two words", "3-letter prefix"]
        .iter()
        .enumerate()
    {
        latency_row(
            &format!("  of which {name} ({})", by_category[category].len()),
            &by_category[category],
            "",
        );
    }
    for (name, timings, rows) in &inbox_timings {
        let target = if *name == "inbox, first page of 50" {
            "< 5 ms"
        } else {
            ""
        };
        latency_row(&format!("{name} ({rows} rows)"), timings, target);
    }
    latency_row(
        &format!(
            "a conversation's newest 50 ({} conversations of ≥ 100 messages)",
            chosen.len()
        ),
        &messages_timings,
        "< 2 ms",
    );
    latency_row(
        "  the same 200 again, their pages now in memory",
        &messages_again,
        "",
    );
    println!(
        "| cache file (after a checkpoint) | {:.0} MB (raw baseline file {:.0} MB) | |",
        size as f64 / 1e6,
        raw_size as f64 / 1e6
    );
    println!("(search returned {hits} hits in all)");
}
