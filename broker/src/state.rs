//! Broker state: topics, partitions (each a storage log with its high watermark and producer
//! state), the producer-id allocator, and the metadata file that makes them survive a restart.
//!
//! Single-node for now; the replication issue moves topic metadata into the controller Raft
//! group and the high watermark to the partition group's commit index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use riffle_config::{BrokerConfig, TopicConfig};
use riffle_storage::{Durability, LogConfig, PartitionLog};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::producer_state::{last_sequence, ProducerStateMap};

/// How long a starting cluster node waits to catch up with the metadata log before serving.
const CATCH_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Clock difference tolerated between nodes when deciding whether a topic is older than a
/// restarted node (see `open_replica`).
const BOOTSTRAP_CLOCK_SLACK_MS: i64 = 60_000;
/// Name of the metadata file in the first log directory.
pub const META_FILE: &str = "riffle-meta.json";
/// Producer ids are handed out from blocks reserved durably in the metadata file.
pub const PRODUCER_ID_BLOCK: i64 = 1000;
/// Kafka's longest legal topic name.
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    #[error("topic '{0}' does not exist")]
    Unknown(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("storage: {0}")]
    Storage(#[from] riffle_storage::StorageError),
    #[error("metadata file: {0}")]
    Meta(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct MetaFile {
    version: u32,
    cluster_id: String,
    node_id: i32,
    producer_id_block_end: i64,
    topics: Vec<TopicMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicMeta {
    name: String,
    id: Uuid,
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub log: Arc<PartitionLog>,
    /// The leader epoch (cluster mode: the Raft term).
    leader_epoch: AtomicI32,
    high_watermark: AtomicI64,
    /// Serialises appends and holds the idempotent-producer state.
    pub writer: tokio::sync::Mutex<ProducerStateMap>,
    /// Cluster mode: this partition's Raft replica (None on a single node).
    pub replica: Option<Arc<riffle_replication::PartitionReplica>>,
    /// Cluster mode: the assigned replicas (preferred leader first).
    pub replicas: Vec<i32>,
    /// Cluster mode: the leader this node knows of (-1: none).
    pub leader_node: AtomicI32,
    /// Cluster mode: this node leads and its producer state is rebuilt for the current term.
    pub leader_ready: AtomicBool,
    /// Cluster mode, leader only: the in-sync replicas.
    pub isr: RwLock<Vec<i32>>,
    /// Cluster mode: the partition's Raft group id.
    pub group: u64,
}

impl Partition {
    fn new_local(topic: &str, index: i32, log: PartitionLog, producers: ProducerStateMap) -> Self {
        let end = log.log_end_offset();
        Partition {
            topic: topic.to_string(),
            index,
            log: Arc::new(log),
            leader_epoch: AtomicI32::new(0),
            high_watermark: AtomicI64::new(end),
            writer: tokio::sync::Mutex::new(producers),
            replica: None,
            replicas: vec![],
            leader_node: AtomicI32::new(-1),
            leader_ready: AtomicBool::new(true),
            isr: RwLock::new(vec![]),
            group: 0,
        }
    }

    /// The high watermark: the durable log end (single node) or the commit point (cluster).
    pub fn high_watermark(&self) -> i64 {
        match &self.replica {
            Some(r) => r.high_watermark(),
            None => self.high_watermark.load(Ordering::Acquire),
        }
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub(crate) fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Release);
    }

    /// Whether this node may serve produce/fetch for the partition now.
    pub fn is_leader(&self) -> bool {
        self.leader_ready.load(Ordering::Acquire)
    }

    fn advance_high_watermark(&self, offset: i64) -> bool {
        self.high_watermark.fetch_max(offset, Ordering::AcqRel) < offset
    }
}

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub replication_factor: i16,
    pub internal: bool,
    pub partitions: RwLock<Vec<Arc<Partition>>>,
    pub overrides: RwLock<BTreeMap<String, String>>,
    pub config: RwLock<TopicConfig>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.read().get(i).cloned())
    }
    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }
}

pub struct Broker {
    pub config: RwLock<BrokerConfig>,
    pub cluster_id: String,
    pub node_id: i32,
    pub log_dirs: Vec<PathBuf>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises topic creation/deletion and metadata file writes.
    meta_lock: Mutex<()>,
    next_producer_id: Mutex<(i64, i64)>,
    /// Woken whenever a high watermark moves (long-polling fetches wait on it).
    pub hw_notify: tokio::sync::Notify,
    /// The consumer group coordinator (every group; single node).
    pub groups: crate::group::GroupCoordinator,
    /// Cluster mode (`controller.quorum.voters` set): the controller and partition groups.
    cluster: OnceLock<Arc<crate::cluster::Cluster>>,
    /// This node started without `riffle-meta.json` (first start, or its data was lost).
    pub fresh: bool,
    /// Cluster mode: `__consumer_offsets` partitions this node leads and has loaded.
    coordinating: Mutex<std::collections::HashSet<i32>>,
}

