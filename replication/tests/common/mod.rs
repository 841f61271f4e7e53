//! Test helpers: hand-built record batches and a three-node partition group in one process.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, Config, ServerState};
use riffle_replication::sim::SimRouter;
use riffle_replication::{partition_raft_config, NodeId, PartitionReplica, Proposed};
use riffle_storage::{Durability, LogConfig};
use tempfile::TempDir;

/// A record-batch v2 with `records` records whose records section is `payload_bytes` bytes of
/// `fill` (storage never decodes records), correct CRC32C.
pub fn batch(records: i32, payload_bytes: usize, fill: u8) -> Vec<u8> {
    assert!(records >= 1);
    let ts = 1_700_000_000_000i64;
    let total = 61 + payload_bytes;
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((total - 12) as i32).to_be_bytes()); // batch length
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&(records - 1).to_be_bytes()); // last offset delta
    b.extend_from_slice(&ts.to_be_bytes()); // base timestamp
    b.extend_from_slice(&ts.to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&records.to_be_bytes()); // record count
    b.resize(total, fill);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Small segments so tests cross segment rolls.
pub fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        segment_ms: i64::MAX / 2,
        retention_ms: -1,
        retention_bytes: -1,
        index_interval_bytes: 256,
        segment_index_bytes: 4096,
        durability: Durability::Fsync,
        ..LogConfig::default()
    }
}

/// Every batch in a partition log as (base offset, last offset, leader epoch, records section).
pub fn batches(replica: &PartitionReplica) -> Vec<(i64, i64, i32, Vec<u8>)> {
    let log = replica.partition_log();
    let read = log
        .read(log.log_start_offset(), u32::MAX, i64::MAX)
        .expect("read the whole log");
    riffle_protocol::batch::BatchIter::new(&read.bytes)
        .map(|v| {
            let v = v.expect("a well-formed batch");
            v.verify_crc().expect("a batch with a good CRC");
            (
                v.base_offset(),
                v.last_offset(),
                v.partition_leader_epoch(),
                v.as_bytes().to_vec(),
            )
        })
        .collect()
}

pub const WAIT: Duration = Duration::from_secs(30);

/// Three replicas of one partition in one process over a [`SimRouter`].
pub struct Cluster {
    pub router: SimRouter,
    pub dir: TempDir,
    pub replicas: HashMap<NodeId, PartitionReplica>,
    pub config: Arc<Config>,
}

pub const NODES: [NodeId; 3] = [1, 2, 3];

impl Cluster {
    /// Starts nodes 1..=3 and initialises the group on node 1.
    pub async fn start() -> Cluster {
        let mut config = partition_raft_config();
        config.heartbeat_interval = 50;
        config.election_timeout_min = 300;
        config.election_timeout_max = 600;
        let mut c = Cluster {
            router: SimRouter::new(),
            dir: tempfile::tempdir().unwrap(),
            replicas: HashMap::new(),
            config: Arc::new(config.validate().unwrap()),
        };
        for n in NODES {
            c.start_node(n).await;
        }
        let members: BTreeMap<NodeId, BasicNode> =
            NODES.iter().map(|&n| (n, BasicNode::default())).collect();
        c.replicas[&1].raft().initialize(members).await.unwrap();
        c
    }

    pub async fn start_node(&mut self, node: NodeId) {
        let dir = self.dir.path().join(format!("node-{node}"));
        let replica = PartitionReplica::open(
            node,
            dir,
            log_config(),
            self.config.clone(),
            self.router.network(node),
        )
        .await
        .expect("open replica");
        self.router.register(node, replica.raft().clone());
        self.replicas.insert(node, replica);
    }

    /// Stops `node` as a crash would look to the others (its files stay).
    pub async fn kill(&mut self, node: NodeId) {
        self.router.unregister(node);
        if let Some(r) = self.replicas.remove(&node) {
            r.shutdown().await;
        }
    }

    /// Waits until some node in `among` is leader as seen by all of `among`; returns it.
    pub async fn leader_among(&self, among: &[NodeId]) -> NodeId {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            for &n in among {
                let m = self.replicas[&n].raft().metrics().borrow().clone();
                if m.state == ServerState::Leader
                    && among.iter().all(|o| {
                        self.replicas[o].raft().metrics().borrow().current_leader == Some(n)
                    })
                {
                    return n;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leader elected among {among:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn leader(&self) -> NodeId {
        let live: Vec<NodeId> = self.replicas.keys().copied().collect();
        self.leader_among(&live).await
    }

    /// Proposes on `node`, which must be the leader.
    pub async fn produce(&self, node: NodeId, b: Vec<u8>) -> Proposed {
        self.replicas[&node]
            .propose(b)
            .await
            .expect("leader commits the batch")
    }

    /// Waits until every node in `nodes` has applied (committed) at least `index`.
    pub async fn wait_applied(&self, nodes: &[NodeId], index: u64) {
        for n in nodes {
            self.replicas[n]
                .raft()
                .wait(Some(WAIT))
                .applied_index_at_least(Some(index), format!("node {n} applies {index}"))
                .await
                .unwrap_or_else(|e| panic!("node {n} never applied {index}: {e}"));
        }
    }

    pub fn last_log_index(&self, node: NodeId) -> Option<u64> {
        self.replicas[&node]
            .raft()
            .metrics()
            .borrow()
            .last_log_index
    }
}
