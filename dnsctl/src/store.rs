//! dnsctl's view of etcd: read the key (or prefix) now or at a past revision, commit a
//! change as one compare-and-swap transaction, and find the revisions where it changed.
//!
//! Every call is bounded by the config's timeout. The connection is made the way the
//! plugin makes it (`etcdhosts::etcd::connect_options`: TLS, auth, keepalive). A store is
//! shared: the console's requests use one concurrently.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_client::{Client, Compare, CompareOp, GetOptions, KvClient, Txn, TxnOp, TxnResponse};
use etcdhosts::chunked::{self, Digest, Manifest};
use etcdhosts::etcd_error::{
    describe, explain, explain_auth_failure, is_auth_failure, is_permission_denied,
    is_response_too_large, is_unreachable,
};
use etcdhosts::Config;
use serde::{Deserialize, Serialize};
use tokio::time::timeout;

use crate::chunks;
use crate::error::{Code, Failure, Result};

/// What a command works on: the configured key, a prefix (merged view), or one fragment.
#[derive(Debug, Clone)]
pub struct Target {
    pub key: String,
    /// Read and write every key under `key` (a key ending in `/`).
    pub prefix: bool,
}

impl Target {
    pub fn describe(&self) -> String {
        if self.prefix {
            format!("prefix {}", self.key)
        } else {
            self.key.clone()
        }
    }
}

/// One key as read from etcd.
#[derive(Debug, Clone)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub mod_revision: i64,
    pub create_revision: i64,
    pub version: i64,
}

impl Kv {
    pub fn key_lossy(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }
}

/// The target's keys at one revision, in key order (etcd returns ranges sorted by key).
/// A chunked key's one Kv holds the whole hosts text, put back together from its chunks.
#[derive(Debug, Clone)]
pub struct State {
    /// The revision this state was read at (the store's current revision for a plain read).
    pub at: i64,
    pub kvs: Vec<Kv>,
    pub layout: Layout,
}

/// How a plain key's text is stored (see `etcdhosts::chunked`): writes keep the layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Layout {
    /// The key's value is the text (also: a prefix, a fragment, or no key at all).
    #[default]
    Plain,
    /// The key's value is a manifest; `blobs` holds every index and chunk digest it
    /// references, so a write puts only the blobs it does not; `chunks` counts the chunks.
    Chunked {
        manifest: Manifest,
        blobs: HashSet<Digest>,
        chunks: usize,
    },
}

impl Layout {
    pub fn is_chunked(&self) -> bool {
        matches!(self, Layout::Chunked { .. })
    }
}

impl State {
    pub fn exists(&self) -> bool {
        !self.kvs.is_empty()
    }

    /// The newest mod revision among the keys (0 if there are none).
    pub fn newest_mod_revision(&self) -> i64 {
        self.kvs.iter().map(|kv| kv.mod_revision).max().unwrap_or(0)
    }
}

/// One change to make in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

pub enum Commit {
    /// Written at this revision.
    Done(i64),
    /// A compared mod revision no longer matches: someone else wrote first.
    Conflict,
}

/// Who wrote a revision and when: etcd keeps no timestamps, so dnsctl stores this next to
/// the key (`KEY.dnsctl`, outside a prefix), in the same transaction as the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub time: String,
    pub unix: u64,
    pub user: String,
    pub host: String,
    pub command: String,
}

impl Meta {
    pub fn now(command: &str, author: Option<String>) -> Meta {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Meta {
            time: rfc3339(unix),
            unix,
            user: author.unwrap_or_else(user_name),
            host: etcdhosts::identity::hostname(),
            command: command.to_string(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} by {}@{} (dnsctl {})",
            self.time, self.user, self.host, self.command
        )
    }
}

pub struct Store {
    client: Client,
    pub config: Config,
    meta_key: String,
    limit: Duration,
    /// When the last request succeeded.
    last_call: Mutex<Instant>,
}