/// An append in progress: started under the partition's writer lock (which orders appends),
/// finished without it.
pub enum Appending {
    /// Single node: in the log; durable after `flush_to(end_offset)`.
    Local { base_offset: i64, end_offset: i64 },
    /// Cluster: handed to the partition's Raft; committed when the future resolves.
    Replicated {
        commit: std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = Result<
                            riffle_replication::Proposed,
                            riffle_replication::ProposeError,
                        >,
                    > + Send,
            >,
        >,
        records: i64,
    },
}

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("storage: {0}")]
    Storage(#[from] riffle_storage::StorageError),
    #[error("this node is not the partition leader")]
    NotLeader,
    #[error("the batch was not replicated to a majority in time")]
    Timeout,
    #[error("replication: {0}")]
    Replication(String),
}

/// The idempotent-producer state a log implies (every batch, from the log start).
pub fn producer_state_from_log(
    log: &PartitionLog,
) -> Result<ProducerStateMap, riffle_storage::StorageError> {
    let mut producers = ProducerStateMap::default();
    log.for_each_batch(log.log_start_offset(), &mut |b| {
        producers.record(
            b.producer_id(),
            b.producer_epoch(),
            b.base_sequence(),
            last_sequence(b.base_sequence(), b.record_count()),
            b.base_offset(),
            b.last_offset(),
        )
    })?;
    Ok(producers)
}

