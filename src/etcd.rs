//! The etcd watch: read the key (or prefix), publish, watch from the read revision + 1, and
//! on any trouble start over with a fresh read (`retry`), so that no update is ever missed.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use etcd_client::{Client, GetOptions, KvClient, WatchOptions, WatchStream};
use tokio::time::timeout;

use crate::chunk_reader::{ChunkReader, ReadError, Version};
use crate::chunked;
use crate::dataset::{Piece, Value, ValueChange};
use crate::etcd_error::{explain, with_tls_verdict};
use crate::retry::{QuietLog, Retry};
use crate::snapshot;
use crate::state::State;

// The paths dnsctl uses.
pub use crate::client::{connect_options, MAX_RESPONSE_BYTES};

/// The hosts data of a key or prefix: each key's mod revision, and its value only while a
/// snapshot file needs it (the table keeps no text).
type Fragments = BTreeMap<Vec<u8>, (i64, Vec<u8>)>;

/// New values of keys (None: deleted), in key order.
type Changes = BTreeMap<Vec<u8>, Option<NewValue>>;

/// A key's new value: a hosts text, or a version of the chunked layout, read.
enum NewValue {
    Text(Vec<u8>),
    Chunked(Version),
}

/// Runs until the engine is dropped (the task is aborted). `first_read`, if given, is told
/// once, when the first read from etcd succeeded or failed.
pub(crate) async fn run(state: Arc<State>, mut first_read: Option<mpsc::Sender<()>>) {
    let config = &state.config;
    let mut retry = Retry::new(&config.endpoints);
    let mut quiet = QuietLog::default();
    let mut reader = Some(ChunkReader::new(config.snapshot.is_some()));
    loop {
        let url = retry.endpoint().to_string();
        let mut session = Session {
            state: &state,
            reader: &mut reader,
            read_done: false,
        };
        let result = session.run(&url, &mut first_read).await;
        state.set_watch_connected(false);
        if result.is_err() {
            // Counted before the first-read signal, so stats right after start include it.
            state.count_error();
        }
        if let Some(tx) = first_read.take() {
            let _ = tx.send(());
        }
        if session.read_done {
            retry.succeeded();
            quiet.recovered("etcd reachable again");
        }
        let Err(e) = result else {
            // A planned re-read (force_reload): start over at once, same endpoint.
            continue;
        };
        let e = with_tls_verdict(config, &url, e).await;
        quiet.warn(&format!("etcd {url}: {e}; retrying"));
        let wait = retry.failed();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

struct Session<'a> {
    state: &'a Arc<State>,
    /// What the chunked layout's last version left to reuse (lent to each publish).
    reader: &'a mut Option<ChunkReader>,
    /// Set once this session read the key successfully (resets the backoff).
    read_done: bool,
}

impl Session<'_> {
    async fn run(
        &mut self,
        url: &str,
        first_read: &mut Option<mpsc::Sender<()>>,
    ) -> Result<(), String> {
        let config = &self.state.config;
        let limit = config.timeout();
        let client = timeout(
            limit,
            Client::connect([url], Some(connect_options(config)?)),
        )
        .await
        .map_err(|_| format!("no connection within {limit:?}"))?
        .map_err(|e| explain(config, e))?;

        let mut kv = client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        let get_options = config.is_prefix().then(|| GetOptions::new().with_prefix());
        let mut response = timeout(limit, kv.get(config.key.as_str(), get_options))
            .await
            .map_err(|_| format!("read of {} timed out after {limit:?}", config.key))?
            .map_err(|e| explain(config, e))?;
        let read_revision = response.header().map_or(0, |h| h.revision());
        // Move the values out (no copy), and let the response go before the long watch:
        // a 1M-line file would otherwise stay in memory twice.
        let mut fragments = Fragments::new();
        let mut values = Vec::new();
        for kv in response.take_kvs() {
            let revision = kv.mod_revision();
            let (key, value) = kv.into_key_value();
            fragments.insert(key.clone(), (revision, Vec::new()));
            values.push((key, Some(value), revision));
        }
        drop(response);
        let changes = self.resolve(&kv, values).await?;
        let mut fragments = self.publish(fragments, changes, true, read_revision).await;
        self.read_done = true;
        if let Some(tx) = first_read.take() {
            let _ = tx.send(());
        }

        let mut stream = Some(self.watch(&client, read_revision + 1).await?);
        self.state.set_watch_connected(true);
        // Where a watch opened again (see below) starts.
        let mut next_revision = 0;

        let force_reload =
            (config.force_reload_ms > 0).then(|| Duration::from_millis(config.force_reload_ms));
        loop {
            if stream.is_none() {
                stream = Some(self.watch(&client, next_revision).await?);
            }
            let watch = stream.as_mut().expect("opened above");
            let message = match force_reload {
                Some(period) => match timeout(period, watch.message()).await {
                    Ok(m) => m,
                    Err(_) => return Ok(()),
                },
                None => watch.message().await,
            };
            let mut response = match message {
                Ok(Some(r)) => r,
                Ok(None) => return Err("watch stream closed".into()),
                Err(e) => return Err(format!("watch failed: {}", explain(config, e))),
            };
            if response.canceled() || response.compact_revision() > 0 {
                // Compaction, an expired auth token, leader loss: re-read, then re-watch.
                return Err(format!(
                    "watch canceled (reason {:?}, compact revision {})",
                    response.cancel_reason(),
                    response.compact_revision()
                ));
            }
            if response.events().is_empty() {
                continue; // the "created" notice or a progress notification
            }
            let mut revision = response.header().map_or(0, |h| h.revision());
            // The values are moved out of the response, not copied: a 60 MB value would
            // otherwise be held twice while the table is changed.
            let events = std::mem::take(&mut response.0.events);
            drop(response);
            let mut values = Vec::new();
            let mut read = 0;
            let mut last_event = 0;
            for event in events {
                let Some(kv) = event.kv else { continue };
                revision = revision.max(kv.mod_revision);
                last_event = last_event.max(kv.mod_revision);
                read += kv.value.len();
                // mvccpb.Event.EventType: 0 is PUT, 1 is DELETE.
                let value = (event.r#type == 0).then_some(kv.value);
                values.push((kv.key, value, kv.mod_revision));
            }
            for (key, value, revision) in &values {
                match value {
                    Some(_) => fragments.insert(key.clone(), (*revision, Vec::new())),
                    None => fragments.remove(key),
                };
            }
            if read >= BIG_READ_BYTES {
                // The stream keeps a receive buffer as large as its largest message (60 MB
                // for a 1M-line value) for as long as it lives: it goes now, before the
                // publish, and a new one opens after it, from the next revision.
                stream = None;
                next_revision = last_event + 1;
            }
            // A version that cannot be read whole is not served: the session ends, the
            // last good table stays, and the next session retries after a backoff.
            let changes = self.resolve(&kv, values).await?;
            fragments = self.publish(fragments, changes, false, revision).await;
        }
    }

    /// A watch of the key from `start_revision`.
    async fn watch(&self, client: &Client, start_revision: i64) -> Result<WatchStream, String> {
        let config = &self.state.config;
        let limit = config.timeout();
        let mut watch_options = WatchOptions::new().with_start_revision(start_revision);
        if config.is_prefix() {
            watch_options = watch_options.with_prefix();
        }
        let stream = timeout(
            limit,
            client
                .watch_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES)
                .watch(config.key.as_str(), Some(watch_options)),
        )
        .await
        .map_err(|_| format!("watch of {} not created within {limit:?}", config.key))?
        .map_err(|e| explain(config, e))?;
        Ok(stream)
    }

    /// Turns new values into changes: a manifest of the chunked layout is read into the
    /// version it names (the chunks the table lacks, at the value's revision).
    async fn resolve(
        &mut self,
        kv: &KvClient,
        values: Vec<(Vec<u8>, Option<Vec<u8>>, i64)>,
    ) -> Result<Changes, String> {
        let mut changes = Changes::new();
        for (key, value, revision) in values {
            let value = match value {
                Some(v) if !self.state.config.is_prefix() && chunked::is_manifest(&v) => {
                    let reader = self
                        .reader
                        .as_ref()
                        .expect("the reader is back from publish");
                    let version = match reader.read(kv, self.state, &v, revision).await {
                        Ok(version) => version,
                        Err(ReadError::BadVersion(e)) => {
                            self.state.count_bad_version();
                            return Err(format!("not serving the new version: {e}"));
                        }
                        Err(ReadError::Etcd(e)) => return Err(e),
                    };
                    Some(NewValue::Chunked(version))
                }
                other => other.map(NewValue::Text),
            };
            changes.insert(key, value);
        }
        Ok(changes)
    }

    /// Publishes the changes on a blocking thread and hands the fragments back: a first
    /// read of 1M lines takes a second, which must not stall the runtime's one worker
    /// (other instances, the status writer's keepalives).
    async fn publish(
        &mut self,
        fragments: Fragments,
        changes: Changes,
        complete: bool,
        read_revision: i64,
    ) -> Fragments {
        let state = self.state.clone();
        let reader = self.reader.take();
        let built = tokio::task::spawn_blocking(move || {
            publish(&state, fragments, changes, reader, complete, read_revision)
        })
        .await;
        match built {
            Ok((fragments, reader)) => {
                *self.reader = Some(reader);
                fragments
            }
            // The supervisor (`engine`) restarts the task.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// Texts read in one change from this size on are followed by a trim of malloc's free
/// pages (about 30 ms with a 1M-line table, on the blocking thread, after the publish).
const BIG_READ_BYTES: usize = 8 << 20;

/// Publishes the changes and writes the snapshot. The revision served is the newest mod
/// revision of the data, so every server holding the same data reports the same revision;
/// an empty key falls back to the read's revision.
///
/// The values are dropped once published, unless a snapshot file is written: it needs the
/// whole text on every change.
fn publish(
    state: &State,
    mut fragments: Fragments,
    changes: Changes,
    reader: Option<ChunkReader>,
    complete: bool,
    read_revision: i64,
) -> (Fragments, ChunkReader) {
    #[cfg(test)]
    tests::maybe_panic(&state.config.key);
    let config = &state.config;
    let mut reader = reader.unwrap_or_else(|| ChunkReader::new(config.snapshot.is_some()));
    let revision = fragments
        .values()
        .map(|(rev, _)| *rev)
        .max()
        .unwrap_or(read_revision);
    if fragments.is_empty() {
        tracing::info!("etcd key {} is missing or empty", config.key);
    }
    // Reading a big text leaves garbage of its size in malloc's arenas (the cut, the line
    // hashes), even when the table changed little.
    let read_much = changes
        .values()
        .map(|value| match value {
            Some(NewValue::Text(text)) => text.len(),
            _ => 0,
        })
        .sum::<usize>()
        >= BIG_READ_BYTES;
    // A version's pieces borrow its texts; they live here while the values borrow them.
    let pieces: Vec<Vec<Piece<'_>>> = changes
        .values()
        .map(|value| match value {
            Some(NewValue::Chunked(version)) => version.pieces(),
            _ => Vec::new(),
        })
        .collect();
    let values: Vec<ValueChange<'_>> = changes
        .iter()
        .zip(&pieces)
        .map(|((key, value), pieces)| {
            let value = value.as_ref().map(|value| match value {
                NewValue::Text(text) => Value::Text(text),
                NewValue::Chunked(_) => Value::Pieces(pieces),
            });
            (key.as_slice(), value)
        })
        .collect();
    let replaced_much = state.publish_values(
        &values,
        complete,
        revision,
        &format!("etcd key {}", config.key),
    );
    drop(values);
    drop(pieces);
    for (key, value) in changes {
        let text = match value {
            Some(NewValue::Text(text)) => text,
            Some(NewValue::Chunked(version)) => reader.served(version).unwrap_or_default(),
            None => continue,
        };
        if let (Some((_, kept)), true) = (fragments.get_mut(&key), config.snapshot.is_some()) {
            *kept = text;
        }
    }
    if let Some(path) = &config.snapshot {
        let values: Vec<&[u8]> = fragments.values().map(|(_, v)| v.as_slice()).collect();
        if let Err(e) = snapshot::write(path, revision, &values) {
            tracing::warn!("cannot write snapshot: {e}");
        }
    }
    // The texts read (thousands of chunks on a first read) are freed by now.
    if replaced_much || read_much {
        crate::state::release_free_memory();
    }
    (fragments, reader)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    /// While it names a hosts key, the watch of that key panics on every publish: the
    /// fault the supervision tests inject.
    pub(crate) static PANIC_KEY: Mutex<Option<String>> = Mutex::new(None);

    pub(super) fn maybe_panic(key: &str) {
        let armed = PANIC_KEY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            == Some(key);
        if armed {
            panic!("injected panic in the watch of {key}");
        }
    }
}
