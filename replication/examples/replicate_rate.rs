//! Measures acks=all produce throughput of one partition group of three replicas in one
//! process: in-process network or loopback TCP transport, fsync durability, N proposals in
//! flight. `cargo run --release -p riffle-replication --example replicate_rate -- [sim|tcp]
//! [batches] [batch_bytes] [in_flight]`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, ServerState};
use riffle_replication::sim::SimRouter;
use riffle_replication::transport::Transport;
use riffle_replication::{partition_raft_config, PartitionReplica, ProposeError};
use riffle_storage::LogConfig;

fn batch(payload_bytes: usize) -> Vec<u8> {
    let total = 61 + payload_bytes;
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((total - 12) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    // Timestamps of now: the log rolls segments by the first batch's timestamp.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    b.extend_from_slice(&now.to_be_bytes());
    b.extend_from_slice(&now.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.resize(total, 0x5a);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn log_config() -> LogConfig {
    let mut c = LogConfig::default();
    if std::env::var("PAGECACHE").is_ok_and(|v| v == "1") {
        c.durability = riffle_storage::Durability::PageCache;
    }
    c
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_else(|| "sim".into());
    let count: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let bytes: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let in_flight: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let mut config = partition_raft_config();
    if let Some(ms) = std::env::var("HEARTBEAT_MS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.heartbeat_interval = ms;
        config.election_timeout_min = 6 * ms;
        config.election_timeout_max = 12 * ms;
    }
    let config = Arc::new(config.validate().unwrap());
    let router = SimRouter::new();
    let mut transports = Vec::new();
    if mode == "tcp" {
        for n in 1..=3u64 {
            transports.push(
                Transport::bind(n, "127.0.0.1:0".parse().unwrap())
                    .await
                    .unwrap(),
            );
        }
        let addrs: Vec<_> = transports
            .iter()
            .map(|t| (t.node_id(), t.local_addr()))
            .collect();
        for t in &transports {
            for &(n, a) in &addrs {
                t.add_peer(n, a);
            }
        }
    }
    let mut replicas = Vec::new();
    for n in 1..=3u64 {
        let path = dir.path().join(format!("node-{n}"));
        let r = if mode == "tcp" {
            let t = &transports[n as usize - 1];
            let r = PartitionReplica::open(n, path, log_config(), config.clone(), t.network(1))
                .await
                .unwrap();
            t.register_group(1, r.raft().clone());
            r
        } else {
            let r =
                PartitionReplica::open(n, path, log_config(), config.clone(), router.network(n))
                    .await
                    .unwrap();
            router.register(n, r.raft().clone());
            r
        };
        replicas.push(Arc::new(r));
    }
    let members: BTreeMap<u64, BasicNode> = (1..=3).map(|n| (n, BasicNode::default())).collect();
    replicas[0].raft().initialize(members).await.unwrap();
    // Wait until all three agree on a leader.
    let leader = loop {
        let views: Vec<Option<u64>> = replicas
            .iter()
            .map(|r| r.raft().metrics().borrow().current_leader)
            .collect();
        if let Some(Some(l)) = views.first() {
            if views.iter().all(|v| *v == Some(*l))
                && replicas[*l as usize - 1].raft().metrics().borrow().state == ServerState::Leader
            {
                break replicas[*l as usize - 1].clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let b = batch(bytes);
    let all = Arc::new(replicas.clone());
    let start = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let leader = leader.clone();
        let all = all.clone();
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            // Follow the leader on NotLeader (elections under load); count other failures.
            let mut target = leader;
            for _ in 0..10 {
                match target.propose(b.clone()).await {
                    Ok(_) => return true,
                    Err(ProposeError::NotLeader { leader: Some(l) }) => {
                        target = all[l as usize - 1].clone();
                    }
                    Err(e) => {
                        eprintln!("propose: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            drop(permit);
            false
        }));
    }
    let mut failed = 0;
    for t in tasks {
        if !t.await.unwrap() {
            failed += 1;
        }
    }
    if failed > 0 {
        println!("{failed} proposals failed");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{mode}: {count} batches x {} B, {in_flight} in flight: {:.0} batches/s, {:.1} MB/s, high watermark {}",
        b.len(),
        count as f64 / secs,
        (count * b.len()) as f64 / secs / 1e6,
        leader.high_watermark()
    );
    let terms: Vec<u64> = replicas
        .iter()
        .map(|r| r.raft().metrics().borrow().current_term)
        .collect();
    println!("terms at the end: {terms:?}");
    for r in &replicas {
        r.shutdown().await;
    }
}