/// Whether `name` is a legal Kafka topic name (`[a-zA-Z0-9._-]`, 1..=249 chars, not `.`/`..`).
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::InvalidName("topic name is empty".into()));
    }
    if name == "." || name == ".." {
        return Err(TopicError::InvalidName(format!(
            "topic name cannot be '{name}'"
        )));
    }
    if name.len() > TOPIC_NAME_LENGTH_MAX {
        return Err(TopicError::InvalidName(format!(
            "topic name is {} characters long; at most {TOPIC_NAME_LENGTH_MAX} are allowed",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_' || *c == '-'))
    {
        return Err(TopicError::InvalidName(format!(
            "topic name '{name}' contains '{c}'; legal characters are ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The storage settings of a topic.
pub fn log_config(tc: &TopicConfig, durability: riffle_config::Durability) -> LogConfig {
    LogConfig {
        segment_bytes: tc.segment_bytes.max(1) as u64,
        segment_ms: tc.segment_ms,
        retention_ms: tc.retention_ms,
        retention_bytes: tc.retention_bytes,
        index_interval_bytes: tc.index_interval_bytes.max(1) as u32,
        segment_index_bytes: tc.segment_index_bytes.max(64) as u32,
        durability: match durability {
            riffle_config::Durability::Fsync => Durability::Fsync,
            riffle_config::Durability::PageCache => Durability::PageCache,
        },
        cleanup_policy: match tc.cleanup_policy {
            riffle_config::CleanupPolicy::Delete => riffle_storage::CleanupPolicy::Delete,
            riffle_config::CleanupPolicy::Compact => riffle_storage::CleanupPolicy::Compact,
            riffle_config::CleanupPolicy::CompactDelete => {
                riffle_storage::CleanupPolicy::CompactDelete
            }
        },
        delete_retention_ms: tc.delete_retention_ms,
        min_cleanable_dirty_ratio: tc.min_cleanable_dirty_ratio,
        min_compaction_lag_ms: tc.min_compaction_lag_ms,
        max_compaction_lag_ms: tc.max_compaction_lag_ms,
    }
}

pub(crate) fn write_file_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        riffle_storage::sync_journal::sync_all(&f)?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Broker {
    /// Opens the broker's state from its log directories (creating them on first start),
    /// opening every partition log and rebuilding producer state from it.
    pub fn open(config: BrokerConfig) -> anyhow::Result<Arc<Broker>> {
        let log_dirs = config.log_dirs.clone();
        anyhow::ensure!(!log_dirs.is_empty(), "log.dirs is empty");
        for d in &log_dirs {
            std::fs::create_dir_all(d)
                .map_err(|e| anyhow::anyhow!("cannot create log dir {}: {e}", d.display()))?;
        }
        remove_deleted_dirs(&log_dirs);
        let meta_path = log_dirs[0].join(META_FILE);
        let fresh = !meta_path.exists();
        let meta: MetaFile = if meta_path.exists() {
            let bytes = std::fs::read(&meta_path)?;
            serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("corrupt {}: {e}", meta_path.display()))?
        } else {
            MetaFile {
                version: 1,
                cluster_id: base64_uuid(Uuid::new_v4()),
                node_id: config.node_id,
                producer_id_block_end: 0,
                topics: vec![],
            }
        };
        anyhow::ensure!(
            meta.node_id == config.node_id,
            "{} belongs to node.id {} but this broker is configured with node.id {}",
            meta_path.display(),
            meta.node_id,
            config.node_id
        );
        let cluster_id = if config.controller_quorum_voters.is_empty() {
            meta.cluster_id.clone()
        } else {
            cluster_id_of_voters(&config.controller_quorum_voters)
        };
        let broker = Arc::new(Broker {
            cluster_id,
            node_id: config.node_id,
            log_dirs,
            topics: RwLock::new(BTreeMap::new()),
            meta_lock: Mutex::new(()),
            next_producer_id: Mutex::new((meta.producer_id_block_end, meta.producer_id_block_end)),
            hw_notify: tokio::sync::Notify::new(),
            groups: crate::group::GroupCoordinator::new(&config),
            cluster: OnceLock::new(),
            coordinating: Mutex::new(Default::default()),
            fresh,
            config: RwLock::new(config),
        });
        let cluster_mode = !broker.config.read().controller_quorum_voters.is_empty();
        let local_topics = if cluster_mode { vec![] } else { meta.topics };
        for t in local_topics {
            let tc = TopicConfig::resolve(&broker.config.read().topic_defaults, &t.configs)
                .map_err(|e| anyhow::anyhow!("topic '{}': {e}", t.name))?;
            let topic = Arc::new(Topic {
                internal: t.name.starts_with("__"),
                name: t.name.clone(),
                id: t.id,
                replication_factor: t.replication_factor,
                partitions: RwLock::new(vec![]),
                overrides: RwLock::new(t.configs),
                config: RwLock::new(tc),
            });
            for p in 0..t.partitions {
                let part = broker.open_partition(&topic, p)?;
                topic.partitions.write().push(part);
            }
            broker.topics.write().insert(t.name, topic);
        }
        broker.save_meta()?;
        // Group state comes back from __consumer_offsets before anything is served.
        crate::group::offsets_topic::attach(&broker)?;
        Ok(broker)
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        let name = format!("{topic}-{index}");
        for d in &self.log_dirs {
            let p = d.join(&name);
            if p.exists() {
                return p;
            }
        }
        // New partition: the log dir holding the fewest partitions.
        let count = |d: &PathBuf| {
            std::fs::read_dir(d)
                .map(|it| {
                    it.filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
                        .count()
                })
                .unwrap_or(0)
        };
        let dir = self
            .log_dirs
            .iter()
            .min_by_key(|d| count(d))
            .unwrap_or(&self.log_dirs[0]);
        dir.join(name)
    }

    /// Opens a partition that is new to the cluster: a directory left behind under its name
    /// (a crash between the metadata write and a deletion) holds no data of this topic.
    fn open_new_partition(&self, topic: &Topic, index: i32) -> anyhow::Result<Arc<Partition>> {
        let dir = self.partition_dir(&topic.name, index);
        if dir.exists() {
            tracing::warn!(dir = %dir.display(), "removing a stale directory for a new partition");
            std::fs::remove_dir_all(&dir)?;
        }
        self.open_partition(topic, index)
    }

    fn open_partition(&self, topic: &Topic, index: i32) -> anyhow::Result<Arc<Partition>> {
        let dir = self.partition_dir(&topic.name, index);
        let durability = self.config.read().durability;
        let log = PartitionLog::open(&dir, log_config(&topic.config.read(), durability))
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", dir.display()))?;
        let producers = producer_state_from_log(&log)
            .map_err(|e| anyhow::anyhow!("scanning {}: {e}", dir.display()))?;
        Ok(Arc::new(Partition::new_local(
            &topic.name,
            index,
            log,
            producers,
        )))
    }

    fn save_meta(&self) -> anyhow::Result<()> {
        let cluster_mode =
            self.cluster.get().is_some() || !self.config.read().controller_quorum_voters.is_empty();
        let topics = self
            .topics
            .read()
            .values()
            .filter(|_| !cluster_mode)
            .map(|t| TopicMeta {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partition_count(),
                replication_factor: t.replication_factor,
                configs: t.overrides.read().clone(),
            })
            .collect();
        let meta = MetaFile {
            version: 1,
            cluster_id: self.cluster_id.clone(),
            node_id: self.node_id,
            producer_id_block_end: self.next_producer_id.lock().1,
            topics,
        };
        let bytes = serde_json::to_vec_pretty(&meta)?;
        write_file_durably(&self.log_dirs[0].join(META_FILE), &bytes)?;
        Ok(())
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.topic(topic).and_then(|t| t.partition(index))
    }

    /// Validates a topic creation without doing it; returns the resolved config.
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, TopicError> {
        validate_topic_name(name)?;
        if self.topics.read().contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        if partitions < 1 {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be at least 1, got {partitions}"
            )));
        }
        if let Some(c) = self.cluster() {
            c.replication_factor(replication_factor)?;
        } else if replication_factor < 1 {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor must be at least 1, got {replication_factor}"
            )));
        } else if i32::from(replication_factor) > 1 {
            let brokers = 1;
            return Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor {replication_factor} is larger than the number of available brokers ({brokers})"
            )));
        }
        for (k, v) in configs {
            TopicConfig::validate_override(k, v)
                .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
        }
        TopicConfig::resolve(&self.config.read().topic_defaults, configs)
            .map_err(|e| TopicError::InvalidConfig(e.to_string()))
    }

    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        if let Some(c) = self.cluster() {
            let rf = if name.starts_with('_') {
                -1
            } else {
                replication_factor
            };
            self.validate_new_topic(name, partitions, rf, &configs)?;
            let id = Uuid::new_v4();
            let rec = crate::cluster::MetaRecord::CreateTopic {
                name: name.to_string(),
                id,
                configs,
                assignments: c.assignments(name, 0, partitions as usize),
                created_ms: now_ms(),
            };
            c.block_on(c.propose(rec))
                .map_err(|e| TopicError::Meta(e.to_string()))?;
            let ours = c.state.read().topics.get(name).is_some_and(|t| t.id == id);
            return if ours {
                // The fold opened it (or is about to); wait briefly for the local topic.
                self.wait_for_topic(name, id)
            } else {
                Err(TopicError::AlreadyExists(name.to_string()))
            };
        }
        let _g = self.meta_lock.lock();
        let tc = self.validate_new_topic(name, partitions, replication_factor, &configs)?;
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: Uuid::new_v4(),
            replication_factor,
            internal: name.starts_with("__"),
            partitions: RwLock::new(vec![]),
            overrides: RwLock::new(configs),
            config: RwLock::new(tc),
        });
        for p in 0..partitions {
            let part = self
                .open_new_partition(&topic, p)
                .map_err(|e| TopicError::Meta(e.to_string()))?;
            topic.partitions.write().push(part);
        }
        self.topics.write().insert(name.to_string(), topic.clone());
        self.save_meta()
            .map_err(|e| TopicError::Meta(e.to_string()))?;
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    pub fn delete_topic(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(c) = self.cluster() {
            let topic = self
                .topic(name)
                .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
            c.block_on(c.propose(crate::cluster::MetaRecord::DeleteTopic {
                name: name.to_string(),
                id: topic.id,
            }))
            .map_err(|e| TopicError::Meta(e.to_string()))?;
            return Ok(topic);
        }
        let _g = self.meta_lock.lock();
        let topic = self
            .topics
            .write()
            .remove(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        self.save_meta()
            .map_err(|e| TopicError::Meta(e.to_string()))?;
        let parts = std::mem::take(&mut *topic.partitions.write());
        for p in parts {
            let log = p.log.clone();
            drop(p);
            match Arc::try_unwrap(log) {
                Ok(log) => {
                    if let Err(e) = log.delete() {
                        tracing::warn!(topic = name, "deleting partition log: {e}");
                    }
                }
                // A request in flight still holds the log: move its directory aside (as
                // Kafka's `-delete` rename does) so a new topic of the same name starts
                // empty, and remove it once the last holder lets go.
                Err(log) => remove_dir_later(log),
            }
        }
        self.hw_notify.notify_waiters();
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _g = self.meta_lock.lock();
        let topic = self
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partition_count();
        if count <= current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic '{name}' has {current} partitions; the new count must be larger, got {count}"
            )));
        }
        if validate_only {
            return Ok(());
        }
        if let Some(c) = self.cluster() {
            drop(_g);
            let rec = crate::cluster::MetaRecord::CreatePartitions {
                name: name.to_string(),
                id: topic.id,
                assignments: c.assignments(name, current as usize, (count - current) as usize),
            };
            c.block_on(c.propose(rec))
                .map_err(|e| TopicError::Meta(e.to_string()))?;
            return Ok(());
        }
        for p in current..count {
            let part = self
                .open_new_partition(&topic, p)
                .map_err(|e| TopicError::Meta(e.to_string()))?;
            topic.partitions.write().push(part);
        }
        self.save_meta()
            .map_err(|e| TopicError::Meta(e.to_string()))?;
        Ok(())
    }

    /// Replaces a topic's config overrides (validated first) and applies them live.
    pub fn set_topic_overrides(
        &self,
        topic: &Topic,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        for (k, v) in &overrides {
            TopicConfig::validate_override(k, v)
                .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
        }
        let tc = TopicConfig::resolve(&self.config.read().topic_defaults, &overrides)
            .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
        if validate_only {
            return Ok(());
        }
        if let Some(c) = self.cluster() {
            c.block_on(c.propose(crate::cluster::MetaRecord::SetTopicConfigs {
                name: topic.name.clone(),
                id: topic.id,
                configs: overrides,
            }))
            .map_err(|e| TopicError::Meta(e.to_string()))?;
            return Ok(());
        }
        let _g = self.meta_lock.lock();
        let durability = self.config.read().durability;
        for p in topic.partitions.read().iter() {
            p.log.set_config(log_config(&tc, durability));
        }
        *topic.config.write() = tc;
        *topic.overrides.write() = overrides;
        self.save_meta()
            .map_err(|e| TopicError::Meta(e.to_string()))?;
        Ok(())
    }

    /// Re-resolves every topic's config after a broker default changed.
    pub fn refresh_topic_configs(&self) {
        let defaults = self.config.read().topic_defaults.clone();
        let durability = self.config.read().durability;
        for t in self.topics() {
            if let Ok(tc) = TopicConfig::resolve(&defaults, &t.overrides.read()) {
                for p in t.partitions.read().iter() {
                    p.log.set_config(log_config(&tc, durability));
                }
                *t.config.write() = tc;
            }
        }
    }

    /// Makes everything below `end_offset` durable, then moves the high watermark (single
    /// node: the high watermark is the durable log end).
    pub async fn commit_to(
        &self,
        partition: &Arc<Partition>,
        end_offset: i64,
    ) -> Result<(), riffle_storage::StorageError> {
        let log = partition.log.clone();
        tokio::task::spawn_blocking(move || log.flush_to(end_offset))
            .await
            .unwrap_or_else(|e| {
                Err(riffle_storage::StorageError::Io {
                    path: PathBuf::new(),
                    source: std::io::Error::other(e.to_string()),
                })
            })?;
        if partition.advance_high_watermark(end_offset) {
            self.hw_notify.notify_waiters();
        }
        Ok(())
    }

    /// After a truncation or DeleteRecords the high watermark may need to move down/up.
    pub fn reset_high_watermark(&self, partition: &Partition) {
        partition
            .high_watermark
            .store(partition.log.log_end_offset(), Ordering::Release);
        self.hw_notify.notify_waiters();
    }

    /// A new producer id, from a block reserved durably first so ids never repeat.
    pub fn allocate_producer_id(&self) -> anyhow::Result<i64> {
        if let Some(c) = self.cluster() {
            let mut g = self.next_producer_id.lock();
            if g.0 >= g.1 {
                drop(g);
                let start = c.block_on(c.allocate_producer_ids())?;
                g = self.next_producer_id.lock();
                *g = (start, start + crate::cluster::PRODUCER_ID_BLOCK);
            }
            let id = g.0;
            g.0 += 1;
            return Ok(id);
        }
        let mut g = self.next_producer_id.lock();
        if g.0 >= g.1 {
            g.1 = g.0 + PRODUCER_ID_BLOCK;
            drop(g);
            self.save_meta()?;
            g = self.next_producer_id.lock();
        }
        let id = g.0;
        g.0 += 1;
        Ok(id)
    }

    /// One cleaner pass over every compacted partition (each decides by its dirty ratio).
    pub fn compact_logs(&self) {
        let now = now_ms();
        for t in self.topics() {
            if !t.config.read().cleanup_policy.compacts() {
                continue;
            }
            let parts = t.partitions.read().clone();
            // Replicated logs are never cleaned underneath their Raft log (see ARCHITECTURE.md).
            for p in parts.into_iter().filter(|p| p.replica.is_none()) {
                match p.log.compact(now) {
                    Ok(o) if o.cleaned => tracing::debug!(
                        topic = %t.name,
                        partition = p.index,
                        records_removed = o.records_removed,
                        bytes_before = o.bytes_before,
                        bytes_after = o.bytes_after,
                        "compacted"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(topic = %t.name, partition = p.index, "compaction failed: {e}")
                    }
                }
            }
        }
    }

    /// Time and size retention over every partition.
    pub fn apply_retention(&self) {
        let now = now_ms();
        for t in self.topics() {
            for p in t.partitions.read().iter().filter(|p| p.replica.is_none()) {
                match p.log.apply_retention(now) {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::debug!(topic = %t.name, partition = p.index, segments = n, "retention deleted segments")
                    }
                    Err(e) => {
                        tracing::warn!(topic = %t.name, partition = p.index, "retention failed: {e}")
                    }
                }
            }
        }
    }
}

