//! The durable group store: Kafka's internal topic `__consumer_offsets`.
//!
//! [`attach`] runs once on start, before serving: it replays every partition of the topic
//! from its log start (latest record per key wins, a null value deletes) into the
//! coordinator, then makes an [`OffsetsTopicStore`] the coordinator's store. The topic is
//! created on first write with Kafka's settings (`offsets.topic.num.partitions`, replication
//! factor `min(offsets.topic.replication.factor, brokers)`, `cleanup.policy=compact`,
//! `segment.bytes=104857600`). Each group's records go to partition
//! `abs(hashCode(group)) % partitions` as one batch, appended the way Produce appends
//! (partition writer lock, `log.append`, then `Broker::commit_to` for durability).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use bytes::BytesMut;

use super::records::{self, OFFSETS_TOPIC};
use super::store::{GroupRecord, GroupStore, StoreError, StoreFuture};
use crate::state::{now_ms, Broker, Partition, Topic, TopicError};

/// Kafka's `offsets.topic.segment.bytes` default.
pub const OFFSETS_TOPIC_SEGMENT_BYTES: i64 = 104_857_600;
/// How long a group write may wait for replication.
const APPEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Bytes read per step while replaying a partition.
const REPLAY_READ_BYTES: u32 = 1 << 20;

/// The topic configs Kafka gives `__consumer_offsets`.
pub fn offsets_topic_configs() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        (
            "segment.bytes".to_string(),
            OFFSETS_TOPIC_SEGMENT_BYTES.to_string(),
        ),
        ("compression.type".to_string(), "producer".to_string()),
    ])
}

/// Replays `__consumer_offsets` into the broker's group coordinator and attaches the durable
/// store. Returns the number of records replayed.
pub fn attach(broker: &Arc<Broker>) -> anyhow::Result<usize> {
    let (configured, replication_factor) = {
        let cfg = broker.config.read();
        (
            cfg.offsets_topic_num_partitions.max(1),
            cfg.offsets_topic_replication_factor,
        )
    };
    let mut replayed = 0;
    let partitions = match broker.topic(OFFSETS_TOPIC) {
        Some(topic) => {
            for partition in topic.partitions.read().iter() {
                let records = read_partition(partition)?;
                replayed += records.len();
                broker.groups.replay(&records);
            }
            let count = topic.partition_count();
            if count != configured {
                tracing::warn!(
                    "{OFFSETS_TOPIC} has {count} partitions; offsets.topic.num.partitions \
                     ({configured}) applies only when the topic is created"
                );
            }
            count
        }
        None => configured,
    };
    if replayed > 0 {
        tracing::info!(
            records = replayed,
            groups = broker.groups.group_count(),
            "loaded group state from {OFFSETS_TOPIC}"
        );
    }
    broker.groups.set_store(
        Arc::new(OffsetsTopicStore {
            broker: Arc::downgrade(broker),
            partitions,
            // Single node: one broker.
            replication_factor: replication_factor.clamp(1, 1),
        }),
        partitions,
    );
    Ok(replayed)
}

