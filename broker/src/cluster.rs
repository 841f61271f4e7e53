//! Cluster mode (`controller.quorum.voters` set): the metadata Raft group and partition groups.
//!
//! The controller is a Raft group (group id 0) whose log is the internal partition
//! `__cluster_metadata-0` in the first log directory, like KRaft's metadata topic: each
//! record's value is one JSON [`MetaRecord`]. Every node folds the committed records, in order,
//! into the same [`MetaState`] (brokers, topics with their configs and replica assignments,
//! producer-id blocks) and applies their effects locally: opening the Raft replica of every
//! partition it hosts, dropping deleted topics, applying configs. Any node may propose: the
//! leader appends, others forward the batch to the leader over the node-to-node transport.
//!
//! Partitions: one Raft group each (group ids handed out by the fold), whose log is the
//! partition log. The preferred replica (first of the assignment) initialises a new group.
//! A watcher per partition follows leadership: on becoming leader it rebuilds the idempotent
//! producer state from its log (the log is the replicated truth) before accepting produce,
//! and it wakes long-polling fetches when the high watermark moves.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use parking_lot::RwLock;
use riffle_replication::transport::{ForwardError, GroupId, Transport};
use riffle_replication::{NodeId, PartitionReplica, ProposeError};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use crate::state::{now_ms, Broker, TopicError};

/// The controller's log, a partition in the first log directory.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// The controller's Raft group id.
pub const METADATA_GROUP: GroupId = 0;
/// Producer ids per block handed to a node.
pub const PRODUCER_ID_BLOCK: i64 = 1000;
/// How long a metadata proposal may take (leader election included).
pub const PROPOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// File in each partition directory naming the topic id it belongs to (as Kafka writes).
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// How long a caught-up preferred replica follows another leader before taking over.
const PREFERRED_LEADER_DELAY: Duration = Duration::from_secs(10);
/// How long a (re)connected follower must be connected before it can count as in sync.
const FOLLOWER_SETTLE: Duration = Duration::from_secs(1);
/// How often a leader re-evaluates its in-sync replicas.
const ISR_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Bytes read per step while folding the metadata log.
const FOLD_READ_BYTES: u32 = 1 << 20;

/// One controller record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetaRecord {
    RegisterBroker {
        node_id: i32,
        host: String,
        port: i32,
    },
    CreateTopic {
        name: String,
        id: Uuid,
        configs: BTreeMap<String, String>,
        assignments: Vec<Vec<i32>>,
        /// When the controller accepted it (wall clock of the proposer, ms).
        #[serde(default)]
        created_ms: i64,
    },
    DeleteTopic {
        name: String,
        id: Uuid,
    },
    CreatePartitions {
        name: String,
        id: Uuid,
        /// Assignments of the new partitions only.
        assignments: Vec<Vec<i32>>,
    },
    SetTopicConfigs {
        name: String,
        id: Uuid,
        configs: BTreeMap<String, String>,
    },
    AllocateProducerIds {
        node_id: i32,
        request: Uuid,
    },
    /// A partition leader's report of its leadership and in-sync replicas.
    PartitionState {
        name: String,
        id: Uuid,
        partition: i32,
        leader: i32,
        epoch: i32,
        isr: Vec<i32>,
    },
}

/// A partition as the controller knows it.
#[derive(Clone, Debug)]
pub struct PartitionMeta {
    pub replicas: Vec<i32>,
    pub group: GroupId,
    /// Last reported leader (-1: none yet), its epoch, and the in-sync replicas it reported.
    pub leader: i32,
    pub epoch: i32,
    pub isr: Vec<i32>,
}

impl PartitionMeta {
    fn new(replicas: Vec<i32>, group: GroupId) -> Self {
        PartitionMeta {
            isr: replicas.clone(),
            replicas,
            group,
            leader: -1,
            epoch: -1,
        }
    }
}

/// A topic as the controller knows it.
#[derive(Clone, Debug)]
pub struct TopicMeta {
    pub id: Uuid,
    pub created_ms: i64,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionMeta>,
}

/// The fold of the metadata log.
#[derive(Clone, Debug)]
pub struct MetaState {
    pub brokers: BTreeMap<i32, (String, i32)>,
    pub topics: BTreeMap<String, TopicMeta>,
    pub next_group: GroupId,
    pub next_producer_id: i64,
    pub producer_id_blocks: HashMap<Uuid, i64>,
}

impl Default for MetaState {
    fn default() -> Self {
        MetaState {
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            next_group: METADATA_GROUP + 1,
            next_producer_id: 0,
            producer_id_blocks: HashMap::new(),
        }
    }
}

