//! Group state in `__consumer_offsets` with a real broker on a temp dir: commits answered
//! only once durable, records in the group's partition in Kafka's formats, and offsets,
//! generations, expiry and deletion surviving a reopen of the broker.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::offsets_topic::read_partition;
use super::records::{partition_for, OFFSETS_TOPIC};
use super::*;
use crate::state::Broker;

fn open(dir: &std::path::Path, partitions: i32) -> Arc<Broker> {
    let mut cfg = riffle_config::BrokerConfig::default();
    cfg.log_dirs = vec![dir.to_path_buf()];
    cfg.group_initial_rebalance_delay_ms = 0;
    cfg.offsets_topic_num_partitions = partitions;
    let broker = Broker::open(cfg).expect("broker opens");
    if broker.topic("t").is_none() {
        broker
            .create_topic("t", 2, 1, BTreeMap::new())
            .expect("topic created");
    }
    broker
}

fn offset(topic: &str, partition: i32, offset: i64) -> OffsetToCommit {
    OffsetToCommit {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: 4,
        metadata: Some("meta".into()),
    }
}

async fn commit(
    broker: &Broker,
    group: &str,
    retention_time_ms: i64,
    offsets: Vec<OffsetToCommit>,
) -> Result<(), i16> {
    broker
        .groups
        .commit_offsets(group, -1, "", None, retention_time_ms, offsets)
        .await
        .expect("commit answered")
}

/// Every record of the partition of `__consumer_offsets` that holds `group`.
fn records_of(broker: &Broker, group: &str) -> Vec<GroupRecord> {
    let topic = broker.topic(OFFSETS_TOPIC).expect("offsets topic exists");
    let p = partition_for(group, topic.partition_count());
    read_partition(&topic.partition(p).expect("partition")).expect("readable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart_in_the_groups_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = open(dir.path(), 50);
    assert!(
        broker.topic(OFFSETS_TOPIC).is_none(),
        "created on first use"
    );
    assert_eq!(
        commit(
            &broker,
            "my-group",
            -1,
            vec![offset("t", 0, 17), offset("t", 1, 3)]
        )
        .await,
        Ok(())
    );
    let topic = broker.topic(OFFSETS_TOPIC).expect("created by the commit");
    assert!(topic.internal);
    assert_eq!(topic.partition_count(), 50);
    assert_eq!(topic.replication_factor, 1);
    let overrides = topic.overrides.read().clone();
    assert_eq!(
        overrides.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    assert_eq!(
        overrides.get("segment.bytes").map(String::as_str),
        Some("104857600")
    );
    // "my-group" hashes negative: Utils.abs, not a sign-bit mask, picks partition 12.
    assert_eq!(broker.groups.partition_for("my-group"), 12);
    for p in 0..50 {
        let hw = topic.partition(p).expect("partition").high_watermark();
        assert_eq!(hw, if p == 12 { 2 } else { 0 }, "partition {p}");
    }
    let records = records_of(&broker, "my-group");
    assert_eq!(records.len(), 2);
    assert!(matches!(
        &records[0],
        GroupRecord::OffsetCommit { group_id, topic, partition: 0, offset }
            if group_id == "my-group" && topic == "t" && offset.offset == 17
                && offset.leader_epoch == 4 && offset.metadata.as_deref() == Some("meta")
    ));
    drop(topic);
    drop(broker);

    let broker = open(dir.path(), 50);
    let mut got = broker.groups.committed_offsets("my-group");
    got.sort();
    assert_eq!(got, [("t".to_string(), 0, 17), ("t".to_string(), 1, 3)]);
    let f = broker
        .groups
        .fetch_offsets("my-group", Some(&[("t".to_string(), vec![0])]))
        .expect("fetched");
    assert_eq!(
        (f[0].offset, f[0].leader_epoch, f[0].metadata.as_deref()),
        (17, 4, Some("meta"))
    );
    assert_eq!(broker.groups.describe("my-group").state, GroupState::Empty);
}

#[tokio::test]
async fn offset_fetch_sees_a_commit_only_once_it_is_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = open(dir.path(), 3);
    // On this single-threaded runtime the writer task cannot run before we yield.
    let rx = broker
        .groups
        .commit_offsets("g", -1, "", None, -1, vec![offset("t", 0, 9)]);
    let before = broker
        .groups
        .fetch_offsets("g", Some(&[("t".to_string(), vec![0])]))
        .expect("fetched");
    assert_eq!(before[0].offset, -1, "not durable yet, so not visible");
    assert_eq!(rx.await.expect("answered"), Ok(()));
    let after = broker
        .groups
        .fetch_offsets("g", Some(&[("t".to_string(), vec![0])]))
        .expect("fetched");
    assert_eq!(after[0].offset, 9);
    let hw = broker
        .topic(OFFSETS_TOPIC)
        .and_then(|t| t.partition(partition_for("g", 3)))
        .expect("partition")
        .high_watermark();
    assert_eq!(hw, 1, "the commit's record is below the high watermark");
}

#[tokio::test]
async fn generation_survives_restart_and_deletion_writes_tombstones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = open(dir.path(), 3);
    let join = |member_id: &str| JoinRequest {
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"sub"))],
        require_known_member_id: true,
        supports_skip_assignment: false,
    };
    let first = broker.groups.join("g", join("")).await.expect("answered");
    let member = first.member_id;
    let joined = broker
        .groups
        .join("g", join(&member))
        .await
        .expect("answered");
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    let synced = broker
        .groups
        .sync(
            "g",
            SyncRequest {
                generation_id: 1,
                member_id: member.clone(),
                assignments: vec![(member.clone(), Bytes::from_static(b"assigned"))],
                ..SyncRequest::default()
            },
        )
        .await
        .expect("answered");
    assert_eq!(synced.error_code, 0);
    let rx = broker
        .groups
        .commit_offsets("g", 1, &member, None, -1, vec![offset("t", 0, 5)]);
    assert_eq!(rx.await.expect("answered"), Ok(()));
    let records = records_of(&broker, "g");
    let stored = records.iter().find_map(|r| match r {
        GroupRecord::GroupMetadata { metadata, .. } => Some(metadata.clone()),
        _ => None,
    });
    let stored = stored.expect("the stable generation was stored");
    assert_eq!(stored.generation_id, 1);
    assert_eq!(stored.protocol_name.as_deref(), Some("range"));
    assert_eq!(stored.leader_id.as_deref(), Some(member.as_str()));
    assert_eq!(stored.members.len(), 1);
    assert_eq!(stored.members[0].subscription, Bytes::from_static(b"sub"));
    assert_eq!(
        stored.members[0].assignment,
        Bytes::from_static(b"assigned")
    );
    assert_eq!(stored.members[0].client_host, "/127.0.0.1");
    drop(broker);

    let broker = open(dir.path(), 3);
    assert_eq!(
        broker.groups.committed_offsets("g"),
        [("t".to_string(), 0, 5)]
    );
    let d = broker.groups.describe("g");
    assert_eq!(
        (d.state, d.protocol_type.as_str()),
        (GroupState::Empty, "consumer")
    );
    // The old member is gone and must rejoin; the next generation follows the stored one.
    assert_eq!(
        broker.groups.heartbeat("g", &member, None, 1),
        ResponseError::UnknownMemberId.code()
    );
    let first = broker.groups.join("g", join("")).await.expect("answered");
    let again = broker
        .groups
        .join("g", join(&first.member_id))
        .await
        .expect("answered");
    assert_eq!(again.generation_id, 2);
    assert_eq!(
        broker.groups.leave(
            "g",
            &[LeavingMember {
                member_id: first.member_id.clone(),
                group_instance_id: None
            }]
        ),
        Ok(vec![0])
    );

    // Answered once the tombstones are durable.
    assert_eq!(broker.groups.delete("g").await.expect("answered"), Ok(()));
    let barrier = "another-group";
    assert_eq!(
        commit(&broker, barrier, -1, vec![offset("t", 1, 1)]).await,
        Ok(())
    );
    let records = records_of(&broker, "g");
    assert!(records.iter().any(|r| matches!(r,
        GroupRecord::OffsetTombstone { group_id, partition: 0, .. } if group_id == "g")));
    assert!(records.iter().any(|r| matches!(r,
        GroupRecord::GroupTombstone { group_id } if group_id == "g")));
    drop(broker);

    let broker = open(dir.path(), 3);
    assert_eq!(broker.groups.describe("g").state, GroupState::Dead);
    assert!(broker.groups.committed_offsets("g").is_empty());
    assert_eq!(
        broker.groups.committed_offsets(barrier),
        [("t".to_string(), 1, 1)]
    );
}

