//! The group API handlers at every advertised version: a whole join / sync / heartbeat /
//! commit / fetch / leave cycle per version, and every response encodes at its version
//! (kafka-protocol refuses fields a version does not have).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use riffle_protocol::response::encode_response;

use crate::api::{self, str_bytes, Reply};
use crate::state::Broker;

fn open_broker(dir: &std::path::Path) -> Arc<Broker> {
    let mut cfg = riffle_config::BrokerConfig::default();
    cfg.log_dirs = vec![dir.to_path_buf()];
    cfg.group_initial_rebalance_delay_ms = 0;
    let broker = Broker::open(cfg).expect("broker opens");
    broker
        .create_topic("t", 2, 1, BTreeMap::new())
        .expect("topic created");
    broker
}

async fn body(r: Reply) -> ResponseKind {
    match r {
        Reply::Now(b) => b,
        Reply::Later(f) => f.await,
        Reply::None => panic!("no reply"),
        Reply::Close(reason) => panic!("connection closed: {reason}"),
    }
}

fn encodes(key: ApiKey, version: i16, body: &ResponseKind) {
    if let Err(e) = encode_response(1, key, version, body) {
        panic!("{key:?} v{version} response does not encode: {e}");
    }
}

fn group(id: &str) -> GroupId {
    GroupId(str_bytes(id))
}

#[tokio::test]
async fn join_sync_heartbeat_commit_fetch_leave_work_at_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = open_broker(dir.path());
    for v in 0..=9i16 {
        let (sync_v, hb_v, leave_v) = (v.min(5), v.min(4), v.min(5));
        let (commit_v, fetch_v) = (v.clamp(2, 8), v.clamp(1, 8));
        let gid = format!("g{v}");
        let join = |member_id: String| {
            JoinGroupRequest::default()
                .with_group_id(group(&gid))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_member_id(str_bytes(member_id))
                .with_protocol_type(str_bytes("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(str_bytes("range"))
                    .with_metadata(Bytes::from_static(b"sub"))])
        };
        let mut resp = body(api::join_group::handle(
            &broker,
            v,
            "c",
            join(String::new()),
        ))
        .await;
        encodes(ApiKey::JoinGroup, v, &resp);
        if v >= 4 {
            let ResponseKind::JoinGroup(r) = &resp else {
                panic!("not a JoinGroup response")
            };
            assert_eq!(r.error_code, 79, "v{v}: MEMBER_ID_REQUIRED");
            let id = r.member_id.to_string();
            resp = body(api::join_group::handle(&broker, v, "c", join(id))).await;
            encodes(ApiKey::JoinGroup, v, &resp);
        }
        let ResponseKind::JoinGroup(j) = resp else {
            panic!("not a JoinGroup response")
        };
        assert_eq!((j.error_code, j.generation_id), (0, 1), "v{v}");
        assert_eq!(j.leader, j.member_id, "v{v}: the only member leads");
        assert_eq!(j.members.len(), 1);
        assert_eq!(j.members[0].metadata, Bytes::from_static(b"sub"));
        let member = j.member_id.clone();

        let sync = SyncGroupRequest::default()
            .with_group_id(group(&gid))
            .with_generation_id(1)
            .with_member_id(member.clone())
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(member.clone())
                .with_assignment(Bytes::from_static(b"both partitions"))]);
        let resp = body(api::sync_group::handle(&broker, sync_v, sync)).await;
        encodes(ApiKey::SyncGroup, sync_v, &resp);
        let ResponseKind::SyncGroup(s) = resp else {
            panic!("not a SyncGroup response")
        };
        assert_eq!(s.error_code, 0);
        assert_eq!(s.assignment, Bytes::from_static(b"both partitions"));

        let hb = HeartbeatRequest::default()
            .with_group_id(group(&gid))
            .with_generation_id(1)
            .with_member_id(member.clone());
        let r = api::heartbeat::handle(&broker, hb_v, hb);
        assert_eq!(r.error_code, 0);
        encodes(ApiKey::Heartbeat, hb_v, &ResponseKind::Heartbeat(r));

        let commit = OffsetCommitRequest::default()
            .with_group_id(group(&gid))
            .with_generation_id_or_member_epoch(1)
            .with_member_id(member.clone())
            .with_retention_time_ms(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(str_bytes("t")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(1)
                            .with_committed_offset(40 + i64::from(v))
                            .with_committed_metadata(Some(str_bytes("meta"))),
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(7)
                            .with_committed_offset(1),
                    ]),
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(str_bytes("missing")))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)]),
            ]);
        let ResponseKind::OffsetCommit(r) =
            body(api::offset_commit::handle(&broker, commit_v, commit)).await
        else {
            panic!("OffsetCommit answered with another response kind");
        };
        let codes: Vec<Vec<i16>> = r
            .topics
            .iter()
            .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
            .collect();
        assert_eq!(
            codes,
            [vec![0, 3], vec![3]],
            "v{commit_v}: unknown partitions are UNKNOWN_TOPIC_OR_PARTITION"
        );
        encodes(
            ApiKey::OffsetCommit,
            commit_v,
            &ResponseKind::OffsetCommit(r),
        );

        let fetch = if fetch_v >= 8 {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(group(&gid))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(TopicName(str_bytes("t")))
                    .with_partition_indexes(vec![0, 1])]))])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(group(&gid))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(str_bytes("t")))
                    .with_partition_indexes(vec![0, 1])]))
        };
        let r = api::offset_fetch::handle(&broker, fetch_v, fetch);
        let got: Vec<(i32, i64)> = if fetch_v >= 8 {
            r.groups[0].topics[0]
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
                .collect()
        } else {
            r.topics[0]
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
                .collect()
        };
        assert_eq!(
            got,
            [(0, -1), (1, 40 + i64::from(v))],
            "OffsetFetch v{fetch_v}"
        );
        encodes(ApiKey::OffsetFetch, fetch_v, &ResponseKind::OffsetFetch(r));

        let leave = if leave_v >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(group(&gid))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(member.clone())
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group(&gid))
                .with_member_id(member.clone())
        };
        let r = api::leave_group::handle(&broker, leave_v, leave);
        if leave_v >= 3 {
            assert_eq!(r.members[0].error_code, 0);
        }
        assert_eq!(r.error_code, 0);
        encodes(ApiKey::LeaveGroup, leave_v, &ResponseKind::LeaveGroup(r));
        assert_eq!(broker.groups.describe(&gid).state.name(), "Empty");
    }
    // Every v0–v7 group committed to partition 1; a null topic list fetches them all.
    let r = api::offset_fetch::handle(
        &broker,
        7,
        OffsetFetchRequest::default()
            .with_group_id(group("g3"))
            .with_topics(None),
    );
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].partitions[0].committed_offset, 43);
    assert_eq!(
        broker.groups.committed_offsets("g3"),
        [("t".to_string(), 1, 43)]
    );
}