/// The endpoint that answered a probe, or why it did not.
enum Probe {
    Ok(Box<Client>),
    Timeout,
    Failed(String),
}

impl Store {
    /// Connects to every endpoint at once and keeps the first one that answers a read of
    /// the key: a dead member costs nothing while another answers, and an unreachable
    /// cluster is reported after one timeout.
    pub async fn connect(config: Config) -> Result<Store> {
        let limit = config.timeout();
        let options = etcdhosts::etcd::connect_options(&config)
            .map_err(|e| Failure::new(Code::Config, e))?
            .with_timeout(limit);
        let mut set = tokio::task::JoinSet::new();
        for endpoint in &config.endpoints {
            let (endpoint, options, key) = (endpoint.clone(), options.clone(), config.key.clone());
            set.spawn(async move {
                let probe = async {
                    let client = Client::connect([endpoint.as_str()], Some(options)).await?;
                    client
                        .kv_client()
                        .get(key, Some(GetOptions::new().with_count_only()))
                        .await?;
                    Ok::<_, etcd_client::Error>(client)
                };
                let outcome = match timeout(limit, probe).await {
                    Ok(Ok(client)) => Probe::Ok(Box::new(client)),
                    Ok(Err(e)) => Probe::Failed(describe(&e)),
                    Err(_) => Probe::Timeout,
                };
                (endpoint, outcome)
            });
        }
        let mut failures = Vec::new();
        while let Some(joined) = set.join_next().await {
            let Ok((endpoint, probe)) = joined else {
                continue;
            };
            match probe {
                Probe::Ok(client) => {
                    // The other probes are dropped with the set.
                    return Ok(Store {
                        client: *client,
                        meta_key: meta_key(&config.key),
                        config,
                        limit,
                        last_call: Mutex::new(Instant::now()),
                    });
                }
                // tonic's own connect timeout: the same as ours.
                Probe::Failed(text) if text.contains("Timeout expired") => {
                    failures.push((endpoint, None))
                }
                Probe::Failed(text) => failures.push((endpoint, Some(text))),
                Probe::Timeout => failures.push((endpoint, None)),
            }
        }
        Err(connect_failure(&config, failures, limit).await)
    }

    /// Runs one request within the timeout. A read (`idempotent`) that finds the
    /// connection gone (etcd restarted while an editor was open, say) is sent once more
    /// on a fresh connection.
    pub(crate) async fn call<T, F: Future<Output = Result<T, etcd_client::Error>>>(
        &self,
        what: &str,
        idempotent: bool,
        make: impl Fn() -> F,
    ) -> Result<T> {
        let mut retried = false;
        loop {
            match timeout(self.limit, make()).await {
                Ok(Ok(v)) => {
                    *self.last_call.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                    return Ok(v);
                }
                Ok(Err(e)) if idempotent && !retried && is_unreachable(&e) => retried = true,
                Ok(Err(e)) => return Err(self.failure(e, what)),
                Err(_) => {
                    return Err(Failure::new(
                        Code::Error,
                        format!(
                            "etcd did not answer within {} ({what})",
                            human_duration(self.limit)
                        ),
                    ))
                }
            }
        }
    }

    /// A KV client that accepts responses as large as the plugin does.
    pub(crate) fn kv(&self) -> KvClient {
        self.client
            .kv_client()
            .max_decoding_message_size(etcdhosts::etcd::MAX_RESPONSE_BYTES)
    }

    /// Whether writes to `target` may use the chunked layout: plain keys only, not a
    /// fragment (its blobs would land under the prefix, among the fragments).
    pub fn chunkable(&self, target: &Target) -> bool {
        !target.prefix && !self.config.key.ends_with('/')
    }

    /// Reads the target now (`None`) or at a past revision.
    pub async fn read(&self, target: &Target, rev: Option<i64>) -> Result<State> {
        match self.try_read(target, rev).await? {
            Some(state) => Ok(state),
            None => Err(Failure::new(
                Code::NotFound,
                format!(
                    "revision {} of {} is no longer held by etcd (compacted); `dnsctl history` \
                     shows how far back it goes",
                    rev.unwrap_or(0),
                    target.key
                ),
            )),
        }
    }