#[tokio::test]
async fn expired_offsets_are_tombstoned_and_stay_gone_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = open(dir.path(), 1);
    // OffsetCommit v2-v4 retention time 0: expires at once.
    assert_eq!(
        commit(&broker, "old", 0, vec![offset("t", 0, 1)]).await,
        Ok(())
    );
    assert_eq!(
        commit(&broker, "kept", -1, vec![offset("t", 0, 2)]).await,
        Ok(())
    );
    let records = records_of(&broker, "old");
    assert!(matches!(&records[0],
        GroupRecord::OffsetCommit { offset, .. } if offset.expire_timestamp_ms.is_some()));
    broker.groups.expire_offsets();
    // One partition, one writer: this commit is answered after the tombstone is durable.
    assert_eq!(
        commit(&broker, "kept", -1, vec![offset("t", 1, 3)]).await,
        Ok(())
    );
    assert!(broker.groups.committed_offsets("old").is_empty());
    let records = records_of(&broker, "old");
    assert!(records.iter().any(|r| matches!(r,
        GroupRecord::OffsetTombstone { group_id, .. } if group_id == "old")));
    drop(broker);

    let broker = open(dir.path(), 1);
    assert!(broker.groups.committed_offsets("old").is_empty());
    assert_eq!(broker.groups.describe("old").state, GroupState::Dead);
    assert_eq!(broker.groups.committed_offsets("kept").len(), 2);
}