/// Suffix of partition directories of deleted topics awaiting removal.
pub const DELETED_DIR_SUFFIX: &str = "-delete";

fn remove_dir_later(log: Arc<PartitionLog>) {
    let dir = log.dir().to_path_buf();
    let file_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = dir.with_file_name(format!(
        "{file_name}.{}{DELETED_DIR_SUFFIX}",
        Uuid::new_v4().simple()
    ));
    if let Err(e) = std::fs::rename(&dir, &aside) {
        tracing::warn!(dir = %dir.display(), "cannot move a deleted partition aside: {e}");
    }
    std::thread::spawn(move || {
        let mut log = log;
        loop {
            match Arc::try_unwrap(log) {
                Ok(l) => {
                    drop(l);
                    if let Err(e) = std::fs::remove_dir_all(&aside) {
                        tracing::warn!(dir = %aside.display(), "deleting partition log: {e}");
                    }
                    return;
                }
                Err(l) => {
                    log = l;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    });
}

/// Removes leftovers of deleted topics (a crash before their removal finished).
fn remove_deleted_dirs(log_dirs: &[PathBuf]) {
    for d in log_dirs {
        let Ok(entries) = std::fs::read_dir(d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() && path.to_string_lossy().ends_with(DELETED_DIR_SUFFIX) {
                if let Err(err) = std::fs::remove_dir_all(&path) {
                    tracing::warn!(dir = %path.display(), "removing a deleted partition: {err}");
                }
            }
        }
    }
}

/// Cluster mode: every node derives the same cluster id from the voter list.
fn cluster_id_of_voters(voters: &[riffle_config::Voter]) -> String {
    let mut sorted: Vec<String> = voters
        .iter()
        .map(|(id, host, port)| format!("{id}@{host}:{port}"))
        .collect();
    sorted.sort();
    let text = sorted.join(",");
    // Two FNV-1a 64-bit hashes with different offsets make the 16 bytes.
    let fnv = |seed: u64| {
        text.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    bytes[8..].copy_from_slice(&fnv(0x8422_2325_cbf2_9ce4).to_be_bytes());
    base64_uuid(Uuid::from_bytes(bytes))
}

/// Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (22 chars).
fn base64_uuid(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 0x3f) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 0x3f) as usize] as char);
    }
    out
}