    /// Like [`read`], but `None` when the revision was compacted away.
    pub async fn try_read(&self, target: &Target, rev: Option<i64>) -> Result<Option<State>> {
        let mut options = GetOptions::new();
        if target.prefix {
            options = options.with_prefix();
        }
        if let Some(rev) = rev {
            options = options.with_revision(rev);
        }
        let what = format!("reading {}", target.key);
        let response = match self
            .call(&what, true, || {
                let mut kv = self.kv();
                let options = options.clone();
                async move { kv.get(target.key.as_str(), Some(options)).await }
            })
            .await
        {
            Ok(r) => r,
            // A chunked key's versions outlive etcd's compaction.
            Err(f) if f.message.contains("has been compacted") && self.chunkable(target) => {
                return chunks::read_version(self, &target.key, rev.unwrap_or(0)).await
            }
            Err(f) if f.message.contains("has been compacted") => return Ok(None),
            Err(f) if f.message.contains("future revision") => {
                return Err(Failure::new(
                    Code::NotFound,
                    format!(
                        "revision {} is in the future: etcd is at revision {}",
                        rev.unwrap_or(0),
                        self.current_revision().await.unwrap_or(0)
                    ),
                ))
            }
            Err(f) => return Err(f),
        };
        let header = response.header().map_or(0, |h| h.revision());
        let mut kvs: Vec<Kv> = response
            .kvs()
            .iter()
            .map(|kv| Kv {
                key: kv.key().to_vec(),
                value: kv.value().to_vec(),
                mod_revision: kv.mod_revision(),
                create_revision: kv.create_revision(),
                version: kv.version(),
            })
            .collect();
        let mut layout = Layout::Plain;
        if let Some(head) = kvs.first_mut().filter(|_| self.chunkable(target)) {
            if chunked::is_manifest(&head.value) {
                let (text, chunked) =
                    chunks::materialize_head(self, &target.key, &head.value, head.mod_revision)
                        .await?;
                head.value = text;
                layout = chunked;
            }
        }
        Ok(Some(State {
            at: rev.unwrap_or(header),
            kvs,
            layout,
        }))
    }

    pub async fn current_revision(&self) -> Result<i64> {
        let r = self
            .call("reading the current revision", true, || {
                let mut kv = self.client.kv_client();
                async move {
                    kv.get(
                        self.config.key.as_str(),
                        Some(GetOptions::new().with_count_only()),
                    )
                    .await
                }
            })
            .await?;
        Ok(r.header().map_or(0, |h| h.revision()))
    }

