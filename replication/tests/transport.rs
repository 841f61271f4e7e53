//! The node-to-node transport: frame codec (never panics on bad bytes), batches carried byte
//! for byte, and three nodes over real TCP (loopback) running two partition groups on one
//! connection per node pair, surviving dropped connections.
//!
//! Not deterministic (real sockets and timers); assertions are about outcomes only.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::{batch, batches, log_config, WAIT};
use openraft::raft::AppendEntriesRequest;
use openraft::{BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, ServerState, Vote};
use riffle_replication::transport::{
    decode_append, encode_append, Body, Frame, GroupId, Transport,
};
use riffle_replication::types::PartitionRaft;
use riffle_replication::{partition_raft_config, NodeId, PartitionReplica};

const NODES: [NodeId; 3] = [1, 2, 3];
const GROUPS: [GroupId; 2] = [7, 8];

fn lid(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn sample_append() -> AppendEntriesRequest<PartitionRaft> {
    AppendEntriesRequest {
        vote: Vote::new_committed(3, 1),
        prev_log_id: Some(lid(2, 9)),
        leader_commit: Some(lid(2, 8)),
        entries: vec![
            Entry {
                log_id: lid(3, 10),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: lid(3, 11),
                payload: EntryPayload::Normal(batch(3, 100, 0x11)),
            },
            Entry {
                log_id: lid(3, 12),
                payload: EntryPayload::Normal(batch(1, 7, 0x22)),
            },
        ],
    }
}

#[test]
fn frames_round_trip() {
    let frames = [
        Frame::Hello { node_id: 42 },
        Frame::Request {
            correlation: 9,
            group: 7,
            rpc: 1,
            body: Body {
                json: b"{\"a\":1}".to_vec(),
                blobs: vec![vec![1, 2, 3], vec![], vec![9; 1000]],
            },
        },
        Frame::Response {
            correlation: u64::MAX,
            status: 1,
            body: Body::default(),
        },
    ];
    for f in frames {
        let bytes = f.encode();
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(Frame::decode(&bytes[4..]).unwrap(), f);
    }
}

#[test]
fn truncated_or_garbled_frames_are_errors_not_panics() {
    let f = Frame::Request {
        correlation: 1,
        group: 2,
        rpc: 1,
        body: encode_append(sample_append()),
    }
    .encode();
    let body = &f[4..];
    for n in 0..body.len() {
        assert!(
            Frame::decode(&body[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
    // Seeded byte flips: decode must return, whatever it returns.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut b = body.to_vec();
        let i = (seed as usize) % b.len();
        b[i] ^= (seed >> 32) as u8 | 1;
        let _ = Frame::decode(&b);
        if let Ok(Frame::Request { body, .. }) = Frame::decode(&b) {
            let _ = decode_append(body);
        }
    }
    assert!(Frame::decode(&[0, 0, 0, 0, 0]).is_err(), "bad hello magic");
    assert!(Frame::decode(&[9]).is_err(), "unknown kind");
}

#[test]
fn append_entries_carry_batches_byte_for_byte() {
    let rpc = sample_append();
    let body = encode_append(rpc.clone());
    assert_eq!(body.blobs.len(), 2);
    assert_eq!(body.blobs[0], batch(3, 100, 0x11));
    let back = decode_append(body.clone()).unwrap();
    assert_eq!(back.vote, rpc.vote);
    assert_eq!(back.prev_log_id, rpc.prev_log_id);
    assert_eq!(back.leader_commit, rpc.leader_commit);
    assert_eq!(back.entries, rpc.entries);
    // A body whose blob count does not match the data entries is refused.
    let mut short = body;
    short.blobs.pop();
    assert!(decode_append(short).is_err());
}

struct TcpCluster {
    _dir: tempfile::TempDir,
    transports: HashMap<NodeId, Transport>,
    /// (group, node) -> replica
    replicas: HashMap<(GroupId, NodeId), PartitionReplica>,
}

impl TcpCluster {
    async fn start() -> TcpCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut transports = HashMap::new();
        for n in NODES {
            let t = Transport::bind(n, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            transports.insert(n, t);
        }
        let addrs: Vec<_> = NODES
            .iter()
            .map(|n| (*n, transports[n].local_addr()))
            .collect();
        for t in transports.values() {
            for &(n, a) in &addrs {
                t.add_peer(n, a);
            }
        }
        let config = Arc::new(partition_raft_config().validate().unwrap());
        let mut replicas = HashMap::new();
        for g in GROUPS {
            for n in NODES {
                let t = &transports[&n];
                let r = PartitionReplica::open(
                    n,
                    dir.path().join(format!("node-{n}/group-{g}")),
                    log_config(),
                    config.clone(),
                    t.network(g),
                )
                .await
                .unwrap();
                t.register_group(g, r.raft().clone());
                replicas.insert((g, n), r);
            }
            let members: BTreeMap<NodeId, BasicNode> =
                NODES.iter().map(|&n| (n, BasicNode::default())).collect();
            // Initialise on a different node per group: leaders spread over nodes.
            let init = NODES[g as usize % NODES.len()];
            replicas[&(g, init)]
                .raft()
                .initialize(members)
                .await
                .unwrap();
        }
        TcpCluster {
            _dir: dir,
            transports,
            replicas,
        }
    }

    async fn leader(&self, g: GroupId) -> NodeId {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            for n in NODES {
                let m = self.replicas[&(g, n)].raft().metrics().borrow().clone();
                if m.state == ServerState::Leader {
                    return n;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leader for group {g}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Proposes until a leader commits it (a leader may change under connection loss).
    async fn produce(&self, g: GroupId, b: Vec<u8>) -> u64 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let leader = self.leader(g).await;
            match self.replicas[&(g, leader)].propose(b.clone()).await {
                Ok(p) => return p.log_id.index,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "never committed: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    async fn wait_applied(&self, g: GroupId, index: u64) {
        for n in NODES {
            self.replicas[&(g, n)]
                .raft()
                .wait(Some(WAIT))
                .applied_index_at_least(Some(index), "applied")
                .await
                .unwrap();
        }
    }

    fn assert_identical(&self, g: GroupId) -> usize {
        let first = batches(&self.replicas[&(g, 1)]);
        for n in [2, 3] {
            assert_eq!(
                first,
                batches(&self.replicas[&(g, n)]),
                "group {g} node {n}"
            );
        }
        first.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_tcp_replicate_two_groups_on_one_connection_per_pair() {
    let c = TcpCluster::start().await;
    for g in GROUPS {
        let mut last = 0;
        for i in 0..15u8 {
            last = c.produce(g, batch(2, 200, i.wrapping_add(g as u8))).await;
        }
        c.wait_applied(g, last).await;
        assert_eq!(c.assert_identical(g), 15);
    }
    // One connection per pair, whichever side dialed.
    for a in NODES {
        for b in NODES {
            if a != b {
                assert!(c.transports[&a].is_connected(b), "{a} -> {b}");
            }
        }
    }
    // The two groups' logs are independent.
    assert_ne!(batches(&c.replicas[&(7, 1)]), batches(&c.replicas[&(8, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_resumes_after_connections_drop() {
    let c = TcpCluster::start().await;
    let g = GROUPS[0];
    for i in 0..5u8 {
        c.produce(g, batch(1, 50, i)).await;
    }
    for t in c.transports.values() {
        t.drop_connections();
    }
    // Redialing waits at least the minimum backoff, so nothing is connected yet.
    assert!(NODES
        .iter()
        .all(|n| !c.transports[n].is_connected(1 + n % 3)));
    let mut last = 0;
    for i in 5..15u8 {
        last = c.produce(g, batch(1, 50, i)).await;
    }
    c.wait_applied(g, last).await;
    assert_eq!(c.assert_identical(g), 15);
    for n in NODES {
        assert_eq!(c.replicas[&(g, n)].high_watermark(), 15);
    }
}