/// Runs blocking file I/O without stalling other tasks where the runtime allows it.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `RIFFLE_TEST_UNSAFE_ACK_BEFORE_COMMIT=1`: a deliberately broken build for the fault
/// harness — produce is acknowledged when the leader has appended, not when a majority has.
/// Logged loudly at start; never set it outside tests.
pub fn unsafe_ack_before_commit() -> bool {
    static UNSAFE: OnceLock<bool> = OnceLock::new();
    *UNSAFE.get_or_init(|| {
        std::env::var("RIFFLE_TEST_UNSAFE_ACK_BEFORE_COMMIT").is_ok_and(|v| v == "1")
    })
}

/// Offsets a validated v2 batch takes (its last offset delta + 1), from its header.
fn batch_offset_span(batch: &[u8]) -> i64 {
    riffle_protocol::batch::RecordBatchView::parse(batch)
        .map(|b| i64::from(b.last_offset_delta()) + 1)
        .unwrap_or(1)
}

impl Broker {
    /// Cluster mode's runtime, once started.
    pub fn cluster(&self) -> Option<Arc<crate::cluster::Cluster>> {
        self.cluster.get().cloned()
    }

    /// Starts cluster mode (once, after `open`, inside the runtime).
    pub async fn start_cluster(self: &Arc<Self>) -> anyhow::Result<()> {
        let c = crate::cluster::Cluster::start(self).await?;
        let _ = self.cluster.set(c.clone());
        c.wait_caught_up(CATCH_UP_TIMEOUT).await;
        Ok(())
    }

