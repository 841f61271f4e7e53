//! A built-in, Confluent-compatible Schema Registry served over HTTP on
//! `schema.registry.listeners`.
//!
//! The registry is the fold of the compacted topic `_schemas` (1 partition, created on first
//! write) in Confluent's record formats ([`records`]); [`Registry::open`] replays it before
//! serving. Writes are serialised by one lock: plan against the state ([`state`]), append the
//! records as one batch under the partition's writer lock, wait until `Broker::commit_to`
//! says they are durable, then fold them in and answer. Compatibility rules are in
//! [`schema`]; the REST API is in [`http`].

pub mod http;
pub mod records;
pub mod schema;
pub mod state;

#[cfg(test)]
mod durable_tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use records::{RawRecord, SCHEMAS_TOPIC};
use state::{ApiError, State};

use crate::state::{now_ms, Broker, Topic, TopicError};

/// Bytes read per step while replaying `_schemas`.
const REPLAY_READ_BYTES: u32 = 1 << 20;

/// The registry: its state and the broker whose `_schemas` topic stores it.
pub struct Registry {
    broker: Arc<Broker>,
    state: parking_lot::RwLock<State>,
    /// Serialises writes (plan → append → durable → apply).
    write: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Rebuilds the registry from `_schemas` (empty if the topic does not exist yet).
    pub fn open(broker: Arc<Broker>) -> anyhow::Result<Arc<Registry>> {
        let mut st = State::default();
        let mut count = 0usize;
        if let Some(partition) = broker.partition(SCHEMAS_TOPIC, 0) {
            let end = partition.high_watermark();
            let mut offset = partition.log.log_start_offset();
            while offset < end {
                let read = partition
                    .log
                    .read(offset, REPLAY_READ_BYTES, end)
                    .map_err(|e| anyhow::anyhow!("reading {SCHEMAS_TOPIC} at {offset}: {e}"))?;
                if read.bytes.is_empty() {
                    break;
                }
                let (recs, next, errors) = records::decode_batches(&read.bytes);
                for e in errors {
                    tracing::warn!("skipping an undecodable {SCHEMAS_TOPIC} batch: {e}");
                }
                for (k, v) in recs {
                    count += 1;
                    if let Err(e) = st.apply(&k, v.as_deref()) {
                        tracing::warn!("skipping a {SCHEMAS_TOPIC} record: {e}");
                    }
                }
                match next {
                    Some(n) if n > offset => offset = n,
                    _ => break,
                }
            }
        }
        if count > 0 {
            tracing::info!(
                records = count,
                "loaded the schema registry from {SCHEMAS_TOPIC}"
            );
        }
        Ok(Arc::new(Registry {
            broker,
            state: parking_lot::RwLock::new(st),
            write: tokio::sync::Mutex::new(()),
        }))
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.read())
    }

    /// Plans a write against the state, makes its records durable, folds them in. Returns
    /// what `plan` returned alongside the records.
    pub async fn write<T>(
        &self,
        plan: impl FnOnce(&State) -> Result<(T, Vec<RawRecord>), ApiError>,
    ) -> Result<T, ApiError> {
        let _guard = self.write.lock().await;
        let (out, recs) = plan(&self.state.read())?;
        if recs.is_empty() {
            return Ok(out);
        }
        self.append(&recs).await.map_err(|e| {
            tracing::error!("schema registry write failed: {e}");
            ApiError::new(
                50001,
                format!("Error while writing to {SCHEMAS_TOPIC}: {e}"),
            )
        })?;
        let mut st = self.state.write();
        for (k, v) in &recs {
            if let Err(e) = st.apply(k, v.as_deref()) {
                tracing::error!("applying a registry record: {e}");
            }
        }
        Ok(out)
    }

    async fn topic(&self) -> Result<Arc<Topic>, String> {
        if let Some(t) = self.broker.topic(SCHEMAS_TOPIC) {
            return Ok(t);
        }
        let b = self.broker.clone();
        let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        let created =
            tokio::task::spawn_blocking(move || b.create_topic(SCHEMAS_TOPIC, 1, 1, configs))
                .await
                .map_err(|e| e.to_string())?;
        match created {
            Ok(t) => Ok(t),
            Err(TopicError::AlreadyExists(_)) => self
                .broker
                .topic(SCHEMAS_TOPIC)
                .ok_or_else(|| format!("{SCHEMAS_TOPIC} vanished while being created")),
            Err(e) => Err(format!("creating {SCHEMAS_TOPIC}: {e}")),
        }
    }

    /// Appends `recs` as one batch to `_schemas` and waits until it is durable.
    async fn append(&self, recs: &[RawRecord]) -> Result<(), String> {
        let topic = self.topic().await?;
        let partition = topic
            .partition(0)
            .ok_or_else(|| format!("{SCHEMAS_TOPIC} has no partition 0"))?;
        let now = now_ms();
        let data = records::encode_batch(recs, now)?;
        let appending = {
            let _writer = partition.writer.lock().await;
            self.broker
                .start_append(&partition, data, now)
                .await
                .map_err(|e| e.to_string())?
        };
        self.broker
            .finish_append(&partition, appending, std::time::Duration::from_secs(10))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
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
