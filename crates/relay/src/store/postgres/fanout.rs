//! Live fan-out across nodes: every node publishes every tenant's committed entries to its
//! hub once and in sequence order, whichever node committed them.
//!
//! One task owns what has been published (the last sequence per tenant) and takes three
//! kinds of news, in the order they arrive: entries this node committed, notifications
//! (`ventana_log`, sent by the appending transaction of any node and delivered at commit),
//! and a periodic re-check of every tenant's head. Whatever it learns, it publishes only
//! entries above what it published last, reading any it has not seen from the log, so a
//! notification that arrives before (or instead of) the local hand-over, or one lost while
//! the listening connection was down, still ends in one ordered publication.

use super::*;
use futures_util::StreamExt as _;
use tokio::sync::mpsc as channel;

/// The most entries published for one piece of news; a subscriber further behind than that
/// finds the gap and reads the log itself (`stream.rs`).
const CATCH_UP: i64 = 4096;

/// The notification's payload: `<tenant> <first seq> <last seq>`.
pub(super) fn payload(tenant: &str, first: i64, last: i64) -> String {
    format!("{tenant} {first} {last}")
}

fn parse(payload: &str) -> Option<(TenantId, i64, i64)> {
    let mut parts = payload.split(' ');
    let tenant = parts.next()?;
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    Some((TenantId::new(tenant), first, last))
}

#[derive(Debug)]
enum News {
    Committed(Vec<LogEntry>),
    Notified {
        tenant: TenantId,
        first: i64,
        last: i64,
    },
    Recheck,
}

/// The handle the store keeps: hands this node's commits to the fan-out task.
#[derive(Debug, Clone)]
pub(super) struct Fanout {
    news: channel::UnboundedSender<News>,
}

impl Fanout {
    /// Reads every tenant's head (nothing before it is published: subscribers read the
    /// log), starts listening, and starts the task that publishes to `listener`.
    pub(super) async fn start(
        pool: Pool,
        config: tokio_postgres::Config,
        tls: tokio_postgres_rustls::MakeRustlsConnect,
        listener: CommitListener,
        recheck: Duration,
    ) -> Result<Self, StoreError> {
        let (news, inbox) = channel::unbounded_channel();
        // Listen before reading the heads: a commit between the two is then heard, and
        // skipped if the heads already include it.
        let listening = listen(&config, &tls, news.clone()).await?;
        let published = heads(&pool).await?;
        tokio::spawn(keep_listening(config, tls, news.clone(), listening));
        tokio::spawn(recheck_every(recheck, news.clone()));
        tokio::spawn(publish(pool, listener, inbox, published));
        Ok(Self { news })
    }

    pub(super) fn committed(&self, entries: Vec<LogEntry>) {
        let _ = self.news.send(News::Committed(entries));
    }
}

async fn heads(pool: &Pool) -> Result<HashMap<TenantId, i64>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query("SELECT id, last_seq FROM tenants", &[])
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                TenantId::new(row.try_get::<_, String>(0)?),
                row.try_get::<_, i64>(1)?,
            ))
        })
        .collect()
}

/// The listening connection's client (which must live as long as the connection) and a
/// receiver that resolves when the connection has dropped.
type Listening = (tokio_postgres::Client, tokio::sync::oneshot::Receiver<()>);

/// Opens the listening connection and subscribes; its task forwards notifications.
async fn listen(
    config: &tokio_postgres::Config,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
    news: channel::UnboundedSender<News>,
) -> Result<Listening, StoreError> {
    let (client, mut connection) = config.connect(tls.clone()).await.map_err(unavailable)?;
    let (closed, dropped) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(note)) => {
                    if let Some((tenant, first, last)) = parse(note.payload()) {
                        let _ = news.send(News::Notified {
                            tenant,
                            first,
                            last,
                        });
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the log's listening connection failed");
                    break;
                }
            }
        }
        let _ = closed.send(());
    });
    client.batch_execute("LISTEN ventana_log").await?;
    Ok((client, dropped))
}

/// Re-opens the listening connection whenever it drops, and asks for a re-check then (a
/// notification sent meanwhile was lost).
async fn keep_listening(
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    news: channel::UnboundedSender<News>,
    mut listening: Listening,
) {
    loop {
        let _ = (&mut listening.1).await;
        if news.is_closed() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match listen(&config, &tls, news.clone()).await {
                Ok(next) => {
                    listening = next;
                    let _ = news.send(News::Recheck);
                    break;
                }
                Err(error) => tracing::warn!(%error, "cannot listen for the log's commits yet"),
            }
        }
    }
}

