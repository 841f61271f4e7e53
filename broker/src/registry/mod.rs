//! A built-in, Confluent-compatible Schema Registry served over HTTP on
//! `schema.registry.listeners`, on every node of a cluster.
//!
//! The registry is the fold of the compacted topic `_schemas` (1 partition; in a cluster
//! replicated to every node) in Confluent's record formats ([`records`]). Every node folds
//! the records below its replica's high watermark ([`Registry::catch_up`], before every read
//! and every write), so every node serves reads from its own replica and follows the topic
//! as it grows. Writes are made by the node leading `_schemas` only: the others forward the
//! HTTP request to the leader's registry ([`forward`]). On the leader, writes are serialised
//! by one lock: fold up to the log end, plan against the state ([`state`]), append the
//! records as one batch, wait until they are committed, fold them back in and check that the
//! fold kept them ([`state::State::holds`]): a record that lost a race with a write of an
//! earlier leader (same id or same subject version for another schema) is skipped by every
//! node's fold alike, and the write is planned again. Compatibility rules are in [`schema`];
//! the REST API is in [`http`].

pub mod forward;
pub mod http;
pub mod records;
pub mod schema;
pub mod state;

#[cfg(test)]
mod durable_tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use records::{RawRecord, SCHEMAS_TOPIC};
use state::{ApiError, State};

use crate::state::{now_ms, AppendError, Broker, Partition, Topic, TopicError};

/// Bytes read per step while folding `_schemas`.
const REPLAY_READ_BYTES: u32 = 1 << 20;
/// How often a write is planned again after its records lost a race.
const WRITE_ATTEMPTS: usize = 5;
/// How long a write waits for its batch to commit, and for the fold to reach it.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the leader waits for entries of an earlier term to commit before planning.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The state and how far into `_schemas` it has folded.
struct Fold {
    state: State,
    /// The next `_schemas` offset to fold.
    next_offset: i64,
}

/// Where a write must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTarget {
    /// This node writes (single node, or this node leads `_schemas`).
    Local,
    /// The node that leads `_schemas`.
    Remote(i32),
    /// No leader is known yet.
    Unknown,
}

/// The registry: its state and the broker whose `_schemas` topic stores it.
pub struct Registry {
    broker: Arc<Broker>,
    fold: parking_lot::RwLock<Fold>,
    /// Serialises writes (plan → append → commit → fold → check).
    write: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Builds the registry from `_schemas` (empty if the topic does not exist yet).
    pub fn open(broker: Arc<Broker>) -> anyhow::Result<Arc<Registry>> {
        let r = Arc::new(Registry {
            broker,
            fold: parking_lot::RwLock::new(Fold {
                state: State::default(),
                next_offset: 0,
            }),
            write: tokio::sync::Mutex::new(()),
        });
        let count = r.catch_up();
        if count > 0 {
            tracing::info!(
                records = count,
                "loaded the schema registry from {SCHEMAS_TOPIC}"
            );
        }
        Ok(r)
    }

    /// The broker the registry runs on.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Folds the `_schemas` records below the replica's high watermark that are not folded
    /// yet; returns how many it folded.
    pub fn catch_up(&self) -> usize {
        let Some(p) = self.broker.partition(SCHEMAS_TOPIC, 0) else {
            return 0;
        };
        let end = p.high_watermark();
        if self.fold.read().next_offset >= end {
            return 0;
        }
        let mut f = self.fold.write();
        fold_to(&p, &mut f, end)
    }

