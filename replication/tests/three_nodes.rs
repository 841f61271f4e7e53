//! Three replicas of one partition in one process over the in-process network: election,
//! replication byte for byte, the high watermark needing 2 of 3, leader loss, catch-up and
//! Raft §5.3 truncation of a diverged follower.
//!
//! Not deterministic: openraft runs on tokio with real timers, so which node leads and how
//! entries are batched vary between runs; every assertion is about outcomes, never timing.

mod common;

use common::{batch, batches, Cluster, NODES, WAIT};
use riffle_replication::NodeId;

/// Asserts that the logs of `nodes` hold the same batches, byte for byte, at the same offsets.
fn assert_logs_identical(c: &Cluster, nodes: &[NodeId]) -> Vec<(i64, i64, i32, Vec<u8>)> {
    let first = batches(&c.replicas[&nodes[0]]);
    for n in &nodes[1..] {
        let other = batches(&c.replicas[n]);
        assert_eq!(
            first.len(),
            other.len(),
            "node {} and node {n} hold different batch counts",
            nodes[0]
        );
        for (a, b) in first.iter().zip(&other) {
            assert_eq!(
                a, b,
                "node {} and node {n} differ at offset {}",
                nodes[0], a.0
            );
        }
    }
    first
}

/// Offsets are contiguous from 0: each batch starts where the previous ended.
fn assert_contiguous(log: &[(i64, i64, i32, Vec<u8>)]) {
    let mut next = 0;
    for (base, last, _, _) in log {
        assert_eq!(*base, next);
        next = last + 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_is_elected_and_batches_replicate_byte_for_byte() {
    let c = Cluster::start().await;
    let leader = c.leader().await;
    let mut expected_base = 0;
    let mut last_index = 0;
    for i in 0..30u8 {
        let records = 1 + (i as i32 % 4);
        let p = c.produce(leader, batch(records, 50 + i as usize, i)).await;
        assert_eq!(
            p.base_offset, expected_base,
            "offsets follow the log prefix"
        );
        expected_base += records as i64;
        last_index = p.log_id.index;
    }
    c.wait_applied(&NODES, last_index).await;
    let log = assert_logs_identical(&c, &NODES);
    assert_eq!(log.len(), 30);
    assert_contiguous(&log);
    let term = c.replicas[&leader].raft().metrics().borrow().current_term;
    assert!(
        log.iter().all(|b| b.2 as u64 == term),
        "leader epoch = Raft term"
    );
    for n in NODES {
        assert_eq!(
            c.replicas[&n].high_watermark(),
            expected_base,
            "node {n} high watermark"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_watermark_advances_only_with_two_of_three() {
    let c = Cluster::start().await;
    let leader = c.leader().await;
    let p = c.produce(leader, batch(2, 30, 1)).await;
    c.wait_applied(&NODES, p.log_id.index).await;
    let followers: Vec<NodeId> = NODES.into_iter().filter(|&n| n != leader).collect();
    let hw_before = c.replicas[&leader].high_watermark();
    assert_eq!(hw_before, 2);

    // Cut the leader off from both followers: its append is local only.
    c.router.isolate(leader, &NODES);
    let before = c.last_log_index(leader).unwrap();
    let raft = c.replicas[&leader].raft().clone();
    let b = batch(3, 30, 2);
    let pending = tokio::spawn(async move { raft.client_write(b).await });
    c.replicas[&leader]
        .raft()
        .wait(Some(WAIT))
        .log_index_at_least(Some(before + 1), "leader appends locally")
        .await
        .unwrap();
    c.replicas[&leader]
        .raft()
        .wait(Some(WAIT))
        .metrics(
            |m| m.last_applied.map(|l| l.index) == Some(before),
            "leader applied everything before the new entry",
        )
        .await
        .unwrap();
    // The leader alone holds the batch durably (1 of 3): no commit, no high watermark move.
    assert_eq!(c.replicas[&leader].partition_log().log_end_offset(), 5);
    assert_eq!(c.replicas[&leader].high_watermark(), hw_before);
    assert!(!pending.is_finished());
    for &f in &followers {
        assert_eq!(c.replicas[&f].partition_log().log_end_offset(), 2);
    }

    // One follower back: 2 of 3 hold it, so it commits, unless a new leader was elected
    // meanwhile (then the entry may be replaced; either way no node reports it committed
    // without a majority holding it).
    c.router.heal();
    let leader_now = c.leader().await;
    if leader_now == leader {
        let resp = pending
            .await
            .unwrap()
            .expect("commits once a follower is back");
        assert_eq!(resp.data, 2);
        c.wait_applied(&NODES, resp.log_id.index).await;
        for n in NODES {
            assert_eq!(c.replicas[&n].high_watermark(), 5);
        }
    }
    let hw = c.replicas[&leader_now].high_watermark();
    let holding = NODES
        .iter()
        .filter(|n| c.replicas[n].partition_log().log_end_offset() >= hw)
        .count();
    assert!(holding >= 2, "a committed offset is held by a majority");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_leader_after_leader_loss_keeps_every_committed_batch() {
    let mut c = Cluster::start().await;
    let old = c.leader().await;
    let mut committed = Vec::new();
    for i in 0..10u8 {
        let p = c.produce(old, batch(1 + i as i32 % 3, 40, i)).await;
        committed.push(p);
    }
    c.kill(old).await;
    let live: Vec<NodeId> = NODES.into_iter().filter(|&n| n != old).collect();
    let new = c.leader_among(&live).await;
    assert_ne!(new, old);
    let mut last = 0;
    for i in 10..20u8 {
        let p = c.produce(new, batch(2, 40, i)).await;
        last = p.log_id.index;
        committed.push(p);
    }
    c.wait_applied(&live, last).await;
    let log = assert_logs_identical(&c, &live);
    assert_contiguous(&log);
    for p in &committed {
        assert!(
            log.iter().any(|b| b.0 == p.base_offset),
            "committed batch at offset {} survives",
            p.base_offset
        );
    }
    // The new leader's batches carry its (higher) term as leader epoch.
    let new_term = c.replicas[&new].raft().metrics().borrow().current_term;
    assert!(log.last().unwrap().2 as u64 == new_term);
    assert!(log.first().unwrap().2 < log.last().unwrap().2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_replica_catches_up_after_heal() {
    let c = Cluster::start().await;
    let leader = c.leader().await;
    let away = NODES.into_iter().find(|&n| n != leader).unwrap();
    c.router.isolate(away, &NODES);
    let mut last = 0;
    for i in 0..25u8 {
        last = c.produce(leader, batch(3, 80, i)).await.log_id.index;
    }
    assert_eq!(c.replicas[&away].partition_log().log_end_offset(), 0);
    c.router.heal();
    c.wait_applied(&NODES, last).await;
    let log = assert_logs_identical(&c, &NODES);
    assert_eq!(log.len(), 25);
    assert_contiguous(&log);
    assert_eq!(c.replicas[&away].high_watermark(), 75);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diverged_follower_is_truncated_to_the_leader_log() {
    // Raft §5.3: a deposed leader's uncommitted suffix conflicts with the new leader's log and
    // is deleted; the Kafka offsets it used are reassigned to the new leader's batches.
    let c = Cluster::start().await;
    let old = c.leader().await;
    let p = c.produce(old, batch(1, 30, 0)).await;
    c.wait_applied(&NODES, p.log_id.index).await;

    c.router.isolate(old, &NODES);
    let before = c.last_log_index(old).unwrap();
    for i in 0..5u8 {
        let raft = c.replicas[&old].raft().clone();
        // Never commits: dropped when the old leader steps down.
        tokio::spawn(async move { raft.client_write(batch(4, 30, 0xd0 + i)).await });
    }
    c.replicas[&old]
        .raft()
        .wait(Some(WAIT))
        .log_index_at_least(Some(before + 5), "deposed leader appends its own suffix")
        .await
        .unwrap();
    assert_eq!(c.replicas[&old].partition_log().log_end_offset(), 21);

    let rest: Vec<NodeId> = NODES.into_iter().filter(|&n| n != old).collect();
    let new = c.leader_among(&rest).await;
    let mut last = 0;
    for i in 0..3u8 {
        last = c.produce(new, batch(2, 30, 0xa0 + i)).await.log_id.index;
    }
    c.router.heal();
    c.wait_applied(&NODES, last).await;
    // The old leader may still have been appending after wait; settle on the new leader's log.
    c.replicas[&old]
        .raft()
        .wait(Some(WAIT))
        .metrics(|m| m.current_leader == Some(new), "old leader follows")
        .await
        .unwrap();
    let log = assert_logs_identical(&c, &NODES);
    assert_contiguous(&log);
    assert_eq!(log.len(), 4, "the diverged suffix is gone");
    assert!(
        log.iter().all(|b| b.3[61] < 0xd0),
        "no batch of the deposed leader's suffix"
    );
    assert_eq!(c.replicas[&old].high_watermark(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_replica_recovers_its_log_and_rejoins() {
    let mut c = Cluster::start().await;
    let leader = c.leader().await;
    let node = NODES.into_iter().find(|&n| n != leader).unwrap();
    for i in 0..5u8 {
        c.produce(leader, batch(2, 30, i)).await;
    }
    c.kill(node).await;
    for i in 5..10u8 {
        c.produce(leader, batch(2, 30, i)).await;
    }
    c.start_node(node).await;
    let live: Vec<NodeId> = c.replicas.keys().copied().collect();
    let leader = c.leader_among(&live).await;
    let last = c.produce(leader, batch(1, 30, 10)).await.log_id.index;
    c.wait_applied(&NODES, last).await;
    let log = assert_logs_identical(&c, &NODES);
    assert_eq!(log.len(), 11);
    assert_contiguous(&log);
    assert_eq!(c.replicas[&node].high_watermark(), 21);
}