/// Every group record of one partition, from its log start to its high watermark.
pub fn read_partition(partition: &Partition) -> anyhow::Result<Vec<GroupRecord>> {
    let mut out = vec![];
    let end = partition.high_watermark();
    let mut offset = partition.log.log_start_offset();
    while offset < end {
        let read = partition
            .log
            .read(offset, REPLAY_READ_BYTES, end)
            .map_err(|e| {
                anyhow::anyhow!(
                    "reading {OFFSETS_TOPIC}-{} at offset {offset}: {e}",
                    partition.index
                )
            })?;
        if read.bytes.is_empty() {
            break;
        }
        let (records, next, errors) = records::decode_batches(&read.bytes);
        for e in errors {
            tracing::warn!(
                partition = partition.index,
                "skipping an undecodable {OFFSETS_TOPIC} record: {e}"
            );
        }
        out.extend(records);
        match next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    Ok(out)
}

/// Writes group records to `__consumer_offsets` through the broker's partition logs.
pub struct OffsetsTopicStore {
    broker: Weak<Broker>,
    partitions: i32,
    replication_factor: i16,
}

impl OffsetsTopicStore {
    /// The topic, created on first use.
    async fn topic(broker: &Arc<Broker>, partitions: i32, rf: i16) -> Result<Arc<Topic>, String> {
        if let Some(t) = broker.topic(OFFSETS_TOPIC) {
            return Ok(t);
        }
        let b = broker.clone();
        let created = tokio::task::spawn_blocking(move || {
            b.create_topic(OFFSETS_TOPIC, partitions, rf, offsets_topic_configs())
        })
        .await
        .map_err(|e| e.to_string())?;
        match created {
            Ok(t) => Ok(t),
            Err(TopicError::AlreadyExists(_)) => broker
                .topic(OFFSETS_TOPIC)
                .ok_or_else(|| format!("{OFFSETS_TOPIC} vanished while being created")),
            Err(e) => Err(format!("creating {OFFSETS_TOPIC}: {e}")),
        }
    }
}

impl GroupStore for OffsetsTopicStore {
    fn write(&self, batches: &[(i32, &[GroupRecord])]) -> StoreFuture {
        let now = now_ms();
        let encoded: Vec<(i32, Result<BytesMut, StoreError>)> = batches
            .iter()
            .map(|(p, records)| {
                (
                    *p,
                    records::encode_batch(records, now).map_err(|e| StoreError(e.to_string())),
                )
            })
            .collect();
        let broker = self.broker.clone();
        let (partitions, rf) = (self.partitions, self.replication_factor);
        Box::pin(async move {
            let n = encoded.len();
            let fail_all = |msg: String| (0..n).map(|_| Err(StoreError(msg.clone()))).collect();
            let Some(broker) = broker.upgrade() else {
                return fail_all("broker is shutting down".into());
            };
            let topic = match Self::topic(&broker, partitions, rf).await {
                Ok(t) => t,
                Err(e) => return fail_all(e),
            };
            let mut results: Vec<Result<(), StoreError>> = (0..n).map(|_| Ok(())).collect();
            // Batches per partition, in queue order.
            let mut by_partition: BTreeMap<i32, Vec<(usize, BytesMut)>> = BTreeMap::new();
            for (i, (p, batch)) in encoded.into_iter().enumerate() {
                match batch {
                    Ok(b) => by_partition.entry(p).or_default().push((i, b)),
                    Err(e) => results[i] = Err(e),
                }
            }
            let mut flushes: HashMap<i32, (Vec<usize>, tokio::task::JoinHandle<_>)> =
                HashMap::new();
            for (p, batches) in by_partition {
                let Some(partition) = topic.partition(p) else {
                    for (i, _) in batches {
                        results[i] =
                            Err(StoreError(format!("{OFFSETS_TOPIC} has no partition {p}")));
                    }
                    continue;
                };
                let writer = partition.writer.lock().await;
                let mut appended = vec![];
                let mut started = vec![];
                for (i, data) in batches {
                    match broker.start_append(&partition, data, now).await {
                        Ok(a) => {
                            started.push(a);
                            appended.push(i);
                        }
                        Err(e) => results[i] = Err(StoreError(e.to_string())),
                    }
                }
                drop(writer);
                if !started.is_empty() {
                    let b = broker.clone();
                    let handle = tokio::spawn(async move {
                        for a in started {
                            b.finish_append(&partition, a, APPEND_TIMEOUT).await?;
                        }
                        Ok::<(), crate::state::AppendError>(())
                    });
                    flushes.insert(p, (appended, handle));
                }
            }
            for (p, (appended, handle)) in flushes {
                let outcome = match handle.await {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::error!("flushing {OFFSETS_TOPIC}-{p}: {outcome}");
                for i in appended {
                    results[i] = Err(StoreError(outcome.clone()));
                }
            }
            results
        })
    }
}

/// Cluster mode: this node started or stopped leading a partition of `__consumer_offsets`.
/// A new leader reloads the partition's groups (once everything in its log is committed)
/// before coordinating them; a former leader forgets them.
pub fn on_leadership(broker: &Arc<Broker>, partition: &Arc<Partition>, leading: bool) {
    let index = partition.index;
    if !leading {
        broker.groups.unload_partition(index);
        broker.coordinator_loaded(index, false);
        return;
    }
    let b = broker.clone();
    let p = partition.clone();
    tokio::spawn(async move {
        let end = p.log.log_end_offset();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while p.high_watermark() < end && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if !p.is_leader() {
            return;
        }
        let part = p.clone();
        match tokio::task::spawn_blocking(move || read_partition(&part)).await {
            Ok(Ok(records)) => {
                b.groups.unload_partition(index);
                b.groups.replay(&records);
                if p.is_leader() {
                    b.coordinator_loaded(index, true);
                }
                tracing::info!(
                    partition = index,
                    records = records.len(),
                    "coordinating the groups of {OFFSETS_TOPIC}-{index}"
                );
            }
            Ok(Err(e)) => tracing::error!("loading {OFFSETS_TOPIC}-{index}: {e:#}"),
            Err(_) => {}
        }
    });
}

/// Cluster mode: creates `__consumer_offsets` in the background (FindCoordinator's first use).
pub fn create_in_background(broker: &Arc<Broker>) {
    static CREATING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if CREATING.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    let b = broker.clone();
    tokio::spawn(async move {
        let partitions = b.config.read().offsets_topic_num_partitions.max(1);
        let _ = OffsetsTopicStore::topic(&b, partitions, -1).await;
        CREATING.store(false, std::sync::atomic::Ordering::Release);
    });
}