    /// Reads the state (after folding what the replica has committed).
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        self.catch_up();
        f(&self.fold.read().state)
    }

    /// The `_schemas` offset the state has folded up to.
    pub fn folded_offset(&self) -> i64 {
        self.fold.read().next_offset
    }

    /// Folds until the state covers `offset` (or `timeout` passes).
    pub async fn wait_folded_to(&self, offset: i64, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.catch_up();
            if self.folded_offset() >= offset || tokio::time::Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// On a follower of `_schemas`, waits (at most `timeout`) until schema `id` is folded,
    /// when it is newer than every id folded so far (it may have just been registered through
    /// the leader). Returns at once on a leader or a single node, whose state is never behind
    /// an acknowledged write.
    pub async fn wait_for_id(&self, id: i32, timeout: Duration) {
        let Some(p) = self.broker.partition(SCHEMAS_TOPIC, 0) else {
            return;
        };
        if p.replica.is_none() || p.is_leader() {
            return;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.catch_up();
            if self.fold.read().state.max_id() >= id || tokio::time::Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Where writes go now.
    pub fn write_target(&self) -> WriteTarget {
        let Some(p) = self.broker.partition(SCHEMAS_TOPIC, 0) else {
            // Created on the first write, by whichever node takes it.
            return WriteTarget::Local;
        };
        if p.replica.is_none() || p.is_leader() {
            return WriteTarget::Local;
        }
        match p.leader_node.load(std::sync::atomic::Ordering::Acquire) {
            l if l >= 0 && l != self.broker.node_id => WriteTarget::Remote(l),
            _ => WriteTarget::Unknown,
        }
    }

    /// Plans a write against the state, appends its records, waits until they are committed
    /// and folded back in, and checks that the fold kept them (planning again if a racing
    /// write took the id or version first). Returns what `plan` returned alongside the records.
    /// 50004 when this node does not lead `_schemas`.
    pub async fn write<T>(
        &self,
        plan: impl Fn(&State) -> Result<(T, Vec<RawRecord>), ApiError>,
    ) -> Result<T, ApiError> {
        let _guard = self.write.lock().await;
        for attempt in 1..=WRITE_ATTEMPTS {
            let partition = self.leader_partition().await?;
            self.settle(&partition).await;
            let (out, recs) = {
                let f = self.fold.read();
                plan(&f.state)?
            };
            if recs.is_empty() {
                return Ok(out);
            }
            let end = self.append(&partition, &recs).await?;
            self.wait_folded(&partition, end).await?;
            if self.fold.read().state.holds(&recs) {
                return Ok(out);
            }
            tracing::warn!(
                attempt,
                "a schema registry write lost a race with another writer; planning it again"
            );
        }
        Err(ApiError::new(
            50001,
            format!("Error while writing to {SCHEMAS_TOPIC}: conflicting concurrent writes"),
        ))
    }

    async fn topic(&self) -> Result<Arc<Topic>, ApiError> {
        if let Some(t) = self.broker.topic(SCHEMAS_TOPIC) {
            return Ok(t);
        }
        let b = self.broker.clone();
        let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        let created =
            tokio::task::spawn_blocking(move || b.create_topic(SCHEMAS_TOPIC, 1, 1, configs))
                .await
                .map_err(|e| store_error(e.to_string()))?;
        match created {
            Ok(t) => Ok(t),
            Err(TopicError::AlreadyExists(_)) => {
                // A cluster: another node created it; wait until this node has installed it.
                let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT;
                loop {
                    if let Some(t) = self.broker.topic(SCHEMAS_TOPIC) {
                        return Ok(t);
                    }
                    if tokio::time::Instant::now() > deadline {
                        return Err(store_error(format!(
                            "{SCHEMAS_TOPIC} exists but is not open on this node"
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(e) => Err(store_error(format!("creating {SCHEMAS_TOPIC}: {e}"))),
        }
    }

    /// `_schemas`-0 once this node leads it (waiting a little for an election after the topic
    /// is created); 50004 when another node leads it.
    async fn leader_partition(&self) -> Result<Arc<Partition>, ApiError> {
        let topic = self.topic().await?;
        let partition = topic
            .partition(0)
            .ok_or_else(|| store_error(format!("{SCHEMAS_TOPIC} has no partition 0")))?;
        let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT;
        loop {
            if partition.replica.is_none() || partition.is_leader() {
                return Ok(partition);
            }
            let leader = partition
                .leader_node
                .load(std::sync::atomic::Ordering::Acquire);
            if (leader >= 0 && leader != self.broker.node_id)
                || tokio::time::Instant::now() > deadline
            {
                return Err(not_leader(leader));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// On a new leader, lets entries of the previous term commit (at most [`SETTLE_TIMEOUT`])
    /// so that they are folded before planning; then folds.
    async fn settle(&self, partition: &Partition) {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        while partition.high_watermark() < partition.log.log_end_offset()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.catch_up();
    }

    /// Waits until the replica has committed up to `end` and folds it.
    async fn wait_folded(&self, partition: &Partition, end: i64) -> Result<(), ApiError> {
        let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT;
        while partition.high_watermark() < end {
            if tokio::time::Instant::now() > deadline {
                return Err(ApiError::new(
                    50002,
                    format!("Timed out waiting for {SCHEMAS_TOPIC} to commit offset {end}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.catch_up();
        Ok(())
    }

    /// Appends `recs` as one batch to `_schemas`, waits until it is committed; returns the
    /// log end after it.
    async fn append(
        &self,
        partition: &Arc<Partition>,
        recs: &[RawRecord],
    ) -> Result<i64, ApiError> {
        let now = now_ms();
        let data = records::encode_batch(recs, now).map_err(store_error)?;
        let appending = {
            let _writer = partition.writer.lock().await;
            self.broker
                .start_append(partition, data, now)
                .await
                .map_err(|e| append_error(partition, e))?
        };
        self.broker
            .finish_append(partition, appending, COMMIT_TIMEOUT)
            .await
            .map(|(_, end)| end)
            .map_err(|e| append_error(partition, e))
    }
}

/// Folds `_schemas` from `f.next_offset` up to `end`; returns the number of records read.
fn fold_to(p: &Partition, f: &mut Fold, end: i64) -> usize {
    let mut count = 0usize;
    let mut offset = f.next_offset.max(p.log.log_start_offset());
    while offset < end {
        let read = match p.log.read(offset, REPLAY_READ_BYTES, end) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("reading {SCHEMAS_TOPIC} at {offset}: {e}");
                break;
            }
        };
        if read.bytes.is_empty() {
            break;
        }
        let (recs, next, errors) = records::decode_batches(&read.bytes);
        for e in errors {
            tracing::warn!("skipping an undecodable {SCHEMAS_TOPIC} batch: {e}");
        }
        for (k, v) in recs {
            count += 1;
            if let Err(e) = f.state.apply(&k, v.as_deref()) {
                tracing::warn!("skipping a {SCHEMAS_TOPIC} record: {e}");
            }
        }
        match next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    f.next_offset = offset;
    count
}

fn store_error(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("schema registry write failed: {e}");
    ApiError::new(
        50001,
        format!("Error while writing to {SCHEMAS_TOPIC}: {e}"),
    )
}

fn not_leader(leader: i32) -> ApiError {
    ApiError::new(
        50004,
        format!("This node does not lead {SCHEMAS_TOPIC} (leader: node {leader})"),
    )
}

fn append_error(p: &Partition, e: AppendError) -> ApiError {
    match e {
        AppendError::NotLeader => {
            not_leader(p.leader_node.load(std::sync::atomic::Ordering::Acquire))
        }
        AppendError::Timeout => ApiError::new(
            50002,
            format!("Timed out writing to {SCHEMAS_TOPIC}: not replicated to a majority in time"),
        ),
        other => store_error(other),
    }
}

/// Serves the registry on every `schema.registry.listeners` address until the process ends.
/// A listener that cannot bind is logged and skipped (the Kafka listeners keep serving).
pub async fn serve(broker: Arc<Broker>) -> anyhow::Result<()> {
    let addrs: Vec<String> = broker.config.read().schema_registry_listeners.clone();
    if addrs.is_empty() {
        return Ok(());
    }
    let b = broker.clone();
    let registry = tokio::task::spawn_blocking(move || Registry::open(b)).await??;
    let app = http::router(registry);
    let mut tasks = tokio::task::JoinSet::new();
    for url in addrs {
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => {
                tracing::info!(%addr, "schema registry is serving");
                let app = app.clone();
                tasks.spawn(async move { axum::serve(l, app).await });
            }
            Err(e) => tracing::error!(
                "schema registry cannot listen on {addr} (schema.registry.listeners={url}): {e}"
            ),
        }
    }
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            tracing::error!("schema registry listener failed: {e}");
        }
    }
    Ok(())
}