async fn recheck_every(every: Duration, news: channel::UnboundedSender<News>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if news.send(News::Recheck).is_err() {
            return;
        }
    }
}

/// The task that owns `published` and calls the listener.
async fn publish(
    pool: Pool,
    listener: CommitListener,
    mut inbox: channel::UnboundedReceiver<News>,
    mut published: HashMap<TenantId, i64>,
) {
    while let Some(news) = inbox.recv().await {
        let result = match news {
            News::Committed(entries) => committed(&pool, &listener, &mut published, entries).await,
            News::Notified {
                tenant,
                first,
                last,
            } => {
                // A tenant created since this node started has published nothing yet.
                let done = *published.entry(tenant.clone()).or_insert(first - 1);
                if last > done {
                    catch_up(&pool, &listener, &mut published, &tenant, last).await
                } else {
                    Ok(())
                }
            }
            News::Recheck => match heads(&pool).await {
                Ok(heads) => {
                    let mut result = Ok(());
                    for (tenant, head) in heads {
                        let done = *published.entry(tenant.clone()).or_insert(0);
                        if head > done {
                            result =
                                catch_up(&pool, &listener, &mut published, &tenant, head).await;
                        }
                    }
                    result
                }
                Err(error) => Err(error),
            },
        };
        if let Err(error) = result {
            tracing::warn!(%error, "cannot publish the log's new entries yet");
        }
    }
}

/// Publishes this node's own commit: directly when it follows what was published, after
/// reading the gap when something came between, not at all when a notification was first.
async fn committed(
    pool: &Pool,
    listener: &CommitListener,
    published: &mut HashMap<TenantId, i64>,
    entries: Vec<LogEntry>,
) -> Result<(), StoreError> {
    let mut by_tenant: Vec<(TenantId, Vec<LogEntry>)> = Vec::new();
    for entry in entries {
        match by_tenant
            .iter_mut()
            .find(|(tenant, _)| *tenant == entry.event.tenant)
        {
            Some((_, group)) => group.push(entry),
            None => by_tenant.push((entry.event.tenant.clone(), vec![entry])),
        }
    }
    for (tenant, group) in by_tenant {
        let first = signed(group.first().map(|e| e.seq).unwrap_or(0));
        let last = signed(group.last().map(|e| e.seq).unwrap_or(0));
        let done = *published.entry(tenant.clone()).or_insert(first - 1);
        if first > done + 1 {
            catch_up(pool, listener, published, &tenant, first - 1).await?;
        }
        let done = published.get(&tenant).copied().unwrap_or(0);
        let fresh: Vec<LogEntry> = group
            .into_iter()
            .filter(|entry| signed(entry.seq) > done)
            .collect();
        if !fresh.is_empty() {
            listener(&fresh);
            published.insert(tenant, last.max(done));
        }
    }
    Ok(())
}

/// Publishes `tenant`'s entries after what was published, up to `head`, from the log.
async fn catch_up(
    pool: &Pool,
    listener: &CommitListener,
    published: &mut HashMap<TenantId, i64>,
    tenant: &TenantId,
    head: i64,
) -> Result<(), StoreError> {
    let mut done = published.get(tenant).copied().unwrap_or(0);
    if head - done > CATCH_UP {
        // Too far behind to be worth it live: subscribers see the gap and read the log.
        published.insert(tenant.clone(), head);
        return Ok(());
    }
    let client = pool.get().await?;
    while done < head {
        let page = read_log_in(&client, tenant.clone(), done, (head - done).min(512)).await?;
        let Some(last) = page.last().map(|e| signed(e.seq)) else {
            break;
        };
        listener(&page);
        done = last;
        published.insert(tenant.clone(), done);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_round_trips_and_bad_ones_are_ignored() {
        let (tenant, first, last) =
            parse(&payload("t-1", 4, 9)).unwrap_or_else(|| (TenantId::new("none"), 0, 0));
        assert_eq!((tenant.as_str(), first, last), ("t-1", 4, 9));
        assert!(parse("t-1 four 9").is_none());
        assert!(parse("t-1").is_none());
    }
}