/// What applying one record asks the node to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    OpenTopic(String),
    DropTopic(String, Uuid),
    AddPartitions(String, usize),
    ConfigsChanged(String),
}

impl MetaState {
    /// Applies one committed record (pure; every node gets the same result).
    pub fn apply(&mut self, rec: MetaRecord) -> Effect {
        match rec {
            MetaRecord::RegisterBroker {
                node_id,
                host,
                port,
            } => {
                self.brokers.insert(node_id, (host, port));
                Effect::None
            }
            MetaRecord::CreateTopic {
                name,
                id,
                configs,
                assignments,
                created_ms,
            } => {
                if self.topics.contains_key(&name) {
                    return Effect::None;
                }
                let partitions = assignments
                    .into_iter()
                    .map(|replicas| {
                        let group = self.next_group;
                        self.next_group += 1;
                        PartitionMeta::new(replicas, group)
                    })
                    .collect();
                self.topics.insert(
                    name.clone(),
                    TopicMeta {
                        id,
                        created_ms,
                        configs,
                        partitions,
                    },
                );
                Effect::OpenTopic(name)
            }
            MetaRecord::DeleteTopic { name, id } => match self.topics.get(&name) {
                Some(t) if t.id == id => {
                    self.topics.remove(&name);
                    Effect::DropTopic(name, id)
                }
                _ => Effect::None,
            },
            MetaRecord::CreatePartitions {
                name,
                id,
                assignments,
            } => match self.topics.get_mut(&name) {
                Some(t) if t.id == id => {
                    let from = t.partitions.len();
                    for replicas in assignments {
                        let group = self.next_group;
                        self.next_group += 1;
                        t.partitions.push(PartitionMeta::new(replicas, group));
                    }
                    Effect::AddPartitions(name, from)
                }
                _ => Effect::None,
            },
            MetaRecord::SetTopicConfigs { name, id, configs } => match self.topics.get_mut(&name) {
                Some(t) if t.id == id => {
                    t.configs = configs;
                    Effect::ConfigsChanged(name)
                }
                _ => Effect::None,
            },
            MetaRecord::PartitionState {
                name,
                id,
                partition,
                leader,
                epoch,
                isr,
            } => {
                if let Some(p) = self
                    .topics
                    .get_mut(&name)
                    .filter(|t| t.id == id)
                    .and_then(|t| t.partitions.get_mut(partition as usize))
                {
                    if epoch >= p.epoch {
                        p.leader = leader;
                        p.epoch = epoch;
                        p.isr = isr;
                    }
                }
                Effect::None
            }
            MetaRecord::AllocateProducerIds { request, .. } => {
                if !self.producer_id_blocks.contains_key(&request) {
                    self.producer_id_blocks
                        .insert(request, self.next_producer_id);
                    self.next_producer_id += PRODUCER_ID_BLOCK;
                }
                Effect::None
            }
        }
    }
}

/// Why a controller operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no controller is available: {0}")]
    NoController(String),
    #[error("the controller did not commit the change in time")]
    Timeout,
    #[error("{0}")]
    Other(String),
}

/// Replica placement: partition `p` of a topic gets every node, starting at a rotation that
/// spreads preferred leaders across nodes.
pub fn assign(nodes: &[i32], first_partition: usize, count: usize, salt: usize) -> Vec<Vec<i32>> {
    let n = nodes.len().max(1);
    (first_partition..first_partition + count)
        .map(|p| {
            (0..nodes.len())
                .map(|k| nodes[(p + salt + k) % n])
                .collect()
        })
        .collect()
}

/// This node's cluster runtime.
pub struct Cluster {
    pub node_id: i32,
    pub voters: Vec<i32>,
    pub transport: Transport,
    pub meta: Arc<PartitionReplica>,
    pub state: RwLock<MetaState>,
    applied: watch::Sender<i64>,
    raft_config: Arc<openraft::Config>,
    runtime: tokio::runtime::Handle,
    /// Topic ids deleted later in the local metadata log: never opened while replaying.
    deleted_ids: HashSet<Uuid>,
    /// When this process started (ms): a node that lost its data does not bootstrap groups
    /// of topics created before it started (their other replicas have the data).
    pub started_ms: i64,
    /// This node started without its data directory's state (new, or wiped).
    pub fresh: bool,
}

fn addr_of(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("cannot resolve {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host}:{port} resolves to no address"))
}