    /// How many keys the target had at `rev`; `None` if compacted.
    async fn count_at(&self, target: &Target, rev: i64) -> Result<Option<i64>> {
        let mut options = GetOptions::new().with_count_only().with_revision(rev);
        if target.prefix {
            options = options.with_prefix();
        }
        let counted = self
            .call("counting keys", true, || {
                let mut kv = self.client.kv_client();
                let options = options.clone();
                async move { kv.get(target.key.as_str(), Some(options)).await }
            })
            .await;
        match counted {
            Ok(r) => Ok(Some(r.count())),
            Err(f) if f.message.contains("has been compacted") => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// The revision at which the target last changed, as of `state`: the newest mod
    /// revision of its keys, or later if a fragment was deleted since. Between that mod
    /// revision and `state.at` keys can only have been deleted (a put would be newer), so
    /// the key count only falls there and a binary search finds the deletion.
    /// `None` when the target has no keys at all (its history cannot be followed).
    pub async fn change_point(&self, target: &Target, state: &State) -> Result<Option<i64>> {
        let newest = state.newest_mod_revision();
        if newest == 0 {
            return Ok(None);
        }
        if !target.prefix || newest == state.at {
            return Ok(Some(newest));
        }
        let now = state.kvs.len() as i64;
        if self.count_at(target, newest).await? == Some(now) {
            return Ok(Some(newest));
        }
        let (mut more, mut same) = (newest, state.at);
        while same - more > 1 {
            let mid = more + (same - more) / 2;
            match self.count_at(target, mid).await? {
                Some(n) if n == now => same = mid,
                _ => more = mid,
            }
        }
        Ok(Some(same))
    }

    /// dnsctl's record of who wrote revision `rev`, if dnsctl wrote it.
    pub async fn meta_at(&self, rev: i64) -> Result<Option<Meta>> {
        let read = self
            .call("reading metadata", true, || {
                let mut kv = self.client.kv_client();
                let options = GetOptions::new().with_revision(rev);
                async move { kv.get(self.meta_key.as_str(), Some(options)).await }
            })
            .await;
        let r = match read {
            Ok(r) => r,
            // Metadata is a nicety: never fail a command over it.
            Err(_) => return Ok(None),
        };
        Ok(r.kvs()
            .first()
            .filter(|kv| kv.mod_revision() == rev)
            .and_then(|kv| serde_json::from_slice(kv.value()).ok()))
    }

    /// Applies `ops` if and only if the target is still as in `base` (a current read):
    /// every key's mod revision is unchanged and, for a prefix, no key was added. The
    /// history names `author` (the console's logged-in user), else `$USER`.
    /// A plain key stays chunked once it is, and becomes chunked when its text would not
    /// fit etcd's default request limit with room to spare.
    pub async fn commit(
        &self,
        target: &Target,
        base: &State,
        ops: &[Op],
        command: &str,
        author: Option<&str>,
    ) -> Result<Commit> {
        let chunked = self.chunkable(target)
            && match ops {
                [Op::Put(key, text)] if *key == target.key.as_bytes() => {
                    base.layout.is_chunked() || text.len() > chunks::PLAIN_MAX_BYTES
                }
                _ => false,
            };
        self.commit_as(target, base, ops, command, author, chunked)
            .await
    }

    /// [`commit`] in the layout asked for: with `chunked`, a plain key's one put is written
    /// as blobs (those `base` lacks, put first) and then, in the guarded transaction, the
    /// manifest and a version record.
    pub async fn commit_as(
        &self,
        target: &Target,
        base: &State,
        ops: &[Op],
        command: &str,
        author: Option<&str>,
        chunked: bool,
    ) -> Result<Commit> {
        let mut compares = Vec::new();
        if target.prefix {
            for kv in &base.kvs {
                compares.push(Compare::mod_revision(
                    kv.key.clone(),
                    CompareOp::Equal,
                    kv.mod_revision,
                ));
            }
            compares.push(
                Compare::mod_revision(target.key.as_str(), CompareOp::Less, base.at + 1)
                    .with_prefix(),
            );
        } else {
            compares.push(Compare::mod_revision(
                target.key.as_str(),
                CompareOp::Equal,
                base.kvs.first().map_or(0, |kv| kv.mod_revision),
            ));
        }
        let meta = Meta::now(command, author.map(str::to_string));
        let txn_ops: Vec<TxnOp> = match ops {
            [Op::Put(_, text)] if chunked => {
                chunks::prepare(self, &target.key, base, text, &meta).await?
            }
            _ => ops
                .iter()
                .map(|op| match op {
                    Op::Put(k, v) => TxnOp::put(k.clone(), v.clone(), None),
                    Op::Delete(k) => TxnOp::delete(k.clone(), None),
                })
                .collect(),
        };
        let meta = serde_json::to_vec(&meta).unwrap_or_default();
        let with_meta = {
            let mut all = txn_ops.clone();
            all.push(TxnOp::put(self.meta_key.as_str(), meta, None));
            all
        };
        let bytes: usize = ops
            .iter()
            .map(|op| match op {
                Op::Put(_, v) => v.len(),
                Op::Delete(_) => 0,
            })
            .sum();
        let what = format!("writing {}", target.key);
        // After a pause (an editor, a question) the connection may be gone: find out with
        // a read, which may be retried, rather than with the write, which may not.
        let idle = self
            .last_call
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        if idle > Duration::from_secs(1) {
            self.current_revision().await?;
        }
        let attempt = async || match self.txn(&what, &compares, &with_meta).await {
            // No write access to the metadata key: write the change alone.
            Err(f) if is_permission_denied(&f.message) => {
                self.txn(&what, &compares, &txn_ops).await
            }
            other => other,
        };
        let response = match attempt().await {
            // The connection broke: the write may or may not have reached etcd. Look.
            Err(f) if f.message.starts_with(UNREACHABLE) => {
                let now = self.read(target, None).await?;
                let revisions = |s: &State| -> Vec<(Vec<u8>, i64)> {
                    s.kvs
                        .iter()
                        .map(|kv| (kv.key.clone(), kv.mod_revision))
                        .collect()
                };
                if revisions(&now) == revisions(base) {
                    attempt().await // it did not: the compare still guards the retry
                } else if applied(&now, ops) {
                    return Ok(Commit::Done(now.newest_mod_revision()));
                } else {
                    return Ok(Commit::Conflict);
                }
            }
            other => other,
        };
        let response = response.map_err(|f| {
            if f.message.contains("request is too large") || f.message.contains("larger than max") {
                Failure::new(
                    Code::Error,
                    format!(
                        "the hosts data ({}) is larger than etcd's request size limit \
                         (--max-request-bytes, 1.5 MiB by default); nothing written. {}",
                        human_bytes(bytes),
                        if self.chunkable(target) {
                            "This etcd's limit is below the default: raise --max-request-bytes \
                             on every etcd member (dnsctl stores hosts data over 1 MiB in \
                             chunks, which fit the default)"
                        } else {
                            "Split it into more fragments, or raise --max-request-bytes on \
                             every etcd member"
                        }
                    ),
                )
            } else {
                f
            }
        })?;
        if response.succeeded() {
            Ok(Commit::Done(response.header().map_or(0, |h| h.revision())))
        } else {
            Ok(Commit::Conflict)
        }
    }

    /// One transaction: `ops` if every compare holds. Never retried here (see `commit`).
    async fn txn(&self, what: &str, compares: &[Compare], ops: &[TxnOp]) -> Result<TxnResponse> {
        let txn = Txn::new().when(compares.to_vec()).and_then(ops.to_vec());
        self.call(what, false, || {
            let mut kv = self.client.kv_client();
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await
    }

    /// An etcd error as one line an operator can act on.
    fn failure(&self, e: etcd_client::Error, what: &str) -> Failure {
        let text = describe(&e);
        let user = self.config.username.as_deref().unwrap_or("(none)");
        if is_auth_failure(&text) {
            return auth_failure(&self.config, &text);
        }
        if is_permission_denied(&text) {
            return Failure::new(
                Code::Error,
                format!("permission denied {what}: etcd user {user:?} lacks access ({text})"),
            );
        }
        if text.contains("request is too large") || text.contains("larger than max") {
            return Failure::new(Code::Error, text);
        }
        if is_unreachable(&e) {
            return Failure::new(Code::Error, format!("{UNREACHABLE} ({what}): {text}"));
        }
        if is_response_too_large(&text) {
            // The library's advice on values beyond the client's decoding limit.
            let advice = explain(&self.config, e);
            return Failure::new(Code::Error, format!("{what}: {advice}"));
        }
        Failure::new(Code::Error, format!("{what}: {text}"))
    }
}

/// How a lost connection's failure starts (commit looks for it).
const UNREACHABLE: &str = "etcd is unreachable";

/// Whether `state` shows every operation of `ops` done.
fn applied(state: &State, ops: &[Op]) -> bool {
    ops.iter().all(|op| match op {
        Op::Put(k, v) => state.kvs.iter().any(|kv| kv.key == *k && kv.value == *v),
        Op::Delete(k) => !state.kvs.iter().any(|kv| kv.key == *k),
    })
}

/// etcd did not take the credentials: the core's wording, naming dnsctl's settings.
fn auth_failure(config: &Config, text: &str) -> Failure {
    let settings = "etcd.username and etcd.password in the config";
    Failure::new(Code::Error, explain_auth_failure(config, text, settings))
}

async fn connect_failure(
    config: &Config,
    failures: Vec<(String, Option<String>)>,
    limit: Duration,
) -> Failure {
    let texts = || failures.iter().filter_map(|(_, t)| t.as_deref());
    if let Some(text) = texts().find(|t| is_auth_failure(t)) {
        return auth_failure(config, text);
    }
    if let Some(text) = texts().find(|t| is_permission_denied(t)) {
        let user = config.username.as_deref().unwrap_or("(none)");
        return Failure::new(
            Code::Error,
            format!(
                "permission denied: etcd user {user:?} may not read {} ({text})",
                config.key
            ),
        );
    }
    let mut each = Vec::new();
    for (endpoint, text) in &failures {
        each.push(match text {
            Some(t) if t.contains("tls") || t.contains("certificate") => {
                format!("{endpoint}: {t} (check https vs http and etcd.ca, etcd.cert, etcd.key)")
            }
            Some(t) => format!("{endpoint}: {t}"),
            None => format!(
                "{endpoint}: no answer within {} ({})",
                human_duration(limit),
                diagnose(endpoint).await
            ),
        });
    }
    Failure::new(
        Code::Error,
        format!("etcd is unreachable: {}", each.join("; ")),
    )
}

/// Why an endpoint gave no answer: nothing listens, or something does but it does not
/// speak etcd the way we asked (http vs https, TLS settings).
async fn diagnose(endpoint: &str) -> String {
    let authority = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .split('/')
        .next()
        .unwrap_or_default();
    let addr = match tokio::net::lookup_host(authority).await {
        Ok(mut addrs) => addrs.next(),
        Err(e) => return format!("cannot resolve {authority}: {e}"),
    };
    let Some(addr) = addr else {
        return format!("cannot resolve {authority}");
    };
    match timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(_)) => "the port accepts connections but etcd does not answer: check http vs \
                      https and the TLS files"
            .to_string(),
        Ok(Err(e)) => format!("tcp connect: {e}"),
        Err(_) => "tcp connect: connection timed out".to_string(),
    }
}

/// `/etcdhosts` -> `/etcdhosts.dnsctl`; a prefix `/hosts/` -> `/hosts.dnsctl`, outside it.
pub fn meta_key(key: &str) -> String {
    format!("{}.dnsctl", key.trim_end_matches('/'))
}

/// `$USER`, else the passwd name of our uid, else `uid N`.
pub fn user_name() -> String {
    if let Some(user) = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| !u.is_empty())
    {
        return user;
    }
    // SAFETY: getuid cannot fail; getpwuid returns NULL or a pointer to a static entry
    // whose pw_name is a NUL-terminated string, copied out before any other libc call.
    unsafe {
        let uid = libc::getuid();
        let pw = libc::getpwuid(uid);
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned();
        }
        format!("uid {uid}")
    }
}

/// Unix seconds as `2006-01-02T15:04:05Z` (UTC).
pub fn rfc3339(unix: u64) -> String {
    etcdhosts::status::rfc3339(i64::try_from(unix).unwrap_or(i64::MAX / 1000) * 1000)
}

pub fn human_bytes(n: usize) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else if n < 1 << 20 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.2} MiB", n as f64 / (1 << 20) as f64)
    }
}

pub fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn meta_keys_stay_outside_a_prefix() {
        assert_eq!(meta_key("/etcdhosts"), "/etcdhosts.dnsctl");
        assert_eq!(meta_key("/hosts/"), "/hosts.dnsctl");
        assert!(!meta_key("/hosts/").starts_with("/hosts/"));
    }
}