    /// Brokers of the cluster: (node id, host, port).
    pub fn brokers(&self) -> Vec<(i32, String, i32)> {
        match self.cluster() {
            Some(c) => c
                .state
                .read()
                .brokers
                .iter()
                .map(|(id, (h, p))| (*id, h.clone(), *p))
                .collect(),
            None => {
                let (h, p) = crate::api::metadata::advertised_endpoint(self);
                vec![(self.node_id, h, p)]
            }
        }
    }

    /// The controller's node id (-1: unknown).
    pub fn controller_id(&self) -> i32 {
        match self.cluster() {
            Some(c) => c.controller_id().unwrap_or(-1),
            None => self.node_id,
        }
    }

    /// A partition's leader, epoch, replicas and in-sync replicas as Metadata reports them.
    pub fn partition_view(&self, topic: &Topic, p: &Partition) -> (i32, i32, Vec<i32>, Vec<i32>) {
        let Some(c) = self.cluster() else {
            return (
                self.node_id,
                p.leader_epoch(),
                vec![self.node_id],
                vec![self.node_id],
            );
        };
        if p.is_leader() {
            return (
                self.node_id,
                p.leader_epoch(),
                p.replicas.clone(),
                p.isr.read().clone(),
            );
        }
        let reported = c
            .state
            .read()
            .topics
            .get(&topic.name)
            .filter(|t| t.id == topic.id)
            .and_then(|t| t.partitions.get(p.index as usize).cloned());
        let local_leader = p.leader_node.load(Ordering::Acquire);
        match reported {
            // The leader's own report is the freshest when it is for the current term.
            Some(r) if r.leader == local_leader && r.epoch == p.leader_epoch() => {
                (r.leader, r.epoch, p.replicas.clone(), r.isr)
            }
            Some(r) => (
                local_leader,
                p.leader_epoch(),
                p.replicas.clone(),
                if local_leader >= 0 { r.isr } else { vec![] },
            ),
            None => (local_leader, p.leader_epoch(), p.replicas.clone(), vec![]),
        }
    }

    /// Starts appending one validated batch. The caller holds `partition.writer`, which
    /// orders appends; finish with [`Broker::finish_append`] after releasing it.
    pub async fn start_append(
        &self,
        partition: &Partition,
        mut data: bytes::BytesMut,
        now: i64,
    ) -> Result<Appending, AppendError> {
        match &partition.replica {
            None => {
                let log = partition.log.clone();
                let epoch = partition.leader_epoch();
                let info = blocking(|| log.append(&mut data, epoch, now))?;
                Ok(Appending::Local {
                    base_offset: info.base_offset,
                    end_offset: info.log_end_offset,
                })
            }
            Some(r) => {
                if !partition.is_leader() {
                    return Err(AppendError::NotLeader);
                }
                let records = batch_offset_span(&data);
                let end_before = partition.log.log_end_offset();
                let commit = r
                    .propose_ordered(data.to_vec())
                    .await
                    .map_err(|e| AppendError::Replication(e.to_string()))?;
                if unsafe_ack_before_commit() {
                    // Test-only broken build for the fault harness (issue #5): answer once the
                    // leader has the batch in its own log, before any majority has it.
                    let log = partition.log.clone();
                    let local = async move {
                        tokio::spawn(commit);
                        while log.log_end_offset() <= end_before {
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        }
                        Ok(riffle_replication::Proposed {
                            base_offset: end_before,
                            log_id: Default::default(),
                        })
                    };
                    return Ok(Appending::Replicated {
                        commit: Box::pin(local),
                        records,
                    });
                }
                Ok(Appending::Replicated {
                    commit: Box::pin(commit),
                    records,
                })
            }
        }
    }