/// Encodes one controller record as a one-record batch.
pub fn encode_record(rec: &MetaRecord) -> anyhow::Result<BytesMut> {
    let key = match rec {
        MetaRecord::RegisterBroker { .. } => "RegisterBroker",
        MetaRecord::CreateTopic { .. } => "CreateTopic",
        MetaRecord::DeleteTopic { .. } => "DeleteTopic",
        MetaRecord::CreatePartitions { .. } => "CreatePartitions",
        MetaRecord::SetTopicConfigs { .. } => "SetTopicConfigs",
        MetaRecord::AllocateProducerIds { .. } => "AllocateProducerIds",
        MetaRecord::PartitionState { .. } => "PartitionState",
    };
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: NO_SEQUENCE,
        timestamp: now_ms(),
        key: Some(Bytes::from_static(key.as_bytes())),
        value: Some(Bytes::from(serde_json::to_vec(rec)?)),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &[record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| anyhow::anyhow!("encoding a metadata record: {e}"))?;
    Ok(buf)
}

/// Decodes the controller records in whole batches; returns them and the next offset.
fn decode_records(bytes: &Bytes) -> (Vec<MetaRecord>, Option<i64>) {
    let (raw, next, errors) = crate::internal_topic::decode_keyed_batches(bytes);
    for e in errors {
        tracing::error!("undecodable {METADATA_TOPIC} batch: {e}");
    }
    let mut out = Vec::with_capacity(raw.len());
    for (_, value) in raw {
        match value.map(|v| serde_json::from_slice::<MetaRecord>(&v)) {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => tracing::error!("undecodable {METADATA_TOPIC} record: {e}"),
            None => {}
        }
    }
    (out, next)
}