#[tokio::test]
async fn admin_group_apis_answer_at_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = open_broker(dir.path());
    assert_eq!(
        broker
            .groups
            .commit_offsets(
                "simple",
                -1,
                "",
                None,
                -1,
                vec![crate::group::OffsetToCommit {
                    topic: "t".into(),
                    partition: 0,
                    offset: 5,
                    leader_epoch: -1,
                    metadata: None,
                }]
            )
            .await,
        Ok(Ok(()))
    );
    for v in 0..=4i16 {
        let req = FindCoordinatorRequest::default()
            .with_key(str_bytes("simple"))
            .with_coordinator_keys(vec![str_bytes("simple"), str_bytes("other")]);
        let r = api::find_coordinator::handle(&broker, v, req);
        if v >= 4 {
            assert_eq!(r.coordinators.len(), 2);
            assert!(r
                .coordinators
                .iter()
                .all(|c| c.error_code == 0 && c.node_id.0 == broker.node_id));
        } else {
            assert_eq!((r.error_code, r.node_id.0), (0, broker.node_id));
        }
        encodes(
            ApiKey::FindCoordinator,
            v,
            &ResponseKind::FindCoordinator(r),
        );
        let txn = FindCoordinatorRequest::default()
            .with_key(str_bytes("tx"))
            .with_key_type(1)
            .with_coordinator_keys(vec![str_bytes("tx")]);
        let r = api::find_coordinator::handle(&broker, v, txn);
        let code = if v >= 4 {
            r.coordinators[0].error_code
        } else {
            r.error_code
        };
        assert_eq!(code, 15, "v{v}: transactions: COORDINATOR_NOT_AVAILABLE");
        encodes(
            ApiKey::FindCoordinator,
            v,
            &ResponseKind::FindCoordinator(r),
        );
    }
    for v in 0..=5i16 {
        let req = DescribeGroupsRequest::default()
            .with_groups(vec![group("simple"), group("nope")])
            .with_include_authorized_operations(v >= 3);
        let r = api::describe_groups::handle(&broker, v, req);
        let states: Vec<String> = r.groups.iter().map(|g| g.group_state.to_string()).collect();
        assert_eq!(states, ["Empty", "Dead"]);
        encodes(ApiKey::DescribeGroups, v, &ResponseKind::DescribeGroups(r));
    }
    for v in 0..=4i16 {
        let all = api::list_groups::handle(&broker, v, ListGroupsRequest::default());
        assert_eq!(all.groups.len(), 1);
        encodes(ApiKey::ListGroups, v, &ResponseKind::ListGroups(all));
        let stable_only =
            ListGroupsRequest::default().with_states_filter(vec![str_bytes("Stable")]);
        let r = api::list_groups::handle(&broker, v, stable_only);
        assert_eq!(
            r.groups.len(),
            if v >= 4 { 0 } else { 1 },
            "v{v}: states filter from v4"
        );
    }
    for v in 0..=2i16 {
        let ResponseKind::DeleteGroups(r) = body(api::delete_groups::handle(
            &broker,
            v,
            DeleteGroupsRequest::default().with_groups_names(vec![group("nope")]),
        ))
        .await
        else {
            panic!("DeleteGroups answered with another response kind");
        };
        assert_eq!(r.results[0].error_code, 69, "GROUP_ID_NOT_FOUND");
        encodes(ApiKey::DeleteGroups, v, &ResponseKind::DeleteGroups(r));
    }
    let ResponseKind::DeleteGroups(r) = body(api::delete_groups::handle(
        &broker,
        2,
        DeleteGroupsRequest::default().with_groups_names(vec![group("simple")]),
    ))
    .await
    else {
        panic!("DeleteGroups answered with another response kind");
    };
    assert_eq!(r.results[0].error_code, 0);
    assert!(broker.groups.committed_offsets("simple").is_empty());
}