    /// Waits until a started append is durable (single node) or committed by a majority
    /// (cluster, at most `timeout`); returns its base offset and the log end after it.
    pub async fn finish_append(
        &self,
        partition: &Arc<Partition>,
        appending: Appending,
        timeout: std::time::Duration,
    ) -> Result<(i64, i64), AppendError> {
        match appending {
            Appending::Local {
                base_offset,
                end_offset,
            } => {
                self.commit_to(partition, end_offset).await?;
                Ok((base_offset, end_offset))
            }
            Appending::Replicated { commit, records } => {
                match tokio::time::timeout(timeout, commit).await {
                    Ok(Ok(p)) => Ok((p.base_offset, p.base_offset + records)),
                    Ok(Err(riffle_replication::ProposeError::NotLeader { .. })) => {
                        Err(AppendError::NotLeader)
                    }
                    Ok(Err(e)) => Err(AppendError::Replication(e.to_string())),
                    Err(_) => Err(AppendError::Timeout),
                }
            }
        }
    }

    /// Cluster mode: makes a topic from the controller's record live on this node (opening
    /// the replicas it hosts) or, with `open` false, only known (it is deleted later in the log).
    pub async fn install_cluster_topic(
        self: &Arc<Self>,
        name: &str,
        meta: &crate::cluster::TopicMeta,
        open: bool,
    ) -> anyhow::Result<()> {
        if !open {
            return Ok(());
        }
        let tc = TopicConfig::resolve(&self.config.read().topic_defaults, &meta.configs)
            .map_err(|e| anyhow::anyhow!("topic '{name}': {e}"))?;
        let topic = Arc::new(Topic {
            internal: name.starts_with("__"),
            name: name.to_string(),
            id: meta.id,
            replication_factor: meta
                .partitions
                .first()
                .map_or(1, |p| p.replicas.len() as i16),
            partitions: RwLock::new(vec![]),
            overrides: RwLock::new(meta.configs.clone()),
            config: RwLock::new(tc),
        });
        for (i, pm) in meta.partitions.iter().enumerate() {
            let part = self
                .open_replica(&topic, i as i32, pm, meta.created_ms)
                .await?;
            topic.partitions.write().push(part);
        }
        self.topics.write().insert(name.to_string(), topic);
        tracing::info!(
            topic = name,
            partitions = meta.partitions.len(),
            "topic is live"
        );
        Ok(())
    }

    /// Cluster mode: opens new partitions of a topic.
    pub async fn add_cluster_partitions(
        self: &Arc<Self>,
        name: &str,
        meta: &crate::cluster::TopicMeta,
        from: usize,
    ) -> anyhow::Result<()> {
        let Some(topic) = self.topic(name).filter(|t| t.id == meta.id) else {
            return Ok(());
        };
        for (i, pm) in meta.partitions.iter().enumerate().skip(from) {
            if (i as i32) < topic.partition_count() {
                continue;
            }
            let part = self
                .open_replica(&topic, i as i32, pm, meta.created_ms)
                .await?;
            topic.partitions.write().push(part);
        }
        Ok(())
    }

    /// Cluster mode: drops a deleted topic (stopping its groups, removing its logs).
    pub fn remove_cluster_topic(&self, name: &str, id: Uuid) {
        let removed = {
            let mut topics = self.topics.write();
            match topics.get(name) {
                Some(t) if t.id == id => topics.remove(name),
                _ => None,
            }
        };
        let Some(topic) = removed else { return };
        let cluster = self.cluster();
        let parts = std::mem::take(&mut *topic.partitions.write());
        for p in parts {
            if let (Some(c), Some(r)) = (&cluster, &p.replica) {
                c.transport.unregister_group(p.group);
                let r = r.clone();
                tokio::spawn(async move { r.shutdown().await });
            }
            remove_dir_later(p.log.clone());
        }
        self.hw_notify.notify_waiters();
        tracing::info!(topic = name, "deleted topic");
    }

    /// Cluster mode: applies a topic's new config overrides.
    pub fn apply_cluster_configs(&self, name: &str, configs: &BTreeMap<String, String>) {
        let Some(topic) = self.topic(name) else {
            return;
        };
        match TopicConfig::resolve(&self.config.read().topic_defaults, configs) {
            Ok(tc) => {
                let durability = self.config.read().durability;
                for p in topic.partitions.read().iter() {
                    p.log.set_config(log_config(&tc, durability));
                }
                *topic.config.write() = tc;
                *topic.overrides.write() = configs.clone();
            }
            Err(e) => tracing::error!(topic = name, "controller config does not resolve: {e}"),
        }
    }