impl Cluster {
    /// Starts this node's part of the cluster: the transport on the CONTROLLER listener, the
    /// metadata group (initialised by the lowest voter id on first start), the fold, and this
    /// node's registration.
    pub async fn start(broker: &Arc<Broker>) -> anyhow::Result<Arc<Cluster>> {
        let (node_id, voters_cfg, controller, client) = {
            let cfg = broker.config.read();
            let controller = cfg
                .listeners
                .iter()
                .find(|l| l.name == "CONTROLLER")
                .cloned()
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "controller.quorum.voters is set, so `listeners` needs a CONTROLLER://host:port entry for node-to-node traffic"
                    )
                })?;
            (
                cfg.node_id,
                cfg.controller_quorum_voters.clone(),
                controller,
                crate::api::metadata::advertised_endpoint(broker),
            )
        };
        anyhow::ensure!(
            voters_cfg.iter().any(|v| v.0 == node_id),
            "node.id={node_id} is not one of controller.quorum.voters"
        );
        let listen = addr_of(&controller.host, controller.port)?;
        let transport = Transport::bind(node_id as NodeId, listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot listen on {listen} (listeners=CONTROLLER://{listen}): {e}")
            })?;
        for (id, host, port) in &voters_cfg {
            if *id != node_id {
                transport.add_peer(*id as NodeId, addr_of(host, *port)?);
            }
        }
        let mut voters: Vec<i32> = voters_cfg.iter().map(|v| v.0).collect();
        voters.sort_unstable();
        let raft_config = Arc::new(
            riffle_replication::partition_raft_config()
                .validate()
                .map_err(|e| anyhow::anyhow!("raft config: {e}"))?,
        );
        let dir = broker.log_dirs[0].join(format!("{METADATA_TOPIC}-0"));
        let log_config = riffle_storage::LogConfig::default();
        let meta = PartitionReplica::open(
            node_id as NodeId,
            &dir,
            log_config,
            raft_config.clone(),
            transport.network(METADATA_GROUP),
        )
        .await
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", dir.display()))?;
        transport.register_group(METADATA_GROUP, meta.raft().clone());
        // A node that starts without its data votes only once caught up (vote_guard.rs).
        transport.set_vote_guard(Arc::new(riffle_replication::VoteGuard::new(broker.fresh)));
        if broker.fresh {
            tracing::info!("starting without local data: this node votes in a group only after catching up with it");
        }
        // Topics deleted later in the local log are never opened while replaying it (a
        // re-created topic of the same name owns the directory by then).
        let deleted_ids = {
            let log = meta.partition_log().clone();
            tokio::task::spawn_blocking(move || {
                let mut ids = HashSet::new();
                let end = log.log_end_offset();
                let mut offset = log.log_start_offset();
                while offset < end {
                    let Ok(read) = log.read(offset, FOLD_READ_BYTES, end) else {
                        break;
                    };
                    if read.bytes.is_empty() {
                        break;
                    }
                    let (recs, next) = decode_records(&read.bytes);
                    for r in recs {
                        if let MetaRecord::DeleteTopic { id, .. } = r {
                            ids.insert(id);
                        }
                    }
                    match next {
                        Some(n) if n > offset => offset = n,
                        _ => break,
                    }
                }
                ids
            })
            .await?
        };
        if voters[0] == node_id && !meta.raft().is_initialized().await? {
            let members: BTreeSet<NodeId> = voters.iter().map(|v| *v as NodeId).collect();
            if let Err(e) = meta.raft().initialize(members).await {
                tracing::info!("metadata group already initialised: {e}");
            }
        }
        let cluster = Arc::new(Cluster {
            node_id,
            voters,
            transport,
            meta: Arc::new(meta),
            state: RwLock::new(MetaState::default()),
            applied: watch::channel(0).0,
            raft_config,
            runtime: tokio::runtime::Handle::current(),
            deleted_ids,
            started_ms: now_ms(),
            fresh: broker.fresh,
        });
        tokio::spawn(fold_loop(Arc::downgrade(broker), cluster.clone()));
        // Register (idempotent) until the fold shows this node with its current address.
        let c = cluster.clone();
        tokio::spawn(async move {
            let (host, port) = client;
            loop {
                let known = c.state.read().brokers.get(&c.node_id).cloned();
                if known.as_ref() == Some(&(host.clone(), port)) {
                    return;
                }
                let rec = MetaRecord::RegisterBroker {
                    node_id: c.node_id,
                    host: host.clone(),
                    port,
                };
                if let Err(e) = c.propose(rec).await {
                    tracing::debug!("registering with the controller: {e}");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        });
        Ok(cluster)
    }

    /// Waits until this node has caught up with the metadata log (a leader is known, every
    /// local entry is applied, and the fold has reached the high watermark), so it never
    /// serves a partial topic list after a restart. Gives up after `timeout` with a warning.
    pub async fn wait_caught_up(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut metrics = self.meta.raft().metrics();
        loop {
            let ready = {
                let m = metrics.borrow_and_update();
                m.current_leader.is_some() && m.last_applied.map(|l| l.index) >= m.last_log_index
            };
            if ready {
                let hw = self.meta.high_watermark();
                let mut applied = self.applied.subscribe();
                let folded =
                    tokio::time::timeout_at(deadline.into(), applied.wait_for(|a| *a >= hw)).await;
                if matches!(folded, Ok(Ok(_))) {
                    return;
                }
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    "not caught up with the cluster metadata after {timeout:?} (no majority reachable?); serving what is known"
                );
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), metrics.changed()).await;
        }
    }

    /// The controller (metadata group leader) as this node knows it.
    pub fn controller_id(&self) -> Option<i32> {
        self.meta.leader_and_term().0.map(|l| l as i32)
    }

    /// Proposes a record and waits until this node's fold has applied it; returns its offset.
    pub async fn propose(&self, rec: MetaRecord) -> Result<i64, ClusterError> {
        let batch = encode_record(&rec).map_err(|e| ClusterError::Other(e.to_string()))?;
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        let offset = loop {
            let (leader, _) = self.meta.leader_and_term();
            let attempt = match leader {
                Some(l) if l == self.node_id as NodeId => self
                    .meta
                    .propose(batch.to_vec())
                    .await
                    .map(|p| p.base_offset)
                    .map_err(|e| match e {
                        ProposeError::NotLeader { .. } => None,
                        e => Some(ClusterError::Other(e.to_string())),
                    }),
                Some(l) => self
                    .transport
                    .forward_write(l, METADATA_GROUP, batch.to_vec(), Duration::from_secs(5))
                    .await
                    .map_err(|e| match e {
                        ForwardError::NotLeader(_) | ForwardError::Unreachable(_) => None,
                        ForwardError::Refused(m) => Some(ClusterError::Other(m)),
                    }),
                None => Err(None),
            };
            match attempt {
                Ok(o) => break o,
                Err(Some(e)) => return Err(e),
                Err(None) if Instant::now() >= deadline => {
                    return Err(ClusterError::NoController(format!(
                        "no metadata leader reachable from node {} within {:?}",
                        self.node_id, PROPOSE_TIMEOUT
                    )))
                }
                Err(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let mut applied = self.applied.subscribe();
        let outcome =
            tokio::time::timeout_at(deadline.into(), applied.wait_for(|a| *a > offset)).await;
        match outcome {
            Ok(Ok(_)) => Ok(offset),
            _ => Err(ClusterError::Timeout),
        }
    }

    /// Runs `f` to completion from synchronous code (a blocking handler or a blocking thread).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        let handle = self.runtime.clone();
        tokio::task::block_in_place(move || handle.block_on(f))
    }

    /// A producer-id block for this node.
    pub async fn allocate_producer_ids(&self) -> Result<i64, ClusterError> {
        let request = Uuid::new_v4();
        self.propose(MetaRecord::AllocateProducerIds {
            node_id: self.node_id,
            request,
        })
        .await?;
        self.state
            .read()
            .producer_id_blocks
            .get(&request)
            .copied()
            .ok_or_else(|| ClusterError::Other("producer id block not recorded".into()))
    }

    /// Validates a replication factor for a new topic: every partition lives on every node.
    pub fn replication_factor(&self, requested: i16) -> Result<i16, TopicError> {
        let n = self.voters.len() as i16;
        if requested == -1 || requested == n {
            Ok(n)
        } else {
            Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor {requested} is not supported: a Riffle cluster of {n} nodes \
                 places every partition on every node, so the replication factor must be {n} (or -1)"
            )))
        }
    }

    /// Replica assignments for `count` new partitions of `topic` starting at `first`.
    pub fn assignments(&self, topic: &str, first: usize, count: usize) -> Vec<Vec<i32>> {
        let salt = topic
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        assign(&self.voters, first, count, salt)
    }

    pub fn raft_config(&self) -> Arc<openraft::Config> {
        self.raft_config.clone()
    }
}

/// Folds committed metadata records as the metadata group's high watermark moves.
async fn fold_loop(broker: Weak<Broker>, cluster: Arc<Cluster>) {
    let mut hw = cluster.meta.subscribe_high_watermark();
    let log = cluster.meta.partition_log().clone();
    let mut offset = log.log_start_offset();
    loop {
        let end = *hw.borrow_and_update();
        while offset < end {
            let l = log.clone();
            let from = offset;
            let read =
                tokio::task::spawn_blocking(move || l.read(from, FOLD_READ_BYTES, end)).await;
            let bytes = match read {
                Ok(Ok(r)) if !r.bytes.is_empty() => r.bytes,
                Ok(Ok(_)) => break,
                Ok(Err(e)) => {
                    tracing::error!("reading {METADATA_TOPIC} at {offset}: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
                Err(_) => return,
            };
            let (records, next) = decode_records(&bytes);
            for rec in records {
                let effect = cluster.state.write().apply(rec);
                let Some(b) = broker.upgrade() else { return };
                if let Err(e) = apply_effect(&b, &cluster, effect).await {
                    tracing::error!("applying a metadata change: {e:#}");
                }
            }
            match next {
                Some(n) if n > offset => offset = n,
                _ => break,
            }
            cluster.applied.send_replace(offset);
        }
        if hw.changed().await.is_err() {
            return;
        }
    }
}

async fn apply_effect(
    broker: &Arc<Broker>,
    cluster: &Arc<Cluster>,
    effect: Effect,
) -> anyhow::Result<()> {
    match effect {
        Effect::None => Ok(()),
        Effect::OpenTopic(name) => {
            let meta = cluster.state.read().topics.get(&name).cloned();
            let Some(meta) = meta else { return Ok(()) };
            if cluster.deleted_ids.contains(&meta.id) {
                // Deleted later in the log: nothing to open.
                broker.install_cluster_topic(&name, &meta, false).await
            } else {
                broker.install_cluster_topic(&name, &meta, true).await
            }
        }
        Effect::DropTopic(name, id) => {
            broker.remove_cluster_topic(&name, id);
            Ok(())
        }
        Effect::AddPartitions(name, from) => {
            let meta = cluster.state.read().topics.get(&name).cloned();
            let Some(meta) = meta else { return Ok(()) };
            if cluster.deleted_ids.contains(&meta.id) {
                return Ok(());
            }
            broker.add_cluster_partitions(&name, &meta, from).await
        }
        Effect::ConfigsChanged(name) => {
            let meta = cluster.state.read().topics.get(&name).cloned();
            if let Some(meta) = meta {
                broker.apply_cluster_configs(&name, &meta.configs);
            }
            Ok(())
        }
    }
}

/// Writes `partition.metadata` (Kafka's format) naming the topic id a directory belongs to.
///
/// Durable before the replica opens (a torn or empty file after a crash used to make the next
/// start remove the whole partition directory as "another topic incarnation": found by the
/// Jepsen-style harness's loss of un-fsynced writes). Not rewritten when it already says so.
pub fn write_partition_metadata(dir: &std::path::Path, id: Uuid) -> std::io::Result<()> {
    let text = format!("version: 0\ntopic_id: {}\n", id.simple());
    let path = dir.join(PARTITION_METADATA_FILE);
    if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        // The new directory's entry in the log dir must be durable too.
        if let Some(parent) = dir.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
    }
    crate::state::write_file_durably(&path, text.as_bytes())
}

/// The topic id recorded in a partition directory, if any.
pub fn read_partition_metadata(dir: &std::path::Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(dir.join(PARTITION_METADATA_FILE)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id: "))
        .and_then(|s| Uuid::parse_str(s.trim()).ok())
}

/// Follows one partition replica: leadership (rebuilding producer state before a new leader
/// accepts writes), the in-sync replicas while leading (reported to the controller), and
/// high-watermark moves (waking long polls).
pub async fn watch_partition(
    broker: Weak<Broker>,
    partition: Arc<crate::state::Partition>,
    replica: Arc<PartitionReplica>,
    topic_id: Uuid,
) {
    let me = replica.node_id();
    let mut metrics = replica.raft().metrics();
    let mut hw = replica.subscribe_high_watermark();
    let mut ready_term: Option<u64> = None;
    // (term, the last log index when this node was first seen leading in that term).
    let mut lead_start: Option<(u64, Option<u64>)> = None;
    let mut caught_up_at: HashMap<NodeId, Instant> = HashMap::new();
    let mut reported: Option<(i32, i32, Vec<i32>)> = None;
    let mut not_preferred_since: Option<Instant> = None;
    let mut connected_since: HashMap<NodeId, (u64, Instant)> = HashMap::new();
    let mut last_matched: HashMap<NodeId, Option<u64>> = HashMap::new();
    let mut tick = tokio::time::interval(ISR_CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let m = metrics.borrow_and_update().clone();
        let term = m.current_term;
        if m.current_leader == Some(me)
            && m.state == openraft::ServerState::Leader
            && lead_start.map(|(t, _)| t) != Some(m.current_term)
        {
            lead_start = Some((m.current_term, m.last_log_index));
        }
        let leadership = Leadership::of(&m, me, lead_start.and_then(|(_, i)| i));
        let is_leader = leadership != Leadership::NotLeader;
        partition
            .leader_node
            .store(m.current_leader.map_or(-1, |l| l as i32), Ordering::Release);
        let Some(b) = broker.upgrade() else { return };
        if leadership == Leadership::Elected && ready_term != Some(term) {
            partition.leader_ready.store(false, Ordering::Release);
        } else if is_leader {
            if ready_term != Some(term) {
                partition.leader_ready.store(false, Ordering::Release);
                let mut writer = partition.writer.lock().await;
                let log = partition.log.clone();
                let rebuilt = tokio::task::spawn_blocking(move || {
                    crate::state::producer_state_from_log(&log)
                })
                .await;
                match rebuilt {
                    Ok(Ok(state)) => {
                        *writer = state;
                        partition.set_leader_epoch(term as i32);
                        ready_term = Some(term);
                        caught_up_at.clear();
                        connected_since.clear();
                        last_matched.clear();
                        partition.leader_ready.store(true, Ordering::Release);
                        tracing::info!(topic = %partition.topic, partition = partition.index, term, "leading");
                    }
                    Ok(Err(e)) => {
                        tracing::error!(topic = %partition.topic, partition = partition.index, "rebuilding producer state: {e}")
                    }
                    Err(_) => return,
                }
                drop(writer);
                b.on_leadership(&partition, true);
            }
            // In sync: connected and caught up with the leader's log within
            // replica.lag.time.max.ms (the leader always is). A follower that (re)connected
            // counts only after a few heartbeats, so a stale match from before it restarted
            // (or lost its disk) cannot put it in the ISR; a match that moved back resets it.
            let now = Instant::now();
            let lag_max =
                Duration::from_millis(b.config.read().replica_lag_time_max_ms.max(0) as u64);
            let last = m.last_log_index;
            let transport = b.cluster().map(|c| c.transport.clone());
            if let Some(rep) = &m.replication {
                for (node, matched) in rep.iter() {
                    if *node == me {
                        continue;
                    }
                    let generation = transport
                        .as_ref()
                        .and_then(|t| t.connection_generation(*node));
                    let Some(generation) = generation else {
                        connected_since.remove(node);
                        caught_up_at.remove(node);
                        continue;
                    };
                    // A reconnect (the follower restarted, maybe without its data) starts over.
                    if connected_since
                        .get(node)
                        .is_some_and(|(g, _)| *g != generation)
                    {
                        connected_since.remove(node);
                        caught_up_at.remove(node);
                        last_matched.remove(node);
                    }
                    let since = connected_since.entry(*node).or_insert((generation, now)).1;
                    let matched = matched.map(|l| l.index);
                    if last_matched.get(node).is_some_and(|prev| matched < *prev) {
                        caught_up_at.remove(node);
                    }
                    last_matched.insert(*node, matched);
                    if now.duration_since(since) >= FOLLOWER_SETTLE && matched >= last {
                        caught_up_at.insert(*node, now);
                    }
                }
            }
            let mut isr: Vec<i32> = partition
                .replicas
                .iter()
                .copied()
                .filter(|r| {
                    *r as NodeId == me
                        || (b
                            .cluster()
                            .is_some_and(|c| c.transport.is_connected(*r as NodeId))
                            && caught_up_at
                                .get(&(*r as NodeId))
                                .is_some_and(|t| now.duration_since(*t) <= lag_max))
                })
                .collect();
            isr.sort_unstable();
            *partition.isr.write() = isr.clone();
            let state = (me as i32, term as i32, isr);
            if reported.as_ref() != Some(&state) {
                if let Some(c) = b.cluster() {
                    let rec = MetaRecord::PartitionState {
                        name: partition.topic.clone(),
                        id: topic_id,
                        partition: partition.index,
                        leader: state.0,
                        epoch: state.1,
                        isr: state.2.clone(),
                    };
                    tokio::spawn(async move {
                        if let Err(e) = c.propose(rec).await {
                            tracing::debug!("reporting partition state: {e}");
                        }
                    });
                }
                reported = Some(state);
            }
        } else {
            // Preferred-leader balancing: the first assigned replica, once it has followed
            // another leader with a caught-up log for a while, takes leadership back.
            let preferred = partition.replicas.first().map(|r| *r as NodeId) == Some(me);
            let caught_up = m.last_applied.map(|l| l.index) == m.last_log_index;
            let other_leader = m.current_leader.is_some_and(|l| l != me);
            if preferred && caught_up && other_leader && m.state == openraft::ServerState::Follower
            {
                let since = *not_preferred_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= PREFERRED_LEADER_DELAY {
                    tracing::info!(topic = %partition.topic, partition = partition.index, "taking back leadership as the preferred replica");
                    let _ = replica.raft().trigger().elect().await;
                    not_preferred_since = None;
                }
            } else {
                not_preferred_since = None;
            }
            if ready_term.take().is_some() {
                b.on_leadership(&partition, false);
            }
            reported = None;
            partition.leader_ready.store(false, Ordering::Release);
            partition.set_leader_epoch(term as i32);
        }
        drop(b);
        tokio::select! {
            r = metrics.changed() => if r.is_err() { return },
            r = hw.changed() => {
                if r.is_err() { return }
                match broker.upgrade() {
                    Some(b) => b.hw_notify.notify_waiters(),
                    None => return,
                }
            }
            _ = tick.tick() => {}
        }
    }
}

/// What a replica may do as (or not as) its group's leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leadership {
    NotLeader,
    /// Elected, but its log is not yet applied up to where it stood when it took the lead: its
    /// high watermark may be below records earlier leaders (or its own earlier life) acknowledged
    /// — after a restart it starts at the log start, and openraft resumes a leader's term after a
    /// restart without an election. Serving now answered OffsetForLeaderEpoch with an end below
    /// records consumers had read (librdkafka: "Partition log truncation detected"); found by the
    /// Jepsen-style harness, first under packet loss, then after a whole-cluster restart.
    Elected,
    /// Applied at least up to its last log index when it took the lead. A leader's log holds
    /// every committed entry, so everything committed before its leadership is applied and its
    /// high watermark is at least every offset acknowledged before.
    Serving,
}

impl Leadership {
    /// `lead_start`: the last log index when this node was first seen leading in this term.
    fn of(
        m: &openraft::RaftMetrics<NodeId, openraft::BasicNode>,
        me: NodeId,
        lead_start: Option<u64>,
    ) -> Leadership {
        if m.current_leader != Some(me) || m.state != openraft::ServerState::Leader {
            Leadership::NotLeader
        } else if m.last_applied.map(|l| l.index) >= lead_start {
            Leadership::Serving
        } else {
            Leadership::Elected
        }
    }
}

/// The directory of a partition replica in cluster mode.
pub fn partition_dir(log_dirs: &[PathBuf], topic: &str, index: i32) -> PathBuf {
    let name = format!("{topic}-{index}");
    for d in log_dirs {
        let p = d.join(&name);
        if p.exists() {
            return p;
        }
    }
    log_dirs[index as usize % log_dirs.len()].join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_elected_leader_serves_only_once_applied_to_where_its_log_stood() {
        use openraft::{CommittedLeaderId, LogId, RaftMetrics, ServerState};
        let mut m = RaftMetrics::<NodeId, openraft::BasicNode>::new_initial(2);
        m.current_term = 7;
        m.current_leader = Some(2);
        m.state = ServerState::Leader;
        // Restarted (openraft resumed its leadership of term 7 without an election): the log
        // holds entries up to index 41, term 7 from index 30 on; applied only up to 35 so far.
        m.last_log_index = Some(41);
        let start = m.last_log_index;
        m.last_applied = Some(LogId::new(CommittedLeaderId::new(7, 2), 35));
        // An applied entry of its own term is not enough: 36..=41 may hold acknowledged records.
        assert_eq!(Leadership::of(&m, 2, start), Leadership::Elected);
        m.last_applied = None;
        assert_eq!(Leadership::of(&m, 2, start), Leadership::Elected);
        m.last_applied = Some(LogId::new(CommittedLeaderId::new(7, 2), 41));
        assert_eq!(Leadership::of(&m, 2, start), Leadership::Serving);
        // Later appends of its own do not take it back.
        m.last_log_index = Some(45);
        assert_eq!(Leadership::of(&m, 2, start), Leadership::Serving);
        assert_eq!(Leadership::of(&m, 3, start), Leadership::NotLeader);
        m.state = ServerState::Follower;
        assert_eq!(Leadership::of(&m, 2, start), Leadership::NotLeader);
        // An empty group's first leader has nothing to wait for.
        let mut m = RaftMetrics::<NodeId, openraft::BasicNode>::new_initial(1);
        m.current_term = 1;
        m.current_leader = Some(1);
        m.state = ServerState::Leader;
        assert_eq!(Leadership::of(&m, 1, None), Leadership::Serving);
    }

    #[test]
    fn fold_creates_deletes_and_recreates_topics_with_fresh_groups() {
        let mut s = MetaState::default();
        let a = Uuid::new_v4();
        let e = s.apply(MetaRecord::CreateTopic {
            name: "t".into(),
            id: a,
            configs: BTreeMap::new(),
            assignments: assign(&[1, 2, 3], 0, 2, 0),
            created_ms: 0,
        });
        assert_eq!(e, Effect::OpenTopic("t".into()));
        assert_eq!(s.topics["t"].partitions[0].group, 1);
        assert_eq!(s.topics["t"].partitions[1].group, 2);
        assert_eq!(s.topics["t"].partitions[1].replicas, vec![2, 3, 1]);
        // A second create of the same name loses.
        let e = s.apply(MetaRecord::CreateTopic {
            name: "t".into(),
            id: Uuid::new_v4(),
            configs: BTreeMap::new(),
            assignments: assign(&[1, 2, 3], 0, 1, 0),
            created_ms: 0,
        });
        assert_eq!(e, Effect::None);
        assert_eq!(s.topics["t"].id, a);
        // Deleting with a stale id does nothing.
        assert_eq!(
            s.apply(MetaRecord::DeleteTopic {
                name: "t".into(),
                id: Uuid::new_v4()
            }),
            Effect::None
        );
        assert_eq!(
            s.apply(MetaRecord::DeleteTopic {
                name: "t".into(),
                id: a
            }),
            Effect::DropTopic("t".into(), a)
        );
        let b = Uuid::new_v4();
        s.apply(MetaRecord::CreateTopic {
            name: "t".into(),
            id: b,
            configs: BTreeMap::new(),
            assignments: assign(&[1, 2, 3], 0, 1, 0),
            created_ms: 0,
        });
        assert_eq!(s.topics["t"].partitions[0].group, 3);
    }

    #[test]
    fn producer_id_blocks_are_disjoint_and_idempotent_per_request() {
        let mut s = MetaState::default();
        let r1 = Uuid::new_v4();
        let r2 = Uuid::new_v4();
        s.apply(MetaRecord::AllocateProducerIds {
            node_id: 1,
            request: r1,
        });
        s.apply(MetaRecord::AllocateProducerIds {
            node_id: 2,
            request: r2,
        });
        s.apply(MetaRecord::AllocateProducerIds {
            node_id: 1,
            request: r1,
        });
        assert_eq!(s.producer_id_blocks[&r1], 0);
        assert_eq!(s.producer_id_blocks[&r2], PRODUCER_ID_BLOCK);
        assert_eq!(s.next_producer_id, 2 * PRODUCER_ID_BLOCK);
    }

    #[test]
    fn records_round_trip_through_a_batch() {
        let rec = MetaRecord::RegisterBroker {
            node_id: 2,
            host: "127.0.0.1".into(),
            port: 9093,
        };
        let batch = encode_record(&rec).unwrap().freeze();
        let (recs, next) = decode_records(&batch);
        assert_eq!(next, Some(1));
        assert!(matches!(
            &recs[..],
            [MetaRecord::RegisterBroker {
                node_id: 2,
                port: 9093,
                ..
            }]
        ));
    }

    #[test]
    fn assignments_spread_preferred_leaders() {
        let a = assign(&[1, 2, 3], 0, 6, 0);
        let leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
        assert_eq!(leaders, vec![1, 2, 3, 1, 2, 3]);
        assert!(a.iter().all(|r| {
            let mut s = r.clone();
            s.sort_unstable();
            s == vec![1, 2, 3]
        }));
    }
}