    async fn open_replica(
        self: &Arc<Self>,
        topic: &Topic,
        index: i32,
        pm: &crate::cluster::PartitionMeta,
        created_ms: i64,
    ) -> anyhow::Result<Arc<Partition>> {
        let c = self
            .cluster()
            .ok_or_else(|| anyhow::anyhow!("not in cluster mode"))?;
        let dir = crate::cluster::partition_dir(&self.log_dirs, &topic.name, index);
        if dir.exists() {
            match crate::cluster::read_partition_metadata(&dir) {
                Some(id) if id == topic.id => {}
                Some(other) => {
                    tracing::warn!(dir = %dir.display(), found = %other, topic_id = %topic.id, "removing a directory of another topic incarnation");
                    std::fs::remove_dir_all(&dir)?;
                }
                // Missing or unreadable (torn by a crash of an older build that did not sync
                // it): the data is this topic's as far as anyone can tell, and deleting it
                // loses acknowledged writes when every replica is in the same state. Keep it.
                None => {
                    tracing::warn!(dir = %dir.display(), topic_id = %topic.id, "partition directory without readable metadata: keeping its data as this topic's");
                }
            }
        }
        crate::cluster::write_partition_metadata(&dir, topic.id)?;
        let durability = self.config.read().durability;
        let lc = log_config(&topic.config.read(), durability);
        let replica = riffle_replication::PartitionReplica::open(
            c.node_id as riffle_replication::NodeId,
            &dir,
            lc,
            c.raft_config(),
            c.transport.network(pm.group),
        )
        .await
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", dir.display()))?;
        let replica = Arc::new(replica);
        c.transport.register_group(pm.group, replica.raft().clone());
        // The preferred replica bootstraps a new group; a node that lost its data does not
        // re-bootstrap groups of topics older than itself (the other replicas have them).
        let bootstrap = pm.replicas.first() == Some(&c.node_id)
            && !(c.fresh && created_ms < c.started_ms - BOOTSTRAP_CLOCK_SLACK_MS);
        if bootstrap && !replica.raft().is_initialized().await? {
            let members: std::collections::BTreeSet<riffle_replication::NodeId> = pm
                .replicas
                .iter()
                .map(|r| *r as riffle_replication::NodeId)
                .collect();
            if let Err(e) = replica.raft().initialize(members).await {
                tracing::debug!("partition group already initialised: {e}");
            }
        }
        let log = replica.partition_log().clone();
        let part = Arc::new(Partition {
            topic: topic.name.clone(),
            index,
            log,
            leader_epoch: AtomicI32::new(0),
            high_watermark: AtomicI64::new(0),
            writer: tokio::sync::Mutex::new(ProducerStateMap::default()),
            replica: Some(replica.clone()),
            replicas: pm.replicas.clone(),
            leader_node: AtomicI32::new(-1),
            leader_ready: AtomicBool::new(false),
            isr: RwLock::new(vec![]),
            group: pm.group,
        });
        tokio::spawn(crate::cluster::watch_partition(
            Arc::downgrade(self),
            part.clone(),
            replica,
            topic.id,
        ));
        Ok(part)
    }

    /// Cluster mode: waits (briefly) until the fold has made a created topic live here.
    fn wait_for_topic(&self, name: &str, id: Uuid) -> Result<Arc<Topic>, TopicError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(t) = self.topic(name).filter(|t| t.id == id) {
                return Ok(t);
            }
            if std::time::Instant::now() >= deadline {
                return Err(TopicError::Meta(format!(
                    "topic '{name}' was created but is not open on node {} yet",
                    self.node_id
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Cluster mode: marks a `__consumer_offsets` partition as coordinated here (or not).
    pub fn coordinator_loaded(&self, partition: i32, loaded: bool) {
        let mut c = self.coordinating.lock();
        if loaded {
            c.insert(partition);
        } else {
            c.remove(&partition);
        }
    }

    /// Whether this node coordinates `group_id` now: None if it does, else the Kafka error
    /// (NOT_COORDINATOR, or COORDINATOR_LOAD_IN_PROGRESS while loading).
    pub fn coordinator_error(
        &self,
        group_id: &str,
    ) -> Option<kafka_protocol::error::ResponseError> {
        use kafka_protocol::error::ResponseError;
        self.cluster()?;
        let p = self.groups.partition_for(group_id);
        if self.coordinating.lock().contains(&p) {
            return None;
        }
        match self.partition(crate::group::records::OFFSETS_TOPIC, p) {
            Some(part) if part.is_leader() => Some(ResponseError::CoordinatorLoadInProgress),
            _ => Some(ResponseError::NotCoordinator),
        }
    }

    /// Cluster mode: a partition's leadership changed on this node.
    pub fn on_leadership(self: &Arc<Self>, partition: &Arc<Partition>, leading: bool) {
        if partition.topic == crate::group::records::OFFSETS_TOPIC {
            crate::group::offsets_topic::on_leadership(self, partition, leading);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("user.attempts").is_ok());
        assert!(validate_topic_name("a-b_c.D9").is_ok());
        assert!(validate_topic_name("bad/name").is_err());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn cluster_id_is_22_url_safe_chars() {
        let id = base64_uuid(Uuid::nil());
        assert_eq!(id, "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(base64_uuid(Uuid::new_v4()).len(), 22);
    }
}
